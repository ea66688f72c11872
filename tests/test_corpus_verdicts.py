"""The verified audit of real corpus files (tests/corpus/verdicts/*.yaml): every error and warning
dagtui gave on them was judged TRUE or FALSE by reading the file against dag-conventions.md.

A verified TRUE finding must still be reported (same rule, naming one of the same nodes); a
verified FALSE one must not come back. docs/corpus-audit.md has the totals. Skipped where
../shared is absent (a user's clone)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagtui.review import review_file
from dagtui.validate import Finding, Severity

from helpers import CORPUS

EDGE_RULES = {"SHP001", "COM001"}  # rules whose findings name the two ends of each edge, in order
VERDICTS = sorted((Path(__file__).parent / "corpus" / "verdicts").glob("*.yaml"))
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _same(verdict: dict, finding: Finding) -> bool:
    """Whether `finding` is the one `verdict` judged: same rule, the same distinguishing word
    where one is given (EXP005: dispatch or combine), and nodes in common (or no nodes at all):
    one for a TRUE verdict, two for a FALSE one (a finding on another edge of the same node is
    another finding)."""
    # `now`: a verified defect that a later change reports under another rule (one per root cause);
    # `now_severity: info`: one the severity policy now reports as info (what cannot be judged).
    if finding.rule != verdict.get("now", verdict["rule"]):
        return False
    if finding.severity is Severity.INFO and verdict.get("now_severity") != "info":
        return False
    if verdict.get("match") and verdict["match"] not in finding.message:
        return False
    nodes = list(verdict.get("nodes") or [])
    if not nodes or not finding.nodes:
        return True
    if finding.rule in EDGE_RULES:  # nodes come in (source, target) pairs: compare edges
        return bool(set(zip(nodes[::2], nodes[1::2])) & set(zip(finding.nodes[::2], finding.nodes[1::2])))
    needed = 1 if verdict["verdict"] == "TRUE" else min(2, len(nodes))
    return len(set(nodes) & set(finding.nodes)) >= needed


@pytest.mark.parametrize("path", VERDICTS, ids=lambda p: p.stem[:60])
def test_verified_findings_stay_true_and_false_ones_stay_away(path):
    audit = _load(path)
    findings = review_file(CORPUS / audit["file"]).findings
    lost = [f"{v['rule']} {v['nodes'][:2]}: {v['reason']}" for v in audit["findings"]
            if v["verdict"] == "TRUE" and not any(_same(v, f) for f in findings)]
    back = [f"{v['rule']} {v['nodes'][:2]}: {v['reason']}" for v in audit["findings"]
            if v["verdict"] == "FALSE" and any(_same(v, f) for f in findings)]
    assert not lost, f"verified TRUE findings no longer reported: {lost}"
    assert not back, f"verified FALSE findings reported again: {back}"


def test_the_audit_covers_at_least_sixty_real_files():
    audits = [_load(path) for path in VERDICTS]
    assert len(audits) >= 60
    assert all((CORPUS / audit["file"]).is_file() for audit in audits)
    judged = [v for audit in audits for v in audit["findings"]]
    assert all(v["verdict"] in ("TRUE", "FALSE") and v["reason"] for v in judged)
