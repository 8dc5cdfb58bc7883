"""Data files loaded and checked against the model's signature.

An .npz holds one array per model input, named by the input's name (`x` works for a single-input
model) and, for labelled data, `y`; an .npy file is the one input of a single-input model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.errors import DataError

REPRESENTATIVE_MIN, REPRESENTATIVE_MAX = 100, 500
LABELS = "y"
SINGLE_INPUT = "x"


@dataclass(frozen=True)
class Dataset:
    inputs: dict[str, np.ndarray]  # one array per model input, every one with the same first dimension
    y: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    @property
    def x(self) -> np.ndarray:
        """The inputs of a single-input dataset."""
        if len(self.inputs) != 1:
            raise ValueError(f"{self.source}: {len(self.inputs)} inputs; use .inputs")
        return next(iter(self.inputs.values()))

    def take(self, count: int, start: int = 0) -> Dataset:
        """Rows start..start+count (labels too)."""
        end = start + count
        return Dataset({k: v[start:end] for k, v in self.inputs.items()},
                       None if self.y is None else self.y[start:end], self.source)

    def unlabelled(self, source: str | None = None) -> Dataset:
        return Dataset(self.inputs, None, source or self.source)

    def row(self, index: int) -> dict[str, np.ndarray]:
        """One sample as a batch of one, per input."""
        return {k: v[index : index + 1] for k, v in self.inputs.items()}


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
