"""One model, its data and its target: produce the .tflite of any scheme, reusing earlier work.

The loaded model, the data, each pre-step's result and each QAT model are computed once per run
and shared by every attempt that needs them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from advisor.errors import SchemeFailed
from advisor.executor import convert as conv
from advisor.executor.data import Dataset
from advisor.executor.model_io import LoadedModel
from advisor.models.options import RunOptions


@dataclass
class Produced:
    content: bytes
    extras: dict[str, Any] = field(default_factory=dict)


def resolve(reference: str):
    """'package.module:function' -> the function (the lazy manifest in rules/schemes.yaml)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Judge:
    """What a scheme that searches (selective_integer) needs to judge its candidates."""

    accuracy: Any  # bytes -> accuracy or None
    size_holds: Any  # bytes -> bool
    accuracy_goal: float | None
    baseline_accuracy: float | None


class Job:
    def __init__(
        self,
        loaded: LoadedModel,
        *,
        rules,
        integer_only: bool,
        representative: np.ndarray | None,
        train: Dataset | None,
        options: RunOptions,
        progress,
        workdir: str,
    ):
        self.loaded = loaded
        self.rules = rules
        self.integer_io = integer_only
        self.batch = 1 if integer_only else None
        self.representative = representative
        self.train = train
        self.options = options
        self.progress = progress
        self.workdir = workdir
        self._pre_stepped: dict[tuple[str, ...], tuple[Any, dict]] = {}
        self._qat: dict[tuple[str, ...], Any] = {}
        self._current_pre_steps: tuple[str, ...] = ()
        self.judge = None  # set by the runner once the baseline is measured (see Judge)
        self.extras_for_current: dict[str, Any] = {}

    def produce(self, scheme: str, pre_steps: tuple[str, ...] = ()) -> Produced:
        """The .tflite bytes of `scheme` after `pre_steps`, with what the steps measured."""
        entry = self.rules.schemes.get(scheme)
        if entry is None or not entry.executor:
            raise SchemeFailed(f"{scheme}: the rule set names no executor for it")
        model, extras = self.pre_stepped(tuple(pre_steps))
        self._current_pre_steps = tuple(pre_steps)
        self.extras_for_current = {}
        content = resolve(entry.executor)(self, model)
        return Produced(content, {**extras, **self.extras_for_current})

    def pre_stepped(self, pre_steps: tuple[str, ...]):
        """(tf-keras model, measurements) after the pre-steps; (None, {}) for the original model."""
        if not pre_steps:
            return None, {}
        if pre_steps not in self._pre_stepped:
            model, extras = self.pre_stepped(pre_steps[:-1])
            step = pre_steps[-1]
            entry = self.rules.pre_step_catalog.get(step)
            if entry is None or not entry.executor:
                raise SchemeFailed(f"{step}: the rule set names no executor for it")
            if self.train is None:
                raise SchemeFailed(f"{step} fine-tunes the model and needs labelled training data (inputs.train)")
            start = model if model is not None else self.loaded.fresh_keras2()
            stepped, measured = resolve(entry.executor)(self, start, pre_steps)
            self._pre_stepped[pre_steps] = (stepped, {**extras, **measured})
        return self._pre_stepped[pre_steps]

    def quantization_aware(self, model):
        """The QAT-trained model for the current pre-steps (trained once per run)."""
        from advisor.executor import training

        key = self._current_pre_steps
        if key not in self._qat:
            if self.train is None:
                raise SchemeFailed("qat fine-tunes the model and needs labelled training data (inputs.train)")
            start = model if model is not None else self.loaded.fresh_keras2()
            self._qat[key], _ = training.quantization_aware(
                start, self.train, self.options, preserve=key, progress=self.progress
            )
        return self._qat[key]

    def representative_dataset(self):
        if self.representative is None:
            raise SchemeFailed("this scheme calibrates on a representative sample (inputs.representative)")
        return conv.representative_dataset(self.representative, self.progress)

    def convert(self, model, scheme: str, configure=None, integer_activations: str | None = None) -> bytes:
        from advisor.executor.tf_env import quiet, tensorflow

        tf = tensorflow()
        with quiet():
            converter = conv.converter_for(model, self.loaded, self.batch, self.workdir)
        if configure is not None:
            configure(converter, tf)
        task = self.progress.task(f"converting: {scheme}", total=None) if self.progress else None
        try:
            content = conv.run_converter(converter, scheme)
        finally:
            if task is not None:
                task.finish()
        if integer_activations:
            conv.require_integer(content, scheme, integer_activations)
        conv.verify_loads(content, scheme)
        return content
