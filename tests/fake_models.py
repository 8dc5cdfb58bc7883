"""Keras model files written with h5py alone: what the TensorFlow-free tier reads (advisor.reading) without
building a model. The files are real HDF5 Keras files, shapes and all."""

from __future__ import annotations

import json

import numpy as np


def dense_h5(path, inputs: int = 1000, units: int = 1000, keras_version: str = "2.21.0"):
    """A tf-keras Sequential .h5 of one Dense layer: inputs x units float32 weights plus a bias."""
    import h5py

    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, inputs], "dtype": "float32", "name": "x"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": units, "activation": "softmax"}},
    ]}}
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = keras_version
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(config)
        weights = h5.create_group("model_weights")
        weights.attrs["layer_names"] = [b"x", b"dense"]
        weights.create_group("x").attrs["weight_names"] = []
        group = weights.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group.create_dataset("dense/kernel:0", data=np.zeros((inputs, units), np.float32))
        group.create_dataset("dense/bias:0", data=np.zeros((units,), np.float32))
    return path
