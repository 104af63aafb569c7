"""Errors that the command line turns into one line on stderr and exit code 2."""


class CvsearchError(Exception):
    """A user-facing error: bad input, a missing study, an unusable data set."""


class SpecError(CvsearchError):
    """A study spec is invalid; the message names the file and the key path."""


class DatasetError(CvsearchError):
    """A data set cannot be used: no classes, one class, nothing readable, a bad file."""
