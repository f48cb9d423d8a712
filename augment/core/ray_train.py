"""Checks and Ray glue shared by the stages that train on Ray Train (GAN, judge, classifier)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from augment.core import manifest, mnist, storage
from augment.core.errors import AugmentError, OtherSettings, first_line, require
from augment.models.checkpoint import load_state

RUN_INFO = "run.json"  # what kind of run a folder holds and the settings that make it that run
RAY_RUN_NAME = "ray"  # Ray Train's run folder inside RUN: checkpoints and Ray's own state
META_FILE = "meta.json"  # beside each checkpoint's state: epoch and metrics history
FAULT_MARKER = ".fault-injected"
CHECKPOINTS_KEPT = 3


@dataclass(frozen=True)
class Worker:
    cfg: Any  # the stage's config, rebuilt from the train loop's dict
    rank: int
    world: int
    device: torch.device


def start_worker(loop: dict, config_class=None) -> Worker:
    """The start of every training loop on a Ray Train worker: its config, its place in the group,
    its device, and the torch threads the driver gave it (Ray sets OMP_NUM_THREADS=1 otherwise).
    Without `config_class` (a loop over several runs, each with its own config) `cfg` is None."""
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    torch.set_num_threads(loop["threads"])
    cfg = config_class(**loop["config"]) if config_class else None
    return Worker(cfg, context.get_world_rank(), context.get_world_size(), ray.train.torch.get_device())


def digits_on_device(ref, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) from the object store -> ([-1, 1] float (N, 1, 28, 28), int64 labels) on `device`."""
    import ray

    images, labels = ray.get(ref)
    return (mnist.to_gan_range(torch.from_numpy(images.copy()).to(device)).unsqueeze(1),
            torch.from_numpy(labels.copy()).long().to(device))


def check_training_options(cfg) -> None:
    """The options every Ray Train stage shares: dataset, epochs, workers, a global batch that
    splits evenly over the workers, and the classifier recipe's --lr-decay where the stage has one."""
    mnist.check_dataset(cfg.dataset)
    require(cfg.epochs >= 1, f"--epochs must be at least 1 (got {cfg.epochs})")
    require(cfg.workers >= 1, f"--workers must be at least 1 (got {cfg.workers})")
    require(
        cfg.batch_size >= cfg.workers and cfg.batch_size % cfg.workers == 0,
        f"--batch-size {cfg.batch_size} must be a positive multiple of --workers {cfg.workers}",
    )
    decay = getattr(cfg, "lr_decay", None)
    require(decay is None or 0.0 < decay <= 1.0, f"--lr-decay must be in (0, 1] (got {decay})")


def fit(train_fn, loop_config: dict, *, what: str, cfg, worker_cpus: float, storage_path: str, fs, max_failures: int = 0, datasets=None):
    """Runs `train_fn` on cfg.workers Ray Train workers; Ray's run state and checkpoints go to
    storage_path/RAY_RUN_NAME. A failure that outlives `max_failures` restarts is one AugmentError."""
    import ray.train
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        train_fn,
        train_loop_config=loop_config,
        datasets=datasets,
        scaling_config=ScalingConfig(num_workers=cfg.workers, use_gpu=cfg.gpu, resources_per_worker={"CPU": worker_cpus}),
        run_config=RunConfig(
            name=RAY_RUN_NAME, storage_path=storage_path, storage_filesystem=fs,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )
    try:
        return trainer.fit()
    except ray.train.TrainingFailedError as exc:
        restarts = f" after {max_failures} restarts" if max_failures else ""
        raise AugmentError(f"{what} training failed{restarts}: {first_line(exc)}") from None


def check_training_subset(limit: int | None, real_per_class: int | None, batch_size: int, num_classes: int = 10) -> None:
    """--limit / --real-per-class: one of them at most, and at least one global batch of images."""
    require(limit is None or real_per_class is None, "--limit and --real-per-class cannot be combined: choose one")
    require(real_per_class is None or real_per_class >= 1, f"--real-per-class must be at least 1 (got {real_per_class})")
    if limit is not None:
        require(limit >= batch_size, f"--limit {limit} is smaller than one batch ({batch_size})")
    if real_per_class is not None:
        rows = real_per_class * num_classes
        require(rows >= batch_size, f"--real-per-class {real_per_class} gives {rows} images, fewer than one batch ({batch_size})")


def cpus_per_worker(workers: int, gpu: bool, override: int | None = None) -> int:
    """CPUs (and torch threads) for each worker: the cluster's CPUs shared evenly, unless given.

    Ray sets OMP_NUM_THREADS=1 in workers; without an explicit share a 1-worker run uses one core.
    """
    import ray

    resources = ray.cluster_resources()
    if gpu and resources.get("GPU", 0) < workers:
        raise AugmentError(f"--gpu: the Ray cluster has {int(resources.get('GPU', 0))} GPUs; {workers} workers need {workers}")
    return override or max(1, int(resources.get("CPU", 1)) // workers)


def write_run_info(fs, run: str, kind: str, identity: dict) -> None:
    info = {"kind": kind, "identity": identity}
    storage.write_bytes_atomic(fs, storage.join(run, RUN_INFO), json.dumps(info, indent=2).encode())


def run_info(uri: str) -> dict:
    """The run.json of the run in `uri` ({} when there is none)."""
    fs, run = storage.resolve(uri)
    path = storage.join(run, RUN_INFO)
    return json.loads(storage.read_bytes(fs, path)) if storage.file_type(fs, path).name == "File" else {}


def completed_epochs(uri: str, *, kind: str, what: str, identity: dict, epochs: int, overwrite: bool) -> int:
    """Epochs a run in `uri` has finished (0: empty folder) when it is this run, continued by
    rerunning. Refuses anything that is not this run: a foreign folder, another stage's output, a
    run of this kind with other settings, or one already trained for more epochs."""
    fs, run = storage.resolve(uri)
    if storage.file_type(fs, run).name == "File":
        raise AugmentError(f"--out {uri} is a file, not a folder")
    if overwrite or not storage.entries(fs, run):
        return 0
    info = run_info(uri)
    if info.get("kind") != kind:
        raise AugmentError(f"--out {uri} holds something other than a {what}; pass --overwrite or choose another folder")
    changed = manifest.changed_settings(info.get("identity"), identity)
    if changed:
        raise OtherSettings(
            f"--out {uri} holds a {what} with other settings ({', '.join(changed)}); pass --overwrite or choose another folder"
        )
    done = (manifest.read_manifest(fs, run) or {}).get("epochs", 0)
    if done > epochs:
        raise AugmentError(f"--out {uri} is already trained for {done} epochs (> --epochs {epochs})")
    return done


def write_checkpoint_meta(folder: str, epoch: int, history: list, config: dict) -> None:
    (Path(folder) / META_FILE).write_text(json.dumps({"epoch": epoch, "history": history, "config": config}))


def newest_checkpoint(run_uri: str, registered, device) -> tuple[dict, list] | None:
    """The newest complete checkpoint of this run: (state, metrics history), or None.

    Ray's registered checkpoint can lag one behind: `report()` has uploaded the files, but a worker
    that dies before the controller's next poll takes the registration with it. The folders in
    storage are the truth, so every `checkpoint_*` there is a candidate, newest epoch first; one
    whose files are incomplete (crash mid-upload) fails to load and is skipped.
    """
    from ray.train import Checkpoint

    fs, run = storage.resolve(run_uri)
    candidates = [registered] if registered else []
    for entry in storage.entries(fs, storage.join(run, RAY_RUN_NAME)):
        if entry.type.name == "Directory" and entry.base_name.startswith("checkpoint_"):
            candidates.append(Checkpoint(entry.path, filesystem=fs))
    dated = []
    for checkpoint in candidates:
        try:
            with checkpoint.as_directory() as folder:
                dated.append((json.loads((Path(folder) / META_FILE).read_text())["epoch"], checkpoint))
        except (OSError, ValueError, KeyError):
            continue
    for _epoch, checkpoint in sorted(dated, key=lambda pair: pair[0], reverse=True):
        try:
            with checkpoint.as_directory() as folder:
                return load_state(folder, map_location=device), json.loads((Path(folder) / META_FILE).read_text())["history"]
        except (OSError, ValueError, KeyError, AugmentError):
            continue
    return None


def store_checkpoint(run_uri: str, folder: str, epoch: int) -> None:
    """Upload a checkpoint written in `folder` to RUN/ray/checkpoint_epoch-NNNNNN, where
    newest_checkpoint finds it, and keep the newest CHECKPOINTS_KEPT. For a loop that trains
    several runs in one worker group, where Ray's own checkpoints would all land in one run's folder.
    The state goes up before meta.json: a checkpoint cut short by a crash has no meta and is skipped."""
    fs, run = storage.resolve(run_uri)
    checkpoints = storage.join(run, RAY_RUN_NAME)
    target = storage.join(checkpoints, f"checkpoint_epoch-{epoch:06d}")
    storage.delete(fs, target)  # a partial upload of this epoch by a worker that died
    names = sorted(Path(folder).iterdir(), key=lambda path: path.name == META_FILE)
    for path in names:
        storage.write_bytes_atomic(fs, storage.join(target, path.name), path.read_bytes())
    ours = sorted(e.path for e in storage.entries(fs, checkpoints)
                  if e.type.name == "Directory" and e.base_name.startswith("checkpoint_epoch-"))
    for old in ours[:-CHECKPOINTS_KEPT]:
        storage.delete(fs, old)


def crash_once(run_uri: str) -> None:
    """Fault injection for tests: the first call in a run kills this worker process."""
    fs, run = storage.resolve(run_uri)
    marker = storage.join(run, FAULT_MARKER)
    if storage.file_type(fs, marker).name != "File":
        storage.write_bytes_atomic(fs, marker, b"worker killed by fail_at_epoch\n")
        os._exit(1)
