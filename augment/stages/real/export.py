"""The `real/` stage: run(cfg) writes a real dataset's train and test splits as schema-v2 Parquet."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from augment.core import card, mnist, schema, storage
from augment.core.schema import LabelCounts
from augment.core.stage import Made, Output, finished_output, run_stage
from augment.stages.real.config import FOLDER, RealConfig

KIND = FOLDER
OWNED = (*mnist.SPLITS, card.CARD_NAME)


@dataclass(frozen=True)
class RealResult:
    out: str
    counts: dict[str, LabelCounts]  # split -> rows per label
    seconds: float
    skipped: bool  # already exported with these settings

    @classmethod
    def from_manifest(cls, out: str, done: dict) -> RealResult:
        counts = {
            name: LabelCounts(done["rows"][name], {int(c): n for c, n in done["rows_per_label"][name].items()})
            for name in mnist.SPLITS
        }
        return cls(out=out, counts=counts, seconds=0.0, skipped=True)

    @property
    def summary(self) -> str:
        return f"{self.counts['train'].rows:,} train + {self.counts['test'].rows:,} test rows"


def split_file(split: str) -> str:
    """Where a split lives inside an export folder (MNIST-sized splits fit one file)."""
    return f"{split}/part-00000.parquet"


class RealStage:
    KIND, OWNED, CONTINUES = KIND, OWNED, False

    def identity(self, cfg: RealConfig) -> dict:
        return cfg.identity()

    def finished(self, cfg: RealConfig, output: Output) -> dict | None:
        mnist.resolve_data_root(cfg.data_root)
        return finished_output(cfg, output, KIND)

    def from_manifest(self, cfg: RealConfig, done: dict) -> RealResult:
        return RealResult.from_manifest(cfg.out, done)

    def work(self, cfg: RealConfig, output: Output) -> Made[RealResult]:
        started = time.perf_counter()
        # Load everything before touching the output: bad data must leave the old output intact.
        splits = {
            name: mnist.load_split(cfg.dataset, name, cfg.data_root, download=cfg.download) for name in mnist.SPLITS
        }
        output.start()
        files, counts = [], {}
        for name, split in splits.items():
            rows = len(split.labels)
            table = schema.make_table(
                np.arange(rows),
                split.images,
                split.labels,
                source="real",
                metadata=schema.file_metadata(cfg.dataset, split=name),
            )
            schema.write_parquet(table, output.fs, storage.join(output.path, split_file(name)))
            files.append(output.entry(split_file(name), rows))
            counts[name] = LabelCounts.of(split.labels)
        facts = {
            "rows": {name: c.rows for name, c in counts.items()},
            "rows_per_label": {name: c.per_label for name, c in counts.items()},
            "classes": list(splits["train"].classes),
        }
        result = RealResult(out=cfg.out, counts=counts, seconds=time.perf_counter() - started, skipped=False)
        return Made(result, files, facts, card=_card(cfg, splits, counts, files))


def run(cfg: RealConfig) -> RealResult:
    return run_stage(RealStage(), cfg)


def _card(cfg: RealConfig, splits: dict, counts: dict[str, LabelCounts], files: list[dict]) -> card.Card:
    return card.Card(
        title=f"{cfg.dataset} (augment export)",
        summary=f"The real {cfg.dataset} images, unchanged: the `train` and `test` splits as they ship with "
        "torchvision, one row per image, in their original order.",
        dataset=cfg.dataset,
        classes=list(splits["train"].classes),
        splits=[card.Split(name, counts[name].rows, card.split_bytes(files, name)) for name in mnist.SPLITS],
        provenance=[
            ("source", f"torchvision's `{mnist.DATASETS[cfg.dataset]}` files (md5-checked)"),
            ("command", f"`augment data export --dataset {cfg.dataset}`"),
        ],
        rows_per_label={name: counts[name].per_label for name in mnist.SPLITS},
        uri=cfg.out,
    )
