"""Interpreter settings for the long-running processes (workers, API workers).

Each event validated makes dozens of short-lived containers (its parsed JSON, the
loaded dict, the stored document), so with CPython's default thresholds the cyclic
collector runs every few events, and each older-generation pass walks every object
the process has loaded since it started (modules, schemas, compiled patterns). After
start-up those are frozen out of the collector's view (``gc.freeze``, as Instagram
does for its forked servers) and the youngest generation is collected every 10,000
allocations instead of 700: in the worker benchmark ~8% less CPU per event. Nothing
here turns collection off: cycles are still freed, a little later.

A stream worker validates on one thread while another stores the batch before, which
mostly waits on Redis. With CPython's 5 ms switch interval, that thread, woken by its
reply, waits up to 5 ms for the interpreter; at 0.5 ms the worker drained 13-24% more
events a second at the same CPU per event (docs/benchmarks.md).
"""

from __future__ import annotations

import gc
import sys

YOUNG_THRESHOLD = 10_000
WORKER_SWITCH_INTERVAL_S = 0.0005


def tune_gc() -> None:
    """Freeze what the process holds now and collect the young generation less often.

    Call once set-up is done (imports, the app or the worker built), in the process
    that then serves.
    """
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def tune_for_stream_workers() -> None:
    """:func:`tune_gc`, and a shorter switch interval for a process whose stream workers
    store on a thread of their own (``audit-trail worker`` and ``run``)."""
    tune_gc()
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL_S)
