"""A Keras model saved as HDF5 (.h5), tf-keras or Keras 3: the `model_config` and `keras_version`
attributes, and the weights' shapes under `model_weights/` (their values are never read)."""

from __future__ import annotations

import json

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile, ModelFormat
from advisor.models.signature import ModelSignature
from advisor.reading import keras_config as kc
from advisor.reading.formats import keras_major


def read(handle, source: str) -> ModelFile:
    """`handle`: the open file (h5py reads through it, so the file is opened once)."""
    import h5py

    try:
        with h5py.File(handle, "r") as h5:
            version = kc.text(h5.attrs.get("keras_version"))
            if version is None or "model_config" not in h5.attrs:
                raise ModelError(f"{source}: an HDF5 file without a Keras model in it (weights only?)")
            config = json.loads(kc.text(h5.attrs["model_config"]))
            weights = _weights(h5, config)
            parameters = _parameters(h5)
    except OSError as err:
        raise ModelError(f"{source}: unreadable HDF5 file ({err})") from None
    fmt = keras_major(version, source)
    inputs, outputs = kc.inputs_and_outputs(config)
    tensors = kc.assemble(config, weights, "h5")
    signature = ModelSignature(format=fmt.value, keras_version=version, inputs=inputs, outputs=outputs,
                               parameters=parameters or None, batch=kc.batch_of(config))
    return ModelFile(source, fmt, signature, tensors, version)


def _weights(h5, config: dict) -> kc.Weights:
    plain = {kc.layer_name(layer) for layer in kc.layers_of(config)}
    root = h5["model_weights"] if "model_weights" in h5 else h5
    weights: kc.Weights = {}
    for group_name in root.attrs.get("layer_names", []):
        group_name = kc.text(group_name)
        group = root[group_name]
        for weight_name in group.attrs.get("weight_names", []):
            weight_name = kc.text(weight_name)
            dataset = group[weight_name]
            if dataset.dtype.kind != "f":
                continue
            parts = weight_name.split(":")[0].split("/")
            # a plain layer's group holds its weights; a nested model's names the inner layer in the path
            owner = group_name if group_name in plain or len(parts) < 2 else parts[-2]
            weights.setdefault(owner, []).append((weight_name, tuple(int(d) for d in dataset.shape)))
    return weights


def _parameters(h5) -> int:
    """Every float weight value in the file (the optimizer's state left out), whichever layer owns it."""
    import h5py

    total = 0

    def add(name, node):
        nonlocal total
        if isinstance(node, h5py.Dataset) and "optimizer" not in name and node.dtype.kind == "f":
            total += node.size

    (h5["model_weights"] if "model_weights" in h5 else h5).visititems(add)
    return total
