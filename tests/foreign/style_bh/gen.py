#!/usr/bin/env python3
"""House style "bh": heavy MoE deployment DAGs (EP16 x expert-TP2, attention TP2 x DP8).

Run `python3 gen.py` in this folder: writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot
per defect kind, and out/manifest.json.  Stdlib only.

House style (applied to every file):
  * Every expert is split over a TP2 pair and drawn as TWO nodes, one per TP shard
    ("Layer 1 Expert 7 up+down (TP shard 0/2)"), followed by a per-expert NCCL all-reduce.
  * Attention is data-parallel over attention groups, each group a TP2 pair; every operator
    is drawn once per TP rank of every group.  Ids: L<layer>_ag<group>_tp<rank>_<op>.
  * Conventional labels: first line names the operator (with "Layer N" prefix), then
    "Input: [tokens=.., hidden=..]", "Output: [...]", "GPU: n" (communication: "GPUs: a,b").
  * Strategy in the graph label, e.g. "EP16-TP2-PP1-DP1 (attention: TP2 x DP8)", followed by
    a "Total GPUs: ..." line explaining the count.
  * Own quirk 1 (wording/annotation): every communication label starts with "NCCL" and ends
    with a "Bytes: ..." line giving its payload (bf16 activations, int32 token ids).
  * Own quirk 2 (colour + comments): computation/routing nodes are filled with one pastel
    colour per GPU pair (TP2 group), communication ellipses are unfilled with a bold border
    coloured by collective (blue all-reduce / reduce-scatter, red all-to-all, green
    send/recv, purple scatter/gather), the legend is the last line of the graph label, and
    every cluster is preceded by a "// ===== ... =====" banner comment.
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

PALETTE = [
    "#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc", "#d9d2e9", "#fce5cd", "#d0e0e3", "#ead1dc",
    "#c9daf8", "#b6d7a8", "#ffe599", "#ea9999", "#b4a7d6", "#f9cb9c", "#a2c4c9", "#d5a6bd",
]
COMM_COLOUR = {"ar": "#1f5fbf", "rs": "#1f5fbf", "a2a": "#c0392b", "p2p": "#1e8449",
               "scatter": "#7d3c98", "gather": "#7d3c98"}


def shp(**kw):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in kw.items()) + "]"


def fmt_bytes(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.2f %s" % (n / div, unit)
    return "%d B" % n


# --------------------------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------------------------
class Graph:
    def __init__(self, name):
        self.name = name
        self.order = []          # node ids in drawing order
        self.nodes = {}          # id -> dict
        self.edges = []          # [src, dst, attrs]
        self.clusters = {}       # key -> {"label", "parent", "banner"}
        self.cluster_order = []
        self.decl = {}           # declared strategy (graph label + header comment)
        self.label_extra = []    # model / legend lines of the graph label

    # nodes ---------------------------------------------------------------------------------
    def add(self, nid, kind, title, ins, outs, gpu, cluster, extra=(), ctype=None,
            shape=None, after=None):
        assert nid not in self.nodes, nid
        if shape is None:
            shape = {"comp": "box", "io": "box", "route": "parallelogram",
                     "comm": "ellipse"}[kind]
        self.nodes[nid] = {"kind": kind, "title": title, "ins": list(ins) if ins else None,
                           "outs": list(outs) if outs else None, "gpu": gpu,
                           "cluster": cluster, "extra": list(extra), "ctype": ctype,
                           "shape": shape}
        if after is None:
            self.order.append(nid)
        else:
            self.order.insert(self.order.index(after) + 1, nid)
        return nid

    def cluster(self, key, label, parent=None, banner=None):
        self.clusters[key] = {"label": label, "parent": parent, "banner": banner or label}
        self.cluster_order.append(key)
        return key

    def e(self, a, b, **attrs):
        self.edges.append([a, b, dict(attrs)])

    def rm_node(self, nid):
        self.order.remove(nid)
        del self.nodes[nid]
        self.edges = [x for x in self.edges if x[0] != nid and x[1] != nid]

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == a and x[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def redirect(self, a, b, new_a=None, new_b=None):
        """Re-point the existing edge a->b (keeps its position in the edge list)."""
        for x in self.edges:
            if x[0] == a and x[1] == b:
                x[0] = new_a or a
                x[1] = new_b or b
                return
        raise KeyError((a, b))

    def rename(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        for x in self.edges:
            if x[0] == old:
                x[0] = new
            if x[1] == old:
                x[1] = new

    # rendering -----------------------------------------------------------------------------
    def strategy_string(self):
        d = self.decl
        return "EP%d-TP%d-PP%d-DP%d (attention: TP%d x DP%d)" % (
            d["ep"], d["tp"], d["pp"], d["dp"], d["attn_tp"], d["attn_dp"])

    def total_line(self):
        d = self.decl
        total = d["ep"] * d["tp"] * d["pp"] * d["dp"]
        per_stage = d["ep"] * d["tp"]
        s = ("Total GPUs: %d = EP%d x TP%d x PP%d x DP%d; per stage %d GPUs = EP%d ranks x "
             "one TP%d group each (EP rank r holds experts %dr..%dr+%d)" % (
                 total, d["ep"], d["tp"], d["pp"], d["dp"], per_stage, d["ep"], d["tp"],
                 d["epr"], d["epr"], d["epr"] - 1))
        attn = d["attn_tp"] * d["attn_dp"]
        if attn == per_stage:
            s += "; attention TP%d x DP%d covers the same %d GPUs" % (
                d["attn_tp"], d["attn_dp"], attn)
        else:
            s += ("; attention TP%d x DP%d runs on the first %d GPUs of the stage, the "
                  "other %d GPUs hold experts only" % (d["attn_tp"], d["attn_dp"], attn,
                                                      per_stage - attn))
        return s

    def label_of(self, nid):
        n = self.nodes[nid]
        lines = [n["title"]]
        if n["ins"]:
            lines.append("Input: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("Output: " + ", ".join(n["outs"]))
        if n["gpu"] is not None:
            lines.append(("GPUs: " if n["kind"] == "comm" else "GPU: ") + str(n["gpu"]))
        lines.extend(n["extra"])
        return "\\n".join(x.replace('"', '\\"') for x in lines)

    def node_line(self, nid, ind):
        n = self.nodes[nid]
        attrs = ['shape=%s' % n["shape"], 'label="%s"' % self.label_of(nid)]
        if n["kind"] == "comm":
            attrs.append('style="bold"')
            attrs.append('color="%s"' % COMM_COLOUR[n["ctype"]])
        elif n["kind"] == "io":
            attrs.append('style="filled,bold"')
            attrs.append('fillcolor="white"')
        else:
            g = n["gpu"]
            try:
                pair = int(str(g)) // 2
                fill = PALETTE[pair % len(PALETTE)]
            except (TypeError, ValueError):
                fill = "white"
            attrs.append('style="filled"')
            attrs.append('fillcolor="%s"' % fill)
        return '%s"%s" [%s];' % (ind, nid, ", ".join(attrs))

    def render(self):
        out = []
        out.append("// House style bh: heavy MoE deployment DAG (expert TP shards drawn per node)")
        out.append("// Strategy: %s" % self.strategy_string())
        out.append("// %s" % self.total_line())
        out.append("// Written by gen.py (style_bh); one forward pass (prefill), bf16 activations")
        out.append('digraph "%s" {' % self.name)
        glabel = [self.strategy_string(), self.total_line()] + self.label_extra
        out.append('  graph [label="%s", labelloc=t, labeljust=l, fontsize=16, rankdir=TB, '
                   'newrank=true, fontname="Helvetica"];'
                   % "\\n".join(x.replace('"', '\\"') for x in glabel))
        out.append('  node [shape=box, fontname="Helvetica", fontsize=9];')
        out.append('  edge [arrowsize=0.6, color="#444444"];')
        out.append("")
        by_cluster = {}
        for nid in self.order:
            by_cluster.setdefault(self.nodes[nid]["cluster"], []).append(nid)
        children = {}
        for key in self.cluster_order:
            children.setdefault(self.clusters[key]["parent"], []).append(key)

        def emit(key, depth):
            ind = "  " * depth
            if key is not None:
                c = self.clusters[key]
                out.append("%s// ===== %s =====" % (ind, c["banner"]))
                out.append("%ssubgraph cluster_%s {" % (ind, key))
                out.append('%s  label="%s"; style="rounded"; color="#888888";'
                           % (ind, c["label"]))
                ind2 = ind + "  "
            else:
                ind2 = ind
            for nid in by_cluster.get(key, []):
                out.append(self.node_line(nid, ind2))
            for ch in children.get(key, []):
                emit(ch, depth + 1)
            if key is not None:
                out.append("%s}" % ind)

        emit(None, 1)
        out.append("")
        out.append("  // ===== data flow =====")
        for a, b, attrs in self.edges:
            if attrs:
                s = ", ".join('%s="%s"' % (k, v) for k, v in attrs.items())
                out.append('  "%s" -> "%s" [%s];' % (a, b, s))
            else:
                out.append('  "%s" -> "%s";' % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# builder
# --------------------------------------------------------------------------------------------
ROUTE_EDGE = {"style": "dashed", "label": "ids+weights"}


def build(cfg, stage_base=None):
    """cfg: see CONFIGS.  stage_base overrides the first GPU of every stage."""
    H, heads, hd, T = cfg["H"], cfg["heads"], cfg["hd"], cfg["T"]
    NG, TP, E, EP, K = cfg["groups"], 2, cfg["E"], cfg["EP"], cfg["topk"]
    hr = heads // TP                    # heads per TP rank
    epr = E // EP                       # experts per EP rank
    gps = EP * TP                       # GPUs per stage
    stages = cfg["stages"]              # list of (first_layer, last_layer)
    base = stage_base or [s * gps for s in range(len(stages))]
    ntok = NG * T
    Te = ntok * K // E                  # tokens per expert (balanced routing)
    act = shp(tokens=T, hidden=H)
    qsh = shp(tokens=T, heads=hr, head_dim=hd)
    ssh = shp(heads=hr, q_tokens=T, kv_tokens=T)
    rsh = shp(tokens=T, top_k=K)
    csh = shp(tokens=T, top_k=K, hidden=H)
    esh = shp(tokens=Te, hidden=H)
    B = 2  # bf16

    G = Graph(cfg["name"])
    G.decl = {"ep": EP, "tp": TP, "pp": len(stages), "dp": 1, "attn_tp": TP,
              "attn_dp": NG, "epr": epr}
    G.label_extra = [cfg["model_line"],
                     "Legend: fill colour = GPU pair (one TP2 group); ellipse border: blue = "
                     "all-reduce, red = all-to-all, green = send/recv, purple = "
                     "scatter/gather; dashed edge = router ids+weights"]

    def gpu(s, g, t):
        return base[s] + 2 * g + t

    def pair(s, g):
        return "%d,%d" % (gpu(s, g, 0), gpu(s, g, 1))

    ranks = [(g, t) for g in range(NG) for t in range(TP)]

    # ---- input --------------------------------------------------------------------------
    G.add("INPUT", "io", "Input (token ids, one batch)", [shp(tokens=ntok)],
          [shp(tokens=ntok)], base[0], None)
    last_attn_gpu = base[0] + 2 * NG - 1
    for s, (a, b) in enumerate(stages):
        G.cluster("stage%d" % s, "PP Stage %d: Layers %d-%d (GPUs %d-%d)" % (
            s, a, b, base[s], base[s] + gps - 1))
    G.add("tok_scatter", "comm", "NCCL Scatter token ids to %d attention groups" % NG,
          [shp(tokens=ntok)], [shp(tokens=T)], "%d-%d" % (base[0], last_attn_gpu),
          "stage0", ["Bytes: %s total (int32 ids)" % fmt_bytes(ntok * 4)], ctype="scatter")
    G.e("INPUT", "tok_scatter")
    cur = {}
    for g, t in ranks:
        nid = G.add("emb_ag%d_tp%d" % (g, t), "comp",
                    "Embedding lookup (group %d, TP rank %d, full vocab replica)" % (g, t),
                    [shp(tokens=T)], [act], gpu(0, g, t), "stage0")
        G.e("tok_scatter", nid)
        cur[(g, t)] = nid

    for s, (la, lb) in enumerate(stages):
        sk = "stage%d" % s
        if s > 0:
            for g, t in ranks:
                nid = G.add("pp%dto%d_ag%d_tp%d" % (s - 1, s, g, t), "comm",
                            "NCCL Send/Recv PP%d → PP%d (group %d, TP rank %d)" % (
                                s - 1, s, g, t),
                            [act], [act], "%d,%d" % (gpu(s - 1, g, t), gpu(s, g, t)), None,
                            ["Bytes: %s (bf16)" % fmt_bytes(T * H * B)], ctype="p2p")
                G.e(cur[(g, t)], nid)
                cur[(g, t)] = nid
        for l in range(la, lb + 1):
            ltype = cfg["layer_types"][l]
            lk = G.cluster("%s_L%d" % (sk, l), "Layer %d (%s)" % (
                l, "MoE: attention + %d experts top-%d" % (E, K) if ltype == "moe"
                else "dense: attention + TP%d MLP" % TP), parent=sk)
            res1 = {}
            gk = {}
            # ---- attention, per group and TP rank ----------------------------------------
            for g in range(NG):
                gk[g] = G.cluster("%s_ag%d" % (lk, g), "Layer %d · attention group %d · "
                                  "GPUs %s" % (l, g, pair(s, g)), parent=lk)
                oprojs = []
                for t in range(TP):
                    p = "L%d_ag%d_tp%d_" % (l, g, t)
                    gp = gpu(s, g, t)
                    tag = "(group %d, TP rank %d)" % (g, t)
                    shard = "(group %d, TP shard %d/2)" % (g, t)
                    n1 = G.add(p + "norm1", "comp", "Layer %d RMSNorm pre-attention %s"
                               % (l, tag), [act], [act], gp, gk[g])
                    G.e(cur[(g, t)], n1)
                    if cfg["fused_qkv"]:
                        qkv = G.add(p + "qkv", "comp", "Layer %d Fused QKV proj column-parallel "
                                    "%s" % (l, shard), [act],
                                    [shp(tokens=T, qkv=3 * hr * hd)], gp, gk[g])
                        sp = G.add(p + "qkv_split", "route", "Layer %d QKV Split into Q | K | V "
                                   "%s" % (l, shard), [shp(tokens=T, qkv=3 * hr * hd)],
                                   [qsh, qsh, qsh], gp, gk[g])
                        G.e(n1, qkv)
                        G.e(qkv, sp)
                        qn = kn = vn = sp
                    else:
                        qn = G.add(p + "qproj", "comp", "Layer %d Q proj column-parallel %s"
                                   % (l, shard), [act], [qsh], gp, gk[g])
                        kn = G.add(p + "kproj", "comp", "Layer %d K proj column-parallel %s"
                                   % (l, shard), [act], [qsh], gp, gk[g])
                        vn = G.add(p + "vproj", "comp", "Layer %d V proj column-parallel %s"
                                   % (l, shard), [act], [qsh], gp, gk[g])
                        for x in (qn, kn, vn):
                            G.e(n1, x)
                    sc = G.add(p + "score", "comp", "Layer %d Attention scores QK^T/sqrt(%d) %s"
                               % (l, hd, shard), [qsh, qsh], [ssh], gp, gk[g])
                    sm = G.add(p + "softmax", "comp", "Layer %d Softmax (causal mask) %s"
                               % (l, shard), [ssh], [ssh], gp, gk[g])
                    cx = G.add(p + "ctx", "comp", "Layer %d Attention weighted sum softmax·V "
                               "(context) %s" % (l, shard), [ssh, qsh], [qsh], gp, gk[g])
                    op = G.add(p + "oproj", "comp", "Layer %d Output projection row-parallel, "
                               "partial sum %s" % (l, shard), [qsh], [act], gp, gk[g])
                    if cfg["fused_qkv"]:
                        G.e(qn, sc, label="Q, K")
                        G.e(sc, sm)
                        G.e(sm, cx)
                        G.e(vn, cx, label="V")
                    else:
                        G.e(qn, sc)
                        G.e(kn, sc)
                        G.e(sc, sm)
                        G.e(sm, cx)
                        G.e(vn, cx)
                    G.e(cx, op)
                    oprojs.append(op)
                ar = G.add("L%d_ag%d_attn_ar" % (l, g), "comm",
                           "Layer %d NCCL All-Reduce attention output (group %d, TP2)" % (l, g),
                           [act], [act], pair(s, g), gk[g],
                           ["Bytes: %s per rank (bf16)" % fmt_bytes(T * H * B)], ctype="ar")
                for op in oprojs:
                    G.e(op, ar)
                for t in range(TP):
                    r1 = G.add("L%d_ag%d_tp%d_res1" % (l, g, t), "comp",
                               "Layer %d Residual add (attention) (group %d, TP rank %d)"
                               % (l, g, t), [act, act], [act], gpu(s, g, t), gk[g])
                    G.e(ar, r1)
                    G.e(cur[(g, t)], r1, label="skip")
                    res1[(g, t)] = r1
            # ---- FFN -------------------------------------------------------------------
            if ltype == "moe":
                ek = G.cluster("%s_moe" % lk, "Layer %d · MoE experts: EP%d x TP2 over GPUs "
                               "%d-%d (%d experts, %d per EP rank)" % (
                                   l, EP, base[s], base[s] + gps - 1, E, epr), parent=lk)
                disp = "L%d_a2a_dispatch" % l
                comb = "L%d_a2a_combine" % l
                routers = {}
                norms = {}
                for g, t in ranks:
                    p = "L%d_ag%d_tp%d_" % (l, g, t)
                    tag = "(group %d, TP rank %d)" % (g, t)
                    n2 = G.add(p + "norm2", "comp", "Layer %d RMSNorm pre-MoE %s" % (l, tag),
                               [act], [act], gpu(s, g, t), gk[g])
                    rt = G.add(p + "router", "route", "Layer %d MoE Router / Gate top-%d of %d "
                               "%s" % (l, K, E, tag), [act], [rsh], gpu(s, g, t), gk[g])
                    G.e(res1[(g, t)], n2)
                    G.e(n2, rt)
                    norms[(g, t)] = n2
                    routers[(g, t)] = rt
                G.add(disp, "comm", "Layer %d NCCL All-to-All dispatch (EP%d; each TP rank "
                      "sends half of its group's tokens)" % (l, EP), [act, rsh], [esh],
                      "%d-%d" % (base[s], base[s] + gps - 1), ek,
                      ["Bytes: %s total (bf16)" % fmt_bytes(ntok * K * H * B)], ctype="a2a")
                for g, t in ranks:
                    G.e(norms[(g, t)], disp)
                    G.e(routers[(g, t)], disp, **ROUTE_EDGE)
                for e in range(E):
                    r = e // epr
                    shards = []
                    for sh in range(TP):
                        gp = base[s] + 2 * r + sh
                        x = G.add("L%d_E%02d_tp%d" % (l, e, sh), "comp",
                                  "Layer %d Expert %d up+down (TP shard %d/2)" % (l, e, sh),
                                  [esh], [esh], gp, ek, ["EP rank: %d" % r])
                        G.e(disp, x)
                        shards.append(x)
                    ear = G.add("L%d_E%02d_ar" % (l, e), "comm",
                                "Layer %d NCCL All-Reduce Expert %d (TP shards 0+1)" % (l, e),
                                [esh], [esh], "%d,%d" % (base[s] + 2 * r, base[s] + 2 * r + 1),
                                ek, ["Bytes: %s per rank (bf16)" % fmt_bytes(Te * H * B)],
                                ctype="ar")
                    for x in shards:
                        G.e(x, ear)
                    G.e(ear, comb)
                G.add(comb, "comm", "Layer %d NCCL All-to-All combine (EP%d; results return to "
                      "both TP ranks of each group)" % (l, EP), [esh], [csh],
                      "%d-%d" % (base[s], base[s] + gps - 1), ek,
                      ["Bytes: %s total (bf16)" % fmt_bytes(ntok * K * H * B)], ctype="a2a")
                for g, t in ranks:
                    p = "L%d_ag%d_tp%d_" % (l, g, t)
                    wc = G.add(p + "wcombine", "route", "Layer %d MoE Weighted Combine top-%d "
                               "(group %d, TP rank %d)" % (l, K, g, t), [csh, rsh], [act],
                               gpu(s, g, t), gk[g])
                    G.e(comb, wc)
                    G.e(routers[(g, t)], wc, **ROUTE_EDGE)
                    r2 = G.add(p + "res2", "comp", "Layer %d Residual add (MoE) (group %d, TP "
                               "rank %d)" % (l, g, t), [act, act], [act], gpu(s, g, t), gk[g])
                    G.e(wc, r2)
                    G.e(res1[(g, t)], r2, label="skip")
                    cur[(g, t)] = r2
            else:
                F = cfg["ffn_dense"] // TP
                for g in range(NG):
                    downs = []
                    for t in range(TP):
                        p = "L%d_ag%d_tp%d_" % (l, g, t)
                        gp = gpu(s, g, t)
                        shard = "(group %d, TP shard %d/2)" % (g, t)
                        n2 = G.add(p + "norm2", "comp", "Layer %d RMSNorm pre-MLP (group %d, TP "
                                   "rank %d)" % (l, g, t), [act], [act], gp, gk[g])
                        up = G.add(p + "mlp_up", "comp", "Layer %d MLP gate+up column-parallel %s"
                                   % (l, shard), [act], [shp(tokens=T, gate_up=2 * F)], gp, gk[g])
                        ac = G.add(p + "mlp_act", "comp", "Layer %d SwiGLU %s" % (l, shard),
                                   [shp(tokens=T, gate_up=2 * F)], [shp(tokens=T, ffn=F)], gp,
                                   gk[g])
                        dn = G.add(p + "mlp_down", "comp", "Layer %d MLP down row-parallel, "
                                   "partial sum %s" % (l, shard), [shp(tokens=T, ffn=F)], [act],
                                   gp, gk[g])
                        G.e(res1[(g, t)], n2)
                        G.e(n2, up)
                        G.e(up, ac)
                        G.e(ac, dn)
                        downs.append(dn)
                    mar = G.add("L%d_ag%d_mlp_ar" % (l, g), "comm",
                                "Layer %d NCCL All-Reduce MLP output (group %d, TP2)" % (l, g),
                                [act], [act], pair(s, g), gk[g],
                                ["Bytes: %s per rank (bf16)" % fmt_bytes(T * H * B)],
                                ctype="ar")
                    for dn in downs:
                        G.e(dn, mar)
                    for t in range(TP):
                        r2 = G.add("L%d_ag%d_tp%d_res2" % (l, g, t), "comp",
                                   "Layer %d Residual add (MLP) (group %d, TP rank %d)"
                                   % (l, g, t), [act, act], [act], gpu(s, g, t), gk[g])
                        G.e(mar, r2)
                        G.e(res1[(g, t)], r2, label="skip")
                        cur[(g, t)] = r2

    # ---- head ---------------------------------------------------------------------------
    sl = len(stages) - 1
    sk = "stage%d" % sl
    V = cfg.get("vocab")
    final = []
    for g, t in ranks:
        fn = G.add("final_norm_ag%d_tp%d" % (g, t), "comp", "Final RMSNorm (group %d, TP rank %d)"
                   % (g, t), [act], [act], gpu(sl, g, t), sk)
        G.e(cur[(g, t)], fn)
        if V:
            lm = G.add("lm_head_ag%d_tp%d" % (g, t), "comp", "LM Head vocab-parallel (group %d, "
                       "TP shard %d/2)" % (g, t), [act], [shp(tokens=T, vocab=V // TP)],
                       gpu(sl, g, t), sk)
            G.e(fn, lm)
            final.append(lm)
        else:
            final.append(fn)
    lo = base[sl]
    if V:
        gin, gout = shp(tokens=T, vocab=V // TP), shp(tokens=ntok, vocab=V)
        gtitle = "NCCL Gather logits (vocab shards of both TP ranks, all groups)"
    else:
        gin, gout = act, shp(tokens=ntok, hidden=H)
        gtitle = "NCCL Gather hidden states (all groups; the two TP replicas are identical)"
    elems = 1
    for part in gout.strip("[]").split(", "):
        elems *= int(part.split("=")[1])
    G.add("out_gather", "comm", gtitle, [gin], [gout], "%d-%d" % (lo, lo + 2 * NG - 1), sk,
          ["Bytes: %s total (bf16)" % fmt_bytes(elems * B)], ctype="gather")
    for x in final:
        G.e(x, "out_gather")
    G.add("OUTPUT", "io", "Output (%s)" % ("logits" if V else "final hidden states"), [gout],
          [gout], lo, None)
    G.e("out_gather", "OUTPUT")
    return G


CONFIGS = {
    "clean_1.dot": {
        "name": "bh_moe_ep16_tp2_2layers",
        "H": 4096, "heads": 32, "hd": 128, "T": 512, "groups": 8, "E": 32, "EP": 16,
        "topk": 2, "stages": [(0, 1)], "layer_types": ["moe", "moe"], "fused_qkv": False,
        "vocab": None,
        "model_line": "Model: 2 MoE layers, hidden 4096, 32 heads x head_dim 128 (16 per TP "
                      "rank), 32 experts top-2; 8 attention groups x 512 tokens = 4096 tokens "
                      "(256 tokens per expert)",
    },
    "clean_2.dot": {
        "name": "bh_moe_ep16_tp2_dense_first",
        "H": 2048, "heads": 16, "hd": 128, "T": 256, "groups": 8, "E": 32, "EP": 16,
        "topk": 2, "stages": [(0, 2)], "layer_types": ["dense", "moe", "moe"],
        "fused_qkv": True, "vocab": 64000, "ffn_dense": 5632,
        "model_line": "Model: 3 layers (layer 0 dense MLP 5632, layers 1-2 MoE), hidden 2048, "
                      "16 heads x head_dim 128 (8 per TP rank, fused QKV), 32 experts top-2, "
                      "vocab 64000; 8 attention groups x 256 tokens = 2048 tokens (128 tokens "
                      "per expert)",
    },
    "clean_3.dot": {
        "name": "bh_moe_ep4_tp2_pp2",
        "H": 3072, "heads": 24, "hd": 128, "T": 256, "groups": 4, "E": 8, "EP": 4,
        "topk": 2, "stages": [(0, 1), (2, 3)], "layer_types": ["moe"] * 4,
        "fused_qkv": False, "vocab": None,
        "model_line": "Model: 4 MoE layers, hidden 3072, 24 heads x head_dim 128 (12 per TP "
                      "rank), 8 experts top-2; 4 attention groups x 256 tokens = 1024 tokens "
                      "(256 tokens per expert); stage 0 = layers 0-1, stage 1 = layers 2-3",
    },
}


def clean(name, **kw):
    return build(CONFIGS[name], **kw)


# --------------------------------------------------------------------------------------------
# defects: each returns (graph, base, category, nodes, what)
# --------------------------------------------------------------------------------------------
def d_cycle():
    G = clean("clean_1.dot")
    ar, r1 = "L1_ag2_attn_ar", "L1_ag2_tp0_res1"
    G.e(r1, ar)
    return G, "clean_1.dot", "structure", [ar, r1], (
        "Layer 1, attention group 2: the attention All-Reduce %s -> residual add %s is also "
        "drawn back (%s -> %s), a two-node cycle through the communication node (GPU 4)."
        % (ar, r1, r1, ar))


def d_dangling_input():
    G = clean("clean_2.dot")
    n = "L1_ag5_tp1_norm2"
    G.rm_edge("L1_ag5_tp1_res1", n)
    return G, "clean_2.dot", "structure", [n], (
        "Layer 1, attention group 5, TP rank 1 (GPU 11): the pre-MoE RMSNorm %s has no incoming "
        "edge (its input from L1_ag5_tp1_res1 was removed), yet it feeds the router and the "
        "dispatch all-to-all." % n)


def d_dangling_output():
    G = clean("clean_1.dot")
    n = "L1_E21_tp1"
    G.rm_edge(n, "L1_E21_ar")
    return G, "clean_1.dot", "structure", [n], (
        "Layer 1, Expert 21 TP shard 1/2 (%s, EP rank 10, GPU 21) has no outgoing edge: its "
        "partial sum never reaches the per-expert All-Reduce L1_E21_ar (which gets only shard 0) "
        "nor the combine all-to-all." % n)


def d_attention_one_box():
    G = clean("clean_1.dot")
    act = shp(tokens=512, hidden=4096)
    boxes = []
    for g in range(8):
        for t in range(2):
            p = "L1_ag%d_tp%d_" % (g, t)
            gp = G.nodes[p + "oproj"]["gpu"]
            cl = G.nodes[p + "oproj"]["cluster"]
            nid = G.add(p + "mha", "comp", "Layer 1 Multi-Head Attention (group %d, TP shard "
                        "%d/2)" % (g, t), [act], [act], gp, cl, after=p + "norm1")
            for op in ("qproj", "kproj", "vproj", "score", "softmax", "ctx", "oproj"):
                G.rm_node(p + op)
            G.e(p + "norm1", nid)
            G.e(nid, "L1_ag%d_attn_ar" % g)
            boxes.append(nid)
    return G, "clean_1.dot", "attention", boxes, (
        "Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank in all 8 "
        "attention groups (16 boxes L1_ag*_tp*_mha, GPUs 0-15) instead of Q/K/V projections, "
        "QK^T scores, softmax, weighted sum and output projection; layer 0 stays decomposed.")


def d_v_bypasses_softmax():
    G = clean("clean_1.dot")
    p = "L0_ag4_tp1_"
    G.redirect(p + "softmax", p + "ctx", new_b=p + "oproj")
    return G, "clean_1.dot", "attention", [p + "softmax", p + "ctx", p + "vproj", p + "oproj"], (
        "Layer 0, attention group 4, TP rank 1 (GPU 9): V (%svproj) feeds the weighted sum "
        "%sctx but the softmax %ssoftmax does not (it goes straight to the output projection "
        "%soproj), so V bypasses the attention probabilities." % (p, p, p, p))


def d_v_into_score():
    G = clean("clean_1.dot")
    p = "L0_ag1_tp0_"
    G.redirect(p + "kproj", p + "score", new_a=p + "vproj")
    G.redirect(p + "vproj", p + "ctx", new_a=p + "kproj")
    return G, "clean_1.dot", "attention", [p + "vproj", p + "kproj", p + "score", p + "ctx"], (
        "Layer 0, attention group 1, TP rank 0 (GPU 2): V (%svproj) is wired into the score "
        "QK^T %sscore instead of K, and K (%skproj) feeds the weighted sum %sctx (K and V "
        "swapped)." % (p, p, p, p))


def d_qkv_into_oproj():
    G = clean("clean_1.dot")
    nodes = []
    for t in range(2):
        p = "L1_ag6_tp%d_" % t
        for op in ("score", "softmax", "ctx"):
            G.rm_node(p + op)
        for x in ("qproj", "kproj", "vproj"):
            G.e(p + x, p + "oproj")
        nodes += [p + "qproj", p + "kproj", p + "vproj", p + "oproj"]
    return G, "clean_1.dot", "attention", nodes, (
        "Layer 1, attention group 6 (GPUs 12,13): on both TP ranks Q, K and V projections go "
        "straight into the output projection L1_ag6_tp0_oproj / L1_ag6_tp1_oproj; no score, "
        "softmax or weighted sum is drawn.")


def d_head_arithmetic():
    G = clean("clean_3.dot")
    nodes = []
    for g in range(4):
        for t in range(2):
            p = "L2_ag%d_tp%d_" % (g, t)
            for op in ("qproj", "kproj", "vproj", "score", "ctx", "oproj"):
                n = G.nodes[p + op]
                n["ins"] = [x.replace("head_dim=128", "head_dim=64") for x in n["ins"]]
                n["outs"] = [x.replace("head_dim=128", "head_dim=64") for x in n["outs"]]
                if op == "score":
                    n["title"] = n["title"].replace("sqrt(128)", "sqrt(64)")
            nodes += [p + "qproj", p + "kproj", p + "vproj"]
    return G, "clean_3.dot", "attention", nodes, (
        "Layer 2 (stage 1, GPUs 8-15) labels Q/K/V as 12 heads x head_dim 64 on every TP rank of "
        "all 4 attention groups (12 x 64 = 768 per rank, 24 x 64 = 1536 in total) while hidden "
        "is 3072 (3072/TP2 = 1536 per rank, i.e. head_dim 128).")


def d_tp_heads():
    G = clean("clean_2.dot")
    p = "L1_ag0_tp0_"
    for op in ("qkv", "qkv_split", "score", "softmax", "ctx", "oproj"):
        n = G.nodes[p + op]
        n["ins"] = [x.replace("heads=8", "heads=16").replace("qkv=3072", "qkv=6144")
                    for x in n["ins"]]
        n["outs"] = [x.replace("heads=8", "heads=16").replace("qkv=3072", "qkv=6144")
                     for x in n["outs"]]
    return G, "clean_2.dot", "attention", [p + "qkv", p + "qkv_split"], (
        "Layer 1, attention group 0, TP rank 0 (GPU 0) of TP 2: the fused QKV projection %sqkv "
        "outputs all 16 heads (qkv=6144, heads=16 through split, scores, softmax and weighted "
        "sum) instead of 16/2 = 8 heads (qkv=3072) per rank; TP rank 1 keeps 8." % p)


def d_edge_shape_mismatch():
    G = clean("clean_3.dot")
    n = "L1_ag2_tp0_norm2"
    G.nodes[n]["ins"] = [shp(tokens=256, hidden=2304)]
    return G, "clean_3.dot", "shape", ["L1_ag2_tp0_res1", n], (
        "Layer 1, attention group 2, TP rank 0 (GPU 4): the RMSNorm %s expects hidden=2304 but "
        "its producer L1_ag2_tp0_res1 outputs hidden=3072 (ratio 3/4, not a parallel degree)."
        % n)


def d_shard_without_gather():
    G = clean("clean_1.dot")
    old, new = "L1_ag3_attn_ar", "L1_ag3_attn_rs"
    G.rename(old, new)
    n = G.nodes[new]
    n["title"] = "Layer 1 NCCL Reduce-Scatter attention output (group 3, TP2)"
    n["outs"] = [shp(tokens=512, hidden=2048)]
    n["extra"] = ["Bytes: %s per rank (bf16)" % fmt_bytes(512 * 4096 * 2)]
    n["ctype"] = "rs"
    return G, "clean_1.dot", "shape", [new, "L1_ag3_tp0_res1", "L1_ag3_tp1_res1"], (
        "Layer 1, attention group 3 (GPUs 6,7): the row-parallel output is reduce-scattered "
        "(%s) into hidden/TP = 2048 shards that go straight into the full-size (hidden=4096) "
        "residual adds L1_ag3_tp0_res1 and L1_ag3_tp1_res1 with no all-gather." % new)


def d_stage_count():
    G = clean("clean_3.dot")
    G.decl["pp"] = 3
    return G, "clean_3.dot", "pipeline", [], (
        "The graph label (and header comment) declares PP3 (EP4-TP2-PP3-DP1, Total GPUs: 24) "
        "but only two pipeline stages are drawn (stage 0 layers 0-1 on GPUs 0-7, stage 1 "
        "layers 2-3 on GPUs 8-15).")


def d_stage_range_gap():
    G = clean("clean_3.dot")
    G.clusters["stage0"]["label"] = "PP Stage 0: Layers 0-0 (GPUs 0-7)"
    G.clusters["stage0"]["banner"] = G.clusters["stage0"]["label"]
    nodes = ["L1_ag%d_tp%d_norm1" % (g, t) for g in range(4) for t in range(2)]
    return G, "clean_3.dot", "pipeline", nodes, (
        "Stage 0 claims layers 0-0 and stage 1 layers 2-3: layer 1 is in no stage's range (gap), "
        "although its operators (L1_ag*_tp*_*, L1_E*) are drawn inside stage 0 on GPUs 0-7.")


def d_stage_missing_layer():
    G = clean("clean_3.dot")
    for nid in [x for x in G.order if x.startswith("L3_")]:
        G.rm_node(nid)
    for key in [k for k in G.cluster_order if k.startswith("stage1_L3")]:
        G.cluster_order.remove(key)
        del G.clusters[key]
    nodes = []
    for g in range(4):
        for t in range(2):
            G.e("L2_ag%d_tp%d_res2" % (g, t), "final_norm_ag%d_tp%d" % (g, t))
            nodes.append("L2_ag%d_tp%d_res2" % (g, t))
    return G, "clean_3.dot", "pipeline", nodes, (
        "Stage 1 claims layers 2-3 but no operator of layer 3 is drawn: layer 2's residual adds "
        "L2_ag*_tp*_res2 (GPUs 8-15) feed the final RMSNorms directly.")


def d_no_stage_transfer():
    G = clean("clean_3.dot")
    nodes = []
    for g in range(4):
        for t in range(2):
            sr = "pp0to1_ag%d_tp%d" % (g, t)
            src = "L1_ag%d_tp%d_res2" % (g, t)
            G.rm_node(sr)
            G.e(src, "L2_ag%d_tp%d_norm1" % (g, t))
            G.e(src, "L2_ag%d_tp%d_res1" % (g, t), label="skip")
            nodes.append(src)
    return G, "clean_3.dot", "pipeline", nodes, (
        "Stage 0 (GPUs 0-7) and stage 1 (GPUs 8-15) are joined by plain edges from layer 1's "
        "residual adds L1_ag*_tp*_res2 to layer 2's L2_ag*_tp*_norm1 and L2_ag*_tp*_res1; the "
        "8 pipeline send/recv nodes pp0to1_ag*_tp* are missing.")


def _move_expert(G, l, e, gpus, rank=None):
    for sh in range(2):
        n = G.nodes["L%d_E%02d_tp%d" % (l, e, sh)]
        n["gpu"] = gpus[sh]
        if rank is not None:
            n["extra"] = ["EP rank: %d" % rank]
    G.nodes["L%d_E%02d_ar" % (l, e)]["gpu"] = "%d,%d" % (gpus[0], gpus[1])


def d_experts_subset_ranks():
    G = clean("clean_1.dot")
    nodes = []
    for e in range(16, 32):
        r = (e // 2) % 8
        _move_expert(G, 1, e, (2 * r, 2 * r + 1), rank=r)
        nodes += ["L1_E%02d_tp0" % e, "L1_E%02d_tp1" % e]
    return G, "clean_1.dot", "expert", nodes, (
        "Layer 1 places all 32 experts on EP ranks 0-7 (GPUs 0-15): experts 16-31 are labelled "
        "and placed like experts 0-15 (EP rank (e/2) mod 8), so EP ranks 8-15 (GPUs 16-31) hold "
        "none of layer 1's experts although EP is 16 (ranks 0-7 hold 4 each instead of 2).")


def d_experts_uneven():
    G = clean("clean_3.dot")
    _move_expert(G, 2, 3, (8, 9), rank=0)
    return G, "clean_3.dot", "expert", ["L2_E03_tp0", "L2_E03_tp1", "L2_E03_ar"], (
        "Layer 2's expert 3 sits on EP rank 0 (GPUs 8,9) instead of EP rank 1 (GPUs 10,11): "
        "ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu():
    G = clean("clean_1.dot")
    _move_expert(G, 0, 9, (6, 7))
    return G, "clean_1.dot", "expert", ["L0_E09_tp0", "L0_E09_tp1", "L0_E06_tp0", "L0_E07_tp0"], (
        "Layer 0's expert 9 (labelled EP rank 4, whose GPUs are 8,9) is placed on GPUs 6,7, "
        "which hold EP rank 3's experts 6 and 7.")


def d_no_gate():
    G = clean("clean_2.dot")
    nodes = ["L2_a2a_dispatch"]
    for g in range(8):
        for t in range(2):
            G.rm_node("L2_ag%d_tp%d_router" % (g, t))
            nodes.append("L2_ag%d_tp%d_norm2" % (g, t))
    return G, "clean_2.dot", "expert", nodes, (
        "Layer 2 has no MoE router: the 16 RMSNorms L2_ag*_tp*_norm2 go straight into the "
        "dispatch all-to-all L2_a2a_dispatch and on to the 32 experts; no gate precedes them "
        "(and the weighted combines get no routing weights).")


def d_no_all_to_all():
    G = clean("clean_3.dot")
    G.rm_node("L1_a2a_dispatch")
    nodes = []
    for g in range(4):
        for t in range(2):
            p = "L1_ag%d_tp%d_" % (g, t)
            for e in range(8):
                for sh in range(2):
                    G.e(p + "norm2", "L1_E%02d_tp%d" % (e, sh))
                    G.e(p + "router", "L1_E%02d_tp%d" % (e, sh), **ROUTE_EDGE)
            nodes.append(p + "router")
    return G, "clean_3.dot", "expert", nodes, (
        "Layer 1's RMSNorms (tokens, solid edges) and routers (dashed ids+weights edges) on GPUs "
        "0-7 go straight to the 16 expert shards of the 8 experts on EP ranks 0-3 (EP 4) without "
        "the dispatch all-to-all L1_a2a_dispatch (the combine all-to-all is still drawn).")


def d_tp_rank_missing():
    G = clean("clean_1.dot")
    p = "L1_ag5_tp1_"
    for op in ("norm1", "qproj", "kproj", "vproj", "score", "softmax", "ctx", "oproj"):
        G.rm_node(p + op)
    return G, "clean_1.dot", "tensor", ["L1_ag5_attn_ar", "L1_ag5_tp0_oproj", "L1_ag5_tp1_res1"], (
        "Layer 1, attention group 5: the attention operators (RMSNorm, Q/K/V proj, scores, "
        "softmax, weighted sum, output projection) are drawn for TP rank 0 (GPU 10) only; TP "
        "rank 1 (GPU 11) of TP 2 is missing, so L1_ag5_attn_ar reduces a single shard.")


def d_no_allreduce_after_rowparallel():
    G = clean("clean_2.dot")
    G.rm_node("L0_ag1_mlp_ar")
    for t in range(2):
        G.e("L0_ag1_tp%d_mlp_down" % t, "L0_ag1_tp%d_res2" % t)
    return G, "clean_2.dot", "tensor", ["L0_ag1_tp0_mlp_down", "L0_ag1_tp1_mlp_down",
                                        "L0_ag1_tp0_res2", "L0_ag1_tp1_res2"], (
        "Layer 0 (dense), attention group 1 (GPUs 2,3): the row-parallel MLP down projections "
        "L0_ag1_tp0_mlp_down / L0_ag1_tp1_mlp_down feed the residual adds directly, without the "
        "TP2 all-reduce of their partial sums.")


def d_cross_gpu_no_comm():
    G = clean("clean_1.dot")
    G.redirect("L0_ag3_tp1_res2", "L1_ag3_tp1_res1", new_a="L0_ag3_tp0_res2")
    return G, "clean_1.dot", "communication", ["L0_ag3_tp0_res2", "L1_ag3_tp1_res1"], (
        "Layer 1, attention group 3: the residual add L1_ag3_tp1_res1 on GPU 7 takes its skip "
        "input from L0_ag3_tp0_res2 on GPU 6 by a plain edge, with no communication node.")


def d_comm_wrong_shape():
    G = clean("clean_2.dot")
    n = "L2_ag4_attn_ar"
    G.nodes[n]["shape"] = "box"
    return G, "clean_2.dot", "communication", [n], (
        "Layer 2, attention group 4 (GPUs 8,9): the attention All-Reduce %s is drawn as a box "
        "(computation) instead of an ellipse." % n)


def d_missing_gpu():
    G = clean("clean_3.dot")
    n = "L0_ag2_tp1_softmax"
    G.nodes[n]["gpu"] = None
    return G, "clean_3.dot", "gpu", [n], (
        "Softmax of layer 0, attention group 2, TP rank 1 (%s, should be GPU 5) has no GPU line."
        % n)


def d_gpu_out_of_range():
    G = clean("clean_1.dot")
    _move_expert(G, 1, 31, (32, 33))
    return G, "clean_1.dot", "gpu", ["L1_E31_tp0", "L1_E31_tp1", "L1_E31_ar"], (
        "Layer 1's expert 31 (EP rank 15) is placed on GPUs 32,33 (per-expert all-reduce too), "
        "beyond the 32 GPUs of EP16 x TP2 x PP1 x DP1 (ids 0-31); EP rank 15's GPUs are 30,31.")


def d_stages_share_gpus():
    G = clean("clean_3.dot", stage_base=[0, 4])
    nodes = ["L2_ag%d_tp%d_norm1" % (g, t) for g in range(4) for t in range(2)]
    return G, "clean_3.dot", "gpu", nodes, (
        "Stage 1 (layers 2-3) is placed on GPUs 4-11, overlapping stage 0's GPUs 0-7 (GPUs 4-7 "
        "in both); the send/recv nodes and the output follow the shifted placement.")


def d_strategy_mismatch():
    G = clean("clean_3.dot")
    G.decl["tp"] = 4
    G.decl["attn_tp"] = 4
    return G, "clean_3.dot", "strategy", [], (
        "The graph label (and header comment) declares TP4 (EP4-TP4-PP2-DP1, attention TP4 x "
        "DP4, Total GPUs: 32) but every tensor-parallel operator and expert is drawn for TP "
        "shards 0/2 and 1/2 only (TP 2, 16 GPUs).")


def d_missing_shapes():
    G = clean("clean_1.dot")
    n = "L1_ag2_tp1_oproj"
    G.nodes[n]["ins"] = None
    G.nodes[n]["outs"] = None
    return G, "clean_1.dot", "annotation", [n], (
        "Output projection of layer 1, attention group 2, TP rank 1 (%s, GPU 5) has no Input or "
        "Output line." % n)


def d_placeholder():
    G = clean("clean_2.dot")
    n = "L2_ag6_tp0_router"
    G.nodes[n]["ins"] = [shp(tokens="?", hidden=2048)]
    return G, "clean_2.dot", "annotation", [n], (
        "Layer 2's MoE Router of attention group 6, TP rank 0 (%s, GPU 12) gives its input as "
        "[tokens=?, hidden=2048], a placeholder instead of 256." % n)


def d_moe_before_attention():
    G = clean("clean_3.dot")
    nodes = []
    for g in range(4):
        for t in range(2):
            p = "L3_ag%d_tp%d_" % (g, t)
            prev = "L2_ag%d_tp%d_res2" % (g, t)
            fin = "final_norm_ag%d_tp%d" % (g, t)
            G.redirect(prev, p + "norm1", new_b=p + "norm2")     # stage input -> MoE block
            G.redirect(prev, p + "res1", new_b=p + "res2")       # skip around MoE block
            G.redirect(p + "res1", p + "norm2", new_a=p + "res2", new_b=p + "norm1")
            G.redirect(p + "res1", p + "res2", new_a=p + "res2", new_b=p + "res1")
            G.redirect(p + "res2", fin, new_a=p + "res1")
            nodes += [p + "norm2", p + "norm1"]
    return G, "clean_3.dot", "structure", nodes, (
        "Layer 3 runs its MoE block (norm2, router, dispatch, experts, combine, residual) before "
        "its attention block on every group and TP rank: L2_ag*_tp*_res2 goes to "
        "L3_ag*_tp*_norm2, the MoE residual L3_ag*_tp*_res2 feeds L3_ag*_tp*_norm1, and the "
        "attention residual L3_ag*_tp*_res1 feeds the final norm.")


def d_missing_residual():
    G = clean("clean_2.dot")
    n = "L2_ag0_tp0_res1"
    G.rm_edge("L1_ag0_tp0_res2", n)
    return G, "clean_2.dot", "structure", [n, "L1_ag0_tp0_res2"], (
        "Layer 2, attention group 0, TP rank 0 (GPU 0): the attention residual add %s is fed "
        "only by the All-Reduce L2_ag0_attn_ar; the skip edge from L1_ag0_tp0_res2 is missing."
        % n)


DEFECTS = [
    ("cycle", d_cycle), ("dangling_input", d_dangling_input),
    ("dangling_output", d_dangling_output), ("attention_one_box", d_attention_one_box),
    ("v_bypasses_softmax", d_v_bypasses_softmax), ("v_into_score", d_v_into_score),
    ("qkv_into_oproj", d_qkv_into_oproj), ("head_arithmetic", d_head_arithmetic),
    ("tp_heads", d_tp_heads), ("edge_shape_mismatch", d_edge_shape_mismatch),
    ("shard_without_gather", d_shard_without_gather), ("stage_count", d_stage_count),
    ("stage_range_gap", d_stage_range_gap), ("stage_missing_layer", d_stage_missing_layer),
    ("no_stage_transfer", d_no_stage_transfer), ("experts_subset_ranks", d_experts_subset_ranks),
    ("experts_uneven", d_experts_uneven), ("experts_share_gpu", d_experts_share_gpu),
    ("no_gate", d_no_gate), ("no_all_to_all", d_no_all_to_all),
    ("tp_rank_missing", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", d_cross_gpu_no_comm), ("comm_wrong_shape", d_comm_wrong_shape),
    ("missing_gpu", d_missing_gpu), ("gpu_out_of_range", d_gpu_out_of_range),
    ("stages_share_gpus", d_stages_share_gpus), ("strategy_mismatch", d_strategy_mismatch),
    ("missing_shapes", d_missing_shapes), ("placeholder", d_placeholder),
    ("moe_before_attention", d_moe_before_attention), ("missing_residual", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct EP16-TP2-PP1-DP1 deployment (attention TP2 x DP8 on GPUs 0-15, 32 "
                   "experts as EP16 x expert-TP2 on GPUs 0-31): 2 MoE layers, hidden 4096, "
                   "separate Q/K/V projections.",
    "clean_2.dot": "Correct EP16-TP2-PP1-DP1 deployment (attention TP2 x DP8 on GPUs 0-15, 32 "
                   "experts as EP16 x expert-TP2 on GPUs 0-31): dense layer 0 + MoE layers 1-2, "
                   "hidden 2048, fused QKV + split, vocab-parallel LM head.",
    "clean_3.dot": "Correct EP4-TP2-PP2-DP1 deployment on 16 GPUs (attention TP2 x DP4 per "
                   "stage): 4 MoE layers, stage 0 layers 0-1 on GPUs 0-7, stage 1 layers 2-3 on "
                   "GPUs 8-15, joined by per-rank send/recv.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name in sorted(CONFIGS):
        with open(os.path.join(OUT, name), "w") as f:
            f.write(clean(name).render())
        manifest.append({"file": name, "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": CLEAN_WHAT[name]})
    for kind, fn in DEFECTS:
        G, base, cat, nodes, what = fn()
        for n in nodes:
            assert n in G.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(G.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base,
                         "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
