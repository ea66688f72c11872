"""Messages the explorer's widgets post: they tell the app what the user chose, never reach into each other."""

from __future__ import annotations

from textual.message import Message

from dagtui.tui.outline import IssueRow


class NodeFocused(Message):
    """The cursor of a deployment tree rests on a node."""

    def __init__(self, pane: int, node_id: str) -> None:
        super().__init__()
        self.pane = pane
        self.node_id = node_id


class JumpRequested(Message):
    """Show this node: from a neighbour in the detail panel, a chooser or the command palette."""

    def __init__(self, pane: int, node_id: str) -> None:
        super().__init__()
        self.pane = pane
        self.node_id = node_id


class IssueChosen(Message):
    """`enter` on a row of the issue panel."""

    def __init__(self, row: IssueRow) -> None:
        super().__init__()
        self.row = row
