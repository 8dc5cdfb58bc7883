"""`advisor inspect` in the terminal: the model's inputs and outputs, format and parameters."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from advisor.models.inspection import Inspection
from advisor.report.progress import terminal_console


def print_signature(signature: Inspection, path: str, console: Console | None = None) -> None:
    console = console or terminal_console()
    version = f", saved by Keras {signature.keras_version}" if signature.keras_version else ""
    parameters = f"; {signature.parameters:,} parameters" if signature.parameters else ""
    console.print(f"[bold]{path}[/bold]: {signature.format}{version}{parameters}")
    table = Table(header_style="bold")
    for column in ("", "name", "shape", "dtype", "kind"):
        table.add_column(column)
    for role, specs in (("input", signature.inputs), ("output", signature.outputs)):
        for spec in specs:
            table.add_row(role, spec.name, spec.shape_text(), spec.dtype, spec.kind or ("" if role == "input" else "?"))
    console.print(table)
    if signature.unusable:
        console.print(f"[red]advisor run refuses it:[/red] {signature.unusable}")
    for note in signature.notes:
        console.print(f"[dim]note: {note}[/dim]")
    predicted = getattr(signature, "predicted", None)
    if predicted:
        console.print("predicted .tflite size of each scheme, from the model's tensors (nothing converted):")
        sizes = Table(header_style="bold")
        for column in ("scheme", "size", "smaller by"):
            sizes.add_column(column, justify="left" if column == "scheme" else "right")
        for scheme, size in predicted.items():
            sizes.add_row(scheme, f"{size.size_bytes:,} B", f"{size.size_reduction:.1%}")
        console.print(sizes)
    names = ", ".join(signature.input_names)
    console.print(f"data files: an .npz with one array per input ({names})"
                  + (" or 'x'" if len(signature.inputs) == 1 else "") + ", and 'y' for labels")
