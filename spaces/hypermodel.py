"""The space of a KerasTuner hypermodel: empty, since its ``build(hp)`` defines it."""

from __future__ import annotations

from spaces._registry import register_space
from spaces._space import SearchSpace


@register_space("hypermodel")
def hypermodel_space() -> SearchSpace:
    """No parameters of cvsearch's own: every ``hp`` call of the hypermodel is one."""
    return SearchSpace("hypermodel", ())
