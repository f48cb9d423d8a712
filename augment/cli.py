"""The `augment` command. Each stage command's options are its config's fields (cli_build.py); the
body imports the stage's `run` (one hop: no torch or Ray before a command runs) and prints its result.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from augment import __version__
from augment.app.config import AppConfig
from augment.cli_build import stage_command
from augment.core import console, storage
from augment.core.console import plural
from augment.core.errors import AugmentError, current_stage, first_line
from augment.pipeline_config import PipelineConfig
from augment.stages.classifier.config import ClassifierConfig, ClassifierRunsConfig
from augment.stages.gan.config import GanConfig
from augment.stages.judge.config import JudgeConfig
from augment.stages.merged.config import MergedConfig
from augment.stages.real.config import RealConfig
from augment.stages.report.config import ReportConfig
from augment.stages.synthetic.config import SyntheticConfig

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


@stage_command(data_app, "export", RealConfig)
def data_export(cfg: RealConfig) -> None:
    from augment.core.schema import SCHEMA_VERSION
    from augment.stages.real.export import run

    result = run(cfg)
    done = "already exported with these settings" if result.skipped else f"wrote {result.out} in {result.seconds:.1f} s"
    typer.echo(f"{done} ({cfg.dataset}, schema v{SCHEMA_VERSION})")
    typer.echo(label_table(result.counts))


@stage_command(app, "train", GanConfig)
def train(cfg: GanConfig) -> None:
    from augment.stages.gan.train import run

    result = run(cfg)
    if result.skipped:
        typer.echo(f"{cfg.out} is already trained for {result.epochs} epochs with these settings: nothing to do")
    else:
        typer.echo(
            f"trained {cfg.out} to epoch {result.epochs} in {result.seconds:.0f} s "
            f"({result.samples_per_s:,.0f} samples/s last epoch, {result.precision})"
        )
    typer.echo(
        f"generator: {cfg.out}/generator.safetensors (sha256 {result.generator_sha256[:16]}…); "
        f"samples: {cfg.out}/samples/"
    )


@stage_command(app, "judge", JudgeConfig)
def judge(cfg: JudgeConfig) -> None:
    from augment.stages.judge.train import run

    result = run(cfg)
    done = "already trained with these settings" if result.skipped else f"trained in {result.seconds:.0f} s"
    typer.echo(f"judge {cfg.out}: {done}; test accuracy {result.test_accuracy:.4f} (sha256 {result.sha256[:16]}…)")


@stage_command(app, "generate", SyntheticConfig)
def generate(cfg: SyntheticConfig) -> None:
    from augment.stages.synthetic.generate import run

    result = run(cfg)
    if result.skipped:
        typer.echo(
            f"{cfg.out} already holds these {result.rows:,} rows ({plural(result.files, 'file')}): nothing to do"
        )
        return
    reused = f" ({result.reused_parts} parts kept from an interrupted run)" if result.reused_parts else ""
    typer.echo(
        f"wrote {result.rows:,} rows in {plural(result.files, 'file')} ({result.bytes / 1e6:,.1f} MB) to {cfg.out} "
        f"in {result.seconds:.1f} s ({result.precision}): {result.rows_per_s:,.0f} rows/s, mean confidence "
        f"{result.mean_confidence:.3f}, {result.rejected:,} samples replaced{reused}{result.lowered()}"
    )


@stage_command(app, "merge", MergedConfig)
def merge(cfg: MergedConfig) -> None:
    from augment.stages.merged.merge import run

    _done(cfg.out, run(cfg), "merged", decimals=1)


@stage_command(app, "retrain", ClassifierConfig)
def retrain(cfg: ClassifierConfig) -> None:
    from augment.stages.classifier.train import run

    _done(cfg.out, run(cfg), "trained")


@stage_command(app, "classifiers", ClassifierRunsConfig)
def classifiers(cfg: ClassifierRunsConfig) -> None:
    from augment.stages.classifier.runs import run

    _done(cfg.out, run(cfg), "trained")


@stage_command(app, "evaluate", ReportConfig)
def evaluate(cfg: ReportConfig) -> None:
    from augment.stages.report.evaluate import run

    result = run(cfg)
    typer.echo(f"{cfg.out}/report.md: {result.summary}" + (" (already evaluated)" if result.skipped else ""))


@stage_command(app, "run", PipelineConfig)
def run(cfg: PipelineConfig) -> None:
    from augment.pipeline import run as run_pipeline
    from augment.pipeline import summary_table

    typer.echo(summary_table(run_pipeline(cfg, echo=typer.echo)))


def _done(out: str, result, verb: str, decimals: int = 0) -> None:
    done = f"already {verb} with these settings" if result.skipped else f"{verb} in {result.seconds:.{decimals}f} s"
    typer.echo(f"{out}: {done}; {result.summary}")


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


@stage_command(app, "app", AppConfig)
def app_command(cfg: AppConfig) -> None:
    """Start the web app: generate digits, watch training, inspect datasets and reports."""
    from augment.app.launch import launch

    launch(cfg, echo=typer.echo)


def label_table(counts) -> str:
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
