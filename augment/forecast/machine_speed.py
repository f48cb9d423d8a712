"""This machine's speed on the pipeline's actual models, timed for a few steps each in a plain
single-process loop: what `augment run`'s forecast scales from (forecast/stages.py).

Rates written down once per host class were off by 0.6-1.6x on the next host (benchmarks/RESULTS.md,
the README's first run). Timing the models here costs ~5 s and follows the hardware: GAN training in
the precision its stage will pick, generation in the faster of fp32 and bf16 (what `--precision auto`
picks, by the same probe, precision_probe.py), classifier training with and without classic
augmentation. Models are untrained at their default sizes: speed does not depend on the weights.

Like model_check, it runs in a short-lived child process when the caller has not loaded torch.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass

from augment.core.apart import run_module_apart

GAN_STEPS = 3  # timed, after one warm-up step each
CLASSIFIER_STEPS = 8


@dataclass(frozen=True)
class MachineSpeed:
    """Plain-loop rates on this machine with `threads` torch threads."""

    machine: str
    threads: int
    gan_samples_per_s: float  # D then G update, batch 128, the GAN stage's precision
    gan_precision: str
    generate_rows_per_s: float  # generator + judge, the faster format: what `--precision auto` picks
    generate_precision: str
    classifier_samples_per_s: float  # forward + backward + AdamW, batch 128
    classic_samples_per_s: float  # the same with batched classic augmentation
    seconds: float  # what measuring took


def measure(gpu: bool = False) -> MachineSpeed:
    import torch

    from augment.core.precision import resolve_for_training

    started = time.perf_counter()
    device = torch.device("cuda" if gpu else "cpu")
    gan_precision = resolve_for_training("auto", gpu)
    gan_rate = _gan_rate(device, gan_precision)
    generate = _generate_probe(gpu)
    plain, classic = _classifier_rate(device, classic=False), _classifier_rate(device, classic=True)
    return MachineSpeed(
        machine=generate["machine"],
        threads=torch.get_num_threads(),
        gan_samples_per_s=round(gan_rate, 1),
        gan_precision=gan_precision,
        generate_rows_per_s=generate[f"{generate['precision']}_rows_per_s"],
        generate_precision=generate["precision"],
        classifier_samples_per_s=round(plain, 1),
        classic_samples_per_s=round(classic, 1),
        seconds=round(time.perf_counter() - started, 2),
    )


def _timed(step, count: int, sync) -> float:
    """Seconds per step: best of `count` after one warm-up (kernel selection, allocator)."""
    step()
    best = float("inf")
    for _ in range(count):
        sync()
        begun = time.perf_counter()
        step()
        sync()
        best = min(best, time.perf_counter() - begun)
    return best


def _sync_for(device):
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _default_gan(gpu: bool = False):
    """The GAN stage's default config and the spec it trains (10 classes) on CPUs or with --gpu."""
    from augment.stages.gan.config import GanConfig, resolve_widths

    cfg = GanConfig.defaults()  # not a built config: its placeholder --out would be resolved
    cfg.width, cfg.d_width = resolve_widths(cfg.width, cfg.d_width, gpu)
    return cfg, GanConfig.spec(cfg, num_classes=10)


def default_gan_step(device, precision: str):
    """(GanStep, GanConfig): the GAN stage's default models, optimizers and EMA on `device`, as a
    worker builds them (seeded, initialised, in their memory format), for plain-loop measurements."""
    import torch

    from augment.models.gan import build_discriminator, build_generator, init_weights, memory_format_for
    from augment.models.gan_step import AUTOCAST_DTYPES, GanStep, make_ema

    cfg, spec = _default_gan(device.type == "cuda")
    torch.manual_seed(0)
    layout = memory_format_for(spec)
    generator, discriminator = build_generator(spec), build_discriminator(spec)
    generator.apply(init_weights)
    discriminator.apply(init_weights)
    generator.to(device, memory_format=layout)
    discriminator.to(device, memory_format=layout)
    betas = (cfg.beta1, cfg.beta2)
    step = GanStep(
        generator,
        discriminator,
        torch.optim.Adam(generator.parameters(), lr=cfg.lr, betas=betas),
        torch.optim.Adam(discriminator.parameters(), lr=cfg.lr, betas=betas),
        make_ema(generator, cfg.ema_decay),
        cfg.loss,
        cfg.latent_dim,
        autocast_dtype=AUTOCAST_DTYPES[precision],
    )
    return step, cfg


def _gan_rate(device, precision: str) -> float:
    import torch

    from augment.models.gan import memory_format_for

    step, cfg = default_gan_step(device, precision)
    real = (torch.rand(cfg.batch_size, 1, 28, 28, device=device) * 2 - 1).contiguous(
        memory_format=memory_format_for(_default_gan(device.type == "cuda")[1])
    )
    labels = torch.arange(cfg.batch_size, device=device) % 10
    return cfg.batch_size / _timed(lambda: step(real, labels), GAN_STEPS, _sync_for(device))


def _generate_probe(gpu: bool) -> dict:
    """precision_probe.probe on untrained default-size models written to a temporary folder."""
    import torch

    from augment.models.classifier import ClassifierSpec, DigitClassifier
    from augment.models.classifier_file import export_classifier
    from augment.models.gan import build_generator, init_weights
    from augment.models.generator_file import export_generator
    from augment.stages.synthetic.precision_probe import probe

    cfg, spec = _default_gan(gpu)
    torch.manual_seed(0)
    generator = build_generator(spec)
    generator.apply(init_weights)
    with tempfile.TemporaryDirectory() as folder:
        export_generator(os.path.join(folder, "gan"), generator.eval(), spec)
        export_classifier(os.path.join(folder, "judge"), DigitClassifier(ClassifierSpec()).eval())
        return probe(os.path.join(folder, "gan"), os.path.join(folder, "judge"), gpu)


def _classifier_rate(device, classic: bool) -> float:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from augment.core import mnist
    from augment.models.classifier import ClassifierSpec, DigitClassifier
    from augment.models.classifier_training import optimizer_for
    from augment.stages.classifier.classic_augment import augment_batch, row_keys
    from augment.stages.classifier.config import ClassifierConfig

    cfg = ClassifierConfig.defaults()
    torch.manual_seed(0)
    model = DigitClassifier(ClassifierSpec()).to(device).train()
    optimizer = optimizer_for(model, cfg.weight_decay)
    for group in optimizer.param_groups:
        group["lr"] = 1e-3
    pixels = torch.randint(0, 256, (cfg.batch_size, 28, 28), dtype=torch.uint8)
    labels = torch.arange(cfg.batch_size, device=device) % 10
    ids, sources = np.arange(cfg.batch_size), np.zeros(cfg.batch_size, dtype=np.int8)

    def step():
        images = augment_batch(pixels, row_keys(0, 1, sources, ids)) if classic else pixels
        loss = F.cross_entropy(model(mnist.to_gan_range(images.to(device)).unsqueeze(1)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return cfg.batch_size / _timed(step, CLASSIFIER_STEPS, _sync_for(device))


def measure_apart(gpu: bool = False) -> MachineSpeed:
    """measure(), in a child process unless this process has torch loaded already."""
    if "torch" in sys.modules:
        return measure(gpu)
    stdout = run_module_apart("augment.forecast", str(gpu), failed="timing this machine for the forecast failed")
    return MachineSpeed(**json.loads(stdout.strip().splitlines()[-1]))
