"""The JSON report: a stable shape other tools read (keys may be added, none removed)."""

from __future__ import annotations

import json

from dagtui.compare import Comparison
from dagtui.review import Review


def report_data(reviews: list[Review], comparison: Comparison | None = None) -> dict:
    """The report as plain data, version 1."""
    return {
        "version": 1,
        "deployments": [_deployment(review) for review in reviews],
        "comparison": _comparison(comparison) if comparison else None,
    }


def _deployment(review: Review) -> dict:
    deployment = review.deployment
    strategy = deployment.strategy if deployment else None
    return {
        "file": review.file,
        "name": review.name,
        "strategy": review.strategy_text,
        "degrees": {axis: strategy.degree(axis) if strategy else None for axis in ("ep", "tp", "pp", "dp")},
        "declared": sorted(strategy.declared) if strategy else [],
        "gpu_count": strategy.gpu_count if strategy else None,
        "stats": {"nodes": len(deployment.nodes) if deployment else 0, "edges": len(deployment.edges) if deployment else 0},
        "error": review.error,
        "issues": [
            {
                "id": finding.id, "rule": finding.rule, "category": finding.category,
                "severity": finding.severity.value, "title": finding.title, "message": finding.message,
                "nodes": finding.nodes, "fix": finding.fix, "pair": finding.pair, "line": finding.line,
                "details": finding.details,
            }
            for finding in review.findings
        ],
    }


def _comparison(comparison: Comparison) -> dict:
    return {
        "names": list(comparison.names),
        "pairs": [list(pair) for pair in comparison.pairs],
        "table": [{"metric": metric, "values": [a, b]} for metric, a, b in comparison.table],
    }


def render_json(reviews: list[Review], comparison: Comparison | None = None) -> str:
    return json.dumps(report_data(reviews, comparison), indent=2) + "\n"
