"""A Keras model's config (the JSON both tf-keras and Keras 3 save): its inputs and outputs, its layers
in order (nested models opened in place), and the weight tensors it owns, by the paths Keras saves them
under. Shared by the .h5 and .keras readers.

Keras files do not store output shapes: an output's shape is given where its layer says (Dense units)
and left unknown otherwise (null), as `advisor run` learns them when it loads the model.
"""

from __future__ import annotations

import re

from advisor.errors import ModelError
from advisor.models.signature import TensorSpec
from advisor.models.tensors import NORMALIZATION, LayerTensors, ModelTensors

ROLES = ("depthwise_kernel", "kernel", "recurrent_kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance",
         "embeddings")
NORM_ROLES = ("gamma", "beta", "moving_mean", "moving_variance")
SCORE_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")
Weights = dict[str, list[tuple[str, tuple[int, ...]]]]  # layer -> [(weight name, shape)]


def text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def layers_of(config: dict) -> list[dict]:
    """Every layer of a Keras config in order, nested models opened in place."""
    found = []
    for layer in config.get("config", {}).get("layers", []) or []:
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            found.extend(layers_of(layer))
        else:
            found.append(layer)
    return found


def layer_name(layer: dict) -> str:
    return layer.get("config", {}).get("name") or layer.get("name", "")


def activation(layer: dict) -> str | None:
    value = layer.get("config", {}).get("activation")
    if isinstance(value, dict):  # Keras 3 serializes activations as objects
        value = value.get("config", value.get("class_name"))
    return value if isinstance(value, str) else None


def has_layer_graph(config: dict) -> bool:
    """A Sequential or Functional config lists its layers; a subclassed model's does not."""
    return bool(config.get("config", {}).get("layers"))


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


def dims(shape) -> tuple:
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


def inputs_and_outputs(config: dict) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    body = config.get("config", {})
    layers = body.get("layers", []) or []
    by_name = {layer_name(layer): layer for layer in layers}
    if not layers:  # a subclassed model: its build config holds the input shape it was built with
        build = config.get("build_config") or body.get("build_config") or {}
        shape = build.get("input_shape")
        if not shape:
            raise ModelError("the subclassed model's input shape is not in its config (it was never built)")
        shapes = shape if isinstance(shape[0], (list, tuple)) or isinstance(shape, dict) else [shape]
        if isinstance(shapes, dict):
            return tuple(TensorSpec(name=name, shape=dims(s[1:]), dtype="float32") for name, s in shapes.items()), ()
        named = ["input"] if len(shapes) == 1 else [f"input_{i}" for i in range(len(shapes))]
        return tuple(TensorSpec(name=n, shape=dims(s[1:]), dtype="float32") for n, s in zip(named, shapes)), ()
    if config.get("class_name") == "Sequential":
        first = layers[0]
        shape = (first.get("config", {}).get("batch_shape") or first.get("config", {}).get("batch_input_shape")
                 or (body.get("build_input_shape") or (body.get("build_config") or config.get("build_config") or {})
                     .get("input_shape")))
        if not shape:
            raise ModelError("the Sequential model's input shape is not in its config (it was never built)")
        name = first.get("config", {}).get("name", "input") if first.get("class_name") == "InputLayer" else "input"
        inputs = (TensorSpec(name=name, shape=dims(shape[1:]), dtype=_dtype(first.get("config", {}).get("dtype"))),)
        last = next((layer for layer in reversed(layers) if layer.get("class_name") != "InputLayer"), {})
        return inputs, (_output(last),)
    inputs = []
    for name in _names(body.get("input_layers")):
        layer = by_name.get(name, {}).get("config", {})
        shape = layer.get("batch_shape") or layer.get("batch_input_shape") or [None]
        inputs.append(TensorSpec(name=name, shape=dims(shape[1:]), dtype=_dtype(layer.get("dtype"))))
    outputs = [_output(by_name.get(name, {"config": {"name": name}})) for name in _names(body.get("output_layers"))]
    return tuple(inputs), tuple(outputs)


def batch_of(config: dict) -> int | None:
    """The batch size the model's first input was saved with (None: dynamic)."""
    for layer in config.get("config", {}).get("layers", []) or []:
        shape = layer.get("config", {}).get("batch_shape") or layer.get("config", {}).get("batch_input_shape")
        if shape:
            return shape[0]
    return None


def _output(layer: dict) -> TensorSpec:
    config = layer.get("config", {})
    units = config.get("units") if layer.get("class_name") == "Dense" else None
    kind = "scores" if activation(layer) in SCORE_ACTIVATIONS or layer.get("class_name") == "Softmax" else None
    return TensorSpec(name=config.get("name", "output"), shape=(units,) if units else None, dtype="float32", kind=kind)


def role(weight_name: str, kind: str, rank: int, position: int) -> str:
    base = weight_name.rsplit("/", 1)[-1].split(":")[0]
    if base in ROLES:
        return "kernel" if base == "recurrent_kernel" else base
    if kind in NORMALIZATION:
        return NORM_ROLES[position] if position < len(NORM_ROLES) else "other"
    if kind.startswith("DepthwiseConv") and rank >= 2:
        return "depthwise_kernel"
    return "kernel" if rank >= 2 else "bias"


def wrapped_class(layer: dict) -> str:
    """The class a layer computes as: a Bidirectional or TimeDistributed wrapper's inner layer's."""
    kind = layer.get("class_name", "")
    inner = layer.get("config", {}).get("layer")
    if kind in ("Bidirectional", "TimeDistributed") and isinstance(inner, dict):
        return inner.get("class_name", kind)
    return kind


def kind_from_roles(roles) -> str:
    names = {name for name, _ in roles}
    if names & set(NORM_ROLES):
        return "BatchNormalization"
    if "depthwise_kernel" in names:
        return "DepthwiseConv2D"
    kernels = [shape for name, shape in roles if name == "kernel"]
    if kernels:
        return {2: "Dense", 3: "Conv1D", 4: "Conv2D"}.get(len(kernels[0]), "Other")
    return "Other"


def assemble(config: dict, weights: Weights, source: str) -> ModelTensors:
    """The config's layers with the weights each owns; weights no layer of the config names (a subclassed
    model's, a layer's sublayers') become layers of their own, their kind read from their shapes."""
    layers = []
    graph = has_layer_graph(config)
    for layer in layers_of(config):
        name, kind = layer_name(layer), wrapped_class(layer)
        found = weights.pop(name, [])
        roles = tuple((role(weight, kind, len(shape), i), shape) for i, (weight, shape) in enumerate(found))
        layers.append(LayerTensors(name, kind, roles, activation(layer)))
    for name, found in weights.items():
        roles = tuple((role(weight, "", len(shape), i), shape) for i, (weight, shape) in enumerate(found))
        layers.append(LayerTensors(name, kind_from_roles(roles), roles))
    return ModelTensors(tuple(layers), ordered=graph, source=source)


def snake_case(name: str) -> str:
    """Keras's own naming of saved layers (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def saved_paths(config: dict, prefix: str = "layers"):
    """(path in a .keras zip's model.weights.h5, layer config) of every plain layer, nested models opened
    in place: `layers/<snake_case class name>[_<n>]`, counted per class within each model."""
    counts: dict[str, int] = {}
    for layer in config.get("config", {}).get("layers", []) or []:
        base = snake_case(layer.get("class_name", "layer"))
        count = counts.get(base, 0)
        counts[base] = count + 1
        path = f"{prefix}/{base}" if count == 0 else f"{prefix}/{base}_{count}"
        if isinstance(layer.get("config"), dict) and "layers" in layer["config"]:
            yield from saved_paths(layer, f"{path}/layers")
        else:
            yield path, layer
