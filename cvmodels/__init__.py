"""Keras model builders behind a registry keyed by name. Never imports Optuna."""

from cvmodels import backbones as _backbones  # noqa: F401  (registers the backbones)
from cvmodels import compact as _compact  # noqa: F401  (registers the built-in models)
from cvmodels._registry import (
    UnknownModelError,
    create_model,
    get_builder,
    list_models,
    model_hyperparameters,
    register_model,
)
from cvmodels.backbones import BACKBONES, Backbone, WeightsError

__all__ = [
    "BACKBONES",
    "Backbone",
    "UnknownModelError",
    "WeightsError",
    "create_model",
    "get_builder",
    "list_models",
    "model_hyperparameters",
    "register_model",
]
