"""What a trial records, and reading it back. Never imports TensorFlow.

A trial keeps its resolved hyperparameters, per-epoch history and outcome as Optuna
user attributes, so every command (and optuna-dashboard) can read them from storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

PARAMS = "params"
HISTORY = "history"
BEST_EPOCH = "best_epoch"
BEST_VAL_LOSS = "best_val_loss"
BEST_VAL_ACCURACY = "best_val_accuracy"
EPOCHS_RUN = "epochs_run"
N_PARAMS = "n_params"
SECONDS = "seconds"
SEED = "seed"
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"
CURVES = "curves_artifact"

CONFIG = "config"  # study attribute: the resolved spec


@dataclass
class TrialRecord:
    """A trial's outcome, ready to be written as user attributes."""

    params: dict[str, Any]
    seed: int
    history: dict[str, list[float]] = field(default_factory=dict)
    n_params: int = 0
    seconds: float = 0.0
    fail_reason: str | None = None
    prune_reason: str | None = None
    layers: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))

    def best_epoch(self, monitor: str, direction: str) -> int | None:
        """1-based epoch with the best finite monitored value, or None."""
        values = self.history.get(monitor, [])
        finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
        if not finite:
            return None
        pick = min if direction == "minimize" else max
        return pick(finite)[1] + 1

    def attributes(self, monitor: str, direction: str) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            PARAMS: self.params,
            SEED: self.seed,
            HISTORY: {k: [_json_float(x) for x in v] for k, v in self.history.items()},
            EPOCHS_RUN: self.epochs_run,
            N_PARAMS: self.n_params,
            SECONDS: round(self.seconds, 3),
        }
        best = self.best_epoch(monitor, direction)
        if best is not None:
            attrs[BEST_EPOCH] = best
            for key, name in (("val_loss", BEST_VAL_LOSS), ("val_accuracy", BEST_VAL_ACCURACY)):
                if key in self.history:
                    attrs[name] = _json_float(self.history[key][best - 1])
        if self.fail_reason:
            attrs[FAIL_REASON] = self.fail_reason
        if self.prune_reason:
            attrs[PRUNE_REASON] = self.prune_reason
        return attrs

    def write(self, trial: optuna.trial.Trial, monitor: str, direction: str) -> None:
        for key, value in self.attributes(monitor, direction).items():
            trial.set_user_attr(key, value)


def _json_float(value: float) -> float | None:
    """JSON has no NaN: store non-finite numbers as null."""
    value = float(value)
    return value if math.isfinite(value) else None


def outcome(trial: FrozenTrial) -> str:
    """One phrase for how a trial ended."""
    if trial.state == TrialState.PRUNED:
        return trial.user_attrs.get(PRUNE_REASON, "pruned")
    if trial.state == TrialState.FAIL:
        return "failed: " + str(trial.user_attrs.get(FAIL_REASON, "unknown reason"))
    if trial.state == TrialState.COMPLETE:
        epoch = trial.user_attrs.get(BEST_EPOCH)
        return f"best at epoch {epoch}" if epoch else "complete"
    return trial.state.name.lower()


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """All hyperparameters of a trial, the fixed ones included."""
    return dict(trial.user_attrs.get(PARAMS) or trial.params)


def describe_params(params: dict[str, Any], limit: int = 6) -> str:
    """A short ``key=value`` summary of the first few hyperparameters."""
    parts = []
    for key, value in list(params.items())[:limit]:
        shown = f"{value:.3g}" if isinstance(value, float) else str(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def trial_summary(trial: FrozenTrial) -> dict[str, Any]:
    """A finished trial as plain data, for tables, JSON and progress lines."""
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "best_epoch": trial.user_attrs.get(BEST_EPOCH),
        "epochs_run": trial.user_attrs.get(EPOCHS_RUN),
        "val_accuracy": trial.user_attrs.get(BEST_VAL_ACCURACY),
        "seconds": trial.user_attrs.get(SECONDS),
        "outcome": outcome(trial),
        "params": trial_params(trial),
    }
