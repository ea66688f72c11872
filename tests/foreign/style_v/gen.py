#!/usr/bin/env python3
"""House style V: Megatron sequence-parallel deployment DAGs (clean + defective).

Run:  python3 gen.py      -> writes out/*.dot and out/manifest.json

House style
  * Under TP the row-parallel outputs are REDUCE-SCATTERED along the sequence and the
    column-parallel inputs are ALL-GATHERED back; LayerNorm and residual adds run on
    sequence shards [b, s/TP, h].
  * Labels: first line = operator, optional info lines, then `in=` / `out=` with dims
    joined by the x-sign (several inputs separated by ", "), then `dev N` (compute) or
    `devs a-b` / `devs a,b` (collectives, point-to-point).
  * Ids: b{L}_<op>_r{tp rank}; experts b{L}_exp{j}_ep{e}; data-parallel replicas are
    prefixed d{d}_. Layers (blocks) numbered from 0.
  * One cluster per pipeline stage, labelled "pp{p}: blocks {a}-{b}".
  * Strategy in the graph label: "TP=4 (sequence parallel), PP=2, DP=1, EP=1".
  * MoE (EP>1): Megatron-style, EP is carved out of the TP group (EP rank e lives on the
    GPU of TP rank e); experts come after the sequence all-gather: gate -> all-to-all
    dispatch -> experts -> all-to-all combine -> aggregation -> residual add (seq-shard).
Standard library only.
"""
import copy
import json
import os

X = "\u00d7"  # the multiplication sign used inside in= / out=


def sh(*dims):
    return X.join(str(d) for d in dims)


class Graph:
    def __init__(self, name, strategy):
        self.name = name
        self.strategy = strategy          # dict TP, PP, DP, EP
        self.nodes = {}                   # id -> dict
        self.order = []
        self.edges = []                   # [src, dst]
        self.clusters = {}                # cid -> label
        self.corder = []

    # ---- construction -------------------------------------------------
    def cluster(self, cid, label):
        if cid not in self.clusters:
            self.corder.append(cid)
        self.clusters[cid] = label

    def node(self, nid, shape, op, ins=None, out=None, dev=None, info=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, op=op, ins=list(ins) if ins else None, out=out,
                               dev=dev, info=list(info or []), cluster=cluster)
        self.order.append(nid)
        return nid

    def edge(self, a, b):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b])

    # ---- mutation helpers (defects) ----------------------------------
    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if nid not in e]

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if e != [a, b]]
        assert len(self.edges) == n - 1, (a, b)

    def rename(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        self.edges = [[new if x == old else x for x in e] for e in self.edges]

    def succ(self, nid):
        return [b for a, b in self.edges if a == nid]

    def pred(self, nid):
        return [a for a, b in self.edges if b == nid]

    def copy(self):
        return copy.deepcopy(self)

    # ---- output --------------------------------------------------------
    def strategy_label(self):
        s = self.strategy
        return "TP=%d (sequence parallel), PP=%d, DP=%d, EP=%d" % (s["TP"], s["PP"], s["DP"], s["EP"])

    def _node_line(self, nid, indent):
        n = self.nodes[nid]
        lines = [n["op"]] + n["info"]
        if n["ins"] is not None:
            lines.append("in=" + ", ".join(n["ins"]))
        if n["out"] is not None:
            lines.append("out=" + n["out"])
        if n["dev"] is not None:
            lines.append(n["dev"])
        label = "\\n".join(l.replace('"', '\\"') for l in lines)
        style = {
            "box": 'style="rounded,filled", fillcolor="#e8f0fe"',
            "ellipse": 'style=filled, fillcolor="#fff4d6"',
            "parallelogram": 'style=filled, fillcolor="#e6f4ea"',
        }.get(n["shape"], "")
        return '%s%s [shape=%s, %s, label="%s"];' % (indent, nid, n["shape"], style, label)

    def render(self):
        out = ["// house style V: Megatron sequence-parallel deployment DAG (one forward pass, inference)",
               'digraph %s {' % self.name,
               '  graph [label="%s", labelloc=t, rankdir=TB, fontsize=14, newrank=true];' % self.strategy_label(),
               '  node [fontname="Helvetica", fontsize=10];',
               '  edge [arrowsize=0.7];']
        for cid in self.corder:
            members = [n for n in self.order if self.nodes[n]["cluster"] == cid]
            out.append('  subgraph %s {' % cid)
            out.append('    label="%s"; style=dashed; color="#888888";' % self.clusters[cid])
            for n in members:
                out.append(self._node_line(n, "    "))
            out.append('  }')
        for n in self.order:
            if self.nodes[n]["cluster"] is None:
                out.append(self._node_line(n, "  "))
        for a, b in self.edges:
            out.append('  %s -> %s;' % (a, b))
        out.append('}')
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# builder
# ---------------------------------------------------------------------------
def build(cfg):
    TP, PP, DP, EP = cfg["TP"], cfg["PP"], cfg["DP"], cfg["EP"]
    L, h, H, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    b, s, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    moe = cfg.get("moe")
    assert H * hd == h and H % TP == 0 and s % TP == 0 and V % TP == 0 and L % PP == 0
    if moe:
        assert EP == TP, "house style: EP carved out of the TP group"
        assert moe["experts"] % EP == 0
    else:
        assert EP == 1
        assert cfg["ffn"] % TP == 0
    hl, ss = H // TP, s // TP
    g = Graph(cfg["graph"], dict(TP=TP, PP=PP, DP=DP, EP=EP))
    per = L // PP

    def gpu(d, p, r):
        return d * PP * TP + p * TP + r

    def devs(d, p):
        return "devs %d-%d" % (gpu(d, p, 0), gpu(d, p, TP - 1))

    full, shard = sh(b, s, h), sh(b, ss, h)
    heads_info = ["heads=%d of %d, head_dim=%d" % (hl, H, hd)]

    for d in range(DP):
        P = "d%d_" % d if DP > 1 else ""
        for p in range(PP):
            lab = "pp%d: blocks %d-%d" % (p, p * per, p * per + per - 1)
            if DP > 1:
                lab += " (replica dp%d)" % d
            g.cluster("cluster_%spp%d" % (P, p), lab)
        c0 = "cluster_%spp0" % P
        # --- input + vocab-parallel embedding, scattered along the sequence
        g.node(P + "input", "box", "Input (token ids)", [sh(b, s)], sh(b, s), "dev %d" % gpu(d, 0, 0), cluster=c0)
        g.node(P + "ids_bcast", "ellipse", "broadcast (token ids)", [sh(b, s)], sh(b, s), devs(d, 0), cluster=c0)
        g.edge(P + "input", P + "ids_bcast")
        g.node(P + "emb_rs", "ellipse", "reduce-scatter (seq)", [full], shard, devs(d, 0), cluster=c0)
        for r in range(TP):
            e = g.node(P + "emb_r%d" % r, "box", "Embedding (vocab-parallel)", [sh(b, s)], full, "dev %d" % gpu(d, 0, r),
                       info=["vocab rows %d-%d of %d" % (r * V // TP, (r + 1) * V // TP - 1, V)], cluster=c0)
            g.edge(P + "ids_bcast", e)
            g.edge(e, P + "emb_rs")
        stream = [P + "emb_rs"] * TP

        for p in range(PP):
            cl = "cluster_%spp%d" % (P, p)
            for Lr in range(p * per, p * per + per):
                B = "%sb%d_" % (P, Lr)
                dv = lambda r: "dev %d" % gpu(d, p, r)
                # ---------------- attention sublayer ----------------
                g.node(B + "ag1", "ellipse", "all-gather (seq)", [shard], full, devs(d, p), cluster=cl)
                g.node(B + "rs1", "ellipse", "reduce-scatter (seq)", [full], shard, devs(d, p), cluster=cl)
                for r in range(TP):
                    R = "_r%d" % r
                    g.node(B + "ln1" + R, "box", "LayerNorm (seq-shard)", [shard], shard, dv(r), cluster=cl)
                    g.edge(stream[r], B + "ln1" + R)
                    g.edge(B + "ln1" + R, B + "ag1")
                    for t, nm in (("q", "Q"), ("k", "K"), ("v", "V")):
                        g.node(B + t + R, "box", "%s proj (column-parallel)" % nm, [full], sh(b, s, hl, hd), dv(r),
                               info=heads_info, cluster=cl)
                        g.edge(B + "ag1", B + t + R)
                    g.node(B + "score" + R, "box", "attention score QK^T/sqrt(d)", [sh(b, s, hl, hd)] * 2,
                           sh(b, hl, s, s), dv(r), info=heads_info, cluster=cl)
                    g.edge(B + "q" + R, B + "score" + R)
                    g.edge(B + "k" + R, B + "score" + R)
                    g.node(B + "softmax" + R, "box", "softmax (causal mask)", [sh(b, hl, s, s)], sh(b, hl, s, s), dv(r),
                           cluster=cl)
                    g.edge(B + "score" + R, B + "softmax" + R)
                    g.node(B + "ctx" + R, "box", "weighted sum (probs x V)", [sh(b, hl, s, s), sh(b, s, hl, hd)],
                           sh(b, s, hl * hd), dv(r), cluster=cl)
                    g.edge(B + "softmax" + R, B + "ctx" + R)
                    g.edge(B + "v" + R, B + "ctx" + R)
                    g.node(B + "oproj" + R, "box", "out-proj (row-parallel)", [sh(b, s, hl * hd)], full, dv(r), cluster=cl)
                    g.edge(B + "ctx" + R, B + "oproj" + R)
                    g.edge(B + "oproj" + R, B + "rs1")
                    g.node(B + "add1" + R, "box", "residual add (seq-shard)", [shard, shard], shard, dv(r), cluster=cl)
                    g.edge(B + "rs1", B + "add1" + R)
                    g.edge(stream[r], B + "add1" + R)
                    g.node(B + "ln2" + R, "box", "LayerNorm (seq-shard)", [shard], shard, dv(r), cluster=cl)
                    g.edge(B + "add1" + R, B + "ln2" + R)
                # ---------------- MLP / MoE sublayer ----------------
                g.node(B + "ag2", "ellipse", "all-gather (seq)", [shard], full, devs(d, p), cluster=cl)
                for r in range(TP):
                    g.edge(B + "ln2_r%d" % r, B + "ag2")
                if not moe:
                    fl = cfg["ffn"] // TP
                    g.node(B + "rs2", "ellipse", "reduce-scatter (seq)", [full], shard, devs(d, p), cluster=cl)
                    for r in range(TP):
                        R = "_r%d" % r
                        g.node(B + "fc1" + R, "box", "MLP fc1 (column-parallel)", [full], sh(b, s, fl), dv(r), cluster=cl)
                        g.node(B + "gelu" + R, "box", "GeLU", [sh(b, s, fl)], sh(b, s, fl), dv(r), cluster=cl)
                        g.node(B + "fc2" + R, "box", "MLP fc2 (row-parallel)", [sh(b, s, fl)], full, dv(r), cluster=cl)
                        g.edge(B + "ag2", B + "fc1" + R)
                        g.edge(B + "fc1" + R, B + "gelu" + R)
                        g.edge(B + "gelu" + R, B + "fc2" + R)
                        g.edge(B + "fc2" + R, B + "rs2")
                    last = lambda r: B + "rs2"
                else:
                    E, k = moe["experts"], moe["topk"]
                    cap = b * s * k // E
                    assert cap * E == b * s * k
                    g.node(B + "a2a_dispatch", "ellipse", "all-to-all dispatch (EP)", [full], sh(cap, h), devs(d, p),
                           info=["each rank sends the (token, expert) pairs of its seq shard"], cluster=cl)
                    g.node(B + "a2a_combine", "ellipse", "all-to-all combine (EP)", [sh(cap, h)], sh(b, ss, k, h),
                           devs(d, p), cluster=cl)
                    for r in range(TP):
                        R = "_r%d" % r
                        g.node(B + "gate" + R, "parallelogram", "gate / router (top-%d of %d)" % (k, E), [full], full,
                               dv(r), cluster=cl)
                        g.edge(B + "ag2", B + "gate" + R)
                        g.edge(B + "gate" + R, B + "a2a_dispatch")
                    per_rank = E // EP
                    for j in range(E):
                        e = j // per_rank
                        x = g.node(B + "exp%d_ep%d" % (j, e), "box", "expert %d FFN (EP rank %d)" % (j, e), [sh(cap, h)],
                                   sh(cap, h), "dev %d" % gpu(d, p, e),
                                   info=["fc1 %d->%d, GeLU, fc2 %d->%d" % (h, moe["ffn"], moe["ffn"], h)], cluster=cl)
                        g.edge(B + "a2a_dispatch", x)
                        g.edge(x, B + "a2a_combine")
                    for r in range(TP):
                        R = "_r%d" % r
                        g.node(B + "agg" + R, "parallelogram", "aggregate top-%d (gate-weighted sum)" % k,
                               [sh(b, ss, k, h)], shard, dv(r), cluster=cl)
                        g.edge(B + "a2a_combine", B + "agg" + R)
                    last = lambda r: B + "agg_r%d" % r
                for r in range(TP):
                    R = "_r%d" % r
                    g.node(B + "add2" + R, "box", "residual add (seq-shard)", [shard, shard], shard, dv(r), cluster=cl)
                    g.edge(last(r), B + "add2" + R)
                    g.edge(B + "add1" + R, B + "add2" + R)
                    stream[r] = B + "add2" + R
            # --- pipeline transfer to the next stage (one p2p per TP rank)
            if p < PP - 1:
                for r in range(TP):
                    t = g.node("%spp%d_pp%d_r%d" % (P, p, p + 1, r), "ellipse", "send/recv (pp%d \u2192 pp%d)" % (p, p + 1),
                               [shard], shard, "devs %d,%d" % (gpu(d, p, r), gpu(d, p + 1, r)))
                    g.edge(stream[r], t)
                    stream[r] = t
        # --- final norm on the shard, all-gather, vocab-parallel LM head, all-gather logits
        pl = PP - 1
        cl = "cluster_%spp%d" % (P, pl)
        g.node(P + "fnorm_ag", "ellipse", "all-gather (seq)", [shard], full, devs(d, pl), cluster=cl)
        g.node(P + "logits_ag", "ellipse", "all-gather (vocab)", [sh(b, s, V // TP)], sh(b, s, V), devs(d, pl), cluster=cl)
        for r in range(TP):
            R = "_r%d" % r
            g.node(P + "fnorm" + R, "box", "final LayerNorm (seq-shard)", [shard], shard, "dev %d" % gpu(d, pl, r), cluster=cl)
            g.edge(stream[r], P + "fnorm" + R)
            g.edge(P + "fnorm" + R, P + "fnorm_ag")
            g.node(P + "lmhead" + R, "box", "LM head (vocab-parallel)", [full], sh(b, s, V // TP), "dev %d" % gpu(d, pl, r),
                   info=["vocab cols %d-%d of %d" % (r * V // TP, (r + 1) * V // TP - 1, V)], cluster=cl)
            g.edge(P + "fnorm_ag", P + "lmhead" + R)
            g.edge(P + "lmhead" + R, P + "logits_ag")
        g.node(P + "output", "box", "Output (logits)", [sh(b, s, V)], sh(b, s, V), "dev %d" % gpu(d, pl, 0), cluster=cl)
        g.edge(P + "logits_ag", P + "output")
    return g


CLEAN = {
    # dense, TP4 x PP2
    "clean_1": dict(graph="seqpar_dense", TP=4, PP=2, DP=1, EP=1, layers=4, hidden=2048, heads=16, head_dim=128,
                    ffn=6144, vocab=32000, batch=4, seq=512),
    # MoE, TP2 + EP2 (EP carved out of the TP group), PP1
    "clean_2": dict(graph="seqpar_moe", TP=2, PP=1, DP=1, EP=2, layers=2, hidden=1024, heads=8, head_dim=128,
                    vocab=32000, batch=2, seq=256, moe=dict(experts=8, topk=2, ffn=2816)),
    # dense, TP2 x PP2 x DP2 (both replicas drawn)
    "clean_3": dict(graph="seqpar_dense_dp", TP=2, PP=2, DP=2, EP=1, layers=4, hidden=4096, heads=32, head_dim=128,
                    ffn=11008, vocab=32000, batch=2, seq=1024),
}


# ---------------------------------------------------------------------------
# defects: each takes a copy of one clean graph and injects exactly one defect
# returns (nodes, what)
# ---------------------------------------------------------------------------
def _ranks(g, prefix):
    return sorted(n for n in g.nodes if n.startswith(prefix) and "_r" in n)


def d_cycle(g):  # clean_1
    g.edge("b2_ln1_r1", "pp0_pp1_r1")
    return (["pp0_pp1_r1", "b2_ln1_r1"],
            "The send/recv node pp0_pp1_r1 is drawn both ways (pp0_pp1_r1 -> b2_ln1_r1 and b2_ln1_r1 -> pp0_pp1_r1), a cycle.")


def d_dangling_input(g):  # clean_3
    g.rm_edge("d0_b1_ag1", "d0_b1_k_r1")
    return (["d0_b1_k_r1"], "K projection d0_b1_k_r1 has no incoming edge (its all-gather input edge is missing).")


def d_dangling_output(g):  # clean_2
    g.node("b1_router_probs_r0", "box", "router softmax (probs over 8 experts)", [sh(2, 256, 1024)], sh(2, 256, 8),
           "dev 0", cluster="cluster_pp0")
    g.edge("b1_ag2", "b1_router_probs_r0")
    return (["b1_router_probs_r0"], "Operator b1_router_probs_r0 computes router probabilities whose output goes nowhere.")


def d_attention_one_box(g):  # clean_1, block 1
    TP, ids = 4, []
    for r in range(TP):
        R = "_r%d" % r
        for t in ("q", "k", "v", "score", "softmax", "ctx"):
            g.rm_node("b1_" + t + R)
        n = g.node("b1_mha" + R, "box", "Multi-Head Attention", [sh(4, 512, 2048)], sh(4, 512, 512), "dev %d" % r,
                   info=["heads=4 of 16, head_dim=128"], cluster="cluster_pp0")
        g.edge("b1_ag1", n)
        g.edge(n, "b1_oproj" + R)
        ids.append(n)
    return ids, "Block 1 attention is drawn as one 'Multi-Head Attention' box per rank instead of Q/K/V, score, softmax, weighted sum."


def d_v_bypasses_softmax(g):  # clean_1, block 2
    ids = []
    for r in range(4):
        R = "_r%d" % r
        g.rm_edge("b2_softmax" + R, "b2_ctx" + R)
        g.edge("b2_softmax" + R, "b2_oproj" + R)
        g.nodes["b2_ctx" + R]["ins"] = [sh(4, 512, 4, 128)]
        g.nodes["b2_oproj" + R]["ins"] = [sh(4, 512, 512), sh(4, 4, 512, 512)]
        ids += ["b2_softmax" + R, "b2_ctx" + R]
    return ids, "In block 2 only V feeds the weighted sum; the softmax skips it and goes to the out-projection."


def d_v_into_score(g):  # clean_1, block 0
    ids = []
    for r in range(4):
        R = "_r%d" % r
        g.rm_node("b0_k" + R)
        g.edge("b0_v" + R, "b0_score" + R)
        ids += ["b0_score" + R, "b0_v" + R]
    return ids, "In block 0 V is wired into the attention score instead of K (no K projection feeds the score)."


def d_qkv_into_oproj(g):  # clean_1, block 3
    ids = []
    for r in range(4):
        R = "_r%d" % r
        for t in ("score", "softmax", "ctx"):
            g.rm_node("b3_" + t + R)
        for t in ("q", "k", "v"):
            g.edge("b3_" + t + R, "b3_oproj" + R)
        g.nodes["b3_oproj" + R]["ins"] = [sh(4, 512, 4, 128)] * 3
        ids.append("b3_oproj" + R)
    return ids, "In block 3 Q, K and V go straight into the out-projection; score, softmax and weighted sum are missing."


def d_head_arithmetic(g):  # clean_1, block 1: head_dim 96 -> 16 x 96 = 1536 != 2048
    ids = []
    for r in range(4):
        R = "_r%d" % r
        for t in ("q", "k", "v"):
            n = g.nodes["b1_" + t + R]
            n["info"] = ["heads=4 of 16, head_dim=96"]
            n["out"] = sh(4, 512, 4, 96)
            ids.append("b1_" + t + R)
        g.nodes["b1_score" + R]["info"] = ["heads=4 of 16, head_dim=96"]
        g.nodes["b1_score" + R]["ins"] = [sh(4, 512, 4, 96)] * 2
        g.nodes["b1_ctx" + R]["ins"] = [sh(4, 4, 512, 512), sh(4, 512, 4, 96)]
        g.nodes["b1_ctx" + R]["out"] = sh(4, 512, 384)
        g.nodes["b1_oproj" + R]["ins"] = [sh(4, 512, 384)]
    return ids, "Block 1 labels say 16 heads x head_dim 96 = 1536, but the hidden size is 2048."


def d_tp_heads(g):  # clean_1, block 2, TP rank 1 holds all 16 heads
    R = "_r1"
    for t in ("q", "k", "v"):
        g.nodes["b2_" + t + R]["info"] = ["heads=16 of 16, head_dim=128"]
        g.nodes["b2_" + t + R]["out"] = sh(4, 512, 16, 128)
    g.nodes["b2_score" + R]["info"] = ["heads=16 of 16, head_dim=128"]
    g.nodes["b2_score" + R]["ins"] = [sh(4, 512, 16, 128)] * 2
    g.nodes["b2_score" + R]["out"] = sh(4, 16, 512, 512)
    g.nodes["b2_softmax" + R]["ins"] = [sh(4, 16, 512, 512)]
    g.nodes["b2_softmax" + R]["out"] = sh(4, 16, 512, 512)
    g.nodes["b2_ctx" + R]["ins"] = [sh(4, 16, 512, 512), sh(4, 512, 16, 128)]
    g.nodes["b2_ctx" + R]["out"] = sh(4, 512, 2048)
    g.nodes["b2_oproj" + R]["ins"] = [sh(4, 512, 2048)]
    return (["b2_q_r1", "b2_k_r1", "b2_v_r1"],
            "TP rank 1 of block 2 projects all 16 heads (4x512x16x128) although a TP=4 rank holds 4 heads.")


def d_edge_shape_mismatch(g):  # clean_1
    g.nodes["b2_fc2_r1"]["ins"] = [sh(4, 512, 1408)]
    return (["b2_gelu_r1", "b2_fc2_r1"],
            "b2_fc2_r1 expects in=4x512x1408 but its producer b2_gelu_r1 outputs 4x512x1536 (factor 12/11, not a parallel degree).")


def d_shard_without_gather(g):  # clean_1
    g.rm_node("fnorm_ag")
    for r in range(4):
        g.edge("fnorm_r%d" % r, "lmhead_r%d" % r)
    return (["fnorm_r0", "fnorm_r1", "fnorm_r2", "fnorm_r3", "lmhead_r0", "lmhead_r1", "lmhead_r2", "lmhead_r3"],
            "The final-norm output is a sequence shard 4x128x2048 (512/TP4) that reaches the LM head (in=4x512x2048) without the all-gather.")


def d_stage_count(g):  # clean_1
    g.strategy["PP"] = 3
    return [], "The graph label declares PP=3 but only two stages (pp0, pp1) are drawn."


def d_stage_range_gap(g):  # clean_1: second stage renumbered to blocks 3-4, block 2 missing
    ren = {}
    for n in list(g.order):
        if n.startswith("b3_"):
            ren[n] = "b4_" + n[3:]
        elif n.startswith("b2_"):
            ren[n] = "b3_" + n[3:]
    for old in sorted(ren, reverse=True):  # b3 first, then b2
        g.rename(old, ren[old])
    g.clusters["cluster_pp1"] = "pp1: blocks 3-4"
    return (["cluster_pp1", "pp0_pp1_r0", "b3_ln1_r0"],
            "Stages claim blocks 0-1 and 3-4: block 2 is covered by no stage (gap in the layer ranges).")


def d_stage_missing_layer(g):  # clean_1: pp1 claims blocks 2-3 but block 3 is not drawn
    for n in list(g.order):
        if n.startswith("b3_"):
            g.rm_node(n)
    for r in range(4):
        g.edge("b2_add2_r%d" % r, "fnorm_r%d" % r)
    return (["cluster_pp1", "b2_add2_r0", "fnorm_r0"],
            "Stage pp1 claims blocks 2-3 but no operator of block 3 is drawn.")


def d_no_stage_transfer(g):  # clean_3, replica 1
    ids = []
    for r in range(2):
        t = "d1_pp0_pp1_r%d" % r
        src = g.pred(t)[0]
        dsts = g.succ(t)
        g.rm_node(t)
        for x in dsts:
            g.edge(src, x)
        ids += [src] + dsts
    return ids, "In replica dp1 stage pp0 feeds stage pp1 by plain edges (d1_b1_add2_r* -> d1_b2_*), with no send/recv node."


def d_experts_subset_ranks(g):  # clean_2, block 1: all 8 experts on EP rank 0
    ids = []
    for j in range(4, 8):
        old = "b1_exp%d_ep1" % j
        new = "b1_exp%d_ep0" % j
        g.rename(old, new)
        g.nodes[new]["op"] = "expert %d FFN (EP rank 0)" % j
        g.nodes[new]["dev"] = "dev 0"
        ids.append(new)
    return ids, "In block 1 all 8 experts are placed on EP rank 0 (dev 0); EP rank 1 holds none."


def d_experts_uneven(g):  # clean_2, block 1: expert 3 moved to EP rank 1 -> 3 + 5
    g.rename("b1_exp3_ep0", "b1_exp3_ep1")
    g.nodes["b1_exp3_ep1"]["op"] = "expert 3 FFN (EP rank 1)"
    g.nodes["b1_exp3_ep1"]["dev"] = "dev 1"
    return ["b1_exp3_ep1"], "In block 1 EP rank 0 holds 3 experts and EP rank 1 holds 5 (8/EP2 = 4 each expected)."


def d_experts_share_gpu(g):  # clean_2, block 0
    g.nodes["b0_exp5_ep1"]["dev"] = "dev 0"
    return ["b0_exp5_ep1"], "Expert 5 of EP rank 1 in block 0 is placed on dev 0, the GPU of EP rank 0."


def d_no_gate(g):  # clean_2, block 1
    for r in range(2):
        g.rm_node("b1_gate_r%d" % r)
    g.edge("b1_ag2", "b1_a2a_dispatch")
    return ["b1_a2a_dispatch"], "Block 1 has no gate/router: the all-gather feeds the expert dispatch directly."


def d_no_all_to_all(g):  # clean_2, block 0: gates feed their local experts directly
    g.rm_node("b0_a2a_dispatch")
    ids = []
    for r in range(2):
        g.nodes["b0_gate_r%d" % r]["out"] = sh(128, 1024)
        for j in range(4 * r, 4 * r + 4):
            g.edge("b0_gate_r%d" % r, "b0_exp%d_ep%d" % (j, r))
        ids.append("b0_gate_r%d" % r)
    return ids, "In block 0 (EP=2) tokens go from the gates straight to the experts, without the all-to-all dispatch."


def d_tp_rank_missing(g):  # clean_1, block 2: GeLU of rank 3 missing
    g.rm_node("b2_gelu_r3")
    g.edge("b2_fc1_r3", "b2_fc2_r3")
    return ["b2_fc1_r3", "b2_fc2_r3"], "The block 2 GeLU is drawn for TP ranks 0-2 but not for rank 3 (fc1 -> fc2 directly)."


def d_no_allreduce_after_rowparallel(g):  # clean_1, block 1
    g.rm_node("b1_rs1")
    for r in range(4):
        g.edge("b1_oproj_r%d" % r, "b1_add1_r%d" % r)
    return (["b1_oproj_r%d" % r for r in range(4)],
            "Block 1 row-parallel out-projection outputs (partial sums) go straight into the residual adds, with no reduce-scatter.")


def d_cross_gpu_no_comm(g):  # clean_3, replica 0, block 0
    g.rm_edge("d0_b0_add1_r1", "d0_b0_add2_r1")
    g.edge("d0_b0_add1_r0", "d0_b0_add2_r1")
    return (["d0_b0_add1_r0", "d0_b0_add2_r1"],
            "Edge d0_b0_add1_r0 (dev 0) -> d0_b0_add2_r1 (dev 1) crosses GPUs without a communication node.")


def d_comm_wrong_shape(g):  # clean_1
    g.nodes["b1_rs2"]["shape"] = "box"
    return ["b1_rs2"], "The reduce-scatter collective b1_rs2 is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g):  # clean_3
    g.nodes["d1_b2_softmax_r0"]["dev"] = None
    return ["d1_b2_softmax_r0"], "Compute node d1_b2_softmax_r0 has no GPU placement."


def d_gpu_out_of_range(g):  # clean_1 (8 GPUs: 0-7)
    g.nodes["lmhead_r3"]["dev"] = "dev 8"
    return ["lmhead_r3"], "lmhead_r3 is placed on dev 8 but TP4 x PP2 gives GPUs 0-7."


def d_stages_share_gpus(g):  # clean_1: stage pp1 moved from GPUs 4-7 to GPUs 2-5
    ids = []
    for nid in g.order:
        n = g.nodes[nid]
        if n["cluster"] == "cluster_pp1":
            if n["dev"] == "devs 4-7":
                n["dev"] = "devs 2-5"
            elif n["dev"] and n["dev"].startswith("dev "):
                n["dev"] = "dev %d" % (int(n["dev"][4:]) - 2)
            ids.append(nid)
    for r in range(4):
        g.nodes["pp0_pp1_r%d" % r]["dev"] = "devs %d,%d" % (r, r + 2)
    return (["b2_ln1_r0", "b2_ln1_r1", "b0_ln1_r2", "b0_ln1_r3"],
            "Stage pp1 is placed on GPUs 2-5, overlapping GPUs 2-3 of stage pp0 (GPUs 0-3).")


def d_strategy_mismatch(g):  # clean_2
    g.strategy["EP"] = 4
    return [], "The label declares EP=4 but experts are drawn on EP ranks 0-1 only (EP=2)."


def d_missing_shapes(g):  # clean_1
    g.nodes["b2_score_r0"]["ins"] = None
    g.nodes["b2_score_r0"]["out"] = None
    return ["b2_score_r0"], "Compute node b2_score_r0 carries no in=/out= shapes."


def d_placeholder(g):  # clean_3
    g.nodes["d0_b3_fc1_r1"]["ins"] = [sh("?", 1024, 4096)]
    g.nodes["d0_b3_fc1_r1"]["out"] = sh("?", 1024, 5504)
    return ["d0_b3_fc1_r1"], "d0_b3_fc1_r1 has a '?' placeholder batch dimension in its shapes."


def d_moe_before_attention(g):  # clean_2, block 1: MoE sublayer first, then attention
    for r in range(2):
        R = "_r%d" % r
        g.rm_edge("b0_add2" + R, "b1_ln1" + R)
        g.rm_edge("b0_add2" + R, "b1_add1" + R)
        g.rm_edge("b1_add1" + R, "b1_ln2" + R)
        g.rm_edge("b1_add1" + R, "b1_add2" + R)
        g.rm_edge("b1_add2" + R, "fnorm" + R)
        g.edge("b0_add2" + R, "b1_ln2" + R)
        g.edge("b0_add2" + R, "b1_add2" + R)
        g.edge("b1_add2" + R, "b1_ln1" + R)
        g.edge("b1_add2" + R, "b1_add1" + R)
        g.edge("b1_add1" + R, "fnorm" + R)
    return (["b1_ln2_r0", "b1_ln2_r1", "b1_ln1_r0", "b1_ln1_r1"],
            "In block 1 the MoE sublayer (ln2 .. experts .. add2) is wired before the attention sublayer.")


def d_missing_residual(g):  # clean_3, replica 0, block 1 attention residual
    ids = []
    for r in range(2):
        g.rm_edge("d0_b0_add2_r%d" % r, "d0_b1_add1_r%d" % r)
        ids.append("d0_b1_add1_r%d" % r)
    return ids, "The block 1 attention residual adds of replica dp0 are fed only by the reduce-scatter; the skip edge is missing."


DEFECTS = [
    # kind, base, category, fn
    ("cycle", "clean_1", "structure", d_cycle),
    ("dangling_input", "clean_3", "structure", d_dangling_input),
    ("dangling_output", "clean_2", "structure", d_dangling_output),
    ("attention_one_box", "clean_1", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "clean_1", "attention", d_v_bypasses_softmax),
    ("v_into_score", "clean_1", "attention", d_v_into_score),
    ("qkv_into_oproj", "clean_1", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", "attention", d_head_arithmetic),
    ("tp_heads", "clean_1", "attention", d_tp_heads),
    ("edge_shape_mismatch", "clean_1", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_1", "shape", d_shard_without_gather),
    ("stage_count", "clean_1", "pipeline", d_stage_count),
    ("stage_range_gap", "clean_1", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "clean_1", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "clean_3", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_2", "expert", d_experts_subset_ranks),
    ("experts_uneven", "clean_2", "expert", d_experts_uneven),
    ("experts_share_gpu", "clean_2", "expert", d_experts_share_gpu),
    ("no_gate", "clean_2", "expert", d_no_gate),
    ("no_all_to_all", "clean_2", "expert", d_no_all_to_all),
    ("tp_rank_missing", "clean_1", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_1", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_3", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", "communication", d_comm_wrong_shape),
    ("missing_gpu", "clean_3", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_1", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "clean_2", "strategy", d_strategy_mismatch),
    ("missing_shapes", "clean_1", "annotation", d_missing_shapes),
    ("placeholder", "clean_3", "annotation", d_placeholder),
    ("moe_before_attention", "clean_2", "structure", d_moe_before_attention),
    ("missing_residual", "clean_3", "structure", d_missing_residual),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "out")
    os.makedirs(out, exist_ok=True)
    manifest = []
    base = {}
    for name, cfg in CLEAN.items():
        g = build(cfg)
        base[name] = g
        with open(os.path.join(out, name + ".dot"), "w", encoding="utf-8") as f:
            f.write(g.render())
        s = g.strategy
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what="Clean %s DAG, %s, %d blocks." % ("MoE" if cfg.get("moe") else "dense",
                                                                   g.strategy_label(), cfg["layers"])))
    for kind, b, cat, fn in DEFECTS:
        g = base[b].copy()
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(out, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes, what=what + " (base: %s)" % b))
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
