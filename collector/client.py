"""A small producer client: emit events over HTTP, onto the stream, or as an RQ job.

Producers do not need it (the protocols are plain HTTP, XADD and RQ by path); it is
what ``audit-trail emit`` and the tests use, and a reference for other languages.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import orjson
import redis

from collector.connection import RQ_ON_CLUSTER, connect, is_cluster, rq_url
from collector.errors import AuditError, ConfigError, Unavailable
from collector.settings import Settings
from collector.streams import IngestStreams

RQ_FUNCTION = "collector.jobs.ingest"


class Producer:
    """Send events one of three ways; give ``url`` for HTTP, ``redis`` for stream and RQ."""

    def __init__(
        self,
        redis: redis.Redis | None = None,
        settings: Settings | None = None,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.redis = redis
        self.settings = settings or Settings.from_env()
        self.url = url.rstrip("/") if url else None
        self.api_key = api_key
        self.timeout = timeout

    def post(self, events: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        """POST to ``/v1/events``; returns the 202 body. Raises AuditError on an error answer."""
        if not self.url:
            raise ConfigError("no URL given for HTTP ingest")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url + "/v1/events", data=orjson.dumps(events), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = orjson.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                problem = orjson.loads(body)
                detail = problem.get("detail") or problem
                if problem.get("errors"):
                    detail = f"{detail} {orjson.dumps(problem['errors']).decode()}"
            except orjson.JSONDecodeError:
                detail = body[:200].decode(errors="replace")
            error = AuditError(f"HTTP {exc.code}: {detail}")
            error.status = exc.code
            raise error from None
        except urllib.error.URLError as exc:
            raise Unavailable(f"cannot reach {self.url}: {exc.reason}") from None

    def _redis(self) -> redis.Redis:
        if self.redis is None:
            raise ConfigError("no Redis client given for stream or RQ ingest")
        return self.redis

    def xadd(self, events: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
        """XADD onto the ingest stream (the partition chosen by tenant); returns entry ids.

        Fire and forget: the worker validates; invalid events end in the dead letters.
        """
        items = events if isinstance(events, list) else [events]
        return IngestStreams(self._redis(), self.settings.key_names).add(items)

    def enqueue(self, events: dict[str, Any] | list[dict[str, Any]]) -> str:
        """Enqueue an RQ job on the ``audit`` queue; returns the job id.

        The queue is on the Redis of ``AUDIT_RQ_REDIS_URL`` when set, else on the given
        client's, which must not be a cluster (ConfigError).
        """
        from rq import Queue

        if self.settings.rq_redis_url:
            queue_redis = connect(rq_url(self.settings.rq_redis_url, None))
        elif is_cluster(self._redis()):
            raise ConfigError(RQ_ON_CLUSTER)
        else:
            queue_redis = self._redis()
        job = Queue("audit", connection=queue_redis).enqueue(RQ_FUNCTION, events)
        return job.id
