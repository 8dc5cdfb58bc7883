"""Load and invoke a model in the LiteRT for Microcontrollers interpreter (the optional
`tflite-micro` package) and find the smallest tensor arena it runs in."""

from __future__ import annotations

import numpy as np

from advisor._quiet import quiet

LARGEST_ARENA = 64 << 20
GRANULARITY = 256


def available() -> bool:
    try:
        with quiet():
            from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except ImportError:
        return False
    return True


def _runs(content: bytes, arena: int) -> str | None:
    """None when the model allocates and invokes in `arena` bytes, else TFLM's reason."""
    from tflite_micro.python.tflite_micro import runtime

    with quiet() as captured:
        try:
            interpreter = runtime.Interpreter.from_bytes(content, arena_size=arena)
            detail = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(detail["shape"], dtype=detail["dtype"]), 0)
            interpreter.invoke()
            return None
        except Exception as err:  # TFLM raises RuntimeError/ValueError with the C++ reason printed
            error = err
    lines = [line.strip() for line in (captured.text + "\n" + str(error)).splitlines() if line.strip()]
    reasons = [line for line in lines if "not supported" in line.lower() or "didn't find op" in line.lower() or "hybrid" in line.lower()]
    return (reasons or lines or [type(error).__name__])[0][:240]


def smallest_arena(content: bytes) -> tuple[int | None, str | None]:
    """(arena bytes, None) when the model runs in TFLM; (None, reason) when it cannot run at all."""
    reason = _runs(content, LARGEST_ARENA)
    if reason is not None:
        return None, reason
    low, high = 0, LARGEST_ARENA
    while high - low > GRANULARITY:
        middle = (low + high) // 2
        if _runs(content, middle) is None:
            high = middle
        else:
            low = middle
    return high, None
