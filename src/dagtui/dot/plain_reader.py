"""Fast path for plain DOT: the subset deployment DAGs are written in, read with one regex
tokenizer and a small recursive-descent parser, giving exactly the `RawGraph` cgraph gives.

Why a reader of our own: on a 4 MB, 19k-node DAG cgraph's parse alone takes 0.4-0.5 s and
copying its result out through pygraphviz another 0.2 s (benchmarks/bench_load.py); this reader
does both in about half that. Graphviz stays the reference: anything outside the subset below,
and every syntax error, is left to cgraph (`read_plain` returns None), so this reader never
accepts a file Graphviz rejects and never words an error itself.

The subset: `digraph [ID] { ... }` with node, edge (`a -> b -> c`), attribute (`node [..]`,
`edge [..]`, `graph [..]`, `k = v`) and subgraph statements, nested subgraphs, bare, numeral
and double-quoted IDs, `//` and `/* */` comments. Outside it: `strict`, undirected graphs,
ports, HTML IDs (`<...>`), `+` concatenation, subgraphs as edge ends, `#` lines, a subgraph
opened twice, the edge `key` attribute, names cgraph reserves (`%...`), control characters,
subgraphs nested deeper than Python's recursion allows.

Semantics follow cgraph's (lib/cgraph/grammar.y and attr.c), checked against it on the
samples, the corpus and generated DOT (tests/test_plain_reader.py):
- node and edge defaults apply when a node or edge is created, from its scope and the scopes
  around it as they stand then; nodes created earlier, or only mentioned later, keep theirs;
- a subgraph's graph attributes start as a copy of its parent's and are reported where they
  differ from the parent's final ones (as the cgraph walk reports them);
- attributes set to "" count as unset; nodes come in creation order, edges grouped by tail in
  node order and, within a tail, by head node in node order (then creation), subgraph members
  in node order.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.dot.source import DotSource
from dagtui.dot.token_lines import KEYWORDS, read_lines
from dagtui.errors import Checkpoint, no_checkpoint

# One token per match; whitespace is skipped by `findall` itself. Quoted strings take escaped
# pairs whole, as cgraph's lexer does (`\\` then `"` ends a string).
_TOKEN = re.compile(
    r"\n"  # a line break: the parser skips these; lines are counted from them (token_lines)
    r'|"[^"\\]*(?:\\[\s\S][^"\\]*)*"'  # quoted ID
    r"|->|--"  # edge operators
    r"|[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*"  # bare ID or keyword
    r"|-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?![A-Za-z_0-9.\x80-\U0010ffff])"  # numeral, delimited
    r"|-?[.0-9][A-Za-z_0-9.\x80-\U0010ffff]*"  # a numeral run into letters (`12abc`): cgraph splits it
    r"|//[^\n]*|/\*[\s\S]*?\*/"  # comments
    r"|\S"  # anything else: punctuation, or a character outside the subset
)
_PUNCTUATION = frozenset("[]{};,=")
_NUMERAL = re.compile(r"-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)")
_ESCAPED_PAIR = re.compile(r"\\([\s\S])")
_END = ""  # after the last token; no token is empty
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class _OutsideSubset(Exception):
    """The text uses DOT this reader leaves to cgraph."""


def read_plain(source: DotSource, checkpoint: Checkpoint = no_checkpoint) -> RawGraph | None:
    """Read plain DOT into a `RawGraph` with its nodes' lines and its comments, or None when the
    text is outside the subset (or wrong). `checkpoint` is called between tokens, parse and lines."""
    if _CONTROL.search(source.text):
        return None  # cgraph's lexer and Python's idea of whitespace differ on these
    parser = _Parser(source)
    checkpoint()
    try:
        graph = parser.parse()
    except (_OutsideSubset, RecursionError):  # subgraphs nested hundreds deep: cgraph's to judge
        return None
    checkpoint()
    found = read_lines(parser.raw_tokens, source, graph.nodes)
    if found is None:
        from dagtui.dot.source_lines import lines_from_text

        lines_from_text(graph, source.text)
    else:
        declarations, graph.comments = found
        declarations.apply(graph.nodes)
    return graph


@dataclass(eq=False)
class _Scope:
    """The root graph or one subgraph while it is read."""

    name: str
    parent: _Scope | None
    node_defaults: dict[str, str]  # as seen from here: the parent's when opened, then our own
    edge_defaults: dict[str, str]
    graph_attrs: dict[str, str]  # effective: the parent's when opened, then our own
    members: set[str] = field(default_factory=set)
    children: list[_Scope] = field(default_factory=list)

    def open_child(self, name: str) -> _Scope:
        child = _Scope(name, self, dict(self.node_defaults), dict(self.edge_defaults), dict(self.graph_attrs))
        self.children.append(child)
        return child


def _spellings(word: str) -> list[str]:
    """`word` in every mix of upper and lower case."""
    return ["".join(letters) for letters in itertools.product(*((c.lower(), c.upper()) for c in word))]


# Keywords ignore case: each spelling of each (512 in all), so that a token is looked up once.
_KEYWORD_SPELLINGS = {spelling: keyword for keyword in KEYWORDS for spelling in _spellings(keyword)}


def _keyword(token: str) -> str:
    """The keyword a token is, lower-cased (keywords ignore case), or "" for anything else."""
    return _KEYWORD_SPELLINGS.get(token, "")


def _unquote(token: str) -> str:
    """A quoted ID's text as cgraph keeps it: `\\"` becomes `"`, an escaped newline disappears,
    every other escape stays as written (labels are unescaped later, by `label_lines`)."""
    body = token[1:-1]
    if '\\"' not in body and "\\\n" not in body:
        return body  # the common case: escapes like `\n` in labels stay as they are
    return _ESCAPED_PAIR.sub(lambda m: '"' if m[1] == '"' else "" if m[1] == "\n" else m[0], body)


class _Parser:
    def __init__(self, source: DotSource) -> None:
        self.source = source
        self.raw_tokens = _TOKEN.findall(source.text)  # line breaks and comments included
        if "//" in source.text or "/*" in source.text:  # a `/` alone (`4096/TP8` in labels) is no comment
            tokens = [token for token in self.raw_tokens if token != "\n" and not token.startswith(("//", "/*"))]
        else:
            tokens = list(filter("\n".__ne__, self.raw_tokens))
        tokens.append(_END)  # the sentinel spares every look-ahead a bounds check
        self.tokens = tokens
        self.position = 0
        self.nodes: dict[str, dict[str, str]] = {}
        self.out_edges: dict[str, list[RawEdge]] = {}
        self.subgraph_names: set[str] = set()

    # -- tokens --------------------------------------------------------------------------------
    def _next(self) -> str:
        token = self.tokens[self.position]
        if token == _END:
            raise _OutsideSubset("unexpected end")
        self.position += 1
        return token

    def _peek(self) -> str:
        return self.tokens[self.position]

    def _expect(self, wanted: str) -> None:
        if self._next() != wanted:
            raise _OutsideSubset(f"expected {wanted}")

    def _id(self, token: str) -> str:
        """The ID a token stands for; raises for keywords, punctuation and anything else."""
        if token == _END:
            raise _OutsideSubset("unexpected end")
        first = token[0]
        if first == '"':
            if len(token) < 2:
                raise _OutsideSubset("unterminated string")
            return _unquote(token)
        if first.isalpha() or first == "_" or first >= "\x80":
            if _keyword(token):
                raise _OutsideSubset("keyword where an ID belongs")
            return token
        if first.isdigit() or (first in ".-" and len(token) > 1 and token not in ("->", "--")):
            if _NUMERAL.fullmatch(token) is None:
                raise _OutsideSubset("a badly delimited number")  # cgraph warns and splits it
            return token
        raise _OutsideSubset(f"not an ID: {token!r}")

    # -- grammar -------------------------------------------------------------------------------
    def parse(self) -> RawGraph:
        if self._next().lower() != "digraph":
            raise _OutsideSubset("not a plain digraph")
        name = ""
        if self._peek() != "{":
            name = self._reserved_checked(self._id(self._next()))
        self._expect("{")
        root = _Scope(name, None, {}, {}, {})
        self._statements(root)
        if self.tokens[self.position] != _END:
            raise _OutsideSubset("text after the graph")
        return self._raw_graph(root)

    def _statements(self, scope: _Scope) -> None:
        """Statements up to and including the scope's closing brace."""
        # The loops over tokens here and in `_attribute_lists` index the list themselves rather
        # than call `_next`/`_peek`: they run once per token, and the calls were a fifth of the
        # reader's time on a 19k-node DAG.
        tokens = self.tokens
        while True:
            token = tokens[self.position]
            if token == _END:
                raise _OutsideSubset("unexpected end")
            self.position += 1
            if token == "}":
                return
            self._statement(scope, token)
            if tokens[self.position] == ";":
                self.position += 1

    def _statement(self, scope: _Scope, token: str) -> None:
        keyword = _keyword(token)
        if keyword in ("node", "edge", "graph"):
            if self._peek() != "[":
                raise _OutsideSubset("attribute statement without a list")
            attrs = self._attribute_lists()
            target = {"node": scope.node_defaults, "edge": scope.edge_defaults, "graph": scope.graph_attrs}[keyword]
            target.update(attrs)
            return
        if keyword == "subgraph" or token == "{":
            name = ""
            if keyword == "subgraph":
                name = "" if self._peek() == "{" else self._reserved_checked(self._id(self._next()))
                self._expect("{")
            if name:
                if name in self.subgraph_names:
                    raise _OutsideSubset("subgraph opened twice")
                self.subgraph_names.add(name)
            self._statements(scope.open_child(name))
            if self._peek() in ("->", "--"):
                raise _OutsideSubset("subgraph as an edge end")
            return
        first = self._id(token)
        following = self._peek()
        if following == "=":
            self.position += 1
            scope.graph_attrs[first] = self._id(self._next())
        elif following == "->":
            self._edge_statement(scope, first)
        else:
            self._node(scope, first).update(self._attribute_lists())

    def _edge_statement(self, scope: _Scope, first: str) -> None:
        tokens = self.tokens
        ends = [first]
        self._node(scope, first)
        while tokens[self.position] == "->":
            ends.append(self._id(tokens[self.position + 1]))  # a subgraph here is not an ID: raises
            self.position += 2
            self._node(scope, ends[-1])
        if tokens[self.position] == "--":
            raise _OutsideSubset("undirected edge in a digraph")
        explicit = self._attribute_lists()
        if "key" in explicit:
            raise _OutsideSubset("edge key")
        defaults = scope.edge_defaults
        for tail, head in itertools.pairwise(ends):
            attrs = {**defaults, **explicit} if defaults else dict(explicit)
            self.out_edges.setdefault(tail, []).append(RawEdge(tail, head, attrs))

    def _attribute_lists(self) -> dict[str, str]:
        """Zero or more `[k=v, ...]` lists, merged; a later value wins."""
        attrs: dict[str, str] = {}
        tokens, position = self.tokens, self.position
        while tokens[position] == "[":
            position += 1
            while True:
                token = tokens[position]
                position += 1
                if token == "]":
                    break
                if token == "," or token == ";":
                    continue
                key = self._id(token)  # raises at the end sentinel too
                if tokens[position] != "=":
                    raise _OutsideSubset("expected =")
                attrs[key] = self._id(tokens[position + 1])
                position += 2
        self.position = position
        return attrs

    def _node(self, scope: _Scope, node_id: str) -> dict[str, str]:
        """The node's attributes, creating it with the defaults in force here if it is new; the
        node becomes a member of this scope and every scope around it."""
        attrs = self.nodes.get(node_id)
        if attrs is None:
            if node_id.startswith("%"):
                raise _OutsideSubset("a name cgraph reserves")
            attrs = self.nodes[node_id] = dict(scope.node_defaults)
        member_of = scope
        while member_of.parent is not None:  # the root holds every node: no member list
            member_of.members.add(node_id)
            member_of = member_of.parent
        return attrs

    @staticmethod
    def _reserved_checked(name: str) -> str:
        if name.startswith("%"):
            raise _OutsideSubset("a name cgraph reserves")
        return name

    # -- result --------------------------------------------------------------------------------
    def _raw_graph(self, root: _Scope) -> RawGraph:
        order = {node_id: index for index, node_id in enumerate(self.nodes)}
        nodes = {node_id: RawNode(node_id, _set_only(attrs)) for node_id, attrs in self.nodes.items()}
        edges: list[RawEdge] = []
        for node_id in self.nodes:
            out = self.out_edges.get(node_id)
            if out:
                if len(out) > 1:  # cgraph keeps out-edges ordered by head node, then by creation
                    out.sort(key=lambda edge: order[edge.target])
                edges.extend(out)
        for edge in edges:
            if edge.attrs:
                edge.attrs = _set_only(edge.attrs)
        root_attrs = _set_only(root.graph_attrs)
        return RawGraph(
            file=self.source.path,
            name=root.name,
            directed=True,
            attrs=root_attrs,
            nodes=nodes,
            edges=edges,
            subgraphs=_clusters(root, root_attrs, order),
            backend="plain",
        )


def _set_only(attrs: dict[str, str]) -> dict[str, str]:
    """cgraph reports an attribute set to "" as not set."""
    return {key: value for key, value in attrs.items() if value} if "" in attrs.values() else attrs


def _clusters(scope: _Scope, effective: dict[str, str], order: dict[str, int]) -> list[RawCluster]:
    """The named subgraphs under `scope` as the cgraph walk reports them: anonymous ones give
    their named children to their parent; members are listed once, in node order, at the
    deepest named subgraph that holds them."""
    clusters: list[RawCluster] = []
    for child in scope.children:
        child_effective = _set_only(child.graph_attrs)
        children = _clusters(child, child_effective, order)
        if not child.name:
            clusters.extend(children)
            continue
        own = {key: value for key, value in child_effective.items() if effective.get(key) != value}
        nested = {member for grandchild in children for member in grandchild.all_nodes()}
        direct = sorted((m for m in child.members if m not in nested), key=order.__getitem__)
        clusters.append(RawCluster(child.name, own, direct, children))
    return clusters
