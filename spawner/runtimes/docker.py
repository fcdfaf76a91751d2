"""Executions as Docker containers, through the docker SDK.

Every container that is not privileged is confined by :class:`ContainerDefaults`
(docs/access.md#container-defaults): no capabilities (``cap_drop: ALL``, plus any the
operator gives back), ``no-new-privileges`` (no setuid binary or file capability can
raise it), a memory and CPU limit unless the actor sets its own, a non-root user unless
the operator or the actor (``use_container_uid``) says otherwise, and the network the
operator chose. A privileged actor (only admins and privileged users can make one) gets
Docker's ``--privileged`` and the image's user; the limits and the network still apply.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Iterator, Optional

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest
from docker.types import Mount as DockerMount
from docker.utils import parse_repository_tag
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout

from actors_core.config import DEFAULT_CONTAINER_USER

from .base import (LABEL_SPAWNER, Handle, ImageUnavailable, RunSpec, Runtime, StartFailed,
                   Usage)
from .cgroups import CgroupAccounting

log = logging.getLogger(__name__)

STATE_FIELDS = ("Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid",
                "ExitCode", "Error", "StartedAt", "FinishedAt")


@dataclass(frozen=True)
class ContainerDefaults:
    """What confines a container beyond what its actor says (see the module's docstring)."""

    user: Optional[str] = DEFAULT_CONTAINER_USER
    mem_limit: Optional[str] = "2g"
    max_cpus: Optional[float] = 1.0
    network: str = "default"
    cap_add: tuple = ()

    @classmethod
    def from_config(cls, config) -> "ContainerDefaults":
        return cls(user=config.container_user or DEFAULT_CONTAINER_USER,
                   mem_limit=config.default_mem_limit, max_cpus=config.default_max_cpus,
                   network=config.container_network, cap_add=tuple(config.container_cap_add))

    def options(self, spec: RunSpec) -> dict:
        """``containers.create`` keyword arguments for ``spec``'s confinement."""
        options = {}
        mem_limit = spec.mem_limit or self.mem_limit
        if mem_limit:
            options["mem_limit"] = mem_limit
        max_cpus = spec.max_cpus or self.max_cpus
        if max_cpus:
            options["nano_cpus"] = int(max_cpus * 1e9)
        if self.network == "none":
            options["network_mode"] = "none"
        elif self.network != "default":
            options["network"] = self.network
        if spec.privileged:
            options["privileged"] = True
            if spec.user:
                options["user"] = spec.user
            return options
        options.update(cap_drop=["ALL"], security_opt=["no-new-privileges:true"])
        if self.cap_add:
            options["cap_add"] = list(self.cap_add)
        user = spec.user or (None if spec.run_as_image_user else self.user)
        if user:
            options["user"] = user
            if user == self.user and "HOME" not in spec.environment:
                # the image's HOME (often /root) is not this user's; /tmp is writable
                options["environment"] = dict(spec.environment, HOME="/tmp")
        return options


class DockerRuntime(Runtime):
    name = "docker"

    def __init__(self, client: Optional[docker.DockerClient] = None,
                 defaults: Optional[ContainerDefaults] = None,
                 accounting: Optional[CgroupAccounting] = None):
        self.client = client or docker.from_env(timeout=120)
        self.defaults = defaults or ContainerDefaults()
        self._pulled = set()
        self._pull_lock = threading.Lock()
        # True CPU/IO totals from a parent cgroup per container (cgroups.py), where possible.
        self.accounting = accounting if accounting is not None else _detect_accounting(self.client)

    def ensure_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
            return False
        except ImageNotFound:
            pass
        except DockerException as error:
            raise ImageUnavailable(f"Docker could not look up image {image!r}: {error}")
        with self._pull_lock:  # pull once per image, however many executions wait for it
            if image in self._pulled:
                return False
            try:
                repository, tag = parse_repository_tag(image)
                self.client.images.pull(repository, tag=tag or "latest")
            except DockerException as error:
                raise ImageUnavailable(f"Image {image!r} is not on this host and could not "
                                       f"be pulled: {_explain(error)}")
            self._pulled.add(image)
            return True

    def start(self, spec: RunSpec) -> "DockerHandle":
        options = dict(
            image=spec.image, environment=spec.environment, labels=spec.labels, detach=True,
            mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only)
                    for m in spec.mounts],
            privileged=False, pids_limit=spec.pids_limit,
        )
        if spec.entrypoint is not None:
            options.update(entrypoint=spec.entrypoint, command=spec.command)
        options.update(self.defaults.options(spec))
        if self.accounting is not None:
            options["cgroup_parent"] = self.accounting.new_parent()
        devices = [g.uuid for g in spec.gpus if not g.simulated]
        if devices:
            options["device_requests"] = [DeviceRequest(device_ids=devices, capabilities=[["gpu"]])]
        if spec.gpus:
            options["environment"] = dict(options["environment"],
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

    def image_command(self, image: str) -> tuple:
        """(argv, working folder) the image runs: its entrypoint and command."""
        config = self.client.images.get(image).attrs.get("Config") or {}
        argv = list(config.get("Entrypoint") or []) + list(config.get("Cmd") or [])
        return argv, config.get("WorkingDir") or None

    def image_identity(self, image: str, handle: "DockerHandle") -> dict:
        """The container's own image id (what it was created from, whatever the tag says
        now) and, for a pulled image, its registry digest (``repo@sha256:...``)."""
        try:
            image_id = handle.container.attrs.get("Image") or self.client.images.get(image).id
            digests = self.client.images.get(image_id).attrs.get("RepoDigests") or []
        except (DockerException, RequestsConnectionError):
            return {}
        repository = parse_repository_tag(image.split("@", 1)[0])[0]
        digests = sorted(digests, key=lambda d: d.split("@", 1)[0] != repository)
        return {"image_id": image_id, "image_digest": digests[0] if digests else image_id}

    def labelled(self, spawner: str) -> list:
        """Listed sparse, then inspected one by one: a container removed between the listing
        and its inspection (by an earlier process of the spawner, by an operator) is skipped
        instead of failing the whole reconciliation with NotFound."""
        handles = []
        for sparse in self.client.containers.list(
                all=True, sparse=True, filters={"label": f"{LABEL_SPAWNER}={spawner}"}):
            try:
                container = self.client.containers.get(sparse.id)
            except NotFound:
                continue
            handles.append(DockerHandle(self.client, container, self.accounting))
        return handles


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
