"""One verdict per goal, from measured metrics. Pure: no I/O. A goal that was not measured is
`not_measured`, never `pass`."""

from __future__ import annotations

from advisor.models.answers import Goals
from advisor.models.report import HardwareReport, Metrics, Verdict


def verdicts(goals: Goals, metrics: Metrics, *, latency_answers_goal: bool, hardware: str,
             estimate: tuple[float | None, str | None] = (None, None),
             hardware_report: HardwareReport | None = None) -> list[Verdict]:
    """One verdict per goal. `estimate`: a compiler's latency estimate for the target (Vela's) and
    who made it; it answers a latency goal where the host's CPU cannot. `hardware_report` says why a
    goal measured on the target (working memory) could not be."""
    result = []
    if goals.min_size_reduction is not None:
        result.append(
            _at_least("min_size_reduction", goals.min_size_reduction, metrics.size_reduction, "no baseline to compare with")
        )
    if goals.max_size_mb is not None:
        size = metrics.judged_size(goals.compressed_download) / 1e6
        result.append(_at_most("max_size_mb", goals.max_size_mb, round(size, 6), None))
    if goals.max_accuracy_drop is not None:
        result.append(
            _at_most(
                "max_accuracy_drop",
                goals.max_accuracy_drop,
                metrics.accuracy_drop,
                "no labelled evaluation data (inputs.eval) to measure accuracy on",
            )
        )
    if goals.max_latency_ms is not None:
        estimated_ms, estimated_by = estimate
        if estimated_ms is not None:
            verdict = _at_most("max_latency_ms", goals.max_latency_ms, estimated_ms, None)
            result.append(verdict.model_copy(update={"reason": estimated_by}))
        elif not latency_answers_goal:
            result.append(
                Verdict(
                    goal="max_latency_ms",
                    limit=goals.max_latency_ms,
                    measured=None,
                    status="not_measured",
                    reason=f"latency is measured on this host's CPU, which says nothing about {hardware}; "
                    f"{metrics.latency_ms:.3f} ms here is shown for reference" if metrics.latency_ms is not None
                    else f"latency on {hardware} cannot be measured on this host",
                )
            )
        else:
            result.append(_at_most("max_latency_ms", goals.max_latency_ms, metrics.latency_ms, "latency was not measured"))
    fidelity = metrics.fidelity
    if goals.min_sqnr_db is not None:
        result.append(_at_least("min_sqnr_db", goals.min_sqnr_db, fidelity.worst_sqnr_db if fidelity else None,
                                "no inputs (inputs.eval or inputs.representative) to compare the outputs with float32's on"))
    if goals.max_prediction_change is not None:
        if fidelity is None:
            why = "no inputs (inputs.eval or inputs.representative) to compare the outputs with float32's on"
        else:
            values = ", ".join(f"'{name}'" for name, o in fidelity.outputs.items() if o.kind != "scores")
            why = (f"no output is class scores ({values} hold values: boxes, landmarks, embeddings or regression), so no "
                   "class can change; task.outputs: {NAME: scores} marks an output that classifies")
        result.append(_at_most("max_prediction_change", goals.max_prediction_change,
                               fidelity.prediction_change if fidelity else None, why))
    if goals.max_ram_kb is not None:
        ram = metrics.ram_bytes / 1024 if metrics.ram_bytes is not None else None
        result.append(_at_most("max_ram_kb", goals.max_ram_kb, round(ram, 3) if ram is not None else None,
                               _why_no_ram(hardware, hardware_report)))
    return result


def _why_no_ram(hardware: str, report: HardwareReport | None) -> str:
    """The true cause of an unmeasured working memory: the target's tool could not run or compile the model,
    is not installed, or the target has no such measurement."""
    if report is not None:
        for problem in report.problems:
            if "Microcontrollers interpreter cannot run" in problem.reason or problem.reason.startswith("Vela could not"):
                return f"not measured: {problem.reason}"
        for text in (*report.notes, *report.warnings):
            if "install" in text and ("tflite-micro" in text or "Vela" in text):
                return f"not measured: {text}"
    return (f"working memory is not measured for {hardware}: only the microcontroller interpreter's tensor arena and "
            "Vela's SRAM for the Ethos-U targets are")


def passed(verdict_list: list[Verdict], hardware: HardwareReport | None, *, strict: bool = False) -> bool:
    """No goal failed and the target can run it; with `strict`, no goal was left unmeasured either."""
    failing = {"fail", "not_measured"} if strict else {"fail"}
    return all(v.status not in failing for v in verdict_list) and (hardware is None or hardware.compatible)


def _at_least(goal: str, limit: float, measured: float | None, why_missing: str | None) -> Verdict:
    if measured is None:
        return Verdict(goal=goal, limit=limit, measured=None, status="not_measured", reason=why_missing)
    return Verdict(goal=goal, limit=limit, measured=measured, status="pass" if measured + 1e-12 >= limit else "fail")


def _at_most(goal: str, limit: float, measured: float | None, why_missing: str | None) -> Verdict:
    if measured is None:
        return Verdict(goal=goal, limit=limit, measured=None, status="not_measured", reason=why_missing)
    return Verdict(goal=goal, limit=limit, measured=measured, status="pass" if measured <= limit + 1e-12 else "fail")


def size_reduction(goals: Goals, metrics: Metrics, baseline: Metrics) -> float:
    """The fraction of the baseline's size removed, on the size the goals are judged on."""
    compressed = goals.compressed_download
    return round(1 - metrics.judged_size(compressed) / baseline.judged_size(compressed), 4)


def size_holds(goals: Goals, metrics: Metrics, baseline: Metrics) -> bool:
    """Whether a candidate's size meets the size goals (raw or compressed, as the goals say)."""
    if goals.min_size_reduction is not None and size_reduction(goals, metrics, baseline) + 1e-12 < goals.min_size_reduction:
        return False
    return goals.max_size_mb is None or metrics.judged_size(goals.compressed_download) / 1e6 <= goals.max_size_mb + 1e-12
