"""Operators that only the data flow can name, whatever their labels say.

- The attention weighted sum is the node that the softmax and V both reach, through pass-through
  nodes only (scale, mask, dropout, reshape, split, KV cache, communication): "V MatMul",
  "attn_apply" and "Attention context (P x V)" are weighted sums when the flow says so.
- A softmax after the MoE gate, or one whose label says top-k, normalises routing scores: it is
  part of the gate, not attention's softmax. A "Gate Projection" that widens its input is the
  MLP's (SwiGLU) gate, not a router.
- A Q/K/V node after a collective whose input equals its output holds the gathered tensor.
- A second "scores" node after the QK^T node ("Scale scores", "Masked scores") passes the scores on.
- An attention box fed by the Q/K/V projections is a fused core of a decomposed block
  (FlashAttention); one fed by anything else is attention drawn as one box, whatever it is called.
- A layer-less node whose output is the vocabulary (named so, or far wider than its input, on the
  way to the output) is the LM head, not an output projection.

Each search is bounded (a few hops) and starts from one operator kind, so the whole pass is linear
in the size of the graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from dagtui.model.node import NodeInfo, english_name
from dagtui.model.operators import COLLECTIVES, PASS_THROUGH, Kind, Op

if TYPE_CHECKING:
    import networkx as nx

_HOPS = 6
_MOE_SIDE = frozenset({Op.EXPERT, Op.GATE, Op.DISPATCH, Op.COMBINE, Op.ALL_TO_ALL})
_V_SOURCES = frozenset({Op.V_PROJ, Op.QKV_PROJ})
_PROJECTIONS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ})
# What a mislabelled weighted sum gets called; an explicit output projection is never renamed (V
# and the softmax both going straight into it is a defect ATT002 reports).
_RENAMEABLE_AS_SUM = frozenset({Op.V_PROJ, Op.ATTENTION, Op.ATTN_CORE, Op.ATTN_SCORE, Op.UNKNOWN, Op.MLP})


def passes_through(node: NodeInfo) -> bool:
    """Whether a tensor crosses `node` unchanged in meaning (on the way between two operators)."""
    return node.op in PASS_THROUGH or node.op in COLLECTIVES or node.kind is Kind.COMMUNICATION


def nearest(nodes: dict[str, NodeInfo], start: str, neighbours: Callable[[str], Iterable[str]],
            wanted: Callable[[NodeInfo], bool], hops: int = _HOPS,
            through: Callable[[NodeInfo], bool] = passes_through) -> set[str]:
    """The nearest nodes (up to `hops` away) for which `wanted` holds, searching from `start`
    along `neighbours` across the nodes `through` lets pass (pass-through nodes by default)."""
    found: set[str] = set()
    frontier, seen = [start], {start}
    for _ in range(hops):
        step = []
        for current in frontier:
            for neighbour in neighbours(current):
                if neighbour in seen:
                    continue
                seen.add(neighbour)
                node = nodes[neighbour]
                if wanted(node):
                    found.add(neighbour)
                elif through(node):
                    step.append(neighbour)
        frontier = step
    return found


def read_roles_from_flow(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """Rename the operators the flow decides (see the module docstring), in place."""
    _ends(nodes, graph)
    _notes(nodes, graph)
    _routing_softmax(nodes, graph)
    _gathered_holders(nodes, graph)
    _scores_after_scores(nodes, graph)
    _fused_scores(nodes, graph)
    _weighted_sums(nodes, graph)
    _attention_cores(nodes, graph)
    _lm_heads(nodes, graph)


def _rename(node: NodeInfo, op: Op) -> None:
    node.op = op
    node.op_source = "flow"


_MLP_WORDS = re.compile(r"mlp|ffn|feed|\bup\b|down|gate|expert|fc\d|gelu|silu|swiglu|relu|activation", re.IGNORECASE)
_NAMES_INPUT = re.compile(r"\binputs?\b(?:\s*\([^)]*\))?\s*$", re.IGNORECASE)  # `MLP Input`, `Model Input (token ids)`
_NAMES_OUTPUT = re.compile(r"\boutputs?\b(?:\s*\([^)]*\))?\s*$|\((?:model|graph|final)\s+outputs?\)\s*$", re.IGNORECASE)
# "Output Logits" as the last node is the graph's sink (an LM head folded into it is SHP003's), not a
# projection; "Output Projection" and "Output Layer" name operators.
_STARTS_OUTPUT = re.compile(r"^(?:model\s+|final\s+)?outputs?\b(?!.*(?:proj|layer|linear|norm|dense))", re.IGNORECASE)
_INPUT_WORDS = re.compile(r"\b(?:input|inputs|tokens?|request|prompt|batch)\b", re.IGNORECASE)
_OUTPUT_WORDS = re.compile(r"\b(?:output|outputs|logits|result|generated|predictions?)\b|^(?:model|graph|forward)\s+end\b",
                           re.IGNORECASE)


def _ends(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """In a file without an input (output) node, a source named as an input ("Layer Input") is
    the graph's input, a sink named as an output ("Layer Output") its output, when no operator
    claims the node."""
    has_input = any(node.op is Op.INPUT for node in nodes.values())
    has_output = any(node.op is Op.OUTPUT for node in nodes.values())
    for node_id, node in nodes.items():
        text = english_name(node.label[0]) if node.label else node.id.replace("_", " ")
        if node.op is not Op.UNKNOWN:
            # "MLP Layer 1 Input" as the first node names the tensor coming in, not an MLP.
            if graph.in_degree(node_id) == 0 and graph.out_degree(node_id) > 0 and _NAMES_INPUT.search(text):
                _rename(node, Op.INPUT)
                node.kind = Kind.INPUT
            elif graph.out_degree(node_id) == 0 and graph.in_degree(node_id) > 0 and (
                    _NAMES_OUTPUT.search(text) or _STARTS_OUTPUT.search(text)):
                _rename(node, Op.OUTPUT)
                node.kind = Kind.OUTPUT
            elif node.op in _BLOCK_OPS and graph.in_degree(node_id) and _NAMES_INPUT.search(_TRAILING_INDEX.sub("", text.replace("_", " "))) \
                    and node.inputs and node.inputs == node.outputs:
                _rename(node, Op.ELEMENTWISE)  # "MHA_Input_0" inside the flow hands the stream on to the block
            continue
        if not graph.degree(node_id) and _NAMES_INPUT.search(node.id.replace("_", " ")):
            _rename(node, Op.INPUT)  # `slice_1_input` drawn apart: a description of an input, computing nothing
            node.kind = Kind.INPUT
        elif not has_input and graph.in_degree(node_id) == 0 and graph.out_degree(node_id) > 0 and _INPUT_WORDS.search(text):
            _rename(node, Op.INPUT)
            node.kind = Kind.INPUT
        elif not has_output and graph.out_degree(node_id) == 0 and graph.in_degree(node_id) > 0 and _OUTPUT_WORDS.search(text):
            _rename(node, Op.OUTPUT)
            node.kind = Kind.OUTPUT


_BLOCK_OPS = frozenset({Op.ATTENTION, Op.MOE, Op.MLP})
_TRAILING_INDEX = re.compile(r"\s*\d+\s*$")


def _notes(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """A box with no edges that names no operator and states no tensor ("16 Layers (0-7)\\nEach
    layer: same structure") is a note to the reader."""
    for node_id, node in nodes.items():
        if (node.shape or "").lower() in _FOLDER_SHAPES and not graph.degree(node_id) and not node.inputs and not node.outputs:
            node.op, node.op_source, node.kind = Op.LEGEND, "flow", Kind.NOTE  # a folder or tab beside the flow titles a part
            continue
        if node.inputs or node.outputs:
            continue
        if not graph.degree(node_id) and node.placement is None and node.op_source != "label" and _TITLE_ID.fullmatch(node_id):
            # A box beside the flow, placed nowhere, named as a title ("LLM Deployment Strategies\n
            # 4-Layer Dense Model Comparison"; "Dense" is no projection there): a heading.
            node.op, node.op_source, node.kind = Op.LEGEND, "flow", Kind.NOTE
            continue
        if node.op is not Op.UNKNOWN:
            continue
        # A box of throughput and latency figures ("12,800 TPS\n0.078ms/token") summarises a
        # deployment, wherever it is drawn.
        if not graph.degree(node_id) or any(_PERFORMANCE_FIGURE.search(line) for line in node.label):
            node.op, node.op_source, node.kind = Op.LEGEND, "flow", Kind.NOTE


_FOLDER_SHAPES = frozenset({"folder", "tab"})
_TITLE_ID = re.compile(r"(?:graph_|diagram_|main_)?(?:title|heading|header|caption|legend|notes?|summary)(?:_\w+)?", re.IGNORECASE)
_PERFORMANCE_FIGURE = re.compile(r"\d\s*(?:tps|qps|tokens?/s(?:ec)?|ms/token|ms\b)|\bthroughput\b|\blatency\b", re.IGNORECASE)
_TOP_K = re.compile(r"top[-_ ]?\d*[-_ ]?k|top[-_ ]?\d+|\brout", re.IGNORECASE)


_GATE_PROJECTION = re.compile(r"gate[-_ ]?proj", re.IGNORECASE)
# "FFN Gate Linear", "MLP Gate": SwiGLU's gate when it widens the hidden state (a router named "FFN
# Gate" keeps or narrows it: one score per expert).
_MLP_GATE = re.compile(r"gate[-_ ]?linear|(?:ffn|mlp)[-_ ]gate", re.IGNORECASE)


def _routing_softmax(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """A softmax after the gate is routing; and, the other way, a "Gate Projection" that widens
    its input (SwiGLU's, hidden to the MLP's inner size) is part of the MLP, not a router (which
    narrows the hidden state to one score per expert)."""
    for node_id, node in nodes.items():
        named = node.title + " " + node_id
        if node.op is Op.GATE and ((_GATE_PROJECTION.search(named) and _widens(node))
                                   or (_MLP_GATE.search(named) and _widens(node, strictly=True))):
            _rename(node, Op.MLP)
            continue
        if node.op is Op.SOFTMAX and (_TOP_K.search(" ".join(node.label)) or any(
            nodes[p].op is Op.GATE for p in graph.predecessors(node_id)
        )):
            _rename(node, Op.GATE)
        elif node.op is Op.SOFTMAX and any(shape.names_vocab() for shape in node.inputs):
            _rename(node, Op.ELEMENTWISE)  # the softmax over the vocabulary turns logits into probabilities


def _widens(node: NodeInfo, strictly: bool = False) -> bool:
    before = node.inputs[0].last if node.inputs else None
    after = node.outputs[0].last if node.outputs else None
    if not (before and after and before.is_int and after.is_int):
        return False
    return after.value > before.value if strictly else after.value >= before.value  # type: ignore[operator]


def _gathered_holders(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """A "QKV_full" node right after a collective, its input the same as its output, holds the
    gathered tensor on one rank: it passes it on, it projects nothing."""
    for node_id, node in nodes.items():
        # Not after a pipeline transfer: there a `V Linear` of hidden width in and out is the projection.
        if (node.op in _PROJECTIONS and node.inputs and node.outputs and node.inputs[0] == node.outputs[0]
                and any(nodes[p].op in COLLECTIVES and nodes[p].op is not Op.SEND_RECV for p in graph.predecessors(node_id))):
            _rename(node, Op.RESHAPE)


def _scores_after_scores(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_SCORE]:
        feeding = nearest(nodes, node_id, graph.predecessors, lambda n: not passes_through(n), hops=3)
        ops = {nodes[n].op for n in feeding}
        if ops and ops <= {Op.ATTN_SCORE}:
            _rename(nodes[node_id], Op.ELEMENTWISE)


def _fused_scores(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """An "attention scores" node fed by Q, K and V with no softmax after it computes all of
    attention (FlashAttention-style): a fused core, not a QK^T node that V wrongly reaches."""
    is_v = _v_source(nodes)
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_SCORE]:
        if nearest(nodes, node_id, graph.successors, lambda n: n.op is Op.SOFTMAX):
            continue
        if nearest(nodes, node_id, graph.predecessors, is_v):
            _rename(nodes[node_id], Op.ATTN_CORE)
    # Conversely a "Scaled Dot-Product" read as a fused core that a softmax follows computes the
    # scores; so do its copies drawn without edges (a layer left unwired).
    scores: set[str] = set()
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_CORE]:
        if nearest(nodes, node_id, graph.successors, lambda n: n.op is Op.SOFTMAX) and _DOT_PRODUCT.search(nodes[node_id].title):
            _rename(nodes[node_id], Op.ATTN_SCORE)
            scores.add(_DIGITS.sub("#", nodes[node_id].title))
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_CORE and not graph.degree(n)]:
        if _DIGITS.sub("#", nodes[node_id].title) in scores:
            _rename(nodes[node_id], Op.ATTN_SCORE)


def _weighted_sums(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """The first operator after each softmax that V also reaches is the weighted sum; a "weighted
    sum" of expert outputs is the MoE's combine."""
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_WEIGHTED_SUM]:
        if nearest(nodes, node_id, graph.predecessors, lambda n: n.op in _MOE_SIDE, hops=2):
            _rename(nodes[node_id], Op.COMBINE)
    is_v = _v_source(nodes)
    for softmax in [n for n, node in nodes.items() if node.op is Op.SOFTMAX]:
        for target in nearest(nodes, softmax, graph.successors, lambda n: not passes_through(n)):
            node = nodes[target]
            if node.op in _RENAMEABLE_AS_SUM and nearest(nodes, target, graph.predecessors, is_v):
                _rename(node, Op.ATTN_WEIGHTED_SUM)
    # "Attention Output" ("Attn Out") in a file that draws no softmax, or that no softmax reaches
    # after a fused core, is the output projection.
    softmax_drawn = any(node.op is Op.SOFTMAX for node in nodes.values())
    for node_id in [n for n, node in nodes.items() if node.op is Op.ATTN_WEIGHTED_SUM]:
        if nearest(nodes, node_id, graph.predecessors, lambda n: n.op in (Op.SOFTMAX, Op.ATTN_SCORE)):
            continue  # scores reach it: the weighted sum
        # (a separate V projection feeding it where a softmax is drawn means V bypasses the softmax:
        # ATT002's to report)
        if not softmax_drawn or nearest(nodes, node_id, graph.predecessors,
                                        lambda n: n.op in (Op.ATTN_CORE, Op.ATTENTION, Op.QKV_PROJ)):
            _rename(nodes[node_id], Op.O_PROJ)


def _v_source(nodes: dict[str, NodeInfo]) -> Callable[[NodeInfo], bool]:
    def is_v(node: NodeInfo) -> bool:
        if node.op in _V_SOURCES:
            return True
        return node.op is Op.KV_CACHE and any("v" in line.lower() for line in node.label[:1])
    return is_v


def _attention_cores(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    """Attention boxes fed by the projections (or in a layer that draws them) are fused cores;
    one fed by a core, a softmax or a weighted sum ("MHA Output") is the output projection."""
    layers_with_projections = {node.layer for node in nodes.values() if node.op in _PROJECTIONS and node.layer is not None}
    after_attention = {Op.ATTN_CORE, Op.ATTN_WEIGHTED_SUM, Op.SOFTMAX}
    boxes = [n for n, node in nodes.items() if node.op in (Op.ATTENTION, Op.ATTN_CORE)]
    for node_id in list(boxes):
        # "Attention Block Output" after the output projection marks where the block ends: it passes the tensor on.
        if _BLOCK_END.search(nodes[node_id].title) and nearest(nodes, node_id, graph.predecessors, lambda n: n.op is Op.O_PROJ):
            _rename(nodes[node_id], Op.ELEMENTWISE)
            boxes.remove(node_id)
    for node_id in boxes:
        fed_by_projections = nearest(nodes, node_id, graph.predecessors, lambda n: n.op in _PROJECTIONS)
        core = fed_by_projections or nodes[node_id].layer in layers_with_projections
        wanted = Op.ATTN_CORE if core else Op.ATTENTION
        if nodes[node_id].op is not wanted:
            _rename(nodes[node_id], wanted)
    for node_id in boxes:
        if nearest(nodes, node_id, graph.predecessors, lambda n: n.op in after_attention):
            # "Attention Weight" between the softmax and an output projection applies the scores to V.
            projected = nearest(nodes, node_id, graph.successors, lambda n: n.op is Op.O_PROJ)
            fed_by_softmax = nearest(nodes, node_id, graph.predecessors, lambda n: n.op is Op.SOFTMAX)
            _rename(nodes[node_id], Op.ATTN_WEIGHTED_SUM if projected and fed_by_softmax else Op.O_PROJ)
    # Copies of a core drawn without their edges (`expert1_attn` beside a wired `expert0_attn`) are cores too.
    cores = {_DIGITS.sub("#", n) for n in boxes if nodes[n].op is Op.ATTN_CORE}
    for node_id in boxes:
        if nodes[node_id].op is Op.ATTENTION and not graph.degree(node_id) and _DIGITS.sub("#", node_id) in cores:
            _rename(nodes[node_id], Op.ATTN_CORE)
    # A generic "Linear" right after the attention core is its output projection, not an MLP.
    for node_id in [n for n, node in nodes.items() if node.op in (Op.ATTN_CORE, Op.ATTN_WEIGHTED_SUM)]:
        for successor in nearest(nodes, node_id, graph.successors, lambda n: not passes_through(n)):
            node = nodes[successor]
            if node.op is Op.MLP and not _MLP_WORDS.search(" ".join([node.title, successor])):
                _rename(node, Op.O_PROJ)


_DIGITS = re.compile(r"\d+")
_DOT_PRODUCT = re.compile(r"dot[-_ ]?product", re.IGNORECASE)
_BLOCK_END = re.compile(r"\b(?:output|result|end|done)\b", re.IGNORECASE)
_NAMES_A_LAYER = re.compile(r"\b(?:layer|projection|proj|linear|head)\b", re.IGNORECASE)


def _lm_heads(nodes: dict[str, NodeInfo], graph: nx.DiGraph) -> None:
    for node_id, node in nodes.items():
        # An "Output Layer" box (or an output that feeds something on, a DP aggregation) computes: it is no sink.
        computing_output = node.op is Op.OUTPUT and bool(node.inputs) and (
            graph.out_degree(node_id) > 0 or _NAMES_A_LAYER.search(node.title) is not None)
        if (node.op not in (Op.O_PROJ, Op.MLP, Op.UNKNOWN) and not computing_output) or not node.outputs:
            continue
        out = node.outputs[0]
        if out.names_vocab() or (node.layer is None and _far_wider_on_the_way_out(node, nodes, graph, node_id)):
            _rename(node, Op.LM_HEAD)
        elif node.op is Op.O_PROJ and node.layer is None and any(
                nodes[p].op is Op.FINAL_NORM for p in graph.predecessors(node_id)):
            _rename(node, Op.LM_HEAD)  # the "Output Projection" after the final norm projects the model's output


def _far_wider_on_the_way_out(node: NodeInfo, nodes: dict[str, NodeInfo], graph: nx.DiGraph, node_id: str) -> bool:
    """An output of 16k or more features, at least twice its input's, that goes to the graph's
    output: logits, not a hidden state."""
    width = node.outputs[0].dims[-1].value if node.outputs[0].dims else None
    before = node.inputs[0].dims[-1].value if node.inputs and node.inputs[0].dims else None
    if not isinstance(width, int) or not isinstance(before, int) or width < 16000 or width < 2 * before:
        return False
    if graph.out_degree(node_id) == 0:
        return True  # the graph's last node
    return bool(nearest(nodes, node_id, graph.successors, lambda n: n.op is Op.OUTPUT or n.kind is Kind.OUTPUT))
