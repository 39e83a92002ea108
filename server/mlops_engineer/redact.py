"""Keep secrets out of outputs and logs: passwords in URIs, tokens in query strings."""

from __future__ import annotations

import re

# The password runs to the last "@" of the authority (a raw "@" may appear inside it),
# and the user part may be empty (redis://:secret@host).
_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^/\s]*)@(?=[^@/\s]*(?:[/?#\s]|$))"
)
_QUERY_SECRET = re.compile(r"(?i)(?P<key>(?:token|password|secret|access_key|api_key)=)[^&\s]+")


def redact_text(text: str) -> str:
    """Replace passwords in `scheme://user:pass@host` and `?token=` style secrets with ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", text)


def without_credentials(uri: str) -> str:
    """The URI with any `user:password@` removed, for files we render (clients read
    credentials from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD instead)."""
    return _USERINFO.sub(lambda m: m["scheme"], uri)
