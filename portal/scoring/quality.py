"""Code-quality signals about one branch of a candidate's repository: diff size and new lint.

Framework-free. Signals for a reviewer, not verdicts: nothing here scores anything.

How new lint is found:

1. GitPython diffs the template commit (``base``) against the branch head, with rename detection.
2. The changed Python files are written to a temporary directory from their blobs (head version),
   and their template versions to another (``commit.tree / path``): nothing is checked out, no hook
   or filter runs, and no candidate code is executed -- ruff only parses it.
3. ruff runs on both with ``--isolated`` (a candidate's own ruff/pyproject configuration is ignored)
   and the fixed rule selection ``LINT_SELECT`` minus ``LINT_IGNORE``.
4. A head finding is new when it sits on a line the diff adds or changes, and the head file has
   more findings with its (code, message) than the template version of the same file (matched
   through renames). Line numbers are ignored for that comparison, so findings that merely moved
   are not new; counting rather than set membership means "the template already had one bare
   except here" does not hide three more the candidate added.

Rule selection: pycodestyle errors and warnings (E, W) without E501 (line length is a matter
of the candidate's project settings, which ``--isolated`` ignores), pyflakes (F: unused imports and
names, undefined names), bugbear (B), pyupgrade (UP, for Python ``TARGET_VERSION``) and simplify
(SIM). Syntax errors are reported with code ``invalid-syntax``.

Masking fixes: on the lines the branch adds or changes in app code (Python files that are not
tests), ``masking`` lists, with file and line, (a) an exception handler or ``except`` that catches
every error (``Exception``, ``BaseException``, a bare ``except``) and answers with a client error
(a 4xx status), so failures read as "not found" rather than being fixed, and (b) code that
special-cases values: an id compared with a literal (``if book_id == 42:``), a header clients differ
in (User-Agent, Accept-Encoding...) read by the app, or a client's name (``"testclient"``,
``"python-httpx"``) written into it. Parsed with ``ast``, never run. Reviewer signals, not scores: an
honest fix may do either, for a reason a reviewer can read next to it.

Work is bounded: patches are read for at most ``MAX_PATCH_FILES`` files of at most
``MAX_BLOB_BYTES`` each and ``MAX_PATCH_BYTES`` in all; at most ``MAX_LINT_FILES`` Python files
(``MAX_LINT_BYTES`` in all) are linted. What was skipped is said in ``notes``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import git

from gitplumbing.history import open_repository
from portal.scoring.hygiene import GITLINK_MODE

LINT_SELECT = "E,F,W,B,UP,SIM"
LINT_IGNORE = "E501"
TARGET_VERSION = "py311"
MAX_PATCH_FILES = 1000
MAX_BLOB_BYTES = 1024 * 1024
MAX_PATCH_BYTES = 16 * 1024 * 1024
MAX_LINT_FILES = 200
MAX_LINT_BYTES = 8 * 1024 * 1024
RUFF_TIMEOUT = 120

_HUNK_RE = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class LintFinding:
    path: str  # in the head tree
    line: int
    code: str  # e.g. "F401"; "invalid-syntax" for a syntax error
    message: str


@dataclass(frozen=True)
class MaskingSignal:
    path: str  # in the head tree
    line: int
    kind: str  # CATCH_ALL_CLIENT_ERROR | SPECIAL_CASED_VALUE
    message: str


CATCH_ALL_CLIENT_ERROR = "catch_all_client_error"
SPECIAL_CASED_VALUE = "special_cased_value"

# Headers every client sends its own way: an app reading them can tell one client from another.
CLIENT_HEADERS = frozenset({"user-agent", "accept-encoding", "accept-language", "sec-ch-ua"})
# Parts of the names HTTP clients and test tools give themselves.
CLIENT_NAMES = ("testclient", "httpx", "python-requests", "pytest", "curl/", "aiohttp", "urllib")
_BROAD_ERRORS = frozenset({"Exception", "BaseException"})


@dataclass(frozen=True)
class QualitySignals:
    branch: str
    files_changed: int
    lines_added: int  # text files whose patch was read (see notes); binary files count 0
    lines_removed: int
    files: tuple[str, ...]  # changed paths (the new path of a rename, the old path of a deletion), sorted
    new_lint: tuple[LintFinding, ...]  # sorted by path, line, code
    lint_error: str | None = None  # why lint did not run, if it did not
    notes: tuple[str, ...] = ()  # what the caps left out
    masking: tuple[MaskingSignal, ...] = ()  # sorted by path, line, kind


def default_ruff() -> str | None:
    """The ruff installed next to this interpreter, else the one on PATH, else None."""
    beside = Path(sys.executable).parent / "ruff"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("ruff")


def quality_signals(
    *, repo_path: Path, base: str, branch: str, head: str, ruff: str | Path | None = None
) -> QualitySignals:
    """Diff stats of ``base``..``head`` and the ruff findings the branch introduces on the lines it changes.

    ``repo_path`` is the (bare) repository, ``base`` the template commit, ``head`` the branch tip,
    ``branch`` only labels the result. ``ruff`` is the ruff executable (default: ``default_ruff()``).
    """
    notes: list[str] = []
    with open_repository(repo_path) as repo:
        base_commit = repo.commit(base)
        head_commit = repo.commit(head)
        if base_commit.hexsha == head_commit.hexsha:
            return QualitySignals(branch, 0, 0, 0, (), ())
        changes = list(base_commit.diff(head_commit))
        files = tuple(sorted({change.a_path if change.deleted_file else change.b_path for change in changes}))

        selected, skipped = _patchable(changes)
        if skipped:
            notes.append(f"{_plural(skipped, 'changed file')} too large or too many to read; not in the line counts.")
        pathspecs = None
        if skipped:
            pathspecs = sorted({p for change in selected for p in (change.a_path, change.b_path) if p})
        patches = base_commit.diff(head_commit, paths=pathspecs, create_patch=True) if selected else []

        added_lines: dict[str, set[int]] = {}
        base_path: dict[str, str | None] = {}
        lines_added = lines_removed = 0
        for patch in patches:
            added, plus, minus = _patch_lines(patch.diff)
            lines_added += plus
            lines_removed += minus
            if patch.b_path is not None and patch.b_path.endswith(".py") and added:
                added_lines[patch.b_path] = added
                base_path[patch.b_path] = patch.a_path

        lint, lint_error, lint_notes = _new_lint(base_commit, head_commit, added_lines, base_path, ruff)
        notes += lint_notes
        masking = _masking(head_commit, added_lines)
    return QualitySignals(
        branch=branch,
        files_changed=len(changes),
        lines_added=lines_added,
        lines_removed=lines_removed,
        files=files,
        new_lint=lint,
        lint_error=lint_error,
        notes=tuple(notes),
        masking=masking,
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _patchable(changes: list[git.Diff]) -> tuple[list[git.Diff], int]:
    """The changes whose patch is worth reading within the caps, and how many were left out."""
    selected: list[git.Diff] = []
    total = 0
    skipped = 0
    for change in changes:
        blobs = [blob for blob in (change.a_blob, change.b_blob) if blob is not None]
        if any(blob.mode == GITLINK_MODE for blob in blobs):
            continue  # a submodule pointer: nothing to count
        size = sum(blob.size for blob in blobs)
        if (
            len(selected) >= MAX_PATCH_FILES
            or any(blob.size > MAX_BLOB_BYTES for blob in blobs)
            or total + size > MAX_PATCH_BYTES
        ):
            skipped += 1
            continue
        selected.append(change)
        total += size
    return selected, skipped


def _patch_lines(patch: bytes | str | None) -> tuple[set[int], int, int]:
    """(head line numbers added or changed, lines added, lines removed) of one file's unified diff."""
    if not patch:
        return set(), 0, 0
    if isinstance(patch, str):
        patch = patch.encode()
    added: set[int] = set()
    plus = minus = 0
    line_number = 0
    in_hunk = False
    for line in patch.split(b"\n"):
        hunk = _HUNK_RE.match(line)
        if hunk:
            line_number = int(hunk.group(1))
            in_hunk = True
        elif not in_hunk:
            continue  # "Binary files ... differ" and the like
        elif line.startswith(b"+"):
            added.add(line_number)
            plus += 1
            line_number += 1
        elif line.startswith(b"-"):
            minus += 1
        elif line.startswith(b" "):
            line_number += 1
        # "\ No newline at end of file" and the trailing empty string move nothing.
    return added, plus, minus


def _safe_relative(path: str) -> PurePosixPath | None:
    relative = PurePosixPath(path)
    if relative.is_absolute() or any(part in ("", ".", "..") for part in relative.parts):
        return None
    return relative


def _export(tree: git.Tree, paths: list[str], dest: Path) -> list[str]:
    """Write the blobs at ``paths`` of ``tree`` under ``dest``; the paths actually written."""
    written = []
    for path in paths:
        relative = _safe_relative(path)
        if relative is None:
            continue
        try:
            blob = tree / path
        except KeyError:
            continue
        if blob.type != "blob":
            continue
        target = dest.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.data_stream.read())
        written.append(path)
    return written


def _new_lint(
    base: git.Commit,
    head: git.Commit,
    added_lines: dict[str, set[int]],
    base_path: dict[str, str | None],
    ruff: str | Path | None,
) -> tuple[tuple[LintFinding, ...], str | None, list[str]]:
    if not added_lines:
        return (), None, []
    executable = str(ruff) if ruff is not None else default_ruff()
    if executable is None:
        return (), "ruff is not installed.", []

    notes = []
    chosen: list[str] = []
    total = 0
    for path in sorted(added_lines):
        size = (head.tree / path).size
        if len(chosen) >= MAX_LINT_FILES or size > MAX_BLOB_BYTES or total + size > MAX_LINT_BYTES:
            continue
        chosen.append(path)
        total += size
    if len(chosen) < len(added_lines):
        notes.append(f"{_plural(len(added_lines) - len(chosen), 'changed Python file')} not linted (over the caps).")

    with tempfile.TemporaryDirectory(prefix="portal-quality-") as scratch:
        head_dir = Path(scratch) / "head"
        base_dir = Path(scratch) / "base"
        head_dir.mkdir()
        base_dir.mkdir()
        head_files = _export(head.tree, chosen, head_dir)
        old_paths = sorted({base_path[path] for path in head_files if base_path.get(path)})
        base_files = _export(base.tree, old_paths, base_dir)
        try:
            head_found = _ruff(executable, head_dir, head_files)
            base_found = _ruff(executable, base_dir, base_files)
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            return (), f"ruff failed: {error}", notes

    base_counts = Counter((code, path, message) for path, _, code, message in base_found)
    head_counts = Counter((code, base_path.get(path) or path, message) for path, _, code, message in head_found)
    budget = {key: head_counts[key] - base_counts[key] for key in head_counts}
    new = []
    for path, line, code, message in sorted(head_found):
        key = (code, base_path.get(path) or path, message)
        if line in added_lines.get(path, ()) and budget[key] > 0:
            budget[key] -= 1
            new.append(LintFinding(path=path, line=line, code=code, message=message))
    return tuple(new), None, notes


def _ruff(executable: str, root: Path, paths: list[str]) -> list[tuple[str, int, str, str]]:
    """(path, line, code, message) for every ruff finding in ``paths`` under ``root``."""
    if not paths:
        return []
    command = [
        executable,
        "check",
        "--isolated",
        "--no-cache",
        "--exit-zero",
        "--output-format",
        "json",
        "--select",
        LINT_SELECT,
        "--ignore",
        LINT_IGNORE,
        "--target-version",
        TARGET_VERSION,
        "--",
        *paths,
    ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "LC_ALL": "C"}
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, timeout=RUFF_TIMEOUT)
    if result.returncode != 0:
        raise subprocess.SubprocessError(
            f"exit status {result.returncode}: {result.stderr.decode(errors='replace').strip()[:500]}"
        )
    resolved = root.resolve()
    found = []
    for item in json.loads(result.stdout or b"[]"):
        filename = Path(item["filename"])
        try:
            path = filename.resolve().relative_to(resolved).as_posix()
        except ValueError:
            continue
        found.append((path, int(item["location"]["row"]), item.get("code") or "invalid-syntax", item["message"]))
    return found


# --- Masking fixes ------------------------------------------------------------------------------------


def _is_test_path(path: str) -> bool:
    pure = PurePosixPath(path)
    name = pure.name
    return "tests" in pure.parts[:-1] or name == "conftest.py" or name.startswith("test_") or name.endswith("_test.py")


def _masking(head: git.Commit, added_lines: dict[str, set[int]]) -> tuple[MaskingSignal, ...]:
    """The masking signals on the changed lines of the head's app code (see the module docstring)."""
    found: set[MaskingSignal] = set()
    for path in sorted(added_lines):
        if _is_test_path(path):
            continue
        try:
            blob = head.tree / path
        except KeyError:
            continue
        if blob.type != "blob" or blob.size > MAX_BLOB_BYTES:
            continue
        try:
            tree = ast.parse(blob.data_stream.read(), filename=path)
        except (SyntaxError, ValueError, RecursionError):
            continue  # reported as invalid-syntax lint
        changed = added_lines[path]
        for line, kind, message in (*_catch_all(tree), *_special_cases(tree)):
            if line in changed:
                found.add(MaskingSignal(path=path, line=line, kind=kind, message=message))
    return tuple(sorted(found, key=lambda signal: (signal.path, signal.line, signal.kind, signal.message)))


def _dotted_name(node: ast.AST) -> str:
    """``fastapi.HTTPException`` -> "HTTPException"; "" for anything but a name or an attribute."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _catches_everything(caught: ast.AST | None) -> bool:
    if caught is None:
        return True  # a bare except
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(_dotted_name(name) in _BROAD_ERRORS for name in names)


def _client_error(nodes: list[ast.stmt]) -> int | None:
    """The 4xx status the statements answer with (a keyword, HTTPException's first argument or a
    ``status.HTTP_4xx_...`` name), else None."""
    for statement in nodes:
        for inner in ast.walk(statement):
            value = None
            if isinstance(inner, ast.keyword) and inner.arg in ("status_code", "status"):
                value = inner.value
            elif isinstance(inner, ast.Call) and _dotted_name(inner.func) == "HTTPException" and inner.args:
                value = inner.args[0]
            elif isinstance(inner, ast.Attribute) and re.match(r"HTTP_4\d\d_", inner.attr):
                return int(inner.attr[5:8])
            if isinstance(value, ast.Constant) and isinstance(value.value, int) and 400 <= value.value < 500:
                return value.value
            if isinstance(value, ast.Attribute) and re.match(r"HTTP_4\d\d_", value.attr):
                return int(value.attr[5:8])
    return None


def _catch_all(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, kind, message) for every handler that turns any error into a client error."""
    found = []
    functions = {
        node.name: node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and _dotted_name(decorator.func) == "exception_handler"
                    and decorator.args
                    and _catches_everything(decorator.args[0])
                    and (status := _client_error(node.body)) is not None
                ):
                    found.append(
                        (
                            decorator.lineno,
                            CATCH_ALL_CLIENT_ERROR,
                            f"an exception handler answers every unhandled error with {status}",
                        )
                    )
        elif (
            isinstance(node, ast.Call)
            and _dotted_name(node.func) == "add_exception_handler"
            and len(node.args) >= 2
            and _catches_everything(node.args[0])
            and (handler := functions.get(_dotted_name(node.args[1]))) is not None
            and (status := _client_error(handler.body)) is not None
        ):
            found.append(
                (
                    node.lineno,
                    CATCH_ALL_CLIENT_ERROR,
                    f"an exception handler answers every unhandled error with {status}",
                )
            )
        elif (
            isinstance(node, ast.ExceptHandler)
            and _catches_everything(node.type)
            and (status := _client_error(node.body)) is not None
        ):
            caught = "except" if node.type is None else f"except {ast.unparse(node.type)}"
            found.append((node.lineno, CATCH_ALL_CLIENT_ERROR, f"`{caught}` turns every error into {status}"))
    return found


def _literal(node: ast.AST) -> str | None:
    """The source of an int or str constant (or a tuple, list or set of them), else None."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    if items and all(
        isinstance(item, ast.Constant) and isinstance(item.value, (int, str)) and not isinstance(item.value, bool)
        for item in items
    ):
        return ast.unparse(node)
    return None


def _is_id(node: ast.AST) -> bool:
    name = _dotted_name(node)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        name = node.slice.value
    return name == "id" or name.endswith(("_id", "Id"))


def _special_cases(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, kind, message) for ids compared with literals, client headers read, client names written."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            if isinstance(node.ops[0], (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)):
                left, right = node.left, node.comparators[0]
                for subject, other in ((left, right), (right, left)):
                    literal = _literal(other)
                    if literal is not None and _is_id(subject):
                        found.append(
                            (
                                node.lineno,
                                SPECIAL_CASED_VALUE,
                                f"{ast.unparse(subject)} is compared with the literal {literal}",
                            )
                        )
                        break
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            lowered = node.value.strip().lower()
            if lowered.replace("_", "-") in CLIENT_HEADERS:
                found.append((node.lineno, SPECIAL_CASED_VALUE, f"the app reads the {node.value!r} header"))
            elif any(client in lowered for client in CLIENT_NAMES):
                found.append((node.lineno, SPECIAL_CASED_VALUE, f"the app names a client: {node.value[:40]!r}"))
        elif isinstance(node, ast.arg) and node.arg.lower().replace("_", "-") in CLIENT_HEADERS:
            # FastAPI reads a parameter named user_agent (declared with Header()) from the User-Agent header.
            found.append((node.lineno, SPECIAL_CASED_VALUE, f"the app reads the {node.arg!r} header"))
    return found
