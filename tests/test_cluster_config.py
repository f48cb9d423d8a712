"""cluster.yaml against the cluster-config JSON schema that ships inside the ray package."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_cluster_yaml_matches_rays_own_schema(config):
    schema_path = Path(os.path.dirname(ray.__file__)) / "autoscaler" / "ray-schema.json"
    jsonschema.validate(config, json.loads(schema_path.read_text()))


def test_cpu_head_and_autoscaling_gpu_workers(config):
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["max_workers"] == 0
    gpu_types = [t for name, t in types.items() if name != config["head_node_type"]]
    assert gpu_types and all(t["min_workers"] == 0 < t["max_workers"] for t in gpu_types)
    assert any("pip install -e ." in command for command in config["setup_commands"])


def test_dashboard_is_not_exposed(config):
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in CLUSTER_YAML.read_text().split("\ncluster_name")[1]
    assert "security_group" not in config["provider"]  # the launcher's default opens SSH only
