"""Models are routed by content, not extension: tf-keras, Keras 3, and SavedModel folders."""

import shutil

import numpy as np
import pytest

from advisor.errors import ModelError, SchemeFailed
from advisor.executor.loading import load_model
from advisor.models.model_file import ModelFormat
from advisor.reading import read_model
from advisor.reading.tflite import read_graph


@pytest.fixture(scope="module")
def keras3_models(tf, digits, tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("k3")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    hidden = keras.layers.Flatten()(hidden)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Dense(64, activation="relu")(hidden))
    model = keras.Model(inputs, outputs)
    model.save(folder / "k3.keras")
    model.save(folder / "k3.h5")
    model.export(str(folder / "plain_savedmodel"), verbose=False)
    return folder


def test_formats_are_detected_by_content(dense_keras, keras3_models, tmp_path, tf):
    import tf_keras

    assert read_model(dense_keras).format is ModelFormat.KERAS2
    assert read_model(keras3_models / "k3.keras").format is ModelFormat.KERAS3
    assert read_model(keras3_models / "k3.h5").format is ModelFormat.KERAS3
    assert read_model(keras3_models / "plain_savedmodel").format is ModelFormat.SAVEDMODEL
    # the extension does not matter: a .keras zip renamed .bin is still found
    shutil.copy(keras3_models / "k3.keras", tmp_path / "renamed.bin")
    assert read_model(tmp_path / "renamed.bin").format is ModelFormat.KERAS3
    tf_keras.models.load_model(dense_keras).save(tmp_path / "k2_savedmodel", save_format="tf")
    assert read_model(tmp_path / "k2_savedmodel").format is ModelFormat.KERAS2_SAVEDMODEL


@pytest.mark.parametrize("name", ["notes.txt", "empty.keras"])
def test_a_file_that_is_not_a_model_is_bad_input(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"just text")
    with pytest.raises(ModelError, match=str(path)):
        read_model(path)


def test_a_folder_without_a_saved_model_is_bad_input(tmp_path):
    with pytest.raises(ModelError, match="not a SavedModel"):
        read_model(tmp_path)


@pytest.mark.parametrize("name", ["k3.keras", "k3.h5", "plain_savedmodel"])
def test_post_training_schemes_work_from_keras3_and_plain_savedmodels(keras3_models, make_job, name, digits):
    loaded = load_model(str(keras3_models / name))
    assert loaded.signature.inputs[0].shape == (8, 8, 1)
    job = make_job(integer_only=True, loaded=loaded)
    graph = read_graph(job.produce("full_integer").content)
    assert graph.inputs[0].dtype == "int8" and graph.inputs[0].shape_signature[0] == 1
    assert read_graph(make_job(loaded=loaded).produce("dynamic_range").content).inputs[0].dtype == "float32"


def test_a_keras3_model_is_rebuilt_in_tf_keras_for_qat(keras3_models, make_job):
    loaded = load_model(str(keras3_models / "k3.keras"))
    rebuilt = loaded.keras2()
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    assert np.allclose(loaded.keras.predict(x, verbose=0), rebuilt.predict(x, verbose=0), atol=1e-5)
    content = make_job(integer_only=True, loaded=loaded, epochs=1).produce("qat").content
    assert read_graph(content).inputs[0].dtype == "int8"


def test_a_plain_savedmodel_says_which_schemes_need_keras2(keras3_models, make_job):
    loaded = load_model(str(keras3_models / "plain_savedmodel"))
    with pytest.raises(SchemeFailed, match="only Keras 2"):
        make_job(loaded=loaded).produce("qat")


def test_a_keras3_model_goes_through_run_end_to_end(keras3_models, tmp_path):
    from advisor.pipeline.recommend import parse_answers
    from advisor.pipeline.run import run

    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu", "goals": {"max_accuracy_drop": 0.5},
                             "inputs": {"model": str(keras3_models / "k3.keras"), "representative": "builtin:digits",
                                        "eval": "builtin:digits"}})
    from advisor.models.options import RunOptions

    report = run(answers, out=tmp_path / "out", options=RunOptions(latency_runs=3))
    assert report.environment["model_format"] == "keras3"
    assert report.attempts[0].scheme == "full_integer" and report.chosen == 0
    assert report.attempts[0].hardware.compatible and report.attempts[0].metrics.accuracy is not None


def test_a_tf_keras_savedmodel_folder_loads_and_converts(dense_keras, tmp_path, make_job, digits):
    import tf_keras

    from tests.integration.conftest import top1_accuracy

    tf_keras.models.load_model(dense_keras).save(tmp_path / "k2_savedmodel", save_format="tf")
    loaded = load_model(str(tmp_path / "k2_savedmodel"))
    assert loaded.format is ModelFormat.KERAS2_SAVEDMODEL and loaded.signature.inputs[0].shape == (8, 8, 1)
    content = make_job(integer_only=True, loaded=loaded).produce("full_integer").content
    assert read_graph(content).inputs[0].dtype == "int8"
    assert top1_accuracy(content, digits["eval"]) > 0.8


def test_the_parameter_count_reads_keras3_zips_and_savedmodels_without_tensorflow(keras3_models):
    import keras

    weights = sum(w.size for w in keras.models.load_model(keras3_models / "k3.keras").get_weights())
    assert read_model(keras3_models / "k3.keras").parameters == weights
    # the Keras 3 export stores every variable twice (by name: two zero biases stay two variables)
    assert read_model(keras3_models / "plain_savedmodel").parameters == weights


def test_the_parameter_count_of_a_tf_keras_savedmodel_leaves_the_optimizer_out(dense_keras, tmp_path, loaded_dense):
    import tf_keras

    model = tf_keras.models.load_model(dense_keras)  # compiled, with Adam's slots after training
    model.save(tmp_path / "k2_savedmodel", save_format="tf")
    weights = sum(w.size for w in loaded_dense.keras.get_weights())
    assert read_model(tmp_path / "k2_savedmodel").parameters == weights


@pytest.mark.parametrize("name", ["k3.keras", "k3.h5", "plain_savedmodel"])
def test_inspect_reads_the_signature_the_loaded_model_has_without_tensorflow(keras3_models, name):
    import subprocess
    import sys

    inspected = read_model(keras3_models / name).signature
    loaded = load_model(str(keras3_models / name)).signature
    assert inspected.inputs == loaded.inputs and inspected.output_names == loaded.output_names
    assert [o.shape for o in inspected.outputs] == [o.shape for o in loaded.outputs]
    assert inspected.parameters == loaded.parameters
    code = ("import sys, json; from advisor.cli.main import main; code = main(['inspect', sys.argv[1], '--json']); "
            "print('HEAVY=' + ','.join(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code, str(keras3_models / name)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip().splitlines()[-1] == "HEAVY=", result.stderr
    assert '"name": "' + loaded.inputs[0].name + '"' in result.stdout


def test_inspect_reads_tf_keras_files_and_tflite(dense_keras, loaded_dense, make_job, tmp_path):
    inspected = read_model(dense_keras).signature
    assert inspected.format == "keras2" and inspected.keras_version.startswith("2.")
    assert inspected.inputs == loaded_dense.signature.inputs and inspected.outputs == loaded_dense.signature.outputs
    (tmp_path / "m.tflite").write_bytes(make_job(integer_only=True).produce("full_integer").content)
    flat = read_model(tmp_path / "m.tflite").signature
    assert flat.format == "tflite" and flat.inputs[0].dtype == "int8" and flat.inputs[0].shape == (8, 8, 1)
