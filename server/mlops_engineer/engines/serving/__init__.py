"""Model serving: BentoML services, container images, Kubernetes manifests and load measurement."""
