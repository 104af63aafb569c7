"""Data set kinds, chosen by ``data.kind`` in a study spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from search.errors import CvsearchError

if TYPE_CHECKING:
    from search.config import DataConfig
    from search.datasets._base import Dataset

DatasetLoader = Callable[["DataConfig"], "Dataset"]

_LOADERS: dict[str, DatasetLoader] = {}


def register_dataset(kind: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Register ``load(config) -> Dataset`` under ``kind``."""

    def decorate(loader: DatasetLoader) -> DatasetLoader:
        if kind in _LOADERS:
            raise ValueError(f"data set kind '{kind}' is already registered")
        _LOADERS[kind] = loader
        return loader

    return decorate


def list_datasets() -> list[str]:
    return sorted(_LOADERS)


def load_dataset(config: DataConfig) -> Dataset:
    """Load and split the data set that ``config`` describes."""
    try:
        loader = _LOADERS[config.kind]
    except KeyError:
        raise CvsearchError(
            f"unknown data set kind '{config.kind}' (known: {', '.join(list_datasets())})"
        ) from None
    return loader(config)
