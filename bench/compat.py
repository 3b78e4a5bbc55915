"""Calls into the use cases that work whether or not they take the owning client (tenant)."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any, Callable

OWNER = "bench-client"


@lru_cache(maxsize=None)
def _takes_owner(fn: Callable) -> bool:
    try:
        return "owner" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def call(fn: Callable, *args: Any, owner: str = OWNER) -> Any:
    """fn(*args, owner) if fn has an `owner` parameter, else fn(*args)."""
    if _takes_owner(getattr(fn, "__func__", fn)):
        return fn(*args, owner)
    return fn(*args)
