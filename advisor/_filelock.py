"""An exclusive lock on a file, held for a `with` block, across processes (flock); without flock (not
Linux or macOS), no lock."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def exclusive(path: str | os.PathLike) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
