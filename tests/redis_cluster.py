"""A real Redis Cluster for the tests: three masters with a replica each, from the binaries.

Six ``redis-server`` processes with ``--cluster-enabled yes`` on private ports in one
temporary folder, joined by ``redis-cli --cluster create``. The node timeout is short,
so a killed master is replaced by its replica within a few seconds. One node can be
killed (SIGKILL, as a crash) and started again; it rejoins under its old identity
(its ``nodes.conf`` stays in its folder) and, if its replica took over, as a replica.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

# A node unreachable this long is marked failed and its replica elected. Short, so the
# failover tests take seconds; long enough that a busy 2-core CI machine does not fail
# over a healthy node that was merely slow to answer.
NODE_TIMEOUT_MS = 2000
START_DEADLINE_S = 30.0
CLUSTER_BUS_OFFSET = 10000  # a node's cluster bus listens on port + 10000


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_ports(count: int, low: int = 20000, high: int = 29999) -> list[int]:
    """``count`` ports whose cluster-bus ports (+10000) are free too."""
    ports: list[int] = []
    candidates = list(range(low, high))
    random.shuffle(candidates)
    for port in candidates:
        if _port_is_free(port) and _port_is_free(port + CLUSTER_BUS_OFFSET):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"no {count} free port pairs between {low} and {high}")


def wait_until(
    predicate: Callable[[], object], what: str, timeout: float = START_DEADLINE_S
) -> None:
    """Poll ``predicate`` until truthy; a RuntimeError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


@dataclass
class ClusterNode:
    """One redis-server of the cluster."""

    port: int
    folder: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self) -> redis.Redis:
        """A plain client to this node alone (no redirections followed)."""
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=2)


@dataclass
class LocalCluster:
    """Three masters and three replicas on this machine, for one test session."""

    server_binary: str
    cli_binary: str
    masters: int = 3
    replicas_per_master: int = 1
    node_timeout_ms: int = NODE_TIMEOUT_MS
    extra_args: tuple[str, ...] = ()
    root: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="audit-trail-cluster-"))
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def url(self) -> str:
        """``REDIS_URL`` for the product: any one node is enough."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        """Start the processes, join them into a cluster and wait for ``cluster_state:ok``."""
        count = self.masters * (1 + self.replicas_per_master)
        for port in free_cluster_ports(count):
            folder = os.path.join(self.root, str(port))
            os.makedirs(folder)
            self.nodes.append(ClusterNode(port, folder))
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            wait_until(node.client().ping, f"redis-server on port {node.port}")
        subprocess.run(
            [
                self.cli_binary,
                "--cluster",
                "create",
                *(n.address for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas_per_master),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=START_DEADLINE_S,
        )
        self.wait_healthy()
        self.flush(confirmed=True)

    def _launch(self, node: ClusterNode) -> None:
        node.process = subprocess.Popen(
            [
                self.server_binary,
                "--port",
                str(node.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                node.folder,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                # a replica that lost its master takes over however long it was cut off
                "--cluster-replica-validity-factor",
                "0",
                # a replica's first sync starts at once, not after the default 5 s wait
                "--repl-diskless-sync-delay",
                "0",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                os.path.join(node.folder, "log"),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # -- state --------------------------------------------------------------------
    def running(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.process is not None]

    def _healthy(self) -> bool:
        """Every running node says ok, replicas are in sync, and there are all the masters."""
        for node in self.running():
            client = node.client()
            if client.cluster("info").get("cluster_state") != "ok":
                return False
            replication = client.info("replication")
            if replication["role"] == "slave" and replication["master_link_status"] != "up":
                return False
        roles = self.roles()
        masters = [p for p, role in roles.items() if role == "master"]
        return len(masters) == self.masters and len(roles) == len(self.running())

    def wait_healthy(self, timeout: float = START_DEADLINE_S) -> None:
        """Wait until every slot has a master and every running node agrees."""
        wait_until(self._healthy, "cluster_state:ok on every node", timeout)

    def roles(self) -> dict[int, str]:
        """Port -> ``master`` or ``slave`` for every running, connected node, as node 0 sees it."""
        anchor = self.running()[0].client()
        roles: dict[int, str] = {}
        for line in anchor.execute_command("CLUSTER", "NODES").decode().splitlines():
            parts = line.split()
            flags = parts[2].split(",")
            if "fail" in flags or "fail?" in flags or "disconnected" in parts[7]:
                continue
            port = int(parts[1].split("@")[0].rsplit(":", 1)[1])
            roles[port] = "master" if "master" in flags else "slave"
        return roles

    def node_for_key(self, key: str) -> ClusterNode:
        """The node that is master of ``key``'s slot now."""
        slot = self.client().keyslot(key)
        for start, end, master, *_ in (
            self.running()[0].client().execute_command("CLUSTER", "SLOTS")
        ):
            if start <= slot <= end:
                port = int(master[1])
                return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no master owns slot {slot}")

    def replica_of(self, node: ClusterNode) -> ClusterNode | None:
        """The master ``node`` replicates, or None for a master."""
        info = node.client().info("replication")
        if info["role"] != "slave":
            return None
        return next(n for n in self.nodes if n.port == int(info["master_port"]))

    def client(self, **kwargs: object) -> RedisCluster:
        """A cluster client, as the product builds one."""
        node = self.running()[0]
        return RedisCluster(host="127.0.0.1", port=node.port, socket_timeout=5, **kwargs)  # type: ignore[arg-type]

    def flush(self, confirmed: bool = False) -> None:
        """Empty every master (its replica follows).

        ``confirmed`` also waits until each master's replica has confirmed it, with a
        ``WAIT`` on the connection that flushed: that also makes sure replication flows
        (a replica that has just synced may not confirm the first write at once).
        """
        for node in self.running():
            client = node.client()
            if client.info("replication")["role"] != "master":
                continue
            if not confirmed:
                client.flushall()
                continue

            def flushed(c: redis.Redis = client) -> bool:
                pipe = c.pipeline(transaction=False)
                pipe.flushall()
                pipe.execute_command("WAIT", self.replicas_per_master, 1000)
                return bool(pipe.execute()[-1] >= self.replicas_per_master)

            wait_until(flushed, f"master {node.port} flushed on its replica", 20)

    # -- faults -------------------------------------------------------------------
    def kill(self, node: ClusterNode) -> None:
        """SIGKILL one node, as a crash: nothing is flushed or handed over."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)
        node.process = None

    def restart(self, node: ClusterNode) -> None:
        """Start a killed node again on its port and identity; wait for it to answer."""
        self._launch(node)
        wait_until(node.client().ping, f"redis-server on port {node.port} restarted")

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
                node.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def binaries() -> tuple[str, str] | str:
    """The redis-server and redis-cli paths, or why they cannot be used."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        return "no redis-server/redis-cli on PATH (apt-get install redis-server)"
    return server, cli


def started_cluster(server: str, cli: str) -> Iterator[LocalCluster]:
    """A started cluster, cleaned up when the generator is closed (for a fixture)."""
    cluster = LocalCluster(server, cli)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()
