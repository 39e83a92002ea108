"""Where MLflow lives for a call (embedded SQLite store or a tracking server) and a client for it.

Embedded mode keeps everything in the workspace: `.mlops/mlflow.db` for runs
and the registry, `.mlops/mlartifacts/` for artifacts. A tracking URI given in
the call or in the settings switches to team mode.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.redact import redact_text
from mlops_engineer.workspace import Workspace

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops_engineer.settings import Settings

# The input field every MLflow-backed tool shares.
TrackingUri = Annotated[
    str | None,
    Field(description="MLflow tracking URI for team mode, e.g. http://mlflow:5000. "
          "Omit for the embedded SQLite store in the workspace (.mlops/mlflow.db)."),
]

EMBEDDED_DB = "mlflow.db"
EMBEDDED_ARTIFACTS = "mlartifacts"

# MLflow's fluent API (needed to log a model) keeps the tracking URI in a
# process global; calls that touch it take this lock so two tools never mix
# their backends.
_FLUENT_LOCK = threading.Lock()


@dataclass(frozen=True)
class MlflowTarget:
    tracking_uri: str
    registry_uri: str
    mode: Literal["embedded", "server"]
    artifact_root: Path | None  # only in embedded mode: where new experiments keep artifacts

    @property
    def display_uri(self) -> str:
        return redact_text(self.tracking_uri)


def resolve_target(workspace: Workspace, settings: Settings, tracking_uri: str | None = None) -> MlflowTarget:
    """Call input beats settings beats the embedded default."""
    uri = tracking_uri or settings.tracking_uri
    if uri:
        local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
        return MlflowTarget(uri, settings.registry_uri or uri, "embedded" if local else "server", None)
    db = workspace.state_dir / EMBEDDED_DB
    db.parent.mkdir(parents=True, exist_ok=True)
    embedded = f"sqlite:///{db}"
    return MlflowTarget(embedded, embedded, "embedded", workspace.state_dir / EMBEDDED_ARTIFACTS)


def make_client(target: MlflowTarget) -> MlflowClient:
    from mlops_engineer.locks import store_init_lock

    mlflow = import_optional("mlflow", "tracking")
    # The client opens the store at once; a fresh SQLite store then creates its tables, which two
    # processes (or threads) must not do together ("duplicate column name", "table ... exists").
    with store_init_lock(target.tracking_uri):
        return mlflow.MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.registry_uri)


@contextlib.contextmanager
def fluent(target: MlflowTarget) -> Iterator[Any]:
    """The `mlflow` module pointed at `target`, for the APIs that exist only in fluent form."""
    mlflow = import_optional("mlflow", "tracking")
    import mlflow.tracking._model_registry.utils as registry_state
    import mlflow.tracking._tracking_service.utils as tracking_state

    with _FLUENT_LOCK:
        # set_tracking_uri/set_registry_uri change module globals *and* export
        # MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI; put all four back afterwards, so
        # no later client (or our own settings) inherits this call's backend.
        saved_globals = (tracking_state._tracking_uri, registry_state._registry_uri)
        saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        mlflow.set_tracking_uri(target.tracking_uri)
        mlflow.set_registry_uri(target.registry_uri)
        try:
            yield mlflow
        finally:
            tracking_state._tracking_uri, registry_state._registry_uri = saved_globals
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def translate_errors(target: MlflowTarget) -> Iterator[None]:
    """Map MLflow's exceptions to ToolErrors that say what to do."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except ToolError:
        raise
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        text = redact_text(str(getattr(exc, "message", exc)))
        if code == "RESOURCE_DOES_NOT_EXIST":
            raise ToolError("not_found", text, "Check the name, id or version; `describe`/`compare_runs` list what exists.") from exc
        if code == "RESOURCE_ALREADY_EXISTS":
            raise ToolError("conflict", text) from exc
        if code == "INVALID_PARAMETER_VALUE":
            raise ToolError("invalid_input", text) from exc
        if _looks_unreachable(text):
            raise _unreachable(target) from exc
        raise ToolError("failed", text, "See the MLflow message above.") from exc
    except (ConnectionError, OSError) as exc:
        if _looks_unreachable(str(exc)):
            raise _unreachable(target) from exc
        raise


def _looks_unreachable(text: str) -> bool:
    lowered = text.lower()
    return any(s in lowered for s in ("connection refused", "max retries", "failed to establish", "name or service not known", "timed out"))


def _unreachable(target: MlflowTarget) -> ToolError:
    return ToolError(
        "backend_unreachable",
        f"The MLflow tracking server at {target.display_uri} does not answer.",
        "Start it (`mlflow server --host 127.0.0.1 --port 5000 ...`, or the rendered "
        "mlops/tracking/docker-compose.yml), or omit tracking_uri to use the embedded store.",
    )


def check_reachable(target: MlflowTarget, timeout: float = 3.0) -> None:
    """Fail fast with `backend_unreachable` instead of MLflow's minutes of retries."""
    if target.mode != "server" or not target.tracking_uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    url = target.tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - the user's own server
            return
    except urllib.error.HTTPError:
        return  # it answered; auth or routing is MLflow's to report
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable(target) from exc
