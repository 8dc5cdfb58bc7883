"""`advisor compare`: the guide's Table 1 measured on the user's own model.

Every scheme and pre-step combination that the answers' data and hardware allow is produced and
measured with one loaded model, one data load and one float32 baseline; the Pareto front over
(size, accuracy drop, latency) is marked, with the scheme the recommendation would pick.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from advisor.engine.pareto import objectives_of, pareto_front, quality_axis
from advisor.engine.rules import RuleSet, load_rules
from advisor.errors import BadInput
from advisor.models.answers import Answers
from advisor.models.comparison import Comparison
from advisor.models.options import RunOptions
from advisor.models.recommendation import Recommendation
from advisor.models.report import Attempt, Baseline
from advisor.models.rung import attempt_label
from advisor.pipeline.output import OutputFolder
from advisor.pipeline.plan import plan


def combinations(answers: Answers, rules: RuleSet, model_format: str | None = None, recovery=()) -> list[tuple]:
    """Every (scheme, compression pre-steps) the data, fine-tuning, hardware and model format allow, and
    the `recovery` rungs (the recommendation's) they allow; float32 is the baseline. A scheme with more than one backend for the model is compared by each (without pre-steps:
    (scheme, (), backend)); with pre-steps, its preferred backend carries it out."""

    def allowed(name, entry) -> bool:
        return (rules.data_rank[answers.data] >= rules.data_rank[entry.data] and (answers.can_fine_tune or not entry.fine_tune)
                and rules.takes_format(name, model_format))

    target = rules.targets[answers.hardware]
    schemes = [s for s, e in rules.schemes.items() if s != "float32" and s in target.runs and allowed(s, e)]
    steps = [p for p, e in rules.pre_step_catalog.items() if e.kind == "compression" and allowed(p, e)]
    step_sets = [combo for n in range(len(steps) + 1) for combo in itertools.combinations(steps, n)]
    rungs: list[tuple] = []
    for combo in step_sets:
        for scheme in schemes:
            backends = rules.backends_for(scheme, model_format)
            if not combo and len(backends) > 1:
                rungs.extend((scheme, combo, backend) for backend in backends)
            else:
                rungs.append((scheme, combo))
    for item in recovery:  # the recommendation's recovery rungs, without compression pre-steps
        if item.scheme in schemes and all(allowed(p, rules.pre_step_catalog[p]) for p in item.pre_steps):
            rungs.append((item.scheme, tuple(item.pre_steps)))
    return rungs


def compare(answers: Answers, *, out: str | Path = "advisor-compare", force: bool = False, options: RunOptions | None = None,
            rules: RuleSet | None = None, progress=None, verbose: bool = False, rungs: list[tuple] | None = None,
            workers: int | None = None, engine: str = "local", address: str | None = None) -> Comparison:
    """Every combination the answers allow (`rungs`: only these (scheme, pre-steps[, backend]) tuples),
    measured against one float32 baseline, on `workers` worker processes at once (engine "local") or as Ray
    tasks ("ray", on the cluster at `address`); writes compare.json, compare.md and compare.png."""
    from advisor.pipeline.plan import facts_for
    from advisor.pipeline.run import attempt_rungs, session_for

    rules = rules or load_rules()
    options = options or RunOptions()
    if workers is not None:
        options = options.model_copy(update={"workers": workers})
    if engine not in ("local", "ray"):
        raise BadInput(f"--engine: unknown engine '{engine}'; known: local, ray")
    if address and engine != "ray":
        raise BadInput("--address: only with --engine ray")
    found, facts = facts_for(answers, rules)
    if rungs is None:
        from advisor.engine.evaluate import recommend

        recovery = recommend(answers, rules, facts).recovery
        rungs = combinations(answers, rules, facts.format if facts else None, recovery)
    if not rungs:
        raise BadInput(f"answers: no scheme can run on {answers.hardware} with data: {answers.data}; nothing to compare")
    folder = OutputFolder(out, force=force)  # an unwritable path fails before anything else
    try:
        the_plan = plan(answers, rules, options, rungs=rungs, read=(found, facts))
    except BaseException:
        folder.discard()
        raise
    with session_for(the_plan, folder, force, progress, verbose) as session:
        rows, result = [], None
        if session.opened is not None:
            runnable = session.runnable(the_plan.rungs)
            overall = session.progress.task(f"compare: {len(runnable)} combinations", total=len(runnable))
            result = attempt_rungs(_Counted(session, overall), runnable, the_plan.budget, ladder=False,
                                   workers=the_plan.options.workers, verbose=verbose, engine=engine, address=address)
            overall.finish()
            rows = [t.outcome for t in result.trials]
        comparison = _judge(answers, the_plan.recommendation, session.baseline, rows, session.all_notes)
        comparison.error = session.error
        if result is not None:
            comparison.stopped_by_budget = result.stopped_by_budget
            comparison.untried = [rung.label for rung in result.untried]
        _write(session.folder, comparison, answers)
        session.folder.commit()
    return comparison


class _Counted:
    """A session whose attempts (and its clones' attempts) advance the overall progress bar."""

    def __init__(self, session, overall):
        self.session, self.overall = session, overall

    def attempt(self, rung):
        row = self.session.attempt(rung)
        self.overall.advance(1)
        return row

    def clone(self, verbose: bool = False):
        return _Counted(self.session.clone(verbose), self.overall)

    def close(self) -> None:
        self.session.close()

    def __getattr__(self, name):
        return getattr(self.session, name)


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
