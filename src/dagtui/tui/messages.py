"""Messages the explorer's widgets post: they tell the app what the user chose, never reach into each other."""

from __future__ import annotations

from textual.message import Message

from dagtui.tui.outline import IssueRow


class NodeFocused(Message):
    """The cursor of a deployment tree rests on a node; `by_user` when the tree has the focus (the
    user moved it), not when the app moved it there."""

    def __init__(self, pane: int, node_id: str, by_user: bool) -> None:
        super().__init__()
        self.pane = pane
        self.node_id = node_id
        self.by_user = by_user


class NodeChosen(Message):
    """`enter` on a node's row of a deployment tree."""

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


class IssueHighlighted(Message):
    """The issue panel's cursor rests on a row: its finding is shown before any jump."""

    def __init__(self, row: IssueRow) -> None:
        super().__init__()
        self.row = row
