#!/usr/bin/env python3
"""Generator of deployment DAGs in the minimalistic "M" house style.

Style: ids n1..nN; every label has exactly three lines:
    "<op> | L<l> | tp<r> [| dp<d>] [| stage <s>]"
    "[in] -> [out]"   or   "[a] + [b] -> [out]"
    "gpu 5"  or  "gpus 0-3"
ellipse = communication, box = computation (default), parallelogram = routing.
Strategy in a leading `// tp=.. ep=.. pp=.. dp=..` comment; no clusters.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
Stdlib only.
"""
import copy
import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def S(*dims):
    return "[" + ",".join(str(x) for x in dims) + "]"


class Graph:
    def __init__(self, name):
        self.name = name
        self.comments = []
        self.nodes = {}   # id -> dict(shape, head, ins, out, place)
        self.order = []
        self.keys = {}    # semantic key -> id
        self.edges = []   # [src, dst, attrs]
        self.next = 1

    # ---- building -------------------------------------------------------
    def add(self, key, shape, head, ins, out, place):
        nid = "n%d" % self.next
        self.next += 1
        self.nodes[nid] = dict(shape=shape, head=head, ins=list(ins), out=out,
                               place=place, noshape=False, noplace=False)
        self.order.append(nid)
        if key is not None:
            assert key not in self.keys, key
            self.keys[key] = nid
        return nid

    def id(self, k):
        return self.keys[k] if not (isinstance(k, str) and k in self.nodes) else k

    def edge(self, a, b, **attrs):
        self.edges.append([self.id(a), self.id(b), dict(attrs)])

    # ---- mutation helpers (used by the defect injectors) -----------------
    def node(self, k):
        return self.nodes[self.id(k)]

    def remove_node(self, k):
        nid = self.id(k)
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]
        for kk in [kk for kk, v in self.keys.items() if v == nid]:
            del self.keys[kk]

    def remove_edge(self, a, b):
        a, b = self.id(a), self.id(b)
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        a, b = self.id(a), self.id(b)
        return any(e[0] == a and e[1] == b for e in self.edges)

    def retarget(self, a, b, newb):
        a, b, newb = self.id(a), self.id(b), self.id(newb)
        for e in self.edges:
            if e[0] == a and e[1] == b:
                e[1] = newb
                return
        raise KeyError((a, b))

    # ---- output ------------------------------------------------------------
    def label(self, n):
        lines = [n["head"]]
        if not n["noshape"]:
            lines.append(" + ".join(n["ins"]) + " -> " + n["out"])
        if not n["noplace"]:
            lines.append(n["place"])
        return "\\n".join(lines)

    def dot(self):
        out = ["// " + c for c in self.comments]
        out.append("digraph %s {" % self.name)
        out.append("  node [shape=box];")
        for nid in self.order:
            n = self.nodes[nid]
            extra = "" if n["shape"] == "box" else ", shape=%s" % n["shape"]
            out.append('  %s [label="%s"%s];' % (nid, self.label(n), extra))
        for a, b, at in self.edges:
            s = ""
            if at:
                s = " [" + ", ".join("%s=%s" % kv for kv in sorted(at.items())) + "]"
            out.append("  %s -> %s%s;" % (a, b, s))
        out.append("}")
        return "\n".join(out) + "\n"


def gpus(lo, hi):
    return "gpu %d" % lo if lo == hi else "gpus %d-%d" % (lo, hi)


# =========================================================================
# builder
# =========================================================================
def build(name, c):
    tp, ep, pp, dp = c["tp"], c["ep"], c["pp"], c["dp"]
    L, H, nh, hd = c["layers"], c["hidden"], c["heads"], c["head_dim"]
    assert nh * hd == H and nh % tp == 0 and H % tp == 0
    moe = c["experts"] > 0
    E, k, V, Sq = c["experts"], c["top_k"], c["vocab"], c["seq"]
    assert V % tp == 0 and L % pp == 0 and c["batch"] % dp == 0
    if moe:
        # EP ranks live on the GPUs of the TP group of the stage (EP == TP here)
        assert ep == tp and E % ep == 0
    else:
        assert ep == 1 and c["ffn"] % tp == 0
    b = c["batch"] // dp
    T = b * Sq
    g = Graph(name)
    g.comments.append("tp=%d ep=%d pp=%d dp=%d" % (tp, ep, pp, dp))
    m = "model: %s layers=%d hidden=%d heads=%d head_dim=%d" % (
        "moe" if moe else "dense", L, H, nh, hd)
    if moe:
        m += " experts=%d top_k=%d" % (E, k)
    else:
        m += " ffn=%d" % c["ffn"]
    m += " vocab=%d batch=%d seq=%d" % (V, c["batch"], Sq)
    g.comments.append(m)
    per = L // pp

    def gpu(d, s, r):
        return (d * pp + s) * tp + r

    for s in range(pp):
        if pp > 1:
            g.comments.append("stage %d: layers %d-%d, %s" % (
                s, s * per, s * per + per - 1, gpus(gpu(0, s, 0), gpu(0, s, tp - 1))
                + ("" if dp == 1 else " (dp0)")))

    def head(op, l, *tags, d=0, s=0):
        parts = [op]
        if l is not None:
            parts.append("L%s" % l)
        parts.extend(tags)
        if dp > 1:
            parts.append("dp%d" % d)
        if pp > 1:
            parts.append("stage %d" % s)
        return " | ".join(parts)

    full = S(b, Sq, H)
    hsh = S(b, Sq, H // tp)
    hpr = nh // tp
    qshape = S(b, hpr, Sq, hd)
    sc = S(b, hpr, Sq, Sq)
    R = range(tp)

    for d in range(dp):
        stream = {}
        for s in range(pp):
            lo, hi = gpu(d, s, 0), gpu(d, s, tp - 1)
            grp = gpus(lo, hi)
            if s == 0:
                for r in R:
                    G_ = "gpu %d" % gpu(d, s, r)
                    g.add(("input", d, r), "box", head("input", None, "tp%d" % r, d=d, s=s),
                          [S(b, Sq)], S(b, Sq), G_)
                    g.add(("embed", d, r), "box", head("embedding", None, "tp%d" % r, d=d, s=s),
                          [S(b, Sq)], full, G_)
                    g.edge(("input", d, r), ("embed", d, r))
                g.add(("ar_embed", d), "ellipse", head("allreduce", None, "embed", d=d, s=s),
                      [full], full, grp)
                for r in R:
                    g.edge(("embed", d, r), ("ar_embed", d))
                    stream[r] = ("ar_embed", d)
            else:
                for r in R:
                    g.add(("recv", d, s, r), "ellipse",
                          head("recv", s * per, "tp%d" % r, d=d, s=s), [full], full,
                          "gpu %d" % gpu(d, s, r))
                    g.edge(("send", d, s - 1, r), ("recv", d, s, r))
                    stream[r] = ("recv", d, s, r)
            for l in range(s * per, s * per + per):
                # ---------------- attention ----------------
                for r in R:
                    G_ = "gpu %d" % gpu(d, s, r)
                    t = "tp%d" % r
                    key = lambda op: (op, d, l, r)
                    g.add(key("norm1"), "box", head("rmsnorm", l, t, d=d, s=s), [full], full, G_)
                    g.add(key("qkv"), "box", head("qkv_proj", l, t, d=d, s=s), [full],
                          S(b, Sq, 3 * H // tp), G_)
                    for x in "qkv":
                        g.add(key("split_" + x), "parallelogram", head("split " + x, l, t, d=d, s=s),
                              [S(b, Sq, 3 * H // tp)], qshape, G_)
                    g.add(key("scores"), "box", head("scores", l, t, d=d, s=s), [qshape, qshape], sc, G_)
                    g.add(key("softmax"), "box", head("softmax", l, t, d=d, s=s), [sc], sc, G_)
                    g.add(key("attn_v"), "box", head("attn_v", l, t, d=d, s=s), [sc, qshape], hsh, G_)
                    g.add(key("o_proj"), "box", head("o_proj", l, t, d=d, s=s), [hsh], full, G_)
                    g.edge(stream[r], key("norm1"))
                    g.edge(key("norm1"), key("qkv"))
                    for x in "qkv":
                        g.edge(key("qkv"), key("split_" + x))
                    g.edge(key("split_q"), key("scores"))
                    g.edge(key("split_k"), key("scores"))
                    g.edge(key("scores"), key("softmax"))
                    g.edge(key("softmax"), key("attn_v"))
                    g.edge(key("split_v"), key("attn_v"))
                    g.edge(key("attn_v"), key("o_proj"))
                g.add(("ar_attn", d, l), "ellipse", head("allreduce", l, "attn", d=d, s=s), [full], full, grp)
                for r in R:
                    g.edge(("o_proj", d, l, r), ("ar_attn", d, l))
                    g.add(("add1", d, l, r), "box", head("add", l, "tp%d" % r, d=d, s=s),
                          [full, full], full, "gpu %d" % gpu(d, s, r))
                    g.edge(("ar_attn", d, l), ("add1", d, l, r))
                    g.edge(stream[r], ("add1", d, l, r))
                    stream[r] = ("add1", d, l, r)
                # ---------------- MLP / MoE ----------------
                for r in R:
                    g.add(("norm2", d, l, r), "box", head("rmsnorm", l, "tp%d" % r, d=d, s=s),
                          [full], full, "gpu %d" % gpu(d, s, r))
                    g.edge(stream[r], ("norm2", d, l, r))
                if moe:
                    disp_in = S(T * k // ep, H)
                    per_exp = S(T * k // E, H)
                    for r in R:
                        g.add(("router", d, l, r), "parallelogram", head("router", l, "ep%d" % r, d=d, s=s),
                              [full], disp_in, "gpu %d" % gpu(d, s, r))
                        g.edge(("norm2", d, l, r), ("router", d, l, r))
                    g.add(("disp", d, l), "ellipse", head("a2a_dispatch", l, "moe", d=d, s=s),
                          [disp_in], per_exp, grp)
                    for r in R:
                        g.edge(("router", d, l, r), ("disp", d, l), style="dashed")
                    g.add(("comb", d, l), "ellipse", head("a2a_combine", l, "moe", d=d, s=s),
                          [per_exp], disp_in, grp)
                    for j in range(E):
                        r = j // (E // ep)
                        g.add(("expert", d, l, j), "box", head("expert_%d" % j, l, "ep%d" % r, d=d, s=s),
                              [per_exp], per_exp, "gpu %d" % gpu(d, s, r))
                        g.edge(("disp", d, l), ("expert", d, l, j))
                        g.edge(("expert", d, l, j), ("comb", d, l))
                    g.add(("ag_moe", d, l), "ellipse", head("allgather", l, "moe", d=d, s=s),
                          [S(T // ep, H)], full, grp)
                    for r in R:
                        g.add(("moe_sum", d, l, r), "parallelogram", head("moe_sum", l, "ep%d" % r, d=d, s=s),
                              [disp_in], S(T // ep, H), "gpu %d" % gpu(d, s, r))
                        g.edge(("comb", d, l), ("moe_sum", d, l, r))
                        g.edge(("moe_sum", d, l, r), ("ag_moe", d, l))
                    last = ("ag_moe", d, l)
                else:
                    F = c["ffn"] // tp
                    for r in R:
                        G_ = "gpu %d" % gpu(d, s, r)
                        t = "tp%d" % r
                        key = lambda op: (op, d, l, r)
                        g.add(key("gate_proj"), "box", head("gate_proj", l, t, d=d, s=s), [full], S(b, Sq, F), G_)
                        g.add(key("up_proj"), "box", head("up_proj", l, t, d=d, s=s), [full], S(b, Sq, F), G_)
                        g.add(key("swiglu"), "box", head("swiglu", l, t, d=d, s=s),
                              [S(b, Sq, F), S(b, Sq, F)], S(b, Sq, F), G_)
                        g.add(key("down_proj"), "box", head("down_proj", l, t, d=d, s=s), [S(b, Sq, F)], full, G_)
                        g.edge(key("norm2"), key("gate_proj"))
                        g.edge(key("norm2"), key("up_proj"))
                        g.edge(key("gate_proj"), key("swiglu"))
                        g.edge(key("up_proj"), key("swiglu"))
                        g.edge(key("swiglu"), key("down_proj"))
                    g.add(("ar_mlp", d, l), "ellipse", head("allreduce", l, "mlp", d=d, s=s), [full], full, grp)
                    for r in R:
                        g.edge(("down_proj", d, l, r), ("ar_mlp", d, l))
                    last = ("ar_mlp", d, l)
                for r in R:
                    g.add(("add2", d, l, r), "box", head("add", l, "tp%d" % r, d=d, s=s),
                          [full, full], full, "gpu %d" % gpu(d, s, r))
                    g.edge(last, ("add2", d, l, r))
                    g.edge(stream[r], ("add2", d, l, r))
                    stream[r] = ("add2", d, l, r)
            if s < pp - 1:
                for r in R:
                    g.add(("send", d, s, r), "ellipse",
                          head("send", s * per + per - 1, "tp%d" % r, d=d, s=s), [full], full,
                          "gpu %d" % gpu(d, s, r))
                    g.edge(stream[r], ("send", d, s, r))
            else:
                for r in R:
                    G_ = "gpu %d" % gpu(d, s, r)
                    g.add(("fnorm", d, r), "box", head("rmsnorm", "final", "tp%d" % r, d=d, s=s), [full], full, G_)
                    g.add(("lm_head", d, r), "box", head("lm_head", None, "tp%d" % r, d=d, s=s),
                          [full], S(b, Sq, V // tp), G_)
                    g.edge(stream[r], ("fnorm", d, r))
                    g.edge(("fnorm", d, r), ("lm_head", d, r))
                g.add(("ag_logits", d), "ellipse", head("allgather", None, "logits", d=d, s=s),
                      [S(b, Sq, V // tp)], S(b, Sq, V), grp)
                for r in R:
                    g.edge(("lm_head", d, r), ("ag_logits", d))
                g.add(("output", d), "box", head("output", None, d=d, s=s), [S(b, Sq, V)], S(b, Sq, V),
                      "gpu %d" % lo)
                g.edge(("ag_logits", d), ("output", d))
    g.cfg = dict(c)
    return g


CLEAN = {
    # MoE, EP>1 and TP>1 (EP shares the TP GPUs), one stage
    "clean_1": dict(tp=4, ep=4, pp=1, dp=1, layers=2, hidden=2048, heads=16, head_dim=128,
                    experts=8, top_k=2, vocab=32000, batch=2, seq=512),
    # MoE with two pipeline stages
    "clean_2": dict(tp=2, ep=2, pp=2, dp=1, layers=4, hidden=1024, heads=8, head_dim=128,
                    experts=4, top_k=2, vocab=32000, batch=4, seq=256),
    # dense, TP2 x DP2
    "clean_3": dict(tp=2, ep=1, pp=1, dp=2, layers=2, hidden=4096, heads=32, head_dim=128,
                    experts=0, top_k=0, ffn=11008, vocab=32000, batch=4, seq=1024),
}


# =========================================================================
# self checks (used to confirm clean files are clean, and to see what a
# defect changes)
# =========================================================================
def parse_place(p):
    p = p.split(" ", 1)[1]
    if "-" in p:
        a, b = p.split("-")
        return set(range(int(a), int(b) + 1))
    return {int(p)}


def check(g):
    probs = []
    ids = set(g.nodes)
    indeg = {n: 0 for n in ids}
    outdeg = {n: 0 for n in ids}
    for a, b, _ in g.edges:
        indeg[b] += 1
        outdeg[a] += 1
        na, nb = g.nodes[a], g.nodes[b]
        if na["out"] not in nb["ins"]:
            probs.append("shape %s->%s %s vs %s" % (a, b, na["out"], nb["ins"]))
        if na["shape"] != "ellipse" and nb["shape"] != "ellipse":
            if parse_place(na["place"]) != parse_place(nb["place"]):
                probs.append("crossgpu %s->%s" % (a, b))
    for n in ids:
        h = g.nodes[n]["head"]
        if indeg[n] == 0 and not h.startswith("input"):
            probs.append("no-in %s" % n)
        if outdeg[n] == 0 and not h.startswith("output"):
            probs.append("no-out %s" % n)
    # cycle
    adj = {n: [] for n in ids}
    for a, b, _ in g.edges:
        adj[a].append(b)
    col = {}

    def dfs(u):
        col[u] = 1
        for v in adj[u]:
            if col.get(v) == 1:
                probs.append("cycle at %s->%s" % (u, v))
            elif v not in col:
                dfs(v)
        col[u] = 2
    sys.setrecursionlimit(10000)
    for n in sorted(ids):
        if n not in col:
            dfs(n)
    return probs


# =========================================================================
# defects: each returns (graph, category, nodes, what)
# =========================================================================
def C(name):
    return copy.deepcopy(BASE[name])


def set_gpu(g, k, gpu):
    g.node(k)["place"] = "gpu %d" % gpu


def d_cycle():
    g = C("clean_1")
    a, ar = g.id(("add1", 0, 0, 0)), g.id(("ar_attn", 0, 0))
    g.edge(a, ar)
    return g, "structure", [ar, a], \
        "Layer 0 attention all-reduce is drawn both ways with the tp0 residual add (allreduce -> add and add -> allreduce), forming a cycle."


def d_dangling_input():
    g = C("clean_3")
    src, n = g.id(("add1", 0, 0, 1)), g.id(("norm2", 0, 0, 1))
    g.remove_edge(src, n)
    return g, "structure", [n], \
        "The layer 0 MLP rmsnorm of dp0/tp1 has no incoming edge (its input from the attention residual add was removed)."


def d_dangling_output():
    g = C("clean_3")
    n, ag = g.id(("lm_head", 0, 1)), g.id(("ag_logits", 0))
    g.remove_edge(n, ag)
    return g, "structure", [n], \
        "The dp0/tp1 lm_head has no outgoing edge: its logits shard goes nowhere (edge to the logits all-gather removed)."


def d_attention_one_box():
    g = C("clean_1")
    l, nodes = 1, []
    for r in range(4):
        key = lambda op: (op, 0, l, r)
        old = g.node(key("qkv"))
        for op in ["qkv", "split_q", "split_k", "split_v", "scores", "softmax", "attn_v", "o_proj"]:
            g.remove_node(key(op))
        nid = g.add(("mha", 0, l, r), "box", "multi_head_attention | L1 | tp%d" % r,
                    [S(2, 512, 2048)], S(2, 512, 2048), old["place"])
        g.edge(key("norm1"), nid)
        g.edge(nid, ("ar_attn", 0, l))
        nodes.append(nid)
    return g, "attention", nodes, \
        "Layer 1's attention is drawn as one 'multi_head_attention' box per TP rank instead of qkv/score/softmax/weighted-sum/o_proj operators."


def d_v_bypasses_softmax():
    g = C("clean_1")
    nodes = []
    for r in range(4):
        key = lambda op: (op, 0, 1, r)
        g.remove_edge(key("softmax"), key("attn_v"))
        g.edge(key("softmax"), key("o_proj"))
        av, op = g.node(key("attn_v")), g.node(key("o_proj"))
        sc = av["ins"][0]
        av["ins"] = [av["ins"][1]]
        op["ins"] = [sc] + op["ins"]
        nodes += [g.id(key("softmax")), g.id(key("attn_v")), g.id(key("o_proj"))]
    return g, "attention", nodes, \
        "In layer 1 the weighted sum attn_v takes only V; the softmax bypasses it and feeds o_proj directly, so V never meets the attention probabilities."


def d_v_into_score():
    g = C("clean_1")
    nodes = []
    for r in range(4):
        key = lambda op: (op, 0, 1, r)
        g.retarget(key("split_k"), key("scores"), key("attn_v"))
        g.retarget(key("split_v"), key("attn_v"), key("scores"))
        nodes += [g.id(key("split_v")), g.id(key("scores")), g.id(key("split_k")), g.id(key("attn_v"))]
    return g, "attention", nodes, \
        "In layer 1 V (split v) is wired into the score instead of K, and K goes to the weighted sum (K and V swapped)."


def d_qkv_into_oproj():
    g = C("clean_1")
    nodes = []
    for r in range(4):
        key = lambda op: (op, 0, 1, r)
        qs = g.node(key("split_q"))["out"]
        for op in ["scores", "softmax", "attn_v"]:
            g.remove_node(key(op))
        for x in "qkv":
            g.edge(key("split_" + x), key("o_proj"))
        g.node(key("o_proj"))["ins"] = [qs, qs, qs]
        nodes.append(g.id(key("o_proj")))
    return g, "attention", nodes, \
        "In layer 1 Q, K and V go straight into o_proj: the score, softmax and weighted-sum operators are missing."


def d_head_arithmetic():
    g = C("clean_1")
    nodes = []
    bad = S(2, 4, 512, 96)
    for r in range(4):
        key = lambda op: (op, 0, 1, r)
        for x in "qkv":
            g.node(key("split_" + x))["out"] = bad
            nodes.append(g.id(key("split_" + x)))
        g.node(key("scores"))["ins"] = [bad, bad]
        g.node(key("attn_v"))["ins"][1] = bad
    return g, "attention", nodes, \
        "Layer 1 labels give head_dim 96 (4 heads/rank x TP4 = 16 heads x 96 = 1536) while the hidden size is 2048."


def d_tp_heads():
    g = C("clean_1")
    r = 1
    key = lambda op: (op, 0, 1, r)
    q = S(2, 16, 512, 128)
    sc = S(2, 16, 512, 512)
    g.node(key("qkv"))["out"] = S(2, 512, 6144)
    for x in "qkv":
        g.node(key("split_" + x))["ins"] = [S(2, 512, 6144)]
        g.node(key("split_" + x))["out"] = q
    g.node(key("scores"))["ins"] = [q, q]
    g.node(key("scores"))["out"] = sc
    g.node(key("softmax"))["ins"] = [sc]
    g.node(key("softmax"))["out"] = sc
    g.node(key("attn_v"))["ins"] = [sc, q]
    g.node(key("attn_v"))["out"] = S(2, 512, 2048)
    g.node(key("o_proj"))["ins"] = [S(2, 512, 2048)]
    nodes = [g.id(key(x)) for x in ["qkv", "split_q", "split_k", "split_v"]]
    return g, "attention", nodes, \
        "TP rank 1 of layer 1 projects all 16 heads (qkv out 6144, q/k/v [2,16,512,128]) instead of heads/TP = 4 under TP4."


def d_edge_shape_mismatch():
    g = C("clean_3")
    n = g.id(("norm1", 0, 1, 0))
    g.node(n)["ins"] = [S(2, 1024, 3072)]
    return g, "shape", [g.id(("add2", 0, 0, 0)), n], \
        "The layer 1 rmsnorm of dp0/tp0 declares Input [2,1024,3072] but its producer (layer 0 residual add) outputs [2,1024,4096]."


def d_shard_without_gather():
    g = C("clean_1")
    nodes = []
    ar = g.id(("ar_attn", 0, 1))
    for r in range(4):
        op, add = g.id(("o_proj", 0, 1, r)), g.id(("add1", 0, 1, r))
        g.node(op)["out"] = S(2, 512, 512)
        g.edge(op, add)
        nodes += [op, add]
    g.remove_node(ar)
    return g, "shape", nodes, \
        "In layer 1 o_proj emits a hidden shard [2,512,512] (2048/TP4) that goes straight into the full-size residual add [2,512,2048] with no all-gather/all-reduce."


def d_stage_count():
    g = C("clean_2")
    g.comments[0] = "tp=2 ep=2 pp=3 dp=1"
    return g, "pipeline", [], \
        "The strategy comment declares pp=3 but only two stages (stage 0, stage 1) are drawn."


def d_stage_range_gap():
    g = C("clean_2")
    for n in g.nodes.values():
        if n["head"].endswith("stage 1"):
            n["head"] = n["head"].replace("| L2 |", "| L3 |", 1) if "| L2 |" in n["head"] \
                else n["head"].replace("| L3 |", "| L4 |", 1)
    g.comments[1] = g.comments[1].replace("layers=4", "layers=5")
    g.comments[3] = "stage 1: layers 3-4, gpus 2-3"
    nodes = [g.id(("recv", 0, 1, r)) for r in range(2)]
    return g, "pipeline", nodes, \
        "Stage 0 holds layers 0-1 and stage 1 layers 3-4 of a 5-layer model: layer 2 lies in no stage (gap between the ranges)."


def d_stage_missing_layer():
    g = C("clean_2")
    for key in [k for k in list(g.keys) if len(k) == 4 and k[0] not in ("send", "recv") and k[2] == 3]:
        if key in g.keys:
            g.remove_node(key)
    for key in [k for k in list(g.keys) if k[0] in ("disp", "comb", "ag_moe", "ar_attn") and k[2] == 3]:
        g.remove_node(key)
    for r in range(2):
        g.edge(("add2", 0, 2, r), ("fnorm", 0, r))
    nodes = [g.id(("add2", 0, 2, r)) for r in range(2)]
    return g, "pipeline", nodes, \
        "Stage 1 claims layers 2-3 (and the model has 4 layers) but no operator of layer 3 is drawn; layer 2 feeds the final norm."


def d_no_stage_transfer():
    g = C("clean_2")
    nodes = []
    for r in range(2):
        snd, rcv = g.id(("send", 0, 0, r)), g.id(("recv", 0, 1, r))
        g.remove_node(snd)
        g.remove_node(rcv)
        a = g.id(("add2", 0, 1, r))
        g.edge(a, ("norm1", 0, 2, r))
        g.edge(a, ("add1", 0, 2, r))
        nodes += [a, g.id(("norm1", 0, 2, r)), g.id(("add1", 0, 2, r))]
    return g, "pipeline", nodes, \
        "Stage 0 (gpus 0-1) is joined to stage 1 (gpus 2-3) by plain edges from the layer 1 residual adds, with no send/recv nodes."


def d_experts_subset_ranks():
    g = C("clean_1")
    nodes = []
    for j in range(8):
        r = j // 4
        n = g.node(("expert", 0, 1, j))
        n["head"] = "expert_%d | L1 | ep%d" % (j, r)
        n["place"] = "gpu %d" % r
        nodes.append(g.id(("expert", 0, 1, j)))
    return g, "expert", nodes, \
        "Layer 1's 8 experts sit only on EP ranks 0 and 1 (4 each, gpus 0-1); EP ranks 2 and 3 hold no expert under ep=4."


def d_experts_uneven():
    g = C("clean_1")
    n = g.node(("expert", 0, 1, 2))
    n["head"] = "expert_2 | L1 | ep0"
    n["place"] = "gpu 0"
    return g, "expert", [g.id(("expert", 0, 1, j)) for j in range(3)], \
        "In layer 1 expert_2 is moved to EP rank 0, giving ranks 0-3 3/1/2/2 experts instead of 8/4 = 2 each."


def d_experts_share_gpu():
    g = C("clean_1")
    for j in (4, 5):
        g.node(("expert", 0, 1, j))["place"] = "gpu 1"
    return g, "expert", [g.id(("expert", 0, 1, j)) for j in (2, 3, 4, 5)], \
        "In layer 1 the experts of EP rank 2 (expert_4, expert_5) are placed on gpu 1, the GPU of EP rank 1's experts."


def d_no_gate():
    g = C("clean_1")
    disp = g.id(("disp", 0, 1))
    for r in range(4):
        g.remove_node(("router", 0, 1, r))
        g.edge(("norm2", 0, 1, r), disp)
    g.node(disp)["ins"] = [S(2, 512, 2048)]
    return g, "expert", [disp] + [g.id(("expert", 0, 1, j)) for j in range(8)], \
        "Layer 1 has no router: the rmsnorm outputs go straight into the a2a_dispatch and on to the experts."


def d_no_all_to_all():
    g = C("clean_1")
    g.remove_node(("disp", 0, 1))
    nodes = []
    for r in range(4):
        rt = g.id(("router", 0, 1, r))
        g.node(rt)["out"] = S(256, 2048)
        for j in (2 * r, 2 * r + 1):
            g.edge(rt, ("expert", 0, 1, j), style="dashed")
        nodes.append(rt)
    return g, "expert", nodes, \
        "Layer 1 has no dispatch all-to-all (ep=4): each router sends tokens straight to its local experts only."


def d_tp_rank_missing():
    g = C("clean_3")
    n = g.id(("gate_proj", 0, 1, 1))
    g.remove_node(n)
    sw = g.node(("swiglu", 0, 1, 1))
    sw["ins"] = sw["ins"][:1]
    return g, "tensor", [g.id(("gate_proj", 0, 1, 0)), g.id(("swiglu", 0, 1, 1))], \
        "The layer 1 gate_proj of replica dp0 is drawn for TP rank 0 only; the tp1 shard (gpu 1) is missing."


def d_no_allreduce_after_rowparallel():
    g = C("clean_3")
    ar = g.id(("ar_mlp", 0, 1))
    g.remove_node(ar)
    nodes = []
    for r in range(2):
        g.edge(("down_proj", 0, 1, r), ("add2", 0, 1, r))
        nodes += [g.id(("down_proj", 0, 1, r)), g.id(("add2", 0, 1, r))]
    return g, "tensor", nodes, \
        "In layer 1 of dp0 the row-parallel down_proj partial sums go straight into the residual adds: the all-reduce is missing."


def d_cross_gpu_no_comm():
    g = C("clean_3")
    a0, a1, t = g.id(("add1", 0, 0, 0)), g.id(("add1", 0, 0, 1)), g.id(("add2", 0, 0, 0))
    g.remove_edge(a0, t)
    g.edge(a1, t)
    return g, "communication", [a1, t], \
        "The layer 0 MLP residual add on gpu 0 (dp0/tp0) takes its skip input from the attention residual add on gpu 1 (tp1) by a plain edge."


def d_comm_wrong_shape():
    g = C("clean_3")
    n = g.id(("ar_attn", 0, 0))
    g.node(n)["shape"] = "box"
    return g, "communication", [n], \
        "The layer 0 attention all-reduce of dp0 is drawn as a box instead of an ellipse."


def d_missing_gpu():
    g = C("clean_3")
    n = g.id(("softmax", 0, 0, 0))
    g.node(n)["noplace"] = True
    return g, "gpu", [n], "The layer 0 softmax of dp0/tp0 has no GPU placement line."


def d_gpu_out_of_range():
    g = C("clean_1")
    n = g.id(("expert", 0, 1, 7))
    g.node(n)["place"] = "gpu 16"
    return g, "gpu", [n], \
        "expert_7 of layer 1 is placed on gpu 16, beyond the strategy's GPUs (4 drawn; 16 even by EP*TP*PP*DP)."


def d_stages_share_gpus():
    g = C("clean_2")
    for n in g.nodes.values():
        if n["head"].endswith("stage 1"):
            n["place"] = {"gpu 2": "gpu 1", "gpu 3": "gpu 2", "gpus 2-3": "gpus 1-2"}[n["place"]]
    g.comments[3] = "stage 1: layers 2-3, gpus 1-2"
    return g, "gpu", [g.id(("recv", 0, 1, r)) for r in range(2)], \
        "Stage 1 is placed on gpus 1-2, overlapping stage 0 (gpus 0-1) on gpu 1."


def d_strategy_mismatch():
    g = C("clean_1")
    g.comments[0] = "tp=2 ep=4 pp=1 dp=1"
    return g, "strategy", [], \
        "The comment declares tp=2 but every TP operator is drawn for four ranks tp0-tp3 with /4 shards."


def d_missing_shapes():
    g = C("clean_1")
    n = g.id(("scores", 0, 1, 2))
    g.node(n)["noshape"] = True
    return g, "annotation", [n], "The layer 1 scores node of tp2 has no input/output shape line."


def d_placeholder():
    g = C("clean_1")
    n = g.id(("norm2", 0, 0, 1))
    g.node(n)["ins"] = ["[?,512,2048]"]
    g.node(n)["out"] = "[?,512,2048]"
    return g, "annotation", [n], \
        "The layer 0 MoE rmsnorm of tp1 gives its batch dimension as a '?' placeholder."


def d_moe_before_attention():
    g = C("clean_1")
    l = 1
    for r in range(4):
        prev = g.id(("add2", 0, 0, r))
        n1, a1 = g.id(("norm1", 0, l, r)), g.id(("add1", 0, l, r))
        n2, a2 = g.id(("norm2", 0, l, r)), g.id(("add2", 0, l, r))
        fn = g.id(("fnorm", 0, r))
        # old: prev->n1, prev->a1 ; a1->n2, a1->a2 ; a2->fn
        g.remove_edge(prev, n1); g.remove_edge(prev, a1)
        g.remove_edge(a1, n2); g.remove_edge(a1, a2)
        g.remove_edge(a2, fn)
        g.edge(prev, n2); g.edge(prev, a2)
        g.edge(a2, n1); g.edge(a2, a1)
        g.edge(a1, fn)
    nodes = [g.id(("norm2", 0, l, r)) for r in range(4)] + [g.id(("norm1", 0, l, r)) for r in range(4)]
    return g, "structure", nodes, \
        "In layer 1 the MoE sublayer (rmsnorm/router/experts) is wired before the attention sublayer; attention now feeds the final norm."


def d_missing_residual():
    g = C("clean_1")
    nodes = []
    for r in range(4):
        a1, a2 = g.id(("add1", 0, 1, r)), g.id(("add2", 0, 1, r))
        g.remove_edge(a1, a2)
        g.node(a2)["ins"] = g.node(a2)["ins"][:1]
        nodes.append(a2)
    return g, "structure", nodes, \
        "The layer 1 MoE residual adds are fed only by the MoE all-gather; the skip edge from the attention residual add was removed."


DEFECTS = [
    ("cycle", d_cycle), ("dangling_input", d_dangling_input), ("dangling_output", d_dangling_output),
    ("attention_one_box", d_attention_one_box), ("v_bypasses_softmax", d_v_bypasses_softmax),
    ("v_into_score", d_v_into_score), ("qkv_into_oproj", d_qkv_into_oproj),
    ("head_arithmetic", d_head_arithmetic), ("tp_heads", d_tp_heads),
    ("edge_shape_mismatch", d_edge_shape_mismatch), ("shard_without_gather", d_shard_without_gather),
    ("stage_count", d_stage_count), ("stage_range_gap", d_stage_range_gap),
    ("stage_missing_layer", d_stage_missing_layer), ("no_stage_transfer", d_no_stage_transfer),
    ("experts_subset_ranks", d_experts_subset_ranks), ("experts_uneven", d_experts_uneven),
    ("experts_share_gpu", d_experts_share_gpu), ("no_gate", d_no_gate), ("no_all_to_all", d_no_all_to_all),
    ("tp_rank_missing", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", d_cross_gpu_no_comm), ("comm_wrong_shape", d_comm_wrong_shape),
    ("missing_gpu", d_missing_gpu), ("gpu_out_of_range", d_gpu_out_of_range),
    ("stages_share_gpus", d_stages_share_gpus), ("strategy_mismatch", d_strategy_mismatch),
    ("missing_shapes", d_missing_shapes), ("placeholder", d_placeholder),
    ("moe_before_attention", d_moe_before_attention), ("missing_residual", d_missing_residual),
]

BASE = {}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in CLEAN.items():
        g = build(name, cfg)
        BASE[name] = g
        probs = check(g)
        if probs:
            print("CLEAN PROBLEMS", name, probs[:10], file=sys.stderr)
            sys.exit(1)
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(g.dot())
        manifest.append(dict(file=name + ".dot", kind="clean", category="none", nodes=[],
                             what="Correct DAG: %s." % g.comments[0]))
    verbose = "-v" in sys.argv
    for kind, fn in DEFECTS:
        g, cat, nodes, what = fn()
        g.name = "defect_" + kind
        with open(os.path.join(OUT, "defect_%s.dot" % kind), "w") as f:
            f.write(g.dot())
        src = next(n for n in BASE if BASE[n].cfg == g.cfg)
        manifest.append(dict(file="defect_%s.dot" % kind, kind=kind, category=cat, nodes=nodes,
                             what=what + " (based on %s.dot)" % src))
        if verbose:
            print(kind, src, check(g))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
