"""A real S3-compatible HTTP server for tests: moto's server mode on 127.0.0.1.

Not a mock object: boto3 talks HTTP to it exactly as to AWS or MinIO.
"""
from __future__ import annotations

import os
import socket

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    def __init__(self):
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            pytest.skip("moto[server] is not installed (pip install -e '.[test]')")
        self.port = _free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def stop(self) -> None:
        self.server.stop()


def _boto_credentials() -> dict:
    return {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "region_name": CREDENTIALS["AWS_DEFAULT_REGION"]}


def export_credentials() -> None:
    """For code that builds its own boto3 client from the environment (the platform does)."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
