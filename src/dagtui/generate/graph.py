"""A generated DAG as data: nodes with label lines, shape and role; edges; a stable DOT writer.

The writer is our own: pydot builds an object per node and quotes every attribute, which is
several times slower on the 19k-node DAGs (benchmarks/bench_generate.py prints both).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GenNode:
    """A node: id, label lines, DOT shape, and the role the generator gave it (for mutations)."""

    id: str
    lines: list[str]
    shape: str = "box"
    role: dict[str, object] = field(default_factory=dict)
    style: str = ""


@dataclass
class GenEdge:
    source: str
    target: str
    dashed: bool = False


@dataclass
class GenGraph:
    name: str
    label: str
    nodes: dict[str, GenNode] = field(default_factory=dict)
    edges: list[GenEdge] = field(default_factory=list)

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

    def predecessors(self, node_id: str) -> list[str]:
        return [e.source for e in self.edges if e.target == node_id]

    def successors(self, node_id: str) -> list[str]:
        return [e.target for e in self.edges if e.source == node_id]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: GenGraph) -> str:
    """Readable DOT, one node or edge per line, in insertion order (stable output)."""
    out = [f"digraph {_quote(graph.name)} {{", f"    label={_quote(graph.label)}", "    labelloc=t",
           "    node [shape=box]"]
    for node in graph.nodes.values():
        label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in node.lines)
        attrs = f'label="{label}"'
        if node.shape != "box":
            attrs += f" shape={node.shape}"
        if node.style:
            attrs += f" style={node.style}"
        out.append(f"    {_quote(node.id) if not node.id.isidentifier() else node.id} [{attrs}]")
    for edge in graph.edges:
        style = " [style=dashed]" if edge.dashed else ""
        out.append(f"    {edge.source} -> {edge.target}{style}")
    out.append("}")
    return "\n".join(out) + "\n"
