"""Shared fixtures: tiny specs in tmp_path, written as TOML the way a user writes them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("CVSEARCH_STORAGE", None)

TINY_SPEC = """
name = "tiny"

[data]
kind = "digits"
seed = 0

[model]
name = "shallownet"

[space.override]
optimizer = "adam"
lr_schedule = "none"
learning_rate = {{ low = 3e-3, high = 3e-2 }}
width = 0.5
augment = 0.0
batch_norm = false
dropout = 0.0
batch_size = 128

[budget]
n_trials = {n_trials}
max_epochs = {max_epochs}

[sampler]
seed = 0
n_startup_trials = 2

[pruner]
kind = "{pruner}"
min_epochs = 1
n_startup_trials = 2
n_warmup_epochs = 0

[execution]
isolation = "{isolation}"
trials_per_process = {per_process}
"""


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec file; ``text`` is used as is, otherwise the tiny template is filled in."""

    def write(text: str | None = None, name: str = "spec.toml", **fields: object) -> Path:
        values = {"n_trials": 3, "max_epochs": 2, "pruner": "median", "isolation": "inline",
                  "per_process": 10} | fields
        path = tmp_path / name
        path.write_text(text if text is not None else TINY_SPEC.format(**values))
        return path

    return write


@pytest.fixture
def two_class_folder(tmp_path: Path) -> Path:
    """``root/<class>/<image>.png``: 24 dark and 24 bright 32x32 gray images with noise."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    root = tmp_path / "faces"
    for name, level in (("dark", 70), ("bright", 180)):
        (root / name).mkdir(parents=True)
        for index in range(24):
            image = np.clip(rng.normal(level, 30, (32, 32)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{index:02d}.png"), image)
    return root


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cvsearch cache of the test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("CVSEARCH_CACHE", str(folder))
    return folder
