"""Read augment outputs with each promised reader, as a downstream team would, without Ray.

Usage: python read_without_ray.py OUTPUT [OUTPUT ...]
  -> prints JSON {output: {reader: {images_sha256, labels_sha256, rows, ...}}, "ray_imported": bool}

Rows are put in (source, id) order before hashing, so readers that do not keep file order (Spark)
are compared on the same rows. The rows of every output live under OUTPUT/train.
"""

import hashlib
import json
import sys

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


def digest(images, labels, ids, sources) -> dict:
    images, labels = np.asarray(images), np.asarray(labels).astype(np.int64)
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28), (images.dtype, images.shape)
    order = np.lexsort((np.asarray(ids), np.asarray(sources, dtype=str)))
    return {
        "rows": len(images),
        "images_sha256": hashlib.sha256(np.ascontiguousarray(images[order]).tobytes()).hexdigest(),
        "labels_sha256": hashlib.sha256(labels[order].tobytes()).hexdigest(),
        "label_counts": np.bincount(labels, minlength=10).tolist(),
    }


def read_all(out: str, spark) -> dict:
    rows = f"{out}/train"
    results = {}
    table = pq.read_table(rows)
    results["pyarrow"] = digest(
        table["image"].combine_chunks().to_numpy_ndarray(),
        table["label"].to_numpy(),
        table["id"].to_numpy(),
        table["source"].cast(pa.string()).to_pylist(),
    )

    frame = pd.read_parquet(rows)
    results["pandas"] = digest(
        np.stack(frame["image"].to_numpy()).reshape(-1, 28, 28),
        frame["label"].to_numpy(),
        frame["id"].to_numpy(),
        frame["source"].astype(str).to_numpy(),
    )

    frame_pl = pl.read_parquet(f"{rows}/**/*.parquet")
    results["polars"] = digest(
        frame_pl["image"].to_numpy().reshape(-1, 28, 28),
        frame_pl["label"].to_numpy(),
        frame_pl["id"].to_numpy(),
        frame_pl["source"].cast(pl.String).to_numpy(),
    )

    duck = pa.table(
        duckdb.sql(f"SELECT id, source::VARCHAR AS source, image, label FROM '{rows}/**/*.parquet'").arrow()
    )
    results["duckdb"] = digest(
        duck["image"].combine_chunks().flatten().to_numpy().reshape(-1, 28, 28),
        duck["label"].to_numpy(),
        duck["id"].to_numpy(),
        duck["source"].to_pylist(),
    )

    from datasets import load_dataset

    splits = load_dataset(out)  # the card's YAML config: no reader code of ours
    train = splits["train"].with_format("numpy")
    results["huggingface"] = {
        **digest(np.stack(train["image_file"]), train["label"], train["id"], train["source"]),
        "class_names": splits["train"].features["label"].names,
        "image_feature": type(splits["train"].features["image_file"]).__name__,
        "splits": {name: split.num_rows for name, split in splits.items()},
        "torch_image": list(splits["train"].with_format("torch")[0]["image_file"].shape),
    }

    frame_spark = spark.read.option("recursiveFileLookup", "true").parquet(rows)
    collected = frame_spark.select("id", "source", "image", "label").collect()
    results["spark"] = {
        **digest(
            np.array([r.image for r in collected], dtype=np.uint8).reshape(-1, 28, 28),
            [r.label for r in collected],
            [r.id for r in collected],
            [r.source for r in collected],
        ),
        "types": {
            field.name: field.dataType.simpleString()
            for field in frame_spark.schema.fields
            if field.name in ("image", "label")
        },
        "group_by": {str(r["label"]): r["count"] for r in frame_spark.groupBy("label").count().collect()},
    }
    return results


if __name__ == "__main__":
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    report = {out: read_all(out, spark) for out in sys.argv[1:]}
    spark.stop()
    report["ray_imported"] = any(name == "ray" or name.startswith("ray.") for name in sys.modules)
    print(json.dumps(report))
