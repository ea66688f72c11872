"""The cost model (`dagtui.cost`): the public models' parameter counts and KV cache, the worked
examples of docs/cost-model.md to the byte (read from the document itself, so the two cannot
drift apart), hardware profiles as untrusted input, and the cost of one drawn operator."""

from __future__ import annotations

import re

import pytest
from helpers import ROOT, SAMPLES

from dagtui.cost import CostEstimate, StageCost, Unavailable, estimate, estimate_deployment, load_hardware, node_cost
from dagtui.cost.estimate import split_layers
from dagtui.cost.hardware import SHIPPED, profile_from_data
from dagtui.cost.units import UnitError, parse_quantity
from dagtui.errors import ConfigError
from dagtui.model import ModelSpec, load_deployment, load_model_spec, parse_strategy

DOC = ROOT / "docs" / "cost-model.md"
MIXTRAL, QWEN3 = SAMPLES / "mixtral-8x7b.yaml", SAMPLES / "qwen3-235b-a22b.yaml"


# -- the public models -----------------------------------------------------------------------------
@pytest.mark.parametrize("path, total, active, kv", [
    (MIXTRAL, 46.7e9, 12.9e9, 128 * 1024),  # mistral.ai/news/mixtral-of-experts
    (QWEN3, 235e9, 22e9, 188 * 1024),  # Qwen3 technical report, arXiv:2505.09388
])
def test_public_models_match_their_published_figures(path, total, active, kv):
    cost = estimate(load_model_spec(path), parse_strategy("EP1-TP1-PP1-DP1"))
    assert isinstance(cost, CostEstimate)
    assert abs(cost.params_total - total) / total < 0.01, cost.params_total
    assert abs(cost.params_active - active) / active < 0.01, cost.params_active
    assert cost.kv_bytes_per_token == kv
    assert cost.notes == ()  # every size given: nothing assumed


def test_kv_cache_per_token_is_two_layers_kv_heads_head_dim_bytes():
    spec = load_model_spec(MIXTRAL)
    assert estimate(spec, parse_strategy("TP1")).kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    fp8 = ModelSpec(layers=32, hidden_size=4096, heads=32, kv_heads=8, kv_dtype="fp8")
    assert estimate(fp8, parse_strategy("TP1")).kv_bytes_per_token == 2 * 32 * 8 * 128 * 1


# -- the worked examples of docs/cost-model.md -----------------------------------------------------
_MARKER = re.compile(r"<!-- worked: (.*?) -->")
_ROW = re.compile(r"^\| `([\w.]+)` \|.*\| ([0-9][0-9,.e+-]*) \|$")


def _worked_tables() -> list[tuple[dict[str, str], dict[str, str]]]:
    """(settings of the marker, {figure: value as written}) for every worked table of the doc."""
    tables, current = [], None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        marker = _MARKER.search(line)
        if marker:
            current = ({k: v for k, v in (item.split("=") for item in marker.group(1).split())}, {})
            tables.append(current)
        elif current is not None and line.startswith("|"):
            row = _ROW.match(line)
            if row:
                current[1][row.group(1)] = row.group(2)
        elif current is not None and line.strip() and not line.startswith("|"):
            current = None
    return tables


def _figure(cost: CostEstimate, stage: StageCost | None, name: str):
    if stage is None:
        return getattr(cost, name)
    if "." in name:
        group, key = name.split(".")
        return (stage.weights if group == "weights" else getattr(stage, group))[key]
    return getattr(stage, name)


def test_the_document_holds_worked_tables():
    tables = _worked_tables()
    assert len(tables) >= 7 and sum(len(rows) for _, rows in tables) >= 50


def _table_id(value) -> str:
    return " ".join(f"{k}={x}" for k, x in value.items()) if "model" in value else f"{len(value)} rows"


@pytest.mark.parametrize("settings, rows", _worked_tables(), ids=_table_id)
def test_code_matches_the_worked_example(settings, rows):
    spec = load_model_spec(ROOT / settings["model"])
    hardware = load_hardware(settings["hardware"]) if "hardware" in settings else None
    if "dot" in settings:
        cost = estimate_deployment(load_deployment(ROOT / settings["dot"]), spec, hardware)
    else:
        cost = estimate(spec, parse_strategy(settings["strategy"]), None, hardware)
    assert isinstance(cost, CostEstimate)
    stage = cost.stages[int(settings["stage"])] if "stage" in settings else None
    for name, written in rows.items():
        value = _figure(cost, stage, name)
        if re.fullmatch(r"[0-9,]+", written):
            assert value == int(written.replace(",", "")), (name, value, written)  # to the byte
        else:
            expected = float(written)
            digits = len(re.sub(r"e.*|[^0-9]", "", written).lstrip("0"))  # the significant figures written
            assert value == pytest.approx(expected, rel=10 ** (1 - digits)), (name, value, written)


def test_the_busiest_gpu_of_the_current_sample_is_its_last_stage(sample_spec):
    cost = estimate_deployment(load_deployment(SAMPLES / "current.dot"), sample_spec, load_hardware("h100"))
    assert cost.busiest.index == 1 and cost.busiest.memory_total == 338_173_952
    assert cost.gpus == 2048 and cost.stages[0].layers == tuple(range(8)) and cost.stages[1].layers == tuple(range(8, 16))


# -- what the estimate assumes or cannot do ---------------------------------------------------------
def test_missing_sizes_make_no_estimate_and_say_which():
    cost = estimate(ModelSpec(layers=4, heads=8), parse_strategy("TP2"))
    assert isinstance(cost, Unavailable) and "hidden_size" in cost.reason


def test_assumptions_are_said_and_remembered():
    cost = estimate(ModelSpec(layers=4, hidden_size=1024, heads=8, experts=8, batch_size=4, seq_len=128), parse_strategy("EP2-TP2"))
    assert {"moe_ffn_hidden", "top_k", "gated_mlp", "dtype"} <= cost.assumed
    assert any("4 x hidden = 4096" in note for note in cost.notes)
    assert any("vocab not given" in note for note in cost.notes)
    assert any("PP unknown" in note for note in cost.notes)


def test_without_a_workload_only_the_weights_are_computed():
    cost = estimate(ModelSpec(layers=32, hidden_size=4096, heads=32), parse_strategy("TP8"))
    assert cost.workload is None and cost.stages[0].kv_cache is None and cost.stages[0].flops_prefill is None
    assert cost.stages[0].weights_total > 0


def test_tied_embeddings_are_held_once_on_a_single_stage_and_twice_across_stages():
    base = dict(layers=4, hidden_size=1024, heads=8, vocab_size=1000, tied_embeddings=True)
    one = estimate(ModelSpec(**base), parse_strategy("PP1"))
    two = estimate(ModelSpec(**base), parse_strategy("PP2"))
    assert one.stages[0].weights["embedding"] == 1000 * 1024 * 2
    assert [stage.weights["embedding"] for stage in two.stages] == [1000 * 1024 * 2] * 2


def test_kv_heads_are_replicated_past_the_tp_degree():
    spec = load_model_spec(QWEN3)  # 4 KV heads: TP2 holds 2 per GPU, TP4 and TP8 one each
    tp2, tp4, tp8 = (estimate(spec, parse_strategy(f"EP8-TP{t}-PP1")).stages[0].kv_cache for t in (2, 4, 8))
    assert tp2 == 2 * tp4 and tp4 == tp8


def test_experts_split_over_ep_and_over_the_tp_ranks_of_an_ep_rank():
    spec = load_model_spec(MIXTRAL)  # 8 experts of 3 x 4096 x 14336, 32 layers, bf16
    tp8 = estimate(spec, parse_strategy("EP1-TP8-PP1")).stages[0].weights["experts"]
    ep8 = estimate(spec, parse_strategy("EP8-TP1-PP1")).stages[0].weights["experts"]
    assert tp8 == ep8 == 32 * 3 * 4096 * 14336 * 2


@pytest.mark.parametrize("claims, expected", [
    ([[0, 1, 2], [3, 4, 5, 6]], [[0, 1, 2], [3, 4, 5, 6]]),  # uneven, but exact: kept
    ([[1, 2, 3], [4, 5, 6, 7]], [[0, 1, 2], [3, 4, 5, 6]]),  # numbered from 1
    ([[0, 1], [5, 6]], [[0, 1, 2, 3], [4, 5, 6]]),  # not a split of 7 layers: even split
    ([None, None], [[0, 1, 2, 3], [4, 5, 6]]),
])
def test_stage_layers_follow_the_claims_when_they_split_the_model(claims, expected):
    assert split_layers(7, 2, claims)[0] == expected


def test_drawn_sizes_that_disagree_with_the_spec_are_said_once(sample_spec):
    cost = estimate_deployment(load_deployment(SAMPLES / "new.dot"), sample_spec)
    said = [note for note in cost.notes if "residual stream" in note]
    assert len(said) == 1 and "256 wide (hidden/TP16)" in said[0] and "`layer0_attn_norm`" in said[0]


def test_more_stages_than_layers_is_no_estimate():
    assert isinstance(estimate(ModelSpec(layers=2, hidden_size=64, heads=4), parse_strategy("PP4")), Unavailable)


# -- hardware profiles -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load_and_name_their_source(name):
    profile = load_hardware(name)
    assert profile.name == name and profile.source and profile.gpus_per_node == 8
    assert profile.peak("bf16")[0] > 1e14 and profile.hbm_capacity >= 80 * 2**30
    text = (ROOT / "src" / "dagtui" / "cost" / "hardware" / f"{name}.yaml").read_text(encoding="utf-8")
    assert "# Source: NVIDIA" in text


def test_datasheet_figures():
    h100, a100, b200 = load_hardware("h100"), load_hardware("a100"), load_hardware("b200")
    assert h100.peak("bf16")[0] == 989.4e12 and h100.hbm_bandwidth == 3.35e12 and h100.hbm_capacity == 80 * 2**30
    assert a100.peak("fp8") == (312e12, "a100 has no fp8 peak: its bf16 peak is used")
    assert b200.peak("fp8")[0] == 4.5e15 and b200.hbm_capacity == 180 * 2**30


def _profile(**changes) -> dict:
    data = {"peak_flops": {"bf16": "100 TFLOP/s"}, "hbm_capacity": "40 GiB", "hbm_bandwidth": "1.5 TB/s",
            "intra_node_bandwidth": "300 GB/s", "inter_node_bandwidth": "25 GB/s", "gpus_per_node": 4}
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_user_profile_is_read():
    profile = profile_from_data(_profile(name="mine"), "mine.yaml")
    assert profile.hbm_capacity == 40 * 2**30 and profile.peak("bf16")[0] == 1e14 and profile.inter_node_bandwidth == 25e9


@pytest.mark.parametrize("changes, message", [
    ({"wings": 2}, "unknown key(s) wings"),
    ({"hbm_bandwidth": None}, "missing hbm_bandwidth"),
    ({"hbm_capacity": "80 GB/s"}, "hbm_capacity: '80 GB/s': the unit must be B"),
    ({"hbm_capacity": "2 PiB"}, "outside what a GPU has"),
    ({"hbm_capacity": "-3 GiB"}, "expected a number with a unit"),
    ({"hbm_capacity": ".nan"}, "expected a number with a unit"),
    ({"peak_flops": {"int4": "1 PFLOP/s"}}, "unknown data type 'int4'"),
    ({"peak_flops": "fast"}, "peak_flops maps data types"),
    ({"gpus_per_node": 0}, "gpus_per_node must be an integer from 1"),
    ({"gpus_per_node": True}, "gpus_per_node must be an integer from 1"),
    ({"description": ["x"]}, "description must be text"),
])
def test_a_bad_profile_is_one_clear_message(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        profile_from_data(_profile(**changes), "bad.yaml")


def test_a_profile_file_and_unknown_names(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text("peak_flops: {bf16: 1 PFLOP/s}\nhbm_capacity: 96 GiB\nhbm_bandwidth: 4 TB/s\n"
                    "intra_node_bandwidth: 450 GB/s\ninter_node_bandwidth: 50 GB/s\ngpus_per_node: 8\n")
    assert load_hardware(str(path)).hbm_capacity == 96 * 2**30 and load_hardware(str(path)).name == "gpu"
    with pytest.raises(ConfigError, match="unknown hardware 'h800'"):
        load_hardware("h800")
    path.write_text("[1, 2")
    with pytest.raises(ConfigError):
        load_hardware(str(path))
    with pytest.raises(ConfigError):
        load_hardware(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize("text, kind, value", [
    ("80 GiB", "bytes", 80 * 2**30), ("3.35 TB/s", "rate", 3.35e12), ("989.4 TFLOP/s", "flops", 989.4e12),
    ("1_000 B", "bytes", 1000.0), (2.5e9, "rate", 2.5e9),
])
def test_quantities(text, kind, value):
    assert parse_quantity(text, kind) == value


@pytest.mark.parametrize("text", ["80 G", "fast", "1e400 B", "0 B", True, None, "3 TB/s/s"])
def test_bad_quantities(text):
    with pytest.raises(UnitError):
        parse_quantity(text, "bytes")


# -- one drawn operator ------------------------------------------------------------------------------
def test_node_costs_where_shapes_can_be_read():
    nodes = load_deployment(SAMPLES / "current.dot").nodes
    q = node_cost(nodes["layer0_attn_q"])  # [128, 1024, 512] -> [128, 1024, 32 heads x 64]
    assert q.flops == 2 * 128 * 1024 * 512 * 2048
    assert q.bytes == (128 * 1024 * 512 + 128 * 1024 * 2048 + 512 * 2048) * 2
    reduce = node_cost(nodes["layer0_attn_allreduce"])  # TP Group: TP0-TP7
    assert reduce.flops == 0 and reduce.bytes == 2 * 7 * (128 * 1024 * 512 * 2) // 8 and "2(8-1)/8" in reduce.formula
    score = node_cost(nodes["layer0_attn_score"])
    assert score.flops == 2 * (128 * 32 * 1024 * 1024) * 64
    assert node_cost(nodes["layer0_expert0"]) is None  # [tokens_per_expert, 512]: symbolic
    assert node_cost(nodes["pp0_to_pp1"]).bytes == 128 * 1024 * 512 * 2


def test_a_whole_mlp_box_takes_its_inner_size_from_the_spec(deploy):
    deployment = deploy('digraph { m [label="Expert 0\\nInput: [tokens=64, hidden=1024]\\nOutput: [tokens=64, hidden=1024]"] }')
    node = deployment.nodes["m"]
    assert node_cost(node) is None
    cost = node_cost(node, ModelSpec(hidden_size=1024, moe_ffn_hidden_size=512, gated_mlp=True, dtype="fp8"))
    assert cost.flops == 2 * 64 * 3 * 1024 * 512 and cost.bytes == 2 * 64 * 1024 + 3 * 1024 * 512


def test_file_text_in_a_formula_is_made_visible(deploy):
    deployment = deploy('digraph { a [label="All-Reduce\\nSize: [batch\x1b=4, hidden=8]\\nTP Group: TP0-TP1" shape=ellipse] }')
    cost = node_cost(deployment.nodes["a"])
    assert cost is not None and cost.bytes == 4 * 8 * 2 and "\x1b" not in cost.formula and "␛" in cost.formula


def test_a_head_count_the_spec_does_not_have_is_said(deploy, sample_spec):
    deployment = deploy('digraph { label="EP1-TP8-PP1-DP1"; q [label="Q Projection L0\\nInput: [batch=1, seq=8, hidden=4096]'
                        '\\nOutput: [batch=1, seq=8, heads=5, d_k=128]\\nGPU: 0-7"] }')
    notes = estimate_deployment(deployment, sample_spec).notes
    assert any(note.startswith("the drawing gives `q` 5 query heads; the spec has 32, 4 per TP8 rank") for note in notes)
