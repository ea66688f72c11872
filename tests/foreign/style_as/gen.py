#!/usr/bin/env python3
"""Generate deployment DAGs (one forward pass, GPU swimlane style) and defect variants.

House style ("lanes"):
  * one cluster per GPU (cluster_gpuN, label "GPU N (host h)"); nodes inside a lane carry no GPU
    line; nodes spanning several GPUs (collectives, split/merge, sources/sinks, stage markers)
    sit outside every lane and carry a "GPUs: a-b" line;
  * pipeline stages are plaintext marker nodes on the data path ("=== PP stage 1: layers 2-3 ===");
  * shapes are written as symbols followed by values: "Input: [B/EP, S, H] = [4, 512, 1024]";
  * camelCase ids, strategy only in the graph's comment attribute;
  * labels start with a verb ("Project Q", "Compute scores", "Reduce partial sums", ...);
  * own quirk 1: every computation/routing node carries a "Shard:" line telling how its work is
    split (column / row / replicated / expert ...), and fill colours follow the block
    (attention blue, FFN/expert wheat, routing green, communication grey, I/O yellow);
  * own quirk 2: every communication ellipse carries a "Moves: X MiB per GPU" payload line
    (bf16), and the DOT text has "// ---- layer N ----" banner comments before every section.

Run: python3 gen.py   -> writes out/*.dot and out/manifest.json
"""
import copy
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL = {
    "attn": "#dbe9f6",
    "ffn": "#fbe5c8",
    "plain": "#ffffff",
    "route": "#d9f2d9",
    "comm": "#e3e3e3",
    "io": "#fff2a8",
    "marker": "#ffffff",
}


def camel(*parts):
    parts = [p for p in parts if p]
    s = parts[0][0].lower() + parts[0][1:]
    for p in parts[1:]:
        s += p[0].upper() + p[1:]
    return s


def fmt_gpus(gpus):
    gpus = sorted(set(gpus))
    out, i = [], 0
    while i < len(gpus):
        j = i
        while j + 1 < len(gpus) and gpus[j + 1] == gpus[j] + 1:
            j += 1
        out.append(str(gpus[i]) if j == i else "%d-%d" % (gpus[i], gpus[j]))
        i = j + 1
    return ",".join(out)


def shp(sym, vals):
    return (sym, tuple(vals))


def render_shape(s):
    return "[%s] = [%s]" % (s[0], ", ".join(str(v) for v in s[1]))


def mib(vals):
    n = 2
    for v in vals:
        n *= v
    return "%.1f MiB per GPU" % (n / 2.0 ** 20)


class Node:
    def __init__(self, nid, shape, title, ins=None, out=None, gpu=None, gpus=None,
                 extra=None, fill="plain", tag="", style=None):
        self.id = nid
        self.shape = shape
        self.title = title
        self.ins = list(ins or [])
        self.out = out
        self.gpu = gpu          # lane placement (int) or None
        self.gpus = gpus        # list of GPUs for nodes outside the lanes
        self.extra = list(extra or [])
        self.fill = fill
        self.tag = tag
        self.style = style

    def gpu_set(self):
        if self.gpu is not None:
            return {self.gpu}
        return set(self.gpus or [])

    def label(self):
        lines = [self.title]
        if self.ins:
            lines.append("Input: " + ", ".join(render_shape(s) for s in self.ins))
        if self.out is not None:
            lines.append("Output: " + render_shape(self.out))
        if self.gpu is None and self.gpus:
            lines.append("GPUs: " + fmt_gpus(self.gpus))
        lines.extend(self.extra)
        return "\\n".join(lines)


class Graph:
    def __init__(self, cfg):
        self.cfg = cfg
        self.comment = "EP%d TP%d PP%d DP%d" % (cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"])
        self.order = []
        self.nodes = {}
        self.edges = []   # [src, dst, attrs]
        self.tags = []

    # --- building -------------------------------------------------------------
    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        self.order.append(node.id)
        if node.tag not in self.tags:
            self.tags.append(node.tag)
        return node.id

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    # --- editing (defects) ----------------------------------------------------
    def n(self, nid):
        return self.nodes[nid]

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def rm_edge(self, a, b):
        before = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == before - 1, (a, b)

    def replace_edge(self, a, b, na, nb, **attrs):
        for e in self.edges:
            if e[0] == a and e[1] == b:
                e[0], e[1] = na, nb
                if attrs:
                    e[2] = attrs
                return
        raise KeyError((a, b))

    def insert_edge_after(self, a, b, na, nb, **attrs):
        for i, e in enumerate(self.edges):
            if e[0] == a and e[1] == b:
                self.edges.insert(i + 1, [na, nb, attrs])
                return
        raise KeyError((a, b))

    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def insert_before(self, ref, node):
        self.nodes[node.id] = node
        self.order.insert(self.order.index(ref), node.id)

    # --- output -----------------------------------------------------------------
    def node_line(self, nd, indent):
        attrs = ["shape=%s" % nd.shape, 'fillcolor="%s"' % FILL[nd.fill]]
        if nd.shape == "plaintext":
            attrs = ["shape=plaintext", 'fontname="Helvetica-Bold"', "fontsize=12"]
        if nd.style:
            attrs.append('style="%s"' % nd.style)
        attrs.append('label="%s"' % nd.label())
        return "%s%s [%s];" % (indent, nd.id, ", ".join(attrs))

    def render(self):
        c = self.cfg
        out = []
        out.append("// %s" % c["title"])
        out.append("// Drawn one swimlane per GPU; multi-GPU nodes sit between the lanes.")
        for line in c["glossary"]:
            out.append("// " + line)
        out.append("digraph %s {" % c["graph_name"])
        out.append('  comment="%s";' % self.comment)
        out.append('  label="%s";' % c["title"])
        out.append("  labelloc=t; fontsize=16; fontname=\"Helvetica\";")
        out.append("  rankdir=TB; newrank=true; nodesep=0.15; ranksep=0.35;")
        out.append('  node [fontname="Helvetica", fontsize=9, style=filled, fillcolor="#ffffff"];')
        out.append("  edge [arrowsize=0.6];")
        out.append("")
        lanes = sorted({nd.gpu for nd in self.nodes.values() if nd.gpu is not None})
        for g in lanes:
            out.append("  subgraph cluster_gpu%d {" % g)
            out.append('    label="GPU %d (host %d)"; style="rounded,dashed"; color="#8c8c8c";' % (g, g // 8))
            for tag in self.tags:
                ids = [i for i in self.order if self.nodes[i].gpu == g and self.nodes[i].tag == tag]
                if not ids:
                    continue
                out.append("    // ---- %s ----" % tag)
                for i in ids:
                    out.append(self.node_line(self.nodes[i], "    "))
            out.append("  }")
            out.append("")
        out.append("  // multi-GPU nodes: collectives, transfers, split/merge, stage markers, I/O")
        for tag in self.tags:
            ids = [i for i in self.order if self.nodes[i].gpu is None and self.nodes[i].tag == tag]
            if not ids:
                continue
            out.append("  // ---- %s ----" % tag)
            for i in ids:
                out.append(self.node_line(self.nodes[i], "  "))
        out.append("")
        out.append("  // data flow (edges listed under the section of the node they feed)")
        for tag in self.tags:
            es = [e for e in self.edges if self.nodes[e[1]].tag == tag]
            if not es:
                continue
            out.append("  // ---- %s ----" % tag)
            for a, b, attrs in es:
                at = ""
                if attrs:
                    at = " [%s]" % ", ".join("%s=%s" % kv for kv in sorted(attrs.items()))
                out.append("  %s -> %s%s;" % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# builder


def build(cfg):
    g = Graph(cfg)
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    L, H, NH, DH = cfg["L"], cfg["H"], cfg["NH"], cfg["DH"]
    B, S, V, F = cfg["B"], cfg["S"], cfg["V"], cfg["F"]
    moe = cfg["moe"]
    per = L // PP
    assert NH * DH == H and NH % TP == 0 and L % PP == 0 and F % TP == 0 and V % TP == 0

    # symbols
    if EP > 1 and DP > 1:
        bsym, bval = "B/(DP*EP)", B // (DP * EP)
    elif EP > 1:
        bsym, bval = "B/EP", B // EP
    elif DP > 1:
        bsym, bval = "B/DP", B // DP
    else:
        bsym, bval = "B", B
    hsym = "NH/TP" if TP > 1 else "NH"
    hloc = NH // TP
    fsym = "F/TP" if TP > 1 else "F"
    vsym = "V/TP" if TP > 1 else "V"
    X = shp("%s, S, H" % bsym, (bval, S, H))
    HEADS = shp("%s, S, %s, DH" % (bsym, hsym), (bval, S, hloc, DH))
    SC = shp("%s, %s, S, S" % (bsym, hsym), (bval, hloc, S, S))
    if moe:
        E, K = cfg["E"], cfg["K"]
        T = bval * S                 # tokens per EP rank (per DP replica)
        C = (B // DP) * S * K // E   # tokens per expert (balanced capacity)
        TK = shp("T*K, H", (T * K, H))
        CH = shp("C, H", (C, H))
        per_rank = E // EP
        assert E % EP == 0 and T * K * EP == C * E

    def gpu(d, s, k, r):
        return ((d * PP + s) * EP + k) * TP + r

    def stage_gpus(s):
        return [gpu(d, s, k, r) for d in range(DP) for k in range(EP) for r in range(TP)]

    def rep_stage_gpus(d, s):
        return [gpu(d, s, k, r) for k in range(EP) for r in range(TP)]

    def tp_group(d, s, k):
        return [gpu(d, s, k, r) for r in range(TP)]

    def pre(d):
        return "dp%d" % d if DP > 1 else ""

    def rk(k, r):
        return ("Ep%d" % k if EP > 1 else "") + ("Tp%d" % r if TP > 1 else "")

    def ek(k):
        return "Ep%d" % k if EP > 1 else ""

    def nid(d, *parts):
        return camel(pre(d), *parts)

    ranks = [(k, r) for k in range(EP) for r in range(TP)]
    rep = "replicated"

    # ---- input / stage 0
    first_tag = "input"
    g.add(Node("input", "house", "Input (token ids)", out=shp("B, S", (B, S)),
               gpus=stage_gpus(0), fill="io", tag=first_tag))
    markers = {}

    def marker(s):
        if s not in markers:
            lo, hi = s * per, s * per + per - 1
            markers[s] = g.add(Node("stage%dMarker" % s, "plaintext",
                                    "=== PP stage %d: layers %d-%d ===" % (s, lo, hi),
                                    gpus=stage_gpus(s), fill="marker",
                                    tag=first_tag if s == 0 else "PP stage %d handoff" % s))
        return markers[s]

    m0 = marker(0)
    g.edge("input", m0)
    split_by = "EP ranks" if EP > 1 else "DP replicas"
    if EP > 1 and DP > 1:
        split_by = "DP replicas and EP ranks"
    g.add(Node("splitBatch", "parallelogram", "Split batch",
               ins=[shp("B, S", (B, S))], out=shp("%s, S" % bsym, (bval, S)),
               gpus=stage_gpus(0), extra=["Shard: batch rows over %s" % split_by],
               fill="route", tag=first_tag))
    g.edge(m0, "splitBatch")
    x = {}
    for d in range(DP):
        for (k, r) in ranks:
            i = g.add(Node(nid(d, "embed", rk(k, r)), "box", "Embed tokens",
                           ins=[shp("%s, S" % bsym, (bval, S))], out=X, gpu=gpu(d, 0, k, r),
                           extra=["Shard: " + rep], fill="plain", tag=first_tag))
            g.edge("splitBatch", i)
            x[(d, k, r)] = i

    for l in range(L):
        s = l // per
        tag = "layer %d" % l
        # ---- pipeline hand-off
        if l > 0 and l % per == 0:
            htag = "PP stage %d handoff" % s
            sends = []
            for d in range(DP):
                for (k, r) in ranks:
                    sid = g.add(Node(nid(d, "stage%dSend" % s, rk(k, r)), "ellipse",
                                     "Send activations (PP%d -> PP%d)" % (s - 1, s),
                                     ins=[X], out=X,
                                     gpus=[gpu(d, s - 1, k, r), gpu(d, s, k, r)],
                                     extra=["Moves: " + mib(X[1])], fill="comm", tag=htag))
                    g.edge(x[(d, k, r)], sid)
                    sends.append(sid)
            m = marker(s)
            for sid in sends:
                g.edge(sid, m)
            for key in x:
                x[key] = m

        for d in range(DP):
            # ---- attention block
            reduce_ids = {}
            for k in range(EP):
                if TP > 1:
                    reduce_ids[k] = nid(d, "layer%d" % l, "attnReduce", ek(k))
            for (k, r) in ranks:
                G = gpu(d, s, k, r)
                R = rk(k, r)
                L_ = "layer%d" % l
                heads = "heads %d-%d of %d" % (r * hloc, (r + 1) * hloc - 1, NH)
                n1 = g.add(Node(nid(d, L_, "norm1", R), "box", "Normalize (RMSNorm)", ins=[X], out=X,
                                gpu=G, extra=["Shard: " + rep], tag=tag))
                q = g.add(Node(nid(d, L_, "qProj", R), "box", "Project Q", ins=[X], out=HEADS, gpu=G,
                               extra=["Shard: column, " + heads], fill="attn", tag=tag))
                kk = g.add(Node(nid(d, L_, "kProj", R), "box", "Project K", ins=[X], out=HEADS, gpu=G,
                                extra=["Shard: column, " + heads], fill="attn", tag=tag))
                v = g.add(Node(nid(d, L_, "vProj", R), "box", "Project V", ins=[X], out=HEADS, gpu=G,
                               extra=["Shard: column, " + heads], fill="attn", tag=tag))
                sc = g.add(Node(nid(d, L_, "scores", R), "box", "Compute scores (QK^T / sqrt(DH))",
                                ins=[HEADS, HEADS], out=SC, gpu=G, extra=["Shard: " + heads],
                                fill="attn", tag=tag))
                sm = g.add(Node(nid(d, L_, "softmax", R), "box", "Normalize (softmax)", ins=[SC], out=SC,
                                gpu=G, extra=["Shard: " + heads], fill="attn", tag=tag))
                wv = g.add(Node(nid(d, L_, "weightValues", R), "box", "Weight values (P @ V)",
                                ins=[SC, HEADS], out=HEADS, gpu=G, extra=["Shard: " + heads],
                                fill="attn", tag=tag))
                op = g.add(Node(nid(d, L_, "outProj", R), "box", "Project output", ins=[HEADS], out=X,
                                gpu=G, extra=["Shard: row, partial sums" if TP > 1 else "Shard: " + rep],
                                fill="attn", tag=tag))
                g.edge(x[(d, k, r)], n1)
                g.edge(n1, q)
                g.edge(n1, kk)
                g.edge(n1, v)
                g.edge(q, sc)
                g.edge(kk, sc)
                g.edge(sc, sm)
                g.edge(sm, wv)
                g.edge(v, wv)
                g.edge(wv, op)
                if TP > 1:
                    red = reduce_ids[k]
                    if red not in g.nodes:
                        g.add(Node(red, "ellipse", "Reduce partial sums (all-reduce)", ins=[X], out=X,
                                   gpus=tp_group(d, s, k), extra=["Moves: " + mib(X[1])],
                                   fill="comm", tag=tag))
                    g.edge(op, red)
            res1 = {}
            for (k, r) in ranks:
                R = rk(k, r)
                a1 = g.add(Node(nid(d, "layer%d" % l, "addResidual1", R), "box", "Add residual",
                                ins=[X, X], out=X, gpu=gpu(d, s, k, r), extra=["Shard: " + rep], tag=tag))
                src = reduce_ids[k] if TP > 1 else nid(d, "layer%d" % l, "outProj", R)
                g.edge(src, a1)
                g.edge(x[(d, k, r)], a1)
                res1[(k, r)] = a1

            # ---- FFN / MoE block
            L_ = "layer%d" % l
            if moe:
                disp = nid(d, L_, "dispatch")
                comb = nid(d, L_, "combineA2a")
                norm2, routers = {}, {}
                for (k, r) in ranks:
                    G = gpu(d, s, k, r)
                    R = rk(k, r)
                    norm2[(k, r)] = g.add(Node(nid(d, L_, "norm2", R), "box", "Normalize (RMSNorm)",
                                               ins=[X], out=X, gpu=G, extra=["Shard: " + rep], tag=tag))
                    routers[(k, r)] = g.add(Node(nid(d, L_, "router", R), "parallelogram",
                                                 "Route tokens (top-%d of %d experts)" % (K, E),
                                                 ins=[X], out=TK, gpu=G,
                                                 extra=["Shard: " + rep], fill="route", tag=tag))
                    g.edge(res1[(k, r)], norm2[(k, r)])
                    g.edge(norm2[(k, r)], routers[(k, r)])
                g.add(Node(disp, "ellipse", "Send to experts (all-to-all)", ins=[TK], out=CH,
                           gpus=rep_stage_gpus(d, s), extra=["Moves: " + mib(TK[1])],
                           fill="comm", tag=tag))
                for (k, r) in ranks:
                    g.edge(routers[(k, r)], disp, style="dashed")
                ered = []
                for e in range(E):
                    k = e // per_rank
                    red = nid(d, L_, "expert%d" % e, "reduce") if TP > 1 else None
                    for r in range(TP):
                        fl = F // TP
                        sh = "Shard: expert %d (EP rank %d), FFN cols %d-%d of %d" % (
                            e, k, r * fl, (r + 1) * fl - 1, F)
                        if TP > 1:
                            sh += ", partial sums"
                        ex = g.add(Node(nid(d, L_, "expert%d" % e, "Tp%d" % r if TP > 1 else ""), "box",
                                        "Run expert %d" % e, ins=[CH], out=CH, gpu=gpu(d, s, k, r),
                                        extra=[sh], fill="ffn", tag=tag))
                        g.edge(disp, ex)
                        if TP > 1:
                            if red not in g.nodes:
                                g.add(Node(red, "ellipse", "Reduce partial sums (all-reduce)",
                                           ins=[CH], out=CH, gpus=tp_group(d, s, k),
                                           extra=["Moves: " + mib(CH[1])], fill="comm", tag=tag))
                            g.edge(ex, red)
                        else:
                            ered.append(ex)
                    if TP > 1:
                        ered.append(red)
                g.add(Node(comb, "ellipse", "Gather from experts (all-to-all)", ins=[CH], out=TK,
                           gpus=rep_stage_gpus(d, s), extra=["Moves: " + mib(TK[1])],
                           fill="comm", tag=tag))
                for red in ered:
                    g.edge(red, comb)
                for (k, r) in ranks:
                    G = gpu(d, s, k, r)
                    R = rk(k, r)
                    cm = g.add(Node(nid(d, L_, "combine", R), "parallelogram",
                                    "Combine expert outputs (top-%d)" % K, ins=[TK], out=X, gpu=G,
                                    extra=["Shard: " + rep], fill="route", tag=tag))
                    g.edge(comb, cm)
                    a2 = g.add(Node(nid(d, L_, "addResidual2", R), "box", "Add residual", ins=[X, X],
                                    out=X, gpu=G, extra=["Shard: " + rep], tag=tag))
                    g.edge(cm, a2)
                    g.edge(res1[(k, r)], a2)
                    x[(d, k, r)] = a2
            else:
                FS = shp("%s, S, %s" % (bsym, fsym), (bval, S, F // TP))
                mred = {}
                downs = {}
                for (k, r) in ranks:
                    G = gpu(d, s, k, r)
                    R = rk(k, r)
                    fl = F // TP
                    cols = "FFN cols %d-%d of %d" % (r * fl, (r + 1) * fl - 1, F)
                    n2 = g.add(Node(nid(d, L_, "norm2", R), "box", "Normalize (RMSNorm)", ins=[X], out=X,
                                    gpu=G, extra=["Shard: " + rep], tag=tag))
                    up = g.add(Node(nid(d, L_, "upProj", R), "box", "Project up", ins=[X], out=FS, gpu=G,
                                    extra=["Shard: column, " + cols], fill="ffn", tag=tag))
                    ac = g.add(Node(nid(d, L_, "act", R), "box", "Activate (GELU)", ins=[FS], out=FS,
                                    gpu=G, extra=["Shard: " + cols], fill="ffn", tag=tag))
                    dn = g.add(Node(nid(d, L_, "downProj", R), "box", "Project down", ins=[FS], out=X,
                                    gpu=G, extra=["Shard: row, partial sums" if TP > 1 else "Shard: " + rep],
                                    fill="ffn", tag=tag))
                    g.edge(res1[(k, r)], n2)
                    g.edge(n2, up)
                    g.edge(up, ac)
                    g.edge(ac, dn)
                    downs[(k, r)] = dn
                    if TP > 1:
                        red = nid(d, L_, "mlpReduce", ek(k))
                        if red not in g.nodes:
                            g.add(Node(red, "ellipse", "Reduce partial sums (all-reduce)", ins=[X], out=X,
                                       gpus=tp_group(d, s, k), extra=["Moves: " + mib(X[1])],
                                       fill="comm", tag=tag))
                        g.edge(dn, red)
                        mred[k] = red
                for (k, r) in ranks:
                    G = gpu(d, s, k, r)
                    R = rk(k, r)
                    a2 = g.add(Node(nid(d, L_, "addResidual2", R), "box", "Add residual", ins=[X, X],
                                    out=X, gpu=G, extra=["Shard: " + rep], tag=tag))
                    g.edge(mred[k] if TP > 1 else downs[(k, r)], a2)
                    g.edge(res1[(k, r)], a2)
                    x[(d, k, r)] = a2

    # ---- output head (last stage)
    s = PP - 1
    otag = "output head"
    LG = shp("%s, S, %s" % (bsym, vsym), (bval, S, V // TP))
    LF = shp("%s, S, V" % bsym, (bval, S, V))
    g.add(Node("mergeBatch", "parallelogram", "Merge batch shards", ins=[LF], out=shp("B, S, V", (B, S, V)),
               gpus=stage_gpus(s), extra=["Shard: batch rows over %s" % split_by], fill="route", tag=otag))
    for d in range(DP):
        for k in range(EP):
            gl = None
            if TP > 1:
                gl = g.add(Node(nid(d, "gatherLogits", ek(k)), "ellipse", "Gather logits (all-gather)",
                                ins=[LG], out=LF, gpus=tp_group(d, s, k), extra=["Moves: " + mib(LF[1])],
                                fill="comm", tag=otag))
            for r in range(TP):
                G = gpu(d, s, k, r)
                R = rk(k, r)
                vl = V // TP
                fn = g.add(Node(nid(d, "finalNorm", R), "box", "Normalize (final RMSNorm)", ins=[X], out=X,
                                gpu=G, extra=["Shard: " + rep], tag=otag))
                lm = g.add(Node(nid(d, "lmHead", R), "box", "Project logits (LM head)", ins=[X], out=LG,
                                gpu=G, extra=["Shard: column, vocab %d-%d of %d" % (r * vl, (r + 1) * vl - 1, V)],
                                tag=otag))
                g.edge(x[(d, k, r)], fn)
                g.edge(fn, lm)
                g.edge(lm, gl if TP > 1 else "mergeBatch")
            if TP > 1:
                g.edge(gl, "mergeBatch")
    g.add(Node("output", "invhouse", "Output (logits)", ins=[shp("B, S, V", (B, S, V))], gpus=stage_gpus(s),
               fill="io", tag=otag))
    g.edge("mergeBatch", "output")
    # move merge/output to the end of the node order (they were created before the head nodes)
    for i in ("mergeBatch", "output"):
        g.order.remove(i)
        g.order.append(i)
    return g


# ---------------------------------------------------------------------------------------------
# self-check for the clean files (my own reading of section 2, not the reviewer's code)


def self_check(g):
    c = g.cfg
    errs = []
    ids = set(g.nodes)
    # acyclic
    succ = {i: [] for i in ids}
    indeg = {i: 0 for i in ids}
    for a, b, _ in g.edges:
        succ[a].append(b)
        indeg[b] += 1
    q = [i for i in ids if indeg[i] == 0]
    seen = 0
    deg = dict(indeg)
    while q:
        i = q.pop()
        seen += 1
        for j in succ[i]:
            deg[j] -= 1
            if deg[j] == 0:
                q.append(j)
    if seen != len(ids):
        errs.append("cycle")
    srcs = [i for i in ids if indeg[i] == 0]
    sinks = [i for i in ids if not succ[i]]
    if srcs != ["input"]:
        errs.append("sources %s" % srcs)
    if sinks != ["output"]:
        errs.append("sinks %s" % sinks)
    ngpu = c["EP"] * c["TP"] * c["PP"] * c["DP"]
    for a, b, _ in g.edges:
        A, Bn = g.nodes[a], g.nodes[b]
        # shapes
        if A.out is not None and Bn.ins:
            if A.out[1] not in [s[1] for s in Bn.ins]:
                errs.append("shape %s %s -> %s %s" % (a, A.out[1], b, [s[1] for s in Bn.ins]))
        # cross GPU
        sa, sb = A.gpu_set(), Bn.gpu_set()
        comm = A.shape == "ellipse" or Bn.shape == "ellipse"
        if not comm and not (sa <= sb or sb <= sa):
            errs.append("cross-gpu %s %s -> %s %s" % (a, sa, b, sb))
        if A.gpu is not None and Bn.gpu is not None and A.gpu != Bn.gpu:
            errs.append("lane cross %s -> %s" % (a, b))
    for nd in g.nodes.values():
        if nd.shape in ("box", "parallelogram"):
            if not nd.ins or nd.out is None:
                errs.append("shapes missing %s" % nd.id)
        if nd.shape != "plaintext" and not nd.gpu_set() and nd.id not in ():
            errs.append("no gpu %s" % nd.id)
        for gg in nd.gpu_set():
            if not 0 <= gg < ngpu:
                errs.append("gpu range %s" % nd.id)
    return errs


# ---------------------------------------------------------------------------------------------
# configs

GLOSS_MOE = [
    "Symbols: B batch, S sequence length, H hidden size, NH attention heads, DH head dim,",
    "         V vocabulary, F expert FFN width, T = B*S/EP tokens held by one EP rank,",
    "         K experts chosen per token, C = B*S*K/E tokens sent to one expert.",
    "Attention runs data-parallel over the EP ranks (each EP rank's TP group owns B/EP rows).",
    "Colours: blue attention, wheat FFN/experts, green routing, grey communication, yellow I/O.",
]
GLOSS_DENSE = [
    "Symbols: B batch, S sequence length, H hidden size, NH attention heads, DH head dim,",
    "         V vocabulary, F FFN width; each DP replica owns B/DP rows.",
    "Colours: blue attention, wheat FFN, green routing, grey communication, yellow I/O.",
]

CFGS = {
    "clean_1.dot": dict(title="4-layer MoE forward pass (4 experts, top-2), one lane per GPU",
                        graph_name="moeForward", glossary=GLOSS_MOE, moe=True,
                        EP=2, TP=2, PP=2, DP=1, L=4, H=1024, NH=16, DH=64, E=4, K=2, F=2048,
                        B=8, S=512, V=32000),
    "clean_2.dot": dict(title="2-layer MoE forward pass (8 experts, top-2), one lane per GPU",
                        graph_name="moeForward", glossary=GLOSS_MOE, moe=True,
                        EP=4, TP=2, PP=1, DP=1, L=2, H=2048, NH=16, DH=128, E=8, K=2, F=2816,
                        B=8, S=512, V=32000),
    "clean_3.dot": dict(title="3-layer dense forward pass, both DP replicas drawn, one lane per GPU",
                        graph_name="denseForward", glossary=GLOSS_DENSE, moe=False,
                        EP=1, TP=2, PP=1, DP=2, L=3, H=1536, NH=12, DH=128, F=4096,
                        B=8, S=1024, V=50304),
}


# ---------------------------------------------------------------------------------------------
# defects: each takes a freshly built clean graph, changes one thing, returns (nodes, what)


def set_dh(shape, dh):
    sym, vals = shape
    return (sym, vals[:-1] + (dh,))


def d_cycle(g):
    a, b = "layer1AttnReduceEp0", "layer1AddResidual1Ep0Tp0"
    g.insert_edge_after(a, b, b, a)
    return [a, b], ("Layer 1's attention all-reduce layer1AttnReduceEp0 (EP rank 0, GPUs 0-1) and the "
                    "residual add layer1AddResidual1Ep0Tp0 (GPU 0) are drawn both ways "
                    "(layer1AttnReduceEp0 -> layer1AddResidual1Ep0Tp0 and back), a two-node cycle.")


def d_dangling_input(g):
    g.rm_edge("layer1AddResidual1Ep1Tp0", "layer1Norm2Ep1Tp0")
    return ["layer1Norm2Ep1Tp0"], ("Layer 1's pre-MoE RMSNorm layer1Norm2Ep1Tp0 (EP rank 1, TP rank 0, GPU 2) "
                                   "has no incoming edge: its input from layer1AddResidual1Ep1Tp0 was removed.")


def d_dangling_output(g):
    g.rm_edge("layer1Expert3Tp1", "layer1Expert3Reduce")
    return ["layer1Expert3Tp1"], ("The TP-rank-1 shard of layer 1's expert 3 (EP rank 1, GPU 3), "
                                  "layer1Expert3Tp1, has no outgoing edge: its partial sums never reach the "
                                  "all-reduce layer1Expert3Reduce, so they never reach the combine all-to-all.")


def d_attention_one_box(g):
    c = g.cfg
    new = []
    for k in range(4):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            q = "layer1QProj" + R
            X = g.n(q).ins[0]
            nd = Node("layer1Attention" + R, "box", "Run multi-head attention", ins=[X], out=X,
                      gpu=g.n(q).gpu, extra=["Shard: heads %d-%d of 16, partial sums" % (8 * r, 8 * r + 7)],
                      fill="attn", tag="layer 1")
            g.insert_before(q, nd)
            # norm1 -> attention -> all-reduce, written where norm1 -> Q and out-proj -> all-reduce were
            g.insert_edge_after("layer1Norm1" + R, q, "layer1Norm1" + R, nd.id)
            red = "layer1AttnReduceEp%d" % k
            g.insert_edge_after("layer1OutProj" + R, red, nd.id, red)
            for part in ("QProj", "KProj", "VProj", "Scores", "Softmax", "WeightValues", "OutProj"):
                g.rm_node("layer1" + part + R)
            new.append(nd.id)
    return new, ("Layer 1's attention is drawn as one 'Run multi-head attention' box per GPU "
                 "(layer1AttentionEp0Tp0 ... layer1AttentionEp3Tp1, 8 boxes) instead of Q/K/V projections, "
                 "scores, softmax, weighted sum and output projection.")


def d_v_bypasses_softmax(g):
    R = "Ep0Tp1"
    sm, wv, op = "layer1Softmax" + R, "layer1WeightValues" + R, "layer1OutProj" + R
    g.replace_edge(sm, wv, sm, op)
    return [sm, wv, op], ("Layer 1, EP rank 0, TP rank 1 (GPU 1): V feeds the weighted sum layer1WeightValuesEp0Tp1 "
                          "but the softmax layer1SoftmaxEp0Tp1 does not (it goes straight to the output projection "
                          "layer1OutProjEp0Tp1), so V bypasses the attention probabilities.")


def d_v_into_score(g):
    k, v = "dp0Layer0KProjTp1", "dp0Layer0VProjTp1"
    sc, wv = "dp0Layer0ScoresTp1", "dp0Layer0WeightValuesTp1"
    g.replace_edge(k, sc, v, sc)
    g.replace_edge(v, wv, k, wv)
    return [v, k, sc, wv], ("DP replica 0, layer 0, TP rank 1 (GPU 1): V (dp0Layer0VProjTp1) is wired into the "
                            "score dp0Layer0ScoresTp1 instead of K, and K (dp0Layer0KProjTp1) feeds the weighted "
                            "sum dp0Layer0WeightValuesTp1 (K and V swapped).")


def d_qkv_into_oproj(g):
    ids = []
    for r in range(2):
        R = "Tp%d" % r
        op = "dp1Layer1OutProj" + R
        for p in ("VProj", "KProj", "QProj"):
            g.insert_edge_after("dp1Layer1WeightValues" + R, op, "dp1Layer1" + p + R, op)
        for part in ("Scores", "Softmax", "WeightValues"):
            g.rm_node("dp1Layer1" + part + R)
        ids += ["dp1Layer1" + p + R for p in ("QProj", "KProj", "VProj")] + [op]
    return ids, ("DP replica 1, layer 1: Q, K and V (dp1Layer1QProjTp0/Tp1, KProj, VProj) go straight into the "
                 "output projections dp1Layer1OutProjTp0 and dp1Layer1OutProjTp1 on both TP ranks (GPUs 2, 3); "
                 "no score, softmax or weighted sum is drawn.")


def d_head_arithmetic(g):
    ids = []
    for k in range(4):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            for p in ("QProj", "KProj", "VProj"):
                nd = g.n("layer1" + p + R)
                nd.out = set_dh(nd.out, 64)
                ids.append(nd.id)
            sc = g.n("layer1Scores" + R)
            sc.ins = [set_dh(s, 64) for s in sc.ins]
            wv = g.n("layer1WeightValues" + R)
            wv.ins = [wv.ins[0], set_dh(wv.ins[1], 64)]
            wv.out = set_dh(wv.out, 64)
            op = g.n("layer1OutProj" + R)
            op.ins = [set_dh(op.ins[0], 64)]
    return ids, ("Layer 1 labels Q/K/V (layer1QProj*, layer1KProj*, layer1VProj*) as 8 heads x head_dim 64 on every "
                 "TP rank (8 x 64 = 512 per rank, 16 x 64 = 1024 in total) while hidden is 2048 "
                 "(2048/TP2 = 1024 per rank, head_dim 128).")


def d_tp_heads(g):
    R = "Ep0Tp0"

    def full(s):   # [B/EP, S, NH/TP, DH] -> [B/EP, S, NH, DH]
        return (s[0].replace("NH/TP", "NH"), s[1][:2] + (16,) + s[1][3:])

    def full_sc(s):  # [B/EP, NH/TP, S, S] -> [B/EP, NH, S, S]
        return (s[0].replace("NH/TP", "NH"), s[1][:1] + (16,) + s[1][2:])

    ids = []
    for p in ("QProj", "KProj", "VProj"):
        nd = g.n("layer0" + p + R)
        nd.out = full(nd.out)
        nd.extra = ["Shard: column, heads 0-15 of 16"]
        ids.append(nd.id)
    sc = g.n("layer0Scores" + R)
    sc.ins = [full(s) for s in sc.ins]
    sc.out = full_sc(sc.out)
    sc.extra = ["Shard: heads 0-15 of 16"]
    sm = g.n("layer0Softmax" + R)
    sm.ins = [full_sc(sm.ins[0])]
    sm.out = full_sc(sm.out)
    sm.extra = ["Shard: heads 0-15 of 16"]
    wv = g.n("layer0WeightValues" + R)
    wv.ins = [full_sc(wv.ins[0]), full(wv.ins[1])]
    wv.out = full(wv.out)
    wv.extra = ["Shard: heads 0-15 of 16"]
    op = g.n("layer0OutProj" + R)
    op.ins = [full(op.ins[0])]
    return ids, ("Layer 0, EP rank 0, TP rank 0 of TP 2 (GPU 0): Project Q/K/V (layer0QProjEp0Tp0, layer0KProjEp0Tp0, "
                 "layer0VProjEp0Tp0) output all 16 heads ([B/EP, S, NH, DH] = [4, 512, 16, 64]) instead of "
                 "16/2 = 8 heads per rank, and the rest of that rank's attention follows with 16 heads.")


def d_edge_shape_mismatch(g):
    n2 = g.n("dp0Layer1Norm2Tp0")
    n2.ins = [("B/DP, S, H", (4, 1024, 1152))]
    return ["dp0Layer1AddResidual1Tp0", "dp0Layer1Norm2Tp0"], (
        "DP replica 0, layer 1, TP rank 0 (GPU 0): RMSNorm dp0Layer1Norm2Tp0 expects hidden 1152 but its producer "
        "dp0Layer1AddResidual1Tp0 outputs hidden 1536 (ratio 4/3, not a parallel degree).")


def d_shard_without_gather(g):
    red = g.n("layer1AttnReduceEp2")
    red.title = "Scatter partial sums (reduce-scatter)"
    red.out = ("B/EP, S, H/TP", (2, 512, 1024))
    return ["layer1AttnReduceEp2", "layer1AddResidual1Ep2Tp0", "layer1AddResidual1Ep2Tp1"], (
        "Layer 1, EP rank 2 (GPUs 4-5): the attention output projections are reduce-scattered by "
        "layer1AttnReduceEp2 into hidden/TP = 2048/2 = 1024 shards that go straight into the full-size "
        "(hidden 2048) residual adds layer1AddResidual1Ep2Tp0 and layer1AddResidual1Ep2Tp1 with no all-gather.")


def d_stage_count(g):
    g.comment = "EP2 TP2 PP3 DP1"
    return ["stage0Marker", "stage1Marker"], ("The graph comment declares PP3 (EP2 TP2 PP3 DP1) but two pipeline "
                                              "stages are drawn (stage0Marker layers 0-1, stage1Marker layers 2-3).")


def d_stage_range_gap(g):
    g.n("stage0Marker").title = "=== PP stage 0: layers 0-0 ==="
    return ["stage0Marker", "stage1Marker"], ("Stage 0 (stage0Marker) claims layers 0-0 and stage 1 (stage1Marker) "
                                              "layers 2-3: layer 1 is in no stage's range (gap), although its "
                                              "operators are drawn in stage 0 on GPUs 0-3.")


def d_stage_missing_layer(g):
    ids = []
    for k in range(2):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            g.replace_edge("layer3AddResidual2" + R, "finalNorm" + R, "layer2AddResidual2" + R, "finalNorm" + R)
            ids.append("layer2AddResidual2" + R)
    for i in [i for i in g.order if g.nodes[i].tag == "layer 3"]:
        g.rm_node(i)
    g.tags.remove("layer 3")
    return ["stage1Marker"] + ids, ("Stage 1 (stage1Marker) claims layers 2-3 but no operator of layer 3 is drawn: "
                                    "layer 2's residual adds (layer2AddResidual2*) feed the final norms directly.")


def d_no_stage_transfer(g):
    ids = []
    for k in range(2):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            send = "stage1Send" + R
            g.replace_edge("layer1AddResidual2" + R, send, "layer1AddResidual2" + R, "stage1Marker")
            g.rm_node(send)
            ids.append("layer1AddResidual2" + R)
    return ids + ["stage1Marker"], ("Stage 0 (GPUs 0-3) and stage 1 (GPUs 4-7) are joined by plain edges from "
                                    "layer1AddResidual2Ep0Tp0..Ep1Tp1 into stage1Marker; the pipeline send/recv "
                                    "(PP0 -> PP1) is missing.")


def _move_expert(g, layer, e, rank_label, gpus_pair):
    ids = []
    for r in range(2):
        nd = g.n("layer%dExpert%dTp%d" % (layer, e, r))
        nd.gpu = gpus_pair[r]
        fl = 1408
        nd.extra = ["Shard: expert %d (EP rank %d), FFN cols %d-%d of 2816, partial sums" % (
            e, rank_label, r * fl, (r + 1) * fl - 1)]
        ids.append(nd.id)
    red = g.n("layer%dExpert%dReduce" % (layer, e))
    red.gpus = list(gpus_pair)
    ids.append(red.id)
    return ids


def d_experts_subset_ranks(g):
    ids = []
    for e in range(8):
        k = e // 4
        ids += _move_expert(g, 1, e, k, (2 * k, 2 * k + 1))
    return ids, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, experts 4-7 on GPUs 2-3); "
                 "EP ranks 2 and 3 (GPUs 4-7) hold none of its experts although EP is 4 (8/4 = 2 per rank).")


def d_experts_uneven(g):
    ids = _move_expert(g, 0, 3, 0, (0, 1))
    return ids, ("Layer 0's expert 3 (layer0Expert3Tp0/Tp1, layer0Expert3Reduce) sits on EP rank 0 (GPUs 0-1) "
                 "instead of rank 1 (GPUs 2-3): ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu(g):
    ids = _move_expert(g, 1, 3, 1, (0, 1))
    return ids, ("Layer 1's expert 3 (EP rank 1 by its label) is placed on GPUs 0-1 (layer1Expert3Tp0/Tp1, "
                 "layer1Expert3Reduce), which hold EP rank 0's experts 0 and 1; EP rank 1's GPUs 2-3 keep only "
                 "expert 2.")


def d_no_gate(g):
    ids = []
    for k in range(2):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            g.replace_edge("layer2Norm2" + R, "layer2Router" + R, "layer2Norm2" + R, "layer2Dispatch")
            g.rm_node("layer2Router" + R)
            ids.append("layer2Norm2" + R)
    return ids + ["layer2Dispatch"], ("Layer 2 has no router: the RMSNorm outputs layer2Norm2Ep0Tp0..Ep1Tp1 go "
                                      "straight into the dispatch all-to-all layer2Dispatch and on to the 4 experts.")


def d_no_all_to_all(g):
    ids = []
    experts = [i for i in g.order if i.startswith("layer1Expert") and "Reduce" not in i]
    # the router edges are rewired where the router -> dispatch edges were
    for k in range(4):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            rt = "layer1Router" + R
            for ex in experts:
                if ex.endswith("Tp%d" % r):
                    g.insert_edge_after(rt, "layer1Dispatch", rt, ex, style="dashed")
            ids.append(rt)
    g.rm_node("layer1Dispatch")
    return ids, ("Layer 1's routers (layer1RouterEp0Tp0..Ep3Tp1) send tokens straight to the experts on EP ranks "
                 "0-3 (EP 4, GPUs 0-7) without a dispatch all-to-all.")


def d_tp_rank_missing(g):
    for k in range(4):
        R = "Ep%dTp1" % k
        for part in ("Norm1", "QProj", "KProj", "VProj", "Scores", "Softmax", "WeightValues", "OutProj"):
            g.rm_node("layer1" + part + R)
    ids = ["layer1AttnReduceEp%d" % k for k in range(4)]
    return ids, ("Layer 1's attention operators (norm, Q/K/V, scores, softmax, weighted sum, output projection) are "
                 "drawn for TP rank 0 only; TP rank 1 (GPUs 1, 3, 5, 7) of TP 2 is missing, so the all-reduces "
                 "layer1AttnReduceEp0..Ep3 get one partial sum each.")


def d_no_allreduce_after_rowparallel(g):
    red = "dp0Layer0MlpReduce"
    for r in range(2):
        R = "Tp%d" % r
        g.replace_edge("dp0Layer0DownProj" + R, red, "dp0Layer0DownProj" + R, "dp0Layer0AddResidual2" + R)
    g.rm_node(red)
    return ["dp0Layer0DownProjTp0", "dp0Layer0DownProjTp1", "dp0Layer0AddResidual2Tp0", "dp0Layer0AddResidual2Tp1"], (
        "DP replica 0, layer 0: the row-parallel MLP down projections dp0Layer0DownProjTp0/Tp1 (GPUs 0, 1) feed the "
        "residual adds dp0Layer0AddResidual2Tp0/Tp1 directly, without the TP all-reduce of their partial sums.")


def d_cross_gpu_no_comm(g):
    g.replace_edge("dp1Layer0AddResidual2Tp0", "dp1Layer1Norm1Tp0", "dp0Layer0AddResidual2Tp0", "dp1Layer1Norm1Tp0")
    return ["dp0Layer0AddResidual2Tp0", "dp1Layer1Norm1Tp0"], (
        "dp0Layer0AddResidual2Tp0 on GPU 0 (DP replica 0) feeds dp1Layer1Norm1Tp0 on GPU 2 (DP replica 1) by a "
        "plain edge, with no communication node.")


def d_comm_wrong_shape(g):
    g.n("layer0AttnReduceEp1").shape = "box"
    return ["layer0AttnReduceEp1"], ("Layer 0's attention all-reduce for EP rank 1 (layer0AttnReduceEp1, GPUs 2-3) "
                                     "is drawn as a box (computation) instead of an ellipse.")


def d_missing_gpu(g):
    nd = g.n("layer0SoftmaxEp1Tp0")
    nd.gpu = None
    nd.gpus = None
    return [nd.id], ("Softmax of layer 0, EP rank 1, TP rank 0 (layer0SoftmaxEp1Tp0) sits outside every GPU lane "
                     "and has no GPUs line, so it has no placement.")


def d_gpu_out_of_range(g):
    ids = []
    for r in range(2):
        nd = g.n("layer1Expert5Tp%d" % r)
        nd.gpu = 8 + r
        ids.append(nd.id)
    g.n("layer1Expert5Reduce").gpus = [8, 9]
    ids.append("layer1Expert5Reduce")
    return ids, ("Layer 1's expert 5 (layer1Expert5Tp0/Tp1 and its all-reduce) is placed on GPUs 8-9, beyond the "
                 "8 GPUs of EP4 x TP2 x PP1 x DP1 (ids 0-7).")


def d_stages_share_gpus(g):
    for nd in g.nodes.values():
        if nd.id.startswith("stage1Send"):
            nd.gpus = [nd.gpus[0], nd.gpus[1] - 2]
            continue
        if nd.id == "input" or nd.id == "stage0Marker":
            continue
        if nd.gpu is not None and nd.gpu >= 4:
            nd.gpu -= 2
        elif nd.gpu is None and nd.gpus and min(nd.gpus) >= 4:
            nd.gpus = [x - 2 for x in nd.gpus]
    return ["stage0Marker", "stage1Marker"], ("Stage 1 (stage1Marker, layers 2-3) is placed on GPUs 2-5, overlapping "
                                              "stage 0's GPUs 0-3 (GPUs 2-3 in both); GPUs 6-7 are unused.")


def d_strategy_mismatch(g):
    g.comment = "EP1 TP4 PP1 DP2"
    return [], ("The graph comment declares TP4 (EP1 TP4 PP1 DP2, 8 GPUs) but every tensor-parallel operator is "
                "drawn for TP ranks 0-1 only (TP 2, 4 GPUs).")


def d_missing_shapes(g):
    nd = g.n("layer1OutProjEp1Tp1")
    nd.ins = []
    nd.out = None
    return [nd.id], ("Project output of layer 1, EP rank 1, TP rank 1 (layer1OutProjEp1Tp1, GPU 3) has no Input or "
                     "Output line.")


def d_placeholder(g):
    nd = g.n("layer2RouterEp1Tp0")
    nd.ins = [("B/EP, S, H", ("?", 512, 1024))]
    return [nd.id], ("Layer 2's router layer2RouterEp1Tp0 (GPU 6) gives its input as [B/EP, S, H] = [?, 512, 1024], "
                     "a placeholder instead of 4.")


def d_moe_before_attention(g):
    ids = []
    for k in range(2):
        for r in range(2):
            R = "Ep%dTp%d" % (k, r)
            m = "stage1Marker"
            n1, n2 = "layer2Norm1" + R, "layer2Norm2" + R
            a1, a2 = "layer2AddResidual1" + R, "layer2AddResidual2" + R
            l3n, l3a = "layer3Norm1" + R, "layer3AddResidual1" + R
            g.replace_edge(m, n1, m, n2)
            g.replace_edge(m, a1, m, a2)
            g.replace_edge(a1, n2, a2, n1)
            g.replace_edge(a1, a2, a2, a1)
            g.replace_edge(a2, l3n, a1, l3n)
            g.replace_edge(a2, l3a, a1, l3a)
            ids += [n2, n1]
    return ids, ("Layer 2 runs its MoE block (norm2, router, experts, residual) before its attention block on all 4 "
                 "GPUs of stage 1: stage1Marker feeds layer2Norm2*, the MoE residual layer2AddResidual2* feeds "
                 "layer2Norm1*, and the attention residual layer2AddResidual1* feeds layer 3.")


def d_missing_residual(g):
    g.rm_edge("dp0Layer0AddResidual2Tp0", "dp0Layer1AddResidual1Tp0")
    return ["dp0Layer1AddResidual1Tp0"], ("DP replica 0, layer 1, TP rank 0 (GPU 0): the attention residual add "
                                          "dp0Layer1AddResidual1Tp0 is fed only by the all-reduce; the skip edge from "
                                          "dp0Layer0AddResidual2Tp0 is missing.")


DEFECTS = [
    ("cycle", "structure", "clean_1.dot", d_cycle),
    ("dangling_input", "structure", "clean_1.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_1.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_2.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_3.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_2.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_1.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_2.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_3.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_2.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_1.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_1.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct 4-layer MoE (E=4, top-2, H=1024, 16 heads x 64) on EP2 TP2 PP2 DP1 = 8 GPUs: stage 0 "
                   "layers 0-1 on GPUs 0-3, stage 1 layers 2-3 on GPUs 4-7, joined by per-GPU send/recv.",
    "clean_2.dot": "Correct 2-layer MoE (E=8, top-2, H=2048, 16 heads x 128) on EP4 TP2 PP1 DP1 = 8 GPUs, "
                   "2 experts per EP rank, attention data-parallel over the EP ranks.",
    "clean_3.dot": "Correct 3-layer dense model (H=1536, 12 heads x 128, FFN 4096) on EP1 TP2 PP1 DP2 = 4 GPUs, "
                   "both DP replicas drawn (GPUs 0-1 and 2-3).",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    manifest = []
    texts = {}
    ok = True
    for fname, cfg in CFGS.items():
        g = build(cfg)
        errs = self_check(g)
        if errs:
            ok = False
            print("SELF-CHECK %s:" % fname, *errs[:20], sep="\n  ")
        texts[fname] = g.render()
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(texts[fname])
        manifest.append({"file": fname, "kind": "clean", "category": None, "base": None, "nodes": [],
                         "what": CLEAN_WHAT[fname]})
    for kind, cat, base, fn in DEFECTS:
        g = build(CFGS[base])
        nodes, what = fn(g)
        for i in nodes:
            assert i in g.nodes, (kind, i)
        text = g.render()
        assert text != texts[base], kind
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(text)
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base, "nodes": nodes,
                         "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
