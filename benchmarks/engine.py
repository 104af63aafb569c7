"""Engine benchmarks: per-trial overhead against plain ``model.fit``, and memory over trials.

    python benchmarks/engine.py overhead [--repeats 5] [--epochs 8]
    python benchmarks/engine.py memory [--trials 50] [--mode workers|inline|plain]

Each prints a JSON line; both sides of every comparison run in the same process, one after
the other, on the same data, model and seeds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

import cvmodels  # noqa: E402
from search.artifacts import artifact_path, open_artifact_store  # noqa: E402
from search.config import load_spec  # noqa: E402
from search.datasets import load_dataset  # noqa: E402
from search.objective import Objective  # noqa: E402
from search.study import make_pruner, make_sampler  # noqa: E402
from search.tfenv import import_keras, seed_everything  # noqa: E402

PARAMS = {
    "learning_rate": 0.003, "optimizer": "adam", "lr_schedule": "none", "dropout": 0.1,
    "batch_norm": False, "width": 1.0, "augment": 0.0, "batch_size": 64,
}

SPEC = """
name = "bench"
[model]
name = "{model}"
[space.override]
{overrides}
[budget]
max_epochs = {epochs}
[pruner]
kind = "{pruner}"
"""


def _spec(folder: Path, model: str, epochs: int, pruner: str = "hyperband"):
    overrides = "\n".join(f"{k} = {json.dumps(v)}" for k, v in PARAMS.items())
    path = folder / "bench.toml"
    path.write_text(SPEC.format(model=model, overrides=overrides, epochs=epochs, pruner=pruner))
    return load_spec(path)


def _plain_fit(dataset, model_name: str, epochs: int, seed: int) -> float:
    keras = import_keras()
    started = time.perf_counter()
    seed_everything(seed)
    model = cvmodels.create_model(model_name, dataset.input_shape, dataset.num_classes, **PARAMS)
    model.compile(keras.optimizers.Adam(PARAMS["learning_rate"]),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(dataset.x_train, dataset.y_train, batch_size=PARAMS["batch_size"], epochs=epochs,
              validation_data=(dataset.x_val, dataset.y_val), verbose=0)
    del model
    keras.backend.clear_session()
    return time.perf_counter() - started


def overhead(repeats: int, epochs: int, model_name: str) -> dict:
    """Median seconds per trial, in turn, of: a plain ``model.fit``; a cvsearch trial with
    the engine alone (sampling, pipeline, pruning reports, monitor, records); and a full
    cvsearch trial (also the note, the curves PNG and the best-weights checkpoint)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(Path(tmp), model_name, epochs, pruner="none")
        dataset = load_dataset(spec.data)
        studies, objectives = {}, {}
        for kind in ("core", "full"):
            studies[kind] = optuna.create_study(
                storage=spec.storage, study_name=kind, sampler=make_sampler(spec),
                pruner=make_pruner(spec))
        objectives["core"] = Objective(spec, dataset, notes=False)
        store = open_artifact_store(artifact_path(spec.storage))
        objectives["full"] = Objective(spec, dataset, artifact_store=store)
        _plain_fit(dataset, model_name, 1, 0)  # warm-up of every path
        for kind in studies:
            studies[kind].optimize(objectives[kind], n_trials=1)
        timed: dict[str, list[float]] = {"plain": [], "core": [], "full": []}
        for i in range(repeats):
            timed["plain"].append(_plain_fit(dataset, model_name, epochs, spec.train.seed + i + 1))
            for kind in ("core", "full"):
                started = time.perf_counter()
                studies[kind].optimize(objectives[kind], n_trials=1)
                timed[kind].append(time.perf_counter() - started)
    median = {k: statistics.median(v) for k, v in timed.items()}
    return {
        "benchmark": "overhead", "model": model_name, "epochs": epochs, "repeats": repeats,
        "plain_fit_s": round(median["plain"], 3),
        "cvsearch_core_s": round(median["core"], 3),
        "cvsearch_full_s": round(median["full"], 3),
        "core_ratio": round(median["core"] / median["plain"], 3),
        "full_ratio": round(median["full"] / median["plain"], 3),
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory(trials: int, model_name: str, mode: str) -> dict:
    """Resident memory after 5 and after ``trials`` trials of 2 epochs.

    ``cvsearch``: the engine's objective through ``study.optimize``;
    ``plain``: an Optuna + Keras loop with ``clear_session()`` and ``gc.collect()``.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    keras = import_keras()
    marks: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(Path(tmp), model_name, 2, pruner="none")
        dataset = load_dataset(spec.data)
        study = optuna.create_study(storage=spec.storage, sampler=make_sampler(spec))
        objective = Objective(spec, dataset)

        def plain(trial: optuna.Trial) -> float:
            rate = trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True)
            model = cvmodels.create_model(model_name, dataset.input_shape, dataset.num_classes,
                                          **PARAMS)
            model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            history = model.fit(dataset.x_train, dataset.y_train, batch_size=64, epochs=2,
                                validation_data=(dataset.x_val, dataset.y_val), verbose=0)
            keras.backend.clear_session()
            gc.collect()
            return min(history.history["val_loss"])

        func = objective if mode == "cvsearch" else plain
        for n in range(1, trials + 1):
            study.optimize(func, n_trials=1)
            if n in (5, trials):
                marks[n] = _rss_mb()
    growth = (marks[trials] - marks[5]) / (trials - 5)
    return {
        "benchmark": "memory", "mode": mode, "model": model_name, "trials": trials,
        "rss_mb_after_5": round(marks[5], 1), f"rss_mb_after_{trials}": round(marks[trials], 1),
        "growth_mb_per_trial": round(growth, 3),
    }


def _children_rss_mb() -> float:
    """Resident memory of this process's live child processes (the workers)."""
    me, total = os.getpid(), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            if parent == me:
                with open(f"/proc/{entry}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def memory_workers(trials: int, model_name: str, per_process: int) -> dict:
    """``cvsearch run`` as shipped: trials in worker processes of ``per_process`` trials.

    Samples, after every trial, this process's RSS and that of its live worker. Growth per
    trial is taken between trial 5 and the last trial at the same position in a worker's
    cycle (the sawtooth's same phase), and over the parent alone.
    """
    from search.progress import SilentProgress
    from search.runner import run_study

    samples: list[tuple[float, float]] = []

    class Sampler(SilentProgress):
        def trial_finished(self, summary, best):
            samples.append((_rss_mb(), _children_rss_mb()))

    with tempfile.TemporaryDirectory() as tmp:
        spec = _spec(Path(tmp), model_name, 2, pruner="none")
        spec = spec.with_overrides(n_trials=trials)
        import dataclasses

        spec = dataclasses.replace(spec, execution=dataclasses.replace(
            spec.execution, isolation="process", trials_per_process=per_process))
        run_study(spec, Sampler())
    last = 5 + ((trials - 5) // per_process) * per_process
    tree = [p + c for p, c in samples]
    return {
        "benchmark": "memory", "mode": "cvsearch-workers", "model": model_name,
        "trials": len(samples), "trials_per_process": per_process,
        "parent_rss_mb_after_5": round(samples[4][0], 1),
        f"parent_rss_mb_after_{len(samples)}": round(samples[-1][0], 1),
        "parent_growth_mb_per_trial": round((samples[-1][0] - samples[4][0]) / (len(samples) - 5), 3),
        "tree_rss_mb_after_5": round(tree[4], 1),
        f"tree_rss_mb_after_{last}": round(tree[last - 1], 1),
        "tree_growth_mb_per_trial_same_phase": round((tree[last - 1] - tree[4]) / (last - 5), 3),
        "peak_tree_rss_mb": round(max(tree), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("overhead", "memory"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--model", default="minivggnet")
    parser.add_argument("--mode", choices=("workers", "inline", "plain"), default="workers",
                        help="workers: as `cvsearch run` runs; inline: the objective in this "
                             "process; plain: an Optuna + Keras loop")
    parser.add_argument("--per-process", type=int, default=20)
    args = parser.parse_args()
    if args.which == "overhead":
        result = overhead(args.repeats, args.epochs, args.model)
    elif args.mode == "workers":
        result = memory_workers(args.trials, args.model, args.per_process)
    else:
        result = memory(args.trials, args.model, "cvsearch" if args.mode == "inline" else "plain")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
