"""Retraining the classifier on Ray Train with rows streamed by Ray Data (2 workers, tiny data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import torch

from augment.core import mnist
from augment.core.datasets import open_dataset
from augment.models.classifier import accuracy
from augment.models.classifier_file import WEIGHTS_FILE, load_classifier
from augment.models.classifier_training import balanced_class_weights
from augment.stages.classifier import train as classifier_stage
from augment.stages.classifier.config import ClassifierConfig
from augment.stages.classifier.rows import epoch_units, files_to_read, read_unit, row_group_index, select_rows, window
from augment.stages.classifier.worker import exact_batches, schedule_for
from augment.stages.merged import merge as merged_stage
from augment.stages.merged.config import MergedConfig
from tests.conftest import assert_one_line_error
from tests.fixtures import tiny_generation


@pytest.fixture(scope="module")
def merged(ray_local, tmp_path_factory):
    """(tiny learnable dataset, real export, 1,000-row generation, their merge)."""
    root = tmp_path_factory.mktemp("retrain-inputs")
    tiny, real, _, _, syn = tiny_generation(root, n=1000, rows_per_file=500)
    merged_stage.run(MergedConfig(real=str(real), synthetic=str(syn), out=str(root / "merged")))
    return tiny, real, syn, root / "merged"


def _cfg(merged, out: Path, **changes) -> ClassifierConfig:
    tiny, _, _, folder = merged
    return ClassifierConfig(data=str(folder), out=str(out), data_root=str(tiny.root), download=False, **changes)


def test_row_selection_counts_sources_and_never_the_test_split(merged):
    tiny, real, syn, folder = merged
    pick = lambda uri, **options: select_rows(
        ClassifierConfig(data=str(uri), out="unused", batch_size=8, **options), open_dataset(str(uri), what="--data")
    )
    assert pick(folder).per_source == {"real": 400, "synthetic": 1000}
    assert pick(folder, real_only=True).per_source == {"real": 400, "synthetic": 0}
    assert pick(folder, real_only=True).per_label == [40] * 10
    assert pick(folder, synthetic_only=True, max_synthetic=300).per_source == {"real": 0, "synthetic": 300}
    assert pick(folder, max_synthetic=300).rows == 700
    assert pick(real).per_source == {"real": 400, "synthetic": 0}  # a real export gives its train split only
    assert pick(syn).rows == 1000


def test_fresh_synthetic_rows_every_epoch_the_next_window_of_the_pool(merged):
    _, _, _, folder = merged
    dataset = open_dataset(str(folder), what="--data")

    def epochs(count: int, **options) -> list[tuple[int, list[int]]]:
        """(real rows, sorted synthetic ids) each epoch reads."""
        cfg = ClassifierConfig(data=str(folder), out="unused", batch_size=8, **options)
        selection, groups, read = select_rows(cfg, dataset), row_group_index(dataset), []
        for epoch in range(1, count + 1):
            tables = [
                read_unit(pa.Table.from_pylist([unit]), dataset.uri, True)
                for unit in epoch_units(cfg, selection, groups, epoch)
            ]
            rows = pa.concat_tables(tables)
            synthetic = pc.equal(rows["synthetic"], 1)
            read.append((len(rows) - pc.sum(synthetic).as_py(), sorted(rows.filter(synthetic)["id"].to_pylist())))
        return read

    selection = select_rows(ClassifierConfig(data=str(folder), out="unused", synthetic_per_epoch=300), dataset)
    assert (selection.rows, selection.per_source, selection.pool) == (700, {"real": 400, "synthetic": 300}, 1000)
    assert sum(selection.per_label) == 700 and selection.synthetic_read(epochs=2) == 600
    assert window(4, 300, 1000) == [(900, 1000), (0, 200)]
    assert epochs(4, synthetic_per_epoch=300) == [
        (400, list(range(0, 300))),
        (400, list(range(300, 600))),
        (400, list(range(600, 900))),
        (400, list(range(0, 200)) + list(range(900, 1000))),  # wraps around the pool
    ]
    # a pool smaller than an epoch's share is read more than once per epoch, in the same proportions
    assert epochs(1, synthetic_per_epoch=300, max_synthetic=120) == [
        (400, sorted(list(range(120)) * 2 + list(range(60))))
    ]
    # ... each distinct span by one task that decodes its row groups once and repeats the rows
    small = ClassifierConfig(data=str(folder), out="unused", batch_size=8, synthetic_per_epoch=300, max_synthetic=120)
    units = epoch_units(small, select_rows(small, dataset), row_group_index(dataset), 1)
    assert {(u["lo"], u["hi"], u["repeat"]) for u in units if not u["real"]} == {(0, 120, 2), (0, 60, 1)}
    assert epochs(1, synthetic_only=True, synthetic_per_epoch=50) == [(0, list(range(50)))]
    assert epochs(2, max_synthetic=100) == [(400, list(range(100)))] * 2  # without it: every selected row, every epoch


def test_an_epoch_reads_only_the_files_that_hold_selected_rows(merged):
    _, real, syn, folder = merged
    files = lambda uri, **options: [
        p.split("/train/", 1)[1]
        for p in files_to_read(
            ClassifierConfig(data=str(uri), out="unused", **options), open_dataset(str(uri), what="--data")
        )
    ]
    everything = ["real/part-00000.parquet", "synthetic/part-00000.parquet", "synthetic/part-00001.parquet"]
    assert files(folder) == everything
    assert files(folder, real_only=True) == ["real/part-00000.parquet"]
    assert files(folder, synthetic_only=True) == everything[1:]
    assert files(folder, max_synthetic=300) == everything[:2]  # ids 500..999 cannot be below 300
    assert files(folder, synthetic_only=True, max_synthetic=501) == everything[1:]
    assert files(syn, max_synthetic=10) == ["part-00000.parquet"]


def test_two_workers_stream_through_ray_data_survive_a_crash_and_export(merged, tmp_path):
    tiny = merged[0]
    out = tmp_path / "clf"
    cfg = _cfg(merged, out, epochs=3, workers=2, batch_size=32, real_only=True, fail_at_epoch=2)
    result = classifier_stage.run(cfg)

    assert not result.skipped and result.epochs == 3 and result.rows == 400
    assert result.rows_per_source == {"real": 400, "synthetic": 0}
    assert (out / ".fault-injected").exists()  # the worker did die in epoch 2
    m = json.loads((out / "_manifest.json").read_text())
    history = m["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]  # resumed after epoch 1, not restarted
    # every epoch each worker drew 200 rows of its Ray Data shard in batches of 16: 12 steps
    assert [row["steps"] for row in history] == [12, 24, 36]
    assert result.test_accuracy >= 0.9 and m["test_accuracy"] == result.test_accuracy

    model, info = load_classifier(str(out))
    test = mnist.load_split("mnist", "test", str(tiny.root), download=False)
    images = mnist.to_gan_range(torch.from_numpy(test.images)).unsqueeze(1)
    labels = torch.from_numpy(test.labels).long()
    assert accuracy(model, images, labels) == pytest.approx(result.test_accuracy, abs=1e-4)
    # per-class recall on the real test split: its mean is balanced accuracy, its minimum the worst class's
    predicted = model.eval()(images).argmax(1)
    recalls = [float((predicted[labels == c] == c).float().mean()) for c in range(10)]
    assert m["recall_per_class"] == pytest.approx(recalls, abs=1e-4)
    assert result.balanced_accuracy == m["balanced_accuracy"] == pytest.approx(sum(recalls) / 10, abs=1e-4)
    assert result.worst_class_recall == m["worst_class_recall"] == pytest.approx(min(recalls), abs=1e-4)
    assert info["rows_per_source"] == {"real": 400, "synthetic": 0}
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,loss")


def test_classic_augmentation_on_merged_rows_and_rerun_skips(merged, tmp_path, run_cli):
    tiny, _, _, folder = merged
    out = tmp_path / "clf"
    result = classifier_stage.run(
        _cfg(merged, out, epochs=1, workers=1, batch_size=64, classic_augment=True, max_synthetic=200)
    )
    assert result.rows == 600 and result.rows_per_source == {"real": 400, "synthetic": 200}
    assert json.loads((out / "classifier.json").read_text())["trained_on"].endswith("with classic augmentation")

    retrain = lambda *options: run_cli(  # noqa: E731
        "retrain", "--data", folder, "--out", out, "--data-root", tiny.root, "--offline", "--epochs", 1,
        "--batch-size", 64, "--max-synthetic", 200, *options,
    )  # fmt: skip
    again = retrain("--classic-augment")
    assert again.returncode == 0 and "already trained with these settings" in again.stdout, again
    other = retrain()
    assert_one_line_error(other, "classifier run with other settings (classic_augment)")
    balanced = retrain("--classic-augment", "--balanced-loss")
    assert_one_line_error(balanced, "classifier run with other settings (balanced_loss)")


def test_a_class_balanced_loss_weighs_every_class_the_same_in_total():
    weights = balanced_class_weights([300, 6, 0])
    assert weights.tolist() == pytest.approx([307 / 900, 307 / 18, 307 / 3])
    logits, labels = torch.randn(8, 3), torch.tensor([0, 0, 0, 0, 0, 0, 1, 2])
    counts = torch.bincount(labels, minlength=3).float()
    # each class adds the same total weight: the rare rows count as much as the common ones together
    assert (balanced_class_weights(counts.int().tolist()) * counts).tolist() == pytest.approx([8 / 3] * 3)
    plain = torch.nn.functional.cross_entropy(logits, labels)
    weighted = torch.nn.functional.cross_entropy(logits, labels, weight=balanced_class_weights(counts.int().tolist()))
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert (
        weighted == pytest.approx(float(sum(per_row[labels == c].mean() for c in range(3)) / 3), abs=1e-5)
        and weighted != plain
    )
    assert ClassifierConfig(data="d", out="o", balanced_loss=True).identity("x")["balanced_loss"] is True
    assert "balanced_loss" not in ClassifierConfig(data="d", out="o").identity("x")  # runs made before it keep theirs


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--real-only", "--synthetic-only"], "at most one of --real-only and --synthetic-only"),
        (["--batch-size", "100000"], "fewer than one batch"),
        (["--synthetic-per-epoch", "0"], "--synthetic-per-epoch must be at least 1"),
        (["--real-only", "--synthetic-per-epoch", "10"], "--synthetic-per-epoch needs synthetic rows"),
        (["--init-from", "no-such-classifier"], "--init-from"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(merged, tmp_path, run_cli, args, fragment):
    tiny, _, _, folder = merged
    out = tmp_path / "clf"
    result = run_cli("retrain", "--data", folder, "--out", out, "--data-root", tiny.root, "--offline", *args)
    assert_one_line_error(result, fragment)
    assert not out.exists()


def test_data_without_a_manifest_is_refused(merged, tmp_path, run_cli):
    tiny, _, syn, _ = merged
    incomplete = tmp_path / "syn"
    incomplete.mkdir()
    (incomplete / "train").mkdir()
    (incomplete / "train/part-00000.parquet").write_bytes((syn / "train/part-00000.parquet").read_bytes())
    result = run_cli("retrain", "--data", incomplete, "--out", tmp_path / "clf", "--data-root", tiny.root, "--offline")
    assert_one_line_error(result, "has no _manifest.json")
    assert not (tmp_path / "clf").exists()


def test_fetched_rows_are_cut_into_exact_batches_in_order_and_the_last_partial_one_is_dropped():
    # Ray Data hands out large fetches of any size (a block's end, the last rows): the trainer's
    # batches are exactly batch-sized, in the fetched order, with each row's label, augmentation
    # key (numpy) and a missing column (None) cut together
    sizes = [300, 50, 4, 646]
    ends = np.cumsum(sizes).tolist()
    fetched = [
        (torch.arange(end - size, end), torch.arange(end - size, end) % 10, np.arange(end - size, end) * 3, None)
        for size, end in zip(sizes, ends)
    ]
    batches = list(exact_batches(iter(fetched), 128))
    assert [len(images) for images, *_ in batches] == [128] * (1000 // 128)
    images = torch.cat([images for images, *_ in batches])
    assert torch.equal(images, torch.arange(1000 // 128 * 128))
    for rows, labels, keys, missing in batches:
        assert torch.equal(labels, rows % 10) and np.array_equal(keys, rows.numpy() * 3) and missing is None
    assert list(exact_batches(iter([(torch.arange(100), None)]), 128)) == []  # fewer rows than a batch: no step


def test_learning_rate_warms_up_within_one_epoch_and_decays_per_sample_seen():
    cfg = ClassifierConfig(data="d", out="o", lr=1e-3, lr_decay=0.5, batch_size=100)
    low_data = [schedule_for(cfg, rows=1000)(step) for step in range(10)]
    assert low_data[0] == pytest.approx(1e-4) and low_data[9] == pytest.approx(1e-3 * 0.5 ** (900 / 60_000))
    full_data = [schedule_for(cfg, rows=60_000)(step) for step in (0, 49, 99)]
    assert full_data[0] == pytest.approx(1e-5) and full_data[1] < 1e-3 / 2 + 1e-9  # 100 warm-up steps
    assert schedule_for(cfg, rows=60_000)(1099) == pytest.approx(1e-3 * 0.5 ** (109_900 / 60_000))


def test_a_samples_seen_budget_stops_inside_the_last_epoch_and_runs_compare_at_equal_cost(merged, tmp_path):
    # 400 real rows: 3 steps of 128 per epoch; 1,400 merged rows: 10 steps per epoch
    budget = 7 * 128
    real_only = classifier_stage.run(
        _cfg(merged, tmp_path / "real", real_only=True, samples_seen=budget, workers=2, epochs=99)
    )
    both = classifier_stage.run(_cfg(merged, tmp_path / "both", samples_seen=budget, workers=2, epochs=99))
    assert (real_only.epochs, real_only.samples_seen) == (3, budget)  # 3 + 3 + 1 steps
    assert (both.epochs, both.samples_seen) == (1, budget)  # 7 of the epoch's 10 steps
    history = json.loads((tmp_path / "real" / "_manifest.json").read_text())["history"]
    assert [row["steps"] for row in history] == [3, 6, 7] and history[-1]["samples_seen"] == budget
    assert json.loads((tmp_path / "both" / "_manifest.json").read_text())["samples_seen"] == budget
    # fresh synthetic rows: 400 real + 300 synthetic per epoch, 5 steps each, a new window every epoch
    fresh = classifier_stage.run(
        _cfg(merged, tmp_path / "fresh", samples_seen=budget, workers=2, epochs=99, synthetic_per_epoch=300)
    )
    assert (fresh.epochs, fresh.samples_seen, fresh.rows, fresh.rows_per_source) == (
        2,
        budget,
        700,
        {"real": 400, "synthetic": 300},
    )
    done = json.loads((tmp_path / "fresh" / "_manifest.json").read_text())
    assert [row["steps"] for row in done["history"]] == [5, 7] and done["config"]["synthetic_per_epoch"] == 300
    assert (done["synthetic_pool"], done["synthetic_rows_drawn"]) == (1000, 600)

    # fine-tuning: one step at a vanishing learning rate leaves the starting weights as they were
    # (BatchNorm's running statistics do move: they are not weights)
    start, _ = load_classifier(str(tmp_path / "fresh"))
    tuned = classifier_stage.run(
        _cfg(
            merged,
            tmp_path / "tuned",
            real_only=True,
            samples_seen=128,
            workers=1,
            lr=1e-12,
            init_from=str(tmp_path / "fresh"),
        )
    )
    weights, info = load_classifier(str(tmp_path / "tuned"))
    assert tuned.samples_seen == 128 and info["trained_on"].endswith(f"starting from {tmp_path / 'fresh'}")
    start_weights = dict(start.named_parameters())
    for name, value in weights.named_parameters():
        assert torch.allclose(value, start_weights[name], atol=1e-6), name
    assert (
        json.loads((tmp_path / "tuned" / "_manifest.json").read_text())["config"]["init_from"]
        == json.loads((tmp_path / "fresh" / "classifier.json").read_text())["sha256"]
    )


def _split_coordinators() -> int:
    """SplitCoordinator actors this Ray has started (alive or gone): Ray Data starts one for every
    dataset split across Train workers, and it lives until fit() ends."""
    import ray

    return sum(actor.get("ActorClassName") == "SplitCoordinator" for actor in ray._private.state.actors().values())


def test_a_single_worker_reads_its_epochs_without_a_coordinator_each(merged, tmp_path):
    # fresh synthetic rows: one dataset per epoch. Split across workers, each epoch's dataset holds
    # a coordinator process until the whole fit() ends; a single worker has nothing to split.
    before = _split_coordinators()
    one = classifier_stage.run(
        _cfg(merged, tmp_path / "one", samples_seen=4 * 5 * 128, workers=1, epochs=99, synthetic_per_epoch=300)
    )
    assert (one.epochs, one.samples_seen) == (4, 4 * 5 * 128) and _split_coordinators() == before
    two = classifier_stage.run(
        _cfg(merged, tmp_path / "two", samples_seen=2 * 5 * 128, workers=2, epochs=99, synthetic_per_epoch=300)
    )
    assert two.epochs == 2 and _split_coordinators() == before + 2


def test_the_same_run_trained_twice_is_the_same_training_and_another_seed_is_not(merged, tmp_path):
    # Two workers (a streaming split), fresh synthetic rows each epoch and classic augmentation:
    # every source of batch order. The seed fixes the block order of every epoch (reseeded per
    # execution), the shuffle buffer and the augmentation; blocks leave Ray Data in plan order.
    settings = dict(epochs=2, workers=2, batch_size=64, synthetic_per_epoch=400, classic_augment=True)
    cfgs = [
        _cfg(merged, tmp_path / "a", **settings),
        _cfg(merged, tmp_path / "b", **settings),
        _cfg(merged, tmp_path / "other-seed", seed=1, **settings),
    ]
    classifier_stage.run_many(cfgs)
    weights = [(tmp_path / name / WEIGHTS_FILE).read_bytes() for name in ("a", "b", "other-seed")]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]
    history = [json.loads((tmp_path / name / "_manifest.json").read_text())["history"] for name in ("a", "b")]
    assert [row["loss"] for row in history[0]] == [row["loss"] for row in history[1]]


def test_held_out_rows_pick_the_best_epoch_and_patience_stops_the_run(merged, tmp_path):
    tiny = merged[0]
    out = tmp_path / "converged"
    cfg = _cfg(merged, out, real_only=True, validation_rows=100, patience=2, epochs=30, batch_size=32, workers=1)
    result = classifier_stage.run(cfg)
    m = json.loads((out / "_manifest.json").read_text())
    history = m["history"]
    # the last 100 rows of the 400-row real train split are held out: never trained on
    assert result.rows_per_source == {"real": 300, "synthetic": 0}
    assert m["converged"] is True and result.converged and len(history) < 30
    best = max(range(len(history)), key=lambda i: (history[i]["validation_accuracy"], -i))
    assert result.best_epoch == m["best_epoch"] == history[best]["epoch"]
    assert len(history) == result.best_epoch + 2  # stopped after --patience 2 epochs without a better one
    assert all(row.get("test_accuracy") is None for row in history)  # the test split is scored once, at the end

    model, _ = load_classifier(str(out))  # the exported weights are the best epoch's
    train = mnist.load_split("mnist", "train", str(tiny.root), download=False)
    test = mnist.load_split("mnist", "test", str(tiny.root), download=False)
    as_input = lambda split, rows: mnist.to_gan_range(torch.from_numpy(split.images[rows])).unsqueeze(1)
    held_out = slice(300, 400)
    validation = accuracy(model, as_input(train, held_out), torch.from_numpy(train.labels[held_out]).long())
    assert validation == pytest.approx(m["validation_accuracy"], abs=1e-4)
    assert accuracy(model, as_input(test, slice(None)), torch.from_numpy(test.labels).long()) == pytest.approx(
        result.test_accuracy, abs=1e-4
    )
    again = classifier_stage.run(cfg)  # converged below its cap: done, not trained further
    assert again.skipped and again.best_epoch == result.best_epoch


def test_the_training_loss_down_weights_synthetic_rows_and_mixes_in_a_teacher():
    """Issue 40's recipes on the loss: a synthetic row's loss scaled (real rows pull as before), and
    a teacher's probabilities mixed into every target; without either, plain cross entropy."""
    from augment.models.classifier_training import TrainingLoss

    torch.manual_seed(0)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    synthetic = torch.tensor([False, False, False, True, True, True])
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    plain = TrainingLoss()(logits, None, labels, synthetic)
    assert plain == torch.nn.functional.cross_entropy(logits, labels)
    half = TrainingLoss(synthetic_weight=0.5)(logits, None, labels, synthetic)
    assert half == pytest.approx(float((per_row[:3].sum() + 0.5 * per_row[3:].sum()) / 6), abs=1e-6)
    assert TrainingLoss(synthetic_weight=0.5)(logits, None, labels) == plain  # no flags: nothing to weigh

    class Fixed(torch.nn.Module):  # a teacher that always says (0.7, 0.2, 0.1)
        def forward(self, images):
            return torch.log(torch.tensor([[0.7, 0.2, 0.1]])).expand(len(images), 3)

    taught = TrainingLoss(teacher=Fixed(), teacher_share=0.25)(logits, torch.zeros(6, 1, 28, 28), labels)
    soft = -(torch.tensor([0.7, 0.2, 0.1]) * torch.log_softmax(logits, dim=1)).sum(dim=1)
    assert taught == pytest.approx(float((0.75 * per_row + 0.25 * soft).mean()), abs=1e-6)
    balanced = balanced_class_weights([300, 6, 0])
    weighted = TrainingLoss(class_weights=balanced, synthetic_weight=1.0)(logits, None, labels, synthetic)
    assert weighted == torch.nn.functional.cross_entropy(logits, labels, weight=balanced)


def test_synthetic_weight_and_teacher_train_through_ray_and_name_the_run(merged, tmp_path, run_cli):
    tiny, _, _, folder = merged
    judge = tmp_path / "teacher"
    classifier_stage.run(_cfg(merged, judge, epochs=1, workers=1, batch_size=64, real_only=True))
    settings = dict(epochs=1, workers=1, batch_size=64, max_synthetic=400)
    plain = classifier_stage.run(_cfg(merged, tmp_path / "plain", **settings))
    weighted = classifier_stage.run(_cfg(merged, tmp_path / "weighted", synthetic_weight=0.25, **settings))
    taught = classifier_stage.run(_cfg(merged, tmp_path / "taught", teacher=str(judge), **settings))
    history = lambda name: json.loads((tmp_path / name / "_manifest.json").read_text())["history"]  # noqa: E731
    losses = [history(name)[0]["loss"] for name in ("plain", "weighted", "taught")]
    assert len(set(losses)) == 3 and losses[1] < losses[0]  # down-weighted rows add less loss
    assert plain.rows == weighted.rows == taught.rows == 800
    info = {n: json.loads((tmp_path / n / "classifier.json").read_text())["trained_on"] for n in ("weighted", "taught")}
    assert "synthetic rows weighted 0.25" in info["weighted"] and "soft targets" in info["taught"]
    run = json.loads((tmp_path / "taught" / "run.json").read_text())["identity"]
    assert run["teacher"] == json.loads((judge / "classifier.json").read_text())["sha256"]
    missing = run_cli(
        "retrain", "--data", folder, "--out", tmp_path / "no-teacher", "--data-root", tiny.root, "--offline",
        "--teacher", tmp_path / "nowhere",
    )  # fmt: skip
    assert_one_line_error(missing, "--teacher")
    assert not (tmp_path / "no-teacher").exists()
