from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from augment.core import schema, storage
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig
from tests.conftest import assert_one_line_error, run_cli_process
from tests.fixtures import write_truncated_archives

# Port 9 on loopback refuses at once: a download that fails the same way on every machine.
UNREACHABLE_MIRROR = "http://127.0.0.1:9/"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_round_trips_every_image_and_label(tiny_mnist, tmp_path):
    out = tmp_path / "real"
    result = real_stage.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    fs, _ = storage.resolve(str(out))
    for split in ("train", "test"):
        table = schema.read_table(fs, str(out / split))
        np.testing.assert_array_equal(
            schema.images_to_numpy(table.column("image")), getattr(tiny_mnist, f"{split}_images")
        )
        np.testing.assert_array_equal(table.column("label").to_numpy(), getattr(tiny_mnist, f"{split}_labels"))
        np.testing.assert_array_equal(table.column("id").to_numpy(), np.arange(table.num_rows))
        assert set(table.column("source").to_pylist()) == {"real"}
        assert table.column("confidence").null_count == table.num_rows
        meta = schema.read_metadata(fs, str(out / split / "part-00000.parquet"))
        assert meta == {"schema_version": "2", "dataset": "mnist", "split": split}
    assert result.counts["train"].rows == 300 and result.counts["test"].rows == 100
    assert result.counts["train"].per_label == {label: 30 for label in range(10)}


def test_manifest_is_written_and_describes_the_files(tiny_mnist, tmp_path):
    out = tmp_path / "real"
    real_stage.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["stage"] == "real" and manifest["config"] == {"dataset": "mnist", "schema_version": 2}
    assert manifest["rows"] == {"train": 300, "test": 100}
    assert manifest["rows_per_label"]["test"] == {str(label): 10 for label in range(10)}
    for entry in manifest["files"]:
        path = out / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        if entry["path"].endswith(".parquet"):
            assert pq.read_metadata(path).num_rows == entry["rows"]
    assert sorted(f["path"] for f in manifest["files"]) == [
        "README.md",
        "test/part-00000.parquet",
        "train/part-00000.parquet",
    ]
    # Written last: nothing in the output is newer than the manifest.
    newest = max(p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "_manifest.json")
    assert (out / "_manifest.json").stat().st_mtime_ns >= newest


def test_cli_export_prints_rows_per_label(tiny_mnist, tmp_path, run_cli):
    result = run_cli("data", "export", "--dataset", "mnist", "--data-root", tiny_mnist.root, "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["split", "rows", *map(str, range(10))]
    assert lines[2].split() == ["train", "300", *["30"] * 10]
    assert lines[3].split() == ["test", "100", *["10"] * 10]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["README.md", "_manifest.json", "test", "train"]


def test_a_complete_output_is_skipped_another_dataset_refused_and_overwrite_replaces(tiny_mnist, tmp_path, run_cli):
    out = tmp_path / "o"
    real_stage.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    (out / "notes.txt").write_text("keep me")
    before = _snapshot(out)
    again = run_cli("data", "export", "--data-root", tiny_mnist.root, "--out", out)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("already exported with these settings (mnist, schema v2)")
    assert again.stdout.splitlines()[2].split() == ["train", "300", *["30"] * 10]  # the counts, from the manifest
    assert _snapshot(out) == before
    refused = run_cli("data", "export", "--data-root", tiny_mnist.root, "--out", out, "--dataset", "kmnist")
    assert_one_line_error(refused, str(out), "made with other settings (dataset)", "--overwrite")
    assert _snapshot(out) == before

    replaced = run_cli("data", "export", "--data-root", tiny_mnist.root, "--out", out, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert (out / "notes.txt").read_text() == "keep me"  # --overwrite removes only what export writes
    assert json.loads((out / "_manifest.json").read_text())["rows"] == {"train": 300, "test": 100}


def test_folder_with_foreign_data_is_refused(tiny_mnist, tmp_path, run_cli):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.csv").write_text("a,b\n")
    result = run_cli("data", "export", "--data-root", tiny_mnist.root, "--out", out)
    assert_one_line_error(result, "holds something other than a real output", "--overwrite")
    assert _snapshot(out) == {"precious.csv": b"a,b\n"}


def test_overwrite_with_bad_input_keeps_the_old_output(tiny_mnist, tmp_path, run_cli):
    out = tmp_path / "o"
    real_stage.run(RealConfig(out=str(out), data_root=str(tiny_mnist.root)))
    before = _snapshot(out)
    result = run_cli("data", "export", "--data-root", tmp_path / "nothing", "--out", out, "--overwrite", "--offline")
    assert_one_line_error(result, "files not found")
    assert _snapshot(out) == before


@pytest.mark.parametrize(
    "case",
    ["unknown-dataset", "data-root-is-file", "missing-offline", "missing-download-fails", "truncated-gz"],
)
def test_bad_input_is_one_line_nonzero_and_writes_nothing(tmp_path, run_cli, monkeypatch, case):
    out = tmp_path / "out"
    args = ["data", "export", "--out", out]
    env = {}
    if case == "unknown-dataset":
        args += ["--dataset", "cifar10"]
        expected = ["unknown --dataset 'cifar10'"]
    elif case == "data-root-is-file":
        (tmp_path / "root").write_text("not a folder")
        args += ["--data-root", tmp_path / "root"]
        expected = ["is a file, not a folder", str(tmp_path / "root")]
    elif case in ("missing-offline", "missing-download-fails"):
        args += ["--data-root", tmp_path / "root"]
        if case == "missing-offline":
            env["AUGMENT_OFFLINE"] = "1"
        else:
            import torchvision.datasets

            monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [UNREACHABLE_MIRROR])
        expected = [str(tmp_path / "root" / "MNIST" / "raw"), "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    else:
        write_truncated_archives(tmp_path / "root")
        args += ["--data-root", tmp_path / "root", "--offline"]
        expected = ["is corrupt", "train-images-idx3-ubyte.gz"]
    result = run_cli(*args, env=env)
    assert_one_line_error(result, *expected)
    assert not out.exists()
    assert not (tmp_path / "root" / "MNIST").exists() or case == "truncated-gz"


def test_a_real_process_shows_one_line_and_no_traceback(tmp_path):
    result = run_cli_process(
        "data",
        "export",
        "--data-root",
        tmp_path / "root",
        "--out",
        tmp_path / "out",
        prelude=f"import torchvision.datasets as d; d.MNIST.mirrors = [{UNREACHABLE_MIRROR!r}]; ",
    )
    assert_one_line_error(result, "could not be downloaded (download failed)", "train-labels-idx1-ubyte.gz")
    assert not (tmp_path / "out").exists() and not (tmp_path / "root").exists()
