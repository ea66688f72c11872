"""Every rule on its own fixtures, kept as ruff keeps them: `tests/rules/<CODE>/` holds `bad_*.dot`
files that must raise the rule and `good_*.dot` files that must not (and must load), and
`expected.yaml` says, for each bad file, the findings expected: severity, nodes they name (any
order, all of them) and fragments of the message. An optional `model:` mapping in `expected.yaml`
is the `--model` spec the files are checked with, and a `models:` mapping gives one per file;
`hardware:` (a shipped profile's name) and `hardwares:` (one per file) are the `--hardware`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagtui.cost import load_hardware
from dagtui.model.spec import ModelSpec
from dagtui.review import review_file
from dagtui.validate import RULES

FIXTURES = Path(__file__).parent / "rules"


def _cases() -> list[tuple[str, Path]]:
    return [(folder.name, dot) for folder in sorted(FIXTURES.iterdir()) if folder.is_dir()
            for dot in sorted(folder.glob("*.dot"))]


def _expected(code: str) -> dict:
    path = FIXTURES / code / "expected.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.is_file() else {}


@pytest.mark.parametrize("code, path", _cases(), ids=lambda value: value if isinstance(value, str) else value.name)
def test_rule_fixture(code, path):
    expected = _expected(code)
    model = (expected.get("models") or {}).get(path.name, expected.get("model"))
    spec = ModelSpec(**model) if model else None
    hardware = (expected.get("hardwares") or {}).get(path.name, expected.get("hardware"))
    review = review_file(path, spec, hardware=load_hardware(hardware) if hardware else None)
    assert review.error is None, review.error
    if code != "SYN001":
        assert review.deployment is not None, [f.message for f in review.findings]  # the file loaded
    found = [f for f in review.findings if f.rule == code]
    if path.name.startswith("good_"):
        assert found == [], [f.message for f in found]
        return
    wanted = expected.get(path.name)
    assert wanted, f"{path.name}: no expected findings in {code}/expected.yaml"
    assert len(found) == len(wanted), [f"{f.severity.value}: {f.message}" for f in found]
    for want in wanted:
        match = [f for f in found if f.severity.value == want["severity"]
                 and set(want.get("nodes", [])) <= set(f.nodes)
                 and all(fragment in f.message for fragment in want.get("message", []))]
        assert match, f"no {want} among {[(f.severity.value, f.nodes, f.message) for f in found]}"


@pytest.mark.parametrize("code", sorted(RULES))
def test_every_rule_has_bad_and_good_fixtures(code):
    folder = FIXTURES / code
    assert folder.is_dir(), f"tests/rules/{code}/ is missing"
    assert list(folder.glob("bad_*.dot")) and list(folder.glob("good_*.dot")), code
    assert set(_expected(code)) - {"model", "models", "hardware", "hardwares"} == {p.name for p in folder.glob("bad_*.dot")}
