"""Produce any scheme after any pre-steps for one model, computing each pre-step result once per
run (compare reuses a pruned model for several schemes)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from advisor.errors import RulesError, SchemeFailed
from advisor.executor.step import Judge, StepContext, StepResult, resolve


def step_of(rules, name: str):
    """The step a rule set names for scheme or pre-step `name`; RulesError naming file and node."""
    kind, entry = ("schemes", rules.schemes.get(name)) if name in rules.schemes else ("pre_steps", rules.pre_step_catalog.get(name))
    where = f"{rules.folder / 'schemes.yaml'}: {kind}.{name}.executor"
    if entry is None:
        raise RulesError(f"{rules.folder / 'schemes.yaml'}: no scheme or pre-step '{name}'")
    if not entry.executor:
        raise RulesError(f"{where}: missing; the rule set names no step that carries {name} out")
    try:
        return resolve(entry.executor)
    except ValueError as err:
        raise RulesError(f"{where}: {err}") from None


class Producer:
    def __init__(self, rules, context: StepContext):
        self.rules = rules
        self.context = context
        self._pre_stepped: dict[tuple[str, ...], tuple[Any, dict]] = {}

    def produce(self, scheme: str, pre_steps: tuple[str, ...] = (), judge: Judge | None = None) -> StepResult:
        """The .tflite of `scheme` after `pre_steps`, with what every step measured."""
        model, extras = self._after(tuple(pre_steps))
        context = replace(self.context, applied=tuple(pre_steps), judge=judge)
        result = step_of(self.rules, scheme)(context, model)
        if not result.content:
            raise SchemeFailed(f"{scheme}: its step returned no .tflite")
        return StepResult(content=result.content, extras={**extras, **result.extras}, notes=result.notes)

    def _after(self, pre_steps: tuple[str, ...]) -> tuple[Any, dict]:
        """(tf-keras model, extras) after the pre-steps; (None, {}) for the model as loaded."""
        if not pre_steps:
            return None, {}
        if pre_steps not in self._pre_stepped:
            model, extras = self._after(pre_steps[:-1])
            name = pre_steps[-1]
            if self.context.train is None:
                raise SchemeFailed(f"{name} fine-tunes the model and needs labelled training data (inputs.train)")
            result = step_of(self.rules, name)(replace(self.context, applied=pre_steps[:-1]), model)
            if result.model is None:
                raise SchemeFailed(f"{name}: its step returned no model")
            self._pre_stepped[pre_steps] = (result.model, {**extras, **result.extras})
        return self._pre_stepped[pre_steps]
