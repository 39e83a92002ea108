"""What every stack we render must hold, checked on any Compose document.

- every long-running service has a healthcheck that is not disabled;
- every `depends_on` waits on a condition: `service_healthy` for a service, and
  `service_completed_successfully` for a one-shot job (`restart: "no"`, which needs no healthcheck);
- a job outside any profile is waited for by some service (`docker compose up --wait` counts an
  exited container nobody depends on as a failure, exit code 0 or not);
- volumes mounted by name are declared at the top level (named volumes, never anonymous ones);
- no secret value is written in the file: an environment entry whose name says password, secret,
  token or key holds a `${VAR}` reference, read from `.env`.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|ACCESS_KEY)", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}$")


def is_job(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "")) == "no"


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, None) for item in map(str, env))
    return dict(env)


def findings(document: dict[str, Any]) -> list[str]:
    """Policy violations as `services.<name>: <what>` lines (empty when the document complies)."""
    out: list[str] = []
    services: dict[str, Any] = document.get("services") or {}
    declared = set((document.get("volumes") or {}).keys())
    for name, service in services.items():
        service = service or {}
        health = service.get("healthcheck") or {}
        if not is_job(service) and (not health.get("test") or health.get("disable") or health.get("test") == ["NONE"]):
            out.append(f"services.{name}: no healthcheck (add one that works inside its image)")
        depends = service.get("depends_on") or {}
        if isinstance(depends, list):
            out += [f"services.{name}.depends_on.{d}: no condition (use condition: service_healthy)" for d in depends]
        else:
            for dep, spec in depends.items():
                wanted = "service_completed_successfully" if is_job(services.get(dep) or {}) else "service_healthy"
                got = (spec or {}).get("condition", "service_started")
                if got != wanted:
                    out.append(f"services.{name}.depends_on.{dep}: condition is {got}, expected {wanted}")
        if is_job(service) and not service.get("profiles") and not _adopted(name, services):
            out.append(f"services.{name}: a one-shot job no service waits for (depend on it with service_completed_successfully, or give it a profile)")
        for volume in service.get("volumes") or []:
            kind, source = _volume_kind(volume)
            if kind == "anonymous":
                out.append(f"services.{name}.volumes: anonymous volume {volume!r} (name it and declare it under volumes)")
            elif kind == "volume" and source not in declared:
                out.append(f"services.{name}.volumes: volume {source!r} is not declared under top-level volumes")
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key) and value not in (None, "") and not REFERENCE.match(str(value)):
                out.append(f"services.{name}.environment.{key}: a literal secret (use ${{{key}}} and put the value in .env)")
    return out


def _volume_kind(volume: Any) -> tuple[str, str]:
    """("bind" | "volume" | "anonymous" | other type, source) of one service volume entry."""
    if isinstance(volume, dict):
        kind, source = str(volume.get("type", "volume")), str(volume.get("source") or "")
        return ("anonymous", "") if kind == "volume" and not source else (kind, source)
    parts = str(volume).split(":")
    if len(parts) == 1:
        return "anonymous", ""
    return ("bind" if parts[0][:1] in "./~$" else "volume"), parts[0]


def _adopted(job: str, services: dict[str, Any]) -> bool:
    for service in services.values():
        depends = (service or {}).get("depends_on") or {}
        if isinstance(depends, dict) and (depends.get(job) or {}).get("condition") == "service_completed_successfully":
            return True
    return False
