#!/usr/bin/env python3
"""House style W: deployment DAGs of a MoE transformer forward pass.

Style: node label = operator short name and layer only ("L3 · q_proj");
everything else in the xlabel ("in [..]\\nout [..]\\ngpu N"); hashed-looking
deterministic ids (v_7f3a); strategy in a leading C block comment
(/* parallel: ep=4 tp=2 pp=2 dp=1 */); stages are clusters "PP1 | L4–L7".

Run: python3 gen.py   -> writes out/clean_*.dot, out/defect_*.dot, out/manifest.json
stdlib only.
"""
import copy
import hashlib
import json
import os

DOT = "\u00b7"     # middle dot in labels
NDASH = "\u2013"   # en dash in cluster labels
ARROW = "\u2192"

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def shp(dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def gpus_fmt(ids):
    ids = sorted(set(ids))
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        if j > i:
            parts.append("%d-%d" % (ids[i], ids[j]))
        else:
            parts.append(str(ids[i]))
        i = j + 1
    return ",".join(parts)


class Graph:
    def __init__(self, salt, strat):
        self.salt = salt
        self.strat = dict(strat)          # ep tp pp dp written in the comment
        self.nodes = {}                   # id -> dict
        self.order = []
        self.edges = []                   # [src, dst, attrs]
        self.clusters = []                # [(cid, label)]
        self.key = {}                     # semantic key -> id

    # ids -------------------------------------------------------------
    def new_id(self, key):
        n = 0
        while True:
            h = hashlib.sha1(("%s|%r|%d" % (self.salt, key, n)).encode()).hexdigest()[:4]
            nid = "v_" + h
            if nid not in self.nodes:
                return nid
            n += 1

    def add(self, key, label, shape, ins, out, gpu, cluster=None):
        nid = self.new_id(key)
        self.nodes[nid] = dict(label=label, shape=shape, ins=ins, out=out,
                               gpu=gpu, cluster=cluster)
        self.order.append(nid)
        self.key[key] = nid
        return nid

    def __getitem__(self, key):
        return self.key[key]

    def edge(self, a, b, dashed=False):
        self.edges.append([a, b, {"style": "dashed"} if dashed else {}])

    def del_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def del_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def succ(self, a):
        return [e[1] for e in self.edges if e[0] == a]

    def is_dashed(self, a, b):
        return any(e[0] == a and e[1] == b and e[2] for e in self.edges)

    # output ------------------------------------------------------------
    def node_line(self, nid):
        n = self.nodes[nid]
        xl = []
        if n["ins"] is not None:
            xl.append("in " + ", ".join(shp(s) if not isinstance(s, str) else s
                                        for s in n["ins"]))
        if n["out"] is not None:
            xl.append("out " + (shp(n["out"]) if not isinstance(n["out"], str) else n["out"]))
        if n["gpu"] is not None:
            xl.append("gpu " + n["gpu"])
        return '%s [label="%s", shape=%s, xlabel="%s"];' % (
            nid, n["label"], n["shape"], "\\n".join(xl))

    def dot(self):
        s = self.strat
        L = ["/* parallel: ep=%d tp=%d pp=%d dp=%d */" % (s["ep"], s["tp"], s["pp"], s["dp"]),
             "digraph moe_fwd {",
             '  graph [rankdir=TB, forcelabels=true, fontname="Helvetica", nodesep=0.35];',
             '  node [fontname="Helvetica", fontsize=10, style=filled, fillcolor=white];',
             '  edge [arrowsize=0.6];']
        for nid in self.order:
            if self.nodes[nid]["cluster"] is None:
                L.append("  " + self.node_line(nid))
        for cid, clabel in self.clusters:
            L.append("  subgraph cluster_%s {" % cid)
            L.append('    label="%s";' % clabel)
            L.append("    style=rounded;")
            for nid in self.order:
                if self.nodes[nid]["cluster"] == cid:
                    L.append("    " + self.node_line(nid))
            L.append("  }")
        for a, b, at in self.edges:
            if at:
                L.append("  %s -> %s [%s];" % (a, b, ", ".join("%s=%s" % kv for kv in at.items())))
            else:
                L.append("  %s -> %s;" % (a, b))
        L.append("}")
        return "\n".join(L) + "\n"


def build(cfg):
    """Build one clean graph. Knobs used only by defect variants:
    layer_hd {layer: head_dim}, rank_heads {(layer, tp_rank): heads},
    stage_base {stage: first gpu}."""
    ep, tp, pp, dp = cfg["ep"], cfg["tp"], cfg["pp"], cfg["dp"]
    NL, H, NH, HD = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    E, K, B, S, V = cfg["experts"], cfg["topk"], cfg["batch"], cfg["seq"], cfg["vocab"]
    assert NH * HD == H and NH % tp == 0 and E % ep == 0 and NL % pp == 0
    assert V % tp == 0 and (B * S * K) % E == 0
    TE = B * S * K // E
    per_stage = NL // pp
    epr = E // ep
    g = Graph(cfg["name"], dict(ep=ep, tp=tp, pp=pp, dp=dp))
    BSH = [B, S, H]

    def base(p, d):
        sb = cfg.get("stage_base", {})
        if p in sb:
            return sb[p] + d * ep * tp
        return (p * dp + d) * ep * tp

    for d in range(dp):
        for p in range(pp):
            lo, hi = p * per_stage, (p + 1) * per_stage - 1
            lab = "PP%d | L%d%sL%d" % (p, lo, NDASH, hi)
            if dp > 1:
                lab += " %s DP%d" % (DOT, d)
            g.clusters.append(("pp%d_dp%d" % (p, d), lab))

        x = {}
        b0 = base(0, d)
        c0 = "pp0_dp%d" % d
        for t in range(tp):
            i = g.add((d, "input", t), "input", "box", [[B, S]], [B, S], str(b0 + t))
            e = g.add((d, "embed", t), "embed", "box", [[B, S]], BSH, str(b0 + t), c0)
            g.edge(i, e)
            x[t] = e

        for p in range(pp):
            bs = base(p, d)
            cl = "pp%d_dp%d" % (p, d)
            tgpu = [bs + t for t in range(tp)]
            egpu = [bs + r for r in range(ep)]
            if p > 0:
                pb = base(p - 1, d)
                for t in range(tp):
                    s = g.add((d, "p2p", p, t), "PP%d%sPP%d %s send_recv" % (p - 1, ARROW, p, DOT),
                              "ellipse", [BSH], BSH, gpus_fmt([pb + t, bs + t]))
                    g.edge(x[t], s)
                    x[t] = s
            for l in range(p * per_stage, (p + 1) * per_stage):
                hd = cfg.get("layer_hd", {}).get(l, HD)
                L = "L%d %s " % (l, DOT)
                for t in range(tp):
                    hl = cfg.get("rank_heads", {}).get((l, t), NH // tp)
                    QS = [B, S, hl, hd]
                    PS = [B, hl, S, S]
                    G = str(bs + t)
                    k = lambda op: (d, l, op, t)
                    n1 = g.add(k("norm_attn"), L + "rmsnorm", "box", [BSH], BSH, G, cl)
                    q = g.add(k("q_proj"), L + "q_proj", "box", [BSH], QS, G, cl)
                    kk = g.add(k("k_proj"), L + "k_proj", "box", [BSH], QS, G, cl)
                    v = g.add(k("v_proj"), L + "v_proj", "box", [BSH], QS, G, cl)
                    rq = g.add(k("rope_q"), L + "rope", "box", [QS], QS, G, cl)
                    rk = g.add(k("rope_k"), L + "rope", "box", [QS], QS, G, cl)
                    qk = g.add(k("qk"), L + "qk", "box", [QS, QS], PS, G, cl)
                    sm = g.add(k("softmax"), L + "softmax", "box", [PS], PS, G, cl)
                    sv = g.add(k("sv"), L + "sv", "box", [PS, QS], QS, G, cl)
                    o = g.add(k("o_proj"), L + "o_proj", "box", [QS], BSH, G, cl)
                    for a, b_ in [(x[t], n1), (n1, q), (n1, kk), (n1, v), (q, rq), (kk, rk),
                                  (rq, qk), (rk, qk), (qk, sm), (sm, sv), (v, sv), (sv, o)]:
                        g.edge(a, b_)
                ar = g.add((d, l, "allreduce", None), L + "allreduce", "ellipse", [BSH], BSH,
                           gpus_fmt(tgpu), cl)
                for t in range(tp):
                    g.edge(g[(d, l, "o_proj", t)], ar)
                for t in range(tp):
                    G = str(bs + t)
                    k = lambda op: (d, l, op, t)
                    r1 = g.add(k("resid_attn"), L + "resid", "box", [BSH, BSH], BSH, G, cl)
                    g.edge(ar, r1)
                    g.edge(x[t], r1)
                    n2 = g.add(k("norm_moe"), L + "rmsnorm", "box", [BSH], BSH, G, cl)
                    rt = g.add(k("router"), L + "router", "parallelogram", [BSH], [B, S, E], G, cl)
                    g.edge(r1, n2)
                    g.edge(n2, rt)
                a2s = g.add((d, l, "a2a_send", None), L + "a2a_send", "ellipse",
                            [BSH, [B, S, E]], [TE, H], gpus_fmt(tgpu + egpu), cl)
                for t in range(tp):
                    g.edge(g[(d, l, "norm_moe", t)], a2s)
                    g.edge(g[(d, l, "router", t)], a2s, dashed=True)
                a2r_key = (d, l, "a2a_recv", None)
                exps = []
                for j in range(E):
                    ex = g.add((d, l, "expert", j), L + "expert%d" % j, "box", [[TE, H]], [TE, H],
                               str(bs + j // epr), cl)
                    g.edge(a2s, ex)
                    exps.append(ex)
                a2r = g.add(a2r_key, L + "a2a_recv", "ellipse", [[TE, H]], [B, S, K, H],
                            gpus_fmt(tgpu + egpu), cl)
                for ex in exps:
                    g.edge(ex, a2r)
                for t in range(tp):
                    G = str(bs + t)
                    k = lambda op: (d, l, op, t)
                    ms = g.add(k("moe_sum"), L + "moe_sum", "parallelogram",
                               [[B, S, K, H], [B, S, E]], BSH, G, cl)
                    g.edge(a2r, ms)
                    g.edge(g[k("router")], ms, dashed=True)
                    r2 = g.add(k("resid_moe"), L + "resid", "box", [BSH, BSH], BSH, G, cl)
                    g.edge(ms, r2)
                    g.edge(g[k("resid_attn")], r2)
                    x[t] = r2

        bl = base(pp - 1, d)
        cl = "pp%d_dp%d" % (pp - 1, d)
        for t in range(tp):
            fn = g.add((d, "final_norm", t), "final_norm", "box", [BSH], BSH, str(bl + t), cl)
            lm = g.add((d, "lm_head", t), "lm_head", "box", [BSH], [B, S, V // tp], str(bl + t), cl)
            g.edge(x[t], fn)
            g.edge(fn, lm)
        ag = g.add((d, "allgather", None), "allgather", "ellipse", [[B, S, V // tp]], [B, S, V],
                   gpus_fmt([bl + t for t in range(tp)]), cl)
        for t in range(tp):
            g.edge(g[(d, "lm_head", t)], ag)
        o = g.add((d, "output", None), "output", "box", [[B, S, V]], [B, S, V], str(bl))
        g.edge(ag, o)
    return g


CFG1 = dict(name="clean_1", ep=4, tp=2, pp=1, dp=1, layers=2, hidden=2048, heads=16, head_dim=128,
            experts=8, topk=2, batch=8, seq=512, vocab=32000)
CFG2 = dict(name="clean_2", ep=2, tp=4, pp=2, dp=1, layers=4, hidden=4096, heads=32, head_dim=128,
            experts=4, topk=2, batch=4, seq=1024, vocab=32768)
CFG3 = dict(name="clean_3", ep=2, tp=2, pp=1, dp=2, layers=2, hidden=1024, heads=16, head_dim=64,
            experts=8, topk=2, batch=4, seq=256, vocab=16384)


def variant(cfg, **knobs):
    c = dict(cfg)
    c.update(knobs)
    return build(c)


MANIFEST = []
FILES = {}


def emit(fname, g, kind, category, nodes, what):
    FILES[fname] = g.dot()
    for n in nodes:
        assert n in g.nodes, (fname, n)
    MANIFEST.append(dict(file=fname, kind=kind, category=category, nodes=list(nodes), what=what))


def main():
    c1, c2, c3 = build(CFG1), build(CFG2), build(CFG3)
    emit("clean_1.dot", c1, "clean", None, [],
         "MoE, ep=4 tp=2 pp=1 dp=1, 2 layers, hidden 2048 (16x128 heads), 8 experts top-2, correct.")
    emit("clean_2.dot", c2, "clean", None, [],
         "MoE, ep=2 tp=4 pp=2 dp=1, 4 layers in two stages joined by send_recv, hidden 4096 (32x128), 4 experts top-2, correct.")
    emit("clean_3.dot", c3, "clean", None, [],
         "MoE, ep=2 tp=2 pp=1 dp=2, two data-parallel replicas drawn (one stage cluster each), hidden 1024 (16x64), 8 experts top-2, correct.")

    # ---------------- structure -------------------------------------
    g = copy.deepcopy(c1)
    ar, r = g[(0, 0, "allreduce", None)], g[(0, 0, "resid_attn", 0)]
    g.edge(r, ar)
    emit("defect_cycle.dot", g, "cycle", "structure", [ar, r],
         "L0 allreduce is drawn both ways with the rank-0 residual add (allreduce -> resid and resid -> allreduce), a cycle.")

    g = copy.deepcopy(c3)
    kp = g[(0, 1, "k_proj", 1)]
    g.del_edge(g[(0, 1, "norm_attn", 1)], kp)
    emit("defect_dangling_input.dot", g, "dangling_input", "structure", [kp],
         "Replica 0, L1 k_proj on TP rank 1 (gpu 1) has no incoming edge (the rmsnorm -> k_proj edge is missing).")

    g = copy.deepcopy(c1)
    ex = g[(0, 1, "expert", 5)]
    g.del_edge(ex, g[(0, 1, "a2a_recv", None)])
    emit("defect_dangling_output.dot", g, "dangling_output", "structure", [ex],
         "L1 expert5 (gpu 2) has no outgoing edge: its output never reaches the a2a_recv combine.")

    g = copy.deepcopy(c1)
    l = 1
    nodes = []
    for t in range(2):
        ch = [g[(0, l, op, t)] for op in ("q_proj", "k_proj", "v_proj", "rope_q", "rope_k",
                                          "qk", "softmax", "sv", "o_proj")]
        n1 = g[(0, l, "norm_attn", t)]
        a = g.add((0, l, "mha_box", t), "L1 %s Multi-Head Attention" % DOT, "box",
                  [[8, 512, 2048]], [8, 512, 2048], str(t), "pp0_dp0")
        for c in ch:
            g.del_node(c)
        g.edge(n1, a)
        g.edge(a, g[(0, l, "allreduce", None)])
        nodes.append(a)
    # keep the box before the allreduce in node order (cosmetic only)
    emit("defect_attention_one_box.dot", g, "attention_one_box", "attention", nodes,
         "L1 attention is drawn as one 'Multi-Head Attention' box per TP rank instead of q/k/v, score, softmax, sv, o_proj.")

    g = copy.deepcopy(c2)
    sm, sv, o = g[(0, 2, "softmax", 1)], g[(0, 2, "sv", 1)], g[(0, 2, "o_proj", 1)]
    g.del_edge(sm, sv)
    g.edge(sm, o)
    g.nodes[sv]["ins"] = [[4, 1024, 8, 128]]
    g.nodes[o]["ins"] = [[4, 1024, 8, 128], [4, 8, 1024, 1024]]
    emit("defect_v_bypasses_softmax.dot", g, "v_bypasses_softmax", "attention", [sv, sm],
         "L2 TP rank 1 (gpu 9): sv takes only V; the softmax skips it and goes into o_proj, so V bypasses the attention probabilities.")

    g = copy.deepcopy(c1)
    nodes = []
    for t in range(2):
        kp, rk, qk, v = (g[(0, 0, op, t)] for op in ("k_proj", "rope_k", "qk", "v_proj"))
        g.del_node(kp)
        g.del_node(rk)
        g.edge(v, qk)
        nodes += [qk, v]
    emit("defect_v_into_score.dot", g, "v_into_score", "attention", nodes,
         "L0 (both TP ranks): the score qk is fed by Q and V; no K projection is drawn, V takes K's place.")

    g = copy.deepcopy(c1)
    nodes = []
    for t in range(2):
        q, kp, v, o = (g[(0, 1, op, t)] for op in ("q_proj", "k_proj", "v_proj", "o_proj"))
        for op in ("rope_q", "rope_k", "qk", "softmax", "sv"):
            g.del_node(g[(0, 1, op, t)])
        for a in (q, kp, v):
            g.edge(a, o)
        g.nodes[o]["ins"] = [[8, 512, 8, 128]] * 3
        nodes += [o]
    emit("defect_qkv_into_oproj.dot", g, "qkv_into_oproj", "attention", nodes,
         "L1 (both TP ranks): q_proj, k_proj and v_proj go straight into o_proj; no score, softmax or weighted sum.")

    g = variant(CFG1, layer_hd={1: 96})
    nodes = [g[(0, 1, "q_proj", t)] for t in range(2)]
    emit("defect_head_arithmetic.dot", g, "head_arithmetic", "attention", nodes,
         "L1 projections give 8 heads x 96 per TP rank (16 x 96 = 1536 in all) while hidden is 2048 (other layers 16 x 128).")

    g = variant(CFG1, rank_heads={(0, 1): 16})
    nodes = [g[(0, 0, op, 1)] for op in ("q_proj", "k_proj", "v_proj")]
    emit("defect_tp_heads.dot", g, "tp_heads", "attention", nodes,
         "L0 TP rank 1 (gpu 1): q/k/v_proj output all 16 heads [8,512,16,128] instead of 16/TP2 = 8 heads (rank 0 has 8).")

    # ---------------- shape -----------------------------------------
    g = copy.deepcopy(c1)
    q = g[(0, 0, "q_proj", 0)]
    g.nodes[q]["ins"] = [[8, 512, 1536]]
    emit("defect_edge_shape_mismatch.dot", g, "edge_shape_mismatch", "shape",
         [g[(0, 0, "norm_attn", 0)], q],
         "L0 rank 0: rmsnorm outputs [8,512,2048] but q_proj declares input [8,512,1536] (factor 3/4, no parallel degree).")

    g = copy.deepcopy(c2)
    l = 1
    g.del_node(g[(0, l, "allreduce", None)])
    nodes = []
    for t in range(4):
        o, r = g[(0, l, "o_proj", t)], g[(0, l, "resid_attn", t)]
        g.nodes[o]["out"] = [4, 1024, 1024]
        g.edge(o, r)
        nodes += [o, r]
    emit("defect_shard_without_gather.dot", g, "shard_without_gather", "shape", nodes,
         "L1: each TP rank's o_proj outputs a hidden shard [4,1024,1024] (4096/TP4) that goes straight into the full-size residual add [4,1024,4096] with no all-gather/all-reduce.")

    # ---------------- pipeline --------------------------------------
    g = copy.deepcopy(c2)
    g.strat["pp"] = 4
    emit("defect_stage_count.dot", g, "stage_count", "pipeline", [],
         "The header declares pp=4 but only two stage clusters (PP0 | L0–L1, PP1 | L2–L3) are drawn.")

    g = copy.deepcopy(c2)
    g.clusters[0] = (g.clusters[0][0], "PP0 | L0%sL0" % NDASH)
    emit("defect_stage_range_gap.dot", g, "stage_range_gap", "pipeline",
         [g[(0, 1, "norm_attn", t)] for t in range(4)],
         "Stage ranges are L0–L0 and L2–L3: layer 1 is covered by no stage (its nodes are drawn in PP0's cluster).")

    g = copy.deepcopy(c2)
    g.clusters[1] = (g.clusters[1][0], "PP1 | L2%sL4" % NDASH)
    emit("defect_stage_missing_layer.dot", g, "stage_missing_layer", "pipeline", [],
         "Stage PP1 claims L2–L4 but no operator of layer 4 is drawn (the model drawn has layers 0-3).")

    g = copy.deepcopy(c2)
    nodes = []
    for t in range(4):
        s = g[(0, "p2p", 1, t)]
        r2 = g[(0, 1, "resid_moe", t)]
        cons = g.succ(s)
        g.del_node(s)
        for c in cons:
            g.edge(r2, c)
        nodes += [r2, g[(0, 2, "norm_attn", t)]]
    emit("defect_no_stage_transfer.dot", g, "no_stage_transfer", "pipeline", nodes,
         "PP0's last residual (gpus 0-3) feeds PP1's L2 nodes (gpus 8-11) through plain edges; the send_recv nodes are gone.")

    # ---------------- expert ----------------------------------------
    g = copy.deepcopy(c1)
    nodes = []
    for j in range(4, 8):
        ex = g[(0, 1, "expert", j)]
        g.nodes[ex]["gpu"] = str((j - 4) // 2)
        nodes.append(ex)
    emit("defect_experts_subset_ranks.dot", g, "experts_subset_ranks", "expert", nodes,
         "L1: all 8 experts sit on EP ranks 0 and 1 (gpus 0 and 1, four each); EP ranks 2 and 3 (gpus 2, 3) hold none though ep=4.")

    g = copy.deepcopy(c1)
    ex = g[(0, 0, "expert", 1)]
    g.nodes[ex]["gpu"] = "1"
    emit("defect_experts_uneven.dot", g, "experts_uneven", "expert", [ex],
         "L0: expert1 moved from gpu 0 to gpu 1, so the EP ranks hold 1, 3, 2, 2 experts instead of 8/4 = 2 each.")

    g = copy.deepcopy(c1)
    e3, e4 = g[(0, 1, "expert", 3)], g[(0, 1, "expert", 4)]
    g.nodes[e3]["gpu"] = "2"
    g.nodes[e4]["gpu"] = "1"
    emit("defect_experts_share_gpu.dot", g, "experts_share_gpu", "expert", [e3, e4],
         "L1: expert4 (EP rank 2's block 4-5) is placed on gpu 1 with EP rank 1's expert2, and expert3 (rank 1's block 2-3) on gpu 2 with rank 2's expert5.")

    g = copy.deepcopy(c1)
    a2s, nodes = g[(0, 1, "a2a_send", None)], []
    for t in range(2):
        rt, ms = g[(0, 1, "router", t)], g[(0, 1, "moe_sum", t)]
        g.del_node(rt)
        g.nodes[ms]["ins"] = [[8, 512, 2, 2048]]
        nodes.append(g[(0, 1, "norm_moe", t)])
    g.nodes[a2s]["ins"] = [[8, 512, 2048]]
    nodes.append(a2s)
    emit("defect_no_gate.dot", g, "no_gate", "expert", nodes,
         "L1: no router: the rmsnorm output goes to a2a_send and the experts with no gate before them.")

    g = copy.deepcopy(c1)
    a2s = g[(0, 0, "a2a_send", None)]
    g.del_node(a2s)
    n2, rt = g[(0, 0, "norm_moe", 0)], g[(0, 0, "router", 0)]
    n2b, rtb = g[(0, 0, "norm_moe", 1)], g[(0, 0, "router", 1)]
    nodes = []
    for j in range(8):
        ex = g[(0, 0, "expert", j)]
        g.edge(n2, ex)
        g.edge(rt, ex, dashed=True)
        g.nodes[ex]["ins"] = [[8, 512, 2048], [8, 512, 8]]
        nodes.append(ex)
    emit("defect_no_all_to_all.dot", g, "no_all_to_all", "expert", nodes,
         "L0: tokens go from rank 0's rmsnorm/router (gpu 0) straight to the experts on gpus 0-3, no a2a_send dispatch although ep=4.")

    # ---------------- tensor ----------------------------------------
    g = copy.deepcopy(c1)
    o, sv, ar = g[(0, 1, "o_proj", 1)], g[(0, 1, "sv", 1)], g[(0, 1, "allreduce", None)]
    g.del_node(o)
    g.edge(sv, ar)
    emit("defect_tp_rank_missing.dot", g, "tp_rank_missing", "tensor", [g[(0, 1, "o_proj", 0)], sv],
         "L1 o_proj is drawn for TP rank 0 only; rank 1's sv goes straight to the allreduce (tp=2).")

    g = copy.deepcopy(c1)
    g.del_node(g[(0, 0, "allreduce", None)])
    nodes = []
    for t in range(2):
        o, r = g[(0, 0, "o_proj", t)], g[(0, 0, "resid_attn", t)]
        g.edge(o, r)
        nodes += [o]
    emit("defect_no_allreduce_after_rowparallel.dot", g, "no_allreduce_after_rowparallel", "tensor", nodes,
         "L0: each rank's row-parallel o_proj (partial sums) goes straight into its residual add, no allreduce.")

    # ---------------- communication ---------------------------------
    g = copy.deepcopy(c1)
    r1 = g[(0, 1, "resid_attn", 1)]
    src_old, src_new = g[(0, 0, "resid_moe", 1)], g[(0, 0, "resid_moe", 0)]
    g.del_edge(src_old, r1)
    g.edge(src_new, r1)
    emit("defect_cross_gpu_no_comm.dot", g, "cross_gpu_no_comm", "communication", [src_new, r1],
         "L1 rank 1's residual add (gpu 1) takes its skip input from L0 rank 0's residual (gpu 0) by a plain edge, no communication node.")

    g = copy.deepcopy(c3)
    ar = g[(1, 0, "allreduce", None)]
    g.nodes[ar]["shape"] = "box"
    emit("defect_comm_wrong_shape.dot", g, "comm_wrong_shape", "communication", [ar],
         "Replica 1, L0 allreduce is drawn as a box (computation) instead of an ellipse.")

    # ---------------- gpu -------------------------------------------
    g = copy.deepcopy(c3)
    sm = g[(0, 1, "softmax", 0)]
    g.nodes[sm]["gpu"] = None
    emit("defect_missing_gpu.dot", g, "missing_gpu", "gpu", [sm],
         "Replica 0, L1 softmax on TP rank 0 has no gpu line.")

    g = copy.deepcopy(c1)
    nodes = []
    for j in (6, 7):
        ex = g[(0, 1, "expert", j)]
        g.nodes[ex]["gpu"] = "11"
        nodes.append(ex)
    for c in ("a2a_send", "a2a_recv"):
        g.nodes[g[(0, 1, c, None)]]["gpu"] = "0-2,11"
    emit("defect_gpu_out_of_range.dot", g, "gpu_out_of_range", "gpu", nodes,
         "L1 EP rank 3's experts 6 and 7 are placed on gpu 11, beyond the 8 GPUs of ep=4 x tp=2 x pp=1 x dp=1 (ids 0-7).")

    g = variant(CFG2, stage_base={1: 2})
    nodes = [g[(0, 2, "norm_attn", t)] for t in range(4)]
    emit("defect_stages_share_gpus.dot", g, "stages_share_gpus", "gpu", nodes,
         "Stage PP1 is placed on gpus 2-5 and PP0 on gpus 0-3: gpus 2 and 3 belong to both stages.")

    # ---------------- strategy --------------------------------------
    g = copy.deepcopy(c1)
    g.strat["ep"] = 2
    emit("defect_strategy_mismatch.dot", g, "strategy_mismatch", "strategy", [],
         "The header declares ep=2 but experts are drawn on 4 EP ranks (gpus 0-3, 2 experts each).")

    # ---------------- annotation ------------------------------------
    g = copy.deepcopy(c3)
    sv = g[(1, 1, "sv", 1)]
    g.nodes[sv]["ins"] = None
    g.nodes[sv]["out"] = None
    emit("defect_missing_shapes.dot", g, "missing_shapes", "annotation", [sv],
         "Replica 1, L1 sv on TP rank 1 (gpu 5) has a gpu line but no in/out shapes.")

    g = copy.deepcopy(c1)
    ms, r2 = g[(0, 1, "moe_sum", 0)], g[(0, 1, "resid_moe", 0)]
    g.nodes[ms]["out"] = "[?,512,2048]"
    g.nodes[r2]["ins"] = ["[?,512,2048]", [8, 512, 2048]]
    emit("defect_placeholder.dot", g, "placeholder", "annotation", [ms, r2],
         "L1 rank 0: moe_sum output and the residual add's input carry a '?' batch placeholder instead of 8.")

    # ---------------- order / residual ------------------------------
    g = copy.deepcopy(c1)
    nodes = []
    for t in range(2):
        x = g[(0, 0, "resid_moe", t)]
        n1, r1 = g[(0, 1, "norm_attn", t)], g[(0, 1, "resid_attn", t)]
        n2, r2 = g[(0, 1, "norm_moe", t)], g[(0, 1, "resid_moe", t)]
        cons = g.succ(r2)
        for a, b in [(x, n1), (x, r1), (r1, n2), (r1, r2)]:
            g.del_edge(a, b)
        for c in cons:
            g.del_edge(r2, c)
        for a, b in [(x, n2), (x, r2), (r2, n1), (r2, r1)]:
            g.edge(a, b)
        for c in cons:
            g.edge(r1, c)
        nodes += [n2, g[(0, 1, "router", t)]]
    emit("defect_moe_before_attention.dot", g, "moe_before_attention", "structure", nodes,
         "L1: the MoE block (rmsnorm, router, experts, moe_sum, resid) is wired before the layer's attention; attention's residual then feeds final_norm.")

    g = copy.deepcopy(c3)
    nodes = []
    for t in range(2):
        r1, r2 = g[(0, 0, "resid_attn", t)], g[(0, 0, "resid_moe", t)]
        g.del_edge(r1, r2)
        g.nodes[r2]["ins"] = [[4, 256, 1024]]
        nodes.append(r2)
    emit("defect_missing_residual.dot", g, "missing_residual", "structure", nodes,
         "Replica 0, L0: the MoE residual add on both TP ranks is fed only by moe_sum; the skip edge from the attention residual is missing.")

    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    for fname, text in FILES.items():
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as fh:
            fh.write(text)
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(MANIFEST, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d dot files + manifest.json to %s" % (len(FILES), OUT))


if __name__ == "__main__":
    main()
