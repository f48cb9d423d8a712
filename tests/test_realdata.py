"""Checks on the real dataset files. They run when AUGMENT_DATA_ROOT points at a folder holding
MNIST/raw/*.gz (e.g. ../shared/data) and skip cleanly otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from augment.core.mnist import archive_names
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig

pytestmark = pytest.mark.realdata
# Read once at import: the per-test fixtures hide the developer's environment from other tests.
REAL_DATA_ROOT = os.environ.get("AUGMENT_DATA_ROOT")

MNIST_TRAIN_PER_LABEL = {0: 5923, 1: 6742, 2: 5958, 3: 6131, 4: 5842, 5: 5421, 6: 5918, 7: 6265, 8: 5851, 9: 5949}
MNIST_TEST_PER_LABEL = {0: 980, 1: 1135, 2: 1032, 3: 1010, 4: 982, 5: 892, 6: 958, 7: 1028, 8: 974, 9: 1009}


@pytest.fixture(scope="module")
def real_mnist_archives() -> Path:
    raw = Path(REAL_DATA_ROOT or "/nonexistent") / "MNIST" / "raw"
    if not REAL_DATA_ROOT or not all((raw / name).is_file() for name in archive_names("mnist")):
        pytest.skip("set AUGMENT_DATA_ROOT to a folder with MNIST/raw/*.gz to run real-data checks")
    return raw


def test_exporting_real_mnist_gives_the_known_counts(real_mnist_archives, tmp_path):
    # Copy only the archives so the shared folder is never written to; --offline proves that the
    # md5-checked archives are extracted without any network access.
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in archive_names("mnist"):
        shutil.copy(real_mnist_archives / name, raw / name)
    result = real_stage.run(RealConfig(out=str(tmp_path / "real"), data_root=str(tmp_path / "data"), download=False))
    assert result.counts["train"].rows == 60000 and result.counts["test"].rows == 10000
    assert result.counts["train"].per_label == MNIST_TRAIN_PER_LABEL
    assert result.counts["test"].per_label == MNIST_TEST_PER_LABEL
