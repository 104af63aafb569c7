"""Freezing exactly N layers, batch norm in inference mode, the warm-up -> unfreeze schedule."""

from __future__ import annotations

import numpy as np
import pytest

import cvmodels
from cvmodels.backbones import body_layers
from cvmodels.finetune import Phase, backbone_of, frozen_count, phases
from search.tfenv import import_keras
from search.training import fit_in_phases

keras = import_keras()


def _model(**params):
    return cvmodels.create_model("mobilenetv2", (32, 32, 1), 2, weights=None, image_size=32,
                                 alpha=0.35, head_units=8, **params)


def _data(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 32, 32, 1), dtype=np.float32), rng.integers(0, 2, n)


@pytest.mark.parametrize(("params", "expected"), [
    ({"freeze": 0.5}, 76), ({"freeze": 0.0}, 0), ({"freeze": 1.0}, 153),
    ({"freeze_by": "count", "freeze_layers": 40}, 40),
    ({"freeze_by": "count", "freeze_layers": 999}, 153),
])
def test_a_fraction_or_a_count_resolves_to_layers(params, expected) -> None:
    assert frozen_count(params, 153) == expected


def test_exactly_n_layers_are_frozen_and_a_training_step_leaves_them_unchanged() -> None:
    model = _model(freeze_by="count", freeze_layers=60)
    layers = body_layers(backbone_of(model))
    assert sum(not layer.trainable for layer in layers) == 60
    assert all(not layer.trainable for layer in layers[:60])
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers
              + layers}
    x, y = _data()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    frozen_bn = [layer for layer in layers[:60]
                 if isinstance(layer, keras.layers.BatchNormalization)]
    assert frozen_bn, "the frozen part holds batch-norm layers"
    for layer in layers[:60]:  # weights and moving statistics alike: inference mode
        for old, new in zip(before[layer.name], layer.get_weights()):
            np.testing.assert_array_equal(old, new)
    changed = [layer.name for layer in layers[60:] if any(
        not np.array_equal(old, new) for old, new in zip(before[layer.name], layer.get_weights()))]
    assert changed, "the unfrozen layers train"
    head = model.get_layer("head_dense")
    assert not np.array_equal(before["head_dense"][0], head.get_weights()[0])


def test_the_plan_warms_up_the_head_then_unfreezes_above_n() -> None:
    model = _model(freeze=0.5)
    params = {"freeze": 0.5, "warmup_epochs": 2, "fine_tune_lr_factor": 0.1}
    assert phases(model, params, 5) == [Phase(0, 2, 153, 1.0), Phase(2, 5, 76, 0.1)]
    assert phases(model, params | {"warmup_epochs": 0}, 5) == [Phase(0, 5, 76, 1.0)]
    assert phases(model, params | {"warmup_epochs": 9}, 5) == [Phase(0, 5, 153, 1.0)]
    compact = cvmodels.create_model("lenet", (32, 32, 1), 2)
    assert phases(compact, params, 5) == [Phase(0, 5, 0, 1.0)]


class _Watch(keras.callbacks.Callback):
    """Records, at every epoch, the backbone's trainable layers and the learning rate."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_begin(self, epoch, logs=None):
        layers = body_layers(backbone_of(self.model))
        rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self.rows.append((epoch, sum(layer.trainable for layer in layers), rate))


def test_training_follows_the_warm_up_then_unfreeze_schedule() -> None:
    params = {"freeze": 0.5, "warmup_epochs": 2, "fine_tune_lr_factor": 0.1,
              "learning_rate": 1e-2, "optimizer": "adam", "lr_schedule": "none", "batch_size": 8}
    model = _model(freeze=0.5)
    x, y = _data()
    watch = _Watch()
    from search.pipeline import train_pipeline

    fit_in_phases(model, params, train_pipeline(x, y, 8, 0, None), len(y), 4,
                  callbacks=[watch], shuffle=False, verbose=0)
    assert [row[0] for row in watch.rows] == [0, 1, 2, 3]  # one run of epochs
    assert [row[1] for row in watch.rows] == [0, 0, 153 - 76, 153 - 76]
    assert [row[2] for row in watch.rows] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
