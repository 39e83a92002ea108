"""The parts of `tools/review_data_analysis.py`: `review` runs an action and writes its files."""
