"""`dagtui generate`: correct DAGs for any strategy (hypothesis) and the fixed samples up to date.
The mutation suite, in every house style, is tests/test_styles.py."""

from __future__ import annotations

import pytest
from helpers import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagtui.cli import main
from dagtui.errors import ConfigError
from dagtui.generate import NAMING_STYLES, generate, to_dot
from dagtui.model import ModelSpec, load_model_spec, parse_strategy
from dagtui.review import review_file
from dagtui.validate import Severity

SMALL = ModelSpec(layers=8, hidden_size=1024, heads=8, d_k=128, experts=8, top_k=2, batch_size=8, seq_len=128)
STRATEGY = parse_strategy("EP2-TP2-PP4-DP1")


def serious(review):
    return [f"{f.rule}: {f.message}" for f in review.findings if f.severity is not Severity.INFO]


@pytest.mark.parametrize("name, strategy", [("current", "EP64-TP8-PP2-DP2"), ("new", "EP32-TP16-PP4-DP4")])
def test_fixed_samples_are_up_to_date(name, strategy):
    spec = load_model_spec(SAMPLES / "model.yaml")
    graph = generate(spec, parse_strategy(strategy), name=f"{name.capitalize()} Deployment")
    assert (SAMPLES / "fixed" / f"{name}.dot").read_text() == to_dot(graph)


@pytest.mark.parametrize("name", ["current", "new"])
@pytest.mark.parametrize("with_model", [True, False])
def test_fixed_samples_are_clean(name, with_model):
    spec = load_model_spec(SAMPLES / "model.yaml") if with_model else None
    review = review_file(SAMPLES / "fixed" / f"{name}.dot", spec)
    assert review.deployment.unplaced() == []
    assert serious(review) == []
    assert review.deployment.layers_drawn == list(range(16))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tp=st.sampled_from([1, 2, 4]), ep=st.sampled_from([1, 2, 4]), pp=st.sampled_from([1, 2]),
    dp=st.sampled_from([1, 2]), layers_per_stage=st.integers(1, 2), style=st.sampled_from(NAMING_STYLES),
    replicas=st.sampled_from(["one", "shown"]), with_model=st.booleans(),
)
def test_generated_dags_are_clean(tmp_path, tp, ep, pp, dp, layers_per_stage, style, replicas, with_model):
    spec = ModelSpec(layers=pp * layers_per_stage, hidden_size=512, heads=4, d_k=128, experts=ep * 2, top_k=2,
                     batch_size=4, seq_len=64)
    graph = generate(spec, parse_strategy(f"EP{ep}-TP{tp}-PP{pp}-DP{dp}"), style=style, dp_replicas=replicas)
    path = tmp_path / f"g-{style}-{tp}-{ep}-{pp}-{dp}.dot"
    path.write_text(to_dot(graph))
    review = review_file(path, spec if with_model else None)
    assert review.deployment is not None
    assert review.deployment.unplaced() == []
    assert all(node.op.value != "unknown" for node in review.deployment.nodes.values())
    assert serious(review) == []


def test_strategy_must_divide_the_model():
    spec = load_model_spec(SAMPLES / "model.yaml")
    with pytest.raises(ConfigError, match="32 heads do not divide by TP12"):
        generate(spec, parse_strategy("EP4-TP12-PP2-DP1"))
    with pytest.raises(ConfigError, match="64 experts do not divide by EP3"):
        generate(spec, parse_strategy("EP3-TP8-PP2-DP1"))
    with pytest.raises(ConfigError, match="16 layers do not divide by PP3"):
        generate(spec, parse_strategy("EP4-TP8-PP3-DP1"))


def test_generate_command(tmp_path, capsys):
    target = tmp_path / "out.dot"
    code = main(["generate", "--model", str(SAMPLES / "model.yaml"), "--strategy", "EP8-TP4-PP2-DP1",
                 "--layers", "2", "--name", "Quick Look", "--ids", "caps", "-o", str(target)])
    assert code == 0 and "wrote" in capsys.readouterr().err
    text = target.read_text()
    assert text.startswith('digraph "Quick_Look"') and "L1_TP3_QPROJ" in text
    assert main(["generate", "--model", str(SAMPLES / "model.yaml"), "--strategy", "EP3-TP8-PP2-DP1"]) == 2
    assert "do not divide" in capsys.readouterr().err


def test_syntax_error_in_generated_text_is_found(tmp_path):
    text = to_dot(generate(SMALL, STRATEGY)).replace(" -> ", " -> -> ", 1)
    path = tmp_path / "broken.dot"
    path.write_text(text)
    (finding,) = review_file(path).findings
    assert finding.category == "syntax" and finding.line is not None


@pytest.mark.parametrize("strategy", ["EP8-TP4-PP4-DP1", "EP16-TP1-PP1-DP1", "EP16-TP4-PP1-DP1", "TP8-PP2", "EP2-TP4-PP2-DP4"])
def test_strategies_met_in_the_corpus_generate_clean(tmp_path, strategy):
    spec = load_model_spec(SAMPLES / "model.yaml")
    path = tmp_path / "g.dot"
    path.write_text(to_dot(generate(spec, parse_strategy(strategy))))
    assert serious(review_file(path, spec)) == []
