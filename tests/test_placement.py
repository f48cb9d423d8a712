"""Workers sized from node shapes (core/placement.py), on the cluster shapes users run, without Ray."""

import pytest

from augment.core.errors import AugmentError
from augment.core.node_types import ClusterShape, NodeType
from augment.core.placement import Placement, fits_now, gpus_possible, plan


def head(cpus, up=1):
    return NodeType("head", cpus, 0, up, up, head=True)


def cluster(*types, autoscaler=True):
    return ClusterShape(tuple(types), autoscaler)


def test_gpu_workers_on_cluster_yaml_take_a_gpu_nodes_cpus_not_the_clusters_share():
    # cluster.yaml: an 8-vCPU head, g5.2xlarge GPU nodes (8 vCPU, 1 GPU) from 0 to 8; none up yet
    shape = cluster(head(8), NodeType("gpu_worker", 8, 1, 0, 8, head=False))
    for workers in (1, 2, 8):
        placement = plan(workers, True, what="GAN", shape=shape)
        assert placement.bundle() == {"CPU": 8.0, "GPU": 1.0}
        assert placement.threads == 8
        assert not fits_now(placement, shape)  # nothing up: the autoscaler is asked, not refused
    assert gpus_possible(shape) == 8


def test_the_classifiers_ray_data_cpu_comes_from_the_head_when_it_has_cpus():
    shape = cluster(head(8), NodeType("gpu_worker", 8, 1, 2, 8, head=False))
    assert plan(2, True, what="classifier", cpus_kept_free=1.0, shape=shape).cpus == 8.0
    headless = cluster(head(0), NodeType("gpu_worker", 8, 1, 2, 8, head=False))
    assert plan(2, True, what="classifier", cpus_kept_free=1.0, shape=headless).cpus == 7.0


def test_cpu_workers_fit_nodes_smaller_than_the_cluster_total_over_workers():
    # head 2 CPUs (no training on it), two 1-CPU nodes, --workers 2: 1 CPU each, placed at once
    shape = cluster(head(2), NodeType("node", 1, 0, 2, 2, head=False), autoscaler=False)
    placement = plan(2, False, what="GAN", shape=shape)
    assert (placement.cpus, placement.threads) == (1.0, 1)
    assert fits_now(placement, shape)


def test_a_single_machine_shares_its_cpus_as_before():
    laptop = cluster(head(2), autoscaler=False)
    assert (plan(1, False, what="GAN", shape=laptop).cpus, plan(1, False, what="GAN", shape=laptop).threads) == (2.0, 2)
    assert plan(2, False, what="GAN", shape=laptop).cpus == 1.0
    one = plan(1, False, what="classifier", cpus_kept_free=1.0, shape=laptop)
    assert (one.cpus, one.threads) == (1.0, 2)  # a CPU left to Ray Data; torch uses both cores
    two = plan(2, False, what="classifier", cpus_kept_free=1.0, shape=laptop)
    assert (two.cpus, two.threads) == (0.5, 1)


def test_gpu_on_a_cluster_without_gpu_node_types_is_refused_in_one_line():
    shape = cluster(head(3), NodeType("cpu", 2, 0, 0, 2, head=False))
    with pytest.raises(AugmentError, match="needs a node type with a GPU; this cluster's node types have none"):
        plan(1, True, what="GAN", shape=shape)


def test_more_gpu_workers_than_the_node_types_allow_is_refused():
    shape = cluster(head(3), NodeType("gpu", 2, 1, 0, 2, head=False))
    with pytest.raises(AugmentError, match="3 workers need 3 GPUs; the cluster can have at most 2"):
        plan(3, True, what="GAN", shape=shape)


def test_an_explicit_share_is_kept():
    shape = cluster(head(3), NodeType("gpu", 4, 1, 1, 2, head=False))
    placement = plan(1, True, what="GAN", cpus=2, shape=shape)
    assert placement == Placement(1, 2, placement.threads, True, placement.hosts)
    assert fits_now(placement, shape)


def test_augment_run_with_gpu_on_a_machine_without_one_stops_before_the_first_stage(tmp_path):
    from tests.conftest import assert_one_line_error, run_cli_process

    out = tmp_path / "run"
    result = run_cli_process(
        "run",
        "--out",
        out,
        "--n",
        "1000",
        "--gpu",
        "--offline",
        env={"AUGMENT_FAKE_GPU": "", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert_one_line_error(result, "--gpu: this machine has no CUDA GPU")
    assert not (out / "real").exists()  # refused before the real stage, not after it


def test_cluster_yamls_node_types_read_as_the_autoscaler_reads_them_size_one_gpu_worker_per_node():
    from pathlib import Path

    from augment.core.node_types import _types_from_file

    types = _types_from_file(Path(__file__).resolve().parents[1] / "cluster.yaml")
    assert types == [NodeType("gpu_worker", 8.0, 1.0, 0, 8, head=False)]  # the head type is left to ray.nodes()
    shape = cluster(head(8), *types)  # as a job on the head sees it before any GPU node is up
    placement = plan(2, True, what="GAN", shape=shape)
    assert placement.bundle() == {"CPU": 8.0, "GPU": 1.0} and not fits_now(placement, shape)


def test_ray_datas_cpu_is_shared_by_small_training_nodes_when_the_head_has_none():
    # the node-loss tests' cluster: a head of 0 CPUs and two 1-CPU nodes; the classifier leaves 1 CPU
    # to Ray Data: half a CPU on each node, half a CPU per worker (as before node shapes)
    shape = cluster(head(0), NodeType("node", 1, 0, 2, 2, head=False), autoscaler=False)
    placement = plan(2, False, what="classifier", cpus_kept_free=1.0, shape=shape)
    assert (placement.cpus, placement.threads) == (0.5, 1)
    assert fits_now(placement, shape)
