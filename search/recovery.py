"""Recovering trials that a dead worker left RUNNING, and retrying them once.

On relational storages Optuna's heartbeats find them (a trial whose heartbeat is older
than the grace period). The Journal storage has no heartbeats, so every worker keeps a
lease of its own — a study attribute it renews — and a trial whose worker's lease has run
out is recovered the same way. A trial a live worker is running is never touched.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.records import FAIL_REASON

WORKER = "worker"  # trial attribute: the id of the worker that ran it
RETRY_OF = "retry_of"  # trial attribute: the trial it retries
RETRY_HISTORY = "retry_history"
LEASE_PREFIX = "cvsearch:lease:"

#: How often a worker renews its lease, and how long a lease lasts without renewal.
LEASE_INTERVAL = 5.0
LEASE_TTL = 20.0

#: A failed trial is retried at most this many times (with the same parameters).
MAX_RETRY = 1


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Queue ``trial``'s parameters again, unless it is already a retry (bounded retries)."""
    history = list(trial.user_attrs.get(RETRY_HISTORY, [])) + [trial.number]
    if len(history) > MAX_RETRY:
        return False
    study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number, RETRY_HISTORY: history},
                        skip_if_exists=False)
    return True


def fail_and_retry(study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
    """Mark a RUNNING trial failed with ``reason``, then retry it; False if it was not
    RUNNING any more (another process got there first)."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, reason)
        if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            return False
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False
    retry(study, storage.get_trial(trial._trial_id))
    return True


class Lease:
    """A worker's liveness record, renewed by a daemon thread until :meth:`stop`."""

    def __init__(self, study: optuna.Study, worker_id: str, interval: float = LEASE_INTERVAL,
                 ttl: float = LEASE_TTL) -> None:
        self.study, self.worker_id, self.interval, self.ttl = study, worker_id, interval, ttl
        self._stop = threading.Event()
        self._renew()
        self._thread = threading.Thread(target=self._run, name="cvsearch-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        self.study._storage.set_study_system_attr(
            self.study._study_id, LEASE_PREFIX + self.worker_id,
            {"expires": time.time() + self.ttl},
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - a missed renewal is retried next interval
                pass

    def stop(self) -> None:
        """Stop renewing and release the lease."""
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        self.study._storage.set_study_system_attr(
            self.study._study_id, LEASE_PREFIX + self.worker_id, {"expires": 0.0})


def _leases(study: optuna.Study) -> dict[str, float]:
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {key[len(LEASE_PREFIX):]: float((value or {}).get("expires", 0.0))
            for key, value in attrs.items() if key.startswith(LEASE_PREFIX)}


def recover(study: optuna.Study) -> list[int]:
    """Fail and retry the trials that dead workers left RUNNING; returns their numbers."""
    from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled

    storage = study._storage
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        stale = set(storage._get_stale_trial_ids(study._study_id))
        reason = "its worker stopped sending heartbeats (killed or lost)"
    else:
        leases, now = _leases(study), time.time()
        stale = {
            t._trial_id for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if t.user_attrs.get(WORKER) and leases.get(t.user_attrs[WORKER], 0.0) < now
        }
        reason = "its worker's lease ran out (killed or lost)"
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial._trial_id in stale and fail_and_retry(study, trial, reason):
            recovered.append(trial.number)
    return recovered


def orphans_pending(study: optuna.Study, live_workers: set[str]) -> bool:
    """Whether a RUNNING trial belongs to no live local worker (it may still be recovered)."""
    return any(t.user_attrs.get(WORKER) not in live_workers
               for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def retried_numbers(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of failed trials that a later trial retries."""
    return {int(t.user_attrs[RETRY_OF]) for t in trials if RETRY_OF in t.user_attrs}


