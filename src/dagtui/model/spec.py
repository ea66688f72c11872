"""The model a deployment runs (`--model model.yaml`): layers, hidden size, heads, experts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dagtui.errors import ConfigError
from dagtui.input_files import load_yaml


@dataclass(frozen=True)
class ModelSpec:
    """Facts about the model that the DAG alone may not show."""

    name: str = "model"
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    d_k: int | None = None
    experts: int | None = None
    top_k: int | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    ffn_hidden_size: int | None = None
    vocab_size: int | None = None
    dense_layers: int | None = None  # leading layers with a dense MLP instead of MoE


# Far past any model: a layer or expert count past this would only make checks enumerate it.
MAX_LAYERS = 1_000_000
_BOUNDS = {"layers": MAX_LAYERS, "dense_layers": MAX_LAYERS, "experts": MAX_LAYERS, "top_k": MAX_LAYERS}
MAX_SIZE = 1 << 40  # any other size (hidden, batch, sequence, vocabulary)

_ALIASES = {
    "num_layers": "layers", "n_layers": "layers", "hidden": "hidden_size", "d_model": "hidden_size",
    "num_heads": "heads", "n_heads": "heads", "head_dim": "d_k", "num_experts": "experts",
    "n_experts": "experts", "topk": "top_k", "batch": "batch_size", "sequence_length": "seq_len",
    "ffn_hidden": "ffn_hidden_size", "vocab": "vocab_size",
}


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read a model spec from YAML; unknown keys and non-integer values are clear errors."""
    data = load_yaml(path, "model spec")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a model spec is a mapping of keys to values")
    data = data.get("model", data) if isinstance(data.get("model"), dict) else data
    known = {field.name for field in fields(ModelSpec)}
    values: dict[str, object] = {}
    for key, value in data.items():
        name = _ALIASES.get(str(key), str(key))
        if name not in known:
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        if name != "name" and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
            raise ConfigError(f"{path}: {key} must be a positive integer, got {value!r}")
        bound = _BOUNDS.get(name, MAX_SIZE)
        if name != "name" and value > bound:
            raise ConfigError(f"{path}: {key} is {value}, more than the {bound:,} dagtui accepts")
        values[name] = value
    spec = ModelSpec(**values)  # type: ignore[arg-type]
    if spec.heads and spec.d_k and spec.hidden_size and spec.heads * spec.d_k != spec.hidden_size:
        raise ConfigError(f"{path}: heads x d_k = {spec.heads * spec.d_k} but hidden_size = {spec.hidden_size}")
    return spec
