"""Feast: a repository rendered from a typed spec, and the store it is applied to."""
