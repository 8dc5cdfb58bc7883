"""Tiny real models for the integration tests, built once per session."""

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def tf():
    from advisor.executor.tf_env import tensorflow

    return tensorflow()


@pytest.fixture(scope="session")
def digits():
    from advisor.executor import builtin

    return {role: builtin.split(role) for role in ("train", "eval", "representative")}


def _dense_model(tf, digits, epochs=3):
    """A digits classifier whose weights dominate the file (about 100k parameters in Dense layers)."""
    import tf_keras as keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(digits["train"].x, digits["train"].y, epochs=epochs, verbose=0)
    return model


@pytest.fixture(scope="session")
def dense_keras(tf, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "dense.keras"
    _dense_model(tf, digits).save(path)
    return path


@pytest.fixture(scope="session")
def loaded_dense(dense_keras):
    from advisor.executor.loading import load_model

    return load_model(str(dense_keras))


def producer(loaded, workdir, *, integer_only=False, representative=None, train=None, **options):
    """A Producer for `loaded` with the step context the runner would build."""
    from advisor.engine.rules import load_rules
    from advisor.pipeline.data import Dataset, bind
    from advisor.executor.produce import Producer
    from advisor.executor.step import StepContext
    from advisor.models.options import RunOptions
    from advisor.report.progress import NullProgress

    if representative is not None:
        representative = bind(Dataset({"x": representative}, None, "test"), "representative", loaded.signature)
    if train is not None:
        train = bind(train, "train", loaded.signature)
    context = StepContext(loaded=loaded, integer_io=integer_only, representative=representative, train=train,
                          options=RunOptions(**{"epochs": 2, "learning_rate": 1e-3, **options}), progress=NullProgress(),
                          workdir=str(workdir))
    return Named(Producer(load_rules(), context))


class Named:
    """A Producer driven by names, as the tests ask for schemes: each call makes the Rung a plan would."""

    def __init__(self, producer):
        self.producer = producer

    def produce(self, scheme, pre_steps=(), backend=None, judge=None):
        from advisor.pipeline.plan import rung

        family = self.producer.context.loaded.format.family
        made = rung(self.producer.rules, scheme, tuple(pre_steps), model_format=family, asked=backend)
        return self.producer.produce(made, judge=judge)

    def __getattr__(self, name):
        return getattr(self.producer, name)


@pytest.fixture
def make_job(loaded_dense, digits, tmp_path):
    def make(integer_only=False, loaded=None, **options):
        return producer(loaded or loaded_dense, tmp_path, integer_only=integer_only,
                        representative=digits["representative"].x[:200], train=digits["train"], **options)

    return make


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def top1_accuracy(content: bytes, dataset) -> float:
    """Top-1 accuracy of a single-input .tflite on a Dataset, through the advisor's own Runner."""
    from advisor.pipeline.data import Dataset
    from advisor.reading.tflite import signature
    from advisor.validator.metrics import Runner, top1

    sig = signature(content)
    data = Dataset({sig.inputs[0].name: next(iter(dataset.inputs.values()))}, dataset.y, dataset.source)
    outputs = Runner(content, sig).predict(data)
    return float((top1(outputs[sig.outputs[0].name]) == dataset.y).mean())


@pytest.fixture
def cli(capfd):
    """`advisor ARGS` run in this process, as `main()`: the exit code and what it printed, like run_cli, but
    the worker process stays warm from test to test (a fresh process costs seconds to import TensorFlow).
    A PYTHONPATH in `env` joins sys.path for the call. For what a command does; what only a fresh process
    shows (Ctrl-C, imports, terminal noise, a user module not imported before) stays with run_cli."""
    import subprocess

    from advisor.cli.main import main

    def run(*args: str, cwd=None, env: dict | None = None, timeout=None) -> subprocess.CompletedProcess:
        capfd.readouterr()
        saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
        os.environ.update(env or {})
        sys.path[:0] = [p for p in (env or {}).get("PYTHONPATH", "").split(os.pathsep) if p]
        try:
            if cwd is not None:
                os.chdir(cwd)
            code = main(list(args))
        finally:
            os.chdir(saved_cwd)
            sys.path[:] = saved_path
            os.environ.clear()
            os.environ.update(saved_env)
        out, err = capfd.readouterr()
        return subprocess.CompletedProcess(["advisor", *args], code, out, err)

    return run
