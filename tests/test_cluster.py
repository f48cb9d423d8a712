"""The cluster promise: jobs on a real multi-node Ray cluster writing to S3 survive lost nodes.
(`augment submit pipeline` on such a cluster, its driver killed and the command run again, is the
README's cluster command: tests/test_readme.py.)

One cluster for the module: a head that runs no work (0 CPUs: the Jobs API and job drivers) and
two 1-CPU worker nodes, each its own raylet and object store (tests/ray_cluster.py), plus a local
server speaking the S3 protocol, reached as on AWS (standard variables + AWS_ENDPOINT_URL_S3).
Jobs go in through `augment submit`, exactly as a user sends them. A node is lost with SIGKILL of
all its processes (no drain); a replacement joins with `ray start`, or does not.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from tests.conftest import augment_argv
from tests.fixtures import write_tiny_dataset
from tests.ray_cluster import RayCluster, ray_cluster
from tests.s3_server import s3_server

BUCKET = "bucket"
# Small waits for what a spot cluster gives minutes: Ray Train's start timeout for a worker group
# that cannot be placed, and augment's total wait for lost nodes to be replaced.
WAITS = {"RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "15", "AUGMENT_WAIT_FOR_NODES_S": "30"}
TRAIN_WORKER = "RayTrainWorker"
PART_MAKER = "PartGenerator"  # generation's Ray Data predictor


@dataclass
class World:
    cluster: RayCluster
    env: dict[str, str]  # what a client process needs: S3 variables, the cluster's token
    s3_env: dict[str, str]
    data_root: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    data = write_tiny_dataset(tmp_path_factory.mktemp("cluster-data"), n_train=6000, n_test=200, learnable=True).root
    with s3_server() as s3:
        s3.create_bucket(BUCKET)
        job_env = {**s3.env, **WAITS, "AUGMENT_DATA_ROOT": str(data), "AUGMENT_OFFLINE": "1"}
        with ray_cluster(worker_nodes=2, cpus_per_node=1, env_extra=job_env) as cluster:
            env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
            env.update(cluster.env)
            yield World(cluster, env, s3.env, data)


@pytest.fixture
def cluster(world) -> RayCluster:
    world.cluster.ensure_nodes(2)  # an earlier test may have left the cluster short
    return world.cluster


def submit(
    world: World, job: str, *args: str, on_line: Callable[[str], None] | None = None, timeout_s: float = 900
) -> tuple[int, list[str]]:
    """`augment submit JOB --wait -- ARGS` in a client process; every console line goes to `on_line`
    as it arrives."""
    command = augment_argv("submit", job, "--address", world.cluster.address, "--wait", "--", *args)
    proc = subprocess.Popen(command, env=world.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.time() + timeout_s
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        print(line, flush=True)  # pytest shows it when the test fails
        if on_line:
            on_line(line)
        assert time.time() < deadline, "the job ran past its time limit"
    return proc.wait(timeout=60), lines


def s3() -> pafs.S3FileSystem:
    return pafs.FileSystem.from_uri(f"s3://{BUCKET}")[0]


def read_json(fs: pafs.FileSystem, path: str) -> dict:
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read())


def read_csv(fs: pafs.FileSystem, path: str) -> list[dict]:
    with fs.open_input_stream(path) as stream:
        return list(csv.DictReader(io.StringIO(stream.read().decode())))


def exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


@pytest.fixture
def bucket(world, monkeypatch) -> pafs.S3FileSystem:
    for key, value in world.s3_env.items():
        monkeypatch.setenv(key, value)
    return s3()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        assert time.time() < deadline, f"never saw {what}"
        time.sleep(0.5)


def checkpoint_written(fs: pafs.FileSystem, run: str, epoch: int) -> bool:
    """A checkpoint of `epoch` (or later) is complete in RUN/ray/ (its meta.json is written last)."""
    selector = pafs.FileSelector(f"{run}/ray", allow_not_found=True)
    folders = [
        info.path
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_")
    ]
    for folder in folders:
        meta = f"{folder}/meta.json"
        if exists(fs, meta) and read_json(fs, meta)["epoch"] >= epoch:
            return True
    return False


def assert_resumed_once(metrics: list[dict], workers_before: int, workers_after: int) -> None:
    """Epochs 1-3 each trained once: the first k on the original workers, the rest resumed from epoch k's checkpoint.

    k is 1 or 2: the node is killed once epoch 1's checkpoint is in the bucket, but a killed node's workers
    can finish the epoch in flight (a few seconds here) before Ray reports them dead, and then training
    rightly resumes from epoch 2's checkpoint instead. Anything else (an epoch lost, repeated, or resumed
    from an older checkpoint than the last one written) fails.
    """
    rows = [(int(row["epoch"]), int(row["workers"]), int(row["resumed_from_epoch"])) for row in metrics]
    allowed = [
        [(e, workers_before, 0) for e in range(1, k + 1)] + [(e, workers_after, k) for e in range(k + 1, 4)]
        for k in (1, 2)
    ]
    assert rows in allowed, rows


class NodeLoss:
    """Kills a node running `actor` once `trigger` has been printed and `ready()` holds; then adds a
    replacement node, or not."""

    def __init__(
        self,
        cluster: RayCluster,
        actor: str,
        trigger: str,
        ready: Callable[[], bool] = lambda: True,
        replace: bool = True,
    ):
        self.cluster, self.actor, self.trigger, self.ready, self.replace = cluster, actor, trigger, ready, replace
        self.killed_at: float | None = None
        self.lost_node_id = ""

    def __call__(self, line: str) -> None:
        if self.killed_at is not None or not line.startswith(self.trigger):
            return
        wait_for(self.ready, "the checkpoint before the node loss")
        running = self.cluster.nodes_running(self.actor)
        assert running, f"no live {self.actor} on a worker node"
        self.lost_node_id = running[0].node_id
        self.cluster.kill_node(running[0])
        self.killed_at = time.time()
        print(f"--- test: killed {running[0].name} ({self.actor} ran there)", flush=True)
        if self.replace:
            self.cluster.add_node(1, wait=False)
            print("--- test: a replacement node joins", flush=True)


@pytest.fixture(scope="module")
def models(world, tmp_path_factory) -> tuple[str, str]:
    """A small trained generator and judge in the bucket, for the generation scenarios."""
    folder = tmp_path_factory.mktemp("models")
    env = {**os.environ, "AUGMENT_DATA_ROOT": str(world.data_root), "AUGMENT_OFFLINE": "1"}
    env.pop("RAY_ADDRESS", None)
    for command in (
        ["train", "--out", folder / "gan", "--epochs", "1", "--limit", "1024"],
        ["judge", "--out", folder / "judge", "--epochs", "1", "--limit", "1024"],
    ):
        done = subprocess.run(
            augment_argv(*command, "--workers", "1"),
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    previous = {key: os.environ.get(key) for key in world.s3_env}
    os.environ.update(world.s3_env)
    try:
        fs = s3()
        pafs.copy_files(
            str(folder), f"{BUCKET}/models", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs
        )
    finally:
        for key, value in previous.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return f"s3://{BUCKET}/models/gan", f"s3://{BUCKET}/models/judge"


def test_a_node_lost_in_gan_training_with_a_replacement_resumes_from_the_checkpoint_in_s3(world, cluster, bucket):
    run = f"{BUCKET}/gan-lost-node"
    loss = NodeLoss(cluster, TRAIN_WORKER, "epoch 1/3", ready=lambda: checkpoint_written(bucket, run, 1))
    rc, lines = submit(
        world, "train", "--out", f"s3://{run}", "--epochs", "3", "--workers", "2", "--max-failures", "3", on_line=loss
    )
    assert loss.killed_at is not None and rc == 0, lines[-20:]
    metrics = read_csv(bucket, f"{run}/metrics.csv")
    assert_resumed_once(metrics, workers_before=2, workers_after=2)  # the replacement took the lost worker's place
    finished = read_json(bucket, f"{run}/_manifest.json")
    assert finished["epochs"] == 3 and len(finished["nodes"]) >= 3  # two nodes, then one of them and the replacement
    assert loss.lost_node_id in finished["nodes"]


def test_a_node_lost_for_good_in_gan_training_finishes_on_the_nodes_left(world, cluster, bucket):
    run = f"{BUCKET}/gan-shrunk"
    loss = NodeLoss(cluster, TRAIN_WORKER, "epoch 1/3", ready=lambda: checkpoint_written(bucket, run, 1), replace=False)
    rc, lines = submit(
        world, "train", "--out", f"s3://{run}", "--epochs", "3", "--workers", "2", "--max-failures", "3", on_line=loss
    )
    assert loss.killed_at is not None and rc == 0, lines[-20:]
    assert time.time() - loss.killed_at < 300  # bounded: Ray Train alone would wait for the node forever
    notice = [line for line in lines if "fit on the nodes left" in line]
    assert len(notice) == 1 and notice[0].startswith("GAN: only 1 of the 2 workers (1 CPU each)"), lines
    metrics = read_csv(bucket, f"{run}/metrics.csv")
    assert_resumed_once(metrics, workers_before=2, workers_after=1)
    assert read_json(bucket, f"{run}/_manifest.json")["epochs"] == 3


@pytest.mark.parametrize("replace", [True, False], ids=["replaced", "not-replaced"])
def test_a_node_lost_in_generation_still_gives_exactly_n_unique_rows(world, cluster, bucket, models, replace):
    gan, judge = models
    out = f"{BUCKET}/synthetic-lost-node-{'replaced' if replace else 'for-good'}"
    loss = NodeLoss(cluster, PART_MAKER, "train/part-00000.parquet done", replace=replace)
    sizes = "--n 30000 --rows-per-file 2000 --precision fp32".split()
    rc, lines = submit(
        world, "generate", "--checkpoint", gan, "--judge", judge, "--out", f"s3://{out}", *sizes, on_line=loss
    )
    assert loss.killed_at is not None and rc == 0, lines[-20:]
    finished = read_json(bucket, f"{out}/_manifest.json")
    assert finished["rows"] == 30_000
    rows = ds.dataset(f"{out}/train", filesystem=bucket, format="parquet").to_table(columns=["id"])
    ids = rows["id"].to_pylist()
    assert len(ids) == 30_000 and sorted(ids) == list(range(30_000))
    # Under train/ only final part names, each the file the manifest lists, byte for byte.
    names = sorted(info.base_name for info in bucket.get_file_info(pafs.FileSelector(f"{out}/train")))
    listed = {entry["path"]: entry for entry in finished["files"] if entry["path"].startswith("train/")}
    assert names == sorted(path.split("/")[1] for path in listed), names
    for path, entry in listed.items():
        assert bucket.get_file_info(f"{out}/{path}").size == entry["bytes"]
    assert len(set(finished["made_on"].values())) >= 2  # actors on more than one node


def test_a_node_lost_in_classifier_training_resumes_and_finishes(world, cluster, bucket):
    real, run = f"{BUCKET}/classifier-lost-node/real", f"{BUCKET}/classifier-lost-node/classifier"
    exported = subprocess.run(
        augment_argv("data", "export", "--out", f"s3://{real}"),
        env={**world.env, **world.s3_env, "AUGMENT_DATA_ROOT": str(world.data_root), "AUGMENT_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert exported.returncode == 0, exported.stderr
    loss = NodeLoss(cluster, TRAIN_WORKER, "classifier epoch 1/3", ready=lambda: checkpoint_written(bucket, run, 1))
    sizes = "--epochs 3 --workers 2 --max-failures 3".split()
    rc, lines = submit(world, "retrain", "--data", f"s3://{real}", "--out", f"s3://{run}", *sizes, on_line=loss)
    assert loss.killed_at is not None and rc == 0, lines[-20:]
    finished = read_json(bucket, f"{run}/_manifest.json")
    assert finished["epochs"] == 3 and finished["test_accuracy"] > 0.9
    # Resumed once, from the newest checkpoint when the node died (epoch 1's, or epoch 2's when that
    # short epoch finished before the kill landed), never from scratch; no epoch trained twice.
    resumed = [(row["epoch"], row["resumed_from_epoch"]) for row in finished["history"]]
    after_loss = {start for _, start in resumed if start > 0}
    assert [epoch for epoch, _ in resumed] == [1, 2, 3] and resumed[0] == (1, 0), resumed
    assert len(after_loss) == 1 and all(start in (0, *after_loss) for _, start in resumed), resumed
    assert all(start == max(after_loss) for epoch, start in resumed if epoch > max(after_loss)), resumed
    assert [int(row["epoch"]) for row in read_csv(bucket, f"{run}/metrics.csv")] == [1, 2, 3]
