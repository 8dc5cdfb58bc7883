"""The library's recommend path: validate answers, measure the model file, ask the engine."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from advisor.engine import evaluate
from advisor.engine.rules import RuleSet, load_rules
from advisor.engine.size_model import ModelFacts
from advisor.errors import AnswersError
from advisor.models import answers as answers_model
from advisor.models.answers import BUILTIN_PREFIX, Answers
from advisor.models.recommendation import Recommendation


FLOAT32_BYTES = 4  # the float32 model's weights: what size goals are judged against


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


def model_facts(answers: Answers, rules: RuleSet, model=None, source: str = "answers") -> ModelFacts | None:
    """What the engine may know of the model: its format, its float32 size and each scheme's predicted
    size, read from the object when one is given, else from inputs.model's files (without TensorFlow);
    only the float32 weights when its layers cannot be read."""
    from dataclasses import replace

    from advisor.engine.size_model import model_size as predict
    from advisor.model_tensors import from_keras_object, read_tensors

    if model is not None:
        from advisor.in_memory import weight_bytes

        tensors, weights, family = from_keras_object(model), lambda: weight_bytes(model), "keras"
    else:
        path = answers.inputs.model
        if path is None:
            return None
        if path.startswith(BUILTIN_PREFIX):
            return ModelFacts(format="keras")
        if not Path(path).exists():
            raise AnswersError(f"{source}: inputs.model: no such file or folder: {path}")
        family = _format_family(path)
        tensors, weights = read_tensors(path), lambda: model_file_bytes(answers, source)
    predicted = predict(tensors, rules, model_format=family) if tensors is not None and tensors.layers else None
    if predicted is not None:
        return predicted
    baseline = weights()
    return replace(ModelFacts(float32_bytes=baseline or None), format=family)


def _format_family(path: str) -> str | None:
    from advisor.errors import ModelError
    from advisor.executor.model_io import detect_format

    try:
        return detect_format(path).family
    except ModelError:  # `advisor run` says what is wrong with it when it loads it
        return None


def run(answers: Answers | dict[str, Any], *, model=None, representative=None, train=None, eval=None,
        out: str | Path = "advisor-out", force: bool = False, options=None, rules: str | Path | RuleSet | None = None,
        progress=None, metric=None):
    """`advisor run` from Python, with objects or paths: `model` a Keras model (tf-keras or Keras 3,
    subclassed too); `representative` an array or a dict of arrays keyed by input name; `train` and
    `eval` the same, with labels as (inputs, y) or a dict with 'y'. Objects replace the answers'
    inputs of the same name. Returns the Report (report.json's content)."""
    from advisor.in_memory import InMemory, as_dataset
    from advisor.runner import execute
    from advisor.plan import plan

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    parsed = answers_model.parse_answers(answers, rules=ruleset)
    objects = InMemory(
        model=model,
        representative=as_dataset(representative, "representative", labelled=False),
        train=as_dataset(train, "train", labelled=True),
        eval=as_dataset(eval, "eval", labelled=None),
    )
    the_plan = plan(parsed, ruleset, options, metric=metric, in_memory=objects)
    return execute(the_plan, out=out, force=force, progress=progress)


def model_file_bytes(answers: Answers, source: str = "answers") -> int | None:
    """The float32 size of `inputs.model`'s weights, read from the file without TensorFlow.

    For .keras and .h5 files, the bytes of the model's weight arrays (optimizer state left out);
    for a SavedModel folder, its float variables read from the tensor-bundle index, each counted
    once. None without a model file.
    """
    model = answers.inputs.model
    if model is None or model.startswith(BUILTIN_PREFIX):
        return None
    path = Path(model)
    if path.is_dir():
        from advisor.tensor_bundle import weight_count

        index = path / "variables" / "variables.index"
        try:
            return weight_count(index) * FLOAT32_BYTES or None
        except (OSError, ValueError, IndexError, struct.error):
            variables = path / "variables"
            return sum(p.stat().st_size for p in variables.rglob("*") if p.is_file()) if variables.is_dir() else None
    if not path.is_file():
        raise AnswersError(f"{source}: inputs.model: no such file or folder: {model}")
    from advisor.inspect import keras_weight_count

    try:
        count = keras_weight_count(path)
    except (OSError, ValueError, KeyError):
        count = None
    return count * FLOAT32_BYTES if count else path.stat().st_size
