"""The report formats, and the one an output file's name asks for: a module of its own, so that the
command line knows them without importing the renderers (and the validator they import)."""

from __future__ import annotations

from pathlib import Path

FORMATS = ("text", "concise", "markdown", "json", "sarif", "github")
# What `--output PATH` writes when no --format is given, by the name's ending (longest first).
_BY_EXTENSION = ((".sarif.json", "sarif"), (".sarif", "sarif"), (".json", "json"), (".md", "markdown"),
                 (".markdown", "markdown"))


def format_for_path(path: str) -> str:
    """The format a report file's name asks for: `r.json` json, `r.md` markdown, `r.sarif` sarif;
    any other name the text report."""
    name = Path(path).name.lower()
    return next((fmt for ending, fmt in _BY_EXTENSION if name.endswith(ending)), "text")
