"""Quantities with units, as hardware profiles write them (`80 GiB`, `3.35 TB/s`, `989.4 TFLOP/s`),
read into plain numbers; and numbers written back for people (`12.3 GiB`, `1.97 PFLOP`).

Decimal prefixes (k, M, G, T, P, E) are powers of 1000 and binary ones (Ki, Mi, Gi, Ti, Pi) powers
of 1024, as datasheets mean them: HBM capacities in GiB, bandwidths and FLOP/s in decimal units.
"""

from __future__ import annotations

import math
import re

_PREFIX = {
    "": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
}
_QUANTITY = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|[kKMGTPE])?\s*([A-Za-z/]*)\s*$")
# The unit each kind of quantity may carry after its prefix.
UNITS = {"bytes": ("B",), "rate": ("B/s",), "flops": ("FLOP/s", "FLOPS", "flop/s", "FLOP/S")}


class UnitError(ValueError):
    """A quantity that cannot be read; the message says what was expected."""


def parse_quantity(value: object, kind: str) -> float:
    """`80 GiB` -> 85899345920.0 for kind `bytes`; a bare number is taken as is. UnitError on
    anything else (a wrong unit, a negative, an infinity, text that is no number)."""
    if isinstance(value, bool):
        raise UnitError(f"expected a number with a unit ({' or '.join(UNITS[kind])}), got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = _QUANTITY.match(value)
        if not match:
            raise UnitError(f"expected a number with a unit ({' or '.join(UNITS[kind])}), got {value!r}")
        digits, prefix, unit = match.group(1), match.group(2) or "", match.group(3)
        if unit and unit not in UNITS[kind]:
            raise UnitError(f"{value!r}: the unit must be {' or '.join(UNITS[kind])}")
        if not unit and prefix:
            raise UnitError(f"{value!r}: a prefix without a unit ({' or '.join(UNITS[kind])})")
        number = float(digits.replace("_", "").replace(",", "")) * _PREFIX[prefix]
    else:
        raise UnitError(f"expected a number with a unit ({' or '.join(UNITS[kind])}), got {value!r}")
    if not math.isfinite(number) or number <= 0:
        raise UnitError(f"{value!r} is not a positive, finite quantity")
    return number


def binary_bytes(count: float) -> str:
    """`128 KiB`, `12.50 GiB`: bytes in binary units, three significant figures or more."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(count) >= size:
            value = count / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.2f} {unit}"
    return f"{count:.0f} B"


def decimal(count: float, unit: str) -> str:
    """`1.97 PFLOP`, `450 GB/s`: a count with a decimal prefix."""
    for prefix, size in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.3g} {prefix}{unit}"
    return f"{count:.3g} {unit}"


def seconds(value: float) -> str:
    """`12.3 ms`, `1.25 s`, `850 µs`."""
    if value >= 1:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} µs"
