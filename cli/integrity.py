"""The integrity subcommands: ``signing-key create``, ``verify`` (live or offline), ``proof``."""

from __future__ import annotations

import argparse
import os
import sys

import orjson

from collector import checkpointdir
from collector.connection import connect
from collector.errors import UsageError
from collector.livecheck import verify_tenant
from collector.proofs import Proofs
from collector.settings import Settings
from collector.signednote import NoteError, Verifier
from collector.signing import create_key_file, load_signer
from collector.store import Store
from collector.verify import Report, verify_export


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``signing-key``, ``verify`` and ``proof`` to the command's subparsers."""
    key = sub.add_parser("signing-key", help="the Ed25519 key that signs checkpoints")
    key_sub = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = key_sub.add_parser(
        "create", help="write a new signer key (mode 0600); print its verifier key"
    )
    create.add_argument("--name", required=True, help="key name, e.g. audit.example.com")
    create.add_argument("-o", "--output", default="signing.key", help="default: signing.key")

    verify = sub.add_parser("verify", help="recompute every tenant's tree, check checkpoints")
    verify.add_argument("--tenant", action="append", help="only this tenant (repeatable)")
    verify.add_argument(
        "--verifier-key", help="key or file with it (default: from AUDIT_SIGNING_KEY_FILE)"
    )
    verify.add_argument("--checkpoint-dir", help="default: $AUDIT_CHECKPOINT_DIR")
    verify.add_argument("--format", choices=("text", "json"), default="text")
    verify.add_argument("--export", help="offline: an NDJSON export of one tenant, from seq 1")
    verify.add_argument(
        "--checkpoint", action="append", help="offline: a signed checkpoint file (repeatable)"
    )

    proof = sub.add_parser("proof", help="print one event's inclusion proof bundle (JSON)")
    proof.add_argument("id")
    proof.add_argument("--tenant", default="default")
    proof.add_argument("--tree-size", type=int, help="against this checkpoint (default: latest)")


def signing_key(args: argparse.Namespace, settings: Settings) -> int:
    signer = create_key_file(args.name, args.output)
    print(
        f"signer key written to {args.output} (mode 0600); "
        f"set AUDIT_SIGNING_KEY_FILE={args.output}",
        file=sys.stderr,
    )
    print(signer.verifier())
    return 0


def _verifier(text: str | None, settings: Settings) -> Verifier:
    if text is None:
        if not settings.signing_key_file:
            raise UsageError("verify needs --verifier-key (or AUDIT_SIGNING_KEY_FILE)")
        return load_signer(settings.signing_key_file).verifier()
    if os.path.isfile(text):
        with open(text) as key_file:
            text = key_file.read()
    try:
        return Verifier.from_key(text)
    except NoteError as exc:
        raise UsageError(f"--verifier-key: {exc}") from None


def verify(args: argparse.Namespace, settings: Settings) -> int:
    verifier = _verifier(args.verifier_key, settings)
    if args.export or args.checkpoint:
        reports = [_verify_offline(args, verifier)]
    else:
        folder = args.checkpoint_dir or settings.checkpoint_dir
        client = connect(settings.redis_url)
        tenants = args.tenant or sorted(
            {*Store(client, settings.key_names).tenants()}
            | set(checkpointdir.tenants_in(folder) if folder else ())
        )
        reports = [verify_tenant(client, settings, t, verifier, folder) for t in tenants]
    _print(reports, args.format)
    return 0 if all(r.ok for r in reports) else 1


def _verify_offline(args: argparse.Namespace, verifier: Verifier) -> Report:
    if not (args.export and args.checkpoint):
        raise UsageError("offline verify needs both --export FILE and --checkpoint FILE")
    notes = []
    for path in args.checkpoint:
        with open(path) as note_file:
            notes.append(note_file.read())
    tenant = (args.tenant or [""])[0]
    with open(args.export, "rb") as lines:
        return verify_export(tenant or args.export, lines, notes, verifier)


def _print(reports: list[Report], fmt: str) -> None:
    if fmt == "json":
        body = {"ok": all(r.ok for r in reports), "tenants": [r.as_dict() for r in reports]}
        print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
        return
    for r in reports:
        if r.problem:
            p = r.problem
            print(f"{r.tenant}: BROKEN first_broken_at={p.first_broken_at} {p.kind}: {p.detail}")
        else:
            purged = f", {r.purged} purged by retention policy" if r.purged else ""
            print(
                f"{r.tenant}: ok, {r.events} events verified{purged}; "
                f"checkpoint size {r.checkpoint_size} verified"
            )


def proof(args: argparse.Namespace, settings: Settings) -> int:
    proofs = Proofs(connect(settings.redis_url), settings)
    bundle = proofs.inclusion(args.tenant, args.id, args.tree_size)
    print(orjson.dumps(bundle, option=orjson.OPT_INDENT_2).decode())
    return 0
