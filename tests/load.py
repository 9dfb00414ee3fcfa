"""HTTP ingest under load, for the crash and failover tests: threads POST events until told
to stop, and every answer is kept, so a test can check what a 202 promised."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from helpers import event


@dataclass
class Answer:
    """One POST /v1/events: the event ids sent and what came back."""

    ids: list[str]
    tenant: str
    status: int
    retry_after: str | None


@dataclass
class HttpLoad:
    """``threads`` producers posting batches of ``batch`` events through a Flask test client."""

    app: Any
    threads: int = 4
    batch: int = 5
    tenants: tuple[str, ...] = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(self.threads):
            thread = threading.Thread(target=self._produce, args=(n,), daemon=True)
            thread.start()
            self._running.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._running:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a producer thread hung"

    def _produce(self, n: int) -> None:
        client = self.app.test_client()
        i = 0
        while not self._stop.is_set():
            tenant = self.tenants[(n + i) % len(self.tenants)]
            i += 1
            ids = [str(uuid.uuid4()) for _ in range(self.batch)]
            body = [event(id=eid, tenant=tenant) for eid in ids]
            response = client.post("/v1/events", json=body)
            answer = Answer(ids, tenant, response.status_code, response.headers.get("Retry-After"))
            with self._lock:
                self.answers.append(answer)

    # -- what happened ----------------------------------------------------------------
    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(a.status for a in self.answers)

    def accepted(self) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.status == 202]

    def count(self, status: int) -> int:
        return self.statuses()[status]
