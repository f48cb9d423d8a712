"""The dataset card (`README.md`) every output that holds rows carries: what a reader needs to load
and trust the folder without asking us.

Hugging Face's dataset-card format: a YAML header that `datasets.load_dataset(FOLDER)` and the Hub
read (configs -> data files and columns, dataset_info -> features and splits), then a body a person
reads: what the rows are, how they were made, how good they are (once a report measured it), and
how to load them with each common reader. The card is written before `_manifest.json` and listed in
it; `refresh_quality` rewrites only the quality section and then the manifest, still manifest-last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import yaml
from pyarrow import fs as pafs

from augment.core import manifest, schema, storage

CARD_NAME = "README.md"
_QUALITY_START, _QUALITY_END = "<!-- quality -->", "<!-- /quality -->"
_NO_QUALITY = "No report has measured these rows yet (`augment report --synthetic FOLDER`)."

# The licence each source dataset is distributed under (as its Hugging Face Hub copy states it).
LICENSES = {"mnist": "mit", "fashion-mnist": "mit", "kmnist": "cc-by-sa-4.0"}


@dataclass(frozen=True)
class Split:
    name: str  # "train" or "test": the folder the rows live in, and the split's name for readers
    rows: int
    bytes: int  # Parquet bytes on storage


@dataclass(frozen=True)
class Card:
    title: str
    summary: str  # what the rows are, in a paragraph
    dataset: str  # the real dataset the rows come from or imitate
    classes: list[str]
    splits: list[Split]
    provenance: list[tuple[str, str]]  # how the rows were made: (what, value) rows of a table
    rows_per_label: dict[str, dict[int, int]]  # split or source -> label -> rows
    uri: str  # where the folder lives: the loading snippets start from it
    quality: list[tuple[str, str]] = field(default_factory=list)


def split_bytes(files: list[dict], split: str) -> int:
    return sum(f["bytes"] for f in files if f["path"].startswith(f"{split}/") and f["path"].endswith(".parquet"))


def size_category(rows: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ):
        if rows < limit:
            return name
    return "100M<n<1B"


def header(card: Card) -> dict:
    """The YAML metadata, as `huggingface_hub.DatasetCardData` understands it."""
    return {
        "license": LICENSES.get(card.dataset, "other"),
        "task_categories": ["image-classification"],
        "size_categories": [size_category(sum(s.rows for s in card.splits))],
        "pretty_name": card.title,
        "tags": [
            "augment",
            "synthetic" if any("synthetic" in k for k in card.rows_per_label) else "real",
            card.dataset,
        ],
        "configs": [
            {
                "config_name": "default",
                # `datasets` refuses a file holding an Arrow extension type even when it is not asked
                # for; naming the columns keeps `image` (the tensor for Arrow readers) away from it.
                "columns": list(schema.HF_COLUMNS),
                "data_files": [{"split": s.name, "path": f"{s.name}/**/*.parquet"} for s in card.splits],
            }
        ],
        "dataset_info": {
            "features": schema.hf_features(card.classes),
            "splits": [{"name": s.name, "num_bytes": s.bytes, "num_examples": s.rows} for s in card.splits],
            "download_size": sum(s.bytes for s in card.splits),
            "dataset_size": sum(s.bytes for s in card.splits),
        },
    }


# Loading snippets, one per reader, formatted with the folder's split path (`rows`) and `split`.
RECIPES = {
    "pyarrow": """import pyarrow.parquet as pq
table = pq.read_table({rows}, columns=["image", "label"])
images = table["image"].combine_chunks().to_numpy_ndarray()     # (N, 28, 28) uint8, one copy
labels = table["label"].to_numpy()
""",
    "pandas": """import numpy as np
import pandas as pd
df = pd.read_parquet({rows}, columns=["image", "label"])         # image: one (784,) array per row
images = np.stack(df["image"].to_numpy()).reshape(-1, 28, 28)
labels = df["label"].to_numpy()
""",
    "polars": """import polars as pl
df = pl.read_parquet({rows} + "/**/*.parquet", columns=["image", "label"])
images = df["image"].to_numpy().reshape(-1, 28, 28)              # polars gives (N, 784)
labels = df["label"].to_numpy()
""",
    "duckdb": """import duckdb
import pyarrow as pa
print(duckdb.sql(f"SELECT label, count(*) AS rows FROM '{{folder}}/{split}/**/*.parquet' GROUP BY label "
                 "ORDER BY label"))
table = pa.table(duckdb.sql(f"SELECT image, label FROM '{{folder}}/{split}/**/*.parquet'").arrow())
images = table["image"].combine_chunks().flatten().to_numpy().reshape(-1, 28, 28)  # image is UTINYINT[]
labels = table["label"].to_numpy()
""",
    "Hugging Face datasets": """from datasets import load_dataset
ds = load_dataset(folder, split="{split}")                         # this card's config: every column but `image`
print(ds.features["label"].names)                                # ClassLabel with the class names
first = ds.with_format("numpy")[:1000]                           # image_file decodes to (28, 28) uint8
images, labels = first["image_file"], first["label"]
# ds.with_format("torch") gives tensors; ds.push_to_hub("you/name") publishes it, card included.
""",
    "Spark": """import numpy as np
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[2]").getOrCreate()
df = spark.read.option("recursiveFileLookup", "true").parquet({rows})  # image: array<short> of 784
df.groupBy("label").count().orderBy("label").show()
rows = df.select("image", "label").limit(1000).collect()
images = np.array([r.image for r in rows], dtype=np.uint8).reshape(-1, 28, 28)
labels = np.array([r.label for r in rows])
""",
    "Ray Data": """import ray
ds = ray.data.read_parquet({rows}).select_columns(["image", "label"])  # image: (B, 28, 28) uint8 batches
batch = ds.take_batch(1000)
images, labels = batch["image"], batch["label"]
""",
    "torch DataLoader": """import pyarrow.parquet as pq
import torch
table = pq.read_table({rows}, columns=["image", "label"])
dataset = torch.utils.data.TensorDataset(
    torch.from_numpy(table["image"].combine_chunks().to_numpy_ndarray()),
    torch.from_numpy(table["label"].to_numpy().astype("int64")),
)
loader = torch.utils.data.DataLoader(dataset, batch_size=256, shuffle=True)
images, labels = next(iter(loader))                              # (256, 28, 28) uint8, (256,) int64
""",
}


def recipes(uri: str, split: str = "train") -> dict[str, str]:
    """Loading snippets, one per reader. Each one runs alone and leaves `images` ((n, 28, 28) uint8)
    and `labels` (n) for some or all of the split's rows (tests/test_cards.py runs every one)."""
    start = f"folder = {json.dumps(uri)}\n"
    rows = f'folder + "/{split}"'
    return {reader: start + template.format(rows=rows, split=split) for reader, template in RECIPES.items()}


def _table(rows: list[tuple[str, str]]) -> str:
    return "| | |\n| --- | --- |\n" + "".join(f"| {what} | {value} |\n" for what, value in rows)


def _quality_section(quality: list[tuple[str, str]]) -> str:
    return f"{_QUALITY_START}\n{_table(quality) if quality else _NO_QUALITY}\n{_QUALITY_END}"


def render(card: Card) -> str:
    names = card.classes
    labels = sorted({label for counts in card.rows_per_label.values() for label in counts})
    counts = "| label | " + " | ".join(card.rows_per_label) + " |\n"
    counts += "| --- |" + " --- |" * len(card.rows_per_label) + "\n"
    for label in labels:
        counts += (
            f"| {label} ({names[label]}) | "
            + " | ".join(f"{per.get(label, 0):,}" for per in card.rows_per_label.values())
            + " |\n"
        )
    columns = "\n".join(f"- `{name}`: {text}" for name, text in _COLUMN_TEXT.items())
    snippets = "\n".join(f"### {reader}\n\n```python\n{code}```\n" for reader, code in recipes(card.uri).items())
    splits = ", ".join(f"`{s.name}` ({s.rows:,} rows, {s.bytes / 1e6:,.1f} MB)" for s in card.splits)
    return (
        "---\n" + yaml.safe_dump(header(card), sort_keys=False, allow_unicode=True) + "---\n\n"
        f"# {card.title}\n\n{card.summary}\n\nSplits: {splits}. Written by augment "
        f"(Parquet schema version {schema.SCHEMA_VERSION}); `_manifest.json` beside this card lists every file with "
        "its sha256, "
        "and a folder without it is incomplete.\n\n"
        f"## Columns\n\n{columns}\n\n## Rows per label\n\n{counts}\n"
        f"## How the rows were made\n\n{_table(card.provenance)}\n"
        f"## Quality\n\n{_quality_section(card.quality)}\n\n"
        f"## Loading\n\nEvery snippet runs as is and leaves `images` ((n, 28, 28) uint8) and `labels`.\n\n{snippets}"
    )


_COLUMN_TEXT = {
    "id": "int64; real rows: index in their split, synthetic rows: the generation index, which alone fixes the row. "
    "`(source, id)` is the key",
    "image": "28×28 uint8 pixels as Arrow's canonical fixed-shape tensor "
    "(pyarrow, pandas, polars, duckdb, Spark, Ray Data)",
    "image_file": "the same pixels as a PGM file: Hugging Face's `Image` feature (`datasets`, the Hub viewer)",
    "label": "class 0–9 (a `ClassLabel` in `datasets`)",
    "source": "`real` or `synthetic`",
    "confidence": "the judge classifier's probability of `label` (synthetic rows; null for real ones)",
    "generator": "sha256 of the generator checkpoint (synthetic rows; null for real ones)",
}


def write_card(fs: pafs.FileSystem, folder: str, card: Card) -> dict:
    """Write README.md atomically; returns its manifest file entry. Call it before the manifest."""
    storage.write_bytes_atomic(fs, storage.join(folder, CARD_NAME), render(card).encode())
    return manifest.file_entry(fs, folder, CARD_NAME, rows=0)


def refresh_quality(uri: str, quality: list[tuple[str, str]]) -> bool:
    """Put a report's figures into an existing output's card, then rewrite its manifest's entry for
    it (manifest last). False when the folder has no card or no manifest (left alone)."""
    fs, folder = storage.resolve(uri)
    done = manifest.read_manifest(fs, folder)
    path = storage.join(folder, CARD_NAME)
    if done is None or storage.file_type(fs, path) != pafs.FileType.File:
        return False
    text = storage.read_bytes(fs, path).decode()
    start, end = text.find(_QUALITY_START), text.find(_QUALITY_END)
    if start < 0 or end < start:
        return False
    text = text[:start] + _quality_section(quality) + text[end + len(_QUALITY_END) :]
    storage.write_bytes_atomic(fs, path, text.encode())
    entry = manifest.file_entry(fs, folder, CARD_NAME, rows=0)
    done["files"] = [entry if f["path"] == CARD_NAME else f for f in done["files"]]
    storage.write_bytes_atomic(
        fs, storage.join(folder, manifest.MANIFEST_NAME), json.dumps(done, indent=2, sort_keys=True).encode()
    )
    return True
