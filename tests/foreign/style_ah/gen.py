#!/usr/bin/env python3
"""Independent generator of deployment DAGs, house style "AH" (group nodes).

House style:
  * every tensor-parallel operator is ONE node for the whole TP group
    (placement "GPU: 8-15"), with per-rank shapes and a line "(per rank, TP=8)";
  * each EP rank's experts of a MoE layer are ONE node
    "Layer L Experts 8-15 (EP rank 1)" placed on that EP rank's GPUs, per-expert shapes;
  * no clusters: stage marker nodes (shape=plaintext) on the data path,
    "Stage k begin\\nGPUs a-b\\nLayers x-y";
  * labels are "\\n"-separated with keys Input:, Output:, GPU:;
  * ids s{k}_l{L}_{op}, s{k}_l{L}_experts_ep{e}, prefixed r{d}_ when DP > 1;
  * strategy in the graph label, "EP8-TP8-PP4-DP2" form; layers numbered from 0.

GPU layout (product convention, GPUs = EP*TP*PP*DP): replica d, stage k owns the
EP*TP GPUs starting at (d*PP + k)*EP*TP. EP rank e of that stage owns the TP GPUs
starting at base + e*TP; the attention/dense TP group of the stage is EP rank 0's
TP group (base .. base+TP-1). Each stage draws the token path through that TP group;
the all-to-all dispatch spreads tokens over all EP*TP GPUs of the stage.

Run:  python3 gen.py      -> writes out/*.dot and out/manifest.json
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# --------------------------------------------------------------------------- graph model
class Graph:
    def __init__(self, label):
        self.label = label
        self.nodes = {}          # id -> {"shape": str, "lines": [str]}  (insertion ordered)
        self.edges = []          # [src, dst, attrs-dict]

    def node(self, nid, shape, lines):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"shape": shape, "lines": list(lines)}

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, dict(attrs)])

    # ---- mutation helpers used by the defect injectors
    def rm_node(self, nid):
        assert nid in self.nodes, nid
        del self.nodes[nid]
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def rm_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def set_key(self, nid, key, value):
        """Replace the line 'key: ...' of a node (value None deletes it)."""
        lines = self.nodes[nid]["lines"]
        for i, ln in enumerate(lines):
            if ln.startswith(key + ":"):
                if value is None:
                    del lines[i]
                else:
                    lines[i] = f"{key}: {value}"
                return
        raise KeyError((nid, key))

    def set_line(self, nid, idx, text):
        self.nodes[nid]["lines"][idx] = text

    def sub(self, nids, old, new):
        hit = 0
        for nid in nids:
            lines = self.nodes[nid]["lines"]
            for i, ln in enumerate(lines):
                if old in ln:
                    lines[i] = ln.replace(old, new)
                    hit += 1
        assert hit, (nids, old)

    # ---- output
    def to_dot(self):
        out = ["digraph deployment {"]
        out.append("  graph [label=" + q_lines(self.label) + ", labelloc=t, rankdir=TB, fontname=Helvetica];")
        out.append("  node [fontname=Helvetica, fontsize=10];")
        out.append("  edge [fontsize=9];")
        out.append("")
        for nid, n in self.nodes.items():
            out.append(f"  {nid} [shape={n['shape']}, label={q_lines(n['lines'])}];")
        out.append("")
        for a, b, attrs in self.edges:
            if attrs:
                att = ", ".join(f"{k}={v}" for k, v in attrs.items())
                out.append(f"  {a} -> {b} [{att}];")
            else:
                out.append(f"  {a} -> {b};")
        out.append("}")
        return "\n".join(out) + "\n"


def q_lines(lines):
    if isinstance(lines, str):
        lines = [lines]
    esc = [ln.replace("\\", "\\\\").replace('"', '\\"') for ln in lines]
    return '"' + "\\n".join(esc) + '"'


def rng(a, z):
    return f"{a}-{z}" if z > a else f"{a}"


# --------------------------------------------------------------------------- configs
CONFIGS = {
    # big MoE: EP8 TP8 PP4 DP2, 4 layers (one per stage), 64 experts -> 8 per EP rank, 1 per GPU
    "clean_1": dict(moe=True, EP=8, TP=8, PP=4, DP=2, layers=4, hidden=4096, heads=32, head_dim=128,
                    experts=64, topk=2, expert_ffn=2048, batch=8, seq=512, vocab=32000),
    # medium MoE: EP4 TP4 PP2 DP1, 4 layers (two per stage), 16 experts -> 4 per EP rank, 1 per GPU
    "clean_2": dict(moe=True, EP=4, TP=4, PP=2, DP=1, layers=4, hidden=2048, heads=16, head_dim=128,
                    experts=16, topk=2, expert_ffn=1408, batch=4, seq=256, vocab=32000),
    # dense: TP8 PP2 DP4, 4 layers (two per stage), every DP replica drawn
    "clean_3": dict(moe=False, EP=1, TP=8, PP=2, DP=4, layers=4, hidden=8192, heads=64, head_dim=128,
                    ffn=28672, batch=4, seq=256, vocab=32000),
}


def strategy_str(c, **over):
    EP = over.get("EP", c["EP"]); TP = over.get("TP", c["TP"])
    PP = over.get("PP", c["PP"]); DP = over.get("DP", c["DP"])
    if c["moe"]:
        return f"EP{EP}-TP{TP}-PP{PP}-DP{DP}", EP * TP * PP * DP, f"{EP}x{TP}x{PP}x{DP}"
    return f"TP{TP}-PP{PP}-DP{DP}", TP * PP * DP, f"{TP}x{PP}x{DP}"


def graph_label(c, **over):
    strat, total, prod = strategy_str(c, **over)
    kind = "MoE" if c["moe"] else "dense"
    l2 = f"{c['layers']} layers, hidden {c['hidden']} ({c['heads']} heads x head_dim {c['head_dim']}), "
    if c["moe"]:
        l2 += f"{c['experts']} experts, top-{c['topk']} of {c['experts']}"
    else:
        l2 += f"FFN {c['ffn']}"
    return [f"{strat} {kind} LLM inference (one forward pass)", l2, f"Total GPUs: {total} ({prod})"]


# --------------------------------------------------------------------------- builder
def build(c):
    g = Graph(graph_label(c))
    EP, TP, PP, DP = c["EP"], c["TP"], c["PP"], c["DP"]
    moe = c["moe"]
    b, s, H = c["batch"], c["seq"], c["hidden"]
    nh, hd = c["heads"], c["head_dim"]
    assert nh * hd == H and nh % TP == 0
    hr = nh // TP
    V = c["vocab"]
    assert V % TP == 0
    nL = c["layers"]
    assert nL % PP == 0
    lps = nL // PP
    per_stage = EP * TP

    X = f"[batch={b}, seq={s}, hidden={H}]"
    QKV = f"[batch={b}, seq={s}, heads={hr}, head_dim={hd}]"
    SC = f"[batch={b}, heads={hr}, q_len={s}, kv_len={s}]"
    IDS = f"[batch={b}, seq={s}]"
    LOGS = f"[batch={b}, seq={s}, vocab={V // TP}]"
    LOG = f"[batch={b}, seq={s}, vocab={V}]"
    PR = f"(per rank, TP={TP})"
    HEADS = f"Heads: {hr} of {nh}, head_dim {hd}"
    if moe:
        E, k = c["experts"], c["topk"]
        assert E % EP == 0
        epr = E // EP
        assert epr % TP == 0 or TP % epr == 0
        T = b * s
        assert (T * k) % E == 0
        TOK = f"[tokens={T}, hidden={H}]"
        RT = f"[tokens={T}, top_k={k}]"
        PE = f"[tokens_per_expert={T * k // E}, hidden={H}]"
        CB = f"[tokens={T}, top_k={k}, hidden={H}]"
    else:
        F = c["ffn"]
        assert F % TP == 0
        FF = f"[batch={b}, seq={s}, ffn={F // TP}]"

    for d in range(DP):
        P = f"r{d}_" if DP > 1 else ""

        def sid(k_, op):
            return f"{P}s{k_}_{op}"

        def base(k_):
            return (d * PP + k_) * per_stage

        def attn(k_):
            return rng(base(k_), base(k_) + TP - 1)

        entry = skip = None
        for st in range(PP):
            a = attn(st)
            marker = sid(st, "begin")
            mlines = [f"Stage {st} begin", f"GPUs {rng(base(st), base(st) + per_stage - 1)}",
                      f"Layers {st * lps}-{st * lps + lps - 1}"]
            if DP > 1:
                mlines.append(f"DP replica {d} of {DP}")
            if st == 0:
                g.node(f"{P}input", "box", ["Input (token ids)", f"Input: {IDS}", f"Output: {IDS}", f"GPU: {a}"])
                g.node(marker, "plaintext", mlines)
                g.edge(f"{P}input", marker)
                g.node(sid(0, "embed"), "box", ["Embedding (vocab-parallel)", PR,
                                                f"Table shard: vocab {V // TP} of {V} per rank",
                                                f"Input: {IDS}", f"Output: {X}", "Partial sums, all-reduced next",
                                                f"GPU: {a}"])
                g.node(sid(0, "embed_allreduce"), "ellipse", [f"All-Reduce (TP={TP}, sum)", f"Input: {X}",
                                                              f"Output: {X}", f"GPU: {a}"])
                g.edge(marker, sid(0, "embed"))
                g.edge(sid(0, "embed"), sid(0, "embed_allreduce"))
                entry = skip = sid(0, "embed_allreduce")
            else:
                prev = attn(st - 1)
                sr = sid(st - 1, "send_recv")
                g.node(sr, "ellipse", [f"Send/Recv (PP stage {st - 1} → {st})", f"Input: {X}", f"Output: {X}",
                                       f"GPU: {prev} → {a}"])
                g.edge(entry, sr)
                g.node(marker, "plaintext", mlines)
                g.edge(sr, marker)
                entry, skip = marker, sr

            for L in range(st * lps, st * lps + lps):
                def n(op):
                    return sid(st, f"l{L}_{op}")

                def box(op, title, ins, outs, extra=(), shape="box", tp_note=True):
                    lines = [f"Layer {L} {title}"]
                    if tp_note:
                        lines.append(PR)
                    lines += list(extra)
                    lines += [f"Input: {ins}", f"Output: {outs}", f"GPU: {a}"]
                    g.node(n(op), shape, lines)

                # ---- attention sub-layer
                box("norm1", "RMSNorm (pre-attention)", X, X)
                box("q_proj", "Q Projection (column-parallel)", X, QKV, [HEADS])
                box("k_proj", "K Projection (column-parallel)", X, QKV, [HEADS])
                box("v_proj", "V Projection (column-parallel)", X, QKV, [HEADS])
                box("score", "Attention Score (Q K^T / sqrt(head_dim))", f"{QKV}, {QKV}", SC)
                box("softmax", "Attention Softmax", SC, SC)
                box("attn_wsum", "Attention Weighted Sum (softmax x V)", f"{SC}, {QKV}", QKV)
                box("o_proj", "Output Projection (row-parallel)", QKV, X, ["Partial sums, all-reduced next"])
                g.node(n("o_allreduce"), "ellipse", [f"Layer {L} All-Reduce (TP={TP}, sum)", f"Input: {X}",
                                                     f"Output: {X}", f"GPU: {a}"])
                box("add1", "Residual Add (attention)", f"{X}, {X}", X)
                g.edge(entry, n("norm1"))
                for p in ("q_proj", "k_proj", "v_proj"):
                    g.edge(n("norm1"), n(p))
                g.edge(n("q_proj"), n("score"))
                g.edge(n("k_proj"), n("score"))
                g.edge(n("score"), n("softmax"))
                g.edge(n("softmax"), n("attn_wsum"))
                g.edge(n("v_proj"), n("attn_wsum"))
                g.edge(n("attn_wsum"), n("o_proj"))
                g.edge(n("o_proj"), n("o_allreduce"))
                g.edge(n("o_allreduce"), n("add1"))
                g.edge(skip, n("add1"))

                # ---- FFN sub-layer
                if moe:
                    box("norm2", "RMSNorm (pre-MoE)", X, X)
                    box("gate", f"Gate / Router (top-{k} of {E} experts)", X, f"{TOK}, {RT}", shape="parallelogram")
                    g.node(n("dispatch"), "ellipse", [f"Layer {L} All-to-All Dispatch (EP={EP})",
                                                      f"Input: {TOK}, {RT}", f"Output: {PE}",
                                                      f"GPU: {rng(base(st), base(st) + per_stage - 1)}"])
                    g.node(n("combine"), "ellipse", [f"Layer {L} All-to-All Combine (EP={EP})",
                                                     f"Input: {PE}", f"Output: {CB}",
                                                     f"GPU: {rng(base(st), base(st) + per_stage - 1)}"])
                    for e in range(EP):
                        g0 = base(st) + e * TP
                        per_gpu = f"{epr // TP} per GPU" if epr >= TP else f"1 per {TP // epr} GPUs"
                        g.node(n(f"experts_ep{e}"), "box", [
                            f"Layer {L} Experts {e * epr}-{e * epr + epr - 1} (EP rank {e})",
                            f"{epr} experts, {per_gpu}, SwiGLU FFN {H}->{c['expert_ffn']}->{H}",
                            "(shapes per expert)",
                            f"Input: {PE}", f"Output: {PE}", f"GPU: {rng(g0, g0 + TP - 1)}"])
                    box("moe_agg", f"MoE Aggregate (top-{k} weighted sum)", f"{CB}, {RT}", X, shape="parallelogram")
                    box("add2", "Residual Add (MoE)", f"{X}, {X}", X)
                    g.edge(n("add1"), n("norm2"))
                    g.edge(n("norm2"), n("gate"))
                    g.edge(n("gate"), n("dispatch"), style="dashed")
                    for e in range(EP):
                        g.edge(n("dispatch"), n(f"experts_ep{e}"))
                        g.edge(n(f"experts_ep{e}"), n("combine"))
                    g.edge(n("combine"), n("moe_agg"))
                    g.edge(n("gate"), n("moe_agg"), style="dashed")
                    g.edge(n("moe_agg"), n("add2"))
                    g.edge(n("add1"), n("add2"))
                else:
                    box("norm2", "RMSNorm (pre-MLP)", X, X)
                    box("mlp_gate_proj", "MLP Gate Projection (column-parallel)", X, FF)
                    box("mlp_up_proj", "MLP Up Projection (column-parallel)", X, FF)
                    box("mlp_act", "SwiGLU (SiLU(gate) * up)", f"{FF}, {FF}", FF)
                    box("mlp_down_proj", "MLP Down Projection (row-parallel)", FF, X, ["Partial sums, all-reduced next"])
                    g.node(n("mlp_allreduce"), "ellipse", [f"Layer {L} All-Reduce (TP={TP}, sum)", f"Input: {X}",
                                                           f"Output: {X}", f"GPU: {a}"])
                    box("add2", "Residual Add (MLP)", f"{X}, {X}", X)
                    g.edge(n("add1"), n("norm2"))
                    g.edge(n("norm2"), n("mlp_gate_proj"))
                    g.edge(n("norm2"), n("mlp_up_proj"))
                    g.edge(n("mlp_gate_proj"), n("mlp_act"))
                    g.edge(n("mlp_up_proj"), n("mlp_act"))
                    g.edge(n("mlp_act"), n("mlp_down_proj"))
                    g.edge(n("mlp_down_proj"), n("mlp_allreduce"))
                    g.edge(n("mlp_allreduce"), n("add2"))
                    g.edge(n("add1"), n("add2"))
                entry = skip = n("add2")

        last = PP - 1
        a = attn(last)
        g.node(sid(last, "final_norm"), "box", ["Final RMSNorm", PR, f"Input: {X}", f"Output: {X}", f"GPU: {a}"])
        g.node(sid(last, "lm_head"), "box", ["LM Head (vocab-parallel)", PR,
                                             f"Vocab shard: {V // TP} of {V} per rank",
                                             f"Input: {X}", f"Output: {LOGS}", f"GPU: {a}"])
        g.node(sid(last, "logits_allgather"), "ellipse", [f"All-Gather logits (TP={TP}, vocab dim)",
                                                          f"Input: {LOGS}", f"Output: {LOG}", f"GPU: {a}"])
        g.node(f"{P}output", "box", ["Output (logits)", f"Input: {LOG}", f"Output: {LOG}", f"GPU: {a}"])
        g.edge(entry, sid(last, "final_norm"))
        g.edge(sid(last, "final_norm"), sid(last, "lm_head"))
        g.edge(sid(last, "lm_head"), sid(last, "logits_allgather"))
        g.edge(sid(last, "logits_allgather"), f"{P}output")
    return g


def shapes(cname):
    """Shape strings of a config (used by the defect injectors)."""
    c = CONFIGS[cname]
    b, s, H, TP = c["batch"], c["seq"], c["hidden"], c["TP"]
    hr = c["heads"] // TP
    hd = c["head_dim"]
    out = dict(X=f"[batch={b}, seq={s}, hidden={H}]",
               QKV=f"[batch={b}, seq={s}, heads={hr}, head_dim={hd}]",
               SC=f"[batch={b}, heads={hr}, q_len={s}, kv_len={s}]")
    if c["moe"]:
        T, k, E = b * s, c["topk"], c["experts"]
        out.update(TOK=f"[tokens={T}, hidden={H}]", RT=f"[tokens={T}, top_k={k}]",
                   PE=f"[tokens_per_expert={T * k // E}, hidden={H}]", CB=f"[tokens={T}, top_k={k}, hidden={H}]")
    return out


ATTN_OPS = ["q_proj", "k_proj", "v_proj", "score", "softmax", "attn_wsum", "o_proj"]


# --------------------------------------------------------------------------- defects
# Each injector: (base clean file, category, function(g) -> (nodes, what)).
DEFECTS = {}
# Side effects that cannot be separated from the defect itself (recorded in the manifest).
NOTES = {
    "no_stage_transfer": "Inherent: the plain edges now cross GPUs (0-3 -> 16-19) without a communication node.",
    "no_all_to_all": "Inherent: gate (GPUs 0-3) -> experts on GPUs 4-15 are cross-GPU edges without a communication node.",
    "tp_rank_missing": "Inherent: the 3-GPU node sits between 4-GPU neighbours (GPU sets differ on its edges).",
    "placeholder": "Inherent: the '?' dimension cannot be compared with the neighbours' batch=4.",
    "stage_count": "The Total GPUs line is updated to 48 so that only the PP degree disagrees with the drawing.",
    "strategy_mismatch": "The Total GPUs line is updated to 64 so that only the TP degree disagrees with the drawing; "
                         "all node labels still say TP=4.",
    "gpu_out_of_range": "Inherent: GPUs 32-35 are also outside stage 1's GPUs 16-31.",
    "comm_wrong_shape": "Label still says All-Reduce; only the shape changed.",
}


def defect(kind, base, category):
    def deco(fn):
        DEFECTS[kind] = (base, category, fn)
        return fn
    return deco


# ---- structure
@defect("cycle", "clean_2", "structure")
def _cycle(g):
    g.edge("s0_l0_add1", "s0_l0_o_allreduce")
    return (["s0_l0_o_allreduce", "s0_l0_add1"],
            "The layer-0 TP all-reduce is drawn both ways (s0_l0_o_allreduce -> s0_l0_add1 and s0_l0_add1 -> "
            "s0_l0_o_allreduce), forming a cycle.")


@defect("dangling_input", "clean_3", "structure")
def _dangling_input(g):
    g.rm_edge("r0_s0_l0_norm1", "r0_s0_l0_k_proj")
    return (["r0_s0_l0_k_proj"],
            "Replica 0 layer-0 K projection has no incoming edge (the norm -> K edge was removed).")


@defect("dangling_output", "clean_2", "structure")
def _dangling_output(g):
    g.rm_edge("s1_l2_experts_ep3", "s1_l2_combine")
    return (["s1_l2_experts_ep3"],
            "Layer-2 experts of EP rank 3 have no outgoing edge: their output never reaches the all-to-all combine.")


@defect("moe_before_attention", "clean_2", "structure")
def _moe_before_attention(g):
    # Layer 1: stream -> norm2 -> MoE -> add2 -> norm1 -> attention -> add1 -> next stage
    for a, b in [("s0_l0_add2", "s0_l1_norm1"), ("s0_l0_add2", "s0_l1_add1"), ("s0_l1_add1", "s0_l1_norm2"),
                 ("s0_l1_add1", "s0_l1_add2"), ("s0_l1_add2", "s0_send_recv")]:
        g.rm_edge(a, b)
    g.edge("s0_l0_add2", "s0_l1_norm2")
    g.edge("s0_l0_add2", "s0_l1_add2")
    g.edge("s0_l1_add2", "s0_l1_norm1")
    g.edge("s0_l1_add2", "s0_l1_add1")
    g.edge("s0_l1_add1", "s0_send_recv")
    return (["s0_l1_norm2", "s0_l1_gate", "s0_l1_add2", "s0_l1_norm1", "s0_l1_add1"],
            "Layer 1 is wired MoE first (norm2 -> gate ... -> add2) and attention second (norm1 -> Q/K/V ... -> add1).")


@defect("missing_residual", "clean_1", "structure")
def _missing_residual(g):
    g.rm_edge("r1_s3_l3_add1", "r1_s3_l3_add2")
    return (["r1_s3_l3_add2"],
            "Replica 1 layer-3 MoE residual add is fed only by the MoE aggregate; the skip edge from add1 is removed.")


# ---- attention
@defect("attention_one_box", "clean_2", "attention")
def _attention_one_box(g):
    sh = shapes("clean_2")
    for op in ATTN_OPS:
        g.rm_node(f"s1_l2_{op}")
    g.node("s1_l2_mha", "box", ["Layer 2 Multi-Head Attention", "(per rank, TP=4)",
                                f"Input: {sh['X']}", f"Output: {sh['X']}", "Partial sums, all-reduced next",
                                "GPU: 16-19"])
    g.edge("s1_l2_norm1", "s1_l2_mha")
    g.edge("s1_l2_mha", "s1_l2_o_allreduce")
    return (["s1_l2_mha"], "Layer 2 attention is drawn as one 'Multi-Head Attention' box instead of Q/K/V, score, "
                           "softmax, weighted sum and output projection.")


@defect("v_bypasses_softmax", "clean_2", "attention")
def _v_bypasses_softmax(g):
    sh = shapes("clean_2")
    g.rm_edge("s0_l1_softmax", "s0_l1_attn_wsum")
    g.edge("s0_l1_softmax", "s0_l1_o_proj")
    g.set_key("s0_l1_attn_wsum", "Input", sh["QKV"])
    g.set_key("s0_l1_o_proj", "Input", f"{sh['QKV']}, {sh['SC']}")
    return (["s0_l1_v_proj", "s0_l1_softmax", "s0_l1_attn_wsum", "s0_l1_o_proj"],
            "Layer 1: V feeds the weighted sum but the softmax does not (it goes to the output projection instead).")


@defect("v_into_score", "clean_2", "attention")
def _v_into_score(g):
    sh = shapes("clean_2")
    g.edge("s1_l3_v_proj", "s1_l3_score")
    g.set_key("s1_l3_score", "Input", f"{sh['QKV']}, {sh['QKV']}, {sh['QKV']}")
    return (["s1_l3_v_proj", "s1_l3_score"], "Layer 3: the V projection is wired into the attention score (QK^T).")


@defect("qkv_into_oproj", "clean_2", "attention")
def _qkv_into_oproj(g):
    sh = shapes("clean_2")
    for op in ("score", "softmax", "attn_wsum"):
        g.rm_node(f"s0_l0_{op}")
    for p in ("q_proj", "k_proj", "v_proj"):
        g.edge(f"s0_l0_{p}", "s0_l0_o_proj")
    g.set_key("s0_l0_o_proj", "Input", f"{sh['QKV']}, {sh['QKV']}, {sh['QKV']}")
    return (["s0_l0_q_proj", "s0_l0_k_proj", "s0_l0_v_proj", "s0_l0_o_proj"],
            "Layer 0: Q, K and V go straight into the output projection; no score, softmax or weighted sum.")


@defect("head_arithmetic", "clean_3", "attention")
def _head_arithmetic(g):
    ids = [f"r0_s0_l1_{op}" for op in ATTN_OPS]
    g.sub(ids, "head_dim=128", "head_dim=96")
    g.sub(ids, "head_dim 128", "head_dim 96")
    return (ids, "Replica 0 layer 1 labels use head_dim 96 with 64 heads (8 per TP rank): 64 x 96 = 6144 != hidden 8192.")


@defect("tp_heads", "clean_1", "attention")
def _tp_heads(g):
    ids = [f"r0_s2_l2_{op}" for op in ATTN_OPS]
    g.sub(ids, "heads=4,", "heads=32,")
    g.sub(ids, "Heads: 4 of 32", "Heads: 32 of 32")
    return (ids, "Replica 0 layer 2: each TP8 rank's Q/K/V projection outputs all 32 heads instead of 32/8 = 4.")


# ---- shape
@defect("edge_shape_mismatch", "clean_2", "shape")
def _edge_shape_mismatch(g):
    g.set_key("s0_l1_softmax", "Input", "[batch=4, heads=4, q_len=256, kv_len=192]")
    return (["s0_l1_score", "s0_l1_softmax"],
            "Layer-1 softmax expects kv_len=192 but the score produces kv_len=256 (factor 0.75, not a parallel degree).")


@defect("shard_without_gather", "clean_2", "shape")
def _shard_without_gather(g):
    g.rm_node("s1_logits_allgather")
    g.edge("s1_lm_head", "output")
    return (["s1_lm_head", "output"],
            "The vocab-parallel LM head shard [.., vocab=8000] = 32000/TP4 reaches the full-size output "
            "[.., vocab=32000] without the all-gather.")


# ---- pipeline
@defect("stage_count", "clean_2", "pipeline")
def _stage_count(g):
    g.label = graph_label(CONFIGS["clean_2"], PP=3)
    return (["s0_begin", "s1_begin"], "The graph label declares PP3 (EP4-TP4-PP3-DP1, 48 GPUs) but two pipeline stages are drawn.")


@defect("stage_range_gap", "clean_2", "pipeline")
def _stage_range_gap(g):
    g.sub(["s1_begin"], "Layers 2-3", "Layers 3-3")
    return (["s0_begin", "s1_begin"], "Stage 0 claims layers 0-1 and stage 1 claims layers 3-3: layer 2 is in no stage's range.")


@defect("stage_missing_layer", "clean_2", "pipeline")
def _stage_missing_layer(g):
    for nid in [x for x in g.nodes if x.startswith("s1_l3_")]:
        g.rm_node(nid)
    g.edge("s1_l2_add2", "s1_final_norm")
    return (["s1_begin"], "Stage 1 claims layers 2-3 but layer 3 has no operator nodes (layer 2 feeds the final norm).")


@defect("no_stage_transfer", "clean_2", "pipeline")
def _no_stage_transfer(g):
    g.rm_node("s0_send_recv")
    g.edge("s0_l1_add2", "s1_begin")
    g.edge("s0_l1_add2", "s1_l2_add1")
    return (["s0_l1_add2", "s1_begin", "s1_l2_norm1", "s1_l2_add1"],
            "Stage 0 (GPUs 0-15) and stage 1 (GPUs 16-31) are joined by plain edges, without a send/recv node.")


# ---- expert
def _relabel_experts(g, nid, first, last, rank, count_line):
    lines = g.nodes[nid]["lines"]
    layer = lines[0].split()[1]
    lines[0] = f"Layer {layer} Experts {first}-{last} (EP rank {rank})"
    lines[1] = count_line


@defect("experts_subset_ranks", "clean_2", "expert")
def _experts_subset_ranks(g):
    g.rm_node("s0_l1_experts_ep2")
    g.rm_node("s0_l1_experts_ep3")
    _relabel_experts(g, "s0_l1_experts_ep0", 0, 7, 0, "8 experts, 2 per GPU, SwiGLU FFN 2048->1408->2048")
    _relabel_experts(g, "s0_l1_experts_ep1", 8, 15, 1, "8 experts, 2 per GPU, SwiGLU FFN 2048->1408->2048")
    return (["s0_l1_experts_ep0", "s0_l1_experts_ep1", "s0_l1_dispatch"],
            "Layer 1 places all 16 experts on EP ranks 0-1 only; EP ranks 2 and 3 (GPUs 8-15) hold no experts.")


@defect("experts_uneven", "clean_2", "expert")
def _experts_uneven(g):
    f = "SwiGLU FFN 2048->1408->2048"
    _relabel_experts(g, "s1_l3_experts_ep0", 0, 4, 0, f"5 experts over 4 GPUs, {f}")
    _relabel_experts(g, "s1_l3_experts_ep1", 5, 8, 1, f"4 experts, 1 per GPU, {f}")
    _relabel_experts(g, "s1_l3_experts_ep2", 9, 12, 2, f"4 experts, 1 per GPU, {f}")
    _relabel_experts(g, "s1_l3_experts_ep3", 13, 15, 3, f"3 experts over 4 GPUs, {f}")
    return (["s1_l3_experts_ep0", "s1_l3_experts_ep3"],
            "Layer 3 divides 16 experts 5/4/4/3 over the 4 EP ranks instead of 4 each.")


@defect("experts_share_gpu", "clean_1", "expert")
def _experts_share_gpu(g):
    g.set_key("r0_s1_l1_experts_ep3", "GPU", "84-91")
    return (["r0_s1_l1_experts_ep2", "r0_s1_l1_experts_ep3"],
            "Replica 0 layer 1: EP rank 3's experts are placed on GPUs 84-91, overlapping EP rank 2's GPUs 80-87.")


@defect("no_gate", "clean_2", "expert")
def _no_gate(g):
    sh = shapes("clean_2")
    g.rm_node("s1_l2_gate")
    g.edge("s1_l2_norm2", "s1_l2_dispatch")
    g.set_key("s1_l2_dispatch", "Input", sh["X"])
    g.set_key("s1_l2_moe_agg", "Input", sh["CB"])
    return (["s1_l2_dispatch", "s1_l2_experts_ep0", "s1_l2_experts_ep1", "s1_l2_experts_ep2", "s1_l2_experts_ep3"],
            "Layer 2 has no gate/router: the norm feeds the all-to-all dispatch and experts directly.")


@defect("no_all_to_all", "clean_2", "expert")
def _no_all_to_all(g):
    sh = shapes("clean_2")
    g.rm_node("s0_l0_dispatch")
    for e in range(4):
        g.edge("s0_l0_gate", f"s0_l0_experts_ep{e}", style="dashed")
    g.set_key("s0_l0_gate", "Output", f"{sh['PE']}, {sh['RT']}")
    return (["s0_l0_gate", "s0_l0_experts_ep0", "s0_l0_experts_ep1", "s0_l0_experts_ep2", "s0_l0_experts_ep3"],
            "Layer 0: the gate sends tokens straight to the experts of all 4 EP ranks, without an all-to-all dispatch.")


# ---- tensor
@defect("tp_rank_missing", "clean_2", "tensor")
def _tp_rank_missing(g):
    g.set_key("s0_l1_q_proj", "GPU", "0-2")
    return (["s0_l1_q_proj"], "Layer-1 Q projection (TP=4, per-rank shapes) is placed on GPUs 0-2 only: TP rank 3 (GPU 3) is missing.")


@defect("no_allreduce_after_rowparallel", "clean_3", "tensor")
def _no_allreduce(g):
    g.rm_node("r0_s0_l0_mlp_allreduce")
    g.edge("r0_s0_l0_mlp_down_proj", "r0_s0_l0_add2")
    return (["r0_s0_l0_mlp_down_proj", "r0_s0_l0_add2"],
            "Replica 0 layer 0: the row-parallel MLP down projection's partial sums go straight into the residual add.")


# ---- communication
@defect("cross_gpu_no_comm", "clean_2", "communication")
def _cross_gpu_no_comm(g):
    g.rm_edge("s0_send_recv", "s1_l2_add1")
    g.edge("s0_l1_add2", "s1_l2_add1")
    return (["s0_l1_add2", "s1_l2_add1"],
            "The layer-2 residual skip edge goes directly from s0_l1_add2 (GPUs 0-3) to s1_l2_add1 (GPUs 16-19).")


@defect("comm_wrong_shape", "clean_2", "communication")
def _comm_wrong_shape(g):
    g.nodes["s1_l3_o_allreduce"]["shape"] = "box"
    return (["s1_l3_o_allreduce"], "The layer-3 TP all-reduce is drawn as a box instead of an ellipse.")


# ---- gpu
@defect("missing_gpu", "clean_3", "gpu")
def _missing_gpu(g):
    g.set_key("r1_s1_l2_softmax", "GPU", None)
    return (["r1_s1_l2_softmax"], "Replica 1 layer-2 softmax has no GPU placement line.")


@defect("gpu_out_of_range", "clean_2", "gpu")
def _gpu_out_of_range(g):
    g.set_key("s1_l3_experts_ep3", "GPU", "32-35")
    return (["s1_l3_experts_ep3"], "Layer-3 EP rank 3 experts are placed on GPUs 32-35; the strategy has 32 GPUs (0-31).")


@defect("stages_share_gpus", "clean_3", "gpu")
def _stages_share_gpus(g):
    ids = [x for x in g.nodes if x.startswith("r0_s1_")] + ["r0_output"]
    g.sub(ids, "GPU: 8-15", "GPU: 4-11")
    g.sub(["r0_s1_begin"], "GPUs 8-15", "GPUs 4-11")
    g.sub(["r0_s0_send_recv"], "→ 8-15", "→ 4-11")
    return (["r0_s0_begin", "r0_s1_begin"],
            "Replica 0 stage 1 is placed on GPUs 4-11, overlapping stage 0's GPUs 0-7.")


# ---- strategy
@defect("strategy_mismatch", "clean_2", "strategy")
def _strategy_mismatch(g):
    g.label = graph_label(CONFIGS["clean_2"], TP=8)
    return ([], "The graph label declares TP8 (EP4-TP8-PP2-DP1, 64 GPUs) but every TP group drawn has 4 ranks.")


# ---- annotation
@defect("missing_shapes", "clean_2", "annotation")
def _missing_shapes(g):
    g.set_key("s1_l2_v_proj", "Input", None)
    g.set_key("s1_l2_v_proj", "Output", None)
    return (["s1_l2_v_proj"], "Layer-2 V projection carries no Input or Output shape.")


@defect("placeholder", "clean_2", "annotation")
def _placeholder(g):
    g.set_key("s1_final_norm", "Input", "[batch=?, seq=256, hidden=2048]")
    g.set_key("s1_final_norm", "Output", "[batch=?, seq=256, hidden=2048]")
    return (["s1_final_norm"], "The final norm's shapes use a placeholder batch dimension 'batch=?'.")


# --------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    what_clean = {
        "clean_1": "Clean MoE DAG, EP8-TP8-PP4-DP2 (512 GPUs), 4 layers one per stage, 64 experts, both DP replicas drawn.",
        "clean_2": "Clean MoE DAG, EP4-TP4-PP2-DP1 (32 GPUs), 4 layers two per stage, 16 experts.",
        "clean_3": "Clean dense DAG, TP8-PP2-DP4 (64 GPUs), 4 layers two per stage, all 4 DP replicas drawn.",
    }
    for name, c in CONFIGS.items():
        with open(os.path.join(OUT, f"{name}.dot"), "w") as fh:
            fh.write(build(c).to_dot())
        manifest.append({"file": f"{name}.dot", "kind": "clean", "category": "", "nodes": [],
                         "what": what_clean[name], "base": name})
    for kind, (base, cat, fn) in DEFECTS.items():
        g = build(CONFIGS[base])
        nodes, what = fn(g)
        for nid in nodes:
            assert nid in g.nodes, (kind, nid)
        with open(os.path.join(OUT, f"defect_{kind}.dot"), "w") as fh:
            fh.write(g.to_dot())
        manifest.append({"file": f"defect_{kind}.dot", "kind": kind, "category": cat, "nodes": nodes,
                         "what": what, "base": base, **({"note": NOTES[kind]} if kind in NOTES else {})})
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
    print(f"wrote {len(manifest) - 1} files to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
