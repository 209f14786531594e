"""Parts that fail on purpose: a Redis and a PostgreSQL of the test's own, to stop and start again
while the portal's real processes use them. The machine's own servers are shared by every test
process of the run, so they are never the ones stopped."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.workers import as_user, free_port, wait_for


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """A server process the test starts, stops and starts again on the same port."""

    argv: list[str]
    port: int
    log_path: Path
    user: tuple[int, int] | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **as_user(self.user)
            )
        wait_for(lambda: self.process.poll() is not None or _listening(self.port), timeout=60, what=f"{self.argv[0]}")
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.argv[0]} exited with {self.process.returncode}:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        wait_for(lambda: not _listening(self.port), timeout=10, what="the port to close")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def private_redis(folder: Path) -> Iterator[Server]:
    """A Redis on a free loopback port that keeps nothing on disk: stopped, it loses its queues."""
    port = free_port()
    server = Server(
        argv=[
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        port=port,
        log_path=folder / f"redis-{port}.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not versions:
        raise RuntimeError("PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin)")
    return versions[-1].parent


@contextmanager
def private_postgres() -> Iterator[Server]:
    """A PostgreSQL cluster of its own on a free loopback port (trust authentication, user postgres).

    Run as the postgres system user (the server refuses root); stopped with a fast shutdown, which
    ends every client's connection as a restart does.
    """
    account = pwd.getpwnam("postgres")
    user = (account.pw_uid, account.pw_gid)
    folder = Path(tempfile.mkdtemp(prefix="portal-faults-pg-"))
    os.chown(folder, *user)
    data = folder / "data"
    binaries = _postgres_bin()
    subprocess.run(
        [binaries / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **as_user(user),
    )
    port = free_port()
    server = Server(
        argv=[
            str(binaries / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(folder),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ],
        port=port,
        log_path=folder / "postgres.log",
        user=user,
    )
    server.start()
    try:
        subprocess.run(
            [binaries / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "portal"],
            check=True,
            capture_output=True,
            **as_user(user),
        )
        yield server
    finally:
        # SIGINT: fast shutdown, clients are disconnected.
        with contextlib.suppress(Exception):
            server.stop(signal.SIGINT)
        shutil.rmtree(folder, ignore_errors=True)
