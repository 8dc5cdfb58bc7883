"""A float32 .tflite as the model: every post-training scheme through LiteRT Quantizer, without
TensorFlow; the Keras-only schemes ruled out by the rules; a quantized .tflite refused; --backend."""

import json
import subprocess
import sys

import numpy as np
import pytest

from advisor.pipeline.recommend import parse_answers, recommend
from advisor.engine.rules import load_rules
from advisor.models.options import RunOptions
from advisor.pipeline.run import run
from advisor.reading.tflite import read_graph
from tests.conftest import ROOT

RULES = load_rules()


@pytest.fixture(scope="module")
def float_tflite(tf, tmp_path_factory):
    """A tiny CNN converted to a float32 .tflite here, with a serving signature, and calibration data."""
    import tf_keras as keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential([
        keras.layers.Input((16, 16, 3), name="pixels"),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.DepthwiseConv2D(3, activation="relu"),
        keras.layers.Conv2D(48, 1, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(5, activation="softmax", name="scores"),
    ])
    folder = tmp_path_factory.mktemp("tflite-input")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (folder / "model.tflite").write_bytes(converter.convert())
    rng = np.random.default_rng(0)
    np.savez(folder / "calib.npz", x=rng.uniform(0, 1, (48, 16, 16, 3)).astype("float32"))
    np.savez(folder / "eval.npz", x=rng.uniform(0, 1, (32, 16, 16, 3)).astype("float32"))
    return folder


def answers(folder, **fields):
    inputs = {"model": str(folder / "model.tflite"), "representative": str(folder / "calib.npz"),
              "eval": str(folder / "eval.npz")}
    return parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": inputs, **fields})


# what each scheme must leave in the flatbuffer: the dtypes of the kernels and of the activations
EXPECTED = {
    "float16": ({"float16"}, {"float32"}),
    "dynamic_range": ({"int8"}, {"float32"}),
    "full_integer": ({"int8"}, {"int8"}),
    "int16x8": ({"int8"}, {"int16"}),
    "weight_only_int4": ({"int4"}, {"float32"}),
}


@pytest.mark.parametrize("scheme", [*EXPECTED, "selective_integer"])
def test_every_post_training_scheme_quantizes_a_float_tflite(float_tflite, scheme, tmp_path):
    report = run(answers(float_tflite), rules=RULES, out=tmp_path / "out",
                 options=RunOptions(scheme=scheme, latency_runs=2))
    attempt = report.attempts[0]
    assert attempt.scheme == scheme and attempt.backend == "quantizer" and attempt.error is None
    graph = read_graph(tmp_path / "out" / attempt.artifact)
    kernels = {op.inputs[1].dtype for op in graph.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    activations = {t.dtype for op in graph.ops if op.name in ("CONV_2D", "FULLY_CONNECTED") for t in op.outputs}
    if scheme == "selective_integer":  # int8 except the layers kept float
        assert "int8" in kernels | activations and attempt.metrics.float_layers
    else:
        expected_kernels, expected_activations = EXPECTED[scheme]
        if scheme in ("float16", "weight_only_int4"):  # stored small, dequantized to float before the op
            kernels = {op.inputs[0].dtype for op in graph.ops if op.name == "DEQUANTIZE"}
        assert kernels == expected_kernels and activations == expected_activations
    assert attempt.metrics.fidelity is not None  # measured against the float32 .tflite itself
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["attempts"][0]["backend"] == "quantizer"
    assert (tmp_path / "out" / "attempts" / "float32.tflite").read_bytes() == (float_tflite / "model.tflite").read_bytes()


def test_int4_runs_in_the_interpreter_and_is_smaller_than_int8(float_tflite, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    sizes = {}
    for scheme in ("dynamic_range", "weight_only_int4"):
        report = run(answers(float_tflite), rules=RULES, out=tmp_path / scheme, options=RunOptions(scheme=scheme, latency_runs=2))
        attempt = report.attempts[0]
        sizes[scheme] = attempt.metrics.size_bytes
        interpreter = Interpreter(model_path=str(tmp_path / scheme / attempt.artifact))
        runner = interpreter.get_signature_runner()
        out = runner(pixels=np.zeros((1, 16, 16, 3), np.float32))
        assert np.isfinite(next(iter(out.values()))).all()
    assert sizes["weight_only_int4"] < sizes["dynamic_range"]


def test_the_keras_only_schemes_are_ruled_out_by_the_rules_with_the_reason(float_tflite, tmp_path):
    np.savez(float_tflite / "train.npz", x=np.zeros((8, 16, 16, 3), np.float32), y=np.zeros(8, np.int64))
    a = answers(float_tflite, data="labelled", goals={"max_accuracy_drop": 0.001, "compressed_download": True})
    # labelled answers need labelled evaluation data: the training file serves here
    a = a.model_copy(update={"inputs": a.inputs.model_copy(update={"train": str(float_tflite / "train.npz"),
                                                                   "eval": str(float_tflite / "train.npz")})})
    rec = recommend(a, rules=RULES)
    assert "qat" not in rec.ladder and rec.pre_steps == []
    qat = next(alt for alt in rec.alternatives if alt.scheme == "qat")
    assert "a Keras model or a SavedModel" in qat.reason and "float32 .tflite" in qat.reason
    assert any(r.rule == "model-format" and r.because.startswith("pruning") for r in rec.rationale)
    # forced, it is skipped at run time with the same reason, and the ladder goes on
    report = run(a, rules=RULES, out=tmp_path / "out", options=RunOptions(scheme="qat", latency_runs=0))
    assert "qat" not in [x.scheme for x in report.attempts]
    assert any(note.startswith("qat: skipped: qat needs a Keras model") for note in report.notes)


def test_an_already_quantized_tflite_is_bad_input(float_tflite, tmp_path, write_yaml, cli):
    report = run(answers(float_tflite), rules=RULES, out=tmp_path / "q", options=RunOptions(scheme="full_integer", latency_runs=0))
    quantized = tmp_path / "q" / report.attempts[0].artifact
    answers_file = write_yaml(f"data: none\nhardware: cpu\ninputs: {{model: {quantized}}}\n")
    result = cli("run", "--answers", str(answers_file), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "already quantized" in result.stderr and "give the float32 .tflite" in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_tflite_with_two_signatures_and_no_serving_default_is_a_clear_error(tf, tmp_path, write_yaml, cli):
    class Two(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def double(self, x):
            return {"y": x * 2.0}

        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
        def half(self, x):
            return {"y": x * 0.5}

    module = Two()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.double.get_concrete_function(), module.half.get_concrete_function()], module)
    path = tmp_path / "two.tflite"
    path.write_bytes(converter.convert())
    answers_file = write_yaml(f"data: none\nhardware: cpu\ninputs: {{model: {path}}}\n")
    result = cli("run", "--answers", str(answers_file), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "2 signatures" in result.stderr and "serving_default" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_backend_overrides_the_rules_choice_on_a_keras_model(loaded_dense, dense_keras, digits, tmp_path):
    from tests.integration.conftest import save_npz

    calib = save_npz(tmp_path / "calib.npz", x=digits["representative"].x[:64])
    raw = {"data": "unlabelled", "hardware": "cpu", "inputs": {"model": str(dense_keras), "representative": str(calib)}}
    rec = recommend(raw, rules=RULES)
    assert rec.backends[rec.scheme] == "converter"  # the rules' choice for a Keras model
    default = run(parse_answers(raw), rules=RULES, out=tmp_path / "a", options=RunOptions(scheme="full_integer", latency_runs=0))
    forced = run(parse_answers(raw), rules=RULES, out=tmp_path / "b",
                 options=RunOptions(scheme="full_integer", backend="quantizer", latency_runs=0))
    assert default.attempts[0].backend == "converter" and forced.attempts[0].backend == "quantizer"
    # the quantizer's static recipe has int8 inputs; the converter keeps float inputs on a CPU target
    assert read_graph(tmp_path / "b" / forced.attempts[0].artifact).inputs[0].dtype == "int8"
    assert read_graph(tmp_path / "a" / default.attempts[0].artifact).inputs[0].dtype == "float32"


def test_cli_backend_flag_unknown_is_one_line_exit_2(float_tflite, tmp_path, write_yaml, cli):
    answers_file = write_yaml(f"data: none\nhardware: cpu\ninputs: {{model: {float_tflite / 'model.tflite'}}}\n")
    result = cli("run", "--answers", str(answers_file), "--out", str(tmp_path / "o"), "--backend", "quantiser")
    assert result.returncode == 2 and "--backend: unknown backend 'quantiser'" in result.stderr
    assert "did you mean quantizer?" in result.stderr and not (tmp_path / "o").exists()


def test_a_float_tflite_runs_end_to_end_without_importing_tensorflow(float_tflite, tmp_path, write_yaml):
    answers_file = write_yaml(
        "data: unlabelled\nhardware: cpu\ngoals: {min_size_reduction: 0.6, min_sqnr_db: 15}\n"
        f"inputs: {{model: {float_tflite / 'model.tflite'}, representative: {float_tflite / 'calib.npz'}}}\n")
    heavy = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization")
    code = (
        "import sys\n"
        f"sys.argv = ['advisor', 'run', '--answers', {str(answers_file)!r}, '--out', {str(tmp_path / 'o')!r}]\n"
        "from advisor.cli.main import main\n"
        "code = main()\n"
        f"print('LOADED=' + ','.join(m for m in {heavy!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "LOADED="
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["chosen"] is not None and report["attempts"][report["chosen"]]["backend"] == "quantizer"
