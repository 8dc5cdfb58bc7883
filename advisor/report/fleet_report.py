"""A fleet's results as a table of models by targets: fleet.md, fleet.png and the terminal."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from advisor.models.fleet import FleetPair, FleetResult


def cell(pair: FleetPair | None) -> str:
    """One pair in words: the chosen scheme, size and fidelity, or what failed."""
    if pair is None:
        return "not run"
    if pair.exit_code == 0:
        fidelity = f", {pair.fidelity:.1f} dB" if pair.fidelity is not None else ""
        size = f", {pair.size_bytes / 1e6:.3f} MB" if pair.size_bytes is not None else ""
        verified = {True: ", verified", False: ", NO LONGER HOLDS", None: ""}[pair.verified]
        return f"{pair.scheme}{size}{fidelity}{verified}" + (" (unchanged)" if pair.reused else "")
    if pair.exit_code == 4 and not pair.error:
        return "FAIL: " + (", ".join(pair.failed_goals) or "no attempt could be made") + (" (unchanged)" if pair.reused else "")
    return f"ERROR: {pair.error or 'exit ' + str(pair.exit_code)}"


def _grid(result: FleetResult, models: list[str], targets: list[str]) -> list[list[str]]:
    found = {(p.model, p.target): p for p in result.pairs}
    return [[cell(found.get((m, t))) for t in targets] for m in models]


def fleet_markdown(result: FleetResult, models: list[str], targets: list[str]) -> str:
    passed = sum(p.exit_code == 0 for p in result.pairs)
    lines = ["# advisor fleet", "",
             f"{passed} of {len(models) * len(targets)} pairs met every goal"
             + (f"; {sum(p.reused for p in result.pairs)} unchanged since the last run" if any(p.reused for p in result.pairs) else "")
             + ("; **interrupted**: the pairs not shown were not finished" if result.interrupted else "") + ".", "",
             "| model | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for model, row in zip(models, _grid(result, models, targets)):
        lines.append(f"| {model} | " + " | ".join(c.replace("|", "/") for c in row) + " |")
    lines += ["", "Each pair's folder (`<model>/<target>/`) holds its report.md and report.json."]
    return "\n".join(lines) + "\n"


def fleet_plot(result: FleetResult, models: list[str], targets: list[str]) -> bytes:
    """The table as a picture: green where a pair met every goal, red where it did not, grey for errors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = {(p.model, p.target): p for p in result.pairs}
    fig = plt.figure(figsize=(2.8 * len(targets) + 2, 0.8 * len(models) + 1.2), dpi=110)
    ax = fig.add_axes((0.15, 0.05, 0.84, 0.8))
    ax.set_xlim(0, len(targets))
    ax.set_ylim(0, len(models))
    ax.invert_yaxis()
    for row, model in enumerate(models):
        for column, target in enumerate(targets):
            pair = found.get((model, target))
            color = "#dddddd" if pair is None or pair.exit_code not in (0, 4) else ("#9be39b" if pair.exit_code == 0 else "#f3a0a0")
            ax.add_patch(plt.Rectangle((column, row), 1, 1, facecolor=color, edgecolor="white"))
            text = cell(pair)
            ax.text(column + 0.5, row + 0.5, text if len(text) < 48 else text[:45] + "...", ha="center", va="center", fontsize=7,
                    wrap=True)
    ax.set_xticks([c + 0.5 for c in range(len(targets))], targets)
    ax.xaxis.tick_top()
    ax.set_yticks([r + 0.5 for r in range(len(models))], models)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def print_fleet(result: FleetResult, models: list[str], targets: list[str], out: str, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title="advisor fleet")
    table.add_column("model")
    for target in targets:
        table.add_column(target)
    for model, row in zip(models, _grid(result, models, targets)):
        styled = [f"[green]{c}[/green]" if not c.startswith(("FAIL", "ERROR", "not run")) else f"[red]{c}[/red]" for c in row]
        table.add_row(model, *styled)
    console.print(table)
    if result.interrupted:
        console.print("[yellow]interrupted: the finished pairs are kept and recorded[/yellow]")
    console.print(f"fleet: {out}/fleet.md, {out}/fleet.json, {out}/fleet.png")
