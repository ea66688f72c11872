"""Placement specs: `0`, `0-7`, `0,1,2`, `GPU5`, `TP0-7`, `EP3`, `TP0-TP7`, `EP0-EP63, PP1`,
`DP0_PP0_TP0-DP0_PP0_TP7`, `EP64 [GPUs: 0-63]`, and placeholders (`ALL`, `Host`, `CPU`)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from dagtui.model.strategy import degree_spans

_PLACEHOLDER = re.compile(
    r"(?<![\w?])(all(?:[-_ ](?:(?:dp|tp|ep|pp)[-_ ])?(?:gpus?|ranks?|devices?))?|host|cpu|any|various|n/?a|tbd|\?+)(?![\w?])",
    re.IGNORECASE,
)
# `TP3`, `TP 3`, `TP0-TP7`, `EP0-63`; never `TP=8` (a degree: see strategy.degree_spans).
# Delimited by anything but letters and digits: `PP0_TP1` names two ranks.
_RANK_RANGE = re.compile(
    r"(?<![A-Za-z0-9])(EP|TP|PP|DP|SP|CP)[_ ]?(?:rank[_ ]?\s*[=:]?\s*)?(\d+)(?:\s*(?:-|–|to)\s*(?:\1[_ ]?)?(\d+))?(?![A-Za-z0-9])", re.IGNORECASE,
)
# At most eight axes a side: unbounded, a long run of `EP1_EP1_...` is re-read from each of its
# positions (quadratic); no rank names more axes than there are.
_COMPOSITE_RANGE = re.compile(r"((?:[A-Z]{2}\d+_){1,8}[A-Z]{2}\d+)\s*-\s*((?:[A-Z]{2}\d+_){1,8}[A-Z]{2}\d+)", re.IGNORECASE)
_NUMBER_RANGE = re.compile(r"(?<![A-Za-z\d.])(\d+)\s*(?:-|–|to|\.\.)\s*(\d+)(?![\d.])")
_NUMBER = re.compile(r"(?<![A-Za-z\d.])(\d+)(?![\d.])")
_GPU_WORD = re.compile(r"\b(?:gpus?|devices?|cuda|rank)\s*[:#_-]?\s*(\d+)(?:\s*(?:-|–|to|\.\.)\s*(?:gpu\s*)?(\d+))?", re.IGNORECASE)
_BRACKETED_GPUS = re.compile(r"\[\s*gpus?\s*:?\s*([^\]]*)\]", re.IGNORECASE)
# No id at or past MAX_GPU_ID and no range of more than MAX_GPU_RANGE ids is made into a set: a
# label writes `GPU: 0-999999999999` in a few bytes (finding SYN003 reports such ranges).
MAX_GPU_ID = 10_000_000
MAX_GPU_RANGE = 65_536
_RANGE_TEXT = re.compile(r"(\d+)\s*(?:-|–|to|\.\.)\s*(?:[A-Za-z]{2}[_ ]?)?(\d+)")


@dataclass(frozen=True)
class Placement:
    """Where a node runs: GPU ids, ranks per parallel axis, or a placeholder that says nothing."""

    gpus: frozenset[int] = frozenset()
    ranks: dict[str, frozenset[int]] = field(default_factory=dict)
    everywhere: bool = False
    placeholder: str | None = None

    @property
    def empty(self) -> bool:
        return not self.gpus and not self.ranks and not self.everywhere

    def __hash__(self) -> int:
        return hash((self.gpus, tuple(sorted(self.ranks.items())), self.everywhere, self.placeholder))


def blank_out(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span (overlapping ones merged) replaced by one space, in one pass."""
    if not spans:
        return text
    pieces, last = [], 0
    for start, end in sorted(spans):
        if start < last:  # overlaps the span before: extend that one
            last = max(last, end)
            continue
        pieces.append(text[last:start])
        pieces.append(" ")
        last = end
    pieces.append(text[last:])
    return "".join(pieces)


def without_parenthesised(text: str) -> str:
    """`text` with each `(...)` (up to the first `)` on the same line) replaced by a space, as a
    lazy regex substitution would, in one pass: the regex re-reads the rest of the line from
    every `(` that has no `)` after it."""
    if "(" not in text:
        return text
    pieces, position = [], 0
    while True:
        start = text.find("(", position)
        if start < 0:
            break
        end = text.find(")", start)
        newline = text.find("\n", start)
        if end < 0 or 0 <= newline < end:
            if newline < 0:
                break
            pieces.append(text[position:newline + 1])  # no `)` on this line: none of its `(` close
            position = newline + 1
            continue
        pieces.append(text[position:start])
        pieces.append(" ")
        position = end + 1
    pieces.append(text[position:])
    return "".join(pieces)


def _span(low: int, high: int) -> range:
    """The ids of `low-high`; none when it is beyond bounds (see MAX_GPU_ID)."""
    if high < low:
        low, high = high, low
    if high >= MAX_GPU_ID or high - low >= MAX_GPU_RANGE:
        return range(0)
    return range(low, high + 1)


def ranges_beyond_bounds(text: str) -> list[str]:
    """The id or rank ranges of a label line that `_span` leaves out (`0-999999999999`)."""
    if not re.search(r"\d{5}", text):
        return []  # every bounded range fits in fewer digits: the usual line is done here
    found = []
    for match in _RANGE_TEXT.finditer(text):
        low, high = sorted((int(match.group(1)[:12]), int(match.group(2)[:12])))
        if high >= MAX_GPU_ID or high - low >= MAX_GPU_RANGE:
            found.append(match.group(0))
    return found


@functools.lru_cache(maxsize=65536)
def parse_ranks(text: str) -> dict[str, frozenset[int]]:
    """Rank sets named in `text`: `TP0-TP7` -> {tp: 0..7}, `EP3` -> {ep: {3}}, `DP0_PP0_TP0-DP0_PP0_TP7`.
    Degree statements (`TP=8`, `8-way TP`) are skipped: they count GPUs, they do not name one."""
    text = blank_out(text, degree_spans(text))
    text = _DIVIDED_BY_DEGREE.sub(" ", text)
    ranks: dict[str, set[int]] = {}
    for match in _COMPOSITE_RANGE.finditer(text):
        start: dict[str, str] = dict(re.findall(r"([A-Za-z]{2})(\d+)", match.group(1)))
        end: dict[str, str] = dict(re.findall(r"([A-Za-z]{2})(\d+)", match.group(2)))
        for axis, first in start.items():
            last = end.get(axis, first)
            ranks.setdefault(_axis(axis), set()).update(_span(int(first), int(last)))
    text = _COMPOSITE_RANGE.sub(" ", text)
    for match in _RANK_RANGE.finditer(text):
        low = int(match.group(2))
        high = int(match.group(3)) if match.group(3) else low
        ranks.setdefault(_axis(match.group(1)), set()).update(_span(low, high))
    return {axis: frozenset(values) for axis, values in ranks.items()}


def _axis(name: str) -> str:
    name = name.lower()
    return "sp" if name == "cp" else name


def parse_gpu_ids(text: str) -> frozenset[int]:
    """Plain GPU ids: `0`, `0-7`, `0,1,2`, `0-3, 8-11`; rank tokens are ignored."""
    text = _RANK_RANGE.sub(" ", _COMPOSITE_RANGE.sub(" ", text))
    text = without_parenthesised(text)
    ids: set[int] = set()
    for match in _NUMBER_RANGE.finditer(text):
        ids.update(_span(int(match.group(1)), int(match.group(2))))
    for match in _NUMBER.finditer(_NUMBER_RANGE.sub(" ", text)):
        ids.add(int(match.group(1)))
    return frozenset(ids)


# `ffn_dim=14336/tp2`: a size divided by the TP degree (after a plain number, not a rank token
# as in `EP1/TP1`).
_DIVIDED_BY_DEGREE = re.compile(r"(?:(?<=[=\s(\[,:])|^)\d+\s*/\s*(?:EP|TP|PP|DP|SP|CP)\s*\d+(?![A-Za-z0-9])", re.IGNORECASE)
_PARENTHESISED_RANK = re.compile(r"\(\s*(EP|TP|PP|DP|SP|CP)\s*(\d+)\s*\)", re.IGNORECASE)


def _without_degree_notes(text: str, ranks: dict[str, frozenset[int]], gpus: frozenset[int]) -> dict[str, frozenset[int]]:
    """`GPU: 8-15 (TP8)` and `EP64 [GPUs: 0-63]` note the degree of the GPUs listed, not rank 8
    or 64: a single rank equal to the number of GPUs is dropped when it stands alone in brackets,
    or on GPUs counted from 0 (`GPU: 64-71 (TP0-TP7, EP8)` is rank 8 on its own eight GPUs)."""
    if len(gpus) < 2:
        return ranks
    alone = {_axis(match.group(1)) for match in _PARENTHESISED_RANK.finditer(text) if int(match.group(2)) == len(gpus)}
    return {axis: values for axis, values in ranks.items()
            if values != frozenset({len(gpus)}) or (axis not in alone and min(gpus) != 0)}


# `Rank 5` and `Ranks 0-3` are GPUs (as `dev 3`, `devs 0-3`); `PP rank 0`, `tensor-parallel rank 0`, `TP rank 3` name a rank within one parallel axis, not a GPU;
# `Each GPU: 25% compute` names a share, not GPU 25.
_INLINE_GPU = re.compile(
    r"\b(?:gpus?|devices?|devs?|cuda|(?<!pp )(?<!tp )(?<!ep )(?<!dp )(?<!pipeline )(?<!tensor )(?<!expert )(?<!data )(?<!parallel )ranks?)\s*[-_:#]?\s*\d+(?!\d|\.\d|\s*%)(?:\s*(?:-|–|to|\.\.)\s*(?:gpu\s*)?\d+)?(?:\s*,\s*(?:gpu\s*)?\d+(?:\s*(?:-|–|to)\s*\d+)?(?!\d|\s*[A-Za-z]))*",
    re.IGNORECASE,
)


# A device named by its model and index (`RTX3090_0`, `H100-7`, `A100 #3`): the index is the GPU.
_DEVICE_MODEL = re.compile(
    r"(?<![A-Za-z0-9])(?:(?:rtx|gtx)\s*\d{3,4}(?:\s*ti)?|gb?[12]00|[ah]100|a(?:10|30|40|800)|h(?:200|800|20)|l40s?|l4|[vp]100|p40|k80|t4"
    r"|mi(?:250|300)x?)\s*[-_#:]\s*(\d+)(?![\w.])",
    re.IGNORECASE,
)


_ALL_GPUS_LINE = re.compile(r"\s*\(?\s*(?:on\s+)?all\s+(?:\d+\s+)?(?:gpus|devices)\s*\)?\s*", re.IGNORECASE)


_SYMBOLIC_GPU = re.compile(r"\s*(?:gpu|device|rank)\s*[_#]?\s*([a-z]|\{\w+\})\s*", re.IGNORECASE)


def inline_placement(text: str) -> Placement | None:
    """A placement written inside other text: `Embedding (GPU-0)`, `Expert Group 0 (GPU 0)`,
    `Attention Output (GPU-0,1)` (a list item followed by a word counts something else: `GPU 0, 4 heads`),
    `RTX3090_0` (a device model and its index)."""
    match = _INLINE_GPU.search(text)
    if match:
        return parse_placement(match.group(0))
    if _ALL_GPUS_LINE.fullmatch(text):
        return Placement(everywhere=True)  # a line of its own: "All GPUs", "(all 8 devices)"
    symbolic = _SYMBOLIC_GPU.fullmatch(text)
    if symbolic:
        return Placement(placeholder=symbolic.group(1))  # "Device i": one device standing for each of them
    device = _DEVICE_MODEL.search(text)
    return Placement(gpus=frozenset({int(device.group(1))})) if device and int(device.group(1)) < MAX_GPU_ID else None


_ALL_COUNTED = re.compile(r"(?<=\ball)\s+\d+(?=\s+(?:gpus|devices|ranks)\b)", re.IGNORECASE)
_STAGE = re.compile(r"(?<![A-Za-z])stage[_ ]?(\d+)(?!\d)", re.IGNORECASE)
# A formula standing for many GPUs (`layer×16+N`): a placeholder, not ids.
_FORMULA = re.compile(r"[A-Za-z_]\w*\s*[×*+/]\s*\w|\w\s*[×*+/]\s*[A-Za-z_]")
_SUM = re.compile(r"(?<![\d.])(\d{1,9})\s*\+\s*(\d{1,9})(?![\d.])")  # `128+7`: an offset into a block of GPUs


_LEADING_NUMBER = re.compile(r"\s*\d")
_RANKS_ONLY = re.compile(r"(?:(?:EP|TP|PP|DP|SP|CP)[_ ]?\d+\s*[/_,;]?\s*)+", re.IGNORECASE)


@functools.lru_cache(maxsize=65536)
def parse_placement(text: str) -> Placement:
    """Parse the value of a `GPU:` / `GPUs:` / `Device:` line (or a bare `GPU5`)."""
    if _FORMULA.search(text) and not _RANKS_ONLY.fullmatch(text.strip()):  # `tp2/dp1` names ranks, no formula
        return Placement(placeholder=text.strip())
    text = _SUM.sub(lambda m: str(int(m.group(1)) + int(m.group(2))), text)  # `[128+0-128+7]` is 128-135
    original = text
    text = blank_out(text, degree_spans(text))  # `8-way TP on 0-7`: 8 counts GPUs, it is not one
    text = _ALL_COUNTED.sub(" ", text)  # `all 8 GPUs` counts them too
    bracketed = _BRACKETED_GPUS.search(text)
    ranks = parse_ranks(_BRACKETED_GPUS.sub(" ", text))
    stage = _STAGE.search(text)
    if stage and "pp" not in ranks:  # `GPUs: stage0` names the pipeline stage, like `GPU: PP0`
        ranks = {**ranks, "pp": frozenset({int(stage.group(1))})}
        text = _STAGE.sub(" ", text)
    if bracketed:
        gpus = parse_gpu_ids(bracketed.group(1))
    else:
        if _LEADING_NUMBER.match(text):
            text = without_parenthesised(text)  # `3712 (Node 464, GPU 0)`: the note names the GPU within its node
        words = list(_GPU_WORD.finditer(text))
        if words:
            gpus = frozenset(
                gpu
                for match in words
                for gpu in _span(int(match.group(1)), int(match.group(2) or match.group(1)))
            )
            rest = _GPU_WORD.sub(" ", text)
            gpus |= parse_gpu_ids(rest) if re.search(r"(?:[,;]|\band)\s*\d", rest) else frozenset()  # `GPUs 0 and 4`
        else:
            gpus = parse_gpu_ids(text)
    ranks = _without_degree_notes(original, ranks, gpus)
    text = original
    placeholder_match = _PLACEHOLDER.search(text)
    everywhere = bool(placeholder_match and placeholder_match.group(1).lower().startswith("all"))
    placeholder = placeholder_match.group(0) if placeholder_match and not gpus and not ranks else None
    if everywhere:
        placeholder = None
    elif not gpus and not ranks and placeholder is None and text.strip():
        placeholder = text.strip()  # says something, but nothing dagtui can place (`layer_gpu`)
    return Placement(gpus=gpus, ranks=ranks, everywhere=everywhere, placeholder=placeholder)
