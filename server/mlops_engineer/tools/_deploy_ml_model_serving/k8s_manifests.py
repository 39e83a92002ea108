"""Action k8s_manifests: Deployment, Service, HPA and a Seldon Core v2 Model, validated offline before they are written."""

from __future__ import annotations

from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._deploy_ml_model_serving.build import service_name
from mlops_engineer.tools._deploy_ml_model_serving.models import (
    K8sManifests,
    ManifestInfo,
    ServingInput,
    ServingOutput,
)


def run_k8s_manifests(op: K8sManifests, inp: ServingInput, ctx: ToolContext, out: ServingOutput) -> None:
    from mlops_engineer.engines.serving.k8s_manifests import validate_yaml
    from mlops_engineer.errors import ToolError
    from mlops_engineer.optional import import_optional
    from mlops_engineer.redact import has_credentials, without_credentials
    from mlops_engineer.render import render_template, write_files

    import_optional("kubernetes_validate", "serving")
    if op.max_replicas < op.min_replicas:
        raise ToolError("invalid_input", f"max_replicas ({op.max_replicas}) is below min_replicas ({op.min_replicas}).")
    name = service_name(op.model_uri, op.service_name)
    folder = op.output_dir or f"mlops/serving/{name}/k8s"
    ctx.workspace.resolve(folder)  # refuse a folder outside the workspace before any work
    common = dict(model_uri=op.model_uri, name=name, namespace=op.namespace, image=op.image, min_replicas=op.min_replicas,
                  max_replicas=op.max_replicas, memory_request=op.memory_request)
    files = {f"{folder}/kubernetes.yaml": render_template(
        "serving/kubernetes.yaml.j2", **common, bento_tag=op.image, k8s_version=op.k8s_version, path=f"{folder}/kubernetes.yaml",
        target_cpu_percent=op.target_cpu_percent, cpu_request=op.cpu_request, memory_limit=op.memory_limit)}
    if op.seldon_storage_uri:  # credentials never go into a manifest: Seldon reads them from its storage secret
        files[f"{folder}/seldon-model.yaml"] = render_template("serving/seldon-model.yaml.j2", **common,
                                                               storage_uri=without_credentials(op.seldon_storage_uri))
    for path, text in files.items():
        kinds, problems = validate_yaml(text, op.k8s_version)
        out.manifests.append(ManifestInfo(path=path, kinds=kinds, valid=not problems, problems=problems))
    bad = [p for m in out.manifests for p in m.problems]
    if bad:  # never write a manifest the cluster would refuse
        raise ToolError("invalid_input", "The rendered manifests do not validate: " + "; ".join(bad[:5]), "Check the values passed in.")
    out.files = write_files(ctx.workspace, files, dry_run=inp.dry_run, confirm=inp.confirm)
    out.service_name, out.model_uri = name, op.model_uri
    out.next_steps = [f"kubectl apply -f {folder}/kubernetes.yaml"] + (
        [f"kubectl apply -f {folder}/seldon-model.yaml  (needs Seldon Core v2 and an MLServer with the mlflow requirement)"]
        if op.seldon_storage_uri else ["Pass seldon_storage_uri (the model folder in your bucket) to also render a Seldon Core v2 Model."])
    if op.seldon_storage_uri and has_credentials(op.seldon_storage_uri):
        out.next_steps.append("The credentials in seldon_storage_uri were left out of seldon-model.yaml: give them to Seldon as a "
                              "storage secret (an rclone config in a Kubernetes Secret, see Seldon's storage docs).")
