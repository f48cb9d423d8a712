"""A trained digit classifier on storage: `classifier.safetensors` + `classifier.json` (spec, test
accuracy, provenance). The judge and the retrained classifiers are both stored this way."""

from __future__ import annotations

from typing import Any

import torch

from augment.models.classifier import ClassifierSpec, DigitClassifier
from augment.models.weights_file import info_name, load_module, save_module, weights_name

NAME = "classifier"
WEIGHTS_FILE = weights_name(NAME)
INFO_FILE = info_name(NAME)


def export_classifier(uri: str, model: DigitClassifier, **provenance: Any) -> dict[str, Any]:
    return save_module(uri, NAME, model, model.spec.to_dict(), **provenance)


def load_classifier(uri: str, device: str | torch.device = "cpu") -> tuple[DigitClassifier, dict[str, Any]]:
    model, info = load_module(
        uri, NAME, lambda spec: DigitClassifier(ClassifierSpec.from_dict(spec)),
        what="trained classifier", missing_hint="no judge trained there yet?",
    )
    return model.to(device).eval(), info
