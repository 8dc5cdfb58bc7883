"""`advisor inspect`: a model read from its files (opened once, never importing TensorFlow), with the
predicted .tflite size of each scheme."""

from __future__ import annotations

from pathlib import Path

from advisor.engine.size_model import convert
from advisor.models.inspection import Inspection
from advisor.models.recommendation import PredictedSize
from advisor.pipeline.recommend import facts_of
from advisor.reading import read_model


def inspect(path: str | Path, rules) -> Inspection:
    found = read_model(path)
    facts = None if found.unusable else facts_of(found, rules)
    predicted = {scheme: PredictedSize(size_bytes=size, size_reduction=round(facts.reduction_of(scheme), 4))
                 for scheme, size in facts.predicted} if facts is not None and facts.predicted else {}
    folded = convert(found.tensors).folded if predicted and found.tensors is not None else None
    notes = [*found.notes, *(facts.notes if facts is not None else ())]
    return Inspection(**found.signature.model_dump(), predicted=predicted, folded_normalizations=folded, notes=notes,
                      unusable=found.unusable)
