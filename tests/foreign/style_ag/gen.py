#!/usr/bin/env python3
"""House style AG: multi-node deployment DAGs (placement written as host/local GPU, 8 GPUs per host).

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
Stdlib only.  Every defect file is one clean graph with exactly one defect applied to the
in-memory model (so everything else is byte-identical to its clean base).

Layout conventions of this style
  * global GPU = 8*node + local;  placement lines "Placement: node1/gpu3";
    collectives "Placement: node0/gpu0-7 + node1/gpu0-7".
  * inside one pipeline stage: stage-local index i = ep*TP + tp, global GPU = stage*TP*EP + i.
  * attention runs TP-way inside every EP group; the EP groups process disjoint batch slices
    (batch/EP each), so GPU count = EP*TP*PP*DP.  MoE experts are split evenly over EP ranks
    (E/EP per rank) and each expert is tensor-sharded over the TP ranks of its EP group
    (expert-TP), followed by a TP all-reduce of the expert outputs.
  * ids n{host}g{local}_L{layer}_{op}; collectives n{host}g{a}to{b}[_n{host}g{a}to{b}]_L{layer}_{op}.
"""
import copy
import json
import os
from collections import OrderedDict

GPUS_PER_HOST = 8
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


# ----------------------------------------------------------------------------- model
class Graph:
    def __init__(self, name, comments):
        self.name = name
        self.comments = list(comments)
        self.clusters = OrderedDict()   # cid -> label
        self.nodes = OrderedDict()      # id -> dict(op, ins, outs, place, shape, cluster)
        self.edges = []                 # [src, dst, attrs]

    # nodes
    def add(self, nid, op, ins, outs, place, shape="box", cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, ins=list(ins) if ins else [], outs=list(outs) if outs else [],
                               place=place, shape=shape, cluster=cluster)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, dict(attrs)])

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def rename(self, old, new):
        assert new not in self.nodes, new
        self.nodes = OrderedDict((new if k == old else k, v) for k, v in self.nodes.items())
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # rendering
    def label(self, n):
        lines = [n["op"]]
        if n["ins"]:
            lines.append("In: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("Out: " + ", ".join(n["outs"]))
        if n["place"]:
            lines.append("Placement: " + n["place"])
        return "\\n".join(lines)

    def render(self):
        o = ["// " + c for c in self.comments]
        o.append("digraph %s {" % self.name)
        o.append("    rankdir=TB;")
        o.append('    node [fontname="Helvetica", fontsize=10];')
        o.append('    edge [fontname="Helvetica", fontsize=9];')

        def node_line(nid, n, ind):
            extra = ', style=filled, fillcolor="#eef3ff"' if n["shape"] == "ellipse" else ""
            return '%s%s [shape=%s, label="%s"%s];' % (ind, nid, n["shape"], self.label(n), extra)

        for cid, clabel in self.clusters.items():
            o.append("    subgraph %s {" % cid)
            o.append('        label="%s";' % clabel)
            for nid, n in self.nodes.items():
                if n["cluster"] == cid:
                    o.append(node_line(nid, n, "        "))
            o.append("    }")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                o.append(node_line(nid, n, "    "))
        for a, b, attrs in self.edges:
            if attrs:
                o.append("    %s -> %s [%s];" % (a, b, ", ".join("%s=%s" % kv for kv in attrs.items())))
            else:
                o.append("    %s -> %s;" % (a, b))
        o.append("}")
        return "\n".join(o) + "\n"


# ----------------------------------------------------------------------------- helpers
def hl(g):
    return g // GPUS_PER_HOST, g % GPUS_PER_HOST


def place1(g):
    h, l = hl(g)
    return "node%d/gpu%d" % (h, l)


def pid(g):
    h, l = hl(g)
    return "n%dg%d" % (h, l)


def _runs(xs):
    xs = sorted(xs)
    runs, start, prev = [], xs[0], xs[0]
    for x in xs[1:]:
        if x == prev + 1:
            prev = x
            continue
        runs.append((start, prev))
        start = prev = x
    runs.append((start, prev))
    return runs


def _by_host(gs):
    d = OrderedDict()
    for g in sorted(gs):
        h, l = hl(g)
        d.setdefault(h, []).append(l)
    return d


def placeN(gs):
    if len(gs) == 1:
        return place1(gs[0])
    parts = []
    for h, ls in _by_host(gs).items():
        rs = ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in _runs(ls))
        parts.append("node%d/gpu%s" % (h, rs))
    return " + ".join(parts)


def cid_of(gs):
    parts = []
    for h, ls in _by_host(gs).items():
        rs = "_".join("%d" % a if a == b else "%dto%d" % (a, b) for a, b in _runs(ls))
        parts.append("n%dg%s" % (h, rs))
    return "_".join(parts)


def hosts_str(gs):
    return "+".join("node%d" % h for h in _by_host(gs))


def S(**dims):
    return "[" + ", ".join("%s=%s" % kv for kv in dims.items()) + "]"


# ----------------------------------------------------------------------------- builder
def build(cfg):
    TP, EP, PP, DP = cfg["TP"], cfg["EP"], cfg["PP"], cfg["DP"]
    H, NH, HD = cfg["hidden"], cfg["heads"], cfg["head_dim"]
    NL, V, B, SEQ = cfg["layers"], cfg["vocab"], cfg["batch"], cfg["seq"]
    moe = cfg["moe"]
    assert NH * HD == H and NH % TP == 0 and V % TP == 0 and B % EP == 0 and NL % PP == 0
    per_stage = TP * EP
    total = per_stage * PP * DP
    nhosts = total // GPUS_PER_HOST
    assert DP == 1 and total % GPUS_PER_HOST == 0
    be = B // EP
    nh_r = NH // TP
    hid = S(batch=be, seq=SEQ, hidden=H)
    heads = S(batch=be, seq=SEQ, heads=nh_r, head_dim=HD)
    scores = S(batch=be, heads=nh_r, seq=SEQ, kv_seq=SEQ)
    if moe:
        E, K = cfg["experts"], cfg["topk"]
        assert E % EP == 0
        T = B * SEQ * K // E
        tok = S(tokens=T, hidden=H)
        route = S(batch=be, seq=SEQ, topk=K)
        comb = S(batch=be, seq=SEQ, topk=K, hidden=H)
    else:
        F = cfg["ffn"]
        assert F % TP == 0
        ffn = S(batch=be, seq=SEQ, ffn=F // TP)

    hosts_txt = "%d node%s x %d GPUs" % (nhosts, "s" if nhosts > 1 else "", GPUS_PER_HOST)
    comments = ["%s: TP%d, PP%d, EP%d, DP%d" % (hosts_txt, TP, PP, EP, DP)]
    if moe:
        comments.append("model: MoE transformer, layers=%d, hidden=%d, heads=%d, head_dim=%d, experts=%d, "
                        "top-k=%d, vocab=%d, batch=%d, seq=%d" % (NL, H, NH, HD, E, K, V, B, SEQ))
    else:
        comments.append("model: dense transformer, layers=%d, hidden=%d, heads=%d, head_dim=%d, ffn=%d, "
                        "vocab=%d, batch=%d, seq=%d" % (NL, H, NH, HD, F, V, B, SEQ))
    comments.append("global GPU = 8*node + local; stage s, EP group e, TP rank t -> global = s*%d + e*%d + t"
                    % (per_stage, TP))
    if EP > 1:
        comments.append("attention is TP%d inside each EP group; EP groups take batch/%d each" % (TP, EP))
    g = Graph(cfg["name"], comments)
    g.meta = dict(cfg=cfg, total=total)

    lps = NL // PP
    stages = []
    for s in range(PP):
        gpus = list(range(s * per_stage, (s + 1) * per_stage))
        groups = [gpus[e * TP:(e + 1) * TP] for e in range(EP)]
        cl = "cluster_pp%d" % s
        g.clusters[cl] = "PP stage %d — %s — layers %d-%d" % (s, hosts_str(gpus), s * lps, s * lps + lps - 1)
        stages.append(dict(gpus=gpus, groups=groups, cl=cl, layers=list(range(s * lps, (s + 1) * lps))))

    stream = {}
    # --- input + embedding
    st = stages[0]
    g0 = st["gpus"][0]
    inp = g.add("%s_input" % pid(g0), "Input", [S(batch=B, seq=SEQ)], [S(batch=B, seq=SEQ)],
                place1(g0), "box", st["cl"])
    sc = g.add("%s_scatter" % cid_of(st["gpus"]), "Scatter Tokens" if EP > 1 else "Broadcast Tokens",
               [S(batch=B, seq=SEQ)], [S(batch=be, seq=SEQ)], placeN(st["gpus"]), "ellipse", st["cl"])
    g.edge(inp, sc)
    for grp in st["groups"]:
        ar = g.add("%s_embed_allreduce" % cid_of(grp), "AllReduce", [hid], [hid], placeN(grp), "ellipse", st["cl"])
        for x in grp:
            em = g.add("%s_embed" % pid(x), "Embedding", [S(batch=be, seq=SEQ)], [hid], place1(x), "box", st["cl"])
            g.edge(sc, em)
            g.edge(em, ar)
            stream[x] = ar

    for si, st in enumerate(stages):
        cl = st["cl"]
        if si > 0:
            prev = stages[si - 1]
            both = prev["gpus"] + st["gpus"]
            sr = g.add("%s_L%d_sendrecv" % (cid_of(both), st["layers"][0]),
                       "Send/Recv %s->%s" % (hosts_str(prev["gpus"]), hosts_str(st["gpus"])),
                       [hid], [hid], placeN(both), "ellipse", None)
            for x in prev["gpus"]:
                g.edge(stream[x], sr)
            for x in st["gpus"]:
                stream[x] = sr
        for L in st["layers"]:
            def nid(x, op):
                return "%s_L%d_%s" % (pid(x), L, op)

            def cid(xs, op):
                return "%s_L%d_%s" % (cid_of(xs), L, op)
            # ---------------- attention
            res1 = {}
            for grp in st["groups"]:
                ar = g.add(cid(grp, "attn_allreduce"), "AllReduce", [hid], [hid], placeN(grp), "ellipse", cl)
                for x in grp:
                    p = place1(x)
                    n1 = g.add(nid(x, "input_norm"), "Input LayerNorm", [hid], [hid], p, "box", cl)
                    g.edge(stream[x], n1)
                    q = g.add(nid(x, "q_proj"), "Q Proj", [hid], [heads], p, "box", cl)
                    k = g.add(nid(x, "k_proj"), "K Proj", [hid], [heads], p, "box", cl)
                    v = g.add(nid(x, "v_proj"), "V Proj", [hid], [heads], p, "box", cl)
                    for t in (q, k, v):
                        g.edge(n1, t)
                    sc_ = g.add(nid(x, "qk_scores"), "QK Scores", [heads, heads], [scores], p, "box", cl)
                    g.edge(q, sc_)
                    g.edge(k, sc_)
                    sm = g.add(nid(x, "softmax"), "Softmax", [scores], [scores], p, "box", cl)
                    g.edge(sc_, sm)
                    pv = g.add(nid(x, "pv"), "PV", [scores, heads], [heads], p, "box", cl)
                    g.edge(sm, pv)
                    g.edge(v, pv)
                    op = g.add(nid(x, "o_proj"), "O Proj", [heads], [hid], p, "box", cl)
                    g.edge(pv, op)
                    g.edge(op, ar)
                    ra = g.add(nid(x, "resadd1"), "Residual Add", [hid, hid], [hid], p, "box", cl)
                    g.edge(ar, ra)
                    g.edge(stream[x], ra)
                    res1[x] = ra
            # ---------------- FFN / MoE
            if not moe:
                for grp in st["groups"]:
                    ar = g.add(cid(grp, "mlp_allreduce"), "AllReduce", [hid], [hid], placeN(grp), "ellipse", cl)
                    for x in grp:
                        p = place1(x)
                        n2 = g.add(nid(x, "post_norm"), "Post LayerNorm", [hid], [hid], p, "box", cl)
                        g.edge(res1[x], n2)
                        gp = g.add(nid(x, "gate_proj"), "Gate Proj", [hid], [ffn], p, "box", cl)
                        up = g.add(nid(x, "up_proj"), "Up Proj", [hid], [ffn], p, "box", cl)
                        g.edge(n2, gp)
                        g.edge(n2, up)
                        act = g.add(nid(x, "swiglu"), "SwiGLU", [ffn, ffn], [ffn], p, "box", cl)
                        g.edge(gp, act)
                        g.edge(up, act)
                        dn = g.add(nid(x, "down_proj"), "Down Proj", [ffn], [hid], p, "box", cl)
                        g.edge(act, dn)
                        g.edge(dn, ar)
                        ra = g.add(nid(x, "resadd2"), "Residual Add", [hid, hid], [hid], p, "box", cl)
                        g.edge(ar, ra)
                        g.edge(res1[x], ra)
                        stream[x] = ra
            else:
                dsp = g.add(cid(st["gpus"], "dispatch"), "Dispatch A2A", [hid, route], [tok],
                            placeN(st["gpus"]), "ellipse", cl)
                cmb = g.add(cid(st["gpus"], "combine"), "Combine A2A", [tok], [comb],
                            placeN(st["gpus"]), "ellipse", cl)
                routers, norms = {}, {}
                for x in st["gpus"]:
                    p = place1(x)
                    n2 = g.add(nid(x, "post_norm"), "Post LayerNorm", [hid], [hid], p, "box", cl)
                    g.edge(res1[x], n2)
                    rt = g.add(nid(x, "router"), "Router", [hid], [route], p, "parallelogram", cl)
                    g.edge(n2, rt)
                    g.edge(n2, dsp)
                    g.edge(rt, dsp, style="dashed")
                    routers[x], norms[x] = rt, n2
                per = E // EP
                for e, grp in enumerate(st["groups"]):
                    ear = g.add(cid(grp, "expert_allreduce"), "AllReduce", [tok] * per, [tok] * per,
                                placeN(grp), "ellipse", cl)
                    for j in range(e * per, (e + 1) * per):
                        for x in grp:
                            ex = g.add(nid(x, "expert%d" % j), "Expert %d" % j, [tok], [tok], place1(x), "box", cl)
                            g.edge(dsp, ex)
                            g.edge(ex, ear)
                    g.edge(ear, cmb)
                for x in st["gpus"]:
                    p = place1(x)
                    ws = g.add(nid(x, "weighted_sum"), "Expert Weighted Sum", [comb, route], [hid], p,
                               "parallelogram", cl)
                    g.edge(cmb, ws)
                    g.edge(routers[x], ws, style="dashed")
                    ra = g.add(nid(x, "resadd2"), "Residual Add", [hid, hid], [hid], p, "box", cl)
                    g.edge(ws, ra)
                    g.edge(res1[x], ra)
                    stream[x] = ra

    # --- final norm, LM head, gather, output
    st = stages[-1]
    cl = st["cl"]
    ag = g.add("%s_logits_allgather" % cid_of(st["gpus"]), "AllGather", [S(batch=be, seq=SEQ, vocab=V // TP)],
               [S(batch=B, seq=SEQ, vocab=V)], placeN(st["gpus"]), "ellipse", cl)
    for x in st["gpus"]:
        p = place1(x)
        fn = g.add("%s_final_norm" % pid(x), "Final LayerNorm", [hid], [hid], p, "box", cl)
        g.edge(stream[x], fn)
        lm = g.add("%s_lm_head" % pid(x), "LM Head", [hid], [S(batch=be, seq=SEQ, vocab=V // TP)], p, "box", cl)
        g.edge(fn, lm)
        g.edge(lm, ag)
    gl = st["gpus"][0]
    out = g.add("%s_output" % pid(gl), "Output", [S(batch=B, seq=SEQ, vocab=V)], [S(batch=B, seq=SEQ, vocab=V)],
                place1(gl), "box", cl)
    g.edge(ag, out)
    g.shapes = dict(hid=hid, heads=heads, scores=scores)
    if moe:
        g.shapes.update(tok=tok, route=route, comb=comb)
    else:
        g.shapes.update(ffn=ffn)
    return g


CLEAN = {
    "clean_1": dict(name="dag1", TP=8, EP=1, PP=2, DP=1, moe=False, hidden=4096, heads=32, head_dim=128,
                    ffn=14336, layers=4, vocab=32000, batch=4, seq=2048),
    "clean_2": dict(name="dag2", TP=2, EP=4, PP=1, DP=1, moe=True, hidden=2048, heads=16, head_dim=128,
                    experts=8, topk=2, layers=2, vocab=32000, batch=8, seq=1024),
    "clean_3": dict(name="dag3", TP=8, EP=2, PP=1, DP=1, moe=True, hidden=4096, heads=32, head_dim=128,
                    experts=8, topk=2, layers=2, vocab=32000, batch=4, seq=2048),
}


# ----------------------------------------------------------------------------- defects
def ids_like(g, suffix, layer=None):
    out = []
    for nid in g.nodes:
        if nid.endswith("_" + suffix) and (layer is None or ("_L%d_" % layer) in nid):
            out.append(nid)
    return out


def relabel_heads(g, nid, old, new):
    n = g.nodes[nid]
    n["ins"] = [new if s == old else s for s in n["ins"]]
    n["outs"] = [new if s == old else s for s in n["outs"]]


def d_cycle(g):
    a, b = "n0g0to7_L1_dispatch", "n0g3_L1_expert3"
    assert g.has_edge(a, b)
    g.edge(b, a)
    return [a, b], "Expert 3 (node0/gpu3, layer 1) is drawn both ways with the Dispatch A2A (dispatch -> expert3 and expert3 -> dispatch), a cycle."


def d_dangling_input(g):
    a, b = "n1g5_L1_input_norm", "n1g5_L1_k_proj"
    g.remove_edge(a, b)
    return [b], "K Proj of layer 1 on node1/gpu5 has no incoming edge (its edge from Input LayerNorm was removed)."


def d_dangling_output(g):
    ag, gpu = "n1g0to7_logits_allgather", "n1g0"
    shp = g.nodes[ag]["outs"][0]
    nid = g.add("%s_log_softmax" % gpu, "Log Softmax", [shp], [shp], "node1/gpu0", "box", "cluster_pp1")
    g.edge(ag, nid)
    return [nid], "An extra Log Softmax on node1/gpu0 takes the gathered logits but its output goes nowhere."


def d_attention_one_box(g):
    L = 2
    hid = g.shapes["hid"]
    ids = []
    for t in range(8):
        x = 8 + t
        p = pid(x)
        for op in ("q_proj", "k_proj", "v_proj", "qk_scores", "softmax", "pv", "o_proj"):
            g.remove_node("%s_L%d_%s" % (p, L, op))
        mha = g.add("%s_L%d_mha" % (p, L), "Multi-Head Attention", [hid], [hid], place1(x), "box", "cluster_pp1")
        g.edge("%s_L%d_input_norm" % (p, L), mha)
        g.edge(mha, "n1g0to7_L%d_attn_allreduce" % L)
        ids.append(mha)
    return ids, "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of Q/K/V, scores, softmax, PV and O Proj."


def d_v_bypasses_softmax(g):
    p, L = "n0g2", 1
    sm, pv, op = "%s_L%d_softmax" % (p, L), "%s_L%d_pv" % (p, L), "%s_L%d_o_proj" % (p, L)
    g.remove_edge(sm, pv)
    g.edge(sm, op)
    g.nodes[pv]["ins"] = [g.shapes["heads"]]
    g.nodes[op]["ins"] = [g.shapes["heads"], g.shapes["scores"]]
    return [sm, pv, "%s_L%d_v_proj" % (p, L)], "On node0/gpu2 layer 1 V feeds PV but the Softmax does not; the Softmax output is wired into O Proj instead."


def d_v_into_score(g):
    p, L = "n1g6", 0
    v, s = "%s_L%d_v_proj" % (p, L), "%s_L%d_qk_scores" % (p, L)
    g.edge(v, s)
    g.nodes[s]["ins"] = [g.shapes["heads"]] * 3
    return [v, s], "On node1/gpu6 layer 0 V Proj is wired into QK Scores (besides Q and K)."


def d_qkv_into_oproj(g):
    L = 3
    ids = []
    for t in range(8):
        p = pid(8 + t)
        for op in ("qk_scores", "softmax", "pv"):
            g.remove_node("%s_L%d_%s" % (p, L, op))
        o = "%s_L%d_o_proj" % (p, L)
        for op in ("q_proj", "k_proj", "v_proj"):
            g.edge("%s_L%d_%s" % (p, L, op), o)
        g.nodes[o]["ins"] = [g.shapes["heads"]] * 3
        ids.append(o)
    return ids, "In layer 3 Q, K and V projections feed O Proj directly on every TP rank; no QK scores, softmax or PV."


def d_head_arithmetic(g):
    L = 2
    old_h, old_s = g.shapes["heads"], g.shapes["scores"]
    new_h = old_h.replace("head_dim=128", "head_dim=64")
    ids = []
    for t in range(8):
        p = pid(8 + t)
        for op in ("q_proj", "k_proj", "v_proj", "qk_scores", "softmax", "pv", "o_proj"):
            nid = "%s_L%d_%s" % (p, L, op)
            relabel_heads(g, nid, old_h, new_h)
            if op == "q_proj":
                ids.append(nid)
    return ids, "Layer 2 labels heads=4, head_dim=64 per TP8 rank: 4x64x8 = 2048 != hidden 4096."


def d_tp_heads(g):
    p, L = "n0g3", 0
    old_h, old_s = g.shapes["heads"], g.shapes["scores"]
    new_h, new_s = old_h.replace("heads=8", "heads=16"), old_s.replace("heads=8", "heads=16")
    assert new_h != old_h
    ids = []
    for op in ("q_proj", "k_proj", "v_proj", "qk_scores", "softmax", "pv", "o_proj"):
        nid = "%s_L%d_%s" % (p, L, op)
        relabel_heads(g, nid, old_h, new_h)
        relabel_heads(g, nid, old_s, new_s)
        ids.append(nid)
    return ids[:3], "TP rank 1 of EP group 1 (node0/gpu3) computes all 16 heads in layer 0 instead of 16/TP2 = 8."


def d_edge_shape_mismatch(g):
    nid = "n1g2_L2_post_norm"
    bad = g.shapes["hid"].replace("hidden=4096", "hidden=3072")
    g.nodes[nid]["ins"] = [bad]
    return [nid, "n1g2_L2_resadd1"], "Post LayerNorm (node1/gpu2, layer 2) expects hidden=3072 but Residual Add produces hidden=4096 (factor 4/3)."


def d_shard_without_gather(g):
    L = 1
    old = "n0g0to7_L%d_attn_allreduce" % L
    hid = g.shapes["hid"]
    shard = hid.replace("hidden=4096", "hidden=512")
    new = "n0g0to7_L%d_attn_reducescatter" % L
    g.rename(old, new)
    g.nodes[new]["op"] = "ReduceScatter"
    g.nodes[new]["outs"] = [shard]
    ids = [new] + ["%s_L%d_resadd1" % (pid(t), L) for t in range(8)]
    return ids, "Layer 1's O Proj is reduce-scattered to hidden=512 = 4096/TP8 and that shard reaches the full-size Residual Adds without an all-gather."


def d_stage_count(g):
    assert g.comments[0].startswith("2 nodes x 8 GPUs: TP8, PP2,")
    g.comments[0] = g.comments[0].replace("2 nodes", "3 nodes").replace("PP2", "PP3")
    return [], "The strategy comment declares 3 nodes x 8 GPUs with PP3 but only 2 pipeline stages (node0, node1) are drawn."


def d_stage_range_gap(g):
    g.clusters["cluster_pp1"] = g.clusters["cluster_pp1"].replace("layers 2-3", "layers 3-3")
    return ["%s_L2_input_norm" % pid(8 + t) for t in range(8)], "Stage ranges are 0-1 and 3-3: layer 2 is claimed by no stage (gap)."


def d_stage_missing_layer(g):
    L = 3
    for nid in [n for n in g.nodes if "_L%d_" % L in n]:
        g.remove_node(nid)
    for t in range(8):
        p = pid(8 + t)
        g.edge("%s_L2_resadd2" % p, "%s_final_norm" % p)
    return ["%s_final_norm" % pid(8)], "Stage 1 claims layers 2-3 (and the model has 4 layers) but no operator of layer 3 is drawn; layer 2 feeds the final norm."


def d_no_stage_transfer(g):
    sr = "n0g0to7_n1g0to7_L2_sendrecv"
    g.remove_node(sr)
    ids = []
    for t in range(8):
        a, b = pid(t), pid(8 + t)
        g.edge("%s_L1_resadd2" % a, "%s_L2_input_norm" % b)
        g.edge("%s_L1_resadd2" % a, "%s_L2_resadd1" % b)
        ids.append("%s_L1_resadd2" % a)
    return ids, "Stage 0 (node0) is joined to stage 1 (node1) by plain edges from layer 1's Residual Adds; the Send/Recv node0->node1 is gone."


def _move_expert(g, L, j, frm, to, new_ar=None):
    """Move the expert-j shards of layer L from GPUs frm to GPUs to (same order)."""
    ids = []
    for a, b in zip(frm, to):
        old = "%s_L%d_expert%d" % (pid(a), L, j)
        new = "%s_L%d_expert%d" % (pid(b), L, j)
        old_ar = [s for s in g.succs(old)][0]
        g.rename(old, new)
        g.nodes[new]["place"] = place1(b)
        if new_ar:
            g.remove_edge(new, old_ar)
            g.edge(new, new_ar)
        ids.append(new)
    return ids


def _ar_fix(g, L, groups):
    tok = g.shapes["tok"]
    for grp in groups:
        ar = "%s_L%d_expert_allreduce" % (cid_of(grp), L)
        if ar in g.nodes:
            k = len(g.preds(ar)) // len(grp)
            g.nodes[ar]["ins"] = [tok] * k
            g.nodes[ar]["outs"] = [tok] * k


def d_experts_subset_ranks(g):
    L = 1
    groups = [[0, 1], [2, 3], [4, 5], [6, 7]]
    ids = []
    ids += _move_expert(g, L, 4, [4, 5], [0, 1], "n0g0to1_L1_expert_allreduce")
    ids += _move_expert(g, L, 5, [4, 5], [0, 1], "n0g0to1_L1_expert_allreduce")
    ids += _move_expert(g, L, 6, [6, 7], [2, 3], "n0g2to3_L1_expert_allreduce")
    ids += _move_expert(g, L, 7, [6, 7], [2, 3], "n0g2to3_L1_expert_allreduce")
    g.remove_node("n0g4to5_L1_expert_allreduce")
    g.remove_node("n0g6to7_L1_expert_allreduce")
    _ar_fix(g, L, groups)
    return ids, "Layer 1 places all 8 experts on EP ranks 0-1 (4 each); EP ranks 2 and 3 (node0/gpu4-7) hold none."


def d_experts_uneven(g):
    L = 0
    ids = _move_expert(g, L, 2, [2, 3], [0, 1], "n0g0to1_L0_expert_allreduce")
    _ar_fix(g, L, [[0, 1], [2, 3], [4, 5], [6, 7]])
    return ids, "Layer 0 puts experts 0-2 on EP rank 0, only expert 3 on EP rank 1, 2 each on ranks 2-3 (3/1/2/2 instead of 8/4 = 2)."


def d_experts_share_gpu(g):
    L = 1
    ids = _move_expert(g, L, 4, [11], [3])
    return ids + ["n0g3_L1_expert0"], "In layer 1 the node1/gpu3 shard of Expert 4 (EP rank 1) is placed on node0/gpu3, which already holds experts 0-3 of EP rank 0."


def d_no_gate(g):
    L = 0
    route = g.shapes["route"]
    for t in range(8):
        g.remove_node("%s_L%d_router" % (pid(t), L))
        ws = "%s_L%d_weighted_sum" % (pid(t), L)
        g.nodes[ws]["ins"] = [g.shapes["comb"]]
    d = "n0g0to7_L%d_dispatch" % L
    g.nodes[d]["ins"] = [g.shapes["hid"]]
    return [d], "Layer 0 has no Router: tokens go from Post LayerNorm through the Dispatch A2A to the experts with no gate."


def d_no_all_to_all(g):
    L = 1
    d = "n0g0to7_L%d_dispatch" % L
    g.remove_node(d)
    hid, route = g.shapes["hid"], g.shapes["route"]
    ids = []
    for e in range(4):
        grp = [2 * e, 2 * e + 1]
        for j in (2 * e, 2 * e + 1):
            for x in grp:
                ex = "%s_L%d_expert%d" % (pid(x), L, j)
                g.edge("%s_L%d_post_norm" % (pid(x), L), ex)
                g.edge("%s_L%d_router" % (pid(x), L), ex, style="dashed")
                g.nodes[ex]["ins"] = [hid, route]
                g.nodes[ex]["outs"] = [hid]
                ids.append(ex)
        ar = "%s_L%d_expert_allreduce" % (cid_of(grp), L)
        g.nodes[ar]["ins"] = [hid, hid]
        g.nodes[ar]["outs"] = [hid, hid]
    g.nodes["n0g0to7_L%d_combine" % L]["ins"] = [hid]
    return ids, "Layer 1 has no Dispatch A2A: each GPU's Post LayerNorm and Router feed its local expert shards directly although EP=4."


def d_tp_rank_missing(g):
    L = 3
    dn = "n1g7_L%d_down_proj" % L
    g.remove_node(dn)
    g.edge("n1g7_L%d_swiglu" % L, "n1g0to7_L%d_mlp_allreduce" % L)
    return ["n1g7_L3_swiglu", "n1g0to7_L3_mlp_allreduce"], "Layer 3's Down Proj is drawn for TP ranks 0-6 (node1/gpu0-6) but not for rank 7 (node1/gpu7)."


def d_no_allreduce_after_rowparallel(g):
    L = 1
    ar = "n0g0to7_L%d_mlp_allreduce" % L
    g.remove_node(ar)
    ids = []
    for t in range(8):
        p = pid(t)
        g.edge("%s_L%d_down_proj" % (p, L), "%s_L%d_resadd2" % (p, L))
        ids.append("%s_L%d_down_proj" % (p, L))
    return ids, "Layer 1's row-parallel Down Proj outputs go straight into the Residual Adds; the MLP AllReduce is missing."


def d_cross_gpu_no_comm(g):
    a_old, a_new, b = "n1g2_L0_resadd2", "n0g2_L0_resadd2", "n1g2_L1_input_norm"
    g.remove_edge(a_old, b)
    g.edge(a_new, b)
    return [a_new, b], "Input LayerNorm of layer 1 on node1/gpu2 is fed directly by the Residual Add on node0/gpu2 (another host), with no communication node."


def d_comm_wrong_shape(g):
    nid = "n1g0to7_L2_attn_allreduce"
    g.nodes[nid]["shape"] = "box"
    return [nid], "Layer 2's attention AllReduce is drawn as a box instead of an ellipse."


def d_missing_gpu(g):
    nid = "n0g5_L0_softmax"
    g.nodes[nid]["place"] = None
    return [nid], "Softmax of layer 0 (the one on node0/gpu5) has no Placement line."


def d_gpu_out_of_range(g):
    old, new = "n0g5_L1_expert5", "n1g5_L1_expert5"
    g.rename(old, new)
    g.nodes[new]["place"] = "node1/gpu5"
    return [new], "An Expert 5 shard is placed on node1/gpu5 (global GPU 13) but the strategy has 1 node x 8 GPUs (0-7)."


def d_stages_share_gpus(g):
    # stage 1 written on node0 instead of node1 (same local indices)
    ren = []
    for nid, n in list(g.nodes.items()):
        if n["cluster"] == "cluster_pp1" and n["place"]:
            n["place"] = n["place"].replace("node1/", "node0/")
            if nid.startswith("n1g"):
                ren.append(nid)
    for nid in ren:
        g.rename(nid, "n0g" + nid[3:])
    sr = "n0g0to7_n1g0to7_L2_sendrecv"
    g.rename(sr, "n0g0to7_L2_sendrecv")
    g.nodes["n0g0to7_L2_sendrecv"]["op"] = "Send/Recv node0->node0"
    g.nodes["n0g0to7_L2_sendrecv"]["place"] = "node0/gpu0-7"
    g.clusters["cluster_pp1"] = g.clusters["cluster_pp1"].replace("node1", "node0")
    return ["n0g0_L2_input_norm", "n0g0_L0_input_norm"], "Stage 1 (layers 2-3) is placed on node0/gpu0-7, the same GPUs as stage 0."


def d_strategy_mismatch(g):
    assert g.comments[0].startswith("2 nodes x 8 GPUs: TP8, PP1, EP2,")
    g.comments[0] = g.comments[0].replace("2 nodes", "4 nodes").replace("EP2", "EP4")
    return [], "The strategy comment declares 4 nodes x 8 GPUs with EP4 but the experts are drawn on 2 EP groups (node0 and node1)."


def d_missing_shapes(g):
    nid = "n0g6_L1_v_proj"
    g.nodes[nid]["ins"] = []
    g.nodes[nid]["outs"] = []
    return [nid], "V Proj of layer 1 on node0/gpu6 has no In/Out shapes."


def d_placeholder(g):
    nid = "n0g0_input"
    ph = "[batch=?, seq=2048]"
    g.nodes[nid]["ins"] = [ph]
    g.nodes[nid]["outs"] = [ph]
    g.nodes["n0g0to7_scatter"]["ins"] = [ph]
    return [nid, "n0g0to7_scatter"], "The Input node gives its token-id shape as [batch=?, seq=2048], a placeholder."


def d_moe_before_attention(g):
    L = 1
    ids = []
    for t in range(8):
        p = pid(t)
        prev = "%s_L%d_resadd2" % (p, L - 1)
        n1, ra1 = "%s_L%d_input_norm" % (p, L), "%s_L%d_resadd1" % (p, L)
        n2, ra2 = "%s_L%d_post_norm" % (p, L), "%s_L%d_resadd2" % (p, L)
        fn = "%s_final_norm" % p
        # old wiring: prev->n1, prev->ra1, ra1->n2, ra1->ra2, ra2->fn
        g.remove_edge(prev, n1)
        g.remove_edge(prev, ra1)
        g.remove_edge(ra1, n2)
        g.remove_edge(ra1, ra2)
        g.remove_edge(ra2, fn)
        # new: prev -> MoE block -> ra2 -> attention block -> ra1 -> final norm
        g.edge(prev, n2)
        g.edge(prev, ra2)
        g.edge(ra2, n1)
        g.edge(ra2, ra1)
        g.edge(ra1, fn)
        ids.append(n2)
    return ids, "In layer 1 the MoE block (Post LayerNorm, Router, experts) is wired before the attention block on every GPU."


def d_missing_residual(g):
    nid, skip = "n0g4_L1_resadd2", "n0g4_L1_resadd1"
    g.remove_edge(skip, nid)
    g.nodes[nid]["ins"] = [g.shapes["hid"]]
    return [nid], "The MoE Residual Add of layer 1 on node0/gpu4 is fed only by the Expert Weighted Sum; the skip edge from the attention Residual Add is removed."


DEFECTS = [
    # kind, base, category, fn
    ("cycle", "clean_2", "structure", d_cycle),
    ("dangling_input", "clean_3", "structure", d_dangling_input),
    ("dangling_output", "clean_1", "structure", d_dangling_output),
    ("attention_one_box", "clean_1", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "clean_1", "attention", d_v_bypasses_softmax),
    ("v_into_score", "clean_3", "attention", d_v_into_score),
    ("qkv_into_oproj", "clean_1", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", "attention", d_head_arithmetic),
    ("tp_heads", "clean_2", "attention", d_tp_heads),
    ("edge_shape_mismatch", "clean_1", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_1", "shape", d_shard_without_gather),
    ("stage_count", "clean_1", "pipeline", d_stage_count),
    ("stage_range_gap", "clean_1", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "clean_1", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "clean_1", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_2", "expert", d_experts_subset_ranks),
    ("experts_uneven", "clean_2", "expert", d_experts_uneven),
    ("experts_share_gpu", "clean_3", "expert", d_experts_share_gpu),
    ("no_gate", "clean_2", "expert", d_no_gate),
    ("no_all_to_all", "clean_2", "expert", d_no_all_to_all),
    ("tp_rank_missing", "clean_1", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_1", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_3", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", "communication", d_comm_wrong_shape),
    ("missing_gpu", "clean_2", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "clean_2", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_1", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "clean_3", "strategy", d_strategy_mismatch),
    ("missing_shapes", "clean_2", "annotation", d_missing_shapes),
    ("placeholder", "clean_1", "annotation", d_placeholder),
    ("moe_before_attention", "clean_2", "structure", d_moe_before_attention),
    ("missing_residual", "clean_2", "structure", d_missing_residual),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    base = {}
    for name, cfg in CLEAN.items():
        g = build(cfg)
        base[name] = g
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(g.render())
        c = cfg
        strat = "TP%d PP%d EP%d DP%d" % (c["TP"], c["PP"], c["EP"], c["DP"])
        manifest.append(dict(file=name + ".dot", kind="clean", category="", nodes=[],
                             what="Correct %s deployment (%s, %d GPUs on %d host(s))." % (
                                 "MoE" if c["moe"] else "dense", strat, g.meta["total"],
                                 g.meta["total"] // GPUS_PER_HOST)))
    for kind, b, cat, fn in DEFECTS:
        g = copy.deepcopy(base[b])
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what + " (base: %s.dot)" % b))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
