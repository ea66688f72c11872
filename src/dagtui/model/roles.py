"""Where a node sits in the model: layer index, expert index, stage claims, from ids and labels.
Numbers past MAX_INDEX are not read (no model has that many layers or experts): a claim such as
`Layers 0-999999999999` is never made into a list (finding SYN003 reports it)."""

from __future__ import annotations

import functools
import re

MAX_INDEX = 1_000_000

# `layer0_`, `L3`, `Layer 3`, `layer: 3`, and module paths `decoder_layers_3_`, `model.layers.3.` (never `layers 0-7`).
_LAYER = re.compile(r"(?:^|[^a-z])(?:(?:layer|lyr|blk|block|l)[-_ ]?|layers[_.]|(?:layer|block)\s*[:=]\s*)(\d+)(?!\d)", re.IGNORECASE)
_EXPERT = re.compile(r"(?:^|[^a-z])(?:experts?[-_. ]?|exp[-_ ]?|e[-_ ]?)(\d+)(?!\d)(?!\s*(?:-|–)\s*\d)", re.IGNORECASE)
# `Expert 3`, `Expert E3`, `expert #3`, `EXPERT=3`, `ExpertFFN 3`, `moe.expert.3`, `mlp.experts.3`, `expert[3]`, or a label line that is `E3`
# alone; not Megatron's `local_experts[3]`, an index that restarts on every EP rank.
_EXPERT_WORD = re.compile(r"(?:(?:^|[^a-z])(?:expert|exp)[-_ ]?(?:e|#\s*|(?:ffn|mlp)\s+|\s*[=:]\s*)?|(?:^|[^a-z])experts?\.|^\s*e(?=\d+\s*$)"
                          r"|(?:^|[^a-z])(?<!local_)experts?\[|(?:^|[^a-z])(?:ffn|mlp)(?=\d{1,4}\s*\())(\d+)(?!\d)(?!\s*(?:-|–)\s*\d)",
                          re.IGNORECASE)  # (and `E5 = FFN5(D5)`: the fifth expert's FFN)
# `Pipeline Stage 1`, `PP1`, `pp_rank=1`, Megatron's `pipeline_model_parallel_rank 1`, `Stage 2`.
_STAGE = re.compile(r"(?:pipeline|pp)[-_ ]*(?:model[-_ ]*)?(?:parallel[-_ ]*)?(?:stage|rank)?[-_ ]*(?:=\s*|#\s*)?(\d+)"
                    r"|\bstage[-_ ]*#?\s*(\d+)", re.IGNORECASE)  # `Pipeline stage #0` too
# `Layers 0-7`, `layers=0..1`, a module path's `model.layers.2-3`; 层 is layer.
_LAYER_RANGE = re.compile(r"(?:layers?|blocks|层)\s*[:=.]?\s*[\[(]?\s*(\d+)\s*(?:-|–|to|through|thru|\.\.)\s*(\d+)",
                          re.IGNORECASE)
_LAYER_LIST = re.compile(r"layers?\s*[:=]?\s*[\[(]?\s*(\d+(?:\s*,\s*\d+)+)", re.IGNORECASE)
# `Layer 3`, or a one-layer list `layers [3]`.
_LAYER_SINGLE = re.compile(r"layer\s*[:=]?\s*(\d+)(?!\s*(?:-|–|,)\s*\d)|layers\s*[:=]?\s*[\[(]\s*(\d+)\s*[\])]", re.IGNORECASE)
# A range of layers written with their prefix: `[L00-L01]`, `L4-L7`, or module paths (GPT-2's `h.2 - h.3`,
# `blocks.4 .. blocks.7`).
_L_RANGE = re.compile(r"(?<![A-Za-z])(?:L|h\.|blocks?\.|layers\.)(\d+)\s*(?:-|–|to|\.\.)\s*(?:L|h\.|blocks?\.|layers\.)?(\d+)\b")
_TOTAL_LAYERS = re.compile(r"\((\d+)\s+total\s+layers\)", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def layer_in(text: str) -> int | None:
    """Layer index in an id or label: `layer0_`, `l0_`, `L0`, `Layer 0`, `mha_layer_0`."""
    for match in _LAYER.finditer(text):
        if not _MLP_SUBLAYER.search(text, 0, match.end()) and not _RELATIVE.search(text, 0, match.start() + 1):
            return _bounded(match.group(1))
    return None


# "Final RMSNorm / after layer 4": a place relative to the layer, outside it.
_RELATIVE = re.compile(r"\b(?:after|before|following|preceding)\s*$", re.IGNORECASE)


# "MLP Layer1", "FFN Layer2": the MLP's first and second linear, not transformer layers.
_MLP_SUBLAYER = re.compile(r"(?:mlp|ffn)\s+layer\d+$", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def expert_in(text: str, allow_short: bool = False) -> int | None:
    """Expert index: `expert_3`, `exp3`, `Expert 3`; `E3` only where `allow_short` (ids)."""
    pattern = _EXPERT if allow_short else _EXPERT_WORD
    match = pattern.search(text)
    return _bounded(match.group(1)) if match else None


def stage_in(text: str) -> int | None:
    """Stage index named in a cluster label or marker: `Pipeline Stage 1`, `PP Stage 0`, `Stage 2`, `PP1`."""
    match = _STAGE.search(text)
    if not match:
        return None
    return int(match.group(1) if match.group(1) is not None else match.group(2))


def _bounded(digits: str) -> int | None:
    value = int(digits) if len(digits) <= 7 else MAX_INDEX + 1  # no int() of a thousand digits
    return value if value <= MAX_INDEX else None


def claimed_layers(text: str) -> list[int] | None:
    """Layers a stage claims: `Layers 0-7`, `Layers: 0,1`, `(Layer 0)`; None when it claims none
    or names a layer past MAX_INDEX (see `layer_claim_beyond_bounds`)."""
    match = _LAYER_RANGE.search(text) or _L_RANGE.search(text)
    if match:
        low, high = _bounded(match.group(1)), _bounded(match.group(2))
        if low is None or high is None:
            return None
        return list(range(min(low, high), max(low, high) + 1))
    match = _LAYER_LIST.search(text)
    if match:
        listed = [_bounded(part.strip()) for part in match.group(1).split(",")]
        return None if None in listed else sorted({layer for layer in listed if layer is not None})
    match = _LAYER_SINGLE.search(text)
    if match and not _TOTAL_LAYERS.search(text):
        layer = _bounded(match.group(1) or match.group(2))
        return None if layer is None else [layer]
    return None


def layer_claim_beyond_bounds(text: str) -> str | None:
    """The layer claim of a stage label that names a layer past MAX_INDEX (`Layers 0-999999999999`)."""
    for pattern in (_LAYER_RANGE, _LAYER_LIST, _LAYER_SINGLE):
        match = pattern.search(text)
        if match:
            numbers = re.findall(r"\d+", match.group(0))
            return match.group(0) if any(_bounded(number) is None for number in numbers) else None
    return None


# Top-k phrases name how many experts a token goes to, never how many there are.
_TOP_K = re.compile(
    r"top[-_ ]?k?\s*[=:]?\s*(\d+)|\bk\s*=\s*(\d+)|select(?:s|ing|ed)?\s+(?:top[-_ ]?)?(\d+)\s+experts?"
    r"|(\d+)\s+(?:experts?\s+)?per\s+token|(\d+)\s+(?:active|activated|routed)\s+experts?",
    re.IGNORECASE,
)
_EXPERT_COUNT = re.compile(
    r"(?:num[-_ ]?experts|n[-_]experts|total[-_ ]experts|expert[-_ ]count|experts)\s*[=:]\s*(\d+)"
    r"|top[-_ ]?\d+\s+(?:of|from|among)\s+(\d+)"
    # never a count per GPU or of copies: `8 experts per GPU`, `8 Expert Instances per GPU`
    # nor the value of the key before (`ffn=5632 experts=8`)
    # nor the ranks of expert parallelism (`4 expert-parallel ranks`); `8 experts per MoE layer` is the count
    r"|(\d+)\s+(?:total\s+|routed\s+)?experts?\b(?![-_ ]?parallel)"
    r"(?!\s*(?:/|[=:]|(?:per(?!\s+(?:moe\s+)?layer\b)|each|on\s+each|instances?|replicas?|copies|shards?)\b))",
    re.IGNORECASE,
)


def heads_stated(lines: list[str]) -> tuple[int, int] | None:
    """(heads, head size) a label states in words rather than as shape dimensions: `heads=8
    head_dim=128`, `Heads: 4 of 16 per rank, head_dim: 64`, `heads per rank: 8 of 16`."""
    text = " ".join(lines)
    heads, size = _HEADS_PER_RANK_STATED.search(text) or _HEADS_STATED.search(text), _HEAD_SIZE_STATED.search(text)
    if heads and size:
        # `heads=16 (4 per TP rank)`: what one rank holds is the count the shapes show.
        per_rank = _PER_RANK.match(text, heads.end())
        count, dim = _bounded(per_rank.group(1) if per_rank else heads.group(1)), _bounded(size.group(1))
        if count and dim:
            return count, dim
    return None


_PER_RANK = re.compile(r"\s*\(\s*(\d+)\s+(?:per|on each|each)\s+(?:tp\s+)?(?:rank|gpu|shard)", re.IGNORECASE)
# `HEADS_PER_RANK=8` beside `HEADS=16`: what one rank holds, said outright.
# `local_heads=16` (ONNX and vLLM attribute names): the same.
_HEADS_PER_RANK_STATED = re.compile(
    r"\b(?:heads?[-_ ]per[-_ ](?:tp[-_ ])?(?:rank|gpu|shard)|local[-_ ]heads)\s*[=:]\s*(\d+)", re.IGNORECASE)
_HEADS_STATED = re.compile(r"\b(?:num[-_ ]|n[-_])?heads?(?:\s+per\s+rank)?\s*[=:]\s*(\d+)", re.IGNORECASE)
_HEAD_SIZE_STATED = re.compile(r"\b(?:head[-_ ]?dim|d_k|dk|d_head|head[-_ ]size)\s*[=:]\s*(\d+)", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def top_k_in(text: str) -> int | None:
    """Top-k a text states: `Top-2`, `top_k=2`, `k=2`, `Select 2 experts per token`."""
    match = _TOP_K.search(text)
    return _bounded(next(group for group in match.groups() if group)) if match else None


_TOP_K_OF = re.compile(r"top[-_ ]?\d+\s+(?:of|from|among)\s+\d", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def expert_count_in(text: str) -> int | None:
    """The number of experts a text states (`num_experts=64`, `64 experts`, `Top-2 of 64`), never
    a top-k (`Select 2 experts per token`) or a count per GPU (`8 experts per GPU`)."""
    pieces, last = [], 0
    for match in _TOP_K.finditer(text):
        if _TOP_K_OF.match(text, match.start()):
            continue  # `Top-2 of 64`: the count follows
        pieces += [text[last:match.start()], " " * (match.end() - match.start())]
        last = match.end()
    masked = "".join([*pieces, text[last:]])
    count = _EXPERT_COUNT.search(masked)
    return _bounded(next(group for group in count.groups() if group)) if count else None
