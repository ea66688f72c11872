"""Build a correct deployment DAG for a model and a strategy, following dag-conventions.md.

GPU layout (stated in the graph label): id = ((dp * PP + pp) * EP + ep) * TP + tp. Attention and
the dense operators of a stage are drawn for EP group 0 (its TP group, one node per TP rank);
the other EP groups run the same operators on their own tokens. Experts of EP rank e sit on
that rank's TP group.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagtui.errors import ConfigError
from dagtui.generate.graph import GenGraph, GenNode
from dagtui.model.spec import ModelSpec
from dagtui.model.strategy import Strategy
from dagtui.validate.ranges import compact_ranges

NAMING_STYLES = ("snake", "caps", "opaque")


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
        vocab=spec.vocab_size or 32000, **degrees,
    )


class _Ids:
    """Node ids in one of three styles; labels carry the meaning in every style."""

    def __init__(self, style: str) -> None:
        if style not in NAMING_STYLES:
            raise ConfigError(f"unknown naming style {style!r} (one of {', '.join(NAMING_STYLES)})")
        self.style = style
        self.count = 0

    def __call__(self, op: str, layer: int | None = None, tp: int | None = None, extra: str = "", dp: int = 0,
                 stage: int | None = None) -> str:
        self.count += 1
        if self.style == "opaque":
            return f"n{self.count}"
        parts = [f"dp{dp}"] if dp else []
        if layer is None and stage is not None:
            parts.append(f"pp{stage}" if self.style == "snake" else f"PP{stage}")
        if self.style == "snake":
            parts += [f"layer{layer}"] if layer is not None else []
            parts += [op] + ([extra] if extra else []) + ([f"tp{tp}"] if tp is not None else [])
            return "_".join(parts)
        parts += [f"L{layer}"] if layer is not None else []
        parts += [f"TP{tp}"] if tp is not None else []
        parts += [op.upper().replace("_", "")] + ([extra.upper()] if extra else [])
        return "_".join(parts)


def _shape(*dims: str) -> str:
    return "[" + ", ".join(dims) + "]"


class Builder:
    def __init__(self, plan: Plan, name: str, style: str, dp_replicas: str) -> None:
        self.p = plan
        self.ids = _Ids(style)
        self.dp_replicas = dp_replicas
        shown = plan.dp if dp_replicas == "shown" else 1
        strategy = f"EP{plan.ep}-TP{plan.tp}-PP{plan.pp}-DP{plan.dp}"
        gpus = plan.ep * plan.tp * plan.pp * plan.dp
        replicas = "all DP replicas shown" if shown > 1 else f"DP replica 0 shown, {plan.dp - 1} more identical" if plan.dp > 1 else "one replica"
        self.g = GenGraph(
            name.replace(" ", "_"),
            f"{name}: {strategy} ({gpus} GPUs = {plan.ep}x{plan.tp}x{plan.pp}x{plan.dp}); GPU id = ((dp*PP + pp)*EP + ep)*TP + tp; "
            f"attention drawn for EP group 0 of each stage; {replicas}",
        )
        b, s, h = plan.batch, plan.seq, plan.hidden
        self.full = _shape(f"batch={b}", f"seq={s}", f"hidden={h}")
        self.head_shard = _shape(f"batch={b}", f"seq={s}", f"heads={plan.heads // plan.tp}", f"d_k={plan.d_k}")
        self.scores = _shape(f"batch={b}", f"heads={plan.heads // plan.tp}", f"seq={s}", f"kv={s}")
        self.tokens = b * s * plan.top_k // plan.experts
        self.expert_shape = _shape(f"tokens={self.tokens}", f"hidden={h}")
        self.replicas = shown

    # -- placement -----------------------------------------------------------------------------
    def gpu(self, dp: int, pp: int, ep: int, tp: int) -> int:
        p = self.p
        return ((dp * p.pp + pp) * p.ep + ep) * p.tp + tp

    def tp_group(self, dp: int, pp: int, ep: int = 0) -> str:
        first, last = self.gpu(dp, pp, ep, 0), self.gpu(dp, pp, ep, self.p.tp - 1)
        ranks = f"TP0-TP{self.p.tp - 1}" if self.p.tp > 1 else "TP0"
        ids = f"{first}-{last}" if last > first else f"{first}"
        return f"GPU: {ids} ({ranks}, PP{pp}{self.dp_tag(dp)})"

    def dp_tag(self, dp: int) -> str:
        """`, DP1` on placements when several DP replicas are drawn, so each is judged on its own."""
        return f", DP{dp}" if self.replicas > 1 else ""

    def node(self, lines: list[str], shape: str = "box", **role) -> str:
        node_id = self.ids(
            str(role.get("op")), role.get("layer"), role.get("tp"), str(role.get("extra", "")),  # type: ignore[arg-type]
            int(role.get("dp", 0)), role.get("stage"),  # type: ignore[arg-type]
        )
        return self.g.add(GenNode(node_id, lines, shape, role))

    def compute(self, title: str, inputs: list[str], output: str, gpu: str, **role) -> str:
        return self.node([title, *self._where(role), f"Input: {', '.join(inputs)}", f"Output: {output}", gpu], **role)

    def comm(self, title: str, inputs: list[str], output: str, group: str, **role) -> str:
        return self.node([title, *self._where(role), f"Input: {', '.join(inputs)}", f"Output: {output}", group],
                         shape="ellipse", **role)

    @staticmethod
    def _where(role: dict) -> list[str]:
        parts = []
        if role.get("layer") is not None:
            parts.append(f"Layer {role['layer']}")
        if role.get("tp") is not None:
            parts.append(f"TP{role['tp']}")
        return [" ".join(parts)] if parts else []

    # -- the graph -------------------------------------------------------------------------------
    def build(self) -> GenGraph:
        p = self.p
        source = self.node(["Input", f"Input: {_shape(f'batch={p.batch}', f'seq={p.seq}')}",
                            f"Output: {_shape(f'batch={p.batch}', f'seq={p.seq}')}"], shape="ellipse", op="input")
        sink = self.node(["Output", f"Input: {_shape(f'batch={p.batch}', f'seq={p.seq}', f'vocab={p.vocab}')}"],
                         shape="ellipse", op="output")
        for dp in range(self.replicas):
            last = self.replica(dp, source)
            self.g.connect(last, sink)
        return self.g

    def replica(self, dp: int, source: str) -> str:
        p = self.p
        per_stage = p.layers // p.pp
        previous = source
        for pp in range(p.pp):
            layers = range(pp * per_stage, (pp + 1) * per_stage)
            ids = f"{self.gpu(dp, pp, 0, 0)}-{self.gpu(dp, pp, p.ep - 1, p.tp - 1)}"
            marker = self.node([f"PP Stage {pp}", f"GPU: {ids} (PP{pp}{self.dp_tag(dp)})", f"Layers {compact_ranges(layers)}"],
                               shape="parallelogram", op="stage_marker", stage=pp, dp=dp)
            self.g.connect(previous, marker)
            previous = marker
            if pp == 0:
                previous = self.embedding(dp, previous)
            for layer in layers:
                previous = self.layer(dp, pp, layer, previous)
            if pp < p.pp - 1:
                send = self.comm("Pipeline Send/Recv", [self.full], self.full, f"PP{pp} → PP{pp + 1}",
                                 op="send_recv", stage=pp, dp=dp)
                self.g.connect(previous, send)
                previous = send
        return self.head(dp, p.pp - 1, previous)

    def embedding(self, dp: int, previous: str) -> str:
        p = self.p
        tokens = _shape(f"batch={p.batch}", f"seq={p.seq}")
        embed = self.compute("Embedding (vocab-parallel)", [tokens], self.full, self.tp_group(dp, 0),
                             op="embedding", stage=0, dp=dp)
        self.g.connect(previous, embed)
        if p.tp == 1:
            return embed
        reduce = self.comm("All-Reduce (embedding)", [self.full], self.full, f"TP Group: TP0-TP{p.tp - 1}",
                           op="all_reduce", extra="embed", stage=0, dp=dp)
        self.g.connect(embed, reduce)
        return reduce

    def layer(self, dp: int, pp: int, layer: int, previous: str) -> str:
        p = self.p
        role = {"layer": layer, "stage": pp, "dp": dp}
        norm1 = self.compute("RMSNorm (attention)", [self.full], self.full, self.tp_group(dp, pp), op="norm", extra="attn", **role)
        self.g.connect(previous, norm1)
        reduce = self.comm("All-Reduce (attention)", [self.full], self.full, f"TP Group: TP0-TP{p.tp - 1}",
                           op="all_reduce", extra="attn", **role) if p.tp > 1 else None
        for tp in range(p.tp):
            gpu = f"GPU: {self.gpu(dp, pp, 0, tp)} (TP{tp}, PP{pp}{self.dp_tag(dp)})"
            r = {**role, "tp": tp}
            q = self.compute("Q Projection (column-parallel)", [self.full], self.head_shard, gpu, op="q_proj", **r)
            k = self.compute("K Projection (column-parallel)", [self.full], self.head_shard, gpu, op="k_proj", **r)
            v = self.compute("V Projection (column-parallel)", [self.full], self.head_shard, gpu, op="v_proj", **r)
            score = self.compute("Attention Score (Q x K^T)", [self.head_shard, self.head_shard], self.scores, gpu, op="attn_score", **r)
            softmax = self.compute("Softmax", [self.scores], self.scores, gpu, op="softmax", **r)
            context = self.compute("Attention Output (scores x V)", [self.scores, self.head_shard], self.head_shard, gpu,
                                   op="attn_weighted_sum", **r)
            out = self.compute("Output Projection (row-parallel)", [self.head_shard], self.full, gpu, op="o_proj", **r)
            for a, b_ in ((norm1, q), (norm1, k), (norm1, v), (q, score), (k, score), (score, softmax),
                          (softmax, context), (v, context), (context, out)):
                self.g.connect(a, b_)
            if reduce:
                self.g.connect(out, reduce)
            else:
                reduce_target = out
        residual1 = self.compute("Residual Add", [self.full, self.full], self.full, self.tp_group(dp, pp),
                                 op="residual_add", extra="attn", **role)
        self.g.connect(reduce or reduce_target, residual1)
        self.g.connect(previous, residual1, dashed=True)
        return self.moe(dp, pp, layer, residual1)

    def moe(self, dp: int, pp: int, layer: int, previous: str) -> str:
        p = self.p
        role = {"layer": layer, "stage": pp, "dp": dp}
        norm2 = self.compute("RMSNorm (MoE)", [self.full], self.full, self.tp_group(dp, pp), op="norm", extra="moe", **role)
        self.g.connect(previous, norm2)
        gate = self.node(["Gate (router)", f"Layer {layer}", f"Top-{p.top_k} of {p.experts} experts",
                          f"Input: {self.full}", f"Output: {_shape(f'batch={p.batch}', f'seq={p.seq}', f'top_k={p.top_k}')}",
                          self.tp_group(dp, pp)], shape="parallelogram", op="gate", **role)
        self.g.connect(norm2, gate)
        dispatch = self.comm("All-to-All Dispatch", [self.full], self.expert_shape, f"EP Group: EP0-EP{p.ep - 1}",
                             op="all_to_all", extra="dispatch", **role)
        combine = self.comm("All-to-All Combine", [self.expert_shape], self.full, f"EP Group: EP0-EP{p.ep - 1}",
                            op="all_to_all", extra="combine", **role)
        self.g.connect(norm2, dispatch)
        self.g.connect(gate, dispatch, dashed=True)
        per_rank = p.experts // p.ep
        for expert in range(p.experts):
            rank = expert // per_rank
            first, last = self.gpu(dp, pp, rank, 0), self.gpu(dp, pp, rank, p.tp - 1)
            ids = f"{first}-{last}" if last > first else f"{first}"
            node = self.node([f"Expert {expert}", f"Layer {layer}", f"Input: {self.expert_shape}",
                              f"Output: {self.expert_shape}", f"GPU: {ids} (EP{rank}, PP{pp}{self.dp_tag(dp)})"],
                             op="expert", extra=f"e{expert}", expert=expert, ep=rank, **role)
            self.g.connect(dispatch, node)
            self.g.connect(node, combine)
        residual2 = self.compute("Residual Add", [self.full, self.full], self.full, self.tp_group(dp, pp),
                                 op="residual_add", extra="moe", **role)
        self.g.connect(combine, residual2)
        self.g.connect(previous, residual2, dashed=True)
        return residual2

    def head(self, dp: int, pp: int, previous: str) -> str:
        p = self.p
        norm = self.compute("Final RMSNorm", [self.full], self.full, self.tp_group(dp, pp), op="final_norm", stage=pp, dp=dp)
        self.g.connect(previous, norm)
        logits = _shape(f"batch={p.batch}", f"seq={p.seq}", f"vocab={p.vocab}")
        shard = _shape(f"batch={p.batch}", f"seq={p.seq}", f"vocab={p.vocab // p.tp}")
        head = self.compute("LM Head (column-parallel)", [self.full], shard if p.tp > 1 else logits, self.tp_group(dp, pp),
                            op="lm_head", stage=pp, dp=dp)
        self.g.connect(norm, head)
        if p.tp == 1:
            return head
        gather = self.comm("All-Gather (logits)", [shard], logits, f"TP Group: TP0-TP{p.tp - 1}", op="all_gather",
                           extra="logits", stage=pp, dp=dp)
        self.g.connect(head, gather)
        return gather


def generate(spec: ModelSpec, strategy: Strategy, name: str = "Generated Deployment", style: str = "snake",
             dp_replicas: str = "one", layers: int | None = None) -> GenGraph:
    """The DAG as data."""
    if dp_replicas not in ("one", "shown"):
        raise ConfigError("--dp-replicas is `one` or `shown`")
    return Builder(make_plan(spec, strategy, layers), name, style, dp_replicas).build()
