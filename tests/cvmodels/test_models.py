from __future__ import annotations

import numpy as np
import pytest

import cvmodels

NAMES = ["shallownet", "lenet", "minivggnet"]


@pytest.mark.parametrize("name", NAMES)
def test_each_model_builds_and_trains_a_step(name: str) -> None:
    model = cvmodels.create_model(name, (8, 8, 1), 10, dropout=0.2, batch_norm=True, width=0.5)
    assert model.output_shape == (None, 10)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1), dtype="float32")
    y = rng.integers(0, 10, 16)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert any(changed)
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_change_the_network(name: str) -> None:
    narrow = cvmodels.create_model(name, (8, 8, 1), 3, width=0.5, batch_norm=False)
    wide = cvmodels.create_model(name, (8, 8, 1), 3, width=2.0, batch_norm=False)
    assert wide.count_params() > narrow.count_params()
    with_bn = cvmodels.create_model(name, (8, 8, 1), 3, batch_norm=True)
    kinds = {type(layer).__name__ for layer in with_bn.layers}
    assert "BatchNormalization" in kinds
    without = {type(layer).__name__ for layer in narrow.layers}
    assert "BatchNormalization" not in without


def test_minivggnet_has_the_books_shape() -> None:
    model = cvmodels.create_model("minivggnet", (32, 32, 3), 10, dropout=0.25, batch_norm=True)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 64, 64]
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [d.units for d in dense] == [512, 10]
    rates = [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert rates == [0.25, 0.25, 0.5]


def test_registry_knows_names_and_hyperparameters() -> None:
    assert set(NAMES) <= set(cvmodels.list_models())
    assert cvmodels.model_hyperparameters("lenet") == ("dropout", "batch_norm", "width")
    with pytest.raises(cvmodels.UnknownModelError, match="unknown model 'resnet9000'"):
        cvmodels.create_model("resnet9000", (8, 8, 1), 2)


def test_unrelated_hyperparameters_are_ignored() -> None:
    model = cvmodels.create_model("shallownet", (8, 8, 1), 2, learning_rate=0.1, optimizer="sgd")
    assert model.output_shape == (None, 2)
