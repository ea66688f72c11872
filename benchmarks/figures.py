"""What every benchmark here shares: how many paired runs to make (`--runs`), and how a set of
timings or ratios is printed (median, then the min-max of the runs: the machine is noisy)."""

from __future__ import annotations

import argparse
import statistics


def runs_argument(default: int = 5) -> int:
    """The `--runs N` of the command line: how many rounds of paired runs (A B A B)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=default)
    return parser.parse_args().runs


def spread(values: list[float], unit: str = "", digits: int = 2, width: int = 0) -> str:
    """`1.23 s (1.10-1.40)`: the median, then the lowest and highest run."""
    median = f"{statistics.median(values):{width}.{digits}f}"
    return f"{median}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
