"""The verified audit of real corpus files (tests/corpus/verdicts/*.yaml, see tests/corpus/audit.py):
every error and warning dagtui gave on them was judged TRUE or FALSE by reading the file against
dag-conventions.md, and real defects it missed were listed and later rechecked.

A verified TRUE finding must still be reported; a verified FALSE one must not come back (unless
marked `known_false: why`, a false finding left in place on purpose and still counted as FALSE by
tests/corpus/audit.py); a missed defect later found must stay found. docs/corpus-audit.md has the totals. Skipped where ../shared
is absent (a user's clone)."""

from __future__ import annotations

import pytest
from corpus.audit import CORPUS, VERDICTS, load, same, still_found

from dagtui.review import review_file

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent")


@pytest.mark.parametrize("path", VERDICTS, ids=lambda p: p.stem[:60])
def test_verified_findings_stay_true_and_false_ones_stay_away(path):
    audit = load(path)
    findings = review_file(CORPUS / audit["file"]).findings
    lost = [f"{v['rule']} {v['nodes'][:2]}: {v['reason']}" for v in audit["findings"]
            if v["verdict"] == "TRUE" and not v.get("given_up") and not any(same(v, f) for f in findings)]
    back = [f"{v['rule']} {v['nodes'][:2]}: {v['reason']}" for v in audit["findings"]
            if v["verdict"] == "FALSE" and not v.get("known_false") and any(same(v, f) for f in findings)]
    unfound = [f"{m['found_by']} {m['nodes'][:2]}: {m['reason']}" for m in audit.get("missed") or []
               if m.get("status") == "found" and m.get("found_by") and not m.get("given_up") and not still_found(m, findings)]
    assert not lost, f"verified TRUE findings no longer reported: {lost}"
    assert not back, f"verified FALSE findings reported again: {back}"
    assert not unfound, f"defects found since the first audit are missed again: {unfound}"


def test_the_audit_covers_at_least_sixty_real_files():
    audits = [load(path) for path in VERDICTS]
    assert len(audits) >= 60
    assert all((CORPUS / audit["file"]).is_file() for audit in audits)
    judged = [v for audit in audits for v in audit["findings"]]
    assert all(v["verdict"] in ("TRUE", "FALSE") and v["reason"] for v in judged)
