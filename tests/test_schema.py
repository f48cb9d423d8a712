from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augment.core import schema, storage
from augment.core.errors import AugmentError


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _real_table(n: int = 50) -> pa.Table:
    return schema.make_table(
        np.arange(n),
        _images(n),
        np.arange(n) % 10,
        source="real",
        metadata=schema.file_metadata("mnist", split="train"),
    )


def test_real_table_has_exactly_the_v2_schema_and_null_synthetic_columns():
    table = _real_table()
    assert table.schema.equals(schema.SCHEMA, check_metadata=False)
    assert table.column("confidence").null_count == 50
    assert table.column("generator").null_count == 50
    assert table.column("source").to_pylist() == ["real"] * 50
    assert table.schema.field("image").type == pa.fixed_shape_tensor(pa.uint8(), [28, 28])


def test_synthetic_table_keeps_confidence_and_generator_and_shares_source_dictionary():
    n = 8
    table = schema.make_table(
        np.arange(n),
        _images(n),
        np.full(n, 3),
        source="synthetic",
        confidence=np.linspace(0.5, 1.0, n),
        generator="abc123",
        metadata=schema.file_metadata("mnist", generator="abc123", run_config={"seed": 7, "n": n}),
    )
    assert table.column("source").to_pylist() == ["synthetic"] * n
    assert table.column("source").chunk(0).dictionary.to_pylist() == list(schema.SOURCES)
    np.testing.assert_allclose(table.column("confidence").to_numpy(), np.linspace(0.5, 1.0, n), rtol=1e-6)
    assert set(table.column("generator").to_pylist()) == {"abc123"}
    meta = table.schema.metadata
    assert json.loads(meta[b"augment.run_config"]) == {"n": n, "seed": 7}
    assert meta[b"augment.generator"] == b"abc123"


@pytest.mark.parametrize(
    "images",
    [np.zeros((3, 28, 28), np.float32), np.zeros((3, 32, 32), np.uint8), np.zeros((3, 784), np.uint8)],
)
def test_wrong_images_are_rejected(images):
    with pytest.raises(ValueError, match=r"uint8 \(N, 28, 28\)"):
        schema.make_table(np.arange(3), images, np.zeros(3), source="real", metadata={})


def test_unknown_source_and_length_mismatch_are_rejected():
    with pytest.raises(ValueError, match="source must be one of"):
        schema.make_table(np.arange(2), _images(2), np.zeros(2, np.int64), source="fake", metadata={})
    with pytest.raises(ValueError, match="lengths differ"):
        schema.make_table(np.arange(3), _images(2), np.zeros(2, np.int64), source="real", metadata={})
    with pytest.raises(TypeError, match="float64.*int8"):
        schema.make_table(np.arange(2), _images(2), np.full(2, 0.5), source="real", metadata={})


def test_write_read_round_trip_is_exact_and_metadata_survives(tmp_path):
    fs, path = storage.resolve(str(tmp_path / "sub" / "part-00000.parquet"))
    table = _real_table(200)
    schema.write_parquet(table, fs, path)
    back = schema.read_table(fs, path)
    np.testing.assert_array_equal(schema.images_to_numpy(back.column("image")), _images(200))
    np.testing.assert_array_equal(back.column("label").to_numpy(), np.arange(200) % 10)
    assert schema.read_metadata(fs, path) == {"schema_version": "2", "dataset": "mnist", "split": "train"}
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["part-00000.parquet"]  # no temp files left


def test_images_to_numpy_is_one_array_across_chunks():
    table = pa.concat_tables([_real_table(10), _real_table(10)])
    assert table.column("image").num_chunks == 2
    images = schema.images_to_numpy(table.column("image"))
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8


def test_row_groups_are_sized_by_the_schema_constant(monkeypatch, tmp_path):
    monkeypatch.setattr(schema, "ROW_GROUP_ROWS", 64)
    fs, path = storage.resolve(str(tmp_path / "p.parquet"))
    schema.write_parquet(_real_table(200), fs, path)
    meta = pq.read_metadata(path)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [64, 64, 64, 8]


def test_failed_write_leaves_nothing_under_the_final_name(monkeypatch, tmp_path):
    fs, path = storage.resolve(str(tmp_path / "p.parquet"))

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", explode)
    with pytest.raises(OSError):
        schema.write_parquet(_real_table(), fs, path)
    assert not (tmp_path / "p.parquet").exists()


def test_foreign_files_are_refused_with_the_first_difference(tmp_path):
    fs, path = storage.resolve(str(tmp_path / "x.parquet"))
    table = _real_table(5)
    pq.write_table(table.replace_schema_metadata({}), path)
    with pytest.raises(AugmentError, match="not augment schema v1 or v2 \\(found version none\\)"):
        schema.read_table(fs, path)
    pq.write_table(table.drop_columns(["confidence"]), path)
    with pytest.raises(AugmentError, match="column 'confidence' is missing"):
        schema.read_table(fs, path)
    wrong = table.set_column(table.schema.get_field_index("label"), "label", table.column("label").cast(pa.int32()))
    pq.write_table(wrong, path)
    with pytest.raises(AugmentError, match="column 'label' is int32, expected int8"):
        schema.read_table(fs, path)


def test_rays_own_tensor_type_never_reaches_a_file(tmp_path):
    from ray.data.extensions import ArrowTensorArray

    fs, path = storage.resolve(str(tmp_path / "x.parquet"))
    table = _real_table(5)
    ray_images = ArrowTensorArray.from_numpy(_images(5))
    with pytest.raises(AugmentError, match="column 'image' is .*expected extension<arrow.fixed_shape_tensor"):
        schema.write_parquet(table.set_column(1, "image", ray_images), fs, path)
    assert not (tmp_path / "x.parquet").exists()


def test_image_file_is_a_pgm_of_the_same_pixels_that_pil_decodes():
    from io import BytesIO

    from PIL import Image

    images = _images(6)
    table = schema.make_table(np.arange(6), images, np.arange(6), source="real", metadata={})
    files = table.column("image_file").combine_chunks()
    assert files.field("path").null_count == 6
    for k, data in enumerate(files.field("bytes").to_pylist()):
        assert data.startswith(b"P5\n28 28\n255\n") and len(data) == 13 + 784
        decoded = Image.open(BytesIO(data))
        assert decoded.mode == "L" and decoded.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(decoded), images[k])


def test_version_1_files_still_read_but_are_never_written(tmp_path):
    fs, path = storage.resolve(str(tmp_path / "v1.parquet"))
    table = _real_table(5).drop_columns(["image_file"])
    table = table.replace_schema_metadata({**table.schema.metadata, b"augment.schema_version": b"1"})
    pq.write_table(table, path)
    back = schema.read_table(fs, path)
    np.testing.assert_array_equal(schema.images_to_numpy(back["image"]), _images(5))
    with pytest.raises(AugmentError, match="not augment schema v2 \\(found version 1\\)"):
        schema.write_parquet(table, fs, str(tmp_path / "again.parquet"))
    assert not (tmp_path / "again.parquet").exists()
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"augment.schema_version": b"2"}), path)
    with pytest.raises(AugmentError, match="column 'image_file' is missing"):
        schema.read_table(fs, path)
