"""Stored event bodies, compressed with zstd and a dictionary trained on the tenant's events.

An audit event repeats its field names and most of its values (services, types, user
agents, the shape of ``data``): with a dictionary trained on the tenant's first events a
stored body of ~930 bytes takes ~150-450 (``benchmarks/layout_prototype.py``), and the
body is most of what Redis holds per event.

A stored value is either

- ``{...}``: plain JSON, as every release before this one stored it, and as a tenant's
  events are stored until it has a dictionary: returned as it is; or
- ``z<seq>:<dictionary id>:<zstd frame>``: the frame holds the JSON without its closing
  brace (what the store script receives); reading appends ``,"seq":<seq>}``, so both
  forms read back as the same bytes.

A tenant's dictionary is trained once, by the first worker that stores its
``TRAIN_AFTER``-th event, from its first events; it is kept in Redis (``SET NX``: one
wins) and never changes, so every process can cache it for good.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import redis
import zstandard

log = logging.getLogger(__name__)

# Events stored in a tenant before its dictionary is trained, and the samples it is
# trained on (its first events): enough for zstd to find what the tenant's events share.
TRAIN_AFTER = 1000
DICTIONARY_BYTES = 16 * 1024
LEVEL = 3  # ~3 us per 900-byte body; higher levels gain a few bytes for much more time
# fastCOVER's segment and d-mer sizes, fixed: left out, zstd tries many pairs and keeps
# the best, ~4x the time (~50 ms against ~12 ms for 1,000 events of ~1 KB) for frames
# within 1% of the same size (docs/benchmarks.md, "Shorter store calls, one parse per
# HTTP event, cheaper validation")
TRAIN_K, TRAIN_D = 1024, 8
MAX_BODY = 1 << 20  # a stored event is far smaller (AUDIT_MAX_EVENT_BYTES plus what we add)


class Codec:
    """Compress and decompress one tenant's bodies; dictionaries cached per process."""

    def __init__(
        self,
        redis_client: redis.Redis,
        dictionary_key: Callable[[str], str],
        first_bodies: Callable[[str, int], list[bytes]],
    ) -> None:
        """``dictionary_key(tenant)`` names the key of a tenant's dictionary;
        ``first_bodies(tenant, n)`` reads its first ``n`` stored values, in seq order."""
        self.redis = redis_client
        self.dictionary_key = dictionary_key
        self.first_bodies = first_bodies
        self._compressors: dict[str, tuple[bytes, zstandard.ZstdCompressor]] = {}
        self._dictionaries: dict[tuple[str, int], zstandard.ZstdCompressionDict] = {}
        self._checked: set[str] = set()  # tenants being given a dictionary
        self._looked_up: set[str] = set()  # tenants whose dictionary was looked for
        self._lock = threading.Lock()
        # zstd (de)compressor objects are not safe to share between threads
        self._compress_lock = threading.Lock()
        self._local = threading.local()

    # -- writing ---------------------------------------------------------------------
    def encode(self, tenant: str, body: bytes) -> bytes:
        """What the store script receives for ``body`` (JSON without its closing brace):
        the body itself, or ``<dictionary id>:<frame>`` once the tenant has a dictionary."""
        return self.encode_many(tenant, [body])[0]

    def encode_many(self, tenant: str, bodies: Sequence[bytes]) -> list[bytes]:
        """:meth:`encode` for a batch of the tenant's bodies, compressed in one call that
        releases the GIL, so a worker validates its next batch meanwhile."""
        known = self._compressor(tenant)
        if known is None or not bodies:
            return list(bodies)
        prefix, compressor = known
        with self._compress_lock:
            frames = compressor.multi_compress_to_buffer(list(bodies), threads=1)
        return [prefix + frames[i].tobytes() for i in range(len(frames))]

    def _compressor(self, tenant: str) -> tuple[bytes, zstandard.ZstdCompressor] | None:
        known = self._compressors.get(tenant)
        if known is None and tenant not in self._looked_up:
            # first sight of the tenant in this process: it may have a dictionary already
            self._looked_up.add(tenant)
            blob = self._dictionary(tenant)
            if blob is not None:
                self._use(tenant, blob)
                known = self._compressors[tenant]
        return known

    def stored(self, tenant: str, seqs: Sequence[int]) -> None:
        """After a store: once the tenant passes ``TRAIN_AFTER`` events, load its dictionary
        (training it if no process has yet), so that its next events are compressed."""
        if tenant in self._compressors or not seqs or max(seqs) < TRAIN_AFTER:
            return
        with self._lock:
            if tenant in self._compressors or tenant in self._checked:
                return
            self._checked.add(tenant)
        try:
            blob = self._dictionary(tenant) or self._train(tenant)
        except (redis.RedisError, zstandard.ZstdError) as exc:
            log.warning("tenant %s: no compression dictionary yet (%s)", tenant, exc)
            with self._lock:
                self._checked.discard(tenant)  # try again after a later store
            return
        if blob is not None:
            self._use(tenant, blob)

    def _train(self, tenant: str) -> bytes | None:
        """Train on the tenant's first stored bodies; the dictionary kept is whichever a
        process stored first."""
        samples = [raw for raw in self.first_bodies(tenant, TRAIN_AFTER) if raw[:1] == b"{"]
        if len(samples) < TRAIN_AFTER // 2:
            return None
        # The frames hold bodies without their closing brace and seq: train on the same.
        trimmed: list[Any] = [raw[: raw.rfind(b',"seq":')] for raw in samples]
        trained = zstandard.train_dictionary(
            DICTIONARY_BYTES, trimmed, k=TRAIN_K, d=TRAIN_D, level=LEVEL
        )
        self.redis.set(self.dictionary_key(tenant), trained.as_bytes(), nx=True)
        return self._dictionary(tenant)

    def _dictionary(self, tenant: str) -> bytes | None:
        blob = self.redis.get(self.dictionary_key(tenant))
        return blob  # type: ignore[return-value]

    def _use(self, tenant: str, blob: bytes) -> zstandard.ZstdCompressionDict:
        dictionary = zstandard.ZstdCompressionDict(blob)
        # the frame records its size (2 bytes), so a read allocates exactly that, not
        # MAX_BODY: a megabyte per body made a 1,000-event page several times slower
        compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        with self._lock:
            self._compressors[tenant] = (f"{dictionary.dict_id()}:".encode(), compressor)
        return dictionary

    # -- reading ---------------------------------------------------------------------
    def decode(self, tenant: str, value: bytes) -> bytes:
        """The stored event's JSON from a stored value (either form)."""
        if value[:1] != b"z":
            return value
        seq, dict_id, frame = value[1:].split(b":", 2)
        # zstandard allocates what a frame says it holds (max_output_size bounds only a
        # frame that says nothing): more than a body can be is only a tampered frame
        if zstandard.frame_content_size(frame) > MAX_BODY:
            raise zstandard.ZstdError(f"a stored frame claims over {MAX_BODY} bytes")
        decompressor = self._decompressor(tenant, int(dict_id))
        return decompressor.decompress(frame, max_output_size=MAX_BODY) + b',"seq":' + seq + b"}"

    def decode_many(self, tenant: str, values: list[bytes]) -> list[bytes]:
        """:meth:`decode` of many stored values: the frames of each dictionary are
        decompressed in one call (C, no Python per frame), a 1,000-event page's share
        of its time cut by half."""
        out = list(values)
        by_dict: dict[bytes, list[tuple[int, bytes, bytes]]] = {}
        for at, value in enumerate(values):
            if value[:1] == b"z":
                seq, dict_id, frame = value[1:].split(b":", 2)
                by_dict.setdefault(dict_id, []).append((at, seq, frame))
        for dict_id, frames in by_dict.items():
            decompressor = self._decompressor(tenant, int(dict_id))
            try:
                # all at once only if each frame says its size, and a plausible one:
                # decode() deals with the others one by one (and refuses the implausible)
                if any(not 0 <= zstandard.frame_content_size(f) <= MAX_BODY for _, _, f in frames):
                    raise zstandard.ZstdError("a frame without a plausible size")
                bodies = decompressor.multi_decompress_to_buffer([f for _, _, f in frames])
            except zstandard.ZstdError:  # a frame without its size, or a corrupt one:
                for at, _, _ in frames:  # each on its own, so the error names its value
                    out[at] = self.decode(tenant, values[at])
                continue
            for i, (at, seq, _) in enumerate(frames):
                out[at] = bodies[i].tobytes() + b',"seq":' + seq + b"}"
        return out

    def _decompressor(self, tenant: str, dict_id: int) -> zstandard.ZstdDecompressor:
        mine: dict[tuple[str, int], zstandard.ZstdDecompressor] | None
        mine = getattr(self._local, "decompressors", None)
        if mine is None:
            mine = self._local.decompressors = {}
        found = mine.get((tenant, dict_id))
        if found is None:
            found = mine[(tenant, dict_id)] = zstandard.ZstdDecompressor(
                dict_data=self._dictionary_for(tenant, dict_id)
            )
        return found

    def _dictionary_for(self, tenant: str, dict_id: int) -> zstandard.ZstdCompressionDict:
        found = self._dictionaries.get((tenant, dict_id))
        if found is not None:
            return found
        blob = self._dictionary(tenant)
        if blob is None:
            raise LookupError(f"tenant {tenant}: compression dictionary missing")
        found = zstandard.ZstdCompressionDict(blob)
        if found.dict_id() != dict_id:
            raise LookupError(f"tenant {tenant}: no compression dictionary {dict_id}")
        self._dictionaries[(tenant, dict_id)] = found
        return found
