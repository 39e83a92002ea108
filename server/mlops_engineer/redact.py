"""Keep secrets out of outputs, logs and rendered files: URL userinfo and secret parameters."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# The whole userinfo goes, not only a password: `https://TOKEN@host` carries its secret as the
# user name, and so does an S3 URL with an access key. It runs to the last "@" of the authority
# (a raw "@" may appear inside a password).
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#]*)@(?=[^@/\s]*(?:[/?#\s]|$))")
# `key=value` where the key names a secret: query parameters (`?token=`, `&sig=` of an Azure
# SAS URL, `X-Amz-Signature=`), environment assignments, option strings.
_SECRET_KEY = r"[\w.-]*(?:token|password|passwd|secret|sig|signature|credential|api_?key|access_?key|private_?key)[\w.-]*"
_SECRET_NAME = re.compile(rf"(?i){_SECRET_KEY}")
_KEY_VALUE = re.compile(rf"(?i)(?P<key>\b{_SECRET_KEY}=)(?P<value>[^&\s'\"]+)")
# The bare `key=` of a signed URL's query (`?key=...`), without flagging words such as `monkey=`.
_QUERY_KEY = re.compile(r"(?i)(?P<key>[?&;]key=)(?P<value>[^&\s'\"]+)")


def redact_text(text: str) -> str:
    """Replace URL userinfo and the values of secret-looking parameters with ***."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}***@" if m["userinfo"] else m[0], text)
    text = _KEY_VALUE.sub(lambda m: f"{m['key']}***", text)
    return _QUERY_KEY.sub(lambda m: f"{m['key']}***", text)


def without_credentials(uri: str) -> str:
    """The URI with its userinfo and secret query parameters removed, for files we render: they
    read credentials from the environment (MLFLOW_TRACKING_USERNAME / _PASSWORD, AWS_*, ...)."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _SECRET_NAME.fullmatch(k) and k.lower() != "key"]
    query = urlencode(kept) if len(kept) != len(pairs) else parts.query
    if netloc == parts.netloc and query == parts.query:
        return uri  # nothing to remove: keep the text exactly as given
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def has_credentials(uri: str) -> bool:
    """True when the URI carries userinfo or a secret parameter."""
    return without_credentials(uri) != uri
