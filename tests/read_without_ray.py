"""Read an exported split with each promised reader, exactly as the README shows, without Ray.

Usage: python read_without_ray.py SPLIT_FOLDER  -> prints JSON {reader: {images_sha256, labels, ...}}
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


def digest(images: np.ndarray) -> dict:
    assert images.dtype == np.uint8 and images.shape[1:] == (28, 28), (images.dtype, images.shape)
    return {"images_sha256": hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest(), "rows": len(images)}


folder = sys.argv[1]
files = f"{folder}/*.parquet"
results = {}

table = pq.read_table(folder)
results["pyarrow"] = {
    **digest(table["image"].combine_chunks().to_numpy_ndarray()),
    "labels": table["label"].to_numpy().tolist(),
}

frame = pd.read_parquet(folder)
results["pandas"] = {
    **digest(np.stack(frame["image"].to_numpy()).reshape(-1, 28, 28)),
    "labels": frame["label"].to_numpy().tolist(),
}

frame_pl = pl.read_parquet(files)
results["polars"] = {
    **digest(frame_pl["image"].to_numpy().reshape(-1, 28, 28)),
    "labels": frame_pl["label"].to_list(),
}

images_duck = pa.table(duckdb.sql(f"SELECT image FROM '{files}' ORDER BY id").arrow())
results["duckdb"] = {
    **digest(images_duck["image"].combine_chunks().flatten().to_numpy().reshape(-1, 28, 28)),
    "labels": [row[0] for row in duckdb.sql(f"SELECT label FROM '{files}' ORDER BY id").fetchall()],
    "group_by": dict(duckdb.sql(f"SELECT label, count(*) FROM '{files}' GROUP BY label ORDER BY label").fetchall()),
}

results["ray_imported"] = any(name == "ray" or name.startswith("ray.") for name in sys.modules)
print(json.dumps(results))
