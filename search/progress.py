"""What a running study shows: a rich progress display, or nothing (quiet, JSON)."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.records import SECONDS, describe_params, outcome, trial_params

_STATE_STYLE = {
    TrialState.COMPLETE: "green",
    TrialState.PRUNED: "yellow",
    TrialState.FAIL: "red",
}


class SilentProgress:
    """Shows nothing; used for ``--quiet`` and ``--json``."""

    def __enter__(self) -> SilentProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, total: int) -> None:
        return None

    def on_epoch(self, trial_number: int, epoch: int, row: dict[str, float]) -> None:
        return None

    def on_trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        return None


class RichProgress(SilentProgress):
    """A bar over trials with the best value so far, a bar over the current trial's
    epochs, and one line per finished trial."""

    def __init__(self, metric: str, max_epochs: int, console: Console | None = None) -> None:
        self.metric = metric
        self.max_epochs = max_epochs
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self._trials: Any = None
        self._epochs: Any = None
        self._current: int | None = None

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: int) -> None:
        self._trials = self._progress.add_task("trials", total=total, info="")
        self._epochs = self._progress.add_task("epochs", total=self.max_epochs, info="")

    def on_epoch(self, trial_number: int, epoch: int, row: dict[str, float]) -> None:
        value = row.get(self.metric, math.nan)
        self._progress.update(
            self._epochs,
            description=f"trial {trial_number}",
            completed=epoch,
            info=f"{self.metric} {value:.4f}",
        )

    def on_trial_finished(self, study: optuna.Study, trial: FrozenTrial) -> None:
        style = _STATE_STYLE.get(trial.state, "white")
        value = f"{trial.value:.4f}" if trial.value is not None else "—"
        seconds = trial.user_attrs.get(SECONDS, 0.0)
        self.console.print(
            f"[{style}]trial {trial.number:>3} {trial.state.name.lower():<8}[/] "
            f"{self.metric} {value:<8} {seconds:6.1f}s  {describe_params(trial_params(trial))}"
            + ("" if trial.state == TrialState.COMPLETE else f"  [dim]({outcome(trial)})[/]")
        )
        best = _best_value(study)
        self._progress.update(
            self._trials,
            advance=1,
            info="" if best is None else f"best {self.metric} {best:.4f}",
        )
        self._progress.reset(self._epochs, total=self.max_epochs, description="epochs", info="")


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None
