"""`advisor check`'s terminal output."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.models.report import HardwareReport
from advisor.report.progress import terminal_console

WRAPPING = {"reason"}  # identifiers and numbers are never broken across lines


def print_hardware_report(report: HardwareReport, name: str, console: Console | None = None) -> None:
    console = console or terminal_console()
    verdict = "[green]compatible[/green]" if report.compatible else f"[red]not compatible[/red] ({len(report.problems)} problem(s))"
    console.print(f"{name} on [bold]{report.hardware}[/bold]: {verdict}, {report.ops} ops")
    if report.problems:
        table = Table(header_style="bold")
        for column in ("op #", "op", "reason"):
            table.add_column(column, no_wrap=column not in WRAPPING)
        for p in report.problems:
            table.add_row("-" if p.index is None else str(p.index), p.op, p.reason)
        console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    for n in report.notes:
        console.print(f"[dim]note: {n}[/dim]")
