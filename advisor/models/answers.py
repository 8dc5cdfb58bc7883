"""The answers a user gives: what data they have, which hardware, which goals, where the files are.

One pydantic model validates the answers file, the wizard and the library call alike. The allowed
`data` levels and `hardware` targets come from the rule set, so a new target is a rules change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, ValidationInfo, field_validator

from advisor._suggest import did_you_mean
from advisor.errors import AnswersError
from advisor.models.validation import describe_validation_error

BUILTIN_PREFIX = "builtin:"


class Goals(BaseModel):
    """What the optimized model must achieve; every goal is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_size_reduction: float | None = Field(
        None, gt=0, lt=1, description="Fraction of the float32 .tflite size to remove, 0 < x < 1."
    )
    max_size_mb: float | None = Field(
        None, gt=0, description="Absolute limit on the .tflite file, in MB (10^6 bytes)."
    )
    max_accuracy_drop: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Largest allowed drop of the metric against the float32 model, absolute (0.01 = 1 point).",
    )
    max_latency_ms: float | None = Field(
        None, gt=0, description="Median single-inference latency in ms: measured on this host's CPU for cpu, estimated by Vela for the ethos-u targets, else not measured."
    )
    compressed_download: StrictBool = Field(
        False,
        description="The size goals apply to the gzip-compressed file (this lets pruning and clustering count).",
    )
    min_sqnr_db: float | None = Field(
        None,
        description="Fidelity without labels: the worst output's signal-to-quantization-noise ratio against the "
        "float32 model, in dB, on the inputs given.",
    )
    max_prediction_change: float | None = Field(
        None, ge=0, le=1,
        description="Fidelity without labels: largest fraction of inputs whose top-1 class differs from the float32 "
        "model's (outputs that are class scores).",
    )
    max_ram_kb: float | None = Field(
        None, gt=0,
        description="Working memory on the target, KiB: the TFLM tensor arena (microcontroller), Vela's SRAM (the "
        "ethos-u targets); not_measured on the others.",
    )


BUILTIN_METRICS = ("top1", "top5", "binary", "mae", "rmse")
PYTHON_PREFIX = "python:"


class Task(BaseModel):
    """How accuracy is measured when labels exist."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str | None = Field(
        None,
        description="top1 | top5 | binary | mae | rmse | python:package.module:function (default: top1 for class "
        "scores with integer or one-hot labels).",
    )
    output: str | None = Field(None, description="The output the labels belong to (default: the model's first output).")
    higher_is_better: StrictBool | None = Field(None, description="For a python: metric (built-ins know their direction).")
    outputs: dict[str, Literal["scores", "values"]] = Field(
        default_factory=dict,
        description="Each output's kind where the model cannot tell it: scores (a classifier's head: top-1 agreement and "
        "prediction change) or values (boxes, landmarks, embeddings, regression, audio frames).",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is None or value in BUILTIN_METRICS:
            return value
        if value.startswith(PYTHON_PREFIX):
            module, sep, function = value[len(PYTHON_PREFIX):].partition(":")
            if module and sep and function:
                return value
            raise ValueError(f"'{value}' is not of the form python:package.module:function")
        raise ValueError(f"'{value}' is not a metric{did_you_mean(value, BUILTIN_METRICS)}; choose one of: "
                         f"{', '.join(BUILTIN_METRICS)}, or python:package.module:function")


class Inputs(BaseModel):
    """Where the model and data are; needed by `advisor run`, optional for `advisor recommend`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        None, description="A .keras or .h5 file, a SavedModel folder, a float32 .tflite, or builtin:digits."
    )
    representative: str | None = Field(
        None, description="Unlabelled samples: an .npz with one array per input (or `x`), or an .npy file; or builtin:digits."
    )
    train: str | None = Field(None, description="Labelled training data: an .npz with the inputs and `y`; or builtin:digits.")
    eval: str | None = Field(
        None, description="Evaluation data: an .npz with the inputs, and `y` where labelled; accuracy and fidelity "
        "are measured on it."
    )
    custom_objects: str | None = Field(
        None,
        description="python:package.module, imported before the model is loaded: its registered Keras classes count, "
        "and so does a `custom_objects` dict if it defines one (the user's own code runs).",
    )

    @field_validator("custom_objects")
    @classmethod
    def _a_module(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith(PYTHON_PREFIX) or not value[len(PYTHON_PREFIX):].strip()):
            raise ValueError(f"'{value}' is not of the form python:package.module")
        return value


class Budget(BaseModel):
    """A bound on the search of `advisor run` and `advisor compare` (the float32 baseline is not counted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int | None = Field(None, ge=1, description="Largest number of attempts (schemes tried).")
    max_minutes: float | None = Field(
        None, gt=0, description="Wall time after which no new attempt starts (one under way finishes)."
    )


class Answers(BaseModel):
    """Everything the engine decides from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="What data you can provide: none | unlabelled | labelled.")
    hardware: str = Field(description="Where the model runs: one of the rule set's targets (the schema's enum lists them).")
    can_fine_tune: StrictBool = Field(
        True, description="False when labelled data exists but no training may run."
    )
    activation_sensitive: StrictBool = Field(
        False,
        description="Activations are known to be sensitive to quantization (speech, language and detection models often are).",
    )
    goals: Goals = Field(default_factory=Goals, description="What the optimized model must achieve.")
    inputs: Inputs = Field(default_factory=Inputs, description="Where the model and data are.")
    budget: Budget = Field(default_factory=Budget, description="A bound on the search (run and compare).")
    task: Task = Field(default_factory=Task, description="How accuracy is measured when labels exist.")
    strict: StrictBool = Field(False, description="A goal left not_measured fails the attempt (CI).")

    # The known data levels and targets come from the rule set, given as validation context
    # ({"data": [...], "hardware": [...]}) so that this module needs nothing from the engine.
    @field_validator("data")
    @classmethod
    def _known_data_level(cls, value: str, info: ValidationInfo) -> str:
        return _one_of(value, (info.context or {}).get("data"), "a data level")

    @field_validator("hardware")
    @classmethod
    def _known_target(cls, value: str, info: ValidationInfo) -> str:
        return _one_of(value, (info.context or {}).get("hardware"), "a known target")


def _one_of(value: str, known: list[str] | None, what: str) -> str:
    if known is not None and value not in known:
        raise ValueError(f"'{value}' is not {what}{did_you_mean(value, known)}; choose one of: {', '.join(known)}")
    return value


def vocabulary(rules) -> dict[str, list[str]]:
    """The validation context that checks `data` and `hardware` against a rule set."""
    return {"data": list(rules.data_level_ids), "hardware": list(rules.targets)}


def parse_answers(raw: Any, *, rules, source: str = "answers") -> Answers:
    """Validate a dict (or an Answers) against `rules` into Answers; errors name `source` and the field."""
    if isinstance(raw, Answers):
        raw = raw.model_dump(exclude_defaults=True)
    if not isinstance(raw, dict):
        raise AnswersError(f"{source}: must be a mapping of answers, not {type(raw).__name__}")
    try:
        return Answers.model_validate(raw, context=vocabulary(rules))
    except ValidationError as err:
        raise AnswersError(describe_validation_error(err, Answers, source)) from None


def read_answers_file(path: str | Path, *, rules, overrides: dict | None = None) -> Answers:
    """Read a YAML or JSON answers file; relative input paths are resolved against its folder. `overrides`
    (command-line flags) are laid over the file's sections before the answers are validated, once."""
    path = Path(path)
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise AnswersError(f"{name}: answers must be a .yaml, .yml or .json file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersError(f"{name}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise AnswersError(f"{name}: cannot be read ({err.__class__.__name__})") from None
    try:
        raw = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=_yaml_loader())
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise AnswersError(f"{name}: not valid {'JSON' if suffix == '.json' else 'YAML'}: {_one_line(err)}") from None
    raw = raw if raw is not None else {}
    if overrides and isinstance(raw, dict):
        raw = {**raw, **{key: {**(raw.get(key) or {}), **value} if isinstance(value, dict) else value
                         for key, value in overrides.items()}}
    answers = parse_answers(raw, source=name, rules=rules)
    return resolve_inputs(answers, path.parent)


def resolve_inputs(answers: Answers, base: Path) -> Answers:
    """Make relative input paths absolute against `base` (builtin names stay as they are)."""
    resolved = {}
    for field, value in answers.inputs.model_dump().items():
        if value is None or value.startswith((BUILTIN_PREFIX, PYTHON_PREFIX)) or Path(value).is_absolute():
            continue
        resolved[field] = str((base / value).resolve())
    if not resolved:
        return answers
    return answers.model_copy(update={"inputs": answers.inputs.model_copy(update=resolved)})


def dump_answers_yaml(answers: Answers) -> str:
    """The answers as YAML, leaving out what is at its default."""
    return yaml.safe_dump(answers.model_dump(exclude_defaults=True), sort_keys=False)


def _yaml_loader():
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
