"""What every rule needs besides the deployment: the model spec, and facts derived once
(full hidden size, layer and expert counts, degrees) with where each came from."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from dagtui.cost.hardware import HardwareProfile
from dagtui.model.deployment import Deployment
from dagtui.model.node import NodeInfo
from dagtui.model.operators import NOT_OPERATORS, Kind, Op, low_rank_down
from dagtui.model.roles import expert_count_in, top_k_in
from dagtui.model.shapes import HIDDEN_NAMES, VOCAB_NAMES, Shape
from dagtui.model.spec import ModelSpec
from dagtui.model.strategy import Statement
from dagtui.validate.finding import Severity
from dagtui.validate.ranges import compact_ranges

T = TypeVar("T")
_GUESSED = "inferred: the largest"
# Operators on the residual stream, and operators whose input is it: their width is the hidden size
# (the embedding's output only where the layers show none: it may be a shard, or odd).
_STREAM_OPS = frozenset({Op.NORM, Op.FINAL_NORM, Op.RESIDUAL_ADD})
# What shows a TP split when no strategy states one (see `Context.shard_tp`).
_SHARD_MOVERS = frozenset({Op.SPLIT, Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER})
_COLUMN_PARALLEL = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.MLP})
_DIGITS = re.compile(r"\d+")  # copies of one operator have ids that differ only in their numbers
_TRAILING_INDEX = re.compile(r"(?<=\s)\d+$")
_SPLIT_PARTS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ})
_STREAM_INPUT_OPS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.GATE, Op.OUTPUT, Op.LM_HEAD})


@dataclass(frozen=True)
class Known:
    """A number and where it came from ("--model", "inferred: ...")."""

    value: int
    source: str

    @property
    def inferred(self) -> bool:
        return not self.source.startswith("--model") and not self.source.startswith("declared")

    @property
    def guessed(self) -> bool:
        """Inferred from weak evidence (the largest size drawn), not from what the file states."""
        return self.source.startswith(_GUESSED)


class Context:
    """One deployment under review, with the facts rules share."""

    def __init__(self, deployment: Deployment, spec: ModelSpec | None = None, hardware: HardwareProfile | None = None) -> None:
        self.deployment = deployment
        self.spec = spec
        self.hardware = hardware
        self.nodes: dict[str, NodeInfo] = deployment.nodes
        self._shared: dict[str, object] = {}

    def shared(self, name: str, compute: Callable[[Context], T]) -> T:
        """`compute(self)`, once per review: for a fact several rules of one module need."""
        if name not in self._shared:
            self._shared[name] = compute(self)
        return self._shared[name]  # type: ignore[return-value]

    def degree(self, axis: str) -> int | None:
        return self.deployment.strategy.degree(axis)

    def declared(self, axis: str) -> bool:
        return self.deployment.strategy.is_declared(axis)

    def drawn_below_declared(self, axis: str) -> int | None:
        """k when the file declares `axis` (TP or EP) with degree d but draws ranks 0..k-1 only,
        2 <= k < d, in every place that axis is drawn (each tensor-parallel operator of each layer;
        each MoE layer's experts): the drawing's degree, disagreeing with the statement (STG002),
        rather than ranks left out of some operators (TEN001, EXP001)."""
        return self.shared(f"drawn_below:{axis}", lambda ctx: _drawn_below_declared(ctx, axis))

    def stages_settle(self, first: Statement, other: Statement) -> bool:
        """Whether the stages drawn agree with exactly one of two statements of PP that disagree."""
        drawn = len({stage.index for stage in self.deployment.stages})
        return bool(self.deployment.stages) and (first.degrees["pp"] == drawn) != (other.degrees["pp"] == drawn)

    def degree_text(self, axis: str) -> str:
        """`TP8`, or `TP16 (inferred from the ranks drawn)`."""
        value = self.degree(axis)
        text = f"{axis.upper()}{value}"
        return text if self.declared(axis) else f"{text} (inferred from what is drawn)"

    def severity_for(self, axes: tuple[str, ...], nodes: list[str], default: Severity) -> Severity:
        """Lower an error to a warning when it rests on an inferred degree or a guessed operator."""
        if default is not Severity.ERROR:
            return default
        guessed = any(self.nodes[node].op_source not in ("label",) for node in nodes if node in self.nodes)
        inferred = any(not self.declared(axis) for axis in axes)
        return Severity.WARNING if guessed or inferred else default

    # -- graph facts several rules need, computed once ----------------------------------------
    @cached_property
    def computation(self) -> list[str]:
        """The computation nodes the annotation and GPU rules judge: not notes or markers, and not
        a collective or transfer drawn as a box (`pipeline_commulation`, named so by its id)."""
        return [n for n, node in self.nodes.items()
                if node.kind is Kind.COMPUTE and not node.is_communication and node.op not in NOT_OPERATORS]

    @cached_property
    def topological_order(self) -> list[str] | None:
        """The nodes in data-flow order, or None when the graph has a cycle."""
        import networkx as nx  # imported when needed: `dagtui rules` and `generate` do without it

        try:
            return list(nx.topological_sort(self.deployment.graph))
        except nx.NetworkXUnfeasible:
            return None

    @cached_property
    def edges(self) -> list[tuple[str, str, NodeInfo, NodeInfo]]:
        """Every edge once (parallel edges merged), with its producer and consumer: several
        rules walk all edges, and a list is walked faster than networkx's edge view."""
        nodes = self.nodes
        return [(source, target, nodes[source], nodes[target]) for source, target in self.deployment.graph.edges]

    @cached_property
    def weak_components(self) -> list[set[str]]:
        import networkx as nx

        return list(nx.weakly_connected_components(self.deployment.graph))

    @cached_property
    def in_degree(self) -> dict[str, int]:
        return dict(self.deployment.graph.in_degree())

    @cached_property
    def out_degree(self) -> dict[str, int]:
        return dict(self.deployment.graph.out_degree())

    @cached_property
    def hidden(self) -> Known | None:
        """The model's full hidden size: from --model, else the widest residual stream the layers
        consume (norms, residual adds, the inputs of Q/K/V and the gate, a hidden size named at the
        output), else the embedding's output, else the largest hidden size drawn. Never the largest
        last dimension of any node: that may be an MLP's intermediate size or the vocabulary."""
        if self.spec and self.spec.hidden_size:
            return Known(self.spec.hidden_size, "--model")
        stream: tuple[int, str] | None = None
        embedded: tuple[int, str] | None = None
        best: tuple[int, str] | None = None
        graph = self.deployment.graph
        for node in self.nodes.values():
            if node.op in _SPLIT_PARTS and any(self.nodes[p].op is Op.QKV_PROJ for p in graph.predecessors(node.id)):
                continue  # Q, K or V cut from a fused QKV's output: its input is the fused width, not the stream
            consumed = node.op in _STREAM_INPUT_OPS
            shapes = node.inputs if consumed else [*node.inputs, *node.outputs]
            for shape in shapes:
                hidden = shape.hidden() or _token_rows_width(shape, node)
                if not hidden or shape.named(*VOCAB_NAMES) is not None:
                    continue
                # What reaches the output is logits unless it says hidden.
                logits = node.op is Op.OUTPUT and shape.named(*HIDDEN_NAMES) is None
                if (node.op in _STREAM_OPS or consumed) and not logits and (stream is None or hidden > stream[0]):
                    stream = (hidden, node.id)
                # The embedding's output, or an input that hands over hidden states (`[b, s, h]`, not token ids).
                if node.op in (Op.EMBEDDING, Op.INPUT) and shape in node.outputs and (embedded is None or hidden > embedded[0]):
                    embedded = (hidden, node.id)
                if best is None or hidden > best[0]:
                    best = (hidden, node.id)
        chosen = stream or embedded
        if chosen is not None:
            return Known(chosen[0], f"inferred: the residual stream drawn at `{chosen[1]}`")
        if best is None:
            return None
        return Known(best[0], f"inferred: the largest hidden size drawn, at `{best[1]}`")

    @cached_property
    def first_layer(self) -> int:
        """0, or 1 for a file that numbers its layers from 1 (no layer 0 claimed or drawn)."""
        claimed = [layer for stage in self.deployment.stages for layer in (stage.claimed_layers or [])]
        numbers = set(claimed) | set(self.deployment.layers_drawn)
        return 1 if numbers and min(numbers) == 1 else 0

    @cached_property
    def layer_count(self) -> Known | None:
        if self.spec and self.spec.layers:
            return Known(self.spec.layers, "--model")
        first = self.first_layer
        claimed = [layer for stage in self.deployment.stages for layer in (stage.claimed_layers or [])]
        if claimed:
            return Known(max(claimed) + 1 - first, "inferred: the layer ranges the stages claim")
        drawn = self.deployment.layers_drawn
        if drawn:
            return Known(max(drawn) + 1 - first, "inferred: the highest layer drawn")
        return None

    @cached_property
    def expert_count(self) -> Known | None:
        """The model's expert count: --model, the file's title, a routing node's label, a legend,
        the gate's output width; never a top-k (`Select 2 experts per token`)."""
        if self.spec and self.spec.experts:
            return Known(self.spec.experts, "--model")
        raw = self.deployment.raw
        for source, text in [("the graph label", raw.attrs.get("label", "")),
                             *[(f"the comment at line {c.line}", c.text) for c in raw.comments if c.header]]:
            count = expert_count_in(text.replace("\\n", " "))
            if count:
                return Known(count, f"declared in {source}")
        routing = [node for node in self.nodes.values() if node.op in (Op.GATE, Op.MOE, Op.DISPATCH)]
        others = [node for node in self.nodes.values() if node.op not in (Op.GATE, Op.MOE, Op.DISPATCH, Op.EXPERT)]
        for node in [*routing, *others]:
            top_k = next(filter(None, map(top_k_in, node.label)), None)
            for line in node.label:
                count = expert_count_in(line)
                if count and count != top_k:  # `MoE Gate (Top-2)` with `Output: [.., experts=2]`: the top-k again
                    return Known(count, f"declared at `{node.id}`")
        for node in routing:
            top_k = next(filter(None, map(top_k_in, node.label)), None)
            for shape in node.outputs:
                named = shape.named("experts", "num_experts", "n_experts", "e")
                if named is not None and named.is_int and named.value != top_k:
                    return Known(named.value, f"the output width of `{node.id}`")  # type: ignore[arg-type]
        return None

    def layers_of(self, nodes) -> list[int]:
        """The layers the given nodes belong to, sorted, without repeats."""
        return sorted({layer for n in nodes if (layer := self.nodes[n].layer) is not None})

    def where(self, nodes: list[str]) -> str:
        """`layer(s) 0-3` for nodes with layers, else `N node(s)`: how messages say where a fault is."""
        layers = self.layers_of(nodes)
        return f"layer(s) {compact_ranges(layers)}" if layers else f"{len(nodes)} node(s)"

    def in_layers(self, nodes: list[str]) -> str:
        """` (layer(s) 0-3)` to append to a sentence, or nothing when the nodes carry no layer."""
        layers = self.layers_of(nodes)
        return f" (layer(s) {compact_ranges(layers)})" if layers else ""

    def explain_factor(self, small: int, big: int) -> str | None:
        """`512 = 4096/TP8` when `big` is `small` times a parallel degree of this deployment."""
        if small <= 0 or big % small:
            return None
        factor = big // small
        for axis in ("tp", "ep", "sp", "pp", "dp"):
            if self.degree(axis) == factor and factor > 1:
                return f"{small} = {big}/{axis.upper()}{factor}"
        return None

    def is_tp_shard(self, hidden: int | None) -> bool:
        """Whether `hidden` is the full hidden size divided by TP (>1)."""
        return hidden is not None and hidden == self._tp_shard

    @cached_property
    def shard_tp(self) -> Known | None:
        """The TP degree shards are judged by: the strategy's, or, where no strategy gives one, the
        one the drawing itself shows: k equal copies of a column-parallel projection each fed
        hidden/k, or a split or collective on k GPUs with hidden/k on one side and the hidden size
        on the other. Two different such k show nothing."""
        tp = self.degree("tp")
        if tp:
            return Known(tp, "declared" if self.declared("tp") else "inferred from the ranks drawn")
        full = self.hidden
        if full is None:
            return None
        shown: dict[int, str] = {}
        for node in self.nodes.values():
            k = len(node.gpus)
            if node.op in _SHARD_MOVERS and k > 1 and full.value % k == 0:
                widths = {shape.hidden() for shape in [*node.inputs, *node.outputs]}
                if {full.value, full.value // k} <= widths:
                    shown.setdefault(k, f"`{node.id}` on {k} GPUs moves {full.value}/{k}-wide shards")
        copies: dict[tuple[int | None, Op, str, str], list[NodeInfo]] = defaultdict(list)
        for node in self.nodes.values():
            if node.op in _COLUMN_PARALLEL and node.inputs:
                # "Q Linear 0" .. "Q Linear 7" are copies; "FFN FC1" and "FFN FC2" are two operators.
                title = _TRAILING_INDEX.sub("#", node.title)
                copies[(node.layer, node.op, title, _DIGITS.sub("#", node.id))].append(node)
        for group in copies.values():
            k = len(group)
            if k > 1 and full.value % k == 0 and all(s.hidden() == full.value // k for n in group for s in n.inputs):
                shown.setdefault(k, f"{k} copies of `{group[0].id}` each take {full.value}/{k}")
        if len(shown) != 1:
            return None
        ((k, evidence),) = shown.items()
        return Known(k, f"inferred: {evidence}")

    def shard_tp_text(self) -> str:
        """`TP8`, or `TP4 (inferred: ...)`: how messages name the degree shards are judged by."""
        tp = self.shard_tp
        if tp is None:
            return "TP"
        return f"TP{tp.value}" if tp.source == "declared" else f"TP{tp.value} ({tp.source})"

    @cached_property
    def _tp_shard(self) -> int | None:
        full, tp = self.hidden, self.shard_tp
        if not full or not tp or tp.value <= 1 or full.value % tp.value:
            return None
        return full.value // tp.value


_TP_OPERATORS = frozenset({Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.O_PROJ, Op.ATTN_SCORE, Op.SOFTMAX,
                           Op.ATTN_WEIGHTED_SUM, Op.MLP})


def _token_rows_width(shape: Shape, node: NodeInfo) -> int | None:
    """The width of `[tokens, hidden]` rows (batch and sequence flattened) where the stream is
    drawn so: the input and output of a norm or residual add, what an embedding emits."""
    if len(shape.dims) != 2 or not shape.all_int or any(dim.name for dim in shape.dims):
        return None
    if node.op in _STREAM_OPS or (node.op is Op.EMBEDDING and shape in node.outputs):
        return int(shape.values[1])
    return None


def _drawn_below_declared(ctx: Context, axis: str) -> int | None:
    declared = ctx.degree(axis)
    if axis not in ("tp", "ep") or not declared or declared < 3 or not ctx.declared(axis):
        return None
    operators = _TP_OPERATORS if axis == "tp" else frozenset({Op.EXPERT})
    places: dict[tuple[int, int | None, Op], set[int]] = defaultdict(set)
    for node in ctx.nodes.values():
        if node.op in operators and node.rank(axis):
            places[(min(node.rank("dp"), default=0), node.layer, node.op)] |= node.rank(axis)
    if not places and axis == "tp":
        drawn = reduction_group_size(ctx)  # no TP rank named: the groups the partial sums are reduced over
        if drawn and 2 <= drawn < declared and _shards_of(ctx, drawn, ranked=False):
            return drawn
        drawn = _query_copies(ctx)  # or the copies of each layer's Q projection that share its heads
        return drawn if drawn and 2 <= drawn < declared else None
    shown = {frozenset(ranks) for ranks in places.values()}
    # TP: two operators at least say it; EP: one MoE layer placing all its experts does.
    if len(places) < (2 if axis == "tp" else 1) or len(shown) != 1:
        return None
    ranks = next(iter(shown))
    drawn = len(ranks)
    if ranks != frozenset(range(drawn)) or not 2 <= drawn < declared:
        return None
    # Not a drawing that shows a few ranks for all: the shards are those of the degree drawn (TP),
    # all the layer's experts are placed, on fewer ranks (EP).
    return drawn if (_shards_of(ctx, drawn) if axis == "tp" else _all_experts_placed(ctx, declared)) else None


def _query_copies(ctx: Context) -> int | None:
    """k where every layer draws k copies of its Q projection, each holding hidden/k of the width
    (heads x d_k): the TP the drawing shows when no rank is named; None otherwise."""
    full = ctx.hidden
    if full is None:
        return None
    widths: dict[tuple[int, int | None, str], list[int]] = defaultdict(list)
    for node in ctx.nodes.values():
        if node.op is Op.Q_PROJ and node.outputs and node.inputs:
            pair = node.outputs[0].heads_split_from(node.inputs[0])
            if pair is None:
                return None
            widths[(min(node.rank("dp"), default=0), node.layer, node.phase)].append(pair[0] * pair[1])
    counts = {len(shards) for shards in widths.values()}
    if len(widths) < 2 or len(counts) != 1:
        return None
    copies = counts.pop()
    return copies if all(sum(shards) == full.value and len(set(shards)) == 1 for shards in widths.values()) else None


def reduction_group_size(ctx: Context) -> int | None:
    """How many GPUs every all-reduce after a row-parallel projection spans, where they all span the
    same number (two such reductions at least); None otherwise."""
    graph = ctx.deployment.graph
    sizes = [len(ctx.nodes[n].gpus) for n in ctx.deployment.nodes_of_op(Op.ALL_REDUCE)
             if any(ctx.nodes[p].op in (Op.O_PROJ, Op.MLP) for p in graph.predecessors(n))]
    return sizes[0] if len(sizes) >= 2 and len(set(sizes)) == 1 else None


def _shards_of(ctx: Context, degree: int, ranked: bool = True) -> bool:
    """Whether the ranked Q/K/V projections (or, `ranked` false, any placed on one GPU) hold
    hidden/`degree` of the width (heads x d_k)."""
    full = ctx.hidden
    if full is None or full.value % degree:
        return False
    for node in ctx.nodes.values():
        drawn_per_rank = bool(node.rank("tp")) if ranked else len(node.gpus) == 1
        if low_rank_down(node.title):
            continue  # MLA's q_a_proj: a latent, replicated on every rank, no share of the heads
        if node.op in (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ) and drawn_per_rank and node.outputs and node.inputs:
            output = node.outputs[0]
            pair = output.heads_split_from(node.inputs[0])
            width = pair[0] * pair[1] if pair else output.values[-1] if len(output.dims) in (2, 3) and output.all_int else None
            if isinstance(width, int) and width:
                fused = 3 if node.op is Op.QKV_PROJ else 1  # Q, K and V side by side
                if width == fused * full.value // degree:
                    return True
                # Grouped-query K and V are narrower: the split after a fused QKV shows Q's own width.
                return node.op is Op.QKV_PROJ and _q_width_after_split(ctx, node.id) == full.value // degree
    return False


def _q_width_after_split(ctx: Context, qkv: str) -> int | None:
    """The width per token of Q, the first output of the split after a fused QKV projection
    (`[32,1,1536]` -> `[32,8,1,128], [32,2,1,128], [32,2,1,128]`: 8 x 128 = 1024)."""
    for successor in ctx.deployment.graph.successors(qkv):
        split = ctx.nodes[successor]
        if split.op is not Op.SPLIT or len(split.outputs) < 3 or not split.inputs:
            continue
        source, q = split.inputs[0], split.outputs[0]
        if source.all_int and q.all_int and source.values and source.values[-1]:
            tokens = math.prod(int(v) for v in source.values) // int(source.values[-1])
            elements = math.prod(int(v) for v in q.values)
            if tokens and elements % tokens == 0:
                return elements // tokens
    return None


def _all_experts_placed(ctx: Context, declared: int) -> bool:
    """Whether each MoE layer draws all its experts (the model's count, or at least one per declared rank)."""
    per_layer: dict[int | None, set[int]] = defaultdict(set)
    for node in ctx.nodes.values():
        if node.op is Op.EXPERT and node.expert is not None:
            per_layer[node.layer].add(node.expert)
    wanted = ctx.expert_count.value if ctx.expert_count else declared
    return bool(per_layer) and all(len(experts) >= max(wanted, declared) for experts in per_layer.values())

