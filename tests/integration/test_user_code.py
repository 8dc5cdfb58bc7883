"""The user's own code and models as people train them: custom layers through inputs.custom_objects,
augmentation layers left out of the inference graph, QAT on the layers TFMOT supports."""

import json
import sys

import numpy as np
import pytest

from advisor.pipeline.recommend import parse_answers
from advisor.models.options import RunOptions
from advisor.pipeline.run import run
from tests.conftest import run_cli

TF_KERAS_LAYERS = '''
import tf_keras


@tf_keras.saving.register_keras_serializable(package="scaling")
class Scale(tf_keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
'''

KERAS3_LAYERS = '''
import keras


class Scale(keras.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


custom_objects = {"Scale": Scale}
'''


@pytest.fixture(scope="module")
def layers_path(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user_code")
    (folder / "scaling.py").write_text(TF_KERAS_LAYERS)
    (folder / "scaling3.py").write_text(KERAS3_LAYERS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def custom_models(tf, digits, layers_path):
    import keras
    import tf_keras

    import scaling
    import scaling3

    tf_keras.utils.set_random_seed(0)
    model2 = tf_keras.Sequential([tf_keras.Input((8, 8, 1)), tf_keras.layers.Flatten(), scaling.Scale(0.5),
                                  tf_keras.layers.Dense(32, activation="relu"), tf_keras.layers.Dense(10, activation="softmax")])
    model2.compile("adam", "sparse_categorical_crossentropy")
    model2.fit(digits["train"].x, digits["train"].y, epochs=2, verbose=0)
    model2.save(layers_path / "custom.h5")
    model2.save(layers_path / "custom2.keras")
    keras.utils.set_random_seed(0)
    model3 = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), scaling3.Scale(0.5),
                               keras.layers.Dense(10, activation="softmax")])
    model3.save(layers_path / "custom3.keras")
    return layers_path


def answers_file(folder, model, hardware="cpu", data="unlabelled", extra=""):
    path = folder / f"answers-{model}-{hardware}.yaml"
    path.write_text(f"data: {data}\nhardware: {hardware}\n{extra}inputs: {{model: {model}, representative: builtin:digits, "
                    "eval: builtin:digits" + (", train: builtin:digits" if data == "labelled" else "") + "}\n")
    return path


def test_a_custom_layer_without_custom_objects_is_one_line_naming_the_way_forward(custom_models, tmp_path):
    result = run_cli("run", "--answers", str(answers_file(custom_models, "custom.h5")), "--out", str(tmp_path / "o"),
                     env={"PYTHONPATH": str(custom_models)})
    assert result.returncode == 2, result.stderr[-2000:]
    line = result.stderr.strip()
    assert "Unknown layer" in line and "Scale" in line and "inputs.custom_objects: python:your.module" in line
    assert len(line.splitlines()) == 1 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("model, module", [("custom.h5", "scaling"), ("custom2.keras", "scaling"), ("custom3.keras", "scaling3")])
def test_custom_objects_let_post_training_schemes_run(custom_models, tmp_path, model, module, cli):
    extra = "goals: {max_prediction_change: 0.1}\n"
    path = answers_file(custom_models, model, extra=extra)
    text = path.read_text().replace("inputs: {", f"inputs: {{custom_objects: 'python:{module}', ")
    path.write_text(text)
    result = cli("run", "--answers", str(path), "--out", str(tmp_path / "o"), env={"PYTHONPATH": str(custom_models)})
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    chosen = report["attempts"][report["chosen"]]
    assert chosen["scheme"] == "dynamic_range" and chosen["metrics"]["fidelity"]["outputs"]


def test_a_custom_objects_module_that_does_not_import_is_exit_2(custom_models, tmp_path, cli):
    path = answers_file(custom_models, "custom.h5")
    path.write_text(path.read_text().replace("inputs: {", "inputs: {custom_objects: 'python:no_such_layers', "))
    result = cli("run", "--answers", str(path), "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "inputs.custom_objects: cannot import module 'no_such_layers'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_qat_annotates_the_layers_tfmot_supports_and_leaves_the_custom_one(custom_models, tmp_path):
    answers = parse_answers({"data": "labelled", "hardware": "edgetpu",
                             "inputs": {"model": str(custom_models / "custom.h5"), "custom_objects": "python:scaling",
                                        "representative": "builtin:digits", "train": "builtin:digits", "eval": "builtin:digits"}})
    report = run(answers, out=tmp_path / "out", options=RunOptions(scheme="qat", epochs=1, latency_runs=0))
    qat = report.attempts[0]
    assert qat.scheme == "qat" and qat.error is None, qat.error
    assert qat.metrics.qat_unannotated_layers == ["scale"] and any("scale" in n for n in qat.notes)


@pytest.fixture(scope="module")
def augmented(tf, digits, tmp_path_factory):
    """The tutorial pattern: rescaling and augmentation layers at the front of the model."""
    import keras
    import tf_keras

    folder = tmp_path_factory.mktemp("augmented")
    paths = {}
    for name, library in (("keras3", keras), ("tf_keras", tf_keras)):
        library.utils.set_random_seed(0)
        augment = library.Sequential([library.layers.RandomFlip("horizontal"), library.layers.RandomRotation(0.1)],
                                     name="augmentation")
        inputs = library.Input((8, 8, 1))
        hidden = augment(library.layers.Rescaling(1.0)(inputs))
        hidden = library.layers.Conv2D(8, 3, activation="relu")(hidden)
        outputs = library.layers.Dense(10, activation="softmax")(library.layers.Flatten()(hidden))
        model = library.Model(inputs, outputs)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(digits["train"].x, digits["train"].y, epochs=2, verbose=0)
        paths[name] = folder / f"augmented_{name}.keras"
        model.save(paths[name])
    return paths


def test_a_keras3_model_with_augmentation_goes_to_the_edgetpu(augmented, tmp_path):
    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu",
                             "inputs": {"model": str(augmented["keras3"]), "representative": "builtin:digits",
                                        "eval": "builtin:digits"}})
    report = run(answers, out=tmp_path / "out", options=RunOptions(latency_runs=0))
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and attempt.passed and attempt.hardware.compatible, attempt.error
    assert any("left out 1 layer(s) that do nothing at inference" in n and "augmentation" in n for n in report.notes)
    assert report.baseline.metrics.accuracy > 0.5


def test_qat_runs_on_the_tf_keras_model_with_rescaling_in_front(augmented, tmp_path):
    answers = parse_answers({"data": "labelled", "hardware": "edgetpu",
                             "inputs": {"model": str(augmented["tf_keras"]), "representative": "builtin:digits",
                                        "train": "builtin:digits", "eval": "builtin:digits"}})
    report = run(answers, out=tmp_path / "out", options=RunOptions(scheme="qat", epochs=1, latency_runs=0))
    qat = report.attempts[0]
    assert qat.scheme == "qat" and qat.error is None, qat.error
    assert "rescaling" in qat.metrics.qat_unannotated_layers
    assert qat.metrics.accuracy is not None and np.isfinite(qat.metrics.accuracy)
