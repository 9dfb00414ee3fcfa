"""Warm, then cold: the first SIGINT/SIGTERM asks for a stop, a second one forces it.

As in rq's worker: the warm stop lets a worker finish (store and ack) the batch in
hand; the cold one exits at once, leaving that batch pending for another worker
to claim, so nothing is lost either way.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Call ``stop`` on the first SIGINT or SIGTERM; exit the process on the second.

    Call it from the main thread (Python delivers signals there only).
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if len(received) > 1:
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("signal %s: stopping (send again to force)", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
