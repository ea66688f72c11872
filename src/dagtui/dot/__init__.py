"""Read DOT files into a neutral `RawGraph`: a fast reader for plain DOT, backed by cgraph (via
pygraphviz) for everything else and for errors; pydot where pygraphviz is missing."""

from __future__ import annotations

import os

from dagtui.dot.labels import has_long_numbers, label_lines, shorten_numbers
from dagtui.dot.plain_reader import read_plain
from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource, check_source, read_source
from dagtui.dot.structure import MAX_NESTING, scan
from dagtui.errors import Checkpoint, DotSyntaxError, InputError, no_checkpoint

__all__ = [
    "BACKENDS", "RawCluster", "RawEdge", "RawGraph", "RawNode", "backend_name", "check_source", "graphviz_backend",
    "label_lines", "parse_source", "read_dot",
]


BACKENDS = ("plain", "cgraph", "pydot")


def backend_name() -> str:
    """The backend in use: `DAGTUI_DOT_BACKEND` if set, else `plain` (the fast reader for plain
    DOT, which hands everything else to Graphviz's own parser)."""
    chosen = os.environ.get("DAGTUI_DOT_BACKEND", "").strip().lower()
    return chosen if chosen in BACKENDS else "plain"


def graphviz_backend() -> str:
    """The full DOT reader: cgraph when pygraphviz imports, else pydot."""
    try:
        import pygraphviz._graphviz  # noqa: F401
    except ImportError:
        return "pydot"
    return "cgraph"


def parse_source(source: DotSource, backend: str | None = None, checkpoint: Checkpoint = no_checkpoint) -> RawGraph:
    """Parse already-read DOT text with the chosen backend, with declaration lines and comments
    (the plain reader finds them in its own pass; for the others the text is scanned)."""
    backend = backend or backend_name()
    graph = read_plain(source, checkpoint) if backend == "plain" else None
    if graph is None:
        checkpoint()
        graph = _read_with_graphviz_grammar(source, graphviz_backend() if backend == "plain" else backend)
        checkpoint()
        if graph.directed and graph.nodes:
            from dagtui.dot.source_lines import lines_from_text

            lines_from_text(graph, source.text)
    if not graph.directed:
        raise InputError(f"{source.path}: an undirected `graph`; deployment DAGs are `digraph`s")
    if not graph.nodes:
        raise InputError(f"{source.path}: the graph holds no nodes; nothing to review")
    if has_long_numbers(source.text):
        _shorten_attribute_numbers(graph)
    return graph


def _shorten_attribute_numbers(graph: RawGraph) -> None:
    """Cut numbers of thousands of digits in every attribute (see `shorten_numbers`): the model
    reads labels, names and graph attributes for counts, and Python refuses to convert them."""
    def shortened(attrs: dict[str, str]) -> dict[str, str]:
        return {key: shorten_numbers(value) for key, value in attrs.items()}

    graph.name = shorten_numbers(graph.name)
    graph.attrs = shortened(graph.attrs)
    for node in graph.nodes.values():
        node.attrs = shortened(node.attrs)
    for edge in graph.edges:
        edge.attrs = shortened(edge.attrs)
    for cluster in graph.clusters():
        cluster.name, cluster.attrs = shorten_numbers(cluster.name), shortened(cluster.attrs)


def _read_with_graphviz_grammar(source: DotSource, backend: str) -> RawGraph:
    """Parse with cgraph or pydot, after a scan for what they report badly or not at all: deep
    nesting (their walks recurse), unterminated constructs (they report the end of the file), and
    text after the first graph (they drop it)."""
    structure = scan(source.text)
    if structure.too_deep is not None:
        raise InputError(f"{source.path}:{structure.too_deep.line}: subgraphs nested more than {MAX_NESTING} deep; "
                         f"dagtui reads {MAX_NESTING} levels at most")
    try:
        graph = _parse_with(source, backend)
    except DotSyntaxError as error:
        raise structure.explain(error) from None
    graph.after_first_graph = structure.after_first_graph
    return graph


def _parse_with(source: DotSource, backend: str) -> RawGraph:
    if backend == "cgraph":
        from dagtui.dot.cgraph_reader import read_cgraph

        return read_cgraph(source)
    from dagtui.dot.pydot_reader import read_pydot

    return read_pydot(source)


def read_dot(path: str | os.PathLike[str], backend: str | None = None, checkpoint: Checkpoint = no_checkpoint) -> RawGraph:
    """Read a DOT file; raises `InputError` or `DotSyntaxError`, never a library's exception
    (`Cancelled` from `checkpoint`, which is called between steps)."""
    source = read_source(path)
    checkpoint()
    return parse_source(source, backend, checkpoint)
