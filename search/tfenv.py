"""Importing Keras quietly, and seeding it: the one place that touches TensorFlow's set-up."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_VERBOSE = False


def set_verbose(verbose: bool) -> None:
    """Show TensorFlow's start-up log when ``verbose``; hide it otherwise (the default)."""
    global _VERBOSE
    _VERBOSE = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2: TensorFlow's C++ start-up lines bypass Python's logging."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras() -> Any:
    """Import and return ``keras``, hiding TensorFlow's start-up noise unless verbose."""
    import sys

    if "keras" in sys.modules:
        return sys.modules["keras"]
    if _VERBOSE:
        import keras
    else:
        set_verbose(False)
        with _stderr_silenced():
            import tensorflow as tf

            tf.get_logger().setLevel("ERROR")
            import keras
    _freeze_imported_objects()
    return keras


def _freeze_imported_objects() -> None:
    """Move everything imported so far out of the garbage collector's sight.

    TensorFlow and Keras leave hundreds of thousands of long-lived objects; without this,
    each ``gc.collect()`` between trials walks them all (about 0.3 s on a small CPU).
    """
    import gc

    gc.collect()
    gc.freeze()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend for one trial."""
    keras = import_keras()
    keras.utils.set_random_seed(seed)


def free_keras_memory() -> None:
    """Drop Keras' global state and collect garbage between trials."""
    import ctypes
    import gc

    keras = import_keras()
    keras.backend.clear_session(free_memory=False)
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
