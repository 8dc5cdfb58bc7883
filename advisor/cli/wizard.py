"""`advisor wizard`: the decision tree as a conversation. It only produces Answers; the engine decides.

Every prompt goes through `Prompter.ask(question, default)`, which tests replace. A question is
skipped when no answer to it can change the recommendation (the engine is asked, not a rule here).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from advisor.engine import evaluate
from advisor.engine.rules import RuleSet
from advisor.errors import EXIT_INFEASIBLE, EXIT_OK
from advisor.models.answers import Answers, Goals, Inputs, vocabulary
from advisor.models.validation import describe_validation_error

BACK = "__back__"
AUTOMATIC = "__automatic__"  # a choice that leaves the answer at its default


@dataclass(frozen=True)
class Question:
    key: str  # dotted field of Answers: "data", "goals.max_accuracy_drop", "inputs.model"
    kind: str  # select | confirm | number | path
    prompt: str
    why: str
    choices: tuple[tuple[Any, str], ...] = ()


@dataclass
class Draft:
    """Answers so far, as plain values keyed like Question.key."""

    values: dict[str, Any] = field(default_factory=dict)

    def answers(self, rules: RuleSet, **override) -> Answers:
        values = {**self.values, **override}
        nested: dict[str, Any] = {"goals": {}, "inputs": {}, "task": {}}
        for key, value in values.items():
            if value is None or value == AUTOMATIC:
                continue
            if "." in key:
                group, name = key.split(".", 1)
                nested[group][name] = value
            else:
                nested[key] = value
        return Answers.model_validate(nested, context=vocabulary(rules))


def questions(rules: RuleSet) -> list[Question]:
    data = tuple((level.id, f"{level.id}: {level.label}") for level in rules.catalog.data_levels)
    targets = tuple((tid, f"{tid}: {t.title}") for tid, t in rules.targets.items())
    return [
        Question("data", "select", "What data can you provide?",
                 "No data still allows float16 and dynamic range; a few hundred unlabelled inputs unlock full-integer "
                 "quantization, which integer-only accelerators need; labelled data unlocks quantization-aware training.",
                 data),
        Question("hardware", "select", "Where will the model run?",
                 "Accelerators run only models quantized their way: the Edge TPU, Hexagon DSP and microcontrollers need "
                 "integer models; GPUs compute in float.",
                 targets),
        Question("can_fine_tune", "confirm", "May the model be fine-tuned (trained further)?",
                 "Quantization-aware training, pruning and clustering fine-tune the model on your labelled data."),
        Question("activation_sensitive", "confirm", "Are its activations sensitive to quantization?",
                 "Speech, language and detection models often are: with int8 activations DeepSpeech's error rate rose "
                 "from 6.1% to 43.7%, with int16 activations (16x8) only to 6.5%."),
        Question("goals.min_size_reduction", "number", "Fraction of the size to remove (0-1, empty for no goal)",
                 "Float16 removes up to 50% of the file, the 8-bit schemes up to 75%."),
        Question("goals.max_size_mb", "number", "Largest file size in MB (empty for no goal)",
                 "An absolute limit on the .tflite file (10^6 bytes), judged against your model's weights."),
        Question("goals.max_accuracy_drop", "number", "Largest accuracy drop, absolute (0.01 = 1 point; empty for none)",
                 "The guide's classes: float16 loses an insignificant amount, dynamic range and QAT the smallest, "
                 "full integer a small amount (Table 1: 0.2 to 8 points of top-1)."),
        Question("goals.min_sqnr_db", "number", "Smallest SQNR against the float32 model, in dB (empty for none)",
                 "Without labels the advisor compares each output with the float32 model's: on our digits benchmark "
                 "float16 kept about 80 dB, dynamic range about 57 dB, full integer about 44 dB."),
        Question("goals.max_prediction_change", "number",
                 "Largest share of inputs whose top-1 class may change (0-1, e.g. 0.01; empty for none)",
                 "Measured against the float32 model on your inputs, no labels needed; it bounds the accuracy drop."),
        Question("task.metric", "select", "How is accuracy measured on your labelled data?",
                 "top1 for class scores with class labels; binary for one sigmoid output; mae or rmse for regression "
                 "(a python:module:function metric can be set in the answers file).",
                 ((AUTOMATIC, "automatic: top1 for class scores, binary for one 0/1 output, mae for float labels"),
                  ("top1", "top1: top-1 accuracy (class scores)"), ("top5", "top5: top-5 accuracy"),
                  ("binary", "binary: one sigmoid or logit output, 0/1 labels"), ("mae", "mae: mean absolute error"),
                  ("rmse", "rmse: root-mean-square error"))),
        Question("goals.max_latency_ms", "number", "Largest latency in ms (empty for none)",
                 "Measured on this host's CPU for cpu; estimated by Arm's Vela compiler for the Ethos-U NPUs; "
                 "not asked for targets where it cannot be measured."),
        Question("goals.max_ram_kb", "number", "Largest working memory in KiB (empty for none)",
                 "The tensor arena the LiteRT for Microcontrollers interpreter needs, or the SRAM Vela allocates "
                 "on an Ethos-U NPU."),
        Question("goals.compressed_download", "confirm", "Do the size goals apply to the compressed download?",
                 "Pruning and clustering leave the file's size alone but make it compress much better."),
        Question("inputs.model", "path", "Model file or SavedModel folder (or builtin:digits; empty to skip)",
                 "advisor run needs it; a .keras or .h5 file, or a SavedModel folder."),
        Question("inputs.representative", "path", "Representative sample (.npz, one array per input, or .npy; empty to skip)",
                 "100-500 typical inputs calibrate full-integer quantization."),
        Question("inputs.train", "path", "Labelled training data (.npz with the inputs and y; empty to skip)",
                 "Fine-tuning (QAT, pruning, clustering) trains on it."),
        Question("inputs.eval", "path", "Evaluation data (.npz with the inputs, and y where labelled; empty to skip)",
                 "Accuracy (with y) and fidelity against float32 are measured on it."),
    ]


# Goal combinations under which a yes/no or choice question is tested for relevance.
PROBE_GOALS = (
    {},
    {"goals.max_accuracy_drop": 0.005},
    {"goals.min_size_reduction": 0.75},
    {"goals.max_latency_ms": 10.0},
    {"goals.min_size_reduction": 0.9, "goals.compressed_download": True},
)


MEASURED_WITHOUT_LABELS = ("goals.min_sqnr_db", "goals.max_prediction_change")


def _outcome(answers: Answers, rules: RuleSet) -> tuple:
    rec = evaluate.recommend(answers, rules)
    return rec.feasible, rec.scheme, tuple(rec.fallbacks), tuple(rec.pre_steps)


def relevant(question: Question, draft: Draft, rules: RuleSet) -> bool:
    """Ask only what can change the recommendation, or what `advisor run` will need."""
    if question.key.startswith("inputs."):
        name = question.key.split(".", 1)[1]
        need = {"model": None, "representative": "unlabelled", "train": "labelled", "eval": "unlabelled"}[name]
        return need is None or rules.data_rank[draft.values["data"]] >= rules.data_rank[need]
    labelled = draft.values.get("data") == rules.data_level_ids[-1]
    target = rules.targets[draft.values["hardware"]]
    if question.key in MEASURED_WITHOUT_LABELS:
        return not labelled
    if question.key == "task.metric":
        return labelled
    if question.key == "goals.max_latency_ms":  # measured on this host's CPU, or estimated by the NPU's compiler
        return target.measured_on_host or target.check.checker is not None
    if question.key == "goals.max_ram_kb":
        return target.check.arena_check or target.check.checker is not None
    if question.kind == "number":
        return True
    options = [value for value, _ in question.choices] if question.kind == "select" else [True, False]
    asked_goals = {k: v for k, v in draft.values.items() if k.startswith("goals.")}
    probes = [asked_goals] if asked_goals or question.key.startswith("goals.") else PROBE_GOALS
    for probe in probes:
        outcomes = set()
        for option in options:
            try:
                outcomes.add(_outcome(draft.answers(rules, **{**probe, question.key: option}), rules))
            except (ValidationError, ValueError):
                continue
        if len(outcomes) > 1:
            return True
    return False


def validate_value(question: Question, raw: str) -> tuple[Any, str | None]:
    """(value, None) or (None, reason); the reason comes from the same pydantic model as the answers file."""
    text = raw.strip()
    if text == "":
        return None, None
    if question.kind == "path":
        return text, None
    try:
        number = float(text)
    except ValueError:
        return None, f"{text!r} is not a number"
    model = Goals if question.key.startswith("goals.") else Inputs
    name = question.key.split(".", 1)[1]
    try:
        model(**{name: number})
    except ValidationError as err:
        return None, describe_validation_error(err, model, question.key.split(".")[0]).split(": ", 2)[-1]
    return number, None


class Prompter:
    """Asks one question; returns the value, BACK, or raises KeyboardInterrupt. Replace it in tests."""

    def ask(self, question: Question, default: Any, can_go_back: bool) -> Any:
        import questionary

        from advisor.report.progress import terminal_console

        terminal_console().print(f"[dim]{question.why}[/dim]")
        if question.kind == "select":
            choices = [questionary.Choice(label, value=value) for value, label in question.choices]
            if can_go_back:
                choices.append(questionary.Choice("<- back", value=BACK))
            prompt = questionary.select(question.prompt, choices=choices, default=_choice_default(choices, default))
        elif question.kind == "confirm":
            prompt = questionary.confirm(question.prompt, default=bool(default))
        else:
            def check(raw: str):
                _, reason = validate_value(question, raw)
                return True if reason is None else reason

            prompt = questionary.text(question.prompt, default="" if default is None else str(default), validate=check)
        _escape_cancels(prompt)
        answer = prompt.unsafe_ask()
        if question.kind in ("number", "path"):
            return validate_value(question, answer)[0]
        return answer


def _choice_default(choices, default):
    return next((c for c in choices if c.value == default), None)


def _escape_cancels(prompt) -> None:
    from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

    bindings = KeyBindings()

    @bindings.add("escape", eager=True)
    def _cancel(event):
        event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    prompt.application.key_bindings = merge_key_bindings([prompt.application.key_bindings, bindings])


def converse(rules: RuleSet, prompter: Prompter, prefill: Answers | None = None, *, on_skip: Callable | None = None) -> Answers:
    """Ask every relevant question in order (with back), and return the validated Answers."""
    defaults = _flatten(prefill) if prefill else {}
    all_questions = questions(rules)
    draft = Draft()
    asked: list[int] = []
    index = 0
    while index < len(all_questions):
        question = all_questions[index]
        if question.key not in ("data", "hardware") and not relevant(question, draft, rules):
            draft.values.pop(question.key, None)
            if on_skip:
                on_skip(question)
            index += 1
            continue
        default = draft.values.get(question.key, defaults.get(question.key, _model_default(question)))
        answer = prompter.ask(question, default, can_go_back=bool(asked))
        if answer == BACK:
            index = asked.pop()
            continue
        draft.values[question.key] = answer
        asked.append(index)
        index += 1
    answers = draft.answers(rules)
    # What the wizard does not ask about (the budget, strict, a python: metric) is kept from the pre-filled answers.
    if not prefill:
        return answers
    task = prefill.task if (prefill.task.metric or "").startswith("python:") else answers.task
    return answers.model_copy(update={"budget": prefill.budget, "strict": prefill.strict, "task": task})


def _model_default(question: Question) -> Any:
    if question.key in ("can_fine_tune",):
        return True
    if question.key in ("activation_sensitive", "goals.compressed_download"):
        return False
    if question.kind == "select":
        return question.choices[0][0]
    return None


def _flatten(answers: Answers) -> dict[str, Any]:
    flat = {"data": answers.data, "hardware": answers.hardware, "can_fine_tune": answers.can_fine_tune,
            "activation_sensitive": answers.activation_sensitive}
    for group in ("goals", "inputs", "task"):
        for name, value in getattr(answers, group).model_dump().items():
            flat[f"{group}.{name}"] = value
    return flat


def save_answers(answers: Answers, path: Path) -> Path:
    """Write YAML whole (temporary name, then rename); input paths are written relative to its folder."""
    from advisor.models.answers import BUILTIN_PREFIX, PYTHON_PREFIX, dump_answers_yaml

    path = Path(path)
    relative = {}
    for name, value in answers.inputs.model_dump().items():
        if value and not value.startswith((BUILTIN_PREFIX, PYTHON_PREFIX)):
            relative[name] = os.path.relpath(Path(value).resolve(), path.resolve().parent)
    if relative:
        answers = answers.model_copy(update={"inputs": answers.inputs.model_copy(update=relative)})
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(dump_answers_yaml(answers), encoding="utf-8")
        os.replace(partial, path)
    except OSError as err:
        from advisor.pipeline.output import path_error

        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise path_error(path, err, "be written") from None
    return path


SAVE = Question("save", "confirm", "Save these answers?", "Saved answers give the same recommendation with advisor recommend --answers FILE.")
SAVE_PATH = Question("save_path", "path", "Save to", "A YAML answers file.")
RUN_NOW = Question("run_now", "confirm", "Run it on the model now (advisor run)?", "It converts, measures and checks every rung of the ladder.")


def free_name(base: str = "answers.yaml") -> str:
    path = Path(base)
    index = 1
    while path.exists():
        path = Path(f"{Path(base).stem}-{index}{Path(base).suffix}")
        index += 1
    return str(path)


def wizard(rules: RuleSet, prompter: Prompter, *, prefill: Answers | None, save: str | None, console) -> tuple[int, Path | None]:
    """The whole session: questions, the recommendation, saving, and the offer to run."""
    from advisor.pipeline.recommend import recommend
    from advisor.report.recommendation import print_recommendation

    answers = converse(rules, prompter, prefill, on_skip=None)
    rec = recommend(answers, rules=rules)
    print_recommendation(rec, console)
    saved = None
    if save:
        saved = save_answers(answers, Path(save))
    elif prompter.ask(SAVE, True, can_go_back=False):
        target = prompter.ask(SAVE_PATH, free_name(), can_go_back=False) or free_name()
        saved = save_answers(answers, Path(target))
    if saved:
        console.print(f"saved the answers to {saved}; [bold]advisor recommend --answers {saved}[/bold] gives this recommendation")
    code = EXIT_OK if rec.feasible else EXIT_INFEASIBLE
    if rec.feasible and answers.inputs.model and prompter.ask(RUN_NOW, False, can_go_back=False):
        from advisor.cli.running import run_answers

        code = run_answers(answers, rules, console)
    return code, saved
