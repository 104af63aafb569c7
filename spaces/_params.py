"""Search-space parameters: a name, a distribution and an optional condition.

Parameters are plain data. They know Optuna's distributions (so that a trial can
sample them) but nothing about Keras.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from spaces._errors import SpaceError


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` a space needs (``FixedTrial`` offers it too)."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = ..., log: bool = ...
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = ..., log: bool = ...
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class When:
    """Condition: the parameter exists only when ``parent`` took one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def holds(self, sampled: Mapping[str, Any]) -> bool:
        return self.parent in sampled and sampled[self.parent] in self.values

    def describe(self) -> str:
        shown = ", ".join(_show(v) for v in self.values)
        return f"{self.parent} in {{{shown}}}" if len(self.values) > 1 else f"{self.parent} = {shown}"


@dataclass(frozen=True)
class Param:
    """Base of every parameter kind."""

    name: str
    when: When | None = field(default=None, kw_only=True)
    help: str = field(default="", kw_only=True)

    kind = "param"

    def suggest(self, trial: TrialLike) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def override(self, value: Any, path: str) -> Param:
        """Return this parameter narrowed by a spec override (a table or a fixed value)."""
        if not isinstance(value, Mapping):
            return Fixed(self.name, self.coerce(value, path), when=self.when, help=self.help)
        return self._override_table(value, path)

    def _override_table(self, table: Mapping[str, Any], path: str) -> Param:
        raise SpaceError(f"{path}: {self.kind} parameter '{self.name}' takes a fixed value only")

    def coerce(self, value: Any, path: str) -> Any:
        return value

    def contains(self, value: Any) -> bool:
        return True


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpaceError(f"{path}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SpaceError(f"{path}: expected a finite number, got {value!r}")
    return float(value)


def _integer(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpaceError(f"{path}: expected an integer, got {value!r}")
    return value


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _check_keys(table: Mapping[str, Any], allowed: set[str], path: str) -> None:
    for key in table:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise SpaceError(f"{path}.{key}: unknown key (expected one of: {known})")


def _check_range(low: float, high: float, log: bool, path: str) -> None:
    if not low < high:
        raise SpaceError(f"{path}: empty range, low ({_show(low)}) must be below high ({_show(high)})")
    if log and low <= 0:
        raise SpaceError(f"{path}.low: a log range needs low > 0, got {_show(low)}")


@dataclass(frozen=True)
class Float(Param):
    """A real number in ``[low, high]``, uniform or log-uniform."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None
    kind = "float"

    def __post_init__(self) -> None:
        _check_range(self.low, self.high, self.log, self.name)

    def suggest(self, trial: TrialLike) -> float:
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        scale = "log-uniform" if self.log else "uniform"
        step = f", step {_show(self.step)}" if self.step else ""
        return f"{scale} [{_show(self.low)}, {_show(self.high)}]{step}"

    def _override_table(self, table: Mapping[str, Any], path: str) -> Param:
        _check_keys(table, {"low", "high", "log", "step"}, path)
        low = _number(table.get("low", self.low), f"{path}.low")
        high = _number(table.get("high", self.high), f"{path}.high")
        log = table.get("log", self.log)
        if not isinstance(log, bool):
            raise SpaceError(f"{path}.log: expected true or false, got {log!r}")
        step = table.get("step", self.step)
        if step is not None:
            step = _number(step, f"{path}.step")
        _check_range(low, high, log, path)
        return replace(self, low=low, high=high, log=log, step=step)

    def coerce(self, value: Any, path: str) -> float:
        return _number(value, path)

    def contains(self, value: Any) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Int(Param):
    """An integer in ``[low, high]``."""

    low: int = 0
    high: int = 1
    log: bool = False
    step: int = 1
    kind = "int"

    def __post_init__(self) -> None:
        _check_range(self.low, self.high, self.log, self.name)

    def suggest(self, trial: TrialLike) -> int:
        return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> str:
        scale = "log-int" if self.log else "int"
        step = f", step {self.step}" if self.step != 1 else ""
        return f"{scale} [{self.low}, {self.high}]{step}"

    def _override_table(self, table: Mapping[str, Any], path: str) -> Param:
        _check_keys(table, {"low", "high", "log", "step"}, path)
        low = _integer(table.get("low", self.low), f"{path}.low")
        high = _integer(table.get("high", self.high), f"{path}.high")
        log = table.get("log", self.log)
        if not isinstance(log, bool):
            raise SpaceError(f"{path}.log: expected true or false, got {log!r}")
        step = _integer(table.get("step", self.step), f"{path}.step")
        _check_range(low, high, log, path)
        return replace(self, low=low, high=high, log=log, step=step)

    def coerce(self, value: Any, path: str) -> int:
        return _integer(value, path)

    def contains(self, value: Any) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Categorical(Param):
    """One of a fixed list of choices (str, int, float or bool)."""

    choices: tuple[Any, ...] = ()
    kind = "categorical"

    def __post_init__(self) -> None:
        if not self.choices:
            raise SpaceError(f"{self.name}: no choices")

    def suggest(self, trial: TrialLike) -> Any:
        return trial.suggest_categorical(self.name, list(self.choices))

    def describe(self) -> str:
        return "one of {" + ", ".join(_show(c) for c in self.choices) + "}"

    def _override_table(self, table: Mapping[str, Any], path: str) -> Param:
        _check_keys(table, {"choices"}, path)
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SpaceError(f"{path}.choices: expected a non-empty list, got {choices!r}")
        unknown = [c for c in choices if c not in self.choices]
        if unknown and all(isinstance(c, str) for c in self.choices):
            known = ", ".join(_show(c) for c in self.choices)
            raise SpaceError(f"{path}.choices: unknown choice {unknown[0]!r} (known: {known})")
        return replace(self, choices=tuple(choices))

    def coerce(self, value: Any, path: str) -> Any:
        if all(isinstance(c, str) for c in self.choices) and value not in self.choices:
            known = ", ".join(_show(c) for c in self.choices)
            raise SpaceError(f"{path}: unknown choice {value!r} (known: {known})")
        return value

    def contains(self, value: Any) -> bool:
        return value in self.choices


@dataclass(frozen=True)
class Bool(Param):
    """True or false, searched as a two-way choice."""

    kind = "bool"

    def suggest(self, trial: TrialLike) -> bool:
        return bool(trial.suggest_categorical(self.name, [False, True]))

    def describe(self) -> str:
        return "true or false"

    def coerce(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise SpaceError(f"{path}: expected true or false, got {value!r}")
        return value


@dataclass(frozen=True)
class Fixed(Param):
    """A value the study does not search; recorded with every trial all the same."""

    value: Any = None
    kind = "fixed"

    def suggest(self, trial: TrialLike) -> Any:
        return self.value

    def describe(self) -> str:
        return f"fixed = {_show(self.value)}"

    def override(self, value: Any, path: str) -> Param:
        if isinstance(value, Mapping):
            raise SpaceError(f"{path}: '{self.name}' is fixed; give a value, not a table")
        return replace(self, value=value)
