#!/usr/bin/env python3
"""House style AA: GPT-2/BERT-era dense transformer, POST-norm, drawn as deployment DAGs.

    x = LayerNorm(x + Attention(x)); x = LayerNorm(x + MLP(x))

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot (one defect each) and out/manifest.json.
Stdlib only.  Run:  python3 gen.py
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


# --------------------------------------------------------------------------- shapes

def shp(**dims):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in dims.items()) + "]"


# --------------------------------------------------------------------------- graph model

class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = {}          # id -> dict(shape, op, inp, out, gpu, cluster)
        self.order = []
        self.clusters = {}       # cid -> dict(label, parent, color)
        self.corder = []
        self.edges = []          # (src, dst)

    def cluster(self, cid, label, parent=None, color="lightgrey"):
        self.clusters[cid] = dict(label=label, parent=parent, color=color)
        self.corder.append(cid)

    def node(self, nid, shape, op, inp, out, gpu, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, op=op, inp=list(inp) if inp else None,
                               out=list(out) if out else None, gpu=gpu, cluster=cluster)
        self.order.append(nid)

    def edge(self, a, b):
        self.edges.append((a, b))

    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [(a, b) for (a, b) in self.edges if a != nid and b != nid]

    def remove_edge(self, a, b):
        assert (a, b) in self.edges, (a, b)
        self.edges.remove((a, b))

    def preds(self, nid):
        return [a for (a, b) in self.edges if b == nid]

    def succs(self, nid):
        return [b for (a, b) in self.edges if a == nid]

    # ---- rendering
    def _label(self, n):
        lines = [n["op"]]
        if n["inp"] is not None:
            lines.append("Input: " + ", ".join(n["inp"]))
        if n["out"] is not None:
            lines.append("Output: " + ", ".join(n["out"]))
        if n["gpu"] is not None:
            lines.append("GPU: " + n["gpu"])
        return "\\n".join(l.replace('"', '\\"') for l in lines)

    def _node_line(self, nid, ind):
        n = self.nodes[nid]
        fill = {"box": "lightblue", "ellipse": "lightyellow",
                "parallelogram": "palegreen"}.get(n["shape"], "white")
        return '%s%s [shape=%s, style=filled, fillcolor=%s, label="%s"];' % (
            ind, nid, n["shape"], fill, self._label(n))

    def render(self):
        out = ['digraph %s {' % self.name,
               '    graph [label="%s", labelloc=t, fontsize=18, rankdir=TB, compound=true];'
               % self.label.replace('"', '\\"'),
               '    node [fontname="Helvetica", fontsize=10];',
               '    edge [fontname="Helvetica", fontsize=9];',
               '']

        def emit(cid, depth):
            ind = "    " * depth
            if cid is not None:
                c = self.clusters[cid]
                out.append('%ssubgraph %s {' % (ind, cid))
                out.append('%s    label="%s"; style="rounded,filled"; fillcolor=%s;'
                           % (ind, c["label"], c["color"]))
                ind2 = ind + "    "
            else:
                ind2 = ind
            for nid in self.order:
                if self.nodes[nid]["cluster"] == cid:
                    out.append(self._node_line(nid, ind2))
            for sub in self.corder:
                if self.clusters[sub]["parent"] == cid:
                    emit(sub, depth + 1)
            if cid is not None:
                out.append('%s}' % ind)

        emit(None, 1)
        out.append('')
        for a, b in self.edges:
            out.append('    %s -> %s;' % (a, b))
        out.append('}')
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- builder

def gspec(ids):
    """GPU list -> compact spec '0-3' / '1,3' / '0-6,8'."""
    ids = sorted(set(ids))
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else "%d-%d" % (ids[i], ids[j]))
        i = j + 1
    return ",".join(parts)


class Cfg:
    def __init__(self, name, tp, pp, dp, layers, hidden, heads, ffn, vocab, batch, seq):
        assert hidden % heads == 0 and heads % tp == 0 and ffn % tp == 0 and vocab % tp == 0
        assert layers % pp == 0 and batch % dp == 0
        self.__dict__.update(locals())
        del self.__dict__["self"]
        self.hd = hidden // heads
        self.mb = batch // dp                      # per-replica batch
        self.lps = layers // pp                    # layers per stage

    def strategy(self):
        return "TP=%d, PP=%d, DP=%d" % (self.tp, self.pp, self.dp)

    def title(self):
        return ("GPT-2 style, %s\\nn_layer=%d, n_embd=%d, n_head=%d, head_dim=%d, n_inner=%d, "
                "vocab=%d (padded), post-norm LayerNorm, dense GELU MLP, global batch %d, seq %d"
                % (self.strategy(), self.layers, self.hidden, self.heads, self.hd, self.ffn,
                   self.vocab, self.batch, self.seq))


def build(c):
    """Build a clean post-norm GPT-2-style deployment DAG. Returns (graph, info)."""
    g = Graph(c.name, c.title())
    B, S, H, T = c.mb, c.seq, c.hidden, c.tp
    hid = lambda h: shp(batch_size=B, seq_len=S, hidden_size=h)
    full, shard = hid(H), hid(H // T)
    qkv = shp(batch_size=B, seq_len=S, qkv_size=3 * H // T)
    heads = shp(batch_size=B, heads=c.heads // T, seq_len=S, head_dim=c.hd)
    scores = shp(batch_size=B, heads=c.heads // T, seq_len=S, kv_seq_len=S)
    ffn = shp(batch_size=B, seq_len=S, ffn_size=c.ffn // T)
    ids = shp(batch_size=B, seq_len=S)
    vshard = shp(batch_size=B, seq_len=S, vocab_size=c.vocab // T)
    vfull = shp(batch_size=B, seq_len=S, vocab_size=c.vocab)

    info = dict(cfg=c, layer_nodes={}, stage_clusters={}, sendrecv={}, suffixes=[])
    for d in range(c.dp):
        sfx = "_dp%d" % d if c.dp > 1 else ""
        info["suffixes"].append(sfx)
        gpu = lambda s, r: d * c.pp * T + s * T + r
        group = lambda s: gspec(gpu(s, r) for r in range(T))
        parent = None
        if c.dp > 1:
            parent = "cluster_replica%d" % d
            lo, hi = d * c.pp * T, (d + 1) * c.pp * T - 1
            g.cluster(parent, "DP replica %d (GPUs %d-%d, batch %d of %d)" % (d, lo, hi, B, c.batch),
                      color="white")
        for s in range(c.pp):
            cid = "cluster_stage%d%s" % (s, sfx)
            l0, l1 = s * c.lps, (s + 1) * c.lps - 1
            lab = "Stage %d: h.%d - h.%d" % (s, l0, l1)
            if c.dp > 1:
                lab += " (DP replica %d)" % d
            g.cluster(cid, lab, parent, color=["aliceblue", "mistyrose"][s % 2])
            info["stage_clusters"][(d, s)] = cid

        # ---------------- embeddings (stage 0)
        cl0 = info["stage_clusters"][(d, 0)]
        inp = "input_ids" + sfx
        g.node(inp, "box", "input_ids (token ids)", [ids], [ids], group(0), cl0)
        g.node("wte_allreduce" + sfx, "ellipse", "all-reduce (wte, TP group)", [full], [full],
               group(0), cl0)
        stream = {}
        for r in range(T):
            t = "_tp%d%s" % (r, sfx)
            g.node("wte" + t, "box", "wte (token embedding) [vocab-parallel, rows %d/%d]" % (r, T),
                   [ids], [full], str(gpu(0, r)), cl0)
            g.node("wpe" + t, "box", "wpe (position embedding)", [ids], [full], str(gpu(0, r)), cl0)
            g.node("embed_add" + t, "box", "embed add (wte + wpe)", [full, full], [full],
                   str(gpu(0, r)), cl0)
            g.edge(inp, "wte" + t)
            g.edge(inp, "wpe" + t)
            g.edge("wte" + t, "wte_allreduce" + sfx)
            g.edge("wte_allreduce" + sfx, "embed_add" + t)
            g.edge("wpe" + t, "embed_add" + t)
            stream[r] = "embed_add" + t

        # ---------------- blocks
        for L in range(c.layers):
            s = L // c.lps
            cl = info["stage_clusters"][(d, s)]
            if L > 0 and L % c.lps == 0:
                # pipeline transfer from stage s-1 to stage s, one p2p per TP rank
                for r in range(T):
                    nid = "stage%d_to_%d_send_recv_tp%d%s" % (s - 1, s, r, sfx)
                    g.node(nid, "ellipse", "send/recv (PP%d \u2192 PP%d, TP rank %d)" % (s - 1, s, r),
                           [full], [full], gspec([gpu(s - 1, r), gpu(s, r)]), parent)
                    g.edge(stream[r], nid)
                    stream[r] = nid
                    info["sendrecv"].setdefault((d, s - 1), []).append(nid)
            p = "h%d_" % L
            ar_a, ar_m = p + "attn_allreduce" + sfx, p + "mlp_allreduce" + sfx
            g.node(ar_a, "ellipse", "all-reduce (attn c_proj, TP group)", [full], [full], group(s), cl)
            g.node(ar_m, "ellipse", "all-reduce (mlp c_proj, TP group)", [full], [full], group(s), cl)
            for r in range(T):
                t = "_tp%d%s" % (r, sfx)
                G = str(gpu(s, r))
                n = lambda op: p + op + t
                g.node(n("c_attn"), "box", "c_attn (fused QKV) [column-parallel]", [full], [qkv], G, cl)
                g.node(n("qkv_split"), "parallelogram", "split q, k, v", [qkv], [shard, shard, shard], G, cl)
                g.node(n("q"), "box", "q (split_heads)", [shard], [heads], G, cl)
                g.node(n("k"), "box", "k (split_heads)", [shard], [heads], G, cl)
                g.node(n("v"), "box", "v (split_heads)", [shard], [heads], G, cl)
                g.node(n("attn_weights"), "box", "attn weights = q @ k^T / sqrt(d)", [heads, heads],
                       [scores], G, cl)
                g.node(n("softmax"), "box", "softmax", [scores], [scores], G, cl)
                g.node(n("attn_v"), "box", "attn @ v", [scores, heads], [heads], G, cl)
                g.node(n("merge_heads"), "box", "merge_heads (reshape)", [heads], [shard], G, cl)
                g.node(n("attn_c_proj"), "box", "c_proj (attn) [row-parallel, partial sum]", [shard],
                       [full], G, cl)
                g.node(n("attn_residual"), "box", "residual add (x + attn)", [full, full], [full], G, cl)
                g.node(n("ln_1"), "box", "ln_1 (LayerNorm w/ bias, post-norm)", [full], [full], G, cl)
                g.node(n("c_fc"), "box", "c_fc [column-parallel]", [full], [ffn], G, cl)
                g.node(n("gelu"), "box", "gelu", [ffn], [ffn], G, cl)
                g.node(n("mlp_c_proj"), "box", "c_proj (mlp) [row-parallel, partial sum]", [ffn],
                       [full], G, cl)
                g.node(n("mlp_residual"), "box", "residual add (x + mlp)", [full, full], [full], G, cl)
                g.node(n("ln_2"), "box", "ln_2 (LayerNorm w/ bias, post-norm)", [full], [full], G, cl)
                x = stream[r]
                for a, b in [(x, n("c_attn")), (n("c_attn"), n("qkv_split")),
                             (n("qkv_split"), n("q")), (n("qkv_split"), n("k")),
                             (n("qkv_split"), n("v")),
                             (n("q"), n("attn_weights")), (n("k"), n("attn_weights")),
                             (n("attn_weights"), n("softmax")),
                             (n("softmax"), n("attn_v")), (n("v"), n("attn_v")),
                             (n("attn_v"), n("merge_heads")), (n("merge_heads"), n("attn_c_proj")),
                             (n("attn_c_proj"), ar_a), (ar_a, n("attn_residual")),
                             (x, n("attn_residual")),
                             (n("attn_residual"), n("ln_1")),
                             (n("ln_1"), n("c_fc")), (n("c_fc"), n("gelu")),
                             (n("gelu"), n("mlp_c_proj")), (n("mlp_c_proj"), ar_m),
                             (ar_m, n("mlp_residual")), (n("ln_1"), n("mlp_residual")),
                             (n("mlp_residual"), n("ln_2"))]:
                    g.edge(a, b)
                stream[r] = n("ln_2")
                info["layer_nodes"].setdefault((d, L), []).extend(
                    [n(o) for o in ("c_attn", "qkv_split", "q", "k", "v", "attn_weights", "softmax",
                                    "attn_v", "merge_heads", "attn_c_proj", "attn_residual", "ln_1",
                                    "c_fc", "gelu", "mlp_c_proj", "mlp_residual", "ln_2")])
            info["layer_nodes"][(d, L)].extend([ar_a, ar_m])

        # ---------------- head (last stage)
        s = c.pp - 1
        cl = info["stage_clusters"][(d, s)]
        ag, outn = "logits_allgather" + sfx, "output" + sfx
        g.node(ag, "ellipse", "all-gather (logits, TP group)", [vshard], [vfull], group(s), cl)
        g.node(outn, "box", "output (logits)", [vfull], [vfull], group(s), cl)
        for r in range(T):
            t = "_tp%d%s" % (r, sfx)
            G = str(gpu(s, r))
            g.node("ln_f" + t, "box", "ln_f (final LayerNorm w/ bias)", [full], [full], G, cl)
            g.node("lm_head" + t, "box", "lm_head (tied to wte) [vocab-parallel]", [full], [vshard], G, cl)
            g.edge(stream[r], "ln_f" + t)
            g.edge("ln_f" + t, "lm_head" + t)
            g.edge("lm_head" + t, ag)
        g.edge(ag, outn)
    return g, info


CFGS = {
    # DP=2 drawn as two replica clusters, each a 2-stage pipeline of TP=2 groups: 8 GPUs.
    "clean_1": Cfg("gpt2_tp2_pp2_dp2", tp=2, pp=2, dp=2, layers=4, hidden=1024, heads=16,
                   ffn=4096, vocab=50304, batch=8, seq=1024),
    # single stage, TP=8: 8 GPUs.
    "clean_2": Cfg("gpt2_tp8_pp1", tp=8, pp=1, dp=1, layers=2, hidden=4096, heads=32,
                   ffn=16384, vocab=50304, batch=8, seq=512),
    # TP=4 x PP=2: 8 GPUs.
    "clean_3": Cfg("gpt2_tp4_pp2", tp=4, pp=2, dp=1, layers=4, hidden=3072, heads=24,
                   ffn=12288, vocab=50304, batch=4, seq=2048),
}


# --------------------------------------------------------------------------- defects
# Each returns (category, nodes, what). They mutate a deep copy of a clean graph.

def sh(g, nid, which, idx, **changes):
    """Rebuild shape string `idx` of node nid's inp/out with some dims changed."""
    s = g.nodes[nid][which][idx]
    dims = [kv.split("=") for kv in s.strip("[]").split(", ")]
    dims = [(k, str(changes.get(k, v))) for k, v in dims]
    g.nodes[nid][which][idx] = "[" + ", ".join("%s=%s" % kv for kv in dims) + "]"


def d_cycle(g, info):
    # clean_1, replica 1: ln_2 of h1 -> send/recv -> (new) back into h1 ln_2
    sr = "stage0_to_1_send_recv_tp0_dp1"
    g.edge(sr, "h1_ln_2_tp0_dp1")
    return ("structure", [sr, "h1_ln_2_tp0_dp1"],
            "The PP send/recv node %s is drawn both ways with h1_ln_2_tp0_dp1 "
            "(h1_ln_2_tp0_dp1 -> %s and %s -> h1_ln_2_tp0_dp1), forming a 2-node cycle." % (sr, sr, sr))


def d_dangling_input(g, info):
    g.remove_edge("h1_qkv_split_tp6", "h1_k_tp6")
    return ("structure", ["h1_k_tp6"],
            "h1_k_tp6 (k split_heads, TP rank 6) has no incoming edge: the split q,k,v node no longer "
            "feeds it (it still feeds q and v).")


def d_dangling_output(g, info):
    g.remove_edge("h2_gelu_tp1", "h2_mlp_c_proj_tp1")
    g.edge("h2_c_fc_tp1", "h2_mlp_c_proj_tp1")
    return ("structure", ["h2_gelu_tp1"],
            "h2_gelu_tp1 is computed but its output goes nowhere (c_fc feeds the mlp c_proj directly on "
            "TP rank 1 of h.2); shapes on the new edge agree.")


def d_attention_one_box(g, info):
    c = info["cfg"]
    L = 1
    B, S, H = c.mb, c.seq, c.hidden
    full = shp(batch_size=B, seq_len=S, hidden_size=H)
    new = []
    for r in range(c.tp):
        t = "_tp%d" % r
        p = "h%d_" % L
        x = [a for a in g.preds(p + "c_attn" + t)][0]
        for op in ("c_attn", "qkv_split", "q", "k", "v", "attn_weights", "softmax", "attn_v",
                   "merge_heads", "attn_c_proj"):
            g.remove_node(p + op + t)
        nid = p + "attn" + t
        g.node(nid, "box", "Multi-Head Attention", [full], [full], str(r), "cluster_stage0")
        # keep it before the all-reduce in the node order (cosmetic)
        g.edge(x, nid)
        g.edge(nid, p + "attn_allreduce")
        new.append(nid)
    return ("attention", new,
            "Layer h.1's attention is drawn as one opaque 'Multi-Head Attention' box per TP rank "
            "(no c_attn/split/q/k/v/score/softmax/attn@v/c_proj operators).")


def d_v_bypasses_softmax(g, info):
    c = info["cfg"]
    L, nodes = 2, []
    for r in range(c.tp):
        p, t = "h%d_" % L, "_tp%d" % r
        sc, sm, av, mh = p + "attn_weights" + t, p + "softmax" + t, p + "attn_v" + t, p + "merge_heads" + t
        g.remove_edge(sc, sm)
        g.remove_edge(sm, av)
        g.remove_edge(av, mh)
        g.edge(sc, av)       # raw scores and V into the weighted sum
        g.edge(av, sm)       # softmax moved after it
        g.edge(sm, mh)
        hs = g.nodes[av]["out"][0]
        g.nodes[sm]["inp"] = [hs]
        g.nodes[sm]["out"] = [hs]
        nodes += [sm, av]
    return ("attention", nodes,
            "In h.2 the weighted sum 'attn @ v' takes the raw scores and V while softmax is not among its "
            "inputs; softmax is applied afterwards, to the attn @ v output (V bypasses the probabilities).")


def d_v_into_score(g, info):
    c = info["cfg"]
    L, nodes = 1, []
    for r in range(c.tp):
        p, t = "h%d_" % L, "_tp%d" % r
        k, v, sc, av = p + "k" + t, p + "v" + t, p + "attn_weights" + t, p + "attn_v" + t
        g.remove_edge(k, sc)
        g.remove_edge(v, av)
        g.edge(v, sc)
        g.edge(k, av)
        nodes += [v, sc]
    return ("attention", nodes,
            "In h.1 V is wired into the score 'attn weights = q @ k^T' instead of K (K and V swapped: k "
            "now feeds attn @ v); all shapes still line up.")


def d_qkv_into_oproj(g, info):
    c = info["cfg"]
    L, nodes = 0, []
    for r in range(c.tp):
        p, t = "h%d_" % L, "_tp%d" % r
        hs = g.nodes[p + "q" + t]["out"][0]
        for op in ("attn_weights", "softmax", "attn_v", "merge_heads"):
            g.remove_node(p + op + t)
        cp = p + "attn_c_proj" + t
        for op in ("q", "k", "v"):
            g.edge(p + op + t, cp)
        g.nodes[cp]["inp"] = [hs, hs, hs]
        nodes += [p + "q" + t, p + "k" + t, p + "v" + t, cp]
    return ("attention", nodes,
            "In h.0 q, k and v go straight into c_proj (attn); there is no score, softmax or attn @ v.")


def d_head_arithmetic(g, info):
    c = info["cfg"]
    L, bad, nodes = 1, 96, []
    for r in range(c.tp):
        p, t = "h%d_" % L, "_tp%d" % r
        for op in ("q", "k", "v"):
            sh(g, p + op + t, "out", 0, head_dim=bad)
        sh(g, p + "attn_weights" + t, "inp", 0, head_dim=bad)
        sh(g, p + "attn_weights" + t, "inp", 1, head_dim=bad)
        sh(g, p + "attn_v" + t, "inp", 1, head_dim=bad)
        sh(g, p + "attn_v" + t, "out", 0, head_dim=bad)
        sh(g, p + "merge_heads" + t, "inp", 0, head_dim=bad)
        nodes += [p + "q" + t, p + "k" + t, p + "v" + t, p + "merge_heads" + t]
    return ("attention", nodes,
            "In h.1 every rank labels heads=6, head_dim=96 (6x96=576 != 3072/TP4=768; 24x96=2304 != "
            "hidden 3072) while the model and all other layers use head_dim=128.")


def d_tp_heads(g, info):
    c = info["cfg"]
    B, S, H = c.mb, c.seq, c.hidden
    p, t = "h0_", "_tp3"
    fullh = shp(batch_size=B, seq_len=S, hidden_size=H)
    g.nodes[p + "c_attn" + t]["out"] = [shp(batch_size=B, seq_len=S, qkv_size=3 * H)]
    g.nodes[p + "qkv_split" + t]["inp"] = [shp(batch_size=B, seq_len=S, qkv_size=3 * H)]
    g.nodes[p + "qkv_split" + t]["out"] = [fullh, fullh, fullh]
    for op in ("q", "k", "v"):
        g.nodes[p + op + t]["inp"] = [fullh]
        sh(g, p + op + t, "out", 0, heads=c.heads)
    sh(g, p + "attn_weights" + t, "inp", 0, heads=c.heads)
    sh(g, p + "attn_weights" + t, "inp", 1, heads=c.heads)
    sh(g, p + "attn_weights" + t, "out", 0, heads=c.heads)
    sh(g, p + "softmax" + t, "inp", 0, heads=c.heads)
    sh(g, p + "softmax" + t, "out", 0, heads=c.heads)
    sh(g, p + "attn_v" + t, "inp", 0, heads=c.heads)
    sh(g, p + "attn_v" + t, "inp", 1, heads=c.heads)
    sh(g, p + "attn_v" + t, "out", 0, heads=c.heads)
    sh(g, p + "merge_heads" + t, "inp", 0, heads=c.heads)
    g.nodes[p + "merge_heads" + t]["out"] = [fullh]
    g.nodes[p + "attn_c_proj" + t]["inp"] = [fullh]
    return ("attention", [p + o + t for o in ("c_attn", "q", "k", "v", "attn_weights")],
            "TP rank 3 of h.0 (TP=8) projects and attends over all 32 heads (c_attn -> 3*4096, q/k/v "
            "heads=32) instead of 32/8=4 heads; edges along the rank stay shape-consistent.")


def d_edge_shape_mismatch(g, info):
    nid = "h2_mlp_c_proj_tp0_dp1"
    sh(g, nid, "inp", 0, ffn_size=1536)
    return ("shape", [nid, "h2_gelu_tp0_dp1"],
            "h2_mlp_c_proj_tp0_dp1 declares Input ffn_size=1536 but its producer h2_gelu_tp0_dp1 outputs "
            "ffn_size=2048 (4096/TP2); 2048/1536 is not a parallel factor.")


def d_shard_without_gather(g, info):
    c = info["cfg"]
    B, S, H = c.mb, c.seq, c.hidden
    g.remove_node("wte_allreduce")
    nodes = []
    for r in range(c.tp):
        t = "_tp%d" % r
        g.nodes["wte" + t]["op"] = "wte (token embedding) [sharded on n_embd, cols %d/%d]" % (r, c.tp)
        g.nodes["wte" + t]["out"] = [shp(batch_size=B, seq_len=S, hidden_size=H // c.tp)]
        g.edge("wte" + t, "embed_add" + t)
        nodes += ["wte" + t, "embed_add" + t]
    return ("shape", nodes,
            "wte is drawn sharded on the hidden dim (Output hidden_size=512 = 4096/TP8) and feeds the "
            "full-size 'embed add' (Input hidden_size=4096) directly, with no all-gather.")


def d_stage_count(g, info):
    g.label = g.label.replace("PP=2", "PP=4", 1)
    return ("pipeline", ["cluster_stage0", "cluster_stage1"],
            "The graph label declares PP=4 but only 2 pipeline stages are drawn (h.0 - h.1, h.2 - h.3).")


def d_stage_range_gap(g, info):
    g.clusters["cluster_stage0"]["label"] = "Stage 0: h.0 - h.2"
    return ("pipeline", ["cluster_stage0", "cluster_stage1"],
            "Stage ranges overlap: Stage 0 claims h.0 - h.2 and Stage 1 claims h.2 - h.3 (layer 2 in both; "
            "its operators are drawn only in stage 1).")


def d_stage_missing_layer(g, info):
    c = info["cfg"]
    for nid in info["layer_nodes"][(0, 3)]:
        g.remove_node(nid)
    for r in range(c.tp):
        g.edge("h2_ln_2_tp%d" % r, "ln_f_tp%d" % r)
    return ("pipeline", ["cluster_stage1", "h2_ln_2_tp0", "ln_f_tp0"],
            "Stage 1 claims h.2 - h.3 (and n_layer=4) but no operator of h.3 is drawn; h2 ln_2 feeds ln_f "
            "directly.")


def d_no_stage_transfer(g, info):
    nodes = []
    for r in range(2):
        sr = "stage0_to_1_send_recv_tp%d_dp0" % r
        src, dsts = g.preds(sr)[0], g.succs(sr)
        g.remove_node(sr)
        for d in dsts:
            g.edge(src, d)
        nodes += [src] + dsts
    return ("pipeline", nodes,
            "In DP replica 0 stage 0 (GPUs 0-1) joins stage 1 (GPUs 2-3) by plain edges h1_ln_2 -> h2 "
            "c_attn / residual, with no send/recv node (so these edges also cross GPUs without communication).")


def d_tp_rank_missing(g, info):
    g.remove_node("h1_gelu_tp5")
    g.edge("h1_c_fc_tp5", "h1_mlp_c_proj_tp5")
    return ("tensor", ["h1_c_fc_tp5", "h1_mlp_c_proj_tp5"] + ["h1_gelu_tp%d" % r for r in range(8) if r != 5],
            "h.1 gelu is drawn for TP ranks 0-4 and 6-7 but not rank 5 (h1_gelu_tp5 missing; c_fc feeds "
            "c_proj directly there).")


def d_no_allreduce_after_rowparallel(g, info):
    c = info["cfg"]
    g.remove_node("h1_mlp_allreduce")
    nodes = []
    for r in range(c.tp):
        t = "_tp%d" % r
        g.edge("h1_mlp_c_proj" + t, "h1_mlp_residual" + t)
        nodes += ["h1_mlp_c_proj" + t, "h1_mlp_residual" + t]
    return ("tensor", nodes,
            "In h.1 the row-parallel c_proj (mlp) partial sums go straight into the residual add; the "
            "TP all-reduce is missing.")


def d_cross_gpu_no_comm(g, info):
    g.remove_edge("embed_add_tp1_dp0", "h0_attn_residual_tp1_dp0")
    g.edge("embed_add_tp0_dp0", "h0_attn_residual_tp1_dp0")
    return ("communication", ["embed_add_tp0_dp0", "h0_attn_residual_tp1_dp0"],
            "The residual skip into h0_attn_residual_tp1_dp0 (GPU 1) comes from embed_add_tp0_dp0 (GPU 0) "
            "by a plain edge, with no communication node (shapes equal).")


def d_comm_wrong_shape(g, info):
    g.nodes["h1_attn_allreduce_dp0"]["shape"] = "box"
    return ("communication", ["h1_attn_allreduce_dp0"],
            "The all-reduce h1_attn_allreduce_dp0 is drawn as a box (computation) instead of an ellipse.")


def d_missing_gpu(g, info):
    g.nodes["h1_softmax_tp2"]["gpu"] = None
    return ("gpu", ["h1_softmax_tp2"], "Compute node h1_softmax_tp2 has no GPU line.")


def d_gpu_out_of_range(g, info):
    nodes = []
    for nid, n in g.nodes.items():
        if n["gpu"] == "7":
            n["gpu"] = "8"
            nodes.append(nid)
        elif n["gpu"] == "0-7":
            n["gpu"] = "0-6,8"
    return ("gpu", ["input_ids", "h0_c_attn_tp7", "h0_ln_1_tp7", "h1_gelu_tp7", "ln_f_tp7"],
            "TP rank 7 is placed on GPU 8 throughout, beyond the 8 GPUs (0-7) of TP=8, PP=1, DP=1 (GPU 7 "
            "unused; TP-group nodes say 0-6,8).")


def d_stages_share_gpus(g, info):
    c = info["cfg"]
    nodes = []
    for nid, n in g.nodes.items():
        if n["cluster"] == "cluster_stage1":
            if n["gpu"] == "4-7":
                n["gpu"] = "2-5"
            else:
                n["gpu"] = str(int(n["gpu"]) - 2)
            nodes.append(nid)
    for r in range(c.tp):
        g.nodes["stage0_to_1_send_recv_tp%d" % r]["gpu"] = gspec([r, r + 2])
    return ("gpu", ["h2_c_attn_tp0", "h2_c_attn_tp1", "h0_c_attn_tp2", "h0_c_attn_tp3"],
            "Stage 1 (h.2 - h.3) is placed on GPUs 2-5, overlapping stage 0's GPUs 0-3 on GPUs 2 and 3.")


def d_strategy_mismatch(g, info):
    g.label = g.label.replace("TP=4", "TP=8", 1)
    return ("strategy", ["h0_c_attn_tp0", "h0_c_attn_tp3"],
            "The graph label declares TP=8 but every TP operator is drawn for 4 ranks (tp0-tp3) with "
            "hidden/4 shards.")


def d_missing_shapes(g, info):
    g.nodes["h3_c_fc_tp2"]["inp"] = None
    g.nodes["h3_c_fc_tp2"]["out"] = None
    return ("annotation", ["h3_c_fc_tp2"], "Compute node h3_c_fc_tp2 has no Input/Output lines.")


def d_placeholder(g, info):
    nid = "h2_softmax_tp1_dp1"
    sh(g, nid, "inp", 0, batch_size="?")
    sh(g, nid, "out", 0, batch_size="?")
    return ("annotation", [nid], "h2_softmax_tp1_dp1 gives its shapes as batch_size=? (placeholder).")


def d_missing_residual(g, info):
    nodes = []
    for r in range(2):
        t = "_tp%d_dp0" % r
        g.remove_edge("h1_ln_1" + t, "h1_mlp_residual" + t)
        nodes.append("h1_mlp_residual" + t)
    return ("structure", nodes,
            "In replica 0, h.1's MLP residual add is fed only by the MLP all-reduce: the skip edge from "
            "ln_1 (the stream entering the MLP) is removed.")


DEFECTS = [
    ("cycle", "clean_1", d_cycle),
    ("dangling_input", "clean_2", d_dangling_input),
    ("dangling_output", "clean_3", d_dangling_output),
    ("attention_one_box", "clean_2", d_attention_one_box),
    ("v_bypasses_softmax", "clean_3", d_v_bypasses_softmax),
    ("v_into_score", "clean_3", d_v_into_score),
    ("qkv_into_oproj", "clean_2", d_qkv_into_oproj),
    ("head_arithmetic", "clean_3", d_head_arithmetic),
    ("tp_heads", "clean_2", d_tp_heads),
    ("edge_shape_mismatch", "clean_1", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_2", d_shard_without_gather),
    ("stage_count", "clean_3", d_stage_count),
    ("stage_range_gap", "clean_3", d_stage_range_gap),
    ("stage_missing_layer", "clean_3", d_stage_missing_layer),
    ("no_stage_transfer", "clean_1", d_no_stage_transfer),
    ("tp_rank_missing", "clean_2", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_3", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_1", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", d_comm_wrong_shape),
    ("missing_gpu", "clean_2", d_missing_gpu),
    ("gpu_out_of_range", "clean_2", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_3", d_stages_share_gpus),
    ("strategy_mismatch", "clean_3", d_strategy_mismatch),
    ("missing_shapes", "clean_3", d_missing_shapes),
    ("placeholder", "clean_1", d_placeholder),
    ("missing_residual", "clean_1", d_missing_residual),
]

SKIPPED = {
    "experts_subset_ranks": "expert",
    "experts_uneven": "expert",
    "experts_share_gpu": "expert",
    "no_gate": "expert",
    "no_all_to_all": "expert",
    "moe_before_attention": "structure",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest, built = [], {}
    for key, cfg in CFGS.items():
        g, info = build(cfg)
        built[key] = (g, info)
        with open(os.path.join(OUT, key + ".dot"), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=key + ".dot", kind="clean", category=None, nodes=[],
                             what="Clean post-norm GPT-2-style dense DAG, %s, %d layers, hidden %d."
                                  % (cfg.strategy(), cfg.layers, cfg.hidden)))
    for kind, base, fn in DEFECTS:
        g0, info = built[base]
        g = copy.deepcopy(g0)
        cat, nodes, what = fn(g, info)
        for nid in nodes:
            assert nid in g.nodes or nid.startswith("cluster_") or nid in g0.nodes, (kind, nid)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, nodes=nodes,
                             what=what + " (base: %s)" % base))
    for kind, cat in SKIPPED.items():
        manifest.append(dict(file=None, kind=kind, category=cat, nodes=[], skipped=True,
                             what="Skipped: house style AA is a dense GPT-2-style model with no MoE "
                                  "(no experts, gate/router or all-to-all), so this defect cannot exist."))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
