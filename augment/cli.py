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


@app.command("judge")
def judge(
    out: str = typer.Option(..., help="Judge folder or URI: classifier.safetensors + classifier.json."),
    dataset: str = typer.Option("mnist", help="mnist, fashion-mnist or kmnist."),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP),
    epochs: int = typer.Option(4, help="Epochs over the real training split."),
    workers: int = typer.Option(1, help="Ray Train workers (DDP replicas)."),
    gpu: bool = typer.Option(False, "--gpu", help="One GPU per worker."),
    batch_size: int = typer.Option(128, help="Global batch."),
    limit: Optional[int] = typer.Option(None, help="Train on the first N images only (quick runs)."),
    seed: int = typer.Option(0, help="Seed for weights and shuffling."),
    address: Optional[str] = typer.Option(None, help="Ray cluster to join (default: start a local Ray)."),
    offline: bool = typer.Option(False, "--offline", envvar="AUGMENT_OFFLINE", help="Never download data."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing judge in --out."),
) -> None:
    """Train the judge: the digit classifier that scores synthetic digits (real data only)."""
    from augment.config import JudgeConfig
    from augment.judge import train_judge

    result = train_judge(JudgeConfig(
        out=out, dataset=dataset, data_root=data_root, download=not offline, epochs=epochs, workers=workers,
        gpu=gpu, batch_size=batch_size, limit=limit, seed=seed, address=address, overwrite=overwrite,
    ))
    done = "already trained with these settings" if result.skipped else f"trained in {result.seconds:.0f} s"
    typer.echo(f"judge {out}: {done}; test accuracy {result.test_accuracy:.4f} (sha256 {result.sha256[:16]}…)")


@app.command("generate")
def generate(
    checkpoint: str = typer.Option(..., help="GAN run folder holding generator.safetensors + generator.json."),
    n: int = typer.Option(..., "--n", help="Rows to generate (exactly this many land)."),
    out: str = typer.Option(..., help="Output folder or URI (s3://…): part-*.parquet + _manifest.json."),
    judge: Optional[str] = typer.Option(None, help="Judge folder (default CHECKPOINT/judge, trained there on first use)."),
    workers: Optional[int] = typer.Option(None, help="Actors (default: one per CPU, or one per GPU with --gpu)."),
    gpu: bool = typer.Option(False, "--gpu", help="Generate on GPUs, one per actor."),
    batch_size: int = typer.Option(512, help="Rows per generator forward pass."),
    seed: int = typer.Option(0, help="Row i's latent depends on (seed, i) only."),
    class_weights: Optional[str] = typer.Option(None, help="Class distribution as w0,…,w9 (default balanced)."),
    min_confidence: float = typer.Option(0.0, help="Replace samples the judge gives less than this probability of their label."),
    max_attempts: int = typer.Option(32, help="Fresh samples a row may draw before the run gives up."),
    rows_per_file: int = typer.Option(262_144, help="Most rows per part file (parts are split evenly)."),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP + " Only used to train a missing judge."),
    address: Optional[str] = typer.Option(None, help="Ray cluster to join (default: start a local Ray)."),
    offline: bool = typer.Option(False, "--offline", envvar="AUGMENT_OFFLINE", help="Never download data."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """Generate N labeled synthetic digits to Parquet with Ray Data."""
    from augment.config import GenerateConfig
    from augment.generate import generate as run_generate

    result = run_generate(GenerateConfig(
        checkpoint=checkpoint, n=n, out=out, judge=judge, workers=workers, gpu=gpu, batch_size=batch_size,
        seed=seed, class_weights=_weights(class_weights), min_confidence=min_confidence, max_attempts=max_attempts,
        rows_per_file=rows_per_file, data_root=data_root, download=not offline, address=address, overwrite=overwrite,
    ))
    reused = f" ({result.reused_parts} parts kept from an interrupted run)" if result.reused_parts else ""
    typer.echo(
        f"wrote {result.rows:,} rows in {result.files} files ({result.bytes / 1e6:,.1f} MB) to {out} in "
        f"{result.seconds:.1f} s: {result.rows_per_s:,.0f} rows/s, mean confidence {result.mean_confidence:.3f}, "
        f"{result.rejected:,} samples replaced{reused}"
    )


def _weights(text: Optional[str]) -> Optional[tuple[float, ...]]:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise AugmentError(f"--class-weights must be comma-separated numbers like 1,1,1,1,1,1,1,1,1,2 (got {text!r})") from None


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
