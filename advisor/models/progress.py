"""What the steps report progress to: a display (rich bars in the terminal, a relay to the parent in a
worker, nothing in library use). The implementations live in report/progress.py and pipeline/worker.py."""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, amount: float = 1, status: str | None = None) -> None: ...

    def finish(self, status: str | None = None) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: float | None = None) -> Task: ...

    def note(self, text: str) -> None: ...
