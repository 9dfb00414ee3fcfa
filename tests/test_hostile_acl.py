"""Rows 1 and 3: producer accounts made by ``audit-trail acl`` may do what their path
needs and nothing else, checked by Redis itself (``ACL DRYRUN``)."""

from __future__ import annotations

import pytest
import redis
from helpers import event

from cli import main
from collector.client import Producer
from collector.settings import Settings

pytestmark = pytest.mark.real


@pytest.fixture
def admin(redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    client = redis.Redis(port=redis_server.port)
    client.flushall()
    yield client
    for user in client.acl_users():
        if user != "default":
            client.acl_deluser(user)
    client.close()


def _create(kind: str, name: str, capsys) -> str:
    assert main(["acl", kind, name, "--apply", "--password", "s3cret-pw"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"ACL SETUSER {name} reset on >s3cret-pw ")
    return line


def _allowed(admin: redis.Redis, user: str, *command: str) -> bool:
    reply = admin.execute_command("ACL", "DRYRUN", user, *command)
    return reply in (b"OK", "OK")


FORBIDDEN_EVERYWHERE = [
    ("FLUSHDB",),
    ("FLUSHALL",),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("CONFIG", "GET", "*"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("DEBUG", "SLEEP", "0"),
    ("EVAL", "return 1", "0"),
    ("HGETALL", "audit:apikeys"),
    ("GET", "audit:secret:cursor"),
    ("HGET", "audit:t:{acme}:events", "x"),
    ("DEL", "audit:ingest"),
    ("XTRIM", "audit:ingest", "MAXLEN", "0"),
    ("XDEL", "audit:ingest", "1-1"),
    ("XRANGE", "audit:ingest", "-", "+"),
    ("XREADGROUP", "GROUP", "audit-workers", "c", "STREAMS", "audit:ingest", ">"),
    ("XGROUP", "DESTROY", "audit:ingest", "audit-workers"),
    ("XADD", "audit:dead", "*", "event", "x"),
    ("XADD", "audit:ingest:http", "*", "event", "x"),  # the API's own stream
    ("HSET", "{audit:ingest}:deleted", "x", "1"),
    ("ACL", "SETUSER", "me", "+@all"),
    ("SHUTDOWN",),
]


def test_a_stream_producer_may_only_add_to_its_streams(admin, capsys):
    _create("stream-producer", "shipper", capsys)
    assert _allowed(admin, "shipper", "XADD", "audit:ingest", "*", "event", "{}")
    for command in FORBIDDEN_EVERYWHERE:
        assert not _allowed(admin, "shipper", *command), command
    for command in (
        ("RPUSH", "rq:queue:audit", "x"),
        ("HSET", "rq:job:x", "status", "queued"),
    ):
        assert not _allowed(admin, "shipper", *command), command


def test_a_stream_producer_account_works_for_the_producer_client(admin, redis_server, capsys):
    _create("stream-producer", "shipper", capsys)
    client = redis.Redis(port=redis_server.port, username="shipper", password="s3cret-pw")
    [entry_id] = Producer(client, Settings(auth=False)).xadd(event(id="from-shipper"))
    assert admin.xrange("audit:ingest")[0][0].decode() == entry_id
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.xrange("audit:ingest")


def test_an_rq_producer_may_only_enqueue(admin, redis_server, capsys):
    _create("rq-producer", "jobs", capsys)
    for command in (
        ("HSET", "rq:job:abc", "status", "queued"),
        ("RPUSH", "rq:queue:audit", "abc"),
        ("SADD", "rq:queues", "rq:queue:audit"),
    ):
        assert _allowed(admin, "jobs", *command), command
    for command in [
        *FORBIDDEN_EVERYWHERE,
        ("HGETALL", "rq:job:abc"),  # another producer's job: not even readable
        ("LRANGE", "rq:queue:audit", "0", "-1"),
        ("DEL", "rq:job:abc"),
        ("RPUSH", "rq:queue:default", "abc"),
        ("XADD", "audit:ingest", "*", "event", "{}"),
    ]:
        assert not _allowed(admin, "jobs", *command), command


def test_an_rq_producer_account_can_enqueue_with_rq(admin, redis_server, capsys):
    from rq import Queue
    from rq.serializers import JSONSerializer

    _create("rq-producer", "jobs", capsys)
    client = redis.Redis(port=redis_server.port, username="jobs", password="s3cret-pw")
    Queue("audit", connection=client).enqueue("collector.jobs.ingest", [event()])
    Queue("audit", connection=client, serializer=JSONSerializer).enqueue(
        "collector.jobs.ingest", [event()]
    )
    assert admin.llen("rq:queue:audit") == 2


def test_a_bad_user_name_is_refused(admin, capsys):
    assert main(["acl", "stream-producer", "a b"]) == 2
    assert "user name" in capsys.readouterr().err
