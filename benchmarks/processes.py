"""What the benchmarks share: a free loopback port, and stopping what they started.

Benchmarks run as scripts (``python benchmarks/NAME.py``), so they import this module
as a sibling; they never import the tests.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_all(processes: Iterable[subprocess.Popen[bytes]], folder: str | None = None) -> None:
    """Terminate processes newest first (killing any that linger), then remove ``folder``."""
    for process in reversed(list(processes)):
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
