"""The data a run works with: files (or the library's arrays) loaded and checked before any TensorFlow
work, then bound to the model's signature.

An .npz holds one array per model input, named by the input's name (`x` works for a single-input
model) and, for labelled data, `y`; an .npy file is the one input of a single-input model. The
library also takes arrays, dicts of arrays keyed by input name, or (inputs, y) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advisor._suggest import did_you_mean
from advisor.errors import AnswersError, DataError
from advisor.models.answers import BUILTIN_PREFIX
from advisor.models.dataset import Dataset
from advisor.models.rung import Rung

BUILTIN = "builtin:digits"
IN_MEMORY = "in-memory"

REPRESENTATIVE_MIN, REPRESENTATIVE_MAX = 100, 500
LABELS = "y"
SINGLE_INPUT = "x"


def load_dataset(path: str, *, role: str, labelled: bool | None) -> Dataset:
    """Read `path` for `role` (e.g. 'inputs.train'); labelled roles need `y`, unlabelled ones drop
    it, and `labelled=None` keeps it where the file has it (evaluation data)."""
    file = Path(path)
    where = f"{role}: {path}"
    if not file.is_file():
        raise DataError(f"{where}: no such file")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        elif suffix == ".npy":
            arrays = {SINGLE_INPUT: np.load(file, allow_pickle=False)}
        else:
            raise DataError(f"{where}: data must be an .npz (one array per input, and y) or an .npy file")
    except DataError:
        raise
    except (ValueError, OSError) as err:
        raise DataError(f"{where}: cannot be read as {suffix} ({' '.join(str(err).split())[:120]})") from None
    y = arrays.pop(LABELS, None)
    if not arrays:
        raise DataError(f"{where}: the {suffix} holds no input arrays (it has: {LABELS if y is not None else 'nothing'})")
    if labelled and y is None:
        raise DataError(f"{where}: labelled data needs an .npz with the inputs and an array 'y'")
    return check_dataset(Dataset(arrays, y if labelled is not False else None, str(path)), role)


def check_dataset(data: Dataset, role: str) -> Dataset:
    where = f"{role}: {data.source}"
    lengths = set()
    for name, x in data.inputs.items():
        if x.dtype.kind not in "fiub":
            raise DataError(f"{where}: array '{name}' must be numeric, not {x.dtype}")
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"{where}: array '{name}' is empty")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise DataError(f"{where}: array '{name}' holds NaN or infinite values ({int((~np.isfinite(x)).sum())} of {x.size})")
        lengths.add(len(x))
    if len(lengths) > 1:
        raise DataError(f"{where}: the input arrays have different numbers of samples ({', '.join(f'{k}: {len(v)}' for k, v in data.inputs.items())})")
    y = data.y
    if y is not None:
        count = lengths.pop()
        if y.ndim == 0 or len(y) != count:
            raise DataError(f"{where}: the inputs have {count} samples but y has {0 if y.ndim == 0 else len(y)}")
        if y.dtype.kind not in "fiub":
            raise DataError(f"{where}: y must be numeric, not {y.dtype}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{where}: y holds NaN or infinite values")
    return data


def bind(data: Dataset, role: str, signature) -> Dataset:
    """Name the arrays by the model's inputs and check each one's shape and dtype; arrays are cast
    to the input's dtype. Missing or unexpected arrays are named, with the names the model expects."""
    where = f"{role}: {data.source}"
    expected = signature.input_names
    arrays = dict(data.inputs)
    if len(expected) == 1 and set(arrays) == {SINGLE_INPUT} and expected[0] != SINGLE_INPUT:
        arrays = {expected[0]: arrays[SINGLE_INPUT]}
    missing = [name for name in expected if name not in arrays]
    extra = [name for name in arrays if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no array for input {', '.join(repr(n) for n in missing)}")
        if extra:
            parts.append(f"unexpected array {', '.join(repr(n) for n in extra)}")
        single = f" (or '{SINGLE_INPUT}')" if len(expected) == 1 else ""
        raise DataError(f"{where}: {'; '.join(parts)}; the model's inputs are {', '.join(repr(n) for n in expected)}{single}"
                        f", plus '{LABELS}' for labels")
    bound = {}
    for spec in signature.inputs:
        x = arrays[spec.name]
        sample = tuple(x.shape[1:])
        if len(sample) != len(spec.shape) or any(want not in (None, -1, got) for want, got in zip(spec.shape, sample)):
            expected_shape = "(N, " + ", ".join("?" if d in (None, -1) else str(d) for d in spec.shape) + ")"
            raise DataError(f"{where}: array '{_shown(spec.name, data)}' has shape {x.shape}, the model's input "
                            f"'{spec.name}' needs {expected_shape}")
        kind = np.dtype(spec.dtype).kind
        if kind in "iu" and x.dtype.kind == "f":
            raise DataError(f"{where}: array '{_shown(spec.name, data)}' is {x.dtype}, the model's input '{spec.name}' "
                            f"is {spec.dtype} (integers)")
        bound[spec.name] = x.astype(spec.dtype, copy=False)
    return Dataset(bound, data.y, data.source)


def _shown(name: str, data: Dataset) -> str:
    return name if name in data.inputs else SINGLE_INPUT


def representative_sample(data: Dataset, *, limit: int = REPRESENTATIVE_MAX) -> tuple[Dataset, str | None]:
    """Up to `limit` inputs for calibration, and a note when fewer than the guide's 100 are given."""
    sample = data.take(limit).unlabelled()
    note = None
    if len(sample) < REPRESENTATIVE_MIN:
        note = (
            f"the representative sample has {len(sample)} inputs; the guide advises {REPRESENTATIVE_MIN}-{REPRESENTATIVE_MAX} "
            "for calibration, so full-integer accuracy may suffer"
        )
    elif len(data) > limit:
        note = f"calibrating on the first {limit} of {len(data)} representative inputs (the guide advises 100-500)"
    return sample, note


@dataclass(frozen=True)
class InMemory:
    """The library's objects in place of files: a Keras model (tf-keras or Keras 3, subclassed too) and
    Datasets made from arrays."""

    model: Any = None
    representative: Dataset | None = None
    train: Dataset | None = None
    eval: Dataset | None = None

    def dataset(self, role: str) -> Dataset | None:
        return getattr(self, role)


def as_dataset(value, role: str, *, labelled: bool | None) -> Dataset | None:
    """An array, a dict of arrays (with 'y' for labels) or an (inputs, y) pair as a checked Dataset."""
    if value is None:
        return None
    y = None
    if isinstance(value, tuple):
        if len(value) != 2:
            raise DataError(f"{role}: a tuple must be (inputs, y), not {len(value)} items")
        value, y = value
    if isinstance(value, dict):
        arrays = {str(k): np.asarray(v) for k, v in value.items()}
        y = arrays.pop(LABELS, y)
    else:
        arrays = {SINGLE_INPUT: np.asarray(value)}
    if y is not None:
        y = np.asarray(y)
    if labelled and y is None:
        raise DataError(f"{role}: labelled data needs labels: pass (inputs, y) or a dict with 'y'")
    return check_dataset(Dataset(arrays, y if labelled is not False else None, f"{IN_MEMORY} {role}"), role)


@dataclass
class RunData:
    """The data a run works with, loaded and checked before any TensorFlow work."""

    representative: Dataset | None = None
    train: Dataset | None = None
    eval: Dataset | None = None
    notes: list[str] = field(default_factory=list)


def load_data(answers, rules, rungs: tuple[Rung, ...], objects: InMemory | None = None) -> RunData:
    """Read the data files the answers name (objects given in their place win); the first rung's data
    needs must be met, and labelled answers need labelled evaluation data."""
    from advisor.executor import builtin

    spec = answers.inputs
    if not spec.model and not (objects and objects.model is not None):
        raise AnswersError("answers: inputs.model: advisor run needs a model (a .keras/.h5 file, a SavedModel folder, "
                           "a float32 .tflite, or builtin:digits)")
    if spec.model and spec.model.startswith(BUILTIN_PREFIX) and spec.model != BUILTIN:
        raise AnswersError(f"answers: inputs.model: unknown built-in '{spec.model}'{did_you_mean(spec.model, [BUILTIN])}")

    def load(role: str, labelled: bool | None):
        if objects is not None and objects.dataset(role) is not None:
            return objects.dataset(role)
        path = getattr(spec, role)
        if path is None:
            return None
        if path.startswith(BUILTIN_PREFIX):
            if path != BUILTIN:
                raise AnswersError(f"answers: inputs.{role}: unknown built-in '{path}'{did_you_mean(path, [BUILTIN])}")
            return builtin.split(role)
        return load_dataset(path, role=f"inputs.{role}", labelled=labelled)

    data = RunData(representative=load("representative", False), train=load("train", True), eval=load("eval", None))
    if data.representative is None and data.train is not None:
        data.representative = data.train.unlabelled(f"{data.train.source} (inputs without labels)")
        data.notes.append("no inputs.representative: calibrating on the training inputs")
    if answers.data == "labelled" and data.eval is not None and data.eval.y is None:
        raise DataError(f"inputs.eval: {data.eval.source}: has no labels (y), and the answers say data: labelled; add y "
                        "to the evaluation file, or say data: unlabelled")
    missing = missing_data(rungs[0], data, rules) if rungs else None
    if missing:  # the first rung must be able to run; later ones are skipped with a note
        role, why = missing
        raise AnswersError(f"answers: inputs.{role}: {why}")
    if (data.eval is None or data.eval.y is None) and answers.goals.max_accuracy_drop is not None:
        what = "no inputs.eval" if data.eval is None else "inputs.eval has no labels (y)"
        data.notes.append(f"{what}: accuracy is not measured, so an accuracy goal stays unverified")
    return data


def missing_data(rung: Rung, data: RunData, rules) -> tuple[str, str] | None:
    """(the inputs field, why) when the data cannot support a rung, else None."""
    for name in (*rung.pre_steps, rung.scheme):
        entry = rules.schemes.get(name) or rules.pre_step_catalog[name]
        if entry.data == "labelled" and data.train is None:
            return "train", f"{name} fine-tunes the model and needs labelled training data (the inputs and y)"
        if entry.data == "unlabelled" and data.representative is None:
            return "representative", f"{name} calibrates on a representative sample of 100-500 inputs"
    return None
