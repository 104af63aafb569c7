"""Search spaces as data: parameters, conditions, named spaces and spec overrides."""

from spaces import compact as _compact  # noqa: F401  (registers the built-in spaces)
from spaces import hypermodel as _hypermodel  # noqa: F401
from spaces import transfer as _transfer  # noqa: F401
from spaces._errors import SpaceError
from spaces._params import Bool, Categorical, Fixed, Float, Int, Param, When
from spaces._registry import get_space, list_spaces, register_space
from spaces._space import SearchSpace
from spaces.compact import SCHEDULES

__all__ = [
    "SCHEDULES",
    "Bool",
    "Categorical",
    "Fixed",
    "Float",
    "Int",
    "Param",
    "SearchSpace",
    "SpaceError",
    "When",
    "get_space",
    "list_spaces",
    "register_space",
]
