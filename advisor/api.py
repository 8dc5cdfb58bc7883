"""The library's recommend path: validate answers, measure the model file, ask the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advisor.engine import evaluate
from advisor.engine.rules import RuleSet, load_rules
from advisor.errors import AnswersError
from advisor.models.answers import BUILTIN_PREFIX, Answers, parse_answers
from advisor.models.recommendation import Recommendation


def recommend(answers: Answers | dict[str, Any], *, rules: str | Path | RuleSet | None = None, source: str = "answers") -> Recommendation:
    """Recommend a scheme for `answers` (a dict or Answers). Never imports TensorFlow."""
    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    if not isinstance(answers, Answers) or rules is not None:
        answers = parse_answers(answers, source=source, rules=ruleset)
    return evaluate.recommend(answers, ruleset, model_file_bytes(answers, source))


def model_file_bytes(answers: Answers, source: str = "answers") -> int | None:
    """Size of `inputs.model` on disk (a SavedModel folder: all its files); None when not a file."""
    model = answers.inputs.model
    if model is None or model.startswith(BUILTIN_PREFIX):
        return None
    path = Path(model)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    raise AnswersError(f"{source}: inputs.model: no such file or folder: {model}")
