"""Operators and degree statements are found once per digit template: the patterns must treat the
digits a template masks alike, and the template path must give what reading each text directly
gives, node for node and statement for statement, on the samples, generated DAGs and corpus files."""

from __future__ import annotations

import pytest
from helpers import CORPUS, SAMPLES

from dagtui.dot import read_dot
from dagtui.generate import generate, to_dot
from dagtui.model import ModelSpec, build_deployment, operators, parse_strategy, strategy, templates
from dagtui.model.operators import RULES, Op, operator_from_id, operator_from_text
from dagtui.model.strategy import degree_matches, degree_spans, explicit_matches
from dagtui.model.templates import KEPT_DIGITS, template
from dagtui.validate import validate

try:  # Python 3.11+
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

MASKED = [digit for digit in "0123456789" if digit not in KEPT_DIGITS]


def _matches_a_digit(items) -> bool:
    """Whether a parsed (sub)pattern may match a digit: anything but literal letters and spaces."""
    for op, argument in items:
        name = str(op)
        if "LITERAL" in name:
            if chr(argument).isdigit():
                return True
        elif op is sre_constants.BRANCH:
            if any(_matches_a_digit(branch) for branch in argument[1]):
                return True
        elif op is sre_constants.SUBPATTERN:
            if _matches_a_digit(argument[-1]):
                return True
        else:
            return True
    return False


def _digits_named(items, groups: dict[int, object] | None = None) -> list[str]:
    """The reasons a parsed pattern would tell masked digits apart: a digit written as a literal
    (but the kept ones), a range holding some ASCII digits and not all, a back-reference to a
    group that may hold digits."""
    groups = {} if groups is None else groups
    problems = []
    for op, argument in items:
        name = str(op)
        if op is sre_constants.SUBPATTERN and argument[0] is not None:
            groups[argument[0]] = argument[-1]
        if "LITERAL" in name and chr(argument) in MASKED:
            problems.append(f"literal {chr(argument)!r}")
        elif "RANGE" in name:
            low, high = argument
            held = [digit for digit in "0123456789" if low <= ord(digit) <= high]
            if held and len(held) < 10:
                problems.append(f"range {chr(low)}-{chr(high)}")
        elif op is sre_constants.IN:
            problems += _digits_named(argument, groups)
        elif op is sre_constants.BRANCH:
            for branch in argument[1]:
                problems += _digits_named(branch, groups)
        elif op in (sre_constants.SUBPATTERN,):
            problems += _digits_named(argument[-1], groups)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) or "POSSESSIVE" in name:
            problems += _digits_named(argument[2], groups)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            problems += _digits_named(argument[1], groups)
        elif "GROUPREF" in name and (argument not in groups or _matches_a_digit(groups[argument])):
            problems.append("a back-reference to a group that may hold digits")
    return problems


DEGREE_PATTERNS = [*strategy._EXPLICIT, strategy._COUNT_FIRST, strategy._RANK_RANGE, strategy._TOKEN, strategy._CHAIN_GAP]


@pytest.mark.parametrize("pattern", [pattern for _, pattern in RULES] + DEGREE_PATTERNS, ids=lambda p: p.pattern[:40])
def test_templated_patterns_treat_masked_digits_alike(pattern):
    assert _digits_named(sre_parse.parse(pattern.pattern, pattern.flags)) == [], pattern.pattern


def test_the_check_catches_a_pattern_that_names_a_masked_digit():
    assert _digits_named(sre_parse.parse(r"fp8|\bw1\b")) == ["literal '8'", "literal '1'"]
    assert _digits_named(sre_parse.parse(r"stage[1-3]")) == ["range 1-3"]
    assert _digits_named(sre_parse.parse(r"(\d)\1")) == ["a back-reference to a group that may hold digits"]
    assert _digits_named(sre_parse.parse(r"all2all|\d+|[0-9a-z]|(TP|EP)\d+-\1")) == []


@pytest.mark.parametrize(("text", "op"), [
    ("all2all", Op.ALL_TO_ALL), ("all3all", Op.UNKNOWN), ("a2a l17", Op.ALL_TO_ALL), ("Expert 17", Op.EXPERT),
    ("fc1", Op.MLP), ("Layer 12", Op.ATTENTION), ("Top-8 Select", Op.GATE),
])
def test_templates_keep_the_operator(text, op):
    assert operator_from_text(text) is op
    assert template("l17_tp3_all2all_9") == "l00_tp0_all2all_0"


CACHES = (operators.operator_from_text, operators._operator_of_template, operators._operator_of_id_template,
          strategy._explicit, strategy._statements)


def _both_ways(work):
    """`work()` through templates, then with templates off (each text read as it is), with the
    caches of what is templated emptied around each."""
    results = []
    for mask in (template, lambda text: text):
        for cache in CACHES:
            cache.cache_clear()
        templates.template = mask
        try:
            results.append(work())
        finally:
            templates.template = template
    for cache in CACHES:
        cache.cache_clear()
    return results


def _models_both_ways(raw):
    """The deployment and its findings, through templates and directly."""
    def work():
        deployment = build_deployment(raw)
        return deployment, validate(deployment)

    return _both_ways(work)


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


def _texts(paths) -> list[str]:
    """Every label line, whole label (lines joined) and graph or cluster label of the files."""
    texts = []
    for path in paths:
        raw = read_dot(path)
        texts += [raw.attrs.get("label", ""), *(cluster.label for cluster in raw.clusters())]
        for node in raw.nodes.values():
            label = node.attrs.get("label", "")
            texts += [label, *label.split("\\n")]
    return [text for text in dict.fromkeys(texts) if text]


HOSTILE_DEGREES = ["TP=8 " * 50, "EP16-TP4-PP2-DP2", "dp1_pp0_tp7", "16 EP x 4 TP", "TP=2000000 EP2-TP3",
                   "tp_size=08, 8-way TP, tensor parallel size 12", "TP0-TP7 EP0-63", "PP 0 to 3, DP=0", "EP٣-TP٤"]


def test_degree_statements_agree_through_templates_and_directly():
    texts = _texts(_files()) + HOSTILE_DEGREES

    def read_all():
        return [(degree_matches(text), degree_matches(text, single_tokens=False, count_first=False),
                 explicit_matches(text), degree_spans(text)) for text in texts]

    templated, direct = _both_ways(read_all)
    assert len(texts) > 1000 and templated == direct
    assert any(found[0] for found in direct)  # the texts do state degrees
