"""Proof that the server fixtures start real, working servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.fixtures.mlflow_server import MlflowServer
from tests.fixtures.ports import (
    ServerStartError,
    find_binary,
    free_port,
    free_port_pair,
    wait_for_http,
    wait_for_port,
)
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.s3 import DEFAULT_BUCKETS, S3Server

pytestmark = pytest.mark.server


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    low, high = free_port_pair(10000)
    assert high == low + 10000
    for port in (*ports, low, high):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_wait_reports_log_tail_when_server_dies(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", "print('boom: bad flag'); exit(3)"],
                                stdout=log, stderr=subprocess.STDOUT)
    with pytest.raises(ServerStartError, match="boom: bad flag"):
        wait_for_port(free_port(), timeout=30, log_path=log_path, proc=proc)


def test_wait_times_out_with_log_tail(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    log_path.write_text("line 1\nstill starting\n")
    with pytest.raises(ServerStartError, match="(?s)not ready after.*still starting"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/health", timeout=0.5, log_path=log_path)


def test_missing_binary_fails_with_install_hint() -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y nothing"):
        find_binary("no-such-server-binary", "apt-get install -y nothing")


def test_postgres_sql_round_trip(postgres_server: PostgresServer) -> None:
    assert postgres_server.host == "127.0.0.1"
    dsn = postgres_server.create_database("fixture_check")
    assert dsn.endswith(f":{postgres_server.port}/fixture_check")
    # Idempotent: a second call must not fail on the existing database.
    assert postgres_server.create_database("fixture_check") == dsn

    conn = postgres_server.connect("fixture_check")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL)")
            cur.execute("INSERT INTO t (name) VALUES (%s), (%s)", ("alpha", "beta"))
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM t ORDER BY id")
            assert [row[0] for row in cur.fetchall()] == ["alpha", "beta"]
            cur.execute("SHOW listen_addresses")
            assert cur.fetchone()[0] == "127.0.0.1"
    finally:
        conn.close()


def test_s3_put_get_object(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert set(DEFAULT_BUCKETS) <= names

    bucket = s3_server.bucket("fixture-check")
    assert s3_server.bucket("fixture-check") == bucket  # idempotent
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"hello s3")
    assert s3.get_object(Bucket=bucket, Key="dir/hello.txt")["Body"].read() == b"hello s3"

    env = s3_server.env()
    assert env["AWS_ACCESS_KEY_ID"] == s3_server.access_key
    assert env["MLFLOW_S3_ENDPOINT_URL"] == s3_server.endpoint_url.rstrip("/")
    assert s3_server.endpoint_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("access_key", "secret_key", "code"),
    [
        (None, "wrong-secret", "SignatureDoesNotMatch"),
        ("unknown-key", None, "InvalidAccessKeyId"),
    ],
)
def test_s3_refuses_wrong_credentials(
    s3_server: S3Server, access_key: str | None, secret_key: str | None, code: str
) -> None:
    from botocore.exceptions import ClientError

    bad = s3_server.client(access_key=access_key, secret_key=secret_key)
    with pytest.raises(ClientError) as excinfo:
        bad.list_buckets()
    assert excinfo.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError):
        bad.put_object(Bucket="mlflow", Key="intruder.txt", Body=b"x")


def test_s3_refuses_anonymous_requests(s3_server: S3Server) -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    anon = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                        config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as excinfo:
        anon.list_objects_v2(Bucket="mlflow")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


def test_mlflow_logs_run_and_artifact_to_s3(
    mlflow_server: MlflowServer,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    # The client must not need S3 keys: artifacts are proxied through the server.
    for key in s3_server.env():
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")

    client = mlflow.MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    exp_id = client.create_experiment(f"fixture-check-{uuid.uuid4().hex[:8]}")
    run = client.create_run(exp_id)
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "rmse", 0.25, step=1)
    artifact = tmp_path / "notes.txt"
    artifact.write_text("artifact body\n")
    client.log_artifact(run_id, str(artifact), artifact_path="docs")
    client.set_terminated(run_id)

    got = client.get_run(run_id)
    assert got.data.params == {"alpha": "0.5"}
    assert got.data.metrics == {"rmse": 0.25}
    assert got.info.status == "FINISHED"
    assert [f.path for f in client.list_artifacts(run_id, "docs")] == ["docs/notes.txt"]

    out = Path(client.download_artifacts(run_id, "docs/notes.txt", str(tmp_path / "dl")))
    assert out.read_text() == "artifact body\n"

    # The bytes really are in the S3 bucket, under the --artifacts-destination prefix.
    s3 = s3_server.client()
    listing = s3.list_objects_v2(Bucket=mlflow_server.artifact_bucket, Prefix="artifacts/")
    keys = [obj["Key"] for obj in listing.get("Contents", [])]
    matches = [k for k in keys if run_id in k and k.endswith("docs/notes.txt")]
    assert matches, keys
    body = s3.get_object(Bucket=mlflow_server.artifact_bucket, Key=matches[0])["Body"].read()
    assert body == b"artifact body\n"
