"""The deployment model: from a raw DOT graph to typed nodes, stages and a parallel strategy."""

from __future__ import annotations

import os

from dagtui.dot import read_dot
from dagtui.model.build import build_deployment
from dagtui.model.deployment import Deployment, Stage
from dagtui.model.node import NodeInfo
from dagtui.model.operators import Kind, Op
from dagtui.model.spec import ModelSpec, load_model_spec
from dagtui.model.strategy import Strategy, parse_strategy

__all__ = [
    "Deployment", "Kind", "ModelSpec", "NodeInfo", "Op", "Stage", "Strategy",
    "build_deployment", "load_deployment", "load_model_spec", "parse_strategy",
]


def load_deployment(path: str | os.PathLike[str], strategy: Strategy | None = None) -> Deployment:
    """Read a DOT file and build its deployment model."""
    return build_deployment(read_dot(path), strategy)
