"""Retrain the best (or a chosen) trial on train + validation, and evaluate it once on test.

Also: evaluate a trial's kept checkpoint (``reuse``), the average of the k best
checkpoints (``ensemble``), or a saved model on another data set (``evaluate_model``).
"""

from __future__ import annotations

import json
import math
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from search.artifacts import artifact_path, open_artifact_store, plot_history
from search.checkpoints import checkpoint_map, download_checkpoint
from search.config import StudySpec
from search.datasets import Dataset, load_dataset
from search.errors import CvsearchError
from search.evaluation import evaluate_predictions
from search.notes import RETRAIN_NOTE
from search.records import BEST_EPOCH, trial_params
from search.report import markdown, plot_confusion
from search.storage import load_study
from search.study import check_same_search
from search.tfenv import import_keras, seed_everything

RETRAIN = "retrain"  # study attribute: the latest report's summary



@dataclass(frozen=True)
class RetrainOptions:
    trial: int | None = None
    epochs: int | None = None
    out: Path | None = None
    reuse: bool = False
    ensemble: int | None = None
    early_stopping: bool = False
    scale_epochs: bool = False


def pick_trial(study: optuna.Study, number: int | None) -> FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise CvsearchError(f"study '{study.study_name}' has no completed trial yet; run it first")
    if number is None:
        return study.best_trial
    for trial in complete:
        if trial.number == number:
            return trial
    raise CvsearchError(f"trial {number} of study '{study.study_name}' is not a completed trial")


def _versions() -> dict[str, str]:
    import keras
    import sklearn
    import tensorflow as tf

    from search import __version__

    return {"cvsearch": __version__, "python": platform.python_version(), "tensorflow":
            tf.__version__, "keras": keras.__version__, "optuna": optuna.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def _deterministic(seed: int) -> bool:
    """Seed everything and ask TensorFlow for deterministic ops; True when they are on."""
    import tensorflow as tf

    seed_everything(seed)
    try:
        tf.config.experimental.enable_op_determinism()
        return True
    except Exception:  # noqa: BLE001 - older TensorFlow: seeds only
        return False


def retrain(spec: StudySpec, options: RetrainOptions) -> dict[str, Any]:
    """Run one of the three modes and write the report; returns the report as data."""
    import_keras()
    started = time.perf_counter()
    study = load_study(spec.storage, spec.name)
    stored = study.user_attrs.get("config")
    if stored:
        check_same_search(spec, stored)
    data = load_dataset(spec.data)
    deterministic = _deterministic(spec.train.seed)
    store = open_artifact_store(artifact_path(spec.storage, spec.artifacts))
    history: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        if options.ensemble:
            numbers = sorted(checkpoint_map(study), key=lambda n: _rank(study, n))[:options.ensemble]
            if len(numbers) < options.ensemble:
                raise CvsearchError(f"only {len(numbers)} checkpoint(s) kept; "
                                    f"--ensemble {options.ensemble} needs as many")
            models = [_load_model(download_checkpoint(study, n, store, Path(folder)))
                      for n in numbers]
            probabilities = np.mean([m.predict(data.x_test, verbose=0) for m in models], axis=0)
            model, mode, trials, epochs = None, f"ensemble of {len(numbers)}", numbers, None
            params = trial_params(pick_trial(study, numbers[0]))
        else:
            trial = pick_trial(study, options.trial)
            params, trials = trial_params(trial), [trial.number]
            if options.reuse:
                model = _load_model(
                    download_checkpoint(study, trial.number, store, Path(folder)))
                mode, epochs = "reuse (the trial's own best weights)", None
            else:
                model, epochs, history, mode = _train(spec, data, trial, params, options)
            probabilities = model.predict(data.x_test, verbose=0)
    test = evaluate_predictions(probabilities, data.y_test, data.class_names)
    out = options.out or Path(spec.source).parent / f"{spec.name}-retrain-trial{trials[0]}"
    if options.ensemble:
        out = options.out or Path(spec.source).parent / f"{spec.name}-ensemble{len(trials)}"
    report = {
        "title": f"Study {study.study_name}: trial {', '.join(map(str, trials))} on the test set",
        "study": study.study_name, "trials": trials, "mode": mode, "epochs": epochs,
        "params": params, "class_names": list(data.class_names), "test": test,
        "data": data.fingerprint(), "seed": spec.train.seed, "deterministic_ops": deterministic,
        "versions": _versions(), "seconds": round(time.perf_counter() - started, 1),
    }
    write_report(report, out, model, history, data, spec)
    attach_to_study(study, report, out, store)
    return report


def _rank(study: optuna.Study, number: int) -> float:
    value = study.trials[number].value
    assert value is not None
    return value if study.direction == optuna.study.StudyDirection.MINIMIZE else -value


def _refit_features(spec: StudySpec, data: Dataset, params: dict[str, Any]
                    ) -> tuple[Any, None, dict[str, list[float]], str]:
    """Feature extraction: the logistic regression refitted on train + validation."""
    from search.features import extract, fit_logistic, to_keras

    features = extract(spec, data)
    x = np.concatenate([features.train, features.val])
    y = np.concatenate([data.y_train, data.y_val])
    head = fit_logistic(params, x, y, data.num_classes, spec.train.seed)
    return (to_keras(spec, data, head), None, {},
            "logistic regression refitted on train + validation features")


def _retrain_hypermodel(spec: StudySpec, data: Dataset, trial: FrozenTrial,
                        params: dict[str, Any], options: RetrainOptions
                        ) -> tuple[Any, int, dict[str, list[float]], str]:
    """A hypermodel rebuilt from the trial's values, fitted by its own ``fit`` on
    train + validation for the trial's best epoch (or ``--epochs``)."""
    from search import hypermodels
    from search.callbacks import TrainingMonitor

    hypermodel = hypermodels.load_hypermodel(spec.model.hypermodel or "",
                                             dict(spec.model.options), data.input_shape,
                                             data.num_classes)
    hp = hypermodels.optuna_hyperparameters(optuna.trial.FixedTrial(params))
    model = hypermodels.build(hypermodel, hp, data.num_classes)
    epochs = options.epochs or int(trial.user_attrs.get(BEST_EPOCH) or spec.budget.max_epochs)
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    monitor = TrainingMonitor()
    hypermodels.fit(hypermodel, hp, model, x, y, None, data.num_classes,
                    epochs=epochs, class_weight=data.class_weight, callbacks=[monitor],
                    verbose=0)
    return model, epochs, monitor.history, "hypermodel retrained on train + validation"


def _train(spec: StudySpec, data: Dataset, trial: FrozenTrial, params: dict[str, Any],
           options: RetrainOptions) -> tuple[Any, int | None, dict[str, list[float]], str]:
    if spec.model.kind == "features":
        return _refit_features(spec, data, params)
    if spec.model.hypermodel:
        return _retrain_hypermodel(spec, data, trial, params, options)
    from search.callbacks import TrainingMonitor
    from search.pipeline import augmenter, eval_pipeline, train_pipeline
    from search.training import build_model, fit_in_phases

    keras = import_keras()
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    batch = int(params.get("batch_size", 32))
    best = int(trial.user_attrs.get(BEST_EPOCH) or spec.budget.max_epochs)
    callbacks: list[Any] = []
    validation = None
    if options.early_stopping:
        from sklearn.model_selection import train_test_split

        x, x_watch, y, y_watch = train_test_split(x, y, test_size=0.1, stratify=y,
                                                  random_state=spec.train.seed)
        validation = eval_pipeline(x_watch, y_watch, batch)
        epochs = options.epochs or spec.budget.max_epochs
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=max(2, epochs // 5), restore_best_weights=True))
        mode = "retrain on train + validation, early stopping on a 10% slice"
    else:
        epochs = options.epochs or best
        if options.scale_epochs and not options.epochs:
            epochs = math.ceil(best * len(y) / len(data.y_train))
        mode = "retrain on train + validation"
    model = build_model(spec, data.input_shape, data.num_classes, params)
    monitor = TrainingMonitor()
    augment = augmenter(float(params.get("augment", 0.0)), flip=spec.data.flip)
    fit_in_phases(model, params, train_pipeline(x, y, batch, spec.train.seed, augment), len(y),
                  epochs, horizon=spec.budget.max_epochs, validation_data=validation, class_weight=data.class_weight,
                  callbacks=[monitor, *callbacks], shuffle=False, verbose=0)
    return model, len(monitor.history.get("loss", [])), monitor.history, mode


def write_report(report: dict[str, Any], out: Path, model: Any,
                 history: dict[str, list[float]], data: Dataset, spec: StudySpec) -> None:
    """``model.keras`` (with ``model.json`` beside it), ``report.md``, ``report.json``, PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    if model is not None:
        model.save(out / "model.keras")
        (out / "model.json").write_text(json.dumps(model_card(data, spec), indent=2))
        files["model"] = str(out / "model.keras")
    files["confusion"] = str(plot_confusion(report["test"]["confusion"], data.class_names,
                                            out / "confusion.png"))
    if history.get("loss"):
        files["curves"] = str(plot_history(history, report["title"], out / "curves.png"))
    report["files"] = files | {"report": str(out / "report.md")}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))


def model_card(data: Dataset, spec: StudySpec) -> dict[str, Any]:
    """What ``evaluate`` and ``predict`` need to feed the model: classes and preprocessing."""
    height, width, channels = data.input_shape
    return {"class_names": list(data.class_names), "image_size": [height, width],
            "color": "gray" if channels == 1 else "rgb", "resize": spec.data.resize,
            "study": spec.name}


def attach_to_study(study: optuna.Study, report: dict[str, Any], out: Path, store: Any) -> None:
    """Upload the report and its figures as study artifacts and put a summary in its note."""
    from search.notes import study_note, write_note

    for name in ("report.md", "confusion.png", "curves.png"):
        if (out / name).exists():
            optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(out / name),
                                             study_or_trial=study)
    test = report["test"]
    study.set_user_attr(RETRAIN, {
        "trials": report.get("trials"), "mode": report["mode"], "test_loss": test["loss"],
        "rank1": test["rank1"], "rank5": test.get("rank5"), "report": report["files"]["report"],
    })
    study._storage.set_study_system_attr(study._study_id, RETRAIN_NOTE, markdown(report))
    write_note(study, None, study_note(study, _metric(study)))


def _metric(study: optuna.Study) -> str:
    return (study.user_attrs.get("config") or {}).get("objective", {}).get("metric", "val_loss")


def _card(model_path: Path) -> dict[str, Any]:
    if not model_path.exists():
        raise CvsearchError(f"no such model file {model_path}")
    card = model_path.with_suffix(".json")
    if not card.exists():
        raise CvsearchError(f"{card} is missing: it tells which classes and preprocessing "
                            "the model expects (cvsearch retrain writes it)")
    return json.loads(card.read_text())


def _load_model(model_path: Path) -> Any:
    from cvmodels.backbones import register_layers

    keras = import_keras()
    register_layers()
    try:
        return keras.models.load_model(model_path)
    except Exception as error:  # noqa: BLE001 - a bad file is one line
        raise CvsearchError(f"cannot load model {model_path}: {error}") from None


def evaluate_model(model_path: Path, data_path: Path, out: Path | None) -> dict[str, Any]:
    """Evaluate a saved model on every image of another data set, with the same report."""
    from search.config import DataConfig
    from search.datasets.folder import load_all

    card = _card(model_path)
    kind = "npz" if data_path.suffix == ".npz" else "folder"
    config = DataConfig(kind=kind, path=str(data_path), image_size=card["image_size"],
                        color=card["color"], resize=card["resize"])
    x, y, names = load_all(config)
    if list(names) != list(card["class_names"]):
        raise CvsearchError(f"the model knows classes {card['class_names']} but "
                            f"{data_path} has {list(names)}")
    model = _load_model(model_path)
    started = time.perf_counter()
    test = evaluate_predictions(model.predict(x, verbose=0), y, names)
    report = {
        "title": f"{model_path} on {data_path}", "mode": "evaluate", "params": {},
        "class_names": list(names), "test": test,
        "data": {"path": str(data_path), "images": len(y), "classes": list(names)},
        "versions": _versions(), "seconds": round(time.perf_counter() - started, 1),
    }
    out = out or model_path.parent / f"evaluate-{data_path.name}"
    out.mkdir(parents=True, exist_ok=True)
    report["files"] = {"confusion": str(plot_confusion(test["confusion"], names,
                                                       out / "confusion.png")),
                       "report": str(out / "report.md")}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    return report


def predict_images(model_path: Path, images: list[Path], top: int) -> list[dict[str, Any]]:
    """Top-k classes with probabilities for each image file."""
    from search.datasets._images import Preprocess, decode

    card = _card(model_path)
    prep = Preprocess(tuple(card["image_size"]), card["color"], card["resize"])  # type: ignore[arg-type]
    batch, readable = [], []
    for path in images:
        image = decode(str(path), prep)
        if image is None:
            raise CvsearchError(f"{path}: not a readable image")
        batch.append(image.astype(np.float32) / 255.0)
        readable.append(path)
    model = _load_model(model_path)
    probabilities = model.predict(np.stack(batch), verbose=0)
    names = card["class_names"]
    results = []
    for path, row in zip(readable, probabilities):
        order = np.argsort(-row)[:top]
        results.append({"image": str(path),
                        "top": [{"class": names[i], "probability": float(row[i])} for i in order]})
    return results
