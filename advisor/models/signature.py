"""A model's signature: its inputs and outputs (name, per-sample shape, dtype), read once per model."""

from __future__ import annotations

import re

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def tensor_name(name: str) -> str:
    """The name an input or output carries in a converted .tflite's signature (letters, digits, _)."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"t_{cleaned}"


class TensorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The name data files and task.output use for it.")
    shape: tuple[int | None, ...] | None = Field(
        description="Per-sample shape (the batch dimension left out); null where dynamic, or wholly where the file "
        "does not say (a Keras output, before the model is loaded)."
    )
    dtype: str = Field(description="float32, int32, ...")
    kind: Literal["scores", "values"] | None = Field(
        None, description="Outputs: scores (a classifier's head: top-1 agreement, prediction change) or values "
        "(boxes, landmarks, embeddings, regression, audio frames); null where not known yet.")

    def shape_text(self) -> str:
        if self.shape is None:
            return "(N, unknown until loaded)"
        return "(N" + "".join(f", {'?' if d is None else d}" for d in self.shape) + ")"

    @property
    def class_scores(self) -> bool:
        """One score per class: a single axis of at least two values."""
        return self.shape is not None and len(self.shape) == 1 and (self.shape[0] or 0) >= 2



class ModelSignature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = Field(description="keras2, keras3, keras2-savedmodel, savedmodel or tflite.")
    keras_version: str | None = Field(None, description="The Keras version that saved it, where the file says.")
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    parameters: int | None = Field(None, description="Number of weight values (float variables, or the file's weights).")
    batch: int | None = Field(None, description="The batch size the model was saved with; null where it is dynamic.")

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

    def with_kinds(self, kinds: dict[str, str]) -> ModelSignature:
        """The signature with each named output's kind set."""
        outputs = tuple(o.model_copy(update={"kind": kinds[o.name]}) if o.name in kinds else o for o in self.outputs)
        return self.model_copy(update={"outputs": outputs})
