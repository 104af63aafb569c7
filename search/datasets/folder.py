"""Image folders laid out as ``root/<class>/<image>`` (or ``root/{train,val,test}/<class>/``)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.config import DataConfig
from search.datasets._base import Dataset, stratified_split, with_class_weights
from search.datasets._cache import cache_key, load_cached, store_cached
from search.datasets._images import IMAGE_EXTENSIONS, Preprocess, decode, decode_all
from search.datasets._registry import register_dataset
from search.errors import DatasetError

log = logging.getLogger("cvsearch")

SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


@dataclass(frozen=True)
class Tree:
    """The files under one ``root/<class>/`` tree."""

    root: Path
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]
    ignored: tuple[str, ...]  # files that are not images by their extension


def scan(root: Path, classes: tuple[str, ...] | None = None) -> Tree:
    """List class folders and their files; one-line errors for trees that cannot be used."""
    if not root.is_dir():
        raise DatasetError(f"data.path: no such folder {root}")
    found = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if classes is None:
        if not found:
            raise DatasetError(f"{root} has no class folders (expected {root}/<class>/<image>)")
        if len(found) == 1:
            raise DatasetError(f"{root} has one class ('{found[0]}'); a classifier needs two or more")
        classes = tuple(found)
    else:
        missing = [c for c in classes if c not in found]
        if missing:
            raise DatasetError(f"{root} lacks class folder(s) {', '.join(missing)}")
    files, labels, ignored = [], [], []
    for label, name in enumerate(classes):
        count = 0
        for folder, subfolders, names in os.walk(root / name):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for file in sorted(names):
                if file.startswith("."):
                    continue
                path = os.path.join(folder, file)
                if os.path.splitext(file)[1].lower() in IMAGE_EXTENSIONS:
                    files.append(path)
                    labels.append(label)
                    count += 1
                else:
                    ignored.append(path)
        if count == 0:
            raise DatasetError(f"class folder {root / name} has no image files")
    return Tree(root, tuple(classes), tuple(files), tuple(labels), tuple(ignored))


def resolve_color(config: DataConfig, files: tuple[str, ...]) -> str:
    """``gray`` or ``rgb``; ``auto`` looks at up to 32 images spread over the set."""
    if config.color != "auto":
        return config.color
    step = max(1, len(files) // 32)
    for path in files[::step]:
        image = decode(path, Preprocess((16, 16), "rgb", "stretch"))
        if image is not None and not (
            np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])
        ):
            return "rgb"
    return "gray"


def load_tree(tree: Tree, prep: Preprocess, use_cache: bool) -> tuple[np.ndarray, np.ndarray]:
    """Decoded uint8 images and labels of a tree, from the cache when nothing changed."""
    settings = {"size": list(prep.size), "color": prep.color, "resize": prep.resize,
                "classes": list(tree.classes)}
    key = cache_key(tree.files, settings) if use_cache else ""
    cached = load_cached(key) if use_cache else None
    if cached is not None:
        x, y, failed = cached["x"], cached["y"], cached["failed"]
    else:
        x, failed_list = decode_all(tree.files, prep)
        failed = np.asarray(failed_list, dtype=np.int64)
        keep = np.ones(len(tree.files), dtype=bool)
        keep[failed] = False
        x, y = x[keep], np.asarray(tree.labels, dtype=np.int64)[keep]
        if use_cache:
            store_cached(key, x=x, y=y, failed=failed)
    _report_skipped(tree, [tree.files[i] for i in failed])
    if len(y) == 0:
        raise DatasetError(f"no readable image under {tree.root}")
    empty = [tree.classes[c] for c in range(len(tree.classes)) if not np.any(y == c)]
    if empty:
        raise DatasetError(f"class '{empty[0]}' under {tree.root} has no readable image")
    return x, y


def _report_skipped(tree: Tree, unreadable: list[str]) -> None:
    skipped = list(unreadable) + list(tree.ignored)
    if skipped:
        shown = ", ".join(os.path.relpath(p, tree.root) for p in skipped[:3])
        more = ", ..." if len(skipped) > 3 else ""
        log.warning("skipped %d of %d files under %s (unreadable or not images): %s%s",
                    len(skipped), len(tree.files) + len(tree.ignored), tree.root, shown, more)


def _existing_split(root: Path) -> dict[str, Path] | None:
    found = {}
    for split, names in SPLIT_NAMES.items():
        for name in names:
            if (root / name).is_dir():
                found[split] = root / name
                break
    return found if {"train", "val"} <= set(found) else None


def _size(config: DataConfig) -> tuple[int, int]:
    size = config.image_size if config.image_size is not None else 64
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


@register_dataset("folder")
def load_folder(config: DataConfig) -> Dataset:
    """Images as float32 in [0, 1]; a stratified split, or the folder's own train/val/test."""
    if not config.path:
        raise DatasetError("data.path: the folder data set needs a path (or --data PATH)")
    root = Path(config.path)
    split = _existing_split(root)
    if split is None:
        tree = scan(root)
        prep = Preprocess(_size(config), resolve_color(config, tree.files), config.resize)
        x, y = load_tree(tree, prep, config.cache)
        dataset = stratified_split(
            _scale(x), y, tree.classes, val_fraction=config.val_fraction,
            test_fraction=config.test_fraction, seed=config.seed,
        )
    else:
        train = scan(split["train"])
        prep = Preprocess(_size(config), resolve_color(config, train.files), config.resize)
        parts = {"train": load_tree(train, prep, config.cache)}
        parts["val"] = load_tree(scan(split["val"], train.classes), prep, config.cache)
        if "test" in split:
            parts["test"] = load_tree(scan(split["test"], train.classes), prep, config.cache)
            dataset = Dataset(
                _scale(parts["train"][0]), parts["train"][1], _scale(parts["val"][0]),
                parts["val"][1], _scale(parts["test"][0]), parts["test"][1], train.classes,
            )
        else:  # no test/: carve it out of train, stratified
            carved = stratified_split(
                _scale(parts["train"][0]), parts["train"][1], train.classes,
                val_fraction=0.5 * config.test_fraction, test_fraction=config.test_fraction,
                seed=config.seed,
            )
            dataset = Dataset(
                np.concatenate([carved.x_train, carved.x_val]),
                np.concatenate([carved.y_train, carved.y_val]),
                _scale(parts["val"][0]), parts["val"][1], carved.x_test, carved.y_test,
                train.classes,
            )
    return with_class_weights(dataset, config.class_weight)


def _scale(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0)


def load_all(config: DataConfig) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Every image of a data set, unsplit (a folder's ``test/`` if it has a split)."""
    if config.kind == "npz":
        from search.datasets.npz import load_npz_arrays

        return load_npz_arrays(config)
    root = Path(config.path or "")
    split = _existing_split(root) if root.is_dir() else None
    tree = scan(split.get("test", root) if split else root)
    prep = Preprocess(_size(config), resolve_color(config, tree.files), config.resize)
    x, y = load_tree(tree, prep, config.cache)
    return _scale(x), y, tree.classes
