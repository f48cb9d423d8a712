"""What a Parquet dataset (generation, merge or export output) holds, from streamed scans.

Every figure comes from record batches of at most BATCH_ROWS rows, so memory stays at one batch
plus ten running 28x28 sums whatever the dataset's size; random samples read only their rows.
The files are the ones the manifest lists (a folder without one: every visible *.parquet in it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from augment import manifest, schema, storage
from augment.errors import AugmentError

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
            i.path for i in infos
            if i.path.endswith(".parquet") and not any(part.startswith((".", "_")) for part in i.path[len(folder):].split("/"))
        )
    if not paths:
        raise AugmentError(f"{uri} holds no Parquet files")
    return fs, paths


def summarize(uri: str) -> DatasetSummary:
    fs, paths = parquet_files(uri)
    dataset = schema.scan(fs, paths)
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    confidence_counts = np.zeros(CONFIDENCE_BINS, dtype=np.int64)
    by_source: dict[str, np.ndarray] = {}
    sums = np.zeros((NUM_CLASSES, *schema.IMAGE_SHAPE), dtype=np.float64)
    counts = np.zeros(NUM_CLASSES, dtype=np.int64)
    for batch in dataset.to_batches(columns=["image", "label", "source", "confidence"], batch_size=BATCH_ROWS):
        labels = batch.column("label").to_numpy().astype(np.int64)
        sources = batch.column("source")
        for source in pc.unique(sources.dictionary_decode() if hasattr(sources, "dictionary_decode") else sources).to_pylist():
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
        uri=uri, files=len(paths), rows=int(counts.sum()),
        rows_by_source={source: rows.tolist() for source, rows in sorted(by_source.items())},
        confidence_counts=confidence_counts, confidence_edges=edges, mean_images=means,
    )


def random_samples(uri: str, per_class: int, seed: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """label -> (images, confidence) of up to per_class rows drawn uniformly from the whole dataset."""
    fs, paths = parquet_files(uri)
    dataset = schema.scan(fs, paths)
    labels = np.concatenate([b.column("label").to_numpy() for b in dataset.to_batches(columns=["label"], batch_size=1 << 20)])
    rng = np.random.default_rng(seed)
    chosen = {}
    for label in range(NUM_CLASSES):
        rows = np.flatnonzero(labels == label)
        if rows.size:
            chosen[label] = np.sort(rng.choice(rows, size=min(per_class, rows.size), replace=False))
    if not chosen:
        return {}
    rows = np.concatenate(list(chosen.values()))
    order = np.argsort(rows)  # one take in file order reads each row group once
    table = dataset.take(rows[order], columns=["image", "confidence"])
    images = np.empty((len(rows), *schema.IMAGE_SHAPE), dtype=np.uint8)
    confidence = np.empty(len(rows), dtype=np.float32)
    images[order] = schema.images_to_numpy(table.column("image"))
    confidence[order] = table.column("confidence").to_numpy(zero_copy_only=False).astype(np.float32)
    samples, start = {}, 0
    for label, picked in chosen.items():
        samples[label] = (images[start : start + len(picked)], confidence[start : start + len(picked)])
        start += len(picked)
    return samples
