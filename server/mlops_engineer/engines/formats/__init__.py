"""Data formats: open any supported file as Arrow batches, write them back out, report what a conversion loses."""
