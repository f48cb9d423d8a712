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


def _label_table(counts) -> str:
    labels = sorted({label for c in counts.values() for label in c.per_label})
    header = ["split", "rows", *map(str, labels)]
    rows = [[name, str(c.rows), *(str(c.per_label.get(label, 0)) for label in labels)] for name, c in counts.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
        for row in [header, *rows]
    )


def main() -> None:
    try:
        app()
    except AugmentError as exc:
        typer.echo(f"augment: error: {exc}", err=True)
        sys.exit(2)
