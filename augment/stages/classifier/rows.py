"""The rows a classifier run trains on: which files and rows are selected (counted on the driver)
and the Ray Data pipeline that streams them to the trainers.

Only pyarrow and numpy here, never torch: Ray Data runs `select_batch` in worker processes it
starts and stops as an epoch's tasks come and go, and each new process imports this module.
Importing the training module (torch, Ray Train) cost ~2 s of CPU per process, several times per
epoch, taken from the trainers on a small machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augment.core import storage
from augment.core.datasets import NUM_CLASSES, Dataset
from augment.core.errors import AugmentError
from augment.stages.classifier.config import ClassifierConfig

DATA_TASK_CPUS = 0.25  # Ray Data's read/select tasks: small, so they fit beside the trainers


@dataclass(frozen=True)
class Selection:
    """The rows one run trains on: counted on the driver from the id/label/source columns."""

    rows: int
    per_source: dict[str, int]
    per_label: list[int]


def select_rows(cfg: ClassifierConfig, dataset: Dataset) -> Selection:
    fs, _ = storage.resolve(dataset.uri)
    table = pq.read_table(list(dataset.paths), filesystem=fs, columns=["id", "label", "source"])
    table = table.filter(_keep_mask(table, cfg.real_only, cfg.synthetic_only, cfg.max_synthetic))
    sources = table["source"].cast(pa.string()).to_numpy(zero_copy_only=False)
    per_source = {source: int((sources == source).sum()) for source in ("real", "synthetic")}
    per_label = np.bincount(table["label"].to_numpy().astype(np.int64), minlength=NUM_CLASSES).tolist()
    if table.num_rows < cfg.batch_size:
        raise AugmentError(
            f"--data {cfg.data}: {table.num_rows} rows selected for training, fewer than one batch ({cfg.batch_size})"
        )
    return Selection(table.num_rows, per_source, per_label)


def _keep_mask(table: pa.Table, real_only: bool, synthetic_only: bool, max_synthetic: int | None):
    synthetic = pc.equal(table["source"].cast(pa.string()), "synthetic")
    keep = pc.invert(synthetic) if real_only else synthetic if synthetic_only else pc.or_(synthetic, pc.invert(synthetic))
    if max_synthetic is not None:
        keep = pc.and_(keep, pc.or_(pc.invert(synthetic), pc.less(table["id"], max_synthetic)))
    return keep


def training_rows(cfg: ClassifierConfig, dataset: Dataset):
    """The Ray Data pipeline the trainers iterate: image (N, 28, 28) uint8 and label (and, with
    classic augmentation, what keys each row's draw), one block per Parquet row group.

    Read with pyarrow in our own tasks rather than `ray.data.read_parquet`: Ray 2.60's Parquet
    source lists the files in a 1-CPU task and reads their footers on a pool of new actors at the
    start of *every* execution, i.e. every epoch: several Python processes started per epoch, a
    few CPU-seconds each, taken from the trainers on a small machine. The row groups are listed
    once here, on the driver; the blocks still stream, in a new random order every epoch."""
    import ray

    units = [{"path": path, "row_group": group} for path, groups in row_groups(dataset, files_to_read(cfg, dataset))
             for group in range(groups)]
    rows = ray.data.from_items(units, override_num_blocks=len(units))
    rows = rows.map_batches(
        read_unit, batch_size=1, batch_format="pyarrow", num_cpus=DATA_TASK_CPUS,
        fn_kwargs={"uri": dataset.uri, "real_only": cfg.real_only, "synthetic_only": cfg.synthetic_only,
                   "max_synthetic": cfg.max_synthetic, "keys": cfg.classic_augment},
    )
    return rows.randomize_block_order()


def row_groups(dataset: Dataset, paths: list[str]) -> list[tuple[str, int]]:
    fs, _ = storage.resolve(dataset.uri)
    counts = []
    for path in paths:
        with fs.open_input_file(path) as handle:
            counts.append((path, pq.ParquetFile(handle).metadata.num_row_groups))
    return counts


def read_unit(unit: pa.Table, uri: str, real_only: bool, synthetic_only: bool, max_synthetic: int | None, keys: bool) -> pa.Table:
    """A Ray Data task: one row group's selected rows (only the columns used: `image_file`, the
    same pixels for Hugging Face, is never read here)."""
    fs, _ = storage.resolve(uri)
    path, group = unit["path"][0].as_py(), unit["row_group"][0].as_py()
    with fs.open_input_file(path) as handle:
        table = pq.ParquetFile(handle).read_row_group(group, columns=["id", "image", "label", "source"])
    return select_batch(table, real_only, synthetic_only, max_synthetic, keys)


def files_to_read(cfg: ClassifierConfig, dataset: Dataset) -> list[str]:
    """The dataset's files that can hold a selected row, so an epoch does not read the rest: a
    file whose rows are all of a source the run leaves out, or all synthetic with ids at or above
    --max-synthetic (CAS on 60,000 of a million generated rows read all million every epoch).
    Decided from each file's footer statistics and its `source` column; rows are still filtered."""
    fs, _ = storage.resolve(dataset.uri)
    keep = []
    for path in dataset.paths:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            sources = set(pc.unique(parquet.read(columns=["source"])["source"].cast(pa.string())).to_pylist())
            lowest = _lowest_id(parquet)
        if sources == {"synthetic"} and (cfg.real_only or (cfg.max_synthetic is not None and lowest is not None
                                                           and lowest >= cfg.max_synthetic)):
            continue
        if sources == {"real"} and cfg.synthetic_only:
            continue
        keep.append(path)
    return keep or list(dataset.paths)  # nothing selected at all is refused by select_rows, not here


def _lowest_id(parquet: pq.ParquetFile) -> int | None:
    column = parquet.schema_arrow.get_field_index("id")
    lows = []
    for group in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(stats.min)
    return min(lows) if lows else None


def select_batch(batch: pa.Table, real_only: bool, synthetic_only: bool, max_synthetic: int | None, keys: bool) -> pa.Table:
    """The rows this run trains on; with classic augmentation also what keys each row's draw."""
    kept = batch.filter(_keep_mask(batch, real_only, synthetic_only, max_synthetic))
    if not keys:
        return kept.select(["image", "label"])
    synthetic = pc.cast(pc.equal(kept["source"].cast(pa.string()), "synthetic"), pa.int8())
    return pa.table({"image": kept["image"], "label": kept["label"], "id": kept["id"], "synthetic": synthetic})
