"""Data sets behind a registry: each kind loads into a split :class:`Dataset`."""

from search.datasets._base import Dataset, stratified_split
from search.datasets._registry import list_datasets, load_dataset, register_dataset

__all__ = ["Dataset", "list_datasets", "load_dataset", "register_dataset", "stratified_split"]


def _register_builtin() -> None:
    from search.datasets import digits, folder, npz  # noqa: F401


_register_builtin()
