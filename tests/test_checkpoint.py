"""C2SP tlog-checkpoint notes: format, parse, sign, open."""

from __future__ import annotations

import pytest

from collector import merkle
from collector.checkpoint import Checkpoint, CheckpointError, open_checkpoint, origin_of
from collector.signednote import Signer

SIGNER = Signer.generate("audit-test")
ROOT = merkle.leaf_hash(b"x")


def test_body_is_the_three_c2sp_lines():
    cp = Checkpoint(origin_of("audit-trail", "acme"), 42, ROOT)
    body = cp.body()
    assert body.split("\n")[:2] == ["audit-trail/acme", "42"]
    assert body.endswith("\n") and body.count("\n") == 3
    assert Checkpoint.parse(body) == cp


def test_signed_checkpoint_opens_with_its_verifier_and_origin():
    cp = Checkpoint("audit-trail/acme", 7, ROOT)
    note = cp.sign(SIGNER)
    assert note.startswith(cp.body() + "\n\u2014 audit-test ")
    assert open_checkpoint(note, SIGNER.verifier(), "audit-trail/acme") == cp
    with pytest.raises(CheckpointError, match="not 'audit-trail/other'"):
        open_checkpoint(note, SIGNER.verifier(), "audit-trail/other")
    with pytest.raises(CheckpointError):
        open_checkpoint(note.replace("\n7\n", "\n8\n"), SIGNER.verifier())
    with pytest.raises(CheckpointError):
        open_checkpoint(note, Signer.generate("audit-test").verifier())


def test_extension_lines_are_read():
    body = Checkpoint("o", 1, ROOT).body() + "ext line\n"
    assert Checkpoint.parse(body).size == 1


@pytest.mark.parametrize(
    "body",
    [
        "o\n1\n",
        "\n1\nAAAA\n",
        "o\n01\n" + Checkpoint("o", 1, ROOT).body().split("\n")[2] + "\n",
        "o\n-1\n" + Checkpoint("o", 1, ROOT).body().split("\n")[2] + "\n",
        "o\n1\nAAAA\n",
        "o\n1\n" + Checkpoint("o", 1, ROOT).body().split("\n")[2],
        Checkpoint("o", 1, ROOT).body() + "\n",
    ],
)
def test_malformed_bodies_are_refused(body):
    with pytest.raises(CheckpointError):
        Checkpoint.parse(body)
