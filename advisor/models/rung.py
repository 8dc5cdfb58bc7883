"""A rung: one candidate of a run's or comparison's search, decided once when the run is planned."""

from __future__ import annotations

from dataclasses import dataclass


def attempt_label(scheme: str, pre_steps, variant: str | None = None) -> str:
    """How an attempt is named everywhere: its pre-steps, then its scheme ('pruning+full_integer'), and
    what tells it apart from another attempt of the same scheme ('full_integer@quantizer' in compare)."""
    return "+".join([*pre_steps, scheme]) + (f"@{variant}" if variant else "")


@dataclass(frozen=True)
class Rung:
    scheme: str
    pre_steps: tuple[str, ...] = ()
    backend: str | None = None  # who carries the scheme out (the rules' choice, or --backend where it can)
    variant: str | None = None  # the backend, when the search compares backends for one scheme (compare)
    steps: tuple[str, ...] = ()  # 'module:function' of each pre-step, then of the scheme

    @property
    def label(self) -> str:
        return attempt_label(self.scheme, self.pre_steps, self.variant)
