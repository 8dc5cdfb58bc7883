"""`advisor run`: recommend, carry out, measure, climb the fallback ladder, report.

    answers -> recommendation -> inputs checked -> model loaded -> float32 baseline
            -> for each rung: produce (executor) -> measure + check hardware + verdicts (validator)
            -> first rung that passes is model.tflite; report.json / report.md either way
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advisor._suggest import did_you_mean
from advisor.api import model_file_bytes
from advisor.engine import evaluate
from advisor.engine.rules import RuleSet
from advisor.errors import AnswersError, BadInput, Infeasible, SchemeFailed
from advisor.models.answers import BUILTIN_PREFIX, Answers
from advisor.models.options import RunOptions
from advisor.models.recommendation import Recommendation
from advisor.models.report import Attempt, Baseline, Metrics, Report
from advisor.output import OutputFolder


@dataclass
class Inputs:
    """The data a run works with, loaded and checked before any TensorFlow work."""

    representative: object | None = None  # Dataset
    train: object | None = None
    eval: object | None = None
    notes: list[str] = field(default_factory=list)


def plan(answers: Answers, rules: RuleSet, scheme: str | None, pre_steps: list[str] | None) -> tuple[Recommendation, list[str], tuple[str, ...]]:
    """The recommendation, the ladder to climb (a forced scheme first) and the pre-steps."""
    rec = evaluate.recommend(answers, rules, model_file_bytes(answers))
    if scheme is not None and scheme not in rules.schemes:
        raise BadInput(f"--scheme: unknown scheme '{scheme}'{did_you_mean(scheme, rules.schemes)}; known: {', '.join(rules.schemes)}")
    for step in pre_steps or ():
        if step not in rules.pre_step_catalog:
            raise BadInput(
                f"--pre-steps: unknown pre-step '{step}'{did_you_mean(step, rules.pre_step_catalog)}; "
                f"known: {', '.join(rules.pre_step_catalog)}"
            )
    if scheme is None and not rec.feasible:
        raise Infeasible(rec)
    ladder = [scheme, *(s for s in rec.ladder if s != scheme)] if scheme else rec.ladder
    return rec, ladder, tuple(pre_steps if pre_steps is not None else rec.pre_steps)


def needs_of(name: str, rules: RuleSet) -> str:
    entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
    return entry.data


def load_inputs(answers: Answers, rules: RuleSet, ladder: list[str], pre_steps: tuple[str, ...], options: RunOptions) -> Inputs:
    from advisor.executor import builtin
    from advisor.executor.data import load_dataset

    spec = answers.inputs
    if not spec.model:
        raise AnswersError("answers: inputs.model: advisor run needs a model (a .keras/.h5 file, a SavedModel folder, or builtin:digits)")
    if spec.model.startswith(BUILTIN_PREFIX) and spec.model != builtin.NAME:
        raise AnswersError(f"answers: inputs.model: unknown built-in '{spec.model}'{did_you_mean(spec.model, [builtin.NAME])}")

    def load(role: str, labelled: bool):
        path = getattr(spec, role)
        if path is None:
            return None
        if path.startswith(BUILTIN_PREFIX):
            if path != builtin.NAME:
                raise AnswersError(f"answers: inputs.{role}: unknown built-in '{path}'{did_you_mean(path, [builtin.NAME])}")
            return builtin.split(role)
        return load_dataset(path, role=f"inputs.{role}", labelled=labelled)

    inputs = Inputs(representative=load("representative", False), train=load("train", True), eval=load("eval", True))
    if inputs.representative is None and inputs.train is not None:
        from advisor.executor.data import Dataset

        inputs.representative = Dataset(inputs.train.x, None, f"{inputs.train.source} (inputs without labels)")
        inputs.notes.append("no inputs.representative: calibrating on the training inputs")
    first = ladder[0]
    for name in (*pre_steps, first):
        level = needs_of(name, rules)
        if level == "labelled" and inputs.train is None:
            raise AnswersError(f"answers: inputs.train: {name} fine-tunes the model and needs labelled training data (x and y)")
        if level == "unlabelled" and inputs.representative is None:
            raise AnswersError(f"answers: inputs.representative: {name} calibrates on a representative sample of 100-500 inputs")
    if inputs.eval is None:
        inputs.notes.append("no inputs.eval: accuracy is not measured, so an accuracy goal stays unverified")
    return inputs


def _available(name: str, inputs: Inputs, rules: RuleSet) -> str | None:
    level = needs_of(name, rules)
    if level == "labelled" and inputs.train is None:
        return f"skipped: {name} needs labelled training data (inputs.train)"
    if level == "unlabelled" and inputs.representative is None:
        return f"skipped: {name} needs a representative sample (inputs.representative)"
    return None


def run(
    answers: Answers,
    *,
    rules: RuleSet,
    out: str | Path,
    force: bool = False,
    scheme: str | None = None,
    pre_steps: list[str] | None = None,
    options: RunOptions | None = None,
    progress=None,
    ladder: list[str] | None = None,
    stop_at_first_pass: bool = True,
    planned: tuple | None = None,
) -> Report:
    """Carry out the recommendation. `ladder` replaces the recommended ladder (library use: benchmarks,
    comparisons); with `stop_at_first_pass=False` every rung is attempted and the first to pass is chosen.
    `planned` is what plan() already returned for the same arguments, so it is not worked out twice."""
    from advisor.report.progress import NullProgress

    options = options or RunOptions()
    progress = progress or NullProgress()
    rec, planned, steps = planned or plan(answers, rules, scheme, pre_steps)
    if ladder is not None:
        unknown = [s for s in ladder if s not in rules.schemes]
        if unknown:
            raise BadInput(f"ladder: unknown scheme '{unknown[0]}'{did_you_mean(unknown[0], rules.schemes)}")
    ladder = list(ladder) if ladder is not None else planned
    inputs = load_inputs(answers, rules, ladder, steps, options)
    with OutputFolder(out, force=force) as folder:
        report = _carry_out(answers, rules, rec, ladder, steps, inputs, options, progress, folder, stop_at_first_pass)
        folder.write("report.json", report.model_dump_json(indent=2))
        from advisor.report.run_report import markdown_report

        folder.write("report.md", markdown_report(report, answers))
        folder.commit()
    return report


@dataclass
class Workbench:
    """What every attempt of one run shares: the loaded model, the job, the measurer, the baseline."""

    loaded: object
    job: object
    measure: object
    baseline: Baseline
    notes: list[str]


def prepare(answers: Answers, rules: RuleSet, inputs: Inputs, options: RunOptions, progress, folder) -> Workbench:
    """Load the model, check the data against it, and convert and measure the float32 baseline."""
    from advisor.executor import builtin
    from advisor.executor.data import check_against_input, check_labels_fit, representative_sample
    from advisor.executor.job import Job
    from advisor.executor.model_io import load_model

    target = rules.targets[answers.hardware]
    notes = list(inputs.notes)
    model_path = str(builtin.model_path(progress)) if answers.inputs.model == builtin.NAME else answers.inputs.model
    task = progress.task(f"loading {answers.inputs.model}", total=None)
    loaded = load_model(model_path)
    task.finish()
    for role in ("representative", "train", "eval"):
        data = getattr(inputs, role)
        if data is not None:
            data = check_against_input(data, f"inputs.{role}", loaded.input_shape, loaded.input_dtype)
            check_labels_fit(data, f"inputs.{role}", loaded.classes)
            setattr(inputs, role, data)
    representative = None
    if inputs.representative is not None:
        representative, note = representative_sample(inputs.representative, limit=options.representative_limit)
        if note:
            notes.append(note)
    job = Job(
        loaded,
        rules=rules,
        integer_only=target.integer_only,
        representative=representative,
        train=inputs.train,
        options=options,
        progress=progress,
        workdir=str(folder.work),
    )
    measure = _Measurer(inputs, options, progress)
    started = time.perf_counter()
    baseline_content = job.produce("float32").content
    baseline_metrics = measure(baseline_content, "float32", None)
    baseline = Baseline(artifact=folder.write("attempts/float32.tflite", baseline_content), metrics=baseline_metrics)
    job.judge = _judge(answers, inputs, options, baseline_metrics)
    notes.append(f"float32 baseline converted and measured in {time.perf_counter() - started:.1f} s")
    return Workbench(loaded, job, measure, baseline, notes)


def unavailable(rung: tuple[str, tuple[str, ...]], inputs: Inputs, rules: RuleSet) -> str | None:
    """Why the data cannot support a (scheme, pre-steps) rung, or None."""
    scheme, steps = rung
    return next((reason for name in (*steps, scheme) if (reason := _available(name, inputs, rules))), None)


def attempt_rungs(rungs, answers, rules, inputs, bench: Workbench, folder, *, stop_at_first_pass: bool) -> tuple[list[Attempt], int | None]:
    """Attempt each (scheme, pre-steps) rung in order; the first that passes becomes model.tflite."""
    attempts: list[Attempt] = []
    chosen = None
    for scheme, steps in rungs:
        skip = unavailable((scheme, steps), inputs, rules)
        if skip:
            bench.notes.append(f"{'+'.join([*steps, scheme])}: {skip}")
            continue
        attempt = _attempt(scheme, steps, bench.job, bench.measure, bench.baseline.metrics, answers, rules, folder)
        attempts.append(attempt)
        if attempt.passed and chosen is None:
            chosen = len(attempts) - 1
            folder.write("model.tflite", (folder.staging / attempt.artifact).read_bytes())
            if stop_at_first_pass:
                break
    return attempts, chosen


def _carry_out(answers, rules, rec, ladder, steps, inputs, options, progress, folder, stop_at_first_pass=True) -> Report:
    bench = prepare(answers, rules, inputs, options, progress, folder)
    rungs = [(name, tuple(steps)) for name in ladder]
    attempts, chosen = attempt_rungs(rungs, answers, rules, inputs, bench, folder, stop_at_first_pass=stop_at_first_pass)
    return Report(
        recommendation=rec,
        baseline=bench.baseline,
        attempts=attempts,
        chosen=chosen,
        notes=bench.notes,
        environment=_environment(options, bench.loaded),
    )


def _judge(answers: Answers, inputs: Inputs, options: RunOptions, baseline: Metrics):
    from advisor.executor.job import Judge
    from advisor.validator import metrics as m
    from advisor.validator.verdicts import size_holds

    def accuracy(content: bytes):
        if inputs.eval is None:
            return None
        return m.top1_accuracy(content, inputs.eval.x, inputs.eval.y, threads=options.threads)

    def holds(content: bytes) -> bool:
        return size_holds(answers.goals, *m.sizes(content), baseline)

    return Judge(accuracy=accuracy, size_holds=holds, accuracy_goal=answers.goals.max_accuracy_drop, baseline_accuracy=baseline.accuracy)


class _Measurer:
    """Size, gzip size, accuracy (when eval data exist) and host latency of one .tflite."""

    def __init__(self, inputs: Inputs, options: RunOptions, progress):
        self.eval = inputs.eval
        self.options = options
        self.progress = progress
        self.sample = next((d.x[:1] for d in (inputs.eval, inputs.representative, inputs.train) if d is not None), None)

    def __call__(self, content: bytes, label: str, baseline: Metrics | None) -> Metrics:
        from advisor.validator import metrics as m

        size, gzipped = m.sizes(content)
        accuracy = None
        if self.eval is not None:
            accuracy = m.top1_accuracy(content, self.eval.x, self.eval.y, threads=self.options.threads, progress=self.progress, label=f"measuring accuracy: {label}")
        lat = p90 = threads = None
        if self.sample is not None and self.options.latency_runs > 0:
            task = self.progress.task(f"measuring latency: {label}", total=None)
            lat, p90, threads = m.latency(content, self.sample, runs=self.options.latency_runs, threads=self.options.threads)
            task.finish(status=f"{lat:.3f} ms")
        return Metrics(
            size_bytes=size,
            gzip_bytes=gzipped,
            accuracy=accuracy,
            accuracy_metric=m.ACCURACY_METRIC if accuracy is not None else None,
            eval_samples=len(self.eval) if self.eval is not None else None,
            latency_ms=round(lat, 4) if lat is not None else None,
            latency_p90_ms=round(p90, 4) if p90 is not None else None,
            latency_threads=threads,
        )


def _attempt(name, steps, job, measure, baseline: Metrics, answers: Answers, rules: RuleSet, folder) -> Attempt:
    from advisor.validator.hardware import check_model
    from advisor.validator.verdicts import passed, verdicts

    started = time.perf_counter()
    tag = "+".join([*steps, name])
    try:
        produced = job.produce(name, steps)
    except SchemeFailed as err:
        return Attempt(scheme=name, pre_steps=list(steps), error=str(err), seconds=round(time.perf_counter() - started, 2))
    artifact = folder.write(f"attempts/{tag}.tflite", produced.content)
    metrics = measure(produced.content, tag, baseline)
    compressed = answers.goals.compressed_download
    size, base = (metrics.gzip_bytes, baseline.gzip_bytes) if compressed else (metrics.size_bytes, baseline.size_bytes)
    metrics.size_reduction = round(1 - size / base, 4)
    if metrics.accuracy is not None and baseline.accuracy is not None:
        metrics.baseline_accuracy = baseline.accuracy
        metrics.accuracy_drop = round(baseline.accuracy - metrics.accuracy, 6)
    for key, value in produced.extras.items():
        setattr(metrics, key, value)
    target = rules.targets[answers.hardware]
    hardware = check_model(produced.content, answers.hardware, rules, latency_goal=answers.goals.max_latency_ms is not None)
    verdict_list = verdicts(answers.goals, metrics, latency_answers_goal=target.measured_on_host, hardware=answers.hardware)
    return Attempt(
        scheme=name,
        pre_steps=list(steps),
        artifact=artifact,
        metrics=metrics,
        hardware=hardware,
        verdicts=verdict_list,
        passed=passed(verdict_list, hardware),
        seconds=round(time.perf_counter() - started, 2),
    )


def _environment(options: RunOptions, loaded) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "packages": versions,
        "model_format": loaded.format.value,
        "options": options.model_dump(),
        "numpy": np.__version__,
    }
