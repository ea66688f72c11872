"""Every real DAG of ../shared/corpus loads (without hanging) or is a syntax finding with a
line; the classifier places at least 90% of the nodes of every file with layer information.
Skipped where ../shared is absent (a user's clone)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from helpers import CORPUS, corpus_files

from dagtui.cli import main
from dagtui.model import load_deployment
from dagtui.review import review_file

pytestmark = pytest.mark.skipif(not corpus_files(), reason="../shared/corpus is absent")
HANG_GUARD_S = 10.0  # a hang guard, not a speed claim (benchmarks/ make those): files take ~0.1 s


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:60])
def test_corpus_file_loads_or_is_a_syntax_finding(path):
    started = time.perf_counter()
    review = review_file(path)
    assert time.perf_counter() - started < HANG_GUARD_S
    assert review.error is None, review.error
    if review.deployment is None:
        (finding,) = review.findings
        assert finding.rule == "SYN001" and finding.line is not None
        return
    deployment = review.deployment
    if any(node.layer is not None for node in deployment.nodes.values()):
        unplaced = deployment.unplaced()
        # 90% placed; in a file of a few nodes, one node that names no role is allowed.
        assert len(unplaced) <= max(1, 0.1 * len(deployment.nodes)), f"unplaced: {unplaced[:10]} of {len(deployment.nodes)}"


def test_check_runs_over_the_whole_corpus(capsys):
    code = main(["check", *map(str, corpus_files()), "--format", "json"])
    assert code == 1  # the corpus has real defects
    assert '"version": 1' in capsys.readouterr().out


STATED = yaml.safe_load((Path(__file__).parent / "corpus" / "strategies.yaml").read_text(encoding="utf-8"))


def test_every_stated_strategy_is_read_as_stated():
    """Files that state their strategy (title, comments, clusters, node labels), each with the degrees
    it states: read as stated, not as ranks (`TP=8` is not rank 8) and not as top-k."""
    assert len(STATED) >= 100
    wrong = {}
    for name, stated in STATED.items():
        strategy = load_deployment(CORPUS / name).strategy
        read = "-".join(f"{axis.upper()}{strategy.degree(axis)}" for axis in ("ep", "tp", "pp", "dp", "sp")
                        if strategy.is_declared(axis))
        if read != stated["degrees"]:
            wrong[name] = (read, stated["degrees"])
    assert wrong == {}
