"""Automatic trial and study notes, curves artifacts, and user notes from the terminal."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.cli import main
from search.config import load_spec
from search.notes import MARKER, append_user_note, read_note, write_note
from search.records import CURVES
from search.runner import run_study
from search.storage import load_study


@pytest.fixture
def finished(write_spec):
    spec = load_spec(write_spec(n_trials=2, max_epochs=2))
    run_study(spec)
    return spec


def test_every_trial_gets_a_note_with_diagnosis_layers_and_curves(finished) -> None:
    study = load_study(finished.storage, finished.name)
    for trial in study.get_trials():
        note = read_note(study, trial)
        assert note.startswith(f"## Trial {trial.number}: complete")
        for section in ("### Hyperparameters", "### Outcome", "### Diagnosis", "### Epochs",
                        "### Layers", "### Curves"):
            assert section in note
        assert "| learning_rate |" in note and "predictions (Dense)" in note
        assert "(None, 10)" in note, "the layer table shows output shapes"
        artifact = trial.user_attrs[CURVES]
        assert artifact in note
        folder = Path(finished.storage.removeprefix("sqlite:///")).with_name("tiny-artifacts")
        png = folder / artifact
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_study_note_summarises_the_run(finished) -> None:
    study = load_study(finished.storage, finished.name)
    note = read_note(study, None)
    assert note.startswith("## Study tiny") and "Trials: 2 complete" in note
    assert f"**Best trial: {study.best_trial.number}**" in note
    assert "2 trial(s) added and found a new best trial" in note


def test_user_notes_survive_a_rewrite_of_the_automatic_part(finished, capsys) -> None:
    path = finished.source
    assert main(["note", path, "--trial", "1", "lr looks high; try 1e-3"]) == 0
    assert main(["note", path, "second thought"]) == 0
    capsys.readouterr()
    study = load_study(finished.storage, finished.name)
    trial = study.get_trials()[1]
    write_note(study, trial, "## rewritten summary")
    note = read_note(study, trial)
    assert note.startswith("## rewritten summary") and MARKER in note
    assert "## Notes" in note and "lr looks high; try 1e-3" in note
    assert main(["notes", path, "--trial", "1"]) == 0
    assert "lr looks high" in capsys.readouterr().out
    run_study(finished.with_overrides(n_trials=3))  # rewrites the study note
    assert "second thought" in read_note(load_study(finished.storage, finished.name), None)


def test_notes_typed_in_the_dashboard_before_cvsearch_wrote_are_kept(tmp_path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'n.db'}")
    from optuna_dashboard import save_note

    save_note(study, "typed by hand")
    write_note(study, None, "## automatic")
    assert read_note(study, None).endswith("typed by hand\n")
    body = append_user_note(study, None, "more")
    assert body.index("typed by hand") < body.index("more")


def test_note_errors_are_one_line(finished, capsys) -> None:
    assert main(["note", finished.source, "--trial", "7", "x"]) == 2
    assert "has no trial 7" in capsys.readouterr().err
    assert main(["note", finished.source, "  "]) == 2
    assert "the note is empty" in capsys.readouterr().err
