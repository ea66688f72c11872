#!/usr/bin/env python3
"""House style F: vLLM/SGLang-flavoured deployment DAGs with HTML TABLE labels.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot (one defect each) and
out/manifest.json.  Stdlib only.  Run: python3 gen.py

Conventions of this style
  * ids: type prefix + global counter, nothing says the layer
      t=input/output  s=PP stage marker  b=embedding  n=norm  a=attention op
      r=routing (split, router, weighted sum)  c=communication  e=expert
      f=dense MLP op  p=residual add  h=LM head
  * labels: HTML TABLE, one row per field: operator, "Layer k", "TP rank r" /
    "EP rank e", "In: [..]", "Out: [..]", "GPU g" (or "GPU a-b" for a group)
  * shapes [tokens, hidden] (tokens = batch*seq), attention internals
    [tokens, heads, head_dim]; scores [tokens, heads, seq]
  * EP group == TP group (vLLM enable_expert_parallel): experts of EP rank e
    sit on the GPU of TP rank e of the same stage
  * PP shown with stage marker nodes on the data path (no clusters); the
    transfer is a send ellipse (last GPUs of stage s) -> marker -> recv ellipse
  * layers numbered from 1, PP stages and ranks from 0
"""
import copy
import html
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

ELLIPSE, BOX, PARA, HEX = "ellipse", "box", "parallelogram", "hexagon"


def shp(*dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


class G:
    def __init__(self, comment):
        self.comment = comment
        self.nodes = {}      # id -> {"shape":..., "rows":[...]}
        self.order = []
        self.edges = []      # [src, dst, attrs]
        self.role = {}
        self.n = 0

    def add(self, prefix, shape, rows, role=None):
        self.n += 1
        nid = "%s%d" % (prefix, self.n)
        self.nodes[nid] = {"shape": shape, "rows": list(rows)}
        self.order.append(nid)
        if role is not None:
            self.role[role] = nid
        return nid

    def e(self, a, b, **attrs):
        self.edges.append([a, b, attrs])

    def R(self, *key):
        return self.role[key]

    # --- mutation helpers used by the defect injectors
    def rm_edge(self, a, b):
        before = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == a and x[1] == b)]
        assert len(self.edges) == before - 1, (a, b)

    def has_edge(self, a, b):
        return any(x[0] == a and x[1] == b for x in self.edges)

    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [x for x in self.edges if nid not in (x[0], x[1])]

    def in_edges(self, nid):
        return [x[0] for x in self.edges if x[1] == nid]

    def out_edges(self, nid):
        return [x[1] for x in self.edges if x[0] == nid]

    def set_row(self, nid, prefix, text):
        rows = self.nodes[nid]["rows"]
        for i, r in enumerate(rows):
            if r.startswith(prefix):
                rows[i] = text
                return
        raise KeyError((nid, prefix))

    def get_row(self, nid, prefix):
        for r in self.nodes[nid]["rows"]:
            if r.startswith(prefix):
                return r
        return None

    def drop_row(self, nid, prefix):
        rows = self.nodes[nid]["rows"]
        keep = [r for r in rows if not r.startswith(prefix)]
        assert len(keep) < len(rows), (nid, prefix)
        self.nodes[nid]["rows"] = keep

    def dot(self):
        out = ["# " + self.comment, "digraph dag {", "  rankdir=TB;",
               '  node [fontname="Helvetica", fontsize=10];']
        for nid in self.order:
            nd = self.nodes[nid]
            cells = "".join("<TR><TD>%s</TD></TR>" % html.escape(r, quote=False)
                            for r in nd["rows"])
            lab = '<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0">%s</TABLE>' % cells
            out.append("  %s [shape=%s, label=<%s>];" % (nid, nd["shape"], lab))
        for a, b, at in self.edges:
            s = ""
            if at:
                s = " [" + ", ".join('%s=%s' % kv for kv in sorted(at.items())) + "]"
            out.append("  %s -> %s%s;" % (a, b, s))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- builder

def build(cfg):
    T, EP, PP, DP = cfg["tp"], cfg["ep"], cfg["pp"], cfg.get("dp", 1)
    L, H, nh, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    N = B * S
    moe = cfg["moe"]
    assert nh * hd == H and nh % T == 0 and H % T == 0 and V % T == 0
    hpr = nh // T
    if moe:
        E, K = cfg["experts"], cfg["topk"]
        assert EP == T, "style F: EP group == TP group"
        assert E % EP == 0 and (N * K) % E == 0
        epr, tpe = E // EP, N * K // E
    else:
        F = cfg["ffn"]
        assert F % T == 0 and EP == 1
    stages = cfg["stage_layers"]            # list of (first, last), 1-based
    assert len(stages) == PP
    base = cfg.get("stage_base", [s * T for s in range(PP)])
    order = cfg.get("order", {})
    stage_of = {}
    for s, (a, b) in enumerate(stages):
        for l in range(a, b + 1):
            stage_of[l] = s

    def gpu(s, r):
        return "GPU %d" % (base[s] + r)

    def grp(s):
        return "GPU %d-%d" % (base[s], base[s] + T - 1)

    g = G("strategy: tp=%d ep=%d pp=%d dp=%d" % (T, EP, PP, DP))
    hs = shp(N, H)

    # ---- model input, stage 0 marker, embedding
    tin = g.add("t", BOX, ["Input (token ids)", "In: " + shp(N), "Out: " + shp(N), grp(0)], ("in",))
    head = tin
    if PP > 1:
        a, b = stages[0]
        m = g.add("s", HEX, ["PP stage 0 start, layers %d-%d, GPUs %d-%d" % (a, b, base[0], base[0] + T - 1),
                             "In: " + shp(N), "Out: " + shp(N), grp(0)], ("mark", 0))
        g.e(tin, m)
        head = m
    emb = [g.add("b", BOX, ["VocabParallelEmbedding", "TP rank %d" % r, "In: " + shp(N), "Out: " + hs, gpu(0, r)],
                 ("emb", r)) for r in range(T)]
    arE = g.add("c", ELLIPSE, ["tensor_model_parallel_all_reduce", "In: " + hs, "Out: " + hs, grp(0)], ("arE",))
    for r in range(T):
        g.e(head, emb[r])
        g.e(emb[r], arE)
    stream = [arE] * T

    # ---- create all nodes of every layer first (ids independent of wiring)
    for l in range(1, L + 1):
        s = stage_of[l]
        Ls = "Layer %d" % l

        def box(prefix, name, key, r, i, o, shape=BOX):
            return g.add(prefix, shape, [name, Ls, "TP rank %d" % r, "In: " + i, "Out: " + o, gpu(s, r)], key + (l, r))

        qkv_o, sh_, hh, sc = shp(N, 3 * H // T), shp(N, H // T), shp(N, hpr, hd), shp(N, hpr, S)
        for r in range(T):
            box("n", "RMSNorm", ("n1",), r, hs, hs)
            box("a", "QKVParallelLinear", ("qkv",), r, hs, qkv_o)
            box("r", "split_qkv", ("split",), r, qkv_o, ", ".join([sh_] * 3), shape=PARA)
            box("a", "RotaryEmbedding (q)", ("q",), r, sh_, hh)
            box("a", "RotaryEmbedding (k)", ("k",), r, sh_, hh)
            box("a", "reshape (v)", ("v",), r, sh_, hh)
            box("a", "qk_matmul", ("qk",), r, hh + ", " + hh, sc)
            box("a", "softmax", ("sm",), r, sc, sc)
            box("a", "pv_matmul", ("pv",), r, sc + ", " + hh, hh)
            box("a", "RowParallelLinear o_proj", ("o",), r, hh, hs)
        g.add("c", ELLIPSE, ["tensor_model_parallel_all_reduce", Ls, "In: " + hs, "Out: " + hs, grp(s)], ("ar1", l))
        for r in range(T):
            box("p", "add", ("add1",), r, hs + ", " + hs, hs)
        for r in range(T):
            box("n", "RMSNorm", ("n2",), r, hs, hs)
        if moe:
            for r in range(T):
                box("r", "FusedMoE router (top-%d of %d experts)" % (K, E), ("rt",), r, hs,
                    hs + ", " + shp(N, K), shape=PARA)
            g.add("c", ELLIPSE, ["all_to_all (dispatch)", Ls, "In: " + hs, "Out: " + shp(tpe, H), grp(s)], ("disp", l))
            for j in range(E):
                er = j // epr
                g.add("e", BOX, ["expert_%d (w1/w3 -> silu -> w2)" % j, Ls, "EP rank %d" % er,
                                 "In: " + shp(tpe, H), "Out: " + shp(tpe, H), gpu(s, er)], ("exp", l, j))
            g.add("c", ELLIPSE, ["all_to_all (combine)", Ls, "In: " + shp(tpe, H), "Out: " + shp(N, K, H), grp(s)],
                  ("comb", l))
            for r in range(T):
                box("r", "topk_weighted_sum", ("tws",), r, shp(N, K, H) + ", " + shp(N, K), hs, shape=PARA)
        else:
            for r in range(T):
                box("f", "MergedColumnParallelLinear gate_up_proj", ("gu",), r, hs, shp(N, 2 * F // T))
                box("f", "SiluAndMul", ("act",), r, shp(N, 2 * F // T), shp(N, F // T))
                box("f", "RowParallelLinear down_proj", ("dn",), r, shp(N, F // T), hs)
            g.add("c", ELLIPSE, ["tensor_model_parallel_all_reduce", Ls, "In: " + hs, "Out: " + hs, grp(s)], ("ar2", l))
        for r in range(T):
            box("p", "add", ("add2",), r, hs + ", " + hs, hs)
        # pipeline boundary after the last layer of a stage
        if s < PP - 1 and l == stages[s][1]:
            a, b = stages[s + 1]
            g.add("c", ELLIPSE, ["send (PP stage %d -> stage %d)" % (s, s + 1), "In: " + hs, "Out: " + hs, grp(s)],
                  ("send", s))
            g.add("s", HEX, ["PP stage %d start, layers %d-%d, GPUs %d-%d" % (s + 1, a, b, base[s + 1],
                                                                                base[s + 1] + T - 1),
                             "In: " + hs, "Out: " + hs, grp(s + 1)], ("mark", s + 1))
            g.add("c", ELLIPSE, ["recv (PP stage %d -> stage %d)" % (s, s + 1), "In: " + hs, "Out: " + hs,
                                 grp(s + 1)], ("recv", s + 1))
    sl = PP - 1
    for r in range(T):
        g.add("n", BOX, ["RMSNorm (final norm)", "TP rank %d" % r, "In: " + hs, "Out: " + hs, gpu(sl, r)], ("fn", r))
    for r in range(T):
        g.add("h", BOX, ["ParallelLMHead", "TP rank %d" % r, "In: " + hs, "Out: " + shp(N, V // T), gpu(sl, r)],
              ("lm", r))
    g.add("c", ELLIPSE, ["tensor_model_parallel_all_gather", "In: " + shp(N, V // T), "Out: " + shp(N, V), grp(sl)],
          ("ag",))
    g.add("t", BOX, ["Output (logits)", "In: " + shp(N, V), "Out: " + shp(N, V), grp(sl)], ("out",))

    # ---- wiring
    R = g.R

    def attn(l, x):
        for r in range(T):
            g.e(x[r], R("n1", l, r))
            g.e(R("n1", l, r), R("qkv", l, r))
            g.e(R("qkv", l, r), R("split", l, r))
            for t in ("q", "k", "v"):
                g.e(R("split", l, r), R(t, l, r))
            g.e(R("q", l, r), R("qk", l, r))
            g.e(R("k", l, r), R("qk", l, r))
            g.e(R("qk", l, r), R("sm", l, r))
            g.e(R("sm", l, r), R("pv", l, r))
            g.e(R("v", l, r), R("pv", l, r))
            g.e(R("pv", l, r), R("o", l, r))
            g.e(R("o", l, r), R("ar1", l))
        for r in range(T):
            g.e(R("ar1", l), R("add1", l, r))
            g.e(x[r], R("add1", l, r))
        return [R("add1", l, r) for r in range(T)]

    def ffn(l, x):
        for r in range(T):
            g.e(x[r], R("n2", l, r))
        if moe:
            for r in range(T):
                g.e(R("n2", l, r), R("rt", l, r))
                g.e(R("rt", l, r), R("disp", l), style="dashed")
            for j in range(E):
                g.e(R("disp", l), R("exp", l, j))
                g.e(R("exp", l, j), R("comb", l))
            for r in range(T):
                g.e(R("comb", l), R("tws", l, r))
                g.e(R("rt", l, r), R("tws", l, r), style="dashed")
                g.e(R("tws", l, r), R("add2", l, r))
        else:
            for r in range(T):
                g.e(R("n2", l, r), R("gu", l, r))
                g.e(R("gu", l, r), R("act", l, r))
                g.e(R("act", l, r), R("dn", l, r))
                g.e(R("dn", l, r), R("ar2", l))
            for r in range(T):
                g.e(R("ar2", l), R("add2", l, r))
        for r in range(T):
            g.e(x[r], R("add2", l, r))
        return [R("add2", l, r) for r in range(T)]

    for l in range(1, L + 1):
        s = stage_of[l]
        if order.get(l) == "moe_first":
            # sublayers swapped; the adds keep their ids, the last one of the layer feeds on
            mid = ffn(l, stream)
            stream = attn(l, mid)
        else:
            stream = ffn(l, attn(l, stream))
        if s < PP - 1 and l == stages[s][1]:
            snd, mk, rcv = R("send", s), R("mark", s + 1), R("recv", s + 1)
            for r in range(T):
                g.e(stream[r], snd)
            g.e(snd, mk)
            g.e(mk, rcv)
            stream = [rcv] * T
    for r in range(T):
        g.e(stream[r], R("fn", r))
        g.e(R("fn", r), R("lm", r))
        g.e(R("lm", r), R("ag",))
    g.e(R("ag",), R("out",))
    g.cfg = cfg
    return g


CFG = {
    "clean_1": dict(tp=2, ep=2, pp=1, dp=1, layers=2, hidden=2048, heads=16, head_dim=128, batch=4, seq=256,
                    vocab=32000, moe=True, experts=8, topk=2, stage_layers=[(1, 2)]),
    "clean_2": dict(tp=4, ep=4, pp=2, dp=1, layers=4, hidden=4096, heads=32, head_dim=128, batch=8, seq=256,
                    vocab=32000, moe=True, experts=8, topk=2, stage_layers=[(1, 2), (3, 4)]),
    "clean_3": dict(tp=4, ep=1, pp=1, dp=1, layers=3, hidden=3072, heads=24, head_dim=128, batch=2, seq=512,
                    vocab=32000, moe=False, ffn=8192, stage_layers=[(1, 3)]),
}


def clean(name, **over):
    cfg = copy.deepcopy(CFG[name])
    cfg.update(over)
    return build(cfg)


# ---------------------------------------------------------------- self check (clean files)

SHP = re.compile(r"\[[^\]]*\]")


def shapes(g, nid, pre):
    r = g.get_row(nid, pre)
    return SHP.findall(r) if r else []


def gpus(g, nid):
    r = g.get_row(nid, "GPU ")
    if r is None:
        return None
    m = re.fullmatch(r"GPU (\d+)(?:-(\d+))?", r)
    a = int(m.group(1))
    b = int(m.group(2) or a)
    return set(range(a, b + 1))


def selfcheck(g):
    cfg, probs = g.cfg, []
    T = cfg["tp"]
    ins = {n: g.in_edges(n) for n in g.order}
    outs = {n: g.out_edges(n) for n in g.order}
    src, snk = g.R("in"), g.R("out")
    for n in g.order:
        if n != src and not ins[n]:
            probs.append("no input " + n)
        if n != snk and not outs[n]:
            probs.append("no output " + n)
        nd = g.nodes[n]
        if nd["shape"] != ELLIPSE:
            for p in ("In: ", "Out: ", "GPU "):
                if g.get_row(n, p) is None:
                    probs.append("missing %s on %s" % (p, n))
        for row in nd["rows"]:
            if "?" in row:
                probs.append("placeholder " + n)
    # acyclic + reachability
    seen, stack, state = set(), [], {}

    def dfs(u):
        state[u] = 1
        for v in outs[u]:
            if state.get(v) == 1:
                probs.append("cycle at %s->%s" % (u, v))
            elif v not in state:
                dfs(v)
        state[u] = 2
    sys.setrecursionlimit(10000)
    dfs(src)
    for n in g.order:
        if n not in state:
            probs.append("unreachable " + n)
    total = cfg["tp"] * cfg["ep"] * cfg["pp"] * cfg.get("dp", 1)
    for a, b, _ in g.edges:
        A, B = g.nodes[a], g.nodes[b]
        ga, gb = gpus(g, a), gpus(g, b)
        for gg in (ga, gb):
            if gg and max(gg) >= total:
                probs.append("gpu out of range %s" % a)
        if ELLIPSE in (A["shape"], B["shape"]):
            continue
        if not (ga <= gb or gb <= ga):
            probs.append("cross-gpu %s->%s" % (a, b))
        if not set(shapes(g, a, "Out: ")) & set(shapes(g, b, "In: ")):
            probs.append("shape %s->%s %s vs %s" % (a, b, shapes(g, a, "Out: "), shapes(g, b, "In: ")))
    # head arithmetic on 3-D attention shapes
    for n in g.order:
        for s in shapes(g, n, "In: ") + shapes(g, n, "Out: "):
            d = [int(x) for x in s[1:-1].split(",")]
            if len(d) == 3 and g.nodes[n]["rows"][0] != "topk_weighted_sum" and "combine" not in g.nodes[n]["rows"][0]:
                if d[1] != cfg["heads"] // T:
                    probs.append("heads per rank %s %s" % (n, s))
    return probs


# ---------------------------------------------------------------- defects

MAN = []


def rec(fname, kind, cat, nodes, what):
    MAN.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes, "what": what})


def defects():
    D = {}

    def d(kind, cat):
        def deco(fn):
            D[kind] = (cat, fn)
            return fn
        return deco

    @d("cycle", "structure")
    def _():
        g = clean("clean_1")
        comb, ex = g.R("comb", 2), g.R("exp", 2, 5)
        g.e(comb, ex)
        return g, "clean_1", [ex, comb], ("layer 2: expert_5 -> all_to_all (combine) and all_to_all (combine) -> "
                                          "expert_5, a communication node drawn both ways (cycle)")

    @d("dangling_input", "structure")
    def _():
        g = clean("clean_1")
        v = g.R("v", 1, 1)
        g.rm_edge(g.R("split", 1, 1), v)
        return g, "clean_1", [v], "layer 1 TP rank 1 'reshape (v)' has no incoming edge (split_qkv no longer feeds it)"

    @d("dangling_output", "structure")
    def _():
        g = clean("clean_1")
        ex = g.R("exp", 1, 6)
        g.rm_edge(ex, g.R("comb", 1))
        return g, "clean_1", [ex], "layer 1 expert_6 has no outgoing edge (its edge to the combine all_to_all removed)"

    @d("attention_one_box", "attention")
    def _():
        g = clean("clean_1")
        T, l, ids = 2, 2, []
        for r in range(T):
            qkv, o = g.R("qkv", l, r), g.R("o", l, r)
            inner = [g.R(k, l, r) for k in ("split", "q", "k", "v", "qk", "sm", "pv")]
            gp = g.get_row(qkv, "GPU ")
            for n in inner:
                g.rm_node(n)
            m = g.add("a", BOX, ["Multi-Head Attention", "Layer %d" % l, "TP rank %d" % r,
                                 "In: " + shp(1024, 3 * 2048 // 2), "Out: " + shp(1024, 8, 128), gp])
            # place the box where the removed nodes were (cosmetic only)
            g.order.remove(m)
            g.order.insert(g.order.index(qkv) + 1, m)
            g.e(qkv, m)
            g.e(m, o)
            ids.append(m)
        return g, "clean_1", ids, ("layer 2 attention drawn as one 'Multi-Head Attention' box per TP rank "
                                   "(no qk_matmul/softmax/pv_matmul)")

    @d("v_bypasses_softmax", "attention")
    def _():
        g = clean("clean_1")
        l, ids = 1, []
        for r in range(2):
            sm, pv, o, v = g.R("sm", l, r), g.R("pv", l, r), g.R("o", l, r), g.R("v", l, r)
            g.rm_edge(sm, pv)
            g.e(sm, o)
            g.set_row(pv, "In: ", "In: " + shp(1024, 8, 128))
            g.set_row(o, "In: ", "In: " + shp(1024, 8, 128) + ", " + shp(1024, 8, 256))
            ids += [v, pv, sm]
        return g, "clean_1", ids, ("layer 1: pv_matmul takes only V, the softmax skips it and goes to o_proj "
                                   "(V bypasses the attention probabilities), on both TP ranks")

    @d("v_into_score", "attention")
    def _():
        g = clean("clean_3")
        l, ids = 2, []
        for r in range(4):
            k, v, qk = g.R("k", l, r), g.R("v", l, r), g.R("qk", l, r)
            g.rm_node(k)                      # K is gone; V takes its place in the score
            g.e(v, qk)
            ids += [v, qk]
        return g, "clean_3", ids, ("layer 2: V (reshape (v)) is wired into qk_matmul instead of K, on every TP rank "
                                   "(RotaryEmbedding (k) not drawn)")

    @d("qkv_into_oproj", "attention")
    def _():
        g = clean("clean_3")
        l, ids = 3, []
        for r in range(4):
            for k in ("qk", "sm", "pv"):
                g.rm_node(g.R(k, l, r))
            o = g.R("o", l, r)
            for k in ("q", "k", "v"):
                g.e(g.R(k, l, r), o)
            ids += [g.R("q", l, r), g.R("k", l, r), g.R("v", l, r), o]
        return g, "clean_3", ids, ("layer 3: Q, K and V go straight into RowParallelLinear o_proj; no qk_matmul, "
                                   "softmax or pv_matmul, on every TP rank")

    @d("head_arithmetic", "attention")
    def _():
        g = clean("clean_1")
        l, ids = 2, []
        old, new = shp(1024, 8, 128), shp(1024, 8, 64)
        for r in range(2):
            for k in ("q", "k", "v", "qk", "pv", "o"):
                n = g.R(k, l, r)
                for p in ("In: ", "Out: "):
                    row = g.get_row(n, p)
                    g.set_row(n, p, row.replace(old, new))
                ids.append(n)
        return g, "clean_1", ids, ("layer 2 labels use 8 heads x head_dim 64 per TP rank (16 x 64 = 1024 overall) "
                                   "but hidden is 2048 (1024 per TP2 shard)")

    @d("tp_heads", "attention")
    def _():
        g = clean("clean_2")
        l, r = 3, 1
        N, H = 2048, 4096
        full, hh, sc = shp(N, H), shp(N, 32, 128), shp(N, 32, 256)
        R = lambda k: g.R(k, l, r)
        g.set_row(R("qkv"), "Out: ", "Out: " + shp(N, 3 * H))
        g.set_row(R("split"), "In: ", "In: " + shp(N, 3 * H))
        g.set_row(R("split"), "Out: ", "Out: " + ", ".join([full] * 3))
        for k in ("q", "k", "v"):
            g.set_row(R(k), "In: ", "In: " + full)
            g.set_row(R(k), "Out: ", "Out: " + hh)
        g.set_row(R("qk"), "In: ", "In: " + hh + ", " + hh)
        g.set_row(R("qk"), "Out: ", "Out: " + sc)
        g.set_row(R("sm"), "In: ", "In: " + sc)
        g.set_row(R("sm"), "Out: ", "Out: " + sc)
        g.set_row(R("pv"), "In: ", "In: " + sc + ", " + hh)
        g.set_row(R("pv"), "Out: ", "Out: " + hh)
        g.set_row(R("o"), "In: ", "In: " + hh)
        return g, "clean_2", [R("qkv"), R("split"), R("q"), R("k"), R("v")], (
            "layer 3 TP rank 1 (GPU 5) QKVParallelLinear outputs all 32 heads ([2048, 12288]) instead of "
            "32/TP4 = 8 heads; its attention runs on [2048, 32, 128]")

    @d("edge_shape_mismatch", "shape")
    def _():
        g = clean("clean_1")
        q = g.R("qkv", 2, 0)
        g.set_row(q, "In: ", "In: " + shp(1024, 3072))
        return g, "clean_1", [g.R("n1", 2, 0), q], ("layer 2 TP rank 0: RMSNorm outputs [1024, 2048] but "
                                                    "QKVParallelLinear expects [1024, 3072] (factor 1.5)")

    @d("shard_without_gather", "shape")
    def _():
        g = clean("clean_3")
        l, ids = 2, []
        g.rm_node(g.R("ar2", l))
        for r in range(4):
            dn, ad = g.R("dn", l, r), g.R("add2", l, r)
            g.set_row(dn, "Out: ", "Out: " + shp(1024, 3072 // 4))
            g.e(dn, ad)
            ids += [dn, ad]
        return g, "clean_3", ids, ("layer 2: down_proj outputs a hidden/TP shard [1024, 768] (3072/TP4) that goes "
                                   "straight into the residual add expecting [1024, 3072], no all-reduce/all-gather")

    @d("stage_count", "pipeline")
    def _():
        g = clean("clean_2")
        g.comment = "strategy: tp=4 ep=4 pp=3 dp=1"
        return g, "clean_2", [g.R("mark", 0), g.R("mark", 1)], ("declares pp=3 but two PP stages are drawn "
                                                                "(markers for stage 0 and stage 1)")

    @d("stage_range_gap", "pipeline")
    def _():
        g = clean("clean_2")
        m = g.R("mark", 0)
        g.set_row(m, "PP stage", "PP stage 0 start, layers 1-1, GPUs 0-3")
        return g, "clean_2", [m, g.R("mark", 1)], ("stage 0 claims layers 1-1 and stage 1 layers 3-4: layer 2 is in "
                                                   "no stage's range (gap)")

    @d("stage_missing_layer", "pipeline")
    def _():
        g = clean("clean_2")
        m = g.R("mark", 1)
        g.set_row(m, "PP stage", "PP stage 1 start, layers 3-5, GPUs 4-7")
        return g, "clean_2", [m], "stage 1 claims layers 3-5 but layer 5 has no operator nodes"

    @d("no_stage_transfer", "pipeline")
    def _():
        g = clean("clean_2")
        snd, mk, rcv = g.R("send", 0), g.R("mark", 1), g.R("recv", 1)
        last = [g.R("add2", 2, r) for r in range(4)]
        nxt = g.out_edges(rcv)
        g.rm_node(snd)
        g.rm_node(rcv)
        for a in last:
            g.e(a, mk)
        for b in nxt:
            g.e(mk, b)
        return g, "clean_2", last + [mk], ("stage 0 (GPUs 0-3) joins stage 1 (GPUs 4-7) by plain edges from the "
                                           "layer-2 adds to the stage-1 marker, no send/recv")

    def move_expert(g, l, j, ep_rank, gpu_id):
        n = g.R("exp", l, j)
        g.set_row(n, "EP rank", "EP rank %d" % ep_rank)
        g.set_row(n, "GPU ", "GPU %d" % gpu_id)
        return n

    @d("experts_subset_ranks", "expert")
    def _():
        g = clean("clean_2")
        ids = []
        for j in range(8):      # layer 2: experts only on EP ranks 0 and 1 (4 each), ranks 2, 3 empty
            ids.append(move_expert(g, 2, j, j // 4, j // 4))
        return g, "clean_2", ids, ("layer 2: all 8 experts sit on EP ranks 0 and 1 (GPUs 0, 1), none on EP ranks "
                                   "2 and 3 although EP=4")

    @d("experts_uneven", "expert")
    def _():
        g = clean("clean_2")
        n = move_expert(g, 3, 1, 1, 5)
        return g, "clean_2", [n], ("layer 3: expert_1 moved from EP rank 0 to EP rank 1: ranks hold 1, 3, 2, 2 "
                                   "experts instead of 8/4 = 2 each")

    @d("experts_share_gpu", "expert")
    def _():
        g = clean("clean_2")
        n = g.R("exp", 1, 2)
        g.set_row(n, "GPU ", "GPU 0")
        return g, "clean_2", [n, g.R("exp", 1, 0), g.R("exp", 1, 1)], (
            "layer 1: expert_2 (EP rank 1) placed on GPU 0 together with EP rank 0's experts 0 and 1")

    @d("no_gate", "expert")
    def _():
        g = clean("clean_1")
        l = 2
        ids = []
        for r in range(2):
            rt = g.R("rt", l, r)
            n2, tws = g.R("n2", l, r), g.R("tws", l, r)
            g.rm_node(rt)
            g.e(n2, g.R("disp", l))
            g.set_row(tws, "In: ", "In: " + shp(1024, 2, 2048))
            ids += [n2, g.R("disp", l)]
        return g, "clean_1", sorted(set(ids), key=ids.index), (
            "layer 2: no FusedMoE router; the norm output goes straight to the dispatch all_to_all and the experts")

    @d("no_all_to_all", "expert")
    def _():
        g = clean("clean_1")
        l = 1
        disp = g.R("disp", l)
        g.rm_node(disp)
        ids = []
        for j in range(8):
            ex = g.R("exp", l, j)
            g.e(g.R("rt", l, j // 4), ex, style="dashed")
            g.set_row(ex, "In: ", "In: " + shp(1024, 2048))
            g.set_row(ex, "Out: ", "Out: " + shp(1024, 2048))
            g.set_row(g.R("comb", l), "In: ", "In: " + shp(1024, 2048))
            ids.append(ex)
        return g, "clean_1", [g.R("rt", l, 0), g.R("rt", l, 1)] + ids, (
            "layer 1: each router feeds its local experts directly, no all_to_all (dispatch) although EP=2")

    @d("tp_rank_missing", "tensor")
    def _():
        g = clean("clean_3")
        l, r = 2, 3
        dn = g.R("dn", l, r)
        g.rm_node(dn)
        g.e(g.R("act", l, r), g.R("ar2", l))
        return g, "clean_3", [g.R("act", l, r), g.R("ar2", l)], (
            "layer 2: RowParallelLinear down_proj drawn for TP ranks 0-2 only; rank 3's SiluAndMul goes straight "
            "to the all-reduce")

    @d("no_allreduce_after_rowparallel", "tensor")
    def _():
        g = clean("clean_1")
        l = 1
        g.rm_node(g.R("ar1", l))
        ids = []
        for r in range(2):
            g.e(g.R("o", l, r), g.R("add1", l, r))
            ids += [g.R("o", l, r), g.R("add1", l, r)]
        return g, "clean_1", ids, ("layer 1: RowParallelLinear o_proj partial sums go straight into the residual "
                                   "add; the tensor_model_parallel_all_reduce is missing")

    @d("cross_gpu_no_comm", "communication")
    def _():
        g = clean("clean_3")
        a, b = g.R("add2", 1, 0), g.R("add1", 2, 1)
        g.rm_edge(g.R("add2", 1, 1), b)
        g.e(a, b)
        return g, "clean_3", [a, b], ("layer 2 TP rank 1 residual add (GPU 1) takes its skip input from layer 1's "
                                      "add on GPU 0, an edge across GPUs with no communication node")

    @d("comm_wrong_shape", "communication")
    def _():
        g = clean("clean_1")
        n = g.R("ar1", 2)
        g.nodes[n]["shape"] = BOX
        return g, "clean_1", [n], "layer 2 attention tensor_model_parallel_all_reduce drawn as a box, not an ellipse"

    @d("missing_gpu", "gpu")
    def _():
        g = clean("clean_2")
        n = g.R("qkv", 2, 2)
        g.drop_row(n, "GPU ")
        return g, "clean_2", [n], "layer 2 TP rank 2 QKVParallelLinear has no GPU placement"

    @d("gpu_out_of_range", "gpu")
    def _():
        g = clean("clean_2")
        n = g.R("exp", 4, 3)
        g.set_row(n, "GPU ", "GPU 40")
        return g, "clean_2", [n], ("layer 4 expert_3 placed on GPU 40, beyond the 32 GPUs of tp4 x ep4 x pp2 "
                                   "(and the 8 drawn)")

    @d("stages_share_gpus", "gpu")
    def _():
        g = clean("clean_2", stage_base=[0, 2])
        return g, "clean_2", [g.R("mark", 0), g.R("mark", 1)], ("stage 0 uses GPUs 0-3 and stage 1 GPUs 2-5: "
                                                                "GPUs 2 and 3 are in both stages")

    @d("strategy_mismatch", "strategy")
    def _():
        g = clean("clean_1")
        g.comment = "strategy: tp=4 ep=2 pp=1 dp=1"
        return g, "clean_1", [], "declares tp=4 but only TP ranks 0-1 (GPUs 0-1) are drawn"

    @d("missing_shapes", "annotation")
    def _():
        g = clean("clean_3")
        n = g.R("sm", 3, 1)
        g.drop_row(n, "In: ")
        g.drop_row(n, "Out: ")
        return g, "clean_3", [n], "layer 3 TP rank 1 softmax has no In/Out shapes"

    @d("placeholder", "annotation")
    def _():
        g = clean("clean_1")
        n = g.R("in")
        g.set_row(n, "In: ", "In: [?]")
        g.set_row(n, "Out: ", "Out: [?]")
        return g, "clean_1", [n], "Input node gives its token shape as [?] instead of [1024]"

    @d("moe_before_attention", "structure")
    def _():
        g = clean("clean_1", order={2: "moe_first"})
        return g, "clean_1", [g.R("n2", 2, 0), g.R("n2", 2, 1), g.R("n1", 2, 0), g.R("n1", 2, 1)], (
            "layer 2: the MoE block (norm, router, all_to_all, experts) is wired before the layer's attention")

    @d("missing_residual", "structure")
    def _():
        g = clean("clean_3")
        a = g.R("add2", 1, 0)
        g.rm_edge(g.R("add1", 1, 0), a)
        return g, "clean_3", [a], ("layer 1 TP rank 0 MLP residual add gets only the all-reduce output; the skip "
                                   "edge from the attention add was removed")

    return D


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    ok = True
    for name in ("clean_1", "clean_2", "clean_3"):
        g = clean(name)
        probs = selfcheck(g)
        if probs:
            ok = False
            print(name, "SELF-CHECK FAILED:", *probs[:20], sep="\n  ")
        with open(os.path.join(OUT, name + ".dot"), "w") as fh:
            fh.write(g.dot())
        c = g.cfg
        rec(name + ".dot", "clean", "none", [],
            "correct %s DAG, %s, %d layers, hidden %d, %d heads x %d%s" % (
                "MoE" if c["moe"] else "dense", g.comment.split(": ")[1], c["layers"], c["hidden"], c["heads"],
                c["head_dim"], (", %d experts top-%d" % (c["experts"], c["topk"])) if c["moe"] else
                ", ffn %d" % c["ffn"]))
    for kind, (cat, fn) in defects().items():
        g, base, nodes, what = fn()
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.dot())
        rec(fname, kind, cat, nodes, what + " (from %s)" % base)
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(MAN, fh, indent=1)
    print("wrote %d files to %s" % (len(MAN), OUT))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
