"""The subcommands other than ``run``: worker, emit, events, status, keys, acl, migrate."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from collector import acl
from collector.apikeys import SCOPES, parse_list
from collector.client import Producer
from collector.connection import connect, is_cluster, redacted
from collector.durability import check_at_start
from collector.errors import BadRequest, UsageError
from collector.query import LIST_QUERY_SCHEMA, parse_list_args
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker, stop_on_signals


def dispatch(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.command == "run":
        from cli.run import serve

        return serve(settings, args.host, args.port, args.workers)
    from cli import integrity

    handler = {
        "signing-key": integrity.signing_key,
        "verify": integrity.verify,
        "proof": integrity.proof,
        "worker": worker,
        "emit": emit,
        "events": events,
        "status": status,
        "keys": keys,
        "acl": acl_user,
        "migrate": migrate,
    }[args.command]
    return handler(args, settings)


def _service(settings: Settings) -> AuditService:
    return AuditService(connect(settings.redis_url), settings)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    client = connect(settings.redis_url)
    check_at_start(client, settings)
    consumer = StreamWorker(client, settings, name=args.name)
    stop_on_signals(consumer.stop)
    consumer.run()
    return 0


def emit(args: argparse.Namespace, settings: Settings) -> int:
    event: dict[str, Any] = {
        "type": args.type,
        "service": args.service,
        "actor": {"id": args.actor},
    }
    if args.actor_type:
        event["actor"]["type"] = args.actor_type
    for name in ("tenant", "outcome", "id"):
        if getattr(args, name):
            event[name] = getattr(args, name)
    if args.target:
        event["target"] = {"id": args.target}
    if args.data:
        try:
            event["data"] = orjson.loads(args.data)
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--data is not JSON: {str(exc).splitlines()[0]}") from None
    if args.url:
        producer = Producer(url=args.url, api_key=args.api_key or os.environ.get("AUDIT_API_KEY"))
        print(producer.post(event)["id"])
    elif args.rq:
        # the queue's Redis: AUDIT_RQ_REDIS_URL (the producer connects), else REDIS_URL
        client = None if settings.rq_redis_url else connect(settings.redis_url)
        print(Producer(redis=client, settings=settings).enqueue(event))
    else:
        producer = Producer(redis=connect(settings.redis_url), settings=settings)
        print(producer.xadd(event)[0])
    return 0


# Control characters (newlines, terminal escapes) in stored text must not reach the terminal.
_CONTROL = {c: "?" for c in [*range(0x20), 0x7F]}


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value).translate(_CONTROL)
    return text if len(text) <= width else text[: width - 1] + "~"


TABLE = (
    ("occurred_at", 27),
    ("seq", 6),
    ("type", 20),
    ("service", 14),
    ("actor", 14),
    ("target", 14),
    ("outcome", 8),
    ("id", 36),
)


def events(args: argparse.Namespace, settings: Settings) -> int:
    raw = {k: v for k, v in vars(args).items() if k in LIST_QUERY_SCHEMA.fields and v is not None}
    try:
        filters, limit, cursor = parse_list_args(raw)
    except BadRequest as exc:
        errors = exc.errors or {}
        detail = "; ".join(
            f"--{k.replace('_', '-')}: {' '.join(map(str, v))}" for k, v in errors.items()
        ) or str(exc)
        raise UsageError(detail) from None
    page = _service(settings).query.page(filters, limit, cursor)
    items = [orjson.loads(raw) for raw in page.items]
    out = sys.stdout
    if args.format == "json":
        out.write(
            orjson.dumps(
                {"items": items, "next_cursor": page.next_cursor}, option=orjson.OPT_INDENT_2
            ).decode()
            + "\n"
        )
    elif args.format == "ndjson":
        for item in items:
            out.write(orjson.dumps(item).decode() + "\n")
    else:
        out.write("  ".join(name.ljust(w) for name, w in TABLE).rstrip() + "\n")
        for item in items:
            row = {
                **item,
                "actor": item["actor"]["id"],
                "target": (item.get("target") or {}).get("id"),
            }
            out.write("  ".join(_cell(row.get(n), w).ljust(w) for n, w in TABLE).rstrip() + "\n")
        if page.next_cursor:
            print(f"more: --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    kind = "Redis Cluster" if is_cluster(svc.redis) else "Redis"
    print(f"redis: {redacted(settings.redis_url)} ({kind})")
    print(f"durability: Redis keeps {svc.durability().detail}")
    print(f"acknowledgement (AUDIT_DURABILITY): {ACKS[settings.durability]}")
    for stream in svc.streams.streams:
        length = svc.redis.xlen(stream)
        try:
            info = svc.streams.group_info(stream)
        except Exception:
            info = None
        if info is None:
            print(f"stream {stream}: {length} entries, no consumer group yet")
            continue
        print(
            f"stream {stream}: {length} entries; group audit-workers: lag {info.get('lag')}, "
            f"pending {info.get('pending')}, consumers {info.get('consumers')}"
        )
    for report in svc.streams.watch.report(svc.streams.streams):
        if report.deleted_unconsumed:
            print(
                f"stream {report.stream}: {report.deleted_unconsumed} entries deleted before "
                "they were stored (a producer's XADD MAXLEN/MINID?)"
            )
        if report.ahead_ms > settings.max_clock_skew_s * 1000:
            print(
                f"stream {report.stream}: last id {report.last_id} is "
                f"{report.ahead_ms // 1000} s ahead of the clock"
            )
    print(f"deleted before consumption (all ingest streams): {svc.streams.deleted_unconsumed()}")
    print(f"conflicting duplicates refused: {svc.conflicts()}")
    print(f"dead letters ({svc.key_names.dead}): {svc.streams.dead_count()}")
    print(f"backlog (lag + pending): {svc.streams.backlog()}")
    seen = svc.maintenance.workers()
    print(f"workers seen: {len(seen)} ({sum(1 for _, _, alive in seen if alive)} alive)")
    for name, age, alive in seen:
        print(f"  {name}: last heartbeat {age:.1f}s ago{'' if alive else ' (gone)'}")
    if svc.proofs.verifier is None:
        print("integrity: off (no AUDIT_SIGNING_KEY_FILE)")
    else:
        print(f"integrity: on, checkpoints signed by {svc.proofs.verifier}")
    return 0


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = _service(settings).store
    for tenant in store.tenants():
        done = store.compress_stored(tenant)
        dropped = "; unused outcome=success set dropped" if store.drop_unindexed(tenant) else ""
        print(f"tenant {tenant}: {done} events compressed, {store.count(tenant)} stored{dropped}")
    return 0


ACKS = {
    "ack": "ack, 202 once Redis has the event",
    "replica": "replica, 202 once a replica has the event too (WAIT)",
}


def keys(args: argparse.Namespace, settings: Settings) -> int:
    api_keys = _service(settings).api_keys
    if args.keys_command == "create":
        scopes = parse_list(args.scopes, "scopes", SCOPES)
        tenants = parse_list(args.tenants, "tenants")
        secret = api_keys.create(args.name, scopes, tenants)
        print(f"created key {args.name!r} (scopes {','.join(scopes)}; tenants {','.join(tenants)})")
        print("the secret below is shown once; store it now:")
        print(secret)
    elif args.keys_command == "list":
        for key in api_keys.list():
            print(
                f"{key.name}\tscopes={','.join(key.scopes)}\ttenants={','.join(key.tenants)}"
                f"\tcreated={key.created_at}"
            )
    else:
        api_keys.revoke(args.name)
        print(f"revoked key {args.name!r}")
    return 0


def acl_user(args: argparse.Namespace, settings: Settings) -> int:
    """Print (and with --apply, run) the ACL SETUSER line of a producer account."""
    if not acl.is_valid_user_name(args.name):
        raise UsageError(f"user name must be {acl.USER_NAME_RULE}, got {args.name!r}")
    password = args.password or acl.new_password()
    if args.acl_command == "stream-producer":
        rules = acl.stream_producer_rules(settings.key_names, password)
    else:
        rules = acl.rq_producer_rules(password)
    if args.apply:
        acl.apply(connect(settings.redis_url), args.name, rules)
        print(
            f"applied to {redacted(settings.redis_url)}; the password is after '>'", file=sys.stderr
        )
    print(acl.setuser_line(args.name, rules))
    return 0
