"""Demo step: the champion's service as a container, from our rendered Dockerfile: build the image,
run it on 127.0.0.1, send it a request (the smoke test: a sample answers 200, a malformed one 400), and
remove it. With no Docker engine (or one that cannot build it) the step prints the commands it would run.

The base image: `local/debian:bookworm` with Python installed in the build when the engine has that
image (an engine that reaches no registry), else the default `python:3.11-slim`. When PIP_CERT is set,
pip in the build trusts the same CA bundle.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlops_engineer.demos import DemoSession
from mlops_engineer.errors import ToolError

DEBIAN = "local/debian:bookworm"


def run(session: DemoSession) -> None:
    call, say, facts = session.call, session.say, session.facts
    uri = f"models:/{facts['model']}@champion"
    say("\ncontainer of the champion's service")
    engine = _engine()
    base = DEBIAN if engine is not None and engine.images.list(name=DEBIAN) else "python:3.11-slim"
    operation = {"action": "containerize", "model_uri": uri, "base_image": base, "install_python": base == DEBIAN,
                 "host_ca_bundle": bool(os.environ.get("PIP_CERT")), "image_tag": f"{facts['serving_name']}:demo"}
    if engine is not None:
        try:
            out = call("deploy_ml_model_serving", operation)
        except ToolError as error:  # a base it cannot pull, a build without network: say so, show the commands
            say(f"the Docker engine could not build or run it: {error.message.splitlines()[0]}")
        else:
            ran, smoke = out.container, out.container.smoke
            say(f"image {out.image.tag} ({'built' if out.image.built else 'already built'}, {out.image.size_mb} MB) FROM {base}")
            say(f"ran it as {ran.name} on {ran.url} ({ran.network} network), ready in {ran.startup_seconds:g} s")
            say(f"POST /predict: sample -> {smoke.sample_status} {smoke.sample_prediction} in {smoke.sample_ms} ms, "
                f"malformed -> {smoke.malformed_status}; container stopped and removed: {ran.removed}")
            session.where("container image", out.image.tag)
            return
    else:
        say("no Docker engine answers (DOCKER_HOST, /var/run/docker.sock): the commands it would run")
        try:  # renders the Dockerfile, then stops at the missing engine
            call("deploy_ml_model_serving", {**operation, "host_ca_bundle": False})
        except ToolError as error:
            if error.code not in ("backend_unreachable", "missing_dependency"):
                raise
    _print_commands(session, operation["image_tag"])


def _print_commands(session: DemoSession, tag: str) -> None:
    """The serving step left the bento's tag and folder in the facts; the call above rendered the Dockerfile."""
    import pandas as pd

    from mlops_engineer.engines.serving.bentoml_service import bento_dir

    facts = session.facts
    row = json.loads(pd.read_csv(session.workspace.resolve(facts["test_csv"]))[facts["features"]].head(1).to_json(orient="records"))
    name = f"{facts['serving_name']}-demo"
    dockerfile = session.root / facts["serving_dir"] / "Dockerfile"
    for line in (
        session.command("docker", "build", "--network", "host", "-t", tag, "-f", dockerfile, bento_dir(session.workspace, facts['bento_tag'])),
        session.command("docker", "run", "-d", "--name", name, "-p", "127.0.0.1:3000:3000", tag),
        session.command("curl", "-s", "-X", "POST", "http://127.0.0.1:3000/predict", "-H", "Content-Type: application/json",
                        "-d", json.dumps({"rows": row})),
        session.command("docker", "rm", "-f", name),
    ):
        session.say(f"  {line}")
    session.where("container Dockerfile", dockerfile)


def _engine() -> Any:
    """A Docker SDK client when an engine answers within a few seconds; None otherwise (or without the SDK)."""
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        return None
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:  # no SDK, no engine, a refused socket: the commands are printed instead
        return None
    return client
