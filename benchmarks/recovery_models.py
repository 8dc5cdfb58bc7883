"""The models the recovery benchmark (benchmarks/recovery.py) measures, trained here on scikit-learn's
digits and cached: a MobileNetV2 (alpha 0.35, 32x32x3; trained 100 and 20 epochs) and a mini-Xception
(separable convolutions and batch norms), the two kinds of model where plain full-integer quantization
hurts. Each is written with its data (train, representative, eval) as .npz files beside it.

    python benchmarks/recovery_models.py [--out DIR]    build them (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# oneDNN aborts the process ("double free or corruption") training the mini-Xception here (TF 2.21)
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SIZE = 32
MOMENTUM = 0.9


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """Digits upscaled to 32x32x3 in [-1, 1] (MobileNet's range), shuffled as the built-in model's are."""
    from advisor.executor.builtin import _arrays

    x, y = _arrays()
    import tensorflow as tf

    big = tf.image.resize(x, (SIZE, SIZE), method="bilinear").numpy()
    return np.repeat(big * 2.0 - 1.0, 3, axis=-1).astype(np.float32), y


def splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    x, y = digits_images()
    return {"eval": (x[:360], y[:360]), "train": (x[360:], y[360:]), "representative": (x[360:860], None)}


def mobilenet_v2():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), alpha=0.35, weights=None, classes=10)

    def clone(layer):  # batch norms whose moving statistics settle within 30 epochs of 1,437 images
        config = layer.get_config()
        if isinstance(layer, keras.layers.BatchNormalization):
            config["momentum"] = MOMENTUM
        return type(layer).from_config(config)

    return keras.models.clone_model(base, clone_function=clone)


def mini_xception():
    """The mini-Xception of the fer emotion model (Arriaga et al.), at 32x32x3: separable convolutions,
    batch norms and residual connections."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, use_bias=False)(inputs)
    x = layers.BatchNormalization(momentum=MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(8, 3, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    for filters in (16, 32, 64):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization(momentum=MOMENTUM)(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=MOMENTUM)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, residual])
    x = layers.Conv2D(10, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


def tiny_cnn():
    """A conv, batch norm and ReLU6 stack small enough for --quick runs."""
    import tf_keras as keras
    from tf_keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization(momentum=MOMENTUM)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, use_bias=False)(x)
    x = layers.BatchNormalization(momentum=MOMENTUM)(x)
    x = layers.ReLU(6.0)(x)
    x = layers.Conv2D(16, 1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="digit")(x))


# name -> (builder, epochs, learning rate, the ladder's max_prediction_change). Trained 100 epochs the
# MobileNetV2 changes 0.56% of its classes in plain full integer, so its ladder is asked for 0.5%; trained 20
# epochs (the model: 0.93 float, 23.8 dB) it changes 1.4%, and is asked for the 1%.
BUILDERS = {"digits-mobilenetv2": (mobilenet_v2, 100, 1e-3, 0.005),
            "digits-mobilenetv2-20-epochs": (mobilenet_v2, 20, 1e-3, 0.01),
            "digits-mini-xception": (mini_xception, 30, 3e-3, 0.005)}
QUICK = {"digits-tiny-cnn": (tiny_cnn, 3, 5e-3, 0.005)}


def build(name: str, out: Path) -> Path:
    """The trained model `name` in `out` (trained once), with its data files beside it."""
    path = out / f"{name}.keras"
    data = splits()
    for role, (x, y) in data.items():
        target = out / f"digits32-{role}.npz"
        if not target.exists():
            np.savez(target, **({"x": x, "y": y} if y is not None else {"x": x}))
    if path.exists():
        return path
    import tf_keras as keras

    make, epochs, rate, _ = {**BUILDERS, **QUICK}[name]
    model = make()
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", ["accuracy"])
    x, y = data["train"]
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, validation_data=data["eval"])
    accuracy = model.evaluate(*data["eval"], verbose=0)[1]
    print(f"{name}: eval accuracy {accuracy:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def default_folder() -> Path:
    from advisor.resources import cache_dir

    return cache_dir() / "recovery-benchmark"


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.out or default_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for name in BUILDERS:
        print(build(name, folder))
