"""Import TensorFlow the way the advisor needs it: Keras 2 for TFMOT, and quiet unless asked."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings

_VERBOSE = False


def set_verbose(verbose: bool) -> None:
    global _VERBOSE
    _VERBOSE = verbose


def tensorflow():
    """The tensorflow module, imported with TF_USE_LEGACY_KERAS=1 and (by default) its log noise off."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if not _VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet():
        import tensorflow as tf
    if not _VERBOSE:
        tf.get_logger().setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        logging.getLogger("root").setLevel(logging.ERROR)
        for module in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "absl"):
            warnings.filterwarnings("ignore", module=module)
    return tf


def tfmot():
    tensorflow()
    with quiet():
        import tensorflow_model_optimization as tfmot
    return tfmot


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
    if _VERBOSE:
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
