"""judge/: the real-data digit classifier that scores synthetic digits (fidelity, confidence).

config.py  JudgeConfig
train.py   run(cfg): trained on Ray Train, exported as classifier.safetensors + classifier.json
"""

from augment.stages.judge.config import FOLDER, JudgeConfig

STAGE_API = ("run", "JudgeResult")
__all__ = ["FOLDER", "JudgeConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.judge import train

        return getattr(train, name)
    raise AttributeError(name)
