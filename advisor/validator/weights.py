"""What pruning and clustering left in the delivered file: sparsity and unique weight values, read
from the .tflite's weight tensors (not from the Keras model they came from)."""

from __future__ import annotations

import numpy as np

from advisor.models.report import StepFindings
from advisor.reading.tflite import weights


def weight_statistics(content: bytes) -> StepFindings:
    """`sparsity`: the fraction of stored weight values that are zero; `unique_weights`: per weight
    tensor, the number of distinct values (per output channel, the largest, for per-channel
    quantized tensors, whose channels each have their own scale)."""
    tensors = weights(content)
    total = sum(w.values.size for w in tensors)
    if not total:
        return StepFindings()
    zeros = sum(int((w.values == 0).sum()) for w in tensors)
    return StepFindings(sparsity=round(zeros / total, 4), unique_weights={w.name: _unique(w) for w in tensors})


def _unique(weight) -> int:
    # Counted on the raw bits: numpy 2.4's unique() returns repeated float16 values.
    values = weight.values.view(f"u{weight.values.itemsize}")
    if weight.channel_axis is None:
        return int(np.unique(values).size)
    channels = np.moveaxis(values, weight.channel_axis, 0)
    return max(int(np.unique(channel).size) for channel in channels)
