"""The worker's side of a run: what every attempt shares, and how one attempt is made and measured.
It runs in a worker process (worker.py), where TensorFlow and LiteRT may crash without taking the
run with them.

    Workbench.open(job)       the model loaded, the data bound to it, the float32 baseline measured
    workbench.attempt(rung)   produce (steps) -> measure -> check the hardware -> verdicts
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from advisor.errors import SchemeFailed
from advisor.models.answers import Answers
from advisor.models.options import RunOptions
from advisor.models.report import Attempt, Baseline, Metrics
from advisor.models.rung import Rung
from advisor.pipeline.data import BUILTIN, RunData
from advisor.pipeline.plan import Plan
from advisor.validator.effect import weights_by_dtype

if TYPE_CHECKING:
    from advisor.executor.pre_step_store import PreStepStore

SEARCH_SAMPLES = 500  # inputs a searching step (selective_integer) judges its candidates on
BASELINE_FILE = "attempts/float32.tflite"


@dataclass(frozen=True)
class OpenJob:
    """What a worker needs to open a run: the plan, the data, and the float32 baseline when an earlier
    worker already made it (it is then measured, not converted again)."""

    plan: Plan
    data: RunData
    baseline: bytes | None = None
    workdir: str | None = None  # scratch space the parent cleans up (else one of the worker's own)
    batch: int | None = None  # the batch an earlier worker learned the model converts at
    pre_step_store: PreStepStore | None = None  # pre-stepped models shared with other runs of this model


@dataclass(frozen=True)
class Opened:
    baseline: Baseline
    content: bytes  # the float32 .tflite
    notes: tuple[str, ...]
    model_format: str  # keras2, keras3, savedmodel, ...
    model_family: str  # as the rules name it: keras, savedmodel, tflite
    model_source: str
    batch: int | None = None  # the batch the model converts at (None: dynamic)


@dataclass(frozen=True)
class Attempted:
    attempt: Attempt
    files: dict[str, bytes] = field(default_factory=dict)  # path in the output folder -> content


class Measurer:
    """Size, gzip size, the task metric (when labelled eval data exist), fidelity against the float32
    baseline (on the eval inputs, else the representative ones) and host latency of one .tflite.
    One pass of the interpreter over the eval inputs serves the metric and the fidelity."""

    def __init__(self, data: RunData, signature, options: RunOptions, metric):
        self.signature = signature
        self.eval = data.eval
        self.metric = metric
        self.options = options
        if data.eval is not None:
            self.fidelity_data, self.fidelity_source = data.eval, f"inputs.eval ({len(data.eval)} inputs)"
            self.calibration_data = False
        elif data.representative is not None:
            self.fidelity_data = data.representative.take(options.representative_limit)
            self.fidelity_source = (f"inputs.representative ({len(self.fidelity_data)} inputs, the calibration data "
                                    "itself: no inputs.eval was given)")
            self.calibration_data = True
        else:
            self.fidelity_data, self.fidelity_source, self.calibration_data = None, None, False
        self.sample = next((d.row(0) for d in (data.eval, data.representative, data.train) if d is not None), None)
        self.reference = None  # the float32 baseline's outputs on fidelity_data

    def __call__(self, content: bytes, label: str, progress) -> Metrics:
        from advisor.validator import metrics as m
        from advisor.validator.fidelity import fidelity
        from advisor.validator.task import with_binary_threshold

        size, gzipped = m.sizes(content)
        runner = m.Runner(content, self.signature, self.options.threads)
        accuracy = agreement = None
        if self.fidelity_data is not None:
            outputs = runner.predict(self.fidelity_data, progress=progress, label=f"measuring: {label}")
            if self.reference is None:
                self.reference = outputs
                self.metric = with_binary_threshold(self.metric, outputs)
            else:
                agreement = fidelity(self.reference, outputs, self.signature, inputs=self.fidelity_source,
                                     calibration_data=self.calibration_data)
            if self.metric is not None and self.eval is not None and self.eval.y is not None:
                accuracy = self.metric(outputs, self.eval.y)
        lat = p90 = None
        if self.sample is not None and self.options.latency_runs > 0:
            task = progress.task(f"measuring latency: {label}", total=None)
            lat, p90 = runner.latency(self.sample, self.options.latency_runs)
            task.finish(status=f"{lat:.3f} ms")
        del runner
        return Metrics(
            size_bytes=size,
            gzip_bytes=gzipped,
            accuracy=round(accuracy, 6) if accuracy is not None else None,
            accuracy_metric=self.metric.label if accuracy is not None else None,
            eval_samples=len(self.eval) if self.eval is not None else None,
            latency_ms=round(lat, 4) if lat is not None else None,
            latency_p90_ms=round(p90, 4) if p90 is not None else None,
            latency_threads=self.options.threads or _cpus() if lat is not None else None,
            fidelity=agreement,
        )


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def search_judge(answers: Answers, data: RunData, measure: Measurer, baseline_content: bytes, baseline: Metrics,
                 options: RunOptions):
    """How selective_integer judges its candidates: never on the evaluation set that the attempt's
    verdict uses. Labelled training inputs give the task metric's drop; the representative inputs
    give the fidelity goals and, without training labels, the share of inputs whose top-1 class
    changes against float32, which bounds an accuracy drop."""
    from advisor.executor.step import Judge
    from advisor.validator import metrics as m
    from advisor.validator.fidelity import fidelity
    from advisor.validator.verdicts import size_holds

    goals = answers.goals
    signature = measure.signature
    train = data.train.take(SEARCH_SAMPLES) if data.train is not None and measure.metric is not None else None
    sample = data.representative.take(SEARCH_SAMPLES) if data.representative is not None else None
    predict = functools.cache(lambda content, which: m.Runner(content, signature, options.threads).predict(
        train if which == "train" else sample))
    base = functools.cache(lambda: measure.metric(predict(baseline_content, "train"), train.y))
    described = []
    if train is not None and goals.max_accuracy_drop is not None:
        described.append(f"{measure.metric.label} on {len(train)} labelled training inputs")
    if sample is not None and (goals.min_sqnr_db is not None or goals.max_prediction_change is not None
                               or goals.max_accuracy_drop is not None and train is None):
        described.append(f"fidelity against float32 on {len(sample)} representative inputs")
    if not described:
        return None

    def meets(content: bytes) -> tuple[bool | None, float | None]:
        """(every goal it can judge holds, the accuracy drop or its bound)."""
        verdicts, drop = [], None
        if train is not None and goals.max_accuracy_drop is not None:
            drop = measure.metric.drop(base(), measure.metric(predict(content, "train"), train.y))
            verdicts.append(drop <= goals.max_accuracy_drop + 1e-12)
        if sample is not None:
            found = fidelity(predict(baseline_content, "sample"), predict(content, "sample"), signature,
                             inputs="search", calibration_data=True)
            change = found.prediction_change
            if goals.min_sqnr_db is not None and found.worst_sqnr_db is not None:
                verdicts.append(found.worst_sqnr_db + 1e-9 >= goals.min_sqnr_db)
            if goals.max_prediction_change is not None and change is not None:
                verdicts.append(change <= goals.max_prediction_change + 1e-12)
            if goals.max_accuracy_drop is not None and train is None and change is not None:
                drop = change
                verdicts.append(change <= goals.max_accuracy_drop + 1e-12)
        return (all(verdicts) if verdicts else None), drop

    def holds(content: bytes) -> bool:
        size, gzipped = m.sizes(content)
        return size_holds(goals, Metrics(size_bytes=size, gzip_bytes=gzipped), baseline)

    return Judge(meets=meets, size_holds=holds, data="; ".join(described))


def task_metric(plan: Plan, signature, data: RunData):
    """The task metric, checked against the labels of every labelled set."""
    from advisor.validator.task import metric_for

    labelled = [(role, getattr(data, role)) for role in ("eval", "train") if getattr(data, role) is not None]
    metric = None
    for role, dataset in labelled or [("eval", None)]:
        metric = metric_for(plan.answers.task, signature, dataset.y if dataset else None, custom=plan.metric,
                            labels=f"inputs.{role}: {dataset.source}" if dataset else "inputs.eval")
    return metric


def id_inputs(signature, content: bytes, data: RunData) -> tuple[str, ...]:
    """The float inputs that the float32 .tflite uses as indices and whose data are whole numbers."""
    import numpy as np

    from advisor.models.signature import tensor_name
    from advisor.reading.tflite import index_inputs

    indexing = set(index_inputs(content))
    sample = data.representative or data.eval or data.train
    found = []
    for spec in signature.inputs:
        if not ({spec.name, tensor_name(spec.name)} & indexing) or np.dtype(spec.dtype).kind != "f" or sample is None:
            continue
        values = sample.inputs.get(spec.name)
        if values is not None and np.array_equal(values, np.round(values)):
            found.append(spec.name)
    return tuple(found)


def load(plan: Plan, data: RunData, progress):
    """The model as the executor works with it: the library's object, the built-in model or the file."""
    from advisor.executor import builtin
    from advisor.executor.loading import LoadedModel, load_model
    from advisor.pipeline.plan import custom_objects

    objects = plan.in_memory
    if objects is not None and objects.model is not None:
        sample = next((d for d in (data.representative, data.eval, data.train) if d is not None), None)
        return LoadedModel.from_keras(objects.model, sample=sample)
    source = plan.answers.inputs.model
    path = str(builtin.model_path(progress)) if source == BUILTIN else source
    task = progress.task(f"loading {source}", total=None)
    loaded = load_model(path, custom_objects(plan.custom_objects), plan.model_file.format if plan.model_file else None)
    task.finish()
    return loaded


@dataclass
class Workbench:
    plan: Plan
    data: RunData
    loaded: object
    producer: object
    measure: Measurer
    baseline: Baseline
    content: bytes
    judge: object
    notes: list[str]

    @classmethod
    def open(cls, job: OpenJob, progress) -> Workbench:
        """Load the model, bind the data to it, and convert (unless given) and measure the float32 baseline."""
        from advisor.executor.produce import Producer
        from advisor.executor.step import StepContext
        from advisor.pipeline.data import bind, representative_sample

        plan, data = job.plan, job.data
        notes = list(data.notes)
        _phase(progress, "loading the model")
        loaded = load(plan, data, progress)
        if job.batch is not None:
            loaded.batch = job.batch
        notes.extend(loaded.notes)
        signature = loaded.signature
        for role in ("representative", "train", "eval"):
            dataset = getattr(data, role)
            if dataset is not None:
                setattr(data, role, bind(dataset, f"inputs.{role}", signature))
        metric = task_metric(plan, signature, data)
        fused = loaded.fuse_recurrent(data.representative or data.eval or data.train)
        if fused:
            notes.append(fused)
        representative = None
        if data.representative is not None:
            representative, note = representative_sample(data.representative, limit=plan.options.representative_limit)
            if note:
                notes.append(note)
        context = StepContext(loaded=loaded, integer_io=plan.rules.targets[plan.answers.hardware].integer_only,
                              representative=representative, train=data.train, options=plan.options,
                              progress=progress, workdir=job.workdir or _workdir())
        producer = Producer(plan.rules, context, job.pre_step_store)
        measure = Measurer(data, signature, plan.options, metric)
        started = time.perf_counter()
        content = job.baseline or producer.produce(plan.baseline).content
        from advisor.validator.task import output_kinds

        kinds, told = output_kinds(signature, content, plan.answers.task, metric)
        ids = id_inputs(signature, content, data)
        if ids:
            loaded.id_inputs = ids
            told.append(f"input{'s' if len(ids) > 1 else ''} {', '.join(repr(n) for n in ids)} hold{'' if len(ids) > 1 else 's'} "
                        "integer ids (an embedding looks them up), so no scheme quantizes them: the converter takes them as "
                        "int32 and LiteRT Quantizer keeps the model's inputs float32")
        signature = signature.with_kinds(kinds)
        loaded.signature = signature
        measure.signature = signature
        metrics = measure(content, "float32", progress)
        baseline = Baseline(artifact=BASELINE_FILE, metrics=metrics, weights_by_dtype=weights_by_dtype(content))
        if job.baseline is None:
            made = "read" if loaded.tflite is not None else "converted"
            notes.append(f"float32 baseline {made} and measured in {time.perf_counter() - started:.1f} s")
            if loaded.batch_note:
                notes.append(loaded.batch_note)
            notes.extend(told)
            if measure.fidelity_source:
                notes.append(f"fidelity against float32 is measured on {measure.fidelity_source}")
            if metrics.accuracy_metric:
                notes.append(f"accuracy is {metrics.accuracy_metric} of output '{measure.metric.output or 'all'}' on inputs.eval")
        judge = search_judge(plan.answers, data, measure, content, metrics, plan.options)
        return cls(plan, data, loaded, producer, measure, baseline, content, judge, notes)

    @property
    def opened(self) -> Opened:
        return Opened(self.baseline, self.content, tuple(self.notes), self.loaded.format.value, self.loaded.format.family,
                      self.loaded.path, self.loaded.batch)

    def attempt(self, rung: Rung, progress) -> Attempted:
        self.producer.context = replace(self.producer.context, progress=progress)
        started = time.perf_counter()
        label = rung.label
        _phase(progress, f"producing {label}")
        try:
            produced = self.producer.produce(rung, judge=self.judge)
        except SchemeFailed as err:
            return Attempted(Attempt(scheme=rung.scheme, pre_steps=list(rung.pre_steps), backend=rung.backend,
                                     variant=rung.variant, error=str(err), seconds=round(time.perf_counter() - started, 2)))
        return self.assess(produced.content, rung, progress, started=started, findings=produced.findings,
                           notes=produced.notes)

    def assess(self, content: bytes, rung: Rung, progress, *, started: float | None = None, findings=None,
               notes=()) -> Attempted:
        """A .tflite measured, checked for the target and judged against the goals, as `rung`'s attempt
        (`advisor verify` assesses a model.tflite made earlier the same way)."""
        from advisor.models.report import StepFindings
        from advisor.validator.effect import effect_problem
        from advisor.validator.hardware import check
        from advisor.validator.verdicts import passed, size_reduction, verdicts
        from advisor.validator.weights import weight_statistics

        answers, rules = self.plan.answers, self.plan.rules
        started = time.perf_counter() if started is None else started
        findings = findings if findings is not None else StepFindings()
        label = rung.label
        artifact = f"attempts/{label}.tflite"
        files = {artifact: content}
        metrics = self.measure(content, label, progress)
        base = self.baseline.metrics
        metrics.size_reduction = size_reduction(answers.goals, metrics, base)
        if metrics.accuracy is not None and base.accuracy is not None:
            metrics.baseline_accuracy = base.accuracy
            metrics.accuracy_drop = round(self.measure.metric.drop(base.accuracy, metrics.accuracy), 6)
        if rung.pre_steps:  # what pruning and clustering left, read from the file that is delivered
            findings = findings.merged(weight_statistics(content))
        metrics = metrics.model_copy(update={name: getattr(findings, name) for name in type(findings).model_fields
                                             if getattr(findings, name) is not None and name != "recovery"})
        target = rules.targets[answers.hardware]
        task = progress.task(f"checking {label} for {answers.hardware}", total=None)
        hardware = check(content, target, answers.hardware, rules.int8_kernels, latency_goal=answers.goals.max_latency_ms is not None)
        task.finish()
        metrics.ram_bytes = hardware.arena_bytes if hardware.arena_bytes is not None else hardware.sram_bytes
        metrics.flash_bytes = hardware.flash_bytes
        if hardware.compiled is not None:  # the model the NPU compiler made, kept beside the attempt
            files[f"attempts/{label}_vela.tflite"] = hardware.compiled
        verdict_list = verdicts(answers.goals, metrics, latency_answers_goal=target.measured_on_host, hardware=answers.hardware,
                                estimate=(hardware.estimated_ms, hardware.estimated_by), hardware_report=hardware)
        facts = self.plan.facts
        backend = rules.backends.get(rung.backend)
        problem = effect_problem(rules.schemes[rung.scheme].effect, content, scheme=rung.scheme,
                                 who=backend.title if backend else "the step", predicted=facts.bytes_of(rung.scheme) if facts else None)
        attempt = Attempt(
            scheme=rung.scheme,
            pre_steps=list(rung.pre_steps),
            backend=rung.backend,
            variant=rung.variant,
            artifact=artifact,
            metrics=metrics,
            hardware=hardware,
            verdicts=verdict_list,
            passed=problem is None and passed(verdict_list, hardware, strict=answers.strict),
            error=problem,
            weights_by_dtype=weights_by_dtype(content),
            recovery=findings.recovery,
            warnings=warnings(metrics, base),
            notes=list(notes),
            seconds=round(time.perf_counter() - started, 2),
        )
        return Attempted(attempt, files)


LOW_SQNR_DB = 10.0  # below this the outputs are more noise than a tenth of their signal
SLOWER = 1.1  # a latency this much over float32's on the same host is slower, not noise


def warnings(metrics: Metrics, baseline: Metrics) -> list[str]:
    """What to know before shipping an attempt, whatever its goals: outputs far from float32's, and a model
    slower than float32 on this host."""
    found = []
    fidelity = metrics.fidelity
    if fidelity is not None and fidelity.worst_sqnr_db is not None and fidelity.worst_sqnr_db < LOW_SQNR_DB:
        found.append(f"output '{fidelity.worst_output}' keeps only {fidelity.worst_sqnr_db:.1f} dB SQNR against float32 "
                     f"(below {LOW_SQNR_DB:g} dB the quantization noise is over a tenth of the signal): check the model on "
                     "your own task before shipping it")
    if metrics.latency_ms is not None and baseline.latency_ms is not None and metrics.latency_ms > baseline.latency_ms * SLOWER:
        found.append(f"slower than float32 on this host's CPU: {metrics.latency_ms:.3f} ms against {baseline.latency_ms:.3f} ms "
                     f"({metrics.latency_ms / baseline.latency_ms:.1f}x)")
    return found


def _phase(progress, text: str) -> None:
    """Tell the parent what the worker is doing now (what a crash is said to have interrupted)."""
    announce = getattr(progress, "phase", None)
    if announce is not None:
        announce(text)


@functools.cache
def _workdir() -> str:
    """Scratch space for steps (Keras 3 exports), removed when the worker exits."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="advisor-work-")
    atexit.register(shutil.rmtree, path, True)
    return path
