"""The grammar of each kind of value a tool writes into YAML, Python or shell files.

A rendered file quotes what it can (`tojson`, `repr`, `shlex.quote`), and `render.one_line`
refuses a raw value with a line break; these types refuse the rest at the input, with a
message naming the field: an image reference, a host, a cron line, an environment
variable's name cannot end a string or a command and start another. (pydantic matches
`pattern` with Rust's regex, whose `$` is the end of the text: a trailing newline fails.)
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# No line break or other control character.
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
OneLine = Annotated[str, Field(pattern=ONE_LINE)]

# A container image: [registry[:port]/]path[:tag][@digest], as the OCI distribution spec writes it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REF = (
    rf"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{{32,}})?$"
)
ImageRef = Annotated[str, Field(pattern=IMAGE_REF, max_length=255)]

# A DNS name or an IP address (v6 in brackets or bare).
HOST = r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$"
Host = Annotated[str, Field(pattern=HOST, max_length=253)]

# A database or user name as written unquoted into a URL or YAML.
DB_NAME = r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$"
DbName = Annotated[str, Field(pattern=DB_NAME)]

# An http(s) URL without whitespace, quotes or backslashes.
HTTP_URL = r"^https?://[^\s\"'`\\<>{}|^]+$"
HttpUrl = Annotated[str, Field(pattern=HTTP_URL, max_length=2048)]

# The name of an environment variable.
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
EnvName = Annotated[str, Field(pattern=ENV_NAME)]

# Five cron fields of digits, names, * , / - ?
CRON = r"^[0-9A-Za-z*,/?-]+( [0-9A-Za-z*,/?-]+){4}$"
