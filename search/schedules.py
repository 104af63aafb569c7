"""Optimizers and learning-rate schedules, built from sampled values.

Schedules are Keras ``LearningRateSchedule`` objects stepped per batch; their
parameters are given in epochs and converted with ``steps_per_epoch``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from search.tfenv import import_keras

ScheduleBuilder = Callable[[float, Mapping[str, Any], int, int], Any]

_SCHEDULES: dict[str, ScheduleBuilder] = {}


def register_schedule(name: str) -> Callable[[ScheduleBuilder], ScheduleBuilder]:
    """Register ``build(lr, params, steps_per_epoch, max_epochs)`` under ``name``."""

    def decorate(builder: ScheduleBuilder) -> ScheduleBuilder:
        _SCHEDULES[name] = builder
        return builder

    return decorate


@register_schedule("none")
def _constant(lr: float, params: Mapping[str, Any], steps: int, epochs: int) -> float:
    return lr


@register_schedule("step")
def _step(lr: float, params: Mapping[str, Any], steps: int, epochs: int) -> Any:
    keras = import_keras()
    every = int(params.get("step_epochs", 5))
    factor = float(params.get("step_factor", 0.5))
    boundaries = [k * every * steps for k in range(1, max(1, epochs // every) + 1)]
    values = [lr * factor**k for k in range(len(boundaries) + 1)]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


@register_schedule("exponential")
def _exponential(lr: float, params: Mapping[str, Any], steps: int, epochs: int) -> Any:
    keras = import_keras()
    return keras.optimizers.schedules.ExponentialDecay(
        lr, decay_steps=steps, decay_rate=float(params.get("exp_decay", 0.9))
    )


@register_schedule("polynomial")
def _polynomial(lr: float, params: Mapping[str, Any], steps: int, epochs: int) -> Any:
    keras = import_keras()
    return keras.optimizers.schedules.PolynomialDecay(
        lr, decay_steps=steps * epochs, end_learning_rate=0.0,
        power=float(params.get("poly_power", 1.0)),
    )


@register_schedule("cosine")
def _cosine(lr: float, params: Mapping[str, Any], steps: int, epochs: int) -> Any:
    keras = import_keras()
    return keras.optimizers.schedules.CosineDecay(
        lr, decay_steps=steps * epochs, alpha=float(params.get("cosine_floor", 0.0))
    )


def build_schedule(params: Mapping[str, Any], steps_per_epoch: int, max_epochs: int) -> Any:
    """The learning rate (a float or a schedule) that ``params`` asks for."""
    name = params.get("lr_schedule", "none")
    try:
        builder = _SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule '{name}' (known: {sorted(_SCHEDULES)})")
    return builder(float(params["learning_rate"]), params, max(1, steps_per_epoch), max_epochs)


def build_optimizer(params: Mapping[str, Any], steps_per_epoch: int, max_epochs: int) -> Any:
    """SGD (momentum, Nesterov) or Adam with the sampled learning rate and schedule."""
    keras = import_keras()
    learning_rate = build_schedule(params, steps_per_epoch, max_epochs)
    kind = params.get("optimizer", "adam")
    if kind == "sgd":
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=float(params.get("momentum", 0.9)),
            nesterov=bool(params.get("nesterov", False)),
        )
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    raise ValueError(f"unknown optimizer '{kind}' (known: sgd, adam)")
