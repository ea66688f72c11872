#!/usr/bin/env python3
"""Independent generator of serving-style deployment DAGs (house style "S").

Each file draws BOTH phases of inference of a Llama-like model in one digraph:
a prefill cluster (prompt of 2048 tokens) and a decode cluster (one new token).
Prefill writes every layer's K/V into "KV cache write L{l} (k,v)" nodes, decode
reads them ("KV cache read L{l} ...") and appends its new token; prefill's first
generated token (after lm_head, all_gather and sample) is handed to the decode
step's embedding through a handoff node that sits outside both phase clusters.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json
next to this script.  Stdlib only:  python3 gen.py
"""
import copy
import json
import os

B = 1          # sequences per attention group
S = 2048       # prompt length (prefill)

COMPUTE, COMM, ROUTE = "compute", "comm", "route"
DOT_SHAPE = {COMPUTE: "box", COMM: "ellipse", ROUTE: "parallelogram"}
FILL = {COMPUTE: "#e8f0fb", COMM: "#fde7d6", ROUTE: "#e4f5e1"}


def shp(dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


def fmt_gpus(gs):
    gs = sorted(set(gs))
    if len(gs) == 1:
        return str(gs[0])
    if gs == list(range(gs[0], gs[-1] + 1)):
        return "%d-%d" % (gs[0], gs[-1])
    return ",".join(str(g) for g in gs)


class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = {}
        self.order = []
        self.edges = []
        self.clusters = {}      # path tuple -> label

    # -- building -------------------------------------------------------
    def node(self, nid, op, inp, out, gpus, kind=COMPUTE, cl=()):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, inp=[tuple(x) for x in inp] if inp is not None else None,
                               out=[tuple(x) for x in out] if out is not None else None,
                               gpus=list(gpus) if gpus is not None else None,
                               kind=kind, cl=tuple(cl), shape=None)
        self.order.append(nid)
        return nid

    def edge(self, a, b):
        assert a in self.nodes, a
        assert b in self.nodes, b
        assert [a, b] not in self.edges, (a, b)
        self.edges.append([a, b])

    # -- editing (defect injection) ------------------------------------
    def rm_edge(self, a, b):
        assert [a, b] in self.edges, (a, b)
        self.edges.remove([a, b])

    def rm_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if nid not in e]

    def rename(self, old, new):
        assert old in self.nodes and new not in self.nodes
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        self.edges = [[new if x == old else x for x in e] for e in self.edges]

    def preds(self, nid):
        return [a for a, b in self.edges if b == nid]

    def succs(self, nid):
        return [b for a, b in self.edges if a == nid]

    # -- output ---------------------------------------------------------
    def label_of(self, nid):
        n = self.nodes[nid]
        lines = [n["op"]]
        if n["inp"] is not None:
            lines.append("Input: " + ", ".join(shp(s) for s in n["inp"]))
        if n["out"] is not None:
            lines.append("Output: " + ", ".join(shp(s) for s in n["out"]))
        if n["gpus"] is not None:
            lines.append("GPU: " + fmt_gpus(n["gpus"]))
        return "\\n".join(lines)

    def node_line(self, nid, ind):
        n = self.nodes[nid]
        shape = n["shape"] or DOT_SHAPE[n["kind"]]
        fill = FILL[n["kind"]] if n["shape"] is None else FILL[COMPUTE]
        return '%s%s [label="%s", shape=%s, fillcolor="%s"];' % (
            ind, nid, self.label_of(nid), shape, fill)

    def to_dot(self):
        out = ["digraph %s {" % self.name,
               '  graph [label="%s", labelloc=t, fontsize=16, rankdir=TB, '
               'compound=true, newrank=true];' % self.label,
               '  node [style="rounded,filled", fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=9];', ""]

        def emit(path, ind):
            for nid in self.order:
                if self.nodes[nid]["cl"] == path:
                    out.append(self.node_line(nid, ind))
            kids = [p for p in self.clusters if len(p) == len(path) + 1 and p[:len(path)] == path]
            for k in kids:
                out.append("%ssubgraph cluster_%s {" % (ind, "_".join(k)))
                out.append('%s  label="%s"; style="rounded"; color="#555555";' % (ind, self.clusters[k]))
                emit(k, ind + "  ")
                out.append("%s}" % ind)

        emit((), "  ")
        out.append("")
        for a, b in self.edges:
            out.append("  %s -> %s;" % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# model / strategy configurations of the three clean files
# ---------------------------------------------------------------------------
CFG = {
    "clean_1": dict(
        title="Llama-style dense (8B widths, 2 layers), TP4, PP1, DP1 (prefill + decode)",
        info="hidden 4096, 32 q heads / 8 kv heads x head_dim 128 (GQA), SwiGLU ffn 14336, vocab 32000, batch 1",
        H=4096, nq=32, nkv=8, hd=128, F=14336, V=32000, L=2, TP=4, EP=1, PP=1, moe=None),
    "clean_2": dict(
        title="Llama-style dense (4 layers), TP2, PP2, DP1 (prefill + decode)",
        info="hidden 2048, 16 q heads / 4 kv heads x head_dim 128 (GQA), SwiGLU ffn 5632, vocab 32000, batch 1",
        H=2048, nq=16, nkv=4, hd=128, F=5632, V=32000, L=4, TP=2, EP=1, PP=2, moe=None),
    "clean_3": dict(
        title="Mixtral-style MoE (4 experts, top-2, 2 layers), TP2, EP2, PP1, DP1 (prefill + decode)",
        info="hidden 2048, 16 q heads / 4 kv heads x head_dim 128 (GQA), expert SwiGLU ffn 2816, vocab 32000, "
             "batch 2: each EP rank's TP group runs attention for 1 sequence",
        H=2048, nq=16, nkv=4, hd=128, F=None, V=32000, L=2, TP=2, EP=2, PP=1,
        moe=dict(E=4, k=2, Fe=2816)),
}


def build(cfg):
    H, nq, nkv, hd, V = cfg["H"], cfg["nq"], cfg["nkv"], cfg["hd"], cfg["V"]
    L, TP, EP, PP, moe = cfg["L"], cfg["TP"], cfg["EP"], cfg["PP"], cfg["moe"]
    assert nq * hd == H and nq % TP == 0 and nkv % TP == 0 and V % TP == 0 and L % PP == 0
    if cfg["F"]:
        assert cfg["F"] % TP == 0
    if moe:
        assert moe["E"] % EP == 0 and moe["Fe"] % TP == 0
    hq, hk = nq // TP, nkv // TP
    per = L // PP
    stages = [(s * per, s * per + per - 1) for s in range(PP)]

    g = Graph("serving_prefill_decode", cfg["title"] + "\\n" + cfg["info"])

    def gpu(st, e, t):
        return st * EP * TP + e * TP + t

    def sx(e, t):
        return "_ep%d_tp%d" % (e, t) if EP > 1 else "_tp%d" % t

    def esx(e):
        return "_ep%d" % e if EP > 1 else ""

    ranks = [(e, t) for e in range(EP) for t in range(TP)]
    phases = [("pf", "prefill", "Prefill (prompt %d tokens)" % S, S),
              ("dc", "decode", "Decode step (1 new token)", 1)]

    for p, pname, plabel, s in phases:
        g.clusters[(pname,)] = plabel

        def cl(st):
            if PP == 1:
                return (pname,)
            return (pname, "stage%d" % st)
        if PP > 1:
            for st, (lo, hi) in enumerate(stages):
                g.clusters[(pname, "stage%d" % st)] = "Stage %d: layers %d-%d" % (st, lo, hi)

        X = (B, s, H)
        cur = {}
        for e, t in ranks:
            G = gpu(0, e, t)
            if p == "pf":
                src = g.node("pf_input%s" % sx(e, t), "input_ids (prompt tokens)",
                             [(B, s)], [(B, s)], [G], cl=cl(0))
            else:
                src = "handoff_next_token%s" % sx(e, t)
            emb = g.node("%s_embed_tokens%s" % (p, sx(e, t)), "embed_tokens",
                         [(B, s)], [X], [G], cl=cl(0))
            g.edge(src, emb)
            cur[e, t] = emb

        for l in range(L):
            st = l // per
            c = cl(st)
            if st > 0 and l == stages[st][0]:
                for e, t in ranks:
                    sr = g.node("%s_pp%d_to_pp%d_send_recv%s" % (p, st - 1, st, sx(e, t)),
                                "send_recv (PP stage %d -> stage %d)" % (st - 1, st),
                                [X], [X], [gpu(st - 1, e, t), gpu(st, e, t)], COMM, cl=(pname,))
                    g.edge(cur[e, t], sr)
                    cur[e, t] = sr

            def n(op, e, t):
                return "%s_l%d_%s%s" % (p, l, op, sx(e, t))

            # ---------------- attention block ----------------
            Q, K = (B, s, hq, hd), (B, s, hk, hd)
            kvlen = S if p == "pf" else S + 1
            KK = (B, kvlen, hk, hd)
            P = (B, hq, s, kvlen)
            oprj = {}
            for e, t in ranks:
                G = [gpu(st, e, t)]
                ln = g.node(n("input_layernorm", e, t), "input_layernorm", [X], [X], G, cl=c)
                q = g.node(n("q_proj", e, t), "q_proj", [X], [Q], G, cl=c)
                k = g.node(n("k_proj", e, t), "k_proj", [X], [K], G, cl=c)
                v = g.node(n("v_proj", e, t), "v_proj", [X], [K], G, cl=c)
                rq = g.node(n("rotary_q", e, t), "rotary_emb (q)", [Q], [Q], G, cl=c)
                rk = g.node(n("rotary_k", e, t), "rotary_emb (k)", [K], [K], G, cl=c)
                for a, b in [(cur[e, t], ln), (ln, q), (ln, k), (ln, v), (q, rq), (k, rk)]:
                    g.edge(a, b)
                if p == "pf":
                    kw = g.node(n("kv_cache_write", e, t), "KV cache write L%d (k,v)" % l,
                                [K, K], [(2, B, S, hk, hd)], G, cl=c)
                    g.edge(rk, kw)
                    g.edge(v, kw)
                    kk, vv = rk, v
                else:
                    kw = "pf_l%d_kv_cache_write%s" % (l, sx(e, t))
                    kk = g.node(n("kv_cache_read_k", e, t), "KV cache read L%d (k, append new token)" % l,
                                [(2, B, S, hk, hd), K], [KK], G, cl=c)
                    vv = g.node(n("kv_cache_read_v", e, t), "KV cache read L%d (v, append new token)" % l,
                                [(2, B, S, hk, hd), K], [KK], G, cl=c)
                    for a, b in [(kw, kk), (rk, kk), (kw, vv), (v, vv)]:
                        g.edge(a, b)
                sc = g.node(n("attn_scores", e, t), "attn_scores = q @ k^T / sqrt(d)", [Q, KK], [P], G, cl=c)
                sm = g.node(n("attn_softmax", e, t), "attn_softmax", [P], [P], G, cl=c)
                ao = g.node(n("attn_out", e, t), "attn_out = probs @ v", [P, KK], [(B, s, hq * hd)], G, cl=c)
                o = g.node(n("o_proj", e, t), "o_proj", [(B, s, hq * hd)], [X], G, cl=c)
                for a, b in [(rq, sc), (kk, sc), (sc, sm), (sm, ao), (vv, ao), (ao, o)]:
                    g.edge(a, b)
                oprj[e, t] = o
            for e in range(EP):
                ar = g.node("%s_l%d_attn_all_reduce%s" % (p, l, esx(e)), "all_reduce (TP)", [X], [X],
                            [gpu(st, e, t) for t in range(TP)], COMM, cl=c)
                for t in range(TP):
                    g.edge(oprj[e, t], ar)
                    ra = g.node(n("residual_add_attn", e, t), "residual_add", [X, X], [X],
                                [gpu(st, e, t)], cl=c)
                    g.edge(ar, ra)
                    g.edge(cur[e, t], ra)
                    cur[e, t] = ra

            # ---------------- MLP / MoE block ----------------
            last = {}
            if moe is None:
                Fs = (B, s, cfg["F"] // TP)
                for e, t in ranks:
                    G = [gpu(st, e, t)]
                    ln2 = g.node(n("post_attention_layernorm", e, t), "post_attention_layernorm", [X], [X], G, cl=c)
                    gp = g.node(n("gate_proj", e, t), "gate_proj", [X], [Fs], G, cl=c)
                    up = g.node(n("up_proj", e, t), "up_proj", [X], [Fs], G, cl=c)
                    act = g.node(n("act_fn", e, t), "act_fn (SiLU * up)", [Fs, Fs], [Fs], G, cl=c)
                    dp = g.node(n("down_proj", e, t), "down_proj", [Fs], [X], G, cl=c)
                    for a, b in [(cur[e, t], ln2), (ln2, gp), (ln2, up), (gp, act), (up, act), (act, dp)]:
                        g.edge(a, b)
                    last[e, t] = dp
            else:
                E, k_, Fe = moe["E"], moe["k"], moe["Fe"]
                slots = B * s * k_                 # routed token slots per attention group
                tpe = slots * EP // E              # tokens per expert (balanced routing)
                per_ep = E // EP
                Tt, Ff = (tpe, H), (tpe, Fe // TP)
                routers = {}
                for e, t in ranks:
                    G = [gpu(st, e, t)]
                    ln2 = g.node(n("post_attention_layernorm", e, t), "post_attention_layernorm", [X], [X], G, cl=c)
                    r = g.node(n("router", e, t), "router (top-%d of %d experts)" % (k_, E), [X], [(slots, H)],
                               G, ROUTE, cl=c)
                    g.edge(cur[e, t], ln2)
                    g.edge(ln2, r)
                    routers[e, t] = r
                disp, comb = {}, {}
                for t in range(TP):
                    G = [gpu(st, e, t) for e in range(EP)]
                    disp[t] = g.node("%s_l%d_moe_dispatch_all_to_all_tp%d" % (p, l, t), "all_to_all dispatch (EP)",
                                     [(slots, H)], [Tt], G, COMM, cl=c)
                    comb[t] = g.node("%s_l%d_moe_combine_all_to_all_tp%d" % (p, l, t), "all_to_all combine (EP)",
                                     [Tt], [(slots, H)], G, COMM, cl=c)
                    for e in range(EP):
                        g.edge(routers[e, t], disp[t])
                for e, t in ranks:
                    G = [gpu(st, e, t)]
                    for j in range(e * per_ep, (e + 1) * per_ep):
                        def xn(op):
                            return "%s_l%d_expert%d_%s%s" % (p, l, j, op, sx(e, t))
                        gp = g.node(xn("gate_proj"), "gate_proj (expert %d)" % j, [Tt], [Ff], G, cl=c)
                        up = g.node(xn("up_proj"), "up_proj (expert %d)" % j, [Tt], [Ff], G, cl=c)
                        act = g.node(xn("act_fn"), "act_fn (SiLU * up) (expert %d)" % j, [Ff, Ff], [Ff], G, cl=c)
                        dp = g.node(xn("down_proj"), "down_proj (expert %d)" % j, [Ff], [Tt], G, cl=c)
                        for a, b in [(disp[t], gp), (disp[t], up), (gp, act), (up, act), (act, dp), (dp, comb[t])]:
                            g.edge(a, b)
                for e, t in ranks:
                    agg = g.node(n("moe_aggregate", e, t), "moe_combine (weighted sum of top-%d)" % k_,
                                 [(slots, H)], [X], [gpu(st, e, t)], ROUTE, cl=c)
                    g.edge(comb[t], agg)
                    last[e, t] = agg
            tag = "mlp" if moe is None else "moe"
            for e in range(EP):
                ar = g.node("%s_l%d_%s_all_reduce%s" % (p, l, tag, esx(e)), "all_reduce (TP)", [X], [X],
                            [gpu(st, e, t) for t in range(TP)], COMM, cl=c)
                for t in range(TP):
                    g.edge(last[e, t], ar)
                    ra = g.node(n("residual_add_" + tag, e, t), "residual_add", [X, X], [X],
                                [gpu(st, e, t)], cl=c)
                    g.edge(ar, ra)
                    g.edge(cur[e, t], ra)
                    cur[e, t] = ra

        # ---------------- head ----------------
        st = PP - 1
        c = cl(st)
        lm = {}
        for e, t in ranks:
            G = [gpu(st, e, t)]
            fn = g.node("%s_final_norm%s" % (p, sx(e, t)), "final_norm", [X], [X], G, cl=c)
            lh = g.node("%s_lm_head%s" % (p, sx(e, t)), "lm_head (vocab-parallel)", [X],
                        [(B, s, V // TP)], G, cl=c)
            g.edge(cur[e, t], fn)
            g.edge(fn, lh)
            lm[e, t] = lh
        for e in range(EP):
            ag = g.node("%s_logits_all_gather%s" % (p, esx(e)), "all_gather (TP, logits)", [(B, s, V // TP)],
                        [(B, s, V)], [gpu(st, e, t) for t in range(TP)], COMM, cl=c)
            for t in range(TP):
                g.edge(lm[e, t], ag)
                sm = g.node("%s_sample%s" % (p, sx(e, t)), "sample (argmax)", [(B, s, V)], [(B, 1)],
                            [gpu(st, e, t)], cl=c)
                g.edge(ag, sm)
                if p == "pf":
                    if PP == 1:
                        h = g.node("handoff_next_token%s" % sx(e, t), "next_token handoff (prefill -> decode)",
                                   [(B, 1)], [(B, 1)], [gpu(0, e, t)], cl=())
                    else:
                        h = g.node("handoff_next_token%s" % sx(e, t),
                                   "send_recv next_token (PP stage %d -> stage 0, prefill -> decode)" % st,
                                   [(B, 1)], [(B, 1)], [gpu(st, e, t), gpu(0, e, t)], COMM, cl=())
                    g.edge(sm, h)
                else:
                    o = g.node("dc_output%s" % sx(e, t), "next_token (decode output)", [(B, 1)], [(B, 1)],
                               [gpu(st, e, t)], cl=c)
                    g.edge(sm, o)
    return g


# ---------------------------------------------------------------------------
# defects: each takes a deep copy of a clean graph, mutates it, returns
# (category, nodes, what)
# ---------------------------------------------------------------------------
def with_ranks(g, pattern, tps):
    return [pattern % t for t in tps]


def d_cycle(g):
    a, b = "pf_l1_residual_add_attn_tp0", "pf_l1_attn_all_reduce"
    g.edge(a, b)
    return ("structure", [a, b],
            "The TP all-reduce after layer 1's o_proj is drawn both ways with residual_add on rank 0 "
            "(all_reduce -> residual_add and residual_add -> all_reduce), closing a cycle.")


def d_dangling_input(g):
    nid = "dc_l0_k_proj_tp3"
    g.rm_edge("dc_l0_input_layernorm_tp3", nid)
    return ("structure", [nid], "Decode layer 0 k_proj on TP rank 3 has no incoming edge (its input_layernorm edge is missing).")


def d_dangling_output(g):
    nid = "pf_l1_up_proj_tp2"
    g.rm_edge(nid, "pf_l1_act_fn_tp2")
    return ("structure", [nid], "Prefill layer 1 up_proj on TP rank 2 has no outgoing edge (it no longer feeds act_fn).")


def d_attention_one_box(g):
    nodes = []
    for t in range(4):
        for op in ["q_proj", "k_proj", "v_proj", "rotary_q", "rotary_k", "kv_cache_read_k", "kv_cache_read_v",
                   "attn_scores", "attn_softmax", "attn_out"]:
            g.rm_node("dc_l1_%s_tp%d" % (op, t))
        ln = "dc_l1_input_layernorm_tp%d" % t
        box = "dc_l1_attention_tp%d" % t
        g.node(box, "Multi-Head Attention", [(1, 1, 4096), (2, 1, S, 2, 128)], [(1, 1, 1024)], [t], cl=("decode",))
        g.order.remove(box)
        g.order.insert(g.order.index(ln) + 1, box)
        g.edge(ln, box)
        g.edge("pf_l1_kv_cache_write_tp%d" % t, box)
        g.edge(box, "dc_l1_o_proj_tp%d" % t)
        nodes.append(box)
    return ("attention", nodes,
            "Decode layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of "
            "q/k/v projections, scores, softmax and weighted sum.")


def d_head_arithmetic(g):
    nodes = []
    for t in range(4):
        q6, p6 = (1, S, 6, 128), (1, 6, S, S)
        k = "pf_l1_%s_tp%d"
        g.nodes[k % ("q_proj", t)]["out"] = [q6]
        g.nodes[k % ("rotary_q", t)]["inp"] = [q6]
        g.nodes[k % ("rotary_q", t)]["out"] = [q6]
        g.nodes[k % ("attn_scores", t)]["inp"] = [q6, (1, S, 2, 128)]
        g.nodes[k % ("attn_scores", t)]["out"] = [p6]
        g.nodes[k % ("attn_softmax", t)]["inp"] = [p6]
        g.nodes[k % ("attn_softmax", t)]["out"] = [p6]
        g.nodes[k % ("attn_out", t)]["inp"] = [p6, (1, S, 2, 128)]
        g.nodes[k % ("attn_out", t)]["out"] = [(1, S, 768)]
        g.nodes[k % ("o_proj", t)]["inp"] = [(1, S, 768)]
        nodes += [k % (op, t) for op in ["q_proj", "rotary_q", "attn_scores", "attn_softmax", "attn_out", "o_proj"]]
    return ("attention", nodes,
            "Prefill layer 1 draws 6 query heads x 128 per TP rank (24 x 128 = 3072 over TP4) although hidden is 4096 "
            "(32 heads); the layer's labels are otherwise self-consistent.")


def d_shard_without_gather(g):
    g.rm_node("dc_logits_all_gather")
    for t in range(4):
        g.edge("dc_lm_head_tp%d" % t, "dc_sample_tp%d" % t)
    return ("shape", ["dc_lm_head_tp%d" % t for t in range(4)] + ["dc_sample_tp%d" % t for t in range(4)],
            "Decode's vocab-parallel lm_head shards [1, 1, 8000] (= 32000/TP4) go straight into sample, which expects "
            "the full [1, 1, 32000] logits; the logits all_gather is missing.")


def d_tp_rank_missing(g):
    g.rm_node("pf_l1_gate_proj_tp3")
    return ("tensor", ["pf_l1_gate_proj_tp0", "pf_l1_gate_proj_tp1", "pf_l1_gate_proj_tp2", "pf_l1_act_fn_tp3"],
            "Prefill layer 1 gate_proj is drawn for TP ranks 0-2 only; rank 3's gate_proj is missing (its act_fn gets only up_proj).")


def d_no_allreduce_after_rowparallel(g):
    g.rm_node("dc_l0_mlp_all_reduce")
    for t in range(4):
        g.edge("dc_l0_down_proj_tp%d" % t, "dc_l0_residual_add_mlp_tp%d" % t)
    return ("tensor", ["dc_l0_down_proj_tp%d" % t for t in range(4)] + ["dc_l0_residual_add_mlp_tp%d" % t for t in range(4)],
            "Decode layer 0's row-parallel down_proj partial sums go straight into residual_add on each rank; the TP all_reduce is missing.")


def d_comm_wrong_shape(g):
    g.nodes["pf_l1_mlp_all_reduce"]["shape"] = "box"
    return ("communication", ["pf_l1_mlp_all_reduce"], "Prefill layer 1's MLP all_reduce (TP) is drawn as a box instead of an ellipse.")


def d_missing_gpu(g):
    g.nodes["pf_l0_attn_softmax_tp2"]["gpus"] = None
    return ("gpu", ["pf_l0_attn_softmax_tp2"], "Prefill layer 0 attn_softmax on TP rank 2 has no GPU line.")


def d_gpu_out_of_range(g):
    moved = []
    for nid in g.order:
        gs = g.nodes[nid]["gpus"]
        if gs and 3 in gs:
            g.nodes[nid]["gpus"] = [6 if x == 3 else x for x in gs]
            if g.nodes[nid]["kind"] != COMM:
                moved.append(nid)
    return ("gpu", moved,
            "Every node of TP rank 3 is placed on GPU 6 (communication groups read 0,1,2,6), beyond the 4 GPUs of TP4 x PP1 x DP1.")


def d_missing_shapes(g):
    g.nodes["dc_l0_o_proj_tp1"]["inp"] = None
    g.nodes["dc_l0_o_proj_tp1"]["out"] = None
    return ("annotation", ["dc_l0_o_proj_tp1"], "Decode layer 0 o_proj on TP rank 1 carries no Input/Output shapes.")


def d_placeholder(g):
    g.nodes["pf_input_tp0"]["inp"] = [("?", S)]
    g.nodes["pf_input_tp0"]["out"] = [("?", S)]
    return ("annotation", ["pf_input_tp0"], "Prefill input_ids on TP rank 0 gives its batch dimension as a '?' placeholder.")


def d_missing_residual(g):
    g.rm_edge("pf_l0_residual_add_attn_tp0", "pf_l0_residual_add_mlp_tp0")
    return ("structure", ["pf_l0_residual_add_mlp_tp0"],
            "Prefill layer 0's post-MLP residual_add on TP rank 0 is fed only by the MLP all_reduce; the skip edge from the attention residual is missing.")


# ---- clean_2 (dense TP2 PP2) -------------------------------------------------
def d_stage_count(g):
    g.label = g.label.replace("TP2, PP2, DP1", "TP2, PP3, DP1")
    return ("pipeline", ["cluster_prefill_stage0", "cluster_prefill_stage1", "cluster_decode_stage0", "cluster_decode_stage1"],
            "The graph label declares PP3 but each phase draws 2 pipeline stages.")


def d_stage_range_gap(g):
    g.clusters[("prefill", "stage1")] = "Stage 1: layers 3-3"
    return ("pipeline", ["cluster_prefill_stage0", "cluster_prefill_stage1"],
            "Prefill stage labels claim layers 0-1 and 3-3, leaving layer 2 (drawn in stage 1) uncovered.")


def d_stage_missing_layer(g):
    for nid in list(g.order):
        if nid.startswith("pf_l3_") or nid.startswith("dc_l3_"):
            g.rm_node(nid)
    for p in ["pf", "dc"]:
        for t in range(2):
            g.edge("%s_l2_residual_add_mlp_tp%d" % (p, t), "%s_final_norm_tp%d" % (p, t))
    return ("pipeline", ["cluster_prefill_stage1", "cluster_decode_stage1"],
            "Stage 1 is labelled 'layers 2-3' (model has 4 layers) but layer 3's operators are not drawn in either phase; layer 2 feeds final_norm.")


def d_no_stage_transfer(g):
    for t in range(2):
        g.rm_node("pf_pp0_to_pp1_send_recv_tp%d" % t)
        g.edge("pf_l1_residual_add_mlp_tp%d" % t, "pf_l2_input_layernorm_tp%d" % t)
        g.edge("pf_l1_residual_add_mlp_tp%d" % t, "pf_l2_residual_add_attn_tp%d" % t)
    return ("pipeline", ["pf_l1_residual_add_mlp_tp0", "pf_l1_residual_add_mlp_tp1", "pf_l2_input_layernorm_tp0",
                         "pf_l2_input_layernorm_tp1", "pf_l2_residual_add_attn_tp0", "pf_l2_residual_add_attn_tp1"],
            "In prefill, stage 0 (GPUs 0-1) joins stage 1 (GPUs 2-3) by plain edges; the send_recv nodes are missing.")


def d_stages_share_gpus(g):
    nodes = []
    for nid in g.order:
        gs = g.nodes[nid]["gpus"]
        if gs and any(x >= 2 for x in gs):
            g.nodes[nid]["gpus"] = [x - 1 if x >= 2 else x for x in gs]
            if g.nodes[nid]["kind"] != COMM:
                nodes.append(nid)
    return ("gpu", ["cluster_prefill_stage1", "cluster_decode_stage1"] + [x for x in nodes if x.endswith("_tp0")],
            "Stage 1 is placed on GPUs 1-2 instead of 2-3 in both phases, so GPU 1 holds stage 0's TP rank 1 and stage 1's TP rank 0.")


def d_v_bypasses_softmax(g):
    nodes = []
    for t in range(2):
        sm, ao, o = "pf_l1_attn_softmax_tp%d" % t, "pf_l1_attn_out_tp%d" % t, "pf_l1_o_proj_tp%d" % t
        g.rm_edge(sm, ao)
        g.edge(sm, o)
        g.nodes[o]["inp"] = g.nodes[o]["inp"] + g.nodes[sm]["out"]
        nodes += [sm, ao, "pf_l1_v_proj_tp%d" % t]
    return ("attention", nodes,
            "In prefill layer 1 V feeds attn_out but attn_softmax does not; the softmax goes straight to o_proj instead.")


def d_v_into_score(g):
    nodes = []
    for t in range(2):
        sc = "pf_l0_attn_scores_tp%d" % t
        g.rm_edge("pf_l0_rotary_k_tp%d" % t, sc)
        g.edge("pf_l0_v_proj_tp%d" % t, sc)
        nodes += [sc, "pf_l0_v_proj_tp%d" % t]
    return ("attention", nodes, "In prefill layer 0 v_proj feeds attn_scores in place of the (rotary) K.")


def d_qkv_into_oproj(g):
    nodes = []
    for t in range(2):
        for op in ["attn_scores", "attn_softmax", "attn_out"]:
            g.rm_node("pf_l3_%s_tp%d" % (op, t))
        o = "pf_l3_o_proj_tp%d" % t
        for src in ["rotary_q", "rotary_k", "v_proj"]:
            g.edge("pf_l3_%s_tp%d" % (src, t), o)
        g.nodes[o]["inp"] = [(1, S, 8, 128), (1, S, 2, 128), (1, S, 2, 128)]
        nodes += [o, "pf_l3_rotary_q_tp%d" % t, "pf_l3_rotary_k_tp%d" % t, "pf_l3_v_proj_tp%d" % t]
    return ("attention", nodes,
            "In prefill layer 3 Q, K and V go straight into o_proj; no scores, softmax or weighted sum are drawn.")


def d_tp_heads(g):
    q16, p16 = (1, S, 16, 128), (1, 16, S, S)
    k = "pf_l2_%s_tp1"
    g.nodes[k % "q_proj"]["out"] = [q16]
    g.nodes[k % "rotary_q"]["inp"] = [q16]
    g.nodes[k % "rotary_q"]["out"] = [q16]
    g.nodes[k % "attn_scores"]["inp"] = [q16, (1, S, 2, 128)]
    g.nodes[k % "attn_scores"]["out"] = [p16]
    g.nodes[k % "attn_softmax"]["inp"] = [p16]
    g.nodes[k % "attn_softmax"]["out"] = [p16]
    g.nodes[k % "attn_out"]["inp"] = [p16, (1, S, 2, 128)]
    g.nodes[k % "attn_out"]["out"] = [(1, S, 2048)]
    g.nodes[k % "o_proj"]["inp"] = [(1, S, 2048)]
    return ("attention", [k % op for op in ["q_proj", "rotary_q", "attn_scores", "attn_softmax", "attn_out", "o_proj"]],
            "Prefill layer 2 q_proj on TP rank 1 outputs all 16 query heads instead of 16/TP2 = 8 (shapes downstream follow).")


def d_cross_gpu_no_comm(g):
    g.rm_edge("dc_l0_input_layernorm_tp0", "dc_l0_q_proj_tp0")
    g.edge("dc_l0_input_layernorm_tp1", "dc_l0_q_proj_tp0")
    return ("communication", ["dc_l0_input_layernorm_tp1", "dc_l0_q_proj_tp0"],
            "Decode layer 0 q_proj on GPU 0 is fed by input_layernorm on GPU 1 through a plain edge (equal shapes, no communication node).")


# ---- clean_3 (MoE TP2 EP2) ---------------------------------------------------
EXP_OPS = ["gate_proj", "up_proj", "act_fn", "down_proj"]


def d_experts_subset_ranks(g):
    nodes = []
    for j in (2, 3):
        for t in range(2):
            for op in EXP_OPS:
                g.rm_node("dc_l1_expert%d_%s_ep1_tp%d" % (j, op, t))
    nodes = ["dc_l1_moe_dispatch_all_to_all_tp0", "dc_l1_moe_dispatch_all_to_all_tp1",
             "dc_l1_moe_combine_all_to_all_tp0", "dc_l1_moe_combine_all_to_all_tp1"]
    return ("expert", nodes,
            "Decode layer 1 draws experts only on EP rank 0 (experts 0-1); EP rank 1 (GPUs 2-3) holds no experts of that layer.")


def d_experts_uneven(g):
    nodes = []
    for t in range(2):
        for op in EXP_OPS:
            old = "pf_l1_expert2_%s_ep1_tp%d" % (op, t)
            new = "pf_l1_expert2_%s_ep0_tp%d" % (op, t)
            g.rename(old, new)
            g.nodes[new]["gpus"] = [t]
            # keep declaration order grouped with EP rank 0's experts
            g.order.remove(new)
            g.order.insert(g.order.index("pf_l1_expert1_down_proj_ep0_tp%d" % t) + 1 + EXP_OPS.index(op), new)
            nodes.append(new)
    return ("expert", nodes, "Prefill layer 1 places experts 0-2 on EP rank 0 and only expert 3 on EP rank 1 (3 + 1 instead of 2 + 2).")


def d_experts_share_gpu(g):
    nodes = []
    for j in (2, 3):
        for op in EXP_OPS:
            nid = "pf_l0_expert%d_%s_ep1_tp0" % (j, op)
            g.nodes[nid]["gpus"] = [0]
            nodes.append(nid)
    return ("expert", nodes, "Prefill layer 0's EP rank 1 experts (2, 3) of TP rank 0 are placed on GPU 0, which holds EP rank 0's experts 0-1.")


def d_no_gate(g):
    nodes = []
    for e in range(2):
        for t in range(2):
            r = "pf_l1_router_ep%d_tp%d" % (e, t)
            g.rm_node(r)
            g.edge("pf_l1_post_attention_layernorm_ep%d_tp%d" % (e, t), "pf_l1_moe_dispatch_all_to_all_tp%d" % t)
    for t in range(2):
        d = "pf_l1_moe_dispatch_all_to_all_tp%d" % t
        g.nodes[d]["inp"] = [(1, S, 2048)]
        nodes.append(d)
    return ("expert", nodes + ["pf_l1_expert%d_gate_proj_ep%d_tp%d" % (j, j // 2, t) for j in range(4) for t in range(2)],
            "Prefill layer 1 has no router: post_attention_layernorm feeds the dispatch all_to_all directly, so nothing gates the experts.")


def d_no_all_to_all(g):
    nodes = []
    for t in range(2):
        g.rm_node("pf_l0_moe_dispatch_all_to_all_tp%d" % t)
    for e in range(2):
        for t in range(2):
            r = "pf_l0_router_ep%d_tp%d" % (e, t)
            g.nodes[r]["out"] = [(1024, 2048)]
            nodes.append(r)
            for j in range(4):
                for op in ("gate_proj", "up_proj"):
                    g.edge(r, "pf_l0_expert%d_%s_ep%d_tp%d" % (j, op, j // 2, t))
    for j in range(4):
        for t in range(2):
            for op in ("gate_proj", "up_proj"):
                x = "pf_l0_expert%d_%s_ep%d_tp%d" % (j, op, j // 2, t)
                g.nodes[x]["inp"] = [(1024, 2048), (1024, 2048)]
                nodes.append(x)
    return ("expert", nodes,
            "Prefill layer 0's routers send tokens straight to the experts of both EP ranks; the dispatch all_to_all is missing (EP2).")


def d_moe_before_attention(g):
    p = "pf_l1_%s_ep%d_tp%d"
    nodes = []
    for e in range(2):
        for t in range(2):
            prev = "pf_l0_residual_add_moe_ep%d_tp%d" % (e, t)
            ln1, ra1 = p % ("input_layernorm", e, t), p % ("residual_add_attn", e, t)
            ln2, ra2 = p % ("post_attention_layernorm", e, t), p % ("residual_add_moe", e, t)
            succ = list(g.succs(ra2))          # final_norm
            g.rm_edge(prev, ln1)
            g.rm_edge(prev, ra1)
            g.rm_edge(ra1, ln2)
            g.rm_edge(ra1, ra2)
            for s_ in succ:
                g.rm_edge(ra2, s_)
            g.edge(prev, ln2)
            g.edge(prev, ra2)
            g.edge(ra2, ln1)
            g.edge(ra2, ra1)
            for s_ in succ:
                g.edge(ra1, s_)
            nodes += [ln2, p % ("router", e, t), ln1]
    return ("structure", nodes,
            "Prefill layer 1 is wired MoE first (post_attention_layernorm -> router -> experts -> residual) and attention after it.")


def d_strategy_mismatch(g):
    g.label = g.label.replace("TP2, EP2, PP1", "TP2, EP4, PP1")
    return ("strategy", ["pf_l0_moe_dispatch_all_to_all_tp0", "pf_l0_moe_dispatch_all_to_all_tp1"],
            "The graph label declares EP4 but experts are drawn on EP ranks 0-1 only (EP2).")


def d_edge_shape_mismatch(g):
    nid = "pf_l0_expert1_down_proj_ep0_tp0"
    g.nodes[nid]["inp"] = [(2048, 4224)]
    return ("shape", ["pf_l0_expert1_act_fn_ep0_tp0", nid],
            "Prefill layer 0 expert 1 down_proj (EP0, TP0) expects Input [2048, 4224] but its act_fn produces [2048, 1408] (factor 3, not a parallel degree).")


DEFECTS = [
    ("cycle", "clean_1", d_cycle),
    ("dangling_input", "clean_1", d_dangling_input),
    ("dangling_output", "clean_1", d_dangling_output),
    ("attention_one_box", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "clean_2", d_v_bypasses_softmax),
    ("v_into_score", "clean_2", d_v_into_score),
    ("qkv_into_oproj", "clean_2", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", d_head_arithmetic),
    ("tp_heads", "clean_2", d_tp_heads),
    ("edge_shape_mismatch", "clean_3", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_1", d_shard_without_gather),
    ("stage_count", "clean_2", d_stage_count),
    ("stage_range_gap", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_3", d_experts_subset_ranks),
    ("experts_uneven", "clean_3", d_experts_uneven),
    ("experts_share_gpu", "clean_3", d_experts_share_gpu),
    ("no_gate", "clean_3", d_no_gate),
    ("no_all_to_all", "clean_3", d_no_all_to_all),
    ("tp_rank_missing", "clean_1", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_1", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_2", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "clean_1", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "clean_3", d_strategy_mismatch),
    ("missing_shapes", "clean_1", d_missing_shapes),
    ("placeholder", "clean_1", d_placeholder),
    ("moe_before_attention", "clean_3", d_moe_before_attention),
    ("missing_residual", "clean_1", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Dense Llama-style model (hidden 4096, GQA 32/8 x 128, 2 layers), TP4 PP1 DP1, prefill + decode with KV cache.",
    "clean_2": "Dense Llama-style model (hidden 2048, GQA 16/4 x 128, 4 layers), TP2 PP2 DP1, stages 0-1 / 2-3 nested in both phases.",
    "clean_3": "Mixtral-style MoE (hidden 2048, 4 experts top-2, 2 layers), TP2 EP2 PP1 DP1, experts TP-sharded, all_to_all dispatch/combine.",
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "out")
    os.makedirs(out, exist_ok=True)
    clean = {name: build(cfg) for name, cfg in CFG.items()}
    manifest = []
    for name, g in clean.items():
        with open(os.path.join(out, name + ".dot"), "w") as f:
            f.write(g.to_dot())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[], what=CLEAN_WHAT[name]))
    for kind, base, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        category, nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(out, fname), "w") as f:
            f.write(g.to_dot())
        manifest.append(dict(file=fname, kind=kind, category=category, nodes=nodes,
                             what="%s (base: %s.dot)" % (what, base)))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, out))


if __name__ == "__main__":
    main()
