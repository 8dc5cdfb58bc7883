"""The ladder's economy: for goal combinations on the digits model, how many attempts `advisor run`
needed before one met every goal, against trying every scheme the data and hardware allow."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import markdown_table, parser, save

CASES = [
    ("cpu, no goals", "cpu", {}),
    ("cpu, 70% smaller", "cpu", {"min_size_reduction": 0.7}),
    ("cpu, 70% smaller, 0.5 pt drop", "cpu", {"min_size_reduction": 0.7, "max_accuracy_drop": 0.005}),
    ("cpu, latency 1 ms", "cpu", {"max_latency_ms": 1.0}),
    ("edgetpu, 70% smaller", "edgetpu", {"min_size_reduction": 0.7}),
    ("edgetpu, 0.1 pt drop", "edgetpu", {"max_accuracy_drop": 0.001}),
    ("gpu, 45% smaller", "gpu", {"min_size_reduction": 0.45}),
    ("microcontroller, 70% smaller", "microcontroller", {"min_size_reduction": 0.7}),
]


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    from advisor.engine.rules import load_rules
    from advisor.pipeline.recommend import parse_answers
    from advisor.models.options import RunOptions
    from advisor.pipeline.run import run

    rules = load_rules()
    rows, table = [], []
    for label, hardware, goals in CASES[:3] if args.quick else CASES:
        answers = parse_answers({"data": "labelled", "hardware": hardware, "goals": goals, "inputs": {
            "model": "builtin:digits", "representative": "builtin:digits", "train": "builtin:digits", "eval": "builtin:digits"}})
        allowed = [s for s in rules.targets[hardware].runs if s != "float32"]
        with tempfile.TemporaryDirectory() as tmp:
            report = run(answers, rules=rules, out=Path(tmp) / "o", options=RunOptions(latency_runs=20))
        chosen = report.attempts[report.chosen].scheme if report.chosen is not None else None
        row = {"case": label, "ladder": report.recommendation.ladder, "attempts": len(report.attempts),
               "every_scheme": len(allowed), "chosen": chosen}
        rows.append(row)
        table.append([label, " -> ".join(row["ladder"]), row["attempts"], row["every_scheme"], chosen or "none passed"])
    saved = sum(r["every_scheme"] - r["attempts"] for r in rows)
    text = markdown_table(["goals", "ladder", "attempts", "every allowed scheme", "chosen"], table)
    text += f"\n\nOver {len(rows)} cases the ladder needed {sum(r['attempts'] for r in rows)} attempts where trying every allowed scheme needs {sum(r['every_scheme'] for r in rows)} ({saved} fewer)."
    save("ladder_economy", args, rows, text)


if __name__ == "__main__":
    main()
