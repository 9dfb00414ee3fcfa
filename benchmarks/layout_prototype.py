"""A measured prototype of a compact storage layout, against today's, on the same events.

Not the product's code: it writes straight into a private redis-server (free port, temp
folder) to show what each change of layout buys in memory and Redis CPU per stored event,
so that the product's layout can be changed (with ``audit-trail migrate``) on figures.

The same events as ``scale.py`` (one tenant, ~866 bytes of JSON), prepared by the
product's ``prepare`` (so the stored bodies are byte for byte today's), stored in batches
of 256, one script call per batch, under each layout in turn from an empty database:

- ``today``: the product's own ``Store.store`` (events hash by id, 55-byte index members
  ``µs|id`` in a time set and one set per filter value, and the seq index if present);
- ``zstd``: today's layout with the bodies compressed (below), nothing else changed;
- ``time-only``: the compact layout below without its filter indexes (what they cost);
- ``compact``: the prototype below.

The compact layout (all keys under the tenant's hash tag, so one slot):

- bodies compressed with zstd and a dictionary trained on the tenant's first events
  (``:zdict``), in hashes of 64 bodies bucketed by seq (``:b:<seq // 64>``, field
  ``seq % 64``); the seq is appended on read, so a read gives today's bytes exactly;
- ids to seqs in 65,536 hashes bucketed by a hash of the id (``:ids:<crc32 % 65536>``):
  small enough that Redis keeps them as listpacks (no per-entry pointers);
- index members of 12 bytes: 7 bytes of µs since the epoch, the 4-byte seq, the outcome's
  first letter; so an index walk also filters ``outcome=success`` by the last byte, and
  only ``failure``/``unknown`` events get an outcome set (``success`` is 95% of events);
- the script gathers a batch's members per set and adds each set's in one ``ZADD``.

Printed per layout: ``used_memory`` per event and against the raw JSON, Redis CPU per
stored event (the store step only: no stream, no worker), the Python time to compress,
and a check that every sampled event reads back byte for byte as today.

    .venv/bin/pip install zstandard   # the prototype only; not a dependency of the product
    .venv/bin/python benchmarks/layout_prototype.py [--events 200000]
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import redis
import zstandard
from scale import TENANT, EventMaker
from worker_throughput import redis_server

ROOT = Path(__file__).resolve().parents[1]
BATCH = 256
ID_BUCKETS = 65_536
BODIES_PER_BUCKET = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

COMPACT_STORE = """
-- KEYS[1] the seq counter; every other key is built from ARGV[1], the tenant's tag.
-- ARGV: tag, then per event: id, id bucket, 7-byte time, outcome letter, body, nk, and
-- nk index names (field:value).
local tag = ARGV[1]
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local sets, order, out = {}, {}, {}
local function add(key, member)
  local members = sets[key]
  if members == nil then
    members = {}
    sets[key] = members
    order[#order + 1] = key
  end
  members[#members + 1] = 0
  members[#members + 1] = member
end
local a = 2
while a <= #ARGV do
  local id, bucket, when, outcome = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local body, nk = ARGV[a + 4], tonumber(ARGV[a + 5])
  local ids = tag .. 'ids:' .. bucket
  if redis.call('HSETNX', ids, id, seq + 1) == 1 then
    seq = seq + 1
    redis.call('HSET', tag .. 'b:' .. math.floor(seq / 64), seq % 64, body)
    local member = when .. struct.pack('>I4', seq) .. outcome
    add(tag .. 'ix:time', member)
    for j = 1, nk do add(tag .. 'ix:' .. ARGV[a + 5 + j], member) end
    out[#out + 1] = seq
  else
    out[#out + 1] = 0
  end
  a = a + 6 + nk
end
redis.call('SET', KEYS[1], seq)
for _, key in ipairs(order) do
  redis.call('ZADD', key, unpack(sets[key]))
end
return out
"""

COMPACT_GET = """
-- KEYS[1] an id bucket; ARGV[1] the id, ARGV[2] the tag. Returns {seq, compressed body}.
local seq = redis.call('HGET', KEYS[1], ARGV[1])
if not seq then return false end
local n = tonumber(seq)
return {seq, redis.call('HGET', ARGV[2] .. 'b:' .. math.floor(n / 64), n % 64)}
"""


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def measure(client: redis.Redis, label: str, store_batches, n: int, raw: float) -> None:
    client.flushall()
    client.config_set("slowlog-log-slower-than", 1000)
    client.slowlog_reset()
    before, cpu = int(client.info("memory")["used_memory"]), server_cpu(client)
    py = store_batches()
    cpu = server_cpu(client) - cpu
    used = int(client.info("memory")["used_memory"]) - before
    slow = max((e["duration"] for e in client.slowlog_get(10_000)), default=0) / 1000
    print(
        f"{label:<8} {used / n:8.0f} B/event {used / n / raw:6.2f}x raw   "
        f"Redis CPU {cpu / n * 1e6:6.1f} us/event   Python {py / n * 1e6:6.1f} us/event   "
        f"longest call {slow:5.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from collector.events import prepare
    from collector.keys import KeyNames
    from collector.settings import Settings
    from collector.store import Store
    from collector.timefmt import parse_rfc3339
    from collector.writer import BatchWriter, Delivery

    maker = EventMaker(args.events)
    raws = [maker.make(i) for i in range(args.events)]
    raw = sum(map(len, raws)) / len(raws)
    import orjson

    prepared = []
    for blob in raws:
        data = orjson.loads(blob)
        prepared.append(prepare(data, parse_rfc3339(data["occurred_at"])))
    print(f"{args.events:,} events, {raw:.0f} bytes of raw JSON each on average")

    samples = [p.body for p in prepared[:2000]]
    zdict = zstandard.train_dictionary(32 * 1024, samples, level=3)
    compressor = zstandard.ZstdCompressor(level=3, dict_data=zdict, write_content_size=False)
    decompressor = zstandard.ZstdDecompressor(dict_data=zdict)
    comp_sizes = [len(compressor.compress(p.body)) for p in prepared[:5000]]
    print(
        f"zstd, 32 KiB dictionary trained on 2,000 bodies: {sum(comp_sizes) / len(comp_sizes):.0f}"
        f" bytes per body (stored JSON {sum(len(p.body) for p in prepared[:5000]) / 5000:.0f})"
    )

    with redis_server() as port:
        client = redis.Redis(port=port)
        store = Store(client, KeyNames())
        writer = BatchWriter(client, Settings())

        def today() -> float:
            started = time.process_time()
            for i in range(0, len(prepared), BATCH):
                writer.write([Delivery(p.id, p) for p in prepared[i : i + BATCH]])
            return time.process_time() - started

        tag = f"audit:t:{{{TENANT}}}:"
        script = client.register_script(COMPACT_STORE)

        def compact(indexes: bool = True) -> float:
            python = 0.0
            client.set(tag + "zdict", zdict.as_bytes())
            for i in range(0, len(prepared), BATCH):
                started = time.process_time()
                args: list[object] = [tag]
                for event in prepared[i : i + BATCH]:
                    when = int(event.member[:18]) - 62135596800 * 1_000_000  # µs since 1970
                    fields = dict(event.indexed)
                    names = [f"{f}:{v}" for f, v in event.indexed if f != "outcome" and indexes]
                    if fields.get("outcome", "success") != "success" and indexes:
                        names.append(f"outcome:{fields['outcome']}")
                    args += (
                        event.id,
                        zlib.crc32(event.id.encode()) % ID_BUCKETS,
                        struct.pack(">Q", when)[1:],
                        fields.get("outcome", "success")[0],
                        compressor.compress(event.body),
                        len(names),
                        *names,
                    )
                python += time.process_time() - started
                script(keys=[tag + "seq"], args=args)
            return python

        def zstd_bodies() -> float:
            # today's layout, bodies compressed (the store appends its seq to the blob:
            # a few bytes more than a real change would store)
            started = time.process_time()
            small = [p._replace(body=compressor.compress(p.body)) for p in prepared]
            python = time.process_time() - started
            for i in range(0, len(small), BATCH):
                writer.write([Delivery(p.id, p) for p in small[i : i + BATCH]])
            return python

        measure(client, "zstd", zstd_bodies, len(prepared), raw)
        measure(client, "today", today, len(prepared), raw)
        today_bytes = {p.id: store.get_raw(TENANT, p.id) for p in prepared[::997]}
        measure(client, "time-only", lambda: compact(indexes=False), len(prepared), raw)
        measure(client, "compact", compact, len(prepared), raw)
        get = client.register_script(COMPACT_GET)
        for event_id, expected in today_bytes.items():
            bucket = f"{tag}ids:{zlib.crc32(event_id.encode()) % ID_BUCKETS}"
            seq, blob = get(keys=[bucket], args=[event_id, tag])
            body = decompressor.decompress(blob, max_output_size=1 << 20)
            assert body + b',"seq":' + seq + b"}" == expected, event_id
        print(f"read back {len(today_bytes)} sampled events: the same bytes as today")
        encodings: dict[str, int] = {}
        for key in client.scan_iter(match=tag + "*", count=1000):
            kind = key.decode()[len(tag) :].split(":")[0]
            encoding = client.object("encoding", key)
            label = f"{kind}:{encoding.decode() if isinstance(encoding, bytes) else encoding}"
            encodings[label] = encodings.get(label, 0) + 1
        print("compact keys by kind and encoding:", dict(sorted(encodings.items())))
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
