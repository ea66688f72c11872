#!/usr/bin/env python3
"""Independent generator of decode-step deployment DAGs in house style "ar".

House style (applied to every file):
  * one decode step: batch 64 sequences, query length 1, context 4096 read from a
    paged KV cache (page = 16 tokens), grouped-query attention;
  * every label is ONE line of lower-case `key=value` pairs joined by "; ";
  * node ids are n0, n1, n2, ...;
  * gpu placement as gpu=3, gpu=0..7 or gpu=0|2|4|6; shapes are per GPU;
  * the strategy only in the graph attribute comment="decode tp=.. ep=.. pp=.. dp=..";
  * pipeline stages are clusters labelled "pp=<s> layers=<a>..<b>"
    (with a leading "dp=<d> " when DP replicas are drawn);
  * MoE files run attention data-parallel over the EP groups: a tensor-parallel
    lane (one TP rank) is drawn once, its gpu spec lists that TP rank's GPU in every
    EP group, and each of those GPUs holds batch/EP sequences;
  * own quirk 1: every label ends with a `dtype=` key (dtype of the node's output);
  * own quirk 2: residual skip edges are drawn bold dark green with the edge label
    "skip" (router edges are dashed, as the conventions suggest);
  * also: a `// ` legend at the top of each file, `// ---- layer N ----` banners,
    fill colour by TP lane.

Run `python3 gen.py`: writes out/*.dot and out/manifest.json, then self-checks.
Stdlib only.
"""
import copy
import json
import os
import re
import subprocess
import sys
from collections import OrderedDict, defaultdict

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

BATCH = 64
CTX = 4096
PAGE = 16

COMM_OPS = {"all_reduce", "all_gather", "reduce_scatter", "a2a_dispatch",
            "a2a_combine", "pp_send", "pp_recv"}
ROUTE_OPS = {"router", "split_qkv", "batch_split"}
LANE_COLOURS = ["#cfe2f3", "#fce5cd", "#d9ead3", "#ead1dc"]


def sh(*dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def shs(*shapes):
    return ",".join(shapes)


def gpu_fmt(ids):
    ids = sorted(set(ids))
    if len(ids) == 1:
        return str(ids[0])
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "%d..%d" % (ids[0], ids[-1])
    return "|".join(str(i) for i in ids)


def gpu_parse(spec):
    out = []
    for part in spec.split("|"):
        if ".." in part:
            a, b = part.split("..")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


# --------------------------------------------------------------------------- graph model
class Graph:
    def __init__(self, strategy, degrees):
        self.comment = strategy
        self.deg = degrees              # dict tp/ep/pp/dp
        self.nodes = OrderedDict()      # id -> {"a": OrderedDict, "cluster": cid, "sec": str, "shape": str}
        self.edges = []                 # [u, v, style]
        self.clusters = OrderedDict()   # cid -> label
        self.n = 0
        self.cfg = None

    def add(self, cluster, sec, **kv):
        nid = "n%d" % self.n
        self.n += 1
        a = OrderedDict((k, str(v)) for k, v in kv.items() if v is not None)
        op = a["op"]
        if op in COMM_OPS:
            shape = "ellipse"
        elif op in ROUTE_OPS:
            shape = "parallelogram"
        elif op == "input":
            shape = "invhouse"
        elif op == "output":
            shape = "house"
        else:
            shape = "box"
        self.nodes[nid] = {"a": a, "cluster": cluster, "sec": sec, "shape": shape}
        return nid

    def edge(self, u, v, style=None):
        # once built, an added edge is written next to the edges of its endpoints (as an author would)
        if getattr(self, "cfg", None) is not None:
            near = [i for i, e in enumerate(self.edges) if u in e[:2] or v in e[:2]]
            if near:
                self.edges.insert(near[-1] + 1, [u, v, style])
                return
        self.edges.append([u, v, style])

    def del_edge(self, u, v):
        before = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == u and e[1] == v)]
        assert len(self.edges) == before - 1, (u, v)

    def del_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def find(self, **kv):
        res = []
        for nid, nd in self.nodes.items():
            if all(nd["a"].get(k) == (None if v is None else str(v)) for k, v in kv.items()):
                res.append(nid)
        return res

    def one(self, **kv):
        r = self.find(**kv)
        assert len(r) == 1, (kv, r)
        return r[0]

    def preds(self, v):
        return [e[0] for e in self.edges if e[1] == v]

    def succs(self, u):
        return [e[1] for e in self.edges if e[0] == u]

    # ------------------------------------------------------------------ rendering
    def label(self, nid):
        return "; ".join("%s=%s" % (k, v) for k, v in self.nodes[nid]["a"].items())

    def node_line(self, nid, indent):
        nd = self.nodes[nid]
        a = nd["a"]
        attrs = ['label="%s"' % self.label(nid), "shape=%s" % nd["shape"]]
        op = a.get("op")
        if nd["shape"] == "ellipse":
            fill = "#eeeeee"
        elif op in ("input", "output"):
            fill = "#ffffff"
        elif op == "expert_ffn":
            fill = "#fff2cc"
        else:
            tp = a.get("tp", "0")
            fill = LANE_COLOURS[int(tp) % 4] if tp.isdigit() else "#fff2cc"
        attrs.append('style=filled, fillcolor="%s"' % fill)
        return "%s%s [%s];" % (indent, nid, ", ".join(attrs))

    def render(self, legend):
        L = []
        for line in legend:
            L.append("// " + line)
        L.append("digraph decode {")
        L.append('  comment="%s";' % self.comment)
        L.append("  rankdir=TB;")
        L.append('  node [fontname="Helvetica", fontsize=10];')
        L.append('  edge [fontname="Helvetica", fontsize=9];')

        def emit(nids, indent):
            sec = None
            for nid in nids:
                s = self.nodes[nid]["sec"]
                if s != sec:
                    L.append("%s// ---- %s ----" % (indent, s))
                    sec = s
                L.append(self.node_line(nid, indent))

        top = [n for n, d in self.nodes.items() if d["cluster"] is None]
        first = [n for n in top if self.nodes[n]["a"]["op"] == "input"]
        last = [n for n in top if n not in first]
        emit(first, "  ")
        for cid, lab in self.clusters.items():
            L.append("  subgraph %s {" % cid)
            L.append('    label="%s";' % lab)
            L.append('    style=rounded; color="#888888";')
            emit([n for n, d in self.nodes.items() if d["cluster"] == cid], "    ")
            L.append("  }")
        emit(last, "  ")
        L.append("  // ---- edges ----")
        for u, v, style in self.edges:
            if style == "skip":
                L.append('  %s -> %s [label="skip", color="darkgreen", penwidth=2];' % (u, v))
            elif style == "route":
                L.append("  %s -> %s [style=dashed];" % (u, v))
            else:
                L.append("  %s -> %s;" % (u, v))
        L.append("}")
        return "\n".join(L) + "\n"


LEGEND = [
    "house style ar: one decode step of a paged-kv-cache transformer",
    "every label is one line of key=value pairs; shapes are per gpu",
    "gpu=a..b is a range, gpu=a|b|c a list; a tp lane lists its rank's gpu in every ep group",
    "attention runs data-parallel over the ep groups, experts are sharded over the tp ranks of their ep rank",
    "collectives: group=tp runs inside each tp group, group=ep across the ep ranks of each tp index",
    "box = compute, ellipse = communication, parallelogram = routing or split",
    "green edges labelled skip are residual connections; dashed edges carry router decisions",
    "the deployment strategy is the graph comment attribute",
]


# --------------------------------------------------------------------------- shapes
def attn_shapes(b, H, hq, hkv, d):
    """Per-GPU shapes of one TP lane of decode attention (hq, hkv = heads on this rank)."""
    blocks = b * CTX // PAGE
    q, k1 = sh(b, hq, 1, d), sh(b, hkv, 1, d)
    cache = sh(blocks, PAGE, hkv, d)
    kctx = sh(b, hkv, CTX, d)
    probs = sh(b, hq, 1, CTX)
    return {
        "qkv_proj": (sh(b, 1, H), sh(b, 1, (hq + 2 * hkv) * d)),
        "split_qkv": (sh(b, 1, (hq + 2 * hkv) * d), shs(q, k1, k1)),
        "kv_cache_write": (shs(k1, k1), shs(cache, cache)),
        "kv_cache_read": (cache, kctx),
        "attn_score": (shs(q, kctx), probs),
        "attn_softmax": (probs, probs),
        "attn_context": (shs(probs, kctx), q),
        "o_proj": (q, sh(b, 1, H)),
    }


def set_attn_lane(g, lane_nodes, shapes):
    for nid in lane_nodes:
        op = g.nodes[nid]["a"]["op"]
        if op in shapes:
            i, o = shapes[op]
            g.nodes[nid]["a"]["in"] = i
            g.nodes[nid]["a"]["out"] = o


# --------------------------------------------------------------------------- builder
def build(cfg):
    TP, EP, PP, DP = cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"]
    L, H, HQ, HKV, D, V = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"], cfg["vocab"]
    moe = cfg["moe"]
    E, K = cfg.get("experts"), cfg.get("topk")
    assert HQ * D == H and HQ % TP == 0 and HKV % TP == 0 and L % PP == 0
    strategy = "decode tp=%d ep=%d pp=%d dp=%d" % (TP, EP, PP, DP)
    g = Graph(strategy, {"tp": TP, "ep": EP, "pp": PP, "dp": DP})
    b = BATCH // (DP * EP)                 # sequences per GPU
    hq, hkv = HQ // TP, HKV // TP
    A = attn_shapes(b, H, hq, hkv, D)
    per_stage = EP * TP
    lps = L // PP
    hid = sh(b, 1, H)
    if moe:
        tok = BATCH // DP * K // E         # tokens per expert (balanced routing)

    def gpus_lane(d, s, t):
        base = (d * PP + s) * per_stage
        return gpu_fmt([base + e * TP + t for e in range(EP)])

    def gpus_stage(d, s):
        base = (d * PP + s) * per_stage
        return gpu_fmt(range(base, base + per_stage))

    def gpus_rank(d, s, r):
        base = (d * PP + s) * per_stage + r * TP
        return gpu_fmt(range(base, base + TP))

    inp = g.add(None, "input", op="input", out=sh(BATCH, 1), dtype="int32")
    samples = []
    dpk = (lambda d: d) if DP > 1 else (lambda d: None)
    for d in range(DP):
        prev = {}
        for s in range(PP):
            cid = "cluster_dp%d_pp%d" % (d, s) if DP > 1 else "cluster_pp%d" % s
            lab = "pp=%d layers=%d..%d" % (s, s * lps, s * lps + lps - 1)
            g.clusters[cid] = (("dp=%d " % d) if DP > 1 else "") + lab
            SG = gpus_stage(d, s)
            if s == 0:
                for t in range(TP):
                    n_split = g.add(cid, "embedding", op="batch_split", dp=dpk(d), tp=t, **{"in": sh(BATCH, 1)},
                                    out=sh(b, 1), gpu=gpus_lane(d, s, t), dtype="int32")
                    n_emb = g.add(cid, "embedding", op="embed", dp=dpk(d), tp=t, **{"in": sh(b, 1)},
                                  out=hid, gpu=gpus_lane(d, s, t), dtype="bf16")
                    g.edge(inp, n_split)
                    g.edge(n_split, n_emb)
                    prev[t] = n_emb
            else:
                send = g.add("cluster_dp%d_pp%d" % (d, s - 1) if DP > 1 else "cluster_pp%d" % (s - 1),
                             "stage boundary", op="pp_send", dp=dpk(d), group="pp", to="pp%d" % s,
                             **{"in": hid}, out=hid, gpu=gpus_stage(d, s - 1), dtype="bf16")
                recv = g.add(cid, "stage boundary", op="pp_recv", dp=dpk(d), group="pp", **{"from": "pp%d" % (s - 1)},
                             **{"in": hid}, out=hid, gpu=SG, dtype="bf16")
                for t in range(TP):
                    g.edge(prev[t], send)
                g.edge(send, recv)
                prev = {t: recv for t in range(TP)}
            for l in range(s * lps, s * lps + lps):
                sec = "layer %d" % l
                # ---------------- attention block
                common = dict(layer=l, block="attn", dp=dpk(d))
                ar_in = []
                for t in range(TP):
                    G = gpus_lane(d, s, t)
                    c = dict(common, tp=t)

                    def node(op, c=c, G=G):
                        i, o = A[op]
                        return g.add(cid, sec, op=op, **c, **{"in": i}, out=o, gpu=G, dtype="bf16")
                    n_norm = g.add(cid, sec, op="rms_norm", **c, **{"in": hid}, out=hid, gpu=G, dtype="bf16")
                    n_qkv = node("qkv_proj")
                    n_split = node("split_qkv")
                    n_wr = node("kv_cache_write")
                    n_rk = g.add(cid, sec, op="kv_cache_read", **c, cache="k", **{"in": A["kv_cache_read"][0]},
                                 out=A["kv_cache_read"][1], gpu=G, dtype="bf16")
                    n_rv = g.add(cid, sec, op="kv_cache_read", **c, cache="v", **{"in": A["kv_cache_read"][0]},
                                 out=A["kv_cache_read"][1], gpu=G, dtype="bf16")
                    n_sc = node("attn_score")
                    n_sm = node("attn_softmax")
                    n_cx = node("attn_context")
                    n_o = node("o_proj")
                    g.edge(prev[t], n_norm)
                    g.edge(n_norm, n_qkv)
                    g.edge(n_qkv, n_split)
                    g.edge(n_split, n_wr)
                    g.edge(n_split, n_sc)
                    g.edge(n_wr, n_rk)
                    g.edge(n_wr, n_rv)
                    g.edge(n_rk, n_sc)
                    g.edge(n_sc, n_sm)
                    g.edge(n_sm, n_cx)
                    g.edge(n_rv, n_cx)
                    g.edge(n_cx, n_o)
                    ar_in.append(n_o)
                n_ar = g.add(cid, sec, op="all_reduce", **common, group="tp", **{"in": hid}, out=hid, gpu=SG, dtype="bf16")
                res1 = {}
                for t in range(TP):
                    g.edge(ar_in[t], n_ar)
                    r = g.add(cid, sec, op="residual_add", **common, tp=t, **{"in": shs(hid, hid)}, out=hid,
                              gpu=gpus_lane(d, s, t), dtype="bf16")
                    g.edge(n_ar, r)
                    g.edge(prev[t], r, "skip")
                    res1[t] = r
                # ---------------- MoE / FFN block
                blk = "moe" if moe else "ffn"
                common = dict(layer=l, block=blk, dp=dpk(d))
                res2 = {}
                if moe:
                    norms = {}
                    routers = {}
                    for t in range(TP):
                        G = gpus_lane(d, s, t)
                        norms[t] = g.add(cid, sec, op="rms_norm", **common, tp=t, **{"in": hid}, out=hid, gpu=G, dtype="bf16")
                        routers[t] = g.add(cid, sec, op="router", **common, tp=t, topk=K, experts=E, **{"in": hid},
                                           out=shs(sh(b, K), sh(b, K)), gpu=G, dtype="fp32")
                        g.edge(res1[t], norms[t])
                        g.edge(norms[t], routers[t])
                    disp = g.add(cid, sec, op="a2a_dispatch", **common, group="ep",
                                 **{"in": shs(hid, sh(b, K), sh(b, K))}, out=sh(tok, H), gpu=SG, dtype="bf16")
                    for t in range(TP):
                        g.edge(norms[t], disp)
                        g.edge(routers[t], disp, "route")
                    xs = []
                    for e in range(E):
                        r = e // (E // EP)
                        x = g.add(cid, sec, op="expert_ffn", **common, ep=r, expert=e,
                                  tp=gpu_fmt(range(TP)), **{"in": sh(tok, H)}, out=sh(tok, H),
                                  gpu=gpus_rank(d, s, r), dtype="bf16")
                        g.edge(disp, x)
                        xs.append(x)
                    ar2 = g.add(cid, sec, op="all_reduce", **common, group="tp", **{"in": sh(tok, H)},
                                out=sh(tok, H), gpu=SG, dtype="bf16")
                    for x in xs:
                        g.edge(x, ar2)
                    comb = g.add(cid, sec, op="a2a_combine", **common, group="ep", **{"in": sh(tok, H)}, out=hid,
                                 gpu=SG, dtype="bf16")
                    g.edge(ar2, comb)
                    for t in range(TP):
                        r2 = g.add(cid, sec, op="residual_add", **common, tp=t, **{"in": shs(hid, hid)}, out=hid,
                                   gpu=gpus_lane(d, s, t), dtype="bf16")
                        g.edge(comb, r2)
                        g.edge(res1[t], r2, "skip")
                        res2[t] = r2
                else:
                    F = cfg["ffn"] // TP
                    downs = []
                    for t in range(TP):
                        G = gpus_lane(d, s, t)
                        nn = g.add(cid, sec, op="rms_norm", **common, tp=t, **{"in": hid}, out=hid, gpu=G, dtype="bf16")
                        up = g.add(cid, sec, op="ffn_up", **common, tp=t, **{"in": hid}, out=sh(b, 1, F), gpu=G, dtype="bf16")
                        dn = g.add(cid, sec, op="ffn_down", **common, tp=t, **{"in": sh(b, 1, F)}, out=hid, gpu=G, dtype="bf16")
                        g.edge(res1[t], nn)
                        g.edge(nn, up)
                        g.edge(up, dn)
                        downs.append(dn)
                    ar2 = g.add(cid, sec, op="all_reduce", **common, group="tp", **{"in": hid}, out=hid, gpu=SG, dtype="bf16")
                    for t in range(TP):
                        g.edge(downs[t], ar2)
                        r2 = g.add(cid, sec, op="residual_add", **common, tp=t, **{"in": shs(hid, hid)}, out=hid,
                                   gpu=gpus_lane(d, s, t), dtype="bf16")
                        g.edge(ar2, r2)
                        g.edge(res1[t], r2, "skip")
                        res2[t] = r2
                prev = res2
            if s == PP - 1:
                lm = []
                for t in range(TP):
                    G = gpus_lane(d, s, t)
                    fn = g.add(cid, "lm head", op="final_rms_norm", dp=dpk(d), tp=t, **{"in": hid}, out=hid, gpu=G, dtype="bf16")
                    lh = g.add(cid, "lm head", op="lm_head", dp=dpk(d), tp=t, **{"in": hid}, out=sh(b, 1, V // TP),
                               gpu=G, dtype="bf16")
                    g.edge(prev[t], fn)
                    g.edge(fn, lh)
                    lm.append(lh)
                ag = g.add(cid, "lm head", op="all_gather", dp=dpk(d), group="tp", **{"in": sh(b, 1, V // TP)},
                           out=sh(b, 1, V), gpu=SG, dtype="bf16")
                for x in lm:
                    g.edge(x, ag)
                smp = g.add(cid, "lm head", op="sample", dp=dpk(d), tp=0, **{"in": sh(b, 1, V)}, out=sh(b, 1),
                            gpu=gpus_lane(d, s, 0), dtype="int32")
                g.edge(ag, smp)
                samples.append((cid, smp, gpus_lane(d, s, 0)))
    # gather the sampled tokens of all attention-DP groups / DP replicas
    if DP > 1 or EP > 1:
        allg = sorted(set(i for _, _, G in samples for i in gpu_parse(G)))
        cid = samples[0][0] if DP == 1 else None
        fg = g.add(cid, "output", op="all_gather", group="dp" if DP > 1 else "ep",
                   **{"in": sh(BATCH // (DP * EP), 1)}, out=sh(BATCH, 1), gpu=gpu_fmt(allg), dtype="int32")
        for _, smp, _ in samples:
            g.edge(smp, fg)
        last = fg
    else:
        last = samples[0][1]
    outn = g.add(None, "output", op="output", **{"in": sh(BATCH, 1)}, dtype="int32")
    g.edge(last, outn)
    g.cfg = cfg
    return g


CFG = {
    "clean_1.dot": dict(moe=True, tp=2, ep=2, pp=2, dp=1, layers=4, hidden=2048, heads=16, kv_heads=4,
                        head_dim=128, vocab=32000, experts=4, topk=2),
    "clean_2.dot": dict(moe=True, tp=4, ep=4, pp=1, dp=1, layers=2, hidden=4096, heads=32, kv_heads=8,
                        head_dim=128, vocab=32000, experts=8, topk=2),
    "clean_3.dot": dict(moe=False, tp=2, ep=1, pp=1, dp=2, layers=2, hidden=3072, heads=24, kv_heads=8,
                        head_dim=128, vocab=32000, ffn=8192),
}
CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE decode step, tp=2 ep=2 pp=2 dp=1 (8 GPUs): 4 layers, 2 per stage (stage 0 on GPUs 0..3, "
                   "stage 1 on GPUs 4..7, joined by pp_send/pp_recv), hidden 2048, 16 query / 4 kv heads of 128 "
                   "(8 / 2 per TP rank), 4 experts top-2 (2 per EP rank, each sharded over its 2 TP GPUs), "
                   "attention data-parallel over the 2 EP groups (32 sequences per GPU).",
    "clean_2.dot": "Correct MoE decode step, tp=4 ep=4 pp=1 dp=1 (16 GPUs): 2 layers in one stage, hidden 4096, "
                   "32 query / 8 kv heads of 128 (8 / 2 per TP rank), 8 experts top-2 (2 per EP rank on GPUs 4r..4r+3), "
                   "attention data-parallel over the 4 EP groups (16 sequences per GPU).",
    "clean_3.dot": "Correct dense decode step, tp=2 ep=1 pp=1 dp=2 (4 GPUs): both DP replicas drawn (dp=0 on GPUs 0..1, "
                   "dp=1 on GPUs 2..3, 32 sequences each), 2 layers, hidden 3072, 24 query / 8 kv heads of 128 "
                   "(12 / 4 per TP rank), FFN 8192 (4096 per TP rank).",
}


# --------------------------------------------------------------------------- defects
def lane(g, **kv):
    return g.one(**kv)


def D_cycle(g):
    ar = g.one(op="all_reduce", layer=1, block="attn")
    r = g.one(op="residual_add", layer=1, block="attn", tp=0)
    g.edge(r, ar)
    return [ar, r], ("Layer 1's attention all_reduce %s (gpu=0..3) and the TP-rank-0 residual_add %s are joined both ways "
                     "(%s -> %s and %s -> %s), a two-node cycle." % (ar, r, ar, r, r, ar))


def D_dangling_input(g):
    r = g.one(op="residual_add", layer=1, block="attn", tp=1)
    n = g.one(op="rms_norm", layer=1, block="moe", tp=1)
    g.del_edge(r, n)
    return [n], ("Layer 1's pre-MoE rms_norm %s of TP rank 1 (gpu=1|3) has no incoming edge: its input from the "
                 "attention residual_add %s was removed." % (n, r))


def D_dangling_output(g):
    x = g.one(op="expert_ffn", layer=0, expert=5)
    ar = g.one(op="all_reduce", layer=0, block="moe")
    g.del_edge(x, ar)
    return [x], ("Expert 5 of layer 0 (EP rank 2, gpu=8..11) %s has no outgoing edge: its output never reaches the "
                 "TP all_reduce %s and the a2a_combine." % (x, ar))


ATTN_CORE = ["qkv_proj", "split_qkv", "kv_cache_write", "kv_cache_read", "attn_score", "attn_softmax",
             "attn_context", "o_proj"]


def lane_nodes(g, layer, tp, dp=None, ops=ATTN_CORE):
    res = []
    for op in ops:
        kw = dict(op=op, layer=layer, block="attn", tp=tp)
        if dp is not None:
            kw["dp"] = dp
        res.extend(g.find(**kw))
    return res


def D_attention_one_box(g):
    ids = []
    ar = g.one(op="all_reduce", layer=2, block="attn")
    for t in range(2):
        norm = g.one(op="rms_norm", layer=2, block="attn", tp=t)
        gpu = g.nodes[norm]["a"]["gpu"]
        for nid in lane_nodes(g, 2, t):
            g.del_node(nid)
        box = g.add("cluster_pp1", "layer 2", op="attention", layer=2, block="attn", tp=t,
                    **{"in": sh(32, 1, 2048)}, out=sh(32, 1, 2048), gpu=gpu, dtype="bf16")
        # keep the box where the removed lane stood in the file
        g.nodes.move_to_end(box, last=True)
        order = list(g.nodes)
        order.remove(box)
        order.insert(order.index(norm) + 1, box)
        g.nodes = OrderedDict((k, g.nodes[k]) for k in order)
        g.edge(norm, box)
        g.edge(box, ar)
        ids.append(box)
    return ids, ("Layer 2's attention is drawn as one op=attention box per TP rank (%s on gpu=4|6, %s on gpu=5|7) "
                 "instead of qkv_proj, split_qkv, kv-cache write/read, attn_score, attn_softmax, attn_context and o_proj."
                 % tuple(ids))


def D_v_bypasses_softmax(g):
    sm = g.one(op="attn_softmax", layer=1, tp=1)
    cx = g.one(op="attn_context", layer=1, tp=1)
    o = g.one(op="o_proj", layer=1, tp=1)
    rv = g.one(op="kv_cache_read", layer=1, tp=1, cache="v")
    g.del_edge(sm, cx)
    g.edge(sm, o)
    return [sm, cx, rv, o], ("Layer 1, TP rank 1 (gpu=1|3): the V cache read %s feeds attn_context %s but the softmax %s "
                             "does not (it goes straight to o_proj %s), so V bypasses the attention probabilities."
                             % (rv, cx, sm, o))


def D_v_into_score(g):
    sc = g.one(op="attn_score", layer=0, tp=1)
    cx = g.one(op="attn_context", layer=0, tp=1)
    rk = g.one(op="kv_cache_read", layer=0, tp=1, cache="k")
    rv = g.one(op="kv_cache_read", layer=0, tp=1, cache="v")
    g.del_edge(rk, sc)
    g.del_edge(rv, cx)
    g.edge(rv, sc)
    g.edge(rk, cx)
    return [rv, sc, rk, cx], ("Layer 0, TP rank 1 (gpu=1|3): the V cache read %s is wired into attn_score %s instead of "
                              "the K cache read %s, which feeds attn_context %s instead (K and V swapped)."
                              % (rv, sc, rk, cx))


def D_qkv_into_oproj(g):
    ids = []
    for t in range(2):
        sp = g.one(op="split_qkv", layer=1, dp=1, tp=t)
        o = g.one(op="o_proj", layer=1, dp=1, tp=t)
        for nid in lane_nodes(g, 1, t, dp=1, ops=["kv_cache_write", "kv_cache_read", "attn_score",
                                                   "attn_softmax", "attn_context"]):
            g.del_node(nid)
        g.edge(sp, o)
        ids += [sp, o]
    return ids, ("DP replica 1, layer 1: on both TP ranks (gpu=2 and gpu=3) split_qkv (%s, %s) feeds Q, K and V "
                 "straight into o_proj (%s, %s); no kv-cache write/read, attn_score, attn_softmax or attn_context is "
                 "drawn." % (ids[0], ids[2], ids[1], ids[3]))


def D_head_arithmetic(g):
    ids = []
    for t in range(2):
        nodes = lane_nodes(g, 2, t)
        set_attn_lane(g, nodes, attn_shapes(32, 2048, 8, 2, 64))
        ids += nodes
    q = g.one(op="split_qkv", layer=2, tp=0)
    return ids, ("Layer 2 labels Q/K/V with head_dim 64 on both TP ranks (split_qkv %s etc.: q=[32,8,1,64], qkv_proj "
                 "out 768): 8 heads x 64 = 512 per rank and 16 x 64 = 1024 in total, while hidden is 2048 "
                 "(2048/TP2 = 1024 per rank)." % q)


def D_tp_heads(g):
    nodes = lane_nodes(g, 0, 0)
    set_attn_lane(g, nodes, attn_shapes(32, 2048, 16, 4, 128))
    q = g.one(op="qkv_proj", layer=0, tp=0)
    sp = g.one(op="split_qkv", layer=0, tp=0)
    return nodes, ("Layer 0, TP rank 0 of TP 2 (gpu=0|2): qkv_proj %s outputs all 16 query and 4 kv heads (out "
                   "[32,1,3072]) and split_qkv %s gives q=[32,16,1,128], instead of 16/2 = 8 query and 2 kv heads "
                   "per rank (1536)." % (q, sp))


def D_edge_shape_mismatch(g):
    n = g.one(op="rms_norm", layer=1, block="ffn", dp=0, tp=0)
    r = g.one(op="residual_add", layer=1, block="attn", dp=0, tp=0)
    g.nodes[n]["a"]["in"] = sh(32, 1, 2304)
    return [r, n], ("DP replica 0, layer 1, TP rank 0 (gpu=0): rms_norm %s expects in=[32,1,2304] but its producer "
                    "residual_add %s outputs [32,1,3072] (ratio 4/3, not a parallel degree)." % (n, r))


def D_shard_without_gather(g):
    ar = g.one(op="all_reduce", layer=3, block="attn")
    g.nodes[ar]["a"]["op"] = "reduce_scatter"
    g.nodes[ar]["a"]["out"] = sh(32, 1, 1024)
    rs = [g.one(op="residual_add", layer=3, block="attn", tp=t) for t in range(2)]
    return [ar] + rs, ("Layer 3's row-parallel o_proj outputs are reduce-scattered by %s into hidden/TP = 2048/2 = 1024 "
                       "shards that go straight into the full-size (hidden 2048) residual_add nodes %s and %s with no "
                       "all_gather." % (ar, rs[0], rs[1]))


def D_stage_count(g):
    g.comment = "decode tp=2 ep=2 pp=3 dp=1"
    return [], "The graph comment declares pp=3 but two pipeline stages are drawn (pp=0 layers=0..1, pp=1 layers=2..3)."


def D_stage_range_gap(g):
    g.clusters["cluster_pp0"] = "pp=0 layers=0..0"
    ids = g.find(layer=1)
    return ids, ("Stage pp=0 claims layers=0..0 and stage pp=1 layers=2..3: layer 1 is in no stage's range (gap), "
                "although its %d operator nodes are drawn in stage 0." % len(ids))


def D_stage_missing_layer(g):
    for nid in g.find(layer=3):
        g.del_node(nid)
    fns = []
    for t in range(2):
        r = g.one(op="residual_add", layer=2, block="moe", tp=t)
        fn = g.one(op="final_rms_norm", tp=t)
        g.edge(r, fn)
        fns.append(fn)
    return fns, ("Stage pp=1 claims layers=2..3 but no operator of layer 3 is drawn: layer 2's residual_add nodes feed "
                 "the final_rms_norm nodes %s and %s directly." % tuple(fns))


def D_no_stage_transfer(g):
    send = g.one(op="pp_send")
    recv = g.one(op="pp_recv")
    g.del_node(send)
    g.del_node(recv)
    ids = []
    for t in range(2):
        r = g.one(op="residual_add", layer=1, block="moe", tp=t)
        n = g.one(op="rms_norm", layer=2, block="attn", tp=t)
        r1 = g.one(op="residual_add", layer=2, block="attn", tp=t)
        g.edge(r, n)
        g.edge(r, r1, "skip")
        ids += [r, n]
    return ids, ("Stage 0 (GPUs 0..3) and stage 1 (GPUs 4..7) are joined by plain edges from layer 1's residual_add "
                 "nodes %s, %s to layer 2's rms_norm/residual_add; the pp_send/pp_recv pair is missing."
                 % (ids[0], ids[2]))


def D_experts_subset_ranks(g):
    ids = []
    for e in range(8):
        x = g.one(op="expert_ffn", layer=1, expert=e)
        r = e // 4
        g.nodes[x]["a"]["ep"] = str(r)
        g.nodes[x]["a"]["gpu"] = gpu_fmt(range(4 * r, 4 * r + 4))
        ids.append(x)
    return ids, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on gpu=0..3, 4-7 on gpu=4..7); EP ranks "
                 "2 and 3 (GPUs 8..15) hold none of its experts although ep=4.")


def D_experts_uneven(g):
    x = g.one(op="expert_ffn", layer=1, expert=3)
    g.nodes[x]["a"]["ep"] = "0"
    g.nodes[x]["a"]["gpu"] = "0..3"
    return [x], ("Layer 1's expert 3 (%s) sits on EP rank 0 (gpu=0..3) instead of rank 1: ranks hold 3, 1, 2, 2 experts "
                 "instead of 8/4 = 2 each." % x)


def D_experts_share_gpu(g):
    x = g.one(op="expert_ffn", layer=0, expert=3)
    g.nodes[x]["a"]["gpu"] = "0..3"
    o = [g.one(op="expert_ffn", layer=0, expert=e) for e in (0, 1)]
    return [x] + o, ("Layer 0's expert 3 (%s, labelled ep=1) is placed on gpu=0..3, which hold EP rank 0's experts 0 "
                     "and 1 (%s, %s)." % (x, o[0], o[1]))


def D_no_gate(g):
    ids = g.find(op="router", layer=1)
    for nid in ids:
        g.del_node(nid)
    disp = g.one(op="a2a_dispatch", layer=1)
    return [disp] + [g.one(op="rms_norm", layer=1, block="moe", tp=t) for t in range(4)], (
        "Layer 1 has no MoE router: the four rms_norm lanes go straight into the a2a_dispatch %s and on to the "
        "8 experts; no gate decides the top-2." % disp)


def D_no_all_to_all(g):
    disp = g.one(op="a2a_dispatch", layer=0)
    g.del_node(disp)
    norms = [g.one(op="rms_norm", layer=0, block="moe", tp=t) for t in range(4)]
    routers = [g.one(op="router", layer=0, tp=t) for t in range(4)]
    experts = [g.one(op="expert_ffn", layer=0, expert=e) for e in range(8)]
    for n, r in zip(norms, routers):
        for x in experts:
            g.edge(n, x)
            g.edge(r, x, "route")
    return routers + experts, ("Layer 0 has no a2a_dispatch: the rms_norm lanes and the routers (%s) send tokens "
                               "straight to the 8 experts on EP ranks 0-3 (ep=4, GPUs 0..15) by plain edges; only the "
                               "a2a_combine is left." % ", ".join(routers))


def D_tp_rank_missing(g):
    nodes = lane_nodes(g, 1, 3, ops=["rms_norm"] + ATTN_CORE)
    for nid in nodes:
        g.del_node(nid)
    ar = g.one(op="all_reduce", layer=1, block="attn")
    return [ar], ("Layer 1's attention operators (rms_norm to o_proj) are drawn for TP ranks 0-2 only; TP rank 3 "
                  "(gpu=3|7|11|15) of tp=4 is missing and the all_reduce %s gets 3 inputs." % ar)


def D_no_allreduce_after_rowparallel(g):
    ar = g.one(op="all_reduce", layer=0, block="ffn", dp=0)
    g.del_node(ar)
    ids = []
    for t in range(2):
        dn = g.one(op="ffn_down", layer=0, dp=0, tp=t)
        r = g.one(op="residual_add", layer=0, block="ffn", dp=0, tp=t)
        g.edge(dn, r)
        ids += [dn, r]
    return ids, ("DP replica 0, layer 0: the row-parallel ffn_down nodes %s (gpu=0) and %s (gpu=1) feed the "
                 "residual_add nodes %s, %s directly, without the TP all_reduce of their partial sums."
                 % (ids[0], ids[2], ids[1], ids[3]))


def D_cross_gpu_no_comm(g):
    e0 = g.one(op="embed", dp=0, tp=0)
    e1 = g.one(op="embed", dp=1, tp=0)
    n = g.one(op="rms_norm", layer=0, block="attn", dp=1, tp=0)
    g.del_edge(e1, n)
    g.edge(e0, n)
    return [e0, n], ("DP replica 0's embed %s on gpu=0 feeds replica 1's layer-0 rms_norm %s on gpu=2 by a plain edge, "
                     "with no communication node." % (e0, n))


def D_comm_wrong_shape(g):
    ar = g.one(op="all_reduce", layer=1, block="attn")
    g.nodes[ar]["shape"] = "box"
    return [ar], "Layer 1's attention all_reduce %s (gpu=0..15) is drawn as a box (computation) instead of an ellipse." % ar


def D_missing_gpu(g):
    n = g.one(op="attn_softmax", layer=0, dp=1, tp=1)
    del g.nodes[n]["a"]["gpu"]
    return [n], "attn_softmax %s of DP replica 1, layer 0, TP rank 1 has no gpu= key." % n


def D_gpu_out_of_range(g):
    x = g.one(op="expert_ffn", layer=1, expert=7)
    g.nodes[x]["a"]["gpu"] = "16..19"
    return [x], ("Layer 1's expert 7 (%s, EP rank 3) is placed on gpu=16..19, beyond the 16 GPUs of tp=4 x ep=4 x pp=1 "
                 "x dp=1 (ids 0..15)." % x)


def D_stages_share_gpus(g):
    ids = []
    for nid, nd in g.nodes.items():
        if nd["cluster"] == "cluster_pp1" and "gpu" in nd["a"]:
            nd["a"]["gpu"] = gpu_fmt([i - 2 for i in gpu_parse(nd["a"]["gpu"])])
            ids.append(nid)
    recv = g.one(op="pp_recv")
    return [recv], ("Stage pp=1 is placed on GPUs 2..5 (pp_recv %s gpu=2..5, lanes gpu=2|4 and 3|5), overlapping stage "
                    "pp=0's GPUs 0..3 (GPUs 2 and 3 in both)." % recv)


def D_strategy_mismatch(g):
    g.comment = "decode tp=4 ep=2 pp=2 dp=1"
    return [], ("The graph comment declares tp=4 but every tensor-parallel operator is drawn for TP ranks 0-1 only "
                "(TP 2, 8 GPUs instead of 16).")


def D_missing_shapes(g):
    o = g.one(op="o_proj", layer=2, tp=1)
    del g.nodes[o]["a"]["in"]
    del g.nodes[o]["a"]["out"]
    return [o], "o_proj %s of layer 2, TP rank 1 (gpu=5|7) has no in= or out= key." % o


def D_placeholder(g):
    r = g.one(op="router", layer=1, tp=2)
    g.nodes[r]["a"]["in"] = "[?,1,4096]"
    return [r], "Layer 1's router %s (TP rank 2) gives its input as in=[?,1,4096], a placeholder instead of 16." % r


def D_moe_before_attention(g):
    ids = []
    for t in range(2):
        p = g.one(op="residual_add", layer=0, block="moe", tp=t)
        n1 = g.one(op="rms_norm", layer=1, block="attn", tp=t)
        r1 = g.one(op="residual_add", layer=1, block="attn", tp=t)
        n2 = g.one(op="rms_norm", layer=1, block="moe", tp=t)
        r2 = g.one(op="residual_add", layer=1, block="moe", tp=t)
        send = g.one(op="pp_send")
        for u, v in [(p, n1), (p, r1), (r1, n2), (r1, r2), (r2, send)]:
            g.del_edge(u, v)
        g.edge(p, n2)
        g.edge(p, r2, "skip")
        g.edge(r2, n1)
        g.edge(r2, r1, "skip")
        g.edge(r1, send)
        ids += [n2, r2, n1, r1]
    return ids, ("Layer 1 runs its MoE block before its attention block: layer 0's output goes to the moe rms_norm "
                 "(%s, %s), the MoE residual_add (%s, %s) feeds the attention rms_norm, and the attention residual_add "
                 "feeds pp_send." % (ids[0], ids[4], ids[1], ids[5]))


def D_missing_residual(g):
    ids = []
    for t in range(2):
        p = g.one(op="residual_add", layer=0, block="ffn", dp=0, tp=t)
        r = g.one(op="residual_add", layer=1, block="attn", dp=0, tp=t)
        g.del_edge(p, r)
        ids.append(r)
    return ids, ("DP replica 0, layer 1: the attention residual_add nodes %s (gpu=0) and %s (gpu=1) are fed only by the "
                 "all_reduce; the skip edges from layer 0's residual_add are missing." % tuple(ids))


DEFECTS = [
    # kind, category, base, function
    ("cycle", "structure", "clean_1.dot", D_cycle),
    ("dangling_input", "structure", "clean_1.dot", D_dangling_input),
    ("dangling_output", "structure", "clean_2.dot", D_dangling_output),
    ("attention_one_box", "attention", "clean_1.dot", D_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", D_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1.dot", D_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", D_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1.dot", D_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", D_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", D_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_1.dot", D_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", D_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", D_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", D_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", D_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2.dot", D_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_2.dot", D_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2.dot", D_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", D_no_gate),
    ("no_all_to_all", "expert", "clean_2.dot", D_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", D_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", D_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3.dot", D_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", D_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_3.dot", D_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", D_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", D_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1.dot", D_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_1.dot", D_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", D_placeholder),
    ("moe_before_attention", "structure", "clean_1.dot", D_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", D_missing_residual),
]


# --------------------------------------------------------------------------- self-check
SHAPE_RE = re.compile(r"\[[^\]]*\]")


def check(g):
    """Section-2 style checks on the model; returns a list of problem strings."""
    P = []
    deg = dict(re.findall(r"(tp|ep|pp|dp)=(\d+)", g.comment))
    deg = {k: int(v) for k, v in deg.items()}
    ngpu = deg["tp"] * deg["ep"] * deg["pp"] * deg["dp"]
    ids = set(g.nodes)
    succ, pred = defaultdict(list), defaultdict(list)
    for u, v, _ in g.edges:
        if u not in ids or v not in ids:
            P.append("edge to unknown node %s->%s" % (u, v))
        succ[u].append(v)
        pred[v].append(u)
    # cycle
    colour = {}

    def dfs(u, stack):
        colour[u] = 1
        for v in succ[u]:
            if colour.get(v) == 1:
                P.append("cycle through %s->%s" % (u, v))
            elif v not in colour:
                dfs(v, stack)
        colour[u] = 2
    sys.setrecursionlimit(10000)
    for n in g.nodes:
        if n not in colour:
            dfs(n, [])
    for n, nd in g.nodes.items():
        a = nd["a"]
        op = a["op"]
        if op != "input" and not pred[n]:
            P.append("no input edge: %s %s" % (n, op))
        if op != "output" and not succ[n]:
            P.append("no output edge: %s %s" % (n, op))
        if op not in ("input", "output"):
            for k in ("in", "out", "gpu"):
                if k not in a:
                    P.append("missing %s: %s %s" % (k, n, op))
            if "?" in a.get("in", "") + a.get("out", ""):
                P.append("placeholder: %s" % n)
            if "gpu" in a and max(gpu_parse(a["gpu"])) >= ngpu:
                P.append("gpu out of range: %s %s" % (n, a["gpu"]))
        want = {"ellipse": COMM_OPS, "parallelogram": ROUTE_OPS}
        for shp, ops in want.items():
            if (op in ops) != (nd["shape"] == shp):
                P.append("wrong shape: %s %s %s" % (n, op, nd["shape"]))
    # shapes on edges, cross-gpu edges
    for u, v, _ in g.edges:
        if u not in ids or v not in ids:
            continue
        au, av = g.nodes[u]["a"], g.nodes[v]["a"]
        if "out" in au and "in" in av:
            outs = SHAPE_RE.findall(au["out"])
            ins = SHAPE_RE.findall(av["in"])
            if not set(outs) & set(ins):
                P.append("shape %s %s %s -> %s %s %s" % (u, au["op"], au["out"], v, av["op"], av["in"]))
        if au["op"] in COMM_OPS or av["op"] in COMM_OPS:
            continue
        if "gpu" in au and "gpu" in av and set(gpu_parse(au["gpu"])) != set(gpu_parse(av["gpu"])):
            P.append("cross-gpu plain edge %s(%s) -> %s(%s)" % (u, au["gpu"], v, av["gpu"]))
    # attention wiring per lane
    for n, nd in g.nodes.items():
        a = nd["a"]
        if a["op"] == "attention":
            P.append("one-box attention %s" % n)
        if a["op"] == "attn_context":
            ps = [g.nodes[p]["a"] for p in pred[n]]
            if not any(p["op"] == "attn_softmax" for p in ps) or not any(p.get("cache") == "v" for p in ps):
                P.append("context wiring %s" % n)
            if not any(g.nodes[s]["a"]["op"] == "o_proj" for s in succ[n]):
                P.append("context not into o_proj %s" % n)
        if a["op"] == "attn_score":
            ps = [g.nodes[p]["a"] for p in pred[n]]
            if not any(p["op"] == "split_qkv" for p in ps) or not any(p.get("cache") == "k" for p in ps) or \
                    any(p.get("cache") == "v" for p in ps):
                P.append("score wiring %s" % n)
        if a["op"] == "o_proj":
            if not all(g.nodes[p]["a"]["op"] == "attn_context" for p in pred[n]):
                P.append("o_proj fed by non-context %s" % n)
            if not all(g.nodes[s]["a"]["op"] == "all_reduce" for s in succ[n]):
                P.append("o_proj not all-reduced %s" % n)
        if a["op"] == "ffn_down" and not all(g.nodes[s]["a"]["op"] == "all_reduce" for s in succ[n]):
            P.append("ffn_down not all-reduced %s" % n)
        if a["op"] == "split_qkv":
            H = g.cfg["hidden"]
            q = SHAPE_RE.findall(a["out"])[0].strip("[]").split(",")
            if int(q[1]) * int(q[3]) * deg["tp"] != H:
                P.append("head arithmetic %s: %s x %s x tp%d != %d" % (n, q[1], q[3], deg["tp"], H))
        if a["op"] == "residual_add":
            if len(pred[n]) != 2 or sum(1 for e in g.edges if e[1] == n and e[2] == "skip") != 1:
                P.append("residual wiring %s" % n)
        if a["op"] == "kv_cache_read" and not any(g.nodes[p]["a"]["op"] == "kv_cache_write" for p in pred[n]):
            P.append("kv read without write %s" % n)
        if a["op"] in ("rms_norm",) and a.get("block") in ("moe", "ffn"):
            if not all(g.nodes[p]["a"]["op"] == "residual_add" and g.nodes[p]["a"].get("block") == "attn"
                       for p in pred[n]):
                P.append("block order %s" % n)
    # experts
    E = g.cfg.get("experts")
    if E:
        for l in range(g.cfg["layers"]):
            xs = g.find(op="expert_ffn", layer=l)
            if not xs:
                continue
            per = defaultdict(list)
            gpus = defaultdict(set)
            for x in xs:
                per[g.nodes[x]["a"]["ep"]].append(x)
                gpus[g.nodes[x]["a"]["ep"]] |= set(gpu_parse(g.nodes[x]["a"]["gpu"]))
            counts = [len(per.get(str(r), [])) for r in range(deg["ep"])]
            if counts != [E // deg["ep"]] * deg["ep"] or len(xs) != E:
                P.append("layer %d experts per rank %s" % (l, counts))
            rs = sorted(gpus)
            for i in range(len(rs)):
                for j in range(i + 1, len(rs)):
                    if gpus[rs[i]] & gpus[rs[j]]:
                        P.append("layer %d ranks %s/%s share gpus" % (l, rs[i], rs[j]))
            if not g.find(op="router", layer=l):
                P.append("layer %d no router" % l)
            if not g.find(op="a2a_dispatch", layer=l) or not g.find(op="a2a_combine", layer=l):
                P.append("layer %d no all-to-all" % l)
        for l in range(g.cfg["layers"]):
            ts = sorted(set(g.nodes[n]["a"]["tp"] for n in g.find(op="qkv_proj", layer=l)) |
                        set(g.nodes[n]["a"]["tp"] for n in g.find(op="attention", layer=l)))
            if ts and ts != [str(t) for t in range(deg["tp"])]:
                P.append("layer %d tp ranks %s" % (l, ts))
    else:
        for l in range(g.cfg["layers"]):
            for d in range(deg["dp"]):
                ts = sorted(set(g.nodes[n]["a"]["tp"] for n in g.find(op="qkv_proj", layer=l, dp=d)))
                if ts != [str(t) for t in range(deg["tp"])]:
                    P.append("layer %d dp %d tp ranks %s" % (l, d, ts))
    # stages
    labs = [lab for lab in g.clusters.values()]
    stages = defaultdict(list)
    for cid, lab in g.clusters.items():
        m = re.search(r"pp=(\d+) layers=(\d+)\.\.(\d+)", lab)
        dpm = re.match(r"dp=(\d+)", lab)
        stages[int(dpm.group(1)) if dpm else 0].append((int(m.group(1)), int(m.group(2)), int(m.group(3)), cid))
    stage_gpus = {}
    for d, st in stages.items():
        if len(st) != deg["pp"]:
            P.append("dp %d: %d stages drawn, pp=%d" % (d, len(st), deg["pp"]))
        covered = []
        for s, a, b, cid in sorted(st):
            covered += list(range(a, b + 1))
            for l in range(a, b + 1):
                ns = [n for n in g.find(layer=l) if g.nodes[n]["cluster"] == cid]
                if not ns:
                    P.append("stage %s claims layer %d without operators" % (cid, l))
            gs = set()
            for n, nd in g.nodes.items():
                if nd["cluster"] == cid and "gpu" in nd["a"] and nd["a"]["op"] != "pp_send":
                    gs |= set(gpu_parse(nd["a"]["gpu"]))
            stage_gpus[cid] = gs
        if covered != list(range(g.cfg["layers"])):
            P.append("dp %d stage ranges cover %s" % (d, covered))
    cs = list(stage_gpus)
    for i in range(len(cs)):
        for j in range(i + 1, len(cs)):
            if stage_gpus[cs[i]] & stage_gpus[cs[j]]:
                P.append("stages %s/%s share gpus %s" % (cs[i], cs[j], sorted(stage_gpus[cs[i]] & stage_gpus[cs[j]])))
    if deg["pp"] > 1 and not g.find(op="pp_send"):
        P.append("no pp_send")
    used = set()
    for nd in g.nodes.values():
        if "gpu" in nd["a"]:
            used |= set(gpu_parse(nd["a"]["gpu"]))
    tps = set()
    for nd in g.nodes.values():
        if nd["a"].get("tp", "").isdigit():
            tps.add(int(nd["a"]["tp"]))
    if len(tps) != deg["tp"]:
        P.append("tp ranks drawn %s vs tp=%d" % (sorted(tps), deg["tp"]))
    if used != set(range(ngpu)):
        P.append("gpus used %s vs %d declared" % (gpu_fmt(used), ngpu))
    return P


# --------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = []
    clean = {}
    for name, cfg in CFG.items():
        g = build(cfg)
        clean[name] = g
        probs = check(g)
        if probs:
            print("CLEAN FILE %s HAS PROBLEMS:" % name, *probs[:30], sep="\n  ")
            sys.exit(1)
        with open(os.path.join(OUT, name), "w") as fh:
            fh.write(g.render(LEGEND))
        manifest.append({"file": name, "kind": "clean", "category": None, "base": None, "nodes": [],
                         "what": CLEAN_WHAT[name]})
    report = []
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render(LEGEND))
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base, "nodes": nodes, "what": what})
        report.append((fname, check(g)))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    # Graphviz parse check
    bad = 0
    for f in sorted(os.listdir(OUT)):
        if f.endswith(".dot"):
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, f)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 or r.stderr.strip():
                bad += 1
                print("DOT PROBLEM", f, r.stderr)
    if "-v" in sys.argv:
        for fname, probs in report:
            print(fname)
            for p in probs:
                print("   ", p)
    print("wrote %d files to %s (%d dot parse problems)" % (len(manifest), OUT, bad))


if __name__ == "__main__":
    main()
