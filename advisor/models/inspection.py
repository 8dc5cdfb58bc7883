"""What `advisor inspect` prints: a model's signature with what reading it found out."""

from __future__ import annotations

from pydantic import Field

from advisor.models.recommendation import PredictedSize
from advisor.models.signature import ModelSignature


class Inspection(ModelSignature):
    predicted: dict[str, PredictedSize] = Field(
        default_factory=dict, description="Scheme -> its .tflite size predicted from the model's tensors (empty when unreadable).")
    folded_normalizations: int | None = Field(None, description="Batch normalizations the converter folds into the layer before them.")
    notes: list[str] = Field(default_factory=list, description="What reading the model found out (repairs a .tflite needs, "
                             "what the size prediction could not see).")
    unusable: str | None = Field(None, description="Why advisor run would refuse the model as it is, when it would.")
