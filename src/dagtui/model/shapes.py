"""Tensor shapes as written in labels: `[batch_size=128, seq_len=1024, hidden_size=512]`, `[128,1024,1024]`,
`[16,tokens_per_expert,8192]`, several at once (`[..], [..]`, `[..] x [..]`, `[..] x2`)."""

from __future__ import annotations

import ast
import functools
import operator
import re
from dataclasses import dataclass

_BRACKETED = re.compile(r"\[([^\[\]]*)\]")
_REPEAT = re.compile(r"^\s*[x×]\s*(\d+)\b")
_ARITHMETIC = re.compile(r"^[\d\s*+/()-]+$")
PLACEHOLDERS = {"?", "??", "...", "…", "n/a", "tbd", "unknown"}
VOCAB_NAMES = ("vocab", "vocab_size", "vocabulary", "v", "vocab_shard", "vocab_per_rank", "logits")
HIDDEN_NAMES = {"hidden_size", "hidden", "hidden_dim", "d_model", "dim", "embed_dim", "h", "model_dim", "token_dim", "d"}


@functools.lru_cache(maxsize=256)
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    """The names asked for, lower-cased: callers ask with a handful of fixed tuples."""
    return frozenset(name.lower() for name in names)


@dataclass(frozen=True)
class Dim:
    """One dimension: an optional name and an int, a symbol (`tokens_per_expert`) or a placeholder (`?`)."""

    name: str | None
    value: int | str

    # Cached: the validator asks these of every dimension of every node; dims are shared between
    # nodes (label lines are parsed once per text), so each is computed a few hundred times at most.
    @functools.cached_property
    def is_int(self) -> bool:
        return isinstance(self.value, int)

    @functools.cached_property
    def is_placeholder(self) -> bool:
        return isinstance(self.value, str) and self.value.strip().lower() in PLACEHOLDERS

    def __str__(self) -> str:
        return f"{self.name}={self.value}" if self.name else str(self.value)


@dataclass(frozen=True)
class Shape:
    """A tensor shape: its dimensions in order."""

    dims: tuple[Dim, ...]

    def __str__(self) -> str:
        return "[" + ", ".join(str(dim) for dim in self.dims) + "]"

    @functools.cached_property
    def values(self) -> tuple[int | str, ...]:
        return tuple(dim.value for dim in self.dims)

    @functools.cached_property
    def all_int(self) -> bool:
        """Every dimension is a number (nothing symbolic or left as a placeholder)."""
        return all(dim.is_int for dim in self.dims)

    @functools.cached_property
    def has_placeholder(self) -> bool:
        return any(dim.is_placeholder for dim in self.dims)

    @property
    def last(self) -> Dim | None:
        return self.dims[-1] if self.dims else None

    def named(self, *names: str) -> Dim | None:
        """The first dimension whose name is one of `names` (case-insensitive)."""
        wanted = _lowered(names)
        for dim, name in zip(self.dims, self._lower_names):
            if name in wanted:
                return dim
        return None

    @functools.cached_property
    def _lower_names(self) -> tuple[str | None, ...]:
        return tuple(dim.name.lower() if dim.name else None for dim in self.dims)

    def names_vocab(self) -> bool:
        """`[.., vocab=32000]`, or a bare `[.., vocab_size]`: the shape is the vocabulary's."""
        return self.named(*VOCAB_NAMES) is not None or any(
            dim.name is None and isinstance(dim.value, str) and dim.value.lower() in VOCAB_NAMES for dim in self.dims
        )

    def hidden(self) -> int | None:
        """The hidden (model) dimension when the shape shows one: named, else a 3-d shape's last int."""
        return self._hidden

    @functools.cached_property
    def _hidden(self) -> int | None:
        named = self.named(*HIDDEN_NAMES)
        if named is not None:
            return named.value if isinstance(named.value, int) else None
        if self.named("heads", "num_heads", "d_k", "head_dim", "d_v") is not None:
            return None
        if len(self.dims) == 3 and self.dims[-1].is_int and self.dims[-1].name is None:
            return self.dims[-1].value  # type: ignore[return-value]
        return None

    def heads_and_head_dim(self) -> tuple[int, int] | None:
        """(heads, d_k) when both are named with integer values."""
        # Megatron writes heads per partition `np` and the head size `hn`; grouped-query K/V heads
        # come as `KVH`, `kv_heads`. A bare `D` is the head size only beside a head count.
        heads = self.named("heads", "num_heads", "n_heads", "head", "nh", "np", "n_head",
                           "kvh", "kv_heads", "n_kv_heads", "num_kv_heads", "num_key_value_heads")
        head_dim = self.named("d_k", "head_dim", "d_head", "d_v", "dk", "hn", "hd", "head_size", "dh", "d")
        if heads and head_dim and heads.is_int and head_dim.is_int:
            return heads.value, head_dim.value  # type: ignore[return-value]
        return None

    def heads_split_from(self, source: Shape) -> tuple[int, int] | None:
        """(heads, d_k) of a projection's output, named or, when unnamed, read from how it splits
        its input's hidden dimension: `[b, s, H]` -> `[b, s, heads, d_k]` or `[b, heads, s, d_k]`
        (positional dimensions, `[4, 512, 4, 64]` from `[4, 512, 1024]`)."""
        named = self.heads_and_head_dim()
        if named or not self.all_int or not source.all_int or any(dim.name for dim in self.dims):
            return named
        out, into = self.values, source.values
        if len(out) == 3 and len(into) == 2:  # `[tokens, width]` -> `[tokens, heads, d_k]`
            return (int(out[1]), int(out[2])) if out[0] == into[0] else None
        if len(out) != 4 or len(into) != 3:
            return None
        if out[:2] == into[:2]:
            return int(out[2]), int(out[3])
        if out[0] == into[0] and out[2] == into[1]:
            return int(out[1]), int(out[3])
        return None

    def same_elements(self, other: Shape) -> bool:
        """The same tensor laid out otherwise: equal leading dimensions, and the trailing ones
        multiply to the same size (`[b, s, 32, 128]` and `[b, s, 4096]`: heads merged), or heads
        split and moved before the sequence (`[b, s, 512]` and `[b, 8, s, 64]`)."""
        if not self.all_int or not other.all_int or len(self.dims) == len(other.dims):
            return False
        short, long = (self, other) if len(self.dims) < len(other.dims) else (other, self)
        keep = len(short.dims) - 1
        if short.values[:keep] != long.values[:keep]:
            return (len(long.dims) == len(short.dims) + 1 == 4 and short.values[0] == long.values[0]
                    and short.values[1] == long.values[2] and _product(long.values[1:]) == _product(short.values[1:]))
        return _product(long.values[keep:]) == short.values[keep]

    def same_as(self, other: Shape) -> bool:
        """Equal dimension values (names are ignored: `hidden=4096` and `4096` agree)."""
        return self.values == other.values


def _product(values) -> int:
    product = 1
    for value in values:
        product *= value
    return product


def parse_dim(text: str) -> Dim:
    """Parse one dimension: `128`, `seq_len=1024`, `tokens`, `h/4=256`, `64*64`, `?`; a range
    (`seq=0-1024`, the slice a rank holds) stays as written, a symbol."""
    text = text.strip()
    name: str | None = None
    if "=" in text:
        name, _, text = text.partition("=")
        name = name.strip() or None
        text = text.strip()
    if _RANGE.match(text):
        return Dim(name, text)
    return Dim(name, _value(text))


_RANGE = re.compile(r"^\d+\s*[-–:]\s*\d+$")
_KILO = re.compile(r"^(\d{1,4})\s*[kK]$")


def _binary_kilo(value: int) -> bool:
    """Whether `<value>k` is a tensor size in units of 1024: up to 64k, or a power of two (128k)."""
    return 0 < value <= 64 or value & (value - 1) == 0
# Tags that say which part of a tensor a rank holds, not a dimension of it (`partition=512`).
_TAG_NAMES = frozenset({"partition", "shard", "part", "rank", "gpu", "device", "group", "chunk_id", "block_id"})


def _value(text: str) -> int | str:
    cleaned = text.replace("_", "") if text.replace("_", "").isdigit() else text
    if cleaned.isdigit():
        return int(cleaned)
    kilo = _KILO.match(text)
    if kilo and _binary_kilo(int(kilo.group(1))):  # `4k`, `3k`, `32K`: 4096, 3072, 32768 (`100k` stays a symbol: 100,000?)
        return int(kilo.group(1)) * 1024
    if _ARITHMETIC.match(text) and any(ch.isdigit() for ch in text):
        result = _safe_arithmetic(text)
        if result is not None:
            return result
    return text


def _safe_arithmetic(text: str) -> int | None:
    """Evaluate `64*64` or `4096/8` written in a dimension: + - * / on integers, nothing else."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return None
    result = _evaluate(tree.body)
    if result is None or result != int(result) or abs(result) > 10**15:
        return None
    return int(result)


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _evaluate(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if left is None or right is None or (isinstance(node.op, ast.Div) and right == 0):
            return None
        if abs(left) > 10**15 or abs(right) > 10**15:
            return None
        return _OPERATORS[type(node.op)](left, right)
    return None


_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolved(shape: Shape, symbols: dict[str, int]) -> Shape:
    """`shape` with each symbolic dimension the file defines (`NH/TP` where the graph label says
    `NH=32, TP=4`) evaluated to its number; dimensions with an undefined symbol stay as written."""
    dims = []
    changed = False
    for dim in shape.dims:
        value = dim.value
        if isinstance(value, str) and value != "?":
            names = _SYMBOL.findall(value)
            if names and all(name in symbols for name in names):
                number = _safe_arithmetic(_SYMBOL.sub(lambda match: str(symbols[match.group(0)]), value))
                if number is not None:
                    dims.append(Dim(dim.name, number))
                    changed = True
                    continue
        dims.append(dim)
    return Shape(tuple(dims)) if changed else shape


_SPACED_NUMBERS = re.compile(r"\d+(?:\s+\d+)+")
_SPACED_DIMS = re.compile(r"^\s*(?:[\w.]+=)?[\w?]+(?:\s+(?:[\w.]+=)?[\w?]+)+\s*$")
_TIMES_DIMS = re.compile(r"^\s*\d+(?:\s*[x×]\s*\d+)+\s*$")


def parse_shape(text: str) -> Shape:
    """Parse the inside of one pair of brackets: `128, 1024, 4096`, `128 1024 4096`, `128x1024x4096`."""
    if "," not in text:
        if _SPACED_DIMS.match(text):
            return Shape(tuple(parse_dim(part) for part in text.split()))
        if _TIMES_DIMS.match(text):
            return Shape(tuple(parse_dim(part) for part in re.split(r"[x×]", text)))
    parts = [piece for part in _split_top_level(text) if part.strip()
             for piece in (part.split() if _SPACED_NUMBERS.fullmatch(part.strip()) else [part])]  # `[128, 1024 1024]`: a comma left out
    dims = [parse_dim(part) for part in parts]
    return Shape(tuple(dim for dim in dims if (dim.name or "").lower() not in _TAG_NAMES))


def _split_top_level(text: str) -> list[str]:
    if not any(char in text for char in "([{"):
        return text.split(",")
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_shapes(text: str) -> list[Shape]:
    """All shapes in a label value: `[..], [..]`, `[..] x [..]`, `Q:[..], K:[..]`, `[..] x2` (repeated)."""
    return list(_parse_shapes(text))


@functools.lru_cache(maxsize=65536)
def _parse_shapes(text: str) -> tuple[Shape, ...]:
    # Cached: large DAGs repeat the same few shapes on thousands of nodes.
    shapes: list[Shape] = []
    for match in _BRACKETED.finditer(text):
        shape = parse_shape(match.group(1))
        shapes.append(shape)
        repeat = _REPEAT.match(text[match.end() :])
        if repeat and not text[match.end() :].lstrip()[1:].lstrip().startswith("["):
            shapes.extend([shape] * (min(int(repeat.group(1)), 64) - 1))
    return tuple(shapes)
