"""Every setting of the platform, read from the environment in one place.

Both the API and the spawner build a :class:`Config` once at start; nothing
else reads ``os.environ`` for platform settings.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from typing import Optional

VERSION = "0.1.0"

# The user Docker containers run as when neither the operator (ACTORS_CONTAINER_USER) nor
# the actor (use_container_uid) says otherwise: not root, and by convention (distroless's
# "nonroot") an id no host account has.
DEFAULT_CONTAINER_USER = "65532:65532"
CONTAINER_USER = re.compile(r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$")
MEM_LIMIT = re.compile(r"^\d+(\.\d+)?[bkmgBKMG]?$")


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _str(name: str, default: Optional[str]) -> Optional[str]:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    value = _str(name, None)
    return default if value is None else value.strip().lower() not in ("0", "false", "no", "off")


def _optional(name: str, default: Optional[str]) -> Optional[str]:
    """A setting that "none" (or "0") turns off."""
    value = _str(name, default)
    return None if value is None or value.strip().lower() in ("none", "0") else value.strip()


def _optional_float(name: str, default: Optional[float]) -> Optional[float]:
    value = _optional(name, None if default is None else str(default))
    return None if value is None else float(value)


def _list(name: str, default: str) -> tuple:
    return tuple(p.strip() for p in _str(name, default).split(",") if p.strip())


@dataclass(frozen=True)
class Config:
    redis_url: str = "redis://localhost:6379/0"
    jwt_secret: Optional[str] = None
    jwt_public_key: Optional[str] = None  # path to a PEM file
    jwt_algorithms: tuple = ("HS256",)
    case: str = "snake"  # or "camel"
    api_url: str = "http://localhost:8000"
    max_message_bytes: int = 100 * 1024 * 1024
    log_max_bytes: int = 1_000_000
    log_ex: int = 12 * 3600  # seconds logs and results are kept by default
    execution_record_ttl: int = 0  # seconds a finished execution's record is kept; 0: forever
    default_max_workers: int = 6
    worker_idle_seconds: int = 120  # an idle worker beyond the actor's kept minimum is retired after this
    execution_token_ttl: int = 3600  # seconds an execution's token lives at most (revoked at its end)
    token_cache_seconds: float = 5.0  # an API process checks a token's signature once per this (0: always)
    fast_lane: bool = True  # warm message posts skip Flask's request machinery (actors_api/fast_lane.py)
    config_key: Optional[str] = None  # Fernet key for secret configs; else derived from jwt_secret
    limited_max_actors: int = 5  # actors a user with the 'limited' role may own
    actor_error_threshold: int = 3  # consecutive failed runs before the actor is ERROR
    spawner_workdir: str = "/tmp/actors-spawner"
    spawner_name: Optional[str] = None
    # "uid:gid" executions run as unless the actor sets use_container_uid; when unset, Docker
    # containers run as DEFAULT_CONTAINER_USER and processes as the spawner's user.
    container_user: Optional[str] = None
    pids_limit: int = 512
    # Docker containers of actors that set no limit of their own ("" or "none": no limit).
    default_mem_limit: Optional[str] = "2g"
    default_max_cpus: Optional[float] = 1.0
    container_network: str = "default"  # "default" (Docker's bridge), "none", or a network's name
    container_cap_add: tuple = ()  # capabilities given back to non-privileged containers
    lease_seconds: int = 30
    sync_timeout: int = 60  # seconds a synchronous message waits before answering 408
    sync_max_waiters: int = 32  # synchronous waits one API process holds at once
    gpus: str = "none"  # what `actors spawner --gpus` defaults to
    gpu_sample_interval: float = 0.5  # seconds between NVML samples of a running execution
    runtime: str = "docker"  # or "process", "slurm"
    process_image_path: tuple = ()  # folders holding images/<name>/ for the process runtime
    slurm_queues: str = ""  # JSON: queue ("*": others) -> where its jobs go (runtimes/slurm.py)
    slurm_engine: Optional[str] = None  # podman | apptainer: run the image itself in the job
    slurm_python: Optional[str] = None  # what jobs run their wrapper with (default: ours)
    slurm_poll_interval: float = 1.0  # seconds between one spawner's squeue calls
    webhook_max_attempts: int = 5  # tries of one webhook event before it is FAILED
    webhook_backoff: tuple = (2, 10, 60, 300)  # seconds before the 2nd, 3rd... try (last repeats)
    webhook_timeout: float = 5.0  # seconds one webhook POST may take
    metrics: bool = True  # the API's /metrics and the counting behind it (docs/operations.md)
    # Outputs and status streams (docs/architecture.md, "Outputs" and "Status events").
    artifact_url: str = "/tmp/actors-artifacts"  # a folder (or file://...), or s3://bucket/prefix
    artifact_s3_endpoint: Optional[str] = None  # an S3-compatible server; None: AWS itself
    output_max_bytes: int = 1 << 30  # bytes of outputs kept per execution; collection stops there
    status_max_streams: int = 8  # live status streams one API process holds; more are short polls
    status_stream_seconds: float = 30.0  # a live status stream closes after this; clients resume
    webhook_allow: tuple = ()  # IPs, CIDRs, host names webhooks may reach beyond public addresses
    # Faults (docs/architecture.md): heartbeats, lost hosts, Redis outages.
    heartbeat_seconds: float = 10.0  # seconds between a spawner's heartbeats (and sweeps)
    host_lost_seconds: float = 30.0  # a spawner silent this long is lost; others settle its work
    redis_backoff_max: float = 2.0  # the longest wait between reconnection attempts (spawners)
    # Warm actors (docs/warm.md): the default idle time and the caps ordinary users stay within.
    warm_allowed: bool = True  # False: only admin or privileged users may make an actor warm
    warm_idle_seconds: int = 300  # a warm container idle this long is removed (scale to zero)
    warm_max_idle_seconds: int = 3600
    warm_max_concurrency: int = 8
    version: str = VERSION

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        public_key = _str("ACTORS_JWT_PUBLIC_KEY", None)
        default_algs = "RS256,ES256" if public_key else "HS256"
        values = dict(
            redis_url=_str("ACTORS_REDIS_URL", cls.redis_url),
            jwt_secret=_str("ACTORS_JWT_SECRET", None),
            jwt_public_key=public_key,
            jwt_algorithms=_list("ACTORS_JWT_ALGORITHMS", default_algs),
            case=_str("ACTORS_CASE", cls.case).lower(),
            api_url=_str("ACTORS_API_URL", cls.api_url).rstrip("/"),
            max_message_bytes=_int("ACTORS_MAX_MESSAGE_BYTES", cls.max_message_bytes),
            log_max_bytes=_int("ACTORS_LOG_MAX_BYTES", cls.log_max_bytes),
            log_ex=_int("ACTORS_LOG_EX", cls.log_ex),
            execution_record_ttl=_int("ACTORS_EXECUTION_RECORD_TTL", cls.execution_record_ttl),
            default_max_workers=_int("ACTORS_DEFAULT_MAX_WORKERS", cls.default_max_workers),
            worker_idle_seconds=_int("ACTORS_WORKER_IDLE_SECONDS", cls.worker_idle_seconds),
            execution_token_ttl=_int("ACTORS_EXECUTION_TOKEN_TTL", cls.execution_token_ttl),
            token_cache_seconds=float(_str("ACTORS_TOKEN_CACHE_SECONDS", "5")),
            fast_lane=_bool("ACTORS_FAST_LANE", cls.fast_lane),
            config_key=_str("ACTORS_CONFIG_KEY", None),
            limited_max_actors=_int("ACTORS_LIMITED_MAX_ACTORS", cls.limited_max_actors),
            actor_error_threshold=_int("ACTORS_ACTOR_ERROR_THRESHOLD", cls.actor_error_threshold),
            spawner_workdir=_str("ACTORS_SPAWNER_WORKDIR", cls.spawner_workdir),
            spawner_name=_str("ACTORS_SPAWNER_NAME", None),
            container_user=_str("ACTORS_CONTAINER_USER", None),
            pids_limit=_int("ACTORS_PIDS_LIMIT", cls.pids_limit),
            default_mem_limit=_optional("ACTORS_DEFAULT_MEM_LIMIT", cls.default_mem_limit),
            default_max_cpus=_optional_float("ACTORS_DEFAULT_MAX_CPUS", cls.default_max_cpus),
            container_network=_str("ACTORS_CONTAINER_NETWORK", cls.container_network),
            container_cap_add=tuple(c.upper() for c in _list("ACTORS_CONTAINER_CAP_ADD", "")),
            sync_timeout=_int("ACTORS_SYNC_TIMEOUT", cls.sync_timeout),
            sync_max_waiters=_int("ACTORS_SYNC_MAX_WAITERS", cls.sync_max_waiters),
            gpus=_str("ACTORS_GPUS", cls.gpus),
            gpu_sample_interval=float(_str("ACTORS_GPU_SAMPLE_INTERVAL", "0.5")),
            runtime=_str("ACTORS_RUNTIME", cls.runtime),
            process_image_path=_list("ACTORS_PROCESS_IMAGE_PATH", ""),
            slurm_queues=_str("ACTORS_SLURM_QUEUES", ""),
            slurm_engine=_str("ACTORS_SLURM_ENGINE", None),
            slurm_python=_str("ACTORS_SLURM_PYTHON", None),
            slurm_poll_interval=float(_str("ACTORS_SLURM_POLL_INTERVAL", "1")),
            webhook_max_attempts=_int("ACTORS_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts),
            webhook_backoff=tuple(float(p) for p in _list("ACTORS_WEBHOOK_BACKOFF", "2,10,60,300")),
            webhook_timeout=float(_str("ACTORS_WEBHOOK_TIMEOUT", "5")),
            metrics=_bool("ACTORS_METRICS", cls.metrics),
            artifact_url=_str("ACTORS_ARTIFACT_URL", cls.artifact_url),
            artifact_s3_endpoint=_str("ACTORS_ARTIFACT_S3_ENDPOINT", None),
            output_max_bytes=_int("ACTORS_OUTPUT_MAX_BYTES", cls.output_max_bytes),
            status_max_streams=_int("ACTORS_STATUS_MAX_STREAMS", cls.status_max_streams),
            status_stream_seconds=float(_str("ACTORS_STATUS_STREAM_SECONDS", "30")),
            webhook_allow=_list("ACTORS_WEBHOOK_ALLOW", ""),
            heartbeat_seconds=float(_str("ACTORS_HEARTBEAT_SECONDS", "10")),
            host_lost_seconds=float(_str("ACTORS_HOST_LOST_SECONDS", "30")),
            redis_backoff_max=float(_str("ACTORS_REDIS_BACKOFF_MAX", "2")),
            warm_allowed=_bool("ACTORS_WARM_ALLOWED", cls.warm_allowed),
            warm_idle_seconds=_int("ACTORS_WARM_IDLE_SECONDS", cls.warm_idle_seconds),
            warm_max_idle_seconds=_int("ACTORS_WARM_MAX_IDLE_SECONDS", cls.warm_max_idle_seconds),
            warm_max_concurrency=_int("ACTORS_WARM_MAX_CONCURRENCY", cls.warm_max_concurrency),
        )
        values.update(overrides)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.case not in ("snake", "camel"):
            raise ValueError(f"ACTORS_CASE must be 'snake' or 'camel', not {self.case!r}")
        if self.container_user is not None and not CONTAINER_USER.match(self.container_user):
            raise ValueError(f"ACTORS_CONTAINER_USER must be 'uid:gid' or 'user[:group]', not "
                             f"{self.container_user!r}")
        if self.default_mem_limit is not None and not MEM_LIMIT.match(self.default_mem_limit):
            raise ValueError("ACTORS_DEFAULT_MEM_LIMIT must be a size such as '512m' or '2g' "
                             f"(or 'none'), not {self.default_mem_limit!r}")
        if self.default_max_cpus is not None and not self.default_max_cpus > 0:
            raise ValueError("ACTORS_DEFAULT_MAX_CPUS must be a positive number of CPUs (or 'none')")
        if not self.container_network.strip():
            raise ValueError("ACTORS_CONTAINER_NETWORK must be 'default', 'none' or a network name")
        from .webhook_targets import Allowlist

        Allowlist.parse(self.webhook_allow)  # a malformed entry stops the start, naming it
        if not self.jwt_secret and not self.jwt_public_key:
            raise ValueError("set ACTORS_JWT_SECRET (HS256) or ACTORS_JWT_PUBLIC_KEY (RS256/ES256)")
        if self.heartbeat_seconds <= 0 or self.host_lost_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("ACTORS_HOST_LOST_SECONDS must be at least twice "
                             "ACTORS_HEARTBEAT_SECONDS (a heartbeat may come late)")

    def with_overrides(self, **values) -> "Config":
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **values)
