"""Verdicts from constructed metrics: pass, fail, and not_measured (never a silent pass)."""

from advisor.models.answers import Goals
from advisor.models.report import HardwareReport, Metrics, Problem
from advisor.validator.verdicts import passed, verdicts


def metrics(**values):
    base = dict(size_bytes=2_000_000, gzip_bytes=1_500_000, size_reduction=0.74, accuracy=0.95, baseline_accuracy=0.96,
                accuracy_drop=0.01, latency_ms=3.0)
    return Metrics(**{**base, **values})


def by_goal(result):
    return {v.goal: v for v in result}


def test_each_goal_gets_one_verdict():
    goals = Goals(min_size_reduction=0.7, max_size_mb=2.5, max_accuracy_drop=0.02, max_latency_ms=5)
    result = by_goal(verdicts(goals, metrics(), latency_answers_goal=True, hardware="cpu"))
    assert {g: v.status for g, v in result.items()} == {
        "min_size_reduction": "pass", "max_size_mb": "pass", "max_accuracy_drop": "pass", "max_latency_ms": "pass"}
    assert result["max_size_mb"].measured == 2.0


def test_failing_goals_fail_with_the_measured_value():
    goals = Goals(min_size_reduction=0.75, max_accuracy_drop=0.005, max_latency_ms=2)
    result = by_goal(verdicts(goals, metrics(), latency_answers_goal=True, hardware="cpu"))
    assert result["min_size_reduction"].status == "fail" and result["min_size_reduction"].measured == 0.74
    assert result["max_accuracy_drop"].status == "fail"
    assert result["max_latency_ms"].status == "fail"
    assert not passed(list(result.values()), None)


def test_the_size_limit_uses_the_gzip_size_for_a_compressed_download():
    goals = Goals(max_size_mb=1.6, compressed_download=True)
    (v,) = verdicts(goals, metrics(), latency_answers_goal=True, hardware="cpu")
    assert v.status == "pass" and v.measured == 1.5


def test_latency_on_another_target_is_not_measured_not_passed():
    goals = Goals(max_latency_ms=100)
    (v,) = verdicts(goals, metrics(), latency_answers_goal=False, hardware="edgetpu")
    assert v.status == "not_measured" and "edgetpu" in v.reason
    assert passed([v], None)  # unverified is not failed ...
    assert v.status != "pass"  # ... and never shown as a pass


def test_accuracy_without_eval_data_is_not_measured():
    (v,) = verdicts(Goals(max_accuracy_drop=0.01), metrics(accuracy=None, accuracy_drop=None),
                    latency_answers_goal=True, hardware="cpu")
    assert v.status == "not_measured" and "inputs.eval" in v.reason


def test_a_hardware_problem_fails_the_attempt_even_when_goals_pass():
    hardware = HardwareReport(hardware="edgetpu", compatible=False, problems=[Problem(op="CONV_2D", index=0, reason="x")])
    assert not passed([], hardware)
    assert passed([], HardwareReport(hardware="edgetpu", compatible=True))
