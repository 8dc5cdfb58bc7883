"""Ethos-U NPUs through Arm's Vela compiler: each model in full integer (int8 I/O, batch 1), compiled
for the U55-128 and the U65-256 with Vela's default system configuration per accelerator: the share
of ops on the NPU, SRAM, flash (or DRAM), Vela's estimated time, beside this host's CPU latency.

Models: the built-in digits CNN and the Table 1 CNNs (random weights, 16 random calibration
inputs; --models). --quick: the digits CNN only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from _common import markdown_table, parser, save, sweep
from table1 import MODELS, build

TARGETS = ["ethos-u55-128", "ethos-u65-256"]


def measure(name: str, answers_inputs: dict, folder: Path) -> list[dict]:
    from advisor.pipeline.recommend import parse_answers
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions
    from advisor.validator.hardware import check_model

    rules = load_rules()
    answers = parse_answers({"data": "unlabelled", "hardware": TARGETS[0], "inputs": answers_inputs}, rules=rules)
    report = sweep(answers, rules, [("full_integer", ())], folder / "o", RunOptions(latency_runs=30, threads=1))
    attempt = report.attempts[0]
    if attempt.metrics is None:
        return [{"model": name, "target": t, "error": attempt.error} for t in TARGETS]
    content = (folder / "o" / attempt.artifact).read_bytes()
    rows = []
    for target in TARGETS:
        h = check_model(content, target, rules)
        total = (h.npu_ops or 0) + (h.cpu_ops or 0)
        rows.append({"model": name, "target": target, "size_bytes": attempt.metrics.size_bytes,
                     "npu_ops": h.npu_ops, "cpu_ops": h.cpu_ops, "npu_share": (h.npu_ops / total) if total else None,
                     "sram_bytes": h.sram_bytes, "flash_bytes": h.flash_bytes, "dram_bytes": h.dram_bytes,
                     "estimated_ms": h.estimated_ms, "cycles": h.cycles, "clock_hz": h.clock_hz,
                     "host_cpu_ms_1_thread": attempt.metrics.latency_ms, "compatible": h.compatible,
                     "error": None if h.compatible else "; ".join(p.reason for p in h.problems[:2])})
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", default=[], choices=list(MODELS))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += measure("digits CNN", {"model": "builtin:digits", "representative": "builtin:digits"}, Path(tmp) / "d")
    for name in ([] if args.quick else args.models):
        builder, size, _, _ = MODELS[name]
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            model = build(builder, size, folder, False)
            np.savez(folder / "calib.npz", x=np.random.default_rng(0).random((16, size, size, 3), dtype=np.float32) * 2 - 1)
            rows += measure(name, {"model": str(model), "representative": str(folder / "calib.npz")}, folder)
    table = [[r["model"], r["target"], f"{r['size_bytes'] / 1e6:.3f} MB" if r.get("size_bytes") else "",
              f"{r['npu_ops']}/{r['npu_ops'] + r['cpu_ops']}" if r.get("npu_ops") is not None else "",
              f"{r['sram_bytes'] / 1024:.1f}" if r.get("sram_bytes") is not None else "",
              f"{r['flash_bytes'] / 1024:.1f}" if r.get("flash_bytes") is not None else "",
              f"{r['dram_bytes'] / 1024:.1f}" if r.get("dram_bytes") else "",
              f"{r['estimated_ms']:.3f}" if r.get("estimated_ms") is not None else "",
              f"{r['clock_hz'] / 1e6:g} MHz" if r.get("clock_hz") else "",
              f"{r['host_cpu_ms_1_thread']:.3f}" if r.get("host_cpu_ms_1_thread") is not None else "",
              r.get("error") or ""] for r in rows]
    text = markdown_table(["model", "target", "int8 size", "ops on the NPU", "SRAM KiB", "flash KiB", "DRAM KiB",
                           "Vela estimate ms", "clock", "host CPU ms (1 thread)", "note"], table)
    from importlib.metadata import version

    text += (f"\n\nVela {version('ethos-u-vela')} (as installed) with its shipped Arm/vela.ini: U55 Ethos_U55_High_End_Embedded, Shared_Sram (weights in "
             "flash); U65 Ethos_U65_Client_Server, Dedicated_Sram_384KB (weights in DRAM). The host CPU column is "
             "this machine's x86 core through LiteRT, not a microcontroller's.")
    name = "vela" if not args.models or args.quick else "vela-" + "-".join(m.split()[0].lower() + m.split()[1].lower() for m in args.models)
    save(name, args, rows, text)


if __name__ == "__main__":
    main()
