"""Generation benchmark: the 61-layer / 256-expert / TP8 DAG, built as data and written with
dagtui's own writer; pydot's writer on the same data for comparison (why we do not use it).

Run: python benchmarks/bench_generate.py   (prints its figures; nothing here is asserted)
"""

from __future__ import annotations

import time

import pydot

from dagtui.generate import generate, to_dot
from dagtui.model import ModelSpec, parse_strategy

SPEC = ModelSpec(layers=61, hidden_size=7168, heads=56, d_k=128, experts=256, top_k=8, batch_size=128, seq_len=4096)


def with_pydot(graph) -> str:
    dot = pydot.Dot(graph.name, graph_type="digraph", label=graph.label)
    for node in graph.nodes.values():
        dot.add_node(pydot.Node(node.id, label="\\n".join(node.lines), shape=node.shape))
    for edge in graph.edges:
        dot.add_edge(pydot.Edge(edge.source, edge.target, **({"style": "dashed"} if edge.dashed else {})))
    return dot.to_string()


def main() -> None:
    strategy = parse_strategy("EP32-TP8-PP1-DP1")
    started = time.perf_counter()
    graph = generate(SPEC, strategy)
    built = time.perf_counter() - started
    text = to_dot(graph)
    total = time.perf_counter() - started
    print(f"61 layers x 256 experts x TP8: {len(graph.nodes)} nodes, {len(graph.edges)} edges, "
          f"{len(text) / 1e6:.1f} MB; build {built:.2f} s, build+write {total:.2f} s")
    small = generate(ModelSpec(**{**SPEC.__dict__, "layers": 6}), strategy)
    started = time.perf_counter()
    to_dot(small)
    own = time.perf_counter() - started
    started = time.perf_counter()
    with_pydot(small)
    slow = time.perf_counter() - started
    print(f"6-layer graph ({len(small.nodes)} nodes): own writer {own:.3f} s, pydot {slow:.2f} s ({slow / own:.0f}x)")


if __name__ == "__main__":
    main()
