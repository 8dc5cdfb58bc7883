"""The library's objects in place of files: a Keras model (tf-keras or Keras 3, subclassed too) and
numpy arrays, dicts of arrays keyed by input name, or (inputs, y) pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.errors import DataError

SOURCE = "in-memory"


@dataclass(frozen=True)
class InMemory:
    model: Any = None
    representative: Any = None  # executor.data.Dataset
    train: Any = None
    eval: Any = None

    def dataset(self, role: str):
        return getattr(self, role)


def as_dataset(value, role: str, *, labelled: bool | None):
    """An array, a dict of arrays (with 'y' for labels) or an (inputs, y) pair as a checked Dataset."""
    from advisor.executor.data import LABELS, SINGLE_INPUT, Dataset, check_dataset

    if value is None:
        return None
    y = None
    if isinstance(value, tuple):
        if len(value) != 2:
            raise DataError(f"{role}: a tuple must be (inputs, y), not {len(value)} items")
        value, y = value
    if isinstance(value, dict):
        arrays = {str(k): np.asarray(v) for k, v in value.items()}
        y = arrays.pop(LABELS, y)
    else:
        arrays = {SINGLE_INPUT: np.asarray(value)}
    if y is not None:
        y = np.asarray(y)
    if labelled and y is None:
        raise DataError(f"{role}: labelled data needs labels: pass (inputs, y) or a dict with 'y'")
    return check_dataset(Dataset(arrays, y if labelled is not False else None, f"{SOURCE} {role}"), role)


def weight_bytes(model) -> int | None:
    """The float32 bytes of a Keras model object's weights (no TensorFlow import: it is already loaded)."""
    total = 0
    for weight in getattr(model, "weights", []):
        dtype = str(getattr(weight, "dtype", "float32"))
        if "float" in dtype:
            total += int(np.prod([int(d) for d in weight.shape])) * 4
    return total or None
