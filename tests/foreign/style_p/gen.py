#!/usr/bin/env python3
"""House style P: Graphviz RECORD-node deployment DAGs, clean and with one injected defect each.

Run `python3 gen.py`; it writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json
next to this script. Stdlib only.

Style:
  compute  : shape=record, label "{ Op | in: 4 1024 2048 | out: 4 1024 512 | gpu 3 }"
             (several inputs: "in: a b c, d e f"; placement "gpu 3" or "gpus 0-3")
  comm     : shape=ellipse, plain one/two-line label ("allreduce tp0-3 gpus 0-3\\n4 1024 2048")
  routing  : shape=parallelogram, plain lines (Gate, WeightedCombine)
  legend   : shape=note, id legend, unconnected, states the strategy
  ids      : CamelCase R<replica> L<layer> ... E<ep rank> T<tp rank>, e.g. R0L2AttnQProjT1
  clusters : "Replica R0 (gpus 0-7)" containing "PP stage 0 | layers 0-1"
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def dims(*xs):
    return " ".join(str(x) for x in xs)


def gspec(gpus):
    gpus = sorted(set(gpus))
    if len(gpus) == 1:
        return "gpu %d" % gpus[0]
    if gpus == list(range(gpus[0], gpus[-1] + 1)):
        return "gpus %d-%d" % (gpus[0], gpus[-1])
    return "gpus " + ",".join(str(g) for g in gpus)


# --------------------------------------------------------------------------- model

class Model:
    def __init__(self, name, graph_label, legend):
        self.name = name
        self.graph_label = graph_label
        self.legend = legend
        self.clusters = {}      # key tuple -> label, insertion ordered
        self.nodes = {}         # id -> dict, insertion ordered
        self.edges = []         # [src, dst, attrs]

    def add(self, nid, shape, cluster, op=None, ins=None, out=None, gpus=None, text=None, extra=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, cluster=cluster, op=op, ins=list(ins) if ins else None,
                               out=out, gpus=list(gpus) if gpus is not None else None,
                               text=list(text) if text else None, extra=list(extra) if extra else [])
        return nid

    def rec(self, nid, cluster, op, ins, out, gpus):
        return self.add(nid, "record", cluster, op=op, ins=ins, out=out, gpus=gpus)

    def comm(self, nid, cluster, *text):
        return self.add(nid, "ellipse", cluster, text=text)

    def route(self, nid, cluster, op, ins, out, gpus, extra=None):
        return self.add(nid, "parallelogram", cluster, op=op, ins=ins, out=out, gpus=gpus, extra=extra)

    def edge(self, a, b, **attrs):
        self.edges.append([a, b, dict(attrs)])

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def remove_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def rename(self, old, new):
        assert old in self.nodes and new not in self.nodes, (old, new)
        self.nodes = {(new if k == old else k): v for k, v in self.nodes.items()}
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]


def q(s):
    return '"' + s.replace('"', '\\"') + '"'


def node_label(n):
    if n["shape"] == "record":
        f = [n["op"]]
        if n["ins"]:
            f.append("in: " + ", ".join(n["ins"]))
        if n["out"]:
            f.append("out: " + n["out"])
        if n["gpus"] is not None:
            f.append(gspec(n["gpus"]))
        return "{ " + " | ".join(f) + " }"
    if n["text"]:
        return "\\n".join(n["text"])
    lines = [n["op"]] + n["extra"]
    if n["ins"]:
        lines.append("in: " + ", ".join(n["ins"]))
    if n["out"]:
        lines.append("out: " + n["out"])
    if n["gpus"] is not None:
        lines.append(gspec(n["gpus"]))
    return "\\n".join(lines)


def render(m):
    L = ["// house style P: record nodes, ellipse communication, parallelogram routing",
         "digraph %s {" % m.name,
         "  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=%s];" % q(m.graph_label),
         "  node [fontname=\"Helvetica\", fontsize=10];",
         "  edge [fontname=\"Helvetica\", fontsize=9];",
         "",
         "  legend [shape=note, label=%s];" % q("\\n".join(m.legend)),
         ""]

    def node_line(nid, ind):
        n = m.nodes[nid]
        return "%s%s [shape=%s, label=%s];" % (ind, nid, n["shape"], q(node_label(n)))

    by_cluster = {}
    for nid, n in m.nodes.items():
        by_cluster.setdefault(n["cluster"], []).append(nid)
    for nid in by_cluster.get(None, []):
        L.append(node_line(nid, "  "))
    tops = [k for k in m.clusters if len(k) == 1]
    for top in tops:
        L.append("  subgraph cluster_%s {" % top[0])
        L.append("    label=%s;" % q(m.clusters[top]))
        for nid in by_cluster.get(top, []):
            L.append(node_line(nid, "    "))
        for sub in [k for k in m.clusters if len(k) == 2 and k[0] == top[0]]:
            L.append("    subgraph cluster_%s_%s {" % sub)
            L.append("      label=%s;" % q(m.clusters[sub]))
            for nid in by_cluster.get(sub, []):
                L.append(node_line(nid, "      "))
            L.append("    }")
        L.append("  }")
    L.append("")
    for a, b, attrs in m.edges:
        if attrs:
            L.append("  %s -> %s [%s];" % (a, b, ", ".join("%s=%s" % kv for kv in attrs.items())))
        else:
            L.append("  %s -> %s;" % (a, b))
    L.append("}")
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- builder

def build(cfg):
    dp, pp, tp, ep = cfg["dp"], cfg["pp"], cfg["tp"], cfg["ep"]
    kinds = cfg["layers"]
    nl = len(kinds)
    H, nh, hd, V = cfg["hidden"], cfg["heads"], cfg["head_dim"], cfg["vocab"]
    assert nh * hd == H and nh % tp == 0 and V % tp == 0
    groups = ep if "moe" in kinds else 1          # attention groups (one per EP rank)
    per_rep = pp * groups * tp
    stage_base = cfg.get("stage_base") or [s * groups * tp for s in range(pp)]
    hl, Hs = nh // tp, H // tp
    B, S = cfg["batch"], cfg["seq"]
    assert B % groups == 0
    b = B // groups
    act, tok = dims(b, S, H), dims(b, S)
    qkv, score, ctx = dims(b, S, hl, hd), dims(b, hl, S, S), dims(b, S, Hs)
    assert nl % pp == 0
    per_stage = nl // pp
    stage_of = [l // per_stage for l in range(nl)]

    m = Model(cfg["name"], cfg["graph_label"],
              ["Legend", "TP %d / PP %d / DP %d / EP %d" % (tp, pp, dp, ep), "box = compute, ellipse = comm"])

    for r in range(dp):
        R = "R%d" % r if dp > 1 else ""
        RK = "R%d" % r

        def gpu(s, e, t):
            return r * per_rep + stage_base[s] + e * tp + t

        def sfx(e, t):
            return ("E%d" % e if groups > 1 else "") + "T%d" % t

        def Es(e):
            return "E%d" % e if groups > 1 else ""

        def ggpus(s, e):
            return [gpu(s, e, t) for t in range(tp)]

        def sgpus(s):
            return [gpu(s, e, t) for e in range(groups) for t in range(tp)]

        tpr = "tp0-%d" % (tp - 1)
        epr = "ep0-%d" % (ep - 1)
        lo = r * per_rep
        m.clusters[(RK,)] = "Replica R%d (gpus %d-%d)" % (r, lo, lo + per_rep - 1)
        for s in range(pp):
            ls = [l for l in range(nl) if stage_of[l] == s]
            m.clusters[(RK, "S%d" % s)] = "PP stage %d | layers %d-%d" % (s, ls[0], ls[-1])
        C = lambda s: (RK, "S%d" % s)

        # ---- input and embedding (stage 0)
        inp = m.rec(R + "Input", C(0), "Input", [dims(B, S)], dims(B, S), [gpu(0, 0, 0)])
        if groups > 1:
            dist = m.comm(R + "Scatter", C(0), "scatter batch %s %s" % (epr, gspec(sgpus(0))),
                          "%s -> %s" % (dims(B, S), tok))
        else:
            dist = m.comm(R + "Broadcast", C(0), "broadcast %s %s" % (tpr, gspec(sgpus(0))), tok)
        m.edge(inp, dist)
        stream = {}
        for e in range(groups):
            ag = R + "EmbGather" + Es(e)
            embs = []
            for t in range(tp):
                emb = m.rec(R + "Embed" + sfx(e, t), C(0), "Embedding", [tok], dims(b, S, Hs), [gpu(0, e, t)])
                m.edge(dist, emb)
                embs.append(emb)
            m.comm(ag, C(0), "allgather %s %s" % (tpr, gspec(ggpus(0, e))), act)
            for emb in embs:
                m.edge(emb, ag)
            for t in range(tp):
                stream[(e, t)] = ag

        # ---- layers
        for l, kind in enumerate(kinds):
            s = stage_of[l]
            c = C(s)
            if l > 0 and stage_of[l - 1] != s:
                for e in range(groups):
                    for t in range(tp):
                        g0, g1 = gpu(s - 1, e, t), gpu(s, e, t)
                        sr = m.comm(R + "Pp%dTo%d%s" % (s - 1, s, sfx(e, t)), (RK,),
                                    "send/recv pp%d->pp%d gpu %d -> gpu %d" % (s - 1, s, g0, g1), act)
                        m.edge(stream[(e, t)], sr)
                        stream[(e, t)] = sr
            # attention sublayer
            P = "%sL%dAttn" % (R, l)
            for e in range(groups):
                ar = P + "AllReduce" + Es(e)
                outs = []
                for t in range(tp):
                    g = [gpu(s, e, t)]
                    x = sfx(e, t)
                    nrm = m.rec(P + "Norm" + x, c, "LayerNorm", [act], act, g)
                    qp = m.rec(P + "QProj" + x, c, "QProj", [act], qkv, g)
                    kp = m.rec(P + "KProj" + x, c, "KProj", [act], qkv, g)
                    vp = m.rec(P + "VProj" + x, c, "VProj", [act], qkv, g)
                    sc = m.rec(P + "QKt" + x, c, "QKt", [qkv, qkv], score, g)
                    sm = m.rec(P + "Softmax" + x, c, "ScaleMaskSoftmax", [score], score, g)
                    cx = m.rec(P + "Ctx" + x, c, "AttnV", [score, qkv], ctx, g)
                    op = m.rec(P + "OutProj" + x, c, "OutProj", [ctx], act, g)
                    m.edge(stream[(e, t)], nrm)
                    for p in (qp, kp, vp):
                        m.edge(nrm, p)
                    m.edge(qp, sc)
                    m.edge(kp, sc)
                    m.edge(sc, sm)
                    m.edge(sm, cx)
                    m.edge(vp, cx)
                    m.edge(cx, op)
                    outs.append(op)
                m.comm(ar, c, "allreduce %s %s" % (tpr, gspec(ggpus(s, e))), act)
                for op in outs:
                    m.edge(op, ar)
                for t in range(tp):
                    ra = m.rec(P + "ResAdd" + sfx(e, t), c, "AddResidual", [act, act], act, [gpu(s, e, t)])
                    m.edge(ar, ra)
                    m.edge(stream[(e, t)], ra)
                    stream[(e, t)] = ra
            if kind == "dense":
                F = cfg["ffn"]
                assert F % tp == 0
                ffs = dims(b, S, F // tp)
                P = "%sL%dMlp" % (R, l)
                for e in range(groups):
                    ar = P + "AllReduce" + Es(e)
                    outs = []
                    for t in range(tp):
                        g = [gpu(s, e, t)]
                        x = sfx(e, t)
                        nrm = m.rec(P + "Norm" + x, c, "LayerNorm", [act], act, g)
                        gp = m.rec(P + "GateProj" + x, c, "GateProj", [act], ffs, g)
                        up = m.rec(P + "UpProj" + x, c, "UpProj", [act], ffs, g)
                        sl = m.rec(P + "SiLUMul" + x, c, "SiLUMul", [ffs, ffs], ffs, g)
                        dn = m.rec(P + "DownProj" + x, c, "DownProj", [ffs], act, g)
                        m.edge(stream[(e, t)], nrm)
                        m.edge(nrm, gp)
                        m.edge(nrm, up)
                        m.edge(gp, sl)
                        m.edge(up, sl)
                        m.edge(sl, dn)
                        outs.append(dn)
                    m.comm(ar, c, "allreduce %s %s" % (tpr, gspec(ggpus(s, e))), act)
                    for dn in outs:
                        m.edge(dn, ar)
                    for t in range(tp):
                        ra = m.rec(P + "ResAdd" + sfx(e, t), c, "AddResidual", [act, act], act, [gpu(s, e, t)])
                        m.edge(ar, ra)
                        m.edge(stream[(e, t)], ra)
                        stream[(e, t)] = ra
            else:
                E, k = cfg["experts"], cfg["topk"]
                assert E % ep == 0 and (B * S * k) % E == 0
                per = E // ep
                T = B * S * k // E               # tokens per expert (balanced routing)
                xt, ck = dims(T, H), dims(b, S, k, H)
                P = "%sL%dMoe" % (R, l)
                norms, gates = {}, {}
                for e in range(groups):
                    for t in range(tp):
                        g = [gpu(s, e, t)]
                        x = sfx(e, t)
                        norms[(e, t)] = m.rec(P + "Norm" + x, c, "LayerNorm", [act], act, g)
                        gates[(e, t)] = m.route(P + "Gate" + x, c, "Gate", [act], dims(b, S, k), g,
                                                extra=["top-%d of %d experts" % (k, E)])
                        m.edge(stream[(e, t)], norms[(e, t)])
                        m.edge(norms[(e, t)], gates[(e, t)])
                disp, comb = {}, {}
                for t in range(tp):
                    tg = [gpu(s, e, t) for e in range(ep)]
                    disp[t] = m.comm(P + "DispatchT%d" % t, c, "all2all dispatch %s %s" % (epr, gspec(tg)),
                                     "%s -> %s" % (act, xt))
                    for e in range(groups):
                        m.edge(norms[(e, t)], disp[t])
                        m.edge(gates[(e, t)], disp[t], style="dashed")
                for t in range(tp):
                    tg = [gpu(s, e, t) for e in range(ep)]
                    comb[t] = m.comm(P + "CombineT%d" % t, c, "all2all combine %s %s" % (epr, gspec(tg)),
                                     "%s -> %s" % (xt, ck))
                for x in range(E):
                    ex = x // per
                    red = P + "Expert%dAllReduce" % x
                    shards = []
                    for t in range(tp):
                        en = m.rec(P + "Expert%dE%dT%d" % (x, ex, t), c, "ExpertFFN %d" % x, [xt], xt, [gpu(s, ex, t)])
                        m.edge(disp[t], en)
                        shards.append(en)
                    m.comm(red, c, "allreduce expert %d %s %s" % (x, tpr, gspec(ggpus(s, ex))), xt)
                    for en in shards:
                        m.edge(en, red)
                    for t in range(tp):
                        m.edge(red, comb[t])
                for e in range(groups):
                    for t in range(tp):
                        g = [gpu(s, e, t)]
                        x = sfx(e, t)
                        wc = m.route(P + "WeightedCombine" + x, c, "WeightedCombine", [ck, dims(b, S, k)], act, g)
                        m.edge(comb[t], wc)
                        m.edge(gates[(e, t)], wc, style="dashed")
                        ra = m.rec(P + "ResAdd" + x, c, "AddResidual", [act, act], act, g)
                        m.edge(wc, ra)
                        m.edge(stream[(e, t)], ra)
                        stream[(e, t)] = ra

        # ---- head (last stage)
        s = pp - 1
        c = C(s)
        lgs = []
        for e in range(groups):
            lg = R + "LogitsGather" + Es(e)
            heads = []
            for t in range(tp):
                g = [gpu(s, e, t)]
                x = sfx(e, t)
                fn = m.rec(R + "FinalNorm" + x, c, "FinalLayerNorm", [act], act, g)
                lh = m.rec(R + "LmHead" + x, c, "LMHead", [act], dims(b, S, V // tp), g)
                m.edge(stream[(e, t)], fn)
                m.edge(fn, lh)
                heads.append(lh)
            m.comm(lg, c, "allgather logits %s %s" % (tpr, gspec(ggpus(s, e))), dims(b, S, V))
            for lh in heads:
                m.edge(lh, lg)
            lgs.append(lg)
        outn = R + "Output"
        if groups > 1:
            bg = m.comm(R + "BatchGather", c, "gather batch %s %s" % (epr, gspec(sgpus(s))),
                        "%s -> %s" % (dims(b, S, V), dims(B, S, V)))
            for lg in lgs:
                m.edge(lg, bg)
            src = [bg]
        else:
            src = lgs
        m.rec(outn, c, "Output", [dims(B, S, V)], dims(B, S, V), [gpu(s, 0, 0)])
        for x in src:
            m.edge(x, outn)
    return m


# --------------------------------------------------------------------------- configs

CFG = {
    "clean_1": dict(name="DenseSwiGLU_TP4_PP2_DP2", dp=2, pp=2, tp=4, ep=1,
                    layers=["dense"] * 4, hidden=2048, heads=16, head_dim=128, ffn=5632, vocab=32000,
                    batch=4, seq=1024,
                    graph_label="Dense SwiGLU LLM, inference forward pass: 4 layers, hidden 2048, "
                                "16 heads x 128, ffn 5632, vocab 32000"),
    "clean_2": dict(name="MoE_TP2_EP4", dp=1, pp=1, tp=2, ep=4,
                    layers=["moe"] * 2, hidden=2048, heads=16, head_dim=128, vocab=32000,
                    experts=8, topk=2, batch=8, seq=512,
                    graph_label="MoE LLM, inference forward pass: 2 layers, hidden 2048, "
                                "16 heads x 128, 8 experts top-2, vocab 32000"),
    "clean_3": dict(name="MoE_TP2_EP2_PP2", dp=1, pp=2, tp=2, ep=2,
                    layers=["dense", "moe", "moe", "moe"], hidden=4096, heads=32, head_dim=128,
                    ffn=11008, vocab=32000, experts=8, topk=2, batch=4, seq=256,
                    graph_label="MoE LLM, inference forward pass: 4 layers (layer 0 dense SwiGLU, "
                                "layers 1-3 MoE), hidden 4096, 32 heads x 128, 8 experts top-2, vocab 32000"),
}


def clean(key, **over):
    cfg = dict(CFG[key])
    cfg.update(over)
    return build(cfg)


# --------------------------------------------------------------------------- defects
# each returns (model, base, category, nodes, what)

def d_cycle():
    m = clean("clean_2")
    a, b = "L1MoeExpert5E2T0", "L1MoeDispatchT0"
    m.edge(a, b)
    return m, "clean_2", "structure", [a, b], \
        "Expert 5's TP0 shard in layer 1 also feeds back into the dispatch all-to-all that feeds it, " \
        "so L1MoeDispatchT0 -> L1MoeExpert5E2T0 -> L1MoeDispatchT0 is a cycle."


def d_dangling_input():
    m = clean("clean_1")
    m.remove_edge("R0L1AttnNormT2", "R0L1AttnKProjT2")
    return m, "clean_1", "structure", ["R0L1AttnKProjT2"], \
        "The K projection of replica 0, layer 1, TP rank 2 has no incoming edge (its LayerNorm input edge is missing)."


def d_dangling_output():
    m = clean("clean_1")
    nodes = []
    for t in range(4):
        src = "R1L2AttnSoftmaxT%d" % t
        n = m.nodes[src]
        nid = m.rec("R1L2AttnDropoutT%d" % t, n["cluster"], "Dropout", [n["out"]], n["out"], n["gpus"])
        m.edge(src, nid)
        nodes.append(nid)
    return m, "clean_1", "structure", nodes, \
        "Replica 1, layer 2 has a Dropout node after each TP rank's softmax whose output goes nowhere " \
        "(no outgoing edge; the softmax still feeds AttnV)."


def d_attention_one_box():
    m = clean("clean_1")
    nodes = []
    for t in range(4):
        P, x = "R0L2Attn", "T%d" % t
        nrm, op = P + "Norm" + x, P + "OutProj" + x
        q_ = m.nodes[P + "QProj" + x]
        ctx = m.nodes[P + "Ctx" + x]["out"]
        for k in ("QProj", "KProj", "VProj", "QKt", "Softmax", "Ctx"):
            m.remove_node(P + k + x)
        nid = m.rec(P + "Mha" + x, q_["cluster"], "MultiHeadAttention", [m.nodes[nrm]["out"]], ctx, q_["gpus"])
        # keep edge order: norm -> mha -> outproj
        m.edge(nrm, nid)
        m.edge(nid, op)
        nodes.append(nid)
    return m, "clean_1", "attention", nodes, \
        "Replica 0, layer 2's attention is drawn as one MultiHeadAttention box per TP rank instead of " \
        "Q/K/V projections, QK^T, softmax and the weighted sum."


def d_v_bypasses_softmax():
    m = clean("clean_1")
    P, x = "R1L1Attn", "T0"
    sm, cx, op = P + "Softmax" + x, P + "Ctx" + x, P + "OutProj" + x
    m.remove_edge(sm, cx)
    m.edge(sm, op)
    m.nodes[cx]["ins"] = [m.nodes[P + "VProj" + x]["out"]]
    m.nodes[op]["ins"] = [m.nodes[cx]["out"], m.nodes[sm]["out"]]
    return m, "clean_1", "attention", [cx, sm], \
        "In replica 1, layer 1, TP0 the weighted sum (AttnV) is fed by V only; the softmax bypasses it and " \
        "goes to the output projection instead."


def d_v_into_score():
    m = clean("clean_2")
    nodes = []
    for e in range(4):
        for t in range(2):
            x = "E%dT%d" % (e, t)
            m.remove_node("L0AttnKProj" + x)
            m.edge("L0AttnVProj" + x, "L0AttnQKt" + x)
            nodes.append("L0AttnQKt" + x)
    return m, "clean_2", "attention", nodes, \
        "In layer 0 the score QK^T takes Q and V (V wired in instead of K; no K projection is drawn)."


def d_qkv_into_oproj():
    m = clean("clean_2")
    nodes = []
    for e in range(4):
        for t in range(2):
            x = "E%dT%d" % (e, t)
            P = "L1Attn"
            qkv = m.nodes[P + "QProj" + x]["out"]
            for k in ("QKt", "Softmax", "Ctx"):
                m.remove_node(P + k + x)
            op = P + "OutProj" + x
            for k in ("QProj", "KProj", "VProj"):
                m.edge(P + k + x, op)
            m.nodes[op]["ins"] = [qkv, qkv, qkv]
            nodes.append(op)
    return m, "clean_2", "attention", nodes, \
        "In layer 1, Q, K and V go straight into the output projection: no QK^T score, softmax or weighted sum."


def d_head_arithmetic():
    m = clean("clean_1")
    nodes = []
    for t in range(4):
        P, x = "R0L3Attn", "T%d" % t
        bad = dims(4, 1024, 4, 96)
        for k in ("QProj", "KProj", "VProj"):
            m.nodes[P + k + x]["out"] = bad
            nodes.append(P + k + x)
        m.nodes[P + "QKt" + x]["ins"] = [bad, bad]
        m.nodes[P + "Ctx" + x]["ins"][1] = bad
        m.nodes[P + "Ctx" + x]["out"] = dims(4, 1024, 384)
        m.nodes[P + "OutProj" + x]["ins"] = [dims(4, 1024, 384)]
    return m, "clean_1", "attention", nodes, \
        "Replica 0, layer 3's projections give 4 heads x 96 per TP rank: 16 x 96 = 1536 != hidden 2048."


def d_tp_heads():
    m = clean("clean_1")
    P, x = "R1L0Attn", "T2"
    full, sc = dims(4, 1024, 16, 128), dims(4, 16, 1024, 1024)
    for k in ("QProj", "KProj", "VProj"):
        m.nodes[P + k + x]["out"] = full
    m.nodes[P + "QKt" + x]["ins"] = [full, full]
    m.nodes[P + "QKt" + x]["out"] = sc
    m.nodes[P + "Softmax" + x]["ins"] = [sc]
    m.nodes[P + "Softmax" + x]["out"] = sc
    m.nodes[P + "Ctx" + x]["ins"] = [sc, full]
    m.nodes[P + "Ctx" + x]["out"] = dims(4, 1024, 2048)
    m.nodes[P + "OutProj" + x]["ins"] = [dims(4, 1024, 2048)]
    return m, "clean_1", "attention", [P + k + x for k in ("QProj", "KProj", "VProj")], \
        "TP rank 2 of replica 1, layer 0 projects all 16 heads (4 1024 16 128) instead of 16/TP4 = 4 heads."


def d_edge_shape_mismatch():
    m = clean("clean_1")
    n = "R0L1MlpUpProjT1"
    m.nodes[n]["ins"] = [dims(4, 1024, 3072)]
    return m, "clean_1", "shape", [n, "R0L1MlpNormT1"], \
        "R0L1MlpUpProjT1 says in: 4 1024 3072 but its producer R0L1MlpNormT1 outputs 4 1024 2048 (factor 1.5)."


def d_shard_without_gather():
    m = clean("clean_1")
    m.remove_edge("R1EmbGather", "R1L0AttnNormT2")
    m.edge("R1EmbedT2", "R1L0AttnNormT2")
    return m, "clean_1", "shape", ["R1EmbedT2", "R1L0AttnNormT2"], \
        "Replica 1's TP2 embedding shard (4 1024 512 = 2048/TP4) goes straight into layer 0's LayerNorm " \
        "(in: 4 1024 2048) without the all-gather."


def d_stage_count():
    m = clean("clean_1")
    m.legend[1] = "TP 4 / PP 3 / DP 2 / EP 1"
    return m, "clean_1", "pipeline", ["legend"], \
        "The legend declares PP 3 but each replica draws 2 pipeline stages."


def d_stage_range_gap():
    m = clean("clean_1")
    m.clusters[("R0", "S0")] = "PP stage 0 | layers 0-0"
    return m, "clean_1", "pipeline", [], \
        "Replica 0's stage ranges are 0-0 and 2-3 (cluster labels), leaving layer 1 uncovered."


def d_stage_missing_layer():
    m = clean("clean_3")
    for nid in [k for k in m.nodes if k.startswith("L1")]:
        m.remove_node(nid)
    nodes = []
    for e in range(2):
        for t in range(2):
            x = "E%dT%d" % (e, t)
            m.edge("L0MlpResAdd" + x, "Pp0To1" + x)
            nodes.append("Pp0To1" + x)
    return m, "clean_3", "pipeline", nodes, \
        "Stage 0 is labelled 'layers 0-1' but none of layer 1's operators are drawn; layer 0 feeds the send/recv directly."


def d_no_stage_transfer():
    m = clean("clean_1")
    nodes = []
    for t in range(4):
        sr = "R1Pp0To1T%d" % t
        src = m.preds(sr)[0]
        dsts = m.succs(sr)
        m.remove_node(sr)
        for d in dsts:
            m.edge(src, d)
        nodes += [src] + dsts
    return m, "clean_1", "pipeline", nodes, \
        "Replica 1's stage 0 (gpus 8-11) joins stage 1 (gpus 12-15) by plain edges: no send/recv node."


def _move_expert(m, layer, x, old_e, new_e, tp, base, ep):
    P = "L%dMoe" % layer
    for t in range(tp):
        old = P + "Expert%dE%dT%d" % (x, old_e, t)
        new = P + "Expert%dE%dT%d" % (x, new_e, t)
        m.rename(old, new)
        m.nodes[new]["gpus"] = [base + new_e * tp + t]
    red = m.nodes[P + "Expert%dAllReduce" % x]
    red["text"][0] = "allreduce expert %d tp0-%d %s" % (x, tp - 1, gspec([base + new_e * tp + t for t in range(tp)]))


def d_experts_subset_ranks():
    m = clean("clean_2")
    for x, ne in ((4, 0), (5, 0), (6, 1), (7, 1)):
        _move_expert(m, 1, x, x // 2, ne, 2, 0, 4)
    nodes = ["L1MoeExpert%dE%dT%d" % (x, ne, t) for x, ne in ((4, 0), (5, 0), (6, 1), (7, 1)) for t in range(2)]
    return m, "clean_2", "expert", nodes, \
        "Layer 1's 8 experts sit only on EP ranks 0-1 (4 each, gpus 0-3); EP ranks 2 and 3 hold none."


def d_experts_uneven():
    m = clean("clean_2")
    _move_expert(m, 0, 2, 1, 0, 2, 0, 4)
    return m, "clean_2", "expert", ["L0MoeExpert2E0T0", "L0MoeExpert2E0T1", "L0MoeExpert3E1T0", "L0MoeExpert3E1T1"], \
        "Layer 0's experts are split 3/1/2/2 over EP ranks 0-3 (expert 2 moved to rank 0) instead of 2 each."


def d_experts_share_gpu():
    m = clean("clean_3")
    P = "L2Moe"
    for t in range(2):
        m.nodes[P + "Expert5E1T%d" % t]["gpus"] = [4 + t]
    m.nodes[P + "Expert5AllReduce"]["text"][0] = "allreduce expert 5 tp0-1 gpus 4-5"
    return m, "clean_3", "expert", ["L2MoeExpert5E1T0", "L2MoeExpert5E1T1", "L2MoeExpert0E0T0", "L2MoeExpert0E0T1"], \
        "In layer 2 expert 5 of EP rank 1 is placed on gpus 4-5, the GPUs of EP rank 0's experts 0-3."


def d_no_gate():
    m = clean("clean_2")
    nodes = []
    for e in range(4):
        for t in range(2):
            x = "E%dT%d" % (e, t)
            m.remove_node("L0MoeGate" + x)
            wc = "L0MoeWeightedCombine" + x
            m.nodes[wc]["ins"] = m.nodes[wc]["ins"][:1]
    nodes = ["L0MoeDispatchT0", "L0MoeDispatchT1"] + ["L0MoeExpert%dE%dT%d" % (x, x // 2, t) for x in range(8) for t in range(2)]
    return m, "clean_2", "expert", nodes, \
        "Layer 0 has no Gate/router: the LayerNorm output is dispatched to the experts with no routing decision."


def d_no_all_to_all():
    m = clean("clean_2")
    nodes = []
    for t in range(2):
        nid = "L1MoeDispatchT%d" % t
        n = m.nodes[nid]
        n["shape"] = "parallelogram"
        n["text"] = None
        n["op"] = "TokenDispatch"
        n["ins"] = [dims(2, 512, 2048), dims(2, 512, 2)]
        n["out"] = dims(1024, 2048)
        n["gpus"] = [2 * e + t for e in range(4)]
        nodes.append(nid)
    return m, "clean_2", "expert", nodes, \
        "In layer 1 tokens reach the experts on other EP ranks through a TokenDispatch routing node, " \
        "not an all-to-all communication (EP 4)."


def d_tp_rank_missing():
    m = clean("clean_1")
    x = "T3"
    P = "R0L1Attn"
    for k in ("Norm", "QProj", "KProj", "VProj", "QKt", "Softmax", "Ctx", "OutProj"):
        m.remove_node(P + k + x)
    return m, "clean_1", "tensor", ["R0L1AttnAllReduce", "R0L1AttnResAddT3"], \
        "Replica 0, layer 1's attention operators (norm, Q/K/V, score, softmax, AttnV, OutProj) are drawn " \
        "for TP ranks 0-2 only; TP rank 3 is missing."


def d_no_allreduce_after_rowparallel():
    m = clean("clean_1")
    m.remove_node("R1L3MlpAllReduce")
    nodes = []
    for t in range(4):
        m.edge("R1L3MlpDownProjT%d" % t, "R1L3MlpResAddT%d" % t)
        nodes += ["R1L3MlpDownProjT%d" % t, "R1L3MlpResAddT%d" % t]
    return m, "clean_1", "tensor", nodes, \
        "Replica 1, layer 3's row-parallel DownProj partial sums go straight into the residual add: no all-reduce."


def d_cross_gpu_no_comm():
    m = clean("clean_1")
    m.remove_edge("R0L0AttnNormT2", "R0L0AttnQProjT2")
    m.edge("R0L0AttnNormT1", "R0L0AttnQProjT2")
    return m, "clean_1", "communication", ["R0L0AttnNormT1", "R0L0AttnQProjT2"], \
        "R0L0AttnNormT1 (gpu 1) feeds R0L0AttnQProjT2 (gpu 2) by a plain edge, no communication node."


def d_comm_wrong_shape():
    m = clean("clean_1")
    n = m.nodes["R1L1AttnAllReduce"]
    n["shape"] = "box"
    n["text"] = ["allreduce tp0-3", "in: 4 1024 2048", "out: 4 1024 2048", "gpus 8-11"]
    return m, "clean_1", "communication", ["R1L1AttnAllReduce"], \
        "Replica 1, layer 1's attention all-reduce is drawn as a box (compute shape) instead of an ellipse."


def d_missing_gpu():
    m = clean("clean_1")
    m.nodes["R0L2MlpGateProjT0"]["gpus"] = None
    return m, "clean_1", "gpu", ["R0L2MlpGateProjT0"], \
        "R0L2MlpGateProjT0 has no GPU placement field."


def d_gpu_out_of_range():
    m = clean("clean_1")
    m.nodes["R1EmbedT3"]["gpus"] = [19]
    return m, "clean_1", "gpu", ["R1EmbedT3"], \
        "R1EmbedT3 is placed on gpu 19, beyond the 16 GPUs of TP4 x PP2 x DP2."


def d_stages_share_gpus():
    m = clean("clean_3", stage_base=[0, 2])
    nodes = [k for k, n in m.nodes.items() if n["cluster"] == ("R0", "S1") and n["gpus"] and
             set(n["gpus"]) & {2, 3}]
    return m, "clean_3", "gpu", nodes[:6], \
        "Stage 1 is placed on gpus 2-5, overlapping stage 0's gpus 0-3 on gpus 2-3."


def d_strategy_mismatch():
    m = clean("clean_2")
    m.legend[1] = "TP 2 / PP 1 / DP 1 / EP 8"
    return m, "clean_2", "strategy", ["legend"], \
        "The legend declares EP 8 but experts are drawn on EP ranks 0-3 only (EP 4)."


def d_missing_shapes():
    m = clean("clean_1")
    n = m.nodes["R1L2MlpUpProjT2"]
    n["ins"] = None
    n["out"] = None
    return m, "clean_1", "annotation", ["R1L2MlpUpProjT2"], \
        "R1L2MlpUpProjT2 carries no in:/out: shapes."


def d_placeholder():
    m = clean("clean_1")
    n = m.nodes["R0L3MlpNormT1"]
    n["ins"] = ["? 1024 2048"]
    n["out"] = "? 1024 2048"
    return m, "clean_1", "annotation", ["R0L3MlpNormT1"], \
        "R0L3MlpNormT1 has a '?' placeholder batch dimension in its shapes."


def d_moe_before_attention():
    m = clean("clean_2")
    nodes = []
    for e in range(4):
        for t in range(2):
            x = "E%dT%d" % (e, t)
            prev = "L0MoeResAdd" + x
            an, ar = "L1AttnNorm" + x, "L1AttnResAdd" + x
            mn, mr = "L1MoeNorm" + x, "L1MoeResAdd" + x
            fn = "FinalNorm" + x
            # before: prev -> an, prev -> ar(skip), ar -> mn, ar -> mr(skip), mr -> fn
            m.remove_edge(prev, an)
            m.remove_edge(prev, ar)
            m.remove_edge(ar, mn)
            m.remove_edge(ar, mr)
            m.remove_edge(mr, fn)
            m.edge(prev, mn)
            m.edge(prev, mr)
            m.edge(mr, an)
            m.edge(mr, ar)
            m.edge(ar, fn)
            nodes += [mn, an]
    return m, "clean_2", "structure", nodes, \
        "Layer 1 runs its MoE block before its attention block (MoE residual output feeds the attention norm)."


def d_missing_residual():
    m = clean("clean_1")
    m.remove_edge("R1L0AttnResAddT1", "R1L0MlpResAddT1")
    return m, "clean_1", "structure", ["R1L0MlpResAddT1"], \
        "R1L0MlpResAddT1 is fed only by the MLP all-reduce; the skip edge from R1L0AttnResAddT1 is missing."


DEFECTS = [
    ("cycle", d_cycle), ("dangling_input", d_dangling_input), ("dangling_output", d_dangling_output),
    ("attention_one_box", d_attention_one_box), ("v_bypasses_softmax", d_v_bypasses_softmax),
    ("v_into_score", d_v_into_score), ("qkv_into_oproj", d_qkv_into_oproj),
    ("head_arithmetic", d_head_arithmetic), ("tp_heads", d_tp_heads),
    ("edge_shape_mismatch", d_edge_shape_mismatch), ("shard_without_gather", d_shard_without_gather),
    ("stage_count", d_stage_count), ("stage_range_gap", d_stage_range_gap),
    ("stage_missing_layer", d_stage_missing_layer), ("no_stage_transfer", d_no_stage_transfer),
    ("experts_subset_ranks", d_experts_subset_ranks), ("experts_uneven", d_experts_uneven),
    ("experts_share_gpu", d_experts_share_gpu), ("no_gate", d_no_gate), ("no_all_to_all", d_no_all_to_all),
    ("tp_rank_missing", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", d_cross_gpu_no_comm), ("comm_wrong_shape", d_comm_wrong_shape),
    ("missing_gpu", d_missing_gpu), ("gpu_out_of_range", d_gpu_out_of_range),
    ("stages_share_gpus", d_stages_share_gpus), ("strategy_mismatch", d_strategy_mismatch),
    ("missing_shapes", d_missing_shapes), ("placeholder", d_placeholder),
    ("moe_before_attention", d_moe_before_attention), ("missing_residual", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Dense SwiGLU model, 4 layers, TP4 / PP2 / DP2 / EP1 on 16 GPUs (two replica clusters, two stages each).",
    "clean_2": "MoE model, 2 MoE layers, 8 experts top-2, TP2 / PP1 / DP1 / EP4 on 8 GPUs (attention TP2 per EP group).",
    "clean_3": "MoE model, 4 layers (layer 0 dense, 1-3 MoE), 8 experts top-2, TP2 / PP2 / DP1 / EP2 on 8 GPUs.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for key in ("clean_1", "clean_2", "clean_3"):
        with open(os.path.join(OUT, key + ".dot"), "w") as f:
            f.write(render(clean(key)))
        manifest.append(dict(file=key + ".dot", kind="clean", category="none", nodes=[], what=CLEAN_WHAT[key]))
    for kind, fn in DEFECTS:
        m, base, cat, nodes, what = fn()
        for n in nodes:
            assert n in m.nodes or n == "legend", (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(render(m))
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes, what=what, base=base + ".dot"))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
