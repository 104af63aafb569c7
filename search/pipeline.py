"""The input pipeline: tf.data with shuffling, batching, augmentation and prefetching.

Augmentation is one strength ``s`` in [0, 1] scaling a fixed recipe; at ``s = 1`` it is
the book's ``ImageDataGenerator`` recipe (rotation 30 degrees, shifts 0.1, shear 0.2, zoom
0.2, horizontal flip) plus contrast 0.2. It runs on training batches only, as Keras
preprocessing layers inside the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from search.tfenv import import_keras


@dataclass(frozen=True)
class Recipe:
    """The augmentation at strength 1."""

    rotation_degrees: float = 30.0
    shift: float = 0.1
    shear: float = 0.2
    zoom: float = 0.2
    contrast: float = 0.2


BOOK_RECIPE = Recipe()


def augmenter(strength: float, flip: bool, recipe: Recipe = BOOK_RECIPE) -> Any | None:
    """A Keras model applying the recipe scaled by ``strength``; None when it is 0."""
    if not strength > 0:
        return None
    if strength > 1:
        raise ValueError(f"augmentation strength must be in [0, 1], got {strength}")
    keras = import_keras()
    from keras import layers

    s = float(strength)
    steps = [
        layers.RandomRotation(s * recipe.rotation_degrees / 360.0, fill_mode="nearest"),
        layers.RandomTranslation(s * recipe.shift, s * recipe.shift, fill_mode="nearest"),
        layers.RandomShear(x_factor=s * recipe.shear, y_factor=s * recipe.shear,
                           fill_mode="nearest"),
        layers.RandomZoom(s * recipe.zoom, fill_mode="nearest"),
        layers.RandomContrast(s * recipe.contrast, value_range=(0.0, 1.0)),
    ]
    if flip:
        steps.append(layers.RandomFlip("horizontal"))
    return keras.Sequential(steps, name="augment")


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int | None) -> Any:
    """Batches gathered from the in-memory arrays by index: one gather per batch rather
    than one tf.data element per image keeps the pipeline as fast as plain arrays."""
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(len(x))
    if seed is not None:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return order.batch(batch_size).map(
        lambda index: (tf.gather(images, index), tf.gather(labels, index)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def train_pipeline(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: Any | None = None
) -> Any:
    """Shuffled (every epoch, seeded), batched, augmented, prefetched training batches.

    The arrays are already decoded and in memory (the data set cache holds them on
    disk), so the pipeline needs no ``cache()`` step of its own.
    """
    import tensorflow as tf

    data = _batches(x, y, batch_size, seed)
    if augment is not None:
        data = data.map(lambda images, labels: (augment(images, training=True), labels),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def eval_pipeline(x: np.ndarray, y: np.ndarray, batch_size: int) -> Any:
    """Batched, prefetched evaluation data, in order, never augmented."""
    import tensorflow as tf

    return _batches(x, y, batch_size, seed=None).prefetch(tf.data.AUTOTUNE)
