"""`advisor run` end to end: the ladder, the output folder, the report, bad data and interruption."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from advisor.engine.rules import load_rules
from advisor.errors import AnswersError, BadInput, DataError, Infeasible
from advisor.pipeline.recommend import parse_answers
from advisor.models.options import RunOptions
from advisor.pipeline.run import run
from tests.conftest import ROOT, sigint_as_at_a_terminal
from tests.integration.conftest import save_npz

RULES = load_rules()


@pytest.fixture(scope="module")
def data_files(digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    return {
        "train": save_npz(folder / "train.npz", x=digits["train"].x, y=digits["train"].y),
        "eval": save_npz(folder / "eval.npz", x=digits["eval"].x, y=digits["eval"].y),
        "representative": save_npz(folder / "calib.npz", x=digits["representative"].x),
    }


@pytest.fixture(scope="module")
def many_small_layers(tf, digits, tmp_path_factory):
    """Every weight tensor under 1,024 elements: dynamic range leaves them float, full integer does not."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    layers = [keras.layers.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(15, activation="relu")]
    layers += [keras.layers.Dense(30, activation="relu") for _ in range(40)]
    model = keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])
    path = tmp_path_factory.mktemp("small") / "small_layers.keras"
    model.save(path)
    return path


def answers(model, files=None, **fields):
    inputs = {"model": str(model), **{k: str(v) for k, v in (files or {}).items()}}
    return parse_answers({"inputs": inputs, **fields})


def test_the_ladder_climbs_past_a_rung_that_misses_the_size_goal(many_small_layers, data_files, tmp_path):
    a = answers(many_small_layers, {"representative": data_files["representative"], "eval": data_files["eval"]},
                data="unlabelled", hardware="cpu", goals={"min_size_reduction": 0.45})
    # the size model already knows dynamic range leaves these small kernels float: forced first, it fails
    from advisor.pipeline.recommend import recommend

    rec = recommend(a, rules=RULES)
    assert rec.scheme == "full_integer"
    assert any(r.rule == "size-goal" and r.because.startswith("dynamic_range is not predicted to reduce") for r in rec.rationale)
    report = run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=5, scheme="dynamic_range"))
    assert [x.scheme for x in report.attempts] == ["dynamic_range", "full_integer"]
    first, second = report.attempts
    assert not first.passed and [v.status for v in first.verdicts] == ["fail"]
    assert second.passed and report.chosen == 1
    out = tmp_path / "out"
    assert (out / "model.tflite").read_bytes() == (out / second.artifact).read_bytes()
    assert sorted(p.name for p in (out / "attempts").iterdir()) == ["dynamic_range.tflite", "float32.tflite", "full_integer.tflite"]
    saved = json.loads((out / "report.json").read_text())
    assert set(saved) >= {"recommendation", "baseline", "attempts", "chosen"}
    attempt = saved["attempts"][1]
    assert set(attempt) >= {"scheme", "pre_steps", "artifact", "metrics", "hardware", "verdicts", "passed"}
    assert set(attempt["metrics"]) >= {"size_bytes", "gzip_bytes", "size_reduction", "accuracy", "baseline_accuracy",
                                       "accuracy_drop", "latency_ms"}
    assert set(attempt["hardware"]) >= {"compatible", "problems"}
    assert "| * | full_integer |" in (out / "report.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left beside it


def test_the_engine_judges_max_size_mb_against_the_weights_in_the_file(dense_keras, loaded_dense):
    from advisor.reading import read_model

    weights = sum(w.size for w in loaded_dense.keras.get_weights())
    assert read_model(dense_keras).parameters == weights


def test_no_rung_passing_writes_no_model_and_says_which_goal_failed(many_small_layers, data_files, tmp_path):
    a = answers(many_small_layers, {"representative": data_files["representative"], "eval": data_files["eval"]},
                data="unlabelled", hardware="edgetpu", goals={"min_size_reduction": 0.7, "max_latency_ms": 1000})
    with pytest.raises(Infeasible):  # the size model knows: 70% is out of reach of these small layers
        run(a, rules=RULES, out=tmp_path / "refused", options=RunOptions(latency_runs=5))
    assert not (tmp_path / "refused").exists()
    report = run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=5, scheme="full_integer"))
    assert report.chosen is None and not (tmp_path / "out" / "model.tflite").exists()
    assert [v.goal for a in report.attempts for v in a.verdicts if v.status == "fail"] == ["min_size_reduction"]
    latency = next(v for v in report.attempts[0].verdicts if v.goal == "max_latency_ms")
    assert latency.status == "not_measured" and "edgetpu" in latency.reason


def test_forced_scheme_and_pre_steps_come_first_and_the_ladder_continues(dense_keras, data_files, tmp_path):
    a = answers(dense_keras, data_files, data="labelled", hardware="cpu", goals={"min_size_reduction": 0.6})
    report = run(a, rules=RULES, out=tmp_path / "out",
                 options=RunOptions(epochs=2, learning_rate=1e-3, latency_runs=5, scheme="float16", pre_steps=["pruning"]))
    first, second = report.attempts[:2]
    assert first.scheme == "float16" and first.pre_steps == ["pruning"]
    assert abs(first.metrics.sparsity - 0.5) <= 0.02  # read from the delivered file
    # float16 removes at most half: the 60% goal fails it, so the ladder must go on, with the same pre-steps
    assert [v.status for v in first.verdicts if v.goal == "min_size_reduction"] == ["fail"] and not first.passed
    assert second.scheme != "float16" and second.pre_steps == ["pruning"]


def test_the_input_model_is_never_modified_and_nothing_is_written_outside_out(dense_keras, data_files, tmp_path):
    before = hashlib.sha256(dense_keras.read_bytes()).hexdigest()
    listing = sorted(os.listdir(dense_keras.parent))
    a = answers(dense_keras, data_files, data="labelled", hardware="edgetpu", goals={"max_accuracy_drop": 0.001})
    run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(epochs=1, latency_runs=5))
    assert hashlib.sha256(dense_keras.read_bytes()).hexdigest() == before
    assert sorted(os.listdir(dense_keras.parent)) == listing
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_existing_output_folder_is_refused_without_force(dense_keras, data_files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    a = answers(dense_keras, data_files, data="unlabelled", hardware="cpu")
    with pytest.raises(BadInput, match="use --force"):
        run(a, rules=RULES, out=out)
    assert (out / "keep.txt").read_text() == "mine"
    run(a, rules=RULES, out=out, force=True, options=RunOptions(latency_runs=5))
    assert not (out / "keep.txt").exists() and (out / "report.json").exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: {"x": np.full((4, 8, 8, 1), np.nan, np.float32), "y": np.zeros(4, np.int64)}, "NaN"),
        (lambda d: {"x": np.zeros((0, 8, 8, 1), np.float32), "y": np.zeros(0, np.int64)}, "array 'x' is empty"),
        (lambda d: {"x": d["eval"].x, "y": d["eval"].y[:-3]}, "the inputs have 360 samples but y has 357"),
        (lambda d: {"y": d["eval"].y}, "holds no input arrays (it has: y)"),
    ],
)
def test_bad_data_files_are_bad_input_naming_the_file(dense_keras, digits, tmp_path, make, message):
    path = save_npz(tmp_path / "bad.npz", **make(digits))
    a = answers(dense_keras, {"eval": path}, data="none", hardware="cpu")
    with pytest.raises(DataError) as err:
        run(a, rules=RULES, out=tmp_path / "out")
    assert str(path) in str(err.value) and message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_data_of_the_wrong_shape_is_bad_input_before_any_conversion(dense_keras, tmp_path):
    path = save_npz(tmp_path / "calib.npz", x=np.zeros((10, 28, 28, 1), np.float32))
    a = answers(dense_keras, {"representative": path}, data="unlabelled", hardware="edgetpu")
    with pytest.raises(DataError, match=r"shape \(10, 28, 28, 1\), the model's input '\w+' needs \(N, 8, 8, 1\)"):
        run(a, rules=RULES, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_labelled_answers_without_train_data_are_bad_input_for_qat(dense_keras, data_files, tmp_path):
    a = answers(dense_keras, {"representative": data_files["representative"]}, data="labelled", hardware="edgetpu",
                goals={"max_accuracy_drop": 0.005})
    with pytest.raises(AnswersError, match="inputs.train: qat fine-tunes"):
        run(a, rules=RULES, out=tmp_path / "out")


def test_a_small_representative_sample_is_used_and_noted(dense_keras, digits, tmp_path):
    path = save_npz(tmp_path / "few.npz", x=digits["representative"].x[:40])
    a = answers(dense_keras, {"representative": path}, data="unlabelled", hardware="edgetpu")
    report = run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=5))
    assert any("has 40 inputs; the guide advises 100-500" in n for n in report.notes)


def test_cli_run_builtin_demo_answers_exit_0(tmp_path, cli):
    result = cli("run", "--answers", str(ROOT / "examples" / "demo.yaml"), "--out", str(tmp_path / "o"),
                 env={"ADVISOR_CACHE_DIR": os.environ["ADVISOR_CACHE_DIR"], "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr + result.stdout
    assert "wrote" in result.stdout and (tmp_path / "o" / "model.tflite").exists()
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["attempts"][report["chosen"]]["hardware"]["compatible"] is True


def test_cli_run_ctrl_c_during_fine_tuning_exits_130_and_leaves_nothing(tmp_path, write_yaml):
    answers_file = write_yaml(
        "data: labelled\nhardware: edgetpu\ngoals: {max_accuracy_drop: 0.001}\n"
        "inputs: {model: builtin:digits, train: builtin:digits, eval: builtin:digits}\n"
    )
    out = tmp_path / "o"
    process = subprocess.Popen(
        [sys.executable, "-m", "advisor", "run", "--answers", str(answers_file), "--out", str(out), "--epochs", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=sigint_as_at_a_terminal,
        env={**os.environ, "COLUMNS": "120"},
    )
    interrupt_during_fine_tuning(process, out)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() and list(tmp_path.glob(".*")) == []


def interrupt_during_fine_tuning(process, out):
    """SIGINT once the run is staging its output and fine-tuning (the baseline is written first)."""
    deadline = time.time() + 240
    staged = []
    while time.time() < deadline and not staged and process.poll() is None:
        staged = list(out.parent.glob(f".{out.name}.advisor-partial-*/attempts/float32.tflite"))
        time.sleep(0.2)
    assert staged, "the run never started staging its output"
    time.sleep(3)  # QAT's 200 epochs take minutes: the run is fine-tuning now
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)


def test_cli_ctrl_c_over_an_existing_folder_with_force_leaves_it_as_it_was(tmp_path, write_yaml):
    answers_file = write_yaml(
        "data: labelled\nhardware: edgetpu\ngoals: {max_accuracy_drop: 0.001}\n"
        "inputs: {model: builtin:digits, train: builtin:digits, eval: builtin:digits}\n"
    )
    out = tmp_path / "o"
    (out / "attempts").mkdir(parents=True)
    (out / "report.json").write_text("{}")
    (out / "attempts" / "old.tflite").write_bytes(b"old")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    process = subprocess.Popen(
        [sys.executable, "-m", "advisor", "run", "--answers", str(answers_file), "--out", str(out), "--force", "--epochs", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, preexec_fn=sigint_as_at_a_terminal, env={**os.environ, "COLUMNS": "120"},
    )
    interrupt_during_fine_tuning(process, out)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert (out / "attempts" / "old.tflite").read_bytes() == b"old"


def test_a_run_that_fails_leaves_an_existing_output_folder_intact(dense_keras, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(b"the model of an earlier run")
    path = save_npz(tmp_path / "calib.npz", x=np.zeros((10, 28, 28, 1), np.float32))
    a = answers(dense_keras, {"representative": path}, data="unlabelled", hardware="edgetpu")
    with pytest.raises(DataError):
        run(a, rules=RULES, out=out, force=True)  # fails after the folder is staged: the model is loaded first
    assert sorted(os.listdir(out)) == ["model.tflite"]
    assert (out / "model.tflite").read_bytes() == b"the model of an earlier run"


def test_cli_budget_of_one_attempt_stops_the_ladder_and_exits_4(many_small_layers, data_files, tmp_path, write_yaml, cli):
    """dynamic_range forced first fails the size goal; without a budget the ladder goes on to full_integer,
    which passes (first test of this file)."""
    answers_file = write_yaml(
        "data: unlabelled\nhardware: cpu\ngoals: {min_size_reduction: 0.45}\n"
        f"inputs: {{model: {many_small_layers}, representative: {data_files['representative']}}}\n"
    )
    out = tmp_path / "o"
    result = cli("run", "--answers", str(answers_file), "--out", str(out), "--max-attempts", "1",
                     "--scheme", "dynamic_range", env={"COLUMNS": "200"})
    assert result.returncode == 4, result.stderr[-2000:]
    assert "stopped by the budget: the budget of 1 attempt(s) was used up; not tried: full_integer" in " ".join(result.stdout.split())
    report = json.loads((out / "report.json").read_text())
    assert [a["scheme"] for a in report["attempts"]] == ["dynamic_range"] and report["chosen"] is None
    assert report["stopped_by_budget"] == "the budget of 1 attempt(s) was used up" and report["untried"][0] == "full_integer"
    assert "**The search was stopped by its budget**" in (out / "report.md").read_text()
    assert not (out / "model.tflite").exists()


def test_the_answers_budget_bounds_minutes_too(many_small_layers, data_files, tmp_path):
    a = answers(many_small_layers, {"representative": data_files["representative"]}, data="unlabelled", hardware="cpu",
                goals={"min_size_reduction": 0.45}, budget={"max_minutes": 1e-6})
    report = run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=0, scheme="dynamic_range"))
    assert len(report.attempts) == 1 and "minute(s) ran out after 1 attempt(s)" in report.stopped_by_budget


@pytest.mark.parametrize("flag, value, message", [("--max-attempts", "0", "--max-attempts: must be at least 1"),
                                                  ("--max-minutes", "-1", "--max-minutes: must be greater than 0")])
def test_cli_bad_budget_flags_are_one_line_exit_2(write_yaml, tmp_path, flag, value, message, cli):
    answers_file = write_yaml("data: none\nhardware: cpu\ninputs: {model: builtin:digits}\n")
    result = cli("run", "--answers", str(answers_file), "--out", str(tmp_path / "o"), flag, value)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_cli_demo_replaces_an_earlier_demo_but_no_other_folder(tmp_path, cli):
    env = {"ADVISOR_CACHE_DIR": os.environ["ADVISOR_CACHE_DIR"], "COLUMNS": "160"}
    first = cli("demo", "--out", "d", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (tmp_path / "d" / "model.tflite").is_file() and (tmp_path / "d" / "report.json").is_file()
    again = cli("demo", "--out", "d", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("mine")
    refused = cli("demo", "--out", "mine", cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "not an earlier demo's output" in refused.stderr
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "mine"


def test_piped_output_breaks_no_identifier_across_lines(tmp_path):
    """Through a pipe rich would assume 80 columns and fold 'full_integer' into 'full_integ / er'."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    result = subprocess.run([sys.executable, "-m", "advisor", "run", "--answers", str(ROOT / "examples" / "demo.yaml"),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    from advisor.report.run_report import COLUMNS

    headers = [[c.strip() for c in line.split("┃")[1:-1]] for line in result.stdout.splitlines() if line.startswith("┃")]
    assert headers == [COLUMNS]  # one header line: no column name folded onto a second line
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.stdout.splitlines() if " MB │" in line]
    assert [row[1] for row in rows] == ["float32", "full_integer"]  # one line per row, identifiers whole
    rule_lines = [line for line in result.stdout.splitlines() if "integer-only-" in line]
    assert any("integer-only-post-training-first" in line for line in rule_lines)
    assert "│ *    │ full_integer │" in result.stdout
