"""Produce any scheme after any pre-steps for one model, computing each pre-step result once per
run (compare reuses a pruned model for several schemes)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from advisor.errors import RulesError, SchemeFailed
from advisor.executor.step import Judge, StepContext, StepResult, resolve


def step_of(rules, name: str, backend: str | None = None):
    """The step a rule set names for scheme or pre-step `name` (a scheme's `backend` implementation, by
    default its first); RulesError naming file and node."""
    file = rules.folder / "schemes.yaml"
    if name in rules.schemes:
        implementations = rules.implementations(name)
        if not implementations:
            raise RulesError(f"{file}: schemes.{name}.executor: missing; the rule set names no step that carries {name} out")
        chosen = backend if backend in implementations else next(iter(implementations))
        where = (f"{file}: schemes.{name}.executor" if rules.schemes[name].executor == implementations[chosen]
                 and chosen not in rules.schemes[name].implementations else f"{file}: schemes.{name}.implementations.{chosen}")
        reference = implementations[chosen]
    elif name in rules.pre_step_catalog:
        where, reference = f"{file}: pre_steps.{name}.executor", rules.pre_step_catalog[name].executor
        if not reference:
            raise RulesError(f"{where}: missing; the rule set names no step that carries {name} out")
    else:
        raise RulesError(f"{file}: no scheme or pre-step '{name}'")
    try:
        return resolve(reference)
    except ValueError as err:
        raise RulesError(f"{where}: {err}") from None


class Producer:
    def __init__(self, rules, context: StepContext):
        self.rules = rules
        self.context = context
        self._pre_stepped: dict[tuple[str, ...], tuple[Any, dict]] = {}

    def produce(self, scheme: str, pre_steps: tuple[str, ...] = (), judge: Judge | None = None,
                backend: str | None = None) -> StepResult:
        """The .tflite of `scheme` after `pre_steps` by `backend` (by default the rules' choice for the
        model's format), with what every step measured."""
        model, extras = self._after(tuple(pre_steps))
        context = replace(self.context, applied=tuple(pre_steps), judge=judge)
        result = step_of(self.rules, scheme, backend or self.backend_for(scheme))(context, model)
        if not result.content:
            raise SchemeFailed(f"{scheme}: its step returned no .tflite")
        return StepResult(content=result.content, extras={**extras, **result.extras}, notes=result.notes)

    def backend_for(self, scheme: str) -> str | None:
        """The rules' backend for `scheme` on this model's format, or None when none takes it."""
        choices = self.rules.backends_for(scheme, self.context.loaded.format.family)
        return choices[0] if choices else None

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
