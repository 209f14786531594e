"""Git-hygiene findings about one candidate's repository.

Framework-free: reads a bare repository with GitPython (opened through ``gitplumbing.history``)
and returns plain, frozen dataclasses.
Nothing here writes to the repository, checks anything out or runs candidate code.

Every finding carries its evidence (commits, paths, lines). The output is sorted, so the same
repository always gives the same list. Work is bounded: at most ``max_commits`` commits are walked
per branch and at most ``max_scanned_files`` blobs are read per branch; when a cap is reached an
``analysis_capped`` finding says so.

Decisions worth knowing:

* Commit-level findings (``commit_message``, ``merge_commit``, ``author_identity``) report each
  commit once, under the first branch that contains it, in the order main, issue-1, issue-2, ...,
  then other branches by name. ``commit_wrong_ticket`` is about a branch's content, so a commit
  naming ticket #1 is reported on every ``issue-<n>`` branch (n != 1) that contains it (a stacked
  branch, typically).
* Every comparison is with the portal's own starting commit (``base``), never a merge base or a
  root found in the history: a candidate who merges an unrelated root into main cannot make their
  commit the starting point. Such a root is an ``unrelated_history`` problem on every branch that
  contains it, with the foreign root commits as evidence.
* Merge commits are not held to the subject format (git writes "Merge branch ..." itself); they are
  listed in one ``merge_commit`` info finding per branch instead.
* Junk and visible-test rules look at the branch's net change (base tree vs head tree): a file added
  and later removed on the same branch is not reported.
* Visible tests are compared test by test (see Rule 4): tests a branch adds, and shipped tests it
  extends keeping every original assertion, are credited (``tests_added``, info); shipped tests whose
  assertions were removed or relaxed, skipped, marked xfail, deleted or renamed are the problem.
* Secrets found by content are reported as ``path:line``; the matched text is never copied into
  a finding.
"""

from __future__ import annotations

import ast
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path, PurePosixPath

import git

from gitplumbing.history import open_repository
from portal.core.memo import Memo

INFO = "info"
WARNING = "warning"
PROBLEM = "problem"

# Finding kinds: stable machine ids.
BRANCH_NAMING = "branch_naming"
TICKET_WITHOUT_BRANCH = "ticket_without_branch"
COMMIT_MESSAGE = "commit_message"
COMMIT_WRONG_TICKET = "commit_wrong_ticket"
MERGE_COMMIT = "merge_commit"
COMMIT_ON_MAIN = "commit_on_main"
UNRELATED_HISTORY = "unrelated_history"
VISIBLE_TESTS_CHANGED = "visible_tests_changed"  # a shipped test changed or gone: a problem
TESTS_ADDED = "tests_added"  # tests the branch adds: credit, not a problem
JUNK_COMMITTED = "junk_committed"
AUTHOR_IDENTITY = "author_identity"
HISTORY_REWRITTEN = "history_rewritten"
BRANCH_DELETED = "branch_deleted"
SCOPE_CREEP = "scope_creep"
ANALYSIS_CAPPED = "analysis_capped"

# Push-log kinds, as portal.hosting.models.RefUpdate.Kind stores them.
REF_CREATED = "created"
REF_UPDATED = "updated"
REF_FORCED = "forced"
REF_DELETED = "deleted"

MAIN = "main"
MAX_COMMITS_PER_BRANCH = 500
MAX_SCANNED_FILES = 2000  # blobs read (size/binary/secret checks) per branch
MAX_EVIDENCE = 100  # commits or paths kept as evidence in one finding
SCAN_LIMIT = 1024 * 1024  # blobs above this are "large" and never read
BINARY_LIMIT = 100 * 1024  # binary blobs above this are reported
BINARY_SNIFF = 8 * 1024
MIB = 1024 * 1024

SUBJECT_RE = re.compile(r"^\s*Fix:\s*Resolve\s+issue\s+#(\d+)\s*-\s*\S.*$")
ISSUE_BRANCH_RE = re.compile(r"^issue-([1-9][0-9]*)$")
HEADS_PREFIX = "refs/heads/"
GITLINK_MODE = 0o160000

# Evidence-bearing directories: the first matching component of a path decides its category.
_VENV_DIRS = frozenset({"venv", ".venv", "site-packages"})
_CACHE_DIRS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"})
_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3", "-journal")
_KEY_FILES = frozenset({"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"})
_KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx")
_ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist", "defaults"})
_SECRET_CONTENT = (
    ("secret", "a private key", re.compile(rb"-----BEGIN (?:RSA |OPENSSH |EC |DSA |ENCRYPTED )?PRIVATE KEY-----")),
    ("secret", "an AWS access key id", re.compile(rb"AKIA[0-9A-Z]{16}")),
    ("possible_secret", "a hard-coded credential", re.compile(rb"(?i)(secret|password|api_key)\s*=\s*['\"][^'\"]{8,}")),
)

# Junk categories: (severity, what the sentence says was committed).
_JUNK = {
    "virtualenv": (WARNING, "a virtualenv"),
    "cache": (WARNING, "Python or tool caches"),
    "database": (WARNING, "database files"),
    "large_file": (WARNING, "files over 1 MiB"),
    "binary_file": (WARNING, "binary files over 100 KiB"),
    "secret": (PROBLEM, "private keys or credentials"),
    "possible_secret": (WARNING, "what look like hard-coded credentials"),
}


@dataclass(frozen=True)
class Finding:
    """One observation for a reviewer, with its evidence.

    For commit-level findings ``commits`` and ``lines`` are parallel: ``lines[i]`` is the subject
    line (or the author identity) of ``commits[i]``.
    """

    kind: str
    severity: str  # INFO | WARNING | PROBLEM
    message: str
    ref: str | None = None  # e.g. "refs/heads/issue-3"
    ticket: int | None = None  # the ticket the finding is about, if any
    commits: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefUpdateInfo:
    """One ref update from the server's push log (portal.hosting.models.RefUpdate, without Django)."""

    ref: str  # "refs/heads/issue-1"
    old_sha: str
    new_sha: str
    kind: str  # REF_CREATED | REF_UPDATED | REF_FORCED | REF_DELETED
    at: datetime | None = None


@dataclass
class _History:
    commits: list[git.Commit] = field(default_factory=list)  # base..head, oldest first
    capped: bool = False


@dataclass(frozen=True)
class _Shas:
    """A branch's history as commit ids: base..head, oldest first, at most the cap."""

    commits: tuple[str, ...]
    capped: bool


# By the repository, the starting point, the head and the cap: a commit id names the same history
# for ever. Up to MAX_COMMITS_PER_BRANCH ids each.
_HISTORIES = Memo(256, budget=16 * MIB)
# A branch's own findings (history, visible tests, junk), by everything they are computed from: the
# repository, the branch's name, the starting point, its head, the commits no branch before it has,
# and the rules' bounds.
_BRANCH_FINDINGS = Memo(2048, budget=16 * MIB)


def branch_ticket(branch: str) -> int | None:
    """The ticket number a branch named ``issue-<n>`` is for, else None."""
    match = ISSUE_BRANCH_RE.match(branch)
    return int(match.group(1)) if match else None


def subject_ticket(subject: str) -> int | None:
    """The ticket number of a well-formed "Fix: Resolve issue #<n> - ..." subject, else None."""
    match = SUBJECT_RE.match(subject)
    return int(match.group(1)) if match else None


def hygiene_findings(
    *,
    repo_path: Path,
    base: str,
    branches: Mapping[str, str],
    tickets: Iterable[int],
    visible_test_paths: Iterable[str],
    ref_updates: Sequence[RefUpdateInfo] = (),
    scope_creep: Mapping[str, Sequence[int]] | None = None,
    max_commits: int = MAX_COMMITS_PER_BRANCH,
    max_scanned_files: int = MAX_SCANNED_FILES,
) -> list[Finding]:
    """All hygiene findings for one candidate repository, sorted by ref, kind, ticket and message.

    ``repo_path`` is the bare repository; ``base`` the sha of the template commit every branch
    should descend from; ``branches`` maps branch name (with or without "refs/heads/") to head sha;
    ``tickets`` are the assessment's ticket numbers; ``visible_test_paths`` the shipped visible test
    files (a path ending in "/" means everything under it); ``ref_updates`` the push log;
    ``scope_creep`` maps a branch to the other tickets whose results it changed (its findings carry
    the other ticket in ``ticket``). ``max_commits`` and ``max_scanned_files`` bound the work per branch.

    Raises ValueError if ``base`` or a branch head is not a commit of the repository.
    """
    heads = {name.removeprefix(HEADS_PREFIX): sha for name, sha in branches.items()}
    ticket_set = frozenset(tickets)
    visible = tuple(visible_test_paths)
    findings: list[Finding] = []
    findings += _naming_findings(heads, ticket_set)
    where = str(repo_path)
    with open_repository(repo_path) as repo:
        base_commit = repo.commit(base)
        seen: set[str] = set()
        for name in _branch_order(heads):
            head = repo.commit(heads[name]).hexsha
            shas = _HISTORIES.get(
                (where, base_commit.hexsha, head, max_commits),
                partial(_history_shas, repo, base_commit.hexsha, head, max_commits),
            )
            own = tuple(sha for sha in shas.commits if sha not in seen)
            seen.update(shas.commits)
            key = (where, name, base_commit.hexsha, head, own, max_commits, visible, max_scanned_files)
            findings += _BRANCH_FINDINGS.get(
                key,
                partial(
                    _branch_findings, repo, name, base_commit, head, shas, own, visible, max_commits, max_scanned_files
                ),
            )
        findings += _ref_update_findings(repo, base_commit.hexsha, heads, ref_updates, max_commits)
    findings += _scope_creep_findings(scope_creep or {})
    return sorted(findings, key=_sort_key)


def _sort_key(finding: Finding) -> tuple:
    ticket = -1 if finding.ticket is None else finding.ticket
    return (finding.ref or "", finding.kind, ticket, finding.message, finding.commits, finding.paths, finding.lines)


def _ref(branch: str) -> str:
    return f"{HEADS_PREFIX}{branch}"


def _branch_order(heads: Mapping[str, str]) -> list[str]:
    def key(name: str) -> tuple[int, int, str]:
        if name == MAIN:
            return (0, 0, name)
        ticket = branch_ticket(name)
        return (1, ticket, name) if ticket is not None else (2, 0, name)

    return sorted(heads, key=key)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _subject(commit: git.Commit) -> str:
    summary = commit.summary
    return summary.decode("utf-8", "replace") if isinstance(summary, bytes) else summary


def _history_shas(repo: git.Repo, base: str, head: str, max_commits: int) -> _Shas:
    commits = list(repo.iter_commits(f"{base}..{head}", max_count=max_commits + 1))
    capped = len(commits) > max_commits
    return _Shas(commits=tuple(reversed([commit.hexsha for commit in commits[:max_commits]])), capped=capped)


def _branch_findings(
    repo: git.Repo,
    name: str,
    base: git.Commit,
    head: str,
    shas: _Shas,
    own: tuple[str, ...],
    visible: tuple[str, ...],
    max_commits: int,
    max_scanned: int,
) -> tuple[Finding, ...]:
    """One branch's findings about its own commits, the visible tests and what it committed."""
    head_commit = repo.commit(head)
    history = _History(commits=[repo.commit(sha) for sha in shas.commits], capped=shas.capped)
    mine = set(own)
    own_commits = [commit for commit in history.commits if commit.hexsha in mine]
    findings = _history_findings(repo, name, base, head_commit, history, own_commits, max_commits)
    if head != base.hexsha:
        changes = list(base.diff(head_commit))
        findings += _visible_test_findings(repo, name, base, head_commit, changes, visible)
        findings += _junk_findings(repo, name, base, head_commit, changes, max_scanned)
    return tuple(findings)


def _foreign_roots(repo: git.Repo, base: str, head: str) -> tuple[str, ...]:
    """Root commits of ``head`` other than the starting point, oldest first (at most MAX_EVIDENCE).

    The starting point is the repository's only legitimate root: another one means history made
    elsewhere was merged in (or the branch started over), so its commits, and what the branch
    compares with, are not what the portal handed out.
    """
    roots = repo.iter_commits(f"{base}..{head}", max_parents=0, max_count=MAX_EVIDENCE)
    return tuple(reversed([commit.hexsha for commit in roots]))


def _commits_touching(repo: git.Repo, base: str, head: str, paths: Iterable[str]) -> tuple[str, ...]:
    """Commits of base..head that touch any of ``paths``, oldest first (at most MAX_EVIDENCE)."""
    pathspecs = sorted(set(paths))
    if not pathspecs:
        return ()
    commits = repo.iter_commits(f"{base}..{head}", paths=pathspecs, max_count=MAX_EVIDENCE)
    return tuple(reversed([commit.hexsha for commit in commits]))


# --- Rule 1: branch naming -------------------------------------------------------------------------


def _naming_findings(heads: Mapping[str, str], tickets: frozenset[int]) -> list[Finding]:
    findings = []
    for name in sorted(heads):
        if name == MAIN:
            continue
        ticket = branch_ticket(name)
        if ticket is None:
            message = f"{name} is not named issue-<n>."
        elif ticket not in tickets:
            message = f"{name} is named after ticket #{ticket}, which is not a ticket of this assessment."
        else:
            continue
        findings.append(Finding(BRANCH_NAMING, WARNING, message, ref=_ref(name), commits=(heads[name],)))
    for ticket in sorted(tickets):
        if f"issue-{ticket}" not in heads:
            findings.append(
                Finding(
                    TICKET_WITHOUT_BRANCH,
                    INFO,
                    f"There is no branch issue-{ticket} for ticket #{ticket}.",
                    ticket=ticket,
                )
            )
    return findings


# --- Rules 2, 3 and 6: commits on each branch --------------------------------------------------------


def _history_findings(
    repo: git.Repo,
    name: str,
    base: git.Commit,
    head: git.Commit,
    history: _History,
    own: list[git.Commit],
    max_commits: int,
) -> list[Finding]:
    ref = _ref(name)
    ticket = branch_ticket(name)
    findings = []
    if history.capped:
        findings.append(
            Finding(
                ANALYSIS_CAPPED,
                INFO,
                f"{name} has more than {max_commits} commits since the template; "
                f"only the newest {max_commits} were checked.",
                ref=ref,
                ticket=ticket,
            )
        )
    foreign = _foreign_roots(repo, base.hexsha, head.hexsha)
    if foreign:
        if repo.is_ancestor(base, head):
            message = (
                f"{name} merges history unrelated to the starting point {base.hexsha[:12]}: "
                f"{_plural(len(foreign), 'root commit')} of its own."
            )
        else:
            message = f"{name} does not descend from the starting point {base.hexsha[:12]}."
        findings.append(Finding(UNRELATED_HISTORY, PROBLEM, message, ref=ref, ticket=ticket, commits=foreign))
    if name == MAIN and history.commits:
        evidence = history.commits[:MAX_EVIDENCE]
        findings.append(
            Finding(
                COMMIT_ON_MAIN,
                WARNING,
                f"main has {_plural(len(history.commits), 'commit')} made directly on it instead of on a branch.",
                ref=ref,
                commits=tuple(commit.hexsha for commit in evidence),
                lines=tuple(_subject(commit) for commit in evidence),
            )
        )

    merges = [commit for commit in own if len(commit.parents) > 1]
    if merges:
        findings.append(
            _commit_finding(
                MERGE_COMMIT, INFO, f"{name} has {_plural(len(merges), 'merge commit')}.", ref, ticket, merges
            )
        )
    singles = [commit for commit in own if len(commit.parents) <= 1]
    malformed = [commit for commit in singles if subject_ticket(_subject(commit)) is None]
    if malformed:
        message = (
            f"{name} has {_plural(len(malformed), 'commit')} whose subject is not "
            '"Fix: Resolve issue #<n> - <description>".'
        )
        findings.append(_commit_finding(COMMIT_MESSAGE, WARNING, message, ref, ticket, malformed))
    if ticket is not None:
        # Over the whole branch, not just its own commits: a stacked branch carries other tickets' fixes.
        wrong = [
            commit
            for commit in history.commits
            if len(commit.parents) <= 1 and subject_ticket(_subject(commit)) not in (None, ticket)
        ]
        if wrong:
            named = sorted({subject_ticket(_subject(commit)) for commit in wrong})
            message = (
                f"{name} has {_plural(len(wrong), 'commit')} naming another ticket "
                f"({', '.join(f'#{number}' for number in named)}) instead of #{ticket}."
            )
            findings.append(_commit_finding(COMMIT_WRONG_TICKET, WARNING, message, ref, ticket, wrong))

    odd = [(commit, problem) for commit in own if (problem := _identity_problem(commit.author)) is not None]
    if odd:
        problems = sorted({problem for _, problem in odd})
        message = (
            f"{name} has {_plural(len(odd), 'commit')} with a missing or default author identity "
            f"({'; '.join(problems)})."
        )
        evidence = odd[:MAX_EVIDENCE]
        findings.append(
            Finding(
                AUTHOR_IDENTITY,
                WARNING,
                message,
                ref=ref,
                ticket=ticket,
                commits=tuple(commit.hexsha for commit, _ in evidence),
                lines=tuple(f"{commit.author.name} <{commit.author.email}>" for commit, _ in evidence),
            )
        )
    return findings


def _commit_finding(
    kind: str, severity: str, message: str, ref: str, ticket: int | None, commits: list[git.Commit]
) -> Finding:
    evidence = commits[:MAX_EVIDENCE]
    return Finding(
        kind,
        severity,
        message,
        ref=ref,
        ticket=ticket,
        commits=tuple(commit.hexsha for commit in evidence),
        lines=tuple(_subject(commit) for commit in evidence),
    )


def _identity_problem(author: git.Actor) -> str | None:
    name = (author.name or "").strip()
    email = (author.email or "").strip()
    if not name:
        return "empty name"
    if not email:
        return "empty email"
    if "@" not in email:
        return "email without @"
    local, _, domain = email.rpartition("@")
    domain = domain.lower()
    if (
        local.lower() == "root"
        or domain in ("localhost", "local", "(none)")
        or domain.startswith("localhost.")
        or domain.endswith((".local", ".localdomain", "(none)"))
    ):
        return "default machine email"
    return None


# --- Rule 4: visible tests ---------------------------------------------------------------------------
#
# Shipped visible test files are compared test by test: a test a branch adds is credited (the candidate
# README asks for tests that show a problem is gone); a shipped test is judged by what it asserts. A
# test's identity is its id (path::name or path::Class::name). A shipped test whose every original
# statement (its asserts, ``pytest.raises`` blocks and the requests they check) is still there, in
# the same order and nesting, is *extended* and credited like an added test: new statements may
# come between them. What is a problem: an original assertion removed or changed (a relaxed
# comparison or expected value), other original statements removed or changed, a skip or xfail
# (a mark, a call to ``pytest.skip``/``pytest.xfail``/``pytest.importorskip``, on the test, its
# class or the module), an early ``return`` added, a new statement that rebinds a name the original
# statements read next (the value the assertion checks is replaced), and a deleted or renamed test.
# Formatting and comments are never a change (the AST is compared). Shipped helpers and fixtures
# (top-level functions and classes that are not tests) are compared whole: changing one changes what
# the shipped tests check. Imports are not compared.


@dataclass(frozen=True)
class TestFileComparison:
    """What a branch did to the tests of one file; ``parsed`` is False when either side is not Python."""

    __test__ = False  # a dataclass, not a pytest test class

    added: tuple[str, ...] = ()  # test ids new on the branch
    changed: tuple[str, ...] = ()  # shipped test ids changed in a way that is a problem (see ``why``)
    changed_helpers: tuple[str, ...] = ()  # shipped fixtures and helpers whose definition differs
    deleted: tuple[str, ...] = ()  # shipped test or helper ids gone from the file
    renamed: tuple[tuple[str, str], ...] = ()  # (shipped id, new id) with the same definition
    extended: tuple[str, ...] = ()  # shipped test ids that keep every original statement and add some
    why: tuple[tuple[str, str], ...] = ()  # (id in ``changed``, ASSERTIONS_CHANGED | SKIPPED | XFAILED | BODY_CHANGED)
    parsed: bool = True


# Why a shipped test counts as changed (TestFileComparison.why).
ASSERTIONS_CHANGED = "assertions"  # an original assertion removed or changed
SKIPPED = "skipped"  # a skip mark or call, or an early return: the assertions no longer run
XFAILED = "xfailed"  # an xfail mark or call: a failure no longer fails
BODY_CHANGED = "changed"  # other original statements removed or changed, or a checked value rebound

_SKIP_NAMES = frozenset({"skip", "skipif", "importorskip"})
_XFAIL_NAMES = frozenset({"xfail"})


def _is_test_class(node: ast.stmt) -> bool:
    return isinstance(node, ast.ClassDef) and node.name.startswith("Test")


def _is_function(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))


def _is_test(node: ast.stmt) -> bool:
    return _is_function(node) and node.name.startswith("test_")


def _without_name(node: ast.stmt) -> str:
    """The definition's AST dump with its name blanked: equal for a test renamed and left alone."""
    name = node.name
    node.name = ""
    try:
        return ast.dump(node)
    finally:
        node.name = name


@dataclass(frozen=True)
class _Definitions:
    tests: dict[str, str]  # id -> AST dump
    helpers: dict[str, str]  # id -> AST dump
    unnamed: dict[str, str]  # test id -> AST dump without the name
    nodes: dict[str, ast.stmt] = field(default_factory=dict)  # test id -> its definition
    marks: dict[str, frozenset[str]] = field(default_factory=dict)  # test id -> skip/xfail of its class or module


def _definitions(path: str, source: bytes | None) -> _Definitions:
    """Tests and helpers of one Python file (empty for None). Raises SyntaxError or ValueError if not Python.

    Tests are module-level ``test_*`` functions and ``test_*`` methods of ``Test*`` classes; helpers
    are the other module-level functions and classes and the other members of ``Test*`` classes.
    """
    found = _Definitions({}, {}, {})
    if source is None:
        return found
    module = ast.parse(source, filename=path)
    # Skips and xfails the whole module carries: a ``pytestmark`` or a module-level pytest.skip().
    module_marks = _skip_marks(node for node in module.body if not isinstance(node, (*_DEFINITIONS, *_IMPORTS)))
    for node in module.body:
        marks = module_marks
        if _is_test_class(node):
            members = [(f"{path}::{node.name}::{m.name}", m) for m in node.body if isinstance(m, _DEFINITIONS)]
            others = [m for m in node.body if not isinstance(m, _DEFINITIONS)]
            marks = marks | _skip_marks(node.decorator_list) | _skip_marks(others)
        elif isinstance(node, _DEFINITIONS):
            members = [(f"{path}::{node.name}", node)]
        else:
            continue
        for test_id, member in members:
            (found.tests if _is_test(member) else found.helpers)[test_id] = ast.dump(member)
            if _is_test(member):
                found.unnamed[test_id] = _without_name(member)
                found.nodes[test_id] = member
                found.marks[test_id] = marks
    return found


_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _skip_marks(nodes: Iterable[ast.AST]) -> frozenset[str]:
    """SKIPPED and/or XFAILED if any of ``nodes`` names pytest's skip or xfail: ``pytest.mark.skip``,
    ``pytest.skip(...)``, a bare ``@skip`` decorator or ``skip(...)`` call (``from pytest import skip``)."""
    marks = set()
    for node in nodes:
        bare = {id(node)} | {id(inner.func) for inner in ast.walk(node) if isinstance(inner, ast.Call)}
        for inner in ast.walk(node):
            name = ""
            if isinstance(inner, ast.Attribute):
                name = inner.attr
            elif isinstance(inner, ast.Name) and id(inner) in bare:
                name = inner.id
            if name in _SKIP_NAMES:
                marks.add(SKIPPED)
            elif name in _XFAIL_NAMES:
                marks.add(XFAILED)
    return frozenset(marks)


def _is_check(node: ast.AST) -> bool:
    """An assertion: ``assert``, ``pytest.raises``/``warns`` and unittest's ``self.assert*`` calls."""
    for inner in ast.walk(node):
        if isinstance(inner, ast.Assert):
            return True
        if isinstance(inner, ast.Call) and isinstance(inner.func, (ast.Attribute, ast.Name)):
            name = inner.func.attr if isinstance(inner.func, ast.Attribute) else inner.func.id
            if name in ("raises", "warns", "deprecated_call") or name.startswith("assert"):
                return True
    return False


_BODIES = ("body", "orelse", "finalbody")
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)


def _header(node: ast.stmt) -> str:
    """A compound statement's AST dump without its bodies (its test, loop target, context managers...)."""
    saved = {name: getattr(node, name) for name in (*_BODIES, "handlers") if hasattr(node, name)}
    try:
        for name in saved:
            setattr(node, name, [])
        return ast.dump(node)
    finally:
        for name, value in saved.items():
            setattr(node, name, value)


def _dump(node: ast.AST | None) -> str:
    return ast.dump(node) if node is not None else ""


def _covers(old: ast.stmt, new: ast.stmt, inserted: list[ast.stmt]) -> bool:
    """Is ``new`` the statement ``old``, perhaps with statements added inside its blocks (into ``inserted``)?"""
    if type(old) is not type(new):
        return False
    if not isinstance(old, _COMPOUND):
        return ast.dump(old) == ast.dump(new)
    if _header(old) != _header(new):
        return False
    found: list[ast.stmt] = []
    pairs = [(getattr(old, name), getattr(new, name)) for name in _BODIES if hasattr(old, name)]
    if isinstance(old, ast.Try):
        if len(old.handlers) != len(new.handlers):
            return False
        for before, after in zip(old.handlers, new.handlers, strict=True):
            if _dump(before.type) != _dump(after.type) or before.name != after.name:
                return False
            pairs.append((before.body, after.body))
    for before, after in pairs:
        if _embed(before, after, found):
            return False
    inserted += found
    return True


def _embed(old: list[ast.stmt], new: list[ast.stmt], inserted: list[ast.stmt]) -> list[ast.stmt]:
    """Match ``old`` in order into ``new`` (greedy, which finds a match whenever one exists); the old
    statements left unmatched. Statements of ``new`` matched to none go into ``inserted``."""
    missing = []
    matched: set[int] = set()
    cursor = 0
    for statement in old:
        for index in range(cursor, len(new)):
            if _covers(statement, new[index], inserted):
                matched.add(index)
                cursor = index + 1
                break
        else:
            missing.append(statement)
    inserted += [statement for index, statement in enumerate(new) if index not in matched]
    return missing


def _names(node: ast.AST, context: type) -> set[str]:
    """Names ``node`` loads (context ast.Load) or binds (ast.Store, including ``x.attr =`` and ``x[i] =``)."""
    names = set()
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name) and isinstance(inner.ctx, context):
            names.add(inner.id)
        elif (
            context is ast.Store
            and isinstance(inner, (ast.Attribute, ast.Subscript))
            and isinstance(inner.ctx, ast.Store)
        ):
            base = inner.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name):
                names.add(base.id)
    return names


def _rebinds_checked_value(new: list[ast.stmt], inserted: list[ast.stmt]) -> bool:
    """Does a statement the branch added bind a name an original statement of the same block reads next?"""
    added = {id(statement) for statement in inserted}
    rebound: set[str] = set()
    for statement in new:
        if id(statement) in added:
            rebound |= _names(statement, ast.Store)
            continue
        if rebound & _names(statement, ast.Load):
            return True
        rebound -= _names(statement, ast.Store)
    return False


def _judge_test(old: ast.stmt, new: ast.stmt, marks: frozenset[str]) -> str | None:
    """Why the shipped test ``old`` is changed at the branch head (``new``), or None if it keeps every
    original statement (extended, or the same). ``marks`` are skips/xfails newly on its class or module."""
    old_marks = {ast.dump(mark) for mark in old.decorator_list}
    added_marks = [mark for mark in new.decorator_list if ast.dump(mark) not in old_marks]
    new_skips = _skip_marks(added_marks) | marks
    inserted: list[ast.stmt] = []
    missing = _embed(old.body, new.body, inserted)
    new_skips |= _skip_marks(inserted)
    if SKIPPED in new_skips or any(isinstance(inner, ast.Return) for s in inserted for inner in ast.walk(s)):
        return SKIPPED
    if XFAILED in new_skips:
        return XFAILED
    if any(_is_check(statement) for statement in missing):
        return ASSERTIONS_CHANGED
    # Fixtures may be added (a test extended often needs one); marks and fixtures taken away change it.
    old_args = {arg.arg for arg in (*old.args.posonlyargs, *old.args.args, *old.args.kwonlyargs)}
    new_args = {arg.arg for arg in (*new.args.posonlyargs, *new.args.args, *new.args.kwonlyargs)}
    marks_gone = old_marks - {ast.dump(mark) for mark in new.decorator_list}
    if missing or added_marks or marks_gone or not old_args <= new_args or type(old) is not type(new):
        return BODY_CHANGED
    if _rebinds_checked_value(new.body, inserted):
        return BODY_CHANGED
    return None


def compare_test_file(path: str, old: bytes | None, new: bytes | None) -> TestFileComparison:
    """Compare one test file at the starting point (``old``) and at the branch head (``new``).

    ``old`` is None for a file the branch adds, ``new`` None for one it deletes. A side that does
    not parse as Python gives ``parsed=False``: the caller judges the file as a whole.

    A pure function of its three arguments, kept for the worker process's later analyses by their
    hashes (not the files themselves): an invite's branches mostly carry the same test files, and
    every run's analysis compares every branch again.
    """
    return _COMPARED.get((path, _digest(old), _digest(new)), lambda: _compare_test_file(path, old, new))


# compare_test_file's latest results, by file name and the hashes of both sides.
_COMPARED = Memo(1024, budget=16 * MIB)


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


def _compare_test_file(path: str, old: bytes | None, new: bytes | None) -> TestFileComparison:
    try:
        before, after = _definitions(path, old), _definitions(path, new)
    except (SyntaxError, ValueError, RecursionError):
        return TestFileComparison(parsed=False)
    gone = [test_id for test_id in before.tests if test_id not in after.tests]
    added = [test_id for test_id in after.tests if test_id not in before.tests]
    renamed = []
    for test_id in list(gone):
        twin = next((other for other in added if after.unnamed[other] == before.unnamed[test_id]), None)
        if twin is not None:
            renamed.append((test_id, twin))
            gone.remove(test_id)
            added.remove(twin)
    why: dict[str, str] = {}
    extended = []
    for test_id, dump in before.tests.items():
        if test_id not in after.tests:
            continue
        marks = after.marks[test_id] - before.marks[test_id]
        if after.tests[test_id] == dump and not marks:
            continue
        reason = _judge_test(before.nodes[test_id], after.nodes[test_id], marks)
        if reason is None:
            extended.append(test_id)
        else:
            why[test_id] = reason
    helpers = [i for i, dump in before.helpers.items() if i in after.helpers and after.helpers[i] != dump]
    gone += [i for i in before.helpers if i not in after.helpers]
    return TestFileComparison(
        added=tuple(sorted(added)),
        changed=tuple(sorted(why)),
        changed_helpers=tuple(sorted(helpers)),
        deleted=tuple(sorted(gone)),
        renamed=tuple(renamed),
        extended=tuple(sorted(extended)),
        why=tuple(sorted(why.items())),
    )


def _is_visible(path: str, visible: Sequence[str]) -> bool:
    if path.startswith("tests/"):
        return True
    return any(path == entry or (entry.endswith("/") and path.startswith(entry)) for entry in visible)


def is_new_test_file(path: str) -> bool:
    """A file pytest would collect tests from: test_*.py or *_test.py."""
    name = PurePosixPath(path).name
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _blob_bytes(blob: git.Blob | None) -> bytes | None:
    if blob is None or blob.mode == GITLINK_MODE or blob.size > SCAN_LIMIT:
        return None
    return blob.data_stream.read()


@dataclass
class _TestChanges:
    """One branch's changes to test files, gathered file by file."""

    added: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)  # shipped tests kept whole and added to
    added_paths: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # evidence lines "<id or path>: <what>"
    problem_paths: set[str] = field(default_factory=set)
    parts: dict[str, list[str]] = field(default_factory=dict)  # sentence part -> items
    notes: list[str] = field(default_factory=list)

    def problem(self, part: str, item: str, line: str, *paths: str) -> None:
        self.parts.setdefault(part, []).append(item)
        self.problems.append(line)
        self.problem_paths.update(paths)

    def credit(self, path: str, tests: Sequence[str], extended: Sequence[str] = ()) -> None:
        self.added += tests
        self.extended += extended
        if tests or extended:
            self.added_paths.add(path)


def _collect_new_file(change: git.Diff, found: _TestChanges) -> None:
    path = change.b_path
    if path is None or not is_new_test_file(path):
        return
    comparison = compare_test_file(path, None, _blob_bytes(change.b_blob))
    found.credit(path, comparison.added)


def _collect_test_change(change: git.Diff, visible: Sequence[str], found: _TestChanges) -> None:
    old_path, new_path = change.a_path, change.b_path
    if change.new_file or old_path is None or not _is_visible(old_path, visible):
        if change.new_file or change.renamed_file:
            _collect_new_file(change, found)
        return
    if change.deleted_file:
        found.problem("deletes", old_path, f"{old_path}: deleted", old_path)
        return
    if change.renamed_file:
        found.problem("renames", f"{old_path} to {new_path}", f"{old_path}: renamed to {new_path}", old_path, new_path)
        return
    old, new = _blob_bytes(change.a_blob), _blob_bytes(change.b_blob)
    parsed = old_path.endswith(".py") and old is not None and new is not None
    comparison = compare_test_file(old_path, old, new) if parsed else TestFileComparison(parsed=False)
    if not comparison.parsed:
        found.problem("modifies", old_path, f"{old_path}: modified", old_path)
        if old_path.endswith(".py"):
            found.notes.append(f"{old_path} does not parse as Python, so it was compared as a whole file")
        return
    for test_id, reason in comparison.why:
        part, what = _CHANGE_WORDS[reason]
        found.problem(part, test_id, f"{test_id}: {what}", old_path)
    for helper in comparison.changed_helpers:
        found.problem("changes", helper, f"{helper}: changed", old_path)
    for test_id in comparison.deleted:
        found.problem("deletes", test_id, f"{test_id}: deleted", old_path)
    for test_id, new_id in comparison.renamed:
        found.problem("renames", f"{test_id} to {new_id}", f"{test_id}: renamed to {new_id}", old_path)
    found.credit(old_path, comparison.added, comparison.extended)


# Why a shipped test changed -> (the sentence's verb, the evidence line's words).
_CHANGE_WORDS = {
    ASSERTIONS_CHANGED: ("changes the assertions of", "assertions removed or changed"),
    SKIPPED: ("skips", "skipped"),
    XFAILED: ("marks as expected to fail", "xfail"),
    BODY_CHANGED: ("changes", "changed"),
}


def _listed(items: Sequence[str], shown: int = 3) -> str:
    return ", ".join(items[:shown]) + (", ..." if len(items) > shown else "")


_PROBLEM_ORDER = (
    "changes the assertions of",
    "skips",
    "marks as expected to fail",
    "changes",
    "deletes",
    "renames",
    "modifies",
)


def _visible_test_findings(
    repo: git.Repo, name: str, base: git.Commit, head: git.Commit, changes: list[git.Diff], visible: Sequence[str]
) -> list[Finding]:
    """At most two findings: the tests the branch adds (credit) and the shipped tests it changed (problem)."""
    found = _TestChanges()
    for change in changes:
        _collect_test_change(change, visible, found)
    ref, ticket = _ref(name), branch_ticket(name)
    findings = []
    if found.added or found.extended:
        added = sorted(found.added + found.extended)
        target = f" for #{ticket}" if ticket is not None else ""
        # A shipped test extended with every original assertion kept is credited like an added one.
        what = " and ".join(
            part
            for part in (
                f"adds {_plural(len(found.added), 'test')}" if found.added else "",
                f"extends {_plural(len(found.extended), 'shipped test')}" if found.extended else "",
            )
            if part
        )
        findings.append(
            Finding(
                TESTS_ADDED,
                INFO,
                f"{name} {what}{target} ({_listed(added)}).",
                ref=ref,
                ticket=ticket,
                commits=_commits_touching(repo, base.hexsha, head.hexsha, found.added_paths),
                paths=tuple(sorted(found.added_paths)[:MAX_EVIDENCE]),
                lines=tuple(added[:MAX_EVIDENCE]),
            )
        )
    if found.problems:
        parts = [f"{part} {_listed(sorted(found.parts[part]))}" for part in _PROBLEM_ORDER if part in found.parts]
        notes = f" ({'; '.join(sorted(found.notes))})" if found.notes else ""
        findings.append(
            Finding(
                VISIBLE_TESTS_CHANGED,
                PROBLEM,
                f"{name} {' and '.join(parts)} shipped with the assessment{notes}.",
                ref=ref,
                ticket=ticket,
                commits=_commits_touching(repo, base.hexsha, head.hexsha, found.problem_paths),
                paths=tuple(sorted(found.problem_paths)[:MAX_EVIDENCE]),
                lines=tuple(sorted(found.problems)[:MAX_EVIDENCE]),
            )
        )
    return findings


# --- Rule 5: junk ------------------------------------------------------------------------------------


def _junk_by_path(path: str) -> tuple[str, str] | None:
    """(category, evidence path) for a path that is junk by its name alone, else None."""
    parts = PurePosixPath(path).parts
    for index, part in enumerate(parts[:-1]):
        if part in _VENV_DIRS:
            return "virtualenv", "/".join(parts[: index + 1]) + "/"
        if part in _CACHE_DIRS:
            return "cache", "/".join(parts[: index + 1]) + "/"
    name = parts[-1]
    lowered = name.lower()
    if name == "pyvenv.cfg":
        return "virtualenv", path
    if lowered.endswith((".pyc", ".pyo")):
        return "cache", path
    if lowered.endswith(_DB_SUFFIXES):
        return "database", path
    if name == ".env" or (name.startswith(".env.") and name.rsplit(".", 1)[-1].lower() not in _ENV_TEMPLATES):
        return "secret", path
    if name in _KEY_FILES or lowered.endswith(_KEY_SUFFIXES):
        return "secret", path
    return None


def _read(blob: git.Blob, cache: dict[bytes, bytes]) -> bytes:
    if blob.binsha not in cache:
        cache[blob.binsha] = blob.data_stream.read()
    return cache[blob.binsha]


def _junk_findings(
    repo: git.Repo, name: str, base: git.Commit, head: git.Commit, changes: list[git.Diff], max_scanned: int
) -> list[Finding]:
    found: dict[str, dict[str, set[str]]] = {}  # category -> {"paths", "files", "lines"}
    scanned = 0
    capped = False
    cache: dict[bytes, bytes] = {}

    def record(category: str, evidence: str, file: str, line: str | None = None) -> None:
        entry = found.setdefault(category, {"paths": set(), "files": set(), "lines": set()})
        entry["paths"].add(evidence)
        entry["files"].add(file)
        if line is not None:
            entry["lines"].add(line)

    for change in changes:
        blob = change.b_blob
        if change.deleted_file or blob is None or blob.mode == GITLINK_MODE:
            continue
        path = change.b_path
        old = None if change.new_file else change.a_blob
        is_new = change.new_file or change.renamed_file
        if is_new and (by_path := _junk_by_path(path)) is not None:
            record(by_path[0], by_path[1], path)
            continue
        size = blob.size
        was_large = old is not None and old.size > SCAN_LIMIT
        if size > SCAN_LIMIT:
            if not was_large:
                record("large_file", path, path)
            continue
        if scanned >= max_scanned:
            capped = True
            continue
        scanned += 1
        data = _read(blob, cache)
        if b"\0" in data[:BINARY_SNIFF]:
            old_binary_large = old is not None and old.size > BINARY_LIMIT
            if size > BINARY_LIMIT and not old_binary_large:
                record("binary_file", path, path)
            continue
        old_lines: set[bytes] = set()
        if old is not None and old.mode != GITLINK_MODE and not was_large:
            old_lines = set(_read(old, cache).split(b"\n"))
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line in old_lines:
                continue
            for category, what, pattern in _SECRET_CONTENT:
                if pattern.search(line):
                    record(category, path, path, f"{path}:{number}: {what}")
                    break

    findings = []
    ref = _ref(name)
    ticket = branch_ticket(name)
    for category, entry in found.items():
        severity, what = _JUNK[category]
        paths = sorted(entry["paths"])
        count = len(entry["files"])
        findings.append(
            Finding(
                JUNK_COMMITTED,
                severity,
                f"{name} commits {what} ({_plural(count, 'file')}): {', '.join(paths[:3])}"
                + (", ..." if len(paths) > 3 else "")
                + ".",
                ref=ref,
                ticket=ticket,
                commits=_commits_touching(repo, base.hexsha, head.hexsha, paths[:MAX_EVIDENCE]),
                paths=tuple(paths[:MAX_EVIDENCE]),
                lines=tuple(sorted(entry["lines"])[:MAX_EVIDENCE]),
            )
        )
    if capped:
        findings.append(
            Finding(
                ANALYSIS_CAPPED,
                INFO,
                f"{name} changes more files than the {max_scanned} scanned for junk and secrets; "
                "the rest were not read.",
                ref=ref,
                ticket=ticket,
            )
        )
    return findings


# --- Rule 7: the push log ---------------------------------------------------------------------------


def _ref_update_findings(
    repo: git.Repo, base: str, heads: Mapping[str, str], updates: Sequence[RefUpdateInfo], max_commits: int
) -> list[Finding]:
    findings = []
    for update in updates:
        if update.kind not in (REF_FORCED, REF_DELETED):
            continue
        name = update.ref.removeprefix(HEADS_PREFIX)
        when = f" at {update.at:%Y-%m-%d %H:%M} UTC" if update.at is not None else ""
        if update.kind == REF_FORCED:
            # Commits reachable from the old tip but not from the new one.
            dropped = _reachable(repo, update.old_sha, [update.new_sha], max_commits)
            evidence = (dropped or [])[:MAX_EVIDENCE]
            what = (
                f"dropping {_plural(len(dropped), 'commit')}"
                if dropped is not None
                else "the old commits are no longer in the repository"
            )
            findings.append(
                Finding(
                    HISTORY_REWRITTEN,
                    WARNING,
                    f"{name} was force-pushed{when} from {update.old_sha[:12]} to {update.new_sha[:12]}, {what}.",
                    ref=update.ref,
                    ticket=branch_ticket(name),
                    commits=tuple(commit.hexsha for commit in evidence),
                    lines=(f"{update.old_sha} -> {update.new_sha}", *(_subject(commit) for commit in evidence)),
                )
            )
        else:
            # Commits of the deleted tip that no current branch (nor the template) still holds.
            dropped = _reachable(repo, update.old_sha, [base, *heads.values()], max_commits)
            evidence = (dropped or [])[:MAX_EVIDENCE]
            if dropped is None:
                what = "its commits are no longer in the repository"
            elif dropped:
                verb = "is" if len(dropped) == 1 else "are"
                what = f"{_plural(len(dropped), 'commit')} of it {verb} on no other branch"
            else:
                what = "all its commits are still on other branches"
            findings.append(
                Finding(
                    BRANCH_DELETED,
                    INFO,
                    f"{name} was deleted{when} at {update.old_sha[:12]}; {what}.",
                    ref=update.ref,
                    ticket=branch_ticket(name),
                    commits=tuple(commit.hexsha for commit in evidence),
                    lines=tuple(_subject(commit) for commit in evidence),
                )
            )
    return findings


def _reachable(repo: git.Repo, tip: str, excluded: Iterable[str], max_commits: int) -> list[git.Commit] | None:
    """Commits reachable from ``tip`` and from none of ``excluded``, oldest first; None if ``tip`` is gone."""
    try:
        tip = repo.commit(tip).hexsha
        revs = [tip, *(f"^{sha}" for sha in sorted(set(excluded)))]
        return list(reversed(list(repo.iter_commits(revs, max_count=max_commits))))
    except (ValueError, git.BadName, git.GitCommandError):
        return None


# --- Rule 8: scope creep ---------------------------------------------------------------------------


def _scope_creep_findings(scope_creep: Mapping[str, Sequence[int]]) -> list[Finding]:
    findings = []
    for branch, others in scope_creep.items():
        name = branch.removeprefix(HEADS_PREFIX)
        for ticket in sorted(set(others)):
            findings.append(
                Finding(
                    SCOPE_CREEP,
                    WARNING,
                    f"{name} also changes the result of ticket #{ticket}.",
                    ref=_ref(name),
                    ticket=ticket,
                )
            )
    return findings
