"""Versions of an assessment: one content per label, listed with their invites, and invites moved
to a corrected version (their work scored again on it). No package is validated here: versions are
installed from copies of the built-in package, with a stored report where loading needs one."""

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from grader.manifest import load_manifest
from grader.validate import Check, ValidationReport
from portal.assessments import services
from portal.assessments.models import AssessmentVersion
from portal.assessments.packages import package_hash
from portal.assessments.services import assessment_version_install, snapshot_relpath
from portal.core.datadir import data_dir
from portal.invites.models import Event, Invite
from portal.invites.services import invite_revoke, invite_submit
from portal.scoring.models import Run
from portal.scoring.services import TASK_RUN
from portal.web.recruiter import event_sentence
from tests.portal.assessments.conftest import package_copy
from tests.support.factories import make_invite, push_branches, store_verdicts

SLUG = "library-lending-api"


def relabelled(package: Path, label: str, *, slug: str = SLUG) -> Path:
    """The package with another version label (and slug) in its manifest."""
    manifest = package / "assessment.toml"
    text = manifest.read_text()
    for key, new in (("version", label), ("slug", slug)):
        text, found = re.subn(rf'^{key} = "[^"]*"$', f'{key} = "{new}"', text, count=1, flags=re.MULTILINE)
        assert found, key
    manifest.write_text(text)
    return package


def load(package: Path) -> str:
    """``manage.py load_assessment <package>``: what it printed, or its error."""
    out = StringIO()
    try:
        call_command("load_assessment", str(package), stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc)
    return out.getvalue()


def move(*args: str) -> str:
    """``manage.py invites_move ...``: what it printed, or its error."""
    out = StringIO()
    try:
        call_command("invites_move", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc)
    return out.getvalue()


@pytest.fixture
def versions(db, tmp_path) -> tuple[AssessmentVersion, AssessmentVersion]:
    """1.0.0 and a corrected 1.0.1 (its tickets reworded), loaded in that order."""
    old = assessment_version_install(package_dir=relabelled(package_copy(tmp_path / "old"), "1.0.0"))
    corrected = relabelled(package_copy(tmp_path / "new"), "1.0.1")
    tickets = corrected / "project" / "tickets.md"
    tickets.write_text(tickets.read_text() + "\nCorrected: ticket 2 says which status it expects.\n")
    return old, assessment_version_install(package_dir=corrected)


# One content per label.


def test_changed_content_under_a_loaded_label_is_refused_naming_the_changed_files_and_nothing_is_written(db, tmp_path):
    package = relabelled(package_copy(tmp_path / "pkg"), "1.0.0")
    loaded = assessment_version_install(package_dir=package)
    (package / "project" / "tickets.md").write_text("Reworded.\n")
    test_2 = package / "hidden_tests" / "test_ticket_2.py"
    test_2.write_text(test_2.read_text() + "\n# stricter\n")
    (package / "NOTES.md").write_text("new\n")
    changed = package_hash(package)

    said = load(package)

    assert said == (
        f"Refused: version 1.0.0 of {SLUG} is already loaded with other content (hidden_tests/test_ticket_2.py, "
        "project/tickets.md changed; NOTES.md added); give the package a new version in assessment.toml."
    )
    assert list(AssessmentVersion.objects.all()) == [loaded]
    assert not (data_dir() / snapshot_relpath(slug=SLUG, content_hash=changed)).exists()


def test_without_the_loaded_snapshot_the_refusal_names_both_content_hashes(db, tmp_path, settings):
    package = package_copy(tmp_path / "pkg")
    loaded = assessment_version_install(package_dir=package)
    (package / "project" / "tickets.md").write_text("Reworded.\n")
    settings.PORTAL_DATA_DIR = tmp_path / "other-host"  # a host that never had the snapshot

    said = load(package)

    assert f"its content hash is {loaded.short_hash}, this package's {package_hash(package)[:12]}" in said
    assert AssessmentVersion.objects.count() == 1


def test_loading_the_same_content_again_changes_nothing_and_validates_nothing(db, tmp_path, monkeypatch):
    package = relabelled(package_copy(tmp_path / "pkg"), "1.0.0")
    report = ValidationReport(assessment=SLUG, checks=[Check(name="every check", ok=True)])
    loaded = assessment_version_install(package_dir=package, report=report)

    def never(**_kwargs):
        raise AssertionError("a version already validated is validated again")

    monkeypatch.setattr(services, "assessment_validate", never)

    said = load(package)

    assert said.strip() == f"Loaded Library lending API 1.0.0 as version {loaded.short_hash} (1 checks passed)."
    assert list(AssessmentVersion.objects.all()) == [loaded]


def test_changed_content_under_a_new_label_passes_the_check(db, tmp_path):
    assessment_version_install(package_dir=package_copy(tmp_path / "old"))
    package = relabelled(package_copy(tmp_path / "new"), "1.0.1")
    (package / "project" / "tickets.md").write_text("Reworded.\n")
    manifest = load_manifest(package)
    services.version_label_check(source=package, manifest=manifest, content_hash=package_hash(package))  # no refusal
    assert manifest.version == "1.0.1"


# Versions listed.


@pytest.fixture
def invites_on_old(versions):
    """On 1.0.0: two open invites (Ben's time limit running), one submitted, one revoked, and two past
    their time but not closed yet (Eve's deadline, Fay's time limit)."""
    old, _corrected = versions
    made = {name: make_invite(old, name=name).invite for name in ("Ann", "Cal", "Dee")}
    made["Ben"] = make_invite(old, name="Ben", time_limit=timedelta(hours=1)).invite
    made["Eve"] = make_invite(old, name="Eve", deadline=timezone.now() + timedelta(seconds=1)).invite
    made["Fay"] = make_invite(old, name="Fay", time_limit=timedelta(hours=1)).invite
    now = timezone.now()
    Invite.objects.filter(pk=made["Ben"].pk).update(started_at=now - timedelta(minutes=59))
    Invite.objects.filter(pk=made["Eve"].pk).update(deadline=now - timedelta(minutes=1))
    Invite.objects.filter(pk=made["Fay"].pk).update(started_at=now - timedelta(minutes=61))
    made["Cal"] = invite_submit(invite=made["Cal"])
    made["Dee"] = invite_revoke(invite=made["Dee"])
    for invite in made.values():
        invite.refresh_from_db()
    return made


def test_the_command_lists_each_version_with_its_open_and_total_invites(invites_on_old, versions):
    old, corrected = versions
    out = StringIO()
    call_command("assessment_versions", SLUG, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{SLUG}  1.0.0  {old.short_hash}  loaded ")
    assert lines[0].endswith("invites 2 open / 6")
    assert lines[1].endswith("invites 0 open / 0  latest: new invites get it")
    assert corrected.short_hash in lines[1]


def test_the_command_refuses_an_unknown_assessment_naming_the_loaded_ones(versions):
    with pytest.raises(CommandError, match=f"No assessment 'inventory'; loaded: {SLUG}."):
        call_command("assessment_versions", "inventory", stdout=StringIO())


def test_the_admin_lists_versions_with_hash_loaded_at_invites_and_latest(client, admin_user, invites_on_old, versions):
    old, corrected = versions
    client.force_login(admin_user)
    response = client.get("/admin/assessments/assessmentversion/")
    assert response.status_code == 200
    rows = {row.label: row for row in response.context["cl"].result_list}
    assert (rows["1.0.0"].invites_open, rows["1.0.0"].invites_total) == (2, 6)
    page = response.content.decode()
    for text in (old.short_hash, corrected.short_hash, "2 / 6", "0 / 0", "Loaded at", 'alt="True"'):
        assert text in page
    assert client.get(f"/admin/assessments/assessmentversion/{old.pk}/change/").status_code == 200
    assert client.get("/admin/assessments/assessmentversion/add/").status_code == 403


# Invites moved to a corrected version.


def test_moving_open_invites_records_the_move_and_queues_their_branch_heads_on_the_new_version(
    invites_on_old, versions, broker, recruiter
):
    _old, corrected = versions
    ann = invites_on_old["Ann"]
    heads = push_branches(ann, 2)
    store_verdicts(ann)  # scored on 1.0.0: the starting point, both heads and their integration
    scored_before = set(Run.objects.filter(invite=ann).values_list("pk", flat=True))
    broker.tasks.clear()

    with broker.commit():
        said = move(SLUG, "--from", "1.0.0", "--to", "1.0.1", "--by", recruiter.username)

    assert said.splitlines()[-1] == "Moved 2 invite(s) of library-lending-api 1.0.0 -> 1.0.1; 4 run(s) queued on 1.0.1."
    versions_now = dict(Invite.objects.values_list("candidate__name", "assessment_version__label"))
    assert versions_now == {
        "Ann": "1.0.1",
        "Ben": "1.0.1",
        "Cal": "1.0.0",
        "Dee": "1.0.0",
        "Eve": "1.0.0",
        "Fay": "1.0.0",
    }
    event = Event.objects.get(invite=ann, kind=Event.Kind.VERSION_CHANGED)
    assert (event.data["from"], event.data["to"], event.data["by"]) == ("1.0.0", "1.0.1", "rita")
    assert event.data["to_hash"] == corrected.content_hash
    assert (
        event_sentence(event.kind, event.data) == "Moved from version 1.0.0 to 1.0.1 by rita; its work is scored again"
    )
    assert Event.objects.filter(kind=Event.Kind.VERSION_CHANGED).count() == 2
    # The same rows, queued again on the new version (results stay until replaced); nothing run yet.
    runs = Run.objects.filter(invite=ann)
    assert set(runs.values_list("pk", flat=True)) == scored_before
    assert {run.commit for run in runs} >= {ann.repository.base_commit, *heads.values()}
    assert {(run.status, run.assessment_version_id) for run in runs} == {(Run.Status.QUEUED, corrected.pk)}
    sent = {kwargs["run_id"] for name, kwargs in broker.tasks if name == TASK_RUN}
    assert sent and sent <= scored_before
    # Ben had pushed nothing: nothing to score yet, as before the move.
    assert not Run.objects.filter(invite=invites_on_old["Ben"]).exists()


def test_a_run_being_played_on_the_old_version_is_sent_again_under_a_new_attempt(invites_on_old, versions, broker):
    _old, corrected = versions
    ann = invites_on_old["Ann"]
    head = push_branches(ann, 1)["issue-1"]
    store_verdicts(ann)
    playing = Run.objects.get(invite=ann, commit=head)
    Run.objects.filter(pk=playing.pk).update(status=Run.Status.RUNNING, started_at=timezone.now(), worker="w@old")
    playing.refresh_from_db()

    with broker.commit():
        move(SLUG, "--from", "1.0.0", "--to", "1.0.1")

    again = Run.objects.get(pk=playing.pk)
    assert (again.status, again.assessment_version, again.attempt) == (
        Run.Status.QUEUED,
        corrected,
        playing.attempt + 1,
    )
    assert (TASK_RUN, {"run_id": again.pk, "attempt": again.attempt}) in [(n, dict(k)) for n, k in broker.tasks]


def test_a_dry_run_lists_the_invites_and_changes_nothing(invites_on_old, versions):
    # A version may be named by its content hash's first characters as well as by its label.
    said = move(SLUG, "--from", "1.0.0", "--to", versions[1].content_hash[:7], "--dry-run")
    assert invites_on_old["Ann"].public_id in said and invites_on_old["Ben"].public_id in said
    assert invites_on_old["Cal"].public_id not in said
    assert (
        said.splitlines()[-1]
        == "Would move 2 invite(s) of library-lending-api 1.0.0 -> 1.0.1 (dry run: nothing changed)."
    )
    assert not Invite.objects.filter(assessment_version__label="1.0.1").exists()
    assert not Event.objects.filter(kind=Event.Kind.VERSION_CHANGED).exists()


def test_a_submitted_invite_moves_only_when_named_with_submitted(invites_on_old, versions, broker):
    cal = invites_on_old["Cal"]
    refused = move(SLUG, "--from", "1.0.0", "--to", "1.0.1", "--invite", cal.public_id)
    assert refused == (
        f"Refused: invite {cal.public_id} is submitted: only open invites move unless submitted ones are asked for."
    )
    with broker.commit():
        said = move(SLUG, "--from", "1.0.0", "--to", "1.0.1", "--invite", cal.public_id, "--submitted")
    assert said.splitlines()[-1].startswith("Moved 1 invite(s)")
    cal.refresh_from_db()
    assert (cal.assessment_version.label, cal.status) == ("1.0.1", Invite.Status.SUBMITTED)


def test_each_refusal_says_why_and_moves_nothing(invites_on_old, versions, tmp_path):
    other = assessment_version_install(
        package_dir=relabelled(package_copy(tmp_path / "other"), "2.0.0", slug="inventory-api")
    )
    stranger = make_invite(other, name="Sam").invite
    dee = invites_on_old["Dee"]
    cases = {
        ("nope", "--from", "1.0.0", "--to", "1.0.1"): f"Refused: no assessment 'nope'; loaded: inventory-api, {SLUG}.",
        (SLUG, "--from", "1.0.0", "--to", "9.9.9"): f"Refused: {SLUG} has no version '9.9.9' (to move to); its "
        "versions: 1.0.0, 1.0.1.",
        (SLUG, "--from", "1.0.0", "--to", "2.0.0"): f"Refused: version 2.0.0 belongs to inventory-api, not {SLUG}: "
        "an invite moves only between versions of its own assessment.",
        (SLUG, "--from", "1.0.0", "--to", "1.0.1", "--invite", stranger.public_id): f"Refused: invite "
        f"{stranger.public_id} is on inventory-api, not {SLUG}: an invite moves only between versions of its own "
        "assessment.",
        (SLUG, "--from", "1.0.0", "--to", "1.0.0"): f"Refused: 1.0.0 and 1.0.0 are the same version of {SLUG} "
        f"({versions[0].short_hash}).",
        (SLUG, "--from", "1.0.1", "--to", "1.0.0"): f"Refused: no open invite of {SLUG} is on version 1.0.1.",
        (SLUG, "--from", "1.0.0", "--to", "1.0.1", "--invite", dee.public_id, "--submitted"): f"Refused: invite "
        f"{dee.public_id} is revoked: a revoked invite never moves.",
        (SLUG, "--from", "1.0.0", "--to", "1.0.1", "--invite", "missing"): "Refused: no invite 'missing'.",
    }
    for args, message in cases.items():
        assert move(*args) == message, args
    assert not Event.objects.filter(kind=Event.Kind.VERSION_CHANGED).exists()
    assert set(Invite.objects.values_list("assessment_version__label", flat=True)) == {"1.0.0", "2.0.0"}


def test_with_only_closed_invites_left_the_refusal_says_how_to_move_them(invites_on_old, versions, broker):
    with broker.commit():
        move(SLUG, "--from", "1.0.0", "--to", "1.0.1")
    said = move(SLUG, "--from", "1.0.0", "--to", "1.0.1")
    assert said == (
        f"Refused: no open invite of {SLUG} is on version 1.0.0 (3 submitted or past their time: ask for "
        "submitted ones to move them)."
    )


def test_seed_demo_refuses_in_a_sentence_when_the_built_in_label_is_loaded_with_other_content(db, tmp_path):
    from portal.assessments.services import BUILT_IN_PACKAGE

    label = load_manifest(BUILT_IN_PACKAGE).version
    other = relabelled(package_copy(tmp_path / "other"), label)
    (other / "project" / "tickets.md").write_text("An older wording.\n")
    assessment_version_install(package_dir=other)

    with pytest.raises(CommandError) as refused:
        call_command("seed_demo", "--force", "--no-candidates", stdout=StringIO())

    assert str(refused.value).startswith(
        f"The built-in assessment assessment_app was not loaded: version {label} of {SLUG} is already loaded "
        "with other content ("
    )
    assert AssessmentVersion.objects.count() == 1


@pytest.mark.engines
@pytest.mark.django_db(transaction=True)
def test_two_loads_of_other_content_under_one_label_at_once_register_one(tmp_path):
    """Both validated at the same time (minutes apart from their check of the label): the lock on the
    assessment lets one register, and the other is refused, whichever comes second."""
    import threading

    from django.db import connection

    from portal.assessments.services import VersionLabelTaken, assessment_version_register

    packages = [relabelled(package_copy(tmp_path / name), "9.9.9") for name in ("one", "two")]
    (packages[1] / "project" / "tickets.md").write_text("Another wording.\n")
    report = ValidationReport(assessment=SLUG, checks=[Check("proven", True)])
    start, outcomes = threading.Barrier(2), []

    def register(package: Path) -> None:
        try:
            start.wait(timeout=30)
            manifest = load_manifest(package)
            assessment_version_register(
                source=package, manifest=manifest, content_hash=package_hash(package), report=report
            )
            outcomes.append("registered")
        except VersionLabelTaken as exc:
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(package,)) for package in packages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcome.partition(":")[0] for outcome in outcomes) == ["refused", "registered"], outcomes
    assert AssessmentVersion.objects.filter(assessment__slug=SLUG, label="9.9.9").count() == 1
