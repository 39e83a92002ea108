"""The remote a call names, checked against the configured ones, and a configured remote as RemoteInfo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_engineer.errors import ToolError
from mlops_engineer.tools._version_ml_data.models import RemoteInfo

if TYPE_CHECKING:
    from dvc.repo import Repo

    from mlops_engineer.workspace import Workspace


def checked_remote(repo: Repo, name: str | None, workspace: Workspace) -> str:
    """The remote to use (named, else the default): configured, and inside the workspace when local."""
    from mlops_engineer.engines.dvc.repo import confine_remote, default_remote, remotes

    configured = remotes(repo)
    chosen = name or default_remote(repo)
    if not chosen:
        raise ToolError("invalid_input", "No default DVC remote is configured.", "Add one with action add_remote (or init), or pass remote.")
    if chosen not in configured:
        raise ToolError("not_found", f"No DVC remote named '{chosen}'; configured: {', '.join(sorted(configured)) or 'none'}.", "Add it with action add_remote.")
    confine_remote(repo, chosen, workspace)
    return chosen


def remote_info(repo: Repo, name: str, settings: dict[str, Any], default: str | None) -> RemoteInfo:
    from mlops_engineer.engines.dvc.repo import CREDENTIALS, SCHEMES

    url = str(settings.get("url", ""))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    kind = SCHEMES.get(scheme, "local")
    local = repo.config.read("local").get("remote", {}).get(name, {})
    return RemoteInfo(
        name=name, kind=kind, url=url, default=name == default,
        options={k: v for k, v in settings.items() if k != "url" and k not in CREDENTIALS[kind]},
        credentials_set=sorted(local),
    )
