"""Progress bars for long work (calibration, fine-tuning epochs, conversions, measurements).

The executor and validator talk to a `Progress` with two calls, `task(description, total)` and
the task's `advance` / `finish`; `NullProgress` does nothing (library use and tests).
The rich console writes to its own duplicate of the terminal, so quieting TensorFlow's native
output (which redirects file descriptors 1 and 2) never hides the bars.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgressBars, SpinnerColumn, TextColumn, TimeElapsedColumn


class NullTask:
    def advance(self, amount: float = 1, status: str | None = None) -> None:
        pass

    def finish(self, status: str | None = None) -> None:
        pass


class NullProgress:
    def task(self, description: str, total: float | None = None) -> NullTask:
        return NullTask()

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class _RichTask:
    def __init__(self, bars: RichProgressBars, task_id, total):
        self._bars, self._id, self._total = bars, task_id, total

    def advance(self, amount: float = 1, status: str | None = None) -> None:
        fields = {"status": status} if status is not None else {}
        self._bars.update(self._id, advance=amount, **fields)

    def finish(self, status: str | None = None) -> None:
        fields = {"status": status} if status is not None else {}
        if self._total is None:
            self._bars.update(self._id, total=1, completed=1, **fields)
        else:
            self._bars.update(self._id, completed=self._total, **fields)


LOG_WIDTH = 200  # through a pipe or in CI logs: wide enough that tables keep their words whole


def log_width() -> int | None:
    """None on a terminal (rich measures it); elsewhere COLUMNS, or a generous default."""
    if sys.stdout.isatty():
        return None
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return LOG_WIDTH


def terminal_console(stderr: bool = False) -> Console:
    """A console on a duplicate of stdout (or stderr), immune to file-descriptor redirection."""
    stream = sys.stderr if stderr else sys.stdout
    try:
        fd = os.dup(stream.fileno())
        handle = os.fdopen(fd, "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured in tests)
        handle = stream
    return Console(file=handle, width=log_width())


class RichProgress:
    def __init__(self, console: Console | None = None):
        self.console = console or terminal_console()
        self._bars = RichProgressBars(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}", style="cyan"),
            console=self.console,
            transient=False,
        )
        self._bars.start()

    def task(self, description: str, total: float | None = None) -> _RichTask:
        task_id = self._bars.add_task(description, total=total, status="")
        return _RichTask(self._bars, task_id, total)

    def note(self, text: str) -> None:
        self._bars.console.print(text)

    def close(self) -> None:
        self._bars.stop()
