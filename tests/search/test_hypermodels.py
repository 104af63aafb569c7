"""KerasTuner hypermodels under cvsearch: hp calls become Optuna suggestions, the
hypermodel's own fit trains, pruning and retraining still work."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from search.config import load_spec
from search.hypermodels import optuna_hyperparameters
from search.records import PARAMS, PRUNE_REASON
from search.runner import run_study
from search.storage import load_study

USER_MODULE = '''
import keras
import keras_tuner


def build(hp):
    """A user's build(hp) with a conditional scope and a name scope."""
    kind = hp.Choice("kind", ["dense", "conv"])
    inputs = keras.Input((8, 8, 1))
    x = inputs
    with hp.conditional_scope("kind", ["conv"]):
        if kind == "conv":
            x = keras.layers.Conv2D(hp.Int("filters", 4, 16, step=4), 3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    with hp.conditional_scope("kind", ["dense"]):
        if kind == "dense":
            x = keras.layers.Dense(hp.Int("units", 16, 64, step=16), activation="relu")(x)
    if hp.Boolean("dropout"):
        x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    with hp.name_scope("optimizer"):
        rate = hp.Float("learning_rate", 1e-7, 1e-1, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class WithOwnFit(keras_tuner.HyperModel):
    """A hypermodel whose fit chooses the batch size."""

    def build(self, hp):
        return build(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)
'''

SPEC = """
name = "{name}"

[data]
kind = "{kind}"
{data}
seed = 0

[model]
hypermodel = "{hypermodel}"
{options}

[budget]
n_trials = {n_trials}
max_epochs = {epochs}

[sampler]
seed = 0
n_startup_trials = 10

[pruner]
kind = "median"
min_epochs = 1
n_startup_trials = 2
n_warmup_epochs = 0

[execution]
isolation = "inline"
"""


def _spec(tmp_path: Path, hypermodel: str, *, kind: str = "digits", data: str = "",
          options: str = "", n_trials: int = 2, epochs: int = 1) -> Path:
    (tmp_path / "my_hypermodels.py").write_text(USER_MODULE)
    path = tmp_path / "hyper.toml"
    path.write_text(SPEC.format(name="hyper", kind=kind, data=data, hypermodel=hypermodel,
                                options=options, n_trials=n_trials, epochs=epochs))
    return path


def test_hp_calls_become_optuna_suggestions_with_the_same_names_and_ranges(tmp_path) -> None:
    import importlib
    import sys

    (tmp_path / "my_hypermodels.py").write_text(USER_MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("my_hypermodels")
    finally:
        sys.path.remove(str(tmp_path))
    study = optuna.create_study()
    study.enqueue_trial({"kind": "conv"})
    trial = study.ask()
    hp = optuna_hyperparameters(trial)
    module.build(hp)
    assert trial.distributions == {
        "kind": CategoricalDistribution(["dense", "conv"]),
        "filters": IntDistribution(4, 16, step=4),
        "dropout": CategoricalDistribution([False, True]),
        "optimizer/learning_rate": FloatDistribution(1e-7, 1e-1, log=True),
    }  # "units" sits in the inactive scope: never suggested
    assert hp.values == trial.params
    assert hp.get("kind") == "conv" and "units" not in hp
    with hp.name_scope("optimizer"):
        assert hp.get("learning_rate") == trial.params["optimizer/learning_rate"]
    assert hp.Fixed("seed", 7) == 7 and trial.params["seed"] == 7
    assert hp.Int("layers", 1, 8, step=2, sampling="log") in (1, 2, 4, 8)  # KerasTuner's factor
    assert hp.Float("rate", 0.0, 1.0, step=0.25) in (0.0, 0.25, 0.5, 0.75, 1.0)


def test_a_user_build_function_runs_as_a_study_and_retrains(tmp_path) -> None:
    from search.retrain import RetrainOptions, retrain

    spec = load_spec(_spec(tmp_path, "my_hypermodels:build", n_trials=3, epochs=2))
    assert spec.space.name == "hypermodel"
    result = run_study(spec)
    assert result.states == {"complete": 3}
    study = load_study(spec.storage, spec.name)
    for trial in study.trials:
        assert {"kind", "dropout", "optimizer/learning_rate"} <= set(trial.params)
        assert trial.user_attrs[PARAMS] == trial.params
    report = retrain(spec, RetrainOptions(out=tmp_path / "final"))
    assert report["mode"] == "hypermodel retrained on train + validation"
    assert 0.0 <= report["test"]["rank1"] <= 1.0
    assert (tmp_path / "final" / "model.keras").exists()


def test_pruning_works_through_the_hypermodel_s_own_fit(tmp_path) -> None:
    spec = load_spec(_spec(tmp_path, "my_hypermodels:WithOwnFit", n_trials=3, epochs=4))
    from search.study import open_study

    study = open_study(spec)
    good = {"kind": "dense", "units": 64, "dropout": False, "optimizer/learning_rate": 1e-2}
    study.enqueue_trial(good | {"batch_size": 32})
    study.enqueue_trial(good | {"batch_size": 64})
    study.enqueue_trial(good | {"optimizer/learning_rate": 1e-7, "batch_size": 32})
    run_study(spec)
    trials = load_study(spec.storage, spec.name).trials
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE] * 2
    assert trials[2].state == TrialState.PRUNED
    assert "not promising" in trials[2].user_attrs[PRUNE_REASON]
    assert all("batch_size" in t.params for t in trials)  # hp calls inside fit count too


def test_keras_tuner_s_hyper_image_augment_runs_as_a_study(tmp_path) -> None:
    # augment_layers = 0: one tuned layer per transform. (KerasTuner 1.4.8's RandAugment,
    # used for augment_layers > 0, creates variables inside tf.function and fails on Keras 3
    # under KerasTuner's own tuners as well.)
    spec = load_spec(_spec(tmp_path, "keras_tuner.applications:HyperImageAugment",
                           options="[model.options]\naugment_layers = 0"))
    assert run_study(spec).states == {"complete": 2}
    trial = load_study(spec.storage, spec.name).trials[0]
    for name in ("factor_rotate", "factor_translate_x", "factor_translate_y", "factor_contrast"):
        assert isinstance(trial.distributions[name], FloatDistribution)
        assert trial.distributions[name].step == 0.05  # KerasTuner's step, kept


def test_keras_tuner_s_hyper_resnet_runs_as_a_study(tmp_path, two_class_folder) -> None:
    spec = load_spec(_spec(tmp_path, "keras_tuner.applications:HyperResNet", kind="folder",
                           data=f'path = "{two_class_folder}"\nimage_size = 32\ncolor = "gray"',
                           n_trials=1))
    from search.study import open_study

    open_study(spec).enqueue_trial({"version": "v2", "conv3_depth": 4, "conv4_depth": 6,
                                    "pooling": "avg", "optimizer": "adam",
                                    "learning_rate": 0.001})
    assert run_study(spec).states == {"complete": 1}
    trial = load_study(spec.storage, spec.name).trials[0]
    assert trial.distributions["conv4_depth"] == CategoricalDistribution([6, 23, 36])
    assert trial.distributions["learning_rate"] == CategoricalDistribution([0.1, 0.01, 0.001])


def test_a_hypermodel_that_cannot_be_found_is_one_line(tmp_path) -> None:
    from search.cli import main

    path = _spec(tmp_path, "my_hypermodels:missing")
    assert main(["run", str(path), "--quiet"]) == 2


@pytest.mark.parametrize(("value", "message"), [
    ("no_colon", "expected 'module:function' or 'module:Class'"),
])
def test_a_malformed_hypermodel_is_a_spec_error(tmp_path, value, message) -> None:
    from search.errors import SpecError

    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, value))
