"""Style independence: the same correct deployment drawn in every house style (ids, wording,
dimension and placement notation, fused QKV, LM head, pass-through operators, stage drawing,
layer numbering, markup, where the strategy is stated) gives no error or warning, and every
injected defect is found in every style with the right category and a node it names."""

from __future__ import annotations

import pytest
from mutations import MUTATIONS, applies

from dagtui.generate import HOUSE_STYLES, generate, to_dot
from dagtui.model import ModelSpec, parse_strategy
from dagtui.review import review_file
from dagtui.validate import Severity

SMALL = ModelSpec(layers=8, hidden_size=1024, heads=8, d_k=128, experts=8, top_k=2, batch_size=8, seq_len=128,
                  dense_layers=1)
STRATEGY = parse_strategy("EP2-TP2-PP4-DP2")


def serious(review):
    return [f"{f.rule}: {f.message}" for f in review.findings if f.severity is not Severity.INFO]


def test_the_house_styles_vary_every_dimension():
    styles = list(HOUSE_STYLES.values())
    assert len(styles) >= 6
    for dimension in ("ids", "wording", "dims", "io", "placement", "fused_qkv", "vocab_parallel_head", "pass_through",
                      "stages", "first_layer", "markup", "strategy_at"):
        assert len({getattr(style, dimension) for style in styles}) >= 2, dimension
    assert {style.strategy_at for style in styles} == {"label", "comment", "name", "nowhere"}
    assert {style.ids for style in styles} == {"snake", "caps", "opaque", "hashed"}


@pytest.mark.parametrize("house", sorted(HOUSE_STYLES))
@pytest.mark.parametrize("with_model", [True, False])
def test_clean_dag_in_every_style(tmp_path, house, with_model):
    path = tmp_path / f"{house}.dot"
    path.write_text(to_dot(generate(SMALL, STRATEGY, house=house)))
    review = review_file(path, SMALL if with_model else None)
    assert review.deployment is not None, [f.message for f in review.findings]
    assert review.deployment.unplaced() == []
    assert serious(review) == []
    strategy = review.deployment.strategy
    assert (strategy.ep, strategy.tp, strategy.pp) == (2, 2, 4)
    if HOUSE_STYLES[house].strategy_at != "nowhere":
        assert {"ep", "tp", "pp", "dp"} <= strategy.declared
    assert review.deployment.layers_drawn == list(range(HOUSE_STYLES[house].first_layer, 8 + HOUSE_STYLES[house].first_layer))


@pytest.mark.parametrize("house", sorted(HOUSE_STYLES))
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutation_is_found_in_every_style(tmp_path, house, mutation):
    graph = generate(SMALL, STRATEGY, house=house, dp_replicas=getattr(MUTATIONS[mutation], "dp_replicas", "one"))
    if not applies(mutation, graph):
        pytest.skip(f"{mutation} cannot be written in {house}")
    category, expected_nodes = MUTATIONS[mutation](graph)
    path = tmp_path / "broken.dot"
    path.write_text(to_dot(graph))
    review = review_file(path)
    hits = [
        f for f in review.findings
        if f.category == category and f.severity is not Severity.INFO and (set(f.nodes) & expected_nodes or not expected_nodes)
    ]
    assert hits, f"{mutation} ({house}) not reported as {category}: {[(f.rule, f.category, f.nodes[:4]) for f in review.findings]}"
