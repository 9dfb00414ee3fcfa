"""The subcommands other than ``run``: worker, emit, events, status, keys, acl, migrate."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson
from marshmallow import ValidationError

from cli import ops
from collector import acl, logs
from collector.apikeys import SCOPES, parse_list
from collector.client import Producer
from collector.connection import connect, redacted
from collector.durability import check_at_start
from collector.errors import BadRequest, UsageError
from collector.events import validate
from collector.query import LIST_QUERY_SCHEMA, parse_list_args
from collector.runtime import tune_for_stream_workers
from collector.service import AuditService
from collector.settings import Settings
from worker import IntegratorProcess, StreamWorker, stop_on_signals
from worker.integrator import Integrator
from worker.metrics import WorkerMetrics


def dispatch(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logs.configure(settings.log_format)
    if args.command == "run":
        from cli.run import serve

        return serve(settings, args.host, args.port, args.workers)
    from cli import integrity

    handler = {
        "signing-key": integrity.signing_key,
        "verify": integrity.verify,
        "proof": integrity.proof,
        "worker": worker,
        "integrator": integrator,
        "emit": emit,
        "events": events,
        "keys": keys,
        "acl": acl_user,
        "migrate": migrate,
        **ops.HANDLERS,
    }[args.command]
    return handler(args, settings)


def _service(settings: Settings) -> AuditService:
    return AuditService(connect(settings.redis_url), settings)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    metrics = None
    if args.metrics_port is not None:
        metrics = WorkerMetrics()
        try:
            metrics.serve(args.metrics_port)
        except OSError as exc:
            raise UsageError(f"--metrics-port {args.metrics_port}: {exc.strerror}") from None
    client = connect(settings.redis_url)
    check_at_start(client, settings)
    # With integrity on, the trees are tended in a process of their own, on another core
    # than this one's validation (worker.integrator).
    integrator = IntegratorProcess(settings) if settings.integrity else None
    consumer = StreamWorker(
        client, settings, name=args.name, metrics=metrics, integrate=integrator is None
    )
    stop_on_signals(consumer.stop)
    if integrator is not None:
        integrator.start()
    tune_for_stream_workers()
    try:
        consumer.run()
    finally:
        if integrator is not None:
            integrator.stop()
    return 0


def integrator(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.integrity:
        raise UsageError("integrity is off: set AUDIT_SIGNING_KEY_FILE")
    client = connect(settings.redis_url)
    check_at_start(client, settings)
    loop = Integrator(client, settings)
    stop_on_signals(loop.stop)
    loop.run()
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
    problems = field_errors(event)
    if problems:
        # The workers would dead-letter it: say why, one line per field, send nothing.
        for line in problems:
            print(f"audit-trail: error: {line}", file=sys.stderr)
        return 2
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


# The event fields' command-line options, for error messages.
_OPTIONS = {"actor.id": "--actor", "actor.type": "--actor-type", "target.id": "--target"}


def field_errors(event: dict[str, Any]) -> list[str]:
    """``field (--option): message`` for each problem the workers' schema finds."""
    try:
        validate(event)
    except ValidationError as exc:
        return [
            f"{path} ({_OPTIONS.get(path, '--' + path.split('.')[0].replace('_', '-'))}): {msg}"
            for path, msg in _flatten(exc.messages)
        ]
    return []


def _flatten(messages: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(messages, dict):
        return [
            pair
            for key, value in messages.items()
            for pair in _flatten(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [(path or "event", " ".join(messages))]
    return [(path or "event", str(messages))]


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
    try:
        filters, limit, cursor = parse_list_args(ops.filter_args(args, LIST_QUERY_SCHEMA))
    except BadRequest as exc:
        raise ops.as_options(exc) from None
    page = _service(settings).query.page(filters, limit, cursor)
    items = [orjson.loads(raw) for raw in page.items]
    if args.format == "json":
        ops.print_json({"items": items, "next_cursor": page.next_cursor})
    elif args.format == "ndjson":
        for item in items:
            sys.stdout.write(orjson.dumps(item).decode() + "\n")
    else:
        rows = (
            {**item, "actor": item["actor"]["id"], "target": (item.get("target") or {}).get("id")}
            for item in items
        )
        ops.table(TABLE, rows)
        if page.next_cursor:
            print(f"more: --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    store = _service(settings).store
    for tenant in store.tenants():
        done = store.compress_stored(tenant)
        converted = store.sets_to_lists(tenant)
        print(
            f"tenant {tenant}: {done} events compressed, {converted} filter sets converted to "
            f"posting lists, {store.count(tenant)} stored"
        )
    return 0


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
