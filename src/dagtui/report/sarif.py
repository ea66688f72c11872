"""SARIF 2.1.0: one result per finding, located at the DOT file and its first node's line. The
message, which viewers show, has file text made visible; node ids stay as the file has them."""

from __future__ import annotations

import json

from dagtui import __version__
from dagtui.review import Review
from dagtui.safe_text import visible
from dagtui.validate import RULES, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def sarif_data(reviews: list[Review]) -> dict:
    rule_ids = list(RULES)
    rules = [
        {
            "id": code, "name": rule.title.replace(" ", ""),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.doc.splitlines()[0] if rule.doc else rule.title},
            "help": {"text": rule.doc or rule.title},
            "defaultConfiguration": {"level": _LEVEL[rule.severity]},
            "properties": {"category": rule.category},
        }
        for code, rule in RULES.items()
    ]
    results = []
    for review in reviews:
        for finding in review.findings:
            location: dict = {"physicalLocation": {"artifactLocation": {"uri": review.file}}}
            if finding.line:
                region = {"startLine": finding.line}
                if finding.column:
                    region["startColumn"] = finding.column
                location["physicalLocation"]["region"] = region
            results.append({
                "ruleId": finding.rule,
                "ruleIndex": rule_ids.index(finding.rule),
                "level": _LEVEL[finding.severity],
                "message": {"text": visible(f"{finding.title}: {finding.message} Fix: {finding.fix}".strip())},
                "locations": [location],
                "properties": {"nodes": finding.nodes, "category": finding.category},
            })
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "dagtui", "version": __version__, "rules": rules}},
            "results": results,
        }],
    }


def render_sarif(reviews: list[Review]) -> str:
    return json.dumps(sarif_data(reviews), indent=2) + "\n"
