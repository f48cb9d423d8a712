"""The one definition of augment's Parquet schema (version 2); every writer and reader uses it.

Columns:
  id          int64, unique within a source (real rows: index in their split; synthetic rows: the
              generation index i, which alone determines the row). (source, id) is the key of a
              merged dataset.
  image       arrow.fixed_shape_tensor(uint8, [28, 28]), row-major
  image_file  struct<bytes: binary, path: string>, the same pixels as a binary PGM file (path null):
              Hugging Face's `Image` feature, so `datasets` and the Hub viewer show the digits
  label       int8
  source      dictionary<int8, string>, always the dictionary SOURCES so indices agree across files
  confidence  float32, judge probability of `label`; null for real rows
  generator   string, digest of the generator checkpoint; null for real rows

The image column is Arrow's *canonical* fixed-shape tensor extension: pyarrow, pandas, polars and
duckdb read it without Ray (its storage is a plain fixed_size_list<uint8>[784]). Ray's own
`ray.data.arrow_tensor_v2` is opaque to those readers and must never reach our files, so writers
build tables here with an explicit schema instead of letting Ray infer one.

Version 2 added `image_file`: Hugging Face `datasets` has no dtype for Arrow extension types and
refuses any file holding one, so the dataset card (card.py) points it at every column but `image`.
PGM, not PNG: a 13-byte header on the raw pixels, built for a whole batch in one numpy copy (PNG
costs ~85 µs per image in PIL; the PGM column ~1 µs). Version-1 files (no `image_file`) still read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from augment.core import storage
from augment.core.errors import AugmentError

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
IMAGE_SHAPE = (28, 28)
SOURCES = ("real", "synthetic")

IMAGE_TYPE = pa.fixed_shape_tensor(pa.uint8(), list(IMAGE_SHAPE))
SOURCE_TYPE = pa.dictionary(pa.int8(), pa.string())
IMAGE_FILE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
PGM_HEADER = b"P5\n%d %d\n255\n" % (IMAGE_SHAPE[1], IMAGE_SHAPE[0])

COMPRESSION = "zstd"
# 65,536 rows = 51 MB of raw pixels per row group (~16 MB after zstd): large enough that footer and
# per-chunk overhead vanish in a scan and zstd sees plenty of context, small enough that a reader
# decodes one group in a few ms and duckdb / Ray Data can split a million-row file 16 ways.
ROW_GROUP_ROWS = 65_536
WRITE_CHUNK_ROWS = 1_024
# Pixels are near-random bytes to a dictionary encoder; only the small columns benefit.
WRITE_OPTIONS = {"compression": COMPRESSION, "use_dictionary": ["source", "generator"]}

META_PREFIX = "augment."
_VERSION_KEY = f"{META_PREFIX}schema_version"

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("image", IMAGE_TYPE, nullable=False),
        pa.field("image_file", IMAGE_FILE_TYPE, nullable=False),
        pa.field("label", pa.int8(), nullable=False),
        pa.field("source", SOURCE_TYPE, nullable=False),
        pa.field("confidence", pa.float32()),
        pa.field("generator", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
# Everything Hugging Face `datasets` can hold (it rejects the extension-typed `image`).
HF_COLUMNS = tuple(name for name in COLUMNS if name != "image")
_V1_COLUMNS = tuple(name for name in COLUMNS if name != "image_file")


def hf_features(classes: list[str]) -> list[dict]:
    """The `dataset_info.features` of a dataset card: HF_COLUMNS as `datasets` types."""
    dtypes = {
        "id": "int64",
        "image_file": "image",
        "label": {"class_label": {"names": {str(k): name for k, name in enumerate(classes)}}},
        "source": "string",
        "confidence": "float32",
        "generator": "string",
    }
    return [{"name": name, "dtype": dtypes[name]} for name in HF_COLUMNS]


def file_metadata(
    dataset: str,
    *,
    split: str | None = None,
    generator: str | None = None,
    run_config: Mapping | None = None,
) -> dict[str, str]:
    """Key/value metadata stored in every file's footer (under the `augment.` prefix)."""
    meta = {"schema_version": str(SCHEMA_VERSION), "dataset": dataset}
    if split is not None:
        meta["split"] = split
    if generator is not None:
        meta["generator"] = generator
    if run_config is not None:
        meta["run_config"] = json.dumps(run_config, sort_keys=True)
    return {META_PREFIX + key: value for key, value in meta.items()}


def schema_with(metadata: Mapping[str, str]) -> pa.Schema:
    return SCHEMA.with_metadata({k.encode(): v.encode() for k, v in metadata.items()})


def image_array(images: np.ndarray) -> pa.ExtensionArray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"images must be uint8 (N, 28, 28), got {images.dtype} {images.shape}")
    return pa.FixedShapeTensorArray.from_numpy_ndarray(np.ascontiguousarray(images))


def image_file_array(images: np.ndarray) -> pa.StructArray:
    """Each image as a binary PGM file, for the whole batch in one copy (no per-image Python)."""
    images = np.asarray(images, dtype=np.uint8).reshape(len(images), -1)
    header = np.frombuffer(PGM_HEADER, dtype=np.uint8)
    files = np.empty((len(images), len(header) + images.shape[1]), dtype=np.uint8)
    files[:, : len(header)] = header
    files[:, len(header) :] = images
    offsets = np.arange(0, files.size + 1, files.shape[1], dtype=np.int32)
    data = pa.BinaryArray.from_buffers(pa.binary(), len(files), [None, pa.py_buffer(offsets), pa.py_buffer(files)])
    return pa.StructArray.from_arrays([data, pa.nulls(len(files), pa.string())], fields=list(IMAGE_FILE_TYPE))


def source_array(source: str, n: int) -> pa.DictionaryArray:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    indices = np.full(n, SOURCES.index(source), dtype=np.int8)
    return pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(SOURCES))


def make_table(
    ids: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    source: str,
    metadata: Mapping[str, str],
    confidence: np.ndarray | None = None,
    generator: str | None = None,
) -> pa.Table:
    """Build a schema-v2 table from numpy columns (no per-row Python)."""
    n = len(ids)
    if not (len(images) == len(labels) == n):
        raise ValueError(f"column lengths differ: ids {n}, images {len(images)}, labels {len(labels)}")
    columns = [
        pa.array(np.asarray(ids, dtype=np.int64)),
        image_array(images),
        image_file_array(images),
        pa.array(np.asarray(labels).astype(np.int8, casting="same_kind")),
        source_array(source, n),
        pa.nulls(n, pa.float32()) if confidence is None else pa.array(np.asarray(confidence, np.float32)),
        pa.nulls(n, pa.string()) if generator is None else pa.array([generator] * n, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=schema_with(metadata))


def images_to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The image column as one (N, 28, 28) uint8 array, in one vectorised copy at most."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.to_numpy_ndarray()


def write_parquet(table: pa.Table, fs: pafs.FileSystem, path: str) -> None:
    """Write one file atomically: readers see the whole file under its final name or nothing."""
    check_schema(table.schema, where="table to write")
    storage.make_parent(fs, path)
    tmp = storage.temporary_sibling(path)
    pq.write_table(table, tmp, filesystem=fs, row_group_size=ROW_GROUP_ROWS, **WRITE_OPTIONS)
    fs.move(tmp, path)


def parquet_bytes(table: pa.Table) -> bytes:
    """A small schema-v2 file in memory (a download), written with the settings of every file."""
    check_schema(table.schema, where="table to write")
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, row_group_size=ROW_GROUP_ROWS, **WRITE_OPTIONS)
    return buffer.getvalue().to_pybytes()


class PartWriter:
    """Stream tables into one Parquet file in row groups of ROW_GROUP_ROWS, published atomically.

    Rows go to a hidden temporary sibling; `close()` moves it under its final name. A crash, an
    exception or `abort()` leaves no file under the final name (a stale temporary at most, which
    every reader skips). Memory stays at one row group whatever the file size.
    """

    def __init__(self, fs: pafs.FileSystem, path: str, metadata: Mapping[str, str]):
        self.fs, self.path = fs, path
        self.schema = schema_with(metadata)
        storage.make_parent(fs, path)
        self.tmp = storage.temporary_sibling(path)
        self._writer = pq.ParquetWriter(self.tmp, self.schema, filesystem=fs, **WRITE_OPTIONS)
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        check_schema(table.schema, where="table to write")
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        # Written in small zero-copy slices: Parquet's writer builds repetition/definition levels per
        # chunk, and for one 65,536-row chunk of 784-pixel lists those levels alone took ~300 MB.
        table = pa.concat_tables(self._pending)
        chunks = table.slice(0, rows).to_batches(max_chunksize=WRITE_CHUNK_ROWS)
        self._writer.write_table(pa.Table.from_batches(chunks, schema=table.schema), row_group_size=rows)
        rest = table.slice(rows)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        self.rows += rows

    def close(self) -> None:
        if self._pending_rows:
            self._flush(self._pending_rows)
        self._writer.close()
        self.fs.move(self.tmp, self.path)

    def abort(self) -> None:
        self._writer.close()
        storage.delete(self.fs, self.tmp)


def check_schema(schema: pa.Schema, *, where: str, versions: tuple[int, ...] = (SCHEMA_VERSION,)) -> int:
    """Refuse anything that is not one of `versions` of our schema, naming the first difference.
    Writers accept only the current version; readers pass READABLE_VERSIONS. Returns the version."""
    version = (schema.metadata or {}).get(_VERSION_KEY.encode(), b"").decode()
    if version not in {str(v) for v in versions}:
        wanted = " or ".join(f"v{v}" for v in versions)
        raise AugmentError(f"{where}: not augment schema {wanted} (found version {version or 'none'})")
    columns = COLUMNS if int(version) >= 2 else _V1_COLUMNS
    for expected in (SCHEMA.field(name) for name in columns):
        if expected.name not in schema.names:
            raise AugmentError(f"{where}: column {expected.name!r} is missing")
        actual = schema.field(expected.name).type
        if actual != expected.type:
            raise AugmentError(f"{where}: column {expected.name!r} is {actual}, expected {expected.type}")
    return int(version)


def read_metadata(fs: pafs.FileSystem, path: str) -> dict[str, str]:
    """The `augment.` key/value metadata of one file, prefix removed."""
    with fs.open_input_file(path) as handle:
        raw = pq.read_metadata(handle).metadata or {}
    return {
        key.decode()[len(META_PREFIX) :]: value.decode()
        for key, value in raw.items()
        if key.startswith(META_PREFIX.encode())
    }


def read_table(fs: pafs.FileSystem, path: str, columns: list[str] | None = None) -> pa.Table:
    """Read one file or a folder of parts as one table, checking the schema."""
    table = pq.read_table(path, filesystem=fs, columns=columns)
    if columns is None:
        check_schema(table.schema, where=path, versions=READABLE_VERSIONS)
    return table


@dataclass(frozen=True)
class LabelCounts:
    rows: int
    per_label: dict[int, int]

    @classmethod
    def of(cls, labels: np.ndarray) -> LabelCounts:
        values, counts = np.unique(np.asarray(labels), return_counts=True)
        return cls(int(counts.sum()), {int(v): int(c) for v, c in zip(values, counts)})
