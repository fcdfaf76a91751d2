"""Artifacts as objects in S3-compatible storage, through boto3.

``ACTORS_ARTIFACT_URL=s3://bucket/prefix``; credentials and region come the
usual boto3 way (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, instance roles); ``ACTORS_ARTIFACT_S3_ENDPOINT`` names
a server other than AWS (MinIO, Ceph, moto). An object appears only when its
upload completes (S3 semantics, multipart included), so a reader never sees
half of one. S3 has no links, and keys are checked (base.check_key), so
nothing outside ``prefix`` is ever named.
"""
from __future__ import annotations

from typing import BinaryIO

from .base import ArtifactMissing, ArtifactStore, check_key

try:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.exceptions import ClientError
except ImportError:  # pragma: no cover - depends on the installation
    boto3 = None

PART = 16 * 1024 * 1024  # multipart chunk: memory per upload stays near this


class S3ArtifactStore(ArtifactStore):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str = None, client=None):
        if boto3 is None:
            raise RuntimeError("ACTORS_ARTIFACT_URL is s3://... but boto3 is not installed: "
                               "pip install 'actors[s3]'")
        if not bucket:
            raise ValueError("ACTORS_ARTIFACT_URL=s3://BUCKET/PREFIX needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)
        self._transfer = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                                        max_concurrency=2)

    def _name(self, key: str) -> str:
        key = check_key(key.rstrip("/")) + ("/" if key.endswith("/") else "")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, stream: BinaryIO) -> None:
        self.client.upload_fileobj(stream, self.bucket, self._name(key), Config=self._transfer)

    def open(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise ArtifactMissing(key) from None
            raise
        return answer["Body"]

    def delete_prefix(self, prefix: str) -> int:
        name = self._name(prefix if prefix.endswith("/") else prefix + "/")
        removed = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=name)
        for page in pages:
            objects = [{"Key": item["Key"]} for item in page.get("Contents") or []]
            if objects:
                self.client.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": objects, "Quiet": True})
                removed += len(objects)
        return removed
