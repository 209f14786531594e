"""The sandbox's runner serves the app from the sandbox's own copy of the tree (grader.play.served
copies nothing on the host for it) and kills it once its work is done, keeping what it printed."""

import hashlib
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import httpx
import pytest

from grader.manifest import load_manifest
from grader.play import served
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import assessment_runtime
from sandbox.slots import processes_of_uid
from tests.grader.tiny_package import SERVER, tiny_package

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Hostile to the tree it is served from: before serving, the app rewrites a file of the tree in
# place (same inode: what a hard-linked copy would pass on), appends to it through a hard link of
# its own, adds a file and a symlink, and prints to its block-buffered standard output.
HOSTILE = SERVER.replace(
    'if __name__ == "__main__":\n',
    """if __name__ == "__main__":
    with open("app/logic.py", "r+") as source:
        source.write("# rewritten in place by the app\\n")
    os.link("app/logic.py", "linked.py")
    with open("linked.py", "a") as linked:
        linked.write("# and through a hard link\\n")
    with open("written-by-the-app.txt", "w") as new:
        new.write("x")
    os.symlink("/etc/shadow", "README.md.link")
    print("PRINTED-BEFORE-SERVING-17")
""",
)


def _snapshot(tree: Path) -> dict[str, tuple[str, int]]:
    """Every entry of ``tree``: its content's hash (or a symlink's target) and its inode."""
    seen = {}
    for path in sorted(tree.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            what = "-> " + os.readlink(path)
        elif path.is_file():
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = "dir"
        seen[str(path.relative_to(tree))] = (what, st.st_ino)
    return seen


def test_the_app_writes_only_to_the_sandboxs_copy_and_is_killed_with_its_output_kept(tmp_path):
    package = tiny_package(tmp_path / "package")
    tree = tmp_path / "tree"
    shutil.copytree(package / "project", tree)
    (tree / "app" / "server.py").write_text(HOSTILE)
    before = _snapshot(tree)
    manifest = load_manifest(package)
    runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))
    scratch = set(Path(tempfile.gettempdir()).glob("play-*"))

    with served(runner, tree) as app:
        transport = httpx.HTTPTransport(uds=app.socket, verify=False)
        with httpx.Client(transport=transport, base_url="http://localhost", trust_env=False) as client:
            assert client.get("/answer").json() == {"value": 41}
        # No copy of the tree on the host: the sandbox's /work is the app's copy.
        assert set(Path(tempfile.gettempdir()).glob("play-*")) == scratch

    # Whatever the app did to its files, the tree is as it was: same bytes, same inodes, no new entry.
    assert _snapshot(tree) == before
    result = runner.app_results[-1]
    # Stopped by a kill once done, not by a limit; what it printed reached its output all the same.
    assert result.signal == signal.SIGKILL and result.limit is None
    assert b"PRINTED-BEFORE-SERVING-17" in result.stdout
    assert processes_of_uid(result.uid) == [] and result.leftover_pids == ()


def test_a_socket_swapped_after_the_start_still_reaches_the_app_and_never_a_host_socket(tmp_path):
    """The grader connects straight to the app's socket (no forwarding copy in between), through the
    worker's descriptor of the socket checked at the start: an app that then puts a symlink to a
    host socket at its socket's name sends the grader nowhere but to itself."""
    host_socket_path = tmp_path / "host.sock"
    host = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    host.bind(str(host_socket_path))
    host.listen(8)
    host.setblocking(False)
    swapper = SERVER.replace(
        '        if self.path == "/health":\n',
        f"""        if self.path == "/swap":
            os.unlink(sys.argv[1])
            os.symlink({str(host_socket_path)!r}, sys.argv[1])
            body = b"{{}}"
        elif self.path == "/health":
""",
    )
    package = tiny_package(tmp_path / "package")
    tree = tmp_path / "tree"
    shutil.copytree(package / "project", tree)
    (tree / "app" / "server.py").write_text(swapper)
    manifest = load_manifest(package)
    runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))

    with served(runner, tree) as app:
        # A host path of the worker's own: nothing of the candidate's is followed to reach it.
        assert os.readlink(app.socket).startswith(f"/proc/{os.getpid()}/fd/")
        transport = httpx.HTTPTransport(uds=app.socket, verify=False, limits=httpx.Limits(max_keepalive_connections=0))
        with httpx.Client(transport=transport, base_url="http://localhost", trust_env=False) as client:
            assert client.get("/swap").status_code == 200
            # New connections after the swap: still the app (its listening socket, now nameless).
            for _ in range(3):
                assert client.get("/answer").json() == {"value": 41}
        with pytest.raises(BlockingIOError):
            host.accept()
        link = app.socket
    # Gone with the app: the link, and the descriptor it named.
    assert not os.path.lexists(link)
    host.close()
