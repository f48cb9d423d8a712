"""judge/: the real-data digit classifier that scores synthetic digits (fidelity, confidence).

config.py  JudgeConfig
train.py   run(cfg): trained on Ray Train, exported as classifier.safetensors + classifier.json
"""

from augment.stages import lazy_api
from augment.stages.judge.config import FOLDER, JudgeConfig

STAGE_API = ("run", "JudgeResult")
__all__ = ["FOLDER", "JudgeConfig", *STAGE_API]

__getattr__ = lazy_api(__name__, "train", STAGE_API)
