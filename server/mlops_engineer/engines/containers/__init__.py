"""Container engines: the Dockerfile parser, build-cache audit, rewrite and measurement."""
