"""The detail panel: why the selected node is wrong (each finding's full message and fix), what
the node is, its neighbours to walk the data flow; or, while the issue table's cursor rests on a
finding, that finding in full before any jump. It wraps and scrolls."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from dagtui.cost.nodes import no_cost_reason, node_cost
from dagtui.cost.units import binary_bytes, decimal
from dagtui.model.node import NodeInfo
from dagtui.model.operators import NOT_OPERATORS
from dagtui.model.spec import ModelSpec
from dagtui.tui.file_text import content, markup
from dagtui.tui.keys import VIM_CURSOR_KEYS
from dagtui.tui.messages import JumpRequested
from dagtui.tui.outline import SEVERITY_MARK, IssueRow, Outline, placement_text
from dagtui.validate import Finding
from dagtui.validate.ranges import compact_ranges


def finding_lines(finding: Finding) -> list[str]:
    """Markup for one finding: its title, full message, details and fix (file text escaped)."""
    lines = [f"{SEVERITY_MARK[finding.severity]} [b]{finding.rule}[/b] {markup(finding.title)} "
             f"[dim]({finding.severity.value}, {finding.category})[/dim]",
             f"  {markup(finding.message)}"]
    lines += [f"  · {markup(detail)}" for detail in finding.details]
    if finding.fix:
        lines.append(f"  [b]fix:[/b] {markup(finding.fix)}")
    return lines


def cost_line(node: NodeInfo, spec: ModelSpec | None) -> str | None:
    """Markup for a node's own cost (its FLOPs and the bytes it reads and writes, with the
    formula), or why it cannot be read; None for what is no operator (an input, a legend)."""
    if node.op in NOT_OPERATORS:
        return None
    cost = node_cost(node, spec)
    if cost is None:
        return f"[b]cost:[/b] not known: {markup(no_cost_reason(node, spec))}"
    dtype = (spec.dtype if spec else None) or "bf16 assumed"
    figures = [decimal(cost.flops, "FLOP")] if cost.flops else []
    figures.append(f"{binary_bytes(cost.bytes)} {'read and written' if cost.flops else 'moved'}")
    return f"[b]cost:[/b] {', '.join(figures)} ({markup(dtype)}) [dim]= {markup(cost.formula)}[/dim]"


def node_details(node: NodeInfo, outline: Outline, note: str = "", spec: ModelSpec | None = None) -> str:
    """Markup for a node: its findings first (why it is wrong), then what it is and where it runs,
    and its own cost. `note`: markup the app adds (which finding's node this is, its counterpart in
    sync mode); `spec`: the --model spec, if any (the dtype, an MLP box's inner size)."""
    declared = f"declared at line {node.line}" if node.line else "declaration line unknown"
    lines = [f"[b]{markup(node.id)}[/b]  ({markup(outline.review.name)}, {declared})"]
    if note:
        lines.append(note)
    for finding in outline.findings_by_node.get(node.id, []):
        lines += finding_lines(finding)
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
    cost = cost_line(node, spec)
    if cost:
        lines.append(cost)
    return "\n".join(lines)


def issue_details(row: IssueRow, names: list[str]) -> str:
    """Markup for a row of the issue table: the finding in full, in each deployment it is in."""
    where = ", ".join(f"{markup(names[pane])} {finding.id}" for pane, finding in row.sides)
    lines = [*finding_lines(row.finding), f"in {where}"]
    for pane, finding in row.sides[1:]:
        if finding.message != row.finding.message:
            lines.append(f"[b]{markup(names[pane])}:[/b] {markup(finding.message)}")
    targets = len(row.targets())
    lines.append(f"{targets} node(s): [b]enter[/b] jumps to the first, [b]enter[/b] again to the next" if targets
                 else "no node to jump to: the finding is about the whole file")
    return "\n".join(lines)


class NeighbourList(OptionList):
    """Predecessors and successors; `enter` jumps to one."""

    BINDINGS = [*VIM_CURSOR_KEYS]


class DetailPanel(VerticalScroll):
    ALLOW_MAXIMIZE = True  # `z`: a long finding read on the whole screen

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pane = 0
        self.node_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Select a node or a finding.", id="detail-text")
        neighbours = NeighbourList(id="neighbours")
        neighbours.display = False  # shown once a node with neighbours is selected
        yield neighbours

    def show(self, pane: int, node: NodeInfo, outline: Outline, note: str = "", spec: ModelSpec | None = None) -> None:
        self.pane, self.node_id = pane, node.id
        self.query_one("#detail-text", Static).update(node_details(node, outline, note, spec))
        self.scroll_home(animate=False)
        neighbours = self.query_one(NeighbourList)
        neighbours.clear_options()
        deployment = outline.deployment
        if deployment is None:
            return
        options = [Option(content(f"← {pred}"), id=f"<{pred}") for pred in deployment.predecessors(node.id)]
        options += [Option(content(f"→ {succ}"), id=f">{succ}") for succ in deployment.successors(node.id)]
        neighbours.add_options(options)
        neighbours.display = bool(options)

    def show_issue(self, row: IssueRow, names: list[str]) -> None:
        """A finding before any jump: no node is selected here meanwhile."""
        self.node_id = None
        self.query_one("#detail-text", Static).update(issue_details(row, names))
        self.scroll_home(animate=False)
        self.query_one(NeighbourList).display = False

    @property
    def text(self) -> str:
        """The panel's text as shown (for tests and screen readers)."""
        return str(self.query_one("#detail-text", Static).render())

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            self.post_message(JumpRequested(self.pane, event.option.id[1:]))
