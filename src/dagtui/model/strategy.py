"""Parallel strategies: parse `EP64-TP8-PP2-DP2` and the dozen other ways files write them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagtui.errors import ConfigError

AXES = ("ep", "tp", "pp", "dp", "sp")
_RANK_RANGE = re.compile(r"\b(EP|TP|PP|DP|SP|CP)[_ =]?\d+\s*(?:-|–)\s*(?:\1)?[_ =]?\d+", re.IGNORECASE)
_DEGREE = re.compile(r"(?<![A-Za-z])(EP|TP|PP|DP|SP|CP)(?:\s*[-_=:]\s*|\s*)(\d+)(?![\d])", re.IGNORECASE)
_TOTAL = re.compile(r"(?:total\s*gpus?\s*[:=]?\s*(\d+))|(?:(\d+)\s*gpus?\b)", re.IGNORECASE)


@dataclass
class Strategy:
    """Degrees of parallelism, each declared (written in the file or given) or inferred from what is drawn."""

    degrees: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(AXES))
    declared: set[str] = field(default_factory=set)
    raw: str | None = None
    source: str | None = None
    declared_total: int | None = None

    def degree(self, axis: str) -> int | None:
        return self.degrees.get(axis)

    def is_declared(self, axis: str) -> bool:
        return axis in self.declared

    @property
    def ep(self) -> int | None:
        return self.degrees["ep"]

    @property
    def tp(self) -> int | None:
        return self.degrees["tp"]

    @property
    def pp(self) -> int | None:
        return self.degrees["pp"]

    @property
    def dp(self) -> int | None:
        return self.degrees["dp"]

    @property
    def gpu_count(self) -> int | None:
        """EP*TP*PP*DP, the convention these files use; None while a degree is unknown."""
        values = [self.degrees[axis] for axis in ("ep", "tp", "pp", "dp")]
        if any(value is None for value in values):
            return None
        product = 1
        for value in values:
            product *= value  # type: ignore[operator]
        return product

    @property
    def megatron_gpu_count(self) -> int | None:
        """TP*PP*DP: Megatron carves EP out of DP*TP instead of multiplying it in."""
        values = [self.degrees[axis] for axis in ("tp", "pp", "dp")]
        if any(value is None for value in values):
            return None
        tp, pp, dp = values  # type: ignore[misc]
        if self.ep and (tp * dp) % self.ep:  # EP cannot be carved out of DP*TP: not a Megatron layout
            return None
        return tp * pp * dp

    def label(self) -> str:
        """`EP64-TP8-PP2-DP2`, with `?` for unknown degrees and `~` for inferred ones."""
        parts = []
        for axis in ("ep", "tp", "pp", "dp", "sp"):
            value = self.degrees.get(axis)
            if axis == "sp" and value is None:
                continue
            text = "?" if value is None else str(value)
            marker = "" if axis in self.declared or value is None else "~"
            parts.append(f"{axis.upper()}{marker}{text}")
        return "-".join(parts)

    def compact(self) -> str | None:
        """`EP64-TP8-PP2-DP2` over the known degrees, or None when nothing is known."""
        parts = [f"{axis.upper()}{value}" for axis, value in self.degrees.items() if value is not None]
        return "-".join(parts) or None


def parse_degrees(text: str) -> dict[str, int]:
    """Degrees written in free text: `EP64-TP8-PP2-DP2`, `EP-16 x TP-4`, `TP=4, EP=16`, `TP8_PP2`.

    Rank ranges (`TP0-TP7`) and zero values are ranks, not degrees, and are ignored.
    """
    text = _RANK_RANGE.sub(" ", text)
    degrees: dict[str, int] = {}
    for match in _DEGREE.finditer(text):
        value = int(match.group(2))
        axis = "sp" if match.group(1).lower() == "cp" else match.group(1).lower()
        if value > 0 and axis not in degrees:
            degrees[axis] = value
    return degrees


def parse_declared_total(text: str) -> int | None:
    """A stated GPU total: `Total GPUs: 2048` or `2048 GPUs`."""
    match = _TOTAL.search(text)
    if not match:
        return None
    return int(match.group(1) or match.group(2))


def parse_strategy(text: str, source: str = "--strategy") -> Strategy:
    """Parse a strategy given by the user; raises ConfigError when nothing in it is a degree."""
    degrees = parse_degrees(text)
    if not degrees:
        raise ConfigError(f"cannot read a parallel strategy from {text!r} (expected e.g. EP64-TP8-PP2-DP2)")
    strategy = Strategy(raw=text, source=source)
    for axis, value in degrees.items():
        strategy.degrees[axis] = value
        strategy.declared.add(axis)
    return strategy
