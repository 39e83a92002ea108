"""The parts of `tools/setup_automl_pipeline.py`: its input and output models, and one module per action."""
