"""Services beside the app in its sandbox: a fresh PostgreSQL server, a fresh Redis server per run.

    template = postgres_template(root=cache_dir / "services")  # initdb once, then found
    run(argv=["pytest"], workdir=checkout, services=[PostgreSQL(template=template), Redis()])

Each server runs in the same sandbox as the app, as the same slot uid, in the same cgroups: its
processes, memory and CPU count in the run's limits, it has no network (no TCP port at all; its
only door is a unix socket in ``/work/.services/<name>``), and it dies with the sandbox's pid
namespace however the run ends. Nothing of it is kept: its files live on the run's /work tmpfs
and ``/work/.services`` is removed before the work directory is copied back.

Start-up is kept cheap by doing ``initdb`` once per host (and PostgreSQL version): the template
cluster is built in a sandbox (postgres refuses to run as root, and only inside does the slot uid
have a name, which initdb wants), cached under ``root`` like a runtime, and copied by the host
into each run's /work before the clock starts. In the sandbox a small launcher
(launch_postgresql.sh) starts the server with ``pg_ctl -w`` and then ``exec``s the app.

Redis needs no template: its launcher (launch_redis.sh) starts ``redis-server`` on an empty
directory with every setting on the command line, waits for PING, and ``exec``s the app.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .api import run
from .bwrap import WORK
from .config import SandboxConfig
from .errors import SandboxError, SandboxSetupError
from .files import copy_in, fs_identity
from .limits import GiB, Limits, MiB
from .locks import exclusive_lock

PG_BINDIR = "/usr/lib/postgresql/15/bin"
SERVICES_DIR = ".services"  # in /work: one directory per service, removed before the copy back
PG_NAME = "pg"
PG_DIR = f"{WORK}/{SERVICES_DIR}/{PG_NAME}"  # the socket directory (and the cluster's parent)
PG_USER = "app"
PG_DATABASE = "app"
REDIS_BINDIR = "/usr/bin"
REDIS_NAME = "redis"
REDIS_DIR = f"{WORK}/{SERVICES_DIR}/{REDIS_NAME}"
REDIS_SOCKET = f"{REDIS_DIR}/redis.sock"

_FORMAT = 1
_META = "template.json"
_LAUNCHER = (Path(__file__).with_name("launch_postgresql.sh")).read_text()
_REDIS_LAUNCHER = (Path(__file__).with_name("launch_redis.sh")).read_text()
# A pool of a few dozen connections is what an app opens; each costs the server a file descriptor
# and it wants 32 spare, within Limits.open_files (1024 by default).
_REDIS_MAXCLIENTS = 128
_REDIS_POLICIES = frozenset({
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random",
    "volatile-ttl",
})  # fmt: skip

# A throw-away server for one run: nothing it writes needs to survive a crash, and it should cost
# the run as little CPU and memory as it can. Background work the app did not ask for (autovacuum,
# parallel query workers) is off because runs are judged on their CPU time.
_SETTINGS = {
    "listen_addresses": "''",  # no TCP at all, not even on the sandbox's own loopback
    "unix_socket_directories": f"'{PG_DIR}'",
    "unix_socket_permissions": "0700",
    "max_connections": "40",
    "shared_buffers": "16MB",
    "huge_pages": "off",
    "dynamic_shared_memory_type": "posix",  # /dev/shm, capped at limits.tmp
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "min_wal_size": "2MB",
    "max_wal_size": "64MB",
    "autovacuum": "off",
    "max_parallel_workers_per_gather": "0",
    "max_parallel_maintenance_workers": "0",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}

# initdb (in the sandbox, as uid 1000 "sandbox") with 1 MB WAL segments (the default 16 MB would
# take disk from the run and could pass a small limits.file_size), the superuser and the database
# named "app", trust on the socket only.
_INITDB = """
set -eu
bindir=$1
data=/work/data
"$bindir/initdb" -D "$data" -U {user} -A trust -E UTF8 --locale=C.UTF-8 -N --wal-segsize=1 >/dev/null
cat >>"$data/postgresql.conf" <<'EOF'

# sandbox/services.py: a throw-away server beside one run
{settings}
EOF
echo 'CREATE DATABASE {database};' | "$bindir/postgres" --single -D "$data" -j postgres >/dev/null
# The server was shut down cleanly: only the WAL segment in use is needed (the others, recycled
# ahead of time, would be copied into every run).
"$bindir/pg_resetwal" -D "$data" >/dev/null
"""

_MAX_ENTRIES = 20_000  # a cluster has about 1300 files

# Enough for initdb at any default page size; the build is trusted code (/usr) on no input.
_BUILD_LIMITS = Limits(
    wall_time=300, cpu_time=300, memory=1 * GiB, processes=64, file_size=64 * MiB, disk=512 * MiB,
    tmp=64 * MiB, cpus=None, copy_back_files=_MAX_ENTRIES,
)  # fmt: skip


class ServiceError(SandboxError):
    """A service's template could not be built (the message says why, with initdb's output)."""


@dataclass(frozen=True, kw_only=True)
class PostgreSQL:
    """A fresh PostgreSQL server beside the command, made from ``template`` (``postgres_template``).

    The app finds it through ``DATABASE_URL`` (``postgresql://app@/app?host=/work/.services/pg``)
    and libpq's ``PGHOST``/``PGDATABASE``/``PGUSER``; user ``app`` is the cluster's superuser,
    with no password on the socket. If the server does not start (a process or memory limit too
    small for it), the command is not run: the run exits 125 and its stderr starts with
    ``postgresql:`` and the server's last log lines.
    """

    template: Path
    bindir: str = PG_BINDIR

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": f"postgresql://{PG_USER}@/{PG_DATABASE}?host={PG_DIR}",
            "PGHOST": PG_DIR,
            "PGDATABASE": PG_DATABASE,
            "PGUSER": PG_USER,
        }

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts the server, then execs ``argv``."""
        return ["/bin/sh", "-c", _LAUNCHER, "launch-postgresql", self.bindir, *argv]

    def install(self, work_fd: int, *, uid: int, gid: int) -> None:
        """Copy the template cluster into /work/.services/pg/data, owned by the slot uid.

        Whatever the work directory brought at ``.services/pg`` is replaced: a checkout cannot
        pre-seed the database. Nothing runs in the sandbox yet, so nothing can race this.
        """
        pg_fd = _service_directory(work_fd, PG_NAME, uid=uid, gid=gid)
        try:
            with fs_identity(uid, gid):
                os.mkdir("data", 0o700, dir_fd=pg_fd)
            data_fd = os.open("data", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pg_fd)
            try:
                copy_in(self.template / "data", data_fd, uid=uid, gid=gid, max_entries=_MAX_ENTRIES)
            except SandboxSetupError as exc:
                raise SandboxSetupError(
                    f"the PostgreSQL cluster ({_size_mib(self.template / 'data')} MiB) does not fit in the run's "
                    f"disk limit beside the work directory: raise Limits.disk"
                ) from exc
            finally:
                os.close(data_fd)
        finally:
            os.close(pg_fd)

    def remove(self, work_fd: int) -> None:
        """Remove the service's files from /work (every process of the run is dead by now)."""
        _remove(work_fd, SERVICES_DIR)


@dataclass(frozen=True, kw_only=True)
class Redis:
    """A fresh, empty Redis server beside the command (Debian's ``redis-server``).

    The app finds it through ``REDIS_URL`` (``unix:///work/.services/redis/redis.sock``, the form
    redis-py's ``Redis.from_url`` reads) and ``REDIS_SOCKET`` (the bare path, for clients whose URL
    parser knows only ``redis://``, such as node-redis: ``createClient({socket: {path}})``).
    Nothing is saved (no RDB, no AOF); the dataset is capped at ``maxmemory`` bytes and, by
    default, a write past it fails with Redis's OOM error rather than silently evicting keys
    (``maxmemory_policy``: any of Redis's policies). If the server does not start (a process or
    memory limit too small for it), the command is not run: the run exits 125 and its stderr starts
    with ``redis:`` and the server's last log lines.
    """

    maxmemory: int = 64 * MiB
    maxmemory_policy: str = "noeviction"
    bindir: str = REDIS_BINDIR

    def __post_init__(self) -> None:
        # 0 would mean "no cap" to Redis.
        if not (isinstance(self.maxmemory, int) and not isinstance(self.maxmemory, bool) and self.maxmemory >= MiB):
            raise ValueError(f"Redis.maxmemory must be a number of bytes of at least 1 MiB, not {self.maxmemory!r}")
        if self.maxmemory_policy not in _REDIS_POLICIES:
            raise ValueError(
                f"Redis.maxmemory_policy must be one of {', '.join(sorted(_REDIS_POLICIES))}, "
                f"not {self.maxmemory_policy!r}"
            )

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"unix://{REDIS_SOCKET}", "REDIS_SOCKET": REDIS_SOCKET}

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts the server, waits for PING, then execs ``argv``."""
        settings = [str(self.maxmemory), self.maxmemory_policy, str(_REDIS_MAXCLIENTS)]
        return ["/bin/sh", "-c", _REDIS_LAUNCHER, "launch-redis", self.bindir, *settings, *argv]

    def install(self, work_fd: int, *, uid: int, gid: int) -> None:
        """An empty /work/.services/redis (mode 0700, the slot uid's) for the socket and the log.

        Whatever the work directory brought there (a dump to load, a symlink, a file) is removed
        first, so the server starts empty whatever the checkout holds.
        """
        os.close(_service_directory(work_fd, REDIS_NAME, uid=uid, gid=gid))

    def remove(self, work_fd: int) -> None:
        """Remove the service's files from /work (every process of the run is dead by now).

        All of /work/.services goes, as for PostgreSQL: with both services the first ``remove``
        takes the other's files too, which is right since nothing runs any more, and the second
        finds nothing. What a checkout brought under .services is never copied back either.
        """
        _remove(work_fd, SERVICES_DIR)


def _service_directory(work_fd: int, name: str, *, uid: int, gid: int) -> int:
    """A new, empty /work/.services/``name`` (mode 0700, made by the slot uid), opened.

    Whatever the work directory brought at ``.services`` (unless a directory of the slot uid) or
    at ``.services/name`` is replaced: a checkout cannot pre-seed a service. Nothing runs in the
    sandbox yet, so nothing can race this.
    """
    services_fd = _subdirectory(work_fd, SERVICES_DIR, uid=uid, gid=gid)
    try:
        _remove(services_fd, name)
        with fs_identity(uid, gid):
            os.mkdir(name, 0o700, dir_fd=services_fd)
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=services_fd)
    finally:
        os.close(services_fd)


def _subdirectory(parent_fd: int, name: str, *, uid: int, gid: int) -> int:
    """A directory ``name`` under ``parent_fd`` made by the slot uid (whatever was there is removed)."""
    with contextlib.suppress(FileNotFoundError):
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid:
            _remove(parent_fd, name)
    with fs_identity(uid, gid), contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=parent_fd)
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)


def _remove(parent_fd: int, name: str) -> None:
    """Remove ``name`` under ``parent_fd`` whatever it is, never following a symlink."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent_fd)  # fd-based: symlinks inside are removed, not followed
    else:
        os.unlink(name, dir_fd=parent_fd)


def _size_mib(path: Path) -> int:
    total = sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink())
    return round(total / MiB)


def _template_key(bindir: str) -> tuple[str, str]:
    """sha256 of the server's version, where it is, the settings and the build script; and the version."""
    try:
        version = subprocess.run(
            [f"{bindir}/postgres", "--version"], capture_output=True, text=True, timeout=30, check=True, env={}
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ServiceError(
            f"PostgreSQL's server is not at {bindir} ({exc}): install it with `apt-get install postgresql-15`"
        ) from exc
    made = {"format": _FORMAT, "bindir": bindir, "version": version, "settings": _SETTINGS, "initdb": _INITDB}
    payload = json.dumps(made, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest(), version


def _lock(path: Path, *, timeout: float) -> int:
    return exclusive_lock(
        path,
        timeout=timeout,
        busy=lambda: ServiceError(f"another build of this template held {path} for {timeout:.0f}s"),
    )


def postgres_template(
    *, root: Path, config: SandboxConfig | None = None, bindir: str = PG_BINDIR, timeout: float = 600.0
) -> Path:
    """The template cluster for this host's PostgreSQL under ``root``, made with initdb if needed.

    ``<root>/postgresql-<sha256 of version, bindir and settings>/data``. Like runtime_build: the
    first caller takes ``<root>/.<name>.lock``, builds in a private ``.build-*`` directory (initdb
    in a sandbox, run by the slot uid) and renames it into place; a second caller waits for the
    lock and finds it. Raises ServiceError with initdb's output if the build fails.
    """
    root = Path(root).absolute()
    key, version = _template_key(bindir)
    final = root / f"postgresql-{key}"
    if (final / _META).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(root / f".postgresql-{key}.lock", timeout=timeout)
    try:
        if (final / _META).is_file():
            return final  # built by whoever held the lock before us
        build = root / f".build-postgresql-{key[:16]}-{secrets.token_hex(4)}"
        build.mkdir(mode=0o700)
        try:
            settings = "\n".join(f"{name} = {value}" for name, value in _SETTINGS.items())
            script = _INITDB.format(user=PG_USER, database=PG_DATABASE, settings=settings)
            result = run(
                argv=["/bin/sh", "-c", script, "initdb", bindir],
                workdir=build,
                limits=_BUILD_LIMITS,
                config=config,
            )
            if not result.ok or not (build / "data" / "PG_VERSION").is_file():
                said = (result.stderr or result.stdout).decode(errors="replace").strip()[-2000:]
                raise ServiceError(f"building the PostgreSQL template failed ({result.describe()}):\n{said}")
            meta = {"key": key, "version": version, "bindir": bindir, "built_at": time.time(), "format": _FORMAT}
            (build / _META).write_text(json.dumps(meta, indent=2) + "\n")
            try:
                os.rename(build, final)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                shutil.rmtree(build, ignore_errors=True)  # someone finished it without our lock
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return final
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)
