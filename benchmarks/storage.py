"""Storage benchmarks: what a trial's bookkeeping costs on each storage, and worker scaling.

    python benchmarks/storage.py overhead [--postgres URL] [--trials 30]
    python benchmarks/storage.py scaling [--trials 16]

``overhead`` replays one trial's storage traffic without training (ask, a report and a
pruning check per epoch, the user attributes, the note, tell) on SQLite, the Journal file
and PostgreSQL. ``scaling`` runs the same small study with 1 and then 2 workers and
reports trials per minute. Each prints a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from search.storage import open_storage  # noqa: E402

EPOCHS = 12


def _one_trial(study: optuna.Study) -> None:
    from optuna_dashboard import save_note

    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("optimizer", ["sgd", "adam"])
    for epoch in range(1, EPOCHS + 1):
        trial.report(1.0 / epoch, epoch)
        trial.should_prune()
    history = {k: [0.5] * EPOCHS for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr")}
    for key, value in {"params": {"a": 1}, "history": history, "seed": 1, "epochs_run": EPOCHS,
                       "n_params": 1000, "seconds": 1.0, "best_epoch": 3, "best_val_loss": 0.3,
                       "best_val_accuracy": 0.9, "worker": "w"}.items():
        trial.set_user_attr(key, value)
    save_note(trial, "## Trial\n" + "text\n" * 40)
    study.tell(trial, 0.3)


def overhead(trials: int, postgres: str | None) -> dict:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{tmp}/b.db", "journal": f"journal:///{tmp}/b.log"}
        database = None
        if postgres:
            import psycopg

            database = f"cvsearch_bench_{uuid.uuid4().hex[:8]}"
            admin = psycopg.connect(postgres, autocommit=True)
            admin.cursor().execute(f'CREATE DATABASE "{database}"')
            urls["postgresql"] = postgres.rsplit("/", 1)[0] + "/" + database
        try:
            for name, url in urls.items():
                study = optuna.create_study(storage=open_storage(url), study_name="b")
                _one_trial(study)  # warm-up: tables, connections
                started = time.perf_counter()
                for _ in range(trials):
                    _one_trial(study)
                results[f"{name}_ms_per_trial"] = round(
                    1000 * (time.perf_counter() - started) / trials, 1)
        finally:
            if database:
                cursor = admin.cursor()
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))
                cursor.execute(f'DROP DATABASE "{database}"')
    return {"benchmark": "storage-overhead", "trials": trials, "epochs": EPOCHS, **results}


def scaling(trials: int) -> dict:
    """Trials per minute of one small study (ShallowNet, digits, 3 epochs, no pruning)."""
    from search.config import load_spec
    from search.runner import run_study

    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec_file = Path(tmp) / "scale.toml"
        spec_file.write_text(f"""
name = "scale"
[model]
name = "shallownet"
[space.override]
optimizer = "adam"
lr_schedule = "none"
width = 1.0
batch_size = 64
augment = 0.0
[budget]
n_trials = {trials}
max_epochs = 3
[pruner]
kind = "none"
[execution]
trials_per_process = {trials}
""")
        for workers in (1, 2):
            spec = load_spec(spec_file).with_overrides(
                storage=f"journal:///{tmp}/w{workers}.log", workers=workers)
            started = time.perf_counter()
            result = run_study(spec)
            minutes = (time.perf_counter() - started) / 60
            rates[f"workers_{workers}_trials_per_min"] = round(result.ran / minutes, 2)
    ratio = rates["workers_2_trials_per_min"] / rates["workers_1_trials_per_min"]
    return {"benchmark": "scaling", "trials": trials, "cores": os.cpu_count(), **rates,
            "speedup_2_vs_1": round(ratio, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("overhead", "scaling"))
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--postgres", default=os.environ.get("CVSEARCH_TEST_POSTGRES"))
    args = parser.parse_args()
    if args.which == "overhead":
        print(json.dumps(overhead(args.trials or 30, args.postgres)))
    else:
        print(json.dumps(scaling(args.trials or 16)))


if __name__ == "__main__":
    main()
