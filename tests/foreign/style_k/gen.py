#!/usr/bin/env python3
"""Independent generator of deployment DAGs in the "K" house style (JSON-to-DOT exporter look).

House style:
  * every node is shape=box, except communication (shape=oval) and routing (shape=parallelogram);
  * ids are quoted numeric strings ("1034");
  * node data is carried twice: as extra DOT attributes (op=, layer=, rank=, gpu=, in=, out=, ...)
    and in the label, one lower-case "key: value" line each, first line "op: <dotted op name>";
  * pipeline stages are clusters labelled "stage 1 (layers 2-3)" (with "dp0"/"dp1" appended when a
    file repeats its stages per data-parallel replica);
  * the strategy is the graph attribute label="ep=4,tp=2,pp=2,dp=1"; layers are numbered from 0.

Run:  python3 gen.py      -> writes out/clean_*.dot, out/defect_*.dot and out/manifest.json
Stdlib only.
"""
import copy
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# ----------------------------------------------------------------------------- helpers

def shp(*dims):
    return "[" + ",".join(str(d) for d in dims) + "]"


def gpuspec(ids):
    ids = sorted(set(ids))
    parts, i = [], 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else "%d-%d" % (ids[i], ids[j]))
        i = j + 1
    return ",".join(parts)


def parse_gpuspec(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


COMM, COMPUTE, ROUTE = "oval", "box", "parallelogram"


class Graph:
    def __init__(self, name, strategy, model):
        self.name = name
        self.strategy = strategy          # the graph label
        self.model = model                # extra graph attributes (model description)
        self.nodes = {}                   # id -> {"shape", "cluster", "f": [[key, value], ...]}
        self.order = []
        self.edges = []
        self.clusters = []                # [cluster_name, label]
        self.keys = {}                    # internal role key -> id (never rendered)
        self.next_id = 1000

    # --- construction
    def add(self, key, shape, cluster, fields):
        nid = str(self.next_id)
        self.next_id += 1
        self.nodes[nid] = {"shape": shape, "cluster": cluster,
                           "f": [[k, str(v)] for k, v in fields if v is not None]}
        self.order.append(nid)
        if key is not None:
            self.keys[key] = nid
        return nid

    def edge(self, a, b):
        self.edges.append((a, b))

    # --- mutation helpers (used by defects)
    def id(self, *key):
        return self.keys[tuple(key)]

    def get(self, nid, k):
        for kk, v in self.nodes[nid]["f"]:
            if kk == k:
                return v
        return None

    def set(self, nid, k, v):
        for pair in self.nodes[nid]["f"]:
            if pair[0] == k:
                pair[1] = str(v)
                return
        # insert before in/out so the label order stays op, layer, rank, ..., in, out
        f = self.nodes[nid]["f"]
        pos = len(f)
        for i, (kk, _) in enumerate(f):
            if kk in ("in", "out"):
                pos = i
                break
        f.insert(pos, [k, str(v)])

    def drop(self, nid, k):
        self.nodes[nid]["f"] = [p for p in self.nodes[nid]["f"] if p[0] != k]

    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [(a, b) for a, b in self.edges if a != nid and b != nid]
        for k in [k for k, v in self.keys.items() if v == nid]:
            del self.keys[k]

    def remove_edge(self, a, b):
        assert (a, b) in self.edges, (a, b)
        self.edges.remove((a, b))

    def succ(self, nid):
        return [b for a, b in self.edges if a == nid]

    def pred(self, nid):
        return [a for a, b in self.edges if b == nid]

    def set_cluster_label(self, cname, label):
        for c in self.clusters:
            if c[0] == cname:
                c[1] = label
                return
        raise KeyError(cname)

    # --- output
    def node_line(self, nid, indent):
        n = self.nodes[nid]
        label = "\\n".join("%s: %s" % (k, v) for k, v in n["f"])
        attrs = ['shape=%s' % n["shape"], 'label="%s"' % label]
        attrs += ['%s="%s"' % (k, v) for k, v in n["f"]]
        return '%s"%s" [%s];' % (indent, nid, ", ".join(attrs))

    def render(self):
        lines = ['digraph "%s" {' % self.name,
                 '  label="%s";' % self.strategy,
                 '  labelloc=t;',
                 '  rankdir=TB;']
        for k, v in self.model:
            lines.append('  %s="%s";' % (k, v))
        lines.append('  node [fontname="Helvetica", fontsize=9];')
        for nid in self.order:
            if self.nodes[nid]["cluster"] is None:
                lines.append(self.node_line(nid, "  "))
        for cname, clabel in self.clusters:
            lines.append('  subgraph "%s" {' % cname)
            lines.append('    label="%s";' % clabel)
            for nid in self.order:
                if self.nodes[nid]["cluster"] == cname:
                    lines.append(self.node_line(nid, "    "))
            lines.append("  }")
        for a, b in self.edges:
            lines.append('  "%s" -> "%s";' % (a, b))
        lines.append("}")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- builder

def build(cfg):
    EP, TP, PP, DP = cfg["ep"], cfg["tp"], cfg["pp"], cfg["dp"]
    L, H, NH, HD = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    moe = cfg["moe"]
    assert NH * HD == H and NH % TP == 0 and H % TP == 0 and V % TP == 0 and L % PP == 0
    if moe:
        E, K = cfg["experts"], cfg["top_k"]
        assert DP == 1 and E % EP == 0 and (S % TP == 0)
        groups, gname = EP, "ep"        # attention is replicated per EP rank (batch split), TP inside
    else:
        F = cfg["ffn"]
        assert F % TP == 0 and EP == 1
        groups, gname = DP, "dp"
    assert B % groups == 0
    b = B // groups
    per_stage = groups * TP
    lps = L // PP
    repl_clusters = (not moe) and DP > 1   # clusters per (stage, dp replica)

    strategy = "ep=%d,tp=%d,pp=%d,dp=%d" % (EP, TP, PP, DP)
    model = [("model_layers", L), ("model_hidden", H), ("model_heads", NH),
             ("model_head_dim", HD), ("model_vocab", V)]
    if moe:
        model += [("model_experts", E), ("model_top_k", K), ("model_expert_ffn", cfg["expert_ffn"])]
    else:
        model += [("model_ffn", F)]
    model += [("batch", B), ("seq_len", S)]
    g = Graph(cfg["name"], strategy, model)

    def gpu(s, grp, t):
        return s * per_stage + grp * TP + t

    def stage_gpus(s):
        return list(range(s * per_stage, (s + 1) * per_stage))

    def group_gpus(s, grp):
        return [gpu(s, grp, t) for t in range(TP)]

    def cl(s, grp=None):
        if repl_clusters:
            return None if grp is None else "cluster_stage_%d_dp%d" % (s, grp)
        return "cluster_stage_%d" % s

    for s in range(PP):
        rng = "(layers %d-%d)" % (s * lps, (s + 1) * lps - 1)
        if repl_clusters:
            for d in range(DP):
                g.clusters.append(["cluster_stage_%d_dp%d" % (s, d), "stage %d %s dp%d" % (s, rng, d)])
        else:
            g.clusters.append(["cluster_stage_%d" % s, "stage %d %s" % (s, rng)])

    def rank(grp, t, s):
        r = "tp%d/%s%d" % (t, gname, grp)
        if PP > 1:
            r += "/pp%d" % s
        return r

    def tpgroup(grp, s):
        r = "tp0-%d/%s%d" % (TP - 1, gname, grp)
        if PP > 1:
            r += "/pp%d" % s
        return r

    def allgroups(s):
        r = "%s0-%d" % (gname, groups - 1)
        if PP > 1:
            r += "/pp%d" % s
        return r

    def comp(key, op, s, grp, t, layer, inn, out, extra=(), shape=COMPUTE):
        f = [("op", op), ("layer", layer), ("rank", rank(grp, t, s)), ("gpu", gpu(s, grp, t))]
        f += list(extra)
        f += [("in", inn), ("out", out)]
        return g.add(key, shape, cl(s, grp), f)

    def comm(key, op, s, grp, layer, gpus, group, inn, out):
        f = [("op", op), ("layer", layer), ("group", group), ("gpu", gpuspec(gpus)),
             ("in", inn), ("out", out)]
        return g.add(key, COMM, cl(s, grp), f)

    # ---- input, scatter, embedding
    s0 = 0
    inp = g.add(("input",), COMPUTE, cl(s0),
                [("op", "input"), ("rank", "%s0" % gname if groups > 1 else "tp0"), ("gpu", 0),
                 ("in", shp(B, S)), ("out", shp(B, S))])
    cur = {}
    if groups > 1 or TP > 1:
        sc = g.add(("scatter",), COMM, cl(s0),
                   [("op", "comm.scatter"), ("group", allgroups(s0)), ("gpu", gpuspec(stage_gpus(s0))),
                    ("in", shp(B, S)), ("out", shp(b, S))])
        g.edge(inp, sc)
        src = sc
    else:
        src = inp
    for grp in range(groups):
        for t in range(TP):
            e = comp(("embed", grp, t), "embedding", s0, grp, t, None, shp(b, S), shp(b, S, H))
            g.edge(src, e)
            cur[(grp, t)] = e

    # ---- layers
    for layer in range(L):
        s = layer // lps
        if layer % lps == 0 and s > 0:
            for grp in range(groups):
                for t in range(TP):
                    snd = g.add(("send", layer, grp, t), COMM, cl(s - 1, grp),
                                [("op", "pp.send"), ("rank", rank(grp, t, s - 1)),
                                 ("gpu", gpu(s - 1, grp, t)), ("in", shp(b, S, H)), ("out", shp(b, S, H))])
                    rcv = g.add(("recv", layer, grp, t), COMM, cl(s, grp),
                                [("op", "pp.recv"), ("rank", rank(grp, t, s)),
                                 ("gpu", gpu(s, grp, t)), ("in", shp(b, S, H)), ("out", shp(b, S, H))])
                    g.edge(cur[(grp, t)], snd)
                    g.edge(snd, rcv)
                    cur[(grp, t)] = rcv

        hl = NH // TP           # heads per TP rank
        hs = H // TP            # hidden shard
        # -- attention sublayer
        for grp in range(groups):
            os_ = []
            for t in range(TP):
                x = cur[(grp, t)]
                heads = [("heads", hl), ("head_dim", HD)]
                n = comp(("attn.norm", layer, grp, t), "attention.norm", s, grp, t, layer, shp(b, S, H), shp(b, S, H))
                q = comp(("attn.q", layer, grp, t), "attention.q", s, grp, t, layer, shp(b, S, H), shp(b, S, hs), heads)
                k = comp(("attn.k", layer, grp, t), "attention.k", s, grp, t, layer, shp(b, S, H), shp(b, S, hs), heads)
                v = comp(("attn.v", layer, grp, t), "attention.v", s, grp, t, layer, shp(b, S, H), shp(b, S, hs), heads)
                qk = comp(("attn.qk", layer, grp, t), "attention.qk", s, grp, t, layer,
                          shp(b, S, hs) + ", " + shp(b, S, hs), shp(b, hl, S, S), [("heads", hl)])
                sm = comp(("attn.softmax", layer, grp, t), "attention.softmax", s, grp, t, layer,
                          shp(b, hl, S, S), shp(b, hl, S, S))
                pv = comp(("attn.pv", layer, grp, t), "attention.pv", s, grp, t, layer,
                          shp(b, hl, S, S) + ", " + shp(b, S, hs), shp(b, S, hs))
                o = comp(("attn.o", layer, grp, t), "attention.o", s, grp, t, layer, shp(b, S, hs), shp(b, S, H),
                         [("parallel", "row")] if TP > 1 else ())
                for a, c in [(x, n), (n, q), (n, k), (n, v), (q, qk), (k, qk), (qk, sm), (sm, pv), (v, pv), (pv, o)]:
                    g.edge(a, c)
                os_.append(o)
            if TP > 1:
                ar = comm(("attn.ar", layer, grp), "comm.allreduce", s, grp, layer, group_gpus(s, grp),
                          tpgroup(grp, s), shp(b, S, H), shp(b, S, H))
                for o in os_:
                    g.edge(o, ar)
                subs = [ar] * TP
            else:
                subs = os_
            for t in range(TP):
                r = comp(("res1", layer, grp, t), "residual.add", s, grp, t, layer,
                         shp(b, S, H) + ", " + shp(b, S, H), shp(b, S, H))
                g.edge(subs[t], r)
                g.edge(cur[(grp, t)], r)
                cur[(grp, t)] = r

        # -- MoE / MLP sublayer
        if moe:
            tok = b * S // TP                 # tokens each GPU dispatches (sequence split over TP)
            cap = B * S * K // E              # tokens per expert (balanced)
            disp = comm(("disp", layer), "comm.a2a_dispatch", s, None if not repl_clusters else 0, layer,
                        stage_gpus(s), allgroups(s), shp(tok, H), shp(cap, H))
            comb = comm(("comb", layer), "comm.a2a_combine", s, None, layer,
                        stage_gpus(s), allgroups(s), shp(cap, H), shp(tok, K, H))
            for grp in range(groups):
                for t in range(TP):
                    x = cur[(grp, t)]
                    n = comp(("moe.norm", layer, grp, t), "moe.norm", s, grp, t, layer, shp(b, S, H), shp(b, S, H))
                    rt = comp(("router", layer, grp, t), "moe.router", s, grp, t, layer, shp(b, S, H), shp(tok, H),
                              [("select", "top-%d of %d" % (K, E))], shape=ROUTE)
                    g.edge(x, n)
                    g.edge(n, rt)
                    g.edge(rt, disp)
            epl = E // EP
            for e in range(E):
                r, j = divmod(e, epl)
                eg = s * per_stage + r * TP + (j % TP)
                ex = g.add(("expert", layer, e), COMPUTE, cl(s),
                           [("op", "moe.expert.%d" % e), ("layer", layer),
                            ("rank", "ep%d" % r + ("/pp%d" % s if PP > 1 else "")), ("gpu", eg),
                            ("ffn", cfg["expert_ffn"]), ("in", shp(cap, H)), ("out", shp(cap, H))])
                g.edge(disp, ex)
                g.edge(ex, comb)
            for grp in range(groups):
                ms = []
                for t in range(TP):
                    m = comp(("merge", layer, grp, t), "moe.merge", s, grp, t, layer, shp(tok, K, H),
                             shp(b, S // TP, H), shape=ROUTE)
                    g.edge(comb, m)
                    ms.append(m)
                if TP > 1:
                    ag = comm(("moe.ag", layer, grp), "comm.allgather", s, grp, layer, group_gpus(s, grp),
                              tpgroup(grp, s), shp(b, S // TP, H), shp(b, S, H))
                    for m in ms:
                        g.edge(m, ag)
                    subs = [ag] * TP
                else:
                    subs = ms
                for t in range(TP):
                    r = comp(("res2", layer, grp, t), "residual.add", s, grp, t, layer,
                             shp(b, S, H) + ", " + shp(b, S, H), shp(b, S, H))
                    g.edge(subs[t], r)
                    g.edge(cur[(grp, t)], r)
                    cur[(grp, t)] = r
        else:
            fs = F // TP
            for grp in range(groups):
                ds = []
                for t in range(TP):
                    x = cur[(grp, t)]
                    n = comp(("mlp.norm", layer, grp, t), "mlp.norm", s, grp, t, layer, shp(b, S, H), shp(b, S, H))
                    up = comp(("mlp.up", layer, grp, t), "mlp.up", s, grp, t, layer, shp(b, S, H), shp(b, S, fs),
                              [("parallel", "column")] if TP > 1 else ())
                    act = comp(("mlp.act", layer, grp, t), "mlp.act", s, grp, t, layer, shp(b, S, fs), shp(b, S, fs),
                               [("fn", "gelu")])
                    dn = comp(("mlp.down", layer, grp, t), "mlp.down", s, grp, t, layer, shp(b, S, fs), shp(b, S, H),
                              [("parallel", "row")] if TP > 1 else ())
                    for a, c in [(x, n), (n, up), (up, act), (act, dn)]:
                        g.edge(a, c)
                    ds.append(dn)
                if TP > 1:
                    ar = comm(("mlp.ar", layer, grp), "comm.allreduce", s, grp, layer, group_gpus(s, grp),
                              tpgroup(grp, s), shp(b, S, H), shp(b, S, H))
                    for d in ds:
                        g.edge(d, ar)
                    subs = [ar] * TP
                else:
                    subs = ds
                for t in range(TP):
                    r = comp(("res2", layer, grp, t), "residual.add", s, grp, t, layer,
                             shp(b, S, H) + ", " + shp(b, S, H), shp(b, S, H))
                    g.edge(subs[t], r)
                    g.edge(cur[(grp, t)], r)
                    cur[(grp, t)] = r

    # ---- final norm, LM head (vocab parallel), gathers, output
    s = PP - 1
    lasts = []
    for grp in range(groups):
        heads = []
        for t in range(TP):
            n = comp(("fnorm", grp, t), "final.norm", s, grp, t, None, shp(b, S, H), shp(b, S, H))
            lm = comp(("lm", grp, t), "lm_head", s, grp, t, None, shp(b, S, H), shp(b, S, V // TP),
                      [("parallel", "vocab")] if TP > 1 else ())
            g.edge(cur[(grp, t)], n)
            g.edge(n, lm)
            heads.append(lm)
        if TP > 1:
            ag = comm(("lm.ag", grp), "comm.allgather", s, grp, None, group_gpus(s, grp), tpgroup(grp, s),
                      shp(b, S, V // TP), shp(b, S, V))
            for lm in heads:
                g.edge(lm, ag)
            lasts.append(ag)
        else:
            lasts.extend(heads)
    if len(lasts) > 1:
        gpus_all = stage_gpus(s)
        ga = g.add(("gather",), COMM, cl(s),
                   [("op", "comm.gather"), ("group", allgroups(s)), ("gpu", gpuspec(gpus_all)),
                    ("in", shp(b, S, V)), ("out", shp(B, S, V))])
        for x in lasts:
            g.edge(x, ga)
        src = ga
    else:
        src = lasts[0]
    out = g.add(("output",), COMPUTE, cl(s),
                [("op", "output"), ("rank", "%s0" % gname + ("/pp%d" % s if PP > 1 else "")),
                 ("gpu", s * per_stage), ("in", shp(B, S, V)), ("out", shp(B, S, V))])
    g.edge(src, out)
    return g


# ----------------------------------------------------------------------------- the three clean models

CFG = {
    "clean_1": dict(name="moe_ep2_tp2", moe=True, ep=2, tp=2, pp=1, dp=1, layers=2, hidden=1024, heads=16,
                    head_dim=64, experts=8, top_k=2, expert_ffn=2816, vocab=32000, batch=4, seq=512),
    "clean_2": dict(name="moe_ep4_tp1_pp2", moe=True, ep=4, tp=1, pp=2, dp=1, layers=4, hidden=2048, heads=16,
                    head_dim=128, experts=8, top_k=2, expert_ffn=5632, vocab=32000, batch=4, seq=512),
    "clean_3": dict(name="dense_tp4_dp2", moe=False, ep=1, tp=4, pp=1, dp=2, layers=2, hidden=4096, heads=32,
                    head_dim=128, ffn=14336, vocab=32000, batch=4, seq=512),
}


# ----------------------------------------------------------------------------- defects
# Each returns (nodes, what). They mutate a deep copy of a clean graph.

def d_cycle(g):
    d, e = g.id("disp", 0), g.id("expert", 0, 3)
    g.edge(e, d)
    return [d, e], "Layer 0: the dispatch all-to-all feeds expert 3 and expert 3 also feeds the dispatch all-to-all back (drawn both ways), a cycle through a communication node."


def d_dangling_input(g):
    n, k = g.id("attn.norm", 1, 1, 1), g.id("attn.k", 1, 1, 1)
    g.remove_edge(n, k)
    return [k], "Layer 1 K projection on GPU 3 (tp1/ep1) has no incoming edge."


def d_dangling_output(g):
    r, d = g.id("router", 1, 0, 1), g.id("disp", 1)
    g.remove_edge(r, d)
    return [r], "Layer 1 router on GPU 1 (tp1/ep0) has no outgoing edge (its edge into the dispatch all-to-all was dropped)."


def d_attention_one_box(g):
    ids = []
    for grp in range(2):
        for t in range(2):
            gid = g.get(g.id("attn.o", 1, grp, t), "gpu")
            n, ar = g.id("attn.norm", 1, grp, t), g.id("attn.ar", 1, grp)
            for r in ("attn.q", "attn.k", "attn.v", "attn.qk", "attn.softmax", "attn.pv", "attn.o"):
                g.remove_node(g.id(r, 1, grp, t))
            box = g.add(("attn.mha", 1, grp, t), COMPUTE, "cluster_stage_0",
                        [("op", "attention.mha"), ("name", "Multi-Head Attention"), ("layer", 1),
                         ("rank", "tp%d/ep%d" % (t, grp)), ("gpu", gid), ("heads", 8), ("head_dim", 64),
                         ("in", shp(2, 512, 1024)), ("out", shp(2, 512, 1024))])
            g.edge(n, box)
            g.edge(box, ar)
            ids.append(box)
    return ids, "Layer 1 attention is drawn as one 'Multi-Head Attention' box per GPU (no q/k/v, score, softmax, weighted sum, output projection)."


def d_v_bypasses_softmax(g):
    sm, pv, o = g.id("attn.softmax", 0, 1, 0), g.id("attn.pv", 0, 1, 0), g.id("attn.o", 0, 1, 0)
    g.remove_edge(sm, pv)
    g.edge(sm, o)
    g.set(pv, "in", shp(2, 512, 512))
    g.set(o, "in", shp(2, 512, 512) + ", " + shp(2, 8, 512, 512))
    return [sm, pv, g.id("attn.v", 0, 1, 0), o], "Layer 0 on GPU 2 (tp0/ep1): V feeds the weighted sum but the softmax does not; the softmax goes straight to the output projection."


def d_v_into_score(g):
    k, v = g.id("attn.k", 1, 0, 1), g.id("attn.v", 1, 0, 1)
    qk, pv = g.id("attn.qk", 1, 0, 1), g.id("attn.pv", 1, 0, 1)
    g.remove_edge(k, qk)
    g.remove_edge(v, pv)
    g.edge(v, qk)
    g.edge(k, pv)
    return [v, qk, k, pv], "Layer 1 on GPU 1 (tp1/ep0): V is wired into the QK^T score instead of K (K and V swapped, so K goes to the weighted sum)."


def d_qkv_into_oproj(g):
    ids = []
    for grp in range(2):
        for t in range(2):
            q, k, v, o = (g.id(r, 0, grp, t) for r in ("attn.q", "attn.k", "attn.v", "attn.o"))
            for r in ("attn.qk", "attn.softmax", "attn.pv"):
                g.remove_node(g.id(r, 0, grp, t))
            for x in (q, k, v):
                g.edge(x, o)
            g.set(o, "in", ", ".join([shp(2, 512, 512)] * 3))
            ids += [q, k, v, o]
    return ids, "Layer 0 (all 4 GPUs): Q, K and V go straight into the output projection; the score, softmax and weighted sum are missing."


def d_head_arithmetic(g):
    ids = []
    for grp in range(2):
        for t in range(4):
            for r in ("attn.q", "attn.k", "attn.v"):
                nid = g.id(r, 1, grp, t)
                g.set(nid, "head_dim", 96)
                ids.append(nid)
    return ids, "Layer 1 q/k/v labels say 8 heads x head_dim 96 per TP4 rank (= 768, x4 ranks = 3072 = 32 heads x 96) instead of 8 x 128 = 1024 = 4096/4."


def d_tp_heads(g):
    grp, t, L = 1, 2, 0
    full = shp(2, 512, 4096)
    ids = []
    for r in ("attn.q", "attn.k", "attn.v"):
        nid = g.id(r, L, grp, t)
        g.set(nid, "heads", 32)
        g.set(nid, "out", full)
        ids.append(nid)
    qk, sm, pv, o = (g.id(r, L, grp, t) for r in ("attn.qk", "attn.softmax", "attn.pv", "attn.o"))
    g.set(qk, "heads", 32)
    g.set(qk, "in", full + ", " + full)
    g.set(qk, "out", shp(2, 32, 512, 512))
    g.set(sm, "in", shp(2, 32, 512, 512))
    g.set(sm, "out", shp(2, 32, 512, 512))
    g.set(pv, "in", shp(2, 32, 512, 512) + ", " + full)
    g.set(pv, "out", full)
    g.set(o, "in", full)
    return ids + [qk, sm, pv, o], "Layer 0 on GPU 6 (tp2/dp1): the q/k/v projections of a TP4 rank output all 32 heads ([2,512,4096]) instead of 32/4 = 8 heads ([2,512,1024]); shapes downstream follow consistently."


def d_edge_shape_mismatch(g):
    r, n = g.id("res1", 0, 1, 0), g.id("moe.norm", 0, 1, 0)
    g.set(n, "in", shp(2, 384, 1024))
    return [r, n], "Layer 0 moe.norm on GPU 2 takes [2,384,1024] while its producer (the residual add) outputs [2,512,1024]."


def d_shard_without_gather(g):
    ids = []
    for t in range(4):
        e, n, r = g.id("embed", 0, t), g.id("attn.norm", 0, 0, t), g.id("res1", 0, 0, t)
        g.set(e, "out", shp(2, 512, 1024))
        g.set(n, "in", shp(2, 512, 1024))
        g.set(r, "in", shp(2, 512, 4096) + ", " + shp(2, 512, 1024))
        ids += [e, n, r]
    return ids, "In replica dp0 the embeddings output a hidden shard [2,512,1024] (= 4096/TP4) that reaches layer 0's norm and residual add (full hidden 4096) with no all-gather."


def d_stage_count(g):
    g.strategy = "ep=4,tp=1,pp=4,dp=1"
    return [], "The graph label declares pp=4 but only 2 stage clusters are drawn."


def d_stage_range_gap(g):
    g.set_cluster_label("cluster_stage_1", "stage 1 (layers 3-3)")
    return [g.id("attn.norm", 2, grp, 0) for grp in range(4)], "Stage ranges are 0-1 and 3-3: layer 2 is claimed by no stage (its operators are drawn in stage 1's cluster)."


def d_stage_missing_layer(g):
    for key in [k for k in g.keys if len(k) > 1 and k[0] not in ("embed", "fnorm", "lm", "lm.ag") and k[1] == 3]:
        g.remove_node(g.keys[key])
    for grp in range(4):
        g.edge(g.id("res2", 2, grp, 0), g.id("fnorm", grp, 0))
    return [g.id("res2", 2, grp, 0) for grp in range(4)], "Stage 1 claims layers 2-3 but no operator of layer 3 is drawn (layer 2 feeds the final norm)."


def d_no_stage_transfer(g):
    ids = []
    for grp in range(4):
        snd, rcv = g.id("send", 2, grp, 0), g.id("recv", 2, grp, 0)
        src, dsts = g.pred(snd)[0], g.succ(rcv)
        g.remove_node(snd)
        g.remove_node(rcv)
        for d in dsts:
            g.edge(src, d)
        ids += [src] + dsts
    return ids, "Stage 0 and stage 1 are joined by plain edges (layer 1 residual add on GPUs 0-3 straight into layer 2 on GPUs 4-7) with no pp.send/pp.recv."


def d_experts_subset_ranks(g):
    ids = []
    for e, r in ((4, 0), (5, 0), (6, 1), (7, 1)):
        nid = g.id("expert", 2, e)
        g.set(nid, "rank", "ep%d/pp1" % r)
        g.set(nid, "gpu", 4 + r)
        ids.append(nid)
    return ids, "Layer 2 places its 8 experts only on EP ranks 0 and 1 (GPUs 4, 5; 4 each); EP ranks 2 and 3 hold none."


def d_experts_uneven(g):
    nid = g.id("expert", 1, 4)
    g.set(nid, "rank", "ep0")
    g.set(nid, "gpu", 1)
    return [nid], "Layer 1 expert 4 moved to EP rank 0 (GPU 1): EP rank 0 holds 5 experts and EP rank 1 holds 3 instead of 8/2 = 4 each."


def d_experts_share_gpu(g):
    nid = g.id("expert", 0, 5)
    g.set(nid, "gpu", 1)
    return [nid, g.id("expert", 0, 1), g.id("expert", 0, 3)], "Layer 0 expert 5 of EP rank 1 is placed on GPU 1, which holds EP rank 0's experts 1 and 3."


def d_no_gate(g):
    ids = []
    d = g.id("disp", 1)
    for grp in range(4):
        n, r = g.id("moe.norm", 1, grp, 0), g.id("router", 1, grp, 0)
        g.remove_node(r)
        g.edge(n, d)
        ids.append(n)
    g.set(d, "in", shp(1, 512, 2048))
    return ids + [d], "Layer 1 has no router/gate: the MoE norm feeds the dispatch all-to-all and experts directly."


def d_no_all_to_all(g):
    d = g.id("disp", 3)
    g.remove_node(d)
    ids = []
    for e in range(8):
        r = g.id("router", 3, e // 2, 0)
        x = g.id("expert", 3, e)
        g.edge(r, x)
        ids.append(x)
    return ids, "Layer 3 (EP4) has no dispatch all-to-all: each router feeds only its own GPU's experts directly."


def d_tp_rank_missing(g):
    ids = []
    for r in ("mlp.norm", "mlp.up", "mlp.act", "mlp.down"):
        nid = g.id(r, 1, 1, 3)
        ids.append(nid)
        g.remove_node(nid)
    return [g.id("mlp.ar", 1, 1)] + [g.id("mlp.up", 1, 1, t) for t in range(3)], "Layer 1 MLP of replica dp1 is drawn for TP ranks 0-2 only (GPUs 4-6); TP rank 3 (GPU 7) has no norm/up/act/down and the all-reduce has 3 inputs."


def d_no_allreduce_after_rowparallel(g):
    ar = g.id("attn.ar", 1, 1)
    g.remove_node(ar)
    ids = []
    for t in range(2):
        o, r = g.id("attn.o", 1, 1, t), g.id("res1", 1, 1, t)
        g.edge(o, r)
        ids += [o, r]
    return ids, "Layer 1 in EP rank 1: the row-parallel output projections (GPUs 2, 3) go straight into the residual add with no all-reduce."


def d_cross_gpu_no_comm(g):
    a, a1, n = g.id("res1", 0, 0, 0), g.id("res1", 0, 0, 1), g.id("moe.norm", 0, 0, 1)
    g.remove_edge(a1, n)
    g.edge(a, n)
    return [a, n], "Layer 0: the residual add on GPU 0 feeds moe.norm on GPU 1 by a plain edge, no communication node."


def d_comm_wrong_shape(g):
    ar = g.id("attn.ar", 0, 0)
    g.nodes[ar]["shape"] = COMPUTE
    return [ar], "Layer 0 attention all-reduce of replica dp0 is drawn as a box instead of an ellipse."


def d_missing_gpu(g):
    nid = g.id("mlp.act", 1, 1, 2)
    g.drop(nid, "gpu")
    return [nid], "Layer 1 mlp.act of tp2/dp1 has no GPU placement."


def d_gpu_out_of_range(g):
    ids = []
    for nid in g.order:
        spec = g.get(nid, "gpu")
        if spec is None:
            continue
        gs = parse_gpuspec(spec)
        if 3 in gs:
            g.set(nid, "gpu", gpuspec([4 if x == 3 else x for x in gs]))
            if g.nodes[nid]["shape"] != COMM:
                ids.append(nid)
    return ids[:6], "Everything of GPU 3 (tp1/ep1) is placed on GPU 4, outside the 4 GPUs of ep=2,tp=2,pp=1,dp=1 (ids 0-3)."


def d_stages_share_gpus(g):
    ids = []
    for nid in g.order:
        if g.nodes[nid]["cluster"] == "cluster_stage_1":
            spec = g.get(nid, "gpu")
            g.set(nid, "gpu", gpuspec([x - 1 for x in parse_gpuspec(spec)]))
            if g.get(nid, "gpu") == "3":
                ids.append(nid)
    return ids[:6], "Stage 1 is placed on GPUs 3-6 instead of 4-7, so GPU 3 belongs to both stage 0 and stage 1."


def d_strategy_mismatch(g):
    g.strategy = "ep=2,tp=4,pp=1,dp=1"
    return [], "The graph label declares tp=4 but only TP ranks tp0-tp1 are drawn (shards are 1024/2)."


def d_missing_shapes(g):
    nid = g.id("attn.softmax", 1, 1, 0)
    g.drop(nid, "in")
    g.drop(nid, "out")
    return [nid], "Layer 1 attention.softmax on GPU 2 carries no in/out shapes."


def d_placeholder(g):
    nid = g.id("moe.norm", 1, 2, 0)
    g.set(nid, "in", "[?,512,2048]")
    g.set(nid, "out", "[?,512,2048]")
    return [nid], "Layer 1 moe.norm on GPU 2 has placeholder shapes [?,512,2048] (batch dimension '?')."


def d_moe_before_attention(g):
    L = 1
    ids = []
    for grp in range(2):
        for t in range(2):
            an, r1 = g.id("attn.norm", L, grp, t), g.id("res1", L, grp, t)
            mn, r2 = g.id("moe.norm", L, grp, t), g.id("res2", L, grp, t)
            x = [p for p in g.pred(an)][0]
            nxt = g.succ(r2)
            g.remove_edge(x, an)
            g.remove_edge(x, r1)
            g.remove_edge(r1, mn)
            g.remove_edge(r1, r2)
            for n in nxt:
                g.remove_edge(r2, n)
            g.edge(x, mn)
            g.edge(x, r2)
            g.edge(r2, an)
            g.edge(r2, r1)
            for n in nxt:
                g.edge(r1, n)
            ids += [mn, an]
    return ids, "Layer 1 is wired MoE first: the layer input goes through moe.norm/router/experts and its residual add before attention.norm."


def d_missing_residual(g):
    x, r = g.id("res1", 0, 0, 0), g.id("res2", 0, 0, 0)
    g.remove_edge(x, r)
    g.set(r, "in", shp(2, 512, 1024))
    return [r], "Layer 0 MoE residual add on GPU 0 is fed only by the MoE output (all-gather); the skip edge from the attention residual is removed."


DEFECTS = [
    # kind, category, base, function
    ("cycle", "structure", "clean_1", d_cycle),
    ("dangling_input", "structure", "clean_1", d_dangling_input),
    ("dangling_output", "structure", "clean_1", d_dangling_output),
    ("attention_one_box", "attention", "clean_1", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_1", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_3", d_head_arithmetic),
    ("tp_heads", "attention", "clean_3", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_1", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_3", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_2", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_2", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_2", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_2", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2", d_no_gate),
    ("no_all_to_all", "expert", "clean_2", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_3", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_1", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_1", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_3", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_3", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_1", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_2", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_1", d_missing_shapes),
    ("placeholder", "annotation", "clean_2", d_placeholder),
    ("moe_before_attention", "structure", "clean_1", d_moe_before_attention),
    ("missing_residual", "structure", "clean_1", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": "Clean MoE, ep=2,tp=2,pp=1,dp=1: 2 layers, hidden 1024 (16x64 heads), 8 experts top-2, attention TP2 per EP rank.",
    "clean_2": "Clean MoE, ep=4,tp=1,pp=2,dp=1: 4 layers in 2 stages (0-1 on GPUs 0-3, 2-3 on GPUs 4-7), hidden 2048 (16x128), 8 experts top-2.",
    "clean_3": "Clean dense, ep=1,tp=4,pp=1,dp=2: 2 layers, hidden 4096 (32x128), ffn 14336, two DP replicas on GPUs 0-3 and 4-7.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    cleans = {}
    for name, cfg in CFG.items():
        g = build(cfg)
        cleans[name] = g
        with open(os.path.join(OUT, name + ".dot"), "w") as fh:
            fh.write(g.render())
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": CLEAN_WHAT[name], "base": None})
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(cleans[base])
        g.name = "%s_defect_%s" % (g.name, kind)
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(g.render())
        manifest.append({"file": fname, "kind": kind, "category": cat, "nodes": nodes, "what": what,
                         "base": base + ".dot"})
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
