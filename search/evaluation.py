"""Scoring predictions once: loss, rank-1 and rank-5 accuracy, per-class report, confusion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def rank_k_accuracy(probabilities: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the ``k`` most probable."""
    top = np.argsort(-probabilities, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def evaluate_predictions(
    probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Everything the report shows about one set of predictions."""
    from sklearn.metrics import classification_report, confusion_matrix, log_loss

    classes = list(range(len(class_names)))
    probabilities = np.clip(probabilities.astype(np.float64), 1e-12, 1.0)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    result: dict[str, Any] = {
        "n": len(labels),
        "loss": float(log_loss(labels, probabilities, labels=classes)),
        "rank1": rank_k_accuracy(probabilities, labels, 1),
    }
    if len(class_names) > 5:
        result["rank5"] = rank_k_accuracy(probabilities, labels, 5)
    result["per_class"] = classification_report(
        labels, predicted, labels=classes, target_names=list(class_names), output_dict=True,
        zero_division=0,
    )
    result["confusion"] = confusion_matrix(labels, predicted, labels=classes).tolist()
    return result
