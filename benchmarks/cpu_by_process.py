"""Where the CPUs go during `augment generate`: CPU seconds per process (the job's actors, its
driver, the model-check child, and each of Ray's own processes), read from /proc until the command
exits; then what a local Ray's processes take while idle. Explains the share of a small machine
that the job's actors do not get.

    python benchmarks/cpu_by_process.py [--n 200000] [--checkpoint RUN --judge JUDGE] [--idle-seconds 30]

Linux only (/proc). Processes that exist before the run are counted by what they add during it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import generate_command  # noqa: E402  (benchmarks/ is the script folder)
from generate_throughput import untrained_models  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_by_process() -> dict[int, tuple[str, float]]:
    """pid -> (command line or name, user + system CPU seconds so far)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/cmdline") as handle:
                command = handle.read().replace("\0", " ").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = command or stat.split("(", 1)[1].rsplit(")", 1)[0]
        found[int(entry)] = (name[:100], (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def used_between(before: dict, after: dict) -> list[tuple[float, str]]:
    return sorted(
        ((seconds - before.get(pid, (name, 0.0))[1], name) for pid, (name, seconds) in after.items()),
        reverse=True,
    )


def report(used: list[tuple[float, str]], wall: float, floor: float = 0.2) -> None:
    for seconds, name in used:
        if seconds >= floor:
            print(f"  {seconds:7.1f} s  {name}")
    total = sum(seconds for seconds, _ in used)
    print(f"  {total:7.1f} CPU-s in {wall:.1f} s of wall time ({total / wall:.2f} CPUs busy)")


def generate_run(checkpoint: str, judge: str, out: str, n: int) -> None:
    before = cpu_seconds_by_process()
    latest = dict(before)
    started = time.perf_counter()
    command = generate_command(checkpoint, judge, out, n, "--overwrite")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while proc.poll() is None:  # processes that exit before the end keep their last reading
        latest.update(cpu_seconds_by_process())
        time.sleep(0.3)
    stdout = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"augment generate failed:\n{stdout[-3000:]}")
    print(f"augment generate --n {n:,}: {stdout.strip().splitlines()[-1]}")
    report(used_between(before, latest), time.perf_counter() - started)


def idle_local_ray(seconds: float) -> None:
    import ray

    ray.init(address="local", include_dashboard=False, configure_logging=False)
    try:
        ray.data.range(10).map_batches(lambda batch: batch).take_all()  # starts Ray Data's helper actors
        time.sleep(5)
        before = cpu_seconds_by_process()
        time.sleep(seconds)
        print(f"\na local Ray, idle after one dataset (include_dashboard=False), {seconds:.0f} s:")
        report(used_between(before, cpu_seconds_by_process()), seconds, floor=0.05)
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--checkpoint", help="GAN run folder (default: untrained generator)")
    parser.add_argument("--judge", help="judge folder (default: untrained judge)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="0 skips the idle measurement")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="augment-cpu-"))
    try:
        checkpoint, judge = (args.checkpoint, args.judge) if args.checkpoint and args.judge else untrained_models(work)
        print(f"machine: {os.cpu_count()} CPUs")
        generate_run(checkpoint, judge, str(work / "out"), args.n)
        if args.idle_seconds > 0:
            idle_local_ray(args.idle_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
