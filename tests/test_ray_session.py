"""The local Ray that stages start: options, and the worker hook that keeps its console readable."""

from __future__ import annotations

import importlib
import inspect
import logging

from augment.core import ray_session


def test_a_local_ray_starts_without_dashboard_and_with_the_quieting_hook_only_for_ray_train(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    options = ray_session._local_options(None, ray_train=True)
    assert options["include_dashboard"] is False
    module, _, name = options["runtime_env"]["worker_process_setup_hook"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is ray_session.quiet_without_state_api
    # Without Train: no job-wide runtime_env, so Ray keeps pre-starting workers for Ray Data's actors.
    assert ray_session._local_options(None, ray_train=False) == {"include_dashboard": False}
    for ray_train in (True, False):  # a cluster's own settings are left alone
        assert ray_session._local_options("ray://head:10001", ray_train) == {}
        monkeypatch.setenv("RAY_ADDRESS", "head:6379")
        assert ray_session._local_options(None, ray_train) == {}
        monkeypatch.delenv("RAY_ADDRESS")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_hook_drops_only_the_state_api_warnings_of_rays_placement_group_cleaner():
    cleaner = importlib.import_module("ray.train.v2._internal.execution.controller.placement_group_cleaner")
    # The logger and message this filter targets are the installed Ray's, not a guess.
    assert cleaner.logger.name == ray_session.PLACEMENT_GROUP_CLEANER_LOGGER
    assert ray_session.STATE_API_WARNING in inspect.getsource(cleaner)

    collect = _Collect()
    cleaner.logger.addHandler(collect)  # Ray's loggers do not propagate to the root logger
    try:
        cleaner.logger.warning(ray_session.STATE_API_WARNING + ". State API may be temporarily unavailable.")
        assert len(collect.messages) == 1  # what a worker without the hook logs
        ray_session.quiet_without_state_api()
        cleaner.logger.warning(ray_session.STATE_API_WARNING + ". State API may be temporarily unavailable.")
        cleaner.logger.warning("Detected that the Ray Train controller actor (abc) is dead.")
    finally:
        cleaner.logger.removeHandler(collect)
        cleaner.logger.filters.clear()
    assert collect.messages[1:] == ["Detected that the Ray Train controller actor (abc) is dead."]


def test_a_local_run_starts_its_own_ray_beside_a_dead_clusters_address_file(tmp_path):
    """`ray start --head` that died without `ray stop` leaves its address in ray_current_cluster;
    ray.init() without an address would try to join it and print "Failed to connect to GCS" for
    minutes. A local run starts its own Ray instead."""
    import shutil
    import socket
    import tempfile
    import time
    from pathlib import Path

    from tests.conftest import run_cli_process
    from tests.fixtures import write_tiny_dataset

    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    (ray_tmp / "ray").mkdir(parents=True)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{dead}")
    data = write_tiny_dataset(tmp_path / "data", n_train=600, n_test=100).root
    started = time.time()
    result = run_cli_process(
        "judge",
        "--out",
        tmp_path / "judge",
        "--epochs",
        "1",
        "--limit",
        "512",
        "--workers",
        "1",
        "--data-root",
        data,
        "--offline",
        env={"RAY_TMPDIR": str(ray_tmp)},
    )
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Failed to connect to GCS" not in result.stdout + result.stderr
    assert time.time() - started < 240
