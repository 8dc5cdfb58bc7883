"""Steps of the step contract that misbehave on purpose, for tests: rules folders name them as executors."""

from __future__ import annotations

import os
import signal

from advisor.executor.step import StepContext, StepResult


def segfault(context: StepContext, model) -> StepResult:
    """Dies as a native crash in the converter would."""
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("unreachable")


def unchanged(context: StepContext, model) -> StepResult:
    """Hands back the float32 model it was given, as a quantizer that understood nothing would."""
    return StepResult(content=context.loaded.tflite)
