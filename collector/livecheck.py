"""``audit-trail verify`` over the live store: feed one tenant's events, in ``seq`` order,
to the verify core, with the tree's stored leaf hashes to pin each problem to its seq.

Events are read by ``seq`` from the seq index in windows (a range of scores and one
HMGET per window), so a million events cost a few hundred round trips. The stored leaf
hashes are trusted only if the stored tree reproduces the newest signed root it covers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import cast

import redis

from collector import checkpointdir
from collector.checkpoint import origin_of
from collector.leaves import leaf_hash_of
from collector.merkle import HASH_SIZE
from collector.settings import Settings
from collector.signednote import Verifier
from collector.store import Store
from collector.tiles import TiledTree
from collector.treestore import tenant_tree
from collector.verify import Problem, Report, TreeCheck, check_checkpoints, claimed_seq

WINDOW = 5000  # seqs per round trip
LOOKAHEAD = 2  # windows being hashed in other processes while one is checked here
SHARE = 3  # with worker processes, this one hashes one window in SHARE
PARALLEL_FROM = 50_000  # events: below this, starting worker processes costs more than it saves
ROW_WINDOW = 1 << 16  # stored leaf hashes per read (2 MiB)


class StoredLeaves:
    """The tree's stored leaf hashes, read a window at a time as the walk moves on."""

    def __init__(self, tree: TiledTree, size: int) -> None:
        self.tree = tree
        self.size = size
        self._window = -1
        self._row = b""

    def _load(self, window: int) -> bytes:
        if window != self._window:
            self._row = self.tree.leaf_row(window * ROW_WINDOW, ROW_WINDOW)
            self._window = window
        return self._row

    def get(self, seq: int) -> bytes:
        window, offset = divmod(seq - 1, ROW_WINDOW)
        at = offset * HASH_SIZE
        return self._load(window)[at : at + HASH_SIZE]

    def find(self, leaf: bytes) -> int | None:
        for window in range((self.size + ROW_WINDOW - 1) // ROW_WINDOW):
            row = self.tree.leaf_row(window * ROW_WINDOW, ROW_WINDOW)
            at = row.find(leaf)
            while at != -1 and at % HASH_SIZE:
                at = row.find(leaf, at + 1)
            if at != -1:
                return window * ROW_WINDOW + at // HASH_SIZE + 1
        return None


class LiveLog:
    """One tenant's events, checkpoints and tree in Redis, as the verifier reads them."""

    def __init__(self, redis_client: redis.Redis, settings: Settings, tenant: str) -> None:
        self.redis = redis_client
        self.keys = settings.key_names
        self.tenant = tenant
        self.tree = tenant_tree(redis_client, self.keys, tenant)
        self.store = Store(redis_client, self.keys)  # reads bodies as stored (decoded)

    def notes(self) -> tuple[list[str], str | None]:
        """Every checkpoint in Redis, and the one Redis calls the latest."""
        history = cast(list[bytes], self.redis.zrange(self.keys.checkpoints(self.tenant), 0, -1))
        latest = cast(bytes | None, self.redis.get(self.keys.checkpoint(self.tenant)))
        return [n.decode() for n in history], latest.decode() if latest else None

    def ends(self) -> tuple[int, int]:
        """The seq counter, and the largest seq anything in Redis names, read at one instant
        (the store script moves both together, so a seq past the counter is forged)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.keys.seq(self.tenant))
        pipe.zrange(self.keys.seq_index(self.tenant), -1, -1, withscores=True)
        pipe.get(self.keys.tree_size(self.tenant))
        counter, last, tree_size = pipe.execute()
        counter = int(counter or 0)
        return counter, max(counter, int(tree_size or 0), *(int(s) for _, s in last))

    def purged(self) -> Callable[[int], bool]:
        """Whether retention purged a seq (bit ``seq`` of the purged bitmap)."""
        bits = cast(bytes, self.redis.get(self.keys.purged(self.tenant)) or b"")

        def is_purged(seq: int) -> bool:
            byte = seq >> 3
            return byte < len(bits) and bool(bits[byte] >> (7 - (seq & 7)) & 1)

        return is_purged

    def _window(self, first: int, last: int) -> dict[int, list[bytes]]:
        """The stored JSON of the events the seq index puts at each seq first..last."""
        pairs = cast(
            list[tuple[bytes, float]],
            self.redis.zrange(
                self.keys.seq_index(self.tenant), first, last, byscore=True, withscores=True
            ),
        )
        at: dict[int, list[bytes]] = defaultdict(list)
        if not pairs:
            return at
        ids = [i for i, _ in pairs]
        bodies = self.store.get_raw_many(self.tenant, ids, keep_undecodable=True)
        for (_, score), body in zip(pairs, bodies, strict=True):
            if body is not None:
                at[int(score)].append(body)
        return at

    def slots(
        self, end: int, hasher: Executor | None = None
    ) -> Iterator[tuple[int, list[bytes], bytes | None]]:
        """(seq, the stored JSON of every event the seq index puts there, the leaf hash when
        there is exactly one) for seq 1..end. With ``hasher``, most windows are hashed in
        other processes while this one checks the window before."""
        ahead: deque[tuple[int, int, dict[int, list[bytes]], Future[list[bytes]]]] = deque()
        for n, first in enumerate(range(1, end + 1, WINDOW)):
            last = min(first + WINDOW - 1, end)
            at = self._window(first, last)
            singles = [at[seq][0] for seq in sorted(at) if len(at[seq]) == 1]
            # This process checks every window too, so it hashes only one in SHARE.
            if hasher is None or n % SHARE == 0:
                leaves: Future[list[bytes]] = Future()
                leaves.set_result(leaf_hashes(singles))
            else:
                leaves = hasher.submit(leaf_hashes, singles)
            ahead.append((first, last, at, leaves))
            if len(ahead) > LOOKAHEAD:
                yield from _slots_of(*ahead.popleft())
        while ahead:
            yield from _slots_of(*ahead.popleft())

    def strays(self, limit: int = 10) -> list[tuple[int | None, bytes]]:
        """Events in the events hash that the seq index does not list: (claimed seq, JSON)."""
        out: list[tuple[int | None, bytes]] = []
        index = self.keys.seq_index(self.tenant)
        for event_id, _ in self.redis.hscan_iter(self.keys.events(self.tenant), count=1000):
            if self.redis.zscore(index, event_id) is None:
                (body,) = self.store.get_raw_many(self.tenant, [event_id], keep_undecodable=True)
                assert body is not None
                out.append((claimed_seq(body), body))
                if len(out) >= limit:
                    break
        return out


def leaf_hashes(bodies: list[bytes]) -> list[bytes]:
    """The leaf hashes of stored events (run in a worker process for big tenants)."""
    return [leaf_hash_of(body) for body in bodies]


def _slots_of(
    first: int, last: int, at: dict[int, list[bytes]], leaves: Future[list[bytes]]
) -> Iterator[tuple[int, list[bytes], bytes | None]]:
    hashes = iter(leaves.result())
    for seq in range(first, last + 1):
        docs = at.get(seq, [])
        yield seq, docs, next(hashes) if len(docs) == 1 else None


@contextmanager
def _hasher(events: int) -> Iterator[Executor | None]:
    """Worker processes for the leaf hashes of a big tenant (None for a small one)."""
    workers = (os.cpu_count() or 1) - 1
    if events < PARALLEL_FROM or workers < 1:
        yield None
        return
    # fork: the children only hash bytes they are handed; nothing is re-imported.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        yield pool


def verify_tenant(
    redis_client: redis.Redis,
    settings: Settings,
    tenant: str,
    verifier: Verifier,
    checkpoint_dir: str | None = None,
) -> Report:
    """Verify one tenant of the live store against every checkpoint known."""
    log = LiveLog(redis_client, settings, tenant)
    history, latest = log.notes()
    if checkpoint_dir:
        history += checkpointdir.read_checkpoints(checkpoint_dir, tenant)
    signed = check_checkpoints(history, verifier, origin_of(settings.log_origin, tenant), latest)
    tree_size = log.tree.size()
    covered = [cp for cp in signed.valid if cp.size <= tree_size]
    tree_ok = not covered or log.tree.root(covered[-1].size) == covered[-1].root
    check = TreeCheck(tenant, signed, StoredLeaves(log.tree, tree_size) if tree_ok else None)
    counter, end = log.ends()
    is_purged = log.purged()
    hole: int | None = None
    present = 0
    with _hasher(end) as hasher:
        for seq, docs, leaf in log.slots(end, hasher):
            present += len(docs)
            if hole is not None:
                if docs:
                    check.report("missing", hole, f"no event has seq {hole}")
                    break
                continue
            if check.broken:
                break
            if not docs:
                if is_purged(seq):
                    check.purged(seq)
                else:
                    hole = seq
            elif len(docs) > 1:
                check.report("unexpected", seq, f"{len(docs)} events claim seq {seq}")
            elif seq > counter:
                check.report("unexpected", seq, f"seq {seq} is past the seq counter ({counter})")
            else:
                check.leaf(seq, docs[0], leaf)
    if hole is not None and not check.broken:
        check.report("truncated", hole, f"events end at seq {hole - 1}, but seq {end} was stored")
    if not check.broken and redis_client.hlen(log.keys.events(tenant)) > present:
        for claimed, _ in log.strays():
            seq = claimed if claimed is not None else end + 1
            check.report("unexpected", seq, f"an event outside the seq index claims seq {seq}")
    report = check.finish(end)
    if report.ok and not tree_ok:
        size = covered[-1].size
        report.problem = Problem(
            1, "inconsistent", f"the stored tree does not reproduce checkpoint {size}"
        )
    return report
