"""The classifier's training step, plain loop, against its layout before 2026-12-07: NCHW maps with
ReLU before the max-pool (today: pool, then ReLU, channels_last). Both builds alternate in one
process, so the host's drift hits both; prints each round, the medians and their ratio.

    python benchmarks/classifier_step.py [--rounds 4] [--steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core import mnist  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier  # noqa: E402
from augment.models.classifier_training import optimizer_for  # noqa: E402
from augment.stages.classifier.config import ClassifierConfig  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402


def before_layout(model: DigitClassifier) -> DigitClassifier:
    """The same weights in the earlier block order (ReLU, then pool) and NCHW layout."""
    for block in model.body[:3]:
        block[2], block[3] = nn.ReLU(inplace=True), nn.MaxPool2d(2)
    model.features = lambda images: model.body(images)  # no channels_last conversion
    return model.to(memory_format=torch.contiguous_format)


def training_step(model: nn.Module, batch: int):
    optimizer = optimizer_for(model, ClassifierConfig.weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = 1e-3
    images = mnist.to_gan_range(torch.randint(0, 256, (batch, 28, 28), dtype=torch.uint8)).unsqueeze(1)
    labels = torch.arange(batch) % 10

    def step():
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    batch = ClassifierConfig.batch_size
    torch.manual_seed(0)
    steps = {
        "before (NCHW, ReLU then pool)": training_step(before_layout(DigitClassifier(ClassifierSpec())), batch),
        "today (channels_last, pool then ReLU)": training_step(DigitClassifier(ClassifierSpec()).train(), batch),
    }
    rates: dict[str, list[float]] = {name: [] for name in steps}
    print(f"{machine()}, {torch.get_num_threads()} torch threads, batch {batch}", flush=True)
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(3):
                step()
            started = time.perf_counter()
            for _ in range(args.steps):
                step()
            rates[name].append(batch * args.steps / (time.perf_counter() - started))
    for name, values in rates.items():
        print(f"{name}: {', '.join(f'{v:,.0f}' for v in values)} samples/s; median {statistics.median(values):,.0f}")
    before, today = (statistics.median(v) for v in rates.values())
    print(f"today / before: {today / before:.2f}")


if __name__ == "__main__":
    main()
