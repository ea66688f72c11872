#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in one house style ("style_aq").

Run `python3 gen.py` in this folder: it (re)writes out/ with three clean deployments,
one file per defect kind (each a copy of one clean file with exactly one defect), and
out/manifest.json.  Stdlib only.

House style (see the README-like notes in the report as well):
  * HTML-like labels: one <TABLE> per node; a header cell (COLSPAN=2) with the operator in
    bold and a small-font subtitle, then two-cell rows  Shape in | Shape out | GPU.
  * Shapes use the multiplication sign and no brackets (8×2048×4096); several inputs are
    separated by "; ".  Shapes are what one GPU group executing the node sees (per EP group
    in the MoE files, per DP replica in the dense file).
  * GPU ranges with an en dash (0–7), lists with ", " (0, 2, 4, 6).
  * Ids in UPPER_SNAKE (L01_QKV_TP0, L02_EXPERT_05, DP1_L02_MLP_DOWN_TP1).
  * Layers and pipeline stages numbered from 1; ranks (TP, EP, DP), experts and GPUs from 0.
  * Strategy only in an unconnected plaintext legend node titled "Deployment".
  * Pipeline stages as clusters labelled "Stage 1 · Layers 1–2".
  Own quirks:
  (1) An extra fourth annotation row: "Heads" on QKV projections and Q/K/V splits
      ("16 of 32 · d 128" = heads on this TP rank, of the model's total, head dim) and
      "Group" on every communication ellipse (which ranks take part).
  (2) A fixed colour code: header cell tinted by node kind (blue = computation,
      peach = communication, green = routing, grey = graph input/output), stage clusters
      lightly tinted, residual skip edges drawn grey and bold, router edges dashed; and
      the file is sectioned by "// ── ... ──" banner comments (never naming the strategy).
"""

import copy
import json
import os
import shutil
import subprocess

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

X = "×"      # multiplication sign
DASH = "–"   # en dash
DOT = "·"    # middle dot

HEADER_BG = {
    "comp": "#DCE6F2",
    "comm": "#FBE5D6",
    "route": "#E2EFDA",
    "io": "#EDEDED",
}
NODE_SHAPE = {
    "comp": "box",
    "comm": "ellipse",
    "route": "parallelogram",
    "io": "box",
}
STAGE_FILL = ["#F5F8FC", "#FCF8F2", "#F4FAF3", "#FAF4FA"]


# ----------------------------------------------------------------------------------------
# small formatting helpers
# ----------------------------------------------------------------------------------------

def shp(*dims):
    return X.join(str(d) for d in dims)


def many(*shapes):
    return "; ".join(shapes)


def gpus(ids):
    ids = sorted(set(ids))
    if len(ids) == 1:
        return str(ids[0])
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}{DASH}{ids[-1]}"
    return ", ".join(str(i) for i in ids)


def gpu_set(spec):
    out = set()
    for part in spec.split(", "):
        if DASH in part:
            a, b = part.split(DASH)
            out |= set(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def rng(a, b):
    return str(a) if a == b else f"{a}{DASH}{b}"


# ----------------------------------------------------------------------------------------
# graph model
# ----------------------------------------------------------------------------------------

class Graph:
    def __init__(self, name, legend, title_comment):
        self.name = name
        self.legend = legend              # list of (key, value)
        self.title_comment = title_comment
        self.order = []                   # node ids in drawing order
        self.nodes = {}                   # id -> dict
        self.edges = []                   # list of dicts {src, dst, attrs, section}
        self.clusters = {}                # cid -> {"label", "fill"}
        self.cluster_order = []

    # -- nodes ---------------------------------------------------------------------------
    def node(self, nid, kind, header, sub, rows, cluster=None, section=None, extra=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {
            "kind": kind, "shape": NODE_SHAPE[kind], "header": header, "sub": sub,
            "rows": list(rows), "cluster": cluster, "section": section,
            "extra": extra,       # (key, value) fourth row or None
        }
        self.order.append(nid)
        return nid

    def insert_before(self, ref, nid, **kw):
        self.node(nid, **kw)
        self.order.remove(nid)
        self.order.insert(self.order.index(ref), nid)

    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e["src"] != nid and e["dst"] != nid]

    def row(self, nid, key):
        for k, v in self.nodes[nid]["rows"]:
            if k == key:
                return v
        raise KeyError((nid, key))

    def set_row(self, nid, key, value):
        rows = self.nodes[nid]["rows"]
        for i, (k, _v) in enumerate(rows):
            if k == key:
                rows[i] = (k, value)
                return
        raise KeyError((nid, key))

    def del_row(self, nid, key):
        rows = self.nodes[nid]["rows"]
        n = len(rows)
        self.nodes[nid]["rows"] = [(k, v) for k, v in rows if k != key]
        assert len(self.nodes[nid]["rows"]) == n - 1, (nid, key)

    # -- edges ---------------------------------------------------------------------------
    def edge(self, src, dst, section=None, **attrs):
        self.edges.append({"src": src, "dst": dst, "attrs": attrs, "section": section})

    def has_edge(self, src, dst):
        return any(e["src"] == src and e["dst"] == dst for e in self.edges)

    def remove_edge(self, src, dst):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e["src"] == src and e["dst"] == dst)]
        assert len(self.edges) == n - 1, (src, dst)

    def retarget(self, src, dst, new_src=None, new_dst=None, **attrs):
        """Re-point one existing edge in place (keeps its position in the file)."""
        for e in self.edges:
            if e["src"] == src and e["dst"] == dst:
                if new_src:
                    e["src"] = new_src
                if new_dst:
                    e["dst"] = new_dst
                if attrs:
                    e["attrs"] = attrs
                return
        raise KeyError((src, dst))

    def insert_edge_after(self, after_src, after_dst, src, dst, **attrs):
        for i, e in enumerate(self.edges):
            if e["src"] == after_src and e["dst"] == after_dst:
                self.edges.insert(i + 1, {"src": src, "dst": dst, "attrs": attrs,
                                          "section": e["section"]})
                return
        raise KeyError((after_src, after_dst))

    def cluster(self, cid, label, fill):
        self.clusters[cid] = {"label": label, "fill": fill}
        self.cluster_order.append(cid)

    # -- rendering -----------------------------------------------------------------------
    def label_html(self, nid):
        n = self.nodes[nid]
        bg = HEADER_BG[n["kind"]]
        lines = ['<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">',
                 f'<TR><TD COLSPAN="2" BGCOLOR="{bg}"><B>{n["header"]}</B><BR/>'
                 f'<FONT POINT-SIZE="9">{n["sub"]}</FONT></TD></TR>']
        rows = list(n["rows"])
        if n["extra"]:
            rows.append(n["extra"])
        for k, v in rows:
            lines.append(f'<TR><TD ALIGN="LEFT">{k}</TD><TD ALIGN="LEFT">{v}</TD></TR>')
        lines.append("</TABLE>")
        return "\n    ".join(lines)

    def node_text(self, nid, indent):
        n = self.nodes[nid]
        attrs = [f"shape={n['shape']}"]
        if n["kind"] == "io":
            attrs.append('style="rounded"')
        return (f"{indent}{nid} [{', '.join(attrs)}, label=<\n{indent}    "
                + self.label_html(nid).replace("\n    ", f"\n{indent}    ")
                + f"\n{indent}>];")

    def legend_text(self):
        rows = ['<TABLE BORDER="1" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
                'BGCOLOR="#FFFFFF">',
                '<TR><TD COLSPAN="2" BGCOLOR="#D9D9D9"><B>Deployment</B></TD></TR>']
        for k, v in self.legend:
            rows.append(f'<TR><TD ALIGN="LEFT">{k}</TD><TD ALIGN="RIGHT">{v}</TD></TR>')
        rows.append("</TABLE>")
        body = "\n        ".join(rows)
        return f"    LEGEND [shape=plaintext, label=<\n        {body}\n    >];"

    def render(self):
        out = []
        out.append("/*")
        for line in self.title_comment:
            out.append(f" * {line}")
        out.append(" */")
        out.append(f"digraph {self.name} {{")
        out.append('    graph [rankdir=TB, fontname="Helvetica", fontsize=12, '
                   'nodesep=0.35, ranksep=0.45, newrank=true];')
        out.append('    node [fontname="Helvetica", fontsize=10, margin=0.04];')
        out.append('    edge [fontname="Helvetica", fontsize=9, arrowsize=0.7];')
        out.append("")
        out.append("    // ── legend (deliberately unconnected) ──")
        out.append(self.legend_text())

        def emit_nodes(ids, indent):
            last = None
            for nid in ids:
                sec = self.nodes[nid]["section"]
                if sec and sec != last:
                    out.append("")
                    out.append(f"{indent}// ── {sec} ──")
                    last = sec
                out.append(self.node_text(nid, indent))

        # nodes in drawing order; clusters are emitted where their first node appears
        emitted_clusters = set()
        top_run = []
        for nid in self.order:
            cid = self.nodes[nid]["cluster"]
            if cid is None:
                top_run.append(nid)
                continue
            if top_run:
                emit_nodes(top_run, "    ")
                top_run = []
            if cid in emitted_clusters:
                continue
            emitted_clusters.add(cid)
            c = self.clusters[cid]
            out.append("")
            out.append(f"    subgraph {cid} {{")
            out.append(f'        label="{c["label"]}";')
            out.append(f'        style="filled,rounded"; fillcolor="{c["fill"]}"; '
                       'color="#A6A6A6"; fontsize=13;')
            emit_nodes([i for i in self.order if self.nodes[i]["cluster"] == cid], "        ")
            out.append("    }")
        if top_run:
            emit_nodes(top_run, "    ")

        out.append("")
        last = None
        for e in self.edges:
            sec = e["section"]
            if sec and sec != last:
                out.append("")
                out.append(f"    // ── edges {DOT} {sec} ──")
                last = sec
            a = ""
            if e["attrs"]:
                a = " [" + ", ".join(f'{k}="{v}"' for k, v in e["attrs"].items()) + "]"
            out.append(f"    {e['src']} -> {e['dst']}{a};")
        out.append("}")
        return "\n".join(out) + "\n"


SKIP = {"color": "#7F7F7F", "style": "bold"}
ROUTE = {"style": "dashed"}


# ----------------------------------------------------------------------------------------
# builders
# ----------------------------------------------------------------------------------------

def build(cfg):
    ep, tp, pp, dp = cfg["ep"], cfg["tp"], cfg["pp"], cfg["dp"]
    L, H, NH, HD = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    assert NH * HD == H and NH % tp == 0 and L % pp == 0
    moe = cfg["moe"]
    n_gpu = ep * tp * pp * dp
    legend = [("Tensor parallel", tp), ("Expert parallel", ep), ("Pipeline parallel", pp),
              ("Data parallel", dp), ("GPUs", n_gpu)]
    title = [cfg["title"],
             f"{L} decoder layers {DOT} hidden {H} {DOT} {NH} heads {X} {HD}"
             + (f" {DOT} {cfg['experts']} experts, top-{cfg['topk']}" if moe
                else f" {DOT} FFN {cfg['ffn']}"),
             "Shapes are per GPU group executing the node"
             + (" (one EP group's micro-batch)." if moe else " (one replica's micro-batch)."),
             "Placement and parallel degrees: see the Deployment legend."]
    g = Graph(cfg["graph_name"], legend, title)
    g.cfg = cfg

    hr = NH // tp              # heads per TP rank
    hs = hr * HD               # hidden shard per TP rank
    Xs = shp(B, S, H)          # residual stream
    lps = L // pp
    per_stage = ep * tp

    for d in range(dp):
        P = f"DP{d}_" if dp > 1 else ""
        rep = f"DP replica {d} {DOT} " if dp > 1 else ""

        def stage_gpus(s):
            base = (d * pp + s) * per_stage
            return list(range(base, base + per_stage))

        def tp_gpus(s, t):
            base = (d * pp + s) * per_stage
            return [base + r * tp + t for r in range(ep)]

        def ep_gpus(s, r):
            base = (d * pp + s) * per_stage
            return [base + r * tp + t for t in range(tp)]

        def tp_groups(s):
            return ", ".join(gpus(ep_gpus(s, r)) for r in range(ep))

        sec = f"{rep}input"
        inp = g.node(f"{P}INPUT", "io", "Input", f"{rep}token ids",
                     [("Shape in", shp(B, S)), ("Shape out", shp(B, S)),
                      ("GPU", gpus(stage_gpus(0)))], section=sec)
        prev = None
        for s in range(pp):
            first, last = s * lps + 1, (s + 1) * lps
            cid = f"cluster_{P}STAGE_{s + 1}"
            lay = f"Layers {rng(first, last)}" if first != last else f"Layer {first}"
            g.cluster(cid, f"{rep}Stage {s + 1} {DOT} {lay}", STAGE_FILL[(d * pp + s) % 4])
            SG = gpus(stage_gpus(s))
            if s == 0:
                sec = f"{rep}Stage 1 {DOT} embedding"
                emb = g.node(f"{P}EMBED", "comp", "Token Embedding", f"{rep}vocab {V}",
                             [("Shape in", shp(B, S)), ("Shape out", Xs), ("GPU", SG)],
                             cluster=cid, section=sec)
                g.edge(inp, emb, section=sec)
                prev = emb
            else:
                sec = f"{rep}Stage {s} → Stage {s + 1}"
                p2p = g.node(f"{P}PP_SEND_RECV_S{s}_S{s + 1}", "comm", "Pipeline Send / Recv",
                             f"{rep}Stage {s} → Stage {s + 1} {DOT} activations",
                             [("Shape in", Xs), ("Shape out", Xs),
                              ("GPU", gpus(stage_gpus(s - 1) + stage_gpus(s)))],
                             section=sec,
                             extra=("Group", f"GPUs {gpus(stage_gpus(s - 1))} → "
                                             f"{gpus(stage_gpus(s))}"))
                g.edge(prev, p2p, section=sec)
                prev = p2p

            for l in range(first, last + 1):
                Lp = f"{P}L{l:02d}_"
                ls = f"{rep}Layer {l}"
                # ---------------- attention ----------------
                sec = f"{ls} {DOT} attention"
                n1 = g.node(f"{Lp}NORM1", "comp", "RMSNorm", f"{ls} {DOT} pre-attention",
                            [("Shape in", Xs), ("Shape out", Xs), ("GPU", SG)],
                            cluster=cid, section=sec)
                g.edge(prev, n1, section=sec)
                ar = f"{Lp}ATTN_ALLREDUCE"
                for t in range(tp):
                    TG = gpus(tp_gpus(s, t))
                    tl = f"{ls} {DOT} TP rank {t}"
                    heads = ("Heads", f"{hr} of {NH} {DOT} d {HD}")
                    qh = shp(B, S, hr, HD)
                    qkv = g.node(f"{Lp}QKV_TP{t}", "comp", "Fused QKV Projection",
                                 f"{tl} {DOT} column-parallel",
                                 [("Shape in", Xs), ("Shape out", shp(B, S, 3 * hs)),
                                  ("GPU", TG)], cluster=cid, section=sec, extra=heads)
                    spl = g.node(f"{Lp}QKV_SPLIT_TP{t}", "route", f"Split Q {DOT} K {DOT} V",
                                 f"{tl} {DOT} reshape to heads",
                                 [("Shape in", shp(B, S, 3 * hs)),
                                  ("Shape out", many(qh, qh, qh)), ("GPU", TG)],
                                 cluster=cid, section=sec, extra=heads)
                    qr = g.node(f"{Lp}Q_ROPE_TP{t}", "comp", f"Rotary Embedding {DOT} Q", tl,
                                [("Shape in", qh), ("Shape out", qh), ("GPU", TG)],
                                cluster=cid, section=sec)
                    kr = g.node(f"{Lp}K_ROPE_TP{t}", "comp", f"Rotary Embedding {DOT} K", tl,
                                [("Shape in", qh), ("Shape out", qh), ("GPU", TG)],
                                cluster=cid, section=sec)
                    sc = g.node(f"{Lp}ATTN_SCORE_TP{t}", "comp",
                                "Attention Scores QKᵀ / √d", tl,
                                [("Shape in", many(qh, qh)), ("Shape out", shp(B, hr, S, S)),
                                 ("GPU", TG)], cluster=cid, section=sec)
                    sm = g.node(f"{Lp}ATTN_SOFTMAX_TP{t}", "comp", "Causal Softmax", tl,
                                [("Shape in", shp(B, hr, S, S)),
                                 ("Shape out", shp(B, hr, S, S)), ("GPU", TG)],
                                cluster=cid, section=sec)
                    ws = g.node(f"{Lp}ATTN_WSUM_TP{t}", "comp",
                                f"Attention Weighted Sum P{DOT}V",
                                f"{tl} {DOT} heads merged",
                                [("Shape in", many(shp(B, hr, S, S), qh)),
                                 ("Shape out", shp(B, S, hs)), ("GPU", TG)],
                                cluster=cid, section=sec)
                    op = g.node(f"{Lp}O_PROJ_TP{t}", "comp", "Output Projection",
                                f"{tl} {DOT} row-parallel, partial sums",
                                [("Shape in", shp(B, S, hs)), ("Shape out", Xs),
                                 ("GPU", TG)], cluster=cid, section=sec)
                    g.edge(n1, qkv, section=sec)
                    g.edge(qkv, spl, section=sec)
                    g.edge(spl, qr, section=sec, label="Q")
                    g.edge(spl, kr, section=sec, label="K")
                    g.edge(qr, sc, section=sec)
                    g.edge(kr, sc, section=sec)
                    g.edge(sc, sm, section=sec)
                    g.edge(sm, ws, section=sec)
                    g.edge(spl, ws, section=sec, label="V")
                    g.edge(ws, op, section=sec)
                    g.edge(op, ar, section=sec)
                g.node(ar, "comm", "All-Reduce (sum)", f"{ls} {DOT} attention output",
                       [("Shape in", Xs), ("Shape out", Xs), ("GPU", SG)],
                       cluster=cid, section=sec,
                       extra=("Group", f"TP {DOT} GPUs {tp_groups(s)}"))
                r1 = g.node(f"{Lp}RES1", "comp", "Residual Add", f"{ls} {DOT} after attention",
                            [("Shape in", many(Xs, Xs)), ("Shape out", Xs), ("GPU", SG)],
                            cluster=cid, section=sec)
                g.edge(ar, r1, section=sec)
                g.edge(prev, r1, section=sec, **SKIP)
                # ---------------- FFN / MoE ----------------
                sec = f"{ls} {DOT} {'MoE' if moe else 'MLP'}"
                n2 = g.node(f"{Lp}NORM2", "comp", "RMSNorm",
                            f"{ls} {DOT} pre-{'MoE' if moe else 'MLP'}",
                            [("Shape in", Xs), ("Shape out", Xs), ("GPU", SG)],
                            cluster=cid, section=sec)
                g.edge(r1, n2, section=sec)
                r2 = f"{Lp}RES2"
                if moe:
                    E, K = cfg["experts"], cfg["topk"]
                    T = ep * B * S * K // E          # tokens per expert (balanced)
                    rout = shp(B, S, K)
                    rt = g.node(f"{Lp}ROUTER", "route", "MoE Router",
                                f"{ls} {DOT} top-{K} of {E} experts",
                                [("Shape in", Xs), ("Shape out", rout), ("GPU", SG)],
                                cluster=cid, section=sec)
                    da = g.node(f"{Lp}DISPATCH_A2A", "comm", f"All-to-All {DOT} Dispatch",
                                f"{ls} {DOT} tokens to experts",
                                [("Shape in", many(Xs, rout)), ("Shape out", shp(T, H)),
                                 ("GPU", SG)], cluster=cid, section=sec,
                                extra=("Group", f"EP ranks 0{DASH}{ep - 1}"))
                    g.edge(n2, rt, section=sec)
                    g.edge(n2, da, section=sec)
                    g.edge(rt, da, section=sec, **ROUTE)
                    ca = f"{Lp}COMBINE_A2A"
                    for e in range(E):
                        r = e // (E // ep)
                        ex = g.node(f"{Lp}EXPERT_{e:02d}", "comp", f"Expert {e} {DOT} SwiGLU FFN",
                                    f"{ls} {DOT} EP rank {r}",
                                    [("Shape in", shp(T, H)), ("Shape out", shp(T, H)),
                                     ("GPU", gpus(ep_gpus(s, r)))], cluster=cid, section=sec)
                        g.edge(da, ex, section=sec)
                        g.edge(ex, ca, section=sec)
                    g.node(ca, "comm", f"All-to-All {DOT} Combine",
                           f"{ls} {DOT} expert outputs home",
                           [("Shape in", shp(T, H)), ("Shape out", shp(B, S, K, H)),
                            ("GPU", SG)], cluster=cid, section=sec,
                           extra=("Group", f"EP ranks 0{DASH}{ep - 1}"))
                    cb = g.node(f"{Lp}COMBINE", "route", "Weighted Combine",
                                f"{ls} {DOT} top-{K} gate weights",
                                [("Shape in", many(shp(B, S, K, H), rout)), ("Shape out", Xs),
                                 ("GPU", SG)], cluster=cid, section=sec)
                    g.edge(ca, cb, section=sec)
                    g.edge(rt, cb, section=sec, **ROUTE)
                    last_ffn = cb
                else:
                    F = cfg["ffn"]
                    fs = F // tp
                    mar = f"{Lp}MLP_ALLREDUCE"
                    for t in range(tp):
                        TG = gpus(tp_gpus(s, t))
                        tl = f"{ls} {DOT} TP rank {t}"
                        gu = g.node(f"{Lp}MLP_GATE_UP_TP{t}", "comp", "Gate + Up Projection",
                                    f"{tl} {DOT} column-parallel",
                                    [("Shape in", Xs), ("Shape out", shp(B, S, 2 * fs)),
                                     ("GPU", TG)], cluster=cid, section=sec)
                        ac = g.node(f"{Lp}MLP_ACT_TP{t}", "comp", f"SwiGLU {DOT} SiLU(gate) * up",
                                    tl,
                                    [("Shape in", shp(B, S, 2 * fs)), ("Shape out", shp(B, S, fs)),
                                     ("GPU", TG)], cluster=cid, section=sec)
                        dn = g.node(f"{Lp}MLP_DOWN_TP{t}", "comp", "Down Projection",
                                    f"{tl} {DOT} row-parallel, partial sums",
                                    [("Shape in", shp(B, S, fs)), ("Shape out", Xs),
                                     ("GPU", TG)], cluster=cid, section=sec)
                        g.edge(n2, gu, section=sec)
                        g.edge(gu, ac, section=sec)
                        g.edge(ac, dn, section=sec)
                        g.edge(dn, mar, section=sec)
                    g.node(mar, "comm", "All-Reduce (sum)", f"{ls} {DOT} MLP output",
                           [("Shape in", Xs), ("Shape out", Xs), ("GPU", SG)],
                           cluster=cid, section=sec,
                           extra=("Group", f"TP {DOT} GPUs {tp_groups(s)}"))
                    last_ffn = mar
                g.node(r2, "comp", "Residual Add",
                       f"{ls} {DOT} after {'MoE' if moe else 'MLP'}",
                       [("Shape in", many(Xs, Xs)), ("Shape out", Xs), ("GPU", SG)],
                       cluster=cid, section=sec)
                g.edge(last_ffn, r2, section=sec)
                g.edge(r1, r2, section=sec, **SKIP)
                prev = r2

            if s == pp - 1:
                sec = f"{rep}Stage {s + 1} {DOT} head"
                fn = g.node(f"{P}FINAL_NORM", "comp", "Final RMSNorm", f"{rep}after layer {L}",
                            [("Shape in", Xs), ("Shape out", Xs), ("GPU", SG)],
                            cluster=cid, section=sec)
                lm = g.node(f"{P}LM_HEAD", "comp", "LM Head", f"{rep}vocab {V}, replicated",
                            [("Shape in", Xs), ("Shape out", shp(B, S, V)), ("GPU", SG)],
                            cluster=cid, section=sec)
                g.edge(prev, fn, section=sec)
                g.edge(fn, lm, section=sec)
                sec = f"{rep}output"
                o = g.node(f"{P}OUTPUT", "io", "Output", f"{rep}logits",
                           [("Shape in", shp(B, S, V)), ("Shape out", shp(B, S, V)),
                            ("GPU", SG)], section=sec)
                g.edge(lm, o, section=sec)
    return g


CLEAN = {
    "clean_1.dot": dict(
        graph_name="MOE_PIPELINED", title="MoE decoder, forward pass (prefill)",
        moe=True, ep=2, tp=2, pp=2, dp=1, layers=4, hidden=4096, heads=32, head_dim=128,
        experts=4, topk=2, batch=4, seq=1024, vocab=32000),
    "clean_2.dot": dict(
        graph_name="MOE_SINGLE_STAGE", title="MoE decoder, forward pass (prefill)",
        moe=True, ep=4, tp=4, pp=1, dp=1, layers=2, hidden=3072, heads=24, head_dim=128,
        experts=8, topk=2, batch=2, seq=2048, vocab=32000),
    "clean_3.dot": dict(
        graph_name="DENSE_REPLICATED", title="Dense decoder, forward pass (prefill)",
        moe=False, ep=1, tp=2, pp=1, dp=2, layers=2, hidden=2048, heads=16, head_dim=128,
        ffn=8192, batch=8, seq=512, vocab=32000),
}


# ----------------------------------------------------------------------------------------
# defects: each takes a deep copy of one clean graph and changes exactly one thing
# ----------------------------------------------------------------------------------------

DEFECTS = []


def defect(kind, category, base):
    def deco(fn):
        DEFECTS.append((kind, category, base, fn))
        return fn
    return deco


@defect("cycle", "structure", "clean_1.dot")
def d_cycle(g):
    g.insert_edge_after("L01_ATTN_ALLREDUCE", "L01_RES1", "L01_RES1", "L01_ATTN_ALLREDUCE")
    return (["L01_ATTN_ALLREDUCE", "L01_RES1"],
            "Layer 1's attention All-Reduce L01_ATTN_ALLREDUCE is drawn both ways with the "
            "residual add L01_RES1 (L01_ATTN_ALLREDUCE -> L01_RES1 and L01_RES1 -> "
            "L01_ATTN_ALLREDUCE), a two-node cycle.")


@defect("dangling_input", "structure", "clean_1.dot")
def d_dangling_input(g):
    g.remove_edge("L03_RES1", "L03_NORM2")
    return (["L03_NORM2"],
            "Layer 3's pre-MoE RMSNorm L03_NORM2 (stage 2, GPUs 4–7) has no incoming edge: its "
            "input from the residual add L03_RES1 was removed, so the router and dispatch "
            "all-to-all of layer 3 hang off a source-less node.")


@defect("dangling_output", "structure", "clean_2.dot")
def d_dangling_output(g):
    g.remove_edge("L01_EXPERT_05", "L01_COMBINE_A2A")
    return (["L01_EXPERT_05"],
            "Expert 5 of layer 1 (EP rank 2, GPUs 8–11) has no outgoing edge: its output "
            "never reaches the combine all-to-all L01_COMBINE_A2A.")


@defect("attention_one_box", "attention", "clean_1.dot")
def d_attention_one_box(g):
    c = g.cfg
    B, S, H = c["batch"], c["seq"], c["hidden"]
    hr = c["heads"] // c["tp"]
    hs = hr * c["head_dim"]
    ids = []
    for t in range(c["tp"]):
        gp = g.row(f"L02_QKV_TP{t}", "GPU")
        g.insert_before(f"L02_QKV_TP{t}", f"L02_MHA_TP{t}", kind="comp",
                        header="Multi-Head Attention",
                        sub=f"Layer 2 {DOT} TP rank {t}",
                        rows=[("Shape in", shp(B, S, H)), ("Shape out", shp(B, S, hs)),
                              ("GPU", gp)],
                        cluster=g.nodes[f"L02_QKV_TP{t}"]["cluster"],
                        section=g.nodes[f"L02_QKV_TP{t}"]["section"],
                        extra=("Heads", f"{hr} of {c['heads']} {DOT} d {c['head_dim']}"))
        g.insert_edge_after("L02_NORM1", f"L02_QKV_TP{t}", "L02_NORM1", f"L02_MHA_TP{t}")
        g.insert_edge_after("L02_NORM1", f"L02_MHA_TP{t}", f"L02_MHA_TP{t}", f"L02_O_PROJ_TP{t}")
        for n in ("QKV", "QKV_SPLIT", "Q_ROPE", "K_ROPE", "ATTN_SCORE", "ATTN_SOFTMAX",
                  "ATTN_WSUM"):
            g.remove_node(f"L02_{n}_TP{t}")
        ids.append(f"L02_MHA_TP{t}")
    return (ids,
            "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP rank "
            "(L02_MHA_TP0 on GPUs 0, 2 and L02_MHA_TP1 on GPUs 1, 3, each 4×1024×4096 -> "
            "4×1024×2048) instead of fused QKV projection, split, RoPE, QKᵀ scores, softmax and "
            "weighted sum.")


@defect("v_bypasses_softmax", "attention", "clean_1.dot")
def d_v_bypasses_softmax(g):
    g.retarget("L01_ATTN_SOFTMAX_TP1", "L01_ATTN_WSUM_TP1", new_dst="L01_O_PROJ_TP1")
    return (["L01_ATTN_SOFTMAX_TP1", "L01_ATTN_WSUM_TP1", "L01_O_PROJ_TP1"],
            "Layer 1, TP rank 1 (GPUs 1, 3): V (from L01_QKV_SPLIT_TP1) still feeds the weighted "
            "sum L01_ATTN_WSUM_TP1 but the softmax L01_ATTN_SOFTMAX_TP1 does not: it goes "
            "straight to the output projection L01_O_PROJ_TP1, so V bypasses the attention "
            "probabilities.")


@defect("v_into_score", "attention", "clean_2.dot")
def d_v_into_score(g):
    # K and V swapped: V goes into the score, K into the weighted sum
    g.retarget("L01_K_ROPE_TP1", "L01_ATTN_SCORE_TP1", new_src="L01_QKV_SPLIT_TP1",
               label="V")
    g.retarget("L01_QKV_SPLIT_TP1", "L01_ATTN_WSUM_TP1", new_src="L01_K_ROPE_TP1")
    for e in g.edges:            # a RoPE output edge carries no Q/K/V label in this style
        if e["src"] == "L01_K_ROPE_TP1" and e["dst"] == "L01_ATTN_WSUM_TP1":
            e["attrs"] = {}
    return (["L01_QKV_SPLIT_TP1", "L01_K_ROPE_TP1", "L01_ATTN_SCORE_TP1", "L01_ATTN_WSUM_TP1"],
            "Layer 1, TP rank 1 (GPUs 1, 5, 9, 13): V (edge labelled V from L01_QKV_SPLIT_TP1) "
            "is wired into the score L01_ATTN_SCORE_TP1 instead of K, and the rotated K "
            "L01_K_ROPE_TP1 feeds the weighted sum L01_ATTN_WSUM_TP1 (K and V swapped).")


@defect("qkv_into_oproj", "attention", "clean_3.dot")
def d_qkv_into_oproj(g):
    ids = []
    for t in range(2):
        p = f"DP1_L02_"
        op = f"{p}O_PROJ_TP{t}"
        for n in ("ATTN_SCORE", "ATTN_SOFTMAX", "ATTN_WSUM"):
            g.remove_node(f"{p}{n}_TP{t}")
        g.insert_edge_after(f"{p}QKV_SPLIT_TP{t}", f"{p}K_ROPE_TP{t}",
                            f"{p}Q_ROPE_TP{t}", op)
        g.insert_edge_after(f"{p}Q_ROPE_TP{t}", op, f"{p}K_ROPE_TP{t}", op)
        g.insert_edge_after(f"{p}K_ROPE_TP{t}", op, f"{p}QKV_SPLIT_TP{t}", op, label="V")
        ids += [f"{p}Q_ROPE_TP{t}", f"{p}K_ROPE_TP{t}", f"{p}QKV_SPLIT_TP{t}", op]
    return (ids,
            "DP replica 1, layer 2: on both TP ranks (GPU 2 and GPU 3) Q (DP1_L02_Q_ROPE_TP*), "
            "K (DP1_L02_K_ROPE_TP*) and V (DP1_L02_QKV_SPLIT_TP*) go straight into the output "
            "projection DP1_L02_O_PROJ_TP*; no score, softmax or weighted sum is drawn.")


@defect("head_arithmetic", "attention", "clean_1.dot")
def d_head_arithmetic(g):
    c = g.cfg
    B, S, HD, tp = c["batch"], c["seq"], c["head_dim"], c["tp"]
    hr_bad, tot_bad = 8, 8 * tp              # 8 heads per rank, 16 in total
    hs = hr_bad * HD                          # 1024 per rank instead of 2048
    qh = shp(B, S, hr_bad, HD)
    ids = []
    for t in range(tp):
        p = "L03_"
        heads = ("Heads", f"{hr_bad} of {tot_bad} {DOT} d {HD}")
        g.set_row(f"{p}QKV_TP{t}", "Shape out", shp(B, S, 3 * hs))
        g.nodes[f"{p}QKV_TP{t}"]["extra"] = heads
        g.set_row(f"{p}QKV_SPLIT_TP{t}", "Shape in", shp(B, S, 3 * hs))
        g.set_row(f"{p}QKV_SPLIT_TP{t}", "Shape out", many(qh, qh, qh))
        g.nodes[f"{p}QKV_SPLIT_TP{t}"]["extra"] = heads
        for n in ("Q_ROPE", "K_ROPE"):
            g.set_row(f"{p}{n}_TP{t}", "Shape in", qh)
            g.set_row(f"{p}{n}_TP{t}", "Shape out", qh)
        g.set_row(f"{p}ATTN_SCORE_TP{t}", "Shape in", many(qh, qh))
        g.set_row(f"{p}ATTN_SCORE_TP{t}", "Shape out", shp(B, hr_bad, S, S))
        g.set_row(f"{p}ATTN_SOFTMAX_TP{t}", "Shape in", shp(B, hr_bad, S, S))
        g.set_row(f"{p}ATTN_SOFTMAX_TP{t}", "Shape out", shp(B, hr_bad, S, S))
        g.set_row(f"{p}ATTN_WSUM_TP{t}", "Shape in", many(shp(B, hr_bad, S, S), qh))
        g.set_row(f"{p}ATTN_WSUM_TP{t}", "Shape out", shp(B, S, hs))
        g.set_row(f"{p}O_PROJ_TP{t}", "Shape in", shp(B, S, hs))
        ids += [f"{p}QKV_TP{t}", f"{p}QKV_SPLIT_TP{t}"]
    return (ids,
            "Layer 3 labels Q/K/V as 8 heads × head_dim 128 on every TP rank (QKV output "
            "4×1024×3072, 8 × 128 = 1024 per rank, 16 × 128 = 2048 over TP 2) while hidden is "
            "4096 (32 heads × 128; 4096/TP2 = 2048 and 16 heads per rank).")


@defect("tp_heads", "attention", "clean_2.dot")
def d_tp_heads(g):
    c = g.cfg
    B, S, NH, HD = c["batch"], c["seq"], c["heads"], c["head_dim"]
    H = NH * HD
    qh = shp(B, S, NH, HD)
    p, t = "L01_", 0
    heads = ("Heads", f"{NH} of {NH} {DOT} d {HD}")
    g.set_row(f"{p}QKV_TP{t}", "Shape out", shp(B, S, 3 * H))
    g.nodes[f"{p}QKV_TP{t}"]["extra"] = heads
    g.set_row(f"{p}QKV_SPLIT_TP{t}", "Shape in", shp(B, S, 3 * H))
    g.set_row(f"{p}QKV_SPLIT_TP{t}", "Shape out", many(qh, qh, qh))
    g.nodes[f"{p}QKV_SPLIT_TP{t}"]["extra"] = heads
    for n in ("Q_ROPE", "K_ROPE"):
        g.set_row(f"{p}{n}_TP{t}", "Shape in", qh)
        g.set_row(f"{p}{n}_TP{t}", "Shape out", qh)
    g.set_row(f"{p}ATTN_SCORE_TP{t}", "Shape in", many(qh, qh))
    g.set_row(f"{p}ATTN_SCORE_TP{t}", "Shape out", shp(B, NH, S, S))
    g.set_row(f"{p}ATTN_SOFTMAX_TP{t}", "Shape in", shp(B, NH, S, S))
    g.set_row(f"{p}ATTN_SOFTMAX_TP{t}", "Shape out", shp(B, NH, S, S))
    g.set_row(f"{p}ATTN_WSUM_TP{t}", "Shape in", many(shp(B, NH, S, S), qh))
    g.set_row(f"{p}ATTN_WSUM_TP{t}", "Shape out", shp(B, S, H))
    g.set_row(f"{p}O_PROJ_TP{t}", "Shape in", shp(B, S, H))
    return ([f"{p}QKV_TP0", f"{p}QKV_SPLIT_TP0"],
            "Layer 1, TP rank 0 of TP 4 (GPUs 0, 4, 8, 12): the fused QKV projection L01_QKV_TP0 "
            "outputs all 24 heads (2×2048×9216, Heads 24 of 24) instead of 24/4 = 6 heads "
            "per rank (2×2048×2304) as TP ranks 1–3 do.")


@defect("edge_shape_mismatch", "shape", "clean_2.dot")
def d_edge_shape_mismatch(g):
    g.set_row("L02_NORM2", "Shape in", shp(2, 2048, 2304))
    return (["L02_RES1", "L02_NORM2"],
            "Layer 2: the pre-MoE RMSNorm L02_NORM2 expects 2×2048×2304 but its producer "
            "L02_RES1 outputs 2×2048×3072 (ratio 4/3, not a parallel degree).")


@defect("shard_without_gather", "shape", "clean_1.dot")
def d_shard_without_gather(g):
    c = g.cfg
    B, S, H, tp = c["batch"], c["seq"], c["hidden"], c["tp"]
    old = "L04_ATTN_ALLREDUCE"
    new = "L04_ATTN_REDUCE_SCATTER"
    n = g.nodes[old]
    g.insert_before(old, new, kind="comm", header="Reduce-Scatter (sum)",
                    sub=f"Layer 4 {DOT} attention output, hidden sharded",
                    rows=[("Shape in", shp(B, S, H)), ("Shape out", shp(B, S, H // tp)),
                          ("GPU", g.row(old, "GPU"))],
                    cluster=n["cluster"], section=n["section"], extra=n["extra"])
    for e in g.edges:
        if e["src"] == old:
            e["src"] = new
        if e["dst"] == old:
            e["dst"] = new
    g.remove_node(old)
    return ([new, "L04_RES1"],
            "Layer 4's row-parallel output projections are reduce-scattered by "
            "L04_ATTN_REDUCE_SCATTER into hidden/TP = 4096/2 = 2048 shards (4×1024×2048) that go "
            "straight into the full-size (hidden 4096) residual add L04_RES1 with no all-gather.")


@defect("stage_count", "pipeline", "clean_1.dot")
def d_stage_count(g):
    g.legend = [(k, 3 if k == "Pipeline parallel" else v) for k, v in g.legend]
    return (["LEGEND"],
            "The Deployment legend declares Pipeline parallel 3 but two pipeline stages are "
            "drawn (Stage 1 · Layers 1–2 on GPUs 0–3, Stage 2 · Layers 3–4 on GPUs 4–7).")


@defect("stage_range_gap", "pipeline", "clean_1.dot")
def d_stage_range_gap(g):
    g.clusters["cluster_STAGE_1"]["label"] = f"Stage 1 {DOT} Layer 1"
    return (["L02_NORM1", "L02_RES2"],
            "Stage 1 claims layer 1 only (label 'Stage 1 · Layer 1') and stage 2 layers 3–4: "
            "layer 2 is in no stage's range (gap), although its operators (L02_NORM1 … "
            "L02_RES2) are drawn in stage 1 on GPUs 0–3.")


@defect("stage_missing_layer", "pipeline", "clean_1.dot")
def d_stage_missing_layer(g):
    for nid in [n for n in list(g.order) if n.startswith("L04_")]:
        g.remove_node(nid)
    g.insert_edge_after("L03_RES1", "L03_RES2", "L03_RES2", "FINAL_NORM")
    # keep edge order tidy: move it right before FINAL_NORM -> LM_HEAD
    e = [x for x in g.edges if x["src"] == "L03_RES2" and x["dst"] == "FINAL_NORM"][0]
    g.edges.remove(e)
    i = [k for k, x in enumerate(g.edges) if x["src"] == "FINAL_NORM"][0]
    e["section"] = g.edges[i]["section"]
    g.edges.insert(i, e)
    return (["L03_RES2", "FINAL_NORM"],
            "Stage 2 claims layers 3–4 but no operator of layer 4 is drawn: layer 3's residual "
            "add L03_RES2 feeds the final norm FINAL_NORM directly.")


@defect("no_stage_transfer", "pipeline", "clean_1.dot")
def d_no_stage_transfer(g):
    p2p = "PP_SEND_RECV_S1_S2"
    g.retarget("L02_RES2", p2p, new_dst="L03_NORM1")
    g.retarget(p2p, "L03_RES1", new_src="L02_RES2", **SKIP)
    g.remove_node(p2p)          # also drops p2p -> L03_NORM1
    return (["L02_RES2", "L03_NORM1", "L03_RES1"],
            "Stage 1 (GPUs 0–3) and stage 2 (GPUs 4–7) are joined by plain edges from L02_RES2 "
            "to L03_NORM1 and L03_RES1; the pipeline send/recv between the stages is missing.")


@defect("experts_subset_ranks", "expert", "clean_2.dot")
def d_experts_subset_ranks(g):
    ids = []
    for e in range(8):
        r = e // 4                       # experts 0-3 on rank 0, 4-7 on rank 1
        nid = f"L01_EXPERT_{e:02d}"
        g.nodes[nid]["sub"] = f"Layer 1 {DOT} EP rank {r}"
        g.set_row(nid, "GPU", gpus(range(4 * r, 4 * r + 4)))
        ids.append(nid)
    return (ids,
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0–3 on GPUs 0–3, "
            "experts 4–7 on GPUs 4–7); EP ranks 2 and 3 (GPUs 8–15) hold none of its experts "
            "although EP is 4 (2 experts per rank expected).")


@defect("experts_uneven", "expert", "clean_2.dot")
def d_experts_uneven(g):
    nid = "L02_EXPERT_02"
    g.nodes[nid]["sub"] = f"Layer 2 {DOT} EP rank 0"
    g.set_row(nid, "GPU", gpus(range(0, 4)))
    return ([nid],
            "Layer 2's expert 2 sits on EP rank 0 (GPUs 0–3) instead of rank 1 (GPUs 4–7): "
            "ranks 0–3 hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


@defect("experts_share_gpu", "expert", "clean_2.dot")
def d_experts_share_gpu(g):
    nid = "L01_EXPERT_03"
    g.set_row(nid, "GPU", gpus(range(0, 4)))
    return ([nid, "L01_EXPERT_00", "L01_EXPERT_01"],
            "Layer 1's expert 3 (labelled EP rank 1) is placed on GPUs 0–3, which hold EP rank "
            "0's experts 0 and 1, instead of EP rank 1's GPUs 4–7.")


@defect("no_gate", "expert", "clean_2.dot")
def d_no_gate(g):
    g.remove_node("L02_ROUTER")
    return (["L02_NORM2", "L02_DISPATCH_A2A", "L02_COMBINE"],
            "Layer 2 has no MoE router: the RMSNorm L02_NORM2 output goes straight into the "
            "dispatch all-to-all L02_DISPATCH_A2A and on to experts 0–7, and the weighted "
            "combine L02_COMBINE gets no gate weights.")


@defect("no_all_to_all", "expert", "clean_2.dot")
def d_no_all_to_all(g):
    da = "L01_DISPATCH_A2A"
    for e in range(8):
        ex = f"L01_EXPERT_{e:02d}"
        g.insert_edge_after(da, ex, "L01_NORM2", ex)
        g.insert_edge_after("L01_NORM2", ex, "L01_ROUTER", ex, **ROUTE)
    g.remove_node(da)
    return (["L01_ROUTER", "L01_NORM2"] + [f"L01_EXPERT_{e:02d}" for e in range(8)],
            "Layer 1's router L01_ROUTER and norm L01_NORM2 send tokens straight to experts 0–7 "
            "on EP ranks 0–3 (GPUs 0–15, EP 4) without a dispatch all-to-all.")


@defect("tp_rank_missing", "tensor", "clean_2.dot")
def d_tp_rank_missing(g):
    for n in ("QKV", "QKV_SPLIT", "Q_ROPE", "K_ROPE", "ATTN_SCORE", "ATTN_SOFTMAX",
              "ATTN_WSUM", "O_PROJ"):
        g.remove_node(f"L01_{n}_TP3")
    return (["L01_NORM1", "L01_ATTN_ALLREDUCE"],
            "Layer 1's attention operators are drawn for TP ranks 0–2 only; TP rank 3 "
            "(GPUs 3, 7, 11, 15) of TP 4 is missing, so L01_ATTN_ALLREDUCE sums three of four "
            "partial outputs.")


@defect("no_allreduce_after_rowparallel", "tensor", "clean_3.dot")
def d_no_allreduce(g):
    ar = "DP0_L01_MLP_ALLREDUCE"
    g.retarget("DP0_L01_MLP_DOWN_TP0", ar, new_dst="DP0_L01_RES2")
    g.retarget("DP0_L01_MLP_DOWN_TP1", ar, new_dst="DP0_L01_RES2")
    g.remove_node(ar)
    return (["DP0_L01_MLP_DOWN_TP0", "DP0_L01_MLP_DOWN_TP1", "DP0_L01_RES2"],
            "DP replica 0, layer 1: the row-parallel MLP down projections DP0_L01_MLP_DOWN_TP0 "
            "(GPU 0) and DP0_L01_MLP_DOWN_TP1 (GPU 1) feed the residual add DP0_L01_RES2 "
            "directly, without the TP all-reduce of their partial sums.")


@defect("cross_gpu_no_comm", "communication", "clean_3.dot")
def d_cross_gpu_no_comm(g):
    g.retarget("DP1_EMBED", "DP1_L01_NORM1", new_src="DP0_EMBED")
    return (["DP0_EMBED", "DP1_L01_NORM1"],
            "DP0_EMBED on GPUs 0–1 (replica 0) feeds DP1_L01_NORM1 on GPUs 2–3 (replica 1) by a "
            "plain edge, with no communication node.")


@defect("comm_wrong_shape", "communication", "clean_1.dot")
def d_comm_wrong_shape(g):
    g.nodes["L02_ATTN_ALLREDUCE"]["shape"] = "box"
    return (["L02_ATTN_ALLREDUCE"],
            "Layer 2's attention All-Reduce L02_ATTN_ALLREDUCE is drawn as a box (computation) "
            "instead of an ellipse.")


@defect("missing_gpu", "gpu", "clean_1.dot")
def d_missing_gpu(g):
    g.del_row("L01_ATTN_SOFTMAX_TP1", "GPU")
    return (["L01_ATTN_SOFTMAX_TP1"],
            "The causal softmax of layer 1, TP rank 1 (L01_ATTN_SOFTMAX_TP1) has no GPU row.")


@defect("gpu_out_of_range", "gpu", "clean_2.dot")
def d_gpu_out_of_range(g):
    g.set_row("L02_EXPERT_07", "GPU", gpus(range(16, 20)))
    return (["L02_EXPERT_07"],
            "Layer 2's expert 7 (EP rank 3) is placed on GPUs 16–19, beyond the 16 GPUs of "
            "EP 4 × TP 4 × PP 1 × DP 1 (ids 0–15).")


@defect("stages_share_gpus", "gpu", "clean_1.dot")
def d_stages_share_gpus(g):
    shift = -2
    changed = []

    def shift_spec(spec):
        if DASH in spec:
            a, b = spec.split(DASH)
            return gpus(range(int(a) + shift, int(b) + shift + 1))
        return gpus([int(x) + shift for x in spec.split(", ")])

    for nid in g.order:
        n = g.nodes[nid]
        if n["cluster"] == "cluster_STAGE_2" or nid == "OUTPUT":
            g.set_row(nid, "GPU", shift_spec(g.row(nid, "GPU")))
            if n["extra"] and n["extra"][0] == "Group" and "TP" in n["extra"][1]:
                n["extra"] = ("Group", f"TP {DOT} GPUs 2{DASH}3, 4{DASH}5")
            changed.append(nid)
    p2p = "PP_SEND_RECV_S1_S2"
    g.set_row(p2p, "GPU", gpus(range(0, 6)))
    g.nodes[p2p]["extra"] = ("Group", f"GPUs 0{DASH}3 → 2{DASH}5")
    overlap = [n for n in changed if gpu_set(g.row(n, "GPU")) & {0, 1, 2, 3}]
    return (overlap,
            "Stage 2 (layers 3–4) is placed on GPUs 2–5, overlapping stage 1's GPUs 0–3 "
            "(GPUs 2–3 in both); GPUs 6–7 of the 8 hold nothing.")


@defect("strategy_mismatch", "strategy", "clean_3.dot")
def d_strategy_mismatch(g):
    g.legend = [(k, 4 if k == "Tensor parallel" else v) for k, v in g.legend]
    return (["LEGEND"],
            "The Deployment legend declares Tensor parallel 4 but every tensor-parallel "
            "operator is drawn for TP ranks 0–1 only (TP 2, 8 of 16 heads per rank) in both "
            "DP replicas.")


@defect("missing_shapes", "annotation", "clean_1.dot")
def d_missing_shapes(g):
    g.del_row("L02_O_PROJ_TP1", "Shape in")
    g.del_row("L02_O_PROJ_TP1", "Shape out")
    return (["L02_O_PROJ_TP1"],
            "The output projection of layer 2, TP rank 1 (L02_O_PROJ_TP1, GPUs 1, 3) has no "
            "Shape in or Shape out row.")


@defect("placeholder", "annotation", "clean_2.dot")
def d_placeholder(g):
    g.set_row("L02_ROUTER", "Shape in", f"?{X}2048{X}3072")
    return (["L02_ROUTER"],
            "Layer 2's MoE router L02_ROUTER gives its input as ?×2048×3072, a placeholder "
            "instead of the batch of 2.")


@defect("moe_before_attention", "structure", "clean_2.dot")
def d_moe_before_attention(g):
    g.retarget("L01_RES2", "L02_NORM1", new_dst="L02_NORM2")
    g.retarget("L01_RES2", "L02_RES1", new_dst="L02_RES2", **SKIP)
    g.retarget("L02_RES1", "L02_NORM2", new_dst="FINAL_NORM")
    g.retarget("L02_RES1", "L02_RES2", new_src="L02_RES2", new_dst="L02_RES1", **SKIP)
    g.retarget("L02_RES2", "FINAL_NORM", new_dst="L02_NORM1")
    return (["L02_NORM1", "L02_RES1", "L02_NORM2", "L02_RES2"],
            "Layer 2 runs its MoE block (L02_NORM2, router, experts, L02_RES2) before its "
            "attention block: L01_RES2 goes to L02_NORM2, the MoE residual L02_RES2 feeds "
            "L02_NORM1, and the attention residual L02_RES1 feeds the final norm.")


@defect("missing_residual", "structure", "clean_1.dot")
def d_missing_residual(g):
    g.remove_edge("L01_RES2", "L02_RES1")
    return (["L02_RES1", "L01_RES2"],
            "Layer 2's attention residual add L02_RES1 is fed only by the all-reduce "
            "L02_ATTN_ALLREDUCE; the skip edge from L01_RES2 is missing.")


# ----------------------------------------------------------------------------------------

KINDS = [
    "cycle", "dangling_input", "dangling_output", "attention_one_box", "v_bypasses_softmax",
    "v_into_score", "qkv_into_oproj", "head_arithmetic", "tp_heads", "edge_shape_mismatch",
    "shard_without_gather", "stage_count", "stage_range_gap", "stage_missing_layer",
    "no_stage_transfer", "experts_subset_ranks", "experts_uneven", "experts_share_gpu",
    "no_gate", "no_all_to_all", "tp_rank_missing", "no_allreduce_after_rowparallel",
    "cross_gpu_no_comm", "comm_wrong_shape", "missing_gpu", "gpu_out_of_range",
    "stages_share_gpus", "strategy_mismatch", "missing_shapes", "placeholder",
    "moe_before_attention", "missing_residual",
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE deployment, EP 2 × TP 2 × PP 2 × DP 1 on 8 GPUs: 4 layers in two "
                   "stages (layers 1–2 on GPUs 0–3, layers 3–4 on GPUs 4–7) joined by a "
                   "send/recv, 4 experts top-2 (2 per EP rank), hidden 4096 = 32 heads × 128.",
    "clean_2.dot": "Correct MoE deployment, EP 4 × TP 4 × PP 1 × DP 1 on 16 GPUs: 2 layers in "
                   "one stage, 8 experts top-2 (2 per EP rank on GPUs 4r–4r+3), hidden 3072 = "
                   "24 heads × 128 (6 per TP rank).",
    "clean_3.dot": "Correct dense deployment, TP 2 × DP 2 × PP 1 (EP 1) on 4 GPUs: both DP "
                   "replicas drawn (GPUs 0–1 and 2–3), 2 layers each, hidden 2048 = 16 heads × "
                   "128, SwiGLU MLP 8192 with row-parallel down projection all-reduced.",
}


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    manifest = []
    graphs = {}
    for fname, cfg in CLEAN.items():
        g = build(cfg)
        graphs[fname] = g
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": CLEAN_WHAT[fname]})
    done = set()
    for kind, category, base, fn in DEFECTS:
        g = copy.deepcopy(graphs[base])
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes or n == "LEGEND", (kind, n)
        fname = f"defect_{kind}.dot"
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": kind, "category": category, "base": base,
                         "nodes": nodes, "what": what})
        done.add(kind)
    assert done == set(KINDS), set(KINDS) ^ done
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    # parse check with Graphviz when available
    if shutil.which("dot"):
        bad = []
        for m in manifest:
            p = os.path.join(OUT, m["file"])
            r = subprocess.run(["dot", "-Tcanon", p], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if r.returncode != 0:
                bad.append((m["file"], r.stderr.decode()[:300]))
        if bad:
            for b in bad:
                print("PARSE FAIL", *b)
            raise SystemExit(1)
    print(f"wrote {len(manifest)} files + manifest.json to {OUT}")


if __name__ == "__main__":
    main()
