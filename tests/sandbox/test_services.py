"""A PostgreSQL server beside the command, in the same sandbox: reachable through its socket only,
counted in the run's limits, fresh for every run, and gone however the run ends."""

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

from sandbox import Limit, MiB, PostgreSQL, SandboxConfig, postgres_template, run
from sandbox.slots import processes_of_uid

from .conftest import REPO, SMALL, TEST_CONFIG, Host, Sandboxed, sh

# PostgreSQL 15's server is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail
# on the first use of the template, never skip.
pytestmark = [pytest.mark.timeout(120)]

# The cluster (about 31 MB) shares /work with the checkout; the server wants a few processes.
PG_LIMITS = replace(SMALL, wall_time=30, disk=64 * MiB, processes=32)


@pytest.fixture(scope="session")
def postgresql() -> PostgreSQL:
    """The template cluster, made once with initdb and kept in var/test-cache like the runtimes."""
    cache_dir = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
    return PostgreSQL(template=postgres_template(root=cache_dir / "services", config=TEST_CONFIG))


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
from sandbox import Limits, PostgreSQL, SandboxConfig, serve

config = SandboxConfig(uid_base={uid}, slots=1, state_dir=Path({state_dir!r}))
app = ("import os, socket, time; s = socket.socket(socket.AF_UNIX); s.bind(os.environ['PORTAL_SOCKET']); "
       "s.listen(); time.sleep(300)")
server = serve(argv=["/bin/sh", "-c", "psql -XAtc 'select 1' && exec python3 -c \\"$0\\"", app],
               workdir=Path({workdir!r}), limits=Limits(wall_time=120, disk=64 * 2**20),
               services=[PostgreSQL(template=Path({template!r}))], config=config)
print("serving", flush=True)
time.sleep(300)
"""


def test_the_server_dies_with_a_host_process_that_is_killed(postgresql: PostgreSQL, workdir: Path, host: Host) -> None:
    # A slot of its own (the last uid of this worker's range), so the check sees only this run.
    config = SandboxConfig(
        uid_base=TEST_CONFIG.uid_base + TEST_CONFIG.slots - 1,
        slots=1,
        state_dir=Path(f"{TEST_CONFIG.state_dir}-services"),
    )
    script = SERVE_AND_WAIT.format(repo=str(REPO), uid=config.uid_base, state_dir=str(config.state_dir),
                                   workdir=str(workdir), template=str(postgresql.template))  # fmt: skip
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"serving\n", parent.stderr
        names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in processes_of_uid(config.uid_base)}
        assert {"postgres", "python3"} <= names

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

    # The sandbox's tmpfs (cluster, socket) went with it; the next run of the slot clears its cgroups.
    nxt = run(argv=["/bin/true"], workdir=workdir, limits=PG_LIMITS, config=config)
    assert nxt.ok and left_in(workdir) == []
    host.assert_unaffected(nxt)
