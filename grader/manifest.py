"""Reading and checking assessment.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_NAME = "assessment.toml"
# decoys/ticket-<n>-<name>.patch: a known-wrong fix of ticket n that its hidden tests must reject.
DECOY_NAME = re.compile(r"ticket-(?P<ticket>[0-9]+)-(?P<name>[a-z0-9]+(?:-[a-z0-9]+)*)\.patch")
DEFAULT_ASSESSMENT_DIR = Path(__file__).resolve().parent.parent / "assessment_app"


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

    def command(self, python: str, *, socket: str, workdir: str) -> list[str]:
        """The start command with "python" and the {socket}/{workdir} placeholders filled in."""
        return [python if arg == "python" else _fill(arg, socket=socket, workdir=workdir) for arg in self.start]

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
        return [python if arg == "python" else arg.replace("{junit}", junit) for arg in self.visible_command]


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


def _strings(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = _get(table, key, list, where)
    if not value or not all(isinstance(item, str) and item for item in value):
        raise ManifestError(f"{where}: '{key}' should be a non-empty list of strings")
    return tuple(value)


def _repeats(hidden: dict) -> int:
    repeats = hidden.get("concurrency_repeats", 5)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ManifestError(f"[hidden_tests]: 'concurrency_repeats' should be a whole number from 0, not {repeats!r}")
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

    meta = _get(data, "assessment", dict, MANIFEST_NAME)
    paths = _get(data, "paths", dict, MANIFEST_NAME)
    runtime = _get(data, "runtime", dict, MANIFEST_NAME)
    app = _get(data, "app", dict, MANIFEST_NAME)
    visible = _get(data, "visible_tests", dict, MANIFEST_NAME)
    hidden = _get(data, "hidden_tests", dict, MANIFEST_NAME)
    limits = data.get("limits", {})

    env = app.get("env", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ManifestError("[app.env]: values should be strings")
    app_spec = AppSpec(
        start=_strings(app, "start", "[app]"),
        ready_path=_get(app, "ready_path", str, "[app]"),
        env=dict(env),
        startup_timeout=float(app.get("startup_timeout_seconds", 20)),
    )
    if not any("{socket}" in arg for arg in app_spec.start):
        raise ManifestError("[app] start: the command must serve on {socket}")

    tickets = []
    for index, raw in enumerate(_get(data, "tickets", list, MANIFEST_NAME), start=1):
        where = f"[[tickets]] #{index}"
        tickets.append(
            Ticket(
                number=_get(raw, "number", int, where),
                title=_get(raw, "title", str, where),
                points=_get(raw, "points", int, where),
                hidden_tests=_strings(raw, "hidden_tests", where),
                visible_tests=tuple(raw.get("visible_tests", ())),
                reference_patch=_get(raw, "reference_patch", str, where),
            )
        )

    manifest = Manifest(
        root=root,
        slug=_get(meta, "slug", str, "[assessment]"),
        title=_get(meta, "title", str, "[assessment]"),
        version=_get(meta, "version", str, "[assessment]"),
        summary=meta.get("summary", ""),
        python=_get(runtime, "python", str, "[runtime]"),
        requirements=_get(runtime, "requirements", str, "[runtime]"),
        shipped_dir=root / _get(paths, "shipped", str, "[paths]"),
        hidden_tests_dir=root / _get(paths, "hidden_tests", str, "[paths]"),
        reference_dir=root / _get(paths, "reference", str, "[paths]"),
        decoys_dir=root / _get(paths, "decoys", str, "[paths]") if "decoys" in paths else None,
        app=app_spec,
        visible_command=_strings(visible, "command", "[visible_tests]"),
        visible_timeout=float(visible.get("timeout_seconds", 120)),
        hidden_timeout=float(hidden.get("timeout_seconds", 60)),
        request_timeout=float(hidden.get("request_timeout_seconds", 5)),
        hidden_budget=float(hidden.get("budget_seconds", 10)),
        max_response_bytes=int(float(hidden.get("max_response_mb", 10)) * 1024 * 1024),
        grader_memory_bytes=int(hidden.get("grader_memory_mb", 1024)) * 1024 * 1024,
        concurrency_repeats=_repeats(hidden),
        limits={key: value for key, value in limits.items() if isinstance(value, int)},
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
    manifest.decoys()  # names and tickets
    if not (manifest.shipped_dir / manifest.requirements).is_file():
        raise ManifestError(f"{manifest.requirements} not found in {manifest.shipped_dir}")
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
        for node_id in ticket.visible_tests:
            if not (manifest.shipped_dir / node_id.split("::", 1)[0]).is_file():
                raise ManifestError(f"ticket #{ticket.number}: visible test {node_id} names a file that isn't there")
