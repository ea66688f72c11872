"""Paths and small helpers the tests share (importable, unlike conftest)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.segment import Segment

from dagtui.validate import Finding

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
DATA = Path(__file__).resolve().parent / "data"
CORPUS = ROOT.parent / "shared" / "corpus"


def by_rule(findings: list[Finding], code: str) -> list[Finding]:
    """The findings of one rule."""
    return [finding for finding in findings if finding.rule == code]


def corpus_files() -> list[Path]:
    """The corpus DOT files, or none when ../shared is absent (a user's clone)."""
    return sorted(CORPUS.glob("*.dot")) if CORPUS.is_dir() else []


async def loaded(app, pilot) -> None:
    """Wait until the explorer has shown its first load (up to 6 s), then let the screen settle."""
    for _ in range(300):
        if app.loaded:
            await pilot.pause()
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app never finished loading")


@pytest.fixture
def private_config(tmp_path, monkeypatch):
    """The explorer's settings in a folder of the test's own, and colours on (import it into a
    test module with `usefixtures`, or autouse it there)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("NO_COLOR", raising=False)


async def press(pilot, *keys: str) -> None:
    """Press keys and let the app handle them before the next assertion."""
    await pilot.press(*keys)
    await pilot.pause()


def tree_of(app, pane: int):
    """The tree of deployment pane `pane`."""
    return app.query_one(f"#pane-{pane}").deployment_tree


def recorded_notifications(app) -> list[str]:
    """The messages of every toast the app shows from now on."""
    messages: list[str] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        messages.append(str(message))
        notify(message, *args, **kwargs)

    app.notify = recording
    return messages


def screen_lines(app) -> list[list[Segment]]:
    """The screen as drawn, after every filter (NO_COLOR's among them), one list of segments a row."""
    return [list(strip) for strip in app.screen._compositor.render_strips()]


def widget_row(widget, line: int) -> list[Segment]:
    """The segments a widget draws for its `line`th content row (scrolling taken into account)."""
    return [segment for segment in widget.render_line(line - int(widget.scroll_y)) if segment.text.strip()]


def text_of(segments: list[Segment]) -> str:
    return "".join(segment.text for segment in segments)
