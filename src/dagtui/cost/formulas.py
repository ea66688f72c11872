"""The cost model's formulas, as pure functions of integers: parameters, KV cache, activations,
FLOPs, communication bytes, pipeline bubble and roofline time. `docs/cost-model.md` gives each
one with its source and a worked example; the section named in a docstring is where.

Notation (as in the doc): L layers, h hidden size, a heads, k KV heads, d head size, f dense MLP
size, f_e expert MLP size, E experts, K top-k, S shared experts, V vocabulary, g matrices per MLP
(3 gated, 2 not); degrees EP, t (TP), p (PP); b sequences per DP replica, s prompt length, n
decode tokens, m micro-batches. Sizes are in elements unless a name ends in `_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class ModelDims:
    """A model spec with every default resolved (see `estimate.resolve`)."""

    layers: int
    dense_layers: int  # layers with a dense MLP: all of them in a model without experts
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    experts: int  # 0: a dense model
    top_k: int
    shared_experts: int
    moe_ffn: int
    vocab: int  # 0: unknown, the embedding and LM head are not counted
    tied: bool
    matrices: int  # 3 for a gated MLP (SwiGLU), else 2
    dtype: str  # of the weights and the compute
    weight_bytes: int
    kv_bytes: int
    act_bytes: int

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers


@dataclass(frozen=True)
class Degrees:
    ep: int
    tp: int
    pp: int
    dp: int


@dataclass(frozen=True)
class Workload:
    batch: int  # sequences in flight in one DP replica
    seq_len: int
    decode_tokens: int
    micro_batches: int


@dataclass(frozen=True)
class StageShape:
    """What one pipeline stage holds: its dense and MoE layers, and the ends of the model."""

    dense: int
    moe: int
    first: bool
    last: bool

    @property
    def layers(self) -> int:
        return self.dense + self.moe


# -- parameters (doc: "Parameters") ------------------------------------------------------------
def attention_params(m: ModelDims) -> int:
    """W_Q, W_K, W_V, W_O of one layer: h·d·(2a + 2k); no biases."""
    return m.hidden * m.head_dim * (2 * m.heads + 2 * m.kv_heads)


def mlp_params(m: ModelDims) -> int:
    """One dense MLP: g·h·f."""
    return m.matrices * m.hidden * m.ffn


def expert_params(m: ModelDims) -> int:
    """One expert (routed or shared): g·h·f_e."""
    return m.matrices * m.hidden * m.moe_ffn


def router_params(m: ModelDims) -> int:
    """The gate of one MoE layer: h·E."""
    return m.hidden * m.experts


def embedding_params(m: ModelDims) -> int:
    """Embedding and LM head: V·h each, once when tied."""
    return m.vocab * m.hidden * (1 if m.tied else 2)


def params_total(m: ModelDims) -> int:
    """L·(attention + 2h norms) + dense MLPs + MoE layers (E + S experts and the router) +
    embedding and LM head + the final norm."""
    moe = (m.experts + m.shared_experts) * expert_params(m) + router_params(m)
    return (m.layers * (attention_params(m) + 2 * m.hidden) + m.dense_layers * mlp_params(m)
            + m.moe_layers * moe + embedding_params(m) + m.hidden)


def params_active(m: ModelDims) -> int:
    """As `params_total` with only the K routed (and S shared) experts a token passes through."""
    moe = (m.top_k + m.shared_experts) * expert_params(m) + router_params(m)
    return (m.layers * (attention_params(m) + 2 * m.hidden) + m.dense_layers * mlp_params(m)
            + m.moe_layers * moe + embedding_params(m) + m.hidden)


# -- per GPU (doc: "Weights per GPU") ----------------------------------------------------------
def heads_per_rank(m: ModelDims, tp: int) -> tuple[int, int]:
    """(query heads, KV heads) a TP rank holds: ⌈a/t⌉ and ⌈k/t⌉ (KV heads are replicated when
    t > k, as Megatron and vLLM do)."""
    return ceil_div(m.heads, tp), ceil_div(m.kv_heads, tp)


def stage_weight_params(m: ModelDims, deg: Degrees, stage: StageShape) -> dict[str, int]:
    """Parameters one GPU of a stage holds, by part: attention and dense MLP (and shared experts)
    split over TP; ⌈E/EP⌉ experts per EP rank, each split over the TP ranks of its EP rank (expert
    tensor parallelism = TP, Megatron-Core's default); the vocabulary-parallel embedding and LM head
    split over TP; norms and router replicated."""
    a_t, k_t = heads_per_rank(m, deg.tp)
    h, g = m.hidden, m.matrices
    vocab_shard = ceil_div(m.vocab, deg.tp) * h
    head_copy = stage.last and (not m.tied or deg.pp > 1)  # a tied head shares the embedding on one stage only
    return {
        "attention": stage.layers * h * m.head_dim * (2 * a_t + 2 * k_t),
        "mlp": stage.dense * g * h * ceil_div(m.ffn, deg.tp) + stage.moe * m.shared_experts * g * h * ceil_div(m.moe_ffn, deg.tp),
        "experts": stage.moe * ceil_div(m.experts, deg.ep) * g * h * ceil_div(m.moe_ffn, deg.tp),
        "embedding": (vocab_shard if stage.first else 0) + (vocab_shard if head_copy else 0),
        "other": stage.layers * 2 * h + (h if stage.last else 0) + stage.moe * router_params(m),
    }


# -- tokens (doc: "Workload") ------------------------------------------------------------------
def sequences_per_group(deg: Degrees, w: Workload) -> int:
    """Sequences one attention group (the TP group of one EP rank) runs per micro-batch:
    ⌈b / (EP·m)⌉. The EP ranks of a stage each run attention on their own share of the batch."""
    return ceil_div(w.batch, deg.ep * w.micro_batches)


def dispatched_tokens(m: ModelDims, deg: Degrees, tokens: int) -> int:
    """Routed token copies one GPU sends to the all-to-all when its group holds `tokens`: ⌈K·T/t⌉
    (the group's tokens are replicated over its TP ranks; each dispatches 1/t of them)."""
    return ceil_div(m.top_k * tokens, deg.tp)


def expert_tokens(m: ModelDims, tokens: int) -> int:
    """Routed token copies the experts of one EP rank process when each group holds `tokens`: K·T
    (balanced routing: the stage's EP·T tokens make K·EP·T copies, K·T per EP rank). Every TP rank
    of the EP rank sees all of them (gathered over TP) through its 1/t slice of the weights."""
    return m.top_k * tokens


# -- KV cache (doc: "KV cache") ----------------------------------------------------------------
def kv_bytes_per_token(m: ModelDims) -> int:
    """2 (K and V) · L · k · d · bytes."""
    return 2 * m.layers * m.kv_heads * m.head_dim * m.kv_bytes


def stage_kv_bytes(m: ModelDims, deg: Degrees, w: Workload, stage: StageShape) -> int:
    """The KV cache one GPU holds at the end of decoding: every sequence of its group (m
    micro-batches) at s + n tokens, for the stage's layers and the GPU's ⌈k/t⌉ KV heads."""
    _, k_t = heads_per_rank(m, deg.tp)
    sequences = sequences_per_group(deg, w) * w.micro_batches
    return sequences * (w.seq_len + w.decode_tokens) * stage.layers * 2 * k_t * m.head_dim * m.kv_bytes


# -- activations (doc: "Activations") ----------------------------------------------------------
def layer_activations(m: ModelDims, deg: Degrees, tokens: int, moe: bool) -> int:
    """Elements one layer's forward pass holds on one GPU for `tokens` tokens of its group
    (Korthikanti et al. 2022, Table 2, without dropout and without the s² score matrix, which
    FlashAttention never stores)."""
    a_t, k_t = heads_per_rank(m, deg.tp)
    h, g = m.hidden, m.matrices
    attention = tokens * (2 * h + 2 * a_t * m.head_dim + 2 * k_t * m.head_dim)
    if not moe:
        return attention + tokens * (2 * h + g * ceil_div(m.ffn, deg.tp))
    routed = expert_tokens(m, tokens) * (2 * h + g * ceil_div(m.moe_ffn, deg.tp))
    shared = m.shared_experts * tokens * g * ceil_div(m.moe_ffn, deg.tp)
    return attention + tokens * (2 * h + m.experts) + routed + shared


def stage_activation_bytes(m: ModelDims, deg: Degrees, w: Workload, stage: StageShape) -> int:
    """Peak activation bytes of one micro-batch's prefill on one GPU: the largest layer the stage holds."""
    tokens = sequences_per_group(deg, w) * w.seq_len
    kinds = [moe for moe, count in ((False, stage.dense), (True, stage.moe)) if count]
    return max((layer_activations(m, deg, tokens, moe) for moe in kinds), default=0) * m.act_bytes


# -- FLOPs (doc: "FLOPs") ----------------------------------------------------------------------
def layer_flops(m: ModelDims, deg: Degrees, sequences: int, queries: int, context: int, moe: bool) -> int:
    """FLOPs of one layer on one GPU for `sequences` sequences of `queries` new tokens each,
    attending to `context` tokens: 2 per multiply-add of every matrix product (Narayanan et al.
    2021: the projections, QKᵀ and scores·V in full, the MLP or the K routed experts per token)."""
    a_t, k_t = heads_per_rank(m, deg.tp)
    h, g, d = m.hidden, m.matrices, m.head_dim
    tokens = sequences * queries
    flops = 2 * tokens * h * d * (2 * a_t + 2 * k_t) + 4 * sequences * queries * context * a_t * d
    if not moe:
        return flops + 2 * tokens * g * h * ceil_div(m.ffn, deg.tp)
    flops += 2 * tokens * router_params(m)
    flops += 2 * expert_tokens(m, tokens) * g * h * ceil_div(m.moe_ffn, deg.tp)
    return flops + 2 * tokens * m.shared_experts * g * h * ceil_div(m.moe_ffn, deg.tp)


def lm_head_flops(m: ModelDims, deg: Degrees, sequences: int) -> int:
    """Logits of the last position of each sequence: 2·h·⌈V/t⌉ per sequence."""
    return 2 * sequences * m.hidden * ceil_div(m.vocab, deg.tp)


def stage_flops(m: ModelDims, deg: Degrees, w: Workload, stage: StageShape, decode: bool) -> int:
    """FLOPs one GPU of a stage does for one micro-batch: the prefill (s queries over s tokens)
    or one decode step (1 query over s + n tokens, the last and most expensive step)."""
    sequences = sequences_per_group(deg, w)
    queries, context = (1, w.seq_len + w.decode_tokens) if decode else (w.seq_len, w.seq_len)
    flops = stage.dense * layer_flops(m, deg, sequences, queries, context, False)
    flops += stage.moe * layer_flops(m, deg, sequences, queries, context, True)
    return flops + (lm_head_flops(m, deg, sequences) if stage.last else 0)


# -- communication (doc: "Communication") ------------------------------------------------------
def ring_all_reduce(message: int, group: int) -> int:
    """Bytes a GPU sends in a ring all-reduce of `message` bytes: 2(t−1)/t·message, rounded up."""
    return ceil_div(2 * (group - 1) * message, group) if group > 1 else 0


def ring_all_gather(message: int, group: int) -> int:
    """Bytes a GPU sends in a ring all-gather (or reduce-scatter) of a `message`-byte result: (t−1)/t·message."""
    return ceil_div((group - 1) * message, group) if group > 1 else 0


def all_to_all(sent: int, group: int) -> int:
    """Bytes of `sent` that leave the GPU's EP rank in an all-to-all: (EP−1)/EP of them (balanced routing)."""
    return ceil_div((group - 1) * sent, group) if group > 1 else 0


COLLECTIVE_AXIS = {
    "tp_all_reduce_attention": "tp", "tp_all_reduce_mlp": "tp", "tp_moe_output": "tp",
    "ep_dispatch": "ep", "tp_expert_all_gather": "tp", "tp_expert_reduce_scatter": "tp", "ep_combine": "ep",
    "pp_send": "pp", "tp_lm_head_all_gather": "tp",
}


def layer_comm(m: ModelDims, deg: Degrees, w: Workload, moe: bool, decode: bool) -> dict[str, int]:
    """Bytes one GPU sends for one layer and one micro-batch, by collective: the TP all-reduce
    after attention and after a dense MLP. In an MoE block (Megatron-Core's all-to-all dispatcher
    with expert tensor parallelism): each TP rank dispatches 1/t of the routed copies over EP; the
    copies an EP rank receives are all-gathered over its TP ranks before the experts and
    reduce-scattered after them; the all-to-all combine returns them; the block's output is
    all-gathered over TP (all-reduced when shared experts leave partial sums over all tokens)."""
    tokens = sequences_per_group(deg, w) * (1 if decode else w.seq_len)
    message = tokens * m.hidden * m.act_bytes
    comm = dict.fromkeys(COLLECTIVE_AXIS, 0)
    comm["tp_all_reduce_attention"] = ring_all_reduce(message, deg.tp)
    if not moe:
        comm["tp_all_reduce_mlp"] = ring_all_reduce(message, deg.tp)
        return comm
    sent = dispatched_tokens(m, deg, tokens) * m.hidden * m.act_bytes
    received = expert_tokens(m, tokens) * m.hidden * m.act_bytes
    comm["ep_dispatch"] = comm["ep_combine"] = all_to_all(sent, deg.ep)
    comm["tp_expert_all_gather"] = comm["tp_expert_reduce_scatter"] = ring_all_gather(received, deg.tp)
    comm["tp_moe_output"] = ring_all_reduce(message, deg.tp) if m.shared_experts else ring_all_gather(message, deg.tp)
    return comm


def stage_comm(m: ModelDims, deg: Degrees, w: Workload, stage: StageShape, decode: bool) -> dict[str, int]:
    """Bytes one GPU of a stage sends per micro-batch, by collective: its layers' (`layer_comm`),
    the PP send of the stage's output (1/t of it per TP rank, Narayanan et al. 2021's
    scatter/gather), and on the last stage the all-gather of the vocabulary-parallel logits of the
    last positions."""
    sequences = sequences_per_group(deg, w)
    dense, moe = layer_comm(m, deg, w, False, decode), layer_comm(m, deg, w, True, decode)
    comm = {name: stage.dense * dense[name] + stage.moe * moe[name] for name in COLLECTIVE_AXIS}
    message = sequences * (1 if decode else w.seq_len) * m.hidden * m.act_bytes
    comm["pp_send"] = 0 if stage.last else ceil_div(message, deg.tp)
    comm["tp_lm_head_all_gather"] = ring_all_gather(sequences * m.vocab * m.act_bytes, deg.tp) if stage.last else 0
    return comm


# -- pipeline and time (doc: "Pipeline bubble", "Roofline") ------------------------------------
def bubble(pp: int, micro_batches: int) -> float:
    """Idle fraction of a pipeline flush: (p−1)/(m+p−1) (Narayanan et al. 2021, GPipe schedule)."""
    return (pp - 1) / (micro_batches + pp - 1)


def roofline_seconds(flops: int, hbm_bytes: int, peak: float, bandwidth: float) -> float:
    """max(FLOPs / peak, bytes / bandwidth): the slower of computing and reading memory."""
    return max(flops / peak, hbm_bytes / bandwidth)


def stage_kv_traffic(m: ModelDims, deg: Degrees, w: Workload, stage: StageShape, decode: bool) -> int:
    """KV-cache bytes one micro-batch moves on one GPU: the prefill writes s tokens per sequence,
    a decode step reads s + n."""
    _, k_t = heads_per_rank(m, deg.tp)
    tokens = w.seq_len + w.decode_tokens if decode else w.seq_len
    return sequences_per_group(deg, w) * tokens * stage.layers * 2 * k_t * m.head_dim * m.kv_bytes
