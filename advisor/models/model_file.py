"""A model as read from its files (or a Keras object), without TensorFlow: what the advisor knows of
it before loading it. advisor/reading/ makes these; inspect, recommend, plan and the size model take them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from advisor.models.signature import ModelSignature
from advisor.models.tensors import ModelTensors


class ModelFormat(str, Enum):
    KERAS2 = "keras2"  # tf-keras .keras / .h5
    KERAS3 = "keras3"  # Keras 3 .keras / .h5
    KERAS2_SAVEDMODEL = "keras2-savedmodel"  # tf-keras SavedModel folder
    SAVEDMODEL = "savedmodel"  # plain SavedModel (no Keras object)
    TFLITE = "tflite"  # a .tflite flatbuffer

    @property
    def family(self) -> str:
        """The format as the rules name it (`model.format`): keras, savedmodel or tflite."""
        return {"keras2": "keras", "keras3": "keras", "keras2-savedmodel": "savedmodel"}.get(self.value, self.value)


@dataclass(frozen=True)
class ModelFile:
    source: str  # the path, or "in-memory"
    format: ModelFormat
    signature: ModelSignature
    tensors: ModelTensors | None = None  # layers and weight shapes for the size model; None where the files do not say
    keras_version: str | None = None
    notes: tuple[str, ...] = ()  # what reading it found out, for the user
    unusable: str | None = None  # why it cannot be quantized as it is (an already quantized .tflite), when so

    @property
    def family(self) -> str:
        return self.format.family

    @property
    def parameters(self) -> int | None:
        return self.signature.parameters
