"""Browser tests' kit: Debian's chromium driven by Playwright, and the API served on a port.

Chromium is the system one (``/usr/bin/chromium``, from ``apt-get install chromium``):
browser downloads are impossible here, so ``playwright install`` is never run. Without it
the tests skip locally with the reason, and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import redis
from werkzeug.serving import make_server

from api import create_app
from collector.settings import Settings
from worker import StreamWorker

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def unavailable(reason: str) -> None:
    """Skip a browser test locally; fail it under CI, where the browser must be there."""
    if IN_CI:
        pytest.fail(f"CI=true needs the browser tests' tools: {reason}")
    pytest.skip(reason)


def launch_chromium() -> Iterator[Any]:
    """A headless Debian chromium under Playwright, closed at the end."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


class LiveService:
    """The API app on a free local port (threaded, like ``audit-trail run``), plus a worker
    that the test runs in burst mode to store what was posted."""

    def __init__(self, redis_client: redis.Redis, settings: Settings) -> None:
        self.redis = redis_client
        self.settings = settings
        self.app = create_app(settings, redis_client)
        self.client = self.app.test_client()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.worker = StreamWorker(redis_client, settings, name="browser-test")
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, events: list[dict[str, Any]], key: str | None = None) -> list[dict[str, Any]]:
        """Post ``events`` (one batch), store them, and return them as stored."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        response = self.client.post("/v1/events", json=events, headers=headers)
        assert response.status_code == 202, response.get_data(as_text=True)
        self.worker.run_burst()
        stored = []
        for event_id, event in zip(response.get_json()["ids"], events, strict=True):
            tenant = event.get("tenant", "default")
            got = self.client.get(f"/v1/events/{event_id}?tenant={tenant}", headers=headers)
            stored.append(orjson.loads(got.data))
        return stored

    def close(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)


@dataclass
class Tab:
    """A page in its own browser context, with what it asked for and what it complained of."""

    page: Any
    base: str
    foreign: list[str] = field(default_factory=list)  # requests to any other host (aborted)
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[Any] = field(default_factory=list)

    def open(self, path: str = "/ui") -> Any:
        self.page.goto(self.base + path)
        return self.page

    def assert_clean(self, allow: tuple[str, ...] = ()) -> None:
        """Nothing left the service, and the console stayed quiet (but for ``allow``)."""
        assert self.foreign == []
        unexpected = [e for e in self.errors if not any(a in e for a in allow)]
        assert unexpected == []


def open_tab(browser: Any, base: str) -> tuple[Any, Tab]:
    """A fresh context (own session storage) whose every request to another host is aborted
    and recorded."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    tab = Tab(page, base)

    def guard(route: Any) -> None:
        if route.request.url.startswith(base + "/"):
            route.fallback()
        else:
            tab.foreign.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("console", lambda m: m.type == "error" and tab.errors.append(m.text))
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on("request", lambda request: tab.requests.append(request))
    return context, tab
