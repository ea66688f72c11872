"""Shared fixtures: paths to the samples and corpus, and helpers that load DOT text written in a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagtui.model import Deployment, ModelSpec, load_deployment, load_model_spec
from dagtui.review import Review, review_file


@pytest.fixture
def write_dot(tmp_path):
    """Write DOT text to a file in tmp_path and return its path."""
    counter = iter(range(10_000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"g{next(counter)}.dot")
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def deploy(write_dot):
    """Load DOT text into a Deployment."""

    def load(text: str) -> Deployment:
        return load_deployment(write_dot(text))

    return load


@pytest.fixture
def check(write_dot):
    """Review DOT text; returns the Review (findings included)."""

    def run(text: str, spec: ModelSpec | None = None) -> Review:
        return review_file(write_dot(text), spec)

    return run


@pytest.fixture(scope="session")
def sample_spec() -> ModelSpec:
    return load_model_spec(Path(__file__).resolve().parent.parent / "samples" / "model.yaml")
