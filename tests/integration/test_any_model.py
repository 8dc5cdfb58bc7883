"""Models that are not single-output digit classifiers, with the data users have: several inputs and
outputs, integer inputs, binary and regression heads, ops without int8 kernels, no labels at all,
and a metric of the user's own."""

import json

import numpy as np
import pytest

from advisor.pipeline.recommend import parse_answers
from advisor.engine.rules import load_rules
from advisor.models.options import RunOptions
from advisor.pipeline.run import run
from tests.integration.conftest import save_npz

RULES = load_rules()
QUICK = RunOptions(latency_runs=3, epochs=1)


def keras():
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    return tf_keras


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("any")


@pytest.fixture(scope="module")
def two_in_three_out(tf, digits, folder):
    """An image and three token ids in; digit scores, one regression value and a 4-value head out."""
    k = keras()
    image = k.Input((8, 8, 1), name="image")
    ids = k.Input((3,), dtype="int32", name="ids")
    tokens = k.layers.Flatten()(k.layers.Embedding(20, 4)(ids))
    hidden = k.layers.Dense(64, activation="relu")(k.layers.Concatenate()([k.layers.Flatten()(image), tokens]))
    digit = k.layers.Dense(10, activation="softmax", name="digit")(hidden)
    size = k.layers.Dense(1, name="size")(hidden)
    box = k.layers.Dense(4, name="box")(hidden)
    model = k.Model([image, ids], [digit, size, box])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse", "mse"])
    x = digits["train"].x
    tokens_in = np.random.default_rng(0).integers(0, 20, (len(x), 3)).astype(np.int32)
    model.fit([x, tokens_in], [digits["train"].y, np.zeros((len(x), 1)), np.zeros((len(x), 4))], epochs=3, verbose=0)
    path = folder / "two_in_three_out.keras"
    model.save(path)
    rng = np.random.default_rng(1)
    ev = digits["eval"].x
    return {
        "model": path,
        "calib": save_npz(folder / "multi_calib.npz", image=digits["representative"].x, ids=rng.integers(0, 20, (500, 3))),
        "eval": save_npz(folder / "multi_eval.npz", image=ev, ids=rng.integers(0, 20, (len(ev), 3))),
        "eval_labelled": save_npz(folder / "multi_eval_y.npz", image=ev, ids=rng.integers(0, 20, (len(ev), 3)), y=digits["eval"].y),
        "only_image": save_npz(folder / "only_image.npz", image=ev),
        "extra": save_npz(folder / "extra.npz", image=ev, ids=rng.integers(0, 20, (len(ev), 3)), mask=np.ones((len(ev), 1))),
    }


def multi_answers(files, **fields):
    inputs = {"model": str(files["model"]), "representative": str(files["calib"]), **fields.pop("inputs", {})}
    return parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": inputs, **fields})


def test_unlabelled_data_gives_measured_fidelity_verdicts_for_every_output(two_in_three_out, tmp_path):
    answers = multi_answers(two_in_three_out, inputs={"eval": str(two_in_three_out["eval"])},
                            goals={"min_sqnr_db": 10, "max_prediction_change": 0.2})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    assert report.attempts and all(a.metrics is not None for a in report.attempts)
    for attempt in report.attempts:
        fidelity = attempt.metrics.fidelity
        assert set(fidelity.outputs) == {"digit", "size", "box"} and not fidelity.calibration_data
        assert fidelity.outputs["digit"].top1_agreement is not None and fidelity.outputs["size"].top1_agreement is None
        assert {v.goal: v.status for v in attempt.verdicts}.keys() == {"min_sqnr_db", "max_prediction_change"}
        assert all(v.status in ("pass", "fail") for v in attempt.verdicts)
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    outputs = saved["attempts"][0]["metrics"]["fidelity"]["outputs"]
    assert set(outputs["box"]) >= {"kind", "sqnr_db", "cosine", "max_abs_error", "relative_error", "top1_agreement"}
    assert outputs["box"]["kind"] == "values" and outputs["box"]["top1_agreement"] is None  # a box has no class to change
    assert "fidelity against float32 on inputs.eval" in (tmp_path / "out" / "report.md").read_text()


def test_without_eval_data_fidelity_is_measured_on_the_calibration_data_and_says_so(two_in_three_out, tmp_path):
    answers = multi_answers(two_in_three_out, goals={"max_prediction_change": 0.5})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    fidelity = report.attempts[0].metrics.fidelity
    assert fidelity.calibration_data and "the calibration data itself" in fidelity.inputs
    assert report.attempts[0].verdicts[0].status in ("pass", "fail")


def test_labels_for_one_output_of_several(two_in_three_out, tmp_path):
    answers = multi_answers(two_in_three_out, inputs={"eval": str(two_in_three_out["eval_labelled"])},
                            task={"output": "digit"}, goals={"max_accuracy_drop": 0.05})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    base = report.baseline.metrics
    assert base.accuracy_metric == "top-1 accuracy" and base.accuracy > 0.5
    assert report.attempts[0].metrics.accuracy_drop is not None


@pytest.mark.parametrize("name, message", [
    ("only_image", "no array for input 'ids'; the model's inputs are 'image', 'ids'"),
    ("extra", "unexpected array 'mask'; the model's inputs are 'image', 'ids'"),
])
def test_npz_missing_or_extra_arrays_are_one_line_exit_2(two_in_three_out, tmp_path, write_yaml, name, message, cli):
    answers = write_yaml(f"data: unlabelled\nhardware: cpu\ninputs: {{model: {two_in_three_out['model']}, "
                         f"representative: {two_in_three_out[name]}}}\n")
    result = cli("run", "--answers", str(answers), "--out", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(two_in_three_out[name]) in lines[0]
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def binary_model(tf, digits, folder):
    k = keras()
    model = k.Sequential([k.Input((8, 8, 1)), k.layers.Flatten(), k.layers.Dense(32, activation="relu"),
                          k.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(digits["train"].x, (digits["train"].y >= 5).astype(np.float32), epochs=5, verbose=0)
    model.save(folder / "binary.keras")
    return folder / "binary.keras"


def test_a_binary_sigmoid_classifier_is_scored_by_binary_accuracy(binary_model, digits, folder, tmp_path):
    evaluation = save_npz(folder / "binary_eval.npz", x=digits["eval"].x, y=(digits["eval"].y >= 5).astype(np.int64))
    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu",
                             "inputs": {"model": str(binary_model), "representative": "builtin:digits", "eval": str(evaluation)}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    assert report.baseline.metrics.accuracy_metric == "binary accuracy" and report.baseline.metrics.accuracy > 0.8
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and attempt.metrics.accuracy > 0.75


def test_a_regressor_scored_by_mae_bounds_the_rise_of_the_error(tf, digits, folder, tmp_path):
    k = keras()
    model = k.Sequential([k.Input((8, 8, 1)), k.layers.Flatten(), k.layers.Dense(32, activation="relu"), k.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(digits["train"].x, digits["train"].y / 9.0, epochs=10, verbose=0)
    model.save(folder / "regressor.keras")
    evaluation = save_npz(folder / "reg_eval.npz", x=digits["eval"].x, y=(digits["eval"].y / 9.0).astype(np.float32))
    answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "task": {"metric": "mae"},
                             "goals": {"max_accuracy_drop": 0.05},
                             "inputs": {"model": str(folder / "regressor.keras"), "representative": "builtin:digits",
                                        "eval": str(evaluation)}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    base = report.baseline.metrics
    assert base.accuracy_metric == "mean absolute error" and 0 < base.accuracy < 0.3
    m = report.attempts[0].metrics
    assert m.accuracy_drop == pytest.approx(m.accuracy - base.accuracy, abs=1e-6)  # the rise of the error
    assert report.attempts[0].verdicts[0].goal == "max_accuracy_drop" and report.attempts[0].verdicts[0].status == "pass"


def test_an_int32_token_model_calibrates_and_measures(tf, folder, tmp_path):
    k = keras()
    model = k.Sequential([k.Input((6,), dtype="int32", name="tokens"), k.layers.Embedding(50, 8), k.layers.Flatten(),
                          k.layers.Dense(10, activation="softmax")])
    model.save(folder / "tokens.keras")
    tokens = np.random.default_rng(0).integers(0, 50, (200, 6))
    calib = save_npz(folder / "tokens.npz", tokens=tokens)
    answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "goals": {"min_sqnr_db": 5},
                             "inputs": {"model": str(folder / "tokens.keras"), "representative": str(calib)}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=3, scheme="full_integer"))
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and attempt.error is None
    assert attempt.metrics.fidelity.outputs and attempt.metrics.latency_ms is not None
    assert attempt.verdicts[0].status in ("pass", "fail")
    from advisor.reading.tflite import read_graph

    assert read_graph((tmp_path / "out" / attempt.artifact).read_bytes()).inputs[0].dtype == "int32"


@pytest.fixture(scope="module")
def neg_square(tf, folder):
    """NEG and SQUARE have no int8 kernel in LiteRT; the RESHAPE between them has one."""
    k = keras()
    inputs = k.Input((16,), name="features")
    hidden = k.layers.Lambda(lambda t: -t)(k.layers.Dense(32, activation="relu")(inputs))
    # no closure over a module: the layer is saved as bytecode in the .h5
    hidden = k.layers.Lambda(lambda t: __import__("tensorflow").math.square(t))(k.layers.Reshape((4, 8))(hidden))
    hidden = k.layers.Lambda(lambda t: -t)(k.layers.Reshape((32,))(hidden))
    model = k.Model(inputs, k.layers.Dense(10, activation="softmax")(hidden))
    model.save(folder / "neg_square.h5")
    calib = save_npz(folder / "features.npz", x=np.random.default_rng(0).random((100, 16), dtype=np.float32))
    return folder / "neg_square.h5", calib


def test_full_integer_on_a_cpu_gives_a_mixed_model_naming_the_ops_without_int8_kernels(neg_square, tmp_path):
    model, calib = neg_square
    answers = parse_answers({"data": "unlabelled", "hardware": "cpu",
                             "inputs": {"model": str(model), "representative": str(calib)}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=3, scheme="full_integer"))
    attempt = report.attempts[0]
    assert attempt.error is None and attempt.passed and attempt.hardware.compatible
    assert attempt.hardware.root_causes == ["NEG x2", "SQUARE"]
    note = next(n for n in attempt.hardware.notes if n.startswith("mixed precision"))
    assert "no int8 kernel: NEG x2, SQUARE" in note and "RESHAPE" not in note.split("kept float")[0]


def test_full_integer_on_the_edgetpu_is_incompatible_naming_the_same_ops(neg_square, tmp_path):
    model, calib = neg_square
    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu",
                             "inputs": {"model": str(model), "representative": str(calib)}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=0))
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and not attempt.passed and not attempt.hardware.compatible
    reasons = {p.op: p.reason for p in attempt.hardware.problems}
    assert "NEG has no int8 kernel in LiteRT" in reasons["NEG"] and "SQUARE has no int8 kernel" in reasons["SQUARE"]
    assert attempt.hardware.root_causes == ["NEG x2", "SQUARE"]


METRIC_MODULE = '''
import numpy as np

def agreement_with_labels(outputs, y):
    return float((outputs["digit"].argmax(axis=1) == y).mean())

def boom(outputs, y):
    raise ValueError("the labels are not what I expected")
'''


@pytest.fixture(scope="module")
def metric_module(folder):
    (folder / "my_metrics.py").write_text(METRIC_MODULE)
    return folder


def test_a_python_metric_scores_the_outputs_by_name(two_in_three_out, metric_module, monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(metric_module))
    answers = multi_answers(two_in_three_out, inputs={"eval": str(two_in_three_out["eval_labelled"])},
                            task={"metric": "python:my_metrics:agreement_with_labels"})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK)
    assert report.baseline.metrics.accuracy_metric == "python:my_metrics:agreement_with_labels"
    assert report.baseline.metrics.accuracy > 0.5 and report.attempts[0].metrics.accuracy is not None


def test_the_library_takes_a_metric_function(two_in_three_out, tmp_path):
    answers = multi_answers(two_in_three_out, inputs={"eval": str(two_in_three_out["eval_labelled"])})

    def box_spread(outputs, y):
        return float(outputs["box"].std())

    report = run(answers, rules=RULES, out=tmp_path / "out", options=QUICK, metric=box_spread)
    assert report.baseline.metrics.accuracy_metric == "box_spread" and report.baseline.metrics.accuracy > 0


@pytest.mark.parametrize("task, message", [
    ("{metric: 'python:no_such_module:f'}", "task.metric: cannot import module 'no_such_module'"),
    ("{metric: 'python:my_metrics:boom'}", "task.metric: python:my_metrics:boom raised ValueError: the labels are not what I expected"),
    ("{metric: 'python:my_metrics:agreement_with_labels', output: nope}",
     "task.output: the model has no output 'nope'; its outputs are 'digit', 'size', 'box'"),
    ("{metric: top7}", "task.metric: 'top7' is not a metric (did you mean top5?)"),
])
def test_bad_metrics_are_one_line_exit_2_and_nothing_written(two_in_three_out, metric_module, tmp_path, write_yaml, task, message,
                                                               cli):
    files = two_in_three_out
    answers = write_yaml(f"data: unlabelled\nhardware: cpu\ntask: {task}\n"
                         f"inputs: {{model: {files['model']}, representative: {files['calib']}, eval: {files['eval_labelled']}}}\n")
    result = cli("run", "--answers", str(answers), "--out", str(tmp_path / "o"), env={"PYTHONPATH": str(metric_module)})
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_strict_fails_a_goal_that_cannot_be_measured(neg_square, tmp_path, write_yaml, cli):
    """Without eval data and labels, max_accuracy_drop cannot be measured: exit 0 says so, --strict exits 4."""
    model, calib = neg_square
    answers = write_yaml(f"data: unlabelled\nhardware: cpu\ngoals: {{max_accuracy_drop: 0.01}}\n"
                         f"inputs: {{model: {model}, representative: {calib}}}\n")
    lenient = cli("run", "--answers", str(answers), "--out", str(tmp_path / "a"), env={"COLUMNS": "250"})
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "goal(s) unverified: max_accuracy_drop" in " ".join(lenient.stdout.split())
    assert "**Unverified:** max_accuracy_drop" in (tmp_path / "a" / "report.md").read_text()
    strict = cli("run", "--answers", str(answers), "--out", str(tmp_path / "b"), "--strict", env={"COLUMNS": "250"})
    assert strict.returncode == 4, strict.stderr[-2000:]
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["chosen"] is None
    assert all(v["status"] == "not_measured" for a in report["attempts"] for v in a["verdicts"])
