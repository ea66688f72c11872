"""The plain-DOT fast reader gives exactly what cgraph gives, or steps aside: checked on the
samples, the corpus, generated DAGs and fuzzed DOT programs; errors still come from cgraph."""

from __future__ import annotations

import pytest
from helpers import SAMPLES, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtui.dot import read_dot
from dagtui.dot.plain_reader import read_plain
from dagtui.dot.source import DotSource
from dagtui.errors import DotSyntaxError
from dagtui.generate import generate, to_dot
from dagtui.model import ModelSpec, parse_strategy


def everything(graph) -> tuple:
    """All a RawGraph holds, in order: nodes, edges (tail groups, head order), subgraph tree."""
    return (
        graph.name, graph.directed, graph.attrs,
        [(node.id, node.attrs, node.line) for node in graph.nodes.values()],
        [(edge.source, edge.target, edge.attrs) for edge in graph.edges],
        [(c.name, c.attrs, c.nodes, [child.name for child in c.children]) for c in graph.clusters()],
    )


def plain(text: str):
    return read_plain(DotSource(path="fuzz.dot", data=text.encode(), text=text))


def test_samples_take_the_fast_path_and_agree_with_cgraph():
    for sample in sorted(SAMPLES.rglob("*.dot")):
        fast = read_dot(sample, "plain")
        assert fast.backend == "plain", sample
        assert everything(fast) == everything(read_dot(sample, "cgraph")), sample


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is absent")
def test_corpus_agrees_with_cgraph_in_full_order():
    fast_path = 0
    for path in corpus_files():
        try:
            expected = everything(read_dot(path, "cgraph"))
        except DotSyntaxError:
            with pytest.raises(DotSyntaxError):
                read_dot(path, "plain")
            continue
        fast = read_dot(path, "plain")
        fast_path += fast.backend == "plain"
        assert everything(fast) == expected, path.name
    assert fast_path >= len(corpus_files()) // 2  # most real files are plain DOT


def test_generated_dag_takes_the_fast_path(tmp_path):
    spec = ModelSpec(layers=4, hidden_size=1024, heads=8, d_k=128, experts=8, top_k=2, batch_size=8, seq_len=128)
    path = tmp_path / "generated.dot"
    path.write_text(to_dot(generate(spec, parse_strategy("EP4-TP2-PP2-DP1"))))
    fast = read_dot(path, "plain")
    assert fast.backend == "plain" and everything(fast) == everything(read_dot(path, "cgraph"))


@pytest.mark.parametrize("text", [
    "strict digraph G { a -> b }",
    "graph G { a -- b }",
    "digraph G { a:p1 -> b }",
    'digraph G { a [label=<<b>x</b>>] }',
    'digraph G { a [label="x" + "y"] }',
    "digraph G { {a b} -> c }",
    "digraph G { subgraph s { a } -> b }",
    "digraph G { subgraph cluster_a { a } subgraph cluster_a { b } }",
    "digraph G { a -> b [key=k1] }",
    "#line 1\ndigraph G { a }",
    'digraph G { "%1" -> b }',
    "digraph G { 12abc -> x }",
    "digraph G { a [width=1.5.2] }",
])
def test_dot_outside_the_subset_is_left_to_graphviz(write_dot, text):
    assert plain(text) is None
    path = write_dot(text)
    try:
        expected = everything(read_dot(path, "cgraph"))
    except Exception as error:
        with pytest.raises(type(error)):
            read_dot(path, "plain")
    else:
        assert everything(read_dot(path, "plain")) == expected


@pytest.mark.parametrize("text, line", [
    ("digraph G {\n  a -> b\n  c [label=]\n}\n", 3),
    ("digraph G {\n  a -> b;;\n}\n", 2),
    ("digraph G {\n  a -> b -- c\n}\n", 2),
    ('digraph G {\n  a [label="open\n}\n', 3),
])
def test_syntax_errors_still_come_from_cgraph(write_dot, text, line):
    assert plain(text) is None
    with pytest.raises(DotSyntaxError) as caught:
        read_dot(write_dot(text), "plain")
    assert caught.value.line is not None


def test_quoted_ids_keep_escapes_as_cgraph_does():
    graph = plain('digraph G { "a \\"q\\" b" [label="x\\ny\\\\" tooltip="one\\\ntwo"] }')
    node = graph.nodes['a "q" b']
    assert node.attrs == {"label": "x\\ny\\\\", "tooltip": "onetwo"}


# -- fuzzing: random programs in the subset, read by both ------------------------------------
_NAMES = st.sampled_from(["a", "b", "c", "n1", "x_2", '"q z"', "7", '"a\\"b"', "Node0"])
_KEYS = st.sampled_from(["label", "shape", "color", "style"])
_VALUES = st.sampled_from(['""', "box", '"L0 TP1\\nGPU: 0"', "red", "dashed", "1.5"])


@st.composite
def _attr_list(draw) -> str:
    pairs = draw(st.lists(st.tuples(_KEYS, _VALUES), max_size=3))
    separator = draw(st.sampled_from([", ", "; ", " "]))
    return "[" + separator.join(f"{k}={v}" for k, v in pairs) + "]"


@st.composite
def _statements(draw, depth: int, subgraph_names: list[str]) -> list[str]:
    kinds = ["node", "edge", "default", "graph_attr"] + (["subgraph"] if depth < 3 else [])
    lines = []
    for kind in draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=8)):
        if kind == "node":
            lines.append(f"{draw(_NAMES)} {draw(_attr_list()) if draw(st.booleans()) else ''};")
        elif kind == "edge":
            chain = " -> ".join(draw(st.lists(_NAMES, min_size=2, max_size=4)))
            lines.append(f"{chain} {draw(_attr_list()) if draw(st.booleans()) else ''}")
        elif kind == "default":
            lines.append(f"{draw(st.sampled_from(['node', 'edge', 'graph']))} {draw(_attr_list())}")
        elif kind == "graph_attr":
            lines.append(f"{draw(_KEYS)}={draw(_VALUES)}")
        else:
            named = draw(st.booleans())
            name = f"cluster_{len(subgraph_names)}" if named else ""
            if named:
                subgraph_names.append(name)
            inner = draw(_statements(depth + 1, subgraph_names))
            opener = f"subgraph {name} {{" if named else draw(st.sampled_from(["{", "subgraph {"]))
            lines.append(opener + " " + " ".join(inner) + " }")
    return lines


@st.composite
def _programs(draw) -> str:
    body = draw(_statements(0, []))
    return "digraph G {\n  " + "\n  ".join(body) + "\n  a;\n}\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_programs())
def test_fuzzed_programs_agree_with_cgraph(tmp_path, text):
    path = tmp_path / "fuzz.dot"
    path.write_text(text)
    fast = read_dot(path, "plain")
    assert fast.backend == "plain", text
    assert everything(fast) == everything(read_dot(path, "cgraph")), text


@pytest.mark.parametrize("text", [
    "digraph G { subgraph cluster_empty { } a }",
    'digraph G { label="top" subgraph cluster_a { label="top" a } subgraph cluster_b { label="B" b } label="end" c }',
    "digraph G { node [shape=box] a subgraph cluster_a { node [color=red] b subgraph cluster_c { c node [shape=oval] d } e } f }",
    "digraph G { edge [style=dashed] subgraph s { edge [color=red] a -> b } c -> d subgraph t { e -> f } }",
    'digraph G { a [label="x"]; a [label=""]; b [label=""] a -> b [style=""] }',
    "digraph G { graph [rankdir=LR] subgraph cluster_a { graph [rankdir=LR] a } }",
    "digraph G { a -> b; a -> c; c -> b; a -> b; b -> a }",
    'digraph "quoted name" { "a b" -> "c\\nd" [label="e\\\\"] }',
    "digraph G { subgraph cluster_a { a b } { c subgraph cluster_b { a d } } }",
    "DiGraph G { Node [Shape=box] a; EDGE [color=red] a -> b }",
])
def test_tricky_plain_dot_agrees_with_cgraph(write_dot, text):
    path = write_dot(text)
    fast = read_dot(path, "plain")
    assert fast.backend == "plain"
    assert everything(fast) == everything(read_dot(path, "cgraph"))


def test_control_characters_and_deep_nesting_are_left_to_graphviz(write_dot):
    assert plain("digraph G { a\x1cb }") is None
    deep = "digraph G { " + "subgraph { " * 600 + "a" + " }" * 600 + " }"
    assert plain(deep) is None


def test_a_stray_token_is_located_outside_the_quoted_strings_before_it(write_dot):
    # `\n` written between statements (outside any string) after labels that use `\n` as an escape:
    # cgraph says "near '\'", and the column is the stray one's, not the escape's.
    text = 'digraph G {\n  a [label="QKV\\n(Column Parallel)"];\\n  b [label="x"];\n}\n'
    with pytest.raises(DotSyntaxError) as caught:
        read_dot(write_dot(text), "plain")
    assert (caught.value.line, caught.value.column) == (2, text.split("\n")[1].index('];\\n') + 3)
