"""Object storage that misbehaves: one line, exit 2, and nothing written or overwritten.

A bucket that does not exist, wrong credentials, a prefix the credentials may only read (a local
S3-protocol server with IAM checks on: moto's server with INITIAL_NO_AUTH_ACTION_COUNT, whose first
requests set up a user, its policy and a bucket), and an endpoint that accepts connections and
never answers (bounded timeouts and attempts, never a hang).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.conftest import assert_one_line_error, run_cli_process
from tests.fixtures import write_tiny_dataset
from tests.ray_head import free_port
from tests.s3_server import moto_server_command, s3_env, s3_server

READ_ONLY, WRITABLE = "ro", "rw"
SETUP_REQUESTS = 5  # create_bucket, put_object, create_user, create_access_key, put_user_policy


@dataclass(frozen=True)
class AuthServer:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self, secret: str | None = None) -> dict[str, str]:
        return s3_env(self.endpoint, self.access_key, secret or self.secret_key)

    def keys(self) -> list[str]:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )
        return sorted(item["Key"] for item in client.list_objects_v2(Bucket="bucket").get("Contents", []))


@pytest.fixture(scope="module")
def auth_server() -> Iterator[AuthServer]:
    """A moto server that checks credentials and IAM policies: user `writer` may read the whole
    bucket and write only under rw/."""
    import boto3

    port = free_port()
    server = subprocess.Popen(
        moto_server_command(port),
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_for_port(port)
        setup = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "setup",
            "aws_secret_access_key": "setup",
        }
        s3, iam = boto3.client("s3", **setup), boto3.client("iam", **setup)
        s3.create_bucket(Bucket="bucket")
        s3.put_object(Bucket="bucket", Key=f"{READ_ONLY}/real/keep.txt", Body=b"data a job must not touch")
        iam.create_user(UserName="writer")
        key = iam.create_access_key(UserName="writer")["AccessKey"]
        read_everything = ["s3:ListBucket", "s3:HeadBucket", "s3:GetObject", "s3:GetBucketLocation"]
        iam.put_user_policy(
            UserName="writer",
            PolicyName="read-all-write-rw",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": read_everything,
                            "Resource": ["arn:aws:s3:::bucket", "arn:aws:s3:::bucket/*"],
                        },
                        {"Effect": "Allow", "Action": ["s3:*"], "Resource": [f"arn:aws:s3:::bucket/{WRITABLE}/*"]},
                    ],
                }
            ),
        )
        yield AuthServer(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        server.kill()
        server.wait(timeout=10)


def _wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.time() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert time.time() < deadline, "moto_server did not start"
            time.sleep(0.1)


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """A TCP server that accepts every connection and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held, stop = [], threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("faults-data")).root


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--out", "s3://no-such-bucket/run", "--n", "100"],
        ["train", "--out", "s3://no-such-bucket/gan"],
        ["retrain", "--data", "s3://no-such-bucket/real", "--out", "s3://no-such-bucket/classifier"],
    ],
    ids=["run", "train", "retrain"],
)
def test_a_bucket_that_does_not_exist_is_one_line(data_root, command):
    with s3_server() as server:
        result = run_cli_process(*command, "--data-root", data_root, "--offline", env=server.env)
    assert_one_line_error(result, "no-such-bucket")
    assert "does not exist" in result.stderr


def _export(out: str, data_root, env: dict, *options):
    return run_cli_process("data", "export", "--out", out, "--data-root", data_root, "--offline", *options, env=env)


def test_wrong_credentials_are_one_line_and_write_nothing(auth_server, data_root):
    before = auth_server.keys()
    result = _export(f"s3://bucket/{WRITABLE}/real", data_root, auth_server.env(secret="not-the-secret"))
    assert_one_line_error(
        result,
        f"object storage refused the request at s3://bucket/{WRITABLE}/real",
        "ACCESS_DENIED",
        "check the credentials",
    )
    assert auth_server.keys() == before


def test_a_read_only_prefix_is_one_line_and_left_untouched(auth_server, data_root):
    before = auth_server.keys()
    result = _export(f"s3://bucket/{READ_ONLY}/real", data_root, auth_server.env(), "--overwrite")
    assert_one_line_error(result, f"--out s3://bucket/{READ_ONLY}/real is not writable here", "ACCESS_DENIED")
    assert auth_server.keys() == before == [f"{READ_ONLY}/real/keep.txt"]
    # The same credentials write where the policy lets them: the refusal was the prefix's.
    done = _export(f"s3://bucket/{WRITABLE}/real", data_root, auth_server.env())
    assert done.returncode == 0, done.stderr
    assert f"{WRITABLE}/real/_manifest.json" in auth_server.keys()


def test_an_endpoint_that_never_answers_is_one_line_in_bounded_time(data_root):
    with silent_endpoint() as endpoint:
        env = {**s3_env(endpoint), "AUGMENT_S3_REQUEST_TIMEOUT_S": "2"}
        started = time.monotonic()
        result = run_cli_process(
            "data", "export", "--out", "s3://bucket/real", "--data-root", data_root, "--offline", env=env
        )
        seconds = time.monotonic() - started
    assert_one_line_error(
        result, "object storage did not answer at s3://bucket/real after 3 attempts", "AWS_ENDPOINT_URL_S3"
    )
    assert seconds < 60, seconds  # 3 attempts of a 2 s request timeout, plus start-up; never a hang


@pytest.mark.parametrize(
    "command",
    [
        ["data", "export", "--out", "gs://bucket-x/y"],
        ["judge", "--out", "gs://bucket-x/j", "--epochs", "1", "--limit", "1000", "--workers", "1"],
    ],
    ids=["export", "judge"],
)
def test_google_cloud_storage_without_credentials_is_one_line_in_a_minute(data_root, command, tmp_path):
    """Without Google credentials (none here: no GOOGLE_APPLICATION_CREDENTIALS, no metadata server)
    the GCS client retried for ever: `data export --out gs://…` printed nothing for 600 s."""
    env = {"GOOGLE_APPLICATION_CREDENTIALS": "", "HOME": str(tmp_path)}  # no gcloud user credentials either
    started = time.time()
    result = run_cli_process(*command, "--data-root", data_root, "--offline", env=env)
    assert_one_line_error(result, "Google Cloud Storage", "check the credentials")
    assert time.time() - started < 60
