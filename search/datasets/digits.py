"""scikit-learn's bundled 8x8 handwritten digits: 1,797 images, 10 classes, no download."""

from __future__ import annotations

import numpy as np

from search.config import DataConfig
from search.datasets._base import Dataset, stratified_split, with_class_weights
from search.datasets._registry import register_dataset


@register_dataset("digits")
def load_digits(config: DataConfig) -> Dataset:
    """Gray 8x8x1 images scaled to [0, 1], split stratified under ``config.seed``."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images.astype("float32") / 16.0)[..., np.newaxis]
    y = bunch.target.astype("int64")
    names = tuple(str(n) for n in bunch.target_names)
    dataset = stratified_split(
        x, y, names,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
    )
    return with_class_weights(dataset, config.class_weight)
