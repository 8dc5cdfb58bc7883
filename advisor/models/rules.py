"""The rule set's schema: the three files of rules/ (schemes.yaml, hardware.yaml, tree.yaml) as strict
pydantic models. The engine (engine/rules.py) loads, cross-checks and compiles them."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # built on first validation: a rule set read back from the cache (engine/rules.py) never validates
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


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


class FormatEntry(_Strict):
    id: str = Field(description="Identifier the rules use (`formats:`, the `model.format` fact).")
    label: str = Field(description="Words for it, e.g. 'a float32 .tflite'.")


class Backend(_Strict):
    """A tool that carries schemes out: the TFLite converter, LiteRT Quantizer."""

    title: str = Field(description="Human name of the backend.")
    formats: list[str] = Field(min_length=1, description="Model formats it takes.")
    package: str | None = Field(None, description="The Python distribution it comes from (its version goes in reports).")
    facts: list[str] = Field(default_factory=list, description="What to know about it.")


class SchemeEffect(_Strict):
    """How a scheme's .tflite proves it took effect, read back from the file."""

    weight_dtypes: list[str] = Field(min_length=1, description="The dtypes its quantized weights are stored in.")
    max_float_share: float = Field(ge=0, le=1, description="Largest share of the bytes of weight tensors of 1,024 values "
                                   "or more that may stay float (ops without a kernel of the scheme's type).")
    max_over_prediction: float | None = Field(None, gt=0, description="How far the file may exceed its predicted size; "
                                              "null where the search decides the size (selective_integer).")


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
    effect: SchemeEffect | None = Field(None, description="What its .tflite must show to count as quantized by it.")


class RecoveryEffect(_Strict):
    """What a recovery rung is expected to do to its scheme's fidelity, measured by a benchmark."""

    sqnr_gain_db: float = Field(description="Median gain of the worst output's SQNR against float32 over the plain scheme, dB.")
    helped: str = Field(description="On how many of the benchmark's models it raised the SQNR, e.g. '2 of 3'.")
    source: str = Field(description="The benchmark and models the figures come from.")


class PreStep(_Strict):
    title: str = Field(description="Human name of the pre-step.")
    kind: Literal["compression", "recovery"] = Field(
        "compression", description="compression: shrinks the compressed file (pruning, clustering); recovery: makes "
        "quantizing lose less (equalize, bias_correction, adaround, distill).")
    data: str = Field(description="The least data level it needs.")
    fine_tune: bool = Field(description="It trains the model (needs can_fine_tune).")
    compressed_reduction: float = Field(
        0.0, ge=0, lt=1, description="Extra fraction of the compressed file it removes on top of the scheme."
    )
    source: str = Field(description="Where compressed_reduction (or the step's method) comes from.")
    executor: str | None = Field(None, description="'module:function' that carries the pre-step out.")
    formats: list[str] | None = Field(None, description="Model formats it takes (absent: every format).")
    model_need: str | None = Field(None, description="What a user needs when the model's format rules it out.")
    facts: list[str] = Field(min_length=1, description="The guide's facts about it.")


class SchemeCatalog(_Strict):
    data_levels: list[DataLevel] = Field(min_length=1, description="From least to most data.")
    accuracy_classes: list[AccuracyClass] = Field(min_length=1, description="From least to most loss.")
    schemes: dict[str, Scheme] = Field(min_length=1, description="Scheme id -> scheme.")
    pre_steps: dict[str, PreStep] = Field(default_factory=dict, description="Pre-step id -> pre-step.")
    model_formats: list[FormatEntry] = Field(default_factory=list, description="The model formats the rules know.")
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


class RecoveryRung(_Strict):
    """A scheme carried out after recovery pre-steps: one more rung of the ladder."""

    scheme: str = Field(description="The scheme the recovery steps prepare the model for.")
    pre_steps: list[str] = Field(min_length=1, description="Recovery pre-steps, in order.")
    after: list[str] = Field(default_factory=list, description="Schemes that come before this rung when they are on the ladder "
                             "(it always comes after its own scheme).")
    because: str = Field(description="Why this rung is there, and when it is reached.")
    expected: RecoveryEffect | None = Field(None, description="Its measured effect, from a benchmark.")

    @functools.cached_property
    def explained(self) -> str:
        """Why the rung is there, with its measured effect in words (asked on every recommendation)."""
        text = " ".join(self.because.split())
        effect = self.expected
        if effect is None:
            return text
        return (f"{text} Measured: {effect.sqnr_gain_db:+g} dB of SQNR over plain {self.scheme} (median; it helped "
                f"{effect.helped} models; {' '.join(effect.source.split())}).")


PAYLOADS = ("children", "ladder", "pre_steps", "rungs")


class Node(_Strict):
    id: str = Field(description="Rule id, shown in every explanation that cites it.")
    when: dict[str, Any] = Field(default_factory=dict, description="Facts that must hold; empty = always.")
    because: str = Field(description="Why, in the guide's terms.")
    children: list[Node] | None = Field(None, description="Sub-rules; the first that holds wins.")
    ladder: list[str] | None = Field(None, description="Leaf of the ladder part: schemes, most preferred first.")
    pre_steps: list[str] | None = Field(None, description="Leaf of the pre_steps part: pre-steps to run.")
    rungs: list[RecoveryRung] | None = Field(None, description="Leaf of the recovery part: rungs added to the ladder, cheapest first.")

    @model_validator(mode="after")
    def _inner_or_leaf(self) -> Node:
        payloads = [name for name in PAYLOADS if getattr(self, name) is not None]
        if len(payloads) != 1:
            raise ValueError(f"node '{self.id}' needs exactly one of {', '.join(PAYLOADS)} (has {payloads or 'none'})")
        return self


class Tree(_Strict):
    ladder: list[Node] = Field(min_length=1, description="Which schemes to try, first match wins.")
    pre_steps: list[Node] = Field(min_length=1, description="What to run before quantizing, first match wins.")
    recovery: list[Node] = Field(default_factory=list, description="Recovery rungs added to the ladder, first match wins.")
