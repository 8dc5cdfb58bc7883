"""Where the advisor's files are: the shipped rule set and example answers (found through
importlib.resources, so that a checkout, an editable install and a wheel all see the same files), and
the cache folder (the built-in model, parsed rule sets)."""

from __future__ import annotations

import functools
import os
from importlib.resources import files
from pathlib import Path


def cache_dir() -> Path:
    """ADVISOR_CACHE_DIR, else the user's cache folder."""
    override = os.environ.get("ADVISOR_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("advisor"))


@functools.cache  # where the package is does not change while it runs; recommend() asks on every call
def shipped_rules() -> Path:
    return Path(str(files("advisor.rules")))


def example(name: str) -> Path:
    return Path(str(files("advisor.examples") / name))
