"""The judge stage: DDP training on real data (session-scoped local Ray), export, skip, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from augment.core import mnist
from augment.models.classifier import accuracy
from augment.models.classifier_file import load_classifier
from augment.stages.judge import train as judge_stage
from augment.stages.judge.config import JudgeConfig
from tests.conftest import assert_one_line_error
from tests.fixtures import write_tiny_dataset


@pytest.fixture(scope="module")
def learnable_data(tmp_path_factory) -> Path:
    return write_tiny_dataset(tmp_path_factory.mktemp("judge-data"), n_train=400, n_test=100, learnable=True).root


@pytest.fixture(scope="module")
def trained(ray_local, learnable_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("judge") / "judge"
    cfg = JudgeConfig(out=str(out), data_root=str(learnable_data), download=False, epochs=3, workers=2, batch_size=32)
    return cfg, judge_stage.run(cfg)


def test_two_workers_train_a_judge_that_learns_and_exports(trained, learnable_data):
    cfg, result = trained
    assert not result.skipped and result.test_accuracy >= 0.9

    model, info = load_classifier(cfg.out)
    test = mnist.load_split("mnist", "test", str(learnable_data), download=False)
    images = mnist.to_gan_range(torch.from_numpy(test.images)).unsqueeze(1)
    measured = accuracy(model, images, torch.from_numpy(test.labels).long())
    assert measured == pytest.approx(result.test_accuracy, abs=1e-4)
    assert info["sha256"] == result.sha256 and info["trained_on"] == "real train split"

    manifest = json.loads((Path(cfg.out) / "_manifest.json").read_text())
    assert manifest["stage"] == "judge" and manifest["config"] == cfg.identity()
    assert manifest["test_accuracy"] == result.test_accuracy and manifest["classifier_sha256"] == result.sha256
    assert not (Path(cfg.out) / "_ray").exists()  # Ray's run state is not left beside the weights


def test_same_settings_skip_and_other_settings_are_refused(trained, run_cli, learnable_data):
    cfg, result = trained
    weights = (Path(cfg.out) / "classifier.safetensors").read_bytes()
    judge = lambda epochs: run_cli(  # noqa: E731
        "judge", "--out", cfg.out, "--data-root", learnable_data, "--offline",
        "--epochs", epochs, "--workers", 2, "--batch-size", 32,
    )  # fmt: skip
    again = judge(3)
    assert again.returncode == 0 and "already trained with these settings" in again.stdout, again
    other = judge(1)
    assert_one_line_error(other, "judge output made with other settings (epochs)", "--overwrite")
    assert (Path(cfg.out) / "classifier.safetensors").read_bytes() == weights


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--workers", "2", "--batch-size", "3"], "must be a positive multiple of --workers"),
        (["--gpu"], "GPU"),
        (["--dataset", "cifar"], "cifar"),
        (["--limit", "256", "--real-per-class", "20"], "--limit and --real-per-class cannot be combined"),
        (["--real-per-class", "31", "--batch-size", "32"], "--real-per-class 31: class 0 has only 30 real images"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(run_cli, tiny_mnist, tmp_path, args, fragment):
    out = tmp_path / "judge"
    result = run_cli("judge", "--out", out, "--data-root", tiny_mnist.root, "--offline", *args)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_a_folder_holding_another_stage_is_refused(run_cli, tiny_mnist, tmp_path):
    out = tmp_path / "syn"
    out.mkdir()
    (out / "_manifest.json").write_text(json.dumps({"stage": "synthetic", "config": {}}))
    (out / "part-00000.parquet").write_bytes(b"PAR1")
    result = run_cli(
        "judge",
        "--out",
        out,
        "--data-root",
        tiny_mnist.root,
        "--offline",
        "--epochs",
        1,
        "--workers",
        2,
        "--batch-size",
        32,
    )
    assert_one_line_error(result, "synthetic output, not a judge output")
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "part-00000.parquet"]
