"""Compose files: the YAML reader, schema and policy checks, the typed stack renderer, the `docker compose` CLI."""
