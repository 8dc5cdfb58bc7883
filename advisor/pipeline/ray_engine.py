"""The same work as Ray tasks (`--engine ray [--address ADDR]`): a fleet's pairs, a comparison's rungs.

Ray is an optional extra (`pip install advisor[cluster]`). Without `--address` a local Ray instance is
started with one CPU per worker; with it, the driver joins that cluster (`ray://head:10001` or an address
`ray start --head` printed). The model and data files travel through Ray's object store (each file put once,
shared by every task that needs it), so the cluster's machines need no shared disk and no copy of the
inputs; each task writes them to its own scratch folder, runs there exactly what the local pool runs (a
worker process opened on the plan), and sends back what it made. The driver writes every output folder, so
the results and the report are the local pool's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from advisor.errors import BadInput

INPUT_FIELDS = ("model", "representative", "train", "eval")


def ray_module():
    try:
        import ray
    except ImportError:
        raise BadInput("--engine ray: Ray is not installed; pip install 'advisor[cluster]' (or pip install ray)") from None
    return ray


def connect(workers: int, address: str | None):
    """Ray, initialised once per process: the cluster at `address`, or a local instance of `workers` CPUs."""
    ray = ray_module()
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            options["address"] = address
        else:
            options["num_cpus"] = workers
        try:
            ray.init(**options)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise BadInput(f"--address: cannot join the Ray cluster at {address}: {' '.join(str(err).split())[:200]}") from None
    return ray


def _files_of(answers) -> dict[str, Path]:
    """The answers' input files (a SavedModel folder's files too), by field."""
    from advisor.models.answers import BUILTIN_PREFIX

    found = {}
    for key in INPUT_FIELDS:
        value = getattr(answers.inputs, key)
        if value is not None and not value.startswith(BUILTIN_PREFIX):
            found[key] = Path(value)
    return found


def _pack(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return {"": path.read_bytes()}


def _unpack(packed: dict[str, bytes], target: Path) -> Path:
    if list(packed) == [""]:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(packed[""])
        return target
    for relative, content in packed.items():
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(content)
    return target


class Shipper:
    """Each input file put in the object store once; what a task needs to rebuild its answers."""

    def __init__(self, ray):
        self.ray = ray
        self.refs: dict[str, Any] = {}

    def ship(self, answers) -> dict[str, tuple[str, Any]]:
        shipped = {}
        for key, path in _files_of(answers).items():
            name = str(path.resolve())
            if name not in self.refs:
                self.refs[name] = self.ray.put(_pack(path))
            shipped[key] = (path.name, self.refs[name])
        return shipped


def localize(answers, shipped: dict[str, tuple[str, Any]], scratch: Path, ray):
    """The answers with each shipped input written under `scratch` and its path pointing there."""
    inputs = {}
    for key, (name, ref) in shipped.items():
        inputs[key] = str(_unpack(ray.get(ref), scratch / key / name))
    return answers.model_copy(update={"inputs": answers.inputs.model_copy(update=inputs)})


def _folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pair_task(run_pair, job, shipped, key: str, rules_folder: str, options):
    """On a Ray worker: the pair run by `run_pair` (the fleet's own) in a scratch folder; (the FleetPair,
    the pair folder's files)."""
    from dataclasses import replace

    import ray

    from advisor.engine.rules import load_rules

    scratch = Path(tempfile.mkdtemp(prefix="advisor-ray-"))
    try:
        local = replace(job, answers=localize(job.answers, shipped, scratch / "inputs", ray))
        pair = run_pair(local, scratch / "out", key, load_rules(rules_folder), options, None, False)
        folder = scratch / "out" / job.out
        return pair, (_folder_files(folder) if folder.is_dir() else {})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class RayPool:
    """A fleet's pairs as Ray tasks (one CPU each); the driver writes each pair's folder as it arrives."""

    def __init__(self, workers: int, address: str | None):
        self.workers = workers
        self.address = address
        self.ray = connect(workers, address)
        self.out: Path | None = None

    def run(self, jobs, run_one, done, *, out: Path, keys: dict, rules, options, run_pair) -> None:
        from advisor.pipeline.output import OutputFolder

        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=0)(_pair_task)
        shipper = Shipper(ray)
        pending = {task.remote(run_pair, job, shipper.ship(job.answers), keys[(job.model, job.target)], str(rules.folder), options): job
                   for job in jobs}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                pair, files = ray.get(ready[0])
                folder = OutputFolder(out / job.out, force=True)
                try:
                    for relative, content in files.items():
                        folder.write(relative, content)
                    folder.commit()
                except BaseException:
                    folder.discard()
                    raise
                done(pair.model_copy(update={"out": job.out}))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise


def _rungs_task(the_plan, data, opened, rungs, shipped):
    """On a Ray worker: a worker process opened on the plan with the driver's float32 baseline, then each
    of `rungs` attempted; (the attempts, the files they made, the notes)."""
    from dataclasses import replace

    import ray

    from advisor.pipeline.session import Session
    from advisor.report.progress import NullProgress

    scratch = Path(tempfile.mkdtemp(prefix="advisor-ray-"))
    try:
        local = replace(the_plan, answers=localize(the_plan.answers, shipped, scratch / "inputs", ray))
        folder = _ScratchFolder(scratch / "out")
        session = Session.reopen(local, data, folder, NullProgress(), opened)
        try:
            attempts = [session.attempt(rung) for rung in rungs]
        finally:
            session.close()
        return attempts, _folder_files(folder.staging), session.notes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _ScratchFolder:
    def __init__(self, path: Path):
        self.staging = path
        self.work = path / ".work"
        self.work.mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, content) -> str:
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        return relative


def attempt_on_ray(session, rungs, workers: int, address: str | None):
    """A comparison's rungs in `workers` Ray tasks (consecutive rungs share a task, and so their pre-steps),
    each task a worker process opened with the session's baseline; attempts back in the plan's order, their
    files written to the session's folder."""
    ray = connect(workers, address)
    task = ray.remote(num_cpus=1, max_retries=0)(_rungs_task)
    shipped = Shipper(ray).ship(session.plan.answers)
    count = max(1, min(workers, len(rungs)))
    chunks = [list(rungs[i::count]) for i in range(count)]
    refs = [task.remote(session.plan, session.data, session.opened, chunk, shipped) for chunk in chunks if chunk]
    results = ray.get(refs)
    by_label = {}
    for attempts, files, notes in results:
        for attempt in attempts:
            by_label[(attempt.scheme, tuple(attempt.pre_steps), attempt.variant)] = attempt
        for relative, content in files.items():
            if not relative.startswith(".work"):
                session.folder.write(relative, content)
        session.notes.extend(n for n in notes if n not in session.notes)
    return [by_label[(r.scheme, tuple(r.pre_steps), r.variant)] for r in rungs]


def shutdown() -> None:
    try:
        import ray
    except ImportError:
        return
    if ray.is_initialized():
        ray.shutdown()


os.environ.setdefault("RAY_DEDUP_LOGS", "0")
