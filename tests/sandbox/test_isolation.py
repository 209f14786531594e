"""What the sandbox cannot see or touch: network, host files, the caller's environment."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

import pytest

from sandbox import Runtime, read_file

from .conftest import REPO, Host, Sandboxed, py, sh

pytestmark = pytest.mark.timeout(60)

CONNECT_TIMEOUT = 4  # below the sandbox's wall clock, so a dropped packet shows as a timeout
CONNECT = """
    import socket, sys, time
    for host, port in [{targets}]:
        s = socket.socket()
        s.settimeout({timeout})
        start = time.monotonic()
        print(host, port, s.connect_ex((host, port)), round(time.monotonic() - start, 2))
"""


def _host_listens(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_hosts_postgresql_and_redis_ports_are_unreachable(sandboxed: Sandboxed, host: Host) -> None:
    listening_on_host = [port for port in (5432, 6379) if _host_listens(port)]

    result = sandboxed(py(CONNECT.format(targets="('127.0.0.1', 5432), ('127.0.0.1', 6379)", timeout=CONNECT_TIMEOUT)))

    lines = [line.split() for line in result.stdout.decode().splitlines()]
    # The sandbox's loopback is its own: nothing listens there, whatever the host runs.
    assert [(host_, port, int(code)) for host_, port, code, _ in lines] == [
        ("127.0.0.1", "5432", errno.ECONNREFUSED),
        ("127.0.0.1", "6379", errno.ECONNREFUSED),
    ]
    # Where PostgreSQL and Redis run (this project's dev and CI hosts), the refusal above is
    # the sandbox at work, not an idle port.
    print("listening on the host:", listening_on_host)
    host.assert_unaffected(result)


def test_a_public_address_is_unreachable_at_once(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(py(CONNECT.format(targets="('1.1.1.1', 53)", timeout=CONNECT_TIMEOUT)))

    _, _, code, _ = result.stdout.split()
    # Refused by the kernel (no route): a connection left to time out reports another error.
    assert int(code) == errno.ENETUNREACH
    host.assert_unaffected(result)


def test_dns_lookups_fail(sandboxed: Sandboxed, host: Host) -> None:
    script = """
        import os, socket
        print(os.path.exists("/etc/resolv.conf"))
        try:
            socket.getaddrinfo("example.com", 443)
        except socket.gaierror as exc:
            print("gaierror", exc.errno)
    """

    result = sandboxed(py(script))

    assert result.stdout.split()[:2] == [b"False", b"gaierror"]
    host.assert_unaffected(result)


def test_etc_shadow_and_the_rest_of_the_host_tree_are_not_there(sandboxed: Sandboxed, host: Host) -> None:
    script = "cat /etc/shadow; ls -A /; ls /etc; ls /root /home /var /run /opt /work/main 2>&1 | wc -l"

    result = sandboxed(sh(script))

    assert b"/etc/shadow: No such file" in result.stderr
    top = set(result.stdout.decode().split())
    assert {"usr", "work", "tmp", "proc", "dev", "etc"} <= top
    assert not top & {"root", "home", "var", "run", "opt", "srv", "mnt", "shadow", "sudoers"}
    host.assert_unaffected(result)


def test_the_portal_data_directory_is_not_visible(sandboxed: Sandboxed, host: Host, runtime: Runtime) -> None:
    data_dir = runtime.path.parent.parent  # <PORTAL_DATA_DIR>/runtimes/<key>
    (data_dir / "secret.txt").write_text("portal secret")

    result = sandboxed(sh(f"cat {data_dir}/secret.txt; ls {data_dir} {REPO}; cat /work/main/var/*"), runtime=runtime)

    assert b"portal secret" not in result.stdout
    assert result.stdout == b""
    assert result.stderr.count(b"No such file or directory") == 4
    host.assert_unaffected(result)


def test_the_callers_environment_is_not_visible(
    sandboxed: Sandboxed, host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_CANARY_SECRET", "canary-6b1f0e")

    # Every process the sandbox can see, the environment of each, and its own.
    result = sandboxed(sh("env; cat /proc/*/environ | tr '\\0' '\\n'; ls /proc | grep -c '^[0-9]'"))

    assert b"canary-6b1f0e" not in result.stdout + result.stderr
    assert b"DJANGO_SETTINGS_MODULE" not in result.stdout
    assert int(result.stdout.split()[-1]) <= 4  # the shell and its pipeline, no host processes
    host.assert_unaffected(result)


def test_the_runtime_and_the_system_are_read_only(sandboxed: Sandboxed, host: Host, runtime: Runtime) -> None:
    targets = ["/runtime/evil", "/runtime/lib/python3.11/site-packages/evil.py", "/usr/evil", "/evil", "/dev/evil"]

    result = sandboxed(sh("; ".join(f"touch {t}" for t in targets)), runtime=runtime)

    assert result.stderr.count(b"Read-only file system") == len(targets)
    assert not (runtime.path / "evil").exists()
    assert not (runtime.path / "lib/python3.11/site-packages/evil.py").exists()
    host.assert_unaffected(result)


def test_a_symlink_planted_in_the_work_directory_is_not_followed_when_reading_back(
    sandboxed: Sandboxed, host: Host, workdir: Path
) -> None:
    os.symlink("/etc/passwd", workdir / "committed-link")  # as if it came with the candidate's repository
    script = "ln -s /etc/shadow report.xml; ln -s /etc results; ln -s ../../../../etc/hostname rel; echo ok > real.txt"

    result = sandboxed(sh(script))

    assert sorted(p.name for p in workdir.iterdir()) == ["real.txt"]
    with pytest.raises(FileNotFoundError):
        read_file(workdir, "report.xml")
    assert "report.xml (symlink)" in result.skipped and "committed-link (symlink)" in result.skipped
    assert read_file(workdir, "real.txt") == b"ok\n"
    host.assert_unaffected(result)


def test_read_file_refuses_symlinks_anywhere_on_the_path(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "ok.txt").write_text("fine")
    os.symlink("/etc/passwd", tmp_path / "dir" / "link")
    os.symlink("/etc", tmp_path / "etc-link")

    assert read_file(tmp_path, "dir/ok.txt") == b"fine"
    with pytest.raises(OSError) as leaf:
        read_file(tmp_path, "dir/link")
    with pytest.raises(OSError) as middle:
        read_file(tmp_path, "etc-link/passwd")
    with pytest.raises(OSError):
        read_file(tmp_path, "../etc/passwd")
    assert leaf.value.errno == errno.ELOOP and middle.value.errno == errno.ENOTDIR


def test_hard_links_and_sparse_files_cannot_blow_up_the_copy_back(
    sandboxed: Sandboxed, host: Host, workdir: Path
) -> None:
    script = "head -c 4M /dev/urandom > f; for i in 1 2 3 4 5 6 7 8; do ln f link$i; done; truncate -s 8M sparse"

    result = sandboxed(sh(script), limits={"disk": 8 * 1024 * 1024, "file_size": 8 * 1024 * 1024})

    assert (workdir / "f").stat().st_size == 4 * 1024 * 1024
    assert sum(p.stat().st_size for p in workdir.iterdir()) <= 8 * 1024 * 1024
    assert sum("hard link" in note for note in result.skipped) == 8
    host.assert_unaffected(result)


def test_seccomp_refuses_io_uring_and_the_keyrings(sandboxed: Sandboxed, host: Host) -> None:
    script = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        for name, nr in [("io_uring_setup", 425), ("keyctl", 250), ("bpf", 321), ("getpid", 39)]:
            rc = libc.syscall(nr, 0, 0, 0, 0, 0)
            print(name, rc, ctypes.get_errno())
    """

    result = sandboxed(py(script))

    lines = (line.split() for line in result.stdout.decode().splitlines())
    rows = {name: (int(rc), int(err)) for name, rc, err in lines}
    assert rows["io_uring_setup"] == (-1, errno.EPERM)
    assert rows["keyctl"] == (-1, errno.EPERM) and rows["bpf"] == (-1, errno.EPERM)
    assert rows["getpid"][0] == 1  # the command is pid 1 of its own pid namespace
    host.assert_unaffected(result)


def test_code_runs_unprivileged_without_capabilities_or_nested_namespaces(sandboxed: Sandboxed, host: Host) -> None:
    result = sandboxed(sh("id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; unshare -U true; echo $?"))

    lines = result.stdout.decode().split("\n")
    assert lines[0] == "1000"
    assert "CapEff:\t0000000000000000" in lines and "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines and lines[-2] == "1"  # unshare refused
    assert result.uid >= 64500  # the host sees an unprivileged slot uid
    host.assert_unaffected(result)


def test_the_command_inherits_no_descriptor_but_its_three_streams(
    sandboxed: Sandboxed, host: Host, runtime: Runtime
) -> None:
    # bwrap is handed the runtime as an fd of the host directory: one leaking into the sandbox
    # would be a way out ("openat(fd, '..')"). /proc/1 is the command itself.
    result = sandboxed(sh("ls /proc/1/fd"), runtime=runtime, stdin=b"input")

    assert result.stdout.split() == [b"0", b"1", b"2"]
    host.assert_unaffected(result)
