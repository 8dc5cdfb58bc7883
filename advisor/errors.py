"""The advisor's exceptions, one tree; the CLI maps each branch to the contract's exit code.

    AdvisorError
    ├── BadInput                 exit 2: the user's input is wrong; the message names file and field
    │   ├── AnswersError         an answers file or dict
    │   ├── RulesError           a rule set under --rules
    │   ├── ModelError           a model file or folder
    │   └── DataError            a data file (.npz / .npy)
    ├── Infeasible               exit 3: `run` was asked to carry out answers no scheme can meet
    └── SchemeFailed             one attempt could not be carried out (recorded, not fatal)

`recommend` returns an infeasible recommendation rather than raising; goals not met (exit 4)
is a result, not an exception; Ctrl-C is Python's KeyboardInterrupt (exit 130).
A bug is none of these and keeps its traceback. The contract's exit codes live here, once.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_GOALS_NOT_MET = 4
EXIT_INTERRUPTED = 130


class AdvisorError(Exception):
    """Base of every error the advisor raises on purpose."""

    exit_code = 1


class BadInput(AdvisorError):
    """Input from the user is wrong; `str(err)` is one line naming the file and field."""

    exit_code = EXIT_BAD_INPUT


class AnswersError(BadInput):
    pass


class RulesError(BadInput):
    pass


class ModelError(BadInput):
    pass


class DataError(BadInput):
    pass


class Infeasible(AdvisorError):
    """No scheme can meet the answers; carries the recommendation (with its `needs`) to print."""

    exit_code = EXIT_INFEASIBLE

    def __init__(self, recommendation):
        super().__init__("no scheme can meet these answers")
        self.recommendation = recommendation


class SchemeFailed(AdvisorError):
    """A scheme could not be carried out on this model (e.g. an op without an int8 kernel)."""

    exit_code = EXIT_GOALS_NOT_MET


def shorten(text: str, width: int = 240) -> str:
    """One line of at most `width` characters, cut at a word boundary (never mid-word) with an ellipsis."""
    line = " ".join(str(text).split())
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > width // 2 else cut).rstrip(" ,;:") + "…"
