"""Merging the real train split with synthetic rows: counts, key, layout, readers, refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augment.core import manifest, schema, storage
from augment.stages.merged import merge as merged_stage
from augment.stages.merged.config import MergedConfig
from tests.conftest import assert_one_line_error
from tests.fixtures import tiny_generation


@pytest.fixture(scope="module")
def inputs(ray_local, tmp_path_factory):
    """(tiny learnable dataset, its real export, a 1,000-row generation in 4 parts of 250)."""
    tiny, real, _, _, syn = tiny_generation(tmp_path_factory.mktemp("merge-inputs"), n=1000, rows_per_file=300)
    return tiny, real, syn


def _merge(inputs, out: Path, **options):
    _, real, syn = inputs
    return merged_stage.run(MergedConfig(real=str(real), synthetic=str(syn), out=str(out), **options))


def test_all_rows_merge_into_one_table_without_test_rows(inputs, tmp_path):
    tiny, _, syn = inputs
    out = tmp_path / "merged"
    result = _merge(inputs, out)
    assert (result.real_rows, result.synthetic_rows) == (400, 1000)

    table = pq.read_table(out / "train")
    schema.check_schema(table.schema, where="merged")
    sources = np.array(table["source"].cast(pa.string()).to_pylist())
    real = table.filter(pa.array(sources == "real"))
    assert len(real) == 400 and len(table) == 1400
    # the real rows are the train split, image for image; no test image is among them
    order = np.argsort(real["id"].to_numpy())
    assert np.array_equal(schema.images_to_numpy(real["image"])[order], tiny.train_images)
    merged_images = {image.tobytes() for image in schema.images_to_numpy(table["image"])}
    assert not any(image.tobytes() in merged_images for image in tiny.test_images)
    keys = list(zip(sources.tolist(), table["id"].to_pylist()))
    assert len(set(keys)) == len(keys)  # (source, id) is a key

    m = json.loads((out / "_manifest.json").read_text())
    assert m["stage"] == "merged" and m["rows"] == {"real": 400, "synthetic": 1000, "total": 1400}
    assert m["rows_per_label"]["real"] == {str(c): 40 for c in range(10)}
    assert m["rows_per_label"]["synthetic"] == {str(c): 100 for c in range(10)}
    assert all(not f["path"].startswith("test") for f in m["files"])
    # whole files are linked, not re-encoded
    assert os.path.samefile(out / "train/synthetic/part-00000.parquet", syn / "train/part-00000.parquet")


def test_duckdb_and_ray_data_read_the_merged_folder_as_one_table(inputs, tmp_path, ray_local):
    out = tmp_path / "merged"
    _merge(inputs, out, max_synthetic=300)
    counts = duckdb.sql(
        f"SELECT source, count(*) FROM read_parquet('{out}/**/*.parquet') GROUP BY source ORDER BY source"
    ).fetchall()
    assert counts == [("real", 400), ("synthetic", 300)]
    assert ray_local.data.read_parquet(str(out / "train")).count() == 700


def test_max_synthetic_takes_a_nearly_balanced_id_prefix_cutting_one_part(inputs, tmp_path):
    out = tmp_path / "merged"
    result = _merge(inputs, out, max_synthetic=620)
    assert result.synthetic_rows == 620
    synthetic = pq.read_table(out / "train/synthetic")
    assert sorted(synthetic["id"].to_pylist()) == list(range(620))
    counts = np.bincount(synthetic["label"].to_numpy(), minlength=10)
    assert np.abs(counts - 62).max() <= 5  # a low-discrepancy prefix: off by a few rows, not by a share
    assert sorted(p.name for p in (out / "train/synthetic").iterdir()) == [f"part-0000{k}.parquet" for k in range(3)]
    schema.check_schema(pq.read_schema(out / "train/synthetic/part-00002.parquet"), where="cut part")


def test_synthetic_fraction_and_low_data_real_subset(inputs, tmp_path):
    tiny, _, _ = inputs
    result = _merge(inputs, tmp_path / "low", real_per_class=5, synthetic_fraction=0.75)
    assert (result.real_rows, result.synthetic_rows) == (50, 150)
    real = pq.read_table(tmp_path / "low" / "train" / "real")
    expected = np.concatenate([np.flatnonzero(tiny.train_labels == c)[:5] for c in range(10)])
    assert sorted(real["id"].to_pylist()) == sorted(expected.tolist())

    long_tail = _merge(inputs, tmp_path / "tail", real_per_class="10,10,10,10,10,2,2,2,2,50%", max_synthetic=100)
    real = pq.read_table(tmp_path / "tail" / "train" / "real")
    half = int(np.sum(tiny.train_labels == 9)) // 2
    assert np.bincount(real["label"].to_numpy(), minlength=10).tolist() == [10] * 5 + [2] * 4 + [half]
    recorded = json.loads((tmp_path / "tail" / "_manifest.json").read_text())["config"]["real_per_class"]
    assert recorded == [10, 10, 10, 10, 10, 2, 2, 2, 2, "50%"] and long_tail.real_rows == 58 + half
    assert _merge(inputs, tmp_path / "tail", real_per_class="10,10,10,10,10,2,2,2,2,50%", max_synthetic=100).skipped

    too_many = pytest.raises(Exception, match="needs 1,200 synthetic rows, but --synthetic holds 1,000")
    with too_many:
        _merge(inputs, tmp_path / "big", synthetic_fraction=0.75)


def test_rerun_skips_and_other_settings_are_refused(inputs, tmp_path, run_cli):
    _, real, syn = inputs
    out = tmp_path / "merged"
    _merge(inputs, out, max_synthetic=500)
    before = (out / "_manifest.json").read_bytes()
    again = run_cli("merge", "--real", real, "--synthetic", syn, "--out", out, "--max-synthetic", 500)
    assert again.returncode == 0 and "already merged" in again.stdout
    assert (out / "_manifest.json").read_bytes() == before
    other = run_cli("merge", "--real", real, "--synthetic", syn, "--out", out, "--max-synthetic", 400)
    assert_one_line_error(other, "made with other settings (synthetic_rows)", "--overwrite")


def _write_synthetic(folder: Path, table: pa.Table, manifest_version: int = schema.SCHEMA_VERSION) -> Path:
    """A hand-made generation output (one part + manifest), for inputs synthetic_stage.run() would never write."""
    (folder / "train").mkdir(parents=True)
    pq.write_table(table, folder / "train/part-00000.parquet")
    fs, path = storage.resolve(str(folder))
    manifest.write_manifest(
        fs,
        path,
        stage="synthetic",
        config={},
        files=[manifest.file_entry(fs, path, "train/part-00000.parquet", table.num_rows)],
    )
    written = json.loads((folder / "_manifest.json").read_text())
    (folder / "_manifest.json").write_text(json.dumps({**written, "schema_version": manifest_version}))
    return folder


def _version_1(table: pa.Table) -> pa.Table:
    table = table.drop_columns(["image_file"])
    return table.replace_schema_metadata({**table.schema.metadata, b"augment.schema_version": b"1"})


def _synthetic_table(labels, *, shape=(28, 28), version="2") -> pa.Table:
    n = len(labels)
    images = pa.FixedShapeTensorArray.from_numpy_ndarray(np.zeros((n, *shape), np.uint8))
    table = schema.make_table(
        np.arange(n),
        np.zeros((n, 28, 28), np.uint8),
        np.zeros(n, np.int64),
        source="synthetic",
        metadata=schema.file_metadata("mnist"),
        confidence=np.ones(n),
        generator="g",
    )
    table = table.set_column(
        table.schema.get_field_index("label"), schema.SCHEMA.field("label"), pa.array(np.asarray(labels, np.int8))
    )
    if shape != (28, 28):
        table = table.set_column(1, pa.field("image", images.type), images)
    return table.replace_schema_metadata({**table.schema.metadata, b"augment.schema_version": version.encode()})


@pytest.mark.parametrize(
    "make, fragment",
    [
        (
            lambda folder: (folder.mkdir(), pq.write_table(_synthetic_table([1, 2]), folder / "part-00000.parquet"))[
                -1
            ],
            "has no _manifest.json",
        ),
        (
            lambda folder: _write_synthetic(folder, _synthetic_table([1, 2], version="3")),
            "not augment schema v2 (found version 3)",
        ),
        (
            lambda folder: _write_synthetic(folder, _synthetic_table([1, 2]), manifest_version=3),
            "uses schema version 3; this augment reads versions 1 and 2",
        ),
        (
            lambda folder: _write_synthetic(folder, _version_1(_synthetic_table([1, 2])), manifest_version=1),
            "uses schema version 1; merging needs version 2: remake it",
        ),
        (lambda folder: _write_synthetic(folder, _synthetic_table([1, 12])), "has label 12: labels must be 0-9"),
        (lambda folder: _write_synthetic(folder, _synthetic_table([1, 2], shape=(32, 32))), "column 'image' is"),
        (lambda folder: _write_synthetic(folder, _synthetic_table([1]).slice(0, 0)), "is empty (0 rows)"),
    ],
    ids=["no-manifest", "schema-version", "manifest-version", "version-1", "label-out-of-range", "image-size", "empty"],
)
def test_bad_synthetic_input_is_one_line_and_writes_nothing(inputs, tmp_path, run_cli, make, fragment):
    _, real, _ = inputs
    bad = tmp_path / "bad"
    make(bad)
    out = tmp_path / "merged"
    result = run_cli("merge", "--real", real, "--synthetic", bad, "--out", out)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_an_existing_merge_is_not_overwritten_by_a_bad_input(inputs, tmp_path, run_cli):
    _, real, _ = inputs
    out = tmp_path / "merged"
    _merge(inputs, out, max_synthetic=100)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = _write_synthetic(tmp_path / "bad", _synthetic_table([3, 99]))
    result = run_cli("merge", "--real", real, "--synthetic", bad, "--out", out, "--overwrite")
    assert_one_line_error(result, "label 99")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
