"""The task metric: what `accuracy` means for this model and these labels.

    top1, top5   class scores (an output with one axis of >= 2 values); labels are class indices or one-hot rows
    binary       one sigmoid or logit value per input; labels 0/1
    mae, rmse    regression; labels shaped like the output; lower is better (the goal bounds the rise)
    python:M:F   F(outputs: dict[str, ndarray], y: ndarray) -> float, imported from the user's environment

A metric is a pure function of the outputs and labels; it is chosen and checked against the model's
signature before any conversion.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from advisor.errors import AnswersError, BadInput, DataError
from advisor.models.answers import PYTHON_PREFIX

LABELS = {"top1": "top-1 accuracy", "top5": "top-5 accuracy", "binary": "binary accuracy", "mae": "mean absolute error",
          "rmse": "root-mean-square error"}


@dataclass(frozen=True)
class TaskMetric:
    name: str
    output: str | None  # the output the labels belong to (None: the function reads what it needs)
    higher_is_better: bool
    function: Callable[[dict[str, np.ndarray], np.ndarray], float]
    label: str

    def __call__(self, outputs: dict[str, np.ndarray], y: np.ndarray) -> float:
        try:
            value = self.function(outputs, y)
        except Exception as err:  # the user's own code: its failure is bad input, in one line
            raise BadInput(f"task.metric: {self.name} raised {type(err).__name__}: {' '.join(str(err).split())[:200]}") from None
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise BadInput(f"task.metric: {self.name} returned {type(value).__name__}, not a number") from None
        if not math.isfinite(value):
            raise BadInput(f"task.metric: {self.name} returned {value}")
        return value

    def drop(self, baseline: float, value: float) -> float:
        """How much worse `value` is than the baseline, in the metric's units (a rise for error metrics)."""
        return baseline - value if self.higher_is_better else value - baseline


def _scores(outputs, output):
    scores = outputs[output]
    return scores.reshape(len(scores), -1)


def _classes(y: np.ndarray) -> np.ndarray:
    return y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y)).astype(np.int64)


def _top_k(k: int, output: str):
    def compute(outputs, y):
        scores = _scores(outputs, output)
        best = np.argsort(-scores, axis=1)[:, :k]
        return float((best == _classes(y)[:, None]).any(axis=1).mean())

    return compute


def _binary(output: str, threshold: float):
    def compute(outputs, y):
        return float(((_scores(outputs, output)[:, 0] > threshold) == (y.reshape(len(y)) > 0.5)).mean())

    return compute


def _error(output: str, squared: bool):
    def compute(outputs, y):
        diff = _scores(outputs, output) - y.reshape(len(y), -1).astype(np.float64)
        return float(np.sqrt((diff ** 2).mean())) if squared else float(np.abs(diff).mean())

    return compute


def metric_for(task, signature, y: np.ndarray | None, *, custom: Callable | None = None, where: str = "task",
               labels: str = "y") -> TaskMetric | None:
    """The metric for `task` (answers.task) on this model, checked against the labels `y` (named
    `labels` in errors); None without labels."""
    output = task.output or (signature.outputs[0].name if signature.outputs else None)
    if task.output is not None and signature.output(task.output) is None:
        raise AnswersError(f"{where}.output: the model has no output '{task.output}'; its outputs are "
                           f"{', '.join(repr(n) for n in signature.output_names)}")
    if custom is not None:
        return TaskMetric(getattr(custom, "__name__", "metric"), task.output, task.higher_is_better is not False, custom,
                          getattr(custom, "__name__", "custom metric"))
    if task.metric and task.metric.startswith(PYTHON_PREFIX):
        function = import_metric(task.metric, where)
        return TaskMetric(task.metric, task.output, task.higher_is_better is not False, function, task.metric)
    if y is None:
        return None
    spec = signature.output(output)
    name = task.metric or _default(spec, y, where)
    check_labels(name, spec, y, where, labels)
    if name in ("top1", "top5"):
        return TaskMetric(name, output, True, _top_k(1 if name == "top1" else 5, output), LABELS[name])
    if name == "binary":
        return TaskMetric(name, output, True, _binary(output, 0.5), LABELS[name])
    return TaskMetric(name, output, False, _error(output, squared=name == "rmse"), LABELS[name])


def with_binary_threshold(metric: TaskMetric, baseline_outputs: dict[str, np.ndarray]) -> TaskMetric:
    """A binary output that is not in [0, 1] holds logits: its threshold is 0, not 0.5."""
    if metric is None or metric.name != "binary":
        return metric
    values = _scores(baseline_outputs, metric.output)
    if values.min() >= 0 and values.max() <= 1:
        return metric
    return TaskMetric(metric.name, metric.output, True, _binary(metric.output, 0.0), LABELS["binary"] + " (logits)")


def import_metric(reference: str, where: str = "task") -> Callable:
    module, _, name = reference[len(PYTHON_PREFIX):].partition(":")
    try:
        loaded = importlib.import_module(module)
    except ImportError as err:
        raise AnswersError(f"{where}.metric: cannot import module '{module}' ({type(err).__name__}: {err})") from None
    except Exception as err:  # the module's own import-time code failed
        raise AnswersError(f"{where}.metric: importing '{module}' raised {type(err).__name__}: {err}") from None
    function = getattr(loaded, name, None)
    if not callable(function):
        raise AnswersError(f"{where}.metric: module '{module}' has no function '{name}'")
    return function


def _default(spec, y: np.ndarray, where: str) -> str:
    integral = y.dtype.kind in "iub" or np.array_equal(y, np.round(y))
    if spec is not None and spec.class_scores and (integral and y.ndim == 1 or y.ndim == 2 and y.shape[1] == spec.shape[0]):
        return "top1"
    if spec is not None and tuple(spec.shape) in ((1,), ()) and integral and set(np.unique(y)) <= {0, 1}:
        return "binary"
    if y.dtype.kind == "f":
        return "mae"
    raise AnswersError(f"{where}.metric: cannot tell how to score output '{spec.name if spec else '?'}' against these "
                       f"labels; set task.metric (top1, top5, binary, mae, rmse or python:module:function)")


def check_labels(name: str, spec, y: np.ndarray, where: str, labels: str) -> None:
    if name in ("top1", "top5"):
        if spec is None or not spec.class_scores:
            raise AnswersError(f"{where}.metric: {name} needs an output of class scores; '{spec.name if spec else '?'}' "
                               f"has shape {spec.shape if spec else '?'} (choose task.output or another metric)")
        classes = spec.shape[0]
        if y.ndim == 2 and y.shape[1] == classes:
            return
        flat = y.reshape(len(y))
        if not (flat.dtype.kind in "iub" or np.array_equal(flat, np.round(flat))) or y.ndim > 1 and y.shape[1] != 1:
            raise DataError(f"{labels}: y must hold class indices or one-hot rows of {classes} for {name}")
        if flat.min() < 0 or flat.max() >= classes:
            raise DataError(f"{labels}: y has class {int(flat.max() if flat.max() >= classes else flat.min())} but the "
                            f"output '{spec.name}' has {classes} classes")
    elif name == "binary":
        if spec is None or int(np.prod([d or 1 for d in spec.shape])) != 1:
            raise AnswersError(f"{where}.metric: binary needs an output of one value per input; '{spec.name}' has shape {spec.shape}")
        if not set(np.unique(y)) <= {0, 1}:
            raise DataError(f"{labels}: y must hold 0 and 1 for the binary metric")
    elif name in ("mae", "rmse"):
        per_sample = int(np.prod(y.shape[1:])) if y.ndim > 1 else 1
        expected = int(np.prod([d or 1 for d in spec.shape])) if spec is not None else per_sample
        if per_sample != expected:
            raise DataError(f"{labels}: y has {per_sample} value(s) per input, the output '{spec.name}' has {expected}")


CLASSIFYING = ("top1", "top5", "binary")


def output_kinds(signature, content: bytes, task, metric: TaskMetric | None = None,
                 where: str = "task") -> tuple[dict[str, str], list[str]]:
    """Each output's kind and how it was known: task.outputs where the answers say, the labels' metric for
    the output they belong to (top1, top5, binary: scores), else the model itself (a softmax or sigmoid as
    the last op of the float32 .tflite, or the Keras layer's activation: scores; anything else: values)."""
    from advisor.models.signature import tensor_name
    from advisor.reading.tflite import signature as tflite_signature

    unknown = [name for name in task.outputs if signature.output(name) is None]
    if unknown:
        raise AnswersError(f"{where}.outputs: the model has no output {', '.join(repr(n) for n in unknown)}; its outputs are "
                           f"{', '.join(repr(n) for n in signature.output_names)}")
    converted = {spec.name: spec.kind for spec in tflite_signature(content).outputs}
    labelled = metric.output if metric is not None and metric.name in CLASSIFYING else None
    kinds, told = {}, []
    for spec in signature.outputs:
        if spec.name in task.outputs:
            kinds[spec.name] = task.outputs[spec.name]
        elif spec.name == labelled:
            kinds[spec.name] = "scores"
        elif spec.kind is not None:
            kinds[spec.name] = spec.kind
        else:
            kinds[spec.name] = converted.get(tensor_name(spec.name)) or converted.get(spec.name) or "values"
        told.append(f"{spec.name}: {kinds[spec.name]}")
    notes = [f"outputs by kind ({', '.join(told)}); class scores get top-1 agreement and prediction change, values "
             "SQNR, cosine and errors; task.outputs sets a kind the model cannot tell"]
    return kinds, notes
