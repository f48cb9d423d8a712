"""The `real/` stage: a real dataset's train and test splits as schema-v1 Parquet."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from augment import data, manifest, schema, storage
from augment.config import ExportConfig
from augment.schema import LabelCounts


@dataclass(frozen=True)
class ExportResult:
    out: str
    counts: dict[str, LabelCounts]  # split -> rows per label
    seconds: float


def split_file(split: str) -> str:
    """Where a split lives inside an export folder (MNIST-sized splits fit one file)."""
    return f"{split}/part-00000.parquet"


def export_real(cfg: ExportConfig) -> ExportResult:
    started = time.perf_counter()
    fs, out = storage.resolve(cfg.out)
    data.check_dataset(cfg.dataset)
    data.resolve_data_root(cfg.data_root)
    manifest.refuse_occupied(fs, out, uri=cfg.out, overwrite=cfg.overwrite)
    # Load everything before touching the output: bad data must leave the old output intact.
    splits = {name: data.load_split(cfg.dataset, name, cfg.data_root, download=cfg.download) for name in data.SPLITS}

    storage.check_writable(cfg.out)
    manifest.clear_output(fs, out, owned=data.SPLITS)
    files, counts = [], {}
    for name, split in splits.items():
        rows = len(split.labels)
        table = schema.make_table(
            np.arange(rows),
            split.images,
            split.labels,
            source="real",
            metadata=schema.file_metadata(cfg.dataset, split=name),
        )
        schema.write_parquet(table, fs, storage.join(out, split_file(name)))
        files.append(manifest.file_entry(fs, out, split_file(name), rows))
        counts[name] = LabelCounts.of(split.labels)

    seconds = time.perf_counter() - started
    manifest.write_manifest(
        fs,
        out,
        stage="real",
        config=cfg.identity(),
        files=files,
        rows={name: c.rows for name, c in counts.items()},
        rows_per_label={name: c.per_label for name, c in counts.items()},
        classes=list(splits["train"].classes),
        elapsed_s=round(seconds, 3),
    )
    return ExportResult(out=cfg.out, counts=counts, seconds=seconds)
