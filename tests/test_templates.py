"""Operators are classified once per digit template: the table's patterns must treat the digits
the template masks alike, and the template path must give what classifying each text directly
gives, node for node, on the samples, generated DAGs and corpus files."""

from __future__ import annotations

import pytest

from dagtui.generate import generate, to_dot
from dagtui.model import ModelSpec, build_deployment, parse_strategy
from dagtui.model import operators
from dagtui.model.operators import KEPT_DIGITS, RULES, Op, operator_from_id, operator_from_text, template
from dagtui.dot import read_dot
from dagtui.validate import validate

from helpers import CORPUS, SAMPLES

try:  # Python 3.11+
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MASKED = [digit for digit in "0123456789" if digit not in KEPT_DIGITS]


def _digits_named(items) -> list[str]:
    """The reasons a parsed pattern would tell masked digits apart: a digit written as a literal
    (but the kept ones), or a range holding some ASCII digits and not all."""
    problems = []
    for op, argument in items:
        name = str(op)
        if "LITERAL" in name and chr(argument) in MASKED:
            problems.append(f"literal {chr(argument)!r}")
        elif "RANGE" in name:
            low, high = argument
            held = [digit for digit in "0123456789" if low <= ord(digit) <= high]
            if held and len(held) < 10:
                problems.append(f"range {chr(low)}-{chr(high)}")
        elif op is sre_constants.IN:
            problems += _digits_named(argument)
        elif op is sre_constants.BRANCH:
            for branch in argument[1]:
                problems += _digits_named(branch)
        elif op in (sre_constants.SUBPATTERN,):
            problems += _digits_named(argument[-1])
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) or "POSSESSIVE" in name:
            problems += _digits_named(argument[2])
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            problems += _digits_named(argument[1])
        elif "GROUPREF" in name:
            problems.append("a back-reference (it compares the text itself)")
    return problems


def test_the_operator_table_treats_masked_digits_alike():
    for op, pattern in RULES:
        assert _digits_named(sre_parse.parse(pattern.pattern, pattern.flags)) == [], (op, pattern.pattern)


def test_the_check_catches_a_pattern_that_names_a_masked_digit():
    assert _digits_named(sre_parse.parse(r"fp8|\bw1\b")) == ["literal '8'", "literal '1'"]
    assert _digits_named(sre_parse.parse(r"stage[1-3]")) == ["range 1-3"]
    assert _digits_named(sre_parse.parse(r"all2all|\d+|[0-9a-z]")) == []


@pytest.mark.parametrize(("text", "op"), [
    ("all2all", Op.ALL_TO_ALL), ("all3all", Op.UNKNOWN), ("a2a l17", Op.ALL_TO_ALL), ("Expert 17", Op.EXPERT),
    ("fc1", Op.MLP), ("Layer 12", Op.ATTENTION), ("Top-8 Select", Op.GATE),
])
def test_templates_keep_the_operator(text, op):
    assert operator_from_text(text) is op
    assert template("l17_tp3_all2all_9") == "l00_tp0_all2all_0"


def _models_both_ways(raw):
    """The deployment and findings built through templates, then with templates off (each text
    classified as it is), with the classifier's caches emptied around each."""
    caches = (operators.operator_from_text, operators._operator_of_template, operators._operator_of_id_template)
    results = []
    for mask in (operators.template, lambda text: text):
        for cache in caches:
            cache.cache_clear()
        operators.template = mask
        try:
            deployment = build_deployment(raw)
            results.append((deployment, validate(deployment)))
        finally:
            operators.template = template
    for cache in caches:
        cache.cache_clear()
    return results


def _files() -> list:
    files = sorted(SAMPLES.rglob("*.dot"))
    for name in ("2025-12-05-15-18-00__llm_parallel_strategy.dot", "2025-12-04-11-03-13__llm_deployment_simplified.dot",
                 "2025-12-04-11-03-13__gpu_assignment_communication.dot", "2025-10-14-10-03-38__baseline_tensor_pipeline_dag.dot"):
        if (CORPUS / name).is_file():
            files.append(CORPUS / name)
    return files


@pytest.mark.parametrize("path", _files(), ids=lambda path: path.name[:50])
def test_template_and_direct_classification_agree_on_files(path):
    (templated, templated_findings), (direct, direct_findings) = _models_both_ways(read_dot(path))
    assert templated.nodes == direct.nodes
    assert [(f.rule, f.message, f.nodes) for f in templated_findings] == [(f.rule, f.message, f.nodes) for f in direct_findings]


@pytest.mark.parametrize("house", ["opaque_html", "snake_terse", "caps_agent"])
def test_template_and_direct_classification_agree_on_generated_dags(tmp_path, house):
    spec = ModelSpec(layers=2, hidden_size=1024, heads=8, d_k=128, experts=4, top_k=2, batch_size=8, seq_len=128)
    path = tmp_path / f"{house}.dot"
    path.write_text(to_dot(generate(spec, parse_strategy("EP2-TP2-PP1-DP2"), house=house)))
    (templated, _), (direct, _) = _models_both_ways(read_dot(path))
    assert templated.nodes == direct.nodes


def test_ids_that_differ_in_numbers_share_one_classification():
    operators._operator_of_id_template.cache_clear()
    ids = [f"layer{layer}_attn_q_tp{rank}" for layer in range(40) for rank in range(8)]
    assert {operator_from_id(node_id) for node_id in ids} == {Op.Q_PROJ}
    templates = {template(node_id) for node_id in ids}
    assert operators._operator_of_id_template.cache_info().misses == len(templates) == 12  # of 320 ids
    assert template("layer31_attn_q_tp7") == "layer00_attn_q_tp0"
