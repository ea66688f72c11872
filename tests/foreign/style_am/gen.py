#!/usr/bin/env python3
"""style_am: independent generator of LLM deployment DAGs (DOT) in one house style.

Run `python3 gen.py` in this folder; it (re)writes ./out/ with three clean deployments,
one defect file per defect kind, and out/manifest.json.

House style (applied to every file):
  * ids are hierarchical dotted DOT strings: "s0.l1.attn.q_proj.tp1", "s1.l3.moe.expert5",
    "s0.l1.attn.allreduce"; data-parallel replicas get a "dp<r>." prefix.
  * layers are numbered from 1.
  * first label line is verbose English with the parallel role in parentheses.
  * shapes use short named dims: [B=4, S=4096, H=2048], heads [B=4, S=4096, NH=8, D=128];
    key/value heads are always written KVH, attention matrices [B, NH, S, L] (L = key length).
  * placement is host:local GPU, 8 GPUs per host: "GPU: node0:gpu3", "GPUs: node0:gpu0-3",
    "GPUs: node0:gpu0,2,4,6", "GPUs: node0:gpu0-7, node1:gpu0-7".
  * one cluster per pipeline stage "Stage s — layers a..b", a cluster per layer inside it.
  * the strategy appears only in the first line: "// parallel config: tp=2 pp=2 ep=4 dp=1".
  * own quirk 1: every communication ellipse carries an extra "Payload: <n> MiB per GPU (bf16)"
    line (bytes one GPU puts on the wire for that collective).
  * own quirk 2: fill colours by block (attention light blue, MoE/MLP light orange,
    norm/residual/embedding light green, collectives grey, routing pink, I/O white), dashed
    edges out of the token router, and a /* ── Stage s · layer l · block ── */ banner comment
    before every block of nodes.
"""
import copy
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
GPUS_PER_HOST = 8

FILL = {
    "attn": "#dceaf7",
    "ffn": "#fde9c9",
    "norm": "#e3f1e3",
    "comm": "#e6e6e6",
    "route": "#f7dbe8",
    "io": "#ffffff",
}


# ----------------------------------------------------------------------------- helpers
def shp(**dims):
    return "[" + ", ".join(f"{k}={v}" for k, v in dims.items()) + "]"


def numel(shape_str):
    n = 1
    for v in re.findall(r"=(\d+)", shape_str):
        n *= int(v)
    return n


def mib(shape_str, factor=1):
    return f"{numel(shape_str) * 2 * factor / 2**20:.1f} MiB per GPU (bf16)"


def gpu_spec(ids):
    ids = sorted(set(ids))
    hosts = {}
    for i in ids:
        hosts.setdefault(i // GPUS_PER_HOST, []).append(i % GPUS_PER_HOST)
    parts = []
    for h in sorted(hosts):
        loc = hosts[h]
        if len(loc) == 1:
            parts.append(f"node{h}:gpu{loc[0]}")
        elif loc == list(range(loc[0], loc[-1] + 1)):
            parts.append(f"node{h}:gpu{loc[0]}-{loc[-1]}")
        else:
            parts.append(f"node{h}:gpu" + ",".join(str(x) for x in loc))
    return ("GPU: " if len(ids) == 1 else "GPUs: ") + ", ".join(parts)


class Graph:
    def __init__(self, name, header, title):
        self.name = name
        self.header = header  # list of lines before digraph (first is the // parallel config)
        self.title = title
        self.nodes = {}  # id -> dict, insertion ordered
        self.edges = []  # [src, dst, attrs]
        self.clusters = {}  # path tuple -> label

    # nodes / edges -------------------------------------------------------
    def add(self, nid, title, inputs, outputs, gpus, kind, block, cluster, section,
            payload=None):
        shape = {"comp": "box", "comm": "ellipse", "route": "parallelogram", "io": "box"}[kind]
        self.nodes[nid] = dict(id=nid, title=title, inputs=list(inputs), outputs=list(outputs),
                               gpus=list(gpus) if gpus is not None else None, shape=shape,
                               kind=kind, block=block, cluster=tuple(cluster), section=section,
                               payload=payload)
        return nid

    def e(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, attrs])

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [x for x in self.edges if not (x[0] == a and x[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def preds(self, nid):
        return [x[0] for x in self.edges if x[1] == nid]

    def succs(self, nid):
        return [x[1] for x in self.edges if x[0] == nid]

    def rm_node(self, nid):
        del self.nodes[nid]
        self.edges = [x for x in self.edges if nid not in (x[0], x[1])]

    def bypass(self, nid):
        """Remove a node, wiring each of its producers straight to each of its consumers."""
        pos = min(i for i, x in enumerate(self.edges) if nid in (x[0], x[1]))
        ins = [(x[0], x[2]) for x in self.edges if x[1] == nid]
        outs = [x[1] for x in self.edges if x[0] == nid]
        self.rm_node(nid)
        new = [[p, s, dict(a)] for p, a in ins for s in outs]
        self.edges[pos:pos] = new

    def rename(self, old, new):
        d = self.nodes[old]
        d["id"] = new
        self.nodes = {(new if k == old else k): v for k, v in self.nodes.items()}
        for x in self.edges:
            if x[0] == old:
                x[0] = new
            if x[1] == old:
                x[1] = new

    # rendering -----------------------------------------------------------
    def label(self, d):
        lines = [d["title"]]
        if d["inputs"]:
            lines.append("Input: " + ", ".join(d["inputs"]))
        if d["outputs"]:
            lines.append("Output: " + ", ".join(d["outputs"]))
        if d["gpus"]:
            lines.append(gpu_spec(d["gpus"]))
        if d["payload"]:
            lines.append("Payload: " + d["payload"])
        return "\\n".join(lines)

    def node_line(self, d, ind):
        style = "rounded,filled" if d["kind"] == "io" else "filled"
        fill = FILL[d["block"]]
        return (f'{ind}"{d["id"]}" [shape={d["shape"]}, style="{style}", '
                f'fillcolor="{fill}", label="{self.label(d)}"];')

    def render(self):
        out = list(self.header)
        out.append(f'digraph "{self.name}" {{')
        out.append(f'  graph [rankdir=TB, compound=true, fontname="Helvetica", '
                   f'labelloc=t, label="{self.title}"];')
        out.append('  node [fontname="Helvetica", fontsize=10];')
        out.append('  edge [fontname="Helvetica", fontsize=9];')
        out.append("")

        def emit(path, ind):
            # nodes and child clusters in the order they were drawn
            last = None
            done = set()
            for d in self.nodes.values():
                c = d["cluster"]
                if c == path:
                    if d["section"] != last:
                        out.append(f"{ind}/* ── {d['section']} ── */")
                        last = d["section"]
                    out.append(self.node_line(d, ind))
                elif len(c) > len(path) and c[:len(path)] == path:
                    ch = c[:len(path) + 1]
                    if ch in done:
                        continue
                    done.add(ch)
                    last = None
                    cname = "cluster_" + "_".join(ch)
                    out.append(f'{ind}subgraph "{cname}" {{')
                    out.append(f'{ind}  label="{self.clusters[ch]}"; style="rounded"; '
                               f'color="#7f7f7f";')
                    emit(ch, ind + "  ")
                    out.append(f"{ind}}}")

        emit((), "  ")
        out.append("")
        out.append("  /* ── data flow ── */")
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join(f'{k}="{v}"' for k, v in attrs.items()) + "]"
            out.append(f'  "{a}" -> "{b}"{at};')
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- builder
def build(cfg):
    tp, pp, ep, dp = cfg["tp"], cfg["pp"], cfg["ep"], cfg["dp"]
    B, S, H, V = cfg["B"], cfg["S"], cfg["H"], cfg["V"]
    NH, KVH, D = cfg["NH"], cfg["KVH"], cfg["D"]
    nlayers = cfg["layers"]
    assert NH * D == H and NH % tp == 0 and KVH % tp == 0 and nlayers % pp == 0
    nh, kvh = NH // tp, KVH // tp
    moe = cfg.get("E") is not None
    header = [f"// parallel config: tp={tp} pp={pp} ep={ep} dp={dp}"] + cfg["notes"]
    g = Graph(cfg["name"], header, cfg["title"])

    X = shp(B=B, S=S, H=H)
    Q = shp(B=B, S=S, NH=nh, D=D)
    KV = shp(B=B, S=S, KVH=kvh, D=D)
    P = shp(B=B, NH=nh, S=S, L=S)
    per_stage = nlayers // pp

    for r in range(dp):
        pre = f"dp{r}." if dp > 1 else ""
        rc = (f"dp{r}",) if dp > 1 else ()
        if dp > 1:
            g.clusters[rc] = f"Data-parallel replica {r}"
        rtag = f"replica {r} · " if dp > 1 else ""
        prev = None
        for s in range(pp):
            base = (r * pp + s) * ep * tp
            stage_gpus = list(range(base, base + ep * tp))
            tp_gpus = lambda t: [base + e * tp + t for e in range(ep)]
            ep_gpus = lambda e: [base + e * tp + t for t in range(tp)]
            lo, hi = s * per_stage + 1, (s + 1) * per_stage
            sc = rc + (f"s{s}",)
            g.clusters[sc] = f"Stage {s} — layers {lo}..{hi}"
            sp = f"{pre}s{s}."

            if s == 0:
                inp = g.add(f"{pre}input", "Input (token ids)", [shp(B=B, S=S)], [shp(B=B, S=S)],
                            stage_gpus, "io", "io", rc, f"{rtag}input")
                emb = g.add(sp + "embed", "Token embedding (replicated)", [shp(B=B, S=S)], [X],
                            stage_gpus, "comp", "norm", sc, f"{rtag}Stage {s} · embedding")
                g.e(inp, emb)
                x = emb
            else:
                prev_base = (r * pp + s - 1) * ep * tp
                sr = g.add(f"{pre}pp.send_recv.s{s-1}-s{s}",
                           f"Pipeline send/recv (stage {s-1} → stage {s})", [X], [X],
                           list(range(prev_base, prev_base + ep * tp)) + stage_gpus,
                           "comm", "comm", rc, f"{rtag}pipeline transfer", payload=mib(X))
                g.e(prev, sr)
                x = sr

            for l in range(lo, hi + 1):
                lc = sc + (f"l{l}",)
                g.clusters[lc] = f"Layer {l}"
                lp = sp + f"l{l}."
                sec = f"{rtag}Stage {s} · layer {l}"

                # ---------------- attention
                A = lambda n: lp + "attn." + n
                sa = sec + " · attention"
                norm1 = g.add(A("norm"), "Pre-attention RMSNorm", [X], [X], stage_gpus,
                              "comp", "norm", lc, sa)
                g.e(x, norm1)
                ar1 = A("allreduce")
                o_ids = []
                for t in range(tp):
                    gp = tp_gpus(t)
                    tt = f".tp{t}"
                    if cfg["fused_qkv"]:
                        C = shp(B=B, S=S, C=(nh + 2 * kvh) * D)
                        qkv = g.add(A("qkv_proj" + tt), "Fused QKV projection (column-parallel)",
                                    [X], [C], gp, "comp", "attn", lc, sa)
                        spl = g.add(A("qkv_split" + tt), "Split fused QKV into Q, K, V heads",
                                    [C], [Q, KV, KV], gp, "route", "route", lc, sa)
                        g.e(norm1, qkv)
                        g.e(qkv, spl)
                        qsrc = ksrc = vsrc = spl
                    else:
                        qsrc = g.add(A("q_proj" + tt), "Query projection (column-parallel)",
                                     [X], [Q], gp, "comp", "attn", lc, sa)
                        ksrc = g.add(A("k_proj" + tt), "Key projection (column-parallel)",
                                     [X], [KV], gp, "comp", "attn", lc, sa)
                        vsrc = g.add(A("v_proj" + tt), "Value projection (column-parallel)",
                                     [X], [KV], gp, "comp", "attn", lc, sa)
                        for n in (qsrc, ksrc, vsrc):
                            g.e(norm1, n)
                    sco = g.add(A("scores" + tt), "Attention scores  Q·Kᵀ/√d", [Q, KV], [P],
                                gp, "comp", "attn", lc, sa)
                    smx = g.add(A("softmax" + tt), "Attention probabilities (softmax)", [P], [P],
                                gp, "comp", "attn", lc, sa)
                    ctx = g.add(A("context" + tt), "Context = P·V", [P, KV], [Q],
                                gp, "comp", "attn", lc, sa)
                    opj = g.add(A("o_proj" + tt), "Output projection (row-parallel)", [Q], [X],
                                gp, "comp", "attn", lc, sa)
                    if cfg["fused_qkv"]:
                        g.e(spl, sco)
                    else:
                        g.e(qsrc, sco)
                        g.e(ksrc, sco)
                    g.e(sco, smx)
                    g.e(smx, ctx)
                    g.e(vsrc, ctx)
                    g.e(ctx, opj)
                    o_ids.append(opj)
                g.add(ar1, "Attention all-reduce (tensor-parallel)", [X], [X], stage_gpus,
                      "comm", "comm", lc, sa, payload=mib(X))
                for o in o_ids:
                    g.e(o, ar1)
                res1 = g.add(A("residual"), "Residual sum", [X, X], [X], stage_gpus,
                             "comp", "norm", lc, sa)
                g.e(ar1, res1)
                g.e(x, res1)

                # ---------------- feed-forward
                if moe:
                    E, K = cfg["E"], cfg["K"]
                    assert E % ep == 0
                    T = ep * B * S * K // E
                    TK = shp(T=T, H=H)
                    R = shp(B=B, S=S, K=K)
                    XK = shp(B=B, S=S, K=K, H=H)
                    M = lambda n: lp + "moe." + n
                    sm = sec + " · MoE"
                    norm2 = g.add(M("norm"), "Pre-MoE RMSNorm", [X], [X], stage_gpus,
                                  "comp", "norm", lc, sm)
                    g.e(res1, norm2)
                    rt = g.add(M("router"), f"Token router (top-{K} of {E})", [X], [R],
                               stage_gpus, "route", "route", lc, sm)
                    g.e(norm2, rt)
                    dsp = g.add(M("dispatch"), "Dispatch all-to-all (expert-parallel)", [X, R],
                                [TK], stage_gpus, "comm", "comm", lc, sm, payload=mib(X, K))
                    g.e(norm2, dsp)
                    g.e(rt, dsp, style="dashed")
                    cmb = M("combine")
                    ex_ids = []
                    for j in range(E):
                        eid = g.add(M(f"expert{j}"), f"Expert {j} FFN (SwiGLU)", [TK], [TK],
                                    ep_gpus(j // (E // ep)), "comp", "ffn", lc, sm)
                        g.e(dsp, eid)
                        ex_ids.append(eid)
                    g.add(cmb, "Combine all-to-all (expert-parallel)", [TK], [XK], stage_gpus,
                          "comm", "comm", lc, sm, payload=mib(X, K))
                    for eid in ex_ids:
                        g.e(eid, cmb)
                    mrg = g.add(M("merge"), f"Weighted top-{K} merge (combine)", [XK, R], [X],
                                stage_gpus, "route", "route", lc, sm)
                    g.e(cmb, mrg)
                    g.e(rt, mrg, style="dashed")
                    ar2 = g.add(M("allreduce"), "MoE output all-reduce (tensor-parallel)", [X],
                                [X], stage_gpus, "comm", "comm", lc, sm, payload=mib(X))
                    g.e(mrg, ar2)
                    res2 = g.add(M("residual"), "Residual sum", [X, X], [X], stage_gpus,
                                 "comp", "norm", lc, sm)
                    g.e(ar2, res2)
                    g.e(res1, res2)
                else:
                    F = cfg["F"] // tp
                    FF = shp(B=B, S=S, F=F)
                    Mm = lambda n: lp + "mlp." + n
                    sm = sec + " · MLP"
                    norm2 = g.add(Mm("norm"), "Pre-MLP RMSNorm", [X], [X], stage_gpus,
                                  "comp", "norm", lc, sm)
                    g.e(res1, norm2)
                    downs = []
                    for t in range(tp):
                        gp = tp_gpus(t)
                        tt = f".tp{t}"
                        gt = g.add(Mm("gate_proj" + tt), "Gate projection (column-parallel)",
                                   [X], [FF], gp, "comp", "ffn", lc, sm)
                        up = g.add(Mm("up_proj" + tt), "Up projection (column-parallel)",
                                   [X], [FF], gp, "comp", "ffn", lc, sm)
                        act = g.add(Mm("act" + tt), "SwiGLU activation  silu(g)·u", [FF, FF], [FF],
                                    gp, "comp", "ffn", lc, sm)
                        dn = g.add(Mm("down_proj" + tt), "Down projection (row-parallel)", [FF],
                                   [X], gp, "comp", "ffn", lc, sm)
                        g.e(norm2, gt)
                        g.e(norm2, up)
                        g.e(gt, act)
                        g.e(up, act)
                        g.e(act, dn)
                        downs.append(dn)
                    ar2 = g.add(Mm("allreduce"), "MLP all-reduce (tensor-parallel)", [X], [X],
                                stage_gpus, "comm", "comm", lc, sm, payload=mib(X))
                    for dn in downs:
                        g.e(dn, ar2)
                    res2 = g.add(Mm("residual"), "Residual sum", [X, X], [X], stage_gpus,
                                 "comp", "norm", lc, sm)
                    g.e(ar2, res2)
                    g.e(res1, res2)
                x = res2
            prev = x

            if s == pp - 1:
                sh = f"{rtag}Stage {s} · head"
                Vs = shp(B=B, S=S, V=V // tp)
                Vf = shp(B=B, S=S, V=V)
                fn = g.add(sp + "final_norm", "Final RMSNorm", [X], [X], stage_gpus,
                           "comp", "norm", sc, sh)
                g.e(x, fn)
                ag = sp + "lm_head.allgather"
                heads = []
                for t in range(tp):
                    hd = g.add(sp + f"lm_head.tp{t}", "LM head (vocab-parallel, column)", [X],
                               [Vs], tp_gpus(t), "comp", "ffn", sc, sh)
                    g.e(fn, hd)
                    heads.append(hd)
                g.add(ag, "Logits all-gather (tensor-parallel)", [Vs], [Vf], stage_gpus,
                      "comm", "comm", sc, sh, payload=mib(Vs, tp - 1))
                for hd in heads:
                    g.e(hd, ag)
                o = g.add(f"{pre}output", "Output (logits)", [Vf], [Vf], stage_gpus, "io", "io",
                          rc, f"{rtag}output")
                g.e(ag, o)
    return g


# ----------------------------------------------------------------------------- configs
DIMS_NOTE = ("   dims: B sequences, S query positions, L key positions, H hidden, NH query heads,\n"
             "         KVH key/value heads, D head dim, C fused QKV channels, F FFN width per\n"
             "         shard, T tokens per expert, K experts per token, V vocab (per shard on\n"
             "         vocab-parallel nodes).\n"
             "   colours: blue attention, orange MoE/MLP/LM head, green norm/residual/embedding,\n"
             "            grey collectives (ellipses), pink routing (parallelograms), white I/O;\n"
             "            dashed edges leave the token router.")

CFGS = {
    "clean_1": dict(
        name="moe_gqa_two_stage", title="Prefill forward pass — 4-layer MoE decoder (GQA, 8 experts)",
        tp=2, pp=2, ep=4, dp=1, layers=4, B=2, S=1024, H=2048, NH=16, KVH=4, D=128, V=32000,
        E=8, K=2, fused_qkv=False,
        notes=["/* style_am · clean_1",
               "   model: hidden 2048, 16 query heads / 4 KV heads (GQA) x 128, 8 experts top-2,",
               "          4 layers, vocab 32000.",
               "   layout: each pipeline stage is one host; inside a stage the GPUs form four",
               "           expert-parallel groups of two GPUs (gpu0-1, gpu2-3, gpu4-5, gpu6-7).",
               "           Attention is tensor-parallel over the two GPUs of a group and",
               "           data-parallel across groups (each group attends to its own B=2",
               "           sequences), so a TP-rank node lists one GPU per group. Experts are",
               "           split over the two GPUs of their group; their partial sums are",
               "           summed by the MoE all-reduce after the weighted merge.",
               DIMS_NOTE + " */"]),
    "clean_2": dict(
        name="moe_mha_single_stage", title="Prefill forward pass — 2-layer MoE decoder (fused QKV, 8 experts)",
        tp=4, pp=1, ep=2, dp=1, layers=2, B=4, S=512, H=4096, NH=32, KVH=32, D=128, V=32000,
        E=8, K=2, fused_qkv=True,
        notes=["/* style_am · clean_2",
               "   model: hidden 4096, 32 heads x 128 (full multi-head attention, fused QKV),",
               "          8 experts top-2, 2 layers, vocab 32000.",
               "   layout: one stage on one host; two expert-parallel groups of four GPUs",
               "           (gpu0-3, gpu4-7). Attention is tensor-parallel over the four GPUs of",
               "           a group and data-parallel across the two groups (each group attends",
               "           to its own B=4 sequences), so a TP-rank node lists one GPU per group.",
               "           Experts are split over the four GPUs of their group; their partial",
               "           sums are summed by the MoE all-reduce after the weighted merge.",
               DIMS_NOTE + " */"]),
    "clean_3": dict(
        name="dense_gqa_dp2", title="Prefill forward pass — 2-layer dense decoder (GQA), two replicas",
        tp=2, pp=1, ep=1, dp=2, layers=2, B=4, S=2048, H=3072, NH=24, KVH=8, D=128, V=50304,
        F=8192, fused_qkv=False,
        notes=["/* style_am · clean_3",
               "   model: hidden 3072, 24 query heads / 8 KV heads (GQA) x 128, SwiGLU MLP",
               "          width 8192, 2 layers, vocab 50304.",
               "   layout: two data-parallel replicas drawn in full, each a single stage on",
               "           two GPUs (replica 0 on gpu0-1, replica 1 on gpu2-3); each replica",
               "           reads its own B=4 sequences.",
               DIMS_NOTE + " */"]),
}


# ----------------------------------------------------------------------------- defects
def sub_in(g, ids, pat, rep):
    for i in ids:
        d = g.nodes[i]
        d["inputs"] = [re.sub(pat, rep, x) for x in d["inputs"]]
        d["outputs"] = [re.sub(pat, rep, x) for x in d["outputs"]]


def d_cycle(g):
    a, b = "dp0.s0.l1.attn.allreduce", "dp0.s0.l1.attn.residual"
    g.e(b, a)
    return [a, b], (f"Replica 0, layer 1: the attention all-reduce {a} feeds the residual sum {b} "
                    f"and {b} is also drawn back into {a}, a two-node cycle.")


def d_dangling_input(g):
    n = "s0.l1.moe.norm"
    g.rm_edge("s0.l1.attn.residual", n)
    return [n], (f"Layer 1's pre-MoE RMSNorm {n} has no incoming edge: its input from the "
                 f"attention residual sum s0.l1.attn.residual was removed.")


def d_dangling_output(g):
    n = "s0.l1.moe.expert5"
    g.rm_edge(n, "s0.l1.moe.combine")
    return [n], (f"Expert 5 of layer 1 ({n}, EP rank 2 on node0:gpu4-5) has no outgoing edge: "
                 f"its output never reaches the combine all-to-all s0.l1.moe.combine.")


def d_attention_one_box(g):
    ids = []
    X = g.nodes["s0.l2.attn.norm"]["outputs"][0]
    for t in range(4):
        gp = g.nodes[f"s0.l2.attn.qkv_proj.tp{t}"]["gpus"]
        for n in ("qkv_proj", "qkv_split", "scores", "softmax", "context", "o_proj"):
            g.rm_node(f"s0.l2.attn.{n}.tp{t}")
    # insert the boxes where the old per-rank nodes stood (before the all-reduce)
    keys = list(g.nodes)
    pos = keys.index("s0.l2.attn.allreduce")
    new = {}
    for t in range(4):
        nid = f"s0.l2.attn.mha.tp{t}"
        new[nid] = dict(id=nid, title="Multi-head attention (tensor-parallel)", inputs=[X],
                        outputs=[X], gpus=[t, 4 + t], shape="box", kind="comp", block="attn",
                        cluster=("s0", "l2"), section="Stage 0 · layer 2 · attention",
                        payload=None)
        ids.append(nid)
    items = list(g.nodes.items())
    g.nodes = dict(items[:pos] + list(new.items()) + items[pos:])
    pos_e = 1 + next(i for i, x in enumerate(g.edges) if x[1] == "s0.l2.attn.norm")
    g.edges[pos_e:pos_e] = ([["s0.l2.attn.norm", n, {}] for n in ids]
                            + [[n, "s0.l2.attn.allreduce", {}] for n in ids])
    return ids, ("Layer 2's attention is drawn as one 'Multi-head attention (tensor-parallel)' box "
                 "per TP rank (s0.l2.attn.mha.tp0-tp3, TP 4) instead of fused QKV projection, "
                 "split, scores, softmax, context and output projection.")


def d_v_bypasses_softmax(g):
    p = "s0.l1.attn."
    g.rm_edge(p + "softmax.tp1", p + "context.tp1")
    g.e(p + "softmax.tp1", p + "o_proj.tp1")
    ids = [p + "softmax.tp1", p + "v_proj.tp1", p + "context.tp1", p + "o_proj.tp1"]
    return ids, ("Layer 1, TP rank 1: the value projection s0.l1.attn.v_proj.tp1 feeds the context "
                 "s0.l1.attn.context.tp1 but the softmax s0.l1.attn.softmax.tp1 does not (it goes "
                 "straight to the output projection s0.l1.attn.o_proj.tp1), so V bypasses the "
                 "attention probabilities.")


def d_v_into_score(g):
    p = "s1.l3.attn."
    g.rm_edge(p + "k_proj.tp0", p + "scores.tp0")
    g.rm_edge(p + "v_proj.tp0", p + "context.tp0")
    g.e(p + "v_proj.tp0", p + "scores.tp0")
    g.e(p + "k_proj.tp0", p + "context.tp0")
    ids = [p + "v_proj.tp0", p + "k_proj.tp0", p + "scores.tp0", p + "context.tp0"]
    return ids, ("Layer 3, TP rank 0: the value projection s1.l3.attn.v_proj.tp0 is wired into the "
                 "scores s1.l3.attn.scores.tp0 instead of K, and the key projection "
                 "s1.l3.attn.k_proj.tp0 feeds the context s1.l3.attn.context.tp0 (K and V swapped).")


def d_qkv_into_oproj(g):
    p = "dp1.s0.l2.attn."
    ids = []
    for t in range(2):
        for n in ("scores", "softmax", "context"):
            g.rm_node(p + f"{n}.tp{t}")
        for n in ("q_proj", "k_proj", "v_proj"):
            g.e(p + f"{n}.tp{t}", p + f"o_proj.tp{t}")
            ids.append(p + f"{n}.tp{t}")
        ids.append(p + f"o_proj.tp{t}")
    return ids, ("Replica 1, layer 2: Q, K and V projections go straight into the output "
                 "projection on both TP ranks (dp1.s0.l2.attn.o_proj.tp0 and .tp1); no scores, "
                 "softmax or context node is drawn.")


def d_head_arithmetic(g):
    ids = [i for i in g.nodes if i.startswith("s0.l2.attn.") and
           any(w in i for w in ("q_proj", "k_proj", "v_proj", "scores", "context", "o_proj"))]
    sub_in(g, ids, r"\bD=128\b", "D=64")
    return ids, ("Layer 2 labels Q/K/V as 8 query heads (2 KV heads) x head dim D=64 on both TP "
                 "ranks (8 x 64 = 512 per rank, 16 x 64 = 1024 in total) while hidden is 2048 "
                 "(2048/TP2 = 1024 per rank, head dim 128).")


def d_tp_heads(g):
    p = "s0.l1.attn."
    ids = [p + f"{n}.tp0" for n in ("qkv_proj", "qkv_split", "scores", "softmax", "context",
                                    "o_proj")]
    sub_in(g, ids, r"\bNH=8\b", "NH=32")
    sub_in(g, ids, r"\bKVH=8\b", "KVH=32")
    sub_in(g, ids, r"\bC=3072\b", "C=12288")
    return ids, ("Layer 1, TP rank 0 of TP 4: the fused QKV projection s0.l1.attn.qkv_proj.tp0 "
                 "outputs all 32 heads (C=12288, NH=32) instead of 32/4 = 8 heads per rank "
                 "(C=3072), and the rest of that rank's attention follows with 32 heads.")


def d_edge_shape_mismatch(g):
    n = "dp0.s0.l2.mlp.norm"
    g.nodes[n]["inputs"] = ["[B=4, S=2048, H=2304]"]
    return [n, "dp0.s0.l2.attn.residual"], (
        "Replica 0, layer 2: the pre-MLP RMSNorm dp0.s0.l2.mlp.norm expects H=2304 but its "
        "producer dp0.s0.l2.attn.residual outputs H=3072 (ratio 3/4, not a parallel degree).")


def d_shard_without_gather(g):
    old, new = "s0.l2.attn.allreduce", "s0.l2.attn.reduce_scatter"
    g.rename(old, new)
    d = g.nodes[new]
    d["title"] = "Attention reduce-scatter (tensor-parallel)"
    d["outputs"] = ["[B=4, S=512, H=1024]"]
    return [new, "s0.l2.attn.residual"], (
        "Layer 2's row-parallel attention output is reduce-scattered (s0.l2.attn.reduce_scatter) "
        "into H/TP = 4096/4 = 1024 shards that go straight into the full-size (H=4096) residual "
        "sum s0.l2.attn.residual with no all-gather.")


def d_stage_count(g):
    g.header[0] = "// parallel config: tp=2 pp=3 ep=4 dp=1"
    return [], "The parallel-config comment declares pp=3 but two pipeline stages are drawn (Stage 0 — layers 1..2, Stage 1 — layers 3..4)."


def d_stage_range_gap(g):
    g.clusters[("s0",)] = "Stage 0 — layers 1..1"
    ids = [i for i in g.nodes if i.startswith("s0.l2.")][:1]
    return ids, ("Stage 0 claims layers 1..1 and stage 1 layers 3..4: layer 2 is in no stage's "
                 "range (gap), although its operators (s0.l2.*) are drawn in stage 0.")


def d_stage_missing_layer(g):
    for i in [i for i in g.nodes if i.startswith("s1.l4.")]:
        g.rm_node(i)
    g.e("s1.l3.moe.residual", "s1.final_norm")
    # keep the edge list in a natural place: move the new edge before the head edges
    last = g.edges.pop()
    pos = next(i for i, x in enumerate(g.edges) if x[0] == "s1.final_norm")
    g.edges.insert(pos, last)
    return ["s1.l3.moe.residual", "s1.final_norm"], (
        "Stage 1 claims layers 3..4 but no operator of layer 4 is drawn: layer 3's residual "
        "s1.l3.moe.residual feeds the final RMSNorm s1.final_norm directly.")


def d_no_stage_transfer(g):
    n = "pp.send_recv.s0-s1"
    g.bypass(n)
    return ["s0.l2.moe.residual", "s1.l3.attn.norm", "s1.l3.attn.residual"], (
        "Stage 0 (node0:gpu0-7) and stage 1 (node1:gpu0-7) are joined by plain edges from "
        "s0.l2.moe.residual to s1.l3.attn.norm and s1.l3.attn.residual; the pipeline send/recv "
        "is missing.")


def d_experts_subset_ranks(g):
    ids = []
    for j in range(8):
        r = (j // 2) % 2
        n = f"s0.l1.moe.expert{j}"
        g.nodes[n]["gpus"] = [2 * r, 2 * r + 1]
        ids.append(n)
    return ids, ("Layer 1 places all 8 experts on EP ranks 0 and 1 (node0:gpu0-3: experts 0,1,4,5 "
                 "on gpu0-1, experts 2,3,6,7 on gpu2-3); EP ranks 2 and 3 (node0:gpu4-7) hold none "
                 "of its experts although EP is 4.")


def d_experts_uneven(g):
    n = "s1.l3.moe.expert2"
    g.nodes[n]["gpus"] = [8, 9]
    return [n], ("Layer 3's expert 2 sits on EP rank 0 (node1:gpu0-1) instead of rank 1 "
                 "(node1:gpu2-3): ranks hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu(g):
    n = "s0.l1.moe.expert5"
    g.nodes[n]["gpus"] = [2, 3, 4, 5]
    return [n, "s0.l1.moe.expert0", "s0.l1.moe.expert3"], (
        "Layer 1's expert 5 (EP rank 1, should be node0:gpu4-7) is placed on node0:gpu2-5, so "
        "gpu2-3 also hold EP rank 0's experts 0-3.")


def d_no_gate(g):
    n = "s0.l2.moe.router"
    g.rm_node(n)
    return ["s0.l2.moe.norm", "s0.l2.moe.dispatch"], (
        "Layer 2 has no token router: the pre-MoE RMSNorm s0.l2.moe.norm goes straight into the "
        "dispatch all-to-all s0.l2.moe.dispatch and on to experts 0-7, and the weighted merge "
        "s0.l2.moe.merge gets no routing weights.")


def d_no_all_to_all(g):
    g.bypass("s0.l2.moe.dispatch")
    ids = ["s0.l2.moe.router", "s0.l2.moe.norm"] + [f"s0.l2.moe.expert{j}" for j in range(8)]
    return ids, ("Layer 2's router s0.l2.moe.router and RMSNorm s0.l2.moe.norm send tokens "
                 "straight to experts 0-7 on EP ranks 0-3 (EP 4, node0:gpu0-7) without a dispatch "
                 "all-to-all.")


def d_tp_rank_missing(g):
    for n in ("qkv_proj", "qkv_split", "scores", "softmax", "context", "o_proj"):
        g.rm_node(f"s0.l1.attn.{n}.tp3")
    return ["s0.l1.attn.allreduce", "s0.l1.attn.norm"], (
        "Layer 1's attention operators are drawn for TP ranks 0-2 only; TP rank 3 "
        "(node0:gpu3,7) of TP 4 is missing, so the all-reduce s0.l1.attn.allreduce sums 3 "
        "partial outputs.")


def d_no_allreduce_after_rowparallel(g):
    g.bypass("dp0.s0.l1.mlp.allreduce")
    return ["dp0.s0.l1.mlp.down_proj.tp0", "dp0.s0.l1.mlp.down_proj.tp1",
            "dp0.s0.l1.mlp.residual"], (
        "Replica 0, layer 1: the row-parallel down projections dp0.s0.l1.mlp.down_proj.tp0/.tp1 "
        "feed the residual sum dp0.s0.l1.mlp.residual directly, without the TP all-reduce of "
        "their partial sums.")


def d_cross_gpu_no_comm(g):
    g.rm_edge("pp.send_recv.s0-s1", "s1.l3.attn.residual")
    pos = next(i for i, x in enumerate(g.edges) if x[0] == "s1.l3.attn.allreduce"
               and x[1] == "s1.l3.attn.residual")
    g.edges.insert(pos + 1, ["s0.l2.moe.residual", "s1.l3.attn.residual", {}])
    return ["s0.l2.moe.residual", "s1.l3.attn.residual"], (
        "The skip edge of layer 3's attention residual comes straight from stage 0's "
        "s0.l2.moe.residual (node0:gpu0-7) into s1.l3.attn.residual (node1:gpu0-7) by a plain "
        "edge, with no communication node.")


def d_comm_wrong_shape(g):
    n = "s0.l2.attn.allreduce"
    g.nodes[n]["shape"] = "box"
    return [n], "Layer 2's attention all-reduce s0.l2.attn.allreduce is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g):
    n = "s0.l1.attn.softmax.tp1"
    g.nodes[n]["gpus"] = None
    return [n], "The softmax of layer 1, TP rank 1 (s0.l1.attn.softmax.tp1) has no GPU line."


def d_gpu_out_of_range(g):
    n = "s0.l2.moe.expert5"
    g.nodes[n]["gpus"] = [8, 9, 10, 11]
    return [n], ("Layer 2's expert 5 (s0.l2.moe.expert5) is placed on node1:gpu0-3 (global ids "
                 "8-11), beyond the 8 GPUs of tp=4 x pp=1 x ep=2 x dp=1 (ids 0-7).")


def d_stages_share_gpus(g):
    ids = []
    for i, d in g.nodes.items():
        if d["cluster"][:1] == ("s1",) and d["gpus"]:
            d["gpus"] = [x - 8 for x in d["gpus"]]
            ids.append(i)
    ids = ["s1.l3.attn.norm", "s1.final_norm", "s0.l1.attn.norm"]
    return ids, ("Stage 1 (layers 3..4) is placed on node0:gpu0-7, the same GPUs as stage 0 "
                     "(all 8 GPUs in both; node1 is unused by the stage).")


def d_strategy_mismatch(g):
    g.header[0] = "// parallel config: tp=4 pp=2 ep=4 dp=1"
    return [], ("The parallel-config comment declares tp=4 but every tensor-parallel operator is "
                "drawn for TP ranks 0-1 only (TP 2), on 16 GPUs.")


def d_missing_shapes(g):
    n = "s0.l2.attn.o_proj.tp1"
    g.nodes[n]["inputs"] = []
    g.nodes[n]["outputs"] = []
    return [n], "The output projection of layer 2, TP rank 1 (s0.l2.attn.o_proj.tp1) has no Input or Output line."


def d_placeholder(g):
    n = "s0.l2.moe.router"
    g.nodes[n]["inputs"] = ["[B=?, S=512, H=4096]"]
    return [n], "Layer 2's token router s0.l2.moe.router gives its input as [B=?, S=512, H=4096], a placeholder instead of a value."


def d_moe_before_attention(g):
    X = "s0.l1.moe.residual"
    an, ar = "s0.l2.attn.norm", "s0.l2.attn.residual"
    mn, mr = "s0.l2.moe.norm", "s0.l2.moe.residual"
    fn = "s0.final_norm"
    rew = {(X, an): (X, mn), (X, ar): (X, mr), (ar, mn): (mr, an), (ar, mr): (mr, ar),
           (mr, fn): (ar, fn)}
    for x in g.edges:
        k = (x[0], x[1])
        if k in rew:
            x[0], x[1] = rew[k]
    return [mn, mr, an, ar], (
        "Layer 2 runs its MoE block before its attention block: layer 1's output "
        "s0.l1.moe.residual goes to s0.l2.moe.norm, the MoE residual s0.l2.moe.residual feeds "
        "s0.l2.attn.norm, and the attention residual s0.l2.attn.residual feeds the final norm.")


def d_missing_residual(g):
    g.rm_edge("dp1.s0.embed", "dp1.s0.l1.attn.residual")
    return ["dp1.s0.l1.attn.residual"], (
        "Replica 1, layer 1: the attention residual sum dp1.s0.l1.attn.residual is fed only by "
        "the all-reduce dp1.s0.l1.attn.allreduce; the skip edge from dp1.s0.embed is missing.")


DEFECTS = [
    # kind, category, base, fn
    ("cycle", "structure", "clean_3", d_cycle),
    ("dangling_input", "structure", "clean_1", d_dangling_input),
    ("dangling_output", "structure", "clean_1", d_dangling_output),
    ("attention_one_box", "attention", "clean_2", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_1", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_1", d_head_arithmetic),
    ("tp_heads", "attention", "clean_2", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_2", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_1", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_1", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_2", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2", d_no_gate),
    ("no_all_to_all", "expert", "clean_1", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_1", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_1", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_1", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_2", d_missing_shapes),
    ("placeholder", "annotation", "clean_2", d_placeholder),
    ("moe_before_attention", "structure", "clean_2", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1": ("Correct MoE deployment tp=2 pp=2 ep=4 dp=1 on 16 GPUs (two hosts): 4 layers in two "
                "stages joined by a send/recv, GQA attention (16 query / 4 KV heads), 8 experts "
                "top-2, 2 per EP rank."),
    "clean_2": ("Correct MoE deployment tp=4 pp=1 ep=2 dp=1 on 8 GPUs: 2 layers, fused QKV + split "
                "multi-head attention (32 heads, 8 per TP rank), 8 experts top-2, 4 per EP rank."),
    "clean_3": ("Correct dense deployment tp=2 pp=1 ep=1 dp=2 on 4 GPUs: both data-parallel "
                "replicas drawn, 2 layers, GQA attention (24 query / 8 KV heads), SwiGLU MLP."),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    manifest = []
    bases = {k: build(c) for k, c in CFGS.items()}
    for k, g in bases.items():
        with open(os.path.join(OUT, k + ".dot"), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        manifest.append(dict(file=k + ".dot", kind="clean", category=None, base=None, nodes=[],
                             what=CLEAN_WHAT[k]))
    for kind, cat, base, fn in DEFECTS:
        g = copy.deepcopy(bases[base])
        nodes, what = fn(g)
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = f"defect_{kind}.dot"
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as fh:
            fh.write(g.render())
        manifest.append(dict(file=fname, kind=kind, category=cat, base=base + ".dot",
                             nodes=nodes, what=what))
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    bad = 0
    for m in manifest:
        r = subprocess.run(["dot", "-Tcanon", os.path.join(OUT, m["file"])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0 or r.stderr.strip():
            bad += 1
            print("DOT problem:", m["file"], r.stderr.strip(), file=sys.stderr)
    print(f"wrote {len(manifest)} files to {OUT}; dot problems: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
