"""`advisor run`, `check` and `demo`: the commands that import TensorFlow (lazily, in the handler)."""

from __future__ import annotations

import json
from pathlib import Path

from advisor import _quiet
from advisor.errors import EXIT_GOALS_NOT_MET, EXIT_INFEASIBLE, EXIT_OK, BadInput, Infeasible


def register(command, rules_option) -> None:
    p = command("run", _cmd_run, "recommend, carry out, validate and report on a model")
    p.add_argument("--answers", required=True, metavar="F", help="answers file (.yaml, .yml or .json)")
    _run_options(p)
    rules_option(p)

    p = command("compare", _cmd_compare, "run every scheme the data and hardware allow, measure each, mark the Pareto front")
    p.add_argument("--answers", required=True, metavar="F", help="answers file (.yaml, .yml or .json)")
    p.add_argument("--out", default="advisor-compare", metavar="DIR", help="output folder (default: ./advisor-compare)")
    p.add_argument("--force", action="store_true", help="replace the output folder if it exists")
    _budget_options(p)
    _workers_option(p)
    _engine_options(p)
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    rules_option(p)

    p = command("demo", _cmd_demo, "the whole flow on the built-in digits model, no files needed")
    p.add_argument("--out", default="advisor-demo", metavar="DIR", help="output folder (default: advisor-demo)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")

    p = command("fleet", _cmd_fleet, "every (model, target) pair of a fleet file as a run, several at once")
    p.add_argument("fleet_file", metavar="FLEET.yaml", help="the models, their data, the targets and the goals")
    p.add_argument("--out", default="advisor-fleet", metavar="DIR", help="output folder (default: ./advisor-fleet)")
    p.add_argument("--force", action="store_true", help="run every pair again, even when its inputs are unchanged")
    p.add_argument("--verify", action="store_true", help="then re-measure every pair's model.tflite (advisor verify)")
    _workers_option(p)
    _engine_options(p)
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    rules_option(p)

    p = command("verify", _cmd_verify, "re-measure a run's model.tflite against the goals and hardware its report recorded")
    p.add_argument("folder", metavar="DIR", help="an output folder of advisor run (or one pair's folder of a fleet)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    rules_option(p)

    p = command("check", _cmd_check, "check an existing .tflite against a target's requirements")
    p.add_argument("model", metavar="MODEL.tflite")
    p.add_argument("--hardware", required=True, metavar="H", help="the target: cpu, gpu, android-gpu, edgetpu, ...")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    rules_option(p)


def _run_options(p) -> None:
    p.add_argument("--out", default="advisor-out", metavar="DIR", help="output folder (default: ./advisor-out)")
    p.add_argument("--force", action="store_true", help="replace the output folder if it exists")
    p.add_argument("--scheme", metavar="S", help="try this scheme first; the ladder continues after it")
    p.add_argument("--pre-steps", metavar="P,...", help="pre-steps to run before quantizing (pruning, clustering); '' for none")
    p.add_argument("--backend", metavar="B", help="carry schemes out with this backend where it can: converter (TFLite "
                   "converter) or quantizer (LiteRT Quantizer); default: the rules' choice per scheme and model format")
    p.add_argument("--epochs", type=int, help="fine-tuning epochs (default 3)")
    p.add_argument("--batch-size", type=int, help="fine-tuning batch size (default 32)")
    p.add_argument("--learning-rate", type=float, help="fine-tuning learning rate (default 1e-4)")
    p.add_argument("--sparsity", type=float, help="pruning's target sparsity (default 0.5)")
    p.add_argument("--clusters", type=int, help="clusters per weight tensor (default 16)")
    p.add_argument("--threads", type=int, help="interpreter threads for latency (default: all cores)")
    _workers_option(p)
    _budget_options(p)
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")


def _workers_option(p) -> None:
    p.add_argument("--workers", type=int, metavar="N", help="worker processes making attempts at once (default: one per "
                   "two cores); the answer is the one a single worker gives")


def _engine_options(p) -> None:
    p.add_argument("--engine", default="local", choices=("local", "ray"), help="this machine's worker processes (local) "
                   "or Ray tasks (ray; pip install 'advisor[cluster]')")
    p.add_argument("--address", metavar="ADDR", help="with --engine ray: the Ray cluster to join (default: start a local "
                   "Ray instance with one CPU per worker)")


def _budget_options(p) -> None:
    p.add_argument("--strict", action="store_true", help="a goal left not_measured fails the attempt (answers: strict: true)")
    p.add_argument("--max-attempts", type=int, metavar="N", help="stop the search after N attempts (answers: budget.max_attempts)")
    p.add_argument("--max-minutes", type=float, metavar="M", help="start no attempt after M minutes (answers: budget.max_minutes)")


def _answers(args, rules):
    """The answers file, with --strict and the budget flags laid over it (the flags checked on their own,
    the answers validated once)."""
    from pydantic import ValidationError

    from advisor.models.answers import Budget, read_answers_file
    from advisor.models.validation import describe_validation_error

    flags = {k: getattr(args, k) for k in ("max_attempts", "max_minutes") if getattr(args, k, None) is not None}
    try:
        Budget(**flags)
    except ValidationError as err:
        raise BadInput(describe_validation_error(err, Budget, "options").replace("options: ", "--", 1).replace("_", "-", 1)) from None
    overrides = {"budget": flags} if flags else {}
    if getattr(args, "strict", False):
        overrides["strict"] = True
    return read_answers_file(args.answers, rules=rules, overrides=overrides)


def _options(args):
    from pydantic import ValidationError

    from advisor.models.options import RunOptions
    from advisor.models.validation import describe_validation_error

    given = {
        key: getattr(args, key, None)
        for key in ("epochs", "batch_size", "learning_rate", "sparsity", "clusters", "threads", "scheme", "backend", "workers")
        if getattr(args, key, None) is not None
    }
    if getattr(args, "pre_steps", None) is not None:
        given["pre_steps"] = [step.strip() for step in args.pre_steps.split(",") if step.strip()]
    try:
        return RunOptions(**given)
    except ValidationError as err:
        message = describe_validation_error(err, RunOptions, "options")
        raise BadInput(message.replace("options: ", "--", 1).replace("_", "-", 1)) from None


def _workers(args):
    """RunOptions with only --workers (compare's one option), checked as the other options are."""
    return _options(argparse_subset(args, "workers"))


def argparse_subset(args, *names):
    import argparse

    return argparse.Namespace(**{name: getattr(args, name, None) for name in names})


def _execute(answers, options, rules, out: str, force: bool) -> int:
    from advisor.pipeline.output import OutputFolder
    from advisor.report.progress import RichProgress, terminal_console
    from advisor.report.recommendation import print_recommendation
    from advisor.report.run_report import print_report
    from advisor.pipeline.plan import plan
    from advisor.pipeline.run import execute

    console = terminal_console()
    folder = OutputFolder(out, force=force)  # an unwritable --out fails here, before anything is printed or loaded
    try:
        the_plan = plan(answers, rules, options)
    except BaseException as err:
        folder.discard()
        if not isinstance(err, Infeasible):
            raise
        print_recommendation(err.recommendation, console)
        return EXIT_INFEASIBLE
    print_recommendation(the_plan.recommendation, console)
    progress = RichProgress(console)
    try:
        report = execute(the_plan, out=folder, progress=progress, verbose=_quiet.VERBOSE)
    finally:
        progress.close()
    print_report(report, out, console)
    return EXIT_OK if report.chosen is not None else EXIT_GOALS_NOT_MET


def _cmd_run(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.executor.tf_env import set_verbose

    set_verbose(args.verbose)
    rules = load_rules(args.rules)
    return _execute(_answers(args, rules), _options(args), rules, args.out, args.force)


def _cmd_demo(args) -> int:
    out = Path(args.out)
    empty_or_earlier_demo = out.is_dir() and (not any(out.iterdir()) or (out / "report.json").is_file())
    if out.exists() and not empty_or_earlier_demo:
        raise BadInput(f"{out}: exists and is not an earlier demo's output; choose another --out")
    from advisor.engine.rules import load_rules
    from advisor.executor.tf_env import set_verbose
    from advisor.models.answers import read_answers_file
    from advisor.models.options import RunOptions
    from advisor.resources import example

    set_verbose(args.verbose)
    rules = load_rules()
    return _execute(read_answers_file(example("demo.yaml"), rules=rules), RunOptions(), rules, str(out), True)


def _cmd_compare(args) -> int:
    from advisor.pipeline.compare import compare
    from advisor.engine.rules import load_rules
    from advisor.executor.tf_env import set_verbose
    from advisor.models.options import RunOptions
    from advisor.report.compare_report import print_comparison
    from advisor.report.progress import RichProgress, terminal_console

    set_verbose(args.verbose)
    rules = load_rules(args.rules)
    answers = _answers(args, rules)
    console = terminal_console()
    progress = RichProgress(console)
    try:
        comparison = compare(answers, rules=rules, out=args.out, force=args.force, options=_workers(args), progress=progress,
                             verbose=args.verbose, engine=args.engine, address=args.address)
    finally:
        progress.close()
    print_comparison(comparison, args.out, console)
    return EXIT_OK if comparison.any_passed else EXIT_GOALS_NOT_MET


def _cmd_fleet(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.executor.tf_env import set_verbose
    from advisor.pipeline.fleet import fleet, read_fleet
    from advisor.report.fleet_report import print_fleet
    from advisor.report.progress import RichProgress, terminal_console

    set_verbose(args.verbose)
    if args.workers is not None and args.workers < 1:
        raise BadInput("--workers: must be at least 1")
    rules = load_rules(args.rules)
    _, jobs = read_fleet(args.fleet_file, rules)  # a bad fleet file fails before anything runs
    console = terminal_console()
    progress = RichProgress(console)
    try:
        result = fleet(args.fleet_file, out=args.out, workers=args.workers, force=args.force, verify=args.verify,
                       rules=rules, progress=progress, engine=args.engine, address=args.address, verbose=args.verbose)
    finally:
        progress.close()
    models = list(dict.fromkeys(job.model for job in jobs))
    targets = list(dict.fromkeys(job.target for job in jobs))
    print_fleet(result, models, targets, args.out, console)
    return result.exit_code


def _cmd_verify(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.pipeline.verify import verify
    from advisor.report.progress import RichProgress, terminal_console
    from advisor.report.verification import print_verification

    console = terminal_console()
    progress = RichProgress(console) if not args.json else None
    try:
        found = verify(args.folder, rules=load_rules(args.rules), progress=progress, verbose=args.verbose)
    finally:
        if progress is not None:
            progress.close()
    if args.json:
        print(found.model_dump_json(indent=2))
    else:
        print_verification(found, console)
    return EXIT_OK if found.holds else EXIT_GOALS_NOT_MET


def _cmd_check(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.validator.hardware import check_model
    from advisor._suggest import did_you_mean

    rules = load_rules(args.rules)
    if args.hardware not in rules.targets:
        raise BadInput(f"--hardware: unknown target '{args.hardware}'{did_you_mean(args.hardware, rules.targets)}; known: {', '.join(rules.targets)}")
    path = Path(args.model)
    if not path.is_file():
        raise BadInput(f"{path}: no such file" if not path.exists() else f"{path}: is a folder, not a .tflite file")
    report = check_model(path, args.hardware, rules)
    if args.json:
        payload = {"hardware": report.hardware, "compatible": report.compatible, "problems": [p.model_dump() for p in report.problems]}
        payload.update({"warnings": report.warnings, "notes": report.notes, "ops": report.ops})
        payload.update({key: getattr(report, key) for key in ("npu_ops", "cpu_ops", "sram_bytes", "flash_bytes", "dram_bytes",
                                                              "estimated_ms", "cycles", "clock_hz", "arena_bytes")
                        if getattr(report, key) is not None})
        print(json.dumps(payload, indent=2))
    else:
        from advisor.report.hardware import print_hardware_report

        print_hardware_report(report, str(path))
    return EXIT_OK if report.compatible else EXIT_GOALS_NOT_MET


def run_answers(answers, rules, console, out: str = "advisor-out") -> int:
    """`advisor run` on answers already in memory (the wizard's 'run it now')."""
    from advisor.models.options import RunOptions
    from advisor.report.progress import RichProgress
    from advisor.report.run_report import print_report
    from advisor.pipeline.run import run

    progress = RichProgress(console)
    try:
        report = run(answers, rules=rules, out=out, options=RunOptions(), progress=progress)
    finally:
        progress.close()
    print_report(report, out, console)
    return EXIT_OK if report.chosen is not None else EXIT_GOALS_NOT_MET
