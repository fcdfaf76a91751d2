"""What one execution costs the platform itself, end to end, against running the same thing raw.

For a trivial actor (``actors/echo``), messages are posted through the API (gunicorn, as in
production) until their records say COMPLETE, with a spawner of ``--slots`` 1, 2 and 4 on
the process runtime; the baseline runs the same command (the staged image's argv and
environment, each in a session of its own as the runtime does) in a raw ``subprocess.run``
loop at the same parallelism, end point "exited and its output read". With ``--docker``, the Docker runtime against a raw docker-SDK loop
(create, start, wait, logs: its end point; remove follows, untimed, before that worker's next
run, as ours removes after COMPLETE). Blocks of ours and of the baseline alternate in swapped
order (A B B A ...), each side's throughput is the block's executions over its wall time, and
every figure is printed as median (min-max) over the blocks, with the load average.

Per execution of ours, also:

* platform CPU: utime + stime from /proc of the API's processes, the spawner's supervisor
  and slot processes (their own threads, not the actors they reap) and redis-server;
* Redis round trips: counted in each platform process by bench/redis_counter (one per
  command, pipeline or script call), split into the API's and the spawner's;
* Redis commands: INFO commandstats, those run inside scripts included.

Targets (issue 16, on the 2-core machine): process runtime >= 0.9x the raw loop's
throughput, platform CPU <= 5 ms and Redis round trips <= 15 per execution.

    python bench/overhead.py [--messages 40] [--rounds 4] [--slots 1,2,4] [--docker]
                             [--profile SECONDS]

``--profile`` records the spawner's slot processes with py-spy (if installed) during one
extra block of ours at the largest slot count and prints the top of the profile.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis as redis_lib
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors_core.config import Config  # noqa: E402
from actors_core.store import keys  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from bench.common import (CpuMeter, children, counting_environment, interleaved,  # noqa: E402
                          load, redis_commands, round_trips, spread, start_gunicorn)
from tests.integration.platform import (RedisServer, SpawnerProcess,  # noqa: E402
                                        platform_environment)

IMAGE = "actors/echo:latest"
EXPECTED = b"Contents of MSG: "
TARGET_RATIO, TARGET_CPU_MS, TARGET_ROUND_TRIPS = 0.9, 5.0, 15


class Platform:
    """redis-server, the API under gunicorn and one spawner at a time, all counted."""

    def __init__(self, workdir: Path, api_workers: int = 1):
        self.workdir = workdir
        self.redis_server = RedisServer(workdir)
        self.redis = redis_lib.Redis.from_url(self.redis_server.url)
        self.counts = workdir / "counts"
        self.environment = counting_environment(
            platform_environment(self.redis_server.url, workdir, ACTORS_METRICS="1"), self.counts)
        self.api, self.url = start_gunicorn(self.environment, workdir, workers=api_workers)
        token = mint(Config(jwt_secret=self.environment["ACTORS_JWT_SECRET"]), "bench",
                     roles=("admin",))
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {token}"
        self.spawner = None

    def start_spawner(self, runtime: str, slots: int) -> None:
        self.stop_spawner()
        self.spawner = SpawnerProcess(dict(self.environment, ACTORS_RUNTIME=runtime),
                                      name=f"bench-{runtime}-{slots}", slots=slots,
                                      log_path=self.workdir / "spawner.log")

    def stop_spawner(self) -> None:
        if self.spawner is not None:
            self.spawner.stop()
            self.spawner = None

    def api_pids(self) -> list:
        return [self.api.pid] + children(self.api.pid)

    def spawner_pids(self) -> list:
        if self.spawner is None:
            return []
        return [self.spawner.process.pid] + children(self.spawner.process.pid)

    def meter(self) -> CpuMeter:
        return CpuMeter({"api": self.api_pids, "spawner": self.spawner_pids,
                         "redis": lambda: [self.redis_server.process.pid]})

    def create_actor(self, slots: int) -> str:
        answer = self.http.post(f"{self.url}/actors", json={
            "image": IMAGE, "stateless": True, "max_workers": slots}, timeout=30)
        answer.raise_for_status()
        actor_id = answer.json()["result"]["id"]
        deadline = time.monotonic() + 120
        while self.http.get(f"{self.url}/actors/{actor_id}",
                            timeout=30).json()["result"]["status"] != "READY":
            if time.monotonic() > deadline:
                raise RuntimeError("the actor never became READY; see spawner.log")
            time.sleep(0.1)
        return actor_id

    def stop(self) -> None:
        self.stop_spawner()
        self.api.terminate()
        self.api.wait(30)
        self.redis_server.stop()


def ours_block(platform: Platform, actor_id: str, count: int) -> dict:
    """Post ``count`` messages, wait until every record is COMPLETE; throughput and costs."""
    meter = platform.meter()
    api_pids, spawner_pids = platform.api_pids(), platform.spawner_pids()
    cpu_before = meter.sample()
    trips_before = (round_trips(platform.counts, api_pids),
                    round_trips(platform.counts, spawner_pids))
    commands_before = redis_commands(platform.redis)
    started = time.perf_counter()
    ids = []
    for number in range(count):
        answer = platform.http.post(f"{platform.url}/actors/{actor_id}/messages",
                                    data={"message": f"bench {number}"}, timeout=30)
        answer.raise_for_status()
        ids.append(answer.json()["result"]["execution_id"])
    waiting, own_commands = {keys.done_signal(eid) for eid in ids}, 0
    while waiting:  # the finish script pushes the done signal with the COMPLETE record
        popped = platform.redis.blpop(list(waiting), timeout=120)
        own_commands += 1
        if popped is None:
            raise RuntimeError(f"{len(waiting)} executions did not finish; see spawner.log")
        waiting.discard(popped[0].decode())
    elapsed = time.perf_counter() - started
    cpu = CpuMeter.delta(cpu_before, meter.sample())
    trips = (round_trips(platform.counts, api_pids) - trips_before[0],
             round_trips(platform.counts, spawner_pids) - trips_before[1])
    commands = redis_commands(platform.redis) - commands_before - own_commands
    with platform.redis.pipeline(transaction=False) as pipe:  # after the counts: not counted
        for eid in ids:
            pipe.hget(keys.execution(eid), "status")
        statuses = pipe.execute()
    assert all(s == b'"COMPLETE"' for s in statuses), statuses
    logs = platform.redis.get(keys.logs(ids[-1])) or b""
    assert EXPECTED in logs, logs[:200]
    return {"rate": count / elapsed, "cpu_ms": {k: v * 1000 / count for k, v in cpu.items()},
            "api_trips": trips[0] / count, "spawner_trips": trips[1] / count,
            "commands": commands / count}


# -- the baselines --------------------------------------------------------------------------
def staged_command(workdir: Path) -> tuple:
    """(argv, environment, cwd) the process runtime runs for the echo image."""
    from spawner.runtimes.images import BASE_PATH, find_image, read_dockerfile, stage

    image = stage(read_dockerfile(find_image(IMAGE)), workdir / "raw-images", IMAGE)
    home = workdir / "raw-home"
    home.mkdir(exist_ok=True)
    environment = {"PATH": f"{image.bin_dir}:{BASE_PATH}", "HOME": str(home), "LANG": "C.UTF-8",
                   **image.env, "_abaco_Content_Type": "str"}
    return image.argv, environment, image.cwd or str(home)


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raw_process_block(command: tuple, count: int, parallel: int) -> dict:
    argv, environment, cwd = command

    def one(number: int) -> float:
        # A session of its own, as the process runtime gives each execution: with the
        # kernel's autogroup scheduling (on here) each session is a scheduling group, so a
        # loop whose children shared the benchmark's session would get a smaller share of
        # a loaded machine than the same children each in their own.
        done = subprocess.run(argv, env=dict(environment, MSG=f"bench {number}"), cwd=cwd,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
        assert done.returncode == 0 and EXPECTED in done.stdout, done.stdout[:200]
        return time.perf_counter()

    cpu, started = self_cpu(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        ends = list(pool.map(one, range(count)))
    return {"rate": count / (max(ends) - started), "cpu_ms": (self_cpu() - cpu) * 1000 / count}


def raw_docker_block(client, count: int, parallel: int) -> dict:
    def one(number: int) -> float:
        container = client.containers.create(IMAGE, environment={"MSG": f"bench {number}"})
        container.start()
        container.wait()
        output = container.logs()
        finished = time.perf_counter()  # the end point; removal follows, as ours does
        container.remove(force=True)
        assert EXPECTED in output, output[:200]
        return finished

    cpu, started = self_cpu(), time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        ends = list(pool.map(one, range(count)))
    return {"rate": count / (max(ends) - started), "cpu_ms": (self_cpu() - cpu) * 1000 / count}


# -- one comparison ---------------------------------------------------------------------------
def compare(platform: Platform, runtime: str, slots: int, count: int, rounds: int,
            raw_block, profile: float = 0.0) -> dict:
    platform.start_spawner(runtime, slots)
    actor_id = platform.create_actor(slots)
    sides = {"raw": lambda: raw_block(count, slots), "ours": lambda: ours_block(
        platform, actor_id, count)}
    warm = min(count, 2 * slots)
    raw_block(warm, slots)
    ours_block(platform, actor_id, warm)
    results = {"raw": [], "ours": []}
    loads = [os.getloadavg()[0]]
    for number, side in interleaved(rounds, ("raw", "ours")):
        results[side].append(sides[side]())
        loads.append(os.getloadavg()[0])
    ratios = [o["rate"] / r["rate"] for o, r in zip(results["ours"], results["raw"])]
    summary = {"runtime": runtime, "slots": slots, "ratios": ratios, "loads": loads, **results}
    if profile:
        summary["profile"] = profile_block(platform, actor_id, count, profile)
    platform.stop_spawner()
    return summary


def profile_block(platform: Platform, actor_id: str, count: int, seconds: float) -> str:
    """One more block of ours with py-spy recording the slot processes; the top of it."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return "py-spy is not installed (pip install py-spy): no profile"
    slots = children(platform.spawner.process.pid)
    outputs, recorders = [], []
    for pid in slots:
        output = platform.workdir / f"profile-{pid}.txt"
        outputs.append(output)
        recorders.append(subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
             "--format", "raw", "--output", str(output), "--threads", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1.0)
    stop = time.monotonic() + seconds - 1.5
    while time.monotonic() < stop:
        ours_block(platform, actor_id, count)
    for recorder in recorders:
        recorder.wait(seconds + 30)
    return summarize_profile(outputs)


def summarize_profile(outputs: list, top: int = 25) -> str:
    """Self and inclusive sample counts per function over py-spy's folded stacks."""
    inclusive, own, total = {}, {}, 0
    for output in outputs:
        if not output.exists():
            continue
        for line in output.read_text().splitlines():
            stack, _, samples = line.rpartition(" ")
            if not samples.isdigit():
                continue
            samples = int(samples)
            frames = [f for f in stack.split(";") if not f.startswith(("thread", "process"))]
            if not frames or "wait (threading.py" in frames[-1] or "select" in frames[-1]:
                continue  # idle: blocked in a wait, a select, a socket read
            total += samples
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + samples
            own[frames[-1]] = own.get(frames[-1], 0) + samples
    if not total:
        return "no busy samples"
    lines = [f"{total} busy samples over the slot processes; top inclusive:"]
    for frame, samples in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * samples / total:5.1f}%  {frame[:110]}")
    lines.append("top self:")
    for frame, samples in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {100 * samples / total:5.1f}%  {frame[:110]}")
    return "\n".join(lines)


def report(summary: dict) -> None:
    ours, raw = summary["ours"], summary["raw"]
    label = f"{summary['runtime']} runtime, --slots {summary['slots']}"
    cpu = {name: [o["cpu_ms"][name] for o in ours] for name in ours[0]["cpu_ms"]}
    total_cpu = [sum(o["cpu_ms"].values()) for o in ours]
    trips = [o["api_trips"] + o["spawner_trips"] for o in ours]
    print(f"\n{label}: {len(ours)} blocks each side, interleaved; "
          f"load {spread(summary['loads'], '{:.1f}')} (1-min, sampled between blocks)")
    print(f"  raw loop      {spread([r['rate'] for r in raw])} executions/s; "
          f"its own CPU {spread([r['cpu_ms'] for r in raw])} ms/execution")
    print(f"  ours          {spread([o['rate'] for o in ours])} executions/s")
    ratio = statistics.median(summary["ratios"])
    print(f"  ratio ours/raw {spread(summary['ratios'])}"
          + (f"   target >= {TARGET_RATIO}: {'met' if ratio >= TARGET_RATIO else 'NOT met'}"
             if summary["runtime"] == "process" else ""))
    parts = ", ".join(f"{name} {statistics.median(values):.2f}" for name, values in cpu.items())
    cpu_median = statistics.median(total_cpu)
    print(f"  platform CPU  {spread(total_cpu)} ms/execution ({parts})   target <= "
          f"{TARGET_CPU_MS}: {'met' if cpu_median <= TARGET_CPU_MS else 'NOT met'}")
    trips_median = statistics.median(trips)
    print(f"  Redis round trips {spread(trips, '{:.1f}')} per execution (API "
          f"{statistics.median([o['api_trips'] for o in ours]):.1f}, spawner "
          f"{statistics.median([o['spawner_trips'] for o in ours]):.1f})   target <= "
          f"{TARGET_ROUND_TRIPS}: {'met' if trips_median <= TARGET_ROUND_TRIPS else 'NOT met'}")
    print(f"  Redis commands {spread([o['commands'] for o in ours], '{:.1f}')} per execution "
          f"(inside scripts included)")
    if summary.get("profile"):
        print(summary["profile"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40, help="executions per block")
    parser.add_argument("--rounds", type=int, default=4, help="blocks of each side")
    parser.add_argument("--slots", default="1,2,4")
    parser.add_argument("--docker", action="store_true", help="also the Docker runtime")
    parser.add_argument("--docker-slots", default="2")
    parser.add_argument("--docker-messages", type=int, default=16)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--profile", type=float, default=0.0,
                        help="seconds of py-spy over the slot processes (largest --slots)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    print(f"bench/overhead.py: {IMAGE}, {args.messages} executions per block, {args.rounds} "
          f"blocks per side, API gunicorn -w {args.api_workers}; {load()}", flush=True)
    platform = Platform(workdir, api_workers=args.api_workers)
    try:
        command = staged_command(workdir)
        slot_counts = [int(s) for s in args.slots.split(",") if s]
        for slots in slot_counts:
            summary = compare(platform, "process", slots, args.messages, args.rounds,
                              lambda n, p: raw_process_block(command, n, p),
                              profile=args.profile if slots == max(slot_counts) else 0.0)
            report(summary)
            sys.stdout.flush()
        if args.docker:
            import docker

            client = docker.from_env()
            for slots in [int(s) for s in args.docker_slots.split(",") if s]:
                summary = compare(platform, "docker", slots, args.docker_messages, args.rounds,
                                  lambda n, p: raw_docker_block(client, n, p))
                report(summary)
                sys.stdout.flush()
    finally:
        platform.stop()
        print(f"\nafter: {load()}; files in {workdir}")


if __name__ == "__main__":
    main()
