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


def open_storage(url: str, *, must_exist: bool = False) -> optuna.storages.BaseStorage:
    """An Optuna RDB storage for ``url``.

    With ``must_exist``, a SQLite file that is not there is an error instead of a new,
    empty database: commands that only read never create storage.
    """
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.exists():
            raise CvsearchError(f"no study storage at {path} (run 'cvsearch run' first)")
        if not path.parent.exists():
            raise CvsearchError(f"storage folder {path.parent} does not exist")
    engine_kwargs = {"connect_args": {"timeout": 60}} if path is not None else {}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except Exception as error:  # noqa: BLE001 - any driver error becomes one line
        reason = " ".join(str(error).split())[:200]
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
