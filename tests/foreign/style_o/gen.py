#!/usr/bin/env python3
"""House style O: notebook-emitted Graphviz with HTML-like table labels.

Writes out/clean_{1,2,3}.dot, out/defect_<kind>.dot and out/manifest.json.
stdlib only.  Run:  python3 gen.py

Style rules
  * every node is shape=plaintext with label=<<TABLE ...>...</TABLE>> whose rows are
    <TR><TD>key</TD><TD>value</TD></TR> for Op, Layer, Input, Output, Device
  * communication: table BGCOLOR="lightblue", Op starts with "NCCL "
  * routing (router, gather & weight): table BGCOLOR="khaki"
  * ids: 'h' + 6 hex chars of sha1(graph|role)  (deterministic)
  * shapes with named dims [batch=2, seq=512, hidden=2048]; device cuda:N
  * one node per TP rank; pipeline stages marked by a plain-text node
    "== Pipeline stage p: layers a-b ==" (dashed edges in and out), no clusters
  * strategy only in the graph name, e.g. digraph "moe_ep2_tp2_pp2"

Layout (product layout, #GPUs = EP*TP*PP*DP)
  MoE files (DP=1): per stage EP*TP GPUs, gpu = stage*EP*TP + e*TP + t.  The EP groups run
  attention data-parallel on their own token batch (TP inside each group); the MoE layer
  exchanges tokens between the EP groups with one all-to-all per TP rank; experts of EP rank e
  are TP-sharded over GPUs e*TP .. e*TP+TP-1 (E/EP experts per rank, contiguous indices).
  Dense files: each DP replica is a full copy, gpu = (d*PP + stage)*TP + t.
"""
import copy
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


# --------------------------------------------------------------------------- model
def shp(**kw):
    """ordered named shape; python keeps kwarg order"""
    return tuple(kw.items())


def shape_str(s):
    return "[" + ", ".join(f"{k}={v}" for k, v in s) + "]"


class Graph:
    def __init__(self, name, idkey):
        self.name = name
        self.idkey = idkey          # id seed: stays the same in defect copies
        self.nodes = {}             # id -> dict (insertion ordered)
        self.bykey = {}             # role key -> id
        self.edges = []             # [src, dst, dashed]
        self.meta = {}

    # ids ---------------------------------------------------------------
    def nid(self, key):
        salt = 0
        while True:
            h = hashlib.sha1(f"{self.idkey}|{key}|{salt}".encode()).hexdigest()[:6]
            i = "h" + h
            if i not in self.nodes:
                return i
            salt += 1

    def add(self, key, kind, op=None, layer=None, inp=None, out=None, dev=None, text=None):
        assert key not in self.bykey, key
        i = self.nid(key)
        self.nodes[i] = dict(id=i, key=key, kind=kind, op=op, layer=layer,
                             inp=list(inp) if inp else None, out=out,
                             dev=list(dev) if dev is not None else None, text=text,
                             shape="plaintext", bg=None)
        self.bykey[key] = i
        return i

    def k(self, key):
        return self.bykey[key]

    def e(self, a, b, dashed=False):
        self.edges.append([a, b, dashed])

    def has_edge(self, a, b):
        return any(x == a and y == b for x, y, _ in self.edges)

    def del_edge(self, a, b):
        n = len(self.edges)
        self.edges = [ed for ed in self.edges if not (ed[0] == a and ed[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def del_node(self, i):
        del self.nodes[i]
        self.edges = [ed for ed in self.edges if ed[0] != i and ed[1] != i]
        self.bykey = {k: v for k, v in self.bykey.items() if v != i}

    def succ(self, i):
        return [b for a, b, _ in self.edges if a == i]

    def pred(self, i):
        return [a for a, b, _ in self.edges if b == i]

    def copy(self):
        return copy.deepcopy(self)

    # rendering ------------------------------------------------------------
    def render(self):
        L = [f'digraph "{self.name}" {{',
             '  rankdir=TB;',
             '  node [shape=plaintext, fontname="Helvetica", fontsize=10];',
             '  edge [arrowsize=0.7];']
        for n in self.nodes.values():
            if n["kind"] == "marker":
                L.append(f'  {n["id"]} [shape=plaintext, fontsize=14, label="{n["text"]}"];')
                continue
            rows = [("Op", n["op"])]
            if n["layer"] is not None:
                rows.append(("Layer", str(n["layer"])))
            if n["inp"]:
                rows.append(("Input", ", ".join(shape_str(s) for s in n["inp"])))
            if n["out"]:
                rows.append(("Output", shape_str(n["out"])))
            if n["dev"]:
                rows.append(("Device", ", ".join(f"cuda:{d}" for d in sorted(n["dev"]))))
            bg = n["bg"]
            if bg is None:
                bg = {"comm": "lightblue", "route": "khaki"}.get(n["kind"])
            tattr = 'BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3"'
            if bg:
                tattr += f' BGCOLOR="{bg}"'
            cells = "".join(f"<TR><TD>{esc(a)}</TD><TD>{esc(b)}</TD></TR>" for a, b in rows)
            L.append(f'  {n["id"]} [shape={n["shape"]}, label=<<TABLE {tattr}>{cells}</TABLE>>];')
        for a, b, dashed in self.edges:
            L.append(f"  {a} -> {b}" + (" [style=dashed];" if dashed else ";"))
        L.append("}")
        return "\n".join(L) + "\n"


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- builder
def build(name, idkey, *, moe, EP=1, TP=1, PP=1, DP=1, L=2, H=2048, heads=16, hd=128,
          E=0, topk=2, F=0, batch=2, seq=512, vocab=32000):
    assert heads * hd == H and heads % TP == 0 and vocab % TP == 0 and L % PP == 0
    if moe:
        assert DP == 1 and E % EP == 0
        G = EP                                   # attention groups per stage
        gpu = lambda p, g, t: p * EP * TP + g * TP + t
    else:
        assert F % TP == 0
        G = DP
        gpu = lambda p, g, t: (g * PP + p) * TP + t
    g_ = Graph(name, idkey)
    g_.meta = dict(moe=moe, EP=EP, TP=TP, PP=PP, DP=DP, L=L, H=H, heads=heads, hd=hd, E=E,
                   topk=topk, F=F, batch=batch, seq=seq, vocab=vocab, G=G,
                   ngpu=EP * TP * PP * DP if moe else TP * PP * DP)
    gpu_of = {}
    g_.meta["gpu"] = None
    b, s = batch, seq
    hp = heads // TP
    S_ids = shp(batch=b, seq=s)
    S_h = shp(batch=b, seq=s, hidden=H)
    S_q = shp(batch=b, seq=s, heads=hp, head_dim=hd)
    S_sc = shp(batch=b, heads=hp, seq=s, kv_seq=s)
    per_stage = L // PP
    stage_of = lambda l: l // per_stage
    R = range(G)
    T = range(TP)
    if moe:
        tok = EP * b * s * topk // E              # tokens per expert (balanced routing)
        S_tok = shp(tokens=tok, hidden=H)
        S_rt = shp(batch=b, seq=s, top_k=topk)
        S_cb = shp(batch=b, seq=s, top_k=topk, hidden=H)
    gtag = "e" if moe else "d"

    # ---- input + embedding (stage 0 marker, if any, sits between the inputs and the embedding)
    stream = {}
    markers = {}
    inputs = {}
    for g in R:
        for t in T:
            inputs[g, t] = g_.add(f"in/{gtag}{g}/t{t}", "io", "Input", out=S_ids, dev=[gpu(0, g, t)])
    m0 = None
    if PP > 1:
        m0 = g_.add("stage0", "marker", text=f"== Pipeline stage 0: layers 0-{per_stage - 1} ==")
        markers[0] = m0
        for g in R:
            for t in T:
                g_.e(inputs[g, t], m0, True)
    for g in R:
        ar = None
        if TP > 1:
            ar_devs = [gpu(0, g, t) for t in T]
        for t in T:
            dv = [gpu(0, g, t)]
            emb = g_.add(f"embed/{gtag}{g}/t{t}", "compute",
                         "Embedding (shard)" if TP > 1 else "Embedding",
                         inp=[S_ids], out=S_h, dev=dv)
            if m0:
                g_.e(m0, emb, True)
            g_.e(inputs[g, t], emb)
            if TP > 1:
                if ar is None:
                    ar = g_.add(f"embed_ar/{gtag}{g}", "comm", "NCCL AllReduce (sum)",
                                inp=[S_h], out=S_h, dev=ar_devs)
                g_.e(emb, ar)
                stream[g, t] = ar
            else:
                stream[g, t] = emb

    for l in range(L):
        p = stage_of(l)
        if PP > 1 and p > 0 and l % per_stage == 0:
            # send (old stage)  ->  marker  ->  recv (new stage); data edge send -> recv
            lo, hi = p * per_stage, p * per_stage + per_stage - 1
            snd = {}
            for g in R:
                for t in T:
                    snd[g, t] = g_.add(f"send/s{p-1}/{gtag}{g}/t{t}", "comm", "NCCL Send",
                                       inp=[S_h], out=S_h, dev=[gpu(p - 1, g, t)])
                    g_.e(stream[g, t], snd[g, t])
            marker = g_.add(f"stage{p}", "marker", text=f"== Pipeline stage {p}: layers {lo}-{hi} ==")
            markers[p] = marker
            for g in R:
                for t in T:
                    rcv = g_.add(f"recv/s{p}/{gtag}{g}/t{t}", "comm", "NCCL Recv",
                                 inp=[S_h], out=S_h, dev=[gpu(p, g, t)])
                    g_.e(snd[g, t], rcv)
                    g_.e(snd[g, t], marker, True)
                    g_.e(marker, rcv, True)
                    stream[g, t] = rcv
        # ---- attention
        res1 = {}
        for g in R:
            ar = None
            for t in T:
                dv = [gpu(p, g, t)]
                K = f"L{l}/{gtag}{g}/t{t}/"
                n1 = g_.add(K + "norm1", "compute", "RMSNorm", l, [S_h], S_h, dv)
                wq = g_.add(K + "wq", "compute", "Wq", l, [S_h], S_q, dv)
                wk = g_.add(K + "wk", "compute", "Wk", l, [S_h], S_q, dv)
                wv = g_.add(K + "wv", "compute", "Wv", l, [S_h], S_q, dv)
                rq = g_.add(K + "rope_q", "compute", "RoPE(q)", l, [S_q], S_q, dv)
                rk = g_.add(K + "rope_k", "compute", "RoPE(k)", l, [S_q], S_q, dv)
                qk = g_.add(K + "score", "compute", "Q @ K^T / sqrt(d)", l, [S_q, S_q], S_sc, dv)
                mk = g_.add(K + "mask", "compute", "Causal mask", l, [S_sc], S_sc, dv)
                sm = g_.add(K + "softmax", "compute", "Softmax", l, [S_sc], S_sc, dv)
                pv = g_.add(K + "pv", "compute", "P @ V", l, [S_sc, S_q], S_q, dv)
                wo = g_.add(K + "wo", "compute", "Wo", l, [S_q], S_h, dv)
                r1 = g_.add(K + "res1", "compute", "Residual", l, [S_h, S_h], S_h, dv)
                g_.e(stream[g, t], n1)
                for a, c in [(n1, wq), (n1, wk), (n1, wv), (wq, rq), (wk, rk), (rq, qk), (rk, qk),
                             (qk, mk), (mk, sm), (sm, pv), (wv, pv), (pv, wo)]:
                    g_.e(a, c)
                if TP > 1:
                    if ar is None:
                        ar = g_.add(f"L{l}/{gtag}{g}/attn_ar", "comm", "NCCL AllReduce (sum)", l,
                                    [S_h], S_h, [gpu(p, g, tt) for tt in T])
                    g_.e(wo, ar)
                    g_.e(ar, r1)
                else:
                    g_.e(wo, r1)
                g_.e(stream[g, t], r1)       # skip connection
                res1[g, t] = r1
        # ---- FFN / MoE
        if moe:
            n2, rt = {}, {}
            for g in R:
                for t in T:
                    dv = [gpu(p, g, t)]
                    K = f"L{l}/{gtag}{g}/t{t}/"
                    n2[g, t] = g_.add(K + "norm2", "compute", "RMSNorm", l, [S_h], S_h, dv)
                    rt[g, t] = g_.add(K + "router", "route", f"Router top-{topk}", l, [S_h], S_rt, dv)
                    g_.e(res1[g, t], n2[g, t])
                    g_.e(n2[g, t], rt[g, t])
            disp, comb = {}, {}
            for t in T:
                devs = [gpu(p, g, t) for g in R]
                disp[t] = g_.add(f"L{l}/t{t}/dispatch", "comm", "NCCL AllToAll (dispatch)", l,
                                 [S_h, S_rt], S_tok, devs)
                comb[t] = g_.add(f"L{l}/t{t}/combine", "comm", "NCCL AllToAll (combine)", l,
                                 [S_tok], S_cb, devs)
                for g in R:
                    g_.e(n2[g, t], disp[t])
                    g_.e(rt[g, t], disp[t], True)
            per = E // EP
            for x in range(E):
                r = x // per
                ex = {}
                for t in T:
                    ex[t] = g_.add(f"L{l}/x{x}/t{t}/expert", "compute", f"FFN expert #{x}", l,
                                   [S_tok], S_tok, [gpu(p, r, t)])
                    g_.e(disp[t], ex[t])
                if TP > 1:
                    ear = g_.add(f"L{l}/x{x}/expert_ar", "comm", "NCCL AllReduce (sum)", l,
                                 [S_tok], S_tok, [gpu(p, r, t) for t in T])
                    for t in T:
                        g_.e(ex[t], ear)
                    for t in T:
                        g_.e(ear, comb[t])
                else:
                    g_.e(ex[0], comb[0])
            for g in R:
                for t in T:
                    dv = [gpu(p, g, t)]
                    K = f"L{l}/{gtag}{g}/t{t}/"
                    ga = g_.add(K + "gather", "route", "Gather & weight", l, [S_cb, S_rt], S_h, dv)
                    r2 = g_.add(K + "res2", "compute", "Residual", l, [S_h, S_h], S_h, dv)
                    g_.e(comb[t], ga)
                    g_.e(rt[g, t], ga, True)
                    g_.e(ga, r2)
                    g_.e(res1[g, t], r2)
                    stream[g, t] = r2
        else:
            S_f = shp(batch=b, seq=s, ffn=F // TP)
            for g in R:
                ar = None
                for t in T:
                    dv = [gpu(p, g, t)]
                    K = f"L{l}/{gtag}{g}/t{t}/"
                    n2 = g_.add(K + "norm2", "compute", "RMSNorm", l, [S_h], S_h, dv)
                    wg = g_.add(K + "w_gate", "compute", "W_gate", l, [S_h], S_f, dv)
                    wu = g_.add(K + "w_up", "compute", "W_up", l, [S_h], S_f, dv)
                    ac = g_.add(K + "act", "compute", "SiLU(gate) * up", l, [S_f, S_f], S_f, dv)
                    wd = g_.add(K + "w_down", "compute", "W_down", l, [S_f], S_h, dv)
                    r2 = g_.add(K + "res2", "compute", "Residual", l, [S_h, S_h], S_h, dv)
                    for a, c in [(res1[g, t], n2), (n2, wg), (n2, wu), (wg, ac), (wu, ac), (ac, wd)]:
                        g_.e(a, c)
                    if TP > 1:
                        if ar is None:
                            ar = g_.add(f"L{l}/{gtag}{g}/mlp_ar", "comm", "NCCL AllReduce (sum)", l,
                                        [S_h], S_h, [gpu(p, g, tt) for tt in T])
                        g_.e(wd, ar)
                        g_.e(ar, r2)
                    else:
                        g_.e(wd, r2)
                    g_.e(res1[g, t], r2)
                    stream[g, t] = r2

    # ---- final norm, LM head, output
    p = PP - 1
    S_vs = shp(batch=b, seq=s, vocab=vocab // TP)
    S_v = shp(batch=b, seq=s, vocab=vocab)
    for g in R:
        ag = None
        if TP > 1:
            ag = g_.add(f"lm_ag/{gtag}{g}", "comm", "NCCL AllGather", None, [S_vs], S_v,
                        [gpu(p, g, t) for t in T])
        out = g_.add(f"out/{gtag}{g}", "io", "Output", None, [S_v], None, [gpu(p, g, 0)])
        for t in T:
            dv = [gpu(p, g, t)]
            fn = g_.add(f"final_norm/{gtag}{g}/t{t}", "compute", "Final RMSNorm", None, [S_h], S_h, dv)
            vp = g_.add(f"lm_head/{gtag}{g}/t{t}", "compute",
                        "Vocab proj (shard)" if TP > 1 else "Vocab proj", None, [S_h],
                        S_vs, dv)
            g_.e(stream[g, t], fn)
            g_.e(fn, vp)
            g_.e(vp, ag if ag else out)
        if ag:
            g_.e(ag, out)
    g_.meta["markers"] = markers
    return g_


# --------------------------------------------------------------------------- checker
def check(G_):
    """independent sanity checker for my own output: returns a list of problems"""
    probs = []
    N = G_.nodes
    ins = {i: [] for i in N}
    outs = {i: [] for i in N}
    for a, b, _ in G_.edges:
        if a not in N or b not in N:
            probs.append(f"edge to unknown node {a}->{b}")
            continue
        outs[a].append(b)
        ins[b].append(a)
    # cycle
    deg = {i: len(ins[i]) for i in N}
    q = [i for i in N if deg[i] == 0]
    seen = 0
    while q:
        i = q.pop()
        seen += 1
        for j in outs[i]:
            deg[j] -= 1
            if deg[j] == 0:
                q.append(j)
    if seen != len(N):
        probs.append("cycle")
    for i, n in N.items():
        isin = n["kind"] == "io" and n["op"] == "Input"
        isout = n["kind"] == "io" and n["op"] == "Output"
        if not ins[i] and not isin:
            probs.append(f"no input edge: {i} {n['key']}")
        if not outs[i] and not isout:
            probs.append(f"no output edge: {i} {n['key']}")
        if n["kind"] == "compute":
            if not n["inp"] or not n["out"]:
                probs.append(f"missing shapes: {i} {n['key']}")
            if not n["dev"]:
                probs.append(f"missing device: {i} {n['key']}")
        for s_ in (n["inp"] or []) + ([n["out"]] if n["out"] else []):
            if any(v == "?" for _, v in s_):
                probs.append(f"placeholder: {i}")
        if n["dev"] and max(n["dev"]) >= G_.meta["ngpu"]:
            probs.append(f"gpu out of range: {i}")
    for a, b, _ in G_.edges:
        A, B = N.get(a), N.get(b)
        if not A or not B:
            continue
        exempt = A["kind"] in ("comm", "route", "marker") or B["kind"] in ("comm", "route", "marker")
        if not exempt:
            if A["out"] is None or not B["inp"] or A["out"] not in B["inp"]:
                probs.append(f"shape mismatch {a}->{b} {A['key']}->{B['key']}")
        if A["kind"] != "comm" and B["kind"] != "comm":
            if A["dev"] and B["dev"] and A["dev"] != B["dev"]:
                probs.append(f"cross gpu {a}->{b} {A['key']}->{B['key']}")
    # head arithmetic + TP heads
    m = G_.meta
    for i, n in N.items():
        if n["op"] in ("Wq", "Wk", "Wv") and n["out"]:
            d = dict(n["out"])
            if d["heads"] * d["head_dim"] * m["TP"] != m["H"]:
                probs.append(f"head arithmetic/TP heads: {i} {n['key']}")
    # attention wiring
    for i, n in N.items():
        if n["op"] == "P @ V":
            ops = sorted(N[j]["op"] for j in ins[i])
            if ops != ["Softmax", "Wv"]:
                probs.append(f"P@V inputs {ops}: {i}")
        if n["op"] == "Q @ K^T / sqrt(d)":
            ops = sorted(N[j]["op"] for j in ins[i])
            if ops != ["RoPE(k)", "RoPE(q)"]:
                probs.append(f"score inputs {ops}: {i}")
        if n["op"] == "Residual" and len(ins[i]) != 2:
            probs.append(f"residual with {len(ins[i])} inputs: {i}")
    # experts per layer per GPU
    if m["moe"]:
        per_layer = {}
        for n in N.values():
            if n["op"] and n["op"].startswith("FFN expert #"):
                x = int(n["op"].split("#")[1])
                per_layer.setdefault(n["layer"], {}).setdefault(tuple(n["dev"]), set()).add(x)
        for l, d in per_layer.items():
            counts = sorted(len(v) for v in d.values())
            if len(d) != m["EP"] * m["TP"] or len(set(counts)) != 1:
                probs.append(f"expert placement layer {l}: {counts}")
            for dv, xs in d.items():
                ranks = {x // (m["E"] // m["EP"]) for x in xs}
                if len(ranks) > 1:
                    probs.append(f"experts of ranks {sorted(ranks)} share {dv}")
    return probs


# --------------------------------------------------------------------------- defects
def ids_where(G_, pred):
    return [i for i, n in G_.nodes.items() if pred(n)]


def D(G_, *keys):
    return [G_.k(k) for k in keys]


def defects(C1, C2, C3):
    """yield (kind, category, base_file, graph, nodes, what)"""
    out = []

    def add(kind, cat, base, g, nodes, what):
        out.append((kind, cat, base, g, nodes, what))

    # ---------------- structure
    g = C1.copy()
    x, a2a = g.k("L0/x1/t0/expert"), g.k("L0/t0/dispatch")
    g.e(x, a2a)
    add("cycle", "structure", "clean_1.dot", g, [x, a2a],
        "Layer 0 expert #1 also feeds back into the dispatch all-to-all that feeds it "
        "(dispatch -> expert and expert -> dispatch), a 2-node cycle.")

    g = C2.copy()
    n1, wk = g.k("L1/e0/t1/norm1"), g.k("L1/e0/t1/wk")
    g.del_edge(n1, wk)
    add("dangling_input", "structure", "clean_2.dot", g, [wk],
        "Layer 1, EP group 0, TP rank 1: the Wk projection has no incoming edge (RMSNorm -> Wk removed).")

    g = C2.copy()
    vp, ag = g.k("lm_head/e1/t1"), g.k("lm_ag/e1")
    g.del_edge(vp, ag)
    add("dangling_output", "structure", "clean_2.dot", g, [vp],
        "EP group 1, TP rank 1: the vocab-projection shard's output goes nowhere "
        "(edge into the logits all-gather removed).")

    # ---------------- attention
    g = C1.copy()
    K = "L1/e2/t0/"
    drop = ["wq", "wk", "wv", "rope_q", "rope_k", "score", "mask", "softmax", "pv", "wo"]
    n1, r1 = g.k(K + "norm1"), g.k(K + "res1")
    src = g.nodes[g.k(K + "wo")]
    for d in drop:
        g.del_node(g.k(K + d))
    H = C1.meta["H"]
    mha = g.add(K + "mha", "compute", "Multi-Head Attention", 1, [src["out"]], src["out"], src["dev"])
    # put the box where the attention was in the edge order
    g.e(n1, mha)
    g.e(mha, r1)
    add("attention_one_box", "attention", "clean_1.dot", g, [mha],
        "Layer 1 attention of EP group 2 (cuda:2) is drawn as one 'Multi-Head Attention' box "
        "instead of Wq/Wk/Wv, score, softmax, P@V, Wo.")

    g = C2.copy()
    K = "L2/e1/t0/"
    sm, pv, wo = g.k(K + "softmax"), g.k(K + "pv"), g.k(K + "wo")
    g.del_edge(sm, pv)
    g.e(sm, wo)
    P, W, S = g.nodes[pv], g.nodes[wo], g.nodes[sm]
    P["inp"] = [P["inp"][1]]                      # only V now
    W["inp"] = [W["inp"][0], S["out"]]            # Wo takes P@V (=V) and the softmax
    add("v_bypasses_softmax", "attention", "clean_2.dot", g, [pv, sm],
        "Layer 2, EP group 1, TP rank 0: P @ V is fed by V only; the softmax bypasses it and "
        "goes straight to Wo.")

    g = C1.copy()
    K = "L1/e0/t0/"
    qk, wv = g.k(K + "score"), g.k(K + "wv")
    g.del_node(g.k(K + "rope_k"))
    g.del_node(g.k(K + "wk"))
    g.e(wv, qk)
    add("v_into_score", "attention", "clean_1.dot", g, [qk, wv],
        "Layer 1 on cuda:0: the score Q @ K^T takes V (Wv) instead of K (Wk and RoPE(k) not drawn).")

    g = C1.copy()
    K = "L0/e1/t0/"
    wq, wk, wv, wo = D(g, K + "wq", K + "wk", K + "wv", K + "wo")
    Sq = g.nodes[wq]["out"]
    for d in ["rope_q", "rope_k", "score", "mask", "softmax", "pv"]:
        g.del_node(g.k(K + d))
    g.e(wq, wo); g.e(wk, wo); g.e(wv, wo)
    g.nodes[wo]["inp"] = [Sq, Sq, Sq]
    add("qkv_into_oproj", "attention", "clean_1.dot", g, [wo, wq, wk, wv],
        "Layer 0 on cuda:1: Wq, Wk and Wv go straight into Wo; no score, softmax or P @ V.")

    g = C2.copy()
    l = 2
    hd_bad = 64
    touched = []
    for i, n in g.nodes.items():
        if n["layer"] != l:
            continue
        def fix(s):
            return tuple((k_, hd_bad if k_ == "head_dim" else v) for k_, v in s)
        if n["inp"]:
            n["inp"] = [fix(s) for s in n["inp"]]
        if n["out"]:
            n["out"] = fix(n["out"])
        if n["op"] in ("Wq", "Wk", "Wv"):
            touched.append(i)
    add("head_arithmetic", "attention", "clean_2.dot", g, touched,
        "Layer 2 labels use head_dim=64 with 16 heads (8 per TP rank): 16 x 64 = 1024 != hidden 2048.")

    g = C2.copy()
    K = "L1/e0/t1/"
    full = C2.meta["heads"]
    touched = []
    for d in ["wq", "wk", "wv", "rope_q", "rope_k", "score", "mask", "softmax", "pv", "wo"]:
        n = g.nodes[g.k(K + d)]
        fix = lambda s: tuple((k_, full if k_ == "heads" else v) for k_, v in s)
        n["inp"] = [fix(s) for s in n["inp"]]
        n["out"] = fix(n["out"])
    tp_nodes = D(g, K + "wq", K + "wk", K + "wv")
    add("tp_heads", "attention", "clean_2.dot", g, tp_nodes,
        "Layer 1, EP group 0, TP rank 1 (cuda:1): Wq/Wk/Wv output all 16 heads instead of 16/TP2 = 8.")

    # ---------------- shape
    g = C2.copy()
    n2 = g.k("L3/e1/t0/norm2")
    g.nodes[n2]["inp"] = [shp(batch=2, seq=512, hidden=1536)]
    add("edge_shape_mismatch", "shape", "clean_2.dot", g, [n2, g.k("L3/e1/t0/res1")],
        "Layer 3 post-attention RMSNorm on cuda:6 declares Input hidden=1536 while its producer "
        "(Residual) outputs hidden=2048 (factor 4/3, not a parallel degree).")

    g = C3.copy()
    emb, ar, n1 = g.k("embed/d0/t1"), g.k("embed_ar/d0"), g.k("L0/d0/t1/norm1")
    Hh = C3.meta["H"]
    g.nodes[emb]["out"] = shp(batch=2, seq=512, hidden=Hh // C3.meta["TP"])
    g.del_edge(ar, n1)
    g.e(emb, n1)
    add("shard_without_gather", "shape", "clean_3.dot", g, [emb, n1],
        "Replica 0, TP rank 1: the embedding shard's output [hidden=1024] (= 4096/TP4) goes straight "
        "into layer 0's RMSNorm, which expects hidden=4096, without the all-reduce.")

    # ---------------- pipeline
    g = C2.copy()
    g.name = "moe_ep2_tp2_pp4"
    add("stage_count", "pipeline", "clean_2.dot", g, [],
        "Graph name declares PP=4 but only 2 pipeline stages are drawn.")

    g = C2.copy()
    m0 = g.meta["markers"][0]
    g.nodes[m0]["text"] = "== Pipeline stage 0: layers 0-0 =="
    add("stage_range_gap", "pipeline", "clean_2.dot", g, [m0],
        "Stage 0 claims layers 0-0 and stage 1 layers 2-3: layer 1 is in no stage's range (gap).")

    g = C2.copy()
    m1 = g.meta["markers"][1]
    g.nodes[m1]["text"] = "== Pipeline stage 1: layers 2-4 =="
    add("stage_missing_layer", "pipeline", "clean_2.dot", g, [m1],
        "Stage 1 claims layers 2-4 but layer 4 has no operator nodes.")

    g = C2.copy()
    m1 = g.meta["markers"][1]
    touched = []
    for e_ in range(2):
        for t in range(2):
            snd, rcv = g.k(f"send/s0/e{e_}/t{t}"), g.k(f"recv/s1/e{e_}/t{t}")
            r2 = g.k(f"L1/e{e_}/t{t}/res2")
            succs = [(b_, d_) for a_, b_, d_ in g.edges if a_ == rcv]
            g.del_node(snd)
            g.del_node(rcv)
            for b_, d_ in succs:
                g.e(r2, b_, d_)
            g.e(r2, m1, True)
            g.e(m1, g.k(f"L2/e{e_}/t{t}/norm1"), True)
            touched += [r2, g.k(f"L2/e{e_}/t{t}/norm1")]
    add("no_stage_transfer", "pipeline", "clean_2.dot", g, touched,
        "Stage 0's last residuals (layer 1, cuda:0-3) feed stage 1 (layer 2, cuda:4-7) by plain "
        "edges: no NCCL Send/Recv between the stages.")

    # ---------------- expert
    g = C1.copy()
    # layer 0: lay the 8 experts out as if EP were 2: #0-3 on cuda:0, #4-7 on cuda:1
    touched = []
    for x in range(8):
        i = g.k(f"L0/x{x}/t0/expert")
        g.nodes[i]["dev"] = [x // 4]
        touched.append(i)
    add("experts_subset_ranks", "expert", "clean_1.dot", g, touched,
        "Layer 0 places its 8 experts only on EP ranks 0-1 (cuda:0, cuda:1, 4 each); EP ranks 2-3 "
        "(cuda:2, cuda:3) hold no expert.")

    g = C1.copy()
    i = g.k("L1/x2/t0/expert")
    g.nodes[i]["dev"] = [0]
    add("experts_uneven", "expert", "clean_1.dot", g,
        [i] + [g.k(f"L1/x{x}/t0/expert") for x in (0, 1, 3)],
        "Layer 1 divides its 8 experts 3/1/2/2 over the 4 EP ranks (expert #2 moved from cuda:1 "
        "to cuda:0) instead of 2 each.")

    g = C2.copy()
    ids = [g.k("L1/x2/t0/expert"), g.k("L1/x2/t1/expert"), g.k("L1/x2/expert_ar")]
    g.nodes[ids[0]]["dev"] = [0]
    g.nodes[ids[1]]["dev"] = [1]
    g.nodes[ids[2]]["dev"] = [0, 1]
    add("experts_share_gpu", "expert", "clean_2.dot", g,
        ids[:2] + [g.k("L1/x0/t0/expert"), g.k("L1/x0/t1/expert"),
                   g.k("L1/x1/t0/expert"), g.k("L1/x1/t1/expert")],
        "Layer 1: expert #2 (EP rank 1's by the E/EP=2 split) is placed on cuda:0/cuda:1, the GPUs "
        "of EP rank 0 that already hold experts #0 and #1.")

    g = C2.copy()
    l = 3
    touched = []
    for e_ in range(2):
        for t in range(2):
            rt = g.k(f"L{l}/e{e_}/t{t}/router")
            ga = g.k(f"L{l}/e{e_}/t{t}/gather")
            g.del_node(rt)
            g.nodes[ga]["inp"] = [g.nodes[ga]["inp"][0]]
    for t in range(2):
        dsp = g.k(f"L{l}/t{t}/dispatch")
        g.nodes[dsp]["inp"] = [g.nodes[dsp]["inp"][0]]     # no routing tensor any more
        touched.append(dsp)
    for x in range(4):
        for t in range(2):
            touched.append(g.k(f"L{l}/x{x}/t{t}/expert"))
    add("no_gate", "expert", "clean_2.dot", g, touched,
        "Layer 3 has no router: the dispatch all-to-all and the experts are not preceded by any "
        "gate (Router top-2 nodes removed).")

    g = C2.copy()
    l = 1
    touched = []
    for t in range(2):
        g.del_node(g.k(f"L{l}/t{t}/dispatch"))
    for x in range(4):
        r = x // 2
        for t in range(2):
            xi = g.k(f"L{l}/x{x}/t{t}/expert")
            n2 = g.k(f"L{l}/e{r}/t{t}/norm2")
            rt = g.k(f"L{l}/e{r}/t{t}/router")
            g.e(n2, xi)
            g.e(rt, xi, True)
            S_h = g.nodes[n2]["out"]
            g.nodes[xi]["inp"] = [S_h]
            g.nodes[xi]["out"] = S_h
            touched.append(xi)
    for x in range(4):
        ear = g.k(f"L{l}/x{x}/expert_ar")
        g.nodes[ear]["inp"] = [shp(batch=2, seq=512, hidden=2048)]
        g.nodes[ear]["out"] = shp(batch=2, seq=512, hidden=2048)
    for t in range(2):
        g.nodes[g.k(f"L{l}/t{t}/combine")]["inp"] = [shp(batch=2, seq=512, hidden=2048)]
    add("no_all_to_all", "expert", "clean_2.dot", g, touched,
        "Layer 1 (EP=2): tokens go from each GPU's RMSNorm straight into the local experts with no "
        "dispatch all-to-all (the combine all-to-all is still drawn).")

    # ---------------- tensor
    g = C3.copy()
    K = "L1/d0/t3/"
    wu = g.k(K + "w_up")
    g.del_node(wu)
    add("tp_rank_missing", "tensor", "clean_3.dot", g,
        [g.k(f"L1/d0/t{t}/w_up") for t in range(3)] + [g.k(K + "act"), g.k(K + "norm2")],
        "Layer 1, replica 0: W_up (column-parallel) is drawn for TP ranks 0-2 but not for rank 3 (cuda:3).")

    g = C3.copy()
    K = "L0/d1/"
    ar = g.k(K + "mlp_ar")
    touched = []
    for t in range(4):
        wd, r2 = g.k(f"{K}t{t}/w_down"), g.k(f"{K}t{t}/res2")
        g.e(wd, r2)
        touched += [wd, r2]
    g.del_node(ar)
    # keep edge order: the direct edge replaces the all-reduce edge
    add("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", g, touched,
        "Layer 0, replica 1 (cuda:4-7): the row-parallel W_down partial sums go straight into the "
        "residual add; the MLP all-reduce is missing.")

    # ---------------- communication
    g = C2.copy()
    src_ok, src_bad = g.k("L0/e0/t1/res2"), g.k("L0/e0/t0/res2")
    dst = g.k("L1/e0/t1/res1")
    g.del_edge(src_ok, dst)
    g.e(src_bad, dst)
    add("cross_gpu_no_comm", "communication", "clean_2.dot", g, [src_bad, dst],
        "The layer-1 attention residual on cuda:1 takes its skip input from layer 0's residual on "
        "cuda:0 by a plain edge (same shape), with no communication node.")

    g = C2.copy()
    ar = g.k("L0/e1/attn_ar")
    g.nodes[ar]["shape"] = "box"
    g.nodes[ar]["bg"] = ""
    add("comm_wrong_shape", "communication", "clean_2.dot", g, [ar],
        "Layer 0 TP all-reduce of EP group 1 is drawn as a computation box (shape=box, no "
        "lightblue communication table).")

    # ---------------- gpu
    g = C2.copy()
    sm = g.k("L2/e1/t0/softmax")
    g.nodes[sm]["dev"] = None
    add("missing_gpu", "gpu", "clean_2.dot", g, [sm],
        "Layer 2 Softmax of EP group 1, TP rank 0 has no Device row.")

    g = C2.copy()
    touched = []
    for i, n in g.nodes.items():
        if n["dev"] and 7 in n["dev"]:
            n["dev"] = [8 if d == 7 else d for d in n["dev"]]
            touched.append(i)
    add("gpu_out_of_range", "gpu", "clean_2.dot", g, touched,
        "Everything of stage 1, EP group 1, TP rank 1 is placed on cuda:8, but EP2 x TP2 x PP2 = 8 "
        "GPUs (cuda:0-7).")

    g = C2.copy()
    touched = []
    for i, n in g.nodes.items():
        if n["dev"] and 7 in n["dev"]:
            n["dev"] = [3 if d == 7 else d for d in n["dev"]]
        if n["dev"] and 3 in n["dev"]:
            touched.append(i)
    add("stages_share_gpus", "gpu", "clean_2.dot", g, touched,
        "Stage 1's EP group 1 / TP rank 1 runs on cuda:3, a GPU of stage 0 (stage GPU sets "
        "{0-3} and {3-6} overlap).")

    # ---------------- strategy
    g = C2.copy()
    g.name = "moe_ep2_tp4_pp2"
    add("strategy_mismatch", "strategy", "clean_2.dot", g, [],
        "Graph name declares TP=4 but every TP group drawn has 2 ranks.")

    # ---------------- annotation
    g = C2.copy()
    pv = g.k("L1/e1/t0/pv")
    g.nodes[pv]["inp"] = None
    g.nodes[pv]["out"] = None
    add("missing_shapes", "annotation", "clean_2.dot", g, [pv],
        "Layer 1 P @ V of EP group 1, TP rank 0 has no Input and no Output rows.")

    g = C2.copy()
    vp = g.k("lm_head/e0/t1")
    g.nodes[vp]["out"] = shp(batch="?", seq=512, vocab=16000)
    add("placeholder", "annotation", "clean_2.dot", g, [vp],
        "The vocab-projection shard of EP group 0, TP rank 1 has Output [batch=?, ...], a placeholder.")

    # ---------------- layer order / residual
    g = C2.copy()
    l = 3
    touched = []
    for e_ in range(2):
        for t in range(2):
            K = f"L{l}/e{e_}/t{t}/"
            n1, r1, n2, r2 = D(g, K + "norm1", K + "res1", K + "norm2", K + "res2")
            X = g.k(f"L{l-1}/e{e_}/t{t}/res2")
            nxt = [b_ for a_, b_, _ in g.edges if a_ == r2]
            # X -> n1, X -> r1  become  X -> n2, X -> r2
            g.del_edge(X, n1); g.del_edge(X, r1)
            g.del_edge(r1, n2); g.del_edge(r1, r2)
            for b_ in nxt:
                g.del_edge(r2, b_)
            g.e(X, n2); g.e(X, r2)
            g.e(r2, n1); g.e(r2, r1)
            for b_ in nxt:
                g.e(r1, b_)
            touched += [n1, n2, g.k(K + "router")]
    add("moe_before_attention", "structure", "clean_2.dot", g, touched,
        "Layer 3: the MoE block (RMSNorm, router, experts, residual) is wired before the layer's "
        "attention block, which then feeds the final norm.")

    g = C2.copy()
    r1, r2 = g.k("L2/e1/t1/res1"), g.k("L2/e1/t1/res2")
    g.del_edge(r1, r2)
    add("missing_residual", "structure", "clean_2.dot", g, [r2],
        "Layer 2 post-MoE Residual on cuda:7 is fed only by Gather & weight; the skip edge from the "
        "attention residual is removed.")
    return out


# --------------------------------------------------------------------------- main
def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".dot") or f == "manifest.json":
            os.remove(os.path.join(OUT, f))
    C1 = build("moe_ep4_tp1_pp1", "c1", moe=True, EP=4, TP=1, PP=1, L=2, H=4096, heads=32,
               hd=128, E=8, topk=2)
    C2 = build("moe_ep2_tp2_pp2", "c2", moe=True, EP=2, TP=2, PP=2, L=4, H=2048, heads=16,
               hd=128, E=4, topk=2)
    C3 = build("dense_tp4_pp1_dp2", "c3", moe=False, TP=4, PP=1, DP=2, L=2, H=4096, heads=32,
               hd=128, F=11008)
    manifest = []
    strat = {
        "clean_1.dot": "MoE EP4 TP1 PP1 (DP1), 2 layers, 8 experts top-2, hidden 4096, 4 GPUs",
        "clean_2.dot": "MoE EP2 TP2 PP2 (DP1), 4 layers, 4 experts top-2, hidden 2048, 8 GPUs",
        "clean_3.dot": "dense TP4 PP1 DP2, 2 layers, hidden 4096, ffn 11008, 8 GPUs",
    }
    bad = False
    for fn, g in [("clean_1.dot", C1), ("clean_2.dot", C2), ("clean_3.dot", C3)]:
        pr = check(g)
        if pr:
            bad = True
            print("CLEAN PROBLEMS", fn, pr[:10], file=sys.stderr)
        open(os.path.join(OUT, fn), "w").write(g.render())
        manifest.append(dict(file=fn, kind="clean", category=None, nodes=[],
                             what=f"Correct DAG: {strat[fn]}."))
    for kind, cat, base, g, nodes, what in defects(C1, C2, C3):
        fn = f"defect_{kind}.dot"
        for i in nodes:
            assert i in g.nodes, (kind, i)
        open(os.path.join(OUT, fn), "w").write(g.render())
        manifest.append(dict(file=fn, kind=kind, category=cat, nodes=nodes, what=what, base=base))
    json.dump(manifest, open(os.path.join(OUT, "manifest.json"), "w"), indent=1)
    if "-v" in sys.argv:
        for kind, cat, base, g, nodes, what in defects(C1, C2, C3):
            print(kind, "->", check(g)[:6])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
