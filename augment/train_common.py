"""Checks and Ray glue shared by the stages that train on Ray Train (GAN, judge)."""

from __future__ import annotations

import os

import torch

from augment.errors import AugmentError


def require(ok: bool, message: str) -> None:
    if not ok:
        raise AugmentError(message)


def refuse_gpu_on_a_cpu_machine(gpu: bool, address: str | None) -> None:
    """Fail fast for a local run; on a cluster the GPU count is checked once connected."""
    import ray

    local = address is None and not os.environ.get("RAY_ADDRESS") and not ray.is_initialized()
    if gpu and local and not torch.cuda.is_available():
        raise AugmentError("--gpu: this machine has no CUDA GPU (torch.cuda.is_available() is False)")


def cpus_per_worker(workers: int, gpu: bool, override: int | None = None) -> int:
    """CPUs (and torch threads) for each worker: the cluster's CPUs shared evenly, unless given.

    Ray sets OMP_NUM_THREADS=1 in workers; without an explicit share a 1-worker run uses one core.
    """
    import ray

    resources = ray.cluster_resources()
    if gpu and resources.get("GPU", 0) < workers:
        raise AugmentError(f"--gpu: the Ray cluster has {int(resources.get('GPU', 0))} GPUs; {workers} workers need {workers}")
    return override or max(1, int(resources.get("CPU", 1)) // workers)


def first_line(exc: BaseException) -> str:
    """The root cause of a (Ray-wrapped) exception as one short line."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause).strip() or type(cause).__name__
    return text.splitlines()[0][:300]
