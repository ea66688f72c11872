"""The `dagtui` console command. Ctrl-C is caught from the first moment, before the imports of the
command line (rich, networkx, the validator: half a second), so that it exits 130 quietly whenever
it comes; `cli.main` catches it once running."""

from __future__ import annotations

import gc

EXIT_INTERRUPTED = 130


def run() -> int:
    try:
        from dagtui.cli import main

        _collect_garbage_rarely()
        return main()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _collect_garbage_rarely() -> None:
    """Process-wide GC policy, set here at the entry point and nowhere in the library: the modules
    imported so far are moved out of the collector's sight, and collections run every 50,000 new
    objects instead of 700. Reading a 19k-node DAG allocates millions of objects and no cycles;
    with the default thresholds a quarter of `check`'s time went to full collections finding
    nothing (benchmarks/bench_check.py)."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
