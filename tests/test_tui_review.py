"""Pilot tests of the explorer as a login-node user meets it (issue 13): readable under NO_COLOR,
every finding explained in the detail panel, small terminals, focus, search, sync mode, and an
export that never destroys a file."""

from __future__ import annotations

import io
import re

import pytest
from helpers import (  # noqa: F401 (a fixture)
    ROOT,
    SAMPLES,
    loaded,
    press,
    private_config,
    recorded_notifications,
    screen_lines,
    text_of,
    tree_of,
    widget_row,
)
from rich.color import ColorType
from rich.console import Console

from dagtui.tui.app import SEARCH_EXAMPLES, DagtuiApp
from dagtui.tui.detail import DetailPanel
from dagtui.tui.issues import IssuePanel, IssueTable
from dagtui.tui.screens import ChooserScreen, ConfirmScreen, ExportScreen, HelpScreen
from dagtui.tui.themes import remembered_theme

CURRENT, NEW, MODEL = str(SAMPLES / "current.dot"), str(SAMPLES / "new.dot"), str(SAMPLES / "model.yaml")


pytestmark = pytest.mark.usefixtures("private_config")


def cursor_style(tree):
    """The style of the cursor row's text (its longest segment: not a guide or a marker)."""
    return max(widget_row(tree, tree.cursor_line), key=lambda segment: len(segment.text)).style


# -- 1. NO_COLOR -----------------------------------------------------------------------------------
async def test_no_color_draws_with_attributes_not_colours(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "n")
        drawn = [segment for line in screen_lines(app) for segment in line if segment.text.strip()]
        assert len(drawn) > 100
        for segment in drawn:  # the terminal's own colours: never a colour on itself (black on black)
            style = segment.style
            assert style is None or style.color is None or style.color.type is ColorType.DEFAULT, segment
            assert style is None or style.bgcolor is None or style.bgcolor.type is ColorType.DEFAULT, segment
        focused, other = tree_of(app, app.current[0]), tree_of(app, 1 - app.current[0])
        assert app.focused is focused
        assert cursor_style(focused).reverse  # the cursor row stands out by reverse video
        other_cursor = widget_row(other, other.cursor_line)
        assert not any(segment.style and segment.style.reverse for segment in other_cursor)
        assert any(segment.style and segment.style.underline for segment in other_cursor)
        # severities stay apart: the error marker is bold, the warning marker is not
        markers = {segment.text.strip(): segment.style for line in screen_lines(app) for segment in line
                   if segment.text.strip() in ("✖", "▲")}
        assert markers["✖"].bold and not markers["▲"].bold


async def test_no_color_theme_is_not_remembered_as_the_users_choice(monkeypatch, tmp_path):
    app = DagtuiApp([CURRENT], theme_name="dagtui-light")
    async with app.run_test() as pilot:
        await press(pilot, "t")  # the user's choice: remembered
        chosen = app.theme
    assert remembered_theme() == chosen
    monkeypatch.setenv("NO_COLOR", "1")
    app = DagtuiApp([CURRENT])
    async with app.run_test() as pilot:
        await loaded(app, pilot)
        messages = recorded_notifications(app)
        assert app.theme in ("textual-ansi", "ansi-dark")
        await press(pilot, "t")
        assert app.theme in ("textual-ansi", "ansi-dark") and "NO_COLOR" in messages[-1]
    assert remembered_theme() == chosen


# -- 3. why a node is wrong, where the node is -----------------------------------------------------
async def test_detail_panel_explains_the_selected_node_and_finding():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        panel, detail = app.query_one(IssuePanel), app.query_one(DetailPanel)
        row = next(row for row in panel.visible_rows if row.finding.rule == "EXP001")
        panel.table.focus()
        panel.table.move_cursor(row=panel.visible_rows.index(row))
        await pilot.pause()
        # the finding in full before any jump, in each deployment it is in
        assert row.finding.message in detail.text and row.finding.fix in detail.text
        assert app.current is None
        app.jump_to(0, "layer0_attn_v")
        await pilot.pause()
        findings = app.outlines[0].findings_by_node["layer0_attn_v"]
        assert len(findings) >= 2
        for finding in findings:
            assert finding.message in detail.text and finding.fix in detail.text
        assert detail.max_scroll_y > 0  # wrapped and longer than the panel: it scrolls
        assert detail.virtual_size.width <= detail.size.width  # wrapped, not cut at the edge


async def test_issue_table_gives_the_title_the_width():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        table = app.query_one(IssueTable)
        first = text_of(widget_row(table, 0))  # the header is line 0 of the rendered rows
        assert "code" in first and "title" in first
        row = text_of(table.render_line(1))
        assert re.search(r"ATT002 +both +Attention block wired", row), row
        tags = {text_of(table.render_line(line)).split()[2] for line in range(1, 4)}
        assert tags <= {"cur", "new", "both"}


async def test_toasts_do_not_stack_over_the_panes():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        for _ in range(6):
            await press(pilot, "n")
        await press(pilot, "s", "s", "s")  # each says something when there is no counterpart, or jumps
        assert len(list(app._notifications)) <= 1
        app.notify("cannot write", severity="error")
        app.notify("first")
        app.notify("second")
        await pilot.pause()
        assert sorted(str(shown.message) for shown in app._notifications) == ["cannot write", "second"]


# -- 4. small terminals ----------------------------------------------------------------------------
async def test_help_scrolls_and_lists_every_key():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(file=io.StringIO(), width=200)
        console.print(app.screen.text)
        text = console.file.getvalue()
        bindings = [*app.BINDINGS, *tree_of(app, 0).BINDINGS, *IssueTable.BINDINGS]
        for binding in bindings:
            assert (binding.tooltip or binding.description) in text, binding
        for words in ("Collapse, or go to the parent", "Cursor to parent", "Page Down", "Focus Next", "enter", "+ a node"):
            assert words in text, words
        scroller = app.screen.query_one("#help")
        assert scroller.max_scroll_y > 0
        await press(pilot, "pagedown")
        assert scroller.scroll_y > 0
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_footer_keeps_help_and_quit_at_80_columns():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        footer = text_of(screen_lines(app)[-1])
        assert "? Help" in footer and "q Quit" in footer and "n Next" in footer


@pytest.mark.parametrize("keys, query, check", [
    (["f"], "severity error", lambda row: row.severity.value == "error"),
    (["ctrl+p"], "category expert", lambda row: row.finding.category == "expert"),
    (["f"], "deployment new", lambda row: 1 in {pane for pane, _ in row.sides}),
])
async def test_filters_are_reachable_below_100_columns(keys, query, check):
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        panel = app.query_one(IssuePanel)
        assert not panel.query_one(".filters").display or panel.query_one(".filters").region.height == 0
        everything = len(panel.visible_rows)
        await press(pilot, *keys)
        await pilot.press(*query)
        await pilot.pause(0.3)
        await press(pilot, "enter")
        assert 0 < len(panel.visible_rows) < everything
        assert all(check(row) for row in panel.visible_rows)
        assert f"of {everything}" in panel.border_title and app.focused is panel.table


async def test_resize_scrolls_the_selected_node_back_into_view():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        app.jump_to(0, "layer0_attn_oproj")
        await pilot.pause()
        tree = tree_of(app, 0)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert tree.size.height < 10 and tree.cursor_line >= tree.size.height  # would be out of view
        assert tree.scroll_y <= tree.cursor_line < tree.scroll_y + tree.size.height
        assert "layer0_attn_oproj" in text_of(widget_row(tree, tree.cursor_line))


# -- 5. focus and highlight ------------------------------------------------------------------------
async def test_enter_on_a_finding_focuses_its_pane_and_highlights_the_node():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        panel = app.query_one(IssuePanel)
        row = next(row for row in panel.visible_rows if row.finding.rule == "PIP004")  # in the new deployment only
        panel.table.focus()
        panel.table.move_cursor(row=panel.visible_rows.index(row))
        await press(pilot, "enter")
        pane, node_id = row.targets()[0]
        assert pane == 1 and app.current == (1, node_id)
        assert app.focused is tree_of(app, 1)
        # the selected node is not drawn like the other pane's resting cursor
        assert cursor_style(tree_of(app, 1)) != cursor_style(tree_of(app, 0))
        assert "node 1 of" in app.query_one(DetailPanel).text
        if len(row.targets()) > 1:
            await press(pilot, "enter")
            assert app.current == row.targets()[1]


async def test_left_and_right_collapse_and_expand_as_in_htop():
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        app.jump_to(0, "layer0_attn_q")
        await pilot.pause()
        tree = tree_of(app, 0)
        leaf = tree.cursor_node
        await press(pilot, "left")  # on a leaf: to its parent
        parent = tree.cursor_node
        assert parent is leaf.parent and parent.is_expanded
        await press(pilot, "left")  # on an open row: closes it
        assert tree.cursor_node is parent and not parent.is_expanded
        await press(pilot, "right")  # on a closed row: opens it
        assert tree.cursor_node is parent and parent.is_expanded
        await press(pilot, "right")  # on an open row: to its first child
        assert tree.cursor_node is parent.children[0]


async def test_tab_passes_the_filter_dropdowns_by():
    from textual.widgets import Select

    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        seen = []
        for _ in range(8):
            await press(pilot, "tab")
            seen.append(app.focused)
        assert not any(isinstance(widget, Select) or isinstance(widget.parent, Select) for widget in seen)
        assert tree_of(app, 0) in seen and tree_of(app, 1) in seen and app.query_one(IssueTable) in seen
        first = app.query_one("#filter-deployment", Select)
        first.focus()  # a click on it: then tab goes on to the next dropdown
        await press(pilot, "tab")
        assert app.focused is app.query_one("#filter-severity", Select)


async def test_chooser_says_its_keys_and_single_file_s_says_why():
    app = DagtuiApp([CURRENT])
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        messages = recorded_notifications(app)
        app.jump_to(0, "layer0_attn_score")
        await pilot.pause()
        await press(pilot, "left_square_bracket")
        assert isinstance(app.screen, ChooserScreen)
        shown = "\n".join(text_of(line) for line in screen_lines(app))  # wrapped, not cut at 80 columns
        assert "enter: jump" in shown and "escape: cancel" in shown
        await press(pilot, "escape")
        await press(pilot, "e")
        shown = "\n".join(text_of(line) for line in screen_lines(app))
        assert "enter: write" in shown and "escape:" in shown and "cancel" in shown
        await press(pilot, "escape")
        await press(pilot, "s")
        assert "no second deployment" in messages[-1]
        await press(pilot, "S")
        assert "no second deployment" in messages[-1] and not app.sync


# -- 6. search -------------------------------------------------------------------------------------
async def test_a_bad_regex_is_said_and_the_footer_says_next_match():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        tree_of(app, 0).focus()
        await press(pilot, "slash")
        search = app.query_one("#search")
        await press(pilot, *"(layer0")
        assert "not a valid regex" in search.border_title
        assert search.border_title.endswith("match(es) in Current Deployment")
        search.value = "layer0_attn_(q|k)$"
        await pilot.pause()
        assert search.border_title == "2 match(es) in Current Deployment"
        assert "Next match" not in text_of(screen_lines(app)[-1])
        await press(pilot, "enter")
        assert app.current == (0, "layer0_attn_q")
        assert "n Next match" in text_of(screen_lines(app)[-1])
        await press(pilot, "escape")
        assert "Next match" not in text_of(screen_lines(app)[-1])


def test_the_search_examples_of_the_readme_and_the_app_match_the_samples():
    from dagtui.review import review_file
    from dagtui.tui.outline import Outline

    readme = (ROOT / "README.md").read_text()
    search_row = next(line for line in readme.splitlines() if line.startswith("| `/` |"))
    examples = [example for example in re.findall(r"`(\w+=[^`]+)`", search_row) if example != "key=value"]
    assert examples and examples == [example.strip() for example in SEARCH_EXAMPLES.split(",")]
    outlines = [Outline(review_file(SAMPLES / name)) for name in ("current.dot", "new.dot")]
    for example in examples:
        assert all(outline.search(example) for outline in outlines), example


# -- sync mode -------------------------------------------------------------------------------------
async def test_sync_mode_moves_the_other_pane_and_marks_added_and_removed():
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "S")
        assert app.sync and "sync" in app.sub_title
        app.jump_to(0, "layer0_attn_q")
        await pilot.pause()
        first, second = tree_of(app, 0), tree_of(app, 1)
        assert second.current_node_id == "layer0_attn_q" and app.focused is first
        await press(pilot, "down")  # the user moves in the first pane: the second follows
        assert first.current_node_id == "layer0_attn_k" and second.current_node_id == "layer0_attn_k"
        assert app.current == (0, "layer0_attn_k")
        # a node only the new deployment draws (as `dagtui compare` says): marked, and said
        assert "layer0_expert3" in [node for entry in app.comparison.diff.added for node in entry.nodes]
        app.jump_to(1, "layer0_expert3")
        await pilot.pause()
        label = str(second.cursor_node.label)
        assert label.split()[1] == "+" and "layer0_expert3" in label
        assert "no counterpart in Current Deployment (added)" in app.query_one(DetailPanel).text
        assert first.current_node_id == "layer0_attn_k"  # nothing to move to
        await press(pilot, "S")  # off: marks gone, panes move alone
        assert not app.sync and "+" not in str(second.cursor_node.label).split()[:2]
        await press(pilot, "up")  # the second pane moves alone now
        assert app.focused is second and second.current_node_id != "layer0_expert3"
        assert first.current_node_id == "layer0_attn_k"
    swapped = DagtuiApp([NEW, CURRENT], model=MODEL)  # the same node, now only the first one draws it
    async with swapped.run_test(size=(120, 40)) as pilot:
        await loaded(swapped, pilot)
        await press(pilot, "S")
        swapped.jump_to(0, "layer0_expert3")
        await pilot.pause()
        assert str(tree_of(swapped, 0).cursor_node.label).split()[1] == "−"
        assert "no counterpart in Current Deployment (removed)" in swapped.query_one(DetailPanel).text


# -- 2. the explorer's export never destroys a file ------------------------------------------------
async def test_export_asks_before_replacing_and_never_writes_over_a_file_it_read(tmp_path):
    current, model = tmp_path / "current.dot", tmp_path / "model.yaml"
    current.write_text((SAMPLES / "current.dot").read_text())
    model.write_text((SAMPLES / "model.yaml").read_text())
    existing = tmp_path / "notes.md"
    existing.write_text("my notes\n")
    app = DagtuiApp([str(current)], model=str(model))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(app, pilot)
        messages = recorded_notifications(app)
        for path in (model, current):  # the model spec `e` once replaced with markdown, and the input
            await press(pilot, "e")
            assert isinstance(app.screen, ExportScreen)
            app.screen.query_one("#export-path").value = str(path)
            await press(pilot, "enter")
            assert not isinstance(app.screen, ConfirmScreen) and "refusing" in messages[-1]
        assert model.read_text() == (SAMPLES / "model.yaml").read_text()
        assert current.read_text() == (SAMPLES / "current.dot").read_text()
        await press(pilot, "e")
        app.screen.query_one("#export-path").value = str(existing)
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "n")  # no: the file stays
        assert existing.read_text() == "my notes\n" and not isinstance(app.screen, ConfirmScreen)
        await press(pilot, "e")
        app.screen.query_one("#export-path").value = str(existing)
        await press(pilot, "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await press(pilot, "enter")  # a second enter is no answer to replace a file
        assert existing.read_text() == "my notes\n" and not isinstance(app.screen, ConfirmScreen)
        await press(pilot, "e")
        app.screen.query_one("#export-path").value = str(existing)
        await press(pilot, "enter", "y")
        assert existing.read_text().startswith("# DAG Analysis Report")
        assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temporary file left


async def test_readme_key_table_and_screenshot_match_the_app():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The explorer")[1].split("## Commands")[0]
    keys = " ".join(line for line in section.splitlines() if line.startswith("| `"))  # escape: in the `/` row
    for binding in DagtuiApp.BINDINGS:
        for key in binding.key.split(","):
            shown = binding.key_display or {"slash": "/", "question_mark": "?", "left_square_bracket": "[",
                                            "right_square_bracket": "]"}.get(key, key)
            assert f"`{shown}`" in keys, binding
    screenshot = section.split("```text\n")[1].split("\n```")[0].splitlines()
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app, pilot)
        await press(pilot, "n")
        shown = [text_of(line).rstrip() for line in screen_lines(app)]
    assert shown[-1] == screenshot[-1]  # the footer
    assert shown[2:4] == screenshot[2:4]  # the pane headers: strategies, GPU and finding counts
    assert [line[:71] for line in shown[23:34]] == [line[:71] for line in screenshot[23:34]]  # the issue table


@pytest.mark.parametrize("text", ["undeclared\x1b[8m\x07", "[8m", "[b]", "[/b]", "[@click=app.quit]x", "a\\[b", "[[x]]", "end\\"])
def test_file_text_in_markup_is_shown_as_written_and_never_breaks_the_markup_around_it(text):
    from textual.markup import to_content

    from dagtui.safe_text import visible
    from dagtui.tui.file_text import markup

    shown = to_content(f"[b]{markup(text)}[/b] and [b]more[/b]")
    assert shown.plain.startswith(visible(text)) and shown.plain.endswith(" and more")
    assert shown.plain.replace(visible(text), "", 1).strip() == "and more"


async def test_a_jump_at_80x24_scrolls_the_node_into_its_pane():
    """At 80x24 the focused pane grows as the jump focuses it: the node is in view all the same."""
    app = DagtuiApp([CURRENT, NEW], model=MODEL)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app, pilot)
        panel = app.query_one(IssuePanel)
        for row in [row for row in panel.visible_rows if row.targets()][:6]:
            panel.table.focus()
            panel.move_to(row)
            await press(pilot, "enter")
            await pilot.pause(0.1)
            pane, node_id = row.targets()[0]
            tree = tree_of(app, pane)
            assert app.focused is tree and tree.current_node_id == node_id
            assert tree.scroll_y <= tree.cursor_line < tree.scroll_y + tree.size.height, (node_id, tree.scroll_y)
            table = panel.table  # smaller now that it lost the focus: its cursor row still shows
            assert table.scroll_y <= table.cursor_row < table.scroll_y + table.size.height - 1  # a header line
