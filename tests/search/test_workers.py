"""Trials in worker processes: events reach the display, a dead worker fails only its trial."""

from __future__ import annotations

import textwrap
from typing import Any

from optuna.trial import TrialState

from search.config import load_spec
from search.notes import read_note
from search.progress import SilentProgress
from search.records import FAIL_REASON
from search.recovery import RETRY_OF
from search.runner import run_study
from search.storage import load_study
from search.study import open_study

PLUGIN = textwrap.dedent('''
    import os
    import signal

    import cvmodels


    @cvmodels.register_model("test_crashing")
    def crashing(input_shape, num_classes, *, dropout=0.0):
        """Dies like an out-of-memory kill when dropout is above 0.5."""
        if dropout > 0.5:
            os.kill(os.getpid(), signal.SIGKILL)
        return cvmodels.create_model("shallownet", input_shape, num_classes, width=0.5)
''')


class Recorder(SilentProgress):
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def trial_started(self, number: int) -> None:
        self.events.append(("start", number))

    def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
        self.events.append(("epoch", (number, epoch, round(row["val_loss"], 6))))

    def trial_finished(self, summary: dict[str, Any], best: float | None) -> None:
        self.events.append(("finish", (summary["number"], summary["state"], best)))


def test_trials_run_in_worker_processes_and_report_every_epoch(write_spec) -> None:
    spec = load_spec(write_spec(n_trials=2, max_epochs=2, isolation="process", per_process=1))
    recorder = Recorder()
    result = run_study(spec, recorder)
    assert result.ran == 2 and result.states == {"complete": 2}
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["start", "epoch", "epoch", "finish"] * 2
    study = load_study(spec.storage, spec.name)
    for trial in study.get_trials():
        assert trial.user_attrs["history"]["val_loss"][-1] is not None
        assert read_note(study, trial).startswith(f"## Trial {trial.number}: complete")
    finishes = [data for kind, data in recorder.events if kind == "finish"]
    assert finishes[-1][2] == min(t.value for t in study.get_trials())


def test_a_worker_killed_mid_trial_fails_that_trial_and_the_study_goes_on(
    write_spec, tmp_path
) -> None:
    (tmp_path / "crash_plugin.py").write_text(PLUGIN)
    text = (
        'imports = ["crash_plugin"]\n'
        + write_spec(n_trials=3, max_epochs=1, isolation="process", per_process=3).read_text()
        .replace('name = "shallownet"', 'name = "test_crashing"')
        .replace("dropout = 0.0", "dropout = { low = 0.0, high = 1.0 }")
    )
    spec = load_spec(write_spec(text, name="crash.toml"))
    study = open_study(spec)
    for dropout in (0.1, 0.9, 0.2):
        study.enqueue_trial({"dropout": dropout})
    result = run_study(spec)
    trials = load_study(spec.storage, spec.name).get_trials()
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL]
    assert trials[1].user_attrs[FAIL_REASON] == "the worker process died (exit code -9)"
    retried = trials[3]
    assert retried.user_attrs[RETRY_OF] == 1 and retried.params == trials[1].params
    assert retried.user_attrs[FAIL_REASON] == "the worker process died (exit code -9)"
    # it failed the same way twice: not retried again, and the budget of 3 is met
    assert result.states == {"complete": 2, "fail": 2}
    assert not load_study(spec.storage, spec.name).get_trials(states=(TrialState.RUNNING,))
