"""`advisor inspect`: a model's signature read from its files, never importing TensorFlow.

    .keras zip    config.json (the layers) and metadata.json (the Keras version); weights counted in model.weights.h5
    .h5           the model_config and keras_version attributes; weights counted in the datasets
    SavedModel    saved_model.pb's serving_default signature (protobuf, read here); weights in variables.index
    .tflite       the flatbuffer's serving signature

Keras files do not store output shapes: they are given where the output layer says (Dense units)
and left unknown otherwise (null), as `advisor run` learns them when it loads the model.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from pydantic import Field

from advisor.errors import ModelError
from advisor.models.recommendation import PredictedSize
from advisor.models.signature import ModelSignature, TensorSpec
from advisor.protobuf import fields, map_entries, tensor_shape

DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string", 9: "int64",
          10: "bool", 14: "bfloat16", 17: "uint16", 19: "float16", 22: "uint32", 23: "uint64"}


class Inspection(ModelSignature):
    """What `advisor inspect` prints: the signature, and the predicted .tflite size of each scheme."""

    predicted: dict[str, PredictedSize] = Field(
        default_factory=dict, description="Scheme -> its .tflite size predicted from the model's tensors (empty when unreadable).")
    folded_normalizations: int | None = Field(None, description="Batch normalizations the converter folds into the layer before them.")


def inspect_with_sizes(path: str | Path, rules) -> Inspection:
    """The signature of the model at `path` with each scheme's predicted size under `rules`."""
    from advisor.engine.size_model import convert, model_size
    from advisor.model_tensors import read_tensors

    signature = inspect_model(path)
    tensors = read_tensors(path)
    from advisor.executor.model_io import ModelFormat

    family = ModelFormat(signature.format).family
    size = model_size(tensors, rules, model_format=family) if tensors is not None and tensors.layers else None
    if size is None:
        return Inspection(**signature.model_dump())
    predicted = {scheme: PredictedSize(size_bytes=size.bytes_of(scheme), size_reduction=round(size.reduction_of(scheme), 4))
                 for scheme, _ in size.predicted}
    return Inspection(**signature.model_dump(), predicted=predicted, folded_normalizations=convert(tensors).folded)


def inspect_model(path: str | Path) -> ModelSignature:
    from advisor.executor.model_io import ModelFormat, detect_format

    path = Path(path)
    if path.is_file() and path.read_bytes()[4:8] == b"TFL3":
        from advisor.tflite_graph import signature

        return signature(path)
    fmt = detect_format(path)
    if fmt in (ModelFormat.SAVEDMODEL, ModelFormat.KERAS2_SAVEDMODEL):
        return _saved_model(path, fmt.value)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            version = json.loads(archive.read("metadata.json")).get("keras_version")
    else:
        import h5py

        with h5py.File(path, "r") as handle:
            config = json.loads(_text(handle.attrs["model_config"]))
            version = _text(handle.attrs.get("keras_version"))
    parameters = keras_weight_count(path)
    inputs, outputs = _keras_config(config)
    return ModelSignature(format=fmt.value, keras_version=version, inputs=inputs, outputs=outputs, parameters=parameters)


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


def keras_weight_count(path: Path) -> int | None:
    """How many float weight values a .keras zip or an .h5 file holds (optimizer state left out)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                return None
            return _h5_weight_count(_bytes_io(archive.read("model.weights.h5")))
    return _h5_weight_count(path)


def _h5_weight_count(source) -> int | None:
    import h5py

    total = 0

    def add(name, node):
        nonlocal total
        if isinstance(node, h5py.Dataset) and "optimizer" not in name and node.dtype.kind == "f":
            total += node.size

    with h5py.File(source, "r") as handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        root.visititems(add)
    return total or None


def _dtype(value) -> str:
    if isinstance(value, dict):  # a Keras 3 DTypePolicy
        value = value.get("config", {}).get("name", "float32")
    return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(value or "float32", value or "float32")


def _names(entries) -> list[str]:
    """input_layers / output_layers: [name, 0, 0] or a list of them (or a dict, in Keras 3 nested inputs)."""
    if isinstance(entries, dict):
        entries = list(entries.values())
    if entries and isinstance(entries[0], str):
        return [entries[0]]
    return [entry[0] for entry in entries or []]


def _keras_config(config: dict) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    body = config.get("config", {})
    layers = body.get("layers", [])
    by_name = {layer.get("config", {}).get("name", layer.get("name")): layer for layer in layers}
    if config.get("class_name") == "Sequential":
        first = layers[0] if layers else {}
        shape = (first.get("config", {}).get("batch_shape") or first.get("config", {}).get("batch_input_shape")
                 or (body.get("build_input_shape") or (body.get("build_config") or {}).get("input_shape")))
        if not shape:
            raise ModelError("the Sequential model's input shape is not in its config (it was never built)")
        name = first.get("config", {}).get("name", "input") if first.get("class_name") == "InputLayer" else "input"
        inputs = (TensorSpec(name=name, shape=_dims(shape[1:]), dtype=_dtype(first.get("config", {}).get("dtype"))),)
        last = next((layer for layer in reversed(layers) if layer.get("class_name") != "InputLayer"), {})
        return inputs, (_output(last),)
    inputs = []
    for name in _names(body.get("input_layers")):
        layer = by_name.get(name, {}).get("config", {})
        shape = layer.get("batch_shape") or layer.get("batch_input_shape") or [None]
        inputs.append(TensorSpec(name=name, shape=_dims(shape[1:]), dtype=_dtype(layer.get("dtype"))))
    outputs = [_output(by_name.get(name, {"config": {"name": name}})) for name in _names(body.get("output_layers"))]
    return tuple(inputs), tuple(outputs)


def _output(layer: dict) -> TensorSpec:
    config = layer.get("config", {})
    units = config.get("units") if layer.get("class_name") == "Dense" else None
    return TensorSpec(name=config.get("name", "output"), shape=(units,) if units else None, dtype="float32")


def _dims(shape) -> tuple:
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


def _saved_model(path: Path, fmt: str) -> ModelSignature:
    from advisor.tensor_bundle import weight_count

    data = (path / "saved_model.pb").read_bytes()
    signature = None
    for number, meta_graph in fields(data):
        if number != 2:
            continue
        signatures = map_entries(value for n, value in fields(meta_graph) if n == 5)
        signature = signatures.get("serving_default")
        if signature is not None:
            break
    if signature is None:
        raise ModelError(f"{path}: the SavedModel has no serving_default signature")
    parts = {1: [], 2: []}
    for number, value in fields(signature):
        if number in parts:
            parts[number].append(value)
    inputs = tuple(_tensor_info(name, info) for name, info in sorted(map_entries(parts[1]).items()))
    outputs = tuple(_tensor_info(name, info) for name, info in sorted(map_entries(parts[2]).items()))
    index = path / "variables" / "variables.index"
    parameters = (weight_count(index) or None) if index.is_file() else None
    return ModelSignature(format=fmt, inputs=inputs, outputs=outputs, parameters=parameters)


def _tensor_info(name: str, info: bytes) -> TensorSpec:
    dtype, dims = 1, []
    for number, value in fields(info):
        if number == 2:
            dtype = value
        elif number == 3:
            dims = tensor_shape(value)
    return TensorSpec(name=name, shape=_dims(dims[1:]), dtype=DTYPES.get(dtype, f"dtype {dtype}"))
