"""How the DigitClassifier is trained, for both the judge and the classifier stage: AdamW, a short
warm-up, then a decay counted in samples seen, and one epoch loop over (images, labels) batches.

Pure PyTorch: the stages feed it batches (tensors in the object store for the judge, a Ray Data
shard for the classifier stage) and own DDP, checkpoints and reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

WARMUP_STEPS = 100
DECAY_SAMPLES = 60_000  # one MNIST training split


@dataclass(frozen=True)
class Schedule:
    """Linear warm-up over WARMUP_STEPS (or one epoch, when an epoch is shorter), then x `decay`
    per DECAY_SAMPLES samples seen.

    Counted in samples, not epochs: 1,000 real images and 120,000 merged ones get the same schedule
    per sample, so comparisons at equal epochs are not decided by one run's learning rate having
    vanished; and no total length is needed, so a finished run can be extended. The warm-up is
    capped at one epoch because 1,000 rows are 8 steps per epoch: 100 steps of warm-up would be
    most of a low-data run.
    """

    lr: float  # the peak
    decay: float
    batch_size: int  # global
    rows: int  # training rows per epoch

    def __call__(self, step: int) -> float:
        warmup_steps = max(1, min(WARMUP_STEPS, self.rows // self.batch_size))
        warmup = min(1.0, (step + 1) / warmup_steps)
        return self.lr * warmup * self.decay ** (step * self.batch_size / DECAY_SAMPLES)


@dataclass(frozen=True)
class EpochStats:
    loss: float  # mean over this rank's batches
    samples: int  # this rank's
    steps: int  # the optimizer's, counted from the run's start
    seconds: float


def balanced_class_weights(rows_per_class: list[int]) -> torch.Tensor:
    """Loss weights of a class-balanced cross entropy: rows / (classes x the class's rows), so each
    class adds the same total weight (a class without rows gets the weight of one row)."""
    counts = torch.tensor(rows_per_class, dtype=torch.float32).clamp(min=1)
    return counts.sum() / (len(counts) * counts)


@dataclass(frozen=True)
class TrainingLoss:
    """A training batch's loss: cross entropy on the labels (class-weighted with `class_weights`),
    with two of the synthetic-data recipes of the literature (issue 40):

    - `synthetic_weight` below 1 down-weights the rows flagged synthetic: each row's loss is scaled
      by its weight and the batch's mean taken over rows, so real rows pull as hard as without it;
    - a `teacher` (e.g. the judge) mixes its predicted probabilities into every row's target
      (knowledge distillation, `teacher_share` of the loss): the control that tells a gain from
      synthetic digits apart from a gain from the judge's knowledge.

    Without either it is exactly `F.cross_entropy(logits, labels, weight=class_weights)`."""

    class_weights: torch.Tensor | None = None
    synthetic_weight: float = 1.0
    teacher: torch.nn.Module | None = None  # in eval mode; called without gradients
    teacher_share: float = 0.5

    def __call__(self, logits, images, labels, synthetic: torch.Tensor | None = None) -> torch.Tensor:
        plain = self.teacher is None and (self.synthetic_weight == 1.0 or synthetic is None)
        if plain:
            return F.cross_entropy(logits, labels, weight=self.class_weights)
        per_row = F.cross_entropy(logits, labels, reduction="none")
        if self.teacher is not None:
            with torch.no_grad():
                soft = F.softmax(self.teacher(images).float(), dim=1)
            soft_loss = -(soft * F.log_softmax(logits, dim=1)).sum(dim=1)
            per_row = (1 - self.teacher_share) * per_row + self.teacher_share * soft_loss
        by_class = torch.ones_like(per_row) if self.class_weights is None else self.class_weights[labels]
        weights = by_class
        if synthetic is not None and self.synthetic_weight != 1.0:
            weights = by_class * torch.where(synthetic, self.synthetic_weight, 1.0)
        # normalised as PyTorch's class weights are, by the class weights alone
        return (per_row * weights).sum() / by_class.sum()


def optimizer_for(model: torch.nn.Module, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=weight_decay)  # lr: set per step by the Schedule


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    schedule: Callable[[int], float],
    step: int,
    after_batch: Callable[[int], None] = lambda samples: None,
    stop_at_step: int | None = None,
    loss_of: TrainingLoss = TrainingLoss(),
) -> EpochStats:
    """One pass over `batches` (images in [-1, 1] (N, 1, 28, 28), int64 labels, and optionally a
    bool tensor flagging the synthetic rows); `step` is the
    optimizer steps taken before it, so a resumed run continues the schedule where it stopped.
    `after_batch` receives the samples seen so far (progress, fault injection). At `stop_at_step`
    (a budget of samples seen) training stops and the rest of the pass is only read, so that every
    rank, and a streaming data source, ends the pass together. `loss_of` is the batch's loss
    (TrainingLoss: class-balanced, synthetic rows down-weighted, a teacher's soft targets)."""
    started = time.perf_counter()
    model.train()
    first_step = step
    total, samples = None, 0
    for images, labels, *synthetic in batches:
        if stop_at_step is not None and step >= stop_at_step:
            continue
        for group in optimizer.param_groups:
            group["lr"] = schedule(step)
        loss = loss_of(model(images), images, labels, *synthetic)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total = loss.detach() if total is None else total + loss.detach()
        samples += len(labels)
        step += 1
        after_batch(samples)
    mean_loss = float(total) / (step - first_step) if total is not None else 0.0
    return EpochStats(mean_loss, samples, step, time.perf_counter() - started)


class BestEpoch:
    """Early stopping on held-out rows: the best epoch so far by validation accuracy (its weights
    kept on the CPU), and whether `patience` epochs have passed without beating it. Every rank
    computes the same accuracy from the same weights, so all of them stop at the same epoch."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.epoch, self.accuracy, self.weights = 0, -1.0, None

    def update(self, epoch: int, accuracy: float, model: torch.nn.Module) -> None:
        if accuracy > self.accuracy:  # ties keep the earlier epoch: fewer samples for the same score
            self.epoch, self.accuracy = epoch, accuracy
            self.weights = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}

    def should_stop(self, epoch: int) -> bool:
        return self.patience is not None and epoch - self.epoch >= self.patience

    def state(self) -> dict:
        return {"epoch": self.epoch, "validation_accuracy": self.accuracy, "model": self.weights}

    def restore(self, state: dict | None) -> None:
        if state:
            self.epoch, self.accuracy, self.weights = state["epoch"], state["validation_accuracy"], state["model"]
