"""What a review runs with, resolved once for every command and the explorer: `dagtui.yaml`, then
the command line's `--model`, `--strategy`, `--hardware`, `--select`, `--ignore` and `--fail-on`
over it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dagtui.config import load_config
from dagtui.errors import ConfigError
from dagtui.model.spec import ModelSpec, load_model_spec
from dagtui.model.strategy import Strategy, parse_strategy
from dagtui.validate import CATEGORIES, RULES, RuleSelection

if TYPE_CHECKING:
    from dagtui.cost.hardware import HardwareProfile

FAIL_ON = ("error", "warning", "never")


@dataclass(frozen=True)
class Settings:
    """The model spec (for checks against the model), a strategy that overrides the files', the
    GPU the memory rules and the cost model judge by, the rules to run and their severities, the
    severity that fails `check`; and where the spec, the GPU profile and the config came from."""

    spec: ModelSpec | None = None
    strategy: Strategy | None = None
    hardware: HardwareProfile | None = None
    selection: RuleSelection = field(default_factory=RuleSelection)
    fail_on: str = "error"
    model_path: str | None = None
    hardware_source: str | None = None  # a shipped profile's name or a profile YAML file
    config_file: str | None = None


def load_settings(model: str | None = None, strategy: str | None = None, hardware: str | None = None,
                  select: Sequence[str] = (), ignore: Sequence[str] = (), fail_on: str | None = None,
                  folder: Path | None = None) -> Settings:
    """`dagtui.yaml` from `folder` (the current folder by default), each option given here in
    place of the file's; raises `DagtuiError` for a malformed file, spec, strategy or GPU profile,
    or a rule code or category that does not exist."""
    config = load_config(folder)
    model_path = model or config.model
    strategy_text = strategy or config.strategy
    spec = load_model_spec(model_path) if model_path else None
    override = parse_strategy(strategy_text) if strategy_text else None
    hardware_source = hardware or config.hardware
    profile = None
    if hardware_source:
        from dagtui.cost import load_hardware  # the cost model, for the commands that ask for a GPU

        profile = load_hardware(hardware_source)
    selection = RuleSelection(select=list(select) or config.select, ignore=list(ignore) or config.ignore,
                              severities=config.severity)
    unknown = [code for code in selection.select + selection.ignore if not _known_code(code)]
    if unknown:
        raise ConfigError(f"unknown rule or category: {', '.join(unknown)} (see `dagtui rules`)")
    chosen_fail_on = fail_on or config.fail_on or "error"
    if chosen_fail_on not in FAIL_ON:
        raise ConfigError(f"fail-on must be one of {', '.join(FAIL_ON)}, not {chosen_fail_on!r}")
    return Settings(spec, override, profile, selection, chosen_fail_on, model_path, hardware_source, config.path)


def _known_code(code: str) -> bool:
    return code.lower() in CATEGORIES or any(rule.startswith(code.upper()) for rule in RULES)
