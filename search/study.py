"""Creating or resuming the Optuna study a spec describes: sampler, pruner, stored config."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from search.config import StudySpec
from search.errors import CvsearchError
from search.records import CONFIG
from search.recovery import retried_numbers
from search.storage import open_storage, redact

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def make_sampler(spec: StudySpec, offset: int = 0) -> optuna.samplers.BaseSampler:
    """TPE or random sampling, seeded; ``offset`` varies the seed on resumed runs."""
    seed = None if spec.sampler.seed is None else spec.sampler.seed + offset
    if spec.sampler.kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=spec.sampler.n_startup_trials, group=True
        )


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """Pruning over epochs: Hyperband (default), successive halving, median, or none."""
    cfg = spec.pruner
    if cfg.kind == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=cfg.min_epochs,
            max_resource=spec.budget.max_epochs,
            reduction_factor=cfg.reduction_factor,
        )
    if cfg.kind == "successive_halving":  # one bracket: every trial competes from the start
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=cfg.min_epochs, reduction_factor=cfg.reduction_factor)
    if cfg.kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.n_startup_trials, n_warmup_steps=cfg.n_warmup_epochs
        )
    return optuna.pruners.NopPruner()


def finished_count(study: optuna.Study) -> int:
    """Finished trials that count toward the budget: a failed trial that was retried
    counts once, through its retry."""
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    return sum(1 for t in trials if t.state in FINISHED
               and not (t.state == TrialState.FAIL and t.number in retried))


def running_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def heartbeat_of(spec: StudySpec) -> tuple[int, int]:
    return (spec.execution.heartbeat_interval, spec.execution.grace_period)


def open_study(spec: StudySpec, *, heartbeat: bool = False, join: bool = False) -> optuna.Study:
    """Create the spec's study, or resume it if the storage already has it.

    A resumed study must have been created with the same search (data, model, space,
    objective, epochs); otherwise its trials would not be comparable.
    """
    storage = open_storage(spec.storage, heartbeat=heartbeat_of(spec) if heartbeat else None)
    existing = optuna.get_all_study_names(storage)
    resumed = spec.name in existing
    if join and not resumed:
        raise CvsearchError(f"no study named '{spec.name}' in {redact(spec.storage)} to join; "
                            "start it with 'cvsearch run'")
    offset = 0
    if resumed:
        offset = len(optuna.load_study(study_name=spec.name, storage=storage).trials)
    try:
        study = optuna.create_study(
            study_name=spec.name,
            storage=storage,
            direction=spec.objective.direction,
            sampler=make_sampler(spec, offset),
            pruner=make_pruner(spec),
            load_if_exists=True,
        )
    except ValueError as error:  # e.g. a direction that differs from the stored one
        raise CvsearchError(f"study '{spec.name}' in {redact(spec.storage)}: {error}") from None
    stored = study.user_attrs.get(CONFIG)
    if stored is None:
        study.set_user_attr(CONFIG, _jsonable(spec.to_dict()))
    else:
        check_same_search(spec, stored)
    return study


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def check_same_search(spec: StudySpec, stored: dict[str, Any]) -> None:
    """Refuse a spec whose data, model, space, objective or epochs differ from the study's."""
    current = _jsonable(spec.to_dict())
    keys = ("data", "model", "space", "objective")
    for key in keys:
        if _comparable(key, stored.get(key)) != _comparable(key, current.get(key)):
            raise CvsearchError(
                f"study '{spec.name}' was created with a different '{key}' section; "
                "restore it, or start a new study with --study NAME"
            )
    stored_epochs = stored.get("budget", {}).get("max_epochs")
    if stored_epochs != spec.budget.max_epochs:
        raise CvsearchError(
            f"study '{spec.name}' was created with budget.max_epochs = {stored_epochs}; "
            "restore it, or start a new study with --study NAME"
        )


#: Data settings that may differ between machines or runs without changing the search.
_LOCAL_DATA_KEYS = ("path", "cache")


def _comparable(key: str, section: Any) -> Any:
    if key == "data" and isinstance(section, dict):
        return {k: v for k, v in section.items() if k not in _LOCAL_DATA_KEYS}
    if key == "model" and isinstance(section, dict) and section.get("weights"):
        # a weights file may live in another folder on another machine: its name counts
        return section | {"weights": Path(section["weights"]).name}
    return section
