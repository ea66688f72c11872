"""Read DOT files into a neutral `RawGraph`: a fast reader for plain DOT, backed by cgraph (via
pygraphviz) for everything else and for errors; pydot where pygraphviz is missing."""

from __future__ import annotations

import os
import re

from dagtui.dot.comments import comments
from dagtui.dot.labels import label_lines
from dagtui.dot.plain_reader import read_plain
from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource, read_source
from dagtui.dot.source_lines import declaration_lines
from dagtui.errors import InputError

__all__ = [
    "BACKENDS", "RawCluster", "RawEdge", "RawGraph", "RawNode", "backend_name", "graphviz_backend", "label_lines",
    "parse_source", "read_dot",
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


# A second top-level graph: a closing brace followed by `digraph`/`graph` (not `subgraph`).
_SECOND_GRAPH = re.compile(r"\}\s*(?:strict\s+)?(?:di)?graph\b[^{;=\]]*\{", re.IGNORECASE)


def parse_source(source: DotSource, backend: str | None = None) -> RawGraph:
    """Parse already-read DOT text with the chosen backend and attach declaration lines."""
    backend = backend or backend_name()
    if _SECOND_GRAPH.search(source.text):
        # cgraph silently reads only the first graph; a file with several is not one deployment.
        raise InputError(f"{source.path}: holds more than one graph; dagtui reads one deployment per file")
    graph = read_plain(source) if backend == "plain" else None
    if graph is None:
        graph = _read_with_graphviz_grammar(source, graphviz_backend() if backend == "plain" else backend)
    if not graph.directed:
        raise InputError(f"{source.path}: an undirected `graph`; deployment DAGs are `digraph`s")
    if not graph.nodes:
        raise InputError(f"{source.path}: the graph holds no nodes; nothing to review")
    graph.comments = comments(source.text)
    lines = declaration_lines(source.text, set(graph.nodes))
    for node_id, node in graph.nodes.items():
        node.line = lines.get(node_id)
    return graph


def _read_with_graphviz_grammar(source: DotSource, backend: str) -> RawGraph:
    if backend == "cgraph":
        from dagtui.dot.cgraph_reader import read_cgraph

        return read_cgraph(source)
    from dagtui.dot.pydot_reader import read_pydot

    return read_pydot(source)


def read_dot(path: str | os.PathLike[str], backend: str | None = None) -> RawGraph:
    """Read a DOT file; raises `InputError` or `DotSyntaxError`, never a library's exception."""
    return parse_source(read_source(path), backend)
