"""A Keras model saved as HDF5 (.h5), tf-keras or Keras 3: the `model_config` and `keras_version`
attributes, and the weights' shapes under `model_weights/` (their values are never read), through the
HDF5 reader of this package (h5py only for files it does not understand)."""

from __future__ import annotations

import json

from advisor.errors import ModelError
from advisor.models.model_file import ModelFile
from advisor.models.signature import ModelSignature
from advisor.reading import keras_config as kc
from advisor.reading.formats import keras_major
from advisor.reading.hdf5 import open_hdf5


def read(handle, source: str) -> ModelFile:
    """`handle`: the open file (it is read through, so the file is opened once)."""
    try:
        h5 = open_hdf5(handle)
        attrs = h5.attrs
    except OSError as err:
        raise ModelError(f"{source}: unreadable HDF5 file ({err})") from None
    version = kc.text(attrs.get("keras_version"))
    if version is None or "model_config" not in attrs:
        raise ModelError(f"{source}: an HDF5 file without a Keras model in it (weights only?)")
    config = json.loads(kc.text(attrs["model_config"]))
    root = h5["model_weights"] if "model_weights" in h5 else h5
    weights, parameters = _weights(root, config), _parameters(root)
    fmt = keras_major(version, source)
    inputs, outputs = kc.inputs_and_outputs(config)
    tensors = kc.assemble(config, weights, "h5")
    signature = ModelSignature(format=fmt.value, keras_version=version, inputs=inputs, outputs=outputs,
                               parameters=parameters or None, batch=kc.batch_of(config))
    return ModelFile(source, fmt, signature, tensors, version)


def _names(value) -> list[str]:
    return [kc.text(v) for v in (value if isinstance(value, list) else [value] if value else [])]


def _weights(root, config: dict) -> kc.Weights:
    plain = {kc.layer_name(layer) for layer in kc.layers_of(config)}
    weights: kc.Weights = {}
    for group_name in _names(root.attrs.get("layer_names")):
        group = root[group_name]
        for weight_name in _names(group.attrs.get("weight_names")):
            dataset = group[weight_name]
            if dataset.kind != "f":
                continue
            parts = weight_name.split(":")[0].split("/")
            # a plain layer's group holds its weights; a nested model's names the inner layer in the path
            owner = group_name if group_name in plain or len(parts) < 2 else parts[-2]
            weights.setdefault(owner, []).append((weight_name, dataset.shape))
    return weights


def _parameters(root) -> int:
    """Every float weight value in the file (the optimizer's state left out), whichever layer owns it."""
    return sum(d.size for name, d in root.visit_datasets() if "optimizer" not in name and d.kind == "f")
