"""The detail panel: everything about the selected node, its neighbours to walk the data flow,
and the findings that point at it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from dagtui.model.node import NodeInfo
from dagtui.tui.file_text import content, markup
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import JumpRequested
from dagtui.tui.outline import SEVERITY_MARK, Outline, placement_text
from dagtui.validate.ranges import compact_ranges


def node_details(node: NodeInfo, outline: Outline) -> str:
    """Markup describing a node; everything from the file goes through `markup`."""
    lines = [f"[b]{markup(node.id)}[/b]  ({markup(outline.review.name)})"]
    lines += [f"  {markup(line)}" for line in node.label] or ["  (no label)"]
    role = [f"kind {node.kind.value}", f"operator {node.op.value}"]
    if node.op_source != "label":
        role.append(f"(operator from {markup(node.op_source)})")
    lines.append(" · ".join(role))
    where = [f"{name} {value}" for name, value in (("layer", node.layer), ("stage", node.stage), ("expert", node.expert)) if value is not None]
    ranks = [f"{axis.upper()} {compact_ranges(values)}" for axis, values in sorted(node.ranks.items())]
    lines.append(" · ".join(where + ranks) or "no layer, stage or rank found")
    lines.append(f"placement: {markup(placement_text(node)) or 'none'}")
    lines.append("inputs: " + (", ".join(markup(s) for s in node.inputs) or "none"))
    lines.append("output: " + (", ".join(markup(s) for s in node.outputs) or "none"))
    lines.append(f"declared at line {node.line}" if node.line else "declaration line unknown")
    findings = outline.findings_by_node.get(node.id, [])
    if findings:
        lines.append("[b]findings[/b]")
        for finding in findings:
            lines.append(f"  {SEVERITY_MARK[finding.severity]} {finding.rule} {markup(finding.title)}")
    return "\n".join(lines)


class NeighbourList(OptionList):
    """Predecessors and successors; `enter` jumps to one."""

    BINDINGS = [*VIM_CURSOR_KEYS]


class DetailPanel(VerticalScroll):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pane = 0
        self.node_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Select a node or a finding.", id="detail-text")
        neighbours = NeighbourList(id="neighbours")
        neighbours.display = False  # shown once a node with neighbours is selected
        yield neighbours

    def show(self, pane: int, node: NodeInfo, outline: Outline) -> None:
        self.pane, self.node_id = pane, node.id
        self.query_one("#detail-text", Static).update(node_details(node, outline))
        neighbours = self.query_one(NeighbourList)
        neighbours.clear_options()
        deployment = outline.deployment
        if deployment is None:
            return
        options = [Option(content(f"← {pred}"), id=f"<{pred}") for pred in deployment.predecessors(node.id)]
        options += [Option(content(f"→ {succ}"), id=f">{succ}") for succ in deployment.successors(node.id)]
        neighbours.add_options(options)
        neighbours.display = bool(options)

    @property
    def text(self) -> str:
        """The panel's text as shown (for tests and screen readers)."""
        return str(self.query_one("#detail-text", Static).render())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(JumpRequested(self.pane, event.option.id[1:]))
