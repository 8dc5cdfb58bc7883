"""Every benchmark script runs in --quick mode and saves its figures, so the scripts cannot rot."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPTS = ["table1.py", "digits_accuracy.py", "advisor_cost.py", "ladder_economy.py", "selective_bench.py", "compare_bench.py",
           "fidelity.py", "vela_bench.py", "size_prediction.py", "backends.py", "recommend_speed.py", "recovery.py",
           "parallel.py", "worker_memory.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_quick_mode_saves_results_with_the_machine(script, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--results", str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=ROOT / "benchmarks",
                            env={**__import__("os").environ, "ADVISOR_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr[-3000:]
    saved = list(tmp_path.glob("*-quick.json"))
    assert len(saved) == 1
    payload = json.loads(saved[0].read_text())
    assert payload["machine"]["cores"] and payload["machine"]["packages"]["tensorflow"] and payload["rows"]
    assert (tmp_path / saved[0].name.replace(".json", ".md")).read_text().count("|") > 10
