"""A Keras model object already in memory (tf-keras or Keras 3, subclassed too), read without importing
anything: its inputs and outputs where it was built on an Input, and its layers' weight shapes."""

from __future__ import annotations

from advisor.models.model_file import ModelFile, ModelFormat
from advisor.models.signature import ModelSignature, TensorSpec
from advisor.models.tensors import LayerTensors, ModelTensors
from advisor.reading import keras_config as kc

SOURCE = "in-memory"


def is_tf_keras(model) -> bool:
    return any(klass.__module__.startswith("tf_keras") for klass in type(model).__mro__)


def read(model) -> ModelFile:
    fmt = ModelFormat.KERAS2 if is_tf_keras(model) else ModelFormat.KERAS3
    tensors = tensors_of(model)
    built = known_inputs(model)
    if built:
        signature = signature_of(model, fmt)
        notes = ()
    else:
        signature = ModelSignature(format=fmt.value, inputs=(), outputs=(), parameters=tensors.parameters if tensors else None)
        notes = ("a subclassed model that was never built on an Input: its inputs are read from the data when it runs",)
    return ModelFile(SOURCE, fmt, signature, tensors, notes=notes)


def known_inputs(model) -> bool:
    try:
        return getattr(model, "inputs", None) is not None
    except (AttributeError, ValueError):
        return False


def signature_of(model, fmt: ModelFormat) -> ModelSignature:
    """Inputs named by their input layers, outputs by the layers that produce them (tf-keras and Keras 3)."""
    def layer_name(tensor, fallback: str) -> str:
        history = getattr(tensor, "_keras_history", None)
        layer = history[0] if history else None
        return getattr(layer, "name", None) or fallback

    def kind(tensor) -> str | None:
        history = getattr(tensor, "_keras_history", None)
        layer = history[0] if history else None
        name = getattr(getattr(layer, "activation", None), "__name__", None)
        return "scores" if name in kc.SCORE_ACTIVATIONS or type(layer).__name__ == "Softmax" else None

    inputs = tuple(TensorSpec(name=layer_name(t, f"input_{i}"), shape=dims(t.shape[1:]), dtype=dtype_name(t.dtype))
                   for i, t in enumerate(model.inputs))
    outputs = tuple(TensorSpec(name=layer_name(t, f"output_{i}"), shape=dims(t.shape[1:]), dtype=dtype_name(t.dtype),
                               kind=kind(t)) for i, t in enumerate(model.outputs))
    parameters = int(sum(_size(w) for w in model.weights))
    first = model.inputs[0].shape[0] if model.inputs else None
    return ModelSignature(format=fmt.value, inputs=inputs, outputs=unique(outputs), parameters=parameters,
                          batch=int(first) if first is not None else None)


def _size(weight) -> int:
    count = 1
    for d in weight.shape:
        count *= int(d)
    return count


def unique(specs: tuple) -> tuple:
    seen: dict[str, int] = {}
    named = []
    for spec in specs:
        count = seen.get(spec.name, 0)
        seen[spec.name] = count + 1
        named.append(spec if count == 0 else spec.model_copy(update={"name": f"{spec.name}_{count}"}))
    return tuple(named)


def dims(shape) -> tuple:
    return tuple(None if d is None or d == -1 else int(d) for d in shape)


def dtype_name(dtype) -> str:
    return getattr(dtype, "name", str(dtype))


def tensors_of(model) -> ModelTensors | None:
    """The layers of a Keras model object, nested models opened in place."""
    layers = []

    def add(layer):
        inner = getattr(layer, "layers", None)
        if inner:
            for child in inner:
                add(child)
            return
        inner = getattr(layer, "forward_layer", None) or (getattr(layer, "layer", None)
                                                           if type(layer).__name__ == "TimeDistributed" else None)
        kind = type(inner or layer).__name__  # a wrapper computes as the layer it wraps
        found = [(w.name, tuple(int(d) for d in w.shape)) for w in getattr(layer, "weights", [])
                 if "float" in str(getattr(w, "dtype", "float32"))]
        roles = tuple((kc.role(name, kind, len(shape), i), shape) for i, (name, shape) in enumerate(found))
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        layers.append(LayerTensors(layer.name, kind, roles, activation))

    add(model)
    return ModelTensors(tuple(layers), ordered=True, source="model object") if layers else None
