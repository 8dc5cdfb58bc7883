"""`advisor` subcommands. Each parses its arguments, calls the library, renders, and returns the
contract's exit code; AdvisorError becomes one line on stderr, a bug keeps its traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from advisor._suggest import did_you_mean
from advisor.errors import EXIT_BAD_INPUT, EXIT_INFEASIBLE, EXIT_INTERRUPTED, EXIT_OK, AdvisorError, BadInput


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (with 'did you mean') and exit code 2."""

    def error(self, message: str):
        if "invalid choice" in message and self._subparsers is not None:
            word = message.split("'")[1] if "'" in message else ""
            choices = next(a.choices for a in self._subparsers._group_actions if a.choices)
            message = f"unknown command '{word}'{did_you_mean(word, choices)}; commands: {', '.join(choices)}"
        raise BadInput(f"{message} (see '{self.prog} --help')")


def _cmd_recommend(args) -> int:
    from advisor.pipeline.recommend import recommend
    from advisor.engine.rules import load_rules
    from advisor.models.answers import read_answers_file

    rules = load_rules(args.rules)
    answers = read_answers_file(args.answers, rules=rules)
    rec = recommend(answers, rules=rules, source=args.answers)
    if args.json:
        print(rec.model_dump_json(indent=2))
    else:
        from advisor.report.recommendation import print_recommendation

        print_recommendation(rec)
    return EXIT_OK if rec.feasible else EXIT_INFEASIBLE


def _cmd_schema(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.models.schema import answers_json_schema

    print(json.dumps(answers_json_schema(load_rules(args.rules)), indent=2))
    return EXIT_OK


def _cmd_rules_check(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.engine.soundness import check_rules
    from advisor.executor.produce import step_of

    rules = load_rules(args.rules)
    problems, tried = check_rules(rules, step_of=step_of)
    for problem in problems:
        print(f"advisor: rules: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {rules.folder} over {tried:,} answers", file=sys.stderr)
        return EXIT_BAD_INPUT
    nodes = sum(1 for _ in rules.nodes())
    print(
        f"{rules.folder}: sound - {len(rules.schemes)} schemes, {len(rules.pre_step_catalog)} pre-steps, "
        f"{len(rules.targets)} targets, {nodes} rules; every one of {tried:,} answers reaches a leaf, "
        "every rule is reached, no recommendation breaks a data or hardware requirement, every executor is a step, "
        "and a fresh process (another hash seed, reverse order) recommends the same for each"
    )
    return EXIT_OK


def _cmd_inspect(args) -> int:
    from advisor.engine.rules import load_rules
    from advisor.pipeline.inspect import inspect

    signature = inspect(args.model, load_rules(args.rules))
    if args.json:
        print(signature.model_dump_json(indent=2))
        return EXIT_OK
    from advisor.report.signature import print_signature

    print_signature(signature, args.model)
    return EXIT_OK


def _cmd_wizard(args) -> int:
    from advisor.cli.wizard import Prompter, wizard
    from advisor.engine.rules import load_rules
    from advisor.models.answers import read_answers_file
    from advisor.report.progress import terminal_console

    if not sys.stdin.isatty():
        raise BadInput(
            "advisor wizard asks its questions in a terminal, and standard input is not one; "
            "write an answers file (advisor schema prints its format) and use advisor recommend --answers FILE"
        )
    rules = load_rules(args.rules)
    prefill = read_answers_file(args.answers, rules=rules) if args.answers else None
    if args.save:
        from advisor.pipeline.output import check_file_path

        check_file_path(args.save)  # before the questions, not after them
    code, _ = wizard(rules, Prompter(), prefill=prefill, save=args.save, console=terminal_console())
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="advisor", description="Recommend, carry out and verify quantization for edge devices.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    def rules_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rules", metavar="DIR", help="use the rule set in DIR instead of the shipped one")

    p = command("recommend", _cmd_recommend, "print the recommendation for an answers file")
    p.add_argument("--answers", required=True, metavar="F", help="answers file (.yaml, .yml or .json)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the panel")
    rules_option(p)

    p = command("wizard", _cmd_wizard, "answer the questions interactively and get the recommendation")
    p.add_argument("--answers", metavar="F", help="pre-fill every question with F's answers (Enter keeps them)")
    p.add_argument("--save", metavar="PATH", help="save the answers to PATH (otherwise the wizard offers to)")
    rules_option(p)

    p = command("inspect", _cmd_inspect, "the model's inputs and outputs, format and size, read without TensorFlow")
    p.add_argument("model", metavar="MODEL", help=".keras, .h5, a SavedModel folder or a .tflite")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    rules_option(p)

    p = command("schema", _cmd_schema, "print the JSON Schema of the answers file")
    rules_option(p)

    p = command("rules", None, "work with rule sets")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="ACTION", parser_class=_Parser)
    rules_sub.required = True
    check = rules_sub.add_parser("check", help="prove a rule set sound", description="prove a rule set sound")
    check.set_defaults(handler=_cmd_rules_check)
    rules_option(check)

    _add_later_commands(sub, command, rules_option)
    return parser


def _add_later_commands(sub, command, rules_option) -> None:
    """Commands whose modules import TensorFlow lazily; registered here so --help lists them."""
    try:
        from advisor.cli import running
    except ImportError:  # pragma: no cover - only while a command is being built
        return
    running.register(command, rules_option)


def _version() -> str:
    from advisor._version import __version__

    return f"advisor {__version__}"


def _terminate(signum, frame):
    """SIGTERM ends the command as Ctrl-C does: every `with` block cleans up (no staging folder is left)."""
    raise KeyboardInterrupt


def _without_pydantic_plugins() -> None:
    """The command line validates only the advisor's own schemas, so it loads no pydantic plugin. Pydantic
    imports its plugin loader, and with it importlib.metadata, when it builds its first model: about 13 ms
    of `advisor recommend`'s 150 ms cold start. A process that imported pydantic already (the library's
    users) keeps its plugins."""
    if "pydantic" in sys.modules:
        return
    import types

    loader = types.ModuleType("pydantic.plugin._loader")
    loader.get_plugins = lambda: ()
    sys.modules.setdefault("pydantic.plugin._loader", loader)


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    _without_pydantic_plugins()
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (the library calls main from one)
        pass
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except AdvisorError as err:
        print(f"advisor: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("advisor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `advisor schema | head`
        return EXIT_OK
