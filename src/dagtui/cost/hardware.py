"""Hardware profiles for the roofline and memory estimates: one GPU's dense peak FLOP/s per data
type, HBM capacity and bandwidth, link bandwidths and GPUs per node.

The shipped profiles (`h100`, `h200`, `a100`, `b200`) are YAML files in `cost/hardware/`, each
naming the datasheet its figures come from; `--hardware FILE.yaml` reads one in the same form. A
profile is untrusted input like a model spec: unknown keys, missing keys, wrong units and absurd
figures are one clear message, never a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources

from dagtui.cost.units import UnitError, parse_quantity
from dagtui.errors import ConfigError
from dagtui.input_files import load_yaml
from dagtui.model.spec import DTYPE_BYTES

SHIPPED = ("h100", "h200", "a100", "b200")

# What a real GPU can have, with room to spare; past these a figure is a typo (`80 TiB`).
_BOUNDS = {
    "peak_flops": (1e9, 1e18, "FLOP/s"), "hbm_capacity": (2**30, 2**50, "bytes"),
    "hbm_bandwidth": (1e9, 1e15, "B/s"), "intra_node_bandwidth": (1e8, 1e15, "B/s"),
    "inter_node_bandwidth": (1e6, 1e15, "B/s"),
}
_KINDS = {"hbm_capacity": "bytes", "hbm_bandwidth": "rate", "intra_node_bandwidth": "rate", "inter_node_bandwidth": "rate"}
_REQUIRED = ("peak_flops", "hbm_capacity", "hbm_bandwidth", "intra_node_bandwidth", "inter_node_bandwidth", "gpus_per_node")
_OPTIONAL = ("name", "description", "source")
MAX_GPUS_PER_NODE = 1024


@dataclass(frozen=True)
class HardwareProfile:
    """One GPU and how it is connected. Bandwidths are per GPU and per direction."""

    name: str
    description: str
    source: str
    peak_flops: dict[str, float]  # dtype -> dense FLOP/s
    hbm_capacity: int  # bytes
    hbm_bandwidth: float  # bytes/s
    intra_node_bandwidth: float  # bytes/s, within a node (NVLink)
    inter_node_bandwidth: float  # bytes/s, between nodes (InfiniBand)
    gpus_per_node: int

    def peak(self, dtype: str) -> tuple[float, str | None]:
        """The dense peak for `dtype`, and a note when the profile lacks it and another rate is used
        (fp8 weights on an A100 compute at its 16-bit rate)."""
        if dtype in self.peak_flops:
            return self.peak_flops[dtype], None
        for fallback in ("bf16", "fp16", "fp32"):
            if fallback in self.peak_flops:
                return self.peak_flops[fallback], f"{self.name} has no {dtype} peak: its {fallback} peak is used"
        raise ConfigError(f"hardware profile {self.name} gives no peak FLOP/s")  # unreachable: checked on load


def load_hardware(name_or_path: str) -> HardwareProfile:
    """A shipped profile by name (`h100`), or a profile YAML file."""
    key = name_or_path.strip().lower()
    if key in SHIPPED:
        import yaml  # imported when a profile is asked for: `check` without `--hardware` does without it

        text = (resources.files("dagtui.cost") / "hardware" / f"{key}.yaml").read_text(encoding="utf-8")
        return profile_from_data(yaml.safe_load(text), key)
    if not os.path.lexists(name_or_path) and os.sep not in name_or_path and not name_or_path.endswith((".yaml", ".yml")):
        raise ConfigError(f"unknown hardware {name_or_path!r}: give one of {', '.join(SHIPPED)} or a profile YAML file")
    return profile_from_data(load_yaml(name_or_path, "hardware profile"), name_or_path)


def profile_from_data(data: object, where: str) -> HardwareProfile:
    """Check a profile's keys and figures; ConfigError names the first problem."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a hardware profile is a mapping of keys to values")
    unknown = sorted(str(key) for key in data if key not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_REQUIRED + _OPTIONAL)})")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    peaks = data["peak_flops"]
    if not isinstance(peaks, dict) or not peaks:
        raise ConfigError(f"{where}: peak_flops maps data types ({', '.join(DTYPE_BYTES)}) to FLOP/s")
    peak_flops = {}
    for dtype, value in peaks.items():
        if dtype not in DTYPE_BYTES:
            raise ConfigError(f"{where}: peak_flops: unknown data type {dtype!r} (known: {', '.join(DTYPE_BYTES)})")
        peak_flops[dtype] = _figure(where, f"peak_flops.{dtype}", value, "flops", "peak_flops")
    figures = {key: _figure(where, key, data[key], kind, key) for key, kind in _KINDS.items()}
    gpus = data["gpus_per_node"]
    if not (isinstance(gpus, int) and not isinstance(gpus, bool) and 1 <= gpus <= MAX_GPUS_PER_NODE):
        raise ConfigError(f"{where}: gpus_per_node must be an integer from 1 to {MAX_GPUS_PER_NODE}, got {gpus!r}")
    text = {key: data.get(key) for key in _OPTIONAL}
    for key, value in text.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be text")
    name = text["name"] or os.path.splitext(os.path.basename(where))[0]
    return HardwareProfile(
        name=name, description=text["description"] or name, source=text["source"] or where, peak_flops=peak_flops,
        hbm_capacity=int(figures["hbm_capacity"]), hbm_bandwidth=figures["hbm_bandwidth"],
        intra_node_bandwidth=figures["intra_node_bandwidth"], inter_node_bandwidth=figures["inter_node_bandwidth"],
        gpus_per_node=gpus,
    )


def _figure(where: str, key: str, value: object, kind: str, bound: str) -> float:
    try:
        number = parse_quantity(value, kind)
    except UnitError as error:
        raise ConfigError(f"{where}: {key}: {error}") from None
    low, high, unit = _BOUNDS[bound]
    if not low <= number <= high:
        raise ConfigError(f"{where}: {key} is {number:.4g} {unit}, outside what a GPU has ({low:.0e} to {high:.0e})")
    return number
