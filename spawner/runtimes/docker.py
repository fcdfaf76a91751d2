"""Executions as Docker containers, through the docker SDK."""
from __future__ import annotations

import logging
import threading
from typing import Iterator, Optional

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest
from docker.types import Mount as DockerMount
from docker.utils import parse_repository_tag
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from .base import (LABEL_SPAWNER, Handle, ImageUnavailable, RunSpec, Runtime, StartFailed,
                   Usage)
from .cgroups import CgroupAccounting

log = logging.getLogger(__name__)

STATE_FIELDS = ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                "ExitCode", "Error", "StartedAt", "FinishedAt")


class DockerRuntime(Runtime):
    name = "docker"

    def __init__(self, client: Optional[docker.DockerClient] = None,
                 accounting: Optional[CgroupAccounting] = None):
        self.client = client or docker.from_env(timeout=120)
        self._pulled = set()
        self._pull_lock = threading.Lock()
        # True CPU/IO totals from a parent cgroup per container (cgroups.py), where possible.
        self.accounting = accounting if accounting is not None else _detect_accounting(self.client)

    def ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
            return
        except ImageNotFound:
            pass
        except DockerException as error:
            raise ImageUnavailable(f"Docker could not look up image {image!r}: {error}")
        with self._pull_lock:  # pull once per image, however many executions wait for it
            if image in self._pulled:
                return
            try:
                repository, tag = parse_repository_tag(image)
                self.client.images.pull(repository, tag=tag or "latest")
            except DockerException as error:
                raise ImageUnavailable(f"Image {image!r} is not on this host and could not "
                                       f"be pulled: {_explain(error)}")
            self._pulled.add(image)

    def start(self, spec: RunSpec) -> "DockerHandle":
        options = dict(
            image=spec.image, environment=spec.environment, labels=spec.labels, detach=True,
            mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only)
                    for m in spec.mounts],
            privileged=spec.privileged, pids_limit=spec.pids_limit,
        )
        if spec.mem_limit:
            options["mem_limit"] = spec.mem_limit
        if spec.max_cpus:
            options["nano_cpus"] = int(spec.max_cpus * 1e9)
        if spec.user:
            options["user"] = spec.user
        if self.accounting is not None:
            options["cgroup_parent"] = self.accounting.new_parent()
        devices = [g.uuid for g in spec.gpus if not g.simulated]
        if devices:
            options["device_requests"] = [DeviceRequest(device_ids=devices, capabilities=[["gpu"]])]
        if spec.gpus:
            options["environment"] = dict(spec.environment,
                                          NVIDIA_VISIBLE_DEVICES=",".join(g.uuid for g in spec.gpus))
        container = None
        try:
            container = self.client.containers.create(**options)
            container.start()
        except DockerException as error:
            if container is not None:
                _quietly(container.remove, force=True)
            if self.accounting is not None:
                self.accounting.remove(options["cgroup_parent"])
            raise StartFailed(f"Docker could not start the container: {_explain(error)}")
        return DockerHandle(self.client, container, self.accounting)

    def labelled(self, spawner: str) -> list:
        containers = self.client.containers.list(
            all=True, filters={"label": f"{LABEL_SPAWNER}={spawner}"})
        return [DockerHandle(self.client, c, self.accounting) for c in containers]


class DockerHandle(Handle):
    def __init__(self, client, container, accounting: Optional[CgroupAccounting] = None):
        self.client = client
        self.container = container
        self.id = container.id
        self.labels = container.labels
        parent = (container.attrs.get("HostConfig") or {}).get("CgroupParent")
        # A container started without a parent of its own (before this, or elsewhere) is
        # only ever sampled through the stats API.
        self.accounting = accounting if accounting and accounting.is_ours(parent) else None
        self.cgroup_parent = parent if self.accounting else None
        self._network_bytes = 0

    def wait(self, timeout: float) -> Optional[int]:
        try:
            return int(self.container.wait(timeout=timeout)["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            return None

    def is_running(self) -> bool:
        self.container.reload()
        return self.container.status in ("running", "created", "restarting", "paused")

    def stream_logs(self) -> Iterator[bytes]:
        return self.container.logs(stdout=True, stderr=True, stream=True, follow=True)

    def usage(self) -> Optional[Usage]:
        try:
            sample = self.container.stats(stream=False, one_shot=True)
        except (DockerException, RequestsConnectionError, ValueError):
            return self._cgroup_usage()  # gone or going: the cgroup still knows
        cpu = (sample.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
        if not cpu:
            return self._cgroup_usage()  # a stopped container reports empty counters
        self._network_bytes = max(self._network_bytes, _network_bytes(sample))
        return self._cgroup_usage() or Usage(cpu_ns=int(cpu),
                                             io_bytes=_block_bytes(sample) + self._network_bytes)

    def final_usage(self) -> Optional[Usage]:
        """After exit: the parent cgroup's totals (all the container used, however short
        its life), plus the network bytes last sampled while it ran."""
        return self._cgroup_usage()

    def _cgroup_usage(self) -> Optional[Usage]:
        if self.accounting is None:
            return None
        cpu = self.accounting.cpu_ns(self.cgroup_parent)
        if cpu is None:
            return None
        block = self.accounting.block_io_bytes(self.cgroup_parent) or 0
        return Usage(cpu_ns=cpu, io_bytes=block + self._network_bytes)

    def kill(self) -> None:
        try:
            self.container.kill()
        except NotFound:
            pass
        except APIError as error:
            if "is not running" not in str(error):
                raise

    def final_state(self) -> dict:
        self.container.reload()
        state = self.container.attrs.get("State", {})
        return {name: state.get(name) for name in STATE_FIELDS}

    def remove(self) -> None:
        _quietly(self.container.remove, force=True)
        if self.accounting is not None:
            self.accounting.remove(self.cgroup_parent)


def _detect_accounting(client) -> Optional[CgroupAccounting]:
    try:
        return CgroupAccounting.detect(client.info())
    except Exception:  # noqa: BLE001 - optional: without it, the stats API is sampled
        log.info("no cgroup accounting: CPU and I/O come from the stats API", exc_info=True)
        return None


def _block_bytes(sample: dict) -> int:
    entries = (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return sum(int(e.get("value", 0)) for e in entries if str(e.get("op", "")).lower() in ("read", "write"))


def _network_bytes(sample: dict) -> int:
    networks = sample.get("networks") or {}
    return sum(int(n.get("rx_bytes", 0)) + int(n.get("tx_bytes", 0)) for n in networks.values())


def _explain(error: DockerException) -> str:
    explanation = getattr(error, "explanation", None)
    return str(explanation or error)


def _quietly(call, *args, **kwargs) -> None:
    try:
        call(*args, **kwargs)
    except (NotFound, APIError, RequestsConnectionError):
        pass
