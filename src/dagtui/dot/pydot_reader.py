"""Fallback: parse with pydot (pure Python) when pygraphviz cannot be imported.

pydot keeps statements apart with per-graph sequence numbers but does not apply `node [...]`
and `edge [...]` defaults; we replay the statements in order to apply them as Graphviz does:
a default applies to the nodes created after it in its scope and in scopes nested in it.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping
from typing import Any

import pydot

from dagtui.dot.grammar_check import first_attribute_list_error
from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource
from dagtui.dot.syntax_errors import from_pydot
from dagtui.errors import DotSyntaxError, InputError

_DEFAULT_STATEMENTS = {"node", "edge", "graph"}


def unquote(value: Any) -> str:
    """Undo DOT quoting the way cgraph's scanner does: only `\\"` and line continuations."""
    text = str(value)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace("\\\r\n", "").replace("\\\n", "").replace('\\"', '"')
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        return text[1:-1]
    return text


def _attrs(raw: Mapping[str, Any]) -> dict[str, str]:
    return {unquote(key): unquote(value) for key, value in raw.items()}


def _split_port(point: str) -> tuple[str, str]:
    if point.startswith('"'):
        end = point.rfind('"')
        return unquote(point[: end + 1]), point[end + 2 :]
    node_id, _, port = point.partition(":")
    return node_id, port


class _Replay:
    """Walks pydot's statements in source order, applying defaults and recording membership."""

    def __init__(self) -> None:
        self.nodes: dict[str, RawNode] = {}
        self.edges: list[RawEdge] = []

    def node(self, node_id: str, defaults: dict[str, str], explicit: dict[str, str], members: list[str]) -> None:
        existing = self.nodes.get(node_id)
        if existing is None:
            merged = {key: value for key, value in defaults.items() if value}
            self.nodes[node_id] = RawNode(node_id, merged)
            existing = self.nodes[node_id]
        for key, value in explicit.items():
            if value:
                existing.attrs[key] = value
            else:
                existing.attrs.pop(key, None)
        members.append(node_id)

    def endpoint(self, point: Any, scope: dict[str, dict[str, str]], members: list[str]) -> list[tuple[str, str]]:
        """Create the nodes an edge end names; a subgraph end stands for all its nodes."""
        if isinstance(point, Mapping):
            sub_members: list[str] = []
            self.graph(point, {key: dict(value) for key, value in scope.items()}, sub_members, [])
            members.extend(sub_members)
            return [(member, "") for member in dict.fromkeys(sub_members)]
        node_id, port = _split_port(str(point))
        self.node(node_id, scope["node"], {}, members)
        return [(node_id, port)]

    def graph(
        self, graph: Mapping[str, Any], scope: dict[str, dict[str, str]], members: list[str], clusters: list[RawCluster]
    ) -> dict[str, str]:
        """Replay one graph body; returns the graph attributes it set with `graph [...]`."""
        statements: list[tuple[int, str, Any]] = []
        for name, entries in graph["nodes"].items():
            statements.extend((entry["sequence"], name, entry) for entry in entries)
        for entries in graph["edges"].values():
            statements.extend((entry["sequence"], "->", entry) for entry in entries)
        for entries in graph["subgraphs"].values():
            statements.extend((entry["sequence"], "{}", entry) for entry in entries)
        statements.sort(key=lambda statement: statement[0])
        graph_attrs: dict[str, str] = {}
        for _, name, entry in statements:
            if name in _DEFAULT_STATEMENTS:
                target = graph_attrs if name == "graph" else scope[name]
                target.update(_attrs(entry["attributes"]))
            elif name == "->":
                self._edge(entry, scope, members)
            elif name == "{}":
                self._subgraph(entry, scope, members, clusters)
            else:
                self.node(unquote(name), scope["node"], _attrs(entry["attributes"]), members)
        return graph_attrs

    def _edge(self, entry: Mapping[str, Any], scope: dict[str, dict[str, str]], members: list[str]) -> None:
        source, target = entry["points"]
        tails = self.endpoint(source, scope, members)
        heads = self.endpoint(target, scope, members)
        attrs = {key: value for key, value in {**scope["edge"], **_attrs(entry["attributes"])}.items() if value}
        for tail, tail_port in tails:
            for head, head_port in heads:
                edge_attrs = dict(attrs)
                if tail_port:
                    edge_attrs["tailport"] = tail_port
                if head_port:
                    edge_attrs["headport"] = head_port
                self.edges.append(RawEdge(tail, head, edge_attrs))

    def _subgraph(
        self, entry: Mapping[str, Any], scope: dict[str, dict[str, str]], members: list[str], clusters: list[RawCluster]
    ) -> None:
        inner_members: list[str] = []
        inner_clusters: list[RawCluster] = []
        inner_scope = {key: dict(value) for key, value in scope.items()}
        own = {**_attrs(entry["attributes"]), **self.graph(entry, inner_scope, inner_members, inner_clusters)}
        own = {key: value for key, value in own.items() if value}
        members.extend(inner_members)
        name = unquote(entry["name"])
        if not name:
            # Anonymous subgraphs only group statements; cgraph gives them internal names. Their
            # named children stay in the tree, their members belong to the enclosing graph.
            clusters.extend(inner_clusters)
            return
        nested = {member for child in inner_clusters for member in child.all_nodes()}
        direct = [member for member in dict.fromkeys(inner_members) if member not in nested]
        reopened = next((cluster for cluster in clusters if cluster.name == name), None)
        if reopened is None:
            clusters.append(RawCluster(name, own, direct, inner_clusters))
            return
        # `subgraph cluster_gpu0 { .. }` written twice in one graph is one subgraph, as in cgraph.
        reopened.attrs.update(own)
        known = set(reopened.nodes)
        reopened.nodes.extend(member for member in direct if member not in known)
        reopened.children.extend(inner_clusters)


def _parse(source: DotSource) -> Any:
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            graphs = pydot.graph_from_dot_data(source.text)
        except RecursionError:
            raise InputError(
                f"{source.path}: subgraphs nested too deeply for the pydot parser; install pygraphviz (cgraph) to read it"
            ) from None
        except Exception as error:  # pydot's parser raises assorted types on bad input
            captured.write(str(error))
            graphs = None
    if not graphs:
        raise from_pydot(source.path, captured.getvalue())
    stray = first_attribute_list_error(source.text)
    if stray is not None:
        line, near = stray
        raise DotSyntaxError(source.path, line, None, f"unexpected '{near}'" if near else "unexpected end of file")
    return graphs[0]


def read_pydot(source: DotSource) -> RawGraph:
    """Parse DOT text with pydot and replay it into a `RawGraph` equal to cgraph's."""
    graph = _parse(source)
    replay = _Replay()
    members: list[str] = []
    clusters: list[RawCluster] = []
    scope: dict[str, dict[str, str]] = {"node": {}, "edge": {}}
    graph_attrs = {**_attrs(graph.obj_dict["attributes"])}
    graph_attrs.update(replay.graph(graph.obj_dict, scope, members, clusters))
    graph_attrs = {key: value for key, value in graph_attrs.items() if value}
    _drop_inherited(clusters, graph_attrs)
    _order_members(clusters, {node_id: index for index, node_id in enumerate(replay.nodes)})
    return RawGraph(
        file=source.path,
        name=unquote(graph.get_name()),
        directed=graph.get_type() == "digraph",
        attrs=graph_attrs,
        nodes=replay.nodes,
        edges=replay.edges,
        subgraphs=clusters,
        backend="pydot",
    )


def _order_members(clusters: list[RawCluster], creation: dict[str, int]) -> None:
    """List members in node creation order, as cgraph iterates them."""
    for cluster in clusters:
        cluster.nodes.sort(key=creation.__getitem__)
        _order_members(cluster.children, creation)


def _drop_inherited(clusters: list[RawCluster], inherited: dict[str, str]) -> None:
    """Keep in each subgraph only what differs from its parent, as the cgraph reader does."""
    for cluster in clusters:
        effective = {**inherited, **cluster.attrs}
        cluster.attrs = {key: value for key, value in cluster.attrs.items() if inherited.get(key) != value}
        _drop_inherited(cluster.children, effective)
