"""optuna-dashboard in a real browser: a trial's page shows its note and its curves."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from search.cli import main
from search.config import load_spec
from search.runner import run_study
from search.storage import load_study

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CVSEARCH_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"dashboard did not answer at {url}")


@pytest.fixture
def dashboard(write_spec):
    spec = load_spec(write_spec(n_trials=1, max_epochs=2))
    run_study(spec)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "dashboard", spec.source, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/dashboard/")
        yield spec, port, server
    finally:
        server.terminate()
        server.wait(timeout=10)


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_trial_page_shows_its_note_and_curves(dashboard, tmp_path) -> None:
    spec, port, _ = dashboard
    study = load_study(spec.storage, spec.name)
    url = f"http://127.0.0.1:{port}/dashboard/studies/{study._study_id}/trials?numbers=0"
    page = _chromium(["--virtual-time-budget=20000", "--dump-dom", url], tmp_path / "p1")
    dom = page.stdout
    assert "Trial 0: complete" in dom, dom[-2000:]
    assert "Diagnosis" in dom and "predictions (Dense)" in dom
    assert "trial-0-curves.png" in dom
    assert "/artifacts/" in dom and "<img" in dom
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "dashboard-trial.png"
    _chromium(["--virtual-time-budget=20000", "--window-size=1400,2600",
               f"--screenshot={shot}", url], tmp_path / "p2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_dashboard_command_prints_its_url_and_binds_loopback(dashboard) -> None:
    _, port, server = dashboard
    server.terminate()
    out, _ = server.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/dashboard/" in out


def test_a_busy_port_is_a_one_line_error(write_spec, capsys) -> None:
    spec = load_spec(write_spec(n_trials=1, max_epochs=1))
    run_study(spec)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", spec.source, "--port", str(port)]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_study_page_shows_the_retrained_report(dashboard, tmp_path) -> None:
    from search.retrain import RetrainOptions, retrain

    spec, port, _ = dashboard
    report = retrain(spec, RetrainOptions(out=tmp_path / "r", epochs=1))
    study = load_study(spec.storage, spec.name)
    page = f"http://127.0.0.1:{port}/dashboard/studies/{study._study_id}"
    note = _chromium(["--virtual-time-budget=20000", "--dump-dom", page + "/note"],
                     tmp_path / "p3").stdout
    assert "Retrained" in note and "rank-1 accuracy" in note
    assert f"{report['test']['rank1']:.4f}" in note
    main_page = _chromium(["--virtual-time-budget=20000", "--dump-dom", page],
                          tmp_path / "p4").stdout
    assert "confusion.png" in main_page and "report.md" in main_page, "the study's artifacts"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _chromium(["--virtual-time-budget=20000", "--window-size=1400,3000",
               f"--screenshot={SCREENSHOTS / 'dashboard-study-note.png'}", page + "/note"],
              tmp_path / "p5")
