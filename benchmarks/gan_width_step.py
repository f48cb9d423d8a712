"""The GAN's training step at several (G width, D width) pairs, plain loop, fp32: each pair's step as
the GAN stage builds it (models, optimizers, EMA, memory format), the pairs alternated round by round
in one process so the host's drift hits all of them; prints each round, the medians and their ratio
to the first pair.

    python benchmarks/gan_width_step.py [--pairs 32x24,32x16,24x16] [--rounds 6] [--steps 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.forecast import machine_speed  # noqa: E402
from augment.stages.gan import config as gan_config  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402


def gan_step(widths: tuple[int, int]):
    """The stage's default GAN step with these CPU widths (the forecast's builder, widths swapped in)."""
    default = gan_config.CPU_WIDTHS
    gan_config.CPU_WIDTHS = widths
    try:
        return machine_speed.default_gan_step(torch.device("cpu"), "fp32")
    finally:
        gan_config.CPU_WIDTHS = default


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="32x24,32x16,24x16")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args()
    pairs = [tuple(int(w) for w in pair.split("x")) for pair in args.pairs.split(",")]
    steps = {pair: gan_step(pair) for pair in pairs}
    batch = next(iter(steps.values()))[1].batch_size
    real = (torch.rand(batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(batch) % 10
    print(f"host: {machine()} ({torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; batch {batch}, fp32", flush=True)  # fmt: skip
    for step, _ in steps.values():  # warm-up: oneDNN picks its kernels
        for _ in range(5):
            step(real, labels)
    rates: dict[tuple[int, int], list[float]] = {pair: [] for pair in pairs}
    for round_ in range(1, args.rounds + 1):
        for pair, (step, _) in steps.items():
            started = time.perf_counter()
            for _ in range(args.steps):
                step(real, labels)
            rates[pair].append(batch * args.steps / (time.perf_counter() - started))
        print(f"round {round_}: " + "  ".join(f"{g}x{d} {rates[g, d][-1]:,.0f}" for g, d in pairs), flush=True)
    first = statistics.median(rates[pairs[0]])
    for (g, d), values in rates.items():
        median = statistics.median(values)
        print(f"{g}x{d}: median {median:,.0f} samples/s, {median / first:.2f}x {pairs[0][0]}x{pairs[0][1]}")


if __name__ == "__main__":
    main()
