#!/usr/bin/env python3
"""Independent generator of deployment DAGs in "house style T".

House style T:
  * placements name RANKS ONLY: compute nodes carry `GPU: DP0_PP1_TP3`, experts `GPU: DP0_PP0_EP5`;
    collectives name their group (`TP Group: DP0_PP1_TP0-DP0_PP1_TP3`, `EP Group: EP0-EP7`);
    point-to-point pipeline transfers name their two ranks (`Ranks: DP0_PP0_TP1 → DP0_PP1_TP1`);
  * node ids are opaque and numbered (op_0001, op_0002, ...);
  * label: operator in plain English, then `Layer N` (layers numbered from 0) where the node belongs
    to a layer, then `Input: [..]` and `Output: [..]` with named dims, then the placement;
  * pipeline stages are clusters labelled "PP rank 1 — layers 2..3" (nested in a "DP replica d"
    cluster when DP > 1, one pipeline drawn per replica);
  * the strategy is stated only in the graph attribute comment="EP8 TP4 PP2 DP1";
  * attention is tensor parallel (one node per TP rank, per-shard shapes), MoE experts are expert
    parallel with TP=1 inside the expert.

Running it writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot (each = one clean DAG with exactly
one injected defect) and out/manifest.json.  Standard library only.
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------

def fmt_shape(shape):
    return "[" + ", ".join("%s=%s" % (k, v) for k, v in shape) + "]"


def sh(*dims):
    return [tuple(d) for d in dims]


def set_dim(shape, name, value):
    return [(k, value if k == name else v) for k, v in shape]


class Dag:
    def __init__(self, comment):
        self.comment = comment
        self.nodes = {}          # id -> dict
        self.edges = []          # [src, dst, attrs]
        self.clusters = {}       # key -> dict(label, parent)
        self.n = 0

    # construction ------------------------------------------------------------------------
    def cluster(self, key, label, parent=None):
        self.clusters[key] = {"label": label, "parent": parent}

    def node(self, shape, name, inputs, outputs, place, cluster=None, extra=(), **role):
        self.n += 1
        nid = "op_%04d" % self.n
        self.nodes[nid] = {"shape": shape, "name": name, "extra": list(extra),
                           "inputs": inputs, "outputs": outputs, "place": place,
                           "cluster": cluster, "role": role}
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    # queries -----------------------------------------------------------------------------
    def find(self, **q):
        return [i for i, n in self.nodes.items()
                if all(n["role"].get(k) == v for k, v in q.items())]

    def one(self, **q):
        r = self.find(**q)
        assert len(r) == 1, (q, r)
        return r[0]

    def succ(self, a):
        return [e[1] for e in self.edges if e[0] == a]

    def pred(self, b):
        return [e[0] for e in self.edges if e[1] == b]

    # edits -------------------------------------------------------------------------------
    def drop_edge(self, a, b):
        before = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == before - 1, ("no such edge", a, b)

    def drop_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    # output ------------------------------------------------------------------------------
    def label(self, n):
        lines = [n["name"]] + n["extra"]
        if n["inputs"] is not None:
            lines.append("Input: " + ", ".join(fmt_shape(s) for s in n["inputs"]))
        if n["outputs"] is not None:
            lines.append("Output: " + ", ".join(fmt_shape(s) for s in n["outputs"]))
        if n["place"]:
            lines.append(n["place"])
        return "\\n".join(lines)

    def render(self):
        out = ['digraph dag {',
               '  graph [comment="%s", rankdir=TB, fontname="Helvetica", newrank=true];' % self.comment,
               '  node [fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=9];']

        def node_line(nid, ind):
            n = self.nodes[nid]
            extra = ', style=filled, fillcolor="#eeeeee"' if n["shape"] == "ellipse" else ""
            return '%s%s [shape=%s, label="%s"%s];' % (ind, nid, n["shape"], self.label(n), extra)

        def write_cluster(key, depth):
            ind = "  " * depth
            out.append('%ssubgraph cluster_%s {' % (ind, key))
            out.append('%s  label="%s";' % (ind, self.clusters[key]["label"]))
            out.append('%s  style=rounded;' % ind)
            for nid in self.nodes:
                if self.nodes[nid]["cluster"] == key:
                    out.append(node_line(nid, ind + "  "))
            for child, c in self.clusters.items():
                if c["parent"] == key:
                    write_cluster(child, depth + 1)
            out.append('%s}' % ind)

        for nid in self.nodes:
            if self.nodes[nid]["cluster"] is None:
                out.append(node_line(nid, "  "))
        for key, c in self.clusters.items():
            if c["parent"] is None:
                write_cluster(key, 1)
        for a, b, attrs in self.edges:
            if attrs:
                out.append('  %s -> %s [%s];' % (a, b, ", ".join("%s=%s" % kv for kv in attrs.items())))
            else:
                out.append('  %s -> %s;' % (a, b))
        out.append('}')
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# clean builder
# --------------------------------------------------------------------------------------------

def build(cfg):
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    L, H, NH, HD = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    assert NH * HD == H and NH % TP == 0 and L % PP == 0
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    assert V % TP == 0
    E, K = cfg.get("experts", 0), cfg.get("top_k", 0)
    F = cfg.get("ffn", 0)
    kinds = cfg["kinds"]
    assert len(kinds) == L
    if "moe" in kinds:
        assert E % EP == 0 and (B * S * K) % E == 0
    if "dense" in kinds:
        assert F % TP == 0
    g = Dag("EP%d TP%d PP%d DP%d" % (EP, TP, PP, DP))
    per = L // PP
    hl = NH // TP
    tok = (B * S * K) // E if E else 0

    full = sh(("batch", B), ("seq", S), ("hidden", H))
    ids = sh(("batch", B), ("seq", S))
    head = sh(("batch", B), ("seq", S), ("heads", hl), ("head_dim", HD))
    score = sh(("batch", B), ("heads", hl), ("q_seq", S), ("kv_seq", S))
    ffn = sh(("batch", B), ("seq", S), ("ffn", F // TP if F else 0))
    route = sh(("batch", B), ("seq", S), ("top_k", K))
    etok = sh(("tokens", tok), ("hidden", H))
    gathered = sh(("batch", B), ("seq", S), ("top_k", K), ("hidden", H))
    vshard = sh(("batch", B), ("seq", S), ("vocab", V // TP))
    vfull = sh(("batch", B), ("seq", S), ("vocab", V))

    for d in range(DP):
        parent = None
        if DP > 1:
            parent = "dp%d" % d
            g.cluster(parent, "DP replica %d" % d)
        for p in range(PP):
            g.cluster("dp%d_pp%d" % (d, p), "PP rank %d — layers %d..%d" % (p, p * per, p * per + per - 1),
                      parent)

        def gpu(p, r):
            return "GPU: DP%d_PP%d_TP%d" % (d, p, r)

        def egpu(p, k):
            return "GPU: DP%d_PP%d_EP%d" % (d, p, k)

        def tpg(p):
            return "TP Group: DP%d_PP%d_TP0-DP%d_PP%d_TP%d" % (d, p, d, p, TP - 1)

        epg = "EP Group: EP0-EP%d" % (EP - 1)
        io_cluster = parent

        inp = g.node("invhouse", "Input (token ids)", [ids], [ids], None, io_cluster, dp=d, op="input")
        c0 = "dp%d_pp0" % d
        embs = []
        for r in range(TP):
            e = g.node("box", "Embedding (vocab shard)", [ids], [full], gpu(0, r), c0, dp=d, op="emb", tp=r)
            g.edge(inp, e)
            embs.append(e)
        ar = g.node("ellipse", "All-Reduce", [full], [full], tpg(0), c0, dp=d, op="ar_emb")
        for e in embs:
            g.edge(e, ar)
        stream = [ar] * TP

        for l in range(L):
            p = l // per
            cl = "dp%d_pp%d" % (d, p)
            lay = ["Layer %d" % l]
            if l > 0 and l % per == 0:
                new = []
                for r in range(TP):
                    s = g.node("ellipse", "Send/Recv PP%d → PP%d" % (p - 1, p), [full], [full],
                               "Ranks: DP%d_PP%d_TP%d → DP%d_PP%d_TP%d" % (d, p - 1, r, d, p, r),
                               parent, dp=d, op="sendrecv", tp=r, pp=p)
                    g.edge(stream[r], s)
                    new.append(s)
                stream = new

            # ---- attention (tensor parallel) ----
            R = dict(dp=d, layer=l)
            os_ = []
            for r in range(TP):
                n1 = g.node("box", "RMSNorm", [full], [full], gpu(p, r), cl, lay, op="norm1", tp=r, **R)
                q = g.node("box", "Q projection", [full], [head], gpu(p, r), cl, lay, op="q", tp=r, **R)
                k = g.node("box", "K projection", [full], [head], gpu(p, r), cl, lay, op="k", tp=r, **R)
                v = g.node("box", "V projection", [full], [head], gpu(p, r), cl, lay, op="v", tp=r, **R)
                qk = g.node("box", "QK^T", [head, head], [score], gpu(p, r), cl, lay, op="qk", tp=r, **R)
                sm = g.node("box", "Softmax", [score], [score], gpu(p, r), cl, lay, op="sm", tp=r, **R)
                av = g.node("box", "Attention x V", [score, head], [head], gpu(p, r), cl, lay, op="av", tp=r, **R)
                o = g.node("box", "Output projection", [head], [full], gpu(p, r), cl, lay, op="o", tp=r, **R)
                g.edge(stream[r], n1)
                for x in (q, k, v):
                    g.edge(n1, x)
                g.edge(q, qk)
                g.edge(k, qk)
                g.edge(qk, sm)
                g.edge(sm, av)
                g.edge(v, av)
                g.edge(av, o)
                os_.append(o)
            ar = g.node("ellipse", "All-Reduce", [full], [full], tpg(p), cl, lay, op="ar_attn", **R)
            for o in os_:
                g.edge(o, ar)
            res = []
            for r in range(TP):
                x = g.node("box", "Residual", [full, full], [full], gpu(p, r), cl, lay, op="res1", tp=r, **R)
                g.edge(ar, x)
                g.edge(stream[r], x)
                res.append(x)
            stream = res

            # ---- feed-forward ----
            n2s = []
            for r in range(TP):
                n2 = g.node("box", "RMSNorm", [full], [full], gpu(p, r), cl, lay, op="norm2", tp=r, **R)
                g.edge(stream[r], n2)
                n2s.append(n2)
            if kinds[l] == "dense":
                downs = []
                for r in range(TP):
                    up = g.node("box", "Up projection", [full], [ffn], gpu(p, r), cl, lay, op="up", tp=r, **R)
                    act = g.node("box", "GELU", [ffn], [ffn], gpu(p, r), cl, lay, op="act", tp=r, **R)
                    dn = g.node("box", "Down projection", [ffn], [full], gpu(p, r), cl, lay, op="down", tp=r, **R)
                    g.edge(n2s[r], up)
                    g.edge(up, act)
                    g.edge(act, dn)
                    downs.append(dn)
                ar = g.node("ellipse", "All-Reduce", [full], [full], tpg(p), cl, lay, op="ar_mlp", **R)
                for dn in downs:
                    g.edge(dn, ar)
                outs = [ar] * TP
            else:
                routers = []
                for r in range(TP):
                    rt = g.node("parallelogram", "Router", [full], [route], gpu(p, r), cl,
                                lay + ["Top-%d of %d experts" % (K, E)], op="router", tp=r, **R)
                    g.edge(n2s[r], rt)
                    routers.append(rt)
                disp = g.node("ellipse", "All-to-All dispatch", [full, route], [etok], epg, cl, lay,
                              op="dispatch", **R)
                for r in range(TP):
                    g.edge(n2s[r], disp)
                    g.edge(routers[r], disp, style="dashed")
                comb = g.node("ellipse", "All-to-All combine", [etok], [gathered], epg, cl, lay,
                              op="combine", **R)
                for e in range(E):
                    rank = e // (E // EP)
                    x = g.node("box", "Expert %d FFN" % e, [etok], [etok], egpu(p, rank), cl, lay,
                               op="expert", expert=e, ep=rank, **R)
                    g.edge(disp, x)
                    g.edge(x, comb)
                outs = []
                for r in range(TP):
                    w = g.node("parallelogram", "Weighted combine", [gathered, route], [full], gpu(p, r), cl,
                               lay, op="wcomb", tp=r, **R)
                    g.edge(comb, w)
                    g.edge(routers[r], w, style="dashed")
                    outs.append(w)
            res = []
            for r in range(TP):
                x = g.node("box", "Residual", [full, full], [full], gpu(p, r), cl, lay, op="res2", tp=r, **R)
                g.edge(outs[r], x)
                g.edge(stream[r], x)
                res.append(x)
            stream = res

        # ---- head ----
        p = PP - 1
        cl = "dp%d_pp%d" % (d, p)
        lms = []
        for r in range(TP):
            fn = g.node("box", "Final RMSNorm", [full], [full], gpu(p, r), cl, dp=d, op="fnorm", tp=r)
            lm = g.node("box", "LM head (vocab shard)", [full], [vshard], gpu(p, r), cl, dp=d, op="lmhead", tp=r)
            g.edge(stream[r], fn)
            g.edge(fn, lm)
            lms.append(lm)
        ag = g.node("ellipse", "All-Gather", [vshard], [vfull], tpg(p), cl, dp=d, op="ag")
        for lm in lms:
            g.edge(lm, ag)
        outn = g.node("house", "Output (logits)", [vfull], [vfull], None, io_cluster, dp=d, op="output")
        g.edge(ag, outn)
    return g


CLEAN = {
    # MoE everywhere, EP>1 and TP>1, two pipeline stages.
    "clean_1": dict(EP=8, TP=4, PP=2, DP=1, layers=4, kinds=["moe"] * 4, hidden=4096, heads=32,
                    head_dim=128, batch=4, seq=512, vocab=32000, experts=16, top_k=2),
    # one dense layer then one MoE layer, single stage.
    "clean_2": dict(EP=4, TP=2, PP=1, DP=1, layers=2, kinds=["dense", "moe"], hidden=2048, heads=16,
                    head_dim=128, ffn=8192, batch=8, seq=256, vocab=32000, experts=8, top_k=2),
    # dense model, two stages, two data-parallel replicas drawn.
    "clean_3": dict(EP=1, TP=2, PP=2, DP=2, layers=4, kinds=["dense"] * 4, hidden=1024, heads=8,
                    head_dim=128, ffn=4096, batch=4, seq=512, vocab=32000),
}


# --------------------------------------------------------------------------------------------
# defects: each takes a deep copy of a clean DAG, injects ONE defect, returns (nodes, what)
# --------------------------------------------------------------------------------------------

def attn_nodes(g, layer, dp=0, ops=("q", "k", "v", "qk", "sm", "av", "o")):
    return [i for op in ops for i in g.find(op=op, layer=layer, dp=dp)]


def map_shapes(g, nids, fn):
    for i in nids:
        n = g.nodes[i]
        if n["inputs"] is not None:
            n["inputs"] = [fn(s) for s in n["inputs"]]
        if n["outputs"] is not None:
            n["outputs"] = [fn(s) for s in n["outputs"]]


def d_cycle(g):
    disp = g.one(op="dispatch", layer=2)
    x = g.one(op="expert", layer=2, expert=4)
    g.edge(x, disp)
    return [disp, x], ("Layer 2 expert 4 feeds back into the All-to-All dispatch that feeds it "
                       "(dispatch -> expert -> dispatch), a cycle through a communication node.")


def d_dangling_input(g):
    n1 = g.one(op="norm1", layer=0, dp=0, tp=0)
    v = g.one(op="v", layer=0, dp=0, tp=0)
    g.drop_edge(n1, v)
    return [v], "The layer 0 V projection on DP0_PP0_TP0 has no incoming edge (its RMSNorm input edge is gone)."


def d_dangling_output(g):
    x = g.one(op="expert", layer=1, expert=3)
    comb = g.one(op="combine", layer=1)
    g.drop_edge(x, comb)
    return [x], "Layer 1 Expert 3 FFN has no outgoing edge: its output never reaches the All-to-All combine."


def d_attention_one_box(g):
    L = 1
    new = []
    for r in range(4):
        n1 = g.one(op="norm1", layer=L, tp=r)
        o = g.one(op="o", layer=L, tp=r)
        q = g.nodes[g.one(op="q", layer=L, tp=r)]
        mha = g.node("box", "Multi-Head Attention", q["inputs"], g.nodes[o]["inputs"], q["place"],
                     q["cluster"], ["Layer %d" % L], op="mha", layer=L, tp=r, dp=0)
        for op in ("q", "k", "v", "qk", "sm", "av"):
            g.drop_node(g.one(op=op, layer=L, tp=r))
        g.edge(n1, mha)
        g.edge(mha, o)
        new.append(mha)
    return new, ("Layer 1 attention is drawn as one 'Multi-Head Attention' box per TP rank instead of "
                 "Q/K/V projections, QK^T, Softmax and Attention x V.")


def d_v_bypasses_softmax(g):
    L, nodes = 1, []
    for r in range(2):
        sm = g.one(op="sm", layer=L, dp=0, tp=r)
        av = g.one(op="av", layer=L, dp=0, tp=r)
        o = g.one(op="o", layer=L, dp=0, tp=r)
        g.drop_edge(sm, av)
        g.edge(sm, o)
        g.nodes[av]["inputs"] = g.nodes[av]["inputs"][1:]          # only V's shape left
        g.nodes[o]["inputs"] = g.nodes[o]["inputs"] + g.nodes[sm]["outputs"]
        nodes += [sm, av, o]
    return nodes, ("In DP replica 0 layer 1, Attention x V takes only V; the Softmax goes to the Output "
                   "projection instead, so V bypasses the attention probabilities.")


def d_v_into_score(g):
    L, nodes = 0, []
    for r in range(2):
        k = g.one(op="k", layer=L, tp=r)
        v = g.one(op="v", layer=L, tp=r)
        qk = g.one(op="qk", layer=L, tp=r)
        g.drop_node(k)
        g.edge(v, qk)
        nodes += [v, qk]
    return nodes, ("In layer 0 the score QK^T is fed by Q and V (no K projection is drawn): V is wired "
                   "into the score instead of K.")


def d_qkv_into_oproj(g):
    L, nodes = 1, []
    for r in range(2):
        o = g.one(op="o", layer=L, tp=r)
        for op in ("qk", "sm", "av"):
            g.drop_node(g.one(op=op, layer=L, tp=r))
        for op in ("q", "k", "v"):
            g.edge(g.one(op=op, layer=L, tp=r), o)
        g.nodes[o]["inputs"] = g.nodes[o]["inputs"] * 3
        nodes.append(o)
    return nodes, ("In layer 1 Q, K and V projections feed the Output projection directly; there is no "
                   "QK^T, Softmax or Attention x V.")


def d_head_arithmetic(g):
    L = 3
    nids = attn_nodes(g, L)
    map_shapes(g, nids, lambda s: set_dim(s, "head_dim", 64))
    return [g.one(op="q", layer=L, tp=r) for r in range(4)], (
        "Layer 3 labels use head_dim=64 with 8 heads per TP4 rank (32 heads in all): 32 x 64 = 2048, "
        "not the hidden size 4096.")


def d_tp_heads(g):
    L = 2
    nids = attn_nodes(g, L)
    map_shapes(g, nids, lambda s: set_dim(s, "heads", 32))
    return [g.one(op=op, layer=L, tp=r) for r in range(4) for op in ("q", "k", "v")], (
        "Layer 2 Q/K/V projections on each TP4 rank output all 32 heads (heads=32, head_dim=128) "
        "instead of 32/4 = 8 heads per rank.")


def d_edge_shape_mismatch(g):
    sm = g.one(op="sm", layer=2, dp=0, tp=1)
    qk = g.one(op="qk", layer=2, dp=0, tp=1)
    g.nodes[sm]["inputs"] = [set_dim(s, "kv_seq", 384) for s in g.nodes[sm]["inputs"]]
    return [qk, sm], ("Layer 2 Softmax on DP0_PP1_TP1 declares Input kv_seq=384 while its producer QK^T "
                      "outputs kv_seq=512 (factor 0.75, not a parallel degree).")


def d_shard_without_gather(g):
    g.drop_node(g.one(op="ar_emb"))
    nodes = []
    for r in range(2):
        e = g.one(op="emb", tp=r)
        g.nodes[e]["name"] = "Embedding (hidden shard)"
        g.nodes[e]["outputs"] = [set_dim(s, "hidden", 1024) for s in g.nodes[e]["outputs"]]
        n1 = g.one(op="norm1", layer=0, tp=r)
        res = g.one(op="res1", layer=0, tp=r)
        g.edge(e, n1)
        g.edge(e, res)
        nodes += [e, n1, res]
    return nodes, ("Each TP2 rank's embedding outputs a hidden shard [.., hidden=1024] = 2048/TP2 that goes "
                   "straight into layer 0 RMSNorm and Residual (which take hidden=2048) with no all-gather.")


def d_stage_count(g):
    g.comment = "EP8 TP4 PP4 DP1"
    return [], "The comment declares PP4 but only two pipeline stages (PP rank 0 and 1) are drawn."


def d_stage_range_gap(g):
    g.clusters["dp0_pp0"]["label"] = "PP rank 0 — layers 0..0"
    return [], ("Stage layer ranges are 0..0 and 2..3: layer 1 (drawn inside PP rank 0) is covered by no "
                "stage range.")


def d_stage_missing_layer(g):
    for nid in list(g.find(layer=3)):
        g.drop_node(nid)
    nodes = []
    for r in range(4):
        res = g.one(op="res2", layer=2, tp=r)
        g.edge(res, g.one(op="fnorm", tp=r))
        nodes.append(res)
    return nodes, ("PP rank 1 claims layers 2..3 but no operator of layer 3 is drawn; layer 2 goes straight "
                   "to the final RMSNorm.")


def d_no_stage_transfer(g):
    nodes = []
    for r in range(4):
        s = g.one(op="sendrecv", tp=r)
        src = g.pred(s)[0]
        dsts = g.succ(s)
        g.drop_node(s)
        for t in dsts:
            g.edge(src, t)
        nodes += [src] + dsts
    return nodes, ("PP rank 0 (layer 1 Residual) is joined to PP rank 1 (layer 2 RMSNorm and Residual) by "
                   "plain edges, without Send/Recv nodes.")


def d_experts_subset_ranks(g):
    nodes = []
    for x in g.find(op="expert", layer=2):
        e = g.nodes[x]["role"]["expert"]
        g.nodes[x]["place"] = "GPU: DP0_PP1_EP%d" % (e // 4)
        nodes.append(x)
    return nodes, ("Layer 2 places its 16 experts only on EP ranks 0-3 (4 each); EP ranks 4-7 of EP8 "
                   "hold no expert.")


def d_experts_uneven(g):
    x = g.one(op="expert", layer=0, expert=15)
    g.nodes[x]["place"] = "GPU: DP0_PP0_EP0"
    return [x], ("Layer 0 Expert 15 is moved from EP7 to EP0: EP0 holds 3 experts and EP7 holds 1, "
                 "instead of 16/8 = 2 each.")


def d_no_gate(g):
    L = 3
    disp = g.one(op="dispatch", layer=L)
    for r in range(4):
        rt = g.one(op="router", layer=L, tp=r)
        g.drop_node(rt)
        w = g.one(op="wcomb", layer=L, tp=r)
        g.nodes[w]["inputs"] = g.nodes[w]["inputs"][:1]
    g.nodes[disp]["inputs"] = g.nodes[disp]["inputs"][:1]
    return [disp] + g.find(op="expert", layer=L), (
        "Layer 3 has no Router: tokens go from RMSNorm through the dispatch to the experts with no gate.")


def d_no_all_to_all(g):
    L = 1
    disp = g.one(op="dispatch", layer=L)
    etok = g.nodes[disp]["outputs"][0]
    experts = g.find(op="expert", layer=L)
    g.drop_node(disp)
    routers = []
    for r in range(2):
        rt = g.one(op="router", layer=L, tp=r)
        g.nodes[rt]["outputs"] = g.nodes[rt]["outputs"] + [etok]
        for x in experts:
            g.edge(rt, x, style="dashed")
        routers.append(rt)
    return routers + experts, ("Layer 1 tokens go from the Routers on TP ranks straight to the experts on "
                               "EP ranks (EP4) with no All-to-All dispatch.")


def d_tp_rank_missing(g):
    L = 1
    for op in ("norm1", "q", "k", "v", "qk", "sm", "av", "o"):
        g.drop_node(g.one(op=op, layer=L, tp=3))
    return [g.one(op="ar_attn", layer=L)] + [g.one(op="o", layer=L, tp=r) for r in range(3)], (
        "Layer 1 attention operators (RMSNorm to Output projection) are drawn for TP ranks 0-2 only; "
        "TP rank 3 of TP4 has none and the All-Reduce gets 3 shards.")


def d_no_allreduce_after_rowparallel(g):
    ar = g.one(op="ar_attn", layer=0, dp=0)
    g.drop_node(ar)
    nodes = []
    for r in range(2):
        o = g.one(op="o", layer=0, dp=0, tp=r)
        res = g.one(op="res1", layer=0, dp=0, tp=r)
        g.edge(o, res)
        nodes += [o, res]
    return nodes, ("In DP replica 0 layer 0 the row-parallel Output projection (partial sums) goes straight "
                   "into the Residual with no All-Reduce.")


def d_cross_gpu_no_comm(g):
    a = g.one(op="norm1", layer=1, dp=0, tp=0)
    b = g.one(op="norm1", layer=1, dp=0, tp=1)
    q = g.one(op="q", layer=1, dp=0, tp=1)
    g.drop_edge(b, q)
    g.edge(a, q)
    return [a, q], ("Layer 1 Q projection on DP0_PP0_TP1 takes its input from the RMSNorm on DP0_PP0_TP0: "
                    "a cross-GPU edge with no communication node.")


def d_comm_wrong_shape(g):
    ar = g.one(op="ar_mlp", layer=0)
    g.nodes[ar]["shape"] = "box"
    return [ar], "The layer 0 MLP All-Reduce is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g):
    x = g.one(op="sm", layer=2, dp=1, tp=0)
    g.nodes[x]["place"] = None
    return [x], "The layer 2 Softmax of DP replica 1, TP rank 0 has no GPU line."


def d_gpu_out_of_range(g):
    x = g.one(op="expert", layer=0, expert=5)
    g.nodes[x]["place"] = "GPU: DP2_PP0_EP2"
    return [x], ("Layer 0 Expert 5 is placed on DP2_PP0_EP2, but DP1 gives only DP rank 0: a rank beyond "
                 "the strategy's GPUs.")


def d_stages_share_gpus(g):
    nodes = []
    for L in (2, 3):
        for x in g.find(op="expert", layer=L):
            g.nodes[x]["place"] = g.nodes[x]["place"].replace("_PP1_", "_PP0_")
            nodes.append(x)
    return nodes, ("The experts of PP rank 1 (layers 2-3) are placed on DP0_PP0_EP0-7, the same GPUs as the "
                   "experts of PP rank 0.")


def d_strategy_mismatch(g):
    g.comment = "EP8 TP2 PP1 DP1"
    return [], "The comment declares EP8 but the experts are drawn on EP ranks 0-3 only (EP4)."


def d_missing_shapes(g):
    x = g.one(op="act", layer=3, dp=0, tp=1)
    g.nodes[x]["inputs"] = None
    g.nodes[x]["outputs"] = None
    return [x], "The layer 3 GELU on DP0_PP1_TP1 has no Input or Output line."


def d_placeholder(g):
    x = g.one(op="sm", layer=0, tp=1)
    map_shapes(g, [x], lambda s: set_dim(s, "batch", "?"))
    return [x], "The layer 0 Softmax on DP0_PP0_TP1 gives its shapes as [batch=?, ...], a placeholder."


def d_moe_before_attention(g):
    L, nodes = 1, []
    for r in range(4):
        n1 = g.one(op="norm1", layer=L, tp=r)
        res1 = g.one(op="res1", layer=L, tp=r)
        n2 = g.one(op="norm2", layer=L, tp=r)
        res2 = g.one(op="res2", layer=L, tp=r)
        prev = [p for p in g.pred(n1)]
        assert len(prev) == 1
        prev = prev[0]
        after = g.succ(res2)
        g.drop_edge(prev, n1)
        g.drop_edge(prev, res1)
        g.drop_edge(res1, n2)
        g.drop_edge(res1, res2)
        for t in after:
            g.drop_edge(res2, t)
        g.edge(prev, n2)
        g.edge(prev, res2)
        g.edge(res2, n1)
        g.edge(res2, res1)
        for t in after:
            g.edge(res1, t)
        nodes += [n2, n1]
    return nodes, ("Layer 1 is wired MoE first: the stream enters the MoE block (RMSNorm, Router, experts, "
                   "Residual) and only then the attention block.")


def d_missing_residual(g):
    L, nodes = 1, []
    for r in range(2):
        res1 = g.one(op="res1", layer=L, dp=0, tp=r)
        res2 = g.one(op="res2", layer=L, dp=0, tp=r)
        g.drop_edge(res1, res2)
        g.nodes[res2]["inputs"] = g.nodes[res2]["inputs"][:1]
        nodes.append(res2)
    return nodes, ("In DP replica 0 layer 1, the MLP Residual is fed only by the All-Reduce of the MLP; the "
                   "skip edge from the attention Residual is missing.")


DEFECTS = [
    # kind, category, base, function
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_3", d_dangling_input),
    ("dangling_output", "structure", "clean_2", d_dangling_output),
    ("attention_one_box", "attention", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_3", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_2", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1", d_experts_uneven),
    ("no_gate", "expert", "clean_1", d_no_gate),
    ("no_all_to_all", "expert", "clean_2", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_1", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_3", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_2", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3", d_missing_shapes),
    ("placeholder", "annotation", "clean_2", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3", d_missing_residual),
]

SKIPPED = {
    "experts_share_gpu": (
        "In house style T a placement IS a rank token (GPU: DP0_PP0_EP5): an expert's GPU is its EP rank, "
        "so 'experts of two different EP ranks on the same GPU' cannot be drawn; putting a second rank's "
        "experts on one token is indistinguishable from experts_uneven / experts_subset_ranks, which are "
        "produced separately."),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    clean = {name: build(cfg) for name, cfg in CLEAN.items()}
    manifest = []
    for name, g in clean.items():
        with open(os.path.join(OUT, name + ".dot"), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": "Clean DAG, strategy %s (%s)." % (g.comment, ", ".join(
                             sorted(set(CLEAN[name]["kinds"]))))})
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(clean[base])
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes,
                         "what": what + " (base: %s)" % base})
    for kind, why in SKIPPED.items():
        manifest.append({"file": None, "kind": kind, "category": "expert", "nodes": [],
                         "what": "SKIPPED: " + why})
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
