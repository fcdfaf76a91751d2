"""Where executions' outputs are kept: one small interface, two backends.

``ACTORS_ARTIFACT_URL`` picks the backend: a folder (a path or ``file://``;
the default, and on a cluster a shared file system) or S3-compatible object
storage (``s3://bucket/prefix``, with ``ACTORS_ARTIFACT_S3_ENDPOINT`` for a
server other than AWS). Spawners write there, the API reads from there, and
neither needs the other's disk.
"""
from __future__ import annotations

import functools

from .base import ArtifactMissing, ArtifactStore, check_key, execution_prefix, output_key
from .folder import FolderArtifactStore

__all__ = ["ArtifactMissing", "ArtifactStore", "FolderArtifactStore", "check_key",
           "execution_prefix", "from_config", "from_url", "output_key"]


def from_config(config) -> ArtifactStore:
    return from_url(config.artifact_url, config.artifact_s3_endpoint)


@functools.lru_cache(maxsize=8)
def from_url(url: str, s3_endpoint: str = None) -> ArtifactStore:
    """The store for a URL, made once per process (boto3 clients are thread-safe)."""
    if url.startswith("s3://"):
        from .s3 import S3ArtifactStore

        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3ArtifactStore(bucket, prefix, endpoint_url=s3_endpoint)
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        raise ValueError(f"ACTORS_ARTIFACT_URL={url!r}: use a folder, file://FOLDER or "
                         "s3://BUCKET/PREFIX")
    return FolderArtifactStore(url)
