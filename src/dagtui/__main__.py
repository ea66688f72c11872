"""Entry point for ``python -m dagtui``."""

from dagtui.cli import main

raise SystemExit(main())
