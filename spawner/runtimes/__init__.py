"""Runtimes behind one interface (see base.py)."""
from .base import (BatchRuntime, ImageUnavailable, Handle, JobOutcome, JobPhase, JobStatus, Mount,
                   RunSpec, Runtime, SchedulerUnavailable, StartFailed, Usage, LABEL_ACTOR,
                   LABEL_EXECUTION, LABEL_SPAWNER, detached)


BATCH_RUNTIMES = ("slurm",)  # runtimes that hand executions to a cluster scheduler


def make_runtime(name: str, **options) -> Runtime:
    """The runtime called ``name``; ``config=`` supplies what a runtime needs from settings.

    Each runtime's module is imported only when chosen, so a host without the
    docker SDK can still run processes. Explicit options win over ``config``.
    """
    config = options.pop("config", None)
    if name == "docker":
        from .docker import ContainerDefaults, DockerRuntime

        if config is not None:
            options.setdefault("defaults", ContainerDefaults.from_config(config))
        return DockerRuntime(**options)
    if name == "process":
        from .process import ProcessRuntime

        if config is not None:
            options.setdefault("workdir", config.spawner_workdir)
            options.setdefault("image_path", config.process_image_path)
        return ProcessRuntime(**options)
    if name == "slurm":
        from .slurm import SlurmRuntime, placements

        if config is not None:
            options.setdefault("workdir", config.spawner_workdir)
            options.setdefault("image_path", config.process_image_path)
            options.setdefault("engine", config.slurm_engine)
            options.setdefault("queues", placements(config.slurm_queues))
            options.setdefault("python", config.slurm_python)
            options.setdefault("poll_interval", config.slurm_poll_interval)
        return SlurmRuntime(**options)
    raise ValueError(f"unknown runtime {name!r} (known: docker, process, slurm)")


__all__ = ["BATCH_RUNTIMES", "BatchRuntime", "detached", "ImageUnavailable", "Handle", "JobOutcome", "JobPhase", "JobStatus",
           "Mount", "RunSpec", "Runtime", "SchedulerUnavailable", "StartFailed", "Usage",
           "LABEL_ACTOR", "LABEL_EXECUTION", "LABEL_SPAWNER", "make_runtime"]
