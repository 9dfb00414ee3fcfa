"""C2SP signed notes: Go's sumdb/note test vector (key PeterNeumann), both ways, and tampering."""

from __future__ import annotations

import pytest

from collector.signednote import NoteError, Signer, Verifier, open_note, parse, sign

# From golang.org/x/mod/sumdb/note/note_test.go.
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)


def test_verifies_gos_signature():
    assert open_note(GO_NOTE, Verifier.from_key(GO_VERIFIER)) == GO_TEXT


def test_signs_exactly_as_go_does():
    signer = Signer.from_key(GO_SIGNER)
    assert sign(GO_TEXT, signer) == GO_NOTE
    assert str(signer.verifier()) == GO_VERIFIER
    assert signer.key() == GO_SIGNER


def test_keys_round_trip_and_the_repr_hides_the_seed():
    signer = Signer.generate("audit.example/log")
    assert Signer.from_key(signer.key()) == signer
    verifier = Verifier.from_key(str(signer.verifier()))
    assert verifier == signer.verifier()
    assert open_note(sign("a\nb\n", signer), verifier) == "a\nb\n"
    # The base64 seed may itself contain '+': split off only the four fields before it.
    encoded_seed = signer.key().split("+", 4)[-1]
    assert len(encoded_seed) == 44
    assert encoded_seed not in repr(signer)


def test_other_signers_are_ignored_but_a_note_must_carry_ours():
    both = GO_TEXT + "\n" + GO_NOTE.split("\n\n")[1] + ENOCH_SIG
    assert open_note(both, Verifier.from_key(GO_VERIFIER)) == GO_TEXT
    assert open_note(both, Verifier.from_key(GO_ENOCH)) == GO_TEXT
    with pytest.raises(NoteError, match="no signature"):
        open_note(GO_TEXT + "\n" + ENOCH_SIG, Verifier.from_key(GO_VERIFIER))


@pytest.mark.parametrize(
    "note",
    [
        GO_NOTE.replace("problem,", "problem;"),  # the text changed
        GO_NOTE[:60] + "ABCD" + GO_NOTE[60:],  # the text grew
        GO_NOTE.replace("x08go/ZJ", "x08go/ZK"),  # the signature changed
        GO_NOTE.replace("\n\n", "\n"),  # no blank line
        GO_NOTE[:-1],  # no final newline
        GO_NOTE + "Unexpected line.\n",
        "\x01" + GO_NOTE,
        GO_TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG\n",
    ],
)
def test_tampered_or_malformed_notes_fail(note):
    with pytest.raises(NoteError):
        open_note(note, Verifier.from_key(GO_VERIFIER))


@pytest.mark.parametrize(
    "key",
    [
        GO_VERIFIER[:-1],
        GO_VERIFIER.replace("c74f20a3", "c74f20a4"),  # id does not match
        GO_VERIFIER.replace("Peter", "Pete"),  # name does not match the id
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        GO_SIGNER,
    ],
)
def test_bad_verifier_keys_are_refused(key):
    with pytest.raises(NoteError):
        Verifier.from_key(key)


@pytest.mark.parametrize(
    "key", [GO_SIGNER[:-1], GO_SIGNER.replace("c74f20a3", "c74f20a4"), GO_VERIFIER]
)
def test_bad_signer_keys_are_refused(key):
    with pytest.raises(NoteError):
        Signer.from_key(key)


@pytest.mark.parametrize("text", ["", "no newline", "a\n\nb\n", "\n", "tab\there\n"])
def test_only_well_formed_text_is_signed(text):
    with pytest.raises(NoteError):
        sign(text, Signer.from_key(GO_SIGNER))


def test_parse_returns_each_signature_line():
    text, sigs = parse(GO_TEXT + "\n" + GO_NOTE.split("\n\n")[1] + ENOCH_SIG)
    assert text == GO_TEXT
    assert [(s.name, s.key_id.hex()) for s in sigs] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]
