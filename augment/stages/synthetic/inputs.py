"""What a generation reads, checked before any actor starts: the generator, its judge (the default
one trained on first use), and --class-weights fill resolved to the GAN's class deficits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from augment.core import storage
from augment.core.errors import AugmentError, require
from augment.core.per_class import parse_per_class
from augment.models.classifier_file import INFO_FILE as JUDGE_INFO
from augment.models.classifier_file import read_classifier_info
from augment.stages.judge.config import JudgeConfig
from augment.stages.synthetic.config import FILL, JUDGE_SUBFOLDER, SyntheticConfig


def class_deficits(cfg: SyntheticConfig, generator_info: dict, num_classes: int) -> list[int]:
    """What each class of the GAN's real training rows lacks against the largest class: the rows
    `--class-weights fill` writes. Counts as the GAN recorded them, else from its training settings
    and the real data (a GAN exported before it recorded them)."""
    counts = generator_info.get("rows_per_label")
    if counts is None:
        from augment.core import mnist

        training = generator_info.get("training") or {}
        split = mnist.load_split(training.get("dataset", "mnist"), "train", cfg.data_root, download=cfg.download)
        _, labels = mnist.training_subset(split, training.get("limit"), parse_per_class(training.get("real_per_class")))
        counts = np.bincount(labels.astype(np.int64), minlength=num_classes).tolist()
    return [max(counts) - count for count in counts]


def filled(cfg: SyntheticConfig, deficits: list[int]) -> SyntheticConfig:
    """cfg with --class-weights fill resolved: the deficits as weights, and as N unless --n was given
    (then N rows in the deficits' proportions). Exactly the deficit per class when N is their sum
    (sampling.labels_for places class k's rows at the quantiles of its share)."""
    total = sum(deficits)
    require(total > 0, "--class-weights fill: the GAN's real rows are balanced (no class lacks any): nothing to fill")
    return replace(cfg, class_weights=tuple(float(d) for d in deficits), n=cfg.n if cfg.n is not None else total)


def resolved_weights(cfg: SyntheticConfig, generator_info: dict) -> SyntheticConfig:
    """cfg with --class-weights fill resolved, and weights checked against the generator's classes."""
    num_classes = generator_info["spec"]["num_classes"]
    if cfg.class_weights == FILL:
        cfg = filled(cfg, class_deficits(cfg, generator_info, num_classes))
    if cfg.class_weights is not None:
        require(
            len(cfg.class_weights) == num_classes,
            f"--class-weights needs {num_classes} weights (one per class), got {len(cfg.class_weights)}",
        )
    return cfg


def judge_folder(cfg: SyntheticConfig) -> str:
    return cfg.judge or storage.join(cfg.checkpoint, JUDGE_SUBFOLDER)


def _at(folder: str, name: str):
    fs, path = storage.resolve(folder)
    return fs, storage.join(path, name)


def judge_or_plan_to_train(cfg: SyntheticConfig, generator_info: dict) -> dict | None:
    """The judge's info when a judge is there; None when the default one must be trained first."""
    folder = judge_folder(cfg)
    fs, info_path = _at(folder, JUDGE_INFO)
    if storage.file_type(fs, info_path).name == "File":
        info = read_classifier_info(folder)  # refuses a corrupt judge now
        classes = info["spec"].get("num_classes")
        require(
            classes == generator_info["spec"]["num_classes"],
            f"judge {folder} knows {classes} classes, the generator {generator_info['spec']['num_classes']}",
        )
        return info
    if cfg.judge is not None:
        raise AugmentError(
            f"--judge {cfg.judge} holds no trained classifier ({JUDGE_INFO} missing); train one with `augment judge`"
        )
    return None


def train_default_judge(cfg: SyntheticConfig, generator_info: dict) -> None:
    from augment.models.generator_file import load_generator
    from augment.stages.judge.train import run as train_judge

    load_generator(cfg.checkpoint)  # its spec must fit its weights before minutes of judge training
    folder = judge_folder(cfg)
    dataset = generator_info.get("dataset", "mnist")
    print(f"no judge in {folder}: training one on real {dataset} first (a few minutes on a laptop CPU)", flush=True)
    train_judge(
        JudgeConfig(
            out=folder,
            dataset=dataset,
            data_root=cfg.data_root,
            download=cfg.download,
            gpu=cfg.gpu,
            address=cfg.address,
        )
    )
