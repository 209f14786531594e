"""What a candidate may change in requirements is stated in the manifest ([runtime]
candidate_requirements) and every addition or change beyond it is named in a sentence; a hostile
requirements file is read within caps, never followed through a link and never evaluated."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from grader.manifest import ManifestError, load_manifest
from grader.requirements import (
    MAX_BYTES,
    MAX_LINES,
    NOT_A_FILE,
    requirements_note,
    requirements_parse,
    requirements_read,
    requirements_refused,
)
from tests.grader.tiny_package import tiny_package

SHIPPED = requirements_parse("# pins\nfastapi==0.165.0\nPydantic_Core==2.50.5  # pulled in\nhttpx2==2.16.2\n")


def refused(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    return requirements_refused(shipped=SHIPPED, candidate=requirements_parse(text), allowed=allowed)


def _package(tmp_path: Path, policy: str) -> Path:
    package = tiny_package(tmp_path)
    (package / "project" / "requirements.txt").write_text("orjson==3.10.0\nTyping_Extensions==4.16.0\n")
    manifest = package / "assessment.toml"
    line = 'requirements = "requirements.txt"'
    manifest.write_text(manifest.read_text().replace(line, f"{line}\n{policy}", 1))
    return package


def test_the_shipped_file_rewritten_in_another_spelling_changes_nothing():
    same = "pydantic-core == 2.50.5\n\n# a comment\nFASTAPI==0.165.0 \\\n\nhttpx2==2.16.2 # test client\n"
    assert refused(same) == []


def test_a_line_removed_is_not_a_change():
    assert refused("fastapi==0.165.0\n") == []


def test_an_added_or_repinned_distribution_is_named():
    assert refused("fastapi==0.165.0\nrequests[socks]>=2 ; python_version >= '3.8'\npydantic-core==1.0\n") == [
        "adds requests[socks]>=2;python_version>='3.8'",
        "changes pydantic-core to pydantic-core==1.0",
    ]


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("-r other.txt", "has the option -r other.txt"),
        ("-e git+https://example.com/x.git#egg=x", "has the option -e git+https://example.com/x.git#egg=x"),
        ("--index-url https://evil.example/simple", "has the option --index-url https://evil.example/simple"),
        ("--extra-index-url=https://evil.example", "has the option --extra-index-url=https://evil.example"),
        ("evil @ https://example.com/evil.whl", "has evil @ https://example.com/evil.whl"),
        ("./vendor/evil", "has ./vendor/evil"),
        ("not a requirement", "has not a requirement"),
    ],
)
def test_options_links_paths_and_garbage_are_refused_as_written(line, said):
    assert refused(line, allowed=("evil", "not")) == [said]


def test_an_allowed_name_may_be_added_in_any_spelling_and_others_may_not():
    assert refused("Typing_Extensions\norjson==3.10.0\nujson\n", allowed=("typing-extensions", "orjson")) == [
        "adds ujson"
    ]


def test_the_note_states_the_policy_in_plain_words():
    assert requirements_note(filename="requirements.txt", refused=["adds requests"], allowed=()) == (
        "requirements.txt adds requests, which this assessment does not install: "
        "it installs only its own dependencies (none may be added)"
    )
    note = requirements_note(filename="reqs.txt", refused=["adds a", "adds b"], allowed=("orjson", "ujson"))
    assert note.startswith("reqs.txt adds a and adds b, which")
    assert note.endswith("(only orjson or ujson may be added)")
    assert requirements_note(filename="requirements.txt", refused=[], allowed=()) == ""


def test_a_note_names_five_changes_and_counts_the_rest():
    found = refused("".join(f"extra{n}\n" for n in range(8)))
    note = requirements_note(filename="requirements.txt", refused=found, allowed=())
    assert "adds extra4 and 3 more, which" in note and "extra5" not in note


def test_a_huge_file_is_read_up_to_its_cap_quickly_and_says_so(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text(("a" * 70 + "\\\n") * 4000 + "x==1\n" * 200_000)
    started = time.process_time()
    read = requirements_read(path)
    found = requirements_refused(shipped=SHIPPED, candidate=read, allowed=())
    # CPU, not wall time: the cap bounds the work done, whatever else shares the cores.
    assert time.process_time() - started < 1
    assert found[-1] == f"is larger than {MAX_BYTES // 1024} KB (only its first {MAX_BYTES // 1024} KB were read)"
    assert all(len(item) < 100 for item in found)  # a quoted line is cut


def test_lines_past_the_cap_are_not_read_and_that_is_said():
    parsed = requirements_parse("x==1\n" * (MAX_LINES + 5))
    assert parsed.unread == f"has more than {MAX_LINES} lines (only the first {MAX_LINES} were read)"


def test_a_link_is_not_followed_and_a_missing_file_adds_nothing(tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("topsecret==1\n")
    link = tmp_path / "requirements.txt"
    link.symlink_to(secret)
    read = requirements_read(link)
    assert read.lines == {} and read.unread == NOT_A_FILE
    assert requirements_refused(shipped=SHIPPED, candidate=read, allowed=()) == [NOT_A_FILE]
    os.mkfifo(tmp_path / "fifo")  # a read of a pipe would block scoring
    assert requirements_read(tmp_path / "fifo").unread == NOT_A_FILE
    assert requirements_read(tmp_path / "absent.txt") is None
    assert requirements_refused(shipped=SHIPPED, candidate=None, allowed=()) == []


def test_the_manifest_defaults_to_none_and_accepts_an_allow_list_of_pinned_names(tmp_path):
    assert load_manifest(tiny_package(tmp_path / "default")).candidate_requirements == ()
    assert load_manifest(_package(tmp_path / "none", 'candidate_requirements = "none"')).candidate_requirements == ()
    allowed = load_manifest(_package(tmp_path / "list", 'candidate_requirements = ["orjson", "typing-extensions"]'))
    assert allowed.candidate_requirements == ("orjson", "typing-extensions")


def test_the_manifest_refuses_an_allowed_name_its_requirements_do_not_install(tmp_path):
    package = _package(tmp_path, 'candidate_requirements = ["orjson", "requests", "ujson"]')
    with pytest.raises(ManifestError) as refused_:
        load_manifest(package)
    assert str(refused_.value) == (
        "[runtime] candidate_requirements: requests, ujson not in requirements.txt; a candidate may only list "
        "what the runtime installs, so pin each of them there too"
    )


@pytest.mark.parametrize("value", ['"all"', "[]", "[1]", '[""]', "true"])
def test_the_manifest_refuses_a_policy_that_is_neither_none_nor_names(tmp_path, value):
    with pytest.raises(ManifestError, match=r"'candidate_requirements' should be \"none\" or a list of distribution"):
        load_manifest(_package(tmp_path, f"candidate_requirements = {value}"))


def test_a_misspelled_policy_key_is_refused_with_the_right_name(tmp_path):
    with pytest.raises(ManifestError, match=r"did you mean candidate_requirements\?"):
        load_manifest(_package(tmp_path, 'candidate_requirement = "none"'))
