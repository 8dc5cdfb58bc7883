"""What a run will do, decided before any model is loaded: the recommendation, the rungs to try (each
a typed Rung with its backend and its steps resolved), the options and the budget. Cheap, and no
TensorFlow: a broken rule set or an unknown scheme fails here, not mid-run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from advisor._suggest import did_you_mean
from advisor.engine import evaluate
from advisor.engine.rules import RuleSet, load_rules
from advisor.engine.search import Budget
from advisor.errors import AnswersError, BadInput, Infeasible
from advisor.executor.produce import step_of
from advisor.engine.size_model import ModelFacts
from advisor.models.answers import BUILTIN_PREFIX, PYTHON_PREFIX, Answers
from advisor.models.model_file import ModelFile
from advisor.models.options import RunOptions
from advisor.models.recommendation import Recommendation
from advisor.models.rung import Rung
from advisor.pipeline.data import InMemory
from advisor.pipeline.recommend import facts_of, model_file
from advisor.validator.task import import_metric

BASELINE = "float32"


@dataclass(frozen=True)
class Plan:
    answers: Answers
    rules: RuleSet
    options: RunOptions
    recommendation: Recommendation
    rungs: tuple[Rung, ...]
    baseline: Rung  # the float32 model every attempt is measured against
    model_file: ModelFile | None = None  # the model as read from its file (None for the built-in model)
    facts: ModelFacts | None = None  # what the engine knew of it: each scheme's predicted size
    model_format: str | None = None  # the model's format as the rules name it (keras, savedmodel, tflite)
    metric: Callable | None = None  # a task metric given as a callable (library use)
    custom_objects: str | None = None  # the module inputs.custom_objects names (imported where the model loads)
    in_memory: InMemory | None = None  # the library's objects in place of files

    @property
    def budget(self) -> Budget:
        return Budget(self.answers.budget.max_attempts, self.answers.budget.max_minutes)


def plan(answers: Answers, rules: RuleSet | None = None, options: RunOptions | None = None, *,
         rungs: Sequence[Rung | tuple] | None = None, metric: Callable | None = None, in_memory: InMemory | None = None,
         read: tuple[ModelFile | None, ModelFacts | None] | None = None) -> Plan:
    """The ladder of the recommendation (`options.scheme` first, after `options.pre_steps`), or the
    given `rungs` ((scheme, pre-steps) or (scheme, pre-steps, backend) tuples, or Rungs). `read`: the
    model file and its facts when the caller already has them (`facts_for`)."""
    rules = rules or load_rules()
    options = options or RunOptions()
    found, facts = read if read is not None else facts_for(answers, rules, in_memory)
    model_format = facts.format if facts else None
    rec = evaluate.recommend(answers, rules, facts)
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
        steps = tuple(options.pre_steps if options.pre_steps is not None else rec.pre_steps)
        rungs = rec.rungs(steps)
        if scheme:
            rungs = [(scheme, steps), *(r for r in rungs if r != (scheme, steps))]
    typed = tuple(item if isinstance(item, Rung) else rung(rules, *item, model_format=model_format, asked=options.backend)
                  for item in rungs)
    baseline = rung(rules, BASELINE, (), model_format=model_format, asked=options.backend)
    if answers.task.metric and answers.task.metric.startswith(PYTHON_PREFIX) and metric is None:
        import_metric(answers.task.metric)  # a module that does not import is bad input now, not mid-run
    check_custom_objects(answers.inputs.custom_objects)
    return Plan(answers, rules, options, rec, typed, baseline, found, facts, model_format, metric,
                answers.inputs.custom_objects, in_memory)


def facts_for(answers: Answers, rules: RuleSet, in_memory: InMemory | None = None) -> tuple[ModelFile | None, ModelFacts | None]:
    """The model read once (without TensorFlow) and what the engine may know of it."""
    if in_memory is None or in_memory.model is None:
        if answers.inputs.model is not None and answers.inputs.model.startswith(BUILTIN_PREFIX):
            return None, ModelFacts(format="keras")
    found = model_file(answers, in_memory.model if in_memory else None)
    return found, facts_of(found, rules)


def rung(rules: RuleSet, scheme: str, pre_steps: Sequence[str] = (), variant: str | None = None, *,
         model_format: str | None = None, asked: str | None = None) -> Rung:
    """A rung with its backend decided (`variant`, else `asked` where it can, else the rules' choice for
    the model's format) and every step resolved (a RulesError naming file and node when one is not)."""
    for name in (*pre_steps, scheme):
        if name not in rules.schemes and name not in rules.pre_step_catalog:
            raise BadInput(f"unknown scheme or pre-step '{name}'{did_you_mean(name, [*rules.schemes, *rules.pre_step_catalog])}")
    backend = variant or rules.choose_backend(scheme, model_format, asked)
    references = []
    for name, chosen in [*((step, None) for step in pre_steps), (scheme, backend)]:
        step_of(rules, name, chosen)
        references.append(rules.executor_of(name, chosen)[1])
    return Rung(scheme, tuple(pre_steps), backend, variant, tuple(references))


def check_custom_objects(reference: str | None) -> None:
    """inputs.custom_objects names a module that can be found (it is imported where the model loads)."""
    if reference is None:
        return
    import importlib.util

    module = reference[len(PYTHON_PREFIX):].strip()
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as err:
        found, why = None, f" ({type(err).__name__}: {err})"
    else:
        why = ""
    if found is None:
        raise AnswersError(f"answers: inputs.custom_objects: cannot import module '{module}': no such module{why}")


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
