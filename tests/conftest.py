import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# One thread per process, here and in every process a test starts: pytest-xdist already runs one test per
# core, so more threads only contend (the suite took 7.4 min with TensorFlow's defaults, 6.2 with these),
# and a fine-tuning test gives the same figures on any machine.
for _name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_name, "1")


def sigint_as_at_a_terminal() -> None:
    """preexec_fn for a process a test will Ctrl-C: SIGINT back to its default, as a terminal gives it. A job
    started in the background of a non-interactive shell (`cmd &`, nohup) ignores SIGINT, and its children
    inherit that, so the advisor would rightly never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m advisor ARGS` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "advisor", *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """The built-in model is trained into this run's cache, never the user's: one cache for all of the run's
    pytest-xdist workers (the model is written whole under its name, so two workers training it at once
    leave one good file)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "advisor-cache"
    shared.mkdir(parents=True, exist_ok=True)
    os.environ["ADVISOR_CACHE_DIR"] = str(shared)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write_yaml(tmp_path):
    def write(text: str, name: str = "answers.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


TF_PATHS = ("integration", "packaging", "test_benchmarks_quick.py")
SLOW_PATHS = ("packaging", "test_benchmarks_quick.py")


def pytest_collection_modifyitems(config, items):
    """The tiers: `tf` for tests that run TensorFlow (integration, packaging, the benchmarks' smoke runs),
    `slow` for the ones a day's work can skip (the whole rule-set sweep, packaging, the benchmarks).
    `make check` runs neither: `pytest -m "not tf and not slow"`."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts[0] in TF_PATHS:
            item.add_marker(pytest.mark.tf)
        if parts[0] in SLOW_PATHS:
            item.add_marker(pytest.mark.slow)
    # The longest first: pytest-xdist (-n auto --maxschedchunk 1) hands each worker the next test as it
    # frees up, so the quick ones fill the gaps at the end instead of one worker finishing alone.
    items.sort(key=lambda item: 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("tf") else 2)
