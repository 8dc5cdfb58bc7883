"""`advisor verify` in the terminal: each goal then and now."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.models.verification import Verification


def _figure(value) -> str:
    return "not measured" if value is None else f"{value:g}"


def print_verification(found: Verification, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"advisor verify: {found.folder} ({found.scheme} on {found.hardware})")
    for column in ("goal", "limit", "then", "now", "status"):
        table.add_column(column)
    for check in found.goals:
        style = "red" if check.now_status == "fail" else ("yellow" if check.now_status == "not_measured" else "green")
        table.add_row(check.goal, str(check.limit), _figure(check.then), _figure(check.now), f"[{style}]{check.now_status}[/{style}]")
    table.add_row("hardware", found.hardware, _compatible(found.compatible_then), _compatible(found.compatible_now),
                  "[green]pass[/green]" if found.compatible_now is not False else "[red]fail[/red]")
    console.print(table)
    for problem in found.problems:
        console.print(f"  [red]{problem}[/red]")
    if found.error:
        console.print(f"[red]{found.error}[/red]")
    changed = {k: (v, found.packages_now.get(k)) for k, v in found.packages_then.items() if v != found.packages_now.get(k)}
    for name, (then, now) in changed.items():
        console.print(f"  {name}: {then} -> {now}")
    console.print("[bold green]every goal still holds[/bold green]" if found.holds
                  else "[bold red]a goal no longer holds[/bold red]")


def _compatible(value: bool | None) -> str:
    return "?" if value is None else ("compatible" if value else "not compatible")
