#!/usr/bin/env python3
"""Generator of deployment DAGs in "house style L" (slide-deck export style).

Writes into ./out (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot  -- correct DAGs
  defect_<kind>.dot                      -- one clean DAG with exactly one injected defect
  manifest.json

Style: ids like S0_L1_ATTN_QPROJ_G3 (S = pipeline stage, L = layer, G = GPU),
labels "Title: <op>\\nLayer: 1\\nGPU: 3\\nIn: 8x1024x4096\\nOut: 8x1024x512",
strategy in graph attribute comment="EP4 TP2 PP2 DP1", stage clusters labelled
"Pipeline Stage 0 — Layers 0 to 1 — GPUs 0-7".

GPU layout: each pipeline stage holds EP*TP GPUs; gpu = stage_base + ep*TP + tp.
Attention is tensor-parallel inside each EP group (the EP groups run attention
on disjoint slices of the batch, B/EP each); the MoE experts are spread over
the EP ranks (E/EP per rank, and within a rank over its TP GPUs).
Stdlib only.
"""
import copy
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


# ----------------------------------------------------------------------------
# small graph model
# ----------------------------------------------------------------------------
def shp(*dims):
    return "x".join(str(d) for d in dims)


def gpu_spec(gpus):
    if gpus is None:
        return None
    gpus = sorted(set(gpus))
    if len(gpus) == 1:
        return str(gpus[0])
    if gpus == list(range(gpus[0], gpus[-1] + 1)):
        return "%d-%d" % (gpus[0], gpus[-1])
    return ",".join(str(g) for g in gpus)


class Graph:
    def __init__(self, name, comment):
        self.name = name
        self.comment = comment
        self.nodes = {}      # id -> dict
        self.order = []      # insertion order of ids
        self.edges = []      # [src, dst, attrs]
        self.clusters = {}   # stage -> label

    def node(self, nid, shape, title, layer=None, gpus=None, ins=None, out=None,
             extras=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, title=title, layer=layer,
                               gpus=list(gpus) if gpus is not None else None,
                               ins=list(ins or []), out=out,
                               extras=list(extras or []), cluster=cluster)
        self.order.append(nid)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes, a
        assert b in self.nodes, b
        self.edges.append([a, b, attrs])

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def remove_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def rename(self, old, new):
        assert old in self.nodes and new not in self.nodes, (old, new)
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # -- rendering -------------------------------------------------------
    def label(self, nid):
        n = self.nodes[nid]
        lines = ["Title: %s" % n["title"]]
        if n["layer"] is not None:
            lines.append("Layer: %d" % n["layer"])
        if n["gpus"] is not None:
            lines.append("GPU: %s" % gpu_spec(n["gpus"]))
        for k, v in n["extras"]:
            lines.append("%s: %s" % (k, v))
        if n["ins"]:
            lines.append("In: %s" % ", ".join(n["ins"]))
        if n["out"]:
            lines.append("Out: %s" % n["out"])
        return "\\n".join(lines)

    def node_line(self, nid, indent):
        n = self.nodes[nid]
        attrs = ['shape=%s' % n["shape"], 'label="%s"' % self.label(nid)]
        if n["shape"] == "ellipse":
            attrs.append('fillcolor="#fde9c9"')
        elif n["shape"] == "parallelogram":
            attrs.append('fillcolor="#dcefd9"')
        else:
            attrs.append('fillcolor="#dbe7f7"')
        return "%s%s [%s];" % (indent, nid, ", ".join(attrs))

    def render(self):
        out = ['digraph "%s" {' % self.name,
               '  comment="%s";' % self.comment,
               '  rankdir=TB;',
               '  compound=true;',
               '  fontname="Helvetica";',
               '  node [style=filled, fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=9];',
               '']
        for st in sorted(self.clusters):
            members = [i for i in self.order if self.nodes[i]["cluster"] == st]
            out.append('  subgraph cluster_stage%d {' % st)
            out.append('    label="%s";' % self.clusters[st])
            out.append('    style=rounded;')
            out.append('    color="#7f7f7f";')
            for nid in members:
                out.append(self.node_line(nid, "    "))
            out.append('  }')
            out.append('')
        for nid in self.order:
            if self.nodes[nid]["cluster"] is None:
                out.append(self.node_line(nid, "  "))
        out.append('')
        for a, b, attrs in self.edges:
            if attrs:
                s = ", ".join('%s=%s' % (k, v) for k, v in sorted(attrs.items()))
                out.append('  %s -> %s [%s];' % (a, b, s))
            else:
                out.append('  %s -> %s;' % (a, b))
        out.append('}')
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------
# configurations
# ----------------------------------------------------------------------------
CFG1 = dict(name="moe_ep2_tp2_pp2", EP=2, TP=2, PP=2, DP=1, L=4, H=2048, NH=16,
            HD=128, E=8, TOPK=2, F=None, B=4, S=512, V=32000)
CFG2 = dict(name="moe_ep4_tp2_pp1", EP=4, TP=2, PP=1, DP=1, L=2, H=1024, NH=8,
            HD=128, E=8, TOPK=2, F=None, B=8, S=4096, V=32000)
CFG3 = dict(name="dense_tp4_pp2", EP=1, TP=4, PP=2, DP=1, L=4, H=4096, NH=32,
            HD=128, E=0, TOPK=0, F=11008, B=4, S=2048, V=32000)


def strategy_str(c):
    return "EP%d TP%d PP%d DP%d" % (c["EP"], c["TP"], c["PP"], c["DP"])


class Layout:
    def __init__(self, c, stage_base=None):
        self.c = c
        self.per_stage = c["EP"] * c["TP"]
        self.stage_base = stage_base or [s * self.per_stage for s in range(c["PP"])]
        lps = c["L"] // c["PP"]
        assert lps * c["PP"] == c["L"]
        self.stage_layers = [list(range(s * lps, (s + 1) * lps)) for s in range(c["PP"])]

    def gpu(self, s, ep, tp):
        return self.stage_base[s] + ep * self.c["TP"] + tp

    def stage_gpus(self, s):
        return [self.stage_base[s] + i for i in range(self.per_stage)]

    def group_gpus(self, s, ep):
        return [self.gpu(s, ep, t) for t in range(self.c["TP"])]

    def stage_of(self, l):
        for s, ls in enumerate(self.stage_layers):
            if l in ls:
                return s
        raise KeyError(l)


def gtag(gpus):
    gpus = sorted(gpus)
    if len(gpus) == 1:
        return "G%d" % gpus[0]
    return "G%dTO%d" % (gpus[0], gpus[-1])


def expert_home(c, lay, s, e):
    """EP rank and GPU of expert e in a clean layout."""
    per_rank = c["E"] // c["EP"]
    r = e // per_rank
    per_gpu = per_rank // c["TP"] if per_rank >= c["TP"] else 1
    t = (e % per_rank) // per_gpu
    return r, lay.gpu(s, r, t)


# ----------------------------------------------------------------------------
# builder
# ----------------------------------------------------------------------------
def build(c, opts=None):
    """opts (all optional):
      moe_first_layer: layer whose MoE block is wired before its attention
      hd_override: {layer: head_dim} (labels claim that head dim for the layer)
      heads_override: {(layer, gpu): heads_on_that_rank}
      stage_base: [gpu base of each stage]
      comment: strategy string override
      stage_label_ranges: {stage: (first, last)} override of the label text
      expert_place: {(layer, e): (ep_rank, gpu)}
    """
    o = opts or {}
    lay = Layout(c, o.get("stage_base"))
    EP, TP, H, NH, B, S, V = c["EP"], c["TP"], c["H"], c["NH"], c["B"], c["S"], c["V"]
    b = B // EP                     # batch slice of one EP group (attention)
    moe = c["E"] > 0
    g = Graph(c["name"], o.get("comment", strategy_str(c)))

    for s in range(c["PP"]):
        first, last = o.get("stage_label_ranges", {}).get(
            s, (lay.stage_layers[s][0], lay.stage_layers[s][-1]))
        sg = lay.stage_gpus(s)
        g.clusters[s] = "Pipeline Stage %d \u2014 Layers %d to %d \u2014 GPUs %d-%d" % (
            s, first, last, sg[0], sg[-1])

    # ---------------- input + embedding
    s0 = 0
    inp = g.node("S0_INPUT_TOKENS", "box", "Input Token IDs", gpus=lay.stage_gpus(0),
                 ins=[shp(B, S)], out=shp(B, S), cluster=0)
    if EP > 1:
        sc = g.node("S0_SCATTER_TOKENS_" + gtag(lay.stage_gpus(0)), "ellipse",
                    "Scatter Tokens", gpus=lay.stage_gpus(0), ins=[shp(B, S)],
                    out=shp(b, S), extras=[("Split", "batch over %d EP groups" % EP)],
                    cluster=0)
    else:
        sc = g.node("S0_BCAST_TOKENS_" + gtag(lay.stage_gpus(0)), "ellipse",
                    "Broadcast Tokens", gpus=lay.stage_gpus(0), ins=[shp(B, S)],
                    out=shp(B, S), cluster=0)
    g.edge(inp, sc)
    stream = {}
    for r in range(EP):
        for t in range(TP):
            gg = lay.gpu(0, r, t)
            e = g.node("S0_EMBED_G%d" % gg, "box", "Token Embedding", gpus=[gg],
                       extras=[("Vocab", str(V))], ins=[shp(b, S)], out=shp(b, S, H),
                       cluster=0)
            g.edge(sc, e)
            stream[(r, t)] = e

    # ---------------- layers
    for l in range(c["L"]):
        s = lay.stage_of(l)
        if l > 0 and lay.stage_of(l - 1) != s:
            # pipeline transfer, one send/recv per GPU, outside the clusters
            for r in range(EP):
                for t in range(TP):
                    ga, gb = lay.gpu(s - 1, r, t), lay.gpu(s, r, t)
                    sr = g.node("S%d_S%d_SENDRECV_G%d_G%d" % (s - 1, s, ga, gb), "ellipse",
                                "Pipeline Send Recv", layer=l - 1, gpus=[ga, gb],
                                extras=[("Route", "GPU %d to GPU %d" % (ga, gb))],
                                ins=[shp(b, S, H)], out=shp(b, S, H))
                    g.edge(stream[(r, t)], sr)
                    stream[(r, t)] = sr
        if l == o.get("moe_first_layer"):
            stream = ffn_block(g, c, lay, o, s, l, stream)
            stream = attn_block(g, c, lay, o, s, l, stream)
        else:
            stream = attn_block(g, c, lay, o, s, l, stream)
            stream = ffn_block(g, c, lay, o, s, l, stream)

    # ---------------- final norm, LM head, output
    s = c["PP"] - 1
    gathers = []
    for r in range(EP):
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            fn = g.node("S%d_FINAL_NORM_G%d" % (s, gg), "box", "Final Layer Norm",
                        gpus=[gg], ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(stream[(r, t)], fn)
            lm = g.node("S%d_LMHEAD_G%d" % (s, gg), "box", "LM Head", gpus=[gg],
                        extras=[("Vocab Parallel", "rows %d-%d of %d" % (
                            t * V // TP, (t + 1) * V // TP - 1, V))],
                        ins=[shp(b, S, H)], out=shp(b, S, V // TP), cluster=s)
            g.edge(fn, lm)
        grp = lay.group_gpus(s, r)
        ag = g.node("S%d_LOGITS_ALLGATHER_%s" % (s, gtag(grp)), "ellipse", "All Gather",
                    gpus=grp, extras=[("Group", "TP%d-TP%d" % (0, TP - 1))],
                    ins=[shp(b, S, V // TP)], out=shp(b, S, V), cluster=s)
        for t in range(TP):
            g.edge("S%d_LMHEAD_G%d" % (s, lay.gpu(s, r, t)), ag)
        gathers.append(ag)
    last = lay.stage_gpus(s)
    outn = g.node("S%d_OUTPUT_LOGITS" % s, "box", "Output Logits", gpus=last,
                  ins=[shp(B, S, V)], out=shp(B, S, V), cluster=s)
    if EP > 1:
        gb_ = g.node("S%d_GATHER_BATCH_%s" % (s, gtag(last)), "ellipse", "Gather Batch",
                     gpus=last, ins=[shp(b, S, V)], out=shp(B, S, V), cluster=s)
        for ag in gathers:
            g.edge(ag, gb_)
        g.edge(gb_, outn)
    else:
        g.edge(gathers[0], outn)
    return g, lay


def attn_block(g, c, lay, o, s, l, stream):
    EP, TP, H, NH, B, S = c["EP"], c["TP"], c["H"], c["NH"], c["B"], c["S"]
    b = B // EP
    hd = o.get("hd_override", {}).get(l, c["HD"])
    P = "S%d_L%d_ATTN_" % (s, l)
    new = {}
    for r in range(EP):
        grp = lay.group_gpus(s, r)
        ar = g.node(P + "ALLREDUCE_" + gtag(grp), "ellipse", "All Reduce", layer=l,
                    gpus=grp, extras=[("Group", "TP0-TP%d" % (TP - 1))],
                    ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            nh = o.get("heads_override", {}).get((l, gg), NH // TP)
            G = "_G%d" % gg
            tpx = ("TP Rank", "%d of %d" % (t, TP))
            heads = [("Heads", "%d of %d" % (nh, NH)), ("Head Dim", str(hd))]
            qkv_out = shp(b, S, nh, hd)
            norm = g.node(P + "NORM" + G, "box", "Layer Norm", l, [gg],
                          ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(stream[(r, t)], norm)
            q = g.node(P + "QPROJ" + G, "box", "Query Projection", l, [gg],
                       extras=[tpx, ("Parallel", "column")] + heads,
                       ins=[shp(b, S, H)], out=qkv_out, cluster=s)
            k = g.node(P + "KPROJ" + G, "box", "Key Projection", l, [gg],
                       extras=[tpx, ("Parallel", "column")] + heads,
                       ins=[shp(b, S, H)], out=qkv_out, cluster=s)
            v = g.node(P + "VPROJ" + G, "box", "Value Projection", l, [gg],
                       extras=[tpx, ("Parallel", "column")] + heads,
                       ins=[shp(b, S, H)], out=qkv_out, cluster=s)
            for x in (q, k, v):
                g.edge(norm, x)
            sc = g.node(P + "SCORE" + G, "box", "Scaled Dot-Product", l, [gg],
                        extras=[tpx, heads[0]], ins=[qkv_out, qkv_out],
                        out=shp(b, nh, S, S), cluster=s)
            g.edge(q, sc)
            g.edge(k, sc)
            sm = g.node(P + "SOFTMAX" + G, "box", "Softmax", l, [gg],
                        extras=[tpx, heads[0]], ins=[shp(b, nh, S, S)],
                        out=shp(b, nh, S, S), cluster=s)
            g.edge(sc, sm)
            ws = g.node(P + "WSUM" + G, "box", "Weighted Sum With Values", l, [gg],
                        extras=[tpx, heads[0]], ins=[shp(b, nh, S, S), qkv_out],
                        out=shp(b, S, nh * hd), cluster=s)
            g.edge(sm, ws)
            g.edge(v, ws)
            op = g.node(P + "OPROJ" + G, "box", "Output Projection", l, [gg],
                        extras=[tpx, ("Parallel", "row (partial sum)")],
                        ins=[shp(b, S, nh * hd)], out=shp(b, S, H), cluster=s)
            g.edge(ws, op)
            g.edge(op, ar)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            ra = g.node(P + "RESADD_G%d" % gg, "box", "Residual Add", l, [gg],
                        ins=[shp(b, S, H), shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(ar, ra)
            g.edge(stream[(r, t)], ra)
            new[(r, t)] = ra
    return new


def ffn_block(g, c, lay, o, s, l, stream):
    if c["E"] > 0:
        return moe_block(g, c, lay, o, s, l, stream)
    return mlp_block(g, c, lay, o, s, l, stream)


def mlp_block(g, c, lay, o, s, l, stream):
    EP, TP, H, B, S, F = c["EP"], c["TP"], c["H"], c["B"], c["S"], c["F"]
    b = B // EP
    P = "S%d_L%d_MLP_" % (s, l)
    new = {}
    for r in range(EP):
        grp = lay.group_gpus(s, r)
        ar = g.node(P + "ALLREDUCE_" + gtag(grp), "ellipse", "All Reduce", layer=l,
                    gpus=grp, extras=[("Group", "TP0-TP%d" % (TP - 1))],
                    ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            G = "_G%d" % gg
            tpx = ("TP Rank", "%d of %d" % (t, TP))
            norm = g.node(P + "NORM" + G, "box", "Layer Norm", l, [gg],
                          ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(stream[(r, t)], norm)
            up = g.node(P + "UPPROJ" + G, "box", "Up Projection", l, [gg],
                        extras=[tpx, ("Parallel", "column")],
                        ins=[shp(b, S, H)], out=shp(b, S, F // TP), cluster=s)
            g.edge(norm, up)
            act = g.node(P + "GELU" + G, "box", "GELU Activation", l, [gg], extras=[tpx],
                         ins=[shp(b, S, F // TP)], out=shp(b, S, F // TP), cluster=s)
            g.edge(up, act)
            dn = g.node(P + "DOWNPROJ" + G, "box", "Down Projection", l, [gg],
                        extras=[tpx, ("Parallel", "row (partial sum)")],
                        ins=[shp(b, S, F // TP)], out=shp(b, S, H), cluster=s)
            g.edge(act, dn)
            g.edge(dn, ar)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            ra = g.node(P + "RESADD_G%d" % gg, "box", "Residual Add", l, [gg],
                        ins=[shp(b, S, H), shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(ar, ra)
            g.edge(stream[(r, t)], ra)
            new[(r, t)] = ra
    return new


def moe_block(g, c, lay, o, s, l, stream):
    EP, TP, H, B, S, E, K = c["EP"], c["TP"], c["H"], c["B"], c["S"], c["E"], c["TOPK"]
    b = B // EP
    sl = S // TP                    # tokens of one TP rank after the sequence split
    tpe = B * S * K // E            # tokens per expert (balanced routing)
    P = "S%d_L%d_MOE_" % (s, l)
    sg = lay.stage_gpus(s)
    disp = g.node(P + "DISPATCH_A2A_" + gtag(sg), "ellipse", "All To All Dispatch",
                  layer=l, gpus=sg, extras=[("Group", "EP0-EP%d" % (EP - 1))],
                  ins=[shp(b, sl, H)], out=shp(tpe, H), cluster=s)
    comb = g.node(P + "COMBINE_A2A_" + gtag(sg), "ellipse", "All To All Combine",
                  layer=l, gpus=sg, extras=[("Group", "EP0-EP%d" % (EP - 1))],
                  ins=[shp(tpe, H)], out=shp(b, sl, H), cluster=s)
    for e in range(E):
        r, gg = o.get("expert_place", {}).get((l, e), expert_home(c, lay, s, e))
        x = g.node(P + "EXPERT%d_EP%d_G%d" % (e, r, gg), "box", "Expert %d" % e, l, [gg],
                   extras=[("EP Rank", "%d of %d" % (r, EP)),
                           ("FFN", "%d -> %d -> %d" % (H, 4 * H, H))],
                   ins=[shp(tpe, H)], out=shp(tpe, H), cluster=s)
        g.edge(disp, x)
        g.edge(x, comb)
    new = {}
    for r in range(EP):
        grp = lay.group_gpus(s, r)
        ag = g.node(P + "ALLGATHER_" + gtag(grp), "ellipse", "All Gather", layer=l,
                    gpus=grp, extras=[("Group", "TP0-TP%d" % (TP - 1))],
                    ins=[shp(b, sl, H)], out=shp(b, S, H), cluster=s)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            G = "_G%d" % gg
            norm = g.node(P + "NORM" + G, "box", "Layer Norm", l, [gg],
                          ins=[shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(stream[(r, t)], norm)
            sp = g.node(P + "SEQSPLIT" + G, "parallelogram", "Sequence Split", l, [gg],
                        extras=[("Keep", "tokens %d-%d" % (t * sl, (t + 1) * sl - 1))],
                        ins=[shp(b, S, H)], out=shp(b, sl, H), cluster=s)
            g.edge(norm, sp)
            gate = g.node(P + "GATE" + G, "parallelogram", "MoE Gate", l, [gg],
                          extras=[("Routing", "Top-%d of %d experts" % (K, E))],
                          ins=[shp(b, sl, H)], out=shp(b, sl, H), cluster=s)
            g.edge(sp, gate)
            g.edge(gate, disp, style="dashed")
            mix = g.node(P + "MIX" + G, "parallelogram", "Expert Mixing", l, [gg],
                         extras=[("Weights", "top-%d gate probabilities" % K)],
                         ins=[shp(b, sl, H)], out=shp(b, sl, H), cluster=s)
            g.edge(comb, mix)
            g.edge(mix, ag)
        for t in range(TP):
            gg = lay.gpu(s, r, t)
            ra = g.node(P + "RESADD_G%d" % gg, "box", "Residual Add", l, [gg],
                        ins=[shp(b, S, H), shp(b, S, H)], out=shp(b, S, H), cluster=s)
            g.edge(ag, ra)
            g.edge(stream[(r, t)], ra)
            new[(r, t)] = ra
    return new


# ----------------------------------------------------------------------------
# self check of clean graphs (independent, just for the generator author)
# ----------------------------------------------------------------------------
def self_check(g):
    problems = []
    ids = set(g.nodes)
    indeg = {i: 0 for i in ids}
    outdeg = {i: 0 for i in ids}
    for a, b, _ in g.edges:
        indeg[b] += 1
        outdeg[a] += 1
    for i in ids:
        n = g.nodes[i]
        if indeg[i] == 0 and "INPUT" not in i:
            problems.append("no incoming: " + i)
        if outdeg[i] == 0 and "OUTPUT" not in i:
            problems.append("no outgoing: " + i)
        if n["shape"] != "ellipse" and (n["gpus"] is None or not n["ins"] or not n["out"]):
            problems.append("unannotated: " + i)
    for a, b, _ in g.edges:
        na, nb = g.nodes[a], g.nodes[b]
        if na["shape"] != "ellipse" and nb["shape"] != "ellipse":
            if sorted(na["gpus"] or []) != sorted(nb["gpus"] or []):
                problems.append("cross-gpu edge %s -> %s" % (a, b))
        if nb["shape"] == "box" and na["out"] not in nb["ins"]:
            problems.append("shape %s (%s) -> %s (%s)" % (a, na["out"], b, nb["ins"]))
        if nb["shape"] == "parallelogram" and na["shape"] == "box" and na["out"] not in nb["ins"]:
            problems.append("shape %s (%s) -> %s (%s)" % (a, na["out"], b, nb["ins"]))
    # acyclic
    import collections
    q = collections.deque(i for i in ids if indeg[i] == 0)
    d = dict(indeg)
    seen = 0
    succ = collections.defaultdict(list)
    for a, b, _ in g.edges:
        succ[a].append(b)
    while q:
        x = q.popleft()
        seen += 1
        for y in succ[x]:
            d[y] -= 1
            if d[y] == 0:
                q.append(y)
    if seen != len(ids):
        problems.append("cycle")
    return problems


# ----------------------------------------------------------------------------
# defects: each returns (graph, nodes, what); exactly one defect per file
# ----------------------------------------------------------------------------
def n_(g, nid):
    assert nid in g.nodes, nid
    return g.nodes[nid]


def d_cycle():
    g, lay = build(CFG2)
    x, d = "S0_L1_MOE_EXPERT3_EP1_G3", "S0_L1_MOE_DISPATCH_A2A_G0TO7"
    g.edge(x, d)
    return g, [x, d], ("Layer 1 Expert 3 is wired back into the All To All Dispatch that feeds it "
                       "(dispatch -> expert -> dispatch), a cycle through a communication node.")


def d_dangling_input():
    g, lay = build(CFG3)
    k = "S0_L1_ATTN_KPROJ_G1"
    g.remove_edge("S0_L1_ATTN_NORM_G1", k)
    return g, [k], "Layer 1 Key Projection on GPU 1 has no incoming edge (its Layer Norm input edge is missing)."


def d_dangling_output():
    g, lay = build(CFG3)
    src = "S0_L1_ATTN_RESADD_G2"
    x = g.node("S0_L1_MLP_NORM_EXTRA_G2", "box", "Layer Norm", 1, [2],
               ins=[n_(g, src)["out"]], out=n_(g, src)["out"], cluster=0)
    g.edge(src, x)
    return g, [x], ("An extra Layer Norm in layer 1 on GPU 2 takes the residual stream but its output "
                    "goes nowhere.")


def d_attention_one_box():
    g, lay = build(CFG2)
    c = CFG2
    ids = []
    for gg in range(8):
        P = "S0_L0_ATTN_"
        t = gg % 2
        mha_in = n_(g, P + "NORM_G%d" % gg)["out"]
        mha_out = n_(g, P + "WSUM_G%d" % gg)["out"]
        for part in ("QPROJ", "KPROJ", "VPROJ", "SCORE", "SOFTMAX", "WSUM"):
            g.remove_node(P + part + "_G%d" % gg)
        m = g.node(P + "MHA_G%d" % gg, "box", "Multi-Head Attention", 0, [gg],
                   extras=[("TP Rank", "%d of 2" % t), ("Heads", "4 of 8"), ("Head Dim", "128")],
                   ins=[mha_in], out=mha_out, cluster=0)
        g.edge(P + "NORM_G%d" % gg, m)
        g.edge(m, P + "OPROJ_G%d" % gg)
        ids.append(m)
    return g, ids, ("Layer 0 attention is drawn as one 'Multi-Head Attention' box per TP rank instead of "
                    "Q/K/V projections, score, softmax and weighted sum.")


def d_v_bypasses_softmax():
    g, lay = build(CFG3)
    P = "S0_L0_ATTN_"
    sm, ws, op = P + "SOFTMAX_G1", P + "WSUM_G1", P + "OPROJ_G1"
    g.remove_edge(sm, ws)
    n_(g, ws)["ins"] = [n_(g, P + "VPROJ_G1")["out"]]
    g.edge(sm, op)
    n_(g, op)["ins"] = n_(g, op)["ins"] + [n_(g, sm)["out"]]
    return g, [sm, ws, P + "VPROJ_G1"], ("Layer 0 GPU 1: V feeds the Weighted Sum With Values but the "
                                          "Softmax does not (it is wired to the Output Projection instead).")


def d_v_into_score():
    g, lay = build(CFG3)
    ids = []
    for gg in range(4):
        P = "S0_L1_ATTN_"
        g.remove_node(P + "KPROJ_G%d" % gg)
        g.edge(P + "VPROJ_G%d" % gg, P + "SCORE_G%d" % gg)
        ids += [P + "VPROJ_G%d" % gg, P + "SCORE_G%d" % gg]
    return g, ids, ("Layer 1: the Value Projection is wired into the Scaled Dot-Product in place of the "
                    "Key Projection (no K is drawn) on every TP rank.")


def d_qkv_into_oproj():
    g, lay = build(CFG3)
    ids = []
    for gg in range(4):
        P = "S0_L1_ATTN_"
        for part in ("SCORE", "SOFTMAX", "WSUM"):
            g.remove_node(P + part + "_G%d" % gg)
        op = P + "OPROJ_G%d" % gg
        for part in ("QPROJ", "KPROJ", "VPROJ"):
            g.edge(P + part + "_G%d" % gg, op)
        n_(g, op)["ins"] = [n_(g, P + "QPROJ_G%d" % gg)["out"]] * 3
        ids.append(op)
    return g, ids, ("Layer 1: Q, K and V projections go straight into the Output Projection; no score, "
                    "softmax or weighted sum is drawn.")


def d_head_arithmetic():
    g, lay = build(CFG3, dict(hd_override={2: 96}))
    ids = ["S1_L2_ATTN_%s_G%d" % (p, gg) for gg in range(4, 8) for p in ("QPROJ", "KPROJ", "VPROJ")]
    return g, ids, ("Layer 2 labels claim 32 heads of head dim 96 (8 per TP rank), but 32 x 96 = 3072 "
                    "!= hidden 4096.")


def d_tp_heads():
    g, lay = build(CFG2, dict(heads_override={(1, 5): 8}))
    ids = ["S0_L1_ATTN_%s_G5" % p for p in ("QPROJ", "KPROJ", "VPROJ")]
    return g, ids, ("Layer 1 TP rank 1 of EP group 2 (GPU 5) projects all 8 heads (8x128 = 1024) instead "
                    "of heads/TP = 4.")


def d_edge_shape_mismatch():
    g, lay = build(CFG3)
    x = "S0_L1_MLP_NORM_G2"
    n_(g, x)["ins"] = ["4x2048x3072"]
    return g, [x, "S0_L1_ATTN_RESADD_G2"], ("Layer 1 MLP Layer Norm on GPU 2 declares In 4x2048x3072 while "
                                            "its producer Residual Add outputs 4x2048x4096.")


def d_shard_without_gather():
    g, lay = build(CFG3)
    P = "S1_L3_ATTN_"
    g.remove_node(P + "ALLREDUCE_G4TO7")
    ids = []
    for gg in range(4, 8):
        op, ra = P + "OPROJ_G%d" % gg, P + "RESADD_G%d" % gg
        n_(g, op)["out"] = n_(g, P + "WSUM_G%d" % gg)["out"]
        g.edge(op, ra)
        ids += [op, ra]
    return g, ids, ("Layer 3: each rank's Output Projection emits a hidden/TP shard 4x2048x1024 (4096/TP4) "
                    "that goes straight into the full-size Residual Add (In 4x2048x4096) with no "
                    "all-gather or all-reduce.")


def d_stage_count():
    g, lay = build(CFG3, dict(comment="EP1 TP4 PP4 DP1"))
    return g, [], "The comment declares PP4 but only 2 pipeline stages are drawn."


def d_stage_range_gap():
    g, lay = build(CFG1, dict(stage_label_ranges={1: (3, 3)}))
    return g, ["S1_L2_ATTN_NORM_G4"], ("Stage ranges are 'Layers 0 to 1' and 'Layers 3 to 3': layer 2 "
                                      "(drawn in stage 1) is covered by no stage range.")


def d_stage_missing_layer():
    g, lay = build(CFG1, dict(stage_label_ranges={1: (2, 4)}))
    return g, [], ("Stage 1 claims 'Layers 2 to 4' but no operator of layer 4 is drawn.")


def d_no_stage_transfer():
    g, lay = build(CFG1)
    ids = []
    for ga in range(4):
        gb = ga + 4
        sr = "S0_S1_SENDRECV_G%d_G%d" % (ga, gb)
        src = "S0_L1_MOE_RESADD_G%d" % ga
        g.remove_node(sr)
        g.edge(src, "S1_L2_ATTN_NORM_G%d" % gb)
        g.edge(src, "S1_L2_ATTN_RESADD_G%d" % gb)
        ids.append(src)
    return g, ids, ("Stage 0 is joined to stage 1 by plain edges from layer 1's residual adds (GPUs 0-3) "
                    "into layer 2 (GPUs 4-7), with no send/recv node.")


def d_experts_subset_ranks():
    c = CFG2
    place = {(0, e): (e // 4, e // 2) for e in range(8)}
    g, lay = build(c, dict(expert_place=place))
    ids = [i for i in g.nodes if i.startswith("S0_L0_MOE_EXPERT")]
    return g, ids, ("Layer 0 places all 8 experts on EP ranks 0 and 1 (GPUs 0-3); EP ranks 2 and 3 hold "
                    "none.")


def d_experts_uneven():
    place = {(1, 2): (0, 1), (1, 6): (2, 5)}
    g, lay = build(CFG2, dict(expert_place=place))
    return g, ["S0_L1_MOE_EXPERT2_EP0_G1", "S0_L1_MOE_EXPERT6_EP2_G5"], (
        "Layer 1 experts are split 3/1/3/1 over EP ranks 0-3 instead of 2 per rank.")


def d_experts_share_gpu():
    g, lay = build(CFG1, dict(expert_place={(1, 4): (1, 1)}))
    return g, ["S0_L1_MOE_EXPERT4_EP1_G1", "S0_L1_MOE_EXPERT2_EP0_G1"], (
        "Layer 1 Expert 4 of EP rank 1 is placed on GPU 1, which holds EP rank 0's experts 2 and 3.")


def d_no_gate():
    g, lay = build(CFG1)
    ids = []
    for gg in range(4):
        P = "S0_L0_MOE_"
        g.remove_node(P + "GATE_G%d" % gg)
        g.edge(P + "SEQSPLIT_G%d" % gg, P + "DISPATCH_A2A_G0TO3")
    ids.append("S0_L0_MOE_DISPATCH_A2A_G0TO3")
    return g, ids, "Layer 0 has no MoE gate/router: tokens go from the sequence split straight to dispatch."


def d_no_all_to_all():
    g, lay = build(CFG2)
    P = "S0_L0_MOE_"
    g.remove_node(P + "DISPATCH_A2A_G0TO7")
    ids = []
    for e in range(8):
        r, gg = e // 2, e
        x = P + "EXPERT%d_EP%d_G%d" % (e, r, gg)
        g.edge(P + "GATE_G%d" % gg, x)
        n_(g, x)["ins"] = [n_(g, P + "GATE_G%d" % gg)["out"]]
        n_(g, x)["out"] = n_(g, P + "GATE_G%d" % gg)["out"]
        ids.append(x)
    return g, ids, ("Layer 0 has no All To All Dispatch: each GPU's gate feeds its local expert directly "
                    "although EP=4.")


def d_tp_rank_missing():
    g, lay = build(CFG3)
    x = "S1_LMHEAD_G7"
    g.remove_node(x)
    return g, ["S1_FINAL_NORM_G7", "S1_LOGITS_ALLGATHER_G4TO7"], (
        "The vocab-parallel LM Head is drawn for TP ranks 0-2 only; rank 3 (GPU 7) has none, so the "
        "logits all-gather gets 3 of 4 shards.")


def d_no_allreduce_after_rowparallel():
    g, lay = build(CFG3)
    P = "S0_L1_MLP_"
    g.remove_node(P + "ALLREDUCE_G0TO3")
    ids = []
    for gg in range(4):
        g.edge(P + "DOWNPROJ_G%d" % gg, P + "RESADD_G%d" % gg)
        ids.append(P + "DOWNPROJ_G%d" % gg)
    return g, ids, ("Layer 1: the row-parallel Down Projection's partial sums go straight into the "
                    "Residual Add with no all-reduce.")


def d_cross_gpu_no_comm():
    g, lay = build(CFG2)
    a, b_, a2 = "S0_L1_ATTN_RESADD_G3", "S0_L1_MOE_NORM_G3", "S0_L1_ATTN_RESADD_G2"
    g.remove_edge(a, b_)
    g.edge(a2, b_)
    return g, [a2, b_], ("Layer 1 MoE Layer Norm on GPU 3 is fed directly by the Residual Add on GPU 2, "
                         "with no communication node.")


def d_comm_wrong_shape():
    g, lay = build(CFG2)
    x = "S0_L1_ATTN_ALLREDUCE_G4TO5"
    n_(g, x)["shape"] = "box"
    return g, [x], "Layer 1 attention All Reduce of GPUs 4-5 is drawn as a box instead of an ellipse."


def d_missing_gpu():
    g, lay = build(CFG1)
    x = "S0_L1_ATTN_SCORE"
    g.rename("S0_L1_ATTN_SCORE_G1", x)   # the id must not give the GPU away either
    n_(g, x)["gpus"] = None
    return g, [x], ("Layer 1 Scaled Dot-Product of TP rank 1 in EP group 0 has no GPU line (and its id "
                    "carries no G suffix).")


def d_gpu_out_of_range():
    g, lay = build(CFG2, dict(expert_place={(1, 5): (2, 13)}))
    return g, ["S0_L1_MOE_EXPERT5_EP2_G13"], ("Layer 1 Expert 5 is placed on GPU 13, but the strategy has "
                                              "8 GPUs (0-7).")


def d_stages_share_gpus():
    g, lay = build(CFG1, dict(stage_base=[0, 2]))
    return g, ["S1_L2_ATTN_NORM_G2", "S1_L2_ATTN_NORM_G3"], (
        "Stage 1 is placed on GPUs 2-5, overlapping stage 0's GPUs 0-3 at GPUs 2-3.")


def d_strategy_mismatch():
    g, lay = build(CFG1, dict(comment="EP2 TP4 PP2 DP1"))
    return g, [], "The comment declares TP4 but every TP operator is drawn for 2 ranks (TP2)."


def d_missing_shapes():
    g, lay = build(CFG2)
    x = "S0_L0_ATTN_VPROJ_G6"
    n_(g, x)["ins"] = []
    n_(g, x)["out"] = None
    return g, [x], "Layer 0 Value Projection on GPU 6 has no In/Out shapes."


def d_placeholder():
    g, lay = build(CFG1)
    x = "S1_L3_ATTN_SOFTMAX_G5"
    n_(g, x)["ins"] = ["?x8x512x512"]
    n_(g, x)["out"] = "?x8x512x512"
    return g, [x], "Layer 3 Softmax on GPU 5 gives its batch dimension as '?'."


def d_moe_before_attention():
    g, lay = build(CFG1, dict(moe_first_layer=2))
    return g, ["S1_L2_MOE_NORM_G4", "S1_L2_ATTN_NORM_G4"], (
        "Layer 2's MoE block is wired before its attention block (stream -> MoE -> attention).")


def d_missing_residual():
    g, lay = build(CFG3)
    ra = "S0_L1_ATTN_RESADD_G1"
    g.remove_edge("S0_L0_MLP_RESADD_G1", ra)
    n_(g, ra)["ins"] = n_(g, ra)["ins"][:1]
    return g, [ra], ("Layer 1 attention Residual Add on GPU 1 is fed only by the all-reduce; the skip "
                     "edge from the layer input is missing.")


DEFECTS = [
    ("cycle", "structure", d_cycle),
    ("dangling_input", "structure", d_dangling_input),
    ("dangling_output", "structure", d_dangling_output),
    ("attention_one_box", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "attention", d_v_bypasses_softmax),
    ("v_into_score", "attention", d_v_into_score),
    ("qkv_into_oproj", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "attention", d_head_arithmetic),
    ("tp_heads", "attention", d_tp_heads),
    ("edge_shape_mismatch", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", d_shard_without_gather),
    ("stage_count", "pipeline", d_stage_count),
    ("stage_range_gap", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", d_experts_subset_ranks),
    ("experts_uneven", "expert", d_experts_uneven),
    ("experts_share_gpu", "expert", d_experts_share_gpu),
    ("no_gate", "expert", d_no_gate),
    ("no_all_to_all", "expert", d_no_all_to_all),
    ("tp_rank_missing", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", d_comm_wrong_shape),
    ("missing_gpu", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", d_strategy_mismatch),
    ("missing_shapes", "annotation", d_missing_shapes),
    ("placeholder", "annotation", d_placeholder),
    ("moe_before_attention", "structure", d_moe_before_attention),
    ("missing_residual", "structure", d_missing_residual),
]


NOTES = {
    "tp_rank_missing": "Unavoidable consequence: the Final Layer Norm on GPU 7 is left without a consumer.",
    "no_stage_transfer": "Unavoidable consequence: the plain inter-stage edges join different GPUs without a communication node.",
    "comm_wrong_shape": "Consequence: the boxed all-reduce spans GPUs 4-5, so its edges look like cross-GPU edges between computation nodes.",
    "shard_without_gather": "The all-reduce after the row-parallel Output Projection is absent as part of this defect.",
    "missing_gpu": "Consequence: with no GPU on the node, its edges cannot be checked for placement.",
    "experts_subset_ranks": "Moving the experts onto fewer ranks necessarily makes ranks 0-1 hold 4 each instead of E/EP = 2.",
    "stage_count": "The declared GPU total (EP*TP*PP*DP = 16) differs from the 8 GPUs drawn, as a consequence of the declared PP4.",
    "strategy_mismatch": "The declared GPU total (EP*TP*PP*DP = 16) differs from the 8 GPUs drawn, as a consequence of the declared TP4.",
    "stages_share_gpus": "Consequence: GPUs 6-7 of the declared 8 are unused.",
    "v_into_score": "The Key Projection is not drawn in layer 1 (V takes its place on every rank).",
    "placeholder": "The '?' batch dimension cannot be compared with the neighbours' 2.",
    "missing_shapes": "Consequence: the edges into and out of the node cannot be shape-checked.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    bad = False
    for i, c in enumerate((CFG1, CFG2, CFG3), 1):
        g, lay = build(c)
        probs = self_check(g)
        if probs:
            bad = True
            print("clean_%d problems:" % i, *probs[:20], sep="\n  ", file=sys.stderr)
        fn = "clean_%d.dot" % i
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.render())
        kind = "MoE" if c["E"] else "dense"
        manifest.append({"file": fn, "kind": "clean", "category": "clean", "nodes": [],
                         "what": "Correct %s DAG, %s, %d layers, hidden %d (%d heads x %d)." % (
                             kind, strategy_str(c), c["L"], c["H"], c["NH"], c["HD"])})
    for kind, cat, fn_ in DEFECTS:
        g, nodes, what = fn_()
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.render())
        entry = {"file": fn, "kind": kind, "category": cat, "nodes": nodes, "what": what}
        if kind in NOTES:
            entry["note"] = NOTES[kind]
        manifest.append(entry)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
