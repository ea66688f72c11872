#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in the "ONNX / Netron export" house style.

Run `python3 gen.py` in this folder: writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot per
defect kind, and out/manifest.json.  Stdlib only.

House style (applied to every file):
  * opaque sequential node ids n0001, n0002, ... in creation order;
  * first label line = ONNX op type + module path (`MatMul /model/layers.0/self_attn/q_proj`),
    collectives `AllReduce tp_group`, `AllToAll ep_group`, `AllGather tp_group`, `Send pp 0->1`,
    `Recv pp 0->1`; attention = q/k/v MatMul, Reshape (split heads), Transpose (K), MatMul scores,
    Div scale, Softmax, MatMul pv, Reshape (merge heads), MatMul o_proj;
  * typed shapes `Input: float16[4,2048,4096]`, several inputs `Input: float16[..], int64[..]`;
  * placement `Device: cuda:5`, `Device: cuda:0-3`, strided groups `Device: cuda:0,2,4,6`;
  * pipeline stages as `PipelineStage k` marker nodes (shape=cds) on the data path, no clusters;
  * strategy in the graph label: `Mesh: tp=2, pp=2, ep=4, dp=1 (16 devices)`;
  * every label line ends with \\l (left-justified).
  Own quirks:
  (1) Netron "attributes" line: each node carries `attrs: key=value ...` right under its op line
      (tp_rank / ep_rank / expert_id / dp_rank, head counts, epsilon, perm, k, scope of collectives);
  (2) Netron colour palette by op category (MatMul/ExpertMLP dark blue, Softmax dark red, norms dark
      green, Reshape/Transpose/Gather brown, elementwise light grey, collectives pale yellow
      ellipses, routing purple parallelograms), plus an exporter banner of `//` comments.
  Shapes are per device shard; token dims cover the whole micro-batch of the pipeline replica.
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def S(*dims, dt="float16"):
    return "%s[%s]" % (dt, ",".join(str(d) for d in dims))


def fmt_dev(gpus):
    g = sorted(gpus)
    runs, start, prev = [], g[0], g[0]
    for x in g[1:]:
        if x == prev + 1:
            prev = x
            continue
        runs.append((start, prev))
        start = prev = x
    runs.append((start, prev))
    parts = ["%d" % a if a == b else "%d-%d" % (a, b) for a, b in runs]
    return "cuda:" + ",".join(parts)


PALETTE = {  # Netron-like categories
    "MatMul": ("#335588", "white"), "ExpertMLP": ("#335588", "white"),
    "Attention": ("#335588", "white"),
    "Softmax": ("#702921", "white"),
    "SimplifiedLayerNormalization": ("#335544", "white"),
    "Reshape": ("#6C4F47", "white"), "Transpose": ("#6C4F47", "white"),
    "Gather": ("#6C4F47", "white"),
    "Add": ("#EEEEEE", "black"), "Div": ("#EEEEEE", "black"), "Mul": ("#EEEEEE", "black"),
    "TopK": ("#6B3F7A", "white"), "ScatterND": ("#6B3F7A", "white"), "Einsum": ("#6B3F7A", "white"),
    "comm": ("#FFF2CC", "black"),
    "Input": ("#FFFFFF", "black"), "Output": ("#FFFFFF", "black"),
    "PipelineStage": ("#FFFFFF", "black"),
}


class Graph:
    def __init__(self, title, mesh):
        self.title = title
        self.mesh = mesh  # dict tp, pp, ep, dp
        self.nodes = {}
        self.order = []
        self.edges = []
        self.n = 0

    def add(self, op, path=None, ins=(), outs=(), dev=None, attrs="", shape="box", key=None,
            extra=()):
        self.n += 1
        nid = "n%04d" % self.n
        self.nodes[nid] = dict(op=op, path=path, ins=list(ins), outs=list(outs),
                               dev=set(dev) if dev is not None else None, attrs=attrs,
                               shape=shape, key=dict(key or {}), extra=list(extra))
        self.order.append(nid)
        return nid

    def e(self, a, b, dashed=False):
        self.edges.append((a, b, dashed))

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == a and x[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def rm_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [x for x in self.edges if nid not in (x[0], x[1])]

    def findall(self, **k):
        return [nid for nid in self.order
                if all(self.nodes[nid]["key"].get(a) == v for a, v in k.items())]

    def find(self, **k):
        r = self.findall(**k)
        assert len(r) == 1, (k, r)
        return r[0]

    def label(self, nid):
        n = self.nodes[nid]
        lines = [n["op"] + (" " + n["path"] if n["path"] else "")]
        lines += n["extra"]
        if n["attrs"]:
            lines.append("attrs: " + n["attrs"])
        if n["ins"]:
            lines.append("Input: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("Output: " + ", ".join(n["outs"]))
        if n["dev"] is not None:
            lines.append("Device: " + fmt_dev(n["dev"]))
        return "".join(l + "\\l" for l in lines)

    def render(self):
        m = self.mesh
        ndev = m["tp"] * m["pp"] * m["ep"] * m["dp"]
        glabel = ("torch_jit - %s\\lMesh: tp=%d, pp=%d, ep=%d, dp=%d (%d devices)\\l"
                  % (self.title, m["tp"], m["pp"], m["ep"], m["dp"], ndev))
        out = ["// onnx2dot 0.9.2 - partitioned export of torch_jit (opset 17, float16)",
               "// node names anonymised; shapes are per device shard, token dims span the micro-batch",
               "digraph torch_jit {",
               '  graph [label="%s", labelloc=t, labeljust=l, rankdir=TB, fontname="Helvetica", '
               'fontsize=11, nodesep=0.25, ranksep=0.3];' % glabel,
               '  node [shape=box, style="filled", fontname="Helvetica", fontsize=9, '
               'fillcolor="#EEEEEE", penwidth=0.6];',
               '  edge [arrowsize=0.6, color="#555555"];']
        for nid in self.order:
            n = self.nodes[nid]
            cat = "comm" if n["shape"] == "ellipse" else n["op"].split()[0]
            fill, font = PALETTE.get(cat, ("#EEEEEE", "black"))
            style = '"filled"'
            if n["op"] in ("Input", "Output"):
                style = '"filled,rounded"'
            elif n["op"].startswith("PipelineStage"):
                style = '"filled,dashed"'
            out.append('  %s [label="%s", shape=%s, style=%s, fillcolor="%s", fontcolor="%s"];'
                       % (nid, self.label(nid), n["shape"], style, fill, font))
        for a, b, dashed in self.edges:
            out.append("  %s -> %s%s;" % (a, b, " [style=dashed]" if dashed else ""))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# builder

def build(cfg, ov=None):
    ov = ov or {}
    H, NH, HD = cfg["hidden"], cfg["heads"], cfg["head_dim"]
    TP, EP, PP, DP = cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"]
    L, E, F = cfg["layers"], cfg["experts"], cfg["ffn"]
    B, SQ, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    K = cfg.get("topk", 2)
    assert NH * HD == H and NH % TP == 0 and L % PP == 0 and (E == 0 or E % EP == 0)
    mesh = dict(tp=TP, pp=PP, ep=EP, dp=DP)
    mesh.update(ov.get("mesh", {}))
    g = Graph(cfg["title"], mesh)
    lps = L // PP
    X = S(B, SQ, H)
    TOK = S(B, SQ, dt="int64")

    def base(d, p):
        return ov.get("stage_base", {}).get((d, p), (d * PP + p) * EP * TP)

    def g_stage(d, p):
        return set(range(base(d, p), base(d, p) + EP * TP))

    def g_tp(d, p, t):
        return {base(d, p) + e * TP + t for e in range(EP)}

    def g_ep(d, p, e):
        return {base(d, p) + e * TP + t for t in range(TP)}

    for d in range(DP):
        dpa = "dp_rank=%d " % d if DP > 1 else ""

        def A(s):
            return (dpa + s).strip()

        prev = g.add("Input", "input_ids", ins=[TOK], outs=[TOK], dev=g_stage(d, 0),
                     attrs=A(""), key=dict(dp=d, name="input"))
        for p in range(PP):
            l0, l1 = p * lps, (p + 1) * lps - 1
            sd = g_stage(d, p)
            if p > 0:
                snd = g.add("Send", "pp %d->%d" % (p - 1, p), ins=[X], outs=[X],
                            dev=g_stage(d, p - 1), attrs=A("peer_stage=%d" % p), shape="ellipse",
                            key=dict(dp=d, name="send", stage=p))
                g.e(prev, snd)
                prev = snd
            mk_shape = TOK if p == 0 else X
            mk = g.add("PipelineStage %d" % p, None, ins=[mk_shape], outs=[mk_shape], dev=sd,
                       attrs=A(""), shape="cds", key=dict(dp=d, name="marker", stage=p),
                       extra=["Layers %d-%d" % (l0, l1)])
            g.e(prev, mk)
            prev = mk
            if p > 0:
                rcv = g.add("Recv", "pp %d->%d" % (p - 1, p), ins=[X], outs=[X], dev=sd,
                            attrs=A("peer_stage=%d" % (p - 1)), shape="ellipse",
                            key=dict(dp=d, name="recv", stage=p))
                g.e(prev, rcv)
                prev = rcv
            else:
                emb = g.add("Gather", "/model/embed_tokens", ins=[TOK], outs=[X], dev=sd,
                            attrs=A("axis=0 vocab=%d" % V), key=dict(dp=d, name="embed"))
                g.e(prev, emb)
                prev = emb

            for l in range(l0, l1 + 1):
                P = "/model/layers.%d" % l
                key = dict(dp=d, layer=l)
                n1 = g.add("SimplifiedLayerNormalization", P + "/input_layernorm", ins=[X],
                           outs=[X], dev=sd, attrs=A("epsilon=1e-05"), key=dict(key, name="norm1"))
                g.e(prev, n1)
                hdl = ov.get("head_dim_label", {}).get((d, l), HD)
                oprojs = []
                for t in range(TP):
                    lh = ov.get("local_heads", {}).get((d, l, t), NH // TP)
                    po = lh * HD
                    dv = g_tp(d, p, t)
                    ta = A("tp_rank=%d" % t)
                    kk = dict(key, tp=t)

                    def op(o, path, ins, outs, attrs, name):
                        return g.add(o, P + path, ins=ins, outs=outs, dev=dv, attrs=attrs,
                                     key=dict(kk, name=name))
                    ha = "%s local_heads=%d num_heads=%d head_dim=%d" % (ta, lh, NH, hdl)
                    q = op("MatMul", "/self_attn/q_proj", [X], [S(B, SQ, po)], ha, "q_proj")
                    k = op("MatMul", "/self_attn/k_proj", [X], [S(B, SQ, po)], ha, "k_proj")
                    v = op("MatMul", "/self_attn/v_proj", [X], [S(B, SQ, po)], ha, "v_proj")
                    QH, KT = S(B, lh, SQ, hdl), S(B, lh, hdl, SQ)
                    SC = S(B, lh, SQ, SQ)
                    rq = op("Reshape", "/self_attn/q_split_heads", [S(B, SQ, po)], [QH],
                            "%s shape=[%d,%d,%d,%d] perm=[0,2,1,3]" % (ta, B, SQ, lh, hdl),
                            "q_split")
                    tk = op("Transpose", "/self_attn/k_transpose", [S(B, SQ, po)], [KT],
                            "%s perm=[0,2,3,1]" % ta, "k_transpose")
                    rv = op("Reshape", "/self_attn/v_split_heads", [S(B, SQ, po)], [QH],
                            "%s shape=[%d,%d,%d,%d] perm=[0,2,1,3]" % (ta, B, SQ, lh, hdl),
                            "v_split")
                    sc = op("MatMul", "/self_attn/scores", [QH, KT], [SC], ta + " q@k^T", "scores")
                    dvn = op("Div", "/self_attn/scale", [SC], [SC],
                             "%s divisor=sqrt(%d)" % (ta, hdl), "scale")
                    sm = op("Softmax", "/self_attn", [SC], [SC], ta + " axis=-1 causal=1", "softmax")
                    pv = op("MatMul", "/self_attn/pv", [SC, QH], [QH], ta + " probs@v", "pv")
                    mg = op("Reshape", "/self_attn/merge_heads", [QH], [S(B, SQ, po)],
                            "%s shape=[%d,%d,%d]" % (ta, B, SQ, po), "merge")
                    o = op("MatMul", "/self_attn/o_proj", [S(B, SQ, po)], [X],
                           ta + " row_parallel=1 partial_sum=1", "o_proj")
                    for a, b in ((n1, q), (n1, k), (n1, v), (q, rq), (k, tk), (v, rv), (rq, sc),
                                 (tk, sc), (sc, dvn), (dvn, sm), (sm, pv), (rv, pv), (pv, mg),
                                 (mg, o)):
                        g.e(a, b)
                    oprojs.append(o)
                ar = g.add("AllReduce", "tp_group", ins=[X], outs=[X], dev=sd,
                           attrs=A("scope=%s/self_attn/o_proj reduce=sum" % P), shape="ellipse",
                           key=dict(key, name="attn_ar"))
                for o in oprojs:
                    g.e(o, ar)
                a1 = g.add("Add", P + "/residual_attn", ins=[X, X], outs=[X], dev=sd, attrs=A(""),
                           key=dict(key, name="res_attn"))
                g.e(ar, a1)
                g.e(prev, a1)
                n2 = g.add("SimplifiedLayerNormalization", P + "/post_attention_layernorm",
                           ins=[X], outs=[X], dev=sd, attrs=A("epsilon=1e-05"),
                           key=dict(key, name="norm2"))
                g.e(a1, n2)
                if E:
                    T = B * SQ
                    C = T * K // E
                    gate = g.add("TopK", P + "/mlp/gate", ins=[X],
                                 outs=[S(T, K), S(T, K, dt="int64")], dev=sd,
                                 attrs=A("k=%d num_experts=%d logits=MatMul+Softmax" % (K, E)),
                                 shape="parallelogram", key=dict(key, name="gate"))
                    g.e(n2, gate)
                    ds = g.add("ScatterND", P + "/mlp/dispatch", ins=[X, S(T, K, dt="int64")],
                               outs=[S(C, H)], dev=sd,
                               attrs=A("capacity=%d num_outputs=%d" % (C, E)),
                               shape="parallelogram", key=dict(key, name="dispatch"))
                    g.e(n2, ds)
                    g.e(gate, ds, dashed=True)
                    a2a = g.add("AllToAll", "ep_group", ins=[S(C, H)], outs=[S(C, H)], dev=sd,
                                attrs=A("scope=%s/mlp/dispatch experts_per_rank=%d" % (P, E // EP)),
                                shape="ellipse", key=dict(key, name="a2a_dispatch"))
                    g.e(ds, a2a)
                    exps = []
                    for x in range(E):
                        r = x // (E // EP)
                        ex = g.add("ExpertMLP", P + "/mlp/experts.%d" % x, ins=[S(C, H)],
                                   outs=[S(C, H)], dev=g_ep(d, p, r),
                                   attrs=A("expert_id=%d ep_rank=%d ffn_dim=%d/tp%d act=silu "
                                           "row_parallel_out=1" % (x, r, F, TP)),
                                   key=dict(key, name="expert", expert=x))
                        g.e(a2a, ex)
                        exps.append(ex)
                    if TP > 1:
                        ear = g.add("AllReduce", "tp_group", ins=[S(C, H)], outs=[S(C, H)], dev=sd,
                                    attrs=A("scope=%s/mlp/experts reduce=sum" % P),
                                    shape="ellipse", key=dict(key, name="expert_ar"))
                        for ex in exps:
                            g.e(ex, ear)
                        exps = [ear]
                    a2b = g.add("AllToAll", "ep_group", ins=[S(C, H)], outs=[S(C, H)], dev=sd,
                                attrs=A("scope=%s/mlp/combine experts_per_rank=%d" % (P, E // EP)),
                                shape="ellipse", key=dict(key, name="a2a_combine"))
                    for ex in exps:
                        g.e(ex, a2b)
                    cb = g.add("Einsum", P + "/mlp/combine", ins=[S(C, H), S(T, K)], outs=[X],
                               dev=sd, attrs=A("equation=topk_weighted_sum k=%d" % K),
                               shape="parallelogram", key=dict(key, name="combine"))
                    g.e(a2b, cb)
                    g.e(gate, cb, dashed=True)
                    mlp_out = cb
                else:
                    downs = []
                    FT = F // TP
                    for t in range(TP):
                        dv = g_tp(d, p, t)
                        ta = A("tp_rank=%d" % t)
                        kk = dict(key, tp=t)
                        gp = g.add("MatMul", P + "/mlp/gate_proj", ins=[X], outs=[S(B, SQ, FT)],
                                   dev=dv, attrs=ta + " col_parallel=1",
                                   key=dict(kk, name="gate_proj"))
                        up = g.add("MatMul", P + "/mlp/up_proj", ins=[X], outs=[S(B, SQ, FT)],
                                   dev=dv, attrs=ta + " col_parallel=1", key=dict(kk, name="up_proj"))
                        am = g.add("Mul", P + "/mlp/act_mul", ins=[S(B, SQ, FT), S(B, SQ, FT)],
                                   outs=[S(B, SQ, FT)], dev=dv, attrs=ta + " fn=silu(gate)*up",
                                   key=dict(kk, name="act_mul"))
                        dn = g.add("MatMul", P + "/mlp/down_proj", ins=[S(B, SQ, FT)], outs=[X],
                                   dev=dv, attrs=ta + " row_parallel=1 partial_sum=1",
                                   key=dict(kk, name="down_proj"))
                        for a, b in ((n2, gp), (n2, up), (gp, am), (up, am), (am, dn)):
                            g.e(a, b)
                        downs.append(dn)
                    mar = g.add("AllReduce", "tp_group", ins=[X], outs=[X], dev=sd,
                                attrs=A("scope=%s/mlp/down_proj reduce=sum" % P), shape="ellipse",
                                key=dict(key, name="mlp_ar"))
                    for dn in downs:
                        g.e(dn, mar)
                    mlp_out = mar
                a2 = g.add("Add", P + "/residual_mlp", ins=[X, X], outs=[X], dev=sd, attrs=A(""),
                           key=dict(key, name="res_mlp"))
                g.e(mlp_out, a2)
                g.e(a1, a2)
                prev = a2

            if p == PP - 1:
                fn = g.add("SimplifiedLayerNormalization", "/model/norm", ins=[X], outs=[X], dev=sd,
                           attrs=A("epsilon=1e-05"), key=dict(dp=d, name="final_norm"))
                g.e(prev, fn)
                heads = []
                for t in range(TP):
                    lm = g.add("MatMul", "/lm_head", ins=[X], outs=[S(B, SQ, V // TP)],
                               dev=g_tp(d, p, t),
                               attrs=A("tp_rank=%d vocab_shard=%d/%d" % (t, V // TP, V)),
                               key=dict(dp=d, name="lm_head", tp=t))
                    g.e(fn, lm)
                    heads.append(lm)
                if TP > 1:
                    ag = g.add("AllGather", "tp_group", ins=[S(B, SQ, V // TP)], outs=[S(B, SQ, V)],
                               dev=sd, attrs=A("scope=/lm_head axis=-1"), shape="ellipse",
                               key=dict(dp=d, name="lm_ag"))
                    for lm in heads:
                        g.e(lm, ag)
                    heads = [ag]
                out = g.add("Output", "logits", ins=[S(B, SQ, V)], outs=[S(B, SQ, V)], dev=sd,
                            attrs=A(""), key=dict(dp=d, name="output"))
                for h in heads:
                    g.e(h, out)
    return g


C1 = dict(title="moe-4L-8E (hidden 4096, 32 heads x 128, 8 experts, top-2 of 8)",
          hidden=4096, heads=32, head_dim=128, tp=2, ep=4, pp=2, dp=1, layers=4, experts=8,
          ffn=14336, batch=4, seq=2048, vocab=32000)
C2 = dict(title="moe-2L-8E (hidden 2048, 16 heads x 128, 8 experts, top-2 of 8)",
          hidden=2048, heads=16, head_dim=128, tp=4, ep=2, pp=1, dp=1, layers=2, experts=8,
          ffn=5632, batch=2, seq=1024, vocab=32000)
C3 = dict(title="dense-2L (hidden 2048, 16 heads x 128, ffn 5632), both dp replicas drawn",
          hidden=2048, heads=16, head_dim=128, tp=2, ep=1, pp=1, dp=2, layers=2, experts=0,
          ffn=5632, batch=4, seq=1024, vocab=32000)
BASES = {"clean_1.dot": C1, "clean_2.dot": C2, "clean_3.dot": C3}


# --------------------------------------------------------------------------------------------
# defects: each returns (graph, offending node ids, one-sentence description)

USED = []


def clean(name, ov=None):
    USED.append(name)
    return build(BASES[name], ov)


def d_cycle():
    g = clean("clean_2.dot")
    ar, a1 = g.find(layer=1, name="attn_ar"), g.find(layer=1, name="res_attn")
    g.e(a1, ar)
    return g, [ar, a1], ("Layer 1's attention AllReduce tp_group %s is drawn both ways with the "
                         "residual Add %s (%s -> %s and %s -> %s), a two-node cycle."
                         % (ar, a1, ar, a1, a1, ar))


def d_dangling_input():
    g = clean("clean_1.dot")
    a1, n2 = g.find(layer=1, name="res_attn"), g.find(layer=1, name="norm2")
    g.rm_edge(a1, n2)
    return g, [n2], ("Layer 1's post_attention_layernorm %s (stage 0, cuda:0-7) has no incoming "
                     "edge: its input from the residual Add %s was removed." % (n2, a1))


def d_dangling_output():
    g = clean("clean_1.dot")
    ex, ar = g.find(layer=1, name="expert", expert=5), g.find(layer=1, name="expert_ar")
    g.rm_edge(ex, ar)
    return g, [ex], ("Expert 5 of layer 1 (%s, EP rank 2, cuda:4-5) has no outgoing edge: its "
                     "output never reaches the expert AllReduce %s and the combine AllToAll."
                     % (ex, ar))


def d_attention_one_box():
    g = clean("clean_2.dot")
    boxes = []
    for t in range(4):
        q = g.find(layer=1, tp=t, name="q_proj")
        o = g.find(layer=1, tp=t, name="o_proj")
        for nm in ("k_proj", "v_proj", "q_split", "k_transpose", "v_split", "scores", "scale",
                   "softmax", "pv", "merge"):
            g.rm_node(g.find(layer=1, tp=t, name=nm))
        n = g.nodes[q]
        n["op"] = "Attention"
        n["path"] = "/model/layers.1/self_attn"
        n["attrs"] = "tp_rank=%d num_heads=4 domain=com.microsoft" % t
        n["outs"] = [S(2, 1024, 512)]
        # the box keeps q_proj's id and its input edge; its outgoing edges went with the
        # removed nodes, so wire it to o_proj
        g.e(q, o)
        boxes.append(q)
    return g, boxes, ("Layer 1's attention is drawn as one 'Attention /model/layers.1/self_attn' "
                      "box per TP rank (%s, TP ranks 0-3) instead of q/k/v projections, split "
                      "heads, scores, softmax and pv." % ", ".join(boxes))


def d_v_bypasses_softmax():
    g = clean("clean_1.dot")
    f = lambda nm: g.find(layer=1, tp=1, name=nm)
    sm, pv, rv, mg = f("softmax"), f("pv"), f("v_split"), f("merge")
    g.rm_edge(sm, pv)
    g.e(sm, mg)
    return g, [sm, pv, rv, mg], (
        "Layer 1, TP rank 1: V (%s) feeds the pv MatMul %s but the Softmax %s does not (it goes "
        "straight to merge_heads %s before the output projection), so V bypasses the attention "
        "probabilities." % (rv, pv, sm, mg))


def d_v_into_score():
    g = clean("clean_3.dot")
    f = lambda nm: g.find(dp=0, layer=0, tp=1, name=nm)
    rv, tk, sc, pv = f("v_split"), f("k_transpose"), f("scores"), f("pv")
    g.rm_edge(tk, sc)
    g.rm_edge(rv, pv)
    g.e(rv, sc)
    g.e(tk, pv)
    return g, [rv, tk, sc, pv], (
        "DP replica 0, layer 0, TP rank 1: V (%s) is wired into the scores MatMul %s instead of "
        "K^T (%s), which feeds the pv MatMul %s instead (K and V swapped)." % (rv, sc, tk, pv))


def d_qkv_into_oproj():
    g = clean("clean_3.dot")
    ids = []
    for t in range(2):
        f = lambda nm: g.find(dp=1, layer=1, tp=t, name=nm)
        q, k, v, o = f("q_proj"), f("k_proj"), f("v_proj"), f("o_proj")
        for nm in ("q_split", "k_transpose", "v_split", "scores", "scale", "softmax", "pv",
                   "merge"):
            g.rm_node(f(nm))
        for a in (q, k, v):
            g.e(a, o)
        ids += [q, k, v, o]
    return g, ids, ("DP replica 1, layer 1: Q, K and V projections go straight into the output "
                    "projection on both TP ranks (%s -> %s, %s -> %s); no scores, softmax or pv "
                    "is drawn." % (",".join(ids[0:3]), ids[3], ",".join(ids[4:7]), ids[7]))


def d_head_arithmetic():
    g = clean("clean_1.dot", dict(head_dim_label={(0, 2): 64}))
    ids = [g.find(layer=2, tp=t, name=nm) for t in range(2)
           for nm in ("q_proj", "k_proj", "v_proj", "q_split", "k_transpose", "v_split")]
    return g, ids, (
        "Layer 2 labels Q/K/V as 16 local heads x head_dim 64 on both TP ranks (16 x 64 = 1024 "
        "per rank, 32 x 64 = 2048 in total) while hidden is 4096 (4096/TP2 = 2048 per rank); "
        "e.g. %s splits float16[4,2048,2048] into float16[4,16,2048,64]." % ids[3])


def d_tp_heads():
    g = clean("clean_2.dot", dict(local_heads={(0, 0, 0): 16}))
    ids = [g.find(layer=0, tp=0, name=nm) for nm in ("q_proj", "k_proj", "v_proj")]
    return g, ids, (
        "Layer 0, TP rank 0 of TP 4: the q/k/v projections %s output all 16 heads "
        "(float16[2,1024,2048], local_heads=16) instead of 16/4 = 4 heads (512) per rank."
        % ", ".join(ids))


def d_edge_shape_mismatch():
    g = clean("clean_3.dot")
    a1, n2 = g.find(dp=0, layer=1, name="res_attn"), g.find(dp=0, layer=1, name="norm2")
    g.nodes[n2]["ins"] = [S(4, 1024, 1536)]
    return g, [a1, n2], (
        "DP replica 0, layer 1: post_attention_layernorm %s expects float16[4,1024,1536] but its "
        "producer, the residual Add %s, outputs float16[4,1024,2048] (ratio 4/3, not a parallel "
        "degree)." % (n2, a1))


def d_shard_without_gather():
    g = clean("clean_1.dot")
    ar, a1 = g.find(layer=3, name="attn_ar"), g.find(layer=3, name="res_attn")
    n = g.nodes[ar]
    n["op"] = "ReduceScatter"
    n["outs"] = [S(4, 2048, 2048)]
    n["attrs"] = "scope=/model/layers.3/self_attn/o_proj reduce=sum axis=-1"
    return g, [ar, a1], (
        "Layer 3's row-parallel o_proj output is reduce-scattered (%s) into hidden/TP = "
        "4096/2 = 2048 shards that go straight into the full-size (4096) residual Add %s with no "
        "AllGather." % (ar, a1))


def d_stage_count():
    g = clean("clean_1.dot")
    g.mesh["pp"] = 3
    m = [g.find(name="marker", stage=s) for s in range(2)]
    return g, m, ("The graph label declares pp=3 (Mesh: tp=2, pp=3, ep=4, dp=1 (24 devices)) but "
                  "only two PipelineStage markers (%s, %s) are drawn." % tuple(m))


def d_stage_range_gap():
    g = clean("clean_1.dot")
    m0, m1 = g.find(name="marker", stage=0), g.find(name="marker", stage=1)
    g.nodes[m0]["extra"] = ["Layers 0-0"]
    n1 = g.find(layer=1, name="norm1")
    return g, [m0, m1, n1], (
        "PipelineStage 0 (%s) claims layers 0-0 and PipelineStage 1 (%s) layers 2-3: layer 1 is "
        "in no stage's range (gap), although its operators (from %s) are drawn in stage 0."
        % (m0, m1, n1))


def d_stage_missing_layer():
    g = clean("clean_1.dot")
    for nid in g.findall(layer=3):
        g.rm_node(nid)
    m1, a2, fn = g.find(name="marker", stage=1), g.find(layer=2, name="res_mlp"), \
        g.find(name="final_norm")
    g.e(a2, fn)
    return g, [m1, a2, fn], (
        "PipelineStage 1 (%s) claims layers 2-3 but no operator of layer 3 is drawn: layer 2's "
        "residual Add %s feeds the final norm %s directly." % (m1, a2, fn))


def d_no_stage_transfer():
    g = clean("clean_1.dot")
    snd, rcv = g.find(name="send", stage=1), g.find(name="recv", stage=1)
    m1 = g.find(name="marker", stage=1)
    a2 = g.find(layer=1, name="res_mlp")
    n1, ra = g.find(layer=2, name="norm1"), g.find(layer=2, name="res_attn")
    g.rm_node(snd)
    g.rm_node(rcv)
    g.e(a2, m1)
    g.e(m1, n1)
    g.e(m1, ra)
    return g, [a2, m1, n1, ra], (
        "Stage 0 (cuda:0-7) and stage 1 (cuda:8-15) are joined by plain edges: layer 1's "
        "residual Add %s feeds PipelineStage 1 %s, which feeds layer 2 (%s, %s); the Send/Recv "
        "pp 0->1 pair is missing." % (a2, m1, n1, ra))


def d_experts_subset_ranks():
    g = clean("clean_1.dot")
    ids = []
    for x in range(8):
        ex = g.find(layer=1, name="expert", expert=x)
        r = x // 4
        g.nodes[ex]["dev"] = {2 * r, 2 * r + 1}
        g.nodes[ex]["attrs"] = ("expert_id=%d ep_rank=%d ffn_dim=14336/tp2 act=silu "
                                "row_parallel_out=1" % (x, r))
        ids.append(ex)
    return g, ids, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (cuda:0-3, experts 0-3 on "
                    "cuda:0-1, 4-7 on cuda:2-3); EP ranks 2 and 3 (cuda:4-7) hold none of its "
                    "experts although ep=4.")


def d_experts_uneven():
    g = clean("clean_1.dot")
    ex = g.find(layer=2, name="expert", expert=3)
    g.nodes[ex]["dev"] = {8, 9}
    g.nodes[ex]["attrs"] = "expert_id=3 ep_rank=0 ffn_dim=14336/tp2 act=silu row_parallel_out=1"
    return g, [ex], ("Layer 2's expert 3 (%s) sits on EP rank 0 (cuda:8-9) instead of rank 1 "
                     "(cuda:10-11): ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each." % ex)


def d_experts_share_gpu():
    g = clean("clean_2.dot")
    ex = g.find(layer=1, name="expert", expert=5)
    g.nodes[ex]["dev"] = {0, 1, 2, 3}
    return g, [ex], ("Layer 1's expert 5 (%s, ep_rank=1) is placed on cuda:0-3, which hold EP "
                     "rank 0's experts 0-3, instead of EP rank 1's cuda:4-7." % ex)


def d_no_gate():
    g = clean("clean_2.dot")
    gate = g.find(layer=1, name="gate")
    n2, ds, cb = (g.find(layer=1, name=nm) for nm in ("norm2", "dispatch", "combine"))
    g.rm_node(gate)
    return g, [n2, ds, cb], (
        "Layer 1 has no MoE router: the TopK gate is missing, the post_attention_layernorm %s "
        "goes straight into the dispatch %s and the experts, and the combine %s gets no routing "
        "weights." % (n2, ds, cb))


def d_no_all_to_all():
    g = clean("clean_1.dot")
    a2a = g.find(layer=1, name="a2a_dispatch")
    ds = g.find(layer=1, name="dispatch")
    g.rm_node(a2a)
    exps = g.findall(layer=1, name="expert")
    for ex in exps:
        g.e(ds, ex)
    return g, [ds] + exps, (
        "Layer 1's dispatch %s sends tokens straight to the 8 experts on EP ranks 0-3 (ep=4, "
        "cuda:0-7) without a dispatch AllToAll; only the combine AllToAll remains." % ds)


def d_tp_rank_missing():
    g = clean("clean_2.dot")
    for nid in g.findall(layer=1, tp=3):
        g.rm_node(nid)
    n1, ar = g.find(layer=1, name="norm1"), g.find(layer=1, name="attn_ar")
    return g, [n1, ar], (
        "Layer 1's attention operators (between %s and the AllReduce %s) are drawn for TP ranks "
        "0-2 only; TP rank 3 (cuda:3,7) of tp=4 is missing." % (n1, ar))


def d_no_allreduce_after_rowparallel():
    g = clean("clean_3.dot")
    mar = g.find(dp=0, layer=0, name="mlp_ar")
    a2 = g.find(dp=0, layer=0, name="res_mlp")
    dns = [g.find(dp=0, layer=0, tp=t, name="down_proj") for t in range(2)]
    g.rm_node(mar)
    for dn in dns:
        g.e(dn, a2)
    return g, dns + [a2], (
        "DP replica 0, layer 0: the row-parallel down_proj MatMuls %s and %s (TP ranks 0-1, "
        "cuda:0 and cuda:1) feed the residual Add %s directly, without the tp_group AllReduce of "
        "their partial sums." % (dns[0], dns[1], a2))


def d_cross_gpu_no_comm():
    g = clean("clean_1.dot")
    rcv = g.find(name="recv", stage=1)
    a1 = g.find(layer=2, name="res_attn")
    src = g.find(layer=1, name="res_mlp")
    g.rm_edge(rcv, a1)
    g.e(src, a1)
    return g, [src, a1], (
        "Layer 2's residual Add %s (stage 1, cuda:8-15) takes its skip input by a plain edge from "
        "layer 1's residual Add %s on stage 0 (cuda:0-7) instead of from the Recv, with no "
        "communication node." % (a1, src))


def d_comm_wrong_shape():
    g = clean("clean_2.dot")
    ar = g.find(layer=1, name="attn_ar")
    g.nodes[ar]["shape"] = "box"
    return g, [ar], ("Layer 1's attention AllReduce tp_group %s is drawn as a box (computation) "
                     "instead of an ellipse." % ar)


def d_missing_gpu():
    g = clean("clean_1.dot")
    sm = g.find(layer=0, tp=1, name="softmax")
    g.nodes[sm]["dev"] = None
    return g, [sm], "Softmax %s of layer 0, TP rank 1 has no Device line." % sm


def d_gpu_out_of_range():
    g = clean("clean_2.dot")
    ex = g.find(layer=1, name="expert", expert=5)
    g.nodes[ex]["dev"] = {8, 9, 10, 11}
    return g, [ex], ("Layer 1's expert 5 (%s) is placed on cuda:8-11, beyond the 8 devices of "
                     "tp=4 x pp=1 x ep=2 x dp=1 (ids 0-7)." % ex)


def d_stages_share_gpus():
    g = clean("clean_1.dot", dict(stage_base={(0, 1): 4}))
    m0, m1 = g.find(name="marker", stage=0), g.find(name="marker", stage=1)
    return g, [m0, m1], ("PipelineStage 1 (%s) and all its operators are placed on cuda:4-11, "
                         "overlapping stage 0's cuda:0-7 (%s): cuda:4-7 are in both." % (m1, m0))


def d_strategy_mismatch():
    g = clean("clean_2.dot")
    g.mesh["tp"] = 8
    return g, [], ("The graph label declares tp=8 (Mesh: tp=8, pp=1, ep=2, dp=1 (16 devices)) but "
                   "every tensor-parallel operator is drawn for tp_rank 0-3 only (TP 4, 8 "
                   "devices).")


def d_missing_shapes():
    g = clean("clean_2.dot")
    o = g.find(layer=1, tp=1, name="o_proj")
    g.nodes[o]["ins"] = []
    g.nodes[o]["outs"] = []
    return g, [o], "o_proj MatMul %s of layer 1, TP rank 1 has no Input or Output line." % o


def d_placeholder():
    g = clean("clean_1.dot")
    gate = g.find(layer=2, name="gate")
    g.nodes[gate]["ins"] = ["float16[?,2048,4096]"]
    return g, [gate], ("Layer 2's TopK router %s gives its input as float16[?,2048,4096], a "
                       "placeholder batch dimension instead of 4." % gate)


def d_moe_before_attention():
    g = clean("clean_2.dot")
    x = g.find(layer=0, name="res_mlp")
    n1, a1, n2, a2 = (g.find(layer=1, name=nm) for nm in ("norm1", "res_attn", "norm2", "res_mlp"))
    fn = g.find(name="final_norm")
    for a, b in ((x, n1), (x, a1), (a1, n2), (a1, a2), (a2, fn)):
        g.rm_edge(a, b)
    for a, b in ((x, n2), (x, a2), (a2, n1), (a2, a1), (a1, fn)):
        g.e(a, b)
    return g, [n1, a1, n2, a2], (
        "Layer 1 runs its MoE block before its attention block: layer 0's output goes to "
        "post_attention_layernorm %s and the MoE residual %s, whose output feeds input_layernorm "
        "%s; the attention residual %s feeds the final norm." % (n2, a2, n1, a1))


def d_missing_residual():
    g = clean("clean_3.dot")
    a1 = g.find(dp=0, layer=1, name="res_attn")
    src = g.find(dp=0, layer=0, name="res_mlp")
    g.rm_edge(src, a1)
    return g, [a1, src], ("DP replica 0, layer 1's attention residual Add %s is fed only by the "
                          "AllReduce; the skip edge from layer 0's residual Add %s is missing."
                          % (a1, src))


DEFECTS = [  # kind, category, base, function
    ("cycle", "structure", "clean_2.dot", d_cycle),
    ("dangling_input", "structure", "clean_1.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_1.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_2.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_3.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_2.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_1.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_1.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_2.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_2.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_1.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_2.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE deployment, tp=2 x ep=4 x pp=2 (16 devices): 4 layers, stage 0 "
                   "layers 0-1 on cuda:0-7, stage 1 layers 2-3 on cuda:8-15 joined by Send/Recv "
                   "pp 0->1; 8 experts, 2 per EP rank.",
    "clean_2.dot": "Correct MoE deployment, tp=4 x ep=2, single stage (8 devices): 2 layers, 8 "
                   "experts, 4 per EP rank (cuda:0-3, cuda:4-7).",
    "clean_3.dot": "Correct dense deployment, tp=2 x dp=2 (4 devices): 2 layers, both DP "
                   "replicas drawn (dp0 on cuda:0-1, dp1 on cuda:2-3).",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in BASES.items():
        g = build(cfg)
        with open(os.path.join(OUT, name), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=name, kind="clean", category=None, base=None, nodes=[],
                             what=CLEAN_WHAT[name]))
    for kind, cat, base, fn in DEFECTS:
        del USED[:]
        g, nodes, what = fn()
        assert USED == [base], (kind, USED, base)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        for n in nodes:
            assert n in g.nodes, (kind, n)
        manifest.append(dict(file=fname, kind=kind, category=cat, base=base, nodes=nodes,
                             what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
