"""Hyperparameter tuning: search spaces, objectives, Optuna studies and Ray Tune runs, tracked in MLflow."""
