"""What every attempt of one run or comparison shares, and how one attempt is made and measured.

    load_data(plan)            the data files, read and checked before any TensorFlow work
    Workbench.open(...)        the model loaded, the data checked against it, the float32 baseline
    workbench.attempt(rung)    produce (steps) -> measure -> check the hardware -> verdicts
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

from advisor._suggest import did_you_mean
from advisor.errors import AnswersError, SchemeFailed
from advisor.models.answers import BUILTIN_PREFIX, Answers
from advisor.models.options import RunOptions
from advisor.models.report import Attempt, Baseline, Metrics, attempt_label
from advisor.plan import Plan, Rung

SEARCH_SAMPLES = 500  # inputs a searching step (selective_integer) judges its candidates on


@dataclass
class RunData:
    """The data a run works with, loaded and checked before any TensorFlow work."""

    representative: object | None = None  # executor.data.Dataset
    train: object | None = None
    eval: object | None = None
    notes: list[str] = field(default_factory=list)


def _needs(name: str, rules) -> str:
    entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
    return entry.data


def load_data(plan: Plan) -> RunData:
    """Read the data files the answers name; the first rung's data needs must be met."""
    from advisor.executor import builtin
    from advisor.executor.data import load_dataset

    spec = plan.answers.inputs
    objects = plan.in_memory
    if not spec.model and not (objects and objects.model is not None):
        raise AnswersError("answers: inputs.model: advisor run needs a model (a .keras/.h5 file, a SavedModel folder, or builtin:digits)")
    if spec.model and spec.model.startswith(BUILTIN_PREFIX) and spec.model != builtin.NAME:
        raise AnswersError(f"answers: inputs.model: unknown built-in '{spec.model}'{did_you_mean(spec.model, [builtin.NAME])}")

    def load(role: str, labelled: bool | None):
        if objects is not None and objects.dataset(role) is not None:
            return objects.dataset(role)
        path = getattr(spec, role)
        if path is None:
            return None
        if path.startswith(BUILTIN_PREFIX):
            if path != builtin.NAME:
                raise AnswersError(f"answers: inputs.{role}: unknown built-in '{path}'{did_you_mean(path, [builtin.NAME])}")
            return builtin.split(role)
        return load_dataset(path, role=f"inputs.{role}", labelled=labelled)

    data = RunData(representative=load("representative", False), train=load("train", True), eval=load("eval", None))
    if data.representative is None and data.train is not None:
        data.representative = data.train.unlabelled(f"{data.train.source} (inputs without labels)")
        data.notes.append("no inputs.representative: calibrating on the training inputs")
    missing = _missing(plan.rungs[0], data, plan.rules) if plan.rungs else None
    if missing:  # the first rung must be able to run; later ones are skipped with a note
        field, why = missing
        raise AnswersError(f"answers: inputs.{field}: {why}")
    if (data.eval is None or data.eval.y is None) and plan.answers.goals.max_accuracy_drop is not None:
        what = "no inputs.eval" if data.eval is None else "inputs.eval has no labels (y)"
        data.notes.append(f"{what}: accuracy is not measured, so an accuracy goal stays unverified")
    return data


def _missing(rung: Rung, data: RunData, rules) -> tuple[str, str] | None:
    """(the inputs field, why) when the data cannot support a rung, else None."""
    scheme, steps = rung[0], rung[1]
    for name in (*steps, scheme):
        level = _needs(name, rules)
        if level == "labelled" and data.train is None:
            return "train", f"{name} fine-tunes the model and needs labelled training data (the inputs and y)"
        if level == "unlabelled" and data.representative is None:
            return "representative", f"{name} calibrates on a representative sample of 100-500 inputs"
    return None


def unavailable(rung: Rung, data: RunData, rules) -> str | None:
    """Why the data cannot support a rung, in a note, or None."""
    missing = _missing(rung, data, rules)
    return f"skipped: {missing[1]} (inputs.{missing[0]})" if missing else None


class Measurer:
    """Size, gzip size, the task metric (when labelled eval data exist), fidelity against the float32
    baseline (on the eval inputs, else the representative ones) and host latency of one .tflite.
    One pass of the interpreter over the eval inputs serves the metric and the fidelity."""

    def __init__(self, data: RunData, signature, options: RunOptions, progress, metric):
        self.signature = signature
        self.eval = data.eval
        self.metric = metric
        self.options = options
        self.progress = progress
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

    def __call__(self, content: bytes, label: str) -> Metrics:
        from advisor.validator import metrics as m
        from advisor.validator.fidelity import fidelity
        from advisor.validator.task import with_binary_threshold

        size, gzipped = m.sizes(content)
        runner = m.Runner(content, self.signature, self.options.threads)
        accuracy = agreement = None
        if self.fidelity_data is not None:
            outputs = runner.predict(self.fidelity_data, progress=self.progress, label=f"measuring: {label}")
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
            task = self.progress.task(f"measuring latency: {label}", total=None)
            lat, p90 = runner.latency(self.sample, self.options.latency_runs)
            task.finish(status=f"{lat:.3f} ms")
        return Metrics(
            size_bytes=size,
            gzip_bytes=gzipped,
            accuracy=round(accuracy, 6) if accuracy is not None else None,
            accuracy_metric=self.metric.label if accuracy is not None else None,
            eval_samples=len(self.eval) if self.eval is not None else None,
            latency_ms=round(lat, 4) if lat is not None else None,
            latency_p90_ms=round(p90, 4) if p90 is not None else None,
            latency_threads=runner.threads if lat is not None else None,
            fidelity=agreement,
        )


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


@dataclass
class Workbench:
    plan: Plan
    data: RunData
    folder: object  # output.OutputFolder
    loaded: object
    producer: object
    measure: Measurer
    baseline: Baseline
    judge: object
    notes: list[str]
    progress: object

    @classmethod
    def open(cls, plan: Plan, data: RunData, folder, progress) -> Workbench:
        """Load the model, check the data against it, and convert and measure the float32 baseline."""
        from advisor.executor import builtin
        from advisor.executor.data import bind, representative_sample
        from advisor.executor.model_io import load_model
        from advisor.executor.produce import Producer
        from advisor.executor.step import StepContext

        answers = plan.answers
        notes = list(data.notes)
        objects = plan.in_memory
        if objects is not None and objects.model is not None:
            from advisor.executor.model_io import LoadedModel

            sample = next((d for d in (data.representative, data.eval, data.train) if d is not None), None)
            loaded = LoadedModel.from_keras(objects.model, sample=sample)
        else:
            model_path = str(builtin.model_path(progress)) if answers.inputs.model == builtin.NAME else answers.inputs.model
            task = progress.task(f"loading {answers.inputs.model}", total=None)
            loaded = load_model(model_path, plan.custom_objects)
            task.finish()
        notes.extend(loaded.notes)
        signature = loaded.signature
        for role in ("representative", "train", "eval"):
            dataset = getattr(data, role)
            if dataset is not None:
                setattr(data, role, bind(dataset, f"inputs.{role}", signature))
        metric = task_metric(plan, signature, data)
        representative = None
        if data.representative is not None:
            representative, note = representative_sample(data.representative, limit=plan.options.representative_limit)
            if note:
                notes.append(note)
        context = StepContext(loaded=loaded, integer_io=plan.rules.targets[answers.hardware].integer_only,
                              representative=representative, train=data.train, options=plan.options,
                              progress=progress, workdir=str(folder.work))
        producer = Producer(plan.rules, context)
        measure = Measurer(data, signature, plan.options, progress, metric)
        started = time.perf_counter()
        content = producer.produce("float32").content
        metrics = measure(content, "float32")
        baseline = Baseline(artifact=folder.write("attempts/float32.tflite", content), metrics=metrics)
        made = "read" if loaded.tflite is not None else "converted"
        notes.append(f"float32 baseline {made} and measured in {time.perf_counter() - started:.1f} s")
        if measure.fidelity_source:
            notes.append(f"fidelity against float32 is measured on {measure.fidelity_source}")
        if metrics.accuracy_metric:
            notes.append(f"accuracy is {metrics.accuracy_metric} of output '{measure.metric.output or 'all'}' on inputs.eval")
        judge = search_judge(answers, data, measure, content, metrics, plan.options)
        return cls(plan, data, folder, loaded, producer, measure, baseline, judge, notes, progress)

    def _format_reason(self, rung: Rung) -> str | None:
        """Why the model's format rules a rung out (a scheme or pre-step no backend of which takes it)."""
        rules, family = self.plan.rules, self.loaded.format.family
        for name in (*rung[1], rung[0]):
            if not rules.takes_format(name, family):
                entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
                label = rules.model_formats[family].label if family in rules.model_formats else family
                return f"skipped: {name} needs {entry.model_need or 'another model format'}; the model is {label}"
        return None

    def backend_for(self, scheme: str) -> str | None:
        """--backend where the scheme has that implementation and it takes the model, else the rules' choice."""
        asked = self.plan.options.backend
        if asked and asked in self.plan.rules.backends_for(scheme, self.loaded.format.family):
            return asked
        return self.producer.backend_for(scheme)

    def runnable(self, rungs) -> list[Rung]:
        """The rungs the data can support; the others are noted and left out."""
        kept = []
        for rung in rungs:
            reason = unavailable(rung, self.data, self.plan.rules) or self._format_reason(rung)
            if reason:
                self.notes.append(f"{attempt_label(*rung)}: {reason}")
            else:
                kept.append(rung)
        return kept

    def attempt(self, rung: Rung) -> Attempt:
        from advisor.validator.hardware import check_model
        from advisor.validator.verdicts import passed, size_reduction, verdicts
        from advisor.validator.weights import weight_statistics

        scheme, steps, *asked = rung
        variant = asked[0] if asked else None
        answers, rules = self.plan.answers, self.plan.rules
        started = time.perf_counter()
        label = attempt_label(scheme, steps, variant)
        backend = variant or self.backend_for(scheme)
        try:
            produced = self.producer.produce(scheme, steps, judge=self.judge, backend=backend)
        except SchemeFailed as err:
            return Attempt(scheme=scheme, pre_steps=list(steps), backend=backend, variant=variant, error=str(err),
                           seconds=round(time.perf_counter() - started, 2))
        content = produced.content
        artifact = self.folder.write(f"attempts/{label}.tflite", content)
        metrics = self.measure(content, label)
        base = self.baseline.metrics
        metrics.size_reduction = size_reduction(answers.goals, metrics, base)
        if metrics.accuracy is not None and base.accuracy is not None:
            metrics.baseline_accuracy = base.accuracy
            metrics.accuracy_drop = round(self.measure.metric.drop(base.accuracy, metrics.accuracy), 6)
        extras = dict(produced.extras)
        if steps:  # what pruning and clustering left, read from the file that is delivered
            extras.update(weight_statistics(content))
        for key, value in extras.items():
            setattr(metrics, key, value)
        target = rules.targets[answers.hardware]
        hardware = check_model(content, answers.hardware, rules, latency_goal=answers.goals.max_latency_ms is not None)
        metrics.ram_bytes = hardware.arena_bytes if hardware.arena_bytes is not None else hardware.sram_bytes
        metrics.flash_bytes = hardware.flash_bytes
        if hardware.compiled is not None:  # the model the NPU compiler made, kept beside the attempt
            self.folder.write(f"attempts/{label}_vela.tflite", hardware.compiled)
        verdict_list = verdicts(answers.goals, metrics, latency_answers_goal=target.measured_on_host, hardware=answers.hardware,
                                estimate=(hardware.estimated_ms, hardware.estimated_by))
        return Attempt(
            scheme=scheme,
            pre_steps=list(steps),
            backend=backend,
            variant=variant,
            artifact=artifact,
            metrics=metrics,
            hardware=hardware,
            verdicts=verdict_list,
            passed=passed(verdict_list, hardware, strict=answers.strict),
            notes=list(produced.notes),
            seconds=round(time.perf_counter() - started, 2),
        )
