#!/usr/bin/env python3
"""gen.py -- deployment DAGs in house style "ba" (stdlib only).

Writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot per defect kind, and
out/manifest.json.  Every defect file is the clean base rebuilt and then
mutated in exactly one place, so a diff against its base shows the defect only.

House style
  * computation nodes: shape=Mrecord, label "{ op | L1 · tp0 | in [..] | out [..] | gpu 0 }"
  * fused QKV split: one Mrecord with ports <q> <k> <v>; edges leave from the ports
    (the port is the only place that says which tensor an edge carries)
  * communication: plain ellipse, "all-reduce\\nL1 · tp group\\n[..]\\ngpus 0-1"
  * routing (router, token split, combine): plain parallelogram, "\\n"-separated lines
  * strategy only in the graph name: digraph "moe_ep2_tp2_pp2"
  * stages: clusters labelled "stage 0 (L0-L1)" (" · dp1" appended when replicas are drawn)
  own quirks
  * a "model card" graph label (layers, hidden, heads x head_dim, experts/top-k,
    vocab, batch x seq, total gpus) and "// ── section ──" comment lines before
    every block of nodes and edges
  * colour code: attention ops blue, ffn/expert ops green, norms/residuals grey,
    io pink, routing khaki; collectives are white ellipses outlined by family
    (blue reduce/gather, orange all-to-all, red send/recv); router edges dashed,
    residual skip edges grey
"""
import copy
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL = {"attn": "#dbe9f6", "ffn": "#e3f2d9", "norm": "#eeeeee", "io": "#fde2e4",
        "route": "#fff2b3"}
COMM_COLOR = {"reduce": "#2b6cb0", "a2a": "#dd6b20", "p2p": "#c53030"}
CLUSTER_FILL = ["#f7fbff", "#fffaf0", "#f5fff5", "#fbf5ff"]


def shp(*dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def gpus_str(ids):
    ids = sorted(ids)
    if len(ids) == 1:
        return "gpu %d" % ids[0]
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "gpus %d-%d" % (ids[0], ids[-1])
    return "gpus " + ",".join(str(i) for i in ids)


def range_str(ids):
    ids = sorted(ids)
    return "%d-%d" % (ids[0], ids[-1]) if len(ids) > 1 else str(ids[0])


class Graph:
    def __init__(self, name, label, header):
        self.name = name
        self.label = label
        self.header = header
        self.clusters = []          # [cid, label, fill]
        self.nodes = []             # list of dicts (ordered)
        self.edges = []             # list of dicts (ordered)
        self.meta = {}

    # ---- nodes
    def node(self, nid):
        for n in self.nodes:
            if n["id"] == nid:
                return n
        raise KeyError(nid)

    def has(self, nid):
        return any(n["id"] == nid for n in self.nodes)

    def add(self, nid, kind, op, tag, cluster, section, ins=None, out=None,
            ports=None, gpus=None, fill=None, family=None, size=None):
        assert not self.has(nid), nid
        n = dict(id=nid, kind=kind, op=op, tag=tag, cluster=cluster, section=section,
                 ins=ins, out=out, ports=ports, gpus=gpus, fill=fill, family=family,
                 size=size, shape=None)
        self.nodes.append(n)
        return nid

    def insert_after(self, ref, **kw):
        nid = kw.pop("nid")
        self.add(nid, **kw)
        n = self.nodes.pop()
        i = [x["id"] for x in self.nodes].index(ref)
        self.nodes.insert(i + 1, n)
        return nid

    def remove_node(self, nid):
        self.nodes = [n for n in self.nodes if n["id"] != nid]
        self.edges = [e for e in self.edges if e["src"] != nid and e["dst"] != nid]

    def rename(self, old, new):
        self.node(old)["id"] = new
        for e in self.edges:
            if e["src"] == old:
                e["src"] = new
            if e["dst"] == old:
                e["dst"] = new

    # ---- edges
    def edge(self, src, dst, section, port=None, kind=None):
        self.edges.append(dict(src=src, dst=dst, port=port, kind=kind, section=section))

    def find_edge(self, src, dst, port=None):
        for e in self.edges:
            if e["src"] == src and e["dst"] == dst and (port is None or e["port"] == port):
                return e
        raise KeyError((src, dst, port))

    def remove_edge(self, src, dst, port=None):
        e = self.find_edge(src, dst, port)
        self.edges.remove(e)

    def edge_after(self, ref_edge, src, dst, port=None, kind=None):
        i = self.edges.index(ref_edge)
        self.edges.insert(i + 1, dict(src=src, dst=dst, port=port, kind=kind,
                                      section=ref_edge["section"]))

    # ---- rendering
    def _node_line(self, n):
        gl = n["gpus"]
        if n["kind"] in ("comp", "io"):
            fields = [n["op"], n["tag"]]
            if n["ins"] is not None:
                fields.append("in " + " x ".join(n["ins"]))
            if n["ports"]:
                fields.append("{" + " | ".join("<%s> %s %s" % (p, p, s) for p, s in n["ports"]) + "}")
            elif n["out"] is not None:
                fields.append("out " + n["out"])
            if gl is not None:
                fields.append(gl)
            label = "{ " + " | ".join(fields) + " }"
            shape = n["shape"] or "Mrecord"
            return '%s [shape=%s, style="rounded,filled", fillcolor="%s", label="%s"];' % (
                n["id"], shape, n["fill"], label)
        if n["kind"] == "comm":
            lines = [n["op"], n["tag"], n["size"]]
            if gl is not None:
                lines.append(gl)
            shape = n["shape"] or "ellipse"
            return ('%s [shape=%s, style=filled, fillcolor="white", color="%s", penwidth=1.5, '
                    'label="%s"];' % (n["id"], shape, COMM_COLOR[n["family"]], "\\n".join(lines)))
        if n["kind"] == "route":
            lines = [n["op"], n["tag"]]
            if n["ins"] is not None:
                lines.append("in " + " x ".join(n["ins"]))
            if n["out"] is not None:
                lines.append("out " + n["out"])
            if gl is not None:
                lines.append(gl)
            shape = n["shape"] or "parallelogram"
            return '%s [shape=%s, style=filled, fillcolor="%s", label="%s"];' % (
                n["id"], shape, FILL["route"], "\\n".join(lines))
        raise ValueError(n["kind"])

    def _edge_line(self, e):
        src = e["src"] + (":" + e["port"] if e["port"] else "")
        attrs = ""
        if e["kind"] == "router":
            attrs = " [style=dashed]"
        elif e["kind"] == "skip":
            attrs = ' [color="gray50"]'
        return "%s -> %s%s;" % (src, e["dst"], attrs)

    def render(self):
        out = []
        for h in self.header:
            out.append("// " + h)
        out.append('digraph "%s" {' % self.name)
        out.append('  label="%s";' % self.label)
        out.append("  labelloc=t; rankdir=TB; newrank=true; nodesep=0.25; ranksep=0.35;")
        out.append('  fontname="Helvetica";')
        out.append('  node [fontname="Helvetica", fontsize=10];')
        out.append('  edge [arrowsize=0.7];')

        def emit_nodes(nodes, indent):
            last = None
            for n in nodes:
                if n["section"] != last:
                    out.append("")
                    out.append(indent + "// ── %s ──" % n["section"])
                    last = n["section"]
                out.append(indent + self._node_line(n))

        for cid, clabel, cfill in self.clusters:
            members = [n for n in self.nodes if n["cluster"] == cid]
            out.append("")
            out.append("  subgraph cluster_%s {" % cid)
            out.append('    label="%s"; style="rounded,filled"; fillcolor="%s"; color="gray60";'
                       % (clabel, cfill))
            emit_nodes(members, "    ")
            out.append("  }")
        loose = [n for n in self.nodes if n["cluster"] is None]
        if loose:
            emit_nodes(loose, "  ")
        out.append("")
        out.append("  // ================= edges =================")
        last = None
        for e in self.edges:
            if e["section"] != last:
                out.append("")
                out.append("  // ── %s ──" % e["section"])
                last = e["section"]
            out.append("  " + self._edge_line(e))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- builder

def model_card(c, ngpu):
    parts = ["model card", "%d layers" % c["layers"], "hidden %d" % c["hidden"],
             "%d heads × %d" % (c["heads"], c["head_dim"])]
    if c["moe"]:
        parts.append("%d experts, top-%d" % (c["experts"], c["topk"]))
        parts.append("expert ffn %d" % c["ffn"])
    else:
        parts.append("ffn %d" % c["ffn"])
    parts.append("vocab %d" % c["vocab"])
    if c["dp"] > 1:
        parts.append("batch %d (%d per replica) × seq %d" % (c["batch"] * c["dp"], c["batch"], c["seq"]))
    else:
        parts.append("batch %d × seq %d" % (c["batch"], c["seq"]))
    parts.append("%d gpus" % ngpu)
    return " · ".join(parts)


def build(c, tw=None):
    tw = tw or {}
    EP, TP, PP, DP = c["ep"], c["tp"], c["pp"], c["dp"]
    L, H, NH, HD = c["layers"], c["hidden"], c["heads"], c["head_dim"]
    B, S, V, F = c["batch"], c["seq"], c["vocab"], c["ffn"]
    per_stage = EP * TP
    ngpu = tw.get("card_gpus", EP * TP * PP * DP)
    header = ["deployment dag · one forward pass · style_ba",
              "record fields: op | layer · rank | in | out | gpu(s); the qkv split's ports <q> <k> <v> name the tensor on each edge",
              "shapes are logical tensors: [batch,seq,...] for activations, [tokens,...] after routing"]
    if EP > 1:
        header.append("attention ops of one tp rank run on that rank's gpu in every ep group, "
                      "each group on its share of the batch; experts are tp-sharded inside their ep group")
    g = Graph(tw.get("name", c["name"]), model_card(c, ngpu), header)
    X = shp(B, S, H)
    Lps = L // PP
    heads_tw = tw.get("heads", {})

    for d in range(DP):
        p = "dp%d_" % d if DP > 1 else ""
        dt = "dp%d · " % d if DP > 1 else ""
        prev = None
        prev_gpus = None
        for s in range(PP):
            base = tw.get("stage_base", {}).get((d, s), (d * PP + s) * per_stage)
            sg = list(range(base, base + per_stage))
            lo, hi = s * Lps, (s + 1) * Lps - 1
            cid = "%sstage%d" % (p, s)
            g.clusters.append([cid, "stage %d (L%d-L%d)" % (s, lo, hi) + (" · dp%d" % d if DP > 1 else ""),
                               CLUSTER_FILL[(d * PP + s) % len(CLUSTER_FILL)]])
            tp_gpus = {r: [base + e * TP + r for e in range(EP)] for r in range(TP)}
            ep_gpus = {e: list(range(base + e * TP, base + (e + 1) * TP)) for e in range(EP)}
            if EP > 1:
                tpgroups = "tp group of each ep rank"
            else:
                tpgroups = "tp group"
            if s == 0:
                sec = dt + "input · embedding"
                g.add(p + "input", "io", "input", dt + "token ids", cid, sec, ins=[shp(B, S)],
                      out=shp(B, S), gpus=gpus_str(sg), fill=FILL["io"])
                g.add(p + "embedding", "comp", "embedding", dt + "emb · all ranks", cid, sec,
                      ins=[shp(B, S)], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(p + "input", p + "embedding", sec)
                prev = p + "embedding"
            else:
                sec = dt + "pipeline pp%d → pp%d" % (s - 1, s)
                sr = "%spp%d_to_pp%d" % (p, s - 1, s)
                g.add(sr, "comm", "send/recv", "pp%d → pp%d · L%d → L%d" % (s - 1, s, lo - 1, lo),
                      None, sec, size=X,
                      gpus="gpus %s → %s" % (range_str(prev_gpus), range_str(sg)), family="p2p")
                g.edge(prev, sr, sec)
                prev = sr
            for l in range(lo, hi + 1):
                lt = dt + "L%d" % l
                pl = p + "l%d_" % l
                # ---------------- attention block
                sec = lt + " · attention"
                g.add(pl + "norm1", "comp", "rmsnorm (pre-attn)", lt + " · all ranks", cid, sec,
                      ins=[X], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(prev, pl + "norm1", sec)
                ar = pl + "attn_ar"
                for r in range(TP):
                    nh, hd = heads_tw.get((d, l, r), heads_tw.get((d, l, None), (NH // TP, HD)))
                    qs = shp(B, S, nh, hd)
                    tg = lt + " · tp%d" % r
                    gs = gpus_str(tp_gpus[r])
                    sfx = "_tp%d" % r
                    if c["fused"]:
                        g.add(pl + "qkv" + sfx, "comp", "qkv proj (col-par)", tg, cid, sec,
                              ins=[X], out=shp(B, S, 3 * nh * hd), gpus=gs, fill=FILL["attn"])
                        g.add(pl + "split" + sfx, "comp", "split qkv", tg, cid, sec,
                              ins=[shp(B, S, 3 * nh * hd)], ports=[("q", qs), ("k", qs), ("v", qs)],
                              gpus=gs, fill=FILL["attn"])
                    else:
                        for t in "qkv":
                            g.add(pl + t + sfx, "comp", "%s proj (col-par)" % t.upper(), tg, cid, sec,
                                  ins=[X], out=qs, gpus=gs, fill=FILL["attn"])
                    g.add(pl + "score" + sfx, "comp", "score qk^T / sqrt(d)", tg, cid, sec,
                          ins=[qs, qs], out=shp(B, nh, S, S), gpus=gs, fill=FILL["attn"])
                    g.add(pl + "softmax" + sfx, "comp", "softmax (causal)", tg, cid, sec,
                          ins=[shp(B, nh, S, S)], out=shp(B, nh, S, S), gpus=gs, fill=FILL["attn"])
                    g.add(pl + "pv" + sfx, "comp", "weighted sum p·v", tg, cid, sec,
                          ins=[shp(B, nh, S, S), qs], out=qs, gpus=gs, fill=FILL["attn"])
                    g.add(pl + "oproj" + sfx, "comp", "out proj (row-par)", tg, cid, sec,
                          ins=[qs], out=X, gpus=gs, fill=FILL["attn"])
                    if c["fused"]:
                        g.edge(pl + "norm1", pl + "qkv" + sfx, sec)
                        g.edge(pl + "qkv" + sfx, pl + "split" + sfx, sec)
                        g.edge(pl + "split" + sfx, pl + "score" + sfx, sec, port="q")
                        g.edge(pl + "split" + sfx, pl + "score" + sfx, sec, port="k")
                        g.edge(pl + "split" + sfx, pl + "pv" + sfx, sec, port="v")
                    else:
                        for t in "qkv":
                            g.edge(pl + "norm1", pl + t + sfx, sec)
                        g.edge(pl + "q" + sfx, pl + "score" + sfx, sec)
                        g.edge(pl + "k" + sfx, pl + "score" + sfx, sec)
                        g.edge(pl + "v" + sfx, pl + "pv" + sfx, sec)
                    g.edge(pl + "score" + sfx, pl + "softmax" + sfx, sec)
                    g.edge(pl + "softmax" + sfx, pl + "pv" + sfx, sec)
                    g.edge(pl + "pv" + sfx, pl + "oproj" + sfx, sec)
                    g.edge(pl + "oproj" + sfx, ar, sec)
                g.add(ar, "comm", "all-reduce", lt + " · " + tpgroups, cid, sec, size=X,
                      gpus=gpus_str(sg), family="reduce")
                g.add(pl + "res1", "comp", "residual add", lt + " · all ranks", cid, sec,
                      ins=[X, X], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(ar, pl + "res1", sec)
                g.edge(prev, pl + "res1", sec, kind="skip")
                # ---------------- ffn / moe block
                sec = lt + (" · moe" if c["moe"] else " · mlp")
                g.add(pl + "norm2", "comp", "rmsnorm (pre-%s)" % ("moe" if c["moe"] else "mlp"),
                      lt + " · all ranks", cid, sec, ins=[X], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(pl + "res1", pl + "norm2", sec)
                if c["moe"]:
                    E, K = c["experts"], c["topk"]
                    T = B * S
                    R = T * K
                    per_e = R // E
                    epr = E // EP
                    g.add(pl + "router", "route", "router · top-%d of %d" % (K, E), lt + " · all ranks",
                          cid, sec, ins=[X], out=shp(T, K), gpus=gpus_str(sg))
                    g.add(pl + "tok_split", "route", "token split (by expert)", lt + " · all ranks",
                          cid, sec, ins=[X, shp(T, K)], out=shp(R, H), gpus=gpus_str(sg))
                    g.add(pl + "dispatch_a2a", "comm", "all-to-all dispatch", lt + " · ep group",
                          cid, sec, size=shp(R, H), gpus=gpus_str(sg), family="a2a")
                    for j in range(E):
                        e = j // epr
                        g.add(pl + "exp%d" % j, "comp", "expert %d · swiglu ffn" % j,
                              lt + " · ep%d · tp0-%d" % (e, TP - 1) if TP > 1 else lt + " · ep%d" % e,
                              cid, sec, ins=[shp(per_e, H)], out=shp(per_e, H),
                              gpus=gpus_str(ep_gpus[e]), fill=FILL["ffn"])
                    g.add(pl + "combine_a2a", "comm", "all-to-all combine", lt + " · ep group",
                          cid, sec, size=shp(R, H), gpus=gpus_str(sg), family="a2a")
                    g.add(pl + "combine", "route", "weighted combine", lt + " · all ranks",
                          cid, sec, ins=[shp(R, H), shp(T, K)], out=X, gpus=gpus_str(sg))
                    g.edge(pl + "norm2", pl + "router", sec)
                    g.edge(pl + "norm2", pl + "tok_split", sec)
                    g.edge(pl + "router", pl + "tok_split", sec, kind="router")
                    g.edge(pl + "tok_split", pl + "dispatch_a2a", sec)
                    for j in range(E):
                        g.edge(pl + "dispatch_a2a", pl + "exp%d" % j, sec)
                    for j in range(E):
                        g.edge(pl + "exp%d" % j, pl + "combine_a2a", sec)
                    g.edge(pl + "combine_a2a", pl + "combine", sec)
                    g.edge(pl + "router", pl + "combine", sec, kind="router")
                    last = pl + "combine"
                else:
                    mar = pl + "mlp_ar"
                    for r in range(TP):
                        tg = lt + " · tp%d" % r
                        gs = gpus_str(tp_gpus[r])
                        sfx = "_tp%d" % r
                        Fs = shp(B, S, F // TP)
                        g.add(pl + "up" + sfx, "comp", "ffn up (col-par)", tg, cid, sec,
                              ins=[X], out=Fs, gpus=gs, fill=FILL["ffn"])
                        g.add(pl + "act" + sfx, "comp", "gelu", tg, cid, sec,
                              ins=[Fs], out=Fs, gpus=gs, fill=FILL["ffn"])
                        g.add(pl + "down" + sfx, "comp", "ffn down (row-par)", tg, cid, sec,
                              ins=[Fs], out=X, gpus=gs, fill=FILL["ffn"])
                        g.edge(pl + "norm2", pl + "up" + sfx, sec)
                        g.edge(pl + "up" + sfx, pl + "act" + sfx, sec)
                        g.edge(pl + "act" + sfx, pl + "down" + sfx, sec)
                        g.edge(pl + "down" + sfx, mar, sec)
                    g.add(mar, "comm", "all-reduce", lt + " · " + tpgroups, cid, sec, size=X,
                          gpus=gpus_str(sg), family="reduce")
                    last = mar
                g.add(pl + "res2", "comp", "residual add", lt + " · all ranks", cid, sec,
                      ins=[X, X], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(last, pl + "res2", sec)
                g.edge(pl + "res1", pl + "res2", sec, kind="skip")
                prev = pl + "res2"
            prev_gpus = sg
            if s == PP - 1:
                sec = dt + "final norm · lm head · output"
                g.add(p + "final_norm", "comp", "final rmsnorm", dt + "post · all ranks", cid, sec,
                      ins=[X], out=X, gpus=gpus_str(sg), fill=FILL["norm"])
                g.edge(prev, p + "final_norm", sec)
                ag = p + "head_ag"
                for r in range(TP):
                    g.add(p + "lm_head_tp%d" % r, "comp", "lm head (col-par, vocab/tp)",
                          dt + "post · tp%d" % r, cid, sec, ins=[X], out=shp(B, S, V // TP),
                          gpus=gpus_str(tp_gpus[r]), fill=FILL["io"])
                    g.edge(p + "final_norm", p + "lm_head_tp%d" % r, sec)
                    g.edge(p + "lm_head_tp%d" % r, ag, sec)
                g.add(ag, "comm", "all-gather", dt + "post · " + tpgroups, cid, sec,
                      size=shp(B, S, V), gpus=gpus_str(sg), family="reduce")
                g.add(p + "output", "io", "output", dt + "logits", cid, sec, ins=[shp(B, S, V)],
                      out=shp(B, S, V), gpus=gpus_str(sg), fill=FILL["io"])
                g.edge(ag, p + "output", sec)
    # send/recv nodes have no cluster (they belong to neither stage); they are printed
    # after the clusters.
    g.meta = dict(cfg=c, tw=tw)
    return g


# ---------------------------------------------------------------- configs

C1 = dict(name="moe_ep2_tp2_pp2", moe=True, fused=True, ep=2, tp=2, pp=2, dp=1, layers=4,
          hidden=4096, heads=32, head_dim=128, experts=4, topk=2, ffn=14336, vocab=32000,
          batch=4, seq=2048)
C2 = dict(name="moe_ep4_tp2_pp1", moe=True, fused=False, ep=4, tp=2, pp=1, dp=1, layers=2,
          hidden=2048, heads=16, head_dim=128, experts=8, topk=2, ffn=5632, vocab=32000,
          batch=8, seq=1024)
C3 = dict(name="dense_tp2_pp1_dp2", moe=False, fused=True, ep=1, tp=2, pp=1, dp=2, layers=2,
          hidden=2048, heads=16, head_dim=128, ffn=8192, vocab=32000, batch=2, seq=1024)

CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE deployment EP2 x TP2 x PP2 (8 gpus): 4 layers in two stages (L0-L1 on gpus 0-3, "
                   "L2-L3 on gpus 4-7) joined by send/recv; fused qkv + port split, TP2 attention (16 of 32 "
                   "heads per rank) with all-reduce; 4 experts, 2 per EP rank, behind router, token split and "
                   "dispatch/combine all-to-alls.",
    "clean_2.dot": "Correct MoE deployment EP4 x TP2 x PP1 (8 gpus): 2 layers in one stage; separate Q/K/V "
                   "projections, TP2 attention (8 of 16 heads per rank) with all-reduce; 8 experts, 2 per EP rank "
                   "(gpus 0-1, 2-3, 4-5, 6-7), dispatch/combine all-to-alls.",
    "clean_3.dot": "Correct dense deployment TP2 x PP1 x DP2 (4 gpus): both data-parallel replicas drawn (dp0 on "
                   "gpus 0-1, dp1 on gpus 2-3), 2 layers each; fused qkv + port split, TP2 attention (8 of 16 "
                   "heads per rank) and column/row-parallel MLP, each followed by an all-reduce.",
}

CLEAN = {"clean_1.dot": C1, "clean_2.dot": C2, "clean_3.dot": C3}


# ---------------------------------------------------------------- self-check (model level)

def parse_gpus(s):
    if s is None:
        return None
    s = s.split(" ", 1)[1]
    if "→" in s:
        return None
    ids = set()
    for part in s.split(","):
        if "-" in part:
            a, b = part.split("-")
            ids |= set(range(int(a), int(b) + 1))
        else:
            ids.add(int(part))
    return ids


def self_check(g, ngpu):
    probs = []
    ids = {n["id"]: n for n in g.nodes}
    for e in g.edges:
        for x in (e["src"], e["dst"]):
            if x not in ids:
                probs.append("edge to unknown node %s" % x)
    if probs:
        return probs
    succ = {i: [] for i in ids}
    pred = {i: [] for i in ids}
    for e in g.edges:
        succ[e["src"]].append(e)
        pred[e["dst"]].append(e)
    # acyclic
    indeg = {i: len(pred[i]) for i in ids}
    q = [i for i in ids if indeg[i] == 0]
    seen = 0
    while q:
        i = q.pop()
        seen += 1
        for e in succ[i]:
            indeg[e["dst"]] -= 1
            if indeg[e["dst"]] == 0:
                q.append(e["dst"])
    if seen != len(ids):
        probs.append("cycle")
    for i, n in ids.items():
        if not pred[i] and n["op"] != "input":
            probs.append("no input edge: %s" % i)
        if not succ[i] and n["op"] != "output":
            probs.append("no output edge: %s" % i)
        if n["kind"] in ("comp", "io", "route"):
            if n["ins"] is None or (n["out"] is None and not n["ports"]):
                probs.append("missing shapes: %s" % i)
            if n["gpus"] is None:
                probs.append("missing gpu: %s" % i)
            for x in n["ins"] or []:
                if "?" in x:
                    probs.append("placeholder: %s" % i)
        gs = parse_gpus(n["gpus"])
        if gs and max(gs) >= ngpu:
            probs.append("gpu out of range: %s" % i)
        if n["kind"] == "comm" and (n["shape"] or "ellipse") != "ellipse":
            probs.append("comm not ellipse: %s" % i)
    for e in g.edges:
        a, b = ids[e["src"]], ids[e["dst"]]
        if a["kind"] == "comm" or b["kind"] == "comm":
            continue
        if e["port"]:
            o = dict(a["ports"])[e["port"]]
        else:
            o = a["out"]
        if b["ins"] is not None and o is not None and o not in b["ins"]:
            probs.append("shape %s %s -> %s %s" % (e["src"], o, e["dst"], b["ins"]))
        ga, gb = parse_gpus(a["gpus"]), parse_gpus(b["gpus"])
        if ga and gb and not (ga <= gb or gb <= ga):
            probs.append("cross-gpu plain edge %s -> %s" % (e["src"], e["dst"]))
    # attention wiring: pv fed by softmax and by v; score fed by q and k
    for i, n in ids.items():
        if n["op"].startswith("weighted sum"):
            srcs = [(ids[e["src"]]["op"], e["port"]) for e in pred[i]]
            if not any(o.startswith("softmax") for o, _ in srcs):
                probs.append("pv without softmax: %s" % i)
            if not any(pp == "v" or o.startswith("V proj") for o, pp in srcs):
                probs.append("pv without v: %s" % i)
        if n["op"].startswith("score"):
            srcs = sorted((pp or ids[e["src"]]["op"][0].lower()) for e in pred[i] for pp in [e["port"]])
            if srcs != ["k", "q"]:
                probs.append("score fed by %s: %s" % (srcs, i))
    return probs


# ---------------------------------------------------------------- defects

DEFECTS = []


def defect(kind, category, base):
    def deco(fn):
        DEFECTS.append((kind, category, base, fn))
        return fn
    return deco


@defect("cycle", "structure", "clean_1.dot")
def d_cycle(g):
    e = g.find_edge("l1_exp1", "l1_combine_a2a")
    g.edge_after(e, "l1_combine_a2a", "l1_exp1")
    return (["l1_exp1", "l1_combine_a2a"],
            "Layer 1's expert 1 (ep0, gpus 0-1) and the combine all-to-all l1_combine_a2a are joined both "
            "ways (l1_exp1 -> l1_combine_a2a and l1_combine_a2a -> l1_exp1), a two-node cycle.")


@defect("dangling_input", "structure", "clean_1.dot")
def d_dangling_input(g):
    g.remove_edge("l1_res1", "l1_norm2")
    return (["l1_norm2"],
            "Layer 1's pre-MoE rmsnorm l1_norm2 (gpus 0-3) has no incoming edge: its input from the "
            "attention residual add l1_res1 was dropped.")


@defect("dangling_output", "structure", "clean_1.dot")
def d_dangling_output(g):
    g.remove_edge("l1_exp3", "l1_combine_a2a")
    return (["l1_exp3"],
            "Layer 1's expert 3 (ep1, gpus 2-3) has no outgoing edge: its output never reaches the "
            "combine all-to-all l1_combine_a2a.")


@defect("attention_one_box", "attention", "clean_1.dot")
def d_attention_one_box(g):
    ref = "l2_norm1"
    for r in range(2):
        sfx = "_tp%d" % r
        old = g.node("l2_qkv" + sfx)
        g.insert_after(ref, nid="l2_mha" + sfx, kind="comp", op="multi-head attention",
                       tag="L2 · tp%d" % r, cluster=old["cluster"], section=old["section"],
                       ins=[shp(4, 2048, 4096)], out=shp(4, 2048, 4096), gpus=old["gpus"],
                       fill=FILL["attn"])
        ref = "l2_mha" + sfx
        e = g.find_edge("l2_norm1", "l2_qkv" + sfx)
        e["dst"] = "l2_mha" + sfx
        e = g.find_edge("l2_oproj" + sfx, "l2_attn_ar")
        e["src"] = "l2_mha" + sfx
        for op in ("qkv", "split", "score", "softmax", "pv", "oproj"):
            g.remove_node("l2_%s%s" % (op, sfx))
    return (["l2_mha_tp0", "l2_mha_tp1"],
            "Layer 2's attention is drawn as one 'multi-head attention' record per TP rank (l2_mha_tp0 on "
            "gpus 4,6 and l2_mha_tp1 on gpus 5,7) instead of qkv projection, split, score, softmax, "
            "weighted sum and output projection.")


@defect("v_bypasses_softmax", "attention", "clean_1.dot")
def d_v_bypass(g):
    e = g.find_edge("l1_softmax_tp1", "l1_pv_tp1")
    e["dst"] = "l1_oproj_tp1"
    return (["l1_softmax_tp1", "l1_pv_tp1", "l1_oproj_tp1"],
            "Layer 1, TP rank 1 (gpus 1,3): V (l1_split_tp1:v) feeds the weighted sum l1_pv_tp1 but the "
            "softmax l1_softmax_tp1 does not -- it goes straight to the output projection l1_oproj_tp1, so V "
            "bypasses the attention probabilities.")


@defect("v_into_score", "attention", "clean_1.dot")
def d_v_into_score(g):
    g.find_edge("l0_split_tp1", "l0_score_tp1", port="k")["port"] = "v"
    g.find_edge("l0_split_tp1", "l0_pv_tp1", port="v")["port"] = "k"
    return (["l0_split_tp1", "l0_score_tp1", "l0_pv_tp1"],
            "Layer 0, TP rank 1 (gpus 1,3): the split's v port is wired into the score "
            "(l0_split_tp1:v -> l0_score_tp1) and its k port into the weighted sum "
            "(l0_split_tp1:k -> l0_pv_tp1): K and V swapped, so the score is Q·V^T.")


@defect("qkv_into_oproj", "attention", "clean_3.dot")
def d_qkv_into_oproj(g):
    for r in range(2):
        sfx = "_tp%d" % r
        e = g.find_edge("dp1_l1_qkv" + sfx, "dp1_l1_split" + sfx)
        for port in "vkq":
            g.edge_after(e, "dp1_l1_split" + sfx, "dp1_l1_oproj" + sfx, port=port)
        for op in ("score", "softmax", "pv"):
            g.remove_node("dp1_l1_%s%s" % (op, sfx))
    return (["dp1_l1_split_tp0", "dp1_l1_oproj_tp0", "dp1_l1_split_tp1", "dp1_l1_oproj_tp1"],
            "DP replica 1, layer 1: the q, k and v ports of the splits dp1_l1_split_tp0 / dp1_l1_split_tp1 "
            "go straight into the output projections dp1_l1_oproj_tp0 / dp1_l1_oproj_tp1 on both TP ranks "
            "(gpus 2 and 3); no score, softmax or weighted sum is drawn.")


@defect("head_arithmetic", "attention", "clean_1.dot")
def d_head_arithmetic(g):
    return None  # rebuilt with tweaks; see TWEAKS


@defect("tp_heads", "attention", "clean_1.dot")
def d_tp_heads(g):
    return None


@defect("edge_shape_mismatch", "shape", "clean_3.dot")
def d_edge_shape(g):
    g.node("dp0_l1_norm2")["ins"] = [shp(2, 1024, 1536)]
    return (["dp0_l1_res1", "dp0_l1_norm2"],
            "DP replica 0, layer 1: rmsnorm dp0_l1_norm2 (gpus 0-1) expects in [2,1024,1536] but its "
            "producer dp0_l1_res1 outputs [2,1024,2048] (hidden 1536 vs 2048, ratio 3/4, not a parallel "
            "degree).")


@defect("shard_without_gather", "shape", "clean_1.dot")
def d_shard(g):
    n = g.node("l3_attn_ar")
    n["op"] = "reduce-scatter"
    n["size"] = shp(4, 2048, 2048)
    g.rename("l3_attn_ar", "l3_attn_rs")
    return (["l3_attn_rs", "l3_res1"],
            "Layer 3's row-parallel output projections are reduce-scattered (l3_attn_rs, gpus 4-7) into "
            "hidden/TP = 4096/2 = 2048 shards that go straight into the full-size (hidden 4096) residual "
            "add l3_res1 with no all-gather.")


@defect("stage_count", "pipeline", "clean_1.dot")
def d_stage_count(g):
    return None


@defect("stage_range_gap", "pipeline", "clean_1.dot")
def d_stage_gap(g):
    for cl in g.clusters:
        if cl[0] == "stage0":
            cl[1] = "stage 0 (L0-L0)"
    return (["l1_norm1", "l1_res2"],
            "Cluster 'stage 0 (L0-L0)' and 'stage 1 (L2-L3)': layer 1 is in no stage's range (gap), "
            "although its operators (l1_norm1 ... l1_res2, gpus 0-3) are drawn inside stage 0.")


@defect("stage_missing_layer", "pipeline", "clean_1.dot")
def d_stage_missing(g):
    e = g.find_edge("l3_res2", "final_norm")
    e["src"] = "l2_res2"
    for n in [n["id"] for n in g.nodes if n["id"].startswith("l3_")]:
        g.remove_node(n)
    return (["l2_res2", "final_norm"],
            "Stage 1 claims layers L2-L3 (cluster 'stage 1 (L2-L3)') but no operator of layer 3 is drawn: "
            "layer 2's residual add l2_res2 feeds final_norm directly.")


@defect("no_stage_transfer", "pipeline", "clean_1.dot")
def d_no_transfer(g):
    for e in g.edges:
        if e["src"] == "pp0_to_pp1":
            e["src"] = "l1_res2"
    g.remove_edge("l1_res2", "pp0_to_pp1")
    g.remove_node("pp0_to_pp1")
    return (["l1_res2", "l2_norm1", "l2_res1"],
            "Stage 0 (gpus 0-3) and stage 1 (gpus 4-7) are joined by plain edges l1_res2 -> l2_norm1 and "
            "l1_res2 -> l2_res1; the pipeline send/recv pp0 -> pp1 is missing.")


@defect("experts_subset_ranks", "expert", "clean_2.dot")
def d_exp_subset(g):
    for j in range(8):
        n = g.node("l1_exp%d" % j)
        e = 0 if j < 4 else 1
        n["tag"] = "L1 · ep%d · tp0-1" % e
        n["gpus"] = "gpus %d-%d" % (2 * e, 2 * e + 1)
    return (["l1_exp%d" % j for j in range(8)],
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on gpus 0-1, experts 4-7 on gpus "
            "2-3); EP ranks 2 and 3 (gpus 4-7) hold none of its experts although EP is 4.")


@defect("experts_uneven", "expert", "clean_2.dot")
def d_exp_uneven(g):
    n = g.node("l1_exp2")
    n["tag"] = "L1 · ep0 · tp0-1"
    n["gpus"] = "gpus 0-1"
    return (["l1_exp2"],
            "Layer 1's expert 2 sits on EP rank 0 (gpus 0-1) instead of rank 1 (gpus 2-3): ranks 0-3 hold "
            "3, 1, 2, 2 experts instead of 8/4 = 2 each.")


@defect("experts_share_gpu", "expert", "clean_2.dot")
def d_exp_share(g):
    g.node("l0_exp3")["gpus"] = "gpus 0-1"
    return (["l0_exp3", "l0_exp0", "l0_exp1"],
            "Layer 0's expert 3 (tagged ep1) is placed on gpus 0-1, which hold EP rank 0's experts 0 and 1; "
            "EP rank 1's gpus 2-3 keep only expert 2.")


@defect("no_gate", "expert", "clean_1.dot")
def d_no_gate(g):
    e = g.find_edge("l2_tok_split", "l2_dispatch_a2a")
    e["src"] = "l2_norm2"
    g.remove_node("l2_router")
    g.remove_node("l2_tok_split")
    g.node("l2_combine")["ins"] = [shp(16384, 4096)]
    return (["l2_norm2", "l2_dispatch_a2a"],
            "Layer 2 has no MoE router: the rmsnorm l2_norm2 goes straight into the dispatch all-to-all "
            "l2_dispatch_a2a and on to experts 0-3 (no router, no token split).")


@defect("no_all_to_all", "expert", "clean_2.dot")
def d_no_a2a(g):
    e = g.find_edge("l1_tok_split", "l1_dispatch_a2a")
    for j in range(8):
        g.edge_after(e, "l1_tok_split", "l1_exp%d" % (7 - j))
    g.remove_node("l1_dispatch_a2a")
    return (["l1_tok_split"] + ["l1_exp%d" % j for j in range(8)],
            "Layer 1's token split l1_tok_split (gpus 0-7) sends tokens straight to experts 0-7 on EP ranks "
            "0-3 (EP 4) without a dispatch all-to-all.")


@defect("tp_rank_missing", "tensor", "clean_2.dot")
def d_tp_missing(g):
    for op in ("q", "k", "v", "score", "softmax", "pv", "oproj"):
        g.remove_node("l1_%s_tp1" % op)
    return (["l1_%s_tp0" % op for op in ("q", "k", "v", "score", "softmax", "pv", "oproj")] + ["l1_attn_ar"],
            "Layer 1's attention operators are drawn for TP rank 0 only (gpus 0,2,4,6); TP rank 1 "
            "(gpus 1,3,5,7) of TP 2 is missing, so l1_attn_ar reduces a single partial sum.")


@defect("no_allreduce_after_rowparallel", "tensor", "clean_3.dot")
def d_no_ar(g):
    for e in g.edges:
        if e["src"] == "dp0_l0_mlp_ar":
            e["src"] = "dp0_l0_down_tp0"
            ref = e
    g.edge_after(ref, "dp0_l0_down_tp1", "dp0_l0_res2")
    g.remove_node("dp0_l0_mlp_ar")
    return (["dp0_l0_down_tp0", "dp0_l0_down_tp1", "dp0_l0_res2"],
            "DP replica 0, layer 0: the row-parallel ffn down projections dp0_l0_down_tp0 (gpu 0) and "
            "dp0_l0_down_tp1 (gpu 1) feed the residual add dp0_l0_res2 directly, without the TP all-reduce "
            "of their partial sums.")


@defect("cross_gpu_no_comm", "communication", "clean_3.dot")
def d_cross_gpu(g):
    g.find_edge("dp1_embedding", "dp1_l0_norm1")["src"] = "dp0_embedding"
    return (["dp0_embedding", "dp1_l0_norm1"],
            "dp0_embedding on gpus 0-1 feeds dp1_l0_norm1 on gpus 2-3 by a plain edge, with no "
            "communication node.")


@defect("comm_wrong_shape", "communication", "clean_1.dot")
def d_comm_shape(g):
    g.node("l2_attn_ar")["shape"] = "box"
    return (["l2_attn_ar"],
            "Layer 2's attention all-reduce l2_attn_ar (gpus 4-7) is drawn as a box (computation) instead "
            "of an ellipse.")


@defect("missing_gpu", "gpu", "clean_1.dot")
def d_missing_gpu(g):
    g.node("l0_softmax_tp1")["gpus"] = None
    return (["l0_softmax_tp1"],
            "The softmax of layer 0, TP rank 1 (l0_softmax_tp1) has no gpu field.")


@defect("gpu_out_of_range", "gpu", "clean_2.dot")
def d_gpu_range(g):
    g.node("l1_exp5")["gpus"] = "gpus 8-9"
    return (["l1_exp5"],
            "Layer 1's expert 5 (ep2) is placed on gpus 8-9, beyond the 8 GPUs of EP 4 x TP 2 x PP 1 x DP 1 "
            "(ids 0-7).")


@defect("stages_share_gpus", "gpu", "clean_1.dot")
def d_stages_share(g):
    return None


@defect("strategy_mismatch", "strategy", "clean_2.dot")
def d_strategy(g):
    return None


@defect("missing_shapes", "annotation", "clean_1.dot")
def d_missing_shapes(g):
    n = g.node("l2_oproj_tp1")
    n["ins"] = None
    n["out"] = None
    return (["l2_oproj_tp1"],
            "The output projection of layer 2, TP rank 1 (l2_oproj_tp1, gpus 5,7) has no in or out field.")


@defect("placeholder", "annotation", "clean_1.dot")
def d_placeholder(g):
    g.node("l2_router")["ins"] = ["[?,2048,4096]"]
    return (["l2_router"],
            "Layer 2's router l2_router gives its input as [?,2048,4096], a placeholder instead of the batch "
            "size 4.")


@defect("moe_before_attention", "structure", "clean_1.dot")
def d_moe_first(g):
    swap = {("pp0_to_pp1", "l2_norm1"): ("pp0_to_pp1", "l2_norm2"),
            ("pp0_to_pp1", "l2_res1"): ("pp0_to_pp1", "l2_res2"),
            ("l2_res1", "l2_norm2"): ("l2_res2", "l2_norm1"),
            ("l2_res1", "l2_res2"): ("l2_res2", "l2_res1"),
            ("l2_res2", "l3_norm1"): ("l2_res1", "l3_norm1"),
            ("l2_res2", "l3_res1"): ("l2_res1", "l3_res1")}
    for e in g.edges:
        k = (e["src"], e["dst"])
        if k in swap:
            e["src"], e["dst"] = swap[k]
    return (["l2_norm1", "l2_norm2", "l2_res1", "l2_res2"],
            "Layer 2 runs its MoE block before its attention block: the stage input pp0_to_pp1 goes to "
            "l2_norm2 (and skips to l2_res2), the MoE residual l2_res2 feeds l2_norm1, and the attention "
            "residual l2_res1 feeds layer 3.")


@defect("missing_residual", "structure", "clean_1.dot")
def d_missing_res(g):
    g.remove_edge("l0_res2", "l1_res1")
    return (["l1_res1", "l0_res2"],
            "Layer 1's attention residual add l1_res1 is fed only by the all-reduce l1_attn_ar; the skip edge "
            "from layer 0's output l0_res2 is missing.")


# defects expressed as builder tweaks (label/shape rewrites over many nodes)
TWEAKS = {
    "head_arithmetic": (
        dict(heads={(0, 2, None): (16, 64)}),
        ["l2_qkv_tp0", "l2_split_tp0", "l2_qkv_tp1", "l2_split_tp1"],
        "Layer 2 labels q/k/v as 16 heads x head_dim 64 on both TP ranks (l2_split_tp0/tp1 ports "
        "[4,2048,16,64], qkv out [4,2048,3072]): 16 x 64 = 1024 per rank, 32 x 64 = 2048 in total, while "
        "hidden is 4096 (4096/TP2 = 2048 per rank)."),
    "tp_heads": (
        dict(heads={(0, 0, 0): (32, 128)}),
        ["l0_qkv_tp0", "l0_split_tp0"],
        "Layer 0, TP rank 0 of TP 2 (gpus 0,2): the qkv projection l0_qkv_tp0 outputs all 32 heads "
        "(qkv [4,2048,12288], ports [4,2048,32,128]) instead of 32/2 = 16 heads per rank."),
    "stage_count": (
        dict(name="moe_ep2_tp2_pp3", card_gpus=12),
        [],
        "The graph name declares pp3 (digraph \"moe_ep2_tp2_pp3\", model card 12 gpus) but only two "
        "pipeline stages are drawn (stage 0 on gpus 0-3, stage 1 on gpus 4-7)."),
    "stages_share_gpus": (
        dict(stage_base={(0, 1): 2}),
        "stage1",
        "Stage 1 (L2-L3) is placed on gpus 2-5, overlapping stage 0's gpus 0-3 (gpus 2-3 in both)."),
    "strategy_mismatch": (
        dict(name="moe_ep4_tp4_pp1", card_gpus=16),
        [],
        "The graph name declares tp4 (digraph \"moe_ep4_tp4_pp1\", model card 16 gpus) but every "
        "tensor-parallel operator is drawn for TP ranks 0-1 only (TP 2, gpus 0-7)."),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    ok = True
    for fname, cfg in CLEAN.items():
        g = build(cfg)
        ngpu = cfg["ep"] * cfg["tp"] * cfg["pp"] * cfg["dp"]
        probs = self_check(g, ngpu)
        if probs:
            ok = False
            print("SELF-CHECK FAILED %s:" % fname, probs[:20], file=sys.stderr)
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": CLEAN_WHAT[fname]})
    for kind, cat, base, fn in DEFECTS:
        cfg = CLEAN[base]
        if kind in TWEAKS:
            tw, nodes, what = TWEAKS[kind]
            g = build(cfg, tw)
            if isinstance(nodes, str):  # every node of that cluster
                nodes = [n["id"] for n in g.nodes if n["cluster"] == nodes]
        else:
            g = build(cfg)
            nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        ngpu = cfg["ep"] * cfg["tp"] * cfg["pp"] * cfg["dp"]
        print("%-34s self-check: %s" % (fname, "; ".join(self_check(g, ngpu)[:4]) or "-"))
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base,
                         "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
