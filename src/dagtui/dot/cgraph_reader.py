"""Graphviz's own parser (cgraph) through pygraphviz's C-level bindings: the reference for DOT,
used for every file the plain reader leaves to it and for every syntax error.

pygraphviz's AGraph wrappers build a Python object per node and per attribute access, which
costs more than cgraph's parse; we walk the graph with the C-level iteration functions
(`agfstnode`/`agnxtnode`, `agnxtattr`, `agxget`) and read each attribute symbol once.
"""

from __future__ import annotations

import ctypes
import functools
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

# The SWIG extension itself: pygraphviz.graphviz wraps each of its functions in a Python function,
# which doubles the cost of the ~300k calls a large graph's walk makes.
from pygraphviz import _graphviz as cg

from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource
from dagtui.dot.syntax_errors import from_cgraph


def _decode(value: bytes | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


_ERROR_HOOK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p)  # cgraph's `agusererrf`


class _CapturedErrors:
    """cgraph's errors and warnings during one parse, through its own hook (`agseterrf`): they
    reach neither the terminal nor anything else, no file descriptor is touched, and the hook is
    put back afterwards. The hook is one for the process: parses from several threads take turns.
    Where the platform's loader cannot find the hook, cgraph's stderr (file descriptor 2) is
    redirected instead, as a last resort."""

    _turn = threading.Lock()

    def __enter__(self) -> _CapturedErrors:
        self._turn.acquire()
        self._messages: list[str] = []
        self._fallback: _CapturedStderr | None = None
        setter = _error_hook_setter()
        if setter is None:
            self._fallback = _CapturedStderr().__enter__()
        else:
            self._setter = setter
            self._hook = _ERROR_HOOK(self._collect)  # referenced until put back: cgraph calls it
            self._previous = setter(self._hook)
        return self

    def _collect(self, message: bytes) -> int:
        self._messages.append(message.decode("utf-8", errors="replace"))
        return 0

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fallback is not None:
                self._fallback.__exit__(*exc)
                self._messages.append(self._fallback.text)
            else:
                self._setter(self._previous)
        finally:
            self._turn.release()

    @property
    def text(self) -> str:
        return "".join(self._messages)


@functools.cache
def _error_hook_setter() -> Callable[[object], object] | None:
    """cgraph's `agseterrf` (looked up through the extension, which links cgraph), or None where
    the platform's loader cannot resolve it that way."""
    try:
        setter = ctypes.CDLL(cg.__file__).agseterrf
    except (OSError, AttributeError):
        return None
    setter.argtypes = [_ERROR_HOOK]
    setter.restype = _ERROR_HOOK
    return setter


class _CapturedStderr:
    """Redirect file descriptor 2 to a temporary file: where cgraph's hook cannot be set."""

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
    symbols: list[tuple[str, Any]] = []
    symbol = None
    while True:
        try:
            symbol = cg.agnxtattr(root, kind, symbol)
        except StopIteration:
            return symbols
        symbols.append((_decode(cg.agattrname(symbol)), symbol))


def _values(obj: Any, symbols: list[tuple[str, Any]]) -> dict[str, str]:
    values = {}
    for name, symbol in symbols:
        value = cg.agxget(obj, symbol)
        if value:
            values[name] = value.decode("utf-8", errors="replace")
    return values


def _subgraphs(graph: Any, symbols: list[tuple[str, Any]], inherited: dict[str, str]) -> list[RawCluster]:
    clusters = []
    sub = cg.agfstsubg(graph)
    while sub is not None:
        effective = _values(sub, symbols)
        # cgraph copies the parent's graph attributes into a subgraph; keep only what it sets itself.
        own = {key: value for key, value in effective.items() if inherited.get(key) != value}
        members = []
        node = cg.agfstnode(sub)
        while node is not None:
            members.append(_decode(cg.agnameof(node)))
            node = cg.agnxtnode(sub, node)
        children = _subgraphs(sub, symbols, effective)
        name = _graph_name(sub)
        if not name:
            # Anonymous subgraph (cgraph names it %N): keep its named children, drop the grouping.
            clusters.extend(children)
        else:
            nested = {member for child in children for member in child.all_nodes()}
            direct = [member for member in members if member not in nested]
            clusters.append(RawCluster(name, own, direct, children))
        sub = cg.agnxtsubg(sub)
    return clusters


def _parse(source: DotSource) -> Any:
    with tempfile.TemporaryFile() as handle:
        handle.write(source.data)
        handle.seek(0)
        with _CapturedErrors() as captured:
            try:
                root = cg.agread(handle, None)
            except ValueError:
                root = None
    if root is None:
        raise from_cgraph(source.path, captured.text, source.text)
    return root


def read_cgraph(source: DotSource) -> RawGraph:
    """Parse DOT text with cgraph and copy everything dagtui needs into a `RawGraph`."""
    root = _parse(source)
    try:
        node_symbols = _attribute_symbols(root, cg.AGNODE)
        edge_symbols = _attribute_symbols(root, cg.AGEDGE)
        graph_symbols = _attribute_symbols(root, cg.AGRAPH)
        nodes, edges = _nodes_and_edges(root, node_symbols, edge_symbols)
        graph_attrs = _values(root, graph_symbols)
        return RawGraph(
            file=source.path,
            name=_graph_name(root),
            directed=bool(cg.agisdirected(root)),
            attrs=graph_attrs,
            nodes=nodes,
            edges=edges,
            subgraphs=_subgraphs(root, graph_symbols, graph_attrs),
            backend="cgraph",
        )
    finally:
        cg.agclose(root)


def _graph_name(graph: Any) -> str:
    """The graph's or subgraph's name; "" when anonymous (cgraph names those `%N`)."""
    name = _decode(cg.agnameof(graph))
    return "" if name.startswith("%") else name


def _nodes_and_edges(
    root: Any, node_symbols: list[tuple[str, Any]], edge_symbols: list[tuple[str, Any]],
) -> tuple[dict[str, RawNode], list[RawEdge]]:
    """Every node with its attributes and every out-edge, in cgraph's order.

    The hot loop of a load (one pass over ~56k objects on a 19k-node DAG): extension functions are
    bound to locals and edges read no attributes when the file declares none.
    """
    nameof, fstout, nxtout, head, nxtnode = cg.agnameof, cg.agfstout, cg.agnxtout, cg.aghead, cg.agnxtnode
    nodes: dict[str, RawNode] = {}
    edges: list[RawEdge] = []
    node = cg.agfstnode(root)
    while node is not None:
        node_id = nameof(node).decode("utf-8", errors="replace")
        nodes[node_id] = RawNode(node_id, _values(node, node_symbols))
        edge = fstout(root, node)
        while edge is not None:
            target = nameof(head(edge)).decode("utf-8", errors="replace")
            edges.append(RawEdge(node_id, target, _values(edge, edge_symbols) if edge_symbols else {}))
            edge = nxtout(root, edge)
        node = nxtnode(root, node)
    return nodes, edges
