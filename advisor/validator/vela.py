"""Compile a .tflite for an Arm Ethos-U NPU with Arm's Vela compiler (the optional `ethos-u-vela`
package) and read what it says: which ops run on the NPU and which fall back to the CPU (with
Vela's reason), SRAM, flash and DRAM use, and its estimate of the inference time.

Vela runs in its own process (`python -m ethosu.vela`) in a temporary folder; its output is kept
for the error message and shown only with --verbose.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from advisor import _quiet

TIMEOUT_S = 600
CPU_OP = re.compile(r"^Warning \(supported operators\) operator: (\S+), ofm: '(.*)'$")
COUNT = re.compile(r"^(CPU|NPU) operators = (\d+)")


@dataclass
class VelaResult:
    compiled: bytes | None = None
    error: str | None = None
    npu_ops: int | None = None
    cpu_ops: int | None = None
    cpu_placements: list[tuple[str, str]] = field(default_factory=list)  # (op, Vela's reason)
    sram_bytes: int | None = None
    flash_bytes: int | None = None
    dram_bytes: int | None = None
    estimated_ms: float | None = None
    cycles: int | None = None
    clock_hz: float | None = None
    system: str = ""


def available() -> bool:
    return importlib.util.find_spec("ethosu") is not None


def compile_model(content: bytes, checker) -> VelaResult:
    """Run Vela with the target's accelerator, system configuration and memory mode."""
    result = VelaResult(system=f"{checker.accelerator}, {checker.system_config}, {checker.memory_mode}")
    with tempfile.TemporaryDirectory(prefix="advisor-vela-") as tmp:
        folder = Path(tmp)
        (folder / "model.tflite").write_bytes(content)
        command = [sys.executable, "-m", "ethosu.vela", "--accelerator-config", checker.accelerator,
                   "--config", "Arm/vela.ini", "--system-config", checker.system_config,
                   "--memory-mode", checker.memory_mode, "--output-dir", str(folder / "out"), str(folder / "model.tflite")]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=folder)
        except subprocess.TimeoutExpired:
            result.error = f"Vela did not finish in {TIMEOUT_S} s"
            return result
        text = run.stdout + run.stderr
        if _quiet.VERBOSE:
            print(text, file=sys.stderr)
        compiled = folder / "out" / "model_vela.tflite"
        summary = next((folder / "out").glob("model_summary_*.csv"), None) if (folder / "out").is_dir() else None
        if run.returncode != 0 or not compiled.is_file() or summary is None:
            result.error = _vela_error(text, run.returncode)
            return result
        result.compiled = compiled.read_bytes()
        _read_output(text, result)
        _read_summary(summary, result)
    return result


def _vela_error(text: str, code: int) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith(("error", "traceback")) or "Error" in line]
    last = errors[-1] if errors else (lines[-1] if lines else f"exit code {code}")
    return f"Vela could not compile it (exit {code}): {last[:240]}"


def _read_output(text: str, result: VelaResult) -> None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = CPU_OP.match(line.strip())
        if match:
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            reason = reason[len("Reason: "):] if reason.startswith("Reason: ") else reason
            result.cpu_placements.append((match.group(1), reason))
        count = COUNT.match(line.strip())
        if count:
            setattr(result, "cpu_ops" if count.group(1) == "CPU" else "npu_ops", int(count.group(2)))


def _read_summary(path: Path, result: VelaResult) -> None:
    with path.open() as handle:
        row = next(csv.DictReader(handle))

    def kib(key: str) -> int | None:
        value = row.get(key)
        return int(round(float(value) * 1024)) if value not in (None, "") else None

    result.sram_bytes = kib("sram_memory_used")
    result.flash_bytes = (kib("off_chip_flash_memory_used") or 0) + (kib("on_chip_flash_memory_used") or 0)
    result.dram_bytes = kib("dram_memory_used")
    if row.get("inference_time"):
        result.estimated_ms = round(float(row["inference_time"]) * 1000, 6)
    if row.get("cycles_total"):
        result.cycles = int(float(row["cycles_total"]))
    if row.get("core_clock"):
        result.clock_hz = float(row["core_clock"])
