"""The parts of `tools/review_software_architecture.py`: its models, the review, and the contracts."""
