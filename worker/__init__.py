"""Consumers: the stream worker of the group ``audit-workers`` and the integrator beside
it (RQ jobs run ``collector.jobs``)."""

from worker.integrator import IntegratorProcess
from worker.signals import stop_on_signals
from worker.stream import StreamWorker, default_name

__all__ = ["IntegratorProcess", "StreamWorker", "default_name", "stop_on_signals"]
