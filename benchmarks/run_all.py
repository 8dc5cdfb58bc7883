"""`make bench`: every benchmark, each in its own process, then the tables into benchmarks/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ["advisor_cost.py"],
    ["recommend_speed.py"],
    ["digits_accuracy.py"],
    ["ladder_economy.py"],
    ["selective_bench.py"],
    ["compare_bench.py"],
    ["table1.py", "--models", "MobileNet v1 1.0 224", "MobileNet v2 1.0 224"],
    ["table1.py", "--models", "Inception v3"],
    ["table1.py", "--models", "ResNet v2 101"],
    ["worker_memory.py"],
    ["parallel.py"],
    ["fleet_pre_steps.py"],
    ["quantizer_algorithms.py"],
]


def main() -> None:
    quick = "--quick" in sys.argv
    for run in RUNS[:7] if quick else RUNS:
        command = [sys.executable, str(HERE / run[0]), *run[1:], *(["--quick"] if quick else [])]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=True, cwd=HERE)
    if not quick:
        subprocess.run([sys.executable, str(HERE / "readme.py")], check=True)


if __name__ == "__main__":
    main()
