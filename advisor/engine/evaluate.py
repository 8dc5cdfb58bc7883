"""The engine: walk a rule set for one set of answers and return a Recommendation.

How a recommendation is made (rules/README.md says the same for rule authors):
1. Facts are read off the answers, the target's catalog entry and the size goal.
2. The `ladder` part of the tree is walked: at each level the first node whose `when` holds wins;
   the leaf reached gives the schemes to try, most preferred first. The `pre_steps` part is walked
   the same way.
3. Requirements remove schemes and pre-steps from what the leaves gave: the data level and
   fine-tuning a scheme needs, the target's `runs` list, and the size goal: with a model, the size
   its tensors predict for the scheme (engine/size_model.py), less the prediction's measured error so
   that a goal the scheme might still meet is tried; without one, the guide's `max_size_reduction`.
   Pre-steps count only for a compressed download.
4. With an accuracy goal, schemes whose accuracy class is expected to meet it move to the front in
   ladder order; the others follow, least expected loss first. With a size goal and a model, schemes
   predicted to meet it outright come before those that meet it only within the prediction's error.
5. The first scheme is the recommendation, the rest are its fallbacks. When none is left the answers
   are infeasible, and `needs` lists what would lift the fewest failing requirements.
The engine is pure: no I/O, no TensorFlow, and no scheme or target name in its code.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, NamedTuple

from advisor.engine.rules import CompiledNode, RuleSet
from advisor.models.answers import Answers
from advisor.models.recommendation import (
    Alternative,
    Expected,
    PredictedSize,
    Reason,
    Recommendation,
    RecoveryRung,
)

if TYPE_CHECKING:  # a model's facts are only read here; recommending without a model never imports the size model
    from advisor.engine.size_model import ModelFacts


class Failure(NamedTuple):
    check: str
    reason: str
    would: str | None
    need: str | None


def build_facts(answers: Answers, rules: RuleSet, model: ModelFacts | None) -> dict[str, Any]:
    target = rules.targets[answers.hardware]
    goals = answers.goals
    facts: dict[str, Any] = {
        "data": answers.data,
        "hardware": answers.hardware,
        "can_fine_tune": answers.can_fine_tune,
        "activation_sensitive": answers.activation_sensitive,
        "target.integer_only": target.integer_only,
        "target.fast_integer": target.fast_integer,
        "target.runs": target.runs,
    }
    for name in type(goals).model_fields:
        facts[f"goals.{name}"] = getattr(goals, name)
    facts["goals.accuracy_or_fidelity"] = any(value is not None for value in (goals.max_accuracy_drop, goals.min_sqnr_db,
                                                                          goals.max_prediction_change))
    facts["model.format"] = model.format if model else None
    model_bytes = model.float32_bytes if model else None
    facts["size.required_reduction"] = required_reduction(goals.min_size_reduction, goals.max_size_mb, model_bytes)
    return facts


def required_reduction(min_size_reduction: float | None, max_size_mb: float | None, model_bytes: int | None) -> float | None:
    """The fraction of the float32 size the goals require removing; None without a (judgeable) goal."""
    needed = [min_size_reduction] if min_size_reduction is not None else []
    if max_size_mb is not None and model_bytes:
        needed.append(max(0.0, 1.0 - max_size_mb * 1e6 / model_bytes))
    return max(needed) if needed else None


def walk(part: list[CompiledNode], facts: dict[str, Any]) -> list[CompiledNode]:
    """The path of first-matching nodes from the top of a part down to a leaf (empty if none holds)."""
    path: list[CompiledNode] = []
    nodes = part
    while nodes:
        node = next((n for n in nodes if all(c.holds(facts) for c in n.conditions)), None)
        if node is None:
            return []
        path.append(node)
        nodes = node.children
    return path


def recommend(answers: Answers, rules: RuleSet, model: ModelFacts | None = None) -> Recommendation:
    """The recommendation for `answers`; `model`, when the model is known: its format, its float32
    size and the predicted size of each scheme."""
    facts = build_facts(answers, rules, model)
    rationale: list[Reason] = []
    warnings: list[str] = []

    ladder_path = walk(rules.ladder_tree, facts)
    if not ladder_path:
        ladder: tuple[str, ...] = ()
        rationale.append(Reason(rule="no-rule", because="No rule of the ladder holds for these answers."))
    else:
        ladder = ladder_path[-1].ladder
        rationale.extend(node.reason for node in ladder_path)

    pre_steps = _choose_pre_steps(answers, rules, facts, rationale)
    required = facts["size.required_reduction"]
    if answers.goals.max_size_mb is not None and (model is None or model.float32_bytes is None):
        warnings.append(
            "goals.max_size_mb was not judged by the rules: no model file was given to measure it "
            "against (advisor run measures it)."
        )

    candidates: list[str] = []
    ruled_out: dict[str, list[Failure]] = {}
    for scheme in ladder:
        failures = _failures(scheme, answers, rules, pre_steps, required, model)
        if failures:
            ruled_out[scheme] = failures
            rationale.append(_reason(failures[0].check, failures[0].reason))
        else:
            candidates.append(scheme)

    candidates = _order_by_accuracy(candidates, answers, rules, rationale)
    candidates = _order_by_size(candidates, answers, rules, pre_steps, required, model, rationale)
    candidates, held_back = _hold_back_size_resorts(candidates, answers, rules, pre_steps, required, model, rationale)

    if not candidates:
        return _infeasible(answers, ladder_path, ruled_out, rationale, warnings, pre_steps, required, rules, model)

    scheme, fallbacks = candidates[0], candidates[1:]
    recovery = _choose_recovery(answers, rules, facts, candidates, rationale)
    chosen = rules.schemes[scheme]
    accuracy = rules.accuracy[chosen.accuracy]
    rationale.append(rules.scheme_reason[scheme])
    for step in pre_steps:
        rationale.append(rules.pre_step_reason[step])
    goal = answers.goals.max_accuracy_drop
    if goal is not None and accuracy.expected_drop > goal:
        warnings.append(
            f"{scheme} is expected to lose about {accuracy.expected_drop * 100:g} points ({accuracy.label}), more "
            f"than the goal of {goal * 100:g}; no scheme left is expected to meet it, so advisor run will measure."
        )
    wanted = (None, answers.goals.min_sqnr_db, answers.goals.max_prediction_change)
    if any(w is not None for w in wanted) and not expected_to_meet(scheme, wanted, rules):
        expected = [f"about {accuracy.expected_sqnr_db:g} dB" for _ in [0] if accuracy.expected_sqnr_db is not None]
        expected += [f"{accuracy.expected_prediction_change:.1%} of top-1 classes changed"
                     for _ in [0] if accuracy.expected_prediction_change is not None]
        warnings.append(
            f"{scheme} is not expected to meet the fidelity goals ({accuracy.label}: {', '.join(expected)} on our "
            "benchmark); advisor run will measure them on your data."
        )
    for sid in (scheme, *fallbacks):
        if rules.schemes[sid].warning:
            warnings.append(f"{sid}: {' '.join(rules.schemes[sid].warning.split())}")

    return Recommendation(
        feasible=True,
        scheme=scheme,
        pre_steps=list(pre_steps),
        fallbacks=list(fallbacks),
        expected=Expected(
            max_size_reduction=round(_reduction(chosen.max_size_reduction, pre_steps, answers, rules), 4),
            **_predicted(scheme, model).model_dump(),
            accuracy=accuracy.label,
            accuracy_drop=accuracy.expected_drop,
            hardware=rules.runs_on[scheme],
        ),
        rationale=rationale,
        needs=[],
        warnings=warnings,
        alternatives=_alternatives(scheme, fallbacks, ruled_out, ladder_path, answers, pre_steps, required, rules, model,
                                   held_back),
        backends={sid: found[0] for sid in (scheme, *fallbacks)
                  if (found := rules.backends_for(sid, model.format if model else None))},
        recovery=recovery,
    )


def _choose_recovery(answers: Answers, rules: RuleSet, facts: dict[str, Any], candidates: list[str],
                     rationale: list[Reason]) -> list[RecoveryRung]:
    """The recovery part's rungs whose scheme is on the ladder and whose pre-steps the answers allow, each
    placed after the last of its scheme and its `after` schemes on the ladder."""
    path = walk(rules.recovery_tree, facts)
    if not path or not path[-1].rungs:
        return []
    kept: list[RecoveryRung] = []
    reasons: list[Reason] = []
    for item in path[-1].rungs:
        if item.scheme not in candidates:
            continue
        label = "+".join([*item.pre_steps, item.scheme])
        failures = [f for step in item.pre_steps for f in _requirement_failures(step, answers, rules, facts["model.format"])]
        if failures:
            reasons.append(_reason("recovery", f"{label} is not tried: {failures[0].reason}"))
            continue
        follows = max((item.scheme, *(s for s in item.after if s in candidates)), key=candidates.index)
        because = item.explained
        kept.append(RecoveryRung(scheme=item.scheme, pre_steps=list(item.pre_steps), follows=follows, because=because))
        reasons.append(_reason(f"recovery:{label}", because))
    if kept:
        rationale.extend(node.reason for node in path)
    rationale.extend(reasons)
    return kept


def _choose_pre_steps(answers: Answers, rules: RuleSet, facts: dict[str, Any], rationale: list[Reason]) -> tuple[str, ...]:
    path = walk(rules.pre_step_tree, facts)
    if not path:
        return ()
    leaf = path[-1]
    kept = []
    for step in leaf.pre_steps:
        failures = _requirement_failures(step, answers, rules, facts["model.format"])
        if failures:
            rationale.append(_reason(failures[0].check, failures[0].reason))
        else:
            kept.append(step)
    if kept or not leaf.pre_steps:
        rationale.extend(node.reason for node in path)
    return tuple(kept)


def _requirement_failures(name: str, answers: Answers, rules: RuleSet, model_format: str | None = None) -> list[Failure]:
    return list(_cached_requirement_failures(name, answers.data, answers.can_fine_tune, rules, model_format))


@functools.lru_cache(maxsize=1024)
def _cached_requirement_failures(name: str, data: str, can_fine_tune: bool, rules: RuleSet,
                                 model_format: str | None = None) -> tuple[Failure, ...]:
    entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
    failures = []
    if not rules.takes_format(name, model_format):
        label = rules.model_formats[model_format].label if model_format in rules.model_formats else model_format
        need = entry.model_need or f"a model its implementations take ({', '.join(_formats_of(name, rules))})"
        failures.append(Failure("model-format", f"{name} needs {need}; the model is {label}.", None, need))
    if rules.data_rank[data] < rules.data_rank[entry.data]:
        level = rules.data_levels[entry.data]
        failures.append(
            Failure(
                "data-requirement",
                f"{name} needs {level.need or level.label}; the answers say data: {data}.",
                f"with {level.label}",
                level.need or f"data: {level.id}",
            )
        )
    if entry.fine_tune and not can_fine_tune:
        failures.append(
            Failure(
                "fine-tuning",
                f"{name} fine-tunes the model; the answers say can_fine_tune: false.",
                "with can_fine_tune: true",
                "permission to fine-tune the model (can_fine_tune: true)",
            )
        )
    return tuple(failures)


@functools.lru_cache(maxsize=1024)
def _hardware_failure(scheme: str, hardware: str, rules: RuleSet) -> Failure | None:
    if scheme in rules.targets[hardware].runs:
        return None
    runs_on = rules.runs_on[scheme]
    return Failure(
        "hardware-support",
        f"{hardware} cannot run {scheme}; it runs {', '.join(rules.targets[hardware].runs)}.",
        f"on {', '.join(runs_on)}" if runs_on else None,
        f"a target that runs {scheme} ({', '.join(runs_on)})" if runs_on else None,
    )


def _failures(scheme: str, answers: Answers, rules: RuleSet, pre_steps: tuple[str, ...], required: float | None,
              model: ModelFacts | None = None) -> list[Failure]:
    entry = rules.schemes[scheme]
    failures = _requirement_failures(scheme, answers, rules, model.format if model else None)
    hardware = _hardware_failure(scheme, answers.hardware, rules)
    if hardware:
        failures.append(hardware)
    if required is None:
        return failures
    predicted = model.reduction_of(scheme) if model else None
    if predicted is not None:
        best = _reduction(_within_error(predicted, model.error), pre_steps, answers, rules)
        if best + 1e-9 < required:
            failures.append(_predicted_size_failure(scheme, predicted, model.error, required, pre_steps, answers, rules))
        return failures
    reachable = _reduction(entry.max_size_reduction, pre_steps, answers, rules)
    if reachable + 1e-9 < required:
        failures.append(_size_failure(scheme, reachable, required, answers.goals.compressed_download, rules))
    return failures


def _hold_back_size_resorts(candidates: list[str], answers: Answers, rules: RuleSet, pre_steps, required,
                            model: ModelFacts | None, rationale: list[Reason]) -> tuple[list[str], dict[str, str]]:
    """Schemes marked `size_last_resort` stay on the ladder (last) unless another candidate meets the
    size goal even at the pessimistic end of the prediction's error, or there is no size goal (they
    trade accuracy for size beyond what the others reach)."""
    resorts = [s for s in candidates if rules.schemes[s].size_last_resort]
    others = [s for s in candidates if s not in resorts]
    if not resorts:
        return candidates, {}

    def outright(scheme: str) -> bool:
        if required is None:
            return True
        predicted = model.reduction_of(scheme) if model else None
        reach = predicted if predicted is not None else rules.schemes[scheme].max_size_reduction
        error = model.error if model and predicted is not None else 0.0
        return _reduction(1 - (1 - reach) * (1 + error), pre_steps, answers, rules) + 1e-9 >= required

    meeting = [s for s in others if outright(s)]
    if not meeting:
        return candidates, {}
    reason = (f"kept for size goals the other schemes cannot reach; {meeting[0]} is expected to meet "
              + ("the size goal even at the pessimistic end of the prediction's error" if required is not None
                 else "these answers (no size goal)"))
    for sid in resorts:
        rationale.append(_reason("size-last-resort", f"{sid}: {reason}."))
    return others, {sid: reason for sid in resorts}


def _formats_of(name: str, rules: RuleSet) -> list[str]:
    if name in rules.pre_step_catalog:
        return rules.pre_step_catalog[name].formats or list(rules.model_formats)
    return sorted({f for b in rules.implementations(name) if b in rules.backends for f in rules.backends[b].formats})


def _within_error(reduction: float, error: float) -> float:
    """The largest reduction a scheme predicted to remove `reduction` may still reach."""
    return 1 - (1 - reduction) * (1 - error)


def _predicted_size_failure(scheme: str, predicted: float, error: float, required: float, pre_steps, answers: Answers,
                            rules: RuleSet) -> Failure:
    reach = _reduction(predicted, pre_steps, answers, rules)
    safe = _reduction(1 - (1 - predicted) * (1 + error), pre_steps, answers, rules)
    steps = f" after {' and '.join(pre_steps)}" if answers.goals.compressed_download and pre_steps else ""
    if safe <= 0:
        return Failure("size-goal", f"{scheme} is not predicted to reduce this model's size; the goals need {required:.1%}.",
                       "without a size goal", None)
    return Failure(
        "size-goal",
        f"{scheme} is predicted to remove about {reach:.0%} of this model{steps} (within the prediction's "
        f"{error:.0%} error); the goals need {required:.1%}.",
        f"with a size goal of at most {int(safe * 100)}%",
        f"a size goal of at most {int(safe * 100)}% ({scheme} reaches about {reach:.0%} on this model{steps})",
    )


def _predicted(scheme: str, model: ModelFacts | None) -> PredictedSize:
    if model is None or model.bytes_of(scheme) is None:
        return PredictedSize()
    return PredictedSize(size_bytes=model.bytes_of(scheme), size_reduction=round(model.reduction_of(scheme), 4))


def _order_by_size(candidates: list[str], answers: Answers, rules: RuleSet, pre_steps, required, model: ModelFacts | None,
                   rationale: list[Reason]) -> list[str]:
    """Schemes predicted to meet the size goal outright before those that meet it only within the error."""
    if required is None or model is None or len(candidates) < 2:
        return candidates

    def outright(scheme: str) -> bool:
        predicted = model.reduction_of(scheme)
        return predicted is None or _reduction(predicted, pre_steps, answers, rules) + 1e-9 >= required

    ordered = sorted(candidates, key=lambda s: not outright(s))
    if ordered != candidates:
        close = [s for s in ordered if not outright(s)]
        rationale.append(_reason("size-prediction", (
            f"On this model {', '.join(close)} {'is' if len(close) == 1 else 'are'} predicted to miss the size goal of "
            f"{required:.1%} by less than the prediction's {model.error:.0%} error, so {'it comes' if len(close) == 1 else 'they come'} "
            "after the schemes predicted to meet it.")))
    return ordered


@functools.lru_cache(maxsize=4096)
def _size_failure(scheme: str, reachable: float, required: float, compressed: bool, rules: RuleSet) -> Failure:
    extra = ""
    if rules.pre_step_catalog and not compressed:
        extra = " (or goals.compressed_download: true with labelled data, so pruning and clustering count)"
    if reachable <= 0:
        return Failure("size-goal", f"{scheme} does not reduce the size; the goals need {required:.1%}.", "without a size goal", None)
    return Failure(
        "size-goal",
        f"{scheme} removes at most {reachable:.0%} of the size; the goals need {required:.1%}.",
        f"with a size goal of at most {reachable:.0%}",
        f"a size goal {scheme} can reach: at most {reachable:.0%} reduction{extra}",
    )


def _reduction(scheme_max: float, pre_steps: tuple[str, ...], answers: Answers, rules: RuleSet) -> float:
    remaining = 1.0 - scheme_max
    if answers.goals.compressed_download:
        for step in pre_steps:
            remaining *= 1.0 - rules.pre_step_catalog[step].compressed_reduction
    return 1.0 - remaining


def _order_by_accuracy(candidates: list[str], answers: Answers, rules: RuleSet, rationale: list[Reason]) -> list[str]:
    goals = answers.goals
    wanted = (goals.max_accuracy_drop, goals.min_sqnr_db, goals.max_prediction_change)
    if all(goal is None for goal in wanted) or len(candidates) < 2:
        return candidates

    ordered, reason = _accuracy_order(tuple(candidates), wanted, rules)
    if reason:
        rationale.append(reason)
    return list(ordered)


def expected_to_meet(scheme: str, wanted: tuple, rules: RuleSet) -> bool:
    """Whether the scheme's accuracy class is expected to meet the accuracy and fidelity goals."""
    drop_goal, sqnr_goal, change_goal = wanted
    cls = rules.accuracy[rules.schemes[scheme].accuracy]
    if drop_goal is not None and cls.expected_drop > drop_goal + 1e-12:
        return False
    if sqnr_goal is not None and cls.expected_sqnr_db is not None and cls.expected_sqnr_db + 1e-9 < sqnr_goal:
        return False
    return not (change_goal is not None and cls.expected_prediction_change is not None
                and cls.expected_prediction_change > change_goal + 1e-12)


@functools.lru_cache(maxsize=4096)
def _accuracy_order(candidates: tuple[str, ...], wanted: tuple, rules: RuleSet) -> tuple[tuple[str, ...], Reason | None]:
    drop = rules.expected_drop.__getitem__
    meeting = [s for s in candidates if expected_to_meet(s, wanted, rules)]
    missing = sorted((s for s in candidates if s not in meeting), key=drop)
    ordered = tuple(meeting + missing)
    if ordered == candidates:
        return ordered, None
    expected = "; ".join(f"{s}: {rules.accuracy[rules.schemes[s].accuracy].label} (~{drop(s) * 100:g} pts)" for s in ordered)
    drop_goal, sqnr_goal, change_goal = wanted
    asked = [f"a drop of {drop_goal * 100:g} points" for _ in [0] if drop_goal is not None]
    asked += [f"an SQNR of at least {sqnr_goal:g} dB" for _ in [0] if sqnr_goal is not None]
    asked += [f"at most {change_goal:.1%} of top-1 classes changed" for _ in [0] if change_goal is not None]
    return ordered, Reason(
        rule="accuracy-goal",
        because=f"The accuracy and fidelity goals allow {' and '.join(asked)}; schemes expected to meet them "
        f"come first, then the rest by least expected loss ({expected}).",
    )


@functools.lru_cache(maxsize=4096)
def _reason(rule: str, because: str) -> Reason:
    return Reason(rule=rule, because=because)


@functools.lru_cache(maxsize=4096)
def _alternative(scheme: str, status: str, reason: str, would_change: str | None = None) -> Alternative:
    return Alternative(scheme=scheme, status=status, reason=reason, would_change=would_change)


def _alternatives(scheme, fallbacks, ruled_out, ladder_path, answers, pre_steps, required, rules: RuleSet,
                  model: ModelFacts | None, held_back: dict[str, str] | None = None) -> list[Alternative]:
    deciding = ladder_path[-1].id if ladder_path else "no-rule"
    result = [
        _alternative(sid, "fallback", f"fallback {rank}: tried if what comes before it fails validation")
        for rank, sid in enumerate(fallbacks, start=1)
    ]
    for sid in rules.schemes:
        if sid == scheme or sid in fallbacks:
            continue
        failures = ruled_out.get(sid) or _failures(sid, answers, rules, pre_steps, required, model)
        if failures:
            reason = " ".join(f.reason for f in failures)
            would = " and ".join(f.would for f in failures if f.would) or None
            result.append(_alternative(sid, "ruled_out", reason, would))
        elif held_back and sid in held_back:
            result.append(_alternative(sid, "not_considered", held_back[sid], "with a size goal the other schemes cannot reach"))
        else:
            result.append(_alternative(sid, "not_considered", f"rule {deciding} does not list it"))
    if model is None:
        return result
    return [alt.model_copy(update={"expected": _predicted(alt.scheme, model)}) for alt in result]


def _infeasible(answers, ladder_path, ruled_out, rationale, warnings, pre_steps, required, rules: RuleSet,
                model: ModelFacts | None) -> Recommendation:
    fewest = min((len(f) for f in ruled_out.values()), default=0)
    needs: list[str] = []
    for sid, failures in ruled_out.items():
        if len(failures) != fewest:
            continue
        lifted = " and ".join(f.need for f in failures if f.need)
        if lifted:
            needs.append(f"{lifted} would allow {sid}")
    size_failed = any(f.check == "size-goal" for failures in ruled_out.values() for f in failures)
    if size_failed and rules.pre_step_catalog and not answers.goals.compressed_download:
        steps = " and ".join(rules.pre_step_catalog)
        needs.append(f"or a size goal on the compressed download, where {steps} count (goals.compressed_download: "
                     "true, with labelled data)")
    if not needs:
        needs.append("no scheme of the rule set applies to these answers; change the hardware or the goals")
    rationale.append(Reason(rule="infeasible", because="No scheme on the ladder meets every requirement."))
    return Recommendation(
        feasible=False,
        scheme=None,
        pre_steps=[],
        fallbacks=[],
        expected=None,
        rationale=rationale,
        needs=needs,
        warnings=warnings,
        alternatives=_alternatives(None, [], ruled_out, ladder_path, answers, pre_steps, required, rules, model),
    )
