"""Where a part maker's time goes, per row, on one thread: the model work that generate_throughput's
(a) measures, then each thing a part adds to it (fresh latents and labels, the acceptance
bookkeeping, the Parquet file). Explains the c/a ratio of generate_throughput.py.

    python benchmarks/part_costs.py [--checkpoint RUN --judge JUDGE] [--precision P] [--rows 32768]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from generate_throughput import plan_for, untrained_models  # noqa: E402

from augment.core import schema, storage  # noqa: E402
from augment.core.precision import PRECISIONS, resolve_here  # noqa: E402
from augment.stages.synthetic.sampling import labels_for, latents_for  # noqa: E402
from augment.stages.synthetic.synthesis import PartMaker  # noqa: E402


def per_row_us(label: str, rows: int, run: Callable[[], None]) -> None:
    run()  # warm-up: first-call allocations and kernel selection
    seconds = min(_timed(run) for _ in range(2))
    print(f"{label:58s} {seconds * 1e6 / rows:6.1f} us/row {rows / seconds:9,.0f} rows/s")


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="GAN run folder (default: untrained generator)")
    parser.add_argument("--judge", help="judge folder (default: untrained judge)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--rows", type=int, default=32_768, help="rows per measurement (< one row group)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="augment-part-costs-"))
    try:
        checkpoint, judge = (args.checkpoint, args.judge) if args.checkpoint and args.judge else untrained_models(work)
        maker = PartMaker(
            plan_for(checkpoint, judge, str(work / "out"), 1_000_000, resolve_here(args.precision, gpu=False))
        )
        plan, rows, batch = maker.plan, args.rows, maker.plan.batch_size
        batches = [np.arange(start, start + batch) for start in range(0, rows, batch)]
        print(f"one thread, batch {batch}, {plan.precision}, {rows:,} rows per measurement")

        z, y = latents_for(batches[0], plan.seed, maker.latent_dim), labels_for(batches[0], plan.n, maker.boundaries)
        per_row_us("generator + judge, one repeated batch (as (a))", rows, lambda: [maker.score(z, y) for _ in batches])
        per_row_us(
            "... each batch with its own latents and labels",
            rows,
            lambda: [
                maker.score(latents_for(ids, plan.seed, maker.latent_dim), labels_for(ids, plan.n, maker.boundaries))
                for ids in batches
            ],
        )
        images = np.empty((rows, *schema.IMAGE_SHAPE), np.uint8)
        confidence = np.empty(rows, np.float32)
        labels = np.empty(rows, np.int64)

        def make_rows() -> None:
            for ids in batches:
                part = slice(ids[0], ids[-1] + 1)
                _, labels[part], _, _ = maker.make_rows(ids, images[part], confidence[part])

        per_row_us("PartMaker.make_rows (+ acceptance, copies into the group)", rows, make_rows)
        ids = np.arange(rows, dtype=np.int64)
        table = maker.table(ids, images, labels, confidence)
        path = storage.join(maker.folder, "costs.parquet")

        def parquet() -> None:
            writer = schema.PartWriter(maker.fs, path, plan.metadata)
            writer.write(table)
            writer.close()

        per_row_us("  + the Parquet file (PartWriter, zstd)", rows, parquet)
        per_row_us("  + its sha256", rows, lambda: storage.sha256(maker.fs, path))
        part = iter(range(1_000))
        per_row_us("PartMaker.write_part (all of it)", rows, lambda: maker.write_part(next(part), 0, rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
