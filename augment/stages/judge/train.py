"""The `judge/` stage: run(cfg) trains the digit classifier on the *real* training split with
Ray Train (DDP) and exports it as `classifier.safetensors` + `classifier.json`.

The judge scores every synthetic digit (confidence = its probability for the conditioning label),
filters with --min-confidence, measures label fidelity, and supplies the features of the Fréchet
distance. Its accuracy on the real test split is recorded with it; the test split is only ever
evaluated on, never trained on. A few epochs take minutes, so it has no mid-run checkpoints: an
interrupted judge is trained again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import torch

from augment.core import manifest, mnist, storage
from augment.core.progress import progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.ray_train import (
    digits_on_device,
    fit,
    placed_workers,
    start_worker,
)
from augment.core.stage import Made, Output, finished_output, run_stage
from augment.models.classifier import ClassifierSpec, DigitClassifier, accuracy
from augment.models.classifier_file import INFO_FILE, WEIGHTS_FILE, export_classifier
from augment.models.classifier_training import Schedule, optimizer_for, train_epoch
from augment.stages.judge.config import FOLDER, JudgeConfig

KIND = FOLDER  # the manifest's kind: the stage's name
RAY_STATE = "_ray"  # Ray Train's run state while the judge trains (no checkpoints), removed after
# A judge killed while training leaves Ray's state behind: its own, so a rerun starts over.
OWNED = (manifest.MANIFEST_NAME, WEIGHTS_FILE, INFO_FILE, RAY_STATE)


@dataclass(frozen=True)
class JudgeResult:
    out: str
    test_accuracy: float
    sha256: str
    seconds: float
    skipped: bool  # already trained with these settings

    @property
    def summary(self) -> str:
        return f"real test accuracy {self.test_accuracy:.4f}"


class JudgeStage:
    """The judge, as the stage contract (core/stage.py) sees it: trained whole (a few epochs, no checkpoints)."""

    KIND, OWNED, CONTINUES = KIND, OWNED, False

    def identity(self, cfg: JudgeConfig) -> dict:
        return cfg.identity()

    def finished(self, cfg: JudgeConfig, output: Output) -> dict | None:
        refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
        return finished_output(cfg, output, KIND)

    def from_manifest(self, cfg: JudgeConfig, done: dict) -> JudgeResult:
        return JudgeResult(cfg.out, done["test_accuracy"], done["classifier_sha256"], 0.0, skipped=True)

    def work(self, cfg: JudgeConfig, output: Output) -> Made[JudgeResult]:
        started = time.perf_counter()
        train = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
        test = mnist.load_split(cfg.dataset, "test", cfg.data_root, download=cfg.download)
        output.check_writable()  # before the workers are placed, which may wait for nodes
        _train(cfg, output, train, test)
        fs, out = output.fs, output.path
        metrics = json.loads(storage.read_bytes(fs, storage.join(out, INFO_FILE)))
        result = JudgeResult(
            cfg.out, metrics["test_accuracy"], metrics["sha256"], time.perf_counter() - started, skipped=False
        )
        facts = {
            "test_accuracy": metrics["test_accuracy"],
            "classifier_sha256": metrics["sha256"],
            "classes": list(train.classes),
        }
        return Made(result, [output.entry(name) for name in (WEIGHTS_FILE, INFO_FILE)], facts)


def run(cfg: JudgeConfig) -> JudgeResult:
    return run_stage(JudgeStage(), cfg)


def _train(cfg: JudgeConfig, output: Output, train, test) -> None:
    """Ray Train: the judge's workers, which export it from rank 0."""
    import ray

    with (
        ray_session(cfg.address, ray_train=True),
        progress_channel() as progress,
        placed_workers(cfg, what="judge") as placement,
    ):
        output.start()  # once the workers are placed: a refusal leaves the old judge
        fit(
            _judge_worker,
            {
                "config": asdict(cfg),
                "train": ray.put(mnist.training_subset(train, cfg.limit, cfg.real_per_class)),
                "test": ray.put((test.images, test.labels)),
                "num_classes": len(train.classes),
                "threads": placement.threads,
                "progress": progress,
            },
            # Ray's own run state (no checkpoints) goes beside the judge, out of the way of readers.
            what="judge",
            cfg=cfg,
            placement=placement,
            storage_path=storage.join(output.path, RAY_STATE),
            fs=output.fs,
        )
    storage.delete(output.fs, storage.join(output.path, RAY_STATE))


def _judge_worker(loop: dict) -> None:
    """Runs on every Ray Train worker: the classifier recipe on its DistributedSampler shard."""
    import ray.train
    import ray.train.torch
    from torch.utils.data import DistributedSampler

    worker = start_worker(loop, JudgeConfig)
    cfg, rank, world, device = worker.cfg, worker.rank, worker.world, worker.device
    images, labels = digits_on_device(loop["train"], device)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = DigitClassifier(ClassifierSpec(num_classes=loop["num_classes"])).to(device)
    ddp_model = ray.train.torch.prepare_model(model, move_to_device=device)
    optimizer = optimizer_for(model, cfg.weight_decay)
    per_worker = cfg.batch_size // world
    sampler = DistributedSampler(
        range(len(labels)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
    )
    steps = len(sampler) // per_worker
    schedule = Schedule(cfg.lr, cfg.lr_decay, cfg.batch_size, rows=steps * cfg.batch_size)
    test_images, test_labels = digits_on_device(loop["test"], device) if rank == 0 else (None, None)

    def batches():
        order = torch.tensor(list(sampler), device=device)
        for i in range(steps):
            batch = order[i * per_worker : (i + 1) * per_worker]
            yield images[batch], labels[batch]

    step = 0
    for epoch in range(1, cfg.epochs + 1):
        sampler.set_epoch(epoch)
        progress = _progress(loop, worker, epoch, steps * cfg.batch_size)
        stats = train_epoch(ddp_model, optimizer, batches(), schedule, step, after_batch=progress)
        step = stats.steps
        row = {
            "epoch": epoch,
            "loss": round(stats.loss, 5),
            "seconds": round(stats.seconds, 3),
            "workers": worker.world,
            "nodes": worker.nodes,
        }
        if rank == 0:
            row["test_accuracy"] = round(accuracy(model, test_images, test_labels), 5)
            _epoch_done(loop, cfg, model, epoch, row)
        ray.train.report(row)


def _progress(loop: dict, worker, epoch: int, samples: int):
    """Rank 0's progress line inside an epoch (the others say nothing)."""
    if worker.rank != 0:
        return lambda seen: None
    label = f"judge epoch {epoch}/{worker.cfg.epochs}"
    return lambda seen: loop["progress"].update(label, seen * worker.world, samples, "samples")


def _epoch_done(loop: dict, cfg: JudgeConfig, model, epoch: int, row: dict) -> None:
    """Rank 0 after an epoch: its line, and after the last the exported judge."""
    loop["progress"].line(
        f"judge epoch {epoch}/{cfg.epochs}  loss {row['loss']:.4f}  test accuracy {row['test_accuracy']:.4f} "
        f" {row['seconds']:.1f} s"
    )
    if epoch == cfg.epochs:
        export_classifier(
            cfg.out,
            model,
            dataset=cfg.dataset,
            epochs=cfg.epochs,
            test_accuracy=row["test_accuracy"],
            trained_on="real train split",
            training=cfg.identity(),
        )
