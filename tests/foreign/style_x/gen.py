#!/usr/bin/env python3
"""House style X: DeepSeek-V3-like MoE deployment DAGs (MLA attention + shared expert).

Writes into ./out (next to this script):
  clean_1.dot, clean_2.dot, clean_3.dot   -- correct DAGs, three strategies
  defect_<kind>.dot                        -- one clean DAG with exactly one injected defect
  manifest.json                            -- what each file is / where the defect is

Stdlib only.  Run:  python3 gen.py

Model (same for every file):
  hidden 2048, 16 attention heads, MLA with q_lora_rank 768, kv_lora_rank 256,
  qk_nope_head_dim 96 + qk_rope_head_dim 32 = qk head_dim 128, v_head_dim 128
  (so heads x head_dim = 16 x 128 = 2048 = hidden for q, k and v alike),
  vocab 32000, dense MLP intermediate 3072 (layer 0 only), 16 routed experts top-4
  + 1 shared expert (expert intermediate 1408) on layers >= 1.
  batch 4 (per DP replica), seq 128.
"""
import copy
import json
import os
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")

# ---------------------------------------------------------------- model sizes
BATCH = 4
SEQ = 128
HIDDEN = 2048
HEADS = 16
Q_LORA = 768
KV_LORA = 256
NOPE = 96
ROPE = 32
QK_HEAD = NOPE + ROPE  # 128
V_HEAD = 128
VOCAB = 32000
FFN_DENSE = 3072
EXPERT_FFN = 1408
N_EXPERTS = 16
TOPK = 4

assert HEADS * QK_HEAD == HIDDEN and HEADS * V_HEAD == HIDDEN


def sh(**dims):
    return "[" + ", ".join(f"{k}={v}" for k, v in dims.items()) + "]"


def s_tok():
    return sh(batch=BATCH, seq=SEQ)


def s_hid(h=HIDDEN):
    return sh(batch=BATCH, seq=SEQ, hidden=h)


def s_heads(nh, hd=QK_HEAD):
    return sh(batch=BATCH, seq=SEQ, heads=nh, head_dim=hd)


def s_scores(nh):
    return sh(batch=BATCH, heads=nh, q_len=SEQ, kv_len=SEQ)


def s_expert():
    return sh(tokens=BATCH * SEQ * TOPK // N_EXPERTS, hidden=HIDDEN)


# ---------------------------------------------------------------- graph model
class Graph:
    def __init__(self, name, label):
        self.name = name
        self.label = label
        self.nodes = OrderedDict()      # id -> dict(shape, op, inp, out, gpu, cluster)
        self.edges = []                 # [src, dst, attrs]
        self.clusters = OrderedDict()   # cluster id -> label

    # -- building
    def node(self, nid, shape, op, inp=None, out=None, gpu=None, cluster=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(shape=shape, op=op, inp=list(inp or []),
                               out=list(out or []), gpu=gpu, cluster=cluster)
        return nid

    def edge(self, a, b, **attrs):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append([a, b, dict(attrs)])

    # -- editing (for defects)
    def has_edge(self, a, b):
        return any(e[0] == a and e[1] == b for e in self.edges)

    def del_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def del_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in (e[0], e[1])]

    def preds(self, nid):
        return [e[0] for e in self.edges if e[1] == nid]

    def succs(self, nid):
        return [e[1] for e in self.edges if e[0] == nid]

    def rename(self, old, new):
        items = list(self.nodes.items())
        self.nodes = OrderedDict((new if k == old else k, v) for k, v in items)
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    # -- output
    def label_of(self, n):
        lines = [n["op"]]
        if n["inp"]:
            lines.append("Input: " + ", ".join(n["inp"]))
        if n["out"]:
            lines.append("Output: " + ", ".join(n["out"]))
        if n["gpu"] is not None:
            lines.append(f"GPU: {n['gpu']}")
        return "\\n".join(lines)

    def node_line(self, nid, n, indent):
        fill = {"box": "lightblue", "ellipse": "lightyellow",
                "parallelogram": "lightgreen"}.get(n["shape"], "white")
        lab = self.label_of(n).replace('"', '\\"')
        return f'{indent}{nid} [shape={n["shape"]}, style=filled, fillcolor={fill}, label="{lab}"];'

    def to_dot(self):
        out = ["// house style X: DeepSeek-V3-like MoE (MLA attention, shared + routed experts); written by gen.py",
               f"digraph {self.name} {{",
               f'  graph [label="{self.label}", labelloc=t, rankdir=TB, fontsize=14];',
               "  node [fontsize=9];",
               "  edge [fontsize=8];"]
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(self.node_line(nid, n, "  "))
        for cid, clabel in self.clusters.items():
            members = [(k, v) for k, v in self.nodes.items() if v["cluster"] == cid]
            out.append(f"  subgraph {cid} {{")
            out.append(f'    label="{clabel}";')
            out.append("    style=rounded;")
            for nid, n in members:
                out.append(self.node_line(nid, n, "    "))
            out.append("  }")
        for a, b, attrs in self.edges:
            at = ""
            if attrs:
                at = " [" + ", ".join(f"{k}={v}" for k, v in attrs.items()) + "]"
            out.append(f"  {a} -> {b}{at};")
        out.append("}")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------- builder
def gpu_range(a, b):
    return str(a) if a == b else f"{a}-{b}"


def build(name, ep, tp, pp, dp, n_layers, dense_layers=(0,)):
    strategy = f"EP{ep}-TP{tp}-PP{pp}-DP{dp}"
    g = Graph("deepseek_mla_moe", f"DeepSeek-style MoE, {strategy}")
    g.meta = dict(ep=ep, tp=tp, pp=pp, dp=dp, layers=n_layers, name=name)
    assert HEADS % tp == 0 and n_layers % pp == 0 and N_EXPERTS % ep == 0
    nh = HEADS // tp                       # heads per TP rank
    kvb = nh * (NOPE + V_HEAD)             # kv_b_proj output width per TP rank
    per_stage = n_layers // pp
    gpus_per_stage = ep * tp
    e_per_rank = N_EXPERTS // ep

    for d in range(dp):
        P = f"dp{d}_" if dp > 1 else ""

        def base(s):
            return (d * pp + s) * gpus_per_stage

        def tp_gpu(s, r):
            return base(s) + r

        def stage_gpus(s):
            return gpu_range(base(s), base(s) + gpus_per_stage - 1)

        def tp_gpus(s):
            return gpu_range(tp_gpu(s, 0), tp_gpu(s, tp - 1))

        clusters = []
        for s in range(pp):
            cid = f"cluster_{P}stage{s}"
            lo, hi = s * per_stage, (s + 1) * per_stage - 1
            pre = f"DP Replica {d}, " if dp > 1 else ""
            g.clusters[cid] = f"{pre}PP Stage {s}: Layers {lo}-{hi} (GPUs {stage_gpus(s)})"
            clusters.append(cid)

        # ---- input + hidden-sharded embedding + all-gather
        c0 = clusters[0]
        inp = g.node(f"{P}input", "box", "Input (token ids)", [s_tok()], [s_tok()], tp_gpu(0, 0))
        bc = g.node(f"{P}input_broadcast", "ellipse", "broadcast token ids (TP group)",
                    [s_tok()], [s_tok()], tp_gpus(0), c0)
        g.edge(inp, bc)
        emb_ag = g.node(f"{P}embed_allgather", "ellipse", "tp all-gather (embedding)",
                        [s_hid(HIDDEN // tp)], [s_hid()], tp_gpus(0), c0)
        for r in range(tp):
            e = g.node(f"{P}embed_tp{r}", "box", "embedding (hidden-sharded, column slice)",
                       [s_tok()], [s_hid(HIDDEN // tp)], tp_gpu(0, r), c0)
            g.edge(bc, e)
            g.edge(e, emb_ag)
        stream = {r: emb_ag for r in range(tp)}

        for L in range(n_layers):
            s = L // per_stage
            c = clusters[s]
            if L > 0 and L % per_stage == 0:
                # pipeline transfer from stage s-1 to stage s
                for r in range(tp):
                    sr = g.node(f"{P}pp{s-1}_to_pp{s}_sendrecv_tp{r}", "ellipse",
                                f"send/recv (PP{s-1} → PP{s})", [s_hid()], [s_hid()],
                                f"{tp_gpu(s-1, r)},{tp_gpu(s, r)}")
                    g.edge(stream[r], sr)
                    stream[r] = sr
            p = f"{P}l{L}_"
            # ---------------- attention (MLA)
            ar = g.node(f"{p}attn_allreduce", "ellipse", "tp all-reduce",
                        [s_hid()], [s_hid()], tp_gpus(s), c)
            for r in range(tp):
                gp = tp_gpu(s, r)
                t = f"_tp{r}"
                ln = g.node(f"{p}input_layernorm{t}", "box", "input_layernorm", [s_hid()], [s_hid()], gp, c)
                qa = g.node(f"{p}q_a_proj{t}", "box", "q_a_proj (replicated)", [s_hid()],
                            [sh(batch=BATCH, seq=SEQ, q_lora_rank=Q_LORA)], gp, c)
                qaln = g.node(f"{p}q_a_layernorm{t}", "box", "q_a_layernorm",
                              [sh(batch=BATCH, seq=SEQ, q_lora_rank=Q_LORA)],
                              [sh(batch=BATCH, seq=SEQ, q_lora_rank=Q_LORA)], gp, c)
                qb = g.node(f"{p}q_b_proj{t}", "box", "q_b_proj (column-parallel)",
                            [sh(batch=BATCH, seq=SEQ, q_lora_rank=Q_LORA)], [s_heads(nh)], gp, c)
                rq = g.node(f"{p}rope_q{t}", "box", "rope (q)", [s_heads(nh)], [s_heads(nh)], gp, c)
                kva = g.node(f"{p}kv_a_proj_with_mqa{t}", "box", "kv_a_proj_with_mqa (replicated)",
                             [s_hid()], [sh(batch=BATCH, seq=SEQ, kv_a_dim=KV_LORA + ROPE)], gp, c)
                kvs = g.node(f"{p}kv_a_split{t}", "parallelogram", "split (kv latent | k rope)",
                             [sh(batch=BATCH, seq=SEQ, kv_a_dim=KV_LORA + ROPE)],
                             [sh(batch=BATCH, seq=SEQ, kv_lora_rank=KV_LORA),
                              sh(batch=BATCH, seq=SEQ, rope_dim=ROPE)], gp, c)
                kvln = g.node(f"{p}kv_a_layernorm{t}", "box", "kv_a_layernorm",
                              [sh(batch=BATCH, seq=SEQ, kv_lora_rank=KV_LORA)],
                              [sh(batch=BATCH, seq=SEQ, kv_lora_rank=KV_LORA)], gp, c)
                rk = g.node(f"{p}rope_k{t}", "box", "rope (k)",
                            [sh(batch=BATCH, seq=SEQ, rope_dim=ROPE)],
                            [sh(batch=BATCH, seq=SEQ, rope_dim=ROPE)], gp, c)
                kvbp = g.node(f"{p}kv_b_proj{t}", "box", "kv_b_proj (column-parallel)",
                              [sh(batch=BATCH, seq=SEQ, kv_lora_rank=KV_LORA)],
                              [sh(batch=BATCH, seq=SEQ, kv_b_dim=kvb)], gp, c)
                kc = g.node(f"{p}k_concat{t}", "parallelogram", "k = concat(k_nope, rope k)",
                            [sh(batch=BATCH, seq=SEQ, kv_b_dim=kvb), sh(batch=BATCH, seq=SEQ, rope_dim=ROPE)],
                            [s_heads(nh)], gp, c)
                vs = g.node(f"{p}v_slice{t}", "parallelogram", "v = slice(kv_b_proj)",
                            [sh(batch=BATCH, seq=SEQ, kv_b_dim=kvb)], [s_heads(nh, V_HEAD)], gp, c)
                sc = g.node(f"{p}attn_scores{t}", "box", "attn scores (q·k)",
                            [s_heads(nh), s_heads(nh)], [s_scores(nh)], gp, c)
                sm = g.node(f"{p}softmax{t}", "box", "softmax", [s_scores(nh)], [s_scores(nh)], gp, c)
                av = g.node(f"{p}attn_v{t}", "box", "attn x v", [s_scores(nh), s_heads(nh, V_HEAD)],
                            [s_heads(nh, V_HEAD)], gp, c)
                op = g.node(f"{p}o_proj{t}", "box", "o_proj (row-parallel)", [s_heads(nh, V_HEAD)],
                            [s_hid()], gp, c)
                g.edge(stream[r], ln)
                g.edge(ln, qa); g.edge(qa, qaln); g.edge(qaln, qb); g.edge(qb, rq)
                g.edge(ln, kva); g.edge(kva, kvs); g.edge(kvs, kvln); g.edge(kvs, rk)
                g.edge(kvln, kvbp); g.edge(kvbp, kc); g.edge(rk, kc); g.edge(kvbp, vs)
                g.edge(rq, sc); g.edge(kc, sc); g.edge(sc, sm)
                g.edge(sm, av); g.edge(vs, av); g.edge(av, op); g.edge(op, ar)
            for r in range(tp):
                res = g.node(f"{p}attn_residual_tp{r}", "box", "residual add",
                             [s_hid(), s_hid()], [s_hid()], tp_gpu(s, r), c)
                g.edge(ar, res)
                g.edge(stream[r], res)
                stream[r] = res
            # ---------------- FFN: dense MLP or MoE
            plns = {}
            for r in range(tp):
                plns[r] = g.node(f"{p}post_attention_layernorm_tp{r}", "box", "post_attention_layernorm",
                                 [s_hid()], [s_hid()], tp_gpu(s, r), c)
                g.edge(stream[r], plns[r])
            if L in dense_layers:
                ffn = FFN_DENSE // tp
                mar = g.node(f"{p}mlp_allreduce", "ellipse", "tp all-reduce", [s_hid()], [s_hid()], tp_gpus(s), c)
                for r in range(tp):
                    gp = tp_gpu(s, r)
                    up = g.node(f"{p}mlp_up_proj_tp{r}", "box", "up_proj (fused w1|w3, column-parallel)",
                                [s_hid()], [sh(batch=BATCH, seq=SEQ, ffn_x2=2 * ffn)], gp, c)
                    act = g.node(f"{p}mlp_act_tp{r}", "box", "act (silu(x1) * x3)",
                                 [sh(batch=BATCH, seq=SEQ, ffn_x2=2 * ffn)], [sh(batch=BATCH, seq=SEQ, ffn=ffn)], gp, c)
                    dn = g.node(f"{p}mlp_down_proj_tp{r}", "box", "down_proj (row-parallel)",
                                [sh(batch=BATCH, seq=SEQ, ffn=ffn)], [s_hid()], gp, c)
                    g.edge(plns[r], up); g.edge(up, act); g.edge(act, dn); g.edge(dn, mar)
                ffn_out = {r: mar for r in range(tp)}
            else:
                gate = g.node(f"{p}gate", "parallelogram", f"gate (sigmoid, top-{TOPK} of {N_EXPERTS} routed)",
                              [s_hid()], [s_hid(), sh(batch=BATCH, seq=SEQ, top_k=TOPK)], tp_gpu(s, 0), c)
                g.edge(plns[0], gate)
                disp = g.node(f"{p}dispatch", "ellipse", "all-to-all dispatch",
                              [s_hid(), sh(batch=BATCH, seq=SEQ, top_k=TOPK)], [s_expert()], stage_gpus(s), c)
                g.edge(gate, disp, style="dashed")
                comb = g.node(f"{p}combine", "ellipse", "all-to-all combine",
                              [s_expert()], [s_hid()], stage_gpus(s), c)
                for j in range(N_EXPERTS):
                    e, i = divmod(j, e_per_rank)
                    gpu = base(s) + e * tp + (i % tp)
                    x = g.node(f"{p}routed{j}_ep{e}", "box", f"routed expert {j}",
                               [s_expert()], [s_expert()], gpu, c)
                    g.edge(disp, x)
                    g.edge(x, comb)
                sar = g.node(f"{p}shared_allreduce", "ellipse", "tp all-reduce (shared expert)",
                             [s_hid()], [s_hid()], tp_gpus(s), c)
                for r in range(tp):
                    se = g.node(f"{p}shared_expert_tp{r}", "box", "shared_expert (column/row-parallel)",
                                [s_hid()], [s_hid()], tp_gpu(s, r), c)
                    g.edge(plns[r], se)
                    g.edge(se, sar)
                ffn_out = {}
                for r in range(tp):
                    sm_ = g.node(f"{p}moe_sum_tp{r}", "parallelogram", "routed + shared sum",
                                 [s_hid(), s_hid()], [s_hid()], tp_gpu(s, r), c)
                    g.edge(comb, sm_)
                    g.edge(sar, sm_)
                    ffn_out[r] = sm_
            for r in range(tp):
                res = g.node(f"{p}mlp_residual_tp{r}", "box", "residual add",
                             [s_hid(), s_hid()], [s_hid()], tp_gpu(s, r), c)
                g.edge(ffn_out[r], res)
                g.edge(stream[r], res)
                stream[r] = res

        # ---- final norm, vocab-parallel LM head, logits all-gather, output
        s = pp - 1
        c = clusters[s]
        lag = g.node(f"{P}logits_allgather", "ellipse", "tp all-gather (logits)",
                     [sh(batch=BATCH, seq=SEQ, vocab=VOCAB // tp)], [sh(batch=BATCH, seq=SEQ, vocab=VOCAB)],
                     tp_gpus(s), c)
        for r in range(tp):
            fn = g.node(f"{P}final_norm_tp{r}", "box", "final norm", [s_hid()], [s_hid()], tp_gpu(s, r), c)
            lm = g.node(f"{P}lm_head_tp{r}", "box", "lm_head (vocab-parallel)", [s_hid()],
                        [sh(batch=BATCH, seq=SEQ, vocab=VOCAB // tp)], tp_gpu(s, r), c)
            g.edge(stream[r], fn); g.edge(fn, lm); g.edge(lm, lag)
        o = g.node(f"{P}output", "box", "Output (logits)", [sh(batch=BATCH, seq=SEQ, vocab=VOCAB)],
                   [sh(batch=BATCH, seq=SEQ, vocab=VOCAB)], tp_gpu(s, 0))
        g.edge(lag, o)
    return g


# ---------------------------------------------------------------- self check of clean graphs
COMM = "ellipse"
SHAPE_FREE = ("ellipse", "parallelogram")


def gpus_of(spec):
    out = set()
    if spec is None:
        return out
    for part in str(spec).split(","):
        if "-" in part:
            a, b = part.split("-")
            out |= set(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def self_check(g):
    """Checks what the brief asks us to verify by reading; raises on a problem."""
    probs = []
    n_gpus = g.meta["ep"] * g.meta["tp"] * g.meta["pp"] * g.meta["dp"]
    indeg = {k: 0 for k in g.nodes}
    outdeg = {k: 0 for k in g.nodes}
    for a, b, _ in g.edges:
        outdeg[a] += 1
        indeg[b] += 1
        na, nb = g.nodes[a], g.nodes[b]
        # shapes: producer output must be one of consumer inputs unless either side is comm/split/combine
        if na["shape"] not in SHAPE_FREE and nb["shape"] not in SHAPE_FREE:
            if not set(na["out"]) & set(nb["inp"]):
                probs.append(f"shape {a}->{b}: {na['out']} vs {nb['inp']}")
        if na["shape"] == "parallelogram" and nb["shape"] not in SHAPE_FREE:
            if not set(na["out"]) & set(nb["inp"]):
                probs.append(f"shape {a}->{b}: {na['out']} vs {nb['inp']}")
        if nb["shape"] == "parallelogram" and na["shape"] not in SHAPE_FREE:
            if not set(na["out"]) & set(nb["inp"]):
                probs.append(f"shape {a}->{b}: {na['out']} vs {nb['inp']}")
        # cross-GPU edge needs a comm node at one end
        if na["shape"] != COMM and nb["shape"] != COMM:
            if gpus_of(na["gpu"]) != gpus_of(nb["gpu"]):
                probs.append(f"cross-gpu {a}({na['gpu']})->{b}({nb['gpu']})")
    for k, n in g.nodes.items():
        if n["gpu"] is None or not n["inp"] or not n["out"]:
            probs.append(f"annot {k}")
        if n["gpu"] is not None and max(gpus_of(n["gpu"])) >= n_gpus:
            probs.append(f"gpu range {k}")
        if indeg[k] == 0 and not k.endswith("input"):
            probs.append(f"no input edge {k}")
        if outdeg[k] == 0 and not k.endswith("output"):
            probs.append(f"no output edge {k}")
    # acyclic
    indeg2 = dict(indeg)
    q = [k for k, v in indeg2.items() if v == 0]
    seen = 0
    succ = {}
    for a, b, _ in g.edges:
        succ.setdefault(a, []).append(b)
    while q:
        k = q.pop()
        seen += 1
        for b in succ.get(k, []):
            indeg2[b] -= 1
            if indeg2[b] == 0:
                q.append(b)
    if seen != len(g.nodes):
        probs.append("cycle")
    if probs:
        raise SystemExit("self-check failed for %s:\n  " % g.meta["name"] + "\n  ".join(probs))


# ---------------------------------------------------------------- defects
def d_cycle(g):
    g.edge("l1_combine", "l1_routed5_ep1")
    return ["l1_combine", "l1_routed5_ep1"], \
        "Edge l1_combine -> l1_routed5_ep1 added next to l1_routed5_ep1 -> l1_combine: the all-to-all combine is drawn both ways, a cycle."


def d_dangling_input(g):
    g.del_edge("l1_input_layernorm_tp0", "l1_kv_a_proj_with_mqa_tp0")
    return ["l1_kv_a_proj_with_mqa_tp0"], \
        "l1_kv_a_proj_with_mqa_tp0 has no incoming edge (its edge from l1_input_layernorm_tp0 was removed)."


def d_dangling_output(g):
    g.del_edge("l1_rope_k_tp0", "l1_k_concat_tp0")
    return ["l1_rope_k_tp0"], \
        "l1_rope_k_tp0 has no outgoing edge (its edge into l1_k_concat_tp0 was removed), its output goes nowhere."


def d_attention_one_box(g):
    L, tp = 1, g.meta["tp"]
    ops = ["q_a_proj", "q_a_layernorm", "q_b_proj", "rope_q", "kv_a_proj_with_mqa", "kv_a_split",
           "kv_a_layernorm", "rope_k", "kv_b_proj", "k_concat", "v_slice", "attn_scores", "softmax",
           "attn_v", "o_proj"]
    ids = []
    for r in range(tp):
        ref = g.nodes[f"l{L}_o_proj_tp{r}"]
        for o in ops:
            g.del_node(f"l{L}_{o}_tp{r}")
        nid = g.node(f"l{L}_attention_tp{r}", "box", "Multi-Head Attention", [s_hid()], [s_hid()],
                     ref["gpu"], ref["cluster"])
        g.edge(f"l{L}_input_layernorm_tp{r}", nid)
        g.edge(nid, f"l{L}_attn_allreduce")
        ids.append(nid)
    return ids, "Layer 1's attention on each TP rank is drawn as one 'Multi-Head Attention' box instead of the MLA operators."


def d_v_bypasses_softmax(g):
    g.del_edge("l1_softmax_tp0", "l1_attn_v_tp0")
    g.edge("l1_softmax_tp0", "l1_o_proj_tp0")
    n = g.nodes["l1_o_proj_tp0"]
    n["inp"] = n["inp"] + [g.nodes["l1_softmax_tp0"]["out"][0]]
    return ["l1_attn_v_tp0", "l1_softmax_tp0", "l1_v_slice_tp0"], \
        "In layer 1 TP rank 0 the softmax goes to o_proj instead of 'attn x v', so 'attn x v' is fed by V alone (V bypasses the probabilities)."


def d_v_into_score(g):
    g.del_edge("l1_k_concat_tp1", "l1_attn_scores_tp1")
    g.del_edge("l1_v_slice_tp1", "l1_attn_v_tp1")
    g.edge("l1_v_slice_tp1", "l1_attn_scores_tp1")
    g.edge("l1_k_concat_tp1", "l1_attn_v_tp1")
    return ["l1_attn_scores_tp1", "l1_v_slice_tp1", "l1_k_concat_tp1", "l1_attn_v_tp1"], \
        "In layer 1 TP rank 1, V (l1_v_slice_tp1) is wired into the score and K into 'attn x v' (K and V swapped)."


def d_qkv_into_oproj(g):
    tp = g.meta["tp"]
    L = 2
    ids = []
    for r in range(tp):
        for o in ("attn_scores", "softmax", "attn_v"):
            g.del_node(f"l{L}_{o}_tp{r}")
        op = f"l{L}_o_proj_tp{r}"
        for src in ("rope_q", "k_concat", "v_slice"):
            g.edge(f"l{L}_{src}_tp{r}", op)
        ids.append(op)
    return ids, "Layer 2's q, k and v go straight into o_proj on every TP rank: score, softmax and 'attn x v' are missing."


def _retag_heads(g, ids, nh_from, nh_to=None, hd_from=None, hd_to=None):
    def fix(s):
        if nh_to is not None:
            s = s.replace(f"heads={nh_from},", f"heads={nh_to},")
        if hd_to is not None:
            s = s.replace(f"head_dim={hd_from}]", f"head_dim={hd_to}]")
        return s
    for k in ids:
        n = g.nodes[k]
        n["inp"] = [fix(x) for x in n["inp"]]
        n["out"] = [fix(x) for x in n["out"]]


def d_head_arithmetic(g):
    # clean_3 (DP2, TP4: 4 heads per rank).  Replica 0, layer 1: head_dim 128 -> 96 everywhere in the layer's
    # attention (all ranks), so edges still agree but heads x head_dim = 16 x 96 = 1536 != hidden 2048.
    tp = g.meta["tp"]
    ids = []
    for r in range(tp):
        for o in ("q_b_proj", "rope_q", "k_concat", "v_slice", "attn_scores", "attn_v", "o_proj"):
            ids.append(f"dp0_l1_{o}_tp{r}")
    _retag_heads(g, ids, None, hd_from=128, hd_to=96)
    return [f"dp0_l1_q_b_proj_tp{r}" for r in range(tp)], \
        "Replica 0 layer 1's attention labels give head_dim=96 with 16 heads (4 per TP4 rank): 16 x 96 = 1536 != hidden 2048."


def d_tp_heads(g):
    # clean_3: TP4 -> 4 heads per rank; replica 0 layer 0, TP rank 2 projects all 16 heads.
    nh = HEADS // g.meta["tp"]
    p = "dp0_l0_"
    ids = [p + o + "_tp2" for o in ("q_b_proj", "rope_q", "k_concat", "v_slice", "attn_scores", "softmax",
                                    "attn_v", "o_proj")]
    _retag_heads(g, ids, nh, nh_to=HEADS)
    for s_ in ("attn_scores", "softmax", "attn_v"):
        n = g.nodes[p + s_ + "_tp2"]
        n["inp"] = [x.replace(f"heads={nh},", f"heads={HEADS},") for x in n["inp"]]
        n["out"] = [x.replace(f"heads={nh},", f"heads={HEADS},") for x in n["out"]]
    full_kvb = HEADS * (NOPE + V_HEAD)
    part_kvb = nh * (NOPE + V_HEAD)
    for k in (p + "kv_b_proj_tp2", p + "k_concat_tp2", p + "v_slice_tp2"):
        n = g.nodes[k]
        n["inp"] = [x.replace(f"kv_b_dim={part_kvb}]", f"kv_b_dim={full_kvb}]") for x in n["inp"]]
        n["out"] = [x.replace(f"kv_b_dim={part_kvb}]", f"kv_b_dim={full_kvb}]") for x in n["out"]]
    return [p + "q_b_proj_tp2", p + "kv_b_proj_tp2"], \
        "Replica 0 layer 0, TP rank 2 of TP4: q_b_proj/kv_b_proj output all 16 heads instead of 16/4 = 4 heads."


def d_edge_shape_mismatch(g):
    n = g.nodes["l1_post_attention_layernorm_tp0"]
    n["inp"] = [s_hid(1536)]
    return ["l1_post_attention_layernorm_tp0", "l1_attn_residual_tp0"], \
        "l1_post_attention_layernorm_tp0 declares Input hidden=1536 while its producer l1_attn_residual_tp0 outputs hidden=2048 (ratio 4/3, not a parallel degree)."


def d_shard_without_gather(g):
    tp = g.meta["tp"]
    g.del_node("embed_allgather")
    for r in range(tp):
        g.edge(f"embed_tp{r}", f"l0_input_layernorm_tp{r}")
        g.edge(f"embed_tp{r}", f"l0_attn_residual_tp{r}")
    return [f"embed_tp{r}" for r in range(tp)] + [f"l0_input_layernorm_tp{r}" for r in range(tp)], \
        "The embedding's hidden/TP shard (hidden=1024 = 2048/TP2) reaches l0_input_layernorm and the layer-0 residual add (full hidden 2048) with no all-gather."


def d_stage_count(g):
    g.label = g.label.replace("PP2", "PP3")
    return [], "The graph label declares PP3 but only two pipeline stages are drawn."


def d_stage_range_gap(g):
    cid = "cluster_stage1"
    g.clusters[cid] = g.clusters[cid].replace("Layers 2-3", "Layers 3-3")
    return [], "Stage labels claim layers 0-1 and 3-3: layer 2 is claimed by no stage (gap), though its operators are drawn in stage 1."


def d_stage_missing_layer(g):
    tp = g.meta["tp"]
    for k in [k for k in g.nodes if k.startswith("l3_")]:
        g.del_node(k)
    for r in range(tp):
        g.edge(f"l2_mlp_residual_tp{r}", f"final_norm_tp{r}")
    return [], \
        "Stage 1 still claims 'Layers 2-3' but layer 3's operators are not drawn (layer 2 feeds the final norm directly)."


def d_no_stage_transfer(g):
    tp = g.meta["tp"]
    ids = []
    for r in range(tp):
        sr = f"pp0_to_pp1_sendrecv_tp{r}"
        srcs, dsts = g.preds(sr), g.succs(sr)
        g.del_node(sr)
        for a in srcs:
            for b in dsts:
                g.edge(a, b)
        ids += srcs + dsts
    return ids, "Stage 0 (layer 1) is joined to stage 1 (layer 2) by plain edges, no send/recv node (these edges also cross GPUs 0->4, 1->5)."


def d_experts_subset_ranks(g):
    # clean_1 (EP4): layer 2's 16 experts placed on EP ranks 0 and 1 only (8 each, on their GPUs 0-3).
    L, tp, ep = 2, g.meta["tp"], g.meta["ep"]
    ids = []
    for j in range(N_EXPERTS):
        e_old = j // (N_EXPERTS // ep)
        e_new, i = divmod(j, N_EXPERTS // 2)
        old, new = f"l{L}_routed{j}_ep{e_old}", f"l{L}_routed{j}_ep{e_new}"
        if old != new:
            g.rename(old, new)
        g.nodes[new]["gpu"] = e_new * tp + (i % tp)
        ids.append(new)
    return ids, "Layer 2's 16 routed experts sit on EP ranks 0 and 1 only (GPUs 0-3); EP ranks 2 and 3 of EP4 hold none."


def d_experts_uneven(g):
    g.rename("l1_routed12_ep3", "l1_routed12_ep0")
    g.nodes["l1_routed12_ep0"]["gpu"] = 0
    return ["l1_routed12_ep0"], \
        "Layer 1: expert 12 moved from EP rank 3 to EP rank 0, so ranks hold 5/4/4/3 experts instead of 16/4 = 4 each."


def d_experts_share_gpu(g):
    g.nodes["l1_routed4_ep1"]["gpu"] = 0
    return ["l1_routed4_ep1"], \
        "Layer 1: l1_routed4_ep1 (EP rank 1) is placed on GPU 0, which holds EP rank 0's experts."


def d_no_gate(g):
    g.del_node("l1_gate")
    g.edge("l1_post_attention_layernorm_tp0", "l1_dispatch")
    g.nodes["l1_dispatch"]["inp"] = [s_hid()]
    return ["l1_dispatch", "l1_routed0_ep0"], \
        "Layer 1 has no gate/router: the normed hidden states go straight into the all-to-all dispatch and the experts."


def d_no_all_to_all(g):
    succ = g.succs("l1_dispatch")
    g.del_node("l1_dispatch")
    for x in succ:
        g.edge("l1_gate", x, style="dashed")
    return ["l1_gate"] + succ[:2], \
        "Layer 1: the gate feeds the 16 routed experts on GPUs 0-7 directly, no all-to-all dispatch with EP4 (these edges also cross GPUs)."


def d_tp_rank_missing(g):
    g.del_node("l1_rope_q_tp1")
    g.edge("l1_q_b_proj_tp1", "l1_attn_scores_tp1")
    return ["l1_rope_q_tp0", "l1_q_b_proj_tp1"], \
        "Layer 1's 'rope (q)' is drawn for TP rank 0 only; TP rank 1 has no rope (q) node (q_b_proj feeds the score directly)."


def d_no_allreduce_after_rowparallel(g):
    tp = g.meta["tp"]
    g.del_node("l1_attn_allreduce")
    for r in range(tp):
        g.edge(f"l1_o_proj_tp{r}", f"l1_attn_residual_tp{r}")
    return [f"l1_o_proj_tp{r}" for r in range(tp)], \
        "Layer 1's row-parallel o_proj partial sums go straight into the residual add, no TP all-reduce."


def d_cross_gpu_no_comm(g):
    g.del_edge("dp0_l1_attn_residual_tp1", "dp0_l1_mlp_residual_tp1")
    g.edge("dp0_l1_attn_residual_tp0", "dp0_l1_mlp_residual_tp1")
    return ["dp0_l1_attn_residual_tp0", "dp0_l1_mlp_residual_tp1"], \
        "The residual skip into dp0_l1_mlp_residual_tp1 (GPU 1) now comes from dp0_l1_attn_residual_tp0 (GPU 0) by a plain edge, no communication node."


def d_comm_wrong_shape(g):
    g.nodes["l1_attn_allreduce"]["shape"] = "box"
    return ["l1_attn_allreduce"], "Layer 1's TP all-reduce after o_proj is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g):
    g.nodes["dp1_l1_softmax_tp3"]["gpu"] = None
    return ["dp1_l1_softmax_tp3"], "dp1_l1_softmax_tp3 has no GPU line."


def d_gpu_out_of_range(g):
    g.nodes["l2_routed15_ep3"]["gpu"] = 9
    return ["l2_routed15_ep3"], "l2_routed15_ep3 is placed on GPU 9, but EP4-TP2-PP1-DP1 has 8 GPUs (0-7)."


def d_stages_share_gpus(g):
    # clean_2: stage 1 moved from GPUs 4-7 to GPUs 2-5, overlapping stage 0 (GPUs 0-3) on GPUs 2-3.
    for k, n in g.nodes.items():
        if n["cluster"] == "cluster_stage1" or k == "output":
            n["gpu"] = _shift_spec(n["gpu"], -2)
        elif k.startswith("pp0_to_pp1_sendrecv"):
            a, b = n["gpu"].split(",")
            n["gpu"] = f"{a},{int(b) - 2}"
    g.clusters["cluster_stage1"] = g.clusters["cluster_stage1"].replace("GPUs 4-7", "GPUs 2-5")
    return ["l2_input_layernorm_tp0", "l2_input_layernorm_tp1"], \
        "Stage 1 is placed on GPUs 2-5, overlapping stage 0's GPUs 0-3 on GPUs 2 and 3."


def _shift_spec(spec, k):
    spec = str(spec)
    if "-" in spec:
        a, b = spec.split("-")
        return f"{int(a) + k}-{int(b) + k}"
    return int(spec) + k


def d_strategy_mismatch(g):
    g.label = g.label.replace("TP2", "TP4")
    return [], "The graph label declares TP4 but every tensor-parallel operator is drawn for 2 ranks (tp0, tp1)."


def d_missing_shapes(g):
    n = g.nodes["l2_attn_v_tp0"]
    n["inp"], n["out"] = [], []
    return ["l2_attn_v_tp0"], "l2_attn_v_tp0 ('attn x v') has no Input/Output shapes."


def d_placeholder(g):
    n = g.nodes["l1_routed7_ep1"]
    n["inp"] = ["[tokens=?, hidden=2048]"]
    n["out"] = ["[tokens=?, hidden=2048]"]
    return ["l1_routed7_ep1"], "l1_routed7_ep1 gives its token count as '?' in Input and Output."


def d_moe_before_attention(g):
    tp = g.meta["tp"]
    for r in range(tp):
        t = f"_tp{r}"
        for a, b in [("l0_mlp_residual", "l1_input_layernorm"), ("l0_mlp_residual", "l1_attn_residual"),
                     ("l1_attn_residual", "l1_post_attention_layernorm"), ("l1_attn_residual", "l1_mlp_residual"),
                     ("l1_mlp_residual", "l2_input_layernorm"), ("l1_mlp_residual", "l2_attn_residual")]:
            g.del_edge(a + t, b + t)
        for a, b in [("l0_mlp_residual", "l1_post_attention_layernorm"), ("l0_mlp_residual", "l1_mlp_residual"),
                     ("l1_mlp_residual", "l1_input_layernorm"), ("l1_mlp_residual", "l1_attn_residual"),
                     ("l1_attn_residual", "l2_input_layernorm"), ("l1_attn_residual", "l2_attn_residual")]:
            g.edge(a + t, b + t)
    return ["l1_post_attention_layernorm_tp0", "l1_gate", "l1_input_layernorm_tp0"], \
        "Layer 1's MoE block (post_attention_layernorm, gate, experts, residual) is wired before its attention block."


def d_missing_residual(g):
    g.del_edge("l0_mlp_residual_tp0", "l1_attn_residual_tp0")
    return ["l1_attn_residual_tp0"], \
        "l1_attn_residual_tp0 is fed only by the attention all-reduce: the skip edge from l0_mlp_residual_tp0 was removed."


# (kind, category, base clean file, function)
DEFECTS = [
    ("cycle", "structure", 1, d_cycle),
    ("dangling_input", "structure", 1, d_dangling_input),
    ("dangling_output", "structure", 1, d_dangling_output),
    ("attention_one_box", "attention", 1, d_attention_one_box),
    ("v_bypasses_softmax", "attention", 1, d_v_bypasses_softmax),
    ("v_into_score", "attention", 1, d_v_into_score),
    ("qkv_into_oproj", "attention", 1, d_qkv_into_oproj),
    ("head_arithmetic", "attention", 3, d_head_arithmetic),
    ("tp_heads", "attention", 3, d_tp_heads),
    ("edge_shape_mismatch", "shape", 1, d_edge_shape_mismatch),
    ("shard_without_gather", "shape", 1, d_shard_without_gather),
    ("stage_count", "pipeline", 2, d_stage_count),
    ("stage_range_gap", "pipeline", 2, d_stage_range_gap),
    ("stage_missing_layer", "pipeline", 2, d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", 2, d_no_stage_transfer),
    ("experts_subset_ranks", "expert", 1, d_experts_subset_ranks),
    ("experts_uneven", "expert", 1, d_experts_uneven),
    ("experts_share_gpu", "expert", 1, d_experts_share_gpu),
    ("no_gate", "expert", 1, d_no_gate),
    ("no_all_to_all", "expert", 1, d_no_all_to_all),
    ("tp_rank_missing", "tensor", 1, d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", 1, d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", 3, d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", 1, d_comm_wrong_shape),
    ("missing_gpu", "gpu", 3, d_missing_gpu),
    ("gpu_out_of_range", "gpu", 1, d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", 2, d_stages_share_gpus),
    ("strategy_mismatch", "strategy", 1, d_strategy_mismatch),
    ("missing_shapes", "annotation", 1, d_missing_shapes),
    ("placeholder", "annotation", 1, d_placeholder),
    ("moe_before_attention", "structure", 1, d_moe_before_attention),
    ("missing_residual", "structure", 2, d_missing_residual),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    cleans = {
        1: build("clean_1", ep=4, tp=2, pp=1, dp=1, n_layers=3),
        2: build("clean_2", ep=2, tp=2, pp=2, dp=1, n_layers=4),
        3: build("clean_3", ep=2, tp=4, pp=1, dp=2, n_layers=2),
    }
    notes = {
        1: "Clean: EP4-TP2-PP1-DP1 on 8 GPUs, 3 layers (layer 0 dense MLP, layers 1-2 MoE 16 experts, 4 per EP rank).",
        2: "Clean: EP2-TP2-PP2-DP1 on 8 GPUs, 4 layers, stage 0 = layers 0-1 on GPUs 0-3, stage 1 = layers 2-3 on GPUs 4-7.",
        3: "Clean: EP2-TP4-PP1-DP2 on 16 GPUs, 2 layers (0 dense, 1 MoE), two DP replicas (ids prefixed dp0_/dp1_).",
    }
    model = (" Model: hidden 2048, 16 MLA heads with qk head_dim 128 (nope 96 + rope 32) and v_head_dim 128,"
             " so heads x head_dim = hidden for q, k and v; under TP the a-projections are replicated,"
             " q_b/kv_b/o_proj per rank hold 16/TP heads; layer 0 dense MLP, later layers 16 routed experts"
             " (top-4) + 1 shared expert.")
    notes = {k: v + model for k, v in notes.items()}
    manifest = []
    for i, g in cleans.items():
        self_check(g)
        fn = f"clean_{i}.dot"
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.to_dot())
        manifest.append(dict(file=fn, kind="clean", category=None, nodes=[], what=notes[i], base=None))
    for kind, cat, base, fnc in DEFECTS:
        g = copy.deepcopy(cleans[base])
        g.meta = dict(cleans[base].meta)
        nodes, what = fnc(g)
        fn = f"defect_{kind}.dot"
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.to_dot())
        manifest.append(dict(file=fn, kind=kind, category=cat, nodes=nodes, what=what, base=f"clean_{base}.dot"))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    print(f"wrote {len(manifest)} files to {OUT}")


if __name__ == "__main__":
    main()
