"""Signed checkpoints on disk, outside Redis: ``<dir>/<tenant>/<tree size>``.

Each file is written once, atomically (a temporary file, fsynced, then hard-linked to
its name, which fails if the name exists), and never overwritten, so what an
administrator of Redis does cannot reach back into what was published here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def _tenant_dir(root: str, tenant: str) -> Path | None:
    # Tenant names are letters, digits and . _ - ; "." and ".." would leave the folder.
    if tenant in (".", ".."):
        return None
    return Path(root) / tenant


def write_checkpoint(root: str, tenant: str, size: int, note: str) -> bool:
    """Publish one checkpoint; False if a file of that size is already there (kept as is)."""
    folder = _tenant_dir(root, tenant)
    if folder is None:
        log.warning("checkpoint dir: tenant %r has no folder of its own; not written", tenant)
        return False
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / str(size)
    if target.exists():
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{size}.", dir=folder)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(note)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return True


def read_checkpoints(root: str, tenant: str) -> list[str]:
    """Every checkpoint published for ``tenant``, smallest size first."""
    folder = _tenant_dir(root, tenant)
    if folder is None or not folder.is_dir():
        return []
    sizes = sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit())
    return [(folder / str(size)).read_text() for size in sizes]


def tenants_in(root: str) -> list[str]:
    """The tenants that have a folder of checkpoints."""
    path = Path(root)
    return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
