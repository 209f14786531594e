"""The one way the portal runs git: environment, identity, safe configuration, timeouts, errors.

Framework-free and standard library only (the push hooks import it and must start fast).
Every git command the portal runs goes through :func:`run`; GitPython, used to read history,
is opened through :func:`gitplumbing.history.open_repository`, which applies the same rules.

Why each rule:

* The operator's ``~/.gitconfig`` and ``/etc/gitconfig`` are never read, so behaviour does not
  depend on the host (an alias, ``core.fsmonitor`` or a credential helper there would otherwise
  run with the portal's rights).
* The environment is built, not inherited: a stray ``GIT_DIR`` or ``GIT_INDEX_FILE`` in the
  portal's own environment cannot redirect a command. Hooks are the exception: git hands them
  the quarantine and object-directory variables they need (``inherit_env=True``).
* No prompt ever waits for a terminal, output is in the C locale, and every command has a
  timeout: a stuck git fails one request or task, never holds a thread forever.
* Commits the portal writes carry its own identity, passed explicitly (:func:`identity_env`).
* Root acts as the owner of the repository it works on (gitplumbing.ownership), so objects,
  refs and logs it writes stay usable by the web server that owns the data directory; and a
  repository is trusted by path (``safe.directory``) when another user owns it.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import subprocess
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitplumbing.ownership import popen_user

ZERO_SHA = "0" * 40
DEFAULT_TIMEOUT = 120.0

# Applied to every command with `git -c`: nothing the repository or host could configure
# makes the portal's own git calls run a program or write behind its back.
SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.sshCommand", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("protocol.ext.allow", "never"),
    ("protocol.file.allow", "user"),
    ("credential.helper", ""),
)


class GitError(RuntimeError):
    """A git command failed or timed out; the message names the command and git's own words."""

    def __init__(self, message: str, *, args: Sequence[str] = (), returncode: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.git_args = tuple(args)
        self.returncode = returncode
        self.stderr = stderr


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace").strip()

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def base_env() -> dict[str, str]:
    """The environment every portal git command starts from."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "LC_ALL": "C",
    }


def identity_env(name: str, email: str, date: str | None = None) -> dict[str, str]:
    """Author and committer variables for a commit the portal writes."""
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    if date is not None:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    return env


def command(*args: str, git_dir: Path | str | None = None) -> list[str]:
    """The argv of a portal git command: safe configuration first, then ``args``."""
    argv = ["git"]
    for key, value in SAFE_CONFIG:
        argv += ["-c", f"{key}={value}"]
    if git_dir is not None:
        # Explicit: a repository another user owns is used, never refused as "dubious".
        argv += ["-c", f"safe.directory={Path(git_dir).absolute()}", "--git-dir", str(git_dir)]
    return [*argv, *args]


@functools.cache
def program(name: str) -> list[str]:
    """The argv that starts git's own program ``name`` (``http-backend``) directly: ``git <name>``
    would start the git wrapper first, one more process per call for nothing. ``git <name>`` if the
    program is not in git's exec path. Found once per process; the safe configuration is the
    caller's to pass (``config_env``), there being no ``-c`` for a program started directly."""
    try:
        exec_path = subprocess.run(
            ["git", "--exec-path"], env=base_env(), capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        exec_path = ""
    path = os.path.join(exec_path, f"git-{name}") if exec_path else ""
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return [path]
    return ["git", name]


def run(
    *args: str,
    git_dir: Path | str | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    inherit_env: bool = False,
    writes_to: Path | str | None = None,
) -> Result:
    """Run one git command; raise GitError when it fails (``check``) or times out.

    Run by root, git acts as the owner of ``writes_to`` (by default ``git_dir``, else ``cwd``).
    """
    full_env = dict(os.environ) if inherit_env else base_env()
    if inherit_env:
        full_env.update({k: v for k, v in base_env().items() if k not in ("PATH", "HOME")})
    full_env.update(env or {})
    argv = command(*args, git_dir=git_dir)
    try:
        completed = subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            timeout=timeout,
            **popen_user(writes_to or git_dir or cwd),
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {_describe(args)} timed out after {timeout:g} s", args=args) from exc
    result = Result(completed.returncode, completed.stdout, completed.stderr)
    if check and not result.ok:
        stderr = completed.stderr.decode(errors="replace").strip()
        raise GitError(
            f"git {_describe(args)} failed ({completed.returncode}): {stderr}",
            args=args,
            returncode=completed.returncode,
            stderr=stderr,
        )
    return result


def text(*args: str, **kwargs) -> str:
    """Run a git command and return its output as stripped text."""
    return run(*args, **kwargs).text


def _describe(args: Sequence[str]) -> str:
    shown = " ".join(args[:4])
    return shown + (" ..." if len(args) > 4 else "")


# Small helpers that several parts of the portal need; each is one git command.


def is_ancestor(git_dir: Path, old: str, new: str, *, inherit_env: bool = False) -> bool:
    """Whether ``old`` is ``new`` or one of its ancestors. Found among ``new``'s loose ancestors
    first (_loose_ancestor), else asked of git."""
    if _loose_ancestor(Path(git_dir), old, new):
        return True
    result = run("merge-base", "--is-ancestor", old, new, git_dir=git_dir, check=False, inherit_env=inherit_env)
    if result.returncode not in (0, 1):
        raise GitError(f"git merge-base --is-ancestor failed: {result.stderr.decode(errors='replace').strip()}")
    return result.returncode == 0


# A push is nearly always a fast-forward, and a small push's commits arrive as loose objects (git
# unpacks a push of fewer than transfer.unpackLimit objects, 100 by default): walking the new
# commit's loose ancestors finds the old one with a few file reads, where git is a process (about
# 2 ms). What is not found that way (a packed commit, one in a quarantine, a longer history) is
# asked of git: the walk only ever answers yes.
LOOSE_WALK = 64  # commits read at most
_LOOSE_READ = 64 * 1024  # bytes of one object read, and of its inflated start: a commit's header
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _loose_parents(git_dir: Path, sha: str) -> list[str] | None:
    """The parents of commit ``sha``, read from its loose object; None if there is no loose commit
    of that name (packed, elsewhere, or not read as one)."""
    if not _SHA.fullmatch(sha):
        return None
    try:
        with open(git_dir / "objects" / sha[:2] / sha[2:], "rb") as loose:
            data = zlib.decompressobj().decompress(loose.read(_LOOSE_READ), _LOOSE_READ)
    except (OSError, zlib.error):
        return None
    kind, nul, body = data.partition(b"\0")
    if not nul or not kind.startswith(b"commit "):
        return None
    lines = body.split(b"\n")
    if not lines[0].startswith(b"tree "):
        return None
    parents = []
    for line in lines[1:]:
        if not line.startswith(b"parent "):
            break  # the author follows the parents
        parent = line[len(b"parent ") :].decode("ascii", "replace")
        if not _SHA.fullmatch(parent):
            break  # cut short by the read's bound: what was read is still right
        parents.append(parent)
    return parents


def _loose_ancestor(git_dir: Path, old: str, new: str) -> bool:
    """Whether ``old`` is ``new`` or an ancestor of it reached through loose commits only, reading at
    most LOOSE_WALK of them. False means "not found this way", not "not an ancestor"."""
    if old == new:
        return False  # git answers that one (and says whether it is a commit at all)
    queue, seen = collections.deque([new]), set()
    while queue and len(seen) < LOOSE_WALK:
        sha = queue.popleft()
        if sha == old:
            return True
        if sha in seen:
            continue
        seen.add(sha)
        queue.extend(_loose_parents(git_dir, sha) or ())
    return False


def update_refs(git_dir: Path, lines: str, *, inherit_env: bool = False) -> None:
    """``git update-ref --stdin`` with the given instructions (one transaction)."""
    if lines:
        run("update-ref", "--stdin", git_dir=git_dir, input=lines.encode(), inherit_env=inherit_env)


def tree_size(git_dir: Path, commit: str) -> tuple[int, int]:
    """(files, bytes) of a commit's tree, without reading any blob."""
    listing = run("ls-tree", "-r", "-l", "-z", commit, git_dir=git_dir, timeout=60).stdout
    files = total = 0
    for entry in filter(None, listing.split(b"\0")):
        meta = entry.split(b"\t", 1)[0].split()
        files += 1
        if len(meta) == 4 and meta[3].isdigit():
            total += int(meta[3])
    return files, total


def archive(git_dir: Path, commit: str) -> bytes:
    """The commit's tree as an uncompressed tar (no checkout, no hooks, no filters)."""
    return run("archive", "--format=tar", commit, git_dir=git_dir).stdout


def heads(git_dir: Path) -> dict[str, str]:
    """Every branch (short name) and the commit it points at."""
    output = text("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/", git_dir=git_dir)
    found = {}
    for line in output.splitlines():
        sha, _, ref = line.partition(" ")
        found[ref.removeprefix("refs/heads/")] = sha
    return found


__all__ = [
    "DEFAULT_TIMEOUT",
    "SAFE_CONFIG",
    "ZERO_SHA",
    "GitError",
    "Result",
    "archive",
    "base_env",
    "command",
    "heads",
    "identity_env",
    "is_ancestor",
    "run",
    "text",
    "tree_size",
    "update_refs",
]
