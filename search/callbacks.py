"""Keras callbacks of a trial: the training monitor, the divergence guard and pruning.

Importing this module imports Keras; only the training path does.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna

from search.tfenv import import_keras

keras = import_keras()


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def _current_learning_rate(model: Any) -> float:
    optimizer = model.optimizer
    value = optimizer.learning_rate
    try:
        return float(keras.ops.convert_to_numpy(value))
    except Exception:  # noqa: BLE001 - an exotic schedule must not break the monitor
        return float("nan")


class TrainingMonitor(keras.callbacks.Callback):
    """Keeps the per-epoch history (losses, accuracies, learning rate, seconds).

    It also fails the trial as soon as the training loss is not finite: a diverged
    run has nothing more to teach.
    """

    def __init__(self, on_epoch: Callable[[int, dict[str, float]], None] | None = None) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self._on_epoch = on_epoch
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        row = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        row["lr"] = _current_learning_rate(self.model)
        row["seconds"] = time.perf_counter() - self._started
        for key, value in row.items():
            self.history.setdefault(key, []).append(value)
        if self._on_epoch is not None:
            self._on_epoch(epoch + 1, row)
        loss = row.get("loss", 0.0)
        if not math.isfinite(loss):
            self.model.stop_training = True
            raise TrainingDiverged(
                f"training loss became {loss} at epoch {epoch + 1} (learning rate too high?)"
            )


class PruningCallback(keras.callbacks.Callback):
    """Reports the monitored metric to Optuna every epoch and prunes when told to.

    Modelled on ``optuna_integration.KerasPruningCallback``: the step is the epoch
    (1-based), a missing metric warns once, a non-finite value is not reported, and the
    last epoch is reported but never pruned (Hyperband would otherwise prune trials
    that have already spent their whole budget).
    """

    def __init__(self, trial: optuna.trial.Trial, monitor: str, max_epochs: int | None = None):
        super().__init__()
        self._trial = trial
        self._monitor = monitor
        self._max_epochs = max_epochs
        self._warned = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self._monitor)
        if value is None:
            if not self._warned:
                warnings.warn(f"pruning needs '{self._monitor}' in the epoch logs; it is missing")
                self._warned = True
            return
        value = float(value)
        if not math.isfinite(value):
            return
        step = epoch + 1
        self._trial.report(value, step)
        if step == self._max_epochs:
            return  # the training is done: pruning now would only throw the result away
        if self._trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at epoch {step}: {self._monitor} {value:.4f} was not promising"
            )


class BestWeights(keras.callbacks.Callback):
    """Keeps, in memory, the weights of the epoch with the best monitored value."""

    def __init__(self, monitor: str, direction: str) -> None:
        super().__init__()
        self.monitor = monitor
        self.better = (lambda a, b: a < b) if direction == "minimize" else (lambda a, b: a > b)
        self.best_value: float | None = None
        self.weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self.best_value is None or self.better(float(value), self.best_value):
            self.best_value = float(value)
            self.weights = self.model.get_weights()

    def restore(self) -> None:
        if self.weights is not None:
            self.model.set_weights(self.weights)
