"""Pilot tests of the explorer's compare view (`c`, issue 15): the table `dagtui compare` prints,
rows that jump to their nodes, back with escape or `c`, usable at 80x24 under NO_COLOR; and the
node cost in the detail panel."""

from __future__ import annotations

import io

import pytest
from helpers import SAMPLES, loaded, press, private_config, recorded_notifications, screen_lines, text_of, tree_of  # noqa: F401
from rich.color import ColorType
from rich.console import Console

from dagtui.compare import compare
from dagtui.cost import node_cost
from dagtui.cost.nodes import stage_nodes
from dagtui.cost.units import binary_bytes, decimal
from dagtui.model import load_model_spec
from dagtui.review import review_file
from dagtui.tui.app import DagtuiApp
from dagtui.tui.compare_view import CompareScreen, CompareTable
from dagtui.tui.detail import DetailPanel
from dagtui.tui.screens import HelpScreen

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")

pytestmark = pytest.mark.usefixtures("private_config")


def cli_comparison():
    """What `dagtui compare --model` computes, independently of the explorer."""
    spec = load_model_spec(MODEL)
    reviews = [review_file(file, spec) for file in (CURRENT, NEW)]
    return compare(reviews[0], reviews[1], spec), reviews


async def open_row(app, pilot, what: str):
    """Open the compare view (if needed), put the cursor on the row titled `what`, return that row."""
    if not isinstance(app.screen, CompareScreen):
        await press(pilot, "c")
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    index = next(i for i, row in enumerate(screen.rows) if row.what == what)
    screen.query_one(CompareTable).move_cursor(row=index - 1)
    await pilot.pause()
    return screen.rows[index]


async def test_the_view_shows_the_comparison_computed_only_when_opened():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        assert not app.comparison.cost_table and app.comparison._diff is None  # nothing costly at load
        await press(pilot, "c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        expected, _ = cli_comparison()
        shown = {row.what: row for row in screen.rows}
        for metric, current, new in expected.table:
            assert (shown[metric].current, shown[metric].new) == (current, new)
        assert expected.cost_table
        for cost in expected.cost_table:
            assert shown[cost.metric].cells == (cost.metric, *cost.values, cost.ratio)
        assert shown["Memory per GPU"].ratio == "×0.71"
        added = [node for entry in expected.diff.added for node in entry.nodes]
        diff_rows = [row for row in screen.rows if row.what.startswith("+ ")]
        assert sorted(node for row in diff_rows for _, node in row.targets) == sorted(added)
        assert all(pane == 1 for row in diff_rows for pane, _ in row.targets)
        assert sum(row.what.startswith("~ ") for row in screen.rows) == len(expected.diff.moves_by_change())
        assert [row.what for row in screen.rows if row.what.startswith("introduced ")] == [
            f"introduced {rule}" for rule in ("PIP004", "EXP007", "STG001")]
        drawn = "\n".join(text_of(line) for line in screen_lines(app))
        assert "Memory per GPU" in drawn and "×0.71" in drawn and "Jump" in drawn and "Back" in drawn


async def test_enter_on_a_row_jumps_to_its_nodes_and_escape_or_c_returns():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        row = await open_row(app, pilot, "+ expert, layer 0, expert 3")
        assert "layer0_expert3" in str(app.screen.query_one("#compare-row").render())  # the row in full
        await press(pilot, "enter")
        assert not isinstance(app.screen, CompareScreen)
        assert row.targets == [(1, "layer0_expert3")] and app.current == (1, "layer0_expert3")
        assert tree_of(app, 1).current_node_id == "layer0_expert3" and app.focused is tree_of(app, 1)
        assert "compare: + expert, layer 0, expert 3 node 1 of 1" in app.query_one(DetailPanel).text

        moved = next(r for r in (await open_row(app, pilot, "Drawn in both"), *app.screen.rows)
                     if r.what.startswith("~ ") and len(r.targets) > 1)
        await open_row(app, pilot, moved.what)
        await press(pilot, "enter")
        assert app.current == moved.targets[0]
        await press(pilot, "enter")  # enter on the node: the row's next node
        assert app.current == moved.targets[1]

        row = await open_row(app, pilot, "introduced PIP004")
        await press(pilot, "enter")
        _, reviews = cli_comparison()
        pip004 = next(f for f in reviews[1].findings if f.rule == "PIP004")
        assert app.current == (1, pip004.nodes[0])

        row = await open_row(app, pilot, "Memory per GPU")  # the nodes of the stage whose GPU holds the most
        comparison = app.comparison
        busiest = comparison.costs[0].busiest
        assert row.targets[0] == (0, stage_nodes(comparison.deployments[0], busiest.index, busiest.layers)[0])
        assert {pane for pane, _ in row.targets} == {0, 1}
        await press(pilot, "enter")
        assert app.current == row.targets[0]

        await press(pilot, "c")
        cursor = app.screen.cursor
        assert app.screen.rows[cursor].what == "Memory per GPU"  # back where it was
        await press(pilot, "escape")
        assert not isinstance(app.screen, CompareScreen) and app.current == row.targets[0]
        await press(pilot, "c", "c")
        assert not isinstance(app.screen, CompareScreen)

        messages = recorded_notifications(app)
        await open_row(app, pilot, "Strategy")  # no node behind it: said, and the view stays
        await press(pilot, "enter")
        assert isinstance(app.screen, CompareScreen) and messages[-1] == "no node behind this row"
        await press(pilot, "n")  # the panes' keys do nothing here
        assert isinstance(app.screen, CompareScreen)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, file=io.StringIO())
        console.print(app.screen.text)
        help_text = console.file.getvalue()
        assert "In the compare view (c)" in help_text and "Back to the deployments" in help_text


async def test_the_view_at_80x24_under_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        row = await open_row(app, pilot, "Placement per stage")
        lines = [text_of(line) for line in screen_lines(app)]
        assert all(len(line) <= 80 for line in lines)
        assert "Jump" in lines[-1] and "Back" in lines[-1]
        assert any(line.startswith("│ Placement per stage") and "0: EP0-1, TP0-7" in line for line in lines)
        shown_in_full = " ".join(line.strip() for line in lines[-5:-1])  # below the table, wrapped
        assert row.new.replace(" ", "") in shown_in_full.replace(" ", "")
        table = app.screen.query_one(CompareTable)
        assert table.has_focus
        for line in screen_lines(app):
            for segment in line:
                style = segment.style
                assert style is None or style.color is None or style.color.type is ColorType.DEFAULT, segment
        cursor = [segment for segment in screen_lines(app)[table.region.y + 1 + table.cursor_row + 1 - int(table.scroll_y)]
                  if segment.text.strip()]
        assert any(segment.style and segment.style.reverse for segment in cursor)  # the cursor row stands out
        await press(pilot, "escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_one_file_has_no_second_deployment_to_compare():
    app = DagtuiApp([CURRENT], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        messages = recorded_notifications(app)
        await press(pilot, "c")
        assert not isinstance(app.screen, CompareScreen)
        assert "no second deployment" in messages[-1]


async def test_without_a_model_the_view_says_how_to_get_the_cost_table():
    app = DagtuiApp([CURRENT, NEW])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "c")
        rows = {row.what: row for row in app.screen.rows}
        assert "Memory per GPU" not in rows and "--model" in rows["Cost estimate"].current
        assert any(what.startswith("+ ") for what in rows)


# -- the node's own cost in the detail panel -------------------------------------------------------
@pytest.mark.parametrize("model", [MODEL, None])
async def test_the_detail_panel_shows_the_nodes_cost_or_why_not(model):
    spec = load_model_spec(MODEL) if model else None
    nodes = review_file(CURRENT).deployment.nodes
    app = DagtuiApp([CURRENT, NEW], model=model)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        app.jump_to(0, "layer0_attn_q")
        await pilot.pause()
        text = app.query_one(DetailPanel).text
        cost = node_cost(nodes["layer0_attn_q"], spec)
        line = next(line for line in text.splitlines() if line.startswith("cost: "))
        assert line.startswith(f"cost: {decimal(cost.flops, 'FLOP')}, {binary_bytes(cost.bytes)} read and written")
        assert ("(bf16)" if model else "(bf16 assumed)") in line and cost.formula in text
        app.jump_to(0, "layer0_attn_allreduce")  # a collective: the bytes one GPU sends
        await pilot.pause()
        text = app.query_one(DetailPanel).text
        assert f"cost: {binary_bytes(node_cost(nodes['layer0_attn_allreduce'], spec).bytes)} moved" in text
        assert "[batch_size=128, seq_len=1024, hidden_size=512]" in text  # the shape, not eaten as markup
        app.jump_to(0, "layer0_expert0")  # a symbolic shape: the reason, in one line
        await pilot.pause()
        assert ("cost: not known: the shape [tokens_per_expert, hidden_size=512] is not all numbers"
                in app.query_one(DetailPanel).text)
        app.jump_to(0, "input")  # no operator: no cost line
        await pilot.pause()
        assert "cost:" not in app.query_one(DetailPanel).text
