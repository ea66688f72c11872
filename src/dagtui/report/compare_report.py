"""The report of `dagtui compare`: a heading that names the two files, the model and the hardware,
then the comparison section (`report.comparison`), in text, markdown or JSON."""

from __future__ import annotations

import io
import json

from rich.console import Console, Group
from rich.text import Text

from dagtui.compare import Comparison
from dagtui.cost import CostEstimate
from dagtui.cost.units import binary_bytes
from dagtui.report.comparison import markdown_comparison, text_comparison
from dagtui.report.json_report import compare_data
from dagtui.report.markdown_text import code, plain
from dagtui.review import Review
from dagtui.safe_text import visible

COMPARE_FORMATS = ("text", "markdown", "json")


def _subject(reviews: list[Review]) -> tuple[str, str]:
    return reviews[0].file, reviews[1].file


def model_line(comparison: Comparison, model: str | None) -> str:
    """`moe-16l-64e: 27.1B parameters, 2.15B active per token, KV cache 256 KiB per token`."""
    if not model:
        return "none (--model gives the cost table)"
    cost = next((c for c in comparison.costs if isinstance(c, CostEstimate)), None)
    if cost is None:
        return model
    return (f"{model}: {cost.params_total / 1e9:.3g}B parameters, {cost.params_active / 1e9:.3g}B active per token, "
            f"KV cache {binary_bytes(cost.kv_bytes_per_token)} per token")


def compare_renderables(reviews: list[Review], comparison: Comparison, model: str | None) -> list:
    current, new = _subject(reviews)
    parts: list = [Text.assemble("== ", ("Compare", "bold underline"), f" {visible(current)} (current) with {visible(new)} (new)")]
    parts.append(Text(f"  model: {visible(model_line(comparison, model))}", style="dim"))
    parts += [Text(f"  cannot read: {visible(review.error)}", style="bold red") for review in reviews if review.error]
    return parts + text_comparison(comparison, reviews)


def print_compare(reviews: list[Review], comparison: Comparison, model: str | None, console: Console) -> None:
    console.print(Group(*compare_renderables(reviews, comparison, model)), soft_wrap=True)


def render_compare(fmt: str, reviews: list[Review], comparison: Comparison, model: str | None,
                   hardware: str | None, width: int = 100) -> str:
    """The report as text in one of COMPARE_FORMATS."""
    if fmt == "json":
        return json.dumps(compare_data(reviews, comparison, model, hardware), indent=2) + "\n"
    if fmt == "markdown":
        current, new = _subject(reviews)
        lines = ["# Deployment Comparison", "", f"Current: {code(current)}; new: {code(new)}; model: "
                 f"{plain(model_line(comparison, model))}.", ""]
        lines += [f"**{plain(review.file)} could not be read:** {plain(review.error)}" for review in reviews if review.error]
        return "\n".join(lines + markdown_comparison(comparison, reviews)).rstrip() + "\n"
    console = Console(width=width, no_color=True, color_system=None, file=io.StringIO())
    print_compare(reviews, comparison, model, console)
    return console.file.getvalue()  # type: ignore[attr-defined]
