"""What a Parquet dataset (generation, merge or export output) holds, from streamed scans.

Every figure comes from record batches of at most BATCH_ROWS rows, so memory stays at one batch
plus ten running 28x28 sums whatever the dataset's size; random samples read only their rows.
The files are the ones the manifest lists (a folder without one: every visible *.parquet in it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from augment.core import manifest, schema, storage
from augment.core.errors import AugmentError
from augment.core.memory import fixed_mmap_threshold

BATCH_ROWS = 16_384
NUM_CLASSES = 10
CONFIDENCE_BINS = 20


@dataclass(frozen=True)
class DatasetSummary:
    uri: str
    files: int
    rows: int
    rows_by_source: dict[str, list[int]]  # source -> rows per label 0-9
    confidence_counts: np.ndarray  # rows per confidence bin (synthetic rows; real rows have none)
    confidence_edges: np.ndarray
    mean_images: np.ndarray  # (10, 28, 28) float32 mean pixel per class, NaN for absent classes


def parquet_files(uri: str) -> tuple[object, list[str]]:
    fs, folder = storage.resolve(uri)
    kind = storage.file_type(fs, folder).name
    if kind == "File" and folder.endswith(".parquet"):
        return fs, [folder]
    if kind != "Directory":
        raise AugmentError(f"{uri} does not exist")
    found = manifest.read_manifest(fs, folder)
    if found is not None:
        paths = [storage.join(folder, f["path"]) for f in found.get("files", []) if f["path"].endswith(".parquet")]
    else:
        from pyarrow import fs as pafs

        infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
        paths = sorted(
            i.path
            for i in infos
            if i.path.endswith(".parquet")
            and not any(part.startswith((".", "_")) for part in i.path[len(folder) :].split("/"))
        )
    if not paths:
        raise AugmentError(f"{uri} holds no Parquet files")
    return fs, paths


def batches(fs, paths: list[str], columns: list[str]):
    """Record batches file by file, one row group decoded at a time (a dataset scanner's read-ahead
    held ~1 GB for a 120,000-row merge)."""
    for path in paths:
        with fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            schema.check_schema(parquet.schema_arrow, where=path, versions=schema.READABLE_VERSIONS)
            yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)


def summarize(uri: str) -> DatasetSummary:
    fixed_mmap_threshold()
    fs, paths = parquet_files(uri)
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    confidence_counts = np.zeros(CONFIDENCE_BINS, dtype=np.int64)
    by_source: dict[str, np.ndarray] = {}
    sums = np.zeros((NUM_CLASSES, *schema.IMAGE_SHAPE), dtype=np.float64)
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    for batch in batches(fs, paths, ["image", "label", "source", "confidence"]):
        labels = batch.column("label").to_numpy().astype(np.int64)
        sources = batch.column("source")
        for source in pc.unique(
            sources.dictionary_decode() if hasattr(sources, "dictionary_decode") else sources
        ).to_pylist():
            mask = pc.equal(sources.cast(schema.SOURCE_TYPE.value_type), source).to_numpy(zero_copy_only=False)
            by_source.setdefault(source, np.zeros(NUM_CLASSES, dtype=np.int64))
            by_source[source] += np.bincount(labels[mask], minlength=NUM_CLASSES)[:NUM_CLASSES]
        confidence = batch.column("confidence").drop_null().to_numpy()
        confidence_counts += np.histogram(confidence, bins=edges)[0]
        # One-hot (10, B) @ pixels (B, 784): a BLAS call instead of ten masked copies per batch.
        one_hot = np.zeros((NUM_CLASSES, len(labels)), dtype=np.float32)
        one_hot[labels, np.arange(len(labels))] = 1.0
        pixels = schema.images_to_numpy(batch.column("image")).reshape(len(labels), -1).astype(np.float32)
        sums += (one_hot @ pixels).reshape(sums.shape)
        counts += np.bincount(labels, minlength=NUM_CLASSES)[:NUM_CLASSES]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (sums / counts[:, None, None]).astype(np.float32)
    return DatasetSummary(
        uri=uri,
        files=len(paths),
        rows=int(counts.sum()),
        rows_by_source={source: rows.tolist() for source, rows in sorted(by_source.items())},
        confidence_counts=confidence_counts,
        confidence_edges=edges,
        mean_images=means,
    )


def _rows_from_file(fs, path: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(images, confidence) of these sorted row numbers of one file, streaming only the row groups
    that hold them (a whole 65,536-row group of 784-pixel lists decoded at once peaked at ~800 MB)."""
    images, confidence = [], []
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        group_starts = np.cumsum([0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)])
        for group in np.unique(np.searchsorted(group_starts, rows, side="right") - 1):
            start = group_starts[group]
            for batch in parquet.iter_batches(
                batch_size=BATCH_ROWS, row_groups=[int(group)], columns=["image", "confidence"]
            ):
                wanted = rows[(rows >= start) & (rows < start + batch.num_rows)] - start
                start += batch.num_rows
                if wanted.size:
                    picked = batch.take(wanted)
                    images.append(schema.images_to_numpy(picked.column("image")))
                    confidence.append(picked.column("confidence").to_numpy(zero_copy_only=False).astype(np.float32))
    return np.concatenate(images), np.concatenate(confidence)


def random_samples(uri: str, per_class: int, seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """label -> (images, confidence) of up to per_class rows drawn uniformly from the whole dataset."""
    fs, paths = parquet_files(uri)
    per_file = [
        np.concatenate([b.column("label").to_numpy() for b in batches(fs, [path], ["label"])] or [np.empty(0, np.int8)])
        for path in paths
    ]
    starts = np.cumsum([0] + [len(labels) for labels in per_file])
    labels = np.concatenate(per_file)
    rng = np.random.default_rng(seed)
    chosen = {}
    for label in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == label)
        if rows.size:
            chosen[label] = np.sort(rng.choice(rows, size=min(per_class, rows.size), replace=False))
    if not chosen:
        return {}
    rows = np.sort(np.concatenate(list(chosen.values())))
    images = np.empty((len(rows), *schema.IMAGE_SHAPE), dtype=np.uint8)
    confidence = np.empty(len(rows), dtype=np.float32)
    for k, path in enumerate(paths):
        in_file = (rows >= starts[k]) & (rows < starts[k + 1])
        if in_file.any():
            images[in_file], confidence[in_file] = _rows_from_file(fs, path, rows[in_file] - starts[k])
    return {
        label: (images[np.searchsorted(rows, picked)], confidence[np.searchsorted(rows, picked)])
        for label, picked in chosen.items()
    }


def card_body(uri: str) -> str | None:
    """The folder's dataset card without its YAML header (which is for `datasets` and the Hub), or None."""
    from augment.core.card import CARD_NAME

    fs, folder = storage.resolve(uri)
    path = storage.join(folder, CARD_NAME)
    if storage.file_type(fs, path).name != "File":
        return None
    text = storage.read_bytes(fs, path).decode()
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        text = text[end + 5 :] if end >= 0 else text
    return text.strip()
