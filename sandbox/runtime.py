"""Runtimes: an interpreter plus a virtualenv of an assessment's pinned requirements (or, for a
package whose app runs on Node.js, node plus the node_modules its lockfile pins: node_runtime_build;
for a package in Go, the host's go toolchain plus its standard library compiled once: go_runtime_build).

A runtime is built once per (interpreter, requirements) on the host, with network, outside any
sandbox, then mounted read-only at /runtime in every sandbox that uses it. Builds of the same
runtime by two workers at once do not collide: the first takes a lock and builds into a
private temporary directory that is renamed into place only when complete; the second waits
for the lock and finds the finished runtime.

The virtualenv's interpreter must be one the sandbox can see, i.e. installed under /usr (the
only part of the host file system bound into the sandbox): Debian's /usr/bin/python3.11, not a
pyenv build in root's home. A venv finds its prefix from where its ``bin/python`` sits, so it
works at /runtime wherever it was built; only script shebangs name the build directory, and
they are rewritten to /runtime, as are the source paths compiled into the bytecode.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bwrap import WORK as IN_SANDBOX_WORK
from .errors import RuntimeBuildError
from .locks import exclusive_lock

IN_SANDBOX = "/runtime"
DEFAULT_PYTHON = "/usr/bin/python3.11"
DEFAULT_NODE = "/usr/bin/node"
DEFAULT_GO = "/usr/bin/go"
PYTHON, NODE, GO = "python", "node", "go"
_FORMAT = 1
_META = "runtime.json"
# Variables of the worker's own Python that would break a different interpreter.
_DROP_ENV_PREFIXES = ("PYTHON", "VIRTUAL_ENV", "CONDA", "PYENV", "__PYVENV")


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """A built runtime. ``path`` is on the host; code in the sandbox sees it at /runtime."""

    path: Path
    key: str
    python_version: str  # "" for a node runtime
    requirements: tuple[str, ...]  # () for a node runtime: its lockfile is in the folder
    kind: str = PYTHON  # PYTHON, NODE or GO
    node: str = ""  # a node runtime's node, under /usr (bound into every sandbox as it is)
    node_version: str = ""
    go: str = ""  # a go runtime's go, under /usr (its GOROOT beside it, bound likewise)
    go_version: str = ""  # "1.19.8"

    @property
    def python(self) -> str:
        """The interpreter's path inside the sandbox."""
        return f"{IN_SANDBOX}/bin/python"

    @property
    def interpreter(self) -> str:
        """The program a package's commands name ("python", "node" or "go"), as the sandbox runs it."""
        return {NODE: self.node, GO: self.go}.get(self.kind, self.python)

    @property
    def env(self) -> dict[str, str]:
        """What the runtime's programs need in their environment besides the sandbox's defaults."""
        if self.kind == GO:
            return go_env(IN_SANDBOX_WORK)
        # CommonJS require() searches NODE_PATH after the tree's own node_modules folders.
        return {"NODE_PATH": f"{IN_SANDBOX}/node_modules"} if self.kind == NODE else {}

    @property
    def host_python(self) -> Path:
        """The interpreter's path on the host (for running the same thing unsandboxed, e.g. benchmarks)."""
        return self.path / "bin" / "python"

    @classmethod
    def load(cls, path: Path) -> Runtime:
        try:
            meta = json.loads((Path(path) / _META).read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeBuildError(f"{path} is not a built runtime: {exc}") from exc
        return cls(
            path=Path(path),
            key=meta["key"],
            python_version=meta["python_version"],
            requirements=tuple(meta["requirements"]),
            kind=meta.get("kind", PYTHON),
            node=meta.get("interpreter", {}).get("node", ""),
            node_version=meta.get("interpreter", {}).get("node_version", ""),
            go=meta.get("interpreter", {}).get("go", ""),
            go_version=meta.get("interpreter", {}).get("go_version", ""),
        )


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(_DROP_ENV_PREFIXES)}


def read_requirements(requirements: Path | Sequence[str]) -> list[str]:
    """Requirement lines without blanks and comments, sorted so that order does not change the key.

    Option lines (``-r``, ``-e``, ``--index-url``...) are refused: a runtime is defined by its pins
    alone, and an option could point pip anywhere.
    """
    if isinstance(requirements, str | bytes):
        raise TypeError("requirements must be a Path or a list of requirement strings")
    lines = Path(requirements).read_text().splitlines() if isinstance(requirements, Path) else list(requirements)
    out: list[str] = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise RuntimeBuildError(f"requirement options are not allowed in a runtime: {line!r}")
        out.append(line)
    return sorted(set(out))


_identities: dict[tuple[object, ...], dict[str, str]] = {}
_identities_lock = threading.Lock()


def _once_per_binary(read: Callable[[str], dict[str, str]]) -> Callable[[str], dict[str, str]]:
    """``read(program)``, run once per program file in this process rather than once per run.

    What a program says of itself (path, version, machine) changes only with the file: the cache is
    keyed by the path asked for, the file it resolves to and that file's identity and times, so a
    program upgraded in place is asked again. The Go toolchain's answers also depend on the GO*
    variables of the worker's environment: they are part of the key.
    """

    @functools.wraps(read)
    def cached(program: str) -> dict[str, str]:
        real = os.path.realpath(program)
        try:
            st = os.stat(real)
        except OSError:
            return read(program)  # says why in its own words
        go_env_now = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GO")))
        file = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        key = (read.__name__, program, real, file, go_env_now)
        with _identities_lock:
            known = _identities.get(key)
        if known is None:
            known = read(program)
            with _identities_lock:
                _identities[key] = known
        return dict(known)

    return cached


@_once_per_binary
def interpreter_identity(python: str) -> dict[str, str]:
    real = os.path.realpath(python)
    if not real.startswith("/usr/"):
        raise RuntimeBuildError(
            f"{python} resolves to {real}, outside /usr: the sandbox binds only /usr from the host, so it could "
            f"not run there. Use Debian's interpreter ({DEFAULT_PYTHON}; apt-get install python3 python3-venv)."
        )
    try:
        out = subprocess.run(
            [real, "-I", "-c", "import sys, platform; print(sys.version.split()[0]); print(platform.machine())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=_clean_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeBuildError(f"cannot run the interpreter {python}: {exc}") from exc
    version, machine = out.stdout.split()
    return {"python": real, "version": version, "machine": machine}


def runtime_key(*, requirements: Path | Sequence[str], python: str = DEFAULT_PYTHON) -> str:
    """sha256 of the interpreter (path, version, machine) and the sorted requirements."""
    identity = interpreter_identity(python)
    payload = json.dumps(
        {"format": _FORMAT, "interpreter": identity, "requirements": read_requirements(requirements)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


# Where pip's account of a failure starts ("ERROR: No matching distribution...", "error: subprocess-
# exited-with-error", "\u00d7 Failed to build ..."); everything it printed before (Collecting, Downloading,
# retries, progress) is noise to whoever reads why a runtime was not built.
_PIP_ERROR_STARTS = ("ERROR:", "error:", "\u00d7")
_PIP_ASIDES = ("note:", "hint:", "WARNING:", "[notice]")


def pip_errors(output: str, *, lines: int = 40) -> str:
    """pip's output cut to its error lines: from its first error on, without blank lines, notes and
    warnings (the cause under a failed build is kept); the output's last lines if it printed no error."""
    kept, started = [], False
    for line in output.splitlines():
        stripped = line.strip()
        started = started or stripped.startswith(_PIP_ERROR_STARTS)
        if started and stripped and not stripped.startswith(_PIP_ASIDES):
            kept.append(line.rstrip())
    return "\n".join((kept or output.strip().splitlines())[-lines:])


def _run(argv: list[str], *, timeout: float, what: str, cut=None, cwd: Path | str = "/", env=None) -> None:
    """Run a build step; RuntimeBuildError with its output's end (or what ``cut`` keeps of it) if it fails.

    ``env``: variables to set over the worker's environment (without its Python's)."""
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env={**_clean_env(), **(env or {})}, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeBuildError(f"{what} took longer than {timeout:.0f}s") from exc
    if out.returncode != 0:
        output = out.stderr + "\n" + out.stdout if out.stderr and out.stdout else out.stderr or out.stdout
        tail = cut(output) if cut is not None else output.strip()[-2000:]
        raise RuntimeBuildError(f"{what} failed (exit {out.returncode}):\n{tail}", output=output)


def _relocate(build: Path) -> None:
    """Point scripts in bin/ at /runtime instead of the temporary build directory."""
    old = str(build).encode()
    for entry in (build / "bin").iterdir():
        if entry.is_symlink() or not entry.is_file() or entry.stat().st_size > 1 << 20:
            continue
        data = entry.read_bytes()
        if old in data:
            entry.write_bytes(data.replace(old, IN_SANDBOX.encode()))


def _open_up(build: Path) -> None:
    """Readable (and traversable) by every uid: sandboxes run as unprivileged slot uids."""
    for directory, _, files in os.walk(build):
        os.chmod(directory, 0o755)  # noqa: S103 - world-readable on purpose, never world-writable
        for name in files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                continue
            mode = os.stat(path).st_mode
            os.chmod(path, 0o755 if mode & 0o100 else 0o644)


def _lock(path: Path, *, timeout: float) -> int:
    return exclusive_lock(
        path,
        timeout=timeout,
        busy=lambda: RuntimeBuildError(f"another build of this runtime held {path} for {timeout:.0f}s"),
    )


def _build_once(root: Path, key: str, build_into, *, timeout: float) -> Runtime:
    """The runtime ``key`` under ``root``; if it is not there, ``build_into(folder)`` makes it in a
    private folder renamed into place once complete, under a lock so that two builders never collide."""
    final = root / key
    if (final / _META).is_file():
        return Runtime.load(final)
    root.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(root / f".{key}.lock", timeout=timeout)
    try:
        if (final / _META).is_file():
            return Runtime.load(final)  # built by whoever held the lock before us
        build = root / f".build-{key[:16]}-{secrets.token_hex(4)}"
        try:
            build_into(build)
            _open_up(build)
            try:
                os.rename(build, final)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                # Someone finished the same runtime without our lock (another host on shared storage).
                shutil.rmtree(build, ignore_errors=True)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return Runtime.load(final)
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


def runtime_build(
    *,
    requirements: Path | Sequence[str],
    root: Path,
    python: str = DEFAULT_PYTHON,
    timeout: float = 1800.0,
) -> Runtime:
    """Return the runtime for ``requirements`` on ``python`` under ``root``, building it if needed.

    ``root`` holds one directory per runtime key (e.g. ``<PORTAL_DATA_DIR>/runtimes``). pip runs with
    the host's pip configuration and network. Raises RuntimeBuildError with pip's output on failure.
    """
    root = Path(root).absolute()
    reqs = read_requirements(requirements)
    identity = interpreter_identity(python)
    key = runtime_key(requirements=reqs, python=python)

    def build_into(build: Path) -> None:
        _run([identity["python"], "-m", "venv", str(build)], timeout=300, what="creating the virtualenv")
        (build / "requirements.txt").write_text("".join(f"{r}\n" for r in reqs))
        if reqs:
            _run(
                [str(build / "bin" / "python"), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                 "-r", str(build / "requirements.txt")],
                timeout=timeout,
                what="pip install",
                cut=pip_errors,
            )  # fmt: skip
        _relocate(build)
        # Recompile everything with the /runtime paths tracebacks should show; the sandbox
        # mounts the runtime read-only, so bytecode missing now would be compiled on every run.
        _run(
            [str(build / "bin" / "python"), "-m", "compileall", "-q", "-f", "-j", "0",
             "-s", str(build), "-p", IN_SANDBOX, str(build / "lib")],
            timeout=timeout,
            what="compiling bytecode",
        )  # fmt: skip
        meta = {
            "key": key,
            "python_version": identity["version"],
            "interpreter": identity,
            "requirements": reqs,
            "built_at": time.time(),
            "format": _FORMAT,
        }
        (build / _META).write_text(json.dumps(meta, indent=2) + "\n")

    return _build_once(root, key, build_into, timeout=timeout)


# Node runtimes. The app and its tests run on the host's node (under /usr, which every sandbox
# binds), and find the dependencies the package's lockfile pins in /runtime/node_modules
# (Runtime.env's NODE_PATH). npm runs here, at build time, never in a sandbox nor at scoring time.
NODE_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")  # the lockfiles `npm ci` installs from


@_once_per_binary
def node_identity(node: str = DEFAULT_NODE) -> dict[str, str]:
    """node's real path (under /usr), version ("20.19.2") and machine, read from node itself."""
    real = os.path.realpath(node)
    if not real.startswith("/usr/"):
        raise RuntimeBuildError(
            f"{node} resolves to {real}, outside /usr: the sandbox binds only /usr from the host, so it could "
            f"not run there. Use Debian's node ({DEFAULT_NODE}; apt-get install nodejs npm)."
        )
    try:
        out = subprocess.run(
            [real, "-p", "process.version + ' ' + process.arch"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=_clean_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeBuildError(f"cannot run node {node}: {exc}") from exc
    version, machine = out.stdout.split()
    return {"node": real, "node_version": version.removeprefix("v"), "machine": machine}


def _node_files(project: Path, lockfile: str) -> tuple[Path, Path]:
    """The lockfile and the package.json beside it, in the shipped project."""
    lock = Path(project) / lockfile
    if lock.name not in NODE_LOCKFILES:
        raise RuntimeBuildError(f"{lockfile}: npm ci installs from {' or '.join(NODE_LOCKFILES)} only")
    package = lock.parent / "package.json"
    for path in (package, lock):
        if not path.is_file():
            raise RuntimeBuildError(f"{path} not found: a node runtime is installed from package.json and its lockfile")
    return package, lock


def node_runtime_key(*, project: Path, lockfile: str = "package-lock.json", node: str = DEFAULT_NODE) -> str:
    """sha256 of node (path, version, machine), the package.json and its lockfile (npm ci reads both)."""
    package, lock = _node_files(project, lockfile)
    payload = json.dumps(
        {
            "format": _FORMAT,
            "kind": NODE,
            "interpreter": node_identity(node),
            "package.json": hashlib.sha256(package.read_bytes()).hexdigest(),
            lock.name: hashlib.sha256(lock.read_bytes()).hexdigest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def node_runtime_build(
    *,
    project: Path,
    root: Path,
    lockfile: str = "package-lock.json",
    node: str = DEFAULT_NODE,
    npm: str = "/usr/bin/npm",
    timeout: float = 1800.0,
) -> Runtime:
    """Return the node runtime of ``project``'s package.json and ``lockfile`` under ``root``, building
    it if needed: ``npm ci --ignore-scripts`` into its node_modules (no install script ever runs; a
    package without dependencies needs no network). RuntimeBuildError with npm's output on failure."""
    root = Path(root).absolute()
    package, lock = _node_files(project, lockfile)
    identity = node_identity(node)
    key = node_runtime_key(project=project, lockfile=lockfile, node=node)

    def build_into(build: Path) -> None:
        build.mkdir()
        shutil.copyfile(package, build / "package.json")
        shutil.copyfile(lock, build / lock.name)
        env = {
            # Downloads are kept beside the runtimes, not in the worker's home; no notices to read.
            "npm_config_cache": str(root / ".npm-cache"),
            "npm_config_update_notifier": "false",
            "PATH": f"{os.path.dirname(identity['node'])}:/usr/bin:/bin",
        }
        _run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefix", str(build)],
            timeout=timeout,
            what="npm ci",
            cwd=build,
            env=env,
        )
        (build / "node_modules").mkdir(exist_ok=True)  # npm makes none for a package without dependencies
        meta = {
            "key": key,
            "kind": NODE,
            "python_version": "",
            "interpreter": identity,
            "requirements": [],
            "lockfile": lock.name,
            "built_at": time.time(),
            "format": _FORMAT,
        }
        (build / _META).write_text(json.dumps(meta, indent=2) + "\n")

    return _build_once(root, key, build_into, timeout=timeout)


# Go runtimes. The app is a binary the package's build step ([runtime] build) compiles in its tree, in
# the sandbox, with the host's go (under /usr, which every sandbox binds, GOROOT included). Nothing is
# ever downloaded: the standard library and the modules vendored in the tree (-mod=vendor) are all a
# build may use. The runtime's folder holds the standard library compiled once with the runs'
# settings (CGO_ENABLED=0 makes Debian's precompiled net, os/user... stale): a build copies that cache
# into its tree's own (GO_CACHE) instead of spending seconds of CPU recompiling net/http every time.
GO_CACHE = ".cache/go-build"  # the build cache, in the tree: the visible tests' go test reuses it
GO_PATH = ".cache/go"
GO_STD_CACHE = "go-build"  # in the runtime's folder


def go_env(work: str) -> dict[str, str]:
    """The environment of every go command of a run whose tree is at ``work``: no network, no module
    download, no toolchain switch, no cgo; caches in the tree (writable, and copied with it)."""
    return {
        "GOPROXY": "off",
        "GOSUMDB": "off",
        # At most two packages compiled at once, and two threads running Go code per process: the
        # run's task limit must not depend on how many cores the host has.
        "GOFLAGS": "-mod=vendor -p=2",
        "GOMAXPROCS": "2",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
        "GOENV": "off",
        "CGO_ENABLED": "0",
        "GOCACHE": f"{work}/{GO_CACHE}",
        "GOPATH": f"{work}/{GO_PATH}",
    }


def go_build_argv(argv: Sequence[str], runtime: Runtime) -> list[str]:
    """``argv`` run in the sandbox after the tree's build cache is seeded from the runtime's compiled
    standard library (if the tree has no cache yet)."""
    seed = (
        f'[ -d "$GOCACHE" ] || {{ mkdir -p "${{GOCACHE%/*}}" && cp -R {IN_SANDBOX}/{GO_STD_CACHE} "$GOCACHE"; }} '
        '&& exec "$@"'
    )
    return ["/bin/sh", "-c", seed, "sh", *argv] if runtime.kind == GO else list(argv)


@_once_per_binary
def go_identity(go: str = DEFAULT_GO) -> dict[str, str]:
    """go's real path (under /usr), version ("1.19.8"), GOROOT and machine, read from go itself."""
    real = os.path.realpath(go)
    if not real.startswith("/usr/"):
        raise RuntimeBuildError(
            f"{go} resolves to {real}, outside /usr: the sandbox binds only /usr from the host, so it could "
            f"not run there. Use Debian's go ({DEFAULT_GO}; apt-get install golang-go)."
        )
    try:
        out = subprocess.run(
            [real, "env", "GOVERSION", "GOROOT", "GOARCH"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={**_clean_env(), "GOENV": "off", "GOTOOLCHAIN": "local"},
        )
        version, goroot, machine = out.stdout.split()
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise RuntimeBuildError(f"cannot run go {go}: {exc}") from exc
    if not os.path.realpath(goroot).startswith("/usr/"):
        raise RuntimeBuildError(f"{go}'s GOROOT is {goroot}, outside /usr: the sandbox could not see it")
    return {"go": real, "go_version": version.removeprefix("go"), "goroot": goroot, "machine": machine}


def go_runtime_key(*, go: str = DEFAULT_GO) -> str:
    """sha256 of go (path, version, GOROOT, machine) and the settings its standard library is built with."""
    payload = json.dumps(
        {"format": _FORMAT, "kind": GO, "interpreter": go_identity(go), "env": go_env("")}, sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def go_runtime_build(*, root: Path, go: str = DEFAULT_GO, timeout: float = 1800.0) -> Runtime:
    """Return the go runtime of ``go`` under ``root``, building it if needed: ``go build std`` with the
    runs' settings (go_env) into the folder's build cache, offline. RuntimeBuildError with go's output."""
    root = Path(root).absolute()
    identity = go_identity(go)
    key = go_runtime_key(go=go)

    def build_into(build: Path) -> None:
        build.mkdir()
        env = {
            **go_env(str(build)),
            "GOCACHE": str(build / GO_STD_CACHE),
            "GOFLAGS": "",  # outside a module, where -mod=vendor has no meaning
            "HOME": str(build),
            "PATH": f"{os.path.dirname(identity['go'])}:/usr/bin:/bin",
        }
        _run([identity["go"], "build", "std"], timeout=timeout, what="go build std", cwd=build, env=env)
        shutil.rmtree(build / GO_PATH.split("/")[0], ignore_errors=True)
        meta = {
            "key": key,
            "kind": GO,
            "python_version": "",
            "interpreter": identity,
            "requirements": [],
            "built_at": time.time(),
            "format": _FORMAT,
        }
        (build / _META).write_text(json.dumps(meta, indent=2) + "\n")

    return _build_once(root, key, build_into, timeout=timeout)
