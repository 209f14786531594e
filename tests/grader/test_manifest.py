"""assessment.toml says what it means: a key it does not know, a Python the host lacks or a source
folder that is not there is refused with a sentence naming it, never silently defaulted."""

from pathlib import Path

import pytest

from grader.manifest import ManifestError, host_pythons, load_manifest
from tests.grader.tiny_package import tiny_package


def _edited(package: Path, old: str, new: str) -> Path:
    manifest = package / "assessment.toml"
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new, 1))
    return package


def test_the_tiny_package_loads_with_the_defaults(tmp_path):
    manifest = load_manifest(tiny_package(tmp_path))
    assert (manifest.source, manifest.hidden_budget, manifest.python) == ("app", 10.0, "3.11")
    assert manifest.interpreter == "/usr/bin/python3.11"


def test_a_misspelled_key_is_refused_with_the_nearest_known_key(tmp_path):
    package = tiny_package(tmp_path, hidden="budget_second = 30")
    with pytest.raises(ManifestError) as refused:
        load_manifest(package)
    assert str(refused.value) == "budget_second: unknown key in [hidden_tests]; did you mean budget_seconds?"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'ready_path = "/health"',
            'ready_pth = "/health"',
            "ready_pth: unknown key in [app]; did you mean ready_path?",
        ),
        ("points = 10", "point = 10", "point: unknown key in [[tickets]]; did you mean points?"),
        ("[runtime]", "[runtimes]", "runtimes: unknown table in assessment.toml; did you mean runtime?"),
        ('version = "1.0.0"', 'version = "1.0.0"\ncolour = "blue"', "colour: unknown key in [assessment]; the keys"),
    ],
)
def test_unknown_keys_are_refused_in_every_table(tmp_path, old, new, message):
    package = _edited(tiny_package(tmp_path), old, new)
    with pytest.raises(ManifestError, match="^" + message.replace("[", r"\[").replace("]", r"\]").replace("?", r"\?")):
        load_manifest(package)


def test_a_misspelled_limit_is_refused_and_not_dropped(tmp_path):
    package = tiny_package(tmp_path)
    (package / "assessment.toml").write_text(
        (package / "assessment.toml").read_text() + "\n[limits]\nmemory_mib = 256\n"
    )
    with pytest.raises(ManifestError, match=r"memory_mib: unknown key in \[limits\]; did you mean memory_mb\?"):
        load_manifest(package)


def test_a_number_that_is_not_one_is_refused_naming_its_key(tmp_path):
    package = tiny_package(tmp_path, hidden='budget_seconds = "ten"')
    with pytest.raises(
        ManifestError, match=r"\[hidden_tests\]: 'budget_seconds' should be a positive number, not 'ten'"
    ):
        load_manifest(package)


def test_a_python_the_host_lacks_is_refused_with_the_versions_it_has(tmp_path):
    available = host_pythons()
    assert "3.11" in available  # the sandbox's runtimes are built with Debian's python3.11
    package = tiny_package(tmp_path, python="3.99")
    with pytest.raises(ManifestError) as refused:
        load_manifest(package)
    assert str(refused.value).startswith(
        f'[runtime] python = "3.99": this host has no Python 3.99 to build runtimes with (it has {", ".join(available)}'
    )


def test_a_python_that_is_no_version_is_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"'python' should be a version such as \"3.11\", not '3'"):
        load_manifest(tiny_package(tmp_path, python="3"))


def test_the_pythons_of_a_host_are_its_python3_minor_interpreters(tmp_path):
    for name in ("python3.12", "python3.9", "python3.12-config", "python3", "python2.7"):
        (tmp_path / name).write_text("")
    assert host_pythons(tmp_path) == ["3.9", "3.12"]


def test_the_source_folder_is_set_by_the_manifest(tmp_path):
    package = tiny_package(tmp_path, paths='source = "app"')
    (package / "project" / "lib").mkdir()
    _edited(package, 'source = "app"', 'source = "lib"')
    manifest = load_manifest(package)
    assert manifest.source == "lib"
    assert manifest.outside_source(["lib/a.py", "app/logic.py", "library.py"]) == ["app/logic.py", "library.py"]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("service", r"\[paths\] source: service/ is not a folder of project/"),
        ("../hidden_tests", r"'source' should be a folder inside the shipped project, not '../hidden_tests'"),
        ("/etc", r"'source' should be a folder inside the shipped project, not '/etc'"),
    ],
)
def test_a_source_folder_outside_or_missing_is_refused(tmp_path, source, message):
    with pytest.raises(ManifestError, match=message):
        load_manifest(tiny_package(tmp_path, paths=f'source = "{source}"'))
