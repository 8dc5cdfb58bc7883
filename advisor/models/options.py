"""Knobs for carrying out a scheme; every one has a sensible default and a CLI flag."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RunOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(3, ge=1, le=1000, description="Fine-tuning epochs for QAT, pruning and clustering.")
    batch_size: int = Field(32, ge=1, le=65536, description="Fine-tuning batch size.")
    learning_rate: float = Field(1e-4, gt=0, lt=1, description="Adam learning rate for fine-tuning.")
    sparsity: float = Field(0.5, gt=0, lt=1, description="Pruning's target fraction of zero weights.")
    clusters: int = Field(16, ge=2, le=256, description="Clusters per weight tensor for clustering.")
    representative_limit: int = Field(500, ge=1, description="Largest representative sample used for calibration.")
    latency_runs: int = Field(50, ge=0, description="Timed invokes for the latency median and p90 (0: not measured).")
    threads: int | None = Field(None, ge=1, description="Interpreter threads for latency (default: all cores).")
    scheme: str | None = Field(None, description="Try this scheme first; the recommended ladder continues after it.")
    pre_steps: list[str] | None = Field(None, description="Pre-steps to run before quantizing, instead of the recommended ones.")
    backend: str | None = Field(None, description="Carry every scheme out with this backend where it has an implementation (converter, quantizer).")
    workers: int | None = Field(None, ge=1, le=64, description="Worker processes making attempts at once (default: one per "
                                "two cores, at least one).")


def default_workers() -> int:
    """One worker per two cores, at least one: each attempt's TensorFlow uses the cores it is given."""
    import os

    return max(1, (os.cpu_count() or 2) // 2)
