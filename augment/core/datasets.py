"""Opening augment datasets (schema v1 or v2) for reading: which files a stage's output holds, and whether they
are fit to train on.

Merge, retrain and evaluate read through `open_dataset`, so every reader refuses the same things
with the same one-line errors: an output without a manifest (incomplete), a schema version we do
not know, images of the wrong size, labels outside 0-9, an empty dataset. A `real/` export holds
both splits; only its train split is ever handed out here, so the test split cannot reach a
training set by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from augment.core import manifest, schema, storage
from augment.core.errors import AugmentError

NUM_CLASSES = 10
TRAINABLE_STAGES = ("real", "synthetic", "merged")


@dataclass(frozen=True)
class Dataset:
    uri: str
    stage: str
    paths: tuple[str, ...]  # full paths of the Parquet files, in manifest order
    schema_version: int
    rows: int
    rows_per_label: dict[int, int]
    manifest: dict


def open_dataset(uri: str, *, what: str, stages: tuple[str, ...] = TRAINABLE_STAGES) -> Dataset:
    fs, folder = storage.resolve(uri)
    if storage.file_type(fs, folder).name != "Directory":
        raise AugmentError(f"{what} {uri} does not exist (or is not a folder)")
    found = manifest.read_manifest(fs, folder)
    if found is None:
        raise AugmentError(
            f"{what} {uri} has no {manifest.MANIFEST_NAME}: it is incomplete (interrupted or still running) or not "
            "an augment output"
        )
    stage = found.get("stage")
    if stage not in stages:
        raise AugmentError(f"{what} {uri} is a {stage} output; expected one of: {', '.join(stages)}")
    version = found.get("schema_version")
    if version not in schema.READABLE_VERSIONS:
        readable = " and ".join(str(v) for v in schema.READABLE_VERSIONS)
        raise AugmentError(f"{what} {uri} uses schema version {version}; this augment reads versions {readable}")
    relative = [f["path"] for f in found["files"] if f["path"].endswith(".parquet")]
    if stage == "real":
        relative = [p for p in relative if p.startswith("train/")]
    paths = tuple(storage.join(folder, p) for p in relative)
    labels = []
    for path in paths:
        if storage.file_type(fs, path).name != "File":
            raise AugmentError(f"{what} {uri}: {path} is listed in the manifest but missing")
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            schema.check_schema(parquet.schema_arrow, where=f"{what} {path}", versions=(version,))
            split = (parquet.schema_arrow.metadata or {}).get(f"{schema.META_PREFIX}split".encode())
            if split == b"test":
                raise AugmentError(f"{what} {path} holds a test split: test data is never trained on")
            labels.append(parquet.read(columns=["label"])["label"])
    rows = sum(len(column) for column in labels)
    if rows == 0:
        raise AugmentError(f"{what} {uri} is empty (0 rows)")
    values = np.concatenate([column.to_numpy() for column in labels])
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= NUM_CLASSES:
        bad = low if low < 0 else high
        raise AugmentError(f"{what} {uri} has label {bad}: labels must be 0-{NUM_CLASSES - 1}")
    counts = np.bincount(values.astype(np.int64), minlength=NUM_CLASSES)
    return Dataset(uri, stage, paths, version, rows, {c: int(counts[c]) for c in range(NUM_CLASSES)}, found)
