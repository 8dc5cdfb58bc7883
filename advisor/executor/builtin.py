"""`builtin:digits`: a small CNN trained here on scikit-learn's handwritten digits (no download).

The data ship with scikit-learn. The model is trained once (a few seconds) and cached in the user
cache folder, so later runs load it instantly.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from advisor.models.dataset import Dataset

NAME = "builtin:digits"
MODEL_FILE = "builtin-digits-v1.keras"
EVAL_SIZE = 360
SEED = 0


from advisor.resources import cache_dir  # noqa: E402  (where the trained model is kept)


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]  # (1797, 8, 8, 1) in [0, 1]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    return x[order], y[order]


def split(role: str) -> Dataset:
    """The built-in splits: 'train' (1437 labelled), 'eval' (360 labelled), 'representative' (500 of train)."""
    x, y = _arrays()
    train_x, train_y, eval_x, eval_y = x[EVAL_SIZE:], y[EVAL_SIZE:], x[:EVAL_SIZE], y[:EVAL_SIZE]
    if role == "eval":
        return Dataset({"x": eval_x}, eval_y, f"{NAME} (eval split, {len(eval_x)} images)")
    if role == "representative":
        return Dataset({"x": train_x[:500]}, None, f"{NAME} (calibration split, 500 images)")
    return Dataset({"x": train_x}, train_y, f"{NAME} (train split, {len(train_x)} images)")


def build_model(seed: int = SEED):
    """The digits CNN in tf-keras (Keras 2), so every scheme, QAT included, applies to it."""
    from advisor.executor.tf_env import tensorflow

    tensorflow()
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.layers.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits_cnn",
    )


def model_path(progress=None) -> Path:
    """The cached built-in model, trained first when missing."""
    path = cache_dir() / MODEL_FILE
    if path.is_file():
        return path
    return train_and_save(path, SEED, progress)


def train_and_save(path: Path, seed: int = SEED, progress=None) -> Path:
    """Train the digits CNN with `seed` and save it (whole, via a temporary name) to `path`."""
    from advisor.executor.training import fit
    from advisor.executor.tf_env import quiet, tensorflow

    tensorflow()
    import tf_keras as keras

    model = build_model(seed)
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", ["accuracy"])
    fit(model, split("train"), epochs=12, batch_size=32, label="training builtin:digits", progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial.keras")
    with quiet():
        model.save(partial)
    os.replace(partial, path)
    return path
