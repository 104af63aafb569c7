"""The command line: exit codes, one-line errors, JSON, and no TensorFlow for read-only commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from search.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("cvsearch: error: ")
    assert "\n" not in err and "Traceback" not in err
    return err


def test_a_bad_spec_is_one_line_and_exit_2(write_spec, capsys) -> None:
    path = write_spec("[budget]\nmax_epochs = -3\n")
    assert main(["run", str(path)]) == 2
    assert f"{path}: budget.max_epochs: must be at least 1" in _one_line_error(capsys)


def test_show_on_a_storage_that_does_not_exist_is_exit_2(write_spec, capsys, tmp_path) -> None:
    path = write_spec()
    assert main(["show", str(path)]) == 2
    assert "no study storage at" in _one_line_error(capsys)
    assert not (tmp_path / "tiny.db").exists(), "a read-only command must not create storage"


def test_run_show_list_and_json(write_spec, capsys) -> None:
    path = write_spec(n_trials=1, max_epochs=1)
    assert main(["run", str(path), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["ran"] == 1 and run["states"] == {"complete": 1}
    assert run["best"]["params"]["optimizer"] == "adam"

    assert main(["show", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["top"][0]["number"] == 0 and shown["top"][0]["epochs_run"] == 1

    assert main(["list", str(path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [row["study"] for row in listed] == ["tiny"]

    assert main(["show", str(path), "--study", "missing"]) == 2
    err = _one_line_error(capsys)
    assert "no study named 'missing'" in err and "studies there: tiny" in err


def test_show_prints_a_table_of_the_best_trials(write_spec, capsys) -> None:
    path = write_spec(n_trials=2, max_epochs=1)
    assert main(["run", str(path), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["show", str(path), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "top 1 trials" in out and "2 complete" in out and "learning_rate=" in out


def test_storage_and_study_flags_override_the_spec(write_spec, tmp_path, capsys) -> None:
    path = write_spec(n_trials=1, max_epochs=1)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert main(["run", str(path), "--storage", url, "--study", "mine", "--quiet"]) == 0
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "tiny.db").exists()
    assert main(["list", "--storage", url, "--json"]) == 0
    assert [row["study"] for row in json.loads(capsys.readouterr().out)] == ["mine"]


def test_space_show_lists_every_parameter(write_spec, capsys) -> None:
    assert main(["space", "show", str(write_spec()), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["momentum"]["condition"] == "optimizer = sgd"
    assert rows["batch_size"]["distribution"] == "fixed = 128"


@pytest.mark.parametrize("argv", [["run"], ["run", "x.toml", "--n-trials", "zero"], ["frobnicate"]])
def test_usage_errors_exit_2(argv) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


def test_read_only_commands_do_not_import_tensorflow(write_spec) -> None:
    spec = write_spec()
    code = (
        "import sys; from search.cli import main; "
        f"main(['space', 'show', {str(spec)!r}, '--json']); "
        f"main(['show', {str(spec)!r}]); "
        "loaded = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "sys.exit(1 if loaded else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_console_script_is_installed() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cvsearch"), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "run or resume a study" in done.stdout
