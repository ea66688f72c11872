"""House styles: the ways real deployment DAGs write the same deployment.

A style varies, independently of each other: the id scheme, the wording of each operator, the
notation of dimensions, how inputs and outputs are written, how placement is written, fused or
separate QKV, a vocab-parallel or replicated LM head, optional pass-through operators in
attention, how pipeline stages are drawn, whether layers count from 0 or 1, the label markup,
and where the strategy is stated. The generator draws the same (correct) deployment in every
style; tests/test_styles.py checks that dagtui reads them all alike.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass

from dagtui.errors import ConfigError

ID_SCHEMES = ("snake", "caps", "opaque", "hashed")
NAMING_STYLES = ID_SCHEMES  # the `--ids` choices


@dataclass(frozen=True)
class HouseStyle:
    """One way of writing a deployment DAG (see the module docstring)."""

    name: str
    ids: str = "snake"  # snake | caps | opaque | hashed
    wording: str = "plain"  # plain | verbose | terse | agentic
    dims: str = "named"  # named | positional | spaced
    io: str = "lines"  # lines (Input:/Output:) | inout (In:/Out:) | oneline ([Input: .., Output: ..]) | arrow
    placement: str = "ids"  # ids | ranks | cuda | list | composite
    fused_qkv: bool = False
    vocab_parallel_head: bool = True
    pass_through: bool = False  # scale, causal mask, dropout and merge-heads nodes inside attention
    stages: str = "markers"  # markers | clusters | replica_clusters
    first_layer: int = 0
    markup: str = "plain"  # plain (\n) | left (\l) | html (<br/>)
    strategy_at: str = "label"  # label | comment | name | nowhere


HOUSE_STYLES: dict[str, HouseStyle] = {style.name: style for style in (
    HouseStyle("reference"),
    HouseStyle("caps_clusters", ids="caps", wording="verbose", dims="positional", io="inout", placement="ranks",
               fused_qkv=True, pass_through=True, stages="clusters", first_layer=1, markup="left",
               strategy_at="comment"),
    HouseStyle("opaque_html", ids="opaque", wording="terse", dims="spaced", io="arrow", placement="cuda",
               vocab_parallel_head=False, pass_through=True, markup="html", strategy_at="name"),
    HouseStyle("hashed_agent", ids="hashed", wording="agentic", io="oneline", placement="composite", fused_qkv=True,
               stages="replica_clusters", first_layer=1, strategy_at="nowhere"),
    HouseStyle("snake_terse", wording="terse", dims="positional", placement="list", pass_through=True,
               stages="clusters", markup="html", strategy_at="comment"),
    HouseStyle("caps_agent", ids="caps", wording="agentic", dims="spaced", io="inout", placement="ranks",
               fused_qkv=True, vocab_parallel_head=False, first_layer=1, markup="left", strategy_at="nowhere"),
)}


def house_style(name: str) -> HouseStyle:
    try:
        return HOUSE_STYLES[name]
    except KeyError:
        raise ConfigError(f"unknown house style {name!r} (one of {', '.join(HOUSE_STYLES)})") from None


# The first label line of each operator, per wording. Every phrasing here is one real files use.
WORDING: dict[str, dict[str, str]] = {
    "plain": {
        "input": "Input", "output": "Output", "embedding": "Embedding (vocab-parallel)",
        "embed_reduce": "All-Reduce (embedding)", "norm_attn": "RMSNorm (attention)", "norm_moe": "RMSNorm (MoE)",
        "q_proj": "Q Projection (column-parallel)", "k_proj": "K Projection (column-parallel)",
        "v_proj": "V Projection (column-parallel)", "qkv_proj": "QKV Projection (column-parallel)",
        "qkv_split": "Split Q/K/V", "attn_score": "Attention Score (Q x K^T)", "scale": "Scale (1/sqrt(d_k))",
        "mask": "Causal Mask", "softmax": "Softmax", "dropout": "Dropout", "attn_weighted_sum": "Attention Output (scores x V)",
        "merge_heads": "Merge Heads", "o_proj": "Output Projection (row-parallel)", "attn_reduce": "All-Reduce (attention)",
        "residual_add": "Residual Add", "gate": "Gate (router)", "dispatch": "All-to-All Dispatch",
        "expert": "Expert {expert}", "combine": "All-to-All Combine", "send_recv": "Pipeline Send/Recv",
        "final_norm": "Final RMSNorm", "lm_head": "LM Head (column-parallel)", "lm_head_full": "LM Head",
        "logits_gather": "All-Gather (logits)", "stage_marker": "PP Stage {stage}",
        "mlp_up": "MLP Up Projection (column-parallel)", "mlp_act": "SwiGLU Activation", "mlp_down": "MLP Down Projection (row-parallel)", "mlp_reduce": "All-Reduce (MLP)",
    },
    "verbose": {
        "input": "Model Input (token ids)", "output": "Final Output (logits)", "embedding": "Token Embedding Lookup",
        "embed_reduce": "Tensor-Parallel All-Reduce of embeddings", "norm_attn": "Pre-Attention LayerNorm",
        "norm_moe": "Pre-MoE LayerNorm", "q_proj": "Query Projection", "k_proj": "Key Projection",
        "v_proj": "Value Projection", "qkv_proj": "Fused QKV Linear Projection", "qkv_split": "Split into Q, K and V",
        "attn_score": "QK^T Attention Scores", "scale": "Scale by 1/sqrt(head dim)", "mask": "Apply Causal Mask",
        "softmax": "Softmax over keys", "dropout": "Attention Dropout", "attn_weighted_sum": "Attention context (P x V)",
        "merge_heads": "Merge Attention Heads", "o_proj": "Attention Output Projection",
        "attn_reduce": "Tensor-Parallel All-Reduce after attention", "residual_add": "Residual Connection (add)",
        "gate": "Expert Router (gating network)", "dispatch": "Token Dispatch All-to-All",
        "expert": "Expert {expert} Feed-Forward", "combine": "Token Combine All-to-All",
        "send_recv": "Pipeline Stage Transfer (send/recv)", "final_norm": "Final LayerNorm",
        "lm_head": "Vocabulary-Parallel LM Head", "lm_head_full": "LM Head (full vocabulary)",
        "logits_gather": "All-Gather of logits", "stage_marker": "Pipeline Stage {stage}",
        "mlp_up": "Feed-Forward Up Projection", "mlp_act": "GELU Activation", "mlp_down": "Feed-Forward Down Projection", "mlp_reduce": "Tensor-Parallel All-Reduce after the MLP",
    },
    "terse": {
        "input": "Input", "output": "Output", "embedding": "Embed", "embed_reduce": "AR embed", "norm_attn": "LN1",
        "norm_moe": "LN2", "q_proj": "Wq", "k_proj": "Wk", "v_proj": "Wv", "qkv_proj": "Wqkv", "qkv_split": "split qkv",
        "attn_score": "QK^T", "scale": "scale", "mask": "mask", "softmax": "softmax", "dropout": "dropout",
        "attn_weighted_sum": "P x V", "merge_heads": "merge heads", "o_proj": "Wo", "attn_reduce": "AR",
        "residual_add": "add", "gate": "router", "dispatch": "A2A dispatch", "expert": "Exp {expert}",
        "combine": "A2A combine", "send_recv": "P2P send", "final_norm": "final LN", "lm_head": "LM head (vocab shard)",
        "lm_head_full": "LM head", "logits_gather": "AG logits", "stage_marker": "PP{stage} start",
        "mlp_up": "FFN fc1", "mlp_act": "GELU", "mlp_down": "FFN fc2", "mlp_reduce": "AR mlp",
    },
    "agentic": {
        "input": "Input Tokens", "output": "Model Output", "embedding": "Token Embedding (TP sharded)",
        "embed_reduce": "Embedding All-Reduce", "norm_attn": "Input LayerNorm", "norm_moe": "Post-Attention LayerNorm",
        "q_proj": "Query Linear", "k_proj": "Key Linear", "v_proj": "Value Linear", "qkv_proj": "QKV Linear (fused)",
        "qkv_split": "Split QKV", "attn_score": "Attention Scores (QK^T/sqrt(d))", "scale": "Scaling",
        "mask": "Masking (causal)", "softmax": "Attention Softmax", "dropout": "Attention Dropout",
        "attn_weighted_sum": "Attention x V", "merge_heads": "Concat Heads (reshape)", "o_proj": "Attention Out Proj",
        "attn_reduce": "TP All-Reduce", "residual_add": "Add Residual", "gate": "Gating Network (Top-K)",
        "dispatch": "Token Dispatch (All-to-All)", "expert": "Expert FFN {expert}", "combine": "Token Combine (All-to-All)",
        "send_recv": "PP Send/Recv", "final_norm": "Final Norm", "lm_head": "Output Head (vocab-parallel)",
        "lm_head_full": "Output Head (vocab)", "logits_gather": "Logits All-Gather", "stage_marker": "Pipeline Stage {stage}",
        "mlp_up": "MLP Linear1 (Column Parallel)", "mlp_act": "GeLU", "mlp_down": "MLP Linear2 (Row Parallel)", "mlp_reduce": "MLP All-Reduce",
    },
}

Dims = tuple[tuple[str, object], ...]  # ((name, value), ...): `batch=8`


def dims_text(dims: Dims, notation: str) -> str:
    """`[batch=8, seq=128, hidden=1024]`, `[8, 128, 1024]` or `[8 128 1024]`."""
    if notation == "named":
        return "[" + ", ".join(f"{name}={value}" for name, value in dims) + "]"
    separator = ", " if notation == "positional" else " "
    return "[" + separator.join(str(value) for _, value in dims) + "]"


def io_lines(inputs: list[Dims], output: Dims | None, style: HouseStyle) -> list[str]:
    """The shape lines of a label, in the style's notation."""
    if not inputs and output is None:
        return []
    ins = ", ".join(dims_text(dims, style.dims) for dims in inputs)
    out = dims_text(output, style.dims) if output is not None else ""
    if style.io == "lines":
        return [*([f"Input: {ins}"] if ins else []), *([f"Output: {out}"] if out else [])]
    if style.io == "inout":
        return [*([f"In: {ins}"] if ins else []), *([f"Out: {out}"] if out else [])]
    if style.io == "oneline":
        parts = [*([f"Input: {ins}"] if ins else []), *([f"Output: {out}"] if out else [])]
        return ["[" + ", ".join(parts) + "]"]
    if ins and out:
        return [f"{ins} → {out}"]
    return [f"Input: {ins}"] if ins else [f"Output: {out}"]


@dataclass(frozen=True)
class Place:
    """Where a node runs: a GPU id range and the ranks it covers (`{"tp": (0, 1), "ep": (1, 1)}`)."""

    first: int
    last: int
    ranks: tuple[tuple[str, tuple[int, int]], ...] = ()


def _range(low: int, high: int, prefix: str = "") -> str:
    return f"{prefix}{low}" if low == high else f"{prefix}{low}-{prefix}{high}" if prefix else f"{low}-{high}"


def placement_line(place: Place, style: HouseStyle) -> str:
    """The placement line of a label, in the style's notation."""
    ids = _range(place.first, place.last)
    ranks = dict(place.ranks)
    if style.placement == "ids":
        notes = ", ".join(_range(*ranks[axis], prefix=axis.upper()) for axis in ("tp", "ep", "pp", "dp") if axis in ranks)
        return f"GPU: {ids}" + (f" ({notes})" if notes else "")
    if style.placement == "ranks":
        return "GPU: " + ", ".join(_range(*ranks[axis], prefix=axis.upper()) for axis in ("tp", "ep", "pp", "dp") if axis in ranks)
    if style.placement == "cuda":
        return f"Devices: cuda:{ids}"
    if style.placement == "list":
        return "gpu_ids=[" + ",".join(str(gpu) for gpu in range(place.first, place.last + 1)) + "]"
    # composite: `GPU: PP0_EP1_TP0-PP0_EP1_TP1`, fixed axes first, the varying one last
    fixed = [(axis, low) for axis, (low, high) in place.ranks if low == high and axis != "tp"]
    head = "_".join(f"{axis.upper()}{value}" for axis, value in fixed)
    low, high = ranks.get("tp", (0, 0))
    start = "_".join(part for part in (head, f"TP{low}") if part)
    end = "_".join(part for part in (head, f"TP{high}") if part)
    return f"GPU: {start}-{end}" if high > low else f"GPU: {start}"


def node_id(style: HouseStyle, counter: int, op: str, layer: int | None, tp: int | None, extra: str, dp: int,
            stage: int | None) -> str:
    """A node id in the style's scheme; labels carry the meaning in every scheme."""
    if style.ids == "opaque":
        return f"n{counter}"
    if style.ids == "hashed":
        digest = hashlib.sha1(f"{op}|{layer}|{tp}|{extra}|{dp}|{stage}|{counter}".encode()).hexdigest()
        return f"node_{digest[:10]}"
    parts = [f"dp{dp}"] if dp else []
    if layer is None and stage is not None:
        parts.append(f"pp{stage}" if style.ids == "snake" else f"PP{stage}")
    if style.ids == "snake":
        parts += [f"layer{layer}"] if layer is not None else []
        parts += [op] + ([extra] if extra else []) + ([f"tp{tp}"] if tp is not None else [])
        return "_".join(parts)
    parts += [f"L{layer}"] if layer is not None else []
    parts += [f"TP{tp}"] if tp is not None else []
    parts += [op.upper().replace("_", "")] + ([extra.upper()] if extra else [])
    return "_".join(parts)


def label_value(lines: list[str], style: HouseStyle) -> tuple[str, bool]:
    """The label attribute's text and whether it is an HTML label (`<...>`)."""
    if style.markup == "html":
        return "<br/>".join(html.escape(line, quote=False) for line in lines), True
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    if style.markup == "left":
        return "".join(f"{line}\\l" for line in escaped), False
    return "\\n".join(escaped), False
