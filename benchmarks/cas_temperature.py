"""Plain CAS against sampling temperature: does drawing latents from N(0, T^2), with the judge's
filter replacing the draws it doubts, give a synthetic-only classifier more to learn?

    python benchmarks/cas_temperature.py --gan RUN/gan --judge RUN/judge [--temperatures 1,1.5,2] [--seeds 0,1]
        [--rows 60000] [--min-confidence 0.9] [--epochs 4]

Needs AUGMENT_DATA_ROOT (the real MNIST test split). For each (temperature, seed): `rows` digits,
classes in turn, each latent redrawn until the judge gives its label >= min-confidence (what
`augment generate --temperature T --min-confidence C` keeps; the judge sees the uint8 pixels the
Parquet rows hold), then the classifier stage's model and recipe (AdamW, warm-up, x0.5 per 60,000
samples, batch 128, `epochs` passes) trained on them alone in this process, tested on real MNIST
test. One JSON line per run: CAS, the share of draws the judge replaced, seconds. In a plain
process so that a sweep costs minutes; `augment retrain --synthetic-only` on a generation output
gives the same figure within seed noise (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from commands import models_parser  # noqa: E402  (benchmarks/ is the script folder)

from augment.core import mnist  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier, test_scores  # noqa: E402
from augment.models.classifier_file import load_classifier  # noqa: E402
from augment.models.classifier_training import Schedule, optimizer_for, train_epoch  # noqa: E402
from augment.models.generator_file import load_generator  # noqa: E402

BATCH = 128


def filtered_digits(generator, judge, rows: int, temperature: float, min_confidence: float, seed: int):
    """(images in [-1, 1] (rows, 1, 28, 28), labels, share of draws replaced)."""
    draws = torch.Generator().manual_seed(seed)
    labels = torch.arange(rows) % 10
    images = torch.empty(rows, 1, 28, 28)
    pending, replaced = torch.arange(rows), 0
    with torch.no_grad():
        for _ in range(32):
            z = torch.randn(len(pending), generator_latent_dim(generator), generator=draws) * temperature
            made = torch.cat(
                [generator(z[i : i + 2048], labels[pending][i : i + 2048]) for i in range(0, len(pending), 2048)]
            )
            stored = ((made + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).squeeze(1)  # what a Parquet row holds
            made = mnist.to_gan_range(stored).unsqueeze(1)
            scores = torch.cat([torch.softmax(judge(made[i : i + 4096]), 1) for i in range(0, len(made), 4096)])
            kept = scores[torch.arange(len(pending)), labels[pending]] >= min_confidence
            images[pending[kept]] = made[kept]
            pending = pending[~kept]
            if not len(pending):
                break
            replaced += len(pending)
    return images, labels, replaced / (rows + replaced)


def generator_latent_dim(generator) -> int:
    return generator.embed.embedding_dim


def cas(images, labels, test_images, test_labels, seed: int, epochs: int) -> float:
    torch.manual_seed(seed)
    model = DigitClassifier(ClassifierSpec(num_classes=10))
    optimizer = optimizer_for(model, 1e-4)
    schedule = Schedule(3e-3, 0.5, BATCH, len(labels))
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        batches = (
            (images[order[i : i + BATCH]], labels[order[i : i + BATCH]])
            for i in range(0, len(labels) - BATCH + 1, BATCH)
        )
        step = train_epoch(model, optimizer, batches, schedule, step).steps
    model.eval()
    return test_scores(model, test_images, test_labels, 10)["test_accuracy"]


def main() -> None:
    parser = models_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--temperatures", default="1,1.5,2")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--min-confidence", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    generator, _ = load_generator(args.gan)
    judge, _ = load_classifier(args.judge)
    test = mnist.load_split("mnist", "test", os.environ.get("AUGMENT_DATA_ROOT"), download=False)
    test_images = mnist.to_gan_range(torch.from_numpy(test.images)).unsqueeze(1)
    test_labels = torch.from_numpy(test.labels.astype(np.int64))
    for temperature in (float(t) for t in args.temperatures.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            started = time.perf_counter()
            images, labels, replaced = filtered_digits(
                generator, judge, args.rows, temperature, args.min_confidence, seed
            )
            accuracy = cas(images, labels, test_images, test_labels, seed, args.epochs)
            print(
                json.dumps(
                    {
                        "temperature": temperature,
                        "seed": seed,
                        "cas": round(accuracy, 4),
                        "draws_replaced": round(replaced, 4),
                        "seconds": round(time.perf_counter() - started),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
