"""Check a .tflite against a target's requirements (rules/hardware.yaml `check:`), op by op."""

from __future__ import annotations

from dataclasses import dataclass

from advisor.engine.rules import RuleSet
from advisor.models.rules import HardwareCheck, Target
from advisor.models.report import HardwareReport, Problem
from advisor.reading.tflite import Graph, OpInfo, read_graph

FLOATS = {"float32", "float16", "float64"}
EIGHT_BIT = {"int8", "uint8"}
_ITEMSIZE = {"float32": 4, "float16": 2, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1}


def check_model(content: bytes | str, hardware: str, rules: RuleSet, *, latency_goal: bool = False) -> HardwareReport:
    """`check` for the target named `hardware` in a rule set."""
    return check(content, rules.targets[hardware], hardware, rules.int8_kernels, latency_goal=latency_goal)


def check(content: bytes | str, target: Target, hardware: str, int8_kernels: frozenset[str] = frozenset(), *,
          latency_goal: bool = False) -> HardwareReport:
    """A .tflite against one target's requirements (`target.check`), op by op; `int8_kernels`: the ops
    LiteRT has an int8 kernel for (the rest are the root cause of a mixed model)."""
    graph = read_graph(content)
    req = target.check
    mixed = mixed_precision(graph, int8_kernels)
    problems: list[Problem] = []
    for op in graph.ops:
        reasons = _op_reasons(op, req, hardware)
        if mixed and op.index in mixed.float_indexes and any("activations" in r for r in reasons):
            reasons = [mixed.why(op)] + [r for r in reasons if "activations" not in r]
        if reasons:
            problems.append(Problem(op=op.name, index=op.index, reason="; ".join(reasons)))
    problems = _io_problems(graph, req, hardware) + problems
    warnings, notes = [], list(req.notes)
    op_problems = [p for p in problems if p.index is not None]
    if req.maps_prefix_only and op_problems:
        first = op_problems[0]
        on_cpu = len(graph.ops) - first.index
        notes.append(
            f"the {hardware} compiler maps ops only up to the first unsupported one: ops 0-{first.index - 1} "
            f"({first.index} of {len(graph.ops)}) would run on {hardware}, and {on_cpu} from op {first.index} "
            f"({first.op}) on the CPU"
            if first.index > 0
            else f"the {hardware} compiler stops at op 0 ({first.op}): all {len(graph.ops)} ops would run on the CPU"
        )
    if req.parameter_cache_bytes:
        constant = sum(t.elements * _ITEMSIZE.get(t.dtype, 4) for t in graph.tensors if t.constant)
        if constant > req.parameter_cache_bytes:
            warnings.append(
                f"{constant / 1e6:.1f} MB of parameters exceed the ~{req.parameter_cache_bytes / 1e6:.0f} MB on-chip "
                "parameter cache: the rest streams from host memory, which is slower"
            )
    if mixed:
        notes.append(mixed.note())
    if latency_goal and "hybrid" in req.latency_notes and any(_is_hybrid(op) for op in graph.ops):
        notes.append(" ".join(req.latency_notes["hybrid"].split()))
    vela_figures = {}
    if req.checker is not None and req.checker.name == "vela":
        vela_figures = _vela(content, req.checker, problems, warnings, notes)
    arena = None
    if req.arena_check:
        arena, notes_or_problem = _micro_arena(content)
        if isinstance(notes_or_problem, Problem):
            problems.append(notes_or_problem)
        elif notes_or_problem:
            notes.append(notes_or_problem)
    return HardwareReport(
        hardware=hardware,
        compatible=not problems,
        problems=problems,
        warnings=warnings,
        notes=notes,
        ops=len(graph.ops),
        arena_bytes=arena,
        float_ops=len(mixed.float_ops) if mixed else 0,
        root_causes=mixed.cause_names() if mixed else [],
        **vela_figures,
    )


def _vela(content, checker, problems: list[Problem], warnings: list[str], notes: list[str]) -> dict:
    """Compile with Vela; every op it leaves to the CPU is a problem, with Vela's reason."""
    from advisor.validator import vela

    if not vela.available():
        warnings.append("Vela is not installed (the optional ethos-u-vela package, which make installs): the NPU "
                        "placement, memory and time are not known; pip install ethos-u-vela")
        return {}
    data = content if isinstance(content, (bytes, bytearray)) else open(content, "rb").read()
    result = vela.compile_model(bytes(data), checker)
    if result.error:
        problems.append(Problem(op="model", index=None, reason=result.error))
        return {}
    for op, reason in result.cpu_placements:
        problems.append(Problem(op=op, index=None, reason=f"Vela places it on the CPU, not the NPU: {reason}"))
    if result.cpu_ops and not result.cpu_placements:
        problems.append(Problem(op="model", index=None, reason=f"Vela places {result.cpu_ops} op(s) on the CPU"))
    total = (result.npu_ops or 0) + (result.cpu_ops or 0)
    clock = f"{result.clock_hz / 1e6:g} MHz" if result.clock_hz else f"{checker.clock_mhz:g} MHz"
    storage = f"{result.flash_bytes / 1024:.1f} KiB flash" + (f", {result.dram_bytes / 1024:.1f} KiB DRAM" if result.dram_bytes else "")
    notes.append(f"Vela ({result.system}): {result.npu_ops} of {total} ops on the NPU, {result.sram_bytes / 1024:.1f} KiB "
                 f"SRAM, {storage}, about {result.estimated_ms:.3f} ms at {clock}")
    return {
        "npu_ops": result.npu_ops, "cpu_ops": result.cpu_ops, "sram_bytes": result.sram_bytes,
        "flash_bytes": result.flash_bytes, "dram_bytes": result.dram_bytes or None, "estimated_ms": result.estimated_ms,
        "cycles": result.cycles, "clock_hz": result.clock_hz, "compiled": result.compiled,
        "estimated_by": f"estimated by Vela for {checker.accelerator}, {checker.system_config} at {clock}",
    }


@dataclass(frozen=True)
class MixedPrecision:
    """A quantized model with ops left in float: the ops with no integer kernel (the root cause)
    and the ones kept in float only because their neighbours are."""

    computing: int  # ops that compute (QUANTIZE and DEQUANTIZE left out)
    float_ops: tuple[OpInfo, ...]
    causes: tuple[OpInfo, ...]

    @property
    def float_indexes(self) -> set[int]:
        return {op.index for op in self.float_ops}

    def cause_names(self) -> list[str]:
        return _counted(self.causes)

    def why(self, op: OpInfo) -> str:
        if op in self.causes:
            return f"{op.name} has no int8 kernel in LiteRT, so it stays float"
        causes = ", ".join(self.cause_names()) or "ops without an int8 kernel"
        return f"float activations: kept float beside {causes}"

    def note(self) -> str:
        share = len(self.float_ops) / self.computing
        text = f"mixed precision: {len(self.float_ops)} of {self.computing} ops ({share:.0%}) compute in float"
        neighbours = [op for op in self.float_ops if op not in self.causes]
        if not self.causes:
            return f"{text}: {', '.join(_counted(neighbours))} (each has an int8 kernel: kept float on purpose)"
        text += f"; no int8 kernel: {', '.join(self.cause_names())}"
        if neighbours:
            text += f"; kept float beside them: {', '.join(_counted(neighbours))}"
        return text


def mixed_precision(graph: Graph, int8_kernels: frozenset[str]) -> MixedPrecision | None:
    """None unless the model has both integer and float ops."""
    computing = [op for op in graph.ops if op.name not in ("QUANTIZE", "DEQUANTIZE")]
    integer = [op for op in computing if op.activation_dtypes() & {"int8", "int16"}]
    floating = tuple(op for op in computing if op.activation_dtypes() & FLOATS)
    if not integer or not floating:
        return None
    known = set(int8_kernels) | {op.name for op in integer}
    return MixedPrecision(len(computing), floating, tuple(op for op in floating if op.name not in known))


def _counted(ops) -> list[str]:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.name] = counts.get(op.name, 0) + 1
    return [f"{name} x{count}" if count > 1 else name for name, count in counts.items()]


def _micro_arena(content) -> tuple[int | None, Problem | str | None]:
    from advisor.validator import micro

    if not micro.available():
        return None, "install the optional tflite-micro package to load the model in the microcontroller interpreter and size its tensor arena"
    data = content if isinstance(content, (bytes, bytearray)) else open(content, "rb").read()
    arena, reason = micro.smallest_arena(bytes(data))
    if reason is not None:
        return None, Problem(op="model", index=None, reason=f"the LiteRT for Microcontrollers interpreter cannot run it: {reason}")
    return arena, f"runs in the LiteRT for Microcontrollers interpreter with a tensor arena of {arena:,} bytes (smallest found, to {micro.GRANULARITY} bytes)"


def _is_hybrid(op: OpInfo) -> bool:
    """Float activations computed with 8-bit weights: what dynamic-range quantization produces."""
    activations = {t.dtype for t in op.tensors if not t.constant}
    weights = {t.dtype for t in op.inputs if t.constant}
    return bool(activations & FLOATS and weights & EIGHT_BIT and op.name not in ("DEQUANTIZE", "QUANTIZE"))


def _op_reasons(op: OpInfo, req: HardwareCheck, hardware: str) -> list[str]:
    reasons = []
    if op.custom and not req.custom_ops:
        reasons.append(f"custom op {op.name} is not supported on {hardware}")
    elif req.ops is not None and not op.custom and op.name not in req.ops:
        reasons.append(f"{op.name} is not among the ops {hardware} supports")
    if req.activation_dtypes is not None:
        bad = sorted({t.dtype for t in op.tensors if not t.constant} - set(req.activation_dtypes))
        if bad:
            reasons.append(f"{'/'.join(bad)} activations ({hardware} computes in {', '.join(req.activation_dtypes)})")
    if req.weight_dtypes is not None:
        bad = sorted({t.dtype for t in op.inputs if t.constant} - set(req.weight_dtypes))
        if bad:
            reasons.append(f"{'/'.join(bad)} weights ({hardware} takes {', '.join(req.weight_dtypes)})")
    if not req.hybrid_ops and _is_hybrid(op):
        reasons.append(f"hybrid op: float activations with 8-bit weights (dynamic range), which {hardware} cannot run")
    if req.max_rank is not None:
        rank = max((len(t.shape) for t in op.tensors), default=0)
        if rank > req.max_rank:
            reasons.append(f"a tensor of rank {rank} (at most {req.max_rank} on {hardware})")
    if req.static_shapes and any(-1 in t.shape_signature for t in op.tensors):
        reasons.append(f"dynamic tensor shape ({hardware} needs static shapes)")
    if req.max_non_unit_dims is not None:
        for t in (t for t in op.tensors if not t.constant):
            outer = t.shape[: -req.max_non_unit_dims] if len(t.shape) > req.max_non_unit_dims else ()
            if any(d > 1 for d in outer):
                reasons.append(f"tensor {t.shape} has more than {req.max_non_unit_dims} dimensions above 1")
                break
    return reasons


def _io_problems(graph: Graph, req: HardwareCheck, hardware: str) -> list[Problem]:
    problems = []
    for role, tensors in (("model input", graph.inputs), ("model output", graph.outputs)):
        for t in tensors:
            reasons = []
            if req.io_dtypes is not None and t.dtype not in req.io_dtypes:
                reasons.append(f"{t.dtype} {role.split()[1]} ({hardware} needs {', '.join(req.io_dtypes)})")
            if role == "model input" and req.batch is not None and t.shape_signature and t.shape_signature[0] != req.batch:
                batch = "dynamic" if t.shape_signature[0] == -1 else t.shape_signature[0]
                reasons.append(f"batch {batch} ({hardware} needs a fixed batch of {req.batch})")
            if reasons:
                problems.append(Problem(op=role, index=None, reason="; ".join(reasons)))
    return problems
