"""A trained digit classifier on storage: `classifier.safetensors` + `classifier.json` (spec, test
accuracy, provenance). The judge and the retrained classifiers are both stored this way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from augment.models.weights_file import info_name, load_module, read_info, save_module, weights_name

if TYPE_CHECKING:  # torch loads with the model, not with this module (read_classifier_info needs none)
    import torch

    from augment.models.classifier import DigitClassifier

NAME = "classifier"
WEIGHTS_FILE = weights_name(NAME)
INFO_FILE = info_name(NAME)


def export_classifier(uri: str, model: DigitClassifier, **provenance: Any) -> dict[str, Any]:
    return save_module(uri, NAME, model, model.spec.to_dict(), **provenance)


_DESCRIBED = {"what": "trained classifier", "missing_hint": "no judge trained there yet?"}


def read_classifier_info(uri: str) -> dict[str, Any]:
    """classifier.json, with the weights checked present and matching its digest (no torch)."""
    return read_info(uri, NAME, **_DESCRIBED)[0]


def load_classifier(uri: str, device: str | torch.device = "cpu") -> tuple[DigitClassifier, dict[str, Any]]:
    from augment.models.classifier import ClassifierSpec, DigitClassifier

    model, info = load_module(uri, NAME, lambda spec: DigitClassifier(ClassifierSpec.from_dict(spec)), **_DESCRIBED)
    return model.to(device).eval(), info
