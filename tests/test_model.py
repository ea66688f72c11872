"""The deployment model on the samples and on small graphs: classification, stages, strategy, queries."""

from __future__ import annotations

import re

import pytest
from helpers import DATA, SAMPLES

from dagtui.errors import ConfigError
from dagtui.model import Kind, ModelSpec, Op, load_deployment, load_model_spec, parse_strategy


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


def test_a_block_line_then_its_part_is_that_part(deploy):
    deployment = deploy("""digraph {
      ar [shape=ellipse, label="Layer0 Attention\\nAll-Reduce Sum\\nInput: [8,128,1024]\\nOutput: [8,128,1024]"];
      agg [shape=parallelogram, label="Layer1 MoE\\nOutput Aggregation\\nGPU: 0,1"];
      mha [shape=parallelogram, label="MHA Attention\\nAll heads combined\\nGPU: 0"];
      ar -> agg -> mha;
    }""")
    assert [deployment.nodes[n].op for n in ("ar", "agg", "mha")] == [Op.ALL_REDUCE, Op.COMBINE, Op.ATTENTION]


def test_a_box_of_performance_figures_is_a_note(deploy):
    deployment = deploy("""digraph {
      a_in [label="Input\\n128x10000x4096"];
      baseline [label="Baseline\\nTP=8, PP=2\\n16 GPUs\\n12,800 TPS\\n0.078ms/token"];
      a_out [label="Output\\n128x10000x4096"];
      b_in [label="Input\\n128x10000x4096"];
      optimized [label="Optimized\\nLayer-wise\\n4 GPUs\\n15,360 TPS\\n-17% Latency"];
      b_out [label="Output\\n128x10000x4096"];
      a_in -> baseline -> a_out; b_in -> optimized -> b_out; baseline -> optimized;
    }""")
    assert deployment.nodes["baseline"].kind is Kind.NOTE and deployment.nodes["optimized"].kind is Kind.NOTE


def test_an_id_echoing_the_degree_its_label_states_names_no_rank(deploy):
    deployment = deploy("""digraph {
      baseline_tp8_pp2 [label="Baseline\\nTP=8, PP=2\\nGPU: 0-15"];
      layer0_tp3 [label="Layer 0 MLP\\nGPU: 3"];
      baseline_tp8_pp2 -> layer0_tp3;
    }""")
    assert deployment.nodes["baseline_tp8_pp2"].rank("tp") == frozenset()
    assert deployment.nodes["layer0_tp3"].rank("tp") == frozenset({3})


def test_ranks_tagged_on_the_first_line_and_in_dotted_ids(deploy):
    deployment = deploy("""digraph {
      n1 [label="qkv_proj | L2 | tp1 | stage 1\\n[4,256,1024] -> [4,256,1536]\\ngpu 3"];
      n2 [label="MLP TP8\\nGPU: 0-7"];
      "dp1.blk0.attn.wq.g0.r1" [label="op=wq\\ngpu=9"];
      n1 -> n2 -> "dp1.blk0.attn.wq.g0.r1";
    }""")
    tagged = deployment.nodes["n1"]
    assert (tagged.op, tagged.rank("tp"), tagged.rank("pp"), tagged.layer) == (Op.QKV_PROJ, frozenset({1}), frozenset({1}), 2)
    assert deployment.nodes["n2"].rank("tp") == frozenset()  # a degree in the operator's name, not a tag
    assert deployment.nodes["dp1.blk0.attn.wq.g0.r1"].rank("dp") == frozenset({1})


def test_stage_layers_from_comments_where_stages_are_only_tagged(deploy):
    deployment = deploy("""// tp=1 pp=2
    // stage 0: layers 0-1, gpus 0
    // stage 1: layers 2-3, gpus 1
    digraph {
      a [label="mlp | L0 | stage 0\\ngpu 0"];
      b [label="mlp | L2 | stage 1\\ngpu 1"];
      a -> b;
    }""")
    assert [(stage.index, stage.claimed_layers) for stage in deployment.stages] == [(0, [0, 1]), (1, [2, 3])]


def test_record_nodes_html_tables_and_named_ranks(deploy):
    deployment = deploy("""digraph {
      q [shape=record, label="{ QProj | in: 4 1024 2048 | out: 4 1024 4 128 | gpu 3 }"];
      h [shape=plaintext, label=<<TABLE><TR><TD>Op</TD><TD>Wk</TD></TR><TR><TD>Input</TD><TD>[2, 512, 2048]</TD></TR>
         <TR><TD>Output</TD><TD>[2, 512, 8, 128]</TD></TR><TR><TD>Device</TD><TD>cuda:5</TD></TR></TABLE>>];
      e [label="expert[4] (EP rank 1, TP rank 0)\\nInput: [4, 4096]\\nOutput: [4, 4096]\\nRank 4"];
      q -> h -> e;
    }""")
    record, table, expert = (deployment.nodes[n] for n in "qhe")
    assert (record.op, [s.values for s in record.inputs], [s.values for s in record.outputs], record.gpus) == (
        Op.Q_PROJ, [(4, 1024, 2048)], [(4, 1024, 4, 128)], frozenset({3}))
    assert (table.op, table.kind, table.gpus, [s.values for s in table.outputs]) == (
        Op.K_PROJ, Kind.COMPUTE, frozenset({5}), [(2, 512, 8, 128)])
    assert (expert.expert, expert.rank("ep"), expert.rank("tp"), expert.gpus) == (4, frozenset({1}), frozenset({0}), frozenset({4}))


def test_a_stage_banner_in_the_flow_opens_its_stage_and_a_loose_one_is_a_note(deploy):
    deployment = deploy("""digraph {
      s0 [shape=plaintext, label="== Pipeline stage 0: layers 0-0 =="];
      a [label="MLP Layer 0\\nGPU: 0"];
      send [shape=ellipse, label="Send\\nGPU: 0"];
      s1 [shape=plaintext, label="== Pipeline stage 1: layers 1-1 =="];
      b [label="MLP Layer 1\\nGPU: 1"];
      note [shape=plaintext, label="Pipeline Stage 2"];
      s0 -> a -> send; send -> s1 [style=dashed]; send -> b; s1 -> b [style=dashed];
    }""")
    assert deployment.nodes["s1"].op is Op.STAGE_MARKER and deployment.nodes["note"].op is Op.LEGEND
    assert [(stage.index, stage.claimed_layers) for stage in deployment.stages] == [(0, [0]), (1, [1])]


def test_replica_clusters_named_with_a_letter(deploy):
    deployment = deploy("""digraph {
      subgraph cluster_r0 { label="Replica R0 (gpus 0-1)";
        subgraph cluster_r0_s0 { label="PP stage 0 | layers 0-0"; a [label="MLP Layer 0\\nGPU: 0"]; } }
      subgraph cluster_r1 { label="Replica R1 (gpus 2-3)";
        subgraph cluster_r1_s0 { label="PP stage 0 | layers 0-0"; b [label="MLP Layer 0\\nGPU: 2"]; } }
    }""")
    assert [(stage.index, stage.replica) for stage in deployment.stages] == [(0, 0), (0, 1)]


def test_a_legend_box_states_the_strategy_for_the_whole_file(deploy):
    deployment = deploy("""digraph MoE_TP2_EP4 {
      legend [shape=note, label="Legend\\nTP 2 / PP 3 / DP 1 / EP 4\\nbox = compute"];
      a [label="MLP Layer 0\\nGPU: 0"];
    }""")
    strategy = deployment.strategy
    assert (strategy.degrees["pp"], strategy.sources["pp"]) == (3, "legend `legend`")
    assert deployment.nodes["legend"].op is Op.LEGEND


def test_text_without_a_box_is_a_note_unless_it_is_a_placed_operator(deploy):
    deployment = deploy("""digraph {
      pv [shape=plaintext, label=<<TABLE><TR><TD>Op</TD><TD>P @ V</TD></TR><TR><TD>Device</TD><TD>cuda:2</TD></TR></TABLE>>];
      note [shape=plaintext, label="Weighted sum: P @ V"];
    }""")
    placed = deployment.nodes["pv"]
    assert (placed.op is not Op.LEGEND, placed.kind, placed.gpus) == (True, Kind.COMPUTE, frozenset({2}))
    assert deployment.nodes["note"].op is Op.LEGEND


def test_prefill_and_decode_each_run_their_own_pipeline(deploy):
    deployment = deploy("""digraph {
      subgraph cluster_prefill { label="Prefill";
        subgraph cluster_p0 { label="Stage 0: layers 0-0"; p0 [label="MLP Layer 0\\nGPU: 0"]; }
        subgraph cluster_p1 { label="Stage 1: layers 1-1"; p1 [label="MLP Layer 1\\nGPU: 1"]; } }
      subgraph cluster_decode { label="Decode step";
        subgraph cluster_d0 { label="Stage 0: layers 0-0"; d0 [label="MLP Layer 0\\nGPU: 0"]; }
        subgraph cluster_d1 { label="Stage 1: layers 1-1"; d1 [label="MLP Layer 1\\nGPU: 1"]; } }
    }""")
    assert [(stage.phase, stage.index) for stage in deployment.stages] == [("decode", 0), ("decode", 1), ("prefill", 0), ("prefill", 1)]
    assert [[stage.phase for stage in stages] for stages in deployment.replicas().values()] == [["prefill"] * 2, ["decode"] * 2]


def test_input_tensor_shape_keys_and_tuples_joined_by_and(deploy):
    deployment = deploy("""digraph {
      s [label="Layer 1 — scaled scores QK^T (tensor-parallel rank 0 of 4) on GPU 4\\nInput tensor shape: (batch=4, seq=8, heads=4, head_dim=128) and (batch=4, seq=8, heads=4, head_dim=128)\\nOutput tensor shape: (batch=4, heads=4, q=8, k=8)"];
    }""")
    node = deployment.nodes["s"]
    assert (len(node.inputs), len(node.outputs), node.gpus) == (2, 1, frozenset({4}))


def test_layers_from_id_prefixes_the_stage_claims_confirm(deploy):
    body = "".join(f'b{layer}_{op}_r0 [label="{op}\\ndev 0"]; ' for layer in (0, 1) for op in ("ln1", "q", "k", "v"))
    body2 = "".join(f'b{layer}_{op}_r0 [label="{op}\\ndev 1"]; ' for layer in (2, 3) for op in ("ln1", "q", "k", "v"))
    deployment = deploy(f"""digraph {{
      subgraph cluster_pp0 {{ label="pp0: blocks 0-1"; {body} emb_r0 [label="Embedding\\ndev 0"]; }}
      subgraph cluster_pp1 {{ label="pp1: blocks 2-3"; {body2} }}
    }}""")
    assert (deployment.nodes["b1_q_r0"].layer, deployment.nodes["b3_v_r0"].layer, deployment.nodes["emb_r0"].layer) == (1, 3, None)


def test_symbolic_shapes_the_graph_label_defines(deploy):
    deployment = deploy("""digraph {
      graph [label="B=8, S=2048, H=4096, NH=32, HD=128, TP=4"];
      q [label="Q projection\\nInput: [B, S, H]\\nOutput: [B, S, NH/TP, HD/2]\\nGPU: 0"];
      r [label="Router\\nInput: [B, S, X]\\nGPU: 0"];
      q -> r;
    }""")
    assert [s.values for s in deployment.nodes["q"].outputs] == [(8, 2048, 8, 64)]
    assert [s.values for s in deployment.nodes["r"].inputs] == [(8, 2048, "X")]  # an undefined symbol stays


def test_upper_case_key_value_labels(deploy):
    deployment = deploy("""digraph {
      subgraph cluster_s1 { label="PP=1 LAYERS=2..3";
        e [label="OP=EXPERT_FFN\\lLAYER=2\\lEXPERT=5\\lIN=[8,1024]\\lOUT=[8,1024]\\lDEV=GPU4,GPU6\\l"]; }
    }""")
    node = deployment.nodes["e"]
    assert (node.op, node.expert, node.layer, node.gpus) == (Op.EXPERT, 5, 2, frozenset({4, 6}))
    assert [(stage.index, stage.claimed_layers) for stage in deployment.stages] == [(1, [2, 3])]


def test_shapes_written_on_the_edges(deploy):
    deployment = deploy("""digraph {
      a [label="LayerNorm\\nGPU 0"]; b [label="Q proj\\nGPU 0"];
      a -> b [label="[8,1024,4096]"];
    }""")
    assert [s.values for s in deployment.nodes["a"].outputs] == [(8, 1024, 4096)]
    assert [s.values for s in deployment.nodes["b"].inputs] == [(8, 1024, 4096)]


def test_host_and_local_gpu_placements_are_global_ids(deploy):
    deployment = deploy("""// 2 nodes x 8 GPUs
    digraph {
      a [label="Q Proj\\nPlacement: node1/gpu3"];
      b [label="AllReduce\\nPlacement: node0/gpu0-7 + node1/gpu0-7", shape=ellipse];
      a -> b;
    }""")
    assert deployment.nodes["a"].gpus == frozenset({11})
    assert deployment.nodes["b"].gpus == frozenset(range(16))


def test_two_axis_degrees_on_stage_nodes_numbered_from_one(deploy):
    deployment = deploy("""digraph {
      input [label="Input Layer"];
      stage1 [label="Pipeline Stage 1\\nLayers 1-8\\nTP8-EP64"];
      sync [shape=ellipse, label="Tensor Parallel Sync\\nAll-Reduce"];
      stage2 [label="Pipeline Stage 2\\nLayers 9-16\\nTP8-EP64"];
      output [label="Output Layer"];
      input -> stage1 -> stage2 -> output; sync -> stage1 [constraint=false]; sync -> stage2;
    }""")
    strategy = deployment.strategy
    assert (strategy.degrees["tp"], strategy.degrees["ep"], strategy.degrees["pp"]) == (8, 64, 2)
    assert {"tp", "ep"} <= strategy.declared
    assert [stage.index for stage in deployment.stages] == [1, 2]  # no stage 0 made of the side collective


def test_roles_read_from_the_neighbours(deploy):
    deployment = deploy("""digraph {
      qkv [label="QKV Projection\\nInput: [8,128,1024]\\nOutput: [8,128,3072]"];
      score [label="Attention Score\\nInput: [8,128,3072]\\nOutput: [8,16,128,128]"];
      sm [label="Softmax\\nInput: [8,16,128,128]\\nOutput: [8,16,128,128]"];
      weight [label="Attention Weight\\nInput: [8,16,128,128]\\nOutput: [8,128,1024]"];
      proj [label="Attention Output Projection\\nInput: [8,128,1024]\\nOutput: [8,128,1024]"];
      moe_out [label="MoE Output Projection\\nInput: [8,128,1024]\\nOutput: [8,128,1024]"];
      head [label="LM Head\\nInput: [8,128,1024]\\nOutput: [8,128,vocab_size=32000]"];
      probs [label="Softmax\\nInput: [8,128,vocab_size=32000]\\nOutput: [8,128,vocab_size=32000]"];
      qkv -> score -> sm -> weight -> proj -> moe_out -> head -> probs;
    }""")
    ops = {n: deployment.nodes[n].op for n in ("weight", "moe_out", "probs")}
    assert ops == {"weight": Op.ATTN_WEIGHTED_SUM, "moe_out": Op.MLP, "probs": Op.ELEMENTWISE}


def test_placement_from_a_device_id_an_invisible_stand_in_and_an_output_layer(deploy):
    deployment = deploy("""digraph {
      device_3_q_proj [label="Q Projection\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      skipped [label="Layer 126 Input", style=invis];
      norm [label="Final Norm\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      output [label="Output Layer\\nInput: [8,128,4096]\\nOutput: [8,128,vocab=128256]"];
      device_3_q_proj -> skipped -> norm -> output;
    }""")
    assert deployment.nodes["device_3_q_proj"].gpus == frozenset({3})
    assert deployment.nodes["skipped"].op is Op.PLACEHOLDER
    assert deployment.nodes["output"].op is Op.LM_HEAD


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
        ("heads: 30\nhidden_size: 4096", "30 heads do not divide hidden_size 4096; give head_dim"),
        ("a: [", "not valid YAML"),
    ]:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_model_spec(bad)


def test_model_spec_keys_of_real_models(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("layers: 94\nhidden_size: 4096\nheads: 64\nhead_dim: 128\nkv_heads: 4\nffn_hidden: 12288\n"
                    "moe_ffn_hidden: 1536\nexperts: 128\ntop_k: 8\nshared_experts: 0\ndense_layers: 0\nvocab: 151936\n"
                    "tied_embeddings: false\ngated_mlp: true\ndtype: bfloat16\nkv_dtype: fp8\nbatch: 64\nseq_len: 8192\n"
                    "decode_tokens: 1024\nmicro_batches: 4\n")
    spec = load_model_spec(path)
    assert (spec.head_dim, spec.kv_heads, spec.ffn_hidden_size, spec.moe_ffn_hidden_size, spec.vocab_size) == (128, 4, 12288, 1536, 151936)
    assert (spec.shared_experts, spec.dense_layers, spec.tied_embeddings, spec.gated_mlp) == (0, 0, False, True)
    assert (spec.dtype, spec.kv_dtype, spec.batch_size, spec.decode_tokens, spec.micro_batches) == ("bf16", "fp8", 64, 1024, 4)
    assert spec.heads * spec.head_dim == 8192 != spec.hidden_size  # Qwen3: allowed


def test_model_spec_defaults_and_hugging_face_names(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("num_hidden_layers: 32\nhidden_size: 4096\nnum_attention_heads: 32\nnum_key_value_heads: 8\n"
                    "intermediate_size: 14336\nnum_local_experts_is_not_a_key: 1\n")
    with pytest.raises(ConfigError, match="unknown key 'num_local_experts_is_not_a_key'"):
        load_model_spec(path)
    path.write_text("num_hidden_layers: 32\nhidden_size: 4096\nnum_attention_heads: 32\nnum_key_value_heads: 8\n")
    spec = load_model_spec(path)
    assert (spec.layers, spec.heads, spec.kv_heads, spec.head_dim, spec.kv_head_count) == (32, 32, 8, 128, 8)
    assert ModelSpec(hidden_size=4096, heads=32).kv_head_count == 32


@pytest.mark.parametrize("text, message", [
    ("gated_mlp: yes please", "gated_mlp must be true or false"),
    ("tied_embeddings: 1", "tied_embeddings must be true or false"),
    ("dtype: int3", "dtype must be one of bf16, fp16, fp8, fp32"),
    ("kv_dtype: [bf16]", "kv_dtype must be one of"),
    ("heads: 32\nkv_heads: 5", "kv_heads 5 must divide heads 32"),
    ("heads: 8\nkv_heads: 16", "kv_heads 16 must divide heads 8"),
    ("experts: 8\ntop_k: 9", "top_k 9 is more than the 8 experts"),
    ("layers: 4\ndense_layers: 5", "dense_layers 5 is more than the 4 layers"),
    ("batch: 4\nbatch_size: 8", "batch_size gives batch_size a second time"),
    ("shared_experts: -1", "shared_experts must be a non-negative integer"),
    ("micro_batches: 0", "micro_batches must be a positive integer"),
    ("decode_tokens: 1.5", "decode_tokens must be a non-negative integer"),
    ("micro_batches: 2000000", "more than the 1,000,000 dagtui accepts"),
])
def test_model_spec_errors_are_clear(tmp_path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_model_spec(path)


def test_old_model_spec_keys_still_work(sample_spec):
    # samples/model.yaml keeps d_k and batch_size, as written before the spec grew
    assert (sample_spec.d_k, sample_spec.head_dim, sample_spec.batch_size, sample_spec.seq_len) == (128, 128, 128, 1024)
    assert ModelSpec(d_k=64, heads=8, hidden_size=4096).head_dim == 64


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


def test_label_forms_read_as_their_authors_mean_them(deploy):
    deployment = deploy("""digraph {
      gate [label="Expert_Gate_0\\nInput: [128,10000,4096]\\nOutput: [128,10000,4096]" shape=parallelogram];
      emb [label="Token + Position\\nEmbedding\\n[Input: [1024,2048], Output: [1024,2048,4096]]"];
      ring [label="D0\\nL0\\nStage 0\\nKV from D0" xlabel="Q: [128, 6250, 32, 128]\\nK,V: [128, 6250, 32, 128]\\nOutput: [128, 6250, 4096]"];
      back [label="Return to Attention\\nLayer 0\\nFrom: GPUs 12-15\\nTo: GPUs 0-11" shape=parallelogram];
      soft [label="Softmax\\nInput/Output: [8, 128, 3, 128]\\nGPU: 0"];
      qkv [label="QKV Projection\\nInput: [128,6250,4096]\\nOutput: [128,6250,12288]"];
      emb -> gate; qkv -> ring -> back -> soft;
    }""")
    ops = {n: deployment.nodes[n].op for n in ("gate", "emb", "ring", "back")}
    assert ops == {"gate": Op.GATE, "emb": Op.EMBEDDING, "ring": Op.ATTN_CORE, "back": Op.SEND_RECV}
    assert deployment.nodes["soft"].inputs == deployment.nodes["soft"].outputs != []


def test_a_block_output_box_after_the_projection_passes_the_tensor_on(deploy):
    deployment = deploy("""digraph {
      core [label="Attention Core\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      proj [label="Output Projection\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      mark [label="Attention Block Output\\n[8, 128, 4096]" shape=circle];
      norm [label="Post-Attention RMSNorm\\nInput: [8,128,4096]\\nOutput: [8,128,4096]"];
      core -> proj -> mark -> norm;
    }""")
    assert deployment.nodes["mark"].op is Op.ELEMENTWISE


def test_layout_anchors_are_not_nodes_but_labelled_invisible_stand_ins_are(deploy):
    deployment = deploy("""digraph {
      a [label="Layer 0 MLP"]; b [label="Layer 1 MLP"];
      skipped [label="... 14 layers skipped ..." style=invis];
      a -> skipped -> b;
      anchor0 -> anchor1 [style=invis];
      a -> anchor0 [style=invis];
    }""")
    assert set(deployment.nodes) == {"a", "b", "skipped"}
    assert deployment.nodes["skipped"].op is Op.PLACEHOLDER
    assert set(deployment.graph.edges) == {("a", "skipped"), ("skipped", "b")}


def test_label_forms_round_ten_taught(deploy):
    deployment = deploy("""digraph {
      title [label="LLM Deployment Strategies\\n4-Layer Dense Model Comparison" shape=box];
      inp [label="Input\\n[8,128,4096]"];
      d0 [label="Dense Layer 0 MHA (All Components)\\nGPU: 3712 (Node 464, GPU 0)"];
      g3 [label="MoE Layer 3 Gate\\nGPU: 0"];
      ex [label="MoE Layer 3 Expert Cluster (64 experts)\\nGPU Range: 0-63 (Nodes 0-7)"];
      whole [label="Layer 1\\nMHA + FFN"];
      qkv [label="MHA QKV Linear Split\\nInput: [8,128,512]\\nOutput: [8,128,4,128]"];
      fc1 [label="MLP1 L0\\nGPU 0\\nColParallel\\n16384->8192"];
      red [label="MLP Reduce\\n[8,128,4096]\\nAll Devices 0-7" shape=ellipse style=dashed];
      local [label="Reduce L1\\nGPU: 8" shape=parallelogram];
      agg [label="Layer 1\\nAttention\\nAggregation"];
      agg0 [label="Attention\\nAggregation\\nAll-Reduce"];
      mha_input_0 [label="MHA_Input_0\\nInput: [8,128,4096]\\nOutput: [8,128,4096]" shape=parallelogram];
      end [label="Model End\\nOutput: [8,128,4096]"];
      inp -> d0 -> g3 -> ex -> whole -> qkv -> fc1 -> red -> local -> agg -> agg0 -> mha_input_0 -> end;
    }""")
    ops = {n: deployment.nodes[n].op for n in ("title", "d0", "g3", "ex", "whole", "qkv", "red", "local", "agg", "agg0", "mha_input_0", "end")}
    assert ops == {"title": Op.LEGEND, "d0": Op.ATTENTION, "g3": Op.GATE, "ex": Op.MOE, "whole": Op.ATTENTION,
                   "qkv": Op.QKV_PROJ, "red": Op.ALL_REDUCE, "local": Op.UNKNOWN, "agg": Op.COMBINE,
                   "agg0": Op.ALL_REDUCE, "mha_input_0": Op.ELEMENTWISE, "end": Op.OUTPUT}
    assert deployment.nodes["d0"].gpus == {3712}
    assert deployment.nodes["ex"].gpus == set(range(64))
    fc1 = deployment.nodes["fc1"]
    assert [shape.last.value for shape in fc1.inputs + fc1.outputs] == [16384, 8192]


@pytest.mark.parametrize("line", ["GPU 0 -> 1", "Stage 0 -> 1", "PP0 -> 12", "0 -> 1"])
def test_a_move_between_places_is_no_width_arrow(line):
    from dagtui.model.node import read_line

    assert read_line(line).role != "shapes"


def test_label_forms_round_eleven_taught(deploy):
    deployment = deploy("""digraph {
      ep [label="Expert Parallelism\\n64-way Partitioning" shape=parallelogram];
      res [label="ResidAdd L0\\nGPU 0"];
      qkv [label="gpu0_mha_qkv\\nGPU: 0\\nIn: batch_size, seq_len=128, d_model=1024\\nOut: batch_size, seq_len=128, heads=16, d_k=64"];
      ep -> res -> qkv;
    }""")
    assert deployment.nodes["ep"].op is Op.LEGEND and deployment.nodes["res"].op is Op.RESIDUAL_ADD
    qkv = deployment.nodes["qkv"]
    assert [dim.name for dim in qkv.inputs[0].dims] == [None, "seq_len", "d_model"]
    assert qkv.outputs[0].heads_and_head_dim() == (16, 64)


def test_label_forms_round_twelve_taught(deploy):
    deployment = deploy("""digraph {
      res [label="Attn Res L0" shape=ellipse];
      qkv [label="QKV Projections\\n8×[128,2048,4096]\\n×[4096,1536]\\nGPU: 0-7"];
      core [label="Multi-Head Attention\\n8×[128,2048,1536]\\n→ 8×[128,2048,512]\\nGPU: 0-7"];
      qkv -> core -> res;
    }""")
    assert deployment.nodes["res"].op is Op.RESIDUAL_ADD
    qkv, core = deployment.nodes["qkv"], deployment.nodes["core"]
    assert [s.values for s in qkv.inputs + qkv.outputs] == [(128, 2048, 4096), (128, 2048, 1536)]
    assert [s.values for s in core.inputs + core.outputs] == [(128, 2048, 1536), (128, 2048, 512)]


def test_host_gpu_lists_are_global_ids(deploy):
    deployment = deploy("""digraph {
      a [label="Q Proj\\nGPUs: node1:gpu0,2,4,6"];
      b [label="Expert 0\\nGPUs: node1:gpu0-1,4-5"];
      c [label="AllReduce\\nGPUs: node0:gpu0-7, node1:gpu0-7", shape=ellipse];
      a -> c; b -> c;
    }""")
    assert deployment.nodes["a"].gpus == frozenset({8, 10, 12, 14})
    assert deployment.nodes["b"].gpus == frozenset({8, 9, 12, 13})
    assert deployment.nodes["c"].gpus == frozenset(range(16))


def test_hashed_ids_name_no_expert_layer_or_rank(deploy):
    nodes = "\n".join(f'e{n:03d} [label="UP\\nL{n % 2} tp0\\n[4,512,2048] → [4,512,8192]\\n@g0"];' for n in range(100, 112))
    deployment = deploy(f"digraph {{ {nodes} }}")
    node = deployment.nodes["e100"]
    assert node.op is Op.MLP and node.expert is None and node.layer == 0
    assert node.gpus == frozenset({0})
    assert [s.values for s in node.inputs] == [(4, 512, 2048)]


def test_context_parallel_counts_gpus_and_megatron_folds_experts(deploy):
    deployment = deploy("""digraph {
      label="Parallelism: TP=2, CP=2, PP=2, EP=4, DP=1\\nTotal GPUs: 8 = TP*CP*PP*DP";
      // mcore switches: expert_tensor_parallel_size=1
      a [label="Linear QKV\\nGPU: 0"];
    }""")
    strategy = deployment.strategy
    assert strategy.degrees["tp"] == 2 and strategy.conflicts == []  # the experts' own TP is no TP statement
    assert strategy.context_parallel and strategy.cp == 2
    assert strategy.gpu_count == 32 and strategy.megatron_gpu_count == 8


def test_sequence_parallel_adds_no_gpus(deploy):
    strategy = deploy('digraph { label="TP=2, SP=2, PP=1, EP=1, DP=1"; a [label="Norm\\nGPU: 0"]; }').strategy
    assert not strategy.context_parallel and strategy.gpu_count == 2


def test_terse_stage_cluster_labels_claim_layers(deploy):
    deployment = deploy("""digraph tp1_pp2 {
      subgraph cluster_dp0_pp0 { label="dp0/pp0\\nL0-1"; a [label="LN1\\nL0\\n@g0"]; }
      subgraph cluster_dp0_pp1 { label="dp0/pp1\\nL2-3"; b [label="LN1\\nL2\\n@g1"]; }
      a -> b;
    }""")
    assert [(stage.index, stage.claimed_layers) for stage in deployment.stages] == [(0, [0, 1]), (1, [2, 3])]


def test_compact_host_gpu_names_rank_of_tags_and_tag_prefixes(deploy):
    deployment = deploy("""digraph {
      a [label="[mb0] Layer 1 · Q projection (TP 1/2)\\nin  (2, 512, 2048)\\nout (2, 512, 8, 128)\\nDev: n1g2"];
      b [label="**AllReduce**<br>Input: [2, 512, 2048]<br>Output → [2, 512, 2048]<br>Dev: n0g0-n1g7", shape=ellipse];
      "l1-k-tp1" [label="K projection\\nDev: n0g0,n1g0"];
      a -> b; "l1-k-tp1" -> a [style=invis]; "l1-k-tp1" -> b;
    }""")
    a, b, k = (deployment.nodes[n] for n in ("a", "b", "l1-k-tp1"))
    assert a.op is Op.Q_PROJ and a.rank("tp") == frozenset({1}) and a.gpus == frozenset({10})
    assert [s.values for s in a.inputs] == [(2, 512, 2048)]
    assert b.op is Op.ALL_REDUCE and b.gpus == frozenset(range(16)) and [s.values for s in b.outputs] == [(2, 512, 2048)]
    assert k.rank("tp") == frozenset({1}) and k.gpus == frozenset({0, 8})
    assert deployment.graph.number_of_edges() == 2  # the invisible edge orders the layout, no tensor flows on it


def test_scheduler_host_and_device_lists_are_global_ids(deploy):
    deployment = deploy("""digraph {
      label="Topology: 2 hosts × 8 GPUs";
      a [label="Query Projection\\nhost: worker-1\\ndevices: [4, 5, 6, 7]"];
      b [label="All-Reduce\\nhost: worker-0\\ndevices: [0-7]\\nhost: worker-1\\ndevices: [0-7]", shape=ellipse];
      c [label="Expert E₃ = FFN₃(D₃)\\nGPU 3"];
      a -> b -> c;
    }""")
    assert deployment.nodes["a"].gpus == frozenset({12, 13, 14, 15})
    assert deployment.nodes["b"].gpus == frozenset(range(16))
    assert deployment.nodes["c"].op is Op.EXPERT and deployment.nodes["c"].expert == 3


def test_bulleted_label_lines(deploy):
    deployment = deploy("""digraph {
      "17" [label="q_proj\\l• shape in: [4, 2048, 4096]\\l• shape out: [4, 2048, 16, 128]\\l• device: 2\\l• layer: 1\\l- column-parallel\\l"];
    }""")
    node = deployment.nodes["17"]
    assert node.op is Op.Q_PROJ and node.gpus == frozenset({2}) and node.layer == 1
    assert [s.values for s in node.outputs] == [(4, 2048, 16, 128)]


def test_dp_attention_flags_and_an_explicit_statement_over_a_name_token(deploy):
    strategy = deploy("""// sglang --tp-size 8 --dp-size 8 --enable-dp-attention --ep-size 8 (8 GPUs)
    digraph "sglang_dpattn_ep_3" { a [label="Router\\nGPU: 0"]; }""").strategy
    assert (strategy.degrees["tp"], strategy.degrees["dp"], strategy.degrees["ep"]) == (1, 8, 8)
    assert strategy.conflicts == []
