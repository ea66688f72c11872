"""`dagtui compare` and the comparison section of `dagtui check` on two files: the structural diff,
findings fixed/introduced/shared, the cost table with its ratios, the JSON shape, output files."""

from __future__ import annotations

import json

import pytest
from helpers import SAMPLES

from dagtui.cli import main
from dagtui.compare import compare
from dagtui.cost import CostEstimate, load_hardware
from dagtui.model import load_deployment
from dagtui.report import render
from dagtui.report.compare_report import render_compare
from dagtui.review import review_file
from dagtui.structural_diff import node_key, structural_diff

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def samples(sample_spec):
    hardware = load_hardware("h100")
    current = review_file(CURRENT, sample_spec, hardware=hardware)
    new = review_file(NEW, sample_spec, hardware=hardware)
    return current, new, compare(current, new, sample_spec, hardware)


# -- the structural diff --------------------------------------------------------------------------
def test_the_samples_differ_by_two_experts_two_pipeline_transfers_and_placements():
    diff = structural_diff(load_deployment(CURRENT), load_deployment(NEW))
    assert diff.removed == []
    assert sorted(node for entry in diff.added for node in entry.nodes) == [
        "layer0_expert2", "layer0_expert3", "pp1_to_pp2", "pp2_to_pp3"]
    moved = {change.first: (change.before, change.after) for change in diff.moved}
    assert moved["layer0_attn_q"] == ("stage 0, PP0, TP0-7", "stage 0, PP0, TP0-15")
    assert moved["layer0_expert1"] == ("stage 0, PP0, EP1", "stage 0, PP0, EP0")  # expert 1 moved rank: the same expert
    assert moved["layer0_attn_allreduce"] == ("stage 0, TP group 0-7", "stage 0, TP group 0-15")
    assert moved["final_norm"] == ("stage 1, PP1, TP0-7", "stage 3, PP3, TP0-15")
    assert "pp0_to_pp1" not in moved and diff.matched == 22  # the PP0 boundary is in both


def test_a_deployment_does_not_differ_from_itself():
    deployment = load_deployment(CURRENT)
    diff = structural_diff(deployment, deployment)
    assert (diff.added, diff.removed, diff.moved) == ([], [], []) and diff.matched == 22  # 26 nodes, 4 not operators


def test_nodes_are_keyed_by_operator_layer_expert_and_rank(deploy):
    deployment = deploy('digraph { a [label="Q Projection\\nGPU: 2"]; b [label="Expert 5 L3\\nGPU: EP1"];'
                        ' c [label="Pipeline Send/Recv (Layer 7 output)\\nPP1 → PP2" shape=ellipse]; layer3_q_proj_tp2 -> a }')
    keys = {name: node_key(deployment.nodes[name]) for name in ("layer3_q_proj_tp2", "b", "c")}
    keys["a"] = keys.pop("layer3_q_proj_tp2")
    assert (keys["a"].op, keys["a"].layer, keys["a"].tp) == ("q_proj", 3, 2)
    assert (keys["b"].op, keys["b"].expert, keys["b"].ep) == ("expert", 5, -1)
    assert (keys["c"].op, keys["c"].layer, keys["c"].pp) == ("send_recv", -1, 1)


def test_copies_of_one_key_pair_in_order_and_the_rest_are_added(deploy):
    one = deploy('digraph { x1 [label="Frobnicate"]; out [label="Output"]; x1 -> out }')
    three = deploy('digraph { x1 [label="Frobnicate"]; x2 [label="Frobnicate"]; x3 [label="Frobnicate"];'
                   ' out [label="Output"]; x1 -> x2 -> x3 -> out }')
    diff = structural_diff(one, three)
    assert diff.matched == 1 and [entry.nodes for entry in diff.added] == [["x2", "x3"]]
    reverse = structural_diff(three, one)
    assert [entry.nodes for entry in reverse.removed] == [["x2", "x3"]]


# -- findings and costs -----------------------------------------------------------------------------
def test_findings_fixed_introduced_and_shared(samples):
    current, new, comparison = samples
    rule = {f.id: f.rule for f in current.findings} | {f"new:{f.id}": f.rule for f in new.findings}
    assert [rule[i] for i in comparison.fixed] == ["ATT003"]
    assert {rule[f"new:{i}"] for i in comparison.introduced} == {"PIP004", "EXP007", "STG001"}
    assert len(comparison.pairs) + len(comparison.fixed) == len(current.findings)
    assert len(comparison.pairs) + len(comparison.introduced) == len(new.findings)


def test_the_cost_table_puts_the_worked_example_side_by_side(samples):
    _, _, comparison = samples
    rows = {row.metric: row for row in comparison.cost_table}
    assert rows["Memory per GPU"].numbers == (338_173_952, 240_066_560)  # docs/cost-model.md, stage 1 and stage 3
    assert rows["Memory per GPU"].ratio == "×0.71"
    assert rows["GPUs"].values == ("2,048", "8,192") and rows["GPUs"].ratio == "×4"
    assert rows["Pipeline bubble"].values == ("33%", "60%")
    assert rows["Prefill time (one replica's batch)"].values == ("5.58 ms", "46.4 ms")
    assert rows["HBM used"].values == ("0.39%", "0.28%")
    assert rows["PP bytes sent per GPU, prefill"].ratio == "×1"
    assert all(isinstance(cost, CostEstimate) for cost in comparison.costs)


def test_without_a_model_there_is_no_cost_table(samples):
    current, new, _ = samples
    comparison = compare(current, new)
    assert comparison.cost_table == [] and comparison.costs == (None, None) and comparison.diff is not None


def test_a_side_that_cannot_be_estimated_says_why(sample_spec, write_dot):
    broken = review_file(write_dot("digraph { a -> "), sample_spec)
    comparison = compare(review_file(CURRENT, sample_spec), broken, sample_spec)
    assert comparison.cost_table[0].metric == "Cost estimate" and comparison.cost_table[0].values[0] == "computed"
    assert comparison.cost_table[0].values[1] == "the file does not parse" and comparison.diff is None
    assert render_compare("text", [review_file(CURRENT, sample_spec), broken], comparison, "m", None)


# -- the command ------------------------------------------------------------------------------------
def test_compare_prints_the_table(capsys):
    code, out, err = run(capsys, "compare", CURRENT, NEW, "--model", MODEL, "--hardware", "h100")
    assert code == 0 and err == ""
    for text in ("Compare", "27.1B parameters, 2.15B active per token, KV cache 256 KiB per token", "Cost per GPU",
                 "Memory per GPU", "322.51 MiB", "228.95 MiB", "×0.71", "Decode tokens/s", "only in the new: layer0_expert2",
                 "fixed (in the current only): 1", "introduced (in the new only): 3", "shared: 10"):
        assert text in out, text


def test_compare_json_has_the_documented_shape(capsys):
    code, out, _ = run(capsys, "compare", CURRENT, NEW, "--model", MODEL, "--hardware", "h100", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["version"] == 1 and data["model"] == "moe-16l-64e" and data["hardware"] == "h100"
    first, second = (deployment["cost"] for deployment in data["deployments"])
    assert first["params_total"] == 27_110_019_072 and first["params_active"] == 2_145_521_664
    assert first["kv_bytes_per_token"] == 262_144
    assert first["per_gpu"]["memory_bytes"] == {"weights": 221_650_944, "kv_cache": 41_943_040,
                                                "activations": 74_579_968, "total": 338_173_952}
    assert first["per_gpu"]["flops"] == {"prefill": 524_051_546_112, "decode_step": 585_629_696}
    assert set(first["per_gpu"]["comm_bytes"]) == {"tp", "ep", "pp"} and first["per_gpu"]["comm_bytes"]["pp"] == 2_097_152
    assert first["bubble"] == pytest.approx(1 / 3) and second["bubble"] == pytest.approx(0.6)
    assert {"matched", "removed", "added", "placement"} <= set(data["diff"])
    assert next(entry["nodes"] for entry in data["diff"]["added"]) == ["layer0_expert2"]
    findings = data["findings"]
    assert [f["rule"] for f in findings["fixed"]] == ["ATT003"] and len(findings["shared"]) == 10
    assert {"current", "new", "rule"} <= set(findings["shared"][0])


def test_compare_markdown(capsys):
    code, out, _ = run(capsys, "compare", CURRENT, NEW, "--model", MODEL, "--format", "markdown")
    assert code == 0 and out.startswith("# Deployment Comparison")
    assert "### Cost per GPU" in out and "| Memory per GPU | 322.51 MiB | 228.95 MiB | ×0.71 |" in out
    assert "### What changed in the drawing" in out and "### Findings" in out
    assert "| Prefill time (one replica's batch) | — | — | — |" in out  # no --hardware


def test_check_on_two_files_gains_the_comparison(capsys):
    code, out, _ = run(capsys, "check", CURRENT, NEW, "--model", MODEL, "--hardware", "h100", "--format", "markdown")
    assert code == 1 and "## Comparison" in out and "### Cost per GPU" in out and "### What changed in the drawing" in out
    code, out, _ = run(capsys, "check", CURRENT, NEW, "--model", MODEL, "--format", "json")
    data = json.loads(out)
    assert data["deployments"][1]["cost"]["per_gpu"]["memory_bytes"]["total"] == 240_066_560
    assert data["comparison"]["findings"]["fixed"][0]["rule"] == "ATT003" and data["comparison"]["diff"]["matched"] == 22


def test_compare_output_file(capsys, tmp_path):
    target = tmp_path / "cmp.json"
    code, _, err = run(capsys, "compare", CURRENT, NEW, "--model", MODEL, "--format", "json", "-o", str(target))
    assert code == 0 and "wrote json comparison" in err and json.loads(target.read_text())["version"] == 1
    code, _, err = run(capsys, "compare", CURRENT, NEW, "--format", "json", "-o", str(target))
    assert code == 2 and "exists; pass --force" in err
    code, _, err = run(capsys, "compare", CURRENT, NEW, "--format", "markdown", "-o", str(target), "--force")
    assert code == 0 and target.read_text().startswith("# Deployment Comparison")
    code, _, err = run(capsys, "compare", CURRENT, NEW, "-o", NEW, "--force")
    assert code == 2 and "refusing to overwrite an input" in err


@pytest.mark.parametrize("args, message", [
    (["--hardware", "h800"], "unknown hardware 'h800'"),
    (["--model", "/nonexistent/model.yaml"], "model.yaml"),
])
def test_compare_bad_options_are_one_message(capsys, args, message):
    code, out, err = run(capsys, "compare", CURRENT, NEW, *args)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def test_compare_a_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, "compare", CURRENT, str(tmp_path / "gone.dot"))
    assert code == 2 and "gone.dot" in err and "Traceback" not in err and "Compare" in out


def test_file_text_in_the_comparison_is_made_visible(write_dot, sample_spec):
    evil = write_dot('digraph { "q\x1b]0;pwned\x07" [label="Q Projection L0 TP0\\nGPU: 0"]; }')
    reviews = [review_file(CURRENT, sample_spec), review_file(evil, sample_spec)]
    comparison = compare(*reviews, sample_spec)
    for fmt in ("text", "markdown"):
        text = render_compare(fmt, reviews, comparison, "m", None)
        assert "\x1b" not in text and "\x07" not in text and "␛]0;pwned␇" in text
    assert "\x1b" not in render("markdown", reviews, comparison)
