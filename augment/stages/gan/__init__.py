"""gan/: a class-conditional GAN trained with Ray Train (DDP), its generator exported.

config.py     GanConfig
train.py      run(cfg): the driver side and the per-worker training loop
artifacts.py  samples/, metrics.csv and the progress GIF the run folder holds
"""

from augment.stages import lazy_api
from augment.stages.gan.config import FOLDER, GanConfig

STAGE_API = ("run", "GanResult")
__all__ = ["FOLDER", "GanConfig", *STAGE_API]

__getattr__ = lazy_api(__name__, "train", STAGE_API)
