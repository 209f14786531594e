"""A commit whose requirements file adds what the assessment does not install is still scored, with
the assessment's runtime, and its run says so in words to the candidate and the reviewers."""

from __future__ import annotations

import dataclasses
import html
import shutil

import pytest
from django.urls import reverse

from grader.manifest import load_manifest
from portal.scoring.models import Run
from portal.scoring.requirements import requirements_policy_note
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_commit

PROJECT = ROOT / "assessment_app" / "project"
NOTE = (
    "requirements.txt adds requests==2.32.3, which this assessment does not install: "
    "it installs only its own dependencies (none may be added)"
)


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


def _tree(tmp_path, requirements: str | None):
    tree = tmp_path / "tree"
    tree.mkdir()
    if requirements is not None:
        (tree / "requirements.txt").write_text(requirements)
    return tree


def test_a_tree_with_the_shipped_requirements_has_no_note(tmp_path, manifest):
    shipped = (PROJECT / "requirements.txt").read_text()
    assert requirements_policy_note(tree=_tree(tmp_path, shipped), manifest=manifest) == ""


def test_a_tree_without_a_requirements_file_has_no_note(tmp_path, manifest):
    assert requirements_policy_note(tree=_tree(tmp_path, None), manifest=manifest) == ""


def test_a_tree_adding_a_dependency_has_the_note(tmp_path, manifest):
    added = (PROJECT / "requirements.txt").read_text() + "requests==2.32.3\n"
    assert requirements_policy_note(tree=_tree(tmp_path, added), manifest=manifest) == NOTE


def test_an_allowed_name_needs_no_note(tmp_path, manifest):
    allowing = dataclasses.replace(manifest, candidate_requirements=("requests",))
    added = (PROJECT / "requirements.txt").read_text() + "requests==2.32.3\n"
    assert requirements_policy_note(tree=_tree(tmp_path, added), manifest=allowing) == ""


def test_a_folder_on_the_way_that_is_a_link_is_not_followed(tmp_path, manifest):
    # A package whose requirements sit in a folder: the candidate swaps the folder for a link to the host's.
    package = tmp_path / "package"
    shutil.copytree(PROJECT, package / "deps", ignore=lambda *_: ["app", "tests"])
    nested = dataclasses.replace(manifest, shipped_dir=package, requirements="deps/requirements.txt")
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "requirements.txt").write_text("host-secret==1\n")
    tree = _tree(tmp_path, None)
    (tree / "deps").symlink_to(outside)
    note = requirements_policy_note(tree=tree, manifest=nested)
    assert note.startswith("deps/requirements.txt is a link or not a regular file (it was not read), which")
    assert "host-secret" not in note


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_commit_adding_a_dependency_is_scored_and_its_run_says_why_it_is_not_installed(
    client, reviewer, created, tmp_path
):
    invite = created.invite
    requirements = (PROJECT / "requirements.txt").read_text()
    sha = candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-1",
        changes={"requirements.txt": requirements + "requests==2.32.3\n"},
        message="Fix: Resolve issue #1 - add an HTTP client",
    )

    run = score_commit(invite, sha)

    assert run.status == Run.Status.FAILED  # scored as usual (nothing fixed), with the runtime's packages
    assert run.reason == NOTE
    assert run.verdicts.count() == 6

    client.force_login(reviewer)
    staff = html.unescape(client.get(reverse("invite_result_runs", args=[invite.public_id])).content.decode())
    assert f"<summary>note</summary><pre>{NOTE}</pre>" in staff

    client.logout()
    runs = html.unescape(client.get(f"/i/{created.link_token}/runs").content.decode())
    assert f"scored; {NOTE}" in runs


# A package on Node.js: its package.json's dependencies and its lockfile, compared with the shipped ones.

NODE_EXAMPLE = ROOT / "examples" / "node-notes"


def _node_tree(tmp_path, **files: str):
    tree = tmp_path / "node-tree"
    shutil.copytree(NODE_EXAMPLE / "project", tree)
    for name, text in files.items():
        (tree / name.replace("_", "-").replace("-json", ".json")).write_text(text)
    return tree


def test_a_node_tree_with_the_shipped_dependencies_has_no_note(tmp_path):
    manifest = load_manifest(NODE_EXAMPLE)
    tree = _node_tree(tmp_path)
    package = (tree / "package.json").read_text()
    (tree / "package.json").write_text(package.replace('"name"', '"description": "mine", "name"', 1))
    assert requirements_policy_note(tree=tree, manifest=manifest) == ""  # no dependency changed


def test_a_node_dependency_added_says_the_assessments_own_are_installed(tmp_path):
    import json

    manifest = load_manifest(NODE_EXAMPLE)
    tree = _node_tree(tmp_path)
    package = json.loads((tree / "package.json").read_text())
    package["dependencies"] = {"left-pad": "1.3.0"}
    (tree / "package.json").write_text(json.dumps(package))
    assert requirements_policy_note(tree=tree, manifest=manifest) == (
        "package.json differs from the assessment's: the run used the assessment's own dependencies "
        "(npm ci of its lockfile), so a dependency added there is not installed"
    )
    (tree / "package-lock.json").write_text("{}")
    assert requirements_policy_note(tree=tree, manifest=manifest).startswith(
        "package.json and package-lock.json differ from the assessment's"
    )


def test_a_node_app_that_did_not_start_after_a_dependency_change_says_it_was_not_installed(tmp_path):
    from portal.scoring.services import app_start_reason

    manifest = load_manifest(NODE_EXAMPLE)
    tree = _node_tree(tmp_path)
    (tree / "package-lock.json").write_text("{}")
    reason = app_start_reason("the app exited with code 1 before it was ready", tree=tree, manifest=manifest)
    assert reason.startswith("the app did not start: the app exited with code 1 before it was ready; ")
    assert "changes to package-lock.json are not installed: the app runs with the assessment's runtime" in reason
