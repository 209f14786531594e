"""Push policy, run by git receive-pack as the pre-receive and post-receive hooks.

Standard library and the portal's stdlib-only git module, run with -I -S: hooks run on every
push and must start fast. Whatever this prints reaches the candidate's terminal as "remote: ..."
lines.

Environment set by the portal's git view:
  PORTAL_PUSH_REFUSED  a message; when set, every push is refused with it
  PORTAL_PUSH_LOG      a file where post-receive appends "old new ref" lines
"""

import os
import sys
from pathlib import Path

# -I leaves the project off sys.path; the git module is three folders up.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import gitplumbing

ZERO = gitplumbing.ZERO_SHA
KEEP_PREFIX = "refs/portal/keep/"
ALLOWED_PREFIXES = ("refs/heads/", "refs/tags/")
MAIN = "refs/heads/main"


def _git(*args: str) -> gitplumbing.Result:
    # git hands hooks the quarantine and object-directory variables: keep them.
    return gitplumbing.run(*args, check=False, inherit_env=True)


def _updates(stdin) -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in stdin.read().splitlines() if line.strip()]


def _short(ref: str) -> str:
    for prefix in ALLOWED_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def pre_receive(updates: list[tuple[str, str, str]]) -> list[str]:
    """Return the reasons to refuse this push (empty: accept)."""
    refused = os.environ.get("PORTAL_PUSH_REFUSED")
    if refused:
        return [refused]
    problems = []
    for old, new, ref in updates:
        if not ref.startswith(ALLOWED_PREFIXES):
            problems.append(f"{ref}: only branches and tags can be pushed.")
        elif ref == MAIN and new == ZERO:
            problems.append("main cannot be deleted: it is the starting point reviewers compare your work with.")
        elif ref == MAIN and old != ZERO and not gitplumbing.is_ancestor(None, old, new, inherit_env=True):
            problems.append(
                "main cannot be rewound or rewritten. Work on an issue-<n> branch; "
                "if you rewrote main locally, reset it with: git reset --hard origin/main"
            )
    news = [new for _old, new, _ref in updates if new != ZERO]
    if news and not problems:
        limit = int(_git("config", "--get", "portal.maxObjects").text or "0")
        listing = _git("rev-list", "--objects", *news, "--not", "--all")
        count = len(listing.stdout.splitlines())
        if limit and count > limit:
            problems.append(f"this push adds {count} objects; the limit is {limit}. Push smaller changes.")
    return problems


def post_receive(updates: list[tuple[str, str, str]]) -> list[str]:
    # One line per commit: a commit pushed to two refs at once would otherwise name its keep-ref
    # twice, and git refuses the whole transaction.
    news = dict.fromkeys(new for _old, new, _ref in updates if new != ZERO)
    keep = "".join(f"update {KEEP_PREFIX}{new} {new}\n" for new in news)
    gitplumbing.update_refs(None, keep, inherit_env=True)
    log_path = os.environ.get("PORTAL_PUSH_LOG")
    if log_path:
        with open(log_path, "a") as log:
            log.writelines(f"{old} {new} {ref}\n" for old, new, ref in updates)
    notes = []
    for _old, new, ref in updates:
        if new == ZERO:
            notes.append(f"deleted {_short(ref)} (its commits are kept)")
        else:
            scoring = ", scoring queued" if ref.startswith("refs/heads/") else ""
            notes.append(f"received {_short(ref)} at {new[:7]}{scoring}")
    return notes


def main(argv: list[str]) -> int:
    updates = _updates(sys.stdin)
    if argv[1:] == ["pre-receive"]:
        problems = pre_receive(updates)
        for problem in problems:
            print(f"refused: {problem}", flush=True)
        return 1 if problems else 0
    if argv[1:] == ["post-receive"]:
        for note in post_receive(updates):
            print(note, flush=True)
        return 0
    print(f"usage: {argv[0]} pre-receive|post-receive", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
