"""KerasTuner hypermodels as cvsearch studies.

A spec names a hypermodel (``module:function`` for a ``build(hp)``, ``module:Class`` for a
``keras_tuner.HyperModel`` subclass such as ``keras_tuner.applications:HyperResNet``).
Each trial hands the hypermodel an :class:`OptunaHyperParameters`: KerasTuner's own
``HyperParameters`` (so ``conditional_scope``, ``name_scope``, ``values`` and ``get``
behave as in KerasTuner) whose values come from the Optuna trial, so every ``hp`` call
is an Optuna suggestion with the same name and range. The hypermodel's own
``fit(hp, model, ...)`` trains, with cvsearch's callbacks (monitor, pruning, best weights).
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any

from search.errors import CvsearchError


def _keras_tuner() -> Any:
    from search.tfenv import import_keras

    import_keras()
    import keras_tuner

    return keras_tuner


def suggest(trial: Any, hp: Any) -> Any:
    """The Optuna suggestion for one KerasTuner hyperparameter, with its name and range."""
    kt = _keras_tuner()
    types = kt.engine.hyperparameters
    if isinstance(hp, types.Fixed):
        return trial.suggest_categorical(hp.name, [hp.value])
    if isinstance(hp, types.Boolean):
        return trial.suggest_categorical(hp.name, [False, True])
    if isinstance(hp, types.Choice):
        return trial.suggest_categorical(hp.name, list(hp.values))
    log = hp.sampling == "log"
    if isinstance(hp, types.Int):
        step = int(hp.step or 1)
        if log and step > 1:  # KerasTuner's log step is a factor: min, min*step, ...
            return trial.suggest_categorical(hp.name, _geometric(hp.min_value, hp.max_value, step))
        return trial.suggest_int(hp.name, int(hp.min_value), int(hp.max_value),
                                 step=1 if log else step, log=log)
    if isinstance(hp, types.Float):
        if log and hp.step:
            return trial.suggest_categorical(hp.name, _geometric(hp.min_value, hp.max_value,
                                                                 hp.step))
        return trial.suggest_float(hp.name, float(hp.min_value), float(hp.max_value),
                                   step=None if log else hp.step, log=log)
    raise CvsearchError(f"hyperparameter '{hp.name}': unsupported kind {type(hp).__name__}")


def _geometric(low: float, high: float, factor: float) -> list[Any]:
    values, value = [], low
    while value <= high * (1 + 1e-9):
        values.append(value)
        value = value * factor
    return values


def optuna_hyperparameters(trial: Any) -> Any:
    """KerasTuner ``HyperParameters`` whose active values are sampled by ``trial``
    (an ``optuna.Trial``, or an ``optuna.trial.FixedTrial`` to rebuild a finished one)."""
    kt = _keras_tuner()

    class OptunaHyperParameters(kt.HyperParameters):
        def __init__(self) -> None:
            super().__init__()
            self.trial = trial

        def _register(self, hyperparameter: Any, overwrite: bool = False) -> Any:
            if self.is_active(hyperparameter) and hyperparameter.name not in self.values:
                self.values[hyperparameter.name] = suggest(self.trial, hyperparameter)
            return super()._register(hyperparameter, overwrite=False)

    return OptunaHyperParameters()


def load_hypermodel(target: str, options: dict[str, Any], input_shape: tuple[int, ...],
                    num_classes: int) -> Any:
    """The ``keras_tuner.HyperModel`` that ``module:attribute`` names. A class gets the
    spec's options, and the data's ``input_shape`` and ``classes`` where it takes them."""
    kt = _keras_tuner()
    module_name, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise CvsearchError(f"model.hypermodel: cannot find '{target}' "
                            f"({type(error).__name__}: {error})") from None
    if isinstance(found, type) and issubclass(found, kt.HyperModel):
        accepted = inspect.signature(found.__init__).parameters
        arguments = dict(options)
        if "input_shape" in accepted and not {"input_shape", "input_tensor"} & set(arguments):
            arguments["input_shape"] = tuple(input_shape)
        if "classes" in accepted and "classes" not in arguments:
            arguments["classes"] = num_classes
        try:
            return found(**arguments)
        except (TypeError, ValueError) as error:
            raise CvsearchError(f"model.hypermodel: {target}({', '.join(arguments)}): "
                                f"{error}") from None
    if options:
        raise CvsearchError(f"model.options: '{target}' is a build function; it takes no options")
    try:
        from keras_tuner.src.engine.hypermodel import get_hypermodel

        return get_hypermodel(found)
    except Exception as error:  # noqa: BLE001 - KerasTuner's own message, one line
        raise CvsearchError(f"model.hypermodel: '{target}': {error}") from None


def build(hypermodel: Any, hp: Any, num_classes: int) -> Any:
    """``hypermodel.build(hp)``, completed into a classifier where it is not one (an
    augmentation hypermodel gets pooling and a softmax), compiled where it is not."""
    import keras

    model = hypermodel.build(hp)
    output = model.outputs[0]
    if len(output.shape) != 2 or output.shape[-1] != num_classes:
        x = output
        if len(x.shape) == 4:
            x = keras.layers.GlobalAveragePooling2D(name="cvsearch_pool")(x)
        elif len(x.shape) != 2:
            x = keras.layers.Flatten(name="cvsearch_flatten")(x)
        x = keras.layers.Dense(num_classes, activation="softmax", name="cvsearch_predictions")(x)
        model = keras.Model(model.inputs, x, name=model.name)
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def wants_one_hot(model: Any) -> bool:
    """True when the model was compiled with (non-sparse) categorical cross-entropy."""
    loss = getattr(model, "loss", None)
    name = loss if isinstance(loss, str) else getattr(loss, "name", "") or ""
    return "categorical_crossentropy" in name and "sparse" not in name


def fit(hypermodel: Any, hp: Any, model: Any, x: Any, y: Any,
        validation: tuple[Any, Any] | None, num_classes: int,
        **arguments: Any) -> dict[str, float] | None:
    """The hypermodel's own ``fit``; labels one-hot where its loss wants them. Returns
    the metrics of a custom fit that returns them instead of a Keras ``History``."""
    import keras

    one_hot = wants_one_hot(model)
    if one_hot:
        y = keras.utils.to_categorical(y, num_classes)
    if validation is not None:
        x_val, y_val = validation
        if one_hot:
            y_val = keras.utils.to_categorical(y_val, num_classes)
        arguments["validation_data"] = (x_val, y_val)
    result = hypermodel.fit(hp, model, x, y, **arguments)
    if isinstance(result, dict):
        return {k: float(v) for k, v in result.items()}
    if isinstance(result, (int, float)) and math.isfinite(result):
        return {"val_loss": float(result)}
    return None
