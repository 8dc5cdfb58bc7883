"""The one contract every scheme and pre-step implements (rules/schemes.yaml names them by
`module:function`, imported only when a run needs them):

    step(context: StepContext, model) -> StepResult

`model` is a tf-keras model produced by earlier pre-steps, or None for the user's model as loaded
(`context.loaded`). A scheme returns the .tflite bytes in `content`; a pre-step returns the new
model in `model`. Both return what they measured in `findings` (typed fields of the attempt's metrics).
A step reads only its arguments and changes nothing it is given.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from advisor.models.dataset import Dataset
from advisor.models.options import RunOptions
from advisor.models.progress import Progress
from advisor.models.report import StepFindings

if TYPE_CHECKING:
    from advisor.executor.loading import LoadedModel


@dataclass(frozen=True)
class Judge:
    """How a step that searches (selective_integer) judges a candidate .tflite, on data other than
    the evaluation set that the attempt's verdict will use."""

    meets: Callable[[bytes], tuple[bool | None, float | None]]  # (the goals it can judge hold, the accuracy drop)
    size_holds: Callable[[bytes], bool]
    data: str  # which data, in words, for the report


@dataclass(frozen=True)
class StepContext:
    loaded: LoadedModel
    integer_io: bool  # the target runs integer models only: int8/int16 inputs and outputs, batch 1
    representative: Dataset | None  # the calibration sample, bound to the model's inputs
    train: Dataset | None  # training data (labelled where the answers say so)
    options: RunOptions
    progress: Progress
    workdir: str
    applied: tuple[str, ...] = ()  # pre-steps already applied to the model a step receives
    judge: Judge | None = None

    @property
    def batch(self) -> int | None:
        return 1 if self.integer_io else None


@dataclass(frozen=True)
class StepResult:
    content: bytes | None = None
    model: Any = None
    findings: StepFindings = field(default_factory=StepFindings)  # what it measured: fields of the attempt's metrics
    notes: tuple[str, ...] = ()  # what the user should know about this result, in words


class Step(Protocol):
    def __call__(self, context: StepContext, model: Any) -> StepResult: ...


def resolve(reference: str) -> Step:
    """'package.module:function' -> the step; ValueError saying what is wrong with the reference."""
    module, sep, name = reference.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"'{reference}' is not of the form package.module:function")
    try:
        found = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        raise ValueError(f"'{reference}': no module {err.name}") from None
    except AttributeError:
        raise ValueError(f"'{reference}': module {module} has no {name}") from None
    if not callable(found):
        raise ValueError(f"'{reference}' is not a function")
    try:
        inspect.signature(found).bind(None, None)
    except TypeError:
        raise ValueError(f"'{reference}' does not take (context, model), the step contract") from None
    except ValueError:  # no signature to inspect (a builtin): accept it
        pass
    return found
