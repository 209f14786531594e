"""The assessment proves itself: every check of its content, through the real grading path.

validate() builds the shipped project as a git repository, then runs it in
eight states: as shipped, with each ticket's reference fix alone, and with all
fixes. In each state it runs the visible tests, starts the app and runs the
hidden tests against it, then compares the results:

- the visible tests fail as shipped, each ticket's visible tests among them;
- every hidden test of every ticket fails as shipped, but regression guards (tests marked
  guard), which pass as shipped and with every fix, in every state of the project;
- each reference patch applies alone; with only fix #N, ticket #N's hidden and
  visible tests pass and no other test's result changes;
- with all fixes, every hidden and visible test passes, twice in a row on the
  same app (tests don't rely on a fresh database);
- each decoy (decoys/ticket-<n>-<name>.patch, a known-wrong fix) applies alone,
  and with it the app fails at least one of ticket #N's hidden tests: the
  hidden tests reject the shortcut. The report names the tests that reject it;
- every hidden test marked concurrency gives the same verdict in each of
  ``concurrency_repeats`` more runs, in every state where it is judged (as
  shipped and with each decoy of its ticket it rejects: fails; with its fix
  alone and with all fixes: passes);
- with all fixes, every hidden test but those marked concurrency runs ``flake_runs`` more
  times (on fresh apps, FLAKE_BATCH runs each) and passes every time: a test that fails even
  once is named flaky, with how often it failed and why;
- every app starts within its start-up limit, and every run of the hidden suite
  stays within the budget, both judged in CPU seconds (grader.clock), so a busy
  host never refuses a correct package. A state that only the wall clock's
  safety net stopped, its own work well below the limit (starved by the host's
  other work), is played again, at most STARVED_TRIES times.

Every hidden run uses the validation's seed (a fresh one unless given), so the
states are compared on the same requests; the second run on the all-fixes app
uses the next seed, as records of the first are still in its database, the
repeats of concurrency tests the one after, and each batch of the search for flaky
tests one of the seeds after that.

The candidate's code is run through a Runner: LocalRunner (plain local
subprocesses) by default, the portal's sandbox in production.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import gitplumbing
from gitplumbing import identity_env

from .clock import Usage
from .concurrency import PROPERTY as CONCURRENCY
from .concurrency import repeated_test_id
from .junit import TestOutcome
from .local import AppStartError, BuildError, LocalRunner
from .manifest import DEFAULT_ASSESSMENT_DIR, Decoy, Manifest, ManifestError, load_manifest
from .play import VISIBLE_BEFORE, App, Runner, play, served
from .run import SEED_RANGE, HiddenRun, OutOfTime, VisibleRun, check_seed, new_seed, run_hidden_tests

# Files that must never be shipped to candidates.
JUNK_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", "venv", ".env"}
JUNK_SUFFIXES = {".pyc", ".pyo", ".db", ".sqlite", ".sqlite3", ".db-journal", ".sock"}
# Modules the hidden tests may import: they reach the app over HTTP only.
HIDDEN_TEST_IMPORTS = set(sys.stdlib_module_names) | {"pytest", "httpx", "conftest"}
DECOY_CHECK = "decoy "
ALL_FIXES = "all-fixes"
# How many times a state is played when the host's other work starved it (see the module docstring).
STARVED_TRIES = 3
# The search for flaky tests runs the suite this many times on one app, then starts a fresh one: the
# app's database and life stay the size of a few scoring runs.
FLAKE_BATCH = 10


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""
    ticket: int | None = None
    notes: str = ""  # longer explanation of a failure (test messages), printed under the table


@dataclass
class Scenario:
    """One state of the project: as shipped, one fix, all fixes, or one decoy."""

    name: str
    patches: tuple[int, ...]
    decoy: Decoy | None = None  # applied after the patches; its state runs the hidden tests only
    tree: Path | None = None
    error: str = ""
    visible: VisibleRun | None = None
    hidden: list[HiddenRun] = field(default_factory=list)
    app_start: float = 0.0
    app_start_usage: Usage | None = None
    start_failed: bool = False  # the app did not start within its start-up limit
    # The concurrency tests judged in this state, run concurrency_repeats times on its app.
    repeats: HiddenRun | None = None
    repeat_error: str = ""
    # The search for flaky tests (all fixes only): how many more runs, and their batches.
    flake_runs: int = 0
    flakes: list[HiddenRun] = field(default_factory=list)
    flake_error: str = ""
    plays: int = 0
    built: bool = False  # the runtime's build step ran in the tree (once per state)
    duration: float = 0.0

    @property
    def hidden_results(self) -> dict[str, TestOutcome]:
        return {o.test_id: o for o in self.hidden[0].outcomes} if self.hidden else {}

    @property
    def visible_results(self) -> dict[str, TestOutcome]:
        return {o.test_id: o for o in self.visible.outcomes} if self.visible else {}


@dataclass
class ValidationReport:
    assessment: str
    checks: list[Check] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    workdir: str | None = None  # kept for inspection when validate(keep=True)
    seed: int | None = None  # of the hidden runs: `--seed` replays them

    @property
    def decoys(self) -> list[Check]:
        """The verdict on each decoy: ok means its ticket's hidden tests rejected it."""
        return [check for check in self.checks if check.name.startswith(DECOY_CHECK)]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def add(self, name: str, ok: bool, detail: str = "", ticket: int | None = None, notes: str = "") -> None:
        self.checks.append(Check(name, bool(ok), detail, ticket, notes if not ok else ""))

    def table(self, *, verbose: bool = False) -> str:
        """The checks as a plain-text table, then the timings; ``verbose``: details uncut."""
        rows = [("TICKET", "CHECK", "RESULT", "DETAIL")]
        for check in self.checks:
            ticket = f"#{check.ticket}" if check.ticket else "-"
            detail = check.detail.replace("\n", " ")
            rows.append((ticket, check.name, "ok" if check.ok else "FAILED", detail if verbose else detail[:140]))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        seed = f", hidden tests seed {self.seed}" if self.seed is not None else ""
        lines = [f"Validation of {self.assessment}{seed}"]
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
            if index == 0:
                lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 6)
        passed = sum(check.ok for check in self.checks)
        for check in self.failed:
            if check.notes:
                ticket = f"#{check.ticket} " if check.ticket else ""
                lines += ["", f"{ticket}{check.name}:", *("    " + line for line in check.notes.splitlines())]
        lines.append("")
        lines.append(f"{passed}/{len(self.checks)} checks passed" + ("" if self.ok else f", {len(self.failed)} FAILED"))
        if self.timings:
            lines.append("Timings: " + ", ".join(f"{key} {value:.2f} s" for key, value in self.timings.items()))
        return "\n".join(lines)


def _git(cwd: Path, *args: str) -> _Git:
    """git in a scratch repository, through the portal's one git module, as a fixed author."""
    local = ("-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", "-c", "core.hooksPath=/dev/null")
    env = {**identity_env("Assessment Validator", "validator@assessment.invalid"), "HOME": str(cwd)}
    result = gitplumbing.run(*local, *args, cwd=cwd, check=False, env=env)
    return _Git(result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"))


@dataclass(frozen=True)
class _Git:
    returncode: int
    stdout: str
    stderr: str


def _junk(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.name in JUNK_NAMES or path.suffix in JUNK_SUFFIXES:
            found.append(str(path.relative_to(root)))
    return sorted(found)


def _hidden_test_imports(hidden_dir: Path) -> list[str]:
    """Imports in the hidden tests of anything but the standard library, pytest and httpx."""
    bad = []
    for path in sorted(hidden_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["." * node.level + (node.module or "")]
            else:
                continue
            bad += [f"{path.name}: {name}" for name in names if name.split(".")[0] not in HIDDEN_TEST_IMPORTS]
    return bad


def _patch_stat(tree: Path, patch: Path) -> tuple[bool, str, list[str]]:
    """Whether the patch applies to tree, which files and how many lines it changes, and the files."""
    check = _git(tree, "apply", "--check", str(patch))
    if check.returncode != 0:
        return False, check.stderr.strip(), []
    stat = _git(tree, "apply", "--numstat", str(patch)).stdout.split("\n")
    changes, files = [], []
    for line in filter(None, stat):
        added, removed, name = line.split("\t", 2)
        changes.append(f"{name} +{added}/-{removed}")
        files.append(name)
    return True, ", ".join(changes), files


def fix_scope(manifest: Manifest, applies: bool, detail: str, files: list[str]) -> tuple[bool, str]:
    """The verdict on a reference fix's reach: it applies and changes files in [paths] source only.

    The detail names the files outside the source folder (a fix that changes a test would make its
    own ticket's tests pass), else what the fix changes.
    """
    if not applies:
        return False, f"does not apply: {detail}"
    if not files:
        return False, "changes no file"
    outside = manifest.outside_source(files)
    if outside:
        return False, f"changes files outside {manifest.source}/: {', '.join(outside)}"
    return True, detail


def _prepare(base: Path, scenario: Scenario, manifest: Manifest, root: Path) -> None:
    """Clone the shipped repository and commit the scenario's reference fixes, as a candidate would."""
    tree = root / scenario.name
    cloned = _git(root, "clone", "-q", str(base), str(tree))
    if cloned.returncode != 0:
        raise RuntimeError(f"git clone failed: {cloned.stderr.strip()}")
    fixes = [(f"patch #{n}", manifest.patch_path(n), f"#{n} - reference fix") for n in scenario.patches]
    if scenario.decoy is not None:
        fixes.append((f"decoy {scenario.decoy.name}", scenario.decoy.path, f"#{scenario.decoy.ticket} - decoy"))
    for what, patch, summary in fixes:
        applied = _git(tree, "apply", "--index", str(patch))
        if applied.returncode != 0:
            raise RuntimeError(f"{what} does not apply: {applied.stderr.strip()}")
        committed = _git(tree, "commit", "-q", "-m", f"Fix: Resolve issue {summary}")
        if committed.returncode != 0:
            raise RuntimeError(f"commit of {what} failed: {committed.stderr.strip()}")
    scenario.tree = tree


def _play(
    scenario: Scenario,
    manifest: Manifest,
    runner: Runner,
    grader_python: str,
    seeds: tuple[int, ...],
    progress: Callable[[str], None],
) -> None:
    """Run the scenario's visible tests (a decoy's are not judged), then one hidden run per seed on one
    app, then its concurrency tests again; played again (bounded) when the host starved it."""
    started = time.monotonic()
    while True:
        scenario.plays += 1
        starved = _play_once(scenario, manifest, runner, grader_python, seeds)
        if not starved:
            break
        if scenario.plays >= STARVED_TRIES:
            scenario.error = f"the host was too busy to judge this state in {scenario.plays} tries: {starved}"
            break
        first_line = starved.partition("\n")[0]
        # Each app serves a copy of the tree (grader.play): the next play starts from the same tree.
        progress(f"{scenario.name}: the host was too busy ({first_line}); playing it again")
    scenario.duration = time.monotonic() - started
    visible = scenario.visible
    parts = [f"visible tests {_summary(visible.outcomes)} in {visible.duration:.2f} s"] if visible else []
    if scenario.app_start_usage is not None:
        parts.append(f"app ready: {scenario.app_start_usage.describe()}")
    for run in scenario.hidden:
        parts.append(f"hidden tests {_summary(run.outcomes)}: {_usage(run)}")
    if scenario.repeats is not None:
        parts.append(f"concurrency tests {_summary(scenario.repeats.outcomes)}: {_usage(scenario.repeats)}")
    if scenario.flakes:
        outcomes = [o for run in scenario.flakes for o in run.outcomes]
        cpu = sum(_cpu(run) for run in scenario.flakes)
        parts.append(f"{scenario.flake_runs} more runs of the hidden tests {_summary(outcomes)}: {cpu:.2f} CPU s")
    if scenario.error:
        parts.append(scenario.error.partition("\n")[0])
    progress(f"{scenario.name}: " + ", ".join(parts))


def _play_once(
    scenario: Scenario, manifest: Manifest, runner: Runner, grader_python: str, seeds: tuple[int, ...]
) -> str:
    """Play the scenario once; why, if the host's other work starved it (then it is worth another try)."""
    scenario.error, scenario.hidden, scenario.repeats, scenario.repeat_error = "", [], None, ""
    scenario.flakes, scenario.flake_error = [], ""
    scenario.start_failed = False
    try:
        if scenario.tree is None:
            raise RuntimeError("no tree")

        def hidden(app: App, seed: int) -> HiddenRun:
            return run_hidden_tests(
                app.socket, manifest=manifest, python=grader_python, seed=seed, app_usage=app.usage, warm=True
            )

        played = play(
            runner,
            scenario.tree,
            seeds=seeds,
            hidden=hidden,
            # A decoy's visible tests are not judged; a state played again keeps its first run of them.
            visible=VISIBLE_BEFORE if scenario.decoy is None and scenario.visible is None else None,
            build=not scenario.built,
        )
        scenario.built = scenario.built or not isinstance(played.failure, BuildError)
        scenario.visible = played.visible or scenario.visible
        scenario.hidden = played.hidden
        if played.app_start is not None:
            scenario.app_start, scenario.app_start_usage = played.app_start, played.app_start_usage
        failure = played.failure
        if scenario.hidden and scenario.hidden[-1].starved:
            return f"the hidden tests' last requests were not sent in time ({_usage(scenario.hidden[-1])})"
        if isinstance(failure, (AppStartError, BuildError, OutOfTime)) and failure.starved:
            return str(failure)
        if failure is not None:
            scenario.start_failed = isinstance(failure, AppStartError) and failure.usage is not None
            scenario.error = f"{type(failure).__name__}: {failure}"
            return ""
        judged = _judged_concurrency(scenario)
        if judged and manifest.concurrency_repeats:
            starved = _repeat_concurrency(scenario, judged, manifest, runner, grader_python, seed=seeds[0])
            if starved:
                return starved
        if scenario.flake_runs and any(not o.properties.get(CONCURRENCY) for o in scenario.hidden[0].outcomes):
            return _repeat_for_flakes(scenario, manifest, runner, grader_python, seed=seeds[0])
    except Exception as exc:  # reported as a failed check
        scenario.error = f"{type(exc).__name__}: {exc}"
    return ""


def _repeat_concurrency(
    scenario: Scenario,
    judged: list[TestOutcome],
    manifest: Manifest,
    runner: Runner,
    grader_python: str,
    *,
    seed: int,
) -> str:
    """Run the state's judged concurrency tests concurrency_repeats times, on a fresh app: the first
    one's may be broken by then (a test that loads it runs last for that reason). Why, if starved."""
    try:
        with served(runner, scenario.tree) as app:
            scenario.repeats = run_hidden_tests(
                app.socket,
                sorted({o.ticket for o in judged if o.ticket is not None}),
                manifest=manifest,
                python=grader_python,
                seed=(seed + 2) % SEED_RANGE,
                app_usage=app.usage,
                repeat_concurrency=manifest.concurrency_repeats,
                warm=True,
            )
    except (AppStartError, OutOfTime) as exc:
        if exc.starved:
            return str(exc)
        scenario.repeat_error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # reported as a failed check
        scenario.repeat_error = f"{type(exc).__name__}: {exc}"
    return ""


def _repeat_for_flakes(scenario: Scenario, manifest: Manifest, runner: Runner, grader_python: str, *, seed: int) -> str:
    """Run every hidden test but the concurrency ones ``scenario.flake_runs`` more times, FLAKE_BATCH
    runs to a fresh app, each batch with a seed of its own. Why, if starved."""
    left, batch = scenario.flake_runs, 0
    try:
        while left > 0:
            runs = min(left, FLAKE_BATCH)
            with served(runner, scenario.tree) as app:
                run = run_hidden_tests(
                    app.socket,
                    manifest=manifest,
                    python=grader_python,
                    seed=(seed + 3 + batch) % SEED_RANGE,
                    # One run's limit per run in the batch: what stops a hung app, not a budget.
                    timeout=manifest.hidden_timeout * runs,
                    app_usage=app.usage,
                    repeat_others=runs,
                    warm=True,
                )
            scenario.flakes.append(run)
            if run.starved:
                return f"the search for flaky tests was starved ({_usage(run)})"
            left, batch = left - runs, batch + 1
    except (AppStartError, OutOfTime) as exc:
        if exc.starved:
            return str(exc)
        scenario.flake_error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # reported as a failed check
        scenario.flake_error = f"{type(exc).__name__}: {exc}"
    return ""


def _usage(run: HiddenRun) -> str:
    """A hidden run's figures: "3.10 CPU s (grader 2.20 + app 0.90), 7.40 s wall"."""
    app = "app not measured" if run.app_cpu is None else f"app {run.app_cpu:.2f}"
    return f"{_cpu(run):.2f} CPU s (grader {run.grader_cpu or 0:.2f} + {app}), {run.duration:.2f} s wall"


def _cpu(run: HiddenRun) -> float:
    """CPU seconds of a hidden run, the trusted pytest's and the app's (where measured)."""
    return (run.grader_cpu or 0.0) + (run.app_cpu or 0.0)


def _judged_concurrency(scenario: Scenario) -> list[TestOutcome]:
    """The concurrency tests whose verdict this state judges: every one as shipped and with all fixes,
    a ticket's own with its fix alone, and with a decoy those of its ticket that reject it."""
    if not scenario.hidden:
        return []
    marked = [o for o in scenario.hidden[0].outcomes if o.properties.get(CONCURRENCY)]
    if scenario.decoy is not None:
        return [o for o in marked if o.ticket == scenario.decoy.ticket and not o.passed]
    if len(scenario.patches) == 1:
        return [o for o in marked if o.ticket == scenario.patches[0]]
    return marked


def _judge_guards(report: ValidationReport, scenarios: list[Scenario]) -> None:
    """Every regression guard passes in every state that ran: as shipped, with each fix, with all."""
    runs = [(scenario, run) for scenario in scenarios if not scenario.error for run in scenario.hidden]
    guards = {o.test_id for _, run in runs for o in run.outcomes if o.guard}
    if not guards:
        return
    failing = [(scenario, o) for scenario, run in runs for o in run.outcomes if o.guard and not o.passed]
    report.add(
        "regression guards pass as shipped and with every fix",
        *guard_failures(len(guards), [(_state_label(scenario), o.test_id) for scenario, o in failing]),
        notes=_messages([o for _, o in failing]),
    )


def guard_failures(count: int, failing: list[tuple[str, str]]) -> tuple[bool, str]:
    """The verdict on the regression guards, naming each that failed and in which state."""
    if not failing:
        return True, f"{count} guards pass in every state"
    named = "; ".join(f"{test_id} fails {state}" for state, test_id in dict.fromkeys(failing))
    return False, f"{len({test_id for _, test_id in failing})}/{count} guards fail: {named}"


def shipped_failures(outcomes: list[TestOutcome], expected: tuple[str, ...] | None = None) -> tuple[bool, str]:
    """The verdict that every one of these tests fails as shipped, and its detail: how many fail,
    then the tests that pass when they should fail and the expected tests the report lacks.

    expected: the test ids that must be there (a ticket's visible tests, maybe none); None for a
    ticket's hidden tests, of which at least one must be there.
    """
    passing = [o.test_id for o in outcomes if o.passed]
    missing = _missing(outcomes, expected or ())
    total = len(outcomes) if expected is None else len(expected)
    ok = (bool(outcomes) or expected is not None) and not passing and not missing
    figures = f"{sum(not o.passed for o in outcomes)}/{total} fail"
    if not outcomes and expected is None:
        figures = "no test in the report"
    return ok, _joined(
        figures,
        passing and f"passing as shipped: {', '.join(passing)}",
        missing and f"not in the report: {', '.join(missing)}",
    )


def _missing(outcomes: list[TestOutcome], expected: tuple[str, ...]) -> list[str]:
    """The expected test ids that no outcome reports."""
    reported = {o.test_id for o in outcomes}
    return [test_id for test_id in expected if test_id not in reported]


def _joined(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def _summary(outcomes: list[TestOutcome]) -> str:
    passed = sum(o.passed for o in outcomes)
    return f"{passed}/{len(outcomes)} pass"


def _not_passing(outcomes: list[TestOutcome]) -> str:
    return ", ".join(o.test_id for o in outcomes if not o.passed)


def _messages(outcomes: list[TestOutcome]) -> str:
    """The failure messages of the tests that did not pass."""
    return "\n".join(f"{o.test_id}: {o.outcome}: {o.message}" for o in outcomes if not o.passed)


def _changed(before: dict[str, TestOutcome], after: dict[str, TestOutcome], ids: set[str]) -> tuple[str, str]:
    """Tests among ids whose pass/fail differs between the two runs: a summary, and the new failures' messages."""
    changed, failing = [], []
    for test_id in sorted(ids):
        old, new = before.get(test_id), after.get(test_id)
        old_state = old.passed if old else None
        new_state = new.passed if new else None
        if old_state != new_state:
            changed.append(f"{test_id} ({_state(old_state)} -> {_state(new_state)})")
            if new is not None and not new.passed:
                failing.append(new)
    return "; ".join(changed), _messages(failing)


def _runner(manifest: Manifest) -> str:
    """What runs the visible tests, as a check's detail names it: "pytest", "node --test", "go test"."""
    return {"node": "node --test", "go": "go test"}.get(manifest.runtime_kind, "pytest")


def _state(passed: bool | None) -> str:
    return "missing" if passed is None else ("pass" if passed else "fail")


def validate(
    assessment_dir: str | Path = DEFAULT_ASSESSMENT_DIR,
    *,
    python: str | None = None,
    runner: Runner | None = None,
    grader_python: str | None = None,
    jobs: int = 2,
    keep: bool = False,
    progress: Callable[[str], None] | None = None,
    seed: int | None = None,
    flake_runs: int | None = None,
) -> ValidationReport:
    """Check the assessment in assessment_dir end to end; see the module docstring.

    python: interpreter with the shipped project's requirements, for the default LocalRunner.
    runner: how candidate code is run (start_app, run_visible_tests); LocalRunner(manifest, python) if None.
    grader_python: trusted interpreter with the grader's requirements (this one by default).
    jobs: how many project states are played at the same time.
    keep: keep the temporary repositories and report their folder.
    progress: called with a line of text as each step ends.
    seed: of the hidden tests' data and order (a fresh one if None); the report gives it.
    flake_runs: how many more runs the search for flaky tests makes; the manifest's if None.
    """
    started = time.monotonic()
    say = progress or (lambda _line: None)
    report = ValidationReport(assessment=str(assessment_dir), seed=new_seed() if seed is None else check_seed(seed))
    try:
        manifest = load_manifest(assessment_dir)
    except ManifestError as exc:
        report.add("manifest is valid", False, str(exc))
        return report
    report.assessment = f"{manifest.slug} {manifest.version} ({manifest.title})"
    numbers = [ticket.number for ticket in manifest.tickets]
    decoys = manifest.decoys()
    report.add("manifest is valid", True, f"{len(numbers)} tickets, {manifest.total_points} points")

    junk = _junk(manifest.shipped_dir)
    report.add("shipped folder holds no caches, databases or environments", not junk, ", ".join(junk[:8]))
    bad_imports = _hidden_test_imports(manifest.hidden_tests_dir)
    report.add("hidden tests import nothing but the stdlib, pytest and httpx", not bad_imports, ", ".join(bad_imports))

    runner = runner or LocalRunner(manifest, python or sys.executable)
    grader_python = grader_python or sys.executable
    root = Path(tempfile.mkdtemp(prefix=f"validate-{manifest.slug}-"))
    try:
        # The shipped project as a repository, the way candidates receive it.
        base = root / "shipped.git"
        shutil.copytree(manifest.shipped_dir, base, ignore=shutil.ignore_patterns(*JUNK_NAMES, "*.pyc"))
        for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "Initial commit")):
            result = _git(base, *args)
            if result.returncode != 0:
                report.add("shipped project commits to git", False, result.stderr.strip())
                return report

        for number in numbers:
            ok, detail = fix_scope(manifest, *_patch_stat(base, manifest.patch_path(number)))
            report.add(f"its reference fix applies alone and changes {manifest.source}/ only", ok, detail, number)
        for decoy in decoys:
            applies, detail, _files = _patch_stat(base, decoy.path)
            report.add(f"{DECOY_CHECK}{decoy.name} applies alone to the shipped project", applies, detail, decoy.ticket)

        scenarios = [Scenario("shipped", ())]
        scenarios += [Scenario(f"fix-{number}", (number,)) for number in numbers]
        scenarios += [Scenario(ALL_FIXES, tuple(numbers))]
        decoy_scenarios = [Scenario(decoy.name, (), decoy) for decoy in decoys]
        for scenario in scenarios + decoy_scenarios:
            try:
                _prepare(base, scenario, manifest, root)
            except RuntimeError as exc:
                scenario.error = str(exc)
        all_fixes = scenarios[-1]
        all_fixes.flake_runs = manifest.flake_runs if flake_runs is None else max(flake_runs, 0)
        report.add("all reference fixes apply together", not all_fixes.error, all_fixes.error or "in ticket order")

        playable = [s for s in scenarios + decoy_scenarios if not s.error]
        seeds = (report.seed, (report.seed + 1) % SEED_RANGE)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for scenario in playable:
                runs = seeds if scenario is all_fixes else seeds[:1]
                pool.submit(_play, scenario, manifest, runner, grader_python, runs, say)
        _judge(report, manifest, scenarios)
        _judge_decoys(report, decoy_scenarios)
        _judge_concurrency(report, manifest, scenarios + decoy_scenarios)
        _judge_flakes(report, all_fixes)
        _judge_time(report, manifest, scenarios, decoy_scenarios)
        visible = [s.visible.duration for s in scenarios if s.visible]
        if visible:
            report.timings["visible tests (mean)"] = sum(visible) / len(visible)
    finally:
        if keep:
            report.workdir = str(root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    report.timings["total"] = time.monotonic() - started
    return report


def _judge_time(
    report: ValidationReport, manifest: Manifest, scenarios: list[Scenario], decoys: list[Scenario]
) -> None:
    """Every app's start-up, and every run of the whole hidden suite but a decoy's, judged in CPU
    seconds (grader.clock)."""
    started = [s.app_start_usage for s in scenarios + decoys if s.app_start_usage is not None and not s.start_failed]
    slowest = max(started, key=lambda usage: usage.cpu or 0.0, default=None)
    limit = manifest.app.startup_timeout
    failed = [s.name for s in scenarios + decoys if s.start_failed]
    detail = f"slowest start {slowest.describe()}, of {len(started)}" if slowest else "not measured"
    report.add(
        f"the app starts within its start-up limit of {limit:g} CPU s",
        not failed,
        f"not in {', '.join(failed)}; {detail}" if failed else detail,
    )
    if started:
        report.timings["app start CPU (mean)"] = sum(u.cpu or 0.0 for u in started) / len(started)
        report.timings["app start wall (mean)"] = sum(u.wall for u in started) / len(started)

    # Whole runs of the suite only, not the repeats of concurrency tests.
    runs = [run for scenario in scenarios for run in scenario.hidden]
    if not runs:
        return
    budget = manifest.hidden_budget
    heaviest = max(runs, key=_cpu)
    report.add(
        f"hidden suite runs within {budget:g} CPU s",
        _cpu(heaviest) <= budget,
        f"heaviest run {_usage(heaviest)}, of {len(runs)}; budget {budget:g} CPU s",
    )
    report.timings["hidden suite CPU (mean)"] = sum(_cpu(run) for run in runs) / len(runs)
    report.timings["hidden suite CPU (heaviest)"] = _cpu(heaviest)
    report.timings["hidden suite wall (mean)"] = sum(run.duration for run in runs) / len(runs)
    report.timings["hidden suite wall (slowest)"] = max(run.duration for run in runs)


def _judge_concurrency(report: ValidationReport, manifest: Manifest, scenarios: list[Scenario]) -> None:
    """Each concurrency test judged in a state gives its verdict there in every one of its repeats."""
    count = manifest.concurrency_repeats
    for scenario in scenarios:
        judged = _judged_concurrency(scenario) if count and not scenario.error else []
        label = _state_label(scenario)
        if judged and scenario.repeats is None:
            report.add(
                f"concurrency tests run {count} times {label}",
                False,
                (scenario.repeat_error or "not run").partition("\n")[0],
                judged[0].ticket,
                scenario.repeat_error,
            )
            continue
        for outcome in judged:
            should_pass = outcome.guard or (scenario.decoy is None and outcome.ticket in scenario.patches)
            runs = [o for o in scenario.repeats.outcomes if repeated_test_id(o.test_id) == outcome.test_id]
            passed = sum(o.passed for o in runs)
            odd = [o for o in runs if o.passed != should_pass]
            name = outcome.test_id.rpartition("::")[2]
            report.add(
                f"concurrency test {'passes' if should_pass else 'fails'} in all {count} runs {label}",
                len(runs) == count and not odd,
                f"passed {passed} of {len(runs)} runs {label}: {name}",
                outcome.ticket,
                _messages(odd) or f"{outcome.test_id} ran {len(runs)} times, not {count}",
            )


def _judge_flakes(report: ValidationReport, scenario: Scenario) -> None:
    """Every hidden test run in the search for flaky tests passed every time; the others are named
    with how often they failed."""
    count = scenario.flake_runs
    if not count or scenario.error or not scenario.hidden:
        return
    name = f"hidden tests pass in all {count} more runs with all fixes (flaky tests)"
    if scenario.flake_error or not scenario.flakes:
        error = scenario.flake_error or "not run"
        report.add(name, False, error.partition("\n")[0], notes=error)
        return
    runs: dict[str, list[TestOutcome]] = {}
    for run in scenario.flakes:
        for outcome in run.outcomes:
            runs.setdefault(repeated_test_id(outcome.test_id), []).append(outcome)
    flaky = {test_id: outcomes for test_id, outcomes in runs.items() if not all(o.passed for o in outcomes)}
    short = {test_id: outcomes for test_id, outcomes in runs.items() if len(outcomes) != count}
    if flaky:
        detail = "flaky: " + "; ".join(
            f"{test_id} failed {sum(not o.passed for o in outcomes)} of {len(outcomes)} runs"
            for test_id, outcomes in sorted(flaky.items())
        )
    elif short:
        detail = "; ".join(f"{test_id} ran {len(outcomes)} times, not {count}" for test_id, outcomes in short.items())
    else:
        detail = f"{len(runs)} tests, {count} runs each: every one passed"
    tickets = {outcomes[0].ticket for outcomes in flaky.values()}
    failing = [o for outcomes in flaky.values() for o in outcomes if not o.passed]
    # The first failure of each flaky test says why; the rest of its failures would repeat it.
    first = {repeated_test_id(o.test_id): o for o in reversed(failing)}
    report.add(
        name,
        not flaky and not short,
        detail,
        tickets.pop() if len(tickets) == 1 else None,
        _messages(list(first.values())),
    )
    report.timings["flaky-test search CPU"] = sum(_cpu(run) for run in scenario.flakes)


def _state_label(scenario: Scenario) -> str:
    if scenario.decoy is not None:
        return f"with decoy {scenario.decoy.name}"
    if not scenario.patches:
        return "as shipped"
    if len(scenario.patches) == 1 and scenario.name != ALL_FIXES:
        return f"with fix #{scenario.patches[0]} alone"
    return "with all fixes"


def _judge_decoys(report: ValidationReport, scenarios: list[Scenario]) -> None:
    """Each decoy must fail at least one hidden test of its ticket; name the tests that reject it."""
    for scenario in scenarios:
        decoy = scenario.decoy
        if scenario.error or not scenario.hidden:
            first_line, _, rest = (scenario.error or "no hidden run").partition("\n")
            report.add(f"{DECOY_CHECK}{decoy.name}: app and tests run", False, first_line, decoy.ticket, rest)
            continue
        # A guard counts for no ticket's verdict: failing one would not cost a candidate the ticket.
        own = [o for o in scenario.hidden[0].by_ticket().get(decoy.ticket, []) if not o.guard]
        rejected = [o for o in own if not o.passed]
        if rejected:
            detail = f"{len(rejected)}/{len(own)} fail: {_not_passing(own)}"
        else:
            detail = (
                f"{decoy.name} passes every hidden test of ticket #{decoy.ticket} ({len(own)}): "
                "the hidden tests accept this known-wrong fix"
            )
        report.add(f"{DECOY_CHECK}{decoy.name} is rejected by its hidden tests", bool(rejected), detail, decoy.ticket)


def _judge(report: ValidationReport, manifest: Manifest, scenarios: list[Scenario]) -> None:
    shipped, fixes, all_fixes = scenarios[0], scenarios[1:-1], scenarios[-1]
    for scenario in scenarios:
        if scenario.error:
            first_line, _, rest = scenario.error.partition("\n")
            report.add(f"{scenario.name}: app and tests run", False, first_line, notes=rest)
    if shipped.error or not shipped.visible or not shipped.hidden:
        return

    # As shipped.
    visible = shipped.visible
    report.add(
        "visible tests fail on the shipped project",
        not visible.passed and any(o.outcome == "failed" for o in visible.outcomes),
        f"{_runner(manifest)} exit code {visible.returncode}, {_summary(visible.outcomes)}",
    )
    untied = [o for o in visible.outcomes if o.ticket is None]
    report.add(
        "visible tests tied to no ticket pass on the shipped project",
        all(o.passed for o in untied),
        f"{_summary(untied)}; {_not_passing(untied)}".rstrip("; "),
    )
    hidden_shipped = shipped.hidden[0].by_ticket()
    for ticket in manifest.tickets:
        outcomes = [o for o in hidden_shipped.get(ticket.number, []) if not o.guard]
        report.add("every hidden test fails on the shipped project", *shipped_failures(outcomes), ticket.number)
        tied = [o for o in visible.outcomes if o.ticket == ticket.number]
        report.add(
            "its visible tests fail on the shipped project",
            *shipped_failures(tied, expected=ticket.visible_tests),
            ticket.number,
        )

    _judge_guards(report, scenarios)

    # One fix at a time.
    hidden_before, visible_before = shipped.hidden_results, shipped.visible_results
    for ticket, scenario in zip(manifest.tickets, fixes, strict=True):
        if scenario.error or not scenario.hidden or not scenario.visible:
            continue
        hidden_after = scenario.hidden_results
        own = [o for o in hidden_after.values() if o.ticket == ticket.number]
        report.add(
            "its fix alone makes its hidden tests pass",
            bool(own) and all(o.passed for o in own),
            f"{_summary(own)}; {_not_passing(own)}".rstrip("; "),
            ticket.number,
            _messages(own),
        )
        others = {i for i, o in {**hidden_before, **hidden_after}.items() if o.ticket != ticket.number}
        changed, notes = _changed(hidden_before, hidden_after, others)
        report.add(
            "its fix alone changes no other ticket's hidden results",
            not changed,
            changed or f"{len(others)} other tests unchanged",
            ticket.number,
            notes,
        )
        visible_after = scenario.visible_results
        own_visible = [o for o in visible_after.values() if o.ticket == ticket.number]
        other_visible = {i for i, o in {**visible_before, **visible_after}.items() if o.ticket != ticket.number}
        changed_visible, notes = _changed(visible_before, visible_after, other_visible)
        missing = _missing(own_visible, ticket.visible_tests)
        report.add(
            "its fix alone makes its visible tests pass and changes no other",
            not missing and all(o.passed for o in own_visible) and not changed_visible,
            _joined(
                f"{_summary(own_visible)}",
                _not_passing(own_visible) and f"not passing: {_not_passing(own_visible)}",
                missing and f"not in the report: {', '.join(missing)}",
                changed_visible and f"others changed: {changed_visible}",
            ),
            ticket.number,
            "\n".join(filter(None, [_messages(own_visible), notes])),
        )

    # All fixes.
    if all_fixes.error or not all_fixes.hidden or not all_fixes.visible:
        return
    first = all_fixes.hidden[0].outcomes
    report.add(
        "with all fixes, every hidden test passes",
        bool(first) and all(o.passed for o in first),
        f"{_summary(first)}; {_not_passing(first)}".rstrip("; "),
        notes=_messages(first),
    )
    if len(all_fixes.hidden) > 1:
        again = all_fixes.hidden[1].outcomes
        report.add(
            "with all fixes, the hidden suite passes again on the same running app",
            bool(again) and all(o.passed for o in again),
            f"{_summary(again)}; {_not_passing(again)}".rstrip("; "),
            notes=_messages(again),
        )
    everything = all_fixes.visible.outcomes
    report.add(
        "with all fixes, every visible test passes",
        all_fixes.visible.passed and all(o.passed for o in everything),
        _joined(
            f"{_runner(manifest)} exit code {all_fixes.visible.returncode}, {_summary(everything)}",
            _not_passing(everything),
        ),
        notes=_messages(everything),
    )
