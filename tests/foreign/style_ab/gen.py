#!/usr/bin/env python3
"""Independent generator of deployment DAGs (house style AB: symbolic shapes).

Writes into ./out/ (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot   correct DAGs, three strategies
  defect_<kind>.dot                        one clean DAG with exactly one defect
  manifest.json                            what each file is

Style: every shape is written with symbols defined once in the graph label
(B, S, H, NH, HD, F, E, K, V, TP, EP, PP, DP) and simple arithmetic.
Node ids: "layer{L}.{op}.tp{r}" (TP-rank nodes), "layer{L}.expert{j}.ep{e}"
(experts), "layer{L}.<comm>" (one communication node per group), prefixed by
"dp{d}." when DP replicas are drawn.  Labels: op name, Input:, Output:, GPU:.

GPU layout: GPU = ((d*PP + p)*EP + e)*TP + t for DP replica d, PP stage p,
EP rank e, TP rank t.  Attention/dense parts of stage p run on the TP group
of EP rank 0; the experts of EP rank e run on the TP group of EP rank e
(one node per expert whose GPU spec is that group).

Run: python3 gen.py            (writes out/ and prints a self-check report)
Stdlib only.
"""
import copy
import json
import os
import re
import sys
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

COMM = "ellipse"
COMP = "box"
ROUTE = "parallelogram"


# --------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------
class Graph:
    def __init__(self, name, title, symbols, layers):
        self.name = name
        self.title = title
        self.symbols = dict(symbols)  # ordered: symbol -> int
        self.layers = layers
        self.nodes = {}  # id -> dict(op, shape, ins, out, gpu, cluster, extra)
        self.edges = []  # [src, dst, attrs]
        self.clusters = {}  # cid -> label
        self.sym_notes = {}  # symbol -> note shown after the value

    # ---- building helpers
    def node(self, nid, op, shape, ins=None, out=None, gpu=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, shape=shape, ins=list(ins or []), out=out,
                               gpu=gpu, cluster=cluster)
        return nid

    def edge(self, s, d, **attrs):
        assert s in self.nodes and d in self.nodes, (s, d)
        self.edges.append([s, d, dict(attrs)])

    # ---- editing helpers (used by defects)
    def remove_edge(self, s, d):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == s and e[1] == d)]
        assert len(self.edges) == n - 1, ("edge not found", s, d)

    def has_edge(self, s, d):
        return any(e[0] == s and e[1] == d for e in self.edges)

    def remove_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # ---- strategy text
    def total_gpus(self):
        s = self.symbols
        return s["TP"] * s["EP"] * s["PP"] * s["DP"]

    def graph_label(self):
        sym = ", ".join("%s=%s%s" % (k, v, self.sym_notes.get(k, ""))
                        for k, v in self.symbols.items())
        return "%s\\n%s\\nLayers: %d, Total GPUs: %d" % (
            self.title, sym, self.layers, self.declared_total)

    # ---- DOT writer
    def node_label(self, n):
        lines = [n["op"]]
        if n["ins"]:
            lines.append("Input: " + ", ".join(n["ins"]))
        if n["out"] is not None:
            lines.append("Output: " + n["out"])
        if n["gpu"] is not None:
            lines.append("GPU: " + n["gpu"])
        return "\\n".join(lines)

    def to_dot(self):
        out = []
        out.append("// Deployment DAG (forward pass, inference), symbolic shapes")
        out.append('digraph "%s" {' % self.name)
        out.append('    graph [label="%s", labelloc=t, fontname="Helvetica", rankdir=TB];'
                   % self.graph_label())
        out.append('    node [fontname="Helvetica", fontsize=10];')
        out.append('    edge [fontname="Helvetica", fontsize=9];')

        def nline(nid, n, ind):
            extra = ""
            if n["shape"] == COMM:
                extra = ', style=filled, fillcolor="#dbe9ff"'
            elif n["shape"] == ROUTE:
                extra = ', style=filled, fillcolor="#fff2cc"'
            return '%s"%s" [shape=%s, label="%s"%s];' % (
                ind, nid, n["shape"], self.node_label(n), extra)

        for cid, clabel in self.clusters.items():
            out.append("    subgraph %s {" % cid)
            out.append('        label="%s";' % clabel)
            out.append("        style=rounded;")
            for nid, n in self.nodes.items():
                if n["cluster"] == cid:
                    out.append(nline(nid, n, "        "))
            out.append("    }")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(nline(nid, n, "    "))
        for s, d, a in self.edges:
            if a:
                attrs = ", ".join("%s=%s" % (k, v) for k, v in a.items())
                out.append('    "%s" -> "%s" [%s];' % (s, d, attrs))
            else:
                out.append('    "%s" -> "%s";' % (s, d))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------
def gpu_range(a, b):
    return str(a) if a == b else "%d-%d" % (a, b)


def build(cfg):
    s = cfg["symbols"]
    TP, EP, PP, DP = s["TP"], s["EP"], s["PP"], s["DP"]
    moe = cfg["moe"]
    stages = cfg["stages"]  # list of (lo, hi), one per PP stage
    assert len(stages) == PP
    L = stages[-1][1] + 1
    g = Graph(cfg["name"], cfg["title"], s, L)
    g.sym_notes = dict(cfg.get("sym_notes", {}))
    g.declared_total = TP * EP * PP * DP
    g.cfg = cfg

    def gpu(d, p, e, t):
        return ((d * PP + p) * EP + e) * TP + t

    def tp_group(d, p):
        return gpu_range(gpu(d, p, 0, 0), gpu(d, p, 0, TP - 1))

    def ep_group(d, p, e):
        return gpu_range(gpu(d, p, e, 0), gpu(d, p, e, TP - 1))

    def stage_all(d, p):
        return gpu_range(gpu(d, p, 0, 0), gpu(d, p, EP - 1, TP - 1))

    BSH = "[B, S, H]"
    QKV = "[B, S, NH/TP, HD]"
    SC = "[B, NH/TP, S, S]"

    for d in range(DP):
        pre = "dp%d." % d if DP > 1 else ""
        cids = []
        for p, (lo, hi) in enumerate(stages):
            cid = "cluster_dp%d_pp%d" % (d, p) if DP > 1 else "cluster_pp%d" % p
            lab = "PP stage %d (layers %d-%d)" % (p, lo, hi)
            if DP > 1:
                lab += ", DP replica %d" % d
            g.clusters[cid] = lab
            cids.append(cid)

        # ---- input + embedding (stage 0)
        c = cids[0]
        inp = g.node(pre + "input", "Input (token ids)", COMP, ["[B, S]"], "[B, S]",
                     tp_group(d, 0), c)
        ear = g.node(pre + "embed.allreduce", "All-Reduce", COMM, [BSH], BSH, tp_group(d, 0), c)
        for t in range(TP):
            e = g.node(pre + "embed.tp%d" % t, "Embedding (vocab-parallel)", COMP, ["[B, S]"],
                       BSH, str(gpu(d, 0, 0, t)), c)
            g.edge(inp, e)
            g.edge(e, ear)
        stream = [ear] * TP

        for p, (lo, hi) in enumerate(stages):
            c = cids[p]
            for Lr in range(lo, hi + 1):
                lp = pre + "layer%d." % Lr
                # ---------------- attention sublayer
                ar = g.node(lp + "attn_allreduce", "All-Reduce", COMM, [BSH], BSH,
                            tp_group(d, p), c)
                res1 = []
                for t in range(TP):
                    G = str(gpu(d, p, 0, t))
                    sx = ".tp%d" % t
                    n1 = g.node(lp + "norm1" + sx, "RMSNorm", COMP, [BSH], BSH, G, c)
                    q = g.node(lp + "q_proj" + sx, "Q projection", COMP, [BSH], QKV, G, c)
                    k = g.node(lp + "k_proj" + sx, "K projection", COMP, [BSH], QKV, G, c)
                    v = g.node(lp + "v_proj" + sx, "V projection", COMP, [BSH], QKV, G, c)
                    qk = g.node(lp + "qk" + sx, "QK^T", COMP, [QKV, QKV], SC, G, c)
                    sm = g.node(lp + "softmax" + sx, "Softmax", COMP, [SC], SC, G, c)
                    av = g.node(lp + "attn_v" + sx, "Attention x V", COMP, [SC, QKV], QKV, G, c)
                    o = g.node(lp + "o_proj" + sx, "Output projection", COMP, [QKV], BSH, G, c)
                    r1 = g.node(lp + "residual1" + sx, "Residual add", COMP, [BSH, BSH], BSH, G, c)
                    g.edge(stream[t], n1)
                    g.edge(n1, q)
                    g.edge(n1, k)
                    g.edge(n1, v)
                    g.edge(q, qk)
                    g.edge(k, qk)
                    g.edge(qk, sm)
                    g.edge(sm, av)
                    g.edge(v, av)
                    g.edge(av, o)
                    g.edge(o, ar)
                    g.edge(ar, r1)
                    g.edge(stream[t], r1)
                    res1.append(r1)
                # ---------------- MLP / MoE sublayer
                res2 = []
                if not moe:
                    mar = g.node(lp + "mlp_allreduce", "All-Reduce", COMM, [BSH], BSH,
                                 tp_group(d, p), c)
                    for t in range(TP):
                        G = str(gpu(d, p, 0, t))
                        sx = ".tp%d" % t
                        FT = "[B, S, F/TP]"
                        n2 = g.node(lp + "norm2" + sx, "RMSNorm", COMP, [BSH], BSH, G, c)
                        ga = g.node(lp + "gate_proj" + sx, "Gate projection", COMP, [BSH], FT, G, c)
                        up = g.node(lp + "up_proj" + sx, "Up projection", COMP, [BSH], FT, G, c)
                        ac = g.node(lp + "act" + sx, "SwiGLU (SiLU(gate) x up)", COMP, [FT, FT], FT, G, c)
                        dn = g.node(lp + "down_proj" + sx, "Down projection", COMP, [FT], BSH, G, c)
                        r2 = g.node(lp + "residual2" + sx, "Residual add", COMP, [BSH, BSH], BSH, G, c)
                        g.edge(res1[t], n2)
                        g.edge(n2, ga)
                        g.edge(n2, up)
                        g.edge(ga, ac)
                        g.edge(up, ac)
                        g.edge(ac, dn)
                        g.edge(dn, mar)
                        g.edge(mar, r2)
                        g.edge(res1[t], r2)
                        res2.append(r2)
                else:
                    TOK = "[B*S*K/E, H]"
                    disp = g.node(lp + "moe_dispatch", "All-to-All dispatch", COMM,
                                  [BSH, "[B, S, K]"], TOK, stage_all(d, p), c)
                    comb = g.node(lp + "moe_combine", "All-to-All combine", COMM,
                                  [TOK], "[B, S, K, H]", stage_all(d, p), c)
                    per = s["E"] // EP
                    for j in range(s["E"]):
                        e = j // per
                        x = g.node(lp + "expert%d.ep%d" % (j, e), "Expert %d" % j, COMP,
                                   [TOK], TOK, ep_group(d, p, e), c)
                        g.edge(disp, x)
                        g.edge(x, comb)
                    for t in range(TP):
                        G = str(gpu(d, p, 0, t))
                        sx = ".tp%d" % t
                        n2 = g.node(lp + "norm2" + sx, "RMSNorm", COMP, [BSH], BSH, G, c)
                        ro = g.node(lp + "router" + sx, "Router", ROUTE, [BSH], "[B, S, K]", G, c)
                        ws = g.node(lp + "moe_weighted_sum" + sx, "Weighted sum", ROUTE,
                                    ["[B, S, K, H]", "[B, S, K]"], BSH, G, c)
                        r2 = g.node(lp + "residual2" + sx, "Residual add", COMP, [BSH, BSH], BSH, G, c)
                        g.edge(res1[t], n2)
                        g.edge(n2, ro)
                        g.edge(n2, disp)
                        g.edge(ro, disp, style="dashed")
                        g.edge(comb, ws)
                        g.edge(ro, ws, style="dashed")
                        g.edge(ws, r2)
                        g.edge(res1[t], r2)
                        res2.append(r2)
                stream = res2
            # ---- pipeline transfer to the next stage
            if p < PP - 1:
                new = []
                for t in range(TP):
                    a, b = gpu(d, p, 0, t), gpu(d, p + 1, 0, t)
                    sr = g.node(pre + "pp%d_to_pp%d.send_recv.tp%d" % (p, p + 1, t),
                                "Send/Recv (PP stage %d -> %d)" % (p, p + 1), COMM,
                                [BSH], BSH, "%d,%d" % (a, b), None)
                    g.edge(stream[t], sr)
                    new.append(sr)
                stream = new

        # ---- final norm, LM head, all-gather, output (last stage)
        p = PP - 1
        c = cids[p]
        ag = g.node(pre + "lm_head.allgather", "All-Gather logits", COMM, ["[B, S, V/TP]"],
                    "[B, S, V]", tp_group(d, p), c)
        for t in range(TP):
            G = str(gpu(d, p, 0, t))
            fn = g.node(pre + "final_norm.tp%d" % t, "RMSNorm (final)", COMP, [BSH], BSH, G, c)
            lm = g.node(pre + "lm_head.tp%d" % t, "LM head (vocab-parallel)", COMP, [BSH],
                        "[B, S, V/TP]", G, c)
            g.edge(stream[t], fn)
            g.edge(fn, lm)
            g.edge(lm, ag)
        o = g.node(pre + "output", "Output (logits)", COMP, ["[B, S, V]"], "[B, S, V]",
                   tp_group(d, p), c)
        g.edge(ag, o)
    return g


# --------------------------------------------------------------------------
# the three clean configurations
# --------------------------------------------------------------------------
CLEAN = {
    "clean_1": dict(
        name="moe_inference",
        title="MoE transformer inference (8 experts, top-2)",
        moe=True,
        symbols=dict(B=4, S=1024, H=2048, NH=16, HD=128, F=5632, E=8, K=2, V=32000,
                     TP=2, EP=2, PP=1, DP=1),
        stages=[(0, 1)],
    ),
    "clean_2": dict(
        name="moe_inference",
        title="MoE transformer inference (8 experts, top-2), pipelined",
        moe=True,
        symbols=dict(B=8, S=2048, H=4096, NH=32, HD=128, F=14336, E=8, K=2, V=32000,
                     TP=2, EP=4, PP=2, DP=1),
        stages=[(0, 1), (2, 3)],
    ),
    "clean_3": dict(
        name="dense_inference",
        title="Dense transformer inference (SwiGLU MLP), two data-parallel replicas",
        moe=False,
        symbols=dict(B=4, S=2048, H=3072, NH=24, HD=128, F=8192, V=32000,
                     TP=4, EP=1, PP=1, DP=2),
        sym_notes=dict(B=" (per DP replica)"),
        stages=[(0, 1)],
    ),
}


# --------------------------------------------------------------------------
# defects: each takes a deep copy of a clean graph and injects ONE defect.
# returns (nodes, what)
# --------------------------------------------------------------------------
def d_cycle(g):
    # communication node drawn both ways: all-reduce -> residual add -> all-reduce
    g.edge("layer1.residual1.tp0", "layer1.attn_allreduce")
    return (["layer1.attn_allreduce", "layer1.residual1.tp0"],
            "The attention All-Reduce of layer 1 is drawn both ways with the tp0 residual add "
            "(attn_allreduce -> residual1.tp0 -> attn_allreduce), a 2-node cycle.")


def d_dangling_input(g):
    g.remove_edge("layer1.norm1.tp1", "layer1.k_proj.tp1")
    return (["layer1.k_proj.tp1"],
            "The K projection of layer 1 on TP rank 1 has no incoming edge (its RMSNorm input "
            "edge was dropped).")


def d_dangling_output(g):
    g.remove_edge("layer0.expert5.ep1", "layer0.moe_combine")
    return (["layer0.expert5.ep1"],
            "Expert 5 of layer 0 has no outgoing edge: its output never reaches the "
            "All-to-All combine.")


def d_attention_one_box(g):
    s = g.symbols
    for t in range(s["TP"]):
        sx = ".tp%d" % t
        n1 = "layer1.norm1" + sx
        G = g.nodes[n1]["gpu"]
        c = g.nodes[n1]["cluster"]
        for op in ("q_proj", "k_proj", "v_proj", "qk", "softmax", "attn_v"):
            g.remove_node("layer1." + op + sx)
        m = g.node("layer1.mha" + sx, "Multi-Head Attention", COMP, ["[B, S, H]"],
                   "[B, S, NH/TP, HD]", G, c)
        g.edge(n1, m)
        g.edge(m, "layer1.o_proj" + sx)
    return (["layer1.mha.tp0", "layer1.mha.tp1"],
            "Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank "
            "instead of Q/K/V projections, QK^T, softmax and attention x V.")


def d_v_bypasses_softmax(g):
    sm, av, o = "layer2.softmax.tp1", "layer2.attn_v.tp1", "layer2.o_proj.tp1"
    g.remove_edge(sm, av)
    g.edge(sm, o)
    g.nodes[av]["ins"] = ["[B, S, NH/TP, HD]"]
    g.nodes[o]["ins"] = ["[B, S, NH/TP, HD]", "[B, NH/TP, S, S]"]
    return ([sm, av, o],
            "In layer 2 on TP rank 1 the softmax no longer feeds 'Attention x V' (only V does); "
            "the softmax goes straight to the output projection, so V bypasses the "
            "attention probabilities.")


def d_v_into_score(g):
    g.edge("layer0.v_proj.tp0", "layer0.qk.tp0")
    g.nodes["layer0.qk.tp0"]["ins"] = ["[B, S, NH/TP, HD]"] * 3
    return (["layer0.v_proj.tp0", "layer0.qk.tp0"],
            "The V projection of layer 0 (TP rank 0) is wired into the QK^T score node "
            "(besides Q and K).")


def d_qkv_into_oproj(g):
    for t in range(g.symbols["TP"]):
        sx = ".tp%d" % t
        for op in ("qk", "softmax", "attn_v"):
            g.remove_node("layer1." + op + sx)
        o = "layer1.o_proj" + sx
        for op in ("q_proj", "k_proj", "v_proj"):
            g.edge("layer1." + op + sx, o)
        g.nodes[o]["ins"] = ["[B, S, NH/TP, HD]"] * 3
    return (["layer1.o_proj.tp0", "layer1.o_proj.tp1"],
            "In layer 1 the Q, K and V projections feed the output projection directly; "
            "there is no QK^T, softmax or attention x V.")


def d_head_arithmetic(g):
    HALF = "[B, S, NH/TP, HD/2]"
    for t in range(g.symbols["TP"]):
        sx = ".tp%d" % t
        for op in ("q_proj", "k_proj", "v_proj"):
            g.nodes["layer3." + op + sx]["out"] = HALF
        g.nodes["layer3.qk" + sx]["ins"] = [HALF, HALF]
        g.nodes["layer3.attn_v" + sx]["ins"] = ["[B, NH/TP, S, S]", HALF]
        g.nodes["layer3.attn_v" + sx]["out"] = HALF
        g.nodes["layer3.o_proj" + sx]["ins"] = [HALF]
    return (["layer3.q_proj.tp0", "layer3.k_proj.tp0", "layer3.v_proj.tp0",
             "layer3.q_proj.tp1", "layer3.k_proj.tp1", "layer3.v_proj.tp1"],
            "Layer 3's Q/K/V projections use head dim HD/2 = 64 with NH=32 heads: "
            "32 x 64 = 2048 != H = 4096 (consistently propagated through the layer).")


def d_tp_heads(g):
    ALL = "[B, S, NH, HD]"
    p = "dp0.layer0."
    sx = ".tp2"
    for op in ("q_proj", "k_proj", "v_proj"):
        g.nodes[p + op + sx]["out"] = ALL
    g.nodes[p + "qk" + sx]["ins"] = [ALL, ALL]
    g.nodes[p + "qk" + sx]["out"] = "[B, NH, S, S]"
    g.nodes[p + "softmax" + sx]["ins"] = ["[B, NH, S, S]"]
    g.nodes[p + "softmax" + sx]["out"] = "[B, NH, S, S]"
    g.nodes[p + "attn_v" + sx]["ins"] = ["[B, NH, S, S]", ALL]
    g.nodes[p + "attn_v" + sx]["out"] = ALL
    g.nodes[p + "o_proj" + sx]["ins"] = [ALL]
    return ([p + "q_proj" + sx, p + "k_proj" + sx, p + "v_proj" + sx],
            "TP rank 2 of layer 0 (replica 0) projects Q/K/V to all NH=24 heads instead of "
            "NH/TP = 6 heads (propagated consistently through that rank's attention).")


def d_edge_shape_mismatch(g):
    n = "dp0.layer1.up_proj.tp1"
    g.nodes[n]["ins"] = ["[B, S, F]"]
    return ([n, "dp0.layer1.norm2.tp1"],
            "The Up projection of layer 1 (replica 0, TP rank 1) declares Input [B, S, F] = "
            "[4, 2048, 8192] while its producer RMSNorm outputs [B, S, H] = [4, 2048, 3072] "
            "(ratio 8/3, not a parallel degree).")


def d_shard_without_gather(g):
    g.remove_node("embed.allreduce")
    for t in range(g.symbols["TP"]):
        e = "embed.tp%d" % t
        g.nodes[e]["op"] = "Embedding (hidden-sharded)"
        g.nodes[e]["out"] = "[B, S, H/TP]"
        g.edge(e, "layer0.norm1.tp%d" % t)
        g.edge(e, "layer0.residual1.tp%d" % t)
    return (["embed.tp0", "embed.tp1", "layer0.norm1.tp0", "layer0.norm1.tp1",
             "layer0.residual1.tp0", "layer0.residual1.tp1"],
            "The embedding outputs a hidden shard [B, S, H/TP] (1024 = 2048/TP2) that goes "
            "straight into layer 0's RMSNorm and residual add, which expect [B, S, H]; "
            "no all-gather.")


def d_stage_count(g):
    g.symbols["PP"] = 4
    g.declared_total = g.total_gpus()
    return (["cluster_pp0", "cluster_pp1"],
            "The graph label declares PP=4 (Total GPUs 32) but only 2 pipeline stages are drawn.")


def d_stage_range_gap(g):
    g.clusters["cluster_pp0"] = "PP stage 0 (layers 0-0)"
    return (["cluster_pp0", "cluster_pp1"],
            "Stage labels claim layers 0-0 and 2-3: layer 1 (drawn inside stage 0) is "
            "covered by no stage's range.")


def d_stage_missing_layer(g):
    for nid in [n for n in g.nodes if n.startswith("layer3.")]:
        g.remove_node(nid)
    for t in range(g.symbols["TP"]):
        g.edge("layer2.residual2.tp%d" % t, "final_norm.tp%d" % t)
    return (["cluster_pp1", "layer2.residual2.tp0", "layer2.residual2.tp1"],
            "Stage 1 claims layers 2-3 (4 layers declared) but no operator of layer 3 is "
            "drawn; layer 2 feeds the final norm directly.")


def d_no_stage_transfer(g):
    for t in range(g.symbols["TP"]):
        sr = "pp0_to_pp1.send_recv.tp%d" % t
        g.remove_node(sr)
        g.edge("layer1.residual2.tp%d" % t, "layer2.norm1.tp%d" % t)
        g.edge("layer1.residual2.tp%d" % t, "layer2.residual1.tp%d" % t)
    return (["layer1.residual2.tp0", "layer1.residual2.tp1", "layer2.norm1.tp0",
             "layer2.norm1.tp1", "layer2.residual1.tp0", "layer2.residual1.tp1"],
            "Stage 0's last residual adds are joined to stage 1's first nodes by plain edges; "
            "the send/recv nodes are gone (these edges therefore also cross GPUs 0->8, 1->9 "
            "without a communication node).")


def _move_expert(g, lp, j, old_e, new_e, gpu=None):
    old = "%sexpert%d.ep%d" % (lp, j, old_e)
    new = "%sexpert%d.ep%d" % (lp, j, new_e)
    n = g.nodes.pop(old)
    if gpu is not None:
        n["gpu"] = gpu
    g.nodes[new] = n
    for e in g.edges:
        if e[0] == old:
            e[0] = new
        if e[1] == old:
            e[1] = new
    return new


def d_experts_subset_ranks(g):
    # E=8 over EP ranks 0..1 only (4 each); EP ranks 2,3 hold no expert in layer 1
    ep_gpu = {0: "0-1", 1: "2-3"}
    moved = []
    for j in range(8):
        old_e = j // 2
        new_e = j // 4
        if old_e != new_e:
            moved.append(_move_expert(g, "layer1.", j, old_e, new_e, ep_gpu[new_e]))
        else:
            moved.append("layer1.expert%d.ep%d" % (j, new_e))
    # keep node order readable
    return (moved,
            "In layer 1 all 8 experts sit on EP ranks 0 and 1 (4 each, GPUs 0-1 and 2-3); "
            "EP ranks 2 and 3 (GPUs 4-5, 6-7) hold no expert although EP=4.")


def d_experts_uneven(g):
    new = _move_expert(g, "layer2.", 2, 1, 0, "8-9")
    return ([new, "layer2.expert0.ep0", "layer2.expert1.ep0", "layer2.expert3.ep1"],
            "In layer 2 EP rank 0 holds 3 experts (0,1,2) and EP rank 1 holds 1 (3), while "
            "E/EP = 2 per rank.")


def d_experts_share_gpu(g):
    n = "layer3.expert7.ep3"
    g.nodes[n]["gpu"] = "12-13"
    return ([n, "layer3.expert4.ep2", "layer3.expert5.ep2"],
            "Expert 7 of layer 3 belongs to EP rank 3 but is placed on GPUs 12-13, the GPUs "
            "of EP rank 2 (experts 4 and 5).")


def d_no_gate(g):
    for t in range(g.symbols["TP"]):
        g.remove_node("layer0.router.tp%d" % t)
        g.nodes["layer0.moe_weighted_sum.tp%d" % t]["ins"] = ["[B, S, K, H]"]
    g.nodes["layer0.moe_dispatch"]["ins"] = ["[B, S, H]"]
    return (["layer0.moe_dispatch"] + ["layer0.expert%d.ep%d" % (j, j // 4) for j in range(8)],
            "Layer 0 has no Router: the RMSNorm output goes to the All-to-All dispatch and the "
            "experts without any gate/router choosing the experts.")


def d_no_all_to_all(g):
    g.remove_node("layer1.moe_dispatch")
    ex = ["layer1.expert%d.ep%d" % (j, j // 4) for j in range(8)]
    for t in range(g.symbols["TP"]):
        for x in ex:
            g.edge("layer1.norm2.tp%d" % t, x)
            g.edge("layer1.router.tp%d" % t, x, style="dashed")
    for x in ex:
        g.nodes[x]["ins"] = ["[B, S, H]", "[B, S, K]"]
    return (ex,
            "Layer 1 has no All-to-All dispatch: the RMSNorm and Router outputs go straight "
            "to the experts on EP ranks 0 and 1 although EP=2 (the edges to EP rank 1 on "
            "GPUs 2-3 therefore also cross GPUs without a communication node).")


def d_tp_rank_missing(g):
    g.remove_node("dp0.layer1.k_proj.tp3")
    return (["dp0.layer1.k_proj.tp0", "dp0.layer1.qk.tp3"],
            "In replica 0, layer 1 the K projection is drawn for TP ranks 0-2 but not for "
            "TP rank 3 (QK^T on rank 3 gets only Q).")


def d_no_allreduce_after_rowparallel(g):
    g.remove_node("dp1.layer0.mlp_allreduce")
    for t in range(g.symbols["TP"]):
        g.edge("dp1.layer0.down_proj.tp%d" % t, "dp1.layer0.residual2.tp%d" % t)
    return (["dp1.layer0.down_proj.tp%d" % t for t in range(4)],
            "In replica 1, layer 0 the row-parallel down projections feed the residual adds "
            "directly; the MLP All-Reduce is missing.")


def d_cross_gpu_no_comm(g):
    g.remove_edge("dp0.layer0.residual1.tp1", "dp0.layer0.residual2.tp1")
    g.edge("dp0.layer0.residual1.tp0", "dp0.layer0.residual2.tp1")
    return (["dp0.layer0.residual1.tp0", "dp0.layer0.residual2.tp1"],
            "The residual skip of layer 0 (replica 0) into residual2.tp1 on GPU 1 comes from "
            "residual1.tp0 on GPU 0: a cross-GPU edge with no communication node.")


def d_comm_wrong_shape(g):
    g.nodes["layer0.attn_allreduce"]["shape"] = COMP
    return (["layer0.attn_allreduce"],
            "Layer 0's attention All-Reduce is drawn as a box (computation) instead of an "
            "ellipse.")


def d_missing_gpu(g):
    g.nodes["layer1.v_proj.tp1"]["gpu"] = None
    return (["layer1.v_proj.tp1"], "The V projection of layer 1, TP rank 1 has no GPU line.")


def d_gpu_out_of_range(g):
    g.nodes["layer1.expert7.ep1"]["gpu"] = "4-5"
    return (["layer1.expert7.ep1"],
            "Expert 7 of layer 1 is placed on GPUs 4-5, but the strategy has only 4 GPUs (0-3).")


def d_stages_share_gpus(g):
    # stage 1 placed on GPUs 4-11 instead of 8-15 (overlaps stage 0's 4-7)
    def shift(spec):
        out = []
        for part in spec.split(","):
            if "-" in part:
                a, b = part.split("-")
                out.append("%d-%d" % (int(a) - 4 if int(a) >= 8 else int(a),
                                      int(b) - 4 if int(b) >= 8 else int(b)))
            else:
                out.append(str(int(part) - 4 if int(part) >= 8 else int(part)))
        return ",".join(out)
    for nid, n in g.nodes.items():
        if n["gpu"] is not None and (n["cluster"] == "cluster_pp1" or ".send_recv." in nid):
            n["gpu"] = shift(n["gpu"])
    return (["cluster_pp0", "cluster_pp1"],
            "Stage 1 is placed on GPUs 4-11 instead of 8-15, so GPUs 4-7 belong to both "
            "stages (stage 0's EP ranks 2-3 and stage 1's attention/EP ranks 0-1).")


def d_strategy_mismatch(g):
    g.symbols["EP"] = 4
    g.declared_total = g.total_gpus()
    return (["layer0.expert0.ep0", "layer0.expert4.ep1", "layer1.expert0.ep0",
             "layer1.expert4.ep1"],
            "The label declares EP=4 (Total GPUs 8) but every MoE layer draws experts on EP "
            "ranks 0 and 1 only (4 experts each, GPUs 0-3).")


def d_missing_shapes(g):
    n = "dp1.layer1.gate_proj.tp0"
    g.nodes[n]["ins"] = []
    g.nodes[n]["out"] = None
    return ([n], "The Gate projection of layer 1 (replica 1, TP rank 0) has no Input/Output lines.")


def d_placeholder(g):
    n = "layer1.expert2.ep0"
    g.nodes[n]["ins"] = ["[?, H]"]
    g.nodes[n]["out"] = "[?, H]"
    return ([n], "Expert 2 of layer 1 gives its token count as '?' (Input/Output [?, H]) "
                 "instead of B*S*K/E.")


def d_moe_before_attention(g):
    T = g.symbols["TP"]
    lp = "layer1."
    for t in range(T):
        sx = ".tp%d" % t
        prev = "layer0.residual2" + sx
        sr = "pp0_to_pp1.send_recv" + sx
        for s_, d_ in [(prev, lp + "norm1" + sx), (prev, lp + "residual1" + sx),
                       (lp + "residual1" + sx, lp + "norm2" + sx),
                       (lp + "residual1" + sx, lp + "residual2" + sx),
                       (lp + "residual2" + sx, sr)]:
            g.remove_edge(s_, d_)
        # MoE sublayer first
        g.edge(prev, lp + "norm2" + sx)
        g.edge(prev, lp + "residual2" + sx)
        # then attention
        g.edge(lp + "residual2" + sx, lp + "norm1" + sx)
        g.edge(lp + "residual2" + sx, lp + "residual1" + sx)
        g.edge(lp + "residual1" + sx, sr)
    return (["layer1.norm2.tp0", "layer1.router.tp0", "layer1.moe_dispatch", "layer1.norm1.tp0"],
            "Layer 1 runs its MoE sublayer (RMSNorm, Router, dispatch, experts, combine) "
            "before its attention sublayer.")


def d_missing_residual(g):
    g.remove_edge("dp0.layer1.residual1.tp2", "dp0.layer1.residual2.tp2")
    return (["dp0.layer1.residual2.tp2"],
            "The MLP residual add of layer 1 (replica 0, TP rank 2) is fed only by the "
            "MLP All-Reduce; the skip edge from residual1.tp2 is removed.")


DEFECTS = [
    # kind, base, category, fn
    ("cycle", "clean_1", "structure", d_cycle),
    ("dangling_input", "clean_1", "structure", d_dangling_input),
    ("dangling_output", "clean_1", "structure", d_dangling_output),
    ("attention_one_box", "clean_1", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "clean_2", "attention", d_v_bypasses_softmax),
    ("v_into_score", "clean_1", "attention", d_v_into_score),
    ("qkv_into_oproj", "clean_2", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "clean_2", "attention", d_head_arithmetic),
    ("tp_heads", "clean_3", "attention", d_tp_heads),
    ("edge_shape_mismatch", "clean_3", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_1", "shape", d_shard_without_gather),
    ("stage_count", "clean_2", "pipeline", d_stage_count),
    ("stage_range_gap", "clean_2", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "clean_2", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "clean_2", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_2", "expert", d_experts_subset_ranks),
    ("experts_uneven", "clean_2", "expert", d_experts_uneven),
    ("experts_share_gpu", "clean_2", "expert", d_experts_share_gpu),
    ("no_gate", "clean_1", "expert", d_no_gate),
    ("no_all_to_all", "clean_1", "expert", d_no_all_to_all),
    ("tp_rank_missing", "clean_3", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_3", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_3", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", "communication", d_comm_wrong_shape),
    ("missing_gpu", "clean_2", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_2", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "clean_1", "strategy", d_strategy_mismatch),
    ("missing_shapes", "clean_3", "annotation", d_missing_shapes),
    ("placeholder", "clean_1", "annotation", d_placeholder),
    ("moe_before_attention", "clean_2", "structure", d_moe_before_attention),
    ("missing_residual", "clean_3", "structure", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct MoE DAG, TP=2, EP=2, PP=1, DP=1 (4 GPUs), 2 layers, 8 experts top-2.",
    "clean_2": "Correct MoE DAG, TP=2, EP=4, PP=2, DP=1 (16 GPUs), 4 layers (2 per stage), "
               "8 experts top-2.",
    "clean_3": "Correct dense (SwiGLU) DAG, TP=4, EP=1, PP=1, DP=2 (8 GPUs), 2 layers, "
               "both DP replicas drawn.",
}


# --------------------------------------------------------------------------
# independent self-check (my own reading of the rules; not the validator)
# --------------------------------------------------------------------------
def ev_shape(shape, sym):
    if shape is None:
        return None
    body = shape.strip()
    assert body.startswith("[") and body.endswith("]"), shape
    dims = []
    for part in body[1:-1].split(","):
        part = part.strip()
        if "?" in part:
            return None
        expr = re.sub(r"[A-Za-z_]+", lambda m: "Fraction(%d)" % sym[m.group(0)], part)
        dims.append(eval(expr, {"Fraction": Fraction}))
    return tuple(dims)


def gpu_set(spec):
    if spec is None:
        return None
    out = set()
    for part in spec.split(","):
        part = part.strip()
        if not re.fullmatch(r"\d+(-\d+)?", part):
            return None
        if "-" in part:
            a, b = map(int, part.split("-"))
            out.update(range(a, b + 1))
        else:
            out.add(int(part))
    return out


def check(g):
    f = []
    sym = g.symbols
    TP, EP, PP, DP = sym["TP"], sym["EP"], sym["PP"], sym["DP"]
    N = g.nodes

    def is_io(n):
        return N[n]["op"].startswith("Input") or N[n]["op"].startswith("Output")

    # structure: cycle
    indeg = {n: 0 for n in N}
    for s, d, _ in g.edges:
        indeg[d] += 1
    q = [n for n in N if indeg[n] == 0]
    seen = 0
    while q:
        n = q.pop()
        seen += 1
        for s, d, _ in g.edges:
            if s == n:
                indeg[d] -= 1
                if indeg[d] == 0:
                    q.append(d)
    if seen != len(N):
        f.append("structure: cycle")
    for n in N:
        if not g.preds(n) and not N[n]["op"].startswith("Input"):
            f.append("structure: no input edge %s" % n)
        if not g.succs(n) and not N[n]["op"].startswith("Output"):
            f.append("structure: no output edge %s" % n)
    # residual adds need two inputs, one from a comm/route node, one skip
    for n in N:
        if N[n]["op"] == "Residual add" and len(g.preds(n)) != 2:
            f.append("structure: residual %s has %d inputs" % (n, len(g.preds(n))))
    # annotation
    for n, d in N.items():
        txt = g.node_label(d)
        if "?" in txt:
            f.append("annotation: placeholder in %s" % n)
        if d["shape"] != COMM:
            if not d["ins"] or d["out"] is None:
                f.append("annotation: missing shapes %s" % n)
    # shapes on edges
    for s, d, _ in g.edges:
        po = ev_shape(N[s]["out"], sym)
        ci = [ev_shape(x, sym) for x in N[d]["ins"]]
        if po is None or not ci or any(x is None for x in ci):
            continue
        if po not in ci:
            f.append("shape: %s %s -> %s %s" % (N[s]["out"], s, d, N[d]["ins"]))
    # H/TP-size vectors reaching full-H expecting nodes are covered by the edge check.
    # gpu
    total = g.declared_total
    if total != TP * EP * PP * DP:
        f.append("strategy: declared total %d != product" % total)
    for n, d in N.items():
        gs = gpu_set(d["gpu"])
        if d["shape"] != COMM and d["gpu"] is None:
            f.append("gpu: missing %s" % n)
        if gs and max(gs) >= total:
            f.append("gpu: out of range %s %s" % (n, d["gpu"]))
    # communication
    for s, d, _ in g.edges:
        a, b = gpu_set(N[s]["gpu"]), gpu_set(N[d]["gpu"])
        if a and b and not (a & b) and COMM not in (N[s]["shape"], N[d]["shape"]):
            f.append("communication: cross-gpu %s -> %s" % (s, d))
    for n, d in N.items():
        if re.search(r"All-Reduce|All-to-All|All-Gather|Send/Recv", d["op"]) and d["shape"] != COMM:
            f.append("communication: comm drawn as %s %s" % (d["shape"], n))
    # pipeline (per DP replica)
    for dd in range(DP):
        cl = [c for c in g.clusters if (DP == 1 or c.startswith("cluster_dp%d_" % dd))]
        if len(cl) != PP:
            f.append("pipeline: %d stages drawn, PP=%d" % (len(cl), PP))
        covered = []
        for c in cl:
            m = re.search(r"layers (\d+)-(\d+)", g.clusters[c])
            lo, hi = int(m.group(1)), int(m.group(2))
            covered.extend(range(lo, hi + 1))
            for Lr in range(lo, hi + 1):
                if not any(N[n]["cluster"] == c and re.search(r"(^|\.)layer%d\." % Lr, n) for n in N):
                    f.append("pipeline: %s claims layer %d not drawn" % (c, Lr))
        if sorted(covered) != list(range(g.layers)):
            f.append("pipeline: ranges cover %s" % sorted(covered))
        for s, d, _ in g.edges:
            cs, cd = N[s]["cluster"], N[d]["cluster"]
            if cs and cd and cs != cd:
                f.append("pipeline: plain edge between stages %s -> %s" % (s, d))
        # stage GPU disjoint
        sets = {}
        for c in cl:
            u = set()
            for n in N:
                if N[n]["cluster"] == c:
                    u |= gpu_set(N[n]["gpu"]) or set()
            sets[c] = u
        cs = list(sets)
        for i in range(len(cs)):
            for j in range(i + 1, len(cs)):
                if sets[cs[i]] & sets[cs[j]]:
                    f.append("gpu: stages share %s" % sorted(sets[cs[i]] & sets[cs[j]]))
    # attention
    for n, d in N.items():
        if d["op"] == "Multi-Head Attention":
            f.append("attention: one box %s" % n)
        if d["op"] in ("Q projection", "K projection", "V projection") and d["out"]:
            sh = ev_shape(d["out"], sym)
            if sh and sh[2] * sh[3] * TP != sym["H"]:
                f.append("attention: heads x hd x TP != H at %s" % n)
            if sh and sh[2] != Fraction(sym["NH"], TP):
                f.append("attention: rank heads != NH/TP at %s" % n)
        if d["op"] == "QK^T":
            ops = sorted(N[p]["op"] for p in g.preds(n))
            if ops != ["K projection", "Q projection"]:
                f.append("attention: score inputs %s at %s" % (ops, n))
        if d["op"] == "Attention x V":
            ops = sorted(N[p]["op"] for p in g.preds(n))
            if ops != ["Softmax", "V projection"]:
                f.append("attention: weighted sum inputs %s at %s" % (ops, n))
        if d["op"] == "Output projection":
            ops = sorted(N[p]["op"] for p in g.preds(n))
            if ops != ["Attention x V"] and ops != ["Multi-Head Attention"]:
                f.append("attention: o_proj inputs %s at %s" % (ops, n))
        if d["op"] == "Softmax":
            ops = [N[p]["op"] for p in g.succs(n)]
            if ops != ["Attention x V"]:
                f.append("attention: softmax goes to %s at %s" % (ops, n))
    # tensor: ranks per (prefix, op)
    groups = {}
    for n in N:
        m = re.fullmatch(r"(.*)\.tp(\d+)", n)
        if m:
            groups.setdefault(m.group(1), set()).add(int(m.group(2)))
    for k, v in groups.items():
        if v != set(range(TP)):
            f.append("tensor: %s ranks %s" % (k, sorted(v)))
    for n, d in N.items():
        if d["op"] in ("Output projection", "Down projection"):
            for s_ in g.succs(n):
                if N[s_]["op"] != "All-Reduce":
                    f.append("tensor: row-parallel %s -> %s without all-reduce" % (n, s_))
    # expert
    layers = {}
    for n in N:
        m = re.fullmatch(r"(.*layer\d+)\.expert(\d+)\.ep(\d+)", n)
        if m:
            layers.setdefault(m.group(1), []).append((int(m.group(2)), int(m.group(3)), n))
    for lp, xs in layers.items():
        byrank = {}
        for j, e, n in xs:
            byrank.setdefault(e, []).append(n)
        if set(byrank) != set(range(EP)):
            f.append("expert: %s ranks %s of EP=%d" % (lp, sorted(byrank), EP))
        if len(set(len(v) for v in byrank.values())) > 1 or len(xs) != sym["E"]:
            f.append("expert: %s uneven %s" % (lp, {k: len(v) for k, v in byrank.items()}))
        rg = {e: set().union(*[gpu_set(N[n]["gpu"]) or set() for n in v]) for e, v in byrank.items()}
        es = sorted(rg)
        for i in range(len(es)):
            for j in range(i + 1, len(es)):
                if rg[es[i]] & rg[es[j]]:
                    f.append("expert: %s ranks %d,%d share GPUs" % (lp, es[i], es[j]))
        for j, e, n in xs:
            pops = [N[p]["op"] for p in g.preds(n)]
            if pops != ["All-to-All dispatch"]:
                f.append("expert: %s fed by %s" % (n, sorted(set(pops))))
                break
        disp = lp + ".moe_dispatch"
        if disp in N and not any(N[p]["op"] == "Router" for p in g.preds(disp)):
            f.append("expert: %s dispatch without router" % lp)
        # MoE after attention: router must be downstream of the layer's o_proj
        rt = [n for n in N if n.startswith(lp + ".router.")]
        for r in rt:
            anc, st = set(), [r]
            while st:
                x = st.pop()
                for p in g.preds(x):
                    if p not in anc:
                        anc.add(p)
                        st.append(p)
            if not any(a.startswith(lp + ".o_proj.") for a in anc):
                f.append("structure: %s MoE before attention" % r)
    return f


# --------------------------------------------------------------------------
def main():
    os.makedirs(OUT, exist_ok=True)
    for fn in os.listdir(OUT):
        if fn.endswith(".dot") or fn == "manifest.json":
            os.remove(os.path.join(OUT, fn))
    manifest = []
    clean = {}
    report = []
    for key, cfg in CLEAN.items():
        g = build(cfg)
        clean[key] = g
        path = os.path.join(OUT, key + ".dot")
        with open(path, "w") as fh:
            fh.write(g.to_dot())
        manifest.append(dict(file=key + ".dot", kind="clean", category=None, nodes=[],
                             what=CLEAN_WHAT[key]))
        report.append((key + ".dot", check(g)))
    for kind, base, cat, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.to_dot())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what + " (base: %s.dot)" % base))
        report.append((fname, check(g)))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    verbose = "-q" not in sys.argv
    for fname, fs in report:
        if verbose:
            print("%-45s %d self-check findings" % (fname, len(fs)))
            for x in fs[:12]:
                print("      " + x)
            if len(fs) > 12:
                print("      ... %d more" % (len(fs) - 12))
    bad = [f for f, fs in report if f.startswith("clean") and fs]
    if bad:
        print("CLEAN FILES WITH FINDINGS:", bad)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
