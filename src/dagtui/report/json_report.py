"""The JSON report: a stable shape other tools read (keys may be added, none removed)."""

from __future__ import annotations

import json

from dagtui.compare import Comparison
from dagtui.cost.summary import cost_data
from dagtui.report.comparison import comparison_data, finding_data
from dagtui.review import Review


def report_data(reviews: list[Review], comparison: Comparison | None = None) -> dict:
    """The report as plain data, version 1. With two files compared under --model, each
    deployment has its `cost` (`dagtui.cost.summary.cost_data`)."""
    deployments = [_deployment(review) for review in reviews]
    if comparison is not None and comparison.cost_table:
        for deployment, cost in zip(deployments, comparison.costs):
            deployment["cost"] = cost_data(cost)
    return {
        "version": 1,
        "deployments": deployments,
        "comparison": comparison_data(comparison, reviews) if comparison else None,
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
        "issues": [finding_data(finding) for finding in review.findings],
    }


def render_json(reviews: list[Review], comparison: Comparison | None = None) -> str:
    return json.dumps(report_data(reviews, comparison), indent=2) + "\n"


def compare_data(reviews: list[Review], comparison: Comparison, model: str | None, hardware: str | None) -> dict:
    """`dagtui compare --format json`, version 1 (README "Comparing two deployments"): the two
    deployments (as in the check report, with their `cost`), the tables, the structural `diff`
    and the `findings` fixed, introduced and shared."""
    deployments = [_deployment(review) for review in reviews]
    for deployment, cost in zip(deployments, comparison.costs):
        deployment["cost"] = cost_data(cost)
    data = comparison_data(comparison, reviews)
    return {
        "version": 1, "model": model, "hardware": hardware, "deployments": deployments, "table": data["table"],
        "cost_table": data["cost_table"], "diff": data["diff"], "findings": data["findings"],
    }
