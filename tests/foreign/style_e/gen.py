#!/usr/bin/env python3
"""Generator of deployment DAGs in "house style E" (clean and with one injected defect each).

Run:  python3 gen.py      -> writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot, out/manifest.json

Style: snake_case ids with stage/layer prefixes (s1_l0_ep1_attn_softmax_r0), plain-English
multi-line labels, long-named shapes, one node per TP rank, separate Q/K/V projections, stage
clusters "Stage 1 of 2: layers 0-1", DP replicas as clusters "Data-parallel replica 1 of 2",
strategy in the graph label ("EP-4 x TP-2 x PP-1 x DP-1"), layers numbered from 0.

GPU layout (product convention, GPU count = EP*TP*PP*DP): replica d, stage s owns the block of
EP*TP GPUs starting at (d*PP + s)*EP*TP; inside it EP rank e owns GPUs e*TP .. e*TP+TP-1 and TP
rank t of EP rank e is GPU e*TP+t.  In MoE files attention runs data-parallel over the EP ranks
(each EP rank's TP group processes batch_size/EP sequences) and the experts of EP rank e sit on
that EP rank's GPUs.  Each TP rank routes its own half (1/TP) of the sequence positions to the
experts; the MoE outputs are re-assembled by a tensor-parallel all-gather before the residual add.
"""
import json
import os
import re

# ----------------------------------------------------------------------------- graph model

SHAPE_OF_KIND = {"compute": "box", "comm": "ellipse", "route": "parallelogram",
                 "input": "invhouse", "output": "house"}
FILL_OF_KIND = {"compute": "white", "comm": "#dbe9ff", "route": "#fff3c4",
                "input": "#e8e8e8", "output": "#e8e8e8"}


def fmt_shape(s):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in s) + "]"


def gpu_spec(ids):
    ids = sorted(set(ids))
    if len(ids) == 1:
        return "GPU: %d" % ids[0]
    if ids == list(range(ids[0], ids[-1] + 1)):
        return "GPUs: %d-%d" % (ids[0], ids[-1])
    return "GPUs: " + ",".join(str(i) for i in ids)


class Graph:
    def __init__(self, name):
        self.name = name
        self.label = ""
        self.comments = []
        self.nodes = {}          # id -> dict (insertion ordered)
        self.edges = []          # [src, dst, attrs]
        self.clusters = {}       # id -> {"label":..., "parent":...}

    def cluster(self, cid, label, parent=None):
        self.clusters[cid] = {"label": label, "parent": parent}
        return cid

    def node(self, nid, kind, title, inp=None, out=None, gpus=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"kind": kind, "shape": SHAPE_OF_KIND[kind], "title": list(title),
                           "inp": [tuple(x) for x in (inp or [])],
                           "out": [tuple(x) for x in (out or [])],
                           "gpu": gpu_spec(gpus) if gpus is not None else None,
                           "cluster": cluster, "show_io": True}
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    # -- serialisation
    def _node_line(self, nid, ind):
        n = self.nodes[nid]
        lines = list(n["title"])
        if n["show_io"]:
            if n["inp"]:
                lines.append("Input: " + ", ".join(fmt_shape(s) for s in n["inp"]))
            if n["out"]:
                lines.append("Output: " + ", ".join(fmt_shape(s) for s in n["out"]))
        if n["gpu"]:
            lines.append(n["gpu"])
        label = "\\n".join(l.replace('"', '\\"') for l in lines)
        return '%s%s [label="%s", shape=%s, fillcolor="%s"];' % (
            ind, nid, label, n["shape"], FILL_OF_KIND[n["kind"]])

    def to_dot(self):
        out = ["// %s" % c for c in self.comments]
        out.append("digraph %s {" % self.name)
        out.append('  graph [label="%s", labelloc=t, fontsize=14, fontname="Helvetica", '
                   'rankdir=TB, newrank=true];' % self.label.replace("\n", "\\n"))
        out.append('  node [fontname="Helvetica", fontsize=9, style=filled];')
        out.append('  edge [fontname="Helvetica", fontsize=8];')
        children = {}
        for cid, c in self.clusters.items():
            children.setdefault(c["parent"], []).append(cid)
        members = {}
        for nid, n in self.nodes.items():
            members.setdefault(n["cluster"], []).append(nid)

        def emit(cid, depth):
            ind = "  " * depth
            for sub in children.get(cid, []):
                if not members.get(sub) and not children.get(sub):
                    continue
                out.append("%ssubgraph %s {" % (ind, sub))
                out.append('%s  label="%s";' % (ind, self.clusters[sub]["label"].replace("\n", "\\n")))
                out.append('%s  style=rounded; color="#888888";' % ind)
                emit(sub, depth + 1)
                out.append("%s}" % ind)
            for nid in members.get(cid, []):
                out.append(self._node_line(nid, ind))

        emit(None, 1)
        out.append("")
        for a, b, attrs in self.edges:
            if attrs:
                out.append("  %s -> %s [%s];" % (a, b, ", ".join("%s=%s" % kv for kv in attrs.items())))
            else:
                out.append("  %s -> %s;" % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- builder

CFG_1 = dict(name="clean_1", moe=True, EP=4, TP=2, PP=1, DP=1, stage_layers=[[0, 1]],
             H=2048, NH=16, HD=128, E=8, K=2, B=8, S=2048, V=32000)
CFG_2 = dict(name="clean_2", moe=True, EP=2, TP=2, PP=2, DP=1, stage_layers=[[0, 1], [2, 3]],
             H=4096, NH=32, HD=128, E=8, K=2, B=8, S=1024, V=32000)
CFG_3 = dict(name="clean_3", moe=False, EP=1, TP=2, PP=2, DP=2, stage_layers=[[0, 1], [2, 3]],
             H=1024, NH=8, HD=128, FFN=4096, B=8, S=2048, V=32000)


def strategy_str(moe, deg):
    s = "TP-%d x PP-%d x DP-%d" % (deg["TP"], deg["PP"], deg["DP"])
    return ("EP-%d x " % deg["EP"] + s) if moe else s


def build(cfg):
    c = dict(cfg)
    moe, TP, PP, DP = c["moe"], c["TP"], c["PP"], c["DP"]
    EP = c["EP"] if moe else 1
    H, NH, HD, B, S, V = c["H"], c["NH"], c["HD"], c["B"], c["S"], c["V"]
    assert NH * HD == H and NH % TP == 0 and V % TP == 0 and B % EP == 0 and S % TP == 0
    stage_layers = c["stage_layers"]
    assert len(stage_layers) == PP
    claims = c.get("stage_claims") or [(ls[0], ls[-1]) for ls in stage_layers]
    num_layers = c.get("num_layers") or sum(len(ls) for ls in stage_layers)
    order = c.get("order", {})
    stage_base = c.get("stage_base") or (lambda d, s: (d * PP + s) * EP * TP)
    per_stage = EP * TP
    deg = {"EP": EP, "TP": TP, "PP": PP, "DP": DP}
    deg.update(c.get("declared", {}))
    total_declared = deg["TP"] * deg["PP"] * deg["DP"] * (deg["EP"] if moe else 1)

    g = Graph(c["name"])
    g.comments.append("Deployment DAG (house style E), generated by gen.py")
    if moe:
        E, K = c["E"], c["K"]
        assert E % EP == 0
        model = ("%d-layer MoE transformer, hidden_size=%d, %d heads x head_dim %d, "
                 "%d experts per MoE layer (top-%d), vocab_size=%d" % (num_layers, H, NH, HD, E, K, V))
    else:
        FFN = c["FFN"]
        assert FFN % TP == 0
        model = ("%d-layer dense transformer, hidden_size=%d, %d heads x head_dim %d, "
                 "intermediate_size=%d (SwiGLU), vocab_size=%d" % (num_layers, H, NH, HD, FFN, V))
    g.label = ("LLM inference, one forward pass\nModel: %s\nStrategy: %s (Total GPUs: %d)"
               % (model, strategy_str(moe, deg), total_declared))

    b = B // EP                      # sequences per EP rank (attention data-parallel over EP)
    hpr = NH // TP                   # heads per TP rank

    def tok():
        return (("batch_size", b), ("sequence_length", S))

    def hid(bb=None):
        return (("batch_size", b if bb is None else bb), ("sequence_length", S), ("hidden_size", H))

    def heads():
        return (("batch_size", b), ("sequence_length", S), ("num_heads", hpr), ("head_dim", HD))

    def scores():
        return (("batch_size", b), ("num_heads", hpr), ("query_length", S), ("key_length", S))

    def gpu(d, s, e, t):
        return stage_base(d, s) + e * TP + t

    def rk(L, e, t):
        parts = []
        if L is not None:
            parts.append("Layer %d" % L)
        if moe:
            parts.append("EP rank %d" % e)
        parts.append("TP rank %d of %d" % (t, TP))
        return ", ".join(parts)

    groups = range(EP)
    ranks = range(TP)

    for d in range(DP):
        pre = "dp%d_" % (d + 1) if DP > 1 else ""
        rcl = None
        if DP > 1:
            lo, hi = stage_base(d, 0), stage_base(d, PP - 1) + per_stage - 1
            rcl = g.cluster("cluster_dp%d" % (d + 1), "Data-parallel replica %d of %d\nGPUs: %d-%d, batch_size=%d"
                            % (d + 1, DP, lo, hi, B))
        scl = []
        for s in range(PP):
            base = stage_base(d, s)
            scl.append(g.cluster("cluster_%ss%d" % (pre, s + 1), "Stage %d of %d: layers %d-%d\n%s"
                                 % (s + 1, PP, claims[s][0], claims[s][1],
                                    gpu_spec(range(base, base + per_stage))), rcl))

        def ep_(e):
            return "ep%d_" % e if moe else ""

        # ---- input + embedding
        stream = {}
        for e in groups:
            iid = "%sinput_tokens%s" % (pre, "_ep%d" % e if moe else "")
            title = ["Model input (token ids)"]
            if moe:
                title.append("sequences %d-%d of %d, for EP rank %d" % (e * b, e * b + b - 1, B, e))
            g.node(iid, "input", title, out=[tok()], cluster=rcl)
            for t in ranks:
                nid = g.node("%ss1_%sembedding_r%d" % (pre, ep_(e), t), "compute",
                             ["Token embedding", rk(None, e, t) + " (full table, replicated)"],
                             [tok()], [hid()], [gpu(d, 0, e, t)], scl[0])
                g.edge(iid, nid)
                stream[(e, t)] = nid

        # ---- sublayers
        def attention(s, L):
            cl = scl[s]
            for e in groups:
                gp = "%ss%d_l%d_%s" % (pre, s + 1, L, ep_(e))
                ar = g.node(gp + "attn_all_reduce", "comm",
                            ["Tensor-parallel all-reduce", "Layer %d%s: attention output partial sums"
                             % (L, ", EP rank %d" % e if moe else "")],
                            [hid()], [hid()], [gpu(d, s, e, t) for t in ranks], cl)
                for t in ranks:
                    gg = [gpu(d, s, e, t)]
                    ctx = rk(L, e, t)
                    hl = "heads %d-%d of %d" % (t * hpr, t * hpr + hpr - 1, NH)
                    n = g.node(gp + "attn_norm_r%d" % t, "compute", ["Layer Norm (pre-attention)", ctx],
                               [hid()], [hid()], gg, cl)
                    q = g.node(gp + "attn_q_proj_r%d" % t, "compute", ["Query projection (column-parallel)", ctx, hl],
                               [hid()], [heads()], gg, cl)
                    k = g.node(gp + "attn_k_proj_r%d" % t, "compute", ["Key projection (column-parallel)", ctx, hl],
                               [hid()], [heads()], gg, cl)
                    v = g.node(gp + "attn_v_proj_r%d" % t, "compute", ["Value projection (column-parallel)", ctx, hl],
                               [hid()], [heads()], gg, cl)
                    sc = g.node(gp + "attn_scores_r%d" % t, "compute",
                                ["Scaled dot-product scores", ctx, "Q x K^T / sqrt(head_dim), causal mask"],
                                [heads(), heads()], [scores()], gg, cl)
                    sm = g.node(gp + "attn_softmax_r%d" % t, "compute", ["Attention probabilities (softmax)", ctx],
                                [scores()], [scores()], gg, cl)
                    cx = g.node(gp + "attn_context_r%d" % t, "compute",
                                ["Attention context", ctx, "probabilities x V"],
                                [scores(), heads()], [heads()], gg, cl)
                    o = g.node(gp + "attn_out_proj_r%d" % t, "compute",
                               ["Attention output projection (row-parallel)", ctx, "partial sums before all-reduce"],
                               [heads()], [hid()], gg, cl)
                    r = g.node(gp + "attn_residual_r%d" % t, "compute", ["Residual connection (after attention)", ctx],
                               [hid(), hid()], [hid()], gg, cl)
                    src = stream[(e, t)]
                    for a, bb in [(src, n), (n, q), (n, k), (n, v), (q, sc), (k, sc), (sc, sm), (sm, cx), (v, cx),
                                  (cx, o), (o, ar), (ar, r), (src, r)]:
                        g.edge(a, bb)
                    stream[(e, t)] = r

        def mlp(s, L):
            cl = scl[s]
            ffs = (("batch_size", b), ("sequence_length", S), ("intermediate_size", FFN // TP))
            for e in groups:
                gp = "%ss%d_l%d_%s" % (pre, s + 1, L, ep_(e))
                ar = g.node(gp + "mlp_all_reduce", "comm",
                            ["Tensor-parallel all-reduce", "Layer %d: MLP output partial sums" % L],
                            [hid()], [hid()], [gpu(d, s, e, t) for t in ranks], cl)
                for t in ranks:
                    gg = [gpu(d, s, e, t)]
                    ctx = rk(L, e, t)
                    cols = "intermediate columns %d-%d of %d" % (t * FFN // TP, (t + 1) * FFN // TP - 1, FFN)
                    n = g.node(gp + "mlp_norm_r%d" % t, "compute", ["Layer Norm (pre-MLP)", ctx],
                               [hid()], [hid()], gg, cl)
                    ga = g.node(gp + "mlp_gate_proj_r%d" % t, "compute", ["MLP gate projection (column-parallel)", ctx, cols],
                                [hid()], [ffs], gg, cl)
                    up = g.node(gp + "mlp_up_proj_r%d" % t, "compute", ["MLP up projection (column-parallel)", ctx, cols],
                                [hid()], [ffs], gg, cl)
                    ac = g.node(gp + "mlp_act_r%d" % t, "compute", ["SwiGLU activation", ctx, "SiLU(gate) x up"],
                                [ffs, ffs], [ffs], gg, cl)
                    dn = g.node(gp + "mlp_down_proj_r%d" % t, "compute",
                                ["MLP down projection (row-parallel)", ctx, "partial sums before all-reduce"],
                                [ffs], [hid()], gg, cl)
                    r = g.node(gp + "mlp_residual_r%d" % t, "compute", ["Residual connection (after MLP)", ctx],
                               [hid(), hid()], [hid()], gg, cl)
                    src = stream[(e, t)]
                    for a, bb in [(src, n), (n, ga), (n, up), (ga, ac), (up, ac), (ac, dn), (dn, ar), (ar, r), (src, r)]:
                        g.edge(a, bb)
                    stream[(e, t)] = r

        def moe_layer(s, L):
            cl = scl[s]
            m = E // EP
            sl = S // TP
            rtok = (("batch_size", b), ("sequence_length", sl), ("hidden_size", H))
            rw = (("batch_size", b), ("sequence_length", sl), ("top_k", K))
            ctok = (("batch_size", b), ("sequence_length", sl), ("top_k", K), ("hidden_size", H))
            te = B * S * K // E
            etok = (("num_tokens", te), ("hidden_size", H))
            lp = "%ss%d_l%d_" % (pre, s + 1, L)
            allg = [gpu(d, s, e, t) for e in groups for t in ranks]
            disp = g.node(lp + "moe_dispatch_all_to_all", "comm",
                          ["Token dispatch (all-to-all)", "Layer %d, EP ranks 0-%d" % (L, EP - 1)],
                          [rtok], [etok], allg, cl)
            comb = g.node(lp + "moe_combine_all_to_all", "comm",
                          ["Token combine (all-to-all)", "Layer %d, EP ranks 0-%d" % (L, EP - 1)],
                          [etok], [ctok], allg, cl)
            for j in range(E):
                e, jl = divmod(j, m)
                off = (jl * TP) // m if m >= TP else jl
                x = g.node(lp + "moe_expert_%d" % j, "compute",
                           ["Expert %d MLP" % j, "Layer %d, EP rank %d of %d (experts %d-%d)" % (L, e, EP, e * m, e * m + m - 1),
                            "SwiGLU feed-forward, unsharded"],
                           [etok], [etok], [gpu(d, s, e, off)], cl)
                g.edge(disp, x)
                g.edge(x, comb)
            for e in groups:
                gp = lp + ep_(e)
                ag = g.node(gp + "moe_all_gather", "comm",
                            ["Tensor-parallel all-gather", "Layer %d, EP rank %d: sequence shards of MoE output" % (L, e)],
                            [rtok], [hid()], [gpu(d, s, e, t) for t in ranks], cl)
                for t in ranks:
                    gg = [gpu(d, s, e, t)]
                    ctx = rk(L, e, t)
                    n = g.node(gp + "moe_norm_r%d" % t, "compute", ["Layer Norm (pre-MoE)", ctx],
                               [hid()], [hid()], gg, cl)
                    ro = g.node(gp + "moe_router_r%d" % t, "route",
                                ["Expert router", ctx, "top-%d of %d experts; routes sequence positions %d-%d"
                                 % (K, E, t * sl, t * sl + sl - 1)],
                                [hid()], [rtok, rw], gg, cl)
                    wc = g.node(gp + "moe_weighted_combine_r%d" % t, "route",
                                ["MoE weighted combine", ctx, "sum over top-%d experts x routing weights" % K],
                                [ctok, rw], [rtok], gg, cl)
                    r = g.node(gp + "moe_residual_r%d" % t, "compute", ["Residual connection (after MoE)", ctx],
                               [hid(), hid()], [hid()], gg, cl)
                    src = stream[(e, t)]
                    g.edge(src, n)
                    g.edge(n, ro)
                    g.edge(ro, disp)
                    g.edge(ro, wc, style="dashed")
                    g.edge(comb, wc)
                    g.edge(wc, ag)
                    g.edge(ag, r)
                    g.edge(src, r)
                    stream[(e, t)] = r

        for s, layers in enumerate(stage_layers):
            if s > 0:
                for e in groups:
                    for t in ranks:
                        a, bgpu = gpu(d, s - 1, e, t), gpu(d, s, e, t)
                        sr = g.node("%ss%d_to_s%d_%ssend_recv_r%d" % (pre, s, s + 1, ep_(e), t), "comm",
                                    ["Pipeline send/recv", "stage %d to stage %d, %s" % (s, s + 1, rk(None, e, t)),
                                     "transfer from GPU %d to GPU %d" % (a, bgpu)],
                                    [hid()], [hid()], [a, bgpu], rcl)
                        g.edge(stream[(e, t)], sr)
                        stream[(e, t)] = sr
            for L in layers:
                for part in order.get(L, ["attn", "ffn"]):
                    if part == "attn":
                        attention(s, L)
                    elif moe:
                        moe_layer(s, L)
                    else:
                        mlp(s, L)

        # ---- final norm, LM head, logits all-gather, output
        s = PP - 1
        cl = scl[s]
        vs = V // TP
        for e in groups:
            fp = "%ss%d_%s" % (pre, s + 1, ep_(e))
            lg = g.node(fp + "logits_all_gather", "comm",
                        ["Tensor-parallel all-gather", "logits over vocabulary shards" + (", EP rank %d" % e if moe else "")],
                        [(("batch_size", b), ("sequence_length", S), ("vocab_size", vs))],
                        [(("batch_size", b), ("sequence_length", S), ("vocab_size", V))],
                        [gpu(d, s, e, t) for t in ranks], cl)
            oid = g.node("%soutput_logits%s" % (pre, "_ep%d" % e if moe else ""), "output",
                         ["Model output (logits)"] + (["sequences %d-%d of %d" % (e * b, e * b + b - 1, B)] if moe else []),
                         inp=[(("batch_size", b), ("sequence_length", S), ("vocab_size", V))], cluster=rcl)
            g.edge(lg, oid)
            for t in ranks:
                gg = [gpu(d, s, e, t)]
                fn = g.node(fp + "final_norm_r%d" % t, "compute", ["Final Layer Norm", rk(None, e, t)],
                            [hid()], [hid()], gg, cl)
                lm = g.node(fp + "lm_head_r%d" % t, "compute",
                            ["LM head (vocab-parallel)", rk(None, e, t), "vocabulary rows %d-%d of %d" % (t * vs, t * vs + vs - 1, V)],
                            [hid()], [(("batch_size", b), ("sequence_length", S), ("vocab_size", vs))], gg, cl)
                g.edge(stream[(e, t)], fn)
                g.edge(fn, lm)
                g.edge(lm, lg)
    return g


# ----------------------------------------------------------------------------- defect helpers

def sub_dim(shapes, name, old, new):
    return [tuple((k, new if (k == name and v == old) else v) for k, v in s) for s in shapes]


def ids(g, pred):
    return [n for n in g.nodes if pred(n)]


def d_cycle(g):
    ar, r = "dp1_s1_l1_attn_all_reduce", "dp1_s1_l1_attn_residual_r0"
    g.edge(r, ar)
    return [ar, r], ("The tensor-parallel all-reduce of layer 1 (replica 1) is drawn both ways with the residual add "
                     "of TP rank 0 (all_reduce -> residual and residual -> all_reduce), forming a cycle.")


def d_dangling_input(g):
    g.remove_edge("dp1_s1_l1_attn_norm_r0", "dp1_s1_l1_attn_k_proj_r0")
    return ["dp1_s1_l1_attn_k_proj_r0"], "The key projection of layer 1, TP rank 0 (replica 1) has no incoming edge."


def d_dangling_output(g):
    g.remove_edge("s1_l1_moe_expert_5", "s1_l1_moe_combine_all_to_all")
    return ["s1_l1_moe_expert_5"], "Expert 5 of layer 1 has no outgoing edge: its output never reaches the combine all-to-all."


def d_attention_one_box(g):
    out = []
    for d in (1, 2):
        for t in (0, 1):
            p = "dp%d_s2_l2_" % d
            q = g.nodes[p + "attn_q_proj_r%d" % t]
            for op in ("q_proj", "k_proj", "v_proj", "scores", "softmax", "context"):
                g.remove_node(p + "attn_%s_r%d" % (op, t))
            nid = p + "attn_mha_r%d" % t
            g.node(nid, "compute", ["Multi-Head Attention", q["title"][1], q["title"][2]],
                   q["inp"], q["out"], None, q["cluster"])
            g.nodes[nid]["gpu"] = q["gpu"]
            # keep node order tidy: fine at end of cluster
            g.edge(p + "attn_norm_r%d" % t, nid)
            g.edge(nid, p + "attn_out_proj_r%d" % t)
            out.append(nid)
    return out, ("Layer 2's attention (both replicas, both TP ranks) is drawn as one 'Multi-Head Attention' box "
                 "instead of Q/K/V projections, scores, softmax and context.")


def d_v_bypasses_softmax(g):
    out = []
    for e in (0, 1):
        for t in (0, 1):
            p = "s1_l1_ep%d_" % e
            sm, cx, o = p + "attn_softmax_r%d" % t, p + "attn_context_r%d" % t, p + "attn_out_proj_r%d" % t
            g.remove_edge(sm, cx)
            g.edge(sm, o)
            g.nodes[cx]["inp"] = [g.nodes[cx]["inp"][1]]           # only V now
            g.nodes[o]["inp"] = g.nodes[o]["inp"] + [g.nodes[sm]["out"][0]]
            out += [sm, cx, o]
    return out, ("In layer 1 the softmax no longer feeds the attention context (only V does); the softmax output "
                 "goes to the output projection instead.")


def d_v_into_score(g):
    out = []
    for d in (1, 2):
        for t in (0, 1):
            p = "dp%d_s1_l1_" % d
            g.remove_node(p + "attn_k_proj_r%d" % t)
            g.edge(p + "attn_v_proj_r%d" % t, p + "attn_scores_r%d" % t)
            out += [p + "attn_v_proj_r%d" % t, p + "attn_scores_r%d" % t]
    return out, ("In layer 1 (both replicas) the value projection is wired into the scores node in place of the key "
                 "projection, which is not drawn; scores take Q and V.")


def d_qkv_into_oproj(g):
    out = []
    for d in (1, 2):
        for t in (0, 1):
            p = "dp%d_s1_l0_" % d
            o = p + "attn_out_proj_r%d" % t
            for op in ("scores", "softmax", "context"):
                g.remove_node(p + "attn_%s_r%d" % (op, t))
            for op in ("q_proj", "k_proj", "v_proj"):
                g.edge(p + "attn_%s_r%d" % (op, t), o)
            g.nodes[o]["inp"] = g.nodes[o]["inp"] * 3
            out.append(o)
    return out, ("In layer 0 (both replicas) Q, K and V go straight into the output projection: no scores, softmax "
                 "or context nodes.")


def d_head_arithmetic(g):
    out = []
    for nid, n in g.nodes.items():
        if nid.startswith("s1_l0_") and "_attn_" in nid:
            new_in, new_out = sub_dim(n["inp"], "head_dim", 128, 64), sub_dim(n["out"], "head_dim", 128, 64)
            if new_in != n["inp"] or new_out != n["out"]:
                n["inp"], n["out"] = new_in, new_out
                out.append(nid)
    return out, ("Layer 0's attention shapes use head_dim=64 with 8 heads per TP rank (16 heads): 16 x 64 = 1024, "
                 "not hidden_size 2048 (consistently on every edge of that layer).")


def d_tp_heads(g):
    p, t = "dp1_s2_l2_", 1
    out = []
    for op in ("q_proj", "k_proj", "v_proj", "scores", "softmax", "context", "out_proj"):
        n = g.nodes[p + "attn_%s_r%d" % (op, t)]
        n["inp"] = sub_dim(n["inp"], "num_heads", 4, 8)
        n["out"] = sub_dim(n["out"], "num_heads", 4, 8)
        n["title"] = [x.replace("heads 4-7 of 8", "heads 0-7 of 8") for x in n["title"]]
        out.append(p + "attn_%s_r%d" % (op, t))
    return out, ("On TP rank 1 of layer 2 (replica 1) the Q/K/V projections output all 8 heads instead of 8/TP2 = 4 "
                 "(num_heads=8 carried consistently through that rank's attention).")


def d_edge_shape_mismatch(g):
    nid = "dp2_s1_l1_mlp_up_proj_r0"
    g.nodes[nid]["inp"] = sub_dim(g.nodes[nid]["inp"], "hidden_size", 1024, 768)
    return [nid, "dp2_s1_l1_mlp_norm_r0"], ("The MLP up projection of layer 1, TP rank 0 (replica 2) expects "
                                            "hidden_size=768 but its producer, the pre-MLP norm, outputs 1024.")


def d_shard_without_gather(g):
    nid = "dp1_s2_l3_mlp_all_reduce"
    n = g.nodes[nid]
    n["title"] = ["Tensor-parallel reduce-scatter", "Layer 3: MLP output partial sums"]
    n["out"] = sub_dim(n["out"], "hidden_size", 1024, 512)
    return [nid, "dp1_s2_l3_mlp_residual_r0", "dp1_s2_l3_mlp_residual_r1"], (
        "Layer 3's MLP output is reduce-scattered to hidden_size=512 (1024/TP2 shards) and goes straight to the "
        "full-size residual adds with no all-gather.")


def d_no_stage_transfer(g):
    out = []
    for t in (0, 1):
        sr = "dp1_s1_to_s2_send_recv_r%d" % t
        src, dsts = g.preds(sr)[0], g.succs(sr)
        g.remove_node(sr)
        for x in dsts:
            g.edge(src, x)
        out += [src] + dsts
    return out, ("In replica 1, stage 1's last residual outputs (GPUs 0,1) feed stage 2's layer 2 (GPUs 2,3) by "
                 "plain edges: the pipeline send/recv nodes are missing.")


def d_experts_subset_ranks(g):
    out = []
    for j in range(8):
        nid = "s1_l1_moe_expert_%d" % j
        e, jl = divmod(j, 4)            # 4 experts on each of EP ranks 0 and 1, none on 2 and 3
        n = g.nodes[nid]
        n["title"][1] = "Layer 1, EP rank %d of 4 (experts %d-%d)" % (e, e * 4, e * 4 + 3)
        n["gpu"] = gpu_spec([e * 2 + jl // 2])
        out.append(nid)
    return out, ("Layer 1's 8 experts are placed only on EP ranks 0 and 1 (4 each, GPUs 0-3); EP ranks 2 and 3 "
                 "hold none.")


def d_experts_uneven(g):
    n = g.nodes["s1_l0_moe_expert_2"]
    n["title"][1] = "Layer 0, EP rank 0 of 4 (experts 0-2)"
    n["gpu"] = gpu_spec([1])
    for j in (0, 1):
        g.nodes["s1_l0_moe_expert_%d" % j]["title"][1] = "Layer 0, EP rank 0 of 4 (experts 0-2)"
    g.nodes["s1_l0_moe_expert_3"]["title"][1] = "Layer 0, EP rank 1 of 4 (expert 3)"
    return ["s1_l0_moe_expert_%d" % j for j in range(4)], (
        "In layer 0 expert 2 moved from EP rank 1 to EP rank 0 (GPU 1): EP ranks hold 3,1,2,2 experts instead of "
        "8/EP4 = 2 each.")


def d_experts_share_gpu(g):
    n = g.nodes["s1_l1_moe_expert_2"]
    n["gpu"] = gpu_spec([1])
    return ["s1_l1_moe_expert_2", "s1_l1_moe_expert_1"], (
        "Expert 2 of layer 1 (EP rank 1) is placed on GPU 1, which already holds expert 1 of EP rank 0.")


def d_no_gate(g):
    out = []
    for e in (0, 1):
        for t in (0, 1):
            p = "s2_l2_ep%d_" % e
            ro = p + "moe_router_r%d" % t
            wc = p + "moe_weighted_combine_r%d" % t
            g.remove_node(ro)
            g.edge(p + "moe_norm_r%d" % t, "s2_l2_moe_dispatch_all_to_all")
            g.nodes[wc]["inp"] = [g.nodes[wc]["inp"][0]]
            out.append(p + "moe_norm_r%d" % t)
    disp = g.nodes["s2_l2_moe_dispatch_all_to_all"]
    disp["inp"] = [(("batch_size", 4), ("sequence_length", 1024), ("hidden_size", 4096))]
    out.append("s2_l2_moe_dispatch_all_to_all")
    out += ["s2_l2_moe_expert_%d" % j for j in range(8)]
    return out, ("Layer 2 has no expert router: the pre-MoE norms feed the dispatch all-to-all directly, so no "
                 "gate precedes the experts.")


def d_no_all_to_all(g):
    disp = "s1_l1_moe_dispatch_all_to_all"
    routers = g.preds(disp)
    experts = g.succs(disp)
    g.remove_node(disp)
    rtok = g.nodes[routers[0]]["out"][0]
    for x in experts:
        for r in routers:
            g.edge(r, x)
        g.nodes[x]["inp"] = [rtok]
    return routers + experts, ("In layer 1 the routers send tokens straight to the experts on other GPUs: no "
                               "dispatch all-to-all (EP=4); only the combine all-to-all remains.")


def d_tp_rank_missing(g):
    p = "dp2_s2_l3_"
    g.remove_node(p + "mlp_gate_proj_r1")
    ac = g.nodes[p + "mlp_act_r1"]
    ac["inp"] = ac["inp"][:1]
    return [p + "mlp_gate_proj_r0", p + "mlp_act_r1"], (
        "Layer 3's MLP gate projection (replica 2) is drawn for TP rank 0 only; TP rank 1 has none.")


def d_no_allreduce(g):
    p = "s2_l3_ep1_"
    ar = p + "attn_all_reduce"
    g.remove_node(ar)
    for t in (0, 1):
        g.edge(p + "attn_out_proj_r%d" % t, p + "attn_residual_r%d" % t)
    return [p + "attn_out_proj_r0", p + "attn_out_proj_r1"], (
        "In layer 3 (EP rank 1) the row-parallel attention output projections go straight into the residual adds "
        "without the tensor-parallel all-reduce.")


def d_cross_gpu(g):
    p = "s1_l1_ep0_"
    g.remove_edge(p + "attn_norm_r1", p + "attn_k_proj_r1")
    g.edge(p + "attn_norm_r0", p + "attn_k_proj_r1")
    return [p + "attn_norm_r0", p + "attn_k_proj_r1"], (
        "The key projection of TP rank 1 (GPU 1) in layer 1 is fed by the norm of TP rank 0 (GPU 0) by a plain "
        "edge (same shape), with no communication node.")


def d_comm_wrong_shape(g):
    nid = "s1_l1_ep2_attn_all_reduce"
    g.nodes[nid]["shape"] = "box"
    return [nid], "The tensor-parallel all-reduce of layer 1, EP rank 2 is drawn as a box instead of an ellipse."


def d_missing_gpu(g):
    nid = "s2_l3_ep1_attn_softmax_r0"
    g.nodes[nid]["gpu"] = None
    return [nid], "The softmax of layer 3, EP rank 1, TP rank 0 has no GPU placement."


def d_gpu_out_of_range(g):
    nid = "s1_l0_moe_expert_7"
    g.nodes[nid]["gpu"] = gpu_spec([8])
    return [nid], "Expert 7 of layer 0 is placed on GPU 8, but the strategy has 8 GPUs (0-7)."


def d_missing_shapes(g):
    nid = "s1_l0_ep1_attn_scores_r1"
    g.nodes[nid]["show_io"] = False
    return [nid], "The scores node of layer 0, EP rank 1, TP rank 1 has no Input/Output shapes."


def d_placeholder(g):
    nid = "s1_l0_ep1_moe_norm_r1"
    n = g.nodes[nid]
    n["inp"] = sub_dim(n["inp"], "batch_size", 4, "?")
    n["out"] = sub_dim(n["out"], "batch_size", 4, "?")
    return [nid], "The pre-MoE norm of layer 0, EP rank 1, TP rank 1 has batch_size=? placeholders in its shapes."


def d_missing_residual(g):
    nid = "s1_l0_ep0_moe_residual_r1"
    skip = "s1_l0_ep0_attn_residual_r1"
    g.remove_edge(skip, nid)
    g.nodes[nid]["inp"] = g.nodes[nid]["inp"][:1]
    return [nid], ("The residual add after the MoE in layer 0 (EP rank 0, TP rank 1) is fed only by the MoE "
                   "all-gather; the skip edge from the attention residual is missing.")


# kind -> (base cfg, cfg override or None, mutation or None, category)
DEFECTS = [
    ("cycle", CFG_3, None, d_cycle, "structure"),
    ("dangling_input", CFG_3, None, d_dangling_input, "structure"),
    ("dangling_output", CFG_1, None, d_dangling_output, "structure"),
    ("attention_one_box", CFG_3, None, d_attention_one_box, "attention"),
    ("v_bypasses_softmax", CFG_2, None, d_v_bypasses_softmax, "attention"),
    ("v_into_score", CFG_3, None, d_v_into_score, "attention"),
    ("qkv_into_oproj", CFG_3, None, d_qkv_into_oproj, "attention"),
    ("head_arithmetic", CFG_1, None, d_head_arithmetic, "attention"),
    ("tp_heads", CFG_3, None, d_tp_heads, "attention"),
    ("edge_shape_mismatch", CFG_3, None, d_edge_shape_mismatch, "shape"),
    ("shard_without_gather", CFG_3, None, d_shard_without_gather, "shape"),
    ("stage_count", CFG_2, {"declared": {"PP": 4}}, None, "pipeline"),
    ("stage_range_gap", CFG_3, {"stage_layers": [[0, 1], [3, 4]], "num_layers": 5}, None, "pipeline"),
    ("stage_missing_layer", CFG_2, {"stage_layers": [[0, 1], [2]], "stage_claims": [(0, 1), (2, 3)],
                                    "num_layers": 4}, None, "pipeline"),
    ("no_stage_transfer", CFG_3, None, d_no_stage_transfer, "pipeline"),
    ("experts_subset_ranks", CFG_1, None, d_experts_subset_ranks, "expert"),
    ("experts_uneven", CFG_1, None, d_experts_uneven, "expert"),
    ("experts_share_gpu", CFG_1, None, d_experts_share_gpu, "expert"),
    ("no_gate", CFG_2, None, d_no_gate, "expert"),
    ("no_all_to_all", CFG_1, None, d_no_all_to_all, "expert"),
    ("tp_rank_missing", CFG_3, None, d_tp_rank_missing, "tensor"),
    ("no_allreduce_after_rowparallel", CFG_2, None, d_no_allreduce, "tensor"),
    ("cross_gpu_no_comm", CFG_2, None, d_cross_gpu, "communication"),
    ("comm_wrong_shape", CFG_1, None, d_comm_wrong_shape, "communication"),
    ("missing_gpu", CFG_2, None, d_missing_gpu, "gpu"),
    ("gpu_out_of_range", CFG_1, None, d_gpu_out_of_range, "gpu"),
    ("stages_share_gpus", CFG_2, {"stage_base": lambda d, s: 2 * s}, None, "gpu"),
    ("strategy_mismatch", CFG_1, {"declared": {"TP": 4}}, None, "strategy"),
    ("missing_shapes", CFG_1, None, d_missing_shapes, "annotation"),
    ("placeholder", CFG_2, None, d_placeholder, "annotation"),
    ("moe_before_attention", CFG_2, {"order": {3: ["ffn", "attn"]}}, None, "structure"),
    ("missing_residual", CFG_2, None, d_missing_residual, "structure"),
]

CFG_NOTES = {
    "stage_count": ([], "The graph label declares PP-4 (Total GPUs: 16) but two pipeline stages are drawn "
                        "(defect is in the graph label, no node)."),
    "stage_range_gap": ([], "The model has 5 layers but the stage clusters cover layers 0-1 and 3-4: layer 2 is in "
                            "no stage and not drawn (defect is in the cluster labels, no node)."),
    "stage_missing_layer": ([], "Stage 2's cluster claims layers 2-3 but only layer 2's operators are drawn; layer 3 "
                                "is missing (defect is in the cluster, no node)."),
    "stages_share_gpus": (None, "Stage 2 is placed on GPUs 2-5, overlapping stage 1's GPUs 0-3 (GPUs 2-3 used by both "
                                "stages); nodes = the nodes on the shared GPUs."),
    "strategy_mismatch": ([], "The graph label declares TP-4 (Total GPUs: 16) but every tensor-parallel operator is "
                              "drawn for 2 TP ranks (defect is in the graph label, no node)."),
    "moe_before_attention": (None, "Layer 3 runs its MoE block before its attention block (the MoE residual feeds the "
                                   "pre-attention norm); nodes = layer 3's pre-MoE and pre-attention norms."),
}


def cfg_nodes(kind, g):
    if kind == "stages_share_gpus":
        return [n for n, d in g.nodes.items() if d["gpu"] and d["kind"] != "comm"
                and ("_s1_" in "_" + n or "_s2_" in "_" + n) and set(re.findall(r"\d+", d["gpu"])) & {"2", "3"}]
    if kind == "moe_before_attention":
        return sorted(n for n in g.nodes if n.startswith("s2_l3_") and ("_moe_norm_" in n or "_attn_norm_" in n))
    return []


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    od = os.path.join(here, "out")
    os.makedirs(od, exist_ok=True)
    for f in os.listdir(od):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(od, f))
    manifest = []
    for cfg in (CFG_1, CFG_2, CFG_3):
        g = build(cfg)
        with open(os.path.join(od, cfg["name"] + ".dot"), "w") as fh:
            fh.write(g.to_dot())
        moe = cfg["moe"]
        strat = strategy_str(moe, {"EP": cfg["EP"], "TP": cfg["TP"], "PP": cfg["PP"], "DP": cfg["DP"]})
        manifest.append({"file": cfg["name"] + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": "Correct %s deployment DAG, %s." % ("MoE" if moe else "dense", strat)})
    for kind, base, override, mut, cat in DEFECTS:
        cfg = dict(base)
        cfg["name"] = "defect_" + kind
        if override:
            cfg.update(override)
        g = build(cfg)
        if mut:
            nodes, what = mut(g)
        else:
            nodes, what = CFG_NOTES[kind]
            if nodes is None:
                nodes = cfg_nodes(kind, g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        g.comments.append("derived from %s.dot" % base["name"])
        with open(os.path.join(od, cfg["name"] + ".dot"), "w") as fh:
            fh.write(g.to_dot())
        manifest.append({"file": cfg["name"] + ".dot", "kind": kind, "category": cat, "nodes": nodes,
                         "what": what, "base": base["name"] + ".dot"})
    with open(os.path.join(od, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2)
    print("wrote %d files to %s" % (len(manifest), od))


if __name__ == "__main__":
    main()
