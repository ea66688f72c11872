"""Modal screens: help, the export dialog, and the chooser for several predecessors/successors."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from dagtui.tui.file_text import content, markup


class HelpScreen(ModalScreen[None]):
    """The key table, built from the app's own bindings so it cannot drift from them."""

    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        # Imported here: the Markdown widget brings markdown-it, 45 ms of every start otherwise.
        from textual.widgets import Markdown

        rows = "\n".join(f"| `{key}` | {description} |" for key, description in self.keys)
        text = (
            "# dagtui keys\n\n| key | action |\n|---|---|\n" + rows
            + "\n\nTree rows: `C` compute, `X` communication, `R` routing, `I` input, `O` output; "
            "`✖` error, `▲` warning, `ℹ` info at or beneath the row."
        )
        with Vertical(id="help"):
            yield Markdown(text)

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
            yield Label("Export findings to markdown:")
            yield Input(value=self.default, id="export-path")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooserScreen(ModalScreen[str | None]):
    """Pick one node among several (predecessors or successors)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, node_ids: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.node_ids = node_ids

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser"):
            yield Label(markup(self.title_text))
            yield OptionList(*[Option(content(node), id=node) for node in self.node_ids])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
