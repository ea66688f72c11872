"""The `dagtui` console command. Ctrl-C is caught from the first moment, before the imports of the
command line (rich, networkx, the validator: half a second), so that it exits 130 quietly whenever
it comes; `cli.main` catches it once running."""

from __future__ import annotations

EXIT_INTERRUPTED = 130


def run() -> int:
    try:
        from dagtui.cli import main

        return main()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
