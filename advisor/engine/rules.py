"""Load a rule set (rules/*.yaml) into strict pydantic models and cross-check it.

A rule set is three files: `schemes.yaml` (the scheme and pre-step catalog), `hardware.yaml` (what
each target runs) and `tree.yaml` (the decision tree). Any problem is a RulesError naming the file
and the node. Loaded rule sets are cached by folder.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from advisor._suggest import did_you_mean
from advisor.engine.conditions import Condition, compile_when
from advisor.errors import RulesError
from advisor.models.recommendation import Reason
from advisor.models.validation import describe_validation_error



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataLevel(_Strict):
    id: str = Field(description="Identifier used in answers (`data:`).")
    label: str = Field(description="Short words for the level, e.g. 'unlabelled data'.")
    need: str | None = Field(None, description="What a user must provide to reach this level, as advice.")


class AccuracyClass(_Strict):
    id: str = Field(description="Identifier used by schemes (`accuracy:`).")
    label: str = Field(description="The guide's words for the class, e.g. 'small loss'.")
    expected_drop: float = Field(ge=0, le=1, description="Expected absolute drop of the metric.")
    source: str = Field(description="Where the expected drop comes from.")
    expected_sqnr_db: float | None = Field(None, description="Expected worst-output SQNR against float32, dB.")
    expected_prediction_change: float | None = Field(
        None, ge=0, le=1, description="Expected share of inputs whose top-1 class changes against float32."
    )
    fidelity_source: str | None = Field(None, description="Where the expected fidelity figures come from.")


class Overhead(_Strict):
    """The graph's bytes beside the constants: base + per_op * ops + per_constant * constants."""

    base: float = Field(description="Bytes of a graph with no op (header, signature, metadata).")
    per_op: float = Field(description="Bytes per op (its tensors, names and quantization parameters).")
    per_constant: float = Field(description="Bytes per constant tensor beside its data.")


class SchemeSize(_Strict):
    """How the converter stores a scheme's constants: what the size model predicts the .tflite from."""

    kernel_bits: int = Field(description="Bits per kernel value (weights of conv, depthwise and dense layers).")
    min_quantized_elements: int = Field(0, ge=0, description="Kernels with fewer values stay float32.")
    float_kernels: list[str] = Field(default_factory=list, description="Layer kinds whose kernels stay float32 (e.g. DepthwiseConv2D).")
    kernel_range_bytes: int = Field(0, ge=0, description="Bytes per kernel channel beside its scale and zero point (a stored min and max).")
    bias_bits: int = Field(description="Bits per bias value (and per vector of a normalization that does not fold).")
    operand_bits: int = Field(description="Bits per value of a MUL or ADD operand (a normalization that does not fold).")
    activations_quantized: bool = Field(description="Biases carry per-channel parameters like their kernels.")
    overhead: Overhead = Field(description="Graph bytes beside the constants, fitted on converted models.")


class SizeModel(_Strict):
    parameter_bytes: int = Field(gt=0, description="Bytes per quantization parameter (a scale and a zero point).")
    error: float = Field(ge=0, lt=1, description="The largest relative error of the prediction measured on the benchmark.")
    graph_error: float = Field(ge=0, lt=1, description="The same, for a SavedModel whose op count is read from its TensorFlow graph.")
    source: str = Field(description="Where the figures come from.")


class ModelFormat(_Strict):
    id: str = Field(description="Identifier the rules use (`formats:`, the `model.format` fact).")
    label: str = Field(description="Words for it, e.g. 'a float32 .tflite'.")


class Backend(_Strict):
    """A tool that carries schemes out: the TFLite converter, LiteRT Quantizer."""

    title: str = Field(description="Human name of the backend.")
    formats: list[str] = Field(min_length=1, description="Model formats it takes.")
    package: str | None = Field(None, description="The Python distribution it comes from (its version goes in reports).")
    facts: list[str] = Field(default_factory=list, description="What to know about it.")


class Scheme(_Strict):
    title: str = Field(description="Human name of the scheme.")
    data: str = Field(description="The least data level the scheme needs.")
    fine_tune: bool = Field(description="The scheme trains the model (needs can_fine_tune).")
    max_size_reduction: float = Field(ge=0, lt=1, description="Largest fraction of the float32 size it removes.")
    accuracy: str = Field(description="Accuracy class id.")
    guide_hardware: str | None = Field(None, description="The guide's hardware column, as written.")
    warning: str | None = Field(None, description="Shown whenever the scheme is recommended or a fallback.")
    executor: str | None = Field(None, description="'module:function' that carries the scheme out with the default backend (imported only by advisor run).")
    implementations: dict[str, str] = Field(default_factory=dict, description="Backend -> 'module:function', beside `executor`.")
    backend_preference: list[str] | None = Field(None, description="Backends in the order to choose them (default: the catalog's order).")
    model_need: str | None = Field(None, description="What a user needs when the model's format rules the scheme out.")
    size_last_resort: bool = Field(False, description="On a ladder only when no other candidate is expected to meet the size goal.")
    facts: list[str] = Field(min_length=1, description="The guide's facts about the scheme, used in explanations.")
    size: SchemeSize | None = Field(None, description="How its .tflite is stored, for predicting its size from the model.")
    size_by_backend: dict[str, SchemeSize] = Field(default_factory=dict, description="`size` where a backend stores it otherwise.")


class PreStep(_Strict):
    title: str = Field(description="Human name of the pre-step.")
    data: str = Field(description="The least data level it needs.")
    fine_tune: bool = Field(description="It trains the model (needs can_fine_tune).")
    compressed_reduction: float = Field(
        gt=0, lt=1, description="Extra fraction of the compressed file it removes on top of the scheme."
    )
    source: str = Field(description="Where compressed_reduction comes from.")
    executor: str | None = Field(None, description="'module:function' that carries the pre-step out.")
    formats: list[str] | None = Field(None, description="Model formats it takes (absent: every format).")
    model_need: str | None = Field(None, description="What a user needs when the model's format rules it out.")
    facts: list[str] = Field(min_length=1, description="The guide's facts about it.")


class SchemeCatalog(_Strict):
    data_levels: list[DataLevel] = Field(min_length=1, description="From least to most data.")
    accuracy_classes: list[AccuracyClass] = Field(min_length=1, description="From least to most loss.")
    schemes: dict[str, Scheme] = Field(min_length=1, description="Scheme id -> scheme.")
    pre_steps: dict[str, PreStep] = Field(default_factory=dict, description="Pre-step id -> pre-step.")
    model_formats: list[ModelFormat] = Field(default_factory=list, description="The model formats the rules know.")
    backends: dict[str, Backend] = Field(default_factory=dict, description="Backend id -> backend, in default preference order.")
    default_backend: str | None = Field(None, description="The backend `executor:` entries belong to.")
    size_model: SizeModel | None = Field(None, description="Constants of the size prediction (schemes' `size`).")


class Checker(_Strict):
    """A real tool the check runs on the .tflite, named here and configured per target."""

    name: Literal["vela"] = Field(description="The checker: vela (Arm's Ethos-U compiler).")
    accelerator: str = Field(description="Vela's --accelerator-config.")
    system_config: str = Field(description="Vela's --system-config (from its shipped Arm/vela.ini).")
    memory_mode: str = Field(description="Vela's --memory-mode.")
    clock_mhz: float = Field(gt=0, description="The system configuration's NPU clock, for the report (Vela reports its own).")


class HardwareCheck(_Strict):
    """What `advisor check` verifies in a .tflite for a target; an absent field means no limit."""

    source: str | None = Field(None, description="Where the requirements come from.")
    ops: list[str] | None = Field(None, description="Builtin ops the target runs; absent = every builtin op.")
    custom_ops: bool = Field(False, description="Custom ops can run.")
    activation_dtypes: list[str] | None = Field(None, description="Allowed dtypes of tensors computed at run time.")
    weight_dtypes: list[str] | None = Field(None, description="Allowed dtypes of constant tensors (weights, biases).")
    io_dtypes: list[str] | None = Field(None, description="Allowed dtypes of the model's inputs and outputs.")
    hybrid_ops: bool = Field(True, description="Ops mixing float activations with 8-bit weights (dynamic range) can run.")
    static_shapes: bool = Field(False, description="Every shape must be fully known.")
    batch: int | None = Field(None, description="Required batch size of the inputs.")
    max_rank: int | None = Field(None, description="Largest tensor rank.")
    max_non_unit_dims: int | None = Field(None, description="Only this many innermost dimensions may exceed 1.")
    maps_prefix_only: bool = Field(False, description="The compiler maps ops only up to the first unsupported one.")
    parameter_cache_bytes: int | None = Field(None, description="On-chip parameter memory; more constant data is a warning.")
    arena_check: bool = Field(False, description="Measure the tensor arena with the tflite-micro interpreter when installed.")
    checker: Checker | None = Field(None, description="A compiler run on the model (Vela for Ethos-U): placement, memory, time.")
    notes: list[str] = Field(default_factory=list, description="Shown with every check for this target.")
    latency_notes: dict[str, str] = Field(default_factory=dict, description="Shown when a latency goal is set: 'hybrid' for hybrid ops.")


class Target(_Strict):
    title: str = Field(description="Human name of the target.")
    integer_only: bool = Field(description="Runs integer models only.")
    fast_integer: bool = Field(description="Has integer kernels faster than its float ones.")
    measured_on_host: bool = Field(False, description="This host's CPU latency answers a latency goal for it.")
    runs: list[str] = Field(min_length=1, description="Scheme ids the target can run.")
    check: HardwareCheck = Field(default_factory=HardwareCheck, description="What a .tflite must satisfy to run there.")
    facts: list[str] = Field(default_factory=list, description="Facts shown when explaining.")


class KernelList(_Strict):
    source: str = Field(description="Where the list comes from.")
    ops: list[str] = Field(description="Builtin op names.")


class HardwareCatalog(_Strict):
    int8_kernels: KernelList | None = Field(None, description="Builtin ops with an int8 kernel in LiteRT.")
    targets: dict[str, Target] = Field(min_length=1, description="Target id -> target.")


class Node(_Strict):
    id: str = Field(description="Rule id, shown in every explanation that cites it.")
    when: dict[str, Any] = Field(default_factory=dict, description="Facts that must hold; empty = always.")
    because: str = Field(description="Why, in the guide's terms.")
    children: list[Node] | None = Field(None, description="Sub-rules; the first that holds wins.")
    ladder: list[str] | None = Field(None, description="Leaf of the ladder part: schemes, most preferred first.")
    pre_steps: list[str] | None = Field(None, description="Leaf of the pre_steps part: pre-steps to run.")

    @model_validator(mode="after")
    def _inner_or_leaf(self) -> Node:
        payloads = [name for name in ("children", "ladder", "pre_steps") if getattr(self, name) is not None]
        if len(payloads) != 1:
            raise ValueError(f"node '{self.id}' needs exactly one of children, ladder, pre_steps (has {payloads or 'none'})")
        return self


class Tree(_Strict):
    ladder: list[Node] = Field(min_length=1, description="Which schemes to try, first match wins.")
    pre_steps: list[Node] = Field(min_length=1, description="What to run before quantizing, first match wins.")


class CompiledNode:
    """A tree node with its `when` compiled for fast evaluation."""

    __slots__ = ("id", "because", "reason", "conditions", "children", "ladder", "pre_steps", "where")

    def __init__(self, node: Node, where: str, conditions: tuple[Condition, ...], children: list[CompiledNode] | None):
        self.id = node.id
        self.because = " ".join(node.because.split())
        self.reason = Reason(rule=self.id, because=self.because)
        self.conditions = conditions
        self.children = children
        self.ladder = tuple(node.ladder) if node.ladder is not None else None
        self.pre_steps = tuple(node.pre_steps) if node.pre_steps is not None else None
        self.where = where

    def iter(self):
        yield self
        for child in self.children or ():
            yield from child.iter()


class RuleSet:
    """A loaded, cross-checked rule set."""

    def __init__(self, folder: Path, catalog: SchemeCatalog, hardware: HardwareCatalog, ladder, pre_steps):
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
        for part in (self.ladder_tree, self.pre_step_tree):
            for node in part:
                yield from node.iter()


def load_rules(folder: str | Path | None = None) -> RuleSet:
    """Load (once) and check the rule set in `folder`, by default the shipped one."""
    from advisor.resources import shipped_rules

    return _load(Path(folder).resolve() if folder else shipped_rules())


@functools.lru_cache(maxsize=8)
def _load(folder: Path) -> RuleSet:
    if not folder.is_dir():
        raise RulesError(f"{folder}: no such rules folder")
    catalog = _read(folder / "schemes.yaml", SchemeCatalog)
    hardware = _read(folder / "hardware.yaml", HardwareCatalog)
    tree = _read(folder / "tree.yaml", Tree)
    _check_catalogs(folder, catalog, hardware)
    ladder = _compile_part(folder / "tree.yaml", "ladder", tree.ladder, set(catalog.schemes), "ladder")
    pre = _compile_part(folder / "tree.yaml", "pre_steps", tree.pre_steps, set(catalog.pre_steps), "pre_steps")
    ids = [node.id for part in (ladder, pre) for root in part for node in root.iter()]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise RulesError(f"{folder / 'tree.yaml'}: rule id '{duplicate}' is used twice; ids must be unique")
    return RuleSet(folder, catalog, hardware, ladder, pre)


def _read(path: Path, model: type[BaseModel]):
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


def _compile_part(path: Path, part: str, nodes: list[Node], known: set[str], payload: str):
    compiled = []
    for index, node in enumerate(nodes):
        compiled.append(_compile_node(path, f"{part}[{index}]", node, known, payload))
    return compiled


def _compile_node(path: Path, where: str, node: Node, known: set[str], payload: str):
    where = f"{where} ('{node.id}')"
    try:
        conditions = compile_when(node.when)
    except ValueError as err:
        raise RulesError(f"{path}: {where}.when: {err}") from None
    other = "pre_steps" if payload == "ladder" else "ladder"
    if getattr(node, other) is not None:
        raise RulesError(f"{path}: {where}: a {payload} node cannot hold {other}")
    items = getattr(node, payload)
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
            _compile_node(path, f"{where}.children[{i}]", child, known, payload)
            for i, child in enumerate(node.children)
        ]
    return CompiledNode(node, where, conditions, children)
