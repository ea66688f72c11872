#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in house style "ay" (stdlib only).

Run `python3 gen.py` in this folder: writes out/clean_*.dot, out/defect_*.dot, out/manifest.json.

House style:
  * ids are quoted slash paths whose first segment is the placement: "gpu3/L1/attn/q",
    "gpu0-7/L1/attn/allreduce", "gpu0,2,4,6/L1/attn/q", "gpu2-3/L2/moe/expert5";
    graph-level nodes without a GPU use "io/...".
  * labels, one fact per line: first line the operator in sentence case with the layer
    ("Layer 1 query projection"), then the quirk lines, then
    "Input tensor: bf16 of shape (4, 1024, 4096)" (one line per input, in edge order),
    "Output tensor: ...", and "Placed on: GPU 3" / "Placed on: GPUs 0 to 7" /
    "Placed on: GPUs 0, 2, 4 and 6".
  * graph label "Parallel layout — expert 4, tensor 2, pipeline 2, data 1".
  * stages are clusters "Pipeline stage #0 holds layers 0 through 1".
  * own quirk 1: a "// Model card" comment header and a "// ---- Layer N / block ----" comment
    banner before every block of nodes (and a colour per operator family).
  * own quirk 2: every sharded operator carries a "Shard: ..." line (tensor rank r of TP, with
    column/row-parallel noted, or expert rank r of EP), and the Q/K/V projections also carry
    "Heads held: 16 of 32, head dim 128".
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

COLORS = {
    "attn": "#dbe9ff", "ffn": "#ffe0c2", "norm": "#eeeeee", "comm": "#e3e3e3",
    "route": "#fff3b0", "io": "#d9f2d9", "head": "#e8dcff",
}


# --------------------------------------------------------------------------- formatting
def _runs(gpus):
    g = sorted(gpus)
    return len(g) > 1 and g == list(range(g[0], g[-1] + 1))


def gpu_prefix(gpus):
    g = sorted(gpus)
    if len(g) == 1:
        return "gpu%d" % g[0]
    if _runs(g):
        return "gpu%d-%d" % (g[0], g[-1])
    return "gpu" + ",".join(str(x) for x in g)


def gpu_phrase(gpus):
    g = sorted(gpus)
    if len(g) == 1:
        return "GPU %d" % g[0]
    if _runs(g):
        return "GPUs %d to %d" % (g[0], g[-1])
    return "GPUs " + ", ".join(str(x) for x in g[:-1]) + " and %d" % g[-1]


def tensor_phrase(t):
    dtype, shape = t
    return "%s of shape (%s)" % (dtype, ", ".join(str(d) for d in shape))


def and_list(xs):
    xs = [str(x) for x in xs]
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


# --------------------------------------------------------------------------- graph model
class Graph:
    def __init__(self, strategy, header):
        self.strategy = dict(strategy)        # EP TP PP DP as declared in the label
        self.header = list(header)
        self.nodes = {}                       # key -> node dict
        self.order = []                       # node keys in drawing order
        self.edges = []                       # [src_key, dst_key, attrs]
        self.clusters = []                    # [cid, label, colour]

    # nodes ---------------------------------------------------------------
    def add(self, key, path, title, kind, out=None, gpus=None, cluster=None, color="norm",
            extra=None, banner=None, shape=None):
        assert key not in self.nodes, key
        self.nodes[key] = dict(key=key, path=path, title=title, kind=kind, outs=out or [],
                               ins=None, gpus=list(gpus) if gpus else None, cluster=cluster,
                               color=color, extra=list(extra or []), banner=banner,
                               shape=shape, no_gpu_id=False)
        self.order.append(key)
        return key

    def node_id(self, key):
        n = self.nodes[key]
        if n["gpus"]:
            return gpu_prefix(n["gpus"]) + "/" + n["path"]
        if n["no_gpu_id"]:
            return "gpu/" + n["path"]
        return n["path"]

    def e(self, s, d, **attrs):
        assert s in self.nodes and d in self.nodes, (s, d)
        self.edges.append([s, d, attrs])

    def preds(self, k):
        return [s for s, d, _ in self.edges if d == k]

    def succs(self, k):
        return [d for s, d, _ in self.edges if s == k]

    def derive_inputs(self, keys=None):
        for k in (keys if keys is not None else self.order):
            n = self.nodes[k]
            if n["kind"] == "input":
                n["ins"] = []
                continue
            n["ins"] = [self.nodes[p]["outs"][0] for p in self.preds(k)]

    def rm_node(self, k):
        del self.nodes[k]
        self.order.remove(k)
        self.edges = [x for x in self.edges if x[0] != k and x[1] != k]

    def rm_edge(self, s, d):
        before = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == s and x[1] == d)]
        assert len(self.edges) == before - 1, (s, d)

    def replace_edge(self, s, d, ns, nd, **attrs):
        for x in self.edges:
            if x[0] == s and x[1] == d:
                x[0], x[1] = ns, nd
                if attrs:
                    x[2] = attrs
                return
        raise KeyError((s, d))

    # rendering -----------------------------------------------------------
    def label(self, k):
        n = self.nodes[k]
        lines = [n["title"]] + n["extra"]
        lines += ["Input tensor: " + tensor_phrase(t) for t in (n["ins"] or [])]
        lines += ["Output tensor: " + tensor_phrase(t) for t in n["outs"]]
        if n["gpus"]:
            lines.append("Placed on: " + gpu_phrase(n["gpus"]))
        return "\\n".join(x.replace('"', '\\"') for x in lines)

    def node_line(self, k, indent):
        n = self.nodes[k]
        attrs = ['label="%s"' % self.label(k)]
        shape = n["shape"] or {"comp": None, "comm": "ellipse", "route": "parallelogram",
                               "input": "invhouse", "output": "house"}[n["kind"]]
        if shape:
            attrs.append("shape=%s" % shape)
        attrs.append('fillcolor="%s"' % COLORS[n["color"]])
        return '%s"%s" [%s];' % (indent, self.node_id(k), ", ".join(attrs))

    def render(self):
        ids = [self.node_id(k) for k in self.order]
        assert len(ids) == len(set(ids)), "duplicate ids"
        s = self.strategy
        out = ["// " + h for h in self.header]
        out.append('digraph "deployment" {')
        out.append('  graph [label="Parallel layout \u2014 expert %d, tensor %d, pipeline %d, '
                   'data %d", labelloc=t, fontname="Helvetica", fontsize=14, rankdir=TB, '
                   'newrank=true];' % (s["EP"], s["TP"], s["PP"], s["DP"]))
        out.append('  node [shape=box, style=filled, fontname="Helvetica", fontsize=9];')
        out.append('  edge [arrowsize=0.6];')
        out.append("")

        def emit(keys, indent):
            for k in keys:
                b = self.nodes[k]["banner"]
                if b:
                    out.append("%s// ---- %s ----" % (indent, b))
                out.append(self.node_line(k, indent))

        emit([k for k in self.order if self.nodes[k]["cluster"] is None], "  ")
        for cid, clabel, ccol in self.clusters:
            keys = [k for k in self.order if self.nodes[k]["cluster"] == cid]
            out.append("")
            out.append("  subgraph %s {" % cid)
            out.append('    label="%s"; style="rounded,filled"; fillcolor="%s";' % (clabel, ccol))
            emit(keys, "    ")
            out.append("  }")
        out.append("")
        out.append("  // ---- data flow ----")
        for a, b, attrs in self.edges:
            at = " [%s]" % ", ".join("%s=%s" % kv for kv in attrs.items()) if attrs else ""
            out.append('  "%s" -> "%s"%s;' % (self.node_id(a), self.node_id(b), at))
        out.append("}")
        return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- builder
def build(cfg):
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    L, H, NH, HD = cfg["L"], cfg["H"], cfg["NH"], cfg["HD"]
    B, S, V = cfg["B"], cfg["S"], cfg["V"]
    moe = cfg["moe"]
    assert NH * HD == H and NH % TP == 0 and L % PP == 0
    h = NH // TP
    bf = "bf16"
    hid = (bf, (B, S, H))
    header = ["Model card (style ay): %d decoder layers, hidden %d, %d attention heads of head "
              "dim %d, vocab %d" % (L, H, NH, HD, V)]
    if moe:
        E, K, F = cfg["E"], cfg["K"], cfg["F"]
        assert E % EP == 0
        Te = B * S * K // E
        header.append("Model card: MoE FFN with %d experts (FFN width %d), top-%d routing; "
                      "about %d tokens per expert per step" % (E, F, K, Te))
    else:
        F = cfg["F"]
        header.append("Model card: dense SwiGLU MLP of width %d" % F)
    header.append("Batch: %d sequences of %d tokens per data-parallel replica, bf16 activations"
                  % (B, S))
    G = Graph(dict(EP=EP, TP=TP, PP=PP, DP=DP), header)
    G.cfg = cfg
    per_stage = L // PP
    n_gpu = EP * TP * PP * DP

    G.add("input", "io/input", "Input token ids", "input", out=[("int64", (B * DP, S))],
          color="io", banner="Graph input")
    src = "input"
    if DP > 1:
        src = G.add("scatter", "io/batch_scatter", "Data-parallel batch scatter", "comm",
                    out=[("int64", (B, S))], gpus=range(n_gpu), color="comm",
                    extra=["Splits %d sequences into %d replicas of %d" % (B * DP, DP, B)])
        G.e("input", "scatter")
    last_heads = []
    for d in range(DP):
        prev_send = None
        for s in range(PP):
            base = (d * PP + s) * EP * TP
            allg = list(range(base, base + EP * TP))
            lane = lambda t: [base + r * TP + t for r in range(EP)]
            grp = lambda r: [base + r * TP + t for t in range(TP)]
            lo, hi = s * per_stage, (s + 1) * per_stage - 1
            cid = "cluster_dp%d_pp%d" % (d, s)
            clabel = "Pipeline stage #%d holds layers %d through %d" % (s, lo, hi)
            if DP > 1:
                clabel += " (data-parallel replica #%d)" % d
            G.clusters.append([cid, clabel, ["#f7fbff", "#fff9f2", "#f7fff7", "#fbf7ff"][(d * PP + s) % 4]])
            P = "dp%d/" % d

            if s == 0:
                cur = G.add(P + "embed", "embed", "Token embedding", "comp", out=[hid],
                            gpus=allg, cluster=cid, color="head",
                            banner="Replica %d / embedding" % d if DP > 1 else "Embedding")
                G.e(src, cur)
            else:
                cur = G.add(P + "recv%d" % s, "PP/recv_%dto%d" % (s - 1, s),
                            "Pipeline receive into stage #%d" % s, "comm", out=[hid],
                            gpus=allg, cluster=cid, color="comm",
                            extra=["Peer: stage #%d" % (s - 1)],
                            banner="Stage #%d / receive from stage #%d" % (s, s - 1))
                G.e(prev_send, cur)

            for l in range(lo, hi + 1):
                Lp, Lk, Lt = "L%d/" % l, P + "L%d/" % l, "Layer %d " % l
                # ---------------- attention block
                n1 = G.add(Lk + "attn/norm", Lp + "attn/norm", Lt + "input RMSNorm", "comp",
                           out=[hid], gpus=allg, cluster=cid, color="norm",
                           banner="Layer %d / attention block (tensor %d ways)" % (l, TP))
                G.e(cur, n1)
                outs_o = []
                rep = ", copy on each of %d expert ranks" % EP if EP > 1 else ""
                for t in range(TP):
                    sh = "Shard: tensor rank %d of %d" % (t, TP)
                    T = Lk + "attn/%s/tp" + str(t)
                    qkv = {}
                    for nm, word in (("q", "query"), ("k", "key"), ("v", "value")):
                        qkv[nm] = G.add(T % nm, Lp + "attn/" + nm, Lt + word + " projection",
                                        "comp", out=[(bf, (B, S, h, HD))], gpus=lane(t),
                                        cluster=cid, color="attn",
                                        extra=[sh + " (column-parallel%s)" % rep,
                                               "Heads held: %d of %d, head dim %d" % (h, NH, HD)])
                        G.e(n1, qkv[nm])
                    sc = G.add(T % "scores", Lp + "attn/scores",
                               Lt + "attention scores (Q times K transposed)", "comp",
                               out=[(bf, (B, h, S, S))], gpus=lane(t), cluster=cid, color="attn",
                               extra=[sh])
                    G.e(qkv["q"], sc)
                    G.e(qkv["k"], sc)
                    pr = G.add(T % "probs", Lp + "attn/probs", Lt + "attention probabilities",
                               "comp", out=[(bf, (B, h, S, S))], gpus=lane(t), cluster=cid,
                               color="attn", extra=[sh])
                    G.e(sc, pr)
                    pv = G.add(T % "pv", Lp + "attn/pv", Lt + "probabilities times V", "comp",
                               out=[(bf, (B, S, h, HD))], gpus=lane(t), cluster=cid,
                               color="attn", extra=[sh])
                    G.e(pr, pv)
                    G.e(qkv["v"], pv)
                    o = G.add(T % "o", Lp + "attn/o", Lt + "output projection", "comp",
                              out=[hid], gpus=lane(t), cluster=cid, color="attn",
                              extra=[sh + " (row-parallel, partial sums%s)" % rep])
                    G.e(pv, o)
                    outs_o.append(o)
                if cfg["attn_comm"] == "allreduce":
                    red = G.add(Lk + "attn/allreduce", Lp + "attn/allreduce",
                                Lt + "attention all-reduce (sum of tensor partials)", "comm",
                                out=[hid], gpus=allg, cluster=cid, color="comm")
                    for o in outs_o:
                        G.e(o, red)
                else:
                    rs = G.add(Lk + "attn/reduce_scatter", Lp + "attn/reduce_scatter",
                               Lt + "attention reduce-scatter over hidden", "comm",
                               out=[(bf, (B, S, H // TP))], gpus=allg, cluster=cid, color="comm")
                    for o in outs_o:
                        G.e(o, rs)
                    red = G.add(Lk + "attn/all_gather", Lp + "attn/all_gather",
                                Lt + "attention all-gather over hidden", "comm", out=[hid],
                                gpus=allg, cluster=cid, color="comm")
                    G.e(rs, red)
                r1 = G.add(Lk + "attn/residual", Lp + "attn/residual",
                           Lt + "attention residual add", "comp", out=[hid], gpus=allg,
                           cluster=cid, color="norm")
                G.e(red, r1)
                G.e(cur, r1)
                # ---------------- FFN block
                if moe:
                    n2 = G.add(Lk + "moe/norm", Lp + "moe/norm", Lt + "post-attention RMSNorm",
                               "comp", out=[hid], gpus=allg, cluster=cid, color="norm",
                               banner="Layer %d / MoE block (%d experts over %d expert ranks)"
                               % (l, E, EP))
                    G.e(r1, n2)
                    rt = G.add(Lk + "moe/router", Lp + "moe/router", Lt + "MoE router", "route",
                               out=[("fp32", (B, S, K))], gpus=allg, cluster=cid, color="route",
                               extra=["Routing: top-%d of %d experts" % (K, E)])
                    G.e(n2, rt)
                    sp = G.add(Lk + "moe/split", Lp + "moe/split", Lt + "token split by expert",
                               "route", out=[(bf, (Te, H))], gpus=allg, cluster=cid,
                               color="route", extra=["Buckets: %d, one per expert" % E])
                    G.e(n2, sp)
                    G.e(rt, sp, style="dashed")
                    dp_ = G.add(Lk + "moe/dispatch", Lp + "moe/dispatch",
                                Lt + "token dispatch all-to-all", "comm", out=[(bf, (Te, H))],
                                gpus=allg, cluster=cid, color="comm")
                    G.e(sp, dp_)
                    ars = []
                    for r in range(EP):
                        ars.append(G.add(Lk + "moe/rank%d_allreduce" % r,
                                         Lp + "moe/rank%d_allreduce" % r,
                                         Lt + "expert-rank %d tensor all-reduce" % r, "comm",
                                         out=[(bf, (E // EP, Te, H))], gpus=grp(r), cluster=cid,
                                         color="comm",
                                         extra=["Shard: expert rank %d of %d" % (r, EP)]))
                    for x in range(E):
                        r = x // (E // EP)
                        ex = G.add(Lk + "moe/expert%d" % x, Lp + "moe/expert%d" % x,
                                   Lt + "expert %d feed-forward" % x, "comp", out=[(bf, (Te, H))],
                                   gpus=grp(r), cluster=cid, color="ffn",
                                   extra=["Shard: expert rank %d of %d, tensor-split %d ways"
                                          % (r, EP, TP)])
                        G.e(dp_, ex)
                        G.e(ex, ars[r])
                    # keep the all-reduces after the experts in drawing order
                    for a in ars:
                        G.order.remove(a)
                        G.order.append(a)
                    ca = G.add(Lk + "moe/combine_a2a", Lp + "moe/combine_a2a",
                               Lt + "token combine all-to-all", "comm", out=[(bf, (B, S, K, H))],
                               gpus=allg, cluster=cid, color="comm")
                    for a in ars:
                        G.e(a, ca)
                    cb = G.add(Lk + "moe/combine", Lp + "moe/combine",
                               Lt + "weighted expert combine", "route", out=[hid], gpus=allg,
                               cluster=cid, color="route")
                    G.e(ca, cb)
                    G.e(rt, cb, style="dashed")
                    r2 = G.add(Lk + "moe/residual", Lp + "moe/residual", Lt + "MoE residual add",
                               "comp", out=[hid], gpus=allg, cluster=cid, color="norm")
                    G.e(cb, r2)
                    G.e(r1, r2)
                else:
                    n2 = G.add(Lk + "mlp/norm", Lp + "mlp/norm", Lt + "post-attention RMSNorm",
                               "comp", out=[hid], gpus=allg, cluster=cid, color="norm",
                               banner="Layer %d / MLP block (tensor %d ways)" % (l, TP))
                    G.e(r1, n2)
                    downs = []
                    for t in range(TP):
                        sh = "Shard: tensor rank %d of %d" % (t, TP)
                        T = Lk + "mlp/%s/tp" + str(t)
                        gu = G.add(T % "gate_up", Lp + "mlp/gate_up", Lt + "gate and up projection",
                                   "comp", out=[(bf, (B, S, 2 * F // TP))], gpus=lane(t),
                                   cluster=cid, color="ffn", extra=[sh + " (column-parallel)"])
                        G.e(n2, gu)
                        ac = G.add(T % "act", Lp + "mlp/act", Lt + "SiLU gating", "comp",
                                   out=[(bf, (B, S, F // TP))], gpus=lane(t), cluster=cid,
                                   color="ffn", extra=[sh])
                        G.e(gu, ac)
                        dn = G.add(T % "down", Lp + "mlp/down", Lt + "down projection", "comp",
                                   out=[hid], gpus=lane(t), cluster=cid, color="ffn",
                                   extra=[sh + " (row-parallel, partial sums)"])
                        G.e(ac, dn)
                        downs.append(dn)
                    ar = G.add(Lk + "mlp/allreduce", Lp + "mlp/allreduce",
                               Lt + "MLP all-reduce (sum of tensor partials)", "comm", out=[hid],
                               gpus=allg, cluster=cid, color="comm")
                    for dn in downs:
                        G.e(dn, ar)
                    r2 = G.add(Lk + "mlp/residual", Lp + "mlp/residual", Lt + "MLP residual add",
                               "comp", out=[hid], gpus=allg, cluster=cid, color="norm")
                    G.e(ar, r2)
                    G.e(r1, r2)
                cur = r2

            if s < PP - 1:
                prev_send = G.add(P + "send%d" % s, "PP/send_%dto%d" % (s, s + 1),
                                  "Pipeline send from stage #%d" % s, "comm", out=[hid],
                                  gpus=allg, cluster=cid, color="comm",
                                  extra=["Peer: stage #%d" % (s + 1)],
                                  banner="Stage #%d / send to stage #%d" % (s, s + 1))
                G.e(cur, prev_send)
            else:
                fn = G.add(P + "final_norm", "final_norm", "Final RMSNorm", "comp", out=[hid],
                           gpus=allg, cluster=cid, color="norm",
                           banner="Replica %d / output head" % d if DP > 1 else "Output head")
                G.e(cur, fn)
                lm = G.add(P + "lm_head", "lm_head", "LM head", "comp", out=[(bf, (B, S, V))],
                           gpus=allg, cluster=cid, color="head",
                           extra=["Weights: full vocabulary, replicated on every GPU of the stage"])
                G.e(fn, lm)
                last_heads.append(lm)
    if DP > 1:
        ga = G.add("gather", "io/logits_gather", "Data-parallel logits gather", "comm",
                   out=[(bf, (B * DP, S, V))], gpus=range(n_gpu), color="comm",
                   banner="Graph output")
        for lm in last_heads:
            G.e(lm, ga)
        last = ga
    else:
        last = last_heads[0]
    G.add("output", "io/output", "Output logits", "output", color="io",
          banner=None if DP > 1 else "Graph output")
    G.e(last, "output")
    G.derive_inputs()
    return G


CFG1 = dict(name="clean_1", EP=4, TP=2, PP=2, DP=1, L=4, H=4096, NH=32, HD=128, B=4, S=1024,
            V=32000, moe=True, E=8, K=2, F=14336, attn_comm="allreduce")
CFG2 = dict(name="clean_2", EP=2, TP=4, PP=1, DP=1, L=3, H=2048, NH=16, HD=128, B=8, S=512,
            V=32000, moe=True, E=4, K=2, F=5632, attn_comm="rsag")
CFG3 = dict(name="clean_3", EP=1, TP=2, PP=1, DP=2, L=2, H=1024, NH=16, HD=64, B=4, S=1024,
            V=32000, moe=False, F=4096, attn_comm="allreduce")


def nid(G, k):
    return G.node_id(k)


# --------------------------------------------------------------------------- defects
# each returns (graph, offending node keys, what)
def d_cycle(G):
    G.e("dp0/L1/attn/residual", "dp0/L1/attn/allreduce")
    ks = ["dp0/L1/attn/allreduce", "dp0/L1/attn/residual"]
    return ks, ("Layer 1's attention all-reduce %s and the residual add %s are joined both ways "
                "(all-reduce -> residual and residual -> all-reduce), a two-node cycle on GPUs 0 to 7."
                % tuple(nid(G, k) for k in ks))


def d_dangling_input(G):
    G.rm_edge("dp0/L1/attn/residual", "dp0/L1/moe/norm")
    k = "dp0/L1/moe/norm"
    return [k], ("Layer 1's post-attention RMSNorm %s (GPUs 0 to 7) has no incoming edge: its "
                 "input from the attention residual add %s was left out."
                 % (nid(G, k), nid(G, "dp0/L1/attn/residual")))


def d_dangling_output(G):
    G.rm_edge("dp0/L1/moe/expert5", "dp0/L1/moe/rank2_allreduce")
    k = "dp0/L1/moe/expert5"
    return [k], ("Expert 5 of layer 1 (%s, expert rank 2 of 4, GPUs 4 to 5) has no outgoing edge: "
                 "its output never reaches the expert-rank 2 all-reduce or the combine all-to-all."
                 % nid(G, k))


def d_attention_one_box(G):
    cfg = G.cfg
    B, S, H, TP, EP = cfg["B"], cfg["S"], cfg["H"], cfg["TP"], cfg["EP"]
    ks = []
    for t in range(TP):
        pre = "dp0/L2/attn/%s/tp" + str(t)
        q = G.nodes[pre % "q"]
        pos = G.order.index(pre % "q")
        for nm in ("q", "k", "v", "scores", "probs", "pv", "o"):
            G.rm_node(pre % nm)
        k = G.add("dp0/L2/attn/mha/tp%d" % t, "L2/attn/mha", "Layer 2 multi-head attention",
                  "comp", out=[("bf16", (B, S, H))], gpus=q["gpus"], cluster=q["cluster"],
                  color="attn",
                  extra=["Shard: tensor rank %d of %d (16 of 32 heads), copy on each of %d expert ranks"
                         % (t, TP, EP)])
        G.order.remove(k)
        G.order.insert(pos, k)
        G.e("dp0/L2/attn/norm", k)
        G.e(k, "dp0/L2/attn/allreduce")
        G.derive_inputs([k])
        ks.append(k)
    return ks, ("Layer 2's attention is drawn as one 'Layer 2 multi-head attention' box per tensor "
                "rank (%s) instead of query/key/value projections, scores, probabilities, "
                "probabilities times V and output projection." % ", ".join(nid(G, k) for k in ks))


def d_v_bypasses_softmax(G):
    pre = "dp0/L1/attn/%s/tp1"
    G.replace_edge(pre % "probs", pre % "pv", pre % "probs", pre % "o")
    G.derive_inputs([pre % "pv", pre % "o"])
    ks = [pre % "pv", pre % "v", pre % "probs", pre % "o"]
    return ks, ("Layer 1, tensor rank 1 (GPUs 1, 3, 5 and 7): V feeds the weighted sum %s but the "
                "attention probabilities %s do not (they go straight to the output projection %s), "
                "so V bypasses the attention probabilities."
                % (nid(G, pre % "pv"), nid(G, pre % "probs"), nid(G, pre % "o")))


def d_v_into_score(G):
    pre = "dp0/L0/attn/%s/tp1"
    G.replace_edge(pre % "k", pre % "scores", pre % "v", pre % "scores")
    G.replace_edge(pre % "v", pre % "pv", pre % "k", pre % "pv")
    ks = [pre % "v", pre % "k", pre % "scores", pre % "pv"]
    return ks, ("Layer 0, tensor rank 1 of 4 (GPUs 1 and 5): the value projection %s is wired into "
                "the scores %s instead of the key projection, and the key projection %s feeds the "
                "probabilities-times-V node %s (K and V swapped)."
                % (nid(G, pre % "v"), nid(G, pre % "scores"), nid(G, pre % "k"), nid(G, pre % "pv")))


def d_qkv_into_oproj(G):
    ks = []
    for t in range(2):
        pre = "dp1/L1/attn/%s/tp" + str(t)
        for nm in ("scores", "probs", "pv"):
            G.rm_node(pre % nm)
        for nm in ("q", "k", "v"):
            G.e(pre % nm, pre % "o")
        G.derive_inputs([pre % "o"])
        ks += [pre % "q", pre % "k", pre % "v", pre % "o"]
    return ks, ("Data-parallel replica 1 (GPUs 2 to 3), layer 1: on both tensor ranks the query, key "
                "and value projections go straight into the output projection (%s and %s); no "
                "scores, probabilities or probabilities-times-V node is drawn."
                % (nid(G, "dp1/L1/attn/o/tp0"), nid(G, "dp1/L1/attn/o/tp1")))


def d_head_arithmetic(G):
    cfg = G.cfg
    B, S, TP = cfg["B"], cfg["S"], cfg["TP"]
    h = cfg["NH"] // TP
    ks = []
    for t in range(TP):
        pre = "dp0/L2/attn/%s/tp" + str(t)
        for nm in ("q", "k", "v"):
            n = G.nodes[pre % nm]
            n["outs"] = [("bf16", (B, S, h, 64))]
            n["extra"][1] = "Heads held: %d of %d, head dim 64" % (h, cfg["NH"])
            ks.append(pre % nm)
        G.nodes[pre % "pv"]["outs"] = [("bf16", (B, S, h, 64))]
        G.derive_inputs([pre % "scores", pre % "pv", pre % "o"])
    return ks, ("Layer 2 labels Q/K/V as 16 heads x head dim 64 on each of the 2 tensor ranks "
                "(16 x 64 = 1024 per rank, 32 x 64 = 2048 in total) while hidden is 4096 "
                "(4096 / TP2 = 2048 per rank, head dim 128 in every other layer).")


def d_tp_heads(G):
    cfg = G.cfg
    B, S, HD, NH = cfg["B"], cfg["S"], cfg["HD"], cfg["NH"]
    pre = "dp0/L0/attn/%s/tp0"
    ks = []
    for nm in ("q", "k", "v"):
        n = G.nodes[pre % nm]
        n["outs"] = [("bf16", (B, S, NH, HD))]
        n["extra"][1] = "Heads held: %d of %d, head dim %d" % (NH, NH, HD)
        ks.append(pre % nm)
    G.nodes[pre % "scores"]["outs"] = [("bf16", (B, NH, S, S))]
    G.nodes[pre % "probs"]["outs"] = [("bf16", (B, NH, S, S))]
    G.nodes[pre % "pv"]["outs"] = [("bf16", (B, S, NH, HD))]
    G.derive_inputs([pre % x for x in ("scores", "probs", "pv", "o")])
    return ks, ("Layer 0, tensor rank 0 of TP 4 (GPUs 0 and 4): the query, key and value "
                "projections output all 16 heads x 128 (2048) instead of 16/4 = 4 heads (512) per "
                "rank, and the rest of that rank's attention carries 16 heads.")


def d_edge_shape_mismatch(G):
    k = "dp0/L1/mlp/norm"
    G.nodes[k]["ins"] = [("bf16", (4, 1024, 768))]
    return [k, "dp0/L1/attn/residual"], (
        "Data-parallel replica 0, layer 1: the post-attention RMSNorm %s expects input (4, 1024, "
        "768) but its producer, the residual add %s, outputs (4, 1024, 1024) (ratio 4/3, not a "
        "parallel degree)." % (nid(G, k), nid(G, "dp0/L1/attn/residual")))


def d_shard_without_gather(G):
    rs, ag, r1 = "dp0/L2/attn/reduce_scatter", "dp0/L2/attn/all_gather", "dp0/L2/attn/residual"
    G.replace_edge(ag, r1, rs, r1)
    G.rm_node(ag)
    return [rs, r1], ("Layer 2's row-parallel attention output is reduce-scattered by %s into "
                      "hidden/TP = 2048/4 = 512 shards that go straight into the full-size "
                      "(hidden 2048) residual add %s with no all-gather." % (nid(G, rs), nid(G, r1)))


def d_stage_count(G):
    G.strategy["PP"] = 3
    return [], ("The graph label declares pipeline 3 ('expert 4, tensor 2, pipeline 3, data 1') "
                "but two pipeline stages (#0 on GPUs 0 to 7, #1 on GPUs 8 to 15) are drawn.")


def d_stage_range_gap(G):
    G.clusters[0][1] = "Pipeline stage #0 holds layers 0 through 0"
    ks = [k for k in G.order if k.startswith("dp0/L1/")]
    return ks[:1], ("Stage #0 claims layers 0 through 0 and stage #1 layers 2 through 3: layer 1 is "
                    "in no stage's range, although its operators are drawn in stage #0 (GPUs 0 to 7).")


def d_stage_missing_layer(G):
    for k in [k for k in G.order if k.startswith("dp0/L3/")]:
        G.rm_node(k)
    G.e("dp0/L2/moe/residual", "dp0/final_norm")
    return ["dp0/L2/moe/residual", "dp0/final_norm"], (
        "Stage #1 claims layers 2 through 3 but no operator of layer 3 is drawn: layer 2's MoE "
        "residual add %s feeds the final RMSNorm %s directly."
        % (nid(G, "dp0/L2/moe/residual"), nid(G, "dp0/final_norm")))


def d_no_stage_transfer(G):
    src = "dp0/L1/moe/residual"
    G.replace_edge("dp0/recv1", "dp0/L2/attn/norm", src, "dp0/L2/attn/norm")
    G.replace_edge("dp0/recv1", "dp0/L2/attn/residual", src, "dp0/L2/attn/residual")
    G.rm_node("dp0/send0")
    G.rm_node("dp0/recv1")
    ks = [src, "dp0/L2/attn/norm", "dp0/L2/attn/residual"]
    return ks, ("Stage #0 (GPUs 0 to 7) and stage #1 (GPUs 8 to 15) are joined by plain edges from "
                "%s to %s and %s; the pipeline send/receive is missing."
                % tuple(nid(G, k) for k in ks))


def _expert_move(G, layer, x, r, shard_rank=None, ar_rank=None):
    cfg = G.cfg
    EP, TP = cfg["EP"], cfg["TP"]
    k = "dp0/L%d/moe/expert%d" % (layer, x)
    n = G.nodes[k]
    base = min(n["gpus"]) - (min(n["gpus"]) % (EP * TP))
    n["gpus"] = [base + r * TP + t for t in range(TP)]
    if shard_rank is not None:
        n["extra"][0] = "Shard: expert rank %d of %d, tensor-split %d ways" % (shard_rank, EP, TP)
    if ar_rank is not None:
        old = [d for d in G.succs(k)][0]
        G.replace_edge(k, old, k, "dp0/L%d/moe/rank%d_allreduce" % (layer, ar_rank))
    return k


def _refresh_moe(G, layer):
    cfg = G.cfg
    pre = "dp0/L%d/moe/" % layer
    for r in range(cfg["EP"]):
        a = pre + "rank%d_allreduce" % r
        if a in G.nodes:
            n = len(G.preds(a))
            _, (ne, te, hh) = G.nodes[a]["outs"][0]
            G.nodes[a]["outs"] = [("bf16", (n, te, hh))]
            G.derive_inputs([a])
    G.derive_inputs([pre + "combine_a2a"])


def d_experts_subset_ranks(G):
    ks = []
    for x in range(8):
        ks.append(_expert_move(G, 1, x, x // 4, shard_rank=x // 4, ar_rank=x // 4))
    # edges to the now empty rank all-reduces were all redirected; drop those nodes
    G.rm_node("dp0/L1/moe/rank2_allreduce")
    G.rm_node("dp0/L1/moe/rank3_allreduce")
    _refresh_moe(G, 1)
    return ks, ("Layer 1 places all 8 experts on expert ranks 0 and 1 (experts 0-3 on GPUs 0 to 1, "
                "experts 4-7 on GPUs 2 to 3); expert ranks 2 and 3 (GPUs 4 to 7) hold none of its "
                "experts although the layout declares expert 4.")


def d_experts_uneven(G):
    k = _expert_move(G, 2, 3, 0, shard_rank=0, ar_rank=0)
    _refresh_moe(G, 2)
    return [k], ("Layer 2's expert 3 (%s) sits on expert rank 0 (GPUs 8 to 9) instead of rank 1 "
                 "(GPUs 10 to 11): ranks 0-3 hold 3, 1, 2 and 2 experts instead of 8/4 = 2 each."
                 % nid(G, k))


def d_experts_share_gpu(G):
    k = _expert_move(G, 1, 3, 0)
    return [k, "dp0/L1/moe/expert0", "dp0/L1/moe/expert1"], (
        "Layer 1's expert 3 (%s, labelled expert rank 1 of 2 and reduced by rank 1's all-reduce) is "
        "placed on GPUs 0 to 3, which hold expert rank 0's experts 0 and 1." % nid(G, k))


def d_no_gate(G):
    rt = "dp0/L2/moe/router"
    G.rm_node(rt)
    G.derive_inputs(["dp0/L2/moe/split", "dp0/L2/moe/combine"])
    ks = ["dp0/L2/moe/norm", "dp0/L2/moe/split", "dp0/L2/moe/dispatch"]
    return ks, ("Layer 2 has no MoE router: the post-attention RMSNorm %s goes straight into the "
                "token split %s, the dispatch all-to-all and experts 0-3, and the weighted combine "
                "gets no routing weights." % (nid(G, ks[0]), nid(G, ks[1])))


def d_no_all_to_all(G):
    dsp, sp = "dp0/L0/moe/dispatch", "dp0/L0/moe/split"
    exps = ["dp0/L0/moe/expert%d" % x for x in range(4)]
    for x in exps:
        G.replace_edge(dsp, x, sp, x)
    G.rm_node(dsp)
    return [sp] + exps, ("Layer 0's token split %s sends tokens straight to experts 0-3 on expert "
                         "ranks 0 and 1 (GPUs 0 to 3 and GPUs 4 to 7; expert degree 2) without a "
                         "dispatch all-to-all." % nid(G, sp))


def d_tp_rank_missing(G):
    pre = "dp0/L1/attn/%s/tp3"
    for nm in ("q", "k", "v", "scores", "probs", "pv", "o"):
        G.rm_node(pre % nm)
    G.derive_inputs(["dp0/L1/attn/reduce_scatter"])
    return ["dp0/L1/attn/norm", "dp0/L1/attn/reduce_scatter"], (
        "Layer 1's attention operators are drawn for tensor ranks 0-2 only; tensor rank 3 (GPUs 3 "
        "and 7) of tensor 4 is missing, so the reduce-scatter sums only 3 of 4 partials.")


def d_no_allreduce_after_rowparallel(G):
    ar, r2 = "dp0/L0/mlp/allreduce", "dp0/L0/mlp/residual"
    G.replace_edge("dp0/L0/mlp/down/tp0", ar, "dp0/L0/mlp/down/tp0", r2)
    G.replace_edge("dp0/L0/mlp/down/tp1", ar, "dp0/L0/mlp/down/tp1", r2)
    G.rm_node(ar)
    # residual inputs in edge order: down tp0, down tp1, skip
    G.edges = [x for x in G.edges if not (x[0] == "dp0/L0/attn/residual" and x[1] == r2)] + \
        [["dp0/L0/attn/residual", r2, {}]]
    G.derive_inputs([r2])
    ks = ["dp0/L0/mlp/down/tp0", "dp0/L0/mlp/down/tp1", r2]
    return ks, ("Data-parallel replica 0, layer 0: the row-parallel MLP down projections %s (GPU 0) "
                "and %s (GPU 1) feed the residual add %s directly, without the tensor all-reduce of "
                "their partial sums." % tuple(nid(G, k) for k in ks))


def d_cross_gpu_no_comm(G):
    G.replace_edge("dp0/recv1", "dp0/L2/attn/residual", "dp0/L1/moe/residual", "dp0/L2/attn/residual")
    ks = ["dp0/L1/moe/residual", "dp0/L2/attn/residual"]
    return ks, ("Layer 1's MoE residual add %s on GPUs 0 to 7 (stage #0) feeds layer 2's attention "
                "residual add %s on GPUs 8 to 15 (stage #1) by a plain skip edge; only the norm path "
                "goes through the pipeline send/receive." % tuple(nid(G, k) for k in ks))


def d_comm_wrong_shape(G):
    k = "dp1/L0/mlp/allreduce"
    G.nodes[k]["shape"] = "box"
    return [k], ("Data-parallel replica 1, layer 0: the MLP all-reduce %s (GPUs 2 to 3) is drawn as a "
                 "box (computation) instead of an ellipse." % nid(G, k))


def d_missing_gpu(G):
    k = "dp0/L0/attn/probs/tp1"
    G.nodes[k]["gpus"] = None
    G.nodes[k]["no_gpu_id"] = True
    return [k], ("The attention probabilities (softmax) of layer 0, tensor rank 1 (%s) have no "
                 "'Placed on' line and no GPU in the id; their neighbours sit on GPUs 1, 3, 5 and 7."
                 % nid(G, k))


def d_gpu_out_of_range(G):
    k = _expert_move(G, 2, 3, 2)
    return [k], ("Layer 2's expert 3 (%s) is placed on GPUs 8 to 11, beyond the 8 GPUs of expert 2 x "
                 "tensor 4 x pipeline 1 x data 1 (ids 0-7)." % nid(G, k))


def d_stages_share_gpus(G):
    ks = []
    for k in G.order:
        n = G.nodes[k]
        if n["cluster"] == "cluster_dp0_pp1":
            n["gpus"] = [g - 4 for g in n["gpus"]]
            ks.append(k)
    return ["dp0/send0", "dp0/recv1"], ("Stage #1 (layers 2 through 3) is placed on GPUs 4 to 11, overlapping stage #0's "
                    "GPUs 0 to 7 (GPUs 4 to 7 in both).")


def d_strategy_mismatch(G):
    G.strategy["TP"] = 4
    return [], ("The graph label declares tensor 4 ('expert 1, tensor 4, pipeline 1, data 2') but "
                "every tensor-parallel operator is drawn for tensor ranks 0-1 only (tensor 2, one "
                "GPU per rank, 4 GPUs in all).")


def d_missing_shapes(G):
    k = "dp0/L2/attn/o/tp1"
    G.nodes[k]["ins"] = []
    G.nodes[k]["outs"] = []
    return [k], ("The output projection of layer 2, tensor rank 1 (%s) has no Input tensor or "
                 "Output tensor line." % nid(G, k))


def d_placeholder(G):
    k = "dp0/L2/moe/router"
    G.nodes[k]["ins"] = [("bf16", ("?", 512, 2048))]
    return [k], ("Layer 2's MoE router %s gives its input as bf16 of shape (?, 512, 2048), a "
                 "placeholder instead of the batch of 8." % nid(G, k))


def d_moe_before_attention(G):
    prev, P = "dp0/L0/moe/residual", "dp0/L1/"
    an, ar = P + "attn/norm", P + "attn/residual"
    mn, mr = P + "moe/norm", P + "moe/residual"
    nxt_n, nxt_r = "dp0/L2/attn/norm", "dp0/L2/attn/residual"
    G.replace_edge(prev, an, prev, mn)
    G.replace_edge(prev, ar, prev, mr)
    G.replace_edge(ar, mn, mr, an)
    G.replace_edge(ar, mr, mr, ar)
    G.replace_edge(mr, nxt_n, ar, nxt_n)
    G.replace_edge(mr, nxt_r, ar, nxt_r)
    ks = [mn, mr, an, ar]
    return ks, ("Layer 1 runs its MoE block (post-attention RMSNorm, router, experts, MoE residual) "
                "before its attention block: layer 0's output goes to %s and the MoE residual %s "
                "feeds the input RMSNorm %s." % (nid(G, mn), nid(G, mr), nid(G, an)))


def d_missing_residual(G):
    r1 = "dp0/L1/attn/residual"
    G.rm_edge("dp0/L0/moe/residual", r1)
    G.derive_inputs([r1])
    return [r1], ("Layer 1's attention residual add %s is fed only by the attention all-reduce; the "
                  "skip edge from layer 0's MoE residual add %s is missing."
                  % (nid(G, r1), nid(G, "dp0/L0/moe/residual")))


DEFECTS = [
    # kind, category, base, fn
    ("cycle", "structure", 1, d_cycle),
    ("dangling_input", "structure", 1, d_dangling_input),
    ("dangling_output", "structure", 1, d_dangling_output),
    ("attention_one_box", "attention", 1, d_attention_one_box),
    ("v_bypasses_softmax", "attention", 1, d_v_bypasses_softmax),
    ("v_into_score", "attention", 2, d_v_into_score),
    ("qkv_into_oproj", "attention", 3, d_qkv_into_oproj),
    ("head_arithmetic", "attention", 1, d_head_arithmetic),
    ("tp_heads", "attention", 2, d_tp_heads),
    ("edge_shape_mismatch", "shape", 3, d_edge_shape_mismatch),
    ("shard_without_gather", "shape", 2, d_shard_without_gather),
    ("stage_count", "pipeline", 1, d_stage_count),
    ("stage_range_gap", "pipeline", 1, d_stage_range_gap),
    ("stage_missing_layer", "pipeline", 1, d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", 1, d_no_stage_transfer),
    ("experts_subset_ranks", "expert", 1, d_experts_subset_ranks),
    ("experts_uneven", "expert", 1, d_experts_uneven),
    ("experts_share_gpu", "expert", 2, d_experts_share_gpu),
    ("no_gate", "expert", 2, d_no_gate),
    ("no_all_to_all", "expert", 2, d_no_all_to_all),
    ("tp_rank_missing", "tensor", 2, d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", 3, d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", 1, d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", 3, d_comm_wrong_shape),
    ("missing_gpu", "gpu", 1, d_missing_gpu),
    ("gpu_out_of_range", "gpu", 2, d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", 1, d_stages_share_gpus),
    ("strategy_mismatch", "strategy", 3, d_strategy_mismatch),
    ("missing_shapes", "annotation", 1, d_missing_shapes),
    ("placeholder", "annotation", 2, d_placeholder),
    ("moe_before_attention", "structure", 2, d_moe_before_attention),
    ("missing_residual", "structure", 1, d_missing_residual),
]

CLEAN_WHAT = {
    1: "Correct MoE deployment, expert 4 x tensor 2 x pipeline 2 x data 1 on 16 GPUs: 4 layers "
       "(stage #0 layers 0-1 on GPUs 0-7, stage #1 layers 2-3 on GPUs 8-15, joined by send/receive), "
       "8 experts top-2, 2 experts per expert rank, attention tensor-parallel with all-reduce.",
    2: "Correct MoE deployment, expert 2 x tensor 4 x pipeline 1 x data 1 on 8 GPUs: 3 layers in one "
       "stage, 4 experts top-2, 2 per expert rank, attention output reduce-scattered then all-gathered.",
    3: "Correct dense deployment, expert 1 x tensor 2 x pipeline 1 x data 2 on 4 GPUs: 2 layers, both "
       "data-parallel replicas drawn (GPUs 0-1 and 2-3), attention and MLP all-reduced per replica.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    bases = {1: build(CFG1), 2: build(CFG2), 3: build(CFG3)}
    manifest = []
    for i, G in bases.items():
        fn = "clean_%d.dot" % i
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(G.render())
        manifest.append(dict(file=fn, kind="clean", category=None, base=None, nodes=[],
                             what=CLEAN_WHAT[i]))
    for kind, cat, b, fnc in DEFECTS:
        G = copy.deepcopy(bases[b])
        keys, what = fnc(G)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as fh:
            fh.write(G.render())
        manifest.append(dict(file=fn, kind=kind, category=cat, base="clean_%d.dot" % b,
                             nodes=[G.node_id(k) for k in keys], what=what))
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    print("wrote %d files to %s" % (len(manifest) + 1, OUT))


if __name__ == "__main__":
    main()
