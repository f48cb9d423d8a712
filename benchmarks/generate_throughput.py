"""Generation throughput, measured in one run on one machine:

  (a) raw forward, in-process, best batch size, all threads: generator alone, and generator +
      judge (the model work every row needs);
  (b) a plain single-process loop: the same PartMaker (generator + judge + pyarrow ParquetWriter,
      same schema) writing parts one after another, all threads;
  (c) `augment generate` end to end in a fresh process (Ray start-up, Ray Data actor pool,
      automatic worker/CPU settings), with the peak PSS of its whole process tree.

    python benchmarks/generate_throughput.py --n 1000000 [--checkpoint RUN --judge JUDGE] [--precision P]

Without --checkpoint/--judge it uses untrained models of the default sizes (throughput does not
depend on the weights; min-confidence rejections do, so this benchmark uses none).
All three run in the same number format (--precision, resolved as `augment generate` resolves it).
Prints rows/s for each and the ratios c/a and c/b. (b) runs before and after (c) and c/b is taken
against their mean, as in train_throughput.py: a shared 2-core box drifts by 10-20% within minutes,
and one baseline reading can land on either side of the job.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commands import generate_command  # noqa: E402  (benchmarks/ is the script folder)

from augment.core import schema  # noqa: E402
from augment.core.precision import PRECISIONS, resolve_here  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier  # noqa: E402
from augment.models.classifier_file import export_classifier  # noqa: E402
from augment.models.gan import GanSpec, build_generator, init_weights  # noqa: E402
from augment.models.generator_file import export_generator  # noqa: E402
from augment.stages.synthetic.parts import PartPlan, part_bounds  # noqa: E402
from augment.stages.synthetic.sampling import class_boundaries, latents_for  # noqa: E402
from augment.stages.synthetic.synthesis import PartMaker  # noqa: E402


def untrained_models(folder: Path) -> tuple[str, str]:
    torch.manual_seed(0)
    spec = GanSpec()
    generator = build_generator(spec)
    generator.apply(init_weights)
    export_generator(str(folder / "gan"), generator.eval(), spec, dataset="mnist", epochs=0)
    export_classifier(str(folder / "judge"), DigitClassifier(ClassifierSpec()).eval(), dataset="mnist")
    return str(folder / "gan"), str(folder / "judge")


def plan_for(checkpoint: str, judge: str, out: str, n: int, precision: str) -> PartPlan:
    return PartPlan(
        checkpoint=checkpoint,
        judge=judge,
        out=out,
        n=n,
        seed=0,
        boundaries=tuple(class_boundaries(10, None).tolist()),
        min_confidence=0.0,
        max_attempts=1,
        batch_size=512,
        metadata=schema.file_metadata("mnist", generator="benchmark", run_config={"n": n}),
        precision=precision,
    )


def raw_forward(maker: PartMaker, rows: int = 16_384) -> tuple[float, float, int]:
    """(generator images/s, generator+judge rows/s, best batch size) in this process."""
    best = (0.0, 0.0, 0)
    for batch in (256, 512, 1024, 2048):
        z = latents_for(np.arange(batch), 0, maker.latent_dim)
        labels = np.arange(batch) % 10
        y = torch.from_numpy(labels)
        with torch.inference_mode():
            z_model = z.to(maker.dtype)
            maker.generator(z_model, y)
            started = time.perf_counter()
            for _ in range(rows // batch):
                maker.generator(z_model, y)
            generator_rate = rows // batch * batch / (time.perf_counter() - started)
        maker.score(z, labels)
        started = time.perf_counter()
        for _ in range(rows // batch):
            maker.score(z, labels)
        row_rate = rows // batch * batch / (time.perf_counter() - started)
        print(
            f"  (a) batch {batch:5d}: generator {generator_rate:7,.0f} images/s, generator + judge {row_rate:7,.0f} "
            "rows/s"
        )
        if row_rate > best[1]:
            best = (generator_rate, row_rate, batch)
    return best


def plain_loop(maker: PartMaker, n: int) -> float:
    started = time.perf_counter()
    for k, (start, stop) in enumerate(part_bounds(n, 262_144)):
        maker.write_part(k, start, stop)
    return n / (time.perf_counter() - started)


def tree_pss_bytes(root: int) -> int:
    """Proportional set size of a process and all its descendants (shared pages split fairly)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def steady_rate(stdout: str, cpus: int) -> float:
    """The job's rows/s while its actors make parts (start-up and shutdown left out): rows per
    actor-second of part making, times the actors (one per CPU, at most one per part)."""
    parts = [
        re.search(r"([\d,]+) rows in ([\d.]+) s", line) for line in stdout.splitlines() if line.startswith("part-")
    ]
    rows = sum(int(m.group(1).replace(",", "")) for m in parts if m)
    seconds = sum(float(m.group(2)) for m in parts if m)
    return rows / seconds * min(cpus, len(parts)) if seconds else 0.0


def ray_job(checkpoint: str, judge: str, out: str, n: int, precision: str) -> tuple[float, int, str, str]:
    """(rows/s end to end, peak PSS bytes of the process tree, the command's summary line, its stdout)."""
    command = generate_command(checkpoint, judge, out, n, "--precision", precision, "--overwrite")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_pss_bytes(proc.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"augment generate failed:\n{stdout[-3000:]}")
    return n / seconds, peak[0], stdout.strip().splitlines()[-1], stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="rows for the Ray Data job (c)")
    parser.add_argument("--plain-n", type=int, default=None, help="rows for the plain loop (b); default min(n, 131072)")
    parser.add_argument("--checkpoint", help="GAN run folder (default: untrained generator)")
    parser.add_argument("--judge", help="judge folder (default: untrained judge)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as `augment generate --precision`")
    args = parser.parse_args()
    precision = resolve_here(args.precision, gpu=False)

    work = Path(tempfile.mkdtemp(prefix="augment-bench-"))
    try:
        checkpoint, judge = (args.checkpoint, args.judge) if args.checkpoint and args.judge else untrained_models(work)
        threads = os.cpu_count() or 1
        torch.set_num_threads(threads)
        print(
            f"machine: {threads} CPUs, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}), "
            f"{'trained' if args.checkpoint else 'untrained'} models, {precision}"
        )
        plain_plan = plan_for(checkpoint, judge, str(work / "plain"), args.plain_n or min(args.n, 131_072), precision)
        maker = PartMaker(plain_plan)
        generator_rate, row_rate, batch = raw_forward(maker)
        plain_n = maker.plan.n
        plain_before = plain_loop(maker, plain_n)
        print(f"  (b) plain loop, {plain_n:,} rows, before (c): {plain_before:,.0f} rows/s")
        ray_rate, peak, summary, stdout = ray_job(checkpoint, judge, str(work / "ray"), args.n, precision)
        steady = steady_rate(stdout, threads)
        print(
            f"  (c) augment generate, {args.n:,} rows: {ray_rate:,.0f} rows/s end to end "
            f"({args.n / ray_rate:.1f} s), peak PSS {peak / 2**30:.2f} GiB\n      {summary}"
        )
        plain_after = plain_loop(maker, plain_n)
        print(f"  (b) plain loop, {plain_n:,} rows, after (c):  {plain_after:,.0f} rows/s")
        plain_rate = (plain_before + plain_after) / 2
        print(
            f"\n(a) generator {generator_rate:,.0f} images/s | generator + judge {row_rate:,.0f} rows/s (batch {batch})"
        )
        print(
            f"(b) plain loop {plain_rate:,.0f} rows/s (mean of {plain_before:,.0f} before and {plain_after:,.0f} "
            "after (c))"
        )
        print(
            f"(c) Ray Data job {ray_rate:,.0f} rows/s end to end, peak PSS {peak / 2**30:.2f} GiB; "
            f"{steady:,.0f} rows/s while making parts (Ray start-up, actor start and shutdown left out)"
        )
        print(
            f"c/a = {ray_rate / row_rate:.2f} (vs generator alone {ray_rate / generator_rate:.2f})   c/b = "
            f"{ray_rate / plain_rate:.2f}"
        )
        print(f"steady state: c/a = {steady / row_rate:.2f}   c/b = {steady / plain_rate:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
