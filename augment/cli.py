"""The `augment` command: parse options, build a config, call one stage function. No logic here."""

from __future__ import annotations

import dataclasses
import sys
from typing import Annotated, Optional

import typer

from augment import __version__, stages
from augment.app.config import AppConfig
from augment.core import console, storage
from augment.core.console import plural
from augment.core.errors import AugmentError, current_stage, first_line
from augment.pipeline import STAGES, PipelineConfig
from augment.stages.classifier.config import ClassifierConfig
from augment.stages.gan.config import GanConfig
from augment.stages.judge.config import JudgeConfig
from augment.stages.merged.config import MergedConfig
from augment.stages.real.config import RealConfig
from augment.stages.report.config import ReportConfig
from augment.stages.synthetic.config import FILL, SyntheticConfig

app = typer.Typer(
    help="Class-conditional GAN data augmentation on Ray: train, generate, merge, retrain, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Real datasets (MNIST family) as Parquet.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"augment {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        envvar=console.VERBOSE_ENV,
        help="Also show Ray's own console output (workers' logs, Ray Data progress).",
    ),
) -> None:
    if verbose:
        console.set_verbose()
    console.quiet_libraries()


# Options several commands share, declared once; each command's defaults are its config's.
DATA_ROOT_HELP = "Folder with the raw dataset files (default: $AUGMENT_DATA_ROOT, else ~/.cache/augment/data)."
Dataset = Annotated[str, typer.Option(help="mnist, fashion-mnist or kmnist.")]
DataRoot = Annotated[Optional[str], typer.Option(help=DATA_ROOT_HELP)]
Offline = Annotated[
    bool, typer.Option("--offline", envvar="AUGMENT_OFFLINE", help="Never download; fail if the files are not there.")
]
Workers = Annotated[int, typer.Option(help="Ray Train workers (DDP replicas).")]
Gpu = Annotated[bool, typer.Option("--gpu", help="One GPU per worker (nccl); default CPU (gloo).")]
Address = Annotated[Optional[str], typer.Option(help="Ray cluster to join (default: start a local Ray).")]
Overwrite = Annotated[
    bool, typer.Option("--overwrite", help="Replace what --out holds (made with other settings, or foreign).")
]
BatchSize = Annotated[int, typer.Option(help="Global batch, split evenly across workers.")]
Limit = Annotated[Optional[int], typer.Option(help="Train on the first N images only (quick runs).")]
REAL_PER_CLASS_HELP = (
    "The first K images of each class (low data), or one entry per class, a count or a percentage "
    "of that class (a long tail: 100%,100%,100%,100%,100%,2%,2%,2%,2%,2%)."
)
RealPerClass = Annotated[Optional[str], typer.Option(help=REAL_PER_CLASS_HELP + " As merge --real-per-class.")]
Seed = Annotated[int, typer.Option(help="Seed for weights, shuffling and noise.")]
CheckpointEvery = Annotated[int, typer.Option(help="Checkpoint every K epochs (and always the last).")]
MaxFailures = Annotated[int, typer.Option(help="Worker crashes survived, each resumed from the last checkpoint.")]


def _config(config_class, options: dict):
    """A stage's config from a command's options, which are named as its fields (--offline is
    download=False); the options a command leaves out keep the config's defaults."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    values = {name: value for name, value in options.items() if name in fields}
    if "offline" in options:
        values["download"] = not options["offline"]
    return config_class(**values)


@data_app.command("export")
def data_export(
    out: str = typer.Option(..., help="Output folder or URI (s3://…); gets train/ and test/."),
    dataset: Dataset = RealConfig.dataset,
    data_root: DataRoot = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Write a dataset's train and test splits in augment's Parquet schema (the real/ stage)."""
    result = stages.real.run(_config(RealConfig, locals()))
    done = "already exported with these settings" if result.skipped else f"wrote {result.out} in {result.seconds:.1f} s"
    from augment.core.schema import SCHEMA_VERSION

    typer.echo(f"{done} ({dataset}, schema v{SCHEMA_VERSION})")
    typer.echo(_label_table(result.counts))


@app.command("train")
def train(
    out: str = typer.Option(..., help="Run folder or URI (s3://…): checkpoints, samples, metrics, exported generator."),
    dataset: Dataset = GanConfig.dataset,
    data_root: DataRoot = None,
    epochs: int = typer.Option(GanConfig.epochs, help="Total epochs; raise it on an existing run to train more."),
    workers: Workers = GanConfig.workers,
    gpu: Gpu = False,
    arch: str = typer.Option(GanConfig.arch, help="dcgan, sagan or mlp."),
    batch_size: BatchSize = GanConfig.batch_size,
    limit: Limit = None,
    real_per_class: RealPerClass = None,
    seed: Seed = GanConfig.seed,
    loss: str = typer.Option(GanConfig.loss, help="bce (non-saturating) or hinge."),
    lr: float = typer.Option(GanConfig.lr, help="Adam learning rate for G and D."),
    latent_dim: int = typer.Option(GanConfig.latent_dim, help="Noise dimensions."),
    diff_augment: Optional[str] = typer.Option(
        None,
        help="DiffAugment on D's inputs, e.g. translation,cutout: for runs where D memorises the real images "
        "(its accuracy on them near 1.0). 100 images per class did better without it (docs/stages/gan.md).",
    ),
    checkpoint_every: CheckpointEvery = GanConfig.checkpoint_every,
    max_failures: MaxFailures = GanConfig.max_failures,
    precision: str = typer.Option(
        GanConfig.precision,
        help="fp32, bf16 (autocast; weights stay fp32) or auto: bf16 on AMX CPUs, where it was measured to train as "
        "well; fp32 elsewhere, GPUs included.",
    ),
    address: Address = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Train a class-conditional GAN with Ray Train and export its generator (the gan/ stage)."""
    result = stages.gan.run(_config(GanConfig, locals()))
    if result.skipped:
        typer.echo(f"{out} is already trained for {result.epochs} epochs with these settings: nothing to do")
    else:
        typer.echo(
            f"trained {out} to epoch {result.epochs} in {result.seconds:.0f} s "
            f"({result.samples_per_s:,.0f} samples/s last epoch, {result.precision})"
        )
    typer.echo(
        f"generator: {out}/generator.safetensors (sha256 {result.generator_sha256[:16]}…); samples: {out}/samples/"
    )


@app.command("judge")
def judge(
    out: str = typer.Option(..., help="Judge folder or URI: classifier.safetensors + classifier.json."),
    dataset: Dataset = JudgeConfig.dataset,
    data_root: DataRoot = None,
    epochs: int = typer.Option(JudgeConfig.epochs, help="Epochs over the real training split."),
    workers: Workers = JudgeConfig.workers,
    gpu: Gpu = False,
    batch_size: BatchSize = JudgeConfig.batch_size,
    limit: Limit = None,
    real_per_class: RealPerClass = None,
    seed: Seed = JudgeConfig.seed,
    address: Address = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Train the judge: the digit classifier that scores synthetic digits (real data only; the judge/ stage)."""
    result = stages.judge.run(_config(JudgeConfig, locals()))
    done = "already trained with these settings" if result.skipped else f"trained in {result.seconds:.0f} s"
    typer.echo(f"judge {out}: {done}; test accuracy {result.test_accuracy:.4f} (sha256 {result.sha256[:16]}…)")


@app.command("generate")
def generate(
    checkpoint: str = typer.Option(..., help="GAN run folder holding generator.safetensors + generator.json."),
    n: Optional[int] = typer.Option(
        None, "--n", help="Rows to generate (exactly this many land); with --class-weights fill, default: the deficit."
    ),
    out: str = typer.Option(
        ..., help="Output folder or URI (s3://…): train/part-*.parquet + README.md + _manifest.json."
    ),
    judge: Optional[str] = typer.Option(
        None, help="Judge folder (default CHECKPOINT/judge, trained there on first use)."
    ),
    workers: Optional[int] = typer.Option(
        None, help="Actors (default: one per CPU, or with --gpu one per GPU the node types allow, started on demand)."
    ),
    gpu: bool = typer.Option(False, "--gpu", help="Generate on GPUs, one per actor."),
    batch_size: Optional[int] = typer.Option(
        SyntheticConfig.batch_size, help="Rows per generator forward pass (default: 512 on CPUs, 8192 on a GPU)."
    ),
    seed: int = typer.Option(SyntheticConfig.seed, help="Row i's latent depends on (seed, i) only."),
    class_weights: Optional[str] = typer.Option(
        None,
        help="Class distribution as w0,…,w9 (default balanced), or fill: what each class of the GAN's real rows lacks "
        "against the largest (a long tail made even; --n defaults to the total deficit).",
    ),
    min_confidence: float = typer.Option(
        SyntheticConfig.min_confidence,
        help="Replace samples the judge gives less than this probability of their label.",
    ),
    temperature: float = typer.Option(
        SyntheticConfig.temperature,
        help="Latents ~ N(0, T^2): above 1 more varied digits (pair it with --min-confidence).",
    ),
    max_attempts: int = typer.Option(
        SyntheticConfig.max_attempts, help="Fresh samples a row may draw before the run gives up."
    ),
    rows_per_file: int = typer.Option(
        SyntheticConfig.rows_per_file, help="Most rows per part file (parts are split evenly)."
    ),
    precision: str = typer.Option(
        SyntheticConfig.precision,
        help="fp32, bf16, or auto: bf16 where the hardware has bf16 matrix units (AMX CPUs, Ampere+ GPUs).",
    ),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP + " Only used to train a missing judge."),
    address: Address = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Generate N labeled synthetic digits to Parquet with Ray Data (the synthetic/ stage)."""
    options = {**locals(), "class_weights": _weights(class_weights)}
    result = stages.synthetic.run(_config(SyntheticConfig, options))
    if result.skipped:
        typer.echo(f"{out} already holds these {result.rows:,} rows ({plural(result.files, 'file')}): nothing to do")
        return
    reused = f" ({result.reused_parts} parts kept from an interrupted run)" if result.reused_parts else ""
    typer.echo(
        f"wrote {result.rows:,} rows in {plural(result.files, 'file')} ({result.bytes / 1e6:,.1f} MB) to {out} in "
        f"{result.seconds:.1f} s ({result.precision}): {result.rows_per_s:,.0f} rows/s, mean confidence "
        f"{result.mean_confidence:.3f}, "
        f"{result.rejected:,} samples replaced{reused}"
    )


@app.command("merge")
def merge(
    real: str = typer.Option(..., help="A real export (`augment data export`); only its train split is used."),
    synthetic: str = typer.Option(..., help="A generation output with its _manifest.json."),
    out: str = typer.Option(
        ..., help="Merged dataset folder or URI: train/real/ + train/synthetic/ + README.md + _manifest.json."
    ),
    synthetic_fraction: Optional[float] = typer.Option(None, help="Share of synthetic rows in the result, in [0, 1)."),
    max_synthetic: Optional[int] = typer.Option(
        None, help="At most this many synthetic rows (ids 0..K-1, class-balanced)."
    ),
    real_per_class: Optional[str] = typer.Option(None, help=REAL_PER_CLASS_HELP),
    overwrite: Overwrite = False,
) -> None:
    """Merge the real training split with synthetic rows into one Parquet dataset (the merged/ stage)."""
    result = stages.merged.run(_config(MergedConfig, locals()))
    done = "already merged with these settings" if result.skipped else f"merged in {result.seconds:.1f} s"
    typer.echo(f"{out}: {done}; {result.summary}")


@app.command("retrain")
def retrain(
    data: str = typer.Option(..., help="Training data: a merged, synthetic or real output."),
    out: str = typer.Option(..., help="Classifier run folder or URI: checkpoints, metrics, exported classifier."),
    dataset: str = typer.Option(ClassifierConfig.dataset, help="Whose real test split measures accuracy."),
    data_root: Optional[str] = typer.Option(None, help=DATA_ROOT_HELP + " (the real test split)"),
    epochs: int = typer.Option(
        ClassifierConfig.epochs, help="Total epochs; raise it on an existing run to train more."
    ),
    samples_seen: Optional[int] = typer.Option(
        None, help="Train on this many samples (steps x batch) instead of whole --epochs: the last pass stops part-way."
    ),
    workers: Workers = ClassifierConfig.workers,
    gpu: Gpu = False,
    batch_size: BatchSize = ClassifierConfig.batch_size,
    lr: float = typer.Option(ClassifierConfig.lr, help="Peak AdamW learning rate."),
    lr_decay: float = typer.Option(ClassifierConfig.lr_decay, help="Learning-rate factor per 60,000 samples seen."),
    real_only: bool = typer.Option(False, "--real-only", help="Train on the real rows only (the baseline)."),
    synthetic_only: bool = typer.Option(False, "--synthetic-only", help="Train on the synthetic rows only (CAS)."),
    max_synthetic: Optional[int] = typer.Option(None, help="Leave out synthetic rows with id >= K."),
    synthetic_per_epoch: Optional[int] = typer.Option(
        None, help="Each epoch: the real rows + the next K synthetic rows (fresh ones every epoch, wrapping around)."
    ),
    classic_augment: bool = typer.Option(False, "--classic-augment", help="torchvision affine + elastic augmentation."),
    balanced_loss: bool = typer.Option(
        False,
        "--balanced-loss",
        help="Weigh each class's rows by rows / (classes x its rows) in the loss (a long-tail baseline).",
    ),
    init_from: Optional[str] = typer.Option(
        None,
        help="Start from this classifier's weights (a retrain folder), e.g. one trained --synthetic-only: fine-tuning.",
    ),
    seed: Seed = ClassifierConfig.seed,
    checkpoint_every: CheckpointEvery = ClassifierConfig.checkpoint_every,
    max_failures: MaxFailures = ClassifierConfig.max_failures,
    address: Address = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Retrain the digit classifier on Ray Train, streaming the rows through Ray Data (the classifier/ stage)."""
    result = stages.classifier.run(_config(ClassifierConfig, locals()))
    done = "already trained with these settings" if result.skipped else f"trained in {result.seconds:.0f} s"
    typer.echo(f"{out}: {done}; {result.summary}")


@app.command("evaluate")
def evaluate(
    checkpoint: str = typer.Option(
        ..., help="GAN run folder (exported generator; judge in CHECKPOINT/judge by default)."
    ),
    out: str = typer.Option(..., help="Report folder or URI: report.json, report.md, plots, runs/."),
    synthetic: Optional[str] = typer.Option(None, help="Generation output: samples to score and the CAS training set."),
    judge: Optional[str] = typer.Option(None, help="Judge folder (default CHECKPOINT/judge)."),
    dataset: Dataset = ReportConfig.dataset,
    data_root: DataRoot = None,
    samples: int = typer.Option(
        ReportConfig.samples, help="Synthetic digits scored for fidelity and Fréchet distance."
    ),
    merged: Optional[str] = typer.Option(None, help="Merged dataset for the full-data gain table."),
    low_data_merged: Optional[str] = typer.Option(
        None, help="Merged dataset made with --real-per-class (low-data gain table)."
    ),
    seeds: int = typer.Option(ReportConfig.seeds, help="Seeds per gain-table variant."),
    epochs: int = typer.Option(ReportConfig.epochs, help="Epochs of every CAS and full-data classifier."),
    samples_seen: Optional[int] = typer.Option(
        None,
        help="Samples (steps x batch) every gain-table classifier trains on; default: real only's epochs x real rows.",
    ),
    low_data_epochs: int = typer.Option(ReportConfig.low_data_epochs, help="Epochs of every low-data classifier."),
    cas_rows: int = typer.Option(ReportConfig.cas_rows, help="Synthetic rows the CAS classifier trains on."),
    curve: Optional[str] = typer.Option(
        None,
        help="Synthetic rows available, e.g. 0,10000,60000,250000,1000000: real + synthetic at the gain budget "
        "with the pool cut to each (the report's curve).",
    ),
    seed: int = typer.Option(ReportConfig.seed, help="Seed of in-process samples when no --synthetic is given."),
    workers: int = typer.Option(ReportConfig.workers, help="Ray Train workers per classifier."),
    gpu: Gpu = False,
    address: Address = None,
    offline: Offline = False,
    overwrite: Overwrite = False,
) -> None:
    """Measure fidelity, Fréchet distance, CAS and augmentation gain; write the report (the report/ stage)."""
    result = stages.report.run(_config(ReportConfig, locals()))
    typer.echo(f"{out}/report.md: {result.summary}" + (" (already evaluated)" if result.skipped else ""))


@app.command("run")
def run(
    n: int = typer.Option(PipelineConfig.n, "--n", help="Synthetic digits to generate."),
    out: str = typer.Option(PipelineConfig.out, help="Run folder or URI: one subfolder per stage."),
    dataset: Dataset = PipelineConfig.dataset,
    data_root: DataRoot = None,
    epochs: Optional[int] = typer.Option(None, help="GAN epochs (default 20 on CPU, 30 with --gpu)."),
    classifier_epochs: int = typer.Option(
        PipelineConfig.classifier_epochs, help="Epochs of every retrained classifier."
    ),
    samples_seen: Optional[int] = typer.Option(
        None,
        help="Samples (steps x batch) every gain-table classifier trains on; default: real only's epochs x real rows.",
    ),
    arch: str = typer.Option(PipelineConfig.arch, help="dcgan, sagan or mlp."),
    limit: Optional[int] = typer.Option(None, help="GAN and judge train on the first N images only (quick runs)."),
    merge_synthetic: Optional[int] = typer.Option(
        None,
        help="Synthetic rows merged with the real training split (default: all; the synthetic classifiers draw "
        "fresh ones every epoch).",
    ),
    curve: str = typer.Option(
        ",".join(map(str, PipelineConfig.curve)),
        help="The report's synthetic-rows curve: real + synthetic at an equal "
        "budget with the pool cut to each count ('' for none).",
    ),
    samples: int = typer.Option(
        PipelineConfig.samples, help="Synthetic digits scored for fidelity and Fréchet distance."
    ),
    min_confidence: float = typer.Option(
        PipelineConfig.min_confidence,
        help="Replace generated digits the judge gives less than this probability of their label (0: keep all).",
    ),
    temperature: float = typer.Option(
        PipelineConfig.temperature, help="Latents ~ N(0, T^2) in generation: above 1 more varied digits."
    ),
    seeds: int = typer.Option(PipelineConfig.seeds, help="Seeds per gain-table variant (3 gives a spread)."),
    seed: int = typer.Option(PipelineConfig.seed, help="Seed of the GAN, the judge and the generation."),
    rows_per_file: int = typer.Option(
        PipelineConfig.rows_per_file,
        help="Most rows per synthetic part file; a part is one actor's task, so smaller parts spread generation over "
        "more nodes.",
    ),
    workers: Optional[int] = typer.Option(
        None,
        help="Ray Train workers (default: 2 where the training nodes hold two of a CPU or more, else 1; with --gpu 1: "
        "these small models should train no faster split over GPUs (not yet measured); generation uses every GPU).",
    ),
    gpu: bool = typer.Option(False, "--gpu", help="Use GPUs (defaults sized for a GPU)."),
    address: Address = None,
    force: Optional[str] = typer.Option(
        None, help=f"Redo these stages (comma-separated: {','.join(STAGES)}) and what depends on them."
    ),
    only: Optional[str] = typer.Option(
        None, "--stages", hidden=True, help="Run only these stages (the cluster job chain)."
    ),
    offline: Offline = False,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run folder made with other settings."),
) -> None:
    """Run the whole pipeline: real → gan → judge → synthetic → merged → classifier → report."""
    from augment.pipeline import run as run_pipeline
    from augment.pipeline import summary_table

    chosen = tuple(s for s in only.split(",") if s) if only else STAGES
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise AugmentError(f"--stages {','.join(unknown)}: stages are {', '.join(STAGES)}")
    options = {**locals(), "force": tuple(s for s in (force or "").split(",") if s)}
    result = run_pipeline(_config(PipelineConfig, options), only=chosen, echo=typer.echo)
    typer.echo(summary_table(result))


@app.command(
    "submit",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def submit(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="train, generate, retrain or pipeline."),
    address: str = typer.Option(..., help="Ray Jobs API of the cluster, e.g. http://HEAD:8265."),
    wait: bool = typer.Option(False, "--wait", help="Stream the logs and exit with the job's status."),
    working_dir: Optional[str] = typer.Option(
        None, help="Folder uploaded as the job's working directory (default: this project's folder)."
    ),
) -> None:
    """Submit a stage (or the whole chain) to a Ray cluster; other options go to the job."""
    from augment.submit import SubmitConfig
    from augment.submit import submit as run_submit

    result = run_submit(
        SubmitConfig(job=job, address=address, args=tuple(ctx.args), wait=wait, working_dir=working_dir),
        echo=typer.echo,
    )
    ended = f"; ended {', '.join(result.statuses)}" if result.statuses else ""
    typer.echo(f"job ids: {' '.join(result.job_ids)}{ended}")


@app.command("app")
def app_command(
    run: Optional[str] = typer.Option(None, help="Folder to open: an `augment run` folder, a GAN run or one output."),
    port: int = typer.Option(8501, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs --allow-remote."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a --host other machines can reach."),
) -> None:
    """Start the web app: generate digits, watch training, inspect datasets and reports."""
    from augment.app.launch import launch

    launch(AppConfig(run=run, port=port, host=host, allow_remote=allow_remote), echo=typer.echo)


def _weights(text: Optional[str]) -> Optional[tuple[float, ...] | str]:
    if text is None:
        return None
    if text.strip() == FILL:
        return FILL
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise AugmentError(
            f"--class-weights must be {FILL} or comma-separated numbers like 1,1,1,1,1,1,1,1,1,2 (got {text!r})"
        ) from None


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
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=argv)
    except AugmentError as exc:
        typer.echo(f"augment: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("augment: interrupted; run the same command again to continue where it stopped", err=True)
        sys.exit(130)
    except OSError as exc:
        problem = storage.storage_problem(exc)
        if problem is None:
            _unexpected(exc, args)
        typer.echo(f"augment: error: {problem}", err=True)
        sys.exit(2)
    except Exception as exc:
        _unexpected(exc, args)


def _unexpected(exc: Exception, args: list[str]) -> None:
    """A bug or an environment we did not foresee: one line, the rest in a file."""
    where = current_stage() or _command(args)
    saved = console.save_traceback(exc, f"augment {' '.join(args)}")
    typer.echo(
        f"augment: error: {where} failed unexpectedly ({type(exc).__name__}: {first_line(exc)}); full traceback in "
        f"{saved}",
        err=True,
    )
    sys.exit(1)


def _command(args: list[str]) -> str:
    words = [arg for arg in args if not arg.startswith("-")]
    return f"augment {' '.join(words[:2] if words[:1] == ['data'] else words[:1])}".strip()
