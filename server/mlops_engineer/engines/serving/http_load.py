"""A small HTTP load client for served models: smoke tests, latency percentiles and throughput.

Standard library only (http.client with one keep-alive connection per worker
thread), so the same client measures any server the same way.
"""

from __future__ import annotations

import http.client
import json
import math
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    body: str
    seconds: float

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Client:
    """One keep-alive connection to a server; reconnects once if the server closed it."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method: str, path: str, body: bytes | None = None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (1, 2):
            conn = self._connection()
            start = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read().decode("utf-8", errors="replace")
                return Reply(resp.status, data, time.perf_counter() - start)
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def post_json(self, path: str, payload: Any) -> Reply:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.request("POST", path, raw)

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    errors: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests_per_second: float
    seconds: float


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def run_load(base_url: str, path: str, payload: Any, requests: int, concurrency: int, warmup: int = 5) -> LoadResult:
    """Send `requests` POSTs of `payload` from `concurrency` threads; every non-2xx counts as an error."""
    body = json.dumps(payload).encode()
    warm = Client(base_url)
    for _ in range(warmup):
        warm.post_json(path, body)
    warm.close()

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        nonlocal errors
        client = Client(base_url)
        local, bad = [], 0
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            try:
                reply = client.post_json(path, body)
                local.append(reply.seconds)
                bad += not 200 <= reply.status < 300
            except (OSError, http.client.HTTPException):
                bad += 1
        client.close()
        with lock:
            latencies.extend(local)
            errors += bad

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, concurrency))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    ms = [s * 1000 for s in latencies] or [float("nan")]
    return LoadResult(
        requests=requests, concurrency=concurrency, errors=errors,
        p50_ms=round(percentile(ms, 50), 3), p99_ms=round(percentile(ms, 99), 3),
        mean_ms=round(statistics.fmean(ms), 3), requests_per_second=round(len(latencies) / elapsed, 2) if elapsed else 0.0,
        seconds=round(elapsed, 3),
    )
