"""What a running study shows: a rich progress display, or nothing (quiet, JSON).

The display is driven by three events, whether trials run in this process or in
worker processes: a trial started, an epoch ended, a trial finished (as plain data).
"""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.records import describe_params

_STATE_STYLE = {"complete": "green", "pruned": "yellow", "fail": "red"}


class SilentProgress:
    """Shows nothing; used for ``--quiet`` and ``--json``, and the base of the others."""

    def __enter__(self) -> SilentProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self, total: int) -> None:
        return None

    def trial_started(self, number: int) -> None:
        return None

    def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
        return None

    def trial_finished(self, summary: dict[str, Any], best: float | None) -> None:
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

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, total: int) -> None:
        self._trials = self._progress.add_task("trials", total=total, info="")
        self._epochs = self._progress.add_task("epochs", total=self.max_epochs, info="")

    def trial_started(self, number: int) -> None:
        self._progress.reset(self._epochs, total=self.max_epochs,
                             description=f"trial {number}", info="")

    def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
        value = row.get(self.metric, math.nan)
        self._progress.update(self._epochs, completed=epoch, info=f"{self.metric} {value:.4f}")

    def trial_finished(self, summary: dict[str, Any], best: float | None) -> None:
        state = summary["state"]
        style = _STATE_STYLE.get(state, "white")
        value = "—" if summary["value"] is None else f"{summary['value']:.4f}"
        seconds = summary.get("seconds") or 0.0
        line = (f"[{style}]trial {summary['number']:>3} {state:<8}[/] {self.metric} {value:<8} "
                f"{seconds:6.1f}s  {describe_params(summary['params'])}")
        if state != "complete":
            line += f"  [dim]({summary['outcome']})[/]"
        self.console.print(line)
        info = "" if best is None else f"best {self.metric} {best:.4f}"
        self._progress.update(self._trials, advance=1, info=info)
