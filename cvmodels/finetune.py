"""Freezing and the warm-up -> unfreeze schedule of fine-tuning.

A model built on a backbone holds it as a nested model named ``backbone``. Its first N
layers (the input layer not counted) are frozen; frozen batch-norm layers run in
inference mode, since Keras runs a non-trainable ``BatchNormalization`` on its moving
statistics. With a warm-up of W epochs, the whole backbone is frozen first and only the
head trains; then the layers above N are unfrozen and training goes on at the learning
rate times ``fine_tune_lr_factor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cvmodels.backbones import BACKBONE, body_layers


def backbone_of(model: Any) -> Any | None:
    """The nested backbone of a model built here, or None (a compact CNN)."""
    try:
        return model.get_layer(BACKBONE)
    except ValueError:
        return None


def frozen_count(params: Mapping[str, Any], n_layers: int) -> int:
    """Layers to freeze: ``freeze`` as a fraction of ``n_layers`` (``freeze_by =
    "fraction"``), or ``freeze_layers`` as a count (``freeze_by = "count"``)."""
    if params.get("freeze_by", "fraction") == "count":
        count = int(params.get("freeze_layers") or 0)
    else:
        fraction = float(params.get("freeze") or 0.0)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"freeze must be a fraction in [0, 1], got {fraction}")
        count = round(fraction * n_layers)
    return max(0, min(count, n_layers))


def freeze_first(backbone: Any, count: int) -> int:
    """Freeze the first ``count`` layers of the backbone and unfreeze the rest."""
    backbone.trainable = True
    for index, layer in enumerate(body_layers(backbone)):
        layer.trainable = index >= count
    return count


@dataclass(frozen=True)
class Phase:
    """Epochs ``[start, end)`` trained with ``frozen`` backbone layers at ``lr_scale``."""

    start: int
    end: int
    frozen: int
    lr_scale: float


def phases(model: Any, params: Mapping[str, Any], epochs: int) -> list[Phase]:
    """The training phases of a model: one for a compact CNN; warm-up (head only) then
    fine-tuning for a backbone with ``warmup_epochs`` > 0."""
    backbone = backbone_of(model)
    if backbone is None:
        return [Phase(0, epochs, 0, 1.0)]
    n_layers = len(body_layers(backbone))
    frozen = frozen_count(params, n_layers)
    warmup = min(int(params.get("warmup_epochs") or 0), epochs)
    if warmup == 0 or frozen == n_layers:
        return [Phase(0, epochs, frozen, 1.0)]
    plan = [Phase(0, warmup, n_layers, 1.0)]
    if warmup < epochs:
        plan.append(Phase(warmup, epochs, frozen, float(params.get("fine_tune_lr_factor", 0.1))))
    return plan


def apply_phase(model: Any, phase: Phase) -> None:
    """Set the backbone's frozen layers for ``phase`` (compile the model afterwards)."""
    backbone = backbone_of(model)
    if backbone is not None:
        freeze_first(backbone, phase.frozen)
