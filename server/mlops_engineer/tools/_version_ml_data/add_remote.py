"""Action add_remote: a remote's options in .dvc/config, its credentials only in .dvc/config.local."""

from __future__ import annotations

from mlops_engineer.errors import ToolError
from mlops_engineer.runtime import ToolContext
from mlops_engineer.tools._version_ml_data.models import (
    AddRemote,
    RemoteInfo,
    VersionDataInput,
    VersionDataOutput,
)


def run_add_remote(op: AddRemote, inp: VersionDataInput, ctx: ToolContext, base: VersionDataOutput) -> VersionDataOutput:
    from mlops_engineer.engines.dvc import repo as dvc_repo

    url = dvc_repo.parse_remote_url(op.url, ctx.workspace)
    unknown = sorted(set(op.options) - dvc_repo.OPTIONS[url.kind])
    secret_in_options = sorted(set(op.options) & dvc_repo.CREDENTIALS[url.kind])
    if secret_in_options:
        raise ToolError("invalid_input", f"{', '.join(secret_in_options)} are credentials; options end up in git.", "Pass them in credentials instead (kept in .dvc/config.local).")
    if unknown:
        allowed = ", ".join(sorted(dvc_repo.OPTIONS[url.kind])) or "none"
        raise ToolError("invalid_input", f"Unknown option(s) for a {url.kind} remote: {', '.join(unknown)}.", f"Accepted options: {allowed}.")
    bad_creds = sorted(set(op.credentials) - dvc_repo.CREDENTIALS[url.kind])
    if bad_creds:
        allowed = ", ".join(sorted(dvc_repo.CREDENTIALS[url.kind])) or "none"
        raise ToolError("invalid_input", f"Unknown credential(s) for a {url.kind} remote: {', '.join(bad_creds)}.", f"Accepted credentials: {allowed}.")
    base.planned_calls = [
        f"dvc remote add {'-d ' if op.default else ''}{op.name} {url.display}",
        *(f"dvc remote modify {op.name} {k} <value>" for k in sorted(op.options)),  # values with credentials: without them
        *(f"dvc remote modify --local {op.name} {k} ***" for k in sorted({*op.credentials, *dvc_repo.values_with_credentials(url, op.options)})),
    ]
    with dvc_repo.open_repo(ctx.workspace.root) as repo:
        if inp.dry_run:
            return base
        credentials = {k: v.get_secret_value() for k, v in op.credentials.items()}
        change = dvc_repo.configure_remote(repo, op.name, url, dict(op.options), credentials, default=op.default)
        base.remote = RemoteInfo(**vars(change))
    base.next_steps = [f"Push tracked data: action push (remote '{op.name}')."]
    if url.kind != "local":
        from mlops_engineer.optional import installed_version

        plugin = dvc_repo.PLUGINS[url.kind]
        if installed_version(plugin) is None:
            base.next_steps.insert(0, f"Install the DVC plugin before pushing: pip install {plugin}")
    return base
