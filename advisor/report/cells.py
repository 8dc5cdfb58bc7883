"""The cells the run report and the comparison share: sizes, shares, accuracy, fidelity, latency,
hardware and verdicts, as text (the same in the terminal and in Markdown)."""

from __future__ import annotations

from advisor.models.report import Attempt, HardwareReport, Metrics

# Only these columns wrap, at spaces; identifiers and numbers are never broken across lines.
WRAPPING = {"verdict", "fidelity"}
RUN_COLUMNS = ["#", "scheme", "pre-steps", "size", "reduction", "accuracy", "drop", "fidelity", "latency", "hardware", "verdict"]


def mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.3f} MB"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def acc(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def drop(x: float | None, metric: str | None = None) -> str:
    if x is None:
        return "-"
    return f"{x:+.4g}" if metric and "error" in metric else f"{x * 100:+.2f} pts"


def fidelity(m: Metrics) -> str:
    """The worst output's SQNR and, for class scores, the share of inputs whose top-1 class changed."""
    f = m.fidelity
    if f is None:
        return "-"
    parts = [f"{f.worst_sqnr_db:.1f} dB"] if f.worst_sqnr_db is not None else []
    if f.prediction_change is not None:
        parts.append(f"{f.prediction_change:.1%} changed")
    return ", ".join(parts) or "-"


def unverified(attempt: Attempt) -> list[str]:
    return [v.goal for v in attempt.verdicts if v.status == "not_measured"]


def ms(m: Metrics, hardware: HardwareReport | None = None) -> str:
    """The target's latency where a compiler estimated it (Vela), else this host's measured one."""
    if hardware is not None and hardware.estimated_ms is not None:
        return f"{hardware.estimated_ms:.3f} ms (Vela)"
    return "-" if m.latency_ms is None else f"{m.latency_ms:.3f} ms"


def hardware(h: HardwareReport | None) -> str:
    if h is None:
        return "-"
    return "ok" if h.compatible else f"{len(h.problems)} problem(s)"


def verdict_text(attempt: Attempt) -> str:
    if attempt.error:
        return "failed to run"
    failed = [v.goal for v in attempt.verdicts if v.status == "fail"]
    if attempt.hardware is not None and not attempt.hardware.compatible:
        failed.append("hardware")
    missing = unverified(attempt)
    if attempt.passed:
        text = "PASS"
    elif failed:
        text = "FAIL: " + ", ".join(failed)
    else:
        return f"FAIL (strict): unverified: {', '.join(missing)}"
    if missing:
        text += f" (unverified: {', '.join(missing)})"
    return text


def budget_text(report) -> str:
    untried = f"; not tried: {', '.join(report.untried)}" if report.untried else ""
    return f"{report.stopped_by_budget}{untried}"
