"""The ``audit-trail`` command: the composition root wiring ``collector``, ``api``, ``worker``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import ops
from collector.apikeys import SCOPES
from collector.connection import REDIS_ERRORS
from collector.errors import AuditError
from collector.query import DEFAULT_LIMIT, MAX_LIMIT
from collector.schema import OUTCOMES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audit-trail", description="Collect audit events and serve them back."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the API and N stream workers in one process")
    run.add_argument(
        "--host",
        help="address to listen on (default: 127.0.0.1, this machine only; "
        "0.0.0.0 for every interface)",
    )
    run.add_argument("--port", type=int, help="port (default: $PORT or 8000)")
    run.add_argument(
        "--workers", type=int, default=2, help="stream workers (default 2; 0: API only)"
    )

    worker = sub.add_parser(
        "worker", help="one stream-consumer process (and, with integrity on, its integrator)"
    )
    worker.add_argument(
        "--name", help="consumer name; reuse it to resume its pending entries (default: host-pid)"
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        help="serve this worker's own Prometheus metrics on this port (all interfaces)",
    )
    sub.add_parser(
        "integrator",
        help="keep the tenants' Merkle trees and checkpoints up to date (no consuming)",
    )

    emit = sub.add_parser(
        "emit", help="record one event over HTTP, straight onto the stream, or as an RQ job"
    )
    emit.add_argument("--type", required=True)
    emit.add_argument("--service", required=True)
    emit.add_argument("--actor", required=True, help="actor id")
    emit.add_argument("--actor-type")
    emit.add_argument("--tenant")
    emit.add_argument("--target", help="target id")
    emit.add_argument("--outcome", choices=OUTCOMES)
    emit.add_argument("--id", help="idempotency key (default: generated)")
    emit.add_argument("--data", help="JSON object of app data")
    how = emit.add_mutually_exclusive_group(required=True)
    how.add_argument("--url", help="the API's base URL, e.g. http://localhost:8000")
    how.add_argument("--redis", action="store_true", help="XADD onto the stream at REDIS_URL")
    how.add_argument(
        "--rq",
        action="store_true",
        help="enqueue an RQ job on the audit queue (AUDIT_RQ_REDIS_URL, else REDIS_URL)",
    )
    emit.add_argument("--api-key", help="API key for --url (default: $AUDIT_API_KEY)")

    events = sub.add_parser("events", help="query the store (filters as in GET /v1/events)")
    ops.add_filters(events)
    events.add_argument("--cursor")
    events.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"1-{MAX_LIMIT}")
    events.add_argument("--format", choices=("table", "json", "ndjson"), default="table")

    ops.add_parsers(sub)

    sub.add_parser(
        "migrate",
        help="compress events an older release stored, drop its unused outcome=success set",
    )

    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser("create", help="create a key; prints its secret once, last")
    create.add_argument("--name", required=True)
    create.add_argument("--scopes", required=True, help=f"comma list of {', '.join(SCOPES)}")
    create.add_argument("--tenants", required=True, help="comma list of tenants, or *")
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")

    acl = sub.add_parser("acl", help="Redis ACL users for direct producers (least privilege)")
    acl_sub = acl.add_subparsers(dest="acl_command", required=True, metavar="ACCOUNT")
    for account, what in (
        ("stream-producer", "XADD to the direct-producer ingest streams, nothing else"),
        ("rq-producer", "enqueue on the RQ audit queue, nothing else"),
    ):
        user = acl_sub.add_parser(account, help=f"print the ACL SETUSER line: {what}")
        user.add_argument("name", help="the Redis user name")
        user.add_argument("--password", help="its password (default: a new random one)")
        user.add_argument("--apply", action="store_true", help="run it on REDIS_URL")
    from cli import integrity

    integrity.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``audit-trail`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    from cli import commands

    try:
        return commands.dispatch(args)
    except AuditError as exc:
        print(f"audit-trail: error: {exc.detail}", file=sys.stderr)
        return 2
    except REDIS_ERRORS as exc:
        print(f"audit-trail: error: Redis: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
