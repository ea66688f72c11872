"""One node of a deployment, as the validator and the TUI see it, and how its label is read."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field

from dagtui.dot.labels import RECORD_SHAPES, label_lines, record_label_lines
from dagtui.dot.raw import RawNode
from dagtui.model.declared import line_degrees
from dagtui.model.gpus import Placement, inline_placement, parse_placement, parse_ranks, without_parenthesised
from dagtui.model.operators import (
    COLLECTIVES,
    NOT_OPERATORS,
    TEXT_SHAPES,
    Kind,
    Op,
    kind_for,
    operator_from_id,
    operator_from_text,
)
from dagtui.model.roles import expert_in, layer_in
from dagtui.model.shapes import Shape, parse_shapes
from dagtui.model.strategy import parse_degrees

_KEYED_LINE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*[:=]\s*(.*)$")
_ATTENTION_INPUT_KEYS = {"q", "k", "v", "kv", "qkv", "query", "key", "value", "scores", "probs"}
_TENSOR_KEYS = {"size", "tensor", "shape", "data", "dims", "dimensions", "activation", "activations"}
_PLACEMENT_KEYS = {
    "gpu", "gpus", "device", "devices", "placement", "gpu ids", "gpu_ids", "gpu id", "gpu_id", "device ids",
    "device_ids", "rank", "ranks", "location", "on", "placed on", "runs on", "gpu range", "gpus range",
    "device range", "gpu list", "gpu set", "gpu assignment", "dev", "devs",
}
_GROUP_KEYS = {"tp group", "ep group", "dp group", "pp group", "group", "sp group"}
# At most 7 digits: an id is not shortened like a label, and no rank or GPU needs more.
_ID_GPU = re.compile(r"(?:^|_)(?:gpu|device|dev)_?(\d{1,7})(?=_|$)", re.IGNORECASE)
# `layer0_tp3`, `L3_TP3_QPROJ`, and key=value ranks in a module path's brackets (`q_proj[ep=0,tp=1]`).
_ID_RANK = re.compile(r"(?:^|[_-]|(?<=[\[,.]))(ep|tp|pp|dp)(?:_?|\s*=\s*)(\d{1,7})(?=[-_\],.]|$)", re.IGNORECASE)  # `x_tp0`, `x-tp0`


@dataclass(slots=True)
class NodeInfo:
    """Everything dagtui knows about one node, with where each fact came from when that matters."""

    id: str
    label: list[str]
    shape: str | None
    kind: Kind
    op: Op
    op_source: str  # "label", "id", "label-detail" or "none": how sure the classifier is
    layer: int | None = None
    stage: int | None = None
    expert: int | None = None
    ranks: dict[str, frozenset[int]] = field(default_factory=dict)
    placement: Placement | None = None
    placed_by_cluster: bool = False  # the placement is the GPUs its cluster's label names, not a line of its own
    shapes_from_edges: bool = False  # the shapes are those its edges' labels carry, not lines of its own
    group: dict[str, frozenset[int]] = field(default_factory=dict)
    inputs: list[Shape] = field(default_factory=list)
    outputs: list[Shape] = field(default_factory=list)
    bare_shapes: list[Shape] = field(default_factory=list)
    line: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    clusters: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> frozenset[int]:
        return self.placement.gpus if self.placement else frozenset()

    @property
    def output(self) -> Shape | None:
        return self.outputs[0] if self.outputs else None

    @property
    def labelled(self) -> bool:
        """Whether the file gives the node a label of its own (Graphviz's default `\\N` repeats the id)."""
        return bool(self.label) and self.label != [self.id]

    @property
    def title(self) -> str:
        return self.label[0] if self.label else self.id

    @property
    def phase(self) -> str:
        """`prefill` or `decode` when the node's label or clusters say which phase it runs in."""
        text = " ".join([*self.label[:3], *self.clusters]).lower()
        return "prefill" if "prefill" in text else "decode" if "decode" in text else ""

    @property
    def is_communication(self) -> bool:
        return self.kind is Kind.COMMUNICATION or self.op in _COMMUNICATION_OPS

    def rank(self, axis: str) -> frozenset[int]:
        return self.ranks.get(axis, frozenset())


_COMMUNICATION_OPS = frozenset({Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER, Op.ALL_TO_ALL, Op.SEND_RECV})


def classify_operator(node_id: str, lines: list[str]) -> tuple[Op, str]:
    """The operator and how it was found: first label line (unless it only states a shape or a
    placement), then the id, then other label lines."""
    if len(lines) > 1 and _LAYER_ONLY.match(lines[0]):
        # "Layer 1\nInput Layer Norm": the first line only numbers the layer; the lines after it are
        # read as a label of their own ("Layer 1\nAttention\nAggregation": the attention's aggregation).
        for index, line in enumerate(lines[1:], start=1):
            if not _states_facts(line) and operator_from_text(line) is not Op.UNKNOWN:
                if operator_from_text(line) in (Op.INPUT, Op.OUTPUT):
                    return Op.UNKNOWN, "none"  # "Layer 3\nInput": where one layer starts, not the model's input
                op, _ = classify_operator(node_id, lines[index:])
                return op, "label"
    if lines and not _states_facts(lines[0]):
        op = _first_line_operator(lines[0])
        if op is Op.RESIDUAL_ADD and _PLUS_ONLY.search(lines[0]) and len(lines) > 1 and not _states_facts(lines[1]):
            # "Token + Position\nEmbedding": a name wrapped over two lines, whose `+` joins words, not tensors.
            joined = operator_from_text(f"{lines[0]} {lines[1]}")
            op = joined if joined is not Op.UNKNOWN else op
        if op is Op.RESIDUAL_ADD and _PLUS_ONLY.search(lines[0]) and _SLICING.match(lines[0]):
            return Op.UNKNOWN, "none"  # "Slice Batch (DP) + Sequence (CP)": one cut along two axes, no add
        if op is Op.RESIDUAL_ADD and _PLUS_ACTIVATION.search(lines[0]) and _PLUS_ONLY.search(lines[0]):
            # "expert_up w1,w3 + silu": the `+` joins an FFN's matrices and its activation, no tensors
            fused = operator_from_text(lines[0].replace("+", " "))
            op = fused if fused in (Op.EXPERT, Op.MLP) else op
        if op in _BOXES and any(operator_from_text(line) is Op.PLACEHOLDER for line in lines[1:]):
            return Op.PLACEHOLDER, "label-detail"  # "Layer 1\nSame structure as Layer 0": stands for a layer
        if op in (Op.ATTENTION, Op.MOE, Op.EXPERT):
            # "Layer0 Attention\nAll-Reduce Sum", "Layer1 MoE\nOutput Aggregation": the first line names
            # the block, the next the part of it this node is.
            # attention's "All heads combined" merges heads; "Expert\nAggregate_0" is the experts' combine,
            # "Expert Result\nGPU 1 → GPU 0" (no expert number) their transfer
            expert_parts = _MOE_PARTS if expert_in(lines[0]) is None else _ROUTING_PARTS
            parts = {Op.MOE: _MOE_PARTS, Op.EXPERT: expert_parts}.get(op, COLLECTIVES)
            # (a line that says the collective is fused into the node, `tp=2 shards, all-reduce fused`, names no part)
            named = [later for line in lines[1:3] if not _states_facts(line) and not _FUSED.search(line)
                     and (later := operator_from_text(line)) in parts]
            if op is Op.ATTENTION and any(_AGGREGATION.match(line) for line in lines[1:3]):
                named.append(Op.COMBINE)  # "Attention\nAggregation": where the ranks' outputs meet, no attention
            part = next((later for later in named if later in COLLECTIVES), named[0] if named else None)
            if part is not None:
                return part, "label"
        if op is Op.EXPERT and _ATTENTION_WORDS.search(lines[0]):
            # "Expert 0 Attention (TP)": attention drawn inside an expert is attention (wrongly placed), no expert FFN.
            op = operator_from_text(_EXPERT_WORDS.sub(" ", lines[0]))
        if op is Op.O_PROJ and _FFN_WORDS.search(lines[0]):
            op = Op.MLP  # "MoE Output Projection", "Expert Output Proj": the FFN's projection, not attention's
        if op is not Op.UNKNOWN:
            return op, "label"
    op = operator_from_id(node_id)
    if op is not Op.UNKNOWN:
        return op, "id"
    if any(_Q_INPUT.match(line) for line in lines) and any(_KV_INPUT.match(line) for line in lines):
        return Op.ATTN_CORE, "label-detail"  # takes `Q: [..]` and `K,V: [..]`: attends, projects nothing
    for line in lines[1:]:
        if _KEYED_LINE.match(line) or line.lstrip().startswith("["):
            continue
        op = operator_from_text(line)
        if op is not Op.UNKNOWN:
            return op, "label-detail"
    return Op.UNKNOWN, "none"


def english_name(line: str) -> str:
    """The English a name in another script gives after a slash or in parentheses (`出力 / Output
    (logits)` -> `Output (logits)`, `输出 (Output Logits)` -> `Output Logits`), or the line itself."""
    return _english(line) or line


def _english(line: str) -> str | None:
    translated = _TRANSLATED_AFTER_SLASH.match(line) or _TRANSLATED.match(line)
    return translated.group(1) if translated else None


def _first_line_operator(line: str) -> Op:
    """The operator a first label line names, read after a prefix naming the layer's kind ("Dense
    Layer 0 MHA", "MoE Layer 3 Gate": the words "Dense" and "MoE" name the layer, not the node),
    or in the English a name in another script gives in parentheses (`输出 (Output Logits)`)."""
    translated = _english(line)
    if translated:
        op = operator_from_text(translated)
        if op is not Op.UNKNOWN:
            return op
    equation = _EQUATION.match(line)
    if equation:
        # `v = slice(kv_b_proj)`: a slice of a projection is the tensor it names; `P = softmax(S)`: the call
        target, call = equation.group(1), equation.group(2)  # (the call with its `(`: `FFN5(` is expert 5's)
        if _SLICE_CALL.match(call.rstrip("( ")):
            op = operator_from_text(target)
            if op in (Op.Q_PROJ, Op.K_PROJ, Op.V_PROJ):
                return op
        op = operator_from_text(call)
        if op is not Op.UNKNOWN:
            return op
    code, hash_sign, _ = line.partition("  #")
    if hash_sign and code.strip():
        # `matmul(attn, v)  # v.view(..).transpose(1, 2)`: the call names the operator, the comment
        # after it how the tensors are laid out
        op = _first_line_operator(code)
        if op not in (Op.UNKNOWN, Op.MLP):  # (`Linear(...)  # q_proj`: a generic module, the comment says which)
            return op
    prefix = _LAYER_KIND_PREFIX.match(line)
    if prefix:
        op = operator_from_text(line[prefix.end():])
        if op is not Op.UNKNOWN:
            return op
    return operator_from_text(line)


# A name in another script, then its English in parentheses: `层归一化 (RMSNorm)`, `专家 3 (Expert 3)`.
_TRANSLATED = re.compile(r"^\s*[^\x00-\x7f][^()A-Za-z]*\(\s*([\x20-\x7e]+?)\s*\)\s*$")  # (no Latin word before it: `Ē5 = AllReduce(E5)`)
# `注意スコア / Attention scores`: a name without Latin letters, a slash, then the English.
_TRANSLATED_AFTER_SLASH = re.compile(r"^\s*(?=[^/]*[^\x00-\x7f])[^A-Za-z/]+/\s*([A-Za-z].*?)\s*$")
_LAYER_KIND_PREFIX = re.compile(r"^\s*(?:dense|moe|sparse|transformer|decoder|encoder)\s+layer\s*\d+\s*[:\-–]?\s*(?=\S)",
                                re.IGNORECASE)
# A first line that is an add only by its `+` sign (no "add", "residual", "sum").
_PLUS_ONLY = re.compile(r"^(?!.*(?:residual|\badd\b|\bsum\b|skip)).*(?:^|\s)[+⊕](?:\s|$)", re.IGNORECASE)
# `LHS = f(...)`: an equation whose right-hand side calls a function (spaces around `=`).
_EQUATION = re.compile(r"^\s*([^\s=()]{1,16})\s+=\s+([A-Za-z_][\w.]*\s*\()")
_SLICE_CALL = re.compile(r"^(?:slice|split|chunk|narrow|view|getitem)$", re.IGNORECASE)
_PLUS_ACTIVATION = re.compile(r"\+\s*(?:silu|gelu|relu|swiglu|geglu|act(?:ivation)?)\b", re.IGNORECASE)
_FUSED = re.compile(r"\bfused\b|\binside\b|\bin[-_ ]place\b", re.IGNORECASE)
_SLICING = re.compile(r"^\s*(?:slice|split|shard|partition|chunk)\b", re.IGNORECASE)
_MAY_BE_TRANSFER = frozenset({Op.COMBINE, Op.DISPATCH, Op.SPLIT, Op.CONCAT, Op.UNKNOWN})
_FROM_GPUS = re.compile(r"^\s*from\s*:?\s*(?:gpus?|devices?|ranks?)\s*:?\s*\d", re.IGNORECASE)
_TO_GPUS = re.compile(r"^\s*to\s*:?\s*(?:gpus?|devices?|ranks?)\s*:?\s*\d", re.IGNORECASE)
_Q_INPUT = re.compile(r"^\s*(?:q|query)\s*:\s*\[", re.IGNORECASE)
_KV_INPUT = re.compile(r"^\s*(?:k\s*[,/&]?\s*v|kv|k|key)\s*:\s*\[", re.IGNORECASE)
_ELLIPSIS = re.compile(r"^\s*(?:\.{2,}|…|⋮|⋯)|(?:\.{2,}|…|⋮|⋯)\s*$")  # `...`, `... 56 more experts ...`
_LAYER_ONLY = re.compile(r"^\s*(?:layer|l)\s*\d+\s*:?\s*$", re.IGNORECASE)
_BOXES = frozenset({Op.ATTENTION, Op.MOE, Op.UNKNOWN})
_ROUTING_PARTS = frozenset({Op.GATE, Op.DISPATCH, Op.COMBINE})
_MOE_PARTS = COLLECTIVES | _ROUTING_PARTS
_AGGREGATION = re.compile(r"^\s*aggregat(?:e|ion)\b", re.IGNORECASE)
_FFN_WORDS = re.compile(r"\bmoe\b|expert|\bmlp\b|\bffn\b", re.IGNORECASE)
_ATTENTION_WORDS = re.compile(r"attention|\battn\b|\bqkv\b|self[-_ ]?attn", re.IGNORECASE)
_EXPERT_WORDS = re.compile(r"\bexperts?\s*\d*", re.IGNORECASE)


def _states_facts(line: str) -> bool:
    """Whether a label line states shapes or a placement (`Input: [..]`, `GPU: 0-7`), not a name."""
    return read_line(line).role in ("shapes", "placement", "group")


def _merge_ranks(target: dict[str, frozenset[int]], extra) -> None:
    """Add rank sets (a dict, or its items) to `target`, uniting where an axis is already there."""
    if not target:
        target.update(extra)  # the usual case: nothing to unite with
        return
    for axis, values in extra.items() if isinstance(extra, dict) else extra:
        current = target.get(axis)
        target[axis] = values if current is None else current | values


def read_node(raw: RawNode, ids_name_roles: bool = True) -> NodeInfo:
    """Build a `NodeInfo` from a raw node: label lines, operator, kind, shapes, placement, ranks.
    `ids_name_roles` False: the file's ids are hashes (see `ids_are_hashes`), read for nothing."""
    node_id, attrs = raw.id, raw.attrs
    role_id = node_id if ids_name_roles else ""
    label_value = attrs.get("label")
    if not label_value:
        lines = []
    elif attrs.get("shape", "").lower() in RECORD_SHAPES:
        lines = record_label_lines(label_value, node_id)
    else:
        lines = label_lines(label_value, node_id)
    lines = [_MARKDOWN_BOLD.sub(r"\1", line) for line in lines] if label_value and "**" in label_value else lines  # `**Q Projection**`
    if label_value and _SUBSCRIPT.search(label_value):
        lines = [line.translate(_SUBSCRIPTS) for line in lines]  # `E₅ = FFN₅(D₅)`: indices written as subscripts
    if len(lines) > 1 and label_value and _BULLET_CHARS.search(label_value) and any(_BULLET.match(line) for line in lines[1:]):
        lines = [lines[0], *(_BULLET.sub("", line, count=1) for line in lines[1:])]  # `• device: 2`, `- row-parallel`
    if lines and _TAG_PREFIX.match(lines[0]):
        lines = [_TAG_PREFIX.sub("", lines[0], count=1), *lines[1:]]  # `[mb0] Layer 2 · Q projection`: a tag, not a shape
    if len(lines) == 1 and _KEY_VALUE_RECORD.fullmatch(lines[0]):
        lines = record_fields(lines[0])  # `op=attn_score; layer=2; tp=1; in=[..]; gpu=3`: one line of fields
    if (len(lines) > 1 and lines[0].strip('"\' ') == node_id and not _states_facts(lines[1])
            and operator_from_text(lines[0]) not in (Op.INPUT, Op.OUTPUT)):  # `output` labelled "output\nlogits" ends the graph
        lines = lines[1:]  # `"id\nExpert 0 Route"`: the id echoed above the label proper (kept as the name before `GPU: 1`)
    named = _NAME_KEY.match(lines[0]) if lines else None
    if named:
        lines = [named.group(1), *lines[1:]]  # `Title: Output Projection`: the operator's name, keyed
    if attrs.get("xlabel"):
        lines += label_lines(attrs["xlabel"], node_id)  # shapes and GPUs written beside the box
    facts = [read_line(line) for line in lines]
    op, source = classify_operator(role_id, lines)
    if op in _MAY_BE_TRANSFER and any(map(_FROM_GPUS.match, lines)) and any(map(_TO_GPUS.match, lines)):
        op = Op.SEND_RECV  # "Return to Attention\nFrom: GPUs 12-15\nTo: GPUs 0-11" moves data between GPUs
    if "invis" in attrs.get("style", "") and op not in NOT_OPERATORS:
        op, source = Op.PLACEHOLDER, "style"  # an invisible node stands in for what is not drawn ("... 124 layers skipped ...")
    shape = attrs.get("shape")
    node = NodeInfo(node_id, lines, shape, kind_for(op, shape), op, source, line=raw.line, attrs=attrs)
    if facts:
        _read_label_lines(node, facts)
        _read_tags(node, lines[0])
        if node.op in COLLECTIVES and len(node.bare_shapes) == 1 and not node.inputs and not node.outputs:
            # `all-reduce\n[4,2048,4096]`: a collective's one tensor, as a `Size:` line gives it
            node.inputs.append(node.bare_shapes[0])
            node.outputs.append(node.bare_shapes.pop())
    if op not in COLLECTIVES and lines and _REDUCE.search(lines[0]) and (len(node.gpus) > 1 or kind_for(Op.UNKNOWN, shape) is Kind.COMMUNICATION):
        # "MLP Reduce\nAll Devices 0-7", or drawn as an ellipse: the partial sums reduced across GPUs
        # (a "Reduce" on one GPU, taking what others computed, is a local operator).
        node.op, node.op_source, node.kind = Op.ALL_REDUCE, "label", kind_for(Op.ALL_REDUCE, shape)
    if ((shape or "").lower() in TEXT_SHAPES and not node.inputs and not node.outputs and not _ELLIPSIS.search(" ".join(lines))
            and (node.op in (Op.UNKNOWN, Op.LEGEND) or node.placement is None)):
        # Text drawn without a box and stating no tensor: a legend or note, whatever words it uses
        # (a bare "..." among experts stands for the experts left out: a placeholder). An operator
        # placed on a GPU (`P @ V` on `cuda:2`) is an operator whose shapes are missing (ANN001).
        node.op, node.op_source, node.kind = Op.LEGEND, "shape", Kind.NOTE
    if ids_name_roles:
        _read_id(node)
    node.layer = _first_layer(role_id, facts)
    if op in _EXPERT_OPS or "expert" in role_id.lower():
        node.expert = _first_expert(role_id, facts)
    return node


_BULLET = re.compile(r"^\s*[•▪◦‣*-]\s+(?=\S)")
_BULLET_CHARS = re.compile(r"[•▪◦‣*-] ")  # (a cheap test of the whole label first: most have no bullet)
_SUBSCRIPT_DIGITS = "₀₁₂₃₄₅₆₇₈₉"
_SUBSCRIPTS = str.maketrans(_SUBSCRIPT_DIGITS, "0123456789")
_SUBSCRIPT = re.compile(f"[{_SUBSCRIPT_DIGITS}]")
_MARKDOWN_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TAG_PREFIX = re.compile(r"^\s*\[(?=[^\]]*[A-Za-z])[A-Za-z0-9 ·._/-]{1,24}\]\s+(?=[A-Za-z])")
# Three `key=value` fields at least, separated by `;`, on one line (values hold no `;`).
_FIELD_VALUE = r"(?:\[[^\[\]]*\]|[^;=\[\]])+"  # brackets may hold `=` (named dims)
_KEY_VALUE_RECORD = re.compile(r"\s*[A-Za-z][\w ]*=" + _FIELD_VALUE + r"(?:;\s*[A-Za-z][\w ]*=" + _FIELD_VALUE + r"){2,};?\s*")
# In such a record an axis key gives the node's rank: `tp=1`, `ep=0..3` (the degrees are the file's to state).
_AXIS_FIELD = re.compile(r"^\s*(tp|ep|dp|pp|sp|cp)\s*=\s*(\d+)(?:\s*(?:\.\.|-)\s*(\d+))?\s*$", re.IGNORECASE)


def record_fields(line: str) -> list[str]:
    """The fields of a one-line `key=value; ...` label, one per line, axis fields as rank tokens (`tp=1` -> `TP1`)."""
    fields = []
    for text in filter(None, (part.strip() for part in line.split(";"))):
        axis = _AXIS_FIELD.match(text)
        if axis:
            name = axis.group(1).upper()
            text = f"{name}{axis.group(2)}" + (f"-{name}{axis.group(3)}" if axis.group(3) else "")
        fields.append(text)
    return fields


_EXPERT_OPS = frozenset({Op.EXPERT, Op.MLP, Op.MOE, Op.UNKNOWN})
# `c9c8`, `e086`, `fe06`: hex digests of at least four digits, letters and digits mixed.
_HEX_DIGEST = re.compile(r"(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{4,}")


def ids_are_hashes(node_ids: list[str]) -> bool:
    """Whether a file names its nodes by hashes: nine ids in ten (of ten at least) hex digests.
    Their letters and digits are no expert, layer or rank (`e086` is no expert 86)."""
    digests = sum(1 for node_id in node_ids if _HEX_DIGEST.fullmatch(node_id))
    return len(node_ids) >= 10 and digests >= 0.9 * len(node_ids)
_NAME_KEY = re.compile(r"^\s*(?:title|name|operator|op|type)\s*[:=]\s*(\S.*)$", re.IGNORECASE)
_REDUCE = re.compile(r"\breduce\b(?![-_ ]*scatter)", re.IGNORECASE)


@dataclass(frozen=True)
class LineFacts:
    """What one label line says. Cached by text: large DAGs repeat the same lines thousands of times."""

    role: str  # shapes, placement, group, bare, weight, part (one named tensor of a split), free
    inputs: tuple[Shape, ...] = ()
    outputs: tuple[Shape, ...] = ()
    bare: tuple[Shape, ...] = ()  # shapes the line gives without saying whether they go in or out
    placement: Placement | None = None
    ranks: tuple[tuple[str, frozenset[int]], ...] = ()
    keyed: bool = False
    layer: int | None = None  # a layer the line names (`L3`, `Layer 3`)
    expert: int | None = None  # an expert the line names (`Expert 5`)
    continues: bool = False  # `→ [..]` on a line of its own: the output of the bare shapes above


_LAYER_KEYS = frozenset({"layer", "block", "blk", "layer id", "layer_id", "layer index"})
# `TP2 分割 / sharded (2816 per rank)`, `TP4 split`: the degree the tensor is cut by, naming no rank.
_SHARDED_BY = re.compile(r"(?<![A-Za-z])(?:ep|tp|pp|dp)\d+\b[^,;\[\]]{0,12}\b(?:sharded|split|partitioned)\b", re.IGNORECASE)
_NOT_RANKS = re.compile(r"\b(?:strategy|parallel)\b", re.IGNORECASE)
# `Input:`, `Input 2:`, `Input1:`, `Input (Q):`, `Input QKV:`, `In:`, `Output shape=`, `Input tensor shape:`, wherever they stand
# in a line: `[Input: [..], Output: [..]]` gives both on one line.
_IO_KEY = re.compile(
    r"(?<![A-Za-z])(?:(inputs?|in)|(outputs?|out))(?:[ _]?\d+|[ _]?\([^()]{0,24}\)|(?:[ _](?:shape|tensor|[A-Za-z]{1,6})){1,2})?\s*(?:[:=]|→(?=\s*\[))",
    re.IGNORECASE,
)  # `Output → [..]`: an arrow before the shape stands for the colon
# `in [8,2048,4096]`, `out [8,2048,1024]`: a key without its colon, a shape right after it.
# also `in  (2, 1024, 4096)` and `in 4×512×2048`
_BARE_IO_KEY = re.compile(r"^\s*(?:inputs?|in|outputs?|out)(?=\s+(?:[\[(]\s*[\w?]|(?:\d+|\?)\s*[x×]\s*\d))", re.IGNORECASE)
_BOTH_KEY = re.compile(r"(?<![A-Za-z])(?:inputs?|in)\s*/\s*(?:outputs?|out)\s*[:=]", re.IGNORECASE)
# `batch=64, seq=1024, hidden=1024` or `batch_size, seq_len=128, d_model=1024`: dims written without brackets,
# at least one of them named.
_NAMED_DIMS = re.compile(r"^(?=[^=]*\w\s*=)\s*\w+(?:\s*=\s*\w+)?(?:\s*,\s*\w+(?:\s*=\s*\w+)?)+\s*,?\s*$")
_ARROW = re.compile(r"(?<!\s)\s*(?:→|->|=>|⟶)\s*")  # from the start of a space run: linear
_LEADING_ARROW = re.compile(r"^\s*(?:→|->|=>|⟶)\s*")
_COUNTED_SHAPE = re.compile(r"^\s*\d+\s*[x×]\s*\[")  # `8×[128,2048,512]`: one shard's shape, eight of them
# `∈ ℝ^{4×1024×4096}` (the output), `from ℝ^{..}, ℝ^{..}` (the inputs): tensors written as the sets they lie in.
_SET_LINE = re.compile(r"^\s*(?:∈|from\b)\s*(?:[ℝℕℤ]|[RNZ])\^\{", re.IGNORECASE)
_SET_SHAPE = re.compile(r"(?:[ℝℕℤ]|[RNZ])\^\{([^{}]*)\}")
_TENSOR_PART = re.compile(r"^\s*(?:q|k|v|query|key|value)\s+(?=\[)", re.IGNORECASE)
_AT_GPUS = re.compile(r"^\s*@\s*(?:g|gpus?|devs?|devices?|cuda)\s*:?\s*(\d+(?:\s*[-–]\s*\d+)?(?:\s*,\s*\d+(?:\s*[-–]\s*\d+)?)*)\s*$",
                      re.IGNORECASE)
_WEIGHT_LINE = re.compile(r"^\s*[x×*@]\s*\[")
# Two widths joined by an arrow, after at most a word that is no place (`GPU 0 -> 1` moves data).
_WIDTH_ARROW = re.compile(
    r"^\s*(?:(?!gpus?\b|devices?\b|cuda\b|ranks?\b|stages?\b|nodes?\b|layers?\b|(?:pp|tp|ep|dp)\d*\b)[A-Za-z][\w-]*:?\s+)?"
    r"([1-9]\d{1,6})\s*(?:→|->|=>|⟶)\s*([1-9]\d{1,6})\s*$",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=131072)
def read_line(line: str) -> LineFacts:
    """What one label line says: its role and shapes, placement or ranks, and the layer and expert
    it names. Cached by text: large DAGs repeat the same lines thousands of times."""
    facts = _line_role(line)
    return dataclasses.replace(facts, layer=layer_in(line), expert=expert_in(line))


def _line_role(line: str) -> LineFacts:
    """Classify one label line: shapes (Input/Output/Size), placement, group, bare shape or free text."""
    if ("[" in line or "=" in line or "(" in line or _TIMES_DIMS.search(line) or _KEYED_TIMES.match(line)
            or _UNIT_DIMS.search(line)):
        io = _io_shapes(line)
        if io is not None:
            return io
    if "^{" in line and _SET_LINE.match(line):  # `∈ ℝ^{4×1024×4096}`, `from ℝ^{..}, ℝ^{..}`: sets as shapes
        shapes = tuple(parse_shapes(", ".join("[" + ", ".join(_TIMES.split(dims.strip())) + "]"
                                              for dims in _SET_SHAPE.findall(line))))
        return LineFacts("shapes", inputs=shapes, keyed=True) if line.lstrip().startswith("from") \
            else LineFacts("shapes", outputs=shapes, keyed=True)
    part = _TENSOR_PART.match(line)
    if part:  # `q [4,2048,16,128]` in a split's record: the shape of one of its parts
        return LineFacts("part", outputs=tuple(parse_shapes(line[part.end():])))
    at_gpus = _AT_GPUS.match(line)
    if at_gpus:  # `@g0-3`, `@g5`, `@gpu0,2`: a terse placement
        placement = parse_placement(at_gpus.group(1))
        return LineFacts("placement", placement=placement, keyed=True)
    keyed = _KEYED_LINE.match(line)
    key = keyed.group(1).strip().lower() if keyed else ""
    value = keyed.group(2) if keyed else line
    if key in _LAYER_KEYS:
        return LineFacts("free")  # `layer: 3`: the line states the node's layer (read_line reads it), unkeyed
    if key in _ATTENTION_INPUT_KEYS and (shapes := tuple(parse_shapes(value))):  # not `Q = H·W_q`, an equation
        return LineFacts("shapes", inputs=shapes, keyed=True)
    if key in _TENSOR_KEYS:
        arrow = _arrow_shapes(value)
        if arrow is not None:
            return arrow
        shapes = tuple(parse_shapes(_bracketed(value)))
        return LineFacts("shapes", inputs=shapes, outputs=shapes, keyed=True)
    if key in _PLACEMENT_KEYS:
        placement = parse_placement(value)
        return LineFacts("placement", placement=placement, ranks=tuple(placement.ranks.items()), keyed=True)
    if key in _GROUP_KEYS:
        return LineFacts("group", ranks=tuple(parse_ranks(value).items()), keyed=True)
    if _LEADING_ARROW.match(line) and "[" in line:
        return LineFacts("shapes", outputs=tuple(parse_shapes(_LEADING_ARROW.sub("", line, count=1))), continues=True)
    if _WEIGHT_LINE.match(line):  # `×[4096,1536]` under the input's shape: the weight it is multiplied by
        return LineFacts("weight", bare=tuple(parse_shapes(line)))
    if line.lstrip().startswith("[") or _COUNTED_SHAPE.match(line) or (_ARROW.search(line) and "[" in line):
        return _arrow_shapes(line) or LineFacts("bare", bare=tuple(parse_shapes(line)))
    widths = _WIDTH_ARROW.match(line)
    if widths:  # `ColParallel 16384->8192`, `512→512`: the feature width in and out
        return LineFacts("shapes", inputs=tuple(parse_shapes(f"[{widths.group(1)}]")),
                         outputs=tuple(parse_shapes(f"[{widths.group(2)}]")))
    # A line stating degrees (`TP8-EP64`, `EP64-TP8-PP2`) names no rank.
    ranks = () if _NOT_RANKS.search(line) or _SHARDED_BY.search(line) or line_degrees(line) \
        else tuple(parse_ranks(without_parenthesised(line)).items())
    return LineFacts("free", placement=inline_placement(line), ranks=ranks, keyed=bool(keyed))


def _arrow_shapes(text: str) -> LineFacts | None:
    """`[..] → [..]`: the input shapes, then the output shapes; None without such an arrow."""
    parts = _ARROW.split(text, maxsplit=1)
    if len(parts) == 2 and "[" in parts[0] and "[" in parts[1]:
        return LineFacts("shapes", inputs=tuple(parse_shapes(parts[0])), outputs=tuple(parse_shapes(parts[1])))
    return None


def _io_shapes(line: str) -> LineFacts | None:
    """Shapes after Input/Output keys anywhere in the line, each key's shapes up to the next key;
    None when the line names no such key (or one with no shape after it)."""
    bare = _BARE_IO_KEY.match(line)
    if bare:
        line = f"{bare.group(0)}:{line[bare.end():]}"  # `in [..]`: the colon left out
    both = _BOTH_KEY.search(line)
    if both:  # `Input/Output: [..]`: one tensor in and out (a norm, a softmax)
        shapes = tuple(parse_shapes(line[both.end():]))
        return LineFacts("shapes", inputs=shapes, outputs=shapes, keyed=True) if shapes else None
    keys = list(_IO_KEY.finditer(line))
    if not keys:
        return None
    inputs: list[Shape] = []
    outputs: list[Shape] = []
    for key, following in zip(keys, [*keys[1:], None]):
        segment = _bracketed(line[key.end(): following.start() if following else len(line)])
        (inputs if key.group(1) else outputs).extend(parse_shapes(segment))
    if not inputs and not outputs:
        return None
    return LineFacts("shapes", inputs=tuple(inputs), outputs=tuple(outputs), keyed=True)


def _bracketed(value: str) -> str:
    """The value of an Input/Output/shape key with its dims in brackets, however it writes them:
    `batch=64, seq=1024, hidden=1024`, `(8, 128, 4096)` (a tuple, also several), `8x128x4096`."""
    value = _SHAPE_PREAMBLE.sub("", value, count=1)  # `bf16 of shape (4, 2048, 4096)`
    if "[" in value:
        return _SYMBOLS_THEN_VALUES.sub(_named_by_symbols, value)
    value = _TUPLE_NAMES.sub("", value)  # `(b,nh,s,s)=(4,8,512,512), (b,s,nh,hd)=(..)`: each tuple's names
    if _NAMED_DIMS.match(value):
        return f"[{value.strip().rstrip(',')}]"
    if _TUPLES.match(value):
        return _TUPLE.sub(lambda match: f"[{match.group(1)}]", value)
    if _UNIT_DIMS.fullmatch(value.strip().split(",")[0].strip()):
        value = ", ".join(_unit_dims(part) for part in value.split(","))  # `4 seq × 1024 tok × 2048 d`
    parts = re.split(r"[,;]", value.strip().rstrip(",;"))
    if all(_TIMES_SHAPE.fullmatch(part.strip()) for part in parts):  # `2x8x2048x128, 2x8x2048x128` (or `;`), `8192x2048`
        return ", ".join("[" + ", ".join(_TIMES.split(part.strip())) + "]" for part in parts)
    if all(_SPACED_SHAPE.fullmatch(part.strip()) for part in parts):  # `in: 4 1024 2048, 4 1024 512` (record fields)
        return ", ".join("[" + ", ".join(part.split()) + "]" for part in parts)
    return value


_SHAPE_PREAMBLE = re.compile(
    r"^\s*(?:(?:bf16|fp\d{1,2}|float\d{0,2}|half|int\d{1,2}|bool)\s+)?(?:tensor\s+)?(?:of\s+)?shape\s*[:=]?\s*(?=[\[(])",
    re.IGNORECASE)
# `[B/EP, S, H] = [4, 512, 1024]`: the symbols, then their values.
_SYMBOLS_THEN_VALUES = re.compile(r"\[([^\[\]=]*)\]\s*=\s*\[([\d\s,]*)\]")


def _named_by_symbols(match: re.Match[str]) -> str:
    """One shape of named dimensions, each symbol naming its value (`B/EP` names the batch `B`,
    what one rank holds of it); left as written when the counts differ."""
    names = [name.strip().split("/")[0].strip() for name in match.group(1).split(",")]
    values = [value.strip() for value in match.group(2).split(",")]
    if len(names) != len(values) or not all(re.fullmatch(r"[A-Za-z_]\w*", name) for name in names):
        return match.group(0)
    return "[" + ", ".join(f"{name}={value}" for name, value in zip(names, values)) + "]"


# `4 seq × 1024 tok × 32 heads × 128 d`: each dimension a number and a unit word.
_UNIT_DIM = r"(?:\d+|\?)\s+[A-Za-z]\w{0,10}"
_UNIT_DIMS = re.compile(_UNIT_DIM + r"(?:\s*[x×]\s*" + _UNIT_DIM + r")+")


def _unit_dims(text: str) -> str:
    """`4 seq × 1024 tok × 32 heads × 128 d` as `[4, 1024, heads=32, head_dim=128]`: the units but the
    heads (and the head size after them) left out, as positional dimensions are read."""
    if not _UNIT_DIMS.fullmatch(text.strip()):
        return text
    dims, after_heads = [], False
    for number, unit in re.findall(r"(\d+|\?)\s+([A-Za-z]\w*)", text):
        if unit.lower() in ("heads", "head", "kv_heads"):
            dims.append(f"heads={number}")
            after_heads = True
        elif after_heads and unit.lower() in ("d", "dim", "hd", "head_dim"):
            dims.append(f"head_dim={number}")
        else:
            dims.append(number)
    return "[" + ", ".join(dims) + "]"


_TUPLE_NAMES = re.compile(r"\([A-Za-z_][\w\s,]*\)\s*=\s*(?=\()")
# A dimension's value may be arithmetic over numbers and symbols: `s=8192/CP/TP`, `qkv=3*4096/TP`.
_DIM_VALUE = r"[\w?]+(?:\s*[*/]\s*[\w?]+)*"
_DIMS_LIST = r"\s*[\w?]+(?:\s*=\s*" + _DIM_VALUE + r")?(?:\s*,\s*[\w?]+(?:\s*=\s*" + _DIM_VALUE + r")?)+\s*"
_TUPLE = re.compile(r"\((" + _DIMS_LIST + r")\)")
# `(8, 128, 4096), (8, 128, 4096)` or `(..) and (..)`: several tuples, one shape each.
_TUPLES = re.compile(r"^\s*\(" + _DIMS_LIST + r"\)(?:\s*(?:,|and\b|&|\+)?\s*\(" + _DIMS_LIST + r"\))*\s*,?\s*$", re.IGNORECASE)
_TIMES = re.compile(r"\s*[x×]\s*")
_TIMES_DIMS = re.compile(r"\b\d+(?:\s*[x×]\s*\d+){2,}\b")
# After an Input/Output key a shape may have two dimensions (`out: 8192x2048`, tokens x hidden).
_TIMES_SHAPE = re.compile(r"(?:\d+|\?)(?:\s*[x×]\s*(?:\d+|\?))+")  # `?×2048×3072`: a placeholder dimension too
_KEYED_TIMES = re.compile(r"^\s*(?:(?:shape|tensor)\s+)?(?:inputs?|in|outputs?|out)(?:\s+shape)?\s*(?:[:=]\s*|\s)(?:\d+|\?)\s*(?:[x×]\s*)?\d+",
                          re.IGNORECASE)  # `Shape in: 4×1024`, `Out: 8192x2048`
_SPACED_SHAPE = re.compile(r"\d+(?:[ \t]+\d+)+")  # `4 1024 2048`: dims separated by spaces alone


def _read_label_lines(node: NodeInfo, facts: list[LineFacts]) -> None:
    for index, fact in enumerate(facts):
        role = fact.role
        if role == "shapes":
            if fact.continues and not node.inputs:
                node.inputs.extend(node.bare_shapes)  # `[..]` then `→ [..]`: the bare shapes were the input
                node.bare_shapes.clear()
            node.inputs.extend(fact.inputs)
            node.outputs.extend(fact.outputs)
        elif role == "placement":
            node.placement = fact.placement
            _merge_ranks(node.ranks, fact.ranks)
        elif role == "group":
            _merge_ranks(node.group, fact.ranks)
        elif role == "bare":
            node.bare_shapes.extend(fact.bare)
        elif role == "weight":
            _multiply(node, fact.bare)
        elif role == "part":
            (node.outputs if node.op is Op.SPLIT else node.bare_shapes).extend(fact.outputs)
        else:
            # A free line like `L0 TP1`, `GPU0`, `Pipeline:0 Expert:0 TP:0` may say where the node runs;
            # the first line names the operator, so only an inline GPU counts there.
            if node.placement is None and fact.placement is not None:
                node.placement = fact.placement
            if fact.ranks and (index > 0 or node.op is Op.UNKNOWN):
                _merge_ranks(node.ranks, fact.ranks)


# `qkv_proj | L2 | tp1 | stage 1`: a first line of `|`-separated tags after the operator's name,
# one of them a rank alone (a stage is the pipeline rank it names).
_RANK_TAG = re.compile(r"\|\s*(tp|ep|dp|pp|stage)\s*[_=:]?\s*(\d{1,7})\s*(?=\||$)", re.IGNORECASE)
# `expert[4] (EP rank 0, TP rank 0)`, `linear (tp_rank=1)`: a rank the word "rank" names.
_NAMED_RANK = re.compile(r"(?<![A-Za-z])(tp|ep|dp|pp)[-_ ]?rank\s*[:=]?\s*(\d{1,7})(?![\d.])", re.IGNORECASE)
_RANK_OF = re.compile(r"(?<![A-Za-z])(tp|ep|dp|pp)[-_ ]?(?:(?:rank|shard|slot)\s*)?(\d{1,7})\s*(?:/|\bof\b)\s*(\d{1,7})(?![\d.])",
                      re.IGNORECASE)


def _read_tags(node: NodeInfo, first_line: str) -> None:
    """Ranks given as tags of the first line, which otherwise names the operator (where a rank
    token may be a degree: `MLP TP8`): a tag standing alone between bars, or a rank the word
    "rank" names."""
    tags = _RANK_TAG.findall(first_line) if "|" in first_line else []
    if "rank" in first_line.lower():
        tags += _NAMED_RANK.findall(first_line)
    # `(TP 1/2)`, `TP Shard 0 Of 4`: rank k of n, k below n
    tags += [(axis, rank) for axis, rank, total in _RANK_OF.findall(first_line) if int(rank) < int(total)]
    for axis, value in tags:
        axis = "pp" if axis.lower() == "stage" else axis.lower()
        if axis not in node.ranks:
            _merge_ranks(node.ranks, {axis: frozenset({int(value)})})


def _multiply(node: NodeInfo, weights: tuple[Shape, ...]) -> None:
    """`[128,2048,4096]` then `×[4096,1536]`: the bare shape is the input of a matrix product whose
    output keeps its leading dims and takes the weight's last ([128,2048,1536])."""
    if len(node.bare_shapes) != 1 or len(weights) != 1 or node.inputs or node.outputs:
        return
    (tensor,), (weight,) = node.bare_shapes, weights
    if len(weight.dims) == 2 and tensor.dims and weight.dims[0].value == tensor.dims[-1].value:
        node.inputs.append(tensor)
        node.outputs.append(Shape(dims=(*tensor.dims[:-1], weight.dims[-1])))
        node.bare_shapes.clear()


def _read_id(node: NodeInfo) -> None:
    stated: dict[str, int] | None = None  # the degrees the label states, read once, when a rank asks
    for axis, value in _ID_RANK.findall(node.id):
        if node.placement is not None and len(node.gpus) > 2 and int(value) == len(node.gpus):
            continue  # `mlp_tp8` on GPUs 0-7 (or 8-15): the degree of the group it runs on, not rank 8
            # (on two GPUs, `expert4.ep2` on GPUs 4-5 is as likely rank 2 of a group of two)
        if node.label and int(value) > 0:  # a degree is never 0: rank 0 echoes none
            if stated is None:
                stated = parse_degrees(" ".join(node.label), single_tokens=False)
            if stated.get(axis.lower()) == int(value):
                continue  # `baseline_tp8_pp2` labelled "TP=8, PP=2": the id echoes the degree its label states
        _merge_ranks(node.ranks, {axis.lower(): frozenset({int(value)})})
    if node.placement is None:
        gpu = _ID_GPU.search(node.id)
        if gpu:
            node.placement = Placement(gpus=frozenset({int(gpu.group(1))}))


def _first_layer(node_id: str, facts: list[LineFacts]) -> int | None:
    """The layer the id names, else the first label line, else the first free (unkeyed) line."""
    layer = layer_in(node_id)
    if layer is not None:
        return layer
    for index, fact in enumerate(facts):
        if fact.layer is not None and (index == 0 or not fact.keyed):
            return fact.layer
    return None


def _first_expert(node_id: str, facts: list[LineFacts]) -> int | None:
    """The expert the first or second label line names, else the one the id names (`expert_2`
    labelled "Expert 0" is expert 0: ids often count GPUs)."""
    for fact in facts[:2]:
        if fact.expert is not None:
            return fact.expert
    for fact in facts[2:]:
        if fact.keyed and fact.expert is not None and fact.role == "free":
            return fact.expert  # `OP=EXPERT_FFN`, `LAYER=0`, then `EXPERT=5`: the key says it
    return expert_in(node_id)
