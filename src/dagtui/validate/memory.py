"""Memory rules: what the cost model (`dagtui.cost`) says one GPU holds, weights + KV cache +
activations, against the HBM of the hardware profile (`--hardware`).

They need the model's sizes (`--model`): without a spec nothing is judged and STG005 says so;
with a spec that lacks a size, or without a hardware profile, MEM003 says once, as information,
what was not checked and why.
"""

from __future__ import annotations

from dataclasses import replace

from dagtui.cost import CostEstimate, StageCost, Unavailable, estimate, estimate_deployment
from dagtui.cost.nodes import stage_nodes
from dagtui.cost.units import binary_bytes
from dagtui.model.strategy import Strategy
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges

# Spec keys that, when assumed, make a weight figure a guess: its findings are warnings.
_WEIGHT_KEYS = frozenset({"ffn_hidden", "moe_ffn_hidden", "gated_mlp", "dtype"})
_UNUSED = 0.5  # MEM002: the most loaded GPU uses less than this share of its HBM
_HEADROOM = 0.9  # MEM002: a smaller degree must leave this much of the HBM at most in use


def _cost(ctx: Context) -> CostEstimate | Unavailable | None:
    """The deployment's cost estimate, once per review; None without a model spec."""
    if ctx.spec is None:
        return None
    return ctx.shared("cost", lambda c: estimate_deployment(c.deployment, c.spec, c.hardware))  # type: ignore[arg-type]


def breakdown(stage: StageCost) -> str:
    """`51.2 GiB of weights + 12.0 GiB of KV cache + 3.1 GiB of activations = 66.3 GiB`."""
    parts = [f"{binary_bytes(stage.weights_total)} of weights"]
    if stage.kv_cache is not None:
        parts.append(f"{binary_bytes(stage.kv_cache)} of KV cache")
    if stage.activations is not None:
        parts.append(f"{binary_bytes(stage.activations)} of activations")
    return " + ".join(parts) + f" = {binary_bytes(stage.memory_total)}"


def where(stage: StageCost) -> str:
    """`stage 0 (layers 0-7)`, the model's layers counted from 0."""
    return f"stage {stage.index} (layers {compact_ranges(list(stage.layers))})"


@rule("MEM001", "memory", Severity.ERROR, "GPU memory exceeds the HBM")
def over_capacity(ctx: Context):
    """On every GPU, the weights it holds, the KV cache of its sequences and the activations of one
    micro-batch fit in the HBM of the hardware profile (`--hardware`). The figures are the cost
    model's (docs/cost-model.md): weights split as the strategy splits them, the KV cache of every
    sequence at prompt + decode length, one layer's activations.

    Why: a deployment that does not fit cannot start, or must shrink its batch until it fits;
    the DAG then promises a throughput it cannot reach.
    Example: Qwen3-235B-A22B in bf16 under EP8-TP1-PP1 (samples/qwen3-235b-a22b.yaml): 52.9 GiB of
    experts and 12.5 GiB of attention weights per GPU, with the KV cache of 8 sequences of 9k
    tokens (13.2 GiB) and the activations of one 8-sequence prefill (16.6 GiB), make 97.6 GiB, more
    than an H100's 80 GiB.
    Fix: Raise EP, TP or PP until each GPU's share fits, lower the batch or context, or quantise (fp8).
    """
    cost = _cost(ctx)
    if not isinstance(cost, CostEstimate) or cost.hardware is None:
        return
    capacity = cost.hardware.hbm_capacity
    over = [stage for stage in cost.stages if stage.memory_total > capacity]
    if not over:
        return
    worst = max(over, key=lambda stage: stage.memory_total)
    others = [s for s in over if s is not worst]
    also = f"; also {', '.join(where(s) for s in others)}" if others else ""
    guessed = sorted(cost.assumed & _WEIGHT_KEYS)
    axes = ("ep", "tp", "pp") if cost.dims.experts else ("tp", "pp")
    severity = ctx.severity_for(axes, [], Severity.ERROR)
    if guessed:
        severity = Severity.WARNING
    yield over_capacity.finding(
        f"Each GPU of {where(worst)} needs {breakdown(worst)}, more than the {binary_bytes(capacity)} of one "
        f"{cost.hardware.description} ({worst.memory_total / capacity:.0%}){also}; under "
        f"{ctx.deployment.strategy.label()}.",
        nodes=stage_nodes(ctx.deployment, worst.index, worst.layers), severity=severity,
        details=([f"Assumed, not given in --model: {', '.join(guessed)}."] if guessed else []) + _degree_notes(cost),
        fix="Split the model further (EP, TP or PP), serve fewer or shorter sequences per replica, or quantise the weights.",
    )


@rule("MEM002", "memory", Severity.INFO, "Most of the GPU memory unused")
def mostly_unused(ctx: Context):
    """The most loaded GPU uses less than half of its HBM and the deployment would still fit with
    one degree (TP, EP or PP) halved, on half the GPUs, using at most 90% of the HBM.

    Why: unused memory is idle GPUs; a smaller degree also means smaller collectives (TP), fewer
    all-to-all peers (EP) or a smaller bubble (PP). The KV cache can also take the space instead
    (a larger batch).
    Example: the 16-layer sample model under EP64-TP8-PP2 uses under 1 GiB of an 80 GiB H100.
    Fix: Halve the degree named (or raise the batch per replica until the memory is used).
    """
    cost = _cost(ctx)
    if not isinstance(cost, CostEstimate) or cost.hardware is None or cost.workload is None:
        return
    capacity = cost.hardware.hbm_capacity
    busiest = cost.busiest
    if busiest.memory_total >= _UNUSED * capacity:
        return
    fits = []
    for axis in ("tp", "ep", "pp"):
        degree = getattr(cost.degrees, axis)
        if degree < 2 or degree % 2:
            continue
        smaller = _halved(ctx.deployment.strategy, cost, axis)
        trial = estimate(ctx.spec, smaller, None, cost.hardware)  # type: ignore[arg-type]
        if isinstance(trial, CostEstimate) and trial.busiest.memory_total <= _HEADROOM * capacity:
            fits.append(f"{axis.upper()}{degree // 2} ({binary_bytes(trial.busiest.memory_total)})")
    if not fits:
        return
    yield mostly_unused.finding(
        f"The most loaded GPU, on {where(busiest)}, uses {binary_bytes(busiest.memory_total)} of the "
        f"{binary_bytes(capacity)} of one {cost.hardware.description} ({busiest.memory_total / capacity:.0%}); "
        f"the same workload fits with {' or '.join(fits)}, on half the GPUs.",
        nodes=stage_nodes(ctx.deployment, busiest.index, busiest.layers),
        fix="Halve the degree named, or give each replica more sequences to use the memory.",
    )


def _degree_notes(cost: CostEstimate) -> list[str]:
    """What the estimate took as 1 for lack of a degree: `TP unknown: taken as 1.`"""
    return [f"{note}." for note in cost.notes if "unknown: taken as 1" in note]


def _halved(strategy: Strategy, cost: CostEstimate, axis: str) -> Strategy:
    degrees = {name: getattr(cost.degrees, name) for name in ("ep", "tp", "pp", "dp")}
    degrees[axis] //= 2
    return replace(strategy, degrees={**strategy.degrees, **degrees}, declared=set(degrees))


@rule("MEM003", "memory", Severity.INFO, "Memory per GPU not checked")
def not_checked(ctx: Context):
    """Said once, as information, when the memory rules cannot judge although `--model` is given:
    the spec lacks layers, hidden size or heads, or no `--hardware` gives a capacity to compare
    with (the figures are given all the same). Without `--model`, STG005 says what was not checked.

    Why: a reviewer should know that a deployment was not found too large because it was not
    measured, not because it fits.
    Example: `dagtui check new.dot --model model.yaml` without --hardware: the most loaded GPU
    holds 229 MiB, and nothing says whether that fits.
    Fix: Pass --hardware (h100, h200, a100, b200 or a YAML profile), and layers, hidden_size and heads in --model.
    """
    cost = _cost(ctx)
    if cost is None:
        return
    if isinstance(cost, Unavailable):
        yield not_checked.finding(f"Memory per GPU not checked (MEM001, MEM002): {cost.reason}.",
                                  fix="Give layers, hidden_size and heads in the model spec.")
    elif cost.hardware is None:
        busiest = cost.busiest
        yield not_checked.finding(
            f"No --hardware given: memory per GPU not checked against a capacity (MEM001, MEM002). The most "
            f"loaded GPU, on {where(busiest)}, holds {breakdown(busiest)}.",
            fix="Pass --hardware (h100, h200, a100, b200 or a profile YAML).",
        )
