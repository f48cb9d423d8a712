"""What a GAN run leaves for people to look at: per-epoch sample grids, progress.gif,
metrics.csv and losses.png. All written through `storage`, so RUN may be s3://…"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import torch
from torch import nn

from augment.core import storage

METRIC_COLUMNS = (
    "epoch",
    "loss_d",
    "loss_g",
    "d_real",
    "d_fake",
    "acc_real",
    "acc_fake",
    "seconds",
    "samples_per_s",
    "optimizer_steps",
    "resumed_from_epoch",
    "replica_max_abs_diff",
    "workers",  # the worker group's size that epoch: fewer than asked after the cluster lost nodes for good
)
SAMPLES_DIR = "samples"
METRICS_FILE = "metrics.csv"
LOSSES_PLOT = "losses.png"
PROGRESS_GIF = "progress.gif"


def fixed_grid_inputs(latent_dim: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row = class, column = one of num_classes fixed noise vectors shared by every row and epoch."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(num_classes, latent_dim, generator=generator)
    z = noise.repeat(num_classes, 1)
    labels = torch.arange(num_classes).repeat_interleave(num_classes)
    return z, labels


@torch.no_grad()
def sample_grid_png(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor, nrow: int) -> bytes:
    from torchvision.utils import save_image

    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    images = generator(z.to(device), labels.to(device)).float().cpu()
    generator.train(was_training)
    buffer = io.BytesIO()
    save_image(images, buffer, format="png", nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)
    return buffer.getvalue()


def grid_name(epoch: int) -> str:
    return f"{SAMPLES_DIR}/epoch_{epoch:03d}.png"


def write_grid(run_uri: str, epoch: int, png: bytes) -> None:
    fs, run = storage.resolve(run_uri)
    storage.write_bytes_atomic(fs, storage.join(run, grid_name(epoch)), png)


def write_metrics_csv(run_uri: str, rows: Sequence[dict]) -> None:
    fs, run = storage.resolve(run_uri)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes_atomic(fs, storage.join(run, METRICS_FILE), buffer.getvalue().encode())


def read_metrics_csv(run_uri: str) -> list[dict]:
    fs, run = storage.resolve(run_uri)
    text = storage.read_bytes(fs, storage.join(run, METRICS_FILE)).decode()
    # an empty cell: a column newer than the epoch that wrote the row
    return [
        {k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in csv.DictReader(io.StringIO(text))
    ]


GIF_MAX_FRAMES = 100


def gif_epochs(epochs: int, max_frames: int = GIF_MAX_FRAMES) -> list[int]:
    """Epochs shown in progress.gif: all of them, or evenly spaced ones ending at the last epoch
    (a low-data run of 600 short epochs would otherwise play for four minutes)."""
    if epochs <= max_frames:
        return list(range(1, epochs + 1))
    return sorted({round(epochs * (i + 1) / max_frames) for i in range(max_frames)})


def write_progress_gif(run_uri: str, epochs: int, frame_ms: int = 400) -> None:
    from PIL import Image

    fs, run = storage.resolve(run_uri)
    frames = []
    for epoch in gif_epochs(epochs):
        path = storage.join(run, grid_name(epoch))
        if storage.file_type(fs, path).name == "File":
            frames.append(Image.open(io.BytesIO(storage.read_bytes(fs, path))).convert("P"))
    if not frames:
        return
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    storage.write_bytes_atomic(fs, storage.join(run, PROGRESS_GIF), buffer.getvalue())


def write_losses_png(run_uri: str, rows: Sequence[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in rows]
    fig, (losses, accuracy) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in (("loss_d", "D loss"), ("loss_g", "G loss")):
        losses.plot(epochs, [row[key] for row in rows], marker="o", label=label)
    losses.set_xlabel("epoch")
    losses.legend()
    for key, label in (
        ("acc_real", "D acc. real"),
        ("acc_fake", "D acc. fake"),
        ("d_real", "D(x)"),
        ("d_fake", "D(G(z))"),
    ):
        accuracy.plot(epochs, [row[key] for row in rows], marker=".", label=label)
    accuracy.set_xlabel("epoch")
    accuracy.set_ylim(0, 1)
    accuracy.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    fs, run = storage.resolve(run_uri)
    storage.write_bytes_atomic(fs, storage.join(run, LOSSES_PLOT), buffer.getvalue())
