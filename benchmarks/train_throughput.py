"""GAN training throughput: Ray Train (1 worker, all CPUs) vs the same model and step in a plain
single-process PyTorch loop, measured in one run on one machine.

    python benchmarks/train_throughput.py [--images 60000] [--epochs 1] [--arch dcgan] [--precision auto]

Uses real MNIST when AUGMENT_DATA_ROOT is set (else random pixels of the same shape: throughput
does not depend on content). The plain loop runs before and after the Ray run and the ratio is taken
against their mean, because a shared 2-core box drifts by 10-20% within minutes and one baseline
reading taken before the Ray run can land on either side. Prints samples/s for each, the ratio
(target >= 0.9 on CPU), and Ray's fixed per-fit overhead (wall time of fit() minus time in epochs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core import mnist  # noqa: E402
from augment.core.precision import PRECISIONS, resolve_for_training  # noqa: E402
from augment.models.gan import (  # noqa: E402
    build_discriminator,
    build_generator,
    init_weights,
    memory_format_for,
)
from augment.models.gan_step import AUTOCAST_DTYPES, GanStep, make_ema  # noqa: E402
from augment.stages.gan.config import GanConfig  # noqa: E402


def training_images(count: int) -> tuple[np.ndarray, np.ndarray, str]:
    if os.environ.get("AUGMENT_DATA_ROOT"):
        split = mnist.load_split("mnist", "train", download=False)
        return split.images[:count], split.labels[:count], "MNIST"
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 28, 28), dtype=np.uint8), rng.integers(0, 10, count), "random pixels"


def plain_loop(images: np.ndarray, labels: np.ndarray, cfg: GanConfig, threads: int) -> float:
    """samples/s of cfg.epochs epochs: the same GanStep as Ray's workers, no Ray, no DDP."""
    torch.set_num_threads(threads)
    torch.manual_seed(cfg.seed)
    spec = cfg.spec(num_classes=10)  # the widths Ray's run trains (the device's defaults)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    layout = memory_format_for(spec)
    generator.to(memory_format=layout)
    discriminator.to(memory_format=layout)
    step = GanStep(
        generator,
        discriminator,
        torch.optim.Adam(generator.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2)),
        torch.optim.Adam(discriminator.parameters(), cfg.lr, betas=(cfg.beta1, cfg.beta2)),
        make_ema(generator, cfg.ema_decay),
        cfg.loss,
        cfg.latent_dim,
        autocast_dtype=AUTOCAST_DTYPES[cfg.precision],
    )
    x = mnist.to_gan_range(torch.from_numpy(images)).unsqueeze(1).contiguous(memory_format=layout)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    samples, seconds = 0, 0.0
    for _ in range(cfg.epochs):
        started = time.perf_counter()
        order = torch.randperm(len(y))
        for i in range(len(order) // cfg.batch_size):
            batch = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            step(x[batch], y[batch])
            samples += len(batch)
        seconds += time.perf_counter() - started
    return samples / seconds


def ray_train(images_count: int, cfg: GanConfig) -> tuple[float, float, float]:
    """(samples/s inside epochs, wall seconds of train_gan, seconds spent in epochs)."""
    from augment.stages.gan import train as gan_stage
    from augment.stages.gan.artifacts import read_metrics_csv

    started = time.perf_counter()
    gan_stage.run(cfg)
    wall = time.perf_counter() - started
    rows = read_metrics_csv(cfg.out)
    in_epochs = sum(r["seconds"] for r in rows)
    samples = sum(r["samples_per_s"] * r["seconds"] for r in rows)
    return samples / in_epochs, wall, in_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--arch", default="dcgan")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help="as `augment train --precision`")
    args = parser.parse_args()
    precision = resolve_for_training(args.precision, gpu=False)  # both loops in the same format

    images, labels, source = training_images(args.images)
    threads = os.cpu_count() or 1
    out = tempfile.mkdtemp(prefix="augment-bench-")
    cfg = GanConfig(
        out=out,
        epochs=args.epochs,
        workers=1,
        arch=args.arch,
        batch_size=args.batch_size,
        limit=args.images,
        data_root=os.environ.get("AUGMENT_DATA_ROOT"),
        download=False,
        precision=precision,
    )
    print(
        f"{len(labels)} images ({source}), {args.epochs} epoch(s), arch {args.arch}, batch {args.batch_size}, "
        f"{threads} CPUs, torch {torch.__version__}, {precision}"
    )
    before = plain_loop(images, labels, cfg, threads)
    print(f"plain PyTorch loop ({threads} threads), before: {before:8.0f} samples/s")
    if not os.environ.get("AUGMENT_DATA_ROOT"):
        print("note: Ray run below needs real data (set AUGMENT_DATA_ROOT); skipping it")
        return
    ray_rate, wall, in_epochs = ray_train(len(labels), cfg)
    print(f"Ray Train, 1 worker x {threads} CPUs:          {ray_rate:8.0f} samples/s (inside epochs)")
    after = plain_loop(images, labels, cfg, threads)
    plain = (before + after) / 2
    print(f"plain PyTorch loop ({threads} threads), after:  {after:8.0f} samples/s")
    print(f"ratio Ray / plain (mean of both):         {ray_rate / plain:8.2f}   (target >= 0.9)")
    print(f"Ray fixed overhead per fit:               {wall - in_epochs:8.1f} s (start-up, checkpoints, export)")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
