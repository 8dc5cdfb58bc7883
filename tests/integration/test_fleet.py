"""`advisor fleet` on small real models: every pair a run in its folder, a crashing model does not stop
the others, a second run over unchanged inputs redoes nothing, and Ctrl-C keeps what finished."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from tests.conftest import sigint_as_at_a_terminal

pytestmark = pytest.mark.tf


def write_fleet(path, models, targets=("cpu", "edgetpu"), **extra):
    path.write_text(yaml.safe_dump({"models": models, "data": "unlabelled", "targets": list(targets),
                                    "goals": {"max_prediction_change": 0.05}, **extra}))
    return path


def digits(name="digits", **extra):
    return {"name": name, "model": "builtin:digits", "representative": "builtin:digits", "eval": "builtin:digits", **extra}


def test_a_fleet_runs_every_pair_and_goes_on_past_a_crash(dense_keras, tmp_path, monkeypatch):
    import advisor

    (tmp_path / "crashing_layers.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the worker imports custom objects from where the caller does
    models = [digits(), {"name": "dense", "model": str(dense_keras), "representative": "builtin:digits",
                         "eval": "builtin:digits"},
              {"name": "crashing", "model": str(dense_keras), "representative": "builtin:digits", "eval": "builtin:digits",
               "custom_objects": "python:crashing_layers"}]
    out = tmp_path / "out"
    result = advisor.fleet(str(write_fleet(tmp_path / "fleet.yaml", models)), out=str(out), workers=2)
    pairs = {(p.model, p.target): p for p in result.pairs}
    assert len(pairs) == 6 and result.exit_code == 4
    assert all(pairs[(m, t)].exit_code == 0 for m in ("digits", "dense") for t in ("cpu", "edgetpu"))
    crashed = pairs[("crashing", "cpu")]
    assert crashed.exit_code == 4 and "crashed" in crashed.error
    for (model, target), pair in pairs.items():
        report = json.loads((out / model / target / "report.json").read_text())
        assert report["answers"]["hardware"] == target
    saved = json.loads((out / "fleet.json").read_text())
    assert len(saved["pairs"]) == 6 and (out / "fleet.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "fleet.md").read_text()
    assert "| dense | dynamic_range" in table and "| crashing | ERROR" in table

    started = time.perf_counter()
    again = advisor.fleet(str(tmp_path / "fleet.yaml"), out=str(out), workers=2)
    assert all(p.reused for p in again.pairs) and time.perf_counter() - started < 10
    assert [p.exit_code for p in again.pairs] == [p.exit_code for p in result.pairs]


def test_a_models_pairs_share_one_float32_baseline_per_kind_of_target_and_each_pre_step(dense_keras, tmp_path):
    """edgetpu and ethos-u55-128 both convert at batch 1: the baseline is made once and reused; cpu (the
    model's own batch) makes its own. The equalized model is made once for all three pairs."""
    import advisor
    from advisor.models.options import RunOptions

    model = {"name": "dense", "model": str(dense_keras), "representative": "builtin:digits", "eval": "builtin:digits"}
    out = tmp_path / "out"
    result = advisor.fleet(str(write_fleet(tmp_path / "fleet.yaml", [model], targets=("cpu", "edgetpu", "ethos-u55-128"),
                                           budget={"max_attempts": 1})),
                           out=str(out), workers=2, options=RunOptions(scheme="full_integer", pre_steps=["equalize"]))
    assert [p.exit_code for p in result.pairs] == [0, 0, 0]
    assert [p.scheme for p in result.pairs] == ["equalize+full_integer"] * 3
    attempts = {t: json.loads((out / "dense" / t / "report.json").read_text())["attempts"][0] for t in ("cpu", "edgetpu", "ethos-u55-128")}
    loaded = [t for t, a in attempts.items() if any("made once by another run of this model" in n for n in a["notes"])]
    assert len(loaded) == 2, {t: a["notes"] for t, a in attempts.items()}
    assert len({json.dumps(a["recovery"], sort_keys=True) for a in attempts.values()}) == 1  # the maker's findings, carried
    assert not (out / ".pre-steps").exists()
    shared = {t: any("made once for this model's pairs" in n for n in json.loads((out / "dense" / t / "report.json").read_text())["notes"])
              for t in ("cpu", "edgetpu", "ethos-u55-128")}
    assert shared["cpu"] is False and sorted([shared["edgetpu"], shared["ethos-u55-128"]]) == [False, True]
    assert (out / "dense" / "edgetpu" / "attempts" / "float32.tflite").read_bytes() == \
        (out / "dense" / "ethos-u55-128" / "attempts" / "float32.tflite").read_bytes()


def test_ctrl_c_keeps_the_finished_pairs_and_leaves_nothing_half_written(tmp_path):
    fleet_path = write_fleet(tmp_path / "fleet.yaml", [digits("a"), digits("b"), digits("c")])
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-m", "advisor", "fleet", str(fleet_path), "--out", str(out), "--workers", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               preexec_fn=sigint_as_at_a_terminal)
    deadline = time.time() + 240
    while not list(out.glob("*/*/report.json")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # into the next pair
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 130
    saved = json.loads((out / "fleet.json").read_text())
    assert saved["interrupted"] and 1 <= len(saved["pairs"]) < 6
    for pair in saved["pairs"]:
        assert (out / pair["out"] / "report.json").is_file()
    folders = {f"{p.parent.name}/{p.name}" for p in out.glob("*/*") if p.is_dir()}
    assert folders == {pair["out"] for pair in saved["pairs"]}
    assert not [p for p in out.rglob("*") if "advisor-partial" in p.name or p.name.endswith(".partial")]


def test_a_pre_stepped_model_is_made_once_and_one_that_cannot_be_saved_is_made_per_run(tf, tmp_path):
    import numpy as np
    import tf_keras

    from advisor.errors import SchemeFailed
    from advisor.executor.pre_step_store import PreStepStore
    from advisor.models.report import StepFindings

    made = []

    def make(model):
        def step():
            made.append(model)
            return model, StepFindings(target_sparsity=0.5)
        return step

    sequential = tf_keras.Sequential([tf_keras.layers.Input((4,)), tf_keras.layers.Dense(3)])
    store = PreStepStore(str(tmp_path / "store"), "k")
    first = store.fetch_or_make(("a:b",), make(sequential), None)
    again = store.fetch_or_make(("a:b",), make(sequential), None)
    assert (first.reused, again.reused, len(made)) == (False, True, 1)
    assert again.findings.target_sparsity == 0.5
    assert all(np.array_equal(x, y) for x, y in zip(sequential.get_weights(), again.model.get_weights()))

    class Subclassed(tf_keras.Model):  # no config: h5 cannot hold it
        def __init__(self):
            super().__init__()
            self.dense = tf_keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 4), "float32"))
    one = store.fetch_or_make(("a:c",), make(subclassed), None)
    two = store.fetch_or_make(("a:c",), make(subclassed), None)
    assert not one.reused and not two.reused and len(made) == 3
    assert "could not be shared" in one.note and one.model is subclassed
    assert not [p for p in (tmp_path / "store").iterdir() if "partial" in p.name]

    def declines():
        made.append("declined")
        raise SchemeFailed("equalize declined: nothing to pair")

    for _ in range(2):  # the second run gets the first one's reason without making it again
        with pytest.raises(SchemeFailed, match="nothing to pair"):
            store.fetch_or_make(("a:d",), declines, None)
    assert made.count("declined") == 1
