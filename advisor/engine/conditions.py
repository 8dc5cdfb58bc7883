"""The condition language of `when:` in tree.yaml, and the facts it can test.

    when: {fact: value}              the fact equals value
    when: {fact: [a, b]}             the fact is one of the list
    when: {fact: {op: value}}        op is eq, ne, in, not_in, lt, le, gt, ge, contains, or
                                     set (true: the fact has a value; false: it has none)

All entries of one `when` must hold. A comparison with a fact that has no value is false.
"""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

from advisor._suggest import did_you_mean


def _compare(op):
    return lambda fact, operand: fact is not None and op(fact, operand)


OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "in": lambda fact, operand: fact in operand,
    "not_in": lambda fact, operand: fact not in operand,
    "lt": _compare(operator.lt),
    "le": _compare(operator.le),
    "gt": _compare(operator.gt),
    "ge": _compare(operator.ge),
    "contains": lambda fact, operand: fact is not None and operand in fact,
    "set": lambda fact, operand: (fact is not None) == operand,
}


class Condition(NamedTuple):
    fact: str
    op: str
    operand: Any

    def holds(self, facts: dict[str, Any]) -> bool:
        return OPS[self.op](facts[self.fact], self.operand)


def fact_names() -> list[str]:
    """Every fact a rule may test."""
    from advisor.models.rules import Target
    from advisor.models.answers import Answers, Goals

    names = [name for name in Answers.model_fields if name not in ("goals", "inputs")]
    names += [f"goals.{name}" for name in Goals.model_fields]
    names += [f"target.{name}" for name in Target.model_fields if name not in ("title", "facts", "check")]
    names += ["size.required_reduction", "model.format", "goals.accuracy_or_fidelity"]
    return names


def compile_when(when: dict[str, Any]) -> tuple[Condition, ...]:
    known = fact_names()
    compiled = []
    for fact, test in when.items():
        if fact not in known:
            raise ValueError(f"unknown fact '{fact}'{did_you_mean(fact, known)}")
        if isinstance(test, dict):
            if len(test) != 1:
                raise ValueError(f"{fact}: one operator per fact, got {sorted(test)}")
            (op, operand), = test.items()
            if op not in OPS:
                raise ValueError(f"{fact}: unknown operator '{op}'{did_you_mean(op, OPS)}; known: {', '.join(OPS)}")
            if op in ("in", "not_in") and not isinstance(operand, list):
                raise ValueError(f"{fact}: '{op}' needs a list")
            if op == "set" and not isinstance(operand, bool):
                raise ValueError(f"{fact}: 'set' needs true or false")
        elif isinstance(test, list):
            op, operand = "in", test
        else:
            op, operand = "eq", test
        compiled.append(Condition(fact, op, tuple(operand) if isinstance(operand, list) else operand))
    return tuple(compiled)
