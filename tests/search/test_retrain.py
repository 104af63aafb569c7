"""Retrain, reuse, ensemble, evaluate and predict on a tiny finished study."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from search.checkpoints import checkpoint_map
from search.cli import main
from search.config import load_spec
from search.errors import CvsearchError
from search.notes import read_note
from search.retrain import RetrainOptions, retrain
from search.runner import run_study
from search.storage import load_study
from search.study import open_study


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Four complete trials (no pruning), two checkpoints kept."""
    from tests.conftest import TINY_SPEC

    folder = tmp_path_factory.mktemp("study")
    text = TINY_SPEC.format(n_trials=4, max_epochs=3, pruner="none", isolation="inline",
                            per_process=10)
    text = text.replace("[budget]", "[train]\ncheckpoints = 2\n\n[budget]", 1)
    path = folder / "spec.toml"
    path.write_text(text)
    spec = load_spec(path)
    run_study(spec)
    return spec


def test_the_k_best_trials_keep_checkpoints_and_the_others_lose_them(finished) -> None:
    study = load_study(finished.storage, finished.name)
    kept = checkpoint_map(study)
    ranked = sorted(study.get_trials(), key=lambda t: t.value)
    assert sorted(kept) == sorted(t.number for t in ranked[:2])
    folder = Path(finished.storage.removeprefix("sqlite:///")).with_name("tiny-artifacts")
    assert all((folder / artifact).exists() for artifact in kept.values())
    archives = [p for p in folder.iterdir() if p.read_bytes()[:2] == b"PK"]  # .keras is a zip
    assert len(archives) == 2, "checkpoints of trials that fell out were deleted"


def test_retrain_writes_a_consistent_report_and_attaches_it(finished, tmp_path) -> None:
    report = retrain(finished, RetrainOptions(out=tmp_path / "r"))
    for name in ("model.keras", "model.json", "report.md", "report.json", "confusion.png",
                 "curves.png"):
        assert (tmp_path / "r" / name).exists(), name
    test = report["test"]
    assert sum(map(sum, test["confusion"])) == test["n"] == report["data"]["test"]
    assert test["rank5"] >= test["rank1"] >= 0.5
    assert report["trials"] == [load_study(finished.storage, finished.name).best_trial.number]
    assert report["deterministic_ops"] is True and report["versions"]["keras"]
    assert json.loads((tmp_path / "r" / "report.json").read_text())["test"]["n"] == test["n"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "rank-5 accuracy" in md and "| class | precision | recall | F1 | support |" in md
    assert sum(line.startswith("| **") for line in md.splitlines()) == 10, "confusion rows"
    note = read_note(load_study(finished.storage, finished.name), None)
    assert "### Retrained" in note and "rank-1 accuracy" in note


def test_retraining_twice_with_the_same_seed_gives_the_same_accuracy(finished, tmp_path) -> None:
    first = retrain(finished, RetrainOptions(out=tmp_path / "a"))["test"]["rank1"]
    second = retrain(finished, RetrainOptions(out=tmp_path / "b"))["test"]["rank1"]
    assert abs(first - second) <= 0.005


def test_reuse_and_ensemble_evaluate_kept_checkpoints(finished, tmp_path) -> None:
    study = load_study(finished.storage, finished.name)
    reused = retrain(finished, RetrainOptions(reuse=True, out=tmp_path / "reuse"))
    assert reused["mode"].startswith("reuse") and reused["trials"] == [study.best_trial.number]
    ensemble = retrain(finished, RetrainOptions(ensemble=2, out=tmp_path / "ens"))
    assert sorted(ensemble["trials"]) == sorted(checkpoint_map(study))
    assert ensemble["test"]["n"] == reused["test"]["n"]
    with pytest.raises(CvsearchError, match="--ensemble 3 needs as many"):
        retrain(finished, RetrainOptions(ensemble=3, out=tmp_path / "x"))
    worst = max(study.get_trials(), key=lambda t: t.value).number
    with pytest.raises(CvsearchError, match="has no kept checkpoint"):
        retrain(finished, RetrainOptions(reuse=True, trial=worst, out=tmp_path / "y"))


def test_evaluate_and_predict_a_saved_model(finished, tmp_path, capsys) -> None:
    retrain(finished, RetrainOptions(out=tmp_path / "m", epochs=1))
    model = tmp_path / "m" / "model.keras"
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):  # a folder data set of the digits, 3 images a class
        folder = tmp_path / "digits" / str(label)
        folder.mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:3]):
            cv2.imwrite(str(folder / f"{i}.png"), (image * 255 / 16).astype(np.uint8))
    assert main(["evaluate", str(model), "--data", str(tmp_path / "digits"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test"]["n"] == 30 and sum(map(sum, report["test"]["confusion"])) == 30
    image = tmp_path / "digits" / "3" / "0.png"
    assert main(["predict", str(model), str(image), "--top", "2", "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)[0]["top"]
    assert len(predicted) == 2 and predicted[0]["probability"] >= predicted[1]["probability"]
    assert {p["class"] for p in predicted} <= {str(n) for n in range(10)}


def test_a_model_whose_classes_differ_from_the_data_is_refused(finished, tmp_path, capsys) -> None:
    retrain(finished, RetrainOptions(out=tmp_path / "m", epochs=1))
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "pets" / name / "a.png"), np.zeros((8, 8), np.uint8))
    assert main(["evaluate", str(tmp_path / "m" / "model.keras"), "--data",
                 str(tmp_path / "pets")]) == 2
    assert "the model knows classes" in capsys.readouterr().err


def test_a_study_without_completed_trials_cannot_be_retrained(write_spec, capsys) -> None:
    spec = load_spec(write_spec())
    open_study(spec)
    assert main(["retrain", spec.source]) == 2
    assert "has no completed trial yet" in capsys.readouterr().err
