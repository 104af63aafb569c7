"""Named search spaces, chosen by name in a study spec."""

from __future__ import annotations

from collections.abc import Callable

from spaces._errors import SpaceError
from spaces._space import SearchSpace

_SPACES: dict[str, Callable[[], SearchSpace]] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Register a function that returns a :class:`SearchSpace` under ``name``."""

    def decorate(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        if name in _SPACES:
            raise ValueError(f"space '{name}' is already registered")
        _SPACES[name] = factory
        return factory

    return decorate


def list_spaces() -> list[str]:
    return sorted(_SPACES)


def get_space(name: str) -> SearchSpace:
    """Build the space registered as ``name``; an unknown name lists the known ones."""
    try:
        factory = _SPACES[name]
    except KeyError:
        raise SpaceError(f"unknown space '{name}' (known: {', '.join(list_spaces())})") from None
    return factory()
