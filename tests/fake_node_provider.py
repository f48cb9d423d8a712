"""Ray's fake_multinode node provider, with a runtime-env folder of its own for each node it starts.

Fake nodes are raylets on one machine that share the head's session folder, so by default they
share `runtime_resources/`, where Ray unpacks a job's working dir. Ray's working_dir plugin
re-extracts a package it has not seen (`WorkingDirPlugin.create(overwrite=True)`: rmtree, then
unzip), so a node that starts during a job deleted the folder that another node's workers were
running in, and their next `os.getcwd()` failed (seen in CI: `FileNotFoundError` importing torch in
a generation actor on the first GPU node as the second one came up). On a real cluster every node
has its own disk; this gives each fake node its own folder, as it would have.

The autoscaler loads it as an `external` provider (`module: tests.fake_node_provider.OwnFolderProvider`).
"""

from __future__ import annotations

from unittest import mock

import ray._private.node
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider

PROVIDER = "tests.fake_node_provider.OwnFolderProvider"


class OwnFolderProvider(FakeMultiNodeProvider):
    def _create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        make_node = ray._private.node.Node

        def node_with_own_runtime_env_folder(ray_params, **kwargs):
            node_id = ray_params.env_vars["RAY_OVERRIDE_NODE_ID_FOR_TESTING"]
            ray_params.runtime_env_dir_name = f"runtime_resources_{node_id[-5:]}"  # ids end in a counter
            return make_node(ray_params, **kwargs)

        # The parent builds the node's RayParams and Node in one method; this names the folder
        # without copying it (the provider's lock makes node creation one at a time).
        with mock.patch.object(ray._private.node, "Node", node_with_own_runtime_env_folder):
            super()._create_node_with_resources_and_labels(node_config, tags, count, resources, labels)
