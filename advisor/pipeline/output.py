"""The output folder: refused when it exists (unless forced), written whole or not at all.

Everything is staged in a hidden folder beside the output folder, created as soon as the folder is
opened (so an output path that cannot be written fails before any model is loaded). `commit`
swaps the staged folder in with one atomic exchange of names (renameat2 RENAME_EXCHANGE where the
system has it, else two renames with the old folder kept aside until the new one is in place), so
an interruption leaves the old folder or the new one, never a mix. An error or Ctrl-C removes what
this run wrote and leaves an existing folder as it was. Every OS error names the path.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import time
from pathlib import Path

from advisor.errors import BadInput

PARTIAL = ".advisor-partial"
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def path_error(path: Path, err: OSError, doing: str) -> BadInput:
    reason = err.strerror or type(err).__name__
    return BadInput(f"{path}: cannot {doing}: {reason}")


class OutputFolder:
    def __init__(self, path: str | Path, *, force: bool):
        self.path = Path(os.path.abspath(path))
        if self.path.exists() and not self.path.is_dir():
            raise BadInput(f"{self.path}: exists and is not a folder")
        if self.path.is_dir() and any(self.path.iterdir()) and not force:
            raise BadInput(f"{self.path}: the output folder exists; use --force to replace it, or --out to choose another")
        self.staging = self.path.parent / f".{self.path.name}{PARTIAL}-{os.getpid()}"
        self.work = self.staging / ".work"
        self._created_parents: list[Path] = []
        self._remove_stale()
        self._open()

    def _remove_stale(self) -> None:
        """A staging folder left by an advisor that was killed (kill -9, a power cut) is removed by the next run."""
        if not self.path.parent.is_dir():
            return
        prefix = f".{self.path.name}{PARTIAL}-"
        for left in self.path.parent.glob(f"{prefix}*"):
            pid = left.name[len(prefix):]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(left, ignore_errors=True)

    def _open(self) -> None:
        missing = []
        parent = self.path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        if not parent.is_dir():
            raise BadInput(f"{self.path}: cannot be created: {parent} is not a folder")
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created_parents.append(folder)
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.work.mkdir(parents=True)
        except OSError as err:
            self.discard()
            raise path_error(self.path, err, "be written") from None

    def __enter__(self) -> OutputFolder:
        return self

    def write(self, relative: str, content: bytes | str) -> str:
        """Stage a file; returns its path relative to the output folder."""
        target = self.staging / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                target.write_text(content, encoding="utf-8")
            else:
                target.write_bytes(content)
        except OSError as err:
            raise path_error(self.path / relative, err, "be written") from None
        return relative

    def commit(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)
        try:
            if not self.path.exists():
                os.rename(self.staging, self.path)
                return
            if _exchange(self.staging, self.path):
                shutil.rmtree(self.staging, ignore_errors=True)  # it holds the old folder now
                return
            aside = self.path.parent / f".{self.path.name}.advisor-old-{os.getpid()}"
            os.rename(self.path, aside)
            os.rename(self.staging, self.path)
            shutil.rmtree(aside, ignore_errors=True)
        except OSError as err:
            raise path_error(self.path, err, "be replaced") from None

    def discard(self) -> None:
        """Remove what was staged (and the parent folders made for it); the old folder stays."""
        remove_folder(self.staging)
        for folder in reversed(self._created_parents):
            try:
                folder.rmdir()
            except OSError:
                pass

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.discard()


def remove_folder(folder: Path, *, patience: float = 3.0) -> None:
    """Remove `folder` even while something still writes into it (a worker being stopped after Ctrl-C):
    a file created after rmtree listed its folder makes that folder's removal fail, so try again until
    it is gone or `patience` seconds have passed."""
    deadline = time.monotonic() + patience
    while True:
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths' names atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def check_file_path(path: str | Path) -> Path:
    """A file can be written at `path` (its folder exists and takes a file); BadInput naming it if not."""
    path = Path(os.path.abspath(path))
    if path.is_dir():
        raise BadInput(f"{path}: is a folder; give a file name")
    if not path.parent.is_dir():
        raise BadInput(f"{path}: cannot be written: {path.parent} is not an existing folder")
    probe = path.parent / f".{path.name}.advisor-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise path_error(path, err, "be written") from None
    return path
