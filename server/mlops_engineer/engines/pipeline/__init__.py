"""ML pipelines: one typed spec rendered for Prefect, Airflow and DVC, checked, and run by Prefect."""
