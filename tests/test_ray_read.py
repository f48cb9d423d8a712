from __future__ import annotations

import numpy as np

from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig


def test_ray_data_reads_the_image_column_as_uint8_tensors(ray_local, tiny_mnist, tmp_path):
    out = tmp_path / "real"
    real_stage.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    dataset = ray_local.data.read_parquet(str(out / "train"))
    batches = list(dataset.iter_batches(batch_size=128, batch_format="numpy"))
    assert [len(b["id"]) for b in batches] == [128, 128, 44]
    images = np.concatenate([b["image"] for b in batches])
    assert images.dtype == np.uint8 and images.shape == (300, 28, 28)
    order = np.argsort(np.concatenate([b["id"] for b in batches]))
    np.testing.assert_array_equal(images[order], tiny_mnist.train_images)
