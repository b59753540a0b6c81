"""A Redis primary, its replicas and three sentinels of a test's own: real ``redis-server`` processes
(sentinel mode is ``redis-server <file> --sentinel``), each on a free port, each with AOF on.

Used by tests/unit/test_redis_clients.py and tests/integration/test_sentinel.py. Sentinels notice a
dead primary after ``down_after_ms`` (short here; production uses 5-30 s) and promote a replica.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import redis

from sandbox.stack import free_port, port_open, spawn, stop_processes, wait_for

MASTER = "mymaster"


def redis_server_installed() -> bool:
    return shutil.which("redis-server") is not None


class SentinelCluster:
    def __init__(self, base: Path, *, password: str = "", sentinel_password: str = "", replicas: int = 1,
                 sentinels: int = 3, quorum: int = 2, down_after_ms: int = 1000, monitor: str = MASTER):
        self.base, self.password, self.sentinel_password = base, password, sentinel_password
        self.monitor, self.quorum, self.down_after_ms = monitor, quorum, down_after_ms
        self.server_ports = [free_port() for _ in range(1 + replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.sentinels: dict[int, subprocess.Popen[bytes]] = {}

    # -- start and stop ---------------------------------------------------------------------------
    def start(self) -> SentinelCluster:
        primary, *replicas = self.server_ports
        self._start_server(primary)
        for port in replicas:
            self._start_server(port, replica_of=primary)
        for port in self.sentinel_ports:
            self._start_sentinel(port, primary)
        wait_for(self._settled, 20, "the sentinels to see the primary, its replicas and each other")
        return self

    def stop(self) -> None:
        stop_processes([*self.sentinels.values(), *self.servers.values()], grace=3)

    def _start_server(self, port: int, replica_of: int | None = None) -> None:
        directory = self.base / f"redis-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
                   "--appendonly", "yes", "--maxmemory-policy", "noeviction", "--save", "",
                   "--logfile", str(directory / "redis.log")]
        if self.password:
            command += ["--requirepass", self.password, "--masterauth", self.password]
        if replica_of:
            command += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.servers[port] = spawn(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", port), 10, f"redis-server on {port}")

    def _start_sentinel(self, port: int, primary: int) -> None:
        directory = self.base / f"sentinel-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        lines = [f"port {port}", "bind 127.0.0.1", f"dir {directory}", f"logfile {directory / 'sentinel.log'}",
                 f"sentinel monitor {self.monitor} 127.0.0.1 {primary} {self.quorum}",
                 f"sentinel down-after-milliseconds {self.monitor} {self.down_after_ms}",
                 f"sentinel failover-timeout {self.monitor} 10000",
                 f"sentinel parallel-syncs {self.monitor} 1"]
        if self.password:
            lines.append(f"sentinel auth-pass {self.monitor} {self.password}")
        if self.sentinel_password:
            lines += [f"requirepass {self.sentinel_password}", f"sentinel sentinel-pass {self.sentinel_password}"]
        config = directory / "sentinel.conf"  # Sentinel rewrites its file: one of its own per process
        config.write_text("\n".join(lines) + "\n")
        self.sentinels[port] = spawn(["redis-server", str(config), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: port_open("127.0.0.1", port), 10, f"sentinel on {port}")

    # -- what the sentinels say ----------------------------------------------------------------
    def sentinel_client(self, port: int | None = None) -> redis.Redis:
        return redis.Redis(port=port or self.sentinel_ports[0], password=self.sentinel_password or None,
                           decode_responses=True, socket_timeout=2, socket_connect_timeout=2)

    def master_state(self, port: int | None = None) -> dict[str, Any]:
        return cast("dict[str, Any]", self.sentinel_client(port).sentinel_master(self.monitor))

    def primary_port(self) -> int:
        return int(self.master_state()["port"])

    def _settled(self) -> bool:
        try:
            states = [self.master_state(port) for port in self.sentinel_ports]
        except redis.exceptions.RedisError:
            return False
        replicas = len(self.server_ports) - 1
        return all(int(s["num-slaves"]) >= replicas and int(s["num-other-sentinels"]) >= len(self.sentinel_ports) - 1
                   for s in states)

    # -- the failover ----------------------------------------------------------------------------
    def kill_primary(self) -> int:
        """SIGKILL the current primary (no shutdown, no AOF flush: a lost machine); returns its port."""
        port = self.primary_port()
        process = self.servers[port]
        process.send_signal(signal.SIGKILL)
        process.wait()
        return port

    def wait_promoted(self, old_port: int, timeout: float = 30) -> int:
        """Wait until every sentinel names a new primary that answers as one; returns its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ports = {int(self.master_state(port)["port"]) for port in self.sentinel_ports}
                if len(ports) == 1 and old_port not in ports:
                    new = ports.pop()
                    role = self.server_client(new).role()[0]
                    if role == "master":
                        return new
            except redis.exceptions.RedisError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"no replica was promoted within {timeout} s of killing {old_port}")

    def server_client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password or None, decode_responses=True, socket_timeout=2)

    def env(self, db: int = 0) -> dict[str, str]:
        """The settings that point a process at this cluster through Sentinel."""
        env = {"REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
               "REDIS_SENTINEL_MASTER": self.monitor, "REDIS_DB": str(db),
               # a URL nothing answers on: every client must go through the sentinels
               "REDIS_URL": f"redis://127.0.0.1:{free_port()}/{db}"}
        if self.password:
            env["REDIS_PASSWORD"] = self.password
        if self.sentinel_password:
            env["REDIS_SENTINEL_PASSWORD"] = self.sentinel_password
        return env
