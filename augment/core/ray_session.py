"""Start or join Ray for one stage, and leave it as found."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from augment.core import console
from augment.core.errors import AugmentError
from augment.core.storage import RAY_JOB_ENV


@contextmanager
def ray_session(address: str | None, *, ray_train: bool) -> Iterator[None]:
    """Join `address` (a running cluster), or start a local Ray with this machine's resources.

    `ray_train`: the stage runs Ray Train, so a local Ray gets the hook that keeps Train's console
    readable (quiet_without_state_api). Stages without Train start without it: a job-wide
    runtime_env stops Ray pre-starting workers, and each actor then took ~1.1 s longer to start
    (generate, measured: 2.2-2.4 s vs 1.1-1.4 s from execution start to the actor's constructor).
    A Ray that is already initialised (a test session, a job driver) is used as is and left running.
    """
    import ray

    if address not in (None, "auto", "local"):
        _refuse_unreachable(address)
    if ray.is_initialized():
        yield
        return
    try:
        # A local Ray started here skips the dashboard (~250 MB of processes); join a cluster
        # started with `ray start --head` to watch jobs in it. Workers' output stays in Ray's log
        # files: what a user needs from them reaches the console through augment.core.progress.
        console.before_ray_init()
        # A local run says address="local": with None, ray.init joins the cluster named in
        # /tmp/ray/ray_current_cluster, and one that died without `ray stop` left it there: the
        # run then printed only "Failed to connect to GCS" until killed (seen: 9 minutes).
        local = address in (None, "local") and not os.environ.get("RAY_ADDRESS")
        ray.init(
            address="local" if local else address,
            configure_logging=False,
            log_to_driver=console.verbose(),
            **_local_options(address, ray_train),
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise AugmentError(f"cannot reach a Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
    with console.ray_chatter_to_log():  # also around shutdown: the raylet's last messages arrive as Ray stops
        try:
            yield
        finally:
            # A `ray job submit` driver stays connected for the job's life: after ray.shutdown()
            # Ray may delete the job's working directory, the driver's cwd, and the next stage's
            # ray.init failed on it (`augment generate` without --judge: the judge, then generation).
            if not os.environ.get(RAY_JOB_ENV):
                ray.shutdown()


def refuse_gpu_on_a_cpu_machine(gpu: bool, address: str | None) -> None:
    """Fail fast for a local run; on a cluster the GPU count is checked once connected."""
    import ray

    from augment.core.placement import fake_gpu

    local = address is None and not os.environ.get("RAY_ADDRESS") and not ray.is_initialized()
    if gpu and local and not fake_gpu():
        import torch  # only here: a CPU run's driver never loads it

        if not torch.cuda.is_available():
            raise AugmentError("--gpu: this machine has no CUDA GPU (torch.cuda.is_available() is False)")


def _refuse_unreachable(address: str) -> None:
    """Fail in seconds, in one line: ray.init on a dead address retries for a minute and logs as it goes."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname, parts.port or 6379
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise AugmentError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from None


def _local_options(address: str | None, ray_train: bool) -> dict:
    starting_locally = address is None and not os.environ.get("RAY_ADDRESS")
    if not starting_locally:
        return {}
    if not ray_train:
        return {"include_dashboard": False}
    hook = f"{__name__}.{quiet_without_state_api.__name__}"
    return {"include_dashboard": False, "runtime_env": {"worker_process_setup_hook": hook}}


PLACEMENT_GROUP_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"
STATE_API_WARNING = "Failed to query Ray Train Controller actor state"


class _DropStateApiWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(STATE_API_WARNING)


def quiet_without_state_api() -> None:
    """Runs in every worker of a local Ray started without the dashboard.

    Ray Train's placement-group cleaner asks the State API (served by the dashboard) every second
    whether the training controller is alive, and without a dashboard it logged a warning each
    time: 462 of a 516-line console for 8 GAN epochs. Nothing is lost by dropping it: the local Ray
    and its placement groups end with the stage.
    """
    logging.getLogger(PLACEMENT_GROUP_CLEANER_LOGGER).addFilter(_DropStateApiWarnings())
