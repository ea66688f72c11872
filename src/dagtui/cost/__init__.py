"""The cost model: what a deployment costs per GPU (weights, KV cache, activations, FLOPs, bytes
moved by each collective, pipeline bubble, roofline times), from a model spec, the strategy the
DAG shows and a hardware profile. Pure functions over dataclasses; every formula is in
`formulas.py` and, with its source and a worked example, in `docs/cost-model.md`.

Layering: this package reads `dagtui.model` only; the memory rules (`validate/memory.py`), the
comparison (`compare.py`) and the reports use it.
"""

from dagtui.cost.estimate import PARTS, CostEstimate, StageCost, Unavailable, estimate, estimate_deployment
from dagtui.cost.hardware import SHIPPED, HardwareProfile, load_hardware
from dagtui.cost.nodes import NodeCost, node_cost, node_costs

__all__ = [
    "PARTS", "SHIPPED", "CostEstimate", "HardwareProfile", "NodeCost", "StageCost", "Unavailable", "estimate",
    "estimate_deployment", "load_hardware", "node_cost", "node_costs",
]
