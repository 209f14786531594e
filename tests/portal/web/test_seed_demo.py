"""`manage.py seed_demo`: demo accounts, the built-in assessment and a pipeline of demo candidates."""

import json
import shutil
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

import gitplumbing
from grader.manifest import load_manifest
from portal.accounts.models import User
from portal.assessments.models import AssessmentVersion
from portal.assessments.services import BUILT_IN_PACKAGES, assessment_version_install
from portal.hosting.gitrepo import KEEP_PREFIX
from portal.hosting.models import RefUpdate
from portal.hosting.services import repository_path
from portal.invites.models import Candidate, Invite
from portal.pipeline.selectors import pipeline_stage_counts
from portal.scoring.models import Run
from portal.web.demo import DEMO_DOMAIN, DemoSeedError, demo_pipeline_seed
from tests.conftest import ROOT
from tests.support.factories import score_all

SEEDED_STAGES = {
    "invited": 2,
    "opened": 1,
    "cloned": 1,
    "pushed": 2,
    "submitted": 1,
    "scored": 0,
    "reviewed": 0,
    "expired": 1,
    "revoked": 1,
}


def _seed(settings, tmp_path, debug: bool = True, **kwargs) -> str:
    # pytest-django runs tests with DEBUG off; a local run (where seeding belongs) has it on.
    settings.DEBUG = debug
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out, **kwargs)
    return out.getvalue()


def _printed_passwords(output: str) -> dict[str, str]:
    rows = [line.split() for line in output.splitlines() if line.startswith("  ") and "@" not in line]
    return {row[0]: row[1] for row in rows}


@pytest.fixture
def validated_version(assessment_version) -> AssessmentVersion:
    """The built-in assessments as already validated, so seeding does not validate them again
    (what loading validates is tested in tests/portal/assessments/test_load_assessment.py); the
    first one, the demo candidates'."""
    others = [assessment_version_install(package_dir=package) for package in BUILT_IN_PACKAGES[1:]]
    AssessmentVersion.objects.filter(pk__in=[assessment_version.pk, *(version.pk for version in others)]).update(
        validation={"ok": True, "checks": [{"name": "proven", "ok": True}]}, validated_at=timezone.now()
    )
    return assessment_version


def _demo_invite(local_part: str) -> Invite:
    return Invite.objects.get(candidate__email=f"{local_part}@{DEMO_DOMAIN}")


# Accounts


def test_seed_demo_creates_three_accounts_whose_printed_passwords_work(client, db, settings, tmp_path):
    passwords = _printed_passwords(_seed(settings, tmp_path, accounts_only=True))
    assert set(passwords) == {"admin", "recruiter", "reviewer"}
    for username, page in [("recruiter", "recruiter_dashboard"), ("reviewer", "review_queue")]:
        client.logout()
        response = client.post(reverse("login"), {"username": username, "password": passwords[username]})
        assert response.status_code == 302, username
        assert client.get(reverse(page)).status_code == 200
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser


def test_seed_demo_is_idempotent_and_prints_the_same_passwords(db, settings, tmp_path):
    first = _printed_passwords(_seed(settings, tmp_path, accounts_only=True))
    second_output = _seed(settings, tmp_path, accounts_only=True)
    assert _printed_passwords(second_output) == first
    assert "[exists]" in second_output
    assert User.objects.count() == 3


def test_seed_demo_keeps_the_credentials_file_private(db, settings, tmp_path):
    _seed(settings, tmp_path, accounts_only=True)
    credentials = tmp_path / "demo-credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert set(json.loads(credentials.read_text())) == {"admin", "recruiter", "reviewer"}


def test_seed_demo_says_so_when_a_password_was_changed(db, settings, tmp_path):
    _seed(settings, tmp_path, accounts_only=True)
    user = User.objects.get(username="reviewer")
    user.set_password("changed by its owner 7")
    user.save()
    output = _seed(settings, tmp_path, accounts_only=True)
    assert "reviewer   (password changed since seeding" in output


def test_seed_demo_refuses_to_run_with_debug_off(db, settings, tmp_path):
    with pytest.raises(CommandError, match="Refusing to create demo accounts with DEBUG off"):
        _seed(settings, tmp_path, debug=False)
    assert User.objects.count() == 0
    assert not Invite.objects.exists()


# Candidates


def test_seed_demo_puts_demo_candidates_at_every_stage_of_the_pipeline(validated_version, settings, tmp_path):
    output = _seed(settings, tmp_path)
    assert pipeline_stage_counts() == SEEDED_STAGES
    assert all(email.endswith(f"@{DEMO_DOMAIN}") for email in Candidate.objects.values_list("email", flat=True))
    assert set(Invite.objects.values_list("created_by__username", flat=True)) == {"recruiter"}
    assert "7 scoring runs queued; the worker scores them in about a minute." in output
    assert "  Priya Raman      priya.raman@demo.example.org     submitted  [created]" in output


def test_pushed_demo_candidates_have_their_branches_recorded_pushes_and_queued_runs(
    validated_version, settings, tmp_path
):
    _seed(settings, tmp_path)
    for local_part, branches in [
        ("aiko.tanaka", {"issue-1"}),
        ("sam.okafor", {"issue-1"}),
        ("priya.raman", {"issue-1", "issue-2"}),
    ]:
        invite = _demo_invite(local_part)
        path = repository_path(invite)
        heads = gitplumbing.heads(path)
        assert set(heads) == {"main"} | branches, local_part
        pushed = {update.ref: update.new_sha for update in RefUpdate.objects.filter(push__invite=invite)}
        assert pushed == {f"refs/heads/{branch}": heads[branch] for branch in branches}
        assert set(RefUpdate.objects.filter(push__invite=invite).values_list("kind", flat=True)) == {"created"}
        runs = set(Run.objects.filter(invite=invite, status=Run.Status.QUEUED).values_list("commit", flat=True))
        assert runs == {invite.repository.base_commit} | {heads[branch] for branch in branches}
        for branch in branches:
            sha = heads[branch]
            author = gitplumbing.text("log", "-1", "--format=%an <%ae>|%s|%P", sha, git_dir=path)
            name = invite.candidate.name
            number = branch.removeprefix("issue-")
            assert author.startswith(f"{name} <{local_part}@{DEMO_DOMAIN}>|Fix: Resolve issue #{number} - ")
            assert author.endswith(f"|{invite.repository.base_commit}")
            assert gitplumbing.text("rev-parse", f"{KEEP_PREFIX}{sha}", git_dir=path) == sha


def test_the_reference_fix_is_only_what_its_patch_changes_and_the_partial_fix_differs(
    validated_version, settings, tmp_path
):
    _seed(settings, tmp_path)
    changed = {}
    for local_part in ("aiko.tanaka", "sam.okafor"):
        invite = _demo_invite(local_part)
        path = repository_path(invite)
        changed[local_part] = gitplumbing.text(
            "diff", invite.repository.base_commit, gitplumbing.heads(path)["issue-1"], "--", git_dir=path
        )
    reference = (ROOT / "assessment_app" / "reference" / "ticket-1.patch").read_text()
    assert "+    return list(rows[:page_size]), has_next" in changed["aiko.tanaka"]
    assert changed["aiko.tanaka"].split("@@", 1)[1] == reference.split("@@", 1)[1].rstrip("\n")
    assert "+    has_next = len(rows) == page_size" in changed["sam.okafor"]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_once_scored_the_submitted_candidate_is_scored_the_reference_fix_passes_and_the_partial_one_fails(
    validated_version, settings, tmp_path
):
    _seed(settings, tmp_path)
    priya, sam = _demo_invite("priya.raman"), _demo_invite("sam.okafor")
    priya_result = score_all(priya)
    sam_result = score_all(sam)
    counts = pipeline_stage_counts()
    assert (counts["submitted"], counts["scored"]) == (0, 1)
    assert {t.number: t.passed for t in priya_result.tickets if t.number in (1, 2)} == {1: True, 2: True}
    assert [t.passed for t in sam_result.tickets if t.number == 1] == [False]
    assert not Run.objects.filter(invite__in=[priya, sam], status=Run.Status.ERROR).exists()
    # Seeding again lists each demo candidate where the dashboard shows it now.
    assert "  Priya Raman      priya.raman@demo.example.org     scored     [exists]" in _seed(settings, tmp_path)


def test_a_second_run_creates_no_invite_and_no_run(validated_version, settings, tmp_path):
    _seed(settings, tmp_path)
    invites, runs = set(Invite.objects.values_list("pk", flat=True)), Run.objects.count()
    output = _seed(settings, tmp_path)
    assert set(Invite.objects.values_list("pk", flat=True)) == invites
    assert Run.objects.count() == runs
    assert "  Maya Lindqvist   maya.lindqvist@demo.example.org  invited    [exists]" in output
    assert "[created]" not in output and "scoring runs queued" not in output
    assert pipeline_stage_counts() == SEEDED_STAGES


def test_a_demo_candidate_deleted_by_hand_comes_back_alone(validated_version, settings, tmp_path):
    _seed(settings, tmp_path)
    _demo_invite("chloe.martin").delete()
    output = _seed(settings, tmp_path)
    assert "  Chloé Martin     chloe.martin@demo.example.org    revoked    [created]" in output
    assert output.count("[created]") == 1
    assert pipeline_stage_counts() == SEEDED_STAGES


def test_no_candidates_skips_them_but_loads_the_assessment(validated_version, settings, tmp_path):
    output = _seed(settings, tmp_path, no_candidates=True)
    assert f"({validated_version.short_hash}), " in output
    assert not Candidate.objects.exists() and not Invite.objects.exists()
    assert "Demo candidates" not in output


def test_accounts_only_creates_no_candidates(validated_version, settings, tmp_path):
    output = _seed(settings, tmp_path, accounts_only=True)
    assert User.objects.count() == 3
    assert not Candidate.objects.exists() and not Invite.objects.exists()
    assert "Loading the built-in assessment" not in output


def test_the_seeded_recruiter_sees_the_demo_candidates_on_the_dashboard(client, validated_version, settings, tmp_path):
    passwords = _printed_passwords(_seed(settings, tmp_path))
    assert (
        client.post(reverse("login"), {"username": "recruiter", "password": passwords["recruiter"]}).status_code == 302
    )
    response = client.get(reverse("recruiter_dashboard"))
    assert response.status_code == 200
    text = response.content.decode()
    for name in ("Maya Lindqvist", "Lena Fischer", "Tomás Ortega", "Aiko Tanaka", "Priya Raman", "Chloé Martin"):
        assert name in text
    assert "No candidates yet" not in text
    assert response.context["counts"] == SEEDED_STAGES


def test_a_version_the_demo_fixes_do_not_apply_to_leaves_no_half_made_candidate(db, settings, tmp_path):
    settings.PORTAL_DATA_DIR = tmp_path / "data"  # only this test's repositories in it
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    crud = package / "project" / "app" / "crud.py"
    crud.write_text(crud.read_text().replace("# One row more than asked for", "# An extra row"))
    version = assessment_version_install(package_dir=package)
    with pytest.raises(DemoSeedError, match="a demo fix does not apply to this assessment's starting point"):
        demo_pipeline_seed(version=version)
    # The candidates seeded before the first push are whole; the first one to push left nothing behind.
    assert not Invite.objects.filter(candidate__email=f"aiko.tanaka@{DEMO_DOMAIN}").exists()
    seeded = set(Invite.objects.values_list("public_id", flat=True))
    assert len(seeded) == 4
    assert {p.name for p in (tmp_path / "data" / "repos").iterdir()} == {f"{public_id}.git" for public_id in seeded}
    assert {p.name for p in (tmp_path / "data" / "bundles").iterdir()} == {f"{i}.bundle" for i in seeded}


def test_both_built_in_assessments_are_loaded_and_the_recruiter_picks_one(
    client, validated_version, settings, tmp_path
):
    output = _seed(settings, tmp_path, no_candidates=True)
    titles = []
    for package in BUILT_IN_PACKAGES:
        manifest = load_manifest(package)
        assert f"Assessment: {manifest.title} {manifest.version} (" in output
        titles.append(manifest.title)
    client.force_login(User.objects.get(username="recruiter"))
    form = client.get(reverse("recruiter_invite")).content.decode()
    assert '<option value="">Choose an assessment…</option>' in form  # none chosen for them
    for package, title in zip(BUILT_IN_PACKAGES, titles, strict=True):
        assert f'<option value="{load_manifest(package).slug}">{title}</option>' in form
