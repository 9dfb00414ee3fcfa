"""Garbage-collector settings for the long-running processes (workers, API workers).

Each event validated makes dozens of short-lived containers (its parsed JSON, the
loaded dict, the stored document), so with CPython's default thresholds the cyclic
collector runs every few events, and each older-generation pass walks every object
the process has loaded since it started (modules, schemas, compiled patterns). After
start-up those are frozen out of the collector's view (``gc.freeze``, as Instagram
does for its forked servers) and the youngest generation is collected every 10,000
allocations instead of 700: in the worker benchmark ~8% less CPU per event
(docs/benchmarks.md). Nothing here turns collection off: cycles are still freed,
a little later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def tune_for_throughput() -> None:
    """Freeze what the process holds now and collect the young generation less often.

    Call once set-up is done (imports, the app or the worker built), in the process
    that then serves.
    """
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
