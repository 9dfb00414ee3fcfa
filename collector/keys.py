"""Every Redis key audit-trail writes, in one place.

Layout (prefix ``audit``):

- ``audit:ingest`` or ``audit:ingest:{k}``: the direct producers' ingest stream(s), consumer
  group ``audit-workers``
- ``audit:ingest:http`` or ``audit:ingest:http:{k}``: events accepted over HTTP, consumed by
  the same group; only the API writes them (``{audit:ingest:http}:bytes`` /
  ``audit:ingest:http:{k}:bytes``: a hash of the bytes and entries ever added, for the
  byte backlog limit)
- ``{audit:ingest}:delivered`` / ``audit:ingest:{k}:delivered``, and ``...:deleted``: per
  ingest stream (in its slot), entries delivered to the group, and entries a producer
  deleted before delivery (``collector.stream_watch``)
- ``audit:dead``: the dead-letter stream; ``{audit:dead}:seen:<source>/<id>``: a day-long
  marker per dead-lettered entry, so a redelivered entry is not dead-lettered twice;
  ``{audit:dead}:total``: entries ever dead-lettered (counted by the script that adds them)
- ``audit:t:{<tenant>}:*``: one tenant's store; the hash tag puts all of it in one
  cluster slot, so the store script (which assigns the dense ``seq``) is one atomic
  step on one node:
  - ``:events``   hash, event id -> stored JSON, or ``z<seq>:<dict id>:<zstd frame>``
    once the tenant has a dictionary (``collector.compression``): read it through
    ``Store.get_raw``/``get_raw_many``, or pass a value read directly to ``Store.decode``
  - ``:zdict``    the tenant's zstd dictionary, trained on its first events, never changed
  - ``:seq``      counter of events stored in the tenant
  - ``:ix:time``  sorted set of members ``<18-digit µs since 0001-01-01>|<id>``, all
    scores 0, so lexicographic ranges are time ranges and ties break on the id
  - ``:pl:<field>:<bucket>:<value>``  posting lists (``collector.postings``): a string of
    the same members, each followed by a newline, of the events with that filter value
    whose ``occurred_at`` falls in the time bucket (an hour for ``service``, ``type`` and
    ``outcome``, a day for ``actor_id`` and ``target_id``), in the order they were stored;
    ``outcome=success`` has none (it is "neither failure nor unknown")
  - ``:pl-compacting``  a big posting list's compacted copy while a purge compacts it
    in slices (renamed over the list at the end)
  - ``:ix:<field>:<value>``  releases before posting lists: the same members in one sorted
    set per filter value; ``audit-trail migrate`` converts and deletes them
  - ``:ix:seq``   sorted set, event id scored by its ``seq``: persistence order, for
    ``after_seq`` listings, the live tail and the integrity tree's leaves
  - ``:tail``     stream capped at one entry: the store script adds one per call that
    stored anything, and live tails block on it (``XREAD BLOCK``) instead of polling
  - ``:tree:size``   the number of leaves integrated into the tenant's Merkle tree
    (``collector.integrity``); leaf ``n - 1`` is the event with ``seq = n``
  - ``:tree:<level>:<chunk>``  stored rows of the tree (``collector.tiles``): level 0, 8,
    16, ... hashes, 32 bytes each, concatenated; chunk ``c`` holds hashes
    ``c * 65536 .. c * 65536 + 65535`` of its row. Never purged: proofs need them.
  - ``:tree:lock``   held by the one worker integrating and signing the tenant
  - ``:checkpoint``  the latest signed checkpoint (a C2SP note)
  - ``:checkpoints`` sorted set, every signed checkpoint note, scored by its tree size
  - ``:purged``   bitmap: bit ``seq`` set when retention purged that event. Retention
    purges only events already in the tree (``seq <= :tree:size``) and sets their bit in
    the same script, so ``audit-trail verify`` reports them as purged, not missing.
  - ``:duplicates`` counter of deliveries of an id already stored (the store script's)
  - ``:hold``     string, present while the tenant is under legal hold (JSON reason);
    the purge script reads it, so no event of a held tenant is ever purged
- ``audit:tenants``: set of tenants that have events
- ``audit:workers``: sorted set, worker name -> last heartbeat (ms)
- ``audit:apikeys``: hash, key name -> JSON (digest, scopes, tenants, created_at)
- ``audit:apikey:<sha256 of the secret>``: the key's name, for lookup by secret
- ``audit:retention``: hash, tenant -> retention days (0: keep forever)
- ``audit:holds``: hash, tenant -> JSON of the hold (the list ``retention show`` prints;
  the tenant's own ``:hold`` key is what purging obeys)
- ``audit:lock:<name>``: short-lived locks for housekeeping one worker should do at a time
- ``audit:count:<name>``: system-wide counts (``conflicts``)
- ``audit:secret:<name>``: a deployment's secrets, made once (``cursor``: signs cursors)

On Redis Cluster every key above lands on the slot of its hash tag (or of its whole name):
a tenant's store on one master, each ingest partition ``{k}`` on its own slot, the dead
letters and their markers together. Nothing written spans slots in one atomic step;
``tests/test_slots.py`` checks it, and the test suite runs on a real cluster.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

GROUP = "audit-workers"


@dataclass(frozen=True)
class KeyNames:
    """Key names for one prefix and partition count."""

    prefix: str = "audit"
    partitions: int = 1

    # -- ingest streams -------------------------------------------------------------
    def ingest_streams(self) -> list[str]:
        """The direct producers' ingest streams, in partition order."""
        if self.partitions == 1:
            return [f"{self.prefix}:ingest"]
        return [f"{self.prefix}:ingest:{{{k}}}" for k in range(self.partitions)]

    def http_streams(self) -> list[str]:
        """The streams of events accepted over HTTP, in partition order: the API's alone
        (no producer account may write them), each in its partition's slot."""
        if self.partitions == 1:
            return [f"{self.prefix}:ingest:http"]
        return [f"{self.prefix}:ingest:http:{{{k}}}" for k in range(self.partitions)]

    def all_ingest_streams(self) -> list[str]:
        """Every stream the workers consume: the direct producers', then the HTTP ones."""
        return self.ingest_streams() + self.http_streams()

    def stream_delivered(self, stream: str) -> str:
        """Entries of ``stream`` delivered to the group (or found deleted before)."""
        return f"{self._slot_of(stream)}:delivered"

    def stream_bytes(self, stream: str) -> str:
        """What was ever added to an HTTP ingest stream: a hash of bytes and entries."""
        return f"{self._slot_of(stream)}:bytes"

    def stream_deleted(self, stream: str) -> str:
        """Entries of ``stream`` deleted before any worker stored them."""
        return f"{self._slot_of(stream)}:deleted"

    @staticmethod
    def _slot_of(stream: str) -> str:
        """A prefix hashing to ``stream``'s slot: the stream itself when it has a hash
        tag, else the stream's name as the tag."""
        return stream if "{" in stream else f"{{{stream}}}"

    @property
    def dead(self) -> str:
        """The dead-letter stream."""
        return f"{self.prefix}:dead"

    def dead_marker(self, source: str, source_id: str) -> str:
        """Marks a source entry as dead-lettered; tagged with the dead stream's own name,
        so it hashes to the dead stream's slot and one script can touch both."""
        return f"{{{self.dead}}}:seen:{source}/{source_id}"

    # -- one tenant's store (one hash slot) -------------------------------------------
    def tenant_tag(self, tenant: str) -> str:
        """The common, hash-tagged prefix of a tenant's keys."""
        return f"{self.prefix}:t:{{{tenant}}}"

    def events(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:events"

    def seq(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:seq"

    def dictionary(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:zdict"

    def time_index(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:ix:time"

    def seq_index(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:ix:seq"

    def tail_signal(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:tail"

    def tree_size(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:tree:size"

    def tree_row(self, tenant: str, level: int, chunk: int) -> str:
        return f"{self.tenant_tag(tenant)}:tree:{level}:{chunk}"

    def tree_lock(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:tree:lock"

    def checkpoint(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:checkpoint"

    def checkpoints(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:checkpoints"

    def purged(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:purged"

    def compacting(self, tenant: str) -> str:
        """Scratch string of a big posting list being compacted after a purge
        (``compact.lua``)."""
        return f"{self.tenant_tag(tenant)}:pl-compacting"

    def field_index_pattern(self, tenant: str) -> str:
        """A SCAN pattern matching the filter sets of releases before posting lists
        (``<tag>:ix:<field>:<value>``, converted and deleted by ``audit-trail migrate``),
        and the time and seq indexes, which the caller tells apart."""
        return f"{self.tenant_tag(tenant)}:ix:*"

    def posting_list(self, tenant: str, field: str, bucket: int, value: str) -> str:
        """The members of a filter value's events in one time bucket (``collector.postings``)."""
        return f"{self.tenant_tag(tenant)}:pl:{field}:{bucket}:{value}"

    def posting_lists(self, tenant: str, pairs: Iterable[tuple[str, int, str]]) -> list[str]:
        """:meth:`posting_list` for many (field, bucket, value) triples (the worker's hot path)."""
        base = f"{self.tenant_tag(tenant)}:pl:"
        return [f"{base}{field}:{bucket}:{value}" for field, bucket, value in pairs]

    # -- global bookkeeping -----------------------------------------------------------
    @property
    def tenants(self) -> str:
        return f"{self.prefix}:tenants"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def api_keys(self) -> str:
        return f"{self.prefix}:apikeys"

    def api_key_digest(self, digest: str) -> str:
        return f"{self.prefix}:apikey:{digest}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"

    def counter(self, name: str) -> str:
        """A system-wide count (``conflicts``: deliveries refused as conflicting duplicates)."""
        return f"{self.prefix}:count:{name}"

    def secret(self, name: str) -> str:
        return f"{self.prefix}:secret:{name}"

    # -- operations: counters, retention, holds ---------------------------------------
    @property
    def dead_total(self) -> str:
        """Counter of dead letters ever added; in the dead stream's slot."""
        return f"{{{self.dead}}}:total"

    def duplicates(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:duplicates"

    def hold(self, tenant: str) -> str:
        return f"{self.tenant_tag(tenant)}:hold"

    @property
    def holds(self) -> str:
        return f"{self.prefix}:holds"

    @property
    def retention(self) -> str:
        return f"{self.prefix}:retention"
