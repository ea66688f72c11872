#!/usr/bin/env python3
"""Generate deployment DAGs in "house style D": hashed ids, terse labels.

Writes into ./out (next to this script):
  clean_1.dot  MoE  EP=4 TP=2 PP=1 DP=1, 2 layers (strategy in a `comment` graph attribute)
  clean_2.dot  MoE  EP=2 TP=2 PP=2,      4 layers (strategy stated nowhere: inferred from ranks)
  clean_3.dot  dense EP=1 TP=4 PP=1 DP=1, 2 layers, prefill + decode joined by KV-cache nodes
  defect_<kind>.dot  one clean DAG with exactly one injected defect
  manifest.json

Stdlib only.  Deterministic: running it twice gives identical files.
"""
import copy
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# ----------------------------------------------------------------------------------------------
# graph model
# ----------------------------------------------------------------------------------------------
class Graph:
    def __init__(self, key, comment=None, strategy=None):
        self.key = key              # salt for ids (defects keep the ids of their clean base)
        self.comment = comment      # graph attribute comment="..." (None: strategy stated nowhere)
        self.strategy = strategy    # dict, for our own checks only (never written)
        self.nodes = {}             # id -> dict
        self.order = []
        self.edges = []             # (src, dst)
        self.clusters = {}          # stage index -> label
        self.m = {}                 # meaning -> id

    def nid(self, meaning):
        return "op_" + hashlib.sha1(("%s|%s" % (self.key, meaning)).encode()).hexdigest()[:6]

    def add(self, meaning, op, shape="box", ctx=None, extra=None, ins=None, outs=None,
            size=None, group=None, gpus=None, many=False, cluster=None, kind=None):
        i = self.nid(meaning)
        assert i not in self.nodes, ("id collision", meaning)
        self.nodes[i] = dict(meaning=meaning, op=op, shape=shape, ctx=ctx, extra=list(extra or []),
                             ins=ins, outs=outs, size=size, group=group, gpus=list(gpus or []),
                             many=many, cluster=cluster, kind=kind or "compute")
        self.order.append(i)
        self.m[meaning] = i
        return i

    def e(self, a, b):
        self.edges.append((a, b))

    # ---- mutation helpers used by the defect injectors
    def id(self, meaning):
        return self.m[meaning]

    def rm_node(self, i):
        del self.nodes[i]
        self.order.remove(i)
        self.edges = [(a, b) for (a, b) in self.edges if a != i and b != i]
        self.m = {k: v for k, v in self.m.items() if v != i}

    def rm_edge(self, a, b):
        assert (a, b) in self.edges, ("no edge", a, b)
        self.edges.remove((a, b))

    def preds(self, i):
        return [a for (a, b) in self.edges if b == i]

    def succs(self, i):
        return [b for (a, b) in self.edges if a == i]


def fmt_shape(t):
    return "x".join(str(d) for d in t)


def label_of(n):
    lines = [n["op"]]
    if n["ctx"]:
        lines.append(n["ctx"])
    lines += n["extra"]
    if n["ins"] is not None:
        lines.append("in: " + ", ".join(fmt_shape(t) for t in n["ins"]))
    if n["outs"] is not None:
        lines.append("out: " + ", ".join(fmt_shape(t) for t in n["outs"]))
    if n["size"] is not None:
        lines.append("Size: [" + ", ".join(str(d) for d in n["size"]) + "]")
    if n["group"] is not None:
        lines.append("Group: " + n["group"])
    if n["gpus"]:
        if n["many"]:
            lines.append("GPUs: [" + ", ".join(str(x) for x in n["gpus"]) + "]")
        else:
            assert len(n["gpus"]) == 1
            lines.append("GPU: %d" % n["gpus"][0])
    return "\\n".join(lines)


def render(g, name="fwd"):
    out = ["digraph %s {" % name]
    if g.comment is not None:
        out.append('  comment="%s";' % g.comment)
    out.append("  rankdir=TB;")
    out.append('  node [fontname="Helvetica", fontsize=10];')

    def node_line(i, ind):
        n = g.nodes[i]
        return '%s%s [shape=%s, label="%s"];' % (ind, i, n["shape"], label_of(n))

    for st in sorted(g.clusters):
        out.append("  subgraph cluster_s%d {" % st)
        out.append('    label="%s";' % g.clusters[st])
        out.append("    style=rounded;")
        for i in g.order:
            if g.nodes[i]["cluster"] == st:
                out.append(node_line(i, "    "))
        out.append("  }")
    for i in g.order:
        if g.nodes[i]["cluster"] is None or g.nodes[i]["cluster"] not in g.clusters:
            out.append(node_line(i, "  "))
    for a, b in g.edges:
        out.append("  %s -> %s;" % (a, b))
    out.append("}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# builder of one forward pass
# ----------------------------------------------------------------------------------------------
def build(key, comment, EP, TP, PP, L, H, NH, B, S, V, moe, E=None, topk=None, F=None,
          phases=("prefill",), show_phase=False):
    assert H % NH == 0 and NH % TP == 0 and H % TP == 0 and B % EP == 0 and L % PP == 0
    D = H // NH
    strat = dict(EP=EP, TP=TP, PP=PP, DP=1, L=L, H=H, NH=NH, moe=moe, E=E, topk=topk)
    g = Graph(key, comment, strat)
    lps = L // PP
    for st in range(PP):
        g.clusters[st] = "PP rank %d | layers [%s]" % (st, ",".join(str(l) for l in range(st * lps, (st + 1) * lps)))
    b = B // EP                       # tokens of one EP rank's attention group (batch slice)
    hr = NH // TP                     # heads per TP rank
    sh = H // TP                      # hidden shard per TP rank
    tpg = "TP0-TP%d" % (TP - 1)

    def gpu(st, e, t):
        return st * EP * TP + e * TP + t

    def grp(st, e):
        return [gpu(st, e, t) for t in range(TP)]

    def stage_gpus(st):
        return [gpu(st, e, t) for e in range(EP) for t in range(TP)]

    def ctx(ph, l=None, e=None, t=None):
        p = []
        if show_phase:
            p.append(ph)
        if l is not None:
            p.append("L%d" % l)
        if e is not None and EP > 1:
            p.append("EP%d" % e)
        if t is not None:
            p.append("TP%d" % t)
        return " ".join(p) or None

    kcache = {}
    for ph in phases:
        s = S if ph == "prefill" else 1
        T = s if ph == "prefill" else S + 1      # key length seen by the score
        pre = ph + "/"
        # ---- input + embedding, per EP group
        x = {}
        for e in range(EP):
            gp = grp(0, e)
            c = ctx(ph, None, e)
            i_in = g.add(pre + "EP%d/input" % e, "input", ctx=c, ins=[(b, s)], outs=[(b, s)],
                         gpus=gp, many=True, cluster=0, kind="input")
            i_em = g.add(pre + "EP%d/embed" % e, "embed", ctx=c, ins=[(b, s)], outs=[(b, s, H)],
                         gpus=gp, many=True, cluster=0)
            g.e(i_in, i_em)
            x[e] = i_em
        for l in range(L):
            st = l // lps
            # ---- pipeline transfer at a stage boundary
            if l > 0 and l % lps == 0:
                for e in range(EP):
                    sr = g.add(pre + "L%d/EP%d/sendrecv" % (l, e), "send/recv", shape="ellipse",
                               ctx=ctx(ph, None, e), size=(b, s, H), group="PP%d->PP%d" % (st - 1, st),
                               gpus=grp(st - 1, e) + grp(st, e), many=True, cluster=None, kind="comm")
                    g.e(x[e], sr)
                    x[e] = sr
            # ---- attention sublayer, per EP group (TP inside)
            xa = {}
            for e in range(EP):
                gp = grp(st, e)
                m = pre + "L%d/EP%d/" % (l, e)
                ln = g.add(m + "ln1", "LN", ctx=ctx(ph, l, e), ins=[(b, s, H)], outs=[(b, s, H)],
                           gpus=gp, many=True, cluster=st)
                g.e(x[e], ln)
                ar = None
                wos = []
                for t in range(TP):
                    mt = m + "TP%d/" % t
                    gi = [gpu(st, e, t)]
                    c = ctx(ph, l, e, t)
                    wqkv = g.add(mt + "wqkv", "Wqkv", ctx=c, ins=[(b, s, H)], outs=[(b, s, 3 * sh)],
                                 gpus=gi, cluster=st)
                    g.e(ln, wqkv)
                    sp = {}
                    for q in "QKV":
                        sp[q] = g.add(mt + "split" + q, "split_qkv: " + q, shape="parallelogram", ctx=c,
                                      extra=["heads=%d of %d, d_k=%d" % (hr, NH, D)],
                                      ins=[(b, s, 3 * sh)], outs=[(b, hr, s, D)], gpus=gi, cluster=st,
                                      kind="split")
                        g.e(wqkv, sp[q])
                    ksrc, vsrc = sp["K"], sp["V"]
                    if ph == "prefill" and "decode" in phases:
                        for q in "KV":
                            kc = g.add(mt + "cache" + q, "%s cache" % q, shape="cylinder",
                                       ctx=ctx(None, l, e, t) if not show_phase else "prefill->decode L%d TP%d" % (l, t),
                                       extra=["write (prefill), read (decode)"],
                                       ins=[(b, hr, S, D)], outs=[(b, hr, S, D)], gpus=gi, cluster=st,
                                       kind="cache")
                            g.e(sp[q], kc)
                            kcache[(l, e, t, q)] = kc
                    if ph == "decode":
                        rd = {}
                        for q in "KV":
                            rd[q] = g.add(mt + "read" + q, "%s read" % q, ctx=c,
                                          extra=["append new %s to cache" % q],
                                          ins=[(b, hr, S, D), (b, hr, 1, D)], outs=[(b, hr, T, D)],
                                          gpus=gi, cluster=st)
                            g.e(kcache[(l, e, t, q)], rd[q])
                            g.e(sp[q], rd[q])
                        ksrc, vsrc = rd["K"], rd["V"]
                    sc = g.add(mt + "score", "S=QK'", ctx=c, ins=[(b, hr, s, D), (b, hr, T, D)],
                               outs=[(b, hr, s, T)], gpus=gi, cluster=st)
                    g.e(sp["Q"], sc)
                    g.e(ksrc, sc)
                    pr = g.add(mt + "softmax", "P=softmax(S)", ctx=c, ins=[(b, hr, s, T)],
                               outs=[(b, hr, s, T)], gpus=gi, cluster=st)
                    g.e(sc, pr)
                    o = g.add(mt + "pv", "O=PV", ctx=c, ins=[(b, hr, s, T), (b, hr, T, D)],
                              outs=[(b, s, sh)], gpus=gi, cluster=st)
                    g.e(pr, o)
                    g.e(vsrc, o)
                    wo = g.add(mt + "wo", "Wo", ctx=c, extra=["row-parallel"], ins=[(b, s, sh)],
                               outs=[(b, s, H)], gpus=gi, cluster=st)
                    g.e(o, wo)
                    wos.append(wo)
                ar = g.add(m + "ar1", "AR", shape="ellipse", ctx=ctx(ph, l, e), size=(b, s, H), group=tpg,
                           gpus=gp, many=True, cluster=st, kind="comm")
                for wo in wos:
                    g.e(wo, ar)
                ad = g.add(m + "add1", "+", ctx=ctx(ph, l, e), ins=[(b, s, H), (b, s, H)], outs=[(b, s, H)],
                           gpus=gp, many=True, cluster=st)
                g.e(ar, ad)
                g.e(x[e], ad)
                xa[e] = ad
            # ---- FFN sublayer
            ln2 = {}
            for e in range(EP):
                m = pre + "L%d/EP%d/" % (l, e)
                ln2[e] = g.add(m + "ln2", "LN", ctx=ctx(ph, l, e), ins=[(b, s, H)], outs=[(b, s, H)],
                               gpus=grp(st, e), many=True, cluster=st)
                g.e(xa[e], ln2[e])
            if moe:
                rows = b * s * topk               # rows one EP rank sends (token copies, top-k)
                per_e = B * s * topk // E         # rows one expert receives (balanced routing)
                assert (B * s * topk) % E == 0 and E % EP == 0
                epr = E // EP
                routers = {}
                for e in range(EP):
                    m = pre + "L%d/EP%d/" % (l, e)
                    routers[e] = g.add(m + "router", "router", shape="parallelogram", ctx=ctx(ph, l, e),
                                       extra=["top-%d of %d" % (topk, E)], ins=[(b, s, H)], outs=[(rows, H)],
                                       gpus=grp(st, e), many=True, cluster=st, kind="route")
                    g.e(ln2[e], routers[e])
                a2a = g.add(pre + "L%d/a2a" % l, "a2a", shape="ellipse", ctx=ctx(ph, l), extra=["dispatch"],
                            size=(rows, H), group="EP0-EP%d" % (EP - 1), gpus=stage_gpus(st), many=True,
                            cluster=st, kind="comm")
                a2ai = g.add(pre + "L%d/a2ainv" % l, "a2a^-1", shape="ellipse", ctx=ctx(ph, l), extra=["combine"],
                             size=(rows, H), group="EP0-EP%d" % (EP - 1), gpus=stage_gpus(st), many=True,
                             cluster=st, kind="comm")
                for e in range(EP):
                    g.e(routers[e], a2a)
                for xe in range(E):
                    r = xe // epr
                    ex = g.add(pre + "L%d/E%d" % (l, xe), "E%d" % xe, ctx=ctx(ph, l, r),
                               ins=[(per_e, H)], outs=[(per_e, H)], gpus=[gpu(st, r, (xe % epr) % TP)],
                               cluster=st, kind="expert")
                    g.e(a2a, ex)
                    g.e(ex, a2ai)
                for e in range(EP):
                    m = pre + "L%d/EP%d/" % (l, e)
                    sk = g.add(m + "sumk", "sum_k", shape="parallelogram", ctx=ctx(ph, l, e),
                               ins=[(rows, H)], outs=[(b, s, H)], gpus=grp(st, e), many=True, cluster=st,
                               kind="route")
                    g.e(a2ai, sk)
                    ad = g.add(m + "add2", "+", ctx=ctx(ph, l, e), ins=[(b, s, H), (b, s, H)], outs=[(b, s, H)],
                               gpus=grp(st, e), many=True, cluster=st)
                    g.e(sk, ad)
                    g.e(xa[e], ad)
                    x[e] = ad
            else:
                for e in range(EP):
                    m = pre + "L%d/EP%d/" % (l, e)
                    downs = []
                    for t in range(TP):
                        mt = m + "TP%d/" % t
                        gi = [gpu(st, e, t)]
                        c = ctx(ph, l, e, t)
                        up = g.add(mt + "up", "FFN_up", ctx=c, extra=["col-parallel"], ins=[(b, s, H)],
                                   outs=[(b, s, F // TP)], gpus=gi, cluster=st)
                        ac = g.add(mt + "act", "act", ctx=c, ins=[(b, s, F // TP)], outs=[(b, s, F // TP)],
                                   gpus=gi, cluster=st)
                        dn = g.add(mt + "down", "FFN_down", ctx=c, extra=["row-parallel"], ins=[(b, s, F // TP)],
                                   outs=[(b, s, H)], gpus=gi, cluster=st)
                        g.e(ln2[e], up)
                        g.e(up, ac)
                        g.e(ac, dn)
                        downs.append(dn)
                    ar = g.add(m + "ar2", "AR", shape="ellipse", ctx=ctx(ph, l, e), size=(b, s, H), group=tpg,
                               gpus=grp(st, e), many=True, cluster=st, kind="comm")
                    for dn in downs:
                        g.e(dn, ar)
                    ad = g.add(m + "add2", "+", ctx=ctx(ph, l, e), ins=[(b, s, H), (b, s, H)], outs=[(b, s, H)],
                               gpus=grp(st, e), many=True, cluster=st)
                    g.e(ar, ad)
                    g.e(xa[e], ad)
                    x[e] = ad
        # ---- final norm, vocab-parallel LM head, all-gather of logits, output
        st = PP - 1
        for e in range(EP):
            m = pre + "EP%d/" % e
            gp = grp(st, e)
            lnf = g.add(m + "lnf", "LN_f", ctx=ctx(ph, None, e), ins=[(b, s, H)], outs=[(b, s, H)],
                        gpus=gp, many=True, cluster=st)
            g.e(x[e], lnf)
            heads = []
            for t in range(TP):
                hd = g.add(m + "TP%d/lmhead" % t, "lm_head", ctx=ctx(ph, None, e, t), extra=["vocab-parallel"],
                           ins=[(b, s, H)], outs=[(b, s, V // TP)], gpus=[gpu(st, e, t)], cluster=st)
                g.e(lnf, hd)
                heads.append(hd)
            ag = g.add(m + "ag", "AG", shape="ellipse", ctx=ctx(ph, None, e), size=(b, s, V), group=tpg,
                       gpus=gp, many=True, cluster=st, kind="comm")
            for hd in heads:
                g.e(hd, ag)
            ou = g.add(m + "output", "output", ctx=ctx(ph, None, e), ins=[(b, s, V)], outs=[(b, s, V)],
                       gpus=gp, many=True, cluster=st, kind="output")
            g.e(ag, ou)
    return g


def clean1():
    # MoE: EP=4 x TP=2 = 8 GPUs; hidden 2048 = 16 heads x 128; 8 experts, top-2; 2 layers.
    return build("c1", "EP=4 TP=2 PP=1 DP=1", EP=4, TP=2, PP=1, L=2, H=2048, NH=16, B=8, S=2048,
                 V=32000, moe=True, E=8, topk=2)


def clean2():
    # MoE: EP=2 x TP=2 x PP=2 = 8 GPUs; hidden 1024 = 8 heads x 128; 4 experts, top-2; 4 layers.
    # Strategy written nowhere: inferable from TP0-TP1 / EP0-EP1 groups and the 2 stage clusters.
    return build("c2", None, EP=2, TP=2, PP=2, L=4, H=1024, NH=8, B=4, S=1024, V=32000, moe=True,
                 E=4, topk=2)


def clean3():
    # dense: TP=4 = 4 GPUs; hidden 4096 = 32 heads x 128, ffn 16384; 2 layers; prefill (S=512)
    # and one decode step reading the K/V caches written by prefill.
    return build("c3", "EP=1 TP=4 PP=1 DP=1", EP=1, TP=4, PP=1, L=2, H=4096, NH=32, B=4, S=512,
                 V=32000, moe=False, F=16384, phases=("prefill", "decode"), show_phase=True)


# ----------------------------------------------------------------------------------------------
# defects: each returns (graph, category, node ids, one-sentence description)
# ----------------------------------------------------------------------------------------------
DEFECTS = []


def defect(kind, base):
    def deco(fn):
        DEFECTS.append((kind, base, fn))
        return fn
    return deco


BASES = {"clean_1": clean1, "clean_2": clean2, "clean_3": clean3}


@defect("cycle", "clean_1")
def d_cycle(g):
    a2a, ex = g.id("prefill/L0/a2a"), g.id("prefill/L0/E0")
    g.e(ex, a2a)
    return "structure", [a2a, ex], "Expert E0 of layer 0 also feeds back into the dispatch a2a that feeds it (a2a -> E0 -> a2a cycle)."


@defect("dangling_input", "clean_1")
def d_dangling_input(g):
    lnf, hd = g.id("prefill/EP0/lnf"), g.id("prefill/EP0/TP1/lmhead")
    g.rm_edge(lnf, hd)
    return "structure", [hd], "lm_head of EP0 group, TP1 rank (GPU 1) has no incoming edge (its LN_f input edge was dropped)."


@defect("dangling_output", "clean_3")
def d_dangling_output(g):
    hd, ag = g.id("prefill/EP0/TP3/lmhead"), g.id("prefill/EP0/ag")
    g.rm_edge(hd, ag)
    return "structure", [hd], "Prefill lm_head of TP3 (GPU 3) has no outgoing edge: its logits shard goes nowhere."


@defect("attention_one_box", "clean_2")
def d_attention_one_box(g):
    ids = []
    l, st = 3, 1
    for e in range(2):
        m = "prefill/L%d/EP%d/" % (l, e)
        ln, ar = g.id(m + "ln1"), g.id(m + "ar1")
        for t in range(2):
            mt = m + "TP%d/" % t
            gi = g.nodes[g.id(mt + "wqkv")]["gpus"]
            for part in ("wqkv", "splitQ", "splitK", "splitV", "score", "softmax", "pv", "wo"):
                g.rm_node(g.id(mt + part))
            box = g.add(mt + "mha", "Multi-Head Attention", ctx="L%d EP%d TP%d" % (l, e, t),
                        extra=["row-parallel out"], ins=[(2, 1024, 1024)], outs=[(2, 1024, 1024)],
                        gpus=gi, cluster=st)
            g.e(ln, box)
            g.e(box, ar)
            ids.append(box)
    return "attention", ids, "Layer 3's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of Wqkv/split/score/softmax/PV/Wo operators."


@defect("v_bypasses_softmax", "clean_1")
def d_v_bypasses_softmax(g):
    m = "prefill/L0/EP0/TP0/"
    p, o, wo = g.id(m + "softmax"), g.id(m + "pv"), g.id(m + "wo")
    g.rm_edge(p, o)
    g.e(p, wo)
    return "attention", [p, o, wo], "Layer 0 EP0 TP0: O=PV is fed only by V; the softmax output goes to Wo instead of the weighted sum."


@defect("v_into_score", "clean_3")
def d_v_into_score(g):
    m = "prefill/L0/EP0/TP2/"
    k, v, sc = g.id(m + "splitK"), g.id(m + "splitV"), g.id(m + "score")
    g.rm_edge(k, sc)
    g.e(v, sc)
    return "attention", [v, k, sc], "Prefill layer 0 TP2: the score S=QK' takes Q and V (split_qkv: V) instead of K; K only goes to the K cache."


@defect("qkv_into_oproj", "clean_1")
def d_qkv_into_oproj(g):
    ids = []
    for t in range(2):
        m = "prefill/L0/EP3/TP%d/" % t
        q, k, v, wo = (g.id(m + x) for x in ("splitQ", "splitK", "splitV", "wo"))
        for x in ("score", "softmax", "pv"):
            g.rm_node(g.id(m + x))
        for x in (q, k, v):
            g.e(x, wo)
        g.nodes[wo]["ins"] = [(2, 8, 2048, 128)] * 3
        ids += [wo, q, k, v]
    return "attention", ids, "Layer 0 EP3 (both TP ranks, GPUs 6-7): Q, K and V go straight into Wo; no score, softmax or weighted sum is drawn."


@defect("head_arithmetic", "clean_1")
def d_head_arithmetic(g):
    ids = []
    for e in range(4):
        for t in range(2):
            m = "prefill/L1/EP%d/TP%d/" % (e, t)
            for q in "QKV":
                n = g.nodes[g.id(m + "split" + q)]
                n["extra"] = ["heads=8 of 16, d_k=64"]
                n["outs"] = [(2, 8, 2048, 64)]
                ids.append(g.id(m + "split" + q))
            g.nodes[g.id(m + "score")]["ins"] = [(2, 8, 2048, 64)] * 2
            g.nodes[g.id(m + "pv")]["ins"] = [(2, 8, 2048, 2048), (2, 8, 2048, 64)]
    return "attention", ids, "Layer 1 labels give 16 heads x d_k 64 = 1024 (8 per TP rank x 64 = 512 per shard) but the hidden size is 2048."


@defect("tp_heads", "clean_1")
def d_tp_heads(g):
    m = "prefill/L0/EP1/TP1/"
    ids = [g.id(m + x) for x in ("wqkv", "splitQ", "splitK", "splitV")]
    g.nodes[g.id(m + "wqkv")]["outs"] = [(2, 2048, 6144)]
    for q in "QKV":
        n = g.nodes[g.id(m + "split" + q)]
        n["ins"] = [(2, 2048, 6144)]
        n["outs"] = [(2, 16, 2048, 128)]
        n["extra"] = ["heads=16 of 16, d_k=128"]
    g.nodes[g.id(m + "score")]["ins"] = [(2, 16, 2048, 128)] * 2
    g.nodes[g.id(m + "score")]["outs"] = [(2, 16, 2048, 2048)]
    g.nodes[g.id(m + "softmax")]["ins"] = [(2, 16, 2048, 2048)]
    g.nodes[g.id(m + "softmax")]["outs"] = [(2, 16, 2048, 2048)]
    g.nodes[g.id(m + "pv")]["ins"] = [(2, 16, 2048, 2048), (2, 16, 2048, 128)]
    g.nodes[g.id(m + "pv")]["outs"] = [(2, 2048, 2048)]
    g.nodes[g.id(m + "wo")]["ins"] = [(2, 2048, 2048)]
    return "attention", ids, "Layer 0 EP1 TP1 (GPU 3): Wqkv outputs all 16 heads (6144 = 3x2048) instead of 16/TP2 = 8 heads (3072)."


@defect("edge_shape_mismatch", "clean_3")
def d_edge_shape_mismatch(g):
    m = "prefill/L0/EP0/TP3/"
    up, ac = g.id(m + "up"), g.id(m + "act")
    g.nodes[ac]["ins"] = [(4, 512, 3072)]
    return "shape", [up, ac], "Prefill layer 0 TP3: FFN_up outputs 4x512x4096 but act's input says 4x512x3072 (factor 3/4, not a parallel degree)."


@defect("shard_without_gather", "clean_1")
def d_shard_without_gather(g):
    m = "prefill/L1/EP3/"
    ar, ad = g.id(m + "ar1"), g.id(m + "add1")
    wos = [g.id(m + "TP%d/wo" % t) for t in range(2)]
    g.rm_node(ar)
    for wo in wos:
        g.nodes[wo]["outs"] = [(2, 2048, 1024)]
        g.nodes[wo]["extra"] = []
        g.e(wo, ad)
    return "shape", wos + [ad], "Layer 1 EP3: Wo of each TP rank outputs a 1024 = 2048/TP2 hidden shard that goes straight into the residual '+' (expects 2048), with no all-gather/all-reduce."


@defect("stage_count", "clean_2")
def d_stage_count(g):
    g.comment = "EP=2 TP=2 PP=3 DP=1"
    return "pipeline", [], "The graph comment declares PP=3 but only two stage clusters (PP rank 0, PP rank 1) are drawn."


@defect("stage_range_gap", "clean_2")
def d_stage_range_gap(g):
    g.clusters[1] = "PP rank 1 | layers [3]"
    return "pipeline", [g.id("prefill/L2/EP0/ln1"), g.id("prefill/L2/EP1/ln1")], "Stage ranges are [0,1] and [3]: layer 2 (drawn inside PP rank 1) is claimed by no stage, a gap in the coverage of layers 0-3."


@defect("stage_missing_layer", "clean_2")
def d_stage_missing_layer(g):
    ids = []
    for n in list(g.nodes):
        if g.nodes[n]["meaning"].startswith("prefill/L3/"):
            g.rm_node(n)
    for e in range(2):
        ad, lnf = g.id("prefill/L2/EP%d/add2" % e), g.id("prefill/EP%d/lnf" % e)
        g.e(ad, lnf)
        ids += [ad, lnf]
    return "pipeline", ids, "PP rank 1 claims layers [2,3] but no operator of layer 3 is drawn; layer 2's output goes straight to LN_f."


@defect("no_stage_transfer", "clean_2")
def d_no_stage_transfer(g):
    ids = []
    for e in range(2):
        sr = g.id("prefill/L2/EP%d/sendrecv" % e)
        src, dsts = g.preds(sr)[0], g.succs(sr)
        g.rm_node(sr)
        for d in dsts:
            g.e(src, d)
            ids += [src, d]
    return "pipeline", ids, "PP rank 0's last residual '+' (GPUs 0-3) feeds PP rank 1's layer-2 LN and '+' (GPUs 4-7) by plain edges, with no send/recv node."


@defect("experts_subset_ranks", "clean_1")
def d_experts_subset_ranks(g):
    for x in (6, 7):
        g.rm_node(g.id("prefill/L1/E%d" % x))
    return "expert", [g.id("prefill/L1/a2a"), g.id("prefill/L1/a2ainv")], "Layer 1 draws experts only on EP ranks 0-2 (E0-E5); EP rank 3 (GPUs 6-7) holds none of the 8 experts."


@defect("experts_uneven", "clean_1")
def d_experts_uneven(g):
    ex = g.id("prefill/L0/E1")
    g.nodes[ex]["ctx"] = "L0 EP1"
    g.nodes[ex]["gpus"] = [2]
    return "expert", [ex], "Layer 0 places E1 on EP rank 1 (GPU 2): EP0 holds 1 expert, EP1 holds 3, EP2 and EP3 hold 2 (8 experts over EP4 should be 2 each)."


@defect("experts_share_gpu", "clean_1")
def d_experts_share_gpu(g):
    e2, e1 = g.id("prefill/L1/E2"), g.id("prefill/L1/E1")
    g.nodes[e2]["gpus"] = [1]
    return "expert", [e2, e1], "Layer 1 places E2 (EP rank 1) on GPU 1, which already hosts E1 of EP rank 0."


@defect("no_gate", "clean_1")
def d_no_gate(g):
    a2a = g.id("prefill/L1/a2a")
    ids = [a2a]
    for e in range(4):
        r, ln = g.id("prefill/L1/EP%d/router" % e), g.id("prefill/L1/EP%d/ln2" % e)
        g.rm_node(r)
        g.e(ln, a2a)
        ids.append(ln)
    return "expert", ids, "Layer 1 has no router: each group's LN output goes straight into the dispatch a2a and on to experts E0-E7."


@defect("no_all_to_all", "clean_1")
def d_no_all_to_all(g):
    a2a = g.id("prefill/L0/a2a")
    g.rm_node(a2a)
    ids = []
    for e in range(4):
        r = g.id("prefill/L0/EP%d/router" % e)
        ids.append(r)
        for x in range(8):
            g.e(r, g.id("prefill/L0/E%d" % x))
    ids += [g.id("prefill/L0/E%d" % x) for x in range(8)]
    return "expert", ids, "Layer 0 (EP=4): routers send tokens straight to experts E0-E7 on other EP ranks' GPUs, with no dispatch all-to-all."


@defect("tp_rank_missing", "clean_3")
def d_tp_rank_missing(g):
    m = "decode/L1/EP0/"
    for x in ("up", "act", "down"):
        g.rm_node(g.id(m + "TP3/" + x))
    return "tensor", [g.id(m + "ln2"), g.id(m + "ar2")], "Decode layer 1 MLP draws FFN_up/act/FFN_down for TP0-TP2 only; TP3 (GPU 3) is missing."


@defect("no_allreduce_after_rowparallel", "clean_3")
def d_no_allreduce(g):
    m = "decode/L0/EP0/"
    ar, ad = g.id(m + "ar2"), g.id(m + "add2")
    downs = [g.id(m + "TP%d/down" % t) for t in range(4)]
    g.rm_node(ar)
    for dn in downs:
        g.e(dn, ad)
    return "tensor", downs + [ad], "Decode layer 0: the row-parallel FFN_down partial sums of TP0-TP3 go straight into the residual '+' with no all-reduce."


@defect("cross_gpu_no_comm", "clean_1")
def d_cross_gpu(g):
    m = "prefill/L0/EP2/TP0/"
    p = g.id(m + "softmax")
    g.nodes[p]["gpus"] = [5]
    return "communication", [g.id(m + "score"), p, g.id(m + "pv")], "Layer 0 EP2 TP0: P=softmax(S) sits on GPU 5 while its producer S=QK' and consumer O=PV sit on GPU 4; both edges cross GPUs with no communication node."


@defect("comm_wrong_shape", "clean_3")
def d_comm_wrong_shape(g):
    ar = g.id("prefill/L1/EP0/ar1")
    n = g.nodes[ar]
    n["shape"] = "box"
    n["ins"] = [n["size"]]
    n["outs"] = [n["size"]]
    return "communication", [ar], "Prefill layer 1's attention all-reduce (AR, TP0-TP3) is drawn as a box instead of an ellipse."


@defect("missing_gpu", "clean_2")
def d_missing_gpu(g):
    sc = g.id("prefill/L0/EP1/TP1/score")
    g.nodes[sc]["gpus"] = []
    return "gpu", [sc], "Layer 0 EP1 TP1 S=QK' has no GPU line."


@defect("gpu_out_of_range", "clean_1")
def d_gpu_out_of_range(g):
    ex = g.id("prefill/L1/E7")
    g.nodes[ex]["gpus"] = [8]
    return "gpu", [ex], "Layer 1 expert E7 is placed on GPU 8, but EP4 x TP2 x PP1 gives GPUs 0-7."


@defect("stages_share_gpus", "clean_2")
def d_stages_share_gpus(g):
    remap = {4: 2, 5: 3}
    ids = []
    for i, n in g.nodes.items():
        if n["cluster"] == 1 or n["kind"] == "comm" and n["group"] and n["group"].startswith("PP"):
            if any(x in remap for x in n["gpus"]):
                new = []
                for x in n["gpus"]:
                    y = remap.get(x, x)
                    if y not in new:
                        new.append(y)
                n["gpus"] = new
                ids.append(i)
    return "gpu", ids, "PP rank 1's EP0 group is placed on GPUs 2-3, which PP rank 0's EP1 group already uses (stage GPU sets {0-3} and {2,3,6,7} overlap)."


@defect("strategy_mismatch", "clean_1")
def d_strategy_mismatch(g):
    g.comment = "EP=4 TP=4 PP=1 DP=1"
    return "strategy", [], "The comment declares TP=4 but every TP group drawn is TP0-TP1 (2 ranks)."


@defect("missing_shapes", "clean_3")
def d_missing_shapes(g):
    o = g.id("decode/L0/EP0/TP2/pv")
    g.nodes[o]["ins"] = None
    g.nodes[o]["outs"] = None
    return "annotation", [o], "Decode layer 0 TP2 O=PV has no in:/out: shape lines."


@defect("placeholder", "clean_1")
def d_placeholder(g):
    ln = g.id("prefill/L1/EP2/ln2")
    g.nodes[ln]["ins"] = [("?", 2048, 2048)]
    g.nodes[ln]["outs"] = [("?", 2048, 2048)]
    return "annotation", [ln], "Layer 1 EP2 LN (before the router) gives its batch dimension as '?' (in: ?x2048x2048)."


@defect("moe_before_attention", "clean_1")
def d_moe_before_attention(g):
    ids = []
    for e in range(4):
        m = "prefill/L1/EP%d/" % e
        X = g.id("prefill/L0/EP%d/add2" % e)
        ln1, ad1, ln2, ad2 = (g.id(m + x) for x in ("ln1", "add1", "ln2", "add2"))
        lnf = g.id("prefill/EP%d/lnf" % e)
        for a, b in ((X, ln1), (X, ad1), (ad1, ln2), (ad1, ad2), (ad2, lnf)):
            g.rm_edge(a, b)
        for a, b in ((X, ln2), (X, ad2), (ad2, ln1), (ad2, ad1), (ad1, lnf)):
            g.e(a, b)
        ids += [ln2, ad2, ln1, ad1]
    return "structure", ids, "Layer 1 is wired MoE first: LN -> router -> a2a -> experts -> a2a^-1 -> sum_k -> '+' feeds the attention LN, whose '+' feeds LN_f."


@defect("missing_residual", "clean_2")
def d_missing_residual(g):
    m = "prefill/L2/EP1/"
    ad1, ad2 = g.id(m + "add1"), g.id(m + "add2")
    g.rm_edge(ad1, ad2)
    g.nodes[ad2]["ins"] = [(2, 1024, 1024)]
    return "structure", [ad2, ad1], "Layer 2 EP1: the MoE residual '+' is fed only by sum_k; the skip edge from the post-attention '+' is gone."


# Findings that are the same fact seen from another rule (a validator may report them too; they
# are not a second injected defect).
NOTES = {
    "cycle": "E0 also has two successors (a2a^-1 and a2a); the a2a gets an input that is not a router.",
    "v_bypasses_softmax": "The new P -> Wo edge also mismatches shapes (2x8x2048x2048 vs Wo in 2x2048x1024).",
    "shard_without_gather": "Wo (row-parallel by role) is consequently not all-reduced, and per-rank Wo nodes feed the group '+' directly.",
    "no_stage_transfer": "The plain edges also join GPUs 0-3 to GPUs 4-7 with no communication node.",
    "experts_subset_ranks": "Only 6 experts are drawn while the routers say top-2 of 8.",
    "no_all_to_all": "Router -> expert edges also cross GPUs without a communication node.",
    "no_allreduce_after_rowparallel": "Per-rank FFN_down nodes (GPU t) now feed the '+' on GPUs [0, 1, 2, 3] directly.",
    "comm_wrong_shape": "in:/out: lines equal to Size were added so the box is fully annotated; a validator that treats any box as computation will also see Wo (GPU t) -> box (GPUs 0-3) edges without a communication node.",
    "placeholder": "The edges into and out of that LN cannot be shape-checked.",
    "stage_range_gap": "PP rank 1's cluster still contains layer 2's operators it no longer claims.",
    "strategy_mismatch": "With the declared TP=4, a rank would hold 16/4 = 4 heads; the drawn ranks hold 8 (TP2).",
    "stage_count": "Declared PP=3 also implies 12 GPUs while 8 are drawn.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    cleans = {}
    for name, fn in BASES.items():
        g = fn()
        cleans[name] = g
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(render(g))
        st = g.strategy
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": "Correct DAG: %s, EP=%d TP=%d PP=%d, %d layers%s%s." % (
                             "MoE" if st["moe"] else "dense", st["EP"], st["TP"], st["PP"], st["L"],
                             "" if g.comment else ", strategy stated nowhere (inferred from ranks drawn)",
                             ", prefill + one decode step joined by K/V cache nodes" if name == "clean_3" else "")})
    for kind, base, fn in DEFECTS:
        g = copy.deepcopy(cleans[base])
        cat, ids, what = fn(g)
        for i in ids:
            assert i in g.nodes, (kind, i)
        with open(os.path.join(OUT, "defect_%s.dot" % kind), "w") as f:
            f.write(render(g))
        manifest.append({"file": "defect_%s.dot" % kind, "kind": kind, "category": cat, "nodes": ids,
                         "what": what, "base": base + ".dot"})
        if kind in NOTES:
            manifest[-1]["side_effects"] = NOTES[kind]
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return cleans


if __name__ == "__main__":
    main()
