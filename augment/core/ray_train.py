"""Checks and Ray glue shared by the stages that train on Ray Train (GAN, judge, classifier)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from augment.core import mnist, storage
from augment.core.console import plural
from augment.core.errors import AugmentError, first_line
from augment.core.node_types import cluster_shape
from augment.core.placement import (
    WAIT_FOR_NODES_ENV,
    Placement,
    fake_gpu,
    live_slots,
    nodes_held,
    plan,
    wait_for_nodes_s,
)
from augment.core.precision import strict_fp32_on_cuda
from augment.models.checkpoint import load_state

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
    nodes: str  # the Ray node ids the worker group runs on, sorted, space-separated: recorded per epoch


def start_worker(loop: dict, config_class=None) -> Worker:
    """The start of every training loop on a Ray Train worker: its config, its place in the group,
    its device, the nodes of the group, and the torch threads the driver gave it (Ray sets
    OMP_NUM_THREADS=1 otherwise). Without `config_class` (a loop over several runs, each with its
    own config) `cfg` is None."""
    import ray
    import ray.train
    import ray.train.torch

    context = ray.train.get_context()
    torch.set_num_threads(loop["threads"])
    # AUGMENT_FAKE_GPU: the worker holds a (declared) GPU but computes on the CPU
    device = torch.device("cpu") if loop.get("fake_gpu") else ray.train.torch.get_device()
    if device.type == "cuda":
        strict_fp32_on_cuda()
    cfg = config_class(**loop["config"]) if config_class else None
    world = context.get_world_size()
    nodes = [ray.get_runtime_context().get_node_id()]
    if world > 1:
        import torch.distributed as dist

        gathered = [None] * world
        dist.all_gather_object(gathered, nodes[0])
        nodes = gathered
    return Worker(cfg, context.get_world_rank(), world, device, " ".join(sorted(set(nodes))))


def nodes_of(history: list[dict]) -> list[str]:
    """Every Ray node that trained some epoch of a run, from its metrics history."""
    return sorted({node for row in history for node in str(row.get("nodes") or "").split()})


def digits_on_device(ref, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) from the object store -> ([-1, 1] float (N, 1, 28, 28), int64 labels) on `device`."""
    import ray

    images, labels = ray.get(ref)
    return (
        mnist.to_gan_range(torch.from_numpy(images.copy()).to(device)).unsqueeze(1),
        torch.from_numpy(labels.copy()).long().to(device),
    )


# Waiting for nodes. A worker group that cannot be placed (a node was lost and no replacement has
# joined yet) is retried by Ray Train every start timeout, forever by default: a job on a cluster
# that shrank for good would hang. We wait AUGMENT_WAIT_FOR_NODES_S in all for the asked workers
# (core/placement.py), then carry on from the last checkpoint with the workers that fit, or stop
# with one line saying what was needed.
START_TIMEOUT_ENV = "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"  # Ray's own; the driver's value reaches the controller
DEFAULT_START_TIMEOUT_S = 60.0


def fit(train_fn, loop_config: dict, *, what: str, cfg, placement: Placement, storage_path: str, fs,
        max_failures: int = 0, datasets=None):  # fmt: skip
    """Runs `train_fn` on the placed workers; Ray's run state and checkpoints go to
    storage_path/RAY_RUN_NAME. A failure that outlives `max_failures` restarts is one AugmentError.

    When the cluster can no longer place every worker (nodes lost for good), training continues
    from its last checkpoint on as many workers as the live nodes now hold (core/placement.py's
    rule, Ray Data's CPUs left free); when not even one fits, it stops with one line."""
    import ray.train

    workers = placement.workers
    while True:
        try:
            return _fit_once(
                train_fn, loop_config, workers, cfg.gpu, placement.cpus, storage_path, fs, max_failures, datasets
            )
        except ray.train.TrainingFailedError as exc:
            if not _could_not_place_workers(exc):
                restarts = f" after {max_failures} restarts" if max_failures else ""
                raise AugmentError(f"{what} training failed{restarts}: {first_line(exc)}") from None
            fitting = _workers_that_fit(placement, most=workers - 1, batch_size=cfg.batch_size)
            waited = f"after waiting {wait_for_nodes_s():.0f} s for more ({WAIT_FOR_NODES_ENV})"
            if fitting < 1:
                free = placement.cpus_kept_free
                data = f" beside {free:g} CPU for Ray Data" if free else ""
                raise AugmentError(
                    f"{what} training needs {workers} workers ({placement.each()}){data}; the cluster has "
                    f"{_alive_cpus():g} CPUs {waited}: add nodes and rerun the same command to continue"
                ) from None
            print(
                f"{what}: only {fitting} of the {workers} workers ({placement.each()}) fit on the nodes left {waited}; "
                f"training continues from the last checkpoint on {plural(fitting, 'worker')}",
                flush=True,
            )
            workers = fitting


def _fit_once(train_fn, loop_config, workers, gpu, worker_cpus, storage_path, fs, max_failures, datasets):
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    start_timeout = float(os.environ.setdefault(START_TIMEOUT_ENV, str(DEFAULT_START_TIMEOUT_S)))
    fake = gpu and fake_gpu()
    trainer = TorchTrainer(
        train_fn,
        train_loop_config={**loop_config, "fake_gpu": fake},
        torch_config=TorchConfig(backend="gloo") if fake else None,  # NCCL needs real GPUs
        datasets=datasets,
        # A dataset split across workers gets a SplitCoordinator actor (a Ray worker process,
        # ~200 MB) that lives until fit() ends; a classifier run with fresh synthetic rows has one
        # dataset per epoch, so 30 such runs of 14 epochs held 15 GB (measured). One worker has
        # nothing to split: it reads each dataset itself, and no coordinator is started.
        dataset_config=DataConfig(datasets_to_split="all" if workers > 1 else [], execution_options=_ingest_in_order()),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpu, resources_per_worker={"CPU": worker_cpus}),
        run_config=RunConfig(
            name=RAY_RUN_NAME,
            storage_path=storage_path,
            storage_filesystem=fs,
            failure_config=FailureConfig(
                max_failures=max_failures,
                # each failed start of the worker group waited `start_timeout` for resources
                controller_failure_limit=max(1, round(wait_for_nodes_s() / start_timeout)),
            ),
            checkpoint_config=CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )
    return trainer.fit()


def _ingest_in_order():
    """Ray Train's ingest options, with blocks handed out in the plan's order rather than as their
    read tasks finish: the same seed then gives the same batches, and the same weights."""
    import copy

    from ray.data import DataContext

    # What DataConfig.default_ingest_options() carries over, copied rather than rebuilt: rebuilding
    # passes Ray's deprecated `exclude_resources` and prints its warning on the user's console.
    options = copy.deepcopy(DataContext.get_current().execution_options)
    options.preserve_order = True
    return options


def _could_not_place_workers(exc) -> bool:
    from ray.train.v2._internal.exceptions import WorkerGroupStartupTimeoutError

    return isinstance(getattr(exc, "controller_failure", None), WorkerGroupStartupTimeoutError)


def _alive_cpus() -> float:
    import ray

    return sum(node["Resources"].get("CPU", 0.0) for node in ray.nodes() if node["Alive"])


def _workers_that_fit(placement: Placement, most: int, batch_size: int) -> int:
    """Workers of the placement's size that the live nodes hold now, at most `most` and splitting
    `batch_size` evenly."""
    fitting = min(live_slots(placement, cluster_shape()), most)
    while fitting > 1 and batch_size % fitting:
        fitting -= 1
    return fitting


@contextmanager
def placed_workers(
    cfg, *, what: str, cpus_kept_free: float = 0.0, cpus: float | None = None, echo=print
) -> Iterator[Placement]:
    """cfg.workers sized from the node types they can run on (core/placement.py); the nodes that
    hold them are asked of the autoscaler, waited for, and held while the block runs."""
    placement = plan(cfg.workers, cfg.gpu, what=what, cpus_kept_free=cpus_kept_free, cpus=cpus)
    with nodes_held(placement, what=what, echo=echo):
        yield placement


def write_checkpoint_meta(folder: str, epoch: int, history: list, config: dict) -> None:
    (Path(folder) / META_FILE).write_text(json.dumps({"epoch": epoch, "history": history, "config": config}))


def newest_checkpoint(run_uri: str, registered) -> tuple[dict, list] | None:
    """The newest complete checkpoint of this run: (state, metrics history), or None.

    Ray's registered checkpoint can lag one behind: `report()` has uploaded the files, but a worker
    that dies before the controller's next poll takes the registration with it. The folders in
    storage are the truth, so every `checkpoint_*` there is a candidate, newest epoch first; one
    whose files are incomplete (crash mid-upload) fails to load and is skipped.

    The state loads to the CPU, whatever device trains: load_state_dict copies weights to the
    model's device and moves optimizer state to its parameters' devices, but keeps Adam's `step`
    where it is, on the CPU (loaded to a GPU, every step's `.item()` on it would sync).
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
                return load_state(folder, map_location="cpu"), json.loads((Path(folder) / META_FILE).read_text())[
                    "history"
                ]
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
    ours = sorted(
        e.path
        for e in storage.entries(fs, checkpoints)
        if e.type.name == "Directory" and e.base_name.startswith("checkpoint_epoch-")
    )
    for old in ours[:-CHECKPOINTS_KEPT]:
        storage.delete(fs, old)


def crash_once(run_uri: str) -> None:
    """Fault injection for tests: the first call in a run kills this worker process."""
    fs, run = storage.resolve(run_uri)
    marker = storage.join(run, FAULT_MARKER)
    if storage.file_type(fs, marker).name != "File":
        storage.write_bytes_atomic(fs, marker, b"worker killed by fail_at_epoch\n")
        os._exit(1)
