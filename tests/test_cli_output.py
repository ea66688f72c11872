"""The command line as ruff and pytest users expect it (issue 13): no file destroyed (inputs never,
existing files only with --force), the format from --output's name, the concise one-line format
by default in a pipe, finding ids in the text report, and the explorer's command failing or
reporting before it takes over the screen."""

from __future__ import annotations

import json
import re
import shutil
import sys

import pytest
from helpers import SAMPLES

from dagtui.cli import main

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")
CONCISE_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z]{3}\d{3}) \[(error|warning|info)\] \S")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def inputs(tmp_path, monkeypatch):
    """Copies of the samples in a folder of their own (the current folder, with a dagtui.yaml)."""
    for name in ("current.dot", "new.dot", "model.yaml"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    (tmp_path / "dagtui.yaml").write_text("fail_on: error\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- never over a file the run read; an existing file only with --force ------------------------------
@pytest.mark.parametrize("target", ["current.dot", "model.yaml", "dagtui.yaml"])
@pytest.mark.parametrize("force", [False, True])
def test_check_never_writes_over_a_file_it_read(capsys, inputs, target, force):
    before = (inputs / target).read_bytes()
    args = ["check", "current.dot", "--model", "model.yaml", "--output", target, *(["--force"] if force else [])]
    code, _, err = run(capsys, *args)
    assert code == 2 and "refusing to overwrite an input" in err
    assert (inputs / target).read_bytes() == before


def test_check_replaces_an_existing_file_only_with_force(capsys, inputs):
    report = inputs / "report.md"
    report.write_text("my notes\n")
    code, _, err = run(capsys, "check", "current.dot", "--output", "report.md")
    assert code == 2 and "already exists" in err and "--force" in err
    assert report.read_text() == "my notes\n"
    code, _, err = run(capsys, "check", "current.dot", "--output", "report.md", "--force")
    assert code == 1 and report.read_text().startswith("# DAG Analysis Report") and "wrote markdown" in err
    assert sorted(path.name for path in inputs.iterdir()) == ["current.dot", "dagtui.yaml", "model.yaml", "new.dot", "report.md"]


def test_generate_never_writes_over_an_input_and_replaces_only_with_force(capsys, inputs):
    before = (inputs / "current.dot").read_bytes()
    generate = ["generate", "--model", "model.yaml", "--strategy", "EP4-TP2-PP2-DP1", "--layers", "2"]
    code, _, err = run(capsys, *generate, "-o", "current.dot")  # an existing file: not without --force
    assert code == 2 and "already exists" in err and (inputs / "current.dot").read_bytes() == before
    code, _, err = run(capsys, *generate, "-o", "model.yaml", "--force")  # the model it reads: never
    assert code == 2 and "refusing to overwrite an input" in err
    assert (inputs / "model.yaml").read_bytes() == (SAMPLES / "model.yaml").read_bytes()
    code, _, _ = run(capsys, *generate, "-o", "current.dot", "--force")
    assert code == 0 and (inputs / "current.dot").read_bytes() != before
    assert (inputs / "current.dot").read_text().startswith("digraph")


# -- the format from the file's name -------------------------------------------------------------
@pytest.mark.parametrize("name, parse", [
    ("report.json", lambda text: json.loads(text)["deployments"][0]["strategy"] == "EP64-TP8-PP2-DP2"),
    ("report.sarif", lambda text: json.loads(text)["version"] == "2.1.0"),
    ("report.sarif.json", lambda text: json.loads(text)["version"] == "2.1.0"),
    ("report.md", lambda text: text.startswith("# DAG Analysis Report")),
    ("report.MARKDOWN", lambda text: text.startswith("# DAG Analysis Report")),
    ("report.txt", lambda text: "F1 ATT002 Attention block wired incorrectly" in text),
])
def test_output_format_follows_the_extension(capsys, inputs, name, parse):
    code, _, _ = run(capsys, "check", "current.dot", "--output", name)
    assert code == 1 and parse((inputs / name).read_text())


def test_an_explicit_format_wins_over_the_extension(capsys, inputs):
    run(capsys, "check", "current.dot", "--output", "report.json", "--format", "concise")
    assert CONCISE_LINE.match((inputs / "report.json").read_text().splitlines()[0])


# -- the concise format ----------------------------------------------------------------------------
def test_concise_is_one_finding_a_line_and_the_default_in_a_pipe(capsys):
    assert not sys.stdout.isatty()  # pytest captures standard output
    code, out, _ = run(capsys, "check", CURRENT, NEW, "--model", MODEL)
    lines = out.splitlines()
    assert code == 1 and len(lines) > 10
    *findings, summary = lines
    for line in findings:
        match = CONCISE_LINE.match(line)
        assert match and match["path"] in (CURRENT, NEW), line
    assert re.fullmatch(r"Found \d+ findings in 2 files: \d+ errors, \d+ warnings, \d+ info\.", summary), summary
    assert any(len(line) > 120 for line in findings)  # never wrapped at 80 columns
    assert f"{CURRENT}:19:1: ATT002 [error] In layer(s) 0: the softmax skips the weighted sum" in out
    explicit = run(capsys, "check", CURRENT, NEW, "--model", MODEL, "--format", "concise")[1]
    assert explicit == out


def test_concise_line_numbers_are_sorted_and_a_clean_file_says_so(capsys):
    _, out, _ = run(capsys, "check", CURRENT, "--format", "concise")
    numbers = [int(CONCISE_LINE.match(line)["line"]) for line in out.splitlines()[:-1]]
    assert numbers == sorted(numbers)
    code, out, _ = run(capsys, "check", str(SAMPLES.parent / "tests" / "data" / "correct_clusters.dot"), "--format", "concise",
                          "--ignore", "STG005")
    assert code == 0 and out.strip() == "No findings in 1 file."


def test_concise_keeps_hostile_text_on_one_line(capsys, tmp_path):
    hostile = tmp_path / "evil\nname.dot"
    hostile.write_text('digraph { a [label="x"]; b [label="y"]; a -> b; c -> -> d }\n')
    _, out, _ = run(capsys, "check", str(hostile), "--format", "concise")
    assert all(line.startswith(str(tmp_path)) or line.startswith(("Found", "No findings")) for line in out.splitlines())


# -- the text report names the findings it refers to --------------------------------------------------
def test_text_report_shows_the_ids_that_same_as_points_to(capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    _, out, _ = run(capsys, "check", CURRENT, NEW, "--model", MODEL, "--format", "text")
    shown = set(re.findall(r"^ +(F\d+) [A-Z]{3}\d{3} ", out, flags=re.MULTILINE))
    referred = re.findall(r"same as [^)#]+#(F\d+)\)", out)
    assert referred and shown and set(referred) <= shown


# -- the explorer's command without a screen to take over -----------------------------------------------
def test_explorer_says_a_missing_file_before_taking_over_the_screen(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    started = []
    monkeypatch.setattr("dagtui.helper_process.HelperProcess.start", lambda *args: started.append(args))
    code, _, err = run(capsys, str(tmp_path / "missing.dot"), CURRENT)
    assert code == 2 and "missing.dot: no such file" in err and not started
    code, _, err = run(capsys, CURRENT, "--model", str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err and not started
    code, _, err = run(capsys, str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_explorer_prints_the_report_when_standard_output_is_no_terminal(capsys):
    code, out, _ = run(capsys, CURRENT, NEW, "--model", MODEL)
    assert code == 1 and CONCISE_LINE.match(out.splitlines()[0]) and out.splitlines()[-1].startswith("Found ")
    assert "\x1b[" not in out


# -- rules: for users, in order --------------------------------------------------------------------
def test_rules_lists_the_codes_in_order_and_explains_each_for_users(capsys):
    from dagtui.validate import RULES

    _, out, _ = run(capsys, "rules")
    codes = re.findall(r"^\W*([A-Z]{3}\d{3}) ", out, flags=re.MULTILINE)
    assert codes == sorted(RULES)
    for code in RULES:
        _, out, _ = run(capsys, "rules", code.lower())
        headings = [heading for heading in ("What it checks", "Why it matters", "Example", "How to fix") if heading in out]
        assert headings == ["What it checks", "Why it matters", "Example", "How to fix"], code
        assert "dagtui must" not in out and "TODO" not in out, code
