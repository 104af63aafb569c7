"""A worker: runs trials of a study in this process, reporting events as it goes.

``python -m search.worker SPEC --n-trials K [...]`` is what ``cvsearch run`` starts for
each batch of trials; it writes one JSON event per line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
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
from search.recovery import Lease, new_worker_id, recover
from search.study import finished_count, open_study, running_count
from search.tfenv import import_keras

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
    worker_id: str | None = None,
) -> None:
    """Run up to ``n_trials`` trials of the spec's study here; failures never end the batch.

    Before each trial the worker checks the study's budget (finished trials plus those
    other workers are running), so that several workers stop together at ``n_trials``.
    """
    optuna.logging.set_verbosity(logging.WARNING)
    from search.training import preflight

    dataset = dataset if dataset is not None else load_dataset(spec.data)
    preflight(spec, dataset.input_shape, dataset.num_classes)
    study = open_study(spec, heartbeat=True)
    worker_id = worker_id or new_worker_id()
    lease = None if uses_heartbeats(study) else Lease(
        study, worker_id, interval=spec.execution.heartbeat_interval,
        ttl=spec.execution.grace_period)
    store = open_artifact_store(artifact_path(spec.storage, spec.artifacts))
    objective = Objective(spec, dataset, on_epoch=progress.epoch, worker_id=worker_id,
                          on_start=progress.trial_started, artifact_store=store)

    def finished(study: optuna.Study, trial: FrozenTrial) -> None:
        progress.trial_finished(trial_summary(trial), best_value(study))

    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        recover(study)
        for _ in range(n_trials):
            if finished_count(study) + running_count(study) >= spec.budget.n_trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[finished])
    finally:
        if lease is not None:
            lease.stop()


def uses_heartbeats(study: optuna.Study) -> bool:
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    return isinstance(study._storage, BaseHeartbeat) and is_heartbeat_enabled(study._storage)


def configure_device(threads: int | None, mixed_precision: bool) -> None:
    """Threads per worker (so N workers share the cores), GPU memory growth (so they share
    a card), and the mixed-precision policy; before TensorFlow runs anything."""
    keras = import_keras()
    import tensorflow as tf

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")


class EventStream(SilentProgress):
    """Progress as JSON lines, read by the parent ``cvsearch run``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream: TextIO | None = stream

    def _emit(self, **event: Any) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # the parent is gone: the storage still records
            self.stream = None

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


STORAGE_ENV = "CVSEARCH_WORKER_STORAGE"  # the storage URL, kept out of the command line


def main(argv: list[str] | None = None) -> int:
    from search.cli import _log_to_stderr, _spec
    from search.errors import CvsearchError
    from search.tfenv import set_verbose

    parser = argparse.ArgumentParser(prog="python -m search.worker")
    parser.add_argument("spec")
    parser.add_argument("--study")
    parser.add_argument("--data")
    parser.add_argument("--n-trials", type=int, required=True)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    args.storage = os.environ.get(STORAGE_ENV)
    set_verbose(args.verbose)
    _log_to_stderr(quiet=False)
    # the batch's own limits, not the study's budget
    batch, args.n_trials = args.n_trials, None
    timeout, args.timeout = args.timeout, None
    events = EventStream(sys.stdout)
    sys.stdout = sys.stderr  # nothing else may write to the event stream
    try:
        spec = _spec(args).with_overrides(isolation="inline")
        configure_device(args.threads, spec.train.mixed_precision)
        run_trials(spec, batch, timeout, events)
    except CvsearchError as error:
        print(f"cvsearch: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
