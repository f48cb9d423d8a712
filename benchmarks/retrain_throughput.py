"""Retraining throughput: `augment retrain` (Ray Train fed by Ray Data) against a plain
single-process PyTorch loop over the same rows held in memory, measured in one run on one machine.

    python benchmarks/retrain_throughput.py [--rows 60000] [--epochs 2] [--batch-size 128]

Needs AUGMENT_DATA_ROOT (the real MNIST files): the rows are exported to Parquet once and both
sides train the same DigitClassifier with the same AdamW schedule and batch size. The plain loop
runs before and after the Ray runs and the ratios are taken against their mean (a shared 2-core
box drifts by 10-20% within minutes). Ray's figure is its last epoch's samples/s (fit()'s fixed
start-up is reported apart). Prints samples/s and the ratios; targets (issue 24): Ray >= 0.8x
the plain loop, Ray with --classic-augment >= 0.7x the plain loop without it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core import mnist  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier  # noqa: E402
from augment.models.classifier_training import Schedule, optimizer_for, train_epoch  # noqa: E402
from augment.stages.classifier import train as classifier_stage
from augment.stages.classifier.classic_augment import augment_batch, row_keys  # noqa: E402
from augment.stages.classifier.config import ClassifierConfig  # noqa: E402
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402


def plain_loop(
    images: np.ndarray,
    labels: np.ndarray,
    cfg: ClassifierConfig,
    epochs: int,
    augment: bool,
    threads: int | None = None,
) -> float:
    """samples/s of the last of `epochs` epochs: same model, optimizer, schedule; rows in memory;
    torch threads: every CPU unless `threads`."""
    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.manual_seed(cfg.seed)
    model = DigitClassifier(ClassifierSpec())
    optimizer = optimizer_for(model, cfg.weight_decay)
    schedule = Schedule(cfg.lr, cfg.lr_decay, cfg.batch_size, len(labels))
    all_images, all_labels = torch.from_numpy(np.array(images)), torch.from_numpy(labels.astype(np.int64))
    ids, step, rate = np.arange(len(labels)), 0, 0.0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(labels))

        def batches(order=order, epoch=epoch):
            for first in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
                rows = order[first : first + cfg.batch_size]
                batch = all_images[rows]
                if augment:
                    batch = augment_batch(batch, row_keys(cfg.seed, epoch, np.zeros(len(rows)), ids[rows.numpy()]))
                yield mnist.to_gan_range(batch).unsqueeze(1), all_labels[rows]

        stats = train_epoch(model, optimizer, batches(), schedule, step)
        step, rate = stats.steps, stats.samples / stats.seconds
    return rate


def export_real(work: Path, rows: int | None = None) -> tuple[str, np.ndarray, np.ndarray]:
    """MNIST's training split exported to Parquet under `work`, and its first `rows` images and labels."""
    export = str(work / "real")
    real_stage.run(RealConfig(out=export, download=False))
    table = pq.read_table(f"{export}/train", columns=["image", "label"])
    table = table if rows is None else table.slice(0, rows)
    return export, table["image"].combine_chunks().to_numpy_ndarray(), table["label"].to_numpy()


def ray_run(export: str, out: str, cfg: ClassifierConfig) -> tuple[float, float]:
    """(last epoch's samples/s, fit() seconds not spent in epochs)."""
    started = time.perf_counter()
    classifier_stage.run(ClassifierConfig(**{**cfg.__dict__, "data": export, "out": out}))
    wall = time.perf_counter() - started
    with open(Path(out) / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1]["samples_per_s"]), wall - sum(float(r["seconds"]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    if not os.environ.get("AUGMENT_DATA_ROOT"):
        sys.exit("set AUGMENT_DATA_ROOT to a folder with MNIST/raw (the real files)")
    work = Path(tempfile.mkdtemp(prefix="retrain-bench-"))
    export, images, labels = export_real(work, args.rows)
    cfg = ClassifierConfig(
        data=export, out=str(work / "unused"), epochs=args.epochs, batch_size=args.batch_size, workers=1, download=False
    )
    print(
        f"host: {machine()} ({torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}; "
        f"{len(labels):,} rows, batch {args.batch_size}, {args.epochs} epochs (last one timed)",
        flush=True,
    )

    before = plain_loop(images, labels, cfg, args.epochs, augment=False)
    print(f"plain loop (before)             {before:9,.0f} samples/s", flush=True)
    plain_augmented = plain_loop(images, labels, cfg, args.epochs, augment=True)
    print(f"plain loop + batched augment    {plain_augmented:9,.0f} samples/s", flush=True)
    ray_plain, overhead = ray_run(export, str(work / "ray"), cfg)
    print(
        f"augment retrain                 {ray_plain:9,.0f} samples/s  (fit() start-up etc. {overhead:.0f} s)",
        flush=True,
    )
    ray_augmented, _ = ray_run(
        export, str(work / "ray-aug"), ClassifierConfig(**{**cfg.__dict__, "classic_augment": True})
    )
    print(f"augment retrain --classic-augment {ray_augmented:7,.0f} samples/s", flush=True)
    after = plain_loop(images, labels, cfg, args.epochs, augment=False)
    print(f"plain loop (after)              {after:9,.0f} samples/s", flush=True)
    baseline = (before + after) / 2
    print(f"ratio retrain / plain loop                       {ray_plain / baseline:.2f}  (target >= 0.8)")
    print(f"ratio retrain --classic-augment / plain loop     {ray_augmented / baseline:.2f}  (target >= 0.7)")
    print(f"ratio plain + augment / plain loop               {plain_augmented / baseline:.2f}")


if __name__ == "__main__":
    main()
