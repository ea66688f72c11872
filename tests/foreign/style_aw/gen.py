#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in house style "aw" (stdlib only).

python3 gen.py  ->  out/clean_{1,2,3}.dot, out/defect_<kind>.dot, out/manifest.json

House style "aw":
  * sizes written Nk when the value is an exact multiple of 1024 (1k = 1024),
    exact digits otherwise: [bs=2, seq=4k, d=4k], ffn 11008, vocab=32k
  * the experts of one EP rank are ONE grouped node on that rank's GPUs:
    "Experts 0-3 (4 local experts)" with grouped shapes [E_local=4, C=5k, d=4k]
  * devices "Dev: n0g3" (host 0, GPU 3; 8 GPUs per host, n1g0 = global GPU 8),
    ranges "Dev: n0g0-n0g7", lists "Dev: n0g0,n0g2"
  * ids lowercase with dashes, always quoted: "l3-moe-experts-ep2"
  * strategy only in a // comment: // strategy: ep4/tp2/pp2/dp1 (16 GPUs on 2 nodes)
  * layers numbered from 1 (ranks, stages and experts from 0)
  own quirks:
  * (quirk 1) every computation / routing node carries a "Par:" line saying how
    its weights are split (replicated, column-parallel, row-parallel partial sums,
    expert-local ...); node titles read "<operator> — layer L, tp0"
  * (quirk 2) colour code: box fill = host (n0 blue, n1 green), collectives are
    yellow ellipses (bold border when they span hosts), routing is lavender;
    skip edges grey and labelled "skip", router edges dashed; every layer block
    is introduced by a "// ---- layer N ... ----" banner comment
"""
import copy
import json
import os
import subprocess
import sys

GPN = 8  # GPUs per host node
HOST_FILL = ["#dbe9f6", "#e2f0d9", "#fce4d6", "#ededed"]
COMM_FILL = "#fff2cc"
ROUTE_FILL = "#e4dff0"
IO_FILL = "#ffffff"


# --------------------------------------------------------------------------- helpers
def ksz(n):
    """1k = 1024: Nk only when exact."""
    if isinstance(n, int) and n >= 1024 and n % 1024 == 0:
        return "%dk" % (n // 1024)
    return str(n)


def shp(*dims):
    """shp(("bs", 2), ("seq", 4096)) -> '[bs=2, seq=4k]'"""
    return "[" + ", ".join("%s=%s" % (k, ksz(v)) for k, v in dims) + "]"


def gname(g):
    return "n%dg%d" % (g // GPN, g % GPN)


def devstr(gpus):
    gpus = sorted(set(gpus))
    runs = []
    for g in gpus:
        if runs and g == runs[-1][1] + 1:
            runs[-1][1] = g
        else:
            runs.append([g, g])
    return ",".join(gname(a) if a == b else "%s-%s" % (gname(a), gname(b)) for a, b in runs)


class Node:
    def __init__(self, nid, kind, title, ins, outs, par, gpus, cluster, group):
        self.id = nid
        self.kind = kind  # comp | comm | route | src | sink
        self.title = title
        self.ins = list(ins)
        self.outs = list(outs)
        self.par = par
        self.gpus = list(gpus)
        self.cluster = cluster
        self.group = group
        self.show_shapes = True
        self.show_dev = True
        self.dev_override = None
        self.drop_shape_attr = False  # author forgot shape=ellipse (falls back to box)

    def label(self):
        lines = [self.title]
        if self.show_shapes:
            lines.append("Input: " + ", ".join(self.ins))
            lines.append("Output: " + ", ".join(self.outs))
        if self.par:
            lines.append("Par: " + self.par)
        if self.show_dev:
            lines.append("Dev: " + (self.dev_override or devstr(self.gpus)))
        return "\\n".join(lines)

    def attrs(self):
        a = [("label", self.label())]
        hosts = sorted({g // GPN for g in self.gpus})
        if self.kind == "comm":
            if not self.drop_shape_attr:
                a.append(("shape", "ellipse"))
            a.append(("fillcolor", COMM_FILL))
            if len(hosts) > 1:
                a.append(("penwidth", "2"))
        elif self.kind == "route":
            a.append(("shape", "parallelogram"))
            a.append(("fillcolor", ROUTE_FILL))
        elif self.kind == "src":
            a.append(("shape", "invhouse"))
            a.append(("fillcolor", IO_FILL))
        elif self.kind == "sink":
            a.append(("shape", "house"))
            a.append(("fillcolor", IO_FILL))
        else:  # comp: default shape box from node[...]
            a.append(("fillcolor", HOST_FILL[min(hosts) % len(HOST_FILL)] if hosts else IO_FILL))
        return a


class Graph:
    def __init__(self, name, title, header):
        self.name = name
        self.title = title
        self.header = list(header)
        self.nodes = {}  # insertion ordered
        self.edges = []  # [src, dst, kind, group]  kind: data | skip | route
        self.clusters = []  # [cid, label]

    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        return node.id

    def edge(self, s, d, kind="data", group=None):
        self.edges.append([s, d, kind, group])

    # mutation helpers
    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def find_edge(self, s, d):
        for i, e in enumerate(self.edges):
            if e[0] == s and e[1] == d:
                return i
        raise KeyError((s, d))

    def remove_edge(self, s, d):
        del self.edges[self.find_edge(s, d)]

    def insert_edge_after(self, after, s, d, kind="data"):
        i = self.find_edge(*after)
        self.edges.insert(i + 1, [s, d, kind, self.edges[i][3]])

    def insert_edge_before(self, before, s, d, kind="data"):
        i = self.find_edge(*before)
        self.edges.insert(i, [s, d, kind, self.edges[i][3]])

    def render(self):
        out = list("// " + h for h in self.header)
        out.append('digraph "%s" {' % self.name)
        out.append('  graph [rankdir=TB, label="%s", labelloc=t, fontname="Helvetica", '
                   'fontsize=14, newrank=true];' % self.title)
        out.append('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];')
        out.append('  edge [fontname="Helvetica", fontsize=9];')

        def emit_nodes(nodes, ind):
            grp = object()
            for n in nodes:
                if n.group != grp:
                    grp = n.group
                    out.append("")
                    out.append(ind + "// ---- %s ----" % grp)
                out.append(ind + '"%s" [%s];' % (n.id, ", ".join('%s="%s"' % kv for kv in n.attrs())))

        for cid, clabel in self.clusters:
            out.append("")
            out.append('  subgraph "%s" {' % cid)
            out.append('    label="%s";' % clabel)
            out.append('    style="dashed"; color="#7f7f7f";')
            emit_nodes([n for n in self.nodes.values() if n.cluster == cid], "    ")
            out.append("  }")
        emit_nodes([n for n in self.nodes.values() if n.cluster is None], "  ")
        out.append("")
        out.append("  // ======== edges ========")
        grp = object()
        for s, d, kind, g in self.edges:
            if g != grp:
                grp = g
                out.append("  // ---- %s ----" % g)
            attr = ""
            if kind == "skip":
                attr = ' [color="#888888", label="skip"]'
            elif kind == "route":
                attr = " [style=dashed]"
            out.append('  "%s" -> "%s"%s;' % (s, d, attr))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- builder
def build(cfg, **opt):
    """cfg: model / strategy; opt: builder-level defect switches."""
    ep, tp, pp, dp = cfg["ep"], cfg["tp"], cfg["pp"], cfg["dp"]
    L_n, d, H, hd = cfg["layers"], cfg["d"], cfg["heads"], cfg["hd"]
    bs, seq, vocab = cfg["bs"], cfg["seq"], cfg["vocab"]
    E, topk, C, ffn = cfg.get("E", 0), cfg.get("topk", 2), cfg.get("C"), cfg["ffn"]
    stage_base = opt.get("stage_base") or [s * ep * tp for s in range(pp)]
    one_box = opt.get("one_box", set())
    hd_over = opt.get("hd_over", {})
    heads_over = opt.get("heads_over", {})
    qkv_oproj = opt.get("qkv_into_oproj", set())
    moe_first = opt.get("moe_first", set())
    ngpu = ep * tp * pp * dp
    nhost = (ngpu + GPN - 1) // GPN
    strat = opt.get("strategy_comment") or "ep%d/tp%d/pp%d/dp%d (%d GPUs on %d node%s)" % (
        ep, tp, pp, dp, ngpu, nhost, "s" if nhost > 1 else "")
    header = ["%s deployment DAG, one prefill forward pass" % cfg["model"],
              "strategy: " + strat,
              "sizes: 1k = 1024; a size is written Nk only when it is an exact multiple of 1024",
              "devices: nXgY = node X, GPU Y; %d GPUs per node, so n1g0 is global GPU 8" % GPN]
    header += cfg["notes"]
    header += ["colours: box fill = host (blue n0, green n1), yellow ellipse = collective "
               "(bold = spans hosts), lavender parallelogram = routing; grey 'skip' edges = residual"]
    g = Graph(cfg["gname"], cfg["title"], header)
    g.cfg = cfg

    per_layer_stage = L_n // pp
    stage_of = {L: (L - 1) // per_layer_stage for L in range(1, L_n + 1)}

    def rep_base(r):
        return r * pp * ep * tp

    def S(r, s):
        b = rep_base(r) + stage_base[s]
        return list(range(b, b + ep * tp))

    def ep_gpus(r, s, e):
        b = rep_base(r) + stage_base[s] + e * tp
        return list(range(b, b + tp))

    def tp_gpus(r, s, t):
        b = rep_base(r) + stage_base[s]
        return [b + e * tp + t for e in range(ep)]

    BSD = shp(("bs", bs), ("seq", seq), ("d", d))
    BSK = shp(("bs", bs), ("seq", seq), ("k", topk))
    BSKD = shp(("bs", bs), ("seq", seq), ("k", topk), ("d", d))
    El = E // ep if E else 0
    ELCD = shp(("E_local", El), ("C", C), ("d", d)) if E else None

    for r in range(dp):
        p = "dp%d-" % r if dp > 1 else ""
        dpn = "dp%d" % r if dp > 1 else None

        def ctx(*parts):
            return ", ".join([x for x in (dpn,) + parts if x])

        def clus(s):
            if pp > 1:
                return "cluster-pp%d" % s
            if dp > 1:
                return "cluster-dp%d" % r
            return None

        # ------------------------------------------------------------ input
        stg = (lambda s_: " (stage %d)" % s_) if pp > 1 else (lambda s_: "")
        grp = (dpn + " " if dpn else "") + "input and embedding" + stg(0)
        cl = clus(0)
        g.add(Node(p + "input", "src", "Input (token ids)" + (" — " + dpn if dpn else ""),
                   [shp(("bs", bs), ("seq", seq))], [shp(("bs", bs), ("seq", seq))], None, S(r, 0), cl, grp))
        g.add(Node(p + "embed", "comp", "Token embedding (vocab=%s)" % ksz(vocab) + (" — " + dpn if dpn else ""),
                   [shp(("bs", bs), ("seq", seq))], [BSD], "replicated", S(r, 0), cl, grp))
        g.edge(p + "input", p + "embed", group=grp)
        prev = p + "embed"

        for L in range(1, L_n + 1):
            s = stage_of[L]
            cl = clus(s)
            # pipeline transfer
            if L > 1 and stage_of[L - 1] != s:
                grp = (dpn + " " if dpn else "") + "pipeline transfer stage %d -> %d" % (s - 1, s)
                sr = p + "pp%d-pp%d-send-recv" % (s - 1, s)
                g.add(Node(sr, "comm", "Send/Recv (PP stage %d → stage %d)" % (s - 1, s), [BSD], [BSD], None,
                           S(r, s - 1) + S(r, s), None, grp))
                g.edge(prev, sr, group=grp)
                prev = sr
            grp = (dpn + " " if dpn else "") + "layer %d" % L + stg(s)
            St = S(r, s)
            lp = p + "l%d-" % L

            def comp(nid, title, ins, outs, par, gpus, kind="comp"):
                return g.add(Node(lp + nid, kind, title, ins, outs, par, gpus, cl, grp))

            def E_(a, b, kind="data"):
                g.edge(a, b, kind, grp)

            def attn_block(inp):
                n1 = comp("norm1", "RMSNorm, pre-attention — " + ctx("layer %d" % L), [BSD], [BSD], "replicated", St)
                E_(inp, n1)
                oprojs = []
                for t in range(tp):
                    G = tp_gpus(r, s, t)
                    h = heads_over.get((L, t), H // tp)
                    hdl = hd_over.get(L, hd)
                    QS = shp(("bs", bs), ("seq", seq), ("heads", h), ("hd", hdl))
                    SC = shp(("bs", bs), ("heads", h), ("sq", seq), ("sk", seq))
                    c = ctx("layer %d" % L, "tp%d" % t)
                    if L in one_box:
                        m = comp("attn-mha-tp%d" % t, "Multi-head attention — " + c, [BSD], [QS],
                                 "column-parallel", G)
                        E_(n1, m)
                        last = [m]
                    else:
                        q = comp("attn-q-tp%d" % t, "Q projection — " + c, [BSD], [QS], "column-parallel", G)
                        k = comp("attn-k-tp%d" % t, "K projection — " + c, [BSD], [QS], "column-parallel", G)
                        v = comp("attn-v-tp%d" % t, "V projection — " + c, [BSD], [QS], "column-parallel", G)
                        for x in (q, k, v):
                            E_(n1, x)
                        if (r, L) in qkv_oproj:
                            last = [q, k, v]
                        else:
                            sc = comp("attn-score-tp%d" % t, "Attention scores QK^T/sqrt(hd) — " + c, [QS, QS], [SC],
                                      "head-parallel, no weights", G)
                            sm = comp("attn-softmax-tp%d" % t, "Softmax (causal mask) — " + c, [SC], [SC],
                                      "head-parallel, no weights", G)
                            ws = comp("attn-wsum-tp%d" % t, "Attention weighted sum softmax·V — " + c, [SC, QS], [QS],
                                      "head-parallel, no weights", G)
                            E_(q, sc)
                            E_(k, sc)
                            E_(sc, sm)
                            E_(sm, ws)
                            E_(v, ws)
                            last = [ws]
                    o = comp("attn-oproj-tp%d" % t, "Output projection o_proj — " + c, [QS] * len(last), [BSD],
                             "row-parallel, partial sums", G)
                    for x in last:
                        E_(x, o)
                    oprojs.append(o)
                if cfg["attn_comm"] == "ar":
                    ar = comp("attn-ar", "All-Reduce (TP) — " + ctx("layer %d attention" % L), [BSD], [BSD], None,
                              St, "comm")
                    for o in oprojs:
                        E_(o, ar)
                    last_c = ar
                else:
                    SH = shp(("bs", bs), ("seq", seq), ("d", d // tp))
                    rs = comp("attn-rs", "Reduce-Scatter (TP) — " + ctx("layer %d attention" % L), [BSD], [SH], None,
                              St, "comm")
                    ag = comp("attn-ag", "All-Gather (TP) — " + ctx("layer %d attention" % L), [SH], [BSD], None,
                              St, "comm")
                    for o in oprojs:
                        E_(o, rs)
                    E_(rs, ag)
                    last_c = ag
                r1 = comp("res1", "Residual add, attention — " + ctx("layer %d" % L), [BSD, BSD], [BSD], "replicated",
                          St)
                E_(last_c, r1)
                E_(inp, r1, "skip")
                return r1

            def mlp_block(inp):
                n2 = comp("norm2", "RMSNorm, pre-%s — " % ("MoE" if E else "MLP") + ctx("layer %d" % L), [BSD], [BSD],
                          "replicated", St)
                E_(inp, n2)
                if E:
                    rt = comp("moe-router", "MoE router, top-%d of %d — " % (topk, E) + ctx("layer %d" % L), [BSD],
                              [BSK], "replicated", St, "route")
                    dsp = comp("moe-dispatch", "All-to-All dispatch (EP) — " + ctx("layer %d" % L), [BSD, BSK],
                               [ELCD], None, St, "comm")
                    E_(n2, rt)
                    E_(n2, dsp)
                    E_(rt, dsp, "route")
                    a2a_in = []
                    for e in range(ep):
                        ex = comp("moe-experts-ep%d" % e,
                                  "Experts %d-%d (%d local experts) — " % (e * El, e * El + El - 1, El)
                                  + ctx("layer %d" % L, "ep%d" % e),
                                  [ELCD], [ELCD],
                                  ("expert-local, ffn %s/%d = %s per GPU, row-parallel partial sums"
                                   % (ksz(ffn), tp, ksz(ffn // tp))) if tp > 1 else
                                  "expert-local, full ffn %s" % ksz(ffn),
                                  ep_gpus(r, s, e))
                        E_(dsp, ex)
                        if tp > 1:
                            xar = comp("moe-expert-ar-ep%d" % e,
                                       "All-Reduce (TP inside ep%d) — " % e + ctx("layer %d experts" % L),
                                       [ELCD], [ELCD], None, ep_gpus(r, s, e), "comm")
                            E_(ex, xar)
                            a2a_in.append(xar)
                        else:
                            a2a_in.append(ex)
                    ca = comp("moe-combine-a2a", "All-to-All combine (EP) — " + ctx("layer %d" % L), [ELCD], [BSKD],
                              None, St, "comm")
                    for x in a2a_in:
                        E_(x, ca)
                    cb = comp("moe-combine", "Weighted combine of top-%d — " % topk + ctx("layer %d" % L),
                              [BSKD, BSK], [BSD], "replicated", St, "route")
                    E_(ca, cb)
                    E_(rt, cb, "route")
                    last_c = cb
                else:
                    ar_ins = []
                    for t in range(tp):
                        G = tp_gpus(r, s, t)
                        c = ctx("layer %d" % L, "tp%d" % t)
                        GU = shp(("bs", bs), ("seq", seq), ("gu", 2 * ffn // tp))
                        F = shp(("bs", bs), ("seq", seq), ("f", ffn // tp))
                        up = comp("mlp-up-tp%d" % t, "Gate+Up projection (fused) — " + c, [BSD], [GU],
                                  "column-parallel", G)
                        act = comp("mlp-act-tp%d" % t, "SwiGLU — " + c, [GU], [F], "column-parallel, no weights", G)
                        dn = comp("mlp-down-tp%d" % t, "Down projection — " + c, [F], [BSD],
                                  "row-parallel, partial sums", G)
                        E_(n2, up)
                        E_(up, act)
                        E_(act, dn)
                        ar_ins.append(dn)
                    ar = comp("mlp-ar", "All-Reduce (TP) — " + ctx("layer %d MLP" % L), [BSD], [BSD], None, St,
                              "comm")
                    for x in ar_ins:
                        E_(x, ar)
                    last_c = ar
                r2 = comp("res2", "Residual add, %s — " % ("MoE" if E else "MLP") + ctx("layer %d" % L), [BSD, BSD],
                          [BSD], "replicated", St)
                E_(last_c, r2)
                E_(inp, r2, "skip")
                return r2

            if L in moe_first:
                prev = attn_block(mlp_block(prev))
            else:
                prev = mlp_block(attn_block(prev))

        # ------------------------------------------------------------ head
        s = pp - 1
        cl = clus(s)
        St = S(r, s)
        grp = (dpn + " " if dpn else "") + "final norm, LM head, output" + stg(s)
        VS = shp(("bs", bs), ("seq", seq), ("vocab", vocab))
        fn = g.add(Node(p + "final-norm", "comp", "RMSNorm, final" + (" — " + dpn if dpn else ""), [BSD], [BSD],
                        "replicated", St, cl, grp))
        g.edge(prev, fn, group=grp)
        if cfg.get("lm_tp"):
            VSH = shp(("bs", bs), ("seq", seq), ("vocab", vocab // tp))
            heads = []
            for t in range(tp):
                lm = g.add(Node(p + "lm-head-tp%d" % t, "comp", "LM head (vocab shard) — " + ctx("tp%d" % t), [BSD],
                                [VSH], "column-parallel over vocab", tp_gpus(r, s, t), cl, grp))
                g.edge(fn, lm, group=grp)
                heads.append(lm)
            agv = g.add(Node(p + "lm-head-ag", "comm", "All-Gather (TP, vocab shards)" + (" — " + dpn if dpn else ""),
                             [VSH], [VS], None, St, cl, grp))
            for x in heads:
                g.edge(x, agv, group=grp)
            last = agv
        else:
            last = g.add(Node(p + "lm-head", "comp", "LM head (vocab=%s)" % ksz(vocab) + (" — " + dpn if dpn else ""),
                              [BSD], [VS], "replicated", St, cl, grp))
            g.edge(fn, last, group=grp)
        o = g.add(Node(p + "output", "sink", "Output (logits)" + (" — " + dpn if dpn else ""), [VS], [VS], None, St,
                       cl, grp))
        g.edge(last, o, group=grp)

    # clusters
    labels = opt.get("stage_labels", {})
    if pp > 1:
        for s in range(pp):
            a = s * per_layer_stage + 1
            b = a + per_layer_stage - 1
            rng = labels.get(s, "layers %d-%d" % (a, b))
            g.clusters.append(["cluster-pp%d" % s, "Pipeline stage %d: %s\\nDev: %s" % (s, rng, devstr(
                sum((S(r, s) for r in range(dp)), [])))])
    elif dp > 1:
        for r in range(dp):
            g.clusters.append(["cluster-dp%d" % r, "DP replica %d: layers 1-%d\\nDev: %s" % (r, L_n, devstr(
                S(r, 0)))])
    return g


# --------------------------------------------------------------------------- the three deployments
CFG1 = dict(model="toy-moe-a (16 experts, top-2)", gname="toy-moe-a", title="toy-moe-a: prefill forward pass",
            ep=4, tp=2, pp=2, dp=1, layers=4, d=4096, heads=32, hd=128, ffn=11008, E=16, topk=2,
            bs=2, seq=4096, vocab=32768, C=5120, attn_comm="ar",
            notes=["model: 4 layers, d=4k, 32 heads x hd 128, 16 experts (ffn 11008 each), top-2, vocab=32k",
                   "attention is data-parallel over the 4 EP ranks: each EP rank's TP pair serves its own bs=2 "
                   "sequences; a node whose Dev lists several EP ranks shows one rank's shapes",
                   "expert capacity C = 5k slots per expert (8 x 4k tokens x top-2 / 16 experts x 1.25)"])
CFG2 = dict(model="toy-moe-b (8 experts, top-2)", gname="toy-moe-b", title="toy-moe-b: prefill forward pass",
            ep=2, tp=4, pp=1, dp=1, layers=3, d=2048, heads=16, hd=128, ffn=5632, E=8, topk=2,
            bs=4, seq=2048, vocab=32768, C=5120, attn_comm="rsag",
            notes=["model: 3 layers, d=2k, 16 heads x hd 128, 8 experts (ffn 5632 each), top-2, vocab=32k",
                   "attention is data-parallel over the 2 EP ranks: each EP rank's TP group of 4 serves its own "
                   "bs=4 sequences; a node whose Dev lists several EP ranks shows one rank's shapes",
                   "attention partial sums are reduce-scattered to d/4 shards and all-gathered back before the "
                   "residual add",
                   "expert capacity C = 5k slots per expert (8 x 2k tokens x top-2 / 8 experts x 1.25)"])
CFG3 = dict(model="toy-dense-c", gname="toy-dense-c", title="toy-dense-c: prefill forward pass",
            ep=1, tp=2, pp=1, dp=2, layers=2, d=3072, heads=24, hd=128, ffn=8192, E=0,
            bs=4, seq=1024, vocab=32768, attn_comm="ar", lm_tp=True,
            notes=["model: dense, 2 layers, d=3k, 24 heads x hd 128, SwiGLU ffn=8k, vocab=32k",
                   "both DP replicas are drawn; each replica serves its own bs=4 sequences, nothing crosses "
                   "replicas"])


def attn_ids(g, L, t, prefix=""):
    return [prefix + "l%d-attn-%s-tp%d" % (L, x, t) for x in ("q", "k", "v", "score", "softmax", "wsum", "oproj")]


# --------------------------------------------------------------------------- defects
def defects():
    D = []

    def add(kind, cat, base, nodes, what, g):
        D.append(dict(kind=kind, category=cat, base=base, nodes=nodes, what=what, graph=g))

    c1, c2, c3 = "clean_1.dot", "clean_2.dot", "clean_3.dot"

    # ---- structure
    g = build(CFG2)
    g.insert_edge_after(("l2-attn-ag", "l2-res1"), "l2-res1", "l2-attn-ag")
    add("cycle", "structure", c2, ["l2-attn-ag", "l2-res1"],
        "Layer 2's attention All-Gather l2-attn-ag is drawn both ways with the residual add l2-res1 "
        "(l2-attn-ag -> l2-res1 and l2-res1 -> l2-attn-ag), a two-node cycle.", g)

    g = build(CFG1)
    g.remove_edge("l2-res1", "l2-norm2")
    add("dangling_input", "structure", c1, ["l2-norm2"],
        "Layer 2's pre-MoE RMSNorm l2-norm2 (stage 0, n0g0-n0g7) has no incoming edge: its input from the "
        "attention residual add l2-res1 was removed.", g)

    g = build(CFG1)
    g.remove_edge("l1-moe-expert-ar-ep2", "l1-moe-combine-a2a")
    add("dangling_output", "structure", c1, ["l1-moe-expert-ar-ep2", "l1-moe-experts-ep2"],
        "Layer 1, EP rank 2 (experts 8-11, n0g4-n0g5): the TP all-reduce l1-moe-expert-ar-ep2 after "
        "l1-moe-experts-ep2 has no outgoing edge, so that rank's expert output never reaches the combine "
        "all-to-all l1-moe-combine-a2a.", g)

    g = build(CFG2, moe_first={2})
    add("moe_before_attention", "structure", c2, ["l2-norm2", "l2-norm1", "l2-res2", "l2-res1"],
        "Layer 2 runs its MoE block before its attention block: l1-res2 feeds l2-norm2 (router, experts, "
        "residual l2-res2) and the MoE residual l2-res2 feeds l2-norm1, whose attention residual l2-res1 then "
        "feeds layer 3.", g)

    g = build(CFG3)
    g.remove_edge("dp1-l1-res2", "dp1-l2-res1")
    add("missing_residual", "structure", c3, ["dp1-l2-res1"],
        "DP replica 1, layer 2: the attention residual add dp1-l2-res1 is fed only by the all-reduce "
        "dp1-l2-attn-ar; the skip edge from the layer input dp1-l1-res2 is missing.", g)

    # ---- attention
    g = build(CFG1, one_box={3})
    add("attention_one_box", "attention", c1, ["l3-attn-mha-tp0", "l3-attn-mha-tp1"],
        "Layer 3's attention (stage 1) is drawn as one 'Multi-head attention' box per TP rank (l3-attn-mha-tp0, "
        "l3-attn-mha-tp1) instead of Q/K/V projections, scores, softmax and weighted sum.", g)

    g = build(CFG1)
    i = g.find_edge("l1-attn-softmax-tp1", "l1-attn-wsum-tp1")
    g.edges[i][1] = "l1-attn-oproj-tp1"
    add("v_bypasses_softmax", "attention", c1,
        ["l1-attn-softmax-tp1", "l1-attn-wsum-tp1", "l1-attn-v-tp1", "l1-attn-oproj-tp1"],
        "Layer 1, TP rank 1: V (l1-attn-v-tp1) feeds the weighted sum l1-attn-wsum-tp1 but the softmax "
        "l1-attn-softmax-tp1 does not (it goes straight to the output projection l1-attn-oproj-tp1), so V "
        "bypasses the attention probabilities.", g)

    g = build(CFG2)
    i = g.find_edge("l1-attn-k-tp1", "l1-attn-score-tp1")
    j = g.find_edge("l1-attn-v-tp1", "l1-attn-wsum-tp1")
    g.edges[i][0] = "l1-attn-v-tp1"
    g.edges[j][0] = "l1-attn-k-tp1"
    add("v_into_score", "attention", c2, ["l1-attn-v-tp1", "l1-attn-k-tp1", "l1-attn-score-tp1", "l1-attn-wsum-tp1"],
        "Layer 1, TP rank 1: V (l1-attn-v-tp1) is wired into the score l1-attn-score-tp1 instead of K, and K "
        "(l1-attn-k-tp1) feeds the weighted sum l1-attn-wsum-tp1 (K and V swapped).", g)

    g = build(CFG3, qkv_into_oproj={(1, 2)})
    add("qkv_into_oproj", "attention", c3,
        ["dp1-l2-attn-oproj-tp0", "dp1-l2-attn-oproj-tp1", "dp1-l2-attn-q-tp0", "dp1-l2-attn-k-tp0",
         "dp1-l2-attn-v-tp0", "dp1-l2-attn-q-tp1", "dp1-l2-attn-k-tp1", "dp1-l2-attn-v-tp1"],
        "DP replica 1, layer 2: Q, K and V go straight into the output projection on both TP ranks "
        "(dp1-l2-attn-oproj-tp0, dp1-l2-attn-oproj-tp1); no score, softmax or weighted sum is drawn.", g)

    g = build(CFG1, hd_over={2: 64})
    add("head_arithmetic", "attention", c1,
        [x for t in range(2) for x in attn_ids(g, 2, t)[:3]],
        "Layer 2 labels Q/K/V as heads=16 x hd=64 on both TP ranks (16 x 64 = 1024 per rank, 32 x 64 = 2048 in "
        "total) while d=4k=4096 (4096/TP2 = 2048 per rank, i.e. hd should be 128).", g)

    g = build(CFG2, heads_over={(1, 0): 16})
    add("tp_heads", "attention", c2, ["l1-attn-q-tp0", "l1-attn-k-tp0", "l1-attn-v-tp0"],
        "Layer 1, TP rank 0 of TP 4: the Q/K/V projections l1-attn-{q,k,v}-tp0 output all 16 heads "
        "(heads=16, hd=128 = 2k) instead of 16/4 = 4 heads per rank (the other ranks hold 4).", g)

    # ---- shape
    g = build(CFG3)
    g.nodes["dp0-l2-norm2"].ins = [shp(("bs", 4), ("seq", 1024), ("d", 2304))]
    add("edge_shape_mismatch", "shape", c3, ["dp0-l2-norm2", "dp0-l2-res1"],
        "DP replica 0, layer 2: RMSNorm dp0-l2-norm2 expects d=2304 but its producer dp0-l2-res1 outputs "
        "d=3k=3072 (ratio 4/3, not a parallel degree).", g)

    g = build(CFG2)
    i = g.find_edge("l3-attn-ag", "l3-res1")
    g.edges[i][0] = "l3-attn-rs"
    g.remove_node("l3-attn-ag")
    add("shard_without_gather", "shape", c2, ["l3-attn-rs", "l3-res1"],
        "Layer 3's attention output is reduce-scattered (l3-attn-rs) into d/TP = 2048/4 = 512 shards that go "
        "straight into the full-size (d=2k) residual add l3-res1 with no all-gather.", g)

    # ---- pipeline
    g = build(CFG1, strategy_comment="ep4/tp2/pp3/dp1 (24 GPUs on 3 nodes)")
    add("stage_count", "pipeline", c1, ["cluster-pp0", "cluster-pp1"],
        "The strategy comment declares pp3 (24 GPUs) but only two pipeline stages are drawn "
        "(cluster-pp0 layers 1-2, cluster-pp1 layers 3-4).", g)

    g = build(CFG1, stage_labels={0: "layers 1-1"})
    add("stage_range_gap", "pipeline", c1, ["cluster-pp0", "l2-norm1", "l2-res2"],
        "Stage 0 claims layers 1-1 and stage 1 layers 3-4: layer 2 is in no stage's range (gap), although its "
        "operators (l2-norm1 ... l2-res2) are drawn in stage 0.", g)

    g = build(CFG1)
    for nid in [n for n in g.nodes if n.startswith("l4-")]:
        g.remove_node(nid)
    g.insert_edge_before(("final-norm", "lm-head"), "l3-res2", "final-norm")
    add("stage_missing_layer", "pipeline", c1, ["cluster-pp1", "l3-res2", "final-norm"],
        "Stage 1 claims layers 3-4 but no operator of layer 4 is drawn: l3-res2 feeds the final norm "
        "final-norm directly.", g)

    g = build(CFG1)
    g.remove_node("pp0-pp1-send-recv")
    g.insert_edge_before(("l3-norm1", "l3-attn-q-tp0"), "l2-res2", "l3-norm1")
    g.insert_edge_before(("l3-norm1", "l3-attn-q-tp0"), "l2-res2", "l3-res1", "skip")
    add("no_stage_transfer", "pipeline", c1, ["l2-res2", "l3-norm1", "l3-res1"],
        "Stage 0 (n0g0-n0g7) and stage 1 (n1g0-n1g7) are joined by plain edges from l2-res2 to l3-norm1 and "
        "l3-res1; the pipeline send/recv is missing.", g)

    # ---- expert
    g = build(CFG1)
    for e in (2, 3):
        g.remove_node("l2-moe-experts-ep%d" % e)
        g.remove_node("l2-moe-expert-ar-ep%d" % e)
    E8 = shp(("E_local", 8), ("C", 5120), ("d", 4096))
    for e in (0, 1):
        n = g.nodes["l2-moe-experts-ep%d" % e]
        n.title = "Experts %d-%d (8 local experts) — layer 2, ep%d" % (8 * e, 8 * e + 7, e)
        n.ins = n.outs = [E8]
        a = g.nodes["l2-moe-expert-ar-ep%d" % e]
        a.ins = a.outs = [E8]
    g.nodes["l2-moe-dispatch"].outs = [E8]
    g.nodes["l2-moe-combine-a2a"].ins = [E8]
    add("experts_subset_ranks", "expert", c1, ["l2-moe-experts-ep0", "l2-moe-experts-ep1", "l2-moe-dispatch"],
        "Layer 2 places all 16 experts on EP ranks 0 and 1 (8 each, n0g0-n0g3); EP ranks 2 and 3 (n0g4-n0g7) "
        "hold none of its experts although EP is 4.", g)

    g = build(CFG1)
    sizes = [5, 3, 4, 4]
    start = 0
    for e, k in enumerate(sizes):
        sh = shp(("E_local", k), ("C", 5120), ("d", 4096))
        n = g.nodes["l3-moe-experts-ep%d" % e]
        n.title = "Experts %d-%d (%d local experts) — layer 3, ep%d" % (start, start + k - 1, k, e)
        n.ins = n.outs = [sh]
        a = g.nodes["l3-moe-expert-ar-ep%d" % e]
        a.ins = a.outs = [sh]
        start += k
    lst = [shp(("E_local", k), ("C", 5120), ("d", 4096)) for k in (5, 3, 4)]
    g.nodes["l3-moe-dispatch"].outs = lst
    g.nodes["l3-moe-combine-a2a"].ins = lst
    add("experts_uneven", "expert", c1, ["l3-moe-experts-ep0", "l3-moe-experts-ep1"],
        "Layer 3's expert 4 sits on EP rank 0 (n1g0-n1g1, experts 0-4) instead of rank 1: ranks hold 5, 3, 4, 4 "
        "experts instead of 16/4 = 4 each.", g)

    g = build(CFG2)
    g.nodes["l2-moe-experts-ep1"].gpus = list(range(0, 4))
    add("experts_share_gpu", "expert", c2, ["l2-moe-experts-ep1", "l2-moe-experts-ep0"],
        "Layer 2's experts 4-7 (EP rank 1, l2-moe-experts-ep1) are placed on n0g0-n0g3, which hold EP rank 0's "
        "experts 0-3 (l2-moe-experts-ep0); n0g4-n0g7 hold no expert of layer 2.", g)

    g = build(CFG2)
    g.remove_node("l2-moe-router")
    g.nodes["l2-moe-dispatch"].ins = g.nodes["l2-moe-dispatch"].ins[:1]
    g.nodes["l2-moe-combine"].ins = g.nodes["l2-moe-combine"].ins[:1]
    add("no_gate", "expert", c2, ["l2-norm2", "l2-moe-dispatch", "l2-moe-experts-ep0", "l2-moe-experts-ep1"],
        "Layer 2 has no MoE router: the RMSNorm l2-norm2 output goes straight into the dispatch all-to-all "
        "l2-moe-dispatch and the experts, and the combine l2-moe-combine gets no routing weights.", g)

    g = build(CFG1)
    g.remove_node("l1-moe-dispatch")
    for e in range(4):
        g.insert_edge_before(("l1-moe-experts-ep%d" % e, "l1-moe-expert-ar-ep%d" % e),
                             "l1-moe-router", "l1-moe-experts-ep%d" % e)
    rt = g.nodes["l1-moe-router"]
    rt.outs = rt.outs + [shp(("E_local", 4), ("C", 5120), ("d", 4096))]
    add("no_all_to_all", "expert", c1, ["l1-moe-router"] + ["l1-moe-experts-ep%d" % e for e in range(4)],
        "Layer 1's router l1-moe-router sends tokens straight to the experts on EP ranks 0-3 (EP 4, "
        "l1-moe-experts-ep0..ep3) without a dispatch all-to-all.", g)

    # ---- tensor
    g = build(CFG2)
    for nid in attn_ids(g, 2, 3):
        g.remove_node(nid)
    add("tp_rank_missing", "tensor", c2, ["l2-norm1", "l2-attn-oproj-tp0", "l2-attn-oproj-tp1", "l2-attn-oproj-tp2",
                                          "l2-attn-rs"],
        "Layer 2's attention operators are drawn for TP ranks 0-2 only; TP rank 3 (n0g3,n0g7) of TP 4 is "
        "missing (no l2-attn-*-tp3 nodes).", g)

    g = build(CFG3)
    g.remove_node("dp0-l1-mlp-ar")
    g.insert_edge_before(("dp0-l1-res1", "dp0-l1-res2"), "dp0-l1-mlp-down-tp0", "dp0-l1-res2")
    g.insert_edge_before(("dp0-l1-res1", "dp0-l1-res2"), "dp0-l1-mlp-down-tp1", "dp0-l1-res2")
    add("no_allreduce_after_rowparallel", "tensor", c3,
        ["dp0-l1-mlp-down-tp0", "dp0-l1-mlp-down-tp1", "dp0-l1-res2"],
        "DP replica 0, layer 1: the row-parallel MLP down projections dp0-l1-mlp-down-tp0/tp1 (partial sums) "
        "feed the residual add dp0-l1-res2 directly, without the TP all-reduce.", g)

    # ---- communication
    g = build(CFG3)
    i = g.find_edge("dp1-embed", "dp1-l1-norm1")
    g.edges[i][0] = "dp0-embed"
    add("cross_gpu_no_comm", "communication", c3, ["dp0-embed", "dp1-l1-norm1"],
        "dp0-embed on n0g0-n0g1 feeds dp1-l1-norm1 on n0g2-n0g3 by a plain edge, with no communication node.", g)

    g = build(CFG1)
    g.nodes["l2-attn-ar"].drop_shape_attr = True
    add("comm_wrong_shape", "communication", c1, ["l2-attn-ar"],
        "Layer 2's attention All-Reduce l2-attn-ar is drawn as a box (computation, the node default) instead of "
        "an ellipse.", g)

    # ---- gpu
    g = build(CFG2)
    g.nodes["l1-attn-softmax-tp2"].show_dev = False
    add("missing_gpu", "gpu", c2, ["l1-attn-softmax-tp2"],
        "Softmax of layer 1, TP rank 2 (l1-attn-softmax-tp2) has no Dev line.", g)

    g = build(CFG2)
    g.nodes["l3-moe-experts-ep1"].gpus = list(range(8, 12))
    add("gpu_out_of_range", "gpu", c2, ["l3-moe-experts-ep1"],
        "Layer 3's experts 4-7 (EP rank 1, l3-moe-experts-ep1) are placed on n1g0-n1g3 (global GPUs 8-11), "
        "beyond the 8 GPUs of ep2 x tp4 x pp1 x dp1 (n0g0-n0g7).", g)

    g = build(CFG1, stage_base=[0, 4])
    add("stages_share_gpus", "gpu", c1, ["cluster-pp0", "cluster-pp1", "l3-norm1"],
        "Stage 1 is placed on n0g4-n1g3 (global GPUs 4-11), overlapping stage 0's n0g0-n0g7 (n0g4-n0g7 in both).",
        g)

    # ---- strategy
    g = build(CFG1, strategy_comment="ep4/tp4/pp2/dp1 (32 GPUs on 4 nodes)")
    add("strategy_mismatch", "strategy", c1, ["l1-attn-q-tp0", "l1-attn-q-tp1"],
        "The strategy comment declares tp4 (32 GPUs) but every tensor-parallel operator is drawn for TP ranks "
        "0-1 only (tp2, 16 GPUs).", g)

    # ---- annotation
    g = build(CFG2)
    g.nodes["l2-attn-oproj-tp1"].show_shapes = False
    add("missing_shapes", "annotation", c2, ["l2-attn-oproj-tp1"],
        "Output projection of layer 2, TP rank 1 (l2-attn-oproj-tp1) has no Input or Output line.", g)

    g = build(CFG2)
    g.nodes["l3-moe-router"].ins = ["[bs=?, seq=2k, d=2k]"]
    add("placeholder", "annotation", c2, ["l3-moe-router"],
        "Layer 3's MoE router l3-moe-router gives its input as [bs=?, seq=2k, d=2k], a placeholder instead of "
        "a value.", g)
    return D


# --------------------------------------------------------------------------- main
def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "out")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(out, f))
    manifest = []
    cleans = [("clean_1.dot", CFG1, "MoE ep4/tp2/pp2/dp1, 16 GPUs on 2 hosts, 4 layers, 16 experts, attention "
                                    "all-reduce"),
              ("clean_2.dot", CFG2, "MoE ep2/tp4/pp1/dp1, 8 GPUs, 3 layers, 8 experts, attention "
                                    "reduce-scatter + all-gather"),
              ("clean_3.dot", CFG3, "dense tp2/pp1/dp2, 4 GPUs, 2 layers, both DP replicas drawn, vocab-parallel "
                                    "LM head")]
    for fname, cfg, what in cleans:
        with open(os.path.join(out, fname), "w") as fh:
            fh.write(build(cfg).render())
        manifest.append(dict(file=fname, kind="clean", category=None, base=None, nodes=[],
                             what="Correct deployment: " + what + "."))
    for dd in defects():
        fname = "defect_%s.dot" % dd["kind"]
        with open(os.path.join(out, fname), "w") as fh:
            fh.write(dd["graph"].render())
        manifest.append(dict(file=fname, kind=dd["kind"], category=dd["category"], base=dd["base"],
                             nodes=dd["nodes"], what=dd["what"]))
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, out))


if __name__ == "__main__":
    main()
