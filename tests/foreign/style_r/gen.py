#!/usr/bin/env python3
"""House style R: Megatron-LM flavoured deployment DAGs (one inference forward pass).

Writes into ./out (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot   correct DAGs, three strategies
  defect_<kind>.dot                       one clean DAG with exactly one injected defect
  manifest.json                           what each file is

Style (kept identical in every file):
  * op wording from Megatron-LM modules (input_layernorm, linear_qkv, split_qkv, core_attention
    bmm1/scale_mask_softmax/bmm2, linear_proj, reduce_from_tensor_model_parallel_region,
    bias_dropout_add, pre_mlp_layernorm, TopKRouter, MoEAlltoAllTokenDispatcher, SequentialMLP
    local_experts, linear_fc1/activation_func/linear_fc2, ...)
  * sequence-first named shapes: [s=2048, b=2, h=1024], [s, b, np, hn], scores [b, np, sq, sk]
  * label lines: op / input: / output: / placement: pp_rank=.. tp_rank=.. ep_rank=.. -> gpu N
  * quoted ids decoder.layers.{L}.<module>[.dp{d}][.ep{e}].tp{t}, layers numbered from 1
  * one cluster per pipeline stage: "pipeline_model_parallel_rank P (layers a-b)"
  * strategy in the graph label: tensor_model_parallel_size=.., pipeline_model_parallel_size=..,
    expert_model_parallel_size=.., data_parallel_size=..

GPU layout: gpu = ((dp_rank*PP + pp_rank)*EP + ep_rank)*TP + tp_rank, i.e. EP*TP*PP*DP GPUs.
Attention (and dense MLP) is tensor-parallel inside each (dp_rank, ep_rank) group and
data-parallel across ep_ranks: every ep_rank serves its own micro-batch. MoE experts are not
tensor-sharded (expert_tensor_parallel_size=1): the E/EP local experts of an ep_rank are spread
over that ep_rank's TP GPUs; the all-to-all of tp_rank t exchanges tokens among the GPUs with
tp_rank t, and the TP all-reduce after `unpermute` sums the expert outputs of the TP slices.
Standard library only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

AR_OP = "reduce_from_tensor_model_parallel_region (all-reduce)"


# ----------------------------------------------------------------------------- config
class Cfg:
    def __init__(self, name, title, tp, pp, ep, dp, layers, hidden, heads, hn, seq, mbs, vocab,
                 ffn=None, experts=0, topk=2, moe_ffn=None, moe_layers=()):
        self.name, self.title = name, title
        self.tp, self.pp, self.ep, self.dp = tp, pp, ep, dp
        self.layers, self.hidden, self.heads, self.hn = layers, hidden, heads, hn
        self.seq, self.mbs, self.vocab = seq, mbs, vocab
        self.ffn, self.experts, self.topk, self.moe_ffn = ffn, experts, topk, moe_ffn
        self.moe_layers = set(moe_layers)
        assert heads * hn == hidden
        assert heads % tp == 0 and vocab % tp == 0 and layers % pp == 0
        if ffn:
            assert ffn % tp == 0
        if self.moe_layers:
            assert ep > 1 and experts % ep == 0 and (experts // ep) % tp == 0
        else:
            assert ep == 1
        self.np = heads // tp            # heads per partition
        self.lps = layers // pp          # layers per stage

    # ---- placement
    def gpu(self, d, p, e, t):
        return ((d * self.pp + p) * self.ep + e) * self.tp + t

    def stage(self, L):
        return (L - 1) // self.lps

    def stage_layers(self, p):
        return range(p * self.lps + 1, (p + 1) * self.lps + 1)

    def strategy(self, tp=None, pp=None, ep=None, dp=None):
        return ("tensor_model_parallel_size=%d, pipeline_model_parallel_size=%d, "
                "expert_model_parallel_size=%d, data_parallel_size=%d"
                % (tp or self.tp, pp or self.pp, ep or self.ep, dp or self.dp))

    def model_line(self):
        parts = ["num_layers=%d" % self.layers, "hidden_size=%d" % self.hidden,
                 "num_attention_heads=%d" % self.heads, "kv_channels=%d" % self.hn]
        if self.ffn:
            parts.append("ffn_hidden_size=%d" % self.ffn)
        if self.moe_layers:
            parts += ["num_moe_experts=%d" % self.experts, "moe_router_topk=%d" % self.topk,
                      "moe_ffn_hidden_size=%d" % self.moe_ffn,
                      "moe_layer_freq=[%s]" % ",".join(
                          "1" if L in self.moe_layers else "0" for L in range(1, self.layers + 1))]
        parts += ["seq_length=%d" % self.seq, "micro_batch_size=%d" % self.mbs,
                  "padded_vocab_size=%d" % self.vocab]
        return ", ".join(parts)

    # ---- shapes (sequence-first, named)
    def hid(self, h=None):
        return S(s=self.seq, b=self.mbs, h=h or self.hidden)

    def ids(self):
        return S(s=self.seq, b=self.mbs)

    def qkv(self, np_=None, hn=None):
        return S(s=self.seq, b=self.mbs, np=np_ or self.np, qkv_hn=3 * (hn or self.hn))

    def head(self, np_=None, hn=None):
        return S(s=self.seq, b=self.mbs, np=np_ or self.np, hn=hn or self.hn)

    def scores(self, np_=None):
        return S(b=self.mbs, np=np_ or self.np, sq=self.seq, sk=self.seq)

    def ctx(self, np_=None, hn=None):
        return S(s=self.seq, b=self.mbs, hp=(np_ or self.np) * (hn or self.hn))

    def fc1(self):
        return S(s=self.seq, b=self.mbs, gate_up=2 * self.ffn // self.tp)

    def act(self):
        return S(s=self.seq, b=self.mbs, fp=self.ffn // self.tp)

    def router(self):
        return S(tokens=self.seq * self.mbs, topk=self.topk)

    def exp_tokens(self):
        # every ep_rank's stream sends s*b*k/E token copies to each expert
        return self.ep * self.seq * self.mbs * self.topk // self.experts

    def expS(self):
        return S(tokens=self.exp_tokens(), h=self.hidden)

    def combS(self):
        # token copies a (stream, tp slice) gets back: those routed to the slice's E/TP experts
        return S(tokens=self.seq * self.mbs * self.topk // self.tp, h=self.hidden)

    def vp(self):
        return S(s=self.seq, b=self.mbs, vp=self.vocab // self.tp)

    def v(self):
        return S(s=self.seq, b=self.mbs, v=self.vocab)

    # ---- ids
    def sfx(self, d, e, t):
        parts = []
        if self.dp > 1:
            parts.append("dp%d" % d)
        if self.ep > 1 and e is not None:
            parts.append("ep%d" % e)
        if t is not None:
            parts.append("tp%d" % t)
        return ".".join(parts)

    def nid(self, base, d, e, t):
        s = self.sfx(d, e, t)
        return base + ("." + s if s else "")

    def lid(self, L, mod, d, e, t):
        return self.nid("decoder.layers.%d.%s" % (L, mod), d, e, t)

    def ck(self, d, p):
        return ("cluster_dp%d_pp%d" % (d, p)) if self.dp > 1 else ("cluster_pp%d" % p)

    def cluster_label(self, d, p, rng=None):
        r = rng or "layers %d-%d" % (self.stage_layers(p)[0], self.stage_layers(p)[-1])
        lab = "pipeline_model_parallel_rank %d (%s)" % (p, r)
        if self.dp > 1:
            lab = "data_parallel_rank %d, " % d + lab
        return lab

    # ---- placement strings
    def place(self, d, p, e, t, gpu=None):
        parts = []
        if self.dp > 1:
            parts.append("dp_rank=%d" % d)
        parts += ["pp_rank=%d" % p, "tp_rank=%d" % t, "ep_rank=%d" % e]
        return " ".join(parts) + " -> gpu %d" % (self.gpu(d, p, e, t) if gpu is None else gpu)

    def cplace(self, d, ps, es, ts, pp_text=None):
        gpus = sorted({self.gpu(d, p, e, t) for p in ps for e in es for t in ts})
        parts = []
        if self.dp > 1:
            parts.append("dp_rank=%d" % d)
        parts += ["pp_rank=%s" % (pp_text or rng(ps)), "tp_rank=%s" % rng(ts),
                  "ep_rank=%s" % rng(es)]
        return " ".join(parts) + " -> gpus " + compress(gpus)


def S(**kw):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in kw.items()) + "]"


def rng(xs):
    xs = sorted(xs)
    if len(xs) == 1:
        return str(xs[0])
    if xs == list(range(xs[0], xs[-1] + 1)):
        return "%d-%d" % (xs[0], xs[-1])
    return ",".join(map(str, xs))


def compress(xs):
    xs = sorted(xs)
    runs, start, prev = [], None, None
    for x in xs:
        if start is None:
            start = prev = x
        elif x == prev + 1:
            prev = x
        else:
            runs.append((start, prev))
            start = prev = x
    runs.append((start, prev))
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs)


# ----------------------------------------------------------------------------- graph model
class Graph:
    def __init__(self, name, label):
        self.name, self.label = name, label
        self.clusters = {}         # key -> label (insertion ordered)
        self.nodes = {}            # id -> dict(kind, op, inp, out, place, cluster)
        self.edges = []            # [src, dst, attrs]

    def node(self, nid, kind, op, inp, out, place, cluster):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(kind=kind, op=op, inp=list(inp) if inp is not None else None,
                               out=list(out) if out is not None else None, place=place,
                               cluster=cluster)
        return nid

    def edge(self, s, d, **attrs):
        assert s in self.nodes and d in self.nodes, (s, d)
        self.edges.append([s, d, attrs])

    def rm_edge(self, s, d, label=None):
        before = len(self.edges)
        self.edges = [e for e in self.edges
                      if not (e[0] == s and e[1] == d and (label is None or e[2].get("label") == label))]
        assert len(self.edges) < before, ("no such edge", s, d, label)

    def rm_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def succ(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    def pred(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def edge_attrs(self, s, d):
        return [e[2] for e in self.edges if e[0] == s and e[1] == d]

    # ---- rendering
    def label_of(self, n):
        lines = [n["op"]]
        if n["inp"] is not None:
            lines.append("input: " + ", ".join(n["inp"]))
        if n["out"] is not None:
            lines.append("output: " + ", ".join(n["out"]))
        if n["place"] is not None:
            lines.append("placement: " + n["place"])
        return "\\n".join(q(x) for x in lines)

    def node_line(self, nid, n, ind):
        attrs = []
        if n["kind"] != "box":
            attrs.append("shape=%s" % n["kind"])
        attrs.append('label="%s"' % self.label_of(n))
        return '%s"%s" [%s];' % (ind, q(nid), ", ".join(attrs))

    def render(self):
        out = ["// Megatron-LM style deployment DAG (house style R), written by gen.py",
               'digraph "%s" {' % q(self.name),
               '  graph [label="%s", labelloc=t, fontsize=12, newrank=true];'
               % "\\n".join(q(x) for x in self.label),
               '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=9];',
               '  edge [fontsize=8];']
        for ck, clabel in self.clusters.items():
            out.append('  subgraph "%s" {' % ck)
            out.append('    label="%s";' % q(clabel))
            out.append('    style=dashed;')
            for nid, n in self.nodes.items():
                if n["cluster"] == ck:
                    out.append(self.node_line(nid, n, "    "))
            out.append("  }")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(self.node_line(nid, n, "  "))
        for s, d, attrs in self.edges:
            a = ""
            if attrs:
                a = " [" + ", ".join('%s="%s"' % (k, q(str(v))) for k, v in attrs.items()) + "]"
            out.append('  "%s" -> "%s"%s;' % (q(s), q(d), a))
        out.append("}")
        return "\n".join(out) + "\n"


def q(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


# ----------------------------------------------------------------------------- builder
def build(c):
    g = Graph(c.name, [c.title, c.strategy(), c.model_line(),
                       "gpu = ((dp_rank*PP + pp_rank)*EP + ep_rank)*TP + tp_rank; "
                       "attention is data-parallel across ep_rank (each ep_rank serves its own micro-batch)"])
    T = range(c.tp)
    E = range(c.ep)
    for d in range(c.dp):
        for p in range(c.pp):
            g.clusters[c.ck(d, p)] = c.cluster_label(d, p)
        prev = {}
        ck0 = c.ck(d, 0)
        # ---- input, broadcast to the TP group, vocab-parallel embedding, all-reduce
        for e in E:
            inp = g.node(c.nid("input_ids", d, e, None), "box", "input_ids (token ids)",
                         [c.ids()], [c.ids()], c.place(d, 0, e, 0), ck0)
            bc = g.node(c.nid("broadcast_data", d, e, None), "ellipse",
                        "broadcast_data (tensor_model_parallel group)", [c.ids()], [c.ids()],
                        c.cplace(d, [0], [e], T), ck0)
            g.edge(inp, bc)
            ar = g.node(c.nid("embedding.reduce_from_tensor_model_parallel_region", d, e, None),
                        "ellipse", AR_OP, [c.hid()], [c.hid()], c.cplace(d, [0], [e], T), ck0)
            for t in T:
                emb = g.node(c.nid("embedding.word_embeddings", d, e, t), "box",
                             "embedding.word_embeddings (VocabParallelEmbedding)",
                             [c.ids()], [c.hid()], c.place(d, 0, e, t), ck0)
                g.edge(bc, emb)
                g.edge(emb, ar)
                prev[(e, t)] = ar
        # ---- decoder layers
        for L in range(1, c.layers + 1):
            p = c.stage(L)
            ck = c.ck(d, p)
            if p > 0 and L == c.stage_layers(p)[0]:
                for e in E:
                    for t in T:
                        x = g.node(c.nid("p2p.send_recv_forward.pp%d_to_pp%d" % (p - 1, p), d, e, t),
                                   "ellipse", "send_forward / recv_forward (p2p, pipeline stage %d -> %d)"
                                   % (p - 1, p), [c.hid()], [c.hid()],
                                   c.cplace(d, [p - 1, p], [e], [t], "%d->%d" % (p - 1, p)), None)
                        g.edge(prev[(e, t)], x)
                        prev[(e, t)] = x
            build_attention(g, c, d, L, p, ck, prev)
            if L in c.moe_layers:
                build_moe(g, c, d, L, p, ck, prev)
            else:
                build_dense_mlp(g, c, d, L, p, ck, prev)
        # ---- final norm, vocab-parallel LM head, all-gather, logits
        pl = c.pp - 1
        ck = c.ck(d, pl)
        for e in E:
            ga = g.node(c.nid("output_layer.gather_from_tensor_model_parallel_region", d, e, None),
                        "ellipse", "gather_from_tensor_model_parallel_region (all-gather)",
                        [c.vp()], [c.v()], c.cplace(d, [pl], [e], T), ck)
            for t in T:
                fl = g.node(c.nid("decoder.final_layernorm", d, e, t), "box",
                            "final_layernorm (RMSNorm)", [c.hid()], [c.hid()], c.place(d, pl, e, t), ck)
                g.edge(prev[(e, t)], fl)
                ol = g.node(c.nid("output_layer", d, e, t), "box",
                            "output_layer (ColumnParallelLinear, vocab-parallel)",
                            [c.hid()], [c.vp()], c.place(d, pl, e, t), ck)
                g.edge(fl, ol)
                g.edge(ol, ga)
            o = g.node(c.nid("output_logits", d, e, None), "box", "output (logits)",
                       [c.v()], [c.v()], c.place(d, pl, e, 0), ck)
            g.edge(ga, o)
    return g


def build_attention(g, c, d, L, p, ck, prev):
    for e in range(c.ep):
        ar = g.node(c.lid(L, "self_attention.reduce_from_tensor_model_parallel_region", d, e, None),
                    "ellipse", AR_OP, [c.hid()], [c.hid()], c.cplace(d, [p], [e], range(c.tp)), ck)
        for t in range(c.tp):
            pl = c.place(d, p, e, t)
            res = prev[(e, t)]
            lid = lambda mod: c.lid(L, mod, d, e, t)
            ln = g.node(lid("input_layernorm"), "box", "input_layernorm (RMSNorm)",
                        [c.hid()], [c.hid()], pl, ck)
            qkv = g.node(lid("self_attention.linear_qkv"), "box", "linear_qkv (ColumnParallelLinear)",
                         [c.hid()], [c.qkv()], pl, ck)
            sp = g.node(lid("self_attention.split_qkv"), "parallelogram", "split_qkv",
                        [c.qkv()], [c.head()] * 3, pl, ck)
            b1 = g.node(lid("self_attention.core_attention.bmm1"), "box", "core_attention: bmm1 (Q·Kᵀ)",
                        [c.head(), c.head()], [c.scores()], pl, ck)
            sm = g.node(lid("self_attention.core_attention.scale_mask_softmax"), "box",
                        "core_attention: scale_mask_softmax", [c.scores()], [c.scores()], pl, ck)
            b2 = g.node(lid("self_attention.core_attention.bmm2"), "box", "core_attention: bmm2 (probs·V)",
                        [c.scores(), c.head()], [c.ctx()], pl, ck)
            pj = g.node(lid("self_attention.linear_proj"), "box", "linear_proj (RowParallelLinear)",
                        [c.ctx()], [c.hid()], pl, ck)
            bda = g.node(lid("self_attn_bda"), "box", "bias_dropout_add (residual add)",
                         [c.hid(), c.hid()], [c.hid()], pl, ck)
            g.edge(res, ln)
            g.edge(ln, qkv)
            g.edge(qkv, sp)
            g.edge(sp, b1, label="q")
            g.edge(sp, b1, label="k")
            g.edge(sp, b2, label="v")
            g.edge(b1, sm)
            g.edge(sm, b2)
            g.edge(b2, pj)
            g.edge(pj, ar)
            g.edge(ar, bda)
            g.edge(res, bda, label="residual")
            prev[(e, t)] = bda


def build_dense_mlp(g, c, d, L, p, ck, prev):
    for e in range(c.ep):
        ar = g.node(c.lid(L, "mlp.reduce_from_tensor_model_parallel_region", d, e, None),
                    "ellipse", AR_OP, [c.hid()], [c.hid()], c.cplace(d, [p], [e], range(c.tp)), ck)
        for t in range(c.tp):
            pl = c.place(d, p, e, t)
            res = prev[(e, t)]
            lid = lambda mod: c.lid(L, mod, d, e, t)
            ln = g.node(lid("pre_mlp_layernorm"), "box", "pre_mlp_layernorm (RMSNorm)",
                        [c.hid()], [c.hid()], pl, ck)
            f1 = g.node(lid("mlp.linear_fc1"), "box", "linear_fc1 (ColumnParallelLinear)",
                        [c.hid()], [c.fc1()], pl, ck)
            ac = g.node(lid("mlp.activation_func"), "box", "activation_func (swiglu)",
                        [c.fc1()], [c.act()], pl, ck)
            f2 = g.node(lid("mlp.linear_fc2"), "box", "linear_fc2 (RowParallelLinear)",
                        [c.act()], [c.hid()], pl, ck)
            bda = g.node(lid("mlp_bda"), "box", "bias_dropout_add (residual add)",
                         [c.hid(), c.hid()], [c.hid()], pl, ck)
            g.edge(res, ln)
            g.edge(ln, f1)
            g.edge(f1, ac)
            g.edge(ac, f2)
            g.edge(f2, ar)
            g.edge(ar, bda)
            g.edge(res, bda, label="residual")
            prev[(e, t)] = bda


def expert_slot(c, r, i):
    """(global expert index, tp_rank) of local expert i of ep_rank r."""
    per_rank = c.experts // c.ep
    return r * per_rank + i, i // (per_rank // c.tp)


def add_expert(g, c, d, L, p, ck, r, i, gexp, t, gpu=None):
    ex = g.node(c.nid("decoder.layers.%d.mlp.experts.local_experts.%d" % (L, i), d, r, None), "box",
                "SequentialMLP.local_experts[%d] (expert %d of %d)" % (i, gexp, c.experts),
                [c.expS()], [c.expS()], c.place(d, p, r, t, gpu), ck)
    g.edge(c.lid(L, "mlp.token_dispatcher.dispatch", d, None, t), ex)
    g.edge(ex, c.lid(L, "mlp.token_dispatcher.combine", d, None, t))
    return ex


def build_moe(g, c, d, L, p, ck, prev):
    T, E = range(c.tp), range(c.ep)
    for e in E:
        for t in T:
            pl = c.place(d, p, e, t)
            ln = g.node(c.lid(L, "pre_mlp_layernorm", d, e, t), "box", "pre_mlp_layernorm (RMSNorm)",
                        [c.hid()], [c.hid()], pl, ck)
            g.edge(prev[(e, t)], ln)
            ro = g.node(c.lid(L, "mlp.router", d, e, t), "parallelogram",
                        "TopKRouter (top-%d of %d)" % (c.topk, c.experts), [c.hid()], [c.router()], pl, ck)
            g.edge(ln, ro)
    for t in T:
        dis = g.node(c.lid(L, "mlp.token_dispatcher.dispatch", d, None, t), "ellipse",
                     "MoEAlltoAllTokenDispatcher.dispatch (all-to-all)", [c.hid(), c.router()],
                     [c.expS()], c.cplace(d, [p], E, [t]), ck)
        g.node(c.lid(L, "mlp.token_dispatcher.combine", d, None, t), "ellipse",
               "MoEAlltoAllTokenDispatcher.combine (all-to-all)", [c.expS()], [c.combS()],
               c.cplace(d, [p], E, [t]), ck)
        for e in E:
            g.edge(c.lid(L, "pre_mlp_layernorm", d, e, t), dis)
            g.edge(c.lid(L, "mlp.router", d, e, t), dis, style="dashed", label="routing_map")
    for r in E:
        for i in range(c.experts // c.ep):
            gexp, t = expert_slot(c, r, i)
            add_expert(g, c, d, L, p, ck, r, i, gexp, t)
    for e in E:
        ar = g.node(c.lid(L, "mlp.reduce_from_tensor_model_parallel_region", d, e, None), "ellipse",
                    AR_OP, [c.hid()], [c.hid()], c.cplace(d, [p], [e], T), ck)
        for t in T:
            pl = c.place(d, p, e, t)
            un = g.node(c.lid(L, "mlp.unpermute", d, e, t), "parallelogram", "unpermute + weighted sum",
                        [c.combS(), c.router()], [c.hid()], pl, ck)
            g.edge(c.lid(L, "mlp.token_dispatcher.combine", d, None, t), un)
            g.edge(c.lid(L, "mlp.router", d, e, t), un, style="dashed", label="probs")
            g.edge(un, ar)
            bda = g.node(c.lid(L, "mlp_bda", d, e, t), "box", "bias_dropout_add (residual add)",
                         [c.hid(), c.hid()], [c.hid()], pl, ck)
            g.edge(ar, bda)
            g.edge(prev[(e, t)], bda, label="residual")
            prev[(e, t)] = bda


# ----------------------------------------------------------------------------- the three clean DAGs
C1 = Cfg("gpt_moe_tp2_ep4", "Megatron-LM GPT-MoE inference, forward pass of one micro-batch per ep_rank",
         tp=2, pp=1, ep=4, dp=1, layers=2, hidden=1024, heads=8, hn=128, seq=2048, mbs=2,
         vocab=32000, experts=8, topk=2, moe_ffn=1408, moe_layers=(1, 2))
C2 = Cfg("gpt_moe_tp2_pp2_ep2", "Megatron-LM GPT-MoE inference, forward pass of one micro-batch per ep_rank",
         tp=2, pp=2, ep=2, dp=1, layers=4, hidden=2048, heads=16, hn=128, seq=1024, mbs=4,
         vocab=50304, ffn=5632, experts=8, topk=2, moe_ffn=1408, moe_layers=(2, 3, 4))
C3 = Cfg("gpt_dense_tp4_dp2", "Megatron-LM GPT (dense) inference, forward pass of one micro-batch per dp_rank",
         tp=4, pp=1, ep=1, dp=2, layers=2, hidden=4096, heads=32, hn=128, seq=2048, mbs=1,
         vocab=32000, ffn=11008)
CFGS = {"clean_1": C1, "clean_2": C2, "clean_3": C3}


# ----------------------------------------------------------------------------- defects
# Each defect: (kind, category, base, function(g, c) -> (nodes, what))
ATTN_CHAIN = ("self_attention.linear_qkv", "self_attention.split_qkv", "self_attention.core_attention.bmm1",
              "self_attention.core_attention.scale_mask_softmax", "self_attention.core_attention.bmm2",
              "self_attention.linear_proj")


def relabel_np(g, c, L, d, e, t, np_=None, hn=None):
    """Rewrite one rank's attention chain of layer L with np_ heads of hn dims (edge-consistent)."""
    lid = lambda mod: c.lid(L, mod, d, e, t)
    n = g.nodes
    n[lid("self_attention.linear_qkv")]["out"] = [c.qkv(np_, hn)]
    n[lid("self_attention.split_qkv")]["inp"] = [c.qkv(np_, hn)]
    n[lid("self_attention.split_qkv")]["out"] = [c.head(np_, hn)] * 3
    n[lid("self_attention.core_attention.bmm1")]["inp"] = [c.head(np_, hn)] * 2
    n[lid("self_attention.core_attention.bmm1")]["out"] = [c.scores(np_)]
    n[lid("self_attention.core_attention.scale_mask_softmax")]["inp"] = [c.scores(np_)]
    n[lid("self_attention.core_attention.scale_mask_softmax")]["out"] = [c.scores(np_)]
    n[lid("self_attention.core_attention.bmm2")]["inp"] = [c.scores(np_), c.head(np_, hn)]
    n[lid("self_attention.core_attention.bmm2")]["out"] = [c.ctx(np_, hn)]
    n[lid("self_attention.linear_proj")]["inp"] = [c.ctx(np_, hn)]


def d_cycle(g, c):
    ex = c.nid("decoder.layers.1.mlp.experts.local_experts.0", 0, 0, None)
    dis = c.lid(1, "mlp.token_dispatcher.dispatch", 0, None, 0)
    g.edge(ex, dis)
    return [dis, ex], ("Layer 1: expert 0 (ep_rank 0) also feeds back into the tp_rank 0 dispatch all-to-all "
                       "that feeds it, so dispatch -> expert -> dispatch is a cycle.")


def d_dangling_input(g, c):
    src = c.lid(1, "mlp_bda", 0, 1, 1)
    ln = c.lid(2, "input_layernorm", 0, 1, 1)
    g.rm_edge(src, ln)
    return [ln], ("Layer 2 input_layernorm of ep_rank 1 / tp_rank 1 has no incoming edge (the edge from "
                  "layer 1's bias_dropout_add was removed; that node still feeds the residual).")


def d_dangling_output(g, c):
    ex = c.nid("decoder.layers.2.mlp.experts.local_experts.1", 0, 2, None)     # expert 5, ep_rank 2
    g.rm_edge(ex, c.lid(2, "mlp.token_dispatcher.combine", 0, None, 1))
    return [ex], ("Layer 2 expert 5 (ep_rank 2, gpu %d) has no outgoing edge: its output never reaches the "
                  "combine all-to-all." % c.gpu(0, 0, 2, 1))


def d_v_into_score(g, c):
    nodes = []
    for e in range(c.ep):
        for t in range(c.tp):
            sp = c.lid(2, "self_attention.split_qkv", 0, e, t)
            b1 = c.lid(2, "self_attention.core_attention.bmm1", 0, e, t)
            for a in g.edge_attrs(sp, b1):
                if a.get("label") == "k":
                    a["label"] = "v"
            nodes += [b1, sp]
    return nodes, ("Layer 2 (every rank): split_qkv's v output is wired into bmm1 (the Q·Kᵀ score) in place "
                   "of k; K is used nowhere.")


def d_tp_heads(g, c):
    relabel_np(g, c, 1, 0, 0, 0, np_=c.heads)
    qkv = c.lid(1, "self_attention.linear_qkv", 0, 0, 0)
    return [c.lid(1, m, 0, 0, 0) for m in ATTN_CHAIN], (
        "Layer 1 ep_rank 0 / tp_rank 0: linear_qkv (ColumnParallelLinear, TP=%d) outputs all %d heads "
        "(np=%d) instead of %d heads per partition; the rank's attention chain carries np=%d."
        % (c.tp, c.heads, c.heads, c.np, c.heads))


def d_head_arithmetic(g, c):
    hn = c.hn // 2
    nodes = []
    for e in range(c.ep):
        for t in range(c.tp):
            relabel_np(g, c, 2, 0, e, t, hn=hn)
            nodes += [c.lid(2, m, 0, e, t) for m in ATTN_CHAIN]
    return nodes, ("Layer 2 labels use hn=%d with %d heads (np=%d per TP rank): %d x %d = %d != hidden %d."
                   % (hn, c.heads, c.np, c.heads, hn, c.heads * hn, c.hidden))


def d_edge_shape_mismatch(g, c):
    ln = c.lid(2, "input_layernorm", 0, 2, 0)
    g.nodes[ln]["inp"] = [c.hid(h=c.hidden * 3 // 4)]
    return [ln, c.lid(1, "mlp_bda", 0, 2, 0)], (
        "Layer 2 input_layernorm (ep_rank 2 / tp_rank 0) declares input h=%d but its producer, layer 1's "
        "bias_dropout_add, outputs h=%d (factor 4/3, not a parallel degree)." % (c.hidden * 3 // 4, c.hidden))


def rebuild_layer_experts(g, c, L, layout):
    """layout: list of (ep_rank, local_index, global_expert, tp_rank). Replaces layer L's experts."""
    for nid in [n for n in g.nodes if n.startswith("decoder.layers.%d.mlp.experts." % L)]:
        g.rm_node(nid)
    p = c.stage(L)
    ids = []
    for r, i, gexp, t in layout:
        ids.append(add_expert(g, c, 0, L, p, c.ck(0, p), r, i, gexp, t))
    return ids


def dispatch_combine(c, L):
    return [c.lid(L, "mlp.token_dispatcher.%s" % k, 0, None, t) for k in ("dispatch", "combine")
            for t in range(c.tp)]


def d_experts_subset_ranks(g, c):
    per = c.experts // 2          # all experts on ep_ranks 0 and 1 only
    layout = []
    for r in range(2):
        for i in range(per):
            layout.append((r, i, r * per + i, i // (per // c.tp)))
    ids = rebuild_layer_experts(g, c, 2, layout) + dispatch_combine(c, 2)
    return ids, ("Layer 2: all %d experts sit on ep_ranks 0-1 (%d each); ep_ranks 2-%d hold no expert "
                 "although expert_model_parallel_size=%d." % (c.experts, per, c.ep - 1, c.ep))


def d_experts_uneven(g, c):
    layout = []
    for r in range(c.ep):
        for i in range(c.experts // c.ep):
            gexp, t = expert_slot(c, r, i)
            layout.append((r, i, gexp, t))
    # move expert 3 (ep_rank 1, local 1, tp_rank 1) to ep_rank 0 as its local expert 2, tp_rank 1
    layout = [x for x in layout if x[2] != 3] + [(0, 2, 3, 1)]
    layout.sort(key=lambda x: (x[0], x[1]))
    ids = rebuild_layer_experts(g, c, 1, layout) + dispatch_combine(c, 1)
    return ids, ("Layer 1: expert 3 moved from ep_rank 1 to ep_rank 0, so ep_rank 0 holds 3 experts and "
                 "ep_rank 1 holds 1 (E/EP = %d expected on every rank)." % (c.experts // c.ep))


def d_experts_share_gpu(g, c):
    ex2 = c.nid("decoder.layers.1.mlp.experts.local_experts.0", 0, 1, None)   # expert 2, ep_rank 1
    ex0 = c.nid("decoder.layers.1.mlp.experts.local_experts.0", 0, 0, None)   # expert 0, ep_rank 0
    g.nodes[ex2]["place"] = c.place(0, 0, 1, 0, gpu=c.gpu(0, 0, 0, 0))
    return [ex2, ex0], ("Layer 1: expert 2 (ep_rank 1) is placed on gpu %d, the GPU of ep_rank 0's "
                        "expert 0." % c.gpu(0, 0, 0, 0))


def d_no_gate(g, c):
    L = 2
    for e in range(c.ep):
        for t in range(c.tp):
            g.rm_node(c.lid(L, "mlp.router", 0, e, t))
            g.nodes[c.lid(L, "mlp.unpermute", 0, e, t)]["inp"] = [c.combS()]
    nodes = []
    for t in range(c.tp):
        dis = c.lid(L, "mlp.token_dispatcher.dispatch", 0, None, t)
        g.nodes[dis]["inp"] = [c.hid()]
        nodes.append(dis)
    nodes += [n for n in g.nodes if n.startswith("decoder.layers.%d.mlp.experts." % L)]
    return nodes, "Layer 2 has no TopKRouter: tokens go to the dispatch all-to-all and the experts with no gate/router before them."


def d_no_all_to_all(g, c):
    L = 1
    nodes = []
    for t in range(c.tp):
        dis = c.lid(L, "mlp.token_dispatcher.dispatch", 0, None, t)
        exps = [x for x in g.succ(dis)]
        g.rm_node(dis)
        for ex in exps:
            g.nodes[ex]["inp"] = [c.hid(), c.router()]
            for e in range(c.ep):
                g.edge(c.lid(L, "pre_mlp_layernorm", 0, e, t), ex)
                g.edge(c.lid(L, "mlp.router", 0, e, t), ex, style="dashed", label="routing_map")
            nodes.append(ex)
        for e in range(c.ep):
            nodes += [c.lid(L, "pre_mlp_layernorm", 0, e, t), c.lid(L, "mlp.router", 0, e, t)]
    return nodes, ("Layer 1 (EP=%d): the dispatch all-to-all is missing; every ep_rank's pre_mlp_layernorm "
                   "and router feed the experts of all ep_ranks directly." % c.ep)


def d_gpu_out_of_range(g, c):
    ex = c.nid("decoder.layers.2.mlp.experts.local_experts.1", 0, 3, None)    # expert 7, ep3, tp1 (gpu 7)
    g.nodes[ex]["place"] = c.place(0, 0, 3, 1, gpu=9)
    n = c.tp * c.pp * c.ep * c.dp
    return [ex], "Layer 2 expert 7 is placed on gpu 9, but the strategy has %d GPUs (0-%d)." % (n, n - 1)


def d_strategy_mismatch(g, c):
    g.label[1] = c.strategy(ep=2 * c.ep)
    return [], ("The graph label declares expert_model_parallel_size=%d but the DAG draws ep_ranks 0-%d "
                "(EP=%d)." % (2 * c.ep, c.ep - 1, c.ep))


def d_moe_before_attention(g, c):
    L = 2
    nodes = []
    for e in range(c.ep):
        for t in range(c.tp):
            r1 = c.lid(L - 1, "mlp_bda", 0, e, t)
            ln, bda_a = c.lid(L, "input_layernorm", 0, e, t), c.lid(L, "self_attn_bda", 0, e, t)
            pre, bda_m = c.lid(L, "pre_mlp_layernorm", 0, e, t), c.lid(L, "mlp_bda", 0, e, t)
            fin = c.nid("decoder.final_layernorm", 0, e, t)
            g.rm_edge(r1, ln)
            g.rm_edge(r1, bda_a)
            g.rm_edge(bda_a, pre)
            g.rm_edge(bda_a, bda_m)
            g.rm_edge(bda_m, fin)
            g.edge(r1, pre)
            g.edge(r1, bda_m, label="residual")
            g.edge(bda_m, ln)
            g.edge(bda_m, bda_a, label="residual")
            g.edge(bda_a, fin)
            nodes += [pre, ln, bda_a, bda_m]
    return nodes, ("Layer 2 is wired MoE first: layer 1's output goes to pre_mlp_layernorm/router/experts, "
                   "and only then to input_layernorm and self-attention.")


def d_placeholder(g, c):
    inp = c.nid("input_ids", 0, 1, None)
    g.nodes[inp]["inp"] = [S(s=c.seq, b="?")]
    g.nodes[inp]["out"] = [S(s=c.seq, b="?")]
    return [inp], "input_ids of ep_rank 1 gives its shapes as [s=%d, b=?]: the micro-batch size is a placeholder." % c.seq


def d_stage_count(g, c):
    g.label[1] = c.strategy(pp=2 * c.pp)
    return [], ("The graph label declares pipeline_model_parallel_size=%d but only %d pipeline stages are "
                "drawn." % (2 * c.pp, c.pp))


def d_stage_range_gap(g, c):
    g.clusters[c.ck(0, 0)] = c.cluster_label(0, 0, "layers 1-1")
    return [], ("Stage 0 is labelled (layers 1-1) and stage 1 (layers 3-4): layer 2 (drawn inside stage 0) "
                "is covered by no stage range.")


def d_stage_missing_layer(g, c):
    L = c.layers
    for nid in [n for n in g.nodes if n.startswith("decoder.layers.%d." % L)]:
        g.rm_node(nid)
    for e in range(c.ep):
        for t in range(c.tp):
            g.edge(c.lid(L - 1, "mlp_bda", 0, e, t), c.nid("decoder.final_layernorm", 0, e, t))
    return [], ("Stage 1 claims layers %d-%d but layer %d has no operator nodes (layer %d feeds the final "
                "layernorm directly)." % (L - 1, L, L, L - 1))


def d_no_stage_transfer(g, c):
    nodes = []
    L = c.stage_layers(1)[0]
    for e in range(c.ep):
        for t in range(c.tp):
            x = c.nid("p2p.send_recv_forward.pp0_to_pp1", 0, e, t)
            g.rm_node(x)
            src = c.lid(L - 1, "mlp_bda", 0, e, t)
            ln, bda = c.lid(L, "input_layernorm", 0, e, t), c.lid(L, "self_attn_bda", 0, e, t)
            g.edge(src, ln)
            g.edge(src, bda, label="residual")
            nodes += [src, ln, bda]
    return nodes, ("Stages 0 and 1 are joined by plain edges from layer %d's bias_dropout_add to layer %d "
                   "(no send/recv p2p node)." % (L - 1, L))


def d_stages_share_gpus(g, c):
    ex = c.nid("decoder.layers.3.mlp.experts.local_experts.2", 0, 1, None)   # stage 1, ep1, tp1: gpu 7
    g.nodes[ex]["place"] = c.place(0, 1, 1, 1, gpu=c.gpu(0, 0, 1, 1))
    return [ex], ("Layer 3 expert 6 (pipeline stage 1) is placed on gpu %d, a GPU of stage 0 (gpus 0-%d)."
                  % (c.gpu(0, 0, 1, 1), c.tp * c.ep - 1))


def d_comm_wrong_shape(g, c):
    ar = c.lid(3, "self_attention.reduce_from_tensor_model_parallel_region", 0, 0, None)
    g.nodes[ar]["kind"] = "box"
    return [ar], "Layer 3's attention all-reduce of ep_rank 0 is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g, c):
    b2 = c.lid(2, "self_attention.core_attention.bmm2", 0, 1, 0)
    g.nodes[b2]["place"] = None
    return [b2], "Layer 2 core_attention bmm2 of ep_rank 1 / tp_rank 0 has no placement line."


def d_attention_one_box(g, c):
    L = 2
    nodes = []
    for d in range(c.dp):
        for e in range(c.ep):
            for t in range(c.tp):
                lid = lambda mod: c.lid(L, mod, d, e, t)
                for mod in ("self_attention.linear_qkv", "self_attention.split_qkv",
                            "self_attention.core_attention.bmm1",
                            "self_attention.core_attention.scale_mask_softmax",
                            "self_attention.core_attention.bmm2", "self_attention.linear_proj"):
                    g.rm_node(lid(mod))
                box = g.node(lid("self_attention"), "box", "Multi-Head Attention (self_attention)",
                             [c.hid()], [c.hid()], c.place(d, c.stage(L), e, t), c.ck(d, c.stage(L)))
                g.edge(lid("input_layernorm"), box)
                g.edge(box, c.lid(L, "self_attention.reduce_from_tensor_model_parallel_region", d, e, None))
                nodes.append(box)
    return nodes, "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of qkv/score/softmax/weighted-sum/proj operators."


def d_v_bypasses_softmax(g, c):
    L = 1
    nodes = []
    for d in range(c.dp):
        for t in range(c.tp):
            lid = lambda mod: c.lid(L, mod, d, 0, t)
            sm, b2 = lid("self_attention.core_attention.scale_mask_softmax"), lid("self_attention.core_attention.bmm2")
            pj = lid("self_attention.linear_proj")
            g.rm_edge(sm, b2)
            g.edge(sm, pj)
            g.nodes[b2]["inp"] = [c.head()]
            g.nodes[pj]["inp"] = [c.ctx(), c.scores()]
            nodes += [b2, sm, pj]
    return nodes, ("Layer 1 (every rank): bmm2 (the weighted sum) is fed by V only; the softmax output goes to "
                   "linear_proj instead, so V bypasses the attention probabilities.")


def d_qkv_into_oproj(g, c):
    L = 2
    nodes = []
    for d in range(c.dp):
        for t in range(c.tp):
            lid = lambda mod: c.lid(L, mod, d, 0, t)
            for mod in ("self_attention.core_attention.bmm1", "self_attention.core_attention.scale_mask_softmax",
                        "self_attention.core_attention.bmm2"):
                g.rm_node(lid(mod))
            sp, pj = lid("self_attention.split_qkv"), lid("self_attention.linear_proj")
            for lab in ("q", "k", "v"):
                g.edge(sp, pj, label=lab)
            g.nodes[pj]["inp"] = [c.head()] * 3
            nodes += [pj, sp]
    return nodes, ("Layer 2 (every rank): q, k and v from split_qkv go straight into linear_proj; there is no "
                   "bmm1 score, softmax or bmm2 weighted sum.")


def d_tp_rank_missing(g, c):
    L, d, t_miss = 2, 0, c.tp - 1
    for mod in ("pre_mlp_layernorm", "mlp.linear_fc1", "mlp.activation_func", "mlp.linear_fc2"):
        g.rm_node(c.lid(L, mod, d, 0, t_miss))
    nodes = [c.lid(L, "mlp.reduce_from_tensor_model_parallel_region", d, 0, None)]
    for t in range(c.tp - 1):
        nodes += [c.lid(L, m, d, 0, t) for m in ("pre_mlp_layernorm", "mlp.linear_fc1",
                                                 "mlp.activation_func", "mlp.linear_fc2")]
    return nodes, ("Layer 2 of dp_rank 0: pre_mlp_layernorm/linear_fc1/activation_func/linear_fc2 are drawn "
                   "for tp_ranks 0-%d only; tp_rank %d's MLP shard is missing (its all-reduce gets %d of %d "
                   "partial sums)." % (c.tp - 2, t_miss, c.tp - 1, c.tp))


def d_no_allreduce_after_rowparallel(g, c):
    L, d = 1, 1
    g.rm_node(c.lid(L, "self_attention.reduce_from_tensor_model_parallel_region", d, 0, None))
    nodes = []
    for t in range(c.tp):
        pj, bda = c.lid(L, "self_attention.linear_proj", d, 0, t), c.lid(L, "self_attn_bda", d, 0, t)
        g.edge(pj, bda)
        nodes += [pj, bda]
    return nodes, ("Layer 1 of dp_rank 1: each tp_rank's linear_proj (RowParallelLinear) partial sum goes "
                   "straight into bias_dropout_add with no all-reduce.")


def d_cross_gpu_no_comm(g, c):
    src_ok = c.lid(1, "mlp_bda", 0, 0, 1)
    src_bad = c.lid(1, "mlp_bda", 0, 0, 0)
    dst = c.lid(2, "self_attn_bda", 0, 0, 1)
    g.rm_edge(src_ok, dst, label="residual")
    g.edge(src_bad, dst, label="residual")
    return [src_bad, dst], ("The residual edge into layer 2's self-attention bias_dropout_add of tp_rank 1 "
                            "(gpu %d) now comes from layer 1's bias_dropout_add of tp_rank 0 (gpu %d) with no "
                            "communication node." % (c.gpu(0, 0, 0, 1), c.gpu(0, 0, 0, 0)))


def d_missing_shapes(g, c):
    ac = c.lid(1, "mlp.activation_func", 1, 0, 2)
    g.nodes[ac]["inp"] = None
    g.nodes[ac]["out"] = None
    return [ac], "Layer 1 activation_func of dp_rank 1 / tp_rank 2 has no input/output lines."


def d_missing_residual(g, c):
    bda_a, bda_m = c.lid(2, "self_attn_bda", 0, 0, 0), c.lid(2, "mlp_bda", 0, 0, 0)
    g.rm_edge(bda_a, bda_m, label="residual")
    g.nodes[bda_m]["inp"] = [c.hid()]
    return [bda_m, bda_a], ("Layer 2 MLP bias_dropout_add of dp_rank 0 / tp_rank 0 is fed only by the MLP all-reduce: "
                     "the residual skip edge from the self-attention bias_dropout_add is gone.")


def d_shard_without_gather(g, c):
    L, d, t = 1, 0, 0
    ar = c.lid(L, "self_attention.reduce_from_tensor_model_parallel_region", d, 0, None)
    b2 = c.lid(L, "self_attention.core_attention.bmm2", d, 0, t)
    bda = c.lid(L, "self_attn_bda", d, 0, t)
    g.rm_edge(ar, bda)
    g.edge(b2, bda)
    return [bda, b2], ("Layer 1 dp_rank 0 / tp_rank 0: bias_dropout_add (full h=%d) takes the bmm2 context "
                       "shard hp=%d = %d/TP%d directly, with no all-reduce/all-gather."
                       % (c.hidden, c.np * c.hn, c.hidden, c.tp))


DEFECTS = [
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_1", d_dangling_input),
    ("dangling_output", "structure", "clean_1", d_dangling_output),
    ("attention_one_box", "attention", "clean_3", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_3", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_1", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_3", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_2", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1", d_experts_share_gpu),
    ("no_gate", "expert", "clean_1", d_no_gate),
    ("no_all_to_all", "expert", "clean_1", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_3", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_2", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3", d_missing_shapes),
    ("placeholder", "annotation", "clean_1", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct 2-layer MoE (8 experts, top-2) under TP=2, EP=4, PP=1, DP=1 on 8 GPUs.",
    "clean_2": "Correct 4-layer model (layer 1 dense, layers 2-4 MoE with 8 experts, top-2) under TP=2, PP=2, EP=2, DP=1 on 8 GPUs.",
    "clean_3": "Correct 2-layer dense model under TP=4, DP=2, PP=1, EP=1 on 8 GPUs (two data-parallel replicas drawn).",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    bases = {name: build(cfg) for name, cfg in CFGS.items()}
    manifest = []
    for name, g in bases.items():
        with open(os.path.join(OUT, name + ".dot"), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": CLEAN_WHAT[name]})
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(bases[base])
        nodes, what = fn(g, CFGS[base])
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base + ".dot",
                         "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
