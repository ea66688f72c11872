#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in house style "bc".

python3 gen.py  ->  out/clean_{1,2,3}.dot, out/defect_<kind>.dot, out/manifest.json

House style bc
  * one cluster per decoder layer (label "Decoder layer N"), nested in stage clusters
    (label "Stage S\\nlayers a–b"); with DP > 1 the stages sit in a replica cluster
    ("dp replica R") and ids carry a "dpR_" prefix.
  * node labels carry no layer number: first line is a short operator name repeated in
    every layer (RMSNorm, Q, K, V, QKᵀ, softmax, PV, O-proj, + residual, router, expert 5,
    all-reduce, all-to-all, ...); the layer is in the cluster and the id (L3_q_t1).
  * later label lines: "in 4×2048×4096", "out 4×2048×1024", "dev 3" (no colon, ×).
    Several inputs: "in A, B".  Devices: "dev 3", "dev 0-7", "dev 0,2,4,6".
  * strategy in the graph label, first line: "ep4 tp2 pp2 dp1 — 16 gpus".
  own quirks
  * every communication node carries a group line: "grp tp" / "grp ep" / "grp pp";
    a pipeline transfer's device line names both sides: "dev 0-7 → 8-15".
  * fill colour coding: one colour per TP rank (attention / MLP shards), one per EP rank
    (experts), orange communication, lavender routing, white for replicated operators;
    input/output drawn as invhouse/house; a "// ── layer N ──" comment heads each layer's edges.
  Conventions of the drawings
  * attention of a MoE stage runs TP-sharded and data-parallel over the EP groups of the
    stage: the TP-rank-t node covers GPU t of every EP group ("dev 1,3,5,7"); shapes are
    per attention group.  Experts are one node per expert on the TP group of its EP rank
    (its internal TP reduction is part of the node).
  * GPU id = ((dp*PP + pp)*EP + ep)*TP + tp; total = EP*TP*PP*DP.
"""
import copy
import json
import os
import subprocess
import sys

X = "×"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

TP_FILL = ["#d6e6f5", "#d9efd3", "#fbf0c4", "#f4d7dc"]
EP_FILL = ["#c9def2", "#cfe8c6", "#f6e3a6", "#efc3cb"]
COMM_FILL = "#fbd2a5"
ROUTE_FILL = "#e2d6f3"
IO_FILL = "#eeeeee"


def sh(*d):
    return X.join(str(x) for x in d)


def devs(ids):
    ids = sorted(set(ids))
    if len(ids) == 1:
        return str(ids[0])
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "%d-%d" % (ids[0], ids[-1])
    return ",".join(str(i) for i in ids)


def parse_dev(s):
    if s is None:
        return None
    out = set()
    for part in s.replace("→", ",").split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


# ----------------------------------------------------------------------------- model

class G:
    def __init__(self, name, label, header):
        self.name = name
        self.label = label
        self.header = header
        self.clusters = {}  # cid -> {"label", "parent"} in insertion order
        self.nodes = {}  # nid -> dict
        self.edges = []  # dicts: a, b, group, attrs

    def cluster(self, cid, label, parent=None):
        self.clusters[cid] = {"label": label, "parent": parent}
        return cid

    def node(self, nid, op, inp=None, out=None, dev=None, kind="comp", cluster=None,
             fill="#ffffff", grp=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, inp=inp, out=out, dev=dev, kind=kind,
                               cluster=cluster, fill=fill, grp=grp, shape=None)
        return nid

    def edge(self, a, b, group, **attrs):
        self.edges.append(dict(a=a, b=b, group=group, attrs=attrs))

    # edits used by the defect injectors
    def n(self, nid):
        return self.nodes[nid]

    def find_edge(self, a, b):
        for i, e in enumerate(self.edges):
            if e["a"] == a and e["b"] == b:
                return i
        raise KeyError((a, b))

    def rm_edge(self, a, b):
        del self.edges[self.find_edge(a, b)]

    def add_edge_after(self, a, b, after, **attrs):
        i = self.find_edge(*after)
        grp = self.edges[i]["group"]
        self.edges.insert(i + 1, dict(a=a, b=b, group=grp, attrs=attrs))

    def redirect(self, old, new):
        i = self.find_edge(*old)
        self.edges[i]["a"], self.edges[i]["b"] = new

    def rm_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e["a"] != nid and e["b"] != nid]

    def rename(self, old, new):
        d = {}
        for k, v in self.nodes.items():
            d[new if k == old else k] = v
        self.nodes = d
        for e in self.edges:
            if e["a"] == old:
                e["a"] = new
            if e["b"] == old:
                e["b"] = new

    def preds(self, nid):
        return [e["a"] for e in self.edges if e["b"] == nid]

    def succs(self, nid):
        return [e["b"] for e in self.edges if e["a"] == nid]

    # rendering
    @staticmethod
    def q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    def node_line(self, nid, ind):
        n = self.nodes[nid]
        lines = [n["op"]]
        if n["inp"] is not None:
            lines.append("in " + n["inp"])
        if n["out"] is not None:
            lines.append("out " + n["out"])
        if n["dev"] is not None:
            lines.append("dev " + n["dev"])
        if n["grp"] is not None:
            lines.append("grp " + n["grp"])
        attrs = ["label=" + self.q("\n".join(lines))]
        shape = n["shape"] or {"comp": None, "comm": "ellipse", "route": "parallelogram",
                               "in": "invhouse", "out": "house"}[n["kind"]]
        if shape:
            attrs.append("shape=" + shape)
        attrs.append("fillcolor=" + self.q(n["fill"]))
        return "%s%s [%s];" % (ind, nid, ", ".join(attrs))

    def render(self):
        out = list(self.header)
        out.append("digraph %s {" % self.name)
        out.append("  label=%s;" % self.q(self.label))
        out.append('  labelloc=t; fontname="Helvetica"; rankdir=TB; newrank=true;')
        out.append('  node [shape=box, style="rounded,filled", fontname="Helvetica", '
                   'fontsize=10];')
        out.append('  edge [fontname="Helvetica", fontsize=9];')
        children = {}
        for cid, c in self.clusters.items():
            children.setdefault(c["parent"], []).append(cid)
        members = {}
        for nid, n in self.nodes.items():
            members.setdefault(n["cluster"], []).append(nid)

        def nonempty(cid):
            return bool(members.get(cid)) or any(nonempty(k) for k in children.get(cid, []))

        def emit(parent, depth):
            ind = "  " * depth
            for nid in members.get(parent, []):
                out.append(self.node_line(nid, ind))
            for cid in children.get(parent, []):
                if not nonempty(cid):
                    continue
                out.append("%ssubgraph %s {" % (ind, cid))
                out.append("%s  label=%s;" % (ind, self.q(self.clusters[cid]["label"])))
                emit(cid, depth + 1)
                out.append("%s}" % ind)

        emit(None, 1)
        groups = []
        for e in self.edges:
            if e["group"] not in groups:
                groups.append(e["group"])
        for g in groups:
            out.append("")
            out.append("  // ── %s ──" % g)
            for e in self.edges:
                if e["group"] != g:
                    continue
                a = ""
                if e["attrs"]:
                    a = " [" + ", ".join("%s=%s" % (k, v) for k, v in e["attrs"].items()) + "]"
                out.append("  %s -> %s%s;" % (e["a"], e["b"], a))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- builder

def build(name, spec, title):
    EP, TP, PP, DP = spec["ep"], spec["tp"], spec["pp"], spec["dp"]
    L, H, NH, HD = spec["layers"], spec["hidden"], spec["heads"], spec["hd"]
    B, S, V = spec["batch"], spec["seq"], spec["vocab"]
    E, K = spec.get("experts"), spec.get("topk")
    assert NH * HD == H and NH % TP == 0 and L % PP == 0
    ngpu = EP * TP * PP * DP
    strat = "ep%d tp%d pp%d dp%d — %d gpus" % (EP, TP, PP, DP, ngpu)
    if E:
        desc = "moe, %d experts top-%d · hidden %d · %d heads × %d · %d layers" % (
            E, K, H, NH, HD, L)
    else:
        desc = "dense, ffn %d · hidden %d · %d heads × %d · %d layers" % (
            spec["ffn"], H, NH, HD, L)
    header = ["// %s" % title,
              "// house style bc, drawn by gen.py; shapes per %s, dims b×s×h"
              % ("attention group (one per EP rank)" if E else "replica")]
    g = G(name, strat + "\n" + desc, header)
    hl = NH // TP  # heads per TP rank
    act = sh(B, S, H)
    per_stage = L // PP

    def gpu(d, p, e, t):
        return ((d * PP + p) * EP + e) * TP + t

    for d in range(DP):
        px = "dp%d_" % d if DP > 1 else ""
        gtag = "dp%d · " % d if DP > 1 else ""
        parent = None
        if DP > 1:
            parent = g.cluster("cluster_dp%d" % d, "dp replica %d" % d)
        inp = g.node(px + "input", "input", out=sh(B, S), kind="in", cluster=parent,
                     fill=IO_FILL)
        prev = None
        for p in range(PP):
            stage_all = [gpu(d, p, e, t) for e in range(EP) for t in range(TP)]
            dall = devs(stage_all)
            l0, l1 = p * per_stage, (p + 1) * per_stage - 1
            sc = g.cluster("cluster_%ss%d" % (px, p), "Stage %d\nlayers %d–%d" % (p, l0, l1),
                           parent)
            if p == 0:
                prev = g.node(px + "embed", "embedding", sh(B, S), act, dall, cluster=sc)
                g.edge(inp, prev, gtag + "embedding")
            else:
                pdevs = [gpu(d, p - 1, e, t) for e in range(EP) for t in range(TP)]
                tr = g.node("%spp_%dto%d" % (px, p - 1, p), "send/recv", act, act,
                            "%s → %s" % (devs(pdevs), dall), kind="comm", cluster=parent,
                            fill=COMM_FILL, grp="pp")
                grp_name = gtag + "stage %d → stage %d" % (p - 1, p)
                g.edge(prev, tr, grp_name)
                prev = tr
            for l in range(l0, l1 + 1):
                lc = g.cluster("cluster_%sL%d" % (px, l), "Decoder layer %d" % l, sc)
                grp_name = gtag + "layer %d" % l
                pl = "%sL%d_" % (px, l)

                def N(suffix, *a, **k):
                    return g.node(pl + suffix, *a, cluster=lc, **k)

                def Ed(a, b, **k):
                    g.edge(a, b, grp_name, **k)

                n1 = N("norm1", "RMSNorm", act, act, dall)
                Ed(prev, n1)
                ar1 = N("ar1", "all-reduce", act, act, dall, kind="comm", fill=COMM_FILL,
                        grp="tp")
                qshape = sh(B, S, hl, HD)
                for t in range(TP):
                    dt = devs([gpu(d, p, e, t) for e in range(EP)])
                    f = TP_FILL[t]
                    q = N("q_t%d" % t, "Q", act, qshape, dt, fill=f)
                    k = N("k_t%d" % t, "K", act, qshape, dt, fill=f)
                    v = N("v_t%d" % t, "V", act, qshape, dt, fill=f)
                    sc_ = N("qk_t%d" % t, "QKᵀ", qshape + ", " + qshape, sh(B, hl, S, S),
                            dt, fill=f)
                    sm = N("sm_t%d" % t, "softmax", sh(B, hl, S, S), sh(B, hl, S, S), dt,
                           fill=f)
                    pv = N("pv_t%d" % t, "PV", sh(B, hl, S, S) + ", " + qshape,
                           sh(B, S, hl * HD), dt, fill=f)
                    o = N("o_t%d" % t, "O-proj", sh(B, S, hl * HD), act, dt, fill=f)
                    for x in (q, k, v):
                        Ed(n1, x)
                    Ed(q, sc_)
                    Ed(k, sc_)
                    Ed(sc_, sm)
                    Ed(sm, pv)
                    Ed(v, pv)
                    Ed(pv, o)
                    Ed(o, ar1)
                r1 = N("res1", "+ residual", act + ", " + act, act, dall)
                Ed(ar1, r1)
                Ed(prev, r1)
                n2 = N("norm2", "RMSNorm", act, act, dall)
                Ed(r1, n2)
                r2_in = None
                if E:
                    ntok = B * S * K  # routed token copies per attention group
                    per_exp = ntok * EP // E
                    rt = N("router", "router", act, sh(ntok, H), dall, kind="route",
                           fill=ROUTE_FILL)
                    a2d = N("a2a_disp", "all-to-all", sh(ntok, H), sh(per_exp, H), dall,
                            kind="comm", fill=COMM_FILL, grp="ep")
                    a2c = N("a2a_comb", "all-to-all", sh(per_exp, H), sh(ntok, H), dall,
                            kind="comm", fill=COMM_FILL, grp="ep")
                    cb = N("combine", "combine", sh(ntok, H), act, dall, kind="route",
                           fill=ROUTE_FILL)
                    Ed(n2, rt)
                    Ed(rt, a2d, style="dashed")
                    for j in range(E):
                        r = j // (E // EP)
                        de = devs([gpu(d, p, r, t) for t in range(TP)])
                        ex = N("e%d_ep%d" % (j, r), "expert %d" % j, sh(per_exp, H),
                               sh(per_exp, H), de, fill=EP_FILL[r % 4])
                        Ed(a2d, ex)
                        Ed(ex, a2c)
                    Ed(a2c, cb)
                    r2_in = cb
                else:
                    F = spec["ffn"] // TP
                    ar2 = N("ar2", "all-reduce", act, act, dall, kind="comm", fill=COMM_FILL,
                            grp="tp")
                    for t in range(TP):
                        dt = devs([gpu(d, p, e, t) for e in range(EP)])
                        f = TP_FILL[t]
                        up = N("up_t%d" % t, "up", act, sh(B, S, F), dt, fill=f)
                        ac = N("act_t%d" % t, "gelu", sh(B, S, F), sh(B, S, F), dt, fill=f)
                        dn = N("down_t%d" % t, "down", sh(B, S, F), act, dt, fill=f)
                        Ed(n2, up)
                        Ed(up, ac)
                        Ed(ac, dn)
                        Ed(dn, ar2)
                    r2_in = ar2
                r2 = N("res2", "+ residual", act + ", " + act, act, dall)
                Ed(r2_in, r2)
                Ed(r1, r2)
                prev = r2
            if p == PP - 1:
                fn = g.node(px + "final_norm", "final RMSNorm", act, act, dall, cluster=sc)
                lm = g.node(px + "lm_head", "LM head", act, sh(B, S, V), dall, cluster=sc)
                o = g.node(px + "output", "output", sh(B, S, V), kind="out", cluster=parent,
                           fill=IO_FILL)
                grp_name = gtag + "head"
                g.edge(prev, fn, grp_name)
                g.edge(fn, lm, grp_name)
                g.edge(lm, o, grp_name)
    g.spec = dict(spec, ngpu=ngpu)
    return g


# ----------------------------------------------------------------------------- self-check

def check_clean(g):
    """Rules of section 2 that the model can check; raises on any violation."""
    errs = []
    ids = set(g.nodes)
    for e in g.edges:
        if e["a"] not in ids or e["b"] not in ids:
            errs.append("edge to unknown node %s->%s" % (e["a"], e["b"]))
    # acyclic + reachability
    indeg = {n: 0 for n in ids}
    for e in g.edges:
        indeg[e["b"]] += 1
    order, ready = [], [n for n in ids if indeg[n] == 0]
    while ready:
        n = ready.pop()
        order.append(n)
        for s in g.succs(n):
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(order) != len(ids):
        errs.append("cycle")
    for nid, n in g.nodes.items():
        if n["kind"] != "in" and not g.preds(nid):
            errs.append("no input edge " + nid)
        if n["kind"] != "out" and not g.succs(nid):
            errs.append("no output edge " + nid)
        if n["kind"] in ("comp", "route", "comm"):
            if n["inp"] is None or n["out"] is None or n["dev"] is None:
                errs.append("missing annotation " + nid)
            elif max(parse_dev(n["dev"])) >= g.spec["ngpu"]:
                errs.append("gpu out of range " + nid)
    # shapes + cross-gpu
    for e in g.edges:
        a, b = g.nodes[e["a"]], g.nodes[e["b"]]
        if a["out"] is not None and b["inp"] is not None:
            if a["out"] not in [s.strip() for s in b["inp"].split(",")]:
                errs.append("shape %s(%s) -> %s(%s)" % (e["a"], a["out"], e["b"], b["inp"]))
        if a["kind"] != "comm" and b["kind"] != "comm" and a["dev"] and b["dev"]:
            da, db = parse_dev(a["dev"]), parse_dev(b["dev"])
            if not (da <= db or db <= da):
                errs.append("cross-gpu %s -> %s" % (e["a"], e["b"]))
    # attention wiring per TP rank
    for nid in ids:
        if "_pv_t" in nid:
            ps = sorted(g.nodes[x]["op"] for x in g.preds(nid))
            if ps != ["V", "softmax"]:
                errs.append("pv inputs " + nid + str(ps))
        if "_qk_t" in nid:
            ps = sorted(g.nodes[x]["op"] for x in g.preds(nid))
            if ps != ["K", "Q"]:
                errs.append("qk inputs " + nid + str(ps))
    if errs:
        raise SystemExit("clean graph %s is not clean:\n  " % g.name + "\n  ".join(errs))


# ----------------------------------------------------------------------------- specs

SPEC1 = dict(ep=4, tp=2, pp=2, dp=1, layers=4, hidden=2048, heads=16, hd=128,
             batch=4, seq=512, vocab=32000, experts=8, topk=2)
SPEC2 = dict(ep=2, tp=4, pp=1, dp=1, layers=2, hidden=4096, heads=32, hd=128,
             batch=2, seq=1024, vocab=32000, experts=4, topk=2)
SPEC3 = dict(ep=1, tp=2, pp=1, dp=2, layers=3, hidden=1024, heads=16, hd=64,
             batch=4, seq=512, vocab=32000, ffn=4096)


# ----------------------------------------------------------------------------- defects
# each returns (nodes, what); it edits a deep copy of its base graph in place

def d_cycle(g):
    g.add_edge_after("L2_a2a_comb", "L2_e3_ep1", ("L2_e3_ep1", "L2_a2a_comb"))
    return (["L2_e3_ep1", "L2_a2a_comb"],
            "Layer 2's combine all-to-all L2_a2a_comb is drawn both ways with expert 3 "
            "(EP rank 1, dev 10-11): L2_e3_ep1 -> L2_a2a_comb and L2_a2a_comb -> L2_e3_ep1, "
            "a two-node cycle.")


def d_dangling_input(g):
    g.rm_edge("L1_norm1", "L1_k_t2")
    return (["L1_k_t2"],
            "Layer 1, TP rank 2 (dev 2,6): the K projection L1_k_t2 has no incoming edge "
            "(its input from RMSNorm L1_norm1 was removed), although it still feeds L1_qk_t2.")


def d_dangling_output(g):
    g.rm_edge("L2_e5_ep2", "L2_a2a_comb")
    return (["L2_e5_ep2"],
            "Expert 5 of layer 2 (EP rank 2, dev 12-13) has no outgoing edge: its output "
            "never reaches the combine all-to-all L2_a2a_comb.")


def d_attention_one_box(g):
    for t, dv in ((0, "8,10,12,14"), (1, "9,11,13,15")):
        for s in ("q", "k", "v", "qk", "sm", "pv"):
            g.rm_node("L3_%s_t%d" % (s, t))
        nid = g.node("L3_attn_t%d" % t, "attention", sh(4, 512, 2048), sh(4, 512, 1024), dv,
                     cluster="cluster_L3", fill=TP_FILL[t])
        # put the box where the Q node used to be drawn (before the O-proj)
        items = list(g.nodes.items())
        box = items.pop()
        pos = [k for k, _ in items].index("L3_o_t%d" % t)
        items.insert(pos, box)
        g.nodes = dict(items)
        i = g.find_edge("L3_o_t%d" % t, "L3_ar1")
        g.edges.insert(i, dict(a="L3_norm1", b=nid, group="layer 3", attrs={}))
        g.edges.insert(i + 1, dict(a=nid, b="L3_o_t%d" % t, group="layer 3", attrs={}))
    return (["L3_attn_t0", "L3_attn_t1"],
            "Layer 3's attention is drawn as one 'attention' box per TP rank (L3_attn_t0 on "
            "dev 8,10,12,14 and L3_attn_t1 on dev 9,11,13,15) instead of Q, K, V projections, "
            "QKᵀ score, softmax and PV weighted sum.")


def d_v_bypasses_softmax(g):
    g.redirect(("L0_sm_t2", "L0_pv_t2"), ("L0_sm_t2", "L0_o_t2"))
    o = g.n("L0_o_t2")
    o["inp"] = o["inp"] + ", " + g.n("L0_sm_t2")["out"]
    return (["L0_v_t2", "L0_pv_t2", "L0_sm_t2", "L0_o_t2"],
            "Layer 0, TP rank 2 (dev 2,6): V L0_v_t2 feeds the weighted sum L0_pv_t2 but the "
            "softmax L0_sm_t2 does not (it goes straight to the output projection L0_o_t2), "
            "so V bypasses the attention probabilities.")


def d_v_into_score(g):
    g.redirect(("L0_k_t1", "L0_qk_t1"), ("L0_v_t1", "L0_qk_t1"))
    g.redirect(("L0_v_t1", "L0_pv_t1"), ("L0_k_t1", "L0_pv_t1"))
    return (["L0_v_t1", "L0_k_t1", "L0_qk_t1", "L0_pv_t1"],
            "Layer 0, TP rank 1 (dev 1,3,5,7): V L0_v_t1 is wired into the score L0_qk_t1 "
            "instead of K, and K L0_k_t1 feeds the weighted sum L0_pv_t1 (K and V swapped).")


def d_qkv_into_oproj(g):
    for t in (0, 1):
        for s in ("qk", "sm", "pv"):
            g.rm_node("dp1_L1_%s_t%d" % (s, t))
        i = g.find_edge("dp1_L1_o_t%d" % t, "dp1_L1_ar1")
        for j, s in enumerate(("q", "k", "v")):
            g.edges.insert(i + j, dict(a="dp1_L1_%s_t%d" % (s, t), b="dp1_L1_o_t%d" % t,
                                       group="dp1 · layer 1", attrs={}))
        qs = g.n("dp1_L1_q_t%d" % t)["out"]
        g.n("dp1_L1_o_t%d" % t)["inp"] = ", ".join([qs] * 3)
    return (["dp1_L1_q_t0", "dp1_L1_k_t0", "dp1_L1_v_t0", "dp1_L1_o_t0",
             "dp1_L1_q_t1", "dp1_L1_k_t1", "dp1_L1_v_t1", "dp1_L1_o_t1"],
            "DP replica 1, layer 1: Q, K and V go straight into the output projection "
            "(dp1_L1_o_t0 on dev 2, dp1_L1_o_t1 on dev 3) on both TP ranks; no QKᵀ score, "
            "softmax or PV weighted sum is drawn.")


def d_head_arithmetic(g):
    for t in range(4):
        p = "L1_%s_t%d"
        for s in ("q", "k", "v"):
            g.n(p % (s, t))["out"] = sh(2, 1024, 8, 64)
        g.n(p % ("qk", t))["inp"] = sh(2, 1024, 8, 64) + ", " + sh(2, 1024, 8, 64)
        g.n(p % ("pv", t))["inp"] = sh(2, 8, 1024, 1024) + ", " + sh(2, 1024, 8, 64)
        g.n(p % ("pv", t))["out"] = sh(2, 1024, 512)
        g.n(p % ("o", t))["inp"] = sh(2, 1024, 512)
    return (["L1_q_t%d" % t for t in range(4)] + ["L1_k_t%d" % t for t in range(4)]
            + ["L1_v_t%d" % t for t in range(4)],
            "Layer 1 labels Q/K/V as 8 heads × head_dim 64 on every TP rank (8×64 = 512 per "
            "rank, 32×64 = 2048 in total) while hidden is 4096 (4096/tp4 = 1024 per rank, "
            "32 heads × 128).")


def d_tp_heads(g):
    full, sc = sh(4, 512, 16, 128), sh(4, 16, 512, 512)
    for s in ("q", "k", "v"):
        g.n("L0_%s_t0" % s)["out"] = full
    g.n("L0_qk_t0").update(inp=full + ", " + full, out=sc)
    g.n("L0_sm_t0").update(inp=sc, out=sc)
    g.n("L0_pv_t0").update(inp=sc + ", " + full, out=sh(4, 512, 2048))
    g.n("L0_o_t0")["inp"] = sh(4, 512, 2048)
    return (["L0_q_t0", "L0_k_t0", "L0_v_t0"],
            "Layer 0, TP rank 0 of tp2 (dev 0,2,4,6): the Q, K and V projections output all "
            "16 heads (16×128 = 2048) instead of 16/2 = 8 heads (1024) per rank, and the "
            "rank's score, softmax and PV carry 16 heads.")


def d_edge_shape_mismatch(g):
    g.n("dp0_L1_norm2")["inp"] = sh(4, 512, 768)
    return (["dp0_L1_res1", "dp0_L1_norm2"],
            "DP replica 0, layer 1: RMSNorm dp0_L1_norm2 expects 4×512×768 but its producer "
            "dp0_L1_res1 outputs 4×512×1024 (ratio 4/3, not a parallel degree).")


def d_shard_without_gather(g):
    g.rename("L1_ar1", "L1_rs1")
    g.n("L1_rs1").update(op="reduce-scatter", out=sh(2, 1024, 1024))
    return (["L1_rs1", "L1_res1"],
            "Layer 1's row-parallel O-proj outputs are reduce-scattered (L1_rs1) into "
            "hidden/tp4 = 1024 shards (2×1024×1024) that go straight into the full-size "
            "(hidden 4096) residual add L1_res1 with no all-gather.")


def d_stage_count(g):
    g.label = g.label.replace("pp2", "pp3").replace("16 gpus", "24 gpus")
    return ([],
            "The graph label declares pp3 (24 gpus) but only two pipeline stages are drawn "
            "(Stage 0 layers 0–1 on dev 0-7, Stage 1 layers 2–3 on dev 8-15).")


def d_stage_range_gap(g):
    g.clusters["cluster_s0"]["label"] = "Stage 0\nlayers 0–0"
    return (["L1_norm1", "L1_res2"],
            "Stage 0 claims layers 0–0 and stage 1 layers 2–3: layer 1 is in no stage's range "
            "(gap), although its operators (L1_norm1 ... L1_res2) are drawn in stage 0.")


def d_stage_missing_layer(g):
    for nid in [k for k in g.nodes if k.startswith("L3_")]:
        g.rm_node(nid)
    i = len(g.edges)
    for j, e in enumerate(g.edges):
        if e["a"] == "final_norm":
            i = j
            break
    g.edges.insert(i, dict(a="L2_res2", b="final_norm", group="head", attrs={}))
    return (["L2_res2", "final_norm"],
            "Stage 1 claims layers 2–3 but no operator of layer 3 is drawn: layer 2's "
            "residual L2_res2 feeds the final RMSNorm final_norm directly.")


def d_no_stage_transfer(g):
    g.rm_node("pp_0to1")
    first = next(j for j, x in enumerate(g.edges) if x["group"] == "layer 2")
    g.edges.insert(first, dict(a="L1_res2", b="L2_norm1", group="layer 2", attrs={}))
    i = g.find_edge("L2_ar1", "L2_res1")
    g.edges.insert(i + 1, dict(a="L1_res2", b="L2_res1", group="layer 2", attrs={}))
    return (["L1_res2", "L2_norm1", "L2_res1"],
            "Stage 0 (dev 0-7) and stage 1 (dev 8-15) are joined by plain edges from L1_res2 "
            "to L2_norm1 and L2_res1; the pipeline send/recv is missing.")


def _move_expert(g, old, new, dev):
    g.rename(old, new)
    g.n(new)["dev"] = dev


def d_experts_subset_ranks(g):
    moves = {2: ("0-1", 0, 0), 3: ("0-1", 0, 0), 4: ("2-3", 1, 1), 5: ("2-3", 1, 1),
             6: ("2-3", 1, 1), 7: ("2-3", 1, 1)}
    nodes = []
    for j, (dv, r, c) in moves.items():
        old = [k for k in g.nodes if k.startswith("L1_e%d_ep" % j)][0]
        new = "L1_e%d_ep%d" % (j, r)
        _move_expert(g, old, new, dv)
        g.n(new)["fill"] = EP_FILL[c]
        nodes.append(new)
    return (nodes,
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on dev 0-1, "
            "experts 4-7 on dev 2-3); EP ranks 2 and 3 (dev 4-7) hold none of its experts "
            "although ep is 4.")


def d_experts_uneven(g):
    _move_expert(g, "L1_e2_ep1", "L1_e2_ep0", "0-3")
    g.n("L1_e2_ep0")["fill"] = EP_FILL[0]
    return (["L1_e2_ep0"],
            "Layer 1's expert 2 sits on EP rank 0 (dev 0-3) instead of rank 1 (dev 4-7): "
            "ranks hold 3 and 1 experts instead of 4/2 = 2 each.")


def d_experts_share_gpu(g):
    g.n("L2_e3_ep1")["dev"] = "8-9"
    return (["L2_e3_ep1", "L2_e0_ep0", "L2_e1_ep0"],
            "Layer 2's expert 3 (EP rank 1, L2_e3_ep1) is placed on dev 8-9, which hold EP "
            "rank 0's experts 0 and 1; rank 1's own GPUs 10-11 should hold it.")


def d_no_gate(g):
    g.rm_node("L1_router")
    g.add_edge_after("L1_norm2", "L1_a2a_disp", ("L1_res1", "L1_norm2"))
    g.n("L1_a2a_disp")["inp"] = g.n("L1_norm2")["out"]
    return (["L1_norm2", "L1_a2a_disp"],
            "Layer 1 has no MoE router: the RMSNorm output L1_norm2 goes straight into the "
            "dispatch all-to-all L1_a2a_disp and the 4 experts.")


def d_no_all_to_all(g):
    succ = g.succs("L1_a2a_disp")
    i = g.find_edge("L1_router", "L1_a2a_disp")
    g.rm_node("L1_a2a_disp")
    for j, s in enumerate(succ):
        g.edges.insert(i + j, dict(a="L1_router", b=s, group="layer 1",
                                   attrs={"style": "dashed"}))
    return (["L1_router"] + succ,
            "Layer 1's router L1_router sends tokens straight to the 8 experts on EP ranks "
            "0-3 (ep4, dev 0-7) without a dispatch all-to-all.")


def d_tp_rank_missing(g):
    for nid in [k for k in g.nodes if k.startswith("L1_") and k.endswith("_t3")]:
        g.rm_node(nid)
    return (["L1_norm1", "L1_ar1"],
            "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 "
            "(dev 3,7) of tp4 is missing (no L1_*_t3 between L1_norm1 and L1_ar1).")


def d_no_allreduce_after_rowparallel(g):
    i = g.find_edge("dp0_L0_down_t0", "dp0_L0_ar2")
    g.rm_node("dp0_L0_ar2")
    g.edges.insert(i, dict(a="dp0_L0_down_t0", b="dp0_L0_res2", group="dp0 · layer 0",
                           attrs={}))
    j = g.find_edge("dp0_L0_act_t1", "dp0_L0_down_t1")
    g.edges.insert(j + 1, dict(a="dp0_L0_down_t1", b="dp0_L0_res2", group="dp0 · layer 0",
                               attrs={}))
    return (["dp0_L0_down_t0", "dp0_L0_down_t1", "dp0_L0_res2"],
            "DP replica 0, layer 0: the row-parallel MLP down projections dp0_L0_down_t0 "
            "(dev 0) and dp0_L0_down_t1 (dev 1) feed the residual add dp0_L0_res2 directly, "
            "without the tp2 all-reduce of their partial sums.")


def d_cross_gpu_no_comm(g):
    g.redirect(("dp1_L1_res1", "dp1_L1_res2"), ("dp0_L1_res1", "dp1_L1_res2"))
    return (["dp0_L1_res1", "dp1_L1_res2"],
            "The skip edge of DP replica 1's layer-1 MLP residual dp1_L1_res2 (dev 2-3) comes "
            "from replica 0's dp0_L1_res1 (dev 0-1) by a plain edge, with no communication "
            "node (and instead of dp1_L1_res1).")


def d_comm_wrong_shape(g):
    g.n("L0_ar1")["shape"] = "box"
    return (["L0_ar1"],
            "Layer 0's attention all-reduce L0_ar1 is drawn as a box (computation) instead "
            "of an ellipse.")


def d_missing_gpu(g):
    g.n("L3_sm_t1")["dev"] = None
    return (["L3_sm_t1"], "The softmax of layer 3, TP rank 1 (L3_sm_t1) has no dev line.")


def d_gpu_out_of_range(g):
    g.n("L0_e3_ep1")["dev"] = "8-11"
    return (["L0_e3_ep1"],
            "Layer 0's expert 3 (EP rank 1) is placed on dev 8-11, beyond the 8 GPUs of "
            "ep2 × tp4 × pp1 × dp1 (ids 0-7).")


def d_stages_share_gpus(g):
    stage1 = [k for k in g.nodes if k.startswith(("L2_", "L3_"))] + ["final_norm", "lm_head"]
    for nid in stage1:
        ds = parse_dev(g.n(nid)["dev"])
        g.n(nid)["dev"] = devs([x - 4 for x in ds])
    g.n("pp_0to1")["dev"] = "0-7 → 4-11"
    return (["pp_0to1", "L2_norm1", "L3_res2", "lm_head"],
            "Stage 1 (layers 2–3) is placed on dev 4-11, overlapping stage 0's dev 0-7 "
            "(GPUs 4-7 in both); GPUs 12-15 are unused.")


def d_strategy_mismatch(g):
    g.label = g.label.replace("dp2", "dp4").replace("4 gpus", "8 gpus")
    return ([],
            "The graph label declares dp4 (8 gpus) but only two data-parallel replicas are "
            "drawn (dp replica 0 on dev 0-1, dp replica 1 on dev 2-3): dp2.")


def d_missing_shapes(g):
    g.n("L1_o_t1").update(inp=None, out=None)
    return (["L1_o_t1"],
            "The O-proj of layer 1, TP rank 1 (L1_o_t1, dev 1,5) has no in or out line.")


def d_placeholder(g):
    g.n("L2_router")["inp"] = sh("?", 512, 2048)
    return (["L2_router"],
            "Layer 2's router L2_router gives its input as ?×512×2048, a placeholder instead "
            "of the batch 4.")


def d_moe_before_attention(g):
    g.redirect(("L0_res2", "L1_norm1"), ("L0_res2", "L1_norm2"))
    g.redirect(("L0_res2", "L1_res1"), ("L1_res2", "L1_res1"))
    g.redirect(("L1_res1", "L1_norm2"), ("L1_res2", "L1_norm1"))
    g.redirect(("L1_res1", "L1_res2"), ("L0_res2", "L1_res2"))
    g.redirect(("L1_res2", "final_norm"), ("L1_res1", "final_norm"))
    return (["L1_norm1", "L1_norm2", "L1_res1", "L1_res2"],
            "Layer 1 runs its MoE block (L1_norm2, router, experts, L1_res2) before its "
            "attention block: L0_res2 goes to L1_norm2, the MoE residual L1_res2 feeds "
            "L1_norm1, and the attention residual L1_res1 feeds final_norm.")


def d_missing_residual(g):
    g.rm_edge("dp1_L2_res1", "dp1_L2_res2")
    return (["dp1_L2_res2", "dp1_L2_res1"],
            "DP replica 1, layer 2: the MLP residual add dp1_L2_res2 is fed only by the "
            "all-reduce dp1_L2_ar2; the skip edge from dp1_L2_res1 is missing.")


DEFECTS = [
    ("cycle", "structure", 1, d_cycle),
    ("dangling_input", "structure", 2, d_dangling_input),
    ("dangling_output", "structure", 1, d_dangling_output),
    ("attention_one_box", "attention", 1, d_attention_one_box),
    ("v_bypasses_softmax", "attention", 2, d_v_bypasses_softmax),
    ("v_into_score", "attention", 1, d_v_into_score),
    ("qkv_into_oproj", "attention", 3, d_qkv_into_oproj),
    ("head_arithmetic", "attention", 2, d_head_arithmetic),
    ("tp_heads", "attention", 1, d_tp_heads),
    ("edge_shape_mismatch", "shape", 3, d_edge_shape_mismatch),
    ("shard_without_gather", "shape", 2, d_shard_without_gather),
    ("stage_count", "pipeline", 1, d_stage_count),
    ("stage_range_gap", "pipeline", 1, d_stage_range_gap),
    ("stage_missing_layer", "pipeline", 1, d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", 1, d_no_stage_transfer),
    ("experts_subset_ranks", "expert", 1, d_experts_subset_ranks),
    ("experts_uneven", "expert", 2, d_experts_uneven),
    ("experts_share_gpu", "expert", 1, d_experts_share_gpu),
    ("no_gate", "expert", 2, d_no_gate),
    ("no_all_to_all", "expert", 1, d_no_all_to_all),
    ("tp_rank_missing", "tensor", 2, d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", 3, d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", 3, d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", 2, d_comm_wrong_shape),
    ("missing_gpu", "gpu", 1, d_missing_gpu),
    ("gpu_out_of_range", "gpu", 2, d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", 1, d_stages_share_gpus),
    ("strategy_mismatch", "strategy", 3, d_strategy_mismatch),
    ("missing_shapes", "annotation", 2, d_missing_shapes),
    ("placeholder", "annotation", 1, d_placeholder),
    ("moe_before_attention", "structure", 2, d_moe_before_attention),
    ("missing_residual", "structure", 3, d_missing_residual),
]

CLEAN_WHAT = {
    1: "Correct MoE deployment ep4 tp2 pp2 dp1 on 16 GPUs: 4 decoder layers (stage 0 layers "
       "0–1 on dev 0-7, stage 1 layers 2–3 on dev 8-15, joined by send/recv), 8 experts "
       "top-2 with 2 experts per EP rank, attention tp2 with 8 of 16 heads per rank.",
    2: "Correct MoE deployment ep2 tp4 pp1 dp1 on 8 GPUs: 2 decoder layers in one stage, "
       "4 experts top-2 with 2 per EP rank (dev 0-3, 4-7), attention tp4 with 8 of 32 heads "
       "per rank.",
    3: "Correct dense deployment ep1 tp2 pp1 dp2 on 4 GPUs: both DP replicas drawn (dev 0-1, "
       "dev 2-3), 3 decoder layers each, attention and MLP tp2 with all-reduces.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    cleans = {
        1: build("bc_moe_a", SPEC1, "MoE 8x, two-stage pipeline"),
        2: build("bc_moe_b", SPEC2, "MoE 4x, single stage"),
        3: build("bc_dense_c", SPEC3, "dense, two data-parallel replicas"),
    }
    manifest = []
    written = []
    for i, g in cleans.items():
        check_clean(g)
        fn = "clean_%d.dot" % i
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(g.render())
        written.append(fn)
        manifest.append(dict(file=fn, kind="clean", category=None, base=None, nodes=[],
                             what=CLEAN_WHAT[i]))
    for kind, cat, base, fnc in DEFECTS:
        g = copy.deepcopy(cleans[base])
        nodes, what = fnc(g)
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(g.render())
        written.append(fn)
        manifest.append(dict(file=fn, kind=kind, category=cat, base="clean_%d.dot" % base,
                             nodes=nodes, what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    bad = 0
    for fn in written:
        r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, fn)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            bad += 1
            print("PARSE FAIL", fn, r.stderr.strip())
    print("wrote %d dot files + manifest.json to %s (%d parse failures)" % (
        len(written), OUT, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
