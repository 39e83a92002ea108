"""Parts of the commit_changes tool: models and one module per pair of close actions."""
