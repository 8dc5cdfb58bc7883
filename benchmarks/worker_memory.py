"""One worker's memory over many conversions, with and without recycling: the converter keeps memory
across calls (tensorflow#122598), so a worker is replaced after a number of attempts or past a memory bound
(pipeline/session.py, Recycling).

Each attempt converts the model to full integer and measures it; the worker's resident memory is read
after each. Goal: with recycling, the mean of the last 10 attempts within 10% of the first 10's.

    python benchmarks/worker_memory.py [--attempts 100] [--quick]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _common import markdown_table, parser, save


def measure(attempts: int, recycling, out: Path) -> dict:
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions
    from advisor.pipeline.plan import plan
    from advisor.pipeline.recommend import parse_answers
    from advisor.pipeline.run import session_for

    answers = parse_answers({"data": "unlabelled", "hardware": "cpu", "inputs": {
        "model": "builtin:digits", "representative": "builtin:digits", "eval": "builtin:digits"}})
    the_plan = plan(answers, load_rules(), RunOptions(latency_runs=0), rungs=[("full_integer", ())])
    rss, started = [], time.perf_counter()
    with session_for(the_plan, out, True, None) as session:
        session.recycling = recycling
        rung = the_plan.rungs[0]
        for _ in range(attempts):
            attempt = session.attempt(rung)
            if attempt.error:
                raise RuntimeError(attempt.error)
            rss.append(session.worker.rss_bytes() / 2**20)
        recycled = session.recycled
    first, last = statistics.mean(rss[:10]), statistics.mean(rss[-10:])
    return {"recycling": f"every {recycling.max_attempts} attempts or +{recycling.max_growth_mb:g} MB"
            if recycling.max_attempts or recycling.max_growth_mb else "none",
            "attempts": attempts, "first10_mb": round(first, 1), "last10_mb": round(last, 1),
            "growth": round(last / first - 1, 4), "max_mb": round(max(rss), 1), "workers_replaced": recycled,
            "seconds": round(time.perf_counter() - started, 1), "rss_mb": [round(v, 1) for v in rss]}


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--attempts", type=int, default=100)
    args = p.parse_args()
    from advisor.pipeline.session import Recycling

    attempts = 4 if args.quick else args.attempts
    recycled = Recycling(max_attempts=2) if args.quick else Recycling()  # quick: a replacement seen in 4 attempts
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for recycling in ((recycled,) if args.quick else (Recycling(max_attempts=None, max_growth_mb=None), recycled)):
            rows.append(measure(attempts, recycling, Path(tmp) / "out"))
    table = markdown_table(["recycling", "attempts", "first 10 (MB)", "last 10 (MB)", "growth", "peak (MB)",
                            "workers replaced", "time"],
                           [[r["recycling"], r["attempts"], r["first10_mb"], r["last10_mb"], f"{r['growth']:+.1%}",
                             r["max_mb"], r["workers_replaced"], f"{r['seconds']:g} s"] for r in rows])
    recycled = rows[-1]
    goals = [f"worker memory over {recycled['attempts']} attempts with recycling: last 10 {recycled['growth']:+.1%} against "
             f"the first 10 (goal within 10%): {'met' if abs(recycled['growth']) <= 0.10 else 'NOT met'}"]
    save("worker_memory", args, rows, table, {"goals": goals})


if __name__ == "__main__":
    main()
