"""Structure rules: the graph is a DAG whose every node lies on a path from an input to an output."""

from __future__ import annotations

import bisect
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from dagtui.model.flow import nearest, passes_through
from dagtui.model.node import NodeInfo
from dagtui.model.operators import NOT_OPERATORS, Kind, Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import compact_ranges, node_list

if TYPE_CHECKING:
    import networkx as nx

_PREFILL = "prefill"
_DECODE = "decode"


@rule("STR001", "structure", Severity.ERROR, "Cycle in the data flow")
def cycle(ctx: Context):
    """A deployment DAG must be acyclic: one forward pass flows from inputs to outputs.

    Why: a cycle makes the execution order undefined; the most common cause is a communication
    node drawn both ways (`moe -> all2all` and `all2all -> moe`).
    Example: `layer0_moe -> ep_all2all -> layer0_moe`.
    Fix: Draw each step once, in the direction the data flows; remove the back edge.
    """
    if ctx.topological_order is not None:
        return  # a DAG: the common case, settled by the sort other rules need anyway
    import networkx as nx

    graph = ctx.deployment.graph
    position = {node: index for index, node in enumerate(ctx.nodes)}  # file order
    for component in nx.strongly_connected_components(graph):
        if len(component) == 1 and not graph.has_edge(next(iter(component)), next(iter(component))):
            continue
        cycle_edges = nx.find_cycle(_in_file_order(graph, sorted(component, key=position.__getitem__)))
        nodes = [edge[0] for edge in cycle_edges]
        both_ways = [
            (a, b) for a, b in cycle_edges
            if graph.has_edge(b, a) and (ctx.nodes[a].is_communication or ctx.nodes[b].is_communication)
        ]
        path = " -> ".join(f"`{node}`" for node in [*nodes, nodes[0]])
        message = f"Cycle through {len(component)} nodes: {path}."
        if both_ways:
            a, b = both_ways[0]
            message += f" `{a}` and `{b}` are joined both ways: a communication node drawn in both directions."
        yield cycle.finding(
            message, nodes=nodes, key=f"cycle:{min(component)}",
            fix="Draw each communication step once, in the direction the data flows; remove the back edge.",
        )


def _in_file_order(graph: nx.DiGraph, ordered: list[str]) -> nx.DiGraph:
    """The subgraph on `ordered` (members in file order), nodes and edges in that order.
    networkx's subgraph view walks a small member set in hash order, which differs between runs,
    and so would the cycle reported (and the report of the same file from one run to the next)."""
    import networkx as nx

    members = set(ordered)
    subgraph = nx.DiGraph()
    subgraph.add_nodes_from(ordered)
    subgraph.add_edges_from((node, successor) for node in ordered for successor in graph.successors(node)
                            if successor in members)
    return subgraph


@rule("STR002", "structure", Severity.ERROR, "Node without input")
def no_input(ctx: Context):
    """Every node but the graph's inputs has an incoming edge.

    Why: an operator with no producer computes on nothing; usually an edge was forgotten.
    Example: `layer3_softmax` drawn with no edge into it.
    Fix: Connect each node to the operator that produces its input.
    """
    yield from _dangling(ctx, incoming=True)


@rule("STR003", "structure", Severity.ERROR, "Node without output")
def no_output(ctx: Context):
    """Every node but the graph's outputs has an outgoing edge.

    Why: a dead end means a result is computed and dropped, usually a missing edge.
    Example: `layer0_expert3` with no edge to the combine.
    Fix: Connect each node to the operator that consumes its result.
    """
    yield from _dangling(ctx, incoming=False)


def _dangling(ctx: Context, incoming: bool):
    """Nodes missing their incoming (STR002) or outgoing (STR003) edges, ends of the graph excepted.

    With no node marked as input (output), a single source (sink) is taken to be it.
    """
    graph = ctx.deployment.graph
    missing_side = ctx.in_degree if incoming else ctx.out_degree
    other_side = ctx.out_degree if incoming else ctx.in_degree
    end_kind = Kind.INPUT if incoming else Kind.OUTPUT
    end_ops: tuple[Op, ...] = (Op.INPUT, Op.EMBEDDING) if incoming else (Op.OUTPUT, Op.LM_HEAD)
    if not incoming and any(node.kind is end_kind for node in ctx.nodes.values()):
        # The file draws its output: an LM head whose logits go nowhere is cut off from it, not an
        # end of the graph. (A source embedding stays an input: a position embedding takes no tensor.)
        end_ops = (Op.OUTPUT,)
    islands = set(ctx.shared("islands", _islands))  # reported once, as an island, by STR004
    # What comes after an output (a DP aggregation, a detokenizer) ends the graph too.
    after_ends = set() if incoming else ctx.shared("after_outputs", _after_outputs)
    dangling = [
        node for node in graph if missing_side[node] == 0 and other_side[node] > 0 and node not in islands
        and ctx.nodes[node].kind is not end_kind and ctx.nodes[node].op not in end_ops
        and ctx.nodes[node].kind is not Kind.NOTE and node not in after_ends
        and ctx.nodes[node].op is not Op.PLACEHOLDER  # stands for elided nodes: ANN003's
        # A stage box hanging off the flow ("GPUs 0-7\nPipeline Stage 0\nMHA Layer 0 + MLP Layer 0")
        # summarises the stage; it computes nothing that is dropped.
        and (incoming or ctx.nodes[node].op is not Op.STAGE_MARKER)
    ]
    ends = [node for node in graph if ctx.nodes[node].kind is end_kind]
    if not dangling or (not ends and len(dangling) == 1):
        return
    check = no_input if incoming else no_output
    edge, role, fix = ("incoming", "inputs", "produces its input") if incoming else ("outgoing", "outputs", "consumes its result")
    yield check.finding(
        f"{len(dangling)} node(s) have no {edge} edge but are not {role}: {node_list(dangling)}.",
        nodes=dangling, fix=f"Connect each of them to the operator that {fix}.",
        severity=Severity.WARNING if not ends else None,
    )


@rule("STR004", "structure", Severity.WARNING, "Node off every input-to-output path")
def off_path(ctx: Context):
    """Every node lies on a path from an input to an output: no isolated node, no island of nodes
    that touches neither an input nor an output.

    Why: isolated nodes or islands are drawn but never executed in the forward pass.
    Example: a `layer5_norm` operator with no edges, or a detached sub-DAG (legend, key and
    summary boxes stand apart by design and are not reported).
    Fix: Connect the nodes to the data flow, or remove them (legends belong in the graph label or a note).
    """
    off = ctx.shared("islands", _islands)
    if off:
        yield off_path.finding(
            f"{len(off)} node(s) are not on any path from an input to an output: {node_list(off)}.",
            nodes=off, fix="Connect them to the data flow or remove them (legends belong in the graph label).",
        )


def _after_outputs(ctx: Context) -> set[str]:
    """Nodes downstream of an output node (one search from all outputs at once)."""
    graph = ctx.deployment.graph
    return _reachable(graph, [n for n, node in ctx.nodes.items() if node.kind is Kind.OUTPUT])


def _reachable(graph: nx.DiGraph, starts: list[str], keep: Callable[[str], bool] | None = None,
               limit: int | None = None) -> set[str]:
    """`starts` and the nodes reached from them along edges through nodes `keep` accepts: one search
    from all starts at once (networkx's descendants searches from one source); at most about `limit`
    nodes when given (a search repeated per node must stay bounded to stay linear)."""
    seen, stack = set(starts), list(starts)
    while stack and (limit is None or len(seen) < limit):
        for successor in graph.successors(stack.pop()):
            if successor not in seen and (keep is None or keep(successor)):
                seen.add(successor)
                stack.append(successor)
    return seen


def _islands(ctx: Context) -> list[str]:
    """Isolated nodes, and nodes of components that touch no input and no output (when the graph
    marks any): a detached drawing, not a node with one edge missing."""
    ends = {n for n, node in ctx.nodes.items() if node.kind in (Kind.INPUT, Kind.OUTPUT)}
    # Legends stand apart by design; a lone placeholder ("...") is ANN003's to report.
    notes = {n for n, node in ctx.nodes.items() if node.kind is Kind.NOTE or node.op is Op.PLACEHOLDER}
    detached = [c for c in ctx.weak_components if not c <= notes and (len(c) == 1 or (ends and not c & ends))]
    if not detached:
        return []
    off = set().union(*detached)
    return [n for n in ctx.deployment.graph if n in off]


@rule("STR005", "structure", Severity.WARNING, "Edge to an undeclared node")
def undeclared(ctx: Context):
    """Edges name nodes that exist: DOT silently creates a node an edge mentions.

    Why: a typo in an edge (`layer0_qproj` for `layer0_q_proj`) creates a new, empty node and
    leaves the real one unconnected.
    Example: `attn_out -> residiual` where only `residual` is declared.
    Fix: Declare each node with its label, or fix the edge that misspells an existing id.
    """
    nodes = [n for n in ctx.deployment.undeclared if ctx.deployment.graph.degree(n) > 0]
    if nodes:
        yield undeclared.finding(
            f"{len(nodes)} node(s) appear only in edges, with no label or declaration: {node_list(nodes)}.",
            nodes=nodes, fix="Declare each node with its label, or fix the edge that misspells an existing id.",
        )


def _is_boundary(op: Op, text: str) -> bool:
    """A KV-cache node or a phase marker ("Prefill Phase End") stands between the phases."""
    return op in (Op.KV_CACHE, Op.STAGE_MARKER) or any(word in text for word in _BOUNDARY_WORDS)


_BOUNDARY_WORDS = ("cache", "boundary", "phase end", "phase start", "handoff", "hand-off", "transition")


@rule("STR006", "structure", Severity.ERROR, "Prefill flows into decode without a boundary")
def prefill_decode(ctx: Context):
    """No edge from a prefill node straight into a decode node without a boundary (KV-cache) node;
    a KV-cache read depends on its KV-cache write.

    Why: decode consumes the KV cache written by prefill, not prefill's activations.
    Example: `prefill_layer3_out -> decode_layer0_qkv`.
    Fix: Route prefill into decode through the KV-cache write and read; make each read depend on its write.
    """
    graph = ctx.deployment.graph
    phases = {}
    for node_id, node in ctx.nodes.items():
        text = " ".join([node_id, node.title, *node.clusters]).lower()
        has_prefill, has_decode = _PREFILL in text, _DECODE in text
        if has_prefill != has_decode:
            phases[node_id] = _PREFILL if has_prefill else _DECODE
    if not phases:
        return
    crossing = [
        (a, b) for a, b, _, _ in ctx.edges
        if phases.get(a) == _PREFILL and phases.get(b) == _DECODE
        and not any(_is_boundary(ctx.nodes[x].op, " ".join([*ctx.nodes[x].label[:1], x]).lower()) for x in (a, b))
    ]
    if crossing:
        nodes = [node for edge in crossing for node in edge]
        pairs = ", ".join(f"`{a}` -> `{b}`" for a, b in crossing[:4])
        yield prefill_decode.finding(
            f"{len(crossing)} edge(s) go from prefill straight into decode: {pairs}.",
            nodes=nodes, fix="Route prefill into decode through the KV-cache write/read (a boundary node).",
        )
    reads = [n for n, info in ctx.nodes.items() if "kv" in info.title.lower() and "read" in info.title.lower()]
    writes = [n for n, info in ctx.nodes.items() if "kv" in info.title.lower() and "write" in info.title.lower()]
    if reads and writes and ctx.topological_order is not None:
        import networkx as nx

        orphan = [r for r in reads if not any(w in nx.ancestors(graph, r) for w in writes)]
        if orphan:
            yield prefill_decode.finding(
                f"KV-cache read(s) {node_list(orphan)} do not depend on any KV-cache write.",
                nodes=orphan, key="STR006:kv", title="KV-cache read without its write",
                fix="Add the edge from the KV-cache write to the read that consumes it.",
            )


@rule("STR007", "structure", Severity.ERROR, "No path from input to output")
def no_through_path(ctx: Context):
    """Some path leads from the graph's input to its output: the forward pass goes through.

    Why: a drawing whose input never reaches its output (a missing edge between layers, a stage
    left unconnected) describes no forward pass at all, however complete its parts look.
    Example: `layer1_out` has no edge to `layer2_norm`, and nothing else joins the two halves.
    Fix: Connect the layers or stages where the flow stops, so that the input reaches the output.
    """
    graph = ctx.deployment.graph
    inputs = [n for n, node in ctx.nodes.items() if node.kind is Kind.INPUT]
    outputs = {n for n, node in ctx.nodes.items() if node.kind is Kind.OUTPUT}
    if not inputs or not outputs:
        return
    reached = _reachable(graph, list(inputs))
    if reached & outputs:
        return
    # In file order (a set's order changes from run to run, and so would the report).
    last = [n for n in ctx.nodes if n in reached and ctx.out_degree[n] == 0]
    yield no_through_path.finding(
        f"No path leads from the input ({node_list(inputs)}) to the output ({node_list(sorted(outputs))}): the data "
        f"flow stops at {node_list(last or sorted(reached)[-1:])}.",
        nodes=[*inputs, *last[:4], *sorted(outputs)],
        fix="Connect the layers (or stages) where the flow stops, so that the input reaches the output.",
    )


_TRAINING = re.compile(r"\bgradients?\b|\bgrads?\b|backward|\bloss\b|optimi[sz]er|weight[-_ ]update|\bbackprop", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def _trains(line: str) -> bool:
    """Whether a label line names a training-only step (cached: labels repeat their lines)."""
    return _TRAINING.search(line) is not None and _ONLY_IN_TRAINING.search(line) is None


# "Gradient sync in training" says what a step would do in training: a description, not a step drawn.
_ONLY_IN_TRAINING = re.compile(r"\b(?:in|during|for|when)\s+training\b|\(training(?:\s+only)?\)", re.IGNORECASE)


@rule("STR008", "structure", Severity.WARNING, "Training-only operator in an inference DAG")
def training_operator(ctx: Context):
    """An inference DAG has no training-only operators (gradients, backward, loss, optimizer),
    unless the file says it describes training.

    Why: a gradient all-reduce or a loss in the forward pass of a served model means the drawing
    mixes training into inference; the output then depends on operators that never run.
    Example: `dp0_final -> dp_allreduce ("Input: gradient chunks") -> output`.
    Fix: Remove gradients, loss and optimizer steps from the inference DAG, or say in its title that it describes training.
    """
    raw = ctx.deployment.raw
    title = " ".join([raw.name, raw.attrs.get("label", ""), *(c.text for c in raw.comments if c.header)])
    if re.search(r"\btrain(?:ing)?\b", title, re.IGNORECASE):
        return
    found = [n for n, node in ctx.nodes.items()
             if node.kind is not Kind.NOTE and node.op is not Op.PLACEHOLDER and any(map(_trains, node.label))]
    if found:
        yield training_operator.finding(
            f"{len(found)} node(s) compute training-only steps (gradients, backward, loss or optimizer) in a DAG of "
            f"inference: {node_list(found)}.",
            nodes=found, fix="Remove the training steps from the inference DAG, or say in its title that it describes training.",
        )


@rule("STR009", "structure", Severity.WARNING, "Residual connection missing")
def residual(ctx: Context):
    """Each transformer layer adds its sublayers' outputs back to the residual stream: a residual
    add takes two inputs, the sublayer's output and the stream from before the sublayer.

    Why: without the skip connection each layer replaces the hidden state instead of refining it;
    a residual add with one input adds nothing, and one that sums attention's output with the
    MLP's (the layer input never rejoining) is no residual either.
    Example: `attn_allreduce -> res1` as the only edge into `res1`; layers with attention and MLP
    but no residual add at all; `o_proj -> res` beside `o_proj -> ln2 -> mlp -> res`; every MLP's
    output going to the next layer's norm while each attention has its add.
    Fix: Add each sublayer's residual add, fed by the sublayer and by the stream from before it.
    """
    adds = ctx.deployment.nodes_of_op(Op.RESIDUAL_ADD)
    # A fused "Add & Norm" or "Residual+LayerNorm" is a residual add too.
    fused = [n for n, node in ctx.nodes.items() if node.op is not Op.RESIDUAL_ADD and _ADDS.search(node.title)
             and node.op not in NOT_OPERATORS]
    single = [n for n in [*adds, *fused] if ctx.in_degree[n] == 1]
    if single:
        missing: dict[str, list[str]] = defaultdict(list)
        for add in single:
            missing[_missing_branch(ctx, add)].append(add)
        texts = [f"{what} never reaches {node_list(nodes)}" for what, nodes in missing.items()]
        yield residual.finding(
            f"{len(single)} residual add(s) have a single input: {'; '.join(texts)}{ctx.in_layers(single)}.",
            nodes=single, key="STR009:single",
            fix="Draw both inputs of each residual add: the sublayer's output and the stream from before the sublayer (its norm's input).",
        )
    unskipped = [add for add in [*adds, *fused] if ctx.in_degree[add] > 1 and _sums_sublayers_only(ctx, add)]
    if unskipped:
        yield residual.finding(
            f"{len(unskipped)} residual add(s) sum only what their layer's sublayers computed, never the stream "
            f"from before them (attention's output added to the MLP/MoE's, say): {node_list(unskipped)}"
            f"{ctx.in_layers(unskipped)}.",
            nodes=unskipped, key="STR009:no-skip",
            fix="Feed each residual add the stream from before its sublayer (the layer input, or the add after attention).",
        )
    if adds or fused:
        yield from _sublayer_never_added(ctx)
        return
    layered = ctx.layers_of([*ctx.deployment.nodes_of_op(*_SUBLAYER_OPS)])
    attention = set(ctx.layers_of(ctx.deployment.nodes_of_op(*_ATTENTION_BLOCK)))
    mixing = set(ctx.layers_of(ctx.deployment.nodes_of_op(Op.MLP, Op.EXPERT, Op.MOE)))
    complete = [layer for layer in layered if layer in attention and layer in mixing]
    if complete or (attention and mixing and not layered):
        anchors = ctx.deployment.nodes_of_op(Op.O_PROJ, Op.ATTN_CORE, Op.ATTENTION)
        if complete and not any(ctx.nodes[n].layer in complete for n in anchors[:4]):
            # name nodes of the layers the message speaks of, not collapsed boxes of other layers
            anchors = [n for n in ctx.deployment.nodes_of_op(*_ATTENTION_BLOCK) if ctx.nodes[n].layer in complete]
        nodes = anchors[:4]
        where = f"layer(s) {compact_ranges(complete)}" if complete else "the layers drawn"
        yield residual.finding(
            f"No residual add is drawn in {where}: attention and MLP/MoE outputs never return to the residual stream.",
            nodes=nodes, key="STR009:none",
            fix="Add the residual add after attention and after the MLP/MoE, fed by the sublayer and the stream before it.",
        )


def _sublayer_never_added(ctx: Context):
    """One finding per sublayer (attention, MLP/MoE) whose output reaches no residual add in any
    layer, where the file draws residual adds for the other sublayer: the skip around it is lost."""
    status, evidence = ctx.shared("sublayer_status", _sublayer_status)
    for position in ("attention-residual", "mlp-residual"):
        judged = status.get(position, {})
        if any(verdict == "ok" for verdict in judged.values()):
            continue
        bare = sorted((where for where, verdict in judged.items() if verdict == "bare"
                       and not any(_reaches_add(ctx, n) for n in evidence[(position, where)])), key=_layer_then_replica)
        if not bare:
            continue
        nodes = [n for where in bare for n in evidence[(position, where)][:2]]
        what = "attention" if position == "attention-residual" else "the MLP/MoE"
        yield residual.finding(
            f"No residual add after {what} in any layer ({_layers_of_replicas(bare)}): the output of "
            f"{node_list(nodes)} reaches the next sublayer without returning to the residual stream.",
            nodes=nodes, key=f"STR009:{position}",
            fix="Add the residual add after the sublayer, fed by its output and by the stream from before its norm.",
        )


# Where the next sublayer (or the model's head) begins; a norm does not: a sandwich norm
# (`attention -> norm -> add`) normalises the sublayer's output before its residual add.
_SUBLAYER_STARTS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTENTION, Op.GATE, Op.DISPATCH,
                              Op.FINAL_NORM, Op.LM_HEAD, Op.OUTPUT})


def _sums_sublayers_only(ctx: Context, add: str) -> bool:
    """Whether a residual add sums attention's output and the MLP/MoE's of its own layer and
    nothing else: searching back from each input, the nearest nodes are starts of those sublayers
    (no earlier add, input, embedding or node of another layer), one input for each sublayer. The
    stream from before the sublayers never reaches the add."""
    layer = ctx.nodes[add].layer
    if layer is None:
        return False

    def start_or_stream(node: NodeInfo) -> bool:
        return node.op in _SUBLAYER_FIRST or _is_add(node) or node.op in (Op.INPUT, Op.EMBEDDING) or \
            (node.layer is not None and node.layer != layer)

    sublayers = set()
    for source in ctx.deployment.graph.predecessors(add):
        info = ctx.nodes[source]
        if info.op is Op.GATE and info.inputs and info.outputs and info.inputs[0] == info.outputs[0]:
            return False  # a "Gate Routing" node that hands the stream on unchanged: the skip comes through it
        if info.op in _SUBLAYER_FIRST and info.layer == layer:
            found = {source}  # a sublayer's operator itself (a one-box attention)
        elif start_or_stream(info):
            return False
        else:
            found = _nearest_before(ctx, source, start_or_stream)
        if not found or any(ctx.nodes[n].op not in _SUBLAYER_FIRST or ctx.nodes[n].layer != layer for n in found):
            return False
        sublayers.add("mlp" if any(ctx.nodes[n].op in _MIXING_FIRST for n in found) else "attention")
    return sublayers == {"attention", "mlp"}


def _nearest_before(ctx: Context, start: str, wanted: Callable[[NodeInfo], bool]) -> set[str]:
    """The nearest nodes before `start` (searching back through any others) for which `wanted`
    holds; empty when the search is cut short (not sure)."""
    found, complete = _bounded_search(ctx, start, ctx.deployment.graph.predecessors, lambda n: wanted(ctx.nodes[n]))
    return set(found) if complete else set()


def _bounded_search(ctx: Context, start: str, neighbours: Callable[[str], Iterable[str]], stop: Callable[[str], bool],
                    budget: int = 400) -> tuple[list[str], bool]:
    """Breadth-first from `start` along `neighbours`: the nodes where `stop` holds (not searched
    past), and whether the search ended before meeting `budget` nodes. The budget bounds each call:
    `flow.nearest` bounds only the hops, and a hub would make every call walk the file."""
    stopped: list[str] = []
    seen, frontier = {start}, [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for neighbour in neighbours(node):
                if neighbour in seen:
                    continue
                seen.add(neighbour)
                if len(seen) > budget:
                    return stopped, False
                (stopped if stop(neighbour) else following).append(neighbour)
        frontier = following
    return stopped, True


_MIXING_FIRST = frozenset({Op.GATE, Op.MLP, Op.EXPERT, Op.MOE})
_SUBLAYER_FIRST = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTENTION, Op.ATTN_CORE, *_MIXING_FIRST})


def _reaches_add(ctx: Context, start: str) -> bool:
    """Whether some path from a sublayer's output reaches a residual add of its layer before the next
    sublayer starts (a projection, a gate), through any operators (an "MoE output" box, an all-reduce,
    a norm); also when the search is cut short (not sure, so not judged)."""
    layer = ctx.nodes[start].layer

    def other_layer(node: NodeInfo) -> bool:  # the next layer: its add takes this output as its skip
        return layer is not None and node.layer not in (None, layer)

    def stop(node_id: str) -> bool:
        node = ctx.nodes[node_id]
        return other_layer(node) or _is_add(node) or node.op in _SUBLAYER_STARTS

    ends, complete = _bounded_search(ctx, start, ctx.deployment.graph.successors, stop, budget=200)
    return not complete or any(_is_add(ctx.nodes[n]) and not other_layer(ctx.nodes[n]) for n in ends)


_SUBLAYER_OUTPUTS = frozenset({Op.O_PROJ, Op.MLP, Op.EXPERT, Op.COMBINE, Op.MOE, Op.ATTENTION, Op.ATTN_CORE,
                               Op.ATTN_WEIGHTED_SUM})
_STREAM_SOURCES = frozenset({Op.RESIDUAL_ADD, Op.EMBEDDING, Op.INPUT, Op.NORM})


def _missing_branch(ctx: Context, add: str) -> str:
    """Which input a one-input residual add lacks, judged by the one it has: a sublayer's output
    (the skip is missing) or the stream itself (the sublayer's output is missing)."""
    before = {ctx.nodes[n].op for n in nearest(ctx.nodes, add, ctx.deployment.graph.predecessors,
                                               lambda n: not passes_through(n))}
    if before & _SUBLAYER_OUTPUTS:
        return "the skip connection (the stream from before the sublayer)"
    if before & _STREAM_SOURCES:
        return "the sublayer's output"
    return "one of the two branches (the sublayer's output or the skip)"


_ADDS = re.compile(r"residual|(?<![a-z])add(?![a-z])|skip[-_ ]?connection", re.IGNORECASE)
_ATTENTION_BLOCK = (Op.ATTENTION, Op.ATTN_CORE, Op.ATTN_WEIGHTED_SUM, Op.O_PROJ, Op.QKV_PROJ, Op.Q_PROJ)
_SUBLAYER_OPS = (*_ATTENTION_BLOCK, Op.MLP, Op.EXPERT, Op.MOE)


_MOE_PARTS = (Op.GATE, Op.DISPATCH, Op.EXPERT, Op.COMBINE, Op.MOE)
_ATTENTION_PARTS = (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTN_SCORE, Op.SOFTMAX, Op.ATTN_WEIGHTED_SUM,
                    Op.ATTN_CORE, Op.O_PROJ, Op.ATTENTION)


@rule("STR010", "structure", Severity.ERROR, "MLP or MoE before attention within a layer")
def layer_order(ctx: Context):
    """Within a transformer layer attention comes first, then the MLP or MoE: the layer's gate and
    experts (or, in a dense layer, its MLP) take attention's output, never the other way round.

    Why: a layer that routes tokens before attending computes another model; usually its blocks were
    wired in the wrong order.
    Example: `layer3_input -> layer3_gate -> experts -> layer3_attn_norm -> q_proj ...`.
    Fix: Wire each layer as norm -> attention -> residual, then norm -> MLP/MoE -> residual.
    """
    graph = ctx.deployment.graph
    early = []
    moe_of: dict[int, list[str]] = defaultdict(list)
    attention_of: dict[int, set[str]] = defaultdict(set)
    for node in ctx.deployment.nodes_of_op(*_MOE_PARTS):
        layer = ctx.nodes[node].layer
        # A router fed by another layer's gate ("Token Routing" drawn in the next layer's box) routes that layer's tokens.
        routed_from = {ctx.nodes[p].layer for p in graph.predecessors(node) if ctx.nodes[p].op in _MOE_PARTS}
        if layer is not None and not (routed_from and layer not in routed_from):
            moe_of[layer].append(node)
    for node in ctx.deployment.nodes_of_op(*_ATTENTION_PARTS):
        if ctx.nodes[node].layer is not None:
            attention_of[ctx.nodes[node].layer].add(node)  # type: ignore[index]
    # A dense layer's MLP (no MoE part in the layer) is judged the same way.
    for node in ctx.deployment.nodes_of_op(Op.MLP):
        layer = ctx.nodes[node].layer
        if layer is not None and not any(ctx.nodes[n].op is not Op.MLP for n in moe_of.get(layer, [])):
            moe_of[layer].append(node)
    # On a cycle (STR001's) everything reaches everything: its MoE reaching attention says nothing of order.
    cyclic = _on_cycles(graph) if ctx.topological_order is None else set()
    for layer in sorted(moe_of):
        moe, attention = moe_of[layer], attention_of.get(layer)
        if not attention or not any(ctx.nodes[n].op in (Op.GATE, Op.EXPERT, Op.MOE, Op.MLP) for n in moe):
            continue  # a combine or dispatch alone (a ring attention's "combine") is no MoE
        if cyclic & set(moe):
            continue
        # From the gate and experts (a "token split" before attention dispatches the input, not the MoE's
        # tokens), within the layer only: bounded by its nodes.
        routing = [n for n in moe if ctx.nodes[n].op in (Op.GATE, Op.EXPERT, Op.MOE, Op.MLP)]
        reached = _reachable(graph, routing, lambda n: ctx.nodes[n].layer == layer)  # noqa: B023 (used at once)
        if reached & attention:
            early.append((layer, [n for n in moe if ctx.nodes[n].op in (Op.GATE, Op.MOE)] or moe[:1]))
    if early:
        nodes = [n for _, moe in early for n in moe]
        block = "MLP" if all(ctx.nodes[n].op is Op.MLP for n in nodes) else "MoE"
        yield layer_order.finding(
            f"In layer(s) {compact_ranges([layer for layer, _ in early])} the {block} ({node_list(nodes)}) runs before "
            "attention: its output reaches the layer's attention.",
            nodes=nodes, fix="Wire each layer as norm -> attention -> residual, then norm -> gate/experts -> residual.",
        )


def _on_cycles(graph: nx.DiGraph) -> set[str]:
    import networkx as nx

    return {node for component in nx.strongly_connected_components(graph) if len(component) > 1 for node in component}


@rule("STR011", "structure", Severity.ERROR, "No data flow drawn")
def no_edges(ctx: Context):
    """A deployment DAG draws the forward pass as edges between its operators.

    Why: a file of boxes without a single edge is a placement table, not a DAG: no order, no
    communication and no shape along an edge can be checked, by dagtui or by a reviewer; the rules
    that follow edges (most of them) found nothing because there was nothing to follow.
    Example: 32 layer boxes each with a GPU and a shape, and no `->` in the file.
    Fix: Draw the edges of the forward pass, from the input through every layer to the output.
    """
    if ctx.deployment.graph.number_of_edges():
        return
    # Without edges every box is isolated and so read as a note: a box that states a tensor or a
    # placement is drawn as an operator all the same.
    operators = [n for n, node in ctx.nodes.items()
                 if node.op not in NOT_OPERATORS or node.inputs or node.outputs or node.bare_shapes or node.placement]
    if len(operators) >= 2:
        yield no_edges.finding(
            f"The file declares {len(operators)} operator node(s) ({node_list(operators)}) and no edge at all: "
            "no data flow is drawn, so nothing that follows an edge (order, shapes, communication) was checked.",
            nodes=operators, fix="Draw the edges of the forward pass, from the input through every layer to the output.",
        )


@rule("STR012", "structure", Severity.WARNING, "Normalization missing")
def normalization(ctx: Context):
    """Every transformer layer normalizes the residual stream before attention and before the
    MLP/MoE (LayerNorm or RMSNorm; pre-norm in today's LLMs, post-norm in the original), and the
    final norm precedes the LM head.

    Why: without its norms a layer computes another model; where attention and the MLP are drawn
    operator by operator, a missing norm is a missing operator (with its own placement and cost),
    not a simplification. Judged only where the file names no norm anywhere (a fused
    "Add & Norm" or "LayerNorm + QKV" counts) and draws attention as its parts.
    Example: `layer0_input -> q_proj, k_proj, v_proj -> attention -> o_proj -> residual -> mlp_up ...`.
    Fix: Draw the norm before attention and before the MLP/MoE in each layer, and the final norm.
    """
    if any(_NORM.search(node.id) or any(_NORM.search(line) for line in node.label) for node in ctx.nodes.values()):
        return
    attention = set(ctx.layers_of(ctx.deployment.nodes_of_op(*_ATTENTION_OPERATORS)))
    mixing = set(ctx.layers_of(ctx.deployment.nodes_of_op(Op.MLP, Op.EXPERT, Op.MOE)))
    layers = sorted(attention & mixing)
    if layers:
        nodes = [n for n in ctx.deployment.nodes_of_op(*_ATTENTION_OPERATORS) if ctx.nodes[n].layer == layers[0]][:4]
        yield normalization.finding(
            f"No LayerNorm or RMSNorm is drawn anywhere, though layer(s) {compact_ranges(layers)} draw attention "
            "operator by operator and an MLP/MoE: the norms before attention and before the MLP/MoE are missing.",
            nodes=nodes, fix="Draw the norm before attention and before the MLP/MoE in each layer, and the final norm before the LM head.",
        )


_NORM = re.compile(r"norm|(?<![a-z])ln(?![a-z])", re.IGNORECASE)
# Attention drawn as its parts (a one-box "Attention" is ATT001's, and may well hold its norm).
_ATTENTION_OPERATORS = (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTN_SCORE, Op.SOFTMAX,
                        Op.ATTN_WEIGHTED_SUM, Op.ATTN_CORE, Op.O_PROJ)


_SUBLAYER_REACH = 400  # nodes searched from a norm: a sublayer's operators on every TP rank, not a whole model


@rule("STR013", "structure", Severity.WARNING, "Residual skip taken after the norm")
def skip_after_norm(ctx: Context):
    """The skip branch of a residual add carries the stream from before the sublayer's norm:
    `x + f(norm(x))`, not `norm(x) + f(norm(x))`.

    Why: a skip from the norm's output normalises the residual stream at every layer, which is
    another model; reviewers find it in drawings where the dashed residual edge starts one node too
    late. Judged only on a layer's first residual add whose norm belongs to the same layer with no
    residual add of that layer before it: in a post-norm drawing the skip comes from the previous
    layer's norm, which is right.
    Example: `layer0_input -> layer0_ln1 -> qkv ... -> attn_out -> layer0_res1` and `layer0_ln1 -> layer0_res1`.
    Fix: Start the skip edge at the norm's input (the layer input or the previous residual add).
    """
    graph = ctx.deployment.graph
    late: list[tuple[str, str]] = []
    for add in ctx.deployment.nodes_of_op(Op.RESIDUAL_ADD):
        layer = ctx.nodes[add].layer
        if layer is None or ctx.in_degree[add] < 2:
            continue
        feeders = set(graph.predecessors(add))
        for norm in sorted(feeders):
            if ctx.nodes[norm].op is not Op.NORM or ctx.nodes[norm].layer != layer:
                continue
            # The norm also feeds the add's other input (the sublayer), within the layer ...
            after = _reachable(graph, [norm], lambda n: n != add and ctx.nodes[n].layer in (layer, None),  # noqa: B023
                               limit=_SUBLAYER_REACH)
            # ... and no residual add of the layer comes before it (post-norm's second sublayer).
            before = _reachable(graph.reverse(copy=False), [norm], lambda n: ctx.nodes[n].layer == layer,  # noqa: B023
                                limit=_SUBLAYER_REACH)
            if after & (feeders - {norm}) and not any(ctx.nodes[n].op is Op.RESIDUAL_ADD for n in before - {norm}):
                late.append((norm, add))
    if late:
        nodes = [n for edge in late for n in edge]
        yield skip_after_norm.finding(
            f"{len(late)} residual add(s) take their skip branch from the norm before the sublayer, so the stream is "
            f"normalised at every layer: {', '.join(f'`{a}` -> `{b}`' for a, b in late[:3])}"
            f"{f' and {len(late) - 3} more' if len(late) > 3 else ''}{ctx.in_layers([b for _, b in late])}.",
            nodes=nodes, fix="Start each skip edge at the norm's input (the layer input or the previous residual add).",
        )


@rule("STR014", "structure", Severity.WARNING, "No operator drawn")
def no_operator(ctx: Context):
    """A deployment DAG draws the operators of the forward pass (embedding, norms, attention, MLP or
    experts, collectives), each placed on its GPUs.

    Why: boxes that name only GPUs, stages or counts ("GPU 0 / Experts: 8 / Layers: 4") map
    devices; they show no operator whose placement, shapes or communication could be checked, by
    dagtui (every operator rule is blind) or by a reviewer.
    Example: 64 boxes `gpu_0 [label="GPU 0\\nExperts: 8\\nLayers: 4"]` joined by edges.
    Fix: Draw the operators of each layer on the GPUs that run them, with their shapes and the collectives between them.
    """
    compute = ctx.computation
    if len(compute) >= 2 and all(ctx.nodes[n].op is Op.UNKNOWN for n in compute):
        yield no_operator.finding(
            f"None of the {len(compute)} boxes names an operator ({node_list(compute)}): the file maps devices or "
            "stages, not a forward pass, so no operator rule could check anything.",
            nodes=compute, fix="Draw the operators of each layer on the GPUs that run them, with their shapes and collectives.",
        )


# Where the residual stream enters a sublayer without a norm, or leaves it without a residual add:
# the upstream (or downstream) operators that are not the norm (or the add) the sublayer needs.
_STREAM = frozenset({Op.RESIDUAL_ADD, Op.EMBEDDING, Op.INPUT, Op.O_PROJ, Op.MLP, Op.EXPERT, Op.COMBINE, Op.MOE})
_AFTER_SUBLAYER = frozenset({Op.NORM, Op.GATE, Op.DISPATCH, Op.MLP, Op.EXPERT, Op.MOE, Op.Q_PROJ, Op.K_PROJ,
                             Op.V_PROJ, Op.QKV_PROJ, Op.FINAL_NORM, Op.LM_HEAD, Op.OUTPUT})
_POSITIONS = {
    "attention-norm": "no norm before attention",
    "mlp-norm": "no norm before the MLP/MoE",
    "attention-residual": "no residual add after attention",
    "mlp-residual": "no residual add after the MLP/MoE",
}


@rule("STR015", "structure", Severity.WARNING, "Layer without the norm or residual add its other layers draw")
def sublayer_frame(ctx: Context):
    """Each sublayer of a transformer layer (attention, then the MLP or MoE) takes the residual
    stream through a norm and returns its output to the stream through a residual add. Judged
    where the file draws that norm or add for the same sublayer in other layers: a layer drawn
    without it is an operator left out, not a drawing style.

    Why: a layer whose attention reads the un-normalised stream, or whose MLP output replaces the
    stream instead of adding to it, computes another model; reviewers find one layer of a
    hand-edited file that lost its norm or its residual add while the others keep theirs.
    Example: layers 0-2 and 4-7 draw `res1 -> ln2 -> gate`, layer 3 draws `attn_allreduce -> ln2 -> gate`.
    Fix: Draw the missing norm or residual add in the layers named, as in the file's other layers.
    """
    status, evidence = ctx.shared("sublayer_status", _sublayer_status)
    faults = []
    for position, judged in status.items():
        good = sorted({layer for (layer, _), verdict in judged.items() if verdict == "ok"})
        bare = sorted((where for where, verdict in judged.items() if verdict == "bare"), key=_layer_then_replica)
        if good and bare:
            faults.append((position, bare, good))
    if not faults:
        return
    nodes = [n for position, bare, _ in faults for where in bare for n in evidence[(position, where)][:2]]
    texts = [f"{_POSITIONS[position]} in {_layers_of_replicas(bare)} (drawn in layer(s) {compact_ranges(good)})"
             for position, bare, good in faults]
    yield sublayer_frame.finding(
        f"{'; '.join(texts)}: the stream reaches {node_list(nodes)} without it.",
        nodes=nodes, fix="Draw the missing norm or residual add in the layers named, as the file's other layers do.",
    )


@rule("STR017", "structure", Severity.WARNING, "MLP without the norm its layer's attention has")
def mlp_without_norm(ctx: Context):
    """In a pre-norm layer both sublayers read the residual stream through a norm: where a layer's
    attention has its norm, its MLP or MoE has one too.

    Why: an MLP fed the raw residual stream (`attn_residual -> ffn_up`) beside an attention fed
    through a pre-attention norm computes another model; a generator that draws the attention's
    norm and forgets the MLP's does so in every layer, where STR015 (comparing layers) sees nothing.
    A post-norm layer is never judged (its MLP reads the norm after the attention's residual add),
    nor a layer whose attention reads no norm of its own.
    Example: `l0_norm -> l0_qkv ... l0_attn_add -> l0_ffn_up` with no norm before `l0_ffn_up`.
    Fix: Draw the norm before the MLP/MoE (post-attention RMSNorm / LayerNorm) in the layers named.
    """
    status, evidence = ctx.shared("sublayer_status", _sublayer_status)
    bare = sorted((where for where, verdict in status["mlp-norm"].items()
                   if verdict == "bare" and status["attention-norm"].get(where) == "ok"), key=_layer_then_replica)
    if not bare:
        return
    nodes = [n for where in bare for n in evidence[("mlp-norm", where)][:2]]
    yield mlp_without_norm.finding(
        f"No norm before the MLP/MoE in {_layers_of_replicas(bare)}, whose attention reads the stream through "
        f"its norm: the stream reaches {node_list(nodes)} un-normalised.",
        nodes=nodes, fix="Draw the norm before the MLP/MoE (post-attention RMSNorm / LayerNorm) in the layers named.",
    )


@rule("STR016", "structure", Severity.WARNING, "Edge skips the layers drawn between its ends")
def layer_skip(ctx: Context):
    """Layers run one after another: each layer's output feeds the next layer, never one further on
    while the layers between are drawn.

    Why: an edge from layer 2 straight into layer 4, beside layer 3 drawn in full, gives layer 4
    an input that skipped layer 3 (a stray edge left by editing, or layers wired out of order); the
    pipeline computes another model. Judged on edges between operators whose layers the file
    names, in the same DP replica, where some layer between is drawn.
    Example: `l2_residual -> l4_norm` while layer 3's operators are drawn and chained.
    Fix: Feed each layer from the layer before it; remove the edge that jumps over the layers named.
    """
    compute = set(ctx.computation)
    layer_of = {node: layer for node in compute if (layer := ctx.nodes[node].layer) is not None}
    drawn: dict[int | None, set[int]] = defaultdict(set)
    for node, layer in layer_of.items():
        drawn[_replica(ctx.nodes[node])].add(layer)
    layers = {replica: sorted(found) for replica, found in drawn.items()}
    skips = []
    for source, target in _layer_steps(ctx, compute, layer_of):
        before, after = layer_of[source], layer_of[target]
        replica = _replica(ctx.nodes[source])
        if after <= before + 1 or replica != _replica(ctx.nodes[target]):
            continue
        drawn_layers = layers.get(replica, [])
        start = bisect.bisect_right(drawn_layers, before)
        if start < len(drawn_layers) and drawn_layers[start] < after:
            skips.append((source, target, [k for k in drawn_layers[start:start + 3] if k < after]))
    if not skips:
        return
    shown = "; ".join(f"`{a}` (layer {layer_of[a]}) -> `{b}` (layer {layer_of[b]}) skips layer(s) "
                      f"{compact_ranges(between)}" for a, b, between in skips[:3])
    yield layer_skip.finding(
        f"{len(skips)} edge(s) jump over layers drawn between their ends: {shown}"
        f"{f' and {len(skips) - 3} more' if len(skips) > 3 else ''}.",
        nodes=[n for a, b, _ in skips for n in (a, b)],
        fix="Feed each layer from the layer before it; remove the edge that jumps over the layers named.",
    )


def _layer_steps(ctx: Context, compute: set[str], layer_of: dict[str, int]) -> Iterator[tuple[str, str]]:
    """(producer, consumer) for each operator with a layer (`layer_of`) and the furthest-on one it
    feeds, directly or through nodes that compute nothing and name no layer (a send/recv, a
    collective, a marker). An operator without a layer or a node naming one (a placeholder standing
    for layers) ends the search: the file may number only some of a layer's nodes. One pass in
    reverse data-flow order (direct edges only when the graph has a cycle)."""
    graph = ctx.deployment.graph
    # For each node the search may cross: the operator with the highest layer it reaches first.
    furthest: dict[str, str] = {}
    for node in reversed(ctx.topological_order or []):
        if node in compute or ctx.nodes[node].layer is not None:
            continue
        reached = [successor if successor in layer_of else furthest.get(successor) for successor in graph.successors(node)]
        candidates = [candidate for candidate in reached if candidate is not None]
        if candidates:
            furthest[node] = max(candidates, key=layer_of.__getitem__)
    for source in layer_of:
        for successor in graph.successors(source):
            target = successor if successor in layer_of else furthest.get(successor)
            if target is not None:
                yield source, target


def _replica(node: NodeInfo) -> int | None:
    """The one DP replica a node is drawn in, or None (not said, or several)."""
    replicas = node.rank("dp")
    return next(iter(replicas)) if len(replicas) == 1 else None


Place = tuple[int, int | None]  # (layer, DP replica or None)


def _sublayer_status(ctx: Context) -> tuple[dict[str, dict[Place, str]], dict[tuple[str, Place], list[str]]]:
    """For each sublayer position and (layer, DP replica): `ok`, `bare` or `unknown` (one `ok`
    settles a place, `bare` outranks `unknown`), and the nodes that show each `bare`, for STR015 and
    STR017 (found once per file through `ctx.shared`). A layer of each DP replica drawn is judged on
    its own: a replica may lose what another keeps."""
    status: dict[str, dict[Place, str]] = defaultdict(dict)
    evidence: dict[tuple[str, Place], list[str]] = defaultdict(list)
    for position, node, verdict in _sublayer_ends(ctx):
        info = ctx.nodes[node]
        if info.layer is None:
            continue
        where = (info.layer, _replica(info))
        if verdict == "ok" or status[position].get(where) in (None, "unknown"):
            status[position][where] = verdict
        if verdict == "bare":
            evidence[(position, where)].append(node)
    return status, evidence


def _layer_then_replica(where: Place) -> tuple[int, int]:
    return where[0], -1 if where[1] is None else where[1]


def _layers_of_replicas(places: list[tuple[int, int | None]]) -> str:
    """`layer(s) 3` or `layer(s) 3 of DP replica 0` for (layer, replica) pairs."""
    by_replica: dict[int | None, list[int]] = defaultdict(list)
    for layer, replica in places:
        by_replica[replica].append(layer)
    return "; ".join(f"layer(s) {compact_ranges(layers)}" + (f" of DP replica {replica}" if replica is not None else "")
                     for replica, layers in sorted(by_replica.items(), key=lambda item: (item[0] is None, item[0] or 0)))


def _sublayer_ends(ctx: Context) -> Iterator[tuple[str, str, str]]:
    """(position, node, verdict) for each node where a sublayer starts (Q/K/V projections, the gate,
    the first MLP operator) or ends (output projection, combine, last MLP operator): `ok` when the
    norm before (or the residual add after) is there, `bare` when the nearest operators are the
    stream itself, `unknown` otherwise (an operator dagtui cannot name, a fused block). Nodes
    without a label (named only in an edge) name no operator for sure: never judged, never evidence."""
    graph = ctx.deployment.graph
    undeclared = set(ctx.deployment.undeclared)

    def ends(*ops: Op) -> list[str]:
        return [n for n in ctx.deployment.nodes_of_op(*ops) if n not in undeclared]

    for node in ends(Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ):
        yield "attention-norm", node, _judge(ctx, node, graph.predecessors, _is_norm, _STREAM, undeclared)
    for node in ends(Op.GATE, Op.MLP):
        before = nearest(ctx.nodes, node, graph.predecessors, lambda n: not passes_through(n))
        if ctx.nodes[node].op is Op.MLP and any(ctx.nodes[n].op in (Op.MLP, Op.GATE, Op.DISPATCH, Op.EXPERT) for n in before):
            continue  # inside the MLP (the down projection after the up projection) or an expert (its activation)
        yield "mlp-norm", node, _judge(ctx, node, graph.predecessors, _is_norm, _STREAM - {Op.MLP}, undeclared)
    for node in ends(Op.O_PROJ):
        yield "attention-residual", node, _judge(ctx, node, graph.successors, _is_add, _AFTER_SUBLAYER, undeclared,
                                                 beside_ok=_NEXT_SUBLAYER)
    for node in ends(Op.COMBINE, Op.MLP):
        after = nearest(ctx.nodes, node, graph.successors, lambda n: not passes_through(n))
        if ctx.nodes[node].op is Op.MLP and any(ctx.nodes[n].op in (Op.MLP, Op.COMBINE) for n in after):
            continue  # the up projection or activation, not the MLP's last operator
        yield "mlp-residual", node, _judge(ctx, node, graph.successors, _is_add, _AFTER_SUBLAYER - {Op.MLP}, undeclared,
                                           beside_ok=_NEXT_SUBLAYER)


# What a sublayer's output never feeds beside its residual add: the next sublayer's start. An
# output that reaches both an add and the next norm skips the add on one branch (the add of the
# sublayer was removed and its inputs joined to what followed it).
_NEXT_SUBLAYER = frozenset({Op.NORM, Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.GATE, Op.DISPATCH})


def _judge(ctx: Context, node: str, neighbours, wanted: Callable[[NodeInfo], bool], bare: frozenset[Op],
           undeclared: set[str], beside_ok: frozenset[Op] = frozenset()) -> str:
    """`ok` when the norm (or add) is next to `node` in its own layer, `bare` when the nearest
    operators are all of `bare` (or, for an add, when one of them starts the next sublayer:
    `beside_ok`), `unknown` otherwise: a norm of another layer (post-norm, where the first layer's
    attention reads the embedding as it should), an operator dagtui cannot name."""
    if wanted(ctx.nodes[node]):
        return "ok"  # a fused "LayerNorm + QKV" or "Output projection + residual"
    found = nearest(ctx.nodes, node, neighbours, lambda n: wanted(n) or not passes_through(n))
    if any(ctx.nodes[n].op in beside_ok and not wanted(ctx.nodes[n]) and n not in undeclared for n in found):
        return "bare"
    if any(wanted(ctx.nodes[n]) for n in found):
        layer = ctx.nodes[node].layer
        return "ok" if any(wanted(ctx.nodes[n]) and ctx.nodes[n].layer == layer for n in found) else "unknown"
    if found and all(ctx.nodes[n].op in bare and n not in undeclared for n in found):
        return "bare"
    return "unknown"


def _is_norm(node: NodeInfo) -> bool:
    return node.op in (Op.NORM, Op.FINAL_NORM) or bool(_NORM.search(node.title))


def _is_add(node: NodeInfo) -> bool:
    return node.op is Op.RESIDUAL_ADD or bool(_ADDS.search(node.title))
