"""A cost estimate summed up for people and tools: the figures of the GPU that bounds each one
(`per_gpu`), the documented JSON shape (`cost_data`), and two estimates side by side with the
ratio new / current (`cost_rows`), as `dagtui compare` and the comparison section of the reports
show them.

`per_gpu` takes, for each figure, the largest over the pipeline stages: memory from the stage
whose GPUs hold the most, FLOPs and bytes sent each from the stage that does or sends the most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dagtui.cost.estimate import AXES, CostEstimate, StageCost, Unavailable
from dagtui.cost.units import binary_bytes, decimal, seconds

Estimate = CostEstimate | Unavailable | None


@dataclass(frozen=True)
class PerGpu:
    memory: dict[str, int]  # weights, kv_cache, activations, total (bytes, the most loaded GPU)
    weights: dict[str, int]  # the same GPU's weights by part (estimate.PARTS)
    flops: dict[str, int | None]  # prefill, decode_step
    comm_prefill: dict[str, int] | None  # tp, ep, pp: bytes one GPU sends per prefill step
    comm_decode: dict[str, int] | None  # the same per decode step


def per_gpu(cost: CostEstimate) -> PerGpu:
    busiest = cost.busiest
    memory = {"weights": busiest.weights_total, "kv_cache": busiest.kv_cache or 0,
              "activations": busiest.activations or 0, "total": busiest.memory_total}
    return PerGpu(
        memory=memory, weights=dict(busiest.weights),
        flops={"prefill": cost.most(lambda s: s.flops_prefill), "decode_step": cost.most(lambda s: s.flops_decode)},
        comm_prefill=_comm(cost.stages, decode=False), comm_decode=_comm(cost.stages, decode=True),
    )


def _comm(stages: tuple[StageCost, ...], decode: bool) -> dict[str, int] | None:
    by_stage = [stage.comm_by_axis(decode) for stage in stages]
    if any(totals is None for totals in by_stage):
        return None
    return {axis: max(totals[axis] for totals in by_stage) for axis in AXES}  # type: ignore[index]


def cost_data(cost: Estimate) -> dict | None:
    """The estimate as plain data (the `cost` object of the JSON reports; README "JSON")."""
    if cost is None:
        return None
    if isinstance(cost, Unavailable):
        return {"unavailable": cost.reason}
    gpu = per_gpu(cost)
    d = cost.degrees
    return {
        "params_total": cost.params_total,
        "params_active": cost.params_active,
        "kv_bytes_per_token": cost.kv_bytes_per_token,
        "degrees": {"ep": d.ep, "tp": d.tp, "pp": d.pp, "dp": d.dp},
        "gpus": cost.gpus,
        "per_gpu": {
            "memory_bytes": gpu.memory,
            "weights_bytes": gpu.weights,
            "flops": gpu.flops,
            "comm_bytes": gpu.comm_prefill,
            "comm_bytes_decode_step": gpu.comm_decode,
        },
        "bubble": cost.bubble,
        "prefill_seconds": cost.prefill_seconds,
        "decode_step_seconds": cost.decode_step_seconds,
        "decode_tokens_per_second": cost.decode_tokens_per_second,
        "hardware": cost.hardware.name if cost.hardware else None,
        "hbm_bytes": cost.hardware.hbm_capacity if cost.hardware else None,
        "stages": [_stage_data(stage) for stage in cost.stages],
        "notes": list(cost.notes),
    }


def _stage_data(stage: StageCost) -> dict:
    return {
        "index": stage.index, "layers": [stage.layers[0], stage.layers[-1]] if stage.layers else [],
        "weights_bytes": dict(stage.weights), "kv_cache_bytes": stage.kv_cache, "activation_bytes": stage.activations,
        "memory_bytes": stage.memory_total, "flops": {"prefill": stage.flops_prefill, "decode_step": stage.flops_decode},
        "comm_bytes": stage.comm_prefill, "comm_bytes_decode_step": stage.comm_decode,
        "seconds": {"prefill_micro_batch": stage.seconds_prefill, "decode_micro_batch": stage.seconds_decode},
    }


@dataclass(frozen=True)
class CostRow:
    """One metric of two estimates: the figures as text, the numbers, and new / current; `stages`:
    in each estimate, the pipeline stage whose GPU gives the figure (None for a figure of the whole
    deployment: GPUs, bubble, times), for a view to show the nodes behind it."""

    metric: str
    values: tuple[str, str]
    numbers: tuple[float | None, float | None]
    ratio: str
    stages: tuple[StageCost | None, StageCost | None] = (None, None)


def ratio_text(current: float | None, new: float | None) -> str:
    """`×0.71`; `=` when both are zero; `—` when either is missing or only the current is zero."""
    if current is None or new is None:
        return "—"
    if current == 0:
        return "=" if new == 0 else "—"
    return f"×{new / current:.3g}"


_Figure = Callable[[CostEstimate, PerGpu], "float | None"]
_Stage = Callable[[CostEstimate], "StageCost | None"]


def _largest(value: Callable[[StageCost], float | None]) -> _Stage:
    """The stage with the largest `value` (the first of equals), as `CostEstimate.most` takes it."""
    def stage(cost: CostEstimate) -> StageCost | None:
        known = [s for s in cost.stages if value(s) is not None]
        return max(known, key=lambda s: (value(s), -s.index)) if known else None
    return stage


def _busiest(cost: CostEstimate) -> StageCost:
    return cost.busiest


def _whole(cost: CostEstimate) -> None:
    return None


def percent(value: float) -> str:
    """`33%`, and two significant figures under 10% (`0.39%`): an HBM barely used is not 0%."""
    return f"{value:.0%}" if value == 0 or value >= 0.1 else f"{value * 100:.2g}%"


def _rows() -> list[tuple[str, _Figure, Callable[[float], str], _Stage]]:
    def axis(name: str, decode: bool) -> _Figure:
        return lambda c, g: ((g.comm_decode if decode else g.comm_prefill) or {}).get(name)

    def axis_stage(name: str, decode: bool) -> _Stage:
        return _largest(lambda s: (s.comm_by_axis(decode) or {}).get(name))

    rows: list[tuple[str, _Figure, Callable[[float], str], _Stage]] = [
        ("GPUs", lambda c, g: c.gpus, lambda v: f"{v:,.0f}", _whole),
        ("Weights per GPU", lambda c, g: g.memory["weights"], binary_bytes, _busiest),
        ("KV cache per GPU", lambda c, g: g.memory["kv_cache"] if c.workload else None, binary_bytes, _busiest),
        ("Activations per GPU", lambda c, g: g.memory["activations"] if c.workload else None, binary_bytes, _busiest),
        ("Memory per GPU", lambda c, g: g.memory["total"], binary_bytes, _busiest),
        ("HBM used", lambda c, g: g.memory["total"] / c.hardware.hbm_capacity if c.hardware else None, percent, _busiest),
        ("FLOPs per GPU, prefill", lambda c, g: g.flops["prefill"], lambda v: decimal(v, "FLOP"),
         _largest(lambda s: s.flops_prefill)),
        ("FLOPs per GPU, decode step", lambda c, g: g.flops["decode_step"], lambda v: decimal(v, "FLOP"),
         _largest(lambda s: s.flops_decode)),
    ]
    for decode in (False, True):
        step = "decode step" if decode else "prefill"
        rows += [(f"{name.upper()} bytes sent per GPU, {step}", axis(name, decode), binary_bytes, axis_stage(name, decode))
                 for name in AXES]
    rows += [
        ("Pipeline bubble", lambda c, g: c.bubble, percent, _whole),
        ("Prefill time (one replica's batch)", lambda c, g: c.prefill_seconds, seconds, _whole),
        ("Decode tokens/s (all replicas)", lambda c, g: c.decode_tokens_per_second, lambda v: f"{v:,.0f}", _whole),
    ]
    return rows


def cost_rows(current: Estimate, new: Estimate) -> list[CostRow]:
    """The cost table of two deployments; a side without an estimate shows why in its first row."""
    estimates = (current, new)
    gpus = tuple(per_gpu(c) if isinstance(c, CostEstimate) else None for c in estimates)
    rows = []
    for metric, figure, shown, stage in _rows():
        numbers = tuple(figure(c, g) if isinstance(c, CostEstimate) and g else None for c, g in zip(estimates, gpus))
        texts = tuple("—" if n is None else shown(n) for n in numbers)
        stages = tuple(stage(c) if isinstance(c, CostEstimate) and n is not None else None for c, n in zip(estimates, numbers))
        rows.append(CostRow(metric, texts, numbers, ratio_text(*numbers), stages))  # type: ignore[arg-type]
    reasons = tuple(c.reason if isinstance(c, Unavailable) else "no --model" if c is None else None for c in estimates)
    if any(reasons):
        rows.insert(0, CostRow("Cost estimate", tuple(r or "computed" for r in reasons), (None, None), "—"))  # type: ignore[arg-type]
    return rows
