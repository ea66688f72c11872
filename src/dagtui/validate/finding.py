"""Findings, severities and the rule registry that every validator module adds its rules to."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagtui.validate.context import Context

CATEGORIES = (
    "syntax", "structure", "attention", "shape", "pipeline", "expert",
    "tensor", "communication", "gpu", "strategy", "annotation", "memory",
)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]

    def at_least(self, other: Severity) -> bool:
        """Whether this severity is as serious as `other` or more."""
        return self.rank <= other.rank


@dataclass
class Finding:
    """One fault, aggregated the way a reviewer writes it, with the nodes to jump to and a fix."""

    rule: str
    category: str
    severity: Severity
    title: str
    message: str
    nodes: list[str] = field(default_factory=list)
    fix: str = ""
    details: list[str] = field(default_factory=list)
    key: str = ""  # the role of the fault, the same in two deployments when it is the same fault
    line: int | None = None
    column: int | None = None
    pair: str | None = None  # set by compare: the id of the same finding in the other deployment
    id: str = ""


CheckFunction = Callable[["Context"], Iterable[Finding]]


@dataclass
class Rule:
    """A validator rule: stable code, category, default severity, title, and the doc of its check."""

    code: str
    category: str
    severity: Severity
    title: str
    check: CheckFunction
    doc: str

    def sections(self) -> dict[str, str]:
        """The doc for users, in parts: `what` (the first paragraph), `why`, `example` and `fix`."""
        parts = re.split(r"^(Why|Example|Fix):\s*", self.doc, flags=re.MULTILINE)
        sections = {"what": " ".join(parts[0].split())}
        for name, text in zip(parts[1::2], parts[2::2]):
            sections[name.lower()] = " ".join(text.split())
        return sections

    def finding(self, message: str, *, nodes: Iterable[str] = (), fix: str = "", details: Iterable[str] = (),
                key: str = "", severity: Severity | None = None, title: str | None = None) -> Finding:
        """A finding of this rule; `severity` lowers or raises the default where evidence warrants."""
        return Finding(
            rule=self.code, category=self.category, severity=severity or self.severity,
            title=title or self.title, message=message, nodes=list(dict.fromkeys(nodes)), fix=fix,
            details=[detail for detail in details if detail], key=key or self.code,
        )


RULES: dict[str, Rule] = {}


def rule(code: str, category: str, severity: Severity, title: str) -> Callable[[CheckFunction], Rule]:
    """Register a check function as a rule; its docstring is the rule's documentation."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category}")

    def register(check: CheckFunction) -> Rule:
        if code in RULES:
            raise ValueError(f"rule {code} registered twice")
        registered = Rule(code, category, severity, title, check, inspect.cleandoc(check.__doc__ or ""))
        RULES[code] = registered
        return registered

    return register
