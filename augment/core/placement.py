"""Resources for Ray Train workers and Ray Data actors, from the shapes of the nodes they can run on,
and the wait for an autoscaler to start those nodes.

The rule: a worker asks for the largest whole number of CPUs (plus one GPU with --gpu) at which all
the asked workers fit on the nodes that can hold them, the nodes the autoscaler can still start
included. The head is no training node when the cluster has other nodes for the work (cluster.yaml:
it drives jobs and runs Ray Data); a single machine is its own head and does everything. CPUs that
Ray Data needs beside the workers come from the other nodes when they have them, else from the
training nodes, shared among them. Torch threads = the node's CPUs shared by the workers on it.

With --gpu, nothing is refused because no GPU is up *now*: the demand goes to the autoscaler
(`ray.autoscaler.sdk.request_resources`, sent again every second: others overwrite it) and the
stage waits, a progress line every few seconds, at most AUGMENT_WAIT_FOR_NODES_S. It refuses at
once only when no node type can ever hold the workers (no GPU in any node type, fewer GPUs than
workers at the autoscaler's maximum) or when the Ray was started here for this run (nothing will
join it).

AUGMENT_FAKE_GPU=1 is a test aid: every stage asks Ray for GPUs exactly as with --gpu (so a
cluster whose nodes *declare* GPUs is exercised end to end, the autoscaler included), but computes
on the CPU, with gloo instead of NCCL.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from augment.core.console import plural
from augment.core.errors import AugmentError
from augment.core.node_types import ClusterShape, NodeType, cluster_shape

FAKE_GPU_ENV = "AUGMENT_FAKE_GPU"
WAIT_FOR_NODES_ENV = "AUGMENT_WAIT_FOR_NODES_S"
DEFAULT_WAIT_FOR_NODES_S = 600.0  # a spot replacement, or a GPU node from zero, usually joins within minutes
PROGRESS_EVERY_S = 10.0
REASSERT_EVERY_S = 1.0  # well under the autoscaler's update interval (5 s by default)
MIN_CPU_SHARE = 0.25  # below this a worker or actor would crawl: refuse instead


def fake_gpu() -> bool:
    return os.environ.get(FAKE_GPU_ENV, "") not in ("", "0")


def compute_device(gpu: bool) -> str:
    """The torch device of a --gpu (or CPU) stage: "cpu" under AUGMENT_FAKE_GPU."""
    return "cuda" if gpu and not fake_gpu() else "cpu"


def wait_for_nodes_s() -> float:
    return float(os.environ.get(WAIT_FOR_NODES_ENV, DEFAULT_WAIT_FOR_NODES_S))


@dataclass(frozen=True)
class Placement:
    workers: int
    cpus: float  # Ray CPUs each worker or actor reserves
    threads: int  # torch threads each runs
    gpu: bool
    hosts: tuple[NodeType, ...]  # the node types that can hold them
    cpus_kept_free: float = 0.0  # CPUs left to Ray Data beside them (the classifier's reading and augmenting)

    def bundle(self) -> dict[str, float]:
        return {"CPU": self.cpus, **({"GPU": 1.0} if self.gpu else {})}

    def each(self) -> str:
        return f"{self.cpus:g} CPU{' + 1 GPU' if self.gpu else ''} each"


def plan(
    workers: int,
    gpu: bool,
    *,
    what: str,
    cpus_kept_free: float = 0.0,
    cpus: float | None = None,
    shape: ClusterShape | None = None,
) -> Placement:
    """Size `workers` workers from the node types; `cpus` overrides the CPUs per worker."""
    shape = shape or cluster_shape()
    hosts = _hosts(shape, gpu)
    if not hosts:
        kinds = ", ".join(t.describe() for t in shape.types) or "none"
        raise AugmentError(f"--gpu: {what} needs a node type with a GPU; this cluster's node types have none ({kinds})")
    reserve = _reserve_per_node(shape, hosts, cpus_kept_free)
    share = cpus or _largest_share(hosts, workers, gpu, reserve)
    if gpu and sum(t.most * t.gpus for t in hosts) < workers:
        gpus = sum(t.most * t.gpus for t in hosts)
        raise AugmentError(
            f"{what}: {plural(workers, 'worker')} need {workers} GPUs; the cluster can have at most "
            f"{gpus:g} ({', '.join(t.describe() + f' x {t.most}' for t in hosts)})"
        )
    if share < MIN_CPU_SHARE:
        raise AugmentError(
            f"{what}: --workers {workers}: the nodes that can run them have too few CPUs "
            f"({', '.join(t.describe() + f' x {t.most}' for t in hosts)}"
            f"{f', beside {cpus_kept_free:g} CPU for Ray Data' if reserve else ''})"
        )
    return Placement(workers, share, _threads(hosts, share, workers, gpu), gpu, tuple(hosts), cpus_kept_free)


def gpus_possible(shape: ClusterShape) -> float:
    """GPUs the cluster can have: its GPU nodes at the autoscaler's maximum (or those up, without one)."""
    return sum(t.most * t.gpus for t in _hosts(shape, gpu=True))


def _hosts(shape: ClusterShape, gpu: bool) -> list[NodeType]:
    """The node types training runs on: GPU types with --gpu; else the CPU types other than the
    head, or the head where it is the only node with CPUs."""
    if gpu:
        return [t for t in shape.types if t.gpus >= 1 and t.cpus > 0 and t.most > 0]
    others = [t for t in shape.types if not t.head and t.cpus > 0 and t.most > 0]
    return others or [t for t in shape.types if t.cpus > 0]


def _cpus_off(shape: ClusterShape, hosts: list[NodeType]) -> float:
    """CPUs on live nodes that run no worker (the head beside GPU nodes): where Ray Data can run."""
    return sum(t.cpus * t.up for t in shape.types if t not in hosts)


def _reserve_per_node(shape: ClusterShape, hosts: list[NodeType], cpus_kept_free: float) -> float:
    """CPUs each training node leaves free for Ray Data: none where the other nodes (the head beside
    GPU nodes) have them; else what is missing, shared by the training nodes up now (Ray Data's
    tasks go wherever a CPU is free: two 1-CPU nodes leave half a CPU each)."""
    missing = max(0.0, cpus_kept_free - _cpus_off(shape, hosts))
    return missing / max(1, sum(t.up for t in hosts))


def _slots(t: NodeType, share: float, gpu: bool, reserve: float) -> int:
    by_cpu = int((t.cpus - reserve) // share + 1e-9) if t.cpus > reserve else 0
    return min(by_cpu, int(t.gpus)) if gpu else by_cpu


def _largest_share(hosts: list[NodeType], workers: int, gpu: bool, reserve: float) -> float:
    biggest = max(t.cpus - reserve for t in hosts)
    for share in range(int(biggest), 0, -1):
        if sum(t.most * _slots(t, share, gpu, reserve) for t in hosts) >= workers:
            return float(share)
    # not even 1 CPU each: a fraction of the biggest type's CPUs, its nodes shared evenly
    best = max(hosts, key=lambda t: t.cpus)
    per_node = math.ceil(workers / max(1, best.most))
    if gpu:
        per_node = min(per_node, int(best.gpus)) or 1
    return max(0.0, best.cpus - reserve) / per_node


def _threads(hosts: list[NodeType], share: float, workers: int, gpu: bool) -> int:
    """Torch threads: the CPUs of the smallest host type over the workers that land on one of its nodes."""
    smallest = min(hosts, key=lambda t: t.cpus)
    on_one = max(1, min(workers, _slots(smallest, share, gpu, 0.0) or 1))
    return max(1, int(smallest.cpus // on_one))


def live_slots(placement: Placement, shape: ClusterShape) -> int:
    """Workers of this placement's size the live nodes of its host types hold, Ray Data's CPUs left
    free (node totals: the stage's own earlier work has ended by the time the workers start)."""
    keys = {(h.cpus, h.gpus, h.head) for h in placement.hosts}
    hosts = [t for t in shape.types if (t.cpus, t.gpus, t.head) in keys]
    reserve = _reserve_per_node(shape, hosts, placement.cpus_kept_free)
    return sum(t.up * _slots(t, placement.cpus, placement.gpu, reserve) for t in hosts)


def fits_now(placement: Placement, shape: ClusterShape) -> bool:
    return live_slots(placement, shape) >= placement.workers


@contextmanager
def nodes_held(placement: Placement, *, what: str, echo=print) -> Iterator[Placement]:
    """Asks the autoscaler for the nodes that hold every worker, waits until they are up, and keeps
    the request standing while the stage runs: an autoscaler stops nodes idle for its timeout, and
    one that idled between the last stage and this one's first task was stopped under it (seen on
    the test cluster: the task died with its node). Withdrawn when the stage ends, so the nodes can
    idle out while later stages run on the head. A single machine without an autoscaler (a local
    Ray) refuses at once what does not fit: nothing will join it."""
    shape = cluster_shape()
    if not shape.autoscaler and sum(t.up for t in shape.types) <= 1:
        if not fits_now(placement, shape):
            raise AugmentError(
                f"{what}: {plural(placement.workers, 'worker')} ({placement.each()}) do not fit on this "
                f"machine ({shape.summary()})"
            )
        yield placement
        return
    with _standing_request([placement.bundle()] * placement.workers):
        _wait_until_up(placement, shape, what, echo)
        yield placement


@contextmanager
def _standing_request(bundles: list[dict[str, float]]) -> Iterator[None]:
    """`request_resources(bundles)`, sent again every REASSERT_EVERY_S until the block ends, then
    withdrawn. The autoscaler keeps one such request per cluster and the last sender's wins
    (ray-project/ray#13534); Ray Data's autoscaling coordinator, a detached actor on any cluster
    where a dataset has run (our stages run them), sends its merged request every 20 s, [] when no
    dataset runs. Sent once, ours was withdrawn under a waiting stage whenever that tick fell before
    the autoscaler's next read (seen in CI: generation waited 120 s for GPU nodes never launched)."""
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=bundles)
    stop = threading.Event()

    def reassert() -> None:
        while not stop.wait(REASSERT_EVERY_S):
            try:
                request_resources(bundles=bundles)
            except Exception:  # the driver's connection is gone: the stage fails on its own
                return

    thread = threading.Thread(target=reassert, name="augment-standing-request", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        request_resources(bundles=[])


def _wait_until_up(placement: Placement, shape: ClusterShape, what: str, echo) -> None:
    if fits_now(placement, shape):
        return
    needed = _nodes_needed(placement)
    began = last = time.monotonic()
    echo(_waiting_line(what, placement, needed, shape, 0.0))
    while not fits_now(placement, shape):
        waited = time.monotonic() - began
        if waited > wait_for_nodes_s():
            raise AugmentError(
                f"{what}: waited {waited:.0f} s ({WAIT_FOR_NODES_ENV}) for {placement.workers} workers "
                f"({placement.each()}); the cluster has {shape.summary()}: add nodes and rerun the same command"
            )
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            echo(_waiting_line(what, placement, needed, shape, waited))
            last = time.monotonic()
        time.sleep(1.0)
        shape = cluster_shape()
    echo(f"{what}: {plural(needed, 'GPU node' if placement.gpu else 'node')} up after {time.monotonic() - began:.0f} s")


def _nodes_needed(placement: Placement) -> int:
    per_node = max(_slots(t, placement.cpus, placement.gpu, 0.0) for t in placement.hosts) or 1
    return math.ceil(placement.workers / per_node)


def _waiting_line(what: str, placement: Placement, needed: int, shape: ClusterShape, waited: float) -> str:
    kind = "GPU node" if placement.gpu else "node"
    hosts = {(h.cpus, h.gpus) for h in placement.hosts}
    up = sum(t.up for t in shape.types if (t.cpus, t.gpus) in hosts and not t.head)
    minutes, seconds = divmod(int(waited), 60)
    took = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return (
        f"{what}: waiting for {plural(needed, kind)} ({placement.each()} for {plural(placement.workers, 'worker')}): "
        f"{min(up, needed)} of {needed} up, {took}"
    )
