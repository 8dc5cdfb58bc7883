"""What `advisor run` and `advisor check` write: report.json's models, as the contract fixes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from advisor.models.answers import Answers
from advisor.models.recommendation import Recommendation
from advisor.models.rung import attempt_label


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    op: str = Field(description="The operator (or 'model input' / 'model output').")
    index: int | None = Field(None, description="The operator's index in the graph.")
    reason: str = Field(description="Why the target cannot run it.")


class HardwareReport(_Model):
    hardware: str
    compatible: bool
    problems: list[Problem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    ops: int = Field(0, description="Operators in the model.")
    arena_bytes: int | None = Field(None, description="Smallest working tensor arena (microcontrollers, with tflite-micro).")
    float_ops: int = Field(0, description="Ops left computing in float in a quantized (mixed) model.")
    npu_ops: int | None = Field(None, description="Ops the NPU compiler placed on the NPU (Vela).")
    cpu_ops: int | None = Field(None, description="Ops the NPU compiler left to the CPU (Vela).")
    sram_bytes: int | None = Field(None, description="SRAM the compiled model uses (Vela).")
    flash_bytes: int | None = Field(None, description="Flash the compiled model uses (Vela).")
    dram_bytes: int | None = Field(None, description="DRAM the compiled model uses (Vela), where the memory mode has it.")
    estimated_ms: float | None = Field(None, description="The compiler's estimate of one inference, in ms.")
    cycles: int | None = Field(None, description="The compiler's estimate of one inference, in NPU cycles.")
    clock_hz: float | None = Field(None, description="The NPU clock of the estimate.")
    estimated_by: str | None = Field(None, description="Who estimated, for which configuration and clock.")
    compiled: bytes | None = Field(None, exclude=True, description="The compiled model (kept in attempts/).")
    root_causes: list[str] = Field(default_factory=list, description="The float ops' types with no int8 kernel.")


class OutputFidelity(_Model):
    kind: Literal["scores", "values"] | None = Field(None, description="What the output holds: class scores or values.")
    sqnr_db: float | None = Field(None, description="Signal-to-quantization-noise ratio against float32, dB (capped at 200).")
    cosine: float | None = Field(None, description="Mean cosine similarity of each input's output with float32's.")
    max_abs_error: float | None = Field(None, description="Largest absolute difference from float32's output.")
    relative_error: float | None = Field(None, description="Mean over inputs of |output - float32's| / |float32's| (L2 norms).")
    top1_agreement: float | None = Field(
        None, description="Scores with 2 or more classes: share of inputs (of positions, for sequence or image outputs) "
        "whose top-1 along the last axis is float32's."
    )
    decision_agreement: float | None = Field(
        None, description="One sigmoid or logit: share of inputs (or positions) whose decision (above 0.5, or 0 for a "
        "logit) is float32's."
    )

    @property
    def agreement(self) -> float | None:
        return self.top1_agreement if self.top1_agreement is not None else self.decision_agreement


class Fidelity(_Model):
    inputs: str = Field(description="The inputs it was measured on.")
    calibration_data: bool = Field(False, description="Those inputs are the calibration data itself.")
    outputs: dict[str, OutputFidelity] = Field(description="Per output, by name.")

    @property
    def worst_sqnr_db(self) -> float | None:
        values = [o.sqnr_db for o in self.outputs.values() if o.sqnr_db is not None]
        return min(values) if values else None

    @property
    def prediction_change(self) -> float | None:
        """The largest share of inputs whose top-1 class (or decision) changed, over the outputs of class scores."""
        values = [1 - o.agreement for o in self.outputs.values() if o.agreement is not None]
        return round(max(values), 6) if values else None

    @property
    def worst_output(self) -> str | None:
        measured = {name: o.sqnr_db for name, o in self.outputs.items() if o.sqnr_db is not None}
        return min(measured, key=measured.get) if measured else None


class SelectiveStep(_Model):
    float_layers: int = Field(description="How many of the worst-ranked layers this candidate kept in float.")
    layers: list[str]
    accuracy_drop: float | None = Field(None, description="Its accuracy drop (or the share of top-1 changes bounding it) on the search data.")
    size_bytes: int
    size_goal_holds: bool


class RankedLayer(_Model):
    layer: str
    op: str
    rmse_over_scale: float = Field(description="Its quantization error, as LiteRT's debugger ranks layers.")


class RecoveryRecord(_Model):
    """What one recovery step did to the model before quantizing it."""

    step: str
    float_sqnr_db: float | None = Field(None, description="The rewritten float model's outputs against the original's, dB.")
    before: dict[str, float | None] = Field(default_factory=dict, description="Full integer's fidelity before the step "
                                            "(worst SQNR, top-1 change) on the representative inputs.")
    after: dict[str, float | None] = Field(default_factory=dict, description="The same after the step.")
    layers: list[str] = Field(default_factory=list, description="The layers it changed.")
    seconds: float | None = None
    notes: list[str] = Field(default_factory=list)


class StepFindings(_Model):
    """What steps measure beside the .tflite, each a field of the attempt's metrics."""

    recovery: list[RecoveryRecord] | None = Field(None, description="What each recovery step did, in order (reported "
                                                  "in the attempt's `recovery`, not in its metrics).")
    target_sparsity: float | None = Field(None, description="Pruning's target share of zero weights.")
    sparsity: float | None = Field(None, description="The share of stored weight values that are zero, read from the .tflite.")
    unique_weights: dict[str, int] | None = Field(None, description="Per weight tensor, its distinct values (per channel, the most).")
    clusters: int | None = Field(None, description="Clustering's centroids per weight tensor.")
    qat_train_accuracy: float | None = Field(None, description="Quantization-aware training's last training accuracy.")
    qat_unannotated_layers: list[str] | None = Field(None, description="Layers TFMOT does not support, left float while training.")
    float_layers: list[str] | None = Field(None, description="selective_integer: the layers kept in float.")
    selective_steps: list[SelectiveStep] | None = Field(None, description="selective_integer: each candidate its search tried.")
    layer_ranking: list[RankedLayer] | None = Field(None, description="selective_integer: the worst-ranked layers.")
    selective_judged_on: str | None = Field(None, description="selective_integer: the data its candidates were judged on.")

    def merged(self, other: StepFindings) -> StepFindings:
        """These findings with `other`'s laid over them (its records of recovery steps added to these)."""
        update = {name: getattr(other, name) for name in type(other).model_fields if getattr(other, name) is not None}
        if self.recovery and other.recovery:
            update["recovery"] = [*self.recovery, *other.recovery]
        return self.model_copy(update=update)


class Metrics(StepFindings):
    size_bytes: int
    gzip_bytes: int
    size_reduction: float | None = Field(None, description="Against the float32 baseline (on gzip sizes for a compressed download).")
    accuracy: float | None = None
    baseline_accuracy: float | None = None
    accuracy_drop: float | None = None
    accuracy_metric: str | None = Field(None, description="Which metric `accuracy` is.")
    eval_samples: int | None = None
    latency_ms: float | None = Field(None, description="Median single-inference latency on this host's CPU.")
    latency_p90_ms: float | None = None
    latency_threads: int | None = None
    ram_bytes: int | None = Field(None, description="Working memory on the target (the TFLM tensor arena; Vela's SRAM).")
    flash_bytes: int | None = Field(None, description="Flash the compiled model uses on the target (Vela), where known.")
    fidelity: Fidelity | None = Field(None, description="Outputs against the float32 model's, per output.")

    def judged_size(self, compressed: bool) -> int:
        """The size the size goals are judged on: the gzip file's for a compressed download."""
        return self.gzip_bytes if compressed else self.size_bytes


class Verdict(_Model):
    goal: str
    limit: float | bool | None
    measured: float | None
    status: Literal["pass", "fail", "not_measured"]
    reason: str | None = None


class Attempt(_Model):
    scheme: str
    pre_steps: list[str] = Field(default_factory=list)
    backend: str | None = Field(None, description="What carried the scheme out: converter (TFLite converter) or quantizer (LiteRT Quantizer).")
    variant: str | None = Field(None, description="The backend, when the search tried more than one for the scheme (compare).")
    artifact: str | None = Field(None, description="Path of the .tflite, relative to the output folder.")
    metrics: Metrics | None = None
    hardware: HardwareReport | None = None
    verdicts: list[Verdict] = Field(default_factory=list)
    passed: bool = False
    error: str | None = Field(None, description="Why the attempt could not be made or measured (a crash with its "
                              "signal), or why its file shows the scheme did not take effect.")
    weights_by_dtype: dict[str, int] = Field(default_factory=dict, description="Bytes of the constant tensors in the "
                                             ".tflite by dtype, read back from the file.")
    recovery: list[RecoveryRecord] | None = Field(None, description="What each recovery step did, in order (when the "
                                                  "attempt had recovery pre-steps).")
    warnings: list[str] = Field(default_factory=list, description="What to know before shipping it, whatever the goals say.")
    notes: list[str] = Field(default_factory=list)
    seconds: float | None = Field(None, description="Wall time of producing and measuring the attempt.")

    @property
    def label(self) -> str:
        return attempt_label(self.scheme, self.pre_steps, self.variant)


class Baseline(_Model):
    artifact: str
    metrics: Metrics
    weights_by_dtype: dict[str, int] = Field(default_factory=dict)


class Report(_Model):
    recommendation: Recommendation
    baseline: Baseline | None
    attempts: list[Attempt]
    chosen: int | None
    stopped_by_budget: str | None = Field(None, description="Why the budget ended the search, when it did.")
    untried: list[str] = Field(default_factory=list, description="Attempts the budget left untried.")
    error: str | None = Field(None, description="Why nothing could be attempted (the float32 baseline could not be made), when so.")
    notes: list[str] = Field(default_factory=list)
    environment: dict[str, Any] = Field(default_factory=dict)
    answers: Answers | None = Field(None, description="The answers carried out, input paths absolute: what `advisor verify` "
                                    "re-measures against.")
