"""The shapes of the nodes a Ray cluster has now and can have: what the workers are sized from.

A cluster launched from cluster.yaml starts with its head alone; its GPU nodes exist only as a node
type the autoscaler may start. So the shapes come from two places: the live nodes (ray.nodes())
and the autoscaler's node types, read where the autoscaler keeps them:
- autoscaler v2 (KubeRay, recent VM launchers) reports them to the GCS (`get_cluster_config`);
- autoscaler v1 (`ray up`) reads a YAML file on the head, named on its monitor's command line
  (`--autoscaling-config=`, `~/ray_bootstrap_config.yaml` under `ray up`). Job drivers run on the
  head, so a `ray job submit` job finds it; a client elsewhere sees the live nodes only.
Neither is a public Ray API: both are read defensively, and without them the live nodes are all
that is known (a fixed cluster, or one whose autoscaler we cannot see).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

HEAD_RESOURCE = "node:__internal_head__"  # Ray puts it on the head node only
RAY_UP_CONFIG = "~/ray_bootstrap_config.yaml"  # where `ray up` leaves the autoscaler's config on the head


@dataclass(frozen=True)
class NodeType:
    name: str
    cpus: float
    gpus: float
    up: int  # nodes of this shape alive now
    most: int  # nodes of this shape the cluster can have (the autoscaler's max_workers, or `up`)
    head: bool

    def describe(self) -> str:
        gpus = f", {self.gpus:g} GPU" if self.gpus else ""
        return f"{self.name} ({self.cpus:g} CPU{gpus})"


@dataclass(frozen=True)
class ClusterShape:
    types: tuple[NodeType, ...]
    autoscaler: bool  # the autoscaler's node types were found: `most` is what it can start

    def summary(self) -> str:
        return ", ".join(f"{t.describe()} x {t.up} up of {t.most}" for t in self.types) or "no nodes"


def cluster_shape() -> ClusterShape:
    """Live node shapes merged with the autoscaler's node types (matched by CPUs, GPUs and headness)."""
    live = _live_types()
    configured = _configured_types()
    if configured is None:
        return ClusterShape(tuple(live), autoscaler=False)
    merged = {(t.cpus, t.gpus, t.head): t for t in live}
    for t in configured:
        key = (t.cpus, t.gpus, t.head)
        now = merged.get(key)
        up = now.up if now else 0
        merged[key] = NodeType(t.name, t.cpus, t.gpus, up, max(up, t.most), t.head)
    return ClusterShape(tuple(merged.values()), autoscaler=True)


def _live_types() -> list[NodeType]:
    import ray

    counts: dict[tuple[float, float, bool], int] = {}
    for node in ray.nodes():
        if node["Alive"]:
            res = node["Resources"]
            key = (res.get("CPU", 0.0), res.get("GPU", 0.0), HEAD_RESOURCE in res)
            counts[key] = counts.get(key, 0) + 1
    return [NodeType("head" if head else "node", cpus, gpus, n, n, head) for (cpus, gpus, head), n in counts.items()]


def _configured_types() -> list[NodeType] | None:
    """The autoscaler's worker node types, or None where no autoscaler's configuration is visible."""
    found = _types_from_gcs()
    if found is None:
        found = _types_from_file(_autoscaling_config_file())
    return found


def _types_from_gcs() -> list[NodeType] | None:
    try:
        import ray._private.state

        config = ray._private.state.state.get_cluster_config()
    except Exception:  # an older Ray, or a GCS without the key: fall back to the file
        return None
    if config is None or not config.node_group_configs:
        return None
    types = []
    for group in config.node_group_configs:
        most = group.max_count if group.max_count >= 0 else 1_000_000  # -1: no limit
        types.append(
            NodeType(
                group.name,
                float(group.resources.get("CPU", 0)),
                float(group.resources.get("GPU", 0)),
                0,
                most,
                head=False,
            )
        )
    return types


def _types_from_file(path: Path | None) -> list[NodeType] | None:
    if path is None:
        return None
    import yaml

    try:
        config = yaml.safe_load(path.read_text())
        head_type = config.get("head_node_type")
        types = []
        for name, spec in (config.get("available_node_types") or {}).items():
            if name == head_type:
                continue  # the head is live whenever a driver runs; its shape comes from ray.nodes()
            res = spec.get("resources") or {}
            types.append(
                NodeType(
                    name,
                    float(res.get("CPU", 0)),
                    float(res.get("GPU", 0)),
                    0,
                    int(spec.get("max_workers", config.get("max_workers", 0))),
                    head=False,
                )
            )
        return types
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None


def _autoscaling_config_file() -> Path | None:
    """The file this cluster's autoscaler (monitor.py on the head) was started with."""
    import ray

    try:
        gcs_port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]
    except Exception:
        return None
    return _config_file_of(gcs_port)


@functools.lru_cache(maxsize=8)
def _config_file_of(gcs_port: str) -> Path | None:
    """Found once per cluster: a stage waiting for nodes reads the shapes every second, and a
    cluster's autoscaler keeps the file it started with."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not any(arg.endswith("monitor.py") for arg in args):
            continue
        if not any(arg.startswith("--gcs-address=") and arg.endswith(f":{gcs_port}") for arg in args):
            continue
        for arg in args:
            if arg.startswith("--autoscaling-config="):
                return Path(os.path.expanduser(arg.split("=", 1)[1]))
    default = Path(os.path.expanduser(RAY_UP_CONFIG))
    return default if default.is_file() else None
