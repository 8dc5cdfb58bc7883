"""The predicted size of each scheme against the converter's real output, on models built here, in
every file format; and the engine refusing a size goal the model cannot reach before converting."""

import json
import subprocess
import sys

import numpy as np
import pytest

from advisor.engine.rules import load_rules
from advisor.engine.size_model import convert as converted_view
from advisor.engine.size_model import predict_all
from advisor.errors import EXIT_INFEASIBLE, EXIT_OK
from advisor.reading import read_model


def read_tensors(path):
    return read_model(path).tensors

from .conftest import producer


def _randomize(model):
    """Non-zero biases and batch-norm statistics, as in a trained model (the converter drops zero biases)."""
    rng = np.random.default_rng(3)
    for weight in model.weights:
        if "moving_variance" in weight.name:
            weight.assign(rng.uniform(0.5, 1.5, weight.shape).astype("float32"))
        elif any(k in weight.name for k in ("bias", "beta", "moving_mean", "gamma")):
            weight.assign((0.1 * rng.normal(size=weight.shape)).astype("float32") + ("gamma" in weight.name))
    return model


@pytest.fixture(scope="module")
def cnn_files(tf, tmp_path_factory):
    import tf_keras as keras

    keras.utils.set_random_seed(2)
    model = _randomize(keras.Sequential([
        keras.layers.Input((24, 24, 3)),
        keras.layers.Conv2D(32, 3, use_bias=False), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.DepthwiseConv2D(3, use_bias=False), keras.layers.BatchNormalization(), keras.layers.ReLU(),
        keras.layers.Conv2D(96, 1, activation="relu"), keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.1),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax"),
    ]))
    folder = tmp_path_factory.mktemp("size-models")
    model.save(folder / "cnn.h5")
    model.save(folder / "cnn.keras")
    tf.saved_model.save(model, str(folder / "cnn_savedmodel"))
    return folder


def test_every_format_gives_the_same_tensors_and_the_folds_are_seen(cnn_files):
    views = {name: read_tensors(cnn_files / name) for name in ("cnn.h5", "cnn.keras", "cnn_savedmodel")}
    assert len({v.parameters for v in views.values()}) == 1
    assert views["cnn_savedmodel"].ordered is False and views["cnn.h5"].ordered
    for view in views.values():
        assert converted_view(view).folded == 2  # both batch norms fold into the convolutions before them
    predicted = {name: predict_all(v, load_rules()) for name, v in views.items()}
    assert predicted["cnn.h5"] == predicted["cnn.keras"]
    for scheme, size in predicted["cnn.h5"].items():
        assert predicted["cnn_savedmodel"][scheme] == pytest.approx(size, rel=0.05)


@pytest.mark.parametrize("scheme", ["float32", "float16", "dynamic_range", "full_integer", "int16x8"])
def test_the_prediction_is_within_ten_percent_of_the_converted_file(cnn_files, scheme, tmp_path):
    from advisor.executor.loading import load_model

    predicted = predict_all(read_tensors(cnn_files / "cnn.h5"), load_rules())[scheme]
    loaded = load_model(str(cnn_files / "cnn.h5"))
    sample = np.random.default_rng(0).normal(size=(16, 24, 24, 3)).astype("float32")
    measured = len(producer(loaded, tmp_path, representative=sample).produce(scheme).content)
    assert predicted == pytest.approx(measured, rel=0.10)


def _recommend(model, goal, tmp_path, hardware="android-gpu"):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"data": "unlabelled", "hardware": hardware, "goals": {"min_size_reduction": goal},
                                   "inputs": {"model": str(model)}}))
    result = subprocess.run([sys.executable, "-m", "advisor", "recommend", "--answers", str(answers), "--json"],
                            capture_output=True, text=True, timeout=120)
    return result.returncode, json.loads(result.stdout)


def test_a_70_percent_goal_on_a_small_model_is_infeasible_before_converting(cnn_files, tmp_path):
    code, rec = _recommend(cnn_files / "cnn.h5", 0.7, tmp_path)
    assert code == EXIT_INFEASIBLE and rec["scheme"] is None
    assert any("reaches about" in need and "on this model" in need for need in rec["needs"]), rec["needs"]
    sizes = {alt["scheme"]: alt["expected"]["size_reduction"] for alt in rec["alternatives"] if alt["scheme"] != "weight_only_int4"}
    assert max(sizes.values()) < 0.7
    # beyond the guide, on a target that runs it, 4-bit weights reach it
    code, rec = _recommend(cnn_files / "cnn.h5", 0.7, tmp_path, hardware="cpu")
    assert code == EXIT_OK and rec["scheme"] == "weight_only_int4" and rec["expected"]["size_reduction"] > 0.7


def test_the_same_goal_on_a_mobilenet_proceeds_with_its_predicted_size(tf, tmp_path):
    import tf_keras as keras

    path = tmp_path / "mobilenet.h5"
    keras.applications.MobileNet(weights=None, alpha=0.5, input_shape=(128, 128, 3)).save(path)
    code, rec = _recommend(path, 0.7, tmp_path)
    assert code == EXIT_OK and rec["scheme"] == "dynamic_range"
    assert 0.7 < rec["expected"]["size_reduction"] < 0.76
    assert rec["expected"]["size_bytes"] == pytest.approx(1_330_000, rel=0.1)


def test_inspect_prints_each_schemes_predicted_size(cnn_files):
    result = subprocess.run([sys.executable, "-m", "advisor", "inspect", str(cnn_files / "cnn.keras"), "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["folded_normalizations"] == 2
    assert 0.35 < shown["predicted"]["float16"]["size_reduction"] < 0.5  # half the weights, plus the graph
    assert list(shown["predicted"])[:3] == ["float32", "float16", "dynamic_range"]


@pytest.mark.parametrize("name", ["cnn.h5", "cnn.keras", "cnn_savedmodel"])
def test_predicting_from_any_format_never_imports_tensorflow(cnn_files, name, tmp_path):
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"data": "none", "hardware": "cpu", "goals": {"min_size_reduction": 0.6},
                                   "inputs": {"model": str(cnn_files / name)}}))
    heavy = ("tensorflow", "tf_keras", "keras", "ai_edge_litert")
    code = (
        "import sys\n"
        f"sys.argv = ['advisor', 'recommend', '--answers', {str(answers)!r}, '--json']\n"
        "from advisor.cli.main import main\n"
        "code = main()\n"
        f"print('LOADED=' + ','.join(m for m in {heavy!r} if m in sys.modules))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_OK, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "LOADED="
    assert json.loads("\n".join(lines[:-1]))["expected"]["size_bytes"] > 0
