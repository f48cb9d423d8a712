"""The digit classifier: a small CNN used both as the *judge* (trained on real data; scores every
synthetic digit and supplies features for the Fréchet distance) and as the classifier that is
retrained on real + synthetic data.

Three conv blocks (conv 3x3 -> BatchNorm -> max-pool 2 -> ReLU) take 28x28 to 3x3, then one hidden
layer gives the `features` (the penultimate layer, used for FID) and a linear layer the logits.
Default widths 16/32/64 and 128 hidden units: 99.4% on the MNIST test split after 4 epochs
(models/classifier_training.py's recipe, measured here) at ~2 M multiply-adds per image, 4x cheaper than the classic
32/64/128 recipe, which matters when the judge scores millions of images.
Inputs are images scaled to [-1, 1] (the GAN's output range), shape (N, 1, 28, 28).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from augment.models.fast_ops import MaxPool2ThenRelu


@dataclass(frozen=True)
class ClassifierSpec:
    widths: tuple[int, int, int] = (16, 32, 64)
    hidden: int = 128
    num_classes: int = 10
    in_channels: int = 1
    dropout: float = 0.3

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths)}

    @classmethod
    def from_dict(cls, values: dict) -> ClassifierSpec:
        fields = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "widths" in fields:
            fields["widths"] = tuple(fields["widths"])
        return cls(**fields)


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    # Pooling before the ReLU is the same function (ReLU is monotonic) with a quarter of the ReLU's
    # work; with channels_last maps it trained 1.7x faster on CPU (benchmarks/RESULTS.md).
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.MaxPool2d(2),
        nn.ReLU(inplace=True),
    )


class DigitClassifier(nn.Module):
    def __init__(self, spec: ClassifierSpec = ClassifierSpec()):
        super().__init__()
        c1, c2, c3 = spec.widths
        self.spec = spec
        self.body = nn.Sequential(
            _conv_block(spec.in_channels, c1),  # 28 -> 14
            _conv_block(c1, c2),  # 14 -> 7
            _conv_block(c2, c3),  # 7 -> 3
            nn.Flatten(),
            nn.Linear(c3 * 3 * 3, spec.hidden),
            nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden, spec.num_classes)
        # channels_last conv weights and maps: oneDNN's CPU kernels train this network faster in that
        # layout (benchmarks/RESULTS.md); .to(device) keeps it.
        self.to(memory_format=torch.channels_last)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (N, hidden): the feature space of the Fréchet distance."""
        return self.body(images.contiguous(memory_format=torch.channels_last))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(images)))


def fuse_for_inference(model: DigitClassifier, dtype: torch.dtype = torch.float32) -> DigitClassifier:
    """An eval-mode copy with every BatchNorm folded into its conv (before any cast to `dtype`, so
    the fold is exact), in channels_last layout: the same function, faster on CPU.
    Feed it channels_last input of `dtype` (`images.contiguous(memory_format=torch.channels_last)`)."""
    fused = copy.deepcopy(model).eval()
    for index in range(3):
        conv, norm, _pool, _relu = fused.body[index]
        fused.body[index] = nn.Sequential(fuse_conv_bn_eval(conv, norm), MaxPool2ThenRelu())
    return fused.to(dtype=dtype, memory_format=torch.channels_last)


@torch.inference_mode()
def probabilities(model: nn.Module, images: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Softmax over classes for images in [-1, 1], (N, 1, 28, 28), in batches."""
    was_training = model.training
    model.eval()
    out = torch.cat(
        [torch.softmax(model(images[i : i + batch_size]), dim=1) for i in range(0, len(images), batch_size)]
    )
    model.train(was_training)
    return out


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((probabilities(model, images).argmax(dim=1) == labels).float().mean())


def test_scores(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Accuracy, and what a class-imbalanced comparison reads: the recall of each class, their mean
    (balanced accuracy) and the worst class's."""
    correct = probabilities(model, images).argmax(dim=1) == labels
    per_class = torch.zeros(num_classes).index_add_(0, labels.cpu(), correct.float().cpu())
    counts = torch.bincount(labels.cpu(), minlength=num_classes).clamp(min=1)
    recall = (per_class / counts).tolist()
    return {
        "test_accuracy": float(correct.float().mean()),
        "balanced_accuracy": sum(recall) / num_classes,
        "worst_class_recall": min(recall),
        "recall_per_class": [round(r, 5) for r in recall],
    }
