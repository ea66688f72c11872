#!/usr/bin/env python3
"""House style "AT": DeepSeek-V3-like deployment DAGs (stdlib only).

Running `python3 gen.py` writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot per defect
kind and out/manifest.json.

House style (applied to every file):
  * Strategy in a `#` comment line at the top, GPU-count rule in a second `#` line, model in a
    third.  GPUs = DP x TP x PP: attention and experts share the same GPUs, EP is carved out of
    the DP x TP ranks of each pipeline rank (it is not multiplied in).
  * Ids `blk{n}_{op}` plus `_g{gpu}` for per-GPU copies (`blk3_router_g1`, `blk3_exp17`).
  * Labels in Title Case; shape lines carry the dtype after the shape:
    `Output: [tokens=4096, hidden=2048] bf16`.
  * Placement line is `rank 5` / `ranks 0..7` / `ranks 0,2` (rank = GPU rank).  TP and DP
    indices are called "TP Shard" / "DP Replica", EP indices "EP Slot", never "rank".
  * Every edge carries the tensor name as its label (x, h, q, k, v, scores, probs, ...).
  * PP=2 file: clusters `pipeline rank 0 (Blocks 0..1, ranks 0..1)`; single-stage files: no
    clusters.
  * Own quirk 1: every node label ends with a `Kernel: ...` line naming the kernel that runs it.
  * Own quirk 2: a fixed colour scheme by operator family (attention blue, dense MLP / routed
    experts orange, shared expert yellow, routing lilac, communication green, norms and
    residual adds grey) with residual skip edges drawn grey and bold, router edges dashed
    lilac; `// ===== Block n ... =====` banner comments separate the blocks.
"""
import copy
import json
import os
from collections import OrderedDict

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL = {
    "io": "#ffffff", "norm": "#eeeeee", "attn": "#d6e8fa", "mlp": "#ffe0b8",
    "shared": "#fff2a8", "route": "#e6d8f5", "comm": "#d9f2d9", "embed": "#e0e0e0",
}
SHAPE = {"comp": "box", "comm": "ellipse", "route": "parallelogram", "in": "invhouse",
         "out": "house"}


def S(dtype, *dims):
    """Shape string: S('bf16', ('tokens', 4096), ('hidden', 2048))."""
    return "[" + ", ".join("%s=%s" % d for d in dims) + "] " + dtype


def place(ranks):
    ranks = list(ranks)
    if len(ranks) == 1:
        return "rank %d" % ranks[0]
    if ranks == list(range(ranks[0], ranks[-1] + 1)):
        return "ranks %d..%d" % (ranks[0], ranks[-1])
    return "ranks " + ",".join(str(r) for r in ranks)


class Graph:
    def __init__(self):
        self.header = []
        self.name = ""
        self.label = ""
        self.nodes = OrderedDict()
        self.edges = []
        self.clusters = OrderedDict()   # cluster id -> label
        self.banners = {}               # block -> banner text

    def node(self, nid, kind, title, ctx=None, ins=None, outs=None, ranks=None, kernel=None,
             fam="attn", block=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(kind=kind, shape=SHAPE[kind], title=title, ctx=ctx,
                               ins=list(ins or []), outs=list(outs or []),
                               place=place(ranks) if ranks is not None else None,
                               kernel=kernel, fam=fam, block=block, cluster=cluster)
        return nid

    def edge(self, s, d, label, kind="data"):
        self.edges.append(dict(s=s, d=d, label=label, kind=kind))

    # -- editing helpers used by the defect injectors --
    def drop_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e["s"] != nid and e["d"] != nid]

    def drop_edge(self, s, d):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e["s"] == s and e["d"] == d)]
        assert len(self.edges) == n - 1, (s, d)

    def find_edge(self, s, d):
        for e in self.edges:
            if e["s"] == s and e["d"] == d:
                return e
        raise KeyError((s, d))

    def rename(self, old, new):
        self.nodes = OrderedDict((new if k == old else k, v) for k, v in self.nodes.items())
        for e in self.edges:
            if e["s"] == old:
                e["s"] = new
            if e["d"] == old:
                e["d"] = new

    # -- rendering --
    def _label(self, n):
        lines = [n["title"]]
        if n["ctx"]:
            lines.append(n["ctx"])
        if n["ins"]:
            lines.append("Input: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("Output: " + ", ".join(n["outs"]))
        if n["place"]:
            lines.append(n["place"])
        if n["kernel"]:
            lines.append("Kernel: " + n["kernel"])
        return "\\n".join(l.replace('"', '\\"') for l in lines)

    def _node_line(self, nid, n, indent):
        return '%s%s [shape=%s, fillcolor="%s", label="%s"];' % (
            indent, nid, n["shape"], FILL[n["fam"]], self._label(n))

    def _emit_nodes(self, items, indent, out):
        last = object()
        for nid, n in items:
            if n["block"] != last:
                last = n["block"]
                if last is not None:
                    out.append("")
                    out.append("%s// ===== %s =====" % (indent, self.banners[last]))
            out.append(self._node_line(nid, n, indent))

    def render(self):
        out = list(self.header)
        out.append("digraph %s {" % self.name)
        out.append('  graph [label="%s", labelloc=t, fontname="Helvetica", fontsize=14, '
                   'rankdir=TB, nodesep=0.25, ranksep=0.35];' % self.label)
        out.append('  node [fontname="Helvetica", fontsize=9, style=filled, penwidth=1];')
        out.append('  edge [fontname="Helvetica", fontsize=8];')
        loose = [(k, v) for k, v in self.nodes.items() if v["cluster"] is None]
        self._emit_nodes([kv for kv in loose if kv[1]["block"] == "io"], "  ", out)
        for cid, clabel in self.clusters.items():
            out.append("")
            out.append("  subgraph %s {" % cid)
            out.append('    label="%s"; style=rounded; color="#555555";' % clabel)
            inner = [(k, v) for k, v in self.nodes.items() if v["cluster"] == cid]
            self._emit_nodes(inner, "    ", out)
            out.append("  }")
        self._emit_nodes([kv for kv in loose if kv[1]["block"] != "io"], "  ", out)
        out.append("")
        out.append("  // ===== Edges (label = tensor name) =====")
        last = object()
        for e in self.edges:
            blk = self.nodes[e["d"]]["block"] if e["d"] in self.nodes else None
            if blk != last and blk is not None:
                out.append("  // ----- %s -----" % self.banners[blk])
            last = blk
            attrs = ['label="%s"' % e["label"]]
            if e["kind"] == "skip":
                attrs += ['color="#888888"', 'fontcolor="#666666"', "style=bold"]
            elif e["kind"] == "route":
                attrs += ["style=dashed", 'color="#7a4fb0"', 'fontcolor="#7a4fb0"']
            out.append("  %s -> %s [%s];" % (e["s"], e["d"], ", ".join(attrs)))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------
# Builder
# ----------------------------------------------------------------------------------------

def build(c):
    g = Graph()
    tp_mode = c["mode"] == "tp"
    TP, DP, PP, EP = c["TP"], c["DP"], c["PP"], c["EP"]
    lanes = TP if tp_mode else DP          # GPUs per pipeline rank
    assert EP == lanes and c["E"] % EP == 0
    H, nh, hd = c["hidden"], c["heads"], c["head_dim"]
    assert nh * hd == H
    T = c["tokens"]                        # tokens per lane (replicated over TP shards)
    B, L = c["batch"], c["seq"]
    assert B * L == T
    hl = nh // TP                          # heads per GPU
    T_loc = T // TP if tp_mode else T      # tokens each GPU dispatches to the experts
    k, E = c["top_k"], c["E"]
    slots = T_loc * k                      # routed token copies leaving / returning to a GPU
    per_exp = lanes * slots // E           # balanced tokens per routed expert
    inter = c["dense_inter"] // TP
    vocab_loc = c["vocab"] // TP
    per_slot = E // EP

    g.name = c["gname"]
    g.label = c["glabel"]
    g.header = c["header"]

    hid = lambda t=T: S("bf16", ("tokens", t), ("hidden", H))
    qkv = S("bf16", ("tokens", T), ("heads", hl), ("head_dim", hd))
    sc32 = S("fp32", ("batch", B), ("heads", hl), ("q_len", L), ("kv_len", L))
    sc16 = S("bf16", ("batch", B), ("heads", hl), ("q_len", L), ("kv_len", L))
    ids = S("int32", ("tokens", T))
    topi = S("int32", ("tokens", T), ("top_k", k))
    topw = S("fp32", ("tokens", T), ("top_k", k))
    slot_sh = S("bf16", ("routed_tokens", slots), ("hidden", H))
    exp_sh = S("bf16", ("routed_tokens", per_exp), ("hidden", H))
    inter_sh = S("bf16", ("tokens", T), ("intermediate", inter))

    def stage_of(b):
        for p, blocks in enumerate(c["stages"]):
            if b in blocks:
                return p
        raise ValueError(b)

    def ranks_of(p):
        return [p * lanes + i for i in range(lanes)]

    def tag(i):
        return ("TP Shard %d Of %d" % (i, TP)) if tp_mode else ("DP Replica %d Of %d" % (i, DP))

    def cl(p):
        return ("cluster_pp%d" % p) if PP > 1 else None

    if PP > 1:
        for p, blocks in enumerate(c["stages"]):
            g.clusters["cluster_pp%d" % p] = "pipeline rank %d (Blocks %d..%d, %s)" % (
                p, blocks[0], blocks[-1], place(ranks_of(p)))

    g.banners["io"] = "Input And Embedding"
    g.banners["head"] = "Final Norm And LM Head"
    g.banners["pp"] = "Pipeline Transfer"
    for b in range(c["blocks"]):
        if b in c["dense_blocks"]:
            g.banners[b] = "Block %d: Dense (SwiGLU MLP, Intermediate %d)" % (b, c["dense_inter"])
        else:
            g.banners[b] = "Block %d: MoE (%d Routed Top-%d + 1 Shared)" % (b, E, k)

    # ---- input and embedding ----
    r0 = ranks_of(0)
    cur = {}
    if tp_mode:
        g.node("input", "in", "Input", "Token Ids, Prefill Batch %d x %d" % (B, L),
               outs=[ids], fam="io", block="io")
        for i, r in enumerate(r0):
            e = g.node("embed_g%d" % r, "comp", "Vocab-Parallel Embedding",
                       "%s, %d Vocab Rows, Partial Sum" % (tag(i), vocab_loc), [ids], [hid()],
                       [r], "Embedding Gather", "embed", "io", cl(0))
            g.edge("input", e, "ids")
        ar = g.node("embed_allreduce", "comm", "Embedding All-Reduce",
                    "TP Group Of %d" % TP, [hid()], [hid()], r0, "NCCL AllReduce", "comm",
                    "io", cl(0))
        for i, r in enumerate(r0):
            g.edge("embed_g%d" % r, ar, "x_partial")
            cur[i] = ar
    else:
        for i, r in enumerate(r0):
            inp = g.node("input_g%d" % r, "in", "Input",
                         "Token Ids, %s, Prefill Batch %d x %d" % (tag(i), B, L),
                         outs=[ids], fam="io", block="io")
            e = g.node("embed_g%d" % r, "comp", "Embedding",
                       "%s, %d Vocab Rows" % (tag(i), c["vocab"]), [ids], [hid()], [r],
                       "Embedding Gather", "embed", "io", cl(0))
            g.edge(inp, e, "ids")
            cur[i] = e

    # ---- blocks ----
    prev_stage = 0
    for b in range(c["blocks"]):
        p = stage_of(b)
        rk = ranks_of(p)
        C = cl(p)
        if p != prev_stage:
            old = ranks_of(prev_stage)
            for i in range(lanes):
                sr = g.node("pp_send_recv_g%d" % old[i], "comm",
                            "Pipeline Send/Recv (Pipeline Rank %d To %d)" % (prev_stage, p),
                            tag(i), [hid()], [hid()], [old[i], rk[i]], "NCCL Send/Recv",
                            "comm", "pp", None)
                g.edge(cur[i], sr, "x")
                cur[i] = sr
            prev_stage = p

        # -- attention --
        res1 = {}
        if tp_mode:
            attn_ar = "blk%d_attn_allreduce" % b
        for i, r in enumerate(rk):
            n1 = g.node("blk%d_norm1_g%d" % (b, r), "comp", "RMSNorm (Pre-Attention)",
                        "Block %d, %s" % (b, tag(i)), [hid()], [hid()], [r], "Fused RMSNorm",
                        "norm", b, C)
            g.edge(cur[i], n1, "x")
            proj = {}
            for t in "qkv":
                title = "%s Projection%s" % (t.upper(), " (Column-Parallel)" if tp_mode else "")
                proj[t] = g.node("blk%d_%s_proj_g%d" % (b, t, r), "comp", title,
                                 "Block %d, %s, %d Heads x %d" % (b, tag(i), hl, hd),
                                 [hid()], [qkv], [r], "cuBLAS GEMM", "attn", b, C)
                g.edge(n1, proj[t], "h")
            sc = g.node("blk%d_score_g%d" % (b, r), "comp",
                        "Attention Scores (Q x K^T / sqrt(%d), Causal)" % hd,
                        "Block %d, %s, %d Heads" % (b, tag(i), hl), [qkv, qkv], [sc32], [r],
                        "Batched GEMM + Causal Mask", "attn", b, C)
            g.edge(proj["q"], sc, "q")
            g.edge(proj["k"], sc, "k")
            sm = g.node("blk%d_softmax_g%d" % (b, r), "comp", "Softmax (Over Keys)",
                        "Block %d, %s, %d Heads" % (b, tag(i), hl), [sc32], [sc16], [r],
                        "Fused Softmax", "attn", b, C)
            g.edge(sc, sm, "scores")
            cx = g.node("blk%d_attn_ctx_g%d" % (b, r), "comp",
                        "Attention Weighted Sum (Probs x V)",
                        "Block %d, %s, %d Heads x %d" % (b, tag(i), hl, hd), [sc16, qkv], [qkv],
                        [r], "Batched GEMM", "attn", b, C)
            g.edge(sm, cx, "probs")
            g.edge(proj["v"], cx, "v")
            op = g.node("blk%d_o_proj_g%d" % (b, r), "comp",
                        "Output Projection%s" % (" (Row-Parallel)" if tp_mode else ""),
                        "Block %d, %s%s" % (b, tag(i), ", Partial Sum" if tp_mode else ""),
                        [qkv], [hid()], [r], "cuBLAS GEMM", "attn", b, C)
            g.edge(cx, op, "ctx")
            r1 = g.node("blk%d_res1_g%d" % (b, r), "comp", "Residual Add (Attention)",
                        "Block %d, %s" % (b, tag(i)), [hid(), hid()], [hid()], [r],
                        "Elementwise Add", "norm", b, C)
            res1[i] = r1
            if tp_mode:
                if i == 0:
                    g.node(attn_ar, "comm", "Attention All-Reduce",
                           "Block %d, TP Group Of %d, Sums O-Proj Partials" % (b, TP),
                           [hid()], [hid()], rk, "NCCL AllReduce", "comm", b, C)
                g.edge(op, attn_ar, "o_partial")
            else:
                g.edge(op, r1, "o")
            g.edge(cur[i], r1, "x", "skip")
        if tp_mode:
            for i in range(lanes):
                g.edge(attn_ar, res1[i], "o")

        # -- dense MLP or MoE --
        res2 = {}
        if b in c["dense_blocks"]:
            if tp_mode:
                mlp_ar = "blk%d_mlp_allreduce" % b
            for i, r in enumerate(rk):
                ctx = "Block %d, %s, Intermediate %d" % (b, tag(i), inter)
                n2 = g.node("blk%d_norm2_g%d" % (b, r), "comp", "RMSNorm (Pre-MLP)",
                            "Block %d, %s" % (b, tag(i)), [hid()], [hid()], [r],
                            "Fused RMSNorm", "norm", b, C)
                g.edge(res1[i], n2, "x")
                cp = " (Column-Parallel)" if tp_mode else ""
                gp = g.node("blk%d_gate_proj_g%d" % (b, r), "comp", "Gate Projection" + cp, ctx,
                            [hid()], [inter_sh], [r], "cuBLAS GEMM", "mlp", b, C)
                up = g.node("blk%d_up_proj_g%d" % (b, r), "comp", "Up Projection" + cp, ctx,
                            [hid()], [inter_sh], [r], "cuBLAS GEMM", "mlp", b, C)
                g.edge(n2, gp, "h")
                g.edge(n2, up, "h")
                sw = g.node("blk%d_swiglu_g%d" % (b, r), "comp", "SwiGLU (SiLU(Gate) x Up)", ctx,
                            [inter_sh, inter_sh], [inter_sh], [r], "Fused SiLU-Mul", "mlp", b, C)
                g.edge(gp, sw, "g")
                g.edge(up, sw, "u")
                dn = g.node("blk%d_down_proj_g%d" % (b, r), "comp",
                            "Down Projection" + (" (Row-Parallel)" if tp_mode else ""),
                            ctx + (", Partial Sum" if tp_mode else ""), [inter_sh], [hid()],
                            [r], "cuBLAS GEMM", "mlp", b, C)
                g.edge(sw, dn, "a")
                r2 = g.node("blk%d_res2_g%d" % (b, r), "comp", "Residual Add (MLP)",
                            "Block %d, %s" % (b, tag(i)), [hid(), hid()], [hid()], [r],
                            "Elementwise Add", "norm", b, C)
                res2[i] = r2
                if tp_mode:
                    if i == 0:
                        g.node(mlp_ar, "comm", "MLP All-Reduce",
                               "Block %d, TP Group Of %d, Sums Down-Proj Partials" % (b, TP),
                               [hid()], [hid()], rk, "NCCL AllReduce", "comm", b, C)
                    g.edge(dn, mlp_ar, "mlp_partial")
                else:
                    g.edge(dn, r2, "mlp")
                g.edge(res1[i], r2, "x", "skip")
            if tp_mode:
                for i in range(lanes):
                    g.edge(mlp_ar, res2[i], "mlp")
        else:
            disp = "blk%d_dispatch_a2a" % b
            comb = "blk%d_combine_a2a" % b
            splits, routers, combs = {}, {}, {}
            for i, r in enumerate(rk):
                n2 = g.node("blk%d_norm2_g%d" % (b, r), "comp", "RMSNorm (Pre-MoE)",
                            "Block %d, %s" % (b, tag(i)), [hid()], [hid()], [r],
                            "Fused RMSNorm", "norm", b, C)
                g.edge(res1[i], n2, "x")
                ro = g.node("blk%d_router_g%d" % (b, r), "route",
                            "MoE Router (Sigmoid, Top-%d Of %d Routed)" % (k, E),
                            "Block %d, %s" % (b, tag(i)), [hid()], [topi, topw], [r],
                            "Sigmoid Top-K Gating", "route", b, C)
                g.edge(n2, ro, "h")
                if tp_mode:
                    st = "Token Split (Local Slice %d Of %d Tokens, Sorted By Expert)" % (T_loc, T)
                else:
                    st = "Token Split (Sorted By Expert)"
                sp = g.node("blk%d_split_g%d" % (b, r), "route", st,
                            "Block %d, %s" % (b, tag(i)), [hid(), topi],
                            [slot_sh, hid(T_loc)], [r], "Permute (Sort By Expert)", "route",
                            b, C)
                g.edge(n2, sp, "h")
                g.edge(ro, sp, "topk_idx", "route")
                splits[i], routers[i] = sp, ro
            g.node(disp, "comm", "Dispatch All-To-All",
                   "Block %d, EP Group Of %d, %d Routed Tokens Out Per GPU" % (b, EP, slots),
                   [slot_sh], [exp_sh], rk, "DeepEP Dispatch", "comm", b, C)
            for i in range(lanes):
                g.edge(splits[i], disp, "x_routed")
            g.node(comb, "comm", "Combine All-To-All",
                   "Block %d, EP Group Of %d, %d Routed Tokens Back Per GPU" % (b, EP, slots),
                   [exp_sh], [slot_sh], rk, "DeepEP Combine", "comm", b, C)
            for e in range(E):
                s = e // per_slot
                ex = g.node("blk%d_exp%d" % (b, e), "comp", "Routed Expert %d (SwiGLU)" % e,
                            "Block %d, EP Slot %d Of %d, Intermediate %d" % (b, s, EP,
                                                                          c["moe_inter"]),
                            [exp_sh], [exp_sh], [rk[s]], "Grouped GEMM (SwiGLU)", "mlp", b, C)
                g.edge(disp, ex, "x_e")
                g.edge(ex, comb, "y_e")
            if tp_mode:
                ag = "blk%d_moe_allgather" % b
            for i, r in enumerate(rk):
                sh = g.node("blk%d_shared_ffn_g%d" % (b, r), "comp",
                            "Shared Expert FFN (SwiGLU, Every Token)",
                            "Block %d, %s, Intermediate %d, Replicated" % (b, tag(i),
                                                                          c["moe_inter"]),
                            [hid(T_loc)], [hid(T_loc)], [r], "cuBLAS GEMM (SwiGLU)", "shared",
                            b, C)
                g.edge(splits[i], sh, "h_local")
                cb = g.node("blk%d_combine_g%d" % (b, r), "route",
                            "Expert Combine (Top-%d Weighted Sum + Shared)" % k,
                            "Block %d, %s" % (b, tag(i)), [slot_sh, hid(T_loc), topw],
                            [hid(T_loc)], [r], "Unpermute + Weighted Sum", "route", b, C)
                g.edge(comb, cb, "y_routed")
                g.edge(sh, cb, "y_shared")
                g.edge(routers[i], cb, "topk_w", "route")
                combs[i] = cb
            for i, r in enumerate(rk):
                r2 = g.node("blk%d_res2_g%d" % (b, r), "comp", "Residual Add (MoE)",
                            "Block %d, %s" % (b, tag(i)), [hid(), hid()], [hid()], [r],
                            "Elementwise Add", "norm", b, C)
                res2[i] = r2
                if tp_mode:
                    if i == 0:
                        g.node(ag, "comm", "MoE All-Gather (Tokens)",
                               "Block %d, TP Group Of %d, %d To %d Tokens" % (b, TP, T_loc, T),
                               [hid(T_loc)], [hid()], rk, "NCCL AllGather", "comm", b, C)
                    g.edge(combs[i], ag, "y_local")
                    g.edge(ag, r2, "moe")
                else:
                    g.edge(combs[i], r2, "moe")
                g.edge(res1[i], r2, "x", "skip")
        cur = res2

    # ---- final norm, LM head, output ----
    p = PP - 1
    rk = ranks_of(p)
    C = cl(p)
    logit_loc = S("bf16", ("tokens", T), ("vocab", vocab_loc))
    logit = S("bf16", ("tokens", T), ("vocab", c["vocab"]))
    heads = {}
    for i, r in enumerate(rk):
        fn = g.node("final_norm_g%d" % r, "comp", "Final RMSNorm", tag(i), [hid()], [hid()], [r],
                    "Fused RMSNorm", "norm", "head", C)
        g.edge(cur[i], fn, "x")
        lm = g.node("lm_head_g%d" % r, "comp",
                    "LM Head" + (" (Column-Parallel Over Vocab)" if tp_mode else ""),
                    "%s, %d Vocab Rows" % (tag(i), vocab_loc), [hid()],
                    [logit_loc], [r], "cuBLAS GEMM", "embed", "head", C)
        g.edge(fn, lm, "h")
        heads[i] = lm
    if tp_mode:
        ag = g.node("lm_head_allgather", "comm", "Logits All-Gather (Vocab)",
                    "TP Group Of %d" % TP, [logit_loc], [logit], rk, "NCCL AllGather", "comm",
                    "head", C)
        for i in range(lanes):
            g.edge(heads[i], ag, "logits_shard")
        g.node("output", "out", "Output", "Logits, Prefill Batch %d x %d" % (B, L), [logit],
               fam="io", block="head")
        g.edge(ag, "output", "logits")
    else:
        for i, r in enumerate(rk):
            o = g.node("output_g%d" % r, "out", "Output", "Logits, %s" % tag(i), [logit],
                       fam="io", block="head")
            g.edge(heads[i], o, "logits")
    return g


# ----------------------------------------------------------------------------------------
# The three clean deployments
# ----------------------------------------------------------------------------------------

def header(strategy, gpus_expl, model):
    return ["# " + strategy, "# " + gpus_expl, "# " + model]


CFG1 = dict(
    mode="tp", TP=2, DP=1, PP=2, EP=2, hidden=2048, heads=16, head_dim=128, tokens=4096,
    batch=4, seq=1024, dense_inter=5632, moe_inter=1408, E=8, top_k=2, vocab=32000,
    blocks=4, dense_blocks=[0], stages=[[0, 1], [2, 3]],
    gname="dsv3_mini_two_stage",
    glabel="DeepSeek-V3-Like Mini MoE, Prefill Forward Pass (4 Blocks, Two Pipeline Ranks)",
    header=header(
        "EP=2, TP=2, PP=2, DP=1 (attention TP, experts EP)",
        "GPU count: attention and experts share the same GPUs, so GPUs = DP x TP x PP = "
        "1 x 2 x 2 = 4 (ranks 0..3); EP=2 is carved out of the DP x TP = 2 ranks of each "
        "pipeline rank, not multiplied in (EP*TP*PP*DP = 8 would over-count).",
        "Model: DeepSeek-V3-like mini, 4 blocks (block 0 dense SwiGLU, blocks 1..3 MoE with "
        "8 routed experts top-2 + 1 shared expert), hidden 2048 = 16 heads x 128, vocab "
        "32000, prefill 4 x 1024 = 4096 tokens."),
)

CFG2 = dict(
    mode="tp", TP=4, DP=1, PP=1, EP=4, hidden=4096, heads=32, head_dim=128, tokens=2048,
    batch=2, seq=1024, dense_inter=11008, moe_inter=1536, E=8, top_k=2, vocab=64000,
    blocks=2, dense_blocks=[0], stages=[[0, 1]],
    gname="dsv3_mini_tp_attention",
    glabel="DeepSeek-V3-Like Mini MoE, Prefill Forward Pass (2 Blocks, Tensor-Parallel Attention)",
    header=header(
        "EP=4, TP=4, PP=1, DP=1 (attention TP, experts EP)",
        "GPU count: attention and experts share the same GPUs, so GPUs = DP x TP x PP = "
        "1 x 4 x 1 = 4 (ranks 0..3); EP=4 is carved out of the DP x TP = 4 ranks, not "
        "multiplied in (EP*TP*PP*DP = 16 would over-count).",
        "Model: DeepSeek-V3-like mini, 2 blocks (block 0 dense SwiGLU, block 1 MoE with "
        "8 routed experts top-2 + 1 shared expert), hidden 4096 = 32 heads x 128, vocab "
        "64000, prefill 2 x 1024 = 2048 tokens."),
)

CFG3 = dict(
    mode="dp", TP=1, DP=4, PP=1, EP=4, hidden=1536, heads=12, head_dim=128, tokens=1024,
    batch=2, seq=512, dense_inter=4096, moe_inter=768, E=16, top_k=4, vocab=32000,
    blocks=2, dense_blocks=[0], stages=[[0, 1]],
    gname="dsv3_mini_dp_attention",
    glabel="DeepSeek-V3-Like Mini MoE, Prefill Forward Pass (2 Blocks, Data-Parallel Attention)",
    header=header(
        "EP=4, TP=1, PP=1, DP=4 (attention DP, experts EP)",
        "GPU count: attention and experts share the same GPUs, so GPUs = DP x TP x PP = "
        "4 x 1 x 1 = 4 (ranks 0..3, one DP replica per rank); EP=4 is carved out of the "
        "DP x TP = 4 ranks, not multiplied in (EP*TP*PP*DP = 16 would over-count).",
        "Model: DeepSeek-V3-like mini, 2 blocks (block 0 dense SwiGLU, block 1 MoE with "
        "16 routed experts top-4 + 1 shared expert), hidden 1536 = 12 heads x 128, vocab "
        "32000, prefill 2 x 512 = 1024 tokens per DP replica."),
)

CLEAN = OrderedDict([
    ("clean_1.dot", (CFG1, "Two pipeline ranks (blocks 0..1 on ranks 0..1, blocks 2..3 on ranks "
                     "2..3) joined by per-shard send/recv; attention TP=2 with all-reduce, "
                     "experts EP=2 (4 routed per GPU) with DeepEP dispatch/combine, shared "
                     "expert per GPU, token slice re-gathered before the MoE residual add.")),
    ("clean_2.dot", (CFG2, "Single stage on ranks 0..3: attention TP=4 (8 heads per shard) with "
                     "all-reduces, dense block 0, MoE block 1 with EP=4 (2 routed experts per "
                     "GPU), shared expert per GPU, MoE all-gather of the token slices.")),
    ("clean_3.dot", (CFG3, "Single stage on ranks 0..3: four DP attention replicas (all 12 heads "
                     "per GPU, no TP) drawn separately, MoE block 1 with EP=4 (4 of 16 routed "
                     "experts per GPU) joined by dispatch/combine all-to-alls.")),
])


# ----------------------------------------------------------------------------------------
# Defect injectors: each gets a deep copy of one clean graph, changes one thing and returns
# (offending node ids, one-sentence description).
# ----------------------------------------------------------------------------------------

def d_cycle(g):
    pos = g.edges.index(g.find_edge("blk1_exp3", "blk1_combine_a2a"))
    g.edges.insert(pos + 1, dict(s="blk1_combine_a2a", d="blk1_exp3", label="y_e", kind="data"))
    return (["blk1_exp3", "blk1_combine_a2a"],
            "Block 1's Combine All-To-All is drawn both ways with routed expert 3 (EP Slot 1, "
            "rank 1): blk1_exp3 -> blk1_combine_a2a and blk1_combine_a2a -> blk1_exp3, a "
            "two-node cycle.")


def d_dangling_input(g):
    g.drop_edge("blk1_res1_g2", "blk1_norm2_g2")
    return (["blk1_norm2_g2"],
            "Block 1's pre-MoE RMSNorm blk1_norm2_g2 of DP replica 2 (rank 2) has no incoming "
            "edge: its input from the attention residual add blk1_res1_g2 was removed.")


def d_dangling_output(g):
    g.drop_edge("blk1_exp6", "blk1_combine_a2a")
    return (["blk1_exp6"],
            "Routed expert 6 of block 1 (EP Slot 3, rank 3) has no outgoing edge: its output "
            "never reaches the Combine All-To-All blk1_combine_a2a.")


def d_attention_one_box(g):
    hid = S("bf16", ("tokens", 4096), ("hidden", 2048))
    ids = []
    out = OrderedDict()
    for nid, n in g.nodes.items():
        out[nid] = n
        for i, r in enumerate([2, 3]):
            if nid == "blk2_norm1_g%d" % r:
                mid = "blk2_mha_g%d" % r
                out[mid] = dict(kind="comp", shape="box", title="Multi-Head Attention",
                                ctx="Block 2, TP Shard %d Of 2, 8 Heads x 128, Partial Sum" % i,
                                ins=[hid], outs=[hid], place=place([r]),
                                kernel="FlashAttention", fam="attn", block=2,
                                cluster="cluster_pp1")
                ids.append(mid)
    g.nodes = out
    for r in [2, 3]:
        for op in ["q_proj", "k_proj", "v_proj", "score", "softmax", "attn_ctx", "o_proj"]:
            g.drop_node("blk2_%s_g%d" % (op, r))
    new = []
    for r in [2, 3]:
        new.append(dict(s="blk2_norm1_g%d" % r, d="blk2_mha_g%d" % r, label="h", kind="data"))
        new.append(dict(s="blk2_mha_g%d" % r, d="blk2_attn_allreduce", label="o_partial",
                        kind="data"))
    pos = next(j for j, e in enumerate(g.edges) if e["s"] == "blk2_attn_allreduce")
    g.edges = g.edges[:pos] + new + g.edges[pos:]
    return (ids,
            "Block 2's attention (pipeline rank 1) is drawn as one 'Multi-Head Attention' box "
            "per TP shard (blk2_mha_g2 on rank 2, blk2_mha_g3 on rank 3) instead of Q/K/V "
            "projections, scores, softmax, weighted sum and output projection.")


def d_v_bypasses_softmax(g):
    g.find_edge("blk1_softmax_g2", "blk1_attn_ctx_g2")["d"] = "blk1_o_proj_g2"
    return (["blk1_softmax_g2", "blk1_attn_ctx_g2", "blk1_v_proj_g2", "blk1_o_proj_g2"],
            "Block 1, DP replica 2 (rank 2): V feeds the weighted sum blk1_attn_ctx_g2 but the "
            "softmax blk1_softmax_g2 does not (it goes straight to the output projection "
            "blk1_o_proj_g2), so V bypasses the attention probabilities.")


def d_v_into_score(g):
    e1 = g.find_edge("blk0_k_proj_g1", "blk0_score_g1")
    e2 = g.find_edge("blk0_v_proj_g1", "blk0_attn_ctx_g1")
    e1["s"], e1["label"] = "blk0_v_proj_g1", "v"
    e2["s"], e2["label"] = "blk0_k_proj_g1", "k"
    return (["blk0_v_proj_g1", "blk0_k_proj_g1", "blk0_score_g1", "blk0_attn_ctx_g1"],
            "Block 0, TP shard 1 (rank 1): V is wired into the score blk0_score_g1 instead of K, "
            "and K feeds the weighted sum blk0_attn_ctx_g1 (K and V swapped).")


def d_head_arithmetic(g):
    ids = []
    for r in range(4):
        for op in ["q_proj", "k_proj", "v_proj", "score", "attn_ctx", "o_proj"]:
            nid = "blk1_%s_g%d" % (op, r)
            n = g.nodes[nid]
            n["ins"] = [s.replace("head_dim=128", "head_dim=64") for s in n["ins"]]
            n["outs"] = [s.replace("head_dim=128", "head_dim=64") for s in n["outs"]]
            n["ctx"] = n["ctx"].replace("8 Heads x 128", "8 Heads x 64")
            n["title"] = n["title"].replace("sqrt(128)", "sqrt(64)")
            if op in ("q_proj", "k_proj", "v_proj"):
                ids.append(nid)
    return (ids,
            "Block 1 labels Q/K/V as 8 heads x head_dim 64 on every TP shard (8 x 64 = 512 per "
            "shard, 32 x 64 = 2048 in total) while hidden is 4096 (4096 / TP4 = 1024 per "
            "shard, i.e. head_dim must be 128).")


def d_tp_heads(g):
    ids = []
    for op in ["q_proj", "k_proj", "v_proj", "score", "softmax", "attn_ctx", "o_proj"]:
        nid = "blk0_%s_g0" % op
        n = g.nodes[nid]
        n["ins"] = [s.replace("heads=8", "heads=16") for s in n["ins"]]
        n["outs"] = [s.replace("heads=8", "heads=16") for s in n["outs"]]
        n["ctx"] = n["ctx"].replace("8 Heads", "16 Heads")
        if op in ("q_proj", "k_proj", "v_proj"):
            ids.append(nid)
    return (ids,
            "Block 0, TP shard 0 of TP 2 (rank 0): the column-parallel Q/K/V projections output "
            "all 16 heads (heads=16 x head_dim=128 = 2048) instead of 16/2 = 8 heads "
            "(1024) per shard; TP shard 1 correctly holds 8.")


def d_edge_shape_mismatch(g):
    n = g.nodes["blk0_norm2_g0"]
    n["ins"] = [S("bf16", ("tokens", 1024), ("hidden", 2048))]
    return (["blk0_res1_g0", "blk0_norm2_g0"],
            "DP replica 0, block 0: RMSNorm blk0_norm2_g0 expects hidden=2048 but its producer "
            "blk0_res1_g0 outputs hidden=1536 (ratio 4/3, not a parallel degree).")


def d_shard_without_gather(g):
    g.rename("blk1_attn_allreduce", "blk1_attn_reducescatter")
    n = g.nodes["blk1_attn_reducescatter"]
    n["title"] = "Attention Reduce-Scatter"
    n["ctx"] = "Block 1, TP Group Of 4, Sums O-Proj Partials, Hidden Sharded"
    n["outs"] = [S("bf16", ("tokens", 2048), ("hidden", 1024))]
    n["kernel"] = "NCCL ReduceScatter"
    return (["blk1_attn_reducescatter"] + ["blk1_res1_g%d" % r for r in range(4)],
            "Block 1's row-parallel output projection is reduce-scattered "
            "(blk1_attn_reducescatter) into hidden/TP = 4096/4 = 1024 shards that go straight "
            "into the full-size (hidden=4096) residual adds blk1_res1_g0..g3 with no all-gather.")


def d_stage_count(g):
    g.header[0] = g.header[0].replace("PP=2", "PP=3")
    return ([],
            "The strategy comment declares PP=3 but two pipeline ranks (stages) are drawn "
            "(cluster_pp0 with blocks 0..1, cluster_pp1 with blocks 2..3).")


def d_stage_range_gap(g):
    g.clusters["cluster_pp0"] = g.clusters["cluster_pp0"].replace("Blocks 0..1", "Blocks 0..0")
    return (["blk1_norm1_g0", "blk1_norm1_g1", "blk1_res2_g0", "blk1_res2_g1"],
            "pipeline rank 0 claims blocks 0..0 and pipeline rank 1 blocks 2..3: block 1 is in "
            "no stage's range (gap), although its operators are drawn in pipeline rank 0.")


def d_stage_missing_layer(g):
    for nid in [k for k, v in g.nodes.items() if v["block"] == 3]:
        g.drop_node(nid)
    g.edge("blk2_res2_g2", "final_norm_g2", "x")
    g.edge("blk2_res2_g3", "final_norm_g3", "x")
    # keep edges in a natural order: move the two new edges before the head edges
    new = g.edges[-2:]
    rest = g.edges[:-2]
    pos = next(j for j, e in enumerate(rest) if e["s"] == "final_norm_g2")
    g.edges = rest[:pos] + new + rest[pos:]
    return (["blk2_res2_g2", "blk2_res2_g3", "final_norm_g2", "final_norm_g3"],
            "pipeline rank 1 claims blocks 2..3 but no operator of block 3 is drawn (block 2's "
            "residual adds blk2_res2_g2/g3 feed the final norms directly).")


def d_no_stage_transfer(g):
    for r, nr in [(0, 2), (1, 3)]:
        g.drop_node("pp_send_recv_g%d" % r)
    for r, nr in [(1, 3), (0, 2)]:
        g.edges.insert(0, dict(s="blk1_res2_g%d" % r, d="blk2_res1_g%d" % nr, label="x",
                               kind="skip"))
        g.edges.insert(0, dict(s="blk1_res2_g%d" % r, d="blk2_norm1_g%d" % nr, label="x",
                               kind="data"))
    new, rest = g.edges[:4], g.edges[4:]
    pos = next(j for j, e in enumerate(rest) if e["s"] == "blk2_norm1_g2")
    g.edges = rest[:pos] + new + rest[pos:]
    return (["blk1_res2_g0", "blk1_res2_g1", "blk2_norm1_g2", "blk2_norm1_g3"],
            "pipeline rank 0 (ranks 0..1) and pipeline rank 1 (ranks 2..3) are joined by plain "
            "edges from blk1_res2_g0/g1 to blk2_norm1_g2/g3 and blk2_res1_g2/g3; the pipeline "
            "send/recv is missing.")


def d_experts_subset_ranks(g):
    ids = []
    for e, s in [(4, 0), (5, 0), (6, 1), (7, 1)]:
        n = g.nodes["blk1_exp%d" % e]
        n["ctx"] = n["ctx"].replace("EP Slot %d Of 4" % (e // 2), "EP Slot %d Of 4" % s)
        n["place"] = place([s])
        ids.append("blk1_exp%d" % e)
    return (ids,
            "Block 1 places all 8 routed experts on EP slots 0 and 1 (ranks 0..1, experts 0-1 "
            "and 4-5 on rank 0, 2-3 and 6-7 on rank 1); ranks 2 and 3 hold none of its experts "
            "although EP is 4.")


def d_experts_uneven(g):
    n = g.nodes["blk1_exp5"]
    n["ctx"] = n["ctx"].replace("EP Slot 1 Of 4", "EP Slot 0 Of 4")
    n["place"] = place([0])
    return (["blk1_exp5"],
            "Block 1's routed expert 5 sits on EP slot 0 (rank 0) instead of slot 1 (rank 1): "
            "ranks 0..3 hold 5, 3, 4, 4 experts instead of 16/4 = 4 each.")


def d_experts_share_gpu(g):
    g.nodes["blk1_exp5"]["place"] = place([0])
    return (["blk1_exp5"],
            "Block 1's routed expert 5 (labelled EP Slot 1 Of 2, whose GPU is rank 1) is placed "
            "on rank 0, which holds EP slot 0's experts 0-3.")


def d_no_gate(g):
    for r in range(4):
        g.drop_node("blk1_router_g%d" % r)
    return (["blk1_norm2_g%d" % r for r in range(4)] + ["blk1_split_g%d" % r for r in range(4)],
            "Block 1 has no MoE router on any rank: the pre-MoE RMSNorms blk1_norm2_g0..g3 go "
            "straight into the token splits, the dispatch all-to-all and the 8 routed experts.")


def d_no_all_to_all(g):
    g.drop_node("blk2_dispatch_a2a")
    new = []
    for r in [2, 3]:
        for e in range(8):
            new.append(dict(s="blk2_split_g%d" % r, d="blk2_exp%d" % e, label="x_routed",
                            kind="data"))
    pos = next(j for j, e in enumerate(g.edges) if e["s"] == "blk2_exp0")
    g.edges = g.edges[:pos] + new + g.edges[pos:]
    return (["blk2_split_g2", "blk2_split_g3"] + ["blk2_exp%d" % e for e in range(8)],
            "Block 2's token splits (ranks 2 and 3) send tokens straight to the 8 routed experts "
            "on EP slots 0-1 (ranks 2..3, EP 2) without a dispatch all-to-all.")


def d_tp_rank_missing(g):
    for op in ["norm1", "q_proj", "k_proj", "v_proj", "score", "softmax", "attn_ctx", "o_proj"]:
        g.drop_node("blk1_%s_g3" % op)
    return (["blk1_attn_allreduce", "blk1_res1_g3"],
            "Block 1's attention operators (pre-attention norm, Q/K/V projections, scores, "
            "softmax, weighted sum, output projection) are drawn for TP shards 0-2 only; TP "
            "shard 3 (rank 3) of TP 4 is missing.")


def d_no_allreduce_after_rowparallel(g):
    g.drop_node("blk0_mlp_allreduce")
    new = [dict(s="blk0_down_proj_g%d" % r, d="blk0_res2_g%d" % r, label="mlp_partial",
                kind="data") for r in (0, 1)]
    pos = next(j for j, e in enumerate(g.edges) if e["s"] == "blk0_res1_g0" and
               e["d"] == "blk0_res2_g0")
    g.edges = g.edges[:pos] + new + g.edges[pos:]
    return (["blk0_down_proj_g0", "blk0_down_proj_g1", "blk0_res2_g0", "blk0_res2_g1"],
            "Block 0 (pipeline rank 0): the row-parallel MLP down projections blk0_down_proj_g0/"
            "g1 feed the residual adds blk0_res2_g0/g1 directly, without the TP=2 all-reduce of "
            "their partial sums.")


def d_cross_gpu_no_comm(g):
    e = g.find_edge("embed_g1", "blk0_norm1_g1")
    e["s"] = "embed_g0"
    return (["embed_g0", "blk0_norm1_g1"],
            "embed_g0 on rank 0 (DP replica 0) feeds blk0_norm1_g1 on rank 1 (DP replica 1) by a "
            "plain edge, with no communication node.")


def d_comm_wrong_shape(g):
    g.nodes["blk0_attn_allreduce"]["shape"] = "box"
    return (["blk0_attn_allreduce"],
            "Block 0's Attention All-Reduce blk0_attn_allreduce (ranks 0..3) is drawn as a box "
            "(computation) instead of an ellipse.")


def d_missing_gpu(g):
    g.nodes["blk1_softmax_g1"]["place"] = None
    return (["blk1_softmax_g1"],
            "Softmax of block 1, TP shard 1 (blk1_softmax_g1, should be rank 1) has no rank "
            "line.")


def d_gpu_out_of_range(g):
    g.nodes["blk3_exp6"]["place"] = place([8])
    return (["blk3_exp6"],
            "Block 3's routed expert 6 (EP slot 1 of pipeline rank 1, should be rank 3) is "
            "placed on rank 8, beyond the 4 GPUs (ranks 0..3) of DP1 x TP2 x PP2 and even "
            "beyond the 8 of EP2 x TP2 x PP2 x DP1 (ranks 0..7).")


def d_stages_share_gpus(g):
    shift = {2: 1, 3: 2}
    for nid, n in g.nodes.items():
        if n["cluster"] == "cluster_pp1" or nid.startswith("pp_send_recv"):
            p = n["place"]
            if p is None:
                continue
            if nid.startswith("pp_send_recv"):
                a, b = [int(x) for x in p.split()[1].split(",")]
                n["place"] = place([a, shift[b]])
            elif ".." in p:
                n["place"] = place([1, 2])
            else:
                n["place"] = place([shift[int(p.split()[1])]])
    g.clusters["cluster_pp1"] = g.clusters["cluster_pp1"].replace("ranks 2..3", "ranks 1..2")
    return (["blk2_norm1_g2", "blk2_norm1_g3"],
            "pipeline rank 1 is placed on ranks 1..2 (every stage-1 node shifted down by one), "
            "overlapping pipeline rank 0's ranks 0..1 (rank 1 in both).")


def d_strategy_mismatch(g):
    g.header[0] = g.header[0].replace("TP=4", "TP=8")
    return ([],
            "The strategy comment declares TP=8 but every tensor-parallel operator is drawn "
            "for TP shards 0-3 only (TP 4, ranks 0..3).")


def d_missing_shapes(g):
    n = g.nodes["blk1_o_proj_g2"]
    n["ins"], n["outs"] = [], []
    return (["blk1_o_proj_g2"],
            "Output Projection of block 1, DP replica 2 (blk1_o_proj_g2, rank 2) has no Input "
            "or Output line.")


def d_placeholder(g):
    g.nodes["blk1_router_g1"]["ins"] = ["[tokens=?, hidden=4096] bf16"]
    return (["blk1_router_g1"],
            "Block 1's MoE Router on TP shard 1 (blk1_router_g1, rank 1) gives its input as "
            "[tokens=?, hidden=4096], a placeholder instead of 2048.")


def d_moe_before_attention(g):
    for r in range(4):
        prev = "blk0_res2_g%d" % r
        n1, r1 = "blk1_norm1_g%d" % r, "blk1_res1_g%d" % r
        n2, r2 = "blk1_norm2_g%d" % r, "blk1_res2_g%d" % r
        fn = "final_norm_g%d" % r
        for e in g.edges:
            pair = (e["s"], e["d"])
            if pair == (prev, n1):
                e["d"] = n2
            elif pair == (prev, r1):
                e["d"] = r2
            elif pair == (r1, n2):
                e["s"], e["d"] = r2, n1
            elif pair == (r1, r2):
                e["s"], e["d"] = r2, r1
            elif pair == (r2, fn):
                e["s"] = r1
    return (["blk1_norm2_g%d" % r for r in range(4)] + ["blk1_norm1_g%d" % r for r in range(4)],
            "Block 1 runs its MoE block (pre-MoE norm, router, experts, MoE residual) before its "
            "attention block on all 4 TP shards: blk0_res2_g* feeds blk1_norm2_g*, the MoE "
            "residual blk1_res2_g* feeds blk1_norm1_g*, and blk1_res1_g* feeds the final norm.")


def d_missing_residual(g):
    g.drop_edge("blk0_res2_g0", "blk1_res1_g0")
    return (["blk1_res1_g0"],
            "Block 1's attention residual add blk1_res1_g0 (DP replica 0, rank 0) is fed only "
            "by the output projection; the skip edge from blk0_res2_g0 is missing.")


DEFECTS = [
    # kind, category, base, injector
    ("cycle", "structure", "clean_2.dot", d_cycle),
    ("dangling_input", "structure", "clean_3.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_2.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_1.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_3.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", None),
    ("head_arithmetic", "attention", "clean_2.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_3.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_1.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_2.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_2.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", d_missing_residual),
]


def d_qkv_into_oproj(g):
    for op in ["score", "softmax", "attn_ctx"]:
        g.drop_node("blk1_%s_g1" % op)
    new = [dict(s="blk1_%s_proj_g1" % t, d="blk1_o_proj_g1", label=t, kind="data")
           for t in "qkv"]
    pos = next(j for j, e in enumerate(g.edges) if e["s"] == "blk1_o_proj_g1")
    g.edges = g.edges[:pos] + new + g.edges[pos:]
    return (["blk1_q_proj_g1", "blk1_k_proj_g1", "blk1_v_proj_g1", "blk1_o_proj_g1"],
            "DP replica 1 (rank 1), block 1: Q, K and V go straight into the output projection "
            "blk1_o_proj_g1; no score, softmax or weighted sum is drawn.")


DEFECTS = [(k, c, b, d_qkv_into_oproj if f is None else f) for k, c, b, f in DEFECTS]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    manifest = []
    graphs = {}
    for fname, (cfg, what) in CLEAN.items():
        g = build(cfg)
        graphs[fname] = g
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fname, kind="clean", category=None, base=None, nodes=[],
                             what=what))
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(graphs[base])
        nodes, what = fn(g)
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, base=base, nodes=nodes,
                             what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
