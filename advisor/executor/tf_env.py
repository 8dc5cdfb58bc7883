"""Import TensorFlow the way the advisor needs it: Keras 2 for TFMOT, and quiet unless asked."""

from __future__ import annotations

import logging
import os
import warnings

from advisor import _quiet
from advisor._quiet import quiet

__all__ = ["ONEDNN_OFF", "quiet", "set_verbose", "tensorflow", "tfmot"]

# TensorFlow 2.21's oneDNN kernels corrupt memory while training some CNNs on the CPU (a 64x64
# mini-Xception of separable convolutions, batch norms and residual adds aborts in its first epoch of any
# fit: QAT, pruning, clustering, distillation), as in tensorflow#117700. Fine-tuning small models is no
# slower without them; TF_ENABLE_ONEDNN_OPTS=1 in the environment turns them back on.
ONEDNN_OFF = ("TF_ENABLE_ONEDNN_OPTS", "0")


def set_verbose(verbose: bool) -> None:
    _quiet.VERBOSE = verbose


def tensorflow():
    """The tensorflow module, imported with TF_USE_LEGACY_KERAS=1 and (by default) its log noise off."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault(*ONEDNN_OFF)
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


