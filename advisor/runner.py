"""`advisor run`: plan -> strategy -> steps -> measure -> report.

    plan(answers)                  the recommendation and the rungs to try (plan.py)
    search(Ladder, attempt)        each rung produced, measured, checked, judged (workbench.py),
                                   until one passes or the rungs or the budget run out (search.py)
    report.json, report.md         the first rung that passed is model.tflite
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

from advisor.engine.rules import RuleSet
from advisor.models.answers import Answers
from advisor.models.options import RunOptions
from advisor.models.report import Report, attempt_label
from advisor.output import OutputFolder
from advisor.plan import Plan, plan
from advisor.search import Ladder, SearchResult, Sweep, search


def run(answers: Answers, *, out: str | Path = "advisor-out", force: bool = False, options: RunOptions | None = None,
        rules: RuleSet | None = None, progress=None, metric=None) -> Report:
    """Carry out the recommendation for `answers` and write the run's folder `out`. `metric`, a
    function (outputs: dict of arrays, y) -> float, replaces answers.task.metric."""
    return execute(plan(answers, rules, options, metric=metric), out=out, force=force, progress=progress)


def execute(the_plan: Plan, *, out: str | Path | OutputFolder, force: bool = False, progress=None, sweep: bool = False) -> Report:
    """Climb the plan's rungs (all of them with `sweep`, as benchmarks do) and write the report.
    `out` may be an OutputFolder already opened (the CLI opens it before planning)."""
    with workbench(the_plan, out, force, progress) as bench:
        strategy = (Sweep if sweep else Ladder)(bench.runnable(the_plan.rungs))
        result = search(strategy, bench.attempt, budget=the_plan.budget)
        report = build_report(the_plan, bench, result)
        if report.chosen is not None:
            bench.folder.write("model.tflite", (bench.folder.staging / report.attempts[report.chosen].artifact).read_bytes())
        from advisor.report.run_report import markdown_report

        bench.folder.write("report.json", report.model_dump_json(indent=2))
        bench.folder.write("report.md", markdown_report(report, the_plan.answers))
        bench.folder.commit()
    return report


@contextlib.contextmanager
def workbench(the_plan: Plan, out: str | Path | OutputFolder, force: bool, progress):
    """The data read, the output folder staged, the model loaded and its baseline measured; the
    folder is committed by the caller, or left as it was on any error or Ctrl-C."""
    from advisor.report.progress import NullProgress
    from advisor.workbench import Workbench, load_data

    progress = progress or NullProgress()
    folder = out if isinstance(out, OutputFolder) else OutputFolder(out, force=force)  # an unwritable path fails here
    with folder:
        data = load_data(the_plan)
        yield Workbench.open(the_plan, data, folder, progress)


def build_report(the_plan: Plan, bench, result: SearchResult) -> Report:
    return Report(
        recommendation=the_plan.recommendation,
        baseline=bench.baseline,
        attempts=[trial.outcome for trial in result.trials],
        chosen=result.chosen,
        stopped_by_budget=result.stopped_by_budget,
        untried=[attempt_label(*rung) for rung in result.untried],
        notes=list(bench.notes),
        environment=environment(the_plan.options, bench.loaded),
    )


def environment(options: RunOptions, loaded) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import numpy as np

    versions = {}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": versions,
        "model_format": loaded.format.value,
        "model_source": loaded.path,
        "options": options.model_dump(),
        "numpy": np.__version__,
    }
