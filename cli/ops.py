"""The operator's subcommands: status, dead, export, retention, hold.

Each prints what it did; bad input is a one-line error (exit 2, from ``cli.main``),
and a replay that left a letter unreplayed exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from typing import Any, BinaryIO

import orjson
from marshmallow import Schema
from tqdm import tqdm

from collector.connection import connect, is_cluster
from collector.deadletters import DeadLetters
from collector.errors import BadRequest, NotFound, UsageError
from collector.export import EXPORT_QUERY_SCHEMA, Export, parse_export_args
from collector.export import FORMATS as EXPORT_FORMATS
from collector.retention import PurgeResult, Retention
from collector.schema import OUTCOMES
from collector.service import AuditService
from collector.settings import Settings
from collector.status import SystemStatus, read_status
from collector.timefmt import now_utc

FILTERS = ("tenant", "service", "type", "actor-id", "target-id", "since", "until")
_CONTROL = {c: "?" for c in [*range(0x20), 0x7F]}


# -- argument parsers -----------------------------------------------------------------
def add_filters(parser: argparse.ArgumentParser) -> None:
    """The filters and order of ``GET /v1/events``."""
    for name in FILTERS:
        parser.add_argument(f"--{name}")
    parser.add_argument("--outcome", choices=OUTCOMES)
    parser.add_argument("--order", choices=("desc", "asc"), default="desc")


def add_parsers(sub: Any) -> None:
    """Add the operator's subcommands to the ``audit-trail`` parser."""
    status = sub.add_parser(
        "status",
        help="streams, group, lag, pending, consumers, dead letters, workers, tenants, events",
    )
    status.add_argument("--format", choices=("table", "json"), default="table")

    dead = sub.add_parser("dead", help="the dead letters: list, show, replay, drop")
    dead_sub = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    listing = dead_sub.add_parser("list", help="newest first: id, time, reason, source, preview")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--format", choices=("table", "json", "ndjson"), default="table")
    show = dead_sub.add_parser("show", help="one dead letter: the whole payload, every reason")
    show.add_argument("id")
    replay = dead_sub.add_parser("replay", help="validate, put back on the ingest stream")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every dead letter")
    replay.add_argument("--dry-run", action="store_true", help="say what would happen")
    drop = dead_sub.add_parser("drop", help="delete dead letters")
    drop.add_argument("ids", nargs="+", metavar="ID")

    export = sub.add_parser("export", help="every matching event, streamed")
    add_filters(export)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="ndjson")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")

    retention = sub.add_parser("retention", help="retention policies per tenant")
    ret_sub = retention.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    ret_set = ret_sub.add_parser("set", help="a tenant's own policy")
    ret_set.add_argument("--tenant", required=True)
    days = ret_set.add_mutually_exclusive_group(required=True)
    days.add_argument("--days", type=int, help="keep events this many days (by occurred_at)")
    days.add_argument("--forever", action="store_true", help="keep the tenant's events forever")
    ret_unset = ret_sub.add_parser("unset", help="back to the default (AUDIT_RETENTION_DAYS)")
    ret_unset.add_argument("--tenant", required=True)
    ret_show = ret_sub.add_parser("show", help="every tenant's policy, and the holds")
    ret_show.add_argument("--format", choices=("table", "json"), default="table")
    ret_run = ret_sub.add_parser("run", help="purge now; prints what it purged")
    ret_run.add_argument("--tenant")
    ret_run.add_argument("--days", type=int, help="this many days for this run, not the policy")
    ret_run.add_argument("--dry-run", action="store_true", help="count, purge nothing")
    ret_run.add_argument("--format", choices=("table", "json"), default="table")

    hold = sub.add_parser("hold", help="legal holds: a held tenant is never purged")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True, metavar="ACTION")
    hold_set = hold_sub.add_parser("set", help="put a tenant under legal hold")
    hold_set.add_argument("--tenant", required=True)
    hold_set.add_argument("--reason", required=True)
    hold_clear = hold_sub.add_parser("clear", help="lift a tenant's hold")
    hold_clear.add_argument("--tenant", required=True)


# -- helpers --------------------------------------------------------------------------
def _service(settings: Settings) -> AuditService:
    return AuditService(connect(settings.redis_url), settings)


def cell(value: Any, width: int) -> str:
    """``value`` fit for one table cell: no control characters, at most ``width``."""
    text = "" if value is None else str(value).translate(_CONTROL)
    return text if len(text) <= width else text[: width - 1] + "~"


def table(columns: Sequence[tuple[str, int]], rows: Iterable[dict[str, Any]]) -> None:
    """Print a header and one line per row, each column padded to its width."""
    out = sys.stdout
    out.write("  ".join(name.ljust(w) for name, w in columns).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(cell(row.get(n), w).ljust(w) for n, w in columns).rstrip() + "\n")


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def filter_args(args: argparse.Namespace, schema: Schema) -> dict[str, Any]:
    """The command's options that ``schema`` (a query schema) takes, as query parameters."""
    return {k: v for k, v in vars(args).items() if k in schema.fields and v is not None}


def as_options(exc: BadRequest) -> UsageError:
    """A query-parameter error, named by the command line's options."""
    errors = exc.errors or {}
    detail = "; ".join(
        f"--{k.replace('_', '-')}: {' '.join(map(str, v))}" for k, v in errors.items()
    )
    return UsageError(detail or exc.detail)


# -- status ---------------------------------------------------------------------------
def status(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    state = read_status(svc.redis, svc.key_names, settings.redis_url)
    kept = svc.durability()
    state.redis_kind = "Redis Cluster" if is_cluster(svc.redis) else "Redis"
    state.durability = {**kept.as_dict(), "acknowledgement": settings.durability}
    verifier = svc.proofs.verifier
    state.integrity = (
        "off (no AUDIT_SIGNING_KEY_FILE)"
        if verifier is None
        else f"on, checkpoints signed by {verifier}"
    )
    if args.format == "json":
        print_json(state.to_dict())
        return 0
    print_status(state)
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
    return 0


def print_status(state: SystemStatus) -> None:
    print(f"redis: {state.redis} ({state.redis_kind})")
    if state.durability:
        print(f"durability: Redis keeps {state.durability['detail']}")
        print(f"acknowledgement (AUDIT_DURABILITY): {ACKS[state.durability['acknowledgement']]}")
    print(f"integrity: {state.integrity or 'unknown'}")
    for s in state.streams:
        if not s.group:
            print(f"stream {s.name}: {s.length} entries, no consumer group yet")
            continue
        print(
            f"stream {s.name}: {s.length} entries; group audit-workers: lag {s.lag}, "
            f"pending {s.pending}, consumers {len(s.consumers)}"
        )
        for c in s.consumers:
            print(f"  consumer {c.name}: pending {c.pending}, idle {c.idle_ms / 1000:.1f}s")
    print(f"backlog (lag + pending): {state.backlog}")
    print(f"dead letters: {state.dead_letters}")
    print(f"deleted before consumption (all ingest streams): {state.deleted_unconsumed}")
    print(f"conflicting duplicates refused: {state.conflicts}")
    print(f"workers seen: {len(state.workers)} ({state.workers_alive} alive)")
    for w in state.workers:
        print(f"  {w.name}: last heartbeat {w.last_seen_s:.1f}s ago{'' if w.alive else ' (gone)'}")
    print(f"tenants: {len(state.tenants)}; events stored: {state.events_stored}")
    for tenant, count in state.tenants.items():
        print(f"  {tenant}: {count}")


ACKS = {
    "ack": "ack, 202 once Redis has the event",
    "replica": "replica, 202 once a replica has the event too (WAIT)",
}


# -- dead letters ---------------------------------------------------------------------
DEAD_TABLE = (
    ("id", 20),
    ("failed_at", 27),
    ("reason", 24),
    ("source", 16),
    ("source_id", 22),
    ("preview", 60),
)


def dead(args: argparse.Namespace, settings: Settings) -> int:
    svc = _service(settings)
    letters = DeadLetters(svc.redis, svc.key_names, settings)
    command = args.dead_command
    if command == "list":
        if not 1 <= args.limit <= 10_000:
            raise UsageError("--limit must be 1-10000")
        items = [d.summary() for d in letters.list(args.limit)]
        if args.format == "json":
            print_json(items)
        elif args.format == "ndjson":
            for item in items:
                sys.stdout.write(orjson.dumps(item).decode() + "\n")
        else:
            table(DEAD_TABLE, items)
            print(f"{len(items)} shown of {letters.count()}", file=sys.stderr)
        return 0
    if command == "show":
        letter = letters.get(args.id)
        if letter is None:
            raise NotFound(f"no dead letter {args.id!r}")
        print_json(letter.to_dict())
        return 0
    if command == "drop":
        missing = [i for i in args.ids if not letters.drop(i)]
        for letter_id in args.ids:
            print(f"{letter_id}: {'not found' if letter_id in missing else 'dropped'}")
        return 1 if missing else 0
    ids = letters.all_ids() if args.all else args.ids
    left = 0
    for letter_id in ids:
        result = letters.replay(letter_id, now_utc(), dry_run=args.dry_run)
        print(replay_line(result.to_dict()))
        left += result.status not in ("replayed", "would replay")
    return 1 if left else 0


def replay_line(result: dict[str, Any]) -> str:
    line = f"{result['id']}: {result['status']}"
    if result.get("event_id"):
        line += f" (event {result['event_id']})"
    if result.get("reason"):
        line += f": {result['reason']}"
    if result.get("errors"):
        line += " " + cell(orjson.dumps(result["errors"]).decode(), 300)
    return line


# -- export ---------------------------------------------------------------------------
def export(args: argparse.Namespace, settings: Settings) -> int:
    try:
        filters, fmt = parse_export_args(filter_args(args, EXPORT_QUERY_SCHEMA))
    except BadRequest as exc:
        raise as_options(exc) from None
    svc = _service(settings)
    job = Export(svc.query, filters, fmt)  # reads the first page: fails before any output
    with ExitStack() as stack:
        out: BinaryIO = (
            stack.enter_context(open(args.output, "wb")) if args.output else sys.stdout.buffer
        )
        # A bar only for a person watching: on a terminal, never into a pipe or a log.
        bar = stack.enter_context(
            tqdm(
                unit=" events",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                desc=f"export {filters.tenant}",
            )
        )
        for chunk in job:
            out.write(chunk)
            bar.update(job.written - bar.n)
        out.flush()
    if args.output:
        print(f"exported {job.written} events to {args.output}", file=sys.stderr)
    return 0


# -- retention and holds --------------------------------------------------------------
def _retention(settings: Settings) -> Retention:
    svc = _service(settings)
    integrity = bool(settings.signing_key_file)
    return Retention(svc.redis, svc.key_names, settings.retention_days, integrity=integrity)


def retention(args: argparse.Namespace, settings: Settings) -> int:
    policies = _retention(settings)
    command = args.retention_command
    if command == "set":
        days = None if args.forever else args.days
        policies.set_policy(args.tenant, days)
        print(f"{args.tenant}: keep {'forever' if days is None else f'{days} days'}")
    elif command == "unset":
        policies.unset_policy(args.tenant)
        days, _ = policies.effective(args.tenant)
        print(f"{args.tenant}: default policy ({_days(days)})")
    elif command == "show":
        rows: list[dict[str, Any]] = [
            {
                "tenant": r.tenant,
                "days": r.days,
                "policy": r.source,
                "hold": r.hold.reason if r.hold else None,
                "held_since": r.hold.since if r.hold else None,
            }
            for r in policies.show()
        ]
        if args.format == "json":
            print_json({"default_days": settings.retention_days, "tenants": rows})
        else:
            print(f"default: {_days(settings.retention_days)} (AUDIT_RETENTION_DAYS)")
            for row in rows:
                row["days"] = _days(row["days"])
            table(
                (("tenant", 24), ("days", 10), ("policy", 8), ("hold", 40), ("held_since", 27)),
                rows,
            )
    else:
        results = policies.run(args.tenant, args.days, args.dry_run)
        print_purges(results, args.format)
    return 0


def _days(days: int | None) -> str:
    return "forever" if days is None else f"{days} days"


def print_purges(results: list[PurgeResult], fmt: str) -> None:
    if fmt == "json":
        print_json([r.__dict__ for r in results])
        return
    verb = "would purge" if any(r.dry_run for r in results) else "purged"
    for r in results:
        if r.held:
            print(f"{r.tenant}: held (legal hold), nothing purged")
        elif r.days is None:
            print(f"{r.tenant}: kept forever")
        else:
            print(f"{r.tenant}: {verb} {r.purged} events older than {r.cutoff}")
    print(f"total: {verb} {sum(r.purged for r in results)} events")


def hold(args: argparse.Namespace, settings: Settings) -> int:
    policies = _retention(settings)
    if args.hold_command == "set":
        held = policies.set_hold(args.tenant, args.reason)
        print(f"{held.tenant}: held since {held.since} ({held.reason})")
    elif policies.clear_hold(args.tenant):
        print(f"{args.tenant}: hold cleared")
    else:
        raise NotFound(f"tenant {args.tenant!r} is not held")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "status": status,
    "dead": dead,
    "export": export,
    "retention": retention,
    "hold": hold,
}
