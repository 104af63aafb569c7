"""The study spec: TOML parsed once into frozen, validated dataclasses.

Every error names the file and the key path, e.g.
``studies/digits.toml: budget.max_epochs: expected an integer, got 'ten'``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import cvmodels
import spaces
from search.errors import SpecError

STORAGE_ENV = "CVSEARCH_STORAGE"


@dataclass(frozen=True)
class DataConfig:
    """Which data set, and how it is split into train / validation / test."""

    kind: str = "digits"
    path: str | None = None
    image_size: int | list[int] | None = None
    color: Literal["auto", "gray", "rgb"] = "auto"
    resize: Literal["stretch", "crop"] = "stretch"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    class_weight: Literal["auto", "off"] = "auto"
    flip: bool = True
    cache: bool = True


#: ``model.weights`` values that are not files.
WEIGHT_KEYWORDS = ("imagenet", "none")


@dataclass(frozen=True)
class ModelConfig:
    """A model registered in :mod:`cvmodels`, trained end to end (``kind = "network"``) or
    used as a frozen feature extractor under a logistic regression (``kind = "features"``).

    ``weights``: ``"imagenet"``, ``"none"``, a local weights file of the headless backbone,
    or, for model ``saved``, the ``.keras`` classifier to fine-tune. ``options``: fixed
    builder arguments that are not searched, e.g. ``alpha`` or ``image_size``.
    ``hypermodel``: a KerasTuner ``build(hp)`` or ``HyperModel`` in place of a cvmodels
    model, e.g. ``"keras_tuner.applications:HyperResNet"``; options go to its constructor.
    """

    name: str = "minivggnet"
    kind: Literal["network", "features"] = "network"
    weights: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    hypermodel: str | None = None  # a KerasTuner hypermodel, "module:function_or_class"

    def arguments(self) -> dict[str, Any]:
        """The fixed keyword arguments of the builder: options, and weights if given."""
        fixed = dict(self.options)
        if self.weights is not None:
            fixed["weights"] = None if self.weights == "none" else self.weights
        return fixed


@dataclass(frozen=True)
class SpaceConfig:
    """A named space from :mod:`spaces` and per-study overrides of its parameters.

    Without a name: ``features`` for feature extraction, ``backbone`` for a pretrained or
    saved backbone, ``default`` for the compact CNNs.
    """

    name: str | None = None
    override: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectiveConfig:
    """The metric a trial is scored by; it is also what pruning watches every epoch."""

    metric: Literal["val_loss", "val_accuracy"] = "val_loss"

    @property
    def direction(self) -> str:
        return "minimize" if self.metric == "val_loss" else "maximize"


@dataclass(frozen=True)
class BudgetConfig:
    """How much to search: total trials, seconds per run, epochs per trial."""

    n_trials: int = 20
    timeout: float | None = None
    max_epochs: int = 10


@dataclass(frozen=True)
class SamplerConfig:
    """Optuna sampler: TPE (default) or random, seeded."""

    kind: Literal["tpe", "random"] = "tpe"
    seed: int | None = 0
    n_startup_trials: int = 8


@dataclass(frozen=True)
class PrunerConfig:
    """Optuna pruner over epochs: Hyperband (default), successive halving (one Hyperband
    bracket: with few trials, every trial is compared from the first rung), median, none."""

    kind: Literal["hyperband", "successive_halving", "median", "none"] = "hyperband"
    min_epochs: int = 2
    reduction_factor: int = 3
    n_startup_trials: int = 5
    n_warmup_epochs: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """Training settings that are not searched."""

    batch_size: int | None = None
    seed: int = 0
    checkpoints: int = 3
    mixed_precision: bool = False


@dataclass(frozen=True)
class ExecutionConfig:
    """How trials run: in worker processes recycled every few trials (default), or inline.

    TensorFlow keeps some memory from every model it trains (about 14 MB per MiniVGGNet
    trial, with or without ``clear_session()``); a worker that exits gives all of it back.
    """

    isolation: Literal["process", "inline"] = "process"
    trials_per_process: int = 20
    workers: int = 1
    heartbeat_interval: int = 5
    grace_period: int = 20


@dataclass(frozen=True)
class StudySpec:
    """A whole study: what to search, on what, with which budget."""

    name: str
    storage: str
    artifacts: str | None = None
    imports: tuple[str, ...] = ()
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    space: SpaceConfig = SpaceConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    budget: BudgetConfig = BudgetConfig()
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    train: TrainConfig = TrainConfig()
    execution: ExecutionConfig = ExecutionConfig()
    source: str = ""

    def search_space(self) -> spaces.SearchSpace:
        """The named space with this study's overrides (and fixed batch size) applied."""
        overrides = dict(self.space.override)
        if self.train.batch_size is not None:
            overrides["batch_size"] = self.train.batch_size
        return spaces.get_space(self.space.name).with_overrides(overrides)

    def with_overrides(self, **changes: Any) -> StudySpec:
        """Apply command-line overrides: ``name``, ``storage``, ``n_trials``, ``timeout``."""
        spec = self
        if changes.get("name"):
            spec = dataclasses.replace(spec, name=changes["name"])
        if changes.get("storage"):
            spec = dataclasses.replace(spec, storage=changes["storage"])
        if changes.get("artifacts"):
            spec = dataclasses.replace(spec, artifacts=changes["artifacts"])
        budget = {k: changes[k] for k in ("n_trials", "timeout") if changes.get(k) is not None}
        if budget:
            spec = dataclasses.replace(spec, budget=dataclasses.replace(spec.budget, **budget))
        execution = {k: changes[k] for k in ("isolation", "workers") if changes.get(k)}
        if execution:
            spec = dataclasses.replace(
                spec, execution=dataclasses.replace(spec.execution, **execution))
        if changes.get("data_path"):
            spec = dataclasses.replace(
                spec, data=dataclasses.replace(spec.data, path=changes["data_path"])
            )
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The resolved configuration, as stored with the study (storage left out)."""
        resolved = dataclasses.asdict(self)
        resolved.pop("storage")
        resolved.pop("artifacts")
        resolved["imports"] = list(self.imports)
        resolved["space"]["override"] = dict(self.space.override)
        resolved["model"]["options"] = dict(self.model.options)
        resolved["space"]["resolved"] = self.search_space().rows()
        return resolved


_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "space": SpaceConfig,
    "objective": ObjectiveConfig,
    "budget": BudgetConfig,
    "sampler": SamplerConfig,
    "pruner": PrunerConfig,
    "train": TrainConfig,
    "execution": ExecutionConfig,
}
_TOP_LEVEL = {"name", "storage", "artifacts", "imports", *_SECTIONS}


def _import_plugins(modules: Any, file: Path) -> None:
    """Import the spec's ``imports``: modules that register models, spaces or data sets.

    The spec's folder is searched first, so a ``my_models.py`` beside it is found.
    """
    import importlib

    _check_type(modules, list[str], "imports")
    folder = str(file.parent.resolve())
    if modules and folder not in sys.path:
        sys.path.insert(0, folder)
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - any import failure is one line
            raise SpecError(f"imports: cannot import '{module}' ({type(error).__name__}: {error})")


def load_spec(path: str | os.PathLike[str]) -> StudySpec:
    """Read, validate and resolve a study spec file."""
    file = Path(path)
    where = str(path)
    try:
        with file.open("rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise SpecError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{where}: is a directory, not a spec file") from None
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{where}: not valid TOML ({error})") from None
    try:
        return _parse(raw, file)
    except SpecError as error:
        raise SpecError(f"{where}: {error}") from None


def _parse(raw: Mapping[str, Any], file: Path) -> StudySpec:
    for key in raw:
        if key not in _TOP_LEVEL:
            raise SpecError(f"{key}: unknown key (expected one of: {', '.join(sorted(_TOP_LEVEL))})")
    _import_plugins(raw.get("imports", []), file)
    name = raw.get("name", file.stem)
    _check_type(name, str, "name")
    if not name.strip():
        raise SpecError("name: must not be empty")
    sections: dict[str, Any] = {}
    for key, cls in _SECTIONS.items():
        table = raw.get(key, {})
        if not isinstance(table, Mapping):
            raise SpecError(f"{key}: expected a table, got {table!r}")
        sections[key] = _build(cls, table, key)
    storage = raw.get("storage")
    if storage is not None:
        _check_type(storage, str, "storage")
    data_path = sections["data"].path
    if data_path is not None:
        sections["data"] = dataclasses.replace(
            sections["data"], path=str((file.parent / Path(data_path).expanduser()).resolve())
        )
    sections["model"] = _resolve_model(sections["model"], file)
    if sections["space"].name is None:
        sections["space"] = dataclasses.replace(
            sections["space"], name=default_space(sections["model"]))
    artifacts = raw.get("artifacts")
    if artifacts is not None:
        _check_type(artifacts, str, "artifacts")
        artifacts = str((file.parent / artifacts).resolve())
    spec = StudySpec(
        name=name,
        imports=tuple(raw.get("imports", [])),
        storage=resolve_storage(storage, file, name),
        artifacts=artifacts,
        source=str(file.resolve()),
        **sections,
    )
    _validate(spec)
    return spec


def default_space(model: ModelConfig) -> str:
    """The space a model gets when the spec names none."""
    from cvmodels.backbones import BACKBONES

    if model.hypermodel:
        return "hypermodel"
    if model.kind == "features":
        return "features"
    return "backbone" if model.name in BACKBONES or model.name == "saved" else "default"


def _resolve_model(model: ModelConfig, file: Path) -> ModelConfig:
    """A weights path is taken relative to the spec's folder; a hypermodel's module is
    looked for there first."""
    folder = str(file.parent.resolve())
    if model.hypermodel and folder not in sys.path:
        sys.path.insert(0, folder)
    if model.weights is None or model.weights in WEIGHT_KEYWORDS:
        return model
    path = (file.parent / Path(model.weights).expanduser()).resolve()
    return dataclasses.replace(model, weights=str(path))


def resolve_storage(storage: str | None, spec_file: Path, name: str) -> str:
    """Spec storage, else $CVSEARCH_STORAGE, else a SQLite file next to the spec.

    A relative SQLite path in the spec is taken relative to the spec's folder.
    """
    if storage is None:
        storage = os.environ.get(STORAGE_ENV) or None
        if storage is not None:
            return storage
        return f"sqlite:///{(spec_file.parent / f'{name}.db').resolve()}"
    prefix = "sqlite:///"
    if storage.startswith(prefix) and not storage[len(prefix):].startswith("/"):
        relative = storage[len(prefix):]
        if relative and relative != ":memory:":
            return prefix + str((spec_file.parent / relative).resolve())
    return storage


def _build(cls: type, table: Mapping[str, Any], path: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in table:
        if key not in names:
            raise SpecError(f"{path}.{key}: unknown key (expected one of: {', '.join(names)})")
    values = {}
    for key, value in table.items():
        hint = hints[key]
        _check_type(value, hint, f"{path}.{key}")
        if hint is float or float in typing.get_args(hint):
            value = float(value) if isinstance(value, int) and not isinstance(value, bool) else value
        values[key] = value
    return cls(**values)


def _check_type(value: Any, hint: Any, path: str) -> None:
    origin = typing.get_origin(hint)
    if origin is Literal:
        options = typing.get_args(hint)
        if value not in options:
            shown = ", ".join(repr(o) for o in options)
            raise SpecError(f"{path}: expected one of {shown}, got {value!r}")
        return
    if origin in (typing.Union, types.UnionType):
        last: SpecError | None = None
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            try:
                _check_type(value, option, path)
                return
            except SpecError as error:
                last = error
        assert last is not None
        raise last
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise SpecError(f"{path}: expected a list, got {value!r}")
        for index, element in enumerate(value):
            _check_type(element, item, f"{path}[{index}]")
        return
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise SpecError(f"{path}: expected a table, got {value!r}")
        return
    expected = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }.get(hint)
    if ok is None:
        raise TypeError(f"unsupported spec type {hint!r} at {path}")
    if not ok:
        raise SpecError(f"{path}: expected {expected[hint]}, got {value!r}")


def _validate_model(spec: StudySpec) -> None:
    from cvmodels.backbones import BACKBONES

    model = spec.model
    if model.hypermodel is not None:
        module, _, attribute = model.hypermodel.partition(":")
        if not module or not attribute:
            raise SpecError(f"model.hypermodel: expected 'module:function' or 'module:Class', "
                            f"got {model.hypermodel!r}")
        if model.kind != "network" or model.weights is not None:
            raise SpecError("model.hypermodel: a hypermodel builds its own network "
                            "(no model.kind or model.weights with it)")
        return
    accepted = cvmodels.model_hyperparameters(model.name)
    for key in model.options:
        if key not in accepted or key == "weights":
            hint = " (give it as model.weights)" if key == "weights" else ""
            raise SpecError(f"model.options.{key}: model '{model.name}' takes no such option"
                            f"{hint} (it takes: {', '.join(a for a in accepted if a != 'weights')})")
        if key in spec.search_space():
            raise SpecError(f"model.options.{key}: also a parameter of the search space; "
                            "fix it in space.override instead")
    if model.weights is not None and "weights" not in accepted:
        raise SpecError(f"model.weights: model '{model.name}' takes no weights "
                        f"(backbones do: {', '.join([*BACKBONES, 'saved'])})")
    if model.name == "saved" and model.weights in (None, *WEIGHT_KEYWORDS):
        raise SpecError('model.weights: model "saved" needs the .keras file to fine-tune')
    if model.weights not in (None, *WEIGHT_KEYWORDS) and not Path(model.weights).is_file():
        raise SpecError(f"model.weights: no such file {model.weights}")
    if model.kind == "features" and model.name not in BACKBONES and model.name != "saved":
        raise SpecError(f"model.kind: feature extraction needs a backbone, not '{model.name}' "
                        f"(known: {', '.join([*BACKBONES, 'saved'])})")


def _validate(spec: StudySpec) -> None:
    from search.datasets import list_datasets

    if spec.data.kind not in list_datasets():
        raise SpecError(
            f"data.kind: unknown data set kind '{spec.data.kind}' "
            f"(known: {', '.join(list_datasets())})"
        )
    for key in ("val_fraction", "test_fraction"):
        value = getattr(spec.data, key)
        if not 0 < value < 1:
            raise SpecError(f"data.{key}: must be between 0 and 1, got {value}")
    size = spec.data.image_size
    if size is not None:
        sizes = [size] if isinstance(size, int) else size
        if len(sizes) not in (1, 2) or any(s < 1 for s in sizes):
            raise SpecError(f"data.image_size: expected a size or [height, width], got {size!r}")
    if spec.data.val_fraction + spec.data.test_fraction >= 0.9:
        raise SpecError("data: val_fraction + test_fraction must leave at least 10% to train")
    if spec.model.name not in cvmodels.list_models():
        raise SpecError(
            f"model.name: unknown model '{spec.model.name}' (known: {', '.join(cvmodels.list_models())})"
        )
    if spec.space.name not in spaces.list_spaces():
        raise SpecError(
            f"space.name: unknown space '{spec.space.name}' (known: {', '.join(spaces.list_spaces())})"
        )
    if spec.train.batch_size is not None and "batch_size" in spec.space.override:
        raise SpecError("train.batch_size: also fixed in space.override.batch_size; give it once")
    for key in ("n_trials", "max_epochs"):
        if getattr(spec.budget, key) < 1:
            raise SpecError(f"budget.{key}: must be at least 1, got {getattr(spec.budget, key)}")
    if spec.budget.timeout is not None and spec.budget.timeout <= 0:
        raise SpecError(f"budget.timeout: must be positive, got {spec.budget.timeout}")
    if spec.train.batch_size is not None and spec.train.batch_size < 1:
        raise SpecError(f"train.batch_size: must be at least 1, got {spec.train.batch_size}")
    if spec.pruner.min_epochs < 1 or spec.pruner.min_epochs > spec.budget.max_epochs:
        raise SpecError("pruner.min_epochs: must be between 1 and budget.max_epochs")
    if spec.pruner.reduction_factor < 2:
        raise SpecError("pruner.reduction_factor: must be at least 2")
    if spec.train.checkpoints < 0:
        raise SpecError("train.checkpoints: must not be negative")
    for key in ("trials_per_process", "workers", "heartbeat_interval"):
        if getattr(spec.execution, key) < 1:
            raise SpecError(f"execution.{key}: must be at least 1")
    if spec.execution.grace_period <= spec.execution.heartbeat_interval:
        raise SpecError("execution.grace_period: must be longer than execution.heartbeat_interval")
    if spec.sampler.n_startup_trials < 0:
        raise SpecError("sampler.n_startup_trials: must not be negative")
    try:
        spec.search_space()
    except spaces.SpaceError as error:
        raise SpecError(str(error)) from None
    _validate_model(spec)
