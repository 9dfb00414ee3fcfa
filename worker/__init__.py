"""Consumers: the stream worker of the group ``audit-workers`` (RQ jobs run ``collector.jobs``)."""

from worker.signals import stop_on_signals
from worker.stream import StreamWorker, default_name

__all__ = ["StreamWorker", "default_name", "stop_on_signals"]
