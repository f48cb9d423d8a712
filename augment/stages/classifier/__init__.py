"""classifier/: digit classifiers trained on Ray Train, their rows streamed through Ray Data.

config.py           ClassifierConfig
train.py            run(cfg), run_unless_current(cfg)
plan.py             the classifiers the report needs (CAS, gain-table variants)
classic_augment.py  torchvision affine + elastic, the classic-augmentation baseline
"""

from augment.stages.classifier.config import FOLDER, ClassifierConfig

STAGE_API = ("run", "ClassifierResult", "run_unless_current")
__all__ = ["FOLDER", "ClassifierConfig", *STAGE_API]


def __getattr__(name: str):
    # run() needs torch and Ray: imported when a stage really runs, not when a CLI reads defaults
    if name in STAGE_API:
        from augment.stages.classifier import train

        return getattr(train, name)
    raise AttributeError(name)
