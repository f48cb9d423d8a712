"""What schema v2's `image_file` column (the pixels again, as PGM, for Hugging Face) costs a writer
and a reader, against the same rows without it (schema v1's columns), measured in one run.

    python benchmarks/schema_cost.py [--rows 262144] [--source mnist|noise]

Rows: the real MNIST train split repeated (AUGMENT_DATA_ROOT), or, with --source noise, digits
with faint background noise like a GAN's (which compress worse). Prints, per layout: seconds to
build the table and write one part file (as a generation actor does, PartWriter, zstd), bytes per
row on disk, and seconds for pyarrow to read the `image` column back; and PNG's cost for
comparison (PIL, per image), the encoding v2 did not take.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment.core import mnist, schema  # noqa: E402


def rows(count: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    if source == "mnist":
        split = mnist.load_split("mnist", "train", download=False)
        reps = -(-count // len(split.labels))
        return np.tile(split.images, (reps, 1, 1))[:count], np.tile(split.labels, reps)[:count]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 6, (count, 28, 28), dtype=np.uint8)  # the faint noise of GAN backgrounds
    images[:, 6:22, 9:19] = rng.integers(120, 256, (count, 16, 10), dtype=np.uint8)
    return images, rng.integers(0, 10, count)


def write(images: np.ndarray, labels: np.ndarray, path: str, with_file: bool) -> float:
    """Seconds to build and write the rows as one part, in row groups and chunks as PartWriter does."""
    metadata = schema.file_metadata("mnist", generator="g" * 64, run_config={"n": len(labels)})
    started = time.perf_counter()
    writer = None
    for first in range(0, len(labels), schema.ROW_GROUP_ROWS):
        part = slice(first, first + schema.ROW_GROUP_ROWS)
        table = schema.make_table(
            np.arange(len(labels))[part],
            images[part],
            labels[part],
            source="synthetic",
            metadata=metadata,
            confidence=np.ones(len(labels[part]), np.float32),
            generator="g" * 64,
        )
        if not with_file:  # schema v1's columns: what v2 added is the only difference
            table = table.drop_columns(["image_file"])
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, **schema.WRITE_OPTIONS)
        chunks = table.to_batches(max_chunksize=schema.WRITE_CHUNK_ROWS)
        writer.write_table(pa.Table.from_batches(chunks, schema=table.schema), row_group_size=table.num_rows)
    writer.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=262_144)
    parser.add_argument(
        "--source", choices=("mnist", "noise"), default="mnist" if os.environ.get("AUGMENT_DATA_ROOT") else "noise"
    )
    args = parser.parse_args()
    images, labels = rows(args.rows, args.source)
    work = Path(tempfile.mkdtemp(prefix="schema-cost-"))
    print(f"host: {platform.machine()}, {os.cpu_count()} CPUs; {args.rows:,} rows of {args.source}", flush=True)
    figures = {}
    for with_file in (False, True, False, True):  # twice each, interleaved: a shared box drifts
        name = "v2 (image + image_file)" if with_file else "v1 columns (image only)"
        path = str(work / f"{'v2' if with_file else 'v1'}.parquet")
        seconds = write(images, labels, path, with_file)
        started = time.perf_counter()
        pq.read_table(path, columns=["image"])["image"].combine_chunks().to_numpy_ndarray()
        read = time.perf_counter() - started
        size = os.path.getsize(path)
        best = figures.get(name, (float("inf"), 0, float("inf")))
        figures[name] = (min(best[0], seconds), size, min(best[2], read))
    for name, (seconds, size, read) in figures.items():
        print(
            f"{name:26s} write {seconds / args.rows * 1e6:6.2f} µs/row  {size / args.rows:7.1f} B/row  "
            f"read image {read / args.rows * 1e6:5.2f} µs/row"
        )
    v1, v2 = figures["v1 columns (image only)"], figures["v2 (image + image_file)"]
    print(f"image_file adds {(v2[0] - v1[0]) / args.rows * 1e6:.2f} µs and {(v2[1] - v1[1]) / args.rows:.1f} B per row")
    from PIL import Image

    started = time.perf_counter()
    for image in images[:2000]:
        Image.fromarray(image).save(io.BytesIO(), format="PNG")
    print(f"PNG instead (PIL, per image): {(time.perf_counter() - started) / 2000 * 1e6:.1f} µs/row")


if __name__ == "__main__":
    main()
