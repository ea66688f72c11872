"""Entry point for ``python -m dagtui``."""

from dagtui.entry import run

raise SystemExit(run())
