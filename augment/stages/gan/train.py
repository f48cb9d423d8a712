"""The `gan/` stage: run(cfg) trains a class-conditional GAN on Ray Train (DDP) and exports
`generator.safetensors` + `generator.json` for the generation job.

The driver validates, loads the training split once and hands it to the workers through the
object store (47 MB for MNIST: every worker keeps its own copy in memory, on the GPU when there is
one). Each worker draws its shard of every epoch with a DistributedSampler. Rank 0 checkpoints every
`checkpoint_every` epochs; Ray restarts crashed workers from the latest checkpoint, and rerunning
the same command on the same RUN continues the run (Train V2 restores by run name and storage).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from augment.core import manifest, mnist
from augment.core.console import plural
from augment.core.errors import AugmentError
from augment.core.progress import progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.ray_train import FAULT_MARKER, RAY_RUN_NAME, fit, newest_checkpoint, nodes_of, placed_workers
from augment.core.run_folder import RUN_INFO, completed_epochs, write_run_info
from augment.core.stage import Made, Output, run_stage
from augment.models.diff_augment import parse_policy
from augment.models.gan import build_generator
from augment.models.gan_step import make_ema
from augment.models.generator_file import INFO_FILE, WEIGHTS_FILE, export_generator
from augment.stages.gan import artifacts
from augment.stages.gan.config import FOLDER, GanConfig
from augment.stages.gan.worker import train_worker

KIND = FOLDER  # the manifest's kind: the stage's name
OWNED = (
    manifest.MANIFEST_NAME,
    RUN_INFO,
    RAY_RUN_NAME,
    artifacts.SAMPLES_DIR,
    artifacts.METRICS_FILE,
    artifacts.LOSSES_PLOT,
    artifacts.PROGRESS_GIF,
    WEIGHTS_FILE,
    INFO_FILE,
    FAULT_MARKER,
)


@dataclass(frozen=True)
class GanResult:
    out: str
    epochs: int
    generator_sha256: str
    seconds: float
    samples_per_s: float
    skipped: bool  # already trained to `epochs` with these settings: nothing was done
    precision: str  # the last epoch's forward passes: fp32 or bf16 (autocast)

    @property
    def summary(self) -> str:
        return f"{plural(self.epochs, 'epoch')}, {self.samples_per_s:,.0f} samples/s"


def check_diff_augment(cfg: GanConfig) -> None:
    """--diff-augment names DiffAugment's policies, which models/diff_augment.py knows."""
    try:
        parse_policy(cfg.diff_augment)
    except ValueError as exc:
        raise AugmentError(str(exc)) from None


class GanStage:
    """GAN training, as the stage contract (core/stage.py) sees it: an interrupted run of the same
    identity is continued from its newest checkpoint; more --epochs continue a finished one."""

    KIND, OWNED, CONTINUES = KIND, OWNED, True

    def identity(self, cfg: GanConfig) -> dict:
        return cfg.identity()

    def finished(self, cfg: GanConfig, output: Output) -> dict | None:
        check_diff_augment(cfg)
        refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
        done = completed_epochs(
            cfg.out, kind=KIND, what="GAN run", identity=output.identity, epochs=cfg.epochs, overwrite=cfg.overwrite
        )
        return manifest.read_manifest(output.fs, output.path) if done == cfg.epochs else None

    def from_manifest(self, cfg: GanConfig, done: dict) -> GanResult:
        return GanResult(
            cfg.out,
            done["epochs"],
            done["generator_sha256"],
            0.0,
            done["samples_per_s"],
            skipped=True,
            precision=done.get("precision", "fp32"),
        )

    def work(self, cfg: GanConfig, output: Output) -> Made[GanResult]:
        started = time.perf_counter()
        split = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
        images, labels = mnist.training_subset(split, cfg.limit, cfg.real_per_class)
        output.check_writable()  # before the workers are placed, which may wait for nodes
        seen = mnist.balanced_repeat(labels) if cfg.balance_classes else slice(None)
        state, history = _train(cfg, output, images[seen], labels[seen], len(split.classes))
        info = _export(cfg, state, history, split.classes, labels)  # the real rows per class: what fill tops up
        samples_per_s = history[-1]["samples_per_s"]
        precision = history[-1].get("precision", "fp32")  # epochs of runs older than --precision were fp32
        seconds = time.perf_counter() - started
        facts = {
            "epochs": state["epoch"],
            "generator_sha256": info["sha256"],
            "samples_per_s": samples_per_s,
            "precision": precision,
            "precision_per_epoch": [row.get("precision", "fp32") for row in history],
            "nodes": nodes_of(history),
        }
        result = GanResult(cfg.out, state["epoch"], info["sha256"], seconds, samples_per_s, False, precision)
        return Made(result, [output.entry(name) for name in (WEIGHTS_FILE, INFO_FILE)], facts)


def run(cfg: GanConfig) -> GanResult:
    return run_stage(GanStage(), cfg)


def _train(cfg: GanConfig, output: Output, images, labels, num_classes: int) -> tuple[dict, list]:
    """Ray Train: the workers train (or continue) the run; the newest checkpoint's state and history."""
    import ray

    with (
        ray_session(cfg.address, ray_train=True),
        progress_channel() as progress,
        placed_workers(cfg, what="GAN", cpus=cfg.cpus_per_worker) as placement,
    ):
        output.start()  # once the workers are placed: a refusal leaves the old run as it was
        write_run_info(output.fs, output.path, KIND, output.identity)
        loop = {
            "config": asdict(cfg),
            "train": ray.put((images, labels)),
            "num_classes": num_classes,
            "threads": cfg.cpus_per_worker or placement.threads,
            "progress": progress,
        }
        result = fit(
            train_worker,
            loop,
            what="GAN",
            cfg=cfg,
            placement=placement,
            storage_path=output.path,
            fs=output.fs,
            max_failures=cfg.max_failures,
        )
        return newest_checkpoint(cfg.out, result.checkpoint)


def _export(cfg: GanConfig, state: dict, history: list, classes, labels) -> dict:
    """The weight-averaged generator, exported with the run's samples, curves and GIF."""
    spec = cfg.spec(len(classes))
    ema = make_ema(build_generator(spec), cfg.ema_decay)
    ema.load_state_dict(state["ema"])
    info = export_generator(
        cfg.out,
        ema.module,
        spec,
        dataset=cfg.dataset,
        epochs=state["epoch"],
        classes=list(classes),
        training=cfg.identity(),
        rows_per_label=np.bincount(labels.astype(np.int64), minlength=len(classes)).tolist(),
    )
    artifacts.write_metrics_csv(cfg.out, history)
    artifacts.write_progress_gif(cfg.out, state["epoch"])
    artifacts.write_losses_png(cfg.out, history)
    return info
