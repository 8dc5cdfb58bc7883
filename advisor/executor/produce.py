"""Produce any scheme after any pre-steps for one model, computing each pre-step result once per
run (compare reuses a pruned model for several schemes)."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from advisor.errors import RulesError, SchemeFailed
from advisor.executor.step import Judge, StepContext, StepResult, resolve
from advisor.models.report import StepFindings


def step_of(rules, name: str, backend: str | None = None):
    """The step a rule set names for scheme or pre-step `name` (a scheme's `backend` implementation, by
    default its first); RulesError naming file and node."""
    where, reference = rules.executor_of(name, backend)
    return resolve_at(where, reference)


@functools.lru_cache(maxsize=256)
def resolve_at(where: str, reference: str):
    try:
        return resolve(reference)
    except ValueError as err:
        raise RulesError(f"{where}: {err}") from None


class Producer:
    """Produces rungs for one loaded model, computing each pre-step result once."""

    def __init__(self, rules, context: StepContext, store=None):
        self.rules = rules
        self.context = context
        self.store = store  # a PreStepStore shared with the other runs of this model, or None
        self._pre_stepped: dict[tuple[str, ...], tuple[Any, StepFindings]] = {}
        self._told: dict[tuple[str, ...], str] = {}  # pre-steps -> what the report should say about where they came from

    def produce(self, rung, judge: Judge | None = None) -> StepResult:
        """The .tflite of a Rung (its pre-steps, then its scheme, by the steps it names), with what every
        step measured."""
        *pre, scheme_step = rung.steps
        model, findings = self._after(tuple(rung.pre_steps), tuple(pre))
        context = replace(self.context, applied=tuple(rung.pre_steps), judge=judge)
        result = _step(scheme_step)(context, model)
        if not result.content:
            raise SchemeFailed(f"{rung.scheme}: its step returned no .tflite")
        content = result.content
        metadata = self.context.loaded.metadata
        if metadata:  # what the given .tflite carried beside its graph travels into every model made from it
            from advisor.reading.tflite_repair import carry_metadata

            content = carry_metadata(content, metadata)
        told = tuple(note for steps, note in self._told.items() if steps == tuple(rung.pre_steps[:len(steps)]))
        return StepResult(content=content, findings=findings.merged(result.findings), notes=(*told, *result.notes))

    def _after(self, pre_steps: tuple[str, ...], references: tuple[str, ...]) -> tuple[Any, StepFindings]:
        """(tf-keras model, findings) after the pre-steps; (None, no findings) for the model as loaded."""
        if not pre_steps:
            return None, StepFindings()
        if pre_steps not in self._pre_stepped:
            if self.store is None:
                self._pre_stepped[pre_steps] = self._make(pre_steps, references)
            else:
                fetched = self.store.fetch_or_make(references, lambda: self._make(pre_steps, references),
                                                   self.context.loaded.custom_objects)
                self._pre_stepped[pre_steps] = (fetched.model, fetched.findings)
                if fetched.reused:
                    self._told[pre_steps] = (f"{'+'.join(pre_steps)}: made once by another run of this model (a pair of "
                                             "the fleet) and loaded here, not made again")
                elif fetched.note:
                    self._told[pre_steps] = f"{'+'.join(pre_steps)}: {fetched.note}"
        return self._pre_stepped[pre_steps]

    def _make(self, pre_steps: tuple[str, ...], references: tuple[str, ...]) -> tuple[Any, StepFindings]:
        model, findings = self._after(pre_steps[:-1], references[:-1])
        name = pre_steps[-1]
        entry = self.rules.pre_step_catalog.get(name)
        if entry is not None and entry.data == "labelled" and (self.context.train is None or self.context.train.y is None):
            raise SchemeFailed(f"{name} fine-tunes the model and needs labelled training data (inputs.train)")
        result = _step(references[-1])(replace(self.context, applied=pre_steps[:-1]), model)
        if result.model is None:
            raise SchemeFailed(f"{name}: its step returned no model")
        return result.model, findings.merged(result.findings)


@functools.lru_cache(maxsize=256)
def _step(reference: str):
    return resolve(reference)
