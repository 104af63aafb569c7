"""Model builders registered by name.

Builders take the input shape, the class count and plain keyword hyperparameters, and
import Keras only when called, so that listing or validating names stays light.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

ModelBuilder = Callable[..., Any]

_MODELS: dict[str, ModelBuilder] = {}


class UnknownModelError(KeyError):
    """Raised for a model name that no builder is registered under."""

    def __str__(self) -> str:
        return str(self.args[0])


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register ``build(input_shape, num_classes, **hyperparameters)`` under ``name``."""

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _MODELS:
            raise ValueError(f"model '{name}' is already registered")
        _MODELS[name] = builder
        return builder

    return decorate


def list_models() -> list[str]:
    return sorted(_MODELS)


def get_builder(name: str) -> ModelBuilder:
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model '{name}' (known: {', '.join(list_models())})"
        ) from None


def model_hyperparameters(name: str) -> tuple[str, ...]:
    """The keyword hyperparameters that the builder of ``name`` accepts."""
    signature = inspect.signature(get_builder(name))
    return tuple(
        p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


def create_model(
    name: str, input_shape: tuple[int, ...], num_classes: int, **hyperparameters: Any
) -> Any:
    """Build model ``name``; hyperparameters the builder does not take are ignored."""
    accepted = set(model_hyperparameters(name))
    kwargs = {k: v for k, v in hyperparameters.items() if k in accepted}
    return get_builder(name)(tuple(input_shape), int(num_classes), **kwargs)
