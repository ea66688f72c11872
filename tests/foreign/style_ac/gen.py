#!/usr/bin/env python3
"""Generator of Mixtral-style MoE deployment DAGs (house style "AC").

House style:
  * every expert is decomposed: "expert j w1 (gate)", "expert j w3 (up)",
    "expert j silu(w1) * w3", "expert j w2 (down)", preceded by "router (top-2 of E)",
    "top-k softmax", "token permute", "all-to-all dispatch" and followed by
    "all-to-all combine", "token unpermute", "weighted sum (router weights)";
  * labels are \\n-separated with lowercase keys "in:", "out:" and "device: cuda:N";
  * ids: L{L}_E{j}_{op}_ep{e} for expert ops, L{L}_{op}_tp{r} for per-rank ops, and
    L{L}_{op} for group-wide communication nodes;
  * pipeline stages are marked by plaintext nodes "=== PP stage s (layers a-b) ===" on the
    data path (no clusters);
  * the strategy is written in a // comment: "// Mixtral-style MoE | EP=4 TP=2 PP=2".

GPU layout: stage s owns GPUs [s*EP*TP, (s+1)*EP*TP); TP rank r of a stage sits on
base+r (attention drawn for one token batch on the TP group); EP rank e owns the block
base+e*TP .. base+e*TP+TP-1 and its E/EP experts are spread over that block, one whole
expert per GPU, so every GPU of the stage holds experts and blocks of different EP ranks
are disjoint.
With DP=2 only replica 0 is drawn (replica 1 is identical on the next GPUs).

Writes out/clean_*.dot, out/defect_*.dot and out/manifest.json.  Stdlib only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# ----------------------------------------------------------------------------- model
def sh(*dims):
    """shape string from (name, value) pairs: [batch=2, seq=512, hidden=4096]"""
    return "[" + ", ".join("%s=%s" % (n, v) for n, v in dims) + "]"


def rng(a, b):
    return "cuda:%d" % a if a == b else "cuda:%d-%d" % (a, b)


class Graph:
    def __init__(self, cfg):
        self.cfg = cfg
        self.nodes = {}          # id -> dict(shape, title, ins, out, dev)
        self.order = []
        self.edges = []          # [src, dst, attrs]
        self.comments = []

    # nodes ----------------------------------------------------------------
    def node(self, nid, title, ins=None, out=None, dev=None, shape="box"):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, title=title, ins=list(ins or []),
                               out=out, dev=dev)
        self.order.append(nid)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def rename(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
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

    # output ---------------------------------------------------------------
    def render(self):
        out = []
        for c in self.comments:
            out.append("// " + c)
        out.append("digraph mixtral_forward {")
        out.append("  rankdir=TB;")
        out.append('  node [shape=box, fontname="Helvetica", fontsize=10];')
        out.append('  edge [fontname="Helvetica", fontsize=9];')
        out.append("")
        for nid in self.order:
            n = self.nodes[nid]
            lines = [n["title"]]
            if n["ins"]:
                lines.append("in: " + ", ".join(n["ins"]))
            if n["out"]:
                lines.append("out: " + n["out"])
            if n["dev"]:
                lines.append("device: " + n["dev"])
            label = "\\n".join(l.replace('"', '\\"') for l in lines)
            attrs = []
            if n["shape"] != "box":
                attrs.append("shape=" + n["shape"])
            if n["shape"] == "plaintext":
                attrs.append('fontname="Helvetica-Bold"')
            attrs.append('label="%s"' % label)
            out.append("  %s [%s];" % (nid, ", ".join(attrs)))
        out.append("")
        for a, b, attrs in self.edges:
            s = "  %s -> %s" % (a, b)
            if attrs:
                s += " [" + ", ".join("%s=%s" % kv for kv in attrs.items()) + "]"
            out.append(s + ";")
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- builder
def strategy_text(c):
    s = "EP=%d TP=%d PP=%d" % (c["EP"], c["TP"], c["PP"])
    if c.get("DP", 1) > 1:
        s += " DP=%d" % c["DP"]
    return s


def build(c):
    """c: EP TP PP DP layers hidden heads head_dim ffn E k vocab batch seq"""
    EP, TP, PP = c["EP"], c["TP"], c["PP"]
    H, NH, HD, F, E, K, V = (c["hidden"], c["heads"], c["head_dim"], c["ffn"], c["E"],
                             c["k"], c["vocab"])
    B, S, NL = c["batch"], c["seq"], c["layers"]
    assert NH * HD == H and NH % TP == 0 and E % EP == 0 and NL % PP == 0 and V % TP == 0
    T = B * S                      # tokens of the micro-batch
    TK = T * K                     # routed token copies
    assert TK % E == 0
    TE = TK // E                   # tokens per expert (balanced capacity)
    per_stage = EP * TP
    lps = NL // PP                 # layers per stage
    epr = E // EP                  # experts per EP rank

    g = Graph(c)
    g.comments.append("Mixtral-style MoE | " + strategy_text(c))
    g.comments.append("%d layers, hidden %d = %d heads x %d, ffn %d, %d experts top-%d, vocab %d, "
                      "batch %d x seq %d" % (NL, H, NH, HD, F, E, K, V, B, S))
    if c.get("DP", 1) > 1:
        g.comments.append("DP replica 0 drawn; the other replica is identical on the next %d GPUs"
                          % (per_stage * PP))

    X = sh(("batch", B), ("seq", S), ("hidden", H))
    IDS = sh(("batch", B), ("seq", S))
    QKV = sh(("batch", B), ("seq", S), ("heads", NH // TP), ("head_dim", HD))
    SC = sh(("batch", B), ("heads", NH // TP), ("q_len", S), ("kv_len", S))
    RL = sh(("batch", B), ("seq", S), ("experts", E))
    TOPK = sh(("batch", B), ("seq", S), ("k", K))
    PERM = sh(("tokens", TK), ("hidden", H))
    XE = sh(("tokens", TE), ("hidden", H))
    FE = sh(("tokens", TE), ("ffn", F))
    UNP = sh(("batch", B), ("seq", S), ("k", K), ("hidden", H))
    LOGS = sh(("batch", B), ("seq", S), ("vocab", V // TP))
    LOG = sh(("batch", B), ("seq", S), ("vocab", V))
    g.shapes = dict(X=X, QKV=QKV, SC=SC, PERM=PERM, XE=XE, LOG=LOG, LOGS=LOGS, IDS=IDS)

    def base(s):
        return s * per_stage

    def tp_gpu(s, r):
        return base(s) + r

    def ep_gpu(s, e, jl):
        # EP rank e owns the TP-sized block base+e*TP .. base+e*TP+TP-1; its experts are
        # spread over that block, one whole expert per GPU
        return base(s) + e * TP + jl % TP

    def tp_group(s):
        return rng(base(s), base(s) + TP - 1)

    def stage_group(s):
        return rng(base(s), base(s) + per_stage - 1)

    def marker(s):
        a, b = s * lps, (s + 1) * lps - 1
        nid = "pp_stage%d" % s
        g.node(nid, "=== PP stage %d (layers %d-%d) ===" % (s, a, b), shape="plaintext")
        return nid

    # input, stage 0 marker, broadcast, vocab-parallel embedding + all-reduce
    g.node("input_tokens", "input token ids", [IDS], IDS, "cuda:%d" % base(0))
    m0 = marker(0)
    g.edge("input_tokens", m0)
    g.node("embed_bcast", "broadcast (token ids)", [IDS], IDS, tp_group(0), shape="ellipse")
    g.edge(m0, "embed_bcast")
    g.node("embed_allreduce", "all-reduce (embedding)", [X], X, tp_group(0), shape="ellipse")
    for r in range(TP):
        nid = g.node("embed_tp%d" % r, "embedding (vocab-parallel)", [IDS], X,
                     "cuda:%d" % tp_gpu(0, r))
        g.edge("embed_bcast", nid)
        g.edge(nid, "embed_allreduce")
    stream = {r: "embed_allreduce" for r in range(TP)}     # residual stream producer per rank

    for L in range(NL):
        s = L // lps
        if L > 0 and L % lps == 0:
            # stage boundary: send/recv, then the next stage's marker
            prev = s - 1
            devs = [tp_gpu(prev, r) for r in range(TP)] + [tp_gpu(s, r) for r in range(TP)]
            sr = g.node("L%d_pp_send_recv" % (L - 1), "send/recv (PP stage %d -> %d)" % (prev, s),
                        [X], X, "cuda:" + ",".join(str(d) for d in devs), shape="ellipse")
            for r in range(TP):
                g.edge(stream[r], sr)
            mk = marker(s)
            g.edge(sr, mk)
            stream = {r: mk for r in range(TP)}
        p = "L%d_" % L
        # ---------------- attention
        ar = g.node(p + "attn_allreduce", "all-reduce (o_proj)", [X], X, tp_group(s),
                    shape="ellipse")
        for r in range(TP):
            d = "cuda:%d" % tp_gpu(s, r)
            t = "_tp%d" % r
            n = g.node(p + "attn_norm" + t, "rmsnorm (attn)", [X], X, d)
            g.edge(stream[r], n)
            q = g.node(p + "q_proj" + t, "q_proj (column-parallel)", [X], QKV, d)
            k = g.node(p + "k_proj" + t, "k_proj (column-parallel)", [X], QKV, d)
            v = g.node(p + "v_proj" + t, "v_proj (column-parallel)", [X], QKV, d)
            for x in (q, k, v):
                g.edge(n, x)
            sc = g.node(p + "score" + t, "score q @ k^T / sqrt(%d)" % HD, [QKV, QKV], SC, d)
            g.edge(q, sc)
            g.edge(k, sc)
            sm = g.node(p + "softmax" + t, "softmax", [SC], SC, d)
            g.edge(sc, sm)
            ws = g.node(p + "attn_wsum" + t, "weighted sum (softmax @ v)", [SC, QKV], QKV, d)
            g.edge(sm, ws)
            g.edge(v, ws)
            o = g.node(p + "o_proj" + t, "o_proj (row-parallel)", [QKV], X, d)
            g.edge(ws, o)
            g.edge(o, ar)
        # residual adds
        for r in range(TP):
            d = "cuda:%d" % tp_gpu(s, r)
            ra = g.node(p + "attn_residual_tp%d" % r, "residual add", [X, X], X, d)
            g.edge(ar, ra)
            g.edge(stream[r], ra)
        # ---------------- MoE
        disp = g.node(p + "dispatch", "all-to-all dispatch", [PERM], XE, stage_group(s),
                      shape="ellipse")
        comb = g.node(p + "combine", "all-to-all combine", [XE], PERM, stage_group(s),
                      shape="ellipse")
        for r in range(TP):
            d = "cuda:%d" % tp_gpu(s, r)
            t = "_tp%d" % r
            n = g.node(p + "moe_norm" + t, "rmsnorm (moe)", [X], X, d)
            g.edge(p + "attn_residual" + t, n)
            ro = g.node(p + "router" + t, "router (top-%d of %d)" % (K, E), [X], RL, d,
                        shape="parallelogram")
            g.edge(n, ro)
            tk = g.node(p + "topk" + t, "top-k softmax", [RL], TOPK, d)
            g.edge(ro, tk)
            pe = g.node(p + "permute" + t, "token permute", [X, TOPK], PERM, d,
                        shape="parallelogram")
            g.edge(n, pe)
            g.edge(tk, pe, style="dashed")
            g.edge(pe, disp)
        for e in range(EP):
            for j in range(e * epr, (e + 1) * epr):
                d = "cuda:%d" % ep_gpu(s, e, j - e * epr)
                q = "%sE%d_%%s_ep%d" % (p, j, e)
                w1 = g.node(q % "w1", "expert %d w1 (gate)" % j, [XE], FE, d)
                w3 = g.node(q % "w3", "expert %d w3 (up)" % j, [XE], FE, d)
                act = g.node(q % "act", "expert %d silu(w1) * w3" % j, [FE, FE], FE, d)
                w2 = g.node(q % "w2", "expert %d w2 (down)" % j, [FE], XE, d)
                g.edge(disp, w1)
                g.edge(disp, w3)
                g.edge(w1, act)
                g.edge(w3, act)
                g.edge(act, w2)
                g.edge(w2, comb)
        for r in range(TP):
            d = "cuda:%d" % tp_gpu(s, r)
            t = "_tp%d" % r
            un = g.node(p + "unpermute" + t, "token unpermute", [PERM], UNP, d,
                        shape="parallelogram")
            g.edge(comb, un)
            wsum = g.node(p + "moe_wsum" + t, "weighted sum (router weights)", [UNP, TOPK], X, d,
                          shape="parallelogram")
            g.edge(un, wsum)
            g.edge(p + "topk" + t, wsum, style="dashed")
            ra = g.node(p + "moe_residual" + t, "residual add", [X, X], X, d)
            g.edge(wsum, ra)
            g.edge(p + "attn_residual" + t, ra)
        stream = {r: p + "moe_residual_tp%d" % r for r in range(TP)}

    # final norm, vocab-parallel LM head, all-gather, output
    s = PP - 1
    ag = g.node("logits_allgather", "all-gather (logits)", [LOGS], LOG, tp_group(s),
                shape="ellipse")
    for r in range(TP):
        d = "cuda:%d" % tp_gpu(s, r)
        fn = g.node("final_norm_tp%d" % r, "rmsnorm (final)", [X], X, d)
        g.edge(stream[r], fn)
        lm = g.node("lm_head_tp%d" % r, "lm_head (vocab-parallel)", [X], LOGS, d)
        g.edge(fn, lm)
        g.edge(lm, ag)
    g.node("output_logits", "output logits", [LOG], LOG, "cuda:%d" % tp_gpu(s, 0))
    g.edge(ag, "output_logits")
    return g


# ----------------------------------------------------------------------------- configs
CLEAN = {
    # EP and TP both > 1, PP=1
    "clean_1": dict(EP=4, TP=2, PP=1, DP=1, layers=2, hidden=4096, heads=32, head_dim=128,
                    ffn=14336, E=8, k=2, vocab=32000, batch=2, seq=512),
    # PP=2
    "clean_2": dict(EP=2, TP=2, PP=2, DP=1, layers=4, hidden=2048, heads=16, head_dim=128,
                    ffn=8192, E=4, k=2, vocab=32000, batch=1, seq=1024),
    # DP=2 (one replica drawn), TP=4 > EP=2
    "clean_3": dict(EP=2, TP=4, PP=1, DP=2, layers=3, hidden=2048, heads=16, head_dim=128,
                    ffn=5632, E=8, k=2, vocab=32000, batch=4, seq=256),
}


def fresh(name):
    return build(CLEAN[name])


def set_comment_strategy(g, text):
    g.comments[0] = "Mixtral-style MoE | " + text


# ----------------------------------------------------------------------------- defects
DEFECTS = []


def defect(kind, base, category):
    def deco(fn):
        DEFECTS.append((kind, base, category, fn))
        return fn
    return deco


@defect("cycle", "clean_1", "structure")
def d_cycle(g):
    # the residual add feeds back into the all-reduce it reads from (both ways)
    g.edge("L0_attn_residual_tp0", "L0_attn_allreduce")
    return (["L0_attn_allreduce", "L0_attn_residual_tp0"],
            "Communication node L0_attn_allreduce is drawn both ways with L0_attn_residual_tp0 "
            "(allreduce -> residual and residual -> allreduce), forming a cycle.")


@defect("dangling_input", "clean_1", "structure")
def d_dangling_input(g):
    g.remove_edge("L1_attn_norm_tp1", "L1_k_proj_tp1")
    return (["L1_k_proj_tp1"],
            "L1_k_proj_tp1 has no incoming edge (the edge from L1_attn_norm_tp1 is missing).")


@defect("dangling_output", "clean_1", "structure")
def d_dangling_output(g):
    g.remove_edge("L0_E3_w2_ep1", "L0_combine")
    return (["L0_E3_w2_ep1"],
            "Expert 3's down projection L0_E3_w2_ep1 has no outgoing edge (not wired into "
            "the all-to-all combine).")


@defect("attention_one_box", "clean_1", "attention")
def d_attention_one_box(g):
    X = g.shapes["X"]
    ids = []
    for r in range(2):
        t = "_tp%d" % r
        for op in ("q_proj", "k_proj", "v_proj", "score", "softmax", "attn_wsum", "o_proj"):
            g.remove_node("L1_" + op + t)
        nid = "L1_mha" + t
        g.node(nid, "Multi-Head Attention", [X], X, "cuda:%d" % r)
        # keep it just before the all-reduce in the file
        g.order.remove(nid)
        g.order.insert(g.order.index("L1_attn_allreduce") + 1, nid)
        g.edge("L1_attn_norm" + t, nid)
        g.edge(nid, "L1_attn_allreduce")
        ids.append(nid)
    return (ids, "Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank "
                 "instead of q/k/v projections, score, softmax, weighted sum and o_proj.")


@defect("v_bypasses_softmax", "clean_2", "attention")
def d_v_bypasses_softmax(g):
    SC, QKV = g.shapes["SC"], g.shapes["QKV"]
    g.remove_edge("L2_softmax_tp0", "L2_attn_wsum_tp0")
    g.edge("L2_softmax_tp0", "L2_o_proj_tp0")
    g.nodes["L2_attn_wsum_tp0"]["ins"] = [QKV]
    g.nodes["L2_o_proj_tp0"]["ins"] = [QKV, SC]
    return (["L2_softmax_tp0", "L2_attn_wsum_tp0", "L2_v_proj_tp0", "L2_o_proj_tp0"],
            "In layer 2 / tp0 the weighted sum takes only V; the softmax skips it and goes to "
            "o_proj, so V bypasses the attention probabilities.")


@defect("v_into_score", "clean_1", "attention")
def d_v_into_score(g):
    g.remove_edge("L0_k_proj_tp1", "L0_score_tp1")
    g.remove_edge("L0_v_proj_tp1", "L0_attn_wsum_tp1")
    g.edge("L0_v_proj_tp1", "L0_score_tp1")
    g.edge("L0_k_proj_tp1", "L0_attn_wsum_tp1")
    return (["L0_v_proj_tp1", "L0_score_tp1", "L0_k_proj_tp1", "L0_attn_wsum_tp1"],
            "In layer 0 / tp1 V is wired into the score instead of K (K and V swapped: K goes "
            "to the weighted sum).")


@defect("qkv_into_oproj", "clean_3", "attention")
def d_qkv_into_oproj(g):
    QKV = g.shapes["QKV"]
    ids = []
    for r in range(4):
        t = "_tp%d" % r
        for op in ("score", "softmax", "attn_wsum"):
            g.remove_node("L1_" + op + t)
        for op in ("q_proj", "k_proj", "v_proj"):
            g.edge("L1_" + op + t, "L1_o_proj" + t)
        g.nodes["L1_o_proj" + t]["ins"] = [QKV, QKV, QKV]
        ids += ["L1_q_proj" + t, "L1_k_proj" + t, "L1_v_proj" + t, "L1_o_proj" + t]
    return (ids, "Layer 1's Q, K and V projections feed o_proj directly on every TP rank; "
                 "no score, softmax or weighted sum is drawn.")


@defect("head_arithmetic", "clean_1", "attention")
def d_head_arithmetic(g):
    c = g.cfg
    bad = sh(("batch", c["batch"]), ("seq", c["seq"]), ("heads", c["heads"] // c["TP"]),
             ("head_dim", 64))
    old = g.shapes["QKV"]
    ids = []
    for r in range(2):
        t = "_tp%d" % r
        for op in ("q_proj", "k_proj", "v_proj", "score", "attn_wsum", "o_proj"):
            n = g.nodes["L1_" + op + t]
            n["ins"] = [bad if x == old else x for x in n["ins"]]
            if n["out"] == old:
                n["out"] = bad
        g.nodes["L1_score" + t]["title"] = "score q @ k^T / sqrt(64)"
        ids += ["L1_q_proj" + t, "L1_k_proj" + t, "L1_v_proj" + t]
    return (ids, "Layer 1 uses head_dim=64 with 16 heads per TP2 rank: 32 heads x 64 = 2048, "
                 "not hidden 4096.")


@defect("tp_heads", "clean_3", "attention")
def d_tp_heads(g):
    c = g.cfg
    bad = sh(("batch", c["batch"]), ("seq", c["seq"]), ("heads", c["heads"]),
             ("head_dim", c["head_dim"]))
    badsc = sh(("batch", c["batch"]), ("heads", c["heads"]), ("q_len", c["seq"]),
               ("kv_len", c["seq"]))
    old, oldsc = g.shapes["QKV"], g.shapes["SC"]
    t = "_tp1"
    for op in ("q_proj", "k_proj", "v_proj", "score", "softmax", "attn_wsum", "o_proj"):
        n = g.nodes["L0_" + op + t]
        n["ins"] = [bad if x == old else badsc if x == oldsc else x for x in n["ins"]]
        if n["out"] == old:
            n["out"] = bad
        elif n["out"] == oldsc:
            n["out"] = badsc
    return (["L0_q_proj_tp1", "L0_k_proj_tp1", "L0_v_proj_tp1"],
            "Layer 0 TP rank 1 (of TP=4) projects all 16 heads instead of 16/4 = 4.")


@defect("edge_shape_mismatch", "clean_2", "shape")
def d_edge_shape_mismatch(g):
    c = g.cfg
    g.nodes["L3_moe_norm_tp1"]["ins"] = [sh(("batch", c["batch"]), ("seq", c["seq"]),
                                            ("hidden", 2560))]
    return (["L3_attn_residual_tp1", "L3_moe_norm_tp1"],
            "L3_moe_norm_tp1 declares input hidden=2560 but its producer L3_attn_residual_tp1 "
            "outputs hidden=2048 (factor 1.25, not a parallel degree).")


@defect("shard_without_gather", "clean_3", "shape")
def d_shard_without_gather(g):
    c = g.cfg
    shard = sh(("batch", c["batch"]), ("seq", c["seq"]), ("hidden", c["hidden"] // c["TP"]))
    g.remove_node("embed_allreduce")
    for r in range(4):
        t = "_tp%d" % r
        n = g.nodes["embed" + t]
        n["title"] = "embedding (hidden-split)"
        n["out"] = shard
        g.edge("embed" + t, "L0_attn_norm" + t)
        g.edge("embed" + t, "L0_attn_residual" + t)
    return (["embed_tp0", "embed_tp1", "embed_tp2", "embed_tp3", "L0_attn_norm_tp0",
             "L0_attn_residual_tp0"],
            "The embedding outputs a hidden shard 512 = 2048/TP4 that goes straight into "
            "layer 0's norm and residual add (which expect 2048) without an all-gather.")


@defect("stage_count", "clean_2", "pipeline")
def d_stage_count(g):
    set_comment_strategy(g, "EP=2 TP=2 PP=3")
    return (["pp_stage0", "pp_stage1"],
            "The comment declares PP=3 but only two pipeline stages are drawn.")


@defect("stage_range_gap", "clean_2", "pipeline")
def d_stage_range_gap(g):
    g.nodes["pp_stage0"]["title"] = "=== PP stage 0 (layers 0-0) ==="
    return (["pp_stage0", "pp_stage1"],
            "Stage markers claim layers 0-0 and 2-3, leaving layer 1 in no stage range.")


@defect("stage_missing_layer", "clean_2", "pipeline")
def d_stage_missing_layer(g):
    for nid in [n for n in g.order if n.startswith("L3_")]:
        g.remove_node(nid)
    for r in range(2):
        g.edge("L2_moe_residual_tp%d" % r, "final_norm_tp%d" % r)
    return (["pp_stage1"],
            "Stage 1 claims layers 2-3 (of 4) but no operator of layer 3 is drawn.")


@defect("no_stage_transfer", "clean_2", "pipeline")
def d_no_stage_transfer(g):
    g.remove_node("L1_pp_send_recv")
    for r in range(2):
        g.edge("L1_moe_residual_tp%d" % r, "pp_stage1")
    return (["L1_moe_residual_tp0", "L1_moe_residual_tp1", "pp_stage1"],
            "Stage 0 (cuda:0-3) joins stage 1 (cuda:4-7) by plain edges through the stage "
            "marker, with no send/recv node.")


@defect("experts_subset_ranks", "clean_1", "expert")
def d_experts_subset_ranks(g):
    # layer 1: all 8 experts on EP ranks 0 and 1 (4 each); ranks 2 and 3 hold none
    for j in range(8):
        e_old = j // 2
        e_new = j // 4
        for op in ("w1", "w3", "act", "w2"):
            old = "L1_E%d_%s_ep%d" % (j, op, e_old)
            new = "L1_E%d_%s_ep%d" % (j, op, e_new)
            if old != new:
                g.rename(old, new)
            g.nodes[new]["dev"] = "cuda:%d" % (e_new * 2 + j % 2)
    return (["L1_dispatch", "L1_combine"] + ["L1_E%d_w1_ep%d" % (j, j // 4) for j in range(8)],
            "Layer 1 places its 8 experts on EP ranks 0 and 1 only; EP ranks 2 and 3 "
            "(cuda:4-7) hold none.")


@defect("experts_uneven", "clean_1", "expert")
def d_experts_uneven(g):
    for op in ("w1", "w3", "act", "w2"):
        g.rename("L0_E2_%s_ep1" % op, "L0_E2_%s_ep0" % op)
        g.nodes["L0_E2_%s_ep0" % op]["dev"] = "cuda:0"
    return (["L0_E2_w1_ep0", "L0_E3_w1_ep1"],
            "Layer 0 puts experts 0-2 on EP rank 0, expert 3 alone on EP rank 1 and 2 on "
            "ranks 2 and 3 (3/1/2/2 instead of 2 each).")


@defect("experts_share_gpu", "clean_3", "expert")
def d_experts_share_gpu(g):
    for op in ("w1", "w3", "act", "w2"):
        g.nodes["L2_E5_%s_ep1" % op]["dev"] = "cuda:0"
    return (["L2_E5_w1_ep1", "L2_E5_w3_ep1", "L2_E5_act_ep1", "L2_E5_w2_ep1", "L2_E0_w1_ep0"],
            "Layer 2's expert 5 (EP rank 1, block cuda:4-7) is placed on cuda:0, the GPU of EP "
            "rank 0's expert 0.")


@defect("no_gate", "clean_2", "expert")
def d_no_gate(g):
    UNP = g.nodes["L1_moe_wsum_tp0"]["ins"][0]
    X = g.shapes["X"]
    for r in range(2):
        t = "_tp%d" % r
        g.remove_node("L1_router" + t)
        g.remove_node("L1_topk" + t)
        g.nodes["L1_permute" + t]["ins"] = [X]
        g.nodes["L1_moe_wsum" + t]["ins"] = [UNP]
    return (["L1_permute_tp0", "L1_permute_tp1", "L1_dispatch"],
            "Layer 1 has no router / top-k softmax: tokens are permuted and dispatched to the "
            "experts without any gate.")


@defect("no_all_to_all", "clean_1", "expert")
def d_no_all_to_all(g):
    XE = g.shapes["XE"]
    g.remove_node("L1_dispatch")
    experts = [n for n in g.order if n.startswith("L1_E") and ("_w1_" in n or "_w3_" in n)]
    for r in range(2):
        pe = "L1_permute_tp%d" % r
        g.nodes[pe]["out"] = XE
        for x in experts:
            g.edge(pe, x)
    return (["L1_permute_tp0", "L1_permute_tp1"] + [x for x in experts if "_w1_" in x],
            "Layer 1's token permute feeds the experts on cuda:0-7 directly, without the "
            "all-to-all dispatch (EP=4).")


@defect("tp_rank_missing", "clean_3", "tensor")
def d_tp_rank_missing(g):
    for op in ("attn_norm", "q_proj", "k_proj", "v_proj", "score", "softmax", "attn_wsum",
               "o_proj"):
        g.remove_node("L2_%s_tp3" % op)
    return (["L2_attn_allreduce", "L2_attn_residual_tp3", "L2_o_proj_tp0"],
            "Layer 2's attention (norm, q/k/v, score, softmax, weighted sum, o_proj) is drawn "
            "for TP ranks 0-2 only; rank 3 of TP=4 is missing.")


@defect("no_allreduce_after_rowparallel", "clean_2", "tensor")
def d_no_allreduce(g):
    g.remove_node("L0_attn_allreduce")
    for r in range(2):
        g.edge("L0_o_proj_tp%d" % r, "L0_attn_residual_tp%d" % r)
    return (["L0_o_proj_tp0", "L0_o_proj_tp1", "L0_attn_residual_tp0", "L0_attn_residual_tp1"],
            "Layer 0's row-parallel o_proj partial sums go straight into the residual add "
            "without the TP all-reduce.")


@defect("cross_gpu_no_comm", "clean_3", "communication")
def d_cross_gpu(g):
    g.remove_edge("L1_attn_residual_tp2", "L1_moe_residual_tp2")
    g.edge("L1_attn_residual_tp0", "L1_moe_residual_tp2")
    return (["L1_attn_residual_tp0", "L1_moe_residual_tp2"],
            "L1_moe_residual_tp2 (cuda:2) takes its skip input from L1_attn_residual_tp0 "
            "(cuda:0) with no communication node.")


@defect("comm_wrong_shape", "clean_2", "communication")
def d_comm_wrong_shape(g):
    g.nodes["L2_attn_allreduce"]["shape"] = "box"
    return (["L2_attn_allreduce"], "The TP all-reduce of layer 2 is drawn as a box.")


@defect("missing_gpu", "clean_1", "gpu")
def d_missing_gpu(g):
    g.nodes["L1_softmax_tp1"]["dev"] = None
    return (["L1_softmax_tp1"], "Compute node L1_softmax_tp1 has no device line.")


@defect("gpu_out_of_range", "clean_1", "gpu")
def d_gpu_out_of_range(g):
    for op in ("w1", "w3", "act", "w2"):
        g.nodes["L0_E7_%s_ep3" % op]["dev"] = "cuda:12"
    return (["L0_E7_w1_ep3", "L0_E7_w3_ep3", "L0_E7_act_ep3", "L0_E7_w2_ep3"],
            "Expert 7 of layer 0 is placed on cuda:12, beyond the 8 GPUs of EP4 x TP2 x PP1.")


@defect("stages_share_gpus", "clean_2", "gpu")
def d_stages_share_gpus(g):
    # stage 1 moved from cuda:4-7 onto stage 0's cuda:0-3 (a partial shift would make EP
    # blocks of different ranks share GPUs across stages, a second finding)
    ids = []
    for nid in g.order:
        n = g.nodes[nid]
        if nid == "L1_pp_send_recv":
            n["dev"] = "cuda:0,1"
            continue
        late = (nid.startswith(("L2_", "L3_")) or nid.startswith(("final_norm", "lm_head"))
                or nid in ("logits_allgather", "output_logits"))
        if not late or not n["dev"]:
            continue
        dv = n["dev"][5:]
        if "-" in dv:
            a, b = map(int, dv.split("-"))
            n["dev"] = rng(a - 4, b - 4)
        else:
            n["dev"] = "cuda:%d" % (int(dv) - 4)
        ids.append(nid)
    return (["pp_stage1", "L2_attn_norm_tp0", "L2_attn_norm_tp1", "L1_pp_send_recv"],
            "Stage 1 (layers 2-3) is placed on cuda:0-3, the same GPUs as stage 0, instead of "
            "cuda:4-7.")


@defect("strategy_mismatch", "clean_1", "strategy")
def d_strategy_mismatch(g):
    set_comment_strategy(g, "EP=4 TP=4 PP=1")
    return ([], "The comment declares TP=4 but every TP operator is drawn for ranks tp0-tp1 "
                "only (TP=2).")


@defect("missing_shapes", "clean_3", "annotation")
def d_missing_shapes(g):
    g.nodes["L0_v_proj_tp2"]["ins"] = []
    g.nodes["L0_v_proj_tp2"]["out"] = None
    return (["L0_v_proj_tp2"], "Compute node L0_v_proj_tp2 has no in:/out: shapes.")


@defect("placeholder", "clean_2", "annotation")
def d_placeholder(g):
    q = "[batch=?, seq=%d]" % g.cfg["seq"]
    g.nodes["input_tokens"]["ins"] = [q]
    g.nodes["input_tokens"]["out"] = q
    return (["input_tokens"], "The input node gives its shape as [batch=?, seq=1024], a "
                              "placeholder instead of a value.")


@defect("moe_before_attention", "clean_3", "structure")
def d_moe_before_attention(g):
    for r in range(4):
        t = "_tp%d" % r
        prev = "L0_moe_residual" + t
        g.remove_edge(prev, "L1_attn_norm" + t)
        g.remove_edge(prev, "L1_attn_residual" + t)
        g.remove_edge("L1_attn_residual" + t, "L1_moe_norm" + t)
        g.remove_edge("L1_attn_residual" + t, "L1_moe_residual" + t)
        g.remove_edge("L1_moe_residual" + t, "L2_attn_norm" + t)
        g.remove_edge("L1_moe_residual" + t, "L2_attn_residual" + t)
        g.edge(prev, "L1_moe_norm" + t)
        g.edge(prev, "L1_moe_residual" + t)
        g.edge("L1_moe_residual" + t, "L1_attn_norm" + t)
        g.edge("L1_moe_residual" + t, "L1_attn_residual" + t)
        g.edge("L1_attn_residual" + t, "L2_attn_norm" + t)
        g.edge("L1_attn_residual" + t, "L2_attn_residual" + t)
    return (["L1_moe_norm_tp0", "L1_moe_residual_tp0", "L1_attn_norm_tp0"],
            "Layer 1 runs its MoE block before its attention block (the stream from layer 0 "
            "enters the MoE first).")


@defect("missing_residual", "clean_1", "structure")
def d_missing_residual(g):
    g.remove_edge("L1_attn_residual_tp0", "L1_moe_residual_tp0")
    return (["L1_moe_residual_tp0"],
            "L1_moe_residual_tp0 is fed only by the MoE weighted sum; the skip edge from "
            "L1_attn_residual_tp0 is missing.")


# findings that are inseparable from the injected defect (not a second defect)
NOTES = {
    "no_stage_transfer": "Inherent: the plain stage-0 -> stage-1 edges are also cross-GPU edges "
                         "without a communication node.",
    "no_all_to_all": "Inherent: the permute -> expert edges cross GPUs without a communication "
                     "node (that is what a missing dispatch means).",
    "comm_wrong_shape": "Inherent: the box now spans cuda:4-5, so its edges may also read as "
                        "cross-GPU compute edges.",
    "strategy_mismatch": "Inherent: checks that use the declared TP=4 (heads per rank 32/4, "
                         "vocab shard 32000/4, ranks tp2-tp3) disagree with what is drawn.",
    "stage_range_gap": "Layer 1 is still drawn between the stage-0 and stage-1 markers; only "
                       "the claimed range changed.",
}


# ----------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in CLEAN.items():
        g = build(cfg)
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what="Clean Mixtral-style MoE DAG, %s, %d layers."
                                  % (strategy_text(cfg), cfg["layers"]),
                             base=None))
    for kind, base, category, fn in DEFECTS:
        g = fresh(base)
        nodes, what = fn(g)
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        entry = dict(file=fname, kind=kind, category=category, nodes=nodes, what=what,
                     base=base + ".dot")
        if kind in NOTES:
            entry["note"] = NOTES[kind]
        manifest.append(entry)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
