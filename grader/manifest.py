"""Reading and checking assessment.toml."""

from __future__ import annotations

import difflib
import functools
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.requirements import canonical_name, requirements_read

MANIFEST_NAME = "assessment.toml"
# decoys/ticket-<n>-<name>.patch: a known-wrong fix of ticket n that its hidden tests must reject.
DECOY_NAME = re.compile(r"ticket-(?P<ticket>[0-9]+)-(?P<name>[a-z0-9]+(?:-[a-z0-9]+)*)\.patch")
DEFAULT_ASSESSMENT_DIR = Path(__file__).resolve().parent.parent / "assessment_app"
# Where runtimes' interpreters come from: the sandbox binds only /usr from the host (sandbox.runtime),
# so a package's [runtime] python is one of the python3.N found here.
INTERPRETERS_DIR = Path("/usr/bin")
PYTHON_VERSION = re.compile(r"3\.[0-9]+")
# [runtime] kind: what the app and the visible tests run on. A node runtime uses the host's node
# (INTERPRETERS_DIR/node) and the dependencies of the shipped package.json's lockfile (sandbox.runtime).
# A go runtime uses the host's go (INTERPRETERS_DIR/go) and the standard library or the modules vendored
# in the shipped tree, never a download; its app is the binary that [runtime] build compiles.
RUNTIME_KINDS = ("python", "node", "go")
NODE_MAJOR = re.compile(r"[1-9][0-9]*")
GO_VERSION = re.compile(r"1\.[0-9]+")
GO_MODULE_FILE = "go.mod"
NODE_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
# [services]: what may run beside the app in its sandbox, each `name = true`. postgresql: a fresh
# PostgreSQL 15 server per run, redis: a fresh Redis server per run (sandbox.services), for the app
# and for the visible tests.
SERVICES = ("postgresql", "redis")
# [hidden_tests] flake_runs unless the manifest says otherwise: 1 - 0.95 ** 60 = 0.954, so a test
# that fails one run in twenty is caught 95 times in a hundred.
FLAKE_RUNS = 60

# Every key the manifest knows, per table: anything else is refused with the nearest of these, so a
# misspelling never leaves a value at its default unnoticed. None: a table of free keys ([app.env]).
KNOWN_KEYS: dict[str, tuple[str, ...] | None] = {
    "": ("assessment", "paths", "runtime", "services", "app", "visible_tests", "hidden_tests", "limits", "tickets"),
    "[assessment]": ("slug", "title", "version", "summary"),
    "[paths]": ("shipped", "hidden_tests", "reference", "decoys", "source"),
    "[runtime]": (
        "kind",
        "python",
        "requirements",
        "candidate_requirements",
        "node",
        "lockfile",
        "go",
        "build",
        "build_timeout_seconds",
    ),
    "[app]": ("start", "ready_path", "startup_timeout_seconds", "env"),
    "[app.env]": None,
    "[visible_tests]": ("command", "timeout_seconds"),
    "[hidden_tests]": (
        "timeout_seconds",
        "request_timeout_seconds",
        "budget_seconds",
        "concurrency_repeats",
        "flake_runs",
        "max_response_mb",
        "grader_memory_mb",
    ),
    "[limits]": ("memory_mb", "processes", "disk_mb", "app_wall_seconds"),
    "[services]": SERVICES,
    "[[tickets]]": ("number", "title", "points", "hidden_tests", "visible_tests", "reference_patch"),
}


class ManifestError(ValueError):
    """assessment.toml is missing, malformed or points at files that aren't there."""


@dataclass(frozen=True)
class Ticket:
    number: int
    title: str
    points: int
    hidden_tests: tuple[str, ...]  # files inside the hidden tests folder
    visible_tests: tuple[str, ...]  # pytest node ids inside the shipped tree
    reference_patch: str  # file inside the reference folder


@dataclass(frozen=True)
class Decoy:
    """A known-wrong fix of one ticket (a shortcut a candidate could take): its hidden tests must reject it."""

    ticket: int
    name: str  # the file name without .patch, e.g. ticket-3-rollback-in-get-db
    path: Path


@dataclass(frozen=True)
class AppSpec:
    start: tuple[str, ...]
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout: float = 20.0
    program: str = "python"  # the word of the command that stands for the runtime's interpreter

    def command(self, python: str, *, socket: str, workdir: str) -> list[str]:
        """The start command with the program ("python", "node") replaced by ``python``, the runtime's
        interpreter, and the {socket}/{workdir} placeholders filled in."""
        return [python if arg == self.program else _fill(arg, socket=socket, workdir=workdir) for arg in self.start]

    def environment(self, *, socket: str, workdir: str) -> dict[str, str]:
        return {key: _fill(value, socket=socket, workdir=workdir) for key, value in self.env.items()}


@dataclass(frozen=True)
class Manifest:
    root: Path
    slug: str
    title: str
    version: str
    summary: str
    python: str
    requirements: str
    shipped_dir: Path
    hidden_tests_dir: Path
    reference_dir: Path
    app: AppSpec
    visible_command: tuple[str, ...]
    visible_timeout: float
    hidden_timeout: float
    request_timeout: float
    hidden_budget: float  # CPU seconds one run of the hidden suite may use, grader and app together
    limits: dict[str, int]
    tickets: tuple[Ticket, ...]
    # Caps on the trusted grader, which reads the app's answers outside the sandbox (grader.http_caps).
    max_response_bytes: int = 10 * 1024 * 1024
    grader_memory_bytes: int = 1024 * 1024 * 1024
    # [paths] decoys: the folder of known-wrong fixes (optional); read by decoys().
    decoys_dir: Path | None = None
    # [hidden_tests] concurrency_repeats: how many times validation runs each test marked
    # concurrency in each state where it is judged (0: not repeated).
    concurrency_repeats: int = 5
    # [hidden_tests] flake_runs: how many more times validation runs every hidden test (but those
    # marked concurrency, repeated on their own) with all fixes, where each must pass: a test that
    # fails once is named flaky. 60 finds a test failing one run in twenty with 95 % probability.
    flake_runs: int = FLAKE_RUNS
    # [paths] source: the folder of the shipped project (posix, relative to it) that a reference fix
    # may change; "app" unless the manifest says otherwise.
    source: str = "app"
    # [runtime] candidate_requirements: the distributions a candidate's requirements file may list
    # beyond the shipped lines (grader.requirements); () for "none", the default.
    candidate_requirements: tuple[str, ...] = ()
    # [runtime] kind: "python" (python and requirements above) or "node": then ``node`` is the major
    # version of the host's node, ``python`` is "" and ``requirements`` is the lockfile (its path in
    # the shipped project, beside its package.json).
    runtime_kind: str = "python"
    node: str = ""
    # kind = "go": ``go`` is the host's go's "major.minor" ("1.19"), ``requirements`` is "go.mod".
    go: str = ""
    # [runtime] build: the command that compiles the tree once before its app and visible tests run
    # (required for kind = "go"; () for none), and the CPU seconds it may use.
    build_command: tuple[str, ...] = ()
    build_timeout: float = 120.0
    # [services]: the services declared (names from SERVICES, in that order); () for none, the default.
    services: tuple[str, ...] = ()

    @property
    def interpreter(self) -> str:
        """The host's interpreter of [runtime] python (or node), the one runtimes are built with."""
        if self.runtime_kind in ("node", "go"):
            return str(INTERPRETERS_DIR / self.runtime_kind)
        return str(INTERPRETERS_DIR / f"python{self.python}")

    @property
    def program(self) -> str:
        """The word the start and visible test commands name for the runtime's interpreter."""
        return self.runtime_kind

    def outside_source(self, paths: list[str]) -> list[str]:
        """The paths (relative to the shipped project) that are not inside the source folder."""
        source = PurePosixPath(self.source)
        if source == PurePosixPath("."):
            return []
        return [path for path in paths if source not in PurePosixPath(path).parents]

    def decoys(self) -> list[Decoy]:
        """The decoy patches, by ticket then name; ManifestError for a file named wrongly or for no ticket."""
        if self.decoys_dir is None:
            return []
        numbers = {ticket.number for ticket in self.tickets}
        found = []
        for path in sorted(self.decoys_dir.iterdir()):
            match = DECOY_NAME.fullmatch(path.name)
            if not match or not path.is_file():
                raise ManifestError(
                    f"decoys: {path.name} should be a file named ticket-<number>-<name>.patch "
                    "(lower-case letters, digits and dashes)"
                )
            ticket = int(match["ticket"])
            if ticket not in numbers:
                raise ManifestError(f"decoys: {path.name} is for ticket #{ticket}, which the manifest does not have")
            found.append(Decoy(ticket=ticket, name=path.name.removesuffix(".patch"), path=path))
        return sorted(found, key=lambda decoy: (decoy.ticket, decoy.name))

    @property
    def total_points(self) -> int:
        return sum(ticket.points for ticket in self.tickets)

    def ticket(self, number: int) -> Ticket:
        for ticket in self.tickets:
            if ticket.number == number:
                return ticket
        raise KeyError(f"no ticket #{number}")

    def hidden_test_files(self, tickets: list[int] | None = None) -> list[Path]:
        selected = [t for t in self.tickets if tickets is None or t.number in tickets]
        return [self.hidden_tests_dir / name for ticket in selected for name in ticket.hidden_tests]

    def ticket_of_hidden_file(self, filename: str) -> int | None:
        """The ticket whose hidden tests include this file (a path relative to the hidden tests folder)."""
        for ticket in self.tickets:
            if filename in ticket.hidden_tests:
                return ticket.number
        return None

    def ticket_of_visible_test(self, node_id: str) -> int | None:
        for ticket in self.tickets:
            if node_id in ticket.visible_tests:
                return ticket.number
        return None

    def patch_path(self, number: int) -> Path:
        return self.reference_dir / self.ticket(number).reference_patch

    def visible_test_command(self, python: str, *, junit: str) -> list[str]:
        return [python if arg == self.program else arg.replace("{junit}", junit) for arg in self.visible_command]

    def build_argv(self, interpreter: str) -> list[str]:
        """[runtime] build with the program ("go") replaced by the runtime's ``interpreter``; [] for none."""
        return [interpreter if arg == self.program else arg for arg in self.build_command]


def _fill(value: str, *, socket: str, workdir: str) -> str:
    return value.replace("{socket}", socket).replace("{workdir}", workdir)


def _get(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise ManifestError(f"{where}: '{key}' is missing")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{where}: '{key}' should be a {kind.__name__}, not {value!r}")
    return value


def _number(table: dict, key: str, default: float, where: str) -> float:
    """An optional number of seconds, megabytes...: positive, or ManifestError naming the key."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ManifestError(f"{where}: '{key}' should be a positive number, not {value!r}")
    return float(value)


def _known_keys(table: dict, where: str) -> None:
    """Refuse a key the table does not have, naming the nearest one it has."""
    known = KNOWN_KEYS[where]
    if known is None:
        return
    for key in table:
        if key in known:
            continue
        what = {"": "table", "[services]": "service"}.get(where, "key")
        place = MANIFEST_NAME if where == "" else where
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        kinds = "services" if what == "service" else "keys"
        hint = f"did you mean {near[0]}?" if near else f"the {kinds} it knows are {', '.join(known)}"
        raise ManifestError(f"{key}: unknown {what} in {place}; {hint}")


def _python(runtime: dict, available: list[str]) -> str:
    """[runtime] python: a version this host can build runtimes with, or ManifestError naming those it has."""
    version = _get(runtime, "python", str, "[runtime]")
    if not PYTHON_VERSION.fullmatch(version):
        raise ManifestError(f"[runtime]: 'python' should be a version such as \"3.11\", not {version!r}")
    if version not in available:
        has = ", ".join(available) or "none"
        raise ManifestError(
            f'[runtime] python = "{version}": this host has no Python {version} to build runtimes with '
            f"(it has {has}, in {INTERPRETERS_DIR}); set one of those, or install python{version} and "
            f"python{version}-venv on every host that validates or scores"
        )
    return version


def _runtime_kind(runtime: dict) -> str:
    """[runtime] kind, "python" unless said; the keys of the other kind are refused, never ignored."""
    kind = runtime.get("kind", "python")
    if kind not in RUNTIME_KINDS:
        raise ManifestError(
            f"[runtime] kind = {kind!r}: not a kind of runtime the portal knows; the kinds it knows are "
            f"{', '.join(RUNTIME_KINDS)}"
        )
    python_keys = ("python", "requirements", "candidate_requirements")
    foreign, hint = {
        "python": (("node", "lockfile", "go"), 'node and lockfile are for kind = "node", go for kind = "go"'),
        "node": ((*python_keys, "go"), "a node runtime has node and lockfile"),
        "go": ((*python_keys, "node", "lockfile"), "a go runtime has go, build and build_timeout_seconds"),
    }[kind]
    for key in foreign:
        if key in runtime:
            raise ManifestError(f'[runtime] {key}: not a key of a {kind} runtime (kind = "{kind}"); {hint}')
    return kind


def _node(runtime: dict, host: str | None) -> str:
    """[runtime] node: the major version of the host's node, or ManifestError naming the one it has."""
    version = _get(runtime, "node", str, "[runtime]")
    if not NODE_MAJOR.fullmatch(version):
        raise ManifestError(f"[runtime]: 'node' should be a major version such as \"20\", not {version!r}")
    where = INTERPRETERS_DIR / "node"
    if host is None:
        raise ManifestError(
            f'[runtime] node = "{version}": this host has no node to run the app with ({where} not found); '
            "install Debian's nodejs and npm on every host that validates or scores"
        )
    if host.split(".")[0] != version:
        raise ManifestError(
            f'[runtime] node = "{version}": this host\'s node is {host} ({where}), not Node.js {version}; '
            f'set node = "{host.split(".")[0]}", or install Node.js {version} as {where} on every host that '
            "validates or scores"
        )
    return version


def _go(runtime: dict, host: str | None) -> str:
    """[runtime] go: the "major.minor" of the host's go ("1.19"), or ManifestError naming the one it has."""
    version = _get(runtime, "go", str, "[runtime]")
    if not GO_VERSION.fullmatch(version):
        raise ManifestError(f"[runtime]: 'go' should be a version such as \"1.19\", not {version!r}")
    where = INTERPRETERS_DIR / "go"
    if host is None:
        raise ManifestError(
            f'[runtime] go = "{version}": this host has no go to build the app with ({where} not found); '
            "install Debian's golang-go on every host that validates or scores"
        )
    has = ".".join(host.split(".")[:2])
    if has != version:
        raise ManifestError(
            f'[runtime] go = "{version}": this host\'s go is {host} ({where}), not Go {version}; set go = "{has}", '
            f"or install Go {version} as {where} on every host that validates or scores"
        )
    return version


def _build(runtime: dict, kind: str) -> tuple[str, ...]:
    """[runtime] build: an argv list; required for a go runtime, whose app is what it compiles."""
    if "build" not in runtime:
        if kind == "go":
            raise ManifestError(
                "[runtime] build: a package in Go needs the command that compiles its app, such as "
                'build = ["go", "build", "-o", ".portal/app", "."] (and [app] start = ["./.portal/app", "{socket}"])'
            )
        return ()
    return _strings(runtime, "build", "[runtime]")


@functools.cache
def host_go(path: Path = INTERPRETERS_DIR / "go") -> str | None:
    """The version of the host's go ("1.19.8"), None if it has none that runs."""
    try:
        out = subprocess.run(
            [str(path), "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GOENV": "off", "GOTOOLCHAIN": "local"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().removeprefix("go") or None


@functools.cache
def host_node(path: Path = INTERPRETERS_DIR / "node") -> str | None:
    """The version of the host's node ("20.19.2"), None if it has none that runs."""
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip().removeprefix("v") or None


def _lockfile(runtime: dict) -> str:
    """[runtime] lockfile: npm's lockfile in the shipped project, package-lock.json unless said."""
    lockfile = runtime.get("lockfile", "package-lock.json")
    path = PurePosixPath(lockfile) if isinstance(lockfile, str) else None
    if path is None or path.is_absolute() or ".." in path.parts or path.name not in NODE_LOCKFILES:
        raise ManifestError(
            f"[runtime]: 'lockfile' should be a {' or '.join(NODE_LOCKFILES)} inside the shipped project "
            f"(npm ci installs from those), not {lockfile!r}"
        )
    return path.as_posix()


def _requirements(runtime: dict, kind: str) -> str:
    """What defines the runtime's dependencies: the requirements file, npm's lockfile or go.mod."""
    if kind == "go":
        return GO_MODULE_FILE
    return _get(runtime, "requirements", str, "[runtime]") if kind == "python" else _lockfile(runtime)


def host_pythons(directory: Path = INTERPRETERS_DIR) -> list[str]:
    """The Python versions this host can build runtimes with: "3.11" for each python3.11 in directory."""
    found = {path.name.removeprefix("python") for path in directory.glob("python3.*")}
    versions = [v for v in found if PYTHON_VERSION.fullmatch(v) and (directory / f"python{v}").is_file()]
    return sorted(versions, key=lambda v: tuple(int(part) for part in v.split(".")))


def _source(paths: dict) -> str:
    """[paths] source: a folder inside the shipped project, as a posix path relative to it."""
    source = paths.get("source", "app")
    if not isinstance(source, str) or not source:
        raise ManifestError(f"[paths]: 'source' should be a folder of the shipped project, not {source!r}")
    path = PurePosixPath(source)
    if path.is_absolute() or ".." in path.parts:
        raise ManifestError(f"[paths]: 'source' should be a folder inside the shipped project, not {source!r}")
    return path.as_posix()


def _candidate_requirements(runtime: dict) -> tuple[str, ...]:
    """[runtime] candidate_requirements: "none", or a list of distribution names (checked in _check)."""
    value = runtime.get("candidate_requirements", "none")
    if value == "none":
        return ()
    if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
        raise ManifestError(
            f"[runtime]: 'candidate_requirements' should be \"none\" or a list of distribution names, not {value!r}"
        )
    return tuple(value)


def _services(data: dict) -> tuple[str, ...]:
    """[services]: ``name = true`` for each service beside the app; unknown names refused (KNOWN_KEYS)."""
    services = data.get("services", {})
    if not isinstance(services, dict):
        raise ManifestError(f"{MANIFEST_NAME}: 'services' should be a table, such as [services] postgresql = true")
    _known_keys(services, "[services]")
    for name, value in services.items():
        if not isinstance(value, bool):
            raise ManifestError(f"[services]: '{name}' should be true or false, not {value!r}")
    return tuple(name for name in SERVICES if services.get(name))


def _strings(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = _get(table, key, list, where)
    if not value or not all(isinstance(item, str) and item for item in value):
        raise ManifestError(f"{where}: '{key}' should be a non-empty list of strings")
    return tuple(value)


def _repeats(hidden: dict, key: str, default: int) -> int:
    repeats = hidden.get(key, default)  # a whole number, 0 allowed
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ManifestError(f"[hidden_tests]: '{key}' should be a whole number from 0, not {repeats!r}")
    return repeats


def load_manifest(assessment_dir: str | Path = DEFAULT_ASSESSMENT_DIR) -> Manifest:
    """Read assessment.toml in assessment_dir, check it and the files it names, and return it."""
    root = Path(assessment_dir).resolve()
    path = root / MANIFEST_NAME
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ManifestError(f"{path} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: {exc}") from exc

    _known_keys(data, "")
    meta = _get(data, "assessment", dict, MANIFEST_NAME)
    paths = _get(data, "paths", dict, MANIFEST_NAME)
    runtime = _get(data, "runtime", dict, MANIFEST_NAME)
    app = _get(data, "app", dict, MANIFEST_NAME)
    visible = _get(data, "visible_tests", dict, MANIFEST_NAME)
    hidden = _get(data, "hidden_tests", dict, MANIFEST_NAME)
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise ManifestError(f"{MANIFEST_NAME}: 'limits' should be a table, not {limits!r}")
    env = app.get("env", {})
    if not isinstance(env, dict):
        raise ManifestError(f"[app]: 'env' should be a table, not {env!r}")
    for table, where in (
        (meta, "[assessment]"),
        (paths, "[paths]"),
        (runtime, "[runtime]"),
        (app, "[app]"),
        (visible, "[visible_tests]"),
        (hidden, "[hidden_tests]"),
        (limits, "[limits]"),
    ):
        _known_keys(table, where)
    for key, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ManifestError(f"[limits]: '{key}' should be a positive whole number, not {value!r}")

    kind = _runtime_kind(runtime)
    services = _services(data)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ManifestError("[app.env]: values should be strings")
    app_spec = AppSpec(
        start=_strings(app, "start", "[app]"),
        ready_path=_get(app, "ready_path", str, "[app]"),
        env=dict(env),
        startup_timeout=_number(app, "startup_timeout_seconds", 20, "[app]"),
        program=kind,
    )
    if not any("{socket}" in arg for arg in app_spec.start):
        raise ManifestError("[app] start: the command must serve on {socket}")

    tickets = []
    for index, raw in enumerate(_get(data, "tickets", list, MANIFEST_NAME), start=1):
        where = f"[[tickets]] #{index}"
        if not isinstance(raw, dict):
            raise ManifestError(f"{where}: should be a table, not {raw!r}")
        _known_keys(raw, "[[tickets]]")
        tickets.append(
            Ticket(
                number=_get(raw, "number", int, where),
                title=_get(raw, "title", str, where),
                points=_get(raw, "points", int, where),
                hidden_tests=_strings(raw, "hidden_tests", where),
                visible_tests=_strings(raw, "visible_tests", where) if raw.get("visible_tests") else (),
                reference_patch=_get(raw, "reference_patch", str, where),
            )
        )

    manifest = Manifest(
        root=root,
        slug=_get(meta, "slug", str, "[assessment]"),
        title=_get(meta, "title", str, "[assessment]"),
        version=_get(meta, "version", str, "[assessment]"),
        summary=meta.get("summary", ""),
        runtime_kind=kind,
        python=_python(runtime, host_pythons()) if kind == "python" else "",
        node=_node(runtime, host_node()) if kind == "node" else "",
        go=_go(runtime, host_go()) if kind == "go" else "",
        build_command=_build(runtime, kind),
        build_timeout=_number(runtime, "build_timeout_seconds", 120, "[runtime]"),
        services=services,
        requirements=_requirements(runtime, kind),
        shipped_dir=root / _get(paths, "shipped", str, "[paths]"),
        hidden_tests_dir=root / _get(paths, "hidden_tests", str, "[paths]"),
        reference_dir=root / _get(paths, "reference", str, "[paths]"),
        decoys_dir=root / _get(paths, "decoys", str, "[paths]") if "decoys" in paths else None,
        source=_source(paths),
        candidate_requirements=_candidate_requirements(runtime),
        app=app_spec,
        visible_command=_strings(visible, "command", "[visible_tests]"),
        visible_timeout=_number(visible, "timeout_seconds", 120, "[visible_tests]"),
        hidden_timeout=_number(hidden, "timeout_seconds", 60, "[hidden_tests]"),
        request_timeout=_number(hidden, "request_timeout_seconds", 5, "[hidden_tests]"),
        hidden_budget=_number(hidden, "budget_seconds", 10, "[hidden_tests]"),
        max_response_bytes=int(_number(hidden, "max_response_mb", 10, "[hidden_tests]") * 1024 * 1024),
        grader_memory_bytes=int(_number(hidden, "grader_memory_mb", 1024, "[hidden_tests]")) * 1024 * 1024,
        concurrency_repeats=_repeats(hidden, "concurrency_repeats", 5),
        flake_runs=_repeats(hidden, "flake_runs", FLAKE_RUNS),
        limits=dict(limits),
        tickets=tuple(tickets),
    )
    _check(manifest)
    return manifest


def _check(manifest: Manifest) -> None:
    numbers = [ticket.number for ticket in manifest.tickets]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ManifestError(f"tickets should be numbered 1, 2, 3... in order, not {numbers}")
    for ticket in manifest.tickets:
        if ticket.points <= 0:
            raise ManifestError(f"ticket #{ticket.number}: points should be positive")
    for directory in (manifest.shipped_dir, manifest.hidden_tests_dir, manifest.reference_dir, manifest.decoys_dir):
        if directory is not None and not directory.is_dir():
            raise ManifestError(f"{directory} is not a directory")
    if not (manifest.shipped_dir / manifest.source).is_dir():
        raise ManifestError(
            f"[paths] source: {manifest.source}/ is not a folder of {manifest.shipped_dir.name}/; "
            "set source to the folder a reference fix may change"
        )
    manifest.decoys()  # names and tickets
    if not (manifest.shipped_dir / manifest.requirements).is_file():
        more = ": a package in Go is a module (go mod init)" if manifest.runtime_kind == "go" else ""
        raise ManifestError(f"{manifest.requirements} not found in {manifest.shipped_dir}{more}")
    package_json = (PurePosixPath(manifest.requirements).parent / "package.json").as_posix()
    if manifest.runtime_kind == "node" and not (manifest.shipped_dir / package_json).is_file():
        raise ManifestError(
            f"{package_json} not found in {manifest.shipped_dir}: npm ci installs from it and its lockfile"
        )
    if manifest.candidate_requirements:
        shipped = requirements_read(manifest.shipped_dir / manifest.requirements)
        missing = [name for name in manifest.candidate_requirements if canonical_name(name) not in shipped.names]
        if missing:
            raise ManifestError(
                f"[runtime] candidate_requirements: {', '.join(missing)} not in {manifest.requirements}; a candidate "
                "may only list what the runtime installs, so pin each of them there too"
            )
    seen: dict[str, int] = {}
    for ticket in manifest.tickets:
        if not manifest.patch_path(ticket.number).is_file():
            raise ManifestError(f"ticket #{ticket.number}: {manifest.patch_path(ticket.number)} not found")
        for name in ticket.hidden_tests:
            if not (manifest.hidden_tests_dir / name).is_file():
                raise ManifestError(f"ticket #{ticket.number}: hidden test file {name} not found")
            if name in seen:
                raise ManifestError(f"{name} is listed for tickets #{seen[name]} and #{ticket.number}")
            seen[name] = ticket.number
        # A node test's id names no file (grader.junit); validation finds it in the report or says it is not there.
        for node_id in ticket.visible_tests if manifest.runtime_kind == "python" else ():
            if not (manifest.shipped_dir / node_id.split("::", 1)[0]).is_file():
                raise ManifestError(f"ticket #{ticket.number}: visible test {node_id} names a file that isn't there")
