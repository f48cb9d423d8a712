from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision.datasets

from augment.core import mnist
from augment.core.errors import AugmentError
from tests.fixtures import write_tiny_dataset, write_truncated_archives

ARCHIVES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


@pytest.mark.parametrize("split", ["train", "test"])
def test_tiny_idx_files_load_through_torchvision(tiny_mnist, split):
    loaded = mnist.load_split("mnist", split, str(tiny_mnist.root))
    images = getattr(tiny_mnist, f"{split}_images")
    labels = getattr(tiny_mnist, f"{split}_labels")
    assert loaded.images.dtype == np.uint8 and loaded.images.shape == images.shape
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_array_equal(loaded.labels, labels)
    assert len(loaded.classes) == 10


@pytest.mark.parametrize("name", sorted(mnist.DATASETS))
def test_every_family_member_loads_from_its_own_folder(tmp_path, name):
    class_name = mnist.DATASETS[name]
    tiny = write_tiny_dataset(tmp_path, class_name=class_name, n_train=40, n_test=20)
    loaded = mnist.load_split(name, "test", str(tmp_path))
    np.testing.assert_array_equal(loaded.images, tiny.test_images)
    assert mnist.archive_names(name) == ARCHIVES
    assert mnist.dataset_class(name) is getattr(torchvision.datasets, class_name)


def test_unknown_dataset_is_refused():
    with pytest.raises(AugmentError, match="unknown dataset 'cifar10'.*mnist, fashion-mnist, kmnist"):
        mnist.load_split("cifar10", "train")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("AUGMENT_DATA_ROOT", str(tmp_path / "from-env"))
    assert mnist.resolve_data_root(str(tmp_path / "from-flag")) == tmp_path / "from-flag"
    assert mnist.resolve_data_root(None) == tmp_path / "from-env"
    monkeypatch.delenv("AUGMENT_DATA_ROOT")
    assert mnist.resolve_data_root(None) == tmp_path / "home" / ".cache" / "augment" / "data"


def test_data_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(AugmentError, match="is a file, not a folder"):
        mnist.load_split("mnist", "train", str(tmp_path / "file"))


def test_missing_files_offline_names_folder_and_files_and_creates_nothing(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(AugmentError) as err:
        mnist.load_split("mnist", "train", str(root), download=False)
    message = str(err.value)
    assert str(root / "MNIST" / "raw") in message
    for archive in ARCHIVES:
        assert archive in message
    assert not root.exists()


def test_failed_download_leaves_no_folders(monkeypatch, tmp_path):
    # Port 9 (discard) on loopback refuses at once: a download that cannot happen, deterministically.
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    root = tmp_path / "new" / "root"
    with pytest.raises(AugmentError, match="could not be downloaded"):
        mnist.load_split("mnist", "train", str(root))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("download", [False, True])
def test_truncated_archive_is_reported_as_corrupt(monkeypatch, tmp_path, download):
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    raw = write_truncated_archives(tmp_path)
    before = {p.name: p.read_bytes() for p in raw.iterdir()}
    with pytest.raises(AugmentError, match="is corrupt") as err:
        mnist.load_split("mnist", "train", str(tmp_path), download=download)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    after = {p.name: p.read_bytes() for p in raw.iterdir()}
    assert after == before


def test_truncated_extracted_file_is_a_clear_error(tiny_mnist):
    images = tiny_mnist.raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(AugmentError, match="cannot read mnist from .*re-extract"):
        mnist.load_split("mnist", "train", str(tiny_mnist.root))


def test_gan_range_is_exactly_invertible_for_every_pixel_value():
    pixels = torch.arange(256, dtype=torch.uint8)
    scaled = mnist.to_gan_range(pixels)
    assert scaled.dtype == torch.float32
    assert scaled.min().item() == -1.0 and scaled.max().item() == 1.0
    assert torch.equal(mnist.from_gan_range(scaled), pixels)


def test_from_gan_range_clamps_out_of_range_generator_output():
    out = mnist.from_gan_range(torch.tensor([-1.5, -1.0, 0.0, 1.0, 3.0]))
    assert out.tolist() == [0, 0, 128, 255, 255]


def test_low_data_subset_is_the_first_k_of_every_class_in_file_order():
    labels = np.array([3, 1, 3, 0, 1, 3, 0, 2, 2, 1, 0, 2])
    split = mnist.Split(images=np.arange(12, dtype=np.uint8).reshape(12, 1, 1), labels=labels, classes=tuple("0123"))
    images, kept = mnist.training_subset(split, None, 2)
    assert images.ravel().tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
    assert np.bincount(kept).tolist() == [2, 2, 2, 2]
    assert mnist.training_subset(split, 5, None)[1].tolist() == labels[:5].tolist()
    assert mnist.training_subset(split, None, None)[1].tolist() == labels.tolist()
    with pytest.raises(AugmentError, match="--real-per-class 4: class 0 has only 3 real images"):
        mnist.training_subset(split, None, 4)


def test_a_per_class_list_makes_a_long_tail_of_counts_or_percentages():
    from augment.core.per_class import parse_per_class, per_class_counts

    labels = np.array([3, 1, 3, 0, 1, 3, 0, 2, 2, 1, 0, 2, 3, 3])  # class 3 has 5 rows, the others 3
    split = mnist.Split(images=np.arange(14, dtype=np.uint8).reshape(14, 1, 1), labels=labels, classes=tuple("0123"))
    _, kept = mnist.training_subset(split, None, parse_per_class("3,2,1,40%"))
    assert np.bincount(kept).tolist() == [3, 2, 1, 2]  # 40% of class 3's five
    images, _ = mnist.training_subset(split, None, parse_per_class("1,1,1,100%"))
    assert images.ravel().tolist() == [
        0,
        1,
        2,
        3,
        5,
        7,
        12,
        13,
    ]  # the first of each class, all of class 3, in file order
    assert parse_per_class("100%,100%,2%,2%") == ("100%", "100%", "2%", "2%") and parse_per_class("7") == 7
    assert parse_per_class([5, "2.50%"]) == (5, "2.5%")  # as a run record holds it (JSON list)
    assert per_class_counts(("1%",), np.array([50])).tolist() == [1]  # a share rounds down, to at least one image
    for text, message in [
        ("3,2,1", "needs 4 entries (one per class), got 3"),
        ("3,2,1,6", "class 3 has only 5 real images"),
        ("3,2,0%,1", "percentage in (0, 100]%"),
        ("a,b,c,d", "takes K or one entry per class"),
    ]:
        with pytest.raises(AugmentError, match=re.escape(message)):
            mnist.training_subset(split, None, parse_per_class(text))
