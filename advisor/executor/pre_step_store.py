"""Pre-stepped models kept on disk, so that the runs of one model (a fleet's pairs, each in its own worker
process) prune, cluster or recover it once instead of once per target.

An entry is a folder named by the runs' shared key (the model's and data's bytes, the answers that steer a
pre-step, the options, the tools) and the pre-steps applied, holding the tf-keras model (`model.h5`) and
what the steps measured (`findings.json`). One run makes it while holding the entry's lock; the others
wait for the lock and load it. A step that declines or fails (SchemeFailed) does so once: the others get
its reason. A model that cannot be saved or loaded is simply made again, with a note.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import SchemeFailed
from advisor.models.report import StepFindings

MODEL = "model.h5"
FINDINGS = "findings.json"


@dataclass(frozen=True)
class Fetched:
    model: Any
    findings: StepFindings
    reused: bool  # made by another run, loaded here
    note: str | None = None  # why this result could not be shared, when it could not


@dataclass(frozen=True)
class PreStepStore:
    folder: str
    key: str  # what the pre-steps' results depend on, apart from which steps (see fleet.pre_step_key)

    def entry(self, references: tuple[str, ...]) -> Path:
        steps = hashlib.sha256("\n".join(references).encode()).hexdigest()[:16]
        return Path(self.folder) / f"{self.key}-{steps}"

    def fetch_or_make(self, references: tuple[str, ...], make: Callable[[], tuple[Any, StepFindings]],
                      custom_objects: dict | None) -> Fetched:
        """The model after the steps `references` name: loaded when another run made it, else made by
        `make()` and saved for the others."""
        entry = self.entry(references)
        refused = entry.with_name(entry.name + ".refused")
        with _locked(entry.with_name(entry.name + ".lock")):
            if refused.is_file():  # the step declined or failed for another run: it would here too
                raise SchemeFailed(refused.read_text())
            if (entry / FINDINGS).is_file():
                try:
                    return Fetched(_load(entry, custom_objects), _findings(entry), reused=True)
                except Exception as err:  # a model tf-keras saves but cannot load back: made here instead
                    shutil.rmtree(entry, ignore_errors=True)
                    model, findings = make()
                    return Fetched(model, findings, reused=False, note=_unshared(err))
            try:
                model, findings = make()
            except SchemeFailed as failed:
                refused.write_text(str(failed))
                raise
            try:
                _save(entry, model, findings)
            except Exception as err:
                return Fetched(model, findings, reused=False, note=_unshared(err))
            return Fetched(model, findings, reused=False)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    from advisor._filelock import exclusive

    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(path):
        yield


def _save(entry: Path, model, findings: StepFindings) -> None:
    """The entry written whole: into a temporary folder, then renamed (the findings last, as the mark)."""
    from advisor.executor.tf_env import quiet

    partial = entry.with_name(f".{entry.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with quiet():
            model.save(partial / MODEL, save_format="h5", include_optimizer=False)
        (partial / FINDINGS).write_text(findings.model_dump_json())
        os.replace(partial, entry)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _load(entry: Path, custom_objects: dict | None):
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras

    with quiet():
        return tf_keras.models.load_model(entry / MODEL, custom_objects=custom_objects, compile=False)


def _findings(entry: Path) -> StepFindings:
    return StepFindings.model_validate_json((entry / FINDINGS).read_text())


def _unshared(err: Exception) -> str:
    return f"made for this pair alone: the pre-stepped model could not be shared through a file ({type(err).__name__}: {err})"
