"""Settings are read from the environment once, and a bad value is a clear error."""

from __future__ import annotations

import pytest

from collector.errors import ConfigError
from collector.settings import DEFAULT_MAX_BACKLOG, Settings


def test_defaults_match_the_contract():
    s = Settings.from_env({})
    assert (s.redis_url, s.port, s.prefix, s.partitions) == (None, 8000, "audit", 1)
    assert (s.max_event_bytes, s.max_batch, s.max_deliveries) == (65536, 1000, 5)
    assert (s.claim_idle_ms, s.retention_days, s.max_backlog) == (30000, None, DEFAULT_MAX_BACKLOG)
    assert s.auth is None and s.auth_required


def test_every_variable_is_read():
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://r:6379/1",
            "PORT": "9000",
            "AUDIT_PREFIX": "aud",
            "AUDIT_STREAM_PARTITIONS": "4",
            "AUDIT_MAX_EVENT_BYTES": "1024",
            "AUDIT_MAX_BATCH": "10",
            "AUDIT_AUTH": "off",
            "AUDIT_MAX_BACKLOG": "50",
            "AUDIT_MAX_DELIVERIES": "3",
            "AUDIT_CLAIM_IDLE_MS": "100",
            "AUDIT_RETENTION_DAYS": "7",
        }
    )
    assert s == Settings("redis://r:6379/1", 9000, "aud", 4, 1024, 10, False, 50, 3, 100, 7)


def test_empty_means_default():
    assert Settings.from_env({"AUDIT_MAX_BATCH": "", "AUDIT_AUTH": ""}) == Settings()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AUDIT_MAX_BATCH", "lots", "AUDIT_MAX_BATCH must be an integer"),
        ("AUDIT_STREAM_PARTITIONS", "0", "AUDIT_STREAM_PARTITIONS must be at least 1"),
        ("AUDIT_MAX_EVENT_BYTES", "10", "AUDIT_MAX_EVENT_BYTES must be at least 256"),
        ("AUDIT_RETENTION_DAYS", "0", "AUDIT_RETENTION_DAYS must be at least 1"),
        ("AUDIT_AUTH", "maybe", "AUDIT_AUTH must be 'on' or 'off'"),
        ("AUDIT_PREFIX", "a{b}", "AUDIT_PREFIX must be non-empty"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})
