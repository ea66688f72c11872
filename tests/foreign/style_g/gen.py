#!/usr/bin/env python3
"""House style "G" generator of deployment DAGs (prefill, one forward pass).

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
stdlib only.  Run:  python3 gen.py

Placement model (same in every file):
  GPUs per replica-stage = EP*TP; total GPUs = EP*TP*PP*DP (the product).
  gpu(d,p,e,t) = ((d*PP + p)*EP + e)*TP + t
  Attention / dense MLP / norms run data-parallel over the EP groups: EP group e
  holds batch/EP sequences and runs tensor parallel over its TP ranks (GPUs
  gpu(d,p,e,0..TP-1)).  The MoE layer: each TP rank routes its 1/TP slice of
  the sequence, an all-to-all over the whole stage sends tokens to the experts,
  EP rank e holds experts e*E/EP .. (e+1)*E/EP-1 spread over its TP GPUs,
  an all-to-all brings them back and a TP all-gather restores the full sequence.
  Embedding is hidden-parallel (each rank holds H/TP columns) + TP all-gather.
  LM head is vocab-parallel + TP all-gather of logits.
"""
import copy
import json
import os

BF16 = 2
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def numel(shape):
    n = 1
    for x in shape:
        n *= x
    return n


def fmt_shape(s):
    return "(" + ",".join(str(x) for x in s) + ")"


def fmt_dev(devs):
    devs = sorted(set(devs))
    parts = []
    i = 0
    while i < len(devs):
        j = i
        while j + 1 < len(devs) and devs[j + 1] == devs[j] + 1:
            j += 1
        if j > i:
            parts.append("%d-%d" % (devs[i], devs[j]))
        else:
            parts.append("%d" % devs[i])
        i = j + 1
    return "cuda:" + ",".join(parts)


SHAPE_OF_KIND = {"comp": "box", "comm": "ellipse", "route": "parallelogram"}


class Graph:
    def __init__(self, name, comments):
        self.name = name
        self.comments = list(comments)
        self.clusters = {}   # key -> label (ordered)
        self.nodes = {}      # id -> dict
        self.edges = []      # [src, dst]

    def node(self, nid, op, kind="comp", cluster=None, dev=None, sin=None,
             sout=None, extra=(), group=None, nbytes=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = dict(op=op, kind=kind, cluster=cluster, dev=dev,
                               sin=sin, sout=sout, extra=list(extra),
                               group=group, nbytes=nbytes, shape=None)
        return nid

    def edge(self, a, b):
        assert a in self.nodes and b in self.nodes, (a, b)
        assert [a, b] not in self.edges, (a, b)
        self.edges.append([a, b])

    def rm_edge(self, a, b):
        self.edges.remove([a, b])

    def rm_node(self, nid):
        del self.nodes[nid]
        self.edges = [e for e in self.edges if nid not in e]

    def preds(self, nid):
        return [a for a, b in self.edges if b == nid]

    def succs(self, nid):
        return [b for a, b in self.edges if a == nid]

    def label(self, n):
        lines = [n["op"]] + n["extra"]
        if n["sin"] is not None:
            lines.append("shape_in=" + ",".join(fmt_shape(s) if isinstance(s, tuple) else s
                                                 for s in n["sin"]))
        if n["sout"] is not None:
            s = n["sout"]
            lines.append("shape_out=" + (fmt_shape(s) if isinstance(s, tuple) else s))
        if n["group"]:
            lines.append("group=" + n["group"])
        if n["nbytes"] is not None:
            lines.append("bytes=%d" % n["nbytes"])
        if n["dev"] is not None:
            lines.append("device=" + (fmt_dev(n["dev"]) if not isinstance(n["dev"], str) else n["dev"]))
        return "\\n".join(lines)

    def render(self):
        out = ["// " + c for c in self.comments]
        out.append("digraph %s {" % self.name)
        out.append("  rankdir=TB;")
        out.append('  node [fontname="Courier", fontsize=9];')

        def nline(nid, ind):
            n = self.nodes[nid]
            shp = n["shape"] or SHAPE_OF_KIND[n["kind"]]
            return '%s%s [shape=%s, label="%s"];' % (ind, nid, shp, self.label(n))

        for key, lab in self.clusters.items():
            members = [i for i, n in self.nodes.items() if n["cluster"] == key]
            out.append("  subgraph %s {" % key)
            out.append('    label="%s";' % lab)
            out.append("    style=rounded;")
            for nid in members:
                out.append(nline(nid, "    "))
            out.append("  }")
        for nid, n in self.nodes.items():
            if n["cluster"] is None:
                out.append(nline(nid, "  "))
        for a, b in self.edges:
            out.append("  %s -> %s;" % (a, b))
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------
# configurations of the three clean DAGs
# ----------------------------------------------------------------------------
CFG = {
    "clean_1": dict(EP=4, TP=2, PP=1, DP=1, layers=3, H=2048, heads=16, hd=128,
                    F=5632, EF=1408, E=8, k=2, V=32000, bg=2, S=512,
                    stages=[(0, 2)]),
    "clean_2": dict(EP=2, TP=4, PP=2, DP=1, layers=4, H=4096, heads=32, hd=128,
                    F=11008, EF=2816, E=8, k=2, V=32000, bg=2, S=2048,
                    stages=[(0, 1), (2, 3)]),
    "clean_3": dict(EP=2, TP=2, PP=1, DP=2, layers=2, H=1024, heads=8, hd=128,
                    F=2816, EF=704, E=4, k=2, V=32000, bg=2, S=256,
                    stages=[(0, 1)]),
}
DENSE_LAYERS = 1


def strategy_name(c):
    s = "DEPLOY_EP%d_TP%d_PP%d" % (c["EP"], c["TP"], c["PP"])
    if c["DP"] > 1:
        s += "_DP%d" % c["DP"]
    return s


def build(key):
    c = CFG[key]
    EP, TP, PP, DP = c["EP"], c["TP"], c["PP"], c["DP"]
    H, NH, HD, F, E, K, V = c["H"], c["heads"], c["hd"], c["F"], c["E"], c["k"], c["V"]
    B, S = c["bg"], c["S"]
    assert NH * HD == H and H % TP == 0 and NH % TP == 0 and F % TP == 0
    assert V % TP == 0 and E % EP == 0 and S % TP == 0
    assert len(c["stages"]) == PP
    Hs, NHs, Fs, Vs, Ss = H // TP, NH // TP, F // TP, V // TP, S // TP
    EPR = E // EP                      # experts per EP rank
    T = EP * B * S                     # tokens per replica-stage
    assert (T * K) % E == 0
    TPE = T * K // E                   # tokens per expert (balanced routing)

    g = Graph(strategy_name(c), [
        "house style G: prefill forward pass, no KV cache",
        "MODEL layers=%d dense_layers=%d hidden=%d heads=%d head_dim=%d ffn=%d "
        "experts=%d topk=%d expert_ffn=%d vocab=%d" % (c["layers"], DENSE_LAYERS, H, NH, HD,
                                                        F, E, K, c["EF"], V),
        "RUN batch=%d seq=%d dtype=bf16" % (B * EP * DP, S),
    ])

    def gpu(d, p, e, t):
        return ((d * PP + p) * EP + e) * TP + t

    def stage_of(l):
        for p, (a, b) in enumerate(c["stages"]):
            if a <= l <= b:
                return p
        raise ValueError(l)

    full = (B, S, H)
    for d in range(DP):
        P = "DP%d_" % d if DP > 1 else ""
        for p, (a, b) in enumerate(c["stages"]):
            ck = ("cluster_dp%d_stage_%d" % (d, p)) if DP > 1 else ("cluster_stage_%d" % p)
            g.clusters[ck] = ("DP%d " % d if DP > 1 else "") + "STAGE %d [L%02d-L%02d]" % (p, a, b)
        ckey = lambda p: (("cluster_dp%d_stage_%d" % (d, p)) if DP > 1 else ("cluster_stage_%d" % p))
        ranks = [(e, t) for e in range(EP) for t in range(TP)]
        stream = {}
        # ---- input + embedding
        c0 = ckey(0)
        for e, t in ranks:
            r = "%sEP%d_TP%d_" % (P, e, t)
            g.node(r + "INPUT", "INPUT", cluster=c0, dev=[gpu(d, 0, e, t)],
                   sin=[(B, S)], sout=(B, S), extra=["token_ids"])
            g.node(r + "EMBED", "EMBED", cluster=c0, dev=[gpu(d, 0, e, t)],
                   sin=[(B, S)], sout=(B, S, Hs), extra=["split=hidden vocab=%d" % V])
            g.edge(r + "INPUT", r + "EMBED")
        for e in range(EP):
            ag = g.node("%sEP%d_EMBED_ALLGATHER" % (P, e), "ALLGATHER_TP", kind="comm",
                        cluster=c0, dev=[gpu(d, 0, e, t) for t in range(TP)],
                        sin=[(B, S, Hs)], sout=full, group="TP0-TP%d" % (TP - 1),
                        nbytes=numel(full) * BF16)
            for t in range(TP):
                g.edge("%sEP%d_TP%d_EMBED" % (P, e, t), ag)
                stream[(e, t)] = ag
        # ---- layers
        for l in range(c["layers"]):
            p = stage_of(l)
            ck = ckey(p)
            L = "%sL%02d_" % (P, l)
            if p > 0 and l == c["stages"][p][0]:
                for e, t in ranks:
                    s0, s1 = gpu(d, p - 1, e, t), gpu(d, p, e, t)
                    sr = g.node("%sPP%d_TO_PP%d_EP%d_TP%d_SENDRECV" % (P, p - 1, p, e, t),
                                "SEND_RECV", kind="comm", dev=[s0, s1], sin=[full], sout=full,
                                extra=["PP%d -> PP%d" % (p - 1, p)],
                                group="PP%d-PP%d" % (p - 1, p), nbytes=numel(full) * BF16)
                    g.edge(stream[(e, t)], sr)
                    stream[(e, t)] = sr
            # attention
            for e, t in ranks:
                r = "%sEP%d_TP%d_" % (L, e, t)
                dv = [gpu(d, p, e, t)]
                hl = "heads=%d head_dim=%d" % (NHs, HD)
                g.node(r + "ATTN_NORM", "RMSNORM", cluster=ck, dev=dv, sin=[full], sout=full)
                for x in "QKV":
                    g.node(r + x + "_PROJ", x + "_PROJ", cluster=ck, dev=dv, sin=[full],
                           sout=(B, S, Hs), extra=["split=col " + hl])
                    g.edge(r + "ATTN_NORM", r + x + "_PROJ")
                g.node(r + "QK_MATMUL", "QK_MATMUL", cluster=ck, dev=dv,
                       sin=[(B, S, Hs), (B, S, Hs)], sout=(B, NHs, S, S),
                       extra=[hl, "causal scale=1/sqrt(%d)" % HD])
                g.node(r + "SOFTMAX", "SOFTMAX", cluster=ck, dev=dv,
                       sin=[(B, NHs, S, S)], sout=(B, NHs, S, S))
                g.node(r + "AV_MATMUL", "AV_MATMUL", cluster=ck, dev=dv,
                       sin=[(B, NHs, S, S), (B, S, Hs)], sout=(B, S, Hs), extra=[hl])
                g.node(r + "O_PROJ", "O_PROJ", cluster=ck, dev=dv, sin=[(B, S, Hs)],
                       sout=full, extra=["split=row partial_sum"])
                g.node(r + "ATTN_RESID", "RESID_ADD", cluster=ck, dev=dv,
                       sin=[full, full], sout=full)
                g.edge(stream[(e, t)], r + "ATTN_NORM")
                g.edge(r + "Q_PROJ", r + "QK_MATMUL")
                g.edge(r + "K_PROJ", r + "QK_MATMUL")
                g.edge(r + "QK_MATMUL", r + "SOFTMAX")
                g.edge(r + "SOFTMAX", r + "AV_MATMUL")
                g.edge(r + "V_PROJ", r + "AV_MATMUL")
                g.edge(r + "AV_MATMUL", r + "O_PROJ")
            for e in range(EP):
                ar = g.node("%sEP%d_ALLREDUCE_ATTN" % (L, e), "ALLREDUCE_TP", kind="comm",
                            cluster=ck, dev=[gpu(d, p, e, t) for t in range(TP)],
                            sin=[full], sout=full, group="TP0-TP%d" % (TP - 1),
                            nbytes=numel(full) * BF16)
                for t in range(TP):
                    r = "%sEP%d_TP%d_" % (L, e, t)
                    g.edge(r + "O_PROJ", ar)
                    g.edge(ar, r + "ATTN_RESID")
                    g.edge(stream[(e, t)], r + "ATTN_RESID")
                    stream[(e, t)] = r + "ATTN_RESID"
            # feed-forward
            for e, t in ranks:
                r = "%sEP%d_TP%d_" % (L, e, t)
                g.node(r + "FFN_NORM", "RMSNORM", cluster=ck, dev=[gpu(d, p, e, t)],
                       sin=[full], sout=full)
                g.edge(stream[(e, t)], r + "FFN_NORM")
            if l < DENSE_LAYERS:
                for e, t in ranks:
                    r = "%sEP%d_TP%d_" % (L, e, t)
                    dv = [gpu(d, p, e, t)]
                    for x in ("UP_PROJ", "GATE_PROJ"):
                        g.node(r + x, x, cluster=ck, dev=dv, sin=[full], sout=(B, S, Fs),
                               extra=["split=col ffn=%d" % F])
                        g.edge(r + "FFN_NORM", r + x)
                    g.node(r + "SWIGLU", "SWIGLU", cluster=ck, dev=dv,
                           sin=[(B, S, Fs), (B, S, Fs)], sout=(B, S, Fs))
                    g.edge(r + "UP_PROJ", r + "SWIGLU")
                    g.edge(r + "GATE_PROJ", r + "SWIGLU")
                    g.node(r + "DOWN_PROJ", "DOWN_PROJ", cluster=ck, dev=dv, sin=[(B, S, Fs)],
                           sout=full, extra=["split=row partial_sum"])
                    g.edge(r + "SWIGLU", r + "DOWN_PROJ")
                for e in range(EP):
                    ar = g.node("%sEP%d_ALLREDUCE_MLP" % (L, e), "ALLREDUCE_TP", kind="comm",
                                cluster=ck, dev=[gpu(d, p, e, t) for t in range(TP)],
                                sin=[full], sout=full, group="TP0-TP%d" % (TP - 1),
                                nbytes=numel(full) * BF16)
                    for t in range(TP):
                        g.edge("%sEP%d_TP%d_DOWN_PROJ" % (L, e, t), ar)
                sub = {(e, t): "%sEP%d_ALLREDUCE_MLP" % (L, e) for e, t in ranks}
            else:
                disp = g.node(L + "A2A_DISPATCH", "A2A_DISPATCH", kind="comm", cluster=ck,
                              dev=[gpu(d, p, e, t) for e, t in ranks], sin=[(B, Ss, H)],
                              sout=(TPE, H), group="EP0-EP%d" % (EP - 1),
                              nbytes=T * K * H * BF16)
                comb = g.node(L + "A2A_COMBINE", "A2A_COMBINE", kind="comm", cluster=ck,
                              dev=[gpu(d, p, e, t) for e, t in ranks], sin=[(TPE, H)],
                              sout=(B, Ss, K, H), group="EP0-EP%d" % (EP - 1),
                              nbytes=T * K * H * BF16)
                for e, t in ranks:
                    r = "%sEP%d_TP%d_" % (L, e, t)
                    dv = [gpu(d, p, e, t)]
                    g.node(r + "TOKEN_SLICE", "TOKEN_SLICE", kind="route", cluster=ck, dev=dv,
                           sin=[full], sout=(B, Ss, H), extra=["seq %d/%d" % (t, TP)])
                    g.node(r + "ROUTER_TOPK", "ROUTER_TOPK", kind="route", cluster=ck, dev=dv,
                           sin=[(B, Ss, H)], sout=(B, Ss, H),
                           extra=["topk=%d of %d experts" % (K, E)])
                    g.edge(r + "FFN_NORM", r + "TOKEN_SLICE")
                    g.edge(r + "TOKEN_SLICE", r + "ROUTER_TOPK")
                    g.edge(r + "ROUTER_TOPK", disp)
                for e in range(EP):
                    for j in range(e * EPR, (e + 1) * EPR):
                        x = g.node("%sEP%d_EXPERT_%02d" % (L, e, j), "EXPERT_FFN", cluster=ck,
                                   dev=[gpu(d, p, e, (j - e * EPR) % TP)], sin=[(TPE, H)],
                                   sout=(TPE, H),
                                   extra=["expert=%d/%d ffn=%d swiglu" % (j, E, c["EF"])])
                        g.edge(disp, x)
                        g.edge(x, comb)
                for e, t in ranks:
                    r = "%sEP%d_TP%d_" % (L, e, t)
                    g.node(r + "MOE_REDUCE", "MOE_REDUCE", kind="route", cluster=ck,
                           dev=[gpu(d, p, e, t)], sin=[(B, Ss, K, H)], sout=(B, Ss, H),
                           extra=["weighted sum over topk=%d" % K])
                    g.edge(comb, r + "MOE_REDUCE")
                for e in range(EP):
                    ag = g.node("%sEP%d_ALLGATHER_MOE" % (L, e), "ALLGATHER_TP", kind="comm",
                                cluster=ck, dev=[gpu(d, p, e, t) for t in range(TP)],
                                sin=[(B, Ss, H)], sout=full, group="TP0-TP%d" % (TP - 1),
                                nbytes=numel(full) * BF16)
                    for t in range(TP):
                        g.edge("%sEP%d_TP%d_MOE_REDUCE" % (L, e, t), ag)
                sub = {(e, t): "%sEP%d_ALLGATHER_MOE" % (L, e) for e, t in ranks}
            for e, t in ranks:
                r = "%sEP%d_TP%d_" % (L, e, t)
                g.node(r + "FFN_RESID", "RESID_ADD", cluster=ck, dev=[gpu(d, p, e, t)],
                       sin=[full, full], sout=full)
                g.edge(sub[(e, t)], r + "FFN_RESID")
                g.edge(stream[(e, t)], r + "FFN_RESID")
                stream[(e, t)] = r + "FFN_RESID"
        # ---- final norm, LM head, output
        pl = PP - 1
        ck = ckey(pl)
        for e, t in ranks:
            r = "%sEP%d_TP%d_" % (P, e, t)
            dv = [gpu(d, pl, e, t)]
            g.node(r + "FINAL_NORM", "RMSNORM", cluster=ck, dev=dv, sin=[full], sout=full,
                   extra=["final"])
            g.node(r + "LM_HEAD", "LM_HEAD", cluster=ck, dev=dv, sin=[full], sout=(B, S, Vs),
                   extra=["split=vocab vocab=%d" % V])
            g.edge(stream[(e, t)], r + "FINAL_NORM")
            g.edge(r + "FINAL_NORM", r + "LM_HEAD")
        for e in range(EP):
            ag = g.node("%sEP%d_LOGITS_ALLGATHER" % (P, e), "ALLGATHER_TP", kind="comm",
                        cluster=ck, dev=[gpu(d, pl, e, t) for t in range(TP)],
                        sin=[(B, S, Vs)], sout=(B, S, V), group="TP0-TP%d" % (TP - 1),
                        nbytes=B * S * V * BF16)
            o = g.node("%sEP%d_OUTPUT" % (P, e), "OUTPUT", cluster=ck, dev=[gpu(d, pl, e, 0)],
                       sin=[(B, S, V)], sout=(B, S, V), extra=["logits"])
            for t in range(TP):
                g.edge("%sEP%d_TP%d_LM_HEAD" % (P, e, t), ag)
            g.edge(ag, o)
    g.cfg = c
    return g


# ----------------------------------------------------------------------------
# defects: each takes a fresh clean graph, mutates it, returns (nodes, what)
# ----------------------------------------------------------------------------
def shp(g, nid):
    return g.nodes[nid]


def d_cycle(g):
    a, b = "L01_EP1_TP0_ATTN_RESID", "L01_EP1_ALLREDUCE_ATTN"
    g.edge(a, b)
    return [a, b], ("all-reduce %s drawn both ways: %s -> %s added next to the existing "
                    "%s -> %s, forming a 2-node cycle" % (b, a, b, b, a))


def d_dangling_input(g):
    n = "L01_EP2_TP1_K_PROJ"
    g.rm_edge("L01_EP2_TP1_ATTN_NORM", n)
    return [n], "K_PROJ of layer 1, EP2/TP1 has no incoming edge (the edge from its RMSNORM is removed)."


def d_dangling_output(g):
    src = "L02_EP0_TP0_ROUTER_TOPK"
    n = g.node("L02_TOKEN_COUNT", "TOKEN_COUNT", cluster="cluster_stage_0",
               dev=[0], sin=[(2, 256, 2048)], sout=(8,), extra=["tokens per expert (stats)"])
    g.edge(src, n)
    return [n], "TOKEN_COUNT operator added after the layer-2 EP0/TP0 router on cuda:0; its output goes nowhere."


def d_attention_one_box(g):
    c = g.cfg
    TP, EP, B, S, H = c["TP"], c["EP"], c["bg"], c["S"], c["H"]
    ids = []
    for e in range(EP):
        for t in range(TP):
            r = "L01_EP%d_TP%d_" % (e, t)
            dev = g.nodes[r + "O_PROJ"]["dev"]
            for x in ("Q_PROJ", "K_PROJ", "V_PROJ", "QK_MATMUL", "SOFTMAX", "AV_MATMUL", "O_PROJ"):
                g.rm_node(r + x)
            m = g.node(r + "MHA", "MULTI_HEAD_ATTENTION", cluster="cluster_stage_0", dev=dev,
                       sin=[(B, S, H)], sout=(B, S, H),
                       extra=["Multi-Head Attention", "heads=%d head_dim=%d" % (c["heads"] // TP, c["hd"]),
                              "split=tp partial_sum"])
            g.edge(r + "ATTN_NORM", m)
            g.edge(m, "L01_EP%d_ALLREDUCE_ATTN" % e)
            ids.append(m)
    return ids, "layer 1 attention is drawn as one MULTI_HEAD_ATTENTION box per rank (no Q/K/V, score, softmax, weighted sum, O_PROJ)."


def d_v_bypasses_softmax(g):
    r = "L02_EP3_TP0_"
    g.rm_edge(r + "SOFTMAX", r + "AV_MATMUL")
    g.edge(r + "SOFTMAX", r + "O_PROJ")
    n = g.nodes[r + "AV_MATMUL"]
    n["sin"] = [n["sin"][1]]                              # only V now
    o = g.nodes[r + "O_PROJ"]
    o["sin"] = [o["sin"][0], g.nodes[r + "SOFTMAX"]["sout"]]
    return [r + "SOFTMAX", r + "AV_MATMUL", r + "V_PROJ", r + "O_PROJ"], (
        "layer 2 EP3/TP0: V_PROJ feeds AV_MATMUL but SOFTMAX does not; SOFTMAX goes to O_PROJ instead.")


def d_v_into_score(g):
    c = g.cfg
    ids = []
    for e in range(c["EP"]):
        for t in range(c["TP"]):
            r = "L01_EP%d_TP%d_" % (e, t)
            g.rm_node(r + "K_PROJ")
            g.edge(r + "V_PROJ", r + "QK_MATMUL")
            ids += [r + "V_PROJ", r + "QK_MATMUL"]
    return ids, "layer 1 (every rank): V_PROJ is wired into QK_MATMUL in place of K (no K projection); V also feeds AV_MATMUL."


def d_qkv_into_oproj(g):
    c = g.cfg
    ids = []
    for e in range(c["EP"]):
        for t in range(c["TP"]):
            r = "L01_EP%d_TP%d_" % (e, t)
            for x in ("QK_MATMUL", "SOFTMAX", "AV_MATMUL"):
                g.rm_node(r + x)
            o = g.nodes[r + "O_PROJ"]
            o["sin"] = [o["sin"][0]] * 3
            for x in "QKV":
                g.edge(r + x + "_PROJ", r + "O_PROJ")
            ids.append(r + "O_PROJ")
    return ids, "layer 1 (every rank): Q_PROJ, K_PROJ, V_PROJ go straight into O_PROJ; no QK_MATMUL/SOFTMAX/AV_MATMUL."


def _relabel_heads(g, layer, heads, hd):
    ids = []
    for nid, n in g.nodes.items():
        if nid.startswith("L%02d_" % layer):
            new = []
            for x in n["extra"]:
                if "heads=" in x:
                    x = x.split("heads=")[0] + "heads=%d head_dim=%d" % (heads, hd)
                    ids.append(nid)
                new.append(x)
            n["extra"] = new
    return ids


def d_head_arithmetic(g):
    # clean_1: hidden 2048 = 16 x 128, TP2 -> 8 heads x 128 = 1024 per rank.
    ids = _relabel_heads(g, 1, 8, 96)
    return ids, ("layer 1 labels say heads=8 head_dim=96 per TP rank: 16 x 96 = 1536 != hidden 2048 "
                 "(and 8 x 96 = 768 != the 1024-wide shard).")


def d_tp_heads(g):
    c = g.cfg
    B, S, H, NH, HD = c["bg"], c["S"], c["H"], c["heads"], c["hd"]
    r = "L02_EP1_TP1_"
    for x in "QKV":
        n = g.nodes[r + x + "_PROJ"]
        n["sout"] = (B, S, H)
        n["extra"] = ["split=col heads=%d head_dim=%d" % (NH, HD)]
    q = g.nodes[r + "QK_MATMUL"]
    q["sin"] = [(B, S, H), (B, S, H)]
    q["sout"] = (B, NH, S, S)
    q["extra"][0] = "heads=%d head_dim=%d" % (NH, HD)
    s = g.nodes[r + "SOFTMAX"]
    s["sin"] = [(B, NH, S, S)]
    s["sout"] = (B, NH, S, S)
    a = g.nodes[r + "AV_MATMUL"]
    a["sin"] = [(B, NH, S, S), (B, S, H)]
    a["sout"] = (B, S, H)
    a["extra"] = ["heads=%d head_dim=%d" % (NH, HD)]
    g.nodes[r + "O_PROJ"]["sin"] = [(B, S, H)]
    return [r + "Q_PROJ", r + "K_PROJ", r + "V_PROJ"], (
        "layer 2 EP1/TP1 (TP2): Q/K/V projections output all %d heads (width %d) instead of %d heads "
        "(width %d); the rank's attention chain carries the full width." % (NH, H, NH // c["TP"], H // c["TP"]))


def d_edge_shape_mismatch(g):
    n = "L01_EP0_TP1_Q_PROJ"
    c = g.cfg
    B, S, H = c["bg"], c["S"], c["H"]
    g.nodes[n]["sin"] = [(B, S, H * 3 // 2)]
    return ["L01_EP0_TP1_ATTN_NORM", n], (
        "Q_PROJ of layer 1 EP0/TP1 declares shape_in=(%d,%d,%d) but its producer RMSNORM outputs (%d,%d,%d) "
        "(factor 3/2, no parallel degree)." % (B, S, H * 3 // 2, B, S, H))


def d_shard_without_gather(g):
    c = g.cfg
    e = 1
    ag = "EP%d_EMBED_ALLGATHER" % e
    outs = g.succs(ag)
    g.rm_node(ag)
    for t in range(c["TP"]):
        for o in outs:
            if "_TP%d_" % t in o:
                g.edge("EP%d_TP%d_EMBED" % (e, t), o)
    ids = ["EP%d_TP%d_EMBED" % (e, t) for t in range(c["TP"])] + outs
    return ids, ("EP1 group: hidden-sharded EMBED output (H/TP=%d) goes straight into layer-0 RMSNORM and "
                 "RESID_ADD that expect hidden %d; the TP all-gather is missing." % (c["H"] // c["TP"], c["H"]))


def d_stage_count(g):
    g.name = g.name.replace("_PP2", "_PP4")
    return [], "graph name declares PP4 but only 2 stages are drawn (cluster_stage_0, cluster_stage_1)."


def d_stage_range_gap(g):
    g.clusters["cluster_stage_1"] = "STAGE 1 [L03-L03]"
    return [], (
        "stage ranges are [L00-L01] and [L03-L03]: layer 2 (whose nodes are drawn in stage 1) is claimed by no stage.")


def d_stage_missing_layer(g):
    c = g.cfg
    for nid in list(g.nodes):
        if nid.startswith("L03_"):
            g.rm_node(nid)
    for e in range(c["EP"]):
        for t in range(c["TP"]):
            g.edge("L02_EP%d_TP%d_FFN_RESID" % (e, t), "EP%d_TP%d_FINAL_NORM" % (e, t))
    return [], ("stage 1 claims [L02-L03] (model layers=4) but no layer-3 operator is drawn; "
                                 "layer 2 feeds the final norm.")


def d_no_stage_transfer(g):
    ids = []
    for nid in [n for n in g.nodes if "_SENDRECV" in n]:
        srcs, dsts = g.preds(nid), g.succs(nid)
        g.rm_node(nid)
        for a in srcs:
            for b in dsts:
                g.edge(a, b)
                ids.append(a)
                ids.append(b)
    return sorted(set(ids)), ("stage 0 -> stage 1 joined by plain edges (L01 FFN_RESID -> L02 ATTN_NORM/ATTN_RESID "
                              "on another GPU), no SEND_RECV node (the edges are therefore also cross-GPU).")


def _move_expert(g, old, new, dev):
    n = g.nodes.pop(old)
    n["dev"] = [dev]
    g.nodes[new] = n
    for ed in g.edges:
        for i in (0, 1):
            if ed[i] == old:
                ed[i] = new


def d_experts_subset_ranks(g):
    # clean_1 layer 2: EP4, 8 experts; put them all on EP0/EP1 (4 each, 2 per GPU)
    ids = []
    for j in range(4, 8):
        e_new = (j - 4) // 2          # experts 4,5 -> EP0 ; 6,7 -> EP1
        old = "L02_EP%d_EXPERT_%02d" % (j // 2, j)
        new = "L02_EP%d_EXPERT_%02d" % (e_new, j)
        _move_expert(g, old, new, e_new * 2 + j % 2)
        ids.append(new)
    return ids, ("layer 2: all 8 experts are on EP0 and EP1 (4 each: cuda:0-3); EP2 and EP3 hold no experts.")


def d_experts_uneven(g):
    old, new = "L01_EP1_EXPERT_02", "L01_EP0_EXPERT_02"
    _move_expert(g, old, new, 0)
    return [new, "L01_EP0_EXPERT_00", "L01_EP0_EXPERT_01", "L01_EP1_EXPERT_03"], (
        "layer 1: expert 2 moved from EP1 to EP0 (cuda:0): EP0 holds 3 experts, EP1 holds 1, EP2/EP3 hold 2.")


def d_experts_share_gpu(g):
    n = "L01_EP1_EXPERT_02"
    g.nodes[n]["dev"] = [1]
    return [n, "L01_EP0_EXPERT_01"], "layer 1: expert 2 of EP1 is placed on cuda:1, the GPU of EP0's expert 1."


def d_no_gate(g):
    c = g.cfg
    ids = []
    for e in range(c["EP"]):
        for t in range(c["TP"]):
            r = "L02_EP%d_TP%d_" % (e, t)
            g.rm_node(r + "ROUTER_TOPK")
            g.edge(r + "TOKEN_SLICE", "L02_A2A_DISPATCH")
            ids.append(r + "TOKEN_SLICE")
    return ids + ["L02_A2A_DISPATCH"], "layer 2 has no ROUTER_TOPK: token slices go straight to the dispatch all-to-all and the experts."


def d_no_all_to_all(g):
    c = g.cfg
    g.rm_node("L01_A2A_DISPATCH")
    ids = []
    # clean_1: one expert per GPU, expert j on cuda:j == rank (j//2, j%2)
    for j in range(c["E"]):
        e, t = j // c["TP"], j % c["TP"]
        x = "L01_EP%d_EXPERT_%02d" % (j // (c["E"] // c["EP"]), j)
        rt = "L01_EP%d_TP%d_ROUTER_TOPK" % (e, t)
        assert g.nodes[x]["dev"] == g.nodes[rt]["dev"]
        g.edge(rt, x)
        g.nodes[x]["sin"] = [g.nodes[rt]["sout"]]
        g.nodes[x]["sout"] = g.nodes[rt]["sout"]
        ids += [rt, x]
    g.nodes["L01_A2A_COMBINE"]["sin"] = [g.nodes[rt]["sout"]]
    return ids, ("layer 1 (EP4): no A2A_DISPATCH; each router feeds only the expert on its own GPU, so tokens never "
                 "reach the other ranks' experts (combine all-to-all still drawn).")


def d_tp_rank_missing(g):
    # clean_2 (TP4): layer 0 GATE_PROJ drawn for TP0-TP2, not TP3 (both EP groups)
    ids = []
    for e in range(g.cfg["EP"]):
        r = "L00_EP%d_TP3_" % e
        g.rm_node(r + "GATE_PROJ")
        sw = g.nodes[r + "SWIGLU"]
        sw["sin"] = [sw["sin"][0]]
        ids += [r + "SWIGLU", r + "UP_PROJ"]
    return ids, "layer 0 GATE_PROJ exists for TP0-TP2 but not TP3 (SWIGLU on TP3 fed by UP_PROJ only)."


def d_no_allreduce_after_rowparallel(g):
    ar = "L01_EP2_ALLREDUCE_ATTN"
    g.rm_node(ar)
    ids = []
    for t in range(g.cfg["TP"]):
        r = "L01_EP2_TP%d_" % t
        g.edge(r + "O_PROJ", r + "ATTN_RESID")
        ids += [r + "O_PROJ", r + "ATTN_RESID"]
    return ids, "layer 1 EP2 group: row-parallel O_PROJ partial sums go straight into RESID_ADD, no TP all-reduce."


def d_cross_gpu_no_comm(g):
    old, new, dst = "L00_EP0_TP1_FFN_RESID", "L00_EP0_TP0_FFN_RESID", "L01_EP0_TP1_ATTN_RESID"
    g.rm_edge(old, dst)
    g.edge(new, dst)
    return [new, dst], ("residual skip into %s (cuda:1) now comes from %s on cuda:0, a plain cross-GPU edge "
                        "with equal shapes and no communication node." % (dst, new))


def d_comm_wrong_shape(g):
    n = "L02_EP1_ALLREDUCE_ATTN"
    g.nodes[n]["shape"] = "box"
    return [n], "the layer-2 EP1 attention all-reduce is drawn as a box (computation) instead of an ellipse."


def d_missing_gpu(g):
    n = "L01_EP1_TP0_SOFTMAX"
    g.nodes[n]["dev"] = None
    return [n], "SOFTMAX of layer 1 EP1/TP0 has no device line."


def d_gpu_out_of_range(g):
    ids = []
    for nid, n in g.nodes.items():
        if n["dev"] and 7 in n["dev"]:
            n["dev"] = sorted([11 if x == 7 else x for x in n["dev"]])
            ids.append(nid)
    return ids, "every node of rank EP3/TP1 is placed on cuda:11, but EP4 x TP2 x PP1 = 8 GPUs (ids 0-7)."


def d_stages_share_gpus(g):
    ids = []
    for nid, n in g.nodes.items():
        if n["dev"] is None:
            continue
        if n["cluster"] == "cluster_stage_1" or "_SENDRECV" in nid:
            n["dev"] = sorted([x - 4 if x >= 8 else x for x in n["dev"]])
    for nid, n in g.nodes.items():
        if n["kind"] != "comm" and n["dev"] and set(n["dev"]) & {4, 5, 6, 7}:
            ids.append(nid)
    return ids, (
        "stage 1 is placed on cuda:4-11 instead of cuda:8-15, overlapping stage 0 (cuda:0-7) on cuda:4-7.")


def d_strategy_mismatch(g):
    g.name = g.name.replace("_TP2_", "_TP4_")
    return [], "graph name declares TP4 but every TP group drawn has ranks TP0-TP1 (2 shards, groups TP0-TP1)."


def d_missing_shapes(g):
    n = "L02_EP2_TP0_AV_MATMUL"
    g.nodes[n]["sin"] = None
    g.nodes[n]["sout"] = None
    return [n], "AV_MATMUL of layer 2 EP2/TP0 has no shape_in/shape_out lines."


def d_placeholder(g):
    n = "L01_EP3_TP1_Q_PROJ"
    nd = g.nodes[n]
    nd["sin"] = ["(?," + fmt_shape(nd["sin"][0])[1:].split(",", 1)[1]]
    nd["sout"] = "(?," + fmt_shape(nd["sout"])[1:].split(",", 1)[1]
    nd["extra"].append("batch_size=?")
    return [n], "Q_PROJ of layer 1 EP3/TP1 gives its batch dimension as '?' (batch_size=?)."


def d_moe_before_attention(g):
    c = g.cfg
    ids = []
    for e in range(c["EP"]):
        for t in range(c["TP"]):
            r = "L01_EP%d_TP%d_" % (e, t)
            inp = "L00_EP%d_TP%d_FFN_RESID" % (e, t)
            nxt = [s for s in g.succs(r + "FFN_RESID")]         # layer-2 norm + resid
            # old: inp->ATTN_NORM, inp->ATTN_RESID, ATTN_RESID->FFN_NORM, ATTN_RESID->FFN_RESID,
            #      FFN_RESID->next
            g.rm_edge(inp, r + "ATTN_NORM")
            g.rm_edge(inp, r + "ATTN_RESID")
            g.rm_edge(r + "ATTN_RESID", r + "FFN_NORM")
            g.rm_edge(r + "ATTN_RESID", r + "FFN_RESID")
            for s in nxt:
                g.rm_edge(r + "FFN_RESID", s)
            # new: inp -> MoE block -> FFN_RESID -> attention -> ATTN_RESID -> next
            g.edge(inp, r + "FFN_NORM")
            g.edge(inp, r + "FFN_RESID")
            g.edge(r + "FFN_RESID", r + "ATTN_NORM")
            g.edge(r + "FFN_RESID", r + "ATTN_RESID")
            for s in nxt:
                g.edge(r + "ATTN_RESID", s)
            ids += [r + "FFN_NORM", r + "ATTN_NORM"]
    return ids, "layer 1 (every rank): the MoE block (norm, router, all-to-all, experts) runs before the attention block."


def d_missing_residual(g):
    r = "L02_EP0_TP1_FFN_RESID"
    g.rm_edge("L02_EP0_TP1_ATTN_RESID", r)
    n = g.nodes[r]
    n["sin"] = [n["sin"][0]]
    return [r, "L02_EP0_TP1_ATTN_RESID"], "the MoE RESID_ADD of layer 2 EP0/TP1 is fed only by the MoE all-gather; the skip edge is removed."


# kind -> (base, category, fn)
DEFECTS = [
    ("cycle", "clean_1", "structure", d_cycle),
    ("dangling_input", "clean_1", "structure", d_dangling_input),
    ("dangling_output", "clean_1", "structure", d_dangling_output),
    ("attention_one_box", "clean_1", "attention", d_attention_one_box),
    ("v_bypasses_softmax", "clean_1", "attention", d_v_bypasses_softmax),
    ("v_into_score", "clean_1", "attention", d_v_into_score),
    ("qkv_into_oproj", "clean_1", "attention", d_qkv_into_oproj),
    ("head_arithmetic", "clean_1", "attention", d_head_arithmetic),
    ("tp_heads", "clean_1", "attention", d_tp_heads),
    ("edge_shape_mismatch", "clean_1", "shape", d_edge_shape_mismatch),
    ("shard_without_gather", "clean_1", "shape", d_shard_without_gather),
    ("stage_count", "clean_2", "pipeline", d_stage_count),
    ("stage_range_gap", "clean_2", "pipeline", d_stage_range_gap),
    ("stage_missing_layer", "clean_2", "pipeline", d_stage_missing_layer),
    ("no_stage_transfer", "clean_2", "pipeline", d_no_stage_transfer),
    ("experts_subset_ranks", "clean_1", "expert", d_experts_subset_ranks),
    ("experts_uneven", "clean_1", "expert", d_experts_uneven),
    ("experts_share_gpu", "clean_1", "expert", d_experts_share_gpu),
    ("no_gate", "clean_1", "expert", d_no_gate),
    ("no_all_to_all", "clean_1", "expert", d_no_all_to_all),
    ("tp_rank_missing", "clean_2", "tensor", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "clean_1", "tensor", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "clean_1", "communication", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "clean_1", "communication", d_comm_wrong_shape),
    ("missing_gpu", "clean_1", "gpu", d_missing_gpu),
    ("gpu_out_of_range", "clean_1", "gpu", d_gpu_out_of_range),
    ("stages_share_gpus", "clean_2", "gpu", d_stages_share_gpus),
    ("strategy_mismatch", "clean_1", "strategy", d_strategy_mismatch),
    ("missing_shapes", "clean_1", "annotation", d_missing_shapes),
    ("placeholder", "clean_1", "annotation", d_placeholder),
    ("moe_before_attention", "clean_1", "structure", d_moe_before_attention),
    ("missing_residual", "clean_1", "structure", d_missing_residual),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for key in ("clean_1", "clean_2", "clean_3"):
        g = build(key)
        fn = key + ".dot"
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fn, kind="clean", category="none", nodes=[],
                             what="clean %s DAG (%d layers, dense_layers=1)" % (g.name, g.cfg["layers"])))
    for kind, base, cat, fnc in DEFECTS:
        g = build(base)
        nodes, what = fnc(g)
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(g.render())
        manifest.append(dict(file=fn, kind=kind, category=cat, nodes=nodes,
                             what="[base %s.dot] %s" % (base, what)))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("wrote %d files to %s" % (len(manifest), OUT))


if __name__ == "__main__":
    main()
