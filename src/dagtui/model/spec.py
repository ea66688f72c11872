"""The model a deployment runs (`--model model.yaml`): its architecture (layers, hidden size, heads,
experts, vocabulary, data types) and the workload it serves (batch, prompt and decode lengths).

Every key is optional: the validator uses what it is given, and the cost model (`dagtui.cost`)
says which figures it could not compute for lack of a key. Keys may be written as in Megatron or
Hugging Face configs (`num_layers`, `d_model`, `num_key_value_heads`, ...): `_ALIASES` maps them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dagtui.errors import ConfigError
from dagtui.input_files import load_yaml

# Bytes per element of each data type a spec may name.
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp8": 1, "fp32": 4}
_DTYPE_ALIASES = {
    "bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32",
    "float8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "e4m3": "fp8", "e5m2": "fp8",
}


@dataclass(frozen=True)
class ModelSpec:
    """Facts about the model that the DAG alone may not show, and the workload it serves."""

    name: str = "model"
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    d_k: int | None = None  # head_dim; hidden_size / heads when not given
    experts: int | None = None
    top_k: int | None = None
    batch_size: int | None = None  # sequences in flight in one DP replica
    seq_len: int | None = None  # prompt length (prefill)
    ffn_hidden_size: int | None = None  # the dense MLP's intermediate size
    vocab_size: int | None = None
    dense_layers: int | None = None  # leading layers with a dense MLP instead of MoE
    kv_heads: int | None = None  # grouped-query attention; heads when not given
    moe_ffn_hidden_size: int | None = None  # one expert's intermediate size; ffn_hidden_size when not given
    shared_experts: int | None = None  # experts every token passes through, beside the top_k routed ones
    tied_embeddings: bool | None = None  # the LM head reuses the embedding matrix
    gated_mlp: bool | None = None  # SwiGLU: gate, up and down matrices (three, not two)
    dtype: str | None = None  # weights and compute: bf16, fp16, fp8 or fp32
    kv_dtype: str | None = None  # the KV cache; dtype when not given
    decode_tokens: int | None = None  # tokens generated per sequence after the prompt
    micro_batches: int | None = None  # micro-batches a replica's batch is split into for the pipeline

    @property
    def head_dim(self) -> int | None:
        """d_k, or hidden_size / heads."""
        if self.d_k:
            return self.d_k
        if self.hidden_size and self.heads and self.hidden_size % self.heads == 0:
            return self.hidden_size // self.heads
        return None

    @property
    def kv_head_count(self) -> int | None:
        return self.kv_heads or self.heads


# Far past any model: a layer or expert count past this would only make checks enumerate it.
MAX_LAYERS = 1_000_000
_BOUNDS = {
    "layers": MAX_LAYERS, "dense_layers": MAX_LAYERS, "experts": MAX_LAYERS, "top_k": MAX_LAYERS,
    "shared_experts": MAX_LAYERS, "micro_batches": MAX_LAYERS,
}
MAX_SIZE = 1 << 40  # any other size (hidden, batch, sequence, vocabulary)
_MAY_BE_ZERO = {"dense_layers", "shared_experts", "decode_tokens"}
_BOOLEANS = {"tied_embeddings", "gated_mlp"}
_DTYPES = {"dtype", "kv_dtype"}

_ALIASES = {
    "num_layers": "layers", "n_layers": "layers", "num_hidden_layers": "layers", "hidden": "hidden_size",
    "d_model": "hidden_size", "num_heads": "heads", "n_heads": "heads", "num_attention_heads": "heads",
    "head_dim": "d_k", "num_experts": "experts", "n_experts": "experts", "n_routed_experts": "experts",
    "topk": "top_k", "num_experts_per_tok": "top_k", "batch": "batch_size", "sequence_length": "seq_len",
    "ffn_hidden": "ffn_hidden_size", "intermediate_size": "ffn_hidden_size", "vocab": "vocab_size",
    "num_key_value_heads": "kv_heads", "num_kv_heads": "kv_heads", "n_kv_heads": "kv_heads",
    "moe_ffn_hidden": "moe_ffn_hidden_size", "moe_intermediate_size": "moe_ffn_hidden_size",
    "n_shared_experts": "shared_experts", "num_shared_experts": "shared_experts",
    "tie_word_embeddings": "tied_embeddings", "torch_dtype": "dtype", "micro_batch_count": "micro_batches",
    "num_micro_batches": "micro_batches",
}


def _value(path: str | Path, key: str, name: str, value: object) -> object:
    """`value` checked for the field `name` (written `key` in the file); ConfigError otherwise."""
    if name == "name":
        return str(value)
    if name in _BOOLEANS:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {key} must be true or false, got {value!r}")
        return value
    if name in _DTYPES:
        text = str(value).strip().lower() if isinstance(value, str) else ""
        dtype = _DTYPE_ALIASES.get(text, text)
        if dtype not in DTYPE_BYTES:
            raise ConfigError(f"{path}: {key} must be one of {', '.join(DTYPE_BYTES)}, got {value!r}")
        return dtype
    lowest = 0 if name in _MAY_BE_ZERO else 1
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= lowest):
        what = "a non-negative integer" if lowest == 0 else "a positive integer"
        raise ConfigError(f"{path}: {key} must be {what}, got {value!r}")
    bound = _BOUNDS.get(name, MAX_SIZE)
    if value > bound:
        raise ConfigError(f"{path}: {key} is {value}, more than the {bound:,} dagtui accepts")
    return value


def load_model_spec(path: str | Path) -> ModelSpec:
    """Read a model spec from YAML; unknown keys, wrong types and absurd sizes are clear errors."""
    data = load_yaml(path, "model spec")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a model spec is a mapping of keys to values")
    data = data.get("model", data) if isinstance(data.get("model"), dict) else data
    known = {field.name for field in fields(ModelSpec)}
    values: dict[str, object] = {}
    for key, value in data.items():
        name = _ALIASES.get(str(key), str(key))
        if name not in known:
            spelled = sorted(known | {"head_dim", "ffn_hidden", "moe_ffn_hidden", "vocab", "batch"})
            raise ConfigError(f"{path}: unknown key {key!r} (known: {', '.join(spelled)})")
        if name in values:
            raise ConfigError(f"{path}: {key} gives {name} a second time")
        values[name] = _value(path, str(key), name, value)
    spec = ModelSpec(**values)  # type: ignore[arg-type]
    _check_consistency(path, spec)
    return spec


def _check_consistency(path: str | Path, spec: ModelSpec) -> None:
    """Keys that contradict each other. heads x d_k may differ from hidden_size (Qwen3: 64 x 128
    over 4096), so it is not checked; without d_k the heads must divide the hidden size."""
    problems = []
    if spec.heads and spec.hidden_size and not spec.d_k and spec.hidden_size % spec.heads:
        problems.append(f"{spec.heads} heads do not divide hidden_size {spec.hidden_size}; give head_dim")
    if spec.kv_heads and spec.heads and (spec.kv_heads > spec.heads or spec.heads % spec.kv_heads):
        problems.append(f"kv_heads {spec.kv_heads} must divide heads {spec.heads}")
    if spec.top_k and spec.experts and spec.top_k > spec.experts:
        problems.append(f"top_k {spec.top_k} is more than the {spec.experts} experts")
    if spec.dense_layers and spec.layers and spec.dense_layers > spec.layers:
        problems.append(f"dense_layers {spec.dense_layers} is more than the {spec.layers} layers")
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
