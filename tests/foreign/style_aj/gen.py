#!/usr/bin/env python3
"""Independent generator of deployment DAGs in house style "AJ".

House style:
  * graph name carries the strategy:  digraph EP2_TP2_PP1_DP1_decoder { ... }
  * pipeline stages are outer clusters  ("PP stage 1 (decoder layers 2-3)"),
    each holding one cluster per decoder layer ("Decoder layer 3") with every rank's nodes;
  * the GPU is a suffix of the first label line: "q_proj@gpu3", "allreduce@gpu0-3";
  * shapes are named tuples on two lines: "in (b,s,h)=(4,512,2048)" / "out (b,s,nh,hd)=(4,512,8,128)";
  * node ids L{layer}_{op}_g{gpu}; layers counted from 0;
  * ellipse = communication, box (the node default) = computation, parallelogram = routing.

Layout of a stage (per DP replica): EP x TP GPUs, gpu = ((dp*PP + pp)*EP + ep)*TP + tp.
Attention and dense MLPs are tensor parallel inside the TP group of each EP rank; the EP ranks of a
stage each run attention on their own slice of the batch (b = B/(DP*EP)). MoE experts are spread
over the EP ranks (E/EP each); with TP > 1 each expert is additionally TP-sharded over the TP group
of its EP rank and its partial output is all-reduced inside that group.

Run:  python3 gen.py      -> writes out/clean_*.dot, out/defect_*.dot, out/manifest.json
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

COMM, COMP, ROUTE = "ellipse", "box", "parallelogram"


# --------------------------------------------------------------------------- graph model

class Node:
    def __init__(self, nid, op, gpus, ins, outs, shape, stage, layer):
        self.id, self.op, self.gpus = nid, op, gpus
        self.ins, self.outs = ins, outs          # lists of (names, values)
        self.shape, self.stage, self.layer = shape, stage, layer
        self.explicit_shape = False


def gspec(gpus):
    """[0,1,2,3] -> 'gpu0-3'; [3,7] -> 'gpu3,7'; [4,5,6,8] -> 'gpu4-6,8'."""
    g = sorted(set(gpus))
    runs, start, prev = [], g[0], g[0]
    for x in g[1:] + [None]:
        if x is not None and x == prev + 1:
            prev = x
            continue
        runs.append(str(start) if start == prev else "%d-%d" % (start, prev))
        if x is not None:
            start = prev = x
    return "gpu" + ",".join(runs)


def gid(gpus):
    g = sorted(set(gpus))
    return "g%d" % g[0] if len(g) == 1 else "g%d_%d" % (g[0], g[-1])


def tup(shp):
    names, vals = shp
    return "(%s)=(%s)" % (",".join(names), ",".join(str(v) for v in vals))


class Graph:
    def __init__(self, name):
        self.name = name
        self.nodes = {}
        self.edges = []
        self.stage_labels = {}
        self.layer_labels = {}

    def add(self, base, op, gpus, ins, outs, shape=COMP, stage=None, layer=None):
        nid = "%s_%s" % (base, gid(gpus))
        assert nid not in self.nodes, nid
        self.nodes[nid] = Node(nid, op, list(gpus), ins, outs, shape, stage, layer)
        return nid

    def edge(self, a, b):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append((a, b))

    # ---- mutation helpers (used for defects)
    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in e]

    def remove_edge(self, a, b):
        assert (a, b) in self.edges, (a, b)
        self.edges.remove((a, b))

    def preds(self, nid):
        return [a for a, b in self.edges if b == nid]

    def succs(self, nid):
        return [b for a, b in self.edges if a == nid]

    def move(self, nid, gpus):
        """Place node on other GPUs (id follows the house id scheme)."""
        n = self.nodes.pop(nid)
        base = nid.rsplit("_g", 1)[0]
        n.gpus = list(gpus)
        n.id = "%s_%s" % (base, gid(gpus))
        assert n.id not in self.nodes
        self.nodes[n.id] = n
        self.edges = [(n.id if a == nid else a, n.id if b == nid else b) for a, b in self.edges]
        return n.id

    # ---- rendering
    def label(self, n):
        lines = [n.op + ("@" + gspec(n.gpus) if n.gpus else "")]
        if n.ins is not None:
            lines.append("in " + ", ".join(tup(s) for s in n.ins))
        if n.outs is not None:
            lines.append("out " + ", ".join(tup(s) for s in n.outs))
        return "\\n".join(lines)

    def node_line(self, n, ind):
        attrs = ['label="%s"' % self.label(n)]
        if n.shape != COMP or n.explicit_shape:
            attrs.append("shape=%s" % n.shape)
        return "%s%s [%s];" % (ind, n.id, ", ".join(attrs))

    def render(self):
        out = ["digraph %s {" % self.name,
               "  rankdir=TB;",
               '  node [shape=box, fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=9];']
        stages = sorted({n.stage for n in self.nodes.values() if n.stage is not None} | set(self.stage_labels))
        for p in stages:
            out.append("  subgraph cluster_pp_%d {" % p)
            out.append('    label="%s";' % self.stage_labels[p])
            for n in self.nodes.values():
                if n.stage == p and n.layer is None:
                    out.append(self.node_line(n, "    "))
            layers = sorted({n.layer for n in self.nodes.values() if n.stage == p and n.layer is not None})
            for L in layers:
                out.append("    subgraph cluster_layer_%d {" % L)
                out.append('      label="Decoder layer %d";' % L)
                for n in self.nodes.values():
                    if n.stage == p and n.layer == L:
                        out.append(self.node_line(n, "      "))
                out.append("    }")
            out.append("  }")
        for n in self.nodes.values():
            if n.stage is None:
                out.append(self.node_line(n, "  "))
        for a, b in self.edges:
            out.append("  %s -> %s;" % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- builder

def build(cfg, heads_override=None, moe_first=(), gpu_map=None):
    """heads_override: {(layer, gpu or None): (nh_per_rank, head_dim)}; moe_first: layers whose
    FFN/MoE sublayer is wired before attention; gpu_map: renumbering of physical GPU ids."""
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    NL, H, NH, HD = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    assert NH * HD == H and NH % TP == 0 and NL % PP == 0
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    assert B % (DP * EP) == 0 and V % TP == 0
    heads_override = heads_override or {}
    gmap = gpu_map or (lambda g: g)
    G = Graph("EP%d_TP%d_PP%d_DP%d_decoder" % (EP, TP, PP, DP))

    def gpu(d, p, e, t):
        return gmap(((d * PP + p) * EP + e) * TP + t)

    b, s = B // (DP * EP), S
    BS = (("b", "s"), (b, s))
    BSH = (("b", "s", "h"), (b, s, H))
    per = NL // PP
    for p in range(PP):
        G.stage_labels[p] = "PP stage %d (decoder layers %d-%d)" % (p, p * per, p * per + per - 1)

    def heads(L, g):
        return heads_override.get((L, g)) or heads_override.get((L, None)) or (NH // TP, HD)

    def attention(L, p, d, e, stream):
        team = [gpu(d, p, e, t) for t in range(TP)]
        res_in, new = {}, {}
        for t, g in enumerate(team):
            nh, hd = heads(L, g)
            BSNH = (("b", "s", "nh", "hd"), (b, s, nh, hd))
            BNSS = (("b", "nh", "s", "s"), (b, nh, s, s))
            a = lambda base, op, i, o, sh=COMP: G.add("L%d_%s" % (L, base), op, [g], i, o, sh, p, L)
            n = a("rmsnorm_attn", "rmsnorm", [BSH], [BSH]); G.edge(stream[(e, t)], n)
            q = a("q_proj", "q_proj", [BSH], [BSNH]); G.edge(n, q)
            k = a("k_proj", "k_proj", [BSH], [BSNH]); G.edge(n, k)
            v = a("v_proj", "v_proj", [BSH], [BSNH]); G.edge(n, v)
            rq = a("rope_q", "rope", [BSNH], [BSNH]); G.edge(q, rq)
            rk = a("rope_k", "rope", [BSNH], [BSNH]); G.edge(k, rk)
            sc = a("qk", "qk", [BSNH], [BNSS]); G.edge(rq, sc); G.edge(rk, sc)
            sm = a("softmax", "softmax", [BNSS], [BNSS]); G.edge(sc, sm)
            pv = a("pv", "pv", [BNSS, BSNH], [BSNH]); G.edge(sm, pv); G.edge(v, pv)
            o = a("o_proj", "o_proj", [BSNH], [BSH]); G.edge(pv, o)
            res_in[t] = o
        if TP > 1:
            ar = G.add("L%d_allreduce_attn" % L, "allreduce", team, [BSH], [BSH], COMM, p, L)
            for t in range(TP):
                G.edge(res_in[t], ar)
            res_in = {t: ar for t in range(TP)}
        for t, g in enumerate(team):
            r = G.add("L%d_residual_attn" % L, "residual", [g], [BSH], [BSH], COMP, p, L)
            G.edge(res_in[t], r); G.edge(stream[(e, t)], r)
            new[(e, t)] = r
        return new

    def dense_mlp(L, p, d, e, stream):
        team = [gpu(d, p, e, t) for t in range(TP)]
        BSF = (("b", "s", "f"), (b, s, cfg["ffn"] // TP))
        down, new = {}, {}
        for t, g in enumerate(team):
            a = lambda base, op, i, o: G.add("L%d_%s" % (L, base), op, [g], i, o, COMP, p, L)
            n = a("rmsnorm_mlp", "rmsnorm", [BSH], [BSH]); G.edge(stream[(e, t)], n)
            gp = a("gate_proj", "gate_proj", [BSH], [BSF]); G.edge(n, gp)
            up = a("up_proj", "up_proj", [BSH], [BSF]); G.edge(n, up)
            act = a("silu_mul", "silu_mul", [BSF], [BSF]); G.edge(gp, act); G.edge(up, act)
            dn = a("down_proj", "down_proj", [BSF], [BSH]); G.edge(act, dn)
            down[t] = dn
        if TP > 1:
            ar = G.add("L%d_allreduce_mlp" % L, "allreduce", team, [BSH], [BSH], COMM, p, L)
            for t in range(TP):
                G.edge(down[t], ar)
            down = {t: ar for t in range(TP)}
        for t, g in enumerate(team):
            r = G.add("L%d_residual_mlp" % L, "residual", [g], [BSH], [BSH], COMP, p, L)
            G.edge(down[t], r); G.edge(stream[(e, t)], r)
            new[(e, t)] = r
        return new

    def moe(L, p, d, stream):
        E, K = cfg["experts"], cfg["topk"]
        assert E % EP == 0
        T = b * s                                  # tokens held by one attention team
        Te = (B // DP) * S * K // E                 # tokens routed to one expert (balanced)
        TH, TEH = (("t", "h"), (T, H)), (("t", "h"), (Te, H))
        TKH = (("t", "k", "h"), (T, K, H))
        allg = [gpu(d, p, e, t) for e in range(EP) for t in range(TP)]
        routers = []
        for e in range(EP):
            for t in range(TP):
                g = gpu(d, p, e, t)
                n = G.add("L%d_rmsnorm_moe" % L, "rmsnorm", [g], [BSH], [BSH], COMP, p, L)
                G.edge(stream[(e, t)], n)
                r = G.add("L%d_router" % L, "router", [g], [BSH], [TH], ROUTE, p, L)
                G.edge(n, r)
                routers.append(r)
        disp = G.add("L%d_a2a_dispatch" % L, "a2a_dispatch", allg, [TH], [TEH], COMM, p, L)
        comb = G.add("L%d_a2a_combine" % L, "a2a_combine", allg, [TEH], [TKH], COMM, p, L)
        for r in routers:
            G.edge(r, disp)
        per_rank = E // EP
        for e in range(EP):
            team = [gpu(d, p, e, t) for t in range(TP)]
            for j in range(e * per_rank, (e + 1) * per_rank):
                shards = []
                for g in team:
                    x = G.add("L%d_expert_%d" % (L, j), "expert_%d" % j, [g], [TEH], [TEH], COMP, p, L)
                    G.edge(disp, x)
                    shards.append(x)
                if TP > 1:
                    ar = G.add("L%d_allreduce_e%d" % (L, j), "allreduce", team, [TEH], [TEH], COMM, p, L)
                    for x in shards:
                        G.edge(x, ar)
                    G.edge(ar, comb)
                else:
                    G.edge(shards[0], comb)
        new = {}
        for e in range(EP):
            for t in range(TP):
                g = gpu(d, p, e, t)
                m = G.add("L%d_moe_reduce" % L, "moe_reduce", [g], [TKH], [BSH], ROUTE, p, L)
                G.edge(comb, m)
                r = G.add("L%d_residual_moe" % L, "residual", [g], [BSH], [BSH], COMP, p, L)
                G.edge(m, r); G.edge(stream[(e, t)], r)
                new[(e, t)] = r
        return new

    def ffn(L, p, d, stream):
        if L in cfg["moe_layers"]:
            return moe(L, p, d, stream)
        new = {}
        for e in range(EP):
            new.update(dense_mlp(L, p, d, e, stream))
        return new

    def attn_all(L, p, d, stream):
        new = {}
        for e in range(EP):
            new.update(attention(L, p, d, e, stream))
        return new

    for d in range(DP):
        stream = {}
        for e in range(EP):
            for t in range(TP):
                g = gpu(d, 0, e, t)
                i = G.add("input", "input", [g], [BS], [BS], COMP, 0, None)
                m = G.add("embedding", "embedding", [g], [BS], [BSH], COMP, 0, None)
                G.edge(i, m)
                stream[(e, t)] = m
        for p in range(PP):
            if p > 0:
                for e in range(EP):
                    for t in range(TP):
                        src, dst = gpu(d, p - 1, e, t), gpu(d, p, e, t)
                        x = G.add("send_recv", "send_recv", [src, dst], [BSH], [BSH], COMM, None, None)
                        G.edge(stream[(e, t)], x)
                        stream[(e, t)] = x
            for L in range(p * per, (p + 1) * per):
                if L in moe_first:
                    stream = ffn(L, p, d, stream)
                    stream = attn_all(L, p, d, stream)
                else:
                    stream = attn_all(L, p, d, stream)
                    stream = ffn(L, p, d, stream)
        p = PP - 1
        BSVt, BSV = (("b", "s", "v"), (b, s, V // TP)), (("b", "s", "v"), (b, s, V))
        for e in range(EP):
            team = [gpu(d, p, e, t) for t in range(TP)]
            heads_ = []
            for t, g in enumerate(team):
                n = G.add("final_rmsnorm", "final_rmsnorm", [g], [BSH], [BSH], COMP, p, None)
                G.edge(stream[(e, t)], n)
                h = G.add("lm_head", "lm_head", [g], [BSH], [BSVt], COMP, p, None)
                G.edge(n, h)
                heads_.append(h)
            o = G.add("output", "output", [team[0]], [BSV], [BSV], COMP, p, None)
            if TP > 1:
                ag = G.add("allgather", "allgather", team, [BSVt], [BSV], COMM, p, None)
                for h in heads_:
                    G.edge(h, ag)
                G.edge(ag, o)
            else:
                G.edge(heads_[0], o)
    return G


# --------------------------------------------------------------------------- the three clean models

CFG = {
    # MoE, EP2 x TP2, one stage; layer 0 dense (DeepSeek-like), layers 1-2 MoE; 4 GPUs.
    "clean_1": dict(EP=2, TP=2, PP=1, DP=1, layers=3, moe_layers={1, 2}, hidden=2048, heads=16,
                    head_dim=128, ffn=5632, experts=8, topk=2, batch=8, seq=512, vocab=32000),
    # MoE, EP4, no TP, two pipeline stages of two layers; 8 GPUs.
    "clean_2": dict(EP=4, TP=1, PP=2, DP=1, layers=4, moe_layers={0, 1, 2, 3}, hidden=4096, heads=32,
                    head_dim=128, ffn=0, experts=8, topk=2, batch=8, seq=512, vocab=32000),
    # Dense, TP4, two data-parallel replicas; 8 GPUs.
    "clean_3": dict(EP=1, TP=4, PP=1, DP=2, layers=2, moe_layers=set(), hidden=2560, heads=40,
                    head_dim=64, ffn=6912, experts=0, topk=0, batch=8, seq=256, vocab=32000),
}

ATTN_OPS = ["q_proj", "k_proj", "v_proj", "rope_q", "rope_k", "qk", "softmax", "pv", "o_proj"]


def layer_gpus(G, L):
    return sorted({n.gpus[0] for n in G.nodes.values()
                   if n.layer == L and n.id.startswith("L%d_q_proj_" % L)})


# --------------------------------------------------------------------------- defects
# each returns (graph, nodes, what)

def d_cycle():
    G = build(CFG["clean_1"])
    G.edge("L2_moe_reduce_g0", "L2_a2a_combine_g0_3")
    return G, ["L2_moe_reduce_g0", "L2_a2a_combine_g0_3"], \
        "The all-to-all combine of layer 2 is drawn both ways: a2a_combine -> moe_reduce@gpu0 and moe_reduce@gpu0 -> a2a_combine, a cycle."


def d_dangling_input():
    G = build(CFG["clean_3"])
    G.remove_edge("L0_rmsnorm_mlp_g1", "L0_up_proj_g1")
    return G, ["L0_up_proj_g1"], "up_proj@gpu1 of layer 0 has no incoming edge (its rmsnorm input edge is missing)."


def d_dangling_output():
    G = build(CFG["clean_3"])
    G.remove_edge("L1_up_proj_g6", "L1_silu_mul_g6")
    return G, ["L1_up_proj_g6"], "up_proj@gpu6 of layer 1 has no outgoing edge: its output is never consumed."


def d_attention_one_box():
    G = build(CFG["clean_1"])
    L = 1
    made = []
    for g in layer_gpus(G, L):
        ids = ["L%d_%s_g%d" % (L, op, g) for op in ATTN_OPS]
        norm = "L%d_rmsnorm_attn_g%d" % (L, g)
        after = G.succs(ids[-1])
        n0 = G.nodes[norm]
        for i in ids:
            G.remove_node(i)
        m = G.add("L%d_multi_head_attention" % L, "multi_head_attention", [g], n0.outs, n0.outs, COMP, n0.stage, L)
        G.edge(norm, m)
        for x in after:
            G.edge(m, x)
        made.append(m)
    return G, made, "Layer 1's attention is drawn as one multi_head_attention box per rank instead of q/k/v, score, softmax, weighted sum and o_proj."


def d_v_bypasses_softmax():
    G = build(CFG["clean_2"])
    L, nodes = 2, []
    for g in layer_gpus(G, L):
        sm, pv, o = ("L%d_%s_g%d" % (L, x, g) for x in ("softmax", "pv", "o_proj"))
        G.remove_edge(sm, pv)
        G.edge(sm, o)
        G.nodes[o].ins = G.nodes[o].ins + G.nodes[sm].outs
        G.nodes[pv].ins = [G.nodes[pv].ins[1]]
        nodes += [pv, sm]
    return G, nodes, "In layer 2 the weighted sum pv is fed by V only; the softmax bypasses it and goes straight into o_proj."


def d_v_into_score():
    G = build(CFG["clean_3"])
    L, nodes = 1, []
    for g in layer_gpus(G, L):
        G.remove_node("L%d_k_proj_g%d" % (L, g))
        G.remove_node("L%d_rope_k_g%d" % (L, g))
        G.edge("L%d_v_proj_g%d" % (L, g), "L%d_qk_g%d" % (L, g))
        nodes.append("L%d_qk_g%d" % (L, g))
    return G, nodes, "In layer 1 V (v_proj) is wired into the score qk in place of K; no K projection feeds the score."


def d_qkv_into_oproj():
    G = build(CFG["clean_1"])
    L, nodes = 2, []
    for g in layer_gpus(G, L):
        for op in ("qk", "softmax", "pv"):
            G.remove_node("L%d_%s_g%d" % (L, op, g))
        o = "L%d_o_proj_g%d" % (L, g)
        for src in ("rope_q", "rope_k", "v_proj"):
            G.edge("L%d_%s_g%d" % (L, src, g), o)
        nodes.append(o)
    return G, nodes, "In layer 2 Q, K and V go straight into o_proj: no score, softmax or weighted sum."


def d_head_arithmetic():
    G = build(CFG["clean_2"], heads_override={(1, None): (32, 64)})
    nodes = ["L1_%s_g%d" % (op, g) for g in range(4) for op in ("q_proj", "k_proj", "v_proj")]
    return G, nodes, "Layer 1 labels 32 heads x head_dim 64 = 2048, but the hidden size is 4096 (TP1)."


def d_tp_heads():
    G = build(CFG["clean_3"], heads_override={(0, 2): (40, 64)})
    nodes = ["L0_%s_g2" % op for op in ("q_proj", "k_proj", "v_proj")]
    return G, nodes, "TP rank 2 (gpu2) of layer 0 projects to all 40 heads instead of 40/TP4 = 10 heads."


def d_edge_shape_mismatch():
    G = build(CFG["clean_1"])
    G.nodes["L1_q_proj_g2"].ins = [(("b", "s", "h"), (4, 512, 1536))]
    return G, ["L1_q_proj_g2", "L1_rmsnorm_attn_g2"], \
        "q_proj@gpu2 of layer 1 expects (4,512,1536) but its rmsnorm produces (4,512,2048) (ratio 3/4, not a parallel degree)."


def d_shard_without_gather():
    G = build(CFG["clean_3"])
    G.nodes["embedding_g5"].outs = [(("b", "s", "h"), (4, 256, 640))]
    return G, ["embedding_g5", "L0_rmsnorm_attn_g5", "L0_residual_attn_g5"], \
        "embedding@gpu5 emits a hidden/TP4 shard (640 = 2560/4) that reaches full-size rmsnorm and residual without an all-gather."


def d_stage_count():
    G = build(CFG["clean_2"])
    G.name = "EP4_TP1_PP3_DP1_decoder"
    return G, [], "The graph name declares PP3 but two pipeline stages are drawn."


def d_stage_range_gap():
    G = build(CFG["clean_2"])
    G.stage_labels[1] = "PP stage 1 (decoder layers 3-3)"
    return G, [], "Stage ranges 0-1 and 3-3 leave layer 2 uncovered (layer 2 is drawn inside stage 1)."


def d_stage_missing_layer():
    G = build(CFG["clean_2"])
    G.stage_labels[1] = "PP stage 1 (decoder layers 2-4)"
    return G, [], "PP stage 1 claims decoder layers 2-4 but no operator of layer 4 is drawn."


def d_no_stage_transfer():
    G = build(CFG["clean_2"])
    nodes = []
    for sr in [n for n in G.nodes if n.startswith("send_recv_")]:
        src, dsts = G.preds(sr), G.succs(sr)
        G.remove_node(sr)
        for d in dsts:
            G.edge(src[0], d)
        nodes += src + dsts
    return G, nodes, "Stages 0 and 1 are joined by plain edges (residual@gpuN -> layer 2 @gpuN+4), without send/recv nodes."


def d_experts_subset_ranks():
    G = build(CFG["clean_2"])
    for j in range(4, 8):
        G.remove_node("L0_expert_%d_g%d" % (j, j // 2))
    return G, ["L0_a2a_dispatch_g0_3", "L0_a2a_combine_g0_3", "L0_expert_0_g0", "L0_expert_1_g0",
               "L0_expert_2_g1", "L0_expert_3_g1"], \
        "Layer 0's experts are drawn only on EP ranks 0-1 (gpu0, gpu1); EP ranks 2-3 hold none."


def d_experts_uneven():
    G = build(CFG["clean_2"])
    m = G.move("L1_expert_2_g1", [0])
    return G, [m, "L1_expert_3_g1"], "Layer 1 places 3 experts on EP rank 0 (gpu0) and 1 on EP rank 1 (gpu1) instead of 8/4 = 2 each."


def d_experts_share_gpu():
    G = build(CFG["clean_2"])
    a = G.move("L2_expert_6_g7", [6])
    b_ = G.move("L2_expert_7_g7", [6])
    return G, [a, b_, "L2_expert_4_g6", "L2_expert_5_g6"], \
        "In layer 2 experts 6-7 (EP rank 3) are placed on gpu6, the GPU of EP rank 2's experts 4-5."


def d_no_gate():
    G = build(CFG["clean_2"])
    for g in range(4, 8):
        r = "L3_router_g%d" % g
        (src,), (dst,) = G.preds(r), G.succs(r)
        G.remove_node(r)
        G.edge(src, dst)
    return G, ["L3_a2a_dispatch_g4_7"] + ["L3_rmsnorm_moe_g%d" % g for g in range(4, 8)] + \
        ["L3_expert_%d_g%d" % (j, 4 + j // 2) for j in range(8)], \
        "Layer 3 has no router: rmsnorm goes straight into the dispatch all-to-all and the experts."


def d_no_all_to_all():
    G = build(CFG["clean_2"])
    G.remove_node("L2_a2a_dispatch_g4_7")
    nodes = []
    for j in range(8):
        g = 4 + j // 2
        G.edge("L2_router_g%d" % g, "L2_expert_%d_g%d" % (j, g))
        nodes.append("L2_expert_%d_g%d" % (j, g))
    nodes += ["L2_router_g%d" % g for g in range(4, 8)]
    return G, nodes, "Layer 2 (EP4) has no dispatch all-to-all: each router feeds only its local experts directly."


def d_tp_rank_missing():
    G = build(CFG["clean_3"])
    G.remove_node("L1_gate_proj_g2")
    return G, ["L1_silu_mul_g2", "L1_rmsnorm_mlp_g2", "L1_up_proj_g2",
               "L1_gate_proj_g0", "L1_gate_proj_g1", "L1_gate_proj_g3"], \
        "Layer 1's column-parallel gate_proj is drawn for TP ranks 0,1,3 of replica 0 but not for rank 2 (gpu2)."


def d_no_allreduce_after_rowparallel():
    G = build(CFG["clean_3"])
    ar = "L0_allreduce_attn_g0_3"
    G.remove_node(ar)
    nodes = []
    for g in range(4):
        G.edge("L0_o_proj_g%d" % g, "L0_residual_attn_g%d" % g)
        nodes += ["L0_o_proj_g%d" % g, "L0_residual_attn_g%d" % g]
    return G, nodes, "In layer 0 (replica 0) the row-parallel o_proj outputs go straight into the residual adds, no all-reduce."


def d_cross_gpu_no_comm():
    G = build(CFG["clean_3"])
    G.remove_edge("L1_residual_attn_g1", "L1_residual_mlp_g1")
    G.edge("L1_residual_attn_g0", "L1_residual_mlp_g1")
    return G, ["L1_residual_attn_g0", "L1_residual_mlp_g1"], \
        "The skip edge of residual_mlp@gpu1 comes from residual_attn@gpu0, a cross-GPU edge with no communication node."


def d_comm_wrong_shape():
    G = build(CFG["clean_3"])
    n = G.nodes["L1_allreduce_mlp_g4_7"]
    n.shape, n.explicit_shape = COMP, True
    return G, ["L1_allreduce_mlp_g4_7"], "The MLP all-reduce of layer 1 (replica 1) is drawn as a box instead of an ellipse."


def d_missing_gpu():
    G = build(CFG["clean_1"])
    G.nodes["L1_softmax_g2"].gpus = None
    return G, ["L1_softmax_g2"], "softmax node L1_softmax_g2 carries no GPU placement."


def d_gpu_out_of_range():
    G = build(CFG["clean_2"], gpu_map=lambda g: 8 if g == 7 else g)
    nodes = [n.id for n in G.nodes.values() if n.gpus == [8]]
    return G, nodes, "The last GPU of stage 1 is numbered gpu8, but EP4 x TP1 x PP2 x DP1 gives GPUs 0-7."


def d_stages_share_gpus():
    G = build(CFG["clean_2"], gpu_map=lambda g: g - 1 if g >= 4 else g)
    nodes = [n.id for n in G.nodes.values() if n.gpus == [3]]
    return G, nodes, "PP stage 1 is placed on gpu3-6, overlapping stage 0 (gpu0-3) on gpu3."


def d_strategy_mismatch():
    G = build(CFG["clean_1"])
    G.name = "EP2_TP4_PP1_DP1_decoder"
    return G, [], "The graph name declares TP4 but every TP group drawn has 2 ranks (e.g. allreduce@gpu0-1)."


def d_missing_shapes():
    G = build(CFG["clean_3"])
    n = G.nodes["L0_silu_mul_g3"]
    n.ins = n.outs = None
    return G, ["L0_silu_mul_g3"], "silu_mul@gpu3 of layer 0 has no in/out shapes."


def d_placeholder():
    G = build(CFG["clean_2"])
    G.nodes["L2_rmsnorm_attn_g5"].ins = [(("b", "s", "h"), ("?", 512, 4096))]
    return G, ["L2_rmsnorm_attn_g5"], "rmsnorm@gpu5 of layer 2 gives its batch dimension as a placeholder '?'."


def d_moe_before_attention():
    G = build(CFG["clean_2"], moe_first={1})
    return G, ["L1_router_g%d" % g for g in range(4)] + ["L1_q_proj_g%d" % g for g in range(4)], \
        "Layer 1's MoE block (rmsnorm, router, experts, residual) is wired before its attention block."


def d_missing_residual():
    G = build(CFG["clean_3"])
    G.remove_edge("L1_residual_attn_g0", "L1_residual_mlp_g0")
    return G, ["L1_residual_mlp_g0"], "residual@gpu0 after layer 1's MLP is fed only by the all-reduce; the skip edge is missing."


DEFECTS = [
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_3", d_dangling_input),
    ("dangling_output", "structure", "clean_3", d_dangling_output),
    ("attention_one_box", "attention", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_2", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_3", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_1", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2", d_head_arithmetic),
    ("tp_heads", "attention", "clean_3", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_1", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_3", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_2", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_2", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2", d_no_gate),
    ("no_all_to_all", "expert", "clean_2", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_3", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_3", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3", d_missing_shapes),
    ("placeholder", "annotation", "clean_2", d_placeholder),
    ("moe_before_attention", "structure", "clean_2", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct MoE decoder, EP2 x TP2 on 4 GPUs: layer 0 dense MLP, layers 1-2 with 8 TP-sharded experts (4 per EP rank), hidden 2048 = 16 heads x 128.",
    "clean_2": "Correct MoE decoder, EP4 x PP2 on 8 GPUs: 4 layers (stage 0: 0-1 on gpu0-3, stage 1: 2-3 on gpu4-7), 8 experts (2 per EP rank), hidden 4096 = 32 x 128.",
    "clean_3": "Correct dense decoder, TP4 x DP2 on 8 GPUs: 2 layers, hidden 2560 = 40 heads x 64, ffn 6912, two replicas of b=4.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in CFG.items():
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(build(cfg).render())
        manifest.append({"file": name + ".dot", "kind": "clean", "category": "clean", "nodes": [],
                         "what": CLEAN_WHAT[name]})
    for kind, cat, base, fn in DEFECTS:
        G, nodes, what = fn()
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(G.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes, "what": what,
                         "base": base + ".dot"})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
