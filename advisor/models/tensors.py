"""A model's layers and weight tensors as plain data: what the size model predicts from (read by
advisor/model_tensors.py from the model's files, or from a Keras object)."""

from __future__ import annotations

from dataclasses import dataclass

NORMALIZATION = ("BatchNormalization", "SyncBatchNormalization")


@dataclass(frozen=True)
class LayerTensors:
    name: str
    kind: str  # the Keras class name, or what the weights' names say ("Conv2D", "BatchNormalization", ...)
    weights: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (role, shape) of each float weight
    activation: str | None = None  # the layer's own activation argument, where it has one


@dataclass(frozen=True)
class ModelTensors:
    layers: tuple[LayerTensors, ...]
    ordered: bool  # layers are in graph order (False for a SavedModel: only its variables are read)
    source: str  # what the tensors were read from
    ops: int | None = None  # the converted graph's op count where the graph was read (a SavedModel, a .tflite)
    float32_bytes: int | None = None  # the float32 .tflite's real size, when the model is one

    @property
    def parameters(self) -> int:
        return sum(elements(shape) for layer in self.layers for _, shape in layer.weights)


def elements(shape) -> int:
    count = 1
    for dim in shape:
        count *= int(dim)
    return count
