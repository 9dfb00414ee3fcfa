"""Exponential backoff with jitter, capped so a worker resumes soon after Redis returns."""

from __future__ import annotations

import random


class Backoff:
    """Delays of 0.1 s doubling up to ``cap`` seconds, with jitter so workers do not stampede."""

    def __init__(self, first: float = 0.1, cap: float = 2.0) -> None:
        self.first, self.cap = first, cap
        self._current = first

    def next(self) -> float:
        delay = self._current
        self._current = min(self._current * 2, self.cap)
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._current = self.first
