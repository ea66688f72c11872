"""`dagtui generate`: correct reference DAGs for a model and a strategy (as data, then DOT), in
any of the house styles real files are written in."""

from dagtui.generate.builder import generate, make_plan
from dagtui.generate.graph import GenCluster, GenEdge, GenGraph, GenNode, to_dot
from dagtui.generate.style import HOUSE_STYLES, NAMING_STYLES, HouseStyle, Place

__all__ = [
    "HOUSE_STYLES", "NAMING_STYLES", "GenCluster", "GenEdge", "GenGraph", "GenNode", "HouseStyle", "Place", "generate",
    "make_plan", "to_dot",
]
