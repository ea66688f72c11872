"""Review one file end to end: read, model, validate; a syntax error becomes a finding, an
unreadable file an error message, never a traceback."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dagtui.cost.hardware import HardwareProfile
from dagtui.dot import RawGraph, read_dot
from dagtui.errors import Checkpoint, DotSyntaxError, InputError, no_checkpoint
from dagtui.model import Deployment, ModelSpec, Strategy, build_deployment
from dagtui.validate import (
    Finding,
    RuleSelection,
    Severity,
    finding_from_syntax_error,
    validate,
)


@dataclass
class Review:
    """A file's deployment (None when it could not be built), its findings, or why it failed."""

    file: str
    deployment: Deployment | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # an input error: missing, unreadable, binary, ...
    syntax_error: str | None = None  # the file is not DOT: the reader's words (its finding is SYN001)

    @property
    def name(self) -> str:
        return self.deployment.name if self.deployment else Path(self.file).stem

    @property
    def strategy_text(self) -> str | None:
        if self.deployment is None:
            return None
        return self.deployment.strategy.compact()

    def count(self, severity: Severity) -> int:
        return sum(1 for finding in self.findings if finding.severity is severity)


def read_raw(path: str | os.PathLike[str], checkpoint: Checkpoint = no_checkpoint) -> RawGraph | Review:
    """Read one DOT file: its raw graph, or the review of a file that could not be read (a syntax
    finding, or an input error)."""
    file = str(path)
    try:
        return read_dot(file, checkpoint=checkpoint)
    except DotSyntaxError as error:
        return Review(file, findings=[_numbered(finding_from_syntax_error(error))], syntax_error=str(error))
    except InputError as error:
        return Review(file, error=str(error))


def read_file(path: str | os.PathLike[str], strategy: Strategy | None = None) -> Review:
    """Read and model one DOT file, without validating it yet."""
    raw = read_raw(path)
    return raw if isinstance(raw, Review) else review_raw_graph(raw, strategy)


def review_raw_graph(raw: RawGraph, strategy: Strategy | None = None, checkpoint: Checkpoint = no_checkpoint) -> Review:
    """A review of a file already read: the deployment built from it."""
    return Review(raw.file, build_deployment(raw, strategy, checkpoint))


def validate_review(review: Review, spec: ModelSpec | None = None, selection: RuleSelection | None = None,
                    hardware: HardwareProfile | None = None, checkpoint: Checkpoint = no_checkpoint) -> Review:
    """Run the validator over a review's deployment (`hardware`: the GPU the memory rules judge
    capacity by); a file that did not parse keeps its syntax finding, subject to the same rule
    selection and severities."""
    if review.deployment is not None:
        review.findings = validate(review.deployment, spec, selection, hardware, checkpoint)
        _cite_repeated_declarations(review.findings, review.deployment)
    elif selection is not None:
        review.findings = selection.apply(review.findings)
    return review


def _cite_repeated_declarations(findings: list[Finding], deployment: Deployment) -> None:
    """A finding on a node declared more than once cites the line its label comes from (its line)
    and says where the others are: the file may set conflicting attributes at each."""
    for finding in findings:
        for node_id in finding.nodes[:3]:
            raw = deployment.raw.nodes.get(node_id)
            if raw is not None and len(raw.declared_at) > 1:
                lines = ", ".join(map(str, raw.declared_at[:-1])) + f" and {raw.declared_at[-1]}"
                finding.details.append(f"`{node_id}` is declared at lines {lines}; its label is read from line {raw.line}.")


def review_file(
    path: str | os.PathLike[str],
    spec: ModelSpec | None = None,
    strategy: Strategy | None = None,
    selection: RuleSelection | None = None,
    hardware: HardwareProfile | None = None,
) -> Review:
    """Read and validate one DOT file (see `dagtui.loader` for several, with progress)."""
    return validate_review(read_file(path, strategy), spec, selection, hardware)


def _numbered(finding: Finding) -> Finding:
    finding.id = "F1"
    return finding
