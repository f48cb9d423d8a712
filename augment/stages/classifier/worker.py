"""The classifier's per-worker loop (Ray Train runs it on every worker; train.py is the driver):
each run of the group in turn, AdamW over its Ray Data shard, test scores and checkpoints on rank 0.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from ray.data.collate_fn import NumpyBatchCollateFn

from augment.core import mnist
from augment.core.ray_train import (
    crash_once,
    digits_on_device,
    newest_checkpoint,
    start_worker,
    store_checkpoint,
    write_checkpoint_meta,
)
from augment.models.checkpoint import save_state
from augment.models.classifier import ClassifierSpec, DigitClassifier, accuracy, fuse_for_inference, test_scores
from augment.models.classifier_file import load_classifier
from augment.models.classifier_training import (
    BestEpoch,
    Schedule,
    TrainingLoss,
    balanced_class_weights,
    optimizer_for,
    train_epoch,
)
from augment.stages.classifier.config import ClassifierConfig

SHUFFLE_BUFFER_ROWS = 32_768  # ~26 MB of pixels per worker
# Ray Data hands out this many rows at a time and the trainer cuts them into its batches before any
# arithmetic (augmentation stays per batch, in cache): Ray's per-batch work (shuffle-buffer sampling,
# formatting, collate) then runs once per 32 training steps instead of every step. From one block
# the same rows in the same order (identical losses); from several the buffer mixes them a little
# differently. 7 of 8 epochs faster, ~+11% samples/s (alternated A/B, 2 vCPUs Zen 3, 2026-12-07).
FETCH_ROWS = 4096


def shard_name(index: int, epoch: int | None = None) -> str:
    return f"train{index}" if epoch is None else f"train{index}.{epoch}"


def schedule_for(cfg: ClassifierConfig, rows: int) -> Schedule:
    return Schedule(cfg.lr, cfg.lr_decay, cfg.batch_size, rows)


def retrain_worker(loop: dict) -> None:
    """Runs on every Ray Train worker: each run in turn, AdamW over its Ray Data shard, test
    accuracy on rank 0. After a restart (a worker died) every run resumes from its newest
    checkpoint in its own folder; runs trained to their last epoch are passed over."""
    worker = start_worker(loop)
    for index, job in enumerate(loop["runs"]):
        _train_run(ClassifierConfig(**job["config"]), job, worker, loop["progress"], index)


def _train_run(cfg: ClassifierConfig, job: dict, worker, progress, index: int) -> None:
    import ray.train
    import ray.train.torch

    device = worker.device
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = DigitClassifier(ClassifierSpec(num_classes=job["num_classes"])).to(device)
    optimizer = optimizer_for(model, cfg.weight_decay)
    best = BestEpoch(cfg.patience) if job["validation"] is not None else None
    first_epoch, history, step = 1, [], 0
    resume = newest_checkpoint(cfg.out, None)
    if resume:
        state, history = resume
        if state["epoch"] >= cfg.epochs or state.get("stopped"):
            return
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch, step = state["epoch"] + 1, state["step"]
        if best is not None:
            best.restore(state.get("best"))
    elif cfg.init_from:
        model.load_state_dict(load_classifier(cfg.init_from, device)[0].state_dict())
    ddp_model = ray.train.torch.prepare_model(model, move_to_device=device)
    run = _Run(cfg, job, worker, progress, ddp_model, optimizer, training_loss(cfg, job["per_label"], device))
    test = digits_on_device(job["test"], device) if worker.rank == 0 else None
    validation = digits_on_device(job["validation"], device) if best is not None else None  # every rank
    for epoch in range(first_epoch, cfg.epochs + 1):
        shard = ray.train.get_dataset_shard(shard_name(index, epoch if job["fresh"] else None))
        row, step = run.epoch(shard, epoch, step)
        row["resumed_from_epoch"] = first_epoch - 1
        stop = _validate(model, validation, best, epoch, row)
        if worker.rank == 0:
            last = stop or epoch == cfg.epochs
            if best is None:  # no held-out rows: the test split scores every epoch, the last one is exported
                row.update(_scores(model, test, job["num_classes"]))
            progress.line(f"{job['label']} epoch {epoch}/{cfg.epochs}  loss {row['loss']:.4f}  {_score_text(row, best)}"
                          f"  {row['seconds']:.1f} s  {row['samples_per_s']:,.0f} samples/s")  # fmt: skip
            history.append(row)
            if epoch % cfg.checkpoint_every == 0 or last:
                chosen = _chosen(best, test, job["num_classes"], converged=stop) if last and best else None
                _checkpoint(cfg, model, optimizer, epoch, step, history, best, chosen)
        # every rank waits here for rank 0's checkpoint: a restart then finds it in storage
        ray.train.report({k: v for k, v in row.items() if v is not None and not isinstance(v, list)})
        if stop:
            break


def training_loss(cfg: ClassifierConfig, per_label: list[int], device) -> TrainingLoss:
    """The run's loss: class-balanced (--balanced-loss), synthetic rows weighted, a teacher's soft targets."""
    teacher = None
    if cfg.teacher:  # folded BatchNorm, eval mode: the teacher only infers
        teacher = fuse_for_inference(load_classifier(cfg.teacher, torch.device("cpu"))[0]).to(device)
    return TrainingLoss(
        class_weights=balanced_class_weights(per_label).to(device) if cfg.balanced_loss else None,
        synthetic_weight=cfg.synthetic_weight,
        teacher=teacher,
        teacher_share=cfg.teacher_share,
    )


def _validate(model, validation, best: BestEpoch | None, epoch: int, row: dict) -> bool:
    """With held-out rows: this epoch's validation accuracy in `row`, the best epoch updated; True
    when --patience epochs have passed without a better one (every rank decides the same)."""
    if best is None:
        return False
    with torch.no_grad():
        row["validation_accuracy"] = round(accuracy(model, *validation), 5)
    best.update(epoch, row["validation_accuracy"], model)
    return best.should_stop(epoch)


def _score_text(row: dict, best: BestEpoch | None) -> str:
    if best is None:
        return f"test accuracy {row['test_accuracy']:.4f}"
    return f"validation accuracy {row['validation_accuracy']:.4f} (best {best.accuracy:.4f}, epoch {best.epoch})"


def _chosen(best: BestEpoch, test, num_classes: int, converged: bool) -> dict:
    """The run's result: the best epoch's weights, scored on the test split this once."""
    model = DigitClassifier(ClassifierSpec(num_classes=num_classes)).to(test[0].device)
    model.load_state_dict(best.weights)
    return {**best.state(), "scores": _scores(model, test, num_classes), "converged": converged}


@dataclass
class _Run:
    """One classifier run on this worker: its model, optimizer and schedule over its Ray Data shard."""

    cfg: ClassifierConfig
    job: dict
    worker: Any
    progress: Any
    ddp_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    loss_of: TrainingLoss

    def epoch(self, shard, epoch: int, step: int) -> tuple[dict, int]:
        cfg, world, device = self.cfg, self.worker.world, self.worker.device
        per_worker = cfg.batch_size // world
        batches = shard.iter_torch_batches(
            batch_size=max(FETCH_ROWS, per_worker),
            drop_last=False,  # exact_batches drops the last partial batch
            local_shuffle_buffer_size=min(SHUFFLE_BUFFER_ROWS, self.job["rows"]),
            local_shuffle_seed=cfg.seed * 100_003 + epoch * 101 + self.worker.rank,
            collate_fn=_Collate(
                augment_seed=cfg.seed if cfg.classic_augment else None,
                epoch=epoch,
                flag_synthetic=cfg.synthetic_weight != 1.0,
            ),
            # on a GPU the next batches are read and collated while it computes; on 2 CPUs a second
            # batch in flight only competes with the trainer for the same cores
            prefetch_batches=2 if device.type == "cuda" else 1,
        )
        schedule = schedule_for(cfg, self.job["rows"])
        stats = train_epoch(
            self.ddp_model,
            self.optimizer,
            on_trainer(exact_batches(batches, per_worker), device),
            schedule,
            step,
            after_batch=self._after_batch(epoch),
            stop_at_step=cfg.steps(),
            loss_of=self.loss_of,
        )
        row = {
            "epoch": epoch,
            "loss": round(stats.loss, 5),
            "seconds": round(stats.seconds, 3),
            "samples_per_s": round(stats.samples * world / stats.seconds, 1),
            "steps": stats.steps,
            "samples_seen": stats.steps * cfg.batch_size,
            "lr": schedule(stats.steps),
            "workers": world,
            "nodes": self.worker.nodes,
            "test_accuracy": None,
        }
        return row, stats.steps

    def _after_batch(self, epoch: int):
        """Progress inside the epoch (rank 0), and the fault injection's crash."""
        cfg, rank, world = self.cfg, self.worker.rank, self.worker.world
        epoch_rows = self.job["rows"] // cfg.batch_size * cfg.batch_size
        budget = cfg.steps()  # None: whole epochs
        # the samples this epoch trains on: all of them, or what is left of the budget
        this_epoch = (
            epoch_rows
            if budget is None
            else min(epoch_rows, (budget - (epoch - 1) * (epoch_rows // cfg.batch_size)) * cfg.batch_size)
        )
        label = f"{self.job['label']} epoch {epoch}/{cfg.epochs}"

        def seen(samples: int) -> None:
            if rank == 0:
                self.progress.update(label, min(samples * world, this_epoch), this_epoch, "samples")
            if cfg.fail_at_epoch == epoch and rank == world - 1:
                crash_once(cfg.out)

        return seen


def _scores(model, test, num_classes: int) -> dict:
    scores = test_scores(model, *test, num_classes)
    return {key: round(value, 5) if isinstance(value, float) else value for key, value in scores.items()}


def _checkpoint(cfg, model, optimizer, epoch: int, step: int, history: list, best=None, chosen=None) -> None:
    """The run's state; with held-out rows also the best epoch so far, and at the end the chosen one
    (train.py exports it) with `stopped` set, so a rerun does not train on past it."""
    with tempfile.TemporaryDirectory() as folder:
        state = {"epoch": epoch, "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
        if chosen is not None:
            state.update(best=chosen, stopped=chosen["converged"])
        elif best is not None:
            state["best"] = best.state()
        save_state(folder, state)
        write_checkpoint_meta(folder, epoch, history, asdict(cfg))
        store_checkpoint(cfg.out, folder, epoch)


class _Collate(NumpyBatchCollateFn):
    """numpy batch from Ray Data -> (uint8 images (N, 28, 28), int64 labels, augmentation keys or None,
    bool synthetic flags or None).

    No tensor arithmetic here: Ray runs the collate function in its prefetch thread, and the first
    parallel torch op in a thread gives it an OpenMP team of its own. Two teams on two CPUs make
    libgomp stop spin-waiting, and the trainer's threads then sleep and wake on a futex between the
    thousands of small parallel regions of every step (measured: ~130% CPU and ~3,500 context
    switches/s in the training process instead of ~190%). The arithmetic happens in `on_trainer`."""

    def __init__(self, augment_seed: int | None = None, epoch: int = 0, flag_synthetic: bool = False):
        self.augment_seed, self.epoch, self.flag_synthetic = augment_seed, epoch, flag_synthetic

    def __call__(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None, torch.Tensor | None]:
        images = torch.from_numpy(np.array(batch["image"], dtype=np.uint8))  # Ray hands out read-only views
        labels = torch.from_numpy(batch["label"].astype(np.int64))
        keys = None
        if self.augment_seed is not None:
            from augment.stages.classifier.classic_augment import row_keys

            keys = row_keys(self.augment_seed, self.epoch, batch["synthetic"], batch["id"])
        synthetic = torch.from_numpy(batch["synthetic"].astype(bool)) if self.flag_synthetic else None
        return images, labels, keys, synthetic


def exact_batches(batches: Iterator[tuple], size: int) -> Iterator[tuple]:
    """Batches of exactly `size` rows cut from larger ones, in order; a last partial one is dropped
    (as `drop_last` would: every rank takes the same number of steps). Each batch is a tuple of
    tensors, numpy arrays or None (what _Collate makes), cut together."""
    carry = None
    for batch in batches:
        if carry is not None:
            batch = tuple(_joined(kept, more) for kept, more in zip(carry, batch))
        rows = len(batch[0])
        whole = rows // size * size
        for first in range(0, whole, size):
            yield tuple(None if part is None else part[first : first + size] for part in batch)
        carry = tuple(None if part is None else part[whole:] for part in batch) if whole < rows else None


def _joined(first, second):
    if first is None:
        return None
    return np.concatenate([first, second]) if isinstance(first, np.ndarray) else torch.cat([first, second])


def on_trainer(batches, device) -> Iterator[tuple[torch.Tensor, ...]]:
    """The training thread's side of _Collate: classic augmentation on whole batches
    (classic_augment.py; each row distorted by a draw keyed on (seed, epoch, source, id):
    reproducible, and new every epoch), then images in [-1, 1] (N, 1, 28, 28) on the device.
    On a GPU the uint8 batch is copied first (pinned, asynchronous: 784 bytes a row instead of
    3,136 as floats) and distorted there. The synthetic flags, where collated, come along."""
    cuda = device.type == "cuda"
    for images, labels, keys, synthetic in batches:
        if cuda:
            images = images.pin_memory().to(device, non_blocking=True)
            labels = labels.pin_memory().to(device, non_blocking=True)
        if keys is not None:
            from augment.stages.classifier.classic_augment import augment_batch

            images = augment_batch(images, keys)
        inputs = mnist.to_gan_range(images.to(device)).unsqueeze(1)
        yield (inputs, labels.to(device)) if synthetic is None else (inputs, labels.to(device), synthetic.to(device))
