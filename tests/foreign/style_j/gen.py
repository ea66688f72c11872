#!/usr/bin/env python3
"""House style J: summary-level, operator-decomposed deployment DAGs.

Each TP operator is drawn once for its whole TP group ("GPUs: 0,1,2,3") with
per-shard shapes.  Under EP>1 every EP rank is one TP group of GPUs; each such
group runs the dense part of the model on its own slice of the replica's batch
("slice_<e>"), and the MoE block of a layer is shared by the slices of a
replica/stage through the dispatch/combine all-to-alls.  DP replicas are drawn as
identical clusters "Replica <r>".  Writes out/clean_*.dot, out/defect_*.dot and
out/manifest.json.  Stdlib only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def shp(*d):
    return "(" + ", ".join(str(x) for x in d) + ")"


def gl(lst):
    return "GPUs: " + ",".join(str(x) for x in lst)


class Graph:
    def __init__(self, name, glabel):
        self.name = name
        self.glabel = list(glabel)
        self.nodes = {}
        self.order = []
        self.edges = []
        self.clusters = {}

    def node(self, nid, shape, lines, cluster):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, lines=list(lines), cluster=tuple(cluster))
        self.order.append(nid)
        return nid

    def edge(self, a, b):
        assert a in self.nodes, a
        assert b in self.nodes, b
        assert [a, b] not in self.edges, (a, b)
        self.edges.append([a, b])

    def has_edge(self, a, b):
        return [a, b] in self.edges

    def remove_edge(self, a, b):
        assert [a, b] in self.edges, (a, b)
        self.edges.remove([a, b])

    def preds(self, n):
        return [a for a, b in self.edges if b == n]

    def succs(self, n):
        return [b for a, b in self.edges if a == n]

    def remove_node(self, n):
        assert n in self.nodes, n
        del self.nodes[n]
        self.order.remove(n)
        self.edges = [e for e in self.edges if n not in e]

    def bypass(self, n):
        """Remove n and connect each predecessor to each successor."""
        ps, ss = self.preds(n), self.succs(n)
        self.remove_node(n)
        for p in ps:
            for s in ss:
                if not self.has_edge(p, s):
                    self.edge(p, s)

    def line(self, n, prefix):
        for ln in self.nodes[n]["lines"]:
            if ln.startswith(prefix):
                return ln
        raise KeyError((n, prefix))

    def set_line(self, n, prefix, new):
        lines = self.nodes[n]["lines"]
        for i, ln in enumerate(lines):
            if ln.startswith(prefix):
                if new is None:
                    del lines[i]
                else:
                    lines[i] = new
                return
        raise KeyError((n, prefix))


def esc(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(g):
    out = ["digraph %s {" % g.name]
    out.append('  label="%s";' % esc("\\n".join(g.glabel)).replace("\\\\n", "\\n"))
    out.append("  labelloc=t;")
    out.append("  rankdir=TB;")
    out.append('  node [fontname="Helvetica", fontsize=10];')
    out.append('  edge [fontname="Helvetica", fontsize=9];')

    def node_line(n, ind):
        d = g.nodes[n]
        lab = "\\n".join(esc(x) for x in d["lines"])
        return '%s%s [shape=%s, label="%s"];' % (ind, n, d["shape"], lab)

    keys = set()
    for n in g.order:
        c = g.nodes[n]["cluster"]
        for i in range(1, len(c) + 1):
            keys.add(c[:i])

    def emit(prefix, depth):
        ind = "  " * (depth + 1)
        for n in g.order:
            if g.nodes[n]["cluster"] == prefix:
                out.append(node_line(n, ind))
        subs = sorted(k for k in keys if len(k) == len(prefix) + 1 and k[:len(prefix)] == prefix)
        for k in subs:
            out.append("%ssubgraph cluster_%s {" % (ind, "_".join(k)))
            out.append('%s  label="%s";' % (ind, esc(g.clusters[k])))
            emit(k, depth + 1)
            out.append("%s}" % ind)

    emit((), 0)
    for a, b in g.edges:
        out.append("  %s -> %s;" % (a, b))
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------

def build(c, o=None):
    o = o or {}
    H, tp, pp, dp, L = c["hidden"], c["tp"], c["pp"], c["dp"], c["layers"]
    ep = c.get("ep", 1)
    b, s, V = c["batch"], c["seq"], c["vocab"]
    nh, hd = c["heads"], c["head_dim"]
    moe = c["moe"]
    assert nh * hd == H and H % tp == 0 and nh % tp == 0 and V % tp == 0 and L % pp == 0
    hl, Hs, Vs = nh // tp, H // tp, V // tp
    per_rep = pp * ep * tp
    lps = L // pp
    if moe:
        E, k = c["experts"], c["topk"]
        assert E % ep == 0
        epr = E // ep
        tok_e = ep * b * s * k // E  # tokens per expert (balanced routing)
        assert tok_e * E == ep * b * s * k
    else:
        F = c["ffn"]
        assert F % tp == 0
        Fs = F // tp

    strat = ["TP=%d" % tp]
    if ep > 1:
        strat.append("EP=%d" % ep)
    if pp > 1:
        strat.append("PP=%d" % pp)
    strat.append("DP=%d" % dp)
    if moe:
        model = ("Model: MoE transformer, %d layers, hidden=%d, heads=%d, head_dim=%d, "
                 "experts=%d, top-%d, vocab=%d" % (L, H, nh, hd, E, k, V))
        batch = ("Batch per replica: %d sequences x %d tokens, one slice of %d per EP rank"
                 % (ep * b, s, b))
    else:
        model = ("Model: dense transformer, %d layers, hidden=%d, heads=%d, head_dim=%d, "
                 "ffn=%d, vocab=%d" % (L, H, nh, hd, F, V))
        batch = "Batch per replica: %d sequences x %d tokens" % (b, s)
    g = Graph(c["name"], ["Parallelism: " + ", ".join(strat), model, batch])

    def gpus(r, p, l):
        base = r * per_rep + p * ep * tp + l * tp
        return list(range(base, base + tp))

    def stage_gpus(r, p):
        base = r * per_rep + p * ep * tp
        return list(range(base, base + ep * tp))

    def cl(r, p):
        key = []
        if dp > 1:
            key.append("replica_%d" % r)
            g.clusters[tuple(key)] = "Replica %d (GPUs %d-%d)" % (r, r * per_rep, (r + 1) * per_rep - 1)
        if pp > 1:
            key.append("stage_%d" % p)
            sg = stage_gpus(r, p)
            g.clusters[tuple(key)] = "Pipeline stage %d: Layers %d-%d (GPUs %d-%d)" % (
                p, p * lps + 1, (p + 1) * lps, sg[0], sg[-1])
        return tuple(key)

    def P(r, l):
        return ("replica_%d_" % r if dp > 1 else "") + ("slice_%d_" % l if ep > 1 else "")

    def Q(r):
        return "replica_%d_" % r if dp > 1 else ""

    def LX(layer):
        return "layer_%02d_" % layer

    heads_line = "heads=%d (%d per TP rank), head_dim=%d" % (nh, hl, hd)

    def box(nid, name, ins, outs, gp, cluster, extra=(), shape="box"):
        lines = [name] + list(extra)
        lines.append("Input: " + ", ".join(ins))
        lines.append("Output: " + outs)
        lines.append(gl(gp))
        return g.node(nid, shape, lines, cluster)

    def comm(nid, name, ins, outs, gp, cluster):
        return box(nid, name, ins, outs, gp, cluster, shape="ellipse")

    full = shp(b, s, H)
    shard = shp(b, s, Hs)
    probs = shp(b, hl, s, s)

    # ---- attention block ------------------------------------------------
    def attn_block(r, l, layer, inp):
        p = (layer - 1) // lps
        G, C = gpus(r, p, l), cl(r, p)
        x = P(r, l) + LX(layer)
        key = (r, l, layer)
        norm = box(x + "pre_attention_rmsnorm", "Pre-attention RMSNorm", [full], full, G, C)
        g.edge(inp, norm)
        if o.get("attn_one_box") == key:
            mha = box(x + "multi_head_attention", "Multi-Head Attention", [full], full, G, C,
                      extra=[heads_line])
            g.edge(norm, mha)
            oproj = mha
        else:
            all_heads = o.get("tp_heads") == key
            if all_heads:
                hline = "heads=%d (%d per TP rank), head_dim=%d" % (nh, nh, hd)
                qout, ph = full, shp(b, nh, s, s)
            else:
                hline, qout, ph = heads_line, shard, probs
            q = box(x + "attention_query_projection", "Query projection (column parallel)",
                    [full], qout, G, C, extra=[hline])
            kk = None
            if o.get("v_into_score") != key:
                kk = box(x + "attention_key_projection", "Key projection (column parallel)",
                         [full], qout, G, C, extra=[hline])
            v = box(x + "attention_value_projection", "Value projection (column parallel)",
                    [full], qout, G, C, extra=[hline])
            for n in (q, kk, v):
                if n:
                    g.edge(norm, n)
            oproj_in = [qout]
            if o.get("qkv_oproj") == key:
                oproj = box(x + "attention_output_projection",
                            "Attention output projection (row parallel)",
                            [qout, qout, qout], full, G, C)
                for n in (q, kk, v):
                    g.edge(n, oproj)
            else:
                sc = box(x + "attention_scores", "Attention scores Q·K^T", [qout, qout], ph, G, C)
                sm = box(x + "attention_softmax", "Softmax over keys", [ph], ph, G, C)
                bypass = o.get("v_bypass") == key
                ws = box(x + "attention_weighted_value_sum", "Weighted value sum P·V",
                         [qout] if bypass else [ph, qout], qout, G, C)
                g.edge(q, sc)
                g.edge(kk if kk else v, sc)
                g.edge(sc, sm)
                if bypass:
                    oproj_in = [qout, ph]
                else:
                    g.edge(sm, ws)
                g.edge(v, ws)
                oproj = box(x + "attention_output_projection",
                            "Attention output projection (row parallel)", oproj_in, full, G, C)
                g.edge(ws, oproj)
                if bypass:
                    g.edge(sm, oproj)
        ar = comm(x + "attention_all_reduce", "All-reduce across TP group", [full], full, G, C)
        g.edge(oproj, ar)
        res = box(x + "attention_residual_add", "Residual add", [full, full], full, G, C)
        g.edge(ar, res)
        g.edge(inp, res)
        return res

    # ---- dense MLP block ------------------------------------------------
    def dense_block(r, l, layer, inp):
        p = (layer - 1) // lps
        G, C = gpus(r, p, l), cl(r, p)
        x = P(r, l) + LX(layer)
        fs = shp(b, s, Fs)
        norm = box(x + "pre_ffn_rmsnorm", "Pre-FFN RMSNorm", [full], full, G, C)
        g.edge(inp, norm)
        gate = box(x + "mlp_gate_projection", "Gate projection (column parallel)", [full], fs, G, C)
        up = box(x + "mlp_up_projection", "Up projection (column parallel)", [full], fs, G, C)
        act = box(x + "mlp_swiglu_activation", "SwiGLU activation", [fs, fs], fs, G, C)
        down = box(x + "mlp_down_projection", "Down projection (row parallel)", [fs], full, G, C)
        ar = comm(x + "mlp_all_reduce", "All-reduce across TP group", [full], full, G, C)
        res = box(x + "ffn_residual_add", "Residual add", [full, full], full, G, C)
        g.edge(norm, gate)
        g.edge(norm, up)
        g.edge(gate, act)
        g.edge(up, act)
        g.edge(act, down)
        g.edge(down, ar)
        g.edge(ar, res)
        g.edge(inp, res)
        return res

    # ---- MoE block (shared by the slices of one replica/stage) ----------
    def moe_block(r, layer, inps):
        p = (layer - 1) // lps
        C = cl(r, p)
        key = (r, layer)
        x0 = Q(r) + LX(layer)
        te = shp(tok_e, H)
        kout = shp(b, s, k, H)
        routers = {}
        norms = {}
        for l in range(ep):
            G = gpus(r, p, l)
            x = P(r, l) + LX(layer)
            norms[l] = box(x + "pre_ffn_rmsnorm", "Pre-FFN RMSNorm", [full], full, G, C)
            g.edge(inps[l], norms[l])
            if o.get("no_gate") == key:
                routers[l] = norms[l]
            else:
                routers[l] = box(x + "moe_router", "Router (softmax, top-%d)" % k, [full], full, G, C,
                                 extra=["Experts: %d, top-%d" % (E, k)], shape="parallelogram")
                g.edge(norms[l], routers[l])
        disp = None
        if o.get("no_a2a") != key:
            disp = comm(x0 + "moe_dispatch_all_to_all", "Dispatch all-to-all", [full], te,
                        stage_gpus(r, p), C)
            for l in range(ep):
                g.edge(routers[l], disp)
        comb = comm(x0 + "moe_combine_all_to_all", "Combine all-to-all", [te], kout,
                    stage_gpus(r, p), C)
        for e in range(E):
            rank = e // epr
            ex = box(x0 + "moe_expert_%02d_feed_forward" % e, "Expert %02d feed-forward" % e,
                     [te], te, gpus(r, p, rank), C, extra=["EP rank %d" % rank])
            if disp:
                g.edge(disp, ex)
            else:
                for l in range(ep):
                    g.edge(routers[l], ex)
            g.edge(ex, comb)
        outs = {}
        for l in range(ep):
            G = gpus(r, p, l)
            x = P(r, l) + LX(layer)
            mg = box(x + "moe_weighted_expert_merge", "Weighted expert merge", [kout], full, G, C,
                     shape="parallelogram")
            g.edge(comb, mg)
            res = box(x + "ffn_residual_add", "Residual add", [full, full], full, G, C)
            g.edge(mg, res)
            g.edge(inps[l], res)
            outs[l] = res
        return outs

    # ---- whole model ------------------------------------------------------
    for r in range(dp):
        stream = {}
        for l in range(ep):
            G, C = gpus(r, 0, l), cl(r, 0)
            x = P(r, l)
            inp = box(x + "input_token_ids", "Input token ids", [shp(b, s)], shp(b, s), G, C)
            emb = box(x + "token_embedding", "Token embedding (vocab parallel)", [shp(b, s)], full, G, C)
            ar = comm(x + "token_embedding_all_reduce", "All-reduce across TP group", [full], full, G, C)
            g.edge(inp, emb)
            g.edge(emb, ar)
            stream[l] = ar
        stage = 0
        for layer in range(1, L + 1):
            p = (layer - 1) // lps
            if p != stage:
                for l in range(ep):
                    x = P(r, l)
                    C = ("replica_%d" % r,) if dp > 1 else ()
                    sr = comm(x + "stage_%d_to_%d_send_recv" % (stage, p),
                              "Pipeline send/recv stage %d → stage %d" % (stage, p), [full], full,
                              gpus(r, stage, l) + gpus(r, p, l), C)
                    g.edge(stream[l], sr)
                    stream[l] = sr
                stage = p

            def attn_all():
                for l in range(ep):
                    stream[l] = attn_block(r, l, layer, stream[l])

            def ffn_all():
                if moe:
                    stream.update(moe_block(r, layer, dict(stream)))
                else:
                    for l in range(ep):
                        stream[l] = dense_block(r, l, layer, stream[l])

            if o.get("moe_first") == (r, layer):
                ffn_all()
                attn_all()
            else:
                attn_all()
                ffn_all()
        for l in range(ep):
            G, C = gpus(r, pp - 1, l), cl(r, pp - 1)
            x = P(r, l)
            fn = box(x + "final_rmsnorm", "Final RMSNorm", [full], full, G, C)
            lm = box(x + "lm_head", "LM head (vocab parallel)", [full], shp(b, s, Vs), G, C)
            ag = comm(x + "lm_head_logits_all_gather", "All-gather logits across TP group",
                      [shp(b, s, Vs)], shp(b, s, V), G, C)
            out = box(x + "output_logits", "Output logits", [shp(b, s, V)], shp(b, s, V), G, C)
            g.edge(stream[l], fn)
            g.edge(fn, lm)
            g.edge(lm, ag)
            g.edge(ag, out)
    return g


# --------------------------------------------------------------------------
# The three clean deployments
# --------------------------------------------------------------------------

CLEAN = {
    "clean_1": dict(name="moe_tp4_ep2_dp2", moe=True, hidden=4096, heads=32, head_dim=128,
                    tp=4, ep=2, pp=1, dp=2, layers=2, experts=4, topk=2,
                    batch=2, seq=1024, vocab=32000),
    "clean_2": dict(name="dense_tp4_pp2", moe=False, hidden=2048, heads=16, head_dim=128,
                    ffn=5632, tp=4, pp=2, dp=1, layers=4, batch=4, seq=1024, vocab=32000),
    "clean_3": dict(name="moe_tp2_ep2_pp2", moe=True, hidden=3072, heads=24, head_dim=128,
                    tp=2, ep=2, pp=2, dp=1, layers=4, experts=8, topk=2,
                    batch=2, seq=512, vocab=32000),
}
STRATEGY = {
    "clean_1": "MoE, TP=4, EP=2, PP=1, DP=2 (16 GPUs), 2 layers, 4 experts top-2",
    "clean_2": "dense, TP=4, PP=2, DP=1 (8 GPUs), 4 layers",
    "clean_3": "MoE, TP=2, EP=2, PP=2, DP=1 (8 GPUs), 4 layers, 8 experts top-2",
}

# --------------------------------------------------------------------------
# Defects: kind -> (base, builder options, post-edit fn, category, what)
# post-edit fn(g) returns the list of node ids the defect is at.
# --------------------------------------------------------------------------

R0S0 = "replica_0_slice_0_"
R0S1 = "replica_0_slice_1_"


def d_cycle(g):
    a = R0S0 + "layer_01_attention_residual_add"
    b = R0S0 + "layer_01_attention_all_reduce"
    g.edge(a, b)
    return [b, a]


def d_dangling_input(g):
    g.remove_edge("layer_01_pre_attention_rmsnorm", "layer_01_attention_key_projection")
    return ["layer_01_attention_key_projection"]


def d_dangling_output(g):
    sc = "layer_02_attention_scores"
    n = g.node("layer_02_attention_score_scaling", "box",
               ["Attention score scaling 1/sqrt(d)", "Input: (4, 4, 1024, 1024)",
                "Output: (4, 4, 1024, 1024)", "GPUs: 0,1,2,3"], g.nodes[sc]["cluster"])
    g.edge(sc, n)
    return [n]


def d_head_arith(g):
    ids = []
    for w in ("query", "key", "value"):
        n = R0S0 + "layer_02_attention_%s_projection" % w
        g.set_line(n, "heads=", "heads=32 (8 per TP rank), head_dim=64")
        ids.append(n)
    return ids


def d_edge_shape(g):
    n = "layer_03_attention_output_projection"
    g.set_line(n, "Input:", "Input: (4, 1024, 768)")
    return ["layer_03_attention_weighted_value_sum", n]


def d_shard(g):
    emb, ar = "token_embedding", "token_embedding_all_reduce"
    g.nodes[emb]["lines"][0] = "Token embedding (hidden dim split across TP)"
    g.set_line(emb, "Output:", "Output: (4, 1024, 512)")
    g.bypass(ar)
    return [emb, "layer_01_pre_attention_rmsnorm", "layer_01_attention_residual_add"]


def d_stage_count(g):
    g.glabel[0] = "Parallelism: TP=4, PP=3, DP=1"
    return []


def d_stage_gap(g):
    g.clusters[("stage_1",)] = "Pipeline stage 1: Layers 4-4 (GPUs 4-7)"
    return ["layer_03_pre_attention_rmsnorm"]


def d_stage_missing(g):
    for n in list(g.order):
        if n.startswith("layer_04_"):
            g.remove_node(n)
    g.edge("layer_03_ffn_residual_add", "final_rmsnorm")
    return ["layer_03_ffn_residual_add", "final_rmsnorm"]


def d_no_transfer(g):
    sr = "stage_0_to_1_send_recv"
    g.bypass(sr)
    return ["layer_02_ffn_residual_add", "layer_03_pre_attention_rmsnorm",
            "layer_03_attention_residual_add"]


def _move_expert(g, n, rank, gpus):
    g.set_line(n, "EP rank", "EP rank %d" % rank)
    g.set_line(n, "GPUs:", gl(gpus))


def d_subset(g):
    ids = []
    for e in (2, 3):
        n = "replica_0_layer_02_moe_expert_%02d_feed_forward" % e
        _move_expert(g, n, 0, [0, 1, 2, 3])
        ids.append(n)
    return ids


def d_uneven(g):
    n = "layer_03_moe_expert_03_feed_forward"
    _move_expert(g, n, 1, [6, 7])
    return [n]


def d_share(g):
    ids = []
    for e in (2, 3):
        n = "replica_0_layer_02_moe_expert_%02d_feed_forward" % e
        g.set_line(n, "GPUs:", "GPUs: 3,4,5,6")
        ids.append(n)
    return ids


def d_tp_rank_missing(g):
    n = "layer_02_attention_query_projection"
    g.set_line(n, "GPUs:", "GPUs: 0,1,2")
    return [n]


def d_no_ar(g):
    g.bypass("layer_04_mlp_all_reduce")
    return ["layer_04_mlp_down_projection", "layer_04_ffn_residual_add"]


def d_cross_gpu(g):
    n = R0S0 + "lm_head"
    g.set_line(n, "GPUs:", "GPUs: 4,5,6,7")
    return [R0S0 + "final_rmsnorm", n]


def d_comm_shape(g):
    n = "layer_03_attention_all_reduce"
    g.nodes[n]["shape"] = "box"
    return [n]


def d_missing_gpu(g):
    n = "slice_0_layer_02_attention_softmax"
    g.set_line(n, "GPUs:", None)
    return [n]


def d_gpu_range(g):
    n = "replica_1_layer_02_moe_expert_03_feed_forward"
    g.set_line(n, "GPUs:", "GPUs: 16,17,18,19")
    return [n]


def d_stages_share(g):
    for n in g.order:
        if g.nodes[n]["cluster"] == ("stage_1",):
            g.set_line(n, "GPUs:", "GPUs: 3,4,5,6")
    g.set_line("stage_0_to_1_send_recv", "GPUs:", "GPUs: 0,1,2,3,4,5,6")
    g.clusters[("stage_1",)] = "Pipeline stage 1: Layers 3-4 (GPUs 3-6)"
    return ["layer_03_pre_attention_rmsnorm", "layer_02_attention_query_projection"]


def d_strategy(g):
    g.glabel[0] = "Parallelism: TP=4, EP=4, DP=2"
    return []


def d_missing_shapes(g):
    n = "slice_1_layer_04_attention_value_projection"
    g.set_line(n, "Input:", None)
    g.set_line(n, "Output:", None)
    return [n]


def d_placeholder(g):
    n = "slice_1_layer_02_pre_ffn_rmsnorm"
    g.set_line(n, "Input:", "Input: (batch_size=?, 512, 3072)")
    return [n]


def d_missing_residual(g):
    g.remove_edge("layer_02_attention_residual_add", "layer_02_ffn_residual_add")
    return ["layer_02_ffn_residual_add"]


def ids_of(base_prefix, names):
    return [base_prefix + n for n in names]


DEFECTS = [
    ("cycle", "clean_1", {}, d_cycle, "structure",
     "Replica 0 slice 0 layer 1: the residual add also feeds back into the attention all-reduce "
     "that feeds it, so the all-reduce is drawn both ways and forms a 2-node cycle."),
    ("dangling_input", "clean_2", {}, d_dangling_input, "structure",
     "Layer 1 key projection has no incoming edge (the edge from the pre-attention RMSNorm is missing)."),
    ("dangling_output", "clean_2", {}, d_dangling_output, "structure",
     "An extra 'Attention score scaling' operator in layer 2 takes the scores but its output goes nowhere."),
    ("attention_one_box", "clean_2", {"attn_one_box": (0, 0, 3)}, None, "attention",
     "Layer 3's attention (Q/K/V, score, softmax, weighted sum, output projection) is drawn as one "
     "'Multi-Head Attention' box."),
    ("v_bypasses_softmax", "clean_3", {"v_bypass": (0, 0, 3)}, None, "attention",
     "Slice 0 layer 3: the weighted value sum is fed only by V; the softmax skips it and goes straight "
     "into the output projection."),
    ("v_into_score", "clean_3", {"v_into_score": (0, 1, 1)}, None, "attention",
     "Slice 1 layer 1: V is wired into the attention score instead of K (no key projection is drawn)."),
    ("qkv_into_oproj", "clean_2", {"qkv_oproj": (0, 0, 1)}, None, "attention",
     "Layer 1: Q, K and V go straight into the output projection; no score, softmax or weighted sum."),
    ("head_arithmetic", "clean_1", {}, d_head_arith, "attention",
     "Replica 0 slice 0 layer 2: Q/K/V labels say heads=32, head_dim=64, i.e. 2048 != hidden 4096."),
    ("tp_heads", "clean_1", {"tp_heads": (0, 0, 1)}, None, "attention",
     "Replica 0 slice 0 layer 1: under TP=4 each rank's Q/K/V projections output all 32 heads "
     "(hidden 4096) instead of 8 heads (1024)."),
    ("edge_shape_mismatch", "clean_2", {}, d_edge_shape, "shape",
     "Layer 3: weighted value sum outputs (4, 1024, 512) but the output projection expects "
     "(4, 1024, 768), a factor 1.5 that is no parallel degree."),
    ("shard_without_gather", "clean_2", {}, d_shard, "shape",
     "The token embedding outputs a hidden/TP shard (4, 1024, 512) that reaches the full-size "
     "layer-1 RMSNorm and residual add (4, 1024, 2048) without any all-gather."),
    ("stage_count", "clean_2", {}, d_stage_count, "pipeline",
     "The graph label declares PP=3 but two pipeline stages are drawn."),
    ("stage_range_gap", "clean_2", {}, d_stage_gap, "pipeline",
     "Stage ranges 'Layers 1-2' and 'Layers 4-4' leave layer 3 (drawn in stage 1) in no stage range."),
    ("stage_missing_layer", "clean_2", {}, d_stage_missing, "pipeline",
     "Stage 1 claims layers 3-4 (model: 4 layers) but no operator of layer 4 is drawn."),
    ("no_stage_transfer", "clean_2", {}, d_no_transfer, "pipeline",
     "Stage 0 (GPUs 0-3) joins stage 1 (GPUs 4-7) by plain edges; the send/recv node is missing."),
    ("experts_subset_ranks", "clean_1", {}, d_subset, "expert",
     "Replica 0 layer 2: all 4 experts sit on EP rank 0 (GPUs 0-3); EP rank 1 holds none."),
    ("experts_uneven", "clean_3", {}, d_uneven, "expert",
     "Layer 3: expert 03 is moved to EP rank 1, so EP ranks hold 3 and 5 experts instead of 4 each."),
    ("experts_share_gpu", "clean_1", {}, d_share, "expert",
     "Replica 0 layer 2: EP rank 1's experts 02/03 are placed on GPUs 3,4,5,6, sharing GPU 3 with "
     "EP rank 0's experts (GPUs 0-3)."),
    ("no_gate", "clean_1", {"no_gate": (0, 1)}, None, "expert",
     "Replica 0 layer 1: no router; the pre-FFN RMSNorms feed the dispatch all-to-all and experts directly."),
    ("no_all_to_all", "clean_1", {"no_a2a": (0, 1)}, None, "expert",
     "Replica 0 layer 1: the routers feed the experts directly with no dispatch all-to-all although EP=2."),
    ("tp_rank_missing", "clean_2", {}, d_tp_rank_missing, "tensor",
     "Layer 2 query projection is placed on GPUs 0,1,2 only; TP rank 3 (GPU 3) is missing."),
    ("no_allreduce_after_rowparallel", "clean_2", {}, d_no_ar, "tensor",
     "Layer 4: the row-parallel down projection goes straight into the residual add without the all-reduce."),
    ("cross_gpu_no_comm", "clean_1", {}, d_cross_gpu, "communication",
     "Replica 0 slice 0: the final RMSNorm on GPUs 0-3 feeds the LM head placed on GPUs 4-7 with no "
     "communication node in between."),
    ("comm_wrong_shape", "clean_2", {}, d_comm_shape, "communication",
     "Layer 3 attention all-reduce is drawn as a box instead of an ellipse."),
    ("missing_gpu", "clean_3", {}, d_missing_gpu, "gpu",
     "Slice 0 layer 2 softmax has no GPU placement line."),
    ("gpu_out_of_range", "clean_1", {}, d_gpu_range, "gpu",
     "Replica 1 layer 2 expert 03 is placed on GPUs 16-19 but the strategy has only 16 GPUs (0-15)."),
    ("stages_share_gpus", "clean_2", {}, d_stages_share, "gpu",
     "Stage 1 is placed on GPUs 3,4,5,6, overlapping stage 0 (GPUs 0-3) on GPU 3."),
    ("strategy_mismatch", "clean_1", {}, d_strategy, "strategy",
     "The graph label declares EP=4 but the experts are drawn on only 2 EP ranks."),
    ("missing_shapes", "clean_3", {}, d_missing_shapes, "annotation",
     "Slice 1 layer 4 value projection has no Input/Output shape lines."),
    ("placeholder", "clean_3", {}, d_placeholder, "annotation",
     "Slice 1 layer 2 pre-FFN RMSNorm has a placeholder input shape (batch_size=?, 512, 3072)."),
    ("moe_before_attention", "clean_3", {"moe_first": (0, 2)}, None, "structure",
     "Layer 2: the MoE block (norm, router, all-to-all, experts, merge, residual) is wired before "
     "the layer's attention block."),
    ("missing_residual", "clean_2", {}, d_missing_residual, "structure",
     "Layer 2 FFN residual add is fed only by the MLP all-reduce; the skip edge from the attention "
     "residual add is removed."),
]

OPT_NODES = {
    "attention_one_box": ["layer_03_multi_head_attention"],
    "v_bypasses_softmax": ["slice_0_layer_03_attention_softmax",
                           "slice_0_layer_03_attention_weighted_value_sum",
                           "slice_0_layer_03_attention_output_projection"],
    "v_into_score": ["slice_1_layer_01_attention_value_projection", "slice_1_layer_01_attention_scores"],
    "qkv_into_oproj": ["layer_01_attention_query_projection", "layer_01_attention_key_projection",
                       "layer_01_attention_value_projection", "layer_01_attention_output_projection"],
    "tp_heads": [R0S0 + "layer_01_attention_query_projection", R0S0 + "layer_01_attention_key_projection",
                 R0S0 + "layer_01_attention_value_projection"],
    "no_gate": ["replica_0_layer_01_moe_dispatch_all_to_all", R0S0 + "layer_01_pre_ffn_rmsnorm",
                R0S1 + "layer_01_pre_ffn_rmsnorm"],
    "no_all_to_all": [R0S0 + "layer_01_moe_router", R0S1 + "layer_01_moe_router"]
                     + ["replica_0_layer_01_moe_expert_%02d_feed_forward" % e for e in range(4)],
    "moe_before_attention": ["slice_0_layer_02_pre_ffn_rmsnorm", "slice_1_layer_02_pre_ffn_rmsnorm",
                             "slice_0_layer_02_pre_attention_rmsnorm",
                             "slice_1_layer_02_pre_attention_rmsnorm"],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in CLEAN.items():
        g = build(cfg)
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write("// deployment DAG, house style J (gen.py)\n")
            f.write(to_dot(g))
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what="Clean deployment: %s." % STRATEGY[name]))
    for kind, base, opts, fn, cat, what in DEFECTS:
        g = build(CLEAN[base], opts)
        nodes = fn(g) if fn else OPT_NODES[kind]
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write("// deployment DAG, house style J (gen.py)\n")
            f.write(to_dot(g))
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes, what=what,
                             base=base + ".dot"))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
