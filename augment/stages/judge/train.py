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
from augment.core.errors import AugmentError, first_line, require
from augment.core.progress import progress_channel
from augment.core.ray_session import ray_session, refuse_gpu_on_a_cpu_machine
from augment.core.ray_train import check_training_subset, cpus_per_worker, digits_on_device, start_worker
from augment.models.classifier import ClassifierSpec, DigitClassifier, accuracy
from augment.models.classifier_file import INFO_FILE, WEIGHTS_FILE, export_classifier
from augment.stages.judge.config import FOLDER, JudgeConfig

KIND = FOLDER  # the manifest's kind: the stage's name
OWNED = (manifest.MANIFEST_NAME, WEIGHTS_FILE, INFO_FILE)


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


def validate(cfg: JudgeConfig) -> None:
    mnist.check_dataset(cfg.dataset)
    require(cfg.epochs >= 1, f"--epochs must be at least 1 (got {cfg.epochs})")
    require(cfg.workers >= 1, f"--workers must be at least 1 (got {cfg.workers})")
    require(
        cfg.batch_size >= cfg.workers and cfg.batch_size % cfg.workers == 0,
        f"--batch-size {cfg.batch_size} must be a positive multiple of --workers {cfg.workers}",
    )
    check_training_subset(cfg.limit, cfg.real_per_class, cfg.batch_size)


def run(cfg: JudgeConfig) -> JudgeResult:
    started = time.perf_counter()
    validate(cfg)
    refuse_gpu_on_a_cpu_machine(cfg.gpu, cfg.address)
    fs, out = storage.resolve(cfg.out)
    done = manifest.finished_output(fs, out, uri=cfg.out, kind=KIND, identity=cfg.identity(), owned=OWNED, overwrite=cfg.overwrite)
    if done:
        return JudgeResult(cfg.out, done["test_accuracy"], done["classifier_sha256"], 0.0, skipped=True)

    train = mnist.load_split(cfg.dataset, "train", cfg.data_root, download=cfg.download)
    test = mnist.load_split(cfg.dataset, "test", cfg.data_root, download=cfg.download)
    storage.check_writable(cfg.out)
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    with ray_session(cfg.address, ray_train=True), progress_channel() as progress:
        cpus = cpus_per_worker(cfg.workers, cfg.gpu)
        manifest.clear_output(fs, out, OWNED)
        trainer = TorchTrainer(
            _judge_worker,
            train_loop_config={
                "config": asdict(cfg),
                "train": ray.put(mnist.training_subset(train, cfg.limit, cfg.real_per_class)),
                "test": ray.put((test.images, test.labels)),
                "num_classes": len(train.classes),
                "threads": cpus,
                "progress": progress,
            },
            scaling_config=ScalingConfig(num_workers=cfg.workers, use_gpu=cfg.gpu, resources_per_worker={"CPU": cpus}),
            # Ray's own run state (no checkpoints) goes beside the judge, out of the way of readers.
            run_config=RunConfig(name="ray", storage_path=storage.join(out, "_ray"), storage_filesystem=fs),
        )
        try:
            trainer.fit()
        except ray.train.TrainingFailedError as exc:
            raise AugmentError(f"judge training failed: {first_line(exc)}") from None
    storage.delete(fs, storage.join(out, "_ray"))

    metrics = json.loads(storage.read_bytes(fs, storage.join(out, INFO_FILE)))
    seconds = time.perf_counter() - started
    manifest.write_manifest(
        fs, out, stage=KIND, config=cfg.identity(),
        files=[manifest.file_entry(fs, out, name, rows=0) for name in (WEIGHTS_FILE, INFO_FILE)],
        test_accuracy=metrics["test_accuracy"], classifier_sha256=metrics["sha256"],
        classes=list(train.classes), elapsed_s=round(seconds, 3),
    )
    return JudgeResult(cfg.out, metrics["test_accuracy"], metrics["sha256"], seconds, skipped=False)


def _judge_worker(loop: dict) -> None:
    """Runs on every Ray Train worker: one-cycle AdamW on its DistributedSampler shard."""
    import ray.train
    import ray.train.torch
    import torch.nn.functional as F
    from torch.utils.data import DistributedSampler

    worker = start_worker(loop, JudgeConfig)
    cfg, rank, world, device = worker.cfg, worker.rank, worker.world, worker.device
    images, labels = digits_on_device(loop["train"], device)
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = DigitClassifier(ClassifierSpec(num_classes=loop["num_classes"])).to(device)
    ddp_model = ray.train.torch.prepare_model(model)
    per_worker = cfg.batch_size // world
    sampler = DistributedSampler(range(len(labels)), num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    steps = len(sampler) // per_worker
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps)
    test_images, test_labels = digits_on_device(loop["test"], device) if rank == 0 else (None, None)

    for epoch in range(1, cfg.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)
        ddp_model.train()
        total = torch.zeros((), device=device)
        for i in range(steps):
            batch = order[i * per_worker : (i + 1) * per_worker]
            loss = F.cross_entropy(ddp_model(images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.detach()
            if rank == 0:
                loop["progress"].update(f"judge epoch {epoch}/{cfg.epochs}", (i + 1) * cfg.batch_size, steps * cfg.batch_size, "samples")
        row = {"epoch": epoch, "loss": round(float(total) / steps, 5), "seconds": round(time.perf_counter() - started, 3)}
        if rank == 0:
            row["test_accuracy"] = round(accuracy(model, test_images, test_labels), 5)
            loop["progress"].line(f"judge epoch {epoch}/{cfg.epochs}  loss {row['loss']:.4f}  test accuracy {row['test_accuracy']:.4f}  {row['seconds']:.1f} s")
            if epoch == cfg.epochs:
                export_classifier(
                    cfg.out, model, dataset=cfg.dataset, epochs=cfg.epochs, test_accuracy=row["test_accuracy"],
                    trained_on="real train split", training=cfg.identity(),
                )
        ray.train.report(row)
