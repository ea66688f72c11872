#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in the "style_av" house style.

Run `python3 gen.py` in this folder: writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot per
defect kind (each a copy of one clean file with exactly one injected defect) and out/manifest.json.
Stdlib only.

House style (applied to every file):
  * pipeline drawn with explicit micro-batches: PP files draw 2 micro-batches (mb0, mb1), every
    stage's operators once per micro-batch, one send/recv per micro-batch between stages
    (mb m of stage s+1 depends only on mb m of stage s); files without PP draw 1 micro-batch (mb0);
  * labels: "[mb0] Layer 2 · Q projection, column-parallel (TP 1/2)" / "in  (2, 1024, 4096)" /
    "out (2, 1024, 16, 128)" / "gpu 3" (tuples; keys in/out without colon; gpu sets "0,2", "0-3");
    several inputs are written "in  (..), (..)"; Q/K/V outputs carry the heads split explicitly
    as (batch, seq, heads_per_rank, head_dim);
  * ids: mb{m}_L{layer}_{op}_{tp}; nodes covering a whole group end in _all; nodes outside layers
    are mb{m}_{op}_{tp}; with DP > 1 every id is prefixed dp{d}_ and labels start "[mb0 · DP 1]";
  * strategy only in the graph's comment attribute: comment="PP=2 TP=2 EP=2 DP=1, 2 micro-batches";
  * stages are clusters "Pipeline stage 0 (layers 0–1)" (en dash) holding both micro-batches' nodes;
    with DP > 1 each replica has its own clusters, "... · DP replica 1".
  * norms, residual adds, routers and MoE combines are replicated on every TP rank (one node per TP
    rank, on that rank's GPUs); attention is data-parallel across EP groups, so an attention node of
    TP rank t sits on GPU t of every EP group (shapes are per group: 2 sequences per micro-batch);
    experts are tensor-parallel inside their EP rank (one fused FFN node per TP rank, then a TP
    all-reduce per expert).
Own quirks:
  1. colour scheme: computation/routing nodes filled by micro-batch (mb0 light blue, mb1 light
     orange); communication ellipses white with a bold outline; residual skip edges grey;
     router -> dispatch edges dashed; every collective is worded "NCCL <collective> · <what>".
  2. DOT comments: a "model card" header (model dimensions, no parallel degrees) and a
     "// ==== [mb0] Layer 1 · attention ====" banner before every block of nodes and of edges.
"""
import copy
import json
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

FILL = {0: "#dce8fa", 1: "#fde6cc"}
SHAPE = {"comp": "box", "comm": "ellipse", "route": "parallelogram", "in": "invhouse",
         "out": "house"}


def fmt_shape(t):
    return "(" + ", ".join(str(x) for x in t) + ")"


def fmt_gpus(gs):
    gs = sorted(gs)
    parts, i = [], 0
    while i < len(gs):
        j = i
        while j + 1 < len(gs) and gs[j + 1] == gs[j] + 1:
            j += 1
        if j - i >= 1:
            parts.append("%d-%d" % (gs[i], gs[j]))
        else:
            parts.append(str(gs[i]))
        i = j + 1
    return ",".join(parts)


class Graph:
    def __init__(self, name, comment, header):
        self.name = name
        self.comment = comment
        self.header = header
        self.nodes = OrderedDict()
        self.edges = []          # dicts: u, v, attrs, block
        self.clusters = OrderedDict()   # key -> label

    # -- construction ---------------------------------------------------------------------------
    def add(self, nid, kind, title, ins, out, gpus, cluster, mb, block):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(id=nid, kind=kind, title=title,
                               ins=None if ins is None else list(ins), out=out,
                               gpus=None if gpus is None else set(gpus), cluster=cluster,
                               mb=mb, block=block, shape=SHAPE[kind])
        return nid

    def edge(self, u, v, block, **attrs):
        assert u in self.nodes and v in self.nodes, (u, v)
        e = dict(u=u, v=v, attrs=attrs, block=block)
        # keep the edge next to the other edges of its block (so banners stay single)
        idx = [i for i, x in enumerate(self.edges) if x["block"] == block]
        if idx:
            self.edges.insert(idx[-1] + 1, e)
        else:
            self.edges.append(e)

    # -- mutation helpers -----------------------------------------------------------------------
    def n(self, nid):
        return self.nodes[nid]

    def drop_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e["u"] != nid and e["v"] != nid]

    def drop_edge(self, u, v):
        before = len(self.edges)
        self.edges = [e for e in self.edges if not (e["u"] == u and e["v"] == v)]
        assert len(self.edges) == before - 1, (u, v)

    def has_edge(self, u, v):
        return any(e["u"] == u and e["v"] == v for e in self.edges)

    def edge_block(self, u, v):
        for e in self.edges:
            if e["u"] == u and e["v"] == v:
                return e["block"]
        raise KeyError((u, v))

    def preds(self, nid):
        return [e["u"] for e in self.edges if e["v"] == nid]

    def succs(self, nid):
        return [e["v"] for e in self.edges if e["u"] == nid]

    # -- rendering ------------------------------------------------------------------------------
    def label(self, nd):
        lines = [nd["title"]]
        if nd["ins"] is not None:
            lines.append("in  " + ", ".join(fmt_shape(t) for t in nd["ins"]))
        if nd["out"] is not None:
            lines.append("out " + fmt_shape(nd["out"]))
        if nd["gpus"] is not None:
            lines.append("gpu " + fmt_gpus(nd["gpus"]))
        return "\\n".join(lines)

    def node_line(self, nd, indent):
        attrs = ['label="%s"' % self.label(nd), "shape=%s" % nd["shape"]]
        if nd["kind"] == "comm":
            attrs += ['style="bold"', 'fillcolor="white"']
        else:
            attrs += ['style="filled"', 'fillcolor="%s"' % FILL[nd["mb"]]]
        return '%s"%s" [%s];' % (indent, nd["id"], ", ".join(attrs))

    def render(self):
        out = []
        out += ["// " + h for h in self.header]
        out.append('digraph "%s" {' % self.name)
        out.append('    comment="%s";' % self.comment)
        out.append('    rankdir=TB; newrank=true; compound=true;')
        out.append('    node [fontname="Helvetica", fontsize=10];')
        out.append('    edge [color="black"];')
        out.append("")

        def emit(nodes, indent):
            last = None
            for nd in nodes:
                if nd["block"] != last:
                    out.append("%s// ==== %s ====" % (indent, nd["block"]))
                    last = nd["block"]
                out.append(self.node_line(nd, indent))

        free = [nd for nd in self.nodes.values() if nd["cluster"] is None]
        emit([nd for nd in free if nd["kind"] == "in"], "    ")
        out.append("")
        for ci, (key, lab) in enumerate(self.clusters.items()):
            members = [nd for nd in self.nodes.values() if nd["cluster"] == key]
            out.append('    subgraph "cluster_%s" {' % key)
            out.append('        label="%s";' % lab)
            out.append('        style="rounded"; color="gray30";')
            emit(members, "        ")
            out.append("    }")
            out.append("")
        emit([nd for nd in free if nd["kind"] != "in"], "    ")
        out.append("")
        out.append("    // ==== edges ====")
        last = None
        for e in self.edges:
            if e["block"] != last:
                out.append("    // ---- %s ----" % e["block"])
                last = e["block"]
            a = ""
            if e["attrs"]:
                a = " [" + ", ".join('%s="%s"' % kv for kv in e["attrs"].items()) + "]"
            out.append('    "%s" -> "%s"%s;' % (e["u"], e["v"], a))
        out.append("}")
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# builder
# ------------------------------------------------------------------------------------------------

def build(cfg):
    TP, EP, PP, DP = cfg["TP"], cfg["EP"], cfg["PP"], cfg["DP"]
    L, MB = cfg["layers"], cfg["mbs"]
    B, S, H = cfg["batch"], cfg["seq"], cfg["hidden"]
    NH, HD, V = cfg["heads"], cfg["head_dim"], cfg["vocab"]
    E, K = cfg.get("experts", 0), cfg.get("topk", 0)
    assert NH * HD == H and NH % TP == 0 and L % PP == 0 and V % TP == 0
    moe = E > 0
    if moe:
        assert E % EP == 0
    lps = L // PP
    comment = "PP=%d TP=%d EP=%d DP=%d, %d micro-batch%s" % (
        PP, TP, EP, DP, MB, "es" if MB > 1 else "")
    if moe:
        card = ("model card: %s MoE, hidden %d, %d heads x head_dim %d, %d experts (top-%d), "
                "expert FFN %d, vocab %d, %d layers" % (cfg["model"], H, NH, HD, E, K,
                                                        cfg["ffn"], V, L))
    else:
        card = ("model card: %s dense, hidden %d, %d heads x head_dim %d, FFN %d, vocab %d, "
                "%d layers" % (cfg["model"], H, NH, HD, cfg["ffn"], V, L))
    header = [
        "-" * 96,
        card,
        "micro-batch = %d sequences x %d tokens per attention group; shapes are per GPU group "
        "of the node" % (B, S),
        "colours: mb0 blue, mb1 orange, collectives white (bold), residual skips grey, router edges dashed",
        "-" * 96,
    ]
    g = Graph(cfg["name"], comment, header)

    def gpu(d, s, e, t):
        return ((d * PP + s) * EP + e) * TP + t

    def tp_gpus(d, s, t):           # GPU t of every EP group of stage s
        return {gpu(d, s, e, t) for e in range(EP)}

    def stage_gpus(d, s):
        return {gpu(d, s, e, t) for e in range(EP) for t in range(TP)}

    for d in range(DP):
        for s in range(PP):
            lab = "Pipeline stage %d (layers %d–%d)" % (s, s * lps, s * lps + lps - 1)
            if DP > 1:
                lab += " · DP replica %d" % d
            g.clusters["dp%d_stage%d" % (d, s)] = lab

    X = (B, S, H)
    QH = (B, S, NH // TP, HD)
    SC = (B, NH // TP, S, S)
    CTX = (B, S, H // TP)
    tpr = lambda t: "TP %d/%d" % (t, TP)

    for d in range(DP):
        pfx = "dp%d_" % d if DP > 1 else ""
        for m in range(MB):
            tag = "[mb%d · DP %d]" % (m, d) if DP > 1 else "[mb%d]" % m
            mid = lambda op, t, l=None: (
                "%smb%d_L%d_%s_%s" % (pfx, m, l, op, t) if l is not None
                else "%smb%d_%s_%s" % (pfx, m, op, t))
            cl = lambda s: "dp%d_stage%d" % (d, s)

            # input + embedding
            blk = "%s input + embedding" % tag
            inp = g.add("%smb%d_input" % (pfx, m), "in", "%s Input token ids" % tag, None,
                        (B, S), None, None, m, blk)
            prev = {}
            for t in range(TP):
                e_ = g.add(mid("embed", t), "comp", "%s Token embedding, full table (%s)" %
                           (tag, tpr(t)), [(B, S)], X, tp_gpus(d, 0, t), cl(0), m, blk)
                g.edge(inp, e_, blk)
                prev[t] = e_

            for l in range(L):
                s = l // lps
                if l > 0 and l % lps == 0:
                    blk = "%s pipeline send/recv stage %d -> %d" % (tag, s - 1, s)
                    sr = g.add("%smb%d_pp%dto%d_sendrecv_all" % (pfx, m, s - 1, s), "comm",
                               "%s NCCL send/recv · pipeline stage %d → stage %d" %
                               (tag, s - 1, s), [X], X,
                               stage_gpus(d, s - 1) | stage_gpus(d, s), None, m, blk)
                    for t in range(TP):
                        g.edge(prev[t], sr, blk)
                    prev = {t: sr for t in range(TP)}
                lt = "%s Layer %d ·" % (tag, l)
                C = cl(s)
                # ---- attention block
                blk = "%s Layer %d · attention" % (tag, l)
                res1 = {}
                oprojs = []
                for t in range(TP):
                    G = tp_gpus(d, s, t)
                    n1 = g.add(mid("attn_norm", t, l), "comp",
                               "%s RMSNorm, pre-attention (%s)" % (lt, tpr(t)), [X], X, G, C, m, blk)
                    q = g.add(mid("q_proj", t, l), "comp",
                              "%s Q projection, column-parallel (%s)" % (lt, tpr(t)), [X], QH, G, C, m, blk)
                    k = g.add(mid("k_proj", t, l), "comp",
                              "%s K projection, column-parallel (%s)" % (lt, tpr(t)), [X], QH, G, C, m, blk)
                    v = g.add(mid("v_proj", t, l), "comp",
                              "%s V projection, column-parallel (%s)" % (lt, tpr(t)), [X], QH, G, C, m, blk)
                    sc = g.add(mid("qk_score", t, l), "comp",
                               "%s Attention scores Q·K^T / sqrt(d) (%s)" % (lt, tpr(t)),
                               [QH, QH], SC, G, C, m, blk)
                    sm = g.add(mid("softmax", t, l), "comp",
                               "%s Softmax, causal mask (%s)" % (lt, tpr(t)), [SC], SC, G, C, m, blk)
                    cx = g.add(mid("attn_context", t, l), "comp",
                               "%s Attention weighted sum P·V, merge heads (%s)" % (lt, tpr(t)),
                               [SC, QH], CTX, G, C, m, blk)
                    o = g.add(mid("o_proj", t, l), "comp",
                              "%s Output projection, row-parallel (%s)" % (lt, tpr(t)),
                              [CTX], X, G, C, m, blk)
                    g.edge(prev[t], n1, blk)
                    for p in (q, k, v):
                        g.edge(n1, p, blk)
                    g.edge(q, sc, blk)
                    g.edge(k, sc, blk)
                    g.edge(sc, sm, blk)
                    g.edge(sm, cx, blk)
                    g.edge(v, cx, blk)
                    g.edge(cx, o, blk)
                    oprojs.append(o)
                ar = g.add(mid("attn_allreduce", "all", l), "comm",
                           "%s NCCL all-reduce · o_proj partial sums (within each TP group)" % lt,
                           [X], X, stage_gpus(d, s), C, m, blk)
                for o in oprojs:
                    g.edge(o, ar, blk)
                for t in range(TP):
                    G = tp_gpus(d, s, t)
                    r1 = g.add(mid("attn_residual", t, l), "comp",
                               "%s Residual add, attention (%s)" % (lt, tpr(t)), [X, X], X, G, C, m, blk)
                    g.edge(ar, r1, blk)
                    g.edge(prev[t], r1, blk, color="gray50")
                    res1[t] = r1
                # ---- FFN block
                res2 = {}
                if moe:
                    blk = "%s Layer %d · MoE" % (tag, l)
                    TE = EP * B * S * K // E
                    per = E // EP
                    disp = None
                    norms, routers = {}, {}
                    for t in range(TP):
                        G = tp_gpus(d, s, t)
                        norms[t] = g.add(mid("moe_norm", t, l), "comp",
                                         "%s RMSNorm, pre-MoE (%s)" % (lt, tpr(t)), [X], X, G, C, m, blk)
                        routers[t] = g.add(mid("router", t, l), "route",
                                           "%s MoE router, top-%d of %d experts (%s)" %
                                           (lt, K, E, tpr(t)), [X], X, G, C, m, blk)
                    disp = g.add(mid("dispatch_a2a", "all", l), "comm",
                                 "%s NCCL all-to-all · dispatch tokens to experts (EP group)" % lt,
                                 [X], (TE, H), stage_gpus(d, s), C, m, blk)
                    comb = None
                    ffns = {}
                    ars = {}
                    for e in range(E):
                        r = e // per
                        for t in range(TP):
                            ffns[e, t] = g.add(mid("expert%d_ffn" % e, t, l), "comp",
                                               "%s Expert %d · SwiGLU FFN up→SiLU→down, down row-parallel "
                                               "(EP %d/%d, %s)" % (lt, e, r, EP, tpr(t)),
                                               [(TE, H)], (TE, H), {gpu(d, s, r, t)}, C, m, blk)
                        ars[e] = g.add(mid("expert%d_allreduce" % e, "all", l), "comm",
                                       "%s NCCL all-reduce · expert %d partial sums (TP group of EP %d/%d)"
                                       % (lt, e, r, EP), [(TE, H)], (TE, H),
                                       {gpu(d, s, r, t) for t in range(TP)}, C, m, blk)
                    comb = g.add(mid("combine_a2a", "all", l), "comm",
                                 "%s NCCL all-to-all · return expert outputs (EP group)" % lt,
                                 [(TE, H)], (B, S, K, H), stage_gpus(d, s), C, m, blk)
                    for t in range(TP):
                        g.edge(res1[t], norms[t], blk)
                        g.edge(norms[t], routers[t], blk)
                        g.edge(routers[t], disp, blk, style="dashed")
                    for e in range(E):
                        for t in range(TP):
                            g.edge(disp, ffns[e, t], blk)
                            g.edge(ffns[e, t], ars[e], blk)
                        g.edge(ars[e], comb, blk)
                    for t in range(TP):
                        G = tp_gpus(d, s, t)
                        mc = g.add(mid("moe_combine", t, l), "route",
                                   "%s MoE combine, top-%d weighted sum (%s)" % (lt, K, tpr(t)),
                                   [(B, S, K, H)], X, G, C, m, blk)
                        r2 = g.add(mid("moe_residual", t, l), "comp",
                                   "%s Residual add, MoE (%s)" % (lt, tpr(t)), [X, X], X, G, C, m, blk)
                        g.edge(comb, mc, blk)
                        g.edge(mc, r2, blk)
                        g.edge(res1[t], r2, blk, color="gray50")
                        res2[t] = r2
                else:
                    blk = "%s Layer %d · MLP" % (tag, l)
                    F = cfg["ffn"]
                    downs = []
                    for t in range(TP):
                        G = tp_gpus(d, s, t)
                        n2 = g.add(mid("mlp_norm", t, l), "comp",
                                   "%s RMSNorm, pre-MLP (%s)" % (lt, tpr(t)), [X], X, G, C, m, blk)
                        gu = g.add(mid("gate_up_proj", t, l), "comp",
                                   "%s Gate+up projection, column-parallel (%s)" % (lt, tpr(t)),
                                   [X], (B, S, 2 * F // TP), G, C, m, blk)
                        ac = g.add(mid("swiglu", t, l), "comp",
                                   "%s SwiGLU activation (%s)" % (lt, tpr(t)),
                                   [(B, S, 2 * F // TP)], (B, S, F // TP), G, C, m, blk)
                        dn = g.add(mid("down_proj", t, l), "comp",
                                   "%s Down projection, row-parallel (%s)" % (lt, tpr(t)),
                                   [(B, S, F // TP)], X, G, C, m, blk)
                        g.edge(res1[t], n2, blk)
                        g.edge(n2, gu, blk)
                        g.edge(gu, ac, blk)
                        g.edge(ac, dn, blk)
                        downs.append(dn)
                    ar2 = g.add(mid("mlp_allreduce", "all", l), "comm",
                                "%s NCCL all-reduce · down_proj partial sums (within each TP group)" % lt,
                                [X], X, stage_gpus(d, s), C, m, blk)
                    for dn in downs:
                        g.edge(dn, ar2, blk)
                    for t in range(TP):
                        G = tp_gpus(d, s, t)
                        r2 = g.add(mid("mlp_residual", t, l), "comp",
                                   "%s Residual add, MLP (%s)" % (lt, tpr(t)), [X, X], X, G, C, m, blk)
                        g.edge(ar2, r2, blk)
                        g.edge(res1[t], r2, blk, color="gray50")
                        res2[t] = r2
                prev = res2

            # final norm, LM head
            s = PP - 1
            blk = "%s final norm + LM head" % tag
            ag = g.add(mid("logits_allgather", "all"), "comm",
                       "%s NCCL all-gather · vocab shards of logits (within each TP group)" % tag,
                       [(B, S, V // TP)], (B, S, V), stage_gpus(d, s), cl(s), m, blk)
            for t in range(TP):
                G = tp_gpus(d, s, t)
                fn = g.add(mid("final_norm", t), "comp", "%s Final RMSNorm (%s)" % (tag, tpr(t)),
                           [X], X, G, cl(s), m, blk)
                lm = g.add(mid("lm_head", t), "comp",
                           "%s LM head, column-parallel over vocab (%s)" % (tag, tpr(t)),
                           [X], (B, S, V // TP), G, cl(s), m, blk)
                g.edge(prev[t], fn, blk)
                g.edge(fn, lm, blk)
                g.edge(lm, ag, blk)
            o = g.add("%smb%d_output" % (pfx, m), "out", "%s Output logits" % tag, [(B, S, V)],
                      None, None, None, m, blk)
            g.edge(ag, o, blk)

    # move node order so that each cluster's nodes come mb0 first then mb1 (insertion order
    # already does: build loops replica -> micro-batch -> layer)
    g.cfg = cfg
    return g


# ------------------------------------------------------------------------------------------------
# self-check of a clean graph against section 2 of the conventions (what can be checked cheaply)
# ------------------------------------------------------------------------------------------------

def check_clean(g):
    cfg = g.cfg
    errs = []
    ids = set(g.nodes)
    total = cfg["TP"] * cfg["EP"] * cfg["PP"] * cfg["DP"]
    succ = {i: [] for i in ids}
    pred = {i: [] for i in ids}
    for e in g.edges:
        succ[e["u"]].append(e["v"])
        pred[e["v"]].append(e["u"])
    # acyclic
    indeg = {i: len(pred[i]) for i in ids}
    q = [i for i in ids if indeg[i] == 0]
    seen = 0
    while q:
        x = q.pop()
        seen += 1
        for y in succ[x]:
            indeg[y] -= 1
            if indeg[y] == 0:
                q.append(y)
    if seen != len(ids):
        errs.append("cycle")
    for i, nd in g.nodes.items():
        if nd["kind"] != "in" and not pred[i]:
            errs.append("no input edge: " + i)
        if nd["kind"] != "out" and not succ[i]:
            errs.append("no output edge: " + i)
        if nd["kind"] in ("comp", "route"):
            if not nd["gpus"]:
                errs.append("no gpu: " + i)
            if nd["ins"] is None or nd["out"] is None:
                errs.append("no shapes: " + i)
        if nd["gpus"] and max(nd["gpus"]) >= total:
            errs.append("gpu out of range: " + i)
    for e in g.edges:
        u, v = g.nodes[e["u"]], g.nodes[e["v"]]
        if u["out"] not in v["ins"]:
            errs.append("shape %s -> %s: %s not in %s" % (u["id"], v["id"], u["out"], v["ins"]))
        if u["kind"] != "comm" and v["kind"] != "comm" and u["gpus"] and v["gpus"] \
                and u["gpus"] != v["gpus"]:
            errs.append("cross-gpu without comm %s -> %s" % (u["id"], v["id"]))
    # stages disjoint
    cl_g = {}
    for nd in g.nodes.values():
        if nd["cluster"] and nd["gpus"]:
            cl_g.setdefault(nd["cluster"], set()).update(nd["gpus"])
    keys = list(cl_g)
    for a in range(len(keys)):
        for b in range(a + 1, len(keys)):
            if cl_g[keys[a]] & cl_g[keys[b]]:
                errs.append("clusters share gpus %s %s" % (keys[a], keys[b]))
    # attention wiring per (score) node
    for i, nd in g.nodes.items():
        if "_qk_score_" in i:
            ps = sorted(p.split("_L")[1].split("_", 1)[1] for p in pred[i])
            if [p.rsplit("_", 1)[0] for p in ps] != ["k_proj", "q_proj"]:
                errs.append("score inputs " + i)
        if "_attn_context_" in i:
            ps = sorted(p.split("_L")[1].split("_", 1)[1].rsplit("_", 1)[0] for p in pred[i])
            if ps != ["softmax", "v_proj"]:
                errs.append("context inputs " + i)
        if "_q_proj_" in i:
            o = nd["out"]
            if o[2] * o[3] * cfg["TP"] != cfg["hidden"] or o[2] != cfg["heads"] // cfg["TP"]:
                errs.append("head arithmetic " + i)
    # experts evenly spread, distinct GPUs per EP rank
    if cfg.get("experts"):
        per = {}
        for i, nd in g.nodes.items():
            if "_ffn_" in i and "expert" in i:
                layer = i.split("_L")[1].split("_")[0]
                e = int(i.split("expert")[1].split("_")[0])
                gp = min(nd["gpus"])
                rank = (gp % (cfg["EP"] * cfg["TP"])) // cfg["TP"]
                per.setdefault((i.split("_L")[0], layer), {}).setdefault(rank, set()).add(e)
        for key, ranks in per.items():
            counts = [len(ranks.get(r, ())) for r in range(cfg["EP"])]
            if len(set(counts)) != 1 or counts[0] * cfg["EP"] != cfg["experts"]:
                errs.append("expert spread %s %s" % (key, counts))
    return errs


# ------------------------------------------------------------------------------------------------
# configurations of the three clean files
# ------------------------------------------------------------------------------------------------

CFG1 = dict(name="tiny_moe_prefill_pipeline", model="Mixtral-like", TP=2, EP=2, PP=2, DP=1,
            layers=4, mbs=2, batch=2, seq=1024, hidden=4096, heads=32, head_dim=128,
            experts=4, topk=2, ffn=8192, vocab=32000)
CFG2 = dict(name="small_moe_prefill_single_stage", model="OLMoE-like", TP=2, EP=4, PP=1, DP=1,
            layers=2, mbs=1, batch=2, seq=512, hidden=2048, heads=32, head_dim=64,
            experts=8, topk=2, ffn=4096, vocab=50304)
CFG3 = dict(name="small_dense_prefill_replicated", model="Llama-like", TP=2, EP=1, PP=1, DP=2,
            layers=3, mbs=1, batch=2, seq=1024, hidden=2048, heads=16, head_dim=128,
            ffn=5632, vocab=32000)


# ------------------------------------------------------------------------------------------------
# defects: each takes a deep copy of one clean graph and injects exactly one mistake
# returns (nodes, what)
# ------------------------------------------------------------------------------------------------

DEFECTS = []


def defect(kind, category, base):
    def deco(fn):
        DEFECTS.append((kind, category, base, fn))
        return fn
    return deco


def set_block_title(nd, old, new):
    assert old in nd["title"], (nd["title"], old)
    nd["title"] = nd["title"].replace(old, new)


# ---- structure ---------------------------------------------------------------------------------

@defect("cycle", "structure", "clean_2.dot")
def d_cycle(g):
    ar, r = "mb0_L1_attn_allreduce_all", "mb0_L1_attn_residual_0"
    g.edge(r, ar, g.edge_block(ar, r))
    return [ar, r], ("Layer 1's attention all-reduce is drawn both ways with the TP-rank-0 residual "
                     "add (mb0_L1_attn_allreduce_all -> mb0_L1_attn_residual_0 and "
                     "mb0_L1_attn_residual_0 -> mb0_L1_attn_allreduce_all), a two-node cycle.")


@defect("dangling_input", "structure", "clean_2.dot")
def d_dangling_input(g):
    n = "mb0_L1_moe_norm_1"
    g.drop_edge("mb0_L1_attn_residual_1", n)
    return [n], ("Layer 1's pre-MoE RMSNorm on TP rank 1 (mb0_L1_moe_norm_1, GPUs 1,3,5,7) has no "
                 "incoming edge: its input from the attention residual mb0_L1_attn_residual_1 was "
                 "removed.")


@defect("dangling_output", "structure", "clean_2.dot")
def d_dangling_output(g):
    n = "mb0_L1_expert5_ffn_1"
    g.drop_edge(n, "mb0_L1_expert5_allreduce_all")
    return [n], ("Expert 5 of layer 1 (EP rank 2, TP shard 1, GPU 5; mb0_L1_expert5_ffn_1) has no "
                 "outgoing edge: its partial output never reaches the expert-5 all-reduce or the "
                 "combine all-to-all.")


@defect("moe_before_attention", "structure", "clean_2.dot")
def d_moe_first(g):
    nodes = []
    for t in range(2):
        x = "mb0_L0_moe_residual_%d" % t
        n1, r1 = "mb0_L1_attn_norm_%d" % t, "mb0_L1_attn_residual_%d" % t
        n2, r2 = "mb0_L1_moe_norm_%d" % t, "mb0_L1_moe_residual_%d" % t
        fn = "mb0_final_norm_%d" % t
        ba, bm, bf = g.edge_block(x, n1), g.edge_block(r1, n2), g.edge_block(r2, fn)
        g.drop_edge(x, n1); g.drop_edge(x, r1)
        g.drop_edge(r1, n2); g.drop_edge(r1, r2)
        g.drop_edge(r2, fn)
        g.edge(x, n2, bm)
        g.edge(x, r2, bm, color="gray50")
        g.edge(r2, n1, ba)
        g.edge(r2, r1, ba, color="gray50")
        g.edge(r1, fn, bf)
        nodes += [n2, r2, n1, r1]
    return nodes, ("Layer 1 runs its MoE block before its attention block on both TP ranks: layer 0's "
                   "output mb0_L0_moe_residual_{0,1} goes to mb0_L1_moe_norm_{0,1}, the MoE residual "
                   "mb0_L1_moe_residual_{0,1} feeds mb0_L1_attn_norm_{0,1}, and the attention "
                   "residual feeds the final norm.")


@defect("missing_residual", "structure", "clean_3.dot")
def d_missing_residual(g):
    nodes = []
    for t in range(2):
        r = "dp1_mb0_L1_attn_residual_%d" % t
        g.drop_edge("dp1_mb0_L0_mlp_residual_%d" % t, r)
        nodes.append(r)
    return nodes, ("DP replica 1, layer 1: the attention residual adds dp1_mb0_L1_attn_residual_0/1 "
                   "(GPUs 2 and 3) are fed only by the attention all-reduce; the skip edges from "
                   "dp1_mb0_L0_mlp_residual_0/1 are missing.")


# ---- attention ---------------------------------------------------------------------------------

@defect("attention_one_box", "attention", "clean_1.dot")
def d_attention_one_box(g):
    nodes = []
    H, TP, B, S = 4096, 2, 2, 1024
    for m in range(2):
        for t in range(2):
            ids = {op: "mb%d_L2_%s_%d" % (m, op, t) for op in
                   ("q_proj", "k_proj", "v_proj", "qk_score", "softmax", "attn_context")}
            q = g.n(ids["q_proj"])
            norm, o = "mb%d_L2_attn_norm_%d" % (m, t), "mb%d_L2_o_proj_%d" % (m, t)
            blk = q["block"]
            # build the new box right where Q projection was (keeps node order)
            new_id = "mb%d_L2_mha_%d" % (m, t)
            items = list(g.nodes.items())
            newnd = dict(q)
            newnd.update(id=new_id, title="[mb%d] Layer 2 · Multi-Head Attention (TP %d/2)" % (m, t),
                         ins=[(B, S, H)], out=(B, S, H // TP))
            g.nodes = OrderedDict((new_id, newnd) if k == ids["q_proj"] else (k, v)
                                  for k, v in items)
            g.edges = [e for e in g.edges if e["u"] != ids["q_proj"] and e["v"] != ids["q_proj"]]
            for k in ("k_proj", "v_proj", "qk_score", "softmax", "attn_context"):
                g.drop_node(ids[k])
            g.edge(norm, new_id, blk)
            g.edge(new_id, o, blk)
            nodes.append(new_id)
    return nodes, ("Layer 2's attention (stage 1, both micro-batches) is drawn as one 'Multi-Head "
                   "Attention' box per TP rank (mb0/mb1_L2_mha_0/1) instead of Q/K/V projections, "
                   "scores, softmax and weighted sum.")


@defect("v_bypasses_softmax", "attention", "clean_1.dot")
def d_v_bypass(g):
    sm, cx, o = "mb1_L2_softmax_1", "mb1_L2_attn_context_1", "mb1_L2_o_proj_1"
    blk = g.edge_block(sm, cx)
    g.drop_edge(sm, cx)
    g.edge(sm, o, blk)
    g.n(o)["ins"].append(g.n(sm)["out"])
    return [cx, sm, o], ("Micro-batch 1, layer 2, TP rank 1 (GPUs 5,7): V feeds the weighted sum "
                         "mb1_L2_attn_context_1 but the softmax mb1_L2_softmax_1 does not (it goes "
                         "straight to the output projection mb1_L2_o_proj_1), so V bypasses the "
                         "attention probabilities.")


@defect("v_into_score", "attention", "clean_3.dot")
def d_v_into_score(g):
    k, v = "dp0_mb0_L0_k_proj_1", "dp0_mb0_L0_v_proj_1"
    sc, cx = "dp0_mb0_L0_qk_score_1", "dp0_mb0_L0_attn_context_1"
    b1, b2 = g.edge_block(k, sc), g.edge_block(v, cx)
    g.drop_edge(k, sc); g.drop_edge(v, cx)
    g.edge(v, sc, b1); g.edge(k, cx, b2)
    return [v, k, sc, cx], ("DP replica 0, layer 0, TP rank 1 (GPU 1): V (dp0_mb0_L0_v_proj_1) is "
                            "wired into the score dp0_mb0_L0_qk_score_1 instead of K, and K feeds the "
                            "weighted sum dp0_mb0_L0_attn_context_1 (K and V swapped).")


@defect("qkv_into_oproj", "attention", "clean_3.dot")
def d_qkv_into_oproj(g):
    nodes = []
    for t in range(2):
        p = "dp1_mb0_L1_%s_" + str(t)
        o = p % "o_proj"
        blk = g.n(o)["block"]
        qh = g.n(p % "q_proj")["out"]
        for k in ("qk_score", "softmax", "attn_context"):
            g.drop_node(p % k)
        for k in ("q_proj", "k_proj", "v_proj"):
            g.edge(p % k, o, blk)
        g.n(o)["ins"] = [qh, qh, qh]
        nodes += [p % "q_proj", p % "k_proj", p % "v_proj", o]
    return nodes, ("DP replica 1, layer 1: Q, K and V (dp1_mb0_L1_{q,k,v}_proj_{0,1}) go straight "
                   "into the output projection dp1_mb0_L1_o_proj_{0,1} on both TP ranks (GPUs 2 "
                   "and 3); no score, softmax or weighted sum is drawn.")


@defect("head_arithmetic", "attention", "clean_2.dot")
def d_head_arith(g):
    nodes = []
    bad = tuple(g.n("mb0_L0_q_proj_0")["out"][:2]) + (16, 32)
    for t in range(2):
        p = "mb0_L0_%s_" + str(t)
        for k in ("q_proj", "k_proj", "v_proj"):
            g.n(p % k)["out"] = bad
            nodes.append(p % k)
        g.n(p % "qk_score")["ins"] = [bad, bad]
        cx = g.n(p % "attn_context")
        cx["ins"] = [cx["ins"][0], bad]
    return nodes, ("Layer 0 labels Q/K/V as 16 heads x head_dim 32 on every TP rank (16 x 32 = 512 "
                   "per rank, 32 x 32 = 1024 in total) while hidden is 2048 (2048/TP2 = 1024 per "
                   "rank, head_dim 64).")


@defect("tp_heads", "attention", "clean_3.dot")
def d_tp_heads(g):
    p = "dp1_mb0_L2_%s_0"
    full = (2, 1024, 16, 128)
    for k in ("q_proj", "k_proj", "v_proj"):
        g.n(p % k)["out"] = full
    g.n(p % "qk_score")["ins"] = [full, full]
    g.n(p % "qk_score")["out"] = (2, 16, 1024, 1024)
    g.n(p % "softmax")["ins"] = [(2, 16, 1024, 1024)]
    g.n(p % "softmax")["out"] = (2, 16, 1024, 1024)
    g.n(p % "attn_context")["ins"] = [(2, 16, 1024, 1024), full]
    g.n(p % "attn_context")["out"] = (2, 1024, 2048)
    g.n(p % "o_proj")["ins"] = [(2, 1024, 2048)]
    return [p % "q_proj", p % "k_proj", p % "v_proj"], (
        "DP replica 1, layer 2, TP rank 0 of TP 2 (GPU 2): the Q/K/V projections output all 16 "
        "heads (2, 1024, 16, 128) = 2048 features instead of 16/2 = 8 heads (1024 features) per "
        "rank; the rest of that rank's attention chain follows at full size.")


# ---- shape -------------------------------------------------------------------------------------

@defect("edge_shape_mismatch", "shape", "clean_3.dot")
def d_edge_shape(g):
    n = "dp0_mb0_L1_mlp_norm_0"
    g.n(n)["ins"] = [(2, 1024, 1536)]
    return [n, "dp0_mb0_L1_attn_residual_0"], (
        "DP replica 0, layer 1: RMSNorm dp0_mb0_L1_mlp_norm_0 expects hidden=1536 but its producer "
        "dp0_mb0_L1_attn_residual_0 outputs hidden=2048 (ratio 4/3, not a parallel degree).")


@defect("shard_without_gather", "shape", "clean_2.dot")
def d_shard(g):
    ar = g.n("mb0_L1_attn_allreduce_all")
    set_block_title(ar, "NCCL all-reduce", "NCCL reduce-scatter")
    ar["out"] = tuple(ar["out"][:2]) + (1024,)
    return ["mb0_L1_attn_allreduce_all", "mb0_L1_attn_residual_0", "mb0_L1_attn_residual_1"], (
        "Layer 1's row-parallel attention output is reduce-scattered (mb0_L1_attn_allreduce_all) into "
        "hidden/TP = 2048/2 = 1024 shards that go straight into the full-size (hidden=2048) residual "
        "adds mb0_L1_attn_residual_0/1 with no all-gather.")


# ---- pipeline ----------------------------------------------------------------------------------

@defect("stage_count", "pipeline", "clean_1.dot")
def d_stage_count(g):
    g.comment = g.comment.replace("PP=2", "PP=3")
    return [], ("The graph comment declares PP=3 but only two pipeline stages are drawn "
                "(Pipeline stage 0, layers 0–1 on GPUs 0-3; stage 1, layers 2–3 on GPUs 4-7).")


@defect("stage_range_gap", "pipeline", "clean_1.dot")
def d_stage_gap(g):
    g.clusters["dp0_stage0"] = "Pipeline stage 0 (layers 0–0)"
    return ["mb0_L1_attn_norm_0", "mb1_L1_attn_norm_0"], (
        "Stage 0 claims layers 0–0 and stage 1 layers 2–3: layer 1 is in no stage's range (gap), "
        "although its operators (mb0_L1_*, mb1_L1_*) are drawn in stage 0.")


@defect("stage_missing_layer", "pipeline", "clean_1.dot")
def d_stage_missing(g):
    for nid in [i for i in g.nodes if "_L3_" in i]:
        g.drop_node(nid)
    for m in range(2):
        for t in range(2):
            g.edge("mb%d_L2_moe_residual_%d" % (m, t), "mb%d_final_norm_%d" % (m, t),
                   "[mb%d] final norm + LM head" % m)
    return ["mb0_L2_moe_residual_0", "mb0_final_norm_0", "mb1_L2_moe_residual_0",
            "mb1_final_norm_0"], (
        "Stage 1 claims layers 2–3 but no operator of layer 3 is drawn in either micro-batch (layer "
        "2's residual mb*_L2_moe_residual_* feeds the final norm directly).")


@defect("no_stage_transfer", "pipeline", "clean_1.dot")
def d_no_transfer(g):
    nodes = []
    for m in range(2):
        sr = "mb%d_pp0to1_sendrecv_all" % m
        blk = g.n(sr)["block"]
        g.drop_node(sr)
        for t in range(2):
            src = "mb%d_L1_moe_residual_%d" % (m, t)
            for dst in ("mb%d_L2_attn_norm_%d" % (m, t), "mb%d_L2_attn_residual_%d" % (m, t)):
                g.edge(src, dst, blk, **({"color": "gray50"} if "residual" in dst else {}))
            nodes.append(src)
    return nodes, ("Stage 0 (GPUs 0-3) and stage 1 (GPUs 4-7) are joined by plain edges from "
                   "mb0/mb1_L1_moe_residual_0/1 to layer 2's norm and residual; the per-micro-batch "
                   "pipeline send/recv is missing.")


# ---- expert ------------------------------------------------------------------------------------

def move_expert(g, layer, e, rank, gpus_by_tp, relabel_rank=True, EP=4):
    for t, gp in enumerate(gpus_by_tp):
        nd = g.n("mb0_L%d_expert%d_ffn_%d" % (layer, e, t))
        old = nd["title"].split("(EP ")[1].split(",")[0]
        if relabel_rank:
            set_block_title(nd, "(EP %s," % old, "(EP %d/%d," % (rank, EP))
        nd["gpus"] = {gp}
    ar = g.n("mb0_L%d_expert%d_allreduce_all" % (layer, e))
    if relabel_rank:
        old = ar["title"].split("of EP ")[1].split(")")[0]
        set_block_title(ar, "of EP %s)" % old, "of EP %d/%d)" % (rank, EP))
    ar["gpus"] = set(gpus_by_tp)


@defect("experts_subset_ranks", "expert", "clean_2.dot")
def d_subset(g):
    for e in range(8):
        r = e // 4
        move_expert(g, 1, e, r, [2 * r, 2 * r + 1])
    return ["mb0_L1_expert%d_ffn_%d" % (e, t) for e in range(4, 8) for t in range(2)], (
        "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, 4-7 on GPUs "
        "2-3); EP ranks 2 and 3 (GPUs 4-7) hold none of its experts although EP is 4.")


@defect("experts_uneven", "expert", "clean_2.dot")
def d_uneven(g):
    move_expert(g, 0, 3, 0, [0, 1])
    return ["mb0_L0_expert3_ffn_0", "mb0_L0_expert3_ffn_1"], (
        "Layer 0's expert 3 sits on EP rank 0 (GPUs 0-1) instead of rank 1: ranks hold 3, 1, 2, 2 "
        "experts instead of 8/4 = 2 each.")


@defect("experts_share_gpu", "expert", "clean_2.dot")
def d_share(g):
    move_expert(g, 1, 3, 1, [0, 1], relabel_rank=False)
    return ["mb0_L1_expert3_ffn_0", "mb0_L1_expert3_ffn_1", "mb0_L1_expert0_ffn_0"], (
        "Layer 1's expert 3 (labelled EP rank 1) is placed on GPUs 0-1, which hold EP rank 0's "
        "experts 0 and 1.")


@defect("no_gate", "expert", "clean_2.dot")
def d_no_gate(g):
    disp = "mb0_L0_dispatch_a2a_all"
    blk = g.n(disp)["block"]
    for t in range(2):
        g.drop_node("mb0_L0_router_%d" % t)
        g.edge("mb0_L0_moe_norm_%d" % t, disp, blk)
    return ["mb0_L0_moe_norm_0", "mb0_L0_moe_norm_1", disp], (
        "Layer 0 has no MoE router: the RMSNorm outputs mb0_L0_moe_norm_0/1 go straight into the "
        "dispatch all-to-all and on to the 8 experts.")


@defect("no_all_to_all", "expert", "clean_1.dot")
def d_no_a2a(g):
    disp = "mb0_L1_dispatch_a2a_all"
    blk = g.n(disp)["block"]
    g.drop_node(disp)
    for t in range(2):
        for e in range(4):
            for tt in range(2):
                g.edge("mb0_L1_router_%d" % t, "mb0_L1_expert%d_ffn_%d" % (e, tt), blk,
                       style="dashed")
    return ["mb0_L1_router_0", "mb0_L1_router_1"], (
        "Micro-batch 0, layer 1: the routers mb0_L1_router_0/1 send tokens straight to the experts "
        "on EP ranks 0-1 (EP 2, GPUs 0-3) without a dispatch all-to-all.")


# ---- tensor ------------------------------------------------------------------------------------

@defect("tp_rank_missing", "tensor", "clean_2.dot")
def d_tp_missing(g):
    gone = ["mb0_L1_%s_1" % k for k in ("attn_norm", "q_proj", "k_proj", "v_proj", "qk_score",
                                        "softmax", "attn_context", "o_proj")]
    for nid in gone:
        g.drop_node(nid)
    return ["mb0_L1_attn_allreduce_all", "mb0_L1_q_proj_0"], (
        "Layer 1's attention operators are drawn for TP rank 0 only; TP rank 1 (GPUs 1,3,5,7) of "
        "TP 2 is missing (no norm, Q/K/V, score, softmax, weighted sum or o_proj).")


@defect("no_allreduce_after_rowparallel", "tensor", "clean_3.dot")
def d_no_ar(g):
    ar = "dp0_mb0_L0_mlp_allreduce_all"
    blk = g.n(ar)["block"]
    g.drop_node(ar)
    for t in range(2):
        g.edge("dp0_mb0_L0_down_proj_%d" % t, "dp0_mb0_L0_mlp_residual_%d" % t, blk)
    return ["dp0_mb0_L0_down_proj_0", "dp0_mb0_L0_down_proj_1"], (
        "DP replica 0, layer 0: the row-parallel MLP down projections dp0_mb0_L0_down_proj_0/1 "
        "(GPUs 0 and 1) feed the residual adds directly, without the TP all-reduce of their "
        "partial sums.")


# ---- communication -----------------------------------------------------------------------------

@defect("cross_gpu_no_comm", "communication", "clean_3.dot")
def d_cross(g):
    src, dst = "dp0_mb0_embed_0", "dp1_mb0_L0_attn_norm_0"
    blk = g.edge_block("dp1_mb0_embed_0", dst)
    g.drop_edge("dp1_mb0_embed_0", dst)
    g.edge(src, dst, blk)
    return [src, dst], ("dp0_mb0_embed_0 on GPU 0 (DP replica 0) feeds dp1_mb0_L0_attn_norm_0 on "
                        "GPU 2 (DP replica 1) by a plain edge, with no communication node.")


@defect("comm_wrong_shape", "communication", "clean_1.dot")
def d_comm_shape(g):
    n = "mb0_L2_attn_allreduce_all"
    g.n(n)["shape"] = "box"
    return [n], ("Micro-batch 0, layer 2: the attention all-reduce mb0_L2_attn_allreduce_all is "
                 "drawn as a box (computation) instead of an ellipse.")


# ---- gpu ---------------------------------------------------------------------------------------

@defect("missing_gpu", "gpu", "clean_1.dot")
def d_missing_gpu(g):
    n = "mb0_L0_softmax_1"
    g.n(n)["gpus"] = None
    return [n], "Softmax of micro-batch 0, layer 0, TP rank 1 (mb0_L0_softmax_1) has no gpu line."


@defect("gpu_out_of_range", "gpu", "clean_2.dot")
def d_gpu_range(g):
    move_expert(g, 1, 5, 2, [8, 9], relabel_rank=False)
    return ["mb0_L1_expert5_ffn_0", "mb0_L1_expert5_ffn_1", "mb0_L1_expert5_allreduce_all"], (
        "Layer 1's expert 5 (EP rank 2) is placed on GPUs 8-9, beyond the 8 GPUs of "
        "EP 4 x TP 2 x PP 1 x DP 1 (ids 0-7).")


@defect("stages_share_gpus", "gpu", "clean_1.dot")
def d_stage_share(g):
    for nd in g.nodes.values():
        if nd["cluster"] == "dp0_stage1" and nd["gpus"]:
            nd["gpus"] = {x - 2 for x in nd["gpus"]}
        elif "sendrecv" in nd["id"]:
            nd["gpus"] = set(range(0, 6))
    return ["mb0_L2_attn_norm_0", "mb0_L1_attn_norm_0"], (
        "Stage 1 (layers 2–3) is placed on GPUs 2-5, overlapping stage 0's GPUs 0-3 (GPUs 2-3 in "
        "both).")


# ---- strategy / annotation ---------------------------------------------------------------------

@defect("strategy_mismatch", "strategy", "clean_2.dot")
def d_strategy(g):
    g.comment = g.comment.replace("TP=2", "TP=4")
    return [], ("The graph comment declares TP=4 but every tensor-parallel operator is drawn for "
                "TP ranks 0-1 only (TP 2; 8 GPUs drawn, not 4 x 4 = 16).")


@defect("missing_shapes", "annotation", "clean_1.dot")
def d_missing_shapes(g):
    n = "mb1_L2_o_proj_1"
    g.n(n)["ins"] = None
    g.n(n)["out"] = None
    return [n], ("Output projection of micro-batch 1, layer 2, TP rank 1 (mb1_L2_o_proj_1) has no "
                 "in or out line.")


@defect("placeholder", "annotation", "clean_1.dot")
def d_placeholder(g):
    n = "mb0_L2_router_0"
    g.n(n)["ins"] = [("?", 1024, 4096)]
    return [n], ("Micro-batch 0, layer 2: the MoE router mb0_L2_router_0 gives its input as "
                 "(?, 1024, 4096), a placeholder instead of the batch size 2.")


KIND_ORDER = ["cycle", "dangling_input", "dangling_output", "attention_one_box",
              "v_bypasses_softmax", "v_into_score", "qkv_into_oproj", "head_arithmetic", "tp_heads",
              "edge_shape_mismatch", "shard_without_gather", "stage_count", "stage_range_gap",
              "stage_missing_layer", "no_stage_transfer", "experts_subset_ranks", "experts_uneven",
              "experts_share_gpu", "no_gate", "no_all_to_all", "tp_rank_missing",
              "no_allreduce_after_rowparallel", "cross_gpu_no_comm", "comm_wrong_shape",
              "missing_gpu", "gpu_out_of_range", "stages_share_gpus", "strategy_mismatch",
              "missing_shapes", "placeholder", "moe_before_attention", "missing_residual"]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    cleans = OrderedDict([("clean_1.dot", build(CFG1)), ("clean_2.dot", build(CFG2)),
                          ("clean_3.dot", build(CFG3))])
    manifest = []
    what_clean = {
        "clean_1.dot": "Correct MoE prefill, EP 2 x TP 2 x PP 2 (8 GPUs), 4 layers (stage 0: 0-1 on "
                       "GPUs 0-3, stage 1: 2-3 on GPUs 4-7), 4 experts top-2 (2 per EP rank), "
                       "2 micro-batches each drawn with per-micro-batch send/recv.",
        "clean_2.dot": "Correct MoE prefill, EP 4 x TP 2, single stage (8 GPUs), 2 layers, 8 experts "
                       "top-2 (2 per EP rank), 1 micro-batch.",
        "clean_3.dot": "Correct dense prefill, DP 2 x TP 2 (4 GPUs), both DP replicas drawn, 3 layers, "
                       "1 micro-batch.",
    }
    for fname, g in cleans.items():
        errs = check_clean(g)
        if errs:
            print("SELF-CHECK FAILED for", fname)
            for e in errs[:40]:
                print("  ", e)
            sys.exit(1)
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fname, kind="clean", category=None, base=None, nodes=[],
                             what=what_clean[fname]))
    by_kind = {k: (c, b, fn) for k, c, b, fn in DEFECTS}
    assert sorted(by_kind) == sorted(KIND_ORDER), set(by_kind) ^ set(KIND_ORDER)
    for kind in KIND_ORDER:
        cat, base, fn = by_kind[kind]
        g = copy.deepcopy(cleans[base])
        nodes, what = fn(g)
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, base=base, nodes=nodes,
                             what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
