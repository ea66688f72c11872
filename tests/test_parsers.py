"""Table-driven tests of the pure parsers: labels, shapes, GPU specs, strategies, layer/expert/stage roles."""

from __future__ import annotations

import pytest

from dagtui.dot.labels import label_lines, record_label_lines
from dagtui.errors import ConfigError
from dagtui.model.gpus import inline_placement, parse_placement, parse_ranks
from dagtui.model.node import _first_line_operator, read_line
from dagtui.model.operators import Op, operator_from_id, operator_from_text, readable_id
from dagtui.model.roles import claimed_layers, expert_count_in, expert_in, heads_stated, layer_in, stage_in
from dagtui.model.shapes import parse_dim, parse_shapes
from dagtui.model.strategy import parse_declared_total, parse_degrees, parse_strategy


@pytest.mark.parametrize("value, lines", [
    (r"Embedding\nInput: [1]\nOutput: [2]", ["Embedding", "Input: [1]", "Output: [2]"]),
    (r"left\lright\rend", ["left", "right", "end"]),
    (r"say \"hi\"", ['say "hi"']),
    (r"\N on GPU", ["node7 on GPU"]),
    ("Attention\nL0 TP1", ["Attention", "L0 TP1"]),  # literal newlines, as in some corpus files
    ("<b>Expert 3</b><br/>GPU: 3<BR/>In: [4,8]", ["Expert 3", "GPU: 3", "In: [4,8]"]),
    ("<table><tr><td>Gate</td></tr><tr><td>GPU: 0</td></tr></table>", ["Gate", "GPU: 0"]),
    ("a &amp; b<br/>c", ["a & b", "c"]),
    (r"only\n \nnewline escapes\n", ["only", "newline escapes"]),
    (r"a\\nb\nc", ["a\\", "b", "c"]),  # an escaped backslash, then `n`: split as Graphviz's own code does
    ("mixed\\nescape\\nand\nliteral", ["mixed", "escape", "and", "literal"]),
    ("crlf\\nthen\r\nend \\N", ["crlf", "then", "end node7"]),
    # a key/value table: each row's first cell is the key of the others
    ("<TABLE><TR><TD>Op</TD><TD>Wq</TD></TR><TR><TD>Device</TD><TD>cuda:0</TD></TR></TABLE>", ["Op: Wq", "Device: cuda:0"]),
])
def test_label_lines(value, lines):
    assert label_lines(value, "node7") == lines


@pytest.mark.parametrize("value, lines", [
    ("{ QProj | in: 4 1024 2048 | out: 4 1024 4 128 | gpu 0 }", ["QProj", "in: 4 1024 2048", "out: 4 1024 4 128", "gpu 0"]),
    ("{<op> Gate|<g> GPU: 3}", ["Gate", "GPU: 3"]),
    (r"a\|b|c", ["a|b", "c"]),  # an escaped bar is text
])
def test_record_label_lines(value, lines):
    assert record_label_lines(value) == lines


@pytest.mark.parametrize("text, expected", [
    ("[batch_size=128, seq_len=1024, hidden_size=512]", [(128, 1024, 512)]),
    ("[128,1024,1024]", [(128, 1024, 1024)]),
    ("[16,tokens_per_expert,8192]", [(16, "tokens_per_expert", 8192)]),
    ("[1,2], [3,4]", [(1, 2), (3, 4)]),
    ("[1,2] x [3,4]", [(1, 2), (3, 4)]),
    ("[128,10000,4096] x2", [(128, 10000, 4096), (128, 10000, 4096)]),
    ("Q:[1,2,3], K:[1,2,3], V:[1,2,3]", [(1, 2, 3)] * 3),
    ("[b,s,h/4=256]", [("b", "s", 256)]),
    ("[b,s,64E=64*64]", [("b", "s", 4096)]),
    ("[batch_size=?, seq_len=?]", [("?", "?")]),
    ("[1_024, 8]", [(1024, 8)]),
    ("[128, 1024 1024]", [(128, 1024, 1024)]),  # a comma left out
    ("no shape here", []),
])
def test_parse_shapes(text, expected):
    assert [shape.values for shape in parse_shapes(text)] == expected


def test_shape_helpers():
    (shape,) = parse_shapes("[batch=8, seq=128, heads=4, d_k=128]")
    assert shape.heads_and_head_dim() == (4, 128)
    assert shape.hidden() is None
    (shape,) = parse_shapes("[128, 1024, 4096]")
    assert shape.hidden() == 4096
    assert parse_dim("h=2**99999").value == "2**99999"  # never evaluated: only + - * / are
    assert parse_dim("d=4096/8").value == 512


@pytest.mark.parametrize("text, gpus, ranks", [
    ("0", {0}, {}),
    ("0-7", set(range(8)), {}),
    ("0,1,2", {0, 1, 2}, {}),
    ("GPU5", {5}, {}),
    ("GPU 0-127", set(range(128)), {}),
    ("TP0-7", set(), {"tp": set(range(8))}),
    ("TP0-TP7", set(), {"tp": set(range(8))}),
    ("EP3", set(), {"ep": {3}}),
    ("EP0-EP63, PP1", set(), {"ep": set(range(64)), "pp": {1}}),
    ("DP0_PP0_TP0-DP0_PP0_TP7", set(), {"dp": {0}, "pp": {0}, "tp": set(range(8))}),
    ("EP64 [GPUs: 0-63]", set(range(64)), {}),  # the EP degree of the 64 GPUs, not rank 64
    ("TP=8 across GPUs 0-7", set(range(8)), {}),  # `TP=8` is a degree, never rank 8
    ("8-way TP on 0-7", set(range(8)), {}),
    ("0-1 (TP0-TP1)", {0, 1}, {"tp": {0, 1}}),
    ("8-15 (TP8)", set(range(8, 16)), {}),  # the degree of the 8 GPUs, not rank 8
    ("3 (TP3)", {3}, {"tp": {3}}),
    ("[128+0-128+7]", set(range(128, 136)), {}),  # an offset into the block of GPUs 128-135, not 0-135
])
def test_parse_placement(text, gpus, ranks):
    placement = parse_placement(text)
    assert set(placement.gpus) == gpus
    assert {axis: set(values) for axis, values in placement.ranks.items()} == ranks


@pytest.mark.parametrize("text, placeholder, everywhere", [
    ("ALL", None, True), ("All GPUs", None, True), ("Host", "Host", False), ("CPU", "CPU", False), ("?", "?", False),
    ("layer×16+N", "layer×16+N", False), ("layer_gpu", "layer_gpu", False),
])
def test_placement_placeholders(text, placeholder, everywhere):
    placement = parse_placement(text)
    assert placement.placeholder == placeholder
    assert placement.everywhere is everywhere


def test_parse_ranks_ignores_plain_numbers():
    assert parse_ranks("GPU 3, 4 experts") == {}


@pytest.mark.parametrize("text, degrees", [
    ("EP64-TP8-PP2-DP2", {"ep": 64, "tp": 8, "pp": 2, "dp": 2}),
    ("EP3_TP2_PP1", {"ep": 3, "tp": 2, "pp": 1}),
    ("EP-16 x TP-4 x PP-1", {"ep": 16, "tp": 4, "pp": 1}),
    ("TP=4, EP=16, PP=1", {"tp": 4, "ep": 16, "pp": 1}),
    ("TP8_PP2", {"tp": 8, "pp": 2}),
    ("MoE_Baseline_TP8_PP2", {"tp": 8, "pp": 2}),
    ("Current Deployment: EP64-TP8-PP2-DP2 (2048 GPUs = 64x8x2x2)", {"ep": 64, "tp": 8, "pp": 2, "dp": 2}),
    ("GPU: TP0-TP7, EP0-EP63", {}),  # rank ranges are not degrees
    ("PP Stage 0", {}),
    ("CP4 SP2", {"sp": 4}),
    ("TP: 8", {"tp": 8}),
    ("tp_size=8", {"tp": 8}),
    ("8-way TP", {"tp": 8}),
    ("8-way tensor parallelism", {"tp": 8}),
    ("// 8-way column-parallel FC1", {"tp": 8}),  # a column (or row) split is tensor parallelism
    ("RowParallel 8192->16384", {}),
    ("Tensor Parallelism: 8", {"tp": 8}),
    ("16 EP x 4 TP", {"ep": 16, "tp": 4}),
    ("64 EP, 8 TP, 2 PP", {"ep": 64, "tp": 8, "pp": 2}),
    ("Attention (TP=8)", {"tp": 8}),
    ("PP4_TP4_DP2_EP1", {"pp": 4, "tp": 4, "dp": 2, "ep": 1}),
    ("// LLM EP64-TP8-PP2-DP2 Deployment DAG", {"ep": 64, "tp": 8, "pp": 2, "dp": 2}),
    ("dp1_pp0_tp7", {}),  # a zero: ranks
    ("GPU: DP0_EP0", {}),
    ("EP0-63 TP8", {"tp": 8}),
    ("Layer 3 TP rank", {}),
    ("tensor_model_parallel_size=2, pipeline_model_parallel_size=1, expert_model_parallel_size=8",
     {"tp": 2, "pp": 1, "ep": 8}),  # Megatron-LM's argument names
    ("each node gives its rank (`rank: tp1`)", {}),  # the word says it is a rank
    ("Deployed with 4-way tensor parallelism, 3 pipeline stages (no data parallelism)", {"tp": 4, "pp": 3, "dp": 1}),
    ("vllm serve --tensor-parallel-size 4 --pipeline-parallel-size 2", {"tp": 4, "pp": 2}),  # the tool's flags
])
def test_parse_degrees(text, degrees):
    assert parse_degrees(text) == degrees


@pytest.mark.parametrize("text, degrees", [
    ("QKV Projection TP3", {}),  # a lone token in a node or cluster label is a rank
    ("Stage 1 (PP1)", {}),
    ("EP64-TP8 experts", {"ep": 64, "tp": 8}),  # a run of axes is a strategy anywhere
    ("TP=8 across GPUs 0-7", {"tp": 8}),
])
def test_parse_degrees_without_single_tokens(text, degrees):
    assert parse_degrees(text, single_tokens=False) == degrees


@pytest.mark.parametrize("text", ["EP-1-TP8", "fast please", "EP99999999999-TP8-PP2-DP2", "TP8-TP4", "EP0-TP8",
                                  "EP10000-TP10000"])
def test_parse_strategy_rejects(text):
    with pytest.raises(ConfigError):
        parse_strategy(text)


def test_parse_strategy_and_gpu_counts():
    strategy = parse_strategy("EP64-TP8-PP2-DP2")
    assert strategy.gpu_count == 2048
    assert strategy.megatron_gpu_count is None  # EP64 cannot be carved out of DP2*TP8
    assert parse_strategy("EP4-TP8-PP2-DP2").megatron_gpu_count == 32
    assert strategy.label() == "EP64-TP8-PP2-DP2"
    with pytest.raises(ConfigError):
        parse_strategy("fast please")


@pytest.mark.parametrize("text, total", [("Total GPUs: 2048", 2048), ("(2048 GPUs = 64x8x2x2)", 2048), ("no total", None),
                                         ("padded_vocab_size=32000 gpu = ((dp_rank*PP + pp_rank)", None),
                                         ("2 nodes x 8 GPUs: TP8, PP2", None), ("8 GPUs per node", None)])
def test_declared_total(text, total):
    assert parse_declared_total(text) == total


@pytest.mark.parametrize("text, layer", [
    ("layer0_attn_q_tp2", 0), ("L3_TP2_QPROJ", 3), ("l12_moe_tp0_gpu0", 12), ("mha_layer_0", 0),
    ("Layer 15: Attention", 15), ("K Projection L1-0", 1), ("gpu1_l3_moe", 3), ("expert_layer_2_expert_0_tp_0", 2),
    ("Layer Norm 1 L0", 0), ("n123", None), ("ln1", None), ("Layers 0-7", None),
    ("Expert 0 MLP Layer1 (TP)", None), ("Layer 5 MLP Layer2", 5),  # an MLP's first/second linear is no layer
])
def test_layer_in(text, layer):
    assert layer_in(text) == layer


@pytest.mark.parametrize("text, expert", [
    ("layer0_expert3", 3), ("exp3", 3), ("Expert 12 L1", 12), ("Expert0MLP1(col)", 0), ("L1 E0-1", None), ("expert_layer_2_expert_5", 5),
    ("expert[4] (EP rank 1, TP rank 0)", 4), ("SequentialMLP.local_experts[0] (expert 2 of 8)", 2), ("ExpertFFN 5", 5),
    ("EXPERT=3", 3),
])
def test_expert_in(text, expert):
    assert expert_in(text) == expert


@pytest.mark.parametrize("text, stage, layers", [
    ("PP Stage 0 GPU: PP0 Layers 0-7", 0, list(range(8))),
    ("Pipeline Stage 1 (Layers 8-15)", 1, list(range(8, 16))),
    ("Pipeline Stage 0\\nDevices: 0-7\\nLayers: 0,1", 0, [0, 1]),
    ("Pipeline Stage 2 (Layer 2) - GPUs 32-47", 2, [2]),
    ("Stage 2", 2, None),
    ("Pipeline Stage 1: GPUs 8-15 (Layers 23-46)", 1, list(range(23, 47))),
    ("pipeline_model_parallel_rank 1 (layers 3-4)", 1, [3, 4]),
    ("Stage 1: h.2 - h.3", 1, [2, 3]),  # GPT-2's module path
    ("pipeline rank 1: model.layers.2-3", 1, [2, 3]),
    ("流水线阶段 1 (Pipeline Stage 1): 层 2-3", 1, [2, 3]),
])
def test_stage_labels(text, stage, layers):
    assert stage_in(text) == stage
    assert claimed_layers(text) == layers


@pytest.mark.parametrize("text, op", [
    ("All-to-All Dispatch", Op.ALL_TO_ALL), ("AllReduce(AttnOut)", Op.ALL_REDUCE), ("Attention All-Reduce L0", Op.ALL_REDUCE),
    ("Pipeline Send/Recv", Op.SEND_RECV), ("PP0 → PP1", Op.SEND_RECV), ("Attention Output (Scores x V)", Op.ATTN_WEIGHTED_SUM),
    ("Attention Score (Q x K^T)", Op.ATTN_SCORE), ("Softmax", Op.SOFTMAX), ("Q Projection", Op.Q_PROJ),
    ("QKV_Proj(col)", Op.QKV_PROJ), ("Output Projection", Op.O_PROJ), ("Gate (Router)", Op.GATE), ("Expert Gate L0", Op.GATE),
    ("Expert 3", Op.EXPERT), ("Layer 15: MoE", Op.MOE), ("Layer 15: Attention", Op.ATTENTION), ("MHA", Op.ATTENTION),
    ("Scaled Dot-Product Attention", Op.ATTN_CORE), ("Final RMSNorm", Op.FINAL_NORM), ("RMSNorm", Op.NORM),
    ("Residual Add", Op.RESIDUAL_ADD), ("Attn+Residual", Op.RESIDUAL_ADD), ("Embedding", Op.EMBEDDING),
    ("LM Head", Op.LM_HEAD), ("MLP GELU 11", Op.MLP), ("PP Stage 0", Op.STAGE_MARKER), ("Input", Op.INPUT),
    ("Output", Op.OUTPUT), ("Something else", Op.UNKNOWN),
    ("Attention Start (Layer 0)", Op.ELEMENTWISE), ("Stage 1 Processing\\nSimilar TP+EP pattern", Op.PLACEHOLDER),
    ("Identical computation graph", Op.PLACEHOLDER), ("Same attention decomposition", Op.PLACEHOLDER),
    ("Expert Gate_0", Op.GATE), ("PP Stage 0→1", Op.SEND_RECV), ("ResAdd", Op.RESIDUAL_ADD), ("O_linear", Op.O_PROJ),
    ("== Pipeline stage 1: layers 2-3 ==", Op.STAGE_MARKER), ("Pipeline Stage 0: Embedding", Op.EMBEDDING),
    ("W_down", Op.MLP), ("W_gate", Op.MLP), ("Expert 3 W_up", Op.EXPERT), ("Router top-2", Op.GATE),
    ("L3 · resid", Op.RESIDUAL_ADD), ("kv_b_proj (column-parallel)", Op.QKV_PROJ), ("kv_a_proj_with_mqa", Op.QKV_PROJ),
    ("EXPERT_SUM", Op.COMBINE), ("Stage 0 begin", Op.STAGE_MARKER), ("Layer 0 Experts 4-7 (EP rank 1)", Op.EXPERT),
    ("Layer 15 (64 Experts)", Op.MOE), ("matmul(q, k.transpose(-2, -1)) / sqrt(128)", Op.ATTN_SCORE),
    ("matmul(attn, v)", Op.ATTN_WEIGHTED_SUM),
])
def test_operator_from_text(text, op):
    assert operator_from_text(text) is op


@pytest.mark.parametrize("node_id, op", [("v_7f3a", Op.UNKNOWN), ("h3fa2c1", Op.UNKNOWN), ("v_proj_tp0", Op.V_PROJ),
                                         ("layer0_v", Op.V_PROJ)])
def test_a_hashed_id_names_no_operator(node_id, op):
    assert operator_from_id(node_id) is op


@pytest.mark.parametrize("line, op", [("输出 (Output Logits)", Op.LM_HEAD), ("层归一化 (RMSNorm)", Op.NORM),
                                      ("专家 3 (Expert 3)", Op.EXPERT), ("路由 (Router, Top-2)", Op.GATE)])
def test_a_name_in_another_script_is_read_in_its_english(line, op):
    assert _first_line_operator(line) is op


@pytest.mark.parametrize("line, op", [
    ("matmul(attn, v)  # v.view(4, 1024, 8, 128).transpose(1, 2)", Op.ATTN_WEIGHTED_SUM),  # the call, not the comment
    ("MixtralBlockSparseTop2MLP (expert 0)  # w1/w3 column + w2 row shard", Op.EXPERT),
    ("Linear(in_features=2048, out_features=1024, bias=False)  # q_proj, column shard 1/2", Op.Q_PROJ),  # a generic module
])
def test_a_code_comment_after_the_operator(line, op):
    assert _first_line_operator(line) is op




def test_readable_id_splits_words():
    assert operator_from_text(readable_id("L3_TP2_QPROJ")) is Op.Q_PROJ
    assert operator_from_text(readable_id("layer0_attn_v")) is Op.V_PROJ


@pytest.mark.parametrize("text, gpus", [("RTX3090_0", {0}), ("H100-7", {7}), ("A100 #3", {3}), ("P100_2", {2}),
                                        ("A100-80GB", None)])
def test_device_named_by_its_model(text, gpus):
    placement = inline_placement(text)
    assert (placement.gpus if placement else None) == (frozenset(gpus) if gpus is not None else None)


@pytest.mark.parametrize("text, gpus", [("Rank 5", {5}), ("Ranks 0-3", {0, 1, 2, 3}), ("Ranks 0, 4", {0, 4}),
                                        ("TP rank 3", None), ("TP ranks 0-3", None), ("dev 3", {3}), ("devs 0-3", {0, 1, 2, 3}),
                                        ("norm (replicated on tensor-parallel rank 0 of 4) on GPU 4", {4})])
def test_a_global_rank_is_a_gpu_an_axis_rank_is_not(text, gpus):
    placement = inline_placement(text)
    assert (placement.gpus if placement else None) == (frozenset(gpus) if gpus is not None else None)


@pytest.mark.parametrize("text, symbol", [("Device i", "i"), ("GPU n", "n"), ("device {rank}", "{rank}")])
def test_a_symbolic_device_is_a_placeholder(text, symbol):
    placement = inline_placement(text)
    assert placement is not None and placement.placeholder == symbol and not placement.gpus


@pytest.mark.parametrize("text", ["All GPUs", "(all 8 devices)", "on all GPUs"])
def test_a_line_saying_all_gpus_places_everywhere(text):
    placement = inline_placement(text)
    assert placement is not None and placement.everywhere


@pytest.mark.parametrize("text, count", [
    ("64 experts", 64), ("num_experts=64", 64), ("8 Expert Instances per GPU", None), ("8 experts per GPU", None),
    ("16 experts / 4 GPUs", None), ("Top-2 of 64", 64), ("Select 2 experts per token", None),
    ("8 experts per MoE layer", 8), ("The 4 expert-parallel ranks", None),
])
def test_expert_count_never_a_count_per_gpu(text, count):
    assert expert_count_in(text) == count


def test_heads_split_before_the_sequence_is_the_same_tensor():
    [flat], [split] = parse_shapes("[64, 1024, 512]"), parse_shapes("[64, 8, 1024, 64]")
    assert flat.same_elements(split) and split.same_elements(flat)
    [other] = parse_shapes("[64, 8, 1024, 32]")
    assert not flat.same_elements(other)


@pytest.mark.parametrize(("text", "long"), [
    ("GPU: 0-" + "9" * 19, True), ("GPU: 0-" + "9" * 18, False), ("1234567890 1234567890", False),
    ("a" + "0" * 19 + "b", True), ("→ " + "7" * 19, True), ("→ " + "7" * 18 + "x7", False),
    ("٣" * 19, True), ("٣" * 18 + " ٣", False), ("", False),
])
def test_long_numbers_are_found_in_ascii_and_other_text(text, long):
    from dagtui.dot.labels import has_long_numbers

    assert has_long_numbers(text) is long


@pytest.mark.parametrize("line, inputs, outputs", [
    ("in [8,2048,4096]", [(8, 2048, 4096)], []),  # the key's colon left out, a shape right after it
    ("in (b,nh,s,s)=(4,8,512,512), (b,s,nh,hd)=(4,512,8,128)", [(4, 8, 512, 512), (4, 512, 8, 128)], []),
    ("out [8,2048,1024]", [], [(8, 2048, 1024)]),
    ("in: 4 1024 2048, 4 1024 512", [(4, 1024, 2048), (4, 1024, 512)], []),  # record fields
    ("Input tensor shape: (batch=4, seq=8, hidden=64) and (batch=4, seq=8, hidden=64)", [(4, 8, 64), (4, 8, 64)], []),
])
def test_shape_lines_of_other_hands(line, inputs, outputs):
    facts = read_line(line)
    assert ([s.values for s in facts.inputs], [s.values for s in facts.outputs]) == (inputs, outputs)


def test_heads_a_rank_holds_said_outright():
    assert heads_stated(["OP=Q_PROJ", "HEADS=16", "HEADS_PER_RANK=8", "HEAD_DIM=128"]) == (8, 128)


@pytest.mark.parametrize("line, op", [
    ("IN", Op.INPUT), ("OUT", Op.OUTPUT), ("SM", Op.SOFTMAX), ("O", Op.O_PROJ), ("RTR", Op.GATE),
    ("EMB", Op.EMBEDDING), ("LNf", Op.FINAL_NORM), ("LMH", Op.LM_HEAD), ("UP", Op.MLP), ("DN", Op.MLP),
    ("Input (token ids)", Op.INPUT), ("Token embedding", Op.EMBEDDING),
])
def test_terse_abbreviations_standing_alone(line, op):
    assert operator_from_text(line) is op


def test_a_cut_along_two_axes_is_no_residual_add():
    assert _first_line_operator("Slice Batch (DP) + Sequence (CP)") is Op.RESIDUAL_ADD  # the word alone
    from dagtui.model.node import classify_operator
    assert classify_operator("", ["Slice Batch (DP) + Sequence (CP)", "Input: (b=2, s=4096)"])[0] is Op.UNKNOWN
    assert classify_operator("", ["Attn + Residual", "Input: [2,4]"])[0] is Op.RESIDUAL_ADD


def test_terse_placement_line():
    assert read_line("@g0,2,4,6").placement.gpus == frozenset({0, 2, 4, 6})
    assert read_line("@g8-15").placement.gpus == frozenset(range(8, 16))
    assert read_line("@ home").placement is None


def test_tuple_shapes_with_arithmetic_over_degrees():
    facts = read_line("Input: (b=1, s=8192/CP/TP, h=4096)")
    assert facts.role == "shapes"
    assert [(dim.name, dim.value) for dim in facts.inputs[0].dims] == [("b", 1), ("s", "8192/CP/TP"), ("h", 4096)]


def test_a_size_divided_by_a_degree_names_no_rank():
    assert parse_ranks("ffn_dim=14336/tp2 ep_rank=0") == {"ep": frozenset({0})}
    assert parse_ranks("EP1/TP1") == {"ep": frozenset({1}), "tp": frozenset({1})}


def test_single_letter_head_dims_and_kv_heads():
    assert parse_shapes("[B=2, S=1024, NH=8, D=128]")[0].heads_and_head_dim() == (8, 128)
    assert parse_shapes("[B=2, S=1024, KVH=2, D=64]")[0].heads_and_head_dim() == (2, 64)
    assert parse_shapes("[B=2, S=1024, D=4096]")[0].heads_and_head_dim() is None  # a bare D is no head size


def test_heads_stated_as_attributes():
    assert heads_stated(["attrs: tp_rank=0 local_heads=16 num_heads=32 head_dim=64"]) == (16, 64)
    assert heads_stated(["num_heads=32 head_dim=128"]) == (32, 128)


def test_the_last_factor_of_a_product_states_no_degree():
    assert parse_degrees("Total GPUs: 8 = TP*CP*PP*DP = 2*2*2*1") == {}
    assert parse_degrees("TP x PP x DP = 16 GPUs, TP=4") == {"tp": 4}
    assert parse_degrees("FFN Phase (TP=8×EP=1)") == {"tp": 8, "ep": 1}


def test_one_line_records_of_key_value_fields():
    from dagtui.model.node import record_fields
    line = "op=attn_score; layer=2; tp=1; ep=0..3; in=[64,32,1,128],[64,8,4096,128]; out=[64,32,1,4096]; gpu=0|2"
    assert record_fields(line) == ["op=attn_score", "layer=2", "TP1", "EP0-EP3", "in=[64,32,1,128],[64,8,4096,128]",
                                   "out=[64,32,1,4096]", "gpu=0|2"]
    assert operator_from_text("a2a_dispatch") is Op.ALL_TO_ALL


def test_symbols_then_values_make_one_named_shape():
    shape = read_line("Output: [B/EP, S, NH/TP, DH] = [4, 512, 8, 64]").outputs
    assert [(dim.name, dim.value) for dim in shape[0].dims] == [("B", 4), ("S", 512), ("NH", 8), ("DH", 64)]
    assert shape[0].heads_and_head_dim() == (8, 64)


def test_times_separated_shapes_of_two_dims_several_or_a_placeholder():
    assert [s.values for s in read_line("Shape in: 4×1024").inputs] == [(4, 1024)]
    assert [s.values for s in read_line("Shape out: 4×16×1024; 4×16×1024").outputs] == [(4, 16, 1024)] * 2
    assert read_line("Shape in: ?×2048×3072").inputs[0].dims[0].value == "?"


def test_double_dot_ranges_place_and_a_layer_named_after_is_outside_it():
    assert read_line("ranks 0..3").placement.gpus == frozenset(range(4))
    assert read_line("GPUs 0..3").placement.gpus == frozenset(range(4))
    assert read_line("GPU 0.5 util").placement is None
    assert layer_in("after layer 4") is None and layer_in("Layer 4") == 4


def test_labels_with_markdown_breaks_and_arrows():
    assert [s.values for s in read_line("Output → [batch=4, seq=2048, hidden=5120]").outputs] == [(4, 2048, 5120)]
    assert [s.values for s in read_line("in  (2, 1024, 4096), (2, 1024, 4096)").inputs] == [(2, 1024, 4096)] * 2
    assert read_line("out (?, 1024, 4096)").outputs[0].dims[0].value == "?"


def test_binary_kilo_sizes():
    assert parse_dim("seq=4k").value == 4096 and parse_dim("d=3k").value == 3072 and parse_dim("128k").value == 131072
    assert parse_dim("100k").value == "100k" and parse_dim("6.25k").value == "6.25k"  # 100,000? left a symbol


@pytest.mark.parametrize("line, op", [
    ("Attention weighted sum P·V, merge heads (TP 0/2)", Op.ATTN_WEIGHTED_SUM),
    ("Merge heads", Op.RESHAPE),
])
def test_the_product_with_v_is_the_weighted_sum_whatever_follows(line, op):
    assert operator_from_text(line) is op


@pytest.mark.parametrize("line, op", [
    ("注意スコア / Attention scores", Op.ATTN_SCORE),
    ("出力射影 / Output projection", Op.O_PROJ),
    ("Layer 0 attention probabilities", Op.SOFTMAX),
    ("Layer 0 probabilities times V", Op.ATTN_WEIGHTED_SUM),
    ("K Proj + RoPE (column-parallel, GQA)", Op.K_PROJ),
    ("RoPE (k)", Op.ELEMENTWISE),
    ("Data-parallel logits gather", Op.ALL_GATHER),
])
def test_round_14_wordings(line, op):
    assert _first_line_operator(line) is op


def test_round_14_readings():
    assert [s.values for s in read_line("Input tensor: bf16 of shape (4, 2048, 4096)").inputs] == [(4, 2048, 4096)]
    assert read_line("Placed on: GPUs 0 and 4").placement.gpus == frozenset({0, 4})
    assert read_line("構成 FFN: SwiGLU 2048→5632→2048, TP2 分割 / sharded (2816 per rank)").ranks == ()
    assert [s.values for s in read_line("q [4,2048,16,128]").outputs] == [(4, 2048, 16, 128)]
    assert stage_in("Pipeline stage #1 holds layers 2 through 3") == 1
    assert claimed_layers("Pipeline stage #1 holds layers 2 through 3") == [2, 3]
    assert parse_degrees("Parallel layout — expert 4, tensor 2, pipeline 2, data 1") == {"ep": 4, "tp": 2, "pp": 2, "dp": 1}
    assert parse_degrees("Layer 1, expert 4") == {} and parse_degrees("expert 3, expert 4 and expert 5") == {}


def test_round_15_readings():
    assert [s.values for s in read_line("in 4×512×2048").inputs] == [(4, 512, 2048)]
    assert read_line("in 3 layers").role == "free"
    assert [s.values for s in read_line("∈ ℝ^{4×1024×4096}").outputs] == [(4, 1024, 4096)]
    assert [s.values for s in read_line("from ℝ^{4×8}, ℝ^{4×8}").inputs] == [(4, 8), (4, 8)]
    assert read_line("Q = H·W_q").role == "free"  # an equation, not a `Q:` input
    assert operator_from_text("Y = O·W_o") is Op.O_PROJ and operator_from_text("E5 = FFN5(D5)") is Op.EXPERT
    assert expert_in("E5 = FFN5(D5)") == 5
    assert operator_from_text("NCCL Gather logits (vocab shards)") is Op.ALL_GATHER
    assert _first_line_operator("Ē5 = AllReduce(E5)") is Op.ALL_REDUCE  # no translation in parentheses


def test_a_fused_collective_names_no_part_of_an_expert():
    from dagtui.model.node import classify_operator
    assert classify_operator("", ["Expert FFN", "intermediate=14336, tp=2 shards, all-reduce fused"])[0] is Op.EXPERT
    assert classify_operator("", ["Layer0 Attention", "All-Reduce Sum"])[0] is Op.ALL_REDUCE


@pytest.mark.parametrize("line, op", [
    ("v = slice(kv_b_proj)", Op.V_PROJ),  # a slice of a projection is the tensor it names
    ("P = softmax(S)", Op.SOFTMAX),
    ("G = topk(softmax(M·W_g), 2)", Op.GATE),
    ("D = AllToAll(M, G)", Op.ALL_TO_ALL),
])
def test_equations_read_by_their_call(line, op):
    assert _first_line_operator(line) is op


def test_round_16_readings():
    assert [s.values for s in read_line("in: 4 seq × 1024 tok × 2048 d").inputs] == [(4, 1024, 2048)]
    heads = read_line("out: 4 seq × 1024 tok × 8 heads × 128 d").outputs[0]
    assert heads.heads_and_head_dim() == (8, 128)
    assert read_line("in: ? seq × 1024 tok × 2048 d").inputs[0].dims[0].value == "?"
    assert read_line("on gpu0..gpu7").placement.gpus == frozenset(range(8))
    assert read_line("on gpu0,gpu1").placement.gpus == frozenset({0, 1})
    from dagtui.model.node import classify_operator
    assert classify_operator("", ["expert_up w1,w3 + silu", "• shape in: [1024, 2048]"])[0] is Op.EXPERT
    assert classify_operator("", ["x + y", "[4, 8]"])[0] is Op.RESIDUAL_ADD


def test_sglang_flags_and_a_ratio_of_a_degree():
    assert parse_degrees("sglang --tp-size 8 --dp-size 8 --enable-dp-attention --ep-size 8") == {"tp": 8, "dp": 8, "ep": 8}
    assert parse_degrees("tp_rank=0, I/TP = 8192/8 = 1024") == {}  # a size per rank, no degree of 8192
