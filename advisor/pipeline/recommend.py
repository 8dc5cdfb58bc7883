"""The library's recommend path: validate answers, read the model (without TensorFlow), ask the engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from advisor.engine import evaluate
from advisor.engine.rules import RuleSet, load_rules
from advisor.errors import AnswersError, ModelError
from advisor.models import answers as answers_model
from advisor.models.answers import BUILTIN_PREFIX, Answers
from advisor.models.recommendation import Recommendation

if TYPE_CHECKING:
    from advisor.engine.size_model import ModelFacts
    from advisor.models.model_file import ModelFile


def parse_answers(raw: Answers | dict[str, Any], *, rules: str | Path | RuleSet | None = None, source: str = "answers") -> Answers:
    """Validate answers against a rule set (the shipped one by default)."""
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    return answers_model.parse_answers(raw, rules=ruleset, source=source)


def recommend(answers: Answers | dict[str, Any], *, rules: str | Path | RuleSet | None = None, source: str = "answers",
              model=None) -> Recommendation:
    """Recommend a scheme for `answers` (a dict or Answers); `model`, a Keras model object, is
    measured for the size goals in place of inputs.model. Never imports TensorFlow."""
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    answers = answers_model.parse_answers(answers, source=source, rules=ruleset)
    return evaluate.recommend(answers, ruleset, model_facts(answers, ruleset, model, source))


def model_file(answers: Answers, model=None, source: str = "answers") -> ModelFile | None:
    """inputs.model (or the object in its place) read without TensorFlow; None without one or for the
    built-in model. A model `advisor run` would refuse is refused here too (bad input)."""
    path = answers.inputs.model
    if model is None and (path is None or path.startswith(BUILTIN_PREFIX)):
        return None  # before importing the readers: recommending without a model stays light
    from advisor.reading import read_model

    if model is not None:
        return read_model(model)
    if not Path(path).exists():
        raise AnswersError(f"{source}: inputs.model: no such file or folder: {path}")
    found = read_model(path)
    if found.unusable:
        raise ModelError(found.unusable)
    return found


def model_facts(answers: Answers, rules: RuleSet, model=None, source: str = "answers") -> ModelFacts | None:
    """What the engine may know of the model: its format, its float32 size and each scheme's predicted
    size, read from the object when one is given, else from inputs.model's files."""
    if answers.inputs.model is not None and answers.inputs.model.startswith(BUILTIN_PREFIX) and model is None:
        from advisor.engine.size_model import ModelFacts

        return ModelFacts(format="keras")
    return facts_of(model_file(answers, model, source), rules)


def facts_of(found: ModelFile | None, rules: RuleSet) -> ModelFacts | None:
    """The size predictions of a model that was read, checked against its parameter count."""
    if found is None:
        return None
    from advisor.engine.size_model import ModelFacts, cross_checked, model_size

    tensors = found.tensors
    predicted = model_size(tensors, rules, model_format=found.family) if tensors is not None and tensors.layers else None
    if predicted is None:
        parameters = found.parameters
        return ModelFacts(float32_bytes=parameters * 4 if parameters else None, format=found.family)
    return cross_checked(predicted, tensors, found.parameters, rules, model_format=found.family)
