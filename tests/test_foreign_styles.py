"""DAGs from generators nobody here wrote: each `tests/foreign/style_*/gen.py` was written by a
helper that never saw dagtui's code, from the conventions doc and a house style of its own (ids,
label wording, shape and placement notation, clusters or stage markers), and writes three clean
deployments and one file per defect kind with a manifest. The clean ones must give no error or
warning; each defect must be found, as an error or warning of the manifest's category that its
clean base does not give. The kinds a style's drawing hides from dagtui (listed below) are the
known misses, so that one found later shows up too (docs/corpus-audit.md, foreign styles)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from dagtui.review import review_file
from dagtui.validate import Severity

STYLES = sorted(path.parent.name for path in (Path(__file__).parent / "foreign").glob("style_*/gen.py"))

# Defects each style draws in a way dagtui does not yet find (by category). Styles a-h were read
# and the rules fixed until each was found; i-k, l-n, o-r, s-v, w-z, aa-ad, ae-ah and ai-al were held-out
# rounds (docs/corpus-audit.md), and so were am-ap, aq-at, au-ax, ay-bb, bc-bi (rounds 11-15, no miss
# left after their fixes) and bk, bo (round 16).
KNOWN_MISSES: dict[str, set[str]] = {
    # Round 6, held out (s-v), after the fixes their files asked for:
    # a rank-only placement `DP2_PP0_EP2` under DP1 is found as a rank beyond the degree (STG002, strategy)
    "style_t": {"gpu_out_of_range"},
    # gates drawn per GPU after the sequence all-gather, each feeding its own GPU's experts: the tokens
    # are on every rank then (an all-gather dispatch), so dagtui does not call the all-to-all missing
    "style_v": {"no_all_to_all"},
    # Round 7, held out (w-z), after the fixes their files asked for. Experts named by GPU alone: two
    # experts swapped between GPUs keep two on each (its author doubts it is a defect), and EP2 over
    # experts on four GPUs reads as EP2 x TP2 groups, a layout other styles draw correctly
    "style_w": {"experts_share_gpu", "strategy_mismatch"},
    # an output projection missing on one GPU: found as attention without it (ATT002), not as TEN001
    "style_y": {"tp_rank_missing"},
    # Round 9, held out (ae-ah), after the fixes their files asked for: experts whose EP rank only
    # an id suffix names, alternating over their rank's TP GPUs; EP4 stated over experts on two hosts
    # (found as EXP001); and two where group nodes name whole EP ranks. (TP8 stated over four drawn
    # ranks of a grouped-query fused QKV is found since round 12: the split after it shows Q's width.)
    "style_af": {"experts_subset_ranks"},
    "style_ag": {"strategy_mismatch"},
    "style_ah": {"stages_share_gpus", "strategy_mismatch"},
    # Round 10, held out (ai-al), after the fixes: a head size that only the label's words contradict
    # (`heads 8-15 of 16, head_dim=64` over 1024-wide projections), a single-layer stage claim written as
    # a module path (`model.layers.3`), an up projection missing on one rank named only in a comment
    "style_ai": {"head_arithmetic", "stage_range_gap", "tp_rank_missing"},
    # Round 16, held out (bk, bo), after the fixes: a layer numbered only by the first number of its
    # ids (`n_1_norm2`), no label or cluster naming it, cannot be told to run its MoE first
    "style_bk": {"moe_before_attention"},
}


@cache
def generated(style: str, folder: Path) -> tuple[Path, list[dict]]:
    """Run the style's generator in a scratch folder; its output folder and manifest."""
    target = folder / style
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parent / "foreign" / style / "gen.py", target / "gen.py")
    subprocess.run([sys.executable, "gen.py"], cwd=target, check=True, capture_output=True)
    manifest = json.loads((target / "out" / "manifest.json").read_text())
    return target / "out", manifest if isinstance(manifest, list) else manifest["files"]


def flagged(path: Path) -> list:
    return [f for f in review_file(path).findings if f.severity is not Severity.INFO]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("foreign")


@pytest.mark.parametrize("style", STYLES)
def test_clean_dags_of_a_foreign_style_give_no_error_or_warning(style, scratch):
    out, manifest = generated(style, scratch)
    clean = [entry["file"] for entry in manifest if entry["kind"] == "clean"]
    assert len(clean) >= 3
    alarms = {name: [f"{f.rule}: {f.message}" for f in flagged(out / name)] for name in clean}
    assert not any(alarms.values()), alarms


@pytest.mark.parametrize("style", STYLES)
def test_each_defect_of_a_foreign_style_is_found_in_its_category(style, scratch):
    out, manifest = generated(style, scratch)
    base_findings = {entry["file"]: {(f.rule, f.message) for f in flagged(out / entry["file"])}
                     for entry in manifest if entry["kind"] == "clean"}
    missed = set()
    for entry in manifest:
        if entry["kind"] == "clean" or not entry.get("file") or not (out / entry["file"]).is_file():
            continue
        base = entry.get("base") or ""
        before = base_findings.get(base if base.endswith(".dot") or not base else f"{base}.dot", set())
        new = [f for f in flagged(out / entry["file"]) if (f.rule, f.message) not in before]
        if not any(f.category == entry["category"] for f in new):
            missed.add(entry["kind"])
    assert missed == KNOWN_MISSES.get(style, set()), f"missed now: {sorted(missed)}; known: {sorted(KNOWN_MISSES.get(style, set()))}"
