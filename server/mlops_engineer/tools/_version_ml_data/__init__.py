"""The parts of `tools/version_ml_data.py`: its input and output models, and one module per action."""
