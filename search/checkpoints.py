"""The best weights of the k best trials so far, kept as study artifacts.

A trial that completes among the k best saves its model (restored to its best epoch) as
``trial-N-best.keras``; a trial that falls out of the k best loses its file. The map from
trial number to artifact lives in the study's ``checkpoints`` user attribute, because a
finished trial's own attributes can no longer change.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore
from optuna.trial import TrialState

CHECKPOINTS = "checkpoints"
_ARTIFACT_PREFIX = "artifacts:"  # how optuna links an artifact to its study


def checkpoint_map(study: optuna.Study) -> dict[int, str]:
    return {int(k): v for k, v in (study.user_attrs.get(CHECKPOINTS) or {}).items()}


def _ranked(study: optuna.Study, extra: tuple[int, float] | None) -> list[int]:
    done = [(t.number, t.value) for t in study.get_trials(deepcopy=False,
                                                          states=(TrialState.COMPLETE,))]
    if extra is not None:
        done.append(extra)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done.sort(key=lambda item: item[1], reverse=maximize)
    return [number for number, _ in done]


def keep_if_among_best(
    study: optuna.Study, number: int, value: float, model: Any, k: int,
    store: FileSystemArtifactStore,
) -> str | None:
    """Save ``model`` if trial ``number`` (value ``value``, about to complete) is among the
    k best; drop the checkpoints of trials that fall out. Returns the artifact id or None."""
    if k < 1:
        return None
    ranked = _ranked(study, (number, value))
    keep = set(ranked[:k])
    saved = checkpoint_map(study)
    artifact = None
    if number in keep:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"trial-{number}-best.keras"
            model.save(path)
            artifact = optuna.artifacts.upload_artifact(
                artifact_store=store, file_path=str(path), study_or_trial=study,
                mimetype="application/octet-stream",
            )
        saved[number] = artifact
    for old in [n for n in saved if n not in keep]:
        _remove(study, store, saved.pop(old))
    study.set_user_attr(CHECKPOINTS, {str(n): a for n, a in sorted(saved.items())})
    return artifact


def _remove(study: optuna.Study, store: FileSystemArtifactStore, artifact_id: str) -> None:
    from optuna.artifacts.exceptions import ArtifactNotFound

    try:
        store.remove(artifact_id)
    except ArtifactNotFound:
        pass
    # as optuna-dashboard does when you delete an artifact: unlink it from the study
    study._storage.set_study_system_attr(
        study._study_id, _ARTIFACT_PREFIX + artifact_id, json.dumps(None)
    )


def download_checkpoint(study: optuna.Study, number: int, store: FileSystemArtifactStore,
                        folder: Path) -> Path:
    """The checkpoint file of trial ``number``, copied into ``folder``."""
    from search.errors import CvsearchError

    saved = checkpoint_map(study)
    if number not in saved:
        kept = ", ".join(str(n) for n in sorted(saved)) or "none"
        raise CvsearchError(f"trial {number} has no kept checkpoint (kept: {kept}); "
                            "retrain it without --reuse")
    path = folder / f"trial-{number}-best.keras"
    optuna.artifacts.download_artifact(artifact_store=store, file_path=str(path),
                                       artifact_id=saved[number])
    return path
