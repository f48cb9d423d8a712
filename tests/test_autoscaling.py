"""The shapes users run, on Ray's own autoscaler (tests/autoscaling_cluster.py: the fake_multinode
provider): cluster.yaml's shape, a head with CPUs and GPU nodes that start from zero, with
AUGMENT_FAKE_GPU=1 (GPUs declared by the node type, the computing done on the CPU); and a CPU
cluster whose nodes are smaller than its total CPUs over the workers. Jobs go in through
`augment submit`, as a user sends them."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.autoscaling_cluster import AutoscalingCluster, autoscaling_cluster, node_type
from tests.conftest import assert_one_line_error, augment_argv, run_cli_process
from tests.fixtures import write_tiny_dataset

ROOT = Path(__file__).resolve().parents[1]
WAITS = {"RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "20", "AUGMENT_WAIT_FOR_NODES_S": "120"}
TINY_GPU_RUN = (
    "--n",
    "1000",
    "--epochs",
    "1",
    "--classifier-epochs",
    "1",
    "--samples",
    "200",
    "--min-confidence",
    "0",
    "--merge-synthetic",
    "400",
    "--curve",
    "0",
    "--limit",
    "1000",
    "--rows-per-file",
    "500",
    "--gpu",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("autoscale-data"), n_train=1500, n_test=200, learnable=True).root


def job_env(data: Path) -> dict[str, str]:
    return {**WAITS, "AUGMENT_DATA_ROOT": str(data), "AUGMENT_OFFLINE": "1", "AUGMENT_FAKE_GPU": "1"}


def submit(cluster: AutoscalingCluster, job: str, *args: str, timeout_s: float = 1200) -> tuple[int, list[str], float]:
    """`augment submit JOB --wait -- ARGS` in a client process: (exit code, console lines, seconds)."""
    started = time.time()
    proc = subprocess.run(
        augment_argv("submit", job, "--address", cluster.address, "--wait", "--", *args),
        cwd=ROOT,
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    print("\n".join(lines))  # pytest shows it when the test fails
    if proc.returncode != 0:  # e.g. nodes that never came: what the autoscaler did meanwhile
        print(f"--- autoscaler, last lines ---\n{cluster.autoscaler_log()}")
    return proc.returncode, lines, time.time() - started


@pytest.fixture(scope="module")
def gpu_cluster(data):
    """cluster.yaml's shape: a head with 3 CPUs and no GPU; `gpu` nodes {CPU 2, GPU 1}, 0 to 2 of
    them, stopped after 6 s idle (minutes on a real cluster)."""
    with autoscaling_cluster(
        3, {"gpu": node_type(2, 1, max_workers=2)}, idle_timeout_minutes=0.1, env_extra=job_env(data)
    ) as cluster:
        yield cluster


def read_manifest(folder: Path) -> dict:
    return json.loads((folder / "_manifest.json").read_text())


def test_the_pipeline_with_gpu_on_cluster_yamls_shape_starts_gpu_nodes_runs_on_them_and_asks_again_later(
    gpu_cluster, tmp_path
):
    assert gpu_cluster.gpu_node_ids() == set()  # GPU nodes from zero, as cluster.yaml starts
    out = tmp_path / "run"
    code, lines, _ = submit(gpu_cluster, "pipeline", "--out", str(out), *TINY_GPU_RUN)
    assert code == 0, "\n".join(lines[-40:])
    assert any("waiting for 1 GPU node" in line for line in lines)  # the demand went to the autoscaler
    gan, synthetic = read_manifest(out / "gan"), read_manifest(out / "synthetic")
    # the autoscaler's GPU nodes have ids the fake provider makes (fff...NNNNN), never the head's
    head = {node for node, res in gpu_cluster.live_nodes().items() if "node:__internal_head__" in res}
    assert gan["nodes"] and not set(gan["nodes"]) & head
    assert set(synthetic["made_on"].values()) and not set(synthetic["made_on"].values()) & head
    plan = out / "classifier" / "_manifest.json"  # the runs' plan; each run has its own manifest below
    classifier_runs = [read_manifest(p.parent) for p in (out / "classifier").rglob("_manifest.json") if p != plan]
    assert classifier_runs and all(run["nodes"] and not set(run["nodes"]) & head for run in classifier_runs)
    assert (out / "report" / "report.json").is_file()

    # A later stage after the GPU nodes idled out (merge and report ran on the head): its demand is
    # placed again, the nodes come back, the job finishes.
    gpu_cluster.wait_for_nodes(
        lambda nodes: not any(res.get("GPU") for res in nodes.values()), "the GPU nodes idle out", timeout_s=180
    )
    again = tmp_path / "synthetic-again"
    code, lines, _ = submit(gpu_cluster, "generate", "--checkpoint", str(out / "gan"), "--judge", str(out / "judge"),
                            "--n", "1000", "--out", str(again), "--min-confidence", "0", "--gpu")  # fmt: skip
    assert code == 0, "\n".join(lines[-40:])
    assert any("waiting for" in line and "GPU node" in line for line in lines)
    assert read_manifest(again)["rows"] == 1000


# A driver that holds 2 GPU nodes while the request is withdrawn right after it is first sent, as
# Ray Data's autoscaling coordinator (alive on any cluster where a dataset ran) does on its 20 s tick.
HOLD_WHILE_ANOTHER_WITHDRAWS = """
import os
os.environ["AUGMENT_WAIT_FOR_NODES_S"] = "60"
import ray.autoscaler.sdk as sdk
from augment.core.placement import nodes_held, plan
send, withdrawn = sdk.request_resources, []
def then_withdrawn_once(**request):
    send(**request)
    if request.get("bundles") and not withdrawn:
        send(bundles=[])
        withdrawn.append(True)
sdk.request_resources = then_withdrawn_once
lines = []
with nodes_held(plan(2, True, what="test"), what="test", echo=lines.append):
    gpus = sum(n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"])
print(json.dumps({"gpus": gpus, "lines": lines, "withdrawn": bool(withdrawn)}))
"""


def test_a_gpu_request_withdrawn_by_another_sender_is_sent_again_and_the_nodes_come(gpu_cluster):
    gpu_cluster.wait_for_nodes(
        lambda nodes: not any(res.get("GPU") for res in nodes.values()), "the GPU nodes idle out", timeout_s=180
    )
    held = gpu_cluster.state(HOLD_WHILE_ANOTHER_WITHDRAWS)  # sent once, it waited 60 s and failed
    assert held["withdrawn"] and held["gpus"] == 2, held
    assert held["lines"][-1].startswith("test: 2 GPU nodes up after"), held["lines"]


@pytest.fixture(scope="module")
def cpu_cluster(data):
    """A CPU cluster whose nodes are smaller than its total over the workers: a 2-CPU head and two
    1-CPU nodes (the autoscaler keeps both up: min_workers 2); no node type has a GPU."""
    with autoscaling_cluster(
        2, {"cpu": node_type(1, min_workers=2, max_workers=2)}, env_extra=job_env(data)
    ) as cluster:
        cluster.wait_for_nodes(lambda nodes: len(nodes) == 3, "both 1-CPU nodes up")
        yield cluster


def test_cpu_workers_on_nodes_smaller_than_total_over_workers_are_placed_at_once(cpu_cluster, tmp_path):
    out = tmp_path / "gan"
    code, lines, _ = submit(
        cpu_cluster, "train", "--out", str(out), "--epochs", "1", "--limit", "1000", "--workers", "2"
    )
    assert code == 0, "\n".join(lines[-40:])
    # Sized from the whole cluster (4 CPUs / 2 workers) each worker asked for 2 CPUs, which only the
    # head has: the second waited for Ray Train's start timeout, then training shrank to 1 worker.
    assert not any("waiting for" in line or "fit on the nodes left" in line for line in lines)
    assert (out / "metrics.csv").read_text().splitlines()[1].split(",")[-1] == "2"  # both workers trained


def test_gpu_on_a_cluster_whose_node_types_have_no_gpu_is_refused_in_one_line_at_once(cpu_cluster, tmp_path):
    env = {**cpu_cluster.env, **job_env(Path(os.environ.get("AUGMENT_DATA_ROOT", "/nonexistent")))}
    env["AUGMENT_DATA_ROOT"] = cpu_cluster.env["AUGMENT_DATA_ROOT"]
    started = time.time()
    result = run_cli_process(
        "train",
        "--address",
        cpu_cluster.gcs_address,
        "--out",
        str(tmp_path / "gan"),
        "--epochs",
        "1",
        "--limit",
        "1000",
        "--gpu",
        env=env,
    )
    assert_one_line_error(result, "--gpu: GAN needs a node type with a GPU", "cpu (1 CPU)")
    assert time.time() - started < 60
    assert not (tmp_path / "gan").exists() or not any((tmp_path / "gan").iterdir())
