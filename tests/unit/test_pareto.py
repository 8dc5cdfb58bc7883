"""The Pareto front on constructed metrics, and which combinations compare tries."""

import pytest

from advisor.engine.evaluate import recommend

from advisor.pipeline.compare import combinations, pareto_front
from advisor.engine.rules import load_rules
from advisor.pipeline.recommend import parse_answers

RULES = load_rules()


def test_front_keeps_only_undominated_points():
    points = [
        {"size": 10, "accuracy_drop": 0.00, "latency_ms": 5},  # 0: most accurate
        {"size": 4, "accuracy_drop": 0.03, "latency_ms": 2},   # 1: smallest and fastest
        {"size": 4, "accuracy_drop": 0.04, "latency_ms": 2},   # 2: dominated by 1
        {"size": 6, "accuracy_drop": 0.01, "latency_ms": 6},   # 3: a trade-off, on the front
        {"size": 11, "accuracy_drop": 0.00, "latency_ms": 5},  # 4: dominated by 0
    ]
    front, names = pareto_front(points)
    assert front == [0, 1, 3] and names == ["size", "accuracy_drop", "latency_ms"]


def test_identical_points_are_both_on_the_front():
    front, _ = pareto_front([{"size": 1, "latency_ms": 1}, {"size": 1, "latency_ms": 1}])
    assert front == [0, 1]


def test_an_objective_nobody_measured_is_left_out():
    front, names = pareto_front([{"size": 2, "accuracy_drop": None}, {"size": 1, "accuracy_drop": None}])
    assert names == ["size"] and front == [1]


def test_failed_rows_are_never_on_the_front():
    front, _ = pareto_front([{"size": None, "accuracy_drop": None}, {"size": 3, "accuracy_drop": 0.1}])
    assert front == [1]


def test_combinations_follow_the_data_and_the_hardware():
    cpu_unlabelled = combinations(parse_answers({"data": "unlabelled", "hardware": "cpu"}), RULES, "keras")
    both = ("float16", "dynamic_range", "full_integer", "int16x8", "selective_integer")
    assert cpu_unlabelled == [(s, (), b) for s in both for b in ("converter", "quantizer")] + [("weight_only_int4", ())]
    # a .tflite has one backend: no variant
    assert combinations(parse_answers({"data": "unlabelled", "hardware": "cpu"}), RULES, "tflite") == [
        (s, ()) for s in (*both, "weight_only_int4")]
    tpu = combinations(parse_answers({"data": "labelled", "hardware": "edgetpu"}), RULES)
    assert {r[0] for r in tpu} == {"full_integer", "qat"}
    assert {r[1] for r in tpu} == {(), ("pruning",), ("clustering",), ("pruning", "clustering")}
    no_training = parse_answers({"data": "labelled", "hardware": "edgetpu", "can_fine_tune": False, "goals": {"min_sqnr_db": 40}})
    recovery = recommend(no_training, RULES).recovery  # what the tree adds for a fidelity goal on an integer-only target
    assert combinations(no_training, RULES, "keras", recovery) == [
        ("full_integer", (), "converter"), ("full_integer", (), "quantizer"),
        ("full_integer", ("equalize", "bias_correction")), ("full_integer", ("adaround",))]


def test_without_labels_compare_measures_the_accuracy_axis_by_fidelity():
    from advisor.pipeline.compare import objectives_of, quality_axis
    from advisor.models.report import Attempt, Fidelity, Metrics, OutputFidelity

    def row(change, sqnr, drop=None):
        fidelity = Fidelity(inputs="eval", outputs={"scores": OutputFidelity(sqnr_db=sqnr, top1_agreement=None if change is None else 1 - change)})
        return Attempt(scheme="full_integer", metrics=Metrics(size_bytes=100, gzip_bytes=90, accuracy_drop=drop, fidelity=fidelity))

    labelled = [row(0.1, 30, drop=0.02), row(0.0, 40, drop=0.0)]
    assert quality_axis(labelled) == "accuracy_drop"
    classes = [row(0.1, 30), row(0.0, 40)]
    assert quality_axis(classes) == "prediction_change"
    assert objectives_of(classes[0], False, "prediction_change")["prediction_change"] == pytest.approx(0.1)
    regression = [row(None, 30), row(None, 40)]
    assert quality_axis(regression) == "noise_db"
    assert [objectives_of(r, False, "noise_db")["noise_db"] for r in regression] == [-30, -40]  # lower is better
    front, names = pareto_front([objectives_of(r, False, "noise_db") for r in regression])
    assert front == [1] and "noise_db" in names
