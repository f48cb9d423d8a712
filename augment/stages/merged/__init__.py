"""merged/: the real train split plus synthetic rows, one Parquet dataset (the test split never enters).

config.py  MergedConfig
merge.py   run(cfg)
"""

from augment.stages import lazy_api
from augment.stages.merged.config import FOLDER, MergedConfig

STAGE_API = ("run", "MergedResult")
__all__ = ["FOLDER", "MergedConfig", *STAGE_API]

__getattr__ = lazy_api(__name__, "merge", STAGE_API)
