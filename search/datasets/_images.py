"""Decoding image files with OpenCV into one colour mode and size, in parallel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)


@dataclass(frozen=True)
class Preprocess:
    """How every image is decoded: target ``(height, width)``, colour mode, resize policy."""

    size: tuple[int, int]
    color: str  # "gray" | "rgb"
    resize: str  # "stretch" | "crop"

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3


def decode(path: str, prep: Preprocess) -> np.ndarray | None:
    """One image as uint8 ``(h, w, c)`` in the requested mode, or None if unreadable.

    Gray, colour, alpha (dropped) and 16-bit images are all accepted.
    """
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if prep.color == "gray":
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)
    image = _resize(image, prep)
    return image.reshape(prep.size[0], prep.size[1], prep.channels)


def _resize(image: np.ndarray, prep: Preprocess) -> np.ndarray:
    import cv2

    height, width = prep.size
    if prep.resize == "crop":  # shorter side to the target, then a centred crop
        h, w = image.shape[:2]
        scale = max(height / h, width / w)
        new = (max(width, round(w * scale)), max(height, round(h * scale)))
        image = cv2.resize(image, new, interpolation=_interpolation(scale))
        top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
        return image[top:top + height, left:left + width]
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=_interpolation(height / h))


def _interpolation(scale: float) -> int:
    import cv2

    return cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR


def decode_all(
    paths: Sequence[str], prep: Preprocess, workers: int | None = None
) -> tuple[np.ndarray, list[int]]:
    """Decode ``paths`` on all cores; returns the stacked images and the indices that failed.

    OpenCV releases the GIL while decoding and resizing, so threads scale across cores.
    """
    import cv2

    cv2.setNumThreads(1)
    workers = workers or os.cpu_count() or 1
    out = np.empty((len(paths), *prep.size, prep.channels), dtype=np.uint8)
    failed: list[int] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for index, image in enumerate(pool.map(lambda p: _safe_decode(p, prep), paths)):
            if image is None:
                failed.append(index)
            else:
                out[index] = image
    return out, failed


def _safe_decode(path: str, prep: Preprocess) -> np.ndarray | None:
    try:
        return decode(path, prep)
    except Exception:  # noqa: BLE001 - a bad file is skipped and reported, never fatal
        return None
