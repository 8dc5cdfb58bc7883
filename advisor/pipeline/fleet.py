"""`advisor fleet FLEET.yaml`: every (model, target) pair of a fleet as a run, several at once.

    read_fleet(path)       the fleet file checked whole (BadInput naming the entry) -> its pairs' answers
    fleet(path, out=...)   each pair run (pipeline/run.py) in OUT/<model>/<target>/, unless its content key
                           (the model and data files' bytes, its answers, the rules and the tools' versions)
                           matches the one recorded in OUT/fleet.json; then fleet.json, fleet.md, fleet.png

Pairs run on `workers` threads, each driving its own worker process, with the machine's cores split
between them. The float32 baseline is made once per model and kind of target (integer-only targets convert
at batch 1, the others at the model's batch) and shared by the model's other pairs, which wait for it; each
pair still loads the model and measures the baseline on its worker. Each pre-step (pruning, clustering, the
recovery steps) is likewise made once per model: the first pair to need it saves the pre-stepped model in
OUT/.pre-steps (removed when the fleet ends), the others wait for it and load it. (On Ray each pair makes
its own baseline and pre-steps: its workers need no shared disk.)
Ctrl-C stops the fleet: the pairs already finished are kept and recorded, the ones running are discarded
(their folders are never half-written), and fleet.json says it was interrupted.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from advisor.errors import AdvisorError, BadInput, Infeasible
from advisor.models.answers import Answers
from advisor.models.fleet import FleetFile, FleetPair, FleetResult
from advisor.models.validation import describe_validation_error
from advisor.pipeline.output import remove_folder

PATH_FIELDS = ("model", "representative", "train", "eval")
PRE_STEPS = ".pre-steps"  # the fleet's pre-stepped models while it runs


@dataclass(frozen=True)
class PairJob:
    model: str
    target: str
    answers: Answers

    @property
    def out(self) -> str:
        return f"{self.model}/{self.target}"


def read_fleet(source: str | Path | dict, rules) -> tuple[FleetFile, list[PairJob]]:
    """The fleet file validated whole, and one job per (model, target); BadInput naming the entry."""
    from advisor.models.answers import parse_answers, resolve_inputs

    name, raw, base = _read_raw(source)
    try:
        fleet_file = FleetFile.model_validate(raw)
    except ValidationError as err:
        raise BadInput(describe_validation_error(err, FleetFile, name)) from None
    names = [m.name for m in fleet_file.models]
    repeated = next((n for n in names if names.count(n) > 1), None)
    if repeated:
        raise BadInput(f"{name}: models: the name '{repeated}' is used twice; each names its pairs' folders")
    for index, target in enumerate(fleet_file.targets):
        if target not in rules.targets:
            from advisor._suggest import did_you_mean

            raise BadInput(f"{name}: targets[{index}]: unknown target '{target}'{did_you_mean(target, rules.targets)}")
    for target in fleet_file.target_goals:
        if target not in fleet_file.targets:
            raise BadInput(f"{name}: target_goals.{target}: not one of the fleet's targets ({', '.join(fleet_file.targets)})")
    jobs = []
    for index, entry in enumerate(fleet_file.models):
        inputs = {key: getattr(entry, key) for key in (*PATH_FIELDS, "custom_objects") if getattr(entry, key) is not None}
        for target in fleet_file.targets:
            answers = {"data": entry.data or fleet_file.data, "hardware": target,
                       "goals": {**fleet_file.goals, **fleet_file.target_goals.get(target, {})},
                       "budget": fleet_file.budget, "inputs": inputs, "strict": fleet_file.strict}
            for flag in ("can_fine_tune", "activation_sensitive"):
                if getattr(fleet_file, flag) is not None:
                    answers[flag] = getattr(fleet_file, flag)
            if entry.task is not None:
                answers["task"] = entry.task
            if answers["data"] is None:
                raise BadInput(f"{name}: models[{index}] ({entry.name}): data: missing (here or for the whole fleet)")
            parsed = resolve_inputs(parse_answers(answers, rules=rules, source=f"{name}: models[{index}] ({entry.name}) "
                                                  f"for {target}"), base)
            _check_files(parsed, f"{name}: models[{index}] ({entry.name})")
            jobs.append(PairJob(entry.name, target, parsed))
    return fleet_file, jobs


def _read_raw(source) -> tuple[str, Any, Path]:
    if isinstance(source, dict):
        return "fleet", source, Path.cwd()
    path = Path(source)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise BadInput(f"{path}: a fleet file must be .yaml, .yml or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"{path}: cannot be read ({type(err).__name__})") from None
    import yaml

    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise BadInput(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: "
                       f"{' '.join(str(err).split())[:200]}") from None
    if not isinstance(raw, dict):
        raise BadInput(f"{path}: must be a mapping with models and targets")
    return str(path), raw, path.resolve().parent


def _check_files(answers: Answers, where: str) -> None:
    from advisor.models.answers import BUILTIN_PREFIX

    for key in PATH_FIELDS:
        value = getattr(answers.inputs, key)
        if value is not None and not value.startswith(BUILTIN_PREFIX) and not Path(value).exists():
            raise BadInput(f"{where}: {key}: {value}: no such file")


def pair_key(job: PairJob, rules_digest: str, tools: dict) -> str:
    """A content hash of everything a pair's result depends on: its input files' bytes, its answers, the
    rule set and the tools' versions."""
    from advisor._version import __version__

    digest = hashlib.sha256()
    digest.update(json.dumps({"answers": job.answers.model_dump(mode="json"), "tools": tools, "advisor": __version__,
                              "rules": rules_digest}, sort_keys=True).encode())
    for key in PATH_FIELDS:
        value = getattr(job.answers.inputs, key)
        if value is not None:
            _hash_path(Path(value), digest)
    return digest.hexdigest()[:32]


def _hash_path(path: Path, digest) -> None:
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(item.relative_to(path)).encode())
            _hash_path(item, digest)
    elif path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        digest.update(str(path).encode())  # builtin:digits


def pre_step_key(job: PairJob, options) -> str:
    """What a model's pre-stepped results depend on beside the steps themselves, the same for every pair of
    the model in one fleet run: its entry, files, data level, task and the run's options."""
    answers = job.answers
    described = {"model": job.model, "data": answers.data, "task": answers.task.model_dump(mode="json"),
                 "inputs": answers.inputs.model_dump(mode="json"), "options": options.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def rules_digest(rules) -> str:
    from advisor.engine.rules import FILES

    digest = hashlib.sha256()
    for name in FILES:
        digest.update((Path(rules.folder) / name).read_bytes())
    return digest.hexdigest()[:16]


def fleet(source: str | Path | dict, *, out: str | Path = "advisor-fleet", workers: int | None = None, force: bool = False,
          verify: bool = False, rules=None, options=None, progress=None, engine: str = "local", address: str | None = None,
          verbose: bool = False) -> FleetResult:
    """Every pair of the fleet run (or reused), the fleet's files written; see the module's docstring."""
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions, default_workers
    from advisor.pipeline.run import package_versions
    from advisor.report.progress import NullProgress

    from advisor.pipeline import session

    rules = rules if rules is not None and not isinstance(rules, (str, Path)) else load_rules(rules)
    _, jobs = read_fleet(source, rules)
    session.cancelled.clear()
    out = Path(out)
    _prepare(out, {job.model for job in jobs})
    progress = progress or NullProgress()
    options = options or RunOptions()
    tools = package_versions()
    digest = rules_digest(rules)
    previous = _previous(out)
    keys = {(job.model, job.target): pair_key(job, digest, tools) for job in jobs}
    runner = _engine(engine, address, workers or default_workers())
    overall = progress.task(f"fleet: {len(jobs)} pairs", total=len(jobs))
    result = FleetResult(environment={"packages": tools, "rules": str(rules.folder), "engine": engine,
                                      "workers": runner.workers})
    finished: dict[tuple[str, str], FleetPair] = {}
    lock = threading.Lock()

    def done(pair: FleetPair) -> None:
        with lock:
            finished[(pair.model, pair.target)] = pair
            overall.advance(1, status=f"{pair.model}/{pair.target}: {_status_word(pair)}")

    to_run = []
    for job in jobs:
        key = keys[(job.model, job.target)]
        earlier = previous.get((job.model, job.target))
        if not force and earlier is not None and earlier.key == key and (out / job.out / "report.json").is_file():
            done(earlier.model_copy(update={"reused": True, "verified": None}))
        else:
            to_run.append(job)
    from advisor.executor.pre_step_store import PreStepStore

    stores = {job.model: PreStepStore(str(out / PRE_STEPS), pre_step_key(job, options)) for job in to_run}
    shares = {(job.model, rules.targets[job.target].integer_only): session.SharedWork(pre_step_store=stores[job.model])
              for job in to_run}
    try:
        runner.run(to_run, lambda job: _run_pair(job, out, keys[(job.model, job.target)], rules, options, progress, verbose,
                                                  shares[(job.model, rules.targets[job.target].integer_only)]),
                   done, out=out, keys=keys, rules=rules, options=options, run_pair=_run_pair)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        remove_folder(out / PRE_STEPS)  # a worker stopped by Ctrl-C may still be writing into it
    result.pairs = [finished[(job.model, job.target)] for job in jobs if (job.model, job.target) in finished]
    if verify and not result.interrupted:
        _verify_pairs(result, out, rules, progress)
    overall.finish()
    write_fleet(out, result, jobs)
    if result.interrupted:
        raise KeyboardInterrupt
    return result


def _prepare(out: Path, models: set[str]) -> None:
    """The fleet's folder and one per model, made before any pair runs (two pairs of one model starting at
    once would race to create it)."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: exists and is not a folder")
    try:
        for model in sorted(models):
            (out / model).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"{out}: cannot be created: {err.strerror}") from None


def _previous(out: Path) -> dict[tuple[str, str], FleetPair]:
    try:
        earlier = FleetResult.model_validate_json((out / "fleet.json").read_bytes())
    except (OSError, ValidationError, ValueError):
        return {}
    return {(p.model, p.target): p for p in earlier.pairs if p.key}


def _run_pair(job: PairJob, out: Path, key: str, rules, options, progress, verbose: bool, shared=None) -> FleetPair:
    """One pair as `advisor run`: its exit code and the chosen attempt's figures, or why it could not run."""
    from advisor.pipeline.plan import plan
    from advisor.pipeline.run import execute

    started = time.perf_counter()
    base = {"model": job.model, "target": job.target, "out": job.out, "key": key}
    try:
        report = execute(plan(job.answers, rules, options), out=out / job.out, force=True, progress=progress,
                         verbose=verbose, shared=shared)
    except Infeasible:
        return FleetPair(**base, exit_code=3, error="infeasible: no scheme can meet these answers on this target",
                         seconds=round(time.perf_counter() - started, 1))
    except AdvisorError as err:
        return FleetPair(**base, exit_code=err.exit_code, error=str(err), seconds=round(time.perf_counter() - started, 1))
    return pair_from_report(report, base, time.perf_counter() - started)


def pair_from_report(report, base: dict, seconds: float | None = None) -> FleetPair:
    chosen = report.attempts[report.chosen] if report.chosen is not None else None
    best = chosen or next((a for a in report.attempts if a.metrics is not None), None)
    failed = []
    if best is not None and chosen is None:
        failed = [v.goal for v in best.verdicts if v.status == "fail"]
        if best.hardware is not None and not best.hardware.compatible:
            failed.append("hardware")
    fidelity = chosen.metrics.fidelity if chosen and chosen.metrics else None
    return FleetPair(**base, exit_code=0 if chosen else 4, chosen=report.chosen,
                     scheme="+".join([*chosen.pre_steps, chosen.scheme]) if chosen else None,
                     size_bytes=chosen.metrics.size_bytes if chosen and chosen.metrics else None,
                     fidelity=fidelity.worst_sqnr_db if fidelity else None,
                     prediction_change=fidelity.prediction_change if fidelity else None,
                     failed_goals=failed, error=report.error or (None if best or chosen else _first_error(report)),
                     seconds=round(seconds, 1) if seconds is not None else None)


def _first_error(report) -> str | None:
    return next((a.error for a in report.attempts if a.error), None)


def _status_word(pair: FleetPair) -> str:
    if pair.reused:
        return "unchanged"
    return "passed" if pair.exit_code == 0 else ("failed" if pair.exit_code == 4 else "error")


def _verify_pairs(result: FleetResult, out: Path, rules, progress) -> None:
    from advisor.pipeline.verify import verify

    for index, pair in enumerate(result.pairs):
        if pair.chosen is None:
            continue
        try:
            holds = verify(out / pair.out, rules=rules, progress=progress).holds
        except AdvisorError as err:
            holds = False
            pair = pair.model_copy(update={"error": f"verify: {err}"})
        result.pairs[index] = pair.model_copy(update={"verified": holds})


def write_fleet(out: Path, result: FleetResult, jobs: list[PairJob]) -> None:
    """fleet.json, fleet.md and fleet.png, each written whole (a temporary name, then renamed)."""
    from advisor.report.fleet_report import fleet_markdown, fleet_plot

    models = list(dict.fromkeys(job.model for job in jobs))
    targets = list(dict.fromkeys(job.target for job in jobs))
    for name, content in (("fleet.json", result.model_dump_json(indent=2)), ("fleet.md", fleet_markdown(result, models, targets)),
                          ("fleet.png", fleet_plot(result, models, targets))):
        partial = out / f".{name}.{os.getpid()}.partial"
        if isinstance(content, bytes):
            partial.write_bytes(content)
        else:
            partial.write_text(content, encoding="utf-8")
        os.replace(partial, out / name)


class _LocalPool:
    """Pairs on `workers` threads, each pair a run on a worker process of its own (kept warm from pair to
    pair), the cores split between them; the next pair goes to the first thread free."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, jobs: list[PairJob], run_one, done, **_) -> None:
        from advisor.pipeline import worker

        queue = sorted(jobs, key=_weight, reverse=True)  # the biggest models first: the last pairs are the quick ones
        lock = threading.Lock()
        stop = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    job = queue.pop(0)
                try:
                    done(run_one(job))
                except BaseException as err:  # a bug: stop the fleet, report it
                    errors.append(err)
                    stop.set()
                    return

        count = min(self.workers, len(jobs)) or 1
        worker.share_cores(count)
        threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:
            stop.set()
            _interrupt_workers()
            for thread in threads:
                thread.join()
            raise
        finally:
            worker.share_cores(1)
        if errors:
            raise errors[0]


def _weight(job: PairJob) -> int:
    """How long a pair may take, roughly: its model's bytes on disk (a built-in model counts as small)."""
    path = Path(job.answers.inputs.model or "")
    try:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    except OSError:
        return 0


def _interrupt_workers() -> None:
    """Ctrl-C: every worker process of this fleet is killed, so each running pair ends as interrupted and
    its folder is discarded."""
    from advisor.pipeline import session

    session.cancel_all()


def _engine(engine: str, address: str | None, workers: int):
    if engine == "local":
        if address:
            raise BadInput("--address: only with --engine ray")
        return _LocalPool(workers)
    if engine == "ray":
        from advisor.pipeline.ray_engine import RayPool

        return RayPool(workers, address)
    raise BadInput(f"--engine: unknown engine '{engine}'; known: local, ray")
