"""Recovering accuracy without labels: each recovery step alone and in the ladder's combinations, on
models where plain full-integer quantization hurts, for an integer-only target (edgetpu).

Measures, on the evaluation inputs against the float32 model: the worst output's SQNR, the share of
top-1 classes changed, the accuracy where labels exist, and the time of the steps. Then the whole ladder
(`advisor run`) with `max_prediction_change` and unlabelled data, and how long it takes.

    python benchmarks/recovery.py                     the digits MobileNetV2s and mini-Xception (trained here)
    python benchmarks/recovery.py --model NAME=MODEL.h5,REPRESENTATIVE.npz,EVAL.npz[,GOAL] [--no-builtin]
                                                      a model of your own (pretrained ones are not shipped);
                                                      GOAL 0.02 is max_prediction_change, 30dB min_sqnr_db
    python benchmarks/recovery.py --quick             a tiny CNN, two methods

The advisor's workers run TensorFlow with oneDNN off (advisor/executor/tf_env.py): with it, TensorFlow 2.21
aborts (double free) while training the Xception-style models (distill).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from _common import markdown_table, parser, save, sweep

METHODS = [(), ("equalize",), ("bias_correction",), ("equalize", "bias_correction"), ("adaround",),
           ("equalize", "adaround"), ("distill",)]
QUICK_METHODS = [(), ("adaround",)]
LADDER_GOAL = 0.005  # a model of one's own without a goal (the built-in ones carry theirs: recovery_models.py)


def _model_cases(args, folder: Path) -> list[dict]:
    from recovery_models import BUILDERS, QUICK, build

    cases = []
    builtin = QUICK if args.quick else {} if args.no_builtin else BUILDERS
    for name, (*_, goal) in builtin.items():
        path = build(name, folder)
        cases.append({"name": name, "model": str(path), "representative": str(folder / "digits32-representative.npz"),
                      "eval": str(folder / "digits32-eval.npz"), "goal": goal})
    for spec in args.model or []:
        name, _, files = spec.partition("=")
        model, representative, eval_, *goal = files.split(",")
        cases.append({"name": name, "model": model, "representative": representative, "eval": eval_,
                      "goal": _goal(goal[0]) if goal else LADDER_GOAL})
    return cases


def _goal(text: str) -> float | str:
    """0.02 (max_prediction_change) or 30dB (min_sqnr_db, kept as text)."""
    return text if text.lower().endswith("db") else float(text)


def _goal_of(goal) -> dict:
    if isinstance(goal, str):
        return {"min_sqnr_db": float(goal[:-2])}
    return {"max_prediction_change": goal}


def _goal_text(goal) -> str:
    return f"min_sqnr_db {goal[:-2]} dB" if isinstance(goal, str) else f"max_prediction_change {goal:.1%}"


def _row(case: dict, attempt) -> dict:
    m = attempt.metrics
    fidelity = m.fidelity if m else None
    records = attempt.recovery or []
    return {
        "model": case["name"], "method": "+".join(attempt.pre_steps) or "plain full integer", "error": attempt.error,
        "sqnr_db": fidelity.worst_sqnr_db if fidelity else None,
        "prediction_change": fidelity.prediction_change if fidelity else None,
        "accuracy": m.accuracy if m else None, "accuracy_drop": m.accuracy_drop if m else None,
        "steps_seconds": round(sum(r.seconds or 0 for r in records), 1),
        "float_sqnr_db": [r.float_sqnr_db for r in records if r.float_sqnr_db is not None],
        "steps": [r.model_dump() for r in records],
    }


def _ladder(case: dict, out: Path, rules) -> dict:
    """`advisor run` with unlabelled data only and the case's prediction-change goal."""
    from advisor.pipeline.recommend import parse_answers
    from advisor.pipeline.run import execute, plan

    answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu", "goals": _goal_of(case["goal"]),
                             "inputs": {"model": case["model"], "representative": case["representative"],
                                        "eval": case["eval"]}})
    started = time.perf_counter()
    report = execute(plan(answers, rules), out=out)
    seconds = time.perf_counter() - started
    chosen = report.attempts[report.chosen] if report.chosen is not None else None
    return {"model": case["name"], "goal": case["goal"], "passed": chosen is not None,
            "chosen": "+".join([*chosen.pre_steps, chosen.scheme]) if chosen else None,
            "prediction_change": chosen.metrics.fidelity.prediction_change if chosen else None,
            "attempts": ["+".join([*a.pre_steps, a.scheme]) + (" PASS" if a.passed else " fail") for a in report.attempts],
            "seconds": round(seconds, 1)}


def _goals(ladders: list[dict]) -> list[str]:
    goals = []
    for ladder in ladders:
        recovered = ladder["passed"] and "+" in (ladder["chosen"] or "")
        goals.append(f"{ladder['model']}: the ladder passes {_goal_text(ladder['goal'])} with unlabelled data"
                     f"{' through ' + ladder['chosen'] if recovered else ''}: {'met' if ladder['passed'] else 'NOT met'}"
                     f" ({ladder['seconds']:g} s; goal under 300 s: {'met' if ladder['seconds'] < 300 else 'NOT met'})")
    return goals


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="NAME=MODEL,REPRESENTATIVE,EVAL[,GOAL] (repeatable)")
    p.add_argument("--no-ladder", action="store_true", help="measure the methods only")
    p.add_argument("--no-builtin", action="store_true", help="only the models given with --model")
    args = p.parse_args()
    from recovery_models import default_folder

    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions
    from advisor.pipeline.recommend import parse_answers

    rules = load_rules()
    folder = default_folder()
    folder.mkdir(parents=True, exist_ok=True)
    rows, ladders = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for case in _model_cases(args, folder):
            answers = parse_answers({"data": "unlabelled", "hardware": "edgetpu", "inputs": {
                "model": case["model"], "representative": case["representative"], "eval": case["eval"]}})
            methods = QUICK_METHODS if args.quick else METHODS
            report = sweep(answers, rules, [("full_integer", m) for m in methods], Path(tmp) / case["name"],
                           RunOptions(latency_runs=5))
            rows += [_row(case, a) for a in report.attempts]
            if not args.no_ladder and not args.quick:
                ladders.append(_ladder(case, Path(tmp) / f"{case['name']}-ladder", rules))
    table = markdown_table(
        ["model", "method", "worst SQNR", "top-1 changed", "accuracy", "drop", "steps' time", "float kept"],
        [[r["model"], r["method"], "" if r["sqnr_db"] is None else f"{r['sqnr_db']:.1f} dB",
          "" if r["prediction_change"] is None else f"{r['prediction_change']:.2%}",
          "" if r["accuracy"] is None else f"{r['accuracy']:.4f}",
          "" if r["accuracy_drop"] is None else f"{r['accuracy_drop'] * 100:+.2f} pts",
          f"{r['steps_seconds']:g} s", ", ".join(f"{v:.0f} dB" for v in r["float_sqnr_db"]) or (r["error"] or "")[:80]]
         for r in rows])
    if ladders:
        table += "\n\nThe ladder (`advisor run`, edgetpu, unlabelled data, each case's goal):\n\n" + markdown_table(
            ["model", "goal", "passed", "chosen", "top-1 changed", "attempts", "time"],
            [[r["model"], _goal_text(r["goal"]), r["passed"], r["chosen"],
              "" if r["prediction_change"] is None else f"{r['prediction_change']:.2%}", "; ".join(r["attempts"]),
              f"{r['seconds']:g} s"] for r in ladders])
    save("recovery", args, rows, table, {"ladders": ladders, "goals": _goals(ladders)})
    print(json.dumps(ladders, indent=1))


if __name__ == "__main__":
    main()
