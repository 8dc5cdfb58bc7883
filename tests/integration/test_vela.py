"""The Ethos-U targets through Arm's Vela compiler: placement, memory and estimated time, and the
RAM and latency goals judged on them."""

import json

import pytest

from advisor.pipeline.recommend import parse_answers
from advisor.engine.rules import load_rules
from advisor.models.options import RunOptions
from advisor.pipeline.run import run
from advisor.validator import vela
from advisor.validator.hardware import check_model

RULES = load_rules()


@pytest.fixture(scope="module")
def int8(loaded_dense, digits, tmp_path_factory):
    from tests.integration.conftest import producer

    folder = tmp_path_factory.mktemp("vela")
    content = producer(loaded_dense, folder, integer_only=True, representative=digits["representative"].x[:100]).produce("full_integer").content
    float32 = producer(loaded_dense, folder).produce("float32").content
    return content, float32


def test_vela_is_installed_by_the_project():
    assert vela.available(), "make installs ethos-u-vela (the npu extra)"


def test_a_tiny_int8_model_compiles_and_its_figures_are_read(int8):
    report = check_model(int8[0], "ethos-u55-128", RULES)
    assert report.compatible, report.problems
    assert report.npu_ops > 0 and report.cpu_ops == 0
    assert report.sram_bytes > 0 and report.flash_bytes > 100_000  # the ~100k int8 weights stream from flash
    assert 0 < report.estimated_ms < 10 and report.cycles > 0 and report.clock_hz == 500e6
    assert report.compiled[4:8] == b"TFL3"
    assert "estimated by Vela for ethos-u55-128, Ethos_U55_High_End_Embedded at 500 MHz" == report.estimated_by


def test_a_float32_model_is_incompatible_with_vela_s_reason(int8):
    report = check_model(int8[1], "ethos-u55-128", RULES)
    assert not report.compatible and report.npu_ops == 0
    assert any("Vela places it on the CPU" in p.reason and "Float32" in p.reason for p in report.problems)


def test_an_op_vela_places_on_the_cpu_is_listed(tf, digits, tmp_path):
    import tf_keras as keras

    from advisor.executor.loading import LoadedModel
    from tests.integration.conftest import producer

    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(16),
                              keras.layers.Lambda(lambda t: tf.math.square(t)), keras.layers.Dense(10)])
    content = producer(LoadedModel.from_keras(model, "square"), tmp_path, integer_only=True,
                       representative=digits["representative"].x[:50]).produce("full_integer").content
    report = check_model(content, "ethos-u65-256", RULES)
    assert not report.compatible and report.cpu_ops > 0
    assert any(p.op == "SQUARE" and "Vela places it on the CPU, not the NPU: Unsupported opType" in p.reason for p in report.problems)


def test_vela_failing_or_missing_is_said_plainly(int8, monkeypatch):
    broken = RULES.targets["ethos-u55-128"].check.checker.model_copy(update={"system_config": "No_Such_System"})
    result = vela.compile_model(int8[0], broken)
    assert result.compiled is None and result.error.startswith("Vela could not compile it") and "No_Such_System" in result.error
    monkeypatch.setattr(vela, "available", lambda: False)
    report = check_model(int8[0], "ethos-u55-128", RULES)
    assert any("Vela is not installed" in w and "pip install ethos-u-vela" in w for w in report.warnings)


def test_run_on_an_ethos_u_target_measures_size_ram_latency_and_compatibility(tmp_path):
    answers = parse_answers({"data": "unlabelled", "hardware": "ethos-u55-128",
                             "goals": {"min_size_reduction": 0.6, "max_ram_kb": 64, "max_latency_ms": 1.0},
                             "inputs": {"model": "builtin:digits", "representative": "builtin:digits", "eval": "builtin:digits"}})
    report = run(answers, rules=RULES, out=tmp_path / "out", options=RunOptions(latency_runs=3))
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and attempt.passed and report.chosen == 0
    statuses = {v.goal: v for v in attempt.verdicts}
    assert {goal: v.status for goal, v in statuses.items()} == {"min_size_reduction": "pass", "max_ram_kb": "pass",
                                                                 "max_latency_ms": "pass"}
    assert "estimated by Vela for ethos-u55-128" in statuses["max_latency_ms"].reason
    assert attempt.metrics.ram_bytes == attempt.hardware.sram_bytes and attempt.metrics.flash_bytes > 0
    assert (tmp_path / "out" / "attempts" / "full_integer_vela.tflite").is_file()
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "compiled" not in saved["attempts"][0]["hardware"] and saved["attempts"][0]["metrics"]["ram_bytes"] > 0


@pytest.mark.parametrize("hardware", ["microcontroller", "ethos-u55-128"])
def test_a_ram_goal_passes_and_fails_on_measured_memory(hardware, tmp_path):
    def ram_verdict(limit_kb, out):
        answers = parse_answers({"data": "unlabelled", "hardware": hardware, "goals": {"max_ram_kb": limit_kb},
                                 "inputs": {"model": "builtin:digits", "representative": "builtin:digits"}})
        report = run(answers, rules=RULES, out=tmp_path / out, options=RunOptions(latency_runs=0))
        return next(v for v in report.attempts[0].verdicts if v.goal == "max_ram_kb")

    roomy, tight = ram_verdict(1024, "a"), ram_verdict(0.1, "b")
    assert roomy.status == "pass" and tight.status == "fail" and roomy.measured == tight.measured > 0.1
