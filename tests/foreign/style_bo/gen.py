#!/usr/bin/env python3
"""bo-draw: writes LLM deployment DAGs in the "bo" house style.

python3 gen.py  ->  out/clean_{1,2,3}.dot, out/defect_<kind>.dot, out/manifest.json

House style (applied to every file):
  * node ids are numbers only, always quoted ("17"); the strategy legend is "0"
  * labels are YAML-ish: first line = snake_case operator name, every further line starts with
    "• " (a fact: shape in / shape out / device / layer / tp rank / ...) or "- " (a free-text
    note, e.g. "- row-parallel, partial sums"); every line is left-justified (\\l), trailing \\l
  * shapes are positional: [batch, seq, hidden] or [batch, seq, heads, head_dim] or
    [batch, heads, seq, seq]; several inputs are listed "[..], [..]"
  * placement is "• device: 2", "• device: 0,2", "• device: 0-3"
  * strategy lives only in a legend node  shape=note  "strategy\\l• ep: ..\\l• tp: ..\\l..."
  * pipeline stages are clusters "pp stage 0 • layers 0-1" (+ " • dp replica d" when several DP
    replicas are drawn)
  * attention runs data-parallel over the EP groups of a stage: an attention node of TP rank t
    sits on TP rank t of every EP group ("device: 0,2"); replicated ops (norms, residuals,
    router) sit on the whole stage ("device: 0-3"); shapes are the logical micro-batch
  own quirks:
  (1) colour by TP rank: tp 0 light blue, tp 1 peach, replicated grey, communication ellipses
      pale yellow, routing parallelograms lavender; residual skip edges are bold grey and
      labelled "skip", router edges dashed, the pipeline hop labelled "p2p"
  (2) every node ends with a "• dtype: ..." line (bf16; int32 for token ids), and every block is preceded by a
      "// ── layer N · attention ──" style banner comment in the DOT text
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL_TP = {0: "#d6e6f5", 1: "#fbe0c8", 2: "#d9f0d3", 3: "#f3d6e4"}
FILL_REP = "#eeeeee"
FILL_COMM = "#fff2a8"
FILL_ROUTE = "#e3d7f0"
FILL_IO = "#ffffff"


def fmt_dev(devs):
    devs = sorted(set(devs))
    if len(devs) == 1:
        return str(devs[0])
    if devs == list(range(devs[0], devs[-1] + 1)):
        return "%d-%d" % (devs[0], devs[-1])
    return ",".join(str(d) for d in devs)


def fmt_shape(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


class G:
    def __init__(self, name, title, strat):
        self.name = name
        self.title = title
        self.strat = dict(strat)  # legend values (ep, tp, pp, dp)
        self.nodes = {}  # key -> node dict
        self.order = []  # ("node", key) | ("banner", text, cluster, tag)
        self.edges = []  # [src_key, dst_key, attrs]
        self.clusters = {}  # cid -> label (insertion ordered)
        self.next_id = 1

    # ---- building -------------------------------------------------------------------------
    def add(self, key, op, kind, shin=None, shout=None, dev=None, meta=(), notes=(),
            cluster=None, fill=None, groups=None, dtype="bf16"):
        assert key not in self.nodes, key
        shape = {"comp": "box", "comm": "ellipse", "route": "parallelogram", "io": "box"}[kind]
        if fill is None:
            fill = {"comm": FILL_COMM, "route": FILL_ROUTE, "io": FILL_IO}.get(kind, FILL_REP)
        self.nodes[key] = dict(id=str(self.next_id), op=op, kind=kind, shape=shape,
                               shin=shin, shout=shout, dev=list(dev) if dev else None,
                               meta=list(meta), notes=list(notes), cluster=cluster,
                               fill=fill, groups=groups, dtype=dtype)
        self.next_id += 1
        self.order.append(("node", key))
        return key

    def banner(self, text, cluster, tag):
        self.order.append(("banner", text, cluster, tag))

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def skip(self, a, b):
        self.edge(a, b, style="bold", color="gray45", label="skip")

    # ---- editing (defects) ----------------------------------------------------------------
    def remove(self, key):
        del self.nodes[key]
        self.order = [o for o in self.order if not (o[0] == "node" and o[1] == key)]
        self.edges = [e for e in self.edges if e[0] != key and e[1] != key]

    def del_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def find_edge(self, a, b):
        for e in self.edges:
            if e[0] == a and e[1] == b:
                return e
        raise KeyError((a, b))

    def insert_after(self, anchor_key, key):
        """move node `key` (already added at the end) right after anchor in the order"""
        item = ("node", key)
        self.order.remove(item)
        i = self.order.index(("node", anchor_key))
        self.order.insert(i + 1, item)

    def id(self, key):
        return self.nodes[key]["id"]

    def meta_get(self, key, name):
        for k, v in self.nodes[key]["meta"]:
            if k == name:
                return v
        return None

    def meta_set(self, key, name, value):
        m = self.nodes[key]["meta"]
        for i, (k, v) in enumerate(m):
            if k == name:
                m[i] = (k, value)
                return
        raise KeyError((key, name))

    # ---- output ---------------------------------------------------------------------------
    def label(self, n):
        lines = [n["op"]]
        if n["shin"] is not None:
            lines.append("• shape in: " + ", ".join(fmt_shape(s) for s in n["shin"]))
        if n["shout"] is not None:
            lines.append("• shape out: " + fmt_shape(n["shout"]))
        if n["dev"] is not None:
            lines.append("• device: " + fmt_dev(n["dev"]))
        for k, v in n["meta"]:
            lines.append("• %s: %s" % (k, v))
        if n["groups"]:
            lines.append("• groups: " + " | ".join(fmt_dev(g) for g in n["groups"]))
        for t in n["notes"]:
            lines.append("- " + t)
        lines.append("• dtype: " + n["dtype"])
        return "\\l".join(lines) + "\\l"

    def node_line(self, key, indent):
        n = self.nodes[key]
        return '%s"%s" [shape=%s, fillcolor="%s", label="%s"];' % (
            indent, n["id"], n["shape"], n["fill"], self.label(n))

    def dot(self):
        s = self.strat
        out = ["// bo-draw · %s" % self.name,
               'digraph "%s" {' % self.name,
               '  graph [label="%s", labelloc=t, fontname="Helvetica", rankdir=TB, '
               'nodesep=0.25, ranksep=0.35];' % self.title,
               '  node [fontname="Helvetica", fontsize=9, style=filled];',
               '  edge [fontname="Helvetica", fontsize=8];',
               '',
               '  "0" [shape=note, fillcolor="#ffffff", label="strategy\\l• ep: %d\\l• tp: %d\\l'
               '• pp: %d\\l• dp: %d\\l"];' % (s["ep"], s["tp"], s["pp"], s["dp"]),
               '']
        present = {self.nodes[k]["cluster"] for k in self.nodes}
        # nodes outside clusters first (inputs / outputs), then clusters in order
        for o in self.order:
            if o[0] == "node" and self.nodes[o[1]]["cluster"] is None:
                out.append(self.node_line(o[1], "  "))
        for cid, clabel in self.clusters.items():
            if cid not in present:
                continue
            out.append('')
            out.append('  subgraph %s {' % cid)
            out.append('    label="%s"; style="rounded,dashed"; color="gray50";' % clabel)
            pending = None
            for o in self.order:
                if o[0] == "banner" and o[2] == cid:
                    pending = o[1]
                elif o[0] == "node" and self.nodes[o[1]]["cluster"] == cid:
                    if pending:
                        out.append('    // ── %s ──' % pending)
                        pending = None
                    out.append(self.node_line(o[1], "    "))
            out.append('  }')
        out.append('')
        out.append('  // ── edges ──')
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join('%s="%s"' % (k, v) for k, v in sorted(attrs.items())) + "]"
            out.append('  "%s" -> "%s"%s;' % (self.id(a), self.id(b), at))
        out.append('}')
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------
# model builder
# ------------------------------------------------------------------------------------------

def build(cfg):
    ep, tp, pp, dp = cfg["ep"], cfg["tp"], cfg["pp"], cfg["dp"]
    L, H, nh, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["head_dim"]
    B, S, V = cfg["batch"], cfg["seq"], cfg["vocab"]
    moe = cfg["moe"]
    assert nh * hd == H and nh % tp == 0
    g = G(cfg["name"], cfg["title"], dict(ep=ep, tp=tp, pp=pp, dp=dp))
    g.cfg = cfg
    hr = nh // tp
    per_stage = L // pp
    stage_gpus = ep * tp
    X = [B, S, H]

    for d in range(dp):
        P = "d%d." % d
        dpmeta = [("dp replica", d)] if dp > 1 else []

        def base(s):
            return (d * pp + s) * stage_gpus

        def allg(s):
            return list(range(base(s), base(s) + stage_gpus))

        def cid(s):
            return "cluster_pp%d" % s + ("_dp%d" % d if dp > 1 else "")

        for s in range(pp):
            lab = "pp stage %d • layers %d-%d" % (s, s * per_stage, (s + 1) * per_stage - 1)
            if dp > 1:
                lab += " • dp replica %d" % d
            g.clusters[cid(s)] = lab

        inp = g.add(P + "input", "input", "io", [[B, S]], [B, S], allg(0), dpmeta,
                    ["token ids"], None, dtype="int32")
        g.banner("embedding", cid(0), P + "emb")
        emb = g.add(P + "emb", "embedding", "comp", [[B, S]], X, allg(0), dpmeta,
                    ["replicated, vocab %d" % V], cid(0))
        g.edge(inp, emb)
        x = emb
        for s in range(pp):
            C = cid(s)
            if s > 0:
                g.banner("pipeline hop %d → %d" % (s - 1, s), cid(s - 1), P + "send%d" % s)
                snd = g.add(P + "send%d" % s, "pp_send", "comm", [X], X, allg(s - 1),
                            [("to stage", s)] + dpmeta, [], cid(s - 1))
                g.banner("pipeline hop %d → %d" % (s - 1, s), C, P + "recv%d" % s)
                rcv = g.add(P + "recv%d" % s, "pp_recv", "comm", [X], X, allg(s),
                            [("from stage", s - 1)] + dpmeta, [], C)
                g.edge(x, snd)
                g.edge(snd, rcv, label="p2p")
                x = rcv
            for l in range(s * per_stage, (s + 1) * per_stage):
                LP = P + "L%d." % l
                T = LP.rstrip(".")
                lm = [("layer", l)]
                g.banner("layer %d · attention" % l, C, T)
                n1 = g.add(LP + "norm1", "rms_norm", "comp", [X], X, allg(s), lm + dpmeta,
                           ["pre-attention"], C)
                g.edge(x, n1)
                ar = None
                qs = [B, S, hr, hd]
                sc = [B, hr, S, S]
                o_keys = []
                for t in range(tp):
                    cols = [base(s) + r * tp + t for r in range(ep)]
                    tm = lm + [("tp rank", t)] + dpmeta
                    f = FILL_TP[t]
                    ks = {}
                    for nm in ("q", "k", "v"):
                        ks[nm] = g.add(LP + "%s.t%d" % (nm, t), "%s_proj" % nm, "comp", [X], qs,
                                       cols, tm, ["column-parallel"], C, f)
                        g.edge(n1, ks[nm])
                    sco = g.add(LP + "score.t%d" % t, "attn_score q@k^T", "comp", [qs, qs], sc,
                                cols, tm, ["scaled by 1/sqrt(%d), causal mask" % hd], C, f)
                    sm = g.add(LP + "softmax.t%d" % t, "softmax", "comp", [sc], sc, cols, tm,
                               [], C, f)
                    ctx = g.add(LP + "ctx.t%d" % t, "attn_ctx p@v", "comp", [sc, qs], qs, cols,
                                tm, [], C, f)
                    o = g.add(LP + "o.t%d" % t, "o_proj", "comp", [qs], X, cols, tm,
                              ["row-parallel, partial sums"], C, f)
                    g.edge(ks["q"], sco)
                    g.edge(ks["k"], sco)
                    g.edge(sco, sm)
                    g.edge(sm, ctx)
                    g.edge(ks["v"], ctx)
                    g.edge(ctx, o)
                    o_keys.append(o)
                tpg = [[base(s) + r * tp + t for t in range(tp)] for r in range(ep)]
                ar = g.add(LP + "attn_ar", "all_reduce", "comm", [X], X, allg(s),
                           lm + [("over", "tp")] + dpmeta, [], C, groups=tpg)
                for o in o_keys:
                    g.edge(o, ar)
                r1 = g.add(LP + "res1", "residual_add", "comp", [X, X], X, allg(s), lm + dpmeta,
                           [], C)
                g.edge(ar, r1)
                g.skip(x, r1)
                g.banner("layer %d · %s" % (l, "moe" if moe else "mlp"), C, T)
                n2 = g.add(LP + "norm2", "rms_norm", "comp", [X], X, allg(s), lm + dpmeta,
                           ["pre-%s" % ("moe" if moe else "mlp")], C)
                g.edge(r1, n2)
                if moe:
                    E, k, F = cfg["experts"], cfg["topk"], cfg["ffn"]
                    cap = B * S * k // E
                    per = E // ep
                    R = [B, S, k]
                    rt = g.add(LP + "router", "router (top-%d of %d)" % (k, E), "route", [X], R,
                               allg(s), lm + dpmeta, ["softmax gate, ids + weights"], C)
                    dis = g.add(LP + "dispatch", "dispatch all_to_all", "comm", [X, R],
                                [cap, H], allg(s), lm + [("over", "ep")] + dpmeta,
                                ["%d tokens per expert" % cap], C)
                    g.edge(n2, rt)
                    g.edge(n2, dis)
                    g.edge(rt, dis, style="dashed")
                    ears = []
                    for e in range(E):
                        r = e // per
                        em = lm + [("expert", e), ("ep rank", r)]
                        ups = []
                        for t in range(tp):
                            gpu = base(s) + r * tp + t
                            up = g.add(LP + "e%d.up.t%d" % (e, t), "expert_up w1,w3 + silu",
                                       "comp", [[cap, H]], [cap, F // tp], [gpu],
                                       em + [("tp rank", t)] + dpmeta, ["column-parallel"], C,
                                       FILL_TP[t])
                            dn = g.add(LP + "e%d.down.t%d" % (e, t), "expert_down w2", "comp",
                                       [[cap, F // tp]], [cap, H], [gpu],
                                       em + [("tp rank", t)] + dpmeta,
                                       ["row-parallel, partial sums"], C, FILL_TP[t])
                            g.edge(dis, up)
                            g.edge(up, dn)
                            ups.append(dn)
                        grp = [base(s) + r * tp + t for t in range(tp)]
                        ear = g.add(LP + "e%d.ar" % e, "all_reduce", "comm", [[cap, H]],
                                    [cap, H], grp, em + [("over", "tp")] + dpmeta, [], C)
                        for dn in ups:
                            g.edge(dn, ear)
                        ears.append(ear)
                    ca = g.add(LP + "combine_a2a", "combine all_to_all", "comm", [[cap, H]],
                               [B, S, k, H], allg(s), lm + [("over", "ep")] + dpmeta, [], C)
                    for ear in ears:
                        g.edge(ear, ca)
                    cb = g.add(LP + "combine", "combine (weighted sum of top-%d)" % k, "route",
                               [[B, S, k, H], R], X, allg(s), lm + dpmeta, [], C)
                    g.edge(ca, cb)
                    g.edge(rt, cb, style="dashed")
                    mo = cb
                else:
                    F = cfg["ffn"]
                    downs = []
                    for t in range(tp):
                        cols = [base(s) + r * tp + t for r in range(ep)]
                        tm = lm + [("tp rank", t)] + dpmeta
                        up = g.add(LP + "mlp_up.t%d" % t, "mlp_up w1,w3 + silu", "comp", [X],
                                   [B, S, F // tp], cols, tm, ["column-parallel"], C, FILL_TP[t])
                        dn = g.add(LP + "mlp_down.t%d" % t, "mlp_down w2", "comp",
                                   [[B, S, F // tp]], X, cols, tm, ["row-parallel, partial sums"],
                                   C, FILL_TP[t])
                        g.edge(n2, up)
                        g.edge(up, dn)
                        downs.append(dn)
                    mar = g.add(LP + "mlp_ar", "all_reduce", "comm", [X], X, allg(s),
                                lm + [("over", "tp")] + dpmeta, [], C, groups=tpg)
                    for dn in downs:
                        g.edge(dn, mar)
                    mo = mar
                r2 = g.add(LP + "res2", "residual_add", "comp", [X, X], X, allg(s), lm + dpmeta,
                           [], C)
                g.edge(mo, r2)
                g.skip(r1, r2)
                x = r2
        C = cid(pp - 1)
        g.banner("head", C, P + "head")
        fn = g.add(P + "final_norm", "final rms_norm", "comp", [X], X, allg(pp - 1), dpmeta, [], C)
        lmh = g.add(P + "lm_head", "lm_head", "comp", [X], [B, S, V], allg(pp - 1), dpmeta,
                    ["replicated"], C)
        outp = g.add(P + "output", "output", "io", [[B, S, V]], [B, S, V], allg(pp - 1), dpmeta,
                     ["logits"], None)
        g.edge(x, fn)
        g.edge(fn, lmh)
        g.edge(lmh, outp)
    return g


# ------------------------------------------------------------------------------------------
# self check of clean graphs against section 2 of the conventions (on the model)
# ------------------------------------------------------------------------------------------

def check_clean(g):
    cfg = g.cfg
    n = g.nodes
    ids = {k: v["id"] for k, v in n.items()}
    assert len(set(ids.values())) == len(ids)
    succ = {k: [] for k in n}
    pred = {k: [] for k in n}
    for a, b, _ in g.edges:
        succ[a].append(b)
        pred[b].append(a)
    # acyclic (Kahn)
    indeg = {k: len(pred[k]) for k in n}
    q = [k for k in n if indeg[k] == 0]
    seen = 0
    while q:
        k = q.pop()
        seen += 1
        for b in succ[k]:
            indeg[b] -= 1
            if indeg[b] == 0:
                q.append(b)
    assert seen == len(n), "cycle"
    for k, v in n.items():
        if v["op"] != "input":
            assert pred[k], ("no input", k)
        if v["op"] != "output":
            assert succ[k], ("no output", k)
    ngpu = g.strat["ep"] * g.strat["tp"] * g.strat["pp"] * g.strat["dp"]
    for k, v in n.items():
        assert v["dev"] and all(0 <= d < ngpu for d in v["dev"]), k
        if v["kind"] in ("comp", "io", "route"):
            assert v["shin"] and v["shout"], k
    for a, b, _ in g.edges:
        A, Bn = n[a], n[b]
        # shapes: producer output is one of consumer's inputs
        assert A["shout"] in Bn["shin"], ("shape", a, b, A["shout"], Bn["shin"])
        # cross-GPU only through comm
        if A["kind"] != "comm" and Bn["kind"] != "comm":
            sa, sb = set(A["dev"]), set(Bn["dev"])
            assert sa <= sb or sb <= sa, ("cross gpu", a, b)
        # full hidden: nothing with last dim H/TP reaches a 3-D full-size node
    # attention wiring per layer / rank
    H, nh, hd, tp = cfg["hidden"], cfg["heads"], cfg["head_dim"], cfg["tp"]
    for k, v in n.items():
        if v["op"] in ("q_proj", "k_proj", "v_proj"):
            assert v["shout"][2] == nh // tp and v["shout"][3] == hd
            assert v["shout"][2] * v["shout"][3] * tp == H
        if v["op"] == "softmax":
            assert [s for s in succ[k]] and all(n[s]["op"] == "attn_ctx p@v" for s in succ[k])
        if v["op"] == "attn_ctx p@v":
            ops = sorted(n[p]["op"] for p in pred[k])
            assert ops == ["softmax", "v_proj"], ops
        if v["op"] == "attn_score q@k^T":
            ops = sorted(n[p]["op"] for p in pred[k])
            assert ops == ["k_proj", "q_proj"], ops
        if v["op"] in ("o_proj", "expert_down w2", "mlp_down w2"):
            assert all(n[s]["op"] == "all_reduce" for s in succ[k])
    # experts even & on distinct GPUs per EP rank
    if cfg["moe"]:
        E, ep = cfg["experts"], cfg["ep"]
        for l in range(cfg["layers"]):
            for d in range(cfg["dp"]):
                per_rank = {}
                gpus = {}
                for k, v in n.items():
                    if k.startswith("d%d.L%d.e" % (d, l)) and v["op"].startswith("expert_up"):
                        r = g.meta_get(k, "ep rank")
                        e = g.meta_get(k, "expert")
                        per_rank.setdefault(r, set()).add(e)
                        gpus.setdefault(r, set()).update(v["dev"])
                assert sorted(per_rank) == list(range(ep))
                assert all(len(s) == E // ep for s in per_rank.values())
                allg = [x for s in gpus.values() for x in s]
                assert len(allg) == len(set(allg))
    return True


# ------------------------------------------------------------------------------------------
# configs
# ------------------------------------------------------------------------------------------

CFG1 = dict(name="mini_moe_a", title="mini-moe-a · prefill forward · 4 layers, 4 experts · attention: tp inside each ep group",
            ep=2, tp=2, pp=2, dp=1, layers=4, hidden=2048, heads=16, head_dim=128,
            batch=4, seq=512, vocab=32000, moe=True, experts=4, topk=2, ffn=5632)
CFG2 = dict(name="mini_moe_b", title="mini-moe-b · prefill forward · 2 layers, 8 experts · attention: tp inside each ep group",
            ep=4, tp=2, pp=1, dp=1, layers=2, hidden=3072, heads=24, head_dim=128,
            batch=4, seq=512, vocab=32000, moe=True, experts=8, topk=2, ffn=8192)
CFG3 = dict(name="mini_dense_c", title="mini-dense-c · prefill forward · 3 layers, dense",
            ep=1, tp=2, pp=1, dp=2, layers=3, hidden=1536, heads=12, head_dim=128,
            batch=4, seq=512, vocab=32000, moe=False, ffn=4096)


# ------------------------------------------------------------------------------------------
# defects: each takes a deep copy of a clean graph, mutates it, returns (node keys, what)
# ------------------------------------------------------------------------------------------

def devs_str(g, k):
    return fmt_dev(g.nodes[k]["dev"])


def d_cycle(g):
    a, b = "d0.L1.combine_a2a", "d0.L1.combine"
    g.edge(b, a)
    return [a, b], ("Layer 1's combine all-to-all (%s) is drawn both ways with the combine "
                    "parallelogram (%s): %s -> %s and %s -> %s, a two-node cycle."
                    % (g.id(a), g.id(b), g.id(a), g.id(b), g.id(b), g.id(a)))


def d_dangling_input(g):
    a, b = "d0.L1.res1", "d0.L1.norm2"
    g.del_edge(a, b)
    return [b], ("Layer 1's pre-MoE rms_norm %s (stage 0, GPUs 0-3) has no incoming edge: its "
                 "input from the attention residual add %s was removed." % (g.id(b), g.id(a)))


def d_dangling_output(g):
    a, b = "d0.L1.e5.ar", "d0.L1.combine_a2a"
    g.del_edge(a, b)
    return [a], ("Layer 1's expert 5 (EP rank 2, GPUs 4-5): its TP all-reduce %s has no "
                 "outgoing edge, so expert 5's output never reaches the combine all-to-all %s."
                 % (g.id(a), g.id(b)))


def d_attention_one_box(g):
    cfg = g.cfg
    B, S, H = cfg["batch"], cfg["seq"], cfg["hidden"]
    LP = "d0.L1."
    new = []
    for t in range(cfg["tp"]):
        old = [LP + "%s.t%d" % (x, t) for x in ("q", "k", "v", "score", "softmax", "ctx", "o")]
        q = g.nodes[old[0]]
        key = LP + "mha.t%d" % t
        g.add(key, "multi_head_attention", "comp", [[B, S, H]], [B, S, H], q["dev"],
              [("layer", 1), ("tp rank", t)], ["qkv + attention + o_proj, %d heads"
                                               % (cfg["heads"] // cfg["tp"])],
              q["cluster"], FILL_TP[t])
        g.insert_after(old[0], key)
        g.edge(LP + "norm1", key)
        g.edge(key, LP + "attn_ar")
        for k in old:
            g.remove(k)
        new.append(key)
    return new, ("Layer 1's attention is drawn as one 'multi_head_attention' box per TP rank "
                 "(%s on TP rank 0, %s on TP rank 1) instead of q/k/v projections, score, "
                 "softmax, weighted sum and o_proj." % (g.id(new[0]), g.id(new[1])))


def d_v_bypasses_softmax(g):
    LP, t = "d0.L1.", 1
    sm, ctx, o, v = (LP + "softmax.t1", LP + "ctx.t1", LP + "o.t1", LP + "v.t1")
    g.del_edge(sm, ctx)
    g.edge(sm, o)
    g.nodes[o]["shin"] = [g.nodes[sm]["shout"]] + g.nodes[o]["shin"]
    return [sm, ctx, o, v], ("Layer 1, TP rank 1 (GPUs 1,3): v_proj %s feeds the weighted sum "
                             "attn_ctx %s but softmax %s does not (it goes straight to o_proj "
                             "%s), so V bypasses the attention probabilities."
                             % (g.id(v), g.id(ctx), g.id(sm), g.id(o)))


def d_v_into_score(g):
    LP = "d0.L0."
    k, v, sc, ctx = LP + "k.t1", LP + "v.t1", LP + "score.t1", LP + "ctx.t1"
    g.find_edge(k, sc)[1] = ctx
    g.find_edge(v, ctx)[1] = sc
    return [v, k, sc, ctx], ("Layer 0, TP rank 1 (GPUs 1,3,5,7): v_proj %s is wired into the "
                             "score %s instead of k_proj %s, and K feeds the weighted sum %s "
                             "(K and V swapped)." % (g.id(v), g.id(sc), g.id(k), g.id(ctx)))


def d_qkv_into_oproj(g):
    LP = "d1.L1."
    keys = []
    for t in range(g.cfg["tp"]):
        o = LP + "o.t%d" % t
        for x in ("score", "softmax", "ctx"):
            g.remove(LP + "%s.t%d" % (x, t))
        qs = g.nodes[LP + "q.t%d" % t]["shout"]
        for x in ("q", "k", "v"):
            g.edge(LP + "%s.t%d" % (x, t), o)
            keys.append(LP + "%s.t%d" % (x, t))
        g.nodes[o]["shin"] = [qs, qs, qs]
        keys.append(o)
    return keys, ("DP replica 1, layer 1: q_proj, k_proj and v_proj go straight into o_proj "
                  "on both TP ranks (o_proj %s on GPU 2, %s on GPU 3); no score, softmax or "
                  "weighted sum is drawn." % (g.id(LP + "o.t0"), g.id(LP + "o.t1")))


def _set_heads(g, LP, t, heads, hd):
    B, S = g.cfg["batch"], g.cfg["seq"]
    qs = [B, S, heads, hd]
    sc = [B, heads, S, S]
    for x in ("q", "k", "v"):
        g.nodes[LP + "%s.t%d" % (x, t)]["shout"] = qs
    g.nodes[LP + "score.t%d" % t]["shin"] = [qs, qs]
    g.nodes[LP + "score.t%d" % t]["shout"] = sc
    g.nodes[LP + "score.t%d" % t]["notes"] = ["scaled by 1/sqrt(%d), causal mask" % hd]
    g.nodes[LP + "softmax.t%d" % t]["shin"] = [sc]
    g.nodes[LP + "softmax.t%d" % t]["shout"] = sc
    g.nodes[LP + "ctx.t%d" % t]["shin"] = [sc, qs]
    g.nodes[LP + "ctx.t%d" % t]["shout"] = qs
    g.nodes[LP + "o.t%d" % t]["shin"] = [qs]


def d_head_arithmetic(g):
    LP = "d0.L2."
    for t in range(2):
        _set_heads(g, LP, t, 8, 64)
    keys = [LP + "%s.t%d" % (x, t) for t in range(2) for x in ("q", "k", "v")]
    return keys, ("Layer 2 labels q/k/v as 8 heads x head_dim 64 on both TP ranks (8 x 64 = 512 "
                  "per rank, 16 x 64 = 1024 in total) while hidden is 2048 (2048/TP2 = 1024 "
                  "per rank, 16 heads x 128).")


def d_tp_heads(g):
    LP = "d0.L1."
    for t in range(2):
        _set_heads(g, LP, t, 24, 128)
    keys = [LP + "%s.t%d" % (x, t) for t in range(2) for x in ("q", "k", "v")]
    return keys, ("Layer 1: q_proj/k_proj/v_proj on both TP ranks of TP 2 output all 24 heads "
                  "([4, 512, 24, 128], e.g. q_proj %s on GPUs 0,2,4,6) instead of 24/2 = 12 "
                  "heads per rank." % g.id(LP + "q.t0"))


def d_edge_shape_mismatch(g):
    a, b = "d0.L1.res1", "d0.L1.norm2"
    g.nodes[b]["shin"] = [[4, 512, 1152]]
    return [a, b], ("DP replica 0, layer 1: rms_norm %s expects [4, 512, 1152] but its producer "
                    "residual_add %s outputs [4, 512, 1536] (ratio 4/3, not a parallel degree)."
                    % (g.id(b), g.id(a)))


def d_shard_without_gather(g):
    k, r1 = "d0.L3.attn_ar", "d0.L3.res1"
    n = g.nodes[k]
    n["op"] = "reduce_scatter"
    n["shout"] = [4, 512, 1024]
    return [k, r1], ("Layer 3's row-parallel o_proj output is reduce-scattered (%s) into "
                     "hidden/TP = 2048/2 = 1024 shards that go straight into the full-size "
                     "(hidden 2048) residual_add %s with no all-gather." % (g.id(k), g.id(r1)))


def d_stage_count(g):
    g.strat["pp"] = 3
    return ["0"], ("The strategy legend (node 0) declares pp: 3 but two pipeline stages are "
                   "drawn (pp stage 0 • layers 0-1 on GPUs 0-3, pp stage 1 • layers 2-3 on "
                   "GPUs 4-7).")


def d_stage_range_gap(g):
    g.clusters["cluster_pp0"] = "pp stage 0 • layers 0-0"
    keys = ["d0.L1.norm1", "d0.L1.res2"]
    return keys, ("Stage 0 claims layers 0-0 and stage 1 layers 2-3: layer 1 is in no stage's "
                  "range (gap), although its operators (%s ... %s) are drawn in stage 0."
                  % (g.id(keys[0]), g.id(keys[1])))


def d_stage_missing_layer(g):
    for k in [k for k in g.nodes if k.startswith("d0.L3.")]:
        g.remove(k)
    g.order = [o for o in g.order if not (o[0] == "banner" and o[3] == "d0.L3")]
    g.edge("d0.L2.res2", "d0.final_norm")
    return ["d0.L2.res2", "d0.final_norm"], (
        "Stage 1 claims layers 2-3 but no operator of layer 3 is drawn: layer 2's residual_add "
        "%s feeds the final rms_norm %s directly." % (g.id("d0.L2.res2"), g.id("d0.final_norm")))


def d_no_stage_transfer(g):
    src, snd, rcv = "d0.L1.res2", "d0.send1", "d0.recv1"
    n1, r1 = "d0.L2.norm1", "d0.L2.res1"
    g.remove(snd)
    g.remove(rcv)
    g.order = [o for o in g.order if not (o[0] == "banner" and o[3] in (snd, rcv))]
    g.edge(src, n1)
    g.skip(src, r1)
    return [src, n1, r1], ("Stage 0 (GPUs 0-3) and stage 1 (GPUs 4-7) are joined by plain edges "
                           "from layer 1's residual_add %s to layer 2's rms_norm %s and "
                           "residual_add %s; the pipeline send/recv is missing."
                           % (g.id(src), g.id(n1), g.id(r1)))


def _move_expert(g, LP, e, rank, gpus, set_rank=True):
    keys = []
    for t in range(g.cfg["tp"]):
        for x in ("up", "down"):
            k = LP + "e%d.%s.t%d" % (e, x, t)
            g.nodes[k]["dev"] = [gpus[t]]
            if set_rank:
                g.meta_set(k, "ep rank", rank)
            keys.append(k)
    k = LP + "e%d.ar" % e
    g.nodes[k]["dev"] = list(gpus)
    if set_rank:
        g.meta_set(k, "ep rank", rank)
    keys.append(k)
    return keys


def d_experts_subset_ranks(g):
    LP = "d0.L1."
    keys = []
    for e in range(8):
        r = e // 4
        old = e // 2
        if r != old:
            keys += _move_expert(g, LP, e, r, [2 * r, 2 * r + 1])
    return keys, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, "
                  "experts 4-7 on GPUs 2-3); EP ranks 2 and 3 (GPUs 4-7) hold none of its "
                  "experts although EP is 4.")


def d_experts_uneven(g):
    keys = _move_expert(g, "d0.L0.", 3, 0, [0, 1])
    return keys, ("Layer 0's expert 3 sits on EP rank 0 (GPUs 0-1) instead of rank 1 (GPUs 2-3): "
                  "EP ranks 0-3 hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu(g):
    keys = _move_expert(g, "d0.L1.", 2, 1, [0, 1], set_rank=False)
    return keys, ("Layer 1's expert 2 (labelled EP rank 1) is placed on GPUs 0-1, which hold EP "
                  "rank 0's experts 0 and 1 (EP rank 1's GPUs 2-3 keep only expert 3).")


def d_no_gate(g):
    LP = "d0.L2."
    rt, n2, dis, cb = LP + "router", LP + "norm2", LP + "dispatch", LP + "combine"
    g.remove(rt)
    g.nodes[dis]["shin"] = g.nodes[dis]["shin"][:1]
    g.nodes[cb]["shin"] = g.nodes[cb]["shin"][:1]
    return [n2, dis, cb], ("Layer 2 has no MoE router: rms_norm %s goes straight into the "
                           "dispatch all-to-all %s and the experts, and the combine %s gets no "
                           "routing weights." % (g.id(n2), g.id(dis), g.id(cb)))


def d_no_all_to_all(g):
    LP = "d0.L1."
    dis, n2, rt = LP + "dispatch", LP + "norm2", LP + "router"
    g.remove(dis)
    ups = [k for k in g.order if k[0] == "node" and k[1].startswith(LP + "e") and ".up." in k[1]]
    B, S, H, K = 4, 512, 3072, 2
    for _, k in ups:
        g.edge(n2, k)
        g.edge(rt, k, style="dashed")
        g.nodes[k]["shin"] = [[B, S, H], [B, S, K]]
    return [rt, n2] + [k for _, k in ups][:2], (
        "Layer 1's router %s and rms_norm %s send tokens straight to the experts on EP ranks 0-3 "
        "(EP 4, GPUs 0-7) without a dispatch all-to-all." % (g.id(rt), g.id(n2)))


def d_tp_rank_missing(g):
    LP = "d0.L1."
    for x in ("q", "k", "v", "score", "softmax", "ctx", "o"):
        g.remove(LP + "%s.t1" % x)
    return [LP + "norm1", LP + "attn_ar"], (
        "Layer 1's attention operators are drawn for TP rank 0 only (GPUs 0,2); TP rank 1 "
        "(GPUs 1,3) of TP 2 is missing, so all-reduce %s has a single input."
        % g.id(LP + "attn_ar"))


def d_no_allreduce_after_rowparallel(g):
    LP = "d0.L0."
    ar, r2 = LP + "mlp_ar", LP + "res2"
    g.remove(ar)
    for t in range(2):
        g.edge(LP + "mlp_down.t%d" % t, r2)
    return [LP + "mlp_down.t0", LP + "mlp_down.t1", r2], (
        "DP replica 0, layer 0: the row-parallel mlp_down projections %s (GPU 0) and %s (GPU 1) "
        "feed residual_add %s directly, without the TP all-reduce of their partial sums."
        % (g.id(LP + "mlp_down.t0"), g.id(LP + "mlp_down.t1"), g.id(r2)))


def d_cross_gpu_no_comm(g):
    e0, e1, n1 = "d0.emb", "d1.emb", "d1.L0.norm1"
    g.find_edge(e1, n1)[0] = e0
    return [e0, n1], ("DP replica 0's embedding %s on GPUs 0-1 feeds DP replica 1's layer-0 "
                      "rms_norm %s on GPUs 2-3 by a plain edge, with no communication node."
                      % (g.id(e0), g.id(n1)))


def d_comm_wrong_shape(g):
    k = "d0.L2.attn_ar"
    g.nodes[k]["shape"] = "box"
    return [k], "Layer 2's attention all_reduce %s is drawn as a box (computation) instead of an ellipse." % g.id(k)


def d_missing_gpu(g):
    k = "d0.L0.softmax.t1"
    g.nodes[k]["dev"] = None
    return [k], "softmax %s of layer 0, TP rank 1 has no device line." % g.id(k)


def d_gpu_out_of_range(g):
    keys = _move_expert(g, "d0.L1.", 5, 2, [8, 9], set_rank=False)
    return keys, ("Layer 1's expert 5 (EP rank 2) is placed on GPUs 8-9, beyond the 8 GPUs of "
                  "EP 4 x TP 2 x PP 1 x DP 1 (ids 0-7).")


def d_stages_share_gpus(g):
    keys = []
    for k, n in g.nodes.items():
        if n["dev"] and min(n["dev"]) >= 4:
            n["dev"] = [d - 2 for d in n["dev"]]
            if n["groups"]:
                n["groups"] = [[d - 2 for d in grp] for grp in n["groups"]]
            if set(n["dev"]) & {2, 3}:
                keys.append(k)
    return keys, ("Stage 1 (layers 2-3) is placed on GPUs 2-5 instead of 4-7, overlapping stage "
                  "0's GPUs 0-3 (GPUs 2-3 in both).")


def d_strategy_mismatch(g):
    g.strat["tp"] = 4
    return ["0"], ("The strategy legend (node 0) declares tp: 4 but every tensor-parallel "
                   "operator is drawn for TP ranks 0-1 only (TP 2), on 8 GPUs instead of "
                   "EP 4 x TP 4 = 16.")


def d_missing_shapes(g):
    k = "d1.L2.o.t1"
    g.nodes[k]["shin"] = None
    g.nodes[k]["shout"] = None
    return [k], ("o_proj %s of DP replica 1, layer 2, TP rank 1 (GPU 3) has no shape in or "
                 "shape out line." % g.id(k))


def d_placeholder(g):
    k = "d0.L2.router"
    g.nodes[k]["shin"] = [["?", 512, 2048]]
    return [k], ("Layer 2's router %s gives its input as [?, 512, 2048], a placeholder instead "
                 "of the batch size 4." % g.id(k))


def d_moe_before_attention(g):
    LP = "d0.L1."
    x, fn = "d0.L0.res2", "d0.final_norm"
    n1, r1, n2, r2 = LP + "norm1", LP + "res1", LP + "norm2", LP + "res2"
    g.del_edge(x, n1)
    g.del_edge(x, r1)
    g.del_edge(r1, n2)
    g.del_edge(r1, r2)
    g.del_edge(r2, fn)
    g.edge(x, n2)
    g.skip(x, r2)
    g.edge(r2, n1)
    g.skip(r2, r1)
    g.edge(r1, fn)
    return [n1, r1, n2, r2], (
        "Layer 1 runs its MoE block before its attention block: layer 0's output %s goes to "
        "rms_norm %s (pre-moe) and the MoE residual_add %s feeds the attention rms_norm %s, "
        "whose residual_add %s feeds the final norm." % (
            g.id(x), g.id(n2), g.id(r2), g.id(n1), g.id(r1)))


def d_missing_residual(g):
    a, b = "d0.L0.res2", "d0.L1.res1"
    g.del_edge(a, b)
    return [b, a], ("DP replica 0, layer 1: attention residual_add %s is fed only by the "
                    "all-reduce; the skip edge from layer 0's residual_add %s is missing."
                    % (g.id(b), g.id(a)))


DEFECTS = [
    ("cycle", "structure", 1, d_cycle),
    ("dangling_input", "structure", 1, d_dangling_input),
    ("dangling_output", "structure", 2, d_dangling_output),
    ("attention_one_box", "attention", 2, d_attention_one_box),
    ("v_bypasses_softmax", "attention", 1, d_v_bypasses_softmax),
    ("v_into_score", "attention", 2, d_v_into_score),
    ("qkv_into_oproj", "attention", 3, d_qkv_into_oproj),
    ("head_arithmetic", "attention", 1, d_head_arithmetic),
    ("tp_heads", "attention", 2, d_tp_heads),
    ("edge_shape_mismatch", "shape", 3, d_edge_shape_mismatch),
    ("shard_without_gather", "shape", 1, d_shard_without_gather),
    ("stage_count", "pipeline", 1, d_stage_count),
    ("stage_range_gap", "pipeline", 1, d_stage_range_gap),
    ("stage_missing_layer", "pipeline", 1, d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", 1, d_no_stage_transfer),
    ("experts_subset_ranks", "expert", 2, d_experts_subset_ranks),
    ("experts_uneven", "expert", 2, d_experts_uneven),
    ("experts_share_gpu", "expert", 1, d_experts_share_gpu),
    ("no_gate", "expert", 1, d_no_gate),
    ("no_all_to_all", "expert", 2, d_no_all_to_all),
    ("tp_rank_missing", "tensor", 1, d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", 3, d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", 3, d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", 1, d_comm_wrong_shape),
    ("missing_gpu", "gpu", 2, d_missing_gpu),
    ("gpu_out_of_range", "gpu", 2, d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", 1, d_stages_share_gpus),
    ("strategy_mismatch", "strategy", 2, d_strategy_mismatch),
    ("missing_shapes", "annotation", 3, d_missing_shapes),
    ("placeholder", "annotation", 1, d_placeholder),
    ("moe_before_attention", "structure", 2, d_moe_before_attention),
    ("missing_residual", "structure", 3, d_missing_residual),
]


def key_ids(g, keys):
    return [k if k == "0" else g.id(k) for k in keys]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    cleans = {}
    manifest = []
    whats = {
        1: "Correct MoE deployment EP 2 x TP 2 x PP 2 x DP 1 on 8 GPUs: 4 layers (stage 0 layers "
           "0-1 on GPUs 0-3, stage 1 layers 2-3 on GPUs 4-7), hidden 2048 = 16 heads x 128, "
           "4 experts top-2, 2 per EP rank, TP-sharded experts.",
        2: "Correct MoE deployment EP 4 x TP 2 x PP 1 x DP 1 on 8 GPUs: 2 layers in one stage, "
           "hidden 3072 = 24 heads x 128 (12 per TP rank), 8 experts top-2, 2 per EP rank.",
        3: "Correct dense deployment TP 2 x PP 1 x DP 2 on 4 GPUs: both DP replicas drawn "
           "(replica 0 on GPUs 0-1, replica 1 on GPUs 2-3), 3 layers, hidden 1536 = 12 heads x "
           "128 (6 per TP rank), SwiGLU MLP 4096.",
    }
    for i, cfg in enumerate((CFG1, CFG2, CFG3), 1):
        g = build(cfg)
        check_clean(g)
        cleans[i] = g
        fn = "clean_%d.dot" % i
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.dot())
        manifest.append(dict(file=fn, kind="clean", category=None, base=None, nodes=[],
                             what=whats[i]))
    for kind, cat, base, fnc in DEFECTS:
        g = copy.deepcopy(cleans[base])
        keys, what = fnc(g)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.dot())
        manifest.append(dict(file=fn, kind=kind, category=cat, base="clean_%d.dot" % base,
                             nodes=key_ids(g, keys), what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
