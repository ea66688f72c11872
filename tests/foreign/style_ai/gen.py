#!/usr/bin/env python3
"""House style "AI": deployment DAGs written like a PyTorch module dump.

Node ids are module paths with the global rank appended ("model.layers.0.self_attn.q_proj@rank1");
group collectives carry the set of ranks ("...o_proj.all_reduce@ranks0-3").  Labels are three lines:
the module repr, a torch shape line ("torch.Size([..]) -> torch.Size([..])") and the placement
("cuda:5", or "cuda:0, cuda:1" for a collective).  Pipeline stages are clusters
"pipeline stage 0: model.layers.0-1"; the strategy is a `//` torchrun comment.

Layout (product convention, GPUs = EP*TP*PP*DP):
  gpu = ((dp*PP + pp)*EP + ep)*TP + tp
  * each EP rank is a TP group of TP GPUs; attention runs tensor-parallel inside the group, on the
    group's own share (B/(DP*EP)) of the sequences;
  * MoE: router replicated per rank, one all_to_all(dispatch) per TP index spanning the EP ranks,
    E/EP experts per EP rank, each expert tensor-sharded over the group's TP GPUs (w1/w3 column,
    w2 row), one all_reduce per group for the w2 partial sums, one all_to_all(combine) per TP
    index, then the top-k weighted sum and the residual add;
  * dense MLP: gate_proj/up_proj column-parallel, act, down_proj row-parallel, all_reduce;
  * LM head vocab-parallel then all_gather(logits).

Run: python3 gen.py   -> writes out/*.dot and out/manifest.json (stdlib only).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")


def ts(*dims):
    return "torch.Size([%s])" % ", ".join(str(x) for x in dims)


def fmt_ranks(rs):
    rs = sorted(rs)
    if len(rs) > 1 and rs == list(range(rs[0], rs[-1] + 1)):
        return "%d-%d" % (rs[0], rs[-1])
    return ",".join(str(r) for r in rs)


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Node:
    def __init__(self, nid, op, ins, out, gpus, shape=None, cluster=None):
        self.id = nid
        self.op = op
        self.ins = ins          # list of shape strings, or None (no shape line)
        self.out = out
        self.gpus = gpus        # list of ints, or None (no placement line)
        self.shape = shape      # None = graph default (box)
        self.cluster = cluster


class Graph:
    def __init__(self):
        self.nodes = {}
        self.order = []
        self.edges = []
        self.clusters = []      # (key, label)

    def add(self, node):
        assert node.id not in self.nodes, node.id
        self.nodes[node.id] = node
        self.order.append(node.id)
        return node.id

    def edge(self, a, b, dashed=False):
        assert a in self.nodes and b in self.nodes, (a, b)
        self.edges.append((a, b, dashed))

    def label(self, n, remap):
        lines = [n.op]
        if n.ins is not None:
            lines.append(", ".join(n.ins) + " -> " + n.out)
        if n.gpus is not None:
            lines.append(", ".join("cuda:%d" % remap.get(g, g) for g in n.gpus))
        return "\\n".join(lines)

    def node_line(self, n, remap, indent):
        attrs = []
        if n.shape:
            attrs.append("shape=%s" % n.shape)
        # label is written raw: it holds "\n" escapes for DOT, nothing else needs escaping
        attrs.append('label="%s"' % self.label(n, remap))
        return "%s%s [%s];" % (indent, q(n.id), ", ".join(attrs))

    def render(self, header, name, remap):
        out = list(header)
        out.append("digraph %s {" % q(name))
        out.append("  rankdir=TB;")
        out.append('  node [shape=box, fontname="Courier", fontsize=10];')
        out.append('  edge [fontname="Courier", fontsize=8];')
        for key, label in self.clusters:
            out.append("  subgraph %s {" % q(key))
            out.append("    label=%s;" % q(label))
            out.append("    style=rounded;")
            for nid in self.order:
                n = self.nodes[nid]
                if n.cluster == key:
                    out.append(self.node_line(n, remap, "    "))
            out.append("  }")
        for nid in self.order:
            n = self.nodes[nid]
            if n.cluster is None:
                out.append(self.node_line(n, remap, "  "))
        for a, b, dashed in self.edges:
            out.append("  %s -> %s%s;" % (q(a), q(b), " [style=dashed]" if dashed else ""))
        out.append("}")
        return "\n".join(out) + "\n"


class Cfg:
    def __init__(self, **kw):
        self.__dict__.update(kw)


CLEAN = {
    # MoE, EP>1 and TP>1 (the brief's example strategy)
    "clean_1": Cfg(arch="moe", H=4096, heads=32, d=128, F=14336, V=32000, E=8, k=2,
                   TP=4, EP=2, PP=1, DP=1, L=2, B=8, S=512),
    # MoE with two pipeline stages
    "clean_2": Cfg(arch="moe", H=2048, heads=16, d=128, F=8192, V=32000, E=4, k=2,
                   TP=2, EP=2, PP=2, DP=1, L=4, B=8, S=256),
    # dense, two data-parallel replicas
    "clean_3": Cfg(arch="dense", H=2048, heads=16, d=128, F=5632, V=32000, E=0, k=0,
                   TP=2, EP=1, PP=1, DP=2, L=2, B=8, S=1024),
}


class Builder:
    def __init__(self, c, defect=None):
        self.c = c
        self.d = defect
        self.g = Graph()
        self.marks = []          # ids of the nodes the defect is at
        self.remap = {}          # gpu id rewrites (gpu defects)
        self.decl = dict(TP=c.TP, EP=c.EP, PP=c.PP, DP=c.DP)
        self.b = c.B // (c.DP * c.EP)   # sequences per attention (TP) group
        self.hp = c.heads // c.TP
        self.Hs = c.H // c.TP
        self.lps = c.L // c.PP

    # ---------------------------------------------------------------- helpers
    def gpu(self, dp, pp, e, t):
        c = self.c
        return ((dp * c.PP + pp) * c.EP + e) * c.TP + t

    def node(self, nid, op, ins, out, gpus, shape=None, cluster=None):
        return self.g.add(Node(nid, op, ins, out, gpus, shape, cluster))

    def mark(self, *ids):
        for i in ids:
            if i not in self.marks:
                self.marks.append(i)

    def rows(self, dp, e):
        start = (dp * self.c.EP + e) * self.b
        return "rows %d-%d of %d" % (start, start + self.b - 1, self.c.B)

    # ------------------------------------------------------------------ build
    def build(self):
        c = self.c
        for dp in range(c.DP):
            stream = None
            for pp in range(c.PP):
                key = ("cluster_dp%d_stage%d" % (dp, pp)) if c.DP > 1 else ("cluster_stage%d" % pp)
                lo, hi = pp * self.lps, (pp + 1) * self.lps - 1
                rng = ("%d" % lo) if lo == hi else ("%d-%d" % (lo, hi))
                if self.d == "stage_range_gap" and pp == 1:
                    rng = "%d" % hi          # layer lo is claimed by no stage
                label = "pipeline stage %d: model.layers.%s" % (pp, rng)
                if c.DP > 1:
                    label += " (data parallel replica %d)" % dp
                self.g.clusters.append((key, label))
                if pp == 0:
                    stream = self.embed(dp, key)
                else:
                    stream = self.p2p(dp, pp, stream)
                for l in range(lo, hi + 1):
                    if self.d == "stage_missing_layer" and l == c.L - 1:
                        continue             # claimed by the stage label, not drawn
                    stream = self.layer(l, dp, pp, stream, key)
                    if self.d == "stage_range_gap" and pp == 1 and l == lo:
                        self.mark(*[i for i in self.g.order if i.startswith("model.layers.%d.input_layernorm@" % l)])
                if pp == c.PP - 1:
                    self.head(dp, pp, stream, key)
        return self.g

    def embed(self, dp, cl):
        c = self.c
        stream = {}
        for e in range(c.EP):
            for t in range(c.TP):
                r = self.gpu(dp, 0, e, t)
                inp = self.node("input_ids@rank%d" % r, "input_ids  # %s" % self.rows(dp, e),
                                [ts(self.b, c.S)], ts(self.b, c.S), [r], cluster=cl)
                emb = self.node("model.embed_tokens@rank%d" % r, "Embedding(%d, %d)" % (c.V, c.H),
                                [ts(self.b, c.S)], ts(self.b, c.S, c.H), [r], cluster=cl)
                self.g.edge(inp, emb)
                if self.d == "dangling_output" and r == 0:
                    m = self.node("model.padding_mask@rank%d" % r, "input_ids.ne(0)  # padding mask",
                                  [ts(self.b, c.S)], ts(self.b, c.S), [r], cluster=cl)
                    self.g.edge(inp, m)
                    self.mark(m)
                stream[(e, t)] = emb
        return stream

    def p2p(self, dp, pp, stream):
        c = self.c
        full = ts(self.b, c.S, c.H)
        new = {}
        for e in range(c.EP):
            for t in range(c.TP):
                src, dst = self.gpu(dp, pp - 1, e, t), self.gpu(dp, pp, e, t)
                if self.d == "no_stage_transfer":
                    new[(e, t)] = stream[(e, t)]   # plain edge into the next stage
                    self.mark(stream[(e, t)])
                    continue
                nid = self.node("pipeline.p2p.stage%d_to_stage%d@rank%d_to_rank%d" % (pp - 1, pp, src, dst),
                                "send/recv(hidden_states, src=rank%d, dst=rank%d)  # pipeline stage %d -> %d"
                                % (src, dst, pp - 1, pp),
                                [full], full, [src, dst], shape="ellipse")
                self.g.edge(stream[(e, t)], nid)
                new[(e, t)] = nid
        return new

    def layer(self, l, dp, pp, stream, cl):
        c = self.c
        if self.d == "moe_before_attention" and l == 1:
            stream = self.ffn(l, dp, pp, stream, cl)
            stream = self.attention(l, dp, pp, stream, cl)
            self.mark("model.layers.1.post_attention_layernorm@rank0", "model.layers.1.input_layernorm@rank0")
            return stream
        stream = self.attention(l, dp, pp, stream, cl)
        return self.ffn(l, dp, pp, stream, cl)

    def ffn(self, l, dp, pp, stream, cl):
        if self.c.arch == "moe":
            return self.moe(l, dp, pp, stream, cl)
        new = {}
        for e in range(self.c.EP):
            new.update(self.mlp_group(l, dp, pp, e, stream, cl))
        return new

    def attention(self, l, dp, pp, stream, cl):
        new = {}
        for e in range(self.c.EP):
            new.update(self.attn_group(l, dp, pp, e, stream, cl))
        return new

    # -------------------------------------------------------------- attention
    def attn_group(self, l, dp, pp, e, stream, cl):
        c, d = self.c, self.d
        full = ts(self.b, c.S, c.H)
        ranks = [self.gpu(dp, pp, e, t) for t in range(c.TP)]
        P = "model.layers.%d" % l
        no_ar = d == "shard_without_gather" and l == 1 and dp == 0 and pp == 0 and e == 0
        ar = None
        if not no_ar:
            boxed = d == "comm_wrong_shape" and l == 0 and dp == 0 and e == 0
            ar = self.node("%s.self_attn.o_proj.all_reduce@ranks%s" % (P, fmt_ranks(ranks)),
                           "all_reduce(SUM, tp_group)", [full], full, ranks,
                           shape=None if boxed else "ellipse", cluster=cl)
            if boxed:
                self.mark(ar)
        lns = {}
        for t, r in enumerate(ranks):
            ln = self.node("%s.input_layernorm@rank%d" % (P, r), "LlamaRMSNorm((%d,), eps=1e-05)" % c.H,
                           [full], full, [r], cluster=cl)
            self.g.edge(stream[(e, t)], ln)
            lns[t] = ln
        new = {}
        for t, r in enumerate(ranks):
            o, o_out = self.attn_rank(l, dp, pp, e, t, r, lns, cl)
            add = self.node("%s.add@rank%d" % (P, r), "add (residual)", [full, full], full, [r], cluster=cl)
            if no_ar:
                self.g.edge(o, add)            # H/TP shard straight into a full-size add
                self.mark(o, add)
            else:
                self.g.edge(o, ar)
                self.g.edge(ar, add)
            self.g.edge(stream[(e, t)], add)   # residual skip
            new[(e, t)] = add
        return new

    def attn_rank(self, l, dp, pp, e, t, r, lns, cl):
        c, d = self.c, self.d
        b, S, H = self.b, c.S, c.H
        P = "model.layers.%d.self_attn" % l
        ln = lns[t]
        full = ts(b, S, H)
        hp = self.hp
        h0 = t * self.hp
        if d == "tp_heads" and l == 0 and dp == 0 and pp == 0 and e == 0 and t == 1:
            hp, h0 = c.heads, 0                # this rank projects all heads
        Hs = hp * c.d
        dl = c.d
        if d == "head_arithmetic" and l == 2:
            dl = c.d // 2                      # heads x head_dim != hidden
        shard = ts(b, S, Hs)
        heads_txt = "heads %d-%d of %d, head_dim=%d" % (h0, h0 + hp - 1, c.heads, dl)

        if d == "attention_one_box" and l == 1:
            box = self.node("%s@rank%d" % (P, r),
                            "Multi-Head Attention  # self_attn, tp_rank=%d, %s" % (t, heads_txt),
                            [full], full, [r], cluster=cl)
            self.g.edge(ln, box)
            self.mark(box)
            return box, full

        def proj(name):
            return self.node("%s.%s@rank%d" % (P, name, r),
                             "Linear(in_features=%d, out_features=%d, bias=False)  # %s, column shard 1/%d, tp_rank=%d, %s"
                             % (H, Hs, name, c.TP, t, heads_txt),
                             [full], shard, [r], cluster=cl)

        qp = proj("q_proj")
        if d == "cross_gpu_no_comm" and l == 0 and dp == 0 and pp == 0 and e == 0 and t == 1:
            self.g.edge(lns[0], qp)            # cuda:0 -> cuda:1, plain edge
            self.mark(lns[0], qp)
        else:
            self.g.edge(ln, qp)
        no_k = d == "v_into_score" and l == 1
        kp = None
        if not no_k:
            kp = proj("k_proj")
            if d == "dangling_input" and l == 1 and r == 3:
                self.mark(kp)                  # no incoming edge
            else:
                self.g.edge(ln, kp)
        vp = proj("v_proj")
        self.g.edge(ln, vp)

        def oproj(ins):
            in_f = Hs
            if d == "edge_shape_mismatch" and l == 1 and r == 0:
                in_f = Hs * 3 // 2
            if d == "shard_without_gather" and l == 1 and dp == 0 and pp == 0 and e == 0:
                return self.node("%s.o_proj@rank%d" % (P, r),
                                 "Linear(in_features=%d, out_features=%d, bias=False)  # o_proj, column shard 1/%d, tp_rank=%d"
                                 % (Hs, Hs, c.TP, t), ins, shard, [r], cluster=cl), shard
            if in_f != Hs:
                ins = [ts(b, S, in_f)]
            o = self.node("%s.o_proj@rank%d" % (P, r),
                          "Linear(in_features=%d, out_features=%d, bias=False)  # o_proj, row shard 1/%d, tp_rank=%d"
                          % (in_f, H, c.TP, t), ins, full, [r], cluster=cl)
            if in_f != Hs:
                self.mark(o)
            return o, full

        if d == "qkv_into_oproj" and l == 0:
            o, o_out = oproj([shard, shard, shard])
            for x in (qp, kp, vp):
                self.g.edge(x, o)
            self.mark(o)
            return o, o_out

        q4 = ts(b, hp, S, dl)
        p4 = ts(b, hp, S, S)
        rq = self.node("%s.rotary_emb.q@rank%d" % (P, r),
                       "RotaryEmbedding()  # q.view(%d, %d, %d, %d).transpose(1, 2)" % (b, S, hp, dl),
                       [shard], q4, [r], cluster=cl)
        self.g.edge(qp, rq)
        rk = None
        if not no_k:
            rk = self.node("%s.rotary_emb.k@rank%d" % (P, r),
                           "RotaryEmbedding()  # k.view(%d, %d, %d, %d).transpose(1, 2)" % (b, S, hp, dl),
                           [shard], q4, [r], cluster=cl)
            self.g.edge(kp, rk)
        if no_k:
            sc = self.node("%s.matmul@rank%d" % (P, r),
                           "matmul(q, v.transpose(-2, -1)) / sqrt(%d)" % dl,
                           [q4, shard], p4, [r], cluster=cl)
            self.g.edge(rq, sc)
            self.g.edge(vp, sc)
            self.mark(sc)
        else:
            sc = self.node("%s.matmul@rank%d" % (P, r),
                           "matmul(q, k.transpose(-2, -1)) / sqrt(%d)" % dl,
                           [q4, q4], p4, [r], cluster=cl)
            self.g.edge(rq, sc)
            self.g.edge(rk, sc)
            if dl != c.d:
                self.mark(qp, kp, sc)
        sm = self.node("%s.softmax@rank%d" % (P, r), "softmax(dim=-1)", [p4], p4, [r], cluster=cl)
        self.g.edge(sc, sm)
        if d == "missing_gpu" and l == 1 and r == 2:
            self.g.nodes[sm].gpus = None
            self.mark(sm)
        av = self.node("%s.matmul_1@rank%d" % (P, r),
                       "matmul(attn, v)  # v.view(%d, %d, %d, %d).transpose(1, 2); out.transpose(1, 2).reshape(%d, %d, %d)"
                       % (b, S, hp, dl, b, S, Hs),
                       [p4, shard], shard, [r], cluster=cl)
        bypass = d == "v_bypasses_softmax" and l == 0 and r == 0
        o, o_out = oproj([shard, p4] if bypass else [shard])
        if bypass:
            self.g.edge(sm, o)                 # softmax goes to o_proj, not to matmul(attn, v)
            self.mark(sm, av, o)
        else:
            self.g.edge(sm, av)
        self.g.edge(vp, av)
        self.g.edge(av, o)
        if d == "tp_heads" and hp == c.heads:
            self.mark(qp, kp, vp)
        return o, o_out

    # -------------------------------------------------------------------- MoE
    def moe(self, l, dp, pp, stream, cl):
        c, d = self.c, self.d
        b, S, H, E, EP, TP, k = self.b, c.S, c.H, c.E, c.EP, c.TP, c.k
        full = ts(b, S, H)
        Tg = b * S                                 # tokens per TP group
        n = (c.B // c.DP) * S * k // E             # tokens per expert (balanced routing)
        P = "model.layers.%d.block_sparse_moe" % l
        Pl = "model.layers.%d" % l
        no_gate = d == "no_gate" and l == 1
        no_a2a = d == "no_all_to_all" and l == 1
        per = E // EP
        owner = {j: j // per for j in range(E)}    # EP rank the expert belongs to
        place = dict(owner)                        # EP rank whose GPUs hold it
        if d == "experts_subset_ranks" and l == 1:
            owner = {j: 0 for j in range(E)}
            place = dict(owner)
        if d == "experts_uneven" and l == 1:
            owner[per] = 0
            place[per] = 0
        if d == "experts_share_gpu" and l == 1:
            place[per] = 0                         # EP rank 1's expert on EP rank 0's GPUs
        routing = ts(Tg, E)

        ln2, gate = {}, {}
        for e in range(EP):
            for t in range(TP):
                r = self.gpu(dp, pp, e, t)
                x = self.node("%s.post_attention_layernorm@rank%d" % (Pl, r), "LlamaRMSNorm((%d,), eps=1e-05)" % H,
                              [full], full, [r], cluster=cl)
                self.g.edge(stream[(e, t)], x)
                ln2[(e, t)] = x
                if not no_gate:
                    gt = self.node("%s.gate@rank%d" % (P, r),
                                   "MixtralSparseMoeBlock.gate: Linear(%d -> %d)  # router, top-%d, tp_rank=%d (replicated)"
                                   % (H, E, k, t),
                                   [full], routing, [r], shape="parallelogram", cluster=cl)
                    self.g.edge(x, gt)
                    gate[(e, t)] = gt

        disp = {}
        if not no_a2a:
            for t in range(TP):
                rs = [self.gpu(dp, pp, e, t) for e in range(EP)]
                x = self.node("%s.all_to_all_dispatch@ranks%s" % (P, fmt_ranks(rs)), "all_to_all(dispatch)",
                              [full] if no_gate else [full, routing], ts(n, H), rs, shape="ellipse", cluster=cl)
                for e in range(EP):
                    self.g.edge(ln2[(e, t)], x)
                    if not no_gate:
                        self.g.edge(gate[(e, t)], x, dashed=True)
                disp[t] = x
                if no_gate:
                    self.mark(x)

        ar = {}
        if TP > 1:
            for e in sorted(set(owner.values())):
                rs = [self.gpu(dp, pp, e, t) for t in range(TP)]
                ar[e] = self.node("%s.experts.all_reduce@ranks%s" % (P, fmt_ranks(rs)),
                                  "all_reduce(SUM, tp_group)  # expert w2 row shards", [ts(n, H)], ts(n, H), rs,
                                  shape="ellipse", cluster=cl)

        comb = {}
        for t in range(TP):
            rs = [self.gpu(dp, pp, e, t) for e in range(EP)]
            comb[t] = self.node("%s.all_to_all_combine@ranks%s" % (P, fmt_ranks(rs)), "all_to_all(combine)",
                                [ts(n, H)], ts(Tg, k, H), rs, shape="ellipse", cluster=cl)

        shards = {}
        for j in range(E):
            for t in range(TP):
                r = self.gpu(dp, pp, place[j], t)
                x = self.node("%s.experts.%d@rank%d" % (P, j, r),
                              "MixtralBlockSparseTop2MLP (expert %d)  # ep_rank=%d, w1/w3 column + w2 row shard 1/%d, tp_rank=%d, ffn %d of %d"
                              % (j, owner[j], TP, t, c.F // TP, c.F),
                              [full, routing] if no_a2a else [ts(n, H)], ts(n, H), [r], cluster=cl)
                shards[(j, t)] = x
                if no_a2a:
                    self.g.edge(ln2[(place[j], t)], x)
                    self.g.edge(gate[(place[j], t)], x, dashed=True)
                    self.mark(x)
                else:
                    self.g.edge(disp[t], x)
                if TP > 1:
                    self.g.edge(x, ar[owner[j]])
                else:
                    self.g.edge(x, comb[t])
                if (d in ("experts_subset_ranks",) and l == 1) or \
                   (d in ("experts_uneven", "experts_share_gpu") and l == 1 and j == per):
                    self.mark(x)
        if d == "cycle" and l == 0:
            j, t = E - 3, 1
            self.g.edge(shards[(j, t)], disp[t])   # moe -> all2all, drawn back
            self.g.nodes[disp[t]].ins = self.g.nodes[disp[t]].ins + [ts(n, H)]
            self.mark(shards[(j, t)], disp[t])
        for e in sorted(ar):
            for t in range(TP):
                self.g.edge(ar[e], comb[t])

        new = {}
        for e in range(EP):
            for t in range(TP):
                r = self.gpu(dp, pp, e, t)
                ag = self.node("%s.weighted_sum@rank%d" % (P, r), "weighted sum over top-%d" % k,
                               [ts(Tg, k, H)] if no_gate else [ts(Tg, k, H), routing], full, [r],
                               shape="parallelogram", cluster=cl)
                self.g.edge(comb[t], ag)
                if not no_gate:
                    self.g.edge(gate[(e, t)], ag)
                add = self.node("%s.add_1@rank%d" % (Pl, r), "add (residual)", [full, full], full, [r], cluster=cl)
                self.g.edge(ag, add)
                if d == "missing_residual" and l == 1 and r == 1:
                    self.mark(add)
                else:
                    self.g.edge(stream[(e, t)], add)
                new[(e, t)] = add
        return new

    # -------------------------------------------------------------- dense MLP
    def mlp_group(self, l, dp, pp, e, stream, cl):
        c, d = self.c, self.d
        b, S, H, TP = self.b, c.S, c.H, c.TP
        full = ts(b, S, H)
        Fs = c.F // TP
        fsh = ts(b, S, Fs)
        ranks = [self.gpu(dp, pp, e, t) for t in range(TP)]
        P = "model.layers.%d.mlp" % l
        Pl = "model.layers.%d" % l
        no_ar = d == "no_allreduce_after_rowparallel" and l == 1 and dp == 0 and e == 0
        ar = None
        if not no_ar:
            ar = self.node("%s.down_proj.all_reduce@ranks%s" % (P, fmt_ranks(ranks)), "all_reduce(SUM, tp_group)",
                           [full], full, ranks, shape="ellipse", cluster=cl)
        new = {}
        for t, r in enumerate(ranks):
            ln = self.node("%s.post_attention_layernorm@rank%d" % (Pl, r), "LlamaRMSNorm((%d,), eps=1e-05)" % H,
                           [full], full, [r], cluster=cl)
            self.g.edge(stream[(e, t)], ln)
            gp = self.node("%s.gate_proj@rank%d" % (P, r),
                           "Linear(in_features=%d, out_features=%d, bias=False)  # gate_proj, column shard 1/%d, tp_rank=%d"
                           % (H, Fs, TP, t), [full], fsh, [r], cluster=cl)
            self.g.edge(ln, gp)
            up = None
            if d == "tp_rank_missing" and l == 0 and r == 1:
                pass                           # up_proj of this rank not drawn
            else:
                up = self.node("%s.up_proj@rank%d" % (P, r),
                               "Linear(in_features=%d, out_features=%d, bias=False)  # up_proj, column shard 1/%d, tp_rank=%d"
                               % (H, Fs, TP, t), [full], fsh, [r], cluster=cl)
                self.g.edge(ln, up)
            act = self.node("%s.act_fn@rank%d" % (P, r), "SiLU()(gate_proj) * up_proj", [fsh, fsh], fsh, [r],
                            cluster=cl)
            self.g.edge(gp, act)
            if up is None:
                self.mark(act)
            else:
                self.g.edge(up, act)
            dn = self.node("%s.down_proj@rank%d" % (P, r),
                           "Linear(in_features=%d, out_features=%d, bias=False)  # down_proj, row shard 1/%d, tp_rank=%d"
                           % (Fs, H, TP, t), [fsh], full, [r], cluster=cl)
            self.g.edge(act, dn)
            add = self.node("%s.add_1@rank%d" % (Pl, r), "add (residual)", [full, full], full, [r], cluster=cl)
            if no_ar:
                self.g.edge(dn, add)
                self.mark(dn, add)
            else:
                self.g.edge(dn, ar)
            if not no_ar:
                self.g.edge(ar, add)
            self.g.edge(stream[(e, t)], add)
            new[(e, t)] = add
        return new

    # ------------------------------------------------------------------- head
    def head(self, dp, pp, stream, cl):
        c = self.c
        b, S, H, V, TP = self.b, c.S, c.H, c.V, c.TP
        full = ts(b, S, H)
        for e in range(c.EP):
            ranks = [self.gpu(dp, pp, e, t) for t in range(TP)]
            ag = self.node("lm_head.all_gather@ranks%s" % fmt_ranks(ranks), "all_gather(logits)",
                           [ts(b, S, V // TP)], ts(b, S, V), ranks, shape="ellipse", cluster=cl)
            for t, r in enumerate(ranks):
                nm = self.node("model.norm@rank%d" % r, "LlamaRMSNorm (final)", [full], full, [r], cluster=cl)
                self.g.edge(stream[(e, t)], nm)
                if self.d == "stage_missing_layer":
                    self.mark(nm)
                lm = self.node("lm_head@rank%d" % r,
                               "lm_head: Linear(%d -> %d/%d)  # vocab shard 1/%d, tp_rank=%d" % (H, V, TP, TP, t),
                               [full], ts(b, S, V // TP), [r], cluster=cl)
                self.g.edge(nm, lm)
                self.g.edge(lm, ag)
            out = self.node("logits@rank%d" % ranks[0], "output: logits  # %s" % self.rows(dp, e),
                            [ts(b, S, V)], ts(b, S, V), [ranks[0]], cluster=cl)
            self.g.edge(ag, out)

    # ----------------------------------------------------------------- render
    def text(self):
        c = self.c
        g = self.build()
        d = self.d
        # annotation / gpu defects applied to the finished graph
        if d == "missing_shapes":
            nid = "model.layers.1.mlp.up_proj@rank2" if c.arch == "dense" else "model.layers.1.self_attn.v_proj@rank2"
            g.nodes[nid].ins = None
            self.mark(nid)
        if d == "placeholder":
            nid = "model.layers.0.post_attention_layernorm@rank0"
            n = g.nodes[nid]
            n.ins = [s.replace("[%d, " % self.b, "[?, ", 1) for s in n.ins]
            n.out = n.out.replace("[%d, " % self.b, "[?, ", 1)
            self.mark(nid)
        if d == "gpu_out_of_range":
            n_gpus = c.TP * c.EP * c.PP * c.DP
            self.remap = {n_gpus - 1: n_gpus + 2}
            self.mark(*[i for i in g.order if i.endswith("@rank%d" % (n_gpus - 1))])
        if d == "stages_share_gpus":
            first1 = c.EP * c.TP                # first GPU of stage 1 moved onto stage 0's cuda:0
            self.remap = {first1: 0}
            self.mark(*[i for i in g.order if i.endswith("@rank%d" % first1)])
        decl = dict(self.decl)
        if d == "stage_count":
            decl["PP"] = 4
        if d == "strategy_mismatch":
            decl["TP"] = 8
        nproc = decl["TP"] * decl["EP"] * decl["PP"] * decl["DP"]
        header = ["// torchrun --nproc-per-node %d: TP=%d EP=%d PP=%d DP=%d"
                  % (nproc, decl["TP"], decl["EP"], decl["PP"], decl["DP"])]
        if c.arch == "moe":
            header.append("// MixtralForCausalLM(hidden_size=%d, num_attention_heads=%d, head_dim=%d, num_hidden_layers=%d, "
                          "num_local_experts=%d, num_experts_per_tok=%d, intermediate_size=%d, vocab_size=%d)"
                          % (c.H, c.heads, c.d, c.L, c.E, c.k, c.F, c.V))
            header.append("// prefill: %d sequences x %d tokens; attention is split by sequence over the expert-parallel "
                          "groups, experts are tensor-sharded inside their group" % (c.B, c.S))
            name = "MixtralForCausalLM"
        else:
            header.append("// LlamaForCausalLM(hidden_size=%d, num_attention_heads=%d, head_dim=%d, num_hidden_layers=%d, "
                          "intermediate_size=%d, vocab_size=%d)" % (c.H, c.heads, c.d, c.L, c.F, c.V))
            header.append("// prefill: %d sequences x %d tokens, split evenly over the data-parallel replicas" % (c.B, c.S))
            name = "LlamaForCausalLM"
        return g.render(header, name, self.remap)


# kind -> (base, category, what)
DEFECTS = [
    ("cycle", "clean_1", "structure",
     "Layer 0: expert 5's shard on rank 5 feeds back into the all_to_all(dispatch) that feeds it (moe -> all2all and all2all -> moe), a cycle."),
    ("dangling_input", "clean_2", "structure",
     "Layer 1 k_proj on rank 3 has no incoming edge (its input_layernorm edge is missing)."),
    ("dangling_output", "clean_1", "structure",
     "An extra padding-mask operator on rank 0 is fed by input_ids but its output goes nowhere."),
    ("attention_one_box", "clean_1", "attention",
     "Layer 1's attention is drawn as one 'Multi-Head Attention' box per TP rank instead of q/k/v, score, softmax, weighted sum and o_proj."),
    ("v_bypasses_softmax", "clean_1", "attention",
     "Layer 0 rank 0: V feeds matmul(attn, v) but the softmax does not; the softmax goes to o_proj instead."),
    ("v_into_score", "clean_3", "attention",
     "Layer 1 (every rank): v_proj is wired into the QK^T score in place of K (no k_proj drawn), and also into the weighted sum."),
    ("qkv_into_oproj", "clean_3", "attention",
     "Layer 0 (every rank): q_proj, k_proj and v_proj go straight into o_proj; no rotary, score, softmax or weighted sum."),
    ("head_arithmetic", "clean_2", "attention",
     "Layer 2 (every rank) labels 8 heads of 16 with head_dim=64 per TP rank: 16 x 64 = 1024 != hidden 2048 (and 8 x 64 != the 1024-wide projection)."),
    ("tp_heads", "clean_1", "attention",
     "Layer 0 rank 1 (tp_rank 1 of 4): q/k/v_proj output all 32 heads (4096 wide) instead of 8 heads (1024), the rest of that rank's attention follows."),
    ("edge_shape_mismatch", "clean_1", "shape",
     "Layer 1 o_proj on rank 0 expects in_features 1536 but matmul(attn, v) produces 1024 (factor 1.5, not a parallel degree)."),
    ("shard_without_gather", "clean_1", "shape",
     "Layer 1, EP group 0 (ranks 0-3): o_proj outputs the 1024 = 4096/TP4 shard straight into the full-size residual add, no all-reduce/all-gather."),
    ("stage_count", "clean_2", "pipeline",
     "The torchrun comment declares PP=4 (16 GPUs) but only 2 pipeline stages are drawn."),
    ("stage_range_gap", "clean_2", "pipeline",
     "Stage 1 is labelled model.layers.3 while stage 0 covers 0-1: layer 2 is claimed by no stage (its nodes sit in stage 1)."),
    ("stage_missing_layer", "clean_2", "pipeline",
     "Stage 1 claims model.layers.2-3 (config says 4 layers) but layer 3's operators are not drawn; layer 2 feeds the final norm."),
    ("no_stage_transfer", "clean_2", "pipeline",
     "Stage 0's last residual adds feed stage 1's layer 2 by plain edges (cuda:r -> cuda:r+4), no send/recv node (these edges also cross GPUs)."),
    ("experts_subset_ranks", "clean_1", "expert",
     "Layer 1: all 8 experts are placed on EP rank 0 (cuda:0-3); EP rank 1 holds none in that layer."),
    ("experts_uneven", "clean_1", "expert",
     "Layer 1: expert 4 moved to EP rank 0, so EP rank 0 holds 5 experts and EP rank 1 holds 3 (should be 4 and 4)."),
    ("experts_share_gpu", "clean_1", "expert",
     "Layer 1: expert 4 (ep_rank=1) is placed on cuda:0-3, the GPUs of EP rank 0's experts."),
    ("no_gate", "clean_1", "expert",
     "Layer 1 has no router/gate: the dispatch all_to_all and the top-2 weighted sum get no routing input."),
    ("no_all_to_all", "clean_1", "expert",
     "Layer 1: tokens go from each rank's post_attention_layernorm (and gate) straight to the local expert shards, no all_to_all(dispatch) although EP=2."),
    ("tp_rank_missing", "clean_3", "tensor",
     "Layer 0 up_proj is drawn for every rank but rank 1 (replica 0, TP=2); rank 1's act_fn gets only gate_proj."),
    ("no_allreduce_after_rowparallel", "clean_3", "tensor",
     "Layer 1, replica 0: the row-parallel down_proj outputs go straight into the residual adds, no all_reduce."),
    ("cross_gpu_no_comm", "clean_1", "communication",
     "Layer 0: q_proj on rank 1 (cuda:1) is fed by input_layernorm on rank 0 (cuda:0) with a plain edge (same shape)."),
    ("comm_wrong_shape", "clean_2", "communication",
     "Layer 0, EP group 0: the o_proj all_reduce(SUM, tp_group) is drawn as a box (computation) instead of an ellipse."),
    ("missing_gpu", "clean_1", "gpu",
     "Layer 1 softmax on rank 2 has no cuda placement line."),
    ("gpu_out_of_range", "clean_3", "gpu",
     "Every node of rank 3 is placed on cuda:6, beyond the 4 GPUs of the strategy (TP2 x DP2)."),
    ("stages_share_gpus", "clean_2", "gpu",
     "Rank 4 (first GPU of stage 1) is placed on cuda:0, a GPU of stage 0."),
    ("strategy_mismatch", "clean_1", "strategy",
     "The torchrun comment declares TP=8 (16 GPUs) but every TP group drawn has 4 ranks (column/row shard 1/4)."),
    ("missing_shapes", "clean_3", "annotation",
     "Layer 1 up_proj on rank 2 has no torch.Size shape line."),
    ("placeholder", "clean_1", "annotation",
     "Layer 0 post_attention_layernorm on rank 0 has a '?' batch dimension: torch.Size([?, 512, 4096])."),
    ("moe_before_attention", "clean_1", "structure",
     "Layer 1's MoE block is wired before its attention (stream -> post_attention_layernorm -> MoE -> input_layernorm -> attention)."),
    ("missing_residual", "clean_2", "structure",
     "Layer 1 MoE residual add on rank 1 is fed only by the top-2 weighted sum; the skip edge from the attention add is missing."),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    strategies = {
        "clean_1": "TP=4 EP=2 PP=1 DP=1, MoE (8 experts, top-2), 2 layers, 8 GPUs",
        "clean_2": "TP=2 EP=2 PP=2 DP=1, MoE (4 experts, top-2), 4 layers, 8 GPUs",
        "clean_3": "TP=2 EP=1 PP=1 DP=2, dense Llama MLP, 2 layers, 4 GPUs",
    }
    for name, cfg in CLEAN.items():
        with open(os.path.join(OUT, name + ".dot"), "w") as f:
            f.write(Builder(cfg).text())
        manifest.append({"file": name + ".dot", "kind": "clean", "category": None, "nodes": [],
                         "what": "Clean: " + strategies[name] + "."})
    for kind, base, cat, what in DEFECTS:
        b = Builder(CLEAN[base], kind)
        txt = b.text()
        assert b.marks or kind in ("stage_count", "strategy_mismatch"), kind
        fn = "defect_%s.dot" % kind
        with open(os.path.join(OUT, fn), "w") as f:
            f.write(txt)
        manifest.append({"file": fn, "kind": kind, "category": cat, "nodes": b.marks,
                         "what": what + " (base %s.dot)" % base})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
