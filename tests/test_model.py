"""The deployment model on the samples and on small graphs: classification, stages, strategy, queries."""

from __future__ import annotations

import pytest

from dagtui.errors import ConfigError
from dagtui.model import Kind, Op, load_deployment, load_model_spec, parse_strategy

from helpers import DATA, SAMPLES


@pytest.fixture(scope="module")
def current():
    return load_deployment(SAMPLES / "current.dot")


@pytest.fixture(scope="module")
def new():
    return load_deployment(SAMPLES / "new.dot")


def test_current_strategy_is_declared_in_the_label(current):
    strategy = current.strategy
    assert current.name == "Current Deployment"
    assert strategy.compact() == "EP64-TP8-PP2-DP2"
    assert strategy.declared == {"ep", "tp", "pp", "dp"} and strategy.source == "graph label"
    assert strategy.gpu_count == 2048 and strategy.declared_total == 2048


def test_new_strategy_is_inferred_from_ranks(new):
    strategy = new.strategy
    assert new.name == "New Deployment"
    assert strategy.declared == set()
    assert (strategy.ep, strategy.tp, strategy.pp, strategy.dp) == (32, 16, 4, 4)
    assert strategy.label() == "EP~32-TP~16-PP~4-DP~4"


def test_override_strategy_marks_degrees_declared():
    deployment = load_deployment(SAMPLES / "new.dot", parse_strategy("EP32-TP16-PP4-DP4"))
    assert deployment.strategy.declared == {"ep", "tp", "pp", "dp"}


def test_unknown_dp_stays_unknown(deploy):
    deployment = deploy('digraph { a [label="Q Projection\\nGPU: TP0-TP3"]; b [label="Expert 0\\nGPU: EP0-EP7"]; a -> b }')
    assert deployment.strategy.tp == 4 and deployment.strategy.ep == 8
    assert deployment.strategy.dp is None and deployment.strategy.gpu_count is None


def test_stages_from_markers(current, new):
    assert [(s.index, s.claimed_layers[0], s.claimed_layers[-1]) for s in current.stages] == [(0, 0, 7), (1, 8, 15)]
    assert [s.index for s in new.stages] == [0, 1, 2, 3]
    assert new.nodes_of_stage(1) == ["pp1_start", "pp1_to_pp2"]
    assert current.layers_drawn == [0, 15] and current.layers_with_transfers_only == [7]
    assert new.layers_drawn == [0, 15]


def test_stages_from_clusters():
    deployment = load_deployment(DATA / "correct_clusters.dot")
    assert [(s.index, s.claimed_layers, s.source) for s in deployment.stages] == [(0, [0], "cluster"), (1, [1], "cluster")]
    assert deployment.nodes["l1_expert2"].stage == 1


def test_consecutive_clusters_of_one_stage_are_one_stage(deploy):
    deployment = deploy("""digraph {
      subgraph cluster_emb { label="Embedding (Pipeline Stage 0)"; emb [label="Embedding\\nGPU: 0"]; }
      subgraph cluster_l0 { label="Layer 0 (Pipeline Stage 0)"; l0 [label="Layer 0 MLP\\nGPU: 0"]; }
      subgraph cluster_pp { label="Pipeline Communication (Stage 0 -> Stage 1)"; send [label="Send\\nGPU: 0"]; }
      subgraph cluster_l1 { label="Layer 1 (Pipeline Stage 1)"; l1 [label="Layer 1 MLP\\nGPU: 1"]; }
      emb -> l0 -> send -> l1;
    }""")
    assert [(s.index, s.claimed_layers, sorted(s.members)) for s in deployment.stages] == [
        (0, [0], ["emb", "l0"]), (1, [1], ["l1"])]


def test_interleaved_clusters_of_one_stage_stay_apart(deploy):
    deployment = deploy("""digraph {
      subgraph cluster_a { label="Layer 0 (Pipeline Stage 0)"; a [label="Layer 0 MLP\\nGPU: 0"]; }
      subgraph cluster_b { label="Layer 1 (Pipeline Stage 1)"; b [label="Layer 1 MLP\\nGPU: 1"]; }
      subgraph cluster_c { label="Layer 2 (Pipeline Stage 0)"; c [label="Layer 2 MLP\\nGPU: 0"]; }
      a -> b -> c;
    }""")
    assert [(s.index, s.claimed_layers) for s in deployment.stages] == [(0, [0]), (0, [2]), (1, [1])]


def test_the_last_node_named_output_is_the_sink_even_with_logits(deploy):
    deployment = deploy("""digraph {
      norm [label="Final Norm\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      output [shape=ellipse, label="Output Logits\\nInput: [8,128,4096]\\nOutput: [8,128,vocab=32000]"];
      norm -> output;
    }""")
    assert deployment.nodes["output"].op is Op.OUTPUT


def test_a_projection_after_the_final_norm_is_the_lm_head(deploy):
    deployment = deploy("""digraph {
      norm [label="Final LayerNorm\\nInput: [8,128,256]\\nOutput: [8,128,256]"];
      proj [label="Output Projection\\nInput: [8,128,256]\\nOutput: [8,128,1024]"];
      out [label="Output"];
      norm -> proj -> out;
    }""")
    assert deployment.nodes["proj"].op is Op.LM_HEAD


def test_attention_drawn_inside_an_expert_is_attention(deploy):
    deployment = deploy("""digraph {
      qkv [label="Expert 0 QKV Proj\\nInput: [8,128,4096]\\nOutput: [8,128,32,128]"];
      attn [label="Expert 0 Attention\\nInput: [8,128,32,128]\\nOutput: [8,128,32,128]"];
      mlp [label="Expert 0 MLP Layer1\\nInput: [8,128,4096]\\nOutput: [8,128,16384]"];
      qkv -> attn -> mlp;
    }""")
    assert [deployment.nodes[n].op for n in ("qkv", "attn", "mlp")] == [Op.QKV_PROJ, Op.ATTN_CORE, Op.EXPERT]
    assert deployment.nodes["mlp"].layer is None


def test_node_records(current):
    q = current.nodes["layer0_attn_q"]
    assert (q.op, q.kind, q.layer, q.stage) == (Op.Q_PROJ, Kind.COMPUTE, 0, 0)
    assert q.rank("tp") == frozenset(range(8)) and q.rank("pp") == {0}
    assert q.output.heads_and_head_dim() == (32, 64)
    assert q.line == 17
    expert = current.nodes["layer0_expert1"]
    assert (expert.op, expert.expert, expert.rank("ep")) == (Op.EXPERT, 1, {1})
    allreduce = current.nodes["layer0_attn_allreduce"]
    assert allreduce.kind is Kind.COMMUNICATION and allreduce.group == {"tp": frozenset(range(8))}
    assert current.nodes["input"].kind is Kind.INPUT and current.nodes["output"].kind is Kind.OUTPUT
    assert current.nodes["layer0_moe_gate"].kind is Kind.ROUTING


def test_queries(current):
    assert current.nodes_of_expert(1) == ["layer0_expert1"]
    assert current.nodes_of_ep_rank(0) == ["layer0_expert0", "layer15_moe"]
    assert set(current.predecessors("layer0_attn_score")) == {"layer0_attn_q", "layer0_attn_k"}
    assert current.successors("layer0_attn_v") == ["layer0_attn_out"]
    assert current.inputs() == ["input"] and current.outputs() == ["output"]
    assert "layer0_attn_out" in current.nodes_of_layer(0)
    assert current.unplaced() == []


def test_opaque_ids_classified_from_labels():
    deployment = load_deployment(DATA / "correct_opaque.dot")
    assert deployment.nodes["n9"].op is Op.ATTN_WEIGHTED_SUM and deployment.nodes["n9"].layer == 0
    assert deployment.nodes["n18"].expert == 2 and deployment.nodes["n18"].gpus == {2, 3}
    assert deployment.strategy.source == "comment attribute"
    assert deployment.unplaced() == []


def test_weighted_sum_without_softmax_is_the_output_projection(deploy):
    deployment = deploy('digraph { a [label="QKV Projection L0"]; b [label="Attention Output L0"]; a -> b }')
    assert deployment.nodes["b"].op is Op.O_PROJ


def test_model_spec(tmp_path, sample_spec):
    assert (sample_spec.layers, sample_spec.hidden_size, sample_spec.heads, sample_spec.d_k, sample_spec.experts) == (16, 4096, 32, 128, 64)
    bad = tmp_path / "m.yaml"
    for text, message in [
        ("layers: many", "positive integer"), ("wings: 2", "unknown key"), ("- 1", "mapping"),
        ("heads: 32\nd_k: 64\nhidden_size: 4096", "heads x d_k"), ("a: [", "not valid YAML"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_model_spec(bad)


def test_layer_learned_from_the_id_pattern_of_the_file(deploy):
    labelled = " ".join(f'gate_{n} [label="Gate Layer {n}"]; mlp_{n} [label="MLP Layer {n}"];' for n in range(4))
    deployment = deploy("digraph { " + labelled + " gate_2 -> comm_2; comm_2 -> agg_2 }")
    assert deployment.nodes["comm_2"].layer == 2 and deployment.nodes["agg_2"].op is Op.COMBINE
    unrelated = deploy('digraph { n1 [label="Gate Layer 5"]; n2 [label="MLP Layer 7"]; x9 }')
    assert unrelated.nodes["x9"].layer is None


def test_operators_met_in_the_corpus(deploy):
    deployment = deploy('digraph { a [label="Micro-batch Split"]; b [label="Gather Results"]; c [label="KV Cache Access"];'
                        ' d [label="Layers 8-15\\nSimilar structure"]; a -> b -> c -> d }')
    assert [deployment.nodes[n].op for n in "abcd"] == [Op.SPLIT, Op.CONCAT, Op.KV_CACHE, Op.PLACEHOLDER]
