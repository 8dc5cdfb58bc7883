"""Import TensorFlow the way the advisor needs it: Keras 2 for TFMOT, and quiet unless asked."""

from __future__ import annotations

import logging
import os
import warnings

from advisor import _quiet
from advisor._quiet import quiet

__all__ = ["quiet", "set_verbose", "tensorflow", "tfmot"]


def set_verbose(verbose: bool) -> None:
    _quiet.VERBOSE = verbose


def tensorflow():
    """The tensorflow module, imported with TF_USE_LEGACY_KERAS=1 and (by default) its log noise off."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if not _quiet.VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet():
        import tensorflow as tf
    if not _quiet.VERBOSE:
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


