"""GPUs on a spawner's host: what is there, who holds which, and what they did.

Discovery uses NVML (nvidia-ml-py). An inventory can also be given as data
(``--gpus`` JSON, or ``ACTORS_GPUS`` for ``actors spawner``), which is how the
allocator and routing are tested on machines without a GPU.

Allocation is per host and lives in Redis (``actors_core/store/hosts.py``),
because a spawner's slot processes are separate processes: whole GPUs only,
never one GPU to two running executions, all-or-nothing.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from typing import Optional, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    name: str
    memory_total: int  # bytes
    simulated: bool = False  # from a given inventory, not NVML: no live memory or stats

    def as_dict(self) -> dict:
        return asdict(self)


class NvmlUnavailable(Exception):
    pass


def _nvml():
    try:
        import pynvml
    except ImportError as error:
        raise NvmlUnavailable("nvidia-ml-py is not installed") from error
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        raise NvmlUnavailable(f"NVML cannot start: {error}") from error
    return pynvml


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def discover(selection: str) -> list:
    """The GPUs a spawner may hand out.

    ``selection``: ``none`` (or empty), ``auto`` (every GPU NVML sees), a
    comma-separated list of indices and/or UUIDs, or a JSON list of
    ``{"index", "uuid", "name", "memory_total"}`` (a simulated inventory).
    """
    selection = (selection or "none").strip()
    if selection.lower() in ("none", "0", ""):
        return []
    if selection.startswith("["):
        return [Gpu(int(g["index"]), str(g["uuid"]), str(g.get("name", "simulated GPU")),
                    int(g.get("memory_total", 0)), simulated=True) for g in json.loads(selection)]
    nvml = _nvml()
    found = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        found.append(Gpu(index, _text(nvml.nvmlDeviceGetUUID(handle)),
                         _text(nvml.nvmlDeviceGetName(handle)),
                         int(nvml.nvmlDeviceGetMemoryInfo(handle).total)))
    if selection.lower() == "auto":
        return found
    wanted = [part.strip() for part in selection.split(",") if part.strip()]
    chosen = [g for g in found if str(g.index) in wanted or g.uuid in wanted]
    missing = set(wanted) - {str(g.index) for g in chosen} - {g.uuid for g in chosen}
    if missing:
        raise ValueError(f"--gpus names GPUs this host does not have: {sorted(missing)}")
    return chosen


def free_memory(gpu: Gpu) -> int:
    """Bytes free on the GPU now (its total for a simulated one)."""
    if gpu.simulated:
        return gpu.memory_total
    nvml = _nvml()
    return int(nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByUUID(gpu.uuid)).free)


def requested_count(gpus, inventory_size: int) -> int:
    if gpus in (None, 0, "0"):
        return 0
    if str(gpus).lower() == "all":
        return inventory_size
    return int(gpus)


class GpuSampler:
    """Samples memory used and utilisation of the assigned GPUs while an execution runs.

    NVML accounting is off on most hosts, so utilisation comes from sampling
    the device; the GPUs are the execution's alone, so device figures are its own.
    """

    def __init__(self, gpus: Sequence[Gpu], interval: float):
        self.gpus = [g for g in gpus if not g.simulated]
        self.interval = interval
        self.peak_memory = 0
        self.utilisation = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "GpuSampler":
        if self.gpus:
            self._thread = threading.Thread(target=self._run, daemon=True, name="gpu-stats")
            self._thread.start()
        return self

    def stop(self) -> Optional[dict]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.summary()

    def summary(self) -> Optional[dict]:
        if not self.gpus:
            return None
        samples = self.utilisation
        return {
            "peak_memory_used": self.peak_memory,
            "mean_utilization": round(sum(samples) / len(samples), 1) if samples else 0.0,
            "peak_utilization": max(samples) if samples else 0,
            "samples": len(samples),
            "interval": self.interval,
        }

    def _run(self) -> None:
        try:
            nvml = _nvml()
            handles = [nvml.nvmlDeviceGetHandleByUUID(g.uuid) for g in self.gpus]
        except Exception:
            log.exception("GPU statistics are unavailable")
            return
        while True:
            try:
                memory = sum(int(nvml.nvmlDeviceGetMemoryInfo(h).used) for h in handles)
                busy = max(int(nvml.nvmlDeviceGetUtilizationRates(h).gpu) for h in handles)
            except Exception:
                log.exception("a GPU sample failed")
            else:
                self.peak_memory = max(self.peak_memory, memory)
                self.utilisation.append(busy)
            if self._stop.wait(self.interval):
                return
