"""--precision auto for a generation, decided once for the whole run: as the interrupted run being
continued decided it, else as an earlier job on this machine decided for the same models, else by
timing both formats on the hardware the actors will run on (precision_probe.py)."""

from __future__ import annotations

import json
import os

from augment.core import schema, storage
from augment.core.errors import AugmentError
from augment.core.placement import compute_device, nodes_held
from augment.core.placement import plan as plan_placement
from augment.core.ray_session import ray_session
from augment.stages.synthetic.config import SyntheticConfig
from augment.stages.synthetic.parts import PARTS_FOLDER
from augment.stages.synthetic.precision_probe import cache_file, decision_key, probe, probe_apart, remember, remembered


def decide_precision(cfg: SyntheticConfig, fs, out: str, identity: dict, judge: str) -> tuple[str, dict | None]:
    """cfg.precision, with "auto" decided once for the whole run: as the interrupted run being
    continued decided it, else as an earlier job on this machine decided for the same models, else
    by timing both formats on the hardware the actors will run on (precision_probe.py). Returns
    (precision, the probe's figures or None)."""
    if cfg.precision != "auto":
        return cfg.precision, None
    if not cfg.overwrite:
        for entry in storage.entries(fs, storage.join(out, PARTS_FOLDER)):
            if entry.base_name.startswith("part-") and entry.base_name.endswith(".parquet"):
                earlier = json.loads(schema.read_metadata(fs, entry.path).get("run_config", "null")) or {}
                if {**earlier, "precision": "auto"} == identity:
                    return earlier["precision"], None
    local = _actors_run_here(cfg.address)  # a cluster's workers may be another kind than this machine
    key = decision_key(identity["generator_sha256"], identity["judge_sha256"], compute_device(cfg.gpu) == "cuda")
    found = remembered(key) if local else None
    if found is not None:
        print(
            f"precision auto: {found['precision']} (as measured for these models on this machine on "
            f"{found['measured_at']}: bf16 {found['speedup_bf16']:.2f}x fp32's speed)",
            flush=True,
        )
        return found["precision"], {**found, "remembered_from": str(cache_file())}
    found = probe_on_actors_hardware(cfg, judge)
    print(
        f"precision auto: {found['precision']} (bf16 {found['speedup_bf16']:.2f}x fp32's speed here, "
        f"{found['pixels_within_one_step']:.1%} of pixels within one step)",
        flush=True,
    )
    if local:
        remember(key, found)
    return found["precision"], found


def probe_on_actors_hardware(cfg: SyntheticConfig, judge: str) -> dict:
    """precision_probe.probe where the actors will run: here (in a child process, the driver stays
    without torch) for a local run; in a Ray task on a cluster, whose driver may be another kind."""
    if not _attached_to_ray(cfg.address):
        return probe_apart(cfg.checkpoint, judge, compute_device(cfg.gpu) == "cuda")
    import ray

    with ray_session(cfg.address, ray_train=False):
        one = plan_placement(1, cfg.gpu, what="precision probe", cpus=0.5)
        remote = ray.remote(probe).options(num_cpus=0.5, num_gpus=1 if cfg.gpu else 0)
        try:
            with nodes_held(one, what="precision probe"):  # with --gpu, on a GPU node the autoscaler starts
                return ray.get(remote.remote(cfg.checkpoint, judge, compute_device(cfg.gpu) == "cuda"))
        except ray.exceptions.RayTaskError as exc:  # a model that does not load: its one line, not the task's traceback
            if isinstance(exc.cause, AugmentError):
                raise AugmentError(str(exc.cause)) from None
            raise


def _actors_run_here(address: str | None) -> bool:
    """Whether every node the actors can run on is this machine (a local Ray, or a test cluster of
    several nodes on one host)."""
    if not _attached_to_ray(address):
        return True
    import socket

    import ray

    with ray_session(address, ray_train=False):
        hosts = {node["NodeManagerHostname"] for node in ray.nodes() if node["Alive"]}
    return hosts == {socket.gethostname()}


def _attached_to_ray(address: str | None) -> bool:
    import ray

    return address not in (None, "local") or bool(os.environ.get("RAY_ADDRESS")) or ray.is_initialized()
