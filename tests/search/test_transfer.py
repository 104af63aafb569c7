"""Transfer learning end to end: a backbone study with frozen-layer search and a warm-up,
feature extraction as a model kind, and imagenet weights that cannot be had offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState

from search.config import load_spec
from search.records import HISTORY, PARAMS
from search.runner import run_study
from search.storage import load_study

BACKBONE_SPEC = """
name = "{name}"

[data]
kind = "folder"
path = "{data}"
image_size = 32
color = "gray"
seed = 0

[model]
name = "{model}"
kind = "{kind}"
weights = "{weights}"

[model.options]
{options}
image_size = 32

[space.override]
{override}

[budget]
n_trials = {n_trials}
max_epochs = 2

[sampler]
seed = 0
n_startup_trials = 2

[pruner]
kind = "none"

[execution]
isolation = "inline"
"""

NETWORK_OVERRIDE = """
learning_rate = 3e-3
optimizer = "adam"
lr_schedule = "none"
freeze = { low = 0.3, high = 0.9 }
warmup_epochs = { low = 0, high = 1 }
head_units = 0
augment = 0.0
batch_size = 16
"""


def _spec(tmp_path: Path, data: Path, **fields: object) -> Path:
    values = {"name": "transfer", "model": "mobilenetv2", "options": "alpha = 0.35",
              "kind": "network", "weights": "none", "override": "", "n_trials": 2} | fields
    path = tmp_path / f"{values['name']}.toml"
    path.write_text(BACKBONE_SPEC.format(data=data, **values))
    return path


@pytest.fixture
def local_weights(tmp_path: Path) -> Path:
    """Weights of a headless MobileNetV2 (alpha 0.35, 32px) saved the way a user would."""
    from cvmodels.backbones import load_backbone

    path = tmp_path / "mobilenetv2-0.35-32.weights.h5"
    load_backbone("mobilenetv2", 32, None, alpha=0.35).save_weights(path)
    return path


def test_a_backbone_study_searches_frozen_layers_and_warm_up(
        tmp_path, two_class_folder, local_weights, private_cache) -> None:
    spec = load_spec(_spec(tmp_path, two_class_folder, weights=local_weights,
                           override=NETWORK_OVERRIDE, n_trials=3))
    result = run_study(spec)
    assert result.states == {"complete": 3}
    study = load_study(spec.storage, spec.name)
    names = {name for trial in study.trials for name in trial.params}
    assert {"freeze", "warmup_epochs", "fine_tune_lr_factor", "head", "dropout"} <= names
    for trial in study.trials:
        assert trial.user_attrs[PARAMS]["freeze_by"] == "fraction"
        assert len(trial.user_attrs[HISTORY]["val_loss"]) == 2
    warmed = [t for t in study.trials if t.params["warmup_epochs"] == 1]
    assert warmed, "the sampler tried a warm-up"
    rates = warmed[0].user_attrs[HISTORY]["lr"]
    assert rates[1] == pytest.approx(3e-3 * warmed[0].params["fine_tune_lr_factor"], rel=1e-4)


def test_feature_extraction_is_a_model_kind_with_cached_features(
        tmp_path, two_class_folder, private_cache) -> None:
    from search.features import extract, fit_logistic
    from search.retrain import RetrainOptions, retrain
    from search.tfenv import import_keras

    # VGG16 (no batch norm) keeps random-weight features informative; MobileNetV2's fade
    spec = load_spec(_spec(tmp_path, two_class_folder, kind="features", model="vgg16",
                           options="", n_trials=4))
    assert spec.space.name == "features"
    result = run_study(spec)
    assert result.states == {"complete": 4}
    study = load_study(spec.storage, spec.name)
    assert {"C", "class_weight"} <= set(study.best_trial.params)
    assert study.best_trial.user_attrs[HISTORY]["val_accuracy"][0] >= 0.75
    assert len(list(private_cache.glob("features-*.npz"))) == 1  # computed once, kept

    report = retrain(spec, RetrainOptions(out=tmp_path / "final"))
    assert report["mode"].startswith("logistic regression refitted")
    assert report["test"]["rank1"] >= 0.75
    # the saved Keras model is the regression on the backbone: same probabilities
    from search.datasets import load_dataset

    data = load_dataset(spec.data)
    features = extract(spec, data)
    head = fit_logistic(study.best_trial.params, np.concatenate([features.train, features.val]),
                        np.concatenate([data.y_train, data.y_val]), 2, spec.train.seed)
    model = import_keras().models.load_model(tmp_path / "final" / "model.keras")
    np.testing.assert_allclose(model.predict(data.x_test, verbose=0),
                               head.probabilities(features.test), atol=1e-4)


def test_imagenet_weights_that_cannot_be_had_are_one_line(tmp_path, two_class_folder) -> None:
    spec = _spec(tmp_path, two_class_folder, weights="imagenet", n_trials=1)
    env = os.environ | {"KERAS_HOME": str(tmp_path / "keras"),  # an empty Keras cache
                        "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                        "CVSEARCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "search.cli", "run", str(spec), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("cvsearch: error:")]
    assert len(lines) == 1, done.stderr
    assert "imagenet weights for MobileNetV2 are not in the Keras cache" in lines[0]
    # 32px is not an imagenet size: Keras falls back to the 224px file, and the line names it
    assert "~/.keras/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5" \
        in lines[0]
    assert "Traceback" not in done.stderr
    study = load_study(f"sqlite:///{tmp_path / 'transfer.db'}", "transfer")
    assert not study.get_trials(states=(TrialState.FAIL,))  # nothing ran, nothing failed
    fetch = subprocess.run([sys.executable, "-m", "search.cli", "weights", "fetch", str(spec)],
                           capture_output=True, text=True, env=env, timeout=300, check=False)
    assert fetch.returncode == 2
    assert fetch.stderr.strip().splitlines()[-1].startswith(
        "cvsearch: error: imagenet weights for MobileNetV2 are not in the Keras cache")

