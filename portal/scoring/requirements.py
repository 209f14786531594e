"""What a run says of the candidate's requirements file: the additions and changes the assessment
does not install ([runtime] candidate_requirements; the rules are grader.requirements').

Read from the exported tree before anything runs, never installed: the run goes on with the
assessment's runtime, and its note (Run.reason on a scored run) tells the candidate and the
reviewers why a dependency they added is not there, instead of an ImportError or nothing at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from grader.manifest import Manifest
from grader.requirements import NOT_A_FILE, Requirements, requirements_note, requirements_read, requirements_refused

# What a package on Node.js installs: its package.json's dependencies, from its lockfile, at build time.
NODE_NOTE = (
    "{files} {verb} from the assessment's: the run used the assessment's own dependencies "
    "(npm ci of its lockfile), so a dependency added there is not installed"
)
# More is not read of a candidate's package.json or lockfile (a lockfile of a few hundred modules is far smaller).
MAX_NODE_FILE = 4 * 1024 * 1024


def requirements_policy_note(*, tree: Path, manifest: Manifest) -> str:
    """The sentence the run shows for what ``tree``'s requirements file adds or changes that the
    manifest does not allow; "" when it adds nothing, or has no requirements file. For a package on
    Node.js: whether its package.json's dependencies or its lockfile differ from the shipped ones."""
    if manifest.runtime_kind == "node":
        return _node_note(tree=tree, manifest=manifest)
    shipped = requirements_read(manifest.shipped_dir / manifest.requirements) or Requirements()
    path = tree / manifest.requirements
    # The file is opened without following a link; a folder on its way that is a link is not followed either.
    inside = path.parent.resolve() == tree.resolve() / Path(manifest.requirements).parent
    refused = requirements_refused(
        shipped=shipped,
        candidate=requirements_read(path) if inside else Requirements(unread=NOT_A_FILE),
        allowed=manifest.candidate_requirements,
    )
    return requirements_note(filename=manifest.requirements, refused=refused, allowed=manifest.candidate_requirements)


def node_dependencies_changed(*, tree: Path, manifest: Manifest) -> list[str]:
    """The files of a package on Node.js whose dependencies differ from the shipped ones: package.json
    (its dependency tables only) and the lockfile."""
    lockfile = manifest.requirements
    package = str(Path(lockfile).with_name("package.json"))
    return [
        name
        for name, read in ((package, _node_dependencies), (lockfile, _node_bytes))
        if read(tree / name) != read(manifest.shipped_dir / name)
    ]


def _node_note(*, tree: Path, manifest: Manifest) -> str:
    changed = node_dependencies_changed(tree=tree, manifest=manifest)
    if not changed:
        return ""
    return NODE_NOTE.format(files=" and ".join(changed), verb="differs" if len(changed) == 1 else "differ")


def _node_bytes(path: Path) -> bytes | None:
    """The file's bytes; None when it is missing, a link, or too big to read."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_NODE_FILE:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _node_dependencies(path: Path) -> object:
    """What a package.json asks npm to install (its dependency tables); its other fields (scripts,
    a version, a description) change nothing the run uses."""
    data = _node_bytes(path)
    try:
        parsed = json.loads(data) if data is not None else None
    except ValueError:
        return "unreadable"
    if not isinstance(parsed, dict):
        return parsed
    tables = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies", "bundleDependencies")
    return {name: parsed.get(name) for name in tables}
