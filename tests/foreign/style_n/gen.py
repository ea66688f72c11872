#!/usr/bin/env python3
"""House style N: DeepSeek/Qwen-like MoE (shared expert + GQA) deployment DAGs.

Layout (per DP replica, per PP stage): the stage owns EP GPUs, one per EP rank.
Attention runs tensor-parallel in groups of TP consecutive EP ranks (EP/TP
attention groups, each serving B/(EP/TP) sequences); experts run with TP=1,
E/EP experts per EP rank. After the attention all-reduce every TP rank splits
its tokens along the sequence (S/TP) for the MoE part and an all-gather
restores the full sequence at the end of each block (sequence-parallel MoE).

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
Stdlib only.
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

CFG = {
    "clean_1": dict(model="qwen-moe-mini", H=2048, hq=16, hkv=4, d=128, V=32000,
                    E=8, k=2, NB=4, TP=2, EP=4, PP=2, DP=2, B=4, S=1024),
    "clean_2": dict(model="dsk-moe-small", H=4096, hq=32, hkv=8, d=128, V=32000,
                    E=16, k=2, NB=2, TP=4, EP=8, PP=1, DP=1, B=4, S=512),
    "clean_3": dict(model="qwen-moe-tiny", H=1024, hq=8, hkv=2, d=128, V=32000,
                    E=4, k=1, NB=4, TP=2, EP=2, PP=2, DP=1, B=2, S=256),
}


def strat(c, tp=None, ep=None, pp=None, dp=None):
    return "tp%d\u00b7ep%d\u00b7pp%d\u00b7dp%d" % (
        tp or c["TP"], ep or c["EP"], pp or c["PP"], dp or c["DP"])


def fmt(shape):
    return "[" + ",".join(str(x) for x in shape) + "]"


# ---------------------------------------------------------------- node ids
def i_attn(d, L, op, a, t):
    return "dp%d.blk%d.attn.%s.g%d.r%d" % (d, L, op, a, t)


def i_ar(d, L, a):
    return "dp%d.blk%d.attn.ar.g%d" % (d, L, a)


def i_add(d, L, a, t):
    return "dp%d.blk%d.add.g%d.r%d" % (d, L, a, t)


def i_moe(d, L, op, e):
    return "dp%d.blk%d.moe.%s.ep%d" % (d, L, op, e)


def i_exp(d, L, j, e):
    return "dp%d.blk%d.moe.expert%d.ep%d" % (d, L, j, e)


def i_disp(d, L):
    return "dp%d.blk%d.moe.dispatch" % (d, L)


def i_comb(d, L):
    return "dp%d.blk%d.moe.combine" % (d, L)


def i_ag(d, L, a):
    return "dp%d.blk%d.ag.g%d" % (d, L, a)


# ---------------------------------------------------------------- model
class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = {}      # id -> dict(op, kind, ins, out, gpu, extra, cl)
        self.order = []
        self.edges = []      # [src, dst, attrs]
        self.clabels = {}    # cluster key -> label

    def add(self, nid, op, kind, ins, out, gpu, cl, extra=()):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, kind=kind, ins=ins, out=out, gpu=gpu,
                               cl=cl, extra=list(extra), shape=None)
        self.order.append(nid)
        return nid

    def e(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == a and x[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def render(self):
        shapes = {"comm": "ellipse", "comp": "box", "route": "parallelogram"}
        out = ['digraph "%s" {' % self.name,
               '  graph [label="%s", labelloc=t, rankdir=TB, fontname="monospace"];' % self.label,
               '  node [fontname="monospace", fontsize=9];',
               '  edge [arrowsize=0.6];']

        def node_line(nid, ind):
            n = self.nodes[nid]
            lines = ["op=%s" % n["op"]]
            if n["ins"] is not None:
                lines.append("in=" + ", ".join(fmt(s) if isinstance(s, (list, tuple)) else s
                                                for s in n["ins"]))
            if n["out"] is not None:
                o = n["out"]
                lines.append("out=" + (fmt(o) if isinstance(o, (list, tuple)) else o))
            if n["gpu"] is not None:
                lines.append("gpu=%s" % n["gpu"])
            lines += n["extra"]
            shape = n["shape"] or shapes[n["kind"]]
            return '%s"%s" [shape=%s, label="%s"];' % (ind, nid, shape, "\\n".join(lines))

        # group by cluster path
        tree = {}
        for nid in self.order:
            tree.setdefault(self.nodes[nid]["cl"], []).append(nid)
        dps = sorted({cl[0] for cl in tree if cl})
        for nid in tree.get((), []):
            out.append(node_line(nid, "  "))
        for dp in dps:
            out.append('  subgraph "cluster_%s" {' % dp)
            out.append('    label="%s";' % self.clabels[(dp,)])
            for nid in tree.get((dp,), []):
                out.append(node_line(nid, "    "))
            stages = sorted(cl for cl in tree if len(cl) == 2 and cl[0] == dp)
            for cl in stages:
                out.append('    subgraph "cluster_%s_%s" {' % cl)
                out.append('      label="%s";' % self.clabels[cl])
                for nid in tree[cl]:
                    out.append(node_line(nid, "      "))
                out.append('    }')
            out.append('  }')
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join("%s=%s" % kv for kv in sorted(attrs.items())) + "]"
            out.append('  "%s" -> "%s"%s;' % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- builder
def build(c, name, f=None):
    """f: dict of structural defect flags (see DEFECTS)."""
    f = f or {}
    H, hq, hkv, dh, V = c["H"], c["hq"], c["hkv"], c["d"], c["V"]
    E, k, NB, TP, EP, PP, DP, B, S = (c[x] for x in
                                      ("E", "k", "NB", "TP", "EP", "PP", "DP", "B", "S"))
    NG = EP // TP
    Bg = B // NG
    Ss = S // TP
    cap = B * S * k // E
    per = E // EP
    bps = NB // PP
    assert hq * dh == H and hq % TP == 0 and hkv % TP == 0 and EP % TP == 0
    assert B % NG == 0 and S % TP == 0 and E % EP == 0 and NB % PP == 0 and V % TP == 0
    assert (B * S * k) % E == 0

    g = Graph(c["model"], "%s forward  %s" % (c["model"], f.get("strategy") or strat(c)))

    def gbase(dd, p):
        b = dd * PP * EP + p * EP
        if f.get("stage_shift") and p == 1:
            b -= f["stage_shift"]
        return b

    def rng(lo, hi):
        return str(lo) if lo == hi else "%d-%d" % (lo, hi)

    drawn = [L for L in range(NB) if L not in f.get("skip_blocks", ())]

    for d in range(DP):
        g.clabels[("dp%d" % d,)] = "dp%d" % d
        for p in range(PP):
            lab = f.get("stage_labels", {}).get(p)
            g.clabels[("dp%d" % d, "pp%d" % p)] = lab or "pp%d [blocks %d..%d]" % (
                p, p * bps, p * bps + bps - 1)
        DPc = ("dp%d" % d,)

        def st(p):
            return ("dp%d" % d, "pp%d" % p)

        # ---- input, embedding
        b0 = gbase(d, 0)
        inp = g.add("dp%d.input" % d, "input", "comp", [[B, S]], [B, S],
                    rng(b0, b0 + EP - 1), st(0))
        sc = g.add("dp%d.scatter" % d, "scatter" if NG > 1 else "broadcast", "comm", [[B, S]], [Bg, S],
                   rng(b0, b0 + EP - 1), st(0))
        g.e(inp, sc)
        srcs = {}
        for e in range(EP):
            a, t = divmod(e, TP)
            em = g.add("dp%d.embed.g%d.r%d" % (d, a, t), "embed", "comp", [[Bg, S]],
                       [Bg, S, H], b0 + e, st(0))
            g.e(sc, em)
            srcs[e] = em

        def attn_sub(L, p, srcs):
            cl = st(p)
            gb = gbase(d, p)
            dd = f.get("head_dim", {}).get(L, dh)
            outs = {}
            wos = {}
            for e in range(EP):
                a, t = divmod(e, TP)
                gpu = gb + e
                hr = hq // TP
                if f.get("tp_heads") == (d, L, a, t):
                    hr = hq
                kr = hkv // TP
                qs, ks, ss = [Bg, S, hr, dd], [Bg, S, kr, dd], [Bg, hr, S, S]
                A = lambda op: i_attn(d, L, op, a, t)
                n1 = g.add(A("norm"), "norm", "comp", [[Bg, S, H]], [Bg, S, H], gpu, cl)
                g.e(srcs[e], n1)
                if f.get("one_box") == L:
                    mha = g.add(A("mha"), "Multi-Head Attention", "comp", [[Bg, S, H]],
                                [Bg, S, H], gpu, cl)
                    g.e(n1, mha)
                    wos[e] = mha
                    continue
                wq = g.add(A("wq"), "wq", "comp", [[Bg, S, H]], qs, gpu, cl)
                g.e(n1, wq)
                no_k = f.get("v_into_score") == L
                if not no_k:
                    wk = g.add(A("wk"), "wk", "comp", [[Bg, S, H]], ks, gpu, cl)
                    g.e(n1, wk)
                wv = g.add(A("wv"), "wv", "comp", [[Bg, S, H]], ks, gpu, cl)
                g.e(n1, wv)
                if f.get("tp_rank_missing") == (d, L, a, t):
                    rq = wq            # rope_q not drawn on this rank
                else:
                    rq = g.add(A("rope_q"), "rope_q", "comp", [qs], qs, gpu, cl)
                    g.e(wq, rq)
                if not no_k:
                    rk = g.add(A("rope_k"), "rope_k", "comp", [ks], ks, gpu, cl)
                    g.e(wk, rk)
                if f.get("qkv_into_oproj") == L:
                    wo = g.add(A("wo"), "wo", "comp", [qs, ks, ks], [Bg, S, H], gpu, cl)
                    g.e(rq, wo)
                    g.e(rk, wo)
                    g.e(wv, wo)
                    wos[e] = wo
                    continue
                qk = g.add(A("qk"), "qk", "comp", [qs, ks], ss, gpu, cl)
                g.e(rq, qk)
                g.e(wv if no_k else rk, qk)
                sm = g.add(A("softmax"), "softmax", "comp", [ss], ss, gpu, cl)
                g.e(qk, sm)
                bypass = f.get("v_bypass") == (d, L, a, t)
                pv = g.add(A("pv"), "pv", "comp", [ks] if bypass else [ss, ks],
                           [Bg, S, hr * dd], gpu, cl)
                if not bypass:
                    g.e(sm, pv)
                g.e(wv, pv)
                wo = g.add(A("wo"), "wo", "comp",
                           [[Bg, S, hr * dd], ss] if bypass else [[Bg, S, hr * dd]],
                           [Bg, S, H], gpu, cl)
                g.e(pv, wo)
                if bypass:
                    g.e(sm, wo)
                wos[e] = wo
            for a in range(NG):
                lo = gb + a * TP
                if f.get("no_ar") == L:
                    for t in range(TP):
                        e = a * TP + t
                        ad = g.add(i_add(d, L, a, t), "add", "comp", [[Bg, S, H]], [Bg, S, H],
                                   gb + e, cl)
                        g.e(wos[e], ad)
                        g.e(srcs[e], ad)
                        outs[e] = ad
                    continue
                ar = g.add(i_ar(d, L, a), "ar", "comm", [[Bg, S, H]], [Bg, S, H],
                           rng(lo, lo + TP - 1), cl)
                for t in range(TP):
                    g.e(wos[a * TP + t], ar)
                for t in range(TP):
                    e = a * TP + t
                    ad = g.add(i_add(d, L, a, t), "add", "comp", [[Bg, S, H]], [Bg, S, H],
                               gb + e, cl)
                    g.e(ar, ad)
                    g.e(srcs[e], ad)
                    outs[e] = ad
            return outs

        def moe_sub(L, p, srcs):
            cl = st(p)
            gb = gbase(d, p)
            tok = [Bg, Ss, H]
            splits, norms, routers, adds = {}, {}, {}, {}
            nogate = f.get("no_gate") == L
            no_a2a = f.get("no_a2a") == L
            for e in range(EP):
                gpu = gb + e
                sp = g.add(i_moe(d, L, "split", e), "split", "route", [[Bg, S, H]], tok, gpu, cl)
                g.e(srcs[e], sp)
                n2 = g.add(i_moe(d, L, "norm", e), "norm", "comp", [tok], tok, gpu, cl)
                g.e(sp, n2)
                splits[e], norms[e] = sp, n2
                if not nogate:
                    ro = g.add(i_moe(d, L, "router", e), "router", "route", [tok],
                               [Bg, Ss, k], gpu, cl)
                    g.e(n2, ro)
                    routers[e] = ro
            stage_rng = rng(gb, gb + EP - 1)
            if not no_a2a:
                disp = g.add(i_disp(d, L), "dispatch", "comm", [tok], [cap, H], stage_rng, cl)
                for e in range(EP):
                    g.e(norms[e], disp)
                    if e in routers:
                        g.e(routers[e], disp, style="dashed")
            comb = g.add(i_comb(d, L), "combine", "comm", [[cap, H]] if not no_a2a else [tok],
                         tok, stage_rng, cl)
            # expert placement
            place = {}
            for j in range(E):
                place[j] = j // per
            for (dd_, LL, j), e in f.get("move_expert", {}).items():
                if (dd_, LL) == (d, L):
                    place[j] = e
            drop = set()
            for (dd_, LL, e) in f.get("drop_rank_experts", ()):
                if (dd_, LL) == (d, L):
                    drop |= {j for j in range(E) if place[j] == e}
            for j in range(E):
                if j in drop:
                    continue
                e = place[j]
                gpu = gb + e
                gpu = f.get("expert_gpu", {}).get((d, L, j), gpu)
                if no_a2a:
                    ex = g.add(i_exp(d, L, j, e), "expert%d" % j, "comp",
                               [tok, [Bg, Ss, k]], tok, gpu, cl)
                    g.e(norms[e], ex)
                    g.e(routers[e], ex, style="dashed")
                else:
                    ex = g.add(i_exp(d, L, j, e), "expert%d" % j, "comp", [[cap, H]], [cap, H],
                               gpu, cl)
                    g.e(disp, ex)
                g.e(ex, comb)
            for e in range(EP):
                gpu = gb + e
                sh = g.add(i_moe(d, L, "shared_expert", e), "shared_expert", "comp", [tok], tok,
                           gpu, cl)
                g.e(norms[e], sh)
                ma = g.add(i_moe(d, L, "moe_add", e), "moe_add", "route", [tok], tok, gpu, cl)
                g.e(sh, ma)
                g.e(comb, ma)
                ad = g.add(i_moe(d, L, "add", e), "add", "comp", [tok], tok, gpu, cl)
                g.e(ma, ad)
                g.e(splits[e], ad)
                adds[e] = ad
            outs = {}
            for a in range(NG):
                lo = gb + a * TP
                ag = g.add(i_ag(d, L, a), "all_gather", "comm", [tok], [Bg, S, H],
                           rng(lo, lo + TP - 1), cl)
                for t in range(TP):
                    g.e(adds[a * TP + t], ag)
                for t in range(TP):
                    outs[a * TP + t] = ag
            return outs

        for p in range(PP):
            for L in range(p * bps, p * bps + bps):
                if L not in drawn:
                    continue
                if f.get("moe_first") == L:
                    srcs = attn_sub(L, p, moe_sub(L, p, srcs))
                else:
                    srcs = moe_sub(L, p, attn_sub(L, p, srcs))
            if p < PP - 1 and not f.get("no_transfer"):
                new = {}
                for a in range(NG):
                    lo, hi = gbase(d, p) + a * TP, gbase(d, p + 1) + a * TP
                    gl = ",".join(str(x) for x in sorted(set(range(lo, lo + TP)) |
                                                         set(range(hi, hi + TP))))
                    x = g.add("dp%d.pp%dto%d.g%d" % (d, p, p + 1, a), "send_recv", "comm",
                              [[Bg, S, H]], [Bg, S, H], gl, DPc,
                              extra=["path=pp%d->pp%d" % (p, p + 1)])
                    for s_ in sorted({srcs[a * TP + t] for t in range(TP)}):
                        g.e(s_, x)
                    for t in range(TP):
                        new[a * TP + t] = x
                srcs = new

        # ---- final norm, vocab-parallel LM head, logits all-gather, outputs
        p = PP - 1
        gb = gbase(d, p)
        for a in range(NG):
            heads = []
            for t in range(TP):
                e = a * TP + t
                fn = g.add("dp%d.final_norm.g%d.r%d" % (d, a, t), "norm", "comp", [[Bg, S, H]],
                           [Bg, S, H], gb + e, st(p))
                g.e(srcs[e], fn)
                lm = g.add("dp%d.lm_head.g%d.r%d" % (d, a, t), "lm_head", "comp", [[Bg, S, H]],
                           [Bg, S, V // TP], gb + e, st(p))
                g.e(fn, lm)
                heads.append(lm)
            skip_ag = f.get("no_logits_ag") == (d, a)
            if not skip_ag:
                lag = g.add("dp%d.logits_ag.g%d" % (d, a), "all_gather", "comm",
                            [[Bg, S, V // TP]], [Bg, S, V], rng(gb + a * TP, gb + a * TP + TP - 1),
                            st(p))
                for lm in heads:
                    g.e(lm, lag)
            for t in range(TP):
                e = a * TP + t
                o = g.add("dp%d.output.g%d.r%d" % (d, a, t), "output", "comp", [[Bg, S, V]],
                          [Bg, S, V], gb + e, st(p))
                g.e(heads[t] if skip_ag else lag, o)
    return g


# ---------------------------------------------------------------- defects
def D(kind, base, category, nodes, what, flags=None, post=None):
    return dict(kind=kind, base=base, category=category, nodes=nodes, what=what,
                flags=flags or {}, post=post)


def p_cycle(g):
    g.e(i_attn(0, 2, "norm", 1, 0), "dp0.pp0to1.g1")


def p_dangling_input(g):
    g.remove_edge(i_attn(0, 1, "norm", 0, 1), i_attn(0, 1, "wk", 0, 1))


def p_dangling_output(g):
    g.remove_edge(i_moe(0, 0, "shared_expert", 5), i_moe(0, 0, "moe_add", 5))


def p_edge_shape(g):
    n = g.nodes[i_moe(0, 2, "shared_expert", 1)]
    n["ins"] = [[2, 128, 3072]]


def p_cross_gpu(g):
    g.remove_edge(i_attn(0, 2, "norm", 1, 1), i_attn(0, 2, "wq", 1, 1))
    g.e(i_attn(0, 2, "norm", 1, 0), i_attn(0, 2, "wq", 1, 1))


def p_comm_box(g):
    g.nodes[i_ar(1, 1, 0)]["shape"] = "box"


def p_missing_gpu(g):
    g.nodes[i_exp(0, 1, 9, 4)]["gpu"] = None


def p_missing_shapes(g):
    n = g.nodes[i_attn(0, 2, "rope_k", 0, 0)]
    n["ins"] = None
    n["out"] = None


def p_placeholder(g):
    n = g.nodes[i_moe(1, 2, "shared_expert", 2)]
    n["ins"] = ["[?,512,2048]"]
    n["out"] = "[?,512,2048]"


def p_missing_residual(g):
    g.remove_edge(i_ag(0, 0, 0), i_add(0, 1, 0, 0))


DEFECTS = [
    D("cycle", "clean_1", "structure", ["dp0.pp0to1.g1", i_attn(0, 2, "norm", 1, 0)],
      "The pp0->pp1 send_recv of dp0 group 1 is drawn both ways with block 2's norm "
      "(send_recv -> norm and norm -> send_recv), forming a cycle.", post=p_cycle),
    D("dangling_input", "clean_3", "structure", [i_attn(0, 1, "wk", 0, 1)],
      "The K projection of block 1, TP rank 1 has no incoming edge (norm -> wk removed).",
      post=p_dangling_input),
    D("dangling_output", "clean_2", "structure", [i_moe(0, 0, "shared_expert", 5)],
      "The shared expert of block 0 on EP rank 5 feeds nothing (its edge to moe_add removed).",
      post=p_dangling_output),
    D("attention_one_box", "clean_3", "attention",
      [i_attn(0, 2, "mha", 0, 0), i_attn(0, 2, "mha", 0, 1)],
      "Block 2's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of "
      "wq/wk/wv/rope/qk/softmax/pv/wo operators.", flags={"one_box": 2}),
    D("v_bypasses_softmax", "clean_3", "attention",
      [i_attn(0, 1, "softmax", 0, 0), i_attn(0, 1, "pv", 0, 0), i_attn(0, 1, "wo", 0, 0)],
      "In block 1, TP rank 0, V feeds pv but the softmax does not: softmax goes straight to wo.",
      flags={"v_bypass": (0, 1, 0, 0)}),
    D("v_into_score", "clean_2", "attention",
      [i_attn(0, 1, "qk", a, t) for a in range(2) for t in range(4)],
      "In block 1 the K projection is gone and wv feeds the score qk in place of K on every rank.",
      flags={"v_into_score": 1}),
    D("qkv_into_oproj", "clean_3", "attention",
      [i_attn(0, 3, "wo", 0, t) for t in range(2)],
      "In block 3, rope_q, rope_k and wv feed wo directly; there is no qk, softmax or pv.",
      flags={"qkv_into_oproj": 3}),
    D("head_arithmetic", "clean_2", "attention",
      [i_attn(0, 0, op, a, t) for op in ("wq", "wk", "wv") for a in range(2) for t in range(4)],
      "Block 0's projections use head_dim 96: 8 heads/rank x 4 TP x 96 = 3072 != hidden 4096.",
      flags={"head_dim": {0: 96}}),
    D("tp_heads", "clean_3", "attention", [i_attn(0, 2, "wq", 0, 1)],
      "In block 2, TP rank 1's wq outputs all 8 query heads instead of 8/TP2 = 4.",
      flags={"tp_heads": (0, 2, 0, 1)}),
    D("edge_shape_mismatch", "clean_3", "shape", [i_moe(0, 2, "shared_expert", 1)],
      "Block 2's shared expert on EP rank 1 declares in=[2,128,3072] but its producer (moe norm) "
      "outputs [2,128,1024] (factor 3).", post=p_edge_shape),
    D("shard_without_gather", "clean_3", "shape",
      ["dp0.output.g0.r0", "dp0.output.g0.r1", "dp0.lm_head.g0.r0", "dp0.lm_head.g0.r1"],
      "The logits all-gather is missing: each vocab-parallel lm_head shard [2,256,16000] "
      "(= 32000/TP2) goes straight into an output expecting [2,256,32000].",
      flags={"no_logits_ag": (0, 0)}),
    D("stage_count", "clean_3", "pipeline", ["dp0.pp0to1.g0"],
      "The graph label declares pp3 but only two pipeline stages (pp0, pp1) are drawn.",
      flags={"strategy": "tp2\u00b7ep2\u00b7pp3\u00b7dp1"}),
    D("stage_range_gap", "clean_3", "pipeline", [i_attn(0, 2, "norm", 0, 0), i_ag(0, 2, 0)],
      "Stage labels claim blocks 0..1 and 3..3: block 2 is claimed by no stage (gap).",
      flags={"stage_labels": {1: "pp1 [blocks 3..3]"}}),
    D("stage_missing_layer", "clean_3", "pipeline", [i_ag(0, 2, 0), "dp0.final_norm.g0.r0"],
      "Stage pp1 claims blocks 2..3 but no operator of block 3 is drawn (block 2 feeds the "
      "final norm).", flags={"skip_blocks": (3,)}),
    D("no_stage_transfer", "clean_3", "pipeline",
      [i_ag(0, 1, 0), i_attn(0, 2, "norm", 0, 0), i_attn(0, 2, "norm", 0, 1)],
      "Stage pp0's last all-gather (GPUs 0-1) is wired straight into pp1's block-2 norm and add "
      "(GPUs 2-3) with no send/recv node between the stages.", flags={"no_transfer": True}),
    D("experts_subset_ranks", "clean_2", "expert", [i_disp(0, 1), i_comb(0, 1)],
      "In block 1 no expert is placed on EP rank 7 (experts 14 and 15 not drawn); ranks 0-6 "
      "hold 2 each.", flags={"drop_rank_experts": ((0, 1, 7),)}),
    D("experts_uneven", "clean_1", "expert", [i_exp(0, 2, 3, 0)],
      "In dp0 block 2, expert3 sits on EP rank 0 (GPU 4) so rank 0 has 3 experts and rank 1 "
      "has 1 (should be 8/4 = 2 each).", flags={"move_expert": {(0, 2, 3): 0}}),
    D("experts_share_gpu", "clean_1", "expert", [i_exp(0, 0, 2, 1), i_exp(0, 0, 0, 0)],
      "In dp0 block 0, expert2 of EP rank 1 is placed on GPU 0, which holds EP rank 0's experts.",
      flags={"expert_gpu": {(0, 0, 2): 0}}),
    D("no_gate", "clean_2", "expert", [i_disp(0, 0)],
      "Block 0 has no router on any EP rank: tokens are dispatched to the experts with no gate.",
      flags={"no_gate": 0}),
    D("no_all_to_all", "clean_2", "expert",
      [i_exp(0, 1, j, j // 2) for j in range(16)],
      "In block 1 there is no dispatch all-to-all: each rank's moe norm and router feed its own "
      "experts directly (EP8).", flags={"no_a2a": 1}),
    D("tp_rank_missing", "clean_1", "tensor",
      [i_attn(1, 3, "rope_q", 1, 0), i_attn(1, 3, "wq", 1, 1), i_attn(1, 3, "qk", 1, 1)],
      "rope_q of dp1 block 3 is drawn for every TP rank except group 1 rank 1, where wq feeds "
      "qk directly.", flags={"tp_rank_missing": (1, 3, 1, 1)}),
    D("no_allreduce_after_rowparallel", "clean_3", "tensor",
      [i_attn(0, 0, "wo", 0, t) for t in range(2)] + [i_add(0, 0, 0, t) for t in range(2)],
      "In block 0 the row-parallel wo outputs go straight into the residual add; no all-reduce.",
      flags={"no_ar": 0}),
    D("cross_gpu_no_comm", "clean_1", "communication",
      [i_attn(0, 2, "norm", 1, 0), i_attn(0, 2, "wq", 1, 1)],
      "In dp0 block 2, wq of group 1 rank 1 (GPU 7) reads the norm of rank 0 (GPU 6) through a "
      "plain edge.", post=p_cross_gpu),
    D("comm_wrong_shape", "clean_1", "communication", [i_ar(1, 1, 0)],
      "The attention all-reduce of dp1 block 1 group 0 is drawn as a box.", post=p_comm_box),
    D("missing_gpu", "clean_2", "gpu", [i_exp(0, 1, 9, 4)],
      "expert9 of block 1 (EP rank 4) has no gpu= line.", post=p_missing_gpu),
    D("gpu_out_of_range", "clean_3", "gpu", [i_exp(0, 3, 2, 1)],
      "expert2 of block 3 is placed on GPU 40, beyond the 8 GPUs of tp2\u00b7ep2\u00b7pp2\u00b7dp1.",
      flags={"expert_gpu": {(0, 3, 2): 40}}),
    D("stages_share_gpus", "clean_3", "gpu", [i_attn(0, 2, "norm", 0, 0), i_attn(0, 0, "norm", 0, 1)],
      "Stage pp1 is placed on GPUs 1-2, overlapping stage pp0's GPUs 0-1 at GPU 1.",
      flags={"stage_shift": 1}),
    D("strategy_mismatch", "clean_3", "strategy", [i_attn(0, 0, "wq", 0, 0), i_attn(0, 0, "wq", 0, 1)],
      "The graph label declares tp4 but every TP group draws ranks r0-r1 only (TP=2).",
      flags={"strategy": "tp4\u00b7ep2\u00b7pp2\u00b7dp1"}),
    D("missing_shapes", "clean_3", "annotation", [i_attn(0, 2, "rope_k", 0, 0)],
      "rope_k of block 2, TP rank 0 has neither in= nor out= shape.", post=p_missing_shapes),
    D("placeholder", "clean_1", "annotation", [i_moe(1, 2, "shared_expert", 2)],
      "The shared expert of dp1 block 2 on EP rank 2 gives its batch dimension as '?'.",
      post=p_placeholder),
    D("moe_before_attention", "clean_3", "structure",
      [i_moe(0, 1, "split", e) for e in range(2)] + [i_attn(0, 1, "norm", 0, t) for t in range(2)],
      "Block 1's MoE sublayer is wired before its attention (stream -> split -> MoE -> "
      "all_gather -> attention -> add).", flags={"moe_first": 1}),
    D("missing_residual", "clean_3", "structure", [i_add(0, 1, 0, 0)],
      "The attention residual add of block 1, TP rank 0 is fed only by the all-reduce; the skip "
      "edge from the block input is removed.", post=p_missing_residual),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    descr = {
        "clean_1": "Clean MoE, tp2\u00b7ep4\u00b7pp2\u00b7dp2, 4 blocks, hidden 2048, 16q/4kv heads, 8 experts top-2 + shared expert.",
        "clean_2": "Clean MoE, tp4\u00b7ep8\u00b7pp1\u00b7dp1, 2 blocks, hidden 4096, 32q/8kv heads, 16 experts top-2 + shared expert.",
        "clean_3": "Clean MoE, tp2\u00b7ep2\u00b7pp2\u00b7dp1, 4 blocks, hidden 1024, 8q/2kv heads, 4 experts top-1 + shared expert.",
    }
    for name, c in CFG.items():
        g = build(c, name)
        with open(os.path.join(OUT, name + ".dot"), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what=descr[name]))
    for dfx in DEFECTS:
        name = "defect_" + dfx["kind"]
        g = build(CFG[dfx["base"]], name, dfx["flags"])
        if dfx["post"]:
            dfx["post"](g)
        for nid in dfx["nodes"]:
            assert nid in g.nodes, (dfx["kind"], nid)
        with open(os.path.join(OUT, name + ".dot"), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        manifest.append(dict(file=name + ".dot", kind=dfx["kind"], category=dfx["category"],
                             nodes=dfx["nodes"], what=dfx["what"] + " (base: %s)" % dfx["base"]))
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
