"""The dependency locks pin the whole tree with hashes, agree with their .in files and with each other.

requirements.in and requirements-dev.in hold the top-level pins; requirements.txt and
requirements-dev.txt are compiled from them by `make lock`. A transitive dependency that floats
can change under an operator between two installs, so every line of a lock is an exact pin with
hashes, and the environment running this suite is the dev lock installed as it is.
"""

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_IN = ROOT / "requirements.in"
DEV_IN = ROOT / "requirements-dev.in"
RUNTIME_LOCK = ROOT / "requirements.txt"
DEV_LOCK = ROOT / "requirements-dev.txt"
GRADER_IN = ROOT / "grader" / "requirements.in"
GRADER_LOCK = ROOT / "grader" / "requirements.txt"


def _logical_lines(path: Path) -> list[str]:
    """The file's lines with comments dropped and backslash continuations joined."""
    lines, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            lines.append(line)
    if pending.strip():
        lines.append(pending.strip())
    return lines


def _lock(path: Path) -> dict[NormalizedName, tuple[Requirement, list[str]]]:
    """Each requirement of a lock file with the hashes given for it."""
    entries = {}
    for line in _logical_lines(path):
        if line.startswith("-"):
            pytest.fail(f"{path.name}: unexpected option line {line!r}; locks hold only pinned requirements")
        spec, *options = line.split()
        hashes = [option for option in options if option.startswith("--hash=")]
        others = [option for option in options if not option.startswith("--hash=")]
        assert not others, f"{path.name}: {spec} has options other than --hash: {others}"
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name not in entries, f"{path.name} lists {requirement.name} twice"
        entries[name] = (requirement, hashes)
    return entries


def _pinned_version(requirement: Requirement) -> str:
    (specifier,) = requirement.specifier
    return specifier.version


def _top_level(path: Path) -> dict[NormalizedName, Requirement]:
    """The requirements an .in file names, following its -r includes (its -c constraints are not its own)."""
    named = {}
    for line in _logical_lines(path):
        if line.startswith(("-r ", "--requirement ")):
            named.update(_top_level(path.parent / line.split(maxsplit=1)[1]))
        elif line.startswith(("-c ", "--constraint ")):
            continue
        elif line.startswith("-"):
            pytest.fail(f"{path.name}: unexpected option line {line!r}")
        else:
            requirement = Requirement(line)
            named[canonicalize_name(requirement.name)] = requirement
    return named


@pytest.fixture(scope="module")
def runtime_lock():
    return _lock(RUNTIME_LOCK)


@pytest.fixture(scope="module")
def dev_lock():
    return _lock(DEV_LOCK)


@pytest.mark.parametrize(
    "lock_file", [RUNTIME_LOCK, DEV_LOCK, GRADER_LOCK], ids=lambda path: path.parent.name + "/" + path.name
)
def test_every_locked_requirement_is_an_exact_pin_with_a_sha256_hash(lock_file):
    entries = _lock(lock_file)
    assert entries, f"{lock_file.name} locks nothing"
    unpinned = [str(req) for req, _ in entries.values() if [s.operator for s in req.specifier] != ["=="]]
    assert not unpinned, f"{lock_file.name}: not pinned with == (run `make lock`): {unpinned}"
    unhashed = [req.name for req, hashes in entries.values() if not any(h.startswith("--hash=sha256:") for h in hashes)]
    assert not unhashed, f"{lock_file.name}: no --hash=sha256: for {unhashed} (run `make lock`)"
    lines = lock_file.read_text().splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert any("make lock" in line for line in header), f"{lock_file.name}'s header must name `make lock`"


@pytest.mark.parametrize(
    ("in_file", "lock_file"), [(RUNTIME_IN, RUNTIME_LOCK), (DEV_IN, DEV_LOCK)], ids=lambda path: path.name
)
def test_the_lock_pins_each_top_level_requirement_at_the_version_its_in_file_asks_for(in_file, lock_file):
    locked = _lock(lock_file)
    named = _top_level(in_file)
    assert named, f"{in_file.name} names nothing"
    missing = sorted(name for name in named if name not in locked)
    assert not missing, f"{lock_file.name} lacks {missing} from {in_file.name}: run `make lock`"
    stale = {
        str(requirement): _pinned_version(locked[name][0])
        for name, requirement in named.items()
        if not requirement.specifier.contains(Version(_pinned_version(locked[name][0])), prereleases=True)
    }
    assert not stale, f"{lock_file.name} is stale against {in_file.name} (asked: locked): {stale}; run `make lock`"


def test_the_dev_lock_installs_the_runtime_tree_at_the_same_versions(runtime_lock, dev_lock):
    missing = sorted(name for name in runtime_lock if name not in dev_lock)
    assert not missing, f"requirements-dev.txt lacks runtime packages {missing}: run `make lock`"
    differing = {
        name: (_pinned_version(req), _pinned_version(dev_lock[name][0]))
        for name, (req, _) in runtime_lock.items()
        if _pinned_version(req) != _pinned_version(dev_lock[name][0])
    }
    assert not differing, f"runtime vs dev lock versions differ: {differing}; run `make lock`"


def test_the_grader_lock_is_the_runtime_lock_s_versions_of_what_the_grader_needs(runtime_lock):
    grader = _lock(GRADER_LOCK)
    assert set(_top_level(GRADER_IN)) <= set(grader), "grader/requirements.txt lacks what its .in names"
    differing = {
        name: (_pinned_version(req), _pinned_version(runtime_lock[name][0]) if name in runtime_lock else None)
        for name, (req, _) in grader.items()
        if name not in runtime_lock or _pinned_version(req) != _pinned_version(runtime_lock[name][0])
    }
    assert not differing, f"grader vs runtime lock versions differ: {differing}; run `make lock`"


def test_this_environment_has_the_dev_lock_installed(dev_lock):
    wrong = {}
    for name, (requirement, _) in dev_lock.items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        expected = _pinned_version(requirement)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed is None or Version(installed) != Version(expected):
            wrong[name] = f"locked {expected}, installed {installed}"
    assert not wrong, f"the environment differs from requirements-dev.txt: {wrong}; run `make setup-dev`"
