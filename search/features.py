"""Feature extraction: a frozen backbone's pooled features under a logistic regression.

The features of a data set are computed once per backbone, weights and data, and kept in
the cvsearch cache; each trial only fits scikit-learn's ``LogisticRegression`` (C and
class weighting searched). The fitted regression is folded into a Dense softmax on top
of the same backbone, so the result is an ordinary Keras classifier: checkpoints,
retraining reports, ``evaluate`` and ``predict`` work as for any other model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from search.config import StudySpec
from search.datasets import Dataset
from search.datasets._cache import cache_key, load_cached, store_cached

#: The head that turns the backbone into a feature extractor: pooled, nothing trained.
EXTRACTOR_PARAMS = {"head": "avg", "head_units": 0, "dropout": 0.0, "freeze": 1.0,
                    "freeze_by": "fraction"}


@dataclass
class Features:
    """Pooled features of the train, validation and test images."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _classifier(spec: StudySpec, data: Dataset) -> Any:
    """The backbone with an untrained softmax. Seeded: without pretrained weights, every
    build must start from the same random weights as the cached features."""
    from search.tfenv import seed_everything
    from search.training import build_model

    seed_everything(spec.train.seed)
    return build_model(spec, data.input_shape, data.num_classes, EXTRACTOR_PARAMS)


def extract(spec: StudySpec, data: Dataset, batch_size: int = 64) -> Features:
    """The data set's features, from the cache when this backbone has seen this data."""
    weights = spec.model.weights
    settings: dict[str, object] = {
        "features": spec.model.name, "options": dict(spec.model.options),
        "data": data.fingerprint()["sha256"], "weights": weights, "seed": spec.train.seed,
    }
    files = [weights] if weights and os.path.isfile(weights) else []
    key = "features-" + cache_key(files, settings)
    cached = load_cached(key) if spec.data.cache else None
    if cached is not None:
        return Features(cached["train"], cached["val"], cached["test"])
    import keras

    model = _classifier(spec, data)
    extractor = keras.Model(model.inputs, model.get_layer("pool").output)
    arrays = {name: extractor.predict(x, batch_size=batch_size, verbose=0).astype(np.float32)
              for name, x in (("train", data.x_train), ("val", data.x_val),
                              ("test", data.x_test))}
    if spec.data.cache:
        store_cached(key, **arrays)
    return Features(**arrays)


@dataclass
class LinearHead:
    """A fitted logistic regression on standardised features, as softmax weights."""

    kernel: np.ndarray  # (features, classes)
    bias: np.ndarray  # (classes,)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        logits = x @ self.kernel + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def fit_logistic(params: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                 num_classes: int, seed: int) -> LinearHead:
    """Standardise, fit ``LogisticRegression(C, class_weight)``, fold both into a
    softmax layer's kernel and bias."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    weighting = params.get("class_weight", "none")
    regression = LogisticRegression(
        C=float(params.get("C", 1.0)), max_iter=2000, random_state=seed,
        class_weight=None if weighting in (None, "none") else weighting,
    ).fit(scaler.transform(x), y)
    coef, intercept = regression.coef_, regression.intercept_
    if coef.shape[0] == 1:  # binary: class 1's logit against a zero for class 0
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    full_coef = np.zeros((num_classes, x.shape[1]))
    full_intercept = np.full(num_classes, -1e4)  # a class missing from training: never
    full_coef[regression.classes_] = coef
    full_intercept[regression.classes_] = intercept
    scale = scaler.scale_
    kernel = (full_coef / scale).T
    bias = full_intercept - (full_coef * (scaler.mean_ / scale)).sum(axis=1)
    return LinearHead(kernel.astype(np.float32), bias.astype(np.float32))


def scores(head: LinearHead, x: np.ndarray, y: np.ndarray, num_classes: int) -> dict[str, float]:
    """Log loss and accuracy of the head's probabilities."""
    from sklearn.metrics import accuracy_score, log_loss

    probabilities = np.clip(head.probabilities(x), 1e-7, 1.0)
    return {"loss": float(log_loss(y, probabilities, labels=list(range(num_classes)))),
            "accuracy": float(accuracy_score(y, probabilities.argmax(axis=1)))}


def to_keras(spec: StudySpec, data: Dataset, head: LinearHead) -> Any:
    """The backbone with the fitted regression as its softmax layer."""
    model = _classifier(spec, data)
    model.get_layer("predictions").set_weights([head.kernel, head.bias])
    return model
