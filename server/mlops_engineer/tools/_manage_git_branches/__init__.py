"""The parts of `tools/manage_git_branches.py`: its input and output models, and one module per action (list and cleanup share one)."""
