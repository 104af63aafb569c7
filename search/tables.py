"""Rich tables for the terminal: spaces, trials, studies, run summaries. No TensorFlow."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from search.records import describe_params, trial_summary
from spaces import SearchSpace


def space_table(space: SearchSpace, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("parameter", no_wrap=True)
    table.add_column("distribution", min_width=18)
    table.add_column("only when")
    table.add_column("meaning")
    for row in space.rows():
        table.add_row(row["name"], row["distribution"], row["condition"], row["help"])
    return table


def ranked_trials(study: optuna.Study, top: int) -> list[FrozenTrial]:
    """Completed trials, best first."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: t.value, reverse=reverse)[:top]  # type: ignore[arg-type, return-value]


def trials_table(trials: list[FrozenTrial], metric: str, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("#", "trial", metric, "val acc", "best ep.", "epochs", "s", "parameters"):
        table.add_column(column, justify="right" if column != "parameters" else "left")
    for rank, trial in enumerate(trials, start=1):
        row = trial_summary(trial)
        table.add_row(
            str(rank),
            str(row["number"]),
            _num(row["value"]),
            _num(row["val_accuracy"]),
            str(row["best_epoch"] or ""),
            str(row["epochs_run"] or ""),
            _num(row["seconds"], 1),
            describe_params(row["params"], limit=20),
        )
    return table


def states_line(study: optuna.Study) -> str:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "no trials"


def studies_table(summaries: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("study", "direction", "trials", "best", "started"):
        table.add_column(column)
    for row in summaries:
        table.add_row(
            row["study"], row["direction"], str(row["trials"]), _num(row["best"]),
            row["started"] or "",
        )
    return table


def run_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"study '{result['study']}'", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_row("storage", result["storage"])
    table.add_row("this run", f"{result['ran']} trials in {result['seconds']:.1f}s")
    table.add_row("trials", ", ".join(f"{n} {s}" for s, n in sorted(result["states"].items())))
    best = result.get("best")
    if best:
        table.add_row("best trial", str(best["number"]))
        table.add_row(f"best {best['metric']}", _num(best["value"]))
        table.add_row("its val accuracy", _num(best["val_accuracy"]))
        table.add_row("at epoch", str(best["best_epoch"]))
        table.add_row("parameters", describe_params(best["params"], limit=20))
    return table


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}"
