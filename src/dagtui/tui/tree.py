"""A deployment as a Textual Tree, built lazily on expand from its `Outline`."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from dagtui.safe_text import visible
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import NodeFocused
from dagtui.tui.outline import SEVERITY_MARK, Outline
from dagtui.validate import Severity

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def entry_label(text: str, severity: Severity | None) -> Text:
    """A row: the severity marker of the worst finding at or beneath it, then the text (ids and
    cluster labels from the file, made visible)."""
    label = Text()
    if severity is not None:
        label.append(f"{SEVERITY_MARK[severity]} ", style=SEVERITY_STYLE[severity])
    else:
        label.append("  ")
    label.append(visible(text))
    return label


class DeploymentTree(Tree[str]):
    """Tree rows carry outline keys; children are created when a row is first expanded."""

    BINDINGS = [*VIM_CURSOR_KEYS]

    def __init__(self, pane: int, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.pane = pane
        self.outline: Outline | None = None
        self._tree_nodes: dict[str, TreeNode[str]] = {}
        self.show_root = True
        self.auto_expand = True

    def load(self, outline: Outline) -> None:
        """Show a new outline, with the root and its first level open."""
        self.outline = outline
        self._tree_nodes = {}
        root_entry = outline.entries[Outline.ROOT]
        self.reset(entry_label(root_entry.text, outline.severity.get(Outline.ROOT)), Outline.ROOT)
        self._tree_nodes[Outline.ROOT] = self.root
        self._populate(self.root)
        self.root.expand()

    def refresh_markers(self, outline: Outline) -> None:
        """Take a validated outline of the same deployment: same rows, new severity markers,
        expansion and cursor kept."""
        self.outline = outline
        for key, tree_node in self._tree_nodes.items():
            entry = outline.entries.get(key)
            if entry is not None:
                tree_node.set_label(entry_label(entry.text, outline.severity.get(key)))

    def _populate(self, tree_node: TreeNode[str]) -> None:
        if self.outline is None or tree_node.children or tree_node.data is None:
            return
        for key in self.outline.entries[tree_node.data].children:
            entry = self.outline.entries[key]
            label = entry_label(entry.text, self.outline.severity.get(key))
            if entry.children:
                child = tree_node.add(label, data=key)
            else:
                child = tree_node.add_leaf(label, data=key)
            self._tree_nodes[key] = child

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        self._populate(event.node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        key = event.node.data
        if self.outline is not None and key is not None:
            node_id = self.outline.entries[key].node_id
            if node_id is not None:
                self.post_message(NodeFocused(self.pane, node_id))

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
            current = self._tree_nodes[key]
        target = current
        self.call_after_refresh(self._move_to, target)
        return True

    def _move_to(self, target: TreeNode[str]) -> None:
        self.move_cursor(target)
        self.scroll_to_node(target, animate=False)

    @property
    def current_node_id(self) -> str | None:
        """The node under the cursor, when the cursor is on a node row."""
        node = self.cursor_node
        if node is None or node.data is None or self.outline is None:
            return None
        return self.outline.entries[node.data].node_id
