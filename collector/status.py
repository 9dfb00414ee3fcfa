"""What the whole system is doing now: ingest streams, backlog, dead letters, workers.

One JSON-ready snapshot, read from Redis, for ``GET /v1/status`` (the viewer's status tab).
"""

from __future__ import annotations

from typing import Any

import redis

from collector.maintenance import Maintenance
from collector.streams import IngestStreams


def snapshot(streams: IngestStreams, maintenance: Maintenance) -> dict[str, Any]:
    """Per stream: length, lag, pending, consumers; then backlog, dead letters, workers."""
    rows = []
    for stream in streams.streams:
        length = int(streams.redis.xlen(stream))
        try:
            info = streams.group_info(stream)
        except redis.ResponseError:  # the stream does not exist yet
            info = None
        row: dict[str, Any] = {"stream": stream, "length": length, "group": info is not None}
        if info is not None:
            lag = info.get("lag")
            row.update(
                lag=None if lag is None else int(lag),
                pending=int(info.get("pending") or 0),
                consumers=int(info.get("consumers") or 0),
            )
        rows.append(row)
    workers = [
        {"name": name, "last_seen_s": round(age, 1), "alive": alive}
        for name, age, alive in maintenance.workers()
    ]
    return {
        "streams": rows,
        "backlog": streams.backlog(),
        "dead_letters": streams.dead_count(),
        "workers": workers,
        "workers_alive": sum(1 for w in workers if w["alive"]),
    }
