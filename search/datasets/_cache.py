"""A decoded-image cache on disk, keyed by the file list, sizes, mtimes and preprocessing."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CACHE_ENV = "CVSEARCH_CACHE"
_FORMAT = 1


def cache_folder() -> Path:
    """``$CVSEARCH_CACHE``, else ``$XDG_CACHE_HOME/cvsearch``, else ``~/.cache/cvsearch``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cvsearch"


def cache_key(files: Sequence[str], settings: dict[str, object]) -> str:
    """Changes when any file is added, removed, resized or touched, or a setting changes."""
    digest = hashlib.sha256(json.dumps({"format": _FORMAT, **settings}, sort_keys=True).encode())
    for path in files:
        stat = os.stat(path)
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def load_cached(key: str) -> dict[str, np.ndarray] | None:
    path = cache_folder() / f"{key}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError):  # a torn or foreign file: decode again
        return None


def store_cached(key: str, **arrays: np.ndarray) -> None:
    """Write atomically, so that a crash or a concurrent worker never leaves half a file."""
    folder = cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{key}.{os.getpid()}.npz"
    np.savez(partial, **arrays)
    os.replace(partial, folder / f"{key}.npz")
