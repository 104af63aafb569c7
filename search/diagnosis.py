"""Reading a training history the way the book teaches: diverging, overfitting, underfitting.

Pure functions over the per-epoch history a trial records; no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a short ``kind`` and a sentence a person can act on."""

    kind: str  # "diverged" | "overfitting" | "underfitting" | "healthy" | "too short"
    message: str


def generalization_gap(history: Mapping[str, Sequence[float | None]]) -> list[float]:
    """Validation loss minus training loss, per epoch (NaN where either is missing)."""
    train, val = history.get("loss", []), history.get("val_loss", [])
    return [_f(v) - _f(t) for t, v in zip(train, val)]


def diagnose(history: Mapping[str, Sequence[float | None]], num_classes: int) -> list[Finding]:
    """Findings for a history of at least one epoch, the most urgent first.

    - diverged: a non-finite loss, or a training loss that rose from the start;
    - overfitting: the gap grew over the last epochs while validation loss rose from its best;
    - underfitting: both losses high (above half of chance level, ``ln C``) and flat;
    - healthy when none applies.
    """
    train = [_f(v) for v in history.get("loss", [])]
    val = [_f(v) for v in history.get("val_loss", [])]
    if not train:
        return [Finding("too short", "no epoch finished, so there is nothing to diagnose")]
    if any(not math.isfinite(v) for v in train + val):
        epoch = next(i for i, v in enumerate(train + val) if not math.isfinite(v)) % len(train) + 1
        return [Finding("diverged", f"the loss became NaN/inf (epoch {epoch}): "
                        "lower the learning rate, or add batch norm")]
    findings: list[Finding] = []
    if len(train) >= 3:
        rises = sum(b > a for a, b in zip(train, train[1:]))
        if train[-1] > train[0] and rises >= (len(train) - 1) / 2:
            findings.append(Finding(
                "diverged",
                f"training loss rose from {train[0]:.3g} to {train[-1]:.3g}: "
                "the learning rate is too high",
            ))
    window = min(3, len(val) - 1)
    if window >= 2 and len(val) >= 4:
        gap = generalization_gap(history)
        best = min(val)
        grew = gap[-1] - gap[-1 - window]
        if grew > 0.02 and gap[-1] > 0 and val[-1] > best * 1.05 + 1e-3:
            findings.append(Finding(
                "overfitting",
                f"the gap (val − train loss) grew by {grew:.3g} over the last {window} epochs "
                f"to {gap[-1]:.3g}, and validation loss rose from its best {best:.3g} to "
                f"{val[-1]:.3g}: more dropout or augmentation, decay, or fewer epochs",
            ))
    chance = math.log(max(num_classes, 2))
    if len(train) >= 3:
        half = max(1, len(train) // 2)
        drop = (train[-half - 1] - train[-1]) / max(abs(train[-half - 1]), 1e-12)
        high = train[-1] > 0.5 * chance and (not val or val[-1] > 0.5 * chance)
        if high and drop < 0.05:
            findings.append(Finding(
                "underfitting",
                f"both losses stayed high (train {train[-1]:.3g}, chance level {chance:.3g}) "
                "and flat: a larger learning rate or model, less regularisation",
            ))
    if not findings:
        findings.append(Finding("healthy", "losses fell and validation kept up with training"))
    return findings


def _f(value: float | None) -> float:
    return math.nan if value is None else float(value)
