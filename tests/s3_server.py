"""A local server speaking the S3 protocol (moto's server mode) on a loopback port.

Clients reach it exactly as they reach AWS: the standard AWS variables and AWS_ENDPOINT_URL_S3,
no code path of augment's special to tests.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.ray_head import free_port


def s3_env(endpoint: str, key: str = "testing", secret: str = "testing") -> dict[str, str]:
    """What every AWS tool (and augment on every node) reads to reach an S3-compatible endpoint."""
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def moto_server_command(port: int) -> list[str]:
    """moto's standalone server (its own process) on loopback."""
    moto = shutil.which("moto_server", path=os.path.dirname(sys.executable)) or "moto_server"
    return [moto, "-H", "127.0.0.1", "-p", str(port)]


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    env: dict[str, str]  # what a client process needs to reach it

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=name)


@contextmanager
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = s3_env(endpoint)
    try:
        yield S3Server(endpoint, env)
    finally:
        server.stop()
