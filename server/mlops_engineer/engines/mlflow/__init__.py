"""MLflow tracking and registry: the store a call targets, runs, versions and aliases."""
