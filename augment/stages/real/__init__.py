"""real/: a real dataset's train and test splits (MNIST family) as schema-v1 Parquet.

config.py  RealConfig (what to export)
export.py  run(cfg): torchvision's files -> train/part-00000.parquet, test/part-00000.parquet
"""

from augment.stages.real.config import FOLDER, RealConfig

STAGE_API = ("run", "RealResult")
__all__ = ["FOLDER", "RealConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.real import export

        return getattr(export, name)
    raise AttributeError(name)
