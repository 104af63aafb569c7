"""Running a study: open or resume it, load the data, optimise, summarise."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import optuna

from search.config import StudySpec
from search.artifacts import artifact_path, open_artifact_store
from search.datasets import load_dataset
from search.notes import study_note, write_note
from search.objective import Objective
from search.progress import SilentProgress
from search.records import trial_params
from search.storage import redact
from search.study import finished_count, open_study


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


def run_study(spec: StudySpec, progress: SilentProgress | None = None) -> RunResult:
    """Run trials until the study has ``budget.n_trials`` finished ones, or the timeout.

    Failed trials (an exception, a diverged loss) are recorded and the study goes on.
    """
    optuna.logging.set_verbosity(logging.WARNING)
    progress = progress or SilentProgress()
    started = time.perf_counter()
    study = open_study(spec)
    before = finished_count(study)
    best_before = _best_number(study)
    remaining = max(0, spec.budget.n_trials - before)
    if remaining:
        dataset = load_dataset(spec.data)
        study.set_user_attr("data", dataset.fingerprint())
        store = open_artifact_store(artifact_path(spec.storage, spec.artifacts))
        objective = Objective(spec, dataset, on_epoch=progress.on_epoch, artifact_store=store)
        try:
            with progress:
                progress.start(remaining)
                study.optimize(
                    objective,
                    n_trials=remaining,
                    timeout=spec.budget.timeout,
                    catch=(Exception,),
                    callbacks=[progress.on_trial_finished],
                )
        finally:
            ran = finished_count(study) - before
            write_note(study, None, study_note(study, spec.objective.metric, ran, best_before))
    return summarise(study, spec, ran=finished_count(study) - before,
                     seconds=time.perf_counter() - started)


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
