"""Head to head: cvsearch against KerasTuner's tuners and plain Optuna random search.

    pip install -e '.[benchmark]'     # KerasTuner's tuners need tensorboard
    python benchmarks/versus_keras_tuner.py --data digits --budget 120 --epochs 10 --target 0.98
    python benchmarks/versus_keras_tuner.py --data ../shared/datasets/smiles --image-size 32 \
        --budget 300 --epochs 8 --target 0.90

Every tuner searches the same MiniVGG-style space (one KerasTuner hypermodel,
:class:`MiniVGGSpace`: learning rate, optimizer, dropout, batch norm, width, batch size)
on the same split, with the same epochs per trial and the same wall-clock budget, one
after another in fresh processes. cvsearch runs that very hypermodel through its
KerasTuner adapter (TPE, Hyperband pruning on validation loss, trials in worker
processes); "optuna-random" is the same without TPE and without pruning. The clock of a
tuner starts once its data are loaded; at the budget its process group is killed.

Per tuner: trials begun, epochs trained, best validation accuracy of any epoch, seconds
until an epoch first reached the target accuracy, peak memory (all of its processes together, sampled every 0.5 s), and each
one's ratio to cvsearch. Prints a Markdown table and writes JSON next to it (--out).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TUNERS = ("cvsearch", "optuna-random", "kt-hyperband", "kt-random", "kt-bayesian")
#: cvsearch variants that --tuners may add: successive halving instead of Hyperband
VARIANTS = {"cvsearch": ("tpe", "hyperband"), "cvsearch-sha": ("tpe", "successive_halving"),
            "optuna-random": ("random", "none")}
_TRIALS = [0]  # KerasTuner trials begun in this process (one fit call each)


def _keras_tuner_hypermodel() -> Any:
    import keras
    import keras_tuner

    import cvmodels

    class MiniVGGSpace(keras_tuner.HyperModel):
        """The shared space: MiniVGGNet with searched optimisation and regularisation."""

        def __init__(self, input_shape: tuple[int, ...], classes: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.input_shape, self.classes = tuple(input_shape), int(classes)

        def build(self, hp: Any) -> Any:
            model = cvmodels.create_model(
                "minivggnet", self.input_shape, self.classes,
                dropout=hp.Float("dropout", 0.0, 0.6),
                batch_norm=hp.Boolean("batch_norm"),
                width=hp.Choice("width", [0.5, 1.0, 2.0]))
            rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
            optimizer = (keras.optimizers.Adam(rate) if hp.Choice("optimizer", ["sgd", "adam"])
                         == "adam" else keras.optimizers.SGD(rate, momentum=0.9))
            model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            return model

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128]), **kwargs)

    return MiniVGGSpace


def __getattr__(name: str) -> Any:  # ``versus_keras_tuner:MiniVGGSpace`` for cvsearch's spec
    if name == "MiniVGGSpace":
        return _keras_tuner_hypermodel()
    raise AttributeError(name)


SPEC = """
name = "versus"
storage = "sqlite:///{folder}/versus.db"

[data]
kind = "{kind}"
{path}
{size}
color = "{color}"
seed = 0
class_weight = "off"

[model]
hypermodel = "versus_keras_tuner:MiniVGGSpace"

[budget]
n_trials = 100000
timeout = {budget}
max_epochs = {epochs}

[sampler]
kind = "{sampler}"
seed = 0

[pruner]
kind = "{pruner}"
min_epochs = 1
reduction_factor = 3

[train]
checkpoints = 0
"""


def _data_section(args: argparse.Namespace) -> dict[str, str]:
    if args.data == "digits":
        return {"kind": "digits", "path": "", "size": "", "color": "gray"}
    return {"kind": "folder", "path": f'path = "{Path(args.data).resolve()}"',
            "size": f"image_size = {args.image_size}" if args.image_size else "",
            "color": args.color}


class _Log:
    """One JSON line per event, flushed, timed from the start of the search."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("a")
        self.started = time.monotonic()
        self.write(event="start")

    def write(self, **event: Any) -> None:
        event["t"] = round(time.monotonic() - self.started, 3)
        self.handle.write(json.dumps(event) + "\n")
        self.handle.flush()


def run_one(tuner: str, args: argparse.Namespace, log_path: Path) -> None:
    """In a fresh process: load the data, start the clock, search until killed."""
    from search.config import load_spec

    folder = Path(tempfile.mkdtemp(prefix=f"versus-{tuner}-"))
    spec_path = folder / "versus.toml"
    sampler, pruner = VARIANTS.get(tuner, ("tpe", "hyperband"))
    spec_path.write_text(SPEC.format(folder=folder, budget=args.budget, epochs=args.epochs,
                                     sampler=sampler, pruner=pruner, **_data_section(args)))
    spec = load_spec(spec_path)
    from search.datasets import load_dataset

    data = load_dataset(spec.data)
    if tuner in VARIANTS:
        _run_cvsearch(spec, log_path)
    else:
        _run_keras_tuner(tuner, data, args, folder, log_path)


def _run_cvsearch(spec: Any, log_path: Path) -> None:
    from search.progress import SilentProgress
    from search.runner import run_study

    log = _Log(log_path)

    class Logged(SilentProgress):
        def trial_started(self, number: int) -> None:
            log.write(event="trial", trial=number)

        def epoch(self, number: int, epoch: int, row: dict[str, float]) -> None:
            log.write(event="epoch", trial=number, epoch=epoch,
                      val_accuracy=row.get("val_accuracy"), val_loss=row.get("val_loss"))

    run_study(spec, progress=Logged())


def _run_keras_tuner(tuner: str, data: Any, args: argparse.Namespace, folder: Path,
                     log_path: Path) -> None:
    import keras
    import keras_tuner as kt

    hypermodel = _keras_tuner_hypermodel()(data.input_shape, data.num_classes)
    common = {"objective": "val_loss", "seed": 0, "directory": str(folder),
              "project_name": tuner, "overwrite": True}
    if tuner == "kt-hyperband":
        search = kt.Hyperband(hypermodel, max_epochs=args.epochs, factor=3,
                              hyperband_iterations=1000, **common)
    elif tuner == "kt-random":
        search = kt.RandomSearch(hypermodel, max_trials=100000, **common)
    else:
        search = kt.BayesianOptimization(hypermodel, max_trials=100000, **common)
    log = _Log(log_path)

    class Logged(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            _TRIALS[0] += 1
            log.write(event="trial", trial=_TRIALS[0])

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            log.write(event="epoch", trial=_TRIALS[0], epoch=epoch + 1,
                      val_accuracy=logs.get("val_accuracy"), val_loss=logs.get("val_loss"))

    search.search(data.x_train, data.y_train, epochs=args.epochs,
                  validation_data=(data.x_val, data.y_val), callbacks=[Logged()], verbose=0)


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _group_rss(group: int) -> int:
    """Resident bytes of every process in a process group (a tuner and its workers)."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # pgrp, the fifth field of /proc/PID/stat
                total += int((entry / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def summarise(tuner: str, args: argparse.Namespace, log_path: Path, peak: int) -> dict[str, Any]:
    """Trials, epochs, best accuracy and time to the target, from a tuner's event log."""
    events = _events(log_path)
    epochs = [e for e in events if e.get("event") == "epoch" and e["t"] <= args.budget]
    accuracies = [e["val_accuracy"] for e in epochs if e.get("val_accuracy") is not None]
    reached = [e["t"] for e in epochs if (e.get("val_accuracy") or 0) >= args.target]
    return {
        "tuner": tuner,
        "trials": len({e["trial"] for e in events if e.get("event") == "trial"
                       and e["t"] <= args.budget}),
        "epochs": len(epochs),
        "best_val_accuracy": max(accuracies, default=None),
        "seconds_to_target": min(reached, default=None),
        "peak_memory_mb": round(peak / 2**20, 1),
    }


def measure(tuner: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Run one tuner in its own process group for the budget; summarise its log."""
    log_path = folder / f"{tuner}.jsonl"
    command = [sys.executable, __file__, "--child", tuner, *sys.argv[1:]]
    env = os.environ | {"PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    with (folder / f"{tuner}.err").open("w") as errors:
        child = subprocess.Popen(command, start_new_session=True, env=env,
                                 stdout=subprocess.DEVNULL, stderr=errors)
        deadline, peak = None, 0
        while child.poll() is None:
            peak = max(peak, _group_rss(child.pid))
            if deadline is None and _events(log_path):
                deadline = time.monotonic() + args.budget
            if deadline is not None and time.monotonic() >= deadline:
                os.killpg(child.pid, signal.SIGKILL)
                break
            time.sleep(0.5)
        child.wait()
    (folder / f"{tuner}.peak").write_text(str(peak))
    return summarise(tuner, args, log_path, peak)


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or base in (None, 0):
        return "-"
    return f"{value / base:.2f}"


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    base = next((r for r in results if r["tuner"] == "cvsearch"), results[0])
    lines = [(f"Budget {args.budget} s per tuner, {args.epochs} epochs per trial at most, "
              f"target val accuracy {args.target}; data {args.data}."), "",
             ("| tuner | trials | epochs | best val acc | s to target | peak MB "
              "| time-to-target / cvsearch | epochs / cvsearch | memory / cvsearch |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        best = "-" if r["best_val_accuracy"] is None else f"{r['best_val_accuracy']:.4f}"
        target = "not reached" if r["seconds_to_target"] is None else \
            f"{r['seconds_to_target']:.1f}"
        lines.append(
            f"| {r['tuner']} | {r['trials']} | {r['epochs']} | {best} | {target} "
            f"| {r['peak_memory_mb']:.0f} | {_ratio(r['seconds_to_target'], base['seconds_to_target'])} "
            f"| {_ratio(r['epochs'], base['epochs'])} "
            f"| {_ratio(r['peak_memory_mb'], base['peak_memory_mb'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="digits", help="'digits' or an image folder")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--color", default="gray", choices=("gray", "rgb", "auto"))
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per tuner")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial at most")
    parser.add_argument("--target", type=float, default=0.98, help="val accuracy to reach")
    parser.add_argument("--tuners", default=",".join(TUNERS))
    parser.add_argument("--out", type=Path, default=None, help="JSON results file")
    parser.add_argument("--from-logs", type=Path, metavar="DIR",
                        help="re-summarise an earlier run's logs (e.g. for another --target)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.from_logs:
        results = [summarise(t, args, args.from_logs / f"{t}.jsonl",
                             int((args.from_logs / f"{t}.peak").read_text()))
                   for t in args.tuners.split(",") if (args.from_logs / f"{t}.jsonl").exists()]
        print(table(results, args))
        return 0
    if args.child:
        folder = Path(os.environ.get("VERSUS_LOGS", "."))
        run_one(args.child, args, folder / f"{args.child}.jsonl")
        return 0
    folder = Path(tempfile.mkdtemp(prefix="versus-logs-"))
    os.environ["VERSUS_LOGS"] = str(folder)
    results = []
    for tuner in args.tuners.split(","):
        print(f"running {tuner} for {args.budget:.0f} s ...", file=sys.stderr, flush=True)
        results.append(measure(tuner, args, folder))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    text = table(results, args)
    print(text)
    out = args.out or folder / "results.json"
    out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                               "machine": f"{os.cpu_count()} CPU cores", "results": results,
                               "table": text}, indent=2))
    print(f"\n(results: {out}; logs: {folder})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
