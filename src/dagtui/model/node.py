"""One node of a deployment, as the validator and the TUI see it, and how its label is read."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from dagtui.dot.labels import label_lines
from dagtui.dot.raw import RawNode
from dagtui.model.gpus import Placement, inline_placement, parse_placement, parse_ranks
from dagtui.model.operators import Kind, Op, kind_for, operator_from_text, readable_id
from dagtui.model.roles import expert_in, layer_in
from dagtui.model.shapes import Shape, parse_shapes

_KEYED_LINE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*:\s*(.*)$")
_INPUT_KEYS = {"input", "inputs", "in", "input shape", "q", "k", "v"}
_OUTPUT_KEYS = {"output", "outputs", "out", "output shape"}
_TENSOR_KEYS = {"size", "tensor", "shape", "data"}
_PLACEMENT_KEYS = {"gpu", "gpus", "device", "devices", "placement", "gpu ids"}
_GROUP_KEYS = {"tp group", "ep group", "dp group", "pp group", "group", "sp group"}
_ID_GPU = re.compile(r"(?:^|_)gpu_?(\d+)(?=_|$)", re.IGNORECASE)
_ID_RANK = re.compile(r"(?:^|_)(ep|tp|pp|dp)_?(\d+)(?=_|$)", re.IGNORECASE)


@dataclass
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
    def title(self) -> str:
        return self.label[0] if self.label else self.id

    @property
    def is_communication(self) -> bool:
        return self.kind is Kind.COMMUNICATION or self.op in (
            Op.ALL_REDUCE, Op.ALL_GATHER, Op.REDUCE_SCATTER, Op.ALL_TO_ALL, Op.SEND_RECV,
        )

    def rank(self, axis: str) -> frozenset[int]:
        return self.ranks.get(axis, frozenset())


def classify_operator(node_id: str, lines: list[str]) -> tuple[Op, str]:
    """The operator and how it was found: first label line, then the id, then other label lines."""
    if lines:
        op = operator_from_text(lines[0])
        if op is not Op.UNKNOWN:
            return op, "label"
    op = operator_from_text(readable_id(node_id))
    if op is not Op.UNKNOWN:
        return op, "id"
    for line in lines[1:]:
        if _KEYED_LINE.match(line) or line.lstrip().startswith("["):
            continue
        op = operator_from_text(line)
        if op is not Op.UNKNOWN:
            return op, "label-detail"
    return Op.UNKNOWN, "none"


def _merge_ranks(target: dict[str, frozenset[int]], extra) -> None:
    """Add rank sets (a dict, or its items) to `target`, uniting where an axis is already there."""
    for axis, values in extra.items() if isinstance(extra, dict) else extra:
        current = target.get(axis)
        target[axis] = values if current is None else current | values


def read_node(raw: RawNode) -> NodeInfo:
    """Build a `NodeInfo` from a raw node: label lines, operator, kind, shapes, placement, ranks."""
    label_value = raw.attrs.get("label", "")
    lines = label_lines(label_value, raw.id) if label_value else []
    op, source = classify_operator(raw.id, lines)
    node = NodeInfo(
        id=raw.id, label=lines, shape=raw.attrs.get("shape"), kind=kind_for(op, raw.attrs.get("shape")),
        op=op, op_source=source, line=raw.line, attrs=raw.attrs,
    )
    _read_label_lines(node, lines)
    _read_id(node)
    node.layer = _first_layer(raw.id, lines)
    node.expert = _first_expert(raw.id, lines) if op in (Op.EXPERT, Op.MLP, Op.MOE, Op.UNKNOWN) or "expert" in raw.id.lower() else None
    return node


@dataclass(frozen=True)
class LineFacts:
    """What one label line says. Cached by text: large DAGs repeat the same lines thousands of times."""

    role: str  # input, output, tensor, placement, group, bare, free
    shapes: tuple[Shape, ...] = ()
    placement: Placement | None = None
    ranks: tuple[tuple[str, frozenset[int]], ...] = ()
    keyed: bool = False


_NOT_RANKS = re.compile(r"\b(?:strategy|parallel)\b", re.IGNORECASE)
_PARENTHESISED = re.compile(r"\(.*?\)")


@functools.lru_cache(maxsize=131072)
def read_line(line: str) -> LineFacts:
    """Classify one label line: shapes (Input/Output/Size), placement, group, bare shape or free text."""
    keyed = _KEYED_LINE.match(line)
    key = keyed.group(1).strip().lower() if keyed else ""
    value = keyed.group(2) if keyed else line
    if key in _INPUT_KEYS:
        return LineFacts("input", tuple(parse_shapes(value)), keyed=True)
    if key in _OUTPUT_KEYS:
        return LineFacts("output", tuple(parse_shapes(value)), keyed=True)
    if key in _TENSOR_KEYS:
        return LineFacts("tensor", tuple(parse_shapes(value)), keyed=True)
    if key in _PLACEMENT_KEYS:
        placement = parse_placement(value)
        return LineFacts("placement", placement=placement, ranks=tuple(placement.ranks.items()), keyed=True)
    if key in _GROUP_KEYS:
        return LineFacts("group", ranks=tuple(parse_ranks(value).items()), keyed=True)
    if line.lstrip().startswith("["):
        return LineFacts("bare", tuple(parse_shapes(line)))
    ranks = () if _NOT_RANKS.search(line) else tuple(parse_ranks(_PARENTHESISED.sub(" ", line)).items())
    return LineFacts("free", placement=inline_placement(line), ranks=ranks, keyed=bool(keyed))


def _read_label_lines(node: NodeInfo, lines: list[str]) -> None:
    for index, line in enumerate(lines):
        facts = read_line(line)
        if facts.role == "input":
            node.inputs.extend(facts.shapes)
        elif facts.role == "output":
            node.outputs.extend(facts.shapes)
        elif facts.role == "tensor":
            node.inputs.extend(facts.shapes)
            node.outputs.extend(facts.shapes)
        elif facts.role == "placement":
            node.placement = facts.placement
            _merge_ranks(node.ranks, facts.ranks)
        elif facts.role == "group":
            _merge_ranks(node.group, facts.ranks)
        elif facts.role == "bare":
            node.bare_shapes.extend(facts.shapes)
        else:
            # A free line like `L0 TP1`, `GPU0`, `Pipeline:0 Expert:0 TP:0` may say where the node runs;
            # the first line names the operator, so only an inline GPU counts there.
            if node.placement is None and facts.placement is not None:
                node.placement = facts.placement
            if index > 0 or node.op is Op.UNKNOWN:
                _merge_ranks(node.ranks, facts.ranks)


def _read_id(node: NodeInfo) -> None:
    for axis, value in _ID_RANK.findall(node.id):
        _merge_ranks(node.ranks, {axis.lower(): frozenset({int(value)})})
    if node.placement is None:
        gpu = _ID_GPU.search(node.id)
        if gpu:
            node.placement = Placement(gpus=frozenset({int(gpu.group(1))}))


def _first_layer(node_id: str, lines: list[str]) -> int | None:
    for text in [node_id, *lines[:1], *(line for line in lines[1:] if not read_line(line).keyed)]:
        layer = layer_in(text)
        if layer is not None:
            return layer
    return None


def _first_expert(node_id: str, lines: list[str]) -> int | None:
    for text in [node_id, *lines[:2]]:
        expert = expert_in(text)
        if expert is not None:
            return expert
    return None
