"""The `augment` command: parse options, build a config, call one stage function. No logic here."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from augment import __version__
from augment.errors import AugmentError

app = typer.Typer(
    help="Class-conditional GAN data augmentation on Ray: train, generate, merge, retrain, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Real datasets (MNIST family) as Parquet.", no_args_is_help=True)
app.add_typer(data_app, name="data")

DATA_ROOT_HELP = "Folder with the raw dataset files (default: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data)."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"augment {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


@data_app.command("export")
def data_export(
    out: str = typer.Option(..., help="Output folder or URI (s3://…); gets train/ and test/."),
    dataset: str = typer.Option("mnist", help="mnist, fashion-mnist or kmnist."),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP),
    offline: bool = typer.Option(
        False, "--offline", envvar="AUGMENT_OFFLINE", help="Never download; fail if the files are not there."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Write a dataset's train and test splits in augment's Parquet schema."""
    from augment.config import ExportConfig
    from augment.export import export_real

    result = export_real(
        ExportConfig(out=out, dataset=dataset, data_root=data_root, download=not offline, overwrite=overwrite)
    )
    typer.echo(f"wrote {result.out} ({dataset}, schema v1) in {result.seconds:.1f} s")
    typer.echo(_label_table(result.counts))


@app.command("train")
def train(
    out: str = typer.Option(..., help="Run folder or URI (s3://…): checkpoints, samples, metrics, exported generator."),
    dataset: str = typer.Option("mnist", help="mnist, fashion-mnist or kmnist."),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP),
    epochs: int = typer.Option(20, help="Total epochs; raise it on an existing run to train more."),
    workers: int = typer.Option(1, help="Ray Train workers (DDP replicas)."),
    gpu: bool = typer.Option(False, "--gpu", help="One GPU per worker (nccl); default CPU (gloo)."),
    arch: str = typer.Option("dcgan", help="dcgan, sagan or mlp."),
    batch_size: int = typer.Option(128, help="Global batch, split evenly across workers."),
    limit: Optional[int] = typer.Option(None, help="Train on the first N images only (quick runs)."),
    seed: int = typer.Option(0, help="Seed for weights, shuffling and noise."),
    loss: str = typer.Option("bce", help="bce (non-saturating) or hinge."),
    lr: float = typer.Option(2e-4, help="Adam learning rate for G and D."),
    latent_dim: int = typer.Option(128, help="Noise dimensions."),
    checkpoint_every: int = typer.Option(1, help="Checkpoint every K epochs (and always the last)."),
    max_failures: int = typer.Option(2, help="Worker crashes survived, each resumed from the last checkpoint."),
    address: Optional[str] = typer.Option(None, help="Ray cluster to join (default: start a local Ray)."),
    offline: bool = typer.Option(False, "--offline", envvar="AUGMENT_OFFLINE", help="Never download data."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard an existing run in --out and start over."),
) -> None:
    """Train a class-conditional GAN with Ray Train and export its generator."""
    from augment.config import TrainGanConfig
    from augment.train_gan import train_gan

    result = train_gan(
        TrainGanConfig(
            out=out, dataset=dataset, data_root=data_root, download=not offline, epochs=epochs, workers=workers,
            gpu=gpu, arch=arch, batch_size=batch_size, limit=limit, seed=seed, loss=loss, lr=lr,
            latent_dim=latent_dim, checkpoint_every=checkpoint_every, max_failures=max_failures,
            address=address, overwrite=overwrite,
        )
    )
    if result.skipped:
        typer.echo(f"{out} is already trained for {result.epochs} epochs with these settings: nothing to do")
    else:
        typer.echo(f"trained {out} to epoch {result.epochs} in {result.seconds:.0f} s ({result.samples_per_s:,.0f} samples/s last epoch)")
    typer.echo(f"generator: {out}/generator.safetensors (sha256 {result.generator_sha256[:16]}…); samples: {out}/samples/")


def _label_table(counts) -> str:
    labels = sorted({label for c in counts.values() for label in c.per_label})
    header = ["split", "rows", *map(str, labels)]
    rows = [[name, str(c.rows), *(str(c.per_label.get(label, 0)) for label in labels)] for name, c in counts.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    )


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv)
    except AugmentError as exc:
        typer.echo(f"augment: error: {exc}", err=True)
        sys.exit(2)
