from __future__ import annotations

import math

from search.diagnosis import diagnose, generalization_gap


def kinds(history, classes=10):
    return [f.kind for f in diagnose(history, classes)]


def test_healthy_training_is_called_healthy() -> None:
    history = {"loss": [2.0, 1.0, 0.5, 0.3, 0.2], "val_loss": [1.9, 1.0, 0.6, 0.4, 0.35]}
    assert kinds(history) == ["healthy"]


def test_a_growing_gap_with_rising_validation_loss_is_overfitting() -> None:
    history = {"loss": [1.0, 0.5, 0.3, 0.15, 0.08, 0.04], "val_loss": [1.0, 0.6, 0.5, 0.55, 0.7, 0.9]}
    found = diagnose(history, 10)
    assert [f.kind for f in found] == ["overfitting"]
    assert "gap" in found[0].message and "0.5" in found[0].message


def test_nan_loss_and_rising_loss_are_divergence() -> None:
    assert kinds({"loss": [2.0, math.nan], "val_loss": [2.0, math.nan]}) == ["diverged"]
    assert kinds({"loss": [2.0, None], "val_loss": [2.0, None]}) == ["diverged"]
    rising = {"loss": [1.0, 3.0, 9.0, 14.0], "val_loss": [1.0, 3.0, 9.0, 14.0]}
    assert kinds(rising)[0] == "diverged"
    assert "learning rate is too high" in diagnose(rising, 10)[0].message


def test_high_flat_losses_are_underfitting() -> None:
    flat = {"loss": [2.30, 2.29, 2.29, 2.28, 2.28], "val_loss": [2.30, 2.30, 2.29, 2.29, 2.29]}
    assert kinds(flat) == ["underfitting"]
    low_flat = {"loss": [0.05, 0.05, 0.05, 0.05], "val_loss": [0.06, 0.06, 0.06, 0.06]}
    assert kinds(low_flat) == ["healthy"]


def test_an_empty_history_says_so_and_the_gap_is_val_minus_train() -> None:
    assert kinds({}) == ["too short"]
    assert generalization_gap({"loss": [1.0, 0.5], "val_loss": [1.5, 1.0]}) == [0.5, 0.5]
