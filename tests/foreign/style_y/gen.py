#!/usr/bin/env python3
"""Independent generator of deployment DAGs in "house style Y".

House style Y:
  * placement by GPU clusters: every GPU is `subgraph cluster_gpuN { label="GPU N"; ... }`
    holding the nodes that run on it; nodes carry no GPU line;
  * collectives / transfers (ellipses) sit outside the GPU clusters (in their stage cluster, or at
    the top level for stage-to-stage transfers and host scatter) and name their group in the label
    ("AllReduce over GPUs 0-1");
  * stage clusters contain the GPU clusters: `subgraph cluster_stage1 { label="Stage 1: layers 2–3"; ...}`;
    with DP > 1 the pipeline is repeated per replica inside `cluster_dp{d}` ("DP Replica d");
  * labels: operator in Title Case, then `Input: [..]`, `Output: [..]` (positional shapes);
  * ids `s{S}_g{G}_l{L}_{op}`; strategy in graph name and graph label; layers numbered from 0.

Run `python3 gen.py` to write out/clean_*.dot, out/defect_*.dot and out/manifest.json.
Stdlib only.
"""
import copy
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
EN_DASH = "\u2013"

# --------------------------------------------------------------------------------------------
# graph model


class Graph:
    def __init__(self, name, label, comment):
        self.name = name
        self.label = label
        self.comment = comment
        self.clusters = {}      # id -> {"label":..., "parent": id or None}
        self.nodes = {}         # id -> dict(op, inputs, outputs, shape, cluster, extra)
        self.edges = []         # (u, v)

    def cluster(self, cid, label, parent=None):
        if cid not in self.clusters:
            self.clusters[cid] = {"label": label, "parent": parent}
        return cid

    def node(self, nid, op, inputs=None, outputs=None, shape="box", cluster=None, extra=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"op": op, "inputs": [list(s) for s in (inputs or [])],
                           "outputs": [list(s) for s in (outputs or [])], "shape": shape,
                           "cluster": cluster, "extra": list(extra or [])}
        return nid

    def edge(self, u, v):
        assert u in self.nodes and v in self.nodes, (u, v)
        self.edges.append((u, v))

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [(u, v) for (u, v) in self.edges if u != nid and v != nid]

    def remove_edge(self, u, v):
        before = len(self.edges)
        self.edges = [(a, b) for (a, b) in self.edges if not (a == u and b == v)]
        assert len(self.edges) == before - 1, (u, v)

    def rename_node(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
        self.edges = [((new if u == old else u), (new if v == old else v)) for (u, v) in self.edges]

    def succ(self, nid):
        return [v for (u, v) in self.edges if u == nid]

    def pred(self, nid):
        return [u for (u, v) in self.edges if v == nid]


def fmt_shape(s):
    return "[" + ",".join(str(x) for x in s) + "]"


def fmt_gpus(gpus):
    """Compact GPU list: [0,1,2,3] -> '0-3', [0,1,2,5] -> '0-2,5'."""
    gpus = sorted(set(gpus))
    parts, i = [], 0
    while i < len(gpus):
        j = i
        while j + 1 < len(gpus) and gpus[j + 1] == gpus[j] + 1:
            j += 1
        parts.append(str(gpus[i]) if i == j else "%d-%d" % (gpus[i], gpus[j]))
        i = j + 1
    return ",".join(parts)


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


STYLE = {
    "box": 'shape=box, style=filled, fillcolor="#dbe9f7"',
    "ellipse": 'shape=ellipse, style=filled, fillcolor="#fdf1c7"',
    "parallelogram": 'shape=parallelogram, style=filled, fillcolor="#d9f0d3"',
    "invhouse": 'shape=invhouse, style=filled, fillcolor="#eeeeee"',
    "house": 'shape=house, style=filled, fillcolor="#eeeeee"',
}


def node_label(n):
    lines = [n["op"]] + n["extra"]
    if n["inputs"]:
        lines.append("Input: " + ", ".join(fmt_shape(s) for s in n["inputs"]))
    if n["outputs"]:
        lines.append("Output: " + ", ".join(fmt_shape(s) for s in n["outputs"]))
    return "\\n".join(lines)


def to_dot(g):
    out = []
    if g.comment:
        out.append("// " + g.comment)
    out.append("digraph %s {" % g.name)
    out.append("  label=%s;" % q(g.label))
    out.append("  labelloc=t; fontsize=20; rankdir=TB; newrank=true;")
    out.append('  node [fontname="Helvetica", fontsize=10];')
    out.append("")
    children = {}
    for cid, c in g.clusters.items():
        children.setdefault(c["parent"], []).append(cid)
    members = {}
    for nid, n in g.nodes.items():
        members.setdefault(n["cluster"], []).append(nid)

    def emit_node(nid, ind):
        n = g.nodes[nid]
        out.append("%s%s [%s, label=\"%s\"];" % (ind, nid, STYLE[n["shape"]],
                                                  node_label(n).replace('"', '\\"')))

    def emit_cluster(cid, ind):
        out.append("%ssubgraph %s {" % (ind, cid))
        out.append("%s  label=%s;" % (ind, q(g.clusters[cid]["label"])))
        for sub in children.get(cid, []):
            emit_cluster(sub, ind + "  ")
        for nid in members.get(cid, []):
            emit_node(nid, ind + "  ")
        out.append("%s}" % ind)

    for nid in members.get(None, []):
        emit_node(nid, "  ")
    for cid in children.get(None, []):
        emit_cluster(cid, "  ")
    out.append("")
    for u, v in g.edges:
        out.append("  %s -> %s;" % (u, v))
    out.append("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# builder


CONFIGS = {
    # MoE, EP>1 and TP>1, no pipeline
    "clean_1": dict(EP=4, TP=2, PP=1, DP=1, layers=2, H=2048, heads=16, hd=128, E=8, topk=2,
                    F=4096, V=32000, B=8, S=256, moe=True),
    # MoE with a 2-stage pipeline
    "clean_2": dict(EP=2, TP=2, PP=2, DP=1, layers=4, H=1024, heads=8, hd=128, E=4, topk=2,
                    F=2048, V=32000, B=4, S=256, moe=True),
    # dense model, TP4, two data-parallel replicas
    "clean_3": dict(EP=1, TP=4, PP=1, DP=2, layers=2, H=4096, heads=32, hd=128, E=0, topk=0,
                    F=11008, V=32000, B=8, S=512, moe=False),
}


def strategy_text(c):
    return "EP%d TP%d PP%d DP%d" % (c["EP"], c["TP"], c["PP"], c["DP"])


def graph_name(c):
    name = "EP%d_TP%d_PP%d" % (c["EP"], c["TP"], c["PP"])
    if c["DP"] > 1:
        name += "_DP%d" % c["DP"]
    return name


def model_comment(c):
    if c["moe"]:
        kind = "MoE, %d experts (top-%d), expert FFN %d" % (c["E"], c["topk"], c["F"])
    else:
        kind = "dense, FFN %d (SwiGLU)" % c["F"]
    return ("Model: %d layers, hidden %d, %d heads x %d, %s, vocab %d; batch %d, seq %d"
            % (c["layers"], c["H"], c["heads"], c["hd"], kind, c["V"], c["B"], c["S"]))


def build(c, remap=None):
    """Build the clean DAG of config c. remap: {raw gpu id: drawn gpu id} (defects only)."""
    remap = remap or {}
    EP, TP, PP, DP = c["EP"], c["TP"], c["PP"], c["DP"]
    H, nh, hd, S, B, V = c["H"], c["heads"], c["hd"], c["S"], c["B"], c["V"]
    assert nh * hd == H and nh % TP == 0 and V % TP == 0 and c["layers"] % PP == 0
    groups = DP * EP                       # attention groups per stage (batch rows split over them)
    assert B % groups == 0
    b = B // groups
    nhl = nh // TP
    per_stage = c["layers"] // PP
    g = Graph(graph_name(c), strategy_text(c), model_comment(c))

    def gpu(d, s, e, t):
        raw = ((d * PP + s) * EP + e) * TP + t
        return remap.get(raw, raw)


    def gpu_cluster(d, s, e, t):
        gid = gpu(d, s, e, t)
        cid = "cluster_gpu%d" % gid
        key = (d, s)
        if cid in g.clusters and g.clusters[cid]["parent"] != stage_cluster[key]:
            cid = "cluster_gpu%d_s%d" % (gid, s)       # only when a defect reuses a GPU id
        g.cluster(cid, "GPU %d" % gid, stage_cluster[key])
        return cid

    stage_cluster = {}
    for d in range(DP):
        parent = None
        if DP > 1:
            parent = g.cluster("cluster_dp%d" % d, "DP Replica %d" % d)
        for s in range(PP):
            lo, hi = s * per_stage, (s + 1) * per_stage - 1
            cid = ("cluster_dp%d_stage%d" % (d, s)) if DP > 1 else ("cluster_stage%d" % s)
            stage_cluster[(d, s)] = g.cluster(cid, "Stage %d: layers %d%s%d" % (s, lo, EN_DASH, hi),
                                              parent)

    slots = [(d, e, t) for d in range(DP) for e in range(EP) for t in range(TP)]
    hid = [b, S, H]

    def pid(s, gid, L, op):
        return ("s%d_g%d_l%d_%s" % (s, gid, L, op)) if L is not None else ("s%d_g%d_%s" % (s, gid, op))

    # input + scatter of batch rows over the attention groups of stage 0
    g.node("input", "Input", outputs=[[B, S]], shape="invhouse", extra=["Token IDs"])
    st0 = [gpu(d, 0, e, t) for (d, e, t) in slots]
    g.node("scatter", "Scatter Batch over GPUs %s" % fmt_gpus(st0), inputs=[[B, S]],
           outputs=[[b, S]], shape="ellipse")
    g.edge("input", "scatter")

    stream = {}
    for (d, e, t) in slots:
        gid = gpu(d, 0, e, t)
        n = g.node(pid(0, gid, None, "embed"), "Embedding", [[b, S]], [hid],
                   cluster=gpu_cluster(d, 0, e, t))
        g.edge("scatter", n)
        stream[(d, e, t)] = n

    for s in range(PP):
        if s > 0:
            for (d, e, t) in slots:
                src, dst = gpu(d, s - 1, e, t), gpu(d, s, e, t)
                n = g.node("sendrecv_g%d_g%d" % (src, dst),
                           "Send/Recv Stage %d \u2192 Stage %d (GPU %d \u2192 GPU %d)" % (s - 1, s, src, dst),
                           [hid], [hid], shape="ellipse")
                g.edge(stream[(d, e, t)], n)
                stream[(d, e, t)] = n
        for L in range(s * per_stage, (s + 1) * per_stage):
            # ---------------- attention (TP inside each group) ----------------
            for d in range(DP):
                for e in range(EP):
                    tp_gpus = [gpu(d, s, e, t) for t in range(TP)]
                    ar = g.node("s%d_l%d_attn_allreduce_g%s" % (s, L, "_".join(map(str, tp_gpus))),
                                "AllReduce over GPUs %s" % fmt_gpus(tp_gpus), [hid], [hid],
                                shape="ellipse", cluster=stage_cluster[(d, s)])
                    for t in range(TP):
                        gid = gpu(d, s, e, t)
                        cl = gpu_cluster(d, s, e, t)
                        P = lambda op: pid(s, gid, L, op)
                        qs = [b, S, nhl, hd]
                        sc = [b, nhl, S, S]
                        g.node(P("attn_norm"), "Attention Norm", [hid], [hid], cluster=cl)
                        for x in "qkv":
                            g.node(P(x + "_proj"), x.upper() + " Proj", [hid], [qs], cluster=cl)
                        g.node(P("scores"), "Scores", [qs, qs], [sc], cluster=cl)
                        g.node(P("softmax"), "Softmax", [sc], [sc], cluster=cl)
                        g.node(P("context"), "Context", [sc, qs], [[b, S, nhl * hd]], cluster=cl)
                        g.node(P("out_proj"), "Out Proj", [[b, S, nhl * hd]], [hid], cluster=cl)
                        g.node(P("attn_add"), "Add", [hid, hid], [hid], cluster=cl)
                        x0 = stream[(d, e, t)]
                        g.edge(x0, P("attn_norm"))
                        for x in "qkv":
                            g.edge(P("attn_norm"), P(x + "_proj"))
                        g.edge(P("q_proj"), P("scores"))
                        g.edge(P("k_proj"), P("scores"))
                        g.edge(P("scores"), P("softmax"))
                        g.edge(P("softmax"), P("context"))
                        g.edge(P("v_proj"), P("context"))
                        g.edge(P("context"), P("out_proj"))
                        g.edge(P("out_proj"), ar)
                        g.edge(ar, P("attn_add"))
                        g.edge(x0, P("attn_add"))
                        stream[(d, e, t)] = P("attn_add")
            # ---------------- FFN: MoE or dense ----------------
            for d in range(DP):
                if c["moe"]:
                    build_moe(g, c, d, s, L, b, gpu, gpu_cluster, stage_cluster, stream, pid)
                else:
                    for e in range(EP):
                        tp_gpus = [gpu(d, s, e, t) for t in range(TP)]
                        ar = g.node("s%d_l%d_mlp_allreduce_g%s" % (s, L, "_".join(map(str, tp_gpus))),
                                    "AllReduce over GPUs %s" % fmt_gpus(tp_gpus), [hid], [hid],
                                    shape="ellipse", cluster=stage_cluster[(d, s)])
                        Fl = c["F"] // TP
                        for t in range(TP):
                            gid = gpu(d, s, e, t)
                            cl = gpu_cluster(d, s, e, t)
                            P = lambda op: pid(s, gid, L, op)
                            g.node(P("ffn_norm"), "FFN Norm", [hid], [hid], cluster=cl)
                            g.node(P("up_proj"), "Up Proj", [hid], [[b, S, 2 * Fl]], cluster=cl)
                            g.node(P("act"), "Activation", [[b, S, 2 * Fl]], [[b, S, Fl]], cluster=cl)
                            g.node(P("down_proj"), "Down Proj", [[b, S, Fl]], [hid], cluster=cl)
                            g.node(P("mlp_add"), "Add", [hid, hid], [hid], cluster=cl)
                            x0 = stream[(d, e, t)]
                            g.edge(x0, P("ffn_norm"))
                            g.edge(P("ffn_norm"), P("up_proj"))
                            g.edge(P("up_proj"), P("act"))
                            g.edge(P("act"), P("down_proj"))
                            g.edge(P("down_proj"), ar)
                            g.edge(ar, P("mlp_add"))
                            g.edge(x0, P("mlp_add"))
                            stream[(d, e, t)] = P("mlp_add")

    # final norm, vocab-parallel LM head, all-gather of logits, output
    s = PP - 1
    last = [gpu(d, s, e, t) for (d, e, t) in slots]
    ag = g.node("s%d_logits_allgather" % s, "AllGather over GPUs %s" % fmt_gpus(last),
                [[b, S, V // TP]], [[B, S, V]], shape="ellipse",
                cluster=stage_cluster[(0, s)] if DP == 1 else None)
    for (d, e, t) in slots:
        gid = gpu(d, s, e, t)
        cl = gpu_cluster(d, s, e, t)
        fn = g.node(pid(s, gid, None, "final_norm"), "Final Norm", [hid], [hid], cluster=cl)
        lm = g.node(pid(s, gid, None, "lm_head"), "LM Head", [hid], [[b, S, V // TP]], cluster=cl)
        g.edge(stream[(d, e, t)], fn)
        g.edge(fn, lm)
        g.edge(lm, ag)
    g.node("output", "Output", [[B, S, V]], shape="house", extra=["Logits"])
    g.edge(ag, "output")
    return g


def build_moe(g, c, d, s, L, b, gpu, gpu_cluster, stage_cluster, stream, pid):
    EP, TP, H, S, B, E, k = c["EP"], c["TP"], c["H"], c["S"], c["B"], c["E"], c["topk"]
    assert E % EP == 0
    hid = [b, S, H]
    T = b * S                                  # tokens per attention group
    C = B * S * k // E                         # tokens per expert (balanced routing)
    loc = E // EP
    stage_gpus = [gpu(d, s, e, t) for e in range(EP) for t in range(TP)]
    sc = stage_cluster[(d, s)]
    disp = g.node("s%d_l%d_dispatch" % (s, L), "Dispatch All-to-All over GPUs %s" % fmt_gpus(stage_gpus),
                  [[T, H]], [[C, H]], shape="ellipse", cluster=sc)
    comb = g.node("s%d_l%d_combine" % (s, L), "Combine All-to-All over GPUs %s" % fmt_gpus(stage_gpus),
                  [[C, H]], [[T, k, H]], shape="ellipse", cluster=sc)
    for e in range(EP):
        for t in range(TP):
            gid = gpu(d, s, e, t)
            cl = gpu_cluster(d, s, e, t)
            P = lambda op: pid(s, gid, L, op)
            g.node(P("ffn_norm"), "FFN Norm", [hid], [hid], cluster=cl)
            g.node(P("router"), "Router", [hid], [[T, H], [T, k]], shape="parallelogram", cluster=cl)
            g.edge(stream[(d, e, t)], P("ffn_norm"))
            g.edge(P("ffn_norm"), P("router"))
            g.edge(P("router"), disp)
    for e in range(EP):
        tp_gpus = [gpu(d, s, e, t) for t in range(TP)]
        red = g.node("s%d_l%d_ffn_allreduce_g%s" % (s, L, "_".join(map(str, tp_gpus))),
                     "AllReduce over GPUs %s" % fmt_gpus(tp_gpus), [[C, H]] * loc, [[C, H]] * loc,
                     shape="ellipse", cluster=sc)
        for t in range(TP):
            gid = gpu(d, s, e, t)
            cl = gpu_cluster(d, s, e, t)
            for j in range(e * loc, (e + 1) * loc):
                x = g.node(pid(s, gid, L, "expert%d" % j), "Expert %d" % j, [[C, H]], [[C, H]], cluster=cl)
                g.edge(disp, x)
                g.edge(x, red)
        g.edge(red, comb)
    for e in range(EP):
        for t in range(TP):
            gid = gpu(d, s, e, t)
            cl = gpu_cluster(d, s, e, t)
            P = lambda op: pid(s, gid, L, op)
            g.node(P("aggregate"), "Aggregate", [[T, k, H]], [hid], shape="parallelogram", cluster=cl)
            g.node(P("moe_add"), "Add", [hid, hid], [hid], cluster=cl)
            g.edge(comb, P("aggregate"))
            g.edge(P("aggregate"), P("moe_add"))
            g.edge(stream[(d, e, t)], P("moe_add"))
            stream[(d, e, t)] = P("moe_add")


# --------------------------------------------------------------------------------------------
# defects: each returns (graph, category, nodes, what)


def base(name, remap=None):
    if _CURRENT[0]:
        DEFECT_BASE[_CURRENT[0]] = name
    return build(CONFIGS[name], remap)


def gpus_of(c, s=0):
    return [((0 * c["PP"] + s) * c["EP"] + e) * c["TP"] + t for e in range(c["EP"]) for t in range(c["TP"])]


def d_cycle():
    g = base("clean_1")
    x, disp = "s0_g2_l1_expert2", "s0_l1_dispatch"
    g.edge(x, disp)
    return g, "structure", [disp, x], \
        "The dispatch all-to-all of layer 1 is drawn both ways with Expert 2 on GPU 2 (dispatch -> expert and expert -> dispatch), forming a cycle."


def d_dangling_input():
    g = base("clean_1")
    n = "s0_g1_l0_v_proj"
    g.remove_edge("s0_g1_l0_attn_norm", n)
    return g, "structure", [n], "V Proj of layer 0 on GPU 1 has no incoming edge (the edge from its Attention Norm is missing)."


def d_dangling_output():
    g = base("clean_1")
    n = "s0_g3_l1_router"
    g.remove_edge(n, "s0_l1_dispatch")
    return g, "structure", [n], "The Router of layer 1 on GPU 3 has no outgoing edge (its edge to the dispatch all-to-all is missing)."


def d_attention_one_box():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    b = c["B"] // c["EP"]
    hid = [b, c["S"], c["H"]]
    ids = []
    L = 1
    for gid in gpus_of(c):
        P = lambda op: "s0_g%d_l%d_%s" % (gid, L, op)
        cl = g.nodes[P("attn_norm")]["cluster"]
        ar = [v for v in g.succ(P("out_proj"))][0]
        for op in ["q_proj", "k_proj", "v_proj", "scores", "softmax", "context", "out_proj"]:
            g.remove_node(P(op))
        m = g.node(P("mha"), "Multi-Head Attention", [hid], [hid], cluster=cl)
        g.edge(P("attn_norm"), m)
        g.edge(m, ar)
        ids.append(m)
    return g, "attention", ids, \
        "Layer 1's attention is drawn as one 'Multi-Head Attention' box per GPU instead of Q/K/V, scores, softmax, context and output projection."


def d_v_bypasses_softmax():
    g = base("clean_1")
    P = lambda op: "s0_g0_l0_%s" % op
    sm = g.nodes[P("softmax")]["outputs"][0]
    g.remove_edge(P("softmax"), P("context"))
    g.edge(P("softmax"), P("out_proj"))
    g.nodes[P("context")]["inputs"] = [g.nodes[P("v_proj")]["outputs"][0]]
    g.nodes[P("out_proj")]["inputs"].append(sm)
    return g, "attention", [P("softmax"), P("context"), P("v_proj")], \
        "In layer 0 on GPU 0 the Context (weighted sum) is fed only by V; the Softmax bypasses it and goes straight into Out Proj."


def d_v_into_score():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    ids = []
    for gid in gpus_of(c):
        P = lambda op: "s0_g%d_l1_%s" % (gid, op)
        g.remove_node(P("k_proj"))
        g.edge(P("v_proj"), P("scores"))
        ids += [P("scores"), P("v_proj")]
    return g, "attention", ids, \
        "In layer 1 the Scores node takes Q and V (V wired into the score instead of K; no K projection drawn)."


def d_qkv_into_oproj():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    ids = []
    for gid in gpus_of(c):
        P = lambda op: "s0_g%d_l0_%s" % (gid, op)
        qs = g.nodes[P("q_proj")]["outputs"][0]
        for op in ["scores", "softmax", "context"]:
            g.remove_node(P(op))
        for x in "qkv":
            g.edge(P(x + "_proj"), P("out_proj"))
        g.nodes[P("out_proj")]["inputs"] = [qs, qs, qs]
        ids.append(P("out_proj"))
    return g, "attention", ids, \
        "In layer 0, Q/K/V projections feed Out Proj directly; no Scores, Softmax or Context are drawn."


def d_head_arithmetic():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    ids = []
    for gid in gpus_of(c):
        P = lambda op: "s0_g%d_l1_%s" % (gid, op)

        def half(shape):
            return shape[:3] + [shape[3] // 2]
        for x in "qkv":
            n = g.nodes[P(x + "_proj")]
            n["outputs"] = [half(n["outputs"][0])]
        n = g.nodes[P("scores")]
        n["inputs"] = [half(s) for s in n["inputs"]]
        n = g.nodes[P("context")]
        n["inputs"] = [n["inputs"][0], half(n["inputs"][1])]
        o = n["outputs"][0]
        n["outputs"] = [o[:2] + [o[2] // 2]]
        g.nodes[P("out_proj")]["inputs"] = [o[:2] + [o[2] // 2]]
        ids += [P("q_proj"), P("k_proj"), P("v_proj")]
    return g, "attention", ids, \
        "Layer 1 draws 8 heads x head_dim 64 per TP2 rank (16 x 64 = 1024) while the hidden size is 2048."


def d_tp_heads():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    b = c["B"] // c["EP"]
    S, nh, hd, H = c["S"], c["heads"], c["hd"], c["H"]
    P = lambda op: "s0_g3_l0_%s" % op
    qs, sc = [b, S, nh, hd], [b, nh, S, S]
    for x in "qkv":
        g.nodes[P(x + "_proj")]["outputs"] = [qs]
    g.nodes[P("scores")]["inputs"] = [qs, qs]
    g.nodes[P("scores")]["outputs"] = [sc]
    g.nodes[P("softmax")]["inputs"] = [sc]
    g.nodes[P("softmax")]["outputs"] = [sc]
    g.nodes[P("context")]["inputs"] = [sc, qs]
    g.nodes[P("context")]["outputs"] = [[b, S, H]]
    g.nodes[P("out_proj")]["inputs"] = [[b, S, H]]
    return g, "attention", [P("q_proj"), P("k_proj"), P("v_proj")], \
        "On GPU 3 (a TP2 rank) layer 0's Q/K/V projections output all 16 heads instead of 16/TP2 = 8."


def d_edge_shape_mismatch():
    g = base("clean_3")
    n = "s0_g2_l1_ffn_norm"
    g.nodes[n]["inputs"] = [[4, 512, 3072]]
    return g, "shape", ["s0_g2_l1_attn_add", n], \
        "FFN Norm of layer 1 on GPU 2 declares Input [4,512,3072] while its producer Add outputs [4,512,4096]."


def d_shard_without_gather():
    g = base("clean_1")
    ar = "s0_l1_attn_allreduce_g4_5"
    ctx, add = "s0_g5_l1_context", "s0_g5_l1_attn_add"
    g.remove_edge(ar, add)
    g.edge(ctx, add)
    return g, "shape", [ctx, add], \
        "On GPU 5 layer 1's residual Add takes the Context shard [2,256,1024] (= 2048/TP2) directly, with no all-reduce/all-gather."


def d_stage_count():
    g = base("clean_2")
    c = dict(CONFIGS["clean_2"], PP=3)
    g.name = graph_name(c)
    g.label = strategy_text(c)
    return g, "pipeline", [], "The strategy declares PP3 (name and label) but two pipeline stages are drawn."


def d_stage_range_gap():
    g = base("clean_2")
    g.clusters["cluster_stage1"]["label"] = "Stage 1: layers 3%s3" % EN_DASH
    return g, "pipeline", ["cluster_stage1"], \
        "Stage ranges are 0–1 and 3–3, leaving layer 2 (drawn in stage 1) uncovered."


def d_stage_missing_layer():
    g = base("clean_2")
    for nid in [n for n in g.nodes if n.startswith("s1_") and "_l3_" in n]:
        g.remove_node(nid)
    for gid in gpus_of(CONFIGS["clean_2"], 1):
        g.edge("s1_g%d_l2_moe_add" % gid, "s1_g%d_final_norm" % gid)
    return g, "pipeline", ["cluster_stage1"], \
        "Stage 1 claims layers 2–3 but no operators of layer 3 are drawn (layer 2 feeds the final norm)."


def d_no_stage_transfer():
    g = base("clean_2")
    ids = []
    for src, dst in zip(gpus_of(CONFIGS["clean_2"], 0), gpus_of(CONFIGS["clean_2"], 1)):
        sr = "sendrecv_g%d_g%d" % (src, dst)
        g.remove_node(sr)
        a, n, r = "s0_g%d_l1_moe_add" % src, "s1_g%d_l2_attn_norm" % dst, "s1_g%d_l2_attn_add" % dst
        g.edge(a, n)
        g.edge(a, r)
        ids += [a, n]
    return g, "pipeline", ids, \
        "Stage 0 and stage 1 are joined by plain edges (layer 1 Add -> layer 2 norm/add) with no send/recv node."


def d_experts_subset_ranks():
    g = base("clean_1")
    for nid in ["s0_g6_l1_expert6", "s0_g6_l1_expert7", "s0_g7_l1_expert6", "s0_g7_l1_expert7",
                "s0_l1_ffn_allreduce_g6_7"]:
        g.remove_node(nid)
    return g, "expert", ["s0_l1_dispatch", "s0_l1_combine"], \
        "Layer 1's experts are drawn only on EP ranks 0-2 (GPUs 0-5); EP rank 3 (GPUs 6-7) holds no experts."


def d_experts_uneven():
    g = base("clean_1")
    ids = []
    for src, dst in [(6, 4), (7, 5)]:
        old, new = "s0_g%d_l0_expert6" % src, "s0_g%d_l0_expert6" % dst
        g.rename_node(old, new)
        g.nodes[new]["cluster"] = "cluster_gpu%d" % dst
        g.remove_edge(new, "s0_l0_ffn_allreduce_g6_7")
        g.edge(new, "s0_l0_ffn_allreduce_g4_5")
        ids.append(new)
    ch = [512, 2048]
    g.nodes["s0_l0_ffn_allreduce_g4_5"]["inputs"] = [ch] * 3
    g.nodes["s0_l0_ffn_allreduce_g4_5"]["outputs"] = [ch] * 3
    g.nodes["s0_l0_ffn_allreduce_g6_7"]["inputs"] = [ch]
    g.nodes["s0_l0_ffn_allreduce_g6_7"]["outputs"] = [ch]
    # keep declaration order readable: nothing else changes
    return g, "expert", ids, \
        "In layer 0 EP rank 2 (GPUs 4-5) holds experts 4, 5, 6 and EP rank 3 (GPUs 6-7) only expert 7: 3/1 instead of 2/2."


def d_experts_share_gpu():
    g = base("clean_1")
    ids = []
    red = "s0_l1_ffn_allreduce_g2_3"
    # EP rank 1's experts (2, 3) drawn on GPUs 1-2 instead of 2-3: GPU 1 also holds EP rank 0's experts
    for j in (2, 3):
        g.rename_node("s0_g2_l1_expert%d" % j, "tmp_%d" % j)
        g.rename_node("s0_g3_l1_expert%d" % j, "s0_g2_l1_expert%d" % j)
        g.nodes["s0_g2_l1_expert%d" % j]["cluster"] = "cluster_gpu2"
        g.rename_node("tmp_%d" % j, "s0_g1_l1_expert%d" % j)
        g.nodes["s0_g1_l1_expert%d" % j]["cluster"] = "cluster_gpu1"
        ids += ["s0_g1_l1_expert%d" % j]
    g.nodes[red]["op"] = "AllReduce over GPUs 1-2"
    g.rename_node(red, "s0_l1_ffn_allreduce_g1_2")
    return g, "expert", ids + ["s0_g1_l1_expert0", "s0_g1_l1_expert1"], \
        "In layer 1 EP rank 1's experts 2 and 3 are placed on GPUs 1-2, so GPU 1 holds experts of EP rank 0 and EP rank 1."


def d_no_gate():
    g = base("clean_1")
    ids = []
    for gid in gpus_of(CONFIGS["clean_1"]):
        r = "s0_g%d_l0_router" % gid
        g.remove_node(r)
        g.edge("s0_g%d_l0_ffn_norm" % gid, "s0_l0_dispatch")
        ids.append("s0_g%d_l0_ffn_norm" % gid)
    return g, "expert", ["s0_l0_dispatch"] + ids, \
        "Layer 0 has no Router: FFN Norm feeds the dispatch all-to-all and the experts directly."


def d_no_all_to_all():
    g = base("clean_1")
    c = CONFIGS["clean_1"]
    g.remove_node("s0_l1_dispatch")
    ids = []
    for gid in gpus_of(c):
        r = "s0_g%d_l1_router" % gid
        for x in [n for n in g.nodes if n.startswith("s0_g%d_l1_expert" % gid)]:
            g.edge(r, x)
            ids.append(x)
        ids.append(r)
    return g, "expert", ids, \
        "In layer 1 (EP4) each Router feeds the experts on its own GPU directly; there is no dispatch all-to-all."


def d_tp_rank_missing():
    g = base("clean_3")
    op, ctx, ar = "s0_g1_l0_out_proj", "s0_g1_l0_context", "s0_l0_attn_allreduce_g0_1_2_3"
    g.remove_node(op)
    g.edge(ctx, ar)
    return g, "tensor", [ctx, ar], \
        "Layer 0's Out Proj is drawn on GPUs 0, 2, 3 but not on GPU 1 (TP rank 1 of replica 0): its Context goes straight into the all-reduce."


def d_no_allreduce_after_rowparallel():
    g = base("clean_3")
    g.remove_node("s0_l1_mlp_allreduce_g0_1_2_3")
    ids = []
    for gid in range(4):
        g.edge("s0_g%d_l1_down_proj" % gid, "s0_g%d_l1_mlp_add" % gid)
        ids.append("s0_g%d_l1_down_proj" % gid)
    return g, "tensor", ids, \
        "In layer 1 of DP replica 0 the row-parallel Down Proj outputs go straight into the residual Add without an all-reduce."


def d_cross_gpu_no_comm():
    g = base("clean_1")
    g.remove_edge("s0_g1_l0_attn_norm", "s0_g1_l0_q_proj")
    g.edge("s0_g0_l0_attn_norm", "s0_g1_l0_q_proj")
    return g, "communication", ["s0_g0_l0_attn_norm", "s0_g1_l0_q_proj"], \
        "Attention Norm on GPU 0 feeds Q Proj on GPU 1 by a plain edge, with no communication node."


def d_comm_wrong_shape():
    g = base("clean_3")
    n = "s0_l0_attn_allreduce_g4_5_6_7"
    g.nodes[n]["shape"] = "box"
    return g, "communication", [n], "The attention all-reduce of layer 0 over GPUs 4-7 is drawn as a box instead of an ellipse."


def d_missing_gpu():
    g = base("clean_1")
    old, n = "s0_g3_l0_ffn_norm", "s0_l0_ffn_norm"
    g.rename_node(old, n)            # drawn without any GPU: neither a GPU cluster nor a g{G} in its id
    g.nodes[n]["cluster"] = "cluster_stage0"
    return g, "gpu", [n], \
        "The FFN Norm of layer 0 between GPU 3's Add and Router is drawn outside every GPU cluster, so it has no GPU placement."


def d_gpu_out_of_range():
    g = base("clean_1", remap={7: 12})
    ids = [n for n in g.nodes if n.startswith("s0_g12_")]
    return g, "gpu", ids, "The GPU that should be GPU 7 is drawn as GPU 12, beyond the 8 GPUs of EP4 TP2 PP1 DP1 (ids 0-7)."


def d_stages_share_gpus():
    g = base("clean_2", remap={4: 3, 5: 4, 6: 5, 7: 6})
    ids = [n for n in g.nodes if n.startswith("s1_g3_")]
    return g, "gpu", ids, "Stage 1 is placed on GPUs 3-6, overlapping stage 0 (GPUs 0-3) on GPU 3."


def d_strategy_mismatch():
    g = base("clean_1")
    c = dict(CONFIGS["clean_1"], TP=4)
    g.name = graph_name(c)
    g.label = strategy_text(c)
    return g, "strategy", [], "The strategy declares TP4 (name and label) while every TP group drawn has 2 ranks (2 GPUs, 8 of 16 heads each)."


def d_missing_shapes():
    g = base("clean_3")
    n = "s0_g6_l1_softmax"
    g.nodes[n]["inputs"] = []
    g.nodes[n]["outputs"] = []
    return g, "annotation", [n], "Softmax of layer 1 on GPU 6 carries no Input or Output shape."


def d_placeholder():
    g = base("clean_1")
    n = "s0_g4_l0_expert5"
    g.nodes[n]["inputs"] = [["?", 2048]]
    g.nodes[n]["outputs"] = [["?", 2048]]
    return g, "annotation", [n], "Expert 5 of layer 0 on GPU 4 gives its token count as '?' ([?,2048]) instead of a value."


def d_moe_before_attention():
    g = base("clean_1")
    ids = []
    for gid in gpus_of(CONFIGS["clean_1"]):
        P = lambda op: "s0_g%d_l1_%s" % (gid, op)
        x0 = "s0_g%d_l0_moe_add" % gid
        nxt = "s0_g%d_final_norm" % gid
        for u, v in [(x0, P("attn_norm")), (x0, P("attn_add")), (P("attn_add"), P("ffn_norm")),
                     (P("attn_add"), P("moe_add")), (P("moe_add"), nxt)]:
            g.remove_edge(u, v)
        for u, v in [(x0, P("ffn_norm")), (x0, P("moe_add")), (P("moe_add"), P("attn_norm")),
                     (P("moe_add"), P("attn_add")), (P("attn_add"), nxt)]:
            g.edge(u, v)
        ids += [P("ffn_norm"), P("attn_norm")]
    return g, "structure", ids, \
        "Layer 1 is wired MoE first: layer 0's output enters the FFN Norm/Router/experts, and the MoE Add then feeds the attention."


def d_missing_residual():
    g = base("clean_1")
    add = "s0_g2_l0_moe_add"
    g.remove_edge("s0_g2_l0_attn_add", add)
    return g, "structure", [add], \
        "The MoE residual Add of layer 0 on GPU 2 is fed only by the Aggregate; the skip edge from the attention Add is missing."


DEFECTS = [
    ("cycle", d_cycle), ("dangling_input", d_dangling_input), ("dangling_output", d_dangling_output),
    ("attention_one_box", d_attention_one_box), ("v_bypasses_softmax", d_v_bypasses_softmax),
    ("v_into_score", d_v_into_score), ("qkv_into_oproj", d_qkv_into_oproj),
    ("head_arithmetic", d_head_arithmetic), ("tp_heads", d_tp_heads),
    ("edge_shape_mismatch", d_edge_shape_mismatch), ("shard_without_gather", d_shard_without_gather),
    ("stage_count", d_stage_count), ("stage_range_gap", d_stage_range_gap),
    ("stage_missing_layer", d_stage_missing_layer), ("no_stage_transfer", d_no_stage_transfer),
    ("experts_subset_ranks", d_experts_subset_ranks), ("experts_uneven", d_experts_uneven),
    ("experts_share_gpu", d_experts_share_gpu), ("no_gate", d_no_gate),
    ("no_all_to_all", d_no_all_to_all), ("tp_rank_missing", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", d_cross_gpu_no_comm), ("comm_wrong_shape", d_comm_wrong_shape),
    ("missing_gpu", d_missing_gpu), ("gpu_out_of_range", d_gpu_out_of_range),
    ("stages_share_gpus", d_stages_share_gpus), ("strategy_mismatch", d_strategy_mismatch),
    ("missing_shapes", d_missing_shapes), ("placeholder", d_placeholder),
    ("moe_before_attention", d_moe_before_attention), ("missing_residual", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Clean MoE DAG, EP4 TP2 PP1 DP1: 2 layers, hidden 2048, 16x128 heads, 8 experts top-2 over 8 GPUs.",
    "clean_2": "Clean MoE DAG, EP2 TP2 PP2 DP1: 4 layers in 2 stages (0–1, 2–3), hidden 1024, 8x128 heads, 4 experts top-2 over 8 GPUs.",
    "clean_3": "Clean dense DAG, EP1 TP4 PP1 DP2: 2 layers, hidden 4096, 32x128 heads, SwiGLU FFN 11008, two TP4 replicas over 8 GPUs.",
}

# which clean file each defect is injected into (recorded by base())
DEFECT_BASE = {}
_CURRENT = [None]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name in CONFIGS:
        g = base(name)
        path = os.path.join(OUT, name + ".dot")
        with open(path, "w", encoding="utf-8") as f:
            f.write(to_dot(g))
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None,
                         "nodes": [], "what": CLEAN_WHAT[name]})
    for kind, fn in DEFECTS:
        _CURRENT[0] = kind
        g, cat, nodes, what = fn()
        for nid in nodes:
            assert nid in g.nodes or nid in g.clusters, (kind, nid)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(to_dot(g))
        what = "%s [injected into %s.dot]." % (what.rstrip("."), DEFECT_BASE[kind])
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    sys.exit(main())
