#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in the terse 'ao' house style.

python3 gen.py  ->  out/clean_{1,2,3}.dot, out/defect_<kind>.dot, out/manifest.json

House style (applied to every file):
  * node ids are 4-hex-digit hashes (stable per node, no meaning, always start with a letter)
  * label lines: abbreviation / "L<l> [dp<d>] [ep<e>] tp<t>" / [extra] / "[..] + [..] → [..]" / "@g<gpus>"
  * compute = box rounded (graph default), comm = ellipse, routing = parallelogram,
    IN / OUT = invhouse / house, host side (no @ line)
  * one cluster per (dp replica, pp stage): cluster_dp<d>_pp<p>, label "dp<d>/pp<p>\\nL<a>-<b>"
  * strategy only in the graph name: digraph tp2_ep4_pp2_dp1 { ... }
  * shapes are per-GPU shapes
  own quirks:
  (1) colour code: compute filled by TP lane (tp0 blue, tp1 orange, tp2 green, tp3 violet),
      experts filled by EP rank, comms grey, routing yellow; residual skip edges grey,
      router edges dashed; split edges carry the tensor name (q / k / v).
  (2) // comments: a one-line model-dims header above the digraph (no parallel degrees in it),
      and a "// ── L<l> ──" divider before every layer's nodes and edges.
"""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
ARROW = "\u2192"

LANE = ["#dbe9f6", "#fde2cf", "#e2f0d9", "#efe1f5"]
EXPC = ["#c9e4c5", "#f9d6a5", "#bcd5ee", "#e8c6d6"]
COMM = "#e6e6e6"
ROUTE = "#fff2b3"
SKIP = "#8c8c8c"


# ----------------------------------------------------------------- ids
class Ids:
    def __init__(self):
        self.by_key, self.used = {}, set()

    def __call__(self, key):
        if key not in self.by_key:
            salt = 0
            while True:
                h = hashlib.sha1(f"{key}#{salt}".encode()).hexdigest()[:4]
                if h[0] in "abcdef" and h not in self.used:
                    break
                salt += 1
            self.used.add(h)
            self.by_key[key] = h
        return self.by_key[key]


IDS = Ids()


def key(m, d, l, op, t=None):
    s = f"{m}/d{d}/"
    if l is not None:
        s += f"L{l}/"
    s += op
    if t is not None:
        s += f"/t{t}"
    return s


def I(m, d, l, op, t=None):
    k = key(m, d, l, op, t)
    assert k in IDS.by_key, k
    return IDS.by_key[k]


# ----------------------------------------------------------------- graph
def fmt_gpus(gs):
    gs = sorted(set(gs))
    parts, i = [], 0
    while i < len(gs):
        j = i
        while j + 1 < len(gs) and gs[j + 1] == gs[j] + 1:
            j += 1
        if j - i >= 1:
            parts.append(f"{gs[i]}-{gs[j]}")
        else:
            parts.extend(str(x) for x in gs[i:j + 1])
        i = j + 1
    return "@g" + ",".join(parts)


def fmt_shape(s):
    return "[" + ",".join(str(x) for x in s) + "]"


class Graph:
    def __init__(self, m, name, header):
        self.m, self.name, self.header = m, name, header
        self.order, self.nodes, self.edges = [], {}, []
        self.clusters = {}  # cid -> label (ordered)
        self.cluster_layers = {}  # cid -> (first, last) layer claimed
        self.meta = {}

    # nodes ---------------------------------------------------------
    def add(self, k, kind, abbr, ctx, ins=None, outs=None, gpus=None, cluster=None,
            layer=None, fill=None, extra=(), after=None):
        nid = IDS(k)
        assert nid not in self.nodes, k
        attrs = {}
        if kind == "comm":
            attrs = {"shape": "ellipse", "style": "filled", "fillcolor": COMM}
        elif kind == "route":
            attrs = {"shape": "parallelogram", "style": "filled", "fillcolor": ROUTE}
        elif kind == "in":
            attrs = {"shape": "invhouse", "fillcolor": "white"}
        elif kind == "out":
            attrs = {"shape": "house", "fillcolor": "white"}
        elif fill:
            attrs = {"fillcolor": fill}
        self.nodes[nid] = dict(key=k, kind=kind, abbr=abbr, ctx=ctx, ins=ins, outs=outs,
                               gpus=gpus, cluster=cluster, layer=layer, extra=list(extra),
                               attrs=attrs)
        if after is None:
            self.order.append(nid)
        else:
            self.order.insert(self.order.index(after) + 1, nid)
        return nid

    def rm(self, nid):
        self.order.remove(nid)
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e["s"] != nid and e["d"] != nid]

    # edges ---------------------------------------------------------
    def e(self, s, d, **attrs):
        assert s in self.nodes and d in self.nodes, (s, d)
        self.edges.append(dict(s=s, d=d, attrs=attrs))

    def rm_e(self, s, d):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e["s"] == s and e["d"] == d)]
        assert len(self.edges) < n, (s, d)

    def find_e(self, s, d):
        return [e for e in self.edges if e["s"] == s and e["d"] == d]

    def succ(self, n):
        return [e["d"] for e in self.edges if e["s"] == n]

    def pred(self, n):
        return [e["s"] for e in self.edges if e["d"] == n]

    # render --------------------------------------------------------
    def label(self, n):
        nd = self.nodes[n]
        lines = [nd["abbr"]]
        if nd["ctx"]:
            lines.append(nd["ctx"])
        lines += nd["extra"]
        if nd["kind"] == "in" and nd["outs"]:
            lines.append(fmt_shape(nd["outs"][0]))
        elif nd["kind"] == "out" and nd["ins"]:
            lines.append(fmt_shape(nd["ins"][0]))
        elif nd["ins"] is not None and nd["outs"] is not None:
            lines.append(" + ".join(fmt_shape(s) for s in nd["ins"]) + f" {ARROW} "
                         + " + ".join(fmt_shape(s) for s in nd["outs"]))
        if nd["gpus"] is not None:
            lines.append(fmt_gpus(nd["gpus"]))
        return "\\n".join(lines)

    def node_line(self, n, ind):
        nd = self.nodes[n]
        a = [f'label="{self.label(n)}"']
        for k, v in nd["attrs"].items():
            a.append(f'{k}="{v}"' if any(c in str(v) for c in "#, ") else f"{k}={v}")
        return f"{ind}{n} [{', '.join(a)}];"

    @staticmethod
    def _div(layer):
        if layer is None:
            return None
        return f"// \u2500\u2500 L{layer} \u2500\u2500"

    def render(self):
        out = list(self.header)
        out.append(f"digraph {self.name} {{")
        out.append("  rankdir=TB; newrank=true; nodesep=0.2; ranksep=0.28;")
        out.append('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=9, '
                   'fillcolor=white, margin="0.06,0.03"];')
        out.append('  edge [arrowsize=0.6, fontname="Helvetica", fontsize=8];')
        out.append("")

        def block(members, ind):
            cur = "start"
            for n in members:
                lay = self.nodes[n]["layer"]
                if lay != cur:
                    dv = self._div(lay)
                    if dv:
                        out.append(ind + dv)
                    cur = lay
                out.append(self.node_line(n, ind))

        top = [n for n in self.order if self.nodes[n]["cluster"] is None]
        ins = [n for n in top if self.nodes[n]["kind"] == "in"]
        block(ins, "  ")
        for cid, lab in self.clusters.items():
            out.append("")
            out.append(f"  subgraph {cid} {{")
            out.append(f'    label="{lab}"; style=dashed; color="#7f7f7f"; fontsize=10; labeljust=l;')
            block([n for n in self.order if self.nodes[n]["cluster"] == cid], "    ")
            out.append("  }")
        rest = [n for n in top if self.nodes[n]["kind"] != "in"]
        if rest:
            out.append("")
            block(rest, "  ")
        out.append("")

        def lay_of(e):
            x = self.nodes[e["d"]]["layer"]
            if x is None:
                return -1 if self.nodes[e["d"]]["key"].split("/")[-1] in ("emb", "emb_ar") or \
                    "/emb" in self.nodes[e["d"]]["key"] else 10 ** 6
            return x

        es = sorted(self.edges, key=lay_of)  # stable: insertion order inside a layer
        cur = "start"
        for e in es:
            lay = lay_of(e)
            if lay != cur:
                if 0 <= lay < 10 ** 6:
                    out.append("  " + self._div(lay))
                cur = lay
            a = []
            for k, v in e["attrs"].items():
                a.append(f'{k}="{v}"')
            out.append(f"  {e['s']} -> {e['d']}" + (f" [{', '.join(a)}]" if a else "") + ";")
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------- builder
def build(m, tp, ep, pp, dp, L, H, nh, hd, b, s, V, E=0, k=0, ffn=0):
    moe = E > 0
    name = f"tp{tp}_ep{ep}_pp{pp}_dp{dp}"
    dims = f"// H{H} nh{nh} hd{hd} " + (f"E{E} top{k} " if moe else f"ffn{ffn} ") + \
        f"V{V} | per-gpu shapes [b,s,..]"
    hdr = [dims]
    if moe:
        hdr.append("// E* = expert ffn, sharded over its ep rank's gpus, partial sums reduced inside")
    g = Graph(m, name, hdr)
    g.meta = dict(tp=tp, ep=ep, pp=pp, dp=dp, L=L, H=H, nh=nh, hd=hd, b=b, s=s, V=V, E=E, k=k,
                  ffn=ffn, moe=moe)
    per = L // pp

    def gid(d, p, e, t):
        return ((d * pp + p) * ep + e) * tp + t

    def lane(d, p, t):
        return [gid(d, p, e, t) for e in range(ep)]

    def stage(d, p):
        return [gid(d, p, e, t) for e in range(ep) for t in range(tp)]

    def egpu(d, p, e):
        return [gid(d, p, e, t) for t in range(tp)]

    g.meta.update(gid=gid, lane=lane, stage=stage, egpu=egpu)

    def ctx(l=None, d=None, e=None, t=None):
        parts = []
        if l is not None:
            parts.append(l if isinstance(l, str) else f"L{l}")
        if dp > 1 and d is not None:
            parts.append(f"dp{d}")
        if e is not None:
            parts.append(e if isinstance(e, str) else f"ep{e}")
        if t is not None:
            parts.append(t if isinstance(t, str) else f"tp{t}")
        return " ".join(parts)

    TPR, EPR = f"tp0-{tp - 1}", f"ep0-{ep - 1}"
    x = [b, s, H]
    hl = nh // tp
    qkv_o = [b, s, 3 * hl * hd]
    head = [b, s, hl, hd]
    score = [b, hl, s, s]
    ctxo = [b, s, hl * hd]
    rto = [b * s, k]
    tok_e = b * s * ep * k // E if moe else 0
    xe = [tok_e, H]
    fr = ffn // tp
    skip = {"color": SKIP}

    for d in range(dp):
        cl = lambda p: f"cluster_dp{d}_pp{p}"
        for p in range(pp):
            g.clusters[cl(p)] = f"dp{d}/pp{p}\\nL{p * per}-{p * per + per - 1}"
            g.cluster_layers[cl(p)] = (p * per, p * per + per - 1)
        sfx = f" dp{d}" if dp > 1 else ""
        nin = g.add(key(m, d, None, "in"), "in", "IN", "tok" + sfx, outs=[[b, s]])
        # embedding (vocab-parallel) + AR
        C = cl(0)
        ar = g.add(key(m, d, None, "emb_ar"), "comm", "AR", ctx(None, d, None, TPR), [x], [x],
                   stage(d, 0), C)
        embs = []
        for t in range(tp):
            n = g.add(key(m, d, None, "emb", t), "compute", "EMB", ctx(None, d, None, t),
                      [[b, s]], [x], lane(d, 0, t), C, fill=LANE[t], after=None)
            embs.append(n)
        # keep EMB before its AR in the text
        g.order.remove(ar)
        g.order.insert(g.order.index(embs[-1]) + 1, ar)
        for n in embs:
            g.e(nin, n)
            g.e(n, ar)
        resid = {t: ar for t in range(tp)}

        for l in range(L):
            p = l // per
            C = cl(p)
            if l % per == 0 and p > 0:
                for t in range(tp):
                    P = g.add(key(m, d, l, "p2p", t), "comm", "P2P",
                              f"L{l - 1}{ARROW}L{l}" + sfx + f" tp{t}", [x], [x],
                              lane(d, p - 1, t) + lane(d, p, t), None, l)
                    g.e(resid[t], P)
                    resid[t] = P
            # ---------------- attention
            os_ = []
            for t in range(tp):
                G, f = lane(d, p, t), LANE[t]
                c = ctx(l, d, None, t)
                ln1 = g.add(key(m, d, l, "ln1", t), "compute", "LN1", c, [x], [x], G, C, l, f)
                qkv = g.add(key(m, d, l, "qkv", t), "compute", "QKV", c, [x], [qkv_o], G, C, l, f)
                spl = g.add(key(m, d, l, "split", t), "route", "QKV-split", c, [qkv_o],
                            [head, head, head], G, C, l)
                qk = g.add(key(m, d, l, "qk", t), "compute", "QK\u1d40", c, [head, head], [score],
                           G, C, l, f)
                sm = g.add(key(m, d, l, "sm", t), "compute", "SM", c, [score], [score], G, C, l, f)
                pv = g.add(key(m, d, l, "pv", t), "compute", "PV", c, [score, head], [ctxo], G, C,
                           l, f)
                o = g.add(key(m, d, l, "o", t), "compute", "O", c, [ctxo], [x], G, C, l, f)
                g.e(resid[t], ln1)
                g.e(ln1, qkv)
                g.e(qkv, spl)
                g.e(spl, qk, label="q")
                g.e(spl, qk, label="k")
                g.e(qk, sm)
                g.e(sm, pv)
                g.e(spl, pv, label="v")
                g.e(pv, o)
                os_.append(o)
            ar = g.add(key(m, d, l, "ar", None), "comm", "AR", ctx(l, d, None, TPR), [x], [x],
                       stage(d, p), C, l)
            for o in os_:
                g.e(o, ar)
            for t in range(tp):
                a1 = g.add(key(m, d, l, "add1", t), "compute", "ADD", ctx(l, d, None, t), [x, x],
                           [x], lane(d, p, t), C, l, LANE[t])
                g.e(ar, a1)
                g.e(resid[t], a1, **skip)
                resid[t] = a1
            # ---------------- MoE / MLP
            if moe:
                ln2s, rtrs = [], []
                for t in range(tp):
                    G, f, c = lane(d, p, t), LANE[t], ctx(l, d, None, t)
                    ln2 = g.add(key(m, d, l, "ln2", t), "compute", "LN2", c, [x], [x], G, C, l, f)
                    rtr = g.add(key(m, d, l, "rtr", t), "route", "RTR", c, [x], [rto], G, C, l,
                                extra=[f"top{k}/E{E}"])
                    g.e(resid[t], ln2)
                    g.e(ln2, rtr)
                    ln2s.append(ln2)
                    rtrs.append(rtr)
                disp = g.add(key(m, d, l, "disp"), "comm", "A2A-disp", ctx(l, d, EPR), [x, rto],
                             [xe], stage(d, p), C, l)
                for t in range(tp):
                    g.e(ln2s[t], disp)
                    g.e(rtrs[t], disp, style="dashed")
                exps = []
                for j in range(E):
                    e = j // (E // ep)
                    n = g.add(key(m, d, l, f"E{j}"), "compute", f"E{j}", ctx(l, d, e, TPR), [xe],
                              [xe], egpu(d, p, e), C, l, EXPC[e])
                    g.e(disp, n)
                    exps.append(n)
                comb = g.add(key(m, d, l, "comb"), "comm", "A2A-comb", ctx(l, d, EPR), [xe], [x],
                             stage(d, p), C, l)
                for n in exps:
                    g.e(n, comb)
                src2 = comb
            else:
                dns = []
                for t in range(tp):
                    G, f, c = lane(d, p, t), LANE[t], ctx(l, d, None, t)
                    ln2 = g.add(key(m, d, l, "ln2", t), "compute", "LN2", c, [x], [x], G, C, l, f)
                    up = g.add(key(m, d, l, "up", t), "compute", "UP", c, [x], [[b, s, 2 * fr]], G,
                               C, l, f)
                    act = g.add(key(m, d, l, "act", t), "compute", "ACT", c, [[b, s, 2 * fr]],
                                [[b, s, fr]], G, C, l, f)
                    dn = g.add(key(m, d, l, "dn", t), "compute", "DN", c, [[b, s, fr]], [x], G, C,
                               l, f)
                    g.e(resid[t], ln2)
                    g.e(ln2, up)
                    g.e(up, act)
                    g.e(act, dn)
                    dns.append(dn)
                ar2 = g.add(key(m, d, l, "ar2"), "comm", "AR", ctx(l, d, None, TPR), [x], [x],
                            stage(d, p), C, l)
                for n in dns:
                    g.e(n, ar2)
                src2 = ar2
            for t in range(tp):
                a2 = g.add(key(m, d, l, "add2", t), "compute", "ADD", ctx(l, d, None, t), [x, x],
                           [x], lane(d, p, t), C, l, LANE[t])
                g.e(src2, a2)
                g.e(resid[t], a2, **skip)
                resid[t] = a2
        # ---------------- head
        p = pp - 1
        C = cl(p)
        lmhs = []
        for t in range(tp):
            G, f, c = lane(d, p, t), LANE[t], ctx(None, d, None, t)
            lnf = g.add(key(m, d, None, "lnf", t), "compute", "LNf", c, [x], [x], G, C, None, f)
            lmh = g.add(key(m, d, None, "lmh", t), "compute", "LMH", c, [x], [[b, s, V // tp]], G,
                        C, None, f)
            g.e(resid[t], lnf)
            g.e(lnf, lmh)
            lmhs.append(lmh)
        ag = g.add(key(m, d, None, "ag"), "comm", "AG", ctx(None, d, None, TPR), [[b, s, V // tp]],
                   [[b, s, V]], stage(d, p), C)
        for n in lmhs:
            g.e(n, ag)
        nout = g.add(key(m, d, None, "out"), "out", "OUT", "logits" + sfx, ins=[[b, s, V]])
        g.e(ag, nout)
    return g


# ----------------------------------------------------------------- self-check (own, light)
def selfcheck(g):
    """A small check of the rules this generator promises; returns a list of strings."""
    M = g.meta
    issues = []
    N = M["tp"] * M["ep"] * M["pp"] * M["dp"]
    # declared strategy vs name
    nm = g.name.split("_")
    dec = {p[:2]: int(p[2:]) for p in nm}
    if (dec["tp"], dec["ep"], dec["pp"], dec["dp"]) != (M["tp"], M["ep"], M["pp"], M["dp"]):
        issues.append("name/strategy mismatch")
    N = dec["tp"] * dec["ep"] * dec["pp"] * dec["dp"]
    # acyclic
    indeg = {n: 0 for n in g.nodes}
    for e in g.edges:
        indeg[e["d"]] += 1
    q = [n for n in g.nodes if indeg[n] == 0]
    seen = 0
    while q:
        n = q.pop()
        seen += 1
        for e in g.edges:
            if e["s"] == n:
                indeg[e["d"]] -= 1
                if indeg[e["d"]] == 0:
                    q.append(e["d"])
    if seen != len(g.nodes):
        issues.append("cycle")
    for n, nd in g.nodes.items():
        if nd["kind"] != "in" and not g.pred(n):
            issues.append(f"no input {n} {nd['abbr']} {nd['ctx']}")
        if nd["kind"] != "out" and not g.succ(n):
            issues.append(f"no output {n} {nd['abbr']} {nd['ctx']}")
        if nd["kind"] in ("compute", "route"):
            if nd["gpus"] is None:
                issues.append(f"no gpu {n}")
            if nd["ins"] is None or nd["outs"] is None:
                issues.append(f"no shapes {n}")
        if nd["gpus"] and max(nd["gpus"]) >= N:
            issues.append(f"gpu out of range {n}")
        if nd["kind"] == "comm" and nd["attrs"].get("shape") != "ellipse":
            issues.append(f"comm not ellipse {n}")
        for sh in (nd["ins"] or []) + (nd["outs"] or []):
            if any(not isinstance(v, int) for v in sh):
                issues.append(f"placeholder {n}")
        if nd["abbr"] == "QKV-split" and nd["outs"]:
            h, dk = nd["outs"][0][2], nd["outs"][0][3]
            if h != M["nh"] // dec["tp"] or h * dk * dec["tp"] != M["H"]:
                issues.append(f"head arithmetic {n}: {h}x{dk}")
        if nd["abbr"] in ("MHA",):
            issues.append(f"attention one box {n}")
        if nd["abbr"] == "RS":
            pass
    # shapes and cross-gpu on edges
    for e in g.edges:
        a, b = g.nodes[e["s"]], g.nodes[e["d"]]
        if a["outs"] is not None and b["ins"] is not None:
            if not any(o == i for o in a["outs"] for i in b["ins"]):
                issues.append(f"edge shape {e['s']}->{e['d']} {a['outs']} vs {b['ins']}")
        if a["kind"] != "comm" and b["kind"] != "comm" and a["gpus"] and b["gpus"]:
            if sorted(a["gpus"]) != sorted(b["gpus"]):
                issues.append(f"cross-gpu plain edge {e['s']}->{e['d']}")
    # attention wiring
    for n, nd in g.nodes.items():
        if nd["abbr"] == "PV":
            ps = g.pred(n)
            if not any(g.nodes[x]["abbr"] == "SM" for x in ps):
                issues.append(f"PV without SM {n}")
            labs = [e["attrs"].get("label") for e in g.edges if e["d"] == n]
            if "v" not in labs:
                issues.append(f"PV without v {n}")
        if nd["abbr"] == "QK\u1d40":
            labs = sorted(e["attrs"].get("label") for e in g.edges if e["d"] == n)
            if labs != ["k", "q"]:
                issues.append(f"score fed by {labs} {n}")
        if nd["abbr"] == "O":
            ps = g.pred(n)
            if [g.nodes[x]["abbr"] for x in ps] != ["PV"]:
                issues.append(f"O fed by {[g.nodes[x]['abbr'] for x in ps]} {n}")
            if not any(g.nodes[x]["abbr"] == "AR" for x in g.succ(n)):
                issues.append(f"O not all-reduced {n}")
        if nd["abbr"] == "DN":
            if not any(g.nodes[x]["abbr"] == "AR" for x in g.succ(n)):
                issues.append(f"DN not all-reduced {n}")
        if nd["abbr"] == "ADD" and len(g.pred(n)) != 2:
            issues.append(f"ADD with {len(g.pred(n))} inputs {n}")
        if nd["abbr"] == "ADD":
            ps = [g.nodes[x]["abbr"] for x in g.pred(n)]
            if "AR" not in ps and "A2A-comb" not in ps:
                issues.append(f"ADD not fed by a reduction {n} {ps}")
        if nd["abbr"] == "A2A-disp":
            if not any(g.nodes[x]["abbr"] == "RTR" for x in g.pred(n)):
                issues.append(f"dispatch without router {n}")
        if nd["abbr"].startswith("E") and nd["abbr"][1:].isdigit():
            if [g.nodes[x]["abbr"] for x in g.pred(n)] != ["A2A-disp"]:
                issues.append(f"expert not fed by dispatch {n}")
    # TP lanes complete, per layer
    tpd = dec["tp"]
    for l in range(M["L"]):
        for d in range(M["dp"]):
            for op in ("LN1", "QKV", "SM", "PV", "O"):
                ts = [nd for nd in g.nodes.values() if nd["abbr"] == op and nd["layer"] == l
                      and (M["dp"] == 1 or f"dp{d}" in nd["ctx"].split())]
                if len(ts) != tpd:
                    issues.append(f"L{l} dp{d} {op}: {len(ts)} of tp {tpd}")
    # experts
    if M["moe"]:
        for l in range(M["L"]):
            ex = [nd for nd in g.nodes.values() if nd["layer"] == l and nd["abbr"][0] == "E"
                  and nd["abbr"][1:].isdigit()]
            if not ex:
                continue
            cnt = {}
            gp = {}
            for nd in ex:
                gk = tuple(sorted(nd["gpus"] or []))
                cnt[gk] = cnt.get(gk, 0) + 1
            if len(cnt) != dec["ep"] or len(set(cnt.values())) != 1 or \
                    sum(cnt.values()) != M["E"]:
                issues.append(f"L{l} experts per gpu set {cnt}")
            allg = [x for gk in cnt for x in gk]
            if len(allg) != len(set(allg)):
                issues.append(f"L{l} expert gpu sets overlap")
    # stages
    stg = {}
    for cid in g.clusters:
        gs = set()
        for nd in g.nodes.values():
            if nd["cluster"] == cid and nd["gpus"]:
                gs |= set(nd["gpus"])
        stg[cid] = gs
    cs = list(stg)
    for i in range(len(cs)):
        for j in range(i + 1, len(cs)):
            if stg[cs[i]] & stg[cs[j]]:
                issues.append(f"stages overlap {cs[i]} {cs[j]}")
    if len(g.clusters) != dec["pp"] * M["dp"]:
        issues.append(f"{len(g.clusters)} stage clusters for pp{dec['pp']} x dp{M['dp']}")
    claimed = []
    for cid, lab in g.clusters.items():
        a, b = lab.split("\\nL")[1].split("-")
        a, b = int(a), int(b)
        claimed.append((cid, a, b))
        have = {nd["layer"] for nd in g.nodes.values() if nd["cluster"] == cid}
        for l in range(a, b + 1):
            if l not in have:
                issues.append(f"{cid} claims L{l} but draws none")
    for d in range(M["dp"]):
        cov = sorted(x for cid, a, b in claimed if cid.startswith(f"cluster_dp{d}_")
                     for x in range(a, b + 1))
        if cov != list(range(M["L"])):
            issues.append(f"dp{d} stage ranges cover {cov}")
    # stage transfer: edges between clusters go through P2P
    for e in g.edges:
        a, b = g.nodes[e["s"]], g.nodes[e["d"]]
        if a["cluster"] and b["cluster"] and a["cluster"] != b["cluster"]:
            issues.append(f"plain edge across stages {e['s']}->{e['d']}")
    # attention before MoE: LN1 of each layer fed by previous layer's ADD/P2P/EMB-AR
    for n, nd in g.nodes.items():
        if nd["abbr"] == "LN1":
            for x in g.pred(n):
                px = g.nodes[x]
                if px["layer"] == nd["layer"] and px["abbr"] != "P2P":
                    issues.append(f"LN1 fed from own layer {n}")
    return issues


# ----------------------------------------------------------------- defects
def defects(C1, C2, C3):
    """Yield (kind, category, base_name, graph, nodes, what)."""
    m1, m2, m3 = C1.m, C2.m, C3.m

    def cp(g):
        return copy.deepcopy(g)

    def gp(g, n):
        return "GPUs " + fmt_gpus(g.nodes[n]["gpus"])[2:]

    res = []

    # ---- structure
    g = cp(C1)
    a, r = I(m1, 0, 1, "ar"), I(m1, 0, 1, "add1", 0)
    g.e(r, a)
    res.append(("cycle", "structure", "clean_1.dot", g, [a, r],
                f"Layer 1's attention AR {a} and its tp0 residual ADD {r} are drawn both ways "
                f"({a} -> {r} and {r} -> {a}), a two-node cycle."))

    g = cp(C1)
    a, n = I(m1, 0, 2, "add1", 1), I(m1, 0, 2, "ln2", 1)
    g.rm_e(a, n)
    res.append(("dangling_input", "structure", "clean_1.dot", g, [n],
                f"Layer 2's pre-MoE norm LN2 {n} (tp1, {gp(g, n)}) has no incoming edge: its "
                f"input from the attention residual ADD {a} was removed."))

    g = cp(C1)
    n, c = I(m1, 0, 1, "E5"), I(m1, 0, 1, "comb")
    g.rm_e(n, c)
    res.append(("dangling_output", "structure", "clean_1.dot", g, [n],
                f"Expert E5 {n} of layer 1 (ep2, {gp(g, n)}) has no outgoing edge: its output "
                f"never reaches the combine all-to-all {c}."))

    g = cp(C1)
    l = 2
    p2p = [I(m1, 0, l, "p2p", t) for t in range(2)]
    ln1 = [I(m1, 0, l, "ln1", t) for t in range(2)]
    ln2 = [I(m1, 0, l, "ln2", t) for t in range(2)]
    a1 = [I(m1, 0, l, "add1", t) for t in range(2)]
    a2 = [I(m1, 0, l, "add2", t) for t in range(2)]
    nl1 = [I(m1, 0, 3, "ln1", t) for t in range(2)]
    na1 = [I(m1, 0, 3, "add1", t) for t in range(2)]
    for t in range(2):
        for s_, d_ in ((p2p[t], ln1[t]), (p2p[t], a1[t]), (a1[t], ln2[t]), (a1[t], a2[t]),
                       (a2[t], nl1[t]), (a2[t], na1[t])):
            g.rm_e(s_, d_)
        g.e(p2p[t], ln2[t])
        g.e(p2p[t], a2[t], color=SKIP)
        g.e(a2[t], ln1[t])
        g.e(a2[t], a1[t], color=SKIP)
        g.e(a1[t], nl1[t])
        g.e(a1[t], na1[t], color=SKIP)
    res.append(("moe_before_attention", "structure", "clean_1.dot", g, ln1 + ln2 + a1 + a2,
                f"Layer 2 runs its MoE block before its attention block on both TP ranks: the "
                f"stage input (P2P {p2p[0]}, {p2p[1]}) goes to LN2 {ln2[0]}, {ln2[1]}, the MoE "
                f"residual ADD {a2[0]}, {a2[1]} feeds LN1 {ln1[0]}, {ln1[1]}, and the attention "
                f"residual ADD {a1[0]}, {a1[1]} feeds layer 3."))

    g = cp(C3)
    a, r = I(m3, 0, 0, "add2", 0), I(m3, 0, 1, "add1", 0)
    g.rm_e(a, r)
    res.append(("missing_residual", "structure", "clean_3.dot", g, [r],
                f"dp0, layer 1, tp0: the attention residual ADD {r} is fed only by the "
                f"all-reduce; the skip edge from layer 0's residual ADD {a} is missing."))

    # ---- attention
    g = cp(C2)
    M = g.meta
    hl = M["nh"] // M["tp"]
    mhas = []
    for t in range(M["tp"]):
        ops = [I(m2, 0, 1, op, t) for op in ("qkv", "split", "qk", "sm", "pv")]
        ln, o = I(m2, 0, 1, "ln1", t), I(m2, 0, 1, "o", t)
        nd = g.nodes[ln]
        h = g.add(key(m2, 0, 1, "mha", t), "compute", "MHA", nd["ctx"], [list(nd["outs"][0])],
                  [[M["b"], M["s"], hl * M["hd"]]], list(nd["gpus"]), nd["cluster"], 1,
                  LANE[t], after=ln)
        for x in ops:
            g.rm(x)
        g.e(ln, h)
        g.e(h, o)
        mhas.append(h)
    res.append(("attention_one_box", "attention", "clean_2.dot", g, mhas,
                f"Layer 1's attention is drawn as one 'MHA' box per TP rank ({', '.join(mhas)} "
                f"for tp0-3) between LN1 and O, instead of QKV, QKV-split, QK\u1d40, SM and PV."))

    g = cp(C1)
    sm, pv, o = (I(m1, 0, 1, x, 1) for x in ("sm", "pv", "o"))
    g.rm_e(sm, pv)
    g.e(sm, o)
    res.append(("v_bypasses_softmax", "attention", "clean_1.dot", g, [sm, pv, o],
                f"Layer 1, tp1: V (QKV-split edge 'v') feeds the weighted sum PV {pv} but the "
                f"softmax SM {sm} does not; SM goes straight to the output projection O {o}, so V "
                f"bypasses the attention probabilities."))

    g = cp(C2)
    spl, qk, pv = (I(m2, 0, 0, x, 1) for x in ("split", "qk", "pv"))
    for e in g.edges:
        if e["s"] == spl and e["d"] == qk and e["attrs"].get("label") == "k":
            e["attrs"]["label"] = "v"
        elif e["s"] == spl and e["d"] == pv and e["attrs"].get("label") == "v":
            e["attrs"]["label"] = "k"
    res.append(("v_into_score", "attention", "clean_2.dot", g, [spl, qk, pv],
                f"Layer 0, tp1: V from QKV-split {spl} is wired into the score QK\u1d40 {qk} "
                f"instead of K (edge labels q,v into {qk}), and K feeds the weighted sum PV {pv} "
                f"(K and V swapped)."))

    g = cp(C3)
    d_, l = 1, 1
    sp, os_ = [], []
    for t in range(g.meta["tp"]):
        spl, o = I(m3, d_, l, "split", t), I(m3, d_, l, "o", t)
        for x in ("qk", "sm", "pv"):
            g.rm(I(m3, d_, l, x, t))
        for lab in ("q", "k", "v"):
            g.e(spl, o, label=lab)
        sp.append(spl)
        os_.append(o)
    res.append(("qkv_into_oproj", "attention", "clean_3.dot", g, sp + os_,
                f"DP replica 1, layer 1: Q, K and V go from QKV-split ({sp[0]}, {sp[1]}) straight "
                f"into the output projection O ({os_[0]}, {os_[1]}) on both TP ranks; no QK\u1d40, "
                f"SM or PV is drawn."))

    g = cp(C1)
    M = g.meta
    b, s, H = M["b"], M["s"], M["H"]
    hl, hd_bad = M["nh"] // M["tp"], 64
    nodes = []
    for t in range(M["tp"]):
        qkv, spl, qk, pv, o = (I(m1, 0, 2, x, t) for x in ("qkv", "split", "qk", "pv", "o"))
        hh = [b, s, hl, hd_bad]
        g.nodes[qkv]["outs"] = [[b, s, 3 * hl * hd_bad]]
        g.nodes[spl]["ins"] = [[b, s, 3 * hl * hd_bad]]
        g.nodes[spl]["outs"] = [hh, hh, hh]
        g.nodes[qk]["ins"] = [hh, hh]
        g.nodes[pv]["ins"] = [g.nodes[pv]["ins"][0], hh]
        g.nodes[pv]["outs"] = [[b, s, hl * hd_bad]]
        g.nodes[o]["ins"] = [[b, s, hl * hd_bad]]
        nodes += [qkv, spl]
    res.append(("head_arithmetic", "attention", "clean_1.dot", g, nodes,
                f"Layer 2 labels Q/K/V as {hl} heads x head_dim {hd_bad} on both TP ranks "
                f"({hl}x{hd_bad} = {hl * hd_bad} per rank, {M['nh']}x{hd_bad} = "
                f"{M['nh'] * hd_bad} in total) while hidden is {H} ({H}/TP{M['tp']} = "
                f"{H // M['tp']} per rank)."))

    g = cp(C2)
    M = g.meta
    b, s, H, nh, hd = M["b"], M["s"], M["H"], M["nh"], M["hd"]
    hh = [b, s, nh, hd]
    qkv, spl, qk, sm, pv, o = (I(m2, 0, 0, x, 0) for x in ("qkv", "split", "qk", "sm", "pv", "o"))
    g.nodes[qkv]["outs"] = [[b, s, 3 * nh * hd]]
    g.nodes[spl]["ins"] = [[b, s, 3 * nh * hd]]
    g.nodes[spl]["outs"] = [hh, hh, hh]
    g.nodes[qk]["ins"] = [hh, hh]
    g.nodes[qk]["outs"] = [[b, nh, s, s]]
    g.nodes[sm]["ins"] = [[b, nh, s, s]]
    g.nodes[sm]["outs"] = [[b, nh, s, s]]
    g.nodes[pv]["ins"] = [[b, nh, s, s], hh]
    g.nodes[pv]["outs"] = [[b, s, nh * hd]]
    g.nodes[o]["ins"] = [[b, s, nh * hd]]
    res.append(("tp_heads", "attention", "clean_2.dot", g, [qkv, spl],
                f"Layer 0, tp0 of TP{M['tp']}: QKV {qkv} outputs all {nh} heads "
                f"(qkv={3 * nh * hd}, QKV-split {spl} gives [{b},{s},{nh},{hd}]) instead of "
                f"{nh}/{M['tp']} = {nh // M['tp']} heads per rank (qkv={3 * nh // M['tp'] * hd})."))

    # ---- shape
    g = cp(C3)
    a, n = I(m3, 0, 1, "add1", 0), I(m3, 0, 1, "ln2", 0)
    M = g.meta
    bad = M["H"] * 3 // 4
    g.nodes[n]["ins"] = [[M["b"], M["s"], bad]]
    res.append(("edge_shape_mismatch", "shape", "clean_3.dot", g, [a, n],
                f"DP replica 0, layer 1, tp0: LN2 {n} expects [{M['b']},{M['s']},{bad}] but its "
                f"producer ADD {a} outputs [{M['b']},{M['s']},{M['H']}] (hidden {bad} vs "
                f"{M['H']}, ratio 3/4, not a parallel degree)."))

    g = cp(C2)
    M = g.meta
    ar = I(m2, 0, 1, "ar")
    g.nodes[ar]["abbr"] = "RS"
    g.nodes[ar]["outs"] = [[M["b"], M["s"], M["H"] // M["tp"]]]
    adds = [I(m2, 0, 1, "add1", t) for t in range(M["tp"])]
    res.append(("shard_without_gather", "shape", "clean_2.dot", g, [ar] + adds,
                f"Layer 1's row-parallel attention output is reduce-scattered (RS {ar}) into "
                f"hidden/TP = {M['H']}/{M['tp']} = {M['H'] // M['tp']} shards that go straight "
                f"into the full-size (hidden={M['H']}) residual ADDs {', '.join(adds)} with no "
                f"all-gather."))

    # ---- pipeline
    g = cp(C1)
    g.name = "tp2_ep4_pp3_dp1"
    res.append(("stage_count", "pipeline", "clean_1.dot", g, [],
                "The graph name declares pp3 (tp2_ep4_pp3_dp1) but two pipeline stages are "
                "drawn (cluster_dp0_pp0 with L0-1 and cluster_dp0_pp1 with L2-3)."))

    g = cp(C1)
    g.clusters["cluster_dp0_pp0"] = "dp0/pp0\\nL0-0"
    l1 = [I(m1, 0, 1, "ln1", t) for t in range(2)]
    res.append(("stage_range_gap", "pipeline", "clean_1.dot", g, l1,
                "Stage pp0 claims L0-0 and stage pp1 L2-3: layer 1 is in no stage's range (gap), "
                f"although its operators (e.g. LN1 {l1[0]}, {l1[1]}) are drawn in cluster_dp0_pp0."))

    g = cp(C1)
    for n in [n for n, nd in g.nodes.items() if nd["layer"] == 3]:
        g.rm(n)
    a2 = [I(m1, 0, 2, "add2", t) for t in range(2)]
    lnf = [I(m1, 0, None, "lnf", t) for t in range(2)]
    for t in range(2):
        g.e(a2[t], lnf[t])
    res.append(("stage_missing_layer", "pipeline", "clean_1.dot", g, a2 + lnf,
                f"Stage pp1 claims L2-3 but no operator of layer 3 is drawn: layer 2's residual "
                f"ADDs {a2[0]}, {a2[1]} feed the final norms LNf {lnf[0]}, {lnf[1]} directly."))

    g = cp(C1)
    src = [I(m1, 0, 1, "add2", t) for t in range(2)]
    dl = [I(m1, 0, 2, "ln1", t) for t in range(2)]
    da = [I(m1, 0, 2, "add1", t) for t in range(2)]
    ps = [I(m1, 0, 2, "p2p", t) for t in range(2)]
    for t in range(2):
        g.rm(ps[t])
        g.e(src[t], dl[t])
        g.e(src[t], da[t], color=SKIP)
    res.append(("no_stage_transfer", "pipeline", "clean_1.dot", g, src + dl + da,
                f"Stage pp0 (GPUs 0-7) and stage pp1 (GPUs 8-15) are joined by plain edges from "
                f"layer 1's residual ADDs {src[0]}, {src[1]} to layer 2's LN1 {dl[0]}, {dl[1]} "
                f"and ADD {da[0]}, {da[1]}; the P2P send/recv is missing."))

    # ---- expert
    g = cp(C1)
    egpu = g.meta["egpu"]
    ex = [I(m1, 0, 1, f"E{j}") for j in range(8)]
    for j, n in enumerate(ex):
        r = j // 4
        g.nodes[n]["gpus"] = egpu(0, 0, r)
        g.nodes[n]["ctx"] = f"L1 ep{r} tp0-1"
        g.nodes[n]["attrs"]["fillcolor"] = EXPC[r]
    res.append(("experts_subset_ranks", "expert", "clean_1.dot", g, ex,
                "Layer 1 places all 8 experts on ep0 and ep1 (E0-E3 on GPUs 0-1, E4-E7 on GPUs "
                "2-3); ep2 and ep3 (GPUs 4-7) hold none of its experts although the name says "
                "ep4."))

    g = cp(C1)
    n = I(m1, 0, 3, "E2")
    g.nodes[n]["gpus"] = egpu(0, 1, 0)
    g.nodes[n]["ctx"] = "L3 ep0 tp0-1"
    g.nodes[n]["attrs"]["fillcolor"] = EXPC[0]
    res.append(("experts_uneven", "expert", "clean_1.dot", g, [n],
                f"Layer 3's expert E2 {n} sits on ep0 (GPUs 8-9) instead of ep1 (GPUs 10-11): "
                f"ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each."))

    g = cp(C2)
    n = I(m2, 0, 1, "E5")
    g.nodes[n]["gpus"] = [0, 1, 2, 3]
    res.append(("experts_share_gpu", "expert", "clean_2.dot", g, [n],
                f"Layer 1's expert E5 {n} (labelled ep1) is placed on GPUs 0-3, which hold ep0's "
                f"experts E0-E3; ep1's GPUs are 4-7."))

    g = cp(C2)
    rt = [I(m2, 0, 1, "rtr", t) for t in range(4)]
    for n in rt:
        g.rm(n)
    dsp = I(m2, 0, 1, "disp")
    l2 = [I(m2, 0, 1, "ln2", t) for t in range(4)]
    res.append(("no_gate", "expert", "clean_2.dot", g, [dsp] + l2,
                f"Layer 1 has no MoE router: the LN2 outputs ({', '.join(l2)}) go straight into "
                f"the dispatch all-to-all {dsp} and on to the experts E0-E7."))

    g = cp(C1)
    dsp = I(m1, 0, 1, "disp")
    ins = [e for e in g.edges if e["d"] == dsp]
    outs = [e["d"] for e in g.edges if e["s"] == dsp]
    g.rm(dsp)
    for e in ins:
        for o in outs:
            g.e(e["s"], o, **e["attrs"])
    rt = [I(m1, 0, 1, "rtr", t) for t in range(2)]
    res.append(("no_all_to_all", "expert", "clean_1.dot", g, rt + outs,
                f"Layer 1's routers RTR {rt[0]}, {rt[1]} (and the LN2 tokens) go straight to the "
                f"experts E0-E7 on ep0-3 (GPUs 0-7) without a dispatch all-to-all."))

    # ---- tensor
    g = cp(C2)
    gone = []
    for op in ("ln1", "qkv", "split", "qk", "sm", "pv", "o"):
        n = I(m2, 0, 1, op, 3)
        gone.append(n)
        g.rm(n)
    ar = I(m2, 0, 1, "ar")
    prev = I(m2, 0, 0, "add2", 3)
    res.append(("tp_rank_missing", "tensor", "clean_2.dot", g, [ar, prev],
                f"Layer 1's attention operators are drawn for tp0-2 only; tp3 (GPUs 3,7) of TP4 "
                f"is missing (no LN1, QKV, QKV-split, QK\u1d40, SM, PV or O for tp3), so AR {ar} sums "
                f"only 3 partial outputs."))

    g = cp(C3)
    ar2 = I(m3, 0, 0, "ar2")
    dn = [I(m3, 0, 0, "dn", t) for t in range(2)]
    ad = [I(m3, 0, 0, "add2", t) for t in range(2)]
    g.rm(ar2)
    for t in range(2):
        g.e(dn[t], ad[t])
    res.append(("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", g, dn + ad,
                f"DP replica 0, layer 0: the row-parallel MLP down projections DN {dn[0]}, {dn[1]} "
                f"feed the residual ADDs {ad[0]}, {ad[1]} directly, without the TP all-reduce of "
                f"their partial sums."))

    # ---- communication
    g = cp(C3)
    a_ok, a_bad, r = I(m3, 0, 0, "add2", 1), I(m3, 0, 0, "add2", 0), I(m3, 0, 1, "add1", 1)
    for e in g.edges:
        if e["s"] == a_ok and e["d"] == r:
            e["s"] = a_bad
    res.append(("cross_gpu_no_comm", "communication", "clean_3.dot", g, [a_bad, r],
                f"DP replica 0: layer 0's residual ADD {a_bad} on GPU 0 (tp0) feeds layer 1's "
                f"tp1 residual ADD {r} on GPU 1 by a plain skip edge, with no communication node "
                f"(it should come from ADD {a_ok} on GPU 1)."))

    g = cp(C1)
    ar = I(m1, 0, 2, "ar")
    g.nodes[ar]["attrs"] = {"fillcolor": COMM}
    res.append(("comm_wrong_shape", "communication", "clean_1.dot", g, [ar],
                f"Layer 2's attention all-reduce AR {ar} is drawn as a rounded box (computation, "
                f"the graph default) instead of an ellipse."))

    # ---- gpu
    g = cp(C2)
    n = I(m2, 0, 0, "sm", 2)
    g.nodes[n]["gpus"] = None
    res.append(("missing_gpu", "gpu", "clean_2.dot", g, [n],
                f"Softmax SM {n} of layer 0, tp2 has no @g placement line."))

    g = cp(C2)
    n = I(m2, 0, 1, "E5")
    g.nodes[n]["gpus"] = [8, 9, 10, 11]
    res.append(("gpu_out_of_range", "gpu", "clean_2.dot", g, [n],
                f"Layer 1's expert E5 {n} is placed on GPUs 8-11, beyond the 8 GPUs of tp4 x ep2 "
                f"x pp1 x dp1 (ids 0-7)."))

    g = cp(C1)
    moved = []
    for n, nd in g.nodes.items():
        if nd["gpus"] and (nd["cluster"] == "cluster_dp0_pp1" or nd["abbr"] == "P2P"):
            nd["gpus"] = sorted(set(x - 4 if x >= 8 else x for x in nd["gpus"]))
            if nd["cluster"] == "cluster_dp0_pp1":
                moved.append(n)
    res.append(("stages_share_gpus", "gpu", "clean_1.dot", g, moved,
                f"Stage pp1 (layers 2-3, {len(moved)} nodes) is placed on GPUs 4-11, overlapping "
                f"stage pp0's GPUs 0-7 (GPUs 4-7 in both)."))

    # ---- strategy
    g = cp(C3)
    g.name = "tp4_ep1_pp2_dp2"
    res.append(("strategy_mismatch", "strategy", "clean_3.dot", g, [],
                "The graph name declares tp4 (tp4_ep1_pp2_dp2) but every tensor-parallel "
                "operator is drawn for tp0-1 only (TP 2), in both DP replicas and both stages."))

    # ---- annotation
    g = cp(C3)
    n = I(m3, 1, 2, "o", 1)
    g.nodes[n]["ins"] = g.nodes[n]["outs"] = None
    res.append(("missing_shapes", "annotation", "clean_3.dot", g, [n],
                f"Output projection O {n} of DP replica 1, layer 2, tp1 has no shape line (no "
                f"input or output shape)."))

    g = cp(C1)
    n = I(m1, 0, 2, "rtr", 0)
    sh = list(g.nodes[n]["ins"][0])
    sh[0] = "?"
    g.nodes[n]["ins"] = [sh]
    res.append(("placeholder", "annotation", "clean_1.dot", g, [n],
                f"Layer 2's router RTR {n} (tp0) gives its input as [?,{sh[1]},{sh[2]}], a "
                f"placeholder instead of the batch 2."))
    return res


ORDER = ["cycle", "dangling_input", "dangling_output", "attention_one_box", "v_bypasses_softmax",
         "v_into_score", "qkv_into_oproj", "head_arithmetic", "tp_heads", "edge_shape_mismatch",
         "shard_without_gather", "stage_count", "stage_range_gap", "stage_missing_layer",
         "no_stage_transfer", "experts_subset_ranks", "experts_uneven", "experts_share_gpu",
         "no_gate", "no_all_to_all", "tp_rank_missing", "no_allreduce_after_rowparallel",
         "cross_gpu_no_comm", "comm_wrong_shape", "missing_gpu", "gpu_out_of_range",
         "stages_share_gpus", "strategy_mismatch", "missing_shapes", "placeholder",
         "moe_before_attention", "missing_residual"]


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    C1 = build("c1", tp=2, ep=4, pp=2, dp=1, L=4, H=4096, nh=32, hd=128, b=2, s=1024, V=32000,
               E=8, k=2)
    C2 = build("c2", tp=4, ep=2, pp=1, dp=1, L=2, H=2048, nh=16, hd=128, b=4, s=512, V=32000,
               E=8, k=2)
    C3 = build("c3", tp=2, ep=1, pp=2, dp=2, L=4, H=2048, nh=16, hd=128, b=4, s=512, V=32000,
               ffn=8192)
    manifest = []
    cleans = [
        ("clean_1.dot", C1, "MoE, tp2 x ep4 x pp2 (16 GPUs), 4 layers (L0-1 on GPUs 0-7, L2-3 on "
                            "GPUs 8-15), 8 experts top-2, 2 experts per ep rank, H4096 nh32 hd128, "
                            "attention lanes tp0 = even GPUs, tp1 = odd GPUs of each stage."),
        ("clean_2.dot", C2, "MoE, tp4 x ep2, single stage (8 GPUs), 2 layers, 8 experts top-2, 4 "
                            "per ep rank (E0-3 GPUs 0-3, E4-7 GPUs 4-7), H2048 nh16 hd128 (4 heads "
                            "per tp rank)."),
        ("clean_3.dot", C3, "Dense, tp2 x pp2 x dp2 (8 GPUs), 4 layers, both DP replicas drawn as "
                            "clusters dp0/pp0 (GPUs 0-1), dp0/pp1 (2-3), dp1/pp0 (4-5), dp1/pp1 "
                            "(6-7), H2048 nh16 hd128, ffn 8192 (SwiGLU UP/ACT/DN)."),
    ]
    bad = False
    for fn, g, what in cleans:
        iss = selfcheck(g)
        if iss:
            bad = True
            print(f"SELF-CHECK {fn}:", *iss[:20], sep="\n  ")
        with open(os.path.join(OUT, fn), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append(dict(file=fn, kind="clean", category=None, base=None, nodes=[],
                             what=what))
    got = {r[0]: r for r in defects(C1, C2, C3)}
    assert set(got) == set(ORDER), set(ORDER) ^ set(got)
    for kind in ORDER:
        kind, cat, base, g, nodes, what = got[kind]
        fn = f"defect_{kind}.dot"
        iss = selfcheck(g)
        if "-v" in sys.argv:
            print(f"{fn}: {len(iss)} self-check hits: " + "; ".join(iss[:4]))
        with open(os.path.join(OUT, fn), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append(dict(file=fn, kind=kind, category=cat, base=base, nodes=nodes, what=what))
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if shutil.which("dot"):
        for fn in sorted(os.listdir(OUT)):
            if fn.endswith(".dot"):
                r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, fn)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    bad = True
                    print("DOT FAIL", fn, r.stderr.decode()[:300])
    print(f"wrote {len(manifest)} files to {OUT}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
