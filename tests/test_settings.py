"""Settings are read from the environment once, and a bad value is a clear error."""

from __future__ import annotations

import pytest

from collector.errors import ConfigError
from collector.settings import DEFAULT_MAX_BACKLOG, ENV, Settings


def test_defaults_match_the_configuration_table():
    s = Settings.from_env({})
    assert (s.redis_url, s.port, s.prefix, s.partitions) == (None, 8000, "audit", 1)
    assert (s.max_event_bytes, s.max_batch, s.max_deliveries) == (65536, 1000, 5)
    assert (s.claim_idle_ms, s.retention_days, s.max_backlog) == (30000, None, DEFAULT_MAX_BACKLOG)
    assert s.auth is None and s.auth_required
    assert (s.log_format, s.signing_key_file, s.log_origin) == (None, None, "audit-trail")
    assert (s.checkpoint_interval_ms, s.checkpoint_dir, s.rq_redis_url) == (1000, None, None)
    assert (s.durability, s.max_clock_skew_s, s.max_body_bytes) == ("ack", 300, 16 * 1024 * 1024)
    assert (s.rq_serializer, s.require_durable) == ("pickle", False)


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
            "AUDIT_LOG_FORMAT": "JSON",
            "AUDIT_SIGNING_KEY_FILE": "/keys/signer",
            "AUDIT_LOG_ORIGIN": "example.com/log",
            "AUDIT_CHECKPOINT_INTERVAL_MS": "250",
            "AUDIT_CHECKPOINT_DIR": "/var/checkpoints",
            "AUDIT_RQ_REDIS_URL": "redis://q:6379/0",
            "AUDIT_DURABILITY": "replica",
            "AUDIT_MAX_CLOCK_SKEW_S": "60",
            "AUDIT_MAX_BODY_BYTES": "1048576",
            "AUDIT_RQ_SERIALIZER": "json",
            "AUDIT_REQUIRE_DURABLE": "on",
        }
    )
    assert s == Settings(
        "redis://r:6379/1",
        9000,
        "aud",
        4,
        1024,
        10,
        False,
        50,
        3,
        100,
        7,
        log_format="json",
        signing_key_file="/keys/signer",
        log_origin="example.com/log",
        checkpoint_interval_ms=250,
        checkpoint_dir="/var/checkpoints",
        rq_redis_url="redis://q:6379/0",
        durability="replica",
        max_clock_skew_s=60,
        max_body_bytes=1048576,
        rq_serializer="json",
        require_durable=True,
    )


def test_every_field_has_one_variable():
    assert sorted(field for field, _ in ENV.values()) == sorted(Settings.__dataclass_fields__)


def test_key_names_follow_prefix_and_partitions():
    names = Settings(prefix="aud", partitions=2).key_names
    assert names.ingest_streams() == ["aud:ingest:{0}", "aud:ingest:{1}"]
    settings = Settings()
    assert settings.key_names is settings.key_names  # built once per settings object


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
        ("AUDIT_LOG_FORMAT", "xml", "AUDIT_LOG_FORMAT must be 'text' or 'json'"),
        ("AUDIT_DURABILITY", "all", "AUDIT_DURABILITY must be 'ack' or 'replica'"),
        ("AUDIT_RQ_SERIALIZER", "yaml", "AUDIT_RQ_SERIALIZER must be 'pickle' or 'json'"),
        ("AUDIT_REQUIRE_DURABLE", "sure", "AUDIT_REQUIRE_DURABLE must be 'on' or 'off'"),
        ("AUDIT_MAX_BODY_BYTES", "16777217", "AUDIT_MAX_BODY_BYTES must be at most 16777216"),
        ("AUDIT_MAX_CLOCK_SKEW_S", "-1", "AUDIT_MAX_CLOCK_SKEW_S must be at least 0"),
        ("AUDIT_CHECKPOINT_INTERVAL_MS", "0", "AUDIT_CHECKPOINT_INTERVAL_MS must be at least 1"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})
