"""Data files (.npz with `x` [and `y`], or .npy) loaded and checked against the model's input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.errors import DataError

REPRESENTATIVE_MIN, REPRESENTATIVE_MAX = 100, 500


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.x)


def load_dataset(path: str, *, role: str, labelled: bool) -> Dataset:
    """Read `path` for `role` (e.g. 'inputs.train'); labelled roles need `y`."""
    file = Path(path)
    where = f"{role}: {path}"
    if not file.is_file():
        raise DataError(f"{where}: no such file")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                if "x" not in archive.files:
                    raise DataError(f"{where}: the .npz has no array 'x' (it has: {', '.join(archive.files) or 'nothing'})")
                x = archive["x"]
                y = archive["y"] if "y" in archive.files else None
        elif suffix == ".npy":
            x, y = np.load(file, allow_pickle=False), None
        else:
            raise DataError(f"{where}: data must be an .npz (arrays x, y) or an .npy file")
    except DataError:
        raise
    except (ValueError, OSError) as err:
        raise DataError(f"{where}: cannot be read as {suffix} ({' '.join(str(err).split())[:120]})") from None
    if labelled and y is None:
        raise DataError(f"{where}: labelled data needs an .npz with arrays 'x' and 'y'")
    return check_dataset(Dataset(x, y if labelled else None, str(path)), role)


def check_dataset(data: Dataset, role: str) -> Dataset:
    where = f"{role}: {data.source}"
    x, y = data.x, data.y
    if x.dtype.kind not in "fiub":
        raise DataError(f"{where}: x must be numeric, not {x.dtype}")
    if x.ndim == 0 or len(x) == 0:
        raise DataError(f"{where}: x is empty")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where}: x holds NaN or infinite values ({int((~np.isfinite(x)).sum())} of {x.size})")
    if y is not None:
        if y.ndim == 0 or len(y) != len(x):
            raise DataError(f"{where}: x has {len(x)} samples but y has {0 if y.ndim == 0 else len(y)}")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise DataError(f"{where}: y holds NaN or infinite values")
        y = class_indices(y, where)
    return Dataset(x, y, data.source)


def class_indices(y: np.ndarray, where: str) -> np.ndarray:
    """Integer class labels, from indices or one-hot rows; anything else is bad input."""
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1).astype(np.int64)
    flat = y.reshape(len(y))
    if flat.dtype.kind in "iub" or np.array_equal(flat, np.round(flat)):
        if flat.min() < 0:
            raise DataError(f"{where}: y holds negative class labels")
        return flat.astype(np.int64)
    raise DataError(f"{where}: y must hold integer class labels (or one-hot rows) for top-1 accuracy")


def check_against_input(data: Dataset, role: str, shape: tuple, dtype: str) -> Dataset:
    """Shape (without the batch) and dtype must fit the model's input; x is cast to its dtype."""
    where = f"{role}: {data.source}"
    sample = tuple(data.x.shape[1:])
    if len(sample) != len(shape) or any(want not in (None, -1, got) for want, got in zip(shape, sample)):
        expected = "(N, " + ", ".join("?" if d in (None, -1) else str(d) for d in shape) + ")"
        raise DataError(f"{where}: x has shape {data.x.shape}, the model's input needs {expected}")
    if np.dtype(dtype).kind == "f" and data.x.dtype.kind not in "fiub":
        raise DataError(f"{where}: x is {data.x.dtype}, the model's input is {dtype}")
    if np.dtype(dtype).kind in "iu" and data.x.dtype.kind == "f":
        raise DataError(f"{where}: x is {data.x.dtype}, the model's input is {dtype} (integers)")
    return Dataset(data.x.astype(dtype, copy=False), data.y, data.source)


def check_labels_fit(data: Dataset, role: str, classes: int | None) -> None:
    if data.y is None or classes is None:
        return
    top = int(data.y.max())
    if top >= classes:
        raise DataError(f"{role}: {data.source}: y has class {top} but the model has {classes} outputs")


def representative_sample(data: Dataset, *, limit: int = REPRESENTATIVE_MAX) -> tuple[np.ndarray, str | None]:
    """Up to `limit` inputs for calibration, and a note when fewer than the guide's 100 are given."""
    x = data.x[:limit]
    note = None
    if len(x) < REPRESENTATIVE_MIN:
        note = (
            f"the representative sample has {len(x)} inputs; the guide advises {REPRESENTATIVE_MIN}-{REPRESENTATIVE_MAX} "
            "for calibration, so full-integer accuracy may suffer"
        )
    elif len(data.x) > limit:
        note = f"calibrating on the first {limit} of {len(data.x)} representative inputs (the guide advises 100-500)"
    return x, note
