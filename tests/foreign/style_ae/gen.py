#!/usr/bin/env python3
"""Independent generator of deployment DAGs in a "vLLM engine" house style.

Writes, into ./out/ (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot   - correct DAGs
  defect_<kind>.dot                       - one clean DAG with exactly one defect
  manifest.json                           - what each file is

House style (vLLM / TensorRT-LLM module names):
  * node ids  "model.layers.{L}.{module}.rank{r}"  (r = rank inside the TP / EP group;
    a "dp{d}." prefix when data-parallel replicas are drawn), quoted.
  * labels    op \\n input: [..] \\n output: [..] \\n device: cuda:N
  * one fused "Attention (PagedAttention backend)" core per TP rank, between the
    split q/k/v + RotaryEmbedding nodes and RowParallelLinear (o_proj).
  * MoE: ReplicatedLinear (router gate) -> all_to_all (dispatch) -> one FusedMoE node per
    EP rank holding a range of experts -> all_to_all (combine) -> weighted sum (topk_weights).
  * pipeline stages are clusters "pipeline rank s: model.layers.a-b".
  * strategy in the graph label as the vLLM CLI flags.
Stdlib only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# --------------------------------------------------------------------------- model
def S(*dims):
    """Shape string from (name, value) pairs: [num_tokens=1024, hidden_size=4096]."""
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in dims) + "]"


class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = {}          # id -> dict
        self.edges = []          # [src, dst, style]
        self.clusters = {}       # key -> label (insertion ordered)

    def node(self, nid, op, kind, ins, outs, dev, cluster=None, extra=None):
        assert nid not in self.nodes, nid
        shape = {"comm": "ellipse", "compute": "box", "route": "parallelogram",
                 "io": "box"}[kind]
        self.nodes[nid] = dict(op=op, kind=kind, shape=shape, ins=list(ins),
                               outs=list(outs), dev=list(dev) if dev is not None else None,
                               cluster=cluster, extra=list(extra or []))
        return nid

    def edge(self, a, b, style=None):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, style])

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    # ---- emission
    @staticmethod
    def _q(s):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def _label(self, n):
        lines = [n["op"]] + n["extra"]
        if n["ins"]:
            lines.append("input: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("output: " + ", ".join(n["outs"]))
        if n["dev"] is not None:
            lines.append("device: " + ", ".join("cuda:%d" % g for g in n["dev"]))
        # DOT label with literal \n separators
        return '"' + "\\n".join(l.replace('"', '\\"') for l in lines) + '"'

    def _node_line(self, nid, n, indent):
        attrs = ["label=%s" % self._label(n), "shape=%s" % n["shape"]]
        if n["kind"] == "comm":
            attrs.append('style=filled, fillcolor="#fde2c8"')
        elif n["kind"] == "route":
            attrs.append('style=filled, fillcolor="#e2f0d9"')
        elif n["kind"] == "io":
            attrs.append('style="filled,bold", fillcolor="#dddddd"')
        return "%s%s [%s];" % (indent, self._q(nid), ", ".join(attrs))

    def to_dot(self):
        out = ["digraph %s {" % self._q(self.name),
               "  graph [label=%s, labelloc=t, rankdir=TB, fontname=\"Helvetica\", "
               "fontsize=14, newrank=true];" % self._q(self.label),
               "  node [fontname=\"Helvetica\", fontsize=9];",
               "  edge [arrowsize=0.6];", ""]
        for ckey, clabel in self.clusters.items():
            members = [(i, n) for i, n in self.nodes.items() if n["cluster"] == ckey]
            if not members:
                continue
            out.append("  subgraph %s {" % self._q("cluster_" + ckey))
            out.append("    label=%s; style=rounded; color=\"#336699\";" % self._q(clabel))
            for i, n in members:
                out.append(self._node_line(i, n, "    "))
            out.append("  }")
            out.append("")
        for i, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(self._node_line(i, n, "  "))
        out.append("")
        for a, b, style in self.edges:
            if style:
                out.append("  %s -> %s [style=%s];" % (self._q(a), self._q(b), style))
            else:
                out.append("  %s -> %s;" % (self._q(a), self._q(b)))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- configs
CONFIGS = {
    # MoE, TP4 x EP4 (vLLM: EP group = TP group when DP=1), GQA 32q/8kv heads.
    "clean_1": dict(tp=4, pp=1, dp=1, ep=4, layers=2, hidden=4096, heads=32, kv_heads=8,
                    head_size=128, tokens=1024, vocab=32000, experts=16, top_k=2,
                    label="vLLM serve --tensor-parallel-size 4 --enable-expert-parallel (EP=4)"),
    # MoE, TP2 x PP2, EP2 inside each stage, MHA 16 heads.
    "clean_2": dict(tp=2, pp=2, dp=1, ep=2, layers=4, hidden=2048, heads=16, kv_heads=16,
                    head_size=128, tokens=2048, vocab=32000, experts=8, top_k=2,
                    label="vLLM serve --tensor-parallel-size 2 --pipeline-parallel-size 2 "
                          "--enable-expert-parallel (EP=2)"),
    # Dense, TP2 x DP2 (two engine replicas), GQA 16q/4kv heads of 64.
    "clean_3": dict(tp=2, pp=1, dp=2, ep=0, layers=2, hidden=1024, heads=16, kv_heads=4,
                    head_size=64, tokens=2048, vocab=32000, intermediate=2816,
                    label="vLLM serve --tensor-parallel-size 2 --data-parallel-size 2"),
}


def check_config(c):
    assert c["heads"] * c["head_size"] == c["hidden"]
    assert c["heads"] % c["tp"] == 0 and c["kv_heads"] % c["tp"] == 0
    assert c["hidden"] % c["tp"] == 0 and c["vocab"] % c["tp"] == 0
    assert c["layers"] % c["pp"] == 0
    if c["ep"]:
        assert c["experts"] % c["ep"] == 0 and c["ep"] <= c["tp"]
        assert (c["tokens"] * c["top_k"]) % c["ep"] == 0
    else:
        assert c["intermediate"] % c["tp"] == 0


def gpu(c, d, s, r):
    """vLLM rank layout: dp-major, then pipeline, then tensor rank."""
    return d * c["pp"] * c["tp"] + s * c["tp"] + r


# shape helpers --------------------------------------------------------------
def sh_hidden(c, h=None):
    return S(("num_tokens", c["tokens"]), ("hidden_size", h or c["hidden"]))


def sh_q(c, nh=None, hs=None):
    return S(("num_tokens", c["tokens"]), ("num_heads", nh or c["heads"] // c["tp"]),
             ("head_size", hs or c["head_size"]))


def sh_kv(c, nkv=None, hs=None):
    return S(("num_tokens", c["tokens"]), ("num_kv_heads", nkv or c["kv_heads"] // c["tp"]),
             ("head_size", hs or c["head_size"]))


def sh_qkv(c, nh=None, nkv=None, hs=None):
    nh = nh or c["heads"] // c["tp"]
    nkv = nkv or c["kv_heads"] // c["tp"]
    hs = hs or c["head_size"]
    return S(("num_tokens", c["tokens"]), ("qkv_size", (nh + 2 * nkv) * hs))


def sh_topk(c):
    return S(("num_tokens", c["tokens"]), ("top_k", c["top_k"]))


def sh_disp(c, n=None):
    n = n if n is not None else c["tokens"] * c["top_k"] // c["ep"]
    return S(("num_dispatched_tokens", n), ("hidden_size", c["hidden"]))


def sh_comb(c):
    return S(("num_tokens", c["tokens"]), ("top_k", c["top_k"]), ("hidden_size", c["hidden"]))


# --------------------------------------------------------------------------- builder
def build(cname):
    c = CONFIGS[cname]
    check_config(c)
    g = Graph("vllm_" + cname, c["label"])
    g.cfg = c
    tp, pp, dp = c["tp"], c["pp"], c["dp"]
    per = c["layers"] // pp
    tok = S(("num_tokens", c["tokens"]))
    H = sh_hidden(c)
    for d in range(dp):
        pre = ("dp%d." % d) if dp > 1 else ""
        for s in range(pp):
            lab = "pipeline rank %d: model.layers.%d-%d" % (s, s * per, s * per + per - 1)
            if dp > 1:
                lab += " (data parallel rank %d)" % d
            g.clusters[pre + "pp%d" % s] = lab

        def grp(s):
            return [gpu(c, d, s, r) for r in range(tp)]

        cl0 = pre + "pp0"
        # ---- input + embedding
        inp = g.node(pre + "input_ids", "input_ids (model input)", "io", [tok], [tok],
                     [gpu(c, d, 0, 0)], cl0)
        bc = g.node(pre + "model.embed_tokens.broadcast", "broadcast_tensor_dict (input_ids)",
                    "comm", [tok], [tok], grp(0), cl0)
        g.edge(inp, bc)
        ear = g.node(pre + "model.embed_tokens.all_reduce", "tensor_model_parallel_all_reduce",
                     "comm", [H], [H], grp(0), cl0)
        for r in range(tp):
            e = g.node(pre + "model.embed_tokens.rank%d" % r,
                       "VocabParallelEmbedding (embed_tokens)", "compute", [tok], [H],
                       [gpu(c, d, 0, r)], cl0)
            g.edge(bc, e)
            g.edge(e, ear)
        stream = {r: ear for r in range(tp)}

        for s in range(pp):
            cl = pre + "pp%d" % s
            for L in range(s * per, s * per + per):
                stream = build_layer(g, c, pre, d, s, L, cl, stream)
            if s < pp - 1:
                new = {}
                for r in range(tp):
                    sr = g.node(pre + "pp.send_recv.stage%d_to_%d.rank%d" % (s, s + 1, r),
                                "pp send/recv (pipeline rank %d -> %d)" % (s, s + 1), "comm",
                                [H], [H], [gpu(c, d, s, r), gpu(c, d, s + 1, r)], None)
                    g.edge(stream[r], sr)
                    new[r] = sr
                stream = new

        # ---- final norm, lm head, gather, output
        s = pp - 1
        cl = pre + "pp%d" % s
        vs = S(("num_tokens", c["tokens"]), ("vocab_size", c["vocab"] // tp))
        vf = S(("num_tokens", c["tokens"]), ("vocab_size", c["vocab"]))
        ag = g.node(pre + "lm_head.all_gather", "tensor_model_parallel_all_gather (logits)",
                    "comm", [vs], [vf], grp(s), cl)
        for r in range(tp):
            n = g.node(pre + "model.norm.rank%d" % r, "RMSNorm (model.norm)", "compute",
                       [H], [H], [gpu(c, d, s, r)], cl)
            g.edge(stream[r], n)
            lm = g.node(pre + "lm_head.rank%d" % r, "ParallelLMHead (lm_head)", "compute",
                        [H], [vs], [gpu(c, d, s, r)], cl)
            g.edge(n, lm)
            g.edge(lm, ag)
        o = g.node(pre + "logits", "logits (model output)", "io", [vf], [vf],
                   [gpu(c, d, s, 0)], cl)
        g.edge(ag, o)
    return g


def build_layer(g, c, pre, d, s, L, cl, stream):
    tp = c["tp"]
    H = sh_hidden(c)
    p = pre + "model.layers.%d." % L
    dev = lambda r: [gpu(c, d, s, r)]
    grp = [gpu(c, d, s, r) for r in range(tp)]
    # ---- attention block
    ar = g.node(p + "self_attn.all_reduce", "tensor_model_parallel_all_reduce", "comm",
                [H], [H], grp, cl)
    for r in range(tp):
        R = ".rank%d" % r
        ln = g.node(p + "input_layernorm" + R, "RMSNorm (input_layernorm)", "compute",
                    [H], [H], dev(r), cl)
        g.edge(stream[r], ln)
        qkv = g.node(p + "self_attn.qkv_proj" + R, "QKVParallelLinear (qkv_proj)", "compute",
                     [H], [sh_qkv(c)], dev(r), cl)
        g.edge(ln, qkv)
        sp = g.node(p + "self_attn.split_qkv" + R, "split q/k/v", "route",
                    [sh_qkv(c)], [sh_q(c), sh_kv(c), sh_kv(c)], dev(r), cl)
        g.edge(qkv, sp)
        ro = g.node(p + "self_attn.rotary_emb" + R, "RotaryEmbedding", "compute",
                    [sh_q(c), sh_kv(c)], [sh_q(c), sh_kv(c)], dev(r), cl)
        g.edge(sp, ro)
        at = g.node(p + "self_attn.attn" + R, "Attention (PagedAttention backend)", "compute",
                    [sh_q(c), sh_kv(c), sh_kv(c)], [sh_q(c)], dev(r), cl)
        g.edge(ro, at)
        g.edge(sp, at)
        o = g.node(p + "self_attn.o_proj" + R, "RowParallelLinear (o_proj)", "compute",
                   [sh_q(c)], [H], dev(r), cl)
        g.edge(at, o)
        g.edge(o, ar)
    res1, pln = {}, {}
    for r in range(tp):
        R = ".rank%d" % r
        res1[r] = g.node(p + "attn_residual_add" + R, "residual add", "compute", [H, H], [H],
                         dev(r), cl)
        g.edge(ar, res1[r])
        g.edge(stream[r], res1[r])
        pln[r] = g.node(p + "post_attention_layernorm" + R, "RMSNorm (post_attention_layernorm)",
                        "compute", [H], [H], dev(r), cl)
        g.edge(res1[r], pln[r])
    # ---- MLP / MoE block
    mout = {}
    if c["ep"]:
        ep = c["ep"]
        per = c["experts"] // ep
        disp = g.node(p + "mlp.all_to_all_dispatch", "all_to_all (dispatch)", "comm",
                      [H, sh_topk(c)], [sh_disp(c)], grp, cl)
        comb = g.node(p + "mlp.all_to_all_combine", "all_to_all (combine)", "comm",
                      [sh_disp(c)], [sh_comb(c)], grp, cl)
        gates = {}
        for r in range(tp):
            gates[r] = g.node(p + "mlp.gate.rank%d" % r, "ReplicatedLinear (router gate)", "route",
                              [H], [sh_topk(c)], dev(r), cl,
                              extra=["top_k=%d of num_experts=%d" % (c["top_k"], c["experts"])])
            g.edge(pln[r], gates[r])
            g.edge(pln[r], disp)
            g.edge(gates[r], disp, "dashed")
        for e in range(ep):
            ex = g.node(p + "mlp.experts.rank%d" % e,
                        "FusedMoE (experts %d-%d)" % (e * per, e * per + per - 1), "compute",
                        [sh_disp(c)], [sh_disp(c)], dev(e), cl)
            g.edge(disp, ex)
            g.edge(ex, comb)
        for r in range(tp):
            ws = g.node(p + "mlp.topk_weighted_sum.rank%d" % r, "weighted sum (topk_weights)",
                        "route", [sh_comb(c), sh_topk(c)], [H], dev(r), cl)
            g.edge(comb, ws)
            g.edge(gates[r], ws, "dashed")
            mout[r] = ws
    else:
        inter = c["intermediate"] // tp
        gu_s = S(("num_tokens", c["tokens"]), ("gate_up_size", 2 * inter))
        in_s = S(("num_tokens", c["tokens"]), ("intermediate_size", inter))
        mar = g.node(p + "mlp.all_reduce", "tensor_model_parallel_all_reduce", "comm",
                     [H], [H], grp, cl)
        for r in range(tp):
            R = ".rank%d" % r
            gu = g.node(p + "mlp.gate_up_proj" + R, "MergedColumnParallelLinear (gate_up_proj)",
                        "compute", [H], [gu_s], dev(r), cl)
            g.edge(pln[r], gu)
            act = g.node(p + "mlp.act_fn" + R, "SiluAndMul", "compute", [gu_s], [in_s],
                         dev(r), cl)
            g.edge(gu, act)
            dn = g.node(p + "mlp.down_proj" + R, "RowParallelLinear (down_proj)", "compute",
                        [in_s], [H], dev(r), cl)
            g.edge(act, dn)
            g.edge(dn, mar)
            mout[r] = mar
    new = {}
    for r in range(tp):
        res2 = g.node(p + "mlp_residual_add.rank%d" % r, "residual add", "compute", [H, H], [H],
                      dev(r), cl)
        g.edge(mout[r], res2)
        g.edge(res1[r], res2)
        new[r] = res2
    return new


# --------------------------------------------------------------------------- defects
DEFECTS = []   # (kind, base, category, func) ; func(g) -> (nodes, what)


def defect(kind, base, category):
    def deco(f):
        DEFECTS.append((kind, base, category, f))
        return f
    return deco


def L(layer, mod, r=None):
    return "model.layers.%d.%s" % (layer, mod) + ("" if r is None else ".rank%d" % r)


@defect("cycle", "clean_1", "structure")
def d_cycle(g):
    a, b = L(0, "mlp.experts", 0), L(0, "mlp.all_to_all_dispatch")
    g.edge(a, b)
    return [a, b], ("The layer-0 dispatch all_to_all is drawn both ways with FusedMoE rank 0 "
                    "(dispatch -> experts and experts -> dispatch), closing a cycle.")


@defect("dangling_input", "clean_1", "structure")
def d_dangling_input(g):
    a, b = L(1, "post_attention_layernorm", 1), L(1, "mlp.gate", 1)
    g.remove_edge(a, b)
    return [b], ("The layer-1 router gate on TP rank 1 has no incoming edge (its "
                 "post_attention_layernorm input edge was dropped).")


@defect("dangling_output", "clean_1", "structure")
def d_dangling_output(g):
    c = g.cfg
    ids = []
    for r in range(c["tp"]):
        sp = L(1, "self_attn.split_qkv", r)
        k = g.node(L(1, "self_attn.k_norm", r), "RMSNorm (k_norm)", "compute",
                   [sh_kv(c)], [sh_kv(c)], g.nodes[sp]["dev"], g.nodes[sp]["cluster"])
        g.edge(sp, k)
        ids.append(k)
    return ids, ("A k_norm RMSNorm operator in layer 1 (one per TP rank) takes k from the split "
                 "but its output goes nowhere.")


@defect("attention_one_box", "clean_1", "attention")
def d_attention_one_box(g):
    c = g.cfg
    ids = []
    for r in range(c["tp"]):
        cl = g.nodes[L(1, "self_attn.qkv_proj", r)]["cluster"]
        dev = g.nodes[L(1, "self_attn.qkv_proj", r)]["dev"]
        for m in ("qkv_proj", "split_qkv", "rotary_emb", "attn", "o_proj"):
            g.remove_node(L(1, "self_attn." + m, r))
        n = g.node(L(1, "self_attn", r), "Multi-Head Attention (self_attn)", "compute",
                   [sh_hidden(c)], [sh_hidden(c)], dev, cl)
        g.edge(L(1, "input_layernorm", r), n)
        g.edge(n, L(1, "self_attn.all_reduce"))
        ids.append(n)
    return ids, ("Layer 1 attention is drawn as one 'Multi-Head Attention' box per TP rank "
                 "(no qkv_proj / split / rotary / attention core / o_proj).")


@defect("qkv_into_oproj", "clean_1", "attention")
def d_qkv_into_oproj(g):
    c = g.cfg
    ids = []
    for r in range(c["tp"]):
        g.remove_node(L(0, "self_attn.attn", r))
        o = L(0, "self_attn.o_proj", r)
        g.edge(L(0, "self_attn.rotary_emb", r), o)
        g.edge(L(0, "self_attn.split_qkv", r), o)
        g.nodes[o]["ins"] = [sh_q(c), sh_kv(c), sh_kv(c)]
        ids += [o, L(0, "self_attn.rotary_emb", r), L(0, "self_attn.split_qkv", r)]
    return ids, ("In layer 0 the attention core is missing: q/k (after rotary) and v go straight "
                 "into RowParallelLinear (o_proj) on every TP rank.")


@defect("head_arithmetic", "clean_1", "attention")
def d_head_arithmetic(g):
    c = g.cfg
    hs = c["head_size"] // 2
    ids = []
    for r in range(c["tp"]):
        g.nodes[L(1, "self_attn.qkv_proj", r)]["outs"] = [sh_qkv(c, hs=hs)]
        g.nodes[L(1, "self_attn.split_qkv", r)]["ins"] = [sh_qkv(c, hs=hs)]
        g.nodes[L(1, "self_attn.split_qkv", r)]["outs"] = [sh_q(c, hs=hs), sh_kv(c, hs=hs),
                                                           sh_kv(c, hs=hs)]
        g.nodes[L(1, "self_attn.rotary_emb", r)]["ins"] = [sh_q(c, hs=hs), sh_kv(c, hs=hs)]
        g.nodes[L(1, "self_attn.rotary_emb", r)]["outs"] = [sh_q(c, hs=hs), sh_kv(c, hs=hs)]
        g.nodes[L(1, "self_attn.attn", r)]["ins"] = [sh_q(c, hs=hs), sh_kv(c, hs=hs),
                                                     sh_kv(c, hs=hs)]
        g.nodes[L(1, "self_attn.attn", r)]["outs"] = [sh_q(c, hs=hs)]
        g.nodes[L(1, "self_attn.o_proj", r)]["ins"] = [sh_q(c, hs=hs)]
        ids += [L(1, "self_attn." + m, r) for m in ("qkv_proj", "split_qkv", "attn")]
    return ids, ("Layer 1 labels use head_size=%d: %d heads x %d = %d per TP rank (%d in all) "
                 "instead of hidden_size %d (%d per rank)." % (
                     hs, c["heads"] // c["tp"], hs, c["heads"] // c["tp"] * hs, c["heads"] * hs,
                     c["hidden"], c["hidden"] // c["tp"]))


@defect("tp_heads", "clean_1", "attention")
def d_tp_heads(g):
    c = g.cfg
    nh, nkv = c["heads"], c["kv_heads"]
    r = 1
    g.nodes[L(0, "self_attn.qkv_proj", r)]["outs"] = [sh_qkv(c, nh, nkv)]
    g.nodes[L(0, "self_attn.split_qkv", r)]["ins"] = [sh_qkv(c, nh, nkv)]
    g.nodes[L(0, "self_attn.split_qkv", r)]["outs"] = [sh_q(c, nh), sh_kv(c, nkv), sh_kv(c, nkv)]
    g.nodes[L(0, "self_attn.rotary_emb", r)]["ins"] = [sh_q(c, nh), sh_kv(c, nkv)]
    g.nodes[L(0, "self_attn.rotary_emb", r)]["outs"] = [sh_q(c, nh), sh_kv(c, nkv)]
    g.nodes[L(0, "self_attn.attn", r)]["ins"] = [sh_q(c, nh), sh_kv(c, nkv), sh_kv(c, nkv)]
    g.nodes[L(0, "self_attn.attn", r)]["outs"] = [sh_q(c, nh)]
    g.nodes[L(0, "self_attn.o_proj", r)]["ins"] = [sh_q(c, nh)]
    ids = [L(0, "self_attn." + m, r) for m in ("qkv_proj", "split_qkv", "attn")]
    return ids, ("TP rank 1 of layer 0 projects all %d query / %d kv heads instead of its "
                 "%d / %d (heads/TP%d)." % (nh, nkv, nh // c["tp"], nkv // c["tp"], c["tp"]))


@defect("edge_shape_mismatch", "clean_1", "shape")
def d_edge_shape_mismatch(g):
    c = g.cfg
    n = L(1, "self_attn.qkv_proj", 2)
    g.nodes[n]["ins"] = [sh_hidden(c, 3072)]
    return [L(1, "input_layernorm", 2), n], (
        "Layer-1 qkv_proj on TP rank 2 declares input hidden_size=3072 while its "
        "input_layernorm produces hidden_size=%d (ratio 4/3, not a parallel degree)." % c["hidden"])


@defect("shard_without_gather", "clean_1", "shape")
def d_shard_without_gather(g):
    c = g.cfg
    g.remove_node(L(1, "self_attn.all_reduce"))
    ids = []
    for r in range(c["tp"]):
        o = L(1, "self_attn.o_proj", r)
        g.nodes[o]["outs"] = [sh_hidden(c, c["hidden"] // c["tp"])]
        g.edge(o, L(1, "attn_residual_add", r))
        ids += [o, L(1, "attn_residual_add", r)]
    return ids, ("Layer-1 o_proj outputs a hidden_size=%d shard (%d/TP%d) that goes straight into "
                 "the full-size residual add with no all-reduce/all-gather." % (
                     c["hidden"] // c["tp"], c["hidden"], c["tp"]))


@defect("stage_count", "clean_2", "pipeline")
def d_stage_count(g):
    g.label = g.label.replace("--pipeline-parallel-size 2", "--pipeline-parallel-size 3")
    assert "--pipeline-parallel-size 3" in g.label
    return [], "The graph label declares --pipeline-parallel-size 3 but two pipeline stages are drawn."


@defect("stage_range_gap", "clean_2", "pipeline")
def d_stage_range_gap(g):
    g.clusters["pp1"] = "pipeline rank 1: model.layers.3-3"
    return [], ("Stage layer ranges are 0-1 and 3-3: layer 2 is claimed by no stage although "
                 "it is drawn (in pipeline rank 1).")


@defect("stage_missing_layer", "clean_2", "pipeline")
def d_stage_missing_layer(g):
    g.clusters["pp1"] = "pipeline rank 1: model.layers.2-4"
    return [], ("Pipeline rank 1 claims model.layers.2-4 but no operator of layer 4 is drawn.")


@defect("no_stage_transfer", "clean_2", "pipeline")
def d_no_stage_transfer(g):
    c = g.cfg
    ids = []
    for r in range(c["tp"]):
        sr = "pp.send_recv.stage0_to_1.rank%d" % r
        g.remove_node(sr)
        g.edge(L(1, "mlp_residual_add", r), L(2, "input_layernorm", r))
        g.edge(L(1, "mlp_residual_add", r), L(2, "attn_residual_add", r))
        ids += [L(1, "mlp_residual_add", r), L(2, "input_layernorm", r)]
    return ids, ("Pipeline ranks 0 and 1 are joined by plain edges (layer 1 -> layer 2, cuda:0->2 "
                 "and cuda:1->3) with no send/recv node; the cross-GPU edges are part of this defect.")


@defect("experts_subset_ranks", "clean_1", "expert")
def d_experts_subset_ranks(g):
    c = g.cfg
    half = c["ep"] // 2
    per = c["experts"] // half
    for e in range(half, c["ep"]):
        g.remove_node(L(1, "mlp.experts", e))
    n = c["tokens"] * c["top_k"] // half
    ids = []
    for e in range(half):
        x = g.nodes[L(1, "mlp.experts", e)]
        x["op"] = "FusedMoE (experts %d-%d)" % (e * per, e * per + per - 1)
        x["ins"] = [sh_disp(c, n)]
        x["outs"] = [sh_disp(c, n)]
        ids.append(L(1, "mlp.experts", e))
    return ids, ("Layer-1 experts are placed only on EP ranks 0-%d (%d each); EP ranks %d-%d "
                 "hold no expert although EP=%d." % (half - 1, per, half, c["ep"] - 1, c["ep"]))


@defect("experts_uneven", "clean_1", "expert")
def d_experts_uneven(g):
    c = g.cfg
    counts = [6, 4, 4, 2]
    assert sum(counts) == c["experts"] and len(counts) == c["ep"]
    start = 0
    ids = []
    for e, k in enumerate(counts):
        x = g.nodes[L(0, "mlp.experts", e)]
        x["op"] = "FusedMoE (experts %d-%d)" % (start, start + k - 1)
        n = c["tokens"] * c["top_k"] * k // c["experts"]
        x["ins"] = [sh_disp(c, n)]
        x["outs"] = [sh_disp(c, n)]
        start += k
        ids.append(L(0, "mlp.experts", e))
    return ids, ("Layer-0 experts are split 6/4/4/2 over the 4 EP ranks instead of 4 per rank.")


@defect("experts_share_gpu", "clean_1", "expert")
def d_experts_share_gpu(g):
    n = L(1, "mlp.experts", 3)
    g.nodes[n]["dev"] = list(g.nodes[L(1, "mlp.experts", 2)]["dev"])
    return [L(1, "mlp.experts", 2), n], ("Layer-1 FusedMoE of EP rank 3 is placed on cuda:2, the "
                                         "GPU of EP rank 2's experts.")


@defect("no_gate", "clean_1", "expert")
def d_no_gate(g):
    c = g.cfg
    for r in range(c["tp"]):
        g.remove_node(L(1, "mlp.gate", r))
        g.nodes[L(1, "mlp.topk_weighted_sum", r)]["ins"] = [sh_comb(c)]
    g.nodes[L(1, "mlp.all_to_all_dispatch")]["ins"] = [sh_hidden(c)]
    return [L(1, "mlp.all_to_all_dispatch")] + [L(1, "mlp.experts", e) for e in range(c["ep"])], (
        "Layer 1 has no router gate: tokens are dispatched to the experts with no routing decision.")


@defect("no_all_to_all", "clean_1", "expert")
def d_no_all_to_all(g):
    c = g.cfg
    g.remove_node(L(0, "mlp.all_to_all_dispatch"))
    ids = []
    for e in range(c["ep"]):
        x = L(0, "mlp.experts", e)
        g.edge(L(0, "post_attention_layernorm", e), x)
        g.edge(L(0, "mlp.gate", e), x, "dashed")
        g.nodes[x]["ins"] = [sh_hidden(c), sh_topk(c)]
        g.nodes[x]["outs"] = [sh_hidden(c)]
        ids.append(x)
    return ids, ("Layer-0 tokens go from each rank's post_attention_layernorm straight into its "
                 "FusedMoE with no all_to_all dispatch although EP=%d." % c["ep"])


@defect("tp_rank_missing", "clean_1", "tensor")
def d_tp_rank_missing(g):
    c = g.cfg
    r = c["tp"] - 1
    g.remove_node("model.embed_tokens.rank%d" % r)
    return ["model.embed_tokens.rank%d" % k for k in range(r)] + [
        "model.embed_tokens.all_reduce", "model.embed_tokens.broadcast"], (
        "VocabParallelEmbedding is drawn for TP ranks 0-%d only; rank %d's vocab shard is missing "
        "(the all-reduce sums %d of %d shards)." % (r - 1, r, r, c["tp"]))


@defect("no_allreduce_after_rowparallel", "clean_3", "tensor")
def d_no_allreduce(g):
    c = g.cfg
    p = "dp0."
    g.remove_node(p + L(1, "mlp.all_reduce"))
    ids = []
    for r in range(c["tp"]):
        g.edge(p + L(1, "mlp.down_proj", r), p + L(1, "mlp_residual_add", r))
        ids += [p + L(1, "mlp.down_proj", r), p + L(1, "mlp_residual_add", r)]
    return ids, ("In data-parallel replica 0, layer 1's RowParallelLinear (down_proj) partial sums "
                 "go straight into the residual add with no tensor_model_parallel_all_reduce.")


@defect("cross_gpu_no_comm", "clean_1", "communication")
def d_cross_gpu(g):
    a_old, a_new, b = L(0, "mlp_residual_add", 1), L(0, "mlp_residual_add", 0), \
        L(1, "attn_residual_add", 1)
    g.remove_edge(a_old, b)
    g.edge(a_new, b)
    return [a_new, b], ("The layer-1 residual skip into attn_residual_add on cuda:1 comes from "
                        "layer 0's residual add on cuda:0, a cross-GPU edge with no communication node.")


@defect("comm_wrong_shape", "clean_1", "communication")
def d_comm_wrong_shape(g):
    n = L(0, "self_attn.all_reduce")
    g.nodes[n]["shape"] = "box"
    g.nodes[n]["kind"] = "compute"
    return [n], "Layer 0's tensor_model_parallel_all_reduce is drawn as a box instead of an ellipse."


@defect("missing_gpu", "clean_1", "gpu")
def d_missing_gpu(g):
    n = L(1, "post_attention_layernorm", 2)
    g.nodes[n]["dev"] = None
    return [n], "Layer 1 post_attention_layernorm on TP rank 2 has no device line."


@defect("gpu_out_of_range", "clean_1", "gpu")
def d_gpu_out_of_range(g):
    n = L(1, "mlp.experts", 3)
    g.nodes[n]["dev"] = [16]
    return [n], ("Layer-1 FusedMoE of EP rank 3 is placed on cuda:16, beyond the 4 GPUs of TP4 "
                 "(and beyond 16 = EP4 x TP4).")


@defect("stages_share_gpus", "clean_2", "gpu")
def d_stages_share(g):
    c = g.cfg
    remap = {gpu(c, 0, 1, r): gpu(c, 0, 0, r) for r in range(c["tp"])}
    ids = []
    for i, n in g.nodes.items():
        if n["cluster"] == "pp1" or i.startswith("pp.send_recv"):
            n["dev"] = [remap.get(x, x) for x in n["dev"]]
            ids.append(i)     # every node of pipeline rank 1 now sits on pipeline rank 0's GPUs
    return ids, ("Pipeline rank 1 is placed on cuda:0-1, the same GPUs as pipeline rank 0 "
                 "(cuda:2-3 unused).")


@defect("strategy_mismatch", "clean_1", "strategy")
def d_strategy(g):
    g.label = g.label.replace("--tensor-parallel-size 4", "--tensor-parallel-size 8")
    assert "--tensor-parallel-size 8" in g.label
    return [], "The graph label declares --tensor-parallel-size 8 but only TP ranks 0-3 are drawn."


@defect("missing_shapes", "clean_1", "annotation")
def d_missing_shapes(g):
    n = L(0, "self_attn.o_proj", 1)
    g.nodes[n]["ins"] = []
    g.nodes[n]["outs"] = []
    return [n], "Layer-0 RowParallelLinear (o_proj) on TP rank 1 has no input/output lines."


@defect("placeholder", "clean_1", "annotation")
def d_placeholder(g):
    c = g.cfg
    n = L(1, "post_attention_layernorm", 0)
    ph = S(("num_tokens", "?"), ("hidden_size", c["hidden"]))
    g.nodes[n]["ins"] = [ph]
    g.nodes[n]["outs"] = [ph]
    return [n], "Layer-1 post_attention_layernorm on TP rank 0 has num_tokens=? in its shapes."


@defect("moe_before_attention", "clean_1", "structure")
def d_moe_first(g):
    c = g.cfg
    ids = []
    for r in range(c["tp"]):
        x = L(0, "mlp_residual_add", r)          # stream entering layer 1
        ln, res1 = L(1, "input_layernorm", r), L(1, "attn_residual_add", r)
        pln, res2 = L(1, "post_attention_layernorm", r), L(1, "mlp_residual_add", r)
        nxt = "model.norm.rank%d" % r
        for a, b in ((x, ln), (x, res1), (res1, pln), (res1, res2), (res2, nxt)):
            g.remove_edge(a, b)
        # new order: x -> MoE block -> res2 -> attention block -> res1 -> final norm
        for a, b in ((x, pln), (x, res2), (res2, ln), (res2, res1), (res1, nxt)):
            g.edge(a, b)
        ids += [pln, ln]
    return ids, ("In layer 1 the MoE sub-block (post_attention_layernorm -> gate -> experts) is "
                 "wired before the attention sub-block.")


@defect("missing_residual", "clean_1", "structure")
def d_missing_residual(g):
    a, b = L(0, "attn_residual_add", 0), L(0, "mlp_residual_add", 0)
    g.remove_edge(a, b)
    return [b], ("Layer-0 residual add after the MoE on TP rank 0 is fed only by the weighted "
                 "sum; the skip edge from attn_residual_add is missing.")


DESC = {
    "clean_1": "MoE, TP4 x EP4, PP1, DP1, 2 layers, hidden 4096 = 32 heads x 128 (8 kv heads), "
               "16 experts top-2, 4 GPUs",
    "clean_2": "MoE, TP2 x PP2, EP2 per stage, DP1, 4 layers, hidden 2048 = 16 heads x 128, "
               "8 experts top-2, 4 GPUs",
    "clean_3": "dense, TP2 x DP2, PP1, 2 layers, hidden 1024 = 16 heads x 64 (4 kv heads), "
               "intermediate 2816, 4 GPUs",
}

SKIPPED = {
    "v_bypasses_softmax": "House style draws one fused 'Attention (PagedAttention backend)' core "
                          "per TP rank: there is no separate softmax or weighted-sum node whose "
                          "wiring could bypass the softmax.",
    "v_into_score": "House style has no separate score (QK^T) node; q, k and v all enter the "
                    "fused attention core, so V cannot be wired into a score node.",
}


# --------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for cname in ("clean_1", "clean_2", "clean_3"):
        g = build(cname)
        with open(os.path.join(OUT, cname + ".dot"), "w") as f:
            f.write(g.to_dot())
        manifest.append({"file": cname + ".dot", "kind": "clean", "category": None,
                         "nodes": [], "what": "Correct DAG: %s (%s)." % (g.label, DESC[cname])})
    for kind, base, cat, fn in DEFECTS:
        g = build(base)
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        g.name = "vllm_" + base
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.to_dot())
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes,
                         "what": what, "base": base + ".dot"})
    for kind, why in SKIPPED.items():
        # the file is deliberately NOT written: the entry only records why the kind is skipped
        manifest.append({"file": "defect_%s.dot" % kind, "kind": kind, "category": "attention",
                         "nodes": [], "what": "SKIPPED (no file written): " + why,
                         "skipped": True})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print("wrote %d files to %s" % (3 + len(DEFECTS), OUT))


if __name__ == "__main__":
    main()
