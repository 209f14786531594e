import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.hosting.services import repository_path
from portal.invites.emails import email_send
from portal.invites.models import Email, Invite
from portal.invites.selectors import invite_by_link_token, invite_for_git_credentials


def _invite(*args: str) -> str:
    out = StringIO()
    call_command("invite", *args, stdout=out)
    return out.getvalue()


def test_it_creates_an_invite_and_prints_working_credentials_as_json(assessment_version):
    output = _invite("--assessment", "library-lending-api", "--email", "Ann@Example.com", "--name", "Ann", "--json")
    result = json.loads(output)
    invite = Invite.objects.get(public_id=result["invite_id"])
    assert invite_for_git_credentials(public_id=result["git_username"], password=result["git_password"]) == invite
    assert invite_by_link_token(token=result["link"].rstrip("/").rsplit("/", 1)[1]) == invite
    assert result["clone_url"].endswith(f"/git/{invite.public_id}.git")
    assert (repository_path(invite) / "HEAD").exists()


def test_it_prints_a_readable_summary_without_json(assessment_version):
    output = _invite("--assessment", "library-lending-api", "--email", "bo@example.com", "--name", "Bo")
    assert "Invited Bo <bo@example.com> to Library lending API" in output
    assert "Git password:" in output


def test_a_time_limit_and_deadline_are_kept(assessment_version):
    args = ["--assessment", "library-lending-api", "--email", "c@example.com", "--name", "C"]
    result = json.loads(_invite(*args, "--deadline", "2099-01-31T17:00", "--time-limit-hours", "4", "--json"))
    invite = Invite.objects.get(public_id=result["invite_id"])
    assert invite.time_limit.total_seconds() == 4 * 3600
    assert invite.deadline.year == 2099


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--assessment", "nope", "--email", "a@example.com", "--name", "A"], "No assessment 'nope'"),
        (["--assessment", "library-lending-api", "--email", "not-an-email", "--name", "A"], "is not an email address"),
        (["--assessment", "library-lending-api", "--email", "a@example.com", "--name", " "], "must not be empty"),
        (
            ["--assessment", "library-lending-api", "--email", "a@example.com", "--name", "A", "--deadline", "soon"],
            "is not an ISO date and time",
        ),
        (
            [
                "--assessment",
                "library-lending-api",
                "--email",
                "a@example.com",
                "--name",
                "A",
                "--deadline",
                "2001-01-01",
            ],
            "is in the past",
        ),
        (
            [
                "--assessment",
                "library-lending-api",
                "--email",
                "a@example.com",
                "--name",
                "A",
                "--time-limit-hours",
                "0",
            ],
            "must be positive",
        ),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(assessment_version, args, message):
    with pytest.raises(CommandError, match=message):
        _invite(*args)
    assert Invite.objects.count() == 0


def test_send_queues_the_invitation_and_prints_no_link_or_password(
    assessment_version, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        output = _invite("--assessment", "library-lending-api", "--email", "dan@example.com", "--name", "Dan", "--send")
    email = Email.objects.get()
    assert (email.kind, email.to, email.status) == (Email.Kind.INVITATION, "dan@example.com", Email.Status.QUEUED)
    assert len(queued) == 1
    assert f"Invitation:   queued to dan@example.com (email {email.pk})" in output
    assert "Git password" not in output and "/i/" not in output

    email_send(email_id=email.pk)
    [message] = mailoutbox
    link_token = message.body.split("/i/", 1)[1].split("/", 1)[0]
    assert invite_by_link_token(token=link_token) == email.invite


def test_send_with_json_reports_the_email_instead_of_the_secrets(assessment_version):
    args = ["--assessment", "library-lending-api", "--email", "eve@example.com", "--name", "Eve"]
    result = json.loads(_invite(*args, "--send", "--json"))
    assert "git_password" not in result and "link" not in result
    assert result["email"] == {"id": Email.objects.get().pk, "to": "eve@example.com", "status": "queued"}
