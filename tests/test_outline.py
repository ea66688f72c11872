"""The explorer's outline without Textual: tree structure, markers, search, counterparts, history, issue rows."""

from __future__ import annotations

from dagtui.compare import NodePairing, compare
from dagtui.review import read_file, review_file, validate_review
from dagtui.tui.outline import History, Outline, issue_rows, query_problem
from dagtui.validate import Severity

from helpers import SAMPLES


def test_tree_structure_and_markers(sample_spec):
    outline = Outline(review_file(SAMPLES / "current.dot", sample_spec))
    assert outline.path_to("layer0_expert1") == [
        "stage:0", "stage:0/layer:0", "stage:0/layer:0/block:MoE", "stage:0/layer:0/block:MoE/ep:1", "node:layer0_expert1",
    ]
    assert outline.entries["stage:0"].text == "PP Stage 0 · layers 0-7 · missing 1-6 · 7 transfer only"
    assert outline.severity["node:layer0_attn_v"] is Severity.ERROR
    assert outline.severity["stage:0/layer:0/block:Attention"] is Severity.ERROR
    assert "node:input" not in outline.severity
    assert "C q_proj layer0_attn_q  PP0 TP0-7" == outline.entries["node:layer0_attn_q"].text


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
    first, second = Outline(current), Outline(new)
    assert first.search("expert=1") == ["layer0_expert1"]
    assert first.search("tp=7")[:2] == ["embedding", "layer0_attn_norm"]
    pairing = NodePairing(current.deployment, new.deployment)
    assert pairing.counterpart(0, current.deployment.nodes["layer0_expert1"]) == "layer0_expert1"
    assert pairing.counterpart(0, current.deployment.nodes["layer15_moe"]) == "layer15_moe"
    assert pairing.counterpart(1, new.deployment.nodes["layer0_expert3"]) is None  # only the new one draws expert 3
    history = History()
    for item in [(0, "a"), (0, "b"), (1, "c")]:
        history.record(item)
    assert history.back() == (0, "b") and history.back() == (0, "a") and history.back() is None
    assert history.forward() == (0, "b")
    history.record((0, "d"))  # a new jump drops the forward history
    assert history.forward() is None and history.back() == (0, "b")


def test_unmatched_nodes_are_the_roles_the_other_deployment_does_not_draw():
    current, new = review_file(SAMPLES / "current.dot"), review_file(SAMPLES / "new.dot")
    pairing = NodePairing(current.deployment, new.deployment)
    assert pairing.unmatched(1) == {"layer0_expert2", "layer0_expert3", "pp0_to_pp1", "pp1_to_pp2", "pp2_to_pp3"}
    assert pairing.unmatched(0) == {"pp0_to_pp1"}  # a send/recv after layer 7: the new one draws none there
    assert pairing.changes(0) == {"pp0_to_pp1": "removed"}
    assert set(pairing.changes(1).values()) == {"added"} and set(pairing.changes(1)) == pairing.unmatched(1)
    for side, review in enumerate((current, new)):
        other = (new, current)[side].deployment.nodes
        for node_id, node in review.deployment.nodes.items():
            counterpart = pairing.counterpart(side, node)
            assert (counterpart is None) == (node_id in pairing.unmatched(side))
            assert counterpart is None or (other[counterpart].op, other[counterpart].layer) == (node.op, node.layer)


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
