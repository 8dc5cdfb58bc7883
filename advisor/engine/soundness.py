"""`advisor rules check`: prove a rule set sound over the whole answer space.

Loading already proves the files schema-valid, every leaf a known scheme or pre-step, and the
catalogs consistent with each other. This module adds what needs the engine: every answer in the
space reaches a leaf in every part of the tree (total), every node is reached by some answer
(no dead rules), no recommendation ever names a scheme or pre-step whose data, fine-tuning or
hardware requirement the answers fail, every `executor:` names an importable step of the step
contract, and the same answer gives the same recommendation in a fresh process, with another hash
seed and the answers in reverse order (so no set order, cache or earlier call can change it).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import NamedTuple

from advisor.engine.evaluate import build_facts, recommend, walk
from advisor.engine.rules import RuleSet
from advisor.models.answers import Answers, Goals

EPSILON = 1e-3


class Problem(NamedTuple):
    file: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.node}: {self.message}"


def goal_values(rules: RuleSet, sides=(-EPSILON, 0.0, EPSILON)) -> dict[str, list]:
    """Representative values for each goal: none, and every threshold the rules use and either side of it
    (`sides`)."""
    size = {rules.schemes[s].max_size_reduction for s in rules.schemes}
    size |= {1 - (1 - r) * _remaining(rules, leaf) for r in set(size) for leaf in _pre_step_leaves(rules)}
    accuracy = {cls.expected_drop for cls in rules.accuracy.values()}
    thresholds = {"goals.min_size_reduction": set(size), "goals.max_accuracy_drop": accuracy}
    for node in rules.nodes():
        for condition in node.conditions:
            if isinstance(condition.operand, (int, float)) and not isinstance(condition.operand, bool):
                key = "goals.min_size_reduction" if condition.fact == "size.required_reduction" else condition.fact
                thresholds.setdefault(key, set()).add(float(condition.operand))
    values: dict[str, list] = {"max_latency_ms": [None, 10.0]}
    for key, points in thresholds.items():
        name = key.split(".", 1)[1]
        if name not in Goals.model_fields or name in ("compressed_download", "max_size_mb"):
            continue
        candidates = {round(v + d, 6) for v in points for d in sides}
        values[name] = [None] + sorted(v for v in candidates if _valid(name, v))
    return values


def _pre_step_leaves(rules: RuleSet) -> set[tuple[str, ...]]:
    """The pre-step lists the tree can choose (only these combine with a scheme's reduction)."""
    return {node.pre_steps for root in rules.pre_step_tree for node in root.iter() if node.pre_steps}


def _remaining(rules: RuleSet, steps: tuple[str, ...]) -> float:
    remaining = 1.0
    for step in steps:
        remaining *= 1 - rules.pre_step_catalog[step].compressed_reduction
    return remaining


def _valid(name: str, value: float) -> bool:
    try:
        Goals(**{name: value})
        return True
    except ValueError:
        return False


def answer_space(rules: RuleSet, *, targets=None, coarse: bool = False) -> Iterator[Answers]:
    """Every combination of the enumerated answers with representative goal values (each threshold and
    either side of it; `coarse`: just above each, an eighth of the answers), for every target or those named."""
    goals = goal_values(rules, sides=(EPSILON,) if coarse else (-EPSILON, 0.0, EPSILON))
    names = list(goals)
    defaults = Goals().model_dump()
    combos = [{n: v for n, v in zip(names, combo) if v is not None} for combo in itertools.product(*(goals[n] for n in names))]
    goal_sets = {compressed: [Goals.model_construct(**{**defaults, **goal, "compressed_download": compressed}) for goal in combos]
                 for compressed in (False, True)}  # built once, shared by every answer that asks for them (frozen)
    template = Answers.model_construct(data=rules.data_level_ids[0], hardware=next(iter(rules.targets)),
                                       goals=goal_sets[False][0])  # its other fields' defaults made once
    for data, hardware, fine_tune, sensitive, compressed in itertools.product(
        rules.data_level_ids, targets or list(rules.targets), (True, False), (False, True), (False, True)
    ):
        for goal in goal_sets[compressed]:
            yield template.model_copy(update={"data": data, "hardware": hardware, "can_fine_tune": fine_tune,
                                              "activation_sensitive": sensitive, "goals": goal})


def violations(answers: Answers, rules: RuleSet, rec) -> list[str]:
    """What a recommendation breaks of the data, fine-tuning and hardware requirements."""
    broken = []
    target = rules.targets[answers.hardware]
    for sid in rec.ladder:
        scheme = rules.schemes.get(sid)
        if scheme is None:
            broken.append(f"names unknown scheme {sid}")
            continue
        if sid not in target.runs:
            broken.append(f"{sid} on {answers.hardware}, which cannot run it")
        broken += _unmet(sid, scheme, answers, rules)
    for step in rec.pre_steps:
        broken += _unmet(step, rules.pre_step_catalog[step], answers, rules)
    for rung in rec.recovery:
        if rung.scheme not in rec.ladder:
            broken.append(f"a recovery rung for {rung.scheme}, which is not on the ladder")
        for step in rung.pre_steps:
            broken += _unmet(step, rules.pre_step_catalog[step], answers, rules)
    return broken


def _unmet(name, entry, answers: Answers, rules: RuleSet) -> list[str]:
    broken = []
    if rules.data_rank[answers.data] < rules.data_rank[entry.data]:
        broken.append(f"{name} needs data: {entry.data} but the answers have {answers.data}")
    if entry.fine_tune and not answers.can_fine_tune:
        broken.append(f"{name} fine-tunes but can_fine_tune is false")
    return broken


def digest(rec) -> str:
    return hashlib.sha256(rec.model_dump_json().encode()).hexdigest()[:16]


def fresh_process_digests(rules: RuleSet, targets=None, coarse: bool = False) -> Callable[[], list[str]]:
    """Start another Python process, with another hash seed, that works out the digest of every
    answer's recommendation walking the answer space backwards; the function returned waits for it
    and gives them in answer-space order (it runs beside this process's own sweep)."""
    code = (
        "import sys, json\n"
        "from advisor.engine.rules import load_rules\n"
        "from advisor.engine.soundness import answer_space, digest\n"
        "from advisor.engine.evaluate import recommend\n"
        "rules = load_rules(sys.argv[1]); space = json.loads(sys.argv[2])\n"
        "found = [digest(recommend(a, rules)) for a in reversed(list(answer_space(rules, **space)))]\n"
        "sys.stdout.write('\\n'.join(reversed(found)))\n"
    )
    import json

    env = {**os.environ, "PYTHONHASHSEED": str(int(os.environ.get("PYTHONHASHSEED", "0") or 0) + 7919)}
    process = subprocess.Popen([sys.executable, "-c", code, str(rules.folder), json.dumps({"targets": targets, "coarse": coarse})],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def wait() -> list[str]:
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"the replay process failed: {err.strip().splitlines()[-1:]}")
        return out.split()

    return wait


def executor_problems(rules: RuleSet, step_of: Callable) -> list[Problem]:
    """Every `executor:` must import and take (context, model): `step_of(rules, name, backend)` resolves
    one (the executor's own, which the CLI passes in; the engine imports no executor)."""
    from advisor.errors import RulesError

    problems = []
    for kind, entries in (("schemes", rules.schemes), ("pre_steps", rules.pre_step_catalog)):
        for name in entries:
            for backend in (rules.implementations(name) or [None]) if kind == "schemes" else [None]:
                try:
                    step_of(rules, name, backend)
                except RulesError as err:
                    file, _, rest = str(err).partition(": ")
                    node, _, message = rest.partition(": ")
                    problems.append(Problem(file, node, message))
    return problems


def check_rules(rules: RuleSet, *, limit: int = 20, step_of: Callable | None = None, targets=None, coarse: bool = False,
                replay: Callable | None = fresh_process_digests) -> tuple[list[Problem], int]:
    """All problems found (at most `limit` of each kind) and the number of answers tried, over the answer
    space (`targets` and `coarse` narrow it). `step_of` resolves executors (None: not checked); `replay`
    starts working out every answer's recommendation digest independently (another process; None: no
    determinism proof)."""
    tree_file = str(rules.folder / "tree.yaml")
    reached: set[str] = set()
    problems: list[Problem] = executor_problems(rules, step_of) if step_of is not None else []
    replayed = replay(rules, targets, coarse) if replay is not None else None
    tried = 0
    here: list[str] = []
    space = answer_space(rules, targets=targets, coarse=coarse)
    for answers in space:
        tried += 1
        facts = build_facts(answers, rules, None)
        for part, nodes in (("ladder", rules.ladder_tree), ("pre_steps", rules.pre_step_tree), ("recovery", rules.recovery_tree)):
            if not nodes:
                continue
            path = walk(nodes, facts)
            if not path and len(problems) < limit:
                problems.append(Problem(tree_file, part, f"no rule holds for {_describe(answers)} (add a last rule without `when`)"))
            reached.update(node.id for node in path)
        rec = recommend(answers, rules)
        if replayed is not None:
            here.append(digest(rec))
        for broken in violations(answers, rules, rec):
            if len(problems) < limit:
                problems.append(Problem(tree_file, rec.rationale[0].rule, f"{broken}, for {_describe(answers)}"))
    if replayed is not None:
        elsewhere = replayed()
        differing = [i for i, (a, b) in enumerate(zip(here, elsewhere)) if a != b]
        if len(elsewhere) != len(here):
            problems.append(Problem(tree_file, "engine", f"the replay gave {len(elsewhere)} recommendations for {len(here)} answers"))
        if differing:
            space = list(answer_space(rules, targets=targets, coarse=coarse))
            for i in differing[:limit]:
                problems.append(Problem(tree_file, "engine", f"not deterministic: another process recommends otherwise for {_describe(space[i])}"))
    for node in rules.nodes() if targets is None else ():  # a space narrowed to some targets cannot reach every rule
        if node.id not in reached:
            problems.append(Problem(tree_file, node.where, "unreachable: no answer reaches this rule (an earlier rule always wins)"))
    return problems, tried


def _describe(answers: Answers) -> str:
    goals = {k: v for k, v in answers.goals.model_dump().items() if v not in (None, False)}
    return (
        f"data={answers.data} hardware={answers.hardware} can_fine_tune={answers.can_fine_tune} "
        f"activation_sensitive={answers.activation_sensitive} goals={goals}"
    )
