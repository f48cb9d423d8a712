"""real/: a real dataset's train and test splits (MNIST family) as schema-v2 Parquet.

config.py  RealConfig (what to export)
export.py  run(cfg): torchvision's files -> train/part-00000.parquet, test/part-00000.parquet
"""

from augment.stages import lazy_api
from augment.stages.real.config import FOLDER, RealConfig

STAGE_API = ("run", "RealResult")
__all__ = ["FOLDER", "RealConfig", *STAGE_API]

__getattr__ = lazy_api(__name__, "export", STAGE_API)
