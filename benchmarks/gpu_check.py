"""Tier 1 of the GPU check: the pure-PyTorch parts of every stage on one device, no Ray.

    python benchmarks/gpu_check.py --out DIR [--device cuda] [--images 60000] [--rows 1000000]

Written for the first session lent a GPU (the device machine has torch, torchvision, pyarrow,
typer, safetensors, torchmetrics: no Ray). It runs in about 2 minutes on one GPU and dry-runs on
the CPU here with `--device cpu --images 2048 --rows 20000`. What it measures, each a line of
DIR/gpu_check.json and of the console:

- environment: GPU name and capability, torch / CUDA / cuDNN versions, TF32 flags before and after
  augment's strict fp32;
- the forecast's own measurement (augment.forecast.machine_speed.measure(gpu=True));
- GAN: one epoch of `--images` images through the training step in fp32 and bf16 (target: <= 2 s
  per 60,000 on a GPU), a checkpoint saved after it and loaded back to the CPU for a resume that
  must continue (Adam's `step` stays a CPU tensor), host-device syncs per step (counted with
  torch.cuda.set_sync_debug_mode);
- judge: one epoch of the classifier on the images;
- generation: `--rows` rows generated, judged and written to Parquet at two batch sizes (target:
  1,000,000 in <= 15 s), and 2,048 rows on the CPU from the same latents: row hashes compared;
- classifier: one epoch plain and with classic augmentation (target <= 2 s per 60,000);
- per section: wall seconds, peak GPU memory, mean GPU utilisation (nvidia-smi, when present).

Uses real MNIST when AUGMENT_DATA_ROOT is set, else random pixels (speed does not depend on content).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core import mnist  # noqa: E402
from augment.core.precision import strict_fp32_on_cuda  # noqa: E402
from augment.forecast.machine_speed import default_gan_step  # noqa: E402
from augment.models.checkpoint import load_state, save_state  # noqa: E402
from augment.models.classifier import ClassifierSpec, DigitClassifier  # noqa: E402
from augment.models.classifier_training import Schedule, optimizer_for, train_epoch  # noqa: E402
from augment.models.gan import GanSpec, memory_format_for  # noqa: E402
from augment.models.gan_step import GanStep  # noqa: E402
from augment.stages.classifier.classic_augment import augment_batch, row_keys  # noqa: E402
from augment.stages.synthetic.parts import part_bounds  # noqa: E402
from augment.stages.synthetic.sampling import latents_for  # noqa: E402
from augment.stages.synthetic.synthesis import DigitScorer, PartMaker  # noqa: E402
from benchmarks.generate_throughput import plan_for, untrained_models  # noqa: E402

RESULTS: dict[str, dict] = {}


@contextmanager
def section(name: str, device: torch.device):
    """Times a section and records its peak GPU memory and mean utilisation into RESULTS[name]."""
    found = RESULTS.setdefault(name, {})
    samples, stop = [], threading.Event()
    sampler = threading.Thread(target=_sample_utilisation, args=(samples, stop), daemon=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        sampler.start()
    started = time.perf_counter()
    try:
        yield found
    finally:
        if device.type == "cuda":
            torch.cuda.synchronize()
            stop.set()
            sampler.join()
            found["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            found["gpu_utilisation_pct"] = round(float(np.mean(samples)), 1) if samples else None
        found["seconds"] = round(time.perf_counter() - started, 3)
        print(f"{name}: {json.dumps(found)}", flush=True)


def _sample_utilisation(samples: list[float], stop: threading.Event) -> None:
    if not shutil.which("nvidia-smi"):
        return
    while not stop.wait(0.2):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-i", "0"],
            capture_output=True,
            text=True,
        )
        if out.returncode == 0 and out.stdout.strip():
            samples.append(float(out.stdout.split()[0]))


def environment(device: torch.device) -> None:
    env = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "tf32_default": {"cudnn": torch.backends.cudnn.allow_tf32, "matmul": torch.backends.cuda.matmul.allow_tf32},
    }
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(), capability=".".join(map(str, torch.cuda.get_device_capability())))
        strict_fp32_on_cuda()
        env["tf32_after_strict_fp32"] = {
            "cudnn": torch.backends.cudnn.allow_tf32,
            "matmul": torch.backends.cuda.matmul.allow_tf32,
        }
    RESULTS["environment"] = env
    print(f"environment: {json.dumps(env)}", flush=True)


def digits(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    if os.environ.get("AUGMENT_DATA_ROOT"):
        split = mnist.load_split("mnist", "train", download=False)
        return torch.from_numpy(split.images[:count].copy()), torch.from_numpy(split.labels[:count].astype(np.int64))
    rng = np.random.default_rng(0)
    return (
        torch.from_numpy(rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)),
        torch.from_numpy(rng.integers(0, 10, count)),
    )


def gan_epoch(step: GanStep, images: torch.Tensor, labels: torch.Tensor, batch: int = 128) -> int:
    order = torch.randperm(len(labels), device=images.device)
    steps = len(order) // batch
    for i in range(steps):
        rows = order[i * batch : (i + 1) * batch]
        step(images[rows], labels[rows])
    return steps


def check_gan(device: torch.device, images: torch.Tensor, labels: torch.Tensor, work: Path) -> None:
    x = mnist.to_gan_range(images.to(device)).unsqueeze(1).contiguous(memory_format=memory_format_for(GanSpec()))
    y = labels.to(device)
    for precision in ("fp32", "bf16"):
        step = default_gan_step(device, precision)[0]
        gan_epoch(step, x[:1024], y[:1024])  # warm-up: kernel selection
        with section(f"gan epoch {precision}", device) as found:
            found["steps"] = gan_epoch(step, x, y)
            found["images"] = len(y)
    step = default_gan_step(device, "fp32")[0]
    gan_epoch(step, x, y)
    with section("gan checkpoint and resume", device) as found:
        (work / "ckpt").mkdir(exist_ok=True)
        save_state(
            str(work / "ckpt"),
            {
                "generator": step.generator.state_dict(),
                "g_optimizer": step.g_optimizer.state_dict(),
                "discriminator": step.discriminator.state_dict(),
                "d_optimizer": step.d_optimizer.state_dict(),
                "ema": step.ema.state_dict(),
            },
        )
        resumed = default_gan_step(device, "fp32")[0]
        state = load_state(str(work / "ckpt"), map_location="cpu")  # as newest_checkpoint loads it
        for name in ("generator", "discriminator", "ema", "g_optimizer", "d_optimizer"):
            getattr(resumed, name).load_state_dict(state[name])
        adam_step = next(iter(resumed.g_optimizer.state.values()))["step"]
        found["adam_step_device"] = adam_step.device.type
        found["resumed_steps"] = gan_epoch(resumed, x[:4096], y[:4096])
    if device.type == "cuda":
        with section("gan syncs per step", device) as found:
            found["syncs_per_step"] = syncs_per_step(resumed, x, y)


def syncs_per_step(step: GanStep, x: torch.Tensor, y: torch.Tensor, steps: int = 20) -> float:
    """Host-device synchronisations per training step, as torch's sync debug mode reports them."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(steps):
                step(x[i * 128 : (i + 1) * 128], y[i * 128 : (i + 1) * 128])
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return len([w for w in caught if "synchroniz" in str(w.message)]) / steps


def classifier_epoch(
    device: torch.device, images: torch.Tensor, labels: torch.Tensor, classic: bool
) -> tuple[int, float]:
    torch.manual_seed(0)
    model = DigitClassifier(ClassifierSpec()).to(device)
    optimizer = optimizer_for(model, 0.0)
    schedule = Schedule(1e-3, 0.8, 128, len(labels))
    order, ids = torch.randperm(len(labels)), np.arange(len(labels))
    gpu_images, gpu_labels = images.to(device), labels.to(device)

    def batches():
        for first in range(0, len(order) - 127, 128):
            rows = order[first : first + 128]
            batch = gpu_images[rows.to(device)]
            if classic:
                batch = augment_batch(batch, row_keys(0, 1, np.zeros(len(rows)), ids[rows.numpy()]))
            yield mnist.to_gan_range(batch).unsqueeze(1), gpu_labels[rows.to(device)]

    stats = train_epoch(model, optimizer, batches(), schedule, 0)
    model.eval()
    with torch.no_grad():
        accuracy = (
            (model(mnist.to_gan_range(gpu_images[:2048]).unsqueeze(1)).argmax(1) == gpu_labels[:2048]).float().mean()
        )
    return stats.steps, float(accuracy)


def check_classifiers(device: torch.device, images: torch.Tensor, labels: torch.Tensor) -> None:
    classifier_epoch(device, images[:1024], labels[:1024], classic=True)  # warm-up
    for name, classic in (
        ("judge epoch", False),
        ("classifier epoch plain", False),
        ("classifier epoch classic", True),
    ):
        with section(name, device) as found:
            found["steps"], found["train_accuracy_2048"] = classifier_epoch(device, images, labels, classic)


def check_generation(device: torch.device, work: Path, rows: int) -> None:
    gan, judge = untrained_models(work)
    for batch in (512, 8192):
        plan = replace(plan_for(gan, judge, str(work / f"rows-{batch}"), rows, "fp32"), batch_size=batch)
        maker = PartMaker(plan, device=device.type)
        maker.write_part(0, 0, min(rows, 4096))  # warm-up
        with section(f"generation batch {batch}", device) as found:
            for k, (start, stop) in enumerate(part_bounds(rows, 262_144)):
                maker.write_part(k, start, stop)
            found["rows"] = rows
        found["rows_per_s"] = round(rows / found["seconds"], 1)  # (the console line above has the seconds)
    with section("generation rows on this device vs the CPU", device) as found:
        latents, labels = latents_for(np.arange(2048), 0, GanSpec().latent_dim), np.arange(2048) % 10
        here = DigitScorer(gan, judge, device=device.type).score(latents, labels)[0]
        cpu = DigitScorer(gan, judge, device="cpu").score(latents, labels)[0]
        found["same_sha256"] = hashlib.sha256(here.tobytes()).hexdigest() == hashlib.sha256(cpu.tobytes()).hexdigest()
        found["pixels_differing"] = int((here != cpu).sum())
        found["max_pixel_difference"] = int(np.abs(here.astype(int) - cpu.astype(int)).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for gpu_check.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=60_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    device = torch.device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    environment(device)
    images, labels = digits(args.images)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        steps = [
            ("gan", lambda: check_gan(device, images, labels, work)),
            ("classifiers", lambda: check_classifiers(device, images, labels)),
            ("generation", lambda: check_generation(device, work, args.rows)),
            ("forecast", lambda: forecast_measurement(device)),
        ]
        for name, run in steps:
            try:
                run()
            except Exception as exc:  # one failing part must not hide the figures of the others
                RESULTS[f"{name} failed"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
                print(f"{name} failed: {type(exc).__name__}: {exc}", flush=True)
            (out / "gpu_check.json").write_text(json.dumps(RESULTS, indent=2))


def forecast_measurement(device: torch.device) -> None:
    from augment.forecast.machine_speed import measure

    with section("forecast measurement", device) as found:
        found.update(vars(measure(gpu=device.type == "cuda")))


if __name__ == "__main__":
    main()
