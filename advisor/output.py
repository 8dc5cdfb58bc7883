"""The output folder: refused when it exists (unless forced), written whole or not at all.

Everything is staged in a hidden folder inside the output folder and moved into place at the end;
an error or Ctrl-C removes what this run wrote and leaves an existing folder as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from advisor.errors import BadInput

PARTIAL = ".advisor-partial"


class OutputFolder:
    def __init__(self, path: str | Path, *, force: bool):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise BadInput(f"{self.path}: exists and is not a folder")
        if self.path.exists() and any(self.path.iterdir()) and not force:
            raise BadInput(f"{self.path}: the output folder exists; use --force to replace it, or --out to choose another")
        self._created = not self.path.exists()
        self.staging = self.path / PARTIAL
        self.work = self.staging / ".work"

    def __enter__(self) -> OutputFolder:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.work.mkdir(parents=True)
        return self

    def write(self, relative: str, content: bytes | str) -> str:
        """Stage a file; returns its path relative to the output folder."""
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        return relative

    def commit(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        for old in self.path.iterdir():
            if old.name != PARTIAL:
                shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
        for new in self.staging.iterdir():
            os.replace(new, self.path / new.name)
        self.staging.rmdir()

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._created:
            shutil.rmtree(self.path, ignore_errors=True)
