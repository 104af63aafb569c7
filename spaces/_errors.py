"""The one error a space raises."""


class SpaceError(ValueError):
    """A search space or an override of it is invalid; the message names the key path."""
