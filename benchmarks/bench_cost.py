"""What the cost model adds to loading a pair of large deployments: two corpus-style DAGs of about
19k nodes each (61 layers x 256 experts, TP8; EP32 against EP64), read, modelled, validated and
compared as the explorer and `dagtui check a b` do, with and without the cost model.

- reference (A): both files reviewed under --model with the memory rules off, and compared
  without a model spec (strategy table, findings);
- with the cost model (B): the same with the memory rules on (MEM001-MEM003, each estimate once
  per file, MEM002's trial estimates) and the comparison's estimates and cost table, --hardware h100.

Runs are fresh processes, paired A B A B (this machine is shared and noisy); each pair gives a
ratio B/A, and the figures quoted are the median ratio (min-max), the median times, and the cost
model's share of B's load time. Each B process also times the pieces directly, after its load:
the two estimates, the memory rules alone, the cost table; and, apart from the cost model, the
structural diff (computed when a report asks for it, not while the explorer loads) and
`node_costs` over every node (the detail panel calls `node_cost` for one node at a time).

Run: python benchmarks/bench_cost.py [--runs 5]   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import runs_argument
from synthetic import HIDDEN, synthetic_dot

# A DeepSeek-V3-sized MoE matching the synthetic drawing (hidden 7168, 256 experts, top-8).
MODEL = f"""name: synthetic-61l-256e
layers: 61
hidden_size: {HIDDEN}
heads: 56
kv_heads: 8
head_dim: 128
experts: 256
top_k: 8
moe_ffn_hidden: 2048
vocab: 129280
gated_mlp: true
dtype: bf16
batch: 128
seq_len: 4096
decode_tokens: 1024
micro_batches: 1
"""

_CHILD = """
import gc, json, sys, time
gc.freeze(); gc.set_threshold(50_000, 50, 1_000)  # as the console entry point does
from dagtui.compare import compare
from dagtui.cost import estimate_deployment, load_hardware, node_costs
from dagtui.cost.summary import cost_rows
from dagtui.model import load_model_spec
from dagtui.review import review_file
from dagtui.structural_diff import structural_diff
from dagtui.validate import RuleSelection, validate
first, second, model, mode = sys.argv[1:5]
spec = load_model_spec(model)
with_cost = mode == "B"
hardware = load_hardware("h100") if with_cost else None
selection = RuleSelection() if with_cost else RuleSelection(ignore=["memory"])
start = time.perf_counter()
reviews = [review_file(path, spec, selection=selection, hardware=hardware) for path in (first, second)]
comparison = compare(*reviews, spec if with_cost else None, hardware)
load = time.perf_counter() - start
pieces = {}
if with_cost:
    deployments = [review.deployment for review in reviews]
    started = time.perf_counter(); costs = [estimate_deployment(d, spec, hardware) for d in deployments]
    pieces["estimates"] = time.perf_counter() - started
    started = time.perf_counter(); [validate(d, spec, RuleSelection(select=["memory"]), hardware) for d in deployments]
    pieces["memory_rules"] = time.perf_counter() - started
    started = time.perf_counter(); cost_rows(*costs); pieces["cost_table"] = time.perf_counter() - started
    started = time.perf_counter(); structural_diff(*deployments); pieces["diff"] = time.perf_counter() - started
    started = time.perf_counter(); counted = sum(len(node_costs(d, spec)) for d in deployments)
    pieces["node_costs"] = time.perf_counter() - started
    pieces["nodes_with_cost"] = counted
print(json.dumps({"load": load, "nodes": [len(r.deployment.nodes) for r in reviews],
                  "findings": [len(r.findings) for r in reviews], "pieces": pieces}))
"""


def measure(first: Path, second: Path, model: Path, mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", _CHILD, str(first), str(second), str(model), mode],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    runs = runs_argument()
    with tempfile.TemporaryDirectory() as folder:
        first, second, model = Path(folder) / "current.dot", Path(folder) / "new.dot", Path(folder) / "model.yaml"
        first.write_text(synthetic_dot(61, 256, 8, 32))
        second.write_text(synthetic_dot(61, 256, 8, 64))
        model.write_text(MODEL)
        reference, costed = [], []
        for _ in range(runs):
            reference.append(measure(first, second, model, "A"))
            costed.append(measure(first, second, model, "B"))
    nodes = costed[0]["nodes"]
    print(f"pair: {nodes[0]:,} and {nodes[1]:,} nodes ({first.name} EP32, {second.name} EP64), {runs} paired runs")
    a = [r["load"] for r in reference]
    b = [r["load"] for r in costed]
    ratios = [y / x for x, y in zip(a, b)]
    print(f"load + validate + compare without the cost model: median {statistics.median(a):.2f} s "
          f"(min {min(a):.2f}, max {max(a):.2f})")
    print(f"                           with the cost model: median {statistics.median(b):.2f} s "
          f"(min {min(b):.2f}, max {max(b):.2f})")
    share = [(y - x) / y for x, y in zip(a, b)]
    print(f"ratio with/without: median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}); "
          f"the cost model's share of the load: median {statistics.median(share):+.1%}")
    for piece in ("estimates", "memory_rules", "cost_table", "diff", "node_costs"):
        values = [r["pieces"][piece] for r in costed]
        print(f"  {piece:12} {statistics.median(values) * 1e3:8.1f} ms median, "
              f"{statistics.median(values) / statistics.median(b):.2%} of the load with the cost model")
    direct = [(r["pieces"]["memory_rules"] + r["pieces"]["estimates"] + r["pieces"]["cost_table"]) / r["load"] for r in costed]
    print(f"the cost model timed directly (memory rules + the comparison's estimates + cost table): median "
          f"{statistics.median(direct):.2%} of the load (max {max(direct):.2%})")
    print(f"  node_costs: {costed[0]['pieces']['nodes_with_cost']:,} nodes whose shapes give a cost "
          "(the detail panel calls node_cost for one node at a time)")


if __name__ == "__main__":
    main()
