"""create_r_dockerfile's parts: models, the render plan, the build."""
