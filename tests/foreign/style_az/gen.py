#!/usr/bin/env python3
"""Generator of LLM deployment DAGs in the "style_az" house style.

House style (bilingual, Japanese first):
  * first label line  "<日本語> / <English> 【rank tag】"  (quirk 1: rank tags in lenticular brackets)
  * key lines         "入力 Input: [..]", "出力 Output: [..]", "GPU: .."
  * computation and routing nodes end with "精度 dtype: bf16";
    communication ellipses end with "群 Group: .." naming their process groups   (quirk 2)
  * colour scheme: computation #dbe9ff boxes, communication #ffd8b1 ellipses,
    routing #d8f5d0 parallelograms, sources/sinks #eeeeee (invhouse / house)
  * a "// 作成メモ / author's note" comment header and "// ---- 層 N / layer N ----" comments
  * stage clusters "ステージ 0 / Stage 0 (層 0-1 / layers 0-1)", DP replicas as outer clusters
  * graph label line "並列構成 / Parallelism: EP=.., TP=.., PP=.., DP=.."
  * ids in ASCII snake case: l0_q_tp1, l1_e3, dp0_l0_res2, pp_send_0, pp_recv_1

Running `python3 gen.py` writes out/*.dot and out/manifest.json.  Stdlib only.
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")

FILL = {"comp": "#dbe9ff", "comm": "#ffd8b1", "route": "#d8f5d0", "io": "#eeeeee"}
SHAPE = {"comp": "box", "comm": "ellipse", "route": "parallelogram"}


# ----------------------------------------------------------------------------------------------
# model of one drawing
# ----------------------------------------------------------------------------------------------
def gpu_spec(gpus):
    g = sorted(gpus)
    if len(g) > 1 and g == list(range(g[0], g[-1] + 1)):
        return f"{g[0]}-{g[-1]}"
    return ",".join(str(x) for x in g)


def shp(s):
    return "[" + ", ".join(str(x) for x in s) + "]"


class Graph:
    def __init__(self, name, title, strategy, header):
        self.name = name
        self.title = title          # first line of the graph label
        self.strategy = strategy    # dict EP TP PP DP
        self.header = header        # list of comment lines
        self.nodes = {}             # id -> dict
        self.order = []
        self.edges = []             # [src, dst, attrs dict, comment-or-None]
        self.clusters = {}          # key -> dict(label, parent)
        self.cluster_order = []

    # -- building
    def cluster(self, key, label, parent=None):
        self.clusters[key] = {"label": label, "parent": parent}
        self.cluster_order.append(key)

    def node(self, nid, kind, title, inp=None, out=None, gpus=None, extra=None, cluster=None,
             shape=None):
        assert nid not in self.nodes, nid
        self.nodes[nid] = {"kind": kind, "title": title, "inp": inp, "out": out,
                           "gpus": gpus, "extra": list(extra or []), "cluster": cluster,
                           "shape": shape}
        self.order.append(nid)
        return nid

    def edge(self, a, b, dashed=False, skip=False, section=None):
        attrs = {}
        if dashed:
            attrs["style"] = "dashed"
        if skip:
            attrs["color"] = "#777777"
            attrs["penwidth"] = "1.5"
        self.edges.append([a, b, attrs, section])

    # -- editing (used by the defects)
    def remove_node(self, nid):
        del self.nodes[nid]
        self.order.remove(nid)
        self.edges = [e for e in self.edges if e[0] != nid and e[1] != nid]

    def remove_edge(self, a, b):
        n = len(self.edges)
        self.edges = [e for e in self.edges if not (e[0] == a and e[1] == b)]
        assert len(self.edges) == n - 1, (a, b)

    def replace_edge(self, a, b, na, nb):
        for e in self.edges:
            if e[0] == a and e[1] == b:
                e[0], e[1] = na, nb
                return
        raise KeyError((a, b))

    def insert_edge_after(self, after, a, b, dashed=False, skip=False):
        idx = max(i for i, e in enumerate(self.edges) if e[1] == after or e[0] == after)
        attrs = {}
        if dashed:
            attrs["style"] = "dashed"
        if skip:
            attrs["color"] = "#777777"
            attrs["penwidth"] = "1.5"
        self.edges.insert(idx + 1, [a, b, attrs, None])

    def rename(self, old, new):
        self.nodes[new] = self.nodes.pop(old)
        self.order[self.order.index(old)] = new
        for e in self.edges:
            if e[0] == old:
                e[0] = new
            if e[1] == old:
                e[1] = new

    # -- output
    def label_of(self, n):
        lines = [n["title"]]
        if n["inp"] is not None:
            lines.append("入力 Input: " + ", ".join(shp(s) for s in n["inp"]))
        if n["out"] is not None:
            lines.append("出力 Output: " + ", ".join(shp(s) for s in n["out"]))
        if n["gpus"] is not None:
            lines.append("GPU: " + gpu_spec(n["gpus"]))
        lines.extend(n["extra"])
        if n["kind"] in ("comp", "route"):
            lines.append("精度 dtype: bf16")
        return "\\n".join(l.replace('"', '\\"') for l in lines)

    def node_line(self, nid, indent):
        n = self.nodes[nid]
        if n["kind"] == "io":
            shape = n["shape"]
        else:
            shape = n["shape"] or SHAPE[n["kind"]]
        fill = FILL[n["kind"]]
        return f'{indent}{nid} [shape={shape}, fillcolor="{fill}", label="{self.label_of(n)}"];'

    def strategy_line(self):
        s = self.strategy
        return f"並列構成 / Parallelism: EP={s['EP']}, TP={s['TP']}, PP={s['PP']}, DP={s['DP']}"

    def to_dot(self):
        out = []
        for h in self.header:
            out.append("// " + h)
        out.append(f"digraph {self.name} {{")
        glabel = self.title + "\\n" + self.strategy_line()
        out.append(f'  graph [label="{glabel}", labelloc=t, fontsize=18, rankdir=TB, '
                   f'newrank=true, fontname="Noto Sans CJK JP"];')
        out.append('  node [style=filled, fontname="Noto Sans CJK JP", fontsize=10];')
        out.append('  edge [color="#333333", arrowsize=0.7];')
        out.append("")
        placed = set()

        def emit_cluster(key, depth):
            c = self.clusters[key]
            ind = "  " * depth
            out.append(f"{ind}subgraph {key} {{")
            out.append(f'{ind}  label="{c["label"]}";')
            out.append(f'{ind}  style="rounded,dashed"; color="#5577aa";')
            for child in self.cluster_order:
                if self.clusters[child]["parent"] == key:
                    emit_cluster(child, depth + 1)
            for nid in self.order:
                if self.nodes[nid]["cluster"] == key:
                    out.append(self.node_line(nid, ind + "  "))
                    placed.add(nid)
            out.append(f"{ind}}}")

        for key in self.cluster_order:
            if self.clusters[key]["parent"] is None:
                emit_cluster(key, 1)
        for nid in self.order:
            if nid not in placed:
                out.append(self.node_line(nid, "  "))
        out.append("")
        for a, b, attrs, section in self.edges:
            if section:
                out.append(f"  // ---- {section} ----")
            at = ""
            if attrs:
                at = " [" + ", ".join(f'{k}="{v}"' for k, v in attrs.items()) + "]"
            out.append(f"  {a} -> {b}{at};")
        out.append("}")
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------------------
# builder
# ----------------------------------------------------------------------------------------------
def build(cfg, stage_base=None, expert_rank=None):
    """cfg: dict(name, EP, TP, PP, DP, L, H, heads, hd, B, S, V, E, k, inter).
    stage_base(d, s) -> first GPU of stage s of replica d (override for defects).
    expert_rank(l, e) -> EP rank of expert e in layer l (override for defects)."""
    EP, TP, PP, DP = cfg["EP"], cfg["TP"], cfg["PP"], cfg["DP"]
    L, H, NH, HD = cfg["L"], cfg["H"], cfg["heads"], cfg["hd"]
    B, S, V, E, K, I = cfg["B"], cfg["S"], cfg["V"], cfg["E"], cfg["k"], cfg["inter"]
    assert NH * HD == H and NH % TP == 0 and L % PP == 0
    moe = E > 0
    if moe:
        assert E % EP == 0
    hl = NH // TP                   # heads per TP rank
    per_stage = L // PP
    group = EP * TP                 # GPUs per stage
    if stage_base is None:
        stage_base = lambda d, s: (d * PP + s) * group
    if expert_rank is None:
        expert_rank = lambda l, e: e // (E // EP)

    def tp_gpus(d, s, t):
        return [stage_base(d, s) + e * TP + t for e in range(EP)]

    def ep_gpus(d, s, r):
        b = stage_base(d, s) + r * TP
        return list(range(b, b + TP))

    def all_gpus(d, s):
        return list(range(stage_base(d, s), stage_base(d, s) + group))

    def tp_groups(d, s):
        return ", ".join("{" + ",".join(str(x) for x in ep_gpus(d, s, r)) + "}" for r in range(EP))

    total = EP * TP * PP * DP
    title = (f"{'MoE 推論' if moe else '密モデル推論'} / {'MoE' if moe else 'Dense'} inference — "
             f"{L} 層 / layers, hidden {H}" + (f", {E} エキスパート / experts (top-{K})" if moe else ""))
    header = [
        "作成メモ / author's note",
        f"  モデル / model: {L} 層 layers, hidden {H}, {NH} 頭 heads x head_dim {HD}, vocab {V}"
        + (f", {E} experts top-{K}, expert FFN {I}" if moe else f", FFN {I}"),
        f"  形状は GPU 毎 / shapes are per GPU: [batch, seq, ...], micro-batch {B} x seq {S}",
        "  複数 GPU のノードは各 GPU で同じ演算 / a node listing several GPUs runs on each of them",
    ]
    if moe and EP > 1:
        header.append("  注意は EP ランク毎に別のマイクロバッチ / attention: each EP rank runs it on "
                      "its own micro-batch; the all-to-all exchanges tokens between EP ranks")
    g = Graph(cfg["name"], title, {"EP": EP, "TP": TP, "PP": PP, "DP": DP}, header)

    def tag(*parts):
        parts = [p for p in parts if p]
        return (" 【" + "·".join(parts) + "】") if parts else ""

    tp_tag = lambda t: f"TP{t}" if TP > 1 else ""
    for d in range(DP):
        pre = f"dp{d}_" if DP > 1 else ""
        dtag = f"DP{d}" if DP > 1 else ""
        ckey = lambda s: (f"cluster_dp{d}_stage{s}" if DP > 1 else f"cluster_stage{s}")
        if DP > 1:
            g.cluster(f"cluster_dp{d}", f"データ並列 複製 {d} / DP replica {d}")
        for s in range(PP):
            a, b = s * per_stage, (s + 1) * per_stage - 1
            g.cluster(ckey(s), f"ステージ {s} / Stage {s} (層 {a}-{b} / layers {a}-{b})",
                      f"cluster_dp{d}" if DP > 1 else None)

        X = [B, S, H]
        # source and embedding
        g.node(pre + "input", "io", "入力 / Input (token ids)" + tag(dtag), inp=[[B, S]], out=[[B, S]],
               gpus=all_gpus(d, 0), cluster=ckey(0), shape="invhouse")
        g.node(pre + "embed", "comp", "埋め込み / Embedding" + tag(dtag), inp=[[B, S]], out=[X],
               gpus=all_gpus(d, 0), cluster=ckey(0))
        g.edge(pre + "input", pre + "embed", section=f"入口 / entry{tag(dtag)}")
        cur = pre + "embed"
        for l in range(L):
            s = l // per_stage
            ck = ckey(s)
            AG = all_gpus(d, s)
            sec = f"層 {l} / layer {l}" + tag(dtag)
            first = True

            def E_(a, b_, **kw):
                nonlocal first
                g.edge(a, b_, section=sec if first else None, **kw)
                first = False

            if s > 0 and l == s * per_stage:
                snd, rcv = f"{pre}pp_send_{s - 1}", f"{pre}pp_recv_{s}"
                g.node(snd, "comm", f"送信 / Pipeline send 【PP{s - 1}→PP{s}】", inp=[X], out=[X],
                       gpus=all_gpus(d, s - 1), extra=[f"群 Group: PP {s - 1}→{s}"],
                       cluster=ckey(s - 1))
                g.node(rcv, "comm", f"受信 / Pipeline recv 【PP{s - 1}→PP{s}】", inp=[X], out=[X],
                       gpus=AG, extra=[f"群 Group: PP {s - 1}→{s}"], cluster=ck)
                g.edge(cur, snd, section=f"ステージ間 / stage {s - 1} → {s}" + tag(dtag))
                g.edge(snd, rcv)
                cur = rcv
            p = f"{pre}l{l}_"
            g.node(p + "norm1", "comp", "RMS正規化 / RMSNorm (pre-attention)" + tag(dtag),
                   inp=[X], out=[X], gpus=AG, cluster=ck)
            E_(cur, p + "norm1")
            QS = [B, S, hl, HD]
            for t in range(TP):
                gt = tp_gpus(d, s, t)
                tt = tag(dtag, tp_tag(t))
                hline = [f"頭数 Heads: {hl} of {NH}, head_dim {HD}"]
                for x, jp, en in (("q", "クエリ射影", "Query projection"),
                                  ("k", "キー射影", "Key projection"),
                                  ("v", "バリュー射影", "Value projection")):
                    g.node(f"{p}{x}_tp{t}", "comp", f"{jp} / {en}{tt}", inp=[X], out=[QS],
                           gpus=gt, extra=hline, cluster=ck)
                    E_(p + "norm1", f"{p}{x}_tp{t}")
                g.node(f"{p}score_tp{t}", "comp", f"注意スコア / Attention scores (QK^T){tt}",
                       inp=[QS, QS], out=[[B, hl, S, S]], gpus=gt, cluster=ck)
                g.node(f"{p}softmax_tp{t}", "comp", f"ソフトマックス / Softmax{tt}",
                       inp=[[B, hl, S, S]], out=[[B, hl, S, S]], gpus=gt, cluster=ck)
                g.node(f"{p}wsum_tp{t}", "comp", f"重み付き和 / Weighted sum (P·V){tt}",
                       inp=[[B, hl, S, S], QS], out=[[B, S, H // TP]], gpus=gt, cluster=ck)
                g.node(f"{p}oproj_tp{t}", "comp", f"出力射影 / Output projection (row-parallel){tt}",
                       inp=[[B, S, H // TP]], out=[X], gpus=gt, cluster=ck,
                       extra=(["備考 Note: 部分和 / partial sum over TP"] if TP > 1 else []))
                E_(f"{p}q_tp{t}", f"{p}score_tp{t}")
                E_(f"{p}k_tp{t}", f"{p}score_tp{t}")
                E_(f"{p}score_tp{t}", f"{p}softmax_tp{t}")
                E_(f"{p}softmax_tp{t}", f"{p}wsum_tp{t}")
                E_(f"{p}v_tp{t}", f"{p}wsum_tp{t}")
                E_(f"{p}wsum_tp{t}", f"{p}oproj_tp{t}")
            g.node(p + "attn_ar", "comm", "全体縮約 / All-reduce (attention)" + tag(dtag),
                   inp=[X], out=[X], gpus=AG, extra=[f"群 Group: TP {tp_groups(d, s)}"], cluster=ck)
            for t in range(TP):
                E_(f"{p}oproj_tp{t}", p + "attn_ar")
            g.node(p + "res1", "comp", "残差加算 / Residual add (attention)" + tag(dtag),
                   inp=[X, X], out=[X], gpus=AG, cluster=ck)
            E_(p + "attn_ar", p + "res1")
            E_(cur, p + "res1", skip=True)
            g.node(p + "norm2", "comp",
                   f"RMS正規化 / RMSNorm (pre-{'MoE' if moe else 'MLP'})" + tag(dtag),
                   inp=[X], out=[X], gpus=AG, cluster=ck)
            E_(p + "res1", p + "norm2")
            if moe:
                T = EP * B * S * K // E   # tokens per expert (balanced routing)
                g.node(p + "router", "route", f"ルーター / Router (top-{K} of {E})" + tag(dtag),
                       inp=[X], out=[[B, S, K]], gpus=AG, cluster=ck,
                       extra=["備考 Note: 出力は top-k の番号と重み / output: top-k ids and weights"])
                g.node(p + "dispatch", "comm", "全対全 / All-to-all dispatch" + tag(dtag),
                       inp=[X, [B, S, K]], out=[[T, H]], gpus=AG, cluster=ck,
                       extra=[f"備考 Note: 出力はエキスパート毎 / per expert: {T} = {EP} ranks x "
                              f"{B * S} tokens x top-{K} / {E} experts",
                              f"群 Group: EP (GPU {gpu_spec(AG)})"])
                E_(p + "norm2", p + "router")
                E_(p + "norm2", p + "dispatch")
                E_(p + "router", p + "dispatch", dashed=True)
                g.node(p + "combine_a2a", "comm", "全対全 / All-to-all combine" + tag(dtag),
                       inp=[[T, H]], out=[[B, S, K, H]], gpus=AG, cluster=ck,
                       extra=[f"群 Group: EP (GPU {gpu_spec(AG)})"])
                for e in range(E):
                    r = expert_rank(l, e)
                    eg = ep_gpus(d, s, r)
                    g.node(f"{p}e{e}", "comp", f"エキスパート {e} / Expert {e}" + tag(dtag, f"EP{r}"),
                           inp=[[T, H]], out=[[T, H]], gpus=eg, cluster=ck,
                           extra=[f"構成 FFN: SwiGLU {H}→{I}→{H}, TP{TP} 分割 / sharded "
                                  f"({I // TP} per rank)"]
                           + (["備考 Note: 部分和 / partial sum over TP"] if TP > 1 else []))
                    E_(p + "dispatch", f"{p}e{e}")
                    if TP > 1:
                        g.node(f"{p}e{e}_ar", "comm", f"全体縮約 / All-reduce (expert {e})"
                               + tag(dtag, f"EP{r}"), inp=[[T, H]], out=[[T, H]], gpus=eg,
                               cluster=ck,
                               extra=["群 Group: TP {" + ",".join(str(x) for x in eg) + "}"])
                        E_(f"{p}e{e}", f"{p}e{e}_ar")
                        E_(f"{p}e{e}_ar", p + "combine_a2a")
                    else:
                        E_(f"{p}e{e}", p + "combine_a2a")
                g.node(p + "combine", "route",
                       f"トークン結合 / Combine (top-{K} weighted sum)" + tag(dtag),
                       inp=[[B, S, K, H], [B, S, K]], out=[X], gpus=AG, cluster=ck)
                E_(p + "combine_a2a", p + "combine")
                E_(p + "router", p + "combine", dashed=True)
                last = p + "combine"
            else:
                for t in range(TP):
                    gt = tp_gpus(d, s, t)
                    tt = tag(dtag, tp_tag(t))
                    g.node(f"{p}gate_up_tp{t}", "comp",
                           f"ゲート・アップ射影 / Gate-up projection (column-parallel){tt}",
                           inp=[X], out=[[B, S, 2 * I // TP]], gpus=gt, cluster=ck)
                    g.node(f"{p}act_tp{t}", "comp", f"活性化 / SwiGLU activation{tt}",
                           inp=[[B, S, 2 * I // TP]], out=[[B, S, I // TP]], gpus=gt, cluster=ck)
                    g.node(f"{p}down_tp{t}", "comp",
                           f"ダウン射影 / Down projection (row-parallel){tt}",
                           inp=[[B, S, I // TP]], out=[X], gpus=gt, cluster=ck,
                           extra=(["備考 Note: 部分和 / partial sum over TP"] if TP > 1 else []))
                    E_(p + "norm2", f"{p}gate_up_tp{t}")
                    E_(f"{p}gate_up_tp{t}", f"{p}act_tp{t}")
                    E_(f"{p}act_tp{t}", f"{p}down_tp{t}")
                g.node(p + "mlp_ar", "comm", "全体縮約 / All-reduce (MLP)" + tag(dtag),
                       inp=[X], out=[X], gpus=AG, extra=[f"群 Group: TP {tp_groups(d, s)}"],
                       cluster=ck)
                for t in range(TP):
                    E_(f"{p}down_tp{t}", p + "mlp_ar")
                last = p + "mlp_ar"
            g.node(p + "res2", "comp",
                   f"残差加算 / Residual add ({'MoE' if moe else 'MLP'})" + tag(dtag),
                   inp=[X, X], out=[X], gpus=AG, cluster=ck)
            E_(last, p + "res2")
            E_(p + "res1", p + "res2", skip=True)
            cur = p + "res2"
        # head
        s = PP - 1
        ck = ckey(s)
        AG = all_gpus(d, s)
        g.node(pre + "final_norm", "comp", "最終正規化 / Final RMSNorm" + tag(dtag), inp=[X],
               out=[X], gpus=AG, cluster=ck)
        g.edge(cur, pre + "final_norm", section="出口 / exit" + tag(dtag))
        for t in range(TP):
            g.node(f"{pre}lm_head_tp{t}", "comp",
                   "言語モデルヘッド / LM head (vocab shard)" + tag(dtag, tp_tag(t)),
                   inp=[X], out=[[B, S, V // TP]], gpus=tp_gpus(d, s, t), cluster=ck)
            g.edge(pre + "final_norm", f"{pre}lm_head_tp{t}")
        g.node(pre + "lm_gather", "comm", "全収集 / All-gather (vocab)" + tag(dtag),
               inp=[[B, S, V // TP]], out=[[B, S, V]], gpus=AG, cluster=ck,
               extra=[f"群 Group: TP {tp_groups(d, s)}"])
        for t in range(TP):
            g.edge(f"{pre}lm_head_tp{t}", pre + "lm_gather")
        g.node(pre + "output", "io", "出力 / Output (logits)" + tag(dtag), inp=[[B, S, V]],
               out=[[B, S, V]],
               gpus=AG, cluster=ck, shape="house")
        g.edge(pre + "lm_gather", pre + "output")
    return g


CFG1 = dict(name="moe_deploy_a", EP=2, TP=2, PP=2, DP=1, L=4, H=4096, heads=32, hd=128,
            B=4, S=1024, V=128000, E=4, k=2, inter=14336)
CFG2 = dict(name="moe_deploy_b", EP=4, TP=2, PP=1, DP=1, L=2, H=2048, heads=16, hd=128,
            B=8, S=512, V=64000, E=8, k=2, inter=5632)
CFG3 = dict(name="dense_deploy_c", EP=1, TP=2, PP=1, DP=2, L=2, H=3072, heads=24, hd=128,
            B=8, S=1024, V=32000, E=0, k=0, inter=8192)

CLEAN = {"clean_1.dot": CFG1, "clean_2.dot": CFG2, "clean_3.dot": CFG3}


def base(fname):
    return build(CLEAN[fname])


# ----------------------------------------------------------------------------------------------
# defects: each returns (graph, nodes, what)
# ----------------------------------------------------------------------------------------------
def d_cycle():
    g = base("clean_1.dot")
    i = next(i for i, e in enumerate(g.edges) if e[0] == "l1_e3" and e[1] == "l1_e3_ar")
    g.edges.insert(i + 1, ["l1_e3_ar", "l1_e3", {}, None])
    return g, ["l1_e3", "l1_e3_ar"], (
        "Layer 1's expert 3 (EP rank 1, GPUs 2-3) and its TP all-reduce l1_e3_ar are drawn both "
        "ways (l1_e3 -> l1_e3_ar and l1_e3_ar -> l1_e3), a two-node cycle through a communication "
        "node.")


def d_dangling_input():
    g = base("clean_1.dot")
    g.remove_edge("l2_res1", "l2_norm2")
    return g, ["l2_norm2"], (
        "Layer 2's pre-MoE RMSNorm l2_norm2 (stage 1, GPUs 4-7) has no incoming edge: its input "
        "from the attention residual add l2_res1 was removed.")


def d_dangling_output():
    g = base("clean_2.dot")
    g.remove_edge("l1_e5_ar", "l1_combine_a2a")
    return g, ["l1_e5_ar", "l1_e5"], (
        "The TP all-reduce l1_e5_ar of expert 5 in layer 1 (EP rank 2, GPUs 4-5) has no outgoing "
        "edge: expert 5's output never reaches the all-to-all combine l1_combine_a2a.")


def d_attention_one_box():
    g = base("clean_1.dot")
    X = [4, 1024, 4096]
    for t in range(2):
        gt = g.nodes[f"l2_q_tp{t}"]["gpus"]
        for x in ("q", "k", "v", "score", "softmax", "wsum", "oproj"):
            g.remove_node(f"l2_{x}_tp{t}")
        g.node(f"l2_mha_tp{t}", "comp", f"多頭注意 / Multi-Head Attention 【TP{t}】", inp=[X],
               out=[X], gpus=gt, cluster="cluster_stage1",
               extra=["頭数 Heads: 16 of 32, head_dim 128", "備考 Note: 部分和 / partial sum over TP"])
        g.insert_edge_after("l2_norm1", "l2_norm1", f"l2_mha_tp{t}")
        g.insert_edge_after("l2_attn_ar", f"l2_mha_tp{t}", "l2_attn_ar")
    # keep node order tidy: move the new boxes right after l2_norm1
    for t in (1, 0):
        g.order.remove(f"l2_mha_tp{t}")
        g.order.insert(g.order.index("l2_norm1") + 1, f"l2_mha_tp{t}")
    return g, ["l2_mha_tp0", "l2_mha_tp1"], (
        "Layer 2's attention is drawn as one 'Multi-Head Attention' box per TP rank (l2_mha_tp0 on "
        "GPUs 4,6 and l2_mha_tp1 on GPUs 5,7) instead of Q/K/V projections, scores, softmax, "
        "weighted sum and output projection.")


def d_v_bypasses_softmax():
    g = base("clean_1.dot")
    g.replace_edge("l1_softmax_tp1", "l1_wsum_tp1", "l1_softmax_tp1", "l1_oproj_tp1")
    return g, ["l1_softmax_tp1", "l1_wsum_tp1", "l1_v_tp1"], (
        "Layer 1, TP rank 1 (GPUs 1,3): V (l1_v_tp1) feeds the weighted sum l1_wsum_tp1 but the "
        "softmax l1_softmax_tp1 does not; it goes straight to the output projection l1_oproj_tp1, "
        "so V bypasses the attention probabilities.")


def d_v_into_score():
    g = base("clean_2.dot")
    g.replace_edge("l0_k_tp1", "l0_score_tp1", "l0_v_tp1", "l0_score_tp1")
    g.replace_edge("l0_v_tp1", "l0_wsum_tp1", "l0_k_tp1", "l0_wsum_tp1")
    return g, ["l0_v_tp1", "l0_k_tp1", "l0_score_tp1", "l0_wsum_tp1"], (
        "Layer 0, TP rank 1 (GPUs 1,3,5,7): V (l0_v_tp1) is wired into the score l0_score_tp1 "
        "instead of K, and K (l0_k_tp1) feeds the weighted sum l0_wsum_tp1 (K and V swapped).")


def d_qkv_into_oproj():
    g = base("clean_3.dot")
    for t in range(2):
        p = "dp1_l1_"
        for x in ("score", "softmax", "wsum"):
            g.remove_node(f"{p}{x}_tp{t}")
        i = next(i for i, e in enumerate(g.edges) if e[1] == f"{p}v_tp{t}")
        for j, x in enumerate(("q", "k", "v")):
            g.edges.insert(i + 1 + j, [f"{p}{x}_tp{t}", f"{p}oproj_tp{t}", {}, None])
    return g, ["dp1_l1_q_tp0", "dp1_l1_k_tp0", "dp1_l1_v_tp0", "dp1_l1_oproj_tp0",
               "dp1_l1_q_tp1", "dp1_l1_k_tp1", "dp1_l1_v_tp1", "dp1_l1_oproj_tp1"], (
        "DP replica 1, layer 1: Q, K and V go straight into the output projection on both TP ranks "
        "(dp1_l1_oproj_tp0 on GPU 2, dp1_l1_oproj_tp1 on GPU 3); no score, softmax or weighted sum "
        "is drawn.")


def d_head_arithmetic():
    g = base("clean_2.dot")
    for t in range(2):
        p = "l1_"
        for x in ("q", "k", "v"):
            n = g.nodes[f"{p}{x}_tp{t}"]
            n["out"] = [[8, 512, 8, 64]]
            n["extra"] = ["頭数 Heads: 8 of 16, head_dim 64"]
        g.nodes[f"{p}score_tp{t}"]["inp"] = [[8, 512, 8, 64], [8, 512, 8, 64]]
        g.nodes[f"{p}wsum_tp{t}"]["inp"] = [[8, 8, 512, 512], [8, 512, 8, 64]]
        g.nodes[f"{p}wsum_tp{t}"]["out"] = [[8, 512, 512]]
        g.nodes[f"{p}oproj_tp{t}"]["inp"] = [[8, 512, 512]]
    return g, ["l1_q_tp0", "l1_k_tp0", "l1_v_tp0", "l1_q_tp1", "l1_k_tp1", "l1_v_tp1"], (
        "Layer 1 labels Q/K/V as 8 heads x head_dim 64 on each TP rank (8 x 64 = 512 per rank, "
        "16 x 64 = 1024 in total) while hidden is 2048 (2048/TP2 = 1024 per rank, i.e. head_dim "
        "should be 128).")


def d_tp_heads():
    g = base("clean_1.dot")
    p = "l0_"
    for x in ("q", "k", "v"):
        n = g.nodes[f"{p}{x}_tp0"]
        n["out"] = [[4, 1024, 32, 128]]
        n["extra"] = ["頭数 Heads: 32 of 32, head_dim 128"]
    g.nodes[f"{p}score_tp0"]["inp"] = [[4, 1024, 32, 128], [4, 1024, 32, 128]]
    g.nodes[f"{p}score_tp0"]["out"] = [[4, 32, 1024, 1024]]
    g.nodes[f"{p}softmax_tp0"]["inp"] = [[4, 32, 1024, 1024]]
    g.nodes[f"{p}softmax_tp0"]["out"] = [[4, 32, 1024, 1024]]
    g.nodes[f"{p}wsum_tp0"]["inp"] = [[4, 32, 1024, 1024], [4, 1024, 32, 128]]
    g.nodes[f"{p}wsum_tp0"]["out"] = [[4, 1024, 4096]]
    g.nodes[f"{p}oproj_tp0"]["inp"] = [[4, 1024, 4096]]
    return g, ["l0_q_tp0", "l0_k_tp0", "l0_v_tp0"], (
        "Layer 0, TP rank 0 of TP 2 (GPUs 0,2): the Q/K/V projections output all 32 heads "
        "([4, 1024, 32, 128], 'Heads: 32 of 32') instead of 32/2 = 16 heads per rank, and the "
        "rank-0 score/softmax/weighted sum carry the 32 heads on.")


def d_edge_shape_mismatch():
    g = base("clean_3.dot")
    g.nodes["dp0_l1_norm2"]["inp"] = [[8, 1024, 4096]]
    return g, ["dp0_l1_norm2", "dp0_l1_res1"], (
        "DP replica 0, layer 1: RMSNorm dp0_l1_norm2 expects [8, 1024, 4096] but its producer "
        "dp0_l1_res1 outputs [8, 1024, 3072] (ratio 4/3, not a parallel degree).")


def d_shard_without_gather():
    g = base("clean_1.dot")
    n = g.nodes["l3_attn_ar"]
    n["title"] = "縮約分散 / Reduce-scatter (attention)"
    n["out"] = [[4, 1024, 2048]]
    g.rename("l3_attn_ar", "l3_attn_rs")
    return g, ["l3_attn_rs", "l3_res1"], (
        "Layer 3's row-parallel attention output is reduce-scattered (l3_attn_rs, GPUs 4-7) into "
        "hidden/TP = 4096/2 = 2048 shards that go straight into the full-size (hidden 4096) residual "
        "add l3_res1 with no all-gather.")


def d_stage_count():
    g = base("clean_1.dot")
    g.strategy["PP"] = 3
    return g, [], (
        "The graph label declares PP=3 (並列構成 / Parallelism: EP=2, TP=2, PP=3, DP=1) but two "
        "pipeline stages are drawn (stage 0 layers 0-1, stage 1 layers 2-3).")


def d_stage_range_gap():
    g = base("clean_1.dot")
    g.clusters["cluster_stage0"]["label"] = "ステージ 0 / Stage 0 (層 0-0 / layers 0-0)"
    return g, ["l1_norm1", "l1_res2"], (
        "Stage 0 claims layers 0-0 and stage 1 layers 2-3: layer 1 is in no stage's range (gap), "
        "although its operators (l1_norm1 ... l1_res2) are drawn in stage 0 on GPUs 0-3.")


def d_stage_missing_layer():
    g = base("clean_1.dot")
    for nid in [n for n in list(g.order) if n.startswith("l3_")]:
        g.remove_node(nid)
    g.insert_edge_after("final_norm", "l2_res2", "final_norm")
    # put the new edge where the exit section starts
    e = g.edges.pop(next(i for i, e in enumerate(g.edges) if e[0] == "l2_res2" and e[1] == "final_norm"))
    i = next(i for i, x in enumerate(g.edges) if x[0] == "final_norm")
    e[3] = "出口 / exit"
    g.edges.insert(i, e)
    return g, ["l2_res2", "final_norm"], (
        "Stage 1 claims layers 2-3 but no operator of layer 3 is drawn: layer 2's MoE residual "
        "l2_res2 feeds the final norm final_norm directly.")


def d_no_stage_transfer():
    g = base("clean_1.dot")
    g.replace_edge("pp_recv_1", "l2_norm1", "l1_res2", "l2_norm1")
    g.replace_edge("pp_recv_1", "l2_res1", "l1_res2", "l2_res1")
    g.remove_node("pp_send_0")
    g.remove_node("pp_recv_1")
    return g, ["l1_res2", "l2_norm1", "l2_res1"], (
        "Stage 0 (GPUs 0-3) and stage 1 (GPUs 4-7) are joined by plain edges from l1_res2 to "
        "l2_norm1 and l2_res1; the pipeline send/recv (pp_send_0, pp_recv_1) is missing.")


def d_experts_subset_ranks():
    g = build(CFG2, expert_rank=lambda l, e: (e // 4) if l == 1 else e // 2)
    return g, [f"l1_e{e}" for e in range(8)], (
        "Layer 1 places all 8 experts on EP ranks 0 and 1 (experts 0-3 on GPUs 0-1, experts 4-7 on "
        "GPUs 2-3); EP ranks 2 and 3 (GPUs 4-7) hold none of its experts although EP is 4.")


def d_experts_uneven():
    g = build(CFG2, expert_rank=lambda l, e: 0 if (l == 0 and e == 2) else e // 2)
    return g, ["l0_e2", "l0_e2_ar"], (
        "Layer 0's expert 2 sits on EP rank 0 (GPUs 0-1) instead of rank 1 (GPUs 2-3): ranks 0-3 "
        "hold 3, 1, 2, 2 experts instead of 8/4 = 2 each.")


def d_experts_share_gpu():
    g = base("clean_1.dot")
    g.nodes["l1_e3"]["gpus"] = [0, 1]
    return g, ["l1_e3", "l1_e0", "l1_e1"], (
        "Layer 1's expert 3 (tagged EP rank 1) is placed on GPUs 0-1, which hold EP rank 0's "
        "experts 0 and 1; EP rank 1's GPUs are 2-3.")


def d_no_gate():
    g = base("clean_2.dot")
    g.remove_node("l1_router")
    return g, ["l1_norm2", "l1_dispatch"], (
        "Layer 1 has no MoE router: the RMSNorm output l1_norm2 goes straight into the all-to-all "
        "dispatch l1_dispatch and on to the 8 experts; nothing selects the top-2 of 8.")


def d_no_all_to_all():
    g = base("clean_1.dot")
    for e in range(4):
        i = next(i for i, x in enumerate(g.edges) if x[1] == f"l2_e{e}")
        g.edges[i][0] = "l2_norm2"
        g.edges.insert(i + 1, ["l2_router", f"l2_e{e}", {"style": "dashed"}, None])
    g.remove_node("l2_dispatch")
    return g, ["l2_router", "l2_norm2", "l2_e0", "l2_e1", "l2_e2", "l2_e3"], (
        "Layer 2's router l2_router and RMSNorm l2_norm2 send tokens straight to the experts on EP "
        "ranks 0-1 (l2_e0-l2_e1 on GPUs 4-5, l2_e2-l2_e3 on GPUs 6-7, EP 2) without an all-to-all "
        "dispatch; the combine all-to-all is still drawn.")


def d_tp_rank_missing():
    g = base("clean_2.dot")
    for x in ("q", "k", "v", "score", "softmax", "wsum", "oproj"):
        g.remove_node(f"l1_{x}_tp1")
    return g, ["l1_norm1", "l1_attn_ar"], (
        "Layer 1's attention operators are drawn for TP rank 0 only (GPUs 0,2,4,6); TP rank 1 "
        "(GPUs 1,3,5,7) of TP 2 is missing between l1_norm1 and l1_attn_ar.")


def d_no_allreduce_after_rowparallel():
    g = base("clean_3.dot")
    g.remove_node("dp0_l0_mlp_ar")
    i = next(i for i, e in enumerate(g.edges) if e[0] == "dp0_l0_res1" and e[1] == "dp0_l0_res2")
    g.edges.insert(i, ["dp0_l0_down_tp1", "dp0_l0_res2", {}, None])
    g.edges.insert(i, ["dp0_l0_down_tp0", "dp0_l0_res2", {}, None])
    return g, ["dp0_l0_down_tp0", "dp0_l0_down_tp1", "dp0_l0_res2"], (
        "DP replica 0, layer 0: the row-parallel MLP down projections dp0_l0_down_tp0 (GPU 0) and "
        "dp0_l0_down_tp1 (GPU 1) feed the residual add dp0_l0_res2 directly, without the TP "
        "all-reduce of their partial sums.")


def d_cross_gpu_no_comm():
    g = base("clean_1.dot")
    g.replace_edge("pp_recv_1", "l2_res1", "l1_res2", "l2_res1")
    return g, ["l1_res2", "l2_res1"], (
        "The skip edge of layer 2's residual add l2_res1 (stage 1, GPUs 4-7) comes straight from "
        "l1_res2 (stage 0, GPUs 0-3) by a plain edge instead of through the pipeline recv "
        "pp_recv_1; no communication node on that cross-GPU edge.")


def d_comm_wrong_shape():
    g = base("clean_2.dot")
    g.nodes["l1_dispatch"]["shape"] = "box"
    return g, ["l1_dispatch"], (
        "Layer 1's all-to-all dispatch l1_dispatch (GPUs 0-7) is drawn as a box (computation) "
        "instead of an ellipse.")


def d_missing_gpu():
    g = base("clean_3.dot")
    g.nodes["dp1_l0_softmax_tp1"]["gpus"] = None
    return g, ["dp1_l0_softmax_tp1"], (
        "Softmax of DP replica 1, layer 0, TP rank 1 (dp1_l0_softmax_tp1, should be GPU 3) has no "
        "GPU line.")


def d_gpu_out_of_range():
    g = base("clean_2.dot")
    g.nodes["l1_e7"]["gpus"] = [8, 9]
    return g, ["l1_e7"], (
        "Layer 1's expert 7 (EP rank 3) is placed on GPUs 8-9, beyond the 8 GPUs of EP 4 x TP 2 x "
        "PP 1 x DP 1 (ids 0-7); EP rank 3 is GPUs 6-7.")


def d_stages_share_gpus():
    g = build(CFG1, stage_base=lambda d, s: s * 2)
    return g, ["pp_recv_1", "l2_norm1", "l3_res2", "output"], (
        "Stage 1 is placed on GPUs 2-5, overlapping stage 0's GPUs 0-3 (GPUs 2-3 in both); "
        "GPUs 6-7 of the 8 are unused.")


def d_strategy_mismatch():
    g = base("clean_2.dot")
    g.strategy["TP"] = 4
    return g, [], (
        "The graph label declares TP=4 (EP=4, TP=4, PP=1, DP=1) but every tensor-parallel "
        "operator is drawn for TP ranks 0-1 only (TP 2), on 8 GPUs.")


def d_missing_shapes():
    g = base("clean_1.dot")
    n = g.nodes["l2_oproj_tp1"]
    n["inp"] = None
    n["out"] = None
    return g, ["l2_oproj_tp1"], (
        "Output projection of layer 2, TP rank 1 (l2_oproj_tp1, GPUs 5,7) has no Input or Output "
        "line.")


def d_placeholder():
    g = base("clean_2.dot")
    g.nodes["l1_router"]["inp"] = [["?", 512, 2048]]
    return g, ["l1_router"], (
        "Layer 1's MoE router l1_router gives its input as [?, 512, 2048], a placeholder instead of "
        "the batch value 8.")


def d_moe_before_attention():
    g = base("clean_1.dot")
    g.replace_edge("pp_recv_1", "l2_norm1", "pp_recv_1", "l2_norm2")
    g.replace_edge("pp_recv_1", "l2_res1", "pp_recv_1", "l2_res2")
    g.replace_edge("l2_res1", "l2_norm2", "l2_res2", "l2_norm1")
    g.replace_edge("l2_res1", "l2_res2", "l2_res2", "l2_res1")
    g.replace_edge("l2_res2", "l3_norm1", "l2_res1", "l3_norm1")
    g.replace_edge("l2_res2", "l3_res1", "l2_res1", "l3_res1")
    return g, ["l2_norm2", "l2_res2", "l2_norm1", "l2_res1"], (
        "Layer 2 runs its MoE block (l2_norm2, router, experts, l2_res2) before its attention block: "
        "the stage-1 recv pp_recv_1 feeds l2_norm2, the MoE residual l2_res2 feeds l2_norm1, and "
        "the attention residual l2_res1 feeds layer 3.")


def d_missing_residual():
    g = base("clean_3.dot")
    g.remove_edge("dp0_l0_res2", "dp0_l1_res1")
    return g, ["dp0_l1_res1", "dp0_l0_res2"], (
        "DP replica 0, layer 1: the attention residual add dp0_l1_res1 is fed only by the all-reduce "
        "dp0_l1_attn_ar; the skip edge from dp0_l0_res2 is missing.")


DEFECTS = [
    ("cycle", "structure", "clean_1.dot", d_cycle),
    ("dangling_input", "structure", "clean_1.dot", d_dangling_input),
    ("dangling_output", "structure", "clean_2.dot", d_dangling_output),
    ("attention_one_box", "attention", "clean_1.dot", d_attention_one_box),
    ("v_bypasses_softmax", "attention", "clean_1.dot", d_v_bypasses_softmax),
    ("v_into_score", "attention", "clean_2.dot", d_v_into_score),
    ("qkv_into_oproj", "attention", "clean_3.dot", d_qkv_into_oproj),
    ("head_arithmetic", "attention", "clean_2.dot", d_head_arithmetic),
    ("tp_heads", "attention", "clean_1.dot", d_tp_heads),
    ("edge_shape_mismatch", "shape", "clean_3.dot", d_edge_shape_mismatch),
    ("shard_without_gather", "shape", "clean_1.dot", d_shard_without_gather),
    ("stage_count", "pipeline", "clean_1.dot", d_stage_count),
    ("stage_range_gap", "pipeline", "clean_1.dot", d_stage_range_gap),
    ("stage_missing_layer", "pipeline", "clean_1.dot", d_stage_missing_layer),
    ("no_stage_transfer", "pipeline", "clean_1.dot", d_no_stage_transfer),
    ("experts_subset_ranks", "expert", "clean_2.dot", d_experts_subset_ranks),
    ("experts_uneven", "expert", "clean_2.dot", d_experts_uneven),
    ("experts_share_gpu", "expert", "clean_1.dot", d_experts_share_gpu),
    ("no_gate", "expert", "clean_2.dot", d_no_gate),
    ("no_all_to_all", "expert", "clean_1.dot", d_no_all_to_all),
    ("tp_rank_missing", "tensor", "clean_2.dot", d_tp_rank_missing),
    ("no_allreduce_after_rowparallel", "tensor", "clean_3.dot", d_no_allreduce_after_rowparallel),
    ("cross_gpu_no_comm", "communication", "clean_1.dot", d_cross_gpu_no_comm),
    ("comm_wrong_shape", "communication", "clean_2.dot", d_comm_wrong_shape),
    ("missing_gpu", "gpu", "clean_3.dot", d_missing_gpu),
    ("gpu_out_of_range", "gpu", "clean_2.dot", d_gpu_out_of_range),
    ("stages_share_gpus", "gpu", "clean_1.dot", d_stages_share_gpus),
    ("strategy_mismatch", "strategy", "clean_2.dot", d_strategy_mismatch),
    ("missing_shapes", "annotation", "clean_1.dot", d_missing_shapes),
    ("placeholder", "annotation", "clean_2.dot", d_placeholder),
    ("moe_before_attention", "structure", "clean_1.dot", d_moe_before_attention),
    ("missing_residual", "structure", "clean_3.dot", d_missing_residual),
]

CLEAN_WHAT = {
    "clean_1.dot": "Correct MoE, EP=2 x TP=2 x PP=2 x DP=1 on GPUs 0-7: 4 layers (stage 0 layers 0-1 "
                   "on GPUs 0-3, stage 1 layers 2-3 on GPUs 4-7, joined by pp_send_0/pp_recv_1), "
                   "hidden 4096 = 32 heads x 128 (16 per TP rank), 4 experts top-2, 2 per EP rank.",
    "clean_2.dot": "Correct MoE, EP=4 x TP=2 x PP=1 x DP=1 on GPUs 0-7: 2 layers in one stage, "
                   "hidden 2048 = 16 heads x 128 (8 per TP rank), 8 experts top-2, 2 per EP rank.",
    "clean_3.dot": "Correct dense model, EP=1 x TP=2 x PP=1 x DP=2 on GPUs 0-3: both DP replicas "
                   "drawn (replica 0 on GPUs 0-1, replica 1 on GPUs 2-3), 2 layers, hidden 3072 = "
                   "24 heads x 128 (12 per TP rank), SwiGLU MLP with TP all-reduce.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for fname, cfg in CLEAN.items():
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(build(cfg).to_dot())
        manifest.append({"file": fname, "kind": "clean", "category": None, "base": None,
                         "nodes": [], "what": CLEAN_WHAT[fname]})
    for kind, cat, basef, fn in DEFECTS:
        g, nodes, what = fn()
        for n in nodes:
            assert n in g.nodes, (kind, n)
        fname = f"defect_{kind}.dot"
        with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
            f.write(g.to_dot())
        manifest.append({"file": fname, "kind": kind, "category": cat, "base": basef,
                         "nodes": nodes, "what": what})
    with open(os.path.join(OUT, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"wrote {len(manifest)} files + manifest.json to {OUT}")


if __name__ == "__main__":
    main()
