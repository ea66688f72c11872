#!/usr/bin/env python3
"""House style Q: decode-step deployment DAGs (one new token per sequence, KV cache).

Writes into ./out (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot   fully correct decode-step DAGs
  defect_<kind>.dot                        one clean DAG with exactly one injected defect
  manifest.json                            what each file is

Layout of every file (stdlib only, no Graphviz needed to generate):
  GPU of (dp replica d, pipeline stage s, EP rank e, TP rank t) =
      ((d*PP + s)*EP + e)*TP + t            -> total GPUs = EP*TP*PP*DP
  Attention: each EP rank's TP group runs tensor-parallel attention for its own slice of the
  batch (B/EP sequences); a TP rank holds heads/TP query heads and kv_heads/TP KV heads.
  MoE: EP rank e owns experts e*E/EP .. (e+1)*E/EP-1, each expert tensor-parallel over the
  TP ranks of the same group (shard t on GPU (e,t)). Tokens go through an all-to-all dispatch /
  combine per TP rank t (group = GPUs (0..EP-1, t)); the weighted sum of the expert shards is a
  partial sum, all-reduced over the TP group before the residual add.
"""
import copy
import json
import os
import re
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# ----------------------------------------------------------------------------- model
class Graph:
    def __init__(self, comment):
        self.comment = comment
        self.nodes = OrderedDict()       # key -> dict
        self.edges = []                  # [src_key, dst_key, attrs]
        self.clusters = OrderedDict()    # cluster key -> label

    # node: op (first label line), ins (list of shapes), out (shape), ranks (list of ints),
    # shape (DOT shape), cluster (key or None), base (id without rank suffix), suffix (bool)
    def add(self, key, op, ins, out, ranks, shape="box", cluster=None, base=None, suffix=True):
        assert key not in self.nodes, key
        self.nodes[key] = dict(op=op, ins=[list(s) for s in ins], out=list(out) if out else None,
                               ranks=list(ranks), shape=shape, cluster=cluster,
                               base=base if base is not None else key, suffix=suffix,
                               no_ranks=False, no_shapes=False)
        return key

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, dict(attrs)])

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, ("edge not found", a, b)

    def remove_node(self, key):
        del self.nodes[key]
        self.edges = [e for e in self.edges if e[0] != key and e[1] != key]

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def node_id(self, key):
        n = self.nodes[key]
        if n.get("fixed_id"):
            return n["fixed_id"]
        if not n["suffix"]:
            return n["base"]
        return n["base"] + "_r" + "_".join(str(r) for r in sorted(n["ranks"]))

    def freeze_ids(self):
        """Keep every node id as built, whatever its placement becomes afterwards."""
        for k, n in self.nodes.items():
            n["fixed_id"] = self.node_id(k)

    def remap_gpus(self, mapping):
        self.freeze_ids()
        for n in self.nodes.values():
            n["ranks"] = [mapping.get(r, r) for r in n["ranks"]]

    # ------------------------------------------------------------------ rendering
    def render(self):
        ids = {k: self.node_id(k) for k in self.nodes}
        assert len(set(ids.values())) == len(ids), "duplicate node ids"
        out = [self.comment, "digraph decode_step {",
               '  rankdir=TB;',
               '  node [fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=9];', ""]

        def node_line(k, indent):
            n = self.nodes[k]
            lines = [n["op"]]
            if not n["no_shapes"]:
                if len(n["ins"]) == 1:
                    lines.append("Input: " + fmt_shape(n["ins"][0]))
                else:
                    for i, s in enumerate(n["ins"], 1):
                        lines.append("Input%d: %s" % (i, fmt_shape(s)))
                if n["out"] is not None:
                    lines.append("Output: " + fmt_shape(n["out"]))
            if not n["no_ranks"]:
                lines.append(fmt_ranks(n["ranks"]))
            label = "\\n".join(l.replace('"', '\\"') for l in lines)
            return '%s%s [shape=%s, label="%s"];' % (indent, ids[k], n["shape"], label)

        for ck, clabel in self.clusters.items():
            out.append("  subgraph cluster_%s {" % ck)
            out.append('    label="%s";' % clabel)
            out.append('    style=rounded;')
            for k, n in self.nodes.items():
                if n["cluster"] == ck:
                    out.append(node_line(k, "    "))
            out.append("  }")
            out.append("")
        for k, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(node_line(k, "  "))
        out.append("")
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join("%s=%s" % kv for kv in attrs.items()) + "]"
            out.append("  %s -> %s%s;" % (ids[a], ids[b], at))
        out.append("}")
        return "\n".join(out) + "\n"


def fmt_shape(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


def fmt_ranks(ranks):
    rs = sorted(ranks)
    if len(rs) == 1:
        return "Rank %d" % rs[0]
    parts, i = [], 0
    while i < len(rs):
        j = i
        while j + 1 < len(rs) and rs[j + 1] == rs[j] + 1:
            j += 1
        parts.append(str(rs[i]) if i == j else "%d-%d" % (rs[i], rs[j]))
        i = j + 1
    return "Ranks " + ",".join(parts)


# ----------------------------------------------------------------------------- builder
def build(cfg):
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    NL, L0 = cfg["layers"], cfg["first_layer"]
    H, NH, NKV, HD = cfg["hidden"], cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    E, K, B, S, V = cfg["experts"], cfg["topk"], cfg["batch"], cfg["kv_len"], cfg["vocab"]
    assert NH * HD == H and NH % TP == 0 and NKV % TP == 0 and NH % NKV == 0
    assert E % EP == 0 and B % EP == 0 and NL % PP == 0 and V % TP == 0 and (B * K) % E == 0
    b = B // EP                 # sequences per EP group (attention batch slice)
    c = B * K // E              # tokens per expert (balanced routing capacity)
    hq, hkv = NH // TP, NKV // TP
    per_stage = NL // PP
    epr = E // EP               # experts per EP rank

    comment = "// %d EP x %d TP x %d PP" % (EP, TP, PP)
    if DP > 1:
        comment += " x %d DP" % DP
    comment += ", decode"
    g = Graph(comment)

    def gpu(d, s, e, t):
        return ((d * PP + s) * EP + e) * TP + t

    def stage_layers(s):
        return list(range(L0 + s * per_stage, L0 + (s + 1) * per_stage))

    first_gpus = [gpu(d, 0, e, t) for d in range(DP) for e in range(EP) for t in range(TP)]
    last_gpus = [gpu(d, PP - 1, e, t) for d in range(DP) for e in range(EP) for t in range(TP)]

    g.add("model_input", "input (token ids)", [[B * DP, 1]], [B * DP, 1], [0], suffix=False)
    g.add("token_scatter", "token_scatter", [[B * DP, 1]], [b, 1], first_gpus,
          shape="ellipse", base="token_scatter")
    g.edge("model_input", "token_scatter")
    g.add("batch_gather", "batch_gather", [[b, 1, V]], [B * DP, 1, V], last_gpus,
          shape="ellipse", base="batch_gather")
    g.add("model_output", "output (logits)", [[B * DP, 1, V]], [B * DP, 1, V],
          [gpu(0, PP - 1, 0, 0)], suffix=False)
    g.edge("batch_gather", "model_output")

    for d in range(DP):
        stream = {}
        for s in range(PP):
            lay = stage_layers(s)
            ck = "stage%d" % s if DP == 1 else "dp%d_stage%d" % (d, s)
            lab = "Stage %d (L%d-L%d)" % (s, lay[0], lay[-1])
            if DP > 1:
                lab += ", DP replica %d" % d
            g.clusters[ck] = lab
            gp = [(e, t, gpu(d, s, e, t)) for e in range(EP) for t in range(TP)]
            if s == 0:
                for e, t, q in gp:
                    k = g.add("embedding_r%d" % q, "embedding", [[b, 1]], [b, 1, H], [q],
                              cluster=ck, base="embedding")
                    g.edge("token_scatter", k)
                    stream[(e, t)] = k
            else:
                for e, t, q in gp:
                    p = gpu(d, s - 1, e, t)
                    k = g.add("pp_%d_%d" % (p, q), "pp_send_recv (Stage %d -> Stage %d)" % (s - 1, s),
                              [[b, 1, H]], [b, 1, H], [p, q], shape="ellipse", base="pp_send_recv")
                    g.edge(stream[(e, t)], k)
                    stream[(e, t)] = k
            for L in lay:
                build_layer(g, cfg, L, ck, stream, [(e, t, gpu(d, s, e, t)) for e in range(EP) for t in range(TP)],
                            b, c, hq, hkv)
            if s == PP - 1:
                for e in range(EP):
                    grp = [gpu(d, s, e, t) for t in range(TP)]
                    ag = g.add("logits_ag_%d" % grp[0], "logits_allgather", [[b, 1, V // TP]], [b, 1, V],
                               grp, shape="ellipse", cluster=ck, base="logits_allgather")
                    for t in range(TP):
                        q = gpu(d, s, e, t)
                        fn = g.add("final_norm_r%d" % q, "final_norm", [[b, 1, H]], [b, 1, H], [q],
                                   cluster=ck, base="final_norm")
                        lm = g.add("lm_head_r%d" % q, "lm_head", [[b, 1, H]], [b, 1, V // TP], [q],
                                   cluster=ck, base="lm_head")
                        g.edge(stream[(e, t)], fn)
                        g.edge(fn, lm)
                        g.edge(lm, ag)
                    g.edge(ag, "batch_gather")
    return g


def build_layer(g, cfg, L, ck, stream, gp, b, c, hq, hkv):
    H, HD, E, K, S = cfg["hidden"], cfg["head_dim"], cfg["experts"], cfg["topk"], cfg["kv_len"]
    EP, TP = cfg["EP"], cfg["TP"]
    epr = E // EP
    gpu_of = {(e, t): q for e, t, q in gp}
    p = "l%d_" % L

    def n(op, q, label, ins, out, shape="box"):
        return g.add(p + op + "_r%d" % q, label, ins, out, [q], shape=shape, cluster=ck, base=p + op)

    hid = [b, 1, H]
    Q = [b, 1, hq, HD]
    KV1 = [b, 1, hkv, HD]
    KVS = [b, S, hkv, HD]
    SC = [b, hq, 1, S]
    attn_res, post_norm, router = {}, {}, {}
    # ---- attention, per GPU
    for e, t, q in gp:
        x = stream[(e, t)]
        nrm = n("input_layernorm", q, "input_layernorm", [hid], hid)
        qp = n("q_proj", q, "q_proj", [hid], Q)
        kp = n("k_proj", q, "k_proj", [hid], KV1)
        vp = n("v_proj", q, "v_proj", [hid], KV1)
        ak = n("kv_cache_append_k", q, "kv_cache_append (k)", [KV1], KVS)
        av = n("kv_cache_append_v", q, "kv_cache_append (v)", [KV1], KVS)
        rk = n("kv_cache_read_k", q, "kv_cache_read (k)", [KVS], KVS)
        rv = n("kv_cache_read_v", q, "kv_cache_read (v)", [KVS], KVS)
        sc = n("attn_scores", q, "attn_scores", [Q, KVS], SC)
        sm = n("attn_softmax", q, "attn_softmax", [SC], SC)
        cx = n("attn_context", q, "attn_context", [SC, KVS], Q)
        op = n("o_proj", q, "o_proj", [Q], hid)
        for a, bb in [(x, nrm), (nrm, qp), (nrm, kp), (nrm, vp), (kp, ak), (vp, av), (ak, rk), (av, rv),
                      (qp, sc), (rk, sc), (sc, sm), (sm, cx), (rv, cx), (cx, op)]:
            g.edge(a, bb)
    for e in range(EP):
        grp = [gpu_of[(e, t)] for t in range(TP)]
        ar = g.add(p + "tp_allreduce_g%d" % grp[0], "tp_allreduce", [hid], hid, grp, shape="ellipse",
                   cluster=ck, base=p + "tp_allreduce")
        for t in range(TP):
            q = gpu_of[(e, t)]
            g.edge(p + "o_proj_r%d" % q, ar)
            ra = n("attn_residual_add", q, "residual_add", [hid, hid], hid)
            g.edge(ar, ra)
            g.edge(stream[(e, t)], ra)
            attn_res[(e, t)] = ra
            pn = n("post_attention_layernorm", q, "post_attention_layernorm", [hid], hid)
            g.edge(ra, pn)
            post_norm[(e, t)] = pn
            rt = n("router", q, "router", [hid], [b, K], shape="parallelogram")
            g.edge(pn, rt)
            router[(e, t)] = rt
    # ---- MoE: dispatch / experts / combine per TP rank t (EP group = GPUs (*, t))
    for t in range(TP):
        plane = [gpu_of[(e, t)] for e in range(EP)]
        dk = g.add(p + "ep_dispatch_g%d" % plane[0], "ep_dispatch", [hid, [b, K]], [c, H], plane,
                   shape="ellipse", cluster=ck, base=p + "ep_dispatch")
        ck_ = g.add(p + "ep_combine_g%d" % plane[0], "ep_combine", [[c, H]], [b, K, H], plane,
                    shape="ellipse", cluster=ck, base=p + "ep_combine")
        for e in range(EP):
            q = gpu_of[(e, t)]
            g.edge(post_norm[(e, t)], dk)
            g.edge(router[(e, t)], dk, style="dashed")
            for j in range(e * epr, (e + 1) * epr):
                xk = g.add(p + "expert%d_r%d" % (j, q), "expert[%d] (EP rank %d, TP rank %d)" % (j, e, t),
                           [[c, H]], [c, H], [q], cluster=ck, base=p + "expert%d" % j)
                g.edge(dk, xk)
                g.edge(xk, ck_)
        for e in range(EP):
            q = gpu_of[(e, t)]
            ws = n("expert_weighted_sum", q, "expert_weighted_sum", [[b, K, H], [b, K]], hid,
                   shape="parallelogram")
            g.edge(ck_, ws)
            g.edge(router[(e, t)], ws)
    for e in range(EP):
        grp = [gpu_of[(e, t)] for t in range(TP)]
        ar = g.add(p + "moe_tp_allreduce_g%d" % grp[0], "tp_allreduce", [hid], hid, grp, shape="ellipse",
                   cluster=ck, base=p + "moe_tp_allreduce")
        for t in range(TP):
            q = gpu_of[(e, t)]
            g.edge(p + "expert_weighted_sum_r%d" % q, ar)
            mr = n("moe_residual_add", q, "residual_add", [hid, hid], hid)
            g.edge(ar, mr)
            g.edge(attn_res[(e, t)], mr)
            stream[(e, t)] = mr


# ----------------------------------------------------------------------------- configs
CFG = {
    # MoE, EP2 x TP2 x PP2, multi-head attention, layers 0-3 (2 per stage), 8 GPUs
    "clean_1": dict(EP=2, TP=2, PP=2, DP=1, layers=4, first_layer=0, hidden=2048, heads=16, kv_heads=16,
                    head_dim=128, experts=4, topk=2, batch=16, kv_len=4097, vocab=32000),
    # MoE, EP2 x TP4 x PP1, grouped-query attention (32 q heads, 8 kv heads), layers 1-2, 8 GPUs
    "clean_2": dict(EP=2, TP=4, PP=1, DP=1, layers=2, first_layer=1, hidden=4096, heads=32, kv_heads=8,
                    head_dim=128, experts=8, topk=2, batch=16, kv_len=2049, vocab=32000),
    # MoE, EP2 x TP2 x PP1 x DP2, multi-head attention, layers 0-1, 8 GPUs (two replicas of 4)
    "clean_3": dict(EP=2, TP=2, PP=1, DP=2, layers=2, first_layer=0, hidden=3072, heads=24, kv_heads=24,
                    head_dim=128, experts=4, topk=2, batch=16, kv_len=1025, vocab=32000),
}


def clean(name):
    return build(CFG[name])


def ids(g, keys):
    return [g.node_id(k) for k in keys]


def keys_where(g, pred):
    return [k for k, n in g.nodes.items() if pred(k, n)]


# ----------------------------------------------------------------------------- defects
# Each returns (graph, node_keys_or_ids, what). Node keys are converted to rendered ids.
DEFECTS = []


def defect(kind, category, base):
    def deco(f):
        DEFECTS.append((kind, category, base, f))
        return f
    return deco


@defect("cycle", "structure", "clean_1")
def d_cycle():
    g = clean("clean_1")
    g.edge("l1_attn_residual_add_r1", "l1_tp_allreduce_g0")
    return g, ["l1_tp_allreduce_g0", "l1_attn_residual_add_r1"], \
        "The layer-1 attention tp_allreduce (ranks 0-1) is drawn both ways with residual_add on rank 1 " \
        "(allreduce -> residual_add -> allreduce), a cycle."


@defect("dangling_input", "structure", "clean_1")
def d_dangling_input():
    g = clean("clean_1")
    g.remove_edge("l0_input_layernorm_r1", "l0_k_proj_r1")
    return g, ["l0_k_proj_r1"], "k_proj of layer 0 on rank 1 has no incoming edge (its input_layernorm edge is missing)."


@defect("dangling_output", "structure", "clean_1")
def d_dangling_output():
    g = clean("clean_1")
    src = g.nodes["l2_kv_cache_read_v_r5"]
    g.add("l2_kv_cache_read_v2_r5", "kv_cache_read (v)", src["ins"], src["out"], [5], cluster="stage1",
          base="l2_kv_cache_read_v2")
    g.edge("l2_kv_cache_append_v_r5", "l2_kv_cache_read_v2_r5")
    return g, ["l2_kv_cache_read_v2_r5"], \
        "A second kv_cache_read (v) of layer 2 on rank 5 reads the cache but its output goes nowhere."


ATT_OPS = ["q_proj", "k_proj", "v_proj", "kv_cache_append_k", "kv_cache_append_v", "kv_cache_read_k",
           "kv_cache_read_v", "attn_scores", "attn_softmax", "attn_context", "o_proj"]


@defect("attention_one_box", "attention", "clean_1")
def d_attention_one_box():
    g = clean("clean_1")
    cfg = CFG["clean_1"]
    hid = [cfg["batch"] // cfg["EP"], 1, cfg["hidden"]]
    boxes = []
    for q in range(4):
        for op in ATT_OPS:
            g.remove_node("l1_%s_r%d" % (op, q))
        k = g.add("l1_attention_r%d" % q, "Multi-Head Attention", [hid], hid, [q], cluster="stage0",
                  base="l1_attention")
        g.edge("l1_input_layernorm_r%d" % q, k)
        g.edge(k, "l1_tp_allreduce_g%d" % (0 if q < 2 else 2))
        boxes.append(k)
    return g, boxes, "Layer 1 attention is drawn as one 'Multi-Head Attention' box per rank instead of " \
                     "q/k/v projections, KV cache, scores, softmax, context and o_proj."


@defect("v_bypasses_softmax", "attention", "clean_1")
def d_v_bypasses_softmax():
    g = clean("clean_1")
    g.remove_edge("l2_attn_softmax_r4", "l2_attn_context_r4")
    g.edge("l2_attn_scores_r4", "l2_attn_context_r4")
    g.edge("l2_attn_softmax_r4", "l2_o_proj_r4")
    op = g.nodes["l2_o_proj_r4"]
    op["ins"] = [op["ins"][0], g.nodes["l2_attn_softmax_r4"]["out"]]
    return g, ["l2_attn_context_r4", "l2_attn_softmax_r4", "l2_kv_cache_read_v_r4", "l2_o_proj_r4"], \
        "On rank 4 in layer 2, attn_context takes V and the raw scores but not the softmax, which goes to o_proj instead."


@defect("v_into_score", "attention", "clean_1")
def d_v_into_score():
    g = clean("clean_1")
    nodes = []
    for q in range(4, 8):
        for op in ["k_proj", "kv_cache_append_k", "kv_cache_read_k"]:
            g.remove_node("l3_%s_r%d" % (op, q))
        g.edge("l3_kv_cache_read_v_r%d" % q, "l3_attn_scores_r%d" % q)
        nodes += ["l3_attn_scores_r%d" % q, "l3_kv_cache_read_v_r%d" % q]
    return g, nodes, "In layer 3 the score (QK^T) takes V from kv_cache_read (v) in place of K (the K path is not drawn)."


@defect("qkv_into_oproj", "attention", "clean_1")
def d_qkv_into_oproj():
    g = clean("clean_1")
    nodes = []
    for q in range(4):
        ins = [g.nodes["l0_q_proj_r%d" % q]["out"], g.nodes["l0_kv_cache_read_k_r%d" % q]["out"],
               g.nodes["l0_kv_cache_read_v_r%d" % q]["out"]]
        for op in ["attn_scores", "attn_softmax", "attn_context"]:
            g.remove_node("l0_%s_r%d" % (op, q))
        for src in ["q_proj", "kv_cache_read_k", "kv_cache_read_v"]:
            g.edge("l0_%s_r%d" % (src, q), "l0_o_proj_r%d" % q)
        g.nodes["l0_o_proj_r%d" % q]["ins"] = ins
        nodes += ["l0_o_proj_r%d" % q, "l0_q_proj_r%d" % q, "l0_kv_cache_read_k_r%d" % q,
                  "l0_kv_cache_read_v_r%d" % q]
    return g, nodes, "In layer 0, Q, K and V go straight into o_proj: no attn_scores, softmax or context."


@defect("head_arithmetic", "attention", "clean_1")
def d_head_arithmetic():
    g = clean("clean_1")
    nodes = []
    for k, n in g.nodes.items():
        if not k.startswith("l1_"):
            continue
        changed = False
        for s in n["ins"] + ([n["out"]] if n["out"] else []):
            if len(s) == 4 and s[3] == 128:
                s[3] = 64
                changed = True
        if changed:
            nodes.append(k)
    return g, nodes, "Layer 1 labels use head_dim 64: 16 heads x 64 = 1024 != hidden 2048 (8 heads x 64 per TP2 rank)."


@defect("tp_heads", "attention", "clean_2")
def d_tp_heads():
    g = clean("clean_2")
    q = 1
    NH = CFG["clean_2"]["heads"]
    g.nodes["l1_q_proj_r%d" % q]["out"][2] = NH
    g.nodes["l1_attn_scores_r%d" % q]["ins"][0][2] = NH
    g.nodes["l1_attn_scores_r%d" % q]["out"][1] = NH
    for s in g.nodes["l1_attn_softmax_r%d" % q]["ins"] + [g.nodes["l1_attn_softmax_r%d" % q]["out"]]:
        s[1] = NH
    g.nodes["l1_attn_context_r%d" % q]["ins"][0][1] = NH
    g.nodes["l1_attn_context_r%d" % q]["out"][2] = NH
    g.nodes["l1_o_proj_r%d" % q]["ins"][0][2] = NH
    return g, ["l1_q_proj_r1", "l1_attn_scores_r1", "l1_attn_softmax_r1", "l1_attn_context_r1", "l1_o_proj_r1"], \
        "TP rank 1 (GPU 1) of layer 1 projects all 32 query heads instead of 32/TP4 = 8 (and carries them to o_proj)."


@defect("edge_shape_mismatch", "shape", "clean_3")
def d_edge_shape_mismatch():
    g = clean("clean_3")
    g.nodes["l1_router_r5"]["ins"][0][2] = 2304
    return g, ["l1_router_r5", "l1_post_attention_layernorm_r5"], \
        "router of layer 1 on rank 5 declares Input [8, 1, 2304] while its producer outputs [8, 1, 3072] (factor 4/3)."


@defect("shard_without_gather", "shape", "clean_2")
def d_shard_without_gather():
    g = clean("clean_2")
    H, TP = CFG["clean_2"]["hidden"], CFG["clean_2"]["TP"]
    ar = g.nodes["l2_tp_allreduce_g4"]
    ar["op"] = "tp_reduce_scatter"
    ar["base"] = "l2_tp_reduce_scatter"
    ar["out"][2] = H // TP
    nodes = ["l2_tp_allreduce_g4"]
    for q in range(4, 8):
        g.nodes["l2_attn_residual_add_r%d" % q]["ins"][0][2] = H // TP
        nodes.append("l2_attn_residual_add_r%d" % q)
    return g, nodes, "In layer 2 (ranks 4-7) the o_proj partial sums are reduce-scattered to [8, 1, 1024] = 4096/TP4 " \
                     "shards that reach the full-size residual_add with no all-gather."


@defect("stage_count", "pipeline", "clean_1")
def d_stage_count():
    g = clean("clean_1")
    g.comment = "// 2 EP x 2 TP x 3 PP, decode"
    return g, [], "The strategy line declares 3 PP but two pipeline stages are drawn."


@defect("stage_range_gap", "pipeline", "clean_1")
def d_stage_range_gap():
    g = clean("clean_1")
    g.clusters["stage1"] = "Stage 1 (L3-L3)"
    return g, [], "Stage ranges L0-L1 and L3-L3 leave layer 2 uncovered (layer 2 is drawn inside stage 1)."


@defect("stage_missing_layer", "pipeline", "clean_1")
def d_stage_missing_layer():
    g = clean("clean_1")
    for k in [k for k in g.nodes if k.startswith("l3_")]:
        g.remove_node(k)
    for q in range(4, 8):
        g.edge("l2_moe_residual_add_r%d" % q, "final_norm_r%d" % q)
    return g, [], "Stage 1 claims L2-L3 but no operator of layer 3 is drawn (layer 2 feeds final_norm)."


@defect("no_stage_transfer", "pipeline", "clean_1")
def d_no_stage_transfer():
    g = clean("clean_1")
    nodes = []
    for p in range(4):
        q = p + 4
        g.remove_node("pp_%d_%d" % (p, q))
        g.edge("l1_moe_residual_add_r%d" % p, "l2_input_layernorm_r%d" % q)
        g.edge("l1_moe_residual_add_r%d" % p, "l2_attn_residual_add_r%d" % q)
        nodes += ["l1_moe_residual_add_r%d" % p, "l2_input_layernorm_r%d" % q, "l2_attn_residual_add_r%d" % q]
    return g, nodes, "Stage 0 (GPUs 0-3) is joined to stage 1 (GPUs 4-7) by plain edges, with no send/recv node."


def move_expert(g, L, j, q_old, q_new, ep_label=None, cluster=None):
    """Move expert j of layer L from GPU q_old to q_new, keeping its dispatch/combine edges."""
    old = "l%d_expert%d_r%d" % (L, j, q_old)
    n = g.nodes[old]
    op = n["op"]
    if ep_label is not None:
        op = re.sub(r"EP rank \d+", "EP rank %d" % ep_label, op)
    new = "l%d_expert%d_r%d" % (L, j, q_new)
    g.add(new, op, n["ins"], n["out"], [q_new], cluster=cluster or n["cluster"], base=n["base"])
    for a, b, at in list(g.edges):
        if a == old:
            g.edge(new, b, **at)
        if b == old:
            g.edge(a, new, **at)
    g.remove_node(old)
    return new


@defect("experts_subset_ranks", "expert", "clean_2")
def d_experts_subset_ranks():
    g = clean("clean_2")
    nodes = []
    for j in range(4, 8):
        for t in range(4):
            nodes.append(move_expert(g, 2, j, 4 + t, t, ep_label=0))
    nodes += [k for k in g.nodes if re.match(r"l2_expert[0-3]_r", k)]
    return g, nodes, "In layer 2 all 8 experts sit on EP rank 0 (GPUs 0-3); EP rank 1 (GPUs 4-7) holds none."


@defect("experts_uneven", "expert", "clean_2")
def d_experts_uneven():
    g = clean("clean_2")
    nodes = []
    for t in range(4):
        nodes.append(move_expert(g, 1, 4, 4 + t, t, ep_label=0))
    return g, nodes, "In layer 1 expert 4 moved from EP rank 1 to EP rank 0: 5 experts on EP rank 0, 3 on EP rank 1 (8/EP2 = 4 each)."


@defect("experts_share_gpu", "expert", "clean_2")
def d_experts_share_gpu():
    g = clean("clean_2")
    new = move_expert(g, 2, 4, 4, 0)
    return g, [new, "l2_expert0_r0", "l2_expert1_r0", "l2_expert2_r0", "l2_expert3_r0"], \
        "In layer 2 the TP-rank-0 shard of expert 4 (EP rank 1) is placed on GPU 0, which holds EP rank 0's experts."


@defect("no_gate", "expert", "clean_2")
def d_no_gate():
    g = clean("clean_2")
    nodes = []
    for q in range(8):
        g.remove_node("l1_router_r%d" % q)
        ws = g.nodes["l1_expert_weighted_sum_r%d" % q]
        ws["ins"] = ws["ins"][:1]
    for t in range(4):
        d = g.nodes["l1_ep_dispatch_g%d" % t]
        d["ins"] = d["ins"][:1]
        nodes.append("l1_ep_dispatch_g%d" % t)
    nodes += [k for k in g.nodes if k.startswith("l1_expert") and "weighted" not in k]
    return g, nodes, "Layer 1 has no router: tokens are dispatched to the experts with no gate before them."


@defect("no_all_to_all", "expert", "clean_2")
def d_no_all_to_all():
    g = clean("clean_2")
    cfg = CFG["clean_2"]
    b, K, H = cfg["batch"] // cfg["EP"], cfg["topk"], cfg["hidden"]
    nodes = []
    for t in range(4):
        g.remove_node("l2_ep_dispatch_g%d" % t)
    for k, n in list(g.nodes.items()):
        m = re.match(r"l2_expert(\d+)_r(\d+)$", k)
        if m:
            q = int(m.group(2))
            g.edge("l2_post_attention_layernorm_r%d" % q, k)
            g.edge("l2_router_r%d" % q, k, style="dashed")
            n["ins"] = [[b, 1, H], [b, K]]
            nodes.append(k)
    return g, nodes, "In layer 2 tokens reach the experts straight from the local norm/router, with no ep_dispatch all-to-all (EP=2)."


@defect("tp_rank_missing", "tensor", "clean_2")
def d_tp_rank_missing():
    g = clean("clean_2")
    for op in ["input_layernorm"] + ATT_OPS:
        g.remove_node("l1_%s_r3" % op)
    nodes = ["l1_tp_allreduce_g0", "l1_attn_residual_add_r3"] + \
        ["l1_%s_r%d" % (op, q) for op in ["q_proj", "k_proj", "v_proj", "o_proj"] for q in range(3)]
    return g, nodes, "Layer 1 attention (norm, q/k/v, KV cache, scores, softmax, context, o_proj) is drawn for TP ranks " \
                     "0-2 of GPUs 0-3 but not for TP rank 3 (GPU 3)."


@defect("no_allreduce_after_rowparallel", "tensor", "clean_2")
def d_no_allreduce():
    g = clean("clean_2")
    g.remove_node("l2_tp_allreduce_g0")
    nodes = []
    for q in range(4):
        g.edge("l2_o_proj_r%d" % q, "l2_attn_residual_add_r%d" % q)
        nodes += ["l2_o_proj_r%d" % q, "l2_attn_residual_add_r%d" % q]
    return g, nodes, "In layer 2 on GPUs 0-3 the row-parallel o_proj output goes straight into residual_add with no all-reduce."


@defect("cross_gpu_no_comm", "communication", "clean_3")
def d_cross_gpu():
    g = clean("clean_3")
    g.remove_edge("l0_moe_residual_add_r5", "l1_input_layernorm_r5")
    g.edge("l0_moe_residual_add_r4", "l1_input_layernorm_r5")
    return g, ["l0_moe_residual_add_r4", "l1_input_layernorm_r5"], \
        "input_layernorm of layer 1 on rank 5 reads the residual stream from rank 4 over a plain edge, no communication node."


@defect("comm_wrong_shape", "communication", "clean_2")
def d_comm_wrong_shape():
    g = clean("clean_2")
    g.nodes["l1_tp_allreduce_g4"]["shape"] = "box"
    return g, ["l1_tp_allreduce_g4"], "The layer-1 attention tp_allreduce over ranks 4-7 is drawn as a box instead of an ellipse."


@defect("missing_gpu", "gpu", "clean_3")
def d_missing_gpu():
    g = clean("clean_3")
    g.nodes["l0_attn_softmax_r6"]["no_ranks"] = True
    return g, ["l0_attn_softmax_r6"], "attn_softmax of layer 0 (replica 1) has no Rank placement line."


@defect("gpu_out_of_range", "gpu", "clean_1")
def d_gpu_out_of_range():
    g = clean("clean_1")
    g.remap_gpus({7: 8})
    nodes = [k for k, n in g.nodes.items() if 8 in n["ranks"]]
    return g, nodes, "Everything of GPU 7 is drawn on Rank 8, beyond the 8 GPUs (0-7) of EP2 x TP2 x PP2."


@defect("stages_share_gpus", "gpu", "clean_1")
def d_stages_share():
    g = clean("clean_1")
    g.freeze_ids()
    for k, n in g.nodes.items():
        if n["cluster"] == "stage1" or k in ("pp_0_4",):
            n["ranks"] = [3 if r == 4 else r for r in n["ranks"]]
    g.nodes["model_output"]["ranks"] = [3]
    g.nodes["batch_gather"]["ranks"] = [3 if r == 4 else r for r in g.nodes["batch_gather"]["ranks"]]
    nodes = [k for k, n in g.nodes.items() if n["cluster"] in ("stage0", "stage1") and 3 in n["ranks"]]
    return g, nodes, "Stage 1's first GPU is drawn as Rank 3, which stage 0 also uses (stage GPU sets overlap on GPU 3)."


@defect("strategy_mismatch", "strategy", "clean_1")
def d_strategy_mismatch():
    g = clean("clean_1")
    g.comment = "// 4 EP x 2 TP x 2 PP, decode"
    return g, [], "The strategy line declares 4 EP but experts are drawn on 2 EP ranks per stage."


@defect("missing_shapes", "annotation", "clean_3")
def d_missing_shapes():
    g = clean("clean_3")
    g.nodes["l1_post_attention_layernorm_r2"]["no_shapes"] = True
    return g, ["l1_post_attention_layernorm_r2"], "post_attention_layernorm of layer 1 on rank 2 has no Input/Output lines."


@defect("placeholder", "annotation", "clean_3")
def d_placeholder():
    g = clean("clean_3")
    n = g.nodes["l1_expert1_r1"]
    n["ins"] = [["?", 3072]]
    n["out"] = ["?", 3072]
    return g, ["l1_expert1_r1"], "expert[1] of layer 1 on rank 1 gives its token count as '?' ([?, 3072])."


@defect("moe_before_attention", "structure", "clean_1")
def d_moe_before_attention():
    g = clean("clean_1")
    nodes = []
    for q in range(4, 8):
        x = "pp_%d_%d" % (q - 4, q)          # stream entering layer 2 on this GPU
        nrm, ar_ = "l2_input_layernorm_r%d" % q, "l2_attn_residual_add_r%d" % q
        pn, mr = "l2_post_attention_layernorm_r%d" % q, "l2_moe_residual_add_r%d" % q
        nxt = ["l3_input_layernorm_r%d" % q, "l3_attn_residual_add_r%d" % q]
        for a, b in [(x, nrm), (x, ar_), (ar_, pn), (ar_, mr)] + [(mr, n_) for n_ in nxt]:
            g.remove_edge(a, b)
        for a, b in [(x, pn), (x, mr), (mr, nrm), (mr, ar_)] + [(ar_, n_) for n_ in nxt]:
            g.edge(a, b)
        nodes += [pn, nrm, mr, ar_]
    return g, nodes, "In layer 2 the MoE block (norm, router, experts, residual) is wired before the attention block."


@defect("missing_residual", "structure", "clean_3")
def d_missing_residual():
    g = clean("clean_3")
    g.remove_edge("l1_attn_residual_add_r3", "l1_moe_residual_add_r3")
    return g, ["l1_moe_residual_add_r3"], \
        "The MoE residual_add of layer 1 on rank 3 is fed only by the all-reduced expert output; the skip edge is missing."


SKIPPED = []   # every kind of the brief exists in this style


# ----------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name in ["clean_1", "clean_2", "clean_3"]:
        g = clean(name)
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(g.render())
        c = CFG[name]
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what="Correct decode step, %s; hidden %d, %d heads / %d kv heads x %d, %d experts top-%d, "
                                  "layers L%d-L%d." % (g.comment[3:], c["hidden"], c["heads"], c["kv_heads"],
                                                       c["head_dim"], c["experts"], c["topk"], c["first_layer"],
                                                       c["first_layer"] + c["layers"] - 1)))
    for kind, cat, base, f in DEFECTS:
        g, nodes, what = f()
        node_ids = [g.node_id(k) if k in g.nodes else k for k in nodes]
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fn, kind=kind, category=cat, base=base + ".dot", nodes=node_ids, what=what))
    for kind, cat, why in SKIPPED:
        manifest.append(dict(file=None, kind=kind, category=cat, nodes=[], what="skipped: " + why))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
