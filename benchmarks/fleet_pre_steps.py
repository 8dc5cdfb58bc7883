"""A fleet's pre-steps made once per model: one model on three integer-only targets, every pair forced to the
same pre-step (AdaRound on the digits MobileNetV2 of recovery_models.py), two workers, with the pre-stepped
model shared between the pairs (the fleet's way) and with each pair making its own.

    python benchmarks/fleet_pre_steps.py            the digits MobileNetV2, adaround, three targets
    python benchmarks/fleet_pre_steps.py --quick    the built-in digits CNN, equalize, two targets, shared only
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import yaml

from _common import markdown_table, parser, save

LOADED = "made once by another run of this model"


def _fleet(folder: Path, quick: bool) -> tuple[Path, str]:
    if quick:
        model = {"name": "digits", "model": "builtin:digits", "representative": "builtin:digits", "eval": "builtin:digits"}
        targets, step = ["edgetpu", "ethos-u55-128"], "equalize"
    else:
        from recovery_models import build, default_folder

        data = default_folder()
        model = {"name": "digits-mobilenetv2", "model": str(build("digits-mobilenetv2", data)),
                 "representative": str(data / "digits32-representative.npz"), "eval": str(data / "digits32-eval.npz")}
        targets, step = ["edgetpu", "ethos-u55-128", "microcontroller"], "adaround"
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump({"models": [model], "data": "unlabelled", "targets": targets,
                                    "goals": {"max_prediction_change": 0.05}, "budget": {"max_attempts": 1}}))
    return path, step


def _run(fleet_file: Path, out: Path, step: str, shared: bool) -> dict:
    import advisor
    from advisor.models.options import RunOptions
    from advisor.pipeline import session

    made = session.SharedWork
    if not shared:  # each pair on its own: the fleet's shares without their pre-step store
        session.SharedWork = lambda **_: made()
    try:
        started = time.perf_counter()
        result = advisor.fleet(str(fleet_file), out=str(out), workers=2,
                               options=RunOptions(scheme="full_integer", pre_steps=[step]))
        seconds = time.perf_counter() - started
    finally:
        session.SharedWork = made
    pairs = []
    for pair in result.pairs:
        attempt = json.loads((out / pair.out / "report.json").read_text())["attempts"][0]
        pairs.append({"target": pair.target, "scheme": pair.scheme, "seconds": attempt["seconds"],
                      "loaded": any(LOADED in note for note in attempt["notes"])})
    return {"shared": shared, "seconds": round(seconds, 1), "pairs": pairs}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fleet_file, step = _fleet(tmp, args.quick)
        # quick: the shared run alone (the path this script exists for); the comparison is the full run's
        rows = [_run(fleet_file, tmp / f"out-{shared}", step, shared) for shared in ((True,) if args.quick else (True, False))]
    shared, alone = rows[0], rows[-1]
    table = markdown_table(
        ["pre-stepped model", "fleet time", "pairs that loaded it", "each pair's attempt"],
        [["shared by the model's pairs" if r["shared"] else "made by every pair", f"{r['seconds']:g} s",
          f"{sum(p['loaded'] for p in r['pairs'])} of {len(r['pairs'])}",
          ", ".join(f"{p['target']} {p['seconds']:g} s" for p in r["pairs"])] for r in rows])
    goals = [f"{step} made once for {len(shared['pairs'])} pairs: {shared['seconds']:g} s against {alone['seconds']:g} s "
             f"({alone['seconds'] / shared['seconds']:.2f}x), {sum(p['loaded'] for p in shared['pairs'])} pair(s) loaded it"]
    save("fleet_pre_steps", args, rows, table + "\n\n" + "\n".join(f"- {g}" for g in goals), {"goals": goals})


if __name__ == "__main__":
    main()
