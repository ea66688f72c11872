"""Modal screens: help, the export dialog and its overwrite confirmation, and the chooser for
several predecessors/successors. Each says which keys answer it."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from dagtui.tui.file_text import content, markup


class HelpScreen(ModalScreen[None]):
    """The key table (see `help`), scrolling where the terminal is small."""

    AUTO_FOCUS = "#help"
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, text: RenderableType) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(self.text, id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class ExportScreen(ModalScreen[str | None]):
    """Ask where to write the markdown report; `enter` accepts, `escape` cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: str) -> None:
        super().__init__()
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="export"):
            yield Label("Export findings to markdown (enter: write, escape: cancel):")
            yield Input(value=self.default, id="export-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question about something that cannot be undone: only `y` says yes; `n`, `escape`
    and `enter` (a second `enter` after the export dialog's) say no, as `[y/N]` prompts do."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape,enter", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question  # markup; file text in it escaped by the caller

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(self.question)
            yield Label("[b]y[/b]: yes   [b]n[/b] / [b]escape[/b] / [b]enter[/b]: no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ChooserScreen(ModalScreen[str | None]):
    """Pick one node among several (predecessors or successors)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, node_ids: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.node_ids = node_ids

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser"):
            yield Label(f"{markup(self.title_text)}  ([b]enter[/b]: jump, [b]escape[/b]: cancel)")
            yield OptionList(*[Option(content(node), id=node) for node in self.node_ids])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
