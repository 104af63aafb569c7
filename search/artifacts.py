"""The artifact store beside a study's storage, and the training-curve plot of a trial."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore

from search.storage import journal_path, sqlite_path

DEFAULT_FOLDER = "cvsearch-artifacts"


def artifact_path(storage_url: str, configured: str | None = None) -> Path:
    """Where artifacts live: the spec's ``artifacts`` folder, else ``<file>-artifacts`` next
    to a SQLite or journal file, else ``./cvsearch-artifacts`` (a server storage: give
    ``artifacts`` a folder that every worker sees)."""
    if configured:
        return Path(configured)
    db = sqlite_path(storage_url) or journal_path(storage_url)
    if db is not None:
        return db.with_name(db.stem + "-artifacts")
    return Path.cwd() / DEFAULT_FOLDER


class _ArtifactFolder(FileSystemArtifactStore):
    """Optuna's file-system store that recreates its folder if it disappears mid-study."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.folder = folder

    def write(self, artifact_id: str, content_body: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        super().write(artifact_id, content_body)


def open_artifact_store(folder: Path) -> FileSystemArtifactStore:
    folder.mkdir(parents=True, exist_ok=True)
    return _ArtifactFolder(folder)


def plot_history(history: Mapping[str, Sequence[float | None]], title: str, path: Path) -> Path:
    """Loss and accuracy, training against validation, with the learning rate dashed on a
    second axis of the loss panel, as a PNG.

    Uses matplotlib's object API (no pyplot state), a fixed layout and a fast PNG encoder:
    it is paid once per trial, so it is kept to about a tenth of a second.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def series(key: str) -> list[float]:
        return [math.nan if v is None else float(v) for v in history.get(key, [])]

    epochs = list(range(1, len(series("loss")) + 1))
    figure = Figure(figsize=(10, 3.4), dpi=72)
    figure.subplots_adjust(left=0.06, right=0.94, bottom=0.15, top=0.85, wspace=0.3)
    axes = figure.subplots(1, 2)
    for axis, key in zip(axes, ("loss", "accuracy")):
        axis.plot(epochs, series(key), label=f"train {key}")
        if history.get(f"val_{key}"):
            axis.plot(epochs, series(f"val_{key}"), label=f"val {key}")
        axis.set_title(f"{title}: {key}")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right")
    if history.get("lr"):
        rate = axes[0].twinx()
        rate.plot(epochs, series("lr"), color="tab:green", linestyle="--", linewidth=1)
        rate.set_ylabel("learning rate", color="tab:green")
    figure.savefig(path, pil_kwargs={"compress_level": 1})
    return path


def upload_curves(
    store: FileSystemArtifactStore,
    trial: optuna.trial.Trial,
    history: Mapping[str, Sequence[float | None]],
    folder: Path,
) -> str:
    """Plot a trial's curves and attach the PNG to it; returns the artifact id."""
    path = folder / f"trial-{trial.number}-curves.png"
    plot_history(history, f"trial {trial.number}", path)
    try:
        return optuna.artifacts.upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype="image/png"
        )
    finally:
        os.unlink(path)
