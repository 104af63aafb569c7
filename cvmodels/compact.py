"""The compact CNNs of *Deep Learning for Computer Vision with Python*.

Each builder takes the input shape and class count plus plain hyperparameters
(dropout, batch norm, a width multiplier) and returns an uncompiled Keras model.
"""

from __future__ import annotations

from typing import Any

from cvmodels._blocks import classifier, conv_block, dense_block, scaled
from cvmodels._registry import register_model


@register_model("shallownet")
def shallownet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    dropout: float = 0.0,
    batch_norm: bool = False,
    width: float = 1.0,
) -> Any:
    """INPUT => CONV => RELU => FC: the smallest network that still learns images."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = conv_block(inputs, scaled(32, width), 3, batch_norm)
    x = layers.Flatten()(x)
    if dropout > 0:
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, classifier(x, num_classes), name="shallownet")


@register_model("lenet")
def lenet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    dropout: float = 0.0,
    batch_norm: bool = False,
    width: float = 1.0,
) -> Any:
    """(CONV => RELU => POOL) x 2 => FC 500 => softmax, with 20 and 50 filters."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters in (20, 50):
        x = conv_block(x, scaled(filters, width), 5, batch_norm)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    x = dense_block(x, scaled(500, width), batch_norm, dropout)
    return keras.Model(inputs, classifier(x, num_classes), name="lenet")


@register_model("minivggnet")
def minivggnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    dropout: float = 0.25,
    batch_norm: bool = True,
    width: float = 1.0,
) -> Any:
    """Two blocks of (CONV => RELU => BN) x 2 => POOL => DROPOUT, 32 then 64 filters;
    then FC 512 => RELU => BN => DROPOUT (twice the rate, as in the book) => softmax."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = inputs
    for filters in (32, 64):
        for _ in range(2):
            x = conv_block(x, scaled(filters, width), 3, batch_norm)
        x = layers.MaxPooling2D(2, padding="same")(x)
        if dropout > 0:
            x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = dense_block(x, scaled(512, width), batch_norm, min(2 * dropout, 0.8))
    return keras.Model(inputs, classifier(x, num_classes), name="minivggnet")
