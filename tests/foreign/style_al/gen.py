#!/usr/bin/env python3
"""Independent generator of deployment DAGs in one house style:
DeepSeek-style serving, "DP attention + EP MoE".

  * Attention is data-parallel: every GPU runs full attention (all heads,
    no TP, no attention all-reduce) on its own slice of the global batch.
  * The MoE is expert-parallel over all GPUs of a stage (EP = GPUs per stage),
    E/EP routed experts per GPU, reached through a dispatch all-to-all and
    left through a combine all-to-all; a shared expert is replicated on every
    GPU and sees every local token (no dispatch).
  * Optional pipeline: stages are clusters "PP s (layers a-b)" on disjoint
    GPU sets, replica r of stage s sends to replica r of stage s+1 through a
    Send/Recv ellipse.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot (each one clean file with
exactly one injected defect) and out/manifest.json.  Stdlib only.
"""
import copy
import json
import os
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

COMPUTE, COMM, ROUTE = "box", "ellipse", "parallelogram"
FILL = {COMPUTE: "lightblue", COMM: "lightyellow", ROUTE: "palegreen"}


def gpu_spec(gpus):
    """[0,1,2,3,5] -> '0-3,5'"""
    gpus = sorted(set(gpus))
    parts, start, prev = [], None, None
    for g in gpus:
        if start is None:
            start = prev = g
        elif g == prev + 1:
            prev = g
        else:
            parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = g
    if start is not None:
        parts.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ",".join(parts)


# --------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------
class Graph:
    def __init__(self, name, label, comments):
        self.name = name
        self.label = label          # list of lines
        self.comments = comments    # list of "// ..." lines
        self.nodes = OrderedDict()  # id -> dict
        self.edges = []             # [src, dst, attrs-dict]
        self.clusters = OrderedDict()  # cid -> label

    # nodes -----------------------------------------------------------
    def add(self, nid, op, shape, inp=None, out=None, gpu=None, gpukey="GPU",
            cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, shape=shape, inp=inp, out=out, gpu=gpu,
                               gpukey=gpukey, cluster=cluster)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

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

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    def replace_node(self, old, new, **changes):
        """Rename a node (keeping its place and edges) and change fields."""
        items = list(self.nodes.items())
        self.nodes = OrderedDict()
        for k, v in items:
            if k == old:
                v = dict(v)
                v.update(changes)
                self.nodes[new] = v
            else:
                self.nodes[k] = v
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def insert_after(self, after, nid, **fields):
        items = list(self.nodes.items())
        self.nodes = OrderedDict()
        for k, v in items:
            self.nodes[k] = v
            if k == after:
                self.nodes[nid] = fields

    # output ------------------------------------------------------------
    def node_label(self, n):
        lines = [n["op"]]
        if n["inp"] is not None:
            lines.append("Input: " + n["inp"])
        if n["out"] is not None:
            lines.append("Output: " + n["out"])
        if n["gpu"] is not None:
            lines.append("%s: %s" % (n["gpukey"], n["gpu"]))
        return "\\n".join(lines)

    def node_line(self, nid, n, indent):
        return '%s%s [shape=%s, style=filled, fillcolor=%s, label="%s"];' % (
            indent, nid, n["shape"], FILL.get(n["shape"], "white"),
            self.node_label(n))

    def to_dot(self):
        out = list(self.comments)
        out.append("digraph %s {" % self.name)
        out.append('    graph [rankdir=TB, labelloc=t, fontname="Helvetica", '
                   'label="%s"];' % "\\n".join(self.label))
        out.append('    node [fontname="Helvetica", fontsize=10];')
        out.append('    edge [fontname="Helvetica", fontsize=9];')
        out.append("")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(self.node_line(nid, n, "    "))
        for cid, clabel in self.clusters.items():
            out.append("")
            out.append("    subgraph %s {" % cid)
            out.append('        label="%s";' % clabel)
            out.append("        style=rounded;")
            for nid, n in self.nodes.items():
                if n["cluster"] == cid:
                    out.append(self.node_line(nid, n, "        "))
            out.append("    }")
        out.append("")
        for a, b, attrs in self.edges:
            if attrs:
                at = " [%s]" % ", ".join("%s=%s" % kv for kv in attrs.items())
            else:
                at = ""
            out.append("    %s -> %s%s;" % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------
def build(cfg):
    """cfg keys:
    name, layers, hidden, heads, head_dim, experts, topk, vocab, batch
    (global), seq, ffn (dense MLP), dense_layers (set), stage_gpus (list of
    lists, one per stage; replicas per stage = len), stage_layers (list of
    (first,last) drawn per stage), stage_labels (list of (first,last) written
    in the cluster labels, default = stage_layers), strategy (str),
    expert_gpu (optional fn(layer, expert, default_gpu) -> gpu)."""
    H, NH, HD = cfg["hidden"], cfg["heads"], cfg["head_dim"]
    assert NH * HD == H
    E, K, V, S = cfg["experts"], cfg["topk"], cfg["vocab"], cfg["seq"]
    stage_gpus = cfg["stage_gpus"]
    reps = len(stage_gpus[0])
    assert all(len(s) == reps for s in stage_gpus)
    assert cfg["batch"] % reps == 0
    b = cfg["batch"] // reps                       # per attention replica
    ep = reps                                       # EP = GPUs per stage
    assert E % ep == 0
    per_rank = E // ep
    tokens = cfg["batch"] * S * K // E              # routed tokens per expert
    pp = len(stage_gpus)
    n_gpus = sum(len(s) for s in stage_gpus)

    hid = "[batch=%d, seq=%d, hidden=%d]" % (b, S, H)
    hds = "[batch=%d, seq=%d, heads=%d, head_dim=%d]" % (b, S, NH, HD)
    scr = "[batch=%d, heads=%d, seq_q=%d, seq_k=%d]" % (b, NH, S, S)
    tok = "[tokens=%d, hidden=%d]" % (tokens, H)
    rte = "[batch=%d, seq=%d, top_k=%d]" % (b, S, K)
    ids = "[batch=%d, seq=%d]" % (b, S)
    lgt = "[batch=%d, seq=%d, vocab=%d]" % (b, S, V)
    ffn = "[batch=%d, seq=%d, ffn=%d]" % (b, S, cfg.get("ffn", 0))

    moe_layers = [l for l in range(cfg["layers"]) if l not in cfg["dense_layers"]]
    model = ["%d layers (%s), hidden %d = %d heads x head_dim %d, vocab %d" % (
        cfg["layers"],
        ("layer %s dense MLP, layers %d-%d MoE" % (
            ",".join(str(x) for x in sorted(cfg["dense_layers"])),
            moe_layers[0], moe_layers[-1])) if cfg["dense_layers"] else "all MoE",
        H, NH, HD, V),
        "MoE: %d routed experts (top-%d) + 1 shared expert per GPU, %d routed experts per EP rank" % (
            E, K, per_rank),
        "prefill, global batch %d = %d per attention replica, seq %d" % (
            cfg["batch"], b, S)]
    g = Graph(cfg["name"], [cfg["strategy"]] + model,
              ["// " + cfg["strategy"],
               "// DeepSeek-style serving: data-parallel attention (full heads per GPU, "
               "own batch slice), expert-parallel MoE over all GPUs of a stage"])

    stage_labels = cfg.get("stage_labels", cfg["stage_layers"])
    clusters = []
    for s in range(pp):
        if pp > 1:
            cid = "cluster_pp%d" % s
            a, z = stage_labels[s]
            g.clusters[cid] = "PP %d (layers %d-%d)" % (s, a, z)
            clusters.append(cid)
        else:
            clusters.append(None)

    stream = {}
    for s in range(pp):
        gpus, cl = stage_gpus[s], clusters[s]
        if s == 0:
            for r, gp in enumerate(gpus):
                g.add("Gpu%dInput" % gp, "Input (token ids)", COMPUTE, ids, ids,
                      gp, cluster=cl)
                g.add("Gpu%dEmbedding" % gp, "Embedding", COMPUTE, ids, hid, gp,
                      cluster=cl)
                g.edge("Gpu%dInput" % gp, "Gpu%dEmbedding" % gp)
                stream[r] = "Gpu%dEmbedding" % gp
        else:
            prev = stage_gpus[s - 1]
            for r, gp in enumerate(gpus):
                nid = "Gpu%dToGpu%dSendRecv" % (prev[r], gp)
                g.add(nid, "Send/Recv (PP %d \u2192 PP %d)" % (s - 1, s), COMM,
                      hid, hid, "%d,%d" % (prev[r], gp), gpukey="GPUs")
                g.edge(stream[r], nid)
                stream[r] = nid

        first, last = cfg["stage_layers"][s]
        for l in range(first, last + 1):
            dense = l in cfg["dense_layers"]
            for r, gp in enumerate(gpus):
                p = "L%dGpu%d" % (l, gp)
                x = stream[r]
                g.add(p + "AttnNorm", "RMSNorm", COMPUTE, hid, hid, gp, cluster=cl)
                g.add(p + "QProj", "Q Proj", COMPUTE, hid, hds, gp, cluster=cl)
                g.add(p + "KProj", "K Proj", COMPUTE, hid, hds, gp, cluster=cl)
                g.add(p + "VProj", "V Proj", COMPUTE, hid, hds, gp, cluster=cl)
                g.add(p + "Scores", "Scores", COMPUTE, hds + ", " + hds, scr, gp,
                      cluster=cl)
                g.add(p + "Softmax", "Softmax", COMPUTE, scr, scr, gp, cluster=cl)
                g.add(p + "Context", "Context", COMPUTE, scr + ", " + hds, hds, gp,
                      cluster=cl)
                g.add(p + "OProj", "O Proj", COMPUTE, hds, hid, gp, cluster=cl)
                g.add(p + "AttnResidual", "Residual Add", COMPUTE, hid + ", " + hid,
                      hid, gp, cluster=cl)
                g.edge(x, p + "AttnNorm")
                for q in ("QProj", "KProj", "VProj"):
                    g.edge(p + "AttnNorm", p + q)
                g.edge(p + "QProj", p + "Scores")
                g.edge(p + "KProj", p + "Scores")
                g.edge(p + "Scores", p + "Softmax")
                g.edge(p + "Softmax", p + "Context")
                g.edge(p + "VProj", p + "Context")
                g.edge(p + "Context", p + "OProj")
                g.edge(p + "OProj", p + "AttnResidual")
                g.edge(x, p + "AttnResidual")
                if dense:
                    g.add(p + "MlpNorm", "RMSNorm", COMPUTE, hid, hid, gp, cluster=cl)
                    g.add(p + "MlpGateProj", "MLP Gate Proj", COMPUTE, hid, ffn, gp,
                          cluster=cl)
                    g.add(p + "MlpUpProj", "MLP Up Proj", COMPUTE, hid, ffn, gp,
                          cluster=cl)
                    g.add(p + "MlpAct", "SiLU x Up", COMPUTE, ffn + ", " + ffn, ffn,
                          gp, cluster=cl)
                    g.add(p + "MlpDownProj", "MLP Down Proj", COMPUTE, ffn, hid, gp,
                          cluster=cl)
                    g.add(p + "MlpResidual", "Residual Add", COMPUTE,
                          hid + ", " + hid, hid, gp, cluster=cl)
                    g.edge(p + "AttnResidual", p + "MlpNorm")
                    g.edge(p + "MlpNorm", p + "MlpGateProj")
                    g.edge(p + "MlpNorm", p + "MlpUpProj")
                    g.edge(p + "MlpGateProj", p + "MlpAct")
                    g.edge(p + "MlpUpProj", p + "MlpAct")
                    g.edge(p + "MlpAct", p + "MlpDownProj")
                    g.edge(p + "MlpDownProj", p + "MlpResidual")
                    g.edge(p + "AttnResidual", p + "MlpResidual")
                    stream[r] = p + "MlpResidual"
            if dense:
                continue
            # MoE
            disp = "L%dDispatchAllToAll" % l
            comb = "L%dCombineAllToAll" % l
            for r, gp in enumerate(gpus):
                p = "L%dGpu%d" % (l, gp)
                g.add(p + "MoeNorm", "RMSNorm", COMPUTE, hid, hid, gp, cluster=cl)
                g.add(p + "Gate", "Gate (top-%d of %d)" % (K, E), ROUTE, hid,
                      hid + ", " + rte, gp, cluster=cl)
                g.add(p + "SharedExpert", "Shared Expert", COMPUTE, hid, hid, gp,
                      cluster=cl)
            g.add(disp, "Dispatch All-to-All", COMM, hid + ", " + rte, tok,
                  gpu_spec(gpus), gpukey="GPUs", cluster=cl)
            experts = []
            for e in range(E):
                gp = gpus[e // per_rank]
                if cfg.get("expert_gpu"):
                    gp = cfg["expert_gpu"](l, e, gp)
                nid = "L%dRoutedExpert%dGpu%d" % (l, e, gp)
                g.add(nid, "Routed Expert %d" % e, COMPUTE, tok, tok, gp, cluster=cl)
                experts.append(nid)
            g.add(comb, "Combine All-to-All", COMM, tok, hid, gpu_spec(gpus),
                  gpukey="GPUs", cluster=cl)
            for r, gp in enumerate(gpus):
                p = "L%dGpu%d" % (l, gp)
                g.add(p + "MoeOutput", "MoE Output (shared + routed)", ROUTE,
                      hid + ", " + hid, hid, gp, cluster=cl)
                g.add(p + "MoeResidual", "Residual Add", COMPUTE, hid + ", " + hid,
                      hid, gp, cluster=cl)
                g.edge(p + "AttnResidual", p + "MoeNorm")
                g.edge(p + "MoeNorm", p + "Gate")
                g.edge(p + "MoeNorm", p + "SharedExpert")
                g.edge(p + "Gate", disp)
            for nid in experts:
                g.edge(disp, nid)
                g.edge(nid, comb)
            for r, gp in enumerate(gpus):
                p = "L%dGpu%d" % (l, gp)
                g.edge(comb, p + "MoeOutput")
                g.edge(p + "SharedExpert", p + "MoeOutput")
                g.edge(p + "MoeOutput", p + "MoeResidual")
                g.edge(p + "AttnResidual", p + "MoeResidual")
                stream[r] = p + "MoeResidual"

        if s == pp - 1:
            for r, gp in enumerate(gpus):
                g.add("Gpu%dFinalNorm" % gp, "Final RMSNorm", COMPUTE, hid, hid, gp,
                      cluster=cl)
                g.add("Gpu%dLmHead" % gp, "LM Head", COMPUTE, hid, lgt, gp,
                      cluster=cl)
                g.add("Gpu%dOutput" % gp, "Output (logits)", COMPUTE, lgt, lgt, gp,
                      cluster=cl)
                g.edge(stream[r], "Gpu%dFinalNorm" % gp)
                g.edge("Gpu%dFinalNorm" % gp, "Gpu%dLmHead" % gp)
                g.edge("Gpu%dLmHead" % gp, "Gpu%dOutput" % gp)
    g.n_gpus = n_gpus
    return g


# --------------------------------------------------------------------------
# the three clean configurations
# --------------------------------------------------------------------------
def cfg1(**over):
    c = dict(name="DeepSeekStyleDpAttentionMoe",
             strategy="DP-attention 8 + EP 8 (TP 1, PP 1), 8 GPUs",
             layers=2, hidden=2048, heads=16, head_dim=128, experts=16, topk=2,
             vocab=32000, batch=64, seq=512, dense_layers=set(),
             stage_gpus=[list(range(8))], stage_layers=[(0, 1)])
    c.update(over)
    return c


def cfg2(**over):
    c = dict(name="DeepSeekStyleDpAttentionMoePipeline",
             strategy="DP-attention 4 + EP 4 per stage, PP 2 (TP 1), 8 GPUs",
             layers=4, hidden=4096, heads=32, head_dim=128, experts=8, topk=2,
             vocab=32000, batch=32, seq=1024, dense_layers=set(),
             stage_gpus=[[0, 1, 2, 3], [4, 5, 6, 7]],
             stage_layers=[(0, 1), (2, 3)])
    c.update(over)
    return c


def cfg3(**over):
    c = dict(name="DeepSeekStyleDpAttentionDenseThenMoe",
             strategy="DP-attention 4 + EP 4 (TP 1, PP 1), 4 GPUs",
             layers=3, hidden=1536, heads=12, head_dim=128, experts=16, topk=4,
             vocab=32000, batch=16, seq=256, ffn=4096, dense_layers={0},
             stage_gpus=[[0, 1, 2, 3]], stage_layers=[(0, 2)])
    c.update(over)
    return c


# --------------------------------------------------------------------------
# defects: each returns (graph, category, nodes, what)
# --------------------------------------------------------------------------
def set_strategy(g, new):
    old = g.label[0]
    g.label[0] = new
    g.comments = [c.replace(old, new) for c in g.comments]


def d_cycle():
    g = build(cfg1())
    a, c = "L0RoutedExpert5Gpu2", "L0CombineAllToAll"
    g.edge(c, a)
    return g, "structure", [a, c], (
        "Combine All-to-All of layer 0 is drawn both ways with Routed Expert 5 "
        "(expert -> combine and combine -> expert), closing a cycle.")


def d_dangling_input():
    g = build(cfg2())
    g.remove_edge("L1Gpu2AttnNorm", "L1Gpu2KProj")
    return g, "structure", ["L1Gpu2KProj"], (
        "K Proj of layer 1 on GPU 2 has no incoming edge (the edge from its RMSNorm was removed).")


def d_dangling_output():
    g = build(cfg1())
    g.remove_edge("L1Gpu5SharedExpert", "L1Gpu5MoeOutput")
    return g, "structure", ["L1Gpu5SharedExpert"], (
        "Shared Expert of layer 1 on GPU 5 has no outgoing edge: its output goes nowhere.")


def d_attention_one_box():
    g = build(cfg3())
    p = "L1Gpu2"
    n = g.nodes[p + "AttnNorm"]
    hid = n["out"]
    for op in ("QProj", "KProj", "VProj", "Scores", "Softmax", "Context", "OProj"):
        g.remove_node(p + op)
    g.insert_after(p + "AttnNorm", p + "Attention", op="Multi-Head Attention",
                   shape=COMPUTE, inp=hid, out=hid, gpu=2, gpukey="GPU",
                   cluster=n["cluster"])
    g.edge(p + "AttnNorm", p + "Attention")
    g.edge(p + "Attention", p + "AttnResidual")
    return g, "attention", [p + "Attention"], (
        "Layer 1 attention on GPU 2 is drawn as one 'Multi-Head Attention' box instead of "
        "Q/K/V projections, scores, softmax, context and output projection.")


def d_v_bypasses_softmax():
    g = build(cfg1())
    p = "L1Gpu3"
    g.remove_edge(p + "Softmax", p + "Context")
    g.edge(p + "Softmax", p + "OProj")
    o = g.nodes[p + "OProj"]
    o["inp"] = o["inp"] + ", " + g.nodes[p + "Softmax"]["out"]
    return g, "attention", [p + "VProj", p + "Softmax", p + "Context", p + "OProj"], (
        "In layer 1 on GPU 3 the Context (weighted sum) gets only V; the Softmax "
        "skips it and goes to O Proj, so V bypasses the attention probabilities.")


def d_v_into_score():
    g = build(cfg3())
    p = "L2Gpu1"
    g.remove_node(p + "KProj")
    g.edge(p + "VProj", p + "Scores")
    return g, "attention", [p + "VProj", p + "Scores"], (
        "In layer 2 on GPU 1 the K projection is gone and V Proj feeds Scores "
        "(QK^T computed as QV^T) besides the Context.")


def d_qkv_into_oproj():
    g = build(cfg3())
    p = "L1Gpu3"
    for op in ("Scores", "Softmax", "Context"):
        g.remove_node(p + op)
    for q in ("QProj", "KProj", "VProj"):
        g.edge(p + q, p + "OProj")
    return g, "attention", [p + "QProj", p + "KProj", p + "VProj", p + "OProj"], (
        "In layer 1 on GPU 3 Q, K and V go straight into O Proj: no Scores, Softmax or Context.")


def d_head_arithmetic():
    g = build(cfg2())
    p = "L2Gpu5"
    ids = []
    for op in ("QProj", "KProj", "VProj", "Scores", "Context", "OProj"):
        n = g.nodes[p + op]
        for f in ("inp", "out"):
            n[f] = n[f].replace("head_dim=128", "head_dim=64")
        ids.append(p + op)
    return g, "attention", ids, (
        "Layer 2 on GPU 5 labels its attention tensors with 32 heads x head_dim 64 = 2048, "
        "but the hidden size is 4096.")


def d_edge_shape_mismatch():
    g = build(cfg1())
    n = g.nodes["L1Gpu6SharedExpert"]
    n["inp"] = n["inp"].replace("hidden=2048", "hidden=3072")
    return g, "shape", ["L1Gpu6MoeNorm", "L1Gpu6SharedExpert"], (
        "Shared Expert of layer 1 on GPU 6 declares Input hidden=3072 while its producer "
        "RMSNorm outputs hidden=2048 (factor 1.5, no parallel degree).")


def d_stage_count():
    g = build(cfg2())
    set_strategy(g, "DP-attention 4 + EP 4 per stage, PP 3 (TP 1), 12 GPUs")
    return g, "pipeline", ["cluster_pp0", "cluster_pp1"], (
        "The strategy declares PP 3 (12 GPUs) but only two pipeline stages are drawn.")


def d_stage_range_gap():
    g = build(cfg2())
    g.clusters["cluster_pp1"] = "PP 1 (layers 3-3)"
    return g, "pipeline", ["cluster_pp0", "cluster_pp1"], (
        "Stage labels claim layers 0-1 and 3-3: layer 2 (drawn in stage 1) is covered by "
        "no stage range.")


def d_stage_missing_layer():
    g = build(cfg2(stage_layers=[(0, 1), (2, 2)], stage_labels=[(0, 1), (2, 3)]))
    return g, "pipeline", ["cluster_pp1"] + ["L2Gpu%dMoeResidual" % x for x in range(4, 8)], (
        "Stage PP 1 claims layers 2-3 (model of 4 layers) but no operator of layer 3 is "
        "drawn: layer 2 goes straight to the final norm.")


def d_no_stage_transfer():
    g = build(cfg2())
    ids = []
    for a, b in zip([0, 1, 2, 3], [4, 5, 6, 7]):
        nid = "Gpu%dToGpu%dSendRecv" % (a, b)
        ps, ss = g.preds(nid), g.succs(nid)
        g.remove_node(nid)
        for x in ps:
            for y in ss:
                g.edge(x, y)
                ids += [x, y]
    return g, "pipeline", sorted(set(ids)), (
        "Stage PP 0 and stage PP 1 are joined by plain edges (layer 1 residual on GPU r -> "
        "layer 2 on GPU r+4), without Send/Recv nodes.")


def d_experts_subset_ranks():
    g = build(cfg1(expert_gpu=lambda l, e, d: e // 4 if l == 1 else d))
    ids = [n for n in g.nodes if n.startswith("L1RoutedExpert")]
    return g, "expert", ids, (
        "Layer 1 places its 16 routed experts only on EP ranks/GPUs 0-3 (4 each); "
        "EP ranks 4-7 hold none although EP is 8.")


def d_experts_uneven():
    g = build(cfg1())
    g.replace_node("L0RoutedExpert2Gpu1", "L0RoutedExpert2Gpu0", gpu=0)
    return g, "expert", ["L0RoutedExpert2Gpu0", "L0RoutedExpert3Gpu1"], (
        "Layer 0 puts 3 routed experts (0, 1, 2) on GPU 0 and 1 (expert 3) on GPU 1 "
        "instead of 16/8 = 2 per EP rank.")


def d_no_gate():
    g = build(cfg1())
    ids = []
    for gp in range(8):
        p = "L1Gpu%d" % gp
        g.remove_node(p + "Gate")
        g.edge(p + "MoeNorm", "L1DispatchAllToAll")
        ids.append(p + "MoeNorm")
    return g, "expert", ["L1DispatchAllToAll"] + ids, (
        "Layer 1 has no gate/router: the RMSNorm output goes straight into the Dispatch "
        "All-to-All and on to the routed experts.")


def d_no_all_to_all():
    g = build(cfg1())
    g.remove_node("L0DispatchAllToAll")
    ids = []
    for nid, n in list(g.nodes.items()):
        if nid.startswith("L0RoutedExpert"):
            gate = "L0Gpu%dGate" % n["gpu"]
            g.edge(gate, nid)
            ids.append(nid)
    return g, "expert", sorted(set(["L0Gpu%dGate" % x for x in range(8)])) + ids, (
        "Layer 0 has no Dispatch All-to-All: each GPU's gate feeds only its local routed "
        "experts directly, although EP is 8.")


def d_cross_gpu_no_comm():
    g = build(cfg1())
    g.remove_edge("L0Gpu3AttnResidual", "L0Gpu3MoeNorm")
    g.edge("L0Gpu2AttnResidual", "L0Gpu3MoeNorm")
    return g, "communication", ["L0Gpu2AttnResidual", "L0Gpu3MoeNorm"], (
        "RMSNorm of layer 0 on GPU 3 reads the residual stream of GPU 2 over a plain edge, "
        "with no communication node.")


def d_comm_wrong_shape():
    g = build(cfg1())
    g.nodes["L1CombineAllToAll"]["shape"] = COMPUTE
    return g, "communication", ["L1CombineAllToAll"], (
        "The Combine All-to-All of layer 1 is drawn as a box (computation) instead of an "
        "ellipse; the style has no all-reduce, so an all-to-all stands in for it.")


def d_missing_gpu():
    g = build(cfg1())
    g.nodes["L1Gpu5Softmax"]["gpu"] = None
    return g, "gpu", ["L1Gpu5Softmax"], (
        "Softmax of layer 1 on GPU 5 has no GPU line (its id L1Gpu5Softmax, as every id of "
        "this house style, still names the GPU).")


def d_gpu_out_of_range():
    g = build(cfg1(stage_gpus=[[0, 1, 2, 3, 4, 5, 6, 8]]))
    ids = [n for n, v in g.nodes.items() if v["gpu"] == 8]
    return g, "gpu", ids, (
        "The eighth replica / EP rank is placed on GPU 8, beyond the 8 GPUs (0-7) of the strategy.")


def d_stages_share_gpus():
    g = build(cfg2(stage_gpus=[[0, 1, 2, 3], [3, 4, 5, 6]]))
    ids = [n for n, v in g.nodes.items()
           if v["gpu"] == 3 and v["cluster"] == "cluster_pp1"]
    return g, "gpu", ids, (
        "Stage PP 1 is placed on GPUs 3-6, overlapping stage PP 0 (GPUs 0-3) on GPU 3.")


def d_strategy_mismatch():
    g = build(cfg1())
    set_strategy(g, "DP-attention 8 + EP 4 (TP 1, PP 1), 8 GPUs")
    return g, "strategy", ["L0DispatchAllToAll", "L1DispatchAllToAll"], (
        "The strategy declares EP 4 but every MoE layer spreads its experts over 8 EP "
        "ranks (GPUs 0-7, 2 experts each).")


def d_missing_shapes():
    g = build(cfg2())
    n = g.nodes["L0Gpu1VProj"]
    n["inp"] = n["out"] = None
    return g, "annotation", ["L0Gpu1VProj"], (
        "V Proj of layer 0 on GPU 1 has no Input/Output shape lines.")


def d_placeholder():
    g = build(cfg3())
    n = g.nodes["L1Gpu1Softmax"]
    for f in ("inp", "out"):
        n[f] = n[f].replace("batch=4", "batch=?")
    return g, "annotation", ["L1Gpu1Softmax"], (
        "Softmax of layer 1 on GPU 1 gives its shapes with a placeholder batch=? instead of batch=4.")


def d_moe_before_attention():
    g = build(cfg3())
    ids = []
    for gp in range(4):
        p = "L2Gpu%d" % gp
        x = "L1Gpu%dMoeResidual" % gp
        nxt = "Gpu%dFinalNorm" % gp
        for a, b in ((x, p + "AttnNorm"), (x, p + "AttnResidual"),
                     (p + "AttnResidual", p + "MoeNorm"),
                     (p + "AttnResidual", p + "MoeResidual"),
                     (p + "MoeResidual", nxt)):
            g.remove_edge(a, b)
        for a, b in ((x, p + "MoeNorm"), (x, p + "MoeResidual"),
                     (p + "MoeResidual", p + "AttnNorm"),
                     (p + "MoeResidual", p + "AttnResidual"),
                     (p + "AttnResidual", nxt)):
            g.edge(a, b)
        ids += [p + "MoeNorm", p + "AttnNorm"]
    return g, "structure", ids, (
        "Layer 2 is wired MoE first: its input goes to the MoE sublayer and the MoE "
        "residual feeds the attention, on all 4 GPUs.")


def d_missing_residual():
    g = build(cfg2())
    g.remove_edge("L3Gpu6AttnResidual", "L3Gpu6MoeResidual")
    return g, "structure", ["L3Gpu6MoeResidual"], (
        "The MoE Residual Add of layer 3 on GPU 6 gets only the MoE output; the skip edge "
        "from the attention residual stream was removed.")


DEFECTS = [
    ("cycle", d_cycle),
    ("dangling_input", d_dangling_input),
    ("dangling_output", d_dangling_output),
    ("attention_one_box", d_attention_one_box),
    ("v_bypasses_softmax", d_v_bypasses_softmax),
    ("v_into_score", d_v_into_score),
    ("qkv_into_oproj", d_qkv_into_oproj),
    ("head_arithmetic", d_head_arithmetic),
    ("edge_shape_mismatch", d_edge_shape_mismatch),
    ("stage_count", d_stage_count),
    ("stage_range_gap", d_stage_range_gap),
    ("stage_missing_layer", d_stage_missing_layer),
    ("no_stage_transfer", d_no_stage_transfer),
    ("experts_subset_ranks", d_experts_subset_ranks),
    ("experts_uneven", d_experts_uneven),
    ("no_gate", d_no_gate),
    ("no_all_to_all", d_no_all_to_all),
    ("cross_gpu_no_comm", d_cross_gpu_no_comm),
    ("comm_wrong_shape", d_comm_wrong_shape),
    ("missing_gpu", d_missing_gpu),
    ("gpu_out_of_range", d_gpu_out_of_range),
    ("stages_share_gpus", d_stages_share_gpus),
    ("strategy_mismatch", d_strategy_mismatch),
    ("missing_shapes", d_missing_shapes),
    ("placeholder", d_placeholder),
    ("moe_before_attention", d_moe_before_attention),
    ("missing_residual", d_missing_residual),
]

SKIPPED = [
    ("tp_heads", "attention",
     "Cannot exist in this style: attention is data-parallel with TP 1, every GPU "
     "legitimately holds all heads, so there is no TP rank that could hold heads/TP."),
    ("shard_without_gather", "shape",
     "Cannot exist in this style: with TP 1 no hidden/TP shard is ever produced "
     "(attention, shared expert, routed experts and LM head all work on the full hidden size)."),
    ("tp_rank_missing", "tensor",
     "Cannot exist in this style: there are no tensor-parallel operators (TP 1)."),
    ("no_allreduce_after_rowparallel", "tensor",
     "Cannot exist in this style: with TP 1 the O Proj and expert down projections are "
     "not row-parallel and need no all-reduce."),
    ("experts_share_gpu", "expert",
     "Cannot be expressed in this style: the EP rank of a routed expert IS its GPU "
     "(EP = number of GPUs of the stage, one rank per GPU, no separate rank label), "
     "so two experts on one GPU are by definition on the same EP rank; moving an "
     "expert would be experts_uneven, swapping two would be a legal placement."),
]

CLEAN = [
    ("clean_1.dot", cfg1,
     "DP-attention 8 + EP 8 (TP 1, PP 1), 8 GPUs: 2 MoE layers, hidden 2048, 16 routed "
     "experts top-2 (2 per GPU) + shared expert on every GPU."),
    ("clean_2.dot", cfg2,
     "DP-attention 4 + EP 4 per stage, PP 2 (TP 1), 8 GPUs: 4 MoE layers in 2 stages "
     "(GPUs 0-3 layers 0-1, GPUs 4-7 layers 2-3) joined by 4 Send/Recv nodes, hidden "
     "4096, 8 routed experts top-2 (2 per GPU)."),
    ("clean_3.dot", cfg3,
     "DP-attention 4 + EP 4 (TP 1, PP 1), 4 GPUs: layer 0 dense (replicated SwiGLU "
     "MLP), layers 1-2 MoE with 16 routed experts top-4 (4 per GPU), hidden 1536."),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    manifest = []
    for fname, cfg, what in CLEAN:
        g = build(cfg())
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.to_dot())
        manifest.append(dict(file=fname, kind="clean", category=None, nodes=[],
                             what=what))
    for kind, fn in DEFECTS:
        g, cat, nodes, what = fn()
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.to_dot())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what))
    for kind, cat, why in SKIPPED:
        manifest.append(dict(file=None, kind=kind, category=cat, nodes=[],
                             what="SKIPPED. " + why, skipped=True))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    print("wrote %d DOT files + manifest.json to %s" % (
        len(CLEAN) + len(DEFECTS), OUT))


if __name__ == "__main__":
    main()
