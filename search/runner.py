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
import threading
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
from search.records import trial_params
from search.recovery import fail_and_retry, recover
from search.storage import redact
from search.study import finished_count, open_study, running_count
from search.worker import EXIT_INTERRUPTED, STORAGE_ENV, replay, run_trials

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
              verbose: bool = False, gpus: list[str] | None = None,
              join: bool = False) -> RunResult:
    """Run trials until the study has ``budget.n_trials`` finished ones, or the timeout.

    Failed trials (an exception, a diverged loss, a worker that died) are recorded and
    the study goes on; trials that a dead worker left RUNNING are failed and retried.
    ``join`` requires the study to exist (a worker joining from another machine).
    """
    optuna.logging.set_verbosity(logging.WARNING)
    progress = progress or SilentProgress()
    started = time.perf_counter()
    dataset = load_dataset(spec.data)  # bad data fails before any study is created
    study = open_study(spec, heartbeat=True, join=join)
    recover(study)
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
                    Lanes(spec, study, _Locked(progress), verbose, gpus or []).run()
        finally:
            ran = finished_count(study) - before
            study.set_user_attr(LATEST_RUN, latest_run_line(study, ran, best_before))
            write_note(study, None, study_note(study, spec.objective.metric))
    return summarise(study, spec, ran=finished_count(study) - before,
                     seconds=time.perf_counter() - started)


class _Locked(SilentProgress):
    """Serialises progress events arriving from several worker lanes."""

    def __init__(self, inner: SilentProgress) -> None:
        self.inner, self.lock = inner, threading.Lock()

    def trial_started(self, number: int) -> None:
        with self.lock:
            self.inner.trial_started(number)

    def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
        with self.lock:
            self.inner.epoch(number, epoch, row)

    def trial_finished(self, summary: dict[str, Any], best: float | None) -> None:
        with self.lock:
            self.inner.trial_finished(summary, best)


class Lanes:
    """``workers`` lanes side by side; each starts worker processes one after another,
    each for a batch of trials, until the study's budget or the timeout is spent."""

    def __init__(self, spec: StudySpec, study: optuna.Study, progress: SilentProgress,
                 verbose: bool, gpus: list[str]) -> None:
        self.spec, self.study, self.progress, self.verbose, self.gpus = (
            spec, study, progress, verbose, gpus)
        timeout = spec.budget.timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        cores = os.cpu_count() or 1
        workers = spec.execution.workers
        self.threads = None if workers == 1 else max(1, cores // workers)

    def _left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def _budget_left(self) -> int:
        return self.spec.budget.n_trials - finished_count(self.study) - running_count(self.study)

    def run(self) -> None:
        for _ in range(3):  # a second and third pass run retries of recovered trials
            self._run_lanes()
            if self.errors:
                raise self.errors[0]
            if not self._wait_for_orphans():
                return

    def _run_lanes(self) -> None:
        lanes = [threading.Thread(target=self._lane, args=(i,), name=f"lane-{i}", daemon=True)
                 for i in range(self.spec.execution.workers)]
        for lane in lanes:
            lane.start()
        try:
            while any(lane.is_alive() for lane in lanes):
                for lane in lanes:
                    lane.join(timeout=0.2)
        except KeyboardInterrupt:
            self.stop.set()  # the workers got the same Ctrl-C; let them fail their trials
            for lane in lanes:
                lane.join(timeout=60)
            raise

    def _lane(self, index: int) -> None:
        stalled = 0
        try:
            while not self.stop.is_set():
                left = self._left()
                budget = self._budget_left()
                if budget <= 0 or (left is not None and left <= 0):
                    return
                before = finished_count(self.study)
                code = self._worker(index, min(budget, self.spec.execution.trials_per_process),
                                    left)
                if code == EXIT_INTERRUPTED:
                    self.stop.set()
                    return
                if code == 2:
                    raise CvsearchError("a worker could not start the study (see above)")
                stalled = stalled + 1 if finished_count(self.study) == before else 0
                if stalled >= 3:
                    raise CvsearchError(
                        f"worker processes exit with code {code} before finishing a trial")
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.errors.append(error)
            self.stop.set()

    def _worker(self, index: int, n_trials: int, timeout: float | None) -> int:
        spec = self.spec
        command = [sys.executable, "-m", "search.worker", spec.source, "--study", spec.name,
                   "--n-trials", str(n_trials)]
        if spec.data.path:
            command += ["--data", spec.data.path]
        if timeout is not None:
            command += ["--timeout", f"{max(timeout, 0.001):.3f}"]
        if self.threads:
            command += ["--threads", str(self.threads)]
        if self.verbose:
            command.append("--verbose")
        env = os.environ | {"PYTHONUNBUFFERED": "1", STORAGE_ENV: spec.storage}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]
        started: list[int] = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as worker:
            assert worker.stdout is not None
            for line in worker.stdout:
                replay(line, self.progress, started.append)
            code = worker.wait()
        if code not in (0, 2, EXIT_INTERRUPTED):
            self._fail_orphans(started, f"the worker process died (exit code {code})")
        return code

    def _fail_orphans(self, numbers: list[int], reason: str) -> None:
        """Fail (and retry) the trials a dead worker left RUNNING, at once."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.number in numbers and fail_and_retry(self.study, trial, reason):
                log.warning("trial %d failed: %s; it is queued again", trial.number, reason)

    def _wait_for_orphans(self) -> bool:
        """Trials still RUNNING now belong to workers that died elsewhere (or to another
        machine's live workers). Wait out the grace period, then recover what is stale;
        True when that queued retries to run."""
        if self.stop.is_set() or not running_count(self.study):
            return False
        grace = self.spec.execution.grace_period + self.spec.execution.heartbeat_interval
        waited = 0.0
        while running_count(self.study) and waited <= grace:
            left = self._left()
            if left is not None and left <= 0:
                return False
            if recover(self.study):
                return True
            time.sleep(1.0)
            waited += 1.0
        return False


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
