"""DVC: the repository and its pipelines (dvc.yaml from typed stages)."""
