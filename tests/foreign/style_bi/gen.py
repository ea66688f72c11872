#!/usr/bin/env python3
"""Independent generator of LLM deployment DAGs in the "scheduler" house style.

House style (applied to every file):
  * placement as a cluster scheduler writes it: two lines per host, `host: worker-N` and
    `devices: [a, b, ...]` (local device ids, 8 devices per host); a node spanning hosts repeats
    the pair.  Global GPU id = host index * 8 + local device (stated in each file's header).
  * shapes as `shape_in=(4,2048,4096)` / `shape_out=(4,2048,1024)`; several inputs are listed
    comma-separated: `shape_in=(2,2048,4096), (2,2048,4096)`.  Shapes are per device.
  * node ids: an op word plus a short hash, e.g. `attn_q_7f3c21`, `moe_router_a1b2c3`.
  * first label line: the operator in Title Case; second line the scope in key=value form
    (`layer=1 tp_rank=0`, `layer=2 expert=5 ep_rank=2`, `dp_rank=1 layer=0 tp_rank=1`).
  * strategy only in the graph label: `Topology: 2 hosts × 8 GPUs | TP 2 | EP 4 | PP 2 | DP 1`.
  * pipeline stages as clusters `Pipeline stage 1 / 2` with a second line `Layers 0-1`.
  Own quirks:
  * quirk 1: every node carries a `dtype=...` line (dtype of the tensor it produces or, for the
    Output sink, receives): `dtype=int32` for token ids, `dtype=bf16` for activations.
  * quirk 2: colour by host: every node is filled with its host's colour (worker-0 blue,
    worker-1 green, worker-2 salmon); nodes spanning several hosts are grey; the palette is
    written in the header comment.  Router edges (gate -> dispatch, gate -> combine) are dashed.

Run `python3 gen.py` to write out/ (clean files, one defect file per kind, manifest.json).
Stdlib only.
"""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
HOST_GPUS = 8
HOST_FILL = {0: "#dbe9f6", 1: "#e2f0d9", 2: "#fbe0d6", 3: "#fff2cc"}
MULTI_FILL = "#eeeeee"
SHAPE_OF_KIND = {"comp": "box", "comm": "ellipse", "route": "parallelogram",
                 "input": "invhouse", "output": "house"}
OPWORD = {
    "input": "input", "output": "output", "split": "batch_split", "embed": "embed",
    "norm1": "rmsnorm", "norm2": "rmsnorm", "q": "attn_q", "k": "attn_k", "v": "attn_v",
    "score": "attn_score", "softmax": "attn_softmax", "ctx": "attn_ctx", "o": "attn_o",
    "ar1": "allreduce", "ar2": "allreduce", "res1": "resadd", "res2": "resadd",
    "router": "moe_router", "dispatch": "a2a_dispatch", "expert": "expert",
    "combine_a2a": "a2a_combine", "moe_combine": "moe_combine", "gateup": "mlp_gateup",
    "act": "mlp_act", "down": "mlp_down", "send": "pp_sendrecv", "final_norm": "final_norm",
    "lm_head": "lm_head", "mha": "attn_mha", "rs": "reducescatter",
}


# ----------------------------------------------------------------------------- graph model
class Graph:
    def __init__(self, cfg):
        self.cfg = cfg
        self.nodes = {}            # id -> record (insertion ordered)
        self.ids = {}              # semantic key -> id
        self.edges = []            # [src, dst, attrs]
        self.clusters = {}         # stage number (1-based) -> [label lines]
        self.topology = None
        self.comments = []

    # ids ------------------------------------------------------------------
    def make_id(self, key, op):
        h = hashlib.sha1((self.cfg["name"] + "|" + key).encode()).hexdigest()[:6]
        return "%s_%s" % (OPWORD[op], h)

    def id(self, key):
        return self.ids[key]

    def add(self, key, op, title, kind, scope=None, notes=(), sin=None, sout=None,
            place=None, cluster=None, dtype="bf16"):
        nid = self.make_id(key, op)
        assert nid not in self.nodes, ("id collision", key, nid)
        self.ids[key] = nid
        self.nodes[nid] = dict(key=key, op=op, title=title, kind=kind, scope=scope,
                               notes=list(notes), sin=sin, sout=sout,
                               place=None if place is None else sorted(place),
                               cluster=cluster, dtype=dtype)
        return nid

    def edge(self, a, b, **attrs):
        self.edges.append([a, b, attrs])

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, ("edge not found", a, b)

    def remove_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]
        self.ids = {k: v for k, v in self.ids.items() if v != nid}

    def rekey(self, old_key, new_key, op):
        """Replace a node's id (a re-drawn node), keeping its edges."""
        old = self.ids.pop(old_key)
        new = self.make_id(new_key, op)
        rec = self.nodes[old]
        rec["key"], rec["op"] = new_key, op
        self.nodes = {(new if k == old else k): v for k, v in self.nodes.items()}
        self.ids[new_key] = new
        for e in self.edges:
            e[0] = new if e[0] == old else e[0]
            e[1] = new if e[1] == old else e[1]
        return new

    # rendering ------------------------------------------------------------
    @staticmethod
    def fmt_shape(s):
        return "(" + ",".join(str(x) for x in s) + ")"

    @staticmethod
    def by_host(place):
        hosts = {}
        for g in place:
            hosts.setdefault(g // HOST_GPUS, []).append(g % HOST_GPUS)
        return sorted(hosts.items())

    def label_lines(self, rec):
        lines = [rec["title"]]
        if rec["scope"]:
            lines.append(rec["scope"])
        lines += rec["notes"]
        if rec["sin"] is not None:
            lines.append("shape_in=" + ", ".join(self.fmt_shape(s) for s in rec["sin"]))
        if rec["sout"] is not None:
            lines.append("shape_out=" + ", ".join(self.fmt_shape(s) for s in rec["sout"]))
        lines.append("dtype=" + rec["dtype"])
        if rec["place"]:
            for h, devs in self.by_host(rec["place"]):
                lines.append("host: worker-%d" % h)
                lines.append("devices: [%s]" % ", ".join(str(d) for d in devs))
        return lines

    def node_line(self, nid, rec, indent):
        label = "\\n".join(l.replace('"', '\\"') for l in self.label_lines(rec))
        if rec["place"]:
            hosts = self.by_host(rec["place"])
            fill = HOST_FILL[hosts[0][0]] if len(hosts) == 1 else MULTI_FILL
        else:
            fill = "white"
        return '%s%s [shape=%s, fillcolor="%s", label="%s"];' % (
            indent, nid, SHAPE_OF_KIND[rec["kind"]], fill, label)

    def to_dot(self):
        c = self.cfg
        out = []
        out += ["// " + l for l in self.comments]
        out.append('digraph "%s" {' % c["graph_name"])
        out.append('  graph [label="%s", labelloc=t, fontname="Helvetica", fontsize=14, '
                   'rankdir=TB, newrank=true];' % self.topology)
        out.append('  node [fontname="Helvetica", fontsize=9, style=filled];')
        out.append('  edge [fontname="Helvetica", fontsize=8];')
        out.append("")
        for st in sorted(self.clusters):
            out.append("  subgraph cluster_stage%d {" % st)
            out.append('    label="%s";' % "\\n".join(self.clusters[st]))
            out.append('    style=rounded; color="#555555";')
            for nid, rec in self.nodes.items():
                if rec["cluster"] == st:
                    out.append(self.node_line(nid, rec, "    "))
            out.append("  }")
            out.append("")
        for nid, rec in self.nodes.items():
            if rec["cluster"] is None or rec["cluster"] not in self.clusters:
                out.append(self.node_line(nid, rec, "  "))
        out.append("")
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join("%s=%s" % kv for kv in sorted(attrs.items())) + "]"
            out.append("  %s -> %s%s;" % (a, b, at))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- builder
def K(d, l, op, t=None, e=None):
    k = "d%d.L%d.%s" % (d, l, op)
    if t is not None:
        k += ".tp%d" % t
    if e is not None:
        k += ".e%d" % e
    return k


def topology_label(cfg, hosts=None, tp=None, ep=None, pp=None, dp=None):
    n = cfg["tp"] * cfg["ep"] * cfg["pp"] * cfg["dp"]
    if hosts is None:
        hosts = (n + HOST_GPUS - 1) // HOST_GPUS
    per_host = HOST_GPUS if n >= HOST_GPUS else n
    return "Topology: %d host%s × %d GPUs | TP %d | EP %d | PP %d | DP %d" % (
        hosts, "s" if hosts > 1 else "", per_host,
        cfg["tp"] if tp is None else tp, cfg["ep"] if ep is None else ep,
        cfg["pp"] if pp is None else pp, cfg["dp"] if dp is None else dp)


def build(cfg):
    g = Graph(cfg)
    H, nh, hd = cfg["hidden"], cfg["heads"], cfg["head_dim"]
    tp, ep, pp, dp = cfg["tp"], cfg["ep"], cfg["pp"], cfg["dp"]
    B, S, L, V = cfg["batch"], cfg["seq"], cfg["layers"], cfg["vocab"]
    E, topk, I = cfg.get("experts", 0), cfg.get("topk", 0), cfg["intermediate"]
    moe = E > 0
    assert nh * hd == H and nh % tp == 0 and L % pp == 0 and B % (dp * ep) == 0
    b = B // (dp * ep)                 # sequences per attention group (per device)
    hl = nh // tp                      # heads per TP rank
    per_stage = ep * tp
    stage_base = cfg.get("stage_base") or [s * per_stage for s in range(pp)]
    lps = L // pp
    te = B * S * topk // E if moe else 0   # tokens per expert (balanced routing)

    def base(d, s):
        return d * pp * per_stage + stage_base[s]

    def stage_gpus(d, s):
        return list(range(base(d, s), base(d, s) + per_stage))

    def tp_gpus(d, s, t):
        return [base(d, s) + r * tp + t for r in range(ep)]

    def ep_gpus(d, s, r):
        return [base(d, s) + r * tp + t for t in range(tp)]

    def scope(d, l=None, **kw):
        parts = []
        if dp > 1:
            parts.append("dp_rank=%d" % d)
        if l is not None:
            parts.append("layer=%d" % l)
        for k2, v2 in kw.items():
            parts.append("%s=%d" % (k2, v2))
        return " ".join(parts)

    def cl(s):
        return s + 1 if pp > 1 else None

    n_gpus = tp * ep * pp * dp
    g.topology = topology_label(cfg)
    g.comments = [
        "deployment graph %s (%s)" % (cfg["graph_name"], cfg["model_name"]),
        "placement: host worker-N + devices [local ids], 8 devices per host;",
        "           global GPU id = N * 8 + local device (worker-1 devices [2, 3] = GPUs 10, 11)",
        "model: hidden=%d heads=%d head_dim=%d layers=%d vocab=%d %s" % (
            H, nh, hd, L, V,
            ("experts=%d top_k=%d expert_intermediate=%d" % (E, topk, I)) if moe
            else ("dense intermediate=%d" % I)),
        "tokens: global batch %d x seq %d; %s" % (
            B, S, ("attention is data-parallel over the expert-parallel groups, "
                   "%d sequences per group" % b) if ep > 1 else
            ("%d sequences per data-parallel replica" % b) if dp > 1 else "one batch"),
        "shapes are per device; dtype= is the dtype of the tensor a node produces",
        "fill colour = host: worker-0 %s, worker-1 %s, worker-2 %s; spanning hosts %s" % (
            HOST_FILL[0], HOST_FILL[1], HOST_FILL[2], MULTI_FILL),
    ]
    for s in range(pp if pp > 1 else 0):
        g.clusters[s + 1] = ["Pipeline stage %d / %d" % (s + 1, pp),
                             "Layers %d-%d" % (s * lps, s * lps + lps - 1)]

    inp = g.add("input", "input", "Input", "input", notes=["token ids"],
                sout=[(B, S)], dtype="int32")
    src = inp
    if dp * ep > 1:
        allg = sorted(x for d in range(dp) for x in stage_gpus(d, 0))
        src = g.add("split", "split", "Batch Split", "route",
                    notes=["%d sequences -> %d groups of %d" % (B, dp * ep, b)],
                    sin=[(B, S)], sout=[(b, S)], place=allg, cluster=cl(0), dtype="int32")
        g.edge(inp, src)
    heads = []
    for d in range(dp):
        emb = g.add("d%d.embed" % d, "embed", "Token Embedding", "comp", scope=scope(d),
                    notes=["vocab=%d, replicated" % V], sin=[(b, S)], sout=[(b, S, H)],
                    place=stage_gpus(d, 0), cluster=cl(0))
        g.edge(src, emb)
        prev = emb
        for l in range(L):
            s = l // lps
            c = cl(s)
            allg = stage_gpus(d, s)
            act = (b, S, H)
            n1 = g.add(K(d, l, "norm1"), "norm1", "RMSNorm (Pre-Attention)", "comp",
                       scope=scope(d, l), sin=[act], sout=[act], place=allg, cluster=c)
            g.edge(prev, n1)
            outs = []
            for t in range(tp):
                tg = tp_gpus(d, s, t)
                qkv = {}
                for op, title in (("q", "Query Projection"), ("k", "Key Projection"),
                                  ("v", "Value Projection")):
                    qkv[op] = g.add(K(d, l, op, t), op, title, "comp",
                                    scope=scope(d, l, tp_rank=t),
                                    notes=["heads=%d head_dim=%d" % (hl, hd)],
                                    sin=[act], sout=[(b, S, hl, hd)], place=tg, cluster=c)
                    g.edge(n1, qkv[op])
                sc = g.add(K(d, l, "score", t), "score", "Attention Scores (Q·K^T)", "comp",
                           scope=scope(d, l, tp_rank=t), notes=["heads=%d causal" % hl],
                           sin=[(b, S, hl, hd), (b, S, hl, hd)], sout=[(b, hl, S, S)],
                           place=tg, cluster=c)
                g.edge(qkv["q"], sc)
                g.edge(qkv["k"], sc)
                sm = g.add(K(d, l, "softmax", t), "softmax", "Softmax", "comp",
                           scope=scope(d, l, tp_rank=t), sin=[(b, hl, S, S)],
                           sout=[(b, hl, S, S)], place=tg, cluster=c)
                g.edge(sc, sm)
                cx = g.add(K(d, l, "ctx", t), "ctx", "Attention Weighted Sum (P·V)", "comp",
                           scope=scope(d, l, tp_rank=t),
                           sin=[(b, hl, S, S), (b, S, hl, hd)], sout=[(b, S, hl, hd)],
                           place=tg, cluster=c)
                g.edge(sm, cx)
                g.edge(qkv["v"], cx)
                o = g.add(K(d, l, "o", t), "o", "Output Projection", "comp",
                          scope=scope(d, l, tp_rank=t), notes=["row-parallel, partial sums"],
                          sin=[(b, S, hl, hd)], sout=[act], place=tg, cluster=c)
                g.edge(cx, o)
                outs.append(o)
            ar1 = g.add(K(d, l, "ar1"), "ar1", "All-Reduce", "comm", scope=scope(d, l),
                        notes=[("group=tp (%d ranks) in each of %d ep groups" % (tp, ep))
                               if ep > 1 else "group=tp (%d ranks)" % tp],
                        sin=[act], sout=[act], place=allg, cluster=c)
            for o in outs:
                g.edge(o, ar1)
            r1 = g.add(K(d, l, "res1"), "res1", "Residual Add", "comp", scope=scope(d, l),
                       sin=[act, act], sout=[act], place=allg, cluster=c)
            g.edge(ar1, r1)
            g.edge(prev, r1)
            n2 = g.add(K(d, l, "norm2"), "norm2",
                       "RMSNorm (Pre-MoE)" if moe else "RMSNorm (Pre-MLP)", "comp",
                       scope=scope(d, l), sin=[act], sout=[act], place=allg, cluster=c)
            g.edge(r1, n2)
            if moe:
                rt = g.add(K(d, l, "router"), "router", "Expert Router", "route",
                           scope=scope(d, l), notes=["top-%d of %d experts" % (topk, E)],
                           sin=[act], sout=[act, (b, S, topk)], place=allg, cluster=c)
                g.edge(n2, rt)
                dsp = g.add(K(d, l, "dispatch"), "dispatch", "All-to-All Dispatch", "comm",
                            scope=scope(d, l),
                            notes=["group=ep (%d ranks), %d tokens per expert" % (ep, te)],
                            sin=[act, (b, S, topk)], sout=[(te, H)], place=allg, cluster=c)
                g.edge(rt, dsp, style="dashed")
                ca = g.add(K(d, l, "combine_a2a"), "combine_a2a", "All-to-All Combine", "comm",
                           scope=scope(d, l), notes=["group=ep (%d ranks)" % ep],
                           sin=[(te, H)], sout=[(b, S, topk, H)], place=allg, cluster=c)
                per = E // ep
                for e in range(E):
                    r = e // per
                    x = g.add(K(d, l, "expert", e=e), "expert", "Expert FFN", "comp",
                              scope=scope(d, l, expert=e, ep_rank=r),
                              notes=["intermediate=%d, tp=%d shards, all-reduce fused" % (I, tp)],
                              sin=[(te, H)], sout=[(te, H)], place=ep_gpus(d, s, r), cluster=c)
                    g.edge(dsp, x)
                    g.edge(x, ca)
                mc = g.add(K(d, l, "moe_combine"), "moe_combine", "Token Combine", "route",
                           scope=scope(d, l), notes=["gate-weighted, top-%d" % topk],
                           sin=[(b, S, topk, H), (b, S, topk)], sout=[act], place=allg,
                           cluster=c)
                g.edge(ca, mc)
                g.edge(rt, mc, style="dashed")
                last = mc
            else:
                douts = []
                for t in range(tp):
                    tg = tp_gpus(d, s, t)
                    gu = g.add(K(d, l, "gateup", t), "gateup", "Gate-Up Projection", "comp",
                               scope=scope(d, l, tp_rank=t),
                               notes=["column-parallel, intermediate %d/%d x2" % (I, tp)],
                               sin=[act], sout=[(b, S, 2 * I // tp)], place=tg, cluster=c)
                    g.edge(n2, gu)
                    a = g.add(K(d, l, "act", t), "act", "SwiGLU Activation", "comp",
                              scope=scope(d, l, tp_rank=t), sin=[(b, S, 2 * I // tp)],
                              sout=[(b, S, I // tp)], place=tg, cluster=c)
                    g.edge(gu, a)
                    dn = g.add(K(d, l, "down", t), "down", "Down Projection", "comp",
                               scope=scope(d, l, tp_rank=t), notes=["row-parallel, partial sums"],
                               sin=[(b, S, I // tp)], sout=[act], place=tg, cluster=c)
                    g.edge(a, dn)
                    douts.append(dn)
                ar2 = g.add(K(d, l, "ar2"), "ar2", "All-Reduce", "comm", scope=scope(d, l),
                            notes=["group=tp (%d ranks)" % tp], sin=[act], sout=[act],
                            place=allg, cluster=c)
                for dn in douts:
                    g.edge(dn, ar2)
                last = ar2
            r2 = g.add(K(d, l, "res2"), "res2", "Residual Add", "comp", scope=scope(d, l),
                       sin=[act, act], sout=[act], place=allg, cluster=c)
            g.edge(last, r2)
            g.edge(r1, r2)
            prev = r2
            if l % lps == lps - 1 and s < pp - 1:
                sr = g.add("d%d.send%d" % (d, s), "send", "Pipeline Send/Recv", "comm",
                           scope=scope(d) or None,
                           notes=["p2p stage %d -> stage %d" % (s + 1, s + 2)],
                           sin=[act], sout=[act], place=allg + stage_gpus(d, s + 1))
                g.edge(prev, sr)
                prev = sr
        s = pp - 1
        fn = g.add("d%d.final_norm" % d, "final_norm", "Final RMSNorm", "comp", scope=scope(d),
                   sin=[(b, S, H)], sout=[(b, S, H)], place=stage_gpus(d, s), cluster=cl(s))
        g.edge(prev, fn)
        lm = g.add("d%d.lm_head" % d, "lm_head", "LM Head", "comp", scope=scope(d),
                   notes=["vocab=%d, replicated" % V], sin=[(b, S, H)], sout=[(b, S, V)],
                   place=stage_gpus(d, s), cluster=cl(s))
        g.edge(fn, lm)
        heads.append(lm)
    outn = g.add("output", "output", "Output", "output", notes=["logits per group"],
                 sin=[(b, S, V)])
    for lm in heads:
        g.edge(lm, outn)
    assert max(x for r in g.nodes.values() if r["place"] for x in r["place"]) < n_gpus \
        or cfg.get("stage_base")
    return g


# ----------------------------------------------------------------------------- configs
CFG1 = dict(name="c1", graph_name="serve-job-7f3c", model_name="MoE 4-layer, 8 experts",
            hidden=4096, heads=32, head_dim=128, layers=4, vocab=32000, experts=8, topk=2,
            intermediate=14336, batch=8, seq=2048, tp=2, ep=4, pp=2, dp=1)
CFG2 = dict(name="c2", graph_name="serve-job-a1b2", model_name="MoE 2-layer, 8 experts",
            hidden=2048, heads=16, head_dim=128, layers=2, vocab=32000, experts=8, topk=2,
            intermediate=5632, batch=8, seq=1024, tp=4, ep=4, pp=1, dp=1)
CFG3 = dict(name="c3", graph_name="serve-job-d4e5", model_name="dense 2-layer",
            hidden=2048, heads=16, head_dim=128, layers=2, vocab=32000,
            intermediate=5632, batch=8, seq=1024, tp=2, ep=1, pp=1, dp=2)
CLEAN = [("clean_1.dot", CFG1), ("clean_2.dot", CFG2), ("clean_3.dot", CFG3)]


def gpus_str(place):
    return ", ".join("worker-%d devices %s" % (h, d) for h, d in Graph.by_host(place))


def rng(xs):
    xs = sorted(xs)
    return "%d-%d" % (xs[0], xs[-1]) if len(xs) > 1 and xs[-1] - xs[0] == len(xs) - 1 \
        else ",".join(str(x) for x in xs)


# ----------------------------------------------------------------------------- defects
# Each defect: (kind, category, base file, function(graph) -> (nodes, what)).
def d_cycle(g):
    ar, r1 = g.id(K(0, 2, "ar1")), g.id(K(0, 2, "res1"))
    g.edge(r1, ar)
    return [ar, r1], ("Layer 2's attention All-Reduce %s is drawn both ways with the residual "
                      "add %s (%s -> %s and %s -> %s), a two-node cycle."
                      % (ar, r1, ar, r1, r1, ar))


def d_dangling_input(g):
    r1, n2 = g.id(K(0, 1, "res1")), g.id(K(0, 1, "norm2"))
    g.remove_edge(r1, n2)
    return [n2], ("Layer 1's pre-MoE RMSNorm %s has no incoming edge: its input from the "
                  "attention residual add %s was removed." % (n2, r1))


def d_dangling_output(g):
    x, ca = g.id(K(0, 2, "expert", e=5)), g.id(K(0, 2, "combine_a2a"))
    g.remove_edge(x, ca)
    return [x], ("Expert 5 of layer 2 (%s, EP rank 2, GPUs 12-13 = worker-1 devices [4, 5]) "
                 "has no outgoing edge: its output never reaches the combine all-to-all %s."
                 % (x, ca))


def d_attention_one_box(g):
    c = g.cfg
    b = c["batch"] // (c["dp"] * c["ep"])
    hl = c["heads"] // c["tp"]
    nodes = []
    for t in range(c["tp"]):
        rec = g.nodes[g.id(K(0, 1, "q", t))]
        n1, o = g.id(K(0, 1, "norm1")), g.id(K(0, 1, "o", t))
        for op in ("q", "k", "v", "score", "softmax", "ctx"):
            g.remove_node(g.id(K(0, 1, op, t)))
        m = g.add(K(0, 1, "mha", t), "mha", "Multi-Head Attention", "comp",
                  scope="layer=1 tp_rank=%d" % t,
                  notes=["heads=%d head_dim=%d" % (hl, c["head_dim"])],
                  sin=[(b, c["seq"], c["hidden"])], sout=[(b, c["seq"], hl, c["head_dim"])],
                  place=rec["place"], cluster=rec["cluster"])
        g.edge(n1, m)
        g.edge(m, o)
        nodes.append(m)
    return nodes, ("Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank "
                   "(%s) instead of Q/K/V projections, scores, softmax and weighted sum, on all "
                   "4 TP ranks." % ", ".join(nodes))


def d_v_bypasses_softmax(g):
    sm, cx = g.id(K(0, 1, "softmax", 1)), g.id(K(0, 1, "ctx", 1))
    v, o = g.id(K(0, 1, "v", 1)), g.id(K(0, 1, "o", 1))
    g.remove_edge(sm, cx)
    g.edge(sm, o)
    return [cx, sm, v, o], ("Layer 1, TP rank 1: V (%s) feeds the weighted sum %s but the "
                            "softmax %s does not (it goes straight to the output projection %s), "
                            "so V bypasses the attention probabilities (the (2,16,2048,2048) probabilities "
                            "also no longer match the projection's shape_in)." % (v, cx, sm, o))


def d_v_into_score(g):
    k, v = g.id(K(0, 0, "k", 1)), g.id(K(0, 0, "v", 1))
    sc, cx = g.id(K(0, 0, "score", 1)), g.id(K(0, 0, "ctx", 1))
    g.remove_edge(k, sc)
    g.remove_edge(v, cx)
    g.edge(v, sc)
    g.edge(k, cx)
    return [v, k, sc, cx], ("Layer 0, TP rank 1: V (%s) is wired into the score %s instead of "
                            "K, and K (%s) feeds the weighted sum %s (K and V swapped)."
                            % (v, sc, k, cx))


def d_qkv_into_oproj(g):
    nodes = []
    for t in range(2):
        q, k, v = (g.id(K(1, 1, op, t)) for op in ("q", "k", "v"))
        o = g.id(K(1, 1, "o", t))
        for op in ("score", "softmax", "ctx"):
            g.remove_node(g.id(K(1, 1, op, t)))
        for x in (q, k, v):
            g.edge(x, o)
        nodes += [q, k, v, o]
    return nodes, ("DP replica 1 (dp_rank=1), layer 1: Q, K and V go straight into the output "
                   "projection on both TP ranks (GPUs 2 and 3); no score, softmax or weighted "
                   "sum is drawn.")


def d_head_arithmetic(g):
    c = g.cfg
    b, S, hl = 2, c["seq"], c["heads"] // c["tp"]
    bad = (b, S, hl, 64)
    nodes = []
    for t in range(c["tp"]):
        for op in ("q", "k", "v"):
            r = g.nodes[g.id(K(0, 2, op, t))]
            r["notes"] = ["heads=%d head_dim=64" % hl]
            r["sout"] = [bad]
            nodes.append(g.id(K(0, 2, op, t)))
        g.nodes[g.id(K(0, 2, "score", t))]["sin"] = [bad, bad]
        cx = g.nodes[g.id(K(0, 2, "ctx", t))]
        cx["sin"] = [cx["sin"][0], bad]
        cx["sout"] = [bad]
        g.nodes[g.id(K(0, 2, "o", t))]["sin"] = [bad]
    return nodes, ("Layer 2 labels Q/K/V as heads=16 head_dim=64 on both TP ranks (16 x 64 = "
                   "1024 per rank, 32 x 64 = 2048 in total) while hidden is 4096 (4096/TP2 = "
                   "2048 per rank, head_dim 128).")


def d_tp_heads(g):
    c = g.cfg
    b, S, nh, hd = 4, c["seq"], c["heads"], c["head_dim"]
    full = (b, S, nh, hd)
    nodes = []
    for op in ("q", "k", "v"):
        r = g.nodes[g.id(K(0, 0, op, 0))]
        r["notes"] = ["heads=%d head_dim=%d" % (nh, hd)]
        r["sout"] = [full]
        nodes.append(g.id(K(0, 0, op, 0)))
    g.nodes[g.id(K(0, 0, "score", 0))].update(notes=["heads=%d causal" % nh], sin=[full, full],
                                              sout=[(b, nh, S, S)])
    g.nodes[g.id(K(0, 0, "softmax", 0))].update(sin=[(b, nh, S, S)], sout=[(b, nh, S, S)])
    g.nodes[g.id(K(0, 0, "ctx", 0))].update(sin=[(b, nh, S, S), full], sout=[full])
    g.nodes[g.id(K(0, 0, "o", 0))].update(sin=[full])
    return nodes, ("DP replica 0, layer 0, TP rank 0 of TP 2 (GPU 0): the Q/K/V projections "
                   "output all 16 heads (heads=16, 16 x 128 = 2048) instead of 16/2 = 8 heads "
                   "(1024) per rank; the rank's scores, softmax and weighted sum follow with 16 "
                   "heads.")


def d_edge_shape_mismatch(g):
    r1, n2 = g.id(K(0, 1, "res1")), g.id(K(0, 1, "norm2"))
    g.nodes[n2]["sin"] = [(4, 1024, 1536)]
    return [r1, n2], ("DP replica 0, layer 1: RMSNorm %s expects shape_in=(4,1024,1536) but its "
                      "producer %s outputs (4,1024,2048) (hidden 1536 vs 2048, ratio 3/4, not a "
                      "parallel degree)." % (n2, r1))


def d_shard_without_gather(g):
    ar = g.id(K(0, 1, "ar1"))
    rec = g.nodes[ar]
    new = g.rekey(K(0, 1, "ar1"), K(0, 1, "rs"), "rs")
    rec["title"] = "Reduce-Scatter"
    rec["sout"] = [(2, 1024, 512)]
    r1 = g.id(K(0, 1, "res1"))
    return [new, r1], ("Layer 1's row-parallel attention output is reduce-scattered (%s) into "
                       "hidden/TP = 2048/4 = 512 shards that go straight into the full-size "
                       "(hidden=2048) residual add %s with no all-gather." % (new, r1))


def d_stage_count(g):
    g.topology = topology_label(g.cfg, hosts=3, pp=3)
    for st in g.clusters:
        g.clusters[st][0] = "Pipeline stage %d / 3" % st
    return [], ("The graph label declares PP 3 (3 hosts × 8 GPUs) and the clusters read "
                "'Pipeline stage 1 / 3' and '2 / 3', but only two pipeline stages are drawn "
                "(layers 0-1 and 2-3).")


def d_stage_range_gap(g):
    g.clusters[1][1] = "Layers 0-0"
    n1, r2 = g.id(K(0, 1, "norm1")), g.id(K(0, 1, "res2"))
    return [n1, r2], ("Stage 1 / 2 claims layers 0-0 and stage 2 / 2 layers 2-3: layer 1 is in "
                      "no stage's range (gap), although its operators (%s ... %s) are drawn in "
                      "stage 1." % (n1, r2))


def d_stage_missing_layer(g):
    for key in [k for k in g.ids if k.startswith("d0.L3.")]:
        g.remove_node(g.ids[key])
    r2, fn = g.id(K(0, 2, "res2")), g.id("d0.final_norm")
    g.edge(r2, fn)
    return [r2, fn], ("Stage 2 / 2 claims layers 2-3 but no operator of layer 3 is drawn: layer "
                      "2's residual add %s feeds the final norm %s directly." % (r2, fn))


def d_no_stage_transfer(g):
    sr = g.id("d0.send0")
    r2, n1, r1 = g.id(K(0, 1, "res2")), g.id(K(0, 2, "norm1")), g.id(K(0, 2, "res1"))
    g.remove_node(sr)
    g.edge(r2, n1)
    g.edge(r2, r1)
    return [r2, n1, r1], ("Stage 1 (worker-0, GPUs 0-7) and stage 2 (worker-1, GPUs 8-15) are "
                          "joined by plain edges from layer 1's residual add %s to %s and %s; "
                          "the pipeline send/recv is missing." % (r2, n1, r1))


def d_experts_subset_ranks(g):
    nodes = []
    for e in range(8):
        r = e // 4
        x = g.id(K(0, 1, "expert", e=e))
        g.nodes[x]["scope"] = "layer=1 expert=%d ep_rank=%d" % (e, r)
        g.nodes[x]["place"] = list(range(4 * r, 4 * r + 4))
        nodes.append(x)
    return nodes, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-3, "
                   "4-7 on GPUs 4-7, all worker-0); EP ranks 2 and 3 (worker-1, GPUs 8-15) hold "
                   "none of its experts although EP is 4.")


def d_experts_uneven(g):
    x = g.id(K(0, 2, "expert", e=3))
    g.nodes[x]["scope"] = "layer=2 expert=3 ep_rank=0"
    g.nodes[x]["place"] = [8, 9]
    return [x], ("Layer 2's expert 3 (%s) sits on EP rank 0 (worker-1 devices [0, 1] = GPUs "
                 "8-9) instead of rank 1: ranks 0-3 hold 3, 1, 2, 2 experts instead of 8/4 = 2 "
                 "each." % x)


def d_experts_share_gpu(g):
    x = g.id(K(0, 1, "expert", e=3))
    g.nodes[x]["place"] = [0, 1, 2, 3]
    return [x], ("Layer 1's expert 3 (%s, ep_rank=1) is placed on worker-0 devices [0, 1, 2, 3] "
                 "= GPUs 0-3, which hold EP rank 0's experts 0 and 1, instead of EP rank 1's "
                 "GPUs 4-7." % x)


def d_no_gate(g):
    rt, n2, dsp = g.id(K(0, 1, "router")), g.id(K(0, 1, "norm2")), g.id(K(0, 1, "dispatch"))
    mc = g.id(K(0, 1, "moe_combine"))
    g.remove_node(rt)
    g.edge(n2, dsp)
    g.nodes[dsp]["sin"] = g.nodes[dsp]["sin"][:1]
    g.nodes[mc]["sin"] = g.nodes[mc]["sin"][:1]
    return [n2, dsp], ("Layer 1 has no expert router: the RMSNorm output %s goes straight into "
                       "the dispatch all-to-all %s and the 8 experts." % (n2, dsp))


def d_no_all_to_all(g):
    dsp, rt = g.id(K(0, 1, "dispatch")), g.id(K(0, 1, "router"))
    g.remove_node(dsp)
    nodes = [rt]
    for e in range(8):
        x = g.id(K(0, 1, "expert", e=e))
        g.edge(rt, x)
        nodes.append(x)
    return nodes, ("Layer 1's router %s sends tokens straight to the 8 experts on EP ranks 0-3 "
                   "(EP 4, GPUs 0-7) without a dispatch all-to-all." % rt)


def d_tp_rank_missing(g):
    for op in ("q", "k", "v", "score", "softmax", "ctx", "o"):
        g.remove_node(g.id(K(0, 1, op, 3)))
    n1, ar = g.id(K(0, 1, "norm1")), g.id(K(0, 1, "ar1"))
    return [n1, ar], ("Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 "
                      "(GPUs 3, 7, 11, 15) of TP 4 is missing between %s and the all-reduce %s."
                      % (n1, ar))


def d_no_allreduce_after_rowparallel(g):
    ar, r2 = g.id(K(0, 0, "ar2")), g.id(K(0, 0, "res2"))
    g.remove_node(ar)
    nodes = []
    for t in range(2):
        dn = g.id(K(0, 0, "down", t))
        g.edge(dn, r2)
        nodes.append(dn)
    return nodes + [r2], ("DP replica 0, layer 0: the row-parallel MLP down projections (%s on "
                          "GPU 0, %s on GPU 1) feed the residual add %s directly, without the TP "
                          "all-reduce of their partial sums." % (nodes[0], nodes[1], r2))


def d_cross_gpu_no_comm(g):
    e0, e1 = g.id("d0.embed"), g.id("d1.embed")
    n1, r1 = g.id(K(1, 0, "norm1")), g.id(K(1, 0, "res1"))
    g.remove_node(e1)
    g.edge(e0, n1)
    g.edge(e0, r1)
    return [e0, n1, r1], ("DP replica 1 has no embedding of its own: replica 0's embedding %s on "
                          "GPUs 0-1 feeds replica 1's layer-0 RMSNorm %s and residual add %s on "
                          "GPUs 2-3 by plain edges, with no communication node." % (e0, n1, r1))


def d_comm_wrong_shape(g):
    ar = g.id(K(0, 1, "ar1"))
    g.nodes[ar]["kind"] = "comp"
    return [ar], ("Layer 1's attention All-Reduce %s is drawn as a box (computation) instead of "
                  "an ellipse." % ar)


def d_missing_gpu(g):
    sm = g.id(K(0, 0, "softmax", 1))
    g.nodes[sm]["place"] = None
    return [sm], "Softmax %s of layer 0, TP rank 1 has no host/devices lines." % sm


def d_gpu_out_of_range(g):
    x = g.id(K(0, 1, "expert", e=5))
    g.nodes[x]["place"] = [16, 17, 18, 19]
    return [x], ("Layer 1's expert 5 (%s, ep_rank=2) is placed on worker-2 devices [0, 1, 2, 3] "
                 "= GPUs 16-19, beyond the 16 GPUs of EP 4 x TP 4 x PP 1 x DP 1 (ids 0-15)." % x)


def d_stages_share_gpus(g):
    # rebuilt with stage 2 based at GPU 4 instead of 8 (see DEFECTS: base config override)
    nodes = [nid for nid, r in g.nodes.items()
             if r["cluster"] == 2 and r["place"] and set(r["place"]) & set(range(4, 8))]
    return nodes, ("Stage 2 / 2 (layers 2-3) is placed on GPUs 4-11 (worker-0 devices [4..7] "
                   "and worker-1 devices [0..3]), overlapping stage 1's GPUs 0-7 (GPUs 4-7 in "
                   "both).")


def d_strategy_mismatch(g):
    g.topology = topology_label(g.cfg, tp=4, ep=2)
    return [], ("The graph label declares TP 4 | EP 2 (TP and EP swapped) but every "
                "tensor-parallel operator is drawn for TP ranks 0-1 only (TP 2) and the experts "
                "on EP ranks 0-3 (EP 4).")


def d_missing_shapes(g):
    o = g.id(K(0, 1, "o", 1))
    g.nodes[o]["sin"] = None
    g.nodes[o]["sout"] = None
    return [o], ("Output Projection %s of DP replica 0, layer 1, TP rank 1 has no shape_in or "
                 "shape_out line." % o)


def d_placeholder(g):
    rt = g.id(K(0, 1, "router"))
    g.nodes[rt]["sin"] = [("?", 1024, 2048)]
    return [rt], ("Layer 1's expert router %s gives its input as shape_in=(?,1024,2048), a "
                  "placeholder instead of the batch 2." % rt)


def d_moe_before_attention(g):
    p = g.id(K(0, 0, "res2"))
    n1, r1 = g.id(K(0, 1, "norm1")), g.id(K(0, 1, "res1"))
    n2, r2 = g.id(K(0, 1, "norm2")), g.id(K(0, 1, "res2"))
    fn = g.id("d0.final_norm")
    for a, b in ((p, n1), (p, r1), (r1, n2), (r1, r2), (r2, fn)):
        g.remove_edge(a, b)
    for a, b in ((p, n2), (p, r2), (r2, n1), (r2, r1), (r1, fn)):
        g.edge(a, b)
    return [n1, r1, n2, r2], ("Layer 1 runs its MoE block before its attention block: layer 0's "
                              "output %s goes to the pre-MoE norm %s and MoE residual %s, whose "
                              "output feeds the pre-attention norm %s; the attention residual %s "
                              "feeds the final norm." % (p, n2, r2, n1, r1))


def d_missing_residual(g):
    p, r1 = g.id(K(0, 0, "res2")), g.id(K(0, 1, "res1"))
    g.remove_edge(p, r1)
    return [r1, p], ("Layer 1's attention residual add %s is fed only by the all-reduce; the "
                     "skip edge from layer 0's residual add %s is missing." % (r1, p))


DEFECTS = [
    ("cycle", "structure", "clean_1.dot", d_cycle),
    ("dangling_input", "structure", "clean_2.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_1.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_2.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_3.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_3.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_3.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_2.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_1.dot", d_missing_residual),
]
# kinds that cannot exist in this style: none (every kind above is drawn).
SKIPPED = []


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    base_cfg = dict(CLEAN)
    manifest = []
    written = []
    for fname, cfg in CLEAN:
        g = build(cfg)
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.to_dot())
        written.append(fname)
        manifest.append({"file": fname, "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": "Correct deployment: %s." % g.topology})
    for kind, cat, base, fn in DEFECTS:
        cfg = base_cfg[base]
        if kind == "stages_share_gpus":
            cfg = dict(cfg, stage_base=[0, 4])
        g = build(copy.deepcopy(cfg))
        nodes, what = fn(g)
        fname = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fname), "w") as f:
            f.write(g.to_dot())
        written.append(fname)
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base,
                         "nodes": nodes, "what": what})
    for kind, cat, why in SKIPPED:
        manifest.append({"file": None, "kind": kind, "category": cat, "skipped": True,
                         "what": "SKIPPED. " + why})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    bad = 0
    if shutil.which("dot"):
        for fname in written:
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, fname)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode != 0:
                bad += 1
                print("PARSE ERROR %s: %s" % (fname, r.stderr.decode().strip()))
    print("wrote %d files + manifest.json to %s (%d parse errors)" % (len(written), OUT, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
