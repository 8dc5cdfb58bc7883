"""The Pareto front of a comparison over (size, quality, latency), and its quality axis: the accuracy
drop where labels exist, else fidelity against float32. Pure."""

from __future__ import annotations

from advisor.models.report import Attempt, Metrics

QUALITY = {  # the accuracy axis, by what could be measured: (label, lower is better)
    "accuracy_drop": "accuracy drop vs float32",
    "prediction_change": "share of inputs whose top-1 class changed vs float32",
    "noise_db": "quantization noise: minus the worst output's SQNR vs float32 (dB)",
}


def quality_axis(rows: list[Attempt]) -> str:
    """The accuracy drop where labels exist; without them, fidelity against float32."""
    measured = [r.metrics for r in rows if r.metrics is not None]
    if any(m.accuracy_drop is not None for m in measured):
        return "accuracy_drop"
    if any(m.fidelity and m.fidelity.prediction_change is not None for m in measured):
        return "prediction_change"
    return "noise_db"


def quality_of(metrics: Metrics | None, axis: str) -> float | None:
    if metrics is None:
        return None
    if axis == "accuracy_drop":
        return metrics.accuracy_drop
    if metrics.fidelity is None:
        return None
    if axis == "prediction_change":
        return metrics.fidelity.prediction_change
    return -metrics.fidelity.worst_sqnr_db if metrics.fidelity.worst_sqnr_db is not None else None


def objectives_of(row: Attempt, compressed: bool, axis: str = "accuracy_drop") -> dict[str, float | None]:
    m = row.metrics
    return {
        "size": m.judged_size(compressed) if m else None,
        axis: quality_of(m, axis),
        "latency_ms": m.latency_ms if m else None,
    }


def pareto_front(points: list[dict[str, float | None]]) -> tuple[list[int], list[str]]:
    """Indexes of the points no other point dominates (lower is better in every objective).

    Objectives some point lacks are left out for all; points with no objectives are never on it."""
    if not points:
        return [], []
    names = [k for k in points[0] if all(p.get(k) is not None for p in points if any(v is not None for v in p.values()))]
    valid = [i for i, p in enumerate(points) if all(p.get(k) is not None for k in names) and names]
    front = []
    for i in valid:
        dominated = any(
            all(points[j][k] <= points[i][k] for k in names) and any(points[j][k] < points[i][k] for k in names)
            for j in valid
            if j != i
        )
        if not dominated:
            front.append(i)
    return front, names
