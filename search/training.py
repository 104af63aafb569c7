"""Building and fitting a trial's model: shared by the objective and by retraining.

A model on a pretrained backbone trains in phases (:mod:`cvmodels.finetune`): each
phase sets the frozen layers, compiles with its own learning rate and continues the
epoch count where the previous one stopped, so callbacks see one run of epochs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cvmodels
from cvmodels.finetune import apply_phase, phases
from search.config import StudySpec
from search.errors import CvsearchError


def build_model(spec: StudySpec, input_shape: tuple[int, ...], num_classes: int,
                params: Mapping[str, Any]) -> Any:
    """The spec's model for these sampled parameters (and the spec's fixed model options)."""
    return cvmodels.create_model(spec.model.name, input_shape, num_classes,
                                 **{**params, **spec.model.arguments()})


def preflight(spec: StudySpec, input_shape: tuple[int, ...], num_classes: int) -> None:
    """Load the spec's weights (or find its hypermodel) once before any trial, so that a
    missing file, imagenet weights that cannot be had or a hypermodel that cannot be
    imported end the run with one line instead of failing every trial."""
    from cvmodels.backbones import (
        BACKBONES,
        WeightsError,
        backbone_size,
        load_backbone,
        load_saved_body,
    )
    from search.tfenv import free_keras_memory, import_keras

    model = spec.model
    if model.hypermodel:
        from search.hypermodels import load_hypermodel

        load_hypermodel(model.hypermodel, dict(model.options), input_shape, num_classes)
        return
    if model.weights in (None, "none"):
        return
    import_keras()
    try:
        if model.name == "saved":
            load_saved_body(model.weights)
        elif model.name in BACKBONES:
            side = backbone_size(model.name, model.options.get("image_size"), input_shape)
            load_backbone(model.name, side, model.weights, alpha=model.options.get("alpha"))
    except WeightsError as error:
        raise CvsearchError(str(error)) from None
    finally:
        free_keras_memory()


def compile_model(model: Any, params: Mapping[str, Any], steps_per_epoch: int, epochs: int,
                  lr_scale: float = 1.0) -> None:
    """Compile with the sampled optimizer and schedule, the rate scaled by ``lr_scale``."""
    from search.schedules import build_optimizer

    scaled = dict(params)
    scaled["learning_rate"] = float(params.get("learning_rate", 1e-3)) * lr_scale
    model.compile(optimizer=build_optimizer(scaled, steps_per_epoch, epochs),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def fit_in_phases(model: Any, params: Mapping[str, Any], train: Any, n_train: int,
                  epochs: int, horizon: int | None = None, **fit_arguments: Any) -> None:
    """``model.fit`` through the model's phases: one for a compact CNN; warm-up then
    fine-tuning for a backbone with a warm-up. A learning-rate schedule spans ``horizon``
    epochs when that is longer (a retrain for a trial's best epoch keeps its schedule)."""
    batch_size = int(params.get("batch_size", 32))
    steps_per_epoch = math.ceil(n_train / batch_size)
    for phase in phases(model, params, epochs):
        apply_phase(model, phase)
        length = max(phase.end, horizon or 0) - phase.start
        compile_model(model, params, steps_per_epoch, length, phase.lr_scale)
        model.fit(train, initial_epoch=phase.start, epochs=phase.end, **fit_arguments)
        if getattr(model, "stop_training", False):
            break
