"""A loaded data set, already split into train, validation and test arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Images as float32 ``(n, height, width, channels)`` in [0, 1]; labels as int ``(n,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    class_weight: dict[int, float] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> dict[str, object]:
        """Sizes, classes and a content hash, so a result can be traced to its data."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return {
            "train": len(self.y_train),
            "val": len(self.y_val),
            "test": len(self.y_test),
            "classes": list(self.class_names),
            "input_shape": list(self.input_shape),
            "sha256": digest.hexdigest()[:16],
            "class_weight": self.class_weight,
        }


def stratified_split(
    x: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> Dataset:
    """Split into train / validation / test with the class balance kept in each part."""
    from sklearn.model_selection import train_test_split

    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=val_fraction / (1.0 - test_fraction),
        stratify=y_rest,
        random_state=seed,
    )
    return Dataset(x_train, y_train, x_val, y_val, x_test, y_test, class_names)


#: Class weighting turns on when the largest class outnumbers the smallest by this much.
IMBALANCE_RATIO = 1.5


def with_class_weights(dataset: Dataset, policy: str) -> Dataset:
    """Balanced class weights (scikit-learn's ``"balanced"``) for imbalanced training data.

    ``policy`` is ``"auto"`` (weights only when the classes are imbalanced) or ``"off"``.
    """
    if policy == "off":
        return replace(dataset, class_weight=None)
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.arange(dataset.num_classes)
    counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
    if counts.min() == 0 or counts.max() / counts.min() < IMBALANCE_RATIO:
        return replace(dataset, class_weight=None)
    weights = compute_class_weight("balanced", classes=classes, y=dataset.y_train)
    return replace(dataset, class_weight={int(c): float(w) for c, w in zip(classes, weights)})
