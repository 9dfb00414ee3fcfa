"""The RQ worker for the ``audit`` queue: runs ``collector.jobs.ingest`` and nothing else.

RQ runs whatever function a job names, so anyone who can enqueue could otherwise run
any importable function (``os.makedirs``, ``subprocess.run``) on the worker. These
worker classes look at the function a job names before running it; any other job is
dead-lettered (reason, job id, its payload) and deleted, never executed.

The serializer decides what reading a job costs. With ``AUDIT_RQ_SERIALIZER=json`` the
worker reads jobs with RQ's ``JSONSerializer`` whatever ``rq worker`` was told, so a job
is only ever parsed as JSON: nothing is unpickled. With ``pickle`` (RQ's default) the
job's data must be unpickled to learn its function, and unpickling runs code: a pickle
producer is trusted with code execution on this worker, allow-list or not.

    rq worker audit --worker-class worker.rq_worker.AuditWorker
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from collector import scripts
from collector.client import RQ_FUNCTION
from collector.jobs import store_client
from collector.queue_input import kept_payload
from collector.settings import Settings
from collector.streams import DeadLetter, IngestStreams

log = logging.getLogger(__name__)

ALLOWED = frozenset({RQ_FUNCTION})


class AllowList:
    """Mixin for RQ worker classes: refuse any job whose function is not allowed."""

    audit_settings: Settings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.audit_settings = Settings.from_env()
        if self.audit_settings.rq_serializer == "json":
            kwargs["serializer"] = JSONSerializer  # whatever the command line said
        super().__init__(*args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            function = job.func_name
        except Exception as exc:  # not readable with this worker's serializer
            self._refuse(job, queue, f"job data unreadable ({type(exc).__name__})")
            return
        if function not in ALLOWED:
            self._refuse(job, queue, f"function {function!r} is not allowed ({RQ_FUNCTION} only)")
            return
        super().execute_job(job, queue)  # type: ignore[misc]

    def _refuse(self, job: Job, queue: Queue, reason: str) -> None:
        """Dead-letter the job with ``reason`` and delete it, without running it."""
        connection = job.connection
        stored = connection.hget(job.key, "data")
        raw = stored if isinstance(stored, bytes) else b""
        try:
            payload = zlib.decompress(raw)  # RQ compresses job data
        except zlib.error:
            payload = raw
        settings = self.audit_settings
        kept, extra = kept_payload(payload, settings.max_event_bytes)
        letter = DeadLetter(kept, reason, None, "rq", job.id, extra)
        store = store_client(connection, settings)  # where the dead letters are
        call = IngestStreams(store, settings.key_names).dead_letter_call(letter)
        _, replies = scripts.execute(store, lambda pipe: scripts.pipe_call(pipe, call))
        if isinstance(replies[0], Exception):
            raise replies[0]  # not dead-lettered: RQ fails the job (still never run)
        connection.lrem(queue.intermediate_queue_key, 1, job.id)
        job.delete()
        log.warning("RQ job %s refused and dead-lettered: %s", job.id, reason)


class AuditWorker(AllowList, Worker):
    """RQ's forking worker with the allow-list (``rq worker --worker-class``)."""


class AuditSimpleWorker(AllowList, SimpleWorker):
    """RQ's in-process worker with the allow-list (tests, one-off runs)."""
