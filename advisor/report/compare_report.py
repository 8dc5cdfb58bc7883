"""`advisor compare` rendered: a rich table, compare.md and compare.png (size against accuracy drop)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from advisor.engine.pareto import QUALITY, quality_axis, quality_of
from advisor.models.answers import Answers
from advisor.report.progress import terminal_console
from advisor.report.cells import WRAPPING, acc, budget_text, drop, fidelity, hardware, mb, ms, pct, verdict_text

COLUMNS = ["#", "scheme", "pre-steps", "size", "gzip", "reduction", "accuracy", "drop", "fidelity", "latency", "hardware",
           "verdict", "front", "pick"]
VERDICT = COLUMNS.index("verdict")


def _scheme(row) -> str:
    """The scheme, with the backend when the comparison tried several for it."""
    return f"{row.scheme} ({row.variant})" if row.variant else row.scheme


def rows(comparison) -> list[list[str]]:
    table = []
    if comparison.baseline is not None:
        b = comparison.baseline.metrics
        table.append(["base", "float32", "", mb(b.size_bytes), mb(b.gzip_bytes), "-", acc(b.accuracy), "-", "reference", ms(b), "-",
                      "baseline", "", ""])
    for i, r in enumerate(comparison.rows):
        m = r.metrics
        front = "●" if i in comparison.front else ""
        pick = "◀ pick" if i == comparison.pick else ""
        if m is None:
            table.append([str(i), _scheme(r), ",".join(r.pre_steps), "-", "-", "-", "-", "-", "-", "-", "-", verdict_text(r), front, pick])
            continue
        table.append([str(i), _scheme(r), ",".join(r.pre_steps), mb(m.size_bytes), mb(m.gzip_bytes), pct(m.size_reduction),
                      acc(m.accuracy), drop(m.accuracy_drop, m.accuracy_metric), fidelity(m), ms(m, r.hardware), hardware(r.hardware),
                      verdict_text(r), front, pick])
    return table


def print_comparison(comparison, out: str, console: Console | None = None) -> None:
    console = console or terminal_console()
    table = Table(title="advisor compare", header_style="bold")
    for column in COLUMNS:
        table.add_column(column, no_wrap=column not in WRAPPING)
    for row in rows(comparison):
        style = "green" if row[VERDICT].startswith("PASS") else "red" if row[VERDICT].startswith(("FAIL", "failed")) else None
        table.add_row(*row, style=style)
    console.print(table)
    console.print(f"Pareto front over {', '.join(comparison.objectives)}: " + ", ".join(comparison.rows[i].label for i in comparison.front))
    for finding in comparison.findings:
        console.print(f"[bold yellow]finding:[/bold yellow] {finding}")
    for row in comparison.rows:
        if row.error:
            console.print(f"[red]{row.label}[/red]: {row.error}")
        for warning in row.warnings:
            console.print(f"[yellow]{row.label}: warning:[/yellow] {warning}")
    if comparison.error:
        console.print(f"[bold red]nothing could be compared:[/bold red] {comparison.error}")
    if comparison.stopped_by_budget:
        console.print(f"[bold yellow]stopped by the budget:[/bold yellow] {budget_text(comparison)}")
    console.print(f"wrote {out}/compare.md, {out}/compare.json and {out}/compare.png")


def compare_markdown(comparison, answers: Answers) -> str:
    goals = answers.goals.model_dump(exclude_defaults=True)
    lines = [
        "# advisor compare",
        "",
        f"Hardware: **{answers.hardware}**; data: **{answers.data}**; goals: "
        + (", ".join(f"`{k}: {v}`" for k, v in goals.items()) or "none"),
        "",
        "![size against accuracy drop](compare.png)",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(c.replace("|", "/") or " " for c in row) + " |" for row in rows(comparison)]
    lines += ["", f"Pareto front (●) over {', '.join(comparison.objectives)}, lower is better in each: "
              + ", ".join(f"`{comparison.rows[i].label}`" for i in comparison.front) + "."]
    if comparison.pick is not None:
        lines.append(f"The recommendation would try `{comparison.rows[comparison.pick].label}` first (◀).")
    if comparison.stopped_by_budget:
        lines.append(f"**The comparison was stopped by its budget**: {budget_text(comparison)}.")
    if comparison.error:
        lines.append(f"**Nothing could be compared**: {comparison.error}.")
    if comparison.findings:
        lines += ["", "## Findings", ""] + [f"- {f}" for f in comparison.findings]
    errors = [f"- `{r.label}`: {r.error}" for r in comparison.rows if r.error]
    if errors:
        lines += ["", "## Could not be carried out", ""] + errors
    if comparison.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in comparison.notes]
    return "\n".join(lines) + "\n"


def _label_groups(ax, comparison, points) -> None:
    """One label per cluster of coinciding points, listing its schemes; labels staggered so they do not collide."""
    if not points:
        return
    width = (max(p[1] for p in points) - min(p[1] for p in points)) or 1.0
    height = (max(p[2] for p in points) - min(p[2] for p in points)) or 1.0
    groups: list[list] = []
    for point in sorted(points, key=lambda p: (p[1], p[2])):
        for group in groups:
            if abs(group[0][1] - point[1]) < 0.04 * width and abs(group[0][2] - point[2]) < 0.05 * height:
                group.append(point)
                break
        else:
            groups.append([point])
    from matplotlib.text import Text

    ax.figure.canvas.draw()  # fix the axes limits before measuring label boxes
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = [legend.get_window_extent(renderer) for legend in [ax.get_legend()] if legend is not None]
    candidates = sorted(((dx, dy) for dx in (10, -14, 90, -110, 170) for dy in (10, -28, 40, -58, 72, -90, 110, -130, 150, -170)),
                        key=lambda d: d[0] ** 2 + d[1] ** 2)
    for group in groups:
        text = ",".join(str(i) for i, _, _ in sorted(group))
        x = sum(p[1] for p in group) / len(group)
        y = sum(p[2] for p in group) / len(group)
        for dx, dy in candidates:
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7.5,
                               ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                               bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.7", "alpha": 0.9},
                               arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6})
            note.update_positions(renderer)
            box = Text.get_window_extent(note, renderer).padded(5)  # the text alone, not its leader line
            inside = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if inside and not any(box.overlaps(other) for other in placed):
                break
            note.remove()
        else:
            note = ax.annotate(text, (x, y), textcoords="offset points", xytext=candidates[0], fontsize=7.5)
            box = Text.get_window_extent(note, renderer)
        placed.append(box)


def _quality_text(value: float, axis: str) -> str:
    if axis == "accuracy_drop":
        return f"{value * 100:+.2f} pts"
    if axis == "prediction_change":
        return f"{value:.1%} changed"
    return f"SQNR {-value:.1f} dB"


def _scale(axis: str) -> float:
    return 100.0 if axis in ("accuracy_drop", "prediction_change") else 1.0


def _key(ax, comparison, compressed: bool, axis: str) -> None:
    """The legend of the numbers on the points: name, size, drop, and whether it meets every goal."""
    lines = [("#  ✓ meets every goal / ✗ misses one", "black")]
    for i, r in enumerate(comparison.rows):
        if r.metrics is None:
            lines.append((f"{i:>2} ✗ {r.label}: failed to run", "tab:red"))
            continue
        size = r.metrics.judged_size(compressed) / 1e6
        value = quality_of(r.metrics, axis)
        quality = "n/a" if value is None else _quality_text(value, axis)
        marks = (" ●" if i in comparison.front else "") + (" ★" if i == comparison.pick else "")
        lines.append((f"{i:>2} {'✓' if r.passed else '✗'} {r.label}: {size:.3f} MB, {quality}{marks}",
                      "tab:green" if r.passed else "tab:red"))
    size = max(5.5, min(9.0, 300 / max(len(lines), 1)))
    for n, (text, color) in enumerate(lines):
        ax.text(0.0, 1.0 - n * (size * 1.5) / 560, text, transform=ax.transAxes, fontsize=size, color=color,
                va="top", family="monospace", fontweight="bold" if n == 0 else "normal")


def compare_plot(comparison, answers: Answers) -> bytes:
    """A PNG readable without the table: one labelled point per scheme, the front joined, goal limits drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compressed = answers.goals.compressed_download
    axis = quality_axis(comparison.rows)
    if comparison.baseline is None:  # nothing was compared: a picture that says so
        fig = plt.figure(figsize=(8, 2), dpi=110)
        fig.text(0.02, 0.5, f"nothing compared: {comparison.error}"[:160], fontsize=9, color="tab:red", va="center")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        return buffer.getvalue()
    base = comparison.baseline.metrics
    base_size = base.judged_size(compressed) / 1e6
    fig = plt.figure(figsize=(14, 7), dpi=110)
    ax = fig.add_axes((0.06, 0.09, 0.56, 0.80))
    key = fig.add_axes((0.64, 0.09, 0.35, 0.80))
    key.axis("off")
    points = []
    for i, r in enumerate(comparison.rows):
        if r.metrics is None:
            continue
        size = r.metrics.judged_size(compressed) / 1e6
        value = quality_of(r.metrics, axis)
        height = (value if value is not None else 0.0) * _scale(axis)
        points.append((i, size, height))
        on_front = i in comparison.front
        ax.scatter(size, height, s=110 if on_front else 40, color="tab:green" if r.passed else "tab:red",
                   edgecolors="black" if on_front else "none", linewidths=1.2, zorder=3,
                   marker="*" if i == comparison.pick else "o")
    if axis != "noise_db":
        ax.scatter(base_size, 0.0, s=45, color="tab:gray", zorder=3)
        ax.annotate("float32 baseline", (base_size, 0.0), textcoords="offset points", xytext=(6, 5), fontsize=8, color="tab:gray")
    front = sorted((p for p in points if p[0] in comparison.front), key=lambda p: p[1])
    if len(front) > 1:
        ax.plot([p[1] for p in front], [p[2] for p in front], color="tab:blue", linewidth=1.2, zorder=2, label="Pareto front")
    goals = answers.goals
    if goals.max_prediction_change is not None and axis == "prediction_change":
        ax.axhline(goals.max_prediction_change * 100, color="tab:orange", linestyle="--",
                   label=f"max prediction change {goals.max_prediction_change:.1%}")
    if goals.min_sqnr_db is not None and axis == "noise_db":
        ax.axhline(-goals.min_sqnr_db, color="tab:orange", linestyle="--", label=f"min SQNR {goals.min_sqnr_db:g} dB")
    if goals.max_accuracy_drop is not None and axis == "accuracy_drop":
        ax.axhline(goals.max_accuracy_drop * 100, color="tab:orange", linestyle="--", label=f"max accuracy drop {goals.max_accuracy_drop * 100:g} pts")
    if goals.max_size_mb is not None:
        ax.axvline(goals.max_size_mb, color="tab:purple", linestyle="--", label=f"max size {goals.max_size_mb:g} MB")
    if goals.min_size_reduction is not None:
        limit = base_size * (1 - goals.min_size_reduction)
        ax.axvline(limit, color="tab:brown", linestyle=":", label=f"{goals.min_size_reduction:.0%} smaller than float32")
    ax.set_xlabel(("gzip-compressed " if compressed else "") + "size (MB)")
    ax.set_ylabel(QUALITY[axis] + (" (points" if axis == "accuracy_drop" else " (%" if axis == "prediction_change" else " (")
                  + "; lower is better)")
    ax.set_title(f"advisor compare on {answers.hardware}: green meets every goal, red misses one;\n"
                 f"● on the Pareto front ({', '.join(comparison.objectives)}), ★ the recommendation", fontsize=10)
    ax.margins(x=0.15, y=0.25)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize=8)
    _key(key, comparison, compressed, axis)
    _label_groups(ax, comparison, points)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
