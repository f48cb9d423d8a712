"""How good synthetic digits are, measured with the judge (a classifier trained on real data only).

* label fidelity: the share of digits the judge assigns to their conditioning label;
* Fréchet distance in the judge's feature space (its penultimate layer): torchmetrics' FID with
  the judge as a custom feature extractor, since Inception weights cannot be downloaded offline
  and an MNIST classifier's features describe digits better than ImageNet's anyway. Values are
  on the judge's scale, not comparable with Inception FIDs; the real-train vs real-test distance
  is reported beside them as the floor;
* the judge's confusion matrix on synthetic digits (row = conditioning label, column = prediction).
Pure PyTorch: no Ray here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from augment.core import mnist
from augment.models.classifier import DigitClassifier, probabilities


class JudgeFeatures(nn.Module):
    """uint8 images (N, 1, 28, 28) -> the judge's penultimate features, as torchmetrics expects."""

    def __init__(self, judge: DigitClassifier):
        super().__init__()
        self.judge = judge.eval()
        self.num_features = judge.spec.hidden

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.judge.features(mnist.to_gan_range(images)).double()


def judge_input(images: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) uint8 -> the judge's input: float in [-1, 1], (N, 1, 28, 28)."""
    return mnist.to_gan_range(torch.from_numpy(np.array(images, dtype=np.uint8))).unsqueeze(1)


def predictions(judge: DigitClassifier, images: np.ndarray) -> np.ndarray:
    return probabilities(judge, judge_input(images)).argmax(dim=1).numpy()


def fidelity(predicted: np.ndarray, labels: np.ndarray, num_classes: int = 10) -> dict:
    correct = predicted == labels
    per_class = {c: float(correct[labels == c].mean()) for c in range(num_classes) if (labels == c).any()}
    return {"overall": float(correct.mean()), "per_class": per_class}


def confusion(predicted: np.ndarray, labels: np.ndarray, num_classes: int = 10) -> np.ndarray:
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def frechet_distance(judge: DigitClassifier, first: np.ndarray, second: np.ndarray, batch_size: int = 2048) -> float:
    """Fréchet distance between two sets of uint8 images (N, 28, 28) in the judge's feature space."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=JudgeFeatures(judge), normalize=False)
    for images, real in ((first, True), (second, False)):
        for start in range(0, len(images), batch_size):
            metric.update(
                torch.from_numpy(np.array(images[start : start + batch_size], dtype=np.uint8)).unsqueeze(1), real=real
            )
    return float(metric.compute())


def per_class_frechet(
    judge, first: np.ndarray, first_labels: np.ndarray, second: np.ndarray, second_labels: np.ndarray
) -> dict:
    return {
        int(c): frechet_distance(judge, first[first_labels == c], second[second_labels == c])
        for c in np.unique(first_labels)
        if (second_labels == c).sum() > 1 and (first_labels == c).sum() > 1
    }
