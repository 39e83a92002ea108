"""Keep secrets out of outputs, logs and rendered files: URL userinfo and secret parameters."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The whole userinfo goes, not only a password: `https://TOKEN@host` carries its secret as the
# user name, and so does an S3 URL with an access key. It runs to the last "@" of the authority
# (a raw "@" may appear inside a password). Every pattern starts only where a run of its
# characters starts and never backtracks into it (possessive quantifiers), so a 200,000-character
# input costs linear time, not quadratic.
_USERINFO = re.compile(
    r"(?<![a-zA-Z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*+://)(?P<userinfo>[^/\s?#]*)@(?=[^@/\s]*+(?:[/?#\s]|$))"
)
# `key=value` where the key names a secret: query parameters (`?token=`, `&sig=` of an Azure
# SAS URL, `X-Amz-Signature=`), environment assignments, option strings.
_SECRET_WORD = re.compile(r"(?i)token|password|passwd|secret|sig|credential|api_?key|access_?key|private_?key")
_KEY_VALUE = re.compile(r"(?<![\w.-])(?P<key>[\w.-]++)=(?P<value>[^&\s'\"]++)")
# The bare `key=` of a signed URL's query (`?key=...`), without flagging words such as `monkey=`.
_QUERY_KEY = re.compile(r"(?i)(?P<key>[?&;]key=)(?P<value>[^&\s'\"]++)")


def _redact_pair(match: re.Match[str]) -> str:
    return f"{match['key']}=***" if _SECRET_WORD.search(match["key"]) else match[0]


def redact_text(text: str) -> str:
    """Replace URL userinfo and the values of secret-looking parameters with ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@" if m["userinfo"] else m[0], text)
    text = _KEY_VALUE.sub(_redact_pair, text)
    return _QUERY_KEY.sub(lambda m: f"{m['key']}***", text)


def without_credentials(uri: str) -> str:
    """The URI with its userinfo and secret query parameters removed, for files we render: they
    read credentials from the environment (MLFLOW_TRACKING_USERNAME / _PASSWORD, AWS_*, ...)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _SECRET_WORD.search(k) and k.lower() != "key"]
    query = urlencode(kept) if len(kept) != len(pairs) else parts.query
    if netloc == parts.netloc and query == parts.query:
        return uri  # nothing to remove: keep the text exactly as given
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def has_credentials(uri: str) -> bool:
    """True when the URI carries userinfo or a secret parameter."""
    return without_credentials(uri) != uri
