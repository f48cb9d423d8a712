from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from augment import stages
from augment.stages.real.config import RealConfig

READER_SCRIPT = Path(__file__).with_name("read_without_ray.py")


def test_pyarrow_pandas_polars_duckdb_read_the_export_without_ray(tiny_mnist, tmp_path):
    out = tmp_path / "real"
    stages.real.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    proc = subprocess.run(
        [sys.executable, str(READER_SCRIPT), str(out / "train")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results.pop("ray_imported") is False

    expected_images = hashlib.sha256(tiny_mnist.train_images.tobytes()).hexdigest()
    expected_labels = tiny_mnist.train_labels.tolist()
    assert set(results) == {"pyarrow", "pandas", "polars", "duckdb"}
    for reader, got in results.items():
        assert got["rows"] == 300, reader
        assert got["images_sha256"] == expected_images, reader
        assert got["labels"] == expected_labels, reader
    labels, counts = np.unique(tiny_mnist.train_labels, return_counts=True)
    assert results["duckdb"]["group_by"] == {str(k): int(v) for k, v in zip(labels, counts)}
