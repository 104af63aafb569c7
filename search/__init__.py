"""cvsearch's engine: the spec, the study runner, the objective, pruning and the CLI."""

__version__ = "0.1.0"
