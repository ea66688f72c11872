"""Operator names and kinds, and how a node's text names its operator.

The table is ordered from specific to general: "All-to-All Dispatch" is an all-to-all before it
is a dispatch, "Attention Output (Scores x V)" a weighted sum before it mentions scores.
"""

from __future__ import annotations

import functools
import re
from enum import Enum

from dagtui.model import templates


class Kind(str, Enum):
    """What a node does in the data flow, by convention of its DOT shape."""

    COMPUTE = "compute"
    COMMUNICATION = "communication"
    ROUTING = "routing"
    INPUT = "input"
    OUTPUT = "output"
    NOTE = "note"  # a legend, key or summary box: text for the reader, not an operator


class Op(str, Enum):
    """The operators of the conventions doc, plus whole blocks drawn as one box and `unknown`."""

    INPUT = "input"
    EMBEDDING = "embedding"
    NORM = "norm"
    Q_PROJ = "q_proj"
    K_PROJ = "k_proj"
    V_PROJ = "v_proj"
    QKV_PROJ = "qkv_proj"
    ATTN_SCORE = "attn_score"
    SOFTMAX = "softmax"
    ATTN_WEIGHTED_SUM = "attn_weighted_sum"
    ATTN_CORE = "attn_core"
    O_PROJ = "o_proj"
    ATTENTION = "attention"
    RESIDUAL_ADD = "residual_add"
    GATE = "gate"
    DISPATCH = "dispatch"
    EXPERT = "expert"
    COMBINE = "combine"
    MOE = "moe"
    MLP = "mlp"
    ALL_REDUCE = "all_reduce"
    ALL_GATHER = "all_gather"
    REDUCE_SCATTER = "reduce_scatter"
    ALL_TO_ALL = "all_to_all"
    SEND_RECV = "send_recv"
    FINAL_NORM = "final_norm"
    LM_HEAD = "lm_head"
    OUTPUT = "output"
    STAGE_MARKER = "stage_marker"
    SPLIT = "split"
    CONCAT = "concat"
    RESHAPE = "reshape"  # reshape, transpose, permute, split/merge heads: changes a shape by design
    ELEMENTWISE = "elementwise"  # scale, mask, dropout, rotary, q/k norm: passes a tensor through
    KV_CACHE = "kv_cache"
    PLACEHOLDER = "placeholder"
    LEGEND = "legend"
    UNKNOWN = "unknown"


COLLECTIVES = {Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER, Op.ALL_TO_ALL, Op.SEND_RECV}
ROUTING_OPS = {Op.GATE, Op.DISPATCH, Op.COMBINE, Op.STAGE_MARKER, Op.SPLIT, Op.CONCAT}
ATTENTION_OPS = {
    Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ, Op.QKV_PROJ, Op.ATTN_SCORE, Op.SOFTMAX,
    Op.ATTN_WEIGHTED_SUM, Op.ATTN_CORE, Op.O_PROJ, Op.ATTENTION,
}
# Nodes that are not operators of the model: the graph's ends, markers, placeholders and notes.
NOT_OPERATORS = frozenset({Op.INPUT, Op.OUTPUT, Op.STAGE_MARKER, Op.PLACEHOLDER, Op.LEGEND})
MOE_OPS = {Op.GATE, Op.DISPATCH, Op.EXPERT, Op.COMBINE, Op.MOE}
# Operators whose job is to change a tensor's shape: edges through them are not shape-checked.
SHAPE_CHANGING = COLLECTIVES | {
    Op.DISPATCH, Op.COMBINE, Op.GATE, Op.STAGE_MARKER, Op.INPUT, Op.OUTPUT, Op.SPLIT, Op.CONCAT, Op.PLACEHOLDER,
    Op.RESHAPE,
}
# Operators a tensor passes through on its way between two operators of attention (or of an
# expert): the data flow is read across them.
PASS_THROUGH = frozenset({Op.RESHAPE, Op.ELEMENTWISE, Op.SPLIT, Op.CONCAT, Op.KV_CACHE})

_RULES: list[tuple[Op, str]] = [
    # Terse abbreviations standing alone on a line (`SM`, `O`, `RTR`, `LMH`): whole-line matches only.
    (Op.INPUT, r"^\s*in\s*$"),
    (Op.OUTPUT, r"^\s*out\s*$"),
    (Op.SOFTMAX, r"^\s*sm\s*$"),
    (Op.O_PROJ, r"^\s*o\s*$"),
    (Op.GATE, r"^\s*rtr\s*$"),
    (Op.EMBEDDING, r"^\s*emb\s*$"),
    (Op.FINAL_NORM, r"^\s*ln[-_ ]?f\s*$"),
    (Op.LM_HEAD, r"^\s*lmh\s*$"),
    (Op.MLP, r"^\s*(?:up|act|dn|down)\s*$"),
    (Op.ALL_TO_ALL, r"all[-_ ]?to[-_ ]?all|all2all|\ba2a(?:\b|_)|alltoall"),  # `a2a_dispatch` too
    (Op.REDUCE_SCATTER, r"reduce[-_ ]?scatter"),
    (Op.ALL_REDUCE, r"all[-_ ]?reduce|\bar\b"),
    # "Data-parallel logits gather", "NCCL Gather logits"
    (Op.ALL_GATHER, r"all[-_ ]?gather|\bag\b|\blogits?\s+gather\b|\bgather\s+logits?\b|\bnccl\s+gather\b"),
    (Op.SEND_RECV, r"\bsend\b|\brecv\b|\breceive\b|\bp2p\b|\bbroadcast\b|gpus?\s*\d[\d\-–, ]*\s*(?:→|->|to)\s*gpus?\s*\d|^comm(?:unication)?\b|pp\s*\d+\s*(?:→|->|to)\s*pp\s*\d+|pipeline\s+(?:transfer|send|comm)|pipe(?:line)?_?(?:send|recv|receive)|send_?recv|stage\s*\d+\s*(?:→|->)\s*(?:stage\s*)?\d|\btransfer\b"),
    # A legend or summary box: its first line is the word alone, or the word and a colon ("Key Projection" is no key).
    (Op.LEGEND, r"^(?:legend|key|notes?|(?:deployment |architecture |model |parallel(?:ism)? )?summary|overview|statistics|stats"
                r"|description|(?:deployment |parallel(?:ism)? )?configuration|performance(?: metrics)?)\s*(?:[:(\-–]|$)"),
    # "Expert Parallelism" alone names a strategy (a concept box beside "Tensor Parallelism"), not a box of experts.
    (Op.LEGEND, r"^(?:expert|tensor|pipeline|data|sequence|context)[-_ ]parallelism\s*$"),
    # `Pipeline Stage 1`, `PP Stage 0 (Layers 0-3)`, `== Pipeline stage 1: layers 2-3 ==` (a banner's rules around it).
    (Op.STAGE_MARKER, r"^stage\s*\d+\s+(?:start|begin|entry)\b|^[=\-#*~ ]*(?:pp|pipeline)\s*stage\s*\d+(?:\s+(?:start|begin|entry|boundary))?\s*(?:$|[,(|=]|:\s*(?:$|(?:layers?|blocks?|gpus?|devices?)\b[\s\d,\-–]*(?:$|[,(|=])))|^pp\d+[_ ]?(?:start|begin)$"
                      r"|^(?:prefill|decode|generation)\s+(?:phase\s+)?(?:start|end|begin|boundary)$"),
    (Op.PLACEHOLDER, r"(?:similar|same|identical)\s+(?:[\w+/-]+\s+){0,2}(?:structure|patterns?|computation graph|graph|decomposition)\b"
                     r"|\btemplate\b|\brepeat(?:ed)?\b|\.\.\.|…|\bmore layers\b"),
    # A whole layer (or attention with more) drawn as one box: attention undecomposed.
    (Op.ATTENTION, r"^(?:layer\s*\d+\s*:?\s*)?(?:transformer|decoder|encoder|decode|prefill|dense)\s+(?:layer|block)\s*\d*\s*(?:\(.*\))?$"
                   r"|^layer\s*\d+\s*:\s*(?:final|full)\s*(?:layer)?$|^layer\s*\d+$|(?:attention|\bmha\b|\battn\b)\s*(?:\+|and|&)\s*(?!norm|residual|add\b)\w"),
    (Op.QKV_PROJ, r"qkv[-_ ]?(?:linear|proj)"),
    # Multi-head latent attention (DeepSeek): `kv_a_proj_with_mqa` projects to the shared K/V latent and
    # `kv_b_proj` up to the heads' K and V: one projection giving several of Q, K and V.
    (Op.QKV_PROJ, r"\bkv[-_ ]?(?:[ab][-_ ]?)?proj|\bwkv(?:[-_ ]?[ab])?\b"),
    # One output of a fused QKV's split ("split_qkv: V", "QKV split -> K"): that tensor, read as Q, K or V.
    (Op.Q_PROJ, r"split\w*\s*(?::|->|→|–|\()\s*(?:q|query)\)?\s*$"),
    (Op.K_PROJ, r"split\w*\s*(?::|->|→|–|\()\s*(?:k|key)\)?\s*$"),
    (Op.V_PROJ, r"split\w*\s*(?::|->|→|–|\()\s*(?:v|value)\)?\s*$"),  # "QKV Linear Split": the projection, its output split by head
    # A product with the cache (`scores = q @ k_cache^T`, `probs @ v_cache`) is attention, not the cache.
    (Op.KV_CACHE, r"^(?!.*(?:@|\bscores?\b|\bprobs?\b|softmax)).*(?:kv[-_ ]?cache|\b[kv][-_ ]cache\b|\bkv[-_ ]?(?:read|write|store|load)|^[kv][-_ ](?:read|write|store|load|append)\b)"),
    (Op.RESHAPE, r"^(?!.*(?:score|\bqk\b|qk\^?t|dot[-_ ]?product|softmax|\b(?:mat|b)mm?u?l?\s*\(|weighted[-_ ]?sum|\bp\s*[x×*@·]\s*v\b))"
                 r".*(?:reshape|transpose|permute|\bview\b|"
                 r"(?:merge|split|concat)[-_ ]?heads|flatten|\brepeat[-_ ]?kv)"),
    # (`K Proj + RoPE`: a projection with the rotary folded in is the projection)
    (Op.ELEMENTWISE, r"^(?!.*(?:score|\bqk\b|qk\^?t|dot[-_ ]?product|softmax|\b[qkv][-_ ]?proj|projection)).*(?:\bscale\b|\bscaling\b|\bmask(?:ing)?\b|"
                     r"dropout|rotary|\brope\b|\b[qk][-_ ]?norm\b|\bqk[-_ ]?norm\b)"),
    # "Attention Start (Layer 0)" before the QKV projection marks where a block begins: it passes the tensor on.
    (Op.ELEMENTWISE, r"^(?:attention|attn|mha|moe|mlp|ffn)\s+(?:start|begin|entry)\b"),
    # "Attention weighted sum P·V, merge heads": the product with V, whatever it does to the heads after
    (Op.ATTN_WEIGHTED_SUM, r"(?:attention|attn)[-_ ]?weighted[-_ ]?sum|\bp\s*[x×*@·]\s*v\b"
                           r"|\b(?:probs?|probabilities|scores?|weights?)\s+times\s+v\b"),  # "probabilities times V"
    (Op.SOFTMAX, r"\battention\s+probabilit(?:y|ies)\s*$"),  # "Layer 0 attention probabilities"
    (Op.O_PROJ, r"concat\w*\s*(?:&|and|\+)\s*(?:linear|proj|dense)"),  # "MHA Concat & Linear"
    (Op.CONCAT, r"^(?:merge|concat\w*)\b"),  # "Merge Embeddings" merges; it embeds nothing
    (Op.EMBEDDING, r"embed"),
    (Op.LM_HEAD, r"lm[-_ ]?head|\bvocab|logits|unembed"),
    (Op.FINAL_NORM, r"final[-_ ]?(?:layer[-_ ]?|rms[-_ ]?)?norm|norm[-_ ]?f\b|\bfinal[-_ ]?ln\b|\bln[-_]f(?:inal)?\b"),
    # An MLP's gate (SwiGLU's gate projection, `SiLU(Gate) ⊙ Up`, its weight `W_gate`) is no router; an expert's
    # stays an expert. `W_up`, `W_down`, `w1`..`w3` name the MLP's matrices.
    (Op.MLP, r"^(?!.*(?:expert|\bexp\d*\b|router|routing|moe)).*(?:\bsilu\b|swiglu|geglu|\bgelu\b|"
             r"\bgate[-_ ]?(?:proj(?:ection)?|linear)\b|\bgate[-_ ]?(?:and|&|/|\+)[-_ ]?up\b|\bw[-_]?(?:gate|up|down)\b|\bw\d\b)"),
    (Op.GATE, r"(?<![a-z])gate(?![a-z])|(?<![a-z])gating(?![a-z])|router|\brouting\b|\broute\d*\b|top-?\d+\s*(?:expert)?\s*select|expert[-_ ]?select|\btop[-_ ]?k\b|\btopk\b"
              r"|token[-_ ]?distributor"),
    (Op.DISPATCH, r"dispatch|token[-_ ]?split|split[-_ ]?tokens|scatter[-_ ]?tokens|route\s+to|\bpack\b"),
    (Op.COMBINE, r"combin(?:e|ation)|aggregat|\bexperts?[-_ ]?(?:sum|merge)\b|\bexperts?[-_ ]mix(?:ing)?\b|\bsum\s*\(\s*(?:weights?|gates?|probs?|scores?)\s*[*×·]|\bmoe[-_ ]?(?:reduce|sum|add|merge)\b|\bsum[-_]k\b|\bagg\d*\b|\bunpack\b|gather[-_ ]?(?:expert|outputs)|expert[-_ ]?return|\breturn\b"),
    (Op.SPLIT, r"\bsplit(?:\b|_)|\bscatter\b|\bpartition\b"),
    (Op.CONCAT, r"concat|\bmerge\b|gather results|\bgather\b"),
    (Op.ATTN_WEIGHTED_SUM, r"weighted[-_ ]?sum|(?:scores?|probs?)\s*[x×*@·]\s*v(?:[-_ ]?cache)?\b|\b(?:probs?|p|scores?|attn|weights?)\s*,\s*v\b|\bp\s*[x×*@·]\s*v\b|\bcontext\b|attn[-_ ]?out(?:put)?\b(?![-_ ]*proj)|attention[-_ ]?out(?:put)?\b(?![-_ ]*proj)|\b(?:sv|pv|av)\b"),
    (Op.SOFTMAX, r"softmax"),
    (Op.ATTN_SCORE, r"score|\bqk\^?t\b|q\s*[x×*@·]\s*k|\bqk\b|k\s*\^\s*t\b|kᵀ|\bk\.t\b|\bq\s*,\s*k\b(?!\s*[,/]\s*v\b)|\bbaddbmm\b"),  # `baddbmm(Q,K^T)`, `matmul(q, k.T)`
    (Op.ATTN_CORE, r"dot[-_ ]?product|flash[-_ ]?attn|flash[-_ ]?attention|\bsdpa\b|attention\s*(?:computation|compute|kernel|core)"),
    (Op.QKV_PROJ, r"qkv|\bq\s*[/,]\s*k\s*[/,]\s*v\b"),
    (Op.Q_PROJ, r"\bq[-_ ]?(?:proj|projection|linear)|\blinear[-_]q\b|\bquery\b|\bq\b|(?:attn|wq)[-_]q\b|\bw[-_]?q\b"),
    (Op.K_PROJ, r"\bk[-_ ]?(?:proj|projection|linear)|\blinear[-_]k\b|\bkey\b|\bk\b|(?:attn|wk)[-_]k\b|\bw[-_]?k\b"),
    (Op.V_PROJ, r"\bv[-_ ]?(?:proj|projection|linear)|\blinear[-_]v\b|\bvalue\b|\bv\b|(?:attn|wv)[-_]v\b|\bw[-_]?v\b"),
    (Op.O_PROJ, r"\bo[-_ ]?proj|\blinear[-_]o\b|\bo[-_]linear\b|out[-_ ]?proj|output[-_ ]?proj|\bdense\b|attn[-_ ]?proj|\bw[-_]?o\b"),
    (Op.FINAL_NORM, r"^norm$"),
    (Op.NORM, r"norm|\bln\d*\b|\brms\b"),
    (Op.RESIDUAL_ADD, r"residual|\bresid\b|\badd\b|\bres(?:id)?[-_ ]?add|\b(?:attn|attention|ffn|mlp|moe)[-_ ]res\b|(?:^|\s)[+⊕](?:\s|$)|skip[-_ ]?connection"),
    # A shared expert (DeepSeek's, Qwen's) is a dense FFN every token goes through: no gate, no
    # all-to-all. "16 Shared Experts" (a count) is the MoE drawn as one box, shared across GPUs.
    (Op.MLP, r"^(?!.*(?<!layer )(?<!block )(?<!stage )\b\d+\s+shared[-_ ]?experts\b)(?!.*\bnon[-_ ]?shared).*\bshared[-_ ]?experts?\b"),
    # The MoE as one box: "Expert Parallel", "Mixture of Experts", "Layer 5 (64 Experts)" (a count of experts).
    (Op.MOE, r"^(?!.*experts?\s*\d).*expert[-_ ]?parallel(?:ism)?\b|mixture[-_ ]of[-_ ]experts"
             r"|(?<!layer )(?<!block )(?<!stage )\b\d+\s+(?:routed\s+)?experts\b(?!\s*\d)"),  # not `Layer 0 Experts 4-7`
    (Op.EXPERT, r"expert|\bexp\d*\b|^e\d+$|\b(?:ffn|mlp)\d+\s*\("),  # `E3` alone: expert 3 (terse styles); `FFN5(D5)`
    (Op.MOE, r"\bmoe\d*\b|mixture"),
    (Op.MLP, r"mlp|ffn|feed[-_ ]?forward|up[-_ ]?proj|down[-_ ]?proj|gelu|silu|swiglu|relu|activation|\bfc\d*\b|linear"),
    (Op.ATTENTION, r"attention|\bmha\b|\battn\b|self[-_ ]?attn|\bgqa\b|\bmqa\b|\bmla\b"),
    (Op.INPUT, r"^(?:model\s+|total\s+|global\s+)?input\b|^requests?\b|^(?:input\s+)?tokens?(?:\s+ids?)?$"),
    (Op.OUTPUT, r"^(?:model\s+|final\s+)?output\b|^result\b"),
]
RULES = [(op, re.compile(pattern, re.IGNORECASE)) for op, pattern in _RULES]

SHAPE_KINDS = {
    "ellipse": Kind.COMMUNICATION, "oval": Kind.COMMUNICATION, "circle": Kind.COMMUNICATION,
    "doublecircle": Kind.COMMUNICATION,
    "box": Kind.COMPUTE, "rect": Kind.COMPUTE, "rectangle": Kind.COMPUTE, "square": Kind.COMPUTE,
    "box3d": Kind.COMPUTE, "component": Kind.COMPUTE,
    "parallelogram": Kind.ROUTING,
}


# Classified once per template (see `templates`): ids and label lines that differ only in their
# numbers give the operator their template gives. The table's patterns treat every digit alike
# but the 2 of `all2all` and `a2a`, which templates keep.


@functools.lru_cache(maxsize=65536)
def operator_from_text(text: str) -> Op:
    """The first operator the table finds in `text` (a label line or an id made readable)."""
    return _operator_of_template(templates.template(text))


# The down half of a low-rank projection (MLA's `q_a_proj`, `kv_a_proj_with_mqa`, `wq_a`): a latent
# replicated on every rank; the up half (`q_b_proj`) after it completes the projection.
_LOW_RANK_DOWN = re.compile(r"(?:^|[^a-z])(?:q|kv|wq|wkv)[-_ ]?a(?:[-_ ]?proj|\b)|lora", re.IGNORECASE)


def low_rank_down(title: str) -> bool:
    """Whether a projection's name says it is the down half of a low-rank pair (see `_LOW_RANK_DOWN`)."""
    return _LOW_RANK_DOWN.search(title) is not None


def operator_from_id(node_id: str) -> Op:
    """The operator a node's id names (`layer0_attn_q_tp2`: a Q projection); a hashed id (`v_7f3a`,
    `n_3fa2c1`) names none, whatever letter it starts with."""
    if _HASHED_ID.fullmatch(node_id):
        return Op.UNKNOWN
    return _operator_of_id_template(templates.template(node_id))


_HASHED_ID = re.compile(r"[A-Za-z]{1,2}[_-]?(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{4,}")


@functools.lru_cache(maxsize=16384)
def _operator_of_id_template(masked_id: str) -> Op:
    return _operator_of_template(readable_id(masked_id))  # readable_id leaves digits alone


@functools.lru_cache(maxsize=16384)
def _operator_of_template(masked: str) -> Op:
    op = _first_rule(masked)
    if op is Op.UNKNOWN and "_" in masked:
        op = _first_rule(masked.replace("_", " "))  # `qk_matmul`, `pv_matmul`: snake-case words
    return op


def _first_rule(text: str) -> Op:
    for op, pattern in RULES:
        if pattern.search(text):
            return op
    return Op.UNKNOWN


_ID_SEPARATORS = re.compile(r"[_.:]+")
_CAMEL_CASE = re.compile(r"(?<=[a-z])(?=[A-Z])")


def readable_id(node_id: str) -> str:
    """`layer0_attn_q_tp2` -> `layer0 attn q tp2`, `L3_TP2_QPROJ` -> `L3 TP2 QPROJ`, so word rules apply."""
    return _CAMEL_CASE.sub(" ", _ID_SEPARATORS.sub(" ", node_id))


# Shapes Graphviz draws as bare text: a node drawn so is a note unless its label names an operator.
TEXT_SHAPES = frozenset({"plaintext", "plain", "none", "note"})


def kind_for(op: Op, shape: str | None) -> Kind:
    """The node's kind: sources, sinks and notes by role, then by DOT shape, then by operator."""
    if op is Op.INPUT:
        return Kind.INPUT
    if op is Op.OUTPUT:
        return Kind.OUTPUT
    if op is Op.LEGEND:
        return Kind.NOTE
    by_shape = SHAPE_KINDS.get((shape or "").lower())
    if by_shape is not None:
        return by_shape
    if op in COLLECTIVES:
        return Kind.COMMUNICATION
    if op in ROUTING_OPS:
        return Kind.ROUTING
    return Kind.COMPUTE
