"""The explorer's outline without Textual: tree structure, markers, search, counterparts, history, issue rows."""

from __future__ import annotations

from helpers import SAMPLES

from dagtui.compare import NodePairing, compare
from dagtui.model.operators import NOT_OPERATORS
from dagtui.review import read_file, review_file, validate_review
from dagtui.structural_diff import structural_diff
from dagtui.tui.outline import History, Outline, issue_rows, query_problem
from dagtui.validate import Severity


def test_tree_structure_and_markers(sample_spec):
    outline = Outline(review_file(SAMPLES / "current.dot", sample_spec))
    assert outline.path_to("layer0_expert1") == [
        "stage:0", "stage:0/layer:0", "stage:0/layer:0/block:MoE", "stage:0/layer:0/block:MoE/ep:1", "node:layer0_expert1",
    ]
    assert outline.entries["stage:0"].text == "PP Stage 0 · layers 0-7 · missing 1-6 · 7 transfer only"
    assert outline.severity["node:layer0_attn_v"] is Severity.ERROR
    assert outline.severity["stage:0/layer:0/block:Attention"] is Severity.ERROR
    assert "node:input" not in outline.severity
    assert outline.entries["node:layer0_attn_q"].text == "C q_proj layer0_attn_q  PP0 TP0-7"


def test_findings_arrive_after_the_tree():
    review = read_file(SAMPLES / "current.dot")
    outline = Outline(review)
    assert outline.severity == {} and review.findings == []
    validate_review(review)
    outline.apply_findings()
    assert outline.severity["root"] is Severity.ERROR
    assert any(f.rule == "ATT002" for f in outline.findings_by_node["layer0_attn_v"])


def test_search_counterpart_and_history():
    current, new = review_file(SAMPLES / "current.dot"), review_file(SAMPLES / "new.dot")
    first = Outline(current)
    assert first.search("expert=1") == ["layer0_expert1"]
    assert first.search("tp=7")[:2] == ["embedding", "layer0_attn_norm"]
    pairing = NodePairing(structural_diff(current.deployment, new.deployment))
    assert pairing.counterpart(0, "layer0_expert1") == "layer0_expert1"
    assert pairing.counterpart(1, "layer0_expert1") == "layer0_expert1"
    assert pairing.counterpart(0, "layer15_moe") == "layer15_moe"
    assert pairing.counterpart(1, "layer0_expert3") is None  # only the new one draws expert 3
    history = History()
    for item in [(0, "a"), (0, "b"), (1, "c")]:
        history.record(item)
    assert history.back() == (0, "b") and history.back() == (0, "a") and history.back() is None
    assert history.forward() == (0, "b")
    history.record((0, "d"))  # a new jump drops the forward history
    assert history.forward() is None and history.back() == (0, "b")


def test_nodes_without_counterpart_are_what_compare_calls_added_and_removed():
    current, new = review_file(SAMPLES / "current.dot"), review_file(SAMPLES / "new.dot")
    diff = structural_diff(current.deployment, new.deployment)
    pairing = NodePairing(diff)
    assert pairing.changes(0) == {}  # the new deployment draws every operator the current one does
    assert pairing.changes(1) == dict.fromkeys(["layer0_expert2", "layer0_expert3", "pp1_to_pp2", "pp2_to_pp3"], "added")
    assert sum(map(len, (pairing.changes(0), pairing.changes(1)))) == diff.added_count + diff.removed_count
    assert pairing.counterpart(0, "pp0_to_pp1") == "pp0_to_pp1"  # the first stage boundary, after other layers
    for side, review in enumerate((current, new)):
        other = (new, current)[side].deployment.nodes
        for node_id, node in review.deployment.nodes.items():
            counterpart = pairing.counterpart(side, node_id)
            assert counterpart is None or pairing.counterpart(1 - side, counterpart) == node_id  # one to one
            assert counterpart is None or (other[counterpart].op, other[counterpart].expert) == (node.op, node.expert)
            assert (counterpart is None and node.op not in NOT_OPERATORS) == (pairing.change(side, node_id) is not None)


def test_a_bad_regex_is_named():
    assert query_problem("[unclosed") == "not a valid regex (unterminated character set at position 0): searched as plain text"
    assert query_problem("id=layer(") is not None
    assert query_problem("Scores? x V") is None and query_problem("op=expert") is None


def test_paired_findings_are_one_row_with_both_sides():
    current, new = review_file(SAMPLES / "current.dot"), review_file(SAMPLES / "new.dot")
    compare(current, new)
    rows = issue_rows([current, new])
    attention = [row for row in rows if row.finding.rule == "ATT002"]
    assert len(attention) == 1 and [pane for pane, _ in attention[0].sides] == [0, 1]
    assert attention[0].targets()[0] == (0, "layer0_attn_v") and attention[0].targets()[-1][0] == 1
    assert [row.severity.rank for row in rows] == sorted(row.severity.rank for row in rows)
