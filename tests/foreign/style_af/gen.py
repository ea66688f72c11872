#!/usr/bin/env python3
"""Independent generator of deployment DAGs in house style "AF".

House style:
  * node labels are two lines: operator name and placement ("Q proj\\nGPU 3");
    no Input/Output lines on nodes;
  * every edge carries the tensor it moves as its label ("[8,1024,4096]");
  * ids are snake_case l{L}_{op}_r{rank} (rank = TP rank for attention/MLP/gate/combine,
    EP rank for experts); group-wide communication nodes have no rank suffix;
  * pipeline stages are clusters "PP stage 0 (layers 0-1)" (prefixed with the DP replica when
    the file draws DP replicas);
  * the strategy is the first line of the graph label ("EP4 TP2 PP2 DP1").

Run:  python3 gen.py   -> writes out/*.dot and out/manifest.json (stdlib only).
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def sh(*dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


# --------------------------------------------------------------------------- model

class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = {}        # id -> dict(op, gpu, shape, cluster)
        self.order = []
        self.edges = []        # dict(src, dst, label, style)
        self.clusters = []     # [cid, label]

    def node(self, nid, op, gpu, shape="box", cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"op": op, "gpu": gpu, "shape": shape, "cluster": cluster}
        self.order.append(nid)
        return nid

    def edge(self, s, d, label, style=None):
        assert s in self.nodes and d in self.nodes, (s, d)
        self.edges.append({"src": s, "dst": d, "label": label, "style": style})

    def remove_edge(self, s, d):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e["src"] == s and e["dst"] == d)]
        assert len(self.edges) == n - 1, (s, d)

    def get_edge(self, s, d):
        m = [e for e in self.edges if e["src"] == s and e["dst"] == d]
        assert len(m) == 1, (s, d)
        return m[0]

    def remove_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e["src"] != nid and e["dst"] != nid]

    def rename(self, old, new):
        assert old in self.nodes and new not in self.nodes
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        for e in self.edges:
            if e["src"] == old:
                e["src"] = new
            if e["dst"] == old:
                e["dst"] = new

    def set_cluster_label(self, cid, label):
        for c in self.clusters:
            if c[0] == cid:
                c[1] = label
                return
        raise KeyError(cid)

    # ---- serialisation
    def _node_line(self, nid, indent):
        n = self.nodes[nid]
        lab = n["op"] if n["gpu"] is None else n["op"] + "\\nGPU " + n["gpu"]
        return '%s%s [label="%s", shape=%s];' % (indent, nid, lab, n["shape"])

    def to_dot(self):
        out = ["digraph %s {" % self.name,
               '  label="%s";' % self.label,
               "  labelloc=t;",
               "  rankdir=TB;",
               '  node [fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=8];',
               ""]
        for cid, clab in self.clusters:
            members = [nid for nid in self.order if self.nodes[nid]["cluster"] == cid]
            if not members:
                continue
            out.append("  subgraph %s {" % cid)
            out.append('    label="%s";' % clab)
            out.append("    style=rounded;")
            for nid in members:
                out.append(self._node_line(nid, "    "))
            out.append("  }")
            out.append("")
        loose = [nid for nid in self.order if self.nodes[nid]["cluster"] is None]
        for nid in loose:
            out.append(self._node_line(nid, "  "))
        if loose:
            out.append("")
        for e in self.edges:
            attrs = []
            if e["label"] is not None:
                attrs.append('label="%s"' % e["label"])
            if e["style"]:
                attrs.append("style=%s" % e["style"])
            a = (" [" + ", ".join(attrs) + "]") if attrs else ""
            out.append("  %s -> %s%s;" % (e["src"], e["dst"], a))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- configs

CFG1 = dict(name="moe_ep4_tp2_pp2", moe=True, EP=4, TP=2, PP=2, DP=1,
            B=8, S=1024, H=4096, heads=32, hd=128, E=8, topk=2, F=None, V=32000, L=4)
CFG2 = dict(name="dense_tp2_pp1_dp2", moe=False, EP=1, TP=2, PP=1, DP=2,
            B=4, S=1024, H=2048, heads=16, hd=128, E=0, topk=0, F=5632, V=32000, L=2)
CFG3 = dict(name="moe_ep2_tp4_pp1", moe=True, EP=2, TP=4, PP=1, DP=1,
            B=4, S=512, H=2048, heads=16, hd=128, E=8, topk=2, F=None, V=32000, L=2)


def strategy(c, override=None):
    if override:
        return override
    if c["moe"]:
        return "EP%d TP%d PP%d DP%d" % (c["EP"], c["TP"], c["PP"], c["DP"])
    return "TP%d PP%d DP%d" % (c["TP"], c["PP"], c["DP"])


def describe(c):
    if c["moe"]:
        kind = "MoE decoder, %d layers, hidden %d, %d heads x %d, %d experts (top-%d)" % (
            c["L"], c["H"], c["heads"], c["hd"], c["E"], c["topk"])
    else:
        kind = "Dense decoder, %d layers, hidden %d, %d heads x %d, FFN %d" % (
            c["L"], c["H"], c["heads"], c["hd"], c["F"])
    bs = "batch %d x seq %d" % (c["B"], c["S"])
    if c["DP"] > 1:
        bs += " per DP replica"
    return kind + ", vocab %d, %s, inference forward pass" % (c["V"], bs)


def grange(a, b):
    return str(a) if a == b else "%d-%d" % (a, b)


def build(c, strategy_label=None, stage_bases=None, skip_layers=(), moe_first=(),
          no_transfer=False):
    EP, TP, PP, DP = c["EP"], c["TP"], c["PP"], c["DP"]
    B, S, H = c["B"], c["S"], c["H"]
    nhl = c["heads"] // TP
    hd = c["hd"]
    assert c["heads"] * hd == H and c["heads"] % TP == 0 and H % TP == 0
    per_stage = EP * TP
    lpp = c["L"] // PP
    assert lpp * PP == c["L"]
    g = Graph(c["name"], strategy(c, strategy_label) + "\\n" + describe(c))
    full = sh(B, S, H)

    for d in range(DP):
        pre = "dp%d_" % d if DP > 1 else ""
        bases = []
        for s in range(PP):
            if stage_bases is not None:
                bases.append(stage_bases[s] + d * PP * per_stage)
            else:
                bases.append((d * PP + s) * per_stage)
            lab = "PP stage %d (layers %d-%d)" % (s, s * lpp, (s + 1) * lpp - 1)
            if DP > 1:
                lab = "DP replica %d, %s" % (d, lab)
            g.clusters.append(["cluster_%spp%d" % (pre, s), lab])

        def cl(s):
            return "cluster_%spp%d" % (pre, s)

        # ---- input + embedding (hidden-sharded table, then all-gather)
        b0 = bases[0]
        ag = g.node(pre + "emb_allgather", "AllGather", grange(b0, b0 + TP - 1), "ellipse", cl(0))
        for t in range(TP):
            i = g.node(pre + "input_r%d" % t, "Input (token ids)", str(b0 + t), "box", cl(0))
            e = g.node(pre + "emb_r%d" % t, "Embedding", str(b0 + t), "box", cl(0))
            g.edge(i, e, sh(B, S))
            g.edge(e, ag, sh(B, S, H // TP))
        stream = [ag] * TP

        def attention(L, s, stream):
            b = bases[s]
            p = pre + "l%d_" % L
            ar = None
            outs = []
            ranks = []
            for t in range(TP):
                gpu = str(b + t)
                r = "_r%d" % t
                n = {}
                n["ln"] = g.node(p + "ln1" + r, "LayerNorm", gpu, "box", cl(s))
                n["q"] = g.node(p + "q" + r, "Q proj", gpu, "box", cl(s))
                n["k"] = g.node(p + "k" + r, "K proj", gpu, "box", cl(s))
                n["v"] = g.node(p + "v" + r, "V proj", gpu, "box", cl(s))
                n["qk"] = g.node(p + "qk" + r, "QK^T", gpu, "box", cl(s))
                n["sm"] = g.node(p + "softmax" + r, "Softmax", gpu, "box", cl(s))
                n["av"] = g.node(p + "attn_v" + r, "Attn x V", gpu, "box", cl(s))
                n["o"] = g.node(p + "out_proj" + r, "Out proj", gpu, "box", cl(s))
                ranks.append(n)
            ar = g.node(p + "attn_allreduce", "AllReduce", grange(b, b + TP - 1), "ellipse", cl(s))
            for t in range(TP):
                gpu = str(b + t)
                n = ranks[t]
                add = g.node(p + "add1_r%d" % t, "Add (residual)", gpu, "box", cl(s))
                heads = sh(B, S, nhl, hd)
                g.edge(stream[t], n["ln"], full)
                for x in "qkv":
                    g.edge(n["ln"], n[x], full)
                g.edge(n["q"], n["qk"], heads)
                g.edge(n["k"], n["qk"], heads)
                g.edge(n["qk"], n["sm"], sh(B, nhl, S, S))
                g.edge(n["sm"], n["av"], sh(B, nhl, S, S))
                g.edge(n["v"], n["av"], heads)
                g.edge(n["av"], n["o"], heads)
                g.edge(n["o"], ar, full)
                g.edge(ar, add, full)
                g.edge(stream[t], add, full)
                outs.append(add)
            return outs

        def moe(L, s, stream):
            b = bases[s]
            p = pre + "l%d_" % L
            tok = B * S * c["topk"] // c["E"]
            disp = g.node(p + "a2a_dispatch", "All2All dispatch", grange(b, b + per_stage - 1),
                          "ellipse", cl(s))
            comb = g.node(p + "a2a_combine", "All2All combine", grange(b, b + per_stage - 1),
                          "ellipse", cl(s))
            per_rank = c["E"] // EP
            assert per_rank * EP == c["E"]
            lns, gates = [], []
            for t in range(TP):
                gpu = str(b + t)
                lns.append(g.node(p + "ln2_r%d" % t, "LayerNorm", gpu, "box", cl(s)))
                gates.append(g.node(p + "gate_r%d" % t, "Gate", gpu, "parallelogram", cl(s)))
            for j in range(c["E"]):
                e, i = divmod(j, per_rank)
                gpu = str(b + e * TP + (i % TP))
                x = g.node(p + "expert%d_r%d" % (j, e), "Expert %d" % j, gpu, "box", cl(s))
                g.edge(disp, x, sh(tok, H))
                g.edge(x, comb, sh(tok, H))
            outs = []
            for t in range(TP):
                gpu = str(b + t)
                cb = g.node(p + "combine_r%d" % t, "Combine (weighted)", gpu, "parallelogram", cl(s))
                add = g.node(p + "add2_r%d" % t, "Add (residual)", gpu, "box", cl(s))
                g.edge(stream[t], lns[t], full)
                g.edge(lns[t], gates[t], full)
                g.edge(gates[t], disp, full)
                g.edge(gates[t], cb, sh(B, S, c["topk"]), "dashed")
                g.edge(comb, cb, sh(B, S, c["topk"], H))
                g.edge(cb, add, full)
                g.edge(stream[t], add, full)
                outs.append(add)
            return outs

        def mlp(L, s, stream):
            b = bases[s]
            p = pre + "l%d_" % L
            fs = c["F"] // TP
            ar = g.node(p + "mlp_allreduce", "AllReduce", grange(b, b + TP - 1), "ellipse", cl(s))
            outs = []
            for t in range(TP):
                gpu = str(b + t)
                r = "_r%d" % t
                ln = g.node(p + "ln2" + r, "LayerNorm", gpu, "box", cl(s))
                up = g.node(p + "up" + r, "Up proj", gpu, "box", cl(s))
                act = g.node(p + "gelu" + r, "GELU", gpu, "box", cl(s))
                dn = g.node(p + "down" + r, "Down proj", gpu, "box", cl(s))
                add = g.node(p + "add2" + r, "Add (residual)", gpu, "box", cl(s))
                g.edge(stream[t], ln, full)
                g.edge(ln, up, full)
                g.edge(up, act, sh(B, S, fs))
                g.edge(act, dn, sh(B, S, fs))
                g.edge(dn, ar, full)
                g.edge(ar, add, full)
                g.edge(stream[t], add, full)
                outs.append(add)
            return outs

        ffn = moe if c["moe"] else mlp
        for s in range(PP):
            for L in range(s * lpp, (s + 1) * lpp):
                if L in skip_layers:
                    continue
                if L in moe_first:
                    stream = attention(L, s, ffn(L, s, stream))
                else:
                    stream = ffn(L, s, attention(L, s, stream))
            if s < PP - 1:
                nb = bases[s + 1]
                if no_transfer:
                    continue  # next stage's first layer reads `stream` directly
                new = []
                for t in range(TP):
                    sr = g.node(pre + "pp%d%d_send_recv_r%d" % (s, s + 1, t),
                                "Send/Recv (PP%d->PP%d)" % (s, s + 1),
                                "%d,%d" % (bases[s] + t, nb + t), "ellipse", None)
                    g.edge(stream[t], sr, full)
                    new.append(sr)
                stream = new

        # ---- final norm, vocab-parallel LM head, all-gather of logits, output
        s = PP - 1
        b = bases[s]
        lag = g.node(pre + "logits_allgather", "AllGather", grange(b, b + TP - 1), "ellipse", cl(s))
        for t in range(TP):
            gpu = str(b + t)
            fn = g.node(pre + "final_norm_r%d" % t, "LayerNorm (final)", gpu, "box", cl(s))
            lm = g.node(pre + "lm_head_r%d" % t, "LM head", gpu, "box", cl(s))
            g.edge(stream[t], fn, full)
            g.edge(fn, lm, full)
            g.edge(lm, lag, sh(B, S, c["V"] // TP))
        o = g.node(pre + "output", "Output (logits)", str(b), "box", cl(s))
        g.edge(lag, o, sh(B, S, c["V"]))
    return g


# --------------------------------------------------------------------------- defects

def attn_nodes(L, t, pre=""):
    p = "%sl%d_" % (pre, L)
    r = "_r%d" % t
    return [p + x + r for x in ("q", "k", "v", "qk", "softmax", "attn_v", "out_proj")]


DEFECTS = []


def defect(kind, category, base, nodes, what):
    def deco(fn):
        DEFECTS.append(dict(kind=kind, category=category, base=base, nodes=nodes, what=what, fn=fn))
        return fn
    return deco


@defect("cycle", "structure", 1, ["l0_a2a_dispatch", "l0_expert0_r0"],
        "The layer-0 All2All dispatch is drawn both ways with Expert 0 (dispatch -> expert and "
        "expert -> dispatch), closing a cycle.")
def _(g):
    g.edge("l0_expert0_r0", "l0_a2a_dispatch", "[2048,4096]")
    return g


@defect("dangling_input", "structure", 1, ["l1_k_r0"],
        "Layer 1 K proj on TP rank 0 has no incoming edge (its LayerNorm -> K proj edge is missing).")
def _(g):
    g.remove_edge("l1_ln1_r0", "l1_k_r0")
    return g


@defect("dangling_output", "structure", 1, ["l1_expert5_r2"],
        "Layer 1 Expert 5 (EP rank 2, GPU 5) has no outgoing edge: its output never reaches the "
        "All2All combine.")
def _(g):
    g.remove_edge("l1_expert5_r2", "l1_a2a_combine")
    return g


@defect("attention_one_box", "attention", 1, ["l2_mha_r0", "l2_mha_r1"],
        "Layer 2's attention on both TP ranks is drawn as one 'Multi-Head Attention' box instead "
        "of Q/K/V proj, QK^T, Softmax, Attn x V and Out proj.")
def _(g):
    for t in range(2):
        for n in attn_nodes(2, t):
            g.remove_node(n)
        m = g.node("l2_mha_r%d" % t, "Multi-Head Attention", str(8 + t), "box", "cluster_pp1")
        g.edge("l2_ln1_r%d" % t, m, "[8,1024,4096]")
        g.edge(m, "l2_attn_allreduce", "[8,1024,4096]")
    return g


@defect("v_bypasses_softmax", "attention", 1,
        ["l1_softmax_r0", "l1_attn_v_r0", "l1_softmax_r1", "l1_attn_v_r1"],
        "In layer 1 (both TP ranks) Attn x V is fed only by V; the Softmax output goes to Out proj "
        "instead, so V bypasses the attention probabilities.")
def _(g):
    for t in range(2):
        g.remove_edge("l1_softmax_r%d" % t, "l1_attn_v_r%d" % t)
        g.edge("l1_softmax_r%d" % t, "l1_out_proj_r%d" % t, "[8,16,1024,1024]")
    return g


@defect("v_into_score", "attention", 1,
        ["l3_v_r0", "l3_qk_r0", "l3_k_r0", "l3_attn_v_r0", "l3_v_r1", "l3_qk_r1", "l3_k_r1",
         "l3_attn_v_r1"],
        "In layer 3 (both TP ranks) V proj is wired into QK^T instead of K proj (K and V swapped: "
        "K now feeds Attn x V).")
def _(g):
    for t in range(2):
        r = "_r%d" % t
        g.remove_edge("l3_k" + r, "l3_qk" + r)
        g.remove_edge("l3_v" + r, "l3_attn_v" + r)
        g.edge("l3_v" + r, "l3_qk" + r, "[8,1024,16,128]")
        g.edge("l3_k" + r, "l3_attn_v" + r, "[8,1024,16,128]")
    return g


@defect("qkv_into_oproj", "attention", 1,
        ["l0_q_r0", "l0_k_r0", "l0_v_r0", "l0_out_proj_r0", "l0_q_r1", "l0_k_r1", "l0_v_r1",
         "l0_out_proj_r1"],
        "In layer 0 (both TP ranks) Q, K and V proj feed Out proj directly; there is no QK^T, "
        "Softmax or Attn x V.")
def _(g):
    for t in range(2):
        r = "_r%d" % t
        for x in ("qk", "softmax", "attn_v"):
            g.remove_node("l0_" + x + r)
        for x in "qkv":
            g.edge("l0_" + x + r, "l0_out_proj" + r, "[8,1024,16,128]")
    return g


@defect("head_arithmetic", "attention", 1,
        ["l2_q_r0", "l2_k_r0", "l2_v_r0", "l2_attn_v_r0", "l2_q_r1", "l2_k_r1", "l2_v_r1",
         "l2_attn_v_r1"],
        "Layer 2's Q/K/V and Attn x V edges show 16 heads x 64 per TP2 rank: 16x64x2 = 2048, "
        "not the hidden size 4096 (head_dim should be 128).")
def _(g):
    ids = set(attn_nodes(2, 0) + attn_nodes(2, 1))
    for e in g.edges:
        if e["src"] in ids and e["dst"] in ids and e["label"].endswith(",16,128]"):
            e["label"] = e["label"].replace(",16,128]", ",16,64]")
    return g


@defect("tp_heads", "attention", 1,
        ["l1_q_r1", "l1_k_r1", "l1_v_r1", "l1_qk_r1", "l1_softmax_r1", "l1_attn_v_r1",
         "l1_out_proj_r1"],
        "Layer 1 TP rank 1's Q/K/V projections output all 32 heads ([8,1024,32,128]) instead of "
        "32/TP2 = 16 heads; its score/softmax/Attn x V follow with 32 heads.")
def _(g):
    ids = set(attn_nodes(1, 1))
    for e in g.edges:
        if e["src"] in ids and e["dst"] in ids:
            e["label"] = e["label"].replace(",16,128]", ",32,128]").replace(
                "[8,16,1024,1024]", "[8,32,1024,1024]")
    return g


@defect("edge_shape_mismatch", "shape", 1, ["l1_add1_r0", "l1_ln2_r0"],
        "The edge l1_add1_r0 -> l1_ln2_r0 is labelled [8,1024,3072] while Add's other output and "
        "LayerNorm's output are [8,1024,4096] (3072 is not a parallel shard of 4096).")
def _(g):
    g.get_edge("l1_add1_r0", "l1_ln2_r0")["label"] = "[8,1024,3072]"
    return g


@defect("shard_without_gather", "shape", 1,
        ["emb_r0", "emb_r1", "l0_ln1_r0", "l0_add1_r0", "l0_ln1_r1", "l0_add1_r1"],
        "The hidden-sharded Embedding outputs [8,1024,2048] = 4096/TP2 go straight into layer 0's "
        "LayerNorm and residual Add (full 4096) without the AllGather.")
def _(g):
    g.remove_node("emb_allgather")
    for t in range(2):
        g.edge("emb_r%d" % t, "l0_ln1_r%d" % t, "[8,1024,2048]")
        g.edge("emb_r%d" % t, "l0_add1_r%d" % t, "[8,1024,2048]")
    return g


@defect("stage_count", "pipeline", ("build", dict(strategy_label="EP4 TP2 PP3 DP1")),
        ["cluster_pp0", "cluster_pp1"],
        "The graph label declares PP3 but only two pipeline stages (clusters) are drawn.")
def _(g):
    return g


@defect("stage_range_gap", "pipeline", 1, ["cluster_pp1"],
        "Stage 1 is labelled 'layers 3-3' while stage 0 covers layers 0-1: layer 2 is claimed by "
        "no stage (gap), although its operators are drawn in stage 1.")
def _(g):
    g.set_cluster_label("cluster_pp1", "PP stage 1 (layers 3-3)")
    return g


@defect("stage_missing_layer", "pipeline", ("build", dict(skip_layers=(3,))),
        ["cluster_pp1", "l2_add2_r0", "l2_add2_r1"],
        "Stage 1 claims layers 2-3 (4-layer model) but no operator of layer 3 is drawn; layer 2's "
        "output goes straight to the final LayerNorm.")
def _(g):
    return g


@defect("no_stage_transfer", "pipeline", ("build", dict(no_transfer=True)),
        ["l1_add2_r0", "l2_ln1_r0", "l2_add1_r0", "l1_add2_r1", "l2_ln1_r1", "l2_add1_r1"],
        "Stage 0 (GPUs 0-7) and stage 1 (GPUs 8-15) are joined by plain edges from layer 1's Add "
        "to layer 2's LayerNorm/Add, with no Send/Recv node.")
def _(g):
    return g


def relocate(g, L, j, old_rank, new_rank, gpu):
    old = "l%d_expert%d_r%d" % (L, j, old_rank)
    new = "l%d_expert%d_r%d" % (L, j, new_rank)
    if old != new:
        g.rename(old, new)
    g.nodes[new]["gpu"] = str(gpu)


@defect("experts_subset_ranks", "expert", 1,
        ["l1_expert%d_r%d" % (j, j // 4) for j in range(8)],
        "Layer 1's 8 experts sit only on EP ranks 0 and 1 (GPUs 0-3, four each); EP ranks 2 and 3 "
        "(GPUs 4-7) hold none.")
def _(g):
    for j in range(8):
        e = j // 4
        relocate(g, 1, j, j // 2, e, e * 2 + (j % 2))
    return g


@defect("experts_uneven", "expert", 1, ["l2_expert2_r0", "l2_expert3_r1"],
        "Layer 2's experts are split 3/1/2/2 over EP ranks 0-3 (Expert 2 moved to rank 0, GPU 8) "
        "instead of 8/EP4 = 2 each.")
def _(g):
    relocate(g, 2, 2, 1, 0, 8)
    return g


@defect("experts_share_gpu", "expert", 1, ["l3_expert3_r1", "l3_expert1_r0"],
        "Layer 3 Expert 3 of EP rank 1 (id ..._r1) is placed on GPU 9, which already holds Expert 1 "
        "of EP rank 0.")
def _(g):
    relocate(g, 3, 3, 1, 1, 9)
    return g


@defect("no_gate", "expert", 1, ["l2_a2a_dispatch", "l2_ln2_r0", "l2_ln2_r1"],
        "Layer 2 has no Gate: the LayerNorm outputs go straight into the All2All dispatch and the "
        "experts, and Combine (weighted) gets no routing weights.")
def _(g):
    for t in range(2):
        g.remove_node("l2_gate_r%d" % t)
        g.edge("l2_ln2_r%d" % t, "l2_a2a_dispatch", "[8,1024,4096]")
    return g


@defect("no_all_to_all", "expert", 1,
        ["l0_gate_r0", "l0_gate_r1"] + ["l0_expert%d_r%d" % (j, j // 2) for j in range(8)],
        "Layer 0 has no All2All dispatch: the Gates (GPUs 0-1) send tokens straight to the 8 "
        "experts on GPUs 0-7 although EP4.")
def _(g):
    g.remove_node("l0_a2a_dispatch")
    for t in range(2):
        for j in range(8):
            g.edge("l0_gate_r%d" % t, "l0_expert%d_r%d" % (j, j // 2), "[2048,4096]")
    return g


@defect("cross_gpu_no_comm", "communication", 1, ["l0_add1_r0", "l0_add2_r1"],
        "The residual skip into l0_add2_r1 (GPU 1) comes from l0_add1_r0 on GPU 0 by a plain edge, "
        "with no communication node.")
def _(g):
    g.remove_edge("l0_add1_r1", "l0_add2_r1")
    g.edge("l0_add1_r0", "l0_add2_r1", "[8,1024,4096]")
    return g


@defect("gpu_out_of_range", "gpu", 1, ["l0_expert7_r3"],
        "Layer 0 Expert 7 is placed on GPU 16, beyond the 16 GPUs (0-15) of EP4 x TP2 x PP2 x DP1.")
def _(g):
    g.nodes["l0_expert7_r3"]["gpu"] = "16"
    return g


@defect("stages_share_gpus", "gpu", ("build", dict(stage_bases=[0, 6])),
        ["cluster_pp0", "cluster_pp1"],
        "Stage 1 is placed on GPUs 6-13, overlapping stage 0's GPUs 0-7 on GPUs 6 and 7.")
def _(g):
    return g


@defect("strategy_mismatch", "strategy", ("build", dict(strategy_label="EP8 TP2 PP2 DP1")),
        [],
        "The graph label declares EP8 but every MoE layer draws experts on EP ranks 0-3 only "
        "(2 per rank), i.e. EP4.")
def _(g):
    return g


@defect("placeholder", "annotation", 1, ["l2_add1_r0", "l2_ln2_r0"],
        "The edge l2_add1_r0 -> l2_ln2_r0 carries the placeholder shape [?,1024,4096] instead of a "
        "batch size.")
def _(g):
    g.get_edge("l2_add1_r0", "l2_ln2_r0")["label"] = "[?,1024,4096]"
    return g


@defect("moe_before_attention", "structure", ("build", dict(moe_first=(1,))),
        ["l1_ln2_r0", "l1_add2_r0", "l1_ln1_r0", "l1_ln2_r1", "l1_add2_r1", "l1_ln1_r1"],
        "Layer 1 runs its MoE block (LayerNorm, Gate, All2All, experts, combine, Add) before its "
        "attention block.")
def _(g):
    return g


@defect("missing_residual", "structure", 1, ["l3_add2_r0"],
        "The MoE residual Add of layer 3 on TP rank 0 is fed only by Combine (weighted); the skip "
        "edge from l3_add1_r0 is missing.")
def _(g):
    g.remove_edge("l3_add1_r0", "l3_add2_r0")
    return g


# ---- on the dense DP2 file (clean_2)

@defect("no_allreduce_after_rowparallel", "tensor", 2,
        ["dp0_l1_down_r0", "dp0_l1_add2_r0", "dp0_l1_down_r1", "dp0_l1_add2_r1"],
        "In DP replica 0, layer 1's row-parallel Down proj outputs go straight into the residual "
        "Add with no AllReduce.")
def _(g):
    g.remove_node("dp0_l1_mlp_allreduce")
    for t in range(2):
        g.edge("dp0_l1_down_r%d" % t, "dp0_l1_add2_r%d" % t, "[4,1024,2048]")
    return g


@defect("missing_gpu", "gpu", 2, ["dp1_l0_gelu_r1"],
        "The GELU of layer 0, TP rank 1, DP replica 1 has no GPU line in its label.")
def _(g):
    g.nodes["dp1_l0_gelu_r1"]["gpu"] = None
    return g


@defect("missing_shapes", "annotation", 2, ["dp0_l1_softmax_r0"],
        "Neither edge of DP replica 0 layer 1's Softmax (TP rank 0) carries a shape label, so the "
        "node has no input or output shape (this style puts shapes on edges).")
def _(g):
    g.get_edge("dp0_l1_qk_r0", "dp0_l1_softmax_r0")["label"] = None
    g.get_edge("dp0_l1_softmax_r0", "dp0_l1_attn_v_r0")["label"] = None
    return g


# ---- on the MoE EP2 TP4 file (clean_3)

@defect("tp_rank_missing", "tensor", 3, ["l0_k_r2", "l0_qk_r2"],
        "Layer 0's K proj is drawn for TP ranks 0, 1 and 3 but not rank 2 (GPU 2), whose QK^T "
        "is therefore fed by Q only.")
def _(g):
    g.remove_node("l0_k_r2")
    return g


@defect("comm_wrong_shape", "communication", 3, ["l1_attn_allreduce"],
        "Layer 1's attention AllReduce is drawn as a box (computation) instead of an ellipse.")
def _(g):
    g.nodes["l1_attn_allreduce"]["shape"] = "box"
    return g


# --------------------------------------------------------------------------- main

def main():
    os.makedirs(OUT, exist_ok=True)
    cfgs = {1: CFG1, 2: CFG2, 3: CFG3}
    manifest = []
    notes = {
        1: "Clean MoE DAG, EP4 TP2 PP2 DP1: 4 layers (stage 0 GPUs 0-7 layers 0-1, stage 1 "
           "GPUs 8-15 layers 2-3), hidden 4096 = 32 x 128, 8 experts top-2, 2 per EP rank.",
        2: "Clean dense DAG, TP2 PP1 DP2: 2 layers, hidden 2048 = 16 x 128, FFN 5632, both DP "
           "replicas drawn (GPUs 0-1 and 2-3).",
        3: "Clean MoE DAG, EP2 TP4 PP1 DP1: 2 layers, hidden 2048 = 16 x 128, 8 experts top-2, "
           "4 per EP rank (GPUs 0-3 and 4-7).",
    }
    for i in (1, 2, 3):
        fn = "clean_%d.dot" % i
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(build(cfgs[i]).to_dot())
        manifest.append({"file": fn, "kind": "clean", "category": None, "nodes": [],
                         "what": notes[i]})
    for d in DEFECTS:
        base = d["base"]
        if isinstance(base, tuple):
            g = build(CFG1, **base[1])
        else:
            g = build(cfgs[base])
        g = d["fn"](g)
        fn = "defect_%s.dot" % d["kind"]
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.to_dot())
        manifest.append({"file": fn, "kind": d["kind"], "category": d["category"],
                         "nodes": d["nodes"], "what": d["what"]})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
