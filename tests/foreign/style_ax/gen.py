#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in the "style_ax" house style.

Run `python3 gen.py` in this folder: writes out/clean_{1,2,3}.dot, one
out/defect_<kind>.dot per defect kind, and out/manifest.json.

House style (applied to every file):
  * Markdown-ish labels in plain (non-HTML) quoted strings: the operator name in
    **bold markers**, lines joined by a literal `<br>`; about a third of the nodes
    (chosen by a stable hash of the id) use `\\n` instead.
  * A trailing note in parentheses as the last label line, e.g. `(column parallel)`.
  * Placement in prose: `runs on GPU 3`, `runs on GPUs 0-3`, `runs on GPUs 0,2,4,6`.
  * Shapes: `Input: [batch=4, seq=1024, hidden=2048]` and `Output → [...]`.
  * Ids in snake case with a `node_` prefix: `node_l1_q_tp0`, `node_dp1_l2_qkv_tp1`.
  * Strategy as an English sentence in the graph label.
  * Pipeline stages as clusters `Pipeline Stage 1 of 2 (Layers 1-2)`; stages and
    layers are numbered from 1, ranks (TP/EP/DP), experts and GPUs from 0.
  * Own quirk 1: a pastel colour scheme by operator family (attention blue, MLP /
    experts amber, routing pink, norms / residuals / embedding green,
    communication grey, pipeline transfers lavender) and `// ── ... ──` banner
    comments before each block in the file text.
  * Own quirk 2: every computation and routing node carries an extra
    `dtype: bf16` line just before its trailing note, and residual skip edges are
    drawn with the edge label `skip` (gate-to-dispatch/combine edges are dashed
    and labelled `routing`).
"""
import copy
import json
import os
import subprocess
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

# ----------------------------------------------------------------------------
# graph model
# ----------------------------------------------------------------------------

FILL = {
    "io": "#ffffff",
    "base": "#e8f5e9",      # embedding, norms, residual adds, LM head
    "attn": "#e3f2fd",
    "mlp": "#fff8e1",       # dense MLP and experts
    "route": "#fce4ec",
    "comm": "#eeeeee",
    "pp": "#ede7f6",
}
SHAPE = {"comp": "box", "io": "box", "comm": "ellipse", "route": "parallelogram"}


def S(**kw):
    """A named shape, order kept: S(batch=4, seq=1024, hidden=2048)."""
    return list(kw.items())


def fmt_shape(s):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in s) + "]"


def fmt_gpus(g):
    g = sorted(g)
    if len(g) == 1:
        return "runs on GPU %d" % g[0]
    if g == list(range(g[0], g[-1] + 1)):
        return "runs on GPUs %d-%d" % (g[0], g[-1])
    return "runs on GPUs " + ",".join(str(x) for x in g)


class Graph:
    def __init__(self, name, label, comment_lines):
        self.name = name
        self.label = label
        self.comment_lines = comment_lines
        self.nodes = {}          # id -> dict
        self.order = []          # ids in insertion order
        self.edges = []          # dicts: src, dst, attrs
        self.clusters = []       # (key, label)
        self.section = None
        self.cluster = None

    # -- building -----------------------------------------------------------
    def node(self, nid, kind, name, ctx=None, extra=(), inp=None, out=None,
             gpus=None, note=None, fam="base", dtype=True):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(id=nid, kind=kind, name=name, ctx=ctx,
                               extra=list(extra), inp=inp, out=out,
                               gpus=None if gpus is None else list(gpus),
                               note=note, fam=fam, dtype=dtype,
                               cluster=self.cluster, section=self.section)
        self.order.append(nid)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append(dict(src=a, dst=b, attrs=attrs))

    def skip(self, a, b):
        self.edge(a, b, label="skip", style="bold", color="#2e7d32")

    def routing(self, a, b):
        self.edge(a, b, label="routing", style="dashed", color="#ad1457")

    def open_cluster(self, key, label):
        self.clusters.append((key, label))
        self.cluster = key

    # -- editing (defect injection) ----------------------------------------
    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if nid not in (e["src"], e["dst"])]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if (e["src"], e["dst"]) != (a, b)]
        assert len(self.edges) == n - 1, (a, b)

    def edge_attrs(self, a, b):
        for e in self.edges:
            if (e["src"], e["dst"]) == (a, b):
                return e["attrs"]
        raise KeyError((a, b))

    def insert_node_after(self, nid, after):
        self.order.remove(nid)
        self.order.insert(self.order.index(after) + 1, nid)

    def set_cluster_label(self, key, label):
        self.clusters = [(k, label if k == key else l) for k, l in self.clusters]

    # -- rendering ----------------------------------------------------------
    def label_of(self, n):
        lines = ["**%s**" % n["name"]]
        if n["ctx"]:
            lines.append(n["ctx"])
        lines += n["extra"]
        if n["inp"] is not None:
            lines.append("Input: " + ", ".join(fmt_shape(s) for s in n["inp"]))
        if n["out"] is not None:
            lines.append("Output → " + ", ".join(fmt_shape(s) for s in n["out"]))
        if n["gpus"] is not None:
            lines.append(fmt_gpus(n["gpus"]))
        if n["dtype"] and n["kind"] in ("comp", "route"):
            lines.append("dtype: bf16")
        if n["note"]:
            lines.append(n["note"])
        sep = "\\n" if zlib.crc32(n["id"].encode()) % 3 == 0 else "<br>"
        return sep.join(l.replace('"', '\\"') for l in lines)

    def node_line(self, n, indent):
        kind = n["kind"]
        attrs = ['shape=%s' % n.get("shape_override", SHAPE[kind])]
        fill = FILL["comm"] if kind == "comm" else FILL[n["fam"]]
        if kind == "comm" and n["fam"] == "pp":
            fill = FILL["pp"]
        style = "filled,bold" if kind == "io" else "filled"
        attrs.append('style="%s"' % style)
        attrs.append('fillcolor="%s"' % fill)
        attrs.append('label="%s"' % self.label_of(n))
        return '%s%s [%s];' % (indent, n["id"], ", ".join(attrs))

    def render(self):
        out = []
        for c in self.comment_lines:
            out.append("// " + c)
        out.append("digraph %s {" % self.name)
        out.append('    label="%s";' % self.label.replace("\n", "\\n"))
        out.append('    labelloc=t; fontname="Helvetica"; rankdir=TB; compound=true;')
        out.append('    node [fontname="Helvetica", fontsize=10];')
        out.append('    edge [fontname="Helvetica", fontsize=9];')
        out.append("")

        def emit(ids, indent):
            cur = object()
            for nid in ids:
                n = self.nodes[nid]
                if n["section"] != cur:
                    cur = n["section"]
                    if cur:
                        out.append("")
                        out.append("%s// ── %s ──" % (indent, cur))
                out.append(self.node_line(n, indent))

        for key, label in self.clusters:
            ids = [i for i in self.order if self.nodes[i]["cluster"] == key]
            out.append("    subgraph %s {" % key)
            out.append('        label="%s";' % label)
            out.append('        style="rounded,dashed"; color="#9e9e9e";')
            emit(ids, "        ")
            out.append("    }")
            out.append("")
        rest = [i for i in self.order if self.nodes[i]["cluster"] is None]
        if rest:
            emit(rest, "    ")
            out.append("")
        out.append("    // ── edges ──")
        for e in self.edges:
            a = ""
            if e["attrs"]:
                a = " [" + ", ".join('%s="%s"' % kv for kv in e["attrs"].items()) + "]"
            out.append("    %s -> %s%s;" % (e["src"], e["dst"], a))
        out.append("}")
        return "\n".join(out) + "\n"


HEADER = ["style_ax deployment DAG (forward pass, inference)",
          "labels: **operator**, Input / Output → shapes, placement in prose"]

# ----------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------


def attention_block(g, p, L, tp, gpus_of_tp, stage_gpus, B, Sq, H, NH, HD,
                    prev, reduce="ar", fused=False, lbl_prefix=""):
    """Pre-norm attention with TP-sharded heads; returns the residual-add id."""
    hs = S(batch=B, seq=Sq, hidden=H)
    nh = NH // tp
    qs = S(batch=B, seq=Sq, heads=nh, head_dim=HD)
    ss = S(batch=B, heads=nh, seq_q=Sq, seq_k=Sq)
    ctx0 = "%sLayer %d" % (lbl_prefix, L)
    g.section = "%sLayer %d: attention block" % (lbl_prefix, L)
    norm = g.node(p + "l%d_norm1" % L, "comp", "RMSNorm (pre-attention)", ctx0,
                  inp=[hs], out=[hs], gpus=stage_gpus, note="(replicated)")
    g.edge(prev, norm)
    oprojs = []
    for t in range(tp):
        c = "%s · TP rank %d of %d" % (ctx0, t, tp)
        G = gpus_of_tp(t)
        if fused:
            qkv = g.node(p + "l%d_qkv_tp%d" % (L, t), "comp", "Fused QKV Projection", c,
                         extra=["%d heads x head_dim %d for each of Q, K, V" % (nh, HD)],
                         inp=[hs], out=[S(batch=B, seq=Sq, qkv=3 * nh * HD)], gpus=G,
                         note="(column parallel)", fam="attn")
            spl = g.node(p + "l%d_split_tp%d" % (L, t), "route", "QKV Split", c,
                         inp=[S(batch=B, seq=Sq, qkv=3 * nh * HD)], out=[qs, qs, qs],
                         gpus=G, note="(Q, K, V views, no copy)", fam="attn")
            g.edge(norm, qkv)
            g.edge(qkv, spl)
            qsrc, ksrc, vsrc = spl, None, spl
        else:
            q = g.node(p + "l%d_q_tp%d" % (L, t), "comp", "Q Projection", c, inp=[hs],
                       out=[qs], gpus=G, note="(column parallel)", fam="attn")
            k = g.node(p + "l%d_k_tp%d" % (L, t), "comp", "K Projection", c, inp=[hs],
                       out=[qs], gpus=G, note="(column parallel)", fam="attn")
            v = g.node(p + "l%d_v_tp%d" % (L, t), "comp", "V Projection", c, inp=[hs],
                       out=[qs], gpus=G, note="(column parallel)", fam="attn")
            for x in (q, k, v):
                g.edge(norm, x)
            qsrc, ksrc, vsrc = q, k, v
        sc = g.node(p + "l%d_score_tp%d" % (L, t), "comp", "Attention Scores (Q·K^T / sqrt(d))",
                    c, inp=[qs, qs], out=[ss], gpus=G, note="(local to the TP rank)",
                    fam="attn")
        sm = g.node(p + "l%d_softmax_tp%d" % (L, t), "comp", "Softmax", c, inp=[ss],
                    out=[ss], gpus=G, note="(causal mask applied)", fam="attn")
        ws = g.node(p + "l%d_wsum_tp%d" % (L, t), "comp", "Attention Weighted Sum (probs x V)",
                    c, inp=[ss, qs], out=[qs], gpus=G, note="(local to the TP rank)",
                    fam="attn")
        op = g.node(p + "l%d_oproj_tp%d" % (L, t), "comp", "Output Projection", c,
                    inp=[qs], out=[hs], gpus=G, note="(row parallel, partial sums)",
                    fam="attn")
        if fused:
            g.edge(qsrc, sc, label="Q, K")
        else:
            g.edge(qsrc, sc)
            g.edge(ksrc, sc)
        g.edge(sc, sm)
        g.edge(sm, ws)
        if fused:
            g.edge(vsrc, ws, label="V")
        else:
            g.edge(vsrc, ws)
        g.edge(ws, op)
        oprojs.append(op)
    groups = tp_groups_text(stage_gpus, gpus_of_tp, tp)
    if reduce == "ar":
        ar = g.node(p + "l%d_attn_ar" % L, "comm", "TP All-Reduce (attention)", ctx0,
                    extra=[groups], inp=[hs], out=[hs], gpus=stage_gpus,
                    note="(sums the row-parallel partial outputs)")
        for op in oprojs:
            g.edge(op, ar)
        last = ar
    else:
        shard = S(batch=B, seq=Sq, hidden=H // tp)
        rs = g.node(p + "l%d_attn_rs" % L, "comm", "TP Reduce-Scatter (attention)", ctx0,
                    extra=[groups], inp=[hs], out=[shard], gpus=stage_gpus,
                    note="(each rank keeps hidden/%d)" % tp)
        ag = g.node(p + "l%d_attn_ag" % L, "comm", "TP All-Gather (attention)", ctx0,
                    extra=[groups], inp=[shard], out=[hs], gpus=stage_gpus,
                    note="(back to full hidden)")
        for op in oprojs:
            g.edge(op, rs)
        g.edge(rs, ag)
        last = ag
    res = g.node(p + "l%d_res1" % L, "comp", "Residual Add (attention)", ctx0,
                 inp=[hs, hs], out=[hs], gpus=stage_gpus, note="(replicated)")
    g.edge(last, res)
    g.skip(prev, res)
    return res


def tp_groups_text(stage_gpus, gpus_of_tp, tp):
    per = [gpus_of_tp(t) for t in range(tp)]
    groups = []
    for i in range(len(per[0])):
        groups.append("{" + ",".join(str(per[t][i]) for t in range(tp)) + "}")
    return "TP groups: " + " ".join(groups)


def moe_block(g, p, L, ep, tp, E, K, B, Sq, H, FFN, stage_gpus, gpus_of_ep, prev):
    hs = S(batch=B, seq=Sq, hidden=H)
    rs = S(batch=B, seq=Sq, top_k=K)
    T = B * Sq * K // E
    et = S(tokens=T, hidden=H)
    ks = S(batch=B, seq=Sq, top_k=K, hidden=H)
    ctx0 = "Layer %d" % L
    g.section = "Layer %d: MoE block" % L
    norm = g.node(p + "l%d_norm2" % L, "comp", "RMSNorm (pre-MoE)", ctx0, inp=[hs], out=[hs],
                  gpus=stage_gpus, note="(replicated)")
    g.edge(prev, norm)
    gate = g.node(p + "l%d_gate" % L, "route", "MoE Router (Top-%d Gate)" % K, ctx0,
                  extra=["selects %d of %d experts per token" % (K, E)], inp=[hs], out=[rs],
                  gpus=stage_gpus, note="(expert ids + weights)", fam="route")
    g.edge(norm, gate)
    disp = g.node(p + "l%d_dispatch" % L, "comm", "Dispatch All-to-All", ctx0,
                  extra=["EP group: ranks 0-%d, %d tokens to each expert" % (ep - 1, T)],
                  inp=[hs, rs], out=[et], gpus=stage_gpus, note="(tokens to their experts)")
    g.edge(norm, disp)
    g.routing(gate, disp)
    comb = g.node(p + "l%d_combine_a2a" % L, "comm", "Combine All-to-All", ctx0,
                  extra=["EP group: ranks 0-%d" % (ep - 1)], inp=[et], out=[ks],
                  gpus=stage_gpus, note="(expert outputs back to their tokens)")
    per = E // ep
    for e in range(E):
        r = e // per
        G = gpus_of_ep(r)
        c = "Layer %d · Expert %d · EP rank %d of %d" % (L, e, r, ep)
        if tp > 1:
            ex = g.node(p + "l%d_expert%d" % (L, e), "comp", "Expert %d FFN (SwiGLU)" % e, c,
                        extra=["ffn %d, %d per TP rank" % (FFN, FFN // tp)],
                        inp=[et], out=[et], gpus=G,
                        note="(up/gate column parallel, down row parallel: partial sums)",
                        fam="mlp")
            ar = g.node(p + "l%d_expert%d_ar" % (L, e), "comm", "Expert TP All-Reduce", c,
                        inp=[et], out=[et], gpus=G, note="(sums expert %d's partial outputs)" % e)
            g.edge(disp, ex)
            g.edge(ex, ar)
            g.edge(ar, comb)
        else:
            ex = g.node(p + "l%d_expert%d" % (L, e), "comp", "Expert %d FFN (SwiGLU)" % e, c,
                        extra=["ffn %d" % FFN], inp=[et], out=[et], gpus=G,
                        note="(whole expert on one GPU)", fam="mlp")
            g.edge(disp, ex)
            g.edge(ex, comb)
    # combine node is declared after the experts for a readable file
    g.insert_node_after(comb, g.order[-1])
    wc = g.node(p + "l%d_moe_combine" % L, "route", "Top-%d Weighted Combine" % K, ctx0,
                inp=[ks, rs], out=[hs], gpus=stage_gpus, note="(weights from the router)",
                fam="route")
    g.edge(comb, wc)
    g.routing(gate, wc)
    res = g.node(p + "l%d_res2" % L, "comp", "Residual Add (MoE)", ctx0, inp=[hs, hs],
                 out=[hs], gpus=stage_gpus, note="(replicated)")
    g.edge(wc, res)
    g.skip(prev, res)
    return res


def mlp_block(g, p, L, tp, B, Sq, H, FFN, stage_gpus, gpus_of_tp, prev, lbl_prefix=""):
    hs = S(batch=B, seq=Sq, hidden=H)
    fs = S(batch=B, seq=Sq, ffn=FFN // tp)
    ctx0 = "%sLayer %d" % (lbl_prefix, L)
    g.section = "%sLayer %d: MLP block" % (lbl_prefix, L)
    norm = g.node(p + "l%d_norm2" % L, "comp", "RMSNorm (pre-MLP)", ctx0, inp=[hs], out=[hs],
                  gpus=stage_gpus, note="(replicated)")
    g.edge(prev, norm)
    downs = []
    for t in range(tp):
        c = "%s · TP rank %d of %d" % (ctx0, t, tp)
        G = gpus_of_tp(t)
        up = g.node(p + "l%d_up_tp%d" % (L, t), "comp", "MLP Up Projection", c, inp=[hs],
                    out=[fs], gpus=G, note="(column parallel)", fam="mlp")
        act = g.node(p + "l%d_act_tp%d" % (L, t), "comp", "GELU", c, inp=[fs], out=[fs],
                     gpus=G, note="(elementwise)", fam="mlp")
        dn = g.node(p + "l%d_down_tp%d" % (L, t), "comp", "MLP Down Projection", c, inp=[fs],
                    out=[hs], gpus=G, note="(row parallel, partial sums)", fam="mlp")
        g.edge(norm, up)
        g.edge(up, act)
        g.edge(act, dn)
        downs.append(dn)
    ar = g.node(p + "l%d_mlp_ar" % L, "comm", "TP All-Reduce (MLP)", ctx0,
                extra=[tp_groups_text(stage_gpus, gpus_of_tp, tp)], inp=[hs], out=[hs],
                gpus=stage_gpus, note="(sums the row-parallel partial outputs)")
    for d in downs:
        g.edge(d, ar)
    res = g.node(p + "l%d_res2" % L, "comp", "Residual Add (MLP)", ctx0, inp=[hs, hs], out=[hs],
                 gpus=stage_gpus, note="(replicated)")
    g.edge(ar, res)
    g.skip(prev, res)
    return res


def head_nodes(g, p, B, Sq, H, V, gpus, prev, lbl_prefix=""):
    hs = S(batch=B, seq=Sq, hidden=H)
    g.section = lbl_prefix + "final norm, LM head, output"
    fn = g.node(p + "final_norm", "comp", "Final RMSNorm", lbl_prefix.rstrip(" ·") or None,
                inp=[hs], out=[hs], gpus=gpus, note="(replicated)")
    g.edge(prev, fn)
    lm = g.node(p + "lm_head", "comp", "LM Head", lbl_prefix.rstrip(" ·") or None,
                extra=["vocab %d" % V], inp=[hs], out=[S(batch=B, seq=Sq, vocab=V)],
                gpus=gpus, note="(replicated, logits)")
    g.edge(fn, lm)
    o = g.node(p + "output", "io", "Output", lbl_prefix.rstrip(" ·") or None,
               inp=[S(batch=B, seq=Sq, vocab=V)], out=[S(batch=B, seq=Sq, vocab=V)],
               gpus=gpus, note="(next-token logits)", fam="io", dtype=False)
    g.edge(lm, o)
    return o


def input_nodes(g, p, B, Sq, H, V, gpus, lbl_prefix=""):
    g.section = lbl_prefix + "input and embedding"
    c = lbl_prefix.rstrip(" ·") or None
    i = g.node(p + "input", "io", "Input", c, inp=[S(batch=B, seq=Sq)], out=[S(batch=B, seq=Sq)],
               gpus=gpus, note="(token ids)", fam="io", dtype=False)
    e = g.node(p + "embed", "comp", "Token Embedding", c, extra=["vocab %d" % V],
               inp=[S(batch=B, seq=Sq)], out=[S(batch=B, seq=Sq, hidden=H)], gpus=gpus,
               note="(replicated)")
    g.edge(i, e)
    return e


# ----------------------------------------------------------------------------
# the three clean deployments
# ----------------------------------------------------------------------------

def clean_1():
    """MoE, EP4 x TP2 x PP2, 4 layers, 16 GPUs."""
    EP, TP, PP = 4, 2, 2
    B, Sq, H, NH, HD, E, K, FFN, V = 4, 1024, 2048, 16, 128, 8, 2, 1408, 32000
    g = Graph("moe_ep4_tp2_pp2",
              "Deployment of a 4-layer MoE with 4-way expert parallelism, 2-way tensor "
              "parallelism and 2 pipeline stages (no data parallelism)\n"
              "Model: hidden 2048, 16 attention heads of 128, 8 experts per layer (top-2), "
              "expert FFN 1408, vocab 32000; batch 4 x seq 1024", HEADER)
    p = "node_"
    prev = None
    for s in range(PP):
        base = 8 * s
        sg = list(range(base, base + 8))
        gt = lambda t, base=base: [base + t + TP * r for r in range(EP)]
        ge = lambda r, base=base: [base + TP * r + i for i in range(TP)]
        L0 = 2 * s + 1
        g.open_cluster("cluster_stage%d" % (s + 1),
                       "Pipeline Stage %d of %d (Layers %d-%d)" % (s + 1, PP, L0, L0 + 1))
        if s == 0:
            prev = input_nodes(g, p, B, Sq, H, V, sg)
        else:
            g.section = "pipeline transfer"
            rv = g.node(p + "pp_recv_s2", "comm", "Pipeline Recv (P2P)",
                        "Stage 1 → Stage 2", inp=[S(batch=B, seq=Sq, hidden=H)],
                        out=[S(batch=B, seq=Sq, hidden=H)], gpus=sg,
                        note="(receives the residual stream)", fam="pp")
            g.edge(prev, rv)
            prev = rv
        for L in (L0, L0 + 1):
            r1 = attention_block(g, p, L, TP, gt, sg, B, Sq, H, NH, HD, prev)
            prev = moe_block(g, p, L, EP, TP, E, K, B, Sq, H, FFN, sg, ge, r1)
        if s == 0:
            g.section = "pipeline transfer"
            sd = g.node(p + "pp_send_s1", "comm", "Pipeline Send (P2P)", "Stage 1 → Stage 2",
                        inp=[S(batch=B, seq=Sq, hidden=H)], out=[S(batch=B, seq=Sq, hidden=H)],
                        gpus=sg, note="(sends the residual stream)", fam="pp")
            g.edge(prev, sd)
            prev = sd
        else:
            head_nodes(g, p, B, Sq, H, V, sg, prev)
    return g


def clean_2():
    """MoE, EP2 x TP4 x PP1, 2 layers, 8 GPUs; attention reduced by RS + AG."""
    EP, TP = 2, 4
    B, Sq, H, NH, HD, E, K, FFN, V = 2, 2048, 3072, 24, 128, 8, 2, 2048, 32000
    g = Graph("moe_ep2_tp4",
              "Deployment of a 2-layer MoE with 2-way expert parallelism, 4-way tensor "
              "parallelism and a single pipeline stage (no data parallelism)\n"
              "Model: hidden 3072, 24 attention heads of 128, 8 experts per layer (top-2), "
              "expert FFN 2048, vocab 32000; batch 2 x seq 2048", HEADER)
    p = "node_"
    sg = list(range(8))
    gt = lambda t: [t + TP * r for r in range(EP)]
    ge = lambda r: [TP * r + i for i in range(TP)]
    g.open_cluster("cluster_stage1", "Pipeline Stage 1 of 1 (Layers 1-2)")
    prev = input_nodes(g, p, B, Sq, H, V, sg)
    for L in (1, 2):
        r1 = attention_block(g, p, L, TP, gt, sg, B, Sq, H, NH, HD, prev, reduce="rsag")
        prev = moe_block(g, p, L, EP, TP, E, K, B, Sq, H, FFN, sg, ge, r1)
    head_nodes(g, p, B, Sq, H, V, sg, prev)
    return g


def clean_3():
    """Dense, TP2 x DP2 (both replicas drawn), PP1, 2 layers, 4 GPUs, fused QKV."""
    TP, DP = 2, 2
    B, Sq, H, NH, HD, FFN, V = 4, 512, 1024, 16, 64, 4096, 32000
    g = Graph("dense_tp2_dp2",
              "Deployment of a 2-layer dense transformer with 2-way tensor parallelism and "
              "2-way data parallelism (both replicas drawn, a single pipeline stage, no "
              "expert parallelism)\n"
              "Model: hidden 1024, 16 attention heads of 64, MLP FFN 4096, vocab 32000; "
              "batch 4 x seq 512 per replica", HEADER)
    for d in range(DP):
        p = "node_dp%d_" % d
        sg = [TP * d + t for t in range(TP)]
        gt = lambda t, d=d: [TP * d + t]
        pre = "DP rank %d · " % d
        g.open_cluster("cluster_dp%d_stage1" % d,
                       "DP Replica %d: Pipeline Stage 1 of 1 (Layers 1-2)" % d)
        prev = input_nodes(g, p, B, Sq, H, V, sg, pre)
        for L in (1, 2):
            r1 = attention_block(g, p, L, TP, gt, sg, B, Sq, H, NH, HD, prev, fused=True,
                                 lbl_prefix=pre)
            prev = mlp_block(g, p, L, TP, B, Sq, H, FFN, sg, gt, r1, lbl_prefix=pre)
        head_nodes(g, p, B, Sq, H, V, sg, prev, pre)
    return g


CLEAN = {"clean_1.dot": clean_1, "clean_2.dot": clean_2, "clean_3.dot": clean_3}

# ----------------------------------------------------------------------------
# defects: each returns (graph, nodes, what)
# ----------------------------------------------------------------------------


def sub_shape(shape, key, val):
    return [(k, val if k == key else v) for k, v in shape]


def d_cycle():
    g = clean_1()
    g.edge("node_l2_res1", "node_l2_attn_ar")
    return g, ["node_l2_attn_ar", "node_l2_res1"], (
        "Layer 2's attention TP All-Reduce node_l2_attn_ar is drawn both ways with the "
        "residual add (node_l2_attn_ar -> node_l2_res1 and node_l2_res1 -> node_l2_attn_ar), "
        "a two-node cycle through a communication node.")


def d_dangling_input():
    g = clean_2()
    g.remove_edge("node_l2_res1", "node_l2_norm2")
    return g, ["node_l2_norm2"], (
        "Layer 2's pre-MoE RMSNorm node_l2_norm2 has no incoming edge: its input from the "
        "attention residual add node_l2_res1 was removed (node_l2_res1 still feeds "
        "node_l2_res2 through the skip edge).")


def d_dangling_output():
    g = clean_1()
    g.remove_edge("node_l3_expert6_ar", "node_l3_combine_a2a")
    return g, ["node_l3_expert6_ar"], (
        "Layer 3's Expert TP All-Reduce of expert 6 (EP rank 3, GPUs 14-15) node_l3_expert6_ar "
        "has no outgoing edge: expert 6's output never reaches the Combine All-to-All "
        "node_l3_combine_a2a.")


def d_attention_one_box():
    g = clean_2()
    L, tp = 2, 4
    B, Sq, H, nh, HD = 2, 2048, 3072, 6, 128
    hs = S(batch=B, seq=Sq, hidden=H)
    qs = S(batch=B, seq=Sq, heads=nh, head_dim=HD)
    ids = []
    for t in range(tp):
        G = [t, t + 4]
        q = "node_l%d_q_tp%d" % (L, t)
        sec = g.nodes[q]["section"]
        mha = "node_l%d_mha_tp%d" % (L, t)
        g.cluster = g.nodes[q]["cluster"]
        g.section = sec
        g.node(mha, "comp", "Multi-Head Attention", "Layer %d · TP rank %d of %d" % (L, t, tp),
               extra=["%d of 24 heads, head_dim %d" % (nh, HD)], inp=[hs], out=[qs], gpus=G,
               note="(heads split across TP ranks)", fam="attn")
        g.insert_node_after(mha, q)
        for x in ("q", "k", "v", "score", "softmax", "wsum"):
            g.remove_node("node_l%d_%s_tp%d" % (L, x, t))
        g.edge("node_l2_norm1", mha)
        g.edge(mha, "node_l%d_oproj_tp%d" % (L, t))
        ids.append(mha)
    return g, ids, (
        "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP rank "
        "(node_l2_mha_tp0..tp3, GPUs {0,4} {1,5} {2,6} {3,7}) feeding the output projections "
        "instead of Q/K/V projections, scores, softmax and weighted sum.")


def d_v_bypasses_softmax():
    g = clean_1()
    g.remove_edge("node_l3_softmax_tp1", "node_l3_wsum_tp1")
    g.edge("node_l3_softmax_tp1", "node_l3_oproj_tp1")
    return g, ["node_l3_softmax_tp1", "node_l3_wsum_tp1", "node_l3_oproj_tp1"], (
        "Layer 3, TP rank 1 (GPUs 9,11,13,15): V feeds the weighted sum node_l3_wsum_tp1 but "
        "the softmax node_l3_softmax_tp1 does not (it goes straight to the output projection "
        "node_l3_oproj_tp1, whose input [batch=4, seq=1024, heads=8, head_dim=128] then differs "
        "from the softmax's [batch=4, heads=8, seq_q=1024, seq_k=1024]), so V bypasses the "
        "attention probabilities.")


def d_v_into_score():
    g = clean_1()
    g.remove_edge("node_l1_k_tp0", "node_l1_score_tp0")
    g.remove_edge("node_l1_v_tp0", "node_l1_wsum_tp0")
    g.edge("node_l1_v_tp0", "node_l1_score_tp0")
    g.edge("node_l1_k_tp0", "node_l1_wsum_tp0")
    return g, ["node_l1_v_tp0", "node_l1_k_tp0", "node_l1_score_tp0", "node_l1_wsum_tp0"], (
        "Layer 1, TP rank 0 (GPUs 0,2,4,6): V node_l1_v_tp0 is wired into the score "
        "node_l1_score_tp0 instead of K, and K node_l1_k_tp0 feeds the weighted sum "
        "node_l1_wsum_tp0 (K and V swapped).")


def d_qkv_into_oproj():
    g = clean_3()
    p = "node_dp1_l2_"
    for t in range(2):
        for x in ("score", "softmax", "wsum"):
            g.remove_node(p + "%s_tp%d" % (x, t))
        g.edge(p + "split_tp%d" % t, p + "oproj_tp%d" % t, label="Q, K, V")
    return g, [p + "split_tp0", p + "split_tp1", p + "oproj_tp0", p + "oproj_tp1"], (
        "DP replica 1, layer 2: the QKV splits node_dp1_l2_split_tp0/tp1 send Q, K and V "
        "straight into the output projections node_dp1_l2_oproj_tp0/tp1 on both TP ranks "
        "(GPUs 2 and 3); no score, softmax or weighted sum is drawn.")


def d_head_arithmetic():
    g = clean_2()
    ids = []
    for t in range(4):
        for x in ("q", "k", "v", "score", "wsum", "oproj"):
            n = g.nodes["node_l2_%s_tp%d" % (x, t)]
            n["inp"] = [sub_shape(s, "head_dim", 96) for s in n["inp"]]
            n["out"] = [sub_shape(s, "head_dim", 96) for s in n["out"]]
            if x in ("q", "k", "v"):
                ids.append(n["id"])
    return g, ids, (
        "Layer 2 labels Q/K/V (node_l2_q_tp0..node_l2_v_tp3) as 6 heads x head_dim 96 on "
        "every TP rank (6 x 96 = 576 per rank, 24 x 96 = 2304 in total) while hidden is 3072 "
        "(3072/TP4 = 768 per rank, head_dim 128).")


def d_tp_heads():
    g = clean_3()
    p = "node_dp0_l1_"
    B, Sq, HD = 4, 512, 64
    n = g.nodes[p + "qkv_tp0"]
    n["extra"] = ["16 heads x head_dim 64 for each of Q, K, V"]
    n["out"] = [S(batch=B, seq=Sq, qkv=3072)]
    full = S(batch=B, seq=Sq, heads=16, head_dim=HD)
    fss = S(batch=B, heads=16, seq_q=Sq, seq_k=Sq)
    g.nodes[p + "split_tp0"]["inp"] = [S(batch=B, seq=Sq, qkv=3072)]
    g.nodes[p + "split_tp0"]["out"] = [full, full, full]
    g.nodes[p + "score_tp0"]["inp"] = [full, full]
    g.nodes[p + "score_tp0"]["out"] = [fss]
    g.nodes[p + "softmax_tp0"]["inp"] = [fss]
    g.nodes[p + "softmax_tp0"]["out"] = [fss]
    g.nodes[p + "wsum_tp0"]["inp"] = [fss, full]
    g.nodes[p + "wsum_tp0"]["out"] = [full]
    g.nodes[p + "oproj_tp0"]["inp"] = [full]
    return g, [p + "qkv_tp0", p + "split_tp0", p + "score_tp0", p + "softmax_tp0",
               p + "wsum_tp0", p + "oproj_tp0"], (
        "DP replica 0, layer 1, TP rank 0 of 2 (GPU 0): the fused QKV projection "
        "node_dp0_l1_qkv_tp0 outputs all 16 heads (qkv=3072, heads=16, carried through split, "
        "score, softmax and weighted sum) instead of 16/2 = 8 heads per rank (qkv=1536) as TP "
        "rank 1 has.")


def d_edge_shape_mismatch():
    g = clean_3()
    n = g.nodes["node_dp0_l2_norm2"]
    n["inp"] = [S(batch=4, seq=512, hidden=768)]
    return g, ["node_dp0_l2_norm2", "node_dp0_l2_res1"], (
        "DP replica 0, layer 2: RMSNorm node_dp0_l2_norm2 expects hidden=768 but its producer "
        "node_dp0_l2_res1 outputs hidden=1024 (ratio 4/3, not a parallel degree).")


def d_shard_without_gather():
    g = clean_2()
    g.remove_node("node_l1_attn_ag")
    g.edge("node_l1_attn_rs", "node_l1_res1")
    return g, ["node_l1_attn_rs", "node_l1_res1"], (
        "Layer 1's row-parallel attention output is reduce-scattered by node_l1_attn_rs into "
        "hidden/TP4 = 768 shards that go straight into the full-size (hidden=3072) residual "
        "add node_l1_res1 with no all-gather.")


def d_stage_count():
    g = clean_1()
    g.label = g.label.replace("and 2 pipeline stages", "and 3 pipeline stages")
    return g, ["cluster_stage1", "cluster_stage2"], (
        "The graph label declares 3 pipeline stages but two are drawn (cluster_stage1 with "
        "layers 1-2 on GPUs 0-7, cluster_stage2 with layers 3-4 on GPUs 8-15).")


def d_stage_range_gap():
    g = clean_1()
    g.set_cluster_label("cluster_stage1", "Pipeline Stage 1 of 2 (Layers 1-1)")
    return g, ["cluster_stage1", "node_l2_norm1", "node_l2_res2"], (
        "Stage 1 claims layers 1-1 and stage 2 layers 3-4: layer 2 is in no stage's range "
        "(gap), although its operators (node_l2_norm1 .. node_l2_res2) are drawn in stage 1.")


def d_stage_missing_layer():
    g = clean_1()
    for nid in [i for i in list(g.order) if i.startswith("node_l4_")]:
        g.remove_node(nid)
    g.edge("node_l3_res2", "node_final_norm")
    return g, ["cluster_stage2", "node_l3_res2", "node_final_norm"], (
        "Stage 2 claims layers 3-4 but no operator of layer 4 is drawn: layer 3's residual "
        "add node_l3_res2 feeds the final norm node_final_norm directly.")


def d_no_stage_transfer():
    g = clean_1()
    g.remove_node("node_pp_send_s1")
    g.remove_node("node_pp_recv_s2")
    g.edge("node_l2_res2", "node_l3_norm1")
    g.skip("node_l2_res2", "node_l3_res1")
    return g, ["node_l2_res2", "node_l3_norm1", "node_l3_res1"], (
        "Stage 1 (GPUs 0-7) and stage 2 (GPUs 8-15) are joined by plain edges from "
        "node_l2_res2 to node_l3_norm1 and node_l3_res1; the pipeline send/recv is missing.")


def d_experts_subset_ranks():
    g = clean_1()
    ids = []
    for e in range(8):
        r = e // 4
        G = [2 * r, 2 * r + 1]
        for nid in ("node_l2_expert%d" % e, "node_l2_expert%d_ar" % e):
            n = g.nodes[nid]
            n["gpus"] = G
            n["ctx"] = "Layer 2 · Expert %d · EP rank %d of 4" % (e, r)
        ids.append("node_l2_expert%d" % e)
    return g, ids, (
        "Layer 2 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, experts "
        "4-7 on GPUs 2-3); EP ranks 2 and 3 (GPUs 4-7) hold none of its experts although EP "
        "is 4.")


def d_experts_uneven():
    g = clean_2()
    for nid in ("node_l1_expert4", "node_l1_expert4_ar"):
        n = g.nodes[nid]
        n["gpus"] = [0, 1, 2, 3]
        n["ctx"] = "Layer 1 · Expert 4 · EP rank 0 of 2"
    return g, ["node_l1_expert4", "node_l1_expert4_ar"], (
        "Layer 1's expert 4 node_l1_expert4 sits on EP rank 0 (GPUs 0-3) instead of rank 1 "
        "(GPUs 4-7): ranks hold 5 and 3 experts instead of 8/2 = 4 each.")


def d_experts_share_gpu():
    g = clean_1()
    for nid in ("node_l3_expert3", "node_l3_expert3_ar"):
        g.nodes[nid]["gpus"] = [8, 9]
    return g, ["node_l3_expert3", "node_l3_expert0", "node_l3_expert1"], (
        "Layer 3's expert 3 node_l3_expert3 (labelled EP rank 1, whose GPUs are 10-11) is "
        "placed on GPUs 8-9, which hold EP rank 0's experts 0 and 1.")


def d_no_gate():
    g = clean_2()
    g.remove_node("node_l2_gate")
    return g, ["node_l2_norm2", "node_l2_dispatch", "node_l2_moe_combine"], (
        "Layer 2 has no MoE router: the RMSNorm output node_l2_norm2 goes straight into the "
        "Dispatch All-to-All node_l2_dispatch and on to the 8 experts, and the weighted "
        "combine node_l2_moe_combine gets no routing weights.")


def d_no_all_to_all():
    g = clean_1()
    g.remove_node("node_l1_dispatch")
    for e in range(8):
        g.edge("node_l1_norm2", "node_l1_expert%d" % e)
        g.routing("node_l1_gate", "node_l1_expert%d" % e)
    return g, ["node_l1_gate", "node_l1_norm2"] + ["node_l1_expert%d" % e for e in range(8)], (
        "Layer 1's router node_l1_gate and RMSNorm node_l1_norm2 send tokens straight to the "
        "8 experts on EP ranks 0-3 (EP 4, GPUs 0-7) without a dispatch all-to-all (so the "
        "experts' [tokens=1024, hidden=2048] inputs are fed the undispatched "
        "[batch=4, seq=1024, ...] tensors).")


def d_tp_rank_missing():
    g = clean_2()
    for x in ("q", "k", "v", "score", "softmax", "wsum", "oproj"):
        g.remove_node("node_l1_%s_tp3" % x)
    return g, ["node_l1_norm1", "node_l1_attn_rs"], (
        "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 (GPUs 3,7) "
        "of TP 4 is missing (no node_l1_*_tp3 between node_l1_norm1 and node_l1_attn_rs).")


def d_no_allreduce_after_rowparallel():
    g = clean_3()
    g.remove_node("node_dp0_l1_mlp_ar")
    g.edge("node_dp0_l1_down_tp0", "node_dp0_l1_res2")
    g.edge("node_dp0_l1_down_tp1", "node_dp0_l1_res2")
    return g, ["node_dp0_l1_down_tp0", "node_dp0_l1_down_tp1", "node_dp0_l1_res2"], (
        "DP replica 0, layer 1: the row-parallel MLP down projections node_dp0_l1_down_tp0 "
        "(GPU 0) and node_dp0_l1_down_tp1 (GPU 1) feed the residual add node_dp0_l1_res2 "
        "directly, without the TP all-reduce of their partial sums.")


def d_cross_gpu_no_comm():
    g = clean_3()
    g.remove_edge("node_dp1_embed", "node_dp1_l1_res1")
    g.skip("node_dp0_embed", "node_dp1_l1_res1")
    return g, ["node_dp0_embed", "node_dp1_l1_res1"], (
        "The skip edge of DP replica 1's layer-1 residual add node_dp1_l1_res1 (GPUs 2-3) "
        "comes from replica 0's embedding node_dp0_embed (GPUs 0-1) by a plain edge, with no "
        "communication node.")


def d_comm_wrong_shape():
    g = clean_2()
    g.nodes["node_l2_attn_ag"]["shape_override"] = "box"
    return g, ["node_l2_attn_ag"], (
        "Layer 2's attention TP All-Gather node_l2_attn_ag is drawn as a box (computation) "
        "instead of an ellipse.")


def d_missing_gpu():
    g = clean_1()
    g.nodes["node_l4_softmax_tp1"]["gpus"] = None
    return g, ["node_l4_softmax_tp1"], (
        "Softmax of layer 4, TP rank 1 (node_l4_softmax_tp1, should run on GPUs 9,11,13,15) "
        "has no placement line.")


def d_gpu_out_of_range():
    g = clean_2()
    g.nodes["node_l2_expert6"]["gpus"] = [8, 9, 10, 11]
    return g, ["node_l2_expert6"], (
        "Layer 2's expert 6 node_l2_expert6 is placed on GPUs 8-11, beyond the 8 GPUs of "
        "EP 2 x TP 4 x PP 1 x DP 1 (ids 0-7).")


def d_stages_share_gpus():
    g = clean_1()
    for nid in g.order:
        n = g.nodes[nid]
        if n["cluster"] == "cluster_stage2" and n["gpus"]:
            n["gpus"] = [x - 4 for x in n["gpus"]]
            for i, line in enumerate(n["extra"]):
                if line.startswith("TP groups: "):
                    n["extra"][i] = tp_groups_text(None, lambda t: [4 + t + 2 * r
                                                                    for r in range(4)], 2)
    return g, ["cluster_stage1", "cluster_stage2", "node_pp_recv_s2"], (
        "Stage 2 (layers 3-4, from node_pp_recv_s2 on) is placed on GPUs 4-11, overlapping "
        "stage 1's GPUs 0-7 (GPUs 4-7 in both).")


def d_strategy_mismatch():
    g = clean_3()
    g.label = g.label.replace("2-way data parallelism", "4-way data parallelism")
    return g, ["cluster_dp0_stage1", "cluster_dp1_stage1"], (
        "The graph label declares 4-way data parallelism but only two DP replicas are drawn "
        "(cluster_dp0_stage1 on GPUs 0-1 and cluster_dp1_stage1 on GPUs 2-3), i.e. DP 2.")


def d_missing_shapes():
    g = clean_1()
    n = g.nodes["node_l2_oproj_tp1"]
    n["inp"] = None
    n["out"] = None
    return g, ["node_l2_oproj_tp1"], (
        "Output Projection of layer 2, TP rank 1 (node_l2_oproj_tp1, GPUs 1,3,5,7) has no "
        "Input or Output line.")


def d_placeholder():
    g = clean_2()
    n = g.nodes["node_l2_gate"]
    n["inp"] = [sub_shape(n["inp"][0], "batch", "?")]
    return g, ["node_l2_gate"], (
        "Layer 2's MoE Router node_l2_gate gives its input as [batch=?, seq=2048, hidden=3072], "
        "a placeholder instead of batch=2.")


def d_moe_before_attention():
    g = clean_2()
    prev = "node_l1_res2"
    # attention block wiring out
    for a, b in ((prev, "node_l2_norm1"), (prev, "node_l2_res1"),
                 ("node_l2_res1", "node_l2_norm2"), ("node_l2_res1", "node_l2_res2"),
                 ("node_l2_res2", "node_final_norm")):
        g.remove_edge(a, b)
    g.edge(prev, "node_l2_norm2")
    g.skip(prev, "node_l2_res2")
    g.edge("node_l2_res2", "node_l2_norm1")
    g.skip("node_l2_res2", "node_l2_res1")
    g.edge("node_l2_res1", "node_final_norm")
    return g, ["node_l2_norm2", "node_l2_res2", "node_l2_norm1", "node_l2_res1"], (
        "Layer 2 runs its MoE block (node_l2_norm2, router, 8 experts, node_l2_res2) before "
        "its attention block: node_l1_res2 goes to node_l2_norm2, the MoE residual "
        "node_l2_res2 feeds node_l2_norm1, and the attention residual node_l2_res1 feeds the "
        "final norm.")


def d_missing_residual():
    g = clean_1()
    g.remove_edge("node_l1_res2", "node_l2_res1")
    return g, ["node_l2_res1", "node_l1_res2"], (
        "Layer 2's attention residual add node_l2_res1 is fed only by the all-reduce "
        "node_l2_attn_ar; the skip edge from node_l1_res2 is missing.")


DEFECTS = [
    ("cycle", "structure", d_cycle, "clean_1.dot"),
    ("dangling_input", "structure", d_dangling_input, "clean_2.dot"),
    ("dangling_output", "structure", d_dangling_output, "clean_1.dot"),
    ("attention_one_box", "attention", d_attention_one_box, "clean_2.dot"),
    ("v_bypasses_softmax", "attention", d_v_bypasses_softmax, "clean_1.dot"),
    ("v_into_score", "attention", d_v_into_score, "clean_1.dot"),
    ("qkv_into_oproj", "attention", d_qkv_into_oproj, "clean_3.dot"),
    ("head_arithmetic", "attention", d_head_arithmetic, "clean_2.dot"),
    ("tp_heads", "attention", d_tp_heads, "clean_3.dot"),
    ("edge_shape_mismatch", "shape", d_edge_shape_mismatch, "clean_3.dot"),
    ("shard_without_gather", "shape", d_shard_without_gather, "clean_2.dot"),
    ("stage_count", "pipeline", d_stage_count, "clean_1.dot"),
    ("stage_range_gap", "pipeline", d_stage_range_gap, "clean_1.dot"),
    ("stage_missing_layer", "pipeline", d_stage_missing_layer, "clean_1.dot"),
    ("no_stage_transfer", "pipeline", d_no_stage_transfer, "clean_1.dot"),
    ("experts_subset_ranks", "expert", d_experts_subset_ranks, "clean_1.dot"),
    ("experts_uneven", "expert", d_experts_uneven, "clean_2.dot"),
    ("experts_share_gpu", "expert", d_experts_share_gpu, "clean_1.dot"),
    ("no_gate", "expert", d_no_gate, "clean_2.dot"),
    ("no_all_to_all", "expert", d_no_all_to_all, "clean_1.dot"),
    ("tp_rank_missing", "tensor", d_tp_rank_missing, "clean_2.dot"),
    ("no_allreduce_after_rowparallel", "tensor", d_no_allreduce_after_rowparallel,
     "clean_3.dot"),
    ("cross_gpu_no_comm", "communication", d_cross_gpu_no_comm, "clean_3.dot"),
    ("comm_wrong_shape", "communication", d_comm_wrong_shape, "clean_2.dot"),
    ("missing_gpu", "gpu", d_missing_gpu, "clean_1.dot"),
    ("gpu_out_of_range", "gpu", d_gpu_out_of_range, "clean_2.dot"),
    ("stages_share_gpus", "gpu", d_stages_share_gpus, "clean_1.dot"),
    ("strategy_mismatch", "strategy", d_strategy_mismatch, "clean_3.dot"),
    ("missing_shapes", "annotation", d_missing_shapes, "clean_1.dot"),
    ("placeholder", "annotation", d_placeholder, "clean_2.dot"),
    ("moe_before_attention", "structure", d_moe_before_attention, "clean_2.dot"),
    ("missing_residual", "structure", d_missing_residual, "clean_1.dot"),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct 4-layer MoE (8 experts, top-2) with EP 4 x TP 2 x PP 2 on 16 GPUs: "
                   "stage 1 = layers 1-2 on GPUs 0-7, stage 2 = layers 3-4 on GPUs 8-15, joined "
                   "by pipeline send/recv; separate Q/K/V projections, TP all-reduce.",
    "clean_2.dot": "Correct 2-layer MoE (8 experts, top-2) with EP 2 x TP 4 on 8 GPUs in one "
                   "stage; separate Q/K/V projections, attention reduced by reduce-scatter + "
                   "all-gather, experts all-reduced per TP group.",
    "clean_3.dot": "Correct 2-layer dense transformer with TP 2 x DP 2 on 4 GPUs, both DP "
                   "replicas drawn as independent stage clusters; fused QKV projection + split, "
                   "GELU MLP, TP all-reduces.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for f, fn in CLEAN.items():
        with open(os.path.join(OUT, f), "w") as fh:
            fh.write(fn().render())
        manifest.append(dict(file=f, kind="clean", category=None, base=None, nodes=[],
                             what=CLEAN_WHAT[f]))
    for kind, cat, fn, base in DEFECTS:
        g, nodes, what = fn()
        assert g.render() != CLEAN[base]().render(), kind
        f = "defect_%s.dot" % kind
        with open(os.path.join(OUT, f), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=f, kind=kind, category=cat, base=base, nodes=nodes,
                             what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    bad = []
    for m in manifest:
        r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, m["file"])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            bad.append((m["file"], r.stderr.decode()))
    for f, err in bad:
        print("DOT ERROR", f, err)
    print("wrote %d files to %s (%d dot errors)" % (len(manifest), OUT, len(bad)))


if __name__ == "__main__":
    main()
