#!/usr/bin/env python3
"""Generator of dense Llama-like deployment DAGs (Megatron TP + SP, PP across nodes, DP replicas)
in one house style ("style_bb"), plus one defect file per defect kind and out/manifest.json.

House style
-----------
* node ids    : dp0.pp1.l3.rmsnorm1.tp2   (collectives: dp0.pp1.l3.allgather1.tp0-3,
                p2p: dp0.pp0to1.p2p.tp2, non-layer ops: dp0.pp0.embed.tp1, dp0.pp1.output)
* label lines : Op: ... / Layer: N / Rank: tp2 pp1 dp0 / In: [...] / Out: [...] / GPU: 13 / Shard: ...
* shapes      : named, sharded dims written literally as a division: [b=2, s=4096/4, h=4096];
                d = head_dim, s_q / s_k = query / key length of the score matrix.
* graph label : "Llama-3-8B-like | TP=4 PP=2 DP=2 | SP on | 16 GPUs"
* clusters    : "replica 0" containing "stage 1 (layers 2-3)"
* GPU numbering: pp-major, then dp, then tp: gpu = pp*(TP*DP) + dp*TP + tp
                 (a TP group sits inside one 8-GPU node; pipeline stages sit on different nodes).
Own quirks
* (A) every node ends with a "Shard:" line saying how its weight / activation is split
      (exact head / ffn / vocab index ranges), and the fill colour follows that shard kind
      (seq-shard yellow, column-parallel blue, row-parallel salmon, head-local lavender,
      collectives green, p2p orange, I/O grey).
* (B) every file opens with a // banner giving the model dimensions and the GPU numbering rule,
      a // ---- layer N ---- comment precedes each layer, and residual skip edges are drawn
      dashed grey with label="skip".
"""
import copy
import json
import os
import subprocess
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL = {
    "seq": "lightyellow", "col": "lightblue", "row": "lightsalmon", "local": "lavender",
    "coll": "palegreen", "p2p": "orange", "io": "lightgrey",
}


def sh(**kw):
    return "[" + ", ".join(f"{k}={v}" for k, v in kw.items()) + "]"


def rng(a, b):
    return f"{a}-{b}" if a != b else f"{a}"


class Model:
    def __init__(self, name, h, heads, kv, d, ffn, vocab, layers, b, s, TP, PP, DP):
        assert heads * d == h
        assert heads % TP == 0 and kv % TP == 0 and ffn % TP == 0 and vocab % TP == 0 and s % TP == 0
        assert layers % PP == 0
        self.__dict__.update(locals())
        del self.__dict__["self"]
        T = TP
        self.ngpu = TP * PP * DP
        self.x_sp = sh(b=b, s=f"{s}/{T}", h=h)
        self.x_full = sh(b=b, s=s, h=h)
        self.tok = sh(b=b, s=s)
        self.q_sh = sh(b=b, s=s, heads=f"{heads}/{T}", d=d)
        self.kv_sh = sh(b=b, s=s, kv_heads=f"{kv}/{T}", d=d)
        self.sc_sh = sh(b=b, heads=f"{heads}/{T}", s_q=s, s_k=s)
        self.ctx_sh = self.q_sh
        self.f_sh = sh(b=b, s=s, ffn=f"{ffn}/{T}")
        self.lg_sh = sh(b=b, s=s, vocab=f"{vocab}/{T}")
        self.lg_full = sh(b=b, s=s, vocab=vocab)

    def strategy_label(self):
        return f"{self.name} | TP={self.TP} PP={self.PP} DP={self.DP} | SP on | {self.ngpu} GPUs"

    def stage_layers(self, pp):
        n = self.layers // self.PP
        return list(range(pp * n, pp * n + n))


class Graph:
    def __init__(self, model, gpu_fn=None):
        self.m = model
        self.label = model.strategy_label()
        self.nodes = {}          # id -> dict
        self.order = []
        self.edges = []          # [src, dst, attrs]
        self.cluster_label = {}  # (dp, pp) -> label
        self.gpu_fn = gpu_fn or (lambda pp, dp, tp: pp * model.TP * model.DP + dp * model.TP + tp)

    # ---------------------------------------------------------------- building
    def node(self, nid, op, kind, fill, cluster, layer=None, rank=None, ins=None, outs=None,
             gpu=None, shard=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, kind=kind, fill=fill, cluster=cluster, layer=layer, rank=rank,
                               ins=list(ins) if ins else None, outs=list(outs) if outs else None,
                               gpu=gpu, shard=shard, shape=None)
        self.order.append(nid)
        return nid

    def edge(self, a, b, skip=False):
        self.edges.append([a, b, {"skip": skip}])

    def group(self, pp, dp):
        g0, g1 = self.gpu_fn(pp, dp, 0), self.gpu_fn(pp, dp, self.m.TP - 1)
        return rng(g0, g1)

    def build(self, mlp_first_layers=()):
        m = self.m
        for dp in range(m.DP):
            cur = None
            for pp in range(m.PP):
                ls = m.stage_layers(pp)
                self.cluster_label[(dp, pp)] = f"stage {pp} (layers {ls[0]}-{ls[-1]})"
                if pp == 0:
                    cur = self.build_head(dp)
                else:
                    cur = self.build_p2p(dp, pp - 1, pp, cur)
                for l in ls:
                    cur = self.build_layer(dp, pp, l, cur, mlp_first=(l in mlp_first_layers))
                if pp == m.PP - 1:
                    self.build_tail(dp, pp, cur)
        return self

    def rank(self, tp, pp, dp):
        return f"tp{tp} pp{pp} dp{dp}"

    def grank(self, pp, dp):
        return f"tp0-{self.m.TP - 1} pp{pp} dp{dp}"

    def build_head(self, dp):
        m, pp, T = self.m, 0, self.m.TP
        c = (dp, pp)
        p = f"dp{dp}.pp{pp}"
        inp = self.node(f"{p}.input", "Input (token ids)", "io", "io", c, rank=self.grank(pp, dp),
                        ins=[m.tok], outs=[m.tok], gpu=self.group(pp, dp),
                        shard=f"replicated on tp0-{T - 1}")
        rs = self.node(f"{p}.embed_rs.tp0-{T - 1}", "Reduce-Scatter (SP, seq)", "comm", "coll", c,
                       rank=self.grank(pp, dp), ins=[m.x_full], outs=[m.x_sp], gpu=self.group(pp, dp),
                       shard=f"full (partial) -> seq 1/{T}, summed")
        vs = m.vocab // T
        for t in range(T):
            e = self.node(f"{p}.embed.tp{t}", "Embedding (vocab-parallel)", "comp", "col", c,
                          rank=self.rank(t, pp, dp), ins=[m.tok], outs=[m.x_full],
                          gpu=str(self.gpu_fn(pp, dp, t)),
                          shard=f"vocab rows {t * vs}-{(t + 1) * vs - 1} (partial)")
            self.edge(inp, e)
            self.edge(e, rs)
        return {t: rs for t in range(T)}

    def build_p2p(self, dp, pa, pb, cur):
        m, T = self.m, self.m.TP
        new = {}
        for t in range(T):
            ga, gb = self.gpu_fn(pa, dp, t), self.gpu_fn(pb, dp, t)
            n = self.node(f"dp{dp}.pp{pa}to{pb}.p2p.tp{t}", f"Send/Recv (P2P pp{pa}->pp{pb})", "comm",
                          "p2p", (dp, None), rank=f"tp{t} pp{pa}->pp{pb} dp{dp}", ins=[m.x_sp],
                          outs=[m.x_sp], gpu=f"{ga},{gb}", shard=f"seq 1/{T} (per tp rank)")
            self.edge(cur[t], n)
            new[t] = n
        return new

    def build_layer(self, dp, pp, l, cur, mlp_first=False):
        if not mlp_first:
            mid = self.build_attn(dp, pp, l, cur)
            return self.build_mlp(dp, pp, l, mid)
        mid = self.build_mlp(dp, pp, l, cur)
        return self.build_attn(dp, pp, l, mid)

    def build_attn(self, dp, pp, l, cur):
        m, T = self.m, self.m.TP
        c, p = (dp, pp), f"dp{dp}.pp{pp}.l{l}"
        G = self.group(pp, dp)
        hq, hk = m.heads // T, m.kv // T
        ag = self.node(f"{p}.allgather1.tp0-{T - 1}", "All-Gather (SP, seq)", "comm", "coll", c, l,
                       self.grank(pp, dp), [m.x_sp], [m.x_full], G, f"seq 1/{T} -> full")
        rs = self.node(f"{p}.reducescatter1.tp0-{T - 1}", "Reduce-Scatter (SP, seq)", "comm", "coll", c,
                       l, self.grank(pp, dp), [m.x_full], [m.x_sp], G,
                       f"full (partial) -> seq 1/{T}, summed")
        out = {}
        for t in range(T):
            r, g = self.rank(t, pp, dp), str(self.gpu_fn(pp, dp, t))
            qh = f"{t * hq}-{(t + 1) * hq - 1}"
            kh = rng(t * hk, (t + 1) * hk - 1)
            n1 = self.node(f"{p}.rmsnorm1.tp{t}", "RMSNorm (SP)", "comp", "seq", c, l, r, [m.x_sp],
                           [m.x_sp], g, f"seq 1/{T}, gamma replicated")
            q = self.node(f"{p}.q_proj.tp{t}", "Q Proj + RoPE (column-parallel)", "comp", "col", c, l, r,
                          [m.x_full], [m.q_sh], g, f"W_q cols 1/{T}, q heads {qh}")
            k = self.node(f"{p}.k_proj.tp{t}", "K Proj + RoPE (column-parallel, GQA)", "comp", "col", c, l,
                          r, [m.x_full], [m.kv_sh], g, f"W_k cols 1/{T}, kv heads {kh}")
            v = self.node(f"{p}.v_proj.tp{t}", "V Proj (column-parallel, GQA)", "comp", "col", c, l, r,
                          [m.x_full], [m.kv_sh], g, f"W_v cols 1/{T}, kv heads {kh}")
            sc = self.node(f"{p}.score.tp{t}", "Scores Q.K^T / sqrt(d) (causal)", "comp", "local", c, l, r,
                           [m.q_sh, m.kv_sh], [m.sc_sh], g, f"q heads {qh} (local)")
            sm = self.node(f"{p}.softmax.tp{t}", "Softmax", "comp", "local", c, l, r, [m.sc_sh], [m.sc_sh],
                           g, f"q heads {qh} (local)")
            ws = self.node(f"{p}.attn_v.tp{t}", "Attn x V (weighted sum)", "comp", "local", c, l, r,
                           [m.sc_sh, m.kv_sh], [m.ctx_sh], g, f"q heads {qh} (local)")
            o = self.node(f"{p}.o_proj.tp{t}", "O Proj (row-parallel)", "comp", "row", c, l, r, [m.ctx_sh],
                          [m.x_full], g, f"W_o rows 1/{T} (partial sums)")
            r1 = self.node(f"{p}.res1.tp{t}", "Residual Add (SP)", "comp", "seq", c, l, r, [m.x_sp, m.x_sp],
                           [m.x_sp], g, f"seq 1/{T}")
            self.edge(cur[t], n1)
            self.edge(n1, ag)
            for pr in (q, k, v):
                self.edge(ag, pr)
            self.edge(q, sc)
            self.edge(k, sc)
            self.edge(sc, sm)
            self.edge(sm, ws)
            self.edge(v, ws)
            self.edge(ws, o)
            self.edge(o, rs)
            self.edge(rs, r1)
            self.edge(cur[t], r1, skip=True)
            out[t] = r1
        return out

    def build_mlp(self, dp, pp, l, cur):
        m, T = self.m, self.m.TP
        c, p = (dp, pp), f"dp{dp}.pp{pp}.l{l}"
        G = self.group(pp, dp)
        fs = m.ffn // T
        ag = self.node(f"{p}.allgather2.tp0-{T - 1}", "All-Gather (SP, seq)", "comm", "coll", c, l,
                       self.grank(pp, dp), [m.x_sp], [m.x_full], G, f"seq 1/{T} -> full")
        rs = self.node(f"{p}.reducescatter2.tp0-{T - 1}", "Reduce-Scatter (SP, seq)", "comm", "coll", c,
                       l, self.grank(pp, dp), [m.x_full], [m.x_sp], G,
                       f"full (partial) -> seq 1/{T}, summed")
        out = {}
        for t in range(T):
            r, g = self.rank(t, pp, dp), str(self.gpu_fn(pp, dp, t))
            fr = f"{t * fs}-{(t + 1) * fs - 1}"
            n2 = self.node(f"{p}.rmsnorm2.tp{t}", "RMSNorm (SP)", "comp", "seq", c, l, r, [m.x_sp],
                           [m.x_sp], g, f"seq 1/{T}, gamma replicated")
            ga = self.node(f"{p}.gate_proj.tp{t}", "Gate Proj (column-parallel)", "comp", "col", c, l, r,
                           [m.x_full], [m.f_sh], g, f"W_gate cols 1/{T}, ffn {fr}")
            up = self.node(f"{p}.up_proj.tp{t}", "Up Proj (column-parallel)", "comp", "col", c, l, r,
                           [m.x_full], [m.f_sh], g, f"W_up cols 1/{T}, ffn {fr}")
            act = self.node(f"{p}.swiglu.tp{t}", "SwiGLU: SiLU(gate) * up", "comp", "local", c, l, r,
                            [m.f_sh, m.f_sh], [m.f_sh], g, f"ffn {fr} (local)")
            dn = self.node(f"{p}.down_proj.tp{t}", "Down Proj (row-parallel)", "comp", "row", c, l, r,
                           [m.f_sh], [m.x_full], g, f"W_down rows 1/{T} (partial sums)")
            r2 = self.node(f"{p}.res2.tp{t}", "Residual Add (SP)", "comp", "seq", c, l, r, [m.x_sp, m.x_sp],
                           [m.x_sp], g, f"seq 1/{T}")
            self.edge(cur[t], n2)
            self.edge(n2, ag)
            self.edge(ag, ga)
            self.edge(ag, up)
            self.edge(ga, act)
            self.edge(up, act)
            self.edge(act, dn)
            self.edge(dn, rs)
            self.edge(rs, r2)
            self.edge(cur[t], r2, skip=True)
            out[t] = r2
        return out

    def build_tail(self, dp, pp, cur):
        m, T = self.m, self.m.TP
        c, p = (dp, pp), f"dp{dp}.pp{pp}"
        G = self.group(pp, dp)
        vs = m.vocab // T
        ag = self.node(f"{p}.final_ag.tp0-{T - 1}", "All-Gather (SP, seq)", "comm", "coll", c, None,
                       self.grank(pp, dp), [m.x_sp], [m.x_full], G, f"seq 1/{T} -> full")
        lag = self.node(f"{p}.logits_ag.tp0-{T - 1}", "All-Gather (vocab)", "comm", "coll", c, None,
                        self.grank(pp, dp), [m.lg_sh], [m.lg_full], G, f"vocab 1/{T} -> full")
        out = self.node(f"{p}.output", "Output (logits)", "io", "io", c, None, self.grank(pp, dp),
                        [m.lg_full], [m.lg_full], G, f"replicated on tp0-{T - 1}")
        for t in range(T):
            r, g = self.rank(t, pp, dp), str(self.gpu_fn(pp, dp, t))
            fn = self.node(f"{p}.final_rmsnorm.tp{t}", "Final RMSNorm (SP)", "comp", "seq", c, None, r,
                           [m.x_sp], [m.x_sp], g, f"seq 1/{T}, gamma replicated")
            lm = self.node(f"{p}.lm_head.tp{t}", "LM Head (column-parallel, vocab)", "comp", "col", c, None,
                           r, [m.x_full], [m.lg_sh], g, f"W_lm cols 1/{T}, vocab {t * vs}-{(t + 1) * vs - 1}")
            self.edge(cur[t], fn)
            self.edge(fn, ag)
            self.edge(ag, lm)
            self.edge(lm, lag)
        self.edge(lag, out)

    # ---------------------------------------------------------------- editing helpers
    def drop_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def drop_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def succ(self, a):
        return [e for e in self.edges if e[0] == a]

    # ---------------------------------------------------------------- output
    def label_of(self, nid):
        n = self.nodes[nid]
        lines = [f"Op: {n['op']}"]
        if n["layer"] is not None:
            lines.append(f"Layer: {n['layer']}")
        if n["rank"]:
            lines.append(f"Rank: {n['rank']}")
        if n["ins"]:
            lines.append("In: " + ", ".join(n["ins"]))
        if n["outs"]:
            lines.append("Out: " + ", ".join(n["outs"]))
        if n["gpu"] is not None:
            lines.append(f"GPU: {n['gpu']}")
        if n["shard"]:
            lines.append(f"Shard: {n['shard']}")
        return "\\n".join(lines)

    def node_line(self, nid, ind):
        n = self.nodes[nid]
        shape = n["shape"] or {"comp": "box", "comm": "ellipse", "io": "box"}[n["kind"]]
        style = '"rounded,filled"' if n["kind"] == "io" else "filled"
        return (f'{ind}"{nid}" [label="{self.label_of(nid)}", shape={shape}, style={style}, '
                f'fillcolor={FILL[n["fill"]]}];')

    def to_dot(self, gname):
        m = self.m
        L = []
        L.append(f"// {m.name}: dense decoder, GQA attention, SwiGLU MLP, Megatron TP + sequence parallelism")
        L.append(f"// model: h={m.h} heads={m.heads} kv_heads={m.kv} d(head_dim)={m.d} ffn={m.ffn} "
                 f"vocab={m.vocab} layers={m.layers} (toy depth) b={m.b} s={m.s}")
        L.append("// GPU numbering: pp-major, then dp, then tp (a TP group stays inside one node; "
                 "pipeline stages live on different nodes)")
        L.append(f"// shapes: a sharded dim is written as full/degree, e.g. s={m.s}/{m.TP}; d = head_dim; "
                 "row-parallel outputs are partial sums until the reduce-scatter")
        L.append(f"digraph {gname} {{")
        L.append(f'  label="{self.label}";')
        L.append("  labelloc=t;")
        L.append("  rankdir=TB;")
        L.append('  node [fontname="Helvetica", fontsize=10];')
        L.append('  edge [fontname="Helvetica", fontsize=9];')
        dps = sorted({n["cluster"][0] for n in self.nodes.values()})
        for dp in dps:
            L.append("")
            L.append(f"  subgraph cluster_dp{dp} {{")
            L.append(f'    label="replica {dp}";')
            L.append("    style=rounded;")
            pps = sorted({n["cluster"][1] for n in self.nodes.values()
                          if n["cluster"][0] == dp and n["cluster"][1] is not None})
            for pp in pps:
                L.append(f"    subgraph cluster_dp{dp}_pp{pp} {{")
                L.append(f'      label="{self.cluster_label[(dp, pp)]}";')
                L.append("      style=dashed;")
                last = "start"
                for nid in self.order:
                    n = self.nodes[nid]
                    if n["cluster"] != (dp, pp):
                        continue
                    tag = n["layer"]
                    if tag != last:
                        if tag is None:
                            L.append("      // ---- input / embedding ----" if last == "start"
                                     else "      // ---- final norm / LM head ----")
                        else:
                            L.append(f"      // ---- layer {tag} ----")
                        last = tag
                    L.append(self.node_line(nid, "      "))
                L.append("    }")
            p2p = [nid for nid in self.order if self.nodes[nid]["cluster"] == (dp, None)]
            if p2p:
                L.append("    // ---- pipeline transfers ----")
                for nid in p2p:
                    L.append(self.node_line(nid, "    "))
            L.append("  }")
        L.append("")
        L.append("  // ---- data flow ----")
        for a, b, at in self.edges:
            if at.get("skip"):
                L.append(f'  "{a}" -> "{b}" [style=dashed, color=gray40, label="skip"];')
            else:
                L.append(f'  "{a}" -> "{b}";')
        L.append("}")
        return "\n".join(L) + "\n"


# ==================================================================== models / clean files
M1 = dict(name="Llama-3-8B-like", h=4096, heads=32, kv=8, d=128, ffn=14336, vocab=128256, layers=4,
          b=2, s=4096, TP=4, PP=2, DP=2)
M2 = dict(name="Llama-3-8B-like", h=4096, heads=32, kv=8, d=128, ffn=14336, vocab=128256, layers=2,
          b=1, s=8192, TP=8, PP=1, DP=1)
M3 = dict(name="Llama-3.2-1B-like", h=2048, heads=32, kv=8, d=64, ffn=8192, vocab=128256, layers=3,
          b=4, s=2048, TP=2, PP=3, DP=1)
CLEAN = {"clean_1.dot": M1, "clean_2.dot": M2, "clean_3.dot": M3}


def build(key, **kw):
    gpu_fn = kw.pop("gpu_fn", None)
    m = Model(**CLEAN[key])
    return Graph(m, gpu_fn=gpu_fn).build(**kw)


# ==================================================================== self-check of clean files
def gpuset(spec):
    s = set()
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            s |= set(range(int(a), int(b) + 1))
        else:
            s.add(int(part))
    return s


def check_clean(g):
    m, N, E = g.m, g.nodes, g.edges
    errs = []
    for a, b, _ in E:
        if a not in N or b not in N:
            errs.append(f"edge to undeclared {a}->{b}")
    indeg = {n: 0 for n in N}
    outdeg = {n: 0 for n in N}
    for a, b, _ in E:
        indeg[b] += 1
        outdeg[a] += 1
    for n in N:
        if indeg[n] == 0 and not n.endswith(".input"):
            errs.append(f"no input {n}")
        if outdeg[n] == 0 and not n.endswith(".output"):
            errs.append(f"no output {n}")
    # acyclic
    deg = dict(indeg)
    st = [n for n in N if deg[n] == 0]
    seen = 0
    while st:
        x = st.pop()
        seen += 1
        for a, b, _ in E:
            if a == x:
                deg[b] -= 1
                if deg[b] == 0:
                    st.append(b)
    if seen != len(N):
        errs.append("cycle")
    for a, b, _ in E:
        A, B = N[a], N[b]
        if not set(A["outs"]) & set(B["ins"]):
            errs.append(f"shape {a}{A['outs']} -> {b}{B['ins']}")
        if A["kind"] != "comm" and B["kind"] != "comm":
            ga, gb = gpuset(A["gpu"]), gpuset(B["gpu"])
            if ga != gb and not ("io" in (A["kind"], B["kind"]) and ga & gb):
                errs.append(f"cross-gpu {a}->{b}")
    for n, d in N.items():
        if not (d["ins"] and d["outs"] and d["gpu"]):
            errs.append(f"annotation {n}")
        if max(gpuset(d["gpu"])) >= m.ngpu:
            errs.append(f"gpu range {n}")
    # attention wiring per rank
    for n in N:
        if ".attn_v." in n:
            p, t = n.split(".attn_v.")
            need = [(f"{p}.q_proj.{t}", f"{p}.score.{t}"), (f"{p}.k_proj.{t}", f"{p}.score.{t}"),
                    (f"{p}.score.{t}", f"{p}.softmax.{t}"), (f"{p}.softmax.{t}", n),
                    (f"{p}.v_proj.{t}", n), (n, f"{p}.o_proj.{t}")]
            for a, b in need:
                if not g.has_edge(a, b):
                    errs.append(f"attn wiring {a}->{b}")
    # stages GPU disjoint
    st_g = {}
    for d in N.values():
        if d["cluster"][1] is not None:
            st_g.setdefault(d["cluster"], set()).update(gpuset(d["gpu"]))
    keys = list(st_g)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            if st_g[keys[i]] & st_g[keys[j]]:
                errs.append(f"stage overlap {keys[i]} {keys[j]}")
    # stage layer coverage
    for (dp, pp), lab in g.cluster_label.items():
        ls = {d["layer"] for d in N.values() if d["cluster"] == (dp, pp) and d["layer"] is not None}
        if ls != set(m.stage_layers(pp)):
            errs.append(f"stage layers {dp} {pp}")
    # all TP ranks on every per-rank op
    return errs


# ==================================================================== defects
DEFECTS = []


def defect(kind, category, base):
    def deco(fn):
        DEFECTS.append((kind, category, base, fn))
        return fn
    return deco


@defect("cycle", "structure", "clean_1.dot")
def d_cycle(g):
    rs, r1 = "dp0.pp0.l1.reducescatter1.tp0-3", "dp0.pp0.l1.res1.tp0"
    assert g.has_edge(rs, r1)
    g.edge(r1, rs)
    return [rs, r1], (f"Replica 0, layer 1: the attention Reduce-Scatter {rs} is drawn both ways with the "
                      f"tp0 residual add ({rs} -> {r1} and {r1} -> {rs}), a two-node cycle.")


@defect("dangling_input", "structure", "clean_1.dot")
def d_dangling_input(g):
    r1, n2 = "dp1.pp0.l1.res1.tp2", "dp1.pp0.l1.rmsnorm2.tp2"
    g.drop_edge(r1, n2)
    return [n2], (f"Replica 1, layer 1, TP rank 2 (GPU 6): the pre-MLP RMSNorm {n2} has no incoming edge "
                  f"(its input from {r1} was removed).")


@defect("dangling_output", "structure", "clean_2.dot")
def d_dangling_output(g):
    dn, rs = "dp0.pp0.l0.down_proj.tp3", "dp0.pp0.l0.reducescatter2.tp0-7"
    g.drop_edge(dn, rs)
    return [dn], (f"Layer 0, TP rank 3 of TP 8 (GPU 3): the row-parallel down projection {dn} has no "
                  f"outgoing edge; its partial sum never reaches the MLP reduce-scatter {rs}.")


@defect("attention_one_box", "attention", "clean_1.dot")
def d_attention_one_box(g):
    m, p = g.m, "dp1.pp1.l2"
    ag = f"{p}.allgather1.tp0-3"
    ids = []
    for t in range(m.TP):
        for op in ("q_proj", "k_proj", "v_proj", "score", "softmax", "attn_v"):
            g.drop_node(f"{p}.{op}.tp{t}")
    for t in range(m.TP):
        nid = f"{p}.attention.tp{t}"
        # insert where the q_proj used to be in the file order (right after rmsnorm1 of that rank)
        g.node(nid, "Multi-Head Attention (GQA, column-parallel)", "comp", "col", (1, 1), 2,
               g.rank(t, 1, 1), [m.x_full], [m.ctx_sh], str(g.gpu_fn(1, 1, t)),
               f"W_qkv cols 1/{m.TP}, q heads {t * 8}-{t * 8 + 7}, kv heads {t * 2}-{t * 2 + 1}")
        g.order.remove(nid)
        g.order.insert(g.order.index(f"{p}.rmsnorm1.tp{t}") + 1, nid)
        g.edge(ag, nid)
        g.edge(nid, f"{p}.o_proj.tp{t}")
        ids.append(nid)
    return ids, ("Replica 1, layer 2 (stage 1, GPUs 12-15): attention is drawn as one 'Multi-Head Attention' "
                 "box per TP rank (dp1.pp1.l2.attention.tp0-tp3) instead of Q/K/V projections, scores, "
                 "softmax and weighted sum.")


@defect("v_bypasses_softmax", "attention", "clean_1.dot")
def d_v_bypasses_softmax(g):
    p, t = "dp0.pp0.l1", "tp2"
    sm, ws, o, v = f"{p}.softmax.{t}", f"{p}.attn_v.{t}", f"{p}.o_proj.{t}", f"{p}.v_proj.{t}"
    g.drop_edge(sm, ws)
    g.edge(sm, o)
    return [sm, ws, v, o], (f"Replica 0, layer 1, TP rank 2 (GPU 2): V ({v}) feeds the weighted sum {ws} but "
                            f"the softmax {sm} does not (it goes straight to the output projection {o}), so "
                            f"V bypasses the attention probabilities.")


@defect("v_into_score", "attention", "clean_1.dot")
def d_v_into_score(g):
    p, t = "dp1.pp0.l0", "tp1"
    k, v, sc, ws = f"{p}.k_proj.{t}", f"{p}.v_proj.{t}", f"{p}.score.{t}", f"{p}.attn_v.{t}"
    g.drop_edge(k, sc)
    g.drop_edge(v, ws)
    g.edge(v, sc)
    g.edge(k, ws)
    return [v, k, sc, ws], (f"Replica 1, layer 0, TP rank 1 (GPU 5): V ({v}) is wired into the score {sc} "
                            f"instead of K, and K ({k}) feeds the weighted sum {ws} (K and V swapped).")


@defect("qkv_into_oproj", "attention", "clean_3.dot")
def d_qkv_into_oproj(g):
    p = "dp0.pp1.l1"
    ids = []
    for t in range(g.m.TP):
        for op in ("score", "softmax", "attn_v"):
            g.drop_node(f"{p}.{op}.tp{t}")
        o = f"{p}.o_proj.tp{t}"
        for op in ("q_proj", "k_proj", "v_proj"):
            g.edge(f"{p}.{op}.tp{t}", o)
            ids.append(f"{p}.{op}.tp{t}")
        ids.append(o)
    return ids, ("Layer 1 (stage 1, GPUs 2-3): on both TP ranks Q, K and V projections go straight into the "
                 "output projection (dp0.pp1.l1.o_proj.tp0, .tp1); no score, softmax or weighted sum is drawn.")


@defect("head_arithmetic", "attention", "clean_1.dot")
def d_head_arithmetic(g):
    p = "dp0.pp1.l2."
    ids = []
    for nid, n in g.nodes.items():
        if nid.startswith(p) and any(op in nid for op in (".q_proj.", ".k_proj.", ".v_proj.", ".score.",
                                                          ".attn_v.", ".o_proj.")):
            for key in ("ins", "outs"):
                n[key] = [x.replace("d=128", "d=64") for x in n[key]]
            ids.append(nid)
    return ids, ("Replica 0, layer 2: Q/K/V and the attention ops are labelled with head_dim d=64 on every TP "
                 "rank (heads=32/4 x 64 = 512 per rank, 32 x 64 = 2048 in total) while hidden is 4096 "
                 "(4096/TP4 = 1024 per rank, so d must be 128).")


@defect("tp_heads", "attention", "clean_1.dot")
def d_tp_heads(g):
    p, t = "dp1.pp1.l3", "tp0"
    ids = []
    for op in ("q_proj", "score", "softmax", "attn_v", "o_proj"):
        nid = f"{p}.{op}.{t}"
        n = g.nodes[nid]
        for key in ("ins", "outs"):
            n[key] = [x.replace("heads=32/4", "heads=32") if "kv_heads" not in x else x for x in n[key]]
        n["shard"] = n["shard"].replace("q heads 0-7", "q heads 0-31")
        ids.append(nid)
    return ids, ("Replica 1, layer 3, TP rank 0 of TP 4 (GPU 12): the Q projection dp1.pp1.l3.q_proj.tp0 "
                 "outputs all 32 query heads (heads=32, shard 'q heads 0-31') and the score/softmax/weighted "
                 "sum/o_proj of that rank follow, instead of 32/4 = 8 heads per rank.")


@defect("edge_shape_mismatch", "shape", "clean_1.dot")
def d_edge_shape_mismatch(g):
    r1, n2 = "dp0.pp0.l1.res1.tp0", "dp0.pp0.l1.rmsnorm2.tp0"
    g.nodes[n2]["ins"] = ["[b=2, s=4096/4, h=3072]"]
    return [r1, n2], (f"Replica 0, layer 1, TP rank 0 (GPU 0): RMSNorm {n2} expects h=3072 but its producer "
                      f"{r1} outputs h=4096 (ratio 4/3, not a parallel degree).")


@defect("shard_without_gather", "shape", "clean_1.dot")
def d_shard_without_gather(g):
    p = "dp1.pp1.l3"
    ag = f"{p}.allgather2.tp0-3"
    g.drop_node(ag)
    ids = []
    for t in range(g.m.TP):
        n2 = f"{p}.rmsnorm2.tp{t}"
        g.edge(n2, f"{p}.gate_proj.tp{t}")
        g.edge(n2, f"{p}.up_proj.tp{t}")
        ids += [n2, f"{p}.gate_proj.tp{t}", f"{p}.up_proj.tp{t}"]
    return ids, ("Replica 1, layer 3 (GPUs 12-15): the sequence-parallel RMSNorm outputs (s=4096/4 = 1024 "
                 "tokens per rank) go straight into the column-parallel gate/up projections that expect the "
                 "full sequence s=4096; the SP All-Gather is missing (1024 = 4096/TP4).")


@defect("stage_count", "pipeline", "clean_1.dot")
def d_stage_count(g):
    g.label = g.label.replace("PP=2", "PP=3").replace("16 GPUs", "24 GPUs")
    return [], ("The graph label declares PP=3 (TP=4 PP=3 DP=2, 24 GPUs) but each replica draws two pipeline "
                "stages (stage 0 layers 0-1, stage 1 layers 2-3) on 16 GPUs.")


@defect("stage_range_gap", "pipeline", "clean_1.dot")
def d_stage_range_gap(g):
    g.cluster_label[(0, 0)] = "stage 0 (layers 0-0)"
    ids = [n for n in g.order if n.startswith("dp0.pp0.l1.")]
    return ids, ("Replica 0: stage 0 claims layers 0-0 and stage 1 layers 2-3, so layer 1 is in no stage's "
                 "range (gap), although its operators (dp0.pp0.l1.*) are drawn in stage 0 on GPUs 0-3.")


@defect("stage_missing_layer", "pipeline", "clean_1.dot")
def d_stage_missing_layer(g):
    for n in [n for n in g.order if n.startswith("dp0.pp1.l3.")]:
        g.drop_node(n)
    ids = []
    for t in range(g.m.TP):
        a, b = f"dp0.pp1.l2.res2.tp{t}", f"dp0.pp1.final_rmsnorm.tp{t}"
        g.edge(a, b)
        ids += [a, b]
    return ids, ("Replica 0: stage 1 claims layers 2-3 but no operator of layer 3 is drawn; layer 2's residual "
                 "adds (dp0.pp1.l2.res2.tp0-3) feed the final RMSNorm directly.")


@defect("no_stage_transfer", "pipeline", "clean_1.dot")
def d_no_stage_transfer(g):
    ids = []
    for t in range(g.m.TP):
        p2p, src = f"dp1.pp0to1.p2p.tp{t}", f"dp1.pp0.l1.res2.tp{t}"
        outs = [(e[1], e[2]["skip"]) for e in g.succ(p2p)]
        g.drop_node(p2p)
        for b, skip in outs:
            g.edge(src, b, skip=skip)
            ids.append(b)
        ids.append(src)
    return ids, ("Replica 1: stage 0 (GPUs 4-7) and stage 1 (GPUs 12-15) are joined by plain edges from "
                 "dp1.pp0.l1.res2.tp0-3 into layer 2's RMSNorm and residual add; the pipeline Send/Recv "
                 "(dp1.pp0to1.p2p.*) is missing.")


@defect("tp_rank_missing", "tensor", "clean_2.dot")
def d_tp_rank_missing(g):
    p = "dp0.pp0.l1"
    ids = []
    for op in ("q_proj", "k_proj", "v_proj", "score", "softmax", "attn_v", "o_proj"):
        g.drop_node(f"{p}.{op}.tp7")
    ids = [f"{p}.allgather1.tp0-7", f"{p}.reducescatter1.tp0-7", f"{p}.rmsnorm1.tp7", f"{p}.res1.tp7"]
    return ids, ("Layer 1's attention operators (Q/K/V projections, score, softmax, weighted sum, O projection) "
                 "are drawn for TP ranks 0-6 only; TP rank 7 (GPU 7) of TP 8 is missing, so its 4 query heads "
                 "and 1 KV head are computed nowhere.")


@defect("no_allreduce_after_rowparallel", "tensor", "clean_1.dot")
def d_no_allreduce(g):
    p = "dp0.pp0.l0"
    g.drop_node(f"{p}.reducescatter2.tp0-3")
    ids = []
    for t in range(g.m.TP):
        a, b = f"{p}.down_proj.tp{t}", f"{p}.res2.tp{t}"
        g.edge(a, b)
        ids += [a, b]
    return ids, ("Replica 0, layer 0 (GPUs 0-3): the row-parallel MLP down projections feed the residual adds "
                 "directly, without the TP reduce-scatter of their partial sums (full s=4096 partial sums reach "
                 "an add that expects s=4096/4).")


@defect("cross_gpu_no_comm", "communication", "clean_1.dot")
def d_cross_gpu(g):
    good, bad, dst = "dp1.pp0.l0.res2.tp0", "dp0.pp0.l0.res2.tp0", "dp1.pp0.l1.res1.tp0"
    g.drop_edge(good, dst)
    g.edge(bad, dst, skip=True)
    return [bad, dst], (f"The skip edge into replica 1's layer-1 residual add {dst} (GPU 4) comes from replica "
                        f"0's {bad} on GPU 0 by a plain edge, with no communication node (it should come from "
                        f"{good} on GPU 4).")


@defect("comm_wrong_shape", "communication", "clean_1.dot")
def d_comm_wrong_shape(g):
    nid = "dp0.pp1.l2.reducescatter1.tp0-3"
    g.nodes[nid]["shape"] = "box"
    return [nid], (f"Replica 0, layer 2: the attention Reduce-Scatter {nid} (GPUs 8-11) is drawn as a box "
                   f"(computation) instead of an ellipse.")


@defect("missing_gpu", "gpu", "clean_1.dot")
def d_missing_gpu(g):
    nid = "dp0.pp0.l0.softmax.tp2"
    g.nodes[nid]["gpu"] = None
    return [nid], f"Replica 0, layer 0, TP rank 2: the Softmax {nid} has no GPU line (should be GPU 2)."


@defect("gpu_out_of_range", "gpu", "clean_2.dot")
def d_gpu_out_of_range(g):
    nid = "dp0.pp0.l1.down_proj.tp5"
    g.nodes[nid]["gpu"] = "13"
    return [nid], (f"Layer 1's down projection of TP rank 5 ({nid}) is placed on GPU 13, beyond the 8 GPUs of "
                   f"TP 8 x PP 1 x DP 1 (ids 0-7); it should be GPU 5.")


@defect("stages_share_gpus", "gpu", "clean_3.dot")
def d_stages_share(g):
    return None, ("Stage 2 (layer 2, final norm, LM head) is placed on GPUs 2-3, the same GPUs as stage 1 "
                  "(layer 1), instead of GPUs 4-5; GPUs 4-5 hold nothing.")


@defect("strategy_mismatch", "strategy", "clean_3.dot")
def d_strategy_mismatch(g):
    g.label = g.label.replace("TP=2", "TP=4").replace("6 GPUs", "12 GPUs")
    return [], ("The graph label declares TP=4 (12 GPUs) but every tensor-parallel operator is drawn for TP "
                "ranks tp0-tp1 only, with /2 shards (TP 2, 6 GPUs).")


@defect("missing_shapes", "annotation", "clean_1.dot")
def d_missing_shapes(g):
    nid = "dp0.pp1.l2.o_proj.tp1"
    g.nodes[nid]["ins"] = None
    g.nodes[nid]["outs"] = None
    return [nid], f"Replica 0, layer 2, TP rank 1 (GPU 9): the O projection {nid} has no In or Out line."


@defect("placeholder", "annotation", "clean_1.dot")
def d_placeholder(g):
    nid = "dp1.pp1.l2.rmsnorm1.tp3"
    g.nodes[nid]["ins"] = ["[b=?, s=4096/4, h=4096]"]
    return [nid], (f"Replica 1, layer 2, TP rank 3 (GPU 15): the RMSNorm {nid} gives its input as "
                   f"[b=?, s=4096/4, h=4096], a placeholder instead of b=2.")


@defect("moe_before_attention", "structure", "clean_2.dot")
def d_mlp_first(g):
    ids = []
    for t in range(8):
        ids += [f"dp0.pp0.l1.rmsnorm2.tp{t}", f"dp0.pp0.l1.res2.tp{t}", f"dp0.pp0.l1.rmsnorm1.tp{t}",
                f"dp0.pp0.l1.res1.tp{t}"]
    return ids, ("Dense analogue (no MoE in this style): layer 1 runs its SwiGLU MLP block (rmsnorm2, gate/up, "
                 "down, res2) before its attention block on all 8 TP ranks: layer 0's output goes to "
                 "dp0.pp0.l1.rmsnorm2.tp* and the MLP residual dp0.pp0.l1.res2.tp* feeds dp0.pp0.l1.rmsnorm1.tp*, "
                 "whose res1 then feeds the final norm.")


@defect("missing_residual", "structure", "clean_2.dot")
def d_missing_residual(g):
    ids = []
    for t in range(8):
        a, b = f"dp0.pp0.l0.res2.tp{t}", f"dp0.pp0.l1.res1.tp{t}"
        g.drop_edge(a, b)
        ids.append(b)
    return ids, ("Layer 1's attention residual adds dp0.pp0.l1.res1.tp0-7 are fed only by the reduce-scatter; "
                 "the skip edges from layer 0's output dp0.pp0.l0.res2.tp0-7 are missing.")


SKIPPED_EXPERT = {
    "experts_subset_ranks": "expert", "experts_uneven": "expert", "experts_share_gpu": "expert",
    "no_gate": "expert", "no_all_to_all": "expert",
}

# defects that are produced by a different build call rather than an edit of the built graph
REBUILD = {
    "stages_share_gpus": dict(gpu_fn=lambda pp, dp, tp: (1 if pp == 2 else pp) * 2 + tp),
    "moe_before_attention": dict(mlp_first_layers=(1,)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = []
    clean_text = {}
    for key, spec in CLEAN.items():
        g = build(key)
        errs = check_clean(g)
        if errs:
            print(key, "SELF-CHECK FAILED:", errs[:20], file=sys.stderr)
            sys.exit(1)
        gname = key.replace(".dot", "").replace("clean", "bb_clean")
        txt = g.to_dot(gname)
        clean_text[key] = txt
        with open(os.path.join(OUT, key), "w") as fh:
            fh.write(txt)
        manifest.append({"file": key, "kind": "clean", "category": None, "base": None, "nodes": [],
                         "what": f"Correct {g.label} deployment, {g.m.layers} layers, {len(g.nodes)} nodes."})
    for kind, cat, base, fn in DEFECTS:
        g = build(base, **REBUILD.get(kind, {}))
        nodes, what = fn(g)
        if nodes is None:  # stages_share_gpus: offending nodes = every node of stage 2
            nodes = [n for n in g.order if g.nodes[n]["cluster"] == (0, 2)]
        fname = f"defect_{kind}.dot"
        txt = g.to_dot(base.replace(".dot", "").replace("clean", "bb_clean"))
        assert txt != clean_text[base], kind
        for n in nodes:
            assert n in g.nodes, (kind, n)
        with open(os.path.join(OUT, fname), "w") as fh:
            fh.write(txt)
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": base, "nodes": nodes,
                         "what": what})
    for kind, cat in SKIPPED_EXPERT.items():
        manifest.append({"file": None, "kind": kind, "category": cat, "skipped": True,
                         "what": "SKIPPED. This style draws dense Llama-like models only (SwiGLU MLP, no "
                                 "MoE): there are no experts, router, EP ranks or all-to-alls in which "
                                 "this defect could appear."})
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    bad = 0
    for f in sorted(os.listdir(OUT)):
        if f.endswith(".dot"):
            r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, f)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                bad += 1
                print("DOT PARSE FAILED", f, r.stderr[:300], file=sys.stderr)
    print(f"wrote {len(manifest)} manifest entries to {OUT}; dot parse failures: {bad}")


if __name__ == "__main__":
    main()
