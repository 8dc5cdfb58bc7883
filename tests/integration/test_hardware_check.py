"""The hardware check on converted models, and `advisor check` from the command line."""

import json

import pytest

from advisor.engine.rules import load_rules
from advisor.validator.hardware import check_model

RULES = load_rules()


@pytest.fixture(scope="module")
def converted(loaded_dense, digits, tmp_path_factory):
    from tests.integration.conftest import producer

    def job(integer_only):
        return producer(loaded_dense, tmp_path_factory.mktemp("w"), integer_only=integer_only,
                        representative=digits["representative"].x[:100])

    return {
        "float32": job(False).produce("float32").content,
        "float16": job(False).produce("float16").content,
        "dynamic_range": job(False).produce("dynamic_range").content,
        "int8_edgetpu": job(True).produce("full_integer").content,
        "int8_cpu": job(False).produce("full_integer").content,
    }


def test_edgetpu_rejects_float32_naming_each_op(converted):
    report = check_model(converted["float32"], "edgetpu", RULES)
    assert not report.compatible
    ops = [p for p in report.problems if p.index is not None]
    assert [p.op for p in ops] == ["RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    assert all("float32 activations" in p.reason for p in ops)
    assert any(p.op == "model input" and "float32" in p.reason for p in report.problems)
    assert any("would run on the CPU" in n for n in report.notes)


def test_edgetpu_accepts_full_integer_with_int8_io(converted):
    report = check_model(converted["int8_edgetpu"], "edgetpu", RULES)
    assert report.compatible, report.problems


def test_edgetpu_rejects_float_io_and_dynamic_batch(converted):
    report = check_model(converted["int8_cpu"], "edgetpu", RULES)
    reasons = " ".join(p.reason for p in report.problems)
    assert "float32 input" in reasons and "batch dynamic" in reasons


@pytest.mark.parametrize("scheme, reason", [("dynamic_range", "hybrid op"), ("float16", "float16 weights")])
def test_microcontroller_rejects_dynamic_range_and_float16(converted, scheme, reason):
    report = check_model(converted[scheme], "microcontroller", RULES)
    assert not report.compatible
    assert any(reason in p.reason and p.op for p in report.problems)


def test_gpu_runs_float_but_not_int8_while_android_gpu_runs_both(converted):
    assert check_model(converted["float16"], "gpu", RULES).compatible
    assert not check_model(converted["int8_cpu"], "gpu", RULES).compatible
    assert check_model(converted["int8_cpu"], "android-gpu", RULES).compatible


def test_cpu_notes_hybrid_latency_when_a_latency_goal_is_set(converted):
    report = check_model(converted["dynamic_range"], "cpu", RULES, latency_goal=True)
    assert report.compatible and any("slower than float32" in n for n in report.notes)


def test_check_cli_json_and_exit_codes(converted, tmp_path, cli):
    path = tmp_path / "m.tflite"
    path.write_bytes(converted["float32"])
    result = cli("check", str(path), "--hardware", "edgetpu", "--json")
    assert result.returncode == 4
    payload = json.loads(result.stdout)
    assert payload["hardware"] == "edgetpu" and payload["compatible"] is False
    assert all({"op", "reason"} <= set(p) for p in payload["problems"])
    path.write_bytes(converted["int8_edgetpu"])
    assert cli("check", str(path), "--hardware", "edgetpu").returncode == 0


def test_check_on_a_file_that_is_not_tflite_is_bad_input(tmp_path, cli):
    path = tmp_path / "model.tflite"
    path.write_text("not a model")
    result = cli("check", str(path), "--hardware", "cpu")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"advisor: error: {path}: not a .tflite model (no TFL3 flatbuffer identifier)"
    result = cli("check", str(tmp_path), "--hardware", "cpu")
    assert result.returncode == 2 and f"{tmp_path}: is a folder, not a .tflite file" in result.stderr
    result = cli("check", str(path), "--hardware", "edge-tpu")
    assert result.returncode == 2 and "did you mean edgetpu?" in result.stderr


def test_the_microcontroller_interpreter_sizes_the_arena_and_rejects_hybrid_and_float16(converted):
    from advisor.validator import micro

    assert micro.available(), "tflite-micro is installed by the project's test extras"
    report = check_model(converted["int8_edgetpu"], "microcontroller", RULES)
    assert report.compatible and 1_000 < report.arena_bytes < 1_000_000
    for scheme in ("dynamic_range", "float16"):
        report = check_model(converted[scheme], "microcontroller", RULES)
        assert any(p.op == "model" and "Microcontrollers interpreter cannot run it" in p.reason for p in report.problems), report.problems


@pytest.fixture(scope="module")
def five_d(tf, digits, tmp_path_factory):
    """A model with a rank-5 activation: (1, 2, 4, 8, 1) between two reshapes. Float32 and int8 (batch 1)."""
    import tf_keras as keras

    from advisor.executor.loading import LoadedModel
    from tests.integration.conftest import producer

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((8, 8, 1)), keras.layers.Reshape((2, 4, 8, 1)),
                              keras.layers.Lambda(lambda t: t * 2.0), keras.layers.Reshape((64,)),
                              keras.layers.Dense(10, activation="softmax")])
    loaded = LoadedModel.from_keras(model, "5d")
    folder = tmp_path_factory.mktemp("5d")
    paths = {}
    for name, scheme, integer_only in (("float32", "float32", False), ("int8", "full_integer", True)):
        content = producer(loaded, folder, integer_only=integer_only, representative=digits["representative"].x[:50]).produce(scheme).content
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(content)
    return paths


@pytest.mark.parametrize("hardware, model", [("gpu", "float32"), ("android-gpu", "float32"), ("hexagon-dsp", "int8")])
def test_check_rejects_rank_5_tensors_on_gpus_and_hexagon(five_d, cli, hardware, model):
    result = cli("check", str(five_d[model]), "--hardware", hardware, "--json")
    assert result.returncode == 4, result.stderr
    payload = json.loads(result.stdout)
    assert payload["compatible"] is False
    assert any(p["op"] == "MUL" and "a tensor of rank 5 (at most 4" in p["reason"] for p in payload["problems"])


def test_check_rejects_more_than_three_dimensions_above_1_on_the_edgetpu(five_d, cli):
    payload = json.loads(cli("check", str(five_d["int8"]), "--hardware", "edgetpu", "--json").stdout)
    assert any(p["op"] == "MUL" and "more than 3 dimensions above 1" in p["reason"] for p in payload["problems"])


def test_hexagon_accepts_a_plain_int8_model_and_warns_of_its_deprecation(converted):
    report = check_model(converted["int8_edgetpu"], "hexagon-dsp", RULES)
    assert report.compatible and any("QNN delegate" in note for note in report.notes)
