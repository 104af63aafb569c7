"""The objective: one Optuna trial builds, trains and scores one model."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from search.config import StudySpec
from search.datasets import Dataset
from search.records import CURVES, TrialRecord
from search.recovery import WORKER
from search.tfenv import free_keras_memory, import_keras, seed_everything

if TYPE_CHECKING:
    from optuna.artifacts import FileSystemArtifactStore

log = logging.getLogger("cvsearch")

EpochHook = Callable[[int, int, dict[str, float]], None]


class Objective:
    """Samples the space, trains the model with pruning, records everything, returns the score.

    The score is the best value of the objective metric over the epochs (the epoch a
    checkpoint would keep). Pruned, failed and interrupted trials keep their partial
    history and the reason they ended.
    """

    def __init__(
        self,
        spec: StudySpec,
        dataset: Dataset,
        on_epoch: EpochHook | None = None,
        on_start: Callable[[int], None] | None = None,
        artifact_store: FileSystemArtifactStore | None = None,
        notes: bool = True,
        worker_id: str | None = None,
    ):
        self.spec = spec
        self.space = spec.search_space()
        self.dataset = dataset
        self.on_epoch = on_epoch
        self.on_start = on_start
        self.artifact_store = artifact_store
        self.notes = notes
        self.worker_id = worker_id
        self._features: Any = None  # feature extraction: computed once per process

    def __call__(self, trial: optuna.trial.Trial) -> float:
        if self.worker_id is not None:
            trial.set_user_attr(WORKER, self.worker_id)
        if self.on_start is not None:
            self.on_start(trial.number)
        params = self.space.sample(trial)
        record = TrialRecord(params=params, seed=self.spec.train.seed + trial.number)
        metric, direction = self.spec.objective.metric, self.spec.objective.direction
        started = time.perf_counter()
        state = "complete"
        try:
            if self.spec.model.kind == "features":
                return self._fit_features(trial, record)
            if self.spec.model.hypermodel:
                return self._train_hypermodel(trial, record)
            return self._train(trial, record)
        except optuna.TrialPruned as pruned:
            state, record.prune_reason = "pruned", str(pruned)
            raise
        except KeyboardInterrupt:
            state, record.fail_reason = "failed", "interrupted by the user"
            raise
        except Exception as error:
            state, record.fail_reason = "failed", failure_reason(error)
            raise
        finally:
            record.seconds = time.perf_counter() - started
            record.write(trial, metric, direction)
            self._annotate(trial, record, state)
            free_keras_memory()

    def _annotate(self, trial: optuna.trial.Trial, record: TrialRecord, state: str) -> None:
        """Attach the curves and the automatic note; a failure here never fails the trial."""
        from search.notes import trial_note, write_note

        metric = self.spec.objective.metric
        curves = None
        try:
            if self.artifact_store is not None and record.epochs_run:
                from search.artifacts import upload_curves

                with tempfile.TemporaryDirectory() as folder:
                    curves = upload_curves(self.artifact_store, trial, record.history, Path(folder))
                trial.set_user_attr(CURVES, curves)
            if self.notes:
                note = trial_note(
                    number=trial.number,
                    state=state,
                    reason=record.prune_reason or record.fail_reason,
                    params=record.params,
                    history=record.history,
                    best_epoch=record.best_epoch(metric, self.spec.objective.direction),
                    metric=metric,
                    num_classes=self.dataset.num_classes,
                    n_params=record.n_params,
                    seconds=record.seconds,
                    layers=record.layers,
                    curves=curves,
                )
                write_note(trial.study, trial, note)
        except Exception as error:  # noqa: BLE001
            log.warning("trial %d: could not write its note or curves: %s", trial.number, error)

    def _fit_features(self, trial: optuna.trial.Trial, record: TrialRecord) -> float:
        """Feature extraction: a logistic regression on the cached pooled features, scored
        as one epoch (the same history, notes and reports as a trained network)."""
        from search.features import extract, fit_logistic, scores, to_keras

        import_keras()
        spec, data, params = self.spec, self.dataset, record.params
        if self._features is None:
            self._features = extract(spec, data)
        features = self._features
        started = time.perf_counter()
        head = fit_logistic(params, features.train, data.y_train, data.num_classes, record.seed)
        train = scores(head, features.train, data.y_train, data.num_classes)
        val = scores(head, features.val, data.y_val, data.num_classes)
        row = {"loss": train["loss"], "accuracy": train["accuracy"], "val_loss": val["loss"],
               "val_accuracy": val["accuracy"], "seconds": time.perf_counter() - started}
        record.history = {key: [value] for key, value in row.items()}
        if self.on_epoch is not None:
            self.on_epoch(trial.number, 1, row)
        value = row[spec.objective.metric]
        trial.report(value, 1)
        keep = self.artifact_store is not None and spec.train.checkpoints > 0
        if keep or self.notes:
            model = to_keras(spec, data, head)
            record.n_params = int(model.count_params())
            record.layers = layer_table(model)
            if keep:
                self._keep(trial, value, model)
        return value

    def _train_hypermodel(self, trial: optuna.trial.Trial, record: TrialRecord) -> float:
        """A KerasTuner hypermodel: its ``build(hp)`` with Optuna behind ``hp``, its own
        ``fit`` with cvsearch's callbacks."""
        from search import hypermodels

        import_keras()
        spec, data = self.spec, self.dataset
        seed_everything(record.seed)
        hypermodel = hypermodels.load_hypermodel(
            spec.model.hypermodel or "", dict(spec.model.options), data.input_shape,
            data.num_classes)
        hp = hypermodels.optuna_hyperparameters(trial)
        model = hypermodels.build(hypermodel, hp, data.num_classes)
        record.params.update(hp.values)
        record.n_params = int(model.count_params())
        record.layers = layer_table(model)

        best_weights, callbacks = self._callbacks(trial, record)
        try:
            returned = hypermodels.fit(
                hypermodel, hp, model, data.x_train, data.y_train, (data.x_val, data.y_val),
                data.num_classes, epochs=spec.budget.max_epochs,
                class_weight=data.class_weight, callbacks=callbacks, verbose=0)
        finally:
            record.params.update(hp.values)  # a fit may define hyperparameters too
        if not record.history and returned is not None:  # a custom fit that returns metrics
            record.history.update({key: [value] for key, value in returned.items()})
        return self._score(trial, record, model, best_weights)

    def _callbacks(self, trial: optuna.trial.Trial, record: TrialRecord) -> tuple[Any, list[Any]]:
        """Monitor (into the record's history), best weights and pruning, for ``fit``."""
        from search.callbacks import BestWeights, PruningCallback, TrainingMonitor

        def report(epoch: int, row: dict[str, float]) -> None:
            if self.on_epoch is not None:
                self.on_epoch(trial.number, epoch, row)

        metric, direction = self.spec.objective.metric, self.spec.objective.direction
        monitor = TrainingMonitor(on_epoch=report)
        record.history = monitor.history
        best_weights = BestWeights(metric, direction)
        pruning = PruningCallback(trial, metric, self.spec.budget.max_epochs)
        return best_weights, [monitor, best_weights, pruning]

    def _score(self, trial: optuna.trial.Trial, record: TrialRecord, model: Any,
               best_weights: Any) -> float:
        """The best epoch's metric; the checkpoint of its weights if among the best."""
        from search.callbacks import TrainingDiverged

        spec = self.spec
        best = record.best_epoch(spec.objective.metric, spec.objective.direction)
        if best is None:
            raise TrainingDiverged(f"{spec.objective.metric} was never finite")
        value = float(record.history[spec.objective.metric][best - 1])
        if self.artifact_store is not None and spec.train.checkpoints > 0:
            best_weights.restore()
            self._keep(trial, value, model)
        return value

    def _keep(self, trial: optuna.trial.Trial, value: float, model: Any) -> None:
        from search.checkpoints import keep_if_among_best

        assert self.artifact_store is not None
        try:
            keep_if_among_best(trial.study, trial.number, value, model,
                               self.spec.train.checkpoints, self.artifact_store)
        except Exception as error:  # noqa: BLE001 - a lost checkpoint never fails a trial
            log.warning("trial %d: could not keep its checkpoint: %s", trial.number, error)

    def _train(self, trial: optuna.trial.Trial, record: TrialRecord) -> float:
        from search.pipeline import augmenter, eval_pipeline, train_pipeline
        from search.training import build_model, fit_in_phases

        import_keras()
        spec, data, params = self.spec, self.dataset, record.params
        seed_everything(record.seed)
        model = build_model(spec, data.input_shape, data.num_classes, params)
        record.n_params = int(model.count_params())
        record.layers = layer_table(model)
        batch_size = int(params.get("batch_size", 32))

        best_weights, callbacks = self._callbacks(trial, record)
        augment = augmenter(float(params.get("augment", 0.0)), flip=spec.data.flip)
        fit_in_phases(
            model, params,
            train_pipeline(data.x_train, data.y_train, batch_size, record.seed, augment),
            len(data.y_train), spec.budget.max_epochs,
            validation_data=eval_pipeline(data.x_val, data.y_val, batch_size),
            class_weight=data.class_weight,
            callbacks=callbacks,
            shuffle=False,  # the pipeline shuffles, seeded, every epoch
            verbose=0,
        )
        return self._score(trial, record, model, best_weights)


def failure_reason(error: BaseException) -> str:
    """One line for the trial's note; running out of memory is named as such."""
    if is_out_of_memory(error):
        return (f"out of memory ({type(error).__name__}): try a smaller batch size, input "
                f"size or model; {_one_line(error)}")
    return f"{type(error).__name__}: {_one_line(error)}"


def is_out_of_memory(error: BaseException) -> bool:
    """Host or accelerator memory exhausted (TensorFlow's ResourceExhaustedError or OOM)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
        return True
    text = str(error)
    return "OOM when allocating" in text or "out of memory" in text.lower()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def layer_table(model: Any) -> list[tuple[str, str, int]]:
    """(layer and its class, output shape, parameters) for every layer of a built model."""
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, int(layer.count_params())))
    return rows
