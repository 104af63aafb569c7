"""A worker: runs trials of a study in this process, reporting events as it goes.

``python -m search.worker SPEC --n-trials K [...]`` is what ``cvsearch run`` starts for
each batch of trials; it writes one JSON event per line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial

from search.artifacts import artifact_path, open_artifact_store
from search.config import StudySpec
from search.datasets import Dataset, load_dataset
from search.objective import Objective
from search.progress import SilentProgress
from search.records import trial_summary
from search.study import open_study

EXIT_INTERRUPTED = 130


def best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


def run_trials(
    spec: StudySpec,
    n_trials: int,
    timeout: float | None,
    progress: SilentProgress,
    dataset: Dataset | None = None,
) -> None:
    """Run up to ``n_trials`` trials of the spec's study here; failures never end the batch."""
    optuna.logging.set_verbosity(logging.WARNING)
    dataset = dataset if dataset is not None else load_dataset(spec.data)
    study = open_study(spec)
    store = open_artifact_store(artifact_path(spec.storage, spec.artifacts))
    objective = Objective(spec, dataset, on_epoch=progress.epoch,
                          on_start=progress.trial_started, artifact_store=store)

    def finished(study: optuna.Study, trial: FrozenTrial) -> None:
        progress.trial_finished(trial_summary(trial), best_value(study))

    study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(Exception,),
                   callbacks=[finished])


class EventStream(SilentProgress):
    """Progress as JSON lines, read by the parent ``cvsearch run``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _emit(self, **event: Any) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def trial_started(self, number: int) -> None:
        self._emit(event="start", number=number)

    def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
        self._emit(event="epoch", number=number, epoch=epoch, row=row)

    def trial_finished(self, summary: dict[str, Any], best: float | None) -> None:
        self._emit(event="finish", summary=summary, best=best)


def replay(line: str, progress: SilentProgress, on_start: Callable[[int], None]) -> None:
    """Feed one event line from a worker to a progress display."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return
    kind = event.get("event")
    if kind == "start":
        on_start(event["number"])
        progress.trial_started(event["number"])
    elif kind == "epoch":
        progress.epoch(event["number"], event["epoch"], event["row"])
    elif kind == "finish":
        progress.trial_finished(event["summary"], event["best"])


def main(argv: list[str] | None = None) -> int:
    from search.cli import _log_to_stderr, _spec
    from search.errors import CvsearchError
    from search.tfenv import set_verbose

    parser = argparse.ArgumentParser(prog="python -m search.worker")
    parser.add_argument("spec")
    parser.add_argument("--storage")
    parser.add_argument("--study")
    parser.add_argument("--data")
    parser.add_argument("--n-trials", type=int, required=True)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    set_verbose(args.verbose)
    _log_to_stderr(quiet=False)
    timeout, args.timeout = args.timeout, None  # the batch's own limit, not the spec's
    events = EventStream(sys.stdout)
    sys.stdout = sys.stderr  # nothing else may write to the event stream
    try:
        spec = _spec(args).with_overrides(isolation="inline")
        run_trials(spec, args.n_trials, timeout, events)
    except CvsearchError as error:
        print(f"cvsearch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
