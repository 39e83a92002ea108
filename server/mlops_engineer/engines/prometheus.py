"""Prometheus I/O shared by the monitoring tools: exposition text, textfile-collector
files, Pushgateway pushes and range queries against the HTTP API.

Exposition and pushes go through `prometheus_client` (extra `monitoring`), so the
text is exactly what Prometheus parses; range queries use the standard library's
HTTP client because the query API is one GET returning JSON.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_engineer.errors import ToolError
from mlops_engineer.optional import import_optional
from mlops_engineer.redact import redact_text
from mlops_engineer.workspace import atomic_write_bytes

# Loopback URLs must never go through a proxy the environment sets for the internet.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Sample:
    """One gauge value: `name{labels} value`."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)
    help: str = ""


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and (unix seconds, value) points in time order."""

    labels: dict[str, str]
    timestamps: list[float]
    values: list[float]


def _registry(samples: Iterable[Sample]) -> Any:
    """A fresh `CollectorRegistry` holding one gauge per metric name."""
    client = import_optional("prometheus_client", "monitoring")
    registry = client.CollectorRegistry()
    gauges: dict[str, Any] = {}
    label_names: dict[str, tuple[str, ...]] = {}
    for sample in samples:
        names = tuple(sorted(sample.labels))
        if sample.name not in gauges:
            gauges[sample.name] = client.Gauge(sample.name, sample.help or sample.name, names, registry=registry)
            label_names[sample.name] = names
        elif label_names[sample.name] != names:
            raise ToolError(
                "invalid_input",
                f"metric {sample.name} is written with label sets {label_names[sample.name]} and {names}",
                "Every sample of one metric needs the same label names.",
            )
        gauge = gauges[sample.name]
        (gauge.labels(**sample.labels) if names else gauge).set(sample.value)
    return registry


def exposition(samples: Iterable[Sample]) -> str:
    """The samples in Prometheus text exposition format (0.0.4)."""
    client = import_optional("prometheus_client", "monitoring")
    return client.generate_latest(_registry(samples)).decode()


def write_textfile(path: Path, samples: Iterable[Sample]) -> Path:
    """Write a node-exporter textfile-collector file (`*.prom`).

    The file is replaced atomically, because the collector may read it at any moment
    and a half-written file would drop every metric in it.
    """
    return atomic_write_bytes(path, exposition(samples).encode())


def push(gateway_url: str, job: str, samples: Sequence[Sample], grouping_key: Mapping[str, str] | None = None,
         timeout: float = 10.0) -> None:
    """Replace the metrics of group (job, grouping_key) on a Pushgateway (HTTP PUT).

    PUT rather than POST so a metric that disappeared from this check (a feature
    that no longer drifts) does not linger on the gateway from the last push.
    """
    client = import_optional("prometheus_client", "monitoring")
    url = gateway_url.rstrip("/")
    try:
        client.push_to_gateway(url, job=job, registry=_registry(samples), grouping_key=dict(grouping_key or {}),
                               timeout=timeout, handler=_no_proxy_handler)
    except urllib.error.HTTPError as exc:
        raise ToolError("failed", f"Pushgateway {url} refused the push: HTTP {exc.code} {_body(exc)}",
                        "Check the job and label names; the gateway's log says more.") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable("Pushgateway", url, exc, f"curl {url}/-/ready") from exc


def _no_proxy_handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes) -> Any:
    def handle() -> None:
        request = urllib.request.Request(url, data=data, method=method)
        for key, value in headers:
            request.add_header(key, value)
        with _OPENER.open(request, timeout=timeout) as response:
            if response.status >= 400:
                raise OSError(f"error talking to pushgateway: {response.status} {response.reason}")

    return handle


def query_range(base_url: str, query: str, start: float, end: float, step: float, timeout: float = 30.0) -> list[RangeSeries]:
    """Run a PromQL range query (`/api/v1/query_range`) and return every series it matched.

    NaN values (Prometheus writes them as the string "NaN") are kept as float NaN so
    the caller can treat them as gaps; an empty list means the query matched nothing.
    """
    if end <= start:
        raise ToolError("invalid_input", f"range end ({end}) must be after start ({start})", "Give start < end.")
    if step <= 0:
        raise ToolError("invalid_input", f"step must be positive, got {step}", "Use e.g. 60 (seconds) or 3600.")
    if (end - start) / step > 11_000:
        # Prometheus refuses more than 11,000 points per series; say so before asking it.
        raise ToolError("invalid_input", f"{(end - start) / step:.0f} points per series is more than Prometheus returns (11,000)",
                        "Use a larger step or a shorter range.")
    url = base_url.rstrip("/")
    params = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    try:
        with _OPENER.open(f"{url}/api/v1/query_range?{params}", timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = _body(exc)
        if exc.code in (400, 422):
            raise ToolError("invalid_input", f"Prometheus rejected the query {query!r}: {detail}",
                            "Check the PromQL expression in the Prometheus UI (Graph tab).") from exc
        raise ToolError("failed", f"Prometheus at {url} answered HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
        raise _unreachable("Prometheus", url, exc, f"curl {url}/-/ready") from exc
    if payload.get("status") != "success":
        raise ToolError("failed", f"Prometheus query failed: {payload.get('error', payload)}")
    data = payload.get("data", {})
    if data.get("resultType") != "matrix":
        raise ToolError("invalid_input", f"the query returned a {data.get('resultType')}, not a range of values",
                        "Query an instant vector expression, e.g. `rate(x[5m])`, not a scalar or string.")
    return [
        RangeSeries(
            labels=dict(item.get("metric", {})),
            timestamps=[float(ts) for ts, _ in item.get("values", [])],
            values=[_number(v) for _, v in item.get("values", [])],
        )
        for item in data.get("result", [])
    ]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _body(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read().decode(errors="replace")
    except OSError:
        return exc.reason or ""
    try:
        return json.loads(text).get("error", text)
    except (json.JSONDecodeError, AttributeError):
        return text.strip()[:300]


def _unreachable(what: str, url: str, exc: BaseException, probe: str) -> ToolError:
    reason = getattr(exc, "reason", exc)
    return ToolError(
        "backend_unreachable",
        f"{what} at {url} did not answer: {redact_text(str(reason))}",
        f"Check the URL and that {what} runs (`{probe}` should answer).",
    )
