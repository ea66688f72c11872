"""Strategy rules: the strategy is found, agrees with what is drawn, with its stated GPU total,
and with the model (heads % TP, experts % EP, layers % PP)."""

from __future__ import annotations

from dagtui.model.deployment import expert_spread
from dagtui.validate.context import Context, reduction_group_size
from dagtui.validate.finding import Severity, rule


def _quote(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _highest_ranks(ctx: Context, axes: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """For each axis, the highest rank drawn and the first node that draws it (one pass)."""
    best: dict[str, tuple[int, str]] = {}
    for node_id, node in ctx.nodes.items():
        for ranks in (node.ranks, node.group):
            for axis, values in ranks.items():
                if values and axis in axes:
                    top = max(values)
                    if axis not in best or top > best[axis][0]:
                        best[axis] = (top, node_id)
    return best


def _draws_rank_zero(ctx: Context, axis: str) -> bool:
    return any(0 in node.rank(axis) for node in ctx.nodes.values())


# The rules that cannot run without an axis's degree (STG001 names them when it is unknown).
_NEEDS = {
    "ep": ("EXP001", "EXP002", "EXP005", "GPU002"),
    "tp": ("COM003", "SHP002", "TEN001", "TEN002", "TEN003", "TEN004", "GPU002"),
    "pp": ("PIP001", "GPU002"),
    "dp": ("GPU002",),
}


@rule("STG001", "strategy", Severity.INFO, "Strategy not written in the file")
def not_declared(ctx: Context):
    """The strategy can be found and parsed (graph label, name, comments, cluster and node labels,
    file name). Reported once, as information: what is not written is inferred from the drawing
    (ranks, stages, how operators spread over GPUs) or stays unknown, and the message says which
    rules could not run for lack of a degree.

    Why: without a declared strategy the reviewer checks the drawing against itself; a degree
    stated nowhere must not silently switch rules off.
    Example: a file whose labels show TP0-TP15 and EP0-EP31 but no `EP32-TP16-...` anywhere.
    Fix: Write the strategy in the graph label or title comment (`EP32-TP16-PP4-DP4`), or pass --strategy.
    """
    strategy = ctx.deployment.strategy
    inferred = [axis for axis in ("ep", "tp", "pp", "dp") if not strategy.is_declared(axis)]
    if not inferred:
        return
    unknown = [axis.upper() for axis in inferred if strategy.degree(axis) is None]
    seen = [f"{axis.upper()}{strategy.degree(axis)}" for axis in inferred if strategy.degree(axis) is not None]
    if strategy.declared:
        stated = "-".join(f"{axis.upper()}{strategy.degree(axis)}" for axis in ("ep", "tp", "pp", "dp", "sp") if axis in strategy.declared)
        text = f"The file declares {stated} only partly"
    else:
        text = "The strategy is written nowhere in the file"
    if seen:
        text += f"; inferred from what is drawn: {', '.join(seen)}"
    if unknown:
        text += f"; unknown: {', '.join(unknown)}"
    blind = sorted({code for axis in inferred if strategy.degree(axis) is None for code in _NEEDS[axis]})
    if blind:
        text += f". Not checked for lack of a degree: {', '.join(blind)}"
    yield not_declared.finding(
        text + ". Findings that rest on inferred degrees are warnings, not errors.",
        severity=Severity.INFO,
        fix="Write the strategy in the graph label (e.g. `label=\"EP32-TP16-PP4-DP4\"`) or pass --strategy.",
    )


@rule("STG002", "strategy", Severity.ERROR, "Declared degree disagrees with the ranks drawn or another statement")
def degrees_vs_drawn(ctx: Context):
    """The degrees agree with what the DAG shows (ranks drawn stay below the declared degree) and
    with each other: two places that state the whole file's strategy give the same degrees.

    Why: `TP15` drawn under a declared TP8 means either the strategy or the drawing is wrong; a
    title saying TP8 over a graph label saying TP4 leaves the reader to guess which one was built.
    Example: label says EP16 but experts are placed on EP0-EP31; `// TP8-PP2` over `label="TP4"`.
    Fix: State one degree per axis everywhere the file names its strategy, and draw ranks below it.
    """
    for axis, first, other in ctx.deployment.strategy.conflicts:
        if axis == "pp" and ctx.stages_settle(first, other):
            continue  # the stages drawn agree with one statement: PIP001 names the other
        on_file_name = "file name" in (first.source, other.source)
        yield degrees_vs_drawn.finding(
            f"The {first.source} states {axis.upper()}{first.degrees[axis]} (\"{_quote(first.text)}\") but the "
            f"{other.source} states {axis.upper()}{other.degrees[axis]} (\"{_quote(other.text)}\"); dagtui uses "
            f"{axis.upper()}{first.degrees[axis]}.",
            key=f"STG002:conflict:{axis}", severity=Severity.WARNING if on_file_name else None,
            title="Two statements of the strategy disagree",
            fix=f"State one {axis.upper()} degree everywhere the file names its strategy.",
        )
    for axis in ("tp", "ep"):
        drawn = ctx.drawn_below_declared(axis)
        if drawn:
            declared = ctx.degree(axis)
            what = "every tensor-parallel operator is drawn on" if axis == "tp" else "every MoE layer places all its experts on"
            shown = f"{what} {axis.upper()}0-{axis.upper()}{drawn - 1} only"
            if not any(node.rank(axis) for node in ctx.nodes.values()):  # no rank named: the groups drawn say it
                shown = (f"every all-reduce after a row-parallel projection spans {drawn} GPUs, each holding 1/{drawn} of the heads"
                         if reduction_group_size(ctx) == drawn else
                         f"every layer draws {drawn} copies of its Q projection, each holding 1/{drawn} of the heads")
            yield degrees_vs_drawn.finding(
                f"The strategy declares {axis.upper()}{declared} ({ctx.deployment.strategy.sources.get(axis, 'the file')}), "
                f"but {shown}: the drawing shows {axis.upper()}{drawn}.",
                key=f"STG002:drawn:{axis}", severity=Severity.WARNING,
                fix=f"State the {axis.upper()} degree the drawing uses ({axis.upper()}{drawn}), or draw all {declared} ranks.",
            )
    yield from _experts_beyond_declared_ep(ctx)
    yield from _replicas_below_declared_dp(ctx)
    axes = tuple(axis for axis in ("ep", "tp", "dp") if ctx.degree(axis) and ctx.declared(axis))
    highest_ranks = _highest_ranks(ctx, axes) if axes else {}
    for axis in axes:
        declared = ctx.degree(axis)
        highest = highest_ranks.get(axis)
        if axis == "dp" and highest and highest[0] == declared and not _draws_rank_zero(ctx, axis):
            continue  # replicas numbered from 1 (`dp1_`, `dp2_` under DP2)
        if highest and declared is not None and highest[0] >= declared:
            yield degrees_vs_drawn.finding(
                f"{axis.upper()} rank {highest[0]} is drawn (at `{highest[1]}`) but the strategy declares "
                f"{axis.upper()}{declared} (ranks 0-{declared - 1}).",
                nodes=[highest[1]], key=f"STG002:{axis}",
                fix=f"Correct the {axis.upper()} degree or the ranks in the labels.",
            )


def _replicas_below_declared_dp(ctx: Context):
    """A file that draws its DP replicas one by one, but fewer than it declares (DP4 declared,
    replicas 0 and 1 drawn): the drawing's DP. One replica drawn stands for all (representative)."""
    dp = ctx.degree("dp")
    if not dp or dp < 3 or not ctx.declared("dp"):
        return
    drawn = {stage.replica for stage in ctx.deployment.stages} if ctx.deployment.stages else set()
    if len(drawn) < 2:
        drawn = {rank for node in ctx.nodes.values() for rank in node.rank("dp")}
    if 2 <= len(drawn) < dp and drawn == set(range(len(drawn))):
        yield degrees_vs_drawn.finding(
            f"The strategy declares DP{dp} ({ctx.deployment.strategy.sources.get('dp', 'the file')}), but the file "
            f"draws {len(drawn)} data-parallel replicas, one by one: the drawing shows DP{len(drawn)}.",
            key="STG002:drawn:dp", severity=Severity.WARNING,
            fix=f"State the DP degree the drawing uses (DP{len(drawn)}), or draw one replica to stand for all {dp}.",
        )


def _experts_beyond_declared_ep(ctx: Context):
    """Where no EP rank is named, one MoE layer's experts spread over more disjoint GPU groups than
    the declared EP has ranks (EP2 declared, experts two each on GPUs 0-3): the drawing's EP."""
    ep = ctx.degree("ep")
    if not ep or not ctx.declared("ep") or any(node.rank("ep") for node in ctx.nodes.values()):
        return
    spread = expert_spread(ctx.nodes)
    # Each EP rank's experts may sit whole on the GPUs of its TP group, alternating: EP x TP groups.
    if spread > ep and spread != ep * (ctx.degree("tp") or 1):
        yield degrees_vs_drawn.finding(
            f"The strategy declares EP{ep} ({ctx.deployment.strategy.sources.get('ep', 'the file')}), but one MoE "
            f"layer's experts sit on {spread} disjoint GPU groups: the drawing shows EP{spread}.",
            key="STG002:drawn-above:ep", severity=Severity.WARNING,
            fix=f"State the EP degree the drawing uses (EP{spread}), or place the experts on {ep} EP ranks.",
        )


@rule("STG003", "strategy", Severity.WARNING, "Stated GPU total disagrees with the degrees")
def declared_total(ctx: Context):
    """A declared total ("Total GPUs: 2048") agrees with the degrees: EP*TP*PP*DP, the product
    these files assume; Megatron's TP*PP*DP (EP carved out of DP*TP) is reported where it differs.

    Why: the total is what gets provisioned; if it disagrees with the degrees one of them is wrong.
    Example: "EP16-TP4-PP2 (64 GPUs)": the product is 128.
    Fix: State the GPU total the degrees give, and say which convention (EP*TP*PP*DP or Megatron's) it follows.
    """
    strategy = ctx.deployment.strategy
    total, product, megatron = strategy.declared_total, strategy.gpu_count, strategy.megatron_gpu_count
    if total is None or product is None or total == product:
        return
    convention = "TP*CP*PP*DP, EP within DP*CP*TP" if strategy.context_parallel else "TP*PP*DP, EP within DP*TP"
    note = f"; under Megatron's convention ({convention}) it is {megatron}" if megatron else ""
    matches = " — which matches the stated total" if megatron == total else ""
    yield declared_total.finding(
        f"The file states {total} GPUs but {strategy.compact()} multiplies to {product}{note}{matches}.",
        severity=Severity.INFO if megatron == total else None,
        fix="State the total that the degrees give, and say which convention it follows.",
    )


@rule("STG004", "strategy", Severity.ERROR, "Strategy does not divide the model")
def divides_model(ctx: Context):
    """The model splits evenly under the strategy: heads % TP, experts % EP, layers % PP.

    Why: an uneven split leaves some ranks with more work, or cannot be built at all.
    Example: 32 heads under TP12, or 61 layers under PP4 without saying how the remainder goes.
    Fix: Choose degrees that divide the model: heads by TP, experts by EP, layers by PP.
    """
    spec = ctx.spec
    if spec is None:
        return
    checks = [("heads", spec.heads, "tp"), ("experts", spec.experts, "ep"), ("layers", spec.layers, "pp")]
    for what, count, axis in checks:
        degree = ctx.degree(axis)
        if count and degree and count % degree:
            yield divides_model.finding(
                f"{count} {what} (--model) do not divide evenly under {ctx.degree_text(axis)}.",
                key=f"STG004:{axis}", severity=ctx.severity_for((axis,), [], Severity.ERROR),
                fix=f"Choose a {axis.upper()} degree that divides {count}.",
            )


@rule("STG005", "strategy", Severity.INFO, "Checked without a model spec")
def without_model(ctx: Context):
    """Without `--model`, the validator infers the model's sizes from the graph and says which
    checks it could not make.

    Why: a reviewer should know which numbers were taken from the drawing (and so could be wrong
    in the same way as the drawing) and which checks did not run at all.
    Example: hidden size inferred as 4096 from `output`; heads % TP not checked.
    Fix: Pass --model with the model spec (layers, hidden size, heads, experts).
    """
    if ctx.spec is not None:
        return
    facts = []
    for what, known in (("hidden size", ctx.hidden), ("layer count", ctx.layer_count), ("expert count", ctx.expert_count)):
        facts.append(f"{what} {known.value} ({known.source})" if known else f"{what} unknown")
    yield without_model.finding(
        "No --model given: " + "; ".join(facts) + ". Not checked: heads, experts and layers divided by "
        "TP, EP and PP (STG004), per-rank head counts against the model's heads, and memory per GPU (MEM001, MEM002).",
        fix="Pass --model with the model spec (layers, hidden_size, heads, d_k, experts, top_k).",
    )
