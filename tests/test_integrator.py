"""``audit-trail worker`` with integrity on tends the trees in an integrator process of its
own: checkpoints follow what the consumer stores, a killed integrator is replaced, and
a stopped worker leaves no integrator behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis
from helpers import clean_env, wait_for
from integrity_helpers import integrity_settings, post

from collector.integrity import Integrity, note_size
from collector.settings import Settings
from worker import StreamWorker
from worker.integrator import Integrator

BIN = Path(sys.executable).parent


def checkpoint_size(client: redis.Redis, settings: Settings, tenant: str = "acme") -> int:
    return note_size(client.get(settings.key_names.checkpoint(tenant)))


def integrators(worker: psutil.Process) -> list[psutil.Process]:
    """The live children that run an integrator (spawn also starts a resource tracker)."""
    found = []
    for child in worker.children():
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:  # ended meanwhile, or a zombie not yet reaped
            continue
        if "spawn_main" in command and "resource_tracker" not in command:
            found.append(child)
    return found


@pytest.mark.real
def test_the_worker_process_integrates_in_a_process_beside_it(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    settings = integrity_settings(tmp_path, redis_url=redis_server.url)
    env = clean_env(
        REDIS_URL=redis_server.url,
        AUDIT_SIGNING_KEY_FILE=settings.signing_key_file or "",
        AUDIT_CHECKPOINT_INTERVAL_MS="200",
    )
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [str(BIN / "audit-trail"), "worker", "--name", "w1"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        worker = psutil.Process(proc.pid)
        first = wait_for(lambda: integrators(worker), timeout=30)[0]

        post(client, settings, 5)
        wait_for(lambda: checkpoint_size(client, settings) == 5, timeout=30)

        first.kill()  # a crashed integrator is replaced, and integration goes on
        wait_for(lambda: [p.pid for p in integrators(worker)] not in ([], [first.pid]), 30)
        post(client, settings, 3, start=6)
        wait_for(lambda: checkpoint_size(client, settings) == 8, timeout=30)

        last = integrators(worker)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert last and not any(p.is_running() for p in last)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "ended (exit code" in log_path.read_text()


def test_a_worker_that_leaves_integration_to_an_integrator_only_stores(redis_client, tmp_path):
    settings = integrity_settings(tmp_path)
    post(redis_client, settings, 4)
    StreamWorker(redis_client, settings, name="w1", integrate=False).run_burst()
    assert redis_client.hlen(settings.key_names.events("acme")) == 4
    assert checkpoint_size(redis_client, settings) == 0
    assert Integrity(redis_client, settings).run_due(force=True) == 4
    assert checkpoint_size(redis_client, settings) == 4


def test_an_integrator_whose_worker_is_gone_stops(redis_client, tmp_path):
    settings = integrity_settings(tmp_path)
    Integrator(redis_client, settings, parent=-1).run()  # returns at once: not our parent


def test_the_integrator_loop_tends_until_stopped(redis_client, tmp_path):
    settings = integrity_settings(tmp_path, checkpoint_interval_ms=20)
    post(redis_client, settings, 3)
    StreamWorker(redis_client, settings, name="w1", integrate=False).run_burst()
    integrator = Integrator(redis_client, settings)
    original = integrator.integrity.sign

    def sign_then_stop(tenant: str) -> str | None:
        note = original(tenant)
        integrator.stop()
        return note

    integrator.integrity.sign = sign_then_stop  # type: ignore[method-assign]
    integrator.run()  # returns once stopped
    assert checkpoint_size(redis_client, settings) == 3


@pytest.mark.real
def test_audit_trail_integrator_tends_what_others_stored(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    settings = integrity_settings(tmp_path, redis_url=redis_server.url)
    post(client, settings, 3)
    StreamWorker(client, settings, name="w1", integrate=False).run_burst()
    env = clean_env(
        REDIS_URL=redis_server.url, AUDIT_SIGNING_KEY_FILE=str(settings.signing_key_file)
    )
    proc = subprocess.Popen([str(BIN / "audit-trail"), "integrator"], env=env)
    try:
        wait_for(lambda: checkpoint_size(client, settings) == 3, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_audit_trail_integrator_needs_a_key_and_redis(tmp_path):
    run = [str(BIN / "audit-trail"), "integrator"]
    off = subprocess.run(run, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert off.returncode == 2
    assert off.stderr.strip() == "audit-trail: error: integrity is off: set AUDIT_SIGNING_KEY_FILE"
    key = integrity_settings(tmp_path).signing_key_file
    alone = subprocess.run(
        run,
        env=clean_env(AUDIT_SIGNING_KEY_FILE=str(key)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert alone.returncode == 2
    assert "REDIS_URL is not set" in alone.stderr


def _ended(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.real
def test_an_integrator_does_not_outlive_a_killed_worker(redis_server, tmp_path):
    settings = integrity_settings(tmp_path, redis_url=redis_server.url)
    env = clean_env(
        REDIS_URL=redis_server.url, AUDIT_SIGNING_KEY_FILE=str(settings.signing_key_file)
    )
    proc = subprocess.Popen(
        [str(BIN / "audit-trail"), "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child = wait_for(lambda: integrators(psutil.Process(proc.pid)), timeout=30)[0]
    finally:
        proc.kill()  # no warm stop, no chance to stop its integrator
        proc.wait(timeout=30)
    wait_for(lambda: _ended(child), timeout=30)
