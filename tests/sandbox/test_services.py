"""PostgreSQL and Redis servers beside the command, in the same sandbox: reachable through their
sockets only, counted in the run's limits, fresh for every run, and gone however the run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import Limit, MiB, PostgreSQL, Redis, Runtime, SandboxConfig, postgres_template, run, runtime_build
from sandbox.slots import processes_of_uid

from .conftest import REPO, SMALL, TEST_CONFIG, Host, Sandboxed, sh

# PostgreSQL 15's server and redis-server (with redis-cli) are test packages (Makefile
# TEST_OS_PACKAGES): missing, these tests fail on the first use, never skip.
pytestmark = [pytest.mark.timeout(120)]

# The cluster (about 31 MB) shares /work with the checkout; the server wants a few processes.
PG_LIMITS = replace(SMALL, wall_time=30, disk=64 * MiB, processes=32)
# redis-server is one process of five threads.
REDIS_LIMITS = replace(SMALL, wall_time=30, processes=32)
CACHE_DIR = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")


@pytest.fixture(scope="session")
def postgresql() -> PostgreSQL:
    """The template cluster, made once with initdb and kept in var/test-cache like the runtimes."""
    return PostgreSQL(template=postgres_template(root=CACHE_DIR / "services", config=TEST_CONFIG))


@pytest.fixture(scope="session")
def redis_py() -> Runtime:
    """A runtime with the project's pinned redis-py, the client a Python app would use."""
    return runtime_build(requirements=["redis==8.1.0", "async-timeout==5.0.1"], root=CACHE_DIR / "runtimes")


def psql(sql: str) -> list[str]:
    return ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]


def left_in(workdir: Path) -> list[str]:
    return sorted(os.listdir(workdir))


def test_a_command_creates_and_reads_a_table_through_the_servers_socket(
    sandboxed: Sandboxed, postgresql: PostgreSQL, workdir: Path, host: Host
) -> None:
    sql = "create table t (x int); insert into t values (41), (1); select sum(x), current_user, current_database()"
    result = sandboxed([*psql(f"{sql} from t"), "-o", "/work/answer.txt"], services=[postgresql], limits=PG_LIMITS)

    assert result.ok, result.stderr
    assert (workdir / "answer.txt").read_text().splitlines()[-1] == "42|app|app"
    assert left_in(workdir) == ["answer.txt"]  # the cluster is not copied back
    host.assert_unaffected(result)


def test_the_connection_settings_are_in_the_environment(sandboxed: Sandboxed, postgresql: PostgreSQL) -> None:
    result = sandboxed(sh('psql -XAt "$DATABASE_URL" -c "select 1" && echo "$PGHOST $PGUSER $PGDATABASE"'),
                       services=[postgresql], limits=PG_LIMITS)  # fmt: skip

    assert result.ok, result.stderr
    assert result.stdout == b"1\n/work/.services/pg app app\n"


def test_two_runs_do_not_share_data(sandboxed: Sandboxed, postgresql: PostgreSQL) -> None:
    first = sandboxed(psql("create table secret (note text); insert into secret values ('run one')"),
                      services=[postgresql], limits=PG_LIMITS)  # fmt: skip
    second = sandboxed(psql("select to_regclass('secret') is null"), services=[postgresql], limits=PG_LIMITS)

    assert first.ok and second.ok, (first.stderr, second.stderr)
    assert second.stdout == b"t\n"


def test_a_checkout_cannot_bring_its_own_cluster(sandboxed: Sandboxed, postgresql: PostgreSQL, workdir: Path) -> None:
    planted = workdir / ".services" / "pg" / "data"
    planted.mkdir(parents=True)
    (planted / "PG_VERSION").write_text("9\n")

    result = sandboxed(psql("select 1"), services=[postgresql], limits=PG_LIMITS)

    assert result.ok, result.stderr
    assert ".services" not in left_in(workdir)


def test_the_server_listens_on_no_tcp_port_and_the_hosts_database_is_out_of_reach(
    sandboxed: Sandboxed, postgresql: PostgreSQL
) -> None:
    script = """
        psql -XAtc 'show listen_addresses' | sed 's/^/listen_addresses=/'
        # Listening TCP sockets (state 0A) of the sandbox's network namespace: none, the server's included.
        echo "tcp_listeners=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A"' | wc -l)"
        psql -XAt -h 127.0.0.1 -p 5432 -d postgres -c 'select 1' 2>&1 | head -n 2
    """
    result = sandboxed(sh(textwrap.dedent(script)), services=[postgresql], limits=PG_LIMITS)

    out = result.stdout.decode()
    assert "listen_addresses=\n" in out
    assert "tcp_listeners=0\n" in out
    assert "Connection refused" in out  # the host's PostgreSQL on 127.0.0.1:5432 is not there


def test_a_run_killed_by_its_cpu_limit_while_the_server_works_leaves_nothing(
    sandboxed: Sandboxed, postgresql: PostgreSQL, workdir: Path, host: Host
) -> None:
    # psql waits; the server's backend burns the CPU, and it is the run's CPU.
    busy = psql("do $$ begin loop end loop; end $$")
    # A wall clock far beyond the CPU limit, so a busy host cannot make the wall clock fire first.
    result = sandboxed(busy, services=[postgresql], limits=replace(PG_LIMITS, cpu_time=1, wall_time=100))

    assert result.limit == Limit.CPU_TIME
    assert left_in(workdir) == []
    host.assert_unaffected(result)


def test_the_servers_memory_counts_in_the_runs_limit(sandboxed: Sandboxed, postgresql: PostgreSQL, host: Host) -> None:
    # A sort the backend keeps in memory (work_mem is the server's, not the run's, limit).
    hog = psql(
        "set work_mem = '4GB'; select count(*) from (select g from generate_series(1, 30000000) g order by g desc) s"
    )
    result = sandboxed(hog, services=[postgresql], limits=replace(PG_LIMITS, memory=96 * MiB, cpu_time=20))

    assert Limit.MEMORY in result.limits_hit
    assert result.exit_code != 0
    host.assert_unaffected(result)


def test_a_process_limit_too_small_for_the_server_stops_the_run_with_a_clear_error(
    sandboxed: Sandboxed, postgresql: PostgreSQL, workdir: Path, host: Host
) -> None:
    result = sandboxed(sh("touch /work/app-ran"), services=[postgresql], limits=replace(PG_LIMITS, processes=4))

    assert result.exit_code == 125
    assert result.stderr.startswith(b"postgresql: the run's database server did not start")
    assert result.limit == Limit.PROCESSES
    assert left_in(workdir) == []  # the command never ran
    host.assert_unaffected(result)


SERVE_AND_WAIT = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {repo!r})
from sandbox import Limits, PostgreSQL, Redis, SandboxConfig, serve

config = SandboxConfig(uid_base={uid}, slots=1, state_dir=Path({state_dir!r}))
app = ("import os, socket, time; s = socket.socket(socket.AF_UNIX); s.bind(os.environ['PORTAL_SOCKET']); "
       "s.listen(); time.sleep(300)")
server = serve(argv=["/bin/sh", "-c", {check!r} + ' && exec python3 -c "$0"', app],
               workdir=Path({workdir!r}), limits=Limits(wall_time=120, disk=64 * 2**20),
               services=[{service}], config=config)
print("serving", flush=True)
time.sleep(300)
"""

# Per service: how the serving script makes it, a command that must reach it, and its processes' name.
KILLED = {
    "postgresql": ("PostgreSQL(template=Path({template!r}))", "psql -XAtc 'select 1'", "postgres"),
    "redis": ("Redis()", 'redis-cli -s "$REDIS_SOCKET" ping', "redis-server"),
}


@pytest.mark.parametrize("name", KILLED)
def test_the_server_dies_with_a_host_process_that_is_killed(
    name: str, request: pytest.FixtureRequest, workdir: Path, host: Host
) -> None:
    # A slot of its own (the last uid of this worker's range), so the check sees only this run.
    config = SandboxConfig(
        uid_base=TEST_CONFIG.uid_base + TEST_CONFIG.slots - 1,
        slots=1,
        state_dir=Path(f"{TEST_CONFIG.state_dir}-services"),
    )
    service, check, comm = KILLED[name]
    if name == "postgresql":
        service = service.format(template=str(request.getfixturevalue("postgresql").template))
    script = SERVE_AND_WAIT.format(repo=str(REPO), uid=config.uid_base, state_dir=str(config.state_dir),
                                   workdir=str(workdir), service=service, check=check)  # fmt: skip
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"serving\n", parent.stderr
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in processes_of_uid(config.uid_base)}
        assert {comm, "python3"} <= names

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 20  # a bound, not a measurement: the kernel kills them at once
        while processes_of_uid(config.uid_base) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_of_uid(config.uid_base) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for stream in (parent.stdout, parent.stderr):
            if stream is not None:
                stream.close()

    # The sandbox's tmpfs (cluster or socket) went with it; the next run of the slot clears its cgroups.
    nxt = run(argv=["/bin/true"], workdir=workdir, limits=PG_LIMITS, config=config)
    assert nxt.ok and left_in(workdir) == []
    host.assert_unaffected(nxt)


# Redis ------------------------------------------------------------------------------------------


def redis_cli(*args: str) -> str:
    """A redis-cli command line for a shell script, on the run's server socket."""
    return " ".join(['redis-cli -s "$REDIS_SOCKET"', *args])


def test_a_python_app_sets_and_reads_a_key_through_redis_url(
    sandboxed: Sandboxed, redis_py: Runtime, workdir: Path, host: Host
) -> None:
    app = """
        import os, redis
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        client.set("answer", 41)
        print(client.incr("answer"), client.connection_pool.connection_kwargs["path"])
    """
    result = sandboxed(["python", "-c", textwrap.dedent(app)], runtime=redis_py, services=[Redis()],
                       limits=REDIS_LIMITS)  # fmt: skip

    assert result.ok, result.stderr
    assert result.stdout == b"42 /work/.services/redis/redis.sock\n"
    assert left_in(workdir) == []  # socket and log are not copied back
    host.assert_unaffected(result)


def test_the_redis_settings_are_in_the_environment_and_the_server(sandboxed: Sandboxed) -> None:
    script = f"""
        echo "$REDIS_URL"; echo "$REDIS_SOCKET"
        stat -c '%a %u' /work/.services/redis; id -u
        {redis_cli("config get port save appendonly maxmemory maxmemory-policy unixsocketperm")}
    """
    result = sandboxed(sh(textwrap.dedent(script)), services=[Redis()], limits=REDIS_LIMITS)

    assert result.ok, result.stderr
    url, socket, folder, uid, *config = result.stdout.decode().splitlines()
    assert (url, socket) == ("unix:///work/.services/redis/redis.sock", "/work/.services/redis/redis.sock")
    assert folder == f"700 {uid}"  # the socket's folder is the slot uid's alone
    assert dict(zip(config[::2], config[1::2], strict=True)) == {
        "port": "0", "save": "", "appendonly": "no", "maxmemory": str(64 * MiB), "maxmemory-policy": "noeviction",
        "unixsocketperm": "700",
    }  # fmt: skip


def test_two_runs_get_two_empty_redis_servers(sandboxed: Sandboxed) -> None:
    first = sandboxed(sh(redis_cli("set secret run-one")), services=[Redis()], limits=REDIS_LIMITS)
    second = sandboxed(sh(f"{redis_cli('exists secret')} && {redis_cli('dbsize')}"), services=[Redis()],
                       limits=REDIS_LIMITS)  # fmt: skip

    assert first.ok and second.ok, (first.stderr, second.stderr)
    assert first.stdout == b"OK\n"
    assert second.stdout == b"0\n0\n"


def plant_dump_rdb(sandboxed: Sandboxed, workdir: Path) -> bytes:
    """A real RDB file holding the key ``planted``, made by the service's own server (SAVE)."""
    script = f"{redis_cli('set planted yes')} && {redis_cli('save')} && cp /work/.services/redis/dump.rdb /work/seed"
    made = sandboxed(sh(script), services=[Redis()], limits=REDIS_LIMITS)
    assert made.ok, made.stderr
    return (workdir / "seed").read_bytes()


PLANTS = [
    "a dump where the server would load it",
    "a symlink to a folder with a dump",
    "a file",
    "a symlinked .services",
]


@pytest.mark.parametrize("plant", PLANTS)
def test_a_checkout_cannot_bring_its_own_redis_data_or_folder(
    plant: str, sandboxed: Sandboxed, workdir: Path, host: Host
) -> None:
    dump = plant_dump_rdb(sandboxed, workdir)
    (workdir / "seed").unlink()
    mine = workdir / "mine"
    mine.mkdir()
    (mine / "dump.rdb").write_bytes(dump)
    services = workdir / ".services"
    if plant == PLANTS[0]:
        (services / "redis").mkdir(parents=True)
        (services / "redis" / "dump.rdb").write_bytes(dump)
    elif plant == PLANTS[1]:
        services.mkdir()
        (services / "redis").symlink_to("../mine")
    elif plant == PLANTS[2]:
        services.mkdir()
        (services / "redis").write_text("not a folder\n")
    else:
        (workdir / ".services").symlink_to("mine")

    script = f"{redis_cli('dbsize')} && {redis_cli('exists planted')} && ls -A /work/mine"
    result = sandboxed(sh(script), services=[Redis()], limits=REDIS_LIMITS)

    assert result.ok, result.stderr
    assert result.stdout == b"0\n0\ndump.rdb\n"  # empty, and nothing of the server went to /work/mine
    assert ".services" not in left_in(workdir)
    assert (mine / "dump.rdb").read_bytes() == dump
    host.assert_unaffected(result)


def test_redis_listens_on_no_tcp_port_and_the_hosts_redis_is_out_of_reach(sandboxed: Sandboxed) -> None:
    script = """
        # Listening TCP sockets (state 0A) of the sandbox's network namespace: none, the server's included.
        echo "tcp_listeners=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A"' | wc -l)"
        redis-cli -h 127.0.0.1 -p 6379 ping 2>&1
        redis-cli -s "$REDIS_SOCKET" ping
    """
    result = sandboxed(sh(textwrap.dedent(script)), services=[Redis()], limits=REDIS_LIMITS)

    out = result.stdout.decode()
    assert "tcp_listeners=0\n" in out
    assert "Could not connect to Redis at 127.0.0.1:6379: Connection refused" in out
    assert out.endswith("PONG\n")  # the run's own server is up all the while


def test_a_write_past_maxmemory_fails_and_evicts_nothing(sandboxed: Sandboxed) -> None:
    script = f"""
        for i in 1 2 3 4 5 6 7 8; do head -c 1048576 /dev/zero | tr '\\0' x | {redis_cli("-x set k$i")}; done
        {redis_cli("exists k1")}
    """
    result = sandboxed(sh(textwrap.dedent(script)), services=[Redis(maxmemory=4 * MiB)], limits=REDIS_LIMITS)

    lines = result.stdout.decode().splitlines()
    assert "OOM command not allowed when used memory > 'maxmemory'." in lines
    assert lines[0] == "OK" and lines[-1] == "1"  # the first key is still there


def test_redis_memory_counts_in_the_runs_limit(sandboxed: Sandboxed, host: Host) -> None:
    # The server's cap is far above the run's: only the run's memory limit can stop this.
    fill = redis_cli("eval \"for i = 1, 200 do redis.call('set', 'k' .. i, string.rep('x', 1048576)) end\" 0")
    result = sandboxed(sh(fill), services=[Redis(maxmemory=1024 * MiB)], limits=replace(REDIS_LIMITS, memory=64 * MiB))

    assert Limit.MEMORY in result.limits_hit
    assert result.exit_code != 0
    host.assert_unaffected(result)


def test_a_run_killed_by_its_cpu_limit_while_redis_works_leaves_nothing(
    sandboxed: Sandboxed, workdir: Path, host: Host
) -> None:
    # redis-cli waits; the server spins in a script, and it is the run's CPU.
    busy = sh(redis_cli("eval 'while true do end' 0"))
    result = sandboxed(busy, services=[Redis()], limits=replace(REDIS_LIMITS, cpu_time=1, wall_time=100))

    assert result.limit == Limit.CPU_TIME
    assert left_in(workdir) == []
    host.assert_unaffected(result)


def test_a_run_ended_by_its_wall_clock_leaves_no_redis_behind(sandboxed: Sandboxed, workdir: Path, host: Host) -> None:
    result = sandboxed(sh(f"{redis_cli('set k v')} && sleep 60"), services=[Redis()],
                       limits=replace(REDIS_LIMITS, wall_time=1))  # fmt: skip

    assert result.limit == Limit.WALL_TIME
    assert result.stdout == b"OK\n"  # the server was up when the clock fired
    assert left_in(workdir) == []
    host.assert_unaffected(result)


def test_a_process_limit_too_small_for_redis_stops_the_run_with_a_clear_error(
    sandboxed: Sandboxed, workdir: Path, host: Host
) -> None:
    result = sandboxed(sh("touch /work/app-ran"), services=[Redis()], limits=replace(REDIS_LIMITS, processes=4))

    assert result.exit_code == 125
    assert result.stderr.startswith(b"redis: the run's Redis server did not start; its log says:\n")
    assert b"Can't initialize Background Jobs" in result.stderr  # the server's own last words
    assert result.limit == Limit.PROCESSES
    assert left_in(workdir) == []  # the command never ran
    host.assert_unaffected(result)


def test_redis_refuses_a_memory_cap_it_would_read_as_none_and_an_unknown_policy() -> None:
    with pytest.raises(ValueError, match="maxmemory"):
        Redis(maxmemory=0)
    with pytest.raises(ValueError, match="maxmemory_policy"):
        Redis(maxmemory_policy="allkeys-everything")


@pytest.mark.parametrize("order", ["postgresql first", "redis first"])
def test_postgresql_and_redis_in_one_run(
    order: str, sandboxed: Sandboxed, postgresql: PostgreSQL, workdir: Path, host: Host
) -> None:
    services = [postgresql, Redis()] if order == "postgresql first" else [Redis(), postgresql]
    script = f"psql -XAtc 'select 40 + 2' && {redis_cli('incrby n 42')} && ls -A /work/.services"
    result = sandboxed(sh(script), services=services, limits=PG_LIMITS)

    assert result.ok, result.stderr
    assert result.stdout == b"42\n42\npg\nredis\n"
    assert left_in(workdir) == []
    host.assert_unaffected(result)
