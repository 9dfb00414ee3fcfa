"""The checkpoint signing key: created into, and read from, a file only its owner can read.

The signer key never goes to Redis, a log line or an error message; only the
verifier key (public) is printed and served.
"""

from __future__ import annotations

import os
import stat

from collector.errors import ConfigError
from collector.settings import Settings
from collector.signednote import NoteError, Signer


def create_key_file(name: str, path: str) -> Signer:
    """Make a new signer key named ``name`` and write it to ``path`` (mode 0600; an
    existing file is never overwritten)."""
    try:
        signer = Signer.generate(name)
    except NoteError as exc:
        raise ConfigError(f"Invalid key name: {exc}") from None
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; a signing key is never overwritten.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as out:
        out.write(signer.key() + "\n")
    return signer


def configured_signer(settings: Settings) -> Signer | None:
    """The signer ``AUDIT_SIGNING_KEY_FILE`` names, or None (integrity off)."""
    return load_signer(settings.signing_key_file) if settings.signing_key_file else None


def load_signer(path: str) -> Signer:
    """The signer key in ``path`` (AUDIT_SIGNING_KEY_FILE), which must be mode 0600 or
    stricter."""
    try:
        with open(path) as key_file:
            mode = os.fstat(key_file.fileno()).st_mode
            text = key_file.read()
    except OSError as exc:
        raise ConfigError(f"AUDIT_SIGNING_KEY_FILE: cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"AUDIT_SIGNING_KEY_FILE: {path} is readable by others; chmod 600 it.")
    try:
        return Signer.from_key(text)
    except NoteError:
        # Never echo the file: it holds a secret.
        raise ConfigError(
            f"AUDIT_SIGNING_KEY_FILE: {path} does not hold a note signer key."
        ) from None
