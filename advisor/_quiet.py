"""Silence Python and native (C++) output around noisy library calls, unless --verbose."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile

VERBOSE = False


class Captured:
    """What native code printed while quieted; kept for error messages."""

    def __init__(self) -> None:
        self.text = ""


@contextlib.contextmanager
def quiet():
    """Silence Python and native (C++) output on stdout and stderr, unless --verbose.

    Native TensorFlow code writes straight to file descriptors 1 and 2, so they are redirected to
    a temporary file; the progress display writes to its own duplicate of the terminal.
    """
    captured = Captured()
    if VERBOSE:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
                try:
                    yield captured
                finally:
                    captured.text = out.getvalue() + err.getvalue()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.text += sink.read().decode(errors="replace")
