"""Theme files (`themes/*.yaml`) turned into Textual themes, and the remembered choice."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_dir
from textual.theme import Theme

from dagtui.errors import ConfigError

THEME_KEYS = {"name", "dark", "primary", "secondary", "accent", "background", "surface", "panel",
              "warning", "error", "success", "foreground"}
DEFAULT_THEME = "dagtui-dark"
# The terminal's own colours (suits ssh and 16-colour terminals): Textual < 1.0 calls it
# `textual-ansi`, later versions `ansi-dark` / `ansi-light`.
ANSI_THEMES = ("textual-ansi", "ansi-dark", "ansi-light")


def themes_folder() -> Path:
    """`themes/` of the source checkout (or DAGTUI_THEMES)."""
    return Path(os.environ.get("DAGTUI_THEMES") or Path(__file__).resolve().parents[3] / "themes")


def load_theme(path: Path) -> Theme:
    """One theme file; unknown keys or a missing name are clear errors."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read theme: {error}") from None
    if not isinstance(data, dict) or "name" not in data or "primary" not in data:
        raise ConfigError(f"{path}: a theme needs at least `name` and `primary`")
    unknown = set(data) - THEME_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown theme key(s) {', '.join(sorted(unknown))}")
    fields: dict[str, Any] = {key: (str(value) if key != "dark" else bool(value)) for key, value in data.items()}
    return Theme(**fields)


def theme_files(folder: Path | None = None) -> list[Path]:
    """The theme files the explorer reads (an export never replaces one)."""
    folder = folder or themes_folder()
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def load_themes(folder: Path | None = None) -> list[Theme]:
    return [load_theme(path) for path in theme_files(folder)]


def _settings_file() -> Path:
    return Path(user_config_dir("dagtui")) / "settings.yaml"


def remembered_theme() -> str | None:
    try:
        data = yaml.safe_load(_settings_file().read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # no settings yet, or unreadable: fall back to the default theme
    return data.get("theme") if isinstance(data, dict) else None


def remember_theme(name: str) -> None:
    """Store the choice; a read-only config dir is not worth interrupting the user for."""
    path = _settings_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"theme": name}), encoding="utf-8")
    except OSError:
        return
