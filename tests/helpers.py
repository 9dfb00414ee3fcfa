"""Small helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def event(**overrides: Any) -> dict[str, Any]:
    """A valid v1 event; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "type": "user.login",
        "service": "auth",
        "actor": {"id": "alice"},
    }
    base.update(overrides)
    return base


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.01)
