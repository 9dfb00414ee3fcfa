"""``audit-trail run``: the API and N stream workers in one process, stopped by a signal.

The first SIGINT/SIGTERM asks for a warm stop (workers finish their batch, the
server finishes its requests); a second one exits at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading

from api import create_app
from cli.devserver import make_dev_server
from collector.connection import connect, embedded, redacted
from collector.durability import check_at_start
from collector.errors import ConfigError
from collector.runtime import tune_for_stream_workers
from collector.settings import Settings
from collector.signing import create_key_file, load_signer
from worker import StreamWorker, default_name, stop_on_signals

log = logging.getLogger("audit-trail")


def serve(settings: Settings, host: str | None, port: int | None, workers: int) -> int:
    """Run until a signal; returns the exit code."""
    if settings.redis_url:
        client = connect(settings.redis_url)
        store_text = f"Redis at {redacted(settings.redis_url)}"
    else:
        if settings.auth:
            # keys are created with `audit-trail keys`, which needs REDIS_URL: every
            # request would be a 401
            raise ConfigError("AUDIT_AUTH=on needs REDIS_URL: the embedded store holds no keys")
        client = embedded()
        store_text = "the embedded in-memory store (nothing is kept; set REDIS_URL for Redis)"
        settings = settings.with_(auth=False)
        host = host or "127.0.0.1"
        if not settings.signing_key_file:
            # Show integrity working out of the box; the key lives as long as the store.
            key_dir = tempfile.mkdtemp(prefix="audit-trail-key-")
            atexit.register(shutil.rmtree, key_dir, ignore_errors=True)
            key_file = os.path.join(key_dir, "signing.key")
            create_key_file("audit-trail-embedded", key_file)
            settings = settings.with_(signing_key_file=key_file)
    host = host or "127.0.0.1"  # loopback unless told otherwise: --host 0.0.0.0 to expose it
    port = settings.port if port is None else port

    check_at_start(client, settings)
    app = create_app(settings, client)
    server = make_dev_server(host, port, app)
    base = default_name()
    consumers = [StreamWorker(client, settings, name=f"{base}-{i}") for i in range(workers)]
    threads = [threading.Thread(target=w.run, name=w.name, daemon=True) for w in consumers]
    threads.append(threading.Thread(target=server.serve_forever, name="http", daemon=True))

    stop = threading.Event()
    stop_on_signals(stop.set)

    log.info(
        "audit-trail on http://%s:%d with %d worker(s), using %s",
        host,
        server.port,
        workers,
        store_text,
    )
    if settings.signing_key_file:
        verifier = load_signer(settings.signing_key_file).verifier()
        log.info("integrity on; checkpoints verify with the verifier key %s", verifier)
    else:
        log.info("integrity off (no AUDIT_SIGNING_KEY_FILE)")
    log.info(
        "API keys are %s",
        "required (AUDIT_AUTH on)" if settings.auth_required else "not required (AUDIT_AUTH off)",
    )
    tune_for_stream_workers()
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        pass
    for consumer in consumers:
        consumer.stop()
    server.shutdown()
    for thread in threads:
        thread.join(timeout=30)
    log.info("stopped")
    return 0
