"""Reports (JSON shape, SARIF fields, GitHub annotations, text) and the `dagtui check` command:
exit codes, --output written atomically and never over an input, dagtui.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import SAMPLES

from dagtui.cli import main
from dagtui.report import OutputError, write_atomic

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")
CATEGORIES = {"syntax", "structure", "attention", "shape", "pipeline", "expert", "tensor", "communication", "gpu", "strategy", "annotation", "memory"}


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_has_the_documented_shape(capsys):
    code, out, _ = run(capsys, "check", CURRENT, NEW, "--model", MODEL, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["version"] == 1 and isinstance(data["comparison"], dict)
    for deployment in data["deployments"]:
        assert {"file", "name", "strategy", "degrees", "stats", "issues"} <= set(deployment)
        assert set(deployment["degrees"]) == {"ep", "tp", "pp", "dp"}
        assert all(isinstance(v, int) for v in deployment["degrees"].values())
        assert isinstance(deployment["stats"]["nodes"], int) and isinstance(deployment["stats"]["edges"], int)
        for issue in deployment["issues"]:
            assert {"rule", "category", "severity", "title", "message", "nodes", "fix", "pair"} <= set(issue)
            assert issue["category"] in CATEGORIES and issue["severity"] in ("error", "warning", "info")
            assert isinstance(issue["nodes"], list) and (issue["pair"] is None or isinstance(issue["pair"], str))
    assert data["deployments"][0]["strategy"] == "EP64-TP8-PP2-DP2"
    assert any(issue["pair"] for issue in data["deployments"][1]["issues"])


def test_sarif_has_the_required_fields(capsys):
    _, out, _ = run(capsys, "check", CURRENT, "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and "$schema" in sarif
    (run_,) = sarif["runs"]
    rule_ids = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    assert run_["tool"]["driver"]["name"] == "dagtui"
    assert run_["results"]
    for result in run_["results"]:
        assert result["ruleId"] in rule_ids and rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note") and result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == CURRENT
        if "region" in location:
            assert location["region"]["startLine"] >= 1
    attention = next(r for r in run_["results"] if r["ruleId"] == "ATT002")
    assert attention["locations"][0]["physicalLocation"]["region"]["startLine"] == 19  # `layer0_attn_v`


def test_github_annotations(capsys):
    _, out, _ = run(capsys, "check", CURRENT, "--format", "github")
    assert any(line.startswith(f"::error file={CURRENT},line=19,title=ATT002") for line in out.splitlines())
    assert all(line.startswith("::") for line in out.splitlines())  # one annotation per line, newlines escaped


def test_text_and_exit_codes(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    code, out, _ = run(capsys, "check", CURRENT)
    assert code == 1 and "ATT002" in out and "\x1b[" not in out
    assert run(capsys, "check", str(SAMPLES.parent / "tests" / "data" / "correct_clusters.dot"))[0] == 0
    assert run(capsys, "check", CURRENT, "--fail-on", "never")[0] == 0
    assert run(capsys, "check", CURRENT, "--select", "ANN002", "--fail-on", "warning")[0] == 0
    assert run(capsys, "check", CURRENT, "--ignore", "attention,shape,pipeline,expert,communication,tensor")[0] == 0
    code, _, err = run(capsys, "check", str(tmp_path / "missing.dot"))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "check", CURRENT, "--select", "NOPE1")
    assert code == 2 and "unknown rule" in err


def test_syntax_error_is_reported_not_raised(capsys, tmp_path):
    bad = tmp_path / "bad.dot"
    bad.write_text("digraph {\n a -> b\n c [label=x y]\n}\n")
    code, out, _ = run(capsys, "check", str(bad), "--format", "json")
    issue = json.loads(out)["deployments"][0]["issues"][0]
    assert code == 1 and issue["rule"] == "SYN001" and issue["line"] == 3
    code, out, _ = run(capsys, "check", str(bad), "--format", "json", "--ignore", "syntax")
    assert code == 0 and json.loads(out)["deployments"][0]["issues"] == []


def test_output_is_atomic_and_never_over_an_input(capsys, tmp_path):
    target = tmp_path / "report.md"
    code, _, err = run(capsys, "check", CURRENT, NEW, "--format", "markdown", "--output", str(target))
    assert code == 1 and target.read_text().startswith("# DAG Analysis Report") and "wrote" in err
    before = (SAMPLES / "current.dot").read_bytes()
    code, _, err = run(capsys, "check", CURRENT, "--output", CURRENT)
    assert code == 2 and "refusing to overwrite an input" in err
    assert (SAMPLES / "current.dot").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left
    text = tmp_path / "report.txt"
    assert run(capsys, "check", CURRENT, "--output", str(text))[0] == 1
    assert "ATT002 Attention block wired incorrectly" in text.read_text() and "\x1b[" not in text.read_text()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        write_atomic(tmp_path / "r.md", "text")
    assert list(tmp_path.iterdir()) == []


def test_config_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagtui.yaml").write_text(f"model: {MODEL}\nignore: [attention]\nseverity:\n  PIP003: warning\nfail_on: error\n")
    _, out, _ = run(capsys, "check", CURRENT, "--format", "json")
    issues = json.loads(out)["deployments"][0]["issues"]
    assert not any(i["category"] == "attention" for i in issues)
    assert next(i for i in issues if i["rule"] == "PIP003")["severity"] == "warning"
    assert "--model" in next(i for i in issues if i["rule"] == "SHP002")["message"]
    (tmp_path / "dagtui.yaml").write_text("colour: blue\n")
    code, _, err = run(capsys, "check", CURRENT)
    assert code == 2 and "unknown setting" in err


def test_hardware_from_the_command_line_and_the_config(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "qwen3.yaml"  # whole experts on 8 GPUs: 97.6 GiB per GPU
    spec.write_text((SAMPLES / "qwen3-235b-a22b.yaml").read_text())
    dot = tmp_path / "d.dot"
    dot.write_text('digraph { label="EP8-TP1-PP1-DP1"; l0_attention [label="Layer 0 Attention\\nGPU: 0-7"] }')
    code, out, _ = run(capsys, "check", str(dot), "--model", str(spec), "--hardware", "h100", "--format", "json")
    memory = [i for i in json.loads(out)["deployments"][0]["issues"] if i["category"] == "memory"]
    assert code == 1 and [(i["rule"], i["severity"]) for i in memory] == [("MEM001", "error")]
    assert "97.63 GiB" in memory[0]["message"]
    (tmp_path / "gpus").mkdir()
    (tmp_path / "gpus" / "big.yaml").write_text(
        "name: big\npeak_flops: {bf16: 1 PFLOP/s}\nhbm_capacity: 192 GiB\nhbm_bandwidth: 8 TB/s\n"
        "intra_node_bandwidth: 900 GB/s\ninter_node_bandwidth: 50 GB/s\ngpus_per_node: 8\n")
    (tmp_path / "dagtui.yaml").write_text(f"model: {spec}\nhardware: gpus/big.yaml\n")
    code, out, _ = run(capsys, "check", str(dot), "--format", "json")
    rules = [i["rule"] for i in json.loads(out)["deployments"][0]["issues"] if i["category"] == "memory"]
    assert "MEM001" not in rules and "MEM003" not in rules  # 97.6 GiB fit in 192 GiB; a capacity was given
    (tmp_path / "dagtui.yaml").write_text("hardware: 7\n")
    code, _, err = run(capsys, "check", str(dot))
    assert code == 2 and "`hardware` must be a string" in err
    code, _, err = run(capsys, "check", str(dot), "--hardware", str(tmp_path / "gpus"))
    assert code == 2 and "Traceback" not in err


def test_rules_and_info_commands(capsys):
    code, out, _ = run(capsys, "rules")
    assert code == 0 and "ATT002" in out and "SYN001" in out
    code, out, _ = run(capsys, "rules", "att002")
    assert code == 0 and "softmax" in out and "Why" in out
    code, out, _ = run(capsys, "info", CURRENT, NEW)
    assert code == 0
    for text in ("EP64-TP8-PP2-DP2", "EP~32-TP~16-PP~4-DP~4", "0-7", "8-15", "12-15", "Layers drawn: 0, 15", "EP0: 1, EP1: 1", "(2 of 32 ranks)", "(layer 0)"):
        assert text in out, text


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "dagtui", "rules"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "ATT002" in result.stdout


@pytest.mark.parametrize(("arguments", "code"), [
    (["--format", "json"], 1), (["--format", "json", "--fail-on", "never"], 0), (["--format", "markdown"], 1),
])
def test_headless_commands_end_without_teardown_yet_say_everything(arguments, code):
    """`check` ends with os._exit once its report is flushed: the report comes whole, through a
    pipe, and the exit code is the command's."""
    result = subprocess.run([sys.executable, "-m", "dagtui", "check", str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"),
                             *arguments], capture_output=True, text=True, timeout=120)
    assert result.returncode == code, result.stderr
    if "json" in arguments:
        assert len(json.loads(result.stdout)["deployments"]) == 2
    else:
        assert result.stdout.rstrip().endswith(main_output_tail(arguments))


def main_output_tail(arguments: list[str]) -> str:
    """The last line of the same report made in this process."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["check", str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), *arguments])
    return out.getvalue().rstrip().splitlines()[-1]


def test_a_missing_file_still_exits_2_without_teardown(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dagtui", "check", str(tmp_path / "missing.dot")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "missing.dot" in result.stderr
