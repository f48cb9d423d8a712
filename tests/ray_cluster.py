"""A real multi-node Ray cluster on one machine, for tests: a head that runs no work (0 CPUs; the
Jobs API and job drivers live there) and worker nodes, each its own `ray start` with its own
temp dir, raylet and object store, which a test can kill (SIGKILL: no drain, as when a spot
instance disappears) or add while a job runs. Only this cluster's own processes are ever stopped.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.ray_head import (
    RayHead,
    _wait_for_jobs_api,
    client_env,
    free_port,
    head_command,
    in_driver,
    ray_cli,
    stop_processes,
)


@dataclass
class WorkerNode:
    name: str  # also a custom resource the node carries ({name: 1}), so a test can tell nodes apart
    temp_dir: str
    cpus: int
    alive: bool = True
    node_id: str = ""  # Ray's id for it, known once it has registered


@dataclass
class RayCluster:
    head: RayHead
    gcs_address: str  # 127.0.0.1:PORT, what `ray start --address` and `ray.init` take
    temp_dir: str
    env: dict[str, str]
    nodes: list[WorkerNode] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def address(self) -> str:  # the Jobs API
        return self.head.address

    def add_node(self, num_cpus: int = 1, wait: bool = True) -> WorkerNode:
        node = WorkerNode(f"node{next(self._names)}", tempfile.mkdtemp(prefix="rn", dir="/tmp"), num_cpus)
        command = [
            ray_cli(),
            "start",
            f"--address={self.gcs_address}",
            f"--num-cpus={num_cpus}",
            "--num-gpus=0",
            f'--resources={{"{node.name}": 1}}',
            f"--temp-dir={node.temp_dir}",
            "--node-ip-address=127.0.0.1",
            "--disable-usage-stats",
            *_own_ports(),
        ]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, env=self.env)
        self.nodes.append(node)
        if wait:
            self.wait_for_cpus()
        return node

    def kill_node(self, node: WorkerNode) -> None:
        """Every process of the node at once, with SIGKILL: its raylet, object store and the
        workers and actors running on it. The head learns of it from missed heartbeats."""
        stop_processes(node.temp_dir, graceful=False)
        node.alive = False

    def _state(self, code: str):
        return in_driver(self.gcs_address, self.env, code)

    def _alive_nodes(self) -> list[dict]:
        return self._state("print(json.dumps([n for n in ray.nodes() if n['Alive']], default=str))")

    def wait_for_cpus(self, timeout_s: float = 120.0) -> None:
        """Until the GCS counts exactly the live nodes' CPUs: a new node registers a moment after
        `ray start` returns, a killed one leaves after its heartbeats time out."""
        expected = float(sum(node.cpus for node in self.nodes if node.alive))
        deadline = time.time() + timeout_s
        while True:
            alive = self._alive_nodes()
            found = sum(n["Resources"].get("CPU", 0.0) for n in alive)
            if found == expected:
                break
            if time.time() > deadline:
                raise TimeoutError(f"the cluster shows {found:g} CPUs, not {expected:g}")
            time.sleep(1.0)
        for node in self.nodes:
            for n in alive:
                if node.name in n["Resources"]:
                    node.node_id = n["NodeID"]

    def nodes_running(self, class_name: str) -> list[WorkerNode]:
        """The worker nodes where a live actor whose class name contains `class_name` runs (State API)."""
        actors = self._state(
            "from ray.util.state import list_actors\n"
            f"actors = list_actors(address={self.address!r}, filters=[('state', '=', 'ALIVE')], limit=10000)\n"
            "print(json.dumps([[a.class_name, a.node_id] for a in actors]))"
        )
        ids = {node_id for name, node_id in actors if class_name in name}
        return [node for node in self.nodes if node.alive and node.node_id in ids]

    def ensure_nodes(self, count: int, num_cpus: int = 1) -> None:
        """Add nodes until `count` worker nodes are alive (after a test killed some)."""
        while sum(node.alive for node in self.nodes) < count:
            self.add_node(num_cpus, wait=False)
        self.wait_for_cpus()


def _own_ports() -> list[str]:
    # Every port a node opens, chosen free: the test session's own Ray may hold the defaults.
    return [
        f"--{name}={free_port()}"
        for name in (
            "node-manager-port",
            "object-manager-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "runtime-env-agent-port",
            "metrics-export-port",
        )
    ]


@contextmanager
def ray_cluster(
    worker_nodes: int = 2, cpus_per_node: int = 1, env_extra: dict[str, str] | None = None
) -> Iterator[RayCluster]:
    """A head with 0 CPUs and `worker_nodes` nodes of `cpus_per_node` CPUs. `env_extra`: variables
    for every process of the cluster, jobs included (storage credentials, data root)."""
    temp_dir = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    gcs_port, dashboard = free_port(), free_port()
    env = client_env(env_extra)
    command = head_command(temp_dir, gcs_port, dashboard, 0)
    cluster = RayCluster(RayHead(f"http://127.0.0.1:{dashboard}", env), f"127.0.0.1:{gcs_port}", temp_dir, env)
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120, env=env)
        for _ in range(worker_nodes):
            cluster.add_node(cpus_per_node, wait=False)
        cluster.wait_for_cpus()
        _wait_for_jobs_api(cluster.head)
        yield cluster
    finally:
        for node in cluster.nodes:
            stop_processes(node.temp_dir, graceful=True)
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        stop_processes(temp_dir, graceful=True)
        shutil.rmtree(temp_dir, ignore_errors=True)
