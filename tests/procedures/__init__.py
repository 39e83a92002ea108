"""Runs the runnable code blocks of each SKILL.md (see docs/runnable-procedures.md)."""
