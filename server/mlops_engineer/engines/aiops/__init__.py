"""Operational metrics: series loading and cleaning, anomaly detectors, forecasters and their plots."""
