"""Hostile label text, timed: modelling and validating a label of one repeated unit (`(`,
`EP1_`, `TP=8 `, ...) of 3,000 and of 12,000 characters in a node, a cluster and the graph label,
and a 10 MB label or comment against 10 MB of blanks. Prints the ratios (4x the text should cost
about 4x, never 16x; the 10 MB label about as much as reading 10 MB). Paired runs, best of each.

    python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dagtui.dot.raw import RawCluster, RawEdge, RawGraph, RawNode
from dagtui.model import build_deployment
from dagtui.review import review_file
from dagtui.validate import validate

UNITS = ["(", "EP1_", "dp1_pp0_", "TP=8 ", "TP=8 TP1 ", "top-2 ", " ", "x", "16 EP x "]
PLACES = ["node label", "cluster label", "graph label"]


def best_time(function: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def labelled(where: str, text: str) -> Callable[[], object]:
    nodes = {"a": RawNode("a", {"label": text if where == "node label" else "RMSNorm"}), "b": RawNode("b", {})}
    clusters = [RawCluster("cluster_0", {"label": text}, ["a"])] if where == "cluster label" else []
    graph = RawGraph("x.dot", "G", True, {"label": text} if where == "graph label" else {}, nodes,
                     [RawEdge("a", "b", {})], clusters)
    return lambda: validate(build_deployment(graph))


def main() -> int:
    print("label of 12,000 / 3,000 characters (linear 4x, quadratic 16x):")
    worst = 0.0
    for where in PLACES:
        for unit in UNITS:
            ratios = []
            for _ in range(3):  # paired: small then large, three times
                small = best_time(labelled(where, unit * (3_000 // len(unit))))
                large = best_time(labelled(where, unit * (12_000 // len(unit))))
                ratios.append(large / max(small, 1e-6))
            worst = max(worst, statistics.median(ratios))
            print(f"  {where:14} {unit!r:14} median {statistics.median(ratios):5.2f}x  (min {min(ratios):.2f}, max {max(ratios):.2f})")
    print(f"  worst median: {worst:.2f}x")
    with tempfile.TemporaryDirectory() as folder:
        words = "Expert 1 GPU 0 (TP=8) " * (10_000_000 // 22)
        files = {
            "blank": " " * 10_000_000,
            "label": f'  a [label="{words}"]',
            "comment": f"  /* {words} */",
        }
        paths = {}
        for name, padding in files.items():
            path = Path(folder) / f"{name}.dot"
            path.write_text("digraph G {\n  a -> b\n" + padding + "\n}\n")
            paths[name] = path
        blank = best_time(lambda: review_file(paths["blank"]), repeat=2)
        for name in ("label", "comment"):
            seconds = best_time(lambda name=name: review_file(paths[name]), repeat=1)
            print(f"10 MB {name}: {seconds:.2f} s, {seconds / blank:.1f}x reading 10 MB of blanks ({blank:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
