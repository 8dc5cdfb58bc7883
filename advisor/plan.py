"""What a run will do, decided before any model is loaded: the recommendation, the rungs to try
(scheme and pre-steps, in order), the options and the budget. Cheap, and no TensorFlow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from advisor._suggest import did_you_mean
from advisor.api import model_facts
from advisor.engine import evaluate
from advisor.engine.rules import RuleSet, load_rules
from advisor.errors import AnswersError, BadInput, Infeasible
from advisor.executor.produce import step_of
from advisor.in_memory import InMemory
from advisor.models.answers import PYTHON_PREFIX, Answers
from advisor.models.options import RunOptions
from advisor.models.recommendation import Recommendation
from advisor.search import Budget
from advisor.validator.task import import_metric

Rung = tuple  # (scheme, pre-steps) or (scheme, pre-steps, backend) where a backend is asked for (compare)


@dataclass(frozen=True)
class Plan:
    answers: Answers
    rules: RuleSet
    options: RunOptions
    recommendation: Recommendation
    rungs: tuple[Rung, ...]
    metric: Callable | None = None  # a task metric given as a callable (library use)
    custom_objects: dict | None = None  # what inputs.custom_objects names, imported
    in_memory: InMemory | None = None  # the library's objects in place of files

    @property
    def budget(self) -> Budget:
        return Budget(self.answers.budget.max_attempts, self.answers.budget.max_minutes)


def plan(answers: Answers, rules: RuleSet | None = None, options: RunOptions | None = None, *,
         rungs: list[Rung] | None = None, metric: Callable | None = None, in_memory: InMemory | None = None) -> Plan:
    """The ladder of the recommendation (`options.scheme` first, after `options.pre_steps`), or the
    given `rungs`. Unknown schemes and steps the rule set cannot resolve are errors now, not mid-run."""
    rules = rules or load_rules()
    options = options or RunOptions()
    rec = evaluate.recommend(answers, rules, model_facts(answers, rules, in_memory.model if in_memory else None))
    scheme = options.scheme
    if scheme is not None and scheme not in rules.schemes:
        raise BadInput(f"--scheme: unknown scheme '{scheme}'{did_you_mean(scheme, rules.schemes)}; known: {', '.join(rules.schemes)}")
    if options.backend is not None and rules.backends and options.backend not in rules.backends:
        raise BadInput(f"--backend: unknown backend '{options.backend}'{did_you_mean(options.backend, rules.backends)}; "
                       f"known: {', '.join(rules.backends)}")
    for step in options.pre_steps or ():
        if step not in rules.pre_step_catalog:
            raise BadInput(f"--pre-steps: unknown pre-step '{step}'{did_you_mean(step, rules.pre_step_catalog)}; "
                           f"known: {', '.join(rules.pre_step_catalog)}")
    if rungs is None:
        if scheme is None and not rec.feasible:
            raise Infeasible(rec)
        ladder = [scheme, *(s for s in rec.ladder if s != scheme)] if scheme else rec.ladder
        steps = tuple(options.pre_steps if options.pre_steps is not None else rec.pre_steps)
        rungs = [(name, steps) for name in ladder]
    for name in {"float32", *(n for s, steps, *_ in rungs for n in (s, *steps))}:
        if name not in rules.schemes and name not in rules.pre_step_catalog:
            raise BadInput(f"unknown scheme or pre-step '{name}'{did_you_mean(name, [*rules.schemes, *rules.pre_step_catalog])}")
        step_of(rules, name)
    if answers.task.metric and answers.task.metric.startswith(PYTHON_PREFIX) and metric is None:
        import_metric(answers.task.metric)  # a module that does not import is bad input now, not mid-run
    custom = custom_objects(answers.inputs.custom_objects)
    return Plan(answers, rules, options, rec, tuple((s, tuple(steps), *rest) for s, steps, *rest in rungs), metric, custom,
                in_memory)


def custom_objects(reference: str | None) -> dict | None:
    """Import the module inputs.custom_objects names (its registered Keras classes count from then on)
    and return its `custom_objects` dict, if it defines one."""
    if reference is None:
        return None
    import importlib

    module = reference[len(PYTHON_PREFIX):].strip()
    try:
        loaded = importlib.import_module(module)
    except ImportError as err:
        raise AnswersError(f"answers: inputs.custom_objects: cannot import module '{module}' ({type(err).__name__}: {err})") from None
    except Exception as err:  # the module's own code failed while importing
        raise AnswersError(f"answers: inputs.custom_objects: importing '{module}' raised {type(err).__name__}: {err}") from None
    found = getattr(loaded, "custom_objects", None)
    if found is not None and not isinstance(found, dict):
        raise AnswersError(f"answers: inputs.custom_objects: {module}.custom_objects must be a dict, not {type(found).__name__}")
    return dict(found or {})
