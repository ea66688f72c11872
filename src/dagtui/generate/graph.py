"""A generated DAG as data: nodes with what their labels say (operator, shapes, placement) and
their role; edges; clusters; and a stable DOT writer that renders it all in a house style.

Nodes keep meaning, not text, so that a mutation (tests/mutations.py) can change a shape or a
placement whatever the style writes it as. The writer is our own: pydot builds an object per
node and quotes every attribute, which is several times slower on the 19k-node DAGs
(benchmarks/bench_generate.py prints both).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dagtui.generate.style import HOUSE_STYLES, Dims, HouseStyle, Place, io_lines, label_value, placement_line


@dataclass
class GenNode:
    """A node: its id, the lines of its label by meaning, its DOT shape, and the role the
    generator gave it (op, layer, tp, ep, expert, stage, dp, extra) for mutations to find it."""

    id: str
    title: str
    where: str = ""  # `Layer 3 TP1`
    notes: list[str] = field(default_factory=list)  # other free lines (`Top-2 of 8 experts`, `Layers 0-1`)
    inputs: list[Dims] = field(default_factory=list)
    output: Dims | None = None
    place: Place | None = None
    group: str = ""  # `TP Group: TP0-TP1` on collectives
    shape: str = "box"
    role: dict[str, object] = field(default_factory=dict)
    style: str = ""

    def lines(self, style: HouseStyle) -> list[str]:
        """The label's lines, written in `style`."""
        lines = [self.title, *([self.where] if self.where else []), *self.notes]
        lines += io_lines(self.inputs, self.output, style)
        if self.place is not None:
            lines.append(placement_line(self.place, style))
        if self.group:
            lines.append(self.group)
        return lines


@dataclass
class GenEdge:
    source: str
    target: str
    dashed: bool = False


@dataclass
class GenCluster:
    """A `subgraph cluster_*` around nodes (a pipeline stage, possibly of one DP replica)."""

    name: str
    label: str
    members: list[str] = field(default_factory=list)


@dataclass
class GenGraph:
    name: str
    label: str
    style: HouseStyle = field(default_factory=lambda: HOUSE_STYLES["reference"])
    title_comment: str = ""  # a `// ...` line before the graph
    nodes: dict[str, GenNode] = field(default_factory=dict)
    edges: list[GenEdge] = field(default_factory=list)
    clusters: list[GenCluster] = field(default_factory=list)

    def add(self, node: GenNode) -> str:
        self.nodes[node.id] = node
        return node.id

    def connect(self, source: str, target: str, dashed: bool = False) -> None:
        self.edges.append(GenEdge(source, target, dashed))

    def find(self, **role: object) -> list[GenNode]:
        """Nodes whose role has all the given values."""
        return [node for node in self.nodes.values() if all(node.role.get(k) == v for k, v in role.items())]

    def remove(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)
        self.edges = [e for e in self.edges if e.source != node_id and e.target != node_id]
        for cluster in self.clusters:
            if node_id in cluster.members:
                cluster.members.remove(node_id)

    def predecessors(self, node_id: str) -> list[str]:
        return [e.source for e in self.edges if e.target == node_id]

    def successors(self, node_id: str) -> list[str]:
        return [e.target for e in self.edges if e.source == node_id]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ident(node_id: str) -> str:
    return node_id if node_id.isidentifier() else _quote(node_id)


def _node_line(node: GenNode, style: HouseStyle, indent: str) -> str:
    text, is_html = label_value(node.lines(style), style)
    attrs = f"label=<{text}>" if is_html else f'label="{text}"'
    if node.shape != "box":
        attrs += f" shape={node.shape}"
    if node.style:
        attrs += f" style={node.style}"
    return f"{indent}{_ident(node.id)} [{attrs}]"


def to_dot(graph: GenGraph) -> str:
    """Readable DOT, one node or edge per line, in insertion order (stable output)."""
    style = graph.style
    out = [f"// {graph.title_comment}"] if graph.title_comment else []
    out += [f"digraph {_quote(graph.name)} {{", f"    label={_quote(graph.label)}", "    labelloc=t",
            "    node [shape=box]"]
    clustered = {member for cluster in graph.clusters for member in cluster.members}
    for node in graph.nodes.values():
        if node.id not in clustered:
            out.append(_node_line(node, style, "    "))
    for cluster in graph.clusters:
        out.append(f"    subgraph {cluster.name} {{")
        out.append(f"        label={_quote(cluster.label)}")
        out += [_node_line(graph.nodes[member], style, "        ") for member in cluster.members if member in graph.nodes]
        out.append("    }")
    for edge in graph.edges:
        dashed = " [style=dashed]" if edge.dashed else ""
        out.append(f"    {_ident(edge.source)} -> {_ident(edge.target)}{dashed}")
    out.append("}")
    return "\n".join(out) + "\n"
