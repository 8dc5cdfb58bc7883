"""A model's signature: its inputs and outputs (name, per-sample shape, dtype), read once per model."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field


def tensor_name(name: str) -> str:
    """The name an input or output carries in a converted .tflite's signature (letters, digits, _)."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"t_{cleaned}"


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The name data files and task.output use for it.")
    shape: tuple[int | None, ...] = Field(description="Per-sample shape (the batch dimension left out); null where dynamic.")
    dtype: str = Field(description="float32, int32, ...")

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name} ({dims}) {self.dtype}"

    @property
    def class_scores(self) -> bool:
        """One score per class: a single axis of at least two values."""
        return len(self.shape) == 1 and (self.shape[0] or 0) >= 2


class ModelSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(description="keras2, keras3, keras2-savedmodel, savedmodel or tflite.")
    keras_version: str | None = Field(None, description="The Keras version that saved it, where the file says.")
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameters: int | None = Field(None, description="Number of weight values (float variables, or the file's weights).")

    def input(self, name: str) -> TensorSpec | None:
        return next((t for t in self.inputs if t.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((t for t in self.outputs if t.name == name), None)

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [t.name for t in self.outputs]
