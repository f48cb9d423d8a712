"""gan/: a class-conditional GAN trained with Ray Train (DDP), its generator exported.

config.py     GanConfig
train.py      run(cfg): the driver side and the per-worker training loop
artifacts.py  samples/, metrics.csv and the progress GIF the run folder holds
"""

from augment.stages.gan.config import FOLDER, GanConfig

STAGE_API = ("run", "GanResult")
__all__ = ["FOLDER", "GanConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.gan import train

        return getattr(train, name)
    raise AttributeError(name)
