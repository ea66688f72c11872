"""Structure rules: the graph is a DAG whose every node lies on a path from an input to an output."""

from __future__ import annotations

import networkx as nx

from dagtui.model.operators import Kind, Op
from dagtui.validate.context import Context
from dagtui.validate.finding import Severity, rule
from dagtui.validate.ranges import node_list

_PREFILL = "prefill"
_DECODE = "decode"


@rule("STR001", "structure", Severity.ERROR, "Cycle in the data flow")
def cycle(ctx: Context):
    """A deployment DAG must be acyclic: one forward pass flows from inputs to outputs.

    Why: a cycle makes the execution order undefined; the most common cause is a communication
    node drawn both ways (`moe -> all2all` and `all2all -> moe`).
    Example: `layer0_moe -> ep_all2all -> layer0_moe`.
    """
    if ctx.topological_order is not None:
        return  # a DAG: the common case, settled by the sort other rules need anyway
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
    """
    yield from _dangling(ctx, incoming=True)


@rule("STR003", "structure", Severity.ERROR, "Node without output")
def no_output(ctx: Context):
    """Every node but the graph's outputs has an outgoing edge.

    Why: a dead end means a result is computed and dropped, usually a missing edge.
    Example: `layer0_expert3` with no edge to the combine.
    """
    yield from _dangling(ctx, incoming=False)


def _dangling(ctx: Context, incoming: bool):
    """Nodes missing their incoming (STR002) or outgoing (STR003) edges, ends of the graph excepted.

    With no node marked as input (output), a single source (sink) is taken to be it.
    """
    graph = ctx.deployment.graph
    missing_side = ctx.in_degree if incoming else ctx.out_degree
    other_side = ctx.out_degree if incoming else ctx.in_degree
    end_kind, end_ops = (Kind.INPUT, (Op.INPUT, Op.EMBEDDING)) if incoming else (Kind.OUTPUT, (Op.OUTPUT, Op.LM_HEAD))
    islands = set(ctx.shared("islands", _islands))  # reported once, as an island, by STR004
    # What comes after an output (a DP aggregation, a detokenizer) ends the graph too.
    after_ends = set() if incoming else ctx.shared("after_outputs", _after_outputs)
    dangling = [
        node for node in graph if missing_side[node] == 0 and other_side[node] > 0 and node not in islands
        and ctx.nodes[node].kind is not end_kind and ctx.nodes[node].op not in end_ops
        and ctx.nodes[node].kind is not Kind.NOTE and node not in after_ends
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
    frontier = [n for n, node in ctx.nodes.items() if node.kind is Kind.OUTPUT]
    seen = set(frontier)
    while frontier:
        frontier = [s for node in frontier for s in graph.successors(node) if s not in seen and not seen.add(s)]
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
        and not any(_is_boundary(ctx.nodes[x].op, " ".join(ctx.nodes[x].label[:1] + [x]).lower()) for x in (a, b))
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
        orphan = [r for r in reads if not any(w in nx.ancestors(graph, r) for w in writes)]
        if orphan:
            yield prefill_decode.finding(
                f"KV-cache read(s) {node_list(orphan)} do not depend on any KV-cache write.",
                nodes=orphan, key="STR006:kv", title="KV-cache read without its write",
                fix="Add the edge from the KV-cache write to the read that consumes it.",
            )
