"""Drift: per-feature statistics, mergeable summaries for partitions, and Evidently reports."""
