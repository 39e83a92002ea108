"""Where MLflow lives for a call (embedded SQLite store or a tracking server) and a client for it.

Embedded mode keeps everything in the workspace: `.mlops/mlflow.db` for runs
and the registry, `.mlops/mlartifacts/` for artifacts. A tracking URI given in
the call or in the settings switches to team mode; a local one (`sqlite:`,
`file:`, a path) is confined to the workspace like every other path.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
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
_PREPARED: set[str] = set()
_PREPARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class MlflowTarget:
    tracking_uri: str
    registry_uri: str
    mode: Literal["embedded", "server"]
    artifact_root: Path | None  # only for a SQLite store: where new experiments keep artifacts
    workspace: Workspace | None = field(default=None, compare=False)

    @property
    def display_uri(self) -> str:
        return redact_text(self.tracking_uri)


def resolve_target(workspace: Workspace, settings: Settings, tracking_uri: str | None = None) -> MlflowTarget:
    """Call input beats settings beats the embedded default.

    A local store (`sqlite:`, `file:`, a bare path) is confined like every path: a relative one
    resolves against the workspace, an absolute one outside it is refused. A SQLite store keeps
    new experiments' artifacts in `.mlops/mlartifacts`, never MLflow's default `./mlruns` in the
    server's working folder.
    """
    uri = tracking_uri or settings.tracking_uri
    if not uri:
        db = workspace.state_dir / EMBEDDED_DB
        db.parent.mkdir(parents=True, exist_ok=True)
        embedded = f"sqlite:///{db}"
        return MlflowTarget(embedded, embedded, "embedded", workspace.state_dir / EMBEDDED_ARTIFACTS, workspace)
    registry = settings.registry_uri
    registry = _confined(workspace, registry) if registry and _is_local(registry) else registry
    if not _is_local(uri):
        return MlflowTarget(uri, registry or uri, "server", None, workspace)
    uri = _confined(workspace, uri)
    sqlite = uri.lower().startswith("sqlite")
    return MlflowTarget(uri, registry or uri, "embedded", workspace.state_dir / EMBEDDED_ARTIFACTS if sqlite else None, workspace)


def _is_local(uri: str) -> bool:
    return uri.lower().startswith(("sqlite", "file:")) or ("://" not in uri and uri != "databricks")


def _confined(workspace: Workspace, uri: str) -> str:
    """A local store URI inside the workspace (its folder created), absolute."""
    path = workspace.uri_path(uri)
    if path is not None and uri.lower().startswith("sqlite"):
        path.parent.mkdir(parents=True, exist_ok=True)
    return workspace.resolve_uri(uri)


def _prepare_store(target: MlflowTarget) -> None:
    """Create a new SQLite store with our artifact root, before any client opens it.

    The first client to open an empty database creates the Default experiment (id 0), with its
    artifacts under the artifact root that client was given: MlflowClient gives none, and MLflow
    then uses ./mlruns in the server's working folder. Opening the store once ourselves puts the
    Default experiment's artifacts in the workspace. Once per database and process.
    """
    if target.artifact_root is None or not target.tracking_uri.lower().startswith("sqlite"):
        return
    database = target.workspace.uri_path(target.tracking_uri) if target.workspace else None
    with _PREPARED_LOCK:
        if target.tracking_uri in _PREPARED and (database is None or database.exists()):
            return
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        SqlAlchemyStore(target.tracking_uri, target.artifact_root.as_uri())
        _PREPARED.add(target.tracking_uri)


def confine_artifacts(target: MlflowTarget, experiment: Any) -> None:
    """Refuse to log into an experiment whose artifacts would land outside the workspace: a
    local artifact location elsewhere (an old store's Default experiment at <cwd>/mlruns/0, a
    server started with a local --default-artifact-root and --no-serve-artifacts)."""
    location = str(getattr(experiment, "artifact_location", "") or "")
    if not location or target.workspace is None:
        return
    try:
        target.workspace.uri_path(location)
    except ToolError as exc:
        if exc.code != "outside_workspace":
            raise
        raise ToolError(
            "outside_workspace",
            f"The experiment '{experiment.name}' keeps its artifacts at {location}, outside the workspace "
            f"{target.workspace.root}; logging there would write outside it.",
            "Log to another experiment (a new one keeps its artifacts in the workspace), or use a tracking "
            "server that serves artifacts itself (mlflow server --artifacts-destination ...).",
        ) from exc


def make_client(target: MlflowTarget) -> MlflowClient:
    from mlops_engineer.locks import store_init_lock

    mlflow = import_optional("mlflow", "tracking")
    # The client opens the store at once; a fresh SQLite store then creates its tables, which two
    # processes (or threads) must not do together ("duplicate column name", "table ... exists").
    with store_init_lock(target.tracking_uri):
        _prepare_store(target)
        return mlflow.MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.registry_uri)


@contextlib.contextmanager
def fluent(target: MlflowTarget) -> Iterator[Any]:
    """The `mlflow` module pointed at `target`, for the APIs that exist only in fluent form."""
    mlflow = import_optional("mlflow", "tracking")
    import mlflow.tracking._model_registry.utils as registry_state
    import mlflow.tracking._tracking_service.utils as tracking_state

    _prepare_store(target)
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


# Database stores MLflow opens itself, and their default ports.
_DATABASE_PORTS = {"postgresql": 5432, "postgres": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}


def check_reachable(target: MlflowTarget, timeout: float = 3.0) -> None:
    """Fail fast with `backend_unreachable` instead of MLflow's minutes of retries: a tracking
    server must answer /health, a database store (postgresql://, mysql://, mssql://) accept a
    connection on its port."""
    if target.mode != "server":
        return
    scheme = target.tracking_uri.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _DATABASE_PORTS:
        _check_database(target, _DATABASE_PORTS[scheme], timeout)
        return
    if scheme not in ("http", "https"):
        return
    import urllib.error
    import urllib.request

    from mlops_engineer.redact import without_credentials

    # /health needs no credentials, and urllib cannot read them from the URL anyway.
    url = without_credentials(target.tracking_uri).rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - the user's own server
            return
    except urllib.error.HTTPError:
        return  # it answered; auth or routing is MLflow's to report
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable(target) from exc


def _check_database(target: MlflowTarget, default_port: int, timeout: float) -> None:
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(target.tracking_uri)
        host, port = parts.hostname, parts.port or default_port
    except ValueError:
        return  # MLflow reports a malformed URL itself
    if not host:
        return  # a local socket (postgresql:///db?host=/run/postgresql): nothing to probe by TCP
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise ToolError(
            "backend_unreachable",
            f"The MLflow database store at {target.display_uri} does not accept connections ({exc.strerror or exc}).",
            "Start the database (or fix host and port in tracking_uri), or omit tracking_uri to use the embedded store.",
        ) from exc
