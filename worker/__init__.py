"""Consumers: the stream worker of the group ``audit-workers`` (RQ jobs run ``collector.jobs``)."""

from worker.stream import StreamWorker

__all__ = ["StreamWorker"]
