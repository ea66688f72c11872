"""The samples reproduce every finding of ../shared/docs/seed-report.md, by dagtui's own rules
(node ids renamed, same findings), plus what an expert adds; correct DAGs stay clean."""

from __future__ import annotations

import re

import pytest
from helpers import DATA, SAMPLES, by_rule

from dagtui.compare import compare
from dagtui.report import render
from dagtui.review import review_file
from dagtui.validate import Severity


@pytest.fixture(scope="module")
def reviews(sample_spec):
    current = review_file(SAMPLES / "current.dot", sample_spec)
    new = review_file(SAMPLES / "new.dot", sample_spec)
    return current, new, compare(current, new)


@pytest.fixture(scope="module")
def markdown(reviews):
    current, new, comparison = reviews
    return render("markdown", [current, new], comparison)


def test_headings_name_both_strategies(markdown):
    assert "# DAG Analysis Report" in markdown
    assert "## Current Deployment (EP64-TP8-PP2-DP2)" in markdown
    assert "## New Deployment (EP32-TP16-PP4-DP4)" in markdown
    assert "### Issues Found:" in markdown and "## Corrective Actions Needed:" in markdown and "## Comparison" in markdown


def test_attention_wiring_in_both_and_paired(reviews, markdown):
    current, new, _ = reviews
    for review in (current, new):
        (finding,) = by_rule(review.findings, "ATT002")
        assert finding.severity is Severity.ERROR
        assert {"layer0_attn_v", "layer0_attn_out", "layer0_attn_softmax"} <= set(finding.nodes)
        assert "V bypasses the attention probabilities" in finding.message
    assert "**Same Attention block wired incorrectly as the current deployment**" in markdown


def test_hidden_size_shard_with_missing_gather(reviews):
    current, new, _ = reviews
    (shard,) = by_rule(current.findings, "SHP002")
    assert "512 = 4096/TP8" in shard.message and "all-gather" in shard.message
    assert shard.nodes[0] == "embedding" and "output" in shard.nodes
    (shard,) = by_rule(new.findings, "SHP002")
    assert "256 = 4096/TP16" in shard.message and shard.pair is not None


def test_stage_coverage_with_missing_ranges(reviews):
    current, new, _ = reviews
    (coverage,) = by_rule(current.findings, "PIP003")
    assert "Missing layers 1-6, 8-14" in coverage.message
    assert any("layers 1-6 are missing" in d for d in coverage.details)
    assert any("layers 8-14 are missing" in d for d in coverage.details)
    (coverage,) = by_rule(new.findings, "PIP003")
    details = " ".join(coverage.details)
    for claim in ("claims layers 0-3", "claims layers 4-7", "claims layers 8-11", "claims layers 12-15"):
        assert claim in details
    assert "layers 4-7 are missing" in details and "layers 12-14 are missing" in details


def test_experts_on_two_ranks_only(reviews):
    current, new, _ = reviews
    (experts,) = by_rule(current.findings, "EXP001")
    assert "EP rank(s) 0-1 only" in experts.message and "EP64" in experts.message and "experts 0-1" in experts.message
    (experts,) = by_rule(new.findings, "EXP001")
    assert "EP rank(s) 0-1 only" in experts.message and "EP32" in experts.message and "experts 0-3" in experts.message


def test_new_stages_holding_only_transfers(reviews):
    _, new, _ = reviews
    (transfers,) = by_rule(new.findings, "PIP004")
    assert "PP1, PP2" in transfers.message


def test_expert_additions(reviews):
    current, _new, _ = reviews
    assert "layer(s) 15" in by_rule(current.findings, "ATT001")[0].message  # attention as one box
    assert "layer(s) 15" in by_rule(current.findings, "EXP006")[0].message  # MoE as one box
    heads = by_rule(current.findings, "ATT003")[0].message
    assert "32 x 64 = 2048" in heads and "holds 32/8 = 4 heads" in heads
    assert "512 = 4096/TP8" in by_rule(current.findings, "COM003")[0].message  # all-reduce of a shard


def test_corrective_actions(markdown):
    actions = markdown.split("## Corrective Actions Needed:")[1].split("## Comparison")[0]
    for text in ("Wire attention", "all-gather", "Complete each stage", "expert distribution across all EP ranks",
                 "stage(s) PP1, PP2"):
        assert text in actions


def _rename_ids(text: str, ids: list[str]) -> tuple[str, dict[str, str]]:
    mapping = {node_id: f"n{index}" for index, node_id in enumerate(ids)}
    pattern = re.compile(r'(?<![\w"])(' + "|".join(sorted(map(re.escape, ids), key=len, reverse=True)) + r')(?![\w"])')
    renamed = []
    for line in text.splitlines():
        head, _, rest = line.partition("[")  # rename ids outside attribute lists only
        renamed.append(pattern.sub(lambda m: mapping[m.group(1)], head) + ("[" + rest if _ else ""))
    return "\n".join(renamed), mapping


@pytest.mark.parametrize("name", ["current.dot", "new.dot"])
def test_same_findings_with_every_node_renamed(tmp_path, sample_spec, name):
    original = review_file(SAMPLES / name, sample_spec)
    text, mapping = _rename_ids((SAMPLES / name).read_text(), list(original.deployment.nodes))
    (tmp_path / name).write_text(text)
    renamed = review_file(tmp_path / name, sample_spec)
    assert set(renamed.deployment.nodes) == set(mapping.values())
    # The samples number their layers only in the ids (`layer0_attn_q`): renamed, a stage's layers
    # are counted rather than read, so a finding may split or drop to a warning. Every rule still
    # names the same nodes, and nothing serious is added.
    def named(review, rename=lambda node: node):
        by_rule: dict[str, set[str]] = {}
        for f in review.findings:
            if f.severity is not Severity.INFO:
                by_rule.setdefault(f.rule, set()).update(rename(n) for n in f.nodes)
        return by_rule

    assert named(renamed) == named(original, mapping.__getitem__)


@pytest.mark.parametrize("name", ["correct_clusters.dot", "correct_opaque.dot"])
@pytest.mark.parametrize("with_model", [True, False])
def test_correct_dags_raise_no_error_or_warning(name, with_model):
    from dagtui.model import load_model_spec

    spec = load_model_spec(DATA / "model.yaml") if with_model else None
    review = review_file(DATA / name, spec)
    assert review.deployment.strategy.tp == 2 and review.deployment.strategy.ep == 2 and review.deployment.strategy.pp == 2
    serious = [f"{f.rule}: {f.message}" for f in review.findings if f.severity is not Severity.INFO]
    assert serious == []


@pytest.mark.parametrize("name", ["correct_llama_tuple_shapes.dot", "correct_megatron_moe.dot", "correct_html_shared_expert.dot",
                                  "correct_opaque_replica_clusters.dot"])
def test_correct_dags_written_apart_from_the_generator_raise_nothing(name):
    """Two clean DAGs in house styles dagtui's generator does not write (the kind an independent
    generator produces): every finding is information."""
    review = review_file(DATA / name)
    assert review.deployment.nodes  # it loaded and was read
    serious = [f"{f.rule}: {f.message}" for f in review.findings if f.severity is not Severity.INFO]
    assert serious == []
