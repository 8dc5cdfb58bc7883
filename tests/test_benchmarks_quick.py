"""Every benchmark script runs in --quick mode and saves its figures, so the scripts cannot rot.

The scripts run one after another in one process per group (two groups, so two pytest workers share them):
TensorFlow is imported once per group and the advisor's worker process is kept warm between scripts, which
halves the time these smoke runs take against a process per script."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

GROUPS = [
    ["advisor_cost.py", "worker_memory.py", "digits_accuracy.py", "selective_bench.py", "compare_bench.py", "table1.py",
     "recommend_speed.py", "fleet_pre_steps.py"],
    ["backends.py", "recovery.py", "parallel.py", "fidelity.py", "size_prediction.py", "ladder_economy.py", "vela_bench.py",
     "quantizer_algorithms.py"],
]
DRIVER = """
import json, os, runpy, sys, traceback
here, results, scripts = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, here)
failures = {}
for script in scripts:
    sys.argv = [script, "--quick", "--results", os.path.join(results, script)]
    try:
        runpy.run_path(os.path.join(here, script), run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            failures[script] = f"exit {stop.code}"
    except BaseException:
        failures[script] = traceback.format_exc()[-3000:]
print("FAILURES " + json.dumps(failures))
"""


def test_every_script_is_in_a_group():
    helpers = {"_common.py", "run_all.py", "readme.py", "recovery_models.py", "face_crops.py"}  # not benchmarks
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")} - helpers
    assert sorted(s for group in GROUPS for s in group) == sorted(scripts)


@pytest.mark.parametrize("scripts", GROUPS, ids=["group1", "group2"])
def test_benchmark_quick_mode_saves_results_with_the_machine(scripts, tmp_path):
    here = ROOT / "benchmarks"
    result = subprocess.run([sys.executable, "-c", DRIVER, str(here), str(tmp_path), *scripts], capture_output=True,
                            text=True, timeout=900, cwd=here, env=os.environ)  # the run's cache (conftest)
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.rsplit("FAILURES ", 1)[1])
    assert failures == {}
    for script in scripts:
        saved = list((tmp_path / script).glob("*-quick.json"))
        assert len(saved) == 1, script
        payload = json.loads(saved[0].read_text())
        assert payload["machine"]["cores"] and payload["machine"]["packages"]["tensorflow"] and payload["rows"], script
        assert (tmp_path / script / saved[0].name.replace(".json", ".md")).read_text().count("|") > 10, script
