#!/usr/bin/env python3
"""Independent generator of deployment DAGs (house style I).

Style: ids are quoted dotted PyTorch module paths with rank suffixes
("model.layers.2.self_attn.q_proj[ep=0,tp=1]"), labels are plain multi-line
strings whose first line is a lowercase function call, shapes are written as
in=[B=4, S=1024, D=2048] / out=[...], placement as dev=gpu:5 / dev=gpu:0..3 /
dev=gpu:0,2. Pipeline stages are clusters labelled "pp_stage=1 layers=2..3".
Strategy is in the graph label ("tp=2 pp=2 ep=2 dp=1") and a // comment.

GPU layout (product layout, dp=1): gpu(stage, ep_rank, tp_rank) =
stage_base(stage) + ep_rank*TP + tp_rank, so a stage holds EP*TP GPUs and the
whole graph EP*TP*PP GPUs. Each EP rank is a TP group: attention runs
tensor-parallel inside every EP group on that group's share of the batch
(B/EP), experts are sharded over the TP ranks of their EP group and
all-reduced before the combine all-to-all.

Run: python3 gen.py   -> writes out/*.dot and out/manifest.json
"""
import copy
import json
import os
from collections import OrderedDict

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


# ----------------------------------------------------------------- graph model
def shp(*kv):
    return list(kv)


def render_shape(s):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in s) + "]"


def devstr(gpus):
    gpus = sorted(set(gpus))
    if len(gpus) == 1:
        return "gpu:%d" % gpus[0]
    if gpus == list(range(gpus[0], gpus[-1] + 1)):
        return "gpu:%d..%d" % (gpus[0], gpus[-1])
    return "gpu:" + ",".join(str(g) for g in gpus)


class G:
    def __init__(self, strategy, model_comment):
        self.strategy = dict(strategy)      # tp pp ep dp as declared
        self.model_comment = model_comment
        self.nodes = OrderedDict()
        self.edges = []                     # [src, dst, attrs-dict]
        self.stage_labels = {}              # stage -> (first, last)
        self.kind = "MoE"

    def node(self, nid, op, ins=None, out=None, dev=None, shape="box",
             cluster=None, extra=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, ins=ins, out=out, dev=dev, shape=shape,
                               cluster=cluster, extra=list(extra or []))
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def del_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def del_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def rename(self, old, new):
        self.nodes = OrderedDict((new if k == old else k, v)
                                 for k, v in self.nodes.items())
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # ------------------------------------------------------------ rendering
    def strategy_text(self):
        s = self.strategy
        return "tp=%d pp=%d ep=%d dp=%d" % (s["tp"], s["pp"], s["ep"], s["dp"])

    def label(self, n):
        lines = [n["op"]] + n["extra"]
        if n["ins"] is not None:
            lines.append("in=" + ", ".join(render_shape(s) for s in n["ins"]))
        if n["out"] is not None:
            lines.append("out=" + render_shape(n["out"]))
        if n["dev"] is not None:
            lines.append("dev=" + devstr(n["dev"]))
        return "\\n".join(lines)

    def node_line(self, nid, indent):
        n = self.nodes[nid]
        return '%s"%s" [shape=%s, label="%s"];' % (indent, nid, n["shape"],
                                                  self.label(n))

    def render(self):
        out = ["// " + self.strategy_text() + " " + self.kind + " LLM inference DAG, one forward pass",
               "// " + self.model_comment,
               "digraph deployment {",
               '  label="%s";' % self.strategy_text(),
               "  labelloc=t;",
               "  rankdir=TB;",
               '  node [fontname="Helvetica", fontsize=10];',
               ""]
        clusters = sorted({n["cluster"] for n in self.nodes.values()
                           if n["cluster"] is not None})
        for c in clusters:
            a, b = self.stage_labels[c]
            out.append("  subgraph cluster_pp%d {" % c)
            out.append('    label="pp_stage=%d layers=%d..%d";' % (c, a, b))
            out.append("    style=rounded;")
            for nid, n in self.nodes.items():
                if n["cluster"] == c:
                    out.append(self.node_line(nid, "    "))
            out.append("  }")
            out.append("")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(self.node_line(nid, "  "))
        out.append("")
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join("%s=%s" % kv for kv in sorted(attrs.items())) + "]"
            out.append('  "%s" -> "%s"%s;' % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------- builder
class Ctx:
    """Holds config and naming helpers for one deployment."""

    def __init__(self, c):
        self.c = c
        self.TP, self.PP, self.EP = c["tp"], c["pp"], c["ep"]
        self.L = c["layers"]
        self.per_stage = self.L // self.PP
        self.b = c["B"] // self.EP
        self.stage_base = c.get("stage_base") or {
            s: s * self.EP * self.TP for s in range(self.PP)}

    def gpu(self, s, e, t):
        return self.stage_base[s] + e * self.TP + t

    def rid(self, base, e, t):
        if self.EP > 1:
            return "%s[ep=%d,tp=%d]" % (base, e, t)
        return "%s[tp=%d]" % (base, t)

    def gid(self, base, e):
        return "%s[ep=%d]" % (base, e) if self.EP > 1 else base

    def stage(self, l):
        return l // self.per_stage

    # shapes
    def X(self):
        c = self.c
        return shp(("B", self.b), ("S", c["S"]), ("D", c["D"]))

    def QS(self):
        c = self.c
        return shp(("B", self.b), ("S", c["S"]), ("heads", c["heads"] // self.TP),
                   ("head_dim", c["head_dim"]))

    def PS(self):
        c = self.c
        return shp(("B", self.b), ("heads", c["heads"] // self.TP), ("Sq", c["S"]),
                   ("Sk", c["S"]))

    def RS(self):
        c = self.c
        return shp(("B", self.b), ("S", c["S"]), ("K", c["top_k"]))

    def TS(self):
        c = self.c
        return shp(("T", c["B"] * c["S"] * c["top_k"] // c["experts"]), ("D", c["D"]))

    def CS(self):
        c = self.c
        return shp(("B", self.b), ("S", c["S"]), ("K", c["top_k"]), ("D", c["D"]))

    def FS(self):
        c = self.c
        return shp(("B", self.b), ("S", c["S"]), ("F", c["ffn"] // self.TP))


def build(c):
    x = Ctx(c)
    TP, PP, EP, L = x.TP, x.PP, x.EP, x.L
    assert c["heads"] * c["head_dim"] == c["D"]
    assert c["heads"] % TP == 0 and c["B"] % EP == 0 and L % PP == 0
    moe = c["moe"]
    if moe:
        assert c["experts"] % EP == 0
        mc = ("model: layers=%d hidden=%d heads=%d head_dim=%d experts=%d top_k=%d "
              "vocab=%d batch=%d seq=%d" % (L, c["D"], c["heads"], c["head_dim"],
                                            c["experts"], c["top_k"], c["vocab"],
                                            c["B"], c["S"]))
    else:
        mc = ("model: layers=%d hidden=%d heads=%d head_dim=%d ffn=%d vocab=%d "
              "batch=%d seq=%d (dense)" % (L, c["D"], c["heads"], c["head_dim"],
                                           c["ffn"], c["vocab"], c["B"], c["S"]))
    g = G(dict(tp=TP, pp=PP, ep=EP, dp=1), mc)
    g.kind = "MoE" if moe else "dense"
    for s in range(PP):
        g.stage_labels[s] = (s * x.per_stage, (s + 1) * x.per_stage - 1)
    b, S, D, V = x.b, c["S"], c["D"], c["vocab"]
    ranks = [(e, t) for e in range(EP) for t in range(TP)]
    stage_gpus = lambda s: [x.gpu(s, e, t) for e, t in ranks]

    # ---- input, scatter/broadcast, embedding
    g.node("input", "input(token_ids)", ins=[shp(("B", c["B"]), ("S", S))],
           out=shp(("B", c["B"]), ("S", S)), dev=[x.gpu(0, 0, 0)], cluster=0)
    if EP > 1:
        sc = g.node("model.input.scatter", "scatter(dim=0)",
                    ins=[shp(("B", c["B"]), ("S", S))], out=shp(("B", b), ("S", S)),
                    dev=stage_gpus(0), shape="ellipse", cluster=0)
    else:
        sc = g.node("model.input.broadcast", "broadcast(src=0)",
                    ins=[shp(("B", c["B"]), ("S", S))], out=shp(("B", b), ("S", S)),
                    dev=stage_gpus(0), shape="ellipse", cluster=0)
    g.edge("input", sc)
    cur = {}
    for e, t in ranks:
        n = g.node(x.rid("model.embed_tokens", e, t), "embedding(ids)",
                   ins=[shp(("B", b), ("S", S))], out=x.X(), dev=[x.gpu(0, e, t)],
                   cluster=0)
        g.edge(sc, n)
        cur[(e, t)] = n

    for l in range(L):
        s = x.stage(l)
        p = "model.layers.%d" % l
        if l > 0 and x.stage(l - 1) != s:
            for e, t in ranks:
                n = g.node(x.rid("pipeline.send_recv.stage%d_to_stage%d" % (s - 1, s), e, t),
                           "send_recv(pp %d->%d)" % (s - 1, s), ins=[x.X()], out=x.X(),
                           dev=[x.gpu(s - 1, e, t), x.gpu(s, e, t)], shape="ellipse")
                g.edge(cur[(e, t)], n)
                cur[(e, t)] = n
        # ---- attention
        for e in range(EP):
            ar = g.node(x.gid(p + ".self_attn.o_proj.all_reduce", e), "all_reduce(sum)",
                        ins=[x.X()], out=x.X(), dev=[x.gpu(s, e, t) for t in range(TP)],
                        shape="ellipse", cluster=s)
            for t in range(TP):
                d = [x.gpu(s, e, t)]
                r = lambda base: x.rid(p + base, e, t)
                n1 = g.node(r(".input_layernorm"), "rms_norm(x)", ins=[x.X()], out=x.X(),
                            dev=d, cluster=s)
                q = g.node(r(".self_attn.q_proj"), "linear_q(x)", ins=[x.X()], out=x.QS(),
                           dev=d, cluster=s)
                k = g.node(r(".self_attn.k_proj"), "linear_k(x)", ins=[x.X()], out=x.QS(),
                           dev=d, cluster=s)
                v = g.node(r(".self_attn.v_proj"), "linear_v(x)", ins=[x.X()], out=x.QS(),
                           dev=d, cluster=s)
                scn = g.node(r(".self_attn.scores"), "matmul(q, k.T) / sqrt(d)",
                             ins=[x.QS(), x.QS()], out=x.PS(), dev=d, cluster=s)
                sm = g.node(r(".self_attn.softmax"), "softmax(s, dim=-1)", ins=[x.PS()],
                            out=x.PS(), dev=d, cluster=s)
                cx = g.node(r(".self_attn.context"), "matmul(p, v)", ins=[x.PS(), x.QS()],
                            out=x.QS(), dev=d, cluster=s)
                o = g.node(r(".self_attn.o_proj"), "linear_o(ctx)", ins=[x.QS()], out=x.X(),
                           dev=d, cluster=s)
                a1 = g.node(r(".residual_attn"), "x + attn", ins=[x.X(), x.X()], out=x.X(),
                            dev=d, cluster=s)
                g.edge(cur[(e, t)], n1)
                for pr in (q, k, v):
                    g.edge(n1, pr)
                g.edge(q, scn)
                g.edge(k, scn)
                g.edge(scn, sm)
                g.edge(sm, cx)
                g.edge(v, cx)
                g.edge(cx, o)
                g.edge(o, ar)
                g.edge(ar, a1)
                g.edge(cur[(e, t)], a1)
                cur[(e, t)] = a1
        # ---- MLP / MoE
        if moe:
            E, K = c["experts"], c["top_k"]
            per = E // EP
            disp, comb = {}, {}
            for t in range(TP):
                grp = [x.gpu(s, e, t) for e in range(EP)]
                disp[t] = g.node("%s.mlp.dispatch[tp=%d]" % (p, t), "all_to_all(dispatch)",
                                 ins=[x.X(), x.RS()], out=x.TS(), dev=grp, shape="ellipse",
                                 cluster=s)
                comb[t] = g.node("%s.mlp.combine[tp=%d]" % (p, t), "all_to_all(combine)",
                                 ins=[x.TS()], out=x.CS(), dev=grp, shape="ellipse",
                                 cluster=s)
            routers = {}
            for e, t in ranks:
                d = [x.gpu(s, e, t)]
                n2 = g.node(x.rid(p + ".post_attention_layernorm", e, t), "rms_norm(x)",
                            ins=[x.X()], out=x.X(), dev=d, cluster=s)
                rt = g.node(x.rid(p + ".mlp.gate", e, t), "router(x) -> top%d" % K,
                            extra=["num_experts=%d" % E], ins=[x.X()], out=x.RS(), dev=d,
                            shape="parallelogram", cluster=s)
                routers[(e, t)] = rt
                g.edge(cur[(e, t)], n2)
                g.edge(n2, rt)
                g.edge(n2, disp[t])
                g.edge(rt, disp[t], style="dashed")
            for e2 in range(EP):
                for j in range(e2 * per, (e2 + 1) * per):
                    if TP > 1:
                        ear = g.node("%s.mlp.experts.%d.all_reduce[ep=%d]" % (p, j, e2),
                                     "all_reduce(sum)", ins=[x.TS()], out=x.TS(),
                                     dev=[x.gpu(s, e2, t) for t in range(TP)],
                                     shape="ellipse", cluster=s)
                    for t in range(TP):
                        ex = g.node("%s.mlp.experts.%d[ep=%d,tp=%d]" % (p, j, e2, t),
                                    "expert_%d(x)" % j, ins=[x.TS()], out=x.TS(),
                                    dev=[x.gpu(s, e2, t)], cluster=s)
                        g.edge(disp[t], ex)
                        if TP > 1:
                            g.edge(ex, ear)
                        else:
                            g.edge(ex, comb[t])
                    if TP > 1:
                        for t in range(TP):
                            g.edge(ear, comb[t])
            for e, t in ranks:
                d = [x.gpu(s, e, t)]
                ag = g.node(x.rid(p + ".mlp.weighted_sum", e, t), "sum(weights * y)",
                            ins=[x.CS(), x.RS()], out=x.X(), dev=d, shape="parallelogram",
                            cluster=s)
                a2 = g.node(x.rid(p + ".residual_mlp", e, t), "x + moe",
                            ins=[x.X(), x.X()], out=x.X(), dev=d, cluster=s)
                g.edge(comb[t], ag)
                g.edge(routers[(e, t)], ag)
                g.edge(ag, a2)
                g.edge(cur[(e, t)], a2)
                cur[(e, t)] = a2
        else:
            for e in range(EP):
                ar = g.node(x.gid(p + ".mlp.down_proj.all_reduce", e), "all_reduce(sum)",
                            ins=[x.X()], out=x.X(), dev=[x.gpu(s, e, t) for t in range(TP)],
                            shape="ellipse", cluster=s)
                for t in range(TP):
                    d = [x.gpu(s, e, t)]
                    r = lambda base: x.rid(p + base, e, t)
                    n2 = g.node(r(".post_attention_layernorm"), "rms_norm(x)", ins=[x.X()],
                                out=x.X(), dev=d, cluster=s)
                    gp = g.node(r(".mlp.gate_proj"), "linear_gate(x)", ins=[x.X()],
                                out=x.FS(), dev=d, cluster=s)
                    up = g.node(r(".mlp.up_proj"), "linear_up(x)", ins=[x.X()], out=x.FS(),
                                dev=d, cluster=s)
                    act = g.node(r(".mlp.act_fn"), "silu(g) * u", ins=[x.FS(), x.FS()],
                                 out=x.FS(), dev=d, cluster=s)
                    dn = g.node(r(".mlp.down_proj"), "linear_down(h)", ins=[x.FS()],
                                out=x.X(), dev=d, cluster=s)
                    a2 = g.node(r(".residual_mlp"), "x + mlp", ins=[x.X(), x.X()],
                                out=x.X(), dev=d, cluster=s)
                    g.edge(cur[(e, t)], n2)
                    g.edge(n2, gp)
                    g.edge(n2, up)
                    g.edge(gp, act)
                    g.edge(up, act)
                    g.edge(act, dn)
                    g.edge(dn, ar)
                    g.edge(ar, a2)
                    g.edge(cur[(e, t)], a2)
                    cur[(e, t)] = a2

    # ---- final norm, vocab-parallel LM head, gathers, output
    s = PP - 1
    VS = shp(("B", b), ("S", S), ("V", V // TP))
    VF = shp(("B", b), ("S", S), ("V", V))
    gathers = []
    for e in range(EP):
        ag = g.node(x.gid("lm_head.all_gather", e), "all_gather(dim=-1)", ins=[VS], out=VF,
                    dev=[x.gpu(s, e, t) for t in range(TP)], shape="ellipse", cluster=s)
        gathers.append(ag)
        for t in range(TP):
            d = [x.gpu(s, e, t)]
            fn = g.node(x.rid("model.norm", e, t), "rms_norm(x)", ins=[x.X()], out=x.X(),
                        dev=d, cluster=s)
            lm = g.node(x.rid("lm_head", e, t), "linear_lm_head(x)", ins=[x.X()], out=VS,
                        dev=d, cluster=s)
            g.edge(cur[(e, t)], fn)
            g.edge(fn, lm)
            g.edge(lm, ag)
    FULL = shp(("B", c["B"]), ("S", S), ("V", V))
    g.node("output", "output(logits)", ins=[FULL], out=FULL, dev=[x.gpu(s, 0, 0)],
           cluster=s)
    if EP > 1:
        gb = g.node("lm_head.gather_batch", "gather(dim=0)", ins=[VF], out=FULL,
                    dev=stage_gpus(s), shape="ellipse", cluster=s)
        for ag in gathers:
            g.edge(ag, gb)
        g.edge(gb, "output")
    else:
        g.edge(gathers[0], "output")
    g.ctx = x
    return g


CLEAN = {
    # MoE, EP>1 and TP>1, single stage
    "clean_1": dict(tp=2, pp=1, ep=2, layers=2, D=2048, heads=16, head_dim=128, B=4,
                    S=1024, vocab=32000, moe=True, experts=4, top_k=2),
    # MoE with PP=2
    "clean_2": dict(tp=2, pp=2, ep=2, layers=4, D=4096, heads=32, head_dim=128, B=4,
                    S=512, vocab=32000, moe=True, experts=8, top_k=2),
    # dense, TP=4, PP=2
    "clean_3": dict(tp=4, pp=2, ep=1, layers=4, D=4096, heads=32, head_dim=128, B=8,
                    S=512, vocab=32000, moe=False, ffn=11008),
}


def set_dim(s, key, val):
    return [(k, val if k == key else v) for k, v in s]


# ----------------------------------------------------------------- defects
# each returns (graph, nodes, category, what)
def d_cycle(g):
    a = "model.layers.1.mlp.dispatch[tp=0]"
    b = "model.layers.1.mlp.gate[ep=0,tp=0]"
    g.edge(a, b)
    return [a, b], "structure", ("The dispatch all-to-all of layer 1 is drawn both ways: "
                                 "gate -> all_to_all(dispatch) and all_to_all(dispatch) -> gate, a 2-cycle.")


def d_dangling_input(g):
    a = "model.layers.1.input_layernorm[tp=2]"
    b = "model.layers.1.self_attn.k_proj[tp=2]"
    g.del_edge(a, b)
    return [b], "structure", "Layer 1 k_proj on TP rank 2 has no incoming edge (its rms_norm input edge is missing)."


def d_dangling_output(g):
    a = "model.layers.1.mlp.experts.1[ep=0,tp=1]"
    b = "model.layers.1.mlp.experts.1.all_reduce[ep=0]"
    g.del_edge(a, b)
    return [a], "structure", "Expert 1 (EP rank 0, TP rank 1) of layer 1 has no outgoing edge: its output goes nowhere."


def _ranks(g):
    x = g.ctx
    return [(e, t) for e in range(x.EP) for t in range(x.TP)]


def d_attention_one_box(g):
    x = g.ctx
    p = "model.layers.1"
    nodes = []
    for e, t in _ranks(g):
        r = lambda base: x.rid(p + base, e, t)
        for base in (".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                     ".self_attn.scores", ".self_attn.softmax", ".self_attn.context",
                     ".self_attn.o_proj"):
            g.del_node(r(base))
        s = x.stage(1)
        n = g.node(r(".self_attn"), "multi_head_attention(x)", ins=[x.X()], out=x.X(),
                   dev=[x.gpu(s, e, t)], cluster=s)
        g.edge(r(".input_layernorm"), n)
        g.edge(n, x.gid(p + ".self_attn.o_proj.all_reduce", e))
        nodes.append(n)
    return nodes, "attention", ("Layer 1 attention is drawn as one multi_head_attention(x) box per rank "
                                "instead of q/k/v projections, score, softmax, weighted sum and o_proj.")


def d_v_bypasses_softmax(g):
    x = g.ctx
    p = "model.layers.0"
    nodes = []
    for e, t in _ranks(g):
        r = lambda base: x.rid(p + base, e, t)
        g.del_edge(r(".self_attn.softmax"), r(".self_attn.context"))
        g.edge(r(".self_attn.softmax"), r(".self_attn.o_proj"))
        g.nodes[r(".self_attn.context")]["ins"] = [x.QS()]
        g.nodes[r(".self_attn.o_proj")]["ins"] = [x.QS(), x.PS()]
        nodes += [r(".self_attn.softmax"), r(".self_attn.context"), r(".self_attn.v_proj")]
    return nodes, "attention", ("In layer 0 the weighted sum matmul(p, v) is fed only by V; the softmax "
                                "goes to o_proj instead, so V bypasses the attention probabilities.")


def d_v_into_score(g):
    x = g.ctx
    p = "model.layers.0"
    nodes = []
    for e, t in _ranks(g):
        r = lambda base: x.rid(p + base, e, t)
        g.del_edge(r(".self_attn.k_proj"), r(".self_attn.scores"))
        g.del_edge(r(".self_attn.v_proj"), r(".self_attn.context"))
        g.edge(r(".self_attn.v_proj"), r(".self_attn.scores"))
        g.edge(r(".self_attn.k_proj"), r(".self_attn.context"))
        nodes += [r(".self_attn.v_proj"), r(".self_attn.scores")]
    return nodes, "attention", ("In layer 0 V (not K) is wired into the score matmul(q, k.T) "
                                "(and K into the weighted sum): K and V are swapped.")


def d_qkv_into_oproj(g):
    x = g.ctx
    p = "model.layers.1"
    nodes = []
    for e, t in _ranks(g):
        r = lambda base: x.rid(p + base, e, t)
        for base in (".self_attn.scores", ".self_attn.softmax", ".self_attn.context"):
            g.del_node(r(base))
        o = r(".self_attn.o_proj")
        for base in (".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj"):
            g.edge(r(base), o)
        g.nodes[o]["ins"] = [x.QS(), x.QS(), x.QS()]
        nodes.append(o)
    return nodes, "attention", ("In layer 1 Q, K and V go straight into linear_o; there is no score, "
                                "softmax or weighted sum.")


def d_head_arithmetic(g):
    x = g.ctx
    p = "model.layers.1"
    nodes = []
    for e, t in _ranks(g):
        r = lambda base: x.rid(p + base, e, t)
        for base in (".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                     ".self_attn.context"):
            n = g.nodes[r(base)]
            n["out"] = set_dim(n["out"], "head_dim", 64)
            nodes.append(r(base))
        for base in (".self_attn.scores", ".self_attn.context", ".self_attn.o_proj"):
            n = g.nodes[r(base)]
            n["ins"] = [set_dim(s, "head_dim", 64) for s in n["ins"]]
    return sorted(set(nodes)), "attention", ("Layer 1 labels use head_dim=64 with 16 heads (8 per TP rank): "
                                             "16 x 64 = 1024 != hidden 2048.")


def d_tp_heads(g):
    x = g.ctx
    p = "model.layers.1"
    e, t = 0, 0
    H = x.c["heads"]
    r = lambda base: x.rid(p + base, e, t)
    nodes = []
    for base in (".self_attn.q_proj", ".self_attn.k_proj", ".self_attn.v_proj",
                 ".self_attn.scores", ".self_attn.softmax", ".self_attn.context"):
        n = g.nodes[r(base)]
        n["out"] = set_dim(n["out"], "heads", H)
        nodes.append(r(base))
    for base in (".self_attn.scores", ".self_attn.softmax", ".self_attn.context",
                 ".self_attn.o_proj"):
        n = g.nodes[r(base)]
        n["ins"] = [set_dim(s, "heads", H) for s in n["ins"]]
    return nodes[:3], "attention", ("On TP rank 0 (EP rank 0) of layer 1 the q/k/v projections output all "
                                    "16 heads instead of 16/TP2 = 8 (the rank's attention chain follows).")


def d_edge_shape_mismatch(g):
    x = g.ctx
    a = x.rid("model.layers.0.self_attn.scores", 0, 1)
    b = x.rid("model.layers.0.self_attn.softmax", 0, 1)
    g.nodes[b]["ins"] = [set_dim(s, "Sk", 768) for s in g.nodes[b]["ins"]]
    return [a, b], "shape", ("Layer 0 softmax (EP0 TP1) declares in Sk=768 but its producer, the score "
                             "matmul, outputs Sk=1024 (factor 3/4, not a parallel degree).")


def d_shard_without_gather(g):
    x = g.ctx
    p = "model.layers.1"
    D, TP = x.c["D"], x.TP
    g.del_node(p + ".mlp.down_proj.all_reduce")
    nodes = []
    for t in range(TP):
        dn = x.rid(p + ".mlp.down_proj", 0, t)
        a2 = x.rid(p + ".residual_mlp", 0, t)
        g.nodes[dn]["out"] = set_dim(g.nodes[dn]["out"], "D", D // TP)
        g.edge(dn, a2)
        nodes += [dn, a2]
    return nodes, "shape", ("Layer 1 linear_down outputs a hidden shard D=1024 = 4096/TP4 that goes straight "
                            "into the residual add (in D=4096) with no all-reduce/all-gather.")


def d_stage_count(g):
    g.strategy["pp"] = 3
    return [], "pipeline", "The strategy declares pp=3 but only 2 pipeline stage clusters are drawn."


def d_stage_range_gap(g):
    g.stage_labels[1] = (3, 3)
    x = g.ctx
    return [x.rid("model.layers.2.input_layernorm", e, t) for e, t in _ranks(g)], "pipeline", ("Stage layer ranges are 0..1 and 3..3: layer 2 is covered by no stage "
                            "(its nodes sit in stage 1's cluster).")


def d_stage_missing_layer(g):
    x = g.ctx
    for nid in [n for n in g.nodes if n.startswith("model.layers.3.")]:
        g.del_node(nid)
    nodes = []
    for e, t in _ranks(g):
        a = x.rid("model.layers.2.residual_mlp", e, t)
        b = x.rid("model.norm", e, t)
        g.edge(a, b)
        nodes += [a, b]
    return nodes, "pipeline", ("Stage 1 claims layers 2..3 but layer 3 has no operator nodes; layer 2's "
                               "output goes directly to the final norm.")


def d_no_stage_transfer(g):
    x = g.ctx
    nodes = []
    for e, t in _ranks(g):
        sr = x.rid("pipeline.send_recv.stage0_to_stage1", e, t)
        src = x.rid("model.layers.1.residual_mlp", e, t)
        g.del_node(sr)
        for dst in (x.rid("model.layers.2.input_layernorm", e, t),
                    x.rid("model.layers.2.residual_attn", e, t)):
            g.edge(src, dst)
        nodes += [src, x.rid("model.layers.2.input_layernorm", e, t)]
    return nodes, "pipeline", ("Stage 0 (layer 1) and stage 1 (layer 2) are joined by plain edges; "
                               "the send_recv nodes are gone.")


def _move_expert(g, l, j, e_from, e_to, rename=True):
    x = g.ctx
    s = x.stage(l)
    p = "model.layers.%d.mlp.experts.%d" % (l, j)
    ne = e_to if rename else e_from
    old_ar = "%s.all_reduce[ep=%d]" % (p, e_from)
    new_ar = "%s.all_reduce[ep=%d]" % (p, ne)
    g.nodes[old_ar]["dev"] = [x.gpu(s, e_to, t) for t in range(x.TP)]
    g.rename(old_ar, new_ar)
    ids = [new_ar]
    for t in range(x.TP):
        old = "%s[ep=%d,tp=%d]" % (p, e_from, t)
        new = "%s[ep=%d,tp=%d]" % (p, ne, t)
        g.nodes[old]["dev"] = [x.gpu(s, e_to, t)]
        g.rename(old, new)
        ids.append(new)
    return ids


def d_experts_subset_ranks(g):
    nodes = []
    for j in range(4, 8):
        nodes += _move_expert(g, 2, j, 1, 0)
    return nodes, "expert", ("Layer 2 places all 8 experts on EP rank 0 (GPUs 4,5); EP rank 1 (GPUs 6,7) "
                             "holds no expert.")


def d_experts_uneven(g):
    nodes = _move_expert(g, 2, 4, 1, 0)
    return nodes, "expert", ("Layer 2 places experts 0-4 on EP rank 0 and experts 5-7 on EP rank 1 "
                             "(5 vs 3 instead of 8/EP2 = 4 each).")


def d_experts_share_gpu(g):
    nodes = _move_expert(g, 1, 4, 1, 0, rename=False)
    return nodes, "expert", ("Layer 1 expert 4 belongs to EP rank 1 but is placed on GPUs 0,1, the GPUs "
                             "of EP rank 0's experts.")


def d_no_gate(g):
    x = g.ctx
    p = "model.layers.1"
    nodes = []
    for e, t in _ranks(g):
        g.del_node(x.rid(p + ".mlp.gate", e, t))
        g.nodes[x.rid(p + ".mlp.weighted_sum", e, t)]["ins"] = [x.CS()]
    for t in range(x.TP):
        d = "%s.mlp.dispatch[tp=%d]" % (p, t)
        g.nodes[d]["ins"] = [x.X()]
        nodes.append(d)
    return nodes, "expert", "Layer 1 has no router/gate: the normed tokens go to the dispatch all-to-all and the experts unrouted."


def d_no_all_to_all(g):
    x = g.ctx
    p = "model.layers.0"
    s = 0
    E, per = x.c["experts"], x.c["experts"] // x.EP
    nodes = []
    for t in range(x.TP):
        g.del_node("%s.mlp.dispatch[tp=%d]" % (p, t))
    for e, t in _ranks(g):
        sp = g.node(x.rid(p + ".mlp.token_split", e, t), "split(x, by=expert)",
                    ins=[x.X(), x.RS()], out=x.TS(), dev=[x.gpu(s, e, t)],
                    shape="parallelogram", cluster=s)
        g.edge(x.rid(p + ".post_attention_layernorm", e, t), sp)
        g.edge(x.rid(p + ".mlp.gate", e, t), sp, style="dashed")
        for j in range(E):
            g.edge(sp, "%s.mlp.experts.%d[ep=%d,tp=%d]" % (p, j, j // per, t))
        nodes.append(sp)
    return nodes, "expert", ("In layer 0 tokens go from a local split straight to the experts on all EP "
                             "ranks without an all_to_all(dispatch) (EP=2).")


def d_tp_rank_missing(g):
    x = g.ctx
    n = x.rid("model.layers.1.input_layernorm", 0, 3)
    pr = g.preds(n)
    su = g.succs(n)
    g.del_node(n)
    for a in pr:
        for b in su:
            g.edge(a, b)
    return ([x.rid("model.layers.1.input_layernorm", 0, t) for t in range(3)] +
            [x.rid("model.layers.1.self_attn.%s_proj" % w, 0, 3) for w in "qkv"]), "tensor", (
        "Layer 1 input_layernorm is drawn for TP ranks 0-2 but not for TP rank 3.")


def d_no_allreduce_after_rowparallel(g):
    x = g.ctx
    p = "model.layers.1"
    g.del_node(x.gid(p + ".self_attn.o_proj.all_reduce", 0))
    nodes = []
    for t in range(x.TP):
        o = x.rid(p + ".self_attn.o_proj", 0, t)
        a = x.rid(p + ".residual_attn", 0, t)
        g.edge(o, a)
        nodes += [o, a]
    return nodes, "tensor", ("In layer 1 (EP rank 0) the row-parallel linear_o output goes straight into "
                             "the residual add with no all_reduce(sum).")


def d_cross_gpu_no_comm(g):
    x = g.ctx
    a_old = x.rid("model.layers.0.residual_mlp", 0, 1)
    a_new = x.rid("model.layers.0.residual_mlp", 0, 0)
    b = x.rid("model.layers.1.residual_attn", 0, 1)
    g.del_edge(a_old, b)
    g.edge(a_new, b)
    return [a_new, b], "communication", ("The residual skip into layer 1 residual_attn on GPU 1 comes from layer 0 "
                                         "residual_mlp on GPU 0 with no communication node between.")


def d_comm_wrong_shape(g):
    n = g.ctx.gid("model.layers.0.self_attn.o_proj.all_reduce", 1)
    g.nodes[n]["shape"] = "box"
    return [n], "communication", "Layer 0's attention all_reduce(sum) for EP rank 1 is drawn as a box instead of an ellipse."


def d_missing_gpu(g):
    n = g.ctx.rid("model.layers.2.self_attn.softmax", 1, 1)
    g.nodes[n]["dev"] = None
    return [n], "gpu", "Layer 2 softmax (EP1 TP1) has no dev= placement."


def d_gpu_out_of_range(g):
    n = "model.layers.1.mlp.experts.3[ep=1,tp=1]"
    g.nodes[n]["dev"] = [5]
    return [n], "gpu", "Layer 1 expert 3 (EP1 TP1) is placed on gpu:5 but tp2*pp1*ep2*dp1 = 4 GPUs (0..3)."


def d_stages_share_gpus(g):
    x = g.ctx
    return ([x.rid("model.layers.1.residual_mlp", 1, t) for t in range(x.TP)] +
            [x.rid("model.layers.2.input_layernorm", 0, t) for t in range(x.TP)]), "gpu", ("Stage 1 is placed on GPUs 2..5, overlapping stage 0's GPUs 0..3 on GPUs 2 and 3.")


def d_strategy_mismatch(g):
    g.strategy["tp"] = 4
    return [], "strategy", "The strategy declares tp=4 but every tensor-parallel operator is drawn for 2 TP ranks."


def d_missing_shapes(g):
    n = g.ctx.rid("model.layers.2.mlp.act_fn", 0, 1)
    g.nodes[n]["ins"] = None
    g.nodes[n]["out"] = None
    return [n], "annotation", "Layer 2 silu(g) * u on TP rank 1 has no in= or out= shapes."


def d_placeholder(g):
    n = "output"
    g.nodes[n]["out"] = set_dim(g.nodes[n]["out"], "B", "?")
    return [n], "annotation", "The output node's out shape has a placeholder B=? instead of the batch size."


def d_moe_before_attention(g):
    x = g.ctx
    nodes = []
    for e, t in _ranks(g):
        r = lambda base, l=1: x.rid("model.layers.%d%s" % (l, base), e, t)
        prev = r(".residual_mlp", 0)
        n1, a1 = r(".input_layernorm"), r(".residual_attn")
        n2, a2 = r(".post_attention_layernorm"), r(".residual_mlp")
        fin = x.rid("model.norm", e, t)
        for a, b in ((prev, n1), (prev, a1), (a1, n2), (a1, a2), (a2, fin)):
            g.del_edge(a, b)
        for a, b in ((prev, n2), (prev, a2), (a2, n1), (a2, a1), (a1, fin)):
            g.edge(a, b)
        nodes += [n2, n1]
    return nodes, "structure", ("In layer 1 the MoE block (norm, router, experts, x + moe) is wired before the "
                                "attention block, which now feeds the final norm.")


def d_missing_residual(g):
    x = g.ctx
    a = x.rid("model.layers.3.residual_attn", 0, 0)
    b = x.rid("model.layers.3.residual_mlp", 0, 0)
    g.del_edge(a, b)
    return [b], "structure", ("Layer 3 x + mlp on TP rank 0 is fed only by the MLP all_reduce; the skip edge "
                              "from the attention residual is removed.")


DEFECTS = [
    ("cycle", "clean_1", d_cycle),
    ("dangling_input", "clean_3", d_dangling_input),
    ("dangling_output", "clean_1", d_dangling_output),
    ("attention_one_box", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "clean_1", d_v_bypasses_softmax),
    ("v_into_score", "clean_1", d_v_into_score),
    ("qkv_into_oproj", "clean_1", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", d_head_arithmetic),
    ("tp_heads", "clean_1", d_tp_heads),
    ("edge_shape_mismatch", "clean_1", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_3", d_shard_without_gather),
    ("stage_count", "clean_2", d_stage_count),
    ("stage_range_gap", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_2", d_experts_subset_ranks),
    ("experts_uneven", "clean_2", d_experts_uneven),
    ("experts_share_gpu", "clean_2", d_experts_share_gpu),
    ("no_gate", "clean_1", d_no_gate),
    ("no_all_to_all", "clean_1", d_no_all_to_all),
    ("tp_rank_missing", "clean_3", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_1", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_1", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "clean_2", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "clean_3", d_missing_shapes),
    ("placeholder", "clean_2", d_placeholder),
    ("moe_before_attention", "clean_1", d_moe_before_attention),
    ("missing_residual", "clean_3", d_missing_residual),
]

STRATS = {k: "tp=%d pp=%d ep=%d dp=1" % (v["tp"], v["pp"], v["ep"]) for k, v in CLEAN.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for name, cfg in CLEAN.items():
        g = build(cfg)
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None,
                             nodes=[], base=name, strategy=STRATS[name],
                             what="Correct deployment DAG, %s, %d layers, %s." % (
                                 STRATS[name], cfg["layers"],
                                 "MoE %d experts top-%d" % (cfg["experts"], cfg["top_k"])
                                 if cfg["moe"] else "dense MLP")))
    for kind, base, fn in DEFECTS:
        cfg = dict(CLEAN[base])
        if kind == "stages_share_gpus":
            cfg["stage_base"] = {0: 0, 1: 2}
        g = build(cfg)
        nodes, cat, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes, base=base + ".dot",
                             strategy=STRATS[base], what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
