"""The recommendation as a rich panel."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from advisor.models.recommendation import Recommendation
from advisor.report.progress import terminal_console


def recommendation_panel(rec: Recommendation) -> Panel:
    parts = []
    if rec.feasible:
        head = Text.assemble(("Use ", "bold"), (rec.scheme, "bold green"))
        if rec.pre_steps:
            head.append(f"  after {' then '.join(rec.pre_steps)}", style="green")
        parts.append(head)
        exp = rec.expected
        size = (f"about {_bytes(exp.size_bytes)} on this model ({exp.size_reduction:.0%} smaller)"
                if exp.size_bytes is not None else f"up to {exp.max_size_reduction:.0%} smaller")
        parts.append(
            Text(
                f"expected: {size}, {exp.accuracy} "
                f"(~{exp.accuracy_drop * 100:g} pts); runs on {', '.join(exp.hardware)}"
            )
        )
        if rec.fallbacks:
            parts.append(Text(f"fallbacks, in order: {' -> '.join(rec.fallbacks)}", style="cyan"))
        by: dict[str, list[str]] = {}
        for scheme, backend in rec.backends.items():
            by.setdefault(backend, []).append(scheme)
        if by:
            parts.append(Text("carried out by: " + "; ".join(f"{b} ({', '.join(s)})" for b, s in by.items()), style="dim"))
    else:
        parts.append(Text("No scheme can meet these answers.", style="bold red"))
        needs = Table.grid(padding=(0, 1))
        for need in rec.needs:
            needs.add_row("•", need)
        parts += [Text("What would change that:", style="bold"), needs]

    why = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), expand=True)
    why.add_column("rule", style="magenta", no_wrap=True)
    why.add_column("because")
    for reason in rec.rationale:
        why.add_row(reason.rule, reason.because)
    parts += [Text(""), Text("Why", style="bold"), why]

    others = [a for a in rec.alternatives if a.status != "fallback"]
    if others:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), expand=True)
        table.add_column("not chosen", style="yellow", no_wrap=True)
        table.add_column("reason")
        table.add_column("would change it")
        for alt in others:
            table.add_row(alt.scheme, alt.reason, alt.would_change or "")
    predicted = [a for a in rec.alternatives if a.expected is not None and a.expected.size_bytes is not None]
    if predicted:
        sizes = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
        sizes.add_column("predicted on this model", style="cyan", no_wrap=True)
        sizes.add_column("size", justify="right")
        sizes.add_column("smaller by", justify="right")
        for alt in predicted:
            sizes.add_row(alt.scheme, _bytes(alt.expected.size_bytes), f"{alt.expected.size_reduction:.0%}")
        parts += [Text(""), sizes]
        parts += [Text(""), table]
    for warning in rec.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    title = "advisor recommendation" if rec.feasible else "advisor: infeasible"
    return Panel(Group(*parts), title=title, border_style="green" if rec.feasible else "red")


def _bytes(count: int) -> str:
    return f"{count / 1e6:.2f} MB" if count >= 1e6 else f"{count / 1e3:.1f} kB"


def print_recommendation(rec: Recommendation, console: Console | None = None) -> None:
    (console or terminal_console()).print(recommendation_panel(rec))
