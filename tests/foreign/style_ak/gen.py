#!/usr/bin/env python3
"""House style AK: "profiled" deployment DAGs (Graphviz DOT), clean and defective.

Every operator node carries its operator (Title Case, first line), Input/Output
shapes, GPU placement and two profiling lines (FLOPs + Time for computation,
Bytes + Time for communication).  Each file holds three annotation notes
(Performance summary, Memory per GPU, Legend); the performance summary hangs off
the output node by a dashed edge.  Pipeline stages are clusters
"Pipeline stage S: layers A-B"; the strategy is in the graph label.

Run:  python3 gen.py      -> writes out/*.dot and out/manifest.json
Stdlib only.
"""
import json
import os

PEAK = 989e12      # bf16 dense peak of one GPU (H100 SXM), FLOP/s
EFF = 0.55         # achieved fraction for matmuls
BW = 450e9         # NVLink bandwidth per GPU, byte/s
HBM = 80           # GB per GPU

# --------------------------------------------------------------------------
# graph model
# --------------------------------------------------------------------------

FILL = {"compute": "#dbe9f6", "io": "#e6e6e6", "comm": "#fde2c4",
        "route": "#d9f2d0", "note": "#fff8c4"}
SHAPE = {"compute": None, "io": None, "comm": "ellipse",
         "route": "parallelogram", "note": "note"}


def S(**dims):
    """A named shape: S(batch=8, seq=512) -> '[batch=8, seq=512]'."""
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in dims.items()) + "]"


def fmt_gpus(ids):
    ids = sorted(set(ids))
    if len(ids) == 1:
        return str(ids[0])
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "%d-%d" % (ids[0], ids[-1])
    return ",".join(str(i) for i in ids)


def fmt_flops(f):
    g = f / 1e9
    return "%.1f G" % g if g >= 0.1 or g == 0 else "%.2f G" % g


def fmt_bytes(b):
    return "%.1f MB" % (b / 2 ** 20)


class Graph:
    def __init__(self, label):
        self.label = label
        self.nodes = {}          # id -> dict
        self.order = []          # insertion order of node ids
        self.edges = []          # [src, dst, attrs]
        self.clusters = {}       # cluster id -> label
        self.corder = []

    # construction -------------------------------------------------------
    def cluster(self, cid, label):
        self.clusters[cid] = label
        self.corder.append(cid)

    def add(self, nid, kind, title, ins=None, outs=None, gpu=None,
            flops=0.0, nbytes=0.0, time_ms=None, cluster=None, lines=None):
        assert nid not in self.nodes, nid
        n = dict(kind=kind, title=title, ins=ins, outs=outs, gpu=gpu,
                 flops=flops, bytes=nbytes, cluster=cluster, lines=lines,
                 shape=SHAPE[kind])
        if time_ms is None:
            if kind == "comm":
                time_ms = nbytes / BW * 1e3 + 0.01
            elif kind in ("compute", "route"):
                ng = len(gpu) if gpu else 1
                time_ms = flops / (ng * PEAK * EFF) * 1e3 + 0.005
            else:
                time_ms = 0.0
        n["time"] = time_ms
        self.nodes[nid] = n
        self.order.append(nid)
        return nid

    def e(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    # editing (used by the defect injectors) ------------------------------
    def has_edge(self, a, b):
        return any(x == a and y == b for x, y, _ in self.edges)

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [ed for ed in self.edges if not (ed[0] == a and ed[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [ed for ed in self.edges if nid not in (ed[0], ed[1])]

    def rename(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        for ed in self.edges:
            if ed[0] == old:
                ed[0] = new
            if ed[1] == old:
                ed[1] = new

    def preds(self, nid):
        return [a for a, b, _ in self.edges if b == nid]

    def succs(self, nid):
        return [b for a, b, _ in self.edges if a == nid]

    # rendering ------------------------------------------------------------
    def label_of(self, nid):
        n = self.nodes[nid]
        if n["lines"] is not None:
            return n["lines"]
        out = [n["title"]]
        if n["ins"] is not None:
            out.append("Input: " + ", ".join(n["ins"]))
        if n["outs"] is not None:
            out.append("Output: " + ", ".join(n["outs"]))
        if n["gpu"] is not None:
            out.append("GPU: " + fmt_gpus(n["gpu"]))
        if n["kind"] == "comm":
            out.append("Bytes: " + fmt_bytes(n["bytes"]))
        else:
            out.append("FLOPs: " + fmt_flops(n["flops"]))
        out.append("Time: %.2f ms" % n["time"])
        return out

    def node_line(self, nid, indent):
        n = self.nodes[nid]
        attrs = ['label="%s"' % "\\n".join(self.label_of(nid))]
        if n["shape"]:
            attrs.append("shape=%s" % n["shape"])
        if n["kind"] == "note":
            attrs.append('style=filled')
        attrs.append('fillcolor="%s"' % FILL[n["kind"]])
        return "%s%s [%s];" % (indent, nid, ", ".join(attrs))

    def render(self):
        L = ["// house style AK: profiled deployment DAG, generated by gen.py",
             "digraph deployment {",
             '  label="%s";' % self.label,
             "  labelloc=t;", "  fontsize=16;", "  fontname=\"Helvetica\";",
             "  rankdir=TB;", "  nodesep=0.25;", "  ranksep=0.35;",
             '  node [shape=box, style="rounded,filled", fillcolor="#dbe9f6", '
             'fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];', ""]
        top = [n for n in self.order if self.nodes[n]["cluster"] is None
               and self.nodes[n]["kind"] != "note"]
        for nid in top:
            L.append(self.node_line(nid, "  "))
        for cid in self.corder:
            L.append("")
            L.append("  subgraph %s {" % cid)
            L.append('    label="%s";' % self.clusters[cid])
            L.append('    style="rounded,dashed";')
            L.append('    color="#5b7fa6";')
            for nid in self.order:
                if self.nodes[nid]["cluster"] == cid:
                    L.append(self.node_line(nid, "    "))
            L.append("  }")
        L.append("")
        for a, b, attrs in self.edges:
            if attrs:
                L.append("  %s -> %s [%s];" % (a, b, ", ".join(
                    "%s=%s" % kv for kv in attrs.items())))
            else:
                L.append("  %s -> %s;" % (a, b))
        L.append("")
        L.append("  // annotations")
        for nid in self.order:
            if self.nodes[nid]["kind"] == "note":
                L.append(self.node_line(nid, "  "))
        L.append("}")
        return "\n".join(L) + "\n"


# --------------------------------------------------------------------------
# the three deployments
# --------------------------------------------------------------------------

C1 = dict(name="clean_1", hidden=2048, heads=16, layers=4, batch=8, seq=512,
          vocab=32000, EP=4, TP=2, PP=2, DP=1, experts=8, topk=2, ffn=1536)
C2 = dict(name="clean_2", hidden=4096, heads=32, layers=3, batch=4, seq=768,
          vocab=32000, EP=2, TP=4, PP=1, DP=1, experts=6, topk=2, ffn=2048)
C3 = dict(name="clean_3", hidden=1024, heads=8, layers=2, batch=8, seq=1024,
          vocab=32000, EP=1, TP=2, PP=1, DP=2, experts=0, topk=0, ffn=2816 * 2)
CFGS = {"clean_1": C1, "clean_2": C2, "clean_3": C3}


def strategy_label(c, override=None):
    d = dict(EP=c["EP"], TP=c["TP"], PP=c["PP"], DP=c["DP"])
    if override:
        d.update(override)
    if c["experts"]:
        return "Deployment plan — EP %d, TP %d, PP %d, DP %d" % (
            d["EP"], d["TP"], d["PP"], d["DP"])
    return "Deployment plan — TP %d, PP %d, DP %d (dense model)" % (
        d["TP"], d["PP"], d["DP"])


def build(c, label_override=None):
    H, NH = c["hidden"], c["heads"]
    HD = H // NH
    assert NH * HD == H
    TP, EP, PP, DP = c["TP"], c["EP"], c["PP"], c["DP"]
    L, B, SQ, V = c["layers"], c["batch"], c["seq"], c["vocab"]
    E, K, F = c["experts"], c["topk"], c["ffn"]
    moe = E > 0
    assert NH % TP == 0 and H % TP == 0 and V % TP == 0 and L % PP == 0
    T = B * SQ
    HR, HS = NH // TP, H // TP
    LS = L // PP
    per = EP * TP

    full = S(batch=B, seq=SQ, hidden=H)
    tok_ids = S(batch=B, seq=SQ)
    qkv_s = S(batch=B, seq=SQ, qkv=3 * HS)
    head_s = S(batch=B, seq=SQ, heads=HR, head_dim=HD)
    score_s = S(batch=B, heads=HR, q_len=SQ, kv_len=SQ)
    shard_s = S(batch=B, seq=SQ, hidden=HS)
    logit_sh = S(batch=B, seq=SQ, vocab=V // TP)
    logit_full = S(batch=B, seq=SQ, vocab=V)
    if moe:
        assert E % EP == 0 and (T * K) % E == 0
        TE = T * K // E
        tok_s = S(tokens=TE, hidden=H)
        topk_s = S(batch=B, seq=SQ, top_k=K)
    else:
        FS = F // TP
        ffn_s = S(batch=B, seq=SQ, ffn=FS)

    g = Graph(label_override or strategy_label(c))
    g.cfg = c

    def base(r, s):
        return (r * PP + s) * per

    def stage_gpus(r, s):
        return list(range(base(r, s), base(r, s) + per))

    def tp_gpus(r, s, t):
        return [base(r, s) + e * TP + t for e in range(EP)]

    def ep_gpus(r, s, e):
        return [base(r, s) + e * TP + t for t in range(TP)]

    ar_bytes = T * H * 2
    # ---- global input / output -------------------------------------------
    if DP == 1:
        g.add("input", "io", "Input", [tok_ids], [tok_ids], stage_gpus(0, 0))
    else:
        all0 = sum((stage_gpus(r, 0) for r in range(DP)), [])
        gin = S(batch=B * DP, seq=SQ)
        g.add("input", "io", "Input", [gin], [gin], all0)
        g.add("dp_scatter", "comm", "Scatter (DP)", [gin], [tok_ids], all0,
              nbytes=B * DP * SQ * 4)
        g.e("input", "dp_scatter")

    finals = []
    for r in range(DP):
        p = "dp%d_" % r if DP > 1 else ""
        x = None
        for s in range(PP):
            cid = "cluster_%sstage%d" % (p, s)
            lab = "Pipeline stage %d: layers %d-%d" % (s, s * LS, s * LS + LS - 1)
            if DP > 1:
                lab += " (DP replica %d)" % r
            g.cluster(cid, lab)
            sg = stage_gpus(r, s)
            if s == 0:
                emb = g.add(p + "embedding", "compute", "Embedding", [tok_ids],
                            [full], sg, flops=0.0,
                            time_ms=T * H * 2 / 2.0e12 * 1e3 + 0.005, cluster=cid)
                g.e("input" if DP == 1 else "dp_scatter", emb)
                x = emb
            else:
                prev = stage_gpus(r, s - 1)
                sr = g.add("%spp_send_recv_%d_%d" % (p, s - 1, s), "comm",
                           "Pipeline Send/Recv", [full], [full], prev + sg,
                           nbytes=T * H * 2)
                g.e(x, sr)
                x = sr
            for l in range(s * LS, s * LS + LS):
                pl = "%sl%d_" % (p, l)
                n1 = g.add(pl + "norm1", "compute", "RMSNorm", [full], [full], sg,
                           flops=4 * T * H, cluster=cid)
                g.e(x, n1)
                ar = pl + "attn_allreduce"
                for t in range(TP):
                    tg = tp_gpus(r, s, t)
                    sx = "_tp%d" % t
                    qkv = g.add(pl + "qkv" + sx, "compute", "QKV Projection",
                                [full], [qkv_s], tg, flops=2 * T * H * 3 * HS,
                                cluster=cid)
                    g.e(n1, qkv)
                    parts = {}
                    for nm in "qkv":
                        parts[nm] = g.add(pl + nm + sx, "route",
                                          "QKV Split: " + nm.upper(), [qkv_s],
                                          [head_s], tg, flops=0.0, cluster=cid)
                        g.e(qkv, parts[nm])
                    sc = g.add(pl + "scores" + sx, "compute", "Attention Scores",
                               [head_s, head_s], [score_s], tg,
                               flops=2 * B * HR * SQ * SQ * HD, cluster=cid)
                    g.e(parts["q"], sc)
                    g.e(parts["k"], sc)
                    sm = g.add(pl + "softmax" + sx, "compute", "Softmax",
                               [score_s], [score_s], tg,
                               flops=5 * B * HR * SQ * SQ, cluster=cid)
                    g.e(sc, sm)
                    ao = g.add(pl + "attn_out" + sx, "compute", "Attention Output",
                               [score_s, head_s], [shard_s], tg,
                               flops=2 * B * HR * SQ * SQ * HD, cluster=cid)
                    g.e(sm, ao)
                    g.e(parts["v"], ao)
                    op = g.add(pl + "oproj" + sx, "compute", "Output Projection",
                               [shard_s], [full], tg, flops=2 * T * HS * H,
                               cluster=cid)
                    g.e(ao, op)
                if True:
                    g.add(ar, "comm", "All-Reduce", [full], [full], sg,
                          nbytes=ar_bytes * 2 * (TP - 1) / TP, cluster=cid)
                    for t in range(TP):
                        g.e(pl + "oproj_tp%d" % t, ar)
                r1 = g.add(pl + "res1", "compute", "Residual Add", [full, full],
                           [full], sg, flops=T * H, cluster=cid)
                g.e(ar, r1)
                g.e(x, r1)
                n2 = g.add(pl + "norm2", "compute", "RMSNorm", [full], [full], sg,
                           flops=4 * T * H, cluster=cid)
                g.e(r1, n2)
                if moe:
                    rt = g.add(pl + "router", "route", "MoE Router", [full],
                               [full, topk_s], sg, flops=2 * T * H * E,
                               cluster=cid)
                    g.e(n2, rt)
                    dsp = g.add(pl + "dispatch", "comm", "Dispatch (All-to-All)",
                                [full, topk_s], [tok_s], sg,
                                nbytes=T * K * H * 2 * (EP - 1) / EP, cluster=cid)
                    g.e(rt, dsp)
                    cmb = pl + "combine"
                    exps = []
                    for e in range(EP):
                        for j in range(E // EP):
                            idx = e * (E // EP) + j
                            ex = g.add("%sep%d_expert%d" % (pl, e, idx), "compute",
                                       "Expert %d" % idx, [tok_s], [tok_s],
                                       ep_gpus(r, s, e), flops=2 * TE * 3 * H * F,
                                       cluster=cid)
                            g.e(dsp, ex)
                            exps.append(ex)
                    g.add(cmb, "comm", "Combine (All-to-All)", [tok_s], [full], sg,
                          nbytes=T * K * H * 2 * (EP - 1) / EP, cluster=cid)
                    for ex in exps:
                        g.e(ex, cmb)
                    mo = g.add(pl + "moe_out", "route", "MoE Output", [full],
                               [full], sg, flops=2 * T * H * K, cluster=cid)
                    g.e(cmb, mo)
                    last = mo
                else:
                    mar = pl + "mlp_allreduce"
                    for t in range(TP):
                        tg = tp_gpus(r, s, t)
                        sx = "_tp%d" % t
                        up = g.add(pl + "mlp_up" + sx, "compute",
                                   "MLP Up Projection", [full], [ffn_s], tg,
                                   flops=2 * T * H * FS, cluster=cid)
                        gt = g.add(pl + "mlp_gate" + sx, "compute",
                                   "MLP Gate Projection", [full], [ffn_s], tg,
                                   flops=2 * T * H * FS, cluster=cid)
                        act = g.add(pl + "mlp_act" + sx, "compute",
                                    "SwiGLU Activation", [ffn_s, ffn_s], [ffn_s],
                                    tg, flops=4 * T * FS, cluster=cid)
                        dn = g.add(pl + "mlp_down" + sx, "compute",
                                   "MLP Down Projection", [ffn_s], [full], tg,
                                   flops=2 * T * FS * H, cluster=cid)
                        g.e(n2, up)
                        g.e(n2, gt)
                        g.e(up, act)
                        g.e(gt, act)
                        g.e(act, dn)
                    g.add(mar, "comm", "All-Reduce", [full], [full], sg,
                          nbytes=ar_bytes * 2 * (TP - 1) / TP, cluster=cid)
                    for t in range(TP):
                        g.e(pl + "mlp_down_tp%d" % t, mar)
                    last = mar
                r2 = g.add(pl + "res2", "compute", "Residual Add", [full, full],
                           [full], sg, flops=T * H, cluster=cid)
                g.e(last, r2)
                g.e(r1, r2)
                x = r2
            if s == PP - 1:
                fn = g.add(p + "final_norm", "compute", "RMSNorm", [full], [full],
                           sg, flops=4 * T * H, cluster=cid)
                g.e(x, fn)
                ag = g.add(p + "logits_allgather", "comm", "All-Gather", [logit_sh],
                           [logit_full], sg, nbytes=T * V * 2 * (TP - 1) / TP,
                           cluster=cid)
                for t in range(TP):
                    lm = g.add("%slm_head_tp%d" % (p, t), "compute", "LM Head",
                               [full], [logit_sh], tp_gpus(r, s, t),
                               flops=2 * T * H * V // TP, cluster=cid)
                    g.e(fn, lm)
                    g.e(lm, ag)
                finals.append((ag, sg))
    if DP == 1:
        ag, sg = finals[0]
        g.add("output", "io", "Output", [logit_full], [logit_full], sg)
        g.e(ag, "output")
    else:
        allg = sum((sg for _, sg in finals), [])
        gout = S(batch=B * DP, seq=SQ, vocab=V)
        g.add("dp_gather", "comm", "Gather (DP)", [logit_full], [gout], allg,
              nbytes=B * DP * SQ * V * 2)
        for ag, _ in finals:
            g.e(ag, "dp_gather")
        g.add("output", "io", "Output", [gout], [gout], allg)
        g.e("dp_gather", "output")

    # ---- annotations --------------------------------------------------------
    add_notes(g)
    return g


def critical_path_ms(g):
    ids = [n for n in g.order if g.nodes[n]["kind"] != "note"]
    indeg = {n: 0 for n in ids}
    for a, b, _ in g.edges:
        if a in indeg and b in indeg:
            indeg[b] += 1
    best = {n: g.nodes[n]["time"] for n in ids}
    ready = [n for n in ids if indeg[n] == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for a, b, _ in g.edges:
            if a == n and b in indeg:
                best[b] = max(best[b], best[n] + g.nodes[b]["time"])
                indeg[b] -= 1
                if indeg[b] == 0:
                    ready.append(b)
    return max(best.values())


def add_notes(g):
    c = g.cfg
    H, TP, EP, PP, DP = c["hidden"], c["TP"], c["EP"], c["PP"], c["DP"]
    L, B, SQ, V, E, F = (c["layers"], c["batch"], c["seq"], c["vocab"],
                         c["experts"], c["ffn"])
    ngpu = EP * TP * PP * DP
    total_ms = critical_path_ms(g)
    flops = sum(n["flops"] for n in g.nodes.values())
    mfu = flops / (total_ms / 1e3 * ngpu * PEAK) * 100
    tps = B * SQ * DP / (total_ms / 1e3)
    g.add("perf_summary", "note", "Performance summary", lines=[
        "Performance summary",
        "Total time: %.2f ms (critical path, one forward pass)" % total_ms,
        "MFU: %.1f%%" % mfu,
        "Throughput: %.0f tokens/s" % tps,
        "Cluster size: %d GPUs" % ngpu])
    g.e("output", "perf_summary", style="dashed")
    LS = L // PP
    attn = 4 * H * H // TP
    if E:
        mlp = (E // EP) * 3 * H * F // TP + H * E
    else:
        mlp = 3 * H * F // TP
    w0 = (V * H + LS * (attn + mlp + 2 * H)) * 2
    wl = (LS * (attn + mlp + 2 * H) + V * H // TP + H) * 2
    w = max(w0, wl) / 2 ** 30
    kv = LS * 2 * B * SQ * (H // TP) * 2 / 2 ** 30
    act = B * SQ * max(3 * H // TP, H) * 2 * 4 / 2 ** 30
    g.add("memory_per_gpu", "note", "Memory per GPU", lines=[
        "Memory per GPU",
        "Weights: %.2f GB" % w,
        "KV cache: %.2f GB" % kv,
        "Activations (peak): %.2f GB" % act,
        "Total: %.2f GB of %d GB" % (w + kv + act, HBM)])
    g.add("legend", "note", "Legend", lines=[
        "Legend",
        "box = computation",
        "ellipse = communication",
        "parallelogram = routing / split / combine",
        "note = annotation",
        "dashed edge = annotation link"])


# --------------------------------------------------------------------------
# defect injectors: each takes a fresh clean graph and injects ONE defect
# returns (nodes, what)
# --------------------------------------------------------------------------

def d_cycle(g):
    g.e("l1_res1", "l1_attn_allreduce")
    return (["l1_attn_allreduce", "l1_res1"],
            "Layer 1's attention All-Reduce is drawn both ways with the residual "
            "add (l1_attn_allreduce -> l1_res1 and l1_res1 -> l1_attn_allreduce), "
            "a two-node cycle.")


def d_dangling_input(g):
    g.rm_edge("l1_res1", "l1_norm2")
    return (["l1_norm2"],
            "Layer 1's pre-MoE RMSNorm l1_norm2 has no incoming edge (its input "
            "from l1_res1 was removed).")


def d_dangling_output(g):
    g.rm_edge("l1_ep2_expert5", "l1_combine")
    return (["l1_ep2_expert5"],
            "Expert 5 of layer 1 (EP rank 2) has no outgoing edge: its output "
            "never reaches the combine all-to-all.")


def d_attention_one_box(g):
    for t in range(2):
        sx = "_tp%d" % t
        inner = ["qkv", "q", "k", "v", "scores", "softmax", "attn_out"]
        fl = sum(g.nodes["l2_%s%s" % (n, sx)]["flops"] for n in inner)
        n0 = g.nodes["l2_qkv" + sx]
        nid = "l2_mha" + sx
        g.add(nid, "compute", "Multi-Head Attention", list(n0["ins"]),
              list(g.nodes["l2_attn_out" + sx]["outs"]), list(n0["gpu"]),
              flops=fl, cluster=n0["cluster"])
        # place it where the qkv projection was
        g.order.remove(nid)
        g.order.insert(g.order.index("l2_qkv" + sx), nid)
        for n in inner:
            g.rm_node("l2_%s%s" % (n, sx))
        g.e("l2_norm1", nid)
        g.e(nid, "l2_oproj" + sx)
    return (["l2_mha_tp0", "l2_mha_tp1"],
            "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP "
            "rank instead of QKV projection, split, scores, softmax and weighted sum.")


def d_v_bypasses_softmax(g):
    g.rm_edge("l1_softmax_tp2", "l1_attn_out_tp2")
    g.e("l1_softmax_tp2", "l1_oproj_tp2")
    op = g.nodes["l1_oproj_tp2"]
    op["ins"] = op["ins"] + list(g.nodes["l1_softmax_tp2"]["outs"])
    return (["l1_softmax_tp2", "l1_attn_out_tp2", "l1_v_tp2"],
            "Layer 1, TP rank 2: V feeds the weighted sum l1_attn_out_tp2 but the "
            "softmax does not (it goes straight to the output projection), so V "
            "bypasses the attention probabilities.")


def d_v_into_score(g):
    g.rm_edge("l0_k_tp1", "l0_scores_tp1")
    g.rm_edge("l0_v_tp1", "l0_attn_out_tp1")
    g.e("l0_v_tp1", "l0_scores_tp1")
    g.e("l0_k_tp1", "l0_attn_out_tp1")
    return (["l0_v_tp1", "l0_k_tp1", "l0_scores_tp1"],
            "Layer 0, TP rank 1: V is wired into the score QK^T instead of K (K and "
            "V swapped, so K feeds the weighted sum).")


def d_qkv_into_oproj(g):
    for t in range(2):
        sx = "_tp%d" % t
        p = "dp1_l1_"
        for n in ("scores", "softmax", "attn_out"):
            g.rm_node(p + n + sx)
        for n in "qkv":
            g.e(p + n + sx, p + "oproj" + sx)
        g.nodes[p + "oproj" + sx]["ins"] = list(g.nodes[p + "q" + sx]["outs"])
    return (["dp1_l1_oproj_tp0", "dp1_l1_oproj_tp1", "dp1_l1_q_tp0", "dp1_l1_k_tp0",
             "dp1_l1_v_tp0", "dp1_l1_q_tp1", "dp1_l1_k_tp1", "dp1_l1_v_tp1"],
            "DP replica 1, layer 1: Q, K and V go straight into the output "
            "projection on both TP ranks; no score, softmax or weighted sum is drawn.")


def d_head_arithmetic(g):
    c = g.cfg
    B, SQ = c["batch"], c["seq"]
    HR = c["heads"] // c["TP"]
    bad = S(batch=B, seq=SQ, heads=HR, head_dim=64)
    ids = []
    for t in range(c["TP"]):
        sx = "_tp%d" % t
        for n in "qkv":
            g.nodes["l2_" + n + sx]["outs"] = [bad]
            ids.append("l2_" + n + sx)
        g.nodes["l2_scores" + sx]["ins"] = [bad, bad]
        ao = g.nodes["l2_attn_out" + sx]
        ao["ins"] = [ao["ins"][0], bad]
    return (ids,
            "Layer 2 labels Q/K/V as 8 heads x head_dim 64 on every TP rank (8 x 64 "
            "= 512 per rank, 32 x 64 = 2048 in total) while hidden is 4096 (4096/TP4 "
            "= 1024 per rank).")


def d_tp_heads(g):
    c = g.cfg
    B, SQ, H, NH = c["batch"], c["seq"], c["hidden"], c["heads"]
    HD = H // NH
    sx = "_tp0"
    qkv_full = S(batch=B, seq=SQ, qkv=3 * H)
    head_full = S(batch=B, seq=SQ, heads=NH, head_dim=HD)
    score_full = S(batch=B, heads=NH, q_len=SQ, kv_len=SQ)
    full = S(batch=B, seq=SQ, hidden=H)
    g.nodes["l0_qkv" + sx]["outs"] = [qkv_full]
    for n in "qkv":
        g.nodes["l0_" + n + sx]["ins"] = [qkv_full]
        g.nodes["l0_" + n + sx]["outs"] = [head_full]
    g.nodes["l0_scores" + sx]["ins"] = [head_full, head_full]
    g.nodes["l0_scores" + sx]["outs"] = [score_full]
    g.nodes["l0_softmax" + sx]["ins"] = [score_full]
    g.nodes["l0_softmax" + sx]["outs"] = [score_full]
    g.nodes["l0_attn_out" + sx]["ins"] = [score_full, head_full]
    g.nodes["l0_attn_out" + sx]["outs"] = [full]
    g.nodes["l0_oproj" + sx]["ins"] = [full]
    return (["l0_qkv_tp0", "l0_q_tp0", "l0_k_tp0", "l0_v_tp0"],
            "Layer 0, TP rank 0 of TP 2: the QKV projection outputs all 16 heads "
            "(qkv=6144, heads=16) instead of 16/2 = 8 heads per rank.")


def d_edge_shape_mismatch(g):
    c = g.cfg
    g.nodes["dp0_l1_norm2"]["ins"] = [S(batch=c["batch"], seq=c["seq"], hidden=768)]
    return (["dp0_l1_res1", "dp0_l1_norm2"],
            "DP replica 0, layer 1: RMSNorm dp0_l1_norm2 expects hidden=768 but its "
            "producer dp0_l1_res1 outputs hidden=1024 (ratio 4/3, not a parallel "
            "degree).")


def d_shard_without_gather(g):
    c = g.cfg
    n = g.nodes["l3_attn_allreduce"]
    n["title"] = "Reduce-Scatter"
    n["outs"] = [S(batch=c["batch"], seq=c["seq"], hidden=c["hidden"] // c["TP"])]
    n["bytes"] = n["bytes"] / 2
    g.rename("l3_attn_allreduce", "l3_attn_reducescatter")
    return (["l3_attn_reducescatter", "l3_res1"],
            "Layer 3's row-parallel output is reduce-scattered into hidden/TP = "
            "1024 shards that go straight into the full-size (hidden=2048) "
            "residual add l3_res1 with no all-gather.")


def d_stage_count(g):
    g.label = strategy_label(g.cfg, dict(PP=3))
    return ([], "The graph label declares PP 3 but two pipeline stages are drawn.")


def d_stage_range_gap(g):
    g.clusters["cluster_stage0"] = "Pipeline stage 0: layers 0-0"
    return (["cluster_stage0"],
            "Stage 0 claims layers 0-0 and stage 1 layers 2-3: layer 1 is in no "
            "stage's range (gap), although its operators are drawn in stage 0.")


def d_stage_missing_layer(g):
    for nid in [n for n in g.order if n.startswith("l3_")]:
        g.rm_node(nid)
    g.e("l2_res2", "final_norm")
    return (["cluster_stage1"],
            "Stage 1 claims layers 2-3 but no operator of layer 3 is drawn "
            "(layer 2 feeds the final norm directly).")


def d_no_stage_transfer(g):
    g.rm_node("pp_send_recv_0_1")
    g.e("l1_res2", "l2_norm1")
    g.e("l1_res2", "l2_res1")
    return (["l1_res2", "l2_norm1", "l2_res1"],
            "Stage 0 (GPUs 0-7) and stage 1 (GPUs 8-15) are joined by plain edges "
            "from l1_res2; the pipeline send/recv is missing.")


def _move_expert(g, layer, idx, new_rank, gpus):
    old = [n for n in g.order if n.startswith("l%d_ep" % layer)
           and n.endswith("_expert%d" % idx)][0]
    new = "l%d_ep%d_expert%d" % (layer, new_rank, idx)
    g.nodes[old]["gpu"] = list(gpus)
    if old != new:
        g.rename(old, new)
    return new


def d_experts_subset_ranks(g):
    ids = []
    for idx in range(8):
        r = idx // 4
        ids.append(_move_expert(g, 1, idx, r, [2 * r, 2 * r + 1]))
    return (ids,
            "Layer 1 places all 8 experts on EP ranks 0 and 1 (GPUs 0-3); EP ranks "
            "2 and 3 (GPUs 4-7) hold none of its experts although EP is 4.")


def d_experts_uneven(g):
    nid = _move_expert(g, 2, 3, 0, [8, 9])
    return ([nid],
            "Layer 2's expert 3 sits on EP rank 0 (GPUs 8-9) instead of rank 1: "
            "ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu(g):
    g.nodes["l1_ep1_expert3"]["gpu"] = [0, 1]
    return (["l1_ep1_expert3", "l1_ep0_expert0", "l1_ep0_expert1"],
            "Layer 1's expert 3 (EP rank 1) is placed on GPUs 0-1, which hold EP "
            "rank 0's experts 0 and 1.")


def d_no_gate(g):
    g.rm_node("l2_router")
    g.e("l2_norm2", "l2_dispatch")
    return (["l2_dispatch"],
            "Layer 2 has no MoE router: the RMSNorm output goes straight into the "
            "dispatch all-to-all and the experts.")


def d_no_all_to_all(g):
    c = g.cfg
    T = c["batch"] * c["seq"]
    tok = S(tokens=T * c["topk"] // c["experts"], hidden=c["hidden"])
    exps = g.succs("l1_dispatch")
    g.rm_node("l1_dispatch")
    rt = g.nodes["l1_router"]
    rt["outs"] = [tok, rt["outs"][1]]
    for ex in exps:
        g.e("l1_router", ex)
    return (["l1_router"] + exps,
            "Layer 1's router sends tokens straight to the experts on EP ranks 0-3 "
            "(EP 4) without a dispatch all-to-all.")


def d_tp_rank_missing(g):
    for n in ("qkv", "q", "k", "v", "scores", "softmax", "attn_out", "oproj"):
        g.rm_node("l1_%s_tp3" % n)
    return (["l1_norm1", "l1_attn_allreduce"],
            "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP "
            "rank 3 (GPUs 3,7) of TP 4 is missing.")


def d_no_allreduce_after_rowparallel(g):
    g.rm_node("dp0_l0_mlp_allreduce")
    g.e("dp0_l0_mlp_down_tp0", "dp0_l0_res2")
    g.e("dp0_l0_mlp_down_tp1", "dp0_l0_res2")
    return (["dp0_l0_mlp_down_tp0", "dp0_l0_mlp_down_tp1", "dp0_l0_res2"],
            "DP replica 0, layer 0: the row-parallel MLP down projections feed the "
            "residual add directly, without the TP all-reduce of their partial sums.")


def d_cross_gpu_no_comm(g):
    g.rm_edge("dp1_embedding", "dp1_l0_norm1")
    g.e("dp0_embedding", "dp1_l0_norm1")
    return (["dp0_embedding", "dp1_l0_norm1"],
            "dp0_embedding on GPUs 0-1 feeds dp1_l0_norm1 on GPUs 2-3 by a plain "
            "edge, with no communication node.")


def d_comm_wrong_shape(g):
    g.nodes["l2_attn_allreduce"]["shape"] = "box"
    return (["l2_attn_allreduce"],
            "Layer 2's attention All-Reduce is drawn as a box (computation) instead "
            "of an ellipse.")


def d_missing_gpu(g):
    g.nodes["l0_softmax_tp2"]["gpu"] = None
    return (["l0_softmax_tp2"],
            "Softmax of layer 0, TP rank 2 has no GPU line.")


def d_gpu_out_of_range(g):
    g.nodes["l2_ep1_expert5"]["gpu"] = [8, 9, 10, 11]
    return (["l2_ep1_expert5"],
            "Layer 2's expert 5 is placed on GPUs 8-11, beyond the 8 GPUs of "
            "EP 2 x TP 4 x PP 1 x DP 1 (ids 0-7).")


def d_stages_share_gpus(g):
    for nid in g.order:
        n = g.nodes[nid]
        if n["gpu"] and (n["cluster"] == "cluster_stage1" or nid == "output"):
            n["gpu"] = [i - 4 for i in n["gpu"]]
    g.nodes["pp_send_recv_0_1"]["gpu"] = list(range(0, 12))
    return (["l2_norm1", "l1_res2"],
            "Stage 1 is placed on GPUs 4-11, overlapping stage 0's GPUs 0-7 "
            "(GPUs 4-7 in both).")


def d_strategy_mismatch(g):
    g.label = strategy_label(g.cfg, dict(TP=4))
    return ([], "The graph label declares TP 4 but every tensor-parallel operator "
                "is drawn for TP ranks 0-1 only (TP 2).")


def d_missing_shapes(g):
    g.nodes["l2_oproj_tp1"]["ins"] = None
    g.nodes["l2_oproj_tp1"]["outs"] = None
    return (["l2_oproj_tp1"],
            "Output Projection of layer 2, TP rank 1 has no Input or Output line.")


def d_placeholder(g):
    c = g.cfg
    g.nodes["l2_router"]["ins"] = [S(batch="?", seq=c["seq"], hidden=c["hidden"])]
    return (["l2_router"],
            "Layer 2's MoE Router gives its input as [batch=?, ...], a placeholder "
            "instead of a value.")


def d_moe_before_attention(g):
    for a, b in [("pp_send_recv_0_1", "l2_norm1"), ("pp_send_recv_0_1", "l2_res1"),
                 ("l2_res1", "l2_norm2"), ("l2_res1", "l2_res2"),
                 ("l2_res2", "l3_norm1"), ("l2_res2", "l3_res1")]:
        g.rm_edge(a, b)
    for a, b in [("pp_send_recv_0_1", "l2_norm2"), ("pp_send_recv_0_1", "l2_res2"),
                 ("l2_res2", "l2_norm1"), ("l2_res2", "l2_res1"),
                 ("l2_res1", "l3_norm1"), ("l2_res1", "l3_res1")]:
        g.e(a, b)
    return (["l2_norm2", "l2_router", "l2_res2", "l2_norm1"],
            "Layer 2 runs its MoE block (norm2, router, experts, residual) before "
            "its attention block: the stage input goes to l2_norm2 and the MoE "
            "residual feeds l2_norm1.")


def d_missing_residual(g):
    g.rm_edge("l0_res2", "l1_res1")
    return (["l1_res1"],
            "Layer 1's attention residual add l1_res1 is fed only by the all-reduce; "
            "the skip edge from l0_res2 is missing.")


DEFECTS = [
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_1", d_dangling_input),
    ("dangling_output", "structure", "clean_1", d_dangling_output),
    ("attention_one_box", "attention", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_2", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_1", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2", d_no_gate),
    ("no_all_to_all", "expert", "clean_1", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3",
     d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_2", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_2", d_missing_shapes),
    ("placeholder", "annotation", "clean_1", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_2", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct MoE deployment, EP 4 x TP 2 x PP 2 x DP 1 on 16 GPUs: 4 "
               "layers (hidden 2048, 16 heads x 128), 8 experts top-2, two stages.",
    "clean_2": "Correct MoE deployment, EP 2 x TP 4 x PP 1 x DP 1 on 8 GPUs: 3 "
               "layers (hidden 4096, 32 heads x 128), 6 experts top-2.",
    "clean_3": "Correct dense deployment, TP 2 x PP 1 x DP 2 on 4 GPUs: 2 layers "
               "(hidden 1024, 8 heads x 128, SwiGLU MLP), both DP replicas drawn.",
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "out")
    os.makedirs(out, exist_ok=True)
    manifest = []
    for name in ("clean_1", "clean_2", "clean_3"):
        g = build(CFGS[name])
        with open(os.path.join(out, name + ".dot"), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None,
                             nodes=[], what=CLEAN_WHAT[name]))
    for kind, cat, base, fn in DEFECTS:
        g = build(CFGS[base])
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(out, fname), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what + " (base: %s.dot)" % base))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
