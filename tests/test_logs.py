"""JSON log lines: the contract's fields, context passed through, secrets redacted."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson
import pytest

from collector.logs import dict_config, redact, resolve_format


@pytest.fixture
def json_lines():
    """Configure logging as an entry point would (JSON), capturing stderr's lines."""
    stream = io.StringIO()
    config = dict_config("json")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    yield lambda: [orjson.loads(line) for line in stream.getvalue().splitlines()]
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    logging.getLogger().handlers.clear()


def test_json_lines_have_the_contract_fields_and_context(json_lines):
    logging.getLogger("api.requests").info(
        "GET /x 200", extra={"request_id": "r-1", "status": 200, "duration_ms": 1.5}
    )
    [line] = json_lines()
    assert line["level"] == "INFO"
    assert line["logger"] == "api.requests"
    assert line["msg"] == "GET /x 200"
    assert line["ts"].endswith("+00:00")
    assert (line["request_id"], line["status"], line["duration_ms"]) == ("r-1", 200, 1.5)


def test_exceptions_stay_one_json_line(json_lines):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("w").exception("failed")
    [line] = json_lines()
    assert line["level"] == "ERROR" and "RuntimeError: boom" in line["exc_info"]


def test_secrets_never_reach_a_line(json_lines):
    log = logging.getLogger("x")
    log.warning("auth header was Bearer at_abcdefghijklmnopqrstuvwxyz012345")
    log.warning("key %s created", "at_ZYXWVUTSRQPONMLKJIHGFEDCBA98765")
    log.warning("connecting to %s", "redis://user:hunter2@redis:6379/0")
    try:
        raise ValueError("bad url redis://:s3cret@host:1")
    except ValueError:
        log.exception("failed")
    text = orjson.dumps(json_lines()).decode()
    for secret in ("abcdefghijklmnop", "ZYXWVUTSRQ", "hunter2", "s3cret"):
        assert secret not in text
    assert "redis://user:***@redis:6379/0" in text


def test_redact_leaves_ordinary_text_alone():
    assert redact("stored 5 events for tenant at_home") == "stored 5 events for tenant at_home"


def test_format_defaults_to_text_on_a_terminal_and_json_otherwise():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format(None, Tty()) == "text"
    assert resolve_format(None, io.StringIO()) == "json"
    assert resolve_format("json", Tty()) == "json"
    with pytest.raises(ValueError):
        dict_config("xml")
