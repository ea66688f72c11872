"""Fast path: parse with Graphviz's own cgraph through pygraphviz's C-level bindings.

pygraphviz's AGraph wrappers build a Python object per node and per attribute access, which
costs more than cgraph's parse; we walk the graph with the C-level iteration functions
(`agfstnode`/`agnxtnode`, `agnxtattr`, `agxget`) and read each attribute symbol once.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pygraphviz.graphviz as gv

from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource
from dagtui.dot.syntax_errors import from_cgraph


def _decode(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class _CapturedStderr:
    """Redirect file descriptor 2 to a temporary file: cgraph writes its errors there directly."""

    def __enter__(self) -> _CapturedStderr:
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", errors="replace")
        self._file.close()


def _attribute_symbols(root: Any, kind: int) -> list[tuple[str, Any]]:
    symbols = []
    symbol = None
    while True:
        try:
            symbol = gv.agnxtattr(root, kind, symbol)
        except StopIteration:
            return symbols
        symbols.append((_decode(gv.agattrname(symbol)), symbol))


def _values(obj: Any, symbols: list[tuple[str, Any]]) -> dict[str, str]:
    values = {}
    for name, symbol in symbols:
        value = gv.agxget(obj, symbol)
        if value:
            values[name] = _decode(value)
    return values


def _subgraphs(graph: Any, symbols: list[tuple[str, Any]], inherited: dict[str, str]) -> list[RawCluster]:
    clusters = []
    sub = gv.agfstsubg(graph)
    while sub is not None:
        effective = _values(sub, symbols)
        # cgraph copies the parent's graph attributes into a subgraph; keep only what it sets itself.
        own = {key: value for key, value in effective.items() if inherited.get(key) != value}
        members = []
        node = gv.agfstnode(sub)
        while node is not None:
            members.append(_decode(gv.agnameof(node)))
            node = gv.agnxtnode(sub, node)
        children = _subgraphs(sub, symbols, effective)
        name = _decode(gv.agnameof(sub))
        if not name or name.startswith("%"):
            # Anonymous subgraph (cgraph names it %N): keep its named children, drop the grouping.
            clusters.extend(children)
        else:
            nested = {member for child in children for member in child.all_nodes()}
            direct = [member for member in members if member not in nested]
            clusters.append(RawCluster(name, own, direct, children))
        sub = gv.agnxtsubg(sub)
    return clusters


def _parse(source: DotSource) -> Any:
    with tempfile.TemporaryFile() as handle:
        handle.write(source.data)
        handle.seek(0)
        with _CapturedStderr() as captured:
            try:
                root = gv.agread(handle, None)
            except ValueError:
                root = None
    if root is None:
        raise from_cgraph(source.path, captured.text, source.text)
    return root


def read_cgraph(source: DotSource) -> RawGraph:
    """Parse DOT text with cgraph and copy everything dagtui needs into a `RawGraph`."""
    root = _parse(source)
    try:
        node_symbols = _attribute_symbols(root, gv.AGNODE)
        edge_symbols = _attribute_symbols(root, gv.AGEDGE)
        graph_symbols = _attribute_symbols(root, gv.AGRAPH)
        nodes: dict[str, RawNode] = {}
        edges: list[RawEdge] = []
        node = gv.agfstnode(root)
        while node is not None:
            node_id = _decode(gv.agnameof(node))
            nodes[node_id] = RawNode(node_id, _values(node, node_symbols))
            edge = gv.agfstout(root, node)
            while edge is not None:
                head = _decode(gv.agnameof(gv.aghead(edge)))
                edges.append(RawEdge(node_id, head, _values(edge, edge_symbols)))
                edge = gv.agnxtout(root, edge)
            node = gv.agnxtnode(root, node)
        graph_attrs = _values(root, graph_symbols)
        return RawGraph(
            file=source.path,
            name=_decode(gv.agnameof(root)),
            directed=bool(gv.agisdirected(root)),
            attrs=graph_attrs,
            nodes=nodes,
            edges=edges,
            subgraphs=_subgraphs(root, graph_symbols, graph_attrs),
            backend="cgraph",
        )
    finally:
        gv.agclose(root)
