#!/usr/bin/env python3
"""Independent generator of Megatron-Core style (SP + CP) LLM prefill deployment DAGs.

House style "ap":
  * Megatron-Core prefill with sequence parallelism (SP) and context parallelism (CP).
    Strategy in the graph label as `Parallelism: TP=2, CP=2, PP=2, EP=4, DP=1`.
    GPU count = TP*CP*PP*DP (rank order tp-cp-dp-pp, tp fastest); EP is *folded* onto the
    TP*CP*DP ranks of each stage (MoE parallel folding, expert TP = 1), so EP adds no GPUs and
    EP rank = tp + TP*cp (+ TP*CP*dp).  This is written in the graph label of every file.
  * ids: lower case with the rank tokens inside, `pp0_l2_cp1_tp0_q`, `dp1_pp0_l0_cp0_tp1_proj`.
  * labels: Title Case operator names, `\\n` line breaks (never HTML).
  * shapes: `Input: (b=1, s=8192/CP, h=4096)` tuples, the division written out.
  * placement: `GPU: 5 (tp1 cp0 pp1 ep1)`; communication nodes `GPUs: 4,5 (tp0-1 cp0 pp1 ep0-1)`.
  * stages: clusters labelled `PP rank 0 [layers 0-1]` (inside `DP replica d [...]` clusters
    when DP > 1).
  * own quirk 1: every label ends with an `Mcore: <module path>` line naming the Megatron-Core
    module the node stands for.
  * own quirk 2: communication nodes are colour-coded by process group (TP/SP lightblue,
    CP orange, EP pink, PP grey) and carry a `Group: <pg> {ranks}` line; routing nodes are
    khaki; the file opens with a `//` header quoting the Mcore config switches.

Run `python3 gen.py` in this folder: writes out/*.dot and out/manifest.json, then self-checks.
Stdlib only.
"""
import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

COMM, COMPUTE, ROUTE, IO = "comm", "compute", "route", "io"
SHAPE = {COMM: "ellipse", COMPUTE: "box", ROUTE: "parallelogram"}
GROUP_COLOR = {"tp": "lightblue", "cp": "orange", "ep": "pink", "pp": "lightgrey"}


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
class Cfg:
    def __init__(self, name, title, layers, seq, hidden, heads, hdim, tp, cp, pp, dp, ep,
                 experts, topk, ffn, vocab, batch):
        self.name, self.title = name, title
        self.layers, self.seq, self.hidden, self.heads, self.hdim = layers, seq, hidden, heads, hdim
        self.tp, self.cp, self.pp, self.dp, self.ep = tp, cp, pp, dp, ep
        self.experts, self.topk, self.ffn, self.vocab, self.batch = experts, topk, ffn, vocab, batch
        self.moe = experts > 0
        assert heads * hdim == hidden, "heads x head_dim must equal hidden"
        assert heads % tp == 0 and layers % pp == 0 and seq % (cp * tp) == 0
        assert batch % dp == 0
        if self.moe:
            assert ep == tp * cp * dp, "EP is folded onto the TP*CP*DP ranks of a stage"
            assert experts % ep == 0
        self.ngpu = tp * cp * pp * dp

    # symbolic shape pieces (the author writes the division out)
    @property
    def b(self):
        return "1" if self.dp == 1 else "%d/DP" % self.batch

    def resid(self):  # sequence-parallel residual stream: s/CP/TP, full hidden
        return "(b=%s, s=%d/CP/TP, h=%d)" % (self.b, self.seq, self.hidden)

    def full_cp(self):  # after the SP all-gather: this CP rank's whole slice, full hidden
        return "(b=%s, s=%d/CP, h=%d)" % (self.b, self.seq, self.hidden)

    def tokens(self):
        return "(b=%s, s=%d/CP)" % (self.b, self.seq)

    def qkv(self):
        return "(b=%s, s=%d/CP, qkv=3*%d/TP)" % (self.b, self.seq, self.hidden)

    def heads_local(self, heads=None, d=None):
        return "(b=%s, s=%d/CP, heads=%s, d=%d)" % (
            self.b, self.seq, heads or "%d/TP" % self.heads, d or self.hdim)

    def heads_full(self, heads=None, d=None):  # K/V after the CP all-gather: whole sequence
        return "(b=%s, s=%d, heads=%s, d=%d)" % (
            self.b, self.seq, heads or "%d/TP" % self.heads, d or self.hdim)

    def scores(self, heads=None):
        return "(b=%s, heads=%s, sq=%d/CP, sk=%d)" % (
            self.b, heads or "%d/TP" % self.heads, self.seq, self.seq)

    def ctx(self):
        return "(b=%s, s=%d/CP, h=%d/TP)" % (self.b, self.seq, self.hidden)

    def routed_local(self):
        return "(t=%d/CP/TP*%d, h=%d)" % (self.seq, self.topk, self.hidden)

    def expert_tokens(self):
        return "(t=%d*%d/%d, h=%d)" % (self.seq, self.topk, self.experts, self.hidden)

    def fc1(self):
        return "(b=%s, s=%d/CP, ffn=2*%d/TP)" % (self.b, self.seq, self.ffn)

    def act(self):
        return "(b=%s, s=%d/CP, ffn=%d/TP)" % (self.b, self.seq, self.ffn)

    def logits_tp(self):
        return "(b=%s, s=%d/CP, v=%d/TP)" % (self.b, self.seq, self.vocab)

    def logits(self):
        return "(b=%s, s=%d/CP, v=%d)" % (self.b, self.seq, self.vocab)

    def gpu(self, dp, pp, cp, tp):
        return tp + self.tp * cp + self.tp * self.cp * dp + self.tp * self.cp * self.dp * pp

    def ranks_of(self, g):
        tp = g % self.tp
        cp = (g // self.tp) % self.cp
        dp = (g // (self.tp * self.cp)) % self.dp
        pp = g // (self.tp * self.cp * self.dp)
        ep = tp + self.tp * cp + self.tp * self.cp * dp
        return dict(tp=tp, cp=cp, dp=dp, pp=pp, ep=ep)

    def stage_layers(self, p):
        n = self.layers // self.pp
        return list(range(p * n, (p + 1) * n))

    def label(self):
        lines = [
            "%s" % self.title,
            "Parallelism: TP=%d, CP=%d, PP=%d, EP=%d, DP=%d" % (
                self.tp, self.cp, self.pp, self.ep if self.moe else 1, self.dp),
        ]
        if self.moe:
            lines.append(
                "Total GPUs: %d = TP*CP*PP*DP = %d*%d*%d*%d; EP=%d is folded onto the TP*CP*DP "
                "ranks of each stage (expert TP=1), EP rank = tp + TP*cp, so EP adds no GPUs"
                % (self.ngpu, self.tp, self.cp, self.pp, self.dp, self.ep))
            lines.append(
                "Model: layers=%d, hidden=%d, heads=%d, head_dim=%d, MoE experts=%d (top-%d), "
                "expert ffn=%d, vocab=%d" % (self.layers, self.hidden, self.heads, self.hdim,
                                              self.experts, self.topk, self.ffn, self.vocab))
            lines.append(
                "Prefill b=%d, s=%d; per-expert tokens t=%d*%d/%d at capacity factor 1.0"
                % (self.batch, self.seq, self.seq, self.topk, self.experts))
        else:
            lines.append(
                "Total GPUs: %d = TP*CP*PP*DP = %d*%d*%d*%d (dense model, no experts)"
                % (self.ngpu, self.tp, self.cp, self.pp, self.dp))
            lines.append(
                "Model: layers=%d, hidden=%d, heads=%d, head_dim=%d, dense SwiGLU ffn=%d, "
                "vocab=%d" % (self.layers, self.hidden, self.heads, self.hdim, self.ffn,
                              self.vocab))
            lines.append("Prefill b=%d (both DP replicas drawn), s=%d" % (self.batch, self.seq))
        lines.append("SP: norms and residual adds hold s/CP/TP; CP: K and V all-gathered over "
                     "the CP group (cp_comm_type=all_gather)")
        return lines


CFGS = {
    "clean_1.dot": Cfg("clean_1.dot", "Megatron-Core prefill DAG: MoE (Mixtral-like), 4 layers, "
                       "pipelined", layers=4, seq=8192, hidden=4096, heads=32, hdim=128,
                       tp=2, cp=2, pp=2, dp=1, ep=4, experts=8, topk=2, ffn=14336,
                       vocab=128000, batch=1),
    "clean_2.dot": Cfg("clean_2.dot", "Megatron-Core prefill DAG: MoE, 2 layers, single stage, "
                       "long context", layers=2, seq=16384, hidden=2048, heads=16, hdim=128,
                       tp=4, cp=2, pp=1, dp=1, ep=8, experts=16, topk=2, ffn=1408,
                       vocab=102400, batch=1),
    "clean_3.dot": Cfg("clean_3.dot", "Megatron-Core prefill DAG: dense, 2 layers, both DP "
                       "replicas drawn", layers=2, seq=4096, hidden=2048, heads=16, hdim=128,
                       tp=2, cp=2, pp=1, dp=2, ep=1, experts=0, topk=0, ffn=5632,
                       vocab=32000, batch=2),
}


# --------------------------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------------------------
def rng(vals):
    vals = sorted(set(vals))
    if len(vals) == 1:
        return str(vals[0])
    if vals == list(range(vals[0], vals[-1] + 1)):
        return "%d-%d" % (vals[0], vals[-1])
    return ",".join(str(v) for v in vals)


def gpu_list(gpus):
    gpus = sorted(set(gpus))
    if len(gpus) >= 3 and gpus == list(range(gpus[0], gpus[-1] + 1)):
        return "%d-%d" % (gpus[0], gpus[-1])
    return ",".join(str(g) for g in gpus)


class Node:
    def __init__(self, nid, kind, title, inp=None, out=None, gpus=None, mcore="", extra=None,
                 group=None, cluster=None):
        self.id, self.kind, self.title = nid, kind, title
        self.inp, self.out = list(inp or []), list(out or [])
        self.gpus = list(gpus or [])
        self.mcore, self.extra = mcore, list(extra or [])
        self.group = group  # (pg name, text) for communication nodes
        self.cluster = cluster
        self.shape_override = None
        self.gpu_text_override = None
        self.no_gpu = False
        self.no_shapes = False
        self.tuple_gpus = None  # ranks shown in the tuple, when they differ from the GPU ids


class Model:
    def __init__(self, cfg):
        self.cfg = cfg
        self.nodes = {}
        self.order = []
        self.edges = []  # [src, dst, attrs]
        self.clusters = {}  # cid -> dict(label, parent)
        self.cluster_order = []
        self.label_lines = cfg.label()

    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        self.order.append(node.id)
        return node.id

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def cluster(self, cid, label, parent=None):
        self.clusters[cid] = dict(label=label, parent=parent)
        self.cluster_order.append(cid)

    # ---- edits used by the defect injectors
    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def rename(self, old, new):
        n = self.nodes.pop(old)
        n.id = new
        self.nodes[new] = n
        self.order[self.order.index(old)] = new
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # ---- placement text
    def rank_tuple(self, gpus):
        c = self.cfg
        rs = [c.ranks_of(g) for g in gpus]
        parts = ["tp" + rng(r["tp"] for r in rs), "cp" + rng(r["cp"] for r in rs),
                 "pp" + rng(r["pp"] for r in rs)]
        if c.moe:
            parts.append("ep" + rng(r["ep"] for r in rs))
        if c.dp > 1:
            parts.append("dp" + rng(r["dp"] for r in rs))
        return "(" + " ".join(parts) + ")"

    def gpu_line(self, n):
        if n.gpu_text_override:
            return n.gpu_text_override
        tg = n.tuple_gpus or n.gpus
        if len(n.gpus) == 1:
            return "GPU: %d %s" % (n.gpus[0], self.rank_tuple(tg))
        return "GPUs: %s %s" % (gpu_list(n.gpus), self.rank_tuple(tg))

    # ---- serialisation
    def label_of(self, n):
        lines = [n.title] + n.extra
        if not n.no_shapes:
            if n.inp:
                lines.append("Input: " + ", ".join(n.inp))
            if n.out:
                lines.append("Output: " + ", ".join(n.out))
        if n.gpus and not n.no_gpu:
            lines.append(self.gpu_line(n))
        if n.group:
            if n.group == "PP":
                lines.append("Group: PP p2p {%d→%d}" % (n.gpus[0], n.gpus[1]))
            else:
                lines.append("Group: %s {%s}" % (n.group, ",".join(str(g) for g in n.gpus)))
        if n.mcore:
            lines.append("Mcore: " + n.mcore)
        return "\\n".join(lines)

    def node_stmt(self, n, indent):
        if n.kind == IO:
            shape = "invhouse" if n.title == "Input" else "house"
            attrs = 'shape=%s, fillcolor="palegreen"' % shape
        else:
            shape = n.shape_override or SHAPE[n.kind]
            if n.kind == COMM:
                color = GROUP_COLOR[n.group.split("/")[0].lower()] if n.group else "white"
            elif n.kind == ROUTE:
                color = "khaki"
            else:
                color = "white"
            attrs = 'shape=%s, fillcolor="%s"' % (shape, color)
        return '%s"%s" [%s, label="%s"];' % (indent, n.id, attrs, self.label_of(n))

    def to_dot(self):
        c = self.cfg
        out = []
        out.append("// Megatron-Core inference (prefill) deployment DAG -- style ap")
        out.append("// mcore switches: sequence_parallel=True, cp_comm_type=all_gather, "
                   "moe_token_dispatcher_type=alltoall, expert_tensor_parallel_size=1")
        out.append("// rank order tp-cp-dp-pp (tp fastest); shapes keep the /TP, /CP divisions "
                   "written out")
        out.append('digraph "mcore_prefill" {')
        out.append('  graph [label="%s", labelloc=t, fontsize=14, rankdir=TB, newrank=true];'
                   % "\\n".join(self.label_lines))
        out.append('  node [fontname="Helvetica", fontsize=9, style=filled];')
        out.append('  edge [fontname="Helvetica", fontsize=8];')
        out.append("")
        children = {}
        for cid in self.cluster_order:
            children.setdefault(self.clusters[cid]["parent"], []).append(cid)
        members = {}
        for nid in self.order:
            members.setdefault(self.nodes[nid].cluster, []).append(nid)

        def emit(cid, depth):
            ind = "  " * depth
            if cid is not None:
                out.append('%ssubgraph %s {' % (ind, cid))
                out.append('%s  label="%s"; style="rounded,dashed"; color=gray40;'
                           % (ind, self.clusters[cid]["label"]))
                ind2 = ind + "  "
            else:
                ind2 = ind
            for nid in members.get(cid, []):
                out.append(self.node_stmt(self.nodes[nid], ind2))
            for ch in children.get(cid, []):
                emit(ch, depth + 1)
            if cid is not None:
                out.append("%s}" % ind)

        emit(None, 1)
        out.append("")
        for a, b, attrs in self.edges:
            if attrs:
                out.append('  "%s" -> "%s" [%s];' % (
                    a, b, ", ".join('%s=%s' % (k, v) for k, v in attrs.items())))
            else:
                out.append('  "%s" -> "%s";' % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------------------------
def build(cfg):
    m = Model(cfg)
    c = cfg
    T, C = c.tp, c.cp
    mods = "decoder.layers.%d"

    m.add(Node("input", IO, "Input", extra=["Token IDs (prefill prompt)"],
               out=["(b=%d, s=%d)" % (c.batch, c.seq)]))

    final_outputs = []
    for d in range(c.dp):
        pre = "dp%d_" % d if c.dp > 1 else ""
        parent = None
        if c.dp > 1:
            parent = "cluster_dp%d" % d
            g0, g1 = c.gpu(d, 0, 0, 0), c.gpu(d, c.pp - 1, C - 1, T - 1)
            m.cluster(parent, "DP replica %d [GPUs %d-%d]" % (d, g0, g1))
        cur = {}  # (cp, tp) -> node id carrying the residual stream
        for p in range(c.pp):
            layers = c.stage_layers(p)
            cl = (parent + "_pp%d" % p) if parent else "cluster_pp%d" % p
            m.cluster(cl, "PP rank %d [layers %d-%d]" % (p, layers[0], layers[-1]), parent)
            G = lambda cp, tp: c.gpu(d, p, cp, tp)
            if p == 0:
                # per-rank batch slicing, vocab-parallel embedding, SP reduce-scatter
                for cp in range(C):
                    for tp in range(T):
                        sl = m.add(Node("%spp0_cp%d_tp%d_slice" % (pre, cp, tp), ROUTE,
                                        "Slice Sequence (CP)" if c.dp == 1 else
                                        "Slice Batch (DP) + Sequence (CP)",
                                        extra=["load-balanced chunks %d and %d of %d"
                                               % (cp, 2 * C - 1 - cp, 2 * C)],
                                        inp=["(b=%d, s=%d)" % (c.batch, c.seq)],
                                        out=[c.tokens()], gpus=[G(cp, tp)],
                                        mcore="utils.get_batch_on_this_cp_rank", cluster=cl))
                        m.edge("input", sl)
                        em = m.add(Node("%spp0_cp%d_tp%d_embedding" % (pre, cp, tp), COMPUTE,
                                        "Embedding (VocabParallel)",
                                        extra=["rows: vocab=%d/TP, partial sums" % c.vocab],
                                        inp=[c.tokens()], out=[c.full_cp()], gpus=[G(cp, tp)],
                                        mcore="embedding.word_embeddings", cluster=cl))
                        m.edge(sl, em)
                    rs = m.add(comm(m, "%spp0_cp%d_rs_sp_embed" % (pre, cp), "Reduce-Scatter (SP)",
                                    "TP/SP", [G(cp, tp) for tp in range(T)], [c.full_cp()],
                                    [c.resid()], "embedding (scatter_to_sequence_parallel_region)",
                                    cl))
                    for tp in range(T):
                        m.edge("%spp0_cp%d_tp%d_embedding" % (pre, cp, tp), rs)
                        cur[(cp, tp)] = rs
            else:
                # pipeline P2P from the previous stage, one per (cp, tp) rank
                for cp in range(C):
                    for tp in range(T):
                        src, dst = c.gpu(d, p - 1, cp, tp), c.gpu(d, p, cp, tp)
                        n = comm(m, "%spp%d_to_pp%d_cp%d_tp%d_p2p" % (pre, p - 1, p, cp, tp),
                                 "P2P Send/Recv (PP %d → %d)" % (p - 1, p), "PP",
                                 [src, dst], [c.resid()], [c.resid()],
                                 "pipeline_parallel.p2p_communication", parent)
                        n.gpus = [src, dst]  # sender first
                        m.add(n)
                        m.edge(cur[(cp, tp)], n.id)
                        cur[(cp, tp)] = n.id
            for l in layers:
                L = lambda cp, tp, op: "%spp%d_l%d_cp%d_tp%d_%s" % (pre, p, l, cp, tp, op)
                LC = lambda cp, op: "%spp%d_l%d_cp%d_%s" % (pre, p, l, cp, op)
                LT = lambda tp, op: "%spp%d_l%d_tp%d_%s" % (pre, p, l, tp, op)
                md = mods % l
                # ---------------- attention block
                for cp in range(C):
                    for tp in range(T):
                        m.add(Node(L(cp, tp, "norm1"), COMPUTE, "Input RMSNorm (SP)",
                                   inp=[c.resid()], out=[c.resid()], gpus=[G(cp, tp)],
                                   mcore=md + ".input_layernorm", cluster=cl))
                        m.edge(cur[(cp, tp)], L(cp, tp, "norm1"))
                    ag = m.add(comm(m, LC(cp, "ag_sp_attn"), "All-Gather (SP)", "TP/SP",
                                    [G(cp, tp) for tp in range(T)], [c.resid()], [c.full_cp()],
                                    md + ".self_attention.linear_qkv (gather_from_sp_region)",
                                    cl))
                    for tp in range(T):
                        m.edge(L(cp, tp, "norm1"), ag)
                    for tp in range(T):
                        g = [G(cp, tp)]
                        m.add(Node(L(cp, tp, "qkv"), COMPUTE, "Linear QKV (ColumnParallel)",
                                   inp=[c.full_cp()], out=[c.qkv()], gpus=g,
                                   mcore=md + ".self_attention.linear_qkv", cluster=cl))
                        m.edge(ag, L(cp, tp, "qkv"))
                        m.add(Node(L(cp, tp, "qkv_split"), ROUTE, "Split QKV",
                                   inp=[c.qkv()], out=[c.heads_local()] * 3, gpus=g,
                                   mcore=md + ".self_attention (get_query_key_value_tensors)",
                                   cluster=cl))
                        m.edge(L(cp, tp, "qkv"), L(cp, tp, "qkv_split"))
                        for op, title in (("q", "Query + RoPE"), ("k", "Key + RoPE"),
                                          ("v", "Value")):
                            m.add(Node(L(cp, tp, op), COMPUTE, title, inp=[c.heads_local()],
                                       out=[c.heads_local()], gpus=g,
                                       mcore=md + (".self_attention (rotary_pos_emb)"
                                                   if op != "v" else ".self_attention"),
                                       cluster=cl))
                            m.edge(L(cp, tp, "qkv_split"), L(cp, tp, op))
                for tp in range(T):
                    for op, title in (("k", "K"), ("v", "V")):
                        n = m.add(comm(m, LT(tp, "ag_%s_cp" % op),
                                       "All-Gather KV (CP): %s" % title, "CP",
                                       [G(cp, tp) for cp in range(C)], [c.heads_local()],
                                       [c.heads_full()],
                                       md + ".self_attention.core_attention (cp all_gather)",
                                       cl))
                        for cp in range(C):
                            m.edge(L(cp, tp, op), n)
                for cp in range(C):
                    for tp in range(T):
                        g = [G(cp, tp)]
                        ca = md + ".self_attention.core_attention"
                        m.add(Node(L(cp, tp, "scores"), COMPUTE, "Core Attention: Scores",
                                   extra=["Q·K^T / sqrt(%d), causal mask" % c.hdim],
                                   inp=[c.heads_local(), c.heads_full()], out=[c.scores()],
                                   gpus=g, mcore=ca, cluster=cl))
                        m.edge(L(cp, tp, "q"), L(cp, tp, "scores"))
                        m.edge(LT(tp, "ag_k_cp"), L(cp, tp, "scores"))
                        m.add(Node(L(cp, tp, "softmax"), COMPUTE, "Softmax",
                                   inp=[c.scores()], out=[c.scores()], gpus=g, mcore=ca,
                                   cluster=cl))
                        m.edge(L(cp, tp, "scores"), L(cp, tp, "softmax"))
                        m.add(Node(L(cp, tp, "context"), COMPUTE, "Core Attention: Context",
                                   extra=["probs · V, heads merged"],
                                   inp=[c.scores(), c.heads_full()], out=[c.ctx()], gpus=g,
                                   mcore=ca, cluster=cl))
                        m.edge(L(cp, tp, "softmax"), L(cp, tp, "context"))
                        m.edge(LT(tp, "ag_v_cp"), L(cp, tp, "context"))
                        m.add(Node(L(cp, tp, "proj"), COMPUTE, "Linear Proj (RowParallel)",
                                   extra=["partial sums"],
                                   inp=[c.ctx()], out=[c.full_cp()], gpus=g,
                                   mcore=md + ".self_attention.linear_proj", cluster=cl))
                        m.edge(L(cp, tp, "context"), L(cp, tp, "proj"))
                    rs = m.add(comm(m, LC(cp, "rs_sp_attn"), "Reduce-Scatter (SP)", "TP/SP",
                                    [G(cp, tp) for tp in range(T)], [c.full_cp()], [c.resid()],
                                    md + ".self_attention.linear_proj "
                                    "(reduce_scatter_to_sp_region)", cl))
                    for tp in range(T):
                        m.edge(L(cp, tp, "proj"), rs)
                    for tp in range(T):
                        m.add(Node(L(cp, tp, "res1"), COMPUTE, "Residual Add (Attention)",
                                   inp=[c.resid(), c.resid()], out=[c.resid()],
                                   gpus=[G(cp, tp)], mcore=md + " (self_attn_bda)", cluster=cl))
                        m.edge(rs, L(cp, tp, "res1"))
                        m.edge(cur[(cp, tp)], L(cp, tp, "res1"))
                # ---------------- MLP / MoE block
                for cp in range(C):
                    for tp in range(T):
                        m.add(Node(L(cp, tp, "norm2"), COMPUTE, "Pre-MLP RMSNorm (SP)",
                                   inp=[c.resid()], out=[c.resid()], gpus=[G(cp, tp)],
                                   mcore=md + ".pre_mlp_layernorm", cluster=cl))
                        m.edge(L(cp, tp, "res1"), L(cp, tp, "norm2"))
                if c.moe:
                    disp = "%spp%d_l%d_a2a_dispatch" % (pre, p, l)
                    comb = "%spp%d_l%d_a2a_combine" % (pre, p, l)
                    stage_gpus = [G(cp, tp) for cp in range(C) for tp in range(T)]
                    for cp in range(C):
                        for tp in range(T):
                            m.add(Node(L(cp, tp, "router"), ROUTE, "Router",
                                       extra=["Top-%d of %d experts, permutes local tokens"
                                              % (c.topk, c.experts)],
                                       inp=[c.resid()], out=[c.routed_local()],
                                       gpus=[G(cp, tp)], mcore=md + ".mlp.router", cluster=cl))
                            m.edge(L(cp, tp, "norm2"), L(cp, tp, "router"))
                    m.add(comm(m, disp, "Token Dispatcher: All-to-All (Dispatch)", "EP",
                               stage_gpus, [c.routed_local()], [c.expert_tokens()],
                               md + ".mlp.token_dispatcher", cl))
                    for cp in range(C):
                        for tp in range(T):
                            m.edge(L(cp, tp, "router"), disp, style="dashed")
                    per = c.experts // c.ep
                    for e in range(c.experts):
                        r = e // per
                        gpu = c.gpu(d, p, 0, 0) + r  # EP rank r is local rank r of the stage
                        eid = "%spp%d_l%d_ep%d_expert%d" % (pre, p, l, r, e)
                        m.add(Node(eid, COMPUTE, "Expert %d MLP" % e,
                                   extra=["SwiGLU, ffn=%d, %d experts per EP rank"
                                          % (c.ffn, per)],
                                   inp=[c.expert_tokens()], out=[c.expert_tokens()],
                                   gpus=[gpu], mcore=md + ".mlp.experts", cluster=cl))
                        m.edge(disp, eid)
                    m.add(comm(m, comb, "Token Dispatcher: All-to-All (Combine)", "EP",
                               stage_gpus, [c.expert_tokens()], [c.routed_local()],
                               md + ".mlp.token_dispatcher", cl))
                    for e in range(c.experts):
                        m.edge("%spp%d_l%d_ep%d_expert%d" % (pre, p, l, e // per, e), comb)
                    for cp in range(C):
                        for tp in range(T):
                            m.add(Node(L(cp, tp, "unpermute"), ROUTE,
                                       "Expert Combine (Unpermute)",
                                       extra=["top-%d weighted sum by router probs" % c.topk],
                                       inp=[c.routed_local()], out=[c.resid()],
                                       gpus=[G(cp, tp)],
                                       mcore=md + ".mlp.token_dispatcher (unpermute)",
                                       cluster=cl))
                            m.edge(comb, L(cp, tp, "unpermute"))
                    last = lambda cp, tp: L(cp, tp, "unpermute")
                else:
                    for cp in range(C):
                        ag = m.add(comm(m, LC(cp, "ag_sp_mlp"), "All-Gather (SP)", "TP/SP",
                                        [G(cp, tp) for tp in range(T)], [c.resid()],
                                        [c.full_cp()],
                                        md + ".mlp.linear_fc1 (gather_from_sp_region)", cl))
                        for tp in range(T):
                            m.edge(L(cp, tp, "norm2"), ag)
                        for tp in range(T):
                            g = [G(cp, tp)]
                            m.add(Node(L(cp, tp, "fc1"), COMPUTE, "Linear FC1 (ColumnParallel)",
                                       inp=[c.full_cp()], out=[c.fc1()], gpus=g,
                                       mcore=md + ".mlp.linear_fc1", cluster=cl))
                            m.edge(ag, L(cp, tp, "fc1"))
                            m.add(Node(L(cp, tp, "swiglu"), COMPUTE, "SwiGLU",
                                       inp=[c.fc1()], out=[c.act()], gpus=g,
                                       mcore=md + ".mlp.activation_func", cluster=cl))
                            m.edge(L(cp, tp, "fc1"), L(cp, tp, "swiglu"))
                            m.add(Node(L(cp, tp, "fc2"), COMPUTE, "Linear FC2 (RowParallel)",
                                       extra=["partial sums"], inp=[c.act()],
                                       out=[c.full_cp()], gpus=g,
                                       mcore=md + ".mlp.linear_fc2", cluster=cl))
                            m.edge(L(cp, tp, "swiglu"), L(cp, tp, "fc2"))
                        rs = m.add(comm(m, LC(cp, "rs_sp_mlp"), "Reduce-Scatter (SP)", "TP/SP",
                                        [G(cp, tp) for tp in range(T)], [c.full_cp()],
                                        [c.resid()],
                                        md + ".mlp.linear_fc2 (reduce_scatter_to_sp_region)",
                                        cl))
                        for tp in range(T):
                            m.edge(L(cp, tp, "fc2"), rs)
                    last = lambda cp, tp, LC=LC: LC(cp, "rs_sp_mlp")
                for cp in range(C):
                    for tp in range(T):
                        m.add(Node(L(cp, tp, "res2"), COMPUTE, "Residual Add (MLP)",
                                   inp=[c.resid(), c.resid()], out=[c.resid()],
                                   gpus=[G(cp, tp)], mcore=md + " (mlp_bda)", cluster=cl))
                        m.edge(last(cp, tp), L(cp, tp, "res2"))
                        m.edge(L(cp, tp, "res1"), L(cp, tp, "res2"))
                        cur[(cp, tp)] = L(cp, tp, "res2")
            if p == c.pp - 1:
                F = lambda cp, tp, op: "%spp%d_cp%d_tp%d_%s" % (pre, p, cp, tp, op)
                for cp in range(C):
                    for tp in range(T):
                        m.add(Node(F(cp, tp, "final_norm"), COMPUTE, "Final RMSNorm (SP)",
                                   inp=[c.resid()], out=[c.resid()], gpus=[G(cp, tp)],
                                   mcore="decoder.final_layernorm", cluster=cl))
                        m.edge(cur[(cp, tp)], F(cp, tp, "final_norm"))
                    ag = m.add(comm(m, "%spp%d_cp%d_ag_sp_final" % (pre, p, cp),
                                    "All-Gather (SP)", "TP/SP", [G(cp, tp) for tp in range(T)],
                                    [c.resid()], [c.full_cp()],
                                    "output_layer (gather_from_sp_region)", cl))
                    for tp in range(T):
                        m.edge(F(cp, tp, "final_norm"), ag)
                        m.add(Node(F(cp, tp, "lm_head"), COMPUTE, "LM Head (ColumnParallel)",
                                   inp=[c.full_cp()], out=[c.logits_tp()], gpus=[G(cp, tp)],
                                   mcore="output_layer", cluster=cl))
                        m.edge(ag, F(cp, tp, "lm_head"))
                    agl = m.add(comm(m, "%spp%d_cp%d_ag_logits_tp" % (pre, p, cp),
                                     "All-Gather Logits (TP)", "TP/SP",
                                     [G(cp, tp) for tp in range(T)], [c.logits_tp()],
                                     [c.logits()], "output_layer (gather_output)", cl))
                    for tp in range(T):
                        m.edge(F(cp, tp, "lm_head"), agl)
                    final_outputs.append(agl)
    m.add(Node("output", IO, "Output", extra=["Logits, one slice per CP rank" +
                                              (" and DP replica" if c.dp > 1 else "")],
               inp=[c.logits()] * len(final_outputs)))
    for f in final_outputs:
        m.edge(f, "output")
    return m


def comm(m, nid, title, pg, gpus, inp, out, mcore, cluster):
    g = sorted(set(gpus))
    n = Node(nid, COMM, title, inp=inp, out=out, gpus=g, mcore=mcore, cluster=cluster)
    n.group = pg
    return n


# --------------------------------------------------------------------------------------------
# self-check (clean files must pass all of it)
# --------------------------------------------------------------------------------------------
def check(m):
    errs = []
    c = m.cfg
    ids = set(m.nodes)
    succ = {n: [] for n in ids}
    pred = {n: [] for n in ids}
    for a, b, _ in m.edges:
        succ[a].append(b)
        pred[b].append(a)
    # acyclic
    indeg = {n: len(pred[n]) for n in ids}
    q = [n for n in ids if indeg[n] == 0]
    seen = 0
    while q:
        n = q.pop()
        seen += 1
        for s in succ[n]:
            indeg[s] -= 1
            if indeg[s] == 0:
                q.append(s)
    if seen != len(ids):
        errs.append("cycle")
    for n in ids:
        if n != "input" and not pred[n]:
            errs.append("no input edge: " + n)
        if n != "output" and not succ[n]:
            errs.append("no output edge: " + n)

    def reach(start, nbr):
        st, vis = [start], {start}
        while st:
            x = st.pop()
            for y in nbr[x]:
                if y not in vis:
                    vis.add(y)
                    st.append(y)
        return vis
    if reach("input", succ) != ids or reach("output", pred) != ids:
        errs.append("node not on an input->output path")
    for a, b, _ in m.edges:
        na, nb = m.nodes[a], m.nodes[b]
        if not (set(na.out) & set(nb.inp)):
            errs.append("shape mismatch %s -> %s" % (a, b))
        if na.kind != COMM and nb.kind != COMM and na.gpus and nb.gpus and \
                set(na.gpus) != set(nb.gpus):
            errs.append("cross-gpu edge without comm %s -> %s" % (a, b))
    for n in m.nodes.values():
        if n.kind in (COMPUTE, ROUTE, COMM):
            if not n.gpus or n.no_gpu:
                errs.append("no gpu " + n.id)
            if any(g >= c.ngpu for g in n.gpus):
                errs.append("gpu out of range " + n.id)
            if not n.inp or not n.out or n.no_shapes:
                errs.append("no shapes " + n.id)
            if n.shape_override:
                errs.append("shape override " + n.id)
            for s in n.inp + n.out:
                if "?" in s:
                    errs.append("placeholder " + n.id)
    # attention wiring
    for n in m.nodes.values():
        if n.id.endswith("_scores"):
            ps = pred[n.id]
            if not (any(p.endswith("_q") for p in ps) and any(p.endswith("_ag_k_cp") for p in ps)
                    and len(ps) == 2):
                errs.append("scores wiring " + n.id)
        if n.id.endswith("_context"):
            ps = sorted(pred[n.id])
            if len(ps) != 2 or n.id[:-len("context")] + "softmax" not in ps or \
                    not any(p.endswith("_ag_v_cp") for p in ps):
                errs.append("context wiring " + n.id)
        if n.id.endswith("_proj"):
            if [p.rsplit("_", 1)[-1] for p in pred[n.id]] != ["context"]:
                errs.append("proj wiring " + n.id)
        if n.id.endswith("_softmax"):
            if succ[n.id] != [n.id[:-len("softmax")] + "context"]:
                errs.append("softmax wiring " + n.id)
    # stages: per DP replica, PP clusters with contiguous ranges; GPU sets disjoint
    stage_gpus = {}
    for n in m.nodes.values():
        if n.cluster and "_pp" in n.cluster:
            stage_gpus.setdefault(n.cluster, set()).update(n.gpus)
    keys = sorted(stage_gpus)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            if stage_gpus[keys[i]] & stage_gpus[keys[j]]:
                errs.append("stages share gpus %s %s" % (keys[i], keys[j]))
    if len(keys) != c.pp * c.dp:
        errs.append("stage count")
    # experts
    if c.moe:
        for p in range(c.pp):
            for l in c.stage_layers(p):
                ex = [n for n in m.nodes.values() if n.id.startswith("pp%d_l%d_ep" % (p, l))]
                if len(ex) != c.experts:
                    errs.append("expert count l%d" % l)
                per = {}
                for n in ex:
                    per.setdefault(n.id.split("_")[2], set()).update(n.gpus)
                if len(per) != c.ep or any(len(v) != 1 for v in per.values()):
                    errs.append("ep ranks l%d" % l)
                if len(set().union(*per.values())) != c.ep:
                    errs.append("ep ranks share gpu l%d" % l)
                counts = [sum(1 for n in ex if n.id.split("_")[2] == "ep%d" % r)
                          for r in range(c.ep)]
                if set(counts) != {c.experts // c.ep}:
                    errs.append("uneven experts l%d" % l)
    return errs


# --------------------------------------------------------------------------------------------
# defects: each takes a fresh copy of its base and returns (nodes, what)
# --------------------------------------------------------------------------------------------
def set_label_line(m, prefix, new):
    for i, line in enumerate(m.label_lines):
        if line.startswith(prefix):
            m.label_lines[i] = new
            return
    raise KeyError(prefix)


def d_cycle(m):
    a, b = "pp0_l1_a2a_combine", "pp0_l1_cp1_tp0_unpermute"
    assert m.has_edge(a, b)
    m.edge(b, a)
    return [a, b], ("Layer 1's combine all-to-all is drawn both ways with the expert combine of "
                    "cp1 tp0 (EP rank 2, GPU 2): %s -> %s and %s -> %s, a two-node cycle."
                    % (a, b, b, a))


def d_dangling_input(m):
    n = "pp1_l2_cp0_tp1_norm2"
    m.remove_edge("pp1_l2_cp0_tp1_res1", n)
    return [n], ("Layer 2's pre-MLP RMSNorm on cp0 tp1 (GPU 5, PP rank 1) %s has no incoming "
                 "edge: its input from the attention residual pp1_l2_cp0_tp1_res1 was removed."
                 % n)


def d_dangling_output(m):
    n = "pp1_l3_ep2_expert5"
    m.remove_edge(n, "pp1_l3_a2a_combine")
    return [n], ("Expert 5 of layer 3 (EP rank 2, GPU 6) %s has no outgoing edge: its output "
                 "never reaches the combine all-to-all pp1_l3_a2a_combine." % n)


def d_attention_one_box(m):
    c = m.cfg
    l, ids = 1, []
    for cp in range(c.cp):
        for tp in range(c.tp):
            pre = "pp0_l%d_cp%d_tp%d_" % (l, cp, tp)
            g = m.nodes[pre + "qkv"].gpus
            for op in ("qkv", "qkv_split", "q", "k", "v", "scores", "softmax", "context"):
                m.remove_node(pre + op)
            nid = pre + "self_attention"
            n = Node(nid, COMPUTE, "Self Attention",
                     extra=["QKV, RoPE and core attention, %d/TP heads" % c.heads],
                     inp=[c.full_cp()], out=[c.ctx()], gpus=g,
                     mcore="decoder.layers.%d.self_attention" % l, cluster="cluster_pp0")
            m.add(n)
            m.edge("pp0_l%d_cp%d_ag_sp_attn" % (l, cp), nid)
            m.edge(nid, pre + "proj")
            ids.append(nid)
    for tp in range(c.tp):
        for op in ("k", "v"):
            m.remove_node("pp0_l%d_tp%d_ag_%s_cp" % (l, tp, op))
    return ids, ("Layer 1's attention is drawn as one 'Self Attention' box per (cp, tp) rank "
                 "(8 boxes on GPUs 0-7) instead of Linear QKV, Split QKV, Q/K/V, the CP K/V "
                 "all-gathers, Scores, Softmax and Context.")


def d_v_bypasses_softmax(m):
    pre = "pp0_l1_cp1_tp0_"
    m.remove_edge(pre + "softmax", pre + "context")
    m.edge(pre + "softmax", pre + "proj")
    return [pre + "softmax", pre + "context", pre + "proj"], (
        "Layer 1, cp1 tp0 (GPU 2): V (via pp0_l1_tp0_ag_v_cp) feeds the context "
        "pp0_l1_cp1_tp0_context but the softmax does not (it goes straight to the Linear Proj "
        "pp0_l1_cp1_tp0_proj), so V bypasses the attention probabilities.")


def d_v_into_score(m):
    s, cx = "pp0_l0_cp0_tp1_scores", "pp0_l0_cp0_tp1_context"
    k, v = "pp0_l0_tp1_ag_k_cp", "pp0_l0_tp1_ag_v_cp"
    m.remove_edge(k, s)
    m.remove_edge(v, cx)
    # keep the original input order of the consumers: insert where the removed edges were
    m.edge(v, s)
    m.edge(k, cx)
    return [s, cx, k, v], ("Layer 0, cp0 tp1 (GPU 1): the all-gathered V %s is wired into the "
                           "score %s instead of K, and the all-gathered K %s feeds the context "
                           "%s (K and V swapped)." % (v, s, k, cx))


def d_qkv_into_oproj(m):
    c = m.cfg
    ids = []
    for cp in range(c.cp):
        for tp in range(c.tp):
            pre = "dp1_pp0_l1_cp%d_tp%d_" % (cp, tp)
            for op in ("scores", "softmax", "context"):
                m.remove_node(pre + op)
            for op in ("q", "k", "v"):
                m.edge(pre + op, pre + "proj")
            ids.append(pre + "proj")
    for tp in range(c.tp):
        for op in ("k", "v"):
            m.remove_node("dp1_pp0_l1_tp%d_ag_%s_cp" % (tp, op))
    return ids, ("DP replica 1, layer 1: on every rank (cp0-1 x tp0-1, GPUs 4-7) Query, Key "
                 "and Value go straight into the Linear Proj (RowParallel); no CP K/V "
                 "all-gather, score, softmax or context is drawn.")


def d_head_arithmetic(m):
    c = m.cfg
    l, ids = 0, []
    loc, full = c.heads_local(), c.heads_full()
    loc2, full2 = c.heads_local(d=64), c.heads_full(d=64)
    for n in list(m.nodes.values()):
        if n.id.startswith("pp0_l%d_" % l):
            changed = False
            for lst in (n.inp, n.out):
                for i, s in enumerate(lst):
                    if s == loc:
                        lst[i], changed = loc2, True
                    elif s == full:
                        lst[i], changed = full2, True
            if changed:
                ids.append(n.id)
    ids = [i for i in ids if i.endswith(("_qkv_split", "_q", "_k", "_v"))]
    return ids, ("Layer 0 labels Q/K/V as heads=16/TP x d=64 on every rank (4 x 64 = 256 per "
                 "rank, 16 x 64 = 1024 in total) while hidden is 2048 (2048/TP4 = 512 per rank; "
                 "head_dim is 128).")


def d_tp_heads(m):
    c = m.cfg
    ids = []
    h_all = "%d" % c.heads
    for n in list(m.nodes.values()):
        if n.id.startswith("pp0_l0_") and ("_tp0_" in n.id) and not n.id.endswith(
                ("norm1", "res1", "norm2", "router", "unpermute", "res2", "proj")):
            changed = False
            for lst in (n.inp, n.out):
                for i, s in enumerate(lst):
                    t = s.replace("heads=%d/TP" % c.heads, "heads=" + h_all).replace(
                        "qkv=3*%d/TP" % c.hidden, "qkv=3*%d" % c.hidden)
                    if t != s:
                        lst[i], changed = t, True
            if changed and n.kind != COMM:
                ids.append(n.id)
    ids = [i for i in ids if i.endswith(("_qkv", "_qkv_split", "_q", "_k", "_v"))]
    return ids, ("Layer 0, TP rank 0 of TP2 (GPUs 0 and 2): Linear QKV outputs all heads "
                 "(qkv=3*4096, heads=32) and Q/K/V, scores and context carry heads=32 instead of "
                 "32/TP = 16 heads per rank.")


def d_edge_shape_mismatch(m):
    n = m.nodes["dp0_pp0_l1_cp1_tp0_norm2"]
    n.inp = ["(b=2/DP, s=4096/CP/TP, h=1536)"]
    return [n.id, "dp0_pp0_l1_cp1_tp0_res1"], (
        "DP replica 0, layer 1, cp1 tp0 (GPU 2): Pre-MLP RMSNorm dp0_pp0_l1_cp1_tp0_norm2 "
        "expects h=1536 but its producer dp0_pp0_l1_cp1_tp0_res1 outputs h=2048 (ratio 4/3, "
        "not a parallel degree).")


def d_shard_without_gather(m):
    n = m.nodes["pp0_l1_cp0_rs_sp_attn"]
    n.out = ["(b=1, s=16384/CP, h=2048/TP)"]
    return [n.id] + ["pp0_l1_cp0_tp%d_res1" % tp for tp in range(4)], (
        "Layer 1, cp0: the attention Reduce-Scatter pp0_l1_cp0_rs_sp_attn scatters along the "
        "hidden dimension into h=2048/TP = 512 shards that go straight into the full-size "
        "(h=2048) residual adds pp0_l1_cp0_tp0-3_res1 with no all-gather.")


def d_stage_count(m):
    set_label_line(m, "Parallelism:", "Parallelism: TP=2, CP=2, PP=3, EP=4, DP=1")
    return [], "The graph label declares PP=3 but two pipeline stages (PP rank 0 and 1) are drawn."


def d_stage_range_gap(m):
    m.clusters["cluster_pp0"]["label"] = "PP rank 0 [layers 0-0]"
    ids = ["pp0_l1_cp%d_tp%d_norm1" % (cp, tp) for cp in range(2) for tp in range(2)]
    return ids, ("PP rank 0 claims layers 0-0 and PP rank 1 layers 2-3: layer 1 is in no "
                     "stage's range (gap), although its operators (pp0_l1_*) are drawn in "
                     "PP rank 0.")


def d_stage_missing_layer(m):
    for n in [n for n in m.order if n.startswith("pp1_l3_")]:
        m.remove_node(n)
    ids = []
    for cp in range(2):
        for tp in range(2):
            m.edge("pp1_l2_cp%d_tp%d_res2" % (cp, tp), "pp1_cp%d_tp%d_final_norm" % (cp, tp))
            ids.append("pp1_l2_cp%d_tp%d_res2" % (cp, tp))
    return ids, ("PP rank 1 claims layers 2-3 but no operator of layer 3 is drawn: layer 2's "
                 "residual adds feed the Final RMSNorm directly.")


def d_no_stage_transfer(m):
    ids = []
    for cp in range(2):
        for tp in range(2):
            p2p = "pp0_to_pp1_cp%d_tp%d_p2p" % (cp, tp)
            m.remove_node(p2p)
            src = "pp0_l1_cp%d_tp%d_res2" % (cp, tp)
            m.edge(src, "pp1_l2_cp%d_tp%d_norm1" % (cp, tp))
            m.edge(src, "pp1_l2_cp%d_tp%d_res1" % (cp, tp))
            ids.append(src)
    # keep edge order sensible: the skip edge into res1 is fine anywhere
    return ids, ("PP rank 0 (GPUs 0-3) and PP rank 1 (GPUs 4-7) are joined by plain edges from "
                 "pp0_l1_cp*_tp*_res2 to pp1_l2_cp*_tp*_norm1/res1; the P2P send/recv is missing.")


def d_experts_subset_ranks(m):
    ids = []
    for e in range(8):
        old = "pp0_l1_ep%d_expert%d" % (e // 2, e)
        r = e // 4
        new = "pp0_l1_ep%d_expert%d" % (r, e)
        if old != new:
            m.rename(old, new)
        m.nodes[new].gpus = [r]
        m.nodes[new].extra = ["SwiGLU, ffn=14336, 4 experts per EP rank"]
        ids.append(new)
    return ids, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPU 0, 4-7 on "
                 "GPU 1); EP ranks 2 and 3 (GPUs 2-3) hold none of its experts although EP is 4.")


def d_experts_uneven(m):
    m.rename("pp0_l0_ep1_expert3", "pp0_l0_ep0_expert3")
    m.nodes["pp0_l0_ep0_expert3"].gpus = [0]
    return ["pp0_l0_ep0_expert3"], (
        "Layer 0's expert 3 sits on EP rank 0 (GPU 0) instead of EP rank 1 (GPU 1): ranks 0-7 "
        "hold 3, 1, 2, 2, 2, 2, 2, 2 experts instead of 16/8 = 2 each.")


def d_experts_share_gpu(m):
    n = m.nodes["pp1_l2_ep1_expert3"]
    n.gpu_text_override = "GPU: 4 (tp0 cp0 pp1 ep1)"
    n.gpus = [4]
    return [n.id, "pp1_l2_ep0_expert0", "pp1_l2_ep0_expert1"], (
        "Layer 2's expert 3 (EP rank 1) is placed on GPU 4, which holds EP rank 0's experts 0 "
        "and 1 (EP rank 1 is GPU 5).")


def d_no_gate(m):
    ids = []
    for cp in range(2):
        for tp in range(4):
            pre = "pp0_l1_cp%d_tp%d_" % (cp, tp)
            m.remove_node(pre + "router")
            m.edge(pre + "norm2", "pp0_l1_a2a_dispatch")
            ids.append(pre + "norm2")
    return ids + ["pp0_l1_a2a_dispatch"], (
        "Layer 1 has no MoE Router: the Pre-MLP RMSNorm outputs of all 8 ranks go straight into "
        "the dispatch all-to-all pp0_l1_a2a_dispatch and on to the 16 experts.")


def d_no_all_to_all(m):
    m.remove_node("pp0_l1_a2a_dispatch")
    ids = []
    for cp in range(2):
        for tp in range(2):
            r = "pp0_l1_cp%d_tp%d_router" % (cp, tp)
            ids.append(r)
            for e in range(8):
                m.edge(r, "pp0_l1_ep%d_expert%d" % (e // 2, e), style="dashed")
    return ids, ("Layer 1's routers on GPUs 0-3 send tokens straight to the 8 experts on EP "
                 "ranks 0-3 (EP 4) without a dispatch all-to-all (the combine all-to-all is "
                 "still drawn).")


def d_tp_rank_missing(m):
    ids = []
    for cp in range(2):
        pre = "pp0_l1_cp%d_tp3_" % cp
        for op in ("qkv", "qkv_split", "q", "k", "v", "scores", "softmax", "context", "proj"):
            m.remove_node(pre + op)
            ids.append(pre + op)
    for op in ("k", "v"):
        m.remove_node("pp0_l1_tp3_ag_%s_cp" % op)
    return ["pp0_l1_cp0_tp3_norm1", "pp0_l1_cp1_tp3_norm1", "pp0_l1_cp0_ag_sp_attn",
            "pp0_l1_cp1_ag_sp_attn", "pp0_l1_cp0_rs_sp_attn", "pp0_l1_cp1_rs_sp_attn"], (
        "Layer 1's attention operators (Linear QKV to Linear Proj, and the CP K/V all-gathers) "
        "are drawn for TP ranks 0-2 only; TP rank 3 (GPUs 3 and 7) of TP 4 is missing.")


def d_no_allreduce_after_rowparallel(m):
    ids = []
    for cp in range(2):
        m.remove_node("dp0_pp0_l0_cp%d_rs_sp_mlp" % cp)
        for tp in range(2):
            pre = "dp0_pp0_l0_cp%d_tp%d_" % (cp, tp)
            m.edge(pre + "fc2", pre + "res2")
            ids.append(pre + "fc2")
    return ids, ("DP replica 0, layer 0: the row-parallel Linear FC2 outputs (partial sums, "
                 "GPUs 0-3) feed the MLP residual adds directly, without the SP reduce-scatter "
                 "of their partial sums.")


def d_cross_gpu_no_comm(m):
    ag = "pp1_l3_tp1_ag_v_cp"
    m.remove_node(ag)
    for cp in range(2):
        for cp2 in range(2):
            m.edge("pp1_l3_cp%d_tp1_v" % cp, "pp1_l3_cp%d_tp1_context" % cp2)
    return ["pp1_l3_cp0_tp1_v", "pp1_l3_cp1_tp1_context", "pp1_l3_cp1_tp1_v",
            "pp1_l3_cp0_tp1_context"], (
        "Layer 3, tp1: the CP exchange of V is drawn as plain edges, pp1_l3_cp0_tp1_v on GPU 5 "
        "feeds pp1_l3_cp1_tp1_context on GPU 7 and pp1_l3_cp1_tp1_v on GPU 7 feeds "
        "pp1_l3_cp0_tp1_context on GPU 5, with no communication node (the All-Gather KV (CP) "
        "of V is missing).")


def d_comm_wrong_shape(m):
    n = m.nodes["pp0_l0_cp1_rs_sp_attn"]
    n.shape_override = "box"
    return [n.id], ("Layer 0's attention Reduce-Scatter (SP) of cp1 (GPUs 4-7) "
                    "pp0_l0_cp1_rs_sp_attn is drawn as a box (computation) instead of an ellipse.")


def d_missing_gpu(m):
    n = m.nodes["pp0_l0_cp1_tp1_softmax"]
    n.no_gpu = True
    return [n.id], "Softmax of layer 0, cp1 tp1 (should be GPU 3) pp0_l0_cp1_tp1_softmax has no GPU line."


def d_gpu_out_of_range(m):
    n = m.nodes["pp1_l2_ep2_expert5"]
    n.gpu_text_override = "GPU: 10 (tp0 cp1 pp1 ep2)"
    n.gpus = [10]
    return [n.id], ("Layer 2's expert 5 (EP rank 2) is placed on GPU 10, beyond the 8 GPUs "
                    "(ids 0-7) of TP2 x CP2 x PP2 x DP1 with EP folded in (it belongs on GPU 6; "
                    "the stage offset 4 was added twice).")


def d_stages_share_gpus(m):
    c = m.cfg
    ids = []
    for n in m.nodes.values():
        if n.cluster == "cluster_pp1":
            n.tuple_gpus = list(n.gpus)
            n.gpus = [g - 2 for g in n.gpus]
            ids.append(n.id)
        elif "_to_pp1_" in n.id:
            src, dst = n.gpus
            n.tuple_gpus = [src, dst]
            n.gpus = [src, dst - 2]
    ids = [i for i in ids if i.startswith("pp1_l2_cp0_") and i.endswith("_norm1")]
    ids += ["pp0_to_pp1_cp%d_tp%d_p2p" % (cp, tp) for cp in range(2) for tp in range(2)]
    return ids, ("PP rank 1 is placed on GPUs 2-5, overlapping PP rank 0's GPUs 0-3 (GPUs 2 "
                     "and 3 are in both stages).")


def d_strategy_mismatch(m):
    set_label_line(m, "Parallelism:", "Parallelism: TP=4, CP=2, PP=1, EP=1, DP=2")
    return [], ("The graph label declares TP=4 but every tensor-parallel operator is drawn for "
                "TP ranks tp0-1 only (TP 2).")


def d_missing_shapes(m):
    n = m.nodes["dp1_pp0_l1_cp0_tp1_proj"]
    n.no_shapes = True
    return [n.id], ("Linear Proj (RowParallel) of DP replica 1, layer 1, cp0 tp1 (GPU 5) "
                    "dp1_pp0_l1_cp0_tp1_proj has no Input or Output line.")


def d_placeholder(m):
    n = m.nodes["pp0_l1_ep4_expert9"]
    n.inp = ["(t=?, h=2048)"]
    return [n.id], ("Layer 1's Expert 9 MLP (EP rank 4, GPU 4) gives its input as (t=?, h=2048), "
                    "a placeholder instead of the per-expert token count 16384*2/16.")


def d_moe_before_attention(m):
    ids = []
    for cp in range(2):
        for tp in range(4):
            L = lambda op: "pp0_l1_cp%d_tp%d_%s" % (cp, tp, op)
            prev = "pp0_l0_cp%d_tp%d_res2" % (cp, tp)
            fin = "pp0_cp%d_tp%d_final_norm" % (cp, tp)
            for a, b in ((prev, L("norm1")), (prev, L("res1")), (L("res1"), L("norm2")),
                         (L("res1"), L("res2")), (L("res2"), fin)):
                m.remove_edge(a, b)
            for a, b in ((prev, L("norm2")), (prev, L("res2")), (L("res2"), L("norm1")),
                         (L("res2"), L("res1")), (L("res1"), fin)):
                m.edge(a, b)
            ids += [L("norm2"), L("norm1")]
    return ids, ("Layer 1 runs its MoE block (pre-MLP norm, router, experts, MLP residual) "
                     "before its attention block on every rank: pp0_l0_*_res2 feeds "
                     "pp0_l1_*_norm2 and the MoE residual pp0_l1_*_res2 feeds pp0_l1_*_norm1.")


def d_missing_residual(m):
    ids = []
    for cp in range(2):
        for tp in range(2):
            r = "pp0_l1_cp%d_tp%d_res1" % (cp, tp)
            m.remove_edge("pp0_l0_cp%d_tp%d_res2" % (cp, tp), r)
            ids.append(r)
    return ids, ("Layer 1's attention residual adds pp0_l1_cp0-1_tp0-1_res1 (GPUs 0-3) are fed "
                 "only by the Reduce-Scatter (SP); the skip edges from pp0_l0_*_res2 are missing.")


DEFECTS = [
    # kind, category, base, fn
    ("cycle", "structure", "clean_1.dot", d_cycle),
    ("dangling_input", "structure", "clean_1.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_1.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_2.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_2.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_1.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_3.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_2.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_1.dot", d_missing_residual),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    manifest = []
    bases = {}
    ok = True
    for fname, cfg in CFGS.items():
        m = build(cfg)
        bases[fname] = m
        errs = check(m)
        if errs:
            ok = False
            print("CLEAN CHECK FAILED %s: %s" % (fname, errs[:10]))
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(m.to_dot())
        manifest.append(dict(file=fname, kind="clean", category=None, base=None, nodes=[],
                             what="Clean: %s; %s; %d nodes, %d edges." % (
                                 cfg.label()[0], cfg.label()[1], len(m.nodes), len(m.edges))))
    for kind, cat, base, fn in DEFECTS:
        m = copy.deepcopy(bases[base])
        nodes, what = fn(m)
        for n in nodes:
            assert n in m.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(m.to_dot())
        errs = check(m)
        label_changed = m.label_lines != bases[base].label_lines or any(
            m.clusters[k] != bases[base].clusters[k] for k in m.clusters)
        if not errs and not label_changed:
            print("note: %s is outside what the built-in self-check looks at" % fname)
        manifest.append(dict(file=fname, kind=kind, category=cat, base=base, nodes=nodes,
                             what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    # Graphviz parse check
    for e in manifest:
        if e.get("file"):
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, e["file"])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or r.stderr.strip():
                ok = False
                print("dot failed on %s: %s" % (e["file"], r.stderr.strip()[:300]))
    print("wrote %d files to %s (%s)" % (len(manifest), OUT, "ok" if ok else "PROBLEMS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
