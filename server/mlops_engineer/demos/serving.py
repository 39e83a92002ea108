"""Demo step: serve the champion with BentoML on a free loopback port, smoke-test it, measure it, stop it."""

from __future__ import annotations

from mlops_engineer.demos import DemoSession
from mlops_engineer.engines.serving.bentoml_service import BENTOML_HOME


def run(session: DemoSession) -> None:
    call, say = session.call, session.say
    uri = f"models:/{session.facts['model']}@champion"
    served = call("deploy_ml_model_serving", {"action": "serve", "model_uri": uri, "load_requests": 60, "load_concurrency": 4})
    state = "already running" if served.deployment.already_running else "started"
    say(f"serving {uri} as bento {served.bento_tag} on {served.deployment.url} ({state})")
    say(f"request schema from the signature: {', '.join(f'{f.name}:{f.type}' for f in served.request_schema)}")
    smoke = served.smoke
    say(f"smoke test: sample -> {smoke.sample_status} {smoke.sample_prediction}, malformed -> {smoke.malformed_status}")
    load = served.load
    say(f"load ({load.requests} requests, {load.concurrency} clients): p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, "
        f"{load.requests_per_second:.0f} req/s, {load.errors} errors")
    call("deploy_ml_model_serving", {"action": "stop", "name": served.service_name})
    left = call("deploy_ml_model_serving", {"action": "list"}).deployments
    say(f"stopped {served.service_name}; local deployments left: {len(left)}")
    session.facts.update(bento_tag=served.bento_tag, serving_dir=served.build_dir, serving_name=served.service_name)
    session.where("bento service", session.root / served.build_dir / "service.py")
    session.where("serve again", session.command("bentoml", "serve", served.bento_tag, "--port", "3000",
                                                 env={"BENTOML_HOME": str(session.workspace.state_dir / BENTOML_HOME)}))
