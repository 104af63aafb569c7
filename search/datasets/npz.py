"""Arrays in a ``.npz`` file: ``x`` (images), ``y`` (labels), optional ``class_names``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from search.config import DataConfig
from search.datasets._base import Dataset, stratified_split, with_class_weights
from search.datasets._registry import register_dataset
from search.errors import DatasetError


@register_dataset("npz")
def load_npz(config: DataConfig) -> Dataset:
    """``x`` as ``(n, h, w)`` or ``(n, h, w, c)``, uint8 or float; ``y`` as ints or strings."""
    images, labels, names = load_npz_arrays(config)
    dataset = stratified_split(images, labels, names, val_fraction=config.val_fraction,
                               test_fraction=config.test_fraction, seed=config.seed)
    return with_class_weights(dataset, config.class_weight)


def load_npz_arrays(config: DataConfig) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """All images (float32 in [0, 1], converted as the spec asks), labels and class names."""
    if not config.path:
        raise DatasetError("data.path: the npz data set needs a path (or --data PATH)")
    path = Path(config.path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DatasetError(f"data.path: no such file {path}") from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a readable .npz file ({error})") from None
    for name in ("x", "y"):
        if name not in arrays:
            raise DatasetError(f"{path}: has no array '{name}' (found: {', '.join(arrays)})")
    x, y = arrays["x"], arrays["y"]
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
        raise DatasetError(f"{path}: expected x as (n, h, w[, c]) and y as (n,), got "
                           f"{arrays['x'].shape} and {y.shape}")
    if y.dtype.kind in "iu":
        labels = y.astype(np.int64)
        count = int(labels.max()) + 1
        names = tuple(str(n) for n in arrays.get("class_names", np.arange(count)))
    else:
        names_found, labels = np.unique(y.astype(str), return_inverse=True)
        names = tuple(str(n) for n in arrays.get("class_names", names_found))
    if len(np.unique(labels)) < 2:
        raise DatasetError(f"{path}: one class only; a classifier needs two or more")
    return _convert(_to_unit_float(x), config), labels, names


def _to_unit_float(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype == np.uint16:
        return x.astype(np.float32) / np.float32(65535)
    x = x.astype(np.float32)
    return x / np.float32(255) if float(x.max()) > 1.0 else x


def _convert(x: np.ndarray, config: DataConfig) -> np.ndarray:
    """Colour mode and size as the spec asks (``auto`` keeps the arrays' own)."""
    import cv2

    if config.color == "gray" and x.shape[-1] == 3:
        x = np.dot(x, np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., np.newaxis]
    elif config.color == "rgb" and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    if config.image_size is not None:
        size = config.image_size
        height, width = (size, size) if isinstance(size, int) else size
        if x.shape[1:3] != (height, width):
            x = np.stack([cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
                          for image in x]).reshape(len(x), height, width, x.shape[-1])
    return x.astype(np.float32)
