"""Load a rule set (rules/*.yaml) into its schema (models/rules.py), cross-check it and compile its tree.

A rule set is three files: `schemes.yaml` (the scheme and pre-step catalog), `hardware.yaml` (what
each target runs) and `tree.yaml` (the decision tree). Any problem is a RulesError naming the file
and the node. Loaded rule sets are cached by folder.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from advisor._suggest import did_you_mean
from advisor.engine.conditions import Condition, compile_when
from advisor.errors import RulesError
from advisor.models.recommendation import Reason
from advisor.models.rules import HardwareCatalog, Node, SchemeCatalog, SchemeSize, Tree
from advisor.models.validation import describe_validation_error



class CompiledNode:
    """A tree node with its `when` compiled for fast evaluation."""

    __slots__ = ("id", "because", "reason", "conditions", "children", "ladder", "pre_steps", "rungs", "where")

    def __init__(self, node: Node, where: str, conditions: tuple[Condition, ...], children: list[CompiledNode] | None):
        self.id = node.id
        self.because = " ".join(node.because.split())
        self.reason = Reason(rule=self.id, because=self.because)
        self.conditions = conditions
        self.children = children
        self.ladder = tuple(node.ladder) if node.ladder is not None else None
        self.pre_steps = tuple(node.pre_steps) if node.pre_steps is not None else None
        self.rungs = tuple(node.rungs) if node.rungs is not None else None
        self.where = where

    def iter(self):
        yield self
        for child in self.children or ():
            yield from child.iter()


class RuleSet:
    """A loaded, cross-checked rule set."""

    def __init__(self, folder: Path, catalog: SchemeCatalog, hardware: HardwareCatalog, ladder, pre_steps, recovery=()):
        self.folder = folder
        self.catalog = catalog
        self.schemes = catalog.schemes
        self.pre_step_catalog = catalog.pre_steps
        self.targets = hardware.targets
        self.int8_kernels = frozenset(hardware.int8_kernels.ops) if hardware.int8_kernels else frozenset()
        self.data_level_ids = [level.id for level in catalog.data_levels]
        self.data_rank = {level.id: rank for rank, level in enumerate(catalog.data_levels)}
        self.data_levels = {level.id: level for level in catalog.data_levels}
        self.accuracy = {cls.id: cls for cls in catalog.accuracy_classes}
        self.ladder_tree: list[CompiledNode] = ladder
        self.pre_step_tree: list[CompiledNode] = pre_steps
        self.recovery_tree: list[CompiledNode] = list(recovery)
        self.expected_drop = {sid: self.accuracy[s.accuracy].expected_drop for sid, s in self.schemes.items()}
        self.scheme_reason = {sid: Reason(rule=f"scheme:{sid}", because=" ".join(s.facts)) for sid, s in self.schemes.items()}
        self.pre_step_reason = {
            sid: Reason(rule=f"pre-step:{sid}", because=" ".join(s.facts)) for sid, s in self.pre_step_catalog.items()
        }
        self.runs_on = {
            scheme: [t for t, target in self.targets.items() if scheme in target.runs] for scheme in self.schemes
        }
        self.backends = catalog.backends
        self.model_formats = {f.id: f for f in catalog.model_formats}

    def implementations(self, scheme: str) -> dict[str, str]:
        """Backend -> 'module:function' of every implementation of `scheme`."""
        entry = self.schemes[scheme]
        found = {self.catalog.default_backend or "default": entry.executor} if entry.executor else {}
        return {**found, **entry.implementations}

    def backends_for(self, scheme: str, model_format: str | None) -> list[str]:
        """The backends that can carry `scheme` out on a model of `model_format`, most preferred first
        (every implementation when the format is not known)."""
        implemented = self.implementations(scheme)
        order = self.schemes[scheme].backend_preference or list(self.backends) or list(implemented)
        order = order + [b for b in implemented if b not in order]
        return [b for b in order if b in implemented and (
            model_format is None or b not in self.backends or model_format in self.backends[b].formats)]

    def size_of(self, scheme: str, model_format: str | None) -> SchemeSize | None:
        """How `scheme`'s .tflite is stored by the backend the rules choose for `model_format`."""
        entry = self.schemes[scheme]
        backends = self.backends_for(scheme, model_format)
        return entry.size_by_backend.get(backends[0], entry.size) if backends else entry.size

    def choose_backend(self, scheme: str, model_format: str | None, asked: str | None = None) -> str | None:
        """`asked` where the scheme has that implementation and it takes the model, else the rules' first
        choice for the format; None when no backend takes it."""
        choices = self.backends_for(scheme, model_format)
        if asked in choices:
            return asked
        return choices[0] if choices else None

    def executor_of(self, name: str, backend: str | None = None) -> tuple[str, str]:
        """(where in the rules, 'module:function') of the step carrying scheme or pre-step `name` out (a
        scheme's `backend` implementation, by default its first); RulesError naming file and node."""
        file = self.folder / "schemes.yaml"
        if name in self.schemes:
            implementations = self.implementations(name)
            if not implementations:
                raise RulesError(f"{file}: schemes.{name}.executor: missing; the rule set names no step that carries {name} out")
            chosen = backend if backend in implementations else next(iter(implementations))
            entry = self.schemes[name]
            explicit = chosen in entry.implementations or entry.executor != implementations[chosen]
            where = f"{file}: schemes.{name}.implementations.{chosen}" if explicit else f"{file}: schemes.{name}.executor"
            return where, implementations[chosen]
        if name in self.pre_step_catalog:
            where, reference = f"{file}: pre_steps.{name}.executor", self.pre_step_catalog[name].executor
            if not reference:
                raise RulesError(f"{where}: missing; the rule set names no step that carries {name} out")
            return where, reference
        raise RulesError(f"{file}: no scheme or pre-step '{name}'")

    def takes_format(self, name: str, model_format: str | None) -> bool:
        """Whether the scheme or pre-step `name` can run on a model of `model_format` (unknown: yes)."""
        if model_format is None:
            return True
        if name in self.schemes:
            return bool(self.backends_for(name, model_format))
        formats = self.pre_step_catalog[name].formats
        return formats is None or model_format in formats

    def nodes(self):
        for part in (self.ladder_tree, self.pre_step_tree, self.recovery_tree):
            for node in part:
                yield from node.iter()

    def recovery_rungs(self) -> list:
        """Every rung the recovery part can add, once each, in the order the rules list them."""
        found = {}
        for root in self.recovery_tree:
            for node in root.iter():
                for item in node.rungs or ():
                    found.setdefault((item.scheme, tuple(item.pre_steps)), item)
        return list(found.values())


def load_rules(folder: str | Path | None = None) -> RuleSet:
    """Load (once) and check the rule set in `folder`, by default the shipped one."""
    from advisor.resources import shipped_rules

    return _load(Path(folder).resolve() if folder else shipped_rules())


FILES = ("schemes.yaml", "hardware.yaml", "tree.yaml")


@functools.lru_cache(maxsize=8)
def _load(folder: Path) -> RuleSet:
    """The rule set in `folder`, read back from the cache when its files' contents were loaded before
    (a parsed, checked and compiled rule set is pickled under the hash of its files and of the code that
    reads them), else loaded and checked, and cached."""
    if not folder.is_dir():
        raise RulesError(f"{folder}: no such rules folder")
    import hashlib
    import pickle

    import pydantic

    from advisor.engine import conditions
    from advisor.models import recommendation, rules as schema
    from advisor.resources import cache_dir

    digest = hashlib.sha256(pydantic.VERSION.encode())
    for module in (schema, conditions, recommendation):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    for name in FILES:
        try:
            digest.update((folder / name).read_bytes())
        except FileNotFoundError:
            raise RulesError(f"{folder / name}: missing from the rule set") from None
    cached = cache_dir() / "rules" / f"{digest.hexdigest()[:32]}.pickle"
    try:
        found = pickle.loads(cached.read_bytes())
        if isinstance(found, RuleSet):
            found.folder = folder
            return found
    except Exception:  # no cache yet, or one from another release of a library: load it afresh
        pass
    ruleset = _parse(folder)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, cached)
    except OSError:  # an unwritable cache slows the next load, nothing more
        pass
    return ruleset


def _parse(folder: Path) -> RuleSet:
    catalog = _read(folder / "schemes.yaml", SchemeCatalog)
    hardware = _read(folder / "hardware.yaml", HardwareCatalog)
    tree = _read(folder / "tree.yaml", Tree)
    _check_catalogs(folder, catalog, hardware)
    ladder = _compile_part(folder / "tree.yaml", "ladder", tree.ladder, set(catalog.schemes), "ladder")
    pre = _compile_part(folder / "tree.yaml", "pre_steps", tree.pre_steps, set(catalog.pre_steps), "pre_steps")
    recovery = _compile_part(folder / "tree.yaml", "recovery", tree.recovery, set(catalog.schemes), "rungs",
                             steps={p for p, entry in catalog.pre_steps.items() if entry.kind == "recovery"})
    ids = [node.id for part in (ladder, pre, recovery) for root in part for node in root.iter()]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise RulesError(f"{folder / 'tree.yaml'}: rule id '{duplicate}' is used twice; ids must be unique")
    return RuleSet(folder, catalog, hardware, ladder, pre, recovery)


def _read(path: Path, model: type[BaseModel]):
    import yaml

    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        raise RulesError(f"{path}: missing from the rule set") from None
    except yaml.YAMLError as err:
        raise RulesError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    try:
        return model.model_validate(raw if raw is not None else {})
    except ValidationError as err:
        raise RulesError(describe_validation_error(err, model, str(path))) from None


def _check_catalogs(folder: Path, catalog: SchemeCatalog, hardware: HardwareCatalog) -> None:
    schemes_file, hardware_file = folder / "schemes.yaml", folder / "hardware.yaml"
    levels = [level.id for level in catalog.data_levels]
    classes = [cls.id for cls in catalog.accuracy_classes]
    for kind, entries in (("schemes", catalog.schemes), ("pre_steps", catalog.pre_steps)):
        for sid, entry in entries.items():
            if entry.data not in levels:
                raise RulesError(f"{schemes_file}: {kind}.{sid}.data: unknown data level '{entry.data}'{did_you_mean(entry.data, levels)}")
            accuracy = getattr(entry, "accuracy", None)
            if accuracy is not None and accuracy not in classes:
                raise RulesError(f"{schemes_file}: {kind}.{sid}.accuracy: unknown accuracy class '{accuracy}'{did_you_mean(accuracy, classes)}")
    formats = [f.id for f in catalog.model_formats]
    for bid, backend in catalog.backends.items():
        for fmt in backend.formats:
            if formats and fmt not in formats:
                raise RulesError(f"{schemes_file}: backends.{bid}.formats: unknown model format '{fmt}'{did_you_mean(fmt, formats)}")
    if catalog.default_backend is not None and catalog.backends and catalog.default_backend not in catalog.backends:
        raise RulesError(f"{schemes_file}: default_backend: unknown backend '{catalog.default_backend}'")
    for sid, scheme in catalog.schemes.items():
        for bid in [*scheme.implementations, *(scheme.backend_preference or [])]:
            if catalog.backends and bid not in catalog.backends:
                raise RulesError(f"{schemes_file}: schemes.{sid}: unknown backend '{bid}'{did_you_mean(bid, catalog.backends)}")
    for pid, step in catalog.pre_steps.items():
        for fmt in step.formats or []:
            if formats and fmt not in formats:
                raise RulesError(f"{schemes_file}: pre_steps.{pid}.formats: unknown model format '{fmt}'{did_you_mean(fmt, formats)}")
    overlap = set(catalog.schemes) & set(catalog.pre_steps)
    if overlap:
        raise RulesError(f"{schemes_file}: '{sorted(overlap)[0]}' is both a scheme and a pre-step")
    for tid, target in hardware.targets.items():
        for index, sid in enumerate(target.runs):
            if sid not in catalog.schemes:
                raise RulesError(
                    f"{hardware_file}: targets.{tid}.runs[{index}]: unknown scheme '{sid}'{did_you_mean(sid, catalog.schemes)}"
                )


def _compile_part(path: Path, part: str, nodes: list[Node], known: set[str], payload: str, steps: set[str] = frozenset()):
    compiled = []
    for index, node in enumerate(nodes):
        compiled.append(_compile_node(path, f"{part}[{index}]", node, known, payload, steps))
    return compiled


def _compile_node(path: Path, where: str, node: Node, known: set[str], payload: str, steps: set[str] = frozenset()):
    where = f"{where} ('{node.id}')"
    try:
        conditions = compile_when(node.when)
    except ValueError as err:
        raise RulesError(f"{path}: {where}.when: {err}") from None
    for other in ("ladder", "pre_steps", "rungs"):
        if other != payload and getattr(node, other) is not None:
            raise RulesError(f"{path}: {where}: a {payload} node cannot hold {other}")
    if payload == "rungs":
        _check_rungs(path, where, node, known, steps)
    items = getattr(node, payload) if payload != "rungs" else None
    for index, item in enumerate(items or ()):
        if item not in known:
            kind = "scheme" if payload == "ladder" else "pre-step"
            raise RulesError(f"{path}: {where}.{payload}[{index}]: unknown {kind} '{item}'{did_you_mean(item, known)}")
    if items is not None and len(set(items)) != len(items):
        raise RulesError(f"{path}: {where}.{payload}: lists an item twice")
    children = None
    if node.children is not None:
        if not node.children:
            raise RulesError(f"{path}: {where}.children: empty")
        children = [
            _compile_node(path, f"{where}.children[{i}]", child, known, payload, steps)
            for i, child in enumerate(node.children)
        ]
    return CompiledNode(node, where, conditions, children)


def _check_rungs(path: Path, where: str, node: Node, schemes: set[str], steps: set[str]) -> None:
    """Each recovery rung names a known scheme, recovery pre-steps (each once) and known schemes to follow."""
    seen = set()
    for index, item in enumerate(node.rungs or ()):
        at = f"{path}: {where}.rungs[{index}]"
        if item.scheme not in schemes:
            raise RulesError(f"{at}.scheme: unknown scheme '{item.scheme}'{did_you_mean(item.scheme, schemes)}")
        for j, step in enumerate(item.pre_steps):
            if step not in steps:
                raise RulesError(f"{at}.pre_steps[{j}]: '{step}' is not a recovery pre-step{did_you_mean(step, steps)} "
                                 "(schemes.yaml: pre_steps.<id>.kind: recovery)")
        if len(set(item.pre_steps)) != len(item.pre_steps):
            raise RulesError(f"{at}.pre_steps: lists a pre-step twice")
        for j, scheme in enumerate(item.after):
            if scheme not in schemes:
                raise RulesError(f"{at}.after[{j}]: unknown scheme '{scheme}'{did_you_mean(scheme, schemes)}")
        key = (item.scheme, tuple(item.pre_steps))
        if key in seen:
            raise RulesError(f"{at}: lists the rung {'+'.join([*item.pre_steps, item.scheme])} twice")
        seen.add(key)
