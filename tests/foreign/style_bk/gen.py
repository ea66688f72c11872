#!/usr/bin/env python3
"""bk-style LLM deployment DAG generator (stdlib only).

Run `python3 gen.py` in this folder: writes out/clean_{1,2,3}.dot, one
out/defect_<kind>.dot per defect kind, and out/manifest.json.

House style ("bk"):
  * labels: first line lower-case operator words (`rms norm`, `q projection`, ...),
    then `in: 4 seq × 1024 tok × 2048 d`, `out: ...`, `on gpu0..gpu3`
    (unit words, no brackets, no `Input:` / `GPU:` keys);
  * ids `n_<layer>_<op>_<rank>` (`n_2_qproj_1`); replicated ops carry no rank
    (`n_2_norm1`), experts carry the expert number in the op and the EP rank as rank
    (`n_1_exp5_2`); with DP > 1 the rank becomes `d<replica>t<tp>` / `d<replica>`;
  * strategy in the graph label: `moe 8x | ep 2 · tp 2 · pp 2 · dp 1`, second label
    line gives the model (layers, hidden, heads × head dim, top-k of E);
  * stages as clusters `stage 0 · layers 0..1` (plus ` · replica 1` when DP > 1).
  Own quirks:
  1. colour scheme keyed on rank: every tensor-parallel box is filled with its TP rank's
     colour, every expert with its EP rank's colour, replicated ops grey, all
     communication ellipses khaki, routing parallelograms peach; skip (residual) edges
     are drawn grey, router -> dispatch edges dashed;
  2. every communication ellipse carries a `group:` line naming the GPU groups that
     take part, every row-parallel output carries a `partial sum` line, and the DOT text
     is cut into sections by `// ── layer 1 · attention ──` comments.
Layout: inside a stage, EP rank e, TP rank t sits on gpu base + e*TP + t; attention,
norms, router and residuals run data-parallel over the EP groups (a TP rank's attention
node is placed on gpu t, t+TP, ...), experts sit on their EP rank's TP group.
"""
import copy
import json
import os

TP_FILL = ["#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc"]
EP_FILL = ["#d0e0e3", "#ead1dc", "#fce5cd", "#d9d2e9"]
SHARED_FILL = "#eeeeee"
COMM_FILL = "#ffe599"
ROUTE_FILL = "#f9cb9c"
IO_FILL = "#ffffff"
SHAPE = {"comp": "box", "comm": "ellipse", "route": "parallelogram",
         "in": "invhouse", "out": "house"}
SKIP = {"color": "gray55"}
ROUTE_EDGE = {"style": "dashed"}


def gpus(lst):
    lst = sorted(lst)
    if len(lst) == 1:
        return "gpu%d" % lst[0]
    if len(lst) >= 3 and lst == list(range(lst[0], lst[-1] + 1)):
        return "gpu%d..gpu%d" % (lst[0], lst[-1])
    return ",".join("gpu%d" % g for g in lst)


class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.clusters = []      # [cluster id, label]
        self.nodes = []         # dicts: id kind lines fill section cluster
        self.edges = []         # [src, dst, attrs]

    # -- construction -------------------------------------------------------
    def add(self, nid, kind, lines, fill, section, cluster, before=None):
        n = {"id": nid, "kind": kind, "lines": list(lines), "fill": fill,
             "section": section, "cluster": cluster}
        assert self.get(nid) is None, nid
        if before is None:
            self.nodes.append(n)
        else:
            self.nodes.insert(self.index(before), n)
        return nid

    def edge(self, a, b, attrs=None, at=None):
        e = [a, b, dict(attrs or {})]
        if at is None:
            self.edges.append(e)
        else:
            self.edges.insert(at, e)

    # -- lookup / mutation --------------------------------------------------
    def get(self, nid):
        for n in self.nodes:
            if n["id"] == nid:
                return n
        return None

    def index(self, nid):
        for i, n in enumerate(self.nodes):
            if n["id"] == nid:
                return i
        raise KeyError(nid)

    def edge_index(self, a, b):
        for i, e in enumerate(self.edges):
            if e[0] == a and e[1] == b:
                return i
        raise KeyError((a, b))

    def remove_node(self, nid):
        self.nodes.pop(self.index(nid))
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def remove_edge(self, a, b):
        return self.edges.pop(self.edge_index(a, b))

    def rename(self, old, new):
        self.get(old)["id"] = new
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def set_line(self, nid, prefix, new):
        """Replace the first label line starting with prefix (None deletes it)."""
        lines = self.get(nid)["lines"]
        for i, ln in enumerate(lines):
            if ln.startswith(prefix):
                if new is None:
                    lines.pop(i)
                else:
                    lines[i] = new
                return
        raise KeyError((nid, prefix))

    def line(self, nid, prefix):
        for ln in self.get(nid)["lines"]:
            if ln.startswith(prefix):
                return ln
        raise KeyError((nid, prefix))

    # -- output ------------------------------------------------------------
    def _node_text(self, n, ind):
        lab = "\\n".join(n["lines"])
        return '%s%s [shape=%s, fillcolor="%s", label="%s"];' % (
            ind, n["id"], SHAPE[n["kind"]], n["fill"], lab)

    def emit(self, title):
        out = ["// bk · %s" % title,
               "digraph %s {" % self.name,
               '  graph [label="%s", labelloc=t, fontname="Helvetica", fontsize=12, '
               'rankdir=TB, newrank=true];' % self.label.replace("\n", "\\n"),
               '  node [fontname="Helvetica", fontsize=9, style=filled];',
               '  edge [color="#444444", arrowsize=0.6];', ""]
        for cid, clab in self.clusters:
            out.append("  subgraph %s {" % cid)
            out.append('    label="%s";' % clab)
            out.append('    style=dashed; color="#777777"; fontname="Helvetica";')
            sec = None
            for n in self.nodes:
                if n["cluster"] != cid:
                    continue
                if n["section"] != sec:
                    sec = n["section"]
                    out.append("    // ── %s ──" % sec)
                out.append(self._node_text(n, "    "))
            out.append("  }")
            out.append("")
        sec = None
        for n in self.nodes:
            if n["cluster"] is not None:
                continue
            if n["section"] != sec:
                sec = n["section"]
                out.append("  // ── %s ──" % sec)
            out.append(self._node_text(n, "  "))
        out.append("")
        out.append("  // edges")
        sec = None
        for a, b, attrs in self.edges:
            dst = self.get(b)
            s = dst["section"] if dst else "?"
            if s != sec:
                sec = s
                out.append("  // ── %s ──" % sec)
            at = ""
            if attrs:
                at = " [" + ", ".join("%s=%s" % kv for kv in attrs.items()) + "]"
            out.append("  %s -> %s%s;" % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------

def build(c):
    E, k, ep, tp, pp, dp = c["E"], c.get("k", 2), c["ep"], c["tp"], c["pp"], c["dp"]
    L, B, S, H, heads, hd = c["L"], c["B"], c["S"], c["H"], c["heads"], c["hd"]
    ffn, V = c["ffn"], c.get("V", 32000)
    assert heads * hd == H and heads % tp == 0 and L % pp == 0
    moe = E > 0
    if moe:
        assert E % ep == 0 and (B * S * k) % E == 0
    decl = c.get("decl", {})
    strat = "ep %d · tp %d · pp %d · dp %d" % (decl.get("ep", ep), decl.get("tp", tp),
                                               decl.get("pp", pp), decl.get("dp", dp))
    head = ("moe %dx" % E) if moe else "dense"
    model = "%d layers · hidden %d d · %d heads × %d d" % (L, H, heads, hd)
    model += (" · top-%d of %d experts" % (k, E)) if moe else (" · ffn %d" % ffn)
    g = Graph(c["name"], "%s | %s\n%s" % (head, strat, model))

    full = "%d seq × %d tok × %d d" % (B, S, H)
    hsh = "%d seq × %d tok × %d heads × %d d" % (B, S, heads // tp, hd)
    ssh = "%d seq × %d heads × %d tok × %d tok" % (B, heads // tp, S, S)
    tpe = (B * S * k) // E if moe else 0
    esh = "%d tok × %d d" % (tpe, H)
    slots = "%d seq × %d tok × %d slots × %d d" % (B, S, k, H)
    per = L // pp
    ranges = c.get("ranges") or [(s * per, (s + 1) * per - 1) for s in range(pp)]

    def rid(l, op, d):
        return "n_%s_%s" % (l, op) + ("_d%d" % d if dp > 1 else "")

    def tid(l, op, d, t):
        return "n_%s_%s_" % (l, op) + ("d%dt%d" % (d, t) if dp > 1 else "%d" % t)

    def xid(l, x, d, e):
        return "n_%s_exp%d_" % (l, x) + ("d%de%d" % (d, e) if dp > 1 else "%d" % e)

    def gid(op, d):
        return "n_%s" % op + ("_d%d" % d if dp > 1 else "")

    for d in range(dp):
        prev_all = None
        x = None
        for s in range(pp):
            base = c.get("stage_base", {}).get((d, s), (d * pp + s) * ep * tp)
            allg = list(range(base, base + ep * tp))
            on_all = "on " + gpus(allg)

            def tp_g(t, base=base):
                return [base + e * tp + t for e in range(ep)]

            def ep_g(e, base=base):
                return [base + e * tp + t for t in range(tp)]

            cid = "cluster_s%d" % s + ("_d%d" % d if dp > 1 else "")
            lo, hi = ranges[s]
            clab = "stage %d · layers %d..%d" % (s, lo, hi) + (" · replica %d" % d if dp > 1 else "")
            g.clusters.append([cid, clab])
            tp_groups = " ".join("(%s)" % gpus(ep_g(e)) for e in range(ep))

            if s == 0:
                sec = "embedding" + (" · replica %d" % d if dp > 1 else "")
                nin = g.add(gid("in", d), "in", ["input", "out: %d seq × %d tok" % (B, S), on_all],
                            IO_FILL, sec, cid)
                emb = g.add(gid("embed", d), "comp",
                            ["embedding", "in: %d seq × %d tok" % (B, S), "out: " + full, on_all],
                            SHARED_FILL, sec, cid)
                g.edge(nin, emb)
                x = emb
            else:
                sr = g.add(rid(s * per - 1, "sendrecv", d), "comm",
                           ["send/recv", "in: " + full, "out: " + full, "on " + gpus(prev_all + allg),
                            "group: stage %d (%s) → stage %d (%s)" % (s - 1, gpus(prev_all), s, gpus(allg))],
                           COMM_FILL, "pipeline" + (" · replica %d" % d if dp > 1 else ""), None)
                g.edge(x, sr)
                x = sr

            for l in range(s * per, (s + 1) * per):
                sec = "layer %d · attention" % l + (" · replica %d" % d if dp > 1 else "")
                n1 = g.add(rid(l, "norm1", d), "comp",
                           ["rms norm", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                g.edge(x, n1)
                ar = rid(l, "allreduce", d)
                for t in range(tp):
                    on_t = "on " + gpus(tp_g(t))
                    f = TP_FILL[t % 4]
                    q = g.add(tid(l, "qproj", d, t), "comp", ["q projection", "in: " + full, "out: " + hsh, on_t], f, sec, cid)
                    kk = g.add(tid(l, "kproj", d, t), "comp", ["k projection", "in: " + full, "out: " + hsh, on_t], f, sec, cid)
                    v = g.add(tid(l, "vproj", d, t), "comp", ["v projection", "in: " + full, "out: " + hsh, on_t], f, sec, cid)
                    sc = g.add(tid(l, "score", d, t), "comp", ["attention scores", "in: " + hsh, "out: " + ssh, on_t], f, sec, cid)
                    sm = g.add(tid(l, "softmax", d, t), "comp", ["softmax", "in: " + ssh, "out: " + ssh, on_t], f, sec, cid)
                    ws = g.add(tid(l, "wsum", d, t), "comp", ["weighted sum", "in: %s, %s" % (ssh, hsh), "out: " + hsh, on_t], f, sec, cid)
                    op = g.add(tid(l, "oproj", d, t), "comp", ["out projection", "in: " + hsh, "out: " + full, "partial sum", on_t], f, sec, cid)
                    for a, b in [(n1, q), (n1, kk), (n1, v), (q, sc), (kk, sc), (sc, sm), (sm, ws), (v, ws), (ws, op), (op, ar)]:
                        g.edge(a, b)
                g.add(ar, "comm", ["all-reduce", "in: " + full, "out: " + full, on_all, "group: tp " + tp_groups],
                      COMM_FILL, sec, cid)
                r1 = g.add(rid(l, "res1", d), "comp", ["residual add", "in: " + full, "out: " + full, on_all],
                           SHARED_FILL, sec, cid)
                g.edge(ar, r1)
                g.edge(x, r1, SKIP)

                if moe:
                    sec = "layer %d · moe" % l + (" · replica %d" % d if dp > 1 else "")
                    n2 = g.add(rid(l, "norm2", d), "comp", ["rms norm", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                    g.edge(r1, n2)
                    ro = g.add(rid(l, "router", d), "route",
                               ["router", "in: " + full, "out: " + full, "top-%d of %d experts" % (k, E), on_all],
                               ROUTE_FILL, sec, cid)
                    g.edge(n2, ro)
                    dsp = g.add(rid(l, "dispatch", d), "comm",
                                ["all-to-all dispatch", "in: " + full, "out: " + esh, on_all,
                                 "group: ep ranks 0..%d %s" % (ep - 1, tp_groups)], COMM_FILL, sec, cid)
                    g.edge(ro, dsp, ROUTE_EDGE)
                    cmb = rid(l, "combine", d)
                    for xx in range(E):
                        e = xx // (E // ep)
                        extra = "ep rank %d" % e
                        if tp > 1:
                            extra += " · ffn %d d = %d × %d d over tp, reduced inside" % (ffn, tp, ffn // tp)
                        else:
                            extra += " · ffn %d d" % ffn
                        ex = g.add(xid(l, xx, d, e), "comp",
                                   ["expert %d ffn" % xx, "in: " + esh, "out: " + esh, "on " + gpus(ep_g(e)), extra],
                                   EP_FILL[e % 4], sec, cid)
                        g.edge(dsp, ex)
                        g.edge(ex, cmb)
                    g.add(cmb, "comm", ["all-to-all combine", "in: " + esh, "out: " + slots, on_all,
                                        "group: ep ranks 0..%d %s" % (ep - 1, tp_groups)], COMM_FILL, sec, cid)
                    mix = g.add(rid(l, "mix", d), "route", ["top-%d combine" % k, "in: " + slots, "out: " + full, on_all],
                                ROUTE_FILL, sec, cid)
                    g.edge(cmb, mix)
                    r2 = g.add(rid(l, "res2", d), "comp", ["residual add", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                    g.edge(mix, r2)
                    g.edge(r1, r2, SKIP)
                else:
                    sec = "layer %d · mlp" % l + (" · replica %d" % d if dp > 1 else "")
                    n2 = g.add(rid(l, "norm2", d), "comp", ["rms norm", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                    g.edge(r1, n2)
                    mar = rid(l, "mlpallreduce", d)
                    fsh = "%d seq × %d tok × %d ffn" % (B, S, ffn // tp)
                    for t in range(tp):
                        on_t = "on " + gpus(tp_g(t))
                        f = TP_FILL[t % 4]
                        up = g.add(tid(l, "up", d, t), "comp", ["up projection", "in: " + full, "out: " + fsh, on_t], f, sec, cid)
                        ac = g.add(tid(l, "gelu", d, t), "comp", ["gelu", "in: " + fsh, "out: " + fsh, on_t], f, sec, cid)
                        dn = g.add(tid(l, "down", d, t), "comp", ["down projection", "in: " + fsh, "out: " + full, "partial sum", on_t], f, sec, cid)
                        for a, b in [(n2, up), (up, ac), (ac, dn), (dn, mar)]:
                            g.edge(a, b)
                    g.add(mar, "comm", ["all-reduce", "in: " + full, "out: " + full, on_all, "group: tp " + tp_groups],
                          COMM_FILL, sec, cid)
                    r2 = g.add(rid(l, "res2", d), "comp", ["residual add", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                    g.edge(mar, r2)
                    g.edge(r1, r2, SKIP)
                x = r2

            if s == pp - 1:
                sec = "head" + (" · replica %d" % d if dp > 1 else "")
                vsh = "%d seq × %d tok × %d vocab" % (B, S, V)
                fn = g.add(gid("fnorm", d), "comp", ["final rms norm", "in: " + full, "out: " + full, on_all], SHARED_FILL, sec, cid)
                lm = g.add(gid("lmhead", d), "comp", ["lm head", "in: " + full, "out: " + vsh, on_all], SHARED_FILL, sec, cid)
                no = g.add(gid("out", d), "out", ["output", "in: " + vsh, on_all], IO_FILL, sec, cid)
                g.edge(x, fn)
                g.edge(fn, lm)
                g.edge(lm, no)
            prev_all = allg
    return g


# the three clean deployments
CFG = {
    "clean_1.dot": dict(name="bk_moe_ep2_tp2_pp2", E=8, k=2, ep=2, tp=2, pp=2, dp=1, L=4,
                        B=4, S=1024, H=2048, heads=16, hd=128, ffn=5632),
    "clean_2.dot": dict(name="bk_moe_ep4_tp4", E=16, k=2, ep=4, tp=4, pp=1, dp=1, L=2,
                        B=8, S=512, H=4096, heads=32, hd=128, ffn=1536),
    "clean_3.dot": dict(name="bk_dense_tp2_dp2", E=0, ep=1, tp=2, pp=1, dp=2, L=3,
                        B=4, S=512, H=1024, heads=16, hd=64, ffn=4096),
}
SUMMARY = {
    "clean_1.dot": "moe 8x | ep 2 · tp 2 · pp 2 · dp 1 on gpu0..gpu7: 4 layers (stage 0 layers 0..1 on gpu0..gpu3, "
                   "stage 1 layers 2..3 on gpu4..gpu7, joined by send/recv n_1_sendrecv), hidden 2048 = 16 heads × 128 d, "
                   "8 heads per TP rank, 4 experts per EP rank, top-2 of 8",
    "clean_2.dot": "moe 16x | ep 4 · tp 4 · pp 1 · dp 1 on gpu0..gpu15: 2 layers in one stage, hidden 4096 = 32 heads × 128 d, "
                   "8 heads per TP rank, 4 experts per EP rank (EP rank e on gpu4e..gpu4e+3), top-2 of 16",
    "clean_3.dot": "dense | ep 1 · tp 2 · pp 1 · dp 2 on gpu0..gpu3: both replicas drawn (replica 0 on gpu0,gpu1, "
                   "replica 1 on gpu2,gpu3), 3 layers, hidden 1024 = 16 heads × 64 d, 8 heads per TP rank, "
                   "column-parallel up / row-parallel down MLP with all-reduce",
}
TITLE = {
    "clean_1.dot": "moe, two pipeline stages, drawn per tp rank",
    "clean_2.dot": "moe, one stage, drawn per tp rank",
    "clean_3.dot": "dense, both data-parallel replicas drawn",
}


def base(name):
    return build(CFG[name])


def variant(name, **over):
    c = dict(CFG[name])
    c.update(over)
    return build(c)


# ---------------------------------------------------------------------------
# defects: each returns (graph, base file, offending nodes, what)
# ---------------------------------------------------------------------------

def d_cycle():
    g = base("clean_1.dot")
    g.edge("n_1_res1", "n_1_allreduce", at=g.edge_index("n_1_allreduce", "n_1_res1") + 1)
    return g, "clean_1.dot", ["n_1_allreduce", "n_1_res1"], (
        "Layer 1's attention all-reduce n_1_allreduce is drawn both ways with the residual add "
        "n_1_res1 (n_1_allreduce -> n_1_res1 and n_1_res1 -> n_1_allreduce), a two-node cycle on gpu0..gpu3 (stage 0).")


def d_dangling_input():
    g = base("clean_1.dot")
    g.remove_edge("n_1_res1", "n_1_norm2")
    return g, "clean_1.dot", ["n_1_norm2"], (
        "Layer 1's pre-MoE rms norm n_1_norm2 has no incoming edge: its input from the attention "
        "residual add n_1_res1 was removed, so the router, experts and MoE residual of layer 1 hang from nothing.")


def d_dangling_output():
    g = base("clean_2.dot")
    g.remove_edge("n_1_exp5_1", "n_1_combine")
    return g, "clean_2.dot", ["n_1_exp5_1"], (
        "Expert 5 of layer 1 (EP rank 1, gpu4..gpu7) has no outgoing edge: its output never reaches "
        "the all-to-all combine n_1_combine, while the other 15 experts do.")


def d_attention_one_box():
    g = base("clean_1.dot")
    full = "4 seq × 1024 tok × 2048 d"
    ops = ["qproj", "kproj", "vproj", "score", "softmax", "wsum", "oproj"]
    new = []
    for t in range(2):
        n = g.get("n_2_qproj_%d" % t)
        nid = g.add("n_2_mha_%d" % t, "comp",
                    ["multi-head attention", "in: " + full, "out: " + full, "partial sum", n["lines"][-1]],
                    n["fill"], n["section"], n["cluster"], before="n_2_qproj_%d" % t)
        pos = g.edge_index("n_2_norm1", "n_2_qproj_%d" % t)
        for op in ops:
            g.remove_node("n_2_%s_%d" % (op, t))
        g.edge("n_2_norm1", nid, at=pos)
        g.edge(nid, "n_2_allreduce", at=pos + 1)
        new.append(nid)
    return g, "clean_1.dot", new, (
        "Layer 2's attention (stage 1) is drawn as one 'multi-head attention' box per TP rank "
        "(n_2_mha_0 on gpu4,gpu6 and n_2_mha_1 on gpu5,gpu7) instead of q/k/v projections, attention "
        "scores, softmax, weighted sum and out projection.")


def d_v_bypasses_softmax():
    g = base("clean_2.dot")
    i = g.edge_index("n_1_softmax_2", "n_1_wsum_2")
    g.remove_edge("n_1_softmax_2", "n_1_wsum_2")
    g.edge("n_1_softmax_2", "n_1_oproj_2", at=i)
    return g, "clean_2.dot", ["n_1_softmax_2", "n_1_wsum_2", "n_1_oproj_2", "n_1_vproj_2"], (
        "Layer 1, TP rank 2 (gpu2,gpu6,gpu10,gpu14): v projection n_1_vproj_2 feeds the weighted sum "
        "n_1_wsum_2 but the softmax n_1_softmax_2 does not (it goes straight to the out projection "
        "n_1_oproj_2), so V bypasses the attention probabilities.")


def d_v_into_score():
    g = base("clean_1.dot")
    i = g.edge_index("n_0_kproj_1", "n_0_score_1")
    j = g.edge_index("n_0_vproj_1", "n_0_wsum_1")
    g.edges[i][0] = "n_0_vproj_1"
    g.edges[j][0] = "n_0_kproj_1"
    return g, "clean_1.dot", ["n_0_vproj_1", "n_0_kproj_1", "n_0_score_1", "n_0_wsum_1"], (
        "Layer 0, TP rank 1 (gpu1,gpu3): v projection n_0_vproj_1 is wired into the attention scores "
        "n_0_score_1 instead of k projection n_0_kproj_1, and K feeds the weighted sum n_0_wsum_1 (K and V swapped).")


def d_qkv_into_oproj():
    g = base("clean_3.dot")
    for t in range(2):
        o = "n_1_oproj_d1t%d" % t
        for op in ["score", "softmax", "wsum"]:
            g.remove_node("n_1_%s_d1t%d" % (op, t))
        # q, k, v straight into the out projection
        qpos = g.edge_index("n_1_norm1_d1", "n_1_vproj_d1t%d" % t) + 1
        for m, op in enumerate(["qproj", "kproj", "vproj"]):
            g.edge("n_1_%s_d1t%d" % (op, t), o, at=qpos + m)
    nodes = ["n_1_%s_d1t%d" % (op, t) for t in range(2) for op in ["qproj", "kproj", "vproj", "oproj"]]
    return g, "clean_3.dot", nodes, (
        "DP replica 1, layer 1: q, k and v projections go straight into the out projection on both TP "
        "ranks (n_1_oproj_d1t0 on gpu2, n_1_oproj_d1t1 on gpu3); no attention scores, softmax or weighted sum is drawn.")


def d_head_arithmetic():
    g = base("clean_2.dot")
    touched = []
    for t in range(4):
        for op in ["qproj", "kproj", "vproj", "score", "wsum", "oproj"]:
            n = g.get("n_1_%s_%d" % (op, t))
            n["lines"] = [ln.replace("8 heads × 128 d", "8 heads × 64 d") for ln in n["lines"]]
        touched += ["n_1_qproj_%d" % t, "n_1_kproj_%d" % t, "n_1_vproj_%d" % t]
    return g, "clean_2.dot", touched, (
        "Layer 1 labels q/k/v as 8 heads × 64 d on every TP rank (8 × 64 = 512 d per rank, "
        "32 × 64 = 2048 d in total) while hidden is 4096 d (4096 / tp 4 = 1024 d per rank, 32 heads × 128 d).")


def d_tp_heads():
    g = base("clean_1.dot")
    for op in ["qproj", "kproj", "vproj", "score", "softmax", "wsum", "oproj"]:
        n = g.get("n_0_%s_0" % op)
        n["lines"] = [ln.replace("8 heads", "16 heads") for ln in n["lines"]]
    return g, "clean_1.dot", ["n_0_qproj_0", "n_0_kproj_0", "n_0_vproj_0"], (
        "Layer 0, TP rank 0 of tp 2 (gpu0,gpu2): the q/k/v projections output all 16 heads × 128 d "
        "(and scores, softmax, weighted sum follow with 16 heads) instead of 16 / 2 = 8 heads per rank.")


def d_edge_shape_mismatch():
    g = base("clean_3.dot")
    g.set_line("n_1_norm2_d0", "in:", "in: 4 seq × 512 tok × 768 d")
    return g, "clean_3.dot", ["n_1_norm2_d0", "n_1_res1_d0"], (
        "DP replica 0, layer 1: rms norm n_1_norm2_d0 expects 4 seq × 512 tok × 768 d but its producer "
        "n_1_res1_d0 outputs 1024 d (ratio 4/3, not a parallel degree).")


def d_shard_without_gather():
    g = base("clean_2.dot")
    n = g.get("n_1_allreduce")
    n["lines"] = ["reduce-scatter", "in: 8 seq × 512 tok × 4096 d", "out: 8 seq × 512 tok × 1024 d",
                  n["lines"][3], n["lines"][4]]
    g.rename("n_1_allreduce", "n_1_rscatter")
    return g, "clean_2.dot", ["n_1_rscatter", "n_1_res1"], (
        "Layer 1's row-parallel out projections are reduce-scattered (n_1_rscatter) into hidden / tp 4 = "
        "1024 d shards that go straight into the full-size (4096 d) residual add n_1_res1 with no all-gather.")


def d_stage_count():
    g = variant("clean_1.dot", decl={"pp": 3})
    return g, "clean_1.dot", [], (
        "The graph label declares pp 3 (moe 8x | ep 2 · tp 2 · pp 3 · dp 1) but only two pipeline "
        "stages are drawn (stage 0 · layers 0..1 on gpu0..gpu3, stage 1 · layers 2..3 on gpu4..gpu7).")


def d_stage_range_gap():
    g = variant("clean_1.dot", ranges=[(0, 0), (2, 3)])
    return g, "clean_1.dot", ["n_1_norm1", "n_1_res2"], (
        "Stage 0 claims layers 0..0 and stage 1 layers 2..3: layer 1 is in no stage's range (gap), "
        "although its operators (n_1_norm1 .. n_1_res2) are drawn in stage 0 on gpu0..gpu3.")


def d_stage_missing_layer():
    g = base("clean_1.dot")
    for n in [n["id"] for n in g.nodes if n["id"].startswith("n_3_")]:
        g.remove_node(n)
    g.edge("n_2_res2", "n_fnorm", at=g.edge_index("n_fnorm", "n_lmhead"))
    return g, "clean_1.dot", ["n_2_res2", "n_fnorm"], (
        "Stage 1 claims layers 2..3 but no operator of layer 3 is drawn: layer 2's residual add "
        "n_2_res2 feeds the final rms norm n_fnorm directly.")


def d_no_stage_transfer():
    g = base("clean_1.dot")
    i = g.edge_index("n_1_res2", "n_1_sendrecv")
    g.remove_node("n_1_sendrecv")
    g.edge("n_1_res2", "n_2_norm1", at=i)
    g.edge("n_1_res2", "n_2_res1", SKIP, at=i + 1)
    return g, "clean_1.dot", ["n_1_res2", "n_2_norm1", "n_2_res1"], (
        "Stage 0 (gpu0..gpu3) and stage 1 (gpu4..gpu7) are joined by plain edges from n_1_res2 to "
        "n_2_norm1 and n_2_res1; the pipeline send/recv is missing.")


def _move_expert(g, old, new_id, e, gl, fill):
    g.rename(old, new_id)
    g.set_line(new_id, "on ", "on " + gl)
    g.set_line(new_id, "ep rank", g.line(new_id, "ep rank").replace(
        g.line(new_id, "ep rank").split(" · ")[0], "ep rank %d" % e))
    g.get(new_id)["fill"] = fill


def d_experts_subset_ranks():
    g = base("clean_2.dot")
    moved = []
    for x in range(16):
        e_old = x // 4
        e_new = x // 8
        nid = "n_1_exp%d_%d" % (x, e_new)
        if e_old != e_new:
            _move_expert(g, "n_1_exp%d_%d" % (x, e_old), nid, e_new,
                         gpus(range(4 * e_new, 4 * e_new + 4)), EP_FILL[e_new])
        moved.append(nid)
    return g, "clean_2.dot", moved, (
        "Layer 1 places all 16 experts on EP ranks 0 and 1 (experts 0-7 on gpu0..gpu3, 8-15 on "
        "gpu4..gpu7); EP ranks 2 and 3 (gpu8..gpu15) hold none of its experts although ep is 4.")


def d_experts_uneven():
    g = base("clean_2.dot")
    _move_expert(g, "n_0_exp4_1", "n_0_exp4_0", 0, "gpu0..gpu3", EP_FILL[0])
    return g, "clean_2.dot", ["n_0_exp4_0"], (
        "Layer 0's expert 4 sits on EP rank 0 (gpu0..gpu3) instead of rank 1: ranks 0-3 hold 5, 3, 4, 4 "
        "experts instead of 16 / 4 = 4 each.")


def d_experts_share_gpu():
    g = base("clean_1.dot")
    g.set_line("n_1_exp5_1", "on ", "on gpu0,gpu1")
    return g, "clean_1.dot", ["n_1_exp5_1", "n_1_exp0_0", "n_1_exp1_0", "n_1_exp2_0", "n_1_exp3_0"], (
        "Layer 1's expert 5 (EP rank 1) is placed on gpu0,gpu1, which hold EP rank 0's experts 0-3, "
        "instead of EP rank 1's gpu2,gpu3.")


def d_no_gate():
    g = base("clean_2.dot")
    i = g.edge_index("n_1_norm2", "n_1_router")
    g.remove_node("n_1_router")
    g.edge("n_1_norm2", "n_1_dispatch", at=i)
    return g, "clean_2.dot", ["n_1_norm2", "n_1_dispatch"], (
        "Layer 1 has no MoE router: the rms norm n_1_norm2 goes straight into the all-to-all dispatch "
        "n_1_dispatch and on to the 16 experts.")


def d_no_all_to_all():
    g = base("clean_2.dot")
    i = g.edge_index("n_0_router", "n_0_dispatch")
    targets = [b for a, b, _ in g.edges if a == "n_0_dispatch"]
    g.remove_node("n_0_dispatch")
    for m, b in enumerate(targets):
        g.edge("n_0_router", b, ROUTE_EDGE, at=i + m)
    return g, "clean_2.dot", ["n_0_router"] + targets, (
        "Layer 0's router n_0_router sends tokens straight to the 16 experts on EP ranks 0-3 (ep 4, "
        "gpu0..gpu15) without an all-to-all dispatch.")


def d_tp_rank_missing():
    g = base("clean_2.dot")
    for op in ["qproj", "kproj", "vproj", "score", "softmax", "wsum", "oproj"]:
        g.remove_node("n_1_%s_3" % op)
    return g, "clean_2.dot", ["n_1_norm1", "n_1_allreduce"], (
        "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 "
        "(gpu3,gpu7,gpu11,gpu15) of tp 4 is missing between n_1_norm1 and n_1_allreduce.")


def d_no_allreduce_after_rowparallel():
    g = base("clean_3.dot")
    i = g.edge_index("n_0_down_d0t0", "n_0_mlpallreduce_d0")
    g.remove_node("n_0_mlpallreduce_d0")
    g.edge("n_0_down_d0t0", "n_0_res2_d0", at=i)
    g.edge("n_0_down_d0t1", "n_0_res2_d0", at=g.edge_index("n_0_gelu_d0t1", "n_0_down_d0t1") + 1)
    return g, "clean_3.dot", ["n_0_down_d0t0", "n_0_down_d0t1", "n_0_res2_d0"], (
        "DP replica 0, layer 0: the row-parallel down projections n_0_down_d0t0 (gpu0) and n_0_down_d0t1 "
        "(gpu1) feed the residual add n_0_res2_d0 directly, without the tp all-reduce of their partial sums.")


def d_cross_gpu_no_comm():
    g = base("clean_3.dot")
    i = g.edge_index("n_embed_d1", "n_0_norm1_d1")
    g.edges[i][0] = "n_embed_d0"
    return g, "clean_3.dot", ["n_embed_d0", "n_0_norm1_d1"], (
        "Replica 0's embedding n_embed_d0 on gpu0,gpu1 feeds replica 1's layer 0 rms norm n_0_norm1_d1 on "
        "gpu2,gpu3 by a plain edge, with no communication node.")


def d_comm_wrong_shape():
    g = base("clean_1.dot")
    g.get("n_2_allreduce")["kind"] = "comp"
    return g, "clean_1.dot", ["n_2_allreduce"], (
        "Layer 2's attention all-reduce n_2_allreduce (gpu4..gpu7) is drawn as a box (computation) "
        "instead of an ellipse.")


def d_missing_gpu():
    g = base("clean_1.dot")
    g.set_line("n_0_softmax_1", "on ", None)
    return g, "clean_1.dot", ["n_0_softmax_1"], (
        "Softmax of layer 0, TP rank 1 (n_0_softmax_1, should be on gpu1,gpu3) has no placement line.")


def d_gpu_out_of_range():
    g = base("clean_2.dot")
    g.set_line("n_1_exp13_3", "on ", "on gpu16..gpu19")
    return g, "clean_2.dot", ["n_1_exp13_3"], (
        "Layer 1's expert 13 (EP rank 3) is placed on gpu16..gpu19, beyond the 16 gpus of "
        "ep 4 × tp 4 × pp 1 × dp 1 (ids 0-15); it belongs on gpu12..gpu15.")


def d_stages_share_gpus():
    g = variant("clean_1.dot", stage_base={(0, 1): 2})
    return g, "clean_1.dot", ["n_2_norm1", "n_1_norm1"], (
        "Stage 1 (layers 2..3) is placed on gpu2..gpu5, overlapping stage 0's gpu0..gpu3 "
        "(gpu2, gpu3 in both); gpu6, gpu7 stay unused.")


def d_strategy_mismatch():
    g = variant("clean_1.dot", decl={"tp": 4})
    return g, "clean_1.dot", [], (
        "The graph label declares tp 4 (moe 8x | ep 2 · tp 4 · pp 2 · dp 1) but every tensor-parallel "
        "operator is drawn for TP ranks 0-1 only (tp 2, 8 heads per rank, 8 gpus instead of 16).")


def d_missing_shapes():
    g = base("clean_2.dot")
    g.set_line("n_1_oproj_1", "in:", None)
    g.set_line("n_1_oproj_1", "out:", None)
    return g, "clean_2.dot", ["n_1_oproj_1"], (
        "Out projection of layer 1, TP rank 1 (n_1_oproj_1, gpu1,gpu5,gpu9,gpu13) has no in: or out: line.")


def d_placeholder():
    g = base("clean_1.dot")
    g.set_line("n_2_router", "in:", "in: ? seq × 1024 tok × 2048 d")
    return g, "clean_1.dot", ["n_2_router"], (
        "Layer 2's router n_2_router gives its input as '? seq × 1024 tok × 2048 d', a placeholder "
        "instead of the batch of 4 seq.")


def d_moe_before_attention():
    g = base("clean_2.dot")
    # block input n_0_res2 now enters the moe half; its output enters attention
    rw = {("n_0_res2", "n_1_norm1"): ("n_0_res2", "n_1_norm2"),
          ("n_0_res2", "n_1_res1"): ("n_0_res2", "n_1_res2"),
          ("n_1_res1", "n_1_norm2"): ("n_1_res2", "n_1_norm1"),
          ("n_1_res1", "n_1_res2"): ("n_1_res2", "n_1_res1"),
          ("n_1_res2", "n_fnorm"): ("n_1_res1", "n_fnorm")}
    for e in g.edges:
        if (e[0], e[1]) in rw:
            e[0], e[1] = rw[(e[0], e[1])]
    return g, "clean_2.dot", ["n_1_norm2", "n_1_res2", "n_1_norm1", "n_1_res1"], (
        "Layer 1 runs its MoE block (n_1_norm2, router, 16 experts, n_1_res2) before its attention block: "
        "the layer input from n_0_res2 goes to n_1_norm2, the MoE residual n_1_res2 feeds n_1_norm1, and the "
        "attention residual n_1_res1 feeds the final norm.")


def d_missing_residual():
    g = base("clean_1.dot")
    g.remove_edge("n_0_res2", "n_1_res1")
    return g, "clean_1.dot", ["n_1_res1", "n_0_res2"], (
        "Layer 1's attention residual add n_1_res1 is fed only by the all-reduce n_1_allreduce; the skip "
        "edge from the layer input n_0_res2 is missing.")


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


def all_graphs():
    """[(file, graph, manifest entry)]"""
    res = []
    for f in CFG:
        res.append((f, base(f), {"file": f, "kind": "clean", "category": None, "base": None,
                                 "nodes": [], "what": "Correct deployment, " + SUMMARY[f] + "."}))
    for kind, cat, fn in DEFECTS:
        g, b, nodes, what = fn()
        f = "defect_%s.dot" % kind
        res.append((f, g, {"file": f, "kind": kind, "category": cat, "base": b,
                           "nodes": nodes, "what": what}))
    return res


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "out")
    os.makedirs(out, exist_ok=True)
    manifest = []
    for f, g, m in all_graphs():
        title = TITLE.get(f) or TITLE[m["base"]]
        with open(os.path.join(out, f), "w", encoding="utf-8") as fh:
            fh.write(g.emit(title))
        manifest.append(m)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest), out))


if __name__ == "__main__":
    main()
