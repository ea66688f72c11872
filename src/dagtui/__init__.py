"""dagtui: review LLM deployment DAGs (Graphviz DOT) in the terminal and in CI."""

__version__ = "0.1.0"
