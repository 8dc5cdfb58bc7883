"""A data set bound for a model: one array per input (every one with the same first dimension) and,
for labelled data, `y`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    inputs: dict[str, np.ndarray]  # one array per model input, every one with the same first dimension
    y: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def x(self) -> np.ndarray:
        """The inputs of a single-input dataset."""
        if len(self.inputs) != 1:
            raise ValueError(f"{self.source}: {len(self.inputs)} inputs; use .inputs")
        return next(iter(self.inputs.values()))

    def take(self, count: int, start: int = 0) -> Dataset:
        """Rows start..start+count (labels too)."""
        end = start + count
        return Dataset({k: v[start:end] for k, v in self.inputs.items()},
                       None if self.y is None else self.y[start:end], self.source)

    def unlabelled(self, source: str | None = None) -> Dataset:
        return Dataset(self.inputs, None, source or self.source)

    def row(self, index: int) -> dict[str, np.ndarray]:
        """One sample as a batch of one, per input."""
        return {k: v[index : index + 1] for k, v in self.inputs.items()}
