"""Pilot tests of the explorer: every key, the narrow layout, bad input in one pane."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest
from helpers import SAMPLES, loaded, press, private_config, tree_of  # noqa: F401 (a fixture)

from dagtui import loader
from dagtui.report import render
from dagtui.tui.app import DagtuiApp
from dagtui.tui.detail import DetailPanel
from dagtui.tui.issues import IssuePanel, IssueTable
from dagtui.tui.pane import DeploymentPane
from dagtui.tui.screens import ChooserScreen, ExportScreen, HelpScreen

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")


pytestmark = pytest.mark.usefixtures("private_config")


def progress_text(app, pane: int) -> str:
    return str(app.query_one(f"#pane-{pane} .pane-progress").render())


async def until(pilot, condition, seconds: float = 6.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            await pilot.pause()
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


async def jump(app, pilot, pane: int, node_id: str) -> None:
    """Select a node as a jump does, and let the screen settle."""
    app.jump_to(pane, node_id)
    await pilot.pause()


def select_row(app, rule: str):
    panel = app.query_one(IssuePanel)
    row = next(row for row in panel.visible_rows if row.finding.rule == rule)
    panel.table.focus()
    panel.table.move_cursor(row=panel.visible_rows.index(row))
    return row


async def test_startup_shows_both_deployments(tmp_path):
    switch_interval = sys.getswitchinterval()
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await app.workers.wait_for_complete()
        assert sys.getswitchinterval() == switch_interval  # the loader's longer GIL slices end with it
        headers = [str(pane.query_one(".pane-header").render()) for pane in app.query(DeploymentPane)]
        assert "EP64-TP8-PP2-DP2" in headers[0] and "2048 GPUs" in headers[0]
        assert "EP~32-TP~16-PP~4-DP~4" in headers[1]
        assert str(tree_of(app, 0).root.label).startswith("✖")  # markers arrive with validation
        rows = app.query_one(IssuePanel).visible_rows
        assert any(len(row.sides) == 2 and row.finding.rule == "ATT002" for row in rows)  # paired: shown once


async def test_enter_on_a_finding_jumps_and_cycles(tmp_path):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        row = select_row(app, "ATT002")
        await press(pilot, "enter")
        first = row.targets()[0]
        assert app.current == first
        assert tree_of(app, 0).current_node_id == first[1]
        assert first[1] in app.query_one(DetailPanel).text
        assert "ATT002" in app.query_one(DetailPanel).text
        await press(pilot, "enter")
        assert app.current == row.targets()[1]
        assert tree_of(app, 0).current_node_id == row.targets()[1][1]


async def test_n_and_N_walk_the_findings_from_anywhere(tmp_path):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        panel = app.query_one(IssuePanel)
        await press(pilot, "n")
        first = panel.visible_rows[0].targets()[0]
        assert app.current == first and app.focused is tree_of(app, first[0])
        await press(pilot, "n")
        assert app.current == panel.visible_rows[1].targets()[0]
        await press(pilot, "N")
        assert app.current == first


async def test_search_counts_jumps_cycles_and_leaves(tmp_path):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        tree_of(app, 1).focus()
        await pilot.press("slash")
        await pilot.press(*"op=expert")
        search = app.query_one("#search")
        assert search.border_title.startswith("4 match(es) in New Deployment")
        await press(pilot, "enter")
        assert app.current == (1, "layer0_expert0") and app.search_active
        await press(pilot, "n")
        assert app.current == (1, "layer0_expert1")
        await press(pilot, "N")
        assert app.current == (1, "layer0_expert0")
        await press(pilot, "escape")
        assert not app.search_active and not search.has_class("-active")
        await pilot.press("n")  # back to walking findings
        await pilot.pause()
        assert app.current == app.query_one(IssuePanel).visible_rows[0].targets()[0]


async def test_regex_search_over_labels(tmp_path):
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert app.outlines[0].search("Scores? x V") == ["layer0_attn_out"]
        assert app.outlines[0].search("layer=15") == ["layer15_attention", "layer15_moe"]
        assert app.outlines[0].search("shape=parallelogram") == ["pp0_start", "layer0_moe_gate", "pp1_start"]
        assert app.outlines[0].search("[unclosed") == []


async def test_predecessor_successor_chooser_and_history(tmp_path):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await jump(app, pilot, 0, "layer0_attn_v")
        await pilot.press("right_square_bracket")  # one successor: straight there
        await pilot.pause()
        assert app.current == (0, "layer0_attn_out")
        await press(pilot, "left_square_bracket")
        assert app.current == (0, "layer0_attn_v")
        await jump(app, pilot, 0, "layer0_attn_score")
        await pilot.press("left_square_bracket")  # two predecessors: a chooser
        await pilot.pause()
        assert isinstance(app.screen, ChooserScreen)
        await press(pilot, "down", "enter")
        assert app.current == (0, "layer0_attn_k")
        await press(pilot, "backspace")
        assert app.current == (0, "layer0_attn_score")
        await press(pilot, "backspace")
        assert app.current == (0, "layer0_attn_v")
        await press(pilot, "ctrl+f")
        assert app.current == (0, "layer0_attn_score")


async def test_detail_neighbours_walk_the_data_flow(tmp_path):
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await jump(app, pilot, 0, "layer0_attn_softmax")
        detail = app.query_one(DetailPanel)
        text = detail.text
        for expected in ("Softmax", "operator softmax", "layer 0", "TP 0-7", "declared at line 21", "ATT002"):
            assert expected in text, expected
        neighbours = detail.query_one("#neighbours")
        neighbours.focus()
        neighbours.highlighted = 1  # ← score, → oproj
        await press(pilot, "enter")
        assert app.current == (0, "layer0_attn_oproj")


async def test_counterpart_in_the_other_deployment(tmp_path):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await jump(app, pilot, 0, "layer0_expert1")
        await press(pilot, "s")
        assert app.current == (1, "layer0_expert1")
        assert app.focused is tree_of(app, 1)


async def test_export_writes_the_cli_markdown(tmp_path):
    current, new = tmp_path / "current.dot", tmp_path / "new.dot"
    current.write_text((SAMPLES / "current.dot").read_text())
    new.write_text((SAMPLES / "new.dot").read_text())
    app = DagtuiApp([str(current), str(new)], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "e")
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.query_one("#export-path").value == str(tmp_path / "current-dagtui-report.md")
        await press(pilot, "enter")
        written = (tmp_path / "current-dagtui-report.md").read_text()
        assert written == render("markdown", app.reviews, app.comparison)
        assert written.startswith("# DAG Analysis Report") and "Same Attention block" in written
        before = current.read_text()
        app._export(str(current))  # never over an input
        await pilot.pause()
        assert current.read_text() == before


async def test_reload_keeps_the_selection(tmp_path):
    path = tmp_path / "current.dot"
    path.write_text((SAMPLES / "current.dot").read_text())
    app = DagtuiApp([str(path)])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await jump(app, pilot, 0, "layer0_attn_q")
        path.write_text(path.read_text().replace('"Softmax', '"Softmax (fp32)'))
        app.loaded = False
        await pilot.press("r")
        await loaded(app, pilot)
        assert app.current == (0, "layer0_attn_q")
        assert tree_of(app, 0).current_node_id == "layer0_attn_q"
        assert "fp32" in " ".join(app.outlines[0].deployment.nodes["layer0_attn_softmax"].label)


async def test_zoom_theme_help_and_quit(tmp_path):
    app = DagtuiApp([CURRENT, NEW])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        tree_of(app, 1).focus()
        await press(pilot, "z")
        assert app.screen.maximized is app.query_one("#pane-1")
        await press(pilot, "z")
        assert app.screen.maximized is None
        assert app.theme == "dagtui-dark"
        await pilot.press("t")
        assert app.theme != "dagtui-dark"
        chosen = app.theme
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code in (0, None)
    second = DagtuiApp([CURRENT])
    async with second.run_test() as pilot:
        assert second.theme == chosen  # remembered in the config dir
        await loaded(second, pilot)


async def test_q_quits_while_files_load(monkeypatch):
    release = threading.Event()  # holds the loader in its first read, as a step of a large file would
    real_read = loader.read_raw
    monkeypatch.setattr(loader, "read_raw", lambda *args: release.wait(10) and real_read(*args))
    app = DagtuiApp([CURRENT, NEW])
    try:
        async with app.run_test() as pilot:
            await pilot.pause()
            assert not app.loaded and isinstance(app.focused, IssueTable)  # not the hidden search input
            await pilot.press("q")
            for _ in range(100):
                if not app.is_running:
                    break
                await asyncio.sleep(0.02)
            assert not app.is_running  # quit by the key, not by leaving the test
    finally:
        release.set()
    assert app.return_code in (0, None)


async def test_narrow_layout_stacks_the_panes(tmp_path):
    app = DagtuiApp([CURRENT, NEW])
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        first, second = app.query_one("#pane-0").region, app.query_one("#pane-1").region
        assert app.screen.has_class("-narrow")
        assert second.y > first.y and first.width > 70
        await press(pilot, "n")
        assert app.current is not None


async def test_bad_file_shows_its_error_while_the_other_works(tmp_path):
    bad = tmp_path / "broken.dot"
    bad.write_text("digraph {\n a -> b\n c -> -> d\n}\n")
    app = DagtuiApp([str(bad), CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        error = str(app.query_one("#pane-0 .pane-error").render())
        assert "line 3" in error
        assert app.query_one("#pane-0").has_class("-error")
        await jump(app, pilot, 1, "layer0_attn_v")
        assert app.current == (1, "layer0_attn_v")
    missing = DagtuiApp([str(tmp_path / "missing.dot"), CURRENT])
    async with missing.run_test(size=(120, 40)) as pilot:
        await loaded(missing, pilot)
        assert "no such file" in str(missing.query_one("#pane-0 .pane-error").render())


async def test_j_and_k_move_in_the_tree(tmp_path):
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        tree = tree_of(app, 0)
        tree.focus()
        start = tree.cursor_line
        await pilot.press("j", "j")
        assert tree.cursor_line == start + 2
        await pilot.press("k")
        assert tree.cursor_line == start + 1


async def test_command_palette_finds_nodes(tmp_path):
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "ctrl+p")
        await pilot.press(*"node layer0_attn_out")
        await asyncio.sleep(0.5)
        await pilot.pause()
        await press(pilot, "enter")
        assert app.current is not None and app.current[1].startswith("layer0_attn_out")


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"), (b"\x00\x01\x02binary", "binary file"), (b"graph { a -- b }", "undirected"),
    (b"digraph { }", "no nodes"), (None, "is a directory"),
])
async def test_unreadable_file_in_one_pane(tmp_path, content, message):
    bad = tmp_path / "bad.dot"
    if content is None:
        bad.mkdir()
    else:
        bad.write_bytes(content)
    app = DagtuiApp([CURRENT, str(bad)])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert message in str(app.query_one("#pane-1 .pane-error").render())
        await press(pilot, "n")
        assert app.current is not None and app.current[0] == 0


async def test_no_color_uses_the_terminal_palette(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = DagtuiApp([CURRENT], theme_name="dagtui-light")
    async with app.run_test() as pilot:
        await loaded(app, pilot)
        assert app.theme in ("textual-ansi", "ansi-dark")


async def test_theme_option_and_unknown_theme(tmp_path):
    app = DagtuiApp([CURRENT], theme_name="dagtui-high-contrast")
    async with app.run_test() as pilot:
        assert app.theme == "dagtui-high-contrast"
    app = DagtuiApp([CURRENT], theme_name="nope")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "dagtui-dark"


async def test_a_reload_replaces_the_load_before_it(monkeypatch):
    """`r` while loading stops the first load at its next checkpoint: nothing of it reaches the
    screen, and the second load, with the same settings, shows the files as they are now."""
    release = threading.Event()
    real_model, stopped = loader.review_raw_graph, []

    def held(raw, strategy, checkpoint):  # the first load waits in modelling until released
        if not release.is_set():
            release.wait(10)
            try:
                checkpoint()
            except Exception as error:
                stopped.append(type(error).__name__)
                raise
        return real_model(raw, strategy, checkpoint)

    monkeypatch.setattr(loader, "review_raw_graph", held)
    app = DagtuiApp([CURRENT, NEW])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "modelling" in progress_text(app, 0))
        first = app._generation
        await pilot.press("r")
        await pilot.pause()
        release.set()  # the first load goes on, cancelled: it must stop at its next checkpoint
        await loaded(app, pilot)
        assert app._generation == first + 1
        assert stopped == ["Cancelled"]
        assert [pane.outline for pane in app.query(DeploymentPane)] == app.outlines
        assert len(app.query_one(IssuePanel).visible_rows) == len(app.rows) > 0


async def test_the_explorer_validates_with_dagtui_yaml_and_the_command_line_settings(tmp_path, monkeypatch):
    """The explorer resolves its settings as `check` does: dagtui.yaml of the current folder
    (here an `ignore`, and the model it names), or the command line's over it."""
    monkeypatch.chdir(tmp_path)
    baseline = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with baseline.run_test(size=(120, 40)) as pilot:
        await loaded(baseline, pilot)
        before = {row.finding.rule for row in baseline.rows}
    assert {"ATT002", "EXP007"} <= before  # EXP007 compares with the model
    (tmp_path / "dagtui.yaml").write_text(f"ignore: [ATT002]\nmodel: {MODEL}\n")
    app = DagtuiApp([CURRENT, NEW])  # the model comes from dagtui.yaml too
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        shown = {row.finding.rule for row in app.query_one(IssuePanel).visible_rows}
        assert shown == before - {"ATT002"}
        assert app.settings.config_file == str(tmp_path / "dagtui.yaml")
        assert str(tmp_path / "dagtui.yaml") in app.files_read  # an export never replaces it
        await press(pilot, "r")  # a reload validates with the same settings
        await loaded(app, pilot)
        assert {row.finding.rule for row in app.rows} == before - {"ATT002"}
    from dagtui.settings import load_settings

    selected = DagtuiApp([CURRENT, NEW], settings=load_settings(select=["ATT"]))  # as `dagtui --select ATT A B`
    async with selected.run_test(size=(120, 40)) as pilot:
        await loaded(selected, pilot)
        # dagtui.yaml's ignore still applies: the option replaces its select only
        assert {row.finding.rule for row in selected.rows} == {rule for rule in before if rule.startswith("ATT")} - {"ATT002"}


async def test_a_bad_dagtui_yaml_is_said_and_the_files_still_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dagtui.yaml").write_text("ignore: [NOPE999]\n")
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert any("NOPE999" in str(notification.message) for notification in app._notifications)
        assert app.rows


async def test_each_phase_of_a_load_reaches_its_pane(monkeypatch):
    """The loader's progress events are shown in the panes while the files load."""
    release = threading.Event()
    real_validate, seen = loader.validate_review, []

    def held(review, *args):  # validation waits until the test has seen the pane say so
        seen.append(review.file)
        release.wait(10)
        return real_validate(review, *args)

    monkeypatch.setattr(loader, "validate_review", held)
    app = DagtuiApp([CURRENT, NEW])
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: bool(seen))
            await until(pilot, lambda: "validating" in progress_text(app, 0))
            assert "nodes" in progress_text(app, 0)  # the size of what is validated
            assert "validating…" in str(app.query_one("#pane-0 .pane-header").render())
            assert app.query_one("#pane-1").outline is not None  # both trees before any findings
            assert not app.loaded
            release.set()
            await loaded(app, pilot)
            assert seen == [CURRENT, NEW] and app.rows
    finally:
        release.set()
