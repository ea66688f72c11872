#!/usr/bin/env python3
"""Independent generator of deployment DAGs in house style "AD".

House style
-----------
* Labels are upper-case KEY=VALUE lines, each ending in a left-justified
  break: "OP=Q_PROJ\\lLAYER=3\\lIN=[8,1024,4096]\\lOUT=[8,1024,1024]\\lDEV=GPU5\\l".
* Line order: OP, LAYER, EXPERT, operator extras (HEADS, HEADS_PER_RANK,
  HEAD_DIM, TENSOR, EXPERTS, TOPK, VOCAB, GROUP, PEER), IN, OUT, DEV,
  REPLICA, EP_RANK, TP_RANK.
* Several inputs: IN=[..], [..].  Several GPUs: DEV=GPU0,GPU1.
* Node ids are opaque: node_00017.  Default node shape is box; communication
  nodes are ellipses, router / expert-sum are parallelograms, the token input
  is an invhouse and the logits output a house (sources / sinks, no GPU).
* DP: every node carries REPLICA=<r>; no replica clusters.
* PP: one cluster per stage, labelled "PP=<p> LAYERS=<a>..<b>".
* The strategy is in the graph's comment and label: "EP=2 TP=4 PP=2 DP=2".

Deployment layout
-----------------
GPU(r, p, e, t) = ((r*PP + p)*EP + e)*TP + t, so #GPUs = DP*PP*EP*TP.
Inside one replica and one stage the GPUs form an EP x TP grid.  Every EP
group e (its TP GPUs) serves its own batch slice (own token input): attention
is tensor-parallel inside the group (heads/TP per rank, column-parallel
Q/K/V, row-parallel O_PROJ + all-reduce), residual stream replicated on the
TP ranks.  MoE: expert j lives on EP rank j // (E/EP) and is tensor-sharded
over that group's TP ranks (expert tensor parallel); the TP rank t of every
group exchanges tokens with the TP rank t of the other groups through an
all-to-all dispatch / combine, the partial expert sums are all-reduced in the
TP group before the residual add.

Run: python3 gen.py  -> writes out/*.dot and out/manifest.json
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# ----------------------------------------------------------------------------
# graph model
# ----------------------------------------------------------------------------
class Graph:
    def __init__(self, cfg):
        self.cfg = dict(cfg)
        self.strategy = "EP=%d TP=%d PP=%d DP=%d" % (cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"])
        self.nodes = {}
        self.order = []
        self.edges = []
        self.ix = {}
        self.n = 0
        self.stage_label = {}

    def add(self, key, op, shape="box", **kw):
        nid = "node_%05d" % self.n
        self.n += 1
        d = dict(op=op, shape=shape, layer=None, expert=None, extras=[], ins=None,
                 out=None, dev=None, replica=0, ep=None, tp=None, stage=None)
        d.update(kw)
        self.nodes[nid] = d
        self.order.append(nid)
        if key is not None:
            assert key not in self.ix, key
            self.ix[key] = nid
        return nid

    def edge(self, u, v):
        assert u in self.nodes and v in self.nodes
        assert (u, v) not in self.edges, (u, v)
        self.edges.append((u, v))

    def rm_edge(self, u, v):
        self.edges.remove((u, v))

    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [(u, v) for (u, v) in self.edges if u != nid and v != nid]

    def preds(self, v):
        return [u for (u, w) in self.edges if w == v]

    def succs(self, u):
        return [w for (x, w) in self.edges if x == u]

    def __getitem__(self, key):
        return self.ix[key]

    def set_extra(self, nid, k, v):
        ex = self.nodes[nid]["extras"]
        for i, (kk, _) in enumerate(ex):
            if kk == k:
                ex[i] = (k, v)
                return
        ex.append((k, v))


def fmt_shape(s):
    return "[" + ",".join(str(x) for x in s) + "]"


def label_of(d):
    lines = ["OP=" + d["op"]]
    if d["layer"] is not None:
        lines.append("LAYER=%d" % d["layer"])
    if d["expert"] is not None:
        lines.append("EXPERT=%d" % d["expert"])
    for k, v in d["extras"]:
        lines.append("%s=%s" % (k, v))
    if d["ins"] is not None:
        lines.append("IN=" + ", ".join(fmt_shape(s) for s in d["ins"]))
    if d["out"] is not None:
        lines.append("OUT=" + fmt_shape(d["out"]))
    if d["dev"] is not None:
        lines.append("DEV=" + ",".join("GPU%d" % x for x in d["dev"]))
    lines.append("REPLICA=%d" % d["replica"])
    if d["ep"] is not None:
        lines.append("EP_RANK=%d" % d["ep"])
    if d["tp"] is not None:
        lines.append("TP_RANK=%d" % d["tp"])
    return "\\l".join(lines) + "\\l"


def render(g):
    out = []
    out.append("digraph DAG {")
    out.append('  comment="%s";' % g.strategy)
    out.append('  label="%s";' % g.strategy)
    out.append("  labelloc=t;")
    out.append("  rankdir=TB;")
    out.append('  node [shape=box, fontname="Courier", fontsize=9];')

    def node_line(nid, ind):
        d = g.nodes[nid]
        s = '%s%s [label="%s"' % (ind, nid, label_of(d))
        if d["shape"] != "box" or d.get("force_shape"):
            s += ", shape=%s" % d["shape"]
        return s + "];"

    for nid in g.order:
        if g.nodes[nid]["stage"] is None and g.nodes[nid]["op"] == "INPUT":
            out.append(node_line(nid, "  "))
    for p in sorted(g.stage_label):
        out.append("  subgraph cluster_pp%d {" % p)
        out.append('    label="%s";' % g.stage_label[p])
        for nid in g.order:
            if g.nodes[nid]["stage"] == p:
                out.append(node_line(nid, "    "))
        out.append("  }")
    for nid in g.order:
        if g.nodes[nid]["stage"] is None and g.nodes[nid]["op"] != "INPUT":
            out.append(node_line(nid, "  "))
    for u, v in g.edges:
        out.append("  %s -> %s;" % (u, v))
    out.append("}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------
# builder of a clean DAG
# ----------------------------------------------------------------------------
def build(cfg):
    g = Graph(cfg)
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    L, H, NH, HD = cfg["L"], cfg["H"], cfg["NH"], cfg["HD"]
    E, K, B, S, V = cfg["E"], cfg["K"], cfg["B"], cfg["S"], cfg["V"]
    assert NH * HD == H and NH % TP == 0 and H % TP == 0 and V % TP == 0
    assert E % EP == 0 and L % PP == 0 and (EP * B * S * K) % E == 0
    Hs, hr = H // TP, NH // TP
    T = EP * B * S * K // E          # tokens per expert (balanced routing)
    lps = L // PP
    for p in range(PP):
        g.stage_label[p] = "PP=%d LAYERS=%d..%d" % (p, p * lps, p * lps + lps - 1)

    def gpu(r, p, e, t):
        return ((r * PP + p) * EP + e) * TP + t

    X = (B, S, H)
    XS = (B, S, Hs)
    SC = (B, hr, S, S)
    heads = [("HEADS", NH), ("HEADS_PER_RANK", hr), ("HEAD_DIM", HD)]

    for r in range(DP):
        stream = {}
        for e in range(EP):
            g.add(("INPUT", r, e), "INPUT", shape="invhouse", out=(B, S), replica=r, ep=e)
        # embedding (vocab parallel) + all-reduce
        for e in range(EP):
            for t in range(TP):
                n = g.add(("EMBED", r, e, t), "EMBED", extras=[("VOCAB", V)], ins=[(B, S)], out=X,
                          dev=[gpu(r, 0, e, t)], replica=r, ep=e, tp=t, stage=0)
                g.edge(g["INPUT", r, e], n)
            ar = g.add(("AR_E", r, e), "ALL_REDUCE", shape="ellipse", extras=[("GROUP", "TP")],
                       ins=[X], out=X, dev=[gpu(r, 0, e, t) for t in range(TP)], replica=r, ep=e, stage=0)
            for t in range(TP):
                g.edge(g["EMBED", r, e, t], ar)
                stream[e, t] = ar

        for p in range(PP):
            if p > 0:
                for e in range(EP):
                    for t in range(TP):
                        rv = g.add(("RECV", r, p, e, t), "RECV", shape="ellipse",
                                   extras=[("GROUP", "PP"), ("PEER", "GPU%d" % gpu(r, p - 1, e, t))],
                                   ins=[X], out=X, dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        g.edge(g["SEND", r, p - 1, e, t], rv)
                        stream[e, t] = rv
            for l in range(p * lps, p * lps + lps):
                # ---------------- attention ----------------
                for e in range(EP):
                    for t in range(TP):
                        kw = dict(layer=l, dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        x = stream[e, t]
                        na = g.add(("NORM_A", r, l, e, t), "RMSNORM", ins=[X], out=X, **kw)
                        g.edge(x, na)
                        for nm in ("Q_PROJ", "K_PROJ", "V_PROJ"):
                            n = g.add((nm, r, l, e, t), nm, extras=list(heads), ins=[X], out=XS, **kw)
                            g.edge(na, n)
                        for tn in ("Q", "K"):
                            n = g.add(("ROPE_" + tn, r, l, e, t), "ROPE", extras=[("TENSOR", tn)],
                                      ins=[XS], out=XS, **kw)
                            g.edge(g[tn + "_PROJ", r, l, e, t], n)
                        sc = g.add(("SCORE", r, l, e, t), "SCORE", ins=[XS, XS], out=SC, **kw)
                        g.edge(g["ROPE_Q", r, l, e, t], sc)
                        g.edge(g["ROPE_K", r, l, e, t], sc)
                        sm = g.add(("SOFTMAX", r, l, e, t), "SOFTMAX", ins=[SC], out=SC, **kw)
                        g.edge(sc, sm)
                        cx = g.add(("CONTEXT", r, l, e, t), "CONTEXT", ins=[SC, XS], out=XS, **kw)
                        g.edge(sm, cx)
                        g.edge(g["V_PROJ", r, l, e, t], cx)
                        op = g.add(("O_PROJ", r, l, e, t), "O_PROJ", ins=[XS], out=X, **kw)
                        g.edge(cx, op)
                    ar = g.add(("AR_A", r, l, e), "ALL_REDUCE", shape="ellipse", layer=l,
                               extras=[("GROUP", "TP")], ins=[X], out=X,
                               dev=[gpu(r, p, e, t) for t in range(TP)], replica=r, ep=e, stage=p)
                    for t in range(TP):
                        g.edge(g["O_PROJ", r, l, e, t], ar)
                    for t in range(TP):
                        rs = g.add(("RES_A", r, l, e, t), "RESIDUAL", layer=l, ins=[X, X], out=X,
                                   dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        g.edge(ar, rs)
                        g.edge(stream[e, t], rs)
                        stream[e, t] = rs
                # ---------------- MoE ----------------
                for e in range(EP):
                    for t in range(TP):
                        kw = dict(layer=l, dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        nm_ = g.add(("NORM_M", r, l, e, t), "RMSNORM", ins=[X], out=X, **kw)
                        g.edge(stream[e, t], nm_)
                        rt = g.add(("ROUTER", r, l, e, t), "ROUTER", shape="parallelogram",
                                   extras=[("EXPERTS", E), ("TOPK", K)], ins=[X], out=(B * S, H), **kw)
                        g.edge(nm_, rt)
                for t in range(TP):
                    ds = g.add(("DISP", r, l, t), "A2A_DISPATCH", shape="ellipse", layer=l,
                               extras=[("GROUP", "EP")], ins=[(B * S, H)], out=(T, H),
                               dev=[gpu(r, p, e, t) for e in range(EP)], replica=r, tp=t, stage=p)
                    for e in range(EP):
                        g.edge(g["ROUTER", r, l, e, t], ds)
                    for j in range(E):
                        ej = j // (E // EP)
                        ex = g.add(("EXP", r, l, j, t), "EXPERT_FFN", layer=l, expert=j, ins=[(T, H)],
                                   out=(T, H), dev=[gpu(r, p, ej, t)], replica=r, ep=ej, tp=t, stage=p)
                        g.edge(ds, ex)
                    cb = g.add(("COMB", r, l, t), "A2A_COMBINE", shape="ellipse", layer=l,
                               extras=[("GROUP", "EP")], ins=[(T, H)], out=(B * S * K, H),
                               dev=[gpu(r, p, e, t) for e in range(EP)], replica=r, tp=t, stage=p)
                    for j in range(E):
                        g.edge(g["EXP", r, l, j, t], cb)
                for e in range(EP):
                    for t in range(TP):
                        sm_ = g.add(("SUM", r, l, e, t), "EXPERT_SUM", shape="parallelogram", layer=l,
                                    extras=[("TOPK", K)], ins=[(B * S * K, H)], out=X,
                                    dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        g.edge(g["COMB", r, l, t], sm_)
                    ar = g.add(("AR_M", r, l, e), "ALL_REDUCE", shape="ellipse", layer=l,
                               extras=[("GROUP", "TP")], ins=[X], out=X,
                               dev=[gpu(r, p, e, t) for t in range(TP)], replica=r, ep=e, stage=p)
                    for t in range(TP):
                        g.edge(g["SUM", r, l, e, t], ar)
                    for t in range(TP):
                        rs = g.add(("RES_M", r, l, e, t), "RESIDUAL", layer=l, ins=[X, X], out=X,
                                   dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        g.edge(ar, rs)
                        g.edge(stream[e, t], rs)
                        stream[e, t] = rs
            if p < PP - 1:
                for e in range(EP):
                    for t in range(TP):
                        sd = g.add(("SEND", r, p, e, t), "SEND", shape="ellipse",
                                   extras=[("GROUP", "PP"), ("PEER", "GPU%d" % gpu(r, p + 1, e, t))],
                                   ins=[X], out=X, dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                        g.edge(stream[e, t], sd)
        # final norm, LM head (vocab parallel), all-gather, output
        p = PP - 1
        for e in range(EP):
            for t in range(TP):
                kw = dict(dev=[gpu(r, p, e, t)], replica=r, ep=e, tp=t, stage=p)
                fn = g.add(("FNORM", r, e, t), "FINAL_NORM", ins=[X], out=X, **kw)
                g.edge(stream[e, t], fn)
                lm = g.add(("LMHEAD", r, e, t), "LM_HEAD", extras=[("VOCAB", V)], ins=[X],
                           out=(B, S, V // TP), **kw)
                g.edge(fn, lm)
            ag = g.add(("AG", r, e), "ALL_GATHER", shape="ellipse", extras=[("GROUP", "TP")],
                       ins=[(B, S, V // TP)], out=(B, S, V), dev=[gpu(r, p, e, t) for t in range(TP)],
                       replica=r, ep=e, stage=p)
            for t in range(TP):
                g.edge(g["LMHEAD", r, e, t], ag)
            o = g.add(("OUTPUT", r, e), "OUTPUT", shape="house", ins=[(B, S, V)], replica=r, ep=e)
            g.edge(ag, o)
    g.gpu = gpu
    return g


CLEAN = {
    # MoE, EP and TP both > 1
    "clean_1": dict(EP=4, TP=2, PP=1, DP=1, L=2, H=2048, NH=16, HD=128, E=8, K=2, B=2, S=512, V=32000),
    # MoE, PP=2 (4 layers, 2 per stage)
    "clean_2": dict(EP=2, TP=2, PP=2, DP=1, L=4, H=4096, NH=32, HD=128, E=4, K=2, B=1, S=1024, V=64000),
    # MoE, DP=2 replicas
    "clean_3": dict(EP=2, TP=2, PP=1, DP=2, L=2, H=1024, NH=8, HD=128, E=4, K=2, B=4, S=256, V=32000),
}


# ----------------------------------------------------------------------------
# defects: each takes a deep copy of a clean graph, mutates it, returns
# (node ids where the defect is, one-sentence description)
# ----------------------------------------------------------------------------
def all_re(g):
    c = g.cfg
    for r in range(c["DP"]):
        for e in range(c["EP"]):
            for t in range(c["TP"]):
                yield r, e, t


def stage_of_layer(g, l):
    return l // (g.cfg["L"] // g.cfg["PP"])


# ---------- clean_1 (EP=4 TP=2 PP=1 DP=1) ----------
def d_attention_one_box(g):
    l, c = 1, g.cfg
    Hs = c["H"] // c["TP"]
    ids = []
    for r, e, t in all_re(g):
        na, op = g["NORM_A", r, l, e, t], g["O_PROJ", r, l, e, t]
        d = g.nodes[op]
        for nm in ("Q_PROJ", "K_PROJ", "V_PROJ", "ROPE_Q", "ROPE_K", "SCORE", "SOFTMAX", "CONTEXT"):
            g.rm_node(g[nm, r, l, e, t])
        n = g.add(None, "MULTI_HEAD_ATTENTION", layer=l,
                  extras=[("HEADS", c["NH"]), ("HEADS_PER_RANK", c["NH"] // c["TP"]), ("HEAD_DIM", c["HD"])],
                  ins=[(c["B"], c["S"], c["H"])], out=(c["B"], c["S"], Hs), dev=list(d["dev"]),
                  replica=r, ep=e, tp=t, stage=d["stage"])
        # keep it where the attention sat in the file order
        g.order.remove(n)
        g.order.insert(g.order.index(op), n)
        g.edge(na, n)
        g.edge(n, op)
        ids.append(n)
    return ids, ("Layer 1's attention is drawn on every TP rank as one MULTI_HEAD_ATTENTION box "
                 "(Q/K/V projections, RoPE, score, softmax and context collapsed) between the norm and O_PROJ.")


def d_v_bypasses_softmax(g):
    r, l, e, t = 0, 0, 1, 0
    sm, cx, op, v = g["SOFTMAX", r, l, e, t], g["CONTEXT", r, l, e, t], g["O_PROJ", r, l, e, t], g["V_PROJ", r, l, e, t]
    g.rm_edge(sm, cx)
    g.edge(sm, op)
    g.nodes[op]["ins"] = [g.nodes[cx]["out"], g.nodes[sm]["out"]]
    return [v, sm, cx, op], ("Layer 0, EP group 1, TP rank 0: the CONTEXT (weighted sum) is fed by V_PROJ only; "
                             "the SOFTMAX skips it and goes straight into O_PROJ.")


def d_v_into_score(g):
    l = 1
    ids = []
    for r, e, t in all_re(g):
        g.rm_node(g["ROPE_K", r, l, e, t])
        g.rm_node(g["K_PROJ", r, l, e, t])
        v, sc = g["V_PROJ", r, l, e, t], g["SCORE", r, l, e, t]
        g.edge(v, sc)
        ids += [v, sc]
    return ids, ("Layer 1 (all ranks): V_PROJ is wired into SCORE in place of the (removed) K projection, "
                 "so the score is Q x V^T.")


def d_qkv_into_oproj(g):
    l = 0
    ids = []
    for r, e, t in all_re(g):
        for nm in ("ROPE_Q", "ROPE_K", "SCORE", "SOFTMAX", "CONTEXT"):
            g.rm_node(g[nm, r, l, e, t])
        op = g["O_PROJ", r, l, e, t]
        for nm in ("Q_PROJ", "K_PROJ", "V_PROJ"):
            g.edge(g[nm, r, l, e, t], op)
        g.nodes[op]["ins"] = [g.nodes[op]["ins"][0]] * 3
        ids += [g[nm, r, l, e, t] for nm in ("Q_PROJ", "K_PROJ", "V_PROJ", "O_PROJ")]
    return ids, ("Layer 0 (all ranks): Q_PROJ, K_PROJ and V_PROJ go straight into O_PROJ; there is no "
                 "score, softmax or weighted sum.")


def d_head_arithmetic(g):
    l = 1
    ids = []
    for r, e, t in all_re(g):
        for nm in ("Q_PROJ", "K_PROJ", "V_PROJ"):
            n = g[nm, r, l, e, t]
            g.set_extra(n, "HEAD_DIM", 64)
            ids.append(n)
    return ids, ("Layer 1's Q/K/V projections declare HEADS=16 x HEAD_DIM=64 = 1024 heads-width, "
                 "but the hidden size is 2048 (and 8 heads per rank x 64 != the 1024-wide shard).")


def d_tp_heads(g):
    r, l, e, t = 0, 0, 2, 1
    c = g.cfg
    X = (c["B"], c["S"], c["H"])
    q, rq, sc = g["Q_PROJ", r, l, e, t], g["ROPE_Q", r, l, e, t], g["SCORE", r, l, e, t]
    g.nodes[q]["out"] = X
    g.set_extra(q, "HEADS_PER_RANK", c["NH"])
    g.nodes[rq]["ins"] = [X]
    g.nodes[rq]["out"] = X
    g.nodes[sc]["ins"] = [X, g.nodes[sc]["ins"][1]]
    return [q, rq, sc], ("Layer 0, EP group 2, TP rank 1: Q_PROJ outputs all 16 heads ([2,512,2048], "
                         "HEADS_PER_RANK=16) instead of 16/TP2 = 8 heads ([2,512,1024]).")


def d_experts_subset_ranks(g):
    l, c = 1, g.cfg
    ids = []
    # EP rank 3 holds experts 6,7: move them to EP ranks 0 and 1 -> rank 3 has none
    for j, new_e in ((6, 0), (7, 1)):
        for r in range(c["DP"]):
            for t in range(c["TP"]):
                n = g["EXP", r, l, j, t]
                g.nodes[n]["ep"] = new_e
                g.nodes[n]["dev"] = [g.gpu(r, stage_of_layer(g, l), new_e, t)]
                ids.append(n)
    return ids, ("Layer 1's experts sit only on EP ranks 0-2 (experts 6 and 7 moved from EP rank 3 to "
                 "ranks 0 and 1); EP rank 3 holds no expert.")


def d_experts_uneven(g):
    l, c = 0, g.cfg
    ids = []
    for r in range(c["DP"]):
        for t in range(c["TP"]):
            n = g["EXP", r, l, 7, t]
            g.nodes[n]["ep"] = 0
            g.nodes[n]["dev"] = [g.gpu(r, stage_of_layer(g, l), 0, t)]
            ids.append(n)
    return ids, ("Layer 0: expert 7 moved from EP rank 3 to EP rank 0, so the 8 experts are split "
                 "3/2/2/1 over the 4 EP ranks instead of 2 each.")


def d_experts_share_gpu(g):
    l, c = 1, g.cfg
    ids = []
    for r in range(c["DP"]):
        for t in range(c["TP"]):
            n = g["EXP", r, l, 2, t]
            g.nodes[n]["dev"] = [g.gpu(r, stage_of_layer(g, l), 0, t)]   # EP_RANK stays 1
            ids.append(n)
            ids.append(g["EXP", r, l, 0, t])
    return ids, ("Layer 1: expert 2 (EP_RANK=1) is placed on GPU0/GPU1, the GPUs of EP rank 0, "
                 "where experts 0 and 1 of EP rank 0 also run.")


def d_no_gate(g):
    l, c = 0, g.cfg
    ids = []
    for r, e, t in all_re(g):
        rt, nm_, ds = g["ROUTER", r, l, e, t], g["NORM_M", r, l, e, t], g["DISP", r, l, t]
        g.rm_node(rt)
        g.edge(nm_, ds)
        ids.append(nm_)
    for r in range(c["DP"]):
        for t in range(c["TP"]):
            ds = g["DISP", r, l, t]
            g.nodes[ds]["ins"] = [(c["B"], c["S"], c["H"])]
            ids.append(ds)
    return ids, ("Layer 0 has no ROUTER: the MoE norm output goes straight into the all-to-all "
                 "dispatch and on to the experts without any gate.")


def d_tp_rank_missing(g):
    r, l, e, t = 0, 1, 0, 1
    rk, k, sc = g["ROPE_K", r, l, e, t], g["K_PROJ", r, l, e, t], g["SCORE", r, l, e, t]
    g.rm_node(rk)
    g.edge(k, sc)
    return [k, sc, g["ROPE_K", r, l, e, 0]], ("Layer 1, EP group 0: the RoPE on K (a per-TP-rank operator) "
                                               "is drawn for TP rank 0 only; on TP rank 1 K_PROJ goes straight "
                                               "into SCORE.")


def d_strategy_mismatch(g):
    c = g.cfg
    g.strategy = "EP=%d TP=%d PP=%d DP=%d" % (c["EP"], 4, c["PP"], c["DP"])
    return [], ("The comment and label declare TP=4 but every TP operator is drawn for TP ranks 0-1 "
                "only (TP=2 drawn, 16 heads split 8 per rank).")


def d_gpu_out_of_range(g):
    # GPU7 (EP group 3, TP rank 1) is renumbered GPU12 everywhere, so every
    # edge still stays on one GPU or goes through a communication node.
    old, new = 7, 12
    ids = []
    for nid in g.order:
        d = g.nodes[nid]
        if d["dev"] and old in d["dev"]:
            d["dev"] = [new if x == old else x for x in d["dev"]]
            if len(d["dev"]) == 1:
                ids.append(nid)
    return ids, ("EP group 3 / TP rank 1 is placed on GPU12 (was GPU7), but EP4 x TP2 x PP1 x DP1 = 8 GPUs "
                 "gives only GPUs 0-7.")


def d_comm_wrong_shape(g):
    n = g["AR_A", 0, 1, 3]
    g.nodes[n]["shape"] = "box"
    g.nodes[n]["force_shape"] = True
    return [n], "Layer 1's attention all-reduce of EP group 3 is drawn as a box instead of an ellipse."


# ---------- clean_2 (EP=2 TP=2 PP=2 DP=1, 4 layers) ----------
def d_stage_count(g):
    c = g.cfg
    g.strategy = "EP=%d TP=%d PP=%d DP=%d" % (c["EP"], c["TP"], 3, c["DP"])
    return [], "The comment and label declare PP=3 but only two pipeline stages (clusters) are drawn."


def d_stage_range_gap(g):
    g.stage_label[1] = "PP=1 LAYERS=3..3"
    ids = [g["NORM_A", r, 2, e, t] for r, e, t in all_re(g)]
    return ids, ("Stage ranges are 0..1 and 3..3: layer 2 (drawn inside stage 1) is claimed by no stage, "
                "leaving a gap.")


def d_stage_missing_layer(g):
    l, c = 3, g.cfg
    ids = []
    for r, e, t in all_re(g):
        for nm in ("NORM_A", "Q_PROJ", "K_PROJ", "V_PROJ", "ROPE_Q", "ROPE_K", "SCORE", "SOFTMAX",
                   "CONTEXT", "O_PROJ", "RES_A", "NORM_M", "ROUTER", "SUM", "RES_M"):
            g.rm_node(g[nm, r, l, e, t])
    for r in range(c["DP"]):
        for e in range(c["EP"]):
            g.rm_node(g["AR_A", r, l, e])
            g.rm_node(g["AR_M", r, l, e])
        for t in range(c["TP"]):
            g.rm_node(g["DISP", r, l, t])
            g.rm_node(g["COMB", r, l, t])
            for j in range(c["E"]):
                g.rm_node(g["EXP", r, l, j, t])
    for r, e, t in all_re(g):
        a, b = g["RES_M", r, 2, e, t], g["FNORM", r, e, t]
        g.edge(a, b)
        ids += [a, b]
    return ids, ("Stage 1 claims LAYERS=2..3 but layer 3 has no operators: layer 2's residual goes "
                 "straight into FINAL_NORM.")


def d_no_stage_transfer(g):
    c = g.cfg
    ids = []
    for r, e, t in all_re(g):
        sd, rv = g["SEND", r, 0, e, t], g["RECV", r, 1, e, t]
        src = g["RES_M", r, 1, e, t]
        g.rm_node(sd)
        g.rm_node(rv)
        g.edge(src, g["NORM_A", r, 2, e, t])
        g.edge(src, g["RES_A", r, 2, e, t])
        ids += [src, g["NORM_A", r, 2, e, t], g["RES_A", r, 2, e, t]]
    return ids, ("Stage 0 (GPUs 0-3) and stage 1 (GPUs 4-7) are joined by plain edges from layer 1's "
                 "residuals into layer 2; the SEND/RECV pairs are gone.")


def d_stages_share_gpus(g):
    c = g.cfg
    shift = c["TP"]      # stage 1 moves from GPUs 4-7 to GPUs 2-5
    ids = []
    s0 = set()
    for nid in g.order:
        d = g.nodes[nid]
        if d["stage"] == 0 and d["dev"]:
            s0.update(d["dev"])
    for nid in g.order:
        d = g.nodes[nid]
        if d["stage"] == 1 and d["dev"]:
            d["dev"] = [x - shift for x in d["dev"]]
            if set(d["dev"]) & s0:
                ids.append(nid)
        if d["op"] in ("SEND", "RECV"):
            peer = int(dict(d["extras"])["PEER"][3:])
            if d["op"] == "SEND":
                g.set_extra(nid, "PEER", "GPU%d" % (peer - shift))
    return ids, ("Stage 1 is placed on GPUs 2-5, overlapping stage 0's GPUs 2-3 (EP group 1 of stage 0 "
                 "and EP group 0 of stage 1 share GPUs).")


def d_no_all_to_all(g):
    l, c = 1, g.cfg
    ids = []
    for r in range(c["DP"]):
        for t in range(c["TP"]):
            g.rm_node(g["DISP", r, l, t])
            for e in range(c["EP"]):
                rt = g["ROUTER", r, l, e, t]
                ids.append(rt)
                for j in range(c["E"]):
                    g.edge(rt, g["EXP", r, l, j, t])
            ids += [g["EXP", r, l, j, t] for j in range(c["E"])]
    return ids, ("Layer 1 has no A2A_DISPATCH: every ROUTER sends its tokens directly to the experts of "
                 "both EP ranks (EP=2), including those on other GPUs.")


def d_no_allreduce_after_rowparallel(g):
    r, l, e = 0, 2, 1
    ar = g["AR_A", r, l, e]
    g.rm_node(ar)
    ids = []
    for t in range(g.cfg["TP"]):
        op, rs = g["O_PROJ", r, l, e, t], g["RES_A", r, l, e, t]
        g.edge(op, rs)
        ids += [op, rs]
    return ids, ("Layer 2, EP group 1: the row-parallel O_PROJ partial sums go straight into the "
                 "residual add; the TP all-reduce is missing.")


def d_moe_before_attention(g):
    l, c = 3, g.cfg
    ids = []
    for r, e, t in all_re(g):
        na, ra = g["NORM_A", r, l, e, t], g["RES_A", r, l, e, t]
        nm_, rm = g["NORM_M", r, l, e, t], g["RES_M", r, l, e, t]
        x = [u for u in g.preds(na)][0]
        nxt = g.succs(rm)
        g.rm_edge(x, na)
        g.rm_edge(x, ra)
        g.rm_edge(ra, nm_)
        g.rm_edge(ra, rm)
        for w in nxt:
            g.rm_edge(rm, w)
        g.edge(x, nm_)
        g.edge(x, rm)
        g.edge(rm, na)
        g.edge(rm, ra)
        for w in nxt:
            g.edge(ra, w)
        ids += [nm_, rm, na, ra]
    return ids, ("Layer 3: the MoE sublayer (norm, router, experts, residual) is wired before the "
                 "attention sublayer, whose residual then feeds the final norm.")


# ---------- clean_3 (EP=2 TP=2 PP=1 DP=2) ----------
def d_cycle(g):
    r, l, j, t = 0, 1, 0, 0
    ex, ds = g["EXP", r, l, j, t], g["DISP", r, l, t]
    g.edge(ex, ds)
    return [ds, ex], ("Replica 0, layer 1: expert 0 (TP shard 0) feeds back into the A2A_DISPATCH that "
                      "feeds it (dispatch -> expert and expert -> dispatch), a cycle.")


def d_dangling_input(g):
    r, l, e, t = 0, 0, 1, 0
    k = g["K_PROJ", r, l, e, t]
    g.rm_edge(g["NORM_A", r, l, e, t], k)
    return [k], "Replica 0, layer 0, EP group 1, TP rank 0: K_PROJ has no incoming edge."


def d_dangling_output(g):
    r, l, e, t = 1, 1, 0, 1
    k, rk, sc = g["K_PROJ", r, l, e, t], g["ROPE_K", r, l, e, t], g["SCORE", r, l, e, t]
    g.rm_edge(rk, sc)
    g.edge(k, sc)
    return [rk], ("Replica 1, layer 1, EP group 0, TP rank 1: the ROPE on K has no outgoing edge "
                  "(K_PROJ feeds SCORE directly).")


def d_edge_shape_mismatch(g):
    r, l, e, t = 1, 1, 1, 0
    c = g.cfg
    op = g["O_PROJ", r, l, e, t]
    g.nodes[op]["ins"] = [(c["B"], c["S"], 384)]
    return [g["CONTEXT", r, l, e, t], op], ("Replica 1, layer 1, EP group 1, TP rank 0: O_PROJ declares "
                                            "IN=[4,256,384] but its producer CONTEXT outputs [4,256,512] "
                                            "(factor 4/3, not a parallel degree).")


def d_shard_without_gather(g):
    r, e = 1, 1
    ag, o = g["AG", r, e], g["OUTPUT", r, e]
    g.rm_node(ag)
    ids = [o]
    for t in range(g.cfg["TP"]):
        lm = g["LMHEAD", r, e, t]
        g.edge(lm, o)
        ids.append(lm)
    return ids, ("Replica 1, EP group 1: the vocab-sharded LM_HEAD outputs [4,256,16000] (32000/TP2) go "
                 "straight into OUTPUT, which expects [4,256,32000]; the all-gather is missing.")


def d_cross_gpu_no_comm(g):
    r, l, e = 0, 0, 0
    q = g["Q_PROJ", r, l, e, 1]
    g.rm_edge(g["NORM_A", r, l, e, 1], q)
    g.edge(g["NORM_A", r, l, e, 0], q)
    return [g["NORM_A", r, l, e, 0], q], ("Replica 0, layer 0: Q_PROJ of TP rank 1 (GPU1) takes its input "
                                          "from the RMSNORM of TP rank 0 (GPU0) by a plain edge.")


def d_missing_gpu(g):
    n = g["SOFTMAX", 0, 1, 1, 1]
    g.nodes[n]["dev"] = None
    return [n], "Replica 0, layer 1, EP group 1, TP rank 1: the SOFTMAX node has no DEV line."


def d_missing_shapes(g):
    n = g["V_PROJ", 1, 0, 0, 1]
    g.nodes[n]["ins"] = None
    g.nodes[n]["out"] = None
    return [n], "Replica 1, layer 0, EP group 0, TP rank 1: V_PROJ has no IN/OUT lines."


def d_placeholder(g):
    c = g.cfg
    n = g["NORM_M", 0, 1, 0, 0]
    g.nodes[n]["ins"] = [("?", c["S"], c["H"])]
    g.nodes[n]["out"] = ("?", c["S"], c["H"])
    return [n], "Replica 0, layer 1, EP group 0, TP rank 0: the MoE RMSNORM gives its batch as '?' (IN=[?,256,1024])."


def d_missing_residual(g):
    r, l, e, t = 1, 0, 1, 1
    rm, ra = g["RES_M", r, l, e, t], g["RES_A", r, l, e, t]
    g.rm_edge(ra, rm)
    return [rm], ("Replica 1, layer 0, EP group 1, TP rank 1: the MoE RESIDUAL is fed only by the expert "
                  "all-reduce; the skip edge from the attention residual is missing.")


DEFECTS = [
    # kind, base, category, function
    ("cycle", "clean_3", "structure", d_cycle),
    ("dangling_input", "clean_3", "structure", d_dangling_input),
    ("dangling_output", "clean_3", "structure", d_dangling_output),
    ("attention_one_box", "clean_1", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "clean_1", "attention", d_v_bypasses_softmax),
    ("v_into_score", "clean_1", "attention", d_v_into_score),
    ("qkv_into_oproj", "clean_1", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", "attention", d_head_arithmetic),
    ("tp_heads", "clean_1", "attention", d_tp_heads),
    ("edge_shape_mismatch", "clean_3", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_3", "shape", d_shard_without_gather),
    ("stage_count", "clean_2", "pipeline", d_stage_count),
    ("stage_range_gap", "clean_2", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "clean_2", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "clean_2", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_1", "expert", d_experts_subset_ranks),
    ("experts_uneven", "clean_1", "expert", d_experts_uneven),
    ("experts_share_gpu", "clean_1", "expert", d_experts_share_gpu),
    ("no_gate", "clean_1", "expert", d_no_gate),
    ("no_all_to_all", "clean_2", "expert", d_no_all_to_all),
    ("tp_rank_missing", "clean_1", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_2", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_3", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", "communication", d_comm_wrong_shape),
    ("missing_gpu", "clean_3", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_2", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "clean_1", "strategy", d_strategy_mismatch),
    ("missing_shapes", "clean_3", "annotation", d_missing_shapes),
    ("placeholder", "clean_3", "annotation", d_placeholder),
    ("moe_before_attention", "clean_2", "structure", d_moe_before_attention),
    ("missing_residual", "clean_3", "structure", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct MoE DAG, EP=4 TP=2 PP=1 DP=1: 2 layers, hidden 2048 (16 heads x 128), 8 experts top-2, "
               "2 experts per EP rank tensor-sharded over the TP pair, 8 GPUs.",
    "clean_2": "Correct MoE DAG, EP=2 TP=2 PP=2 DP=1: 4 layers (stage 0 = layers 0-1 on GPUs 0-3, stage 1 = "
               "layers 2-3 on GPUs 4-7, joined by per-rank SEND/RECV), hidden 4096 (32 x 128), 4 experts top-2.",
    "clean_3": "Correct MoE DAG, EP=2 TP=2 PP=1 DP=2: 2 layers, hidden 1024 (8 x 128), 4 experts top-2, "
               "replica 0 on GPUs 0-3 and replica 1 on GPUs 4-7 (REPLICA lines).",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    clean = {}
    for name, cfg in CLEAN.items():
        g = build(cfg)
        clean[name] = g
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(render(g))
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": CLEAN_WHAT[name], "base": None})
    for kind, base, cat, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(render(g))
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes,
                         "what": what, "base": base + ".dot"})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
