"""A Ray cluster with Ray's own autoscaler on one machine, for tests: the `fake_multinode` node
provider (with a runtime-env folder per node, tests/fake_node_provider.py), whose autoscaler
(monitor.py on the head, the same code as on AWS) launches a local raylet for each node it decides
to start, of the node types declared here, GPUs included (declared, not real: pair it with
AUGMENT_FAKE_GPU=1).

Not ray.cluster_utils.AutoscalingCluster: it reads an example.yaml that pip's Ray lacks, and its
start and shutdown run `ray stop --force`, which kills every Ray on the machine. This one starts
`RAY_FAKE_CLUSTER=1 ray start --head --autoscaling-config=FILE` with its own temp dir, ports and
auth token, and stops only its own processes (everything naming its temp dir, and their children:
the monitor's raylets are its children).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_TYPE as HEAD_TYPE

from tests.fake_node_provider import PROVIDER
from tests.ray_head import RayHead, _wait_for_jobs_api, client_env, free_port, head_command, in_driver, stop_processes

# The keys the v1 autoscaler reads from a launcher config; a fake cluster needs none of them.
EMPTY_LAUNCHER_KEYS = {
    "file_mounts": {},
    "cluster_synced_files": [],
    "file_mounts_sync_continuously": False,
    "rsync_exclude": [],
    "rsync_filter": [],
    "initialization_commands": [],
    "setup_commands": [],
    "head_setup_commands": [],
    "worker_setup_commands": [],
    "head_start_ray_commands": [],
    "worker_start_ray_commands": [],
}


@dataclass
class AutoscalingCluster:
    head: RayHead
    gcs_address: str
    temp_dir: str
    env: dict[str, str]  # a client's environment: this cluster's token, no RAY_ADDRESS

    @property
    def address(self) -> str:  # the Jobs API
        return self.head.address

    def state(self, code: str):
        """What `code` prints as JSON (last line), run in a driver attached to this cluster."""
        return in_driver(self.gcs_address, self.env, code)

    def live_nodes(self) -> dict[str, dict]:
        """Node id -> its resources, for every live node."""
        nodes = self.state("print(json.dumps([n for n in ray.nodes() if n['Alive']], default=str))")
        return {n["NodeID"]: n["Resources"] for n in nodes}

    def gpu_node_ids(self) -> set[str]:
        return {node for node, res in self.live_nodes().items() if res.get("GPU", 0) > 0}

    def autoscaler_log(self, lines: int = 60) -> str:
        """The autoscaler's last log lines (what it launched, or why not): shown when a job fails."""
        path = os.path.join(self.temp_dir, "session_latest", "logs", "monitor.log")
        try:
            with open(path, errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError as why:
            return f"(no autoscaler log: {why})"

    def wait_for_nodes(self, predicate, what: str, timeout_s: float = 180.0) -> dict[str, dict]:
        deadline = time.time() + timeout_s
        while True:
            nodes = self.live_nodes()
            if predicate(nodes):
                return nodes
            if time.time() > deadline:
                raise TimeoutError(f"never saw {what}; live nodes: {nodes}")
            time.sleep(1.0)


def node_type(cpus: int, gpus: int = 0, *, min_workers: int = 0, max_workers: int = 2) -> dict:
    return {
        "resources": {"CPU": cpus, "GPU": gpus},
        "node_config": {},
        "min_workers": min_workers,
        "max_workers": max_workers,
    }


def _with_tests_importable() -> str:
    """PYTHONPATH for the head, whose autoscaler imports the provider from this checkout's tests/."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


@contextmanager
def autoscaling_cluster(
    head_cpus: int,
    node_types: dict[str, dict],
    *,
    idle_timeout_minutes: float = 5.0,
    env_extra: dict[str, str] | None = None,
) -> Iterator[AutoscalingCluster]:
    """A head of `head_cpus` CPUs and no GPU, and worker `node_types` the autoscaler starts on demand
    (from `min_workers`) and stops after `idle_timeout_minutes` idle."""
    temp_dir = tempfile.mkdtemp(prefix="ra", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    gcs_port, dashboard = free_port(), free_port()
    config = {
        "cluster_name": "augment-test",
        "max_workers": sum(t["max_workers"] for t in node_types.values()),
        "idle_timeout_minutes": idle_timeout_minutes,
        "upscaling_speed": 10.0,
        "provider": {
            "type": "external",  # fake_multinode with a runtime-env folder per node: tests/fake_node_provider.py
            "module": PROVIDER,
            "gcs_address": f"127.0.0.1:{gcs_port}",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {"ssh_user": "ray"},
        # the provider tags its head with this type name: any other makes the autoscaler launch "heads"
        "available_node_types": {
            HEAD_TYPE: {"resources": {"CPU": head_cpus, "GPU": 0}, "node_config": {}, "max_workers": 0},
            **node_types,
        },
        "head_node_type": HEAD_TYPE,
        **EMPTY_LAUNCHER_KEYS,
    }
    config_file = os.path.join(temp_dir, "autoscaling.yaml")
    with open(config_file, "w") as f:
        json.dump(config, f)  # JSON is YAML
    env = client_env(env_extra)
    head_env = {**env, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    head_env["PYTHONPATH"] = _with_tests_importable()
    command = head_command(temp_dir, gcs_port, dashboard, head_cpus, f"--autoscaling-config={config_file}")
    cluster = AutoscalingCluster(RayHead(f"http://127.0.0.1:{dashboard}", env), f"127.0.0.1:{gcs_port}", temp_dir, env)
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, env=head_env)
        _wait_for_jobs_api(cluster.head)
        yield cluster
    finally:
        stop_processes(temp_dir, graceful=True)
        shutil.rmtree(temp_dir, ignore_errors=True)
