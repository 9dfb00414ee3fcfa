"""The shape of a JSON document, checked before any parser builds it, and a batch read
one item at a time.

A parser that recurses (marshmallow, orjson's encoder, Python's ``json``) can be made
to fail by nesting alone, and parsing a whole batch at once costs 15-30 times the body
in Python objects. So, for a body or a stream entry:

- :func:`depth` checks the nesting depth with a few C-level passes (strings removed,
  then innermost brackets removed round by round) and builds nothing: 1,000 levels are
  refused at the cost of copying the bytes twice (:func:`could_be_deeper` tells, from
  two counts, when it need not run);
- :func:`array_values` hands back a top-level array's items as byte slices (with the
  parse that found their end, when one did), so that a batch is parsed and checked one
  event at a time.

Both check structure only; what they let through is still parsed by a real parser,
which reports every other kind of malformed JSON.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_WHITESPACE = b" \t\r\n"
# A first look at each item: most events are far smaller than the limit, and orjson
# checks the UTF-8 of all it is given, so it is given little, then more.
_FIRST_WINDOW = 4096
# orjson's words for "a complete value, then something else" (pinned by a test).
_AFTER_VALUE = "unexpected content after document"
_TOO_DEEP = "depth limit exceeded"
_ORJSON_DEPTH = 1024  # orjson refuses deeper input (without building it)
# An array item that is an object, and where such an item may end: a "}" followed by the
# next object or by the array's end (a guess, proved by parsing: see array_values)
_OBJECT_START = re.compile(rb"[ \t\r\n]*\{")
_OBJECT_END = re.compile(rb"\}[ \t\r\n]*(?=,[ \t\r\n]*\{|\][ \t\r\n]*\Z)")


# The parses array_values hands back live until the whole batch is validated: it keeps
# those of at most about this many JSON values (counted by their separators, ~50-100
# bytes of Python objects each), a batch of a hundred ~1 KB events whole, while a body
# built of tiny values (60 KB of "[]" per event) is parsed one event at a time.
KEEP_VALUES = 20_000


class _Unparsed:
    """The value of an item whose end was found without parsing it: parse it yourself."""

    def __repr__(self) -> str:
        return "UNPARSED"


UNPARSED: Any = _Unparsed()


class ShapeError(ValueError):
    """The document's structure breaks a limit or cannot be JSON."""


class TooDeep(ShapeError):
    """Nested deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"nested more than {limit} levels deep")
        self.limit = limit


class TooManyItems(ShapeError):
    """A top-level array with more items than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} items")
        self.limit = limit


class ItemTooLarge(ShapeError):
    """One item of an array runs past the size limit."""

    def __init__(self, index: int, limit: int) -> None:
        super().__init__(f"item {index} is over {limit} bytes")
        self.index = index
        self.limit = limit


class Unbalanced(ShapeError):
    """Brackets that do not pair up, or something after the document: not JSON."""


def could_be_deeper(raw: bytes, limit: int) -> bool:
    """False when ``raw`` cannot nest deeper than ``limit``: it has too few brackets.

    Two C-level counts, so a common small event skips :func:`depth` altogether.
    """
    return raw.count(b"[") + raw.count(b"{") > limit


def depth(raw: bytes, limit: int) -> int:
    """The nesting depth of ``raw``; raises :class:`TooDeep` past ``limit`` and
    :class:`Unbalanced` when its brackets do not pair up.

    Strings removed, only brackets kept, then each round removes the innermost
    (empty) pairs, so the rounds needed to empty it are the depth. A pair emptied
    within a round becomes a marker that is dropped at the end of the round, so it
    waits for the next: ``{[]}`` takes two rounds, not one.
    """
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    rounds = 0
    while skeleton:
        if rounds == limit:
            raise TooDeep(limit)
        reduced = skeleton.replace(b"[]", b"\0").replace(b"{}", b"\0").replace(b"\0", b"")
        if len(reduced) == len(skeleton):
            raise Unbalanced("brackets that do not pair up")
        skeleton = reduced
        rounds += 1
    return rounds


def array_values(raw: bytes, max_items: int, max_item_bytes: int) -> list[tuple[bytes, Any]]:
    """The items of a top-level JSON array, as byte slices (whitespace around kept), each
    with its parsed value when finding its end parsed it (an object item, most often),
    else :data:`UNPARSED`: one parse an item, not two.

    Raises :class:`TooManyItems` on reaching item ``max_items + 1`` and
    :class:`ItemTooLarge` for an item longer than ``max_item_bytes``, both before
    anything past that point is looked at; :class:`Unbalanced` when the array itself
    is malformed, or an item is (with the parser's message).

    An object item's end is first guessed where a ``}`` meets the next object or the
    array's end, then proved by parsing exactly that slice: an object parsed whole from
    the item's start ends at its own closing brace, so a guess that parses is the item.
    Otherwise the end is where orjson, reading from the item's start, meets content
    after a complete value (:func:`_value_size`; only that item is built, and dropped).
    Once no guess is found within the size limit, or the parses kept pass
    :data:`KEEP_VALUES`, the rest of the array goes that way: no item's search scans
    more than the limit, and what is kept stays small.
    """
    view = memoryview(raw)
    pos = len(raw) - len(raw.lstrip(_WHITESPACE))
    if raw[pos : pos + 1] != b"[":
        raise Unbalanced("not an array")
    pos += 1
    items: list[tuple[bytes, Any]] = []
    guess = True
    kept = 0  # JSON values held by the parses kept so far (about)
    if not raw[pos:].lstrip(_WHITESPACE).startswith(b"]"):
        while True:
            if len(items) == max_items:
                raise TooManyItems(max_items)
            value: Any = UNPARSED
            size: int | None = None
            if guess and _OBJECT_START.match(raw, pos):
                found = _OBJECT_END.search(raw, pos, pos + max_item_bytes + 1)
                if found is None:
                    guess = False
                else:
                    end = found.start() + 1
                    values = (  # "," "[" "{": at least one per value but the first
                        raw.count(b",", pos, end)
                        + raw.count(b"[", pos, end)
                        + raw.count(b"{", pos, end)
                    )
                    if values + kept > KEEP_VALUES:  # the rest is parsed when validated
                        guess = False
                    else:
                        try:
                            value = orjson.loads(view[pos:end])
                            size = found.end() - pos
                            kept += values
                        except orjson.JSONDecodeError:
                            pass
            if size is None:
                size = _value_size(view, pos, max_item_bytes)
            if size is None or size > max_item_bytes:
                raise ItemTooLarge(len(items), max_item_bytes)
            items.append((raw[pos : pos + size], value))
            pos += size
            if raw[pos : pos + 1] != b",":
                break
            pos += 1
    if raw[pos:].strip(_WHITESPACE) != b"]":
        raise Unbalanced("the array does not end after its last item")
    return items


def _value_size(view: memoryview, start: int, most: int) -> int | None:
    """Bytes from ``start`` to the end of the JSON value there (with the whitespace after),
    or None when that is more than ``most``. Raises :class:`Unbalanced` with the
    parser's message when the value is malformed."""
    window = min(_FIRST_WINDOW, most)
    while True:
        end = start + window + 1  # one byte more: a value's end is seen
        while end < len(view) and 0x80 <= view[end] < 0xC0:
            end -= 1  # never cut a character in two: orjson checks the UTF-8 first
        chunk = view[start:end]
        try:
            orjson.loads(chunk)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith(_TOO_DEEP):
                raise TooDeep(_ORJSON_DEPTH) from None
            if str(exc).startswith(_AFTER_VALUE):  # a whole value, then more: its end
                size = _bytes_in(chunk, exc.pos)  # orjson counts characters, not bytes
                return size if size <= most else None
            if start + len(chunk) >= len(view):
                raise Unbalanced(str(exc).split(":", 1)[0]) from None
        else:
            return len(chunk) if len(chunk) <= most else None  # runs to the end of the body
        if window >= most:  # cut short by the window (or malformed, found in the next look)
            return None
        window = min(window * 4, most)


def _bytes_in(chunk: memoryview, chars: int) -> int:
    """How many bytes of UTF-8 ``chunk`` its first ``chars`` characters take."""
    head = bytes(chunk[:chars])
    if head.isascii():
        return chars
    return len(bytes(chunk).decode("utf-8", "ignore")[:chars].encode())
