"""Each stage's achieved GFLOP/s against this host's peak, measured on the spot (issue 39).

    python benchmarks/stage_gflops.py [--threads N]

Peak: the best of a few all-thread 2048x2048 matrix multiplies (fp32, and bf16 where the CPU has
bf16 units), measured here, not taken from a datasheet. FLOPs per unit: counted by torch's FlopCounterMode on the
stages' own models (a GAN training step per sample, forward and backward of G and D; a generated
candidate: G and the judge, forward; a classifier training sample, forward and backward). Rates: the
forecast's plain-loop measurement (augment/forecast/machine_speed.py), the same loops the forecast
scales. Achieved GFLOP/s = FLOPs per unit x units/s; the share of the peak says where the next
speed-up has room (a stage near the peak needs fewer FLOPs, not faster code).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core.precision import cpu_flags  # noqa: E402
from augment.forecast import machine_speed  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier  # noqa: E402
from augment.models.gan import build_discriminator, build_generator, init_weights  # noqa: E402
from augment.models.generator_inference import for_inference  # noqa: E402
from augment.stages.synthetic.precision_probe import machine  # noqa: E402


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 8) -> float:
    """GFLOP/s of the best of `repeats` size x size matrix multiplies on all torch threads."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def counted(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def gan_step_flops(spec=None) -> float:
    """FLOPs of one GAN training step per sample: D on real + fake (forward, backward), G forward
    and backward through D (the GanStep's two passes), at the default batch (default spec: the stage's)."""
    cfg, default = machine_speed._default_gan()
    spec = spec or default
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    batch = cfg.batch_size
    real, labels = torch.rand(batch, 1, 28, 28) * 2 - 1, torch.arange(batch) % 10

    def step():
        z = torch.randn(batch, cfg.latent_dim)
        fake = generator(z, labels)
        discriminator(torch.cat([real, fake.detach()]), torch.cat([labels, labels])).sum().backward()
        discriminator(fake, labels).sum().backward()

    return counted(step) / batch


def generation_flops() -> float:
    """FLOPs per generated candidate: the inference generator and the judge, forward."""
    _, spec = machine_speed._default_gan()
    generator = build_generator(spec)
    generator.apply(init_weights)
    generator = for_inference(generator.eval(), torch.float32)
    judge = DigitClassifier(ClassifierSpec()).eval()
    batch = 512
    z, labels = torch.randn(batch, spec.latent_dim), torch.arange(batch) % 10

    def forward():
        with torch.inference_mode():
            judge(generator(z, labels).float())

    return counted(forward) / batch


def classifier_flops() -> float:
    model = DigitClassifier(ClassifierSpec()).train()
    batch = 128
    images, labels = torch.rand(batch, 1, 28, 28) * 2 - 1, torch.arange(batch) % 10
    return counted(lambda: torch.nn.functional.cross_entropy(model(images), labels).backward()) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"{machine()} ({cpu}), {args.threads} torch threads, torch {torch.__version__}")
    peak = {"fp32": matmul_peak(torch.float32)}
    # Without bf16 units the bf16 matmul is emulated: 8 of them took minutes on a Zen 3 (2026-12-07),
    # and no stage runs bf16 there (--precision auto picks fp32), so there is no bf16 peak to measure.
    if cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        peak["bf16"] = matmul_peak(torch.bfloat16)
    print("peak (2048² matmul): " + ", ".join(f"{name} {value:,.0f} GFLOP/s" for name, value in peak.items()))
    speed = machine_speed.measure(gpu=False)
    rows = [
        ("GAN training (per sample)", gan_step_flops(), speed.gan_samples_per_s, speed.gan_precision),
        (
            "generation (per candidate, G + judge)",
            generation_flops(),
            speed.generate_rows_per_s,
            speed.generate_precision,
        ),
        ("classifier training (per sample)", classifier_flops(), speed.classifier_samples_per_s, "fp32"),
        ("classifier + classic augmentation", classifier_flops(), speed.classic_samples_per_s, "fp32"),
    ]
    print("| stage | MFLOP per unit | units/s (plain loop) | GFLOP/s | share of peak (its format) |")
    print("| --- | --- | --- | --- | --- |")
    for name, flops, rate, precision in rows:
        achieved = flops * rate / 1e9
        share = f"{achieved / peak[precision]:.0%} of {peak[precision]:,.0f}" if precision in peak else "no peak"
        print(f"| {name} | {flops / 1e6:,.2f} | {rate:,.0f} ({precision}) | {achieved:,.1f} | {share} |")


if __name__ == "__main__":
    main()
