"""A loaded data set, already split into train, validation and test arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split


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
