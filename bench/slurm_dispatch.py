"""Message-to-COMPLETE of a trivial actor on the Slurm runtime vs a raw ``sbatch --wait``.

Both run the same command (images/echo/actor.py with MSG set, by the same Python) as a batch
job on the same cluster, in the same run, interleaved (raw then ours, ours then raw, ...) so
that both see the same load. Ours: POST a message with ``_abaco_synchronous=true`` (answered
the moment the execution is COMPLETE) through the real API, Redis, a wake-up and an
``actors spawner --runtime slurm``. Raw: ``sbatch --wait`` of a script running the command,
then reading its output file.

``sbatch --wait`` sleeps 2 s, then 8 s, ... between its looks at the job, so its figures are
quantised; for an idea of Slurm's own time the bench also times a raw ``sbatch`` followed by
``squeue`` every 0.1 s until the job has ended ("raw, fine polling").

Then, holding many jobs: ``--hold N`` messages to an actor asking for more CPUs than a node has,
so that every job stays PENDING; it times their submission, the spawner supervisor's CPU while
it follows them all (one thread), one ``squeue`` for all their names, and cancelling them all.

Each figure is printed as *median (min-max, n)* with the machine's load (bench/common.py).

    python bench/slurm_dispatch.py [--runs 10] [--hold 300]   # needs scripts/slurm-setup.sh
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import interleaved, load, spread  # noqa: E402
from actors_core.ids import new_id  # noqa: E402
from actors_core.tokens import mint  # noqa: E402
from tests.integration.platform import (ApiClient, ApiServer, RedisServer,  # noqa: E402
                                        SpawnerProcess, platform_environment)

ECHO = REPO / "images" / "echo" / "actor.py"


def raw_script(folder: Path) -> Path:
    script = folder / "raw.sh"
    script.write_text(f"#!/bin/sh\nexport MSG=bench PYTHONPATH={REPO} PYTHONUNBUFFERED=1\n"
                      f"exec {sys.executable} {ECHO}\n")
    script.chmod(0o755)
    return script


def raw_wait(script: Path, folder: Path) -> float:
    output = folder / f"raw-{new_id()}.log"
    started = time.perf_counter()
    subprocess.run(["sbatch", "--wait", "--quiet", "--export=NONE", f"--output={output}",
                    f"--job-name={new_id()}", str(script)], check=True)
    text = output.read_text()
    elapsed = time.perf_counter() - started
    if "Contents of MSG: bench" not in text:
        raise RuntimeError(f"unexpected raw output: {text[:200]}")
    return elapsed


def raw_polled(script: Path, folder: Path) -> float:
    output = folder / f"raw-{new_id()}.log"
    started = time.perf_counter()
    job = subprocess.run(["sbatch", "--parsable", "--export=NONE", f"--output={output}",
                          f"--job-name={new_id()}", str(script)], check=True, text=True,
                         capture_output=True).stdout.strip().split(";")[0]
    while True:
        state = subprocess.run(["squeue", "--noheader", "--states=all", f"--jobs={job}",
                                "--format=%T"], text=True, capture_output=True).stdout.strip()
        if state and state not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            break
        time.sleep(0.1)
    output.read_text()
    return time.perf_counter() - started


def ours(api: ApiClient, actor_id: str) -> float:
    started = time.perf_counter()
    response = api.post(f"/actors/{actor_id}/messages", data={"message": "bench"},
                        params={"_abaco_synchronous": "true"})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or "Contents of MSG: bench" not in response.text:
        raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:200]}")
    return elapsed


def summary(samples: list) -> str:
    return f"{spread(samples)} s, mean {statistics.fmean(samples):.2f} s"


def poll_cost(names: list, rounds: int = 5) -> float:
    """Seconds one squeue takes for these job names (the follower's call per poll)."""
    argument = ",".join(names)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run(["squeue", "--noheader", "--me", "--states=all", f"--name={argument}",
                        "--format=%i|%j|%T|%N|%P|%S|%e|%r"], check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def pending_jobs(names: set) -> int:
    listed = subprocess.run(["squeue", "--noheader", "--me", "--states=PENDING", "--format=%j"],
                            text=True, capture_output=True).stdout.split()
    return len(names.intersection(listed))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (the supervisor, whose thread follows the jobs)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hold_many(api: ApiClient, spawner: SpawnerProcess, count: int) -> None:
    cpus = int(subprocess.run(["sinfo", "--noheader", "--format=%c"], text=True,
                              capture_output=True).stdout.split()[0].rstrip("+"))
    actor = api.create_actor("actors/echo", max_cpus=cpus * 4, max_workers=count)
    api.wait_actor(actor["id"])
    started = time.perf_counter()
    ids = {api.send(actor["id"], "held") for _ in range(count)}
    sent = time.perf_counter() - started
    while pending_jobs(ids) < count:
        time.sleep(0.2)
    submitted = time.perf_counter() - started
    cpu_before, window = cpu_seconds(spawner.process.pid), 10.0
    time.sleep(window)
    following = (cpu_seconds(spawner.process.pid) - cpu_before) / window
    squeue = poll_cost(sorted(ids))
    started = time.perf_counter()
    for execution_id in ids:
        api.delete(f"/actors/{actor['id']}/executions/{execution_id}")
    while True:
        summary_ = api.result(api.get(f"/actors/{actor['id']}/executions"))
        if all(e["status"] == "COMPLETE" for e in summary_["executions"]):
            break
        time.sleep(0.5)
    cancelled = time.perf_counter() - started
    print(f"\nholding {count} PENDING jobs with one spawner (--slots {count + 4}), {load()}:")
    print(f"  {count} messages posted in {sent:.1f} s; all {count} jobs PENDING in Slurm after "
          f"{submitted:.1f} s ({count / submitted:.0f} submissions/s by 2 submitter processes)")
    print(f"  supervisor (one follower thread) while following them: {following * 100:.1f}% of a "
          f"CPU; one squeue for their {count} names: {squeue * 1000:.0f} ms")
    print(f"  all {count} force-quit (DELETE) and recorded cancelled in {cancelled:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="pairs (raw, ours)")
    parser.add_argument("--hold", type=int, default=300, help="PENDING jobs to hold (0: skip)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    load_before = load()

    with tempfile.TemporaryDirectory() as workdir:
        workdir = Path(workdir)
        redis = RedisServer(workdir)
        environment = platform_environment(redis.url, workdir, ACTORS_SYNC_TIMEOUT=120,
                                           ACTORS_RUNTIME="slurm")
        api_server = ApiServer(environment)
        spawner = SpawnerProcess(environment, name=f"bench-{new_id(6)}", slots=args.hold + 4,
                                 log_path=workdir / "spawner.log")
        try:
            api = ApiClient(api_server.url, mint(api_server.config, "bench",
                                                 roles=("privileged",)))
            actor = api.create_actor("actors/echo")
            api.wait_actor(actor["id"])
            script = raw_script(workdir)
            ours(api, actor["id"]), raw_wait(script, workdir)  # warm-up: staging, page cache
            raw, mine, fine = [], [], []
            sides = {"raw": lambda: raw.append(raw_wait(script, workdir)),
                     "ours": lambda: mine.append(ours(api, actor["id"])),
                     "fine": lambda: fine.append(raw_polled(script, workdir))}
            for run, side in interleaved(args.runs, ("raw", "ours", "fine")):
                sides[side]()
                if len(fine) == len(mine) == len(raw) == run + 1:
                    print(f"  round {run + 1:2}: raw sbatch --wait {raw[-1]:5.2f} s, ours "
                          f"{mine[-1]:5.2f} s, raw with fine polling {fine[-1]:5.2f} s",
                          flush=True)
            if args.runs:
                cost = poll_cost([new_id() for _ in range(1000)])
                report(args.runs, load_before, load(), raw, mine, fine, cost)
            if args.hold:
                hold_many(api, spawner, args.hold)
        finally:
            spawner.stop()
            api_server.stop()
            redis.stop()


def report(runs, load_before, load_after, raw, mine, fine, cost) -> None:
    print(f"\nactors/echo as a Slurm job, {runs} interleaved rounds (raw, ours, fine; then "
          f"reversed), {load_before} before, {load_after} after")
    print(f"  raw sbatch --wait           {summary(raw)}")
    print(f"  actors message->COMPLETE    {summary(mine)}")
    print(f"  raw sbatch + squeue 0.1 s   {summary(fine)}")
    for name, baseline in (("raw sbatch --wait", raw), ("raw with fine polling", fine)):
        per_round = [m / b for m, b in zip(mine, baseline)]
        print(f"  ratio ours / {name}: medians "
              f"{statistics.median(mine) / statistics.median(baseline):.2f}x; per round "
              f"{spread(per_round)}x")
    print(f"  one follower poll's squeue for 1000 job names (none of them queued): "
          f"{cost * 1000:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
