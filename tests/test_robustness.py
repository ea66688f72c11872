"""Bad input never crashes: each case gives dagtui's own error (exit 2 with a message) or loads
and is judged; fuzzed text and mutated samples only ever raise dagtui's errors."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest
from helpers import SAMPLES, by_rule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtui import input_files
from dagtui.cli import main
from dagtui.dot import read_dot
from dagtui.dot.labels import label_lines
from dagtui.errors import DagtuiError
from dagtui.model import build_deployment, load_deployment
from dagtui.model.gpus import parse_placement, parse_ranks
from dagtui.model.shapes import parse_shapes
from dagtui.model.strategy import parse_degrees, parse_strategy
from dagtui.report import OutputError, TargetExists, write_atomic
from dagtui.review import review_file
from dagtui.validate import validate

BACKENDS = ["cgraph", "pydot"]


def cli(capsys, path) -> tuple[int, str]:
    code = main(["check", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name, content, message", [
    ("empty.dot", b"", "empty file"),
    ("binary.dot", bytes(range(256)) * 4, "binary file"),
    ("undirected.dot", b"graph G { a -- b }", "undirected"),
    ("nodes.dot", b"digraph G { label=\"nothing\" }", "no nodes"),
])
def test_unreviewable_files_exit_2_with_a_message(capsys, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    code, err = cli(capsys, path)
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_directory_and_permission(capsys, tmp_path, monkeypatch):
    assert cli(capsys, tmp_path / "missing.dot") == (2, f"dagtui: {tmp_path / 'missing.dot'}: no such file\n")
    code, err = cli(capsys, tmp_path)
    assert code == 2 and "is a directory" in err
    locked = tmp_path / "locked.dot"
    locked.write_text("digraph { a -> b }")

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(input_files, "_open", denied)  # root ignores chmod, so deny the open itself
    code, err = cli(capsys, locked)
    assert code == 2 and "permission denied" in err


def test_huge_file_is_refused_by_size_without_reading_it(capsys, tmp_path):
    path = tmp_path / "huge.dot"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # 50 MB, sparse: the check must not read it
    code, err = cli(capsys, path)
    assert code == 2 and "50.0 MiB is larger than the 32 MiB limit" in err


@pytest.mark.parametrize("backend", BACKENDS)
def test_files_that_load_despite_oddities(tmp_path, backend):
    cases = {
        "latin1.dot": 'digraph { a [label="Expert caf\xe9\\nGPU: 0"]; a -> b }'.encode("latin-1"),
        "duplicates.dot": b'digraph { a [label="Norm" shape=box]; a [label="RMSNorm L0" color=red]; a -> b }',
        "undeclared.dot": b'digraph { a [label="Norm L0"]; a -> ghost; ghost -> b; b [label="Output"] }',
        "nested.dot": ("digraph { " + "subgraph cluster_x { " * 150 + "deep [label=\"MLP L0\"]" + " }" * 150 + " }").encode(),
        "long.dot": ('digraph { a [label="' + "Expert 1 " * 1200 + '"]; a -> b }').encode(),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        os.environ["DAGTUI_DOT_BACKEND"] = backend
        try:
            review = review_file(path)
        finally:
            del os.environ["DAGTUI_DOT_BACKEND"]
        if backend == "pydot" and name == "nested.dot":
            # pyparsing recurses per nesting level; the fallback says so instead of crashing
            assert "nested too deeply" in review.error
            continue
        assert review.deployment is not None, (name, review.error, review.findings)
    assert read_dot(tmp_path / "duplicates.dot", backend).nodes["a"].attrs == {"label": "RMSNorm L0", "shape": "box", "color": "red"}
    assert "caf" in " ".join(load_deployment(tmp_path / "latin1.dot").nodes["a"].label)
    assert by_rule(review_file(tmp_path / "undeclared.dot").findings, "STR005")[0].nodes == ["ghost"]
    assert len(load_deployment(tmp_path / "long.dot").nodes["a"].label[0]) > 10_000


def test_read_only_folder_leaves_nothing(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(OutputError, match="Read-only file system"):
        write_atomic(tmp_path / "report.md", "text")
    assert list(tmp_path.iterdir()) == []


def test_export_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    with pytest.raises(TargetExists, match="already exists; --force replaces it"):
        write_atomic(target, "new")  # not without being told to
    assert target.read_text() == "old"
    write_atomic(target, "new", force=True)
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o640


# -- fuzzing -------------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parsers_never_raise_on_random_text(text):
    label_lines(text, "n")
    parse_shapes(text)
    parse_placement(text)
    parse_ranks(text)
    parse_degrees(text)
    try:
        parse_strategy(text)
    except DagtuiError as error:
        assert "cannot read a parallel strategy" in str(error)  # our own error, with a message


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"\[[a-z_0-9=?*/+ ,\-\[\]]{0,40}\]( x\d{1,3})?", fullmatch=True))
def test_shape_parser_on_shape_like_text(text):
    for shape in parse_shapes(text):
        assert isinstance(shape.dims, tuple)


SAMPLE_TEXT = (SAMPLES / "current.dot").read_text()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_loader_on_mutated_samples(tmp_path, data):
    text = SAMPLE_TEXT
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(text)))
        action = data.draw(st.sampled_from(["delete", "insert", "truncate"]))
        if action == "delete":
            text = text[:position] + text[position + data.draw(st.integers(1, 40)):]
        elif action == "insert":
            text = text[:position] + data.draw(st.text(alphabet='{}[]";=->\\n\n abcGPU:0123', max_size=12)) + text[position:]
        else:
            text = text[:position]
    path = tmp_path / "mutated.dot"
    path.write_text(text)
    backend = data.draw(st.sampled_from(BACKENDS))
    try:
        deployment = build_deployment(read_dot(path, backend))
    except DagtuiError:
        return
    assert deployment.nodes
    validate(deployment)  # the validator must take whatever the loader accepts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_loader_on_random_text(tmp_path, text):
    path = tmp_path / "random.dot"
    path.write_text(text)
    try:
        load_deployment(path)
    except DagtuiError as error:
        assert str(error)  # our own error with a message is the only acceptable failure
