"""Every output that holds rows, read as downstream teams read it: pyarrow, pandas, polars, duckdb,
Hugging Face `datasets` and Spark in a process that never imports Ray, and every snippet of every
dataset card run as written."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from augment.core import card
from augment.stages.merged import merge as merged_stage
from augment.stages.merged.config import MergedConfig
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig
from augment.stages.synthetic import generate as synthetic_stage
from augment.stages.synthetic.config import SyntheticConfig
from tests.fixtures import write_tiny_dataset, write_untrained_models

READER_SCRIPT = Path(__file__).with_name("read_without_ray.py")
SNIPPET_SCRIPT = Path(__file__).with_name("run_card_snippets.py")
CLASS_NAMES = [
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
]


@pytest.fixture(scope="module")
def outputs(ray_local, tmp_path_factory):
    """The tiny dataset and its three outputs that hold rows: export, synthetic (3 parts), merged."""
    root = tmp_path_factory.mktemp("outputs")
    tiny = write_tiny_dataset(root / "data", n_train=300, n_test=100)
    real_stage.run(RealConfig(out=str(root / "real"), data_root=str(tiny.root), download=False))
    gan, judge = write_untrained_models(root)
    synthetic_stage.run(
        SyntheticConfig(
            checkpoint=str(gan), judge=str(judge), n=500, out=str(root / "synthetic"), rows_per_file=200, workers=1
        )
    )
    merged_stage.run(
        MergedConfig(
            real=str(root / "real"), synthetic=str(root / "synthetic"), out=str(root / "merged"), max_synthetic=250
        )
    )
    return tiny, {name: root / name for name in ("real", "synthetic", "merged")}


def _truth(folder: Path) -> dict:
    """What every reader must see: the rows under train/ in (source, id) order, read with pyarrow here."""
    table = pq.read_table(folder / "train")
    sources = np.asarray(table["source"].cast(pa.string()).to_pylist(), dtype=str)
    order = np.lexsort((table["id"].to_numpy(), sources))
    images = table["image"].combine_chunks().to_numpy_ndarray()[order]
    labels = table["label"].to_numpy().astype(np.int64)[order]
    return {
        "rows": len(labels),
        "images": images,
        "labels": labels,
        "images_sha256": hashlib.sha256(images.tobytes()).hexdigest(),
        "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest(),
        "label_counts": np.bincount(labels, minlength=10).tolist(),
    }


def test_every_reader_reads_every_output_without_ray(outputs):
    tiny, folders = outputs
    proc = subprocess.run(
        [sys.executable, str(READER_SCRIPT), *map(str, folders.values())], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report.pop("ray_imported") is False

    # The export is the source data, image for image: checked against the IDX files, not a reader.
    assert _truth(folders["real"])["images_sha256"] == hashlib.sha256(tiny.train_images.tobytes()).hexdigest()
    expected_rows = {"real": 300, "synthetic": 500, "merged": 300 + 250}
    for name, folder in folders.items():
        truth, results = _truth(folder), report[str(folder)]
        assert truth["rows"] == expected_rows[name]
        assert set(results) == {"pyarrow", "pandas", "polars", "duckdb", "huggingface", "spark"}
        for reader, got in results.items():
            for key in ("rows", "images_sha256", "labels_sha256", "label_counts"):
                assert got[key] == truth[key], (name, reader, key)
        hf = results["huggingface"]
        assert hf["class_names"] == CLASS_NAMES and hf["image_feature"] == "Image"
        assert hf["splits"] == ({"train": 300, "test": 100} if name == "real" else {"train": truth["rows"]})
        assert hf["torch_image"] == [1, 28, 28]  # datasets formats images for torch channels-first
        spark = results["spark"]
        assert spark["types"] == {"image": "array<smallint>", "label": "tinyint"}
        assert spark["group_by"] == {str(k): n for k, n in enumerate(truth["label_counts"]) if n}


def _code_blocks(markdown: str) -> dict[str, str]:
    """{reader: code} of the card's Loading section (### reader, then one python block)."""
    return dict(re.findall(r"^### (.+?)\n\n```python\n(.*?)```", markdown, flags=re.S | re.M))


def test_every_snippet_of_every_card_runs_and_gives_the_folders_rows(outputs):
    _, folders = outputs
    expected = {
        "pyarrow",
        "pandas",
        "polars",
        "duckdb",
        "Hugging Face datasets",
        "Spark",
        "Ray Data",
        "torch DataLoader",
    }
    jobs = []
    for name, folder in folders.items():
        blocks = _code_blocks((folder / card.CARD_NAME).read_text())
        assert set(blocks) == expected, name
        for reader, code in blocks.items():
            assert f'folder = "{folder}"' in code  # runs as pasted: it names the folder it came with
            jobs.append(
                {
                    "output": name,
                    "reader": reader,
                    "code": code,
                    "result": str(folder.parent / f"snippet-{name}-{len(jobs)}.npz"),
                }
            )
    spec = folders["real"].parent / "snippets.json"
    spec.write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, str(SNIPPET_SCRIPT), str(spec)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    for job in jobs:
        truth = _truth(folders[job["output"]])
        got = np.load(job["result"])
        images, labels = got["images"], got["labels"].astype(np.int64)
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28) and len(images) == len(labels) > 0, job[
            "reader"
        ]
        # Some snippets read a sample (first 1,000 rows, one shuffled batch): every (image, label)
        # they give is one of the folder's rows, and a whole-folder read gives all of them.
        known = {(image.tobytes(), int(label)) for image, label in zip(truth["images"], truth["labels"])}
        assert all((image.tobytes(), int(label)) in known for image, label in zip(images, labels)), job
        assert len(images) == min(truth["rows"], 256 if job["reader"] == "torch DataLoader" else truth["rows"]), job


def test_cards_validate_as_hugging_face_dataset_cards_and_are_listed_before_the_manifest(outputs):
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    _, folders = outputs
    for name, folder in folders.items():
        text = (folder / card.CARD_NAME).read_text()
        data = DatasetCard(text).data  # huggingface_hub's parser (`.validate()` asks the Hub, offline here)
        assert isinstance(data, DatasetCardData)
        assert DatasetCardData(**data.to_dict()).to_dict() == data.to_dict()
        # How `datasets` itself reads the header: typed features and the config's data files.
        features = DatasetInfosDict.from_dataset_card_data(data)["default"].features
        assert isinstance(features["image_file"], datasets.Image) and isinstance(features["label"], datasets.ClassLabel)
        configs = MetadataConfigs.from_dataset_card_data(data)
        assert configs["default"]["data_files"][0]["split"] == "train"
        assert data.license == "mit" and data.task_categories == ["image-classification"]
        rows = pq.read_table(folder / "train", columns=["label"]).num_rows
        splits = {s["name"]: s["num_examples"] for s in data.dataset_info["splits"]}
        assert splits == ({"train": rows, "test": 100} if name == "real" else {"train": rows})
        features = {f["name"]: f["dtype"] for f in data.dataset_info["features"]}
        assert features["image_file"] == "image" and "image" not in features
        assert features["label"]["class_label"]["names"] == {str(k): n for k, n in enumerate(CLASS_NAMES)}
        assert data.configs[0]["columns"] == list(features)
        manifest = json.loads((folder / "_manifest.json").read_text())
        entry = next(f for f in manifest["files"] if f["path"] == card.CARD_NAME)
        assert entry["sha256"] == hashlib.sha256((folder / card.CARD_NAME).read_bytes()).hexdigest()
        assert (folder / "_manifest.json").stat().st_mtime_ns >= (folder / card.CARD_NAME).stat().st_mtime_ns
        assert "## How the rows were made" in text and "No report has measured" in text


def test_a_reports_figures_replace_the_quality_section_and_the_manifest_follows(outputs, tmp_path):
    _, folders = outputs
    import shutil

    folder = tmp_path / "synthetic"
    shutil.copytree(folders["synthetic"], folder)
    before = json.loads((folder / "_manifest.json").read_text())
    assert card.refresh_quality(str(folder), [("label fidelity", "97.10%"), ("CAS", "96.00%")])
    text = (folder / card.CARD_NAME).read_text()
    assert "| label fidelity | 97.10% |" in text and "No report has measured" not in text
    after = json.loads((folder / "_manifest.json").read_text())
    entry = next(f for f in after["files"] if f["path"] == card.CARD_NAME)
    assert entry["sha256"] == hashlib.sha256((folder / card.CARD_NAME).read_bytes()).hexdigest()
    assert {k: v for k, v in after.items() if k != "files"} == {k: v for k, v in before.items() if k != "files"}
    assert card.refresh_quality(str(folder), [("CAS", "98.00%")])  # again: replaced, not appended
    assert (folder / card.CARD_NAME).read_text().count("<!-- quality -->") == 1
    assert not card.refresh_quality(str(tmp_path / "nowhere"), [("CAS", "1%")])
