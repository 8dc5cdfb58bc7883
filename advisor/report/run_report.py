"""The run report as a rich table (terminal) and as Markdown (report.md): the same rows."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.models.answers import Answers
from advisor.models.report import Attempt, HardwareReport, Metrics, Report, StepFindings
from advisor.report.cells import (RUN_COLUMNS as COLUMNS, WRAPPING, acc, budget_text, drop, fidelity, hardware, mb, ms,
                                  pct, unverified, verdict_text)
from advisor.report.progress import terminal_console

def rows(report: Report) -> list[list[str]]:
    result = []
    if report.baseline:
        b = report.baseline.metrics
        result.append(["base", "float32", "", mb(b.size_bytes), "-", acc(b.accuracy), "-", "reference", ms(b), "-", "baseline"])
    for i, a in enumerate(report.attempts):
        m = a.metrics
        mark = "*" if report.chosen == i else str(i)
        if m is None:
            result.append([mark, a.scheme, ",".join(a.pre_steps), "-", "-", "-", "-", "-", "-", "-", verdict_text(a)])
            continue
        result.append(
            [mark, a.scheme, ",".join(a.pre_steps), mb(m.size_bytes), pct(m.size_reduction), acc(m.accuracy),
             drop(m.accuracy_drop, m.accuracy_metric), fidelity(m), ms(m, a.hardware), hardware(a.hardware), verdict_text(a)]
        )
    return result


def print_report(report: Report, out: str, console: Console | None = None) -> None:
    console = console or terminal_console()
    table = Table(title="advisor run", header_style="bold")
    for column in COLUMNS:
        table.add_column(column, no_wrap=column not in WRAPPING)
    for row in rows(report):
        style = "green" if row[-1].startswith("PASS") else "red" if row[-1].startswith(("FAIL", "failed")) else None
        table.add_row(*row, style=style)
    console.print(table)
    if report.error:
        console.print(f"[bold red]nothing could be attempted:[/bold red] {report.error}")
    for i, a in enumerate(report.attempts):
        if a.error:
            console.print(f"[red]{a.label}[/red]: {a.error}")
        for warning in a.warnings:
            console.print(f"[yellow]{a.label}: warning:[/yellow] {warning}")
        if a.hardware and a.hardware.problems:
            first = a.hardware.problems[0]
            more = f" (and {len(a.hardware.problems) - 1} more in report.md)" if len(a.hardware.problems) > 1 else ""
            where = f"op {first.index} " if first.index is not None else ""
            console.print(f"[yellow]{a.scheme}[/yellow] on {a.hardware.hardware}: {where}{first.op}: {first.reason}{more}")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if report.stopped_by_budget:
        console.print(f"[bold yellow]stopped by the budget:[/bold yellow] {budget_text(report)}")
    if report.chosen is not None:
        chosen = report.attempts[report.chosen]
        console.print(f"[bold green]wrote {out}/model.tflite[/bold green] ({chosen.scheme}); report: {out}/report.md, {out}/report.json")
        if unverified(chosen):
            console.print(f"[yellow]exit 0 with {len(unverified(chosen))} goal(s) unverified: {', '.join(unverified(chosen))} "
                          "could not be measured; --strict (strict: true) makes that a failure[/yellow]")
    else:
        console.print(f"[bold red]no attempt met every goal[/bold red]; report: {out}/report.md, {out}/report.json")


def markdown_report(report: Report, answers: Answers) -> str:
    lines = ["# advisor run report", ""]
    rec = report.recommendation
    lines += [
        f"Hardware: **{answers.hardware}**; data: **{answers.data}**; goals: "
        + (", ".join(f"`{k}: {v}`" for k, v in answers.goals.model_dump(exclude_defaults=True).items()) or "none"),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell.replace("|", "/") or " " for cell in row) + " |" for row in rows(report)]
    lines.append("")
    if report.chosen is not None:
        chosen = report.attempts[report.chosen]
        lines.append(f"**model.tflite** is attempt {report.chosen}: `{chosen.scheme}`.")
        if unverified(chosen):
            lines.append(f"**Unverified:** {', '.join(unverified(chosen))} could not be measured, so this model meets "
                         "every goal that was measured, not every goal; `--strict` makes an unmeasured goal fail.")
    else:
        lines.append("**No attempt met every goal**; no model.tflite was written.")
    if report.error:
        lines.append(f"**Nothing could be attempted**: {report.error}.")
    if report.stopped_by_budget:
        lines.append(f"**The search was stopped by its budget**: {budget_text(report)}.")
    metric = next((a.metrics.accuracy_metric for a in report.attempts if a.metrics and a.metrics.accuracy_metric), None)
    if metric:
        lines.append(f"Accuracy is {metric} on the evaluation data, run through the LiteRT interpreter.")
    lat = report.baseline.metrics if report.baseline else None
    if lat and lat.latency_ms is not None:
        lines.append(f"Latency is the median of {report.environment.get('options', {}).get('latency_runs', '?')} single-input invokes on this host's CPU with {lat.latency_threads} thread(s).")
    estimated = next((a.hardware.estimated_by for a in report.attempts if a.hardware and a.hardware.estimated_by), None)
    if estimated:
        lines.append(f"The attempts' latency marked (Vela) is {estimated}, not measured here.")
    lines += ["", "## Verdicts", ""]
    for i, a in enumerate(report.attempts):
        by = f" (by {a.backend})" if a.backend else ""
        lines.append(f"### {i}. {'+'.join([*a.pre_steps, a.scheme])}{by}: {verdict_text(a)}")
        if a.error:
            lines.append(f"- **failed**: {a.error}")
        for warning in a.warnings:
            lines.append(f"- **warning**: {warning}")
        if a.weights_by_dtype:
            lines.append("- weights as stored: " + ", ".join(f"{dtype} {size:,} B" for dtype, size in a.weights_by_dtype.items()))
        for v in a.verdicts:
            measured = "not measured" if v.measured is None else f"{v.measured:g}"
            reason = f" ({v.reason})" if v.reason else ""
            lines.append(f"- `{v.goal}`: limit {v.limit}, measured {measured}: **{v.status}**{reason}")
        if a.metrics and a.metrics.fidelity:
            f = a.metrics.fidelity
            where = " (the calibration data itself)" if f.calibration_data else ""
            lines.append(f"- fidelity against float32 on {f.inputs}{where}:")
            for name, o in f.outputs.items():
                agreement = f", top-1 agreement {o.top1_agreement:.2%}" if o.top1_agreement is not None else ""
                if o.decision_agreement is not None:
                    agreement = f", decisions unchanged {o.decision_agreement:.2%}"
                relative = f", relative error {o.relative_error:.3g}" if o.relative_error is not None else ""
                lines.append(f"  - `{name}` ({o.kind or 'unknown kind'}): SQNR {o.sqnr_db:g} dB, cosine {o.cosine}, max abs error "
                             f"{o.max_abs_error:g}{relative}{agreement}")
        for note in a.notes:
            lines.append(f"- note: {note}")
        lines += recovery_lines(a.recovery)
        found = a.metrics.model_dump(include=set(StepFindings.model_fields) - {"recovery"}, exclude_none=True) if a.metrics else {}
        for key, value in found.items():
            lines.append(f"- {key}: {value}")
        if a.hardware:
            h = a.hardware
            lines.append(f"- hardware ({h.hardware}): {'compatible' if h.compatible else 'not compatible'}, {h.ops} ops")
            for p in h.problems:
                where = f"op {p.index} " if p.index is not None else ""
                lines.append(f"  - {where}`{p.op}`: {p.reason}")
            for w in h.warnings:
                lines.append(f"  - warning: {w}")
            for n in h.notes:
                lines.append(f"  - note: {n}")
        lines.append("")
    lines += ["## Why this ladder", ""]
    lines += [f"- **{r.rule}**: {r.because}" for r in rec.rationale]
    if rec.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in rec.warnings]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    env = report.environment
    if env:
        lines += ["", "## Environment", "", f"- Python {env.get('python')} on {env.get('machine')}, {env.get('cpus')} CPUs"]
        lines += [f"- {k} {v}" for k, v in env.get("packages", {}).items()]
    return "\n".join(lines) + "\n"


def recovery_lines(records) -> list[str]:
    """What each recovery step did, before and after, as report.md lines."""
    if not records:
        return []
    lines = ["- recovery steps (full integer on the representative inputs, before -> after the step):"]
    for r in records:
        def pair(key, fmt):
            before, after = r.before.get(key), r.after.get(key)
            return f"{fmt(before)} -> {fmt(after)}" if before is not None or after is not None else "not measured"

        db = lambda v: "?" if v is None else f"{v:.1f} dB"  # noqa: E731
        share = lambda v: "?" if v is None else f"{v:.2%}"  # noqa: E731
        float_check = f"float model kept at {r.float_sqnr_db:.0f} dB; " if r.float_sqnr_db is not None else ""
        lines.append(f"  - `{r.step}`: {float_check}worst SQNR {pair('sqnr_db', db)}, top-1 changed "
                     f"{pair('prediction_change', share)}; {len(r.layers)} layer(s), {r.seconds:g} s")
    return lines
