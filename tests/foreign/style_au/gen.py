#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in the "au" house style (stdlib only).

House style: a layout-heavy author who pins Graphviz by hand.
  * rankdir=LR, splines=ortho, newrank=true, compound=true
  * {rank=same; ...} for the TP ranks of one operator, kept in order by
    invisible edges (style=invis) between ranks that exchange no data
  * stage-to-stage edges drawn with ltail=cluster_stageN / lhead=cluster_stageM
  * edges with compass ports (a:e -> b:w, skip edges a:n -> b:n, gate edges a:s -> b:n)
  * plain labels: "operator\\nin: [..]\\nout: [..]\\ndev: 3"
  * ids s{stage}_l{layer}_{op}_r{tp rank}; "_rall" = whole TP/EP group of the stage
    (replicated op or collective); experts s{stage}_l{layer}_exp{e};
    in the data-parallel file a replica prefix d{replica}_
  * strategy in the graph label: "MoE-8x | tp 2 · ep 4 · pp 2 · dp 1"
  * stages as clusters cluster_stage{p}: "pipeline stage 0 — decoder layers 0, 1"
Own quirks:
  1. every node carries one extra line after dev: -- "par: ..." on computation and
     routing nodes (how the op is split), "grp: ..." on collectives (which group talks);
  2. a legend box (plaintext HTML table in cluster_legend, pinned left of the input by an
     invisible edge) plus a fill colour per TP rank, and "// ── ... ──" banner comments.

Run: python3 gen.py   -> writes out/*.dot and out/manifest.json
"""
import copy
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

RANK_FILL = {0: "#dbe9f6", 1: "#fde2c8", 2: "#d9f0d3", 3: "#eadcf2"}
ALL_FILL = "#eeeeee"
COMM_FILL = "#f4cccc"
ROUTE_FILL = "#fff2b3"
EXP_FILL = "#e3e0f7"
IO_FILL = "#ffffff"

SHAPE = {"compute": None, "comm": "ellipse", "route": "parallelogram",
         "input": "invhouse", "output": "house"}


def sh(**kw):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in kw.items()) + "]"


def devstr(ids):
    ids = sorted(ids)
    if len(ids) == 1:
        return str(ids[0])
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "%d-%d" % (ids[0], ids[-1])
    return ",".join(str(i) for i in ids)


class Dag:
    def __init__(self, name, label_lines, header):
        self.name = name
        self.label = list(label_lines)
        self.header = list(header)
        self.top = []                 # items outside the stage clusters
        self.clusters = {}            # cid -> {"label": str, "items": [...]}
        self.corder = []
        self.nodes = {}               # id -> node dict
        self.edges = []               # ("c", text) | ("e", dict)

    # ---- construction -------------------------------------------------
    def cluster(self, cid, label):
        self.clusters[cid] = {"label": label, "items": []}
        self.corder.append(cid)

    def _items(self, where):
        return self.top if where is None else self.clusters[where]["items"]

    def node(self, nid, title, ins=None, outs=None, dev=None, par=None,
             kind="compute", fill=None, where=None, after=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"id": nid, "title": title, "ins": ins, "outs": outs,
                           "dev": dev, "par": par, "kind": kind, "fill": fill,
                           "where": where, "tag": "grp" if kind == "comm" else "par"}
        items = self._items(where)
        if after is None:
            items.append(("n", nid))
        else:
            idx = items.index(("n", after))
            items.insert(idx + 1, ("n", nid))
        return nid

    def note(self, text, where=None):
        self._items(where).append(("c", text))

    def same(self, ids, where=None):
        self._items(where).append(("s", list(ids)))

    def ecomment(self, text):
        self.edges.append(("c", text))

    def edge(self, a, b, sp="e", dp="w", **attrs):
        self.edges.append(("e", {"a": a, "b": b, "sp": sp, "dp": dp, "attrs": attrs}))

    def skip(self, a, b):
        self.edge(a, b, sp="n", dp="n", color="#777777", style="bold")

    # ---- mutation (defects) -------------------------------------------
    def find_edge(self, a, b):
        for i, it in enumerate(self.edges):
            if it[0] == "e" and it[1]["a"] == a and it[1]["b"] == b:
                return i
        raise KeyError("no edge %s -> %s" % (a, b))

    def rm_edge(self, a, b):
        i = self.find_edge(a, b)
        return self.edges.pop(i)[1]

    def insert_edge_after(self, ref, a, b, sp="e", dp="w", **attrs):
        """insert a new edge right after edge ref=(a,b) so the file reads naturally"""
        i = self.find_edge(*ref)
        self.edges.insert(i + 1, ("e", {"a": a, "b": b, "sp": sp, "dp": dp, "attrs": attrs}))

    def rm_node(self, nid):
        n = self.nodes.pop(nid)
        items = self._items(n["where"])
        items.remove(("n", nid))
        for it in items:
            if it[0] == "s" and nid in it[1]:
                it[1].remove(nid)
        items[:] = [it for it in items if not (it[0] == "s" and not it[1])]
        self.edges = [it for it in self.edges
                      if not (it[0] == "e" and nid in (it[1]["a"], it[1]["b"]))]

    def rename(self, old, new):
        n = self.nodes.pop(old)
        n["id"] = new
        self.nodes[new] = n
        items = self._items(n["where"])
        for i, it in enumerate(items):
            if it == ("n", old):
                items[i] = ("n", new)
            if it[0] == "s" and old in it[1]:
                it[1][it[1].index(old)] = new
        for it in self.edges:
            if it[0] == "e":
                if it[1]["a"] == old:
                    it[1]["a"] = new
                if it[1]["b"] == old:
                    it[1]["b"] = new

    def sub_shapes(self, nid, old, new):
        n = self.nodes[nid]
        for f in ("ins", "outs"):
            if n[f]:
                n[f] = [s.replace(old, new) for s in n[f]]

    # ---- rendering ----------------------------------------------------
    def _label(self, n):
        lines = [n["title"]]
        if n["ins"]:
            lines.append("in: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("out: " + ", ".join(n["outs"]))
        if n["dev"] is not None:
            lines.append("dev: " + devstr(n["dev"]))
        if n["par"]:
            lines.append(n["tag"] + ": " + n["par"])
        return "\\n".join(lines)

    def _node_line(self, n, ind):
        attrs = ['label="%s"' % self._label(n)]
        shp = SHAPE[n["kind"]]
        if shp:
            attrs.append("shape=%s" % shp)
        if n["fill"]:
            attrs.append('fillcolor="%s"' % n["fill"])
        return "%s%s [%s];" % (ind, n["id"], ", ".join(attrs))

    def _render_items(self, items, ind, out):
        for it in items:
            if it[0] == "c":
                out.append("")
                out.append("%s// ── %s ──" % (ind, it[1]))
            elif it[0] == "n":
                out.append(self._node_line(self.nodes[it[1]], ind))
            elif it[0] == "s":
                ids = it[1]
                out.append("%s{rank=same; %s;}" % (ind, "; ".join(ids)))
                for a, b in zip(ids, ids[1:]):
                    out.append("%s%s -> %s [style=invis];" % (ind, a, b))

    def render(self):
        o = []
        for h in self.header:
            o.append("// " + h)
        o.append("digraph %s {" % self.name)
        o.append('  graph [label="%s", labelloc=t, labeljust=l, fontname="Helvetica", fontsize=14,'
                 % "\\n".join(self.label))
        o.append("         rankdir=LR, splines=ortho, newrank=true, compound=true,")
        o.append("         nodesep=0.22, ranksep=0.55, remincross=true];")
        o.append('  node  [shape=box, style=filled, fillcolor="#ffffff", fontname="Helvetica", fontsize=9, margin="0.08,0.04"];')
        o.append('  edge  [arrowsize=0.6, penwidth=1.1];')
        o.append("")
        o.append("  // ── legend (not part of the data flow) ──")
        o.append("  subgraph cluster_legend {")
        o.append('    label="legend"; style=dashed; color="#999999"; fontsize=10;')
        o.append("    legend [shape=plaintext, style=\"\", label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"3\">"
                 "<tr><td bgcolor=\"#ffffff\">box</td><td>computation</td></tr>"
                 "<tr><td bgcolor=\"%s\">ellipse</td><td>collective / p2p</td></tr>"
                 "<tr><td bgcolor=\"%s\">parallelogram</td><td>routing</td></tr>"
                 "<tr><td bgcolor=\"%s\">r0</td><td bgcolor=\"%s\">r1</td></tr>"
                 "<tr><td bgcolor=\"%s\">r2</td><td bgcolor=\"%s\">r3</td></tr>"
                 "<tr><td bgcolor=\"%s\">rall</td><td>whole group</td></tr>"
                 "<tr><td>dev</td><td>GPU ids</td></tr>"
                 "<tr><td>par / grp</td><td>split / group</td></tr>"
                 "</table>>];"
                 % (COMM_FILL, ROUTE_FILL, RANK_FILL[0], RANK_FILL[1], RANK_FILL[2],
                    RANK_FILL[3], ALL_FILL))
        o.append("  }")
        firsts = [it[1] for it in self.top if it[0] == "n" and self.nodes[it[1]]["kind"] == "input"]
        if firsts:
            o.append("  legend -> %s [style=invis];" % firsts[0])
        self._render_items(self.top, "  ", o)
        for cid in self.corder:
            c = self.clusters[cid]
            o.append("")
            o.append("  subgraph %s {" % cid)
            o.append('    label="%s"; labeljust=l; style="rounded,filled"; fillcolor="#fafafa"; color="#555555";'
                     % c["label"])
            self._render_items(c["items"], "    ", o)
            o.append("  }")
        o.append("")
        o.append("  // ════════ data edges ════════")
        for it in self.edges:
            if it[0] == "c":
                o.append("  // ── %s ──" % it[1])
                continue
            e = it[1]
            a = e["a"] + (":" + e["sp"] if e["sp"] else "")
            b = e["b"] + (":" + e["dp"] if e["dp"] else "")
            attrs = ", ".join('%s=%s' % (k, v if not isinstance(v, str) or v.isidentifier() else '"%s"' % v)
                              for k, v in e["attrs"].items())
            o.append("  %s -> %s%s;" % (a, b, " [%s]" % attrs if attrs else ""))
        o.append("}")
        return "\n".join(o) + "\n"


# =========================================================================
# builder
# =========================================================================

def strategy_line(cfg):
    return "%s | tp %d · ep %d · pp %d · dp %d" % (cfg["model"], cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"])


def build(cfg):
    tp, ep, pp, dp = cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"]
    L, H, heads, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    assert heads * hd == H and heads % tp == 0 and L % pp == 0
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    moe = cfg.get("experts", 0) > 0
    second = "hidden %d · %d heads × %d · %d decoder layers" % (H, heads, hd, L)
    if moe:
        second += " · top-%d of %d experts (SwiGLU)" % (cfg["topk"], cfg["experts"])
    else:
        second += " · gelu ffn %d" % cfg["ffn"]
    if dp > 1:
        second += " · both dp replicas drawn"
    g = Dag("decoder_fwd", [strategy_line(cfg), second],
            ["hand-pinned layout: LR, one column per operator, TP ranks stacked top to bottom",
             "dev = GPU ids; rall = every GPU of the stage (replicated op or collective)",
             "regenerate with gen.py; do not let dot reorder the ranks"])
    for d in range(dp):
        build_replica(g, cfg, d)
    return g


def build_replica(g, cfg, d):
    tp, ep, pp, dp = cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"]
    L, H, heads, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    E, K = cfg.get("experts", 0), cfg.get("topk", 0)
    moe = E > 0
    pre = "d%d_" % d if dp > 1 else ""
    G = ep * tp
    hr = heads // tp

    def base(p):
        return (d * pp + p) * G

    def rall(p):
        return list(range(base(p), base(p) + G))

    def rk(p, t):
        return [base(p) + e * tp + t for e in range(ep)]

    def epr(p, r):
        return list(range(base(p) + r * tp, base(p) + r * tp + tp))

    X = sh(batch=B, seq=S, hidden=H)
    Hd = sh(batch=B, seq=S, heads=hr, head_dim=hd)
    Sc = sh(batch=B, heads=hr, seq=S, seq_k=S)
    per = L // pp
    tp_grp = ("%d × tp-%d" % (ep, tp)) if ep > 1 else ("tp-%d" % tp)

    cl = {}
    for p in range(pp):
        cid = "cluster_%sstage%d" % (pre, p)
        lay = ", ".join(str(x) for x in range(p * per, (p + 1) * per))
        lab = ("replica %d · " % d if dp > 1 else "") + "pipeline stage %d — decoder layers %s" % (p, lay)
        g.cluster(cid, lab)
        cl[p] = cid

    rep = " (replica %d)" % d if dp > 1 else ""
    g.note("input%s" % rep)
    inp = g.node(pre + "in_tokens", "input tokens", outs=[sh(batch=B, seq=S)], dev=rall(0),
                 kind="input", fill=IO_FILL)
    outn = pre + "out_logits"

    emb = g.node("%ss0_embed_rall" % pre, "token embedding", ins=[sh(batch=B, seq=S)], outs=[X],
                 dev=rall(0), par="replicated table, vocab %d" % V, fill=ALL_FILL, where=cl[0])
    g.ecomment("input%s" % rep)
    g.edge(inp, emb)
    cur = emb

    for p in range(pp):
        w = cl[p]
        s = "%ss%d_" % (pre, p)
        if p > 0:
            sp = "%ss%d_" % (pre, p - 1)
            snd = g.node(sp + "pp_send_rall", "pp send · stage %d → %d" % (p - 1, p), ins=[X], outs=[X],
                         dev=rall(p - 1), par="p2p, gpu i → gpu i+%d" % G, kind="comm", fill=COMM_FILL,
                         where=cl[p - 1])
            g.note("from stage %d" % (p - 1), w)
            rcv = g.node(s + "pp_recv_rall", "pp recv · stage %d → %d" % (p - 1, p), ins=[X], outs=[X],
                         dev=rall(p), par="p2p, gpu i-%d → gpu i" % G, kind="comm", fill=COMM_FILL,
                         where=w)
            g.ecomment("pipeline hop%s: stage %d → %d" % (rep, p - 1, p))
            g.edge(cur, snd)
            g.edge(snd, rcv, sp=None, dp=None, ltail=cl[p - 1], lhead=w, penwidth=2)
            cur = rcv
        for l in range(p * per, (p + 1) * per):
            ls = "%sl%d_" % (s, l)
            # ---------------- attention ----------------
            g.note("layer %d · attention" % l, w)
            n1 = g.node(ls + "norm1_rall", "rmsnorm · pre-attn", ins=[X], outs=[X], dev=rall(p),
                        par="replicated", fill=ALL_FILL, where=w)
            ops = [("q", "q proj (column-parallel)", [X], [Hd]),
                   ("k", "k proj (column-parallel)", [X], [Hd]),
                   ("v", "v proj (column-parallel)", [X], [Hd]),
                   ("score", "scores Q·K^T / sqrt(%d)" % hd, [Hd, Hd], [Sc]),
                   ("softmax", "softmax (causal mask)", [Sc], [Sc]),
                   ("ctx", "context = P·V (weighted sum)", [Sc, Hd], [Hd]),
                   ("oproj", "o proj (row-parallel)", [Hd], [X])]
            for op, title, i_, o_ in ops:
                ids = []
                for t in range(tp):
                    if op == "oproj":
                        par = "row-split, partial sum"
                    else:
                        par = "col-split · heads %d..%d of %d" % (t * hr, (t + 1) * hr - 1, heads)
                    ids.append(g.node("%s%s_r%d" % (ls, op, t), title, ins=list(i_), outs=list(o_),
                                      dev=rk(p, t), par=par, fill=RANK_FILL[t], where=w))
                g.same(ids, w)
            ar = g.node(ls + "attn_ar_rall", "all-reduce · attn out", ins=[X], outs=[X], dev=rall(p),
                        par=tp_grp, kind="comm", fill=COMM_FILL, where=w)
            r1 = g.node(ls + "res1_rall", "residual add", ins=[X, X], outs=[X], dev=rall(p),
                        par="replicated", fill=ALL_FILL, where=w)
            g.ecomment("layer %d · attention%s" % (l, rep))
            g.edge(cur, n1)
            for t in range(tp):
                r = "_r%d" % t
                g.edge(n1, ls + "q" + r)
                g.edge(n1, ls + "k" + r)
                g.edge(n1, ls + "v" + r)
                g.edge(ls + "q" + r, ls + "score" + r)
                g.edge(ls + "k" + r, ls + "score" + r)
                g.edge(ls + "score" + r, ls + "softmax" + r)
                g.edge(ls + "softmax" + r, ls + "ctx" + r)
                g.edge(ls + "v" + r, ls + "ctx" + r)
                g.edge(ls + "ctx" + r, ls + "oproj" + r)
                g.edge(ls + "oproj" + r, ar)
            g.edge(ar, r1)
            g.skip(cur, r1)
            cur = r1
            # ---------------- ffn ----------------
            if moe:
                g.note("layer %d · moe" % l, w)
                per_r = E // ep
                tpe = B * S * K // E
                R = sh(batch=B, seq=S, top_k=K)
                T = sh(tokens=tpe, hidden=H)
                Kx = sh(batch=B, seq=S, top_k=K, hidden=H)
                n2 = g.node(ls + "norm2_rall", "rmsnorm · pre-moe", ins=[X], outs=[X], dev=rall(p),
                            par="replicated", fill=ALL_FILL, where=w)
                rt = g.node(ls + "router_rall", "router · top-%d of %d experts" % (K, E), ins=[X], outs=[R],
                            dev=rall(p), par="replicated gate weights", kind="route", fill=ROUTE_FILL, where=w)
                ds = g.node(ls + "a2a_disp_rall", "all-to-all dispatch", ins=[X, R], outs=[T], dev=rall(p),
                            par="ep-%d" % ep, kind="comm", fill=COMM_FILL, where=w)
                xs = []
                for e in range(E):
                    r = e // per_r
                    xs.append(g.node("%sexp%d" % (ls, e), "expert %d · SwiGLU ffn" % e, ins=[T], outs=[T],
                                     dev=epr(p, r),
                                     par="ep rank %d of %d%s" % (r, ep, (" · tp-%d shards, reduced in place" % tp) if tp > 1 else ""),
                                     fill=EXP_FILL, where=w))
                g.same(xs, w)
                ca = g.node(ls + "a2a_comb_rall", "all-to-all combine", ins=[T], outs=[Kx], dev=rall(p),
                            par="ep-%d" % ep, kind="comm", fill=COMM_FILL, where=w)
                cb = g.node(ls + "combine_rall", "weighted combine · top-%d" % K, ins=[Kx, R], outs=[X],
                            dev=rall(p), par="replicated", kind="route", fill=ROUTE_FILL, where=w)
                r2 = g.node(ls + "res2_rall", "residual add", ins=[X, X], outs=[X], dev=rall(p),
                            par="replicated", fill=ALL_FILL, where=w)
                g.ecomment("layer %d · moe%s" % (l, rep))
                g.edge(cur, n2)
                g.edge(n2, rt)
                g.edge(n2, ds)
                g.edge(rt, ds, sp="s", dp="n", style="dashed")
                for x in xs:
                    g.edge(ds, x)
                for x in xs:
                    g.edge(x, ca)
                g.edge(ca, cb)
                g.edge(rt, cb, sp="s", dp="s", style="dashed")
                g.edge(cb, r2)
                g.skip(cur, r2)
                cur = r2
            else:
                g.note("layer %d · mlp" % l, w)
                Fr = cfg["ffn"] // tp
                F = sh(batch=B, seq=S, ffn=Fr)
                n2 = g.node(ls + "norm2_rall", "rmsnorm · pre-mlp", ins=[X], outs=[X], dev=rall(p),
                            par="replicated", fill=ALL_FILL, where=w)
                for op, title, i_, o_ in [("up", "up proj (column-parallel)", [X], [F]),
                                          ("act", "gelu", [F], [F]),
                                          ("down", "down proj (row-parallel)", [F], [X])]:
                    ids = []
                    for t in range(tp):
                        par = ("row-split, partial sum" if op == "down"
                               else "col-split · ffn %d..%d of %d" % (t * Fr, (t + 1) * Fr - 1, cfg["ffn"]))
                        ids.append(g.node("%s%s_r%d" % (ls, op, t), title, ins=list(i_), outs=list(o_),
                                          dev=rk(p, t), par=par, fill=RANK_FILL[t], where=w))
                    g.same(ids, w)
                ar2 = g.node(ls + "mlp_ar_rall", "all-reduce · mlp out", ins=[X], outs=[X], dev=rall(p),
                             par=tp_grp, kind="comm", fill=COMM_FILL, where=w)
                r2 = g.node(ls + "res2_rall", "residual add", ins=[X, X], outs=[X], dev=rall(p),
                            par="replicated", fill=ALL_FILL, where=w)
                g.ecomment("layer %d · mlp%s" % (l, rep))
                g.edge(cur, n2)
                for t in range(tp):
                    r = "_r%d" % t
                    g.edge(n2, ls + "up" + r)
                    g.edge(ls + "up" + r, ls + "act" + r)
                    g.edge(ls + "act" + r, ls + "down" + r)
                    g.edge(ls + "down" + r, ar2)
                g.edge(ar2, r2)
                g.skip(cur, r2)
                cur = r2

    # ---------------- head ----------------
    p = pp - 1
    w = cl[p]
    s = "%ss%d_" % (pre, p)
    g.note("head", w)
    Vs = sh(batch=B, seq=S, vocab=V // tp)
    Vf = sh(batch=B, seq=S, vocab=V)
    fn = g.node(s + "final_norm_rall", "rmsnorm · final", ins=[X], outs=[X], dev=rall(p),
                par="replicated", fill=ALL_FILL, where=w)
    hs = []
    for t in range(tp):
        hs.append(g.node("%slm_head_r%d" % (s, t), "lm head (vocab-parallel)", ins=[X], outs=[Vs], dev=rk(p, t),
                         par="col-split · vocab %d..%d" % (t * V // tp, (t + 1) * V // tp - 1),
                         fill=RANK_FILL[t], where=w))
    g.same(hs, w)
    ag = g.node(s + "logits_ag_rall", "all-gather · logits", ins=[Vs], outs=[Vf], dev=rall(p),
                par=tp_grp, kind="comm", fill=COMM_FILL, where=w)
    g.note("output%s" % rep)
    g.node(outn, "output logits", ins=[Vf], dev=rall(p), kind="output", fill=IO_FILL)
    g.ecomment("head%s" % rep)
    g.edge(cur, fn)
    for h in hs:
        g.edge(fn, h)
        g.edge(h, ag)
    g.edge(ag, outn)


# =========================================================================
# the three deployments
# =========================================================================

CFG1 = dict(model="MoE-8x", tp=2, ep=4, pp=2, dp=1, layers=4, hidden=2048, heads=16, head_dim=128,
            batch=8, seq=1024, vocab=32000, experts=8, topk=2)
CFG2 = dict(model="MoE-8x", tp=4, ep=2, pp=1, dp=1, layers=2, hidden=4096, heads=32, head_dim=128,
            batch=4, seq=2048, vocab=32000, experts=8, topk=2)
CFG3 = dict(model="Dense-2B", tp=2, ep=1, pp=1, dp=2, layers=2, hidden=2048, heads=16, head_dim=128,
            batch=4, seq=2048, vocab=32000, ffn=8192)

CLEAN = {"clean_1.dot": CFG1, "clean_2.dot": CFG2, "clean_3.dot": CFG3}


# =========================================================================
# defects: each returns (nodes, what) after mutating g (a deep copy of a clean Dag)
# =========================================================================

def d_cycle(g):
    g.insert_edge_after(("s0_l1_attn_ar_rall", "s0_l1_res1_rall"), "s0_l1_res1_rall", "s0_l1_attn_ar_rall")
    return (["s0_l1_attn_ar_rall", "s0_l1_res1_rall"],
            "Layer 1's attention all-reduce s0_l1_attn_ar_rall is drawn both ways with the residual add "
            "s0_l1_res1_rall (s0_l1_attn_ar_rall -> s0_l1_res1_rall and s0_l1_res1_rall -> s0_l1_attn_ar_rall), "
            "a two-node cycle on stage 0 (GPUs 0-7).")


def d_dangling_input(g):
    g.rm_edge("s0_l1_res1_rall", "s0_l1_norm2_rall")
    return (["s0_l1_norm2_rall"],
            "Layer 1's pre-MoE rmsnorm s0_l1_norm2_rall (single stage, GPUs 0-7) has no incoming edge: its input "
            "from the residual add s0_l1_res1_rall was removed, so the layer-1 router and dispatch hang off nothing.")


def d_dangling_output(g):
    g.rm_edge("s0_l1_exp5", "s0_l1_a2a_comb_rall")
    return (["s0_l1_exp5", "s0_l1_a2a_comb_rall"],
            "Expert 5 of layer 1 (s0_l1_exp5, EP rank 2, GPUs 4-5) has no outgoing edge: its output never "
            "reaches the all-to-all combine s0_l1_a2a_comb_rall, which receives only 7 of the 8 experts.")


def d_attention_one_box(g):
    ids = []
    for t in range(2):
        r = "_r%d" % t
        src = g.nodes["s1_l2_q" + r]
        nid = g.node("s1_l2_mha" + r, "multi-head attention", ins=[sh(batch=8, seq=1024, hidden=2048)],
                     outs=[sh(batch=8, seq=1024, heads=8, head_dim=128)], dev=src["dev"],
                     par="col-split · heads %d..%d of 16" % (t * 8, t * 8 + 7), fill=RANK_FILL[t],
                     where="cluster_stage1", after="s1_l2_norm1_rall" if t == 0 else "s1_l2_mha_r0")
        ids.append(nid)
    # keep the rank=same habit for the new boxes
    items = g.clusters["cluster_stage1"]["items"]
    items.insert(items.index(("n", "s1_l2_mha_r1")) + 1, ("s", list(ids)))
    # wire the boxes where the q projections were, then drop the decomposed operators
    for t in range(2):
        r = "_r%d" % t
        g.insert_edge_after(("s1_l2_norm1_rall", "s1_l2_q" + r), "s1_l2_norm1_rall", "s1_l2_mha" + r)
        g.insert_edge_after(("s1_l2_ctx" + r, "s1_l2_oproj" + r), "s1_l2_mha" + r, "s1_l2_oproj" + r)
        for op in ("q", "k", "v", "score", "softmax", "ctx"):
            g.rm_node("s1_l2_%s%s" % (op, r))
    return (ids,
            "Layer 2's attention (stage 1, GPUs 8-15) is drawn as one 'multi-head attention' box per TP rank "
            "(s1_l2_mha_r0, s1_l2_mha_r1) feeding the o projections, instead of q/k/v projections, scores "
            "Q·K^T, softmax and the P·V weighted sum.")


def d_v_bypasses_softmax(g):
    g.rm_edge("s0_l1_softmax_r1", "s0_l1_ctx_r1")
    g.insert_edge_after(("s0_l1_ctx_r1", "s0_l1_oproj_r1"), "s0_l1_softmax_r1", "s0_l1_oproj_r1")
    return (["s0_l1_softmax_r1", "s0_l1_ctx_r1", "s0_l1_v_r1", "s0_l1_oproj_r1"],
            "Layer 1, TP rank 1 (GPUs 1,3,5,7): V s0_l1_v_r1 feeds the weighted sum s0_l1_ctx_r1 but the softmax "
            "s0_l1_softmax_r1 does not (it goes straight to the o projection s0_l1_oproj_r1), so V bypasses the "
            "attention probabilities.")


def d_v_into_score(g):
    g.rm_edge("s0_l0_k_r1", "s0_l0_score_r1")
    g.rm_edge("s0_l0_v_r1", "s0_l0_ctx_r1")
    g.insert_edge_after(("s0_l0_q_r1", "s0_l0_score_r1"), "s0_l0_v_r1", "s0_l0_score_r1")
    g.insert_edge_after(("s0_l0_softmax_r1", "s0_l0_ctx_r1"), "s0_l0_k_r1", "s0_l0_ctx_r1")
    return (["s0_l0_v_r1", "s0_l0_k_r1", "s0_l0_score_r1", "s0_l0_ctx_r1"],
            "Layer 0, TP rank 1 (GPUs 1,5) of TP 4: V s0_l0_v_r1 is wired into the score s0_l0_score_r1 instead "
            "of K, and K s0_l0_k_r1 feeds the weighted sum s0_l0_ctx_r1 (K and V swapped).")


def d_qkv_into_oproj(g):
    ids = []
    for t in range(2):
        r = "_r%d" % t
        pfx = "d1_s0_l1_"
        ref = (pfx + "ctx" + r, pfx + "oproj" + r)
        for op in ("q", "k", "v"):
            g.insert_edge_after(ref, pfx + op + r, pfx + "oproj" + r)
        for op in ("score", "softmax", "ctx"):
            g.rm_node(pfx + op + r)
        ids += [pfx + "q" + r, pfx + "k" + r, pfx + "v" + r, pfx + "oproj" + r]
    return (ids,
            "DP replica 1, layer 1 (GPUs 2-3): q, k and v projections go straight into the o projections "
            "d1_s0_l1_oproj_r0 and d1_s0_l1_oproj_r1 on both TP ranks; no scores, softmax or weighted sum is drawn.")


def d_head_arithmetic(g):
    ids = []
    for t in range(4):
        for op in ("q", "k", "v", "score", "ctx", "oproj"):
            nid = "s0_l1_%s_r%d" % (op, t)
            g.sub_shapes(nid, "head_dim=128", "head_dim=64")
            ids.append(nid)
    return (ids,
            "Layer 1 labels Q/K/V as heads=8 x head_dim=64 on every TP rank (8 x 64 = 512 per rank, "
            "32 x 64 = 2048 in total) while hidden is 4096 (4096/TP4 = 1024 per rank, head_dim 128).")


def d_tp_heads(g):
    ids = []
    for op in ("q", "k", "v", "score", "softmax", "ctx", "oproj"):
        nid = "s0_l0_%s_r0" % op
        g.sub_shapes(nid, "heads=8", "heads=16")
        ids.append(nid)
    return (ids,
            "Layer 0, TP rank 0 of TP 2 (GPUs 0,2,4,6): the q/k/v projections output all 16 heads "
            "(heads=16 x head_dim=128 = 2048) and the rest of rank 0's attention carries heads=16, instead of "
            "16/2 = 8 heads per rank as on TP rank 1.")


def d_edge_shape_mismatch(g):
    g.nodes["d0_s0_l1_norm2_rall"]["ins"] = [sh(batch=4, seq=2048, hidden=1536)]
    return (["d0_s0_l1_res1_rall", "d0_s0_l1_norm2_rall"],
            "DP replica 0, layer 1: rmsnorm d0_s0_l1_norm2_rall expects hidden=1536 but its producer "
            "d0_s0_l1_res1_rall outputs hidden=2048 (ratio 4/3, not a parallel degree).")


def d_shard_without_gather(g):
    g.rename("s0_l1_attn_ar_rall", "s0_l1_attn_rs_rall")
    n = g.nodes["s0_l1_attn_rs_rall"]
    n["title"] = "reduce-scatter · attn out"
    n["outs"] = [sh(batch=4, seq=2048, hidden=1024)]
    return (["s0_l1_attn_rs_rall", "s0_l1_res1_rall"],
            "Layer 1's row-parallel o projection output is reduce-scattered (s0_l1_attn_rs_rall) into "
            "hidden/TP = 4096/4 = 1024 shards that go straight into the full-size (hidden=4096) residual add "
            "s0_l1_res1_rall with no all-gather.")


def d_stage_count(g):
    g.label[0] = g.label[0].replace("pp 2", "pp 3")
    return ([],
            "The graph label declares pp 3 (MoE-8x | tp 2 · ep 4 · pp 3 · dp 1) but only two pipeline stages "
            "are drawn (cluster_stage0, layers 0-1 on GPUs 0-7; cluster_stage1, layers 2-3 on GPUs 8-15).")


def d_stage_range_gap(g):
    g.clusters["cluster_stage0"]["label"] = "pipeline stage 0 — decoder layers 0"
    return (["s0_l1_norm1_rall", "s0_l1_res2_rall"],
            "Stage 0 claims decoder layers 0 only and stage 1 layers 2, 3: layer 1 is in no stage's range "
            "(gap), although its operators (s0_l1_*) are drawn in cluster_stage0.")


def d_stage_missing_layer(g):
    for nid in [n for n in list(g.nodes) if n.startswith("s1_l3_")]:
        g.rm_node(nid)
    items = g.clusters["cluster_stage1"]["items"]
    items[:] = [it for it in items if it not in (("c", "layer 3 · attention"), ("c", "layer 3 · moe"))]
    g.edges = [it for it in g.edges if it not in (("c", "layer 3 · attention"), ("c", "layer 3 · moe"))]
    # the head now starts from layer 2: the edge goes first in the head block, where the author writes it
    j = g.find_edge("s1_final_norm_rall", "s1_lm_head_r0")
    g.edges.insert(j, ("e", {"a": "s1_l2_res2_rall", "b": "s1_final_norm_rall", "sp": "e", "dp": "w", "attrs": {}}))
    return (["s1_l2_res2_rall", "s1_final_norm_rall"],
            "Stage 1 claims decoder layers 2, 3 but no operator of layer 3 is drawn: layer 2's residual add "
            "s1_l2_res2_rall feeds the final norm s1_final_norm_rall directly.")


def d_no_stage_transfer(g):
    """clean: res2(l1) -> send -> recv -> {norm1(l2), res1(l2) skip}; defect: plain edges between the stages"""
    hop = [k for k, it in enumerate(g.edges) if it == ("c", "pipeline hop: stage 0 → 1")][0]
    g.rm_node("s0_pp_send_rall")
    g.rm_node("s1_pp_recv_rall")
    g.clusters["cluster_stage1"]["items"].remove(("c", "from stage 0"))
    g.edges.insert(hop + 1, ("e", {"a": "s0_l1_res2_rall", "b": "s1_l2_norm1_rall", "sp": None, "dp": None,
                                   "attrs": {"ltail": "cluster_stage0", "lhead": "cluster_stage1", "penwidth": 2}}))
    # the skip edge into layer 2's first residual add now also starts in stage 0
    j = g.find_edge("s1_l2_attn_ar_rall", "s1_l2_res1_rall")
    g.edges.insert(j + 1, ("e", {"a": "s0_l1_res2_rall", "b": "s1_l2_res1_rall", "sp": "n", "dp": "n",
                                 "attrs": {"color": "#777777", "style": "bold"}}))
    return (["s0_l1_res2_rall", "s1_l2_norm1_rall", "s1_l2_res1_rall"],
            "Stage 0 (GPUs 0-7) and stage 1 (GPUs 8-15) are joined by plain edges from s0_l1_res2_rall to "
            "s1_l2_norm1_rall and s1_l2_res1_rall (drawn cluster to cluster with ltail/lhead); the pipeline "
            "send/recv is missing.")


def _set_expert(g, nid, dev, rank, ep=4, tp=2):
    n = g.nodes[nid]
    n["dev"] = dev
    n["par"] = "ep rank %d of %d · tp-%d shards, reduced in place" % (rank, ep, tp)


def d_experts_subset_ranks(g):
    ids = []
    for e in range(8):
        r = e // 4
        _set_expert(g, "s0_l1_exp%d" % e, [2 * r, 2 * r + 1], r)
        ids.append("s0_l1_exp%d" % e)
    return (ids,
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, experts 4-7 on GPUs 2-3); "
            "EP ranks 2 and 3 (GPUs 4-7) hold none of its experts although ep is 4.")


def d_experts_uneven(g):
    _set_expert(g, "s1_l2_exp3", [8, 9], 0)
    return (["s1_l2_exp3"],
            "Layer 2's expert 3 (s1_l2_exp3) sits on EP rank 0 (GPUs 8-9) instead of rank 1 (GPUs 10-11): ranks "
            "hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu(g):
    g.nodes["s0_l1_exp3"]["dev"] = [0, 1]
    return (["s0_l1_exp3", "s0_l1_exp0", "s0_l1_exp1"],
            "Layer 1's expert 3 (s0_l1_exp3, labelled EP rank 1) is placed on GPUs 0-1, which hold EP rank 0's "
            "experts 0 and 1; GPUs 2-3 keep only expert 2.")


def d_no_gate(g):
    g.rm_node("s1_l2_router_rall")
    return (["s1_l2_norm2_rall", "s1_l2_a2a_disp_rall"],
            "Layer 2 has no MoE router: the rmsnorm s1_l2_norm2_rall output goes straight into the all-to-all "
            "dispatch s1_l2_a2a_disp_rall and on to the 8 experts with no top-2 gate.")


def d_no_all_to_all(g):
    ref = ("s0_l1_a2a_disp_rall", "s0_l1_exp7")
    for e in range(8):
        g.insert_edge_after(ref if e == 0 else ("s0_l1_router_rall", "s0_l1_exp%d" % (e - 1)),
                            "s0_l1_router_rall", "s0_l1_exp%d" % e, sp="s", dp="w")
    g.rm_node("s0_l1_a2a_disp_rall")
    return (["s0_l1_router_rall"] + ["s0_l1_exp%d" % e for e in range(8)],
            "Layer 1's router s0_l1_router_rall sends tokens straight to the experts s0_l1_exp0-7 on EP ranks "
            "0-3 (ep 4, GPUs 0-7) without a dispatch all-to-all.")


def d_tp_rank_missing(g):
    ids = []
    for op in ("q", "k", "v", "score", "softmax", "ctx", "oproj"):
        nid = "s0_l1_%s_r3" % op
        g.rm_node(nid)
        ids.append(nid)
    return (["s0_l1_norm1_rall", "s0_l1_attn_ar_rall"],
            "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 (GPUs 3,7) of tp 4 is "
            "missing (no s0_l1_q_r3 ... s0_l1_oproj_r3), so the all-reduce s0_l1_attn_ar_rall sums 3 partials.")


def d_no_allreduce_after_rowparallel(g):
    pfx = "d0_s0_l0_"
    g.insert_edge_after((pfx + "mlp_ar_rall", pfx + "res2_rall"), pfx + "down_r0", pfx + "res2_rall")
    g.insert_edge_after((pfx + "down_r0", pfx + "res2_rall"), pfx + "down_r1", pfx + "res2_rall")
    g.rm_node(pfx + "mlp_ar_rall")
    return ([pfx + "down_r0", pfx + "down_r1", pfx + "res2_rall"],
            "DP replica 0, layer 0: the row-parallel down projections d0_s0_l0_down_r0 (GPU 0) and "
            "d0_s0_l0_down_r1 (GPU 1) feed the residual add d0_s0_l0_res2_rall directly, without the tp-2 "
            "all-reduce of their partial sums.")


def d_cross_gpu_no_comm(g):
    i = g.find_edge("d1_s0_embed_rall", "d1_s0_l0_norm1_rall")
    g.edges[i] = ("e", dict(g.edges[i][1], a="d0_s0_embed_rall"))
    return (["d0_s0_embed_rall", "d1_s0_l0_norm1_rall"],
            "d0_s0_embed_rall on GPUs 0-1 (replica 0) feeds d1_s0_l0_norm1_rall on GPUs 2-3 (replica 1) by a "
            "plain edge, with no communication node.")


def d_comm_wrong_shape(g):
    g.nodes["s0_l1_attn_ar_rall"]["kind"] = "compute"
    return (["s0_l1_attn_ar_rall"],
            "Layer 1's attention all-reduce s0_l1_attn_ar_rall (GPUs 0-7) is drawn as a box (computation) "
            "instead of an ellipse.")


def d_missing_gpu(g):
    g.nodes["s0_l0_softmax_r2"]["dev"] = None
    return (["s0_l0_softmax_r2"],
            "Softmax of layer 0, TP rank 2 (s0_l0_softmax_r2, should be GPUs 2,6) has no dev line.")


def d_gpu_out_of_range(g):
    g.nodes["s0_l1_exp5"]["dev"] = [8, 9, 10, 11]
    return (["s0_l1_exp5"],
            "Layer 1's expert 5 (s0_l1_exp5, EP rank 1) is placed on GPUs 8-11, beyond the 8 GPUs of "
            "ep 2 x tp 4 x pp 1 x dp 1 (ids 0-7).")


def d_stages_share_gpus(g):
    moved = []
    for nid, n in g.nodes.items():
        if n["dev"] and min(n["dev"]) >= 8:
            n["dev"] = [x - 4 for x in n["dev"]]
            moved.append(nid)
    return (["s1_pp_recv_rall", "s1_l2_norm1_rall", "s1_final_norm_rall"],
            "Stage 1 is placed on GPUs 4-11 (every s1_* node and out_logits shifted down by 4), overlapping "
            "stage 0's GPUs 0-7 (GPUs 4-7 in both).")


def d_strategy_mismatch(g):
    g.label[0] = g.label[0].replace("tp 2", "tp 4")
    return ([],
            "The graph label declares tp 4 (MoE-8x | tp 4 · ep 4 · pp 2 · dp 1) but every tensor-parallel "
            "operator is drawn for TP ranks 0-1 only (tp 2), on 16 GPUs rather than 32.")


def d_missing_shapes(g):
    n = g.nodes["d0_s0_l1_oproj_r1"]
    n["ins"] = None
    n["outs"] = None
    return (["d0_s0_l1_oproj_r1"],
            "o projection of DP replica 0, layer 1, TP rank 1 (d0_s0_l1_oproj_r1, GPU 1) has no in or out line.")


def d_placeholder(g):
    g.nodes["s0_l0_router_rall"]["ins"] = ["[batch=?, seq=2048, hidden=4096]"]
    return (["s0_l0_router_rall"],
            "Layer 0's MoE router s0_l0_router_rall gives its input as [batch=?, seq=2048, hidden=4096], a "
            "placeholder instead of batch=4.")


def d_moe_before_attention(g):
    p = "s1_l2_"
    src = "s1_pp_recv_rall"
    # clean: recv -> norm1 ... ar -> res1 (skip recv -> res1) -> norm2 ... combine -> res2 (skip res1 -> res2)
    #        res2 -> l3 norm1, res2 -> l3 res1
    # defect: recv -> norm2 ... combine -> res2 (skip recv -> res2) -> norm1 ... ar -> res1 (skip res2 -> res1)
    #         res1 -> l3 norm1, res1 -> l3 res1
    def rewire(a, b, na, nb):
        i = g.find_edge(a, b)
        g.edges[i] = ("e", dict(g.edges[i][1], a=na, b=nb))
    rewire(src, p + "norm1_rall", src, p + "norm2_rall")
    rewire(src, p + "res1_rall", src, p + "res2_rall")
    rewire(p + "res1_rall", p + "norm2_rall", p + "res2_rall", p + "norm1_rall")
    rewire(p + "res1_rall", p + "res2_rall", p + "res2_rall", p + "res1_rall")
    rewire(p + "res2_rall", "s1_l3_norm1_rall", p + "res1_rall", "s1_l3_norm1_rall")
    rewire(p + "res2_rall", "s1_l3_res1_rall", p + "res1_rall", "s1_l3_res1_rall")
    return ([p + "norm2_rall", p + "res2_rall", p + "norm1_rall", p + "res1_rall"],
            "Layer 2 (stage 1) runs its MoE block (s1_l2_norm2_rall, router, experts, s1_l2_res2_rall) before its "
            "attention block: the stage input s1_pp_recv_rall goes to s1_l2_norm2_rall and the MoE residual "
            "s1_l2_res2_rall feeds s1_l2_norm1_rall; s1_l2_res1_rall then feeds layer 3.")


def d_missing_residual(g):
    g.rm_edge("d1_s0_l0_res2_rall", "d1_s0_l1_res1_rall")
    return (["d1_s0_l1_res1_rall", "d1_s0_l0_res2_rall"],
            "DP replica 1, layer 1: the attention residual add d1_s0_l1_res1_rall is fed only by the all-reduce "
            "d1_s0_l1_attn_ar_rall; the skip edge from d1_s0_l0_res2_rall is missing.")


DEFECTS = [
    # kind, category, base, function
    ("cycle", "structure", "clean_1.dot", d_cycle),
    ("dangling_input", "structure", "clean_2.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_1.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_1.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_1.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_2.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_1.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE-8x deployment, tp 2 · ep 4 · pp 2 · dp 1 on 16 GPUs: 4 decoder layers, stage 0 "
                   "(layers 0, 1, GPUs 0-7) and stage 1 (layers 2, 3, GPUs 8-15) joined by pp send/recv; 2 experts "
                   "per EP rank, attention TP-2 per EP group.",
    "clean_2.dot": "Correct MoE-8x deployment, tp 4 · ep 2 · pp 1 · dp 1 on 8 GPUs: 2 decoder layers in one stage, "
                   "4 experts per EP rank (GPUs 0-3 and 4-7), 8 of 32 heads per TP rank.",
    "clean_3.dot": "Correct dense deployment, tp 2 · ep 1 · pp 1 · dp 2 on 4 GPUs: both DP replicas drawn "
                   "(replica 0 on GPUs 0-1, replica 1 on GPUs 2-3), 2 decoder layers each, gelu MLP with "
                   "row-parallel down projection all-reduced.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    clean = {f: build(c) for f, c in CLEAN.items()}
    manifest = []
    files = []
    for f, g in clean.items():
        with open(os.path.join(OUT, f), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        files.append(f)
        manifest.append({"file": f, "kind": "clean", "category": None, "base": None, "nodes": [],
                         "what": CLEAN_WHAT[f]})
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes or n in clean[base].nodes, (kind, n)
        f = "defect_%s.dot" % kind
        with open(os.path.join(OUT, f), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        files.append(f)
        manifest.append({"file": f, "kind": kind, "category": cat, "base": base, "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    # syntax check with Graphviz if it is installed
    bad = 0
    for f in files:
        try:
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, f)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        except FileNotFoundError:
            break
        if r.returncode != 0:
            bad += 1
            sys.stderr.write("%s: dot failed\n%s\n" % (f, r.stderr))
    print("wrote %d files + manifest.json to %s (%d dot failures)" % (len(files), OUT, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
