"""Pretrained ``keras.applications`` backbones with a new head, and saved classifiers to
fine-tune: one builder signature, one table of per-backbone constants.

The model takes the data set's images as they are (float32 in [0, 1], gray or colour)
and does the rest inside the graph, so that a saved model needs nothing else:
``BackboneInput`` turns gray into three channels, resizes to a size the backbone accepts
and applies the backbone's own ``preprocess_input``. The backbone is a nested model named
``backbone``; :mod:`cvmodels.finetune` freezes and unfreezes its layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvmodels._blocks import BN_MOMENTUM, classifier
from cvmodels._registry import register_model

BACKBONE = "backbone"  # the nested model's name


class WeightsError(ValueError):
    """Weights that were asked for and cannot be had (offline, missing or mismatched file)."""


@dataclass(frozen=True)
class Backbone:
    """What cvsearch needs to know about one ``keras.applications`` family member."""

    constructor: str  # attribute of keras.applications
    module: str  # keras.applications submodule whose preprocess_input it uses
    min_size: int  # smallest input side the architecture accepts
    imagenet_sizes: tuple[int, ...]  # input sides with their own imagenet weights; () = any
    layers: int  # layers of the headless backbone (input layer not counted)
    options: tuple[str, ...] = ()  # extra constructor arguments a spec may give


#: Accepted input sizes, preprocessing and layer counts, one row per backbone.
BACKBONES: dict[str, Backbone] = {
    "mobilenetv2": Backbone("MobileNetV2", "mobilenet_v2", 32, (96, 128, 160, 192, 224), 153,
                            ("alpha",)),
    "efficientnetb0": Backbone("EfficientNetB0", "efficientnet", 32, (), 236),
    "resnet50v2": Backbone("ResNet50V2", "resnet_v2", 32, (), 189),
    "vgg16": Backbone("VGG16", "vgg16", 32, (), 18),
}


def backbone_size(name: str, image_size: int | None, input_shape: tuple[int, ...]) -> int:
    """The square side the backbone sees: the asked size, else the data's, raised to the
    backbone's minimum (and, with imagenet sizes listed, to the nearest such size)."""
    info = BACKBONES[name]
    side = image_size or max(input_shape[0], input_shape[1])
    side = max(side, info.min_size)
    if info.imagenet_sizes and image_size is None:
        side = min((s for s in info.imagenet_sizes if s >= side), default=info.imagenet_sizes[-1])
    return int(side)


def _register_input_layer() -> Any:
    import keras

    @keras.saving.register_keras_serializable(package="cvsearch")
    class BackboneInput(keras.layers.Layer):
        """[0, 1] images -> 3 channels, the backbone's size, its ``preprocess_input``."""

        def __init__(self, size: int | None = None, module: str | None = None,
                     channels: int = 3, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.size, self.module, self.channels = size, module, channels

        def call(self, images: Any) -> Any:
            from keras import ops

            x = ops.cast(images, "float32")
            if x.shape[-1] == 1 and self.channels == 3:
                x = ops.repeat(x, 3, axis=-1)
            elif x.shape[-1] == 3 and self.channels == 1:
                x = ops.mean(x, axis=-1, keepdims=True)
            if self.size and (x.shape[1] != self.size or x.shape[2] != self.size):
                x = ops.image.resize(x, (self.size, self.size), interpolation="bilinear")
            if self.module is None:
                return x
            preprocess = getattr(keras.applications, self.module).preprocess_input
            return preprocess(x * 255.0)

        def compute_output_shape(self, input_shape: tuple[Any, ...]) -> tuple[Any, ...]:
            height, width = (self.size, self.size) if self.size else input_shape[1:3]
            channels = self.channels if input_shape[-1] in (1, 3) else input_shape[-1]
            return (input_shape[0], height, width, channels)

        def get_config(self) -> dict[str, Any]:
            return super().get_config() | {"size": self.size, "module": self.module,
                                           "channels": self.channels}

    return BackboneInput


_INPUT_LAYER: Any = None


def register_layers() -> Any:
    """Register cvsearch's own layer with Keras (once), before building or loading a model
    that holds it; returns the ``BackboneInput`` class. Kept out of import time, so that
    ``cvmodels`` imports without TensorFlow."""
    global _INPUT_LAYER
    if _INPUT_LAYER is None:
        _INPUT_LAYER = _register_input_layer()
    return _INPUT_LAYER


def backbone_input(**kwargs: Any) -> Any:
    """A ``BackboneInput`` layer, named ``backbone_input`` unless told otherwise."""
    return register_layers()(**({"name": "backbone_input"} | kwargs))


def _weights_file_hint(error: BaseException) -> str:
    match = re.search(r"/([^/\s]+\.h5)", str(error))
    return match.group(1) if match else "the weights file"


def load_backbone(name: str, side: int, weights: str | None, **options: Any) -> Any:
    """The headless backbone ``name`` for ``side`` x ``side`` x 3 inputs.

    ``weights``: ``"imagenet"`` (from the Keras cache, downloaded there where the machine
    is online), a local weights file of the headless backbone, or None.
    """
    import keras

    info = BACKBONES[name]
    constructor = getattr(keras.applications, info.constructor)
    kwargs = {k: v for k, v in options.items() if k in info.options and v is not None}
    shape = (side, side, 3)
    if weights in (None, "none"):
        model = constructor(include_top=False, weights=None, input_shape=shape, **kwargs)
        _settle_batch_norm(model)
    elif weights == "imagenet":
        try:
            model = constructor(include_top=False, weights="imagenet", input_shape=shape, **kwargs)
        except Exception as error:  # noqa: BLE001 - offline or a failed download: one line
            file = _weights_file_hint(error)
            raise WeightsError(
                f"imagenet weights for {info.constructor} are not in the Keras cache "
                f"(~/.keras/models/{file}) and cannot be downloaded here: give a local weights "
                f"file (model.weights = \"path\"), or run `cvsearch weights fetch SPEC` on a machine "
                f"that is online to pre-cache them, or copy {file} into ~/.keras/models/"
            ) from None
    else:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file {weights} does not exist")
        model = constructor(include_top=False, weights=None, input_shape=shape, **kwargs)
        try:
            model.load_weights(str(path))
        except Exception as error:  # noqa: BLE001 - a mismatched file is one line
            raise WeightsError(f"weights file {weights} does not fit headless "
                               f"{info.constructor} at {side}px: {_short(error)}") from None
    model.name = BACKBONE
    return model


def _settle_batch_norm(model: Any) -> None:
    """From scratch, batch norm's moving averages use the compact CNNs' momentum (0.9):
    the applications' 0.99-0.999 leave them near their initial values after the few
    hundred steps of a trial, and validation then sees a network that predicts one class."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def add_head(inputs: Any, features: Any, num_classes: int, *, head: str, head_units: int,
             dropout: float, name: str) -> Any:
    """Pool (or flatten) the features -> dense of ``head_units`` (0: none) -> dropout ->
    softmax, and return the whole model."""
    import keras
    from keras import layers

    x = features
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="pool")(x) if head == "avg" else \
            layers.Flatten(name="flatten")(x)
    if head_units:
        x = layers.Dense(int(head_units), activation="relu", name="head_dense")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, classifier(x, num_classes), name=name)


def _make_builder(name: str) -> Any:
    info = BACKBONES[name]

    def build(
        input_shape: tuple[int, ...],
        num_classes: int,
        *,
        weights: str | None = None,
        image_size: int | None = None,
        alpha: float | None = None,
        head: str = "avg",
        head_units: int = 0,
        dropout: float = 0.0,
        freeze: float = 0.0,
        freeze_layers: int | None = None,
        freeze_by: str = "fraction",
    ) -> Any:
        side = backbone_size(name, image_size, input_shape)
        body = load_backbone(name, side, weights, alpha=alpha)
        return _assemble(
            input_shape, num_classes, body, backbone_input(size=side, module=info.module),
            name=name, head={"head": head, "head_units": head_units, "dropout": dropout},
            freezing={"freeze": freeze, "freeze_layers": freeze_layers, "freeze_by": freeze_by})

    build.__name__ = name
    build.__doc__ = (f"{info.constructor} without its top, frozen up to a searched depth, "
                     "with a new head (pool -> dense -> dropout -> softmax).")
    return build


for _name in BACKBONES:
    register_model(_name)(_make_builder(_name))


@register_model("saved")
def saved(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    weights: str | None = None,
    head: str = "avg",
    head_units: int = 0,
    dropout: float = 0.0,
    freeze: float = 0.0,
    freeze_layers: int | None = None,
    freeze_by: str = "fraction",
) -> Any:
    """A saved ``.keras`` classifier (``weights`` is its file), its softmax replaced by a
    new head; its other layers are the backbone, counted and frozen like any other."""
    body, side = load_saved_body(weights)
    channels = int(body.input.shape[-1])
    return _assemble(
        input_shape, num_classes, body, backbone_input(size=side, module=None, channels=channels),
        name="saved", head={"head": head, "head_units": head_units, "dropout": dropout},
        freezing={"freeze": freeze, "freeze_layers": freeze_layers, "freeze_by": freeze_by})


def _assemble(input_shape: tuple[int, ...], num_classes: int, body: Any, prepare: Any, *,
              name: str, head: dict[str, Any], freezing: dict[str, Any]) -> Any:
    """inputs -> ``prepare`` (a BackboneInput) -> backbone -> new head; first N frozen."""
    import keras

    from cvmodels.finetune import freeze_first, frozen_count

    inputs = keras.Input(shape=input_shape)
    model = add_head(inputs, body(prepare(inputs)), num_classes, name=name, **head)
    freeze_first(body, frozen_count(freezing, len(body_layers(body))))
    return model


def load_saved_body(path: str | None) -> tuple[Any, int | None]:
    """The saved classifier without its softmax layer, as a model named ``backbone``."""
    import keras

    if not path:
        raise WeightsError("model 'saved' needs model.weights = \"path/to/model.keras\"")
    if not Path(path).is_file():
        raise WeightsError(f"saved model {path} does not exist")
    register_layers()
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - a bad file is one line
        raise WeightsError(f"cannot load saved model {path}: {_short(error)}") from None
    last = model.layers[-1]
    cut = model.layers[-2].output if isinstance(last, keras.layers.Dense) else last.output
    body = keras.Model(model.inputs[0], cut, name=BACKBONE)
    height, width = body.input.shape[1:3]
    return body, (int(height) if height == width and height else None)


def body_layers(backbone: Any) -> list[Any]:
    """The backbone's layers that count for freezing: all but its input layer."""
    import keras

    return [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]


def export_backbone(model_path: Path, out: Path) -> int:
    """Write the nested backbone's weights of a saved model to ``out``; its layer count."""
    import keras

    if not model_path.is_file():
        raise WeightsError(f"no such model file {model_path}")
    if not out.name.endswith(".weights.h5"):
        raise WeightsError(f"{out}: a weights file name must end in .weights.h5")
    register_layers()
    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as error:  # noqa: BLE001 - a bad file is one line
        raise WeightsError(f"cannot load model {model_path}: {_short(error)}") from None
    try:
        backbone = model.get_layer(BACKBONE)
    except ValueError:
        raise WeightsError(f"{model_path} has no backbone (a compact CNN: fine-tune it as "
                           'model "saved" instead)') from None
    out.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(out)
    return len(body_layers(backbone))
