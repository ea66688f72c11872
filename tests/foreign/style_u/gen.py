#!/usr/bin/env python3
"""Independent generator of deployment DAGs in the "ultra-verbose natural language" house style.

Every node label reads like a careful human wrote it:

    Layer 3 — query projection (column-parallel shard 2 of 4) on GPU 6
    Input tensor shape: (batch=4, seq=1024, hidden=2048)
    Output tensor shape: (batch=4, seq=1024, heads=4, head_dim=128)

There is no separate GPU line: the placement lives only in the first line ("on GPU 6",
"across GPUs 4-7" for collectives).  Layers are numbered from 1; pipeline stages, tensor-parallel
shards, expert-parallel ranks, data-parallel replicas and experts are numbered from 0.

Run `python3 gen.py`: writes out/clean_{1,2,3}.dot, one out/defect_<kind>.dot per defect kind
(each = one clean DAG with exactly one defect injected) and out/manifest.json.  Stdlib only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
DASH = "\u2014"  # em dash used in every first line


# ----------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------

def sh(**kw):
    """A tensor shape: ordered list of (dimension name, value)."""
    return list(kw.items())


def fmt_shape(s):
    return "(" + ", ".join("%s=%s" % (k, v) for k, v in s) + ")"


def gpu_list(gpus):
    gpus = sorted(gpus)
    if len(gpus) == 1:
        return "GPU %d" % gpus[0]
    if gpus == list(range(gpus[0], gpus[-1] + 1)):
        return "GPUs %d-%d" % (gpus[0], gpus[-1])
    return "GPUs " + ", ".join(str(x) for x in gpus)


def on(gpus):
    return "on " + gpu_list(gpus)


def across(gpus):
    return "across " + gpu_list(gpus)


class Dag:
    """In-memory DAG: nodes keep their label parts separately so defects can edit one part."""

    def __init__(self, name, label_lines):
        self.name = name
        self.label_lines = list(label_lines)
        self.nodes = {}          # id -> dict (insertion ordered)
        self.edges = []          # [src, dst, attrs]
        self.clusters = {}       # key -> cluster label (insertion ordered)

    def add(self, nid, head, where, ins, out, shape="box", cluster=None, **meta):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(id=nid, head=head, where=where, ins=ins, out=out,
                               shape=shape, cluster=cluster, meta=meta)
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

    def find(self, **meta):
        """Ids of nodes whose meta matches every given key."""
        return [n["id"] for n in self.nodes.values()
                if all(n["meta"].get(k) == v for k, v in meta.items())]

    def one(self, **meta):
        r = self.find(**meta)
        assert len(r) == 1, (meta, r)
        return r[0]

    # -- rendering ------------------------------------------------------------------------------
    @staticmethod
    def esc(s):
        return s.replace("\\", "\\\\").replace('"', '\\"')

    def node_label(self, n):
        first = n["head"] + (" " + n["where"] if n["where"] else "")
        lines = [first]
        if n["ins"] is not None:
            lines.append("Input tensor shape: " + " and ".join(fmt_shape(s) for s in n["ins"]))
        if n["out"] is not None:
            lines.append("Output tensor shape: " + fmt_shape(n["out"]))
        return "\\n".join(self.esc(x) for x in lines)

    def node_line(self, n, indent):
        return '%s%s [label="%s", shape=%s];' % (indent, n["id"], self.node_label(n), n["shape"])

    def render(self):
        out = ["digraph %s {" % self.name]
        out.append('    graph [label="%s", labelloc=t, fontsize=18, rankdir=TB, newrank=true];'
                   % "\\n".join(self.esc(x) for x in self.label_lines))
        out.append('    node [shape=box, fontname="Helvetica", fontsize=10];')
        out.append('    edge [fontname="Helvetica", fontsize=9];')
        out.append("")
        for key, label in self.clusters.items():
            out.append("    subgraph cluster_%s {" % key)
            out.append('        label="%s";' % self.esc(label))
            out.append("        style=rounded;")
            for n in self.nodes.values():
                if n["cluster"] == key:
                    out.append(self.node_line(n, "        "))
            out.append("    }")
            out.append("")
        for n in self.nodes.values():
            if n["cluster"] is None or n["cluster"] not in self.clusters:
                out.append(self.node_line(n, "    "))
        out.append("")
        for a, b, attrs in self.edges:
            if attrs:
                out.append("    %s -> %s [%s];" % (a, b, ", ".join(
                    '%s="%s"' % (k, v) for k, v in attrs.items())))
            else:
                out.append("    %s -> %s;" % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# the three deployments
# ----------------------------------------------------------------------------------------------

CLEAN = {
    # MoE, TP4 x EP4 x PP2, no DP; expert-parallel ranks reuse each stage's tensor-parallel GPUs.
    "clean_1": dict(
        graph_name="mixture_of_experts_forward_pass", moe=True, L=4, H=2048, NH=16, D=128,
        E=8, topk=2, T=4, EP=4, P=2, DP=1, B=4, S=1024, V=32000,
        stages=[(1, 2), (3, 4)], stage_base=[0, 4], replica_clusters=False,
        model=("Mixture-of-Experts transformer, one forward pass (inference): 4 layers, hidden size "
               "2048, 16 attention heads of dimension 128, 8 experts per MoE layer with top-2 "
               "routing, vocabulary 32000, batch 4 × sequence 1024."),
        strategy=("Deployed with 4-way tensor parallelism, 2 pipeline stages and 4-way expert "
                  "parallelism (no data parallelism)."),
        extra=("Expert-parallel rank g of a stage lives on the stage's tensor-parallel GPU g "
               "(GPUs 0-3 for stage 0, GPUs 4-7 for stage 1), two experts per rank."),
    ),
    # Dense, TP2 x DP2, no PP, no EP.
    "clean_2": dict(
        graph_name="dense_transformer_forward_pass", moe=False, L=2, H=1024, NH=8, D=128,
        F=4096, T=2, EP=1, P=1, DP=2, B=4, S=512, V=32000,
        stages=[(1, 2)], stage_base=[0], replica_clusters=True,
        model=("Dense transformer, one forward pass (inference): 2 layers, hidden size 1024, "
               "8 attention heads of dimension 128, SwiGLU MLP with intermediate size 4096, "
               "vocabulary 32000, global batch 8 (4 per data-parallel replica) × sequence 512."),
        strategy=("Deployed with 2-way tensor parallelism and 2-way data parallelism (no pipeline "
                  "or expert parallelism; dense model)."),
        extra=("Data-parallel replica 0 runs on GPUs 0-1, replica 1 on GPUs 2-3; each replica "
               "holds a full copy of the weights."),
    ),
    # MoE, TP2 x EP4 x DP2, no PP; the EP group is carved out of DP x TP (GPUs 0-3).
    "clean_3": dict(
        graph_name="mixture_of_experts_forward_pass", moe=True, L=2, H=1024, NH=8, D=128,
        E=8, topk=2, T=2, EP=4, P=1, DP=2, B=2, S=1024, V=50304,
        stages=[(1, 2)], stage_base=[0], replica_clusters=False,
        model=("Mixture-of-Experts transformer, one forward pass (inference): 2 layers, hidden size "
               "1024, 8 attention heads of dimension 128, 8 experts per MoE layer with top-2 "
               "routing, vocabulary 50304, global batch 4 (2 per data-parallel replica) × "
               "sequence 1024."),
        strategy=("Deployed with 2-way tensor parallelism, 4-way expert parallelism and 2-way data "
                  "parallelism (no pipeline parallelism)."),
        extra=("The 4 expert-parallel ranks are carved out of the 2 data-parallel replicas × 2 "
               "tensor-parallel ranks: expert-parallel rank g lives on GPU g, two experts per "
               "rank, and each MoE all-to-all spans GPUs 0-3."),
    ),
}


def build(c):
    T, P, DP, L = c["T"], c["P"], c["DP"], c["L"]
    B, S, H, NH, D, V = c["B"], c["S"], c["H"], c["NH"], c["D"], c["V"]
    hpr = NH // T
    assert NH * D == H and NH % T == 0 and V % T == 0
    g = Dag(c["graph_name"], [c["model"], c["strategy"], c["extra"]])

    def gpu(d, p, r):
        return d * (P * T) + c["stage_base"][p] + r

    def stage_of(l):
        for p, (a, b) in enumerate(c["stages"]):
            if a <= l <= b:
                return p
        raise ValueError(l)

    def stage_gpus(p):
        return [gpu(d, p, r) for d in range(DP) for r in range(T)]

    def tp_gpus(d, p):
        return [gpu(d, p, r) for r in range(T)]

    def pre(d):
        return "replica%d_" % d if DP > 1 else ""

    def rep(d):
        return ", data-parallel replica %d" % d if DP > 1 else ""

    def cl(d, p):
        if P > 1:
            return "pipeline_stage_%d" % p
        if c["replica_clusters"]:
            return "data_parallel_replica_%d" % d
        return None

    def shared_cl(p):  # nodes shared by all replicas (MoE all-to-all and experts)
        return "pipeline_stage_%d" % p if P > 1 else None

    if P > 1:
        for p, (a, b) in enumerate(c["stages"]):
            g.clusters["pipeline_stage_%d" % p] = "Pipeline stage %d (layers %d to %d)" % (p, a, b)
    elif c["replica_clusters"]:
        for d in range(DP):
            g.clusters["data_parallel_replica_%d" % d] = (
                "Data-parallel replica %d on %s" % (d, gpu_list(tp_gpus(d, 0))))

    tok = sh(batch=B, seq=S)
    hid = sh(batch=B, seq=S, hidden=H)
    qkv = sh(batch=B, seq=S, heads=hpr, head_dim=D)
    scr = sh(batch=B, heads=hpr, query_seq=S, key_seq=S)
    if c["moe"]:
        E, k, EP = c["E"], c["topk"], c["EP"]
        C = DP * B * S * k // E
        epr = E // EP
        assert E % EP == 0 and EP == DP * T
        rts = sh(batch=B, seq=S, top_k=k)
        cmb = sh(batch=B, seq=S, top_k=k, hidden=H)
        exs = sh(tokens=C, hidden=H)
    else:
        F = c["F"]
        ffs = sh(batch=B, seq=S, ffn=F // T)

    stream = {}
    for d in range(DP):
        p = 0
        inp = g.add(pre(d) + "model_input_token_ids",
                    "Model input " + DASH + " token ids" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                    on([gpu(d, 0, 0)]), [tok], tok, cluster=cl(d, p), role="input", replica=d)
        bc = g.add(pre(d) + "token_ids_broadcast",
                   "Broadcast of the token ids" + (" of data-parallel replica %d" % d if DP > 1 else "")
                   + " to the tensor-parallel group",
                   across(tp_gpus(d, p)), [tok], tok, shape="ellipse", cluster=cl(d, p),
                   role="broadcast", replica=d)
        g.edge(inp, bc)
        ar = g.add(pre(d) + "embedding_all_reduce",
                   "All-reduce of the partial token embeddings" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                   across(tp_gpus(d, p)), [hid], hid, shape="ellipse", cluster=cl(d, p),
                   role="embedding_all_reduce", replica=d)
        for r in range(T):
            e = g.add(pre(d) + "token_embedding_shard%d" % r,
                      "Token embedding lookup (vocabulary-parallel shard %d of %d%s)" % (r, T, rep(d)),
                      on([gpu(d, p, r)]), [tok], hid, cluster=cl(d, p),
                      role="embedding", replica=d, rank=r)
            g.edge(bc, e)
            g.edge(e, ar)
            stream[(d, r)] = ar

    for l in range(1, L + 1):
        p = stage_of(l)
        if l > 1 and stage_of(l - 1) != p:
            for d in range(DP):
                for r in range(T):
                    src, dst = gpu(d, p - 1, r), gpu(d, p, r)
                    sr = g.add(pre(d) + "pipeline_send_recv_stage%d_to_stage%d_shard%d" % (p - 1, p, r),
                               "Pipeline send/recv (point-to-point) of the layer %d output%s" % (l - 1, rep(d)),
                               "from GPU %d (stage %d) to GPU %d (stage %d)" % (src, p - 1, dst, p),
                               [hid], hid, shape="ellipse", cluster=None,
                               role="send_recv", replica=d, rank=r, stage=p)
                    g.edge(stream[(d, r)], sr)
                    stream[(d, r)] = sr

        L_ = "Layer %d %s " % (l, DASH)
        res1 = {}
        norm2 = {}
        for d in range(DP):
            P_ = pre(d) + "layer%d_" % l
            ar = g.add(P_ + "attention_output_all_reduce",
                       L_ + "all-reduce of the attention output" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                       across(tp_gpus(d, p)), [hid], hid, shape="ellipse", cluster=cl(d, p),
                       role="attn_all_reduce", layer=l, replica=d)
            for r in range(T):
                m = dict(layer=l, replica=d, rank=r)
                G = on([gpu(d, p, r)])
                rk = "tensor-parallel rank %d of %d%s" % (r, T, rep(d))
                n1 = g.add(P_ + "pre_attention_layer_norm_shard%d" % r,
                           L_ + "pre-attention layer norm (replicated on %s)" % rk, G,
                           [hid], hid, cluster=cl(d, p), role="norm1", **m)
                q = g.add(P_ + "query_projection_shard%d" % r,
                          L_ + "query projection (column-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                          [hid], qkv, cluster=cl(d, p), role="q", **m)
                kk = g.add(P_ + "key_projection_shard%d" % r,
                           L_ + "key projection (column-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                           [hid], qkv, cluster=cl(d, p), role="k", **m)
                v = g.add(P_ + "value_projection_shard%d" % r,
                          L_ + "value projection (column-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                          [hid], qkv, cluster=cl(d, p), role="v", **m)
                sc = g.add(P_ + "scaled_scores_qkt_shard%d" % r,
                           L_ + "scaled scores QK^T for heads %d to %d (%s)" % (r * hpr, r * hpr + hpr - 1, rk), G,
                           [qkv, qkv], scr, cluster=cl(d, p), role="score", **m)
                sm = g.add(P_ + "softmax_over_keys_shard%d" % r,
                           L_ + "softmax over keys (%s)" % rk, G,
                           [scr], scr, cluster=cl(d, p), role="softmax", **m)
                wv = g.add(P_ + "attention_weighted_values_shard%d" % r,
                           L_ + "attention-weighted values (probabilities × V) for %s" % rk, G,
                           [scr, qkv], qkv, cluster=cl(d, p), role="wsum", **m)
                op = g.add(P_ + "output_projection_shard%d" % r,
                           L_ + "output projection (row-parallel), shard %d of %d%s," % (r, T, rep(d)), G,
                           [qkv], hid, cluster=cl(d, p), role="oproj", **m)
                r1 = g.add(P_ + "residual_connection_after_attention_shard%d" % r,
                           L_ + "residual connection after attention (%s)" % rk, G,
                           [hid, hid], hid, cluster=cl(d, p), role="res1", **m)
                n2 = g.add(P_ + ("pre_moe_layer_norm_shard%d" if c["moe"] else "pre_mlp_layer_norm_shard%d") % r,
                           L_ + ("pre-MoE layer norm" if c["moe"] else "pre-MLP layer norm")
                           + " (replicated on %s)" % rk, G,
                           [hid], hid, cluster=cl(d, p), role="norm2", **m)
                g.edge(stream[(d, r)], n1)
                for x in (q, kk, v):
                    g.edge(n1, x)
                g.edge(q, sc)
                g.edge(kk, sc)
                g.edge(sc, sm)
                g.edge(sm, wv)
                g.edge(v, wv)
                g.edge(wv, op)
                g.edge(op, ar)
                g.edge(ar, r1)
                g.edge(stream[(d, r)], r1)
                g.edge(r1, n2)
                res1[(d, r)] = r1
                norm2[(d, r)] = n2

        if c["moe"]:
            P0 = "layer%d_" % l
            sgp = stage_gpus(p)
            disp = g.add(P0 + "token_dispatch_all_to_all",
                         L_ + "token dispatch (all-to-all) to the expert-parallel ranks",
                         across(sgp), [hid, rts], exs, shape="ellipse", cluster=shared_cl(p),
                         role="dispatch", layer=l)
            comb = g.add(P0 + "token_combine_all_to_all",
                         L_ + "token combine (all-to-all) back to the originating ranks",
                         across(sgp), [exs], cmb, shape="ellipse", cluster=shared_cl(p),
                         role="combine", layer=l)
            routers = {}
            for d in range(DP):
                for r in range(T):
                    m = dict(layer=l, replica=d, rank=r)
                    rt = g.add(pre(d) + P0 + "router_top%d_gating_shard%d" % (k, r),
                               L_ + "router (top-%d gating) over %d experts (replicated on tensor-parallel rank %d of %d%s)"
                               % (k, E, r, T, rep(d)), on([gpu(d, p, r)]),
                               [hid], rts, shape="parallelogram", cluster=cl(d, p), role="router", **m)
                    routers[(d, r)] = rt
                    g.edge(norm2[(d, r)], rt)
                    g.edge(norm2[(d, r)], disp)
                    g.edge(rt, disp, style="dashed")
            for e in range(E):
                rank = e // epr
                ex = g.add(P0 + "expert%d_feed_forward" % e,
                           L_ + "expert %d feed-forward (expert-parallel rank %d of %d)" % (e, rank, EP),
                           on([sgp[rank]]), [exs], exs, cluster=shared_cl(p),
                           role="expert", layer=l, expert=e, ep_rank=rank)
                g.edge(disp, ex)
                g.edge(ex, comb)
            for d in range(DP):
                for r in range(T):
                    m = dict(layer=l, replica=d, rank=r)
                    rk = "tensor-parallel rank %d of %d%s" % (r, T, rep(d))
                    G = on([gpu(d, p, r)])
                    ws = g.add(pre(d) + P0 + "weighted_sum_of_expert_outputs_shard%d" % r,
                               L_ + "weighted sum of expert outputs (%s)" % rk, G,
                               [cmb, rts], hid, shape="parallelogram", cluster=cl(d, p),
                               role="moe_wsum", **m)
                    r2 = g.add(pre(d) + P0 + "residual_connection_after_moe_shard%d" % r,
                               L_ + "residual connection after the MoE block (%s)" % rk, G,
                               [hid, hid], hid, cluster=cl(d, p), role="res2", **m)
                    g.edge(comb, ws)
                    g.edge(routers[(d, r)], ws, style="dashed")
                    g.edge(ws, r2)
                    g.edge(res1[(d, r)], r2)
                    stream[(d, r)] = r2
        else:
            for d in range(DP):
                P_ = pre(d) + "layer%d_" % l
                mar = g.add(P_ + "mlp_output_all_reduce",
                            L_ + "all-reduce of the MLP output" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                            across(tp_gpus(d, p)), [hid], hid, shape="ellipse", cluster=cl(d, p),
                            role="mlp_all_reduce", layer=l, replica=d)
                for r in range(T):
                    m = dict(layer=l, replica=d, rank=r)
                    rk = "tensor-parallel rank %d of %d%s" % (r, T, rep(d))
                    G = on([gpu(d, p, r)])
                    up = g.add(P_ + "mlp_up_projection_shard%d" % r,
                               L_ + "MLP up projection (column-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                               [hid], ffs, cluster=cl(d, p), role="up", **m)
                    gt = g.add(P_ + "mlp_gate_projection_shard%d" % r,
                               L_ + "MLP gate projection (column-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                               [hid], ffs, cluster=cl(d, p), role="gate_proj", **m)
                    act = g.add(P_ + "swiglu_activation_shard%d" % r,
                                L_ + "SwiGLU activation (%s)" % rk, G,
                                [ffs, ffs], ffs, cluster=cl(d, p), role="act", **m)
                    dn = g.add(P_ + "mlp_down_projection_shard%d" % r,
                               L_ + "MLP down projection (row-parallel), shard %d of %d%s," % (r, T, rep(d)), G,
                               [ffs], hid, cluster=cl(d, p), role="down", **m)
                    r2 = g.add(P_ + "residual_connection_after_mlp_shard%d" % r,
                               L_ + "residual connection after the MLP (%s)" % rk, G,
                               [hid, hid], hid, cluster=cl(d, p), role="res2", **m)
                    g.edge(norm2[(d, r)], up)
                    g.edge(norm2[(d, r)], gt)
                    g.edge(up, act)
                    g.edge(gt, act)
                    g.edge(act, dn)
                    g.edge(dn, mar)
                    g.edge(mar, r2)
                    g.edge(res1[(d, r)], r2)
                    stream[(d, r)] = r2

    p = P - 1
    lg = sh(batch=B, seq=S, vocab=V // T)
    lfull = sh(batch=B, seq=S, vocab=V)
    for d in range(DP):
        ag = g.add(pre(d) + "logits_all_gather",
                   "All-gather of the vocabulary-sharded logits" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                   across(tp_gpus(d, p)), [lg], lfull, shape="ellipse", cluster=cl(d, p),
                   role="all_gather", replica=d)
        for r in range(T):
            m = dict(replica=d, rank=r)
            G = on([gpu(d, p, r)])
            fn = g.add(pre(d) + "final_layer_norm_shard%d" % r,
                       "Final layer norm (replicated on tensor-parallel rank %d of %d%s)" % (r, T, rep(d)), G,
                       [hid], hid, cluster=cl(d, p), role="final_norm", **m)
            lm = g.add(pre(d) + "lm_head_shard%d" % r,
                       "LM head (vocabulary-parallel shard %d of %d%s)" % (r, T, rep(d)), G,
                       [hid], lg, cluster=cl(d, p), role="lm_head", **m)
            g.edge(stream[(d, r)], fn)
            g.edge(fn, lm)
            g.edge(lm, ag)
        o = g.add(pre(d) + "model_output_logits",
                  "Model output " + DASH + " next-token logits" + (" of data-parallel replica %d" % d if DP > 1 else ""),
                  on([gpu(d, p, 0)]), [lfull], lfull, cluster=cl(d, p), role="output", replica=d)
        g.edge(ag, o)
    return g


# ----------------------------------------------------------------------------------------------
# defects: each takes a fresh copy of a clean DAG (or its config) and injects exactly one defect
# ----------------------------------------------------------------------------------------------

def relabel_line(g, old, new):
    hits = [i for i, x in enumerate(g.label_lines) if old in x]
    assert len(hits) == 1, (old, g.label_lines)
    g.label_lines[hits[0]] = g.label_lines[hits[0]].replace(old, new)


def set_dim(shape, key, val):
    return [(k, val if k == key else v) for k, v in shape]


def d_cycle(g):  # clean_1
    comb = g.one(role="combine", layer=1)
    ex = g.one(role="expert", layer=1, expert=3)
    g.edge(comb, ex)
    return [ex, comb], ("The layer 1 token combine all-to-all is drawn both ways: expert 3 feeds it and it "
                        "feeds expert 3 back, closing the cycle expert3 -> combine -> expert3.")


def d_dangling_output(g):  # clean_1
    lm = g.one(role="lm_head", rank=3)
    ag = g.one(role="all_gather")
    g.remove_edge(lm, ag)
    return [lm], "The LM head shard 3 on GPU 7 has no outgoing edge: its logits never reach the all-gather or the output."


def d_attention_one_box(g):  # clean_1
    l = 2
    ar = g.one(role="attn_all_reduce", layer=l)
    ids = []
    for r in range(4):
        n1 = g.one(role="norm1", layer=l, rank=r)
        n = g.nodes[n1]
        for role in ("q", "k", "v", "score", "softmax", "wsum", "oproj"):
            g.remove_node(g.one(role=role, layer=l, rank=r))
        box = g.add("layer2_multi_head_attention_shard%d" % r,
                    "Layer 2 %s Multi-Head Attention (tensor-parallel shard %d of 4)" % (DASH, r),
                    n["where"], [n["out"]], g.nodes[ar]["ins"][0], cluster=n["cluster"],
                    role="mha", layer=l, rank=r, replica=0)
        g.edge(n1, box)
        g.edge(box, ar)
        ids.append(box)
    return ids, ("Layer 2's attention is drawn as one 'Multi-Head Attention' box per tensor-parallel rank "
                 "instead of Q/K/V projections, scores, softmax, weighted sum and output projection.")


def d_comm_wrong_shape(g):  # clean_1
    ar = g.one(role="attn_all_reduce", layer=1)
    g.nodes[ar]["shape"] = "box"
    return [ar], "The layer 1 all-reduce of the attention output (a collective) is drawn as a box instead of an ellipse."


def d_gpu_out_of_range(g):  # clean_1
    ex = g.one(role="expert", layer=4, expert=7)
    g.nodes[ex]["where"] = "on GPU 35"
    return [ex], ("Layer 4 expert 7 is placed on GPU 35, beyond the strategy's GPUs "
                  "(8 drawn; even the product EP*TP*PP*DP is 32, ids 0-31).")


def d_strategy_mismatch(g):  # clean_1
    relabel_line(g, "4-way tensor parallelism", "8-way tensor parallelism")
    return [], ("The graph label declares 8-way tensor parallelism but every tensor-parallel operator "
                "is drawn for 4 ranks (shards 0-3 of 4, GPUs 0-3 and 4-7).")


def d_stage_count(g):  # clean_1
    relabel_line(g, "2 pipeline stages", "3 pipeline stages")
    return [], "The graph label declares 3 pipeline stages but only 2 stage clusters (stage 0, stage 1) are drawn."


def d_stage_range_gap(g):  # clean_1
    g.clusters["pipeline_stage_1"] = "Pipeline stage 1 (layers 4 to 4)"
    return [], ("Stage ranges leave a gap: stage 0 claims layers 1-2 and stage 1 claims only layer 4, "
                "so layer 3 (drawn inside stage 1) belongs to no stage's range.")


def d_stage_missing_layer(g):  # clean_1
    g.clusters["pipeline_stage_1"] = "Pipeline stage 1 (layers 3 to 5)"
    relabel_line(g, "4 layers", "5 layers")
    return [], ("The model is declared with 5 layers and stage 1 claims layers 3 to 5, but no operator "
                "of layer 5 is drawn.")


def d_no_stage_transfer(g):  # clean_1
    ids = []
    for r in range(4):
        sr = g.one(role="send_recv", rank=r)
        src = [e[0] for e in g.edges if e[1] == sr]
        dst = [e[1] for e in g.edges if e[0] == sr]
        g.remove_node(sr)
        for a in src:
            for b in dst:
                g.edge(a, b)
        ids += src + dst
    return sorted(set(ids)), ("Stage 0 and stage 1 are joined by plain edges (layer 2 residual on GPUs 0-3 "
                              "straight into layer 3 on GPUs 4-7) with no pipeline send/recv node; "
                              "these edges are necessarily also cross-GPU edges without communication.")


def d_experts_subset_ranks(g):  # clean_1
    ids = []
    for e in range(8):
        ex = g.one(role="expert", layer=2, expert=e)
        rank = e // 4
        g.nodes[ex]["head"] = "Layer 2 %s expert %d feed-forward (expert-parallel rank %d of 4)" % (DASH, e, rank)
        g.nodes[ex]["where"] = on([rank])
        ids.append(ex)
    return ids, ("Layer 2's 8 experts sit only on expert-parallel ranks 0 and 1 (GPUs 0 and 1, four each); "
                 "ranks 2 and 3 (GPUs 2, 3) hold none although EP=4.")


def d_no_gate(g):  # clean_1
    l = 3
    disp = g.one(role="dispatch", layer=l)
    ids = []
    for r in range(4):
        rt = g.one(role="router", layer=l, rank=r)
        ids.append(rt)
        g.remove_node(rt)
        ws = g.one(role="moe_wsum", layer=l, rank=r)
        g.nodes[ws]["ins"] = g.nodes[ws]["ins"][:1]
    g.nodes[disp]["ins"] = g.nodes[disp]["ins"][:1]
    experts = g.find(role="expert", layer=l)
    return [disp] + experts, ("Layer 3 has no router/gate: the pre-MoE norm outputs go straight into the "
                              "dispatch all-to-all and on to the experts with no top-2 gating before them.")


def d_no_all_to_all(g):  # clean_3
    l = 2
    disp = g.one(role="dispatch", layer=l)
    comb = g.one(role="combine", layer=l)
    g.remove_node(disp)
    by_gpu = {}
    for nid in g.find(role="norm2", layer=l):
        by_gpu[g.nodes[nid]["where"]] = (nid, g.one(role="router", layer=l, replica=g.nodes[nid]["meta"]["replica"],
                                                      rank=g.nodes[nid]["meta"]["rank"]))
    ids = []
    for ex in g.find(role="expert", layer=l):
        n2, rt = by_gpu[g.nodes[ex]["where"]]
        hid = g.nodes[n2]["out"]
        g.nodes[ex]["ins"] = [hid, g.nodes[rt]["out"]]
        g.nodes[ex]["out"] = hid
        g.edge(n2, ex)
        g.edge(rt, ex, style="dashed")
        ids.append(ex)
    g.nodes[comb]["ins"] = [hid]
    return ids, ("Layer 2 has no token dispatch all-to-all although EP=4: each GPU's pre-MoE norm and router "
                 "feed only the two experts on that same GPU, so replica 0's tokens never reach the experts "
                 "on GPUs 2-3 (and replica 1's never reach GPUs 0-1).")


def d_placeholder(g):  # clean_1
    ex = g.one(role="expert", layer=2, expert=5)
    n = g.nodes[ex]
    n["ins"] = [set_dim(n["ins"][0], "tokens", "?")]
    n["out"] = set_dim(n["out"], "tokens", "?")
    return [ex], "Layer 2 expert 5 gives its token count as a placeholder 'tokens=?' in both Input and Output."


def d_moe_before_attention(g):  # clean_1
    l = 3
    ids = []
    for r in range(4):
        n1 = g.one(role="norm1", layer=l, rank=r)
        r1 = g.one(role="res1", layer=l, rank=r)
        n2 = g.one(role="norm2", layer=l, rank=r)
        r2 = g.one(role="res2", layer=l, rank=r)
        sin = g.one(role="send_recv", rank=r)            # stream entering layer 3
        nxt = [e[1] for e in g.edges if e[0] == r2]        # layer 4 norm1 and res1
        g.remove_edge(sin, n1)
        g.remove_edge(sin, r1)
        g.remove_edge(r1, n2)
        g.remove_edge(r1, r2)
        for b in nxt:
            g.remove_edge(r2, b)
        # MoE block first: stream -> pre-MoE norm ... -> residual after MoE (skip from stream)
        g.edge(sin, n2)
        g.edge(sin, r2)
        # then attention: residual after MoE -> pre-attention norm ... -> residual after attention
        g.edge(r2, n1)
        g.edge(r2, r1)
        for b in nxt:
            g.edge(r1, b)
        ids += [n1, n2, r1, r2]
    return ids, ("Layer 3's MoE block is wired before its attention: the stream from stage 0 enters the "
                 "pre-MoE norm first and the attention runs on the MoE residual output.")


def d_shard_without_gather(g):  # clean_1
    ar = g.one(role="embedding_all_reduce")
    outs = [e[1] for e in g.edges if e[0] == ar]
    g.remove_node(ar)
    ids = []
    for r in range(4):
        em = g.one(role="embedding", rank=r)
        n = g.nodes[em]
        n["head"] = "Token embedding lookup (hidden-dimension shard %d of 4)" % r
        n["out"] = set_dim(n["out"], "hidden", 512)
        for b in outs:
            if g.nodes[b]["meta"].get("rank") == r:
                g.edge(em, b)
        ids.append(em)
    ids += outs
    return ids, ("The embedding is split along the hidden dimension (hidden=512 = 2048/TP4 per shard) and "
                 "each shard goes straight into layer 1's norm and residual, which expect hidden=2048, "
                 "with no all-gather.")


def d_stages_share_gpus(cfg):  # clean_1 config, stage 1 shifted from GPUs 4-7 onto GPUs 2-5
    c = copy.deepcopy(cfg)
    c["stage_base"] = [0, 2]
    c["extra"] = c["extra"].replace("GPUs 4-7 for stage 1", "GPUs 2-5 for stage 1")
    g = build(c)
    ids = ([g.one(role="res2", layer=2, rank=r) for r in (2, 3)] +      # stage 0 on GPUs 2, 3
           [g.one(role="norm1", layer=3, rank=r) for r in (0, 1)])       # stage 1 on GPUs 2, 3
    return g, ids, ("Stage 1 is placed on GPUs 2-5, overlapping stage 0 (GPUs 0-3) on GPUs 2 and 3.")


# ---- clean_2 (dense, TP2 x DP2) -----------------------------------------------------------------

def d_v_into_score(g):  # clean_2
    ids = []
    for r in range(2):
        kk = g.one(role="k", layer=2, replica=0, rank=r)
        g.remove_node(kk)
        v = g.one(role="v", layer=2, replica=0, rank=r)
        sc = g.one(role="score", layer=2, replica=0, rank=r)
        g.edge(v, sc)
        ids += [v, sc]
    return ids, ("In replica 0 layer 2 the value projection is wired into the QK^T score in place of the "
                 "key projection (no key projection is drawn); V also still feeds the weighted sum.")


def d_qkv_into_oproj(g):  # clean_2
    ids = []
    for r in range(2):
        m = dict(layer=1, replica=1, rank=r)
        for role in ("score", "softmax", "wsum"):
            g.remove_node(g.one(role=role, **m))
        op = g.one(role="oproj", **m)
        qs = g.nodes[g.one(role="q", **m)]["out"]
        g.nodes[op]["ins"] = [qs, qs, qs]
        for role in ("q", "k", "v"):
            x = g.one(role=role, **m)
            g.edge(x, op)
            ids.append(x)
        ids.append(op)
    return ids, ("In replica 1 layer 1 the Q, K and V projections go straight into the output projection: "
                 "no score, softmax or attention-weighted values are drawn.")


def d_head_arithmetic(g):  # clean_2
    ids = []
    for r in range(2):
        m = dict(layer=1, replica=0, rank=r)
        for role in ("q", "k", "v", "score", "wsum", "oproj"):
            nid = g.one(role=role, **m)
            n = g.nodes[nid]
            n["ins"] = [set_dim(s, "head_dim", 96) for s in n["ins"]]
            n["out"] = set_dim(n["out"], "head_dim", 96)
            if role in ("q", "k", "v"):
                ids.append(nid)
    return ids, ("In replica 0 layer 1 every shard's projections give heads=4, head_dim=96: "
                 "8 heads x 96 = 768 != hidden 1024 (and != 8 x 128 declared).")


def d_tp_rank_missing(g):  # clean_2
    m = dict(layer=2, replica=1, rank=1)
    gt = g.one(role="gate_proj", **m)
    g.remove_node(gt)
    act = g.one(role="act", **m)
    g.nodes[act]["ins"] = g.nodes[act]["ins"][:1]
    other = g.one(role="gate_proj", layer=2, replica=1, rank=0)
    return [other, act], ("The layer 2 MLP gate projection of replica 1 is drawn only for tensor-parallel "
                          "shard 0; shard 1 (GPU 3) has no gate projection and its SwiGLU gets only the up projection.")


def d_missing_residual(g):  # clean_2
    ids = []
    for r in range(2):
        m = dict(layer=2, replica=0, rank=r)
        r1 = g.one(role="res1", **m)
        r2 = g.one(role="res2", **m)
        g.remove_edge(r1, r2)
        ids.append(r2)
    return ids, ("In replica 0 layer 2 the residual connection after the MLP is fed only by the MLP "
                 "all-reduce: the skip edge from the post-attention residual stream is missing.")


def d_missing_shapes(g):  # clean_2
    v = g.one(role="v", layer=1, replica=1, rank=0)
    g.nodes[v]["ins"] = None
    g.nodes[v]["out"] = None
    return [v], "The replica 1 layer 1 value projection shard 0 carries no Input/Output tensor shape lines."


def d_dangling_input(g):  # clean_2
    m = dict(layer=1, replica=0, rank=1)
    kk = g.one(role="k", **m)
    g.remove_edge(g.one(role="norm1", **m), kk)
    return [kk], "The replica 0 layer 1 key projection shard 1 has no incoming edge (its norm input is not drawn)."


def d_v_bypasses_softmax(g):  # clean_2
    ids = []
    for r in range(2):
        m = dict(layer=2, replica=1, rank=r)
        sm, wv, op = g.one(role="softmax", **m), g.one(role="wsum", **m), g.one(role="oproj", **m)
        g.remove_edge(sm, wv)
        g.edge(sm, op)
        g.nodes[wv]["ins"] = g.nodes[wv]["ins"][1:]          # only V's shape left
        g.nodes[op]["ins"] = g.nodes[op]["ins"] + [g.nodes[sm]["out"]]
        ids += [sm, wv, op]
    return ids, ("In replica 1 layer 2 only V feeds the attention-weighted values; the softmax bypasses "
                 "them and goes into the output projection instead.")


def d_no_allreduce_after_rowparallel(g):  # clean_2
    ar = g.one(role="mlp_all_reduce", layer=1, replica=0)
    g.remove_node(ar)
    ids = []
    for r in range(2):
        m = dict(layer=1, replica=0, rank=r)
        dn, r2 = g.one(role="down", **m), g.one(role="res2", **m)
        g.edge(dn, r2)
        ids += [dn, r2]
    return ids, ("In replica 0 layer 1 the row-parallel MLP down projection goes straight into the residual "
                 "connection: the partial sums are never all-reduced.")


def d_edge_shape_mismatch(g):  # clean_2
    m = dict(layer=2, replica=1, rank=0)
    q = g.one(role="q", **m)
    g.nodes[q]["ins"] = [set_dim(g.nodes[q]["ins"][0], "hidden", 768)]
    return [g.one(role="norm1", **m), q], ("The replica 1 layer 2 query projection shard 0 expects hidden=768 "
                                           "but its pre-attention norm produces hidden=1024 (factor 4/3).")


# ---- clean_3 (MoE, TP2 x EP4 x DP2) -------------------------------------------------------------

def d_tp_heads(g):  # clean_3
    m = dict(layer=1, replica=1, rank=0)
    ids = []
    for role in ("q", "k", "v", "score", "softmax", "wsum", "oproj"):
        nid = g.one(role=role, **m)
        n = g.nodes[nid]
        n["ins"] = [set_dim(s, "heads", 8) for s in n["ins"]]
        n["out"] = set_dim(n["out"], "heads", 8)
        if role in ("q", "k", "v"):
            ids.append(nid)
    sc = g.one(role="score", **m)
    g.nodes[sc]["head"] = g.nodes[sc]["head"].replace("heads 0 to 3", "heads 0 to 7")
    return ids, ("Tensor-parallel rank 0 of replica 1 in layer 1 projects Q, K and V to all 8 heads "
                 "(8 x 128 = 1024) although under TP2 each rank holds 8/2 = 4 heads.")


def d_experts_uneven(g):  # clean_3
    ex = g.one(role="expert", layer=2, expert=3)
    g.nodes[ex]["head"] = "Layer 2 %s expert 3 feed-forward (expert-parallel rank 0 of 4)" % DASH
    g.nodes[ex]["where"] = on([0])
    return [ex], ("Layer 2's experts are unevenly divided: rank 0 (GPU 0) holds experts 0, 1 and 3, "
                  "rank 1 (GPU 1) only expert 2, ranks 2 and 3 two each.")


def d_experts_share_gpu(g):  # clean_3
    ids = []
    for e in (6, 7):
        ex = g.one(role="expert", layer=1, expert=e)
        g.nodes[ex]["where"] = on([2])
        ids.append(ex)
    ids += [g.one(role="expert", layer=1, expert=e) for e in (4, 5)]
    return ids, ("In layer 1 the experts of expert-parallel rank 3 (experts 6, 7) are placed on GPU 2, "
                 "the GPU of rank 2's experts 4 and 5.")


def d_cross_gpu_no_comm(g):  # clean_3
    m0 = dict(layer=2, replica=0, rank=0)
    m1 = dict(layer=2, replica=0, rank=1)
    r10, r11, n21 = g.one(role="res1", **m0), g.one(role="res1", **m1), g.one(role="norm2", **m1)
    g.remove_edge(r11, n21)
    g.edge(r10, n21)
    return [r10, n21], ("The layer 2 pre-MoE norm of replica 0 rank 1 (GPU 1) reads the residual stream of "
                        "rank 0 (GPU 0) by a plain edge, with no communication node in between.")


def d_missing_gpu(g):  # clean_3
    sm = g.one(role="softmax", layer=2, replica=1, rank=1)
    g.nodes[sm]["where"] = ""
    return [sm], "The replica 1 layer 2 softmax of tensor-parallel rank 1 names no GPU."


DEFECTS = [
    # kind, category, base, function
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_2", d_dangling_input),
    ("dangling_output", "structure", "clean_1", d_dangling_output),
    ("attention_one_box", "attention", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_2", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_2", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2", d_head_arithmetic),
    ("tp_heads", "attention", "clean_3", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_2", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_1", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_3", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_3", d_experts_share_gpu),
    ("no_gate", "expert", "clean_1", d_no_gate),
    ("no_all_to_all", "expert", "clean_3", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_2", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_3", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1", None),   # built from the config, see d_stages_share_gpus
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_2", d_missing_shapes),
    ("placeholder", "annotation", "clean_1", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_2", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Correct MoE DAG, TP4 x EP4 x PP2 (no DP), 4 layers, 8 experts top-2, GPUs 0-7.",
    "clean_2": "Correct dense DAG, TP2 x DP2 (no PP, no EP), 2 layers, GPUs 0-3.",
    "clean_3": "Correct MoE DAG, TP2 x EP4 x DP2 (no PP), EP carved out of DP x TP, 2 layers, GPUs 0-3.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    clean = {}
    for name, cfg in CLEAN.items():
        g = build(cfg)
        clean[name] = g
        with open(os.path.join(OUT, name + ".dot"), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append(dict(file=name + ".dot", kind="clean", category=None, nodes=[],
                             what=CLEAN_WHAT[name]))
    for kind, cat, base, fn in DEFECTS:
        if fn is None:
            g, nodes, what = d_stages_share_gpus(CLEAN[base])
        else:
            g = copy.deepcopy(clean[base])
            nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what.rstrip(".") + " (based on %s.dot)." % base))
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
