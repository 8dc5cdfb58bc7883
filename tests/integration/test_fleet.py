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


def test_a_models_integer_only_targets_share_one_float32_baseline(dense_keras, tmp_path):
    """edgetpu and ethos-u55-128 both convert at batch 1: the baseline is made once and reused; cpu (the
    model's own batch) makes its own."""
    import advisor

    model = {"name": "dense", "model": str(dense_keras), "representative": "builtin:digits", "eval": "builtin:digits"}
    out = tmp_path / "out"
    result = advisor.fleet(str(write_fleet(tmp_path / "fleet.yaml", [model], targets=("cpu", "edgetpu", "ethos-u55-128"))),
                           out=str(out), workers=2)
    assert [p.exit_code for p in result.pairs] == [0, 0, 0]
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
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
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
