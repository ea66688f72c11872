"""`dagtui.yaml` in the current folder: rule selection, severities, model spec path, hardware
profile, fail-on level."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dagtui.errors import ConfigError
from dagtui.input_files import load_yaml
from dagtui.validate import RULES, Severity

CONFIG_NAME = "dagtui.yaml"
_KEYS = {"select", "ignore", "severity", "model", "fail_on", "strategy", "hardware"}


@dataclass
class Config:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, Severity] = field(default_factory=dict)
    model: str | None = None
    fail_on: str | None = None
    strategy: str | None = None
    hardware: str | None = None  # a shipped profile's name or a profile YAML (relative to the config)
    path: str | None = None


def _codes(value: object, key: str, path: Path) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: `{key}` must be a list of rule codes or categories")
    return value


def load_config(folder: Path | None = None) -> Config:
    """Read `dagtui.yaml` from `folder` (default: the current folder); no file means defaults."""
    path = (folder or Path.cwd()) / CONFIG_NAME
    if not os.path.lexists(path):
        return Config()
    data = load_yaml(path, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(map(str, unknown)))} (known: {', '.join(sorted(_KEYS))})")
    config = Config(path=str(path))
    config.select = _codes(data.get("select", []), "select", path)
    config.ignore = _codes(data.get("ignore", []), "ignore", path)
    severity = data.get("severity", {}) or {}
    if not isinstance(severity, dict):
        raise ConfigError(f"{path}: `severity` maps rule codes to error, warning or info")
    for code, level in severity.items():
        if code not in RULES:
            raise ConfigError(f"{path}: `severity` names unknown rule {code!r}")
        try:
            config.severity[code] = Severity(str(level))
        except ValueError:
            raise ConfigError(f"{path}: severity of {code} must be error, warning or info, not {level!r}") from None
    for key in ("model", "fail_on", "strategy", "hardware"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{path}: `{key}` must be a string")
        setattr(config, key, value)
    if config.model and not Path(config.model).is_absolute():
        config.model = str(path.parent / config.model)
    if config.hardware and config.hardware.endswith((".yaml", ".yml")) and not Path(config.hardware).is_absolute():
        config.hardware = str(path.parent / config.hardware)
    if config.fail_on and config.fail_on not in ("error", "warning", "never"):
        raise ConfigError(f"{path}: `fail_on` must be error, warning or never")
    return config
