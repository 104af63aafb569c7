"""Several workers on PostgreSQL and on the Journal storage: every trial once, kills survived.

The PostgreSQL tests read the server's URL from $CVSEARCH_TEST_POSTGRES (``.ci/run`` sets
it to the local server), create a fresh database for each test and drop it afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from search.config import load_spec
from search.progress import SilentProgress
from search.records import FAIL_REASON, HISTORY
from search.recovery import RETRY_OF, WORKER
from search.runner import run_study
from search.storage import open_storage
from search.study import finished_count

PG_ENV = "CVSEARCH_TEST_POSTGRES"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url():
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"${PG_ENV} is not set (.ci/run points it at the local PostgreSQL server)")
    import psycopg

    name = f"cvsearch_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(base, autocommit=True)
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        cursor = admin.cursor()
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(params=["postgres", "journal"])
def storage_url(request, tmp_path):
    if request.param == "journal":
        return f"journal:///{tmp_path / 'study.log'}"
    return request.getfixturevalue("postgres_url")


def _spec(write_spec, url: str, **fields):
    text = 'artifacts = "artifacts"\n' + write_spec(isolation="process", **fields).read_text().replace(
        "[execution]", "[execution]\nheartbeat_interval = 1\ngrace_period = 4\nworkers = {w}"
        .format(w=fields.pop("workers_", 1)), 1)
    path = write_spec(text, name="dist.toml")
    return load_spec(path).with_overrides(storage=url)


def _trials(spec):
    study = optuna.load_study(study_name=spec.name, storage=open_storage(spec.storage))
    return study, study.get_trials()


def test_four_workers_record_every_trial_exactly_once(write_spec, postgres_url) -> None:
    spec = _spec(write_spec, postgres_url, n_trials=24, max_epochs=1, pruner="none",
                 per_process=6, workers_=4)
    result = run_study(spec)
    study, trials = _trials(spec)
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials))), "no number skipped or written twice"
    assert 24 <= len(trials) <= 24 + 3, "workers stop together at the budget"
    assert all(t.state == TrialState.COMPLETE for t in trials)
    for trial in trials:
        assert list(trial.intermediate_values) == [1]
        assert len(trial.user_attrs[HISTORY]["loss"]) == 1
    assert len({t.user_attrs[WORKER] for t in trials}) >= 4
    assert result.ran == len(trials)


def _start(spec, *extra: str) -> subprocess.Popen:
    env = os.environ | {"CVSEARCH_STORAGE": spec.storage}
    return subprocess.Popen(
        [sys.executable, "-m", "search.cli", "run", spec.source, "--study", spec.name,
         "--storage", spec.storage, "--quiet", *extra],
        cwd=ROOT, env=env, start_new_session=True,
    )


def _wait_for_running_trial(spec, seconds: float = 120) -> optuna.trial.FrozenTrial:
    """A trial early in its training (at most half its epochs done), so that it is still
    running when the test's signal lands."""
    deadline = time.monotonic() + seconds
    study = None
    while time.monotonic() < deadline:
        try:
            study = study or _trials(spec)[0]
            for trial in study.get_trials(states=(TrialState.RUNNING,)):
                done = len(trial.intermediate_values)
                if 1 <= done <= spec.budget.max_epochs // 2 and trial.user_attrs.get(WORKER):
                    return trial
        except (KeyError, Exception):  # noqa: BLE001 - the study may not exist yet
            study = None
        time.sleep(0.1)
    raise AssertionError("no trial got going")


def test_a_worker_killed_mid_trial_is_failed_and_its_parameters_retried(
    write_spec, storage_url
) -> None:
    spec = _spec(write_spec, storage_url, n_trials=4, max_epochs=8, pruner="none",
                 per_process=4, workers_=2)
    run = _start(spec)
    victim = _wait_for_running_trial(spec)
    os.kill(int(victim.user_attrs[WORKER].split(":")[1]), signal.SIGKILL)
    assert run.wait(timeout=300) == 0
    study, trials = _trials(spec)
    killed = next(t for t in trials if t.number == victim.number)
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs[FAIL_REASON] == "the worker process died (exit code -9)"
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF) == victim.number]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert retries[0].state == TrialState.COMPLETE
    assert finished_count(study) == 4
    assert not study.get_trials(states=(TrialState.RUNNING,))


def test_a_run_killed_whole_is_recovered_by_the_next_run(write_spec, storage_url) -> None:
    spec = _spec(write_spec, storage_url, n_trials=3, max_epochs=8, pruner="none",
                 per_process=3)
    run = _start(spec)
    victim = _wait_for_running_trial(spec)
    os.killpg(run.pid, signal.SIGKILL)  # the parent and its worker: nobody is left to tell
    run.wait(timeout=30)
    assert _trials(spec)[0].trials[victim.number].state == TrialState.RUNNING
    again = _start(spec)
    assert again.wait(timeout=300) == 0
    study, trials = _trials(spec)
    killed = trials[victim.number]
    assert killed.state == TrialState.FAIL
    assert "killed or lost" in killed.user_attrs[FAIL_REASON]
    retries = [t for t in trials if t.user_attrs.get(RETRY_OF) == victim.number]
    assert len(retries) == 1 and retries[0].params == killed.params
    assert finished_count(study) == 3
    assert not study.get_trials(states=(TrialState.RUNNING,))


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _children_rss_mb() -> float:
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                if parent == os.getpid():
                    total += _rss_mb(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return total


def test_memory_stays_flat_over_30_trials(write_spec, tmp_path) -> None:
    spec = _spec(write_spec, f"journal:///{tmp_path / 'mem.log'}", n_trials=30, max_epochs=1,
                 pruner="none", per_process=10)
    samples: list[tuple[float, float]] = []

    class Sampler(SilentProgress):
        def trial_finished(self, summary, best):
            samples.append((_rss_mb(os.getpid()), _children_rss_mb()))

    run_study(spec, Sampler())
    assert len(samples) == 30
    parent_growth = (samples[-1][0] - samples[4][0]) / 25
    assert parent_growth < 1.0, f"the cvsearch process grew {parent_growth:.2f} MB per trial"
    first, last = max(c for _, c in samples[:10]), max(c for _, c in samples[20:])
    assert last < first + 25, f"workers grew from {first:.0f} to {last:.0f} MB"


def test_ctrl_c_fails_the_running_trial_with_the_reason(write_spec, tmp_path) -> None:
    spec = _spec(write_spec, f"sqlite:///{tmp_path / 'int.db'}", n_trials=3, max_epochs=12,
                 pruner="none", per_process=3)
    run = _start(spec)
    victim = _wait_for_running_trial(spec)
    os.killpg(run.pid, signal.SIGINT)  # what the terminal sends on Ctrl-C
    code = run.wait(timeout=120)
    study, trials = _trials(spec)
    stopped = trials[victim.number]
    seen = (code, stopped.state, stopped.user_attrs.get(FAIL_REASON),
            [(t.number, t.state.name) for t in trials])
    assert code == 130, seen
    assert stopped.state == TrialState.FAIL, seen
    assert stopped.user_attrs[FAIL_REASON] == "interrupted by the user", seen
    assert not study.get_trials(states=(TrialState.RUNNING,))
