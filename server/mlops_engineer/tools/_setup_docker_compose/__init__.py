"""The parts of `tools/setup_docker_compose.py`: its models, and one module per action (or close pair)."""
