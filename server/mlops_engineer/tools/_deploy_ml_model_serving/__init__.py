"""The parts of `tools/deploy_ml_model_serving.py`: its input and output models, and one module per action."""
