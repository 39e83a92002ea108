"""A Label Studio server through `label-studio-sdk` 2.x: connection, projects, tasks.

The URL and API key come from the call or from LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY.
The key is never put in an output or an error: messages name the server by its URL with
any userinfo removed. Legacy tokens (40 hex characters) and personal access tokens (JWT
refresh tokens, which the SDK exchanges itself) both work.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.redact import redact_text, without_credentials

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
PAGE_SIZE = 100  # tasks per request; every page is read, whatever the project holds
TIMEOUT = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    api_key: str

    @property
    def display_url(self) -> str:
        return without_credentials(self.url)


def server_from(url: str | None, api_key: str | None) -> Server:
    """The call's URL and key, else the environment's; a clear error when either is missing."""
    url = (url or os.environ.get(URL_ENV) or "").strip()
    api_key = (api_key or os.environ.get(KEY_ENV) or "").strip()
    if not url:
        raise ToolError("invalid_input", "No Label Studio server: give `url` or set LABEL_STUDIO_URL.",
                        "Start one with `label-studio start --no-browser` (PyPI label-studio, in its own environment), "
                        "then set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (Account & Settings > Access Token).")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError("invalid_input", f"`url` must be an http(s) URL, not {redact_text(url)!r}.", "e.g. http://127.0.0.1:8080")
    if parts.username or parts.password:
        raise ToolError("invalid_input", "Put the Label Studio API key in `api_key` or LABEL_STUDIO_API_KEY, not in the URL.",
                        "Use the URL without user:password@.")
    if not api_key:
        raise ToolError("invalid_input", "No Label Studio API key: give `api_key` or set LABEL_STUDIO_API_KEY.",
                        "Copy it from Label Studio: Account & Settings > Access Token (or Legacy Token).")
    return Server(url.rstrip("/"), api_key)


def connect(server: Server) -> Any:
    """An SDK client, after checking that the server answers /health."""
    import httpx

    sdk = import_optional("label_studio_sdk", "labeling")
    try:
        response = httpx.get(f"{server.url}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        raise ToolError("backend_unreachable", f"Label Studio at {server.display_url} does not answer: {type(exc).__name__}.",
                        "Check the URL and that `label-studio start` is running there.") from exc
    if response.status_code != 200:
        raise ToolError("backend_unreachable", f"Label Studio at {server.display_url} answered /health with HTTP {response.status_code}.",
                        "Is this a Label Studio server? Check the URL.")
    return sdk.LabelStudio(base_url=server.url, api_key=server.api_key, timeout=TIMEOUT)


@contextlib.contextmanager
def translate_errors(server: Server, what: str) -> Iterator[None]:
    """SDK and HTTP failures as ToolErrors that name the server, never the key."""
    import httpx

    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = body.get("validation_errors") or body.get("detail") or str(exc.body)[:500]
        status = exc.status_code
        if status in (401, 403):
            raise ToolError("backend_unreachable", f"Label Studio at {server.display_url} refused the API key ({status}) while trying to {what}.",
                            "Check LABEL_STUDIO_API_KEY; a legacy token works only if the organisation enables legacy tokens.") from exc
        if status == 404:
            raise ToolError("not_found", f"Label Studio at {server.display_url}: not found while trying to {what}.",
                            "Check the project id or title (the tool's create_project makes one).") from exc
        raise ToolError("failed", f"Label Studio refused to {what} (HTTP {status}): {redact_text(str(detail))}") from exc
    except httpx.HTTPError as exc:
        raise ToolError("backend_unreachable", f"Label Studio at {server.display_url} failed while trying to {what}: {type(exc).__name__}.") from exc


def find_projects(client: Any, title: str) -> list[Any]:
    """Projects whose title is exactly `title` (the API filter matches substrings)."""
    return [p for p in client.projects.list(title=title, page_size=PAGE_SIZE) if p.title == title]


def project_by_ref(client: Any, ref: int | str) -> Any:
    if isinstance(ref, int):
        return client.projects.get(id=ref)
    found = find_projects(client, ref)
    if not found:
        raise ToolError("not_found", f"No Label Studio project titled {ref!r}.", "Create it with action create_project, or pass its numeric id.")
    if len(found) > 1:
        raise ToolError("conflict", f"{len(found)} projects are titled {ref!r}: {[p.id for p in found]}.", "Pass the numeric project id instead.")
    return found[0]


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        with warnings.catch_warnings():  # the SDK's models warn about their own loose field types
            warnings.simplefilter("ignore")
            return value.model_dump(mode="json")
    return value


def iter_tasks(client: Any, project_id: int, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every task of a project with its annotations and predictions, page after page, in the
    export's shape: {id, data, meta, annotations: [...], predictions: [...]}."""
    pager = client.tasks.list(project=project_id, fields="all", page_size=PAGE_SIZE)
    seen = 0
    for task in pager:
        seen += 1
        if progress and seen % PAGE_SIZE == 0:
            progress(seen)
        yield {
            "id": task.id,
            "data": _plain(task.data) or {},
            "meta": _plain(task.meta) or {},
            "annotations": [_plain(a) for a in task.annotations or []],
            "predictions": [_plain(p) for p in task.predictions or []],
        }


def annotator_emails(client: Any) -> dict[int, str]:
    """User id -> email, to name annotators in exports and reports."""
    return {u.id: u.email or u.username or str(u.id) for u in client.users.list()}
