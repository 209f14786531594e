"""What the pipeline endpoints (portal/api/pipeline.py) read and answer.

Input serializers check types and shapes only; the rules about a candidate to invite (a known
assessment, a valid address, a deadline in the future, the batch's size) are
portal.pipeline.invitations', the same for the form, the CSV import and the API. Output
serializers describe the answers for the schema and render the dicts the views build.
"""

from __future__ import annotations

from datetime import UTC

from rest_framework import serializers

from portal.invites.models import Email, Invite
from portal.pipeline.invitations import CSV_MAX_ROWS, TIME_LIMIT_MAX_HOURS, parse_deadline
from portal.pipeline.selectors import STAGES

# The most extra time one extension gives: a year, as on the invite's page.
EXTEND_MAX_HOURS = 24 * 365


class Text(serializers.CharField):
    """Text only: a number, a list or true where text belongs is the wrong type, not text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Rows(serializers.ListField):
    """A list whose length is checked before its rows are: an over-long batch costs nothing."""

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > CSV_MAX_ROWS:
            raise serializers.ValidationError(
                f"There are {len(data)} candidates; at most {CSV_MAX_ROWS} can be invited at once."
            )
        return super().to_internal_value(data)


# Input ----------------------------------------------------------------------------------------


class InviteRowInput(serializers.Serializer):
    name = Text(help_text="The candidate's name.")
    email = Text(help_text="The candidate's email address; an existing candidate with it is reused.")
    assessment = Text(help_text="The assessment's slug (GET /api/v1/assessments).")
    deadline = Text(
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="ISO 8601 (2026-12-01T17:00:00Z); without a time zone the server's; a date alone is "
        "the end of that day. No deadline if left out.",
    )
    time_limit_hours = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text=f"Hours from the first clone, more than 0 and at most {TIME_LIMIT_MAX_HOURS}. None if left out.",
    )

    def validate_deadline(self, value: str | None) -> str | None:
        # The rules (a date, in the future) are invitations'; only a moment that cannot be stored
        # at all (past year 9999 in UTC) is refused here, since no rule there expects one.
        if not value:
            return value
        try:
            parse_deadline(value).astimezone(UTC)
        except OverflowError:
            raise serializers.ValidationError(f"The deadline {value} is too far in the future.") from None
        except ValueError:
            pass  # invitations says what is wrong with it
        return value


class InviteInput(InviteRowInput):
    send_email = serializers.BooleanField(
        default=True, help_text="Email the invitation (true by default); false: deliver `invite_url` yourself."
    )


class InviteBatchInput(serializers.Serializer):
    invites = Rows(
        child=InviteRowInput(), allow_empty=False, help_text=f"At most {CSV_MAX_ROWS}; all are invited or none."
    )
    send_email = serializers.BooleanField(default=True)


class ExtendInput(serializers.Serializer):
    deadline = Text(required=False, help_text="A later deadline than the current one (ISO 8601, as when inviting).")
    hours = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=EXTEND_MAX_HOURS,
        help_text="Hours added to the time limit.",
    )

    def validate(self, attrs):
        if "deadline" not in attrs and "hours" not in attrs:
            raise serializers.ValidationError("Give a new deadline, hours to add, or both.")
        return attrs


class ReopenInput(serializers.Serializer):
    deadline = Text(
        required=False,
        help_text="A new deadline in the future; needed when the invite's time is over.",
    )


# Output ---------------------------------------------------------------------------------------


class TicketOutput(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    points = serializers.IntegerField()


class AssessmentVersionOutput(serializers.Serializer):
    label = serializers.CharField()
    content_hash = serializers.CharField()
    created_at = serializers.DateTimeField()


class AssessmentOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    version = AssessmentVersionOutput(help_text="The latest version: what a new invite gets.")
    tickets = TicketOutput(many=True)
    points = serializers.IntegerField(help_text="The tickets' points together.")
    time_limit_max_hours = serializers.IntegerField(help_text="The longest time limit an invite may have.")
    deadline_required = serializers.BooleanField(help_text="Always false: an invite may have no deadline.")
    api_url = serializers.URLField()


class CandidateRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()


class AssessmentRefOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    version = serializers.CharField()


class ScoreOutput(serializers.Serializer):
    earned = serializers.IntegerField(help_text="Points earned; contested points wait for a reviewer.")
    possible = serializers.IntegerField()
    contested = serializers.IntegerField(help_text="Points of contested tickets waiting for a reviewer.")


class InviteOutput(serializers.Serializer):
    id = serializers.CharField(help_text="The invite's public id.")
    candidate = CandidateRefOutput()
    assessment = AssessmentRefOutput()
    status = serializers.ChoiceField(Invite.Status.choices)
    stage = serializers.ChoiceField(STAGES, help_text="As the recruiter's dashboard shows it.")
    score = ScoreOutput(allow_null=True, help_text="None until the work was first scored.")
    scoring = serializers.BooleanField(help_text="Runs or the analysis are still to finish.")
    emailing = serializers.BooleanField(help_text="An email to the candidate waits to be sent.")
    deadline = serializers.DateTimeField(allow_null=True)
    time_limit_hours = serializers.FloatField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True, help_text="The first clone: the time limit's start.")
    closes_at = serializers.DateTimeField(allow_null=True, help_text="The deadline or the end of the time limit.")
    submitted_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_activity = serializers.DateTimeField(allow_null=True)
    report_url = serializers.URLField(help_text="The invite's page for recruiters.")
    api_url = serializers.URLField()


class InviteCreatedOutput(InviteOutput):
    invite_url = serializers.URLField(
        allow_null=True,
        help_text="The candidate's link, shown only in this answer (the portal keeps only its hash). "
        "None when the invitation is emailed: the email carries a new link of its own.",
    )


class InvitesCreatedOutput(serializers.Serializer):
    invites = InviteCreatedOutput(many=True)


class CandidateInviteOutput(serializers.Serializer):
    id = serializers.CharField()
    assessment = serializers.CharField(help_text="The assessment's slug.")
    status = serializers.ChoiceField(Invite.Status.choices)
    stage = serializers.ChoiceField(STAGES)
    created_at = serializers.DateTimeField()
    api_url = serializers.URLField()


class CandidateOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    created_at = serializers.DateTimeField()
    invites = CandidateInviteOutput(many=True)
    api_url = serializers.URLField()


class EmailOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(Email.Kind.choices)
    to = serializers.EmailField()
    status = serializers.ChoiceField(Email.Status.choices)
    queued_at = serializers.DateTimeField()


class EmailQueuedOutput(serializers.Serializer):
    email = EmailOutput()
    invite = InviteOutput()


# Query parameters -----------------------------------------------------------------------------

SEARCH_MAX_LENGTH = 200


class InviteFilters(serializers.Serializer):
    assessment = Text(required=False, allow_blank=True, help_text="An assessment's slug.")
    stage = serializers.ChoiceField(STAGES, required=False, allow_blank=True)
    search = Text(required=False, allow_blank=True, max_length=SEARCH_MAX_LENGTH, help_text="In names and emails.")


class CandidateFilters(serializers.Serializer):
    search = Text(required=False, allow_blank=True, max_length=SEARCH_MAX_LENGTH, help_text="In names and emails.")
