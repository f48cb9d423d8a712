"""Batched classic augmentation: torchvision's distortions and distributions, for whole batches,
each row's draw keyed by (seed, epoch, source, id)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

from augment.stages.classifier import classic_augment as ca

PER_IMAGE = v2.RandomAffine(degrees=ca.DEGREES, translate=(ca.TRANSLATE, ca.TRANSLATE), scale=ca.SCALE, shear=ca.SHEAR)
ELASTIC = v2.ElasticTransform(alpha=ca.ELASTIC_ALPHA, sigma=ca.ELASTIC_SIGMA)


def _digits(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 5:23, 9:19] = rng.integers(60, 256, (n, 18, 10))
    return images


def _keys(n: int, epoch: int = 1, seed: int = 0) -> np.ndarray:
    return ca.row_keys(seed, epoch, np.arange(n) % 2, np.arange(n))


def test_given_torchvisions_parameters_the_batch_equals_torchvisions_per_image_result():
    images, params = _digits(64), ca.draw(_keys(64))
    affine_only = {**params, "displacement": torch.zeros_like(params["displacement"])}
    batched = ca.distort(torch.from_numpy(images), affine_only)
    reference = torch.stack(
        [
            TF.affine(
                torch.from_numpy(images[k])[None],
                angle=float(params["angle"][k]),
                translate=[int(params["tx"][k]), int(params["ty"][k])],
                scale=float(params["scale"][k]),
                shear=[float(params["shear"][k]), 0.0],
                interpolation=InterpolationMode.BILINEAR,
            )[0]
            for k in range(64)
        ]
    )
    difference = (batched.int() - reference.int()).abs()
    assert difference.max() <= 1 and (difference == 0).float().mean() > 0.999

    still = {
        "angle": torch.zeros(64),
        "tx": torch.zeros(64),
        "ty": torch.zeros(64),
        "scale": torch.ones(64),
        "shear": torch.zeros(64),
        "displacement": params["displacement"],
    }
    warped = ca.distort(torch.from_numpy(images), still)
    reference = torch.stack(
        [TF.elastic(torch.from_numpy(images[k])[None], params["displacement"][k : k + 1])[0] for k in range(64)]
    )
    assert (warped.int() - reference.int()).abs().max() <= 1


def test_the_parameters_follow_torchvisions_distributions():
    n = 20_000
    ours = ca.draw(_keys(n))
    torch.manual_seed(0)
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    theirs = [PER_IMAGE.make_params([image]) for _ in range(n)]
    for name, values in (
        ("angle", [p["angle"] for p in theirs]),
        ("scale", [p["scale"] for p in theirs]),
        ("shear", [p["shear"][0] for p in theirs]),
    ):
        a, b = np.sort(ours[name].numpy()), np.sort(np.asarray(values))
        assert np.abs(a - b).max() < 0.02 * (b.max() - b.min()), name  # the quantiles agree (a two-sample check)
    for axis, name in ((0, "tx"), (1, "ty")):
        shifts, counts = np.unique(ours[name].numpy(), return_counts=True)
        their_shifts, their_counts = np.unique([p["translate"][axis] for p in theirs], return_counts=True)
        assert shifts.tolist() == their_shifts.tolist() == [-3, -2, -1, 0, 1, 2, 3]
        assert np.abs(counts / n - their_counts / n).max() < 0.015, name
    assert abs(ours["elastic"].float().mean().item() - ca.ELASTIC_P) < 0.015
    fields = ours["displacement"][ours["elastic"]][:2000]
    their_fields = torch.cat([ELASTIC.make_params([image])["displacement"] for _ in range(2000)])
    assert fields.std().item() == pytest.approx(their_fields.std().item(), rel=0.05)
    assert fields.abs().max().item() < 3 * their_fields.abs().max().item()
    assert (ours["displacement"][~ours["elastic"]] == 0).all()


def test_same_keys_same_images_other_epoch_other_images_whatever_the_batching():
    images = _digits(200)
    first = ca.augment_batch(images, _keys(200, epoch=1))
    again = ca.augment_batch(images, _keys(200, epoch=1))
    halves = torch.cat(
        [
            ca.augment_batch(images[:73], _keys(200, epoch=1)[:73]),
            ca.augment_batch(images[73:], _keys(200, epoch=1)[73:]),
        ]
    )
    assert torch.equal(first, again) and torch.equal(first, halves)
    other_epoch = ca.augment_batch(images, _keys(200, epoch=2))
    other_seed = ca.augment_batch(images, _keys(200, epoch=1, seed=1))
    changed = [(first != other).flatten(1).any(1).float().mean().item() for other in (other_epoch, other_seed)]
    assert min(changed) > 0.95
    assert first.dtype == torch.uint8 and first.shape == (200, 28, 28)
    assert not torch.equal(first, torch.from_numpy(images))
    # the same id as a real and as a synthetic row: two draws
    both = ca.row_keys(0, 1, np.array([0, 1]), np.array([5, 5]))
    assert both[0] != both[1]
