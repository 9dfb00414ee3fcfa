"""The subcommands other than ``run``: worker, emit, events, status, keys."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson
from marshmallow import ValidationError

from cli import ops
from collector.apikeys import SCOPES, parse_list
from collector.client import Producer
from collector.connection import connect
from collector.errors import BadRequest, UsageError
from collector.events import validate
from collector.query import LIST_QUERY_SCHEMA, parse_list_args
from collector.service import AuditService
from collector.settings import Settings
from worker import StreamWorker, stop_on_signals


def dispatch(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.command == "run":
        from cli.run import serve

        return serve(settings, args.host, args.port, args.workers)
    handler = {
        "worker": worker,
        "emit": emit,
        "events": events,
        "keys": keys,
        **ops.HANDLERS,
    }[args.command]
    return handler(args, settings)


def _service(settings: Settings) -> AuditService:
    return AuditService(connect(settings.redis_url), settings)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    consumer = StreamWorker(connect(settings.redis_url), settings, name=args.name)
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
    problems = field_errors(event)
    if problems:
        # The workers would dead-letter it: say why, one line per field, send nothing.
        for line in problems:
            print(f"audit-trail: error: {line}", file=sys.stderr)
        return 2
    if args.url:
        producer = Producer(url=args.url, api_key=args.api_key or os.environ.get("AUDIT_API_KEY"))
        print(producer.post(event)["id"])
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
