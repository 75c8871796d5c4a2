"""Argument checks shared by the whole library (no torch import, so the book executor can use them too).

A bad value gets one clear message that names the argument and what is allowed.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable


def check_choice(name: str, value: object, allowed: Iterable[object]) -> None:
    """Raise a ValueError naming ``name`` and the allowed values unless ``value`` is one of them."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; allowed values: {', '.join(map(repr, allowed))}")


def check_fraction(name: str, value: object) -> float:
    """``value`` as a float in [0, 1), or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a number in [0, 1) (e.g. 0.7 for 70%); got {value!r}")
    return float(value)


def check_integer(name: str, value: object, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum`` (numpy integers accepted), or a ValueError naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return number


def check_threshold(threshold: object) -> None:
    """The activity threshold: a finite number >= 0."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold < math.inf:
        raise ValueError(f"threshold must be a finite number >= 0 (e.g. 0.05), got {threshold!r}")
