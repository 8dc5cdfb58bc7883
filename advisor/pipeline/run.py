"""`advisor run`: plan -> search over the rungs (each attempt made in a worker) -> report.

    plan(answers)                  the recommendation and the rungs to try (plan.py)
    search(Ladder, attempt)        each rung produced, measured, checked, judged in a worker process
                                   (session.py, workbench.py), until one passes or the rungs or the budget
                                   run out (engine/search.py)
    report.json, report.md         the first rung that passed is model.tflite

A report is written whatever the attempts do: a rung whose worker crashed is a failed attempt, and a
float32 baseline that cannot be made is the report's `error`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from advisor.engine.rules import RuleSet, load_rules
from advisor.engine.search import Ladder, SearchResult, Sweep, search
from advisor.models.answers import Answers
from advisor.models.options import RunOptions
from advisor.models.report import Report
from advisor.pipeline.output import OutputFolder
from advisor.pipeline.plan import Plan, plan
from advisor.pipeline.session import Session

PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert", "litert-quantizer", "ethos-u-vela",
            "tflite-micro")


def run(answers: Answers | dict[str, Any], *, model=None, representative=None, train=None, eval=None,
        out: str | Path = "advisor-out", force: bool = False, options: RunOptions | None = None,
        rules: str | Path | RuleSet | None = None, progress=None, metric=None) -> Report:
    """`advisor run` from Python, with paths (through the answers) or objects: `model` a Keras model
    (tf-keras or Keras 3, subclassed too); `representative` an array or a dict of arrays keyed by input
    name; `train` and `eval` the same, with labels as (inputs, y) or a dict with 'y'. Objects replace the
    answers' inputs of the same name. `metric`, a function (outputs: dict of arrays, y) -> float, replaces
    answers.task.metric. Returns the Report (report.json's content)."""
    from advisor.models.answers import parse_answers
    from advisor.pipeline.data import InMemory, as_dataset

    ruleset = rules if isinstance(rules, RuleSet) else load_rules(rules)
    parsed = parse_answers(answers, rules=ruleset)
    objects = None
    if any(value is not None for value in (model, representative, train, eval)):
        objects = InMemory(
            model=model,
            representative=as_dataset(representative, "representative", labelled=False),
            train=as_dataset(train, "train", labelled=True),
            eval=as_dataset(eval, "eval", labelled=None),
        )
    the_plan = plan(parsed, ruleset, options, metric=metric, in_memory=objects)
    return execute(the_plan, out=out, force=force, progress=progress)


def execute(the_plan: Plan, *, out: str | Path | OutputFolder, force: bool = False, progress=None, sweep: bool = False,
            verbose: bool = False, shared=None) -> Report:
    """Climb the plan's rungs (all of them with `sweep`, as benchmarks do) and write the report.
    `out` may be an OutputFolder already opened (the CLI opens it before planning); `shared`, a
    session.SharedWork that other runs of the same model reuse."""
    from advisor.report.run_report import markdown_report

    with session_for(the_plan, out, force, progress, verbose, shared) as session:
        result = SearchResult()
        if session.opened is not None:
            result = attempt_rungs(session, session.runnable(the_plan.rungs), the_plan.budget, ladder=not sweep,
                                   workers=the_plan.options.workers, verbose=verbose)
        report = build_report(the_plan, session, result)
        folder = session.folder
        if report.chosen is not None:
            folder.write("model.tflite", (folder.staging / report.attempts[report.chosen].artifact).read_bytes())
        folder.write("report.json", report.model_dump_json(indent=2))
        folder.write("report.md", markdown_report(report, the_plan.answers))
        folder.commit()
    return report


def attempt_rungs(session: Session, rungs, budget, *, ladder: bool, workers: int | None = None,
                  verbose: bool = False, engine: str = "local", address: str | None = None) -> SearchResult:
    """The rungs attempted in order on the session's worker, or on `workers` of them at once (the session
    and clones of it) with the same trials kept; a rung made speculatively and discarded is noted, and its
    file removed, so the folder is the one a single worker leaves. With engine "ray" (a sweep), the rungs
    are Ray tasks."""
    from advisor.models.options import default_workers
    from advisor.pipeline.parallel import attempt_all

    if engine == "ray":
        from advisor.engine.search import Trial
        from advisor.pipeline.ray_engine import attempt_on_ray

        attempts = attempt_on_ray(getattr(session, "session", session), rungs, workers or default_workers(), address)
        overall = getattr(session, "overall", None)  # compare's progress bar
        if overall is not None:
            overall.advance(len(attempts))
        result = SearchResult(trials=[Trial(rung, a) for rung, a in zip(rungs, attempts)])
        result.chosen = next((i for i, a in enumerate(attempts) if a.passed), None)
        return result
    count = min(workers or default_workers(), len(rungs))
    if count <= 1:
        return search((Ladder if ladder else Sweep)(rungs), session.attempt, budget=budget)
    from advisor.pipeline import worker

    sessions = [session]
    worker.share_cores(count)
    try:
        for _ in range(count - 1):
            sessions.append(session.clone(verbose))
        result = attempt_all([s.attempt for s in sessions], rungs, budget=budget, ladder=ladder)
    finally:
        worker.share_cores(1)
        for other in sessions[1:]:
            other.close()
    for rung in result.discarded:
        session.notes.append(f"{rung.label} was made alongside an earlier rung (--workers {count}) and discarded when "
                             "that rung passed")
        (session.folder.staging / f"attempts/{rung.label}.tflite").unlink(missing_ok=True)
    return result


class session_for:
    """The output folder staged, the data read, a worker opened on them; on leaving, the worker is kept
    warm for the next run (or killed after an error or Ctrl-C) and the folder is left as it was unless
    committed."""

    def __init__(self, the_plan: Plan, out, force: bool, progress, verbose: bool = False, shared=None):
        self.plan, self.out, self.force, self.verbose, self.shared = the_plan, out, force, verbose, shared
        self.progress = progress
        self.session = None

    def __enter__(self) -> Session:
        from advisor.pipeline.data import load_data
        from advisor.report.progress import NullProgress

        folder = self.out if isinstance(self.out, OutputFolder) else OutputFolder(self.out, force=self.force)
        self.folder = folder
        try:
            data = load_data(self.plan.answers, self.plan.rules, self.plan.rungs, self.plan.in_memory)
            self.session = Session.open(self.plan, data, folder, self.progress or NullProgress(), verbose=self.verbose,
                                        shared=self.shared)
        except BaseException:
            folder.discard()
            raise
        return self.session

    def __exit__(self, kind, value, traceback) -> None:
        if self.session is not None:
            self.session.end(value if kind is not None else None)
        if kind is not None:
            self.folder.discard()


def build_report(the_plan: Plan, session: Session, result: SearchResult) -> Report:
    return Report(
        recommendation=the_plan.recommendation,
        baseline=session.baseline,
        attempts=[trial.outcome for trial in result.trials],
        chosen=result.chosen,
        stopped_by_budget=result.stopped_by_budget,
        untried=[rung.label for rung in result.untried],
        error=session.error,
        notes=session.all_notes,
        environment=environment(the_plan, session),
        answers=the_plan.answers,
    )


def environment(the_plan: Plan, session: Session) -> dict:
    import numpy as np

    opened = session.opened
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": package_versions(),
        "model_format": opened.model_format if opened else the_plan.model_format,
        "model_source": opened.model_source if opened else the_plan.answers.inputs.model,
        "options": the_plan.options.model_dump(),
        "in_memory": the_plan.in_memory is not None,
        "numpy": np.__version__,
    }


def package_versions(packages=PACKAGES) -> dict[str, str | None]:
    """The installed version of each tool the advisor drives (None where one is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found
