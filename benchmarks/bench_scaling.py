"""Linear everywhere: each phase of a review (read, model, validate) at 1, 2, 4 and 8 MB of
corpus-style DOT, and on one hub node with 10k and then 40k edges, each run in a fresh process.

A linear pass takes twice the time for twice the input: the ratios printed are time(2x) / time(x)
per phase (2.0 is linear; a quadratic pass shows 4.0), and time(40k) / time(10k) for the hub
(4.0 is linear, 16 quadratic). Sizes are run in rounds (1, 2, 4, 8 MB, then again), so that each
ratio pairs runs of one round on this shared, noisy machine; the medians over the rounds are
printed with their min-max.

Run: python benchmarks/bench_scaling.py [--runs 5]   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import runs_argument, spread
from synthetic import synthetic_dot

PHASES = ("read", "model", "validate")
_CHILD = """
import json, sys, time
from dagtui.entry import collect_garbage_rarely
collect_garbage_rarely()  # as `dagtui` runs
import networkx  # imported before the clock starts: modelling is timed, not the import
from dagtui.dot import read_dot
from dagtui.model import build_deployment
from dagtui.validate import validate
times = {}
start = time.perf_counter()
raw = read_dot(sys.argv[1])
times["read"] = time.perf_counter() - start
start = time.perf_counter()
deployment = build_deployment(raw)
times["model"] = time.perf_counter() - start
start = time.perf_counter()
validate(deployment)
times["validate"] = time.perf_counter() - start
print(json.dumps(times))
"""
# About 0.54 MB per 8 layers of the synthetic DAG: these give 1, 2, 4 and 8 MB.
LAYERS = {1: 15, 2: 30, 4: 61, 8: 122}


def hub_dot(edges: int) -> str:
    """One all-to-all feeding `edges` experts that all feed one combine; half the experts are
    declared with a label on a line of their own, half only appear in edges."""
    out = ['digraph hub {', '  input [label="Input"]', '  hub [label="All-to-All Dispatch\\nGPU: 0-7" shape=ellipse]',
           '  combine [label="All-to-All Combine\\nGPU: 0-7" shape=ellipse]', '  output [label="Output"]',
           "  input -> hub", "  combine -> output"]
    for index in range(edges // 2):
        if index % 2 == 0:
            out.append(f'  e{index} [label="Expert {index}\\nGPU: {index % 8}"]')
        out.append(f"  hub -> e{index}\n  e{index} -> combine")
    out.append("}\n")
    return "\n".join(out)


def phases(path: Path) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)




def main() -> None:
    runs = runs_argument()
    with tempfile.TemporaryDirectory() as folder:
        files = {}
        for megabytes, layers in LAYERS.items():
            files[megabytes] = Path(folder, f"synthetic_{megabytes}mb.dot")
            files[megabytes].write_text(synthetic_dot(layers=layers))
        hubs = {edges: Path(folder, f"hub_{edges}.dot") for edges in (10_000, 40_000)}
        for edges, path in hubs.items():
            path.write_text(hub_dot(edges))
        rounds = []
        for _ in range(runs):
            measured = {size: phases(path) for size, path in files.items()}
            measured.update({f"hub{edges}": phases(path) for edges, path in hubs.items()})
            rounds.append(measured)
    print(f"{'file':28} " + "  ".join(f"{phase:>21}" for phase in PHASES) + "   (seconds: median (min-max) of "
          f"{runs} runs)")
    for size, path in files.items():
        print(f"synthetic {size} MB ({path.name})"[:28].ljust(28) + " " +
              "  ".join(spread(width=5, values=[r[size][phase] for r in rounds]).rjust(21) for phase in PHASES))
    for edges in hubs:
        print(f"hub node, {edges:,} edges".ljust(28) + " " +
              "  ".join(spread(width=5, values=[r[f"hub{edges}"][phase] for r in rounds]).rjust(21) for phase in PHASES))
    print("\nratios, paired within each round (linear: 2.0 per doubling, 4.0 for the hub; quadratic: 4.0 and 16):")
    for low, high in ((1, 2), (2, 4), (4, 8)):
        shown = "  ".join(f"{phase} {spread(width=5, values=[r[high][phase] / r[low][phase] for r in rounds])}" for phase in PHASES)
        total = spread(width=5, values=[sum(r[high].values()) / sum(r[low].values()) for r in rounds])
        print(f"  {high} MB / {low} MB: {shown}  all {total}")
    shown = "  ".join(f"{phase} {spread(width=5, values=[r['hub40000'][phase] / r['hub10000'][phase] for r in rounds])}" for phase in PHASES)
    total = spread(width=5, values=[sum(r["hub40000"].values()) / sum(r["hub10000"].values()) for r in rounds])
    print(f"  hub 40k / 10k edges: {shown}  all {total}")


if __name__ == "__main__":
    main()
