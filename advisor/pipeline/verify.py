"""`advisor verify DIR`: re-measure a run's model.tflite against the goals and the hardware its report
recorded, on the same data, with the tools installed now (what a CI job runs after upgrading TensorFlow
or LiteRT).

The run's float32 baseline (DIR/attempts/float32.tflite) stands in for the original model: it is read as
a .tflite, without TensorFlow, and measured again as the reference; model.tflite is then measured,
checked for the target and judged as the chosen attempt was. Nothing is written to DIR.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from advisor.errors import BadInput
from advisor.models.report import Attempt, Report
from advisor.models.rung import Rung
from advisor.models.verification import GoalCheck, Verification
from advisor.pipeline.workbench import BASELINE_FILE


def read_run(folder: str | Path) -> tuple[Path, Report]:
    """The run folder and its report; BadInput naming the file when either cannot be used."""
    folder = Path(folder)
    path = folder / "report.json"
    if not folder.is_dir():
        raise BadInput(f"{folder}: no such folder")
    try:
        report = Report.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise BadInput(f"{path}: missing; DIR must be the output folder of advisor run") from None
    except ValidationError as err:
        raise BadInput(f"{path}: not a report of this advisor ({err.error_count()} problem(s), e.g. "
                       f"{'.'.join(map(str, err.errors()[0]['loc']))}: {err.errors()[0]['msg']})") from None
    if report.chosen is None:
        raise BadInput(f"{path}: the run met no goal, so there is no model.tflite to verify")
    if report.answers is None or report.environment.get("in_memory"):
        raise BadInput(f"{path}: the run's data were not recorded as files (library objects, or an older advisor); "
                       "verify needs the answers' input files")
    for name in ("model.tflite", BASELINE_FILE):
        if not (folder / name).is_file():
            raise BadInput(f"{folder / name}: missing from the run folder")
    return folder, report


def verify(folder: str | Path, *, rules=None, progress=None, verbose: bool = False) -> Verification:
    from advisor.engine.rules import load_rules
    from advisor.models.options import RunOptions
    from advisor.pipeline.data import load_data
    from advisor.pipeline.plan import plan
    from advisor.pipeline.session import Session
    from advisor.report.progress import NullProgress

    folder, report = read_run(folder)
    rules = rules or load_rules()
    chosen = report.attempts[report.chosen]
    answers = report.answers.model_copy(update={"inputs": report.answers.inputs.model_copy(
        update={"model": str((folder / BASELINE_FILE).resolve())})})
    recorded = report.environment.get("options", {})
    options = RunOptions(latency_runs=recorded.get("latency_runs", 50), threads=recorded.get("threads"),
                         representative_limit=recorded.get("representative_limit", 500))
    the_plan = plan(answers, rules, options, rungs=[])
    rung = Rung(chosen.scheme, tuple(chosen.pre_steps), chosen.backend, chosen.variant, ())
    data = load_data(answers, rules, (), None)
    scratch = _Scratch(folder)
    session = Session.open(the_plan, data, scratch, progress or NullProgress(), verbose=verbose)
    try:
        if session.opened is None:
            raise BadInput(f"{folder}: the float32 baseline could not be measured again: {session.error}")
        now = session.worker.call("assess", ((folder / "model.tflite").read_bytes(), rung), session.progress).attempt
    finally:
        session.close()
        scratch.discard()
    return _compare(folder, report, chosen, now)


def _compare(folder: Path, report: Report, then: Attempt, now: Attempt) -> Verification:
    before = {v.goal: v for v in then.verdicts}
    checks = []
    for verdict in now.verdicts:
        old = before.get(verdict.goal)
        checks.append(GoalCheck(goal=verdict.goal, limit=verdict.limit, then=old.measured if old else None,
                                then_status=old.status if old else None, now=verdict.measured, now_status=verdict.status))
    compatible_then = then.hardware.compatible if then.hardware else None
    compatible_now = now.hardware.compatible if now.hardware else None
    problems = [f"{p.op}: {p.reason}" for p in now.hardware.problems] if now.hardware else []
    holds = all(c.now_status != "fail" for c in checks) and compatible_now is not False and now.error is None
    return Verification(folder=str(folder), scheme=then.scheme, hardware=report.answers.hardware, holds=holds, goals=checks,
                        compatible_then=compatible_then, compatible_now=compatible_now, problems=problems, error=now.error,
                        packages_then=report.environment.get("packages", {}), packages_now=_packages())


def _packages() -> dict:
    from advisor.pipeline.run import package_versions

    return package_versions()


class _Scratch:
    """Where the session stages what it writes (the baseline copy): a temporary folder, never DIR."""

    def __init__(self, folder: Path):
        import tempfile

        self.path = Path(tempfile.mkdtemp(prefix=".advisor-verify-", dir=None))
        self.staging = self.path
        self.work = self.path / ".work"
        self.work.mkdir()

    def write(self, relative: str, content) -> str:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        return relative

    def discard(self) -> None:
        import shutil

        shutil.rmtree(self.path, ignore_errors=True)
