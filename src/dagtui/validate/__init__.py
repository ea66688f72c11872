"""The validator: rules grouped by category (one module each), run over a `Deployment`."""

from __future__ import annotations

from dataclasses import dataclass, field

from dagtui.cost.hardware import HardwareProfile
from dagtui.errors import Checkpoint, no_checkpoint
from dagtui.model.deployment import Deployment
from dagtui.model.spec import ModelSpec
from dagtui.validate import (  # noqa: F401 - importing a module registers its rules
    annotation,
    attention,
    communication,
    expert,
    gpu,
    memory,
    pipeline,
    shape,
    strategy,
    structure,
    syntax,
    tensor,
)
from dagtui.validate.context import Context
from dagtui.validate.finding import CATEGORIES, RULES, Finding, Rule, Severity
from dagtui.validate.syntax import finding_from_syntax_error

__all__ = [
    "CATEGORIES", "RULES", "Finding", "Rule", "RuleSelection", "Severity", "finding_from_syntax_error", "validate",
]


@dataclass
class RuleSelection:
    """Which rules run and at which severity (from --select/--ignore and dagtui.yaml)."""

    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severities: dict[str, Severity] = field(default_factory=dict)

    def enabled(self, rule: Rule) -> bool:
        def matches(patterns: list[str]) -> bool:
            return any(rule.code.startswith(p.upper()) or rule.category == p.lower() for p in patterns)

        if self.select and not matches(self.select):
            return False
        return not matches(self.ignore)

    def apply(self, findings: list[Finding]) -> list[Finding]:
        """Keep the findings of enabled rules, at the severity configured for them."""
        kept = [finding for finding in findings if self.enabled(RULES[finding.rule])]
        for finding in kept:
            finding.severity = self.severities.get(finding.rule, finding.severity)
        return kept


def validate(deployment: Deployment, spec: ModelSpec | None = None, selection: RuleSelection | None = None,
             hardware: HardwareProfile | None = None, checkpoint: Checkpoint = no_checkpoint) -> list[Finding]:
    """Run every enabled rule; findings come sorted by severity, then rule code, with ids F1, F2...
    `hardware` is the GPU the memory rules judge capacity by; `checkpoint` is called before each
    rule (see `dagtui.errors.Checkpoint`)."""
    selection = selection or RuleSelection()
    ctx = Context(deployment, spec, hardware)
    findings: list[Finding] = []
    for rule in RULES.values():
        checkpoint()
        if selection.enabled(rule):
            findings.extend(selection.apply(list(rule.check(ctx))))
    for finding in findings:
        if finding.nodes and finding.line is None and finding.nodes[0] in deployment.nodes:
            finding.line = deployment.nodes[finding.nodes[0]].line
    findings.sort(key=lambda f: (f.severity.rank, f.rule))
    for number, finding in enumerate(findings, 1):
        finding.id = f"F{number}"
    return findings
