"""The cost of one deployment: a model spec and the strategy and stages the DAG shows (declared,
inferred or given with --strategy), through the formulas of `formulas.py`, per stage and for the
most loaded GPU; with a hardware profile, roofline times too.

What the spec does not give is either assumed (and said, in `notes`, and remembered in `assumed`
so that the memory rules do not call an assumption an error) or not computed (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dagtui.cost import formulas as f
from dagtui.cost.formulas import Degrees, ModelDims, StageShape, Workload
from dagtui.cost.hardware import HardwareProfile
from dagtui.cost.nodes import drawn_disagreements
from dagtui.model.deployment import Deployment
from dagtui.model.spec import DTYPE_BYTES, ModelSpec
from dagtui.model.strategy import Strategy

PARTS = ("attention", "mlp", "experts", "embedding", "other")
AXES = ("tp", "ep", "pp")


@dataclass(frozen=True)
class Unavailable:
    """No estimate: why (a key the spec lacks)."""

    reason: str


@dataclass(frozen=True)
class StageCost:
    """One GPU of one pipeline stage. FLOPs and bytes moved are per step (every micro-batch of a
    prefill, or of one decode step); seconds are one micro-batch's pass through the stage."""

    index: int
    layers: tuple[int, ...]  # the model's layers (from 0) the stage holds
    shape: StageShape
    weights: dict[str, int]  # bytes, by part (PARTS)
    kv_cache: int | None = None
    activations: int | None = None
    flops_prefill: int | None = None
    flops_decode: int | None = None
    comm_prefill: dict[str, int] | None = None  # bytes, by collective (formulas.COLLECTIVE_AXIS)
    comm_decode: dict[str, int] | None = None
    seconds_prefill: float | None = None
    seconds_decode: float | None = None

    @property
    def weights_total(self) -> int:
        return sum(self.weights.values())

    @property
    def memory_total(self) -> int:
        return self.weights_total + (self.kv_cache or 0) + (self.activations or 0)

    def comm_by_axis(self, decode: bool = False) -> dict[str, int] | None:
        comm = self.comm_decode if decode else self.comm_prefill
        if comm is None:
            return None
        totals = dict.fromkeys(AXES, 0)
        for name, count in comm.items():
            totals[f.COLLECTIVE_AXIS[name]] += count
        return totals


@dataclass(frozen=True)
class CostEstimate:
    """The cost of one deployment; `per_gpu` figures are those of its most loaded GPU."""

    dims: ModelDims
    degrees: Degrees
    workload: Workload | None
    params_total: int
    params_active: int
    kv_bytes_per_token: int
    stages: tuple[StageCost, ...]
    bubble: float
    hardware: HardwareProfile | None = None
    prefill_seconds: float | None = None
    decode_step_seconds: float | None = None
    decode_tokens_per_second: float | None = None  # the whole deployment: DP replicas of b sequences
    notes: tuple[str, ...] = ()
    assumed: frozenset[str] = field(default_factory=frozenset)  # spec keys whose values were assumed

    @property
    def busiest(self) -> StageCost:
        """The stage whose GPUs hold the most memory (the first of equals)."""
        return max(self.stages, key=lambda stage: (stage.memory_total, -stage.index))

    def most(self, value) -> int | None:
        """The largest of `value(stage)` over the stages, None when a stage has none."""
        values = [value(stage) for stage in self.stages]
        return None if any(v is None for v in values) else max(values)

    @property
    def gpus(self) -> int:
        d = self.degrees
        return d.ep * d.tp * d.pp * d.dp


def resolve(spec: ModelSpec) -> tuple[ModelDims, Workload | None, list[str], set[str]] | Unavailable:
    """The spec with defaults filled in: (dims, workload or None, notes, keys assumed)."""
    missing = [key for key in ("layers", "hidden_size", "heads") if not getattr(spec, key)]
    if missing:
        return Unavailable(f"the cost model needs layers, hidden_size and heads in --model (missing: {', '.join(missing)})")
    assert spec.layers and spec.hidden_size and spec.heads
    notes: list[str] = []
    assumed: set[str] = set()
    hidden = spec.hidden_size

    def assume(key: str, value, text: str):
        assumed.add(key)
        notes.append(f"{key} not given: {text}")
        return value

    experts = spec.experts or 0
    dense = min(spec.dense_layers or 0, spec.layers) if experts else spec.layers
    ffn = spec.ffn_hidden_size or (assume("ffn_hidden", 4 * hidden, f"4 x hidden = {4 * hidden} assumed") if dense else 0)
    moe_ffn = 0
    if experts:
        moe_ffn = spec.moe_ffn_hidden_size or spec.ffn_hidden_size or assume(
            "moe_ffn_hidden", 4 * hidden, f"4 x hidden = {4 * hidden} assumed for each expert")
    top_k = spec.top_k or (assume("top_k", 2, "2 assumed") if experts else 0)
    gated = spec.gated_mlp if spec.gated_mlp is not None else assume("gated_mlp", False, "two matrices per MLP assumed (not SwiGLU)")
    dtype = spec.dtype or assume("dtype", "bf16", "bf16 assumed")
    if not spec.vocab_size:
        notes.append("vocab not given: the embedding and LM head are not counted")
    dims = ModelDims(
        layers=spec.layers, dense_layers=dense, hidden=hidden, heads=spec.heads, kv_heads=spec.kv_head_count or spec.heads,
        head_dim=spec.head_dim or hidden // spec.heads, ffn=ffn, experts=experts, top_k=top_k,
        shared_experts=spec.shared_experts or 0 if experts else 0, moe_ffn=moe_ffn, vocab=spec.vocab_size or 0,
        tied=bool(spec.tied_embeddings), matrices=3 if gated else 2, dtype=dtype, weight_bytes=DTYPE_BYTES[dtype],
        kv_bytes=DTYPE_BYTES[spec.kv_dtype or dtype], act_bytes=4 if dtype == "fp32" else 2,
    )
    workload = None
    if spec.batch_size and spec.seq_len:
        workload = Workload(spec.batch_size, spec.seq_len, spec.decode_tokens or 0, spec.micro_batches or 1)
    else:
        notes.append("no batch_size and seq_len: the KV cache, activations, FLOPs, communication and times are not computed")
    return dims, workload, notes, assumed


def degrees_of(strategy: Strategy, dims: ModelDims) -> tuple[Degrees, list[str]]:
    """The strategy's degrees, 1 for those it leaves unknown (said in a note)."""
    notes = []
    values = {}
    for axis in ("ep", "tp", "pp", "dp"):
        value = strategy.degree(axis)
        if value is None:
            if axis != "ep" or dims.experts:
                notes.append(f"{axis.upper()} unknown: taken as 1")
            value = 1
        values[axis] = value
    if values["ep"] > 1 and not dims.experts:
        notes.append(f"EP{values['ep']} over a model without experts: the EP groups only split the batch")
    return Degrees(**values), notes


def split_layers(layers: int, pp: int, claims: list[list[int] | None]) -> tuple[list[list[int]], str | None]:
    """The model's layers (from 0) on each stage: the ranges the stages claim when they split the
    model exactly (numbered from 0 or 1), else an even split, earlier stages taking the remainder."""
    note = None
    if claims:
        flat = [layer for claim in claims for layer in (claim or [])]
        base = min(flat, default=0)
        shifted = [[layer - base for layer in claim] for claim in claims if claim]
        if len(claims) == pp and len(shifted) == pp and base in (0, 1) and sorted(flat) == list(range(base, base + layers)):
            return shifted, None
        note = f"the layer ranges the stages claim do not split the {layers} layers over PP{pp}: an even split is used"
    split, start = [], 0
    for index in range(pp):
        size = layers // pp + (1 if index < layers % pp else 0)
        split.append(list(range(start, start + size)))
        start += size
    return split, note


def estimate(spec: ModelSpec, strategy: Strategy, claims: list[list[int] | None] | None = None,
             hardware: HardwareProfile | None = None) -> CostEstimate | Unavailable:
    """The cost of running `spec` under `strategy`, with the stage layer ranges a DAG claims."""
    resolved = resolve(spec)
    if isinstance(resolved, Unavailable):
        return resolved
    dims, workload, notes, assumed = resolved
    deg, degree_notes = degrees_of(strategy, dims)
    notes += degree_notes
    if deg.pp > dims.layers:
        return Unavailable(f"PP{deg.pp} has more stages than the model's {dims.layers} layers")
    split, split_note = split_layers(dims.layers, deg.pp, claims or [])
    if split_note:
        notes.append(split_note)
    stages = [_stage(dims, deg, workload, index, layers, hardware) for index, layers in enumerate(split)]
    peak_note = hardware.peak(dims.dtype)[1] if hardware else None
    if peak_note:
        notes.append(peak_note)
    result = CostEstimate(
        dims=dims, degrees=deg, workload=workload, params_total=f.params_total(dims), params_active=f.params_active(dims),
        kv_bytes_per_token=f.kv_bytes_per_token(dims), stages=tuple(stages),
        bubble=f.bubble(deg.pp, workload.micro_batches if workload else 1), hardware=hardware,
        notes=tuple(notes), assumed=frozenset(assumed),
    )
    if hardware and workload:
        m, p = workload.micro_batches, deg.pp
        prefill = (m + p - 1) * max(stage.seconds_prefill or 0.0 for stage in stages)
        step = max(m, p) * max(stage.seconds_decode or 0.0 for stage in stages)
        result = replace(result, prefill_seconds=prefill, decode_step_seconds=step,
                         decode_tokens_per_second=deg.dp * workload.batch / step if step else None)
    return result


def _stage(dims: ModelDims, deg: Degrees, workload: Workload | None, index: int, layers: list[int],
           hardware: HardwareProfile | None) -> StageCost:
    dense = sum(1 for layer in layers if layer < dims.dense_layers)
    shape = StageShape(dense=dense, moe=len(layers) - dense, first=index == 0, last=index == deg.pp - 1)
    weights = {part: params * dims.weight_bytes for part, params in f.stage_weight_params(dims, deg, shape).items()}
    stage = StageCost(index=index, layers=tuple(layers), shape=shape, weights=weights)
    if workload is None:
        return stage
    m = workload.micro_batches
    per_mb = {decode: (f.stage_flops(dims, deg, workload, shape, decode), f.stage_comm(dims, deg, workload, shape, decode))
              for decode in (False, True)}
    seconds = {decode: _seconds(dims, deg, workload, shape, sum(weights.values()), *per_mb[decode], decode, hardware)
               for decode in (False, True)}
    return StageCost(
        index=index, layers=tuple(layers), shape=shape, weights=weights,
        kv_cache=f.stage_kv_bytes(dims, deg, workload, shape),
        activations=f.stage_activation_bytes(dims, deg, workload, shape),
        flops_prefill=m * per_mb[False][0], flops_decode=m * per_mb[True][0],
        comm_prefill={name: m * count for name, count in per_mb[False][1].items()},
        comm_decode={name: m * count for name, count in per_mb[True][1].items()},
        seconds_prefill=seconds[False], seconds_decode=seconds[True],
    )


def link_bandwidths(deg: Degrees, hardware: HardwareProfile) -> dict[str, float]:
    """The link each axis's collectives use: within a node (NVLink) when the GPUs they join fit in
    one (TP: t GPUs; EP: EP·t; PP: two neighbouring stages, 2·EP·t), else between nodes."""
    spans = {"tp": deg.tp, "ep": deg.ep * deg.tp, "pp": 2 * deg.ep * deg.tp}
    return {axis: hardware.intra_node_bandwidth if span <= hardware.gpus_per_node else hardware.inter_node_bandwidth
            for axis, span in spans.items()}


def _seconds(dims: ModelDims, deg: Degrees, workload: Workload, shape: StageShape, weight_bytes: int, flops: int,
             comm: dict[str, int], decode: bool, hardware: HardwareProfile | None) -> float | None:
    """One micro-batch through one stage: the roofline of its compute and HBM traffic (weights
    read once, the KV cache written or read), then its communication, not overlapped."""
    if hardware is None:
        return None
    peak, _ = hardware.peak(dims.dtype)
    traffic = weight_bytes + f.stage_kv_traffic(dims, deg, workload, shape, decode)
    links = link_bandwidths(deg, hardware)
    talk = sum(count / links[f.COLLECTIVE_AXIS[name]] for name, count in comm.items())
    return f.roofline_seconds(flops, traffic, peak, hardware.hbm_bandwidth) + talk


def estimate_deployment(deployment: Deployment, spec: ModelSpec, hardware: HardwareProfile | None = None) -> CostEstimate | Unavailable:
    """`estimate` for a deployment: its strategy and the layer ranges its first replica's stages
    claim, with a note where the drawing disagrees with the spec."""
    replicas = deployment.replicas()
    stages = replicas[min(replicas)] if replicas else []
    claims = [stage.claimed_layers for stage in stages]
    result = estimate(spec, deployment.strategy, claims, hardware)
    if isinstance(result, Unavailable):
        return result
    disagreements = drawn_disagreements(deployment, spec, result.degrees.tp)
    return replace(result, notes=result.notes + tuple(disagreements)) if disagreements else result
