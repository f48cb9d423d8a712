"""The `merged/` stage: run(cfg) puts the real training split and synthetic rows in one dataset.

Layout: `MERGED/train/real/part-*.parquet` and `MERGED/train/synthetic/part-*.parquet`, then the
dataset card `README.md`, then `_manifest.json`. pyarrow and Ray Data (`MERGED/train`), duckdb
(`MERGED/train/**/*.parquet`) and Hugging Face (`load_dataset(MERGED)`) read it as one table; the
`source` column tells the rows apart, (source, id) is the key.

Nothing is re-encoded that need not be: whole files are hard-linked on local disk (copied
server-side on object stores). Synthetic ids are generation indices and any prefix 0..K-1 is
class-balanced within a few rows (see sampling.py), so "K synthetic rows" means whole parts plus one part cut at K;
only that one part and a low-data real subset are rewritten. The real test split is never read.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augment.core import card, mnist, schema, storage
from augment.core.datasets import NUM_CLASSES, Dataset, open_dataset
from augment.core.errors import AugmentError, require
from augment.core.per_class import PerClass, describe_per_class, recorded
from augment.core.stage import Made, Output, finished_output, run_stage
from augment.stages.merged.config import FOLDER, MergedConfig

KIND = FOLDER  # the manifest's kind: the stage's name
ROWS_FOLDER = "train"
# "real" and "synthetic" held the rows before schema v2: an --overwrite removes them too.
OWNED = (ROWS_FOLDER, card.CARD_NAME, "real", "synthetic")


@dataclass(frozen=True)
class MergedResult:
    out: str
    real_rows: int
    synthetic_rows: int
    rows_per_label: dict[str, dict[int, int]]  # source -> label -> rows
    seconds: float
    skipped: bool

    @property
    def summary(self) -> str:
        return f"{self.real_rows:,} real + {self.synthetic_rows:,} synthetic rows"


class MergedStage:
    """The merge, as the stage contract (core/stage.py) sees it; its inputs are opened once, by identity()."""

    KIND, OWNED, CONTINUES = KIND, OWNED, False

    def identity(self, cfg: MergedConfig) -> dict:
        self.real = open_dataset(cfg.real, what="--real", stages=("real",))
        self.synthetic = open_dataset(cfg.synthetic, what="--synthetic", stages=("synthetic",))
        for option, dataset in (("--real", self.real), ("--synthetic", self.synthetic)):
            require(
                dataset.schema_version == schema.SCHEMA_VERSION,
                f"{option} {dataset.uri} uses schema version {dataset.schema_version}; merging needs version "
                f"{schema.SCHEMA_VERSION}: remake it with this augment (the same command, --overwrite)",
            )
        self.real_ids = _real_selection(self.real, cfg.real_per_class)
        self.real_rows = self.real.rows if self.real_ids is None else len(self.real_ids)
        self.synthetic_rows = _synthetic_rows(cfg, self.real_rows, self.synthetic.rows)
        return {
            "real": self.real.manifest["config_digest"],
            "real_files": [f["sha256"] for f in self.real.manifest["files"] if f["path"].endswith(".parquet")],
            "synthetic": self.synthetic.manifest["config_digest"],
            "synthetic_rows": self.synthetic_rows,
            "real_per_class": recorded(cfg.real_per_class),
            "schema_version": schema.SCHEMA_VERSION,
        }

    def finished(self, cfg: MergedConfig, output: Output) -> dict | None:
        return finished_output(cfg, output, KIND)

    def from_manifest(self, cfg: MergedConfig, done: dict) -> MergedResult:
        return MergedResult(cfg.out, done["rows"]["real"], done["rows"]["synthetic"], _counts(done), 0.0, skipped=True)

    def work(self, cfg: MergedConfig, output: Output) -> Made[MergedResult]:
        started = time.perf_counter()
        output.start()
        fs, out = output.fs, output.path
        files = _merge_real(fs, out, self.real, self.real_ids) + _merge_synthetic(
            fs, out, self.synthetic, self.synthetic_rows
        )
        per_source = {source: [0] * NUM_CLASSES for source in schema.SOURCES}
        for entry in files:
            for label, rows in enumerate(entry.pop("per_label")):
                per_source[entry["path"].split("/")[1]][label] += rows
        entries = [output.entry(entry["path"], entry["rows"]) for entry in files]
        real_rows, synthetic_rows = self.real_rows, self.synthetic_rows
        facts = {
            "rows": {"real": real_rows, "synthetic": synthetic_rows, "total": real_rows + synthetic_rows},
            "rows_per_label": {
                source: {str(c): n for c, n in enumerate(counts)} for source, counts in per_source.items()
            },
            "sources": {"real": cfg.real, "synthetic": cfg.synthetic},
        }
        counts = {source: dict(enumerate(counts)) for source, counts in per_source.items()}
        result = MergedResult(cfg.out, real_rows, synthetic_rows, counts, time.perf_counter() - started, skipped=False)
        return Made(result, entries, facts, card=_card(cfg, self.real, self.synthetic, per_source, entries))


def run(cfg: MergedConfig) -> MergedResult:
    return run_stage(MergedStage(), cfg)


def _card(
    cfg: MergedConfig, real: Dataset, synthetic: Dataset, per_source: dict[str, list[int]], files: list[dict]
) -> card.Card:
    dataset = real.manifest.get("config", {}).get("dataset", "mnist")
    rows = {source: sum(counts) for source, counts in per_source.items()}
    if cfg.real_per_class is None:
        real_rows = f"all {rows['real']:,} train rows"
    elif isinstance(cfg.real_per_class, int):
        real_rows = f"the first {cfg.real_per_class:,} train images of each class ({rows['real']:,} rows)"
    else:
        per_class = describe_per_class(cfg.real_per_class)
        real_rows = f"the first {per_class} train images of classes 0, 1, … in turn ({rows['real']:,} rows)"
    return card.Card(
        title=f"{dataset} + synthetic digits ({rows['real']:,} real + {rows['synthetic']:,} synthetic, augment)",
        summary=f"A training set: real {dataset} train rows and synthetic rows in one table; the `source` column "
        "tells them apart and `(source, id)` is the key. The real test split is not here: "
        "evaluate on it.",
        dataset=dataset,
        classes=list(real.manifest.get("classes") or [str(c) for c in range(NUM_CLASSES)]),
        splits=[card.Split(ROWS_FOLDER, rows["real"] + rows["synthetic"], card.split_bytes(files, ROWS_FOLDER))],
        provenance=[
            ("real rows", f"{real_rows} of `{cfg.real}`"),
            (
                "synthetic rows",
                f"ids 0..{rows['synthetic'] - 1:,} of `{cfg.synthetic}` "
                f"(generator `{synthetic.manifest.get('generator_sha256')}`)",
            ),
        ],
        rows_per_label={source: dict(enumerate(counts)) for source, counts in per_source.items()},
        uri=cfg.out,
    )


def _counts(done: dict) -> dict[str, dict[int, int]]:
    return {source: {int(c): n for c, n in counts.items()} for source, counts in done["rows_per_label"].items()}


def _real_selection(real: Dataset, per_class: PerClass | None) -> np.ndarray | None:
    """Ids of the --real-per-class subset (the first images of each class), or None for all rows."""
    if per_class is None:
        return None
    fs, _ = storage.resolve(real.uri)
    table = pq.read_table(list(real.paths), filesystem=fs, columns=["id", "label"])
    order = np.argsort(table["id"].to_numpy(), kind="stable")
    ids, labels = table["id"].to_numpy()[order], table["label"].to_numpy()[order]
    return ids[mnist.low_data_rows(labels, per_class, NUM_CLASSES)]


def _synthetic_rows(cfg: MergedConfig, real_rows: int, available: int) -> int:
    if cfg.synthetic_fraction is not None:
        wanted = math.floor(cfg.synthetic_fraction * real_rows / (1.0 - cfg.synthetic_fraction) + 1e-9)
        what = (
            f"--synthetic-fraction {cfg.synthetic_fraction} of {real_rows:,} real rows needs {wanted:,} synthetic rows"
        )
    elif cfg.max_synthetic is not None:
        return min(cfg.max_synthetic, available)
    else:
        return available
    if wanted > available:
        raise AugmentError(f"{what}, but --synthetic holds {available:,}")
    return wanted


def _merge_real(fs, out: str, real: Dataset, ids: np.ndarray | None) -> list[dict]:
    real_fs, _ = storage.resolve(real.uri)
    files = []
    for k, path in enumerate(real.paths):
        target = f"{ROWS_FOLDER}/real/part-{k:05d}.parquet"
        if ids is None:
            table = pq.read_table(path, filesystem=real_fs, columns=["label"])
            _copy(real_fs, path, fs, storage.join(out, target))
        else:
            table = pq.read_table(path, filesystem=real_fs)
            table = table.filter(pc.is_in(table["id"], pa.array(ids)))
            schema.write_parquet(table, fs, storage.join(out, target))
        files.append({"path": target, "rows": table.num_rows, "per_label": _per_label(table)})
    return files


def _merge_synthetic(fs, out: str, synthetic: Dataset, rows: int) -> list[dict]:
    """Ids 0..rows-1: the parts below `rows` whole, the part that crosses it cut at `rows`."""
    syn_fs, _ = storage.resolve(synthetic.uri)
    files = []
    for k, path in enumerate(synthetic.paths):
        ids = pq.read_table(path, filesystem=syn_fs, columns=["id", "label"])
        keep = pc.less(ids["id"], rows)
        kept = pc.sum(keep).as_py() or 0
        if kept == 0:
            continue
        relative = f"{ROWS_FOLDER}/synthetic/part-{k:05d}.parquet"
        target = storage.join(out, relative)
        if kept == ids.num_rows:
            _copy(syn_fs, path, fs, target)
        else:
            _write_prefix(syn_fs, path, fs, target, rows)
        files.append({"path": relative, "rows": kept, "per_label": _per_label(ids.filter(keep))})
    if sum(f["rows"] for f in files) != rows:
        raise AugmentError(
            f"--synthetic {synthetic.uri} does not hold ids 0..{rows - 1}: not an augment generation output?"
        )
    return files


def _write_prefix(source_fs, path: str, fs, target: str, rows: int) -> None:
    with source_fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        metadata = {
            key.decode(): value.decode()
            for key, value in parquet.schema_arrow.metadata.items()
            if key.startswith(schema.META_PREFIX.encode())
        }
        writer = schema.PartWriter(fs, target, metadata)
        try:
            for batch in parquet.iter_batches(batch_size=8192):
                table = pa.Table.from_batches([batch])
                writer.write(table.filter(pc.less(table["id"], rows)).cast(writer.schema))
            writer.close()
        except BaseException:
            writer.abort()
            raise


def _copy(source_fs, source: str, fs, target: str) -> None:
    if type(source_fs) is type(fs):
        storage.copy_file(fs, source, target)
    else:  # e.g. real data on local disk, merged output on s3
        with source_fs.open_input_stream(source) as reader:
            storage.write_bytes_atomic(fs, target, reader.read())


def _per_label(table: pa.Table) -> list[int]:
    return np.bincount(table["label"].to_numpy().astype(np.int64), minlength=NUM_CLASSES).tolist()
