"""The rows a classifier run trains on: which files and rows are selected (counted on the driver)
and the Ray Data pipeline that streams them to the trainers.

Only pyarrow and numpy here, never torch: Ray Data runs `read_unit` in worker processes it starts
and stops as an epoch's tasks come and go, and each new process imports this module. Importing
the training module (torch, Ray Train) cost ~2 s of CPU per process, several times per epoch,
taken from the trainers on a small machine.

Fresh synthetic rows (`synthetic_per_epoch` S): every epoch trains on the selected real rows and
the next S rows of the synthetic pool (the synthetic rows selected, in id order), wrapping around,
so a budget of several epochs draws new synthetic rows instead of repeating the same ones, and the
real : synthetic ratio of every epoch stays fixed however large the pool is. Without it an epoch
is every selected row, as in any dataset.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augment.core import storage
from augment.core.datasets import NUM_CLASSES, Dataset
from augment.core.errors import AugmentError
from augment.stages.classifier.config import ClassifierConfig

DATA_TASK_CPUS = 0.25  # Ray Data's read/select tasks: small, so they fit beside the trainers
NO_ID = 0  # an id range [lo, hi) with lo == hi keeps no synthetic row
EVERY_ID = 2**62


@dataclass(frozen=True)
class Selection:
    """The rows one run trains on, per epoch: counted on the driver from the id/label/source columns."""

    rows: int  # per epoch
    per_source: dict[str, int]  # per epoch
    per_label: list[int]  # per epoch (the first epoch's, with fresh synthetic rows)
    # With fresh synthetic rows: the pool's ids, sorted; epoch e reads window(e) of them.
    pool_ids: np.ndarray | None = field(default=None, compare=False, repr=False)
    per_epoch: int = 0  # synthetic rows per epoch when pool_ids is set

    @property
    def fresh(self) -> bool:
        return self.pool_ids is not None

    @property
    def pool(self) -> int:
        """Synthetic rows the run can draw from."""
        return len(self.pool_ids) if self.fresh else self.per_source["synthetic"]

    def synthetic_read(self, epochs: int) -> int:
        """Distinct synthetic rows `epochs` epochs read."""
        return min(self.pool, self.per_epoch * epochs) if self.fresh else self.pool


def select_rows(cfg: ClassifierConfig, dataset: Dataset) -> Selection:
    fs, _ = storage.resolve(dataset.uri)
    table = pq.read_table(list(dataset.paths), filesystem=fs, columns=["id", "label", "source"])
    table = table.filter(_keep_mask(table, cfg))
    synthetic = table["source"].cast(pa.string()).to_numpy(zero_copy_only=False) == "synthetic"
    labels = table["label"].to_numpy().astype(np.int64)
    real_labels = np.bincount(labels[~synthetic], minlength=NUM_CLASSES)
    selection = Selection(
        int(len(labels)),
        {"real": int((~synthetic).sum()), "synthetic": int(synthetic.sum())},
        (real_labels + np.bincount(labels[synthetic], minlength=NUM_CLASSES)).tolist(),
    )
    if cfg.synthetic_per_epoch is not None and synthetic.any():
        ids = table["id"].to_numpy()[synthetic]
        order = np.argsort(ids, kind="stable")
        pool_ids, pool_labels = ids[order], labels[synthetic][order]
        first = np.concatenate([np.arange(a, b) for a, b in window(1, cfg.synthetic_per_epoch, len(pool_ids))])
        per_label = real_labels + np.bincount(pool_labels[first], minlength=NUM_CLASSES)
        real = selection.per_source["real"]
        selection = Selection(
            real + cfg.synthetic_per_epoch,
            {"real": real, "synthetic": cfg.synthetic_per_epoch},
            per_label.tolist(),
            pool_ids,
            cfg.synthetic_per_epoch,
        )
    if selection.rows < cfg.batch_size:
        raise AugmentError(
            f"--data {cfg.data}: {selection.rows} rows selected for training, fewer than one batch ({cfg.batch_size})"
        )
    return selection


def window(epoch: int, per_epoch: int, pool: int) -> list[tuple[int, int]]:
    """Positions [a, b) in the pool that epoch `epoch` (from 1) reads: the `per_epoch` after the
    previous epoch's, wrapping around (a pool smaller than an epoch is read more than once)."""
    position, remaining, spans = (epoch - 1) * per_epoch % pool, per_epoch, []
    while remaining:
        take = min(remaining, pool - position)
        spans.append((position, position + take))
        remaining, position = remaining - take, 0
    return spans


def _keep_mask(table: pa.Table, cfg: ClassifierConfig):
    synthetic = pc.equal(table["source"].cast(pa.string()), "synthetic")
    real = pc.invert(synthetic)
    if cfg.real_ids_below() is not None:  # the validation rows are never trained on
        real = pc.and_(real, pc.less(table["id"], cfg.real_ids_below()))
    keep = real if cfg.real_only else synthetic if cfg.synthetic_only else pc.or_(synthetic, real)
    if cfg.max_synthetic is not None:
        keep = pc.and_(keep, pc.or_(pc.invert(synthetic), pc.less(table["id"], cfg.max_synthetic)))
    return keep


@dataclass(frozen=True)
class RowGroup:
    path: str
    index: int
    sources: frozenset[str]  # of the whole file
    ids: tuple[int, int] | None  # lowest and highest id, from the footer (None: no statistics)


def row_group_index(dataset: Dataset) -> list[RowGroup]:
    """Every row group of the dataset with what its file's footer and `source` column say."""
    fs, _ = storage.resolve(dataset.uri)
    groups = []
    for path in dataset.paths:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            sources = frozenset(pc.unique(parquet.read(columns=["source"])["source"].cast(pa.string())).to_pylist())
            column = parquet.schema_arrow.get_field_index("id")
            for index in range(parquet.metadata.num_row_groups):
                stats = parquet.metadata.row_group(index).column(column).statistics
                ids = (stats.min, stats.max) if stats is not None and stats.has_min_max else None
                groups.append(RowGroup(path, index, sources, ids))
    return groups


def files_to_read(cfg: ClassifierConfig, dataset: Dataset) -> list[str]:
    """The dataset's files that can hold a selected row, so an epoch does not read the rest: a
    file whose rows are all of a source the run leaves out, or all synthetic with ids at or above
    --max-synthetic (CAS on 60,000 of a million generated rows read all million every epoch).
    Decided from each file's footer statistics and its `source` column; rows are still filtered."""
    units = _units(cfg, row_group_index(dataset), [(0, cfg.max_synthetic or EVERY_ID, 1)])
    return list(dict.fromkeys(unit["path"] for unit in units)) or list(dataset.paths)


def _units(cfg: ClassifierConfig, groups: list[RowGroup], id_spans: list[tuple[int, int, int]]) -> list[dict]:
    """One read task per row group and id span: real rows kept or not, synthetic ids in [lo, hi)
    repeated `repeat` times (a pool an epoch wraps around more than once is read once)."""
    units = []
    if not cfg.synthetic_only:
        units += [
            {"path": g.path, "row_group": g.index, "real": True, "lo": NO_ID, "hi": NO_ID, "repeat": 1}
            for g in groups
            if "real" in g.sources
        ]
    if not cfg.real_only:
        for lo, hi, repeat in id_spans:
            units += [
                {"path": g.path, "row_group": g.index, "real": False, "lo": lo, "hi": hi, "repeat": repeat}
                for g in groups
                if "synthetic" in g.sources and (g.ids is None or (g.ids[0] < hi and g.ids[1] >= lo))
            ]
    return units


def training_rows(
    cfg: ClassifierConfig,
    dataset: Dataset,
    selection: Selection,
    epoch: int | None = None,
    groups: list[RowGroup] | None = None,
):
    """The Ray Data pipeline the trainers iterate (one epoch of it, given `epoch`, with fresh
    synthetic rows): image (N, 28, 28) uint8 and label (and, with classic augmentation or a synthetic
    weight, each row's id and source), one block per Parquet row group and id span.

    Read with pyarrow in our own tasks rather than `ray.data.read_parquet`: Ray 2.60's Parquet
    source lists the files in a 1-CPU task and reads their footers on a pool of new actors at the
    start of *every* execution, i.e. every epoch: several Python processes started per epoch, a
    few CPU-seconds each, taken from the trainers on a small machine. The row groups are listed
    once, on the driver; the blocks still stream, in a new order every epoch drawn from the run's
    seed."""
    import ray
    from ray.data import RandomSeedConfig

    units = epoch_units(cfg, selection, row_group_index(dataset) if groups is None else groups, epoch or 1)
    rows = ray.data.from_items(units, override_num_blocks=len(units))
    rows = rows.map_batches(
        read_unit,
        batch_size=1,
        batch_format="pyarrow",
        num_cpus=DATA_TASK_CPUS,
        fn_kwargs={"uri": dataset.uri, "keys": cfg.flags_sources(), "real_below": cfg.real_ids_below() or EVERY_ID},
    )
    # Seeded, and reseeded by Ray at every execution (every epoch of one dataset): a new block order
    # each epoch that is the same in every training of the same run (with the ingest's
    # preserve_order, core/ray_train.py: blocks leave in plan order, not in read-completion order).
    return rows.randomize_block_order(seed=RandomSeedConfig(seed=cfg.seed * 1_000 + (epoch or 0)))


def epoch_units(cfg: ClassifierConfig, selection: Selection, groups: list[RowGroup], epoch: int) -> list[dict]:
    """The read tasks of one epoch: every selected row, or with fresh synthetic rows the real rows
    and the epoch's window of the pool (as id spans: the pool's ids are sorted). A window that wraps
    around a small pool repeats spans (10,000 rows in a 55,000-row share: five whole passes): each
    distinct span is one task that reads its row groups once and repeats the rows, instead of
    decoding the same 65,536-row group six times an epoch (~0.8 s of a core each, Zen 3)."""
    if selection.fresh:
        ids = selection.pool_ids
        spans = [(int(ids[a]), int(ids[b - 1]) + 1) for a, b in window(epoch, selection.per_epoch, len(ids))]
    else:
        spans = [(0, cfg.max_synthetic or EVERY_ID)]
    return _units(cfg, groups, [(lo, hi, repeat) for (lo, hi), repeat in Counter(spans).items()])


def read_unit(unit: pa.Table, uri: str, keys: bool, real_below: int = EVERY_ID) -> pa.Table:
    """A Ray Data task: one row group's selected rows (only the columns used: `image_file`, the
    same pixels for Hugging Face, is never read here)."""
    fs, _ = storage.resolve(uri)
    path, group = unit["path"][0].as_py(), unit["row_group"][0].as_py()
    with fs.open_input_file(path) as handle:
        table = pq.ParquetFile(handle).read_row_group(group, columns=["id", "image", "label", "source"])
    real, repeat = unit["real"][0].as_py(), unit["repeat"][0].as_py()
    kept = select_batch(table, real, unit["lo"][0].as_py(), unit["hi"][0].as_py(), keys, real_below)
    return kept if repeat == 1 else pa.concat_tables([kept] * repeat)  # the same buffers, not copies


def select_batch(batch: pa.Table, real: bool, lo: int, hi: int, keys: bool, real_below: int = EVERY_ID) -> pa.Table:
    """The rows of `batch` a unit trains on (real rows with ids below `real_below` if `real`,
    synthetic ids in [lo, hi)); with classic augmentation also what keys each row's draw."""
    synthetic = pc.equal(batch["source"].cast(pa.string()), "synthetic")
    in_span = pc.and_(pc.greater_equal(batch["id"], lo), pc.less(batch["id"], hi))
    trained_real = pc.and_(pc.invert(synthetic), pc.less(batch["id"], real_below))
    kept = batch.filter(pc.or_(pc.and_(synthetic, in_span), pc.and_(trained_real, pa.scalar(real))))
    if not keys:
        return kept.select(["image", "label"])
    flag = pc.cast(pc.equal(kept["source"].cast(pa.string()), "synthetic"), pa.int8())
    return pa.table({"image": kept["image"], "label": kept["label"], "id": kept["id"], "synthetic": flag})
