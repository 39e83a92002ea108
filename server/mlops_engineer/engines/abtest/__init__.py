"""A/B tests: design, assignment, the router service, its log and the analysis."""
