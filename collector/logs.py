"""Log lines: text for a person at a terminal, one JSON object per line for machines.

Only entry points call :func:`configure` (the command line) or hand :func:`dict_config`
to their framework (``gunicorn.conf.py``'s ``logconfig_dict``); library code just uses
``logging.getLogger(__name__)`` and passes context with ``extra=``.

JSON lines carry ``ts``, ``level``, ``logger``, ``msg`` and whatever context the call
gave (``request_id``, ``route``, ``worker``, ``stored`` ...). Every handler goes through
:class:`RedactSecrets`, so an API key or a Redis password never reaches a line even
if some message or exception text contains one.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from typing import Any, TextIO

from collector.apikeys import SECRET_PREFIX

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# python-json-logger's names for the fields, renamed to the contract's.
JSON_FIELDS = {"levelname": "level", "name": "logger", "message": "msg"}

# A bearer token, an API key's secret as `keys create` prints it, or a URL's password.
_SECRETS = (
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), r"\1***"),
    (re.compile(rf"\b{SECRET_PREFIX}[A-Za-z0-9_-]{{16,}}"), SECRET_PREFIX + "***"),
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), r"\1***@"),
)


def redact(text: str) -> str:
    """``text`` with bearer tokens and URL passwords replaced by ``***``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and exception text) without its secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text as it is when exc_info is gone (the JSON one
            # would format exc_info again, secrets and all).
            record.exc_text, record.exc_info = redact(record.exc_text), None
        return True


def resolve_format(configured: str | None, stream: TextIO | None = None) -> str:
    """``AUDIT_LOG_FORMAT`` if set, else ``text`` on a terminal and ``json`` otherwise."""
    if configured:
        return configured
    stream = stream if stream is not None else sys.stderr
    return "text" if stream.isatty() else "json"


def dict_config(fmt: str, level: str = "INFO", access_log: bool = False) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` mapping: every line to stderr in ``fmt``.

    gunicorn's own loggers are included, so its error log is in the same format; its
    access log only with ``access_log`` (the API logs one line per request itself).
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "fmt": "{levelname}{name}{message}",
            "style": "{",
            "rename_fields": JSON_FIELDS,
            "timestamp": "ts",
        }
        if fmt == "json"
        else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "main",
        "filters": ["redact"],
    }
    propagate = {"level": level, "handlers": [], "propagate": True}
    quiet = {"level": "WARNING", "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}},
        "formatters": {"main": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": propagate,
            "gunicorn.access": propagate if access_log else quiet,
            # werkzeug's own request lines would double ours (audit-trail run)
            "werkzeug": quiet,
        },
    }


def configure(fmt: str | None, level: str = "INFO") -> str:
    """Configure logging for this process (entry points only); returns the format used."""
    chosen = resolve_format(fmt)
    logging.config.dictConfig(dict_config(chosen, level))
    # Python warnings (a library's, gevent's) become log records, in the same format
    logging.captureWarnings(True)
    return chosen
