"""GAN training on a session-scoped local Ray (2 CPUs) with a tiny dataset."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augment.core import mnist
from augment.core.errors import AugmentError
from augment.core.precision import resolve_for_training
from augment.core.run_folder import completed_epochs
from augment.models.generator_file import load_generator
from augment.stages.gan import train as gan_stage
from augment.stages.gan.artifacts import gif_epochs
from augment.stages.gan.config import GanConfig
from augment.stages.gan.train import FAULT_MARKER
from augment.stages.real import export as real_stage
from augment.stages.real.config import RealConfig
from tests.conftest import assert_one_line_error

TINY = dict(batch_size=64, limit=256, checkpoint_every=1)
STEPS_PER_EPOCH = 256 // 64


def _metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _grid_size(epoch_png: Path) -> tuple[int, int]:
    return Image.open(epoch_png).size


def test_two_workers_stay_in_sync_survive_a_crash_and_export(ray_local, tiny_mnist, tmp_path):
    run = tmp_path / "gan"
    cfg = GanConfig(out=str(run), data_root=str(tiny_mnist.root), epochs=3, workers=2, fail_at_epoch=2, **TINY)
    result = gan_stage.run(cfg)

    assert (run / FAULT_MARKER).exists()  # the crash really happened
    rows = _metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    # Epoch 2 was rerun from the epoch-1 checkpoint, with its optimizer state: steps continue, not restart.
    assert [r["resumed_from_epoch"] for r in rows] == [0, 1, 1]
    assert [r["optimizer_steps"] for r in rows] == [STEPS_PER_EPOCH, 2 * STEPS_PER_EPOCH, 3 * STEPS_PER_EPOCH]
    # DDP kept G and D identical on both ranks (ranks see different shards: without sync they diverge).
    assert all(r["replica_max_abs_diff"] == 0.0 for r in rows)
    assert all(r["samples_per_s"] > 0 and 0 <= r["acc_real"] <= 1 for r in rows)

    generator, info = load_generator(str(run))
    assert info["epochs"] == 3 and info["sha256"] == result.generator_sha256 and info["dataset"] == "mnist"
    with torch.no_grad():
        images = generator(torch.randn(20, info["spec"]["latent_dim"]), torch.arange(20) % 10)
    assert images.shape == (20, 1, 28, 28) and images.abs().max() <= 1

    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png", "epoch_003.png"]
    assert _grid_size(run / "samples" / "epoch_003.png") == (10 * 28 + 11 * 2,) * 2  # 10 x 10 grid
    assert Image.open(run / "progress.gif").n_frames == 3
    assert (run / "losses.png").stat().st_size > 0
    manifest = json.loads((run / "_manifest.json").read_text())
    assert manifest["stage"] == "gan" and manifest["epochs"] == 3
    # "auto" decided on the workers by their hardware (bf16 only with bf16 matrix units), per epoch
    assert manifest["precision_per_epoch"] == [resolve_for_training("auto", gpu=False)] * 3 == [result.precision] * 3


def test_a_long_tail_gan_records_its_rows_per_class_and_a_repeat_is_a_no_op(ray_local, tiny_mnist, tmp_path):
    # --real-per-class with one entry per class (as the CLI passes it): the GAN sees that long tail,
    # records it for `generate --class-weights fill`, and the same settings again are the same run.
    base = dict(_tiny_gan(tmp_path / "gan", tiny_mnist), epochs=1, real_per_class="30,30,30,30,30,5,5,5,5,50%")
    first = gan_stage.run(GanConfig(**base))
    info = load_generator(str(tmp_path / "gan"))[1]
    assert info["rows_per_label"] == [30] * 5 + [5] * 4 + [15] and info["training"]["real_per_class"] == [30] * 5 + [
        5
    ] * 4 + ["50%"]
    assert _metrics(tmp_path / "gan")[0]["optimizer_steps"] == 185 // 64
    again = gan_stage.run(GanConfig(**base))
    assert not first.skipped and again.skipped and again.generator_sha256 == first.generator_sha256

    # --balance-classes: every class's rows repeated up to the largest class's 30, so an epoch is
    # 10 x 30 rows; fill still tops up the real rows, and it is another run than the one above.
    with pytest.raises(AugmentError, match=r"other settings \(balance_classes\)"):
        gan_stage.run(GanConfig(**base, balance_classes=True))
    balanced = dict(base, out=str(tmp_path / "balanced"), balance_classes=True)
    gan_stage.run(GanConfig(**balanced))
    info = load_generator(balanced["out"])[1]
    assert info["rows_per_label"] == [30] * 5 + [5] * 4 + [15] and info["training"]["balance_classes"] is True
    assert _metrics(tmp_path / "balanced")[0]["optimizer_steps"] == 300 // 64


def test_balanced_repeat_cycles_each_class_up_to_the_largest_in_order():
    labels = np.array([0, 1, 0, 2, 0, 1, 0])
    picks = mnist.balanced_repeat(labels)
    assert picks.tolist() == [0, 2, 4, 6, 1, 5, 1, 5, 3, 3, 3, 3]
    assert np.bincount(labels[picks]).tolist() == [4, 4, 4]


def test_rerun_continues_a_finished_run_and_a_repeat_is_a_no_op(ray_local, tiny_mnist, tmp_path):
    # Also the low-data recipe: the tiny split has 30 images per class, the GAN must see 26 of each.
    run = tmp_path / "gan"
    base = dict(_tiny_gan(run, tiny_mnist), real_per_class=26, diff_augment="translation,cutout")
    first = gan_stage.run(GanConfig(epochs=1, **base))
    assert first.epochs == 1 and not first.skipped
    assert _metrics(run)[0]["optimizer_steps"] == 260 // 64
    training = load_generator(str(run))[1]["training"]
    assert training["real_per_class"] == 26 and training["diff_augment"] == "translation,cutout"

    second = gan_stage.run(GanConfig(epochs=2, **base))
    rows = _metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["resumed_from_epoch"] == 1
    assert rows[1]["optimizer_steps"] == 2 * (260 // 64)
    assert second.generator_sha256 != first.generator_sha256

    third = gan_stage.run(GanConfig(epochs=2, **base))
    assert third.skipped and third.generator_sha256 == second.generator_sha256
    assert len(_metrics(run)) == 2


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--gpu"], "--gpu: "),  # "no CUDA GPU" before Ray starts, "cluster has 0 GPUs" once it runs
        (["--arch", "resnet"], "unknown --arch 'resnet'"),
        (["--loss", "wgan"], "unknown --loss 'wgan'"),
        (["--batch-size", "65", "--workers", "2"], "must be a positive multiple of --workers"),
        (["--dataset", "cifar10"], "unknown --dataset 'cifar10'"),
        (["--limit", "256", "--real-per-class", "20"], "--limit and --real-per-class cannot be combined"),
        (["--real-per-class", "0"], "--real-per-class must be at least 1"),
        (["--diff-augment", "translation,color"], "unknown --diff-augment policy 'color'"),
        (["--real-per-class", "5"], "--real-per-class 5 gives 50 images, fewer than one batch (128)"),
        (["--real-per-class", "1,2"], "--real-per-class 1,2: needs 10 entries (one per class), got 2"),
        (
            ["--real-per-class", "9,9,9,9,9,9,9,9,9,9"],
            "--real-per-class 9,9,9,9,9,9,9,9,9,9 gives 90 images, fewer than one batch (128)",
        ),
        (["--real-per-class", "31", "--batch-size", "64"], "--real-per-class 31: class 0 has only 30 real images"),
        (["--precision", "fp16"], "unknown --precision 'fp16': choose one of auto, fp32, bf16"),
    ],
)
def test_train_bad_options_are_one_line_and_write_nothing(run_cli, tiny_mnist, tmp_path, args, expected):
    if "--gpu" in args and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_cli("train", "--out", tmp_path / "run", "--data-root", tiny_mnist.root, *args)
    assert_one_line_error(result, expected)
    assert not (tmp_path / "run").exists()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_out_holding_another_kind_of_run_is_refused_untouched(run_cli, tiny_mnist, tmp_path):
    exported = tmp_path / "real"
    real_stage.run(RealConfig(out=str(exported), data_root=str(tiny_mnist.root)))
    before = _snapshot(exported)
    result = run_cli("train", "--out", exported, "--data-root", tiny_mnist.root)
    assert_one_line_error(result, "holds something other than a GAN run", "--overwrite")
    assert _snapshot(exported) == before


def test_an_out_holding_a_gan_run_with_other_settings_is_refused(run_cli, tmp_path):
    run = tmp_path / "gan"
    run.mkdir()
    identity = GanConfig(out=str(run), arch="sagan").identity()
    (run / "run.json").write_text(json.dumps({"kind": "gan", "identity": identity}))
    result = run_cli("train", "--out", run, "--arch", "dcgan")
    assert_one_line_error(result, "holds a GAN run with other settings (arch)")
    assert sorted(p.name for p in run.iterdir()) == ["run.json"]


def test_a_run_recorded_before_an_optional_setting_existed_still_continues(tmp_path):
    run = tmp_path / "gan"
    run.mkdir()
    identity = GanConfig(out=str(run)).identity()
    older = {k: v for k, v in identity.items() if k != "real_per_class"}  # written by an earlier version
    (run / "run.json").write_text(json.dumps({"kind": "gan", "identity": older}))
    assert completed_epochs(str(run), kind="gan", what="GAN run", identity=identity, epochs=20, overwrite=False) == 0
    low_data = GanConfig(out=str(run), real_per_class=100).identity()
    with pytest.raises(AugmentError, match=r"other settings \(real_per_class\)"):
        completed_epochs(str(run), kind="gan", what="GAN run", identity=low_data, epochs=20, overwrite=False)


def test_progress_gif_keeps_every_epoch_up_to_100_then_evenly_spaced_ones_ending_at_the_last():
    assert gif_epochs(3) == [1, 2, 3]
    assert gif_epochs(100) == list(range(1, 101))
    many = gif_epochs(600)
    assert len(many) == 100 and many[-1] == 600 and many == list(range(6, 601, 6))


def _tiny_gan(out, tiny_mnist) -> dict:
    """A GanConfig's options for a quick run on the tiny dataset: one worker, the MLP, batches of 64."""
    return dict(out=str(out), data_root=str(tiny_mnist.root), workers=1, arch="mlp", batch_size=64)
