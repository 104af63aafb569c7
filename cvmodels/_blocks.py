"""Small building blocks shared by the compact CNNs."""

from __future__ import annotations

from typing import Any

#: Moving-average momentum of batch norm. Keras' 0.99 needs hundreds of steps before
#: validation statistics settle; short trials on small data sets have tens.
BN_MOMENTUM = 0.9


def scaled(units: int, width: float) -> int:
    """Scale a filter or unit count by the width multiplier, never below 4."""
    return max(4, int(round(units * width)))


def conv_block(x: Any, filters: int, kernel: int, batch_norm: bool) -> Any:
    """CONV => RELU (=> BN): the book places batch norm after the activation."""
    from keras import layers

    x = layers.Conv2D(filters, kernel, padding="same", use_bias=not batch_norm)(x)
    x = layers.Activation("relu")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return x


def dense_block(x: Any, units: int, batch_norm: bool, dropout: float) -> Any:
    """FC => RELU (=> BN) => DROPOUT."""
    from keras import layers

    x = layers.Dense(units, use_bias=not batch_norm)(x)
    x = layers.Activation("relu")(x)
    if batch_norm:
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    if dropout > 0:
        x = layers.Dropout(dropout)(x)
    return x


def classifier(x: Any, num_classes: int) -> Any:
    """The softmax head."""
    from keras import layers

    # float32 even under a mixed-precision policy: a float16 softmax loses small probabilities
    return layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)
