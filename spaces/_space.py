"""A search space: an ordered tuple of parameters, sampled with their conditions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from spaces._errors import SpaceError
from spaces._params import Param, TrialLike


@dataclass(frozen=True)
class SearchSpace:
    """Parameters in sampling order; a condition may only refer to an earlier parameter."""

    name: str
    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for param in self.params:
            if param.name in seen:
                raise SpaceError(f"space '{self.name}': parameter '{param.name}' defined twice")
            if param.when is not None and param.when.parent not in seen:
                raise SpaceError(
                    f"space '{self.name}': '{param.name}' depends on '{param.when.parent}',"
                    " which is not defined before it"
                )
            seen.add(param.name)

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def sample(self, trial: TrialLike) -> dict[str, Any]:
        """Sample every parameter whose condition holds, in order.

        Works with ``optuna.trial.Trial`` and with ``optuna.trial.FixedTrial``.
        """
        values: dict[str, Any] = {}
        for param in self.params:
            if param.when is None or param.when.holds(values):
                values[param.name] = param.suggest(trial)
        return values

    def with_overrides(self, overrides: Mapping[str, Any], path: str = "space.override") -> SearchSpace:
        """Return the space with ranges, choices or fixed values replaced by a spec's overrides."""
        params = list(self.params)
        for name, value in overrides.items():
            key = f"{path}.{name}"
            index = next((i for i, p in enumerate(params) if p.name == name), None)
            if index is None:
                known = ", ".join(self.names)
                raise SpaceError(f"{key}: unknown parameter (space '{self.name}' has: {known})")
            params[index] = params[index].override(value, key)
        return replace(self, params=tuple(params))

    def rows(self) -> list[dict[str, str]]:
        """One row per parameter, for tables and for the record stored with a study."""
        return [
            {
                "name": p.name,
                "kind": p.kind,
                "distribution": p.describe(),
                "condition": p.when.describe() if p.when else "",
                "help": p.help,
            }
            for p in self.params
        ]
