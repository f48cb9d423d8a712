"""merged/: the real train split plus synthetic rows, one Parquet dataset (the test split never enters).

config.py  MergedConfig
merge.py   run(cfg)
"""

from augment.stages.merged.config import FOLDER, MergedConfig

STAGE_API = ("run", "MergedResult")
__all__ = ["FOLDER", "MergedConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.merged import merge

        return getattr(merge, name)
    raise AttributeError(name)
