"""Load and validation benchmark: a corpus-style 61-layer x 256-expert x TP8 DAG (about 19k nodes,
35k edges) through the default path (plain DOT reader) and cgraph alone, and a smaller one through
pydot for the ratio. Every figure is from a fresh process; best and median of several runs,
because this machine is shared and noisy.

Run: python benchmarks/bench_load.py   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic_dot

_CHILD = """
import json, resource, sys, time
from dagtui.dot import read_dot
from dagtui.model import build_deployment
from dagtui.validate import validate
path, backend, do_validate = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
start = time.perf_counter()
raw = read_dot(path, backend)
read = time.perf_counter() - start
deployment = build_deployment(raw)
loaded = time.perf_counter() - start
findings = validate(deployment) if do_validate else []
validated = time.perf_counter() - start - loaded
print(json.dumps({"read": read, "load": loaded, "validate": validated, "nodes": len(deployment.nodes),
                  "edges": len(deployment.edges), "findings": len(findings),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(path: Path, backend: str, validate: bool = True) -> dict:
    """Run one load in a fresh process, so peak memory is this load's alone."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), backend, "1" if validate else "0"],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


def best_and_median(path: Path, backend: str, runs: int, validate: bool = True) -> tuple[dict, dict]:
    """Fresh-process runs of one load; the fastest and the median by read+model time."""
    results = sorted((measure(path, backend, validate) for _ in range(runs)), key=lambda r: r["load"])
    return results[0], results[len(results) // 2]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        big = Path(folder) / "big.dot"
        big.write_text(synthetic_dot(61, 256, 8, 32))
        small = Path(folder) / "small.dot"
        small.write_text(synthetic_dot(6, 256, 8, 32))
        print(f"big file: {big.stat().st_size / 1e6:.1f} MB; small file: {small.stat().st_size / 1e6:.2f} MB")
        best, median = best_and_median(big, "plain", 5)
        print(f"default (plain DOT reader, cgraph for the rest), big: {best['nodes']} nodes, {best['edges']} edges; "
              f"read {best['read']:.2f} s, read+model {best['load']:.2f} s (median {median['load']:.2f} s), "
              f"validate {best['validate']:.2f} s ({best['findings']} findings), peak {best['peak_mb']:.0f} MB (best of 5)")
        graphviz, graphviz_median = best_and_median(big, "cgraph", 3, validate=False)
        print(f"cgraph only, big: read {graphviz['read']:.2f} s, read+model {graphviz['load']:.2f} s "
              f"(median {graphviz_median['load']:.2f} s): the plain reader saves {graphviz['load'] - best['load']:.2f} s")
        fast_small = best_and_median(small, "plain", 3, validate=False)[0]
        cgraph_small = best_and_median(small, "cgraph", 3, validate=False)[0]
        started = time.perf_counter()
        slow_small = measure(small, "pydot", False)
        wall = time.perf_counter() - started
        print(f"small file:   read+model: default {fast_small['load']:.3f} s, cgraph {cgraph_small['load']:.3f} s, "
              f"pydot {slow_small['load']:.2f} s (process {wall:.1f} s): pydot/default = "
              f"{slow_small['load'] / fast_small['load']:.0f}x, pydot/cgraph = {slow_small['load'] / cgraph_small['load']:.0f}x")
        per_byte_pydot = slow_small["load"] / small.stat().st_size
        estimate = per_byte_pydot * big.stat().st_size
        print(f"big file:     pydot estimated at {estimate:.0f} s from its per-byte rate: "
              f"{estimate / best['load']:.0f}x the default path")


if __name__ == "__main__":
    main()
