"""The DOT readers: plain, cgraph and pydot give the same raw graph; syntax errors carry cgraph's line;
library output never reaches the terminal; bad files give clear errors."""

from __future__ import annotations

import os
import sys
import threading

import pytest
from helpers import SAMPLES, corpus_files

from dagtui.dot import read_dot
from dagtui.dot.cgraph_reader import _error_hook_setter
from dagtui.errors import DotSyntaxError, InputError

BACKENDS = ["plain", "cgraph", "pydot"]


def normalised(graph):
    return (
        graph.name, graph.directed, graph.attrs,
        {node_id: (node.attrs, node.line) for node_id, node in graph.nodes.items()}, list(graph.nodes),
        sorted((e.source, e.target, sorted(e.attrs.items())) for e in graph.edges),
        [(c.name, c.attrs, c.nodes) for c in graph.clusters()],
    )


DEFAULTS = """digraph G {
  label="EP64-TP8"
  a;
  node [shape=box];
  b;
  subgraph cluster_x { label="Stage 0"; node [color=red]; c; a; a2 [label="x\\ny"]; }
  d -> c;
  b -> c [style=dashed];
  b -> c;
  edge [color=blue];
  c -> e;
}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_defaults_apply_as_graphviz_applies_them(write_dot, backend):
    graph = read_dot(write_dot(DEFAULTS), backend)
    assert graph.nodes["a"].attrs == {}  # created before `node [shape=box]`
    assert graph.nodes["b"].attrs == {"shape": "box"}
    assert graph.nodes["c"].attrs == {"shape": "box", "color": "red"}
    assert graph.nodes["a2"].attrs["label"] == "x\\ny"
    assert graph.nodes["d"].attrs == {"shape": "box"}  # created by an edge, at root scope
    assert graph.nodes["e"].attrs == {"shape": "box"}
    assert [(e.source, e.target) for e in graph.edges].count(("b", "c")) == 2  # parallel edges kept
    assert any(e.attrs.get("color") == "blue" for e in graph.edges if e.target == "e")
    (cluster,) = graph.subgraphs
    assert cluster.label == "Stage 0" and cluster.nodes == ["a", "c", "a2"]
    assert graph.attrs["label"] == "EP64-TP8" and graph.name == "G"
    assert graph.nodes["a2"].line == 6 and graph.nodes["d"].line == 7


def test_backends_agree_on_samples():
    for sample in sorted(SAMPLES.glob("*.dot")):
        expected = normalised(read_dot(sample, "cgraph"))
        assert normalised(read_dot(sample, "pydot")) == expected, sample
        assert normalised(read_dot(sample, "plain")) == expected, sample


# pydot needs about 3 GB and 15 s per MB of DOT: the two 3 MB corpus files alone would take 20 GB.
PYDOT_COMPARED_BELOW = 300_000


# Statements Graphviz's grammar accepts and pydot's does not: on these files the pydot fallback
# reports a syntax error (with its line) where cgraph and the plain reader read the graph.
PYDOT_REJECTS = {
    # `{output_0 output_1} [label="..."]`: an anonymous subgraph with an attribute list (cgraph's
    # `compound: simple rcompound optattr`, with no edge) gives its nodes those attributes.
    "2025-10-16-18-18-15__fa_pool_long_sequence_dag.dot",
}
# And the other way: `{Expert0_GPU12 Expert1_GPU12 ... Expert15_GPU15}` (`...` is no DOT ID), a
# syntax error for Graphviz, which pydot reads as a node named `...`. cgraph is the reference.
PYDOT_ACCEPTS = {"2025-10-17-10-32-58__ma_separation_dag.dot"}


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is absent")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:50])
def test_backends_agree_on_corpus(path):
    results = []
    pydot_compared = path.stat().st_size < PYDOT_COMPARED_BELOW and path.name not in PYDOT_REJECTS | PYDOT_ACCEPTS
    backends = BACKENDS if pydot_compared else [b for b in BACKENDS if b != "pydot"]
    for backend in backends:
        try:
            results.append(normalised(read_dot(path, backend)))
        except DotSyntaxError as error:
            assert error.line is not None, f"{backend}: no line in {error}"
            results.append("syntax error")
    assert all(result == results[0] for result in results[1:])


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is absent")
@pytest.mark.parametrize("name", sorted(PYDOT_REJECTS))
def test_pydot_rejects_with_a_line_what_graphviz_accepts(name):
    path = corpus_files()[0].parent / name
    assert read_dot(path, "cgraph").nodes == read_dot(path, "plain").nodes
    with pytest.raises(DotSyntaxError) as raised:
        read_dot(path, "pydot")
    assert raised.value.line is not None


@pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is absent")
@pytest.mark.parametrize("name", sorted(PYDOT_ACCEPTS))
def test_pydot_reads_what_graphviz_rejects(name):
    path = corpus_files()[0].parent / name
    for backend in ("cgraph", "plain"):
        with pytest.raises(DotSyntaxError):
            read_dot(path, backend)
    assert read_dot(path, "pydot").nodes


@pytest.mark.parametrize("backend", BACKENDS)
def test_syntax_error_has_line_and_one_wording(write_dot, backend):
    path = write_dot("digraph {\n a -> b\n c [label=\"x\"]\n d -> -> e\n}\n")
    with pytest.raises(DotSyntaxError) as caught:
        read_dot(path, backend)
    assert caught.value.line == 4
    assert caught.value.reason.startswith("unexpected '")
    assert str(caught.value).startswith(f"{path}:4")


@pytest.mark.parametrize("backend", BACKENDS)
def test_junk_before_the_graph_is_an_error_on_line_one(write_dot, backend):
    with pytest.raises(DotSyntaxError) as raised:
        read_dot(write_dot("'\ndigraph { a -> b }\n"), backend)
    assert (raised.value.line, raised.value.reason) == (1, "unexpected '''")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_subgraph_written_twice_is_one_subgraph(write_dot, backend):
    graph = read_dot(write_dot('digraph {\n subgraph cluster_gpu0 { label="GPU 0"; a; }\n'
                               ' subgraph cluster_gpu0 { b; }\n subgraph cluster_gpu1 { c; }\n}\n'), backend)
    assert [(c.name, c.label, c.nodes) for c in graph.subgraphs] == [
        ("cluster_gpu0", "GPU 0", ["a", "b"]), ("cluster_gpu1", "", ["c"]),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_valueless_attribute_is_rejected_as_graphviz_does(write_dot, backend):
    path = write_dot('digraph {\n a -> b\n b -> c [label=routed tokens];\n}\n')
    with pytest.raises(DotSyntaxError) as caught:
        read_dot(path, backend)
    assert caught.value.line == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_library_output_never_reaches_the_terminal(write_dot, capfd, backend):
    with pytest.raises(DotSyntaxError):
        read_dot(write_dot("digraph { a -> ; }"), backend)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_html_labels_and_quoted_ids(write_dot, backend):
    graph = read_dot(write_dot('digraph { "node one" [label=<<b>Expert 3</b><br/>GPU: 3>]; "node one" -> b }'), backend)
    assert "node one" in graph.nodes
    assert "Expert 3" in graph.nodes["node one"].attrs["label"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary file"),
    (b"graph { a -- b }", "undirected"),
])
def test_bad_input_gives_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.dot"
    path.write_bytes(content)
    for backend in BACKENDS:
        with pytest.raises(InputError, match=message):
            read_dot(path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_after_the_first_graph_is_noted_with_its_line(tmp_path, backend):
    path = tmp_path / "two.dot"
    path.write_bytes(b"digraph a { x }\n// the other one\ndigraph b { y }\n")
    graph = read_dot(path, backend)
    assert list(graph.nodes) == ["x"] and graph.after_first_graph == 3  # SYN002 reports it


def test_missing_and_directory(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_dot(tmp_path / "nope.dot")
    with pytest.raises(InputError, match="is a directory"):
        read_dot(tmp_path)


def test_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.dot"
    path.write_text("digraph { a -> b }\n" + "// padding\n" * 200)
    monkeypatch.setenv("DAGTUI_MAX_BYTES", "100")
    with pytest.raises(InputError, match="larger than"):
        read_dot(path)


@pytest.mark.parametrize("backend", BACKENDS)
def test_declaration_line_is_the_nodes_own_statement(write_dot, backend):
    text = 'digraph G {\n  a -> b;\n  b [label="B"];\n  a [label="A"];\n  c -> d -> e;\n  "quoted id" [label="Q"];\n}\n'
    graph = read_dot(write_dot(text), backend)
    lines = {node_id: node.line for node_id, node in graph.nodes.items()}
    # Own statement where there is one (the line with the label), else the first edge or mention.
    assert lines == {"a": 4, "b": 3, "c": 5, "d": 5, "e": 5, "quoted id": 6}


@pytest.mark.parametrize("backend", BACKENDS)
def test_anonymous_graph_and_subgraph(write_dot, backend):
    # cgraph names anonymous graphs `%N` internally; neither shows up as a name.
    graph = read_dot(write_dot("digraph {\n  a -> b;\n  subgraph { c; }\n}\n"), backend)
    assert graph.name == "" and set(graph.nodes) == {"a", "b", "c"}
    assert graph.subgraphs == []  # an anonymous subgraph groups nothing by name


@pytest.mark.skipif(not sys.platform.startswith(("linux", "darwin")), reason="loader-specific lookup")
def test_cgraph_errors_come_through_its_hook_without_touching_the_process(write_dot, monkeypatch):
    # Linux and macOS loaders resolve cgraph's agseterrf through the extension that links it: no
    # file descriptor is redirected (the explorer's screen may be writing meanwhile), no thread is
    # started, and the messages are cgraph's own.
    assert _error_hook_setter() is not None

    def no_redirection(*args):
        raise AssertionError("a file descriptor was redirected")

    broken, ambiguous = write_dot("digraph G {\n  a -> b\n  c [label=]\n}\n"), write_dot("digraph G { 12abc -> x }")
    threads = threading.active_count()
    with monkeypatch.context() as patched:  # only while reading: pytest's own capture redirects
        patched.setattr(os, "dup2", no_redirection)
        with pytest.raises(DotSyntaxError) as caught:
            read_dot(broken, "cgraph")
        assert list(read_dot(ambiguous, "cgraph").nodes) == ["12", "abc", "x"]  # after a warning
    assert (caught.value.line, caught.value.reason) == (3, "unexpected ']'")
    assert threading.active_count() == threads


def test_many_reads_in_a_row_free_each_graph(write_dot):
    path = write_dot("digraph G { a -> b; b -> c; }")
    for _ in range(200):
        assert list(read_dot(path, "cgraph").nodes) == ["a", "b", "c"]


def test_without_pygraphviz_graphviz_grammar_falls_back_to_pydot(write_dot, monkeypatch):
    # Where pygraphviz has no wheel it is not installed (pyproject's environment marker): what the
    # plain reader hands on (here an HTML label) is read by pydot, with the same result.
    from dagtui.dot import graphviz_backend

    path = write_dot('digraph { a [label=<<b>Expert 3</b><br/>GPU: 3>]; a -> b }')
    expected = normalised(read_dot(path, "cgraph"))
    monkeypatch.setitem(sys.modules, "pygraphviz._graphviz", None)  # `import` now raises ImportError
    assert graphviz_backend() == "pydot"
    assert normalised(read_dot(path, "plain")) == expected
