"""`advisor compare`: the guide's Table 1 measured on the user's own model.

Every scheme and pre-step combination that the answers' data and hardware allow is produced and
measured with one loaded model, one data load and one float32 baseline; the Pareto front over
(size, accuracy drop, latency) is marked, with the scheme the recommendation would pick.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from advisor.engine.rules import RuleSet, load_rules
from advisor.errors import BadInput
from advisor.models.answers import Answers
from advisor.models.options import RunOptions
from advisor.models.recommendation import Recommendation
from advisor.models.report import Attempt, Baseline, Metrics, attempt_label
from advisor.output import OutputFolder
from advisor.plan import plan
from advisor.search import Sweep, search


class Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recommendation: Recommendation
    baseline: Baseline
    rows: list[Attempt]
    front: list[int] = Field(description="Indexes of the rows on the Pareto front (smaller, more accurate, faster).")
    objectives: list[str] = Field(description="What the front was computed over.")
    pick: int | None = Field(description="The row the recommendation would try first.")
    findings: list[str] = Field(default_factory=list, description="What the comparison says about the rules.")
    stopped_by_budget: str | None = Field(None, description="Why the budget ended the comparison, when it did.")
    untried: list[str] = Field(default_factory=list, description="Combinations the budget left untried.")
    notes: list[str] = Field(default_factory=list)

    @property
    def any_passed(self) -> bool:
        return any(row.passed for row in self.rows)


def combinations(answers: Answers, rules: RuleSet, model_format: str | None = None) -> list[tuple]:
    """Every (scheme, pre-steps) the data, fine-tuning, hardware and model format allow; float32 is the
    baseline. A scheme with more than one backend for the model is compared by each (without pre-steps:
    (scheme, (), backend)); with pre-steps, its preferred backend carries it out."""

    def allowed(name, entry) -> bool:
        return (rules.data_rank[answers.data] >= rules.data_rank[entry.data] and (answers.can_fine_tune or not entry.fine_tune)
                and rules.takes_format(name, model_format))

    target = rules.targets[answers.hardware]
    schemes = [s for s, e in rules.schemes.items() if s != "float32" and s in target.runs and allowed(s, e)]
    steps = [p for p, e in rules.pre_step_catalog.items() if allowed(p, e)]
    step_sets = [combo for n in range(len(steps) + 1) for combo in itertools.combinations(steps, n)]
    rungs: list[tuple] = []
    for combo in step_sets:
        for scheme in schemes:
            backends = rules.backends_for(scheme, model_format)
            if not combo and len(backends) > 1:
                rungs.extend((scheme, combo, backend) for backend in backends)
            else:
                rungs.append((scheme, combo))
    return rungs


QUALITY = {  # the accuracy axis, by what could be measured: (label, lower is better)
    "accuracy_drop": "accuracy drop vs float32",
    "prediction_change": "share of inputs whose top-1 class changed vs float32",
    "noise_db": "quantization noise: minus the worst output's SQNR vs float32 (dB)",
}


def quality_axis(rows: list[Attempt]) -> str:
    """The accuracy drop where labels exist; without them, fidelity against float32."""
    measured = [r.metrics for r in rows if r.metrics is not None]
    if any(m.accuracy_drop is not None for m in measured):
        return "accuracy_drop"
    if any(m.fidelity and m.fidelity.prediction_change is not None for m in measured):
        return "prediction_change"
    return "noise_db"


def quality_of(metrics: Metrics | None, axis: str) -> float | None:
    if metrics is None:
        return None
    if axis == "accuracy_drop":
        return metrics.accuracy_drop
    if metrics.fidelity is None:
        return None
    if axis == "prediction_change":
        return metrics.fidelity.prediction_change
    return -metrics.fidelity.worst_sqnr_db if metrics.fidelity.worst_sqnr_db is not None else None


def objectives_of(row: Attempt, compressed: bool, axis: str = "accuracy_drop") -> dict[str, float | None]:
    m = row.metrics
    return {
        "size": m.judged_size(compressed) if m else None,
        axis: quality_of(m, axis),
        "latency_ms": m.latency_ms if m else None,
    }


def pareto_front(points: list[dict[str, float | None]]) -> tuple[list[int], list[str]]:
    """Indexes of the points no other point dominates (lower is better in every objective).

    Objectives some point lacks are left out for all; points with no objectives are never on it."""
    if not points:
        return [], []
    names = [k for k in points[0] if all(p.get(k) is not None for p in points if any(v is not None for v in p.values()))]
    valid = [i for i, p in enumerate(points) if all(p.get(k) is not None for k in names) and names]
    front = []
    for i in valid:
        dominated = any(
            all(points[j][k] <= points[i][k] for k in names) and any(points[j][k] < points[i][k] for k in names)
            for j in valid
            if j != i
        )
        if not dominated:
            front.append(i)
    return front, names


def compare(answers: Answers, *, out: str | Path = "advisor-compare", force: bool = False, options: RunOptions | None = None,
            rules: RuleSet | None = None, progress=None) -> Comparison:
    from advisor.api import model_facts
    from advisor.runner import workbench

    rules = rules or load_rules()
    known = model_facts(answers, rules)
    rungs = combinations(answers, rules, known.format if known else None)
    if not rungs:
        raise BadInput(f"answers: no scheme can run on {answers.hardware} with data: {answers.data}; nothing to compare")
    folder = OutputFolder(out, force=force)  # an unwritable path fails before anything else
    try:
        the_plan = plan(answers, rules, options, rungs=rungs)
    except BaseException:
        folder.discard()
        raise
    with workbench(the_plan, folder, force, progress) as bench:
        runnable = bench.runnable(the_plan.rungs)
        overall = bench.progress.task(f"compare: {len(runnable)} combinations", total=len(runnable))

        def attempt(rung):
            row = bench.attempt(rung)
            overall.advance(1)
            return row

        result = search(Sweep(runnable), attempt, budget=the_plan.budget)
        overall.finish()
        comparison = _judge(answers, the_plan.recommendation, bench.baseline, [t.outcome for t in result.trials], bench.notes)
        comparison.stopped_by_budget = result.stopped_by_budget
        comparison.untried = [attempt_label(*rung) for rung in result.untried]
        _write(bench.folder, comparison, answers)
        bench.folder.commit()
    return comparison


def _judge(answers: Answers, rec: Recommendation, baseline: Baseline, rows: list[Attempt], notes: list[str]) -> Comparison:
    axis = quality_axis(rows)
    points = [objectives_of(r, answers.goals.compressed_download, axis) for r in rows]
    front, names = pareto_front(points)
    key = (rec.scheme, tuple(rec.pre_steps))
    pick = next((i for i, r in enumerate(rows) if (r.scheme, tuple(r.pre_steps)) == key
                 and (r.variant is None or r.backend == rec.backends.get(r.scheme))), None)
    findings = []
    if rec.feasible and pick is None:
        findings.append(f"the recommendation ({attempt_label(rec.scheme, rec.pre_steps)}) could not be compared: it was not produced")
    if pick is not None:
        chosen = rows[pick]
        if pick not in front and front:
            better = [rows[i].label for i in front if all(points[i][k] <= points[pick][k] for k in names)]
            findings.append(
                f"the recommendation ({chosen.label}) is not on the Pareto front"
                + (f": {', '.join(better)} is at least as good in {', '.join(names)}" if better else "")
            )
        failed = [v.goal for v in chosen.verdicts if v.status == "fail"] + ([] if chosen.hardware is None or chosen.hardware.compatible else ["hardware"])
        meeting = [r.label for r in rows if r.passed]
        if (not chosen.passed) and meeting:
            findings.append(
                f"the recommendation ({chosen.label}) fails {', '.join(failed) or 'to run'}, "
                f"while {', '.join(meeting)} meet{'s' if len(meeting) == 1 else ''} every goal"
            )
    return Comparison(recommendation=rec, baseline=baseline, rows=rows, front=front, objectives=names, pick=pick,
                      findings=findings, notes=notes)


def _write(folder: OutputFolder, comparison: Comparison, answers: Answers) -> None:
    from advisor.report.compare_report import compare_markdown, compare_plot

    folder.write("compare.json", comparison.model_dump_json(indent=2))
    folder.write("compare.png", compare_plot(comparison, answers))
    folder.write("compare.md", compare_markdown(comparison, answers))
