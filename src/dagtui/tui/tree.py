"""A deployment as a Textual Tree, built lazily on expand from its `Outline`."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from dagtui.compare import ADDED, REMOVED
from dagtui.safe_text import visible
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import NodeChosen, NodeFocused
from dagtui.tui.outline import SEVERITY_MARK, Outline
from dagtui.validate import Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
# Sync mode marks the rows of nodes the other deployment has no counterpart for.
CHANGE_MARK = {ADDED: ("+ ", "bold green"), REMOVED: ("− ", "bold red")}


def entry_label(text: str, severity: Severity | None, change: str | None = None) -> Text:
    """A row: the severity marker of the worst finding at or beneath it, `+`/`−` for a node added
    or removed (sync mode), then the text (ids and cluster labels from the file, made visible)."""
    label = Text()
    if severity is not None:
        label.append(f"{SEVERITY_MARK[severity]} ", style=SEVERITY_STYLE[severity])
    else:
        label.append("  ")
    if change is not None:
        label.append(*CHANGE_MARK[change])
    label.append(visible(text))
    return label


class DeploymentTree(Tree[str]):
    """Tree rows carry outline keys; children are created when a row is first expanded."""

    BINDINGS = [
        *VIM_CURSOR_KEYS,
        Binding("left", "collapse_or_parent", "Collapse, or go to the parent", show=False),
        Binding("right", "expand_or_child", "Expand, or go to the first child", show=False),
        Binding("enter", "select_cursor", "Open or close a group; on a finding's node: the finding's next node", show=False),
        Binding("space", "toggle_node", "Open or close a group", show=False),
    ]

    def __init__(self, pane: int, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.pane = pane
        self.outline: Outline | None = None
        self._node_by_id: dict[str, TreeNode[str]] = {}
        self._changes: dict[str, str] = {}  # node id -> ADDED / REMOVED (compare.py), in sync mode
        self.show_root = True
        self.auto_expand = True

    def load(self, outline: Outline) -> None:
        """Show a new outline, with the root and its first level open."""
        self.outline = outline
        self._node_by_id = {}
        self.reset(self._label(Outline.ROOT), Outline.ROOT)
        self._node_by_id[Outline.ROOT] = self.root
        self._populate(self.root)
        self.root.expand()

    def refresh_markers(self, outline: Outline) -> None:
        """Take a validated outline of the same deployment: same rows, new severity markers,
        expansion and cursor kept."""
        self.outline = outline
        self._relabel()

    def mark_changes(self, changes: dict[str, str]) -> None:
        """Mark these nodes' rows added or removed (an empty map: sync mode is off)."""
        if not changes and not self._changes:
            return  # nothing marked, nothing to mark: no row to relabel
        self._changes = changes
        self._relabel()

    def _relabel(self) -> None:
        for key, tree_node in self._node_by_id.items():
            if self.outline is not None and key in self.outline.entries:
                tree_node.set_label(self._label(key))

    def _label(self, key: str) -> Text:
        assert self.outline is not None
        entry = self.outline.entries[key]
        change = self._changes.get(entry.node_id) if entry.node_id is not None else None
        return entry_label(entry.text, self.outline.severity.get(key), change)

    def _populate(self, tree_node: TreeNode[str]) -> None:
        if self.outline is None or tree_node.children or tree_node.data is None:
            return
        for key in self.outline.entries[tree_node.data].children:
            entry = self.outline.entries[key]
            if entry.children:
                child = tree_node.add(self._label(key), data=key)
            else:
                child = tree_node.add_leaf(self._label(key), data=key)
            self._node_by_id[key] = child

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        self._populate(event.node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        node_id = self._node_id(event.node)
        if node_id is not None:
            self.post_message(NodeFocused(self.pane, node_id, by_user=self.has_focus))

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        event.stop()
        node_id = self._node_id(event.node)
        if node_id is not None:
            self.post_message(NodeChosen(self.pane, node_id))

    def on_resize(self, event: events.Resize) -> None:
        # A smaller terminal may leave the cursor's row out of view: bring it back.
        if self.cursor_node is not None:
            self.call_after_refresh(self.scroll_to_node, self.cursor_node, animate=False)

    def action_collapse_or_parent(self) -> None:
        """`left`, as in htop and lazygit: close an open row, else go up to the parent."""
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None:
            self.move_cursor(node.parent)

    def action_expand_or_child(self) -> None:
        """`right`: open a closed row, else go down to its first child."""
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def reveal(self, node_id: str) -> bool:
        """Expand the path to a node, move the cursor onto it and scroll it into view."""
        if self.outline is None:
            return False
        path = self.outline.path_to(node_id)
        if not path:
            return False
        current = self.root
        for key in path:
            self._populate(current)
            current.expand()
            current = self._node_by_id[key]
        target = current
        self.call_after_refresh(self._move_to, target)
        return True

    def _move_to(self, target: TreeNode[str]) -> None:
        self.move_cursor(target)
        # Once more after the next refresh: the rows just expanded, and the pane's new height when
        # the jump gave it the focus (narrow layout), are only laid out then.
        self.call_after_refresh(self.scroll_to_node, target, animate=False)

    def _node_id(self, tree_node: TreeNode[str]) -> str | None:
        """The node a row stands for (None for a group row)."""
        if tree_node.data is None or self.outline is None:
            return None
        return self.outline.entries[tree_node.data].node_id

    @property
    def current_node_id(self) -> str | None:
        """The node under the cursor, when the cursor is on a node row."""
        node = self.cursor_node
        return None if node is None else self._node_id(node)
