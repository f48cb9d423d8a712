"""The synthetic digits a report scores: ids 0..samples-1 of a generation output (a nearly
class-balanced prefix), or drawn here from the generator when no output is given; and the
generator's own draws before the judge's filter."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq

from augment.core import storage
from augment.core.datasets import open_dataset
from augment.core.errors import AugmentError
from augment.stages.report.config import ReportConfig
from augment.stages.report.quality import fidelity, predictions
from augment.stages.synthetic.synthesis import first_draws


def unfiltered_fidelity(cfg: ReportConfig, models, synthetic) -> dict:
    """The judge on the generator's first draws, at the temperature the rows were drawn with."""
    temperature = synthetic.manifest["config"].get("temperature", 1.0)
    images, labels, _, _ = synthetic_samples(dataclasses.replace(cfg, synthetic=None), models.judge_uri, temperature)
    return {**fidelity(predictions(models.judge, images), labels), "temperature": temperature}


def synthetic_samples(cfg: ReportConfig, judge_uri: str, temperature: float = 1.0):
    """(images, labels, confidence, where from): ids 0..samples-1, a nearly class-balanced prefix."""
    if cfg.synthetic:
        fs, _ = storage.resolve(cfg.synthetic)
        paths = list(open_dataset(cfg.synthetic, what="--synthetic", stages=("synthetic",)).paths)
        table = pq.read_table(
            paths, filesystem=fs, columns=["id", "image", "label", "confidence"], filters=[("id", "<", cfg.samples)]
        )
        table = table.sort_by("id")
        if table.num_rows < cfg.samples:
            raise AugmentError(
                f"--synthetic {cfg.synthetic} holds {table.num_rows} rows, fewer than --samples {cfg.samples}"
            )
        images = table["image"].combine_chunks().to_numpy_ndarray()
        return images, table["label"].to_numpy().astype(np.int64), table["confidence"].to_numpy(), cfg.synthetic
    images, labels, confidence = first_draws(
        cfg.checkpoint, judge_uri, cfg.samples, seed=cfg.seed, temperature=temperature
    )
    return images, labels, confidence, f"generated here from {cfg.checkpoint} (seed {cfg.seed})"
