"""Opening Optuna storages from URLs, and keeping passwords out of every message."""

from __future__ import annotations

import re
from pathlib import Path

import optuna

from search.errors import CvsearchError

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][\w+.-]*://[^:/@\s]*):(?P<password>[^@\s]*)@")


def redact(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return _PASSWORD.sub(lambda m: f"{m.group('head')}:***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for other storages."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url[len(prefix):] not in ("", ":memory:"):
        return Path(url[len(prefix):])
    return None


JOURNAL_PREFIX = "journal:///"

#: Heartbeats on relational storages: seconds between beats, and silence before a
#: trial counts as abandoned. Short enough that a study of a few minutes recovers.
HEARTBEAT_INTERVAL = 5
GRACE_PERIOD = 20


def journal_path(url: str) -> Path | None:
    """The file behind a ``journal:///path/to/study.log`` URL (Optuna's JournalStorage)."""
    if url.startswith(JOURNAL_PREFIX):
        return Path("/" + url[len(JOURNAL_PREFIX):].lstrip("/"))
    return None


def open_storage(
    url: str, *, must_exist: bool = False, heartbeat: tuple[int, int] | None = None
) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: ``sqlite:///``, ``postgresql://`` (any SQLAlchemy URL)
    or ``journal:///file`` (several workers on one machine, no server).

    With ``must_exist``, a SQLite or journal file that is not there is an error instead of
    a new, empty storage: commands that only read never create storage. ``heartbeat``
    (interval, grace period in seconds) turns on Optuna's heartbeats on relational storages.
    """
    file = sqlite_path(url) or journal_path(url)
    if file is not None:
        if must_exist and not file.exists():
            raise CvsearchError(f"no study storage at {file} (run 'cvsearch run' first)")
        if not file.parent.exists():
            raise CvsearchError(f"storage folder {file.parent} does not exist")
    try:
        if journal_path(url) is not None:
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(str(file)))
        engine_kwargs = {"connect_args": {"timeout": 60}} if file is not None else {}
        if heartbeat is None:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        import inspect
        import warnings

        from search.recovery import retry

        accepted = inspect.signature(optuna.storages.RDBStorage).parameters
        callback = ("heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback"
                    in accepted else "failed_trial_callback")  # renamed in Optuna 4.9
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat[0],
                grace_period=heartbeat[1], **{callback: retry},
            )
    except CvsearchError:
        raise
    except Exception as error:  # noqa: BLE001 - any driver error becomes one line
        reason = redact(" ".join(str(error).split()))[:200]
        raise CvsearchError(f"cannot open storage {redact(url)}: {reason}") from None


def load_study(url: str, name: str) -> optuna.Study:
    """Load an existing study by name; an unknown name lists the studies that exist."""
    storage = open_storage(url, must_exist=True)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        known = ", ".join(names) if names else "none"
        raise CvsearchError(
            f"no study named '{name}' in {redact(url)} (studies there: {known})"
        ) from None
