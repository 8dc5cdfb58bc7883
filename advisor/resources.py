"""Where the shipped data is: the rule set and the example answers, found through importlib.resources
so that a checkout, an editable install and a wheel all see the same files."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped_rules() -> Path:
    return Path(str(files("advisor.rules")))


def example(name: str) -> Path:
    return Path(str(files("advisor.examples") / name))
