#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in the "math-label" house style (style_bd).

Run `python3 gen.py` in this folder; it writes out/clean_*.dot, out/defect_*.dot and
out/manifest.json.  Stdlib only.

House style
-----------
* Label line 1: an equation naming the operator's output (`Q = H·W_q`, `Ȳ = AllReduce(Y)`).
  One operator per node.
* Line 2: output tensor set `∈ ℝ^{4×1024×4096}`; line 3: inputs `from ℝ^{..}, ℝ^{..}`.
* Line 4: placement `GPU 3`, `GPUs 0–3` or `GPUs 0, 2`.
* Ids `n_L2_Q_r1` (`n_d1_L2_Q_r1` when DP replicas are drawn).
* Strategy only in a `//` comment line: `// EP=2 TP=2 PP=2 DP=1`.
* Stages as clusters labelled `stage 0: layers 0–1`.
* Own quirk 1: every node ends with a context tag `⟨layer 1 · TP rank 0 of 2 · heads 0–15⟩`.
* Own quirk 2: the graph label is a notation table (B, S, H, h×d, E, top-k, T_e and how to read
  shapes), and colours are fixed by kind (paper boxes, amber routing, blue collectives, grey
  pipeline p2p, green I/O; router edges dashed, residual skip edges bold grey), with `// ──`
  section comments.
"""
import copy
import json
import os
import re
import subprocess

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def sub(i):
    return str(i).translate(SUB)


def R(*dims):
    return "ℝ^{" + "×".join(str(x) for x in dims) + "}"


def N(*dims):
    return "ℕ^{" + "×".join(str(x) for x in dims) + "}"


def gpus_fmt(gs):
    gs = sorted(set(gs))
    if len(gs) == 1:
        return "GPU %d" % gs[0]
    if gs == list(range(gs[0], gs[-1] + 1)):
        return "GPUs %d–%d" % (gs[0], gs[-1])
    return "GPUs " + ", ".join(str(x) for x in gs)


def rng(a, b):
    return "%d–%d" % (a, b) if a != b else "%d" % a


COL = {
    "box": "#f6f2e8",
    "parallelogram": "#fde7b0",
    "ellipse": "#cfe4f6",
    "p2p": "#dcdcdc",
    "io": "#dcefd6",
}


class Graph:
    def __init__(self, strategy, label):
        self.strategy = strategy  # the // comment line text
        self.label = label  # notation table (list of lines)
        self.nodes = {}  # id -> dict(shape, eq, out, frm, gpu, tag, cluster, sec, color)
        self.order = []
        self.edges = []  # [src, dst, attrs, sec]
        self.clusters = []  # [cid, label]

    def node(self, nid, shape, eq, out, frm, gpu, tag, cluster, sec, color=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, eq=eq, out=out, frm=frm, gpu=gpu, tag=tag,
                               cluster=cluster, sec=sec,
                               color=color or COL.get(shape, COL["box"]))
        self.order.append(nid)
        return nid

    def edge(self, a, b, attrs="", sec=None):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs, sec if sec is not None else self.nodes[b]["sec"]])

    # --- mutation helpers for defects ---
    def find_edge(self, a, b):
        for i, e in enumerate(self.edges):
            if e[0] == a and e[1] == b:
                return i
        raise KeyError((a, b))

    def del_edge(self, a, b):
        del self.edges[self.find_edge(a, b)]

    def replace_edge(self, a, b, na, nb, attrs=None):
        i = self.find_edge(a, b)
        self.edges[i][0], self.edges[i][1] = na, nb
        if attrs is not None:
            self.edges[i][2] = attrs

    def insert_edge_after(self, a, b, na, nb, attrs=""):
        i = self.find_edge(a, b)
        self.edges.insert(i + 1, [na, nb, attrs, self.edges[i][3]])

    def del_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def rename(self, old, new):
        i = self.order.index(old)
        self.order[i] = new
        self.nodes[new] = self.nodes.pop(old)
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def insert_node_after(self, after, nid, **kw):
        self.node(nid, **kw)
        self.order.remove(nid)
        self.order.insert(self.order.index(after) + 1, nid)

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # --- output ---
    @staticmethod
    def q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def node_label(self, n):
        lines = [n["eq"]]
        if n["out"]:
            lines.append("∈ " + n["out"])
        if n["frm"]:
            lines.append("from " + n["frm"])
        if n["gpu"]:
            lines.append(n["gpu"])
        if n["tag"]:
            lines.append("⟨" + n["tag"] + "⟩")
        return "\\n".join(x.replace('"', '\\"') for x in lines)

    def node_line(self, nid, indent):
        n = self.nodes[nid]
        attrs = ['label="%s"' % self.node_label(n)]
        if n["shape"] != "box":
            attrs.append("shape=%s" % n["shape"])
        if n["color"] != COL["box"]:
            attrs.append('fillcolor="%s"' % n["color"])
        return "%s%s [%s];" % (indent, nid, ", ".join(attrs))

    def dot(self):
        L = []
        L.append("// " + self.strategy)
        L.append("// forward pass, one token batch; every shape is the tensor a node produces over all")
        L.append("// GPUs it names. Notation in the graph label.")
        L.append("digraph forward_pass {")
        L.append("  graph [rankdir=TB, newrank=true, fontname=\"DejaVu Serif\", labelloc=t, labeljust=l,")
        L.append("         label=\"" + "\\l".join(self.label) + "\\l\"];")
        L.append("  node  [shape=box, style=filled, fillcolor=\"%s\", fontname=\"DejaVu Serif\", fontsize=10];"
                 % COL["box"])
        L.append("  edge  [arrowsize=0.7];")
        L.append("")

        def emit_nodes(ids, indent):
            sec = None
            for nid in ids:
                s = self.nodes[nid]["sec"]
                if s != sec:
                    L.append("%s// ── %s ──" % (indent, s))
                    sec = s
                L.append(self.node_line(nid, indent))

        for cid, clabel in self.clusters:
            ids = [i for i in self.order if self.nodes[i]["cluster"] == cid]
            L.append("  subgraph %s {" % cid)
            L.append("    label=\"%s\"; style=rounded; color=\"#7f7f7f\";" % clabel)
            emit_nodes(ids, "    ")
            L.append("  }")
            L.append("")
        root = [i for i in self.order if self.nodes[i]["cluster"] is None]
        if root:
            emit_nodes(root, "  ")
            L.append("")
        sec = None
        for a, b, attrs, s in self.edges:
            if s != sec:
                L.append("  // ── edges: %s ──" % s)
                sec = s
            L.append("  %s -> %s%s;" % (a, b, (" [" + attrs + "]") if attrs else ""))
        L.append("}")
        return "\n".join(L) + "\n"


DASH = 'style=dashed, color="#b07a00"'
SKIP = 'style=bold, color="#8a8a8a"'


def build(c):
    """c: dict with ep, tp, pp, dp, layers, B, S, H, heads, d, E, k, V, dense, F, title."""
    EP, TP, PP, DP = c["ep"], c["tp"], c["pp"], c["dp"]
    B, S, H, heads, d, V = c["B"], c["S"], c["H"], c["heads"], c["d"], c["V"]
    assert heads * d == H and heads % TP == 0
    hr = heads // TP
    nl = c["layers"]
    dense = c["dense"]
    strategy = "EP=%d TP=%d PP=%d DP=%d" % (EP, TP, PP, DP)
    lab = [c["title"],
           "Notation: B = %d sequences%s, S = %d tokens, H = %d hidden, h = %d heads × d = %d, vocab %d."
           % (B, " per DP replica" if DP > 1 else "", S, H, heads, d, V)]
    if not dense:
        E, k = c["E"], c["k"]
        Te = B * S * k // E
        lab.append("MoE: E = %d experts per layer, top-%d routing, T_e = B·S·%d/E = %d tokens per expert "
                   "(capacity factor 1)." % (E, k, k, Te))
        lab.append("Attention runs data-parallel over the EP ranks (B/%d sequences each) and "
                   "tensor-parallel inside each rank's GPU group." % EP)
    else:
        F = c["F"]
        lab.append("Dense MLP: F = %d intermediate, column-parallel W_up, row-parallel W_down." % F)
    lab.append("Shapes: B×S×H activations, B×S×h×d per-head tensors, B×h×S×S scores; "
               "'partial Σ' = unreduced row-parallel sum.")
    g = Graph(strategy, lab)

    per_stage = nl // PP
    assert per_stage * PP == nl

    for dp in range(DP):
        pre = "n_d%d_" % dp if DP > 1 else "n_"
        dtag = "DP replica %d · " % dp if DP > 1 else ""
        gbase = dp * PP * EP * TP

        def sg(s):
            b = gbase + s * EP * TP
            return list(range(b, b + EP * TP))

        for s in range(PP):
            cid = "cluster_%sstage%d" % ("dp%d_" % dp if DP > 1 else "", s)
            lo, hi = s * per_stage, (s + 1) * per_stage - 1
            g.clusters.append([cid, "%sstage %d: layers %s" % (("DP replica %d · " % dp) if DP > 1 else "",
                                                                 s, rng(lo, hi))])
        prev = None
        for s in range(PP):
            cid = g.clusters[dp * PP + s][0]
            G_all = sg(s)
            gfmt = gpus_fmt(G_all)
            base = G_all[0]
            if s == 0:
                sec = dtag + "input and embedding"
                g.node(pre + "Input", "invhouse", "Input T", N(B, S), None, gfmt,
                       dtag + "token ids", cid, sec, COL["io"])
                g.node(pre + "Embed", "box", "X = Embed(T)", R(B, S, H), N(B, S), gfmt,
                       dtag + "replicated", cid, sec)
                g.edge(pre + "Input", pre + "Embed")
                prev = pre + "Embed"
            else:
                sec = dtag + "pipeline transfer stage %d → stage %d" % (s - 1, s)
                p2p = g.node(pre + "P2P_s%ds%d" % (s - 1, s), "ellipse", "X = SendRecv(X'')",
                             R(B, S, H), R(B, S, H),
                             "GPUs %s → %s" % (rng(sg(s - 1)[0], sg(s - 1)[-1]), rng(G_all[0], G_all[-1])),
                             dtag + "stage %d → stage %d · point-to-point" % (s - 1, s), None, sec, COL["p2p"])
                g.edge(prev, p2p)
                prev = p2p
            for l in range(s * per_stage, (s + 1) * per_stage):
                Lp = pre + "L%d_" % l
                lt = dtag + "layer %d" % l
                sec = lt + " · attention"
                X = prev
                n1 = g.node(Lp + "Norm1", "box", "H = RMSNorm(X)", R(B, S, H), R(B, S, H), gfmt,
                            lt + " · replicated", cid, sec)
                g.edge(X, n1)
                Ys = []
                for t in range(TP):
                    ag = [base + e * TP + t for e in range(EP)]
                    af = gpus_fmt(ag)
                    ht = lt + " · TP rank %d of %d · heads %s" % (t, TP, rng(t * hr, (t + 1) * hr - 1))
                    q = g.node(Lp + "Q_r%d" % t, "box", "Q = H·W_q", R(B, S, hr, d), R(B, S, H), af, ht, cid, sec)
                    kk = g.node(Lp + "K_r%d" % t, "box", "K = H·W_k", R(B, S, hr, d), R(B, S, H), af, ht, cid, sec)
                    v = g.node(Lp + "V_r%d" % t, "box", "V = H·W_v", R(B, S, hr, d), R(B, S, H), af, ht, cid, sec)
                    sc = g.node(Lp + "S_r%d" % t, "box", "S = Q·Kᵀ/√d", R(B, hr, S, S),
                                R(B, S, hr, d) + ", " + R(B, S, hr, d), af, ht, cid, sec)
                    p = g.node(Lp + "P_r%d" % t, "box", "P = softmax(S)", R(B, hr, S, S), R(B, hr, S, S),
                               af, ht, cid, sec)
                    o = g.node(Lp + "O_r%d" % t, "box", "O = P·V", R(B, S, hr, d),
                               R(B, hr, S, S) + ", " + R(B, S, hr, d), af, ht, cid, sec)
                    y = g.node(Lp + "Y_r%d" % t, "box", "Y = O·W_o", R(B, S, H), R(B, S, hr, d), af,
                               lt + " · TP rank %d of %d · row-parallel, partial Σ" % (t, TP), cid, sec)
                    for a, b in [(n1, q), (n1, kk), (n1, v), (q, sc), (kk, sc), (sc, p), (p, o), (v, o), (o, y)]:
                        g.edge(a, b)
                    Ys.append(y)
                groups = " ".join("{%s}" % ",".join(str(base + e * TP + t) for t in range(TP)) for e in range(EP))
                ar = g.node(Lp + "AR1", "ellipse", "Ȳ = AllReduce(Y)", R(B, S, H),
                            ", ".join([R(B, S, H)] * TP), gfmt, lt + " · TP group%s %s" %
                            ("s" if EP > 1 else "", groups), cid, sec)
                for y in Ys:
                    g.edge(y, ar)
                r1 = g.node(Lp + "Res1", "box", "X' = X + Ȳ", R(B, S, H), R(B, S, H) + ", " + R(B, S, H),
                            gfmt, lt + " · residual", cid, sec)
                g.edge(ar, r1)
                g.edge(X, r1, SKIP)
                sec = lt + (" · MLP" if dense else " · MoE")
                n2 = g.node(Lp + "Norm2", "box", "M = RMSNorm(X')", R(B, S, H), R(B, S, H), gfmt,
                            lt + " · replicated", cid, sec)
                g.edge(r1, n2)
                if dense:
                    F = c["F"]
                    Zs = []
                    for t in range(TP):
                        tg = [base + t]
                        tf = gpus_fmt(tg)
                        u = g.node(Lp + "Up_r%d" % t, "box", "U = M·W_up", R(B, S, F // TP), R(B, S, H), tf,
                                   lt + " · TP rank %d of %d · column-parallel" % (t, TP), cid, sec)
                        a_ = g.node(Lp + "Act_r%d" % t, "box", "A = GELU(U)", R(B, S, F // TP), R(B, S, F // TP),
                                    tf, lt + " · TP rank %d of %d" % (t, TP), cid, sec)
                        z = g.node(Lp + "Down_r%d" % t, "box", "Z = A·W_down", R(B, S, H), R(B, S, F // TP), tf,
                                   lt + " · TP rank %d of %d · row-parallel, partial Σ" % (t, TP), cid, sec)
                        g.edge(n2, u)
                        g.edge(u, a_)
                        g.edge(a_, z)
                        Zs.append(z)
                    ar2 = g.node(Lp + "AR2", "ellipse", "Z̄ = AllReduce(Z)", R(B, S, H),
                                 ", ".join([R(B, S, H)] * TP), gfmt, lt + " · TP group " + groups, cid, sec)
                    for z in Zs:
                        g.edge(z, ar2)
                    r2 = g.node(Lp + "Res2", "box", "X'' = X' + Z̄", R(B, S, H), R(B, S, H) + ", " + R(B, S, H),
                                gfmt, lt + " · residual", cid, sec)
                    g.edge(ar2, r2)
                    g.edge(r1, r2, SKIP)
                else:
                    E, k = c["E"], c["k"]
                    Te = B * S * k // E
                    per = E // EP
                    gate = g.node(Lp + "Gate", "parallelogram", "G = topk(softmax(M·W_g), %d)" % k, R(B, S, k),
                                  R(B, S, H), gfmt, lt + " · router, top-%d of %d experts" % (k, E), cid, sec)
                    g.edge(n2, gate)
                    dsp = g.node(Lp + "Dispatch", "ellipse", "D = AllToAll(M, G)",
                                 R(Te, H) + " per expert (D%s…D%s)" % (sub(0), sub(E - 1)),
                                 R(B, S, H) + ", " + R(B, S, k), gfmt,
                                 lt + " · dispatch over EP ranks %s" % rng(0, EP - 1), cid, sec)
                    g.edge(n2, dsp)
                    g.edge(gate, dsp, DASH)
                    ARs = []
                    for e in range(E):
                        er = e // per
                        eg = [base + er * TP + t for t in range(TP)]
                        ef = gpus_fmt(eg)
                        ex = g.node(Lp + "E%d" % e, "box", "E%s = FFN%s(D%s)" % (sub(e), sub(e), sub(e)),
                                    R(Te, H), R(Te, H), ef,
                                    lt + " · EP rank %d of %d · %sTP-sharded, partial Σ" %
                                    (er, EP, "" if TP > 1 else "not "), cid, sec)
                        g.edge(dsp, ex)
                        are = g.node(Lp + "ARE%d" % e, "ellipse", "Ē%s = AllReduce(E%s)" % (sub(e), sub(e)),
                                     R(Te, H), R(Te, H), ef,
                                     lt + " · EP rank %d · TP group {%s}" % (er, ",".join(map(str, eg))), cid, sec)
                        g.edge(ex, are)
                        ARs.append(are)
                    cmb = g.node(Lp + "Combine", "ellipse", "C = AllToAll(Ē)", R(B, S, k, H),
                                 R(Te, H) + " per expert (Ē%s…Ē%s)" % (sub(0), sub(E - 1)), gfmt,
                                 lt + " · combine over EP ranks %s" % rng(0, EP - 1), cid, sec)
                    for a in ARs:
                        g.edge(a, cmb)
                    mix = g.node(Lp + "Mix", "parallelogram", "F = Σₖ G·C", R(B, S, H),
                                 R(B, S, k, H) + ", " + R(B, S, k), gfmt, lt + " · weighted by G", cid, sec)
                    g.edge(cmb, mix)
                    g.edge(gate, mix, DASH)
                    r2 = g.node(Lp + "Res2", "box", "X'' = X' + F", R(B, S, H), R(B, S, H) + ", " + R(B, S, H),
                                gfmt, lt + " · residual", cid, sec)
                    g.edge(mix, r2)
                    g.edge(r1, r2, SKIP)
                prev = r2
        # head
        s = PP - 1
        cid = g.clusters[dp * PP + s][0]
        gfmt = gpus_fmt(sg(s))
        sec = dtag + "final norm and LM head"
        fn = g.node(pre + "FinalNorm", "box", "H_f = RMSNorm(X'')", R(B, S, H), R(B, S, H), gfmt,
                    dtag + "replicated", cid, sec)
        g.edge(prev, fn)
        lm = g.node(pre + "LMHead", "box", "L = H_f·W_vocab", R(B, S, V), R(B, S, H), gfmt,
                    dtag + "replicated", cid, sec)
        g.edge(fn, lm)
        out = g.node(pre + "Output", "house", "Output L", R(B, S, V), R(B, S, V), gfmt,
                     dtag + "logits", cid, sec, COL["io"])
        g.edge(lm, out)
    return g


CFG = {
    "clean_1.dot": dict(title="MoE decoder, 4 layers, expert + tensor + pipeline parallel",
                        ep=2, tp=2, pp=2, dp=1, layers=4, B=4, S=1024, H=4096, heads=32, d=128,
                        V=32000, dense=False, E=4, k=2),
    "clean_2.dot": dict(title="MoE decoder, 2 layers, expert + tensor parallel, one stage",
                        ep=4, tp=2, pp=1, dp=1, layers=2, B=8, S=512, H=2048, heads=16, d=128,
                        V=50304, dense=False, E=8, k=2),
    "clean_3.dot": dict(title="Dense decoder, 2 layers, tensor parallel, both data-parallel replicas drawn",
                        ep=1, tp=2, pp=1, dp=2, layers=2, B=2, S=2048, H=3072, heads=24, d=128,
                        V=32000, dense=True, F=8192),
}


# ---------------------------------------------------------------- self check (clean files only)
SHP = re.compile(r"[ℝℕ]\^\{([^}]*)\}")


def shapes(s):
    return [tuple(m.group(1).split("×")) for m in SHP.finditer(s or "")]


def gpuset(s):
    if not s:
        return set()
    body = s.split(" ", 1)[1]
    out = set()
    for part in re.split(r",\s*|\s*→\s*", body):
        if "–" in part:
            a, b = part.split("–")
            out |= set(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def selfcheck(g, c):
    ids = set(g.nodes)
    total = c["ep"] * c["tp"] * c["pp"] * c["dp"]
    # acyclic
    indeg = {i: 0 for i in ids}
    for a, b, _, _ in g.edges:
        indeg[b] += 1
    st = [i for i in ids if indeg[i] == 0]
    seen = 0
    while st:
        x = st.pop()
        seen += 1
        for y in g.succs(x):
            indeg[y] -= 1
            if indeg[y] == 0:
                st.append(y)
    assert seen == len(ids), "cycle"
    for i in ids:
        n = g.nodes[i]
        if not g.preds(i):
            assert i.endswith("Input"), ("source", i)
        if not g.succs(i):
            assert i.endswith("Output"), ("sink", i)
        assert n["gpu"] and n["out"], i
        if not i.endswith("Input"):
            assert n["frm"], i
        assert gpuset(n["gpu"]) <= set(range(total)), i
    for a, b, _, _ in g.edges:
        oa = shapes(g.nodes[a]["out"])[0]
        assert oa in shapes(g.nodes[b]["frm"]), ("shape", a, b)
        ga, gb = gpuset(g.nodes[a]["gpu"]), gpuset(g.nodes[b]["gpu"])
        comm = g.nodes[a]["shape"] == "ellipse" or g.nodes[b]["shape"] == "ellipse"
        if not comm:
            assert gb <= ga or ga <= gb, ("cross-gpu", a, b)
            # stronger: every GPU of the consumer already holds the producer's output
            assert gb <= ga, ("cross-gpu", a, b)
    # stages disjoint
    cl = {}
    for i, n in g.nodes.items():
        if n["cluster"]:
            cl.setdefault(n["cluster"], set()).update(gpuset(n["gpu"]))
    cs = list(cl.values())
    for x in range(len(cs)):
        for y in range(x + 1, len(cs)):
            assert not (cs[x] & cs[y]), "stage overlap"


# ---------------------------------------------------------------- defects
DEFECTS = []


def defect(kind, category, base):
    def deco(f):
        DEFECTS.append((kind, category, base, f))
        return f
    return deco


@defect("cycle", "structure", "clean_1.dot")
def d_cycle(g):
    g.insert_edge_after("n_L1_AR1", "n_L1_Res1", "n_L1_Res1", "n_L1_AR1")
    return (["n_L1_AR1", "n_L1_Res1"],
            "Layer 1's attention all-reduce n_L1_AR1 and residual add n_L1_Res1 are joined both ways "
            "(n_L1_AR1 -> n_L1_Res1 and n_L1_Res1 -> n_L1_AR1), a two-node cycle on GPUs 0–3 of stage 0.")


@defect("dangling_input", "structure", "clean_1.dot")
def d_dangling_input(g):
    g.del_edge("n_L1_Res1", "n_L1_Norm2")
    return (["n_L1_Norm2"],
            "Layer 1's pre-MoE RMSNorm n_L1_Norm2 (M = RMSNorm(X')) has no incoming edge: its input from "
            "the residual add n_L1_Res1 was dropped, so the layer-1 router and dispatch are fed from nowhere.")


@defect("dangling_output", "structure", "clean_2.dot")
def d_dangling_output(g):
    g.del_edge("n_L1_ARE5", "n_L1_Combine")
    return (["n_L1_ARE5"],
            "Expert 5 of layer 1 (EP rank 2, GPUs 4–5): its reduced output n_L1_ARE5 (Ē₅ = AllReduce(E₅)) "
            "has no outgoing edge and never reaches the combine all-to-all n_L1_Combine.")


@defect("attention_one_box", "attention", "clean_1.dot")
def d_attention_one_box(g):
    L = "n_L2_"
    ids = []
    for t in range(2):
        n = g.nodes[L + "Q_r%d" % t]
        g.insert_node_after(L + "Norm1" if t == 0 else L + "Y_r0", L + "MHA_r%d" % t, shape="box",
                            eq="O = MultiHeadAttention(H)", out=R(4, 1024, 16, 128), frm=R(4, 1024, 4096),
                            gpu=n["gpu"], tag=n["tag"], cluster=n["cluster"], sec=n["sec"])
        i = g.find_edge(L + "Norm1", L + "Q_r%d" % t)
        for x in "QKVSPO":
            if x != "O":
                g.del_node(L + "%s_r%d" % (x, t))
        # keep the slot of the former Norm1 -> Q edge for Norm1 -> MHA; O is replaced by MHA
        g.edges.insert(i, [L + "Norm1", L + "MHA_r%d" % t, "", g.nodes[L + "Norm1"]["sec"]])
        g.replace_edge(L + "O_r%d" % t, L + "Y_r%d" % t, L + "MHA_r%d" % t, L + "Y_r%d" % t)
        g.del_node(L + "O_r%d" % t)
        ids.append(L + "MHA_r%d" % t)
    return (ids,
            "Layer 2's attention is drawn as one 'O = MultiHeadAttention(H)' box per TP rank (n_L2_MHA_r0 on "
            "GPUs 4, 6 and n_L2_MHA_r1 on GPUs 5, 7) instead of Q/K/V projections, scores QKᵀ/√d, softmax and "
            "the weighted sum P·V.")


@defect("v_bypasses_softmax", "attention", "clean_1.dot")
def d_v_bypass(g):
    g.replace_edge("n_L1_P_r1", "n_L1_O_r1", "n_L1_P_r1", "n_L1_Y_r1")
    return (["n_L1_P_r1", "n_L1_O_r1", "n_L1_V_r1", "n_L1_Y_r1"],
            "Layer 1, TP rank 1 (GPUs 1, 3): V n_L1_V_r1 feeds the weighted sum n_L1_O_r1 but the softmax "
            "n_L1_P_r1 does not (it goes straight to the output projection n_L1_Y_r1), so V bypasses the "
            "attention probabilities.")


@defect("v_into_score", "attention", "clean_1.dot")
def d_v_into_score(g):
    g.replace_edge("n_L0_K_r1", "n_L0_S_r1", "n_L0_V_r1", "n_L0_S_r1")
    g.replace_edge("n_L0_V_r1", "n_L0_O_r1", "n_L0_K_r1", "n_L0_O_r1")
    return (["n_L0_V_r1", "n_L0_K_r1", "n_L0_S_r1", "n_L0_O_r1"],
            "Layer 0, TP rank 1 (GPUs 1, 3): V n_L0_V_r1 is wired into the score n_L0_S_r1 (S = Q·Kᵀ/√d) "
            "instead of K, and K n_L0_K_r1 feeds the weighted sum n_L0_O_r1 (K and V swapped).")


@defect("qkv_into_oproj", "attention", "clean_3.dot")
def d_qkv_oproj(g):
    L = "n_d1_L1_"
    for t in range(2):
        for x in "SPO":
            g.del_node(L + "%s_r%d" % (x, t))
        y = L + "Y_r%d" % t
        i = g.find_edge(y, L + "AR1")
        for x in "QKV":
            g.edges.insert(i, [L + "%s_r%d" % (x, t), y, "", g.nodes[y]["sec"]])
            i += 1
    return (["n_d1_L1_Q_r0", "n_d1_L1_K_r0", "n_d1_L1_V_r0", "n_d1_L1_Y_r0",
             "n_d1_L1_Q_r1", "n_d1_L1_K_r1", "n_d1_L1_V_r1", "n_d1_L1_Y_r1"],
            "DP replica 1, layer 1: Q, K and V go straight into the output projection (n_d1_L1_Y_r0 on GPU 2, "
            "n_d1_L1_Y_r1 on GPU 3) on both TP ranks; no score, softmax or weighted sum is drawn.")


def set_attn_heads(g, L, t, hh, dd, B, S, heads_tag=None):
    for x in "QKV":
        g.nodes[L + "%s_r%d" % (x, t)]["out"] = R(B, S, hh, dd)
    g.nodes[L + "S_r%d" % t]["frm"] = R(B, S, hh, dd) + ", " + R(B, S, hh, dd)
    g.nodes[L + "S_r%d" % t]["out"] = R(B, hh, S, S)
    g.nodes[L + "P_r%d" % t]["frm"] = R(B, hh, S, S)
    g.nodes[L + "P_r%d" % t]["out"] = R(B, hh, S, S)
    g.nodes[L + "O_r%d" % t]["frm"] = R(B, hh, S, S) + ", " + R(B, S, hh, dd)
    g.nodes[L + "O_r%d" % t]["out"] = R(B, S, hh, dd)
    g.nodes[L + "Y_r%d" % t]["frm"] = R(B, S, hh, dd)
    if heads_tag:
        for x in "QKVSPO":
            n = g.nodes[L + "%s_r%d" % (x, t)]
            n["tag"] = re.sub(r"heads \d+–\d+", "heads " + heads_tag, n["tag"])


@defect("head_arithmetic", "attention", "clean_1.dot")
def d_head_arith(g):
    ids = []
    for t in range(2):
        set_attn_heads(g, "n_L2_", t, 8, 64, 4, 1024, rng(8 * t, 8 * t + 7))
        ids += ["n_L2_Q_r%d" % t, "n_L2_K_r%d" % t, "n_L2_V_r%d" % t]
    return (ids,
            "Layer 2 labels Q/K/V (and the scores, softmax and P·V after them) as 8 heads × d 64 on each of "
            "the 2 TP ranks (8×64 = 512 per rank, 16×64 = 1024 in total) while H = 4096 with 32 heads × 128, "
            "i.e. 16 heads × 128 = 2048 per TP rank.")


@defect("tp_heads", "attention", "clean_2.dot")
def d_tp_heads(g):
    set_attn_heads(g, "n_L0_", 0, 16, 128, 8, 512, "0–15")
    return (["n_L0_Q_r0", "n_L0_K_r0", "n_L0_V_r0"],
            "Layer 0, TP rank 0 of TP 2 (GPUs 0, 2, 4, 6): the Q/K/V projections output all 16 heads × 128 "
            "(2048 = the full hidden size) instead of 16/2 = 8 heads per rank, while TP rank 1 holds 8.")


@defect("edge_shape_mismatch", "shape", "clean_3.dot")
def d_edge_shape(g):
    g.nodes["n_d0_L1_Norm2"]["frm"] = R(2, 2048, 2304)
    return (["n_d0_L1_Res1", "n_d0_L1_Norm2"],
            "DP replica 0, layer 1: RMSNorm n_d0_L1_Norm2 expects H = 2304 but its producer n_d0_L1_Res1 "
            "outputs H = 3072 (ratio 4/3, not a parallel degree).")


@defect("shard_without_gather", "shape", "clean_1.dot")
def d_shard(g):
    g.rename("n_L3_AR1", "n_L3_RS1")
    n = g.nodes["n_L3_RS1"]
    n["eq"] = "Ȳ = ReduceScatter(Y)"
    n["out"] = R(4, 1024, 2048)
    return (["n_L3_RS1", "n_L3_Res1"],
            "Layer 3's row-parallel attention output is reduce-scattered (n_L3_RS1) into H/TP = 4096/2 = 2048 "
            "shards that go straight into the full-size (H = 4096) residual add n_L3_Res1 with no all-gather.")


@defect("stage_count", "pipeline", "clean_1.dot")
def d_stage_count(g):
    g.strategy = "EP=2 TP=2 PP=3 DP=1"
    return ([],
            "The strategy comment declares PP=3 but two pipeline stages are drawn (stage 0: layers 0–1 on "
            "GPUs 0–3, stage 1: layers 2–3 on GPUs 4–7).")


@defect("stage_range_gap", "pipeline", "clean_1.dot")
def d_stage_gap(g):
    g.clusters[0][1] = "stage 0: layers 0–0"
    return (["n_L1_Norm1"],
            "Stage 0 claims layers 0–0 and stage 1 layers 2–3: layer 1 is in no stage's range (gap), although "
            "its operators (n_L1_Norm1 … n_L1_Res2) are drawn in stage 0.")


@defect("stage_missing_layer", "pipeline", "clean_1.dot")
def d_stage_missing(g):
    for i in [i for i in g.order if i.startswith("n_L3_")]:
        g.del_node(i)
    g.edges.insert(g.find_edge("n_FinalNorm", "n_LMHead"),
                   ["n_L2_Res2", "n_FinalNorm", "", g.nodes["n_FinalNorm"]["sec"]])
    return (["n_L2_Res2", "n_FinalNorm"],
            "Stage 1 claims layers 2–3 but no operator of layer 3 is drawn: layer 2's residual n_L2_Res2 "
            "feeds the final norm n_FinalNorm directly.")


@defect("no_stage_transfer", "pipeline", "clean_1.dot")
def d_no_transfer(g):
    g.replace_edge("n_P2P_s0s1", "n_L2_Norm1", "n_L1_Res2", "n_L2_Norm1")
    g.replace_edge("n_P2P_s0s1", "n_L2_Res1", "n_L1_Res2", "n_L2_Res1")
    g.del_node("n_P2P_s0s1")
    return (["n_L1_Res2", "n_L2_Norm1", "n_L2_Res1"],
            "Stage 0 (GPUs 0–3) and stage 1 (GPUs 4–7) are joined by plain edges from n_L1_Res2 to "
            "n_L2_Norm1 and n_L2_Res1; the pipeline send/recv is missing.")


def move_expert(g, L, e, gpus, rank, ep, tp_sharded=True):
    ex, are = g.nodes[L + "E%d" % e], g.nodes[L + "ARE%d" % e]
    ex["gpu"] = are["gpu"] = gpus_fmt(gpus)
    if rank is not None:
        ex["tag"] = re.sub(r"EP rank \d+ of", "EP rank %d of" % rank, ex["tag"])
        are["tag"] = re.sub(r"EP rank \d+ ·", "EP rank %d ·" % rank, are["tag"])
    are["tag"] = re.sub(r"TP group \{[^}]*\}", "TP group {%s}" % ",".join(map(str, gpus)), are["tag"])


@defect("experts_subset_ranks", "expert", "clean_2.dot")
def d_subset(g):
    for e in range(8):
        r = e // 4
        move_expert(g, "n_L1_", e, [2 * r, 2 * r + 1], r, 4)
    return (["n_L1_E%d" % e for e in range(8)],
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0–3 on GPUs 0–1, 4–7 on GPUs 2–3); "
            "EP ranks 2 and 3 (GPUs 4–7) hold none of its experts although EP=4.")


@defect("experts_uneven", "expert", "clean_2.dot")
def d_uneven(g):
    move_expert(g, "n_L0_", 3, [0, 1], 0, 4)
    return (["n_L0_E3", "n_L0_ARE3"],
            "Layer 0's expert 3 sits on EP rank 0 (GPUs 0–1) instead of rank 1 (GPUs 2–3): ranks 0–3 hold "
            "3, 1, 2, 2 experts instead of 8/4 = 2 each.")


@defect("experts_share_gpu", "expert", "clean_2.dot")
def d_share(g):
    for e in (2, 3):
        move_expert(g, "n_L1_", e, [1, 2], None, 4)
    return (["n_L1_E2", "n_L1_E3", "n_L1_E0", "n_L1_E1"],
            "Layer 1's EP rank 1 experts 2 and 3 are placed on GPUs 1–2 (off by one) instead of 2–3, so GPU 1 "
            "holds experts of EP rank 0 (experts 0 and 1, GPUs 0–1) and EP rank 1 at once.")


@defect("no_gate", "expert", "clean_2.dot")
def d_no_gate(g):
    g.del_node("n_L1_Gate")
    return (["n_L1_Norm2", "n_L1_Dispatch"],
            "Layer 1 has no MoE router (no G = topk(softmax(M·W_g), 2) node): the RMSNorm output n_L1_Norm2 "
            "goes straight into the dispatch all-to-all n_L1_Dispatch and on to the 8 experts.")


@defect("no_all_to_all", "expert", "clean_2.dot")
def d_no_a2a(g):
    i = g.find_edge("n_L1_Dispatch", "n_L1_E0")
    for e in range(8):
        g.replace_edge("n_L1_Dispatch", "n_L1_E%d" % e, "n_L1_Gate", "n_L1_E%d" % e)
    g.del_node("n_L1_Dispatch")
    return (["n_L1_Gate"] + ["n_L1_E%d" % e for e in range(8)],
            "Layer 1's router n_L1_Gate sends tokens straight to the experts n_L1_E0…n_L1_E7 on EP ranks 0–3 "
            "(EP=4, GPUs 0–7) without a dispatch all-to-all.")


@defect("tp_rank_missing", "tensor", "clean_2.dot")
def d_tp_missing(g):
    for x in "QKVSPOY":
        g.del_node("n_L1_%s_r1" % x)
    return (["n_L1_AR1"],
            "Layer 1's attention operators are drawn for TP rank 0 only (GPUs 0, 2, 4, 6); TP rank 1 "
            "(GPUs 1, 3, 5, 7) of TP 2 is missing, and the all-reduce n_L1_AR1 gets one partial sum.")


@defect("no_allreduce_after_rowparallel", "tensor", "clean_3.dot")
def d_no_ar(g):
    g.replace_edge("n_d0_L0_Down_r0", "n_d0_L0_AR2", "n_d0_L0_Down_r0", "n_d0_L0_Res2")
    g.replace_edge("n_d0_L0_Down_r1", "n_d0_L0_AR2", "n_d0_L0_Down_r1", "n_d0_L0_Res2")
    g.del_node("n_d0_L0_AR2")
    return (["n_d0_L0_Down_r0", "n_d0_L0_Down_r1", "n_d0_L0_Res2"],
            "DP replica 0, layer 0: the row-parallel MLP down projections n_d0_L0_Down_r0 (GPU 0) and "
            "n_d0_L0_Down_r1 (GPU 1) feed the residual add n_d0_L0_Res2 directly, without the TP all-reduce "
            "of their partial sums.")


@defect("cross_gpu_no_comm", "communication", "clean_3.dot")
def d_cross(g):
    g.replace_edge("n_d1_Embed", "n_d1_L0_Norm1", "n_d0_Embed", "n_d1_L0_Norm1")
    return (["n_d0_Embed", "n_d1_L0_Norm1"],
            "n_d0_Embed on GPUs 0–1 (DP replica 0) feeds n_d1_L0_Norm1 on GPUs 2–3 (DP replica 1) by a plain "
            "edge, with no communication node.")


@defect("comm_wrong_shape", "communication", "clean_1.dot")
def d_comm_shape(g):
    g.nodes["n_L2_AR1"]["shape"] = "box"
    g.nodes["n_L2_AR1"]["color"] = COL["box"]
    return (["n_L2_AR1"],
            "Layer 2's attention all-reduce n_L2_AR1 (Ȳ = AllReduce(Y)) is drawn as a box (computation) "
            "instead of an ellipse.")


@defect("missing_gpu", "gpu", "clean_1.dot")
def d_missing_gpu(g):
    g.nodes["n_L0_P_r1"]["gpu"] = None
    return (["n_L0_P_r1"], "Softmax n_L0_P_r1 of layer 0, TP rank 1 has no GPU line.")


@defect("gpu_out_of_range", "gpu", "clean_2.dot")
def d_oor(g):
    move_expert(g, "n_L1_", 5, [8, 9], None, 4)
    return (["n_L1_E5", "n_L1_ARE5"],
            "Layer 1's expert 5 (and its all-reduce) is placed on GPUs 8–9, beyond the 8 GPUs of "
            "EP 4 × TP 2 × PP 1 × DP 1 (ids 0–7).")


@defect("stages_share_gpus", "gpu", "clean_1.dot")
def d_share_stage(g):
    def shift(s):
        return re.sub(r"\d+", lambda m: str(int(m.group()) - 2), s)
    for i, n in g.nodes.items():
        if n["cluster"] == "cluster_stage1":
            n["gpu"] = shift(n["gpu"])
            n["tag"] = re.sub(r"\{[^}]*\}", lambda m: shift(m.group()), n["tag"])
    p = g.nodes["n_P2P_s0s1"]
    p["gpu"] = "GPUs 0–3 → 2–5"
    return (["n_P2P_s0s1", "n_L2_Norm1"],
            "Stage 1 is placed on GPUs 2–5, overlapping stage 0's GPUs 0–3 (GPUs 2–3 in both).")


@defect("strategy_mismatch", "strategy", "clean_2.dot")
def d_strategy(g):
    g.strategy = "EP=4 TP=4 PP=1 DP=1"
    return ([],
            "The strategy comment declares TP=4 (16 GPUs) but every tensor-parallel operator is drawn for TP "
            "ranks 0–1 only (TP 2, GPUs 0–7).")


@defect("missing_shapes", "annotation", "clean_1.dot")
def d_missing_shapes(g):
    g.nodes["n_L2_Y_r1"]["out"] = None
    g.nodes["n_L2_Y_r1"]["frm"] = None
    return (["n_L2_Y_r1"], "Output projection n_L2_Y_r1 of layer 2, TP rank 1 has no ∈ (output) or from "
                           "(input) line.")


@defect("placeholder", "annotation", "clean_1.dot")
def d_placeholder(g):
    g.nodes["n_L2_Gate"]["frm"] = "ℝ^{?×1024×4096}"
    return (["n_L2_Gate"], "Layer 2's MoE router n_L2_Gate gives its input as ℝ^{?×1024×4096}, a "
                           "placeholder batch instead of B = 4.")


@defect("moe_before_attention", "structure", "clean_2.dot")
def d_moe_first(g):
    g.replace_edge("n_L0_Res2", "n_L1_Norm1", "n_L0_Res2", "n_L1_Norm2")
    g.replace_edge("n_L0_Res2", "n_L1_Res1", "n_L0_Res2", "n_L1_Res2")
    g.replace_edge("n_L1_Res1", "n_L1_Norm2", "n_L1_Res2", "n_L1_Norm1")
    g.replace_edge("n_L1_Res1", "n_L1_Res2", "n_L1_Res2", "n_L1_Res1")
    g.replace_edge("n_L1_Res2", "n_FinalNorm", "n_L1_Res1", "n_FinalNorm")
    return (["n_L1_Norm2", "n_L1_Res2", "n_L1_Norm1", "n_L1_Res1"],
            "Layer 1 runs its MoE block (n_L1_Norm2, router, dispatch, 8 experts, combine, n_L1_Res2) before "
            "its attention block: the layer input n_L0_Res2 goes to n_L1_Norm2 and the MoE residual n_L1_Res2 "
            "feeds n_L1_Norm1, while n_L1_Res1 feeds the final norm.")


@defect("missing_residual", "structure", "clean_1.dot")
def d_missing_res(g):
    g.del_edge("n_L0_Res2", "n_L1_Res1")
    return (["n_L1_Res1"],
            "Layer 1's attention residual add n_L1_Res1 (X' = X + Ȳ) is fed only by the all-reduce n_L1_AR1; "
            "the skip edge from the layer input n_L0_Res2 is missing.")


SKIPPED = []  # every kind can be drawn in this style


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = []
    cleans = {}
    for name, c in CFG.items():
        g = build(c)
        selfcheck(g, c)
        cleans[name] = g
        with open(os.path.join(OUT, name), "w") as fh:
            fh.write(g.dot())
        manifest.append({"file": name, "kind": "clean", "category": None, "base": None, "nodes": [],
                         "what": "Correct deployment: %s (%s, %d GPUs)." %
                                 (c["title"], "EP=%d TP=%d PP=%d DP=%d" % (c["ep"], c["tp"], c["pp"], c["dp"]),
                                  c["ep"] * c["tp"] * c["pp"] * c["dp"])})
    for kind, cat, base, f in DEFECTS:
        g = copy.deepcopy(cleans[base])
        nodes, what = f(g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(g.dot())
        manifest.append({"file": fn, "kind": kind, "category": cat, "base": base, "nodes": nodes,
                         "what": what})
    for kind, cat, why in SKIPPED:
        manifest.append({"file": None, "kind": kind, "category": cat, "skipped": True,
                         "what": "SKIPPED. " + why})
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    bad = 0
    for m in manifest:
        if m["file"]:
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, m["file"])],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or r.stderr.strip():
                bad += 1
                print("DOT problem in", m["file"], r.stderr.strip())
    print("wrote %d files to %s (%d with dot problems)" % (sum(1 for m in manifest if m["file"]), OUT, bad))


if __name__ == "__main__":
    main()
