"""Running a study: open or resume it, run its trials, summarise.

Trials run in worker processes, each taking a batch of trials and then exiting, so that
the memory TensorFlow keeps from every trained model is given back (``execution``
in the spec; ``isolation = "inline"`` runs them in this process instead).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from search.config import StudySpec
from search.datasets import load_dataset
from search.errors import CvsearchError
from search.notes import LATEST_RUN, latest_run_line, study_note, write_note
from search.progress import SilentProgress
from search.records import FAIL_REASON, trial_params
from search.storage import redact
from search.study import finished_count, open_study
from search.worker import replay, run_trials

log = logging.getLogger("cvsearch")


@dataclass
class RunResult:
    """What one ``cvsearch run`` did, and where the study stands after it."""

    study: str
    storage: str
    requested: int
    ran: int
    seconds: float
    states: dict[str, int] = field(default_factory=dict)
    best: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "storage": self.storage,
            "requested_total": self.requested,
            "ran": self.ran,
            "seconds": round(self.seconds, 2),
            "states": self.states,
            "best": self.best,
        }


def run_study(spec: StudySpec, progress: SilentProgress | None = None,
              verbose: bool = False) -> RunResult:
    """Run trials until the study has ``budget.n_trials`` finished ones, or the timeout.

    Failed trials (an exception, a diverged loss, a worker that died) are recorded and
    the study goes on.
    """
    optuna.logging.set_verbosity(logging.WARNING)
    progress = progress or SilentProgress()
    started = time.perf_counter()
    dataset = load_dataset(spec.data)  # bad data fails before any study is created
    study = open_study(spec)
    before = finished_count(study)
    best_before = _best_number(study)
    remaining = spec.budget.n_trials - before
    if remaining > 0:
        study.set_user_attr("data", dataset.fingerprint())
        try:
            with progress:
                progress.start(remaining)
                if spec.execution.isolation == "inline":
                    run_trials(spec, remaining, spec.budget.timeout, progress, dataset)
                else:
                    del dataset
                    _run_in_workers(spec, study, progress, verbose)
        finally:
            ran = finished_count(study) - before
            study.set_user_attr(LATEST_RUN, latest_run_line(study, ran, best_before))
            write_note(study, None, study_note(study, spec.objective.metric))
    return summarise(study, spec, ran=finished_count(study) - before,
                     seconds=time.perf_counter() - started)


def _run_in_workers(spec: StudySpec, study: optuna.Study, progress: SilentProgress,
                    verbose: bool) -> None:
    """Start one worker process per batch of trials until the budget is spent."""
    deadline = None if spec.budget.timeout is None else time.monotonic() + spec.budget.timeout
    stalled = 0
    while True:
        remaining = spec.budget.n_trials - finished_count(study)
        left = None if deadline is None else deadline - time.monotonic()
        if remaining <= 0 or (left is not None and left <= 0):
            return
        before = finished_count(study)
        code = _run_worker(spec, study, min(remaining, spec.execution.trials_per_process),
                           left, progress, verbose)
        if code == 130:
            raise KeyboardInterrupt
        if code == 2:
            raise CvsearchError("a worker could not start the study (see the message above)")
        stalled = stalled + 1 if finished_count(study) == before else 0
        if stalled >= 2:
            raise CvsearchError(f"worker processes exit with code {code} before finishing a trial")


def _run_worker(spec: StudySpec, study: optuna.Study, n_trials: int, timeout: float | None,
                progress: SilentProgress, verbose: bool) -> int:
    command = [sys.executable, "-m", "search.worker", spec.source, "--storage", spec.storage,
               "--study", spec.name, "--n-trials", str(n_trials)]
    if spec.data.path:
        command += ["--data", spec.data.path]
    if timeout is not None:
        command += ["--timeout", f"{max(timeout, 0.001):.3f}"]
    if verbose:
        command.append("--verbose")
    started: list[int] = []
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as worker:
        try:
            assert worker.stdout is not None
            for line in worker.stdout:
                replay(line, progress, started.append)
            code = worker.wait()
        except KeyboardInterrupt:
            worker.wait(timeout=60)  # it got the same Ctrl-C and fails its running trial
            raise
    if code not in (0, 2, 130):
        _fail_orphans(study, started, f"the worker process died (exit code {code})")
    return code


def _fail_orphans(study: optuna.Study, numbers: list[int], reason: str) -> None:
    """Mark trials a dead worker left RUNNING as failed, with the reason."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.number in numbers:
            study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, reason)
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            log.warning("trial %d failed: %s", trial.number, reason)


def _best_number(study: optuna.Study) -> int | None:
    try:
        return study.best_trial.number
    except ValueError:
        return None


def summarise(study: optuna.Study, spec: StudySpec, ran: int, seconds: float) -> RunResult:
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name.lower() for t in trials)
    result = RunResult(
        study=study.study_name,
        storage=redact(spec.storage),
        requested=spec.budget.n_trials,
        ran=ran,
        seconds=seconds,
        states=dict(states),
    )
    try:
        best = study.best_trial
    except ValueError:
        return result
    result.best = {
        "number": best.number,
        "value": best.value,
        "metric": spec.objective.metric,
        "best_epoch": best.user_attrs.get("best_epoch"),
        "val_accuracy": best.user_attrs.get("best_val_accuracy"),
        "params": trial_params(best),
    }
    return result
