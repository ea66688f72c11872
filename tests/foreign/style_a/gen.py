#!/usr/bin/env python3
"""Generator of Megatron-style deployment DAGs (house style A), clean and defective.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
Stdlib only. Run: python3 gen.py
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

COMP, COMM, ROUTE = "box", "ellipse", "parallelogram"


# --------------------------------------------------------------------------- model
class Node:
    def __init__(self, nid, shape, op, ins, outs, gpus, extra=(), cluster=None):
        self.id = nid
        self.shape = shape
        self.op = op
        self.ins = ins        # list of shapes; a shape is a list of (name, value)
        self.outs = outs
        self.gpus = gpus      # list of ints or None
        self.extra = list(extra)
        self.cluster = cluster


class Graph:
    def __init__(self, name, cfg):
        self.name = name
        self.cfg = cfg
        self.nodes = {}       # insertion ordered
        self.edges = []       # [src, dst, attrs]
        self.clusters = {}    # key -> {"stage", "lo", "hi", "label"(override)}
        self.strategy = "TP=%d, EP=%d, PP=%d, DP=%d" % (cfg["TP"], cfg["EP"], cfg["PP"], cfg["DP"])

    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        return node.id

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, dict(attrs)])

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, ("remove_edge", a, b, n - len(self.edges))

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def rename(self, old, new):
        n = self.nodes.pop(old)
        n.id = new
        self.nodes[new] = n
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]


def S(*kv):
    return [(kv[i], kv[i + 1]) for i in range(0, len(kv), 2)]


def fmt_shape(sh):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in sh) + "]"


def fmt_gpus(g):
    g = sorted(set(g))
    parts, i = [], 0
    while i < len(g):
        j = i
        while j + 1 < len(g) and g[j + 1] == g[j] + 1:
            j += 1
        parts.append(str(g[i]) if i == j else ("%d-%d" % (g[i], g[j]) if j > i + 1 else "%d,%d" % (g[i], g[j])))
        i = j + 1
    return ",".join(parts)


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def node_label(n):
    lines = [n.op]
    if n.ins is not None:
        lines.append("Input: " + ", ".join(fmt_shape(s) for s in n.ins))
    if n.outs is not None:
        lines.append("Output: " + ", ".join(fmt_shape(s) for s in n.outs))
    lines += n.extra
    if n.gpus is not None:
        lines.append(("GPUs: " if n.shape == COMM else "GPU: ") + fmt_gpus(n.gpus))
    return "\\n".join(esc(x) for x in lines)


def cluster_label(g, key):
    c = g.clusters[key]
    if c.get("label"):
        return c["label"]
    gp = set()
    for n in g.nodes.values():
        if n.cluster == key and n.gpus is not None and n.shape != COMM:
            gp.update(n.gpus)
    return "Pipeline stage %d (layers %d-%d, GPUs %s)" % (c["stage"], c["lo"], c["hi"], fmt_gpus(gp))


def graph_label(g):
    c = g.cfg
    kind = "GPT-MoE" if c["moe"] else "GPT (dense)"
    l1 = "Megatron-Core %s inference forward pass (prefill)" % kind
    l3 = "layers=%d, hidden=%d, heads=%d, head_dim=%d, vocab=%d" % (c["L"], c["h"], c["heads"], c["hd"], c["vocab"])
    if c["moe"]:
        l3 += ", experts=%d (top-%d), expert ffn=%d" % (c["E"], c["k"], c["ffn_e"])
        l4 = "s=%d, b=%d; attention is data-parallel over the EP ranks (b=%d per EP rank), TP inside each EP rank" % (
            c["s"], c["b"], c["b"] // c["EP"])
    else:
        l3 += ", ffn=%d (SwiGLU)" % c["ffn"]
        l4 = "s=%d, b=%d" % (c["s"], c["b"])
    return "\\n".join([l1, g.strategy, l3, l4])


def to_dot(g):
    out = []
    out.append("digraph %s {" % g.name)
    out.append('  graph [label="%s", labelloc=t, fontsize=20, rankdir=TB, newrank=true];' % graph_label(g))
    out.append('  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];')
    out.append('  edge [fontsize=9];')
    colors = {COMP: "lightblue", COMM: "lightyellow", ROUTE: "palegreen"}

    def node_line(n, ind):
        return '%s%s [shape=%s, fillcolor=%s, label="%s"];' % (ind, n.id, n.shape, colors.get(n.shape, "white"),
                                                               node_label(n))
    for key in g.clusters:
        out.append("  subgraph %s {" % key)
        out.append('    label="%s";' % esc(cluster_label(g, key)))
        out.append('    style=rounded; color=gray40;')
        for n in g.nodes.values():
            if n.cluster == key:
                out.append(node_line(n, "    "))
        out.append("  }")
    for n in g.nodes.values():
        if n.cluster is None:
            out.append(node_line(n, "  "))
    for a, b, at in g.edges:
        s = ""
        if at:
            s = " [" + ", ".join('%s="%s"' % (k, esc(str(v))) for k, v in at.items()) + "]"
        out.append("  %s -> %s%s;" % (a, b, s))
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- builder
def build(cfg):
    c = cfg
    TP, EP, PP, L = c["TP"], c["EP"], c["PP"], c["L"]
    moe = c["moe"]
    s, h, hd = c["s"], c["h"], c["hd"]
    g = Graph(c["gname"], c)
    groups = list(range(EP)) if moe else [None]
    bg = c["b"] // (EP if moe else 1)
    npr = c["heads"] // TP
    hs = h // TP
    assert c["heads"] * hd == h and c["heads"] % TP == 0 and h % TP == 0 and L % PP == 0
    lps = L // PP

    def suf(e, t):
        return ("_ep%d_tp%d" % (e, t)) if moe else ("_tp%d" % t)

    def gsuf(e):
        return ("_ep%d" % e) if moe else ""

    def gpu(p, e, t):
        return p * (EP * TP) + (e or 0) * TP + t

    def grp(p, e):
        return [gpu(p, e, t) for t in range(TP)]

    for p in range(PP):
        g.clusters["cluster_pp%d" % p] = {"stage": p, "lo": p * lps, "hi": p * lps + lps - 1}

    HS = S("s", s, "b", bg, "h", h)
    QS = S("s", s, "b", bg, "np", npr, "hn", hd)
    PS = S("b", bg, "np", npr, "sq", s, "sk", s)
    cl0 = "cluster_pp0"
    # input
    g.add(Node("input_ids", COMP, "Input (token ids)", [S("s", s, "b", c["b"])], [S("s", s, "b", c["b"])], [0],
               cluster=cl0))
    g.add(Node("input_ids_broadcast", COMM,
               "broadcast (token ids to TP ranks" + (", batch split over EP ranks)" if moe else ")"),
               [S("s", s, "b", c["b"])], [S("s", s, "b", bg)], [gpu(0, e, t) for e in groups for t in range(TP)],
               cluster=cl0))
    g.edge("input_ids", "input_ids_broadcast")
    stream = {}
    for e in groups:
        ar = g.add(Node("embedding_all_reduce" + gsuf(e), COMM, "all_reduce (TP group, embedding)", [HS], [HS],
                        grp(0, e), cluster=cl0))
        for t in range(TP):
            emb = g.add(Node("embedding_word_embeddings" + suf(e, t), COMP, "VocabParallelEmbedding",
                             [S("s", s, "b", bg)], [HS], [gpu(0, e, t)],
                             ["vocab shard %d of %d (masked, partial)" % (c["vocab"] // TP, c["vocab"])], cluster=cl0))
            g.edge("input_ids_broadcast", emb)
            g.edge(emb, ar)
            stream[(e, t)] = ar

    for l in range(L):
        p = l // lps
        cl = "cluster_pp%d" % p
        P = "decoder_layers_%d_" % l
        if p > 0 and l == p * lps:
            for e in groups:
                for t in range(TP):
                    sr = g.add(Node("p2p_send_recv_pp%d_to_pp%d%s" % (p - 1, p, suf(e, t)), COMM,
                                    "p2p send/recv (pipeline stage %d -> %d)" % (p - 1, p), [HS], [HS],
                                    [gpu(p - 1, e, t), gpu(p, e, t)]))
                    g.edge(stream[(e, t)], sr)
                    stream[(e, t)] = sr
        # ---------------- attention
        for e in groups:
            ar = g.add(Node(P + "self_attention_linear_proj_all_reduce" + gsuf(e), COMM,
                            "all_reduce (TP group, attention proj)", [HS], [HS], grp(p, e), cluster=cl))
            for t in range(TP):
                x = suf(e, t)
                G = [gpu(p, e, t)]
                ln = g.add(Node(P + "input_layernorm" + x, COMP, "TENorm (input_layernorm, RMSNorm)", [HS], [HS], G,
                                cluster=cl))
                qkv = g.add(Node(P + "self_attention_linear_qkv" + x, COMP, "ColumnParallelLinear (QKV)", [HS],
                                 [S("s", s, "b", bg, "qkv", 3 * hs)], G,
                                 ["heads per rank: %d of %d, head_dim: %d" % (npr, c["heads"], hd)], cluster=cl))
                sp = g.add(Node(P + "self_attention_split_qkv" + x, ROUTE, "split (Q, K, V)",
                                [S("s", s, "b", bg, "qkv", 3 * hs)], [QS, QS, QS], G, cluster=cl))
                rq = g.add(Node(P + "self_attention_apply_rotary_pos_emb_q" + x, COMP, "apply_rotary_pos_emb (Q)",
                                [QS], [QS], G, cluster=cl))
                rk = g.add(Node(P + "self_attention_apply_rotary_pos_emb_k" + x, COMP, "apply_rotary_pos_emb (K)",
                                [QS], [QS], G, cluster=cl))
                sc = g.add(Node(P + "self_attention_core_attention_baddbmm" + x, COMP, "core_attention: baddbmm(Q,K^T)",
                                [QS, QS], [PS], G, cluster=cl))
                scl = g.add(Node(P + "self_attention_core_attention_scale" + x, COMP, "mul (scale 1/sqrt(hn))",
                                 [PS], [PS], G, cluster=cl))
                msk = g.add(Node(P + "self_attention_core_attention_causal_mask" + x, COMP, "masked_fill (causal mask)",
                                 [PS], [PS], G, cluster=cl))
                sm = g.add(Node(P + "self_attention_core_attention_softmax" + x, COMP, "softmax", [PS], [PS], G,
                                cluster=cl))
                dr = g.add(Node(P + "self_attention_core_attention_attention_dropout" + x, COMP,
                                "attention_dropout (p=0, inference)", [PS], [PS], G, cluster=cl))
                bm = g.add(Node(P + "self_attention_core_attention_bmm" + x, COMP, "bmm(probs, V)", [PS, QS],
                                [S("s", s, "b", bg, "h", hs)], G, cluster=cl))
                pj = g.add(Node(P + "self_attention_linear_proj" + x, COMP, "RowParallelLinear (proj)",
                                [S("s", s, "b", bg, "h", hs)], [HS], G, ["partial sum"], cluster=cl))
                rs = g.add(Node(P + "self_attention_bias_dropout_add" + x, COMP, "fused bias+residual add", [HS, HS],
                                [HS], G, cluster=cl))
                g.edge(stream[(e, t)], ln)
                g.edge(ln, qkv)
                g.edge(qkv, sp)
                g.edge(sp, rq, label="Q")
                g.edge(sp, rk, label="K")
                g.edge(rq, sc)
                g.edge(rk, sc)
                g.edge(sc, scl)
                g.edge(scl, msk)
                g.edge(msk, sm)
                g.edge(sm, dr)
                g.edge(dr, bm)
                g.edge(sp, bm, label="V")
                g.edge(bm, pj)
                g.edge(pj, ar)
                g.edge(ar, rs)
                g.edge(stream[(e, t)], rs, label="residual")
                stream[(e, t)] = rs
        # ---------------- MLP / MoE
        if not moe:
            f2, f1 = c["ffn"] // TP, 2 * c["ffn"] // TP
            ar = g.add(Node(P + "mlp_linear_fc2_all_reduce", COMM, "all_reduce (TP group, fc2)", [HS], [HS],
                            grp(p, None), cluster=cl))
            for t in range(TP):
                x = suf(None, t)
                G = [gpu(p, None, t)]
                ln2 = g.add(Node(P + "pre_mlp_layernorm" + x, COMP, "TENorm (pre_mlp_layernorm, RMSNorm)", [HS], [HS],
                                 G, cluster=cl))
                fc1 = g.add(Node(P + "mlp_linear_fc1" + x, COMP, "ColumnParallelLinear (fc1: gate+up)", [HS],
                                 [S("s", s, "b", bg, "ffn", f1)], G, cluster=cl))
                act = g.add(Node(P + "mlp_activation_func" + x, COMP, "swiglu", [S("s", s, "b", bg, "ffn", f1)],
                                 [S("s", s, "b", bg, "ffn", f2)], G, cluster=cl))
                fc2 = g.add(Node(P + "mlp_linear_fc2" + x, COMP, "RowParallelLinear (fc2)",
                                 [S("s", s, "b", bg, "ffn", f2)], [HS], G, ["partial sum"], cluster=cl))
                r2 = g.add(Node(P + "mlp_bias_dropout_add" + x, COMP, "fused bias+residual add", [HS, HS], [HS], G,
                                cluster=cl))
                g.edge(stream[(None, t)], ln2)
                g.edge(ln2, fc1)
                g.edge(fc1, act)
                g.edge(act, fc2)
                g.edge(fc2, ar)
                g.edge(ar, r2)
                g.edge(stream[(None, t)], r2, label="residual")
                stream[(None, t)] = r2
        else:
            E, k = c["E"], c["k"]
            Tg = s * bg
            pe = Tg * EP * k // E
            assert (Tg * EP * k) % E == 0 and E % EP == 0
            RS = S("t", Tg, "k", k)
            XS = S("t", pe, "h", h)
            CS = S("t", Tg * k, "h", h)
            disp, comb = {}, {}
            for t in range(TP):
                disp[t] = g.add(Node(P + "mlp_token_dispatcher_all_to_all_dispatch_tp%d" % t, COMM,
                                     "all_to_all dispatch (EP group of TP rank %d)" % t, [HS, RS], [XS],
                                     [gpu(p, e, t) for e in groups], cluster=cl))
                comb[t] = g.add(Node(P + "mlp_token_dispatcher_all_to_all_combine_tp%d" % t, COMM,
                                     "all_to_all combine (EP group of TP rank %d)" % t, [XS], [CS],
                                     [gpu(p, e, t) for e in groups], cluster=cl))
            for e in groups:
                ar = g.add(Node(P + "mlp_experts_all_reduce" + gsuf(e), COMM, "all_reduce (TP group, expert partial sums)",
                                [HS], [HS], grp(p, e), cluster=cl))
                for t in range(TP):
                    x = suf(e, t)
                    G = [gpu(p, e, t)]
                    ln2 = g.add(Node(P + "pre_mlp_layernorm" + x, COMP, "TENorm (pre_mlp_layernorm, RMSNorm)", [HS],
                                     [HS], G, cluster=cl))
                    rt = g.add(Node(P + "mlp_router" + x, ROUTE, "TopKRouter (top-%d of %d experts)" % (k, E), [HS],
                                    [RS], G, cluster=cl))
                    g.edge(stream[(e, t)], ln2)
                    g.edge(ln2, rt)
                    g.edge(ln2, disp[t])
                    g.edge(rt, disp[t], style="dashed")
                    for j in range(e * E // EP, (e + 1) * E // EP):
                        ex = g.add(Node(P + "mlp_experts_%d" % j + x, COMP, "GroupedMLP expert %d" % j, [XS], [XS], G,
                                        ["fc1 -> swiglu -> fc2, ffn shard %d of %d (partial sum)" % (
                                            c["ffn_e"] // TP, c["ffn_e"])], cluster=cl))
                        g.edge(disp[t], ex)
                        g.edge(ex, comb[t])
                    ag = g.add(Node(P + "mlp_token_unpermute" + x, ROUTE, "unpermute + top-k weighted sum (combine)",
                                    [CS, RS], [HS], G, ["partial sum over expert TP shards"], cluster=cl))
                    r2 = g.add(Node(P + "mlp_bias_dropout_add" + x, COMP, "fused bias+residual add", [HS, HS], [HS], G,
                                    cluster=cl))
                    g.edge(comb[t], ag)
                    g.edge(rt, ag, style="dashed")
                    g.edge(ag, ar)
                    g.edge(ar, r2)
                    g.edge(stream[(e, t)], r2, label="residual")
                    stream[(e, t)] = r2
    # final
    p = PP - 1
    cl = "cluster_pp%d" % p
    V = c["vocab"]
    for e in groups:
        ag = g.add(Node("output_layer_all_gather" + gsuf(e), COMM, "all_gather (TP group, logits)",
                        [S("s", s, "b", bg, "v", V // TP)], [S("s", s, "b", bg, "v", V)], grp(p, e), cluster=cl))
        out = g.add(Node("output_logits" + gsuf(e), COMP, "Output (logits)", [S("s", s, "b", bg, "v", V)],
                         [S("s", s, "b", bg, "v", V)], [gpu(p, e, 0)], cluster=cl))
        for t in range(TP):
            x = suf(e, t)
            G = [gpu(p, e, t)]
            fl = g.add(Node("decoder_final_layernorm" + x, COMP, "TENorm (final_layernorm, RMSNorm)", [HS], [HS], G,
                            cluster=cl))
            hd_ = g.add(Node("output_layer" + x, COMP, "ColumnParallelLinear (output_layer, vocab-parallel)", [HS],
                             [S("s", s, "b", bg, "v", V // TP)], G, cluster=cl))
            g.edge(stream[(e, t)], fl)
            g.edge(fl, hd_)
            g.edge(hd_, ag)
        g.edge(ag, out)
    return g


CFG1 = dict(gname="megatron_gpt_moe_tp2_ep2_pp2", moe=True, TP=2, EP=2, PP=2, DP=1, L=4, s=2048, b=4, h=2048,
            heads=16, hd=128, vocab=32000, E=8, k=2, ffn_e=1408)
CFG2 = dict(gname="megatron_gpt_dense_tp4_pp2", moe=False, TP=4, EP=1, PP=2, DP=1, L=4, s=2048, b=4, h=4096,
            heads=32, hd=128, vocab=32000, ffn=11008)
CFG3 = dict(gname="megatron_gpt_moe_tp2_ep4_pp1", moe=True, TP=2, EP=4, PP=1, DP=1, L=2, s=1024, b=8, h=1024,
            heads=8, hd=128, vocab=50304, E=8, k=2, ffn_e=1024)
BASES = {"clean_1": CFG1, "clean_2": CFG2, "clean_3": CFG3}


# --------------------------------------------------------------------------- defects
def setdim(shape, name, val):
    return [(k, (val if k == name else v)) for k, v in shape]


def D(l, op, x):
    return "decoder_layers_%d_%s%s" % (l, op, x)


ATT_CORE = ["self_attention_core_attention_baddbmm", "self_attention_core_attention_scale",
            "self_attention_core_attention_causal_mask", "self_attention_core_attention_softmax",
            "self_attention_core_attention_attention_dropout", "self_attention_core_attention_bmm"]


def d_cycle(g):  # clean_1
    a, b = D(0, "mlp_experts_0", "_ep0_tp0"), D(0, "mlp_token_dispatcher_all_to_all_dispatch_tp0", "")
    g.edge(a, b)
    return [b, a], "Expert 0 (EP0, TP0) of layer 0 feeds back into the dispatch all-to-all that feeds it (drawn both ways): cycle."


def d_dangling_input(g):  # clean_3
    sp, rk = D(0, "self_attention_split_qkv", "_ep3_tp0"), D(0, "self_attention_apply_rotary_pos_emb_k", "_ep3_tp0")
    g.remove_edge(sp, rk)
    return [rk], "Layer 0 rotary embedding of K on EP3/TP0 has no incoming edge (the split's K edge is missing)."


def d_dangling_output(g):  # clean_2
    sm = D(1, "self_attention_core_attention_softmax", "_tp2")
    n = g.nodes[sm]
    nid = g.add(Node(D(1, "self_attention_core_attention_probs_detach", "_tp2"), COMP,
                     "detach (save attention probs)", [n.outs[0]], [n.outs[0]], list(n.gpus), cluster=n.cluster))
    g.edge(sm, nid)
    return [nid], "An extra operator after layer 1's softmax on TP2 whose output goes nowhere."


def d_attention_one_box(g):  # clean_2 layer 1
    ids = []
    for t in range(4):
        x = "_tp%d" % t
        ln, ar = D(1, "input_layernorm", x), D(1, "self_attention_linear_proj_all_reduce", "")
        ref = g.nodes[ln]
        for op in ["self_attention_linear_qkv", "self_attention_split_qkv", "self_attention_apply_rotary_pos_emb_q",
                   "self_attention_apply_rotary_pos_emb_k"] + ATT_CORE + ["self_attention_linear_proj"]:
            g.remove_node(D(1, op, x))
        b = g.add(Node(D(1, "self_attention", x), COMP, "Multi-Head Attention", [ref.outs[0]], [ref.outs[0]],
                       list(ref.gpus), ["partial sum"], cluster=ref.cluster))
        g.edge(ln, b)
        g.edge(b, ar)
        ids.append(b)
    return ids, "Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of QKV/score/softmax/weighted-sum/proj operators."


def d_v_bypasses_softmax(g):  # clean_1 layer 2 ep1 tp1
    x = "_ep1_tp1"
    dr, bm, pj = D(2, "self_attention_core_attention_attention_dropout", x), D(2, "self_attention_core_attention_bmm", x), \
        D(2, "self_attention_linear_proj", x)
    g.remove_edge(dr, bm)
    g.edge(dr, pj)
    g.nodes[bm].ins = [g.nodes[bm].ins[1]]
    g.nodes[pj].ins = g.nodes[pj].ins + [g.nodes[dr].outs[0]]
    return [bm, D(2, "self_attention_core_attention_softmax", x), dr], \
        "Layer 2 EP1/TP1: the weighted sum bmm(probs, V) gets only V; the softmax/dropout output goes to the output projection instead."


def d_v_into_score(g):  # clean_3 layer 1 ep0 tp1
    x = "_ep0_tp1"
    sp, rk, sc = D(1, "self_attention_split_qkv", x), D(1, "self_attention_apply_rotary_pos_emb_k", x), \
        D(1, "self_attention_core_attention_baddbmm", x)
    g.remove_node(rk)
    g.edge(sp, sc, label="V")
    return [sc, sp], "Layer 1 EP0/TP1: V from the split is wired into the QK^T score instead of K (K is not used)."


def d_qkv_into_oproj(g):  # clean_2 layer 2
    ids = []
    for t in range(4):
        x = "_tp%d" % t
        for op in ATT_CORE:
            g.remove_node(D(2, op, x))
        sp, rq, rk, pj = D(2, "self_attention_split_qkv", x), D(2, "self_attention_apply_rotary_pos_emb_q", x), \
            D(2, "self_attention_apply_rotary_pos_emb_k", x), D(2, "self_attention_linear_proj", x)
        g.edge(rq, pj, label="Q")
        g.edge(rk, pj, label="K")
        g.edge(sp, pj, label="V")
        qs = g.nodes[rq].outs[0]
        g.nodes[pj].ins = [qs, qs, qs]
        ids.append(pj)
    return ids, "Layer 2: Q, K and V go straight into the output projection on every TP rank; no score, softmax or weighted sum."


def d_head_arithmetic(g):  # clean_1 layer 1, head_dim 64 instead of 128
    ids = []
    for e in range(2):
        for t in range(2):
            x = "_ep%d_tp%d" % (e, t)
            q = g.nodes[D(1, "self_attention_linear_qkv", x)]
            q.extra = ["heads per rank: 8 of 16, head_dim: 64"]
            sp = g.nodes[D(1, "self_attention_split_qkv", x)]
            sp.outs = [setdim(o, "hn", 64) for o in sp.outs]
            for op in ["self_attention_apply_rotary_pos_emb_q", "self_attention_apply_rotary_pos_emb_k"]:
                n = g.nodes[D(1, op, x)]
                n.ins = [setdim(n.ins[0], "hn", 64)]
                n.outs = [setdim(n.outs[0], "hn", 64)]
            sc = g.nodes[D(1, "self_attention_core_attention_baddbmm", x)]
            sc.ins = [setdim(i, "hn", 64) for i in sc.ins]
            bm = g.nodes[D(1, "self_attention_core_attention_bmm", x)]
            bm.ins = [bm.ins[0], setdim(bm.ins[1], "hn", 64)]
            ids.append(q.id)
    return ids, "Layer 1 labels say 16 heads (8 per TP rank) of head_dim 64: 16 x 64 = 1024, not hidden 2048."


def d_tp_heads(g):  # clean_2 layer 0 tp1: all 32 heads on one TP rank
    x = "_tp1"
    q = g.nodes[D(0, "self_attention_linear_qkv", x)]
    q.outs = [setdim(q.outs[0], "qkv", 3 * 4096)]
    q.extra = ["heads per rank: 32 of 32, head_dim: 128"]
    sp = g.nodes[D(0, "self_attention_split_qkv", x)]
    sp.ins = [setdim(sp.ins[0], "qkv", 3 * 4096)]
    sp.outs = [setdim(o, "np", 32) for o in sp.outs]
    for op in ["self_attention_apply_rotary_pos_emb_q", "self_attention_apply_rotary_pos_emb_k"] + ATT_CORE:
        n = g.nodes[D(0, op, x)]
        n.ins = [setdim(i, "np", 32) for i in n.ins]
        n.outs = [setdim(o, "np", 32) for o in n.outs]
    bm = g.nodes[D(0, "self_attention_core_attention_bmm", x)]
    bm.outs = [setdim(bm.outs[0], "h", 4096)]
    pj = g.nodes[D(0, "self_attention_linear_proj", x)]
    pj.ins = [setdim(pj.ins[0], "h", 4096)]
    return [q.id], "Layer 0 TP1's QKV projection outputs all 32 heads (qkv=12288) although a TP=4 rank holds 8 heads."


def d_edge_shape_mismatch(g):  # clean_2 layer 3 tp2
    fc2 = g.nodes[D(3, "mlp_linear_fc2", "_tp2")]
    fc2.ins = [setdim(fc2.ins[0], "ffn", 2048)]
    return [D(3, "mlp_activation_func", "_tp2"), fc2.id], \
        "Layer 3 TP2: swiglu outputs ffn=2752 but fc2's Input says ffn=2048 (not a parallel factor)."


def d_shard_without_gather(g):  # clean_2 layer 1: reduce-scatter (h/TP shard) straight into residual adds
    old = D(1, "self_attention_linear_proj_all_reduce", "")
    new = D(1, "self_attention_linear_proj_reduce_scatter", "")
    g.rename(old, new)
    n = g.nodes[new]
    n.op = "reduce_scatter (TP group, attention proj)"
    n.outs = [setdim(n.outs[0], "h", 1024)]
    return [new] + [D(1, "self_attention_bias_dropout_add", "_tp%d" % t) for t in range(4)], \
        "Layer 1: the proj output is reduce-scattered to h=1024 (=4096/TP4) shards that reach the full-size residual adds with no all-gather."


def d_stage_count(g):  # clean_2
    g.strategy = "TP=4, EP=1, PP=3, DP=1"
    return [], "Graph label declares PP=3 but two pipeline stages are drawn."


def d_stage_range_gap(g):  # clean_2
    g.clusters["cluster_pp1"]["label"] = "Pipeline stage 1 (layers 3-3, GPUs 4-7)"
    return ["cluster_pp1"] + [D(2, "input_layernorm", "_tp%d" % t) for t in range(4)], "Stage 0 claims layers 0-1 and stage 1 claims layers 3-3: layer 2 (drawn in stage 1) is in no stage's range."


def d_stage_missing_layer(g):  # clean_2: layer 3 not drawn
    for nid in [n for n in g.nodes if n.startswith("decoder_layers_3_")]:
        g.remove_node(nid)
    for t in range(4):
        g.edge(D(2, "mlp_bias_dropout_add", "_tp%d" % t), "decoder_final_layernorm_tp%d" % t)
    return ["cluster_pp1"] + ["decoder_final_layernorm_tp%d" % t for t in range(4)], "Stage 1 claims layers 2-3 (and the model has 4 layers) but no operator of layer 3 is drawn."


def d_no_stage_transfer(g):  # clean_2
    ids = []
    for t in range(4):
        x = "_tp%d" % t
        g.remove_node("p2p_send_recv_pp0_to_pp1" + x)
        a = D(1, "mlp_bias_dropout_add", x)
        g.edge(a, D(2, "input_layernorm", x))
        g.edge(a, D(2, "self_attention_bias_dropout_add", x), label="residual")
        ids.append(a)
    return ids, "Stage 0's last residual adds (GPUs 0-3) feed stage 1 (GPUs 4-7) by plain edges, with no send/recv node."


def d_experts_subset_ranks(g):  # clean_3 layer 1: experts only on EP0 and EP1
    ids = []
    for j, (src, dst) in {4: (2, 0), 5: (2, 0), 6: (3, 1), 7: (3, 1)}.items():
        for t in range(2):
            old = D(1, "mlp_experts_%d" % j, "_ep%d_tp%d" % (src, t))
            new = D(1, "mlp_experts_%d" % j, "_ep%d_tp%d" % (dst, t))
            g.rename(old, new)
            g.nodes[new].gpus = [dst * 2 + t]
            ids.append(new)
    return ids, "Layer 1's 8 experts are all placed on EP ranks 0-1 (4 each); EP ranks 2 and 3 hold none."


def d_experts_uneven(g):  # clean_3 layer 0: expert 7 moved from EP3 to EP2
    ids = []
    for t in range(2):
        old, new = D(0, "mlp_experts_7", "_ep3_tp%d" % t), D(0, "mlp_experts_7", "_ep2_tp%d" % t)
        g.rename(old, new)
        g.nodes[new].gpus = [4 + t]
        ids.append(new)
    return ids, "Layer 0: EP rank 2 holds 3 experts (4, 5, 7) and EP rank 3 only 1 (6), instead of 8/4 = 2 each."


def d_experts_share_gpu(g):  # clean_3 layer 1: expert 2 (EP1) on EP0's GPUs
    ids = []
    for t in range(2):
        n = g.nodes[D(1, "mlp_experts_2", "_ep1_tp%d" % t)]
        n.gpus = [t]
        ids.append(n.id)
    return ids, "Layer 1: expert 2 of EP rank 1 is placed on GPUs 0-1, the GPUs of EP rank 0's experts 0-1."


def d_no_gate(g):  # clean_1 layer 3
    ids = []
    for e in range(2):
        for t in range(2):
            x = "_ep%d_tp%d" % (e, t)
            g.remove_node(D(3, "mlp_router", x))
            ag = g.nodes[D(3, "mlp_token_unpermute", x)]
            ag.ins = ag.ins[:1]
    for t in range(2):
        d = g.nodes[D(3, "mlp_token_dispatcher_all_to_all_dispatch_tp%d" % t, "")]
        d.ins = d.ins[:1]
        ids.append(d.id)
    return ids, "Layer 3 has no TopKRouter: tokens go from the norm to the dispatch all-to-all and experts without any gate."


def d_no_all_to_all(g):  # clean_1 layer 1
    ids = []
    for t in range(2):
        d = D(1, "mlp_token_dispatcher_all_to_all_dispatch_tp%d" % t, "")
        exps = g.succs(d)
        xs = g.nodes[d].outs[0]
        g.remove_node(d)
        for e in range(2):
            x = "_ep%d_tp%d" % (e, t)
            ln2, rt = D(1, "pre_mlp_layernorm", x), D(1, "mlp_router", x)
            pm = g.add(Node(D(1, "mlp_token_permute", x), ROUTE, "permute tokens by expert",
                            [g.nodes[ln2].outs[0], g.nodes[rt].outs[0]], [xs], list(g.nodes[ln2].gpus),
                            cluster=g.nodes[ln2].cluster))
            g.edge(ln2, pm)
            g.edge(rt, pm, style="dashed")
            for ex in exps:
                g.edge(pm, ex)
            ids.append(pm)
    return ids, "Layer 1 (EP=2): permuted tokens go straight to the experts of both EP ranks; no dispatch all-to-all."


def d_tp_rank_missing(g):  # clean_3 layer 1 ep2: QKV projection missing on TP1
    x = "_ep2_tp1"
    g.remove_node(D(1, "self_attention_linear_qkv", x))
    g.edge(D(1, "input_layernorm", x), D(1, "self_attention_split_qkv", x))
    return [D(1, "self_attention_linear_qkv", "_ep2_tp0"), D(1, "self_attention_split_qkv", x)], \
        "Layer 1 EP2: ColumnParallelLinear (QKV) is drawn for TP0 but not TP1 (the norm feeds the split directly)."


def d_no_allreduce_after_rowparallel(g):  # clean_2 layer 2 MLP
    g.remove_node(D(2, "mlp_linear_fc2_all_reduce", ""))
    ids = []
    for t in range(4):
        x = "_tp%d" % t
        g.edge(D(2, "mlp_linear_fc2", x), D(2, "mlp_bias_dropout_add", x))
        ids.append(D(2, "mlp_linear_fc2", x))
    return ids, "Layer 2: RowParallelLinear fc2 partial sums go straight into the residual add, with no TP all-reduce."


def d_cross_gpu_no_comm(g):  # clean_2 layer 3
    a, b = D(3, "input_layernorm", "_tp0"), D(3, "self_attention_linear_qkv", "_tp1")
    g.edge(a, b)
    return [a, b], "Extra edge from layer 3's input_layernorm on GPU 4 to the QKV projection on GPU 5, not through a communication node."


def d_comm_wrong_shape(g):  # clean_1
    n = g.nodes[D(1, "self_attention_linear_proj_all_reduce", "_ep1")]
    n.shape = COMP
    return [n.id], "Layer 1's attention all-reduce of EP rank 1 is drawn as a box instead of an ellipse."


def d_missing_gpu(g):  # clean_1
    n = g.nodes[D(0, "self_attention_core_attention_softmax", "_ep1_tp0")]
    n.gpus = None
    return [n.id], "Layer 0 softmax on EP1/TP0 has no GPU line."


def d_gpu_out_of_range(g):  # clean_2: rank of GPU 7 placed on GPU 9 (8 GPUs)
    ids = []
    for n in g.nodes.values():
        if n.gpus and 7 in n.gpus:
            n.gpus = [9 if x == 7 else x for x in n.gpus]
            if n.shape != COMM:
                ids.append(n.id)
    return ids, "Stage 1's TP3 operators are placed on GPU 9, but TP=4 x PP=2 gives GPUs 0-7."


def d_stages_share_gpus(g):  # clean_2: stage 1 on GPUs 3-6
    ids = []
    for n in g.nodes.values():
        if n.cluster == "cluster_pp1" or n.id.startswith("p2p_"):
            n.gpus = [x - 1 if x >= 4 else x for x in n.gpus]
    ids = ["cluster_pp1", "cluster_pp0", D(2, "input_layernorm", "_tp0"), D(1, "mlp_bias_dropout_add", "_tp3")]
    return ids, "Stage 1 is placed on GPUs 3-6, overlapping stage 0 (GPUs 0-3) on GPU 3."


def d_strategy_mismatch(g):  # clean_1
    g.strategy = "TP=2, EP=4, PP=2, DP=1"
    return [], "Graph label declares EP=4 but experts are drawn on EP ranks 0-1 only (EP=2)."


def d_missing_shapes(g):  # clean_3
    n = g.nodes[D(0, "self_attention_core_attention_bmm", "_ep2_tp1")]
    n.ins = None
    n.outs = None
    return [n.id], "Layer 0 bmm(probs, V) on EP2/TP1 has neither Input nor Output."


def d_placeholder(g):  # clean_3
    n = g.nodes[D(1, "pre_mlp_layernorm", "_ep0_tp0")]
    n.ins = [setdim(n.ins[0], "b", "?")]
    n.outs = [setdim(n.outs[0], "b", "?")]
    return [n.id], "Layer 1 pre_mlp_layernorm on EP0/TP0 has the placeholder batch b=? in its shapes."


def d_moe_before_attention(g):  # clean_1 layer 3
    ids = []
    for e in range(2):
        for t in range(2):
            x = "_ep%d_tp%d" % (e, t)
            ln, rs, ln2, r2 = D(3, "input_layernorm", x), D(3, "self_attention_bias_dropout_add", x), \
                D(3, "pre_mlp_layernorm", x), D(3, "mlp_bias_dropout_add", x)
            fl = "decoder_final_layernorm" + x
            src = [p for p in g.preds(ln)]
            assert len(src) == 1
            src = src[0]
            for a, b in [(src, ln), (src, rs), (rs, ln2), (rs, r2), (r2, fl)]:
                g.remove_edge(a, b)
            g.edge(src, ln2)
            g.edge(src, r2, label="residual")
            g.edge(r2, ln)
            g.edge(r2, rs, label="residual")
            g.edge(rs, fl)
            ids.append(ln2)
    return ids, "Layer 3: the MoE block (norm, router, experts, residual) is wired before the attention block."


def d_missing_residual(g):  # clean_3 layer 1 ep1 tp0
    x = "_ep1_tp0"
    rs = D(1, "self_attention_bias_dropout_add", x)
    g.remove_edge(D(0, "mlp_bias_dropout_add", x), rs)
    return [rs], "Layer 1 EP1/TP0 attention residual add is fed only by the all-reduce; the skip edge from layer 0 is removed."


DEFECTS = [
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_3", d_dangling_input),
    ("dangling_output", "structure", "clean_2", d_dangling_output),
    ("attention_one_box", "attention", "clean_2", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_3", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_2", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1", d_head_arithmetic),
    ("tp_heads", "attention", "clean_2", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_2", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_2", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_3", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_3", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_3", d_experts_share_gpu),
    ("no_gate", "expert", "clean_1", d_no_gate),
    ("no_all_to_all", "expert", "clean_1", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_3", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_2", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_2", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3", d_missing_shapes),
    ("placeholder", "annotation", "clean_3", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Clean MoE DAG, TP=2, EP=2, PP=2, DP=1, 4 layers, 8 experts top-2, hidden 2048 (16x128).",
    "clean_2": "Clean dense DAG, TP=4, EP=1, PP=2, DP=1, 4 layers, hidden 4096 (32x128), SwiGLU ffn 11008.",
    "clean_3": "Clean MoE DAG, TP=2, EP=4, PP=1, DP=1, 2 layers, 8 experts top-2, hidden 1024 (8x128).",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    base = {k: build(v) for k, v in BASES.items()}
    for k, g in base.items():
        with open(os.path.join(OUT, k + ".dot"), "w") as f:
            f.write(to_dot(g))
        manifest.append({"file": k + ".dot", "kind": "clean", "category": None, "nodes": [], "what": CLEAN_WHAT[k]})
    for kind, cat, b, fn in DEFECTS:
        g = copy.deepcopy(base[b])
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(to_dot(g))
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes, "what": what,
                         "base": b + ".dot"})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
