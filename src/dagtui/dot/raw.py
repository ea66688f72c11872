"""The neutral raw graph every DOT backend produces: what the file says, before any interpretation."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagtui.dot.comments import Comment


@dataclass(slots=True)
class RawNode:
    """A node with its effective attributes (defaults applied as Graphviz applies them), the line
    of its declaration (where its label is), and every line when it is declared more than once."""

    id: str
    attrs: dict[str, str]
    line: int | None = None
    declared_at: tuple[int, ...] = ()


@dataclass
class Declarations:
    """Each node's line, and every line of the nodes declared more than once (see `source_lines`)."""

    line: dict[str, int] = field(default_factory=dict)
    repeated: dict[str, list[int]] = field(default_factory=dict)

    def apply(self, nodes: dict[str, RawNode]) -> None:
        """Give each node its line and, when declared more than once, all its lines."""
        for node_id, node in nodes.items():
            node.line = self.line.get(node_id)
            node.declared_at = tuple(self.repeated.get(node_id, ()))


@dataclass(slots=True)
class RawEdge:
    """One edge statement's edge; parallel edges between the same pair are kept apart."""

    source: str
    target: str
    attrs: dict[str, str]


@dataclass(slots=True)
class RawCluster:
    """A subgraph (cluster or not) with its own attributes, direct node members and children."""

    name: str
    attrs: dict[str, str]
    nodes: list[str] = field(default_factory=list)
    children: list[RawCluster] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.attrs.get("label", "")

    def all_nodes(self) -> list[str]:
        """Members of this subgraph and of every subgraph nested in it, in order, without repeats."""
        seen: dict[str, None] = dict.fromkeys(self.nodes)
        for child in self.children:
            seen.update(dict.fromkeys(child.all_nodes()))
        return list(seen)

    def walk(self):
        """Yield this subgraph and all nested ones, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(slots=True)
class RawGraph:
    """A parsed DOT file: name, graph attributes, nodes in declaration order, edges, subgraph tree."""

    file: str
    name: str
    directed: bool
    attrs: dict[str, str]
    nodes: dict[str, RawNode]
    edges: list[RawEdge]
    subgraphs: list[RawCluster]
    backend: str = ""
    comments: list[Comment] = field(default_factory=list)  # the parsers drop them; the strategy may be there
    after_first_graph: int | None = None  # the line where text after the graph begins (a second graph)

    def clusters(self) -> list[RawCluster]:
        """Every subgraph of the file, depth first."""
        return [sub for top in self.subgraphs for sub in top.walk()]

    def __reduce__(self) -> tuple:
        # Pickled as plain tuples: 3x faster both ways than one object per node and edge, which
        # matters when the helper process sends a 19k-node graph (see helper_process).
        nodes = [(node.id, node.attrs, node.line, node.declared_at) for node in self.nodes.values()]
        edges = [(edge.source, edge.target, edge.attrs) for edge in self.edges]
        fields = (self.file, self.name, self.directed, self.attrs, self.subgraphs, self.backend, self.comments,
                  self.after_first_graph)
        return _unpickle_graph, (fields, nodes, edges)


def _unpickle_graph(fields: tuple, nodes: list[tuple], edges: list[tuple]) -> RawGraph:
    file, name, directed, attrs, subgraphs, backend, comments, after_first_graph = fields
    return RawGraph(
        file=file,
        name=name,
        directed=directed,
        attrs=attrs,
        nodes={node_id: RawNode(node_id, node_attrs, line, declared) for node_id, node_attrs, line, declared in nodes},
        edges=[RawEdge(source, target, edge_attrs) for source, target, edge_attrs in edges],
        subgraphs=subgraphs,
        backend=backend,
        comments=comments,
        after_first_graph=after_first_graph,
    )
