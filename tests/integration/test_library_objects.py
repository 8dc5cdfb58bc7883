"""advisor.run with the objects a Python user holds: a Keras model (tf-keras, Keras 3, subclassed)
and numpy arrays, dicts of arrays, or (inputs, y) pairs, in place of files."""

import json

import numpy as np
import pytest

import advisor
from advisor.models.options import RunOptions

QUICK = RunOptions(latency_runs=3)


def test_a_tf_keras_model_and_arrays(loaded_dense, digits, tmp_path):
    model = loaded_dense.keras
    rec = advisor.recommend({"data": "unlabelled", "hardware": "cpu", "goals": {"max_size_mb": 0.01}}, model=model)
    assert not rec.feasible  # the object's weights are measured: no scheme takes ~0.4 MB under 0.01 MB
    report = advisor.run({"data": "unlabelled", "hardware": "edgetpu", "goals": {"max_prediction_change": 0.05}},
                         model=model, representative=digits["representative"].x,
                         eval=(digits["eval"].x, digits["eval"].y), out=tmp_path / "out", options=QUICK)
    assert report.attempts[0].scheme == "full_integer" and report.chosen == 0
    assert report.baseline.metrics.accuracy > 0.8 and report.attempts[0].metrics.fidelity is not None
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["environment"]["model_source"] == "in-memory"


def test_a_keras3_model_with_two_inputs_and_dicts_of_arrays(tf, digits, tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 1), name="image")
    extra = keras.Input((4,), name="extra")
    hidden = keras.layers.Concatenate()([keras.layers.Flatten()(image), extra])
    model = keras.Model([image, extra], keras.layers.Dense(10, activation="softmax")(hidden))
    rng = np.random.default_rng(0)
    calib = {"image": digits["representative"].x, "extra": rng.random((500, 4), dtype=np.float32)}
    evaluation = {"image": digits["eval"].x, "extra": rng.random((360, 4), dtype=np.float32), "y": digits["eval"].y}
    report = advisor.run({"data": "unlabelled", "hardware": "cpu", "goals": {"min_sqnr_db": 10}}, model=model,
                         representative=calib, eval=evaluation, out=tmp_path / "out", options=QUICK)
    assert report.environment["model_format"] == "keras3"
    assert all(a.metrics.fidelity for a in report.attempts) and report.baseline.metrics.accuracy is not None


def test_a_subclassed_keras3_model_with_three_outputs_built_in_code(tf, digits, tmp_path):
    """As a package ships it: layers made in __init__, weights set in code, never built on an Input."""
    import keras

    class Heads(keras.Model):
        def __init__(self):
            super().__init__()
            self.flatten = keras.layers.Flatten()
            self.hidden = keras.layers.Dense(32, activation="relu")
            self.digit = keras.layers.Dense(10, activation="softmax")
            self.size = keras.layers.Dense(1)
            self.box = keras.layers.Dense(4)

        def call(self, inputs, training=False):
            hidden = self.hidden(self.flatten(inputs))
            return self.digit(hidden), self.size(hidden), self.box(hidden)

    keras.utils.set_random_seed(0)
    model = Heads()
    model(np.zeros((1, 8, 8, 1), np.float32))  # the package's own warm-up call creates the weights
    model.set_weights([np.random.default_rng(i).normal(0, 0.1, w.shape).astype(np.float32)
                       for i, w in enumerate(model.get_weights())])
    report = advisor.run({"data": "unlabelled", "hardware": "cpu", "goals": {"max_prediction_change": 0.5}},
                         model=model, representative=digits["representative"].x, eval=digits["eval"].x,
                         out=tmp_path / "out", options=RunOptions(latency_runs=3, scheme="full_integer"))
    attempt = report.attempts[0]
    assert attempt.scheme == "full_integer" and attempt.error is None, attempt.error
    assert set(attempt.metrics.fidelity.outputs) == {"output_0", "output_1", "output_2"}
    assert attempt.verdicts[0].status in ("pass", "fail")


def test_bad_objects_are_bad_input_naming_the_role(loaded_dense, digits, tmp_path):
    with pytest.raises(advisor.BadInput, match="train: labelled data needs labels"):
        advisor.run({"data": "labelled", "hardware": "cpu"}, model=loaded_dense.keras, train=digits["train"].x,
                    out=tmp_path / "out")
    with pytest.raises(advisor.BadInput, match="representative: .*array 'x' has shape \\(3, 5\\)"):
        advisor.run({"data": "unlabelled", "hardware": "cpu"}, model=loaded_dense.keras,
                    representative=np.zeros((3, 5), np.float32), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
