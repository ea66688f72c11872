"""The verified audit of real corpus files, as data (`verdicts/*.yaml`), and how dagtui's findings
are matched against it. Run it to print the totals docs/corpus-audit.md quotes:

    python tests/corpus/audit.py

Each verdict file holds, for one DOT file of ../shared/corpus: the errors and warnings dagtui gave
(in round 1, and new ones in round 2), each judged TRUE or FALSE with a reason; and the real
defects a reviewer found that dagtui missed, each rechecked in round 2 (`status: found`, by which
rule, or `missed`; `reported` when a rule written later from it reports it and that finding
is judged TRUE among the file's verdicts, where it is counted once). Files a round-2 reviewer saw first (folders no rule was tuned on) and the
round-3 and round-4 fresh files (runs never seen) say so in their header line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from dagtui.review import review_file
from dagtui.validate import RULES, Finding, Severity

HERE = Path(__file__).parent
VERDICTS = sorted((HERE / "verdicts").glob("*.yaml"))
CORPUS = HERE.parent.parent.parent / "shared" / "corpus"
EDGE_RULES = {"SHP001", "COM001"}  # rules whose findings name the two ends of each edge, in order


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def first_round(path: Path) -> int:
    """The round a file was first judged in: 2 for the round-2 holdout, 3 and 4 for the fresh files
    of rounds 3 and 4, 5 to 12 for the unaudited files of runs partly seen judged in rounds 5 to 12, 13 for the last
    unaudited files."""
    header = path.read_text(encoding="utf-8").splitlines()[0]
    for first in (13, 12, 11, 10, 9, 8, 7, 6, 5, 4):
        if f"round {first}" in header:
            return first
    return 2 if "holdout" in header else 3 if "fresh" in header else 1


def is_holdout(path: Path) -> bool:
    return first_round(path) == 2


def same(verdict: dict, finding: Finding) -> bool:
    """Whether `finding` is the one `verdict` judged: same rule (`now`: a later change reports the
    defect under another rule), the same distinguishing word where one is given (EXP005: dispatch
    or combine), and nodes in common (or no nodes at all): one for a TRUE verdict, two for a FALSE
    one (a finding on another edge of the same node is another finding). `now_severity: info`:
    the severity policy now reports it as information. (`given_up: why` on a TRUE verdict: a
    defect the rules deliberately no longer report; it counts as missed.)"""
    if finding.rule != verdict.get("now", verdict["rule"]):
        return False
    if finding.severity is Severity.INFO and verdict.get("now_severity") != "info":
        return False
    if verdict.get("match") and verdict["match"] not in finding.message:
        return False
    nodes = list(verdict.get("nodes") or [])
    if not nodes or not finding.nodes:
        return True
    if finding.rule in EDGE_RULES:
        return bool(set(zip(nodes[::2], nodes[1::2])) & set(zip(finding.nodes[::2], finding.nodes[1::2])))
    needed = 1 if verdict["verdict"] == "TRUE" else min(2, len(nodes))
    return len(set(nodes) & set(finding.nodes)) >= needed


def still_found(missed: dict, findings: list[Finding]) -> bool:
    """Whether a missed defect a reviewer later found named (by `found_by`) is still named: a
    finding of that rule in the file, an error or warning unless the rule only ever informs (the
    reviewer matched it by meaning; its nodes may be other nodes of the same fault)."""
    return any(f.rule == missed["found_by"] and (f.severity is not Severity.INFO or RULES[f.rule].severity is Severity.INFO)
               for f in findings)


@dataclass
class Tally:
    """Judged findings dagtui still gives (TRUE, FALSE), findings nobody judged, and real defects
    found or missed."""

    true: int = 0
    false: int = 0
    unjudged: int = 0
    defects_found: int = 0
    defects_missed: int = 0

    def add(self, other: Tally) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def precision(self) -> float:
        return self.true / max(1, self.true + self.false)

    @property
    def recall(self) -> float:
        real = self.true + self.defects_found + self.defects_missed
        return (self.true + self.defects_found) / max(1, real)


def tally(path: Path, errors_only: bool = False) -> Tally:
    """dagtui's findings on one audited file now, against its verdicts."""
    audit = load(path)
    findings = [f for f in review_file(CORPUS / audit["file"]).findings if f.severity is not Severity.INFO]
    if errors_only:
        findings = [f for f in findings if f.severity is Severity.ERROR]
    result = Tally()
    matched: set[int] = set()
    # Verdicts of the rule itself first: one whose defect is now reported under another rule (`now`)
    # may then share that finding with them (one finding for the root cause both named).
    for verdict in sorted(audit["findings"], key=lambda verdict: "now" in verdict):
        hits = [i for i, finding in enumerate(findings) if (i not in matched or verdict.get("now")) and same(verdict, finding)]
        if hits:
            matched.add(hits[0])
            if verdict["verdict"] == "TRUE":
                result.true += 1
            else:
                result.false += 1
        elif verdict["verdict"] == "TRUE":
            result.defects_missed += 1  # a real defect once reported, no longer (`given_up` says why)
    result.unjudged = len(findings) - len(matched)
    for missed in audit.get("missed") or []:
        if missed.get("status") == "reported":
            continue  # the same defect as a TRUE verdict of this file (a rule written from it): counted there
        if missed.get("status") == "found" and missed.get("found_by") and still_found(missed, findings):
            result.defects_found += 1
        else:
            result.defects_missed += 1
    return result


def as_judged(paths: list[Path], first: int) -> tuple[int, int, int, int]:
    """(TRUE, FALSE, TRUE errors, FALSE errors) among the findings judged when the files were new
    to the rules (their first round): precision on files nobody tuned a rule on."""
    true = false = true_errors = false_errors = 0
    for path in paths:
        for verdict in load(path)["findings"]:
            if verdict.get("round", 1) != first:
                continue
            # An overruled verdict counts as its reviewer judged it (the majority later decided otherwise).
            is_true = (verdict["verdict"] == "TRUE") != bool(verdict.get("overruled"))
            is_error = verdict["severity"] == "error"
            true, false = true + is_true, false + (not is_true)
            true_errors, false_errors = true_errors + (is_true and is_error), false_errors + (not is_true and is_error)
    return true, false, true_errors, false_errors


def main() -> None:
    groups = [(f"round {first} ({name})", [p for p in VERDICTS if first_round(p) == first], first)
              for first, name in ((1, "first audit"), (2, "holdout: folders no rule was tuned on"),
                                  (3, "fresh: runs never seen"), (4, "fresh: runs never seen"),
                                  (5, "unaudited files of runs partly seen"), (6, "unaudited files of runs partly seen"),
                                  (7, "unaudited files of runs partly seen"), (8, "unaudited files of runs partly seen"), (9, "unaudited files of runs partly seen"),
                                  (10, "unaudited files of runs partly seen"), (11, "unaudited files of runs partly seen"),
                                  (12, "unaudited files of runs partly seen"), (13, "the last unaudited files"))]
    print("As judged, on files the rules had not seen:")
    for title, paths, first in groups:
        true, false, true_errors, false_errors = as_judged(paths, first)
        print(f"  {title}, {len(paths)} files: {true} TRUE, {false} FALSE: precision {true / max(1, true + false):.3f}; "
              f"errors alone {true_errors}/{true_errors + false_errors} = {true_errors / max(1, true_errors + false_errors):.3f}")
    print("Now (every FALSE verdict was studied and fixed: these files are training data):")
    for title, paths in [("all audited files", VERDICTS), *[(title, paths) for title, paths, _ in groups]]:
        total, errors = Tally(), Tally()
        for path in paths:
            total.add(tally(path))
            errors.add(tally(path, errors_only=True))
        print(f"  {title} ({len(paths)}): judged findings still given: {total.true} TRUE, {total.false} FALSE "
              f"(precision {total.precision:.3f}; errors alone {errors.precision:.3f}); unjudged {total.unjudged}; "
              f"real defects: {total.true + total.defects_found} found, {total.defects_missed} missed "
              f"(recall {total.recall:.3f})")


if __name__ == "__main__":
    sys.exit(main())
