"""The `dagtui` console command. Ctrl-C is caught from the first moment, before the imports of the
command line (rich, networkx, the validator: half a second), so that it exits 130 quietly whenever
it comes; `cli.main` catches it once running."""

from __future__ import annotations

import gc
import os
import sys

EXIT_INTERRUPTED = 130


def run() -> int:
    try:
        from dagtui.cli import HEADLESS, main

        collect_garbage_rarely()
        code = main()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if len(sys.argv) > 1 and sys.argv[1] in HEADLESS:
        exit_without_teardown(code)
    return code


def exit_without_teardown(code: int) -> None:
    """End a headless command at once, its output flushed: the interpreter's teardown would free
    every object of the reviews one by one (a tenth of a second and more after a 19k-node
    `check`, benchmarks/bench_check.py) and run exit handlers these commands do not register.
    Returns, leaving the exit to the interpreter, when the output cannot be flushed."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def collect_garbage_rarely() -> None:
    """Process-wide GC policy, set here at the entry point and nowhere in the library (the
    benchmarks that time the library as the command runs it set it too): what is imported so far
    is moved out of the collector's sight, and collections run every 50,000 new objects instead
    of 700. Reading a 19k-node DAG allocates millions of objects and no cycles; with the default
    thresholds a quarter of `check`'s time went to full collections finding nothing
    (benchmarks/bench_check.py)."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
