"""Build a correct deployment DAG for a model and a strategy, following dag-conventions.md.

GPU layout (stated in the graph label): id = ((dp * PP + pp) * EP + ep) * TP + tp. Attention and
the dense operators of a stage are drawn for EP group 0 (its TP group, one node per TP rank);
the other EP groups run the same operators on their own tokens. Experts of EP rank e sit on
that rank's TP group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagtui.errors import ConfigError
from dagtui.generate.graph import GenCluster, GenGraph, GenNode
from dagtui.generate.style import HOUSE_STYLES, ID_SCHEMES, WORDING, Dims, HouseStyle, Place, node_id
from dagtui.model.spec import ModelSpec
from dagtui.model.strategy import Strategy
from dagtui.validate.ranges import compact_ranges


@dataclass(frozen=True)
class Plan:
    """Everything the builder needs, checked for consistency."""

    layers: int
    hidden: int
    heads: int
    d_k: int
    experts: int
    top_k: int
    batch: int
    seq: int
    vocab: int
    ep: int
    tp: int
    pp: int
    dp: int
    dense_layers: int = 0  # leading layers with a dense, tensor-parallel MLP instead of MoE
    ffn: int = 0  # the dense MLP's intermediate size


def make_plan(spec: ModelSpec, strategy: Strategy, layers: int | None = None) -> Plan:
    """Check the strategy against the model; clear errors when it does not divide evenly."""
    missing = [name for name in ("layers", "hidden_size", "heads", "experts") if getattr(spec, name) is None]
    if missing:
        raise ConfigError(f"the model spec needs {', '.join(missing)} to generate a DAG")
    degrees = {axis: strategy.degree(axis) or 1 for axis in ("ep", "tp", "pp", "dp")}
    count = layers or spec.layers
    assert spec.hidden_size and spec.heads and spec.experts and count
    d_k = spec.d_k or spec.hidden_size // spec.heads
    problems = []
    if spec.heads % degrees["tp"]:
        problems.append(f"{spec.heads} heads do not divide by TP{degrees['tp']}")
    if spec.hidden_size % degrees["tp"]:
        problems.append(f"hidden size {spec.hidden_size} does not divide by TP{degrees['tp']}")
    if spec.experts % degrees["ep"]:
        problems.append(f"{spec.experts} experts do not divide by EP{degrees['ep']}")
    if count % degrees["pp"]:
        problems.append(f"{count} layers do not divide by PP{degrees['pp']}")
    if spec.heads * d_k != spec.hidden_size:
        problems.append(f"heads x d_k = {spec.heads * d_k} is not the hidden size {spec.hidden_size}")
    if layers is not None and (layers < 1 or layers > (spec.layers or layers)):
        problems.append(f"--layers {layers} is outside 1-{spec.layers}")
    if problems:
        raise ConfigError("cannot generate: " + "; ".join(problems))
    return Plan(
        layers=count, hidden=spec.hidden_size, heads=spec.heads, d_k=d_k, experts=spec.experts,
        top_k=spec.top_k or 2, batch=spec.batch_size or 8, seq=spec.seq_len or 1024,
        vocab=spec.vocab_size or 32000, dense_layers=min(spec.dense_layers or 0, count),
        ffn=spec.ffn_hidden_size or 4 * spec.hidden_size, **degrees,
    )


def _dims(**named: object) -> Dims:
    return tuple(named.items())


class Builder:
    """Draws the deployment of a plan in a house style: roles decide the nodes and edges, the
    style only how they are written (ids, words, shapes, placements, stages, markup)."""

    def __init__(self, plan: Plan, name: str, style: HouseStyle, dp_replicas: str) -> None:
        self.p = plan
        self.s = style
        self.count = 0
        if style.stages == "replica_clusters":
            dp_replicas = "shown"
        shown = plan.dp if dp_replicas == "shown" else 1
        self.replicas = shown
        strategy = f"EP{plan.ep}-TP{plan.tp}-PP{plan.pp}-DP{plan.dp}"
        gpus = plan.ep * plan.tp * plan.pp * plan.dp
        replicas = "all DP replicas shown" if shown > 1 else f"DP replica 0 shown, {plan.dp - 1} more identical" if plan.dp > 1 else "one replica"
        layout = "GPU id = ((dp*PP + pp)*EP + ep)*TP + tp; attention drawn for EP group 0 of each stage"
        if style.strategy_at == "label":
            label, graph_name, comment = f"{name}: {strategy} ({gpus} GPUs = {plan.ep}x{plan.tp}x{plan.pp}x{plan.dp}); {layout}; {replicas}", name.replace(" ", "_"), ""
        elif style.strategy_at == "comment":
            label, graph_name, comment = f"{name}; {layout}", name.replace(" ", "_"), f"{name}: {strategy} MoE inference DAG"
        elif style.strategy_at == "name":
            label, graph_name, comment = f"{name}; {layout}", f"{name.replace(' ', '_')}_{strategy.replace('-', '_')}", ""
        else:
            label, graph_name, comment = f"{name}; {layout}", name.replace(" ", "_"), ""
        self.g = GenGraph(graph_name, label, style=style, title_comment=comment)
        b, s, h = plan.batch, plan.seq, plan.hidden
        self.full = _dims(batch=b, seq=s, hidden=h)
        self.head_shard = _dims(batch=b, seq=s, heads=plan.heads // plan.tp, d_k=plan.d_k)
        self.qkv_shard = _dims(batch=b, seq=s, qkv=3 * plan.heads // plan.tp * plan.d_k)
        self.scores = _dims(batch=b, heads=plan.heads // plan.tp, seq=s, kv=s)
        self.tokens = b * s * plan.top_k // plan.experts
        self.expert_shape = _dims(tokens=self.tokens, hidden=h)
        self.words = WORDING[style.wording]

    # -- placement -----------------------------------------------------------------------------
    def gpu(self, dp: int, pp: int, ep: int, tp: int) -> int:
        p = self.p
        return ((dp * p.pp + pp) * p.ep + ep) * p.tp + tp

    def _dp_rank(self, dp: int) -> tuple[tuple[str, tuple[int, int]], ...]:
        """`DP1` on placements when several DP replicas are drawn, so each is judged on its own."""
        return (("dp", (dp, dp)),) if self.replicas > 1 else ()

    def tp_group(self, dp: int, pp: int, ep: int = 0) -> Place:
        ranks = (("tp", (0, self.p.tp - 1)), ("pp", (pp, pp)), *self._dp_rank(dp))
        return Place(self.gpu(dp, pp, ep, 0), self.gpu(dp, pp, ep, self.p.tp - 1), ranks)

    def tp_rank(self, dp: int, pp: int, tp: int) -> Place:
        gpu = self.gpu(dp, pp, 0, tp)
        return Place(gpu, gpu, (("tp", (tp, tp)), ("pp", (pp, pp)), *self._dp_rank(dp)))

    def stage_gpus(self, dp: int, pp: int) -> Place:
        return Place(self.gpu(dp, pp, 0, 0), self.gpu(dp, pp, self.p.ep - 1, self.p.tp - 1),
                     (("pp", (pp, pp)), *self._dp_rank(dp)))

    def tp_group_line(self) -> str:
        return f"TP Group: TP0-TP{self.p.tp - 1}"

    # -- nodes ---------------------------------------------------------------------------------
    def word(self, key: str, **values: object) -> str:
        return self.words[key].format(**values)

    def layer_name(self, layer: int) -> int:
        return layer + self.s.first_layer

    def node(self, title: str, shape: str = "box", **fields: Any) -> str:
        role: dict[str, Any] = fields.pop("role")
        self.count += 1
        layer = role.get("layer")
        shown_layer = self.layer_name(layer) if isinstance(layer, int) else None
        ident = node_id(self.s, self.count, str(role.get("op")), shown_layer, role.get("tp"),
                        str(role.get("extra", "")), int(role.get("dp", 0)), role.get("stage"))
        where = self._where(role)
        node = GenNode(ident, title, where=where, shape=shape, role=role, **fields)
        added = self.g.add(node)
        self._into_cluster(added, role)
        return added

    def compute(self, key: str, inputs: list[Dims], output: Dims, place: Place, *,
                title_values: Mapping[str, Any] | None = None, **role: Any) -> str:
        return self.node(self.word(key, **(title_values or {})), inputs=inputs, output=output, place=place, role=role)

    def comm(self, key: str, inputs: list[Dims], output: Dims, group: str, **role: object) -> str:
        return self.node(self.word(key), shape="ellipse", inputs=inputs, output=output, group=group, role=role)

    def _where(self, role: dict) -> str:
        parts = []
        if role.get("layer") is not None:
            parts.append(f"Layer {self.layer_name(role['layer'])}")
        if role.get("tp") is not None:
            parts.append(f"TP{role['tp']}")
        return " ".join(parts)

    def _into_cluster(self, node: str, role: dict) -> None:
        if self.s.stages == "markers" or role.get("stage") is None:
            return
        name = f"cluster_dp{role.get('dp', 0)}_pp{role['stage']}" if self.s.stages == "replica_clusters" else f"cluster_pp{role['stage']}"
        for cluster in self.g.clusters:
            if cluster.name == name:
                cluster.members.append(node)
                return

    # -- the graph -------------------------------------------------------------------------------
    def build(self) -> GenGraph:
        p = self.p
        tokens = _dims(batch=p.batch, seq=p.seq)
        source = self.node(self.word("input"), shape="ellipse", inputs=[tokens], output=tokens, role={"op": "input"})
        logits = _dims(batch=p.batch, seq=p.seq, vocab=p.vocab)
        sink = self.node(self.word("output"), shape="ellipse", inputs=[logits], role={"op": "output"})
        for dp in range(self.replicas):
            last = self.replica(dp, source)
            self.g.connect(last, sink)
        return self.g

    def open_stage(self, dp: int, pp: int, layers: range, previous: str) -> str:
        """A stage marker node (returned as the new `previous`), or a cluster (nothing to connect)."""
        shown = compact_ranges([self.layer_name(layer) for layer in layers])
        if self.s.stages == "markers":
            marker = self.node(self.word("stage_marker", stage=pp), shape="parallelogram", notes=[f"Layers {shown}"],
                               place=self.stage_gpus(dp, pp), role={"op": "stage_marker", "stage": pp, "dp": dp})
            self.g.connect(previous, marker)
            return marker
        replica = f"DP{dp} · " if self.s.stages == "replica_clusters" else ""
        name = f"cluster_dp{dp}_pp{pp}" if self.s.stages == "replica_clusters" else f"cluster_pp{pp}"
        self.g.clusters.append(GenCluster(name, f"{replica}Pipeline Stage {pp} (Layers {shown})"))
        return previous

    def replica(self, dp: int, source: str) -> str:
        p = self.p
        per_stage = p.layers // p.pp
        previous = source
        for pp in range(p.pp):
            layers = range(pp * per_stage, (pp + 1) * per_stage)
            previous = self.open_stage(dp, pp, layers, previous)
            if pp == 0:
                previous = self.embedding(dp, previous)
            for layer in layers:
                previous = self.layer(dp, pp, layer, previous)
            if pp < p.pp - 1:
                send = self.comm("send_recv", [self.full], self.full, f"PP{pp} → PP{pp + 1}", op="send_recv", stage=pp, dp=dp)
                self.g.connect(previous, send)
                previous = send
        return self.head(dp, p.pp - 1, previous)

    def embedding(self, dp: int, previous: str) -> str:
        p = self.p
        tokens = _dims(batch=p.batch, seq=p.seq)
        embed = self.compute("embedding", [tokens], self.full, self.tp_group(dp, 0), op="embedding", stage=0, dp=dp)
        self.g.connect(previous, embed)
        if p.tp == 1:
            return embed
        reduce = self.comm("embed_reduce", [self.full], self.full, self.tp_group_line(), op="all_reduce", extra="embed",
                           stage=0, dp=dp)
        self.g.connect(embed, reduce)
        return reduce

    def layer(self, dp: int, pp: int, layer: int, previous: str) -> str:
        p = self.p
        role: dict[str, Any] = {"layer": layer, "stage": pp, "dp": dp}
        norm1 = self.compute("norm_attn", [self.full], self.full, self.tp_group(dp, pp), op="norm", extra="attn", **role)
        self.g.connect(previous, norm1)
        reduce = self.comm("attn_reduce", [self.full], self.full, self.tp_group_line(), op="all_reduce", extra="attn",
                           **role) if p.tp > 1 else None
        reduce_target = None
        for tp in range(p.tp):
            place = self.tp_rank(dp, pp, tp)
            out = self.attention_rank(norm1, place, {**role, "tp": tp})
            if reduce:
                self.g.connect(out, reduce)
            else:
                reduce_target = out
        residual1 = self.compute("residual_add", [self.full, self.full], self.full, self.tp_group(dp, pp),
                                 op="residual_add", extra="attn", **role)
        self.g.connect(reduce or reduce_target, residual1)  # type: ignore[arg-type]
        self.g.connect(previous, residual1, dashed=True)
        if layer < p.dense_layers:
            return self.dense_mlp(dp, pp, layer, residual1)
        return self.moe(dp, pp, layer, residual1)

    def dense_mlp(self, dp: int, pp: int, layer: int, previous: str) -> str:
        """A dense layer's MLP: up (column-parallel) and down (row-parallel) per TP rank, then the
        all-reduce of the partial sums."""
        p = self.p
        role: dict[str, Any] = {"layer": layer, "stage": pp, "dp": dp}
        norm2 = self.compute("norm_moe", [self.full], self.full, self.tp_group(dp, pp), op="norm", extra="mlp", **role)
        self.g.connect(previous, norm2)
        inner = _dims(batch=p.batch, seq=p.seq, ffn=p.ffn // p.tp)
        reduce = self.comm("mlp_reduce", [self.full], self.full, self.tp_group_line(), op="all_reduce", extra="mlp",
                           **role) if p.tp > 1 else None
        last = None
        for tp in range(p.tp):
            place, r = self.tp_rank(dp, pp, tp), dict[str, Any](role, tp=tp)
            up = self.compute("mlp_up", [self.full], inner, place, op="mlp", extra="up", **r)
            act = self.compute("mlp_act", [inner], inner, place, op="mlp", extra="act", **r)
            down = self.compute("mlp_down", [inner], self.full, place, op="mlp", extra="down", **r)
            self.g.connect(norm2, up)
            self.g.connect(up, act)
            self.g.connect(act, down)
            if reduce:
                self.g.connect(down, reduce)
            last = down
        residual2 = self.compute("residual_add", [self.full, self.full], self.full, self.tp_group(dp, pp),
                                 op="residual_add", extra="mlp", **role)
        self.g.connect(reduce or last, residual2)  # type: ignore[arg-type]
        self.g.connect(previous, residual2, dashed=True)
        return residual2

    def attention_rank(self, norm: str, place: Place, role: dict) -> str:
        """One TP rank's attention, Q/K/V (or fused QKV and a split) to the output projection;
        returns the output projection."""
        if self.s.fused_qkv:
            qkv = self.compute("qkv_proj", [self.full], self.qkv_shard, place, op="qkv_proj", **role)
            split = self.compute("qkv_split", [self.qkv_shard], self.head_shard, place, op="split", extra="qkv", **role)
            self.g.connect(norm, qkv)
            self.g.connect(qkv, split)
            q = k = v = split
        else:
            q = self.compute("q_proj", [self.full], self.head_shard, place, op="q_proj", **role)
            k = self.compute("k_proj", [self.full], self.head_shard, place, op="k_proj", **role)
            v = self.compute("v_proj", [self.full], self.head_shard, place, op="v_proj", **role)
            for projection in (q, k, v):
                self.g.connect(norm, projection)
        score = self.compute("attn_score", [self.head_shard, self.head_shard], self.scores, place, op="attn_score", **role)
        self.g.connect(q, score)
        if k != q:
            self.g.connect(k, score)
        previous = score
        if self.s.pass_through:
            for key in ("scale", "mask"):
                node = self.compute(key, [self.scores], self.scores, place, op="elementwise", extra=key, **role)
                self.g.connect(previous, node)
                previous = node
        softmax = self.compute("softmax", [self.scores], self.scores, place, op="softmax", **role)
        self.g.connect(previous, softmax)
        previous = softmax
        if self.s.pass_through:
            dropout = self.compute("dropout", [self.scores], self.scores, place, op="elementwise", extra="dropout", **role)
            self.g.connect(previous, dropout)
            previous = dropout
        context = self.compute("attn_weighted_sum", [self.scores, self.head_shard], self.head_shard, place,
                               op="attn_weighted_sum", **role)
        self.g.connect(previous, context)
        self.g.connect(v, context)
        previous = context
        if self.s.pass_through:
            merged = _dims(batch=self.p.batch, seq=self.p.seq, hidden=self.p.heads // self.p.tp * self.p.d_k)
            merge = self.compute("merge_heads", [self.head_shard], merged, place, op="reshape", extra="merge", **role)
            self.g.connect(previous, merge)
            previous = merge
            out = self.compute("o_proj", [merged], self.full, place, op="o_proj", **role)
        else:
            out = self.compute("o_proj", [self.head_shard], self.full, place, op="o_proj", **role)
        self.g.connect(previous, out)
        return out

    def moe(self, dp: int, pp: int, layer: int, previous: str) -> str:
        p = self.p
        role: dict[str, Any] = {"layer": layer, "stage": pp, "dp": dp}
        norm2 = self.compute("norm_moe", [self.full], self.full, self.tp_group(dp, pp), op="norm", extra="moe", **role)
        self.g.connect(previous, norm2)
        gate = self.node(self.word("gate"), shape="parallelogram", notes=[f"Top-{p.top_k} of {p.experts} experts"],
                         inputs=[self.full], output=_dims(batch=p.batch, seq=p.seq, top_k=p.top_k),
                         place=self.tp_group(dp, pp), role={"op": "gate", **role})
        self.g.connect(norm2, gate)
        group = f"EP Group: EP0-EP{p.ep - 1}"
        dispatch = self.comm("dispatch", [self.full], self.expert_shape, group, op="all_to_all", extra="dispatch", **role)
        combine = self.comm("combine", [self.expert_shape], self.full, group, op="all_to_all", extra="combine", **role)
        self.g.connect(norm2, dispatch)
        self.g.connect(gate, dispatch, dashed=True)
        per_rank = p.experts // p.ep
        for expert in range(p.experts):
            rank = expert // per_rank
            ranks = (("ep", (rank, rank)), ("tp", (0, p.tp - 1)), ("pp", (pp, pp)), *self._dp_rank(dp))
            place = Place(self.gpu(dp, pp, rank, 0), self.gpu(dp, pp, rank, p.tp - 1), ranks)
            node = self.compute("expert", [self.expert_shape], self.expert_shape, place, title_values={"expert": expert},
                                op="expert", extra=f"e{expert}", expert=expert, ep=rank, **role)
            self.g.connect(dispatch, node)
            self.g.connect(node, combine)
        residual2 = self.compute("residual_add", [self.full, self.full], self.full, self.tp_group(dp, pp),
                                 op="residual_add", extra="moe", **role)
        self.g.connect(combine, residual2)
        self.g.connect(previous, residual2, dashed=True)
        return residual2

    def head(self, dp: int, pp: int, previous: str) -> str:
        p = self.p
        norm = self.compute("final_norm", [self.full], self.full, self.tp_group(dp, pp), op="final_norm", stage=pp, dp=dp)
        self.g.connect(previous, norm)
        logits = _dims(batch=p.batch, seq=p.seq, vocab=p.vocab)
        if p.tp == 1 or not self.s.vocab_parallel_head:
            head = self.compute("lm_head_full" if p.tp > 1 else "lm_head", [self.full], logits, self.tp_group(dp, pp),
                                op="lm_head", stage=pp, dp=dp)
            self.g.connect(norm, head)
            return head
        shard = _dims(batch=p.batch, seq=p.seq, vocab=p.vocab // p.tp)
        head = self.compute("lm_head", [self.full], shard, self.tp_group(dp, pp), op="lm_head", stage=pp, dp=dp)
        self.g.connect(norm, head)
        gather = self.comm("logits_gather", [shard], logits, self.tp_group_line(), op="all_gather", extra="logits",
                           stage=pp, dp=dp)
        self.g.connect(head, gather)
        return gather


def generate(spec: ModelSpec, strategy: Strategy, name: str = "Generated Deployment", style: str = "snake",
             dp_replicas: str = "one", layers: int | None = None, house: str = "reference") -> GenGraph:
    """The DAG as data, drawn in a house style (`house`), with `style` as its id scheme unless the
    house style sets its own."""
    if dp_replicas not in ("one", "shown"):
        raise ConfigError("--dp-replicas is `one` or `shown`")
    if style not in ID_SCHEMES:
        raise ConfigError(f"unknown naming style {style!r} (one of {', '.join(ID_SCHEMES)})")
    if house not in HOUSE_STYLES:
        raise ConfigError(f"unknown house style {house!r} (one of {', '.join(HOUSE_STYLES)})")
    chosen = HOUSE_STYLES[house]
    if house == "reference":
        chosen = dataclasses.replace(chosen, ids=style)
    return Builder(make_plan(spec, strategy, layers), name, chosen, dp_replicas).build()
