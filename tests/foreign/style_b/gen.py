#!/usr/bin/env python3
"""Generator of deployment DAGs in "house style B" (clean + single-defect variants).

House style B:
  * node ids are opaque and sequential: n0, n1, ...
  * HTML-like labels, bold first line, <br/> line breaks
  * positional shapes ("Input: [4, 512, 1024]"), two-input nodes "Input: [..], [..]"
  * placement "Device: cuda:3" or "Devices: cuda:0-3" (a node drawn once for a whole TP group)
  * separate Q, K, V projections; each TP operator drawn ONCE for the TP group, per-shard shapes
  * no clusters: pipeline stage marker nodes on the data path
  * layers numbered from 1, experts numbered from E0, pipeline stages from 0
  * strategy stated only in a `//` comment on the first line

Layout of an MoE layer with EP and TP (Megatron-style, EP carved out of the TP group of a stage):
  EP rank r of a stage lives on the r-th GPU of that stage's TP group (so EP == TP in the MoE files);
  attention / router / norms are drawn once for the TP group; experts are unsharded, one GPU each.

Run:  python3 gen.py     -> writes out/*.dot and out/manifest.json next to this script.
Stdlib only.
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

COMM, COMP, ROUTE = "ellipse", "box", "parallelogram"


# --------------------------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------------------------
class Graph:
    def __init__(self, strategy_line, model_line):
        self.strategy_line = strategy_line
        self.model_line = model_line
        self.nodes = {}          # key -> node dict
        self.order = []          # keys in creation order
        self.edges = []          # [src_key, dst_key, attrs]
        self.counter = 0

    # -- construction ------------------------------------------------------------------------
    def add(self, key, title, shape, inputs, output, dev, lines=(), style=None):
        assert key not in self.nodes, key
        nid = "n%d" % self.counter
        self.counter += 1
        self.nodes[key] = dict(id=nid, title=title, shape=shape, inputs=[list(s) for s in inputs],
                               output=list(output) if output is not None else None, dev=dev,
                               lines=list(lines), style=style)
        self.order.append(key)
        return key

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    # -- mutation helpers (for defects) ------------------------------------------------------
    def n(self, key):
        return self.nodes[key]

    def id(self, key):
        return self.nodes[key]["id"]

    def remove_node(self, key):
        del self.nodes[key]
        self.order.remove(key)
        self.edges = [e for e in self.edges if e[0] != key and e[1] != key]

    def remove_edge(self, a, b):
        before = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == before - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    # -- rendering ---------------------------------------------------------------------------
    @staticmethod
    def shp(s):
        return "[" + ", ".join(str(x) for x in s) + "]"

    @staticmethod
    def devtext(dev):
        if dev is None:
            return None
        if isinstance(dev, str):
            return dev
        lo, hi = dev
        if lo == hi:
            return "Device: cuda:%d" % lo
        return "Devices: cuda:%d-%d" % (lo, hi)

    @staticmethod
    def esc(t):
        return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def label(self, nd):
        parts = ["<b>%s</b>" % self.esc(nd["title"])]
        parts += [self.esc(x) for x in nd["lines"]]
        if nd["inputs"]:
            parts.append("Input: " + ", ".join(self.shp(s) for s in nd["inputs"]))
        if nd["output"] is not None:
            parts.append("Output: " + self.shp(nd["output"]))
        d = self.devtext(nd["dev"])
        if d:
            parts.append(d)
        return "<" + "<br/>".join(parts) + ">"

    def render(self):
        out = [self.strategy_line, self.model_line, "digraph G {", "    rankdir=TB;",
               '    node [fontname="Helvetica", fontsize=10];', '    edge [fontname="Helvetica"];', ""]
        for key in self.order:
            nd = self.nodes[key]
            attrs = ["shape=%s" % nd["shape"]]
            if nd["style"]:
                attrs.append('style="%s"' % nd["style"])
            attrs.append("label=%s" % self.label(nd))
            out.append("    %s [%s];" % (nd["id"], ", ".join(attrs)))
        out.append("")
        for a, b, attrs in self.edges:
            s = "    %s -> %s" % (self.nodes[a]["id"], self.nodes[b]["id"])
            if attrs:
                s += " [" + ", ".join('%s="%s"' % kv for kv in sorted(attrs.items())) + "]"
            out.append(s + ";")
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# clean builder
# --------------------------------------------------------------------------------------------
def build(cfg):
    B, S, H = cfg["B"], cfg["S"], cfg["H"]
    heads, hd, TP = cfg["heads"], cfg["hd"], cfg["TP"]
    assert heads * hd == H and heads % TP == 0 and H % TP == 0
    hpr = heads // TP                       # heads per TP rank
    sh = hpr * hd                           # hidden shard = H / TP
    V = cfg["vocab"]
    assert V % TP == 0
    moe = cfg["moe"]
    EP = cfg.get("EP", 1)
    E, K = cfg.get("E", 0), cfg.get("topk", 0)
    T = B * S                               # tokens
    if moe:
        assert E % EP == 0 and EP == TP and (T * K) % E == 0
        Te = T * K // E                     # tokens per expert (balanced routing)
    else:
        F = cfg["ffn"]
        assert F % TP == 0
    stages = cfg["stages"]                  # list of (first_layer, last_layer, gpu_lo, gpu_hi)
    PP = len(stages)
    L = stages[-1][1]
    x = [B, S, H]

    g = Graph(cfg["strategy_line"], cfg["model_line"])
    g.cfg = cfg
    tpsuf = (lambda s: " (%s)" % s) if TP > 1 else (lambda s: "")

    def stage_of(l):
        for i, (a, b, lo, hi) in enumerate(stages):
            if a <= l <= b:
                return i
        raise ValueError(l)

    s0 = stages[0]
    G0 = (s0[2], s0[3])
    g.add("input", "Input (token ids)", COMP, [[B, S]], [B, S], G0, ["Batch %d, sequence %d" % (B, S)])
    prev = "input"
    if PP > 1:
        g.add("marker0", "Pipeline Stage 0", COMP, [[B, S]], [B, S], G0,
              ["Layers %d-%d" % (s0[0], s0[1])], style="rounded,dashed")
        g.edge(prev, "marker0")
        prev = "marker0"
    g.add("emb", "Token Embedding" + tpsuf("vocab-parallel"), COMP, [[B, S]], x, G0,
          ["Vocab %d%s" % (V, (", %d rows per rank" % (V // TP)) if TP > 1 else "")])
    g.edge(prev, "emb")
    prev = "emb"
    if TP > 1:
        g.add("emb_ar", "All-Reduce (TP)", COMM, [x], x, G0, ["Embedding partial sums"])
        g.edge(prev, "emb_ar")
        prev = "emb_ar"

    for l in range(1, L + 1):
        si = stage_of(l)
        st = stages[si]
        Gs = (st[2], st[3])
        if PP > 1 and si > 0 and l == st[0]:
            g.add("send%d" % (si - 1), "Pipeline Send/Recv (P2P)", COMM, [x], x, None,
                  ["Stage %d → Stage %d" % (si - 1, si)])
            g.edge(prev, "send%d" % (si - 1))
            g.add("marker%d" % si, "Pipeline Stage %d" % si, COMP, [x], x, Gs,
                  ["Layers %d-%d" % (st[0], st[1])], style="rounded,dashed")
            g.edge("send%d" % (si - 1), "marker%d" % si)
            prev = "marker%d" % si
        P = "L%d." % l
        ly = "Layer %d" % l
        headline = "Heads: %d of %d per rank, head_dim: %d" % (hpr, heads, hd) if TP > 1 else \
            "Heads: %d, head_dim: %d" % (heads, hd)
        qs = [B, S, hpr, hd]
        ss = [B, hpr, S, S]
        # ---- attention sublayer
        g.add(P + "norm1", "RMSNorm (pre-attention)", COMP, [x], x, Gs, [ly])
        g.edge(prev, P + "norm1")
        for t in "qkv":
            g.add(P + t, "%s Projection" % t.upper() + tpsuf("column-parallel"), COMP, [x], qs, Gs,
                  [ly, headline])
            g.edge(P + "norm1", P + t)
        g.add(P + "score", "Attention Scores (Q·Kᵀ/√d)", COMP, [qs, qs], ss, Gs, [ly])
        g.edge(P + "q", P + "score")
        g.edge(P + "k", P + "score")
        g.add(P + "softmax", "Softmax", COMP, [ss], ss, Gs, [ly, "Causal mask"])
        g.edge(P + "score", P + "softmax")
        g.add(P + "ctx", "Context = P·V", COMP, [ss, qs], [B, S, sh], Gs, [ly])
        g.edge(P + "softmax", P + "ctx")
        g.edge(P + "v", P + "ctx")
        g.add(P + "oproj", "Out Projection" + tpsuf("row-parallel"), COMP, [[B, S, sh]], x, Gs, [ly])
        g.edge(P + "ctx", P + "oproj")
        last = P + "oproj"
        if TP > 1:
            g.add(P + "ar1", "All-Reduce (TP)", COMM, [x], x, Gs, [ly, "Attention output partial sums"])
            g.edge(last, P + "ar1")
            last = P + "ar1"
        g.add(P + "add1", "Add (residual)", COMP, [x, x], x, Gs, [ly, "After attention"])
        g.edge(last, P + "add1")
        g.edge(prev, P + "add1")
        prev = P + "add1"
        # ---- FFN sublayer
        if moe:
            g.add(P + "norm2", "RMSNorm (pre-MoE)", COMP, [x], x, Gs, [ly])
            g.edge(prev, P + "norm2")
            g.add(P + "router", "Router (top-%d of %d)" % (K, E), ROUTE, [x], [T, K], Gs,
                  [ly, "Top-%d weights and expert indices" % K])
            g.edge(P + "norm2", P + "router")
            g.add(P + "dispatch", "Token Dispatch (All-to-All)", COMM, [x, [T, K]], [Te, H], Gs,
                  [ly, "EP group of %d ranks" % EP])
            g.edge(P + "norm2", P + "dispatch")
            g.edge(P + "router", P + "dispatch", style="dashed")
            g.add(P + "combine", "Token Combine (All-to-All)", COMM, [[Te, H]], [T, K, H], Gs,
                  [ly, "EP group of %d ranks" % EP])
            per = E // EP
            for e in range(E):
                r = e // per
                gpu = st[2] + r
                g.add(P + "E%d" % e, "Expert E%d FFN" % e, COMP, [[Te, H]], [Te, H], (gpu, gpu),
                      [ly, "EP rank %d" % r, "SwiGLU, d_ff %d" % cfg["ffn"]])
                g.edge(P + "dispatch", P + "E%d" % e)
                g.edge(P + "E%d" % e, P + "combine")
            g.add(P + "agg", "Expert Aggregation (top-%d weighted sum)" % K, ROUTE, [[T, K, H], [T, K]],
                  x, Gs, [ly])
            g.edge(P + "combine", P + "agg")
            g.edge(P + "router", P + "agg", style="dashed")
            last = P + "agg"
        else:
            fs = [B, S, F // TP]
            g.add(P + "norm2", "RMSNorm (pre-MLP)", COMP, [x], x, Gs, [ly])
            g.edge(prev, P + "norm2")
            g.add(P + "gate", "Gate Projection" + tpsuf("column-parallel"), COMP, [x], fs, Gs,
                  [ly, "d_ff %d" % F + (" / %d ranks" % TP if TP > 1 else "")])
            g.add(P + "up", "Up Projection" + tpsuf("column-parallel"), COMP, [x], fs, Gs,
                  [ly, "d_ff %d" % F + (" / %d ranks" % TP if TP > 1 else "")])
            g.edge(P + "norm2", P + "gate")
            g.edge(P + "norm2", P + "up")
            g.add(P + "act", "SiLU(Gate) ⊙ Up", COMP, [fs, fs], fs, Gs, [ly])
            g.edge(P + "gate", P + "act")
            g.edge(P + "up", P + "act")
            g.add(P + "down", "Down Projection" + tpsuf("row-parallel"), COMP, [fs], x, Gs, [ly])
            g.edge(P + "act", P + "down")
            last = P + "down"
            if TP > 1:
                g.add(P + "ar2", "All-Reduce (TP)", COMM, [x], x, Gs, [ly, "MLP output partial sums"])
                g.edge(last, P + "ar2")
                last = P + "ar2"
        g.add(P + "add2", "Add (residual)", COMP, [x, x], x, Gs, [ly, "After %s" % ("MoE" if moe else "MLP")])
        g.edge(last, P + "add2")
        g.edge(prev, P + "add2")
        prev = P + "add2"

    sl = stages[-1]
    GL = (sl[2], sl[3])
    g.add("fnorm", "Final RMSNorm", COMP, [x], x, GL)
    g.edge(prev, "fnorm")
    lv = [B, S, V // TP]
    g.add("lmhead", "LM Head" + tpsuf("vocab-parallel"), COMP, [x], lv, GL,
          ["Vocab %d%s" % (V, (" / %d ranks" % TP) if TP > 1 else "")])
    g.edge("fnorm", "lmhead")
    last = "lmhead"
    if TP > 1:
        g.add("ag", "All-Gather (TP)", COMM, [lv], [B, S, V], GL, ["Logits over vocab shards"])
        g.edge(last, "ag")
        last = "ag"
    g.add("output", "Output (logits)", COMP, [[B, S, V]], [B, S, V], GL)
    g.edge(last, "output")
    return g


CLEAN = {
    "clean_1": dict(
        strategy_line="// Deployment: EP4-TP4-PP1-DP1",
        model_line="// MoE transformer, inference forward pass: 2 layers, hidden 1024, 16 heads x 64, "
                   "8 experts top-2, expert d_ff 2816, vocab 32000, batch 4, sequence 512",
        B=4, S=512, H=1024, heads=16, hd=64, TP=4, EP=4, E=8, topk=2, ffn=2816, vocab=32000, moe=True,
        stages=[(1, 2, 0, 3)]),
    "clean_2": dict(
        strategy_line="// Deployment: ep=2 tp=2 pp=2",
        model_line="// MoE transformer, inference forward pass: 4 layers, hidden 2048, 16 heads x 128, "
                   "4 experts top-2, expert d_ff 5632, vocab 32000, batch 2, sequence 1024",
        B=2, S=1024, H=2048, heads=16, hd=128, TP=2, EP=2, E=4, topk=2, ffn=5632, vocab=32000, moe=True,
        stages=[(1, 2, 0, 1), (3, 4, 2, 3)]),
    "clean_3": dict(
        strategy_line="// Deployment: EP1 TP8 PP1 DP1",
        model_line="// Dense transformer, inference forward pass: 3 layers, hidden 4096, 32 heads x 128, "
                   "d_ff 14336, vocab 32000, batch 2, sequence 1024",
        B=2, S=1024, H=4096, heads=32, hd=128, TP=8, vocab=32000, moe=False, ffn=14336,
        stages=[(1, 3, 0, 7)]),
}


def clean(name):
    return build(CLEAN[name])


# --------------------------------------------------------------------------------------------
# defects: each returns (graph, [node keys], what)
# --------------------------------------------------------------------------------------------
def d_cycle():
    g = clean("clean_1")
    g.edge("L1.combine", "L1.E0")
    return g, ["L1.E0", "L1.combine"], ("Layer 1 Expert E0 feeds the Token Combine all-to-all and the combine is "
                                        "also drawn back into Expert E0, closing a cycle.")


def d_dangling_input():
    g = clean("clean_1")
    g.remove_edge("L2.norm1", "L2.k")
    return g, ["L2.k"], "Layer 2 K Projection has no incoming edge (the edge from its RMSNorm was dropped)."


def d_dangling_output():
    g = clean("clean_3")
    g.remove_edge("L2.up", "L2.act")
    return g, ["L2.up"], "Layer 2 Up Projection has no outgoing edge: its output goes nowhere."


def d_attention_one_box():
    g = clean("clean_1")
    c = g.cfg
    hpr = c["heads"] // c["TP"]
    x = [c["B"], c["S"], c["H"]]
    for t in ["q", "k", "v", "score", "softmax", "ctx"]:
        g.remove_node("L2." + t)
    g.add("L2.mha", "Multi-Head Attention", COMP, [x], [c["B"], c["S"], hpr * c["hd"]], (0, 3),
          ["Layer 2", "Heads: %d of %d per rank, head_dim: %d" % (hpr, c["heads"], c["hd"])])
    g.edge("L2.norm1", "L2.mha")
    g.edge("L2.mha", "L2.oproj")
    return g, ["L2.mha"], "Layer 2 attention is drawn as a single 'Multi-Head Attention' box instead of Q/K/V, scores, softmax and P·V."


def d_v_bypasses_softmax():
    g = clean("clean_1")
    g.remove_edge("L1.softmax", "L1.ctx")
    g.n("L1.ctx")["inputs"] = [g.n("L1.ctx")["inputs"][1]]          # only V's shape is left
    g.edge("L1.softmax", "L1.oproj")
    o = g.n("L1.oproj")
    o["inputs"].append(list(g.n("L1.softmax")["output"]))
    return g, ["L1.softmax", "L1.ctx", "L1.v"], ("Layer 1 Context = P·V is fed by V only; the Softmax does not feed it "
                                                 "but goes to the Out Projection instead, so V bypasses the softmax.")


def d_v_into_score():
    g = clean("clean_1")
    g.remove_node("L1.k")
    g.edge("L1.v", "L1.score")
    return g, ["L1.v", "L1.score"], "Layer 1 Attention Scores take Q and V (no K projection): V is wired into the score instead of K."


def d_qkv_into_oproj():
    g = clean("clean_1")
    qs = list(g.n("L2.q")["output"])
    for t in ["score", "softmax", "ctx"]:
        g.remove_node("L2." + t)
    for t in "qkv":
        g.edge("L2." + t, "L2.oproj")
    g.n("L2.oproj")["inputs"] = [qs, qs, qs]
    return g, ["L2.q", "L2.k", "L2.v", "L2.oproj"], ("Layer 2 Q, K and V projections feed the Out Projection directly; "
                                                     "no scores, softmax or weighted sum.")


def d_head_arithmetic():
    g = clean("clean_1")
    c = g.cfg
    hpr = c["heads"] // c["TP"]
    bad = 48                                 # 16 x 48 = 768 != 1024
    B, S = c["B"], c["S"]
    qs = [B, S, hpr, bad]
    for t in "qkv":
        nd = g.n("L2." + t)
        nd["output"] = qs
        nd["lines"][1] = "Heads: %d of %d per rank, head_dim: %d" % (hpr, c["heads"], bad)
    g.n("L2.score")["inputs"] = [qs, qs]
    g.n("L2.ctx")["inputs"][1] = qs
    g.n("L2.ctx")["output"] = [B, S, hpr * bad]
    g.n("L2.oproj")["inputs"] = [[B, S, hpr * bad]]
    return g, ["L2.q", "L2.k", "L2.v", "L2.ctx"], ("Layer 2 labels use 16 heads x head_dim 48 = 768, which is not the "
                                                   "hidden size 1024 (per rank 4 x 48 = 192, not 1024/TP4 = 256).")


def d_tp_heads():
    g = clean("clean_1")
    c = g.cfg
    B, S = c["B"], c["S"]
    full = [B, S, c["heads"], c["hd"]]
    q = g.n("L1.q")
    q["output"] = full
    q["lines"][1] = "Heads: %d of %d per rank, head_dim: %d" % (c["heads"], c["heads"], c["hd"])
    g.n("L1.score")["inputs"][0] = full
    return g, ["L1.q"], ("Layer 1 Q Projection (column-parallel over TP4, cuda:0-3) outputs all 16 heads per rank "
                         "instead of 16/4 = 4.")


def d_edge_shape_mismatch():
    g = clean("clean_3")
    c = g.cfg
    g.n("L2.down")["inputs"] = [[c["B"], c["S"], 1536]]
    return g, ["L2.act", "L2.down"], ("Layer 2 Down Projection declares Input [2, 1024, 1536] but its producer "
                                      "SiLU(Gate) ⊙ Up outputs [2, 1024, 1792] (ratio 7/6, not a parallel degree).")


def d_shard_without_gather():
    g = clean("clean_3")
    c = g.cfg
    B, S, H, TP = c["B"], c["S"], c["H"], c["TP"]
    nd = g.n("L2.ar1")
    nd["title"] = "Reduce-Scatter (TP)"
    nd["output"] = [B, S, H // TP]
    g.n("L2.add1")["inputs"][0] = [B, S, H // TP]
    return g, ["L2.ar1", "L2.add1"], ("Layer 2 Out Projection is reduce-scattered to a [2, 1024, 512] = 4096/TP8 shard "
                                      "that reaches the full-size Add (residual) without an all-gather.")


def d_stage_count():
    g = clean("clean_2")
    g.strategy_line = "// Deployment: ep=2 tp=2 pp=3"
    return g, ["marker0", "marker1"], "The strategy declares pp=3 but only two pipeline stages (0 and 1) are drawn."


def d_stage_range_gap():
    g = clean("clean_2")
    g.n("marker1")["lines"][0] = "Layers 4-4"
    return g, ["marker0", "marker1"], ("Stage 0 claims layers 1-2 and stage 1 claims only layer 4: layer 3 is in no "
                                       "stage's range (gap), although its operators are drawn.")


def d_stage_missing_layer():
    g = clean("clean_2")
    keys = [k for k in list(g.order) if k.startswith("L4.")]
    for k in keys:
        g.remove_node(k)
    g.edge("L3.add2", "fnorm")
    return g, ["marker1"], ("Stage 1 claims layers 3-4 (model has 4 layers) but no operator of layer 4 is drawn; "
                            "layer 3 feeds the final norm.")


def d_no_stage_transfer():
    g = clean("clean_2")
    g.remove_node("send0")
    g.edge("L2.add2", "marker1")
    return g, ["L2.add2", "marker1"], ("Stage 0 (cuda:0-1) is joined to stage 1 (cuda:2-3) by a plain edge: the "
                                       "Pipeline Send/Recv node was removed.")


def d_experts_subset_ranks():
    g = clean("clean_1")
    for e in range(8):
        r = e // 4                           # E0-E3 on rank 0, E4-E7 on rank 1; ranks 2, 3 empty
        nd = g.n("L2.E%d" % e)
        nd["lines"][1] = "EP rank %d" % r
        nd["dev"] = (r, r)
    return g, ["L2.E%d" % e for e in range(8)], ("Layer 2 places its 8 experts only on EP ranks 0 and 1 "
                                                 "(cuda:0, cuda:1); EP ranks 2 and 3 hold none.")


def d_experts_uneven():
    g = clean("clean_1")
    nd = g.n("L1.E2")
    nd["lines"][1] = "EP rank 0"
    nd["dev"] = (0, 0)
    return g, ["L1.E0", "L1.E1", "L1.E2", "L1.E3"], ("Layer 1 experts are split 3/1/2/2 over EP ranks 0-3 "
                                                    "(Expert E2 moved to rank 0) instead of 8/4 = 2 each.")


def d_experts_share_gpu():
    g = clean("clean_1")
    g.n("L2.E3")["dev"] = (0, 0)
    return g, ["L2.E3", "L2.E0", "L2.E1"], ("Layer 2 Expert E3 (EP rank 1) is placed on cuda:0, the GPU of EP rank 0 "
                                            "(Experts E0, E1).")


def d_no_gate():
    g = clean("clean_1")
    g.remove_node("L1.router")
    g.n("L1.dispatch")["inputs"] = [g.n("L1.dispatch")["inputs"][0]]
    g.n("L1.agg")["inputs"] = [g.n("L1.agg")["inputs"][0]]
    return g, ["L1.dispatch"] + ["L1.E%d" % e for e in range(8)], \
        "Layer 1 has no Router: tokens go from the RMSNorm through the dispatch to the experts with no gate."


def d_no_all_to_all():
    g = clean("clean_1")
    c = g.cfg
    nd = g.n("L2.dispatch")
    keep = dict(inputs=nd["inputs"], output=nd["output"])
    g.remove_node("L2.dispatch")
    g.add("L2.split", "Token Split (by expert)", ROUTE, keep["inputs"], keep["output"], (0, 3),
          ["Layer 2", "Local selection of routed tokens"])
    g.edge("L2.norm2", "L2.split")
    g.edge("L2.router", "L2.split", style="dashed")
    for e in range(c["E"]):
        g.edge("L2.split", "L2.E%d" % e)
    return g, ["L2.split"] + ["L2.E%d" % e for e in range(8)], ("Layer 2 tokens reach the experts on EP ranks 0-3 "
                                                                "through a local Token Split, with no dispatch all-to-all (EP4).")


def d_tp_rank_missing():
    g = clean("clean_1")
    g.n("L1.k")["dev"] = (0, 2)
    return g, ["L1.k"], "Layer 1 K Projection is drawn for cuda:0-2 only: TP rank 3 (cuda:3) of the TP4 group is missing."


def d_no_allreduce_after_rowparallel():
    g = clean("clean_3")
    g.remove_node("L1.ar1")
    g.edge("L1.oproj", "L1.add1")
    return g, ["L1.oproj", "L1.add1"], ("Layer 1 row-parallel Out Projection (TP8) goes straight into the residual "
                                        "Add without an all-reduce.")


def d_cross_gpu_no_comm():
    g = clean("clean_2")
    g.remove_edge("marker1", "L3.add1")
    g.edge("L2.add2", "L3.add1")
    return g, ["L2.add2", "L3.add1"], ("Layer 3 residual skip edge comes straight from Layer 2's Add on cuda:0-1 to "
                                       "Layer 3's Add on cuda:2-3 without passing a communication node.")


def d_comm_wrong_shape():
    g = clean("clean_1")
    g.n("L2.ar1")["shape"] = COMP
    return g, ["L2.ar1"], "Layer 2 attention All-Reduce (TP) is drawn as a box instead of an ellipse."


def d_missing_gpu():
    g = clean("clean_3")
    g.n("L2.softmax")["dev"] = None
    return g, ["L2.softmax"], "Layer 2 Softmax has no Device/Devices placement line."


def d_gpu_out_of_range():
    g = clean("clean_1")
    g.n("L1.E7")["dev"] = (19, 19)
    return g, ["L1.E7"], ("Layer 1 Expert E7 is placed on cuda:19, beyond the 16 GPUs of EP4-TP4-PP1-DP1 "
                          "(and the 4 GPUs drawn).")


def d_stages_share_gpus():
    g = clean("clean_2")
    started = False
    for k in g.order:
        if k == "marker1":
            started = True
        if not started:
            continue
        nd = g.n(k)
        if isinstance(nd["dev"], tuple):
            lo, hi = nd["dev"]
            nd["dev"] = (lo - 1, hi - 1)
    return g, ["marker0", "marker1"], ("Stage 1 is placed on cuda:1-2, overlapping stage 0 (cuda:0-1) on cuda:1.")


def d_strategy_mismatch():
    g = clean("clean_1")
    g.strategy_line = "// Deployment: EP8-TP4-PP1-DP1"
    return g, ["L1.dispatch", "L2.dispatch"], "The strategy declares EP8 but the MoE layers draw experts on 4 EP ranks (0-3, one per GPU of cuda:0-3)."


def d_missing_shapes():
    g = clean("clean_3")
    nd = g.n("L1.softmax")
    nd["inputs"] = []
    nd["output"] = None
    return g, ["L1.softmax"], "Layer 1 Softmax has no Input or Output shape line."


def d_placeholder():
    g = clean("clean_3")
    c = g.cfg
    ph = ["?", c["S"]]
    g.n("input")["inputs"] = [ph]
    g.n("input")["output"] = ph
    g.n("input")["lines"] = ["Batch ?, sequence %d" % c["S"]]
    g.n("emb")["inputs"] = [ph]
    return g, ["input", "emb"], "The Input node and the embedding give the batch dimension as a '?' placeholder."


def d_moe_before_attention():
    g = clean("clean_1")
    # layer 2 drawn as: L1.add2 -> MoE sublayer (norm2..agg, add2) -> attention sublayer (norm1..add1) -> final norm
    g.remove_edge("L1.add2", "L2.norm1")
    g.remove_edge("L1.add2", "L2.add1")
    g.remove_edge("L2.add1", "L2.norm2")
    g.remove_edge("L2.add1", "L2.add2")
    g.remove_edge("L2.add2", "fnorm")
    g.edge("L1.add2", "L2.norm2")
    g.edge("L1.add2", "L2.add2")
    g.edge("L2.add2", "L2.norm1")
    g.edge("L2.add2", "L2.add1")
    g.edge("L2.add1", "fnorm")
    return g, ["L2.norm2", "L2.router", "L2.dispatch", "L2.norm1"], \
        "Layer 2's MoE sublayer (router, dispatch, experts, combine) is wired before its attention sublayer."


def d_missing_residual():
    g = clean("clean_3")
    g.remove_edge("L1.add1", "L1.add2")
    return g, ["L1.add2"], ("Layer 1 residual Add after the MLP is fed only by the MLP all-reduce; the skip edge "
                            "from the stream before the norm is missing.")


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

# findings that follow unavoidably from the one injected defect (same root cause, not a second defect)
ALSO = {
    "dangling_input": "the K projection is also not on a path from the input",
    "stage_missing_layer": "the model comment says 4 layers but only 3 are drawn (same root cause)",
    "no_stage_transfer": "the plain stage-0 -> stage-1 edge is also a cross-GPU edge without a communication node",
    "experts_subset_ranks": "ranks 0 and 1 then hold 4 experts each instead of 8/4 = 2 (same root cause)",
    "experts_share_gpu": "if EP ranks are derived from GPUs rather than from the 'EP rank' labels, the split looks uneven (3/1/2/2)",
    "no_gate": "the Expert Aggregation has no routing weights either",
    "no_all_to_all": "the Token Split (cuda:0-3) feeds single-GPU experts directly, which a checker may also count as cross-GPU edges without communication",
    "tp_rank_missing": "edges RMSNorm(cuda:0-3) -> K(cuda:0-2) -> Scores(cuda:0-3) now join different GPU sets",
    "stages_share_gpus": "stage-1 experts of EP rank 0 now sit on cuda:1, the GPU of stage 0's EP rank 1 (different layers)",
    "strategy_mismatch": "EP8 implies 8/8 = 1 expert per rank on 8 ranks; the 4 ranks drawn hold 2 each",
    "v_bypasses_softmax": "the Out Projection gets an extra [4, 4, 512, 512] input from the Softmax",
    "qkv_into_oproj": "a TP4 row-parallel projection fed by per-head tensors",
    "shard_without_gather": "the residual Add's two inputs differ ([2, 1024, 512] vs [2, 1024, 4096])",
    "cycle": "Expert E0 has two producers (dispatch and combine)",
    "moe_before_attention": "none expected beyond the order itself; all shapes stay [4, 512, 1024]",
}

CLEAN_WHAT = {
    "clean_1": "MoE, EP4-TP4-PP1-DP1, 2 layers, hidden 1024 (16x64), 8 experts top-2 on cuda:0-3; no defect.",
    "clean_2": "MoE, ep=2 tp=2 pp=2, 4 layers, hidden 2048 (16x128), 4 experts top-2, stages on cuda:0-1 and cuda:2-3; no defect.",
    "clean_3": "Dense, EP1 TP8 PP1 DP1, 3 layers, hidden 4096 (32x128), d_ff 14336 on cuda:0-7; no defect.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name in ["clean_1", "clean_2", "clean_3"]:
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(clean(name).render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[], what=CLEAN_WHAT[name]))
    for kind, cat, fn in DEFECTS:
        g, keys, what = fn()
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        ent = dict(file=fname, kind=kind, category=cat, nodes=[g.id(k) for k in keys], what=what,
                   base=g.cfg["_name"])
        if kind in ALSO:
            ent["also_expected"] = ALSO[kind]
        manifest.append(ent)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


for _k, _v in CLEAN.items():
    _v["_name"] = _k

if __name__ == "__main__":
    main()
