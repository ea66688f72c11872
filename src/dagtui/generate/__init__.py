"""`dagtui generate`: correct reference DAGs for a model and a strategy (as data, then DOT)."""

from dagtui.generate.builder import NAMING_STYLES, generate, make_plan
from dagtui.generate.graph import GenEdge, GenGraph, GenNode, to_dot

__all__ = ["NAMING_STYLES", "GenEdge", "GenGraph", "GenNode", "generate", "make_plan", "to_dot"]
