"""mlops-engineer: MLOps skills for people and agents, and an MCP server that automates them."""

__version__ = "0.1.0"
